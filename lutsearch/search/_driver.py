"""The driver: one process owns the study (ask/tell); executors run the trials.

``run_study`` keeps ``workers`` trials in flight until the study holds ``trials`` trained trials
(``--trials`` is the study's total target, so a resumed run only adds what is missing). Designs
known to be infeasible or hopeless before training (a truth table wider than
``limits.max_address_bits``, a fan-in larger than its layer's inputs, a constraint its plan cannot
meet, dominated on cost: ``_prefilter``) are pruned without training and do not count toward it.

With a ``fidelity:`` block each trial runs rung by rung, one executor task per rung, from the
checkpoint the previous rung left in its folder; after each rung ``_halving`` decides whether it goes
on. A trial stopped at a rung is PRUNED with its ``rung_values``, tables and metrics (it counts as
trained); only trials trained to the end are COMPLETE, so only they make the front. A trial
interrupted by a dead driver is re-queued into the same folder and goes on from its last rung.

Several drivers may run on one study (``docs/cluster.md``): each records itself as the ``driver`` of
the trials it asks for and beats for them (``_liveness``); every ``HEARTBEAT_SECONDS`` it recovers the
running trials of dead drivers. The target is shared: a driver starts a trial only while the study's
trained trials plus *all* running ones (any driver's) stay below its target, and after asking it gives
a sampled trial back (untrained) when the trials asked before it already reach the target; so drivers
with the same ``--trials`` stop together at that total. With nothing of its own in flight and the
target not reached, a driver waits for the others' trials (and recovers them if their driver dies).
A result for a trial that another driver finished meanwhile is dropped, never a crash.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from lutsearch.search._confirm import Confirmer, ConfirmPolicy
from lutsearch.search._errors import StudyError
from lutsearch.search._executors import BaseExecutor, make_executor
from lutsearch.search._family_sampler import family_first
from lutsearch.search._halving import RungDecision, decide_promotion
from lutsearch.search._liveness import Liveness
from lutsearch.search._prefilter import PLAN_DEPTH, PLAN_LUTS, hopeless_reason, plan_cost
from lutsearch.search._question_grid import (
    QUESTION_STRATUM,
    apply_question,
    duplicate_cell,
    enqueue_question_grid,
    give_back_duplicate,
    question_target,
)
from lutsearch.search._repeats import mark_repeat, trained_original
from lutsearch.search._rung_sampler import RUNG_VALUES, RungAwareSampler
from lutsearch.search._storage import HEARTBEAT_SECONDS
from lutsearch.search._study import (
    REQUEUED,
    RESUME_DIR,
    UNTRAINED,
    StudyHandle,
    TrialTakenOver,
    count_done,
    open_study,
    progress,
    recover_trial,
    running_trials,
    tell_owned,
)
from lutsearch.search._warmstart import enqueue_warm_start, plan_warm_start
from lutsearch.space import Fixed, SearchSpace, SpaceError
from lutsearch.trial import TrialResult, trial_rungs

if TYPE_CHECKING:
    from lutsearch.data import SplitData

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
    warm_start: Path | None = None  # baseline space file/folder enqueued first (overrides the space's key)
    memory_per_trial_mb: float | None = None  # Ray: reserved and enforced per trial (``_executors``)


@dataclasses.dataclass
class RunSummary:
    handle: StudyHandle
    done: int
    target: int
    recovered: list[int]
    seconds: float
    driver_seconds: float  # time spent outside trials: ask, sampling, dispatch, tell, storage
    trial_seconds: float
    driver: str = ""  # this driver's id (host:pid:token), each of its trials' user attribute ``driver``
    taken_over: list[int] = dataclasses.field(default_factory=list)  # finished meanwhile by another driver


def prune_reason(space: SearchSpace, config: dict[str, Any], n_inputs: int, n_classes: int) -> str | None:
    """Why a configuration cannot be built or exceeds the space's limits, before any training."""
    plans = _plans(space, config, n_inputs, n_classes)
    return plans if isinstance(plans, str) else None


def _plans(space: SearchSpace, config: dict[str, Any], n_inputs: int, n_classes: int) -> list[Any] | str:
    """The configuration's layer plans, or why it cannot be built or exceeds the space's limits."""
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
    return plans


