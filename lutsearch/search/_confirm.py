"""Online confirmation: Yosys checks the surrogate's LUT counts while a study runs (issue #13, part 3).

A space opts in on a hardware objective costed by a model: ``{name: luts, via: surrogate,
options: {confirm: front}}`` (``front``: every complete design that enters the feasible Pareto
front, plus a random ``confirm_fraction`` (default 0.1) of the others; ``all``: every complete
design; ``off``). The driver then hands each chosen design's saved truth tables to a background task
(a thread in-process, a one-CPU Ray task on Ray: the trial loop never waits for it) that runs
whole-design Yosys synthesis (``lutsearch.hw.synthesize``, design mode: the export's flow and LUT
count) with the objective's ``pipeline``.

Where results live: a finished Optuna trial cannot be changed, so each confirmation is a study user
attribute ``yosys:<trial number>`` (``{luts, depth, ffs, seconds, tool_version}``) and a file
``hw_confirm.json`` in the trial's folder; the trial itself records the model's number as user
attribute ``hw_luts_<backend>`` (e.g. ``hw_luts_surrogate``). ``confirmations(study)`` reads them back.

Residual model: after every confirmation the driver refits, per family (three or more confirmed
designs) and overall, the median ratio Yosys / surrogate and its MAPE (study user attribute
``surrogate_residual``). ``lutsearch status`` and the end-of-run table show the searched front next
to the *confirmed* front (the Pareto front of confirmed designs on Yosys' numbers) and the
residual. The residual is not fed back into later trials' objective values: one study's objective
values must stay comparable for its sampler; ``lutsearch calibrate --study`` refits the surrogate
itself from the confirmed designs.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lutsearch.search._executors import BaseExecutor
from lutsearch.space import SearchSpace
from lutsearch.space._schema import CONFIRM_MODES

__all__ = ["CONFIRM_MODES", "ConfirmPolicy", "Confirmer", "confirm_design", "confirmations", "residual"]

ATTR_PREFIX = "yosys:"
RESIDUAL_ATTR = "surrogate_residual"


@dataclasses.dataclass(frozen=True)
class ConfirmPolicy:
    mode: str  # front | all
    fraction: float  # random share of non-front designs also confirmed (front mode)
    pipeline: int
    metric: str  # the objective whose model is checked (luts)
    via: str  # its cost backend (surrogate)

    @classmethod
    def of(cls, space: SearchSpace) -> ConfirmPolicy | None:
        """The policy of the first objective with a ``confirm`` option other than ``off``, else None."""
        for o in space.objectives:
            mode = str(o.options.get("confirm", "off"))
            if mode != "off":
                fraction = float(o.options.get("confirm_fraction", 0.1))
                pipeline = int(o.options.get("pipeline", 1))
                return cls(mode, fraction, pipeline, o.name, o.via or "")
        return None


def confirm_design(tables_path: str, pipeline: int) -> dict[str, Any]:
    """Whole-design Yosys synthesis of the truth tables saved at ``tables_path`` (a background task)."""
    from lutsearch.hw import synthesize
    from lutsearch.tables import TruthTableNetwork

    report = synthesize(TruthTableNetwork.load(tables_path), mode="design", pipeline=pipeline, on_error="raise")
    return {
        "luts": float(report.luts),
        "depth": int(report.depth or 0),
        "ffs": int(report.ffs),
        "seconds": float(report.seconds),
        "tool_version": report.tool_version,
    }


def confirmations(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """Trial number -> its Yosys confirmation (see the module docstring)."""
    attrs = study.user_attrs
    return {int(k[len(ATTR_PREFIX) :]): v for k, v in attrs.items() if k.startswith(ATTR_PREFIX)}


def _modelled(trial: FrozenTrial, via: str) -> float | None:
    value = trial.user_attrs.get(f"hw_luts_{via}")
    return float(value) if value is not None else None


def residual(study: optuna.Study, via: str = "surrogate") -> dict[str, Any]:
    """Median Yosys / model LUT ratio per family (3+ designs) and overall, with the model's MAPE (%)."""
    done = confirmations(study)
    by_number = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    pairs: list[tuple[str, float, float]] = []
    for number, result in done.items():
        trial = by_number.get(number)
        model = _modelled(trial, via) if trial is not None else None
        if trial is not None and model and result.get("luts"):
            pairs.append(
                (str(trial.params.get("family", trial.user_attrs.get("family", ""))), model, float(result["luts"]))
            )
    if not pairs:
        return {"n": 0}
    out: dict[str, Any] = {
        "n": len(pairs),
        "ratio": statistics.median(y / m for _, m, y in pairs),
        "mape": 100.0 * statistics.fmean(abs(m - y) / y for _, m, y in pairs),
        "families": {},
    }
    for family in sorted({f for f, _, _ in pairs}):
        mine = [(m, y) for f, m, y in pairs if f == family]
        if len(mine) >= 3:
            out["families"][family] = statistics.median(y / m for m, y in mine)
    return out


