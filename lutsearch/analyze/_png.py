"""Figures for papers: PNGs of fixed size (``WIDTH_PX`` x ``HEIGHT_PX`` at ``DPI``) drawn with matplotlib (Agg).

The Pareto front and accuracy-vs-cost panels mirror the interactive figures (same colours and markers);
the hypervolume history is Optuna's own matplotlib figure, resized.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, also without a display

import matplotlib.pyplot as plt
import optuna

from lutsearch.analyze._data import StudyData, TrialPoint
from lutsearch.analyze._indicators import Hypervolume
from lutsearch.analyze._style import INFEASIBLE, family_colors

__all__ = ["DPI", "HEIGHT_PX", "WIDTH_PX", "write_pngs"]

DPI = 200
WIDTH_PX, HEIGHT_PX = 1600, 1000


def _xy(points: list[TrialPoint], data: StudyData) -> tuple[list[float], list[float]]:
    y, x = data.plot_axes()
    return [p.values[x] if x is not None else p.number for p in points], [p.values[y] for p in points]


def _labels(ax, data: StudyData) -> None:
    y, x = data.plot_axes()
    ax.set_ylabel(data.objectives[y].name)
    ax.set_xlabel("trial" if x is None else data.objectives[x].name)
    ax.grid(alpha=0.3)


def _save(fig, path: Path) -> Path:
    fig.set_size_inches(WIDTH_PX / DPI, HEIGHT_PX / DPI)
    fig.savefig(path, dpi=DPI)  # no bbox_inches="tight": it would change the pixel size
    plt.close(fig)
    return path


def _pareto(data: StudyData, path: Path) -> Path:
    fig, ax = plt.subplots()
    for family, color in family_colors([p.family for p in data.points]).items():
        mine = [p for p in data.points if p.family == family and p.feasible]
        groups: list[tuple[str, list[TrialPoint], dict[str, Any]]] = [
            ("front", [p for p in mine if p.on_front and not p.confirmed], dict(marker="o", s=60)),
            ("front, Yosys", [p for p in mine if p.on_front and p.confirmed], dict(marker="D", s=60)),
            ("dominated", [p for p in mine if not p.on_front], dict(marker="o", s=20, alpha=0.35)),
        ]
        for label, points, style in groups:
            if points:
                ax.scatter(*_xy(points, data), color=color, edgecolors="#222222", label=f"{family} ({label})", **style)
    bad = [p for p in data.points if not p.feasible]
    if bad:
        ax.scatter(*_xy(bad, data), color=INFEASIBLE, marker="x", s=20, label="infeasible")
    _labels(ax, data)
    ax.set_title(f"{data.name}: Pareto front ({data.dataset_variant})")
    if data.points:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def _accuracy_cost(data: StudyData, path: Path) -> Path:
    colors = family_colors([p.family for p in data.points])
    fig, axes = plt.subplots(1, max(1, len(colors)), sharey=True, squeeze=False)
    for ax, (family, color) in zip(axes[0], colors.items()):
        mine = [p for p in data.points if p.family == family]
        front = [p for p in mine if p.on_front]
        rest = [p for p in mine if p.feasible and not p.on_front]
        bad = [p for p in mine if not p.feasible]
        styled: list[tuple[list[TrialPoint], dict[str, Any]]] = [(front, dict(s=50)), (rest, dict(s=15, alpha=0.4))]
        for points, style in styled:
            if points:
                ax.scatter(*_xy(points, data), color=color, **style)
        if bad:
            ax.scatter(*_xy(bad, data), color=INFEASIBLE, marker="x", s=15)
        ax.set_title(family)
        _labels(ax, data)
    fig.tight_layout()
    return _save(fig, path)


def _hypervolume(study: optuna.Study, hv: Hypervolume, path: Path) -> Path | None:
    if hv.reference_point is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-feature warning for its matplotlib plots
        ax = optuna.visualization.matplotlib.plot_hypervolume_history(study, hv.reference_point)
    return _save(ax.figure, path)


def write_pngs(study: optuna.Study, data: StudyData, hv: Hypervolume, out_dir: Path) -> list[Path]:
    """The paper figures under ``out_dir``; the paths written."""
    written = [_pareto(data, out_dir / "pareto.png"), _accuracy_cost(data, out_dir / "accuracy_cost.png")]
    hv_png = _hypervolume(study, hv, out_dir / "hypervolume.png")
    return written + ([hv_png] if hv_png is not None else [])
