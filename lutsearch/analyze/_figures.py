"""The report's interactive figures (plotly).

Optuna draws the hypervolume history and the parallel coordinates. Optuna's ``plot_pareto_front``
colours by trial number and cannot group by family or mark Yosys-confirmed designs, so the Pareto
front and the accuracy-vs-cost panels are drawn here with plotly's graph objects.
"""

from __future__ import annotations

import dataclasses
import warnings

import optuna
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lutsearch.analyze._data import StudyData, TrialPoint
from lutsearch.analyze._indicators import Hypervolume, Importance
from lutsearch.analyze._style import INFEASIBLE, family_colors

__all__ = ["Figure", "accuracy_cost_figure", "figures", "pareto_figure"]


@dataclasses.dataclass(frozen=True)
class Figure:
    key: str  # the HTML element id and the stem of its PNG, if any
    title: str
    figure: go.Figure | None  # None: not drawn, ``note`` says why
    note: str = ""


def _hover(p: TrialPoint) -> str:
    params = "<br>".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in p.params.items())
    state = "front" if p.on_front else ("infeasible" if not p.feasible else "dominated")
    yosys = f"<br>Yosys LUTs = {p.yosys_luts:g}" if p.yosys_luts is not None else ""
    return f"trial {p.number} ({p.family}, {state}){yosys}<br>{params}"


def _trace(points: list[TrialPoint], data: StudyData, name: str, marker: dict) -> go.Scatter:
    y, x = data.plot_axes()
    return go.Scatter(
        x=[p.values[x] if x is not None else p.number for p in points],
        y=[p.values[y] for p in points],
        mode="markers",
        name=name,
        marker=marker,
        text=[_hover(p) for p in points],
        customdata=[p.number for p in points],
        hovertemplate="%{text}<extra></extra>",
    )


def _axis_titles(fig: go.Figure, data: StudyData) -> None:
    y, x = data.plot_axes()
    arrow = {True: " ↑", False: " ↓"}
    fig.update_yaxes(title_text=data.objectives[y].name + arrow[data.objectives[y].maximize])
    x_title = "trial" if x is None else data.objectives[x].name + arrow[data.objectives[x].maximize]
    fig.update_xaxes(title_text=x_title)


def pareto_figure(data: StudyData) -> go.Figure:
    """Every complete trial; per family one colour; front designs large (diamonds when Yosys confirmed
    their LUTs), dominated ones faint, constraint-violating ones grey crosses."""
    colors = family_colors([p.family for p in data.points])
    fig = go.Figure()
    for family, color in colors.items():
        mine = [p for p in data.points if p.family == family and p.feasible]
        groups = (
            ("front", [p for p in mine if p.on_front and not p.confirmed], dict(symbol="circle", size=13)),
            (
                "front, Yosys-confirmed",
                [p for p in mine if p.on_front and p.confirmed],
                dict(symbol="diamond", size=15),
            ),
            ("dominated", [p for p in mine if not p.on_front], dict(symbol="circle", size=8, opacity=0.35)),
        )
        for label, points, marker in groups:
            if points:
                style = {"color": color, "line": {"width": 1, "color": "#222222"}, **marker}
                fig.add_trace(_trace(points, data, f"{family} ({label})", style))
    bad = [p for p in data.points if not p.feasible]
    if bad:
        fig.add_trace(_trace(bad, data, "infeasible (constraint)", dict(symbol="x", size=8, color=INFEASIBLE)))
    _axis_titles(fig, data)
    fig.update_layout(template="plotly_white", height=520, legend={"title": {"text": "family"}})
    return fig


def accuracy_cost_figure(data: StudyData) -> go.Figure:
    """One panel per family: every complete trial of that family, front designs emphasized."""
    colors = family_colors([p.family for p in data.points])
    fig = make_subplots(rows=1, cols=max(1, len(colors)), shared_yaxes=True, subplot_titles=list(colors) or None)
    for col, (family, color) in enumerate(colors.items(), start=1):
        mine = [p for p in data.points if p.family == family]
        for label, points, marker in (
            ("front", [p for p in mine if p.on_front], dict(size=11, color=color)),
            (
                "other feasible",
                [p for p in mine if p.feasible and not p.on_front],
                dict(size=7, color=color, opacity=0.4),
            ),
            ("infeasible", [p for p in mine if not p.feasible], dict(size=7, symbol="x", color=INFEASIBLE)),
        ):
            if points:
                fig.add_trace(_trace(points, data, f"{family} ({label})", marker), row=1, col=col)
    _axis_titles(fig, data)
    fig.update_layout(template="plotly_white", height=460)
    return fig


def importance_figure(found: list[Importance]) -> go.Figure | None:
    drawn = [i for i in found if i.values]
    if not drawn:
        return None
    fig = make_subplots(rows=1, cols=len(drawn), subplot_titles=[i.objective for i in drawn])
    for col, imp in enumerate(drawn, start=1):
        ranked = sorted(imp.values.items(), key=lambda kv: kv[1])
        fig.add_trace(
            go.Bar(x=[v for _, v in ranked], y=[k for k, _ in ranked], orientation="h", name=imp.objective),
            row=1,
            col=col,
        )
    fig.update_layout(template="plotly_white", height=120 + 28 * max(len(i.values) for i in drawn), showlegend=False)
    fig.update_xaxes(title_text="PED-ANOVA importance")
    return fig


def figures(study: optuna.Study, data: StudyData, hv: Hypervolume, found: list[Importance]) -> list[Figure]:
    """All interactive figures, in report order; a figure that cannot be drawn carries the reason."""
    y, _ = data.plot_axes()
    out = [
        Figure("pareto", "Pareto front", pareto_figure(data)),
        Figure("accuracy_cost", "Accuracy against cost, per family", accuracy_cost_figure(data)),
    ]
    if hv.reference_point is None:
        out.append(Figure("hypervolume", "Hypervolume history", None, f"not drawn: {hv.reason}"))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's experimental-feature warning
            fig = optuna.visualization.plot_hypervolume_history(study, hv.reference_point)
        note = f"reference point {[round(v, 6) for v in hv.reference_point]}: {hv.rule}"
        out.append(Figure("hypervolume", "Hypervolume history", fig, note))
    reasons = "; ".join(f"{i.objective}: {i.reason}" for i in found if i.reason)
    caveat = next((i.caveat for i in found if i.caveat), None)
    if caveat:
        reasons = "; ".join(filter(None, [reasons, f"indicative only: {caveat}"]))
    out.append(Figure("importance", "Parameter importance per objective", importance_figure(found), reasons))
    if data.points:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's experimental-feature warnings
            name = data.objectives[y].name
            fig = optuna.visualization.plot_parallel_coordinate(study, target=lambda t: t.values[y], target_name=name)
        out.append(Figure("parallel", f"Parallel coordinates (colour: {name})", fig))
    else:
        out.append(Figure("parallel", "Parallel coordinates", None, "not drawn: no complete trial"))
    return out
