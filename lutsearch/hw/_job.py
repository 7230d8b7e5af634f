"""``SynthJob``: everything one ``synthesize()`` call resolved (network, flow, tool, limits, cache),
handed to the design flow and the unit scheduler instead of long positional parameter lists."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lutsearch.hw.rtl import stage_plan
from lutsearch.hw.yosys import YosysTool
from lutsearch.tables import TruthTableNetwork

__all__ = ["SynthJob"]


@dataclasses.dataclass(frozen=True, eq=False)
class SynthJob:
    network: TruthTableNetwork  # constants already simplified unless mode == "neuron"
    pipeline: int
    mode: str  # resolved: "design", "layer" or "neuron" (never "auto")
    flow: str  # the flow name or custom template path, as reported
    template: Path  # the Yosys script template file
    script: str  # its text (part of every cache key)
    tool: YosysTool
    k: int = 6
    jobs: int = 1
    timeout: float | None = 600.0
    cache_dir: Path | None = None  # None: no cache
    workdir: Path | None = None  # None: temporary folders
    ray: bool = False
    on_error: str = "estimate"  # or "raise"

    @property
    def stages(self) -> list[list[int]]:
        """Layer indices per combinational stage (``lutsearch.hw.rtl.stage_plan``)."""
        return stage_plan(len(self.network.layers), self.pipeline)
