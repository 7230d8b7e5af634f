"""The Optuna study as the single source of truth: creation, resume, recovery of interrupted trials.

Storage: ``sqlite:///runs/<study>/study.db`` unless a URL is given (``_storage``: RDB storages with
Optuna's heartbeat, ``journal:///file.log`` / ``*.log`` for JournalStorage). Several drivers may share a
study: a RUNNING trial is recovered only when its driver is dead (``_liveness``): it is marked FAIL
(``fail_reason``) and its parameters re-queued with a retry count, up to the space's ``retries``. Two
live drivers may both find the same stale trial: the ``tell`` that marks it FAIL decides, and only its
winner re-queues. The study's own user attributes record the space, the target and the drivers.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Iterable
from pathlib import Path

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from lutsearch._redact import redact_text, redact_url
from lutsearch.search._errors import StudyError
from lutsearch.search._storage import make_storage
from lutsearch.space import SearchSpace

__all__ = [
    "StudyError",
    "StudyHandle",
    "count_done",
    "load_existing_study",
    "open_study",
    "recover_trial",
    "tell_owned",
]

REQUEUED = "requeued"
RETRIES = "retries"
RESUME_DIR = "resume_dir"  # a re-queued trial goes on in its predecessor's folder (from its last rung)
UNTRAINED = "pruned_before_training"
# what a re-queued trial takes over from its predecessor (question_*: its cell of a question study's grid)
_CARRIED = ("rung_values", "seed", "warm_start", "question_stratum", "question_level", "question_repeat")
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)


class TrialTakenOver(Exception):
    """Another driver finished this trial (it found this driver dead); its result here is dropped."""


@dataclasses.dataclass
class StudyHandle:
    """An open study; ``storage_url`` is the URL with its password redacted (safe to print)."""

    study: optuna.Study
    study_dir: Path
    storage_url: str
    storage: BaseStorage

    @property
    def name(self) -> str:
        return self.study.study_name


def default_storage(study_dir: Path) -> str:
    return f"sqlite:///{study_dir.resolve() / 'study.db'}"


def open_study(
    space: SearchSpace, *, runs_dir: Path, storage: str | None = None, study_name: str | None = None
) -> StudyHandle:
    """Create the study or load it to resume; refuse a space whose objectives changed."""
    name = study_name or space.name
    study_dir = Path(runs_dir) / name
    study_dir.mkdir(parents=True, exist_ok=True)
    url = storage or default_storage(study_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [StudyDirection[d.upper()] for d in space.directions]  # "minimize"/"maximize" as Optuna's enum
    backend = make_storage(url)
    study = optuna.create_study(
        storage=backend,
        study_name=name,
        directions=directions,
        load_if_exists=True,
        sampler=space.build_sampler(space.seed),
    )
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(space.metric_names)
    elif list(study.metric_names) != space.metric_names:
        raise StudyError(
            f"study {name!r} has objectives {study.metric_names}, the space asks for "
            f"{space.metric_names}; use another --study name"
        )
    if "space" not in study.user_attrs:
        study.set_user_attr("space", space.raw)
        study.set_user_attr("space_path", str(space.path))
        (study_dir / "space.yaml").write_text(space.path.read_text())
    elif study.user_attrs["space"] != json.loads(json.dumps(space.raw)):
        optuna.logging.get_logger("lutsearch").warning(
            "space %s differs from the one study %r started with; resuming with the new one", space.path, name
        )
    return StudyHandle(study, study_dir, redact_url(url), backend)


def load_existing_study(
    study_dir: Path | None = None, *, storage: str | None = None, study_name: str | None = None
) -> StudyHandle:
    """Open a study for reading (status, export): ``runs/<name>`` or a storage URL + name."""
    if study_dir is not None:
        study_dir = Path(study_dir)
        study_name = study_name or study_dir.name
        if storage is None:
            if not (study_dir / "study.db").is_file():
                raise StudyError(
                    f"{study_dir}: no study here (no study database study.db); pass --storage URL for other storages"
                )
            storage = default_storage(study_dir)
    if storage is None or study_name is None:
        raise StudyError("name a study folder (runs/<study>) or both --storage and --study")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    shown = redact_url(storage)
    backend = make_storage(storage)
    try:
        study = optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(backend)]
        raise StudyError(
            f"study {study_name!r} not found in {shown}; studies there: {', '.join(names) or 'none'}"
        ) from None
    except Exception as exc:  # storage errors: a bad URL, an unreadable file, a server that is down
        first = redact_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise StudyError(f"cannot open study {study_name!r} in {shown}: {first}") from None
    return StudyHandle(study, study_dir or Path("runs") / study_name, shown, backend)


def recover_trial(study: optuna.Study, frozen: FrozenTrial, reason: str, max_retries: int) -> bool:
    """Mark a running trial FAIL with ``reason`` and re-queue its parameters (up to ``max_retries``).

    Race-free among drivers: the ``tell`` that marks it FAIL decides; a driver that loses (the trial was
    finished meanwhile, by its owner or another driver) re-queues nothing and gets False."""
    trial = optuna.trial.Trial(study, frozen._trial_id)
    retries = int(frozen.user_attrs.get(RETRIES, 0))
    try:
        trial.set_user_attr("fail_reason", reason)
        if retries < max_retries:
            trial.set_user_attr(REQUEUED, True)
        study.tell(frozen.number, state=TrialState.FAIL)
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError):  # ValueError: "Cannot tell a FAIL trial"
        return False
    if retries < max_retries:
        carried = {k: frozen.user_attrs[k] for k in _CARRIED if k in frozen.user_attrs}
        if frozen.user_attrs.get("rung_values") and "artifact_dir" in frozen.user_attrs:
            carried[RESUME_DIR] = frozen.user_attrs["artifact_dir"]  # its checkpoint is there
        user_attrs = {RETRIES: retries + 1, "retry_of": frozen.number, **carried}
        study.enqueue_trial(frozen.params, user_attrs=user_attrs, skip_if_exists=False)
    return True


def tell_owned(study: optuna.Study, trial: optuna.Trial, **tell: object) -> None:
    """``study.tell(trial, **tell)``, raising ``TrialTakenOver`` when another driver already finished it."""
    try:
        study.tell(trial, **tell)  # type: ignore[arg-type]
    except optuna.exceptions.UpdateFinishedTrialError:
        raise TrialTakenOver(trial.number) from None
    except ValueError as exc:
        if str(exc).startswith("Cannot tell a "):
            raise TrialTakenOver(trial.number) from None
        raise


def running_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def count_done(study: optuna.Study | Iterable[FrozenTrial]) -> int:
    """Finished trials that count towards the target: trained ones (complete, stopped at a rung, or
    failed and not re-queued); a design pruned before training does not count."""
    trials = study.get_trials(deepcopy=False, states=_COUNTED) if isinstance(study, optuna.Study) else study
    n = 0
    for t in trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            continue
        if not (t.state == TrialState.FAIL and t.user_attrs.get(REQUEUED)) and not t.user_attrs.get(UNTRAINED):
            n += 1
    return n


def progress(study: optuna.Study) -> tuple[int, list[FrozenTrial]]:
    """Trained trials finished (``count_done``) and the trials running now (any driver's), in one read."""
    trials = study.get_trials(deepcopy=False, states=_COUNTED)
    return count_done(trials), [t for t in trials if t.state == TrialState.RUNNING]
