"""Built-in objectives: accuracy, and analytic hardware costs computed from the truth-table network.

``luts`` (analytic): the LogicNets cost model over live neurons (``lutsearch.hw.estimate``).
``depth`` (analytic): the logic depth in L-LUT layers (table layers; an adder tree of K terms adds
ceil(log2 K) levels). The LUT-level depth that synthesis measures is the separate ``lut_depth``.
"""

from __future__ import annotations

import math

from lutsearch.hw.estimate import logicnets_lut_cost, network_luts
from lutsearch.objectives._registry import register_objective
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork

__all__ = ["analytic_depth", "logicnets_lut_cost", "network_luts"]


def analytic_depth(network: TruthTableNetwork) -> float:
    depth = 0
    for layer in network.layers:
        if isinstance(layer, TableLayer):
            depth += 1
        elif isinstance(layer, AdderLayer):
            depth += math.ceil(math.log2(max(2, int(layer.mask.sum(1).max(initial=1)))))
    return float(depth)


register_objective(
    "accuracy",
    "maximize",
    "data",
    lambda ctx, **_: ctx.metrics["val_acc"],
    default=True,
    doc="validation accuracy of the exact (truth-table) model",
)
register_objective(
    "luts",
    "minimize",
    "analytic",
    lambda ctx, **_: network_luts(ctx.network),
    default=True,
    doc="6-input LUTs",
    unit="LUT",
)
register_objective(
    "depth",
    "minimize",
    "analytic",
    lambda ctx, **_: analytic_depth(ctx.network),
    default=True,
    doc="logic depth in L-LUT layers",
    unit="layers",
)
