"""Built-in objectives: accuracy, and analytic hardware costs computed from the truth-table network.

``luts`` (analytic): the LogicNets cost model (Umuroglu et al., FPL 2020, eq. 1) summed over *live*
neurons (neurons no output depends on are removed by synthesis, so they are not counted):
``LUTCost(X, Y) = Y/3 * (2^(X-4) - (-1)^X)`` 6-input LUTs for a neuron with X address bits and Y
output bits, and ``Y`` when X <= 6 (one LUT6 per output bit). Adder layers are costed as ripple
adders: one LUT per output bit per two-operand addition.

``depth`` (analytic): the logic depth in L-LUT layers (table layers; an adder tree of K terms adds
ceil(log2 K) levels).
"""

from __future__ import annotations

import math

import numpy as np

from lutsearch.objectives._registry import register_objective
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork


def logicnets_lut_cost(x_bits: np.ndarray | int, y_bits: np.ndarray | int) -> np.ndarray:
    x = np.asarray(x_bits, dtype=np.float64)
    y = np.asarray(y_bits, dtype=np.float64)
    formula = y / 3.0 * (np.exp2(x - 4) - np.where(x % 2 == 0, 1.0, -1.0))
    return np.where(x <= 6, y, formula)


def analytic_luts(network: TruthTableNetwork) -> float:
    total = 0.0
    for layer, live in zip(network.layers, network.live_neurons()):
        if isinstance(layer, TableLayer):
            total += float(logicnets_lut_cost(layer.address_bits, layer.out_bits)) * int(live.sum())
        elif isinstance(layer, AdderLayer):
            terms = layer.mask[live].sum(1)
            total += float((np.maximum(terms - 1, 0) * layer.out_bits).sum())
    return total


def analytic_depth(network: TruthTableNetwork) -> float:
    depth = 0
    for layer in network.layers:
        if isinstance(layer, TableLayer):
            depth += 1
        elif isinstance(layer, AdderLayer):
            depth += math.ceil(math.log2(max(2, int(layer.mask.sum(1).max(initial=1)))))
    return float(depth)


register_objective("accuracy", "maximize", "data", lambda ctx, **_: ctx.metrics["val_acc"], default=True,
                   doc="validation accuracy of the exact (truth-table) model")
register_objective("luts", "minimize", "analytic", lambda ctx, **_: analytic_luts(ctx.network), default=True,
                   doc="6-input LUTs", unit="LUT")
register_objective("depth", "minimize", "analytic", lambda ctx, **_: analytic_depth(ctx.network), default=True,
                   doc="logic depth in L-LUT layers", unit="levels")

