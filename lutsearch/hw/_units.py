"""Synthesis units: the Verilog modules whose LUTs add up to a layer, content-addressed for the cache.

``neuron`` mode: one unit per live neuron of a table layer, its table restricted to the input bits that
are not constant upstream and to the output bits something reads (what whole-design synthesis keeps);
otherwise (``layer`` mode, and adder layers) one unit for the whole layer. Dead neurons are no units.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from lutsearch.hw import estimate
from lutsearch.hw.analysis import address_dependence, propagate_constants, used_bits
from lutsearch.hw.rtl import _layer_module, neuron_rom_module
from lutsearch.tables import TableLayer, TruthTableNetwork

__all__ = ["Unit", "layer_units", "unit_key"]

PLACEHOLDER = "@UNIT@"  # the module name inside ``Unit.text``


@dataclasses.dataclass
class Unit:
    key: str
    text: str  # Verilog with the module named @UNIT@
    cost: float  # analytic LUT estimate (chunk balancing and fallback)
    depth_estimate: int


def unit_key(text: str, script: str, k: int, version: str) -> str:
    """sha256 over (unit Verilog, script template, LUT size, Yosys version)."""
    h = hashlib.sha256()
    for part in (text, script, str(k), version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _neuron_unit(nu, used_out: np.ndarray) -> Unit | None:
    """The ROM unit of one (constant-restricted) neuron, or None when it needs no LUT."""
    keep = np.flatnonzero(used_out)
    if keep.size == 0 or nu.address_bits == 0:
        return None  # constant or unread outputs need no LUT
    table = (((nu.table[:, None] >> keep) & 1) << np.arange(keep.size)).sum(1)
    # drop address bits the kept outputs ignore: equal functions then share one cache entry
    dep = address_dependence(table[None], nu.address_bits)[0]
    if not dep.any():
        return None  # constant
    ignored = int(((~dep) * (1 << np.arange(nu.address_bits))).sum())
    table = table[(np.arange(table.size) & ignored) == 0]
    a_bits = int(dep.sum())
    text = neuron_rom_module(PLACEHOLDER, table, a_bits, int(keep.size), "table")
    return Unit("", text, float(estimate.logicnets_lut_cost(a_bits, keep.size)), estimate.lut_depth(a_bits))


def _whole_layer_unit(i: int, layer, n_in: int, live: np.ndarray) -> Unit:
    text = _layer_module(i, layer, n_in, live, "table", "layer").replace(
        f"module layer{i} (", f"module {PLACEHOLDER} ("
    )
    return Unit("", text, estimate.layer_luts(layer, live), estimate.layer_depth(layer))


def layer_units(network: TruthTableNetwork, mode: str) -> list[list[Unit]]:
    """Per layer: the units whose LUTs add up to the layer (keys still empty; see the module doc)."""
    live = network.live_neurons()
    restricted = propagate_constants(network)[0] if mode == "neuron" else None
    used = used_bits(network)[1] if mode == "neuron" else None
    out, n_in = [], network.n_inputs
    for i, (layer, lv) in enumerate(zip(network.layers, live)):
        if restricted is not None and used is not None and isinstance(layer, TableLayer):
            units = (_neuron_unit(nu, used[i][nu.neuron]) for nu in restricted[i])
            out.append([u for u in units if u is not None])
        else:
            out.append([_whole_layer_unit(i, layer, n_in, lv)])
        n_in = layer.n_out
    return out
