"""Objective plugin: total truth-table storage of the live neurons, in bits.

A technology-independent size measure (what a ROM-based or memory-mapped implementation would
store): sum over live table neurons of 2^(address bits) x output bits. Minimize it.
"""

from lutsearch.objectives import register_objective
from lutsearch.tables import TableLayer


def table_bits(ctx, **_options) -> float:
    total = 0
    for layer, live in zip(ctx.network.layers, ctx.network.live_neurons()):
        if isinstance(layer, TableLayer):
            total += int(live.sum()) * (1 << layer.address_bits) * layer.out_bits
    return float(total)


register_objective(
    "table_bits",
    "minimize",
    "analytic",
    table_bits,
    default=True,
    doc="truth-table storage of live neurons",
    unit="bit",
)