def _enqueued(trial: optuna.Trial) -> bool:
    """A warm-start design, a re-queued (interrupted) trial or a question cell: always trained."""
    attrs = trial.user_attrs
    return bool(attrs.get("warm_start") or attrs.get(RESUME_DIR) or QUESTION_STRATUM in attrs)


def _trial_config(space: SearchSpace, sampled: dict[str, Any], number: int, seed: int | None = None) -> dict[str, Any]:
    return {
        **sampled,
        "space": space.name,
        "trial": number,
        "seed": space.seed * 1_000_003 + number if seed is None else int(seed),
        "dataset": space.dataset,
        "objectives": [{"name": o.name, "via": o.via, "options": o.options} for o in space.objectives],
        "constraints": [{"expr": str(c), "metric": c.metric, "via": c.via} for c in space.constraints],
        "plugins": [str(p) for p in space.plugins],
    }


def _record(trial: optuna.Trial, space: SearchSpace, result: TrialResult) -> None:
    """The result's user attributes and constraint values on the trial (not yet told)."""
    for key, value in result.user_attrs.items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("constraint_values", dict(result.constraint_metrics))
    for c in space.constraints:
        trial.set_constraint(str(c), c.violation(result.constraint_metrics[str(c)]))


def _tell(study: optuna.Study, space: SearchSpace, trial: optuna.Trial, result: TrialResult) -> TrialState:
    if not result.ok:
        trial.set_user_attr("error", str(result.error if result.error is not None else "unknown error")[:2000])
        if result.artifact_dir is not None:
            trial.set_user_attr("artifact_dir", result.artifact_dir)
        tell_owned(study, trial, state=TrialState.FAIL)
        return TrialState.FAIL
    _record(trial, space, result)
    tell_owned(study, trial, values=result.values)
    return TrialState.COMPLETE


_EventSink = Callable[[str, optuna.Study, dict[str, Any]], None]
MAX_UNTRAINED_STREAK = 200  # designs pruned before training in a row: the space yields nothing trainable
# trials failed in a row: something under every trial is broken (the Ray runtime died, an objective always
# raises); the driver stops instead of recording failures until --trials is reached (never, failures do not count)
MAX_FAILED_STREAK = 25


