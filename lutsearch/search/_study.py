"""The Optuna study as the single source of truth: creation, resume, recovery of interrupted trials.

Storage: ``sqlite:///runs/<study>/study.db`` unless a URL is given. Trials left RUNNING by a driver
that died are marked FAIL (``fail_reason``) and their parameters re-queued with a retry count, up to
the space's ``retries``. The study's own user attributes record the space, the target and versions.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from lutsearch.space import SearchSpace

__all__ = ["StudyError", "StudyHandle", "count_done", "load_existing_study", "open_study", "recover_interrupted"]

REQUEUED = "requeued"
RETRIES = "retries"
RESUME_DIR = "resume_dir"  # a re-queued trial goes on in its predecessor's folder (from its last rung)
UNTRAINED = "pruned_before_training"
_CARRIED = ("rung_values", "seed", "warm_start")  # what a re-queued trial takes over from its predecessor


class StudyError(ValueError):
    """A one-line problem with a study (missing, incompatible with the space...)."""


@dataclasses.dataclass
class StudyHandle:
    study: optuna.Study
    study_dir: Path
    storage_url: str

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
    study = optuna.create_study(
        storage=url,
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
    return StudyHandle(study, study_dir, url)


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
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise StudyError(
            f"study {study_name!r} not found in {storage}; studies there: {', '.join(names) or 'none'}"
        ) from None
    except Exception as exc:  # storage errors: a bad URL, an unreadable file, a server that is down
        raise StudyError(f"cannot open study {study_name!r} in {storage}: {str(exc).splitlines()[0]}") from None
    return StudyHandle(study, study_dir or Path("runs") / study_name, storage)


def recover_interrupted(study: optuna.Study, max_retries: int) -> list[int]:
    """Mark trials left RUNNING by a dead driver as FAIL and re-queue their parameters."""
    recovered = []
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial = optuna.trial.Trial(study, frozen._trial_id)
        trial.set_user_attr("fail_reason", "interrupted: the driver stopped while this trial ran")
        retries = int(frozen.user_attrs.get(RETRIES, 0))
        if retries < max_retries:
            trial.set_user_attr(REQUEUED, True)
            carried = {k: frozen.user_attrs[k] for k in _CARRIED if k in frozen.user_attrs}
            if frozen.user_attrs.get("rung_values") and "artifact_dir" in frozen.user_attrs:
                carried[RESUME_DIR] = frozen.user_attrs["artifact_dir"]  # its checkpoint is there
            user_attrs = {RETRIES: retries + 1, "retry_of": frozen.number, **carried}
            study.enqueue_trial(frozen.params, user_attrs=user_attrs, skip_if_exists=False)
        study.tell(frozen.number, state=TrialState.FAIL)
        recovered.append(frozen.number)
    return recovered


def count_done(study: optuna.Study) -> int:
    """Finished trials that count towards the target: trained ones (complete, stopped at a rung, or
    failed and not re-queued); a design pruned before training does not count."""
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        if not (t.state == TrialState.FAIL and t.user_attrs.get(REQUEUED)) and not t.user_attrs.get(UNTRAINED):
            n += 1
    return n
