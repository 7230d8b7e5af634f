"""The hardware report: what every cost backend (Yosys synthesis in each mode, the analytic estimate,
a plugged-in ``lutsearch.hw.backends.CostBackend``) returns and every hardware objective and the export read.

A typed record rather than a dict, so a backend cannot omit a field an objective reads: required are
``luts`` and ``stage_depths``; ``depth`` (the slowest stage) and ``total_depth`` (LUT levels through
the whole network) are derived from the depths when a backend leaves them out. ``to_dict`` /
``from_dict`` give the JSON form (``<trial>/hw_synthesis.json``; old files without the newer keys read
back with their defaults).

This module holds types only (no imports from the rest of ``lutsearch.hw``), so the backends
(``estimate``, ``synth``) depend on it and never on each other's result type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["HardwareReport"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HardwareReport:
    luts: float  # 6-input (or K-input) LUTs of the whole design
    stage_depths: list[int]  # LUT levels of each register-to-register pipeline stage
    ffs: int = 0
    depth: int | None = None  # LUT levels of the slowest stage; None: max(stage_depths)
    total_depth: int | None = None  # LUT levels through the network; None: sum(layer_depths or stage_depths)
    stage_luts: list[float] = dataclasses.field(default_factory=list)
    layer_luts: list[float] = dataclasses.field(default_factory=list)  # empty when the backend cannot split
    layer_depths: list[int] = dataclasses.field(default_factory=list)  # empty when the backend cannot split
    lut_sizes: dict[str, int] = dataclasses.field(default_factory=dict)  # LUT-size histogram {"6": n}; {}: none
    muxf7: int = 0
    muxf8: int = 0
    pipeline: int = 1  # register every k layers (0: combinational)
    mode: str = ""  # synthesis mode actually run (design|layer|neuron), or "analytic"
    flow: str = ""  # Yosys flow or script template, or "analytic"
    tool: str = "none"
    tool_version: str = ""
    seconds: float = 0.0
    units: int = 0
    cached_units: int = 0
    estimated_units: int = 0  # units that fell back to the analytic estimate
    estimated: bool = False  # the whole report is the analytic estimate (no tool run)
    backend: str = ""  # provenance: what produced it ("synthesis", "analytic", a plugin's name)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # provenance: the backend's options
    notes: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.depth is None:
            object.__setattr__(self, "depth", int(max(self.stage_depths, default=0)))
        if self.total_depth is None:
            object.__setattr__(self, "total_depth", int(sum(self.layer_depths or self.stage_depths)))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardwareReport:
        """Read a report written by ``to_dict`` (keys this version does not know are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def coerce(cls, value: HardwareReport | Mapping[str, Any], backend: str = "") -> HardwareReport:
        """A backend's return value as a report: a ``HardwareReport``, or a mapping with its keys."""
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            report = cls.from_dict(value)
            return dataclasses.replace(report, backend=report.backend or backend)
        raise TypeError(f"hardware backend {backend!r} returned {type(value).__name__}, not a HardwareReport")