@dataclasses.dataclass
class _Running:
    """A trial in flight: its config, folder, the rung it trains up to (None: the whole budget)."""

    trial: optuna.Trial
    config: dict[str, Any]
    artifact_dir: str
    rung: int | None
    t_submit: float


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
    data: SplitData
    confirmer: Confirmer | None = None
    liveness: Liveness | None = None  # this driver's heartbeat and the staleness test (``_liveness``)
    in_flight: dict[Hashable, _Running] = dataclasses.field(default_factory=dict)
    driver_seconds: float = 0.0
    trial_seconds: float = 0.0
    untrained_streak: int = 0
    failed_streak: int = 0
    recovered: list[int] = dataclasses.field(default_factory=list)  # other (dead) drivers' trials re-queued
    taken_over: list[int] = dataclasses.field(default_factory=list)  # own trials another driver finished

    def fill(self, workers: int, target: int) -> None:
        """Start trials until ``workers`` are in flight or the finished and running ones (any driver's)
        reach ``target`` (designs pruned before training do not count)."""
        t_drv = time.perf_counter()
        while len(self.in_flight) < max(1, workers):
            done, running = progress(self.study)
            if done + len(running) >= target:
                break
            trial = self.study.ask()
            if self.liveness is not None:  # owned from the start: sampling may take a while on a big study
                self.liveness.track(trial)
            if duplicate_cell(self.study, trial):  # several drivers enqueued the same question cell
                self._untrack(trial.number)
                give_back_duplicate(self.study, trial)
                continue
            config = _trial_config(self.space, self.space.sample(trial), trial.number, trial.user_attrs.get("seed"))
            config = apply_question(self.space, config, trial.user_attrs)  # a question cell's overrides
            reason = self._repeat(trial) or self._untrainable(trial, config)
            if reason is not None:
                self._prune(trial, reason)
                continue
            if self._surplus(trial, target):  # after the pre-training checks: only trained trials count
                continue
            self.untrained_streak = 0
            self.driver_seconds += time.perf_counter() - t_drv
            self._start(trial, config)
            t_drv = time.perf_counter()
        self.driver_seconds += time.perf_counter() - t_drv

    def _repeat(self, trial: optuna.Trial) -> str | None:
        """Why ``trial`` is not trained: it repeats a trained design (``_repeats``); or None."""
        if self.space.sampler_repeats != "reuse" or _enqueued(trial):
            return None
        original = trained_original(self.study, trial.params, trial.number)
        return mark_repeat(trial, original) if original is not None else None

    def _untrainable(self, trial: optuna.Trial, config: dict[str, Any]) -> str | None:
        """Why ``config`` is not trained (unbuildable, over a limit, hopeless; ``_prefilter``), or None."""
        from lutsearch.trial import load_trial_dataset

        data = self.data if config["dataset"] == self.space.dataset else load_trial_dataset(config["dataset"])
        plans = _plans(self.space, config, data.n_features, data.n_classes)
        if isinstance(plans, str):
            return plans
        cost = plan_cost(plans)
        trial.set_user_attr(PLAN_LUTS, cost.luts)
        trial.set_user_attr(PLAN_DEPTH, cost.depth)
        trial.set_user_attr("family", config["family"])
        if _enqueued(trial):
            return None  # the literature's designs, interrupted trials and question cells are always trained
        names = self.space.metric_names
        acc = names.index("accuracy") if "accuracy" in names else None
        return hopeless_reason(self.study, config["family"], cost, self.space.constraints, acc)

    def _start(self, trial: optuna.Trial, config: dict[str, Any]) -> None:
        artifact_dir = trial.user_attrs.get(RESUME_DIR) or str(
            (self.study_dir / "trials" / str(trial.number)).resolve()
        )
        trial.set_user_attr("artifact_dir", artifact_dir)
        trial.set_user_attr("seed", config["seed"])
        rung = None
        if self.space.fidelity is not None:
            config["fidelity"] = {
                **self.space.fidelity.as_dict(),
                "rungs": trial_rungs(config, self.space.fidelity, len(self.data.y_train)),
            }
            if self.study.user_attrs.get("fidelity") != config["fidelity"]:  # for the ETA (lutsearch.search._progress)
                self.study.set_user_attr("fidelity", config["fidelity"])
            rows = trial.user_attrs.get(RUNG_VALUES) or []
            rung = int(rows[-1]["rung"]) if rows else 0  # a logged rung returns at once (no training)
        self._submit(_Running(trial, config, artifact_dir, rung, 0.0))
        self.emit("started", self.study, {"number": trial.number, "running": len(self.in_flight), "rung": rung})

    def _submit(self, running: _Running) -> None:
        running.t_submit = time.perf_counter()
        handle = self.executor.submit(running.config, running.artifact_dir, running.rung)
        self.in_flight[handle] = running

    def run(self, workers: int, target: int, confirm_wait: float) -> None:
        """Keep trials in flight until the study reaches ``target`` (with the other drivers' trials: module
        docstring), recovering dead drivers' trials on the way; then let confirmations finish."""
        checked = time.monotonic()
        while True:
            if time.monotonic() - checked >= HEARTBEAT_SECONDS:
                self.recover_stale()
                checked = time.monotonic()
            self.fill(workers, target)
            if self.in_flight:
                self.collect()
                continue
            done, running = progress(self.study)
            if done >= target or not running:
                break
            time.sleep(HEARTBEAT_SECONDS / 2)  # other drivers' trials will reach the target, or go stale
        if self.confirmer is not None and self.confirmer.pending:
            self.emit("confirming", self.study, {"pending": len(self.confirmer.pending)})
            self.confirmer.drain(confirm_wait)

    def recover_stale(self) -> list[int]:
        """Recover the running trials whose driver is dead (``_liveness``); their numbers."""
        if self.liveness is None:
            return []
        numbers = []
        for stale in self.liveness.stale(running_trials(self.study)):
            if recover_trial(self.study, stale.trial, stale.reason, self.space.retries):
                numbers.append(stale.trial.number)
                self.emit("recovered", self.study, {"number": stale.trial.number, "reason": stale.reason})
        self.recovered.extend(numbers)
        return numbers

    def recover_own(self) -> None:
        """This driver stops with trials in flight: record them FAIL and re-queue them (only its own)."""
        mine = {r.trial.number for r in self.in_flight.values()}
        for frozen in running_trials(self.study):
            if frozen.number in mine:
                recover_trial(
                    self.study, frozen, "interrupted: the driver stopped while this trial ran", self.space.retries
                )

    def _surplus(self, trial: optuna.Trial, target: int) -> bool:
        """Give ``trial`` back (pruned, untrained) when the trials asked before it already reach ``target``:
        another driver asked at the same time. Enqueued trials (re-queued, warm start) always run."""
        done, running = progress(self.study)
        me = next((t for t in running if t.number == trial.number), None)
        if me is None or "fixed_params" in me.system_attrs:
            return False
        if done + sum(1 for t in running if t.number < trial.number) < target:
            return False
        trial.set_user_attr("prune_reason", "surplus: trials of other drivers reach the study's target")
        trial.set_user_attr(UNTRAINED, True)
        self._untrack(trial.number)
        self.study.tell(trial, state=TrialState.PRUNED)
        return True

    def _untrack(self, number: int) -> None:
        if self.liveness is not None:
            self.liveness.untrack(number)

    def _prune(self, trial: optuna.Trial, reason: str) -> None:
        trial.set_user_attr("prune_reason", reason)
        trial.set_user_attr(UNTRAINED, True)
        self._untrack(trial.number)
        self.study.tell(trial, state=TrialState.PRUNED)
        self.emit("pruned", self.study, {"number": trial.number, "reason": reason})
        self.untrained_streak += 1
        if self.untrained_streak >= MAX_UNTRAINED_STREAK:
            raise SpaceError(
                f"{self.space.path}: the last {MAX_UNTRAINED_STREAK} designs drawn were all pruned before "
                f"training (last: {reason}); widen the space or its limits"
            )

    def collect(self) -> None:
        """Wait until a running task finishes (at most ``HEARTBEAT_SECONDS``); promote, stop or tell the
        study the results. A trial that another driver finished meanwhile is dropped (``taken_over``)."""
        for handle, result in self.executor.wait(list(self.in_flight), timeout=HEARTBEAT_SECONDS):
            t_tell = time.perf_counter()
            running = self.in_flight.pop(handle)
            self.trial_seconds += float(result.seconds)
            state: TrialState | None = TrialState.RUNNING  # RUNNING: to be told (complete or failed)
            try:
                if result.ok and running.rung is not None:
                    state = self._finish_rung(running, result)
                if state == TrialState.RUNNING:
                    state = _tell(self.study, self.space, running.trial, result)
            except (TrialTakenOver, optuna.exceptions.UpdateFinishedTrialError):
                self._untrack(running.trial.number)
                self.taken_over.append(running.trial.number)
                self.emit("taken_over", self.study, {"number": running.trial.number, "running": len(self.in_flight)})
                continue
            if state is None:  # promoted: the next rung is in flight
                self.driver_seconds += time.perf_counter() - t_tell
                continue
            self._untrack(running.trial.number)
            if self.confirmer is not None:
                if state == TrialState.COMPLETE:
                    self.confirmer.after_trial(running.trial.number)
                self.confirmer.collect()
            self.driver_seconds += time.perf_counter() - t_tell
            info = {"number": running.trial.number, "state": state.name, "running": len(self.in_flight)}
            self.emit("finished", self.study, {**info, "error": result.error, "rung": running.rung})
            self._count_failure(state, result.error)

    def _count_failure(self, state: TrialState, error: str | None) -> None:
        self.failed_streak = self.failed_streak + 1 if state == TrialState.FAIL else 0
        if self.failed_streak >= MAX_FAILED_STREAK:
            last = " ".join(str(error).split())[:300]
            raise StudyError(
                f"{self.study_dir}: the last {MAX_FAILED_STREAK} trials all failed (last: {last}); the study stops "
                "here with every finished trial kept: fix the cause, then run the same command to resume"
            )

    def _finish_rung(self, running: _Running, result: TrialResult) -> TrialState | None:
        """Log the rung's values; None when the trial goes on, PRUNED when halving stopped it,
        RUNNING when its training is over (the caller tells COMPLETE)."""
        trial, rung = running.trial, int(running.rung or 0)
        violation = sum(max(0.0, c.violation(result.constraint_metrics[str(c)])) for c in self.space.constraints)
        row = {"rung": rung, "epochs": result.epochs, "values": result.values, "violation": violation}
        rows = [r for r in (trial.user_attrs.get(RUNG_VALUES) or []) if r["rung"] != rung]
        trial.set_user_attr(RUNG_VALUES, [*rows, {**row, "seconds": result.seconds}])
        if result.finished:
            return TrialState.RUNNING
        decision = self._decide(trial.number, rung)
        info = {"number": trial.number, "rung": rung, "epochs": result.epochs, "decision": decision.reason}
        if decision.promote:
            self._submit(dataclasses.replace(running, rung=rung + 1))
            self.emit("promoted", self.study, {**info, "running": len(self.in_flight)})
            return None
        _record(trial, self.space, result)
        trial.set_user_attr("prune_reason", f"stopped at rung {rung} ({result.epochs} epochs): {decision.reason}")
        assert result.values is not None
        tell_owned(self.study, trial, state=TrialState.PRUNED)
        return TrialState.PRUNED

    def _decide(self, number: int, rung: int) -> RungDecision:
        """Successive halving among every design that reached ``rung`` (``_halving``)."""
        assert self.space.fidelity is not None
        values: list[list[float]] = []
        violations: list[float] = []
        me = 0
        for t in self.study.get_trials(deepcopy=False):
            row = next((r for r in (t.user_attrs.get(RUNG_VALUES) or []) if r["rung"] == rung), None)
            if row is None or t.user_attrs.get(REQUEUED):
                continue
            if t.number == number:
                me = len(values)
            values.append(row["values"])
            violations.append(row["violation"])
        fid = self.space.fidelity
        return decide_promotion(values, self.space.directions, me, fid.eta, fid.grace, violations)


