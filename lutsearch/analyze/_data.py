"""A study as typed rows: objectives, counts, every complete trial as a point, and the feasible Pareto front.

The front is the feasible non-dominated set of each dataset variant (for a study on one dataset, the same
trials as Optuna's ``best_trials``, which export picks from); the counts are the status table's
(``lutsearch.search._report.study_counts``) plus the infeasible designs; Yosys confirmations are read
with ``lutsearch.search._confirm.confirmations``.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections import Counter
from typing import Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from lutsearch._redact import redact_url
from lutsearch.search import study_counts
from lutsearch.search._confirm import confirmations

__all__ = ["Counts", "FrontRow", "Objective", "StudyData", "TrialPoint", "study_data"]


@dataclasses.dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" | "minimize"

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


@dataclasses.dataclass(frozen=True)
class Counts:
    """Trials by outcome. ``pruned_at_rung``: stopped by successive halving after some training;
    ``pruned_before_training``: unbuildable, over a limit or hopeless on cost, never trained;
    ``infeasible``: complete but violating a constraint; ``interrupted``: failed and re-queued."""

    total: int
    complete: int
    feasible: int
    infeasible: int
    pruned_at_rung: int
    pruned_before_training: int
    failed: int
    interrupted: int
    running: int
    degenerate: int
    done: int
    target: int


@dataclasses.dataclass(frozen=True)
class TrialPoint:
    """One complete trial (the figures' points)."""

    number: int
    family: str
    values: tuple[float, ...]
    params: dict[str, Any]
    feasible: bool
    on_front: bool
    confirmed: bool  # Yosys confirmed its LUT count (lutsearch.search._confirm)
    yosys_luts: float | None


@dataclasses.dataclass(frozen=True)
class FrontRow:
    """One design of the feasible Pareto front, as the report's table and summary.json show it."""

    trial: int
    family: str
    values: dict[str, float]
    val_acc: float | None
    test_acc: float | None
    luts: float | None
    latency_ns: float | None
    confirmed: bool
    yosys_luts: float | None
    dataset_variant: str
    export_command: str


@dataclasses.dataclass(frozen=True)
class StudyData:
    name: str
    dataset_variant: str
    objectives: tuple[Objective, ...]
    counts: Counts
    points: tuple[TrialPoint, ...]
    front: tuple[FrontRow, ...]

    def plot_axes(self) -> tuple[int, int | None]:
        """Objective indices (y, x) of the 2-D figures: the first maximized objective (accuracy) against
        ``luts`` when it is an objective, else the first other one; x is None with a single objective."""
        y = next((i for i, o in enumerate(self.objectives) if o.maximize), 0)
        others = [i for i in range(len(self.objectives)) if i != y]
        x = next((i for i in others if self.objectives[i].name == "luts"), others[0] if others else None)
        return y, x

    def as_dict(self) -> dict[str, Any]:
        """The JSON-safe part shared by summary.json and ``lutsearch status --json``."""
        return {
            "study": self.name,
            "dataset_variant": self.dataset_variant,
            "objectives": [dataclasses.asdict(o) for o in self.objectives],
            "counts": dataclasses.asdict(self.counts),
            "front": [dataclasses.asdict(r) for r in self.front],
        }


def _family(trial: FrozenTrial) -> str:
    return str(trial.params.get("family", trial.user_attrs.get("family", "")) or "-")


def _feasible(trial: FrozenTrial) -> bool:
    return all(v <= 0.0 for v in trial.constraints.values())


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _metric(names: list[str], trial: FrozenTrial, name: str) -> float | None:
    """An objective's value, else the trial's ``hw_<name>`` user attribute (``lutsearch.trial._run``)."""
    if name in names:
        return float(trial.values[names.index(name)])
    return _number(trial.user_attrs.get(f"hw_{name}"))


def _variant(study: optuna.Study, complete: list[FrozenTrial]) -> str:
    """The dataset variant the trials recorded; several (a question study with dataset strata) are listed
    with their trial counts; else the space's dataset."""
    seen = Counter(str(t.user_attrs["dataset_variant"]) for t in complete if t.user_attrs.get("dataset_variant"))
    if len(seen) > 1:
        return ", ".join(f"{v} ({n})" for v, n in sorted(seen.items()))
    if seen:
        return next(iter(seen))
    dataset = (study.user_attrs.get("space") or {}).get("dataset") or {}
    name, variant = dataset.get("name", "unknown"), dataset.get("variant")
    return f"{name}-{variant}" if variant else str(name)


def _counts(study: optuna.Study, complete: list[FrozenTrial]) -> Counts:
    c = study_counts(study)
    infeasible = sum(1 for t in complete if not _feasible(t))
    return Counts(
        total=len(study.get_trials(deepcopy=False)),
        complete=c["complete"],
        feasible=c["complete"] - infeasible,
        infeasible=infeasible,
        pruned_at_rung=c["pruned"] - c["untrained"],
        pruned_before_training=c["untrained"],
        failed=c["failed"],
        interrupted=c["interrupted"],
        running=c["running"],
        degenerate=c["degenerate"],
        done=c["done"],
        target=c["target"],
    )


def export_command(study_dir: str, study_name: str, trial: int, storage: str | None = None) -> str:
    """The exact ``lutsearch export`` command line that writes trial ``trial``'s design (a storage URL's
    password masked: the report is meant to be shared)."""
    parts = ["lutsearch", "export", study_dir]
    if storage is not None:
        parts += ["--storage", redact_url(storage), "--study", study_name]
    parts += ["--trial", str(trial), "--out", f"build/{study_name}-t{trial}"]
    return shlex.join(parts)


def _front_row(
    study: optuna.Study, trial: FrozenTrial, yosys: dict[int, float], variant: str, where: tuple[str, str | None]
) -> FrontRow:
    names = list(study.metric_names or [f"objective{i}" for i in range(len(study.directions))])
    val_acc = _number(trial.user_attrs.get("val_acc"))
    return FrontRow(
        trial=trial.number,
        family=_family(trial),
        values={n: float(v) for n, v in zip(names, trial.values)},
        val_acc=val_acc if val_acc is not None else _metric(names, trial, "accuracy"),
        test_acc=_number(trial.user_attrs.get("test_acc")),
        luts=_metric(names, trial, "luts"),
        latency_ns=_metric(names, trial, "latency_ns"),
        confirmed=trial.number in yosys,
        yosys_luts=yosys.get(trial.number),
        dataset_variant=str(trial.user_attrs.get("dataset_variant", variant)),
        export_command=export_command(where[0], study.study_name, trial.number, where[1]),
    )


def _front_per_variant(study: optuna.Study, complete: list[FrozenTrial]) -> list[FrozenTrial]:
    """The feasible Pareto front (Optuna's ``best_trials`` where the study has one dataset variant) of each
    dataset variant: trials on several datasets may share a study (a question study with dataset strata),
    and accuracies on different datasets are never compared."""
    groups: dict[str, list[FrozenTrial]] = {}
    for t in complete:
        if _feasible(t):
            groups.setdefault(str(t.user_attrs.get("dataset_variant", "")), []).append(t)
    sign = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
    front: list[FrozenTrial] = []
    for trials in groups.values():
        v = np.array([t.values for t in trials], dtype=float) * sign  # all minimized
        no_worse = (v[None, :, :] <= v[:, None, :]).all(axis=2)  # [i, j]: j is no worse than i everywhere
        better = (v[None, :, :] < v[:, None, :]).any(axis=2)
        dominated = (no_worse & better).any(axis=1)
        front += [t for t, d in zip(trials, dominated) if not d]
    return sorted(front, key=lambda t: t.number)


def study_data(study: optuna.Study, study_dir: str, storage: str | None = None) -> StudyData:
    """``study`` as typed rows; ``study_dir`` (and ``storage`` when the study is not in its folder's
    study.db) go into each front design's export command."""
    names = list(study.metric_names or [f"objective{i}" for i in range(len(study.directions))])
    objectives = tuple(
        Objective(n, "maximize" if d == StudyDirection.MAXIMIZE else "minimize")
        for n, d in zip(names, study.directions)
    )
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values is not None]
    front = _front_per_variant(study, complete)
    on_front = {t.number for t in front}
    yosys = {n: float(r["luts"]) for n, r in confirmations(study).items() if r.get("luts") is not None}
    variant = _variant(study, complete)
    points = tuple(
        TrialPoint(
            number=t.number,
            family=_family(t),
            values=tuple(float(v) for v in t.values),
            params=dict(t.params),
            feasible=_feasible(t),
            on_front=t.number in on_front,
            confirmed=t.number in yosys,
            yosys_luts=yosys.get(t.number),
        )
        for t in complete
    )
    rows = tuple(_front_row(study, t, yosys, variant, (study_dir, storage)) for t in front)
    return StudyData(study.study_name, variant, objectives, _counts(study, complete), points, rows)