class Confirmer:
    """The driver's side of online confirmation: choose designs, start and collect background tasks.

    At most ``MAX_IN_FLIGHT`` syntheses run at once and the others wait in a queue: a Yosys run of a large
    design takes minutes and a CPU, and on a small machine several at once starve the trials (seen on 2
    cores: the digits demo spent 5x its training time in Yosys). A queued design chosen because it was on
    the front is skipped when its turn comes if it has left the front meanwhile (it was dominated: its
    confirmation would no longer be shown); randomly chosen ones are kept."""

    MAX_IN_FLIGHT = 1

    def __init__(self, study: optuna.Study, policy: ConfirmPolicy, executor: BaseExecutor, seed: int) -> None:
        self.study, self.policy, self.executor = study, policy, executor
        self.rng = random.Random(seed)
        self.pending: dict[Hashable, tuple[int, Path]] = {}
        self.queued: dict[int, bool] = {}  # trial number -> chosen for being on the front (else at random)
        self.started = set(confirmations(study))

    def after_trial(self, trial_number: int) -> None:
        """Queue ``trial_number`` (just told COMPLETE) and any design that entered the front; start the next."""
        front = {t.number for t in self.study.best_trials}
        if self.policy.mode == "front":
            for number in front - self.started:
                self.queued.setdefault(number, True)
        if self.policy.mode == "all" or (trial_number not in front and self.rng.random() < self.policy.fraction):
            if trial_number not in self.started:
                self.queued[trial_number] = False
        self._start_next(front)

    def _start_next(self, front: set[int] | None = None) -> None:
        if len(self.pending) >= self.MAX_IN_FLIGHT or not self.queued:
            return
        front = {t.number for t in self.study.best_trials} if front is None else front
        trials = {t.number: t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
        for number in sorted(self.queued):
            if len(self.pending) >= self.MAX_IN_FLIGHT:
                return
            for_front = self.queued.pop(number)
            folder = trials[number].user_attrs.get("artifact_dir") if number in trials else None
            if (for_front and number not in front) or not folder or not (Path(folder) / "tables.npz").is_file():
                continue
            handle = self.executor.submit_background(
                confirm_design, str(Path(folder) / "tables.npz"), self.policy.pipeline
            )
            self.pending[handle] = (number, Path(folder))
            self.started.add(number)

    def collect(self, timeout: float = 0.0) -> list[int]:
        """Record the confirmations that finished (within ``timeout`` s), then start queued ones; their
        trial numbers."""
        recorded = self._collect(timeout)
        self._start_next()
        return recorded

    def _collect(self, timeout: float) -> list[int]:
        recorded = []
        for handle, outcome in self.executor.finished_background(list(self.pending), timeout):
            number, folder = self.pending.pop(handle)
            if isinstance(outcome, BaseException):
                outcome = {"error": f"{type(outcome).__name__}: {str(outcome).splitlines()[0] if str(outcome) else ''}"}
            self.study.set_user_attr(f"{ATTR_PREFIX}{number}", outcome)
            (folder / "hw_confirm.json").write_text(json.dumps(outcome, indent=2, sort_keys=True))
            recorded.append(number)
        if recorded:
            self.study.set_user_attr(RESIDUAL_ATTR, residual(self.study, self.policy.via))
        return recorded

    def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds in all for the confirmations running and queued (end of the run)."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            self._collect(max(0.0, deadline - time.monotonic()))
            self._start_next()
