"""Analytic hardware estimates: the fallback when Yosys is absent, and the ``analytic`` latency backend.

LUTs: the LogicNets cost model (Umuroglu et al., FPL 2020, eq. 1) over *live* neurons (neurons no output
depends on are removed by synthesis): ``LUTCost(X, Y) = Y/3 * (2^(X-4) - (-1)^X)`` 6-input LUTs for a
neuron with X address bits and Y output bits, and ``Y`` when X <= 6 (one LUT6 per output bit). Adder
layers: one LUT per output bit per two-operand addition.
LUT-level depth of one X-input L-LUT (random table, LUT6 mapping): measured with Yosys+ABC
(``benchmarks/cost_model.py`` prints the table; docs/hardware.md): one level up to 6 inputs, then a
Shannon mux tree where each further level absorbs about two more inputs. Adder layers: a K-term sum
as a tree of ceil(log2 K) two-operand adders of ``out_bits`` bits, each about ceil(out_bits/2) LUT
levels without carry chains.
"""

from __future__ import annotations

import math

import numpy as np

from lutsearch.hw.analysis import used_bits
from lutsearch.hw.report import HardwareReport
from lutsearch.hw.rtl import stage_plan
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork

__all__ = [
    "analytic_result",
    "layer_depth",
    "layer_luts",
    "logicnets_lut_cost",
    "lut_depth",
    "network_luts",
    "register_counts",
]

# LUT levels of a random X-input table after `abc -lut 6` with dch/if/mfs2 (measured, see module doc);
# index = X. Beyond the table: +1 level per 2 inputs.
_DEPTH = {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 2, 8: 2, 9: 3, 10: 3, 11: 4, 12: 4, 13: 5, 14: 5, 15: 6, 16: 6}


def logicnets_lut_cost(x_bits, y_bits) -> np.ndarray:
    x = np.asarray(x_bits, dtype=np.float64)
    y = np.asarray(y_bits, dtype=np.float64)
    formula = y / 3.0 * (np.exp2(x - 4) - np.where(x % 2 == 0, 1.0, -1.0))
    return np.where(x <= 6, y, formula)


def lut_depth(x_bits: int) -> int:
    x = int(x_bits)
    if x <= 0:
        return 0
    if x in _DEPTH:
        return _DEPTH[x]
    return _DEPTH[16] + math.ceil((x - 16) / 2)


def layer_luts(layer, live: np.ndarray) -> float:
    if isinstance(layer, TableLayer):
        return float(logicnets_lut_cost(layer.address_bits, layer.out_bits)) * int(np.sum(live))
    terms = layer.mask[live].sum(1)
    return float((np.maximum(terms - 1, 0) * layer.out_bits).sum())


def network_luts(network: TruthTableNetwork) -> float:
    """The analytic LUT count of a whole network (live neurons only)."""
    return float(sum(layer_luts(layer, live) for layer, live in zip(network.layers, network.live_neurons())))


def layer_depth(layer) -> int:
    if isinstance(layer, TableLayer):
        return lut_depth(layer.address_bits)
    if isinstance(layer, AdderLayer):
        k = int(layer.mask.sum(1).max(initial=1))
        return math.ceil(math.log2(max(2, k))) * math.ceil(layer.out_bits / 2) if k > 1 else 0
    raise TypeError(f"unknown layer type {type(layer).__name__}")


def register_counts(network: TruthTableNetwork, pipeline: int) -> int:
    """Flip-flops of the pipelined top that synthesis keeps: the input bits some live neuron depends
    on, then the non-constant, consumed output bits of the last layer of every stage (exact bit
    accounting, shared by the analytic estimate and the unit modes of ``lutsearch.hw.synth``)."""
    if not pipeline or not network.layers:
        return 0
    used_in, used_layers = used_bits(network)
    total = int(used_in.sum())
    for layers in stage_plan(len(network.layers), pipeline):
        total += int(used_layers[layers[-1]].sum())
    return total


def analytic_result(network: TruthTableNetwork, pipeline: int, note: str = "") -> HardwareReport:
    """A ``HardwareReport`` filled from the analytic model (flagged ``estimated``)."""
    live = network.live_neurons()
    layer_l = [layer_luts(layer, lv) for layer, lv in zip(network.layers, live)]
    layer_d = [layer_depth(layer) for layer in network.layers]
    stages = stage_plan(len(network.layers), pipeline)
    sd = [int(sum(layer_d[i] for i in s)) for s in stages]
    return HardwareReport(
        luts=float(sum(layer_l)),
        ffs=register_counts(network, pipeline),
        depth=max(sd, default=0),
        total_depth=int(sum(layer_d)),
        stage_depths=sd,
        stage_luts=[float(sum(layer_l[i] for i in s)) for s in stages],
        layer_luts=layer_l,
        layer_depths=layer_d,
        lut_sizes={},
        muxf7=0,
        muxf8=0,
        pipeline=int(pipeline),
        mode="analytic",
        flow="analytic",
        tool="none",
        tool_version="",
        seconds=0.0,
        estimated=True,
        backend="analytic",
        options={"pipeline": int(pipeline)},
        notes=[note] if note else [],
    )
