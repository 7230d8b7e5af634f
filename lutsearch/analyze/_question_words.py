"""The answer of a question study in words and numbers (``QuestionReport.lines``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lutsearch.analyze._stats import ALPHA, Interaction, PairedTest

if TYPE_CHECKING:
    from lutsearch.analyze._questions import QuestionReport, StratumAnswer

__all__ = ["answer_lines", "fmt", "front"]

NO_DIFFERENCE = "no significant difference"


def fmt(x: float, signed: bool = False) -> str:
    """A metric value: 4 decimals below 10 (accuracies), else 4 significant digits."""
    if not math.isfinite(x):
        return "n/a"
    text = f"{x:.4f}" if abs(x) < 10 else f"{x:.4g}"
    return ("+" + text) if signed and x >= 0 else text


def _p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else "<1e-4")


def _share(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.0%}"


def _test(t: PairedTest) -> str:
    return (
        f"{t.label} ({fmt(t.mean_diff, signed=True)}, 95% CI {fmt(t.ci_low, True)} to {fmt(t.ci_high, True)}; "
        f"Holm-corrected paired t p={_p(t.t_p_holm)}, Wilcoxon p={_p(t.wilcoxon_p_holm)})"
    )


def _stratum_lines(report: QuestionReport, s: StratumAnswer) -> list[str]:
    q, st = report.question, s.stats
    better = "higher" if q.direction == "maximize" else "lower"
    worse = "lower" if q.direction == "maximize" else "higher"
    best = next(e for e in st.levels if e.label == st.best)
    ref = next(e for e in st.levels if e.label == st.reference)
    lines = [
        f"[{s.name}] best level {best.label}: {q.metric} {fmt(best.mean)} (95% CI {fmt(best.ci_low)} to "
        f"{fmt(best.ci_high)}, n={best.n}), best in {_share(best.best_fraction)} of {st.complete_repeats} complete "
        "seeds; "
        f"reference {ref.label}: {fmt(ref.mean)} (95% CI {fmt(ref.ci_low)} to {fmt(ref.ci_high)}, n={ref.n})."
    ]
    sign = 1.0 if q.direction == "maximize" else -1.0
    up = [t for t in st.tests if t.significant and sign * t.mean_diff > 0]  # better than the reference
    down = [t for t in st.tests if t.significant and sign * t.mean_diff < 0]
    same = [t for t in st.tests if not t.significant]
    if all(t.n < 2 for t in st.tests):
        lines.append(f"[{s.name}] not testable yet: fewer than 2 seeds with both a level and the reference.")
        return lines
    if not up and not down:
        closest = min(st.tests, key=lambda t: t.t_p_holm if math.isfinite(t.t_p_holm) else math.inf)
        lines.append(
            f"[{s.name}] {NO_DIFFERENCE} between any level and the reference {st.reference} "
            f"(smallest p: {_test(closest)}; Friedman p = {_p(st.friedman_p)})."
        )
        return lines
    parts = []
    if up:
        parts.append(f"significantly {better} than {st.reference}: " + "; ".join(_test(t) for t in up))
    if down:
        parts.append(f"significantly {worse}: " + "; ".join(_test(t) for t in down))
    if same:
        parts.append(f"{NO_DIFFERENCE}: {', '.join(t.label for t in same)}")
    lines.append(f"[{s.name}] vs {st.reference}: " + " | ".join(parts) + f" (Friedman p = {_p(st.friedman_p)}).")
    return lines


def _interaction(name: str, i: Interaction | None) -> str:
    if i is None:
        return f"{name}: not testable (needs 2 strata with 2 complete seeds each)."
    verdict = (
        "significant: the effect of the level depends on the stratum"
        if i.significant
        else f"{NO_DIFFERENCE} in the level's effect across strata"
    )
    return f"{name}: split-plot ANOVA F({i.df1}, {i.df2}) = {i.f:.3g}, p = {_p(i.p)} ({i.repeats} seeds): {verdict}."


def front(points: dict[str, tuple[float, float]], maximize: bool) -> list[str]:
    """Names on the Pareto front of (metric, LUTs) points; LUTs down, the metric up or down (by hand: a
    handful of points, no library call needed)."""
    sign = 1.0 if maximize else -1.0

    def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
        ge = sign * a[0] >= sign * b[0] and a[1] <= b[1]
        return ge and (sign * a[0] > sign * b[0] or a[1] < b[1])

    finite = {k: v for k, v in points.items() if all(math.isfinite(x) for x in v)}
    return [k for k, v in finite.items() if not any(dominates(o, v) for o in finite.values())]


def _group_lines(report: QuestionReport, group: str) -> list[str]:
    q = report.question
    members = [s for s in report.strata if s.group == group and any(e.n for e in s.stats.levels)]
    if len(members) < 2:
        return []
    maximize = q.direction == "maximize"
    best = []
    for j, label in enumerate(q.labels):
        means = {s.name: s.stats.levels[j].mean for s in members if math.isfinite(s.stats.levels[j].mean)}
        if means:
            best.append((label, (max if maximize else min)(means, key=lambda k: means[k])))
    moved = len({b for _, b in best}) > 1
    lines = [
        f"[{group}] best stratum per level: {', '.join(f'{lab}: {b}' for lab, b in best)}; "
        + ("it moves with the level." if moved else "the same at every level.")
    ]
    if all("luts" in s.costs for s in members):
        fronts = {
            label: front({s.name: (s.stats.levels[j].mean, s.costs["luts"][j]) for s in members}, maximize)
            for j, label in enumerate(q.labels)
        }
        shown = "; ".join(f"{lab}: {', '.join(f) or 'none'}" for lab, f in fronts.items())
        same = len({tuple(sorted(f)) for f in fronts.values()}) == 1
        lines.append(
            f"[{group}] {q.metric}-LUT front of the strata (means) per level: {shown}; "
            + ("the same strata at every level." if same else "the front's strata change with the level.")
        )
    return lines


def answer_lines(report: QuestionReport) -> list[str]:
    q = report.question
    lines = [
        f"Question: {q.text or 'the effect of ' + ', '.join(q.knobs) + ' on ' + q.metric}",
        f"Design: {', '.join(q.knobs)} at {len(q.levels)} levels ({', '.join(q.labels)}), reference "
        f"{q.labels[q.reference]}, {q.seeds} paired seeds, {len(q.strata)} strata; {report.cells} of {q.n_trials} "
        f"cells complete" + (f" ({report.missing} missing)." if report.missing else "."),
        f"Tests: per-seed differences against {q.labels[q.reference]}, paired t-test (two-sided, Holm-corrected "
        f"over {len(q.levels) - 1} level{'s' if len(q.levels) > 2 else ''}; significant when p < {ALPHA}), "
        "Wilcoxon signed-rank as a check; "
        "Friedman across levels per stratum; level x stratum: split-plot ANOVA F test on complete seeds.",
    ]
    for s in report.strata:
        if not any(e.n for e in s.stats.levels):
            lines.append(f"[{s.name}] no complete trials yet.")
            continue
        lines += _stratum_lines(report, s)
        if "luts" in s.costs:
            lines.append(
                f"[{s.name}] mean LUTs per level: "
                + ", ".join(f"{lab}: {fmt(v)}" for lab, v in zip(q.labels, s.costs["luts"]))
            )
    bests = {s.name: s.stats.best for s in report.strata if any(e.n for e in s.stats.levels)}
    if len(bests) > 1:
        same = len(set(bests.values())) == 1
        lines.append(
            f"Best level per stratum: {', '.join(f'{k}: {v}' for k, v in bests.items())}; "
            + ("the same in every stratum." if same else "it changes across strata.")
        )
        lines.append(_interaction("Level x stratum (all strata)", report.interaction))
        for group, inter in report.group_interactions.items():
            lines.append(_interaction(f"Level x stratum within {group}", inter))
        for group in dict.fromkeys(s.group for s in report.strata):
            lines += _group_lines(report, group)
    return lines
