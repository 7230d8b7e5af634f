"""Synthesis units: the Verilog modules whose LUTs add up to a layer, content-addressed for the cache.

``neuron`` mode: one unit per live neuron of a table layer, its table restricted to the input bits that
are not constant upstream and to the output bits some (restricted) logic downstream reads: what
whole-design synthesis keeps (``restricted_neurons``); otherwise (``layer`` mode, and adder layers) one
unit for the whole layer. Dead neurons are no units.

The restriction itself (``restricted_neurons``) is shared with the cost surrogate
(``lutsearch.hw.surrogate``), which predicts each such unit's LUTs from the same table.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from lutsearch.hw import estimate
from lutsearch.hw.analysis import NeuronUnit, address_dependence, propagate_constants
from lutsearch.hw.rtl import _layer_module, neuron_rom_module
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork

__all__ = ["RestrictedTable", "Unit", "layer_units", "restrict_tables", "restricted_neurons", "unit_key"]

PLACEHOLDER = "@UNIT@"  # the module name inside ``Unit.text``


@dataclasses.dataclass
class Unit:
    key: str
    text: str  # Verilog with the module named @UNIT@
    cost: float  # analytic LUT estimate (chunk balancing and fallback)
    depth_estimate: int


@dataclasses.dataclass
class RestrictedTable:
    """One neuron's logic as synthesis sees it: ``table`` (2**address_bits packed codes of the kept
    output bits, kept bit k at bit k) over the address bits some kept output depends on."""

    neuron: int
    table: np.ndarray
    address_bits: int
    out_bits: int
    inputs: np.ndarray | None = None  # the neuron's original address bits these are (j*in_bits + b)


def unit_key(text: str, script: str, k: int, version: str) -> str:
    """sha256 over (unit Verilog, script template, LUT size, Yosys version)."""
    h = hashlib.sha256()
    for part in (text, script, str(k), version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def restrict_tables(
    tables: np.ndarray, address_bits: int, used_out: np.ndarray, positions: np.ndarray | None = None
) -> list[RestrictedTable | None]:
    """Restrict same-width tables (n, 2**address_bits) to their ``used_out`` (n, out_bits) output bits
    (packed to the low bits) and then to the address bits those bits depend on; None where nothing
    is left (no kept output, or a constant). ``positions`` (n, address_bits): what each address bit is
    in the neuron's own address (default 0..address_bits-1), reported as ``inputs``. Vectorized over
    the tables; ``neuron`` is the row."""
    tables, used_out = np.asarray(tables, dtype=np.int64), np.asarray(used_out, dtype=bool)
    n, ob = used_out.shape
    if n == 0:
        return []
    pos = np.cumsum(used_out, 1) - 1  # new position of every kept bit
    bits = (tables[:, :, None] >> np.arange(ob)) & 1
    packed = (bits * (used_out * (np.int64(1) << np.maximum(pos, 0)))[:, None, :]).sum(2)
    dep = address_dependence(packed, address_bits)  # (n, address_bits)
    ignored = (~dep * (1 << np.arange(address_bits, dtype=np.int64))).sum(1)
    keep = (np.arange(packed.shape[1], dtype=np.int64)[None, :] & ignored[:, None]) == 0
    pieces = np.split(packed[keep], np.cumsum(keep.sum(1))[:-1])  # row-major: each neuron's kept entries
    where = np.broadcast_to(np.arange(address_bits), dep.shape) if positions is None else positions
    a_bits, o_bits = dep.sum(1), used_out.sum(1)
    return [
        RestrictedTable(j, pieces[j], int(a_bits[j]), int(o_bits[j]), where[j][dep[j]])
        if a_bits[j] and o_bits[j]
        else None
        for j in range(n)
    ]


def _restrict_layer(units: list[NeuronUnit], used: np.ndarray, const_in: np.ndarray) -> list[RestrictedTable]:
    """The restricted tables of one layer's live neurons (grouped by free address bits; ``neuron``
    is the neuron's index in the layer), in neuron order, without those that need no logic.
    ``const_in`` (n_out, address_bits): the address bits that are constant upstream."""
    out: list[RestrictedTable] = []
    for a_bits in sorted({u.address_bits for u in units}):
        group = [u for u in units if u.address_bits == a_bits]
        if a_bits == 0:
            continue  # a constant address: no logic
        rows = [u.neuron for u in group]
        free = np.nonzero(~const_in[rows])[1].reshape(len(rows), a_bits)  # the free bits, in address order
        stacked = np.stack([u.table for u in group])
        for u, r in zip(group, restrict_tables(stacked, a_bits, used[rows], free)):
            if r is not None:
                out.append(dataclasses.replace(r, neuron=u.neuron))
    return sorted(out, key=lambda r: r.neuron)


def _sources_read(
    layer: TableLayer | AdderLayer, units: list[RestrictedTable] | None, used: np.ndarray, shape
) -> np.ndarray:
    """(n_in, in_bits): the bits of the layer's input that its logic reads: those the restricted
    tables depend on (a table layer), every bit of the operands of a read sum (an adder layer)."""
    read = np.zeros(shape, dtype=bool)
    if units is None:
        assert isinstance(layer, AdderLayer)
        rows = np.flatnonzero(used.any(1))
        read[np.unique(layer.indices[rows][layer.mask[rows]])] = True
        return read
    for r in units:  # scatter each unit's address bits back to (source, bit)
        assert r.inputs is not None
        read[layer.indices[r.neuron][r.inputs // layer.in_bits], r.inputs % layer.in_bits] = True
    return read


def restricted_neurons(network: TruthTableNetwork) -> list[list[RestrictedTable] | None]:
    """Per layer: the restricted table of every live neuron that needs logic (``neuron`` mode's units,
    in neuron order); None for adder layers.

    A backward pass, as whole-design synthesis removes logic nothing reads: the network's outputs are
    read (unless constant); a layer's output bit is read when some restricted table of the next
    layer depends on it. (``analysis.used_bits`` also counts consumers that are constant once their
    constant inputs are fixed, or that ignore the bit then; whole-design synthesis does not keep those.)
    """
    restricted, consts = propagate_constants(network)
    layers = network.layers
    out: list[list[RestrictedTable] | None] = [None] * len(layers)
    if not layers:
        return out
    used = ~consts[-1]
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        shape = (layers[i - 1].n_out, layers[i - 1].out_bits) if i else (network.n_inputs, network.input_bits)
        const_in = consts[i - 1] if i else np.zeros(shape, dtype=bool)
        if isinstance(layer, TableLayer):
            out[i] = _restrict_layer(restricted[i], used, const_in[layer.indices].reshape(layer.n_out, -1))
        used = _sources_read(layer, out[i], used, shape) & ~const_in
    return out


def _neuron_unit(r: RestrictedTable) -> Unit:
    """The ROM unit of one restricted neuron table."""
    text = neuron_rom_module(PLACEHOLDER, r.table, r.address_bits, r.out_bits, "table")
    cost = float(estimate.logicnets_lut_cost(r.address_bits, r.out_bits))
    return Unit("", text, cost, estimate.lut_depth(r.address_bits))


def _whole_layer_unit(i: int, layer, n_in: int, live: np.ndarray) -> Unit:
    text = _layer_module(i, layer, n_in, live, "table", "layer").replace(
        f"module layer{i} (", f"module {PLACEHOLDER} ("
    )
    return Unit("", text, estimate.layer_luts(layer, live), estimate.layer_depth(layer))


def layer_units(network: TruthTableNetwork, mode: str) -> list[list[Unit]]:
    """Per layer: the units whose LUTs add up to the layer (keys still empty; see the module doc)."""
    live = network.live_neurons()
    restricted = restricted_neurons(network) if mode == "neuron" else [None] * len(network.layers)
    out, n_in = [], network.n_inputs
    for i, (layer, lv, rs) in enumerate(zip(network.layers, live, restricted)):
        if rs is not None:
            out.append([_neuron_unit(r) for r in rs])
        else:
            out.append([_whole_layer_unit(i, layer, n_in, lv)])
        n_in = layer.n_out
    return out
