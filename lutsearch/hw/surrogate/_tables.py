"""The neuron units the surrogate costs: each live neuron's table exactly as ``neuron``-mode synthesis
restricts it (``lutsearch.hw._units.restricted_neurons``: non-constant upstream input bits, read output
bits, ignored address bits dropped), with a cheap content key."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from lutsearch.hw._units import RestrictedTable, restricted_neurons
from lutsearch.tables import TruthTableNetwork

__all__ = ["UnitTable", "network_units", "table_key"]


def table_key(table: np.ndarray, address_bits: int, out_bits: int) -> str:
    """A cheap, stable, tool-independent content hash of a restricted table: the first 20 hex digits of
    sha256("<address_bits>,<out_bits>;" + the table as little-endian int64). Equal tables of different
    neurons or networks share a key (one calibration row, one prediction); unlike the Yosys unit-cache
    key it does not depend on the Yosys version or flow (rows carry their ``tool`` instead)."""
    h = hashlib.sha256(f"{int(address_bits)},{int(out_bits)};".encode())
    h.update(np.ascontiguousarray(table, dtype="<i8").tobytes())
    return h.hexdigest()[:20]


@dataclasses.dataclass
class UnitTable:
    """One neuron unit: ``table`` (int64, 2**address_bits packed output codes of the kept output bits,
    kept bit k at bit k), every address bit used by some kept bit; ``key``: ``table_key`` of it."""

    table: np.ndarray
    address_bits: int
    out_bits: int
    key: str = ""

    def __post_init__(self) -> None:
        self.table = np.ascontiguousarray(self.table, dtype=np.int64)
        self.address_bits, self.out_bits = int(self.address_bits), int(self.out_bits)
        if self.table.shape != (1 << self.address_bits,):
            raise ValueError(f"UnitTable: {self.table.shape} entries, expected ({1 << self.address_bits},)")
        if not self.key:
            self.key = table_key(self.table, self.address_bits, self.out_bits)

    @classmethod
    def from_restricted(cls, r: RestrictedTable) -> UnitTable:
        return cls(r.table, r.address_bits, r.out_bits)

    def restricted(self) -> RestrictedTable:
        return RestrictedTable(0, self.table, self.address_bits, self.out_bits)


def network_units(network: TruthTableNetwork) -> list[list[UnitTable]]:
    """Per layer, the units of every live neuron that needs logic ([] for adder layers): the same
    tables ``synthesize(network, mode="neuron")`` sends to Yosys. Dead neurons and constant tables
    are no units (they cost nothing)."""
    return [[UnitTable.from_restricted(r) for r in rs] if rs else [] for rs in restricted_neurons(network)]
