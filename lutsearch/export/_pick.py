"""Which design to export: open the study and pick one trial of its feasible Pareto front, or any complete
trial by number."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from optuna.trial import TrialState

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


def _by_number(study, front: list, trial: int):
    """Trial ``trial``: from the front, or any other complete trial of the study (not every design a
    user wants to inspect or confirm is Pareto-optimal); a clear error for a missing or unfinished one."""
    for t in front:
        if t.number == trial:
            return t
    found = next((t for t in study.get_trials(deepcopy=False) if t.number == trial), None)
    if found is None:
        raise ExportError(f"study {study.study_name!r} has no trial {trial} (trials 0..{len(study.trials) - 1})")
    if found.state != TrialState.COMPLETE:
        raise ExportError(
            f"trial {trial} is {found.state.name.lower()}, not complete: only complete trials have a design to export"
        )
    return found


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
    """The chosen FrozenTrial and the feasible Pareto front (``study.best_trials``): by ``pick`` among the
    front, or trial number ``trial`` (any complete trial; ``chosen in front`` says whether it is on it)."""
    if pick not in PICKS:
        raise ExportError(f"unknown pick {pick!r}; allowed: {', '.join(PICKS)}")
    front = list(study.best_trials)  # Optuna's feasible Pareto front (constraints set via set_constraint)
    if not front:
        raise ExportError(f"study {study.study_name!r} has no feasible completed trial")
    if max_luts is not None:
        front = _under_max_luts(study, front, max_luts)
    front.sort(key=lambda t: t.number)
    if trial is not None:
        return _by_number(study, front, trial), front
    return _POLICIES[pick](study, front), front
