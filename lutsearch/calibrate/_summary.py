"""Summaries of a design corpus: counts per family and dataset, the address widths of its neurons, one
row per design (accuracy, analytic and Yosys LUTs, times) and per-family LUT ranges and ratios."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lutsearch.calibrate._designs import Design
from lutsearch.hw import HardwareReport
from lutsearch.hw.estimate import network_luts
from lutsearch.tables import TableLayer

__all__ = ["address_histogram", "design_rows", "family_summary", "format_table", "grid_counts"]


def grid_counts(items: Iterable[Any]) -> dict[str, Counter[str]]:
    """``{group: Counter(dataset -> designs)}`` of specs or designs (anything with ``group`` and ``dataset``)."""
    counts: dict[str, Counter[str]] = {}
    for item in items:
        counts.setdefault(item.group, Counter())[item.dataset] += 1
    return counts


def address_histogram(designs: Iterable[Design]) -> Counter[int]:
    """Live table neurons by address width (fan-in x input bits) over the whole corpus."""
    hist: Counter[int] = Counter()
    for design in designs:
        net = design.network
        for layer, live in zip(net.layers, net.live_neurons()):
            if isinstance(layer, TableLayer):
                hist[layer.address_bits] += int(live.sum())
    return hist


def design_rows(designs: Sequence[Design], truth: Mapping[str, HardwareReport] | None = None) -> list[dict[str, Any]]:
    """One row per design: name, group, dataset, accuracies, analytic LUTs, Yosys LUTs/depth/seconds
    (None without a report), training seconds."""
    rows = []
    for d in designs:
        report = (truth or {}).get(d.name)
        rows.append(
            {
                "design": d.name,
                "family": d.group,
                "dataset": d.dataset,
                "val_acc": d.val_acc,
                "test_acc": d.test_acc,
                "analytic_luts": network_luts(d.network),
                "yosys_luts": None if report is None else report.luts,
                "yosys_depth": None if report is None else report.depth,
                "train_s": d.train_seconds,
                "yosys_s": None if report is None else report.seconds,
            }
        )
    return rows


_COLUMNS = [
    ("design", "{}", 30),
    ("family", "{}", 9),
    ("dataset", "{}", 7),
    ("val_acc", "{:.3f}", 7),
    ("test_acc", "{:.3f}", 8),
    ("analytic_luts", "{:.0f}", 13),
    ("yosys_luts", "{:.0f}", 10),
    ("yosys_depth", "{}", 11),
    ("train_s", "{:.1f}", 7),
    ("yosys_s", "{:.1f}", 7),
]


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["  ".join(f"{name:>{width}}" if i else f"{name:<{width}}" for i, (name, _, width) in enumerate(_COLUMNS))]
    for row in rows:
        cells = []
        for i, (name, fmt, width) in enumerate(_COLUMNS):
            text = "-" if row[name] is None else fmt.format(row[name])
            cells.append(f"{text:>{width}}" if i else f"{text:<{width}}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def family_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per family (group): designs, Yosys LUT min/max, analytic/Yosys LUT ratio median/min/max (over
    designs with a report and a non-zero Yosys count), Yosys depth max, mean val acc."""
    out: dict[str, dict[str, float]] = {}
    for family in sorted({r["family"] for r in rows}):
        mine = [r for r in rows if r["family"] == family]
        synth = [r for r in mine if r["yosys_luts"] is not None]
        ratios = [r["analytic_luts"] / r["yosys_luts"] for r in synth if r["yosys_luts"]]
        entry: dict[str, float] = {"designs": len(mine), "mean_val_acc": statistics.fmean(r["val_acc"] for r in mine)}
        if synth:
            entry |= {
                "yosys_luts_min": min(r["yosys_luts"] for r in synth),
                "yosys_luts_max": max(r["yosys_luts"] for r in synth),
                "yosys_depth_max": max(r["yosys_depth"] for r in synth),
            }
        if ratios:
            entry |= {"ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
        out[family] = entry
    return out