def _executor_for(options: RunOptions) -> BaseExecutor:
    return make_executor(
        options.executor,
        ray_address=options.ray_address,
        cpus_per_trial=options.cpus_per_trial,
        gpus_per_trial=options.gpus_per_trial,
        workers=options.workers,
        memory_per_trial_mb=options.memory_per_trial_mb,
    )


def _prepare(study: optuna.Study, space: SearchSpace, options: RunOptions) -> dict[str, Any]:
    """Sampler (re-seeded on resume so it does not redraw the first trials; rung-aware with a fidelity
    block), target, and the warm start's baselines enqueued first; what the start event reports."""
    seed = space.seed + len(study.get_trials(deepcopy=False))
    sampler = space.build_sampler(seed)
    if space.sampler_family == "bandit" and not isinstance(space.family, Fixed):
        sampler = family_first(sampler, seed, joint_share=space.sampler_joint_share)
    study.sampler = RungAwareSampler(sampler) if space.fidelity is not None else sampler
    study.set_user_attr("target_trials", question_target(space, options.trials))
    extra = {"question": enqueue_question_grid(study, space)} if space.question is not None else {}
    source = options.warm_start or space.warm_start
    if source is None:
        return extra
    plan = plan_warm_start(space, Path(source))
    enqueued = enqueue_warm_start(study, plan)
    return {**extra, "warm_start": {"source": str(source), "plan": plan, "enqueued": enqueued}}


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
    liveness = Liveness(study, handle.storage)
    liveness.start()
    data = load_trial_dataset(space.dataset)
    emit = on_event or (lambda *_: None)
    own_executor = executor is None
    executor = executor or _executor_for(options)
    policy = ConfirmPolicy.of(space)
    confirmer = Confirmer(study, policy, executor, space.seed) if policy is not None else None
    loop = _Dispatcher(study, space, handle.study_dir, executor, emit, data, confirmer, liveness)
    try:
        recovered = loop.recover_stale()  # before the sampler is re-seeded on the study's size
        extra = _prepare(study, space, options)
        info = {"target": options.trials, "recovered": recovered, "executor": executor.description}
        emit("start", study, {**info, "dataset": data.describe(), "workers": options.workers, **extra})
        loop.run(options.workers, question_target(space, options.trials), options.confirm_wait)
    except BaseException:
        # Ctrl-C or an error in the driver: its own running trials are stopped, recorded FAIL and re-queued.
        executor.cancel(list(loop.in_flight))
        loop.recover_own()
        raise
    finally:
        liveness.stop()
        if own_executor:
            executor.shutdown()
    seconds = time.perf_counter() - t0
    target = question_target(space, options.trials)
    summary = RunSummary(
        handle, count_done(study), target, loop.recovered, seconds, loop.driver_seconds, loop.trial_seconds
    )
    summary.driver, summary.taken_over = str(liveness.me), loop.taken_over
    emit("end", study, {"summary": summary})
    return summary
