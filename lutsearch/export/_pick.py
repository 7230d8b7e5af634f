"""Which design to export: open the study and pick one trial of its feasible Pareto front."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lutsearch.export._errors import ExportError

__all__ = ["PICKS", "load_study", "pick_trial"]

PICKS = ("knee", "max-accuracy", "min-luts", "min-latency")


def load_study(study_dir: Path, storage: str | None, study_name: str | None):
    """The Optuna study of ``study_dir`` (the search's loader; its ``StudyError`` becomes ``ExportError``)."""
    from lutsearch.search._study import StudyError, load_existing_study

    try:
        return load_existing_study(study_dir, storage=storage, study_name=study_name).study
    except StudyError as exc:
        raise ExportError(str(exc)) from None


def _metric(study, trial, name: str) -> float | None:
    names = list(study.metric_names or [])
    if name in names:
        return float(trial.values[names.index(name)])
    value = trial.user_attrs.get(name)
    return None if value is None else float(value)


def _under_max_luts(study, front: list, max_luts: float) -> list:
    if all(_metric(study, t, "luts") is None for t in front):
        raise ExportError("--max-luts needs a 'luts' objective or user attribute; the study has neither")
    front = [t for t in front if (_metric(study, t, "luts") or math.inf) <= max_luts]
    if not front:
        raise ExportError(f"no design on the feasible Pareto front has luts <= {max_luts:g}")
    return front


def _by_number(front: list, trial: int):
    for t in front:
        if t.number == trial:
            return t
    raise ExportError(
        f"trial {trial} is not on the feasible Pareto front (front: {', '.join(str(t.number) for t in front)})"
    )


def _max_accuracy(study, front: list):
    return max(front, key=lambda t: (_metric(study, t, "accuracy") or _metric(study, t, "val_acc") or 0.0, -t.number))


def _min_luts(study, front: list):
    if _metric(study, front[0], "luts") is None:
        raise ExportError("pick min-luts needs a 'luts' objective or user attribute")
    return min(front, key=lambda t: (_metric(study, t, "luts"), t.number))


def _min_latency(study, front: list):
    name = next((n for n in ("latency_ns", "depth") if _metric(study, front[0], n) is not None), None)
    if name is None:
        raise ExportError("pick min-latency needs a 'latency_ns' or 'depth' objective")
    return min(front, key=lambda t: (_metric(study, t, name), t.number))


def _knee(study, front: list):
    """Closest to the ideal point after scaling every objective to [0, 1] over the front (0 = best)."""
    values = np.array([t.values for t in front], dtype=float)
    signs = np.array([1.0 if d.name == "MINIMIZE" else -1.0 for d in study.directions])
    v = values * signs
    span = np.where(v.max(0) > v.min(0), v.max(0) - v.min(0), 1.0)
    dist = np.sqrt((((v - v.min(0)) / span) ** 2).sum(1))
    return front[int(np.argmin(dist))]


_POLICIES = {"knee": _knee, "max-accuracy": _max_accuracy, "min-luts": _min_luts, "min-latency": _min_latency}


def pick_trial(study, *, trial: int | None = None, pick: str = "knee", max_luts: float | None = None):
    """The chosen FrozenTrial of the feasible Pareto front (``study.best_trials``), and that front."""
    if pick not in PICKS:
        raise ExportError(f"unknown pick {pick!r}; allowed: {', '.join(PICKS)}")
    front = list(study.best_trials)  # Optuna's feasible Pareto front (constraints set via set_constraint)
    if not front:
        raise ExportError(f"study {study.study_name!r} has no feasible completed trial")
    if max_luts is not None:
        front = _under_max_luts(study, front, max_luts)
    front.sort(key=lambda t: t.number)
    if trial is not None:
        return _by_number(front, trial), front
    return _POLICIES[pick](study, front), front
