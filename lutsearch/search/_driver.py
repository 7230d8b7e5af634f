"""The driver: one process owns the study (ask/tell); executors run the trials.

``run_study`` keeps ``workers`` trials in flight until the study holds ``trials`` finished trials
(``--trials`` is the study's total target, so a resumed run only adds what is missing). Designs
known to be infeasible before training (a truth table wider than ``limits.max_address_bits``, a
fan-in larger than its layer's inputs) are pruned without training.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from lutsearch.search._confirm import Confirmer, ConfirmPolicy
from lutsearch.search._executors import BaseExecutor, make_executor
from lutsearch.search._study import StudyHandle, count_done, open_study, recover_interrupted
from lutsearch.space import SearchSpace
from lutsearch.trial import TrialResult

__all__ = ["RunOptions", "RunSummary", "prune_reason", "run_study"]


@dataclasses.dataclass
class RunOptions:
    trials: int
    workers: int = 1
    runs_dir: Path = Path("runs")
    storage: str | None = None
    study_name: str | None = None
    executor: str = "ray"
    ray_address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    confirm_wait: float = 1800.0  # seconds the end of a run waits for Yosys confirmations still running


@dataclasses.dataclass
class RunSummary:
    handle: StudyHandle
    done: int
    target: int
    recovered: list[int]
    seconds: float
    driver_seconds: float  # time spent outside trials: ask, sampling, dispatch, tell, storage
    trial_seconds: float


def prune_reason(space: SearchSpace, config: dict[str, Any], n_inputs: int, n_classes: int) -> str | None:
    """Why a configuration cannot be built or exceeds the space's limits, before any training."""
    from lutsearch.models import MAX_ADDRESS_BITS, family_plan, resolve_params

    try:
        params = resolve_params(config["family"], config["params"])
        plans = family_plan(config["family"], params, n_inputs, n_classes)
    except ValueError as exc:
        return str(exc)
    limit = min(space.limits.get("max_address_bits", MAX_ADDRESS_BITS), MAX_ADDRESS_BITS)
    for i, plan in enumerate(plans):
        if plan.address_bits > limit:
            return f"layer {i}: truth table of {plan.address_bits} address bits exceeds limit {limit}"
    return None


def _trial_config(space: SearchSpace, sampled: dict[str, Any], number: int) -> dict[str, Any]:
    return {
        **sampled,
        "space": space.name,
        "trial": number,
        "seed": space.seed * 1_000_003 + number,
        "dataset": space.dataset,
        "objectives": [{"name": o.name, "via": o.via, "options": o.options} for o in space.objectives],
        "constraints": [{"expr": str(c), "metric": c.metric, "via": c.via} for c in space.constraints],
        "plugins": [str(p) for p in space.plugins],
    }


def _tell(study: optuna.Study, space: SearchSpace, trial: optuna.Trial, result: TrialResult) -> TrialState:
    if not result.ok:
        trial.set_user_attr("error", str(result.error if result.error is not None else "unknown error")[:2000])
        if result.artifact_dir is not None:
            trial.set_user_attr("artifact_dir", result.artifact_dir)
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL
    for key, value in result.user_attrs.items():
        trial.set_user_attr(key, value)
    for c in space.constraints:
        trial.set_constraint(str(c), c.violation(result.constraint_metrics[str(c)]))
    study.tell(trial, result.values)
    return TrialState.COMPLETE


_EventSink = Callable[[str, optuna.Study, dict[str, Any]], None]


