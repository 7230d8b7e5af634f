"""One trial, start to finish, in whatever process runs it (a Ray worker or the driver itself).

``run_trial(config, artifact_dir)`` trains the configured model, converts it to a truth-table
network, checks the tables against the quantized PyTorch model (bit-exactness), measures exact
validation/test accuracy from the tables, computes the objectives and constraint metrics, and saves
everything needed to rebuild the design. It never raises for a trial's own failure: it returns a
``TrialResult.failure(...)`` (status ``fail``) with the error, so the driver records it and the study goes on.

Multi-fidelity: ``run_trial(..., rung=k)`` trains only up to the k-th rung's epoch count
(``config["fidelity"]["rungs"]``), continuing from the trial folder's ``checkpoint.pt`` when an earlier
rung left one, saves a new checkpoint when training is not finished, and scores the best-so-far
weights' tables. Each rung's result is logged in ``rungs.json``; asking again for a rung already logged
returns the logged result without training (a driver that died after the rung ended loses nothing).
``progress.json`` is rewritten after every epoch (the live table reads it).

Artifacts are written atomically and durably (``_atomic``: temporary file, fsync, rename), so a crash or
a full disk never leaves half a file under a final name; a write that fails fails the trial with one
line naming the file. ``metrics.json`` is written last and is the marker of a finished trial: it is
removed when a trial (re)starts in a folder and exists only once every other artifact is saved. It and
the trial's user attributes record ``tables_sha256``, the hash of ``tables.npz`` that export checks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import io
import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutsearch._hashing import sha256_file
from lutsearch.trial._atomic import atomic_bytes, atomic_path
from lutsearch.trial._rungs import load_checkpoint, log_rung, logged_rung, save_checkpoint, write_progress

if TYPE_CHECKING:  # types only: torch, the models and training are imported when a trial runs
    from lutsearch.data import SplitData
    from lutsearch.models import LUTNetwork
    from lutsearch.tables import TruthTableNetwork
    from lutsearch.train import TrainResult

__all__ = ["DONE_MARKER", "TrialResult", "TrialStatus", "load_trial_dataset", "run_trial", "write_json"]

DONE_MARKER = "metrics.json"  # written last: a trial folder without it did not finish saving


class TrialStatus(str, enum.Enum):
    """How a trial that ran ended. (Pruned trials never run: the driver prunes them before submitting.)"""

    OK = "ok"
    FAIL = "fail"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class TrialResult:
    """What one trial hands back to the driver; crosses the Ray task boundary (pickled).

    ``values``: the objective values in the space's order (``None`` for a failure);
    ``user_attrs``: recorded on the Optuna trial; ``constraint_metrics``: metric value by constraint
    expression; ``seconds``: wall time of the trial (0 when unknown, e.g. a worker that died);
    ``error``: one line for a failure; ``artifact_dir``: where its files are (``None`` when unknown).
    """

    status: TrialStatus
    values: list[float] | None = None
    user_attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    constraint_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    artifact_dir: str | None = None
    rung: int | None = None  # the rung this result is for (None: the whole budget in one task)
    epochs: int = 0  # epochs trained so far
    finished: bool = True  # training is over (budget spent or early stop): no further rung exists

    @property
    def ok(self) -> bool:
        return self.status is TrialStatus.OK

    @classmethod
    def success(
        cls,
        values: list[float],
        user_attrs: dict[str, Any],
        constraint_metrics: dict[str, float],
        seconds: float,
        *,
        rung: int | None = None,
        epochs: int = 0,
        finished: bool = True,
    ) -> TrialResult:
        return cls(
            TrialStatus.OK,
            values=list(values),
            user_attrs=dict(user_attrs),
            constraint_metrics=dict(constraint_metrics),
            seconds=float(seconds),
            rung=rung,
            epochs=int(epochs),
            finished=bool(finished),
        )

    def as_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "status": self.status.value}

    @classmethod
    def of_json(cls, d: dict[str, Any]) -> TrialResult:
        return cls(**{**d, "status": TrialStatus(d["status"])})

    @classmethod
    def failure(cls, error: str, seconds: float = 0.0, artifact_dir: str | None = None) -> TrialResult:
        return cls(TrialStatus.FAIL, error=error, seconds=float(seconds), artifact_dir=artifact_dir)


@functools.lru_cache(maxsize=4)
def _dataset(name: str, split_seed: int, val_fraction: float, options_json: str) -> SplitData:
    from lutsearch.data import load_dataset

    return load_dataset(name, split_seed=split_seed, val_fraction=val_fraction, **json.loads(options_json))


def load_trial_dataset(dataset: dict[str, Any]) -> SplitData:
    """The dataset of a resolved config, cached per worker process."""
    return _dataset(
        dataset["name"],
        dataset["split_seed"],
        dataset["val_fraction"],
        json.dumps(dataset.get("options", {}), sort_keys=True),
    )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def write_json(path: Path, payload: Any, *, durable: bool = True) -> None:
    """``payload`` as JSON, written atomically (and durably unless ``durable=False``: ``_atomic``)."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default)
    atomic_bytes(path, text.encode(), durable=durable)


