"""What is running now and how long the rest will take, for the live table and ``lutsearch status``.

Each running trial rewrites ``progress.json`` in its folder after every epoch (``lutsearch.trial``), so
the table shows its family, rung, epoch and current validation accuracy while it trains, also for one
long trial. The ETA comes from observed rung times: seconds per epoch by family (every finished rung
of every trial), the epochs a new trial is expected to train (the observed fraction of trials that
reached each rung; ``1/eta`` per rung before any did), and the epochs the running trials still have
in their current rung; divided by the workers. Before any rung finished there is no ETA ("-").
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lutsearch.search._rung_sampler import RUNG_VALUES

__all__ = ["RunningRow", "eta_seconds", "running_rows"]


@dataclasses.dataclass(frozen=True)
class RunningRow:
    number: int
    family: str
    rung: int | None
    rungs: int  # how many rungs the trial has (1 without successive halving)
    epoch: int  # epochs done
    epochs: int  # the trial's budget in epochs
    val_acc: float | None
    seconds: float  # since the trial started


def _progress(trial: FrozenTrial) -> dict[str, Any]:
    folder = trial.user_attrs.get("artifact_dir")
    if not folder:
        return {}
    try:
        return json.loads((Path(folder) / "progress.json").read_text())
    except (OSError, ValueError):  # not written yet, or being replaced
        return {}


def running_rows(study: optuna.Study) -> list[RunningRow]:
    rows = []
    now = time.time()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        p = _progress(t)
        started = t.datetime_start.timestamp() if t.datetime_start else now
        rows.append(
            RunningRow(
                number=t.number,
                family=str(t.params.get("family", t.user_attrs.get("family", ""))),
                rung=p.get("rung"),
                rungs=int(p.get("n_rungs", 1)),
                epoch=int(p.get("epoch", -1)) + 1,
                epochs=int(p.get("epochs", 0)),
                val_acc=p.get("val_acc"),
                seconds=now - started,
            )
        )
    return rows


def _epoch_rates(trials: list[FrozenTrial]) -> dict[str, float]:
    """Seconds per epoch by family ("" for all), from every finished rung."""
    spent: dict[str, list[float]] = {}
    for t in trials:
        rows = t.user_attrs.get(RUNG_VALUES) or []
        before = 0
        for r in sorted(rows, key=lambda r: r["rung"]):
            epochs = int(r["epochs"]) - before
            before = int(r["epochs"])
            if epochs > 0 and r.get("seconds"):
                for key in (str(t.user_attrs.get("family", "")), ""):
                    acc = spent.setdefault(key, [0.0, 0.0])
                    acc[0] += float(r["seconds"])
                    acc[1] += epochs
    return {k: s / e for k, (s, e) in spent.items() if e > 0}


def _expected_epochs(trials: list[FrozenTrial], rungs: list[int], eta: float) -> float:
    """Epochs a new trial is expected to train: sum over rungs of P(reach it) x its epochs."""
    reached = [0] * len(rungs)
    for t in trials:
        for r in t.user_attrs.get(RUNG_VALUES) or []:
            if 0 <= r["rung"] < len(rungs):
                reached[r["rung"]] += 1
    total, before = 0.0, 0
    for k, epochs in enumerate(rungs):
        p = reached[k] / reached[0] if reached[0] >= 5 else eta**-k
        total += p * (epochs - before)
        before = epochs
    return total


def eta_seconds(study: optuna.Study, running: list[RunningRow], remaining: int, workers: int) -> float | None:
    """Seconds until ``remaining`` more trials (beyond the running ones) finish (module docstring)."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    rates = _epoch_rates(trials)
    if "" not in rates:
        return None
    fidelity = study.user_attrs.get("fidelity") or {}
    rungs = list(fidelity.get("rungs") or [])
    if rungs:
        per_trial = _expected_epochs(trials, rungs, float(fidelity.get("eta", 3)))
    else:
        per_trial = float(max([r.epochs for r in running if r.epochs] or [0]))
    work = remaining * per_trial * rates[""]
    for r in running:  # a running trial: its own budget left, or what a trial is expected to train, less done
        left = (r.epochs if r.rung is None else per_trial) - r.epoch
        work += max(0.0, left) * rates.get(r.family, rates[""])
    return work / max(1, workers)
