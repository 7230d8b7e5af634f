"""Answers to a question study (a space with a ``question:`` block), in words, numbers, tables and figures.

``answer_questions(study)`` reads the study's question (its ``space`` user attribute, parsed by
``lutsearch.space._question``) and its complete trials carrying ``question_stratum``, ``question_level``
and ``question_repeat`` (``lutsearch.search._question_grid``), and returns a ``QuestionReport``; ``None``
when the study has no question. The statistics are ``lutsearch.analyze._stats``'s: per stratum and level
the mean with its 95% CI over repeats, the best level, paired differences against the reference level
(paired t-test and Wilcoxon, Holm-corrected), Friedman per stratum, and the split-plot ANOVA test of the
level x stratum interaction (overall and within each stratum group). Per group, whether the best stratum
(e.g. PolyLUT degree) and the accuracy-LUT front of the strata move with the level.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState

from lutsearch.analyze._stats import Interaction, StratumStats, interaction_test, stratum_stats
from lutsearch.space import SpaceError
from lutsearch.space._question import Question, parse_question

__all__ = ["QuestionReport", "StratumAnswer", "answer_questions"]

_STRATUM, _LEVEL, _REPEAT = "question_stratum", "question_level", "question_repeat"


@dataclasses.dataclass(frozen=True)
class StratumAnswer:
    name: str
    group: str
    stats: StratumStats
    costs: dict[str, list[float]]  # other objective -> its mean per level (e.g. luts)


@dataclasses.dataclass
class QuestionReport:
    """The answer to one question study: ``lines`` in words and numbers (one statement a line), the
    per-stratum statistics, the interaction tests, and what the grid held."""

    question: Question
    lines: list[str]
    strata: list[StratumAnswer]
    interaction: Interaction | None
    group_interactions: dict[str, Interaction | None]
    cells: int  # complete grid cells found
    missing: int  # grid cells without a complete trial

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: the question, the answer lines, the estimates and tests per stratum, the interactions."""
        q = self.question
        return _json_safe(
            {
                "question": {
                    "text": q.text,
                    "knobs": list(q.knobs),
                    "levels": list(q.labels),
                    "reference": q.labels[q.reference],
                    "seeds": q.seeds,
                    "metric": q.metric,
                    "direction": q.direction,
                    "trials": q.n_trials,
                },
                "cells": self.cells,
                "missing": self.missing,
                "lines": list(self.lines),
                "strata": [
                    {
                        "name": s.name,
                        "group": s.group,
                        **dataclasses.asdict(s.stats),
                        "tests": [{**dataclasses.asdict(t), "significant": t.significant} for t in s.stats.tests],
                        "costs": s.costs,
                    }
                    for s in self.strata
                ],
                "interaction": dataclasses.asdict(self.interaction) if self.interaction else None,
                "group_interactions": {
                    g: dataclasses.asdict(i) if i else None for g, i in self.group_interactions.items()
                },
            }
        )

    def html(self) -> str:
        """An HTML fragment (no <html>): the answer, then per stratum the table of estimates and tests."""
        from lutsearch.analyze._question_html import report_html

        return report_html(self)

    def figures(self) -> list[tuple[str, go.Figure]]:
        """(title, figure): the metric against the level with 95% CI bars, one trace per stratum, per group."""
        q = self.question
        out = []
        for group in dict.fromkeys(s.group for s in self.strata):
            fig = go.Figure()
            for s in (s for s in self.strata if s.group == group):
                means = [e.mean for e in s.stats.levels]
                fig.add_trace(
                    go.Scatter(
                        x=list(q.labels),
                        y=means,
                        name=s.name,
                        mode="lines+markers",
                        error_y={
                            "type": "data",
                            "symmetric": False,
                            "array": [e.ci_high - e.mean for e in s.stats.levels],
                            "arrayminus": [e.mean - e.ci_low for e in s.stats.levels],
                        },
                    )
                )
            title = f"{q.metric} vs {', '.join(q.knobs)} ({group}; mean and 95% CI over {q.seeds} seeds)"
            fig.update_layout(title=title, xaxis_title=", ".join(q.knobs), yaxis_title=q.metric, xaxis_type="category")
            out.append((title, fig))
        return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _read_question(study: optuna.Study) -> Question | None:
    space = study.user_attrs.get("space")
    if not isinstance(space, dict) or space.get("question") is None:
        return None
    objectives = dict(zip(study.metric_names or [], (d.name.lower() for d in study.directions)))
    where = f"{study.user_attrs.get('space_path', study.study_name)}: "
    try:
        return parse_question(where, space["question"], objectives)
    except SpaceError:
        raise
    except Exception as exc:  # a block stored by another version
        raise SpaceError(f"{where}question: cannot be read ({exc})") from None


def _metric(study: optuna.Study, q: Question, trial: optuna.trial.FrozenTrial) -> float:
    names = list(study.metric_names or [])
    if q.metric in names:
        return float(trial.values[names.index(q.metric)])
    value = trial.user_attrs.get(q.metric)
    return float(value) if isinstance(value, (int, float)) else math.nan


def _matrices(study: optuna.Study, q: Question) -> tuple[dict[str, dict[str, np.ndarray]], int]:
    """Per stratum, per quantity (the metric and every other objective), ``[repeat, level]`` with NaN gaps."""
    names = list(study.metric_names or [])
    quantities = [q.metric, *[n for n in names if n != q.metric]]
    shape = (q.seeds, len(q.levels))
    out = {s.name: {k: np.full(shape, np.nan) for k in quantities} for s in q.strata}
    cells = 0
    for t in sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        stratum, label, repeat = t.user_attrs.get(_STRATUM), t.user_attrs.get(_LEVEL), t.user_attrs.get(_REPEAT)
        if stratum not in out or label not in q.labels or not isinstance(repeat, int) or not 0 <= repeat < q.seeds:
            continue
        j = q.labels.index(label)
        if not np.isnan(out[stratum][q.metric][repeat, j]):
            continue  # a twin of a cell (several drivers): the first trial counts
        cells += 1
        out[stratum][q.metric][repeat, j] = _metric(study, q, t)
        for name in quantities[1:]:
            out[stratum][name][repeat, j] = float(t.values[names.index(name)])
    return out, cells


def answer_questions(study: optuna.Study) -> QuestionReport | None:
    """The answer to ``study``'s question, or ``None`` when its space has no ``question:`` block."""
    from lutsearch.analyze._question_words import answer_lines

    q = _read_question(study)
    if q is None:
        return None
    data, cells = _matrices(study, q)
    maximize = q.direction == "maximize"
    strata = [
        StratumAnswer(
            s.name,
            s.group,
            stratum_stats(data[s.name][q.metric], list(q.labels), q.reference, maximize),
            {
                k: [float(np.nanmean(c)) if np.isfinite(c).any() else math.nan for c in v.T]
                for k, v in data[s.name].items()
                if k != q.metric
            },
        )
        for s in q.strata
    ]
    groups = list(dict.fromkeys(s.group for s in q.strata))
    overall = interaction_test([data[s.name][q.metric] for s in q.strata])
    by_group = {
        g: interaction_test([data[s.name][q.metric] for s in q.strata if s.group == g])
        for g in groups
        if sum(s.group == g for s in q.strata) > 1
    }
    report = QuestionReport(q, [], strata, overall, by_group, cells, q.n_trials - cells)
    report.lines = answer_lines(report)
    return report
