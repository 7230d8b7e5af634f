"""Extra rows of ``train_throughput.py``: families whose reference style is not a baseline space.

Each ``benchmarks/_rows_<name>.py`` module defines ``ROWS``, a list of :class:`ExtraRow`. A row times
three models side by side, steps interleaved: lutsearch's model ("ours"), a reference-style model
written in that module from the public code's description (never copied), and a "plain" model of
the same size (e.g. a NeuraLUT or LogicNets network with the same widths) that the target may be
stated against. The target is checked by ``target_met`` on the measured numbers.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path

from torch import nn

__all__ = ["ExtraRow", "RowResult", "extra_rows"]


@dataclasses.dataclass(frozen=True)
class RowResult:
    """Median samples/s of the three models of a row, measured in one interleaved run."""

    ours_sps: float
    ref_sps: float
    plain_sps: float | None

    @property
    def speedup(self) -> float:
        return self.ours_sps / self.ref_sps

    @property
    def vs_plain(self) -> float | None:
        return None if self.plain_sps is None else self.ours_sps / self.plain_sps


@dataclasses.dataclass(frozen=True)
class ExtraRow:
    name: str
    n_features: int
    n_classes: int
    batch: int
    build_ours: Callable[[int, int, int], nn.Module]  # (n_features, n_classes, seed) -> model
    build_reference: Callable[[int, int, int], nn.Module]
    build_plain: Callable[[int, int, int], nn.Module] | None
    target: str  # in words, e.g. ">= 40k samples/s"
    target_met: Callable[[RowResult], bool]
    ours_fused_adamw: bool = True  # lutsearch's trainer steps AdamW with the fused kernel


def extra_rows() -> dict[str, ExtraRow]:
    """Every ``ROWS`` entry of the ``_rows_*.py`` modules beside this file, by name."""
    rows: dict[str, ExtraRow] = {}
    for path in sorted(Path(__file__).resolve().parent.glob("_rows_*.py")):
        for row in importlib.import_module(path.stem).ROWS:
            rows[row.name] = row
    return rows
