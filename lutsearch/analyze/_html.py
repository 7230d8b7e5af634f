"""report.html: the page template (``templates/report.html``) filled with tables and plotly figures.

The page opens offline: plotly.js is embedded inline once, with the first figure; the other figures
reuse it. Nothing is fetched from a CDN.
"""

from __future__ import annotations

import datetime
import html
import string
from importlib import resources
from typing import Any

import plotly.graph_objects as go

from lutsearch.analyze._data import Counts, StudyData
from lutsearch.analyze._figures import Figure
from lutsearch.analyze._questions import QuestionReport

__all__ = ["render_html"]

_COUNT_NOTES = {
    "complete": "trained to the end",
    "feasible": "complete and within every constraint",
    "infeasible": "complete but violating a constraint",
    "pruned_at_rung": "stopped by successive halving at a rung (trained part-way)",
    "pruned_before_training": "unbuildable, over a limit or hopeless on cost: never trained",
    "failed": "raised an error (not re-queued)",
    "interrupted": "left running by a stopped driver, re-queued",
    "running": "in flight now",
    "degenerate": "predicts a single class",
}


class _Plots:
    """Each figure as an HTML fragment; plotly.js goes inline with the first one only."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, key: str, fig: go.Figure) -> str:
        out = fig.to_html(
            full_html=False, include_plotlyjs=self.first, div_id=f"fig-{key}", config={"displaylogo": False}
        )
        self.first = False
        return out


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return html.escape(str(value))


def _counts_table(counts: Counts) -> str:
    rows = "".join(
        f'<tr><td class="text">{name.replace("_", " ")}</td><td>{getattr(counts, name)}</td>'
        f'<td class="text">{html.escape(note)}</td></tr>'
        for name, note in _COUNT_NOTES.items()
    )
    return (
        f'<table id="counts"><tr><th class="text">trials</th><th>n</th><th class="text">meaning</th></tr>{rows}</table>'
    )


def _front_table(data: StudyData) -> str:
    if not data.front:
        return '<p class="note">No feasible complete trial yet: the front is empty.</p>'
    head = (
        "<tr><th>trial</th><th class='text'>family</th><th>val accuracy</th><th>test accuracy</th><th>LUTs</th>"
        "<th>Yosys LUTs</th><th>latency (ns)</th><th>confirmed</th><th class='text'>dataset variant</th>"
        "<th class='text'>export</th></tr>"
    )
    body = "".join(
        f"<tr><td>{r.trial}</td><td class='text'>{_fmt(r.family)}</td><td>{_fmt(r.val_acc)}</td>"
        f"<td>{_fmt(r.test_acc)}</td><td>{_fmt(r.luts)}</td><td>{_fmt(r.yosys_luts)}</td>"
        f"<td>{_fmt(r.latency_ns)}</td><td>{_fmt(r.confirmed)}</td><td class='text'>{_fmt(r.dataset_variant)}</td>"
        f"<td class='text'><code>{html.escape(r.export_command)}</code></td></tr>"
        for r in data.front
    )
    note = "<p class='note'>Test accuracy is reported, never optimized. LUTs: the objective's model; Yosys LUTs: "
    note += "whole-design synthesis where the design was confirmed.</p>"
    return f'<table id="front">{head}{body}</table>{note}'


def _figure_block(fig: Figure, plots: _Plots) -> str:
    note = f'<p class="note">{html.escape(fig.note)}</p>' if fig.note else ""
    drawn = plots(fig.key, fig.figure) if fig.figure is not None else ""
    return f"<h2>{html.escape(fig.title)}</h2>{note}{drawn}"


def _question(question: QuestionReport | None, plots: _Plots) -> str:
    """The question study's answer, or nothing."""
    if question is None:
        return ""
    parts = ["<h2>Question</h2>", question.html()]
    for i, (title, fig) in enumerate(question.figures()):
        parts.append(f"<h3>{html.escape(title)}</h3>" + plots(f"question-{i}", fig))
    return "".join(parts)


def render_html(data: StudyData, figs: list[Figure], question: QuestionReport | None, version: str) -> str:
    """The whole page. ``figs[0]`` (the Pareto front) comes first, right under the header."""
    template = string.Template(resources.files("lutsearch.analyze").joinpath("templates/report.html").read_text())
    plots = _Plots()
    pareto = _figure_block(figs[0], plots)
    question_html = _question(question, plots)
    c = data.counts
    counts_line = (
        f"{c.complete} complete ({c.infeasible} infeasible), {c.pruned_at_rung} pruned at a rung, "
        f"{c.pruned_before_training} pruned before training, {c.failed} failed"
    )
    objectives = ", ".join(f"{o.name} ({o.direction})" for o in data.objectives)
    return template.substitute(
        study=html.escape(data.name),
        variant=html.escape(data.dataset_variant),
        objectives=html.escape(objectives),
        counts_line=html.escape(counts_line),
        generated=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=html.escape(version),
        pareto=pareto,
        counts_table=_counts_table(c),
        question=question_html,
        front_table=_front_table(data),
        figures="".join(_figure_block(f, plots) for f in figs[1:]),
    )
