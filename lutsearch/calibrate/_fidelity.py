"""How faithful the surrogate is: held-out LUT error and rank correlation against whole-design Yosys,
LUT-depth agreement and time, next to the analytic formula (the fidelity report of ``lutsearch
calibrate`` and ``benchmarks/surrogate.py``; targets of issue #13).

A held-out group (a family, or a dataset) is scored by a surrogate refitted on the base rows (random
and structured tables) plus the per-unit rows of every *other* group's designs, so a design's own
tables never enter its fit.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence

from lutsearch.calibrate._designs import Design
from lutsearch.hw import HardwareReport
from lutsearch.hw.estimate import network_luts
from lutsearch.hw.surrogate import Calibration, CalibrationRow
from lutsearch.hw.surrogate.backend import SurrogateBackend

__all__ = ["Scored", "fidelity_lines", "held_out_scores", "summarize"]


@dataclasses.dataclass
class Scored:
    design: Design
    yosys: HardwareReport
    surrogate: HardwareReport
    analytic: float
    surrogate_seconds: float


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr  # scikit-learn's dependency

    return float(spearmanr(a, b).statistic) if len(a) >= 3 else float("nan")


def _mape(pred: Sequence[float], true: Sequence[float]) -> float:
    pairs = [(p, t) for p, t in zip(pred, true) if t > 0]
    return 100.0 * statistics.fmean(abs(p - t) / t for p, t in pairs) if pairs else float("nan")


def held_out_scores(
    designs: Sequence[Design],
    truth: dict[str, HardwareReport],
    rows: dict[str, list[CalibrationRow]],
    base: list[CalibrationRow],
    key: Callable[[Design], str],
) -> dict[str, list[Scored]]:
    """Per group (``key(design)``): its synthesized designs scored by a surrogate fitted without them."""
    out: dict[str, list[Scored]] = {}
    backend = SurrogateBackend()
    for group in sorted({key(d) for d in designs}):
        train = [r for d in designs if key(d) != group for r in rows.get(d.name, [])]
        calibration = Calibration(base + train).fit()
        scored = []
        for d in (d for d in designs if key(d) == group and d.name in truth):
            t0 = time.perf_counter()
            report = backend.estimate(d.network, pipeline=1, calibration=calibration)
            scored.append(Scored(d, truth[d.name], report, network_luts(d.network), time.perf_counter() - t0))
        out[group] = scored
    return out


def summarize(scored: Sequence[Scored]) -> dict[str, float]:
    """LUT MAPE (%) and Spearman of the surrogate and of the formula, depth agreement, times."""
    true = [s.yosys.luts for s in scored]
    surr = [s.surrogate.luts for s in scored]
    form = [s.analytic for s in scored]
    diff = [abs((s.surrogate.depth or 0) - (s.yosys.depth or 0)) for s in scored]
    return {
        "n": len(scored),
        "surrogate_mape": _mape(surr, true),
        "surrogate_spearman": _spearman(surr, true),
        "formula_mape": _mape(form, true),
        "formula_spearman": _spearman(form, true),
        "depth_exact_pct": 100.0 * sum(d == 0 for d in diff) / max(1, len(diff)),
        "depth_off_by_1": sum(d == 1 for d in diff),
        "depth_off_more": sum(d > 1 for d in diff),
        "surrogate_ms": 1000.0 * statistics.fmean(s.surrogate_seconds for s in scored) if scored else 0.0,
        "yosys_s": statistics.fmean(s.yosys.seconds for s in scored) if scored else 0.0,
    }


def fidelity_lines(title: str, groups: dict[str, list[Scored]]) -> list[str]:
    """A table: one line per held-out group and one for all of them."""
    lines = [
        title,
        f"{'held out':12s} {'n':>3s} {'surr MAPE':>9s} {'surr rho':>8s} {'formula MAPE':>12s} {'formula rho':>11s} "
        f"{'depth exact':>11s} {'off 1':>5s} {'worse':>5s} {'surr ms':>8s} {'Yosys s':>8s}",
    ]
    everything: list[Scored] = []
    for group, scored in list(groups.items()) + [("all", [])]:
        if group == "all":
            scored = everything
        elif not scored:
            continue
        else:
            everything = everything + scored
        s = summarize(scored)
        lines.append(
            f"{group:12s} {s['n']:3d} {s['surrogate_mape']:8.1f}% {s['surrogate_spearman']:8.3f} "
            f"{s['formula_mape']:11.1f}% {s['formula_spearman']:11.3f} {s['depth_exact_pct']:10.0f}% "
            f"{s['depth_off_by_1']:5d} {s['depth_off_more']:5d} {s['surrogate_ms']:8.2f} {s['yosys_s']:8.2f}"
        )
    return lines