@dataclasses.dataclass
class _Dispatcher:
    """The driver loop's state and steps: ask the study for trials, prune or submit them, tell it the results.

    ``driver_seconds`` adds up the time spent outside trials; ``trial_seconds`` the trials' own wall time.
    """

    study: optuna.Study
    space: SearchSpace
    study_dir: Path
    executor: BaseExecutor
    emit: _EventSink
    n_features: int
    n_classes: int
    confirmer: Confirmer | None = None
    in_flight: dict[Hashable, tuple[optuna.Trial, float]] = dataclasses.field(default_factory=dict)
    driver_seconds: float = 0.0
    trial_seconds: float = 0.0

    def fill(self, workers: int, target: int) -> None:
        """Start trials until ``workers`` are in flight or the finished and running ones reach ``target``."""
        t_drv = time.perf_counter()
        done = count_done(self.study)
        while len(self.in_flight) < max(1, workers) and done + len(self.in_flight) < target:
            trial = self.study.ask()
            config = _trial_config(self.space, self.space.sample(trial), trial.number)
            reason = prune_reason(self.space, config, self.n_features, self.n_classes)
            if reason is not None:
                self._prune(trial, reason)
                done += 1
                continue
            artifact_dir = (self.study_dir / "trials" / str(trial.number)).resolve()
            trial.set_user_attr("artifact_dir", str(artifact_dir))
            t_submit = time.perf_counter()
            self.driver_seconds += t_submit - t_drv
            handle = self.executor.submit(config, str(artifact_dir))
            t_drv = time.perf_counter()
            self.in_flight[handle] = (trial, t_submit)
            self.emit("started", self.study, {"number": trial.number, "running": len(self.in_flight)})
        self.driver_seconds += time.perf_counter() - t_drv

    def run(self, workers: int, target: int, confirm_wait: float) -> None:
        """Keep trials in flight until the study reaches ``target``; then let confirmations finish."""
        while True:
            self.fill(workers, target)
            if not self.in_flight:
                break
            self.collect()
        if self.confirmer is not None and self.confirmer.pending:
            self.emit("confirming", self.study, {"pending": len(self.confirmer.pending)})
            self.confirmer.drain(confirm_wait)

    def _prune(self, trial: optuna.Trial, reason: str) -> None:
        trial.set_user_attr("prune_reason", reason)
        self.study.tell(trial, state=TrialState.PRUNED)
        self.emit("pruned", self.study, {"number": trial.number, "reason": reason})

    def collect(self) -> None:
        """Wait until at least one running trial finishes; tell the study the results."""
        for handle, result in self.executor.wait(list(self.in_flight)):
            t_tell = time.perf_counter()
            trial, _ = self.in_flight.pop(handle)
            self.trial_seconds += float(result.seconds)
            state = _tell(self.study, self.space, trial, result)
            if self.confirmer is not None:
                if state == TrialState.COMPLETE:
                    self.confirmer.after_trial(trial.number)
                self.confirmer.collect()
            self.driver_seconds += time.perf_counter() - t_tell
            self.emit(
                "finished",
                self.study,
                {"number": trial.number, "state": state.name, "running": len(self.in_flight), "error": result.error},
            )


def _executor_for(options: RunOptions) -> BaseExecutor:
    return make_executor(
        options.executor,
        ray_address=options.ray_address,
        cpus_per_trial=options.cpus_per_trial,
        gpus_per_trial=options.gpus_per_trial,
        workers=options.workers,
    )


def run_study(
    space: SearchSpace,
    options: RunOptions,
    on_event: _EventSink | None = None,
    executor: BaseExecutor | None = None,
) -> RunSummary:
    """Run (or resume) the study until it holds ``options.trials`` finished trials."""
    from lutsearch.trial import load_trial_dataset

    t0 = time.perf_counter()
    handle = open_study(space, runs_dir=options.runs_dir, storage=options.storage, study_name=options.study_name)
    study = handle.study
    recovered = recover_interrupted(study, space.retries)
    # Re-seed on resume so the sampler does not regenerate the first trials' parameters.
    study.sampler = space.build_sampler(space.seed + len(study.get_trials(deepcopy=False)))
    study.set_user_attr("target_trials", int(options.trials))
    data = load_trial_dataset(space.dataset)
    emit = on_event or (lambda *_: None)
    own_executor = executor is None
    executor = executor or _executor_for(options)
    emit(
        "start",
        study,
        {
            "target": options.trials,
            "recovered": recovered,
            "executor": executor.description,
            "dataset": data.describe(),
        },
    )
    policy = ConfirmPolicy.of(space)
    confirmer = Confirmer(study, policy, executor, space.seed) if policy is not None else None
    loop = _Dispatcher(study, space, handle.study_dir, executor, emit, data.n_features, data.n_classes, confirmer)
    try:
        loop.run(options.workers, options.trials, options.confirm_wait)
    except BaseException:
        # Ctrl-C or an error in the driver: the running trials are stopped, recorded FAIL and re-queued.
        executor.cancel(list(loop.in_flight))
        recover_interrupted(study, space.retries)
        raise
    finally:
        if own_executor:
            executor.shutdown()
    summary = RunSummary(
        handle,
        count_done(study),
        options.trials,
        recovered,
        time.perf_counter() - t0,
        loop.driver_seconds,
        loop.trial_seconds,
    )
    emit("end", study, {"summary": summary})
    return summary