def run_trial(
    config: dict[str, Any], artifact_dir: str, threads: int = 1, use_gpu: bool = False, rung: int | None = None
) -> TrialResult:
    """Train, tabulate, verify and score one configuration. See the module docstring.

    ``threads``: torch intra-op threads (the CPUs given to the trial); ``use_gpu``: train on CUDA when
    the process sees a GPU (tabulation and the exact checks always run on the CPU in float64);
    ``rung``: train only up to this multi-fidelity rung (module docstring); None: the whole budget.
    """
    t_start = time.perf_counter()
    workdir = Path(artifact_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if rung is not None and (logged := logged_rung(workdir, rung)) is not None:
            return logged
        result = _run(config, workdir, threads, use_gpu, t_start, rung)
        if rung is not None:
            log_rung(workdir, result)
        return result
    except Exception as exc:  # recorded as a failed trial, never lost
        with contextlib.suppress(OSError):  # the disk may be full: the reason still reaches the study
            (workdir / "error.txt").write_text(traceback.format_exc())
        return TrialResult.failure(_reason(exc), time.perf_counter() - t_start, str(workdir))


def _reason(exc: BaseException) -> str:
    """A failure in one line: the exception's type and its message's first line (and last, e.g. the error
    line at the end of a tool's log tail)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return f"{type(exc).__name__}: {lines[0]}" + (f" ... {lines[-1]}" if len(lines) > 1 else "")


def _rung_epochs(config: dict[str, Any], rung: int | None) -> int | None:
    if rung is None:
        return None
    rungs = config.get("fidelity", {}).get("rungs")
    if not rungs or not 0 <= rung < len(rungs):
        raise ValueError(f"rung {rung} asked for, the trial's fidelity rungs are {rungs}")
    return int(rungs[rung])


def _run(
    config: dict[str, Any], workdir: Path, threads: int, use_gpu: bool, t_start: float, rung: int | None
) -> TrialResult:
    import torch

    from lutsearch.objectives import load_plugin

    for plugin in config.get("plugins", []):  # objective plugins register in this (worker) process too
        load_plugin(plugin)
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    data = load_trial_dataset(config["dataset"])
    (workdir / DONE_MARKER).unlink(missing_ok=True)  # not done until every artifact below is saved again
    write_json(workdir / "config.json", {**config, "n_inputs": data.n_features, "n_classes": data.n_classes})

    trained = _train(config, data, threads, use_gpu, workdir, rung)
    tabulated = _tabulate(trained.model, data, config["seed"])
    buffer = io.BytesIO()  # serialized in memory, so a full disk is the OS's OSError, not torch's zip writer's
    torch.save(trained.model.state_dict(), buffer)
    atomic_bytes(workdir / "model.pt", buffer.getvalue())
    with atomic_path(workdir / "tables.npz") as tmp:
        tabulated.network.save(tmp)
    tables_sha256 = sha256_file(workdir / "tables.npz")

    metrics = _metrics(data, trained, tabulated)
    metrics["tables_sha256"] = tables_sha256
    t_score = time.perf_counter()
    values, constraint_metrics = _score(config, tabulated.network, metrics, workdir, _split_codes(trained.model, data))
    metrics["score_seconds"] = time.perf_counter() - t_score
    metrics["seconds"] = time.perf_counter() - t_start
    metrics["rung"] = rung
    metrics["resumed_from_epoch"] = trained.resumed_from
    write_json(workdir / DONE_MARKER, metrics)
    return TrialResult.success(
        seconds=metrics["seconds"],
        values=values,
        constraint_metrics=constraint_metrics,
        user_attrs={**_user_attrs(metrics, workdir), "family": config["family"]},
        rung=rung,
        epochs=trained.result.epochs_run,
        finished=trained.result.finished,
    )


@dataclasses.dataclass(frozen=True)
class _Trained:
    """A trained model, how its training went, and where it trained."""

    model: LUTNetwork
    result: TrainResult
    device: str
    resumed_from: int = 0  # epochs the checkpoint it went on from had trained (0: from scratch)


def _train(
    config: dict[str, Any], data: SplitData, threads: int, use_gpu: bool, workdir: Path, rung: int | None = None
) -> _Trained:
    """Build the configured model and train it (on CUDA when asked for and available), up to ``rung``'s
    epochs from the trial's checkpoint when a rung is given; the model returned holds the best-so-far
    weights (the checkpoint keeps the current ones)."""
    import torch

    from lutsearch.models import build_model
    from lutsearch.train import TrainConfig, train_model

    model = build_model(config["family"], config["params"], data.n_features, data.n_classes, config["seed"])
    device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
    train_cfg = TrainConfig.from_dict({**config.get("train", {}), "threads": threads, "device": device})
    resume = load_checkpoint(workdir, model) if rung is not None else None
    n_rungs = len(config.get("fidelity", {}).get("rungs", [])) or 1
    progress = {
        "rung": rung,
        "n_rungs": n_rungs,
        "family": config["family"],
        "epochs": train_cfg.budget(len(data.X_train))[0],
    }
    result = train_model(
        model,
        data,
        train_cfg,
        config["seed"],
        resume=resume,
        stop_after=_rung_epochs(config, rung),
        on_epoch_end=lambda row: write_progress(workdir, {**progress, **row}),
    )
    if result.state is not None:  # a rung before the end: keep the current weights, score the best so far
        save_checkpoint(workdir, model, result.state)
        if result.state.best_weights is not None:
            model.load_state_dict(result.state.best_weights)
        model.eval()
    elif rung is not None:
        (workdir / "checkpoint.pt").unlink(missing_ok=True)
    return _Trained(model=model, result=result, device=device, resumed_from=0 if resume is None else resume.epoch)


@dataclasses.dataclass(frozen=True)
class _Tabulated:
    """A model's truth-table network (checked bit-exact on validation) and its exact accuracies."""

    network: TruthTableNetwork
    seconds: float  # time spent enumerating the tables
    val_acc: float
    test_acc: float
    val_classes: int  # distinct classes the tables predict on the validation split (1: degenerate)


def _tabulate(model: LUTNetwork, data: SplitData, seed: int) -> _Tabulated:
    """Convert the model to truth tables, require them to match the quantized model on every validation
    sample, and measure validation and test accuracy from the tables."""
    t_tables = time.perf_counter()
    network = model.to_tables(meta={"dataset_variant": data.variant, "seed": seed})
    tables_seconds = time.perf_counter() - t_tables

    val_codes = model.input_codes(data.X_val)
    test_codes = model.input_codes(data.X_test)
    torch_val = model.predict_codes(val_codes)
    table_val = network.evaluate(val_codes)
    mismatch = np.flatnonzero((torch_val != table_val).any(1))
    if mismatch.size:
        raise RuntimeError(f"truth tables disagree with the quantized model on validation sample {mismatch[0]}")
    val_pred = network.classes_of(table_val)
    val_acc = float((val_pred == data.y_val).mean())
    test_acc = float((network.predict(test_codes) == data.y_test).mean())
    classes = len(np.unique(val_pred))
    return _Tabulated(network=network, seconds=tables_seconds, val_acc=val_acc, test_acc=test_acc, val_classes=classes)


def _metrics(data: SplitData, trained: _Trained, tabulated: _Tabulated) -> dict[str, Any]:
    """The trial's metrics before scoring: accuracy, training, tables and network size."""
    from lutsearch.tables import TableLayer

    model, result, network = trained.model, trained.result, tabulated.network
    metrics: dict[str, Any] = {
        "val_acc": tabulated.val_acc,
        "test_acc": tabulated.test_acc,
        "val_acc_float": result.best_val_acc,
        "dataset_variant": data.variant,
        "dataset": data.describe(),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "epochs_budget": result.epochs,  # after TrainConfig.budget (a floor of optimizer steps)
        "batch_size_used": result.batch_size,
        "stopped_early": result.stopped_early,
        # the model predicts a single class on validation: it learned nothing (shown in status)
        "degenerate": tabulated.val_classes == 1 and data.n_classes > 1,
        "train_seconds": result.train_seconds,
        "train_device": trained.device,
        "tables_seconds": tabulated.seconds,
        "bit_exact_val": True,
        "quantizer_scales": model.quantizer_scales(),
        "history": result.history,
        "neurons": int(sum(layer.n_out for layer in network.layers)),
        "live_neurons": int(sum(int(lv.sum()) for lv in network.live_neurons())),
        "max_address_bits": int(
            max(layer.address_bits if isinstance(layer, TableLayer) else 0 for layer in network.layers)
        ),
    }
    if model.grouping_history:  # NLA's dense grouping phase (accuracy, time, precision); {} when none ran
        metrics["prelude"] = dict(model.grouping_history)
    return metrics


def _split_codes(model: LUTNetwork, data: SplitData) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
    """A split's exact input codes and labels, computed on first use (``EvalContext.split_codes``)."""
    splits = {
        "train": (data.X_train, data.y_train),
        "val": (data.X_val, data.y_val),
        "test": (data.X_test, data.y_test),
    }
    done: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def codes(split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in done:
            X, y = splits[split]
            done[split] = (model.input_codes(X), np.asarray(y))
        return done[split]

    return codes


def _score(
    config: dict[str, Any],
    network: TruthTableNetwork,
    metrics: dict[str, Any],
    workdir: Path,
    split_codes: Callable[[str], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[list[float], dict[str, float]]:
    """The objective values (in the config's order) and the constraint metrics (by expression); both
    are also recorded in ``metrics``. A non-finite objective value fails the trial."""
    from lutsearch.objectives import EvalContext, evaluate_objective

    ctx = EvalContext(network=network, metrics=metrics, workdir=workdir, split_codes=split_codes)
    values = [evaluate_objective(o["name"], ctx, o.get("via"), **o.get("options", {})) for o in config["objectives"]]
    objective_values = {o["name"]: v for o, v in zip(config["objectives"], values)}
    if any(not np.isfinite(v) for v in values):
        raise RuntimeError(f"non-finite objective values {objective_values}")
    constraint_metrics = {
        c["expr"]: evaluate_objective(c["metric"], ctx, c.get("via")) for c in config.get("constraints", [])
    }
    metrics["objectives"] = objective_values
    metrics["constraint_metrics"] = constraint_metrics
    return values, constraint_metrics


def _user_attrs(metrics: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """What the Optuna trial records: the headline metrics, where the artifacts are, and every objective
    but accuracy as ``hw_<name>``."""
    return {
        "val_acc": metrics["val_acc"],
        "test_acc": metrics["test_acc"],
        "dataset_variant": metrics["dataset_variant"],
        "train_seconds": metrics["train_seconds"],
        "seconds": metrics["seconds"],
        "artifact_dir": str(workdir.resolve()),
        "worker_pid": os.getpid(),
        "degenerate": metrics["degenerate"],
        "resumed_from_epoch": metrics["resumed_from_epoch"],
        "tables_seconds": metrics["tables_seconds"],
        "score_seconds": metrics["score_seconds"],
        "tables_sha256": metrics["tables_sha256"],  # export refuses a trial folder whose tables.npz differs
        **{f"hw_{k}": v for k, v in metrics["objectives"].items() if k != "accuracy"},
        **{f"hw_luts_{via}": r["luts"] for via, r in metrics.get("hw_reports", {}).items()},
    }
