"""The HTML fragment of a question study's answer (``QuestionReport.html``): the answer in words, then one
table per stratum (estimates with 95% CIs, paired tests against the reference, mean LUTs)."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

from lutsearch.analyze._question_words import NO_DIFFERENCE, fmt

if TYPE_CHECKING:
    from lutsearch.analyze._questions import QuestionReport, StratumAnswer

__all__ = ["report_html"]


def _p(p: float) -> str:
    return "" if not math.isfinite(p) else f"{p:.3g}"


def _table(report: QuestionReport, s: StratumAnswer) -> str:
    q, st = report.question, s.stats
    tests = {t.label: t for t in st.tests}
    costs = [k for k in s.costs if k == "luts"]
    head = ["level", "seeds", f"{q.metric} mean", "95% CI", "best in", f"diff vs {st.reference}", "95% CI"]
    head += ["paired t p (Holm)", "Wilcoxon p (Holm)", "verdict", *[f"mean {k}" for k in costs]]
    rows = []
    for j, e in enumerate(st.levels):
        t = tests.get(e.label)
        if t is None:
            diff = ["reference", "", "", "", ""]
        else:
            verdict = "significant" if t.significant else NO_DIFFERENCE
            diff = [fmt(t.mean_diff, True), f"{fmt(t.ci_low, True)} .. {fmt(t.ci_high, True)}", _p(t.t_p_holm)]
            diff += [_p(t.wilcoxon_p_holm), verdict]
        best = f"{e.best_fraction:.0%}" if math.isfinite(e.best_fraction) else ""
        cells = [e.label + (" (best)" if e.label == st.best else ""), str(e.n), fmt(e.mean)]
        cells += [f"{fmt(e.ci_low)} .. {fmt(e.ci_high)}", best, *diff, *[fmt(s.costs[k][j]) for k in costs]]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    caption = f"{s.name} (group {s.group}); Friedman p = {_p(st.friedman_p) or 'n/a'}"
    return (
        f'<table class="question-stratum"><caption>{html.escape(caption)}</caption>'
        f"<thead>{header}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def report_html(report: QuestionReport) -> str:
    answer = "".join(f"<li>{html.escape(line)}</li>" for line in report.lines)
    tables = "".join(_table(report, s) for s in report.strata)
    return f'<section class="question"><ul>{answer}</ul>{tables}</section>'
