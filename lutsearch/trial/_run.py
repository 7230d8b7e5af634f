"""One trial, start to finish, in whatever process runs it (a Ray worker or the driver itself).

``run_trial(config, artifact_dir)`` trains the configured model, converts it to a truth-table
network, checks the tables against the quantized PyTorch model (bit-exactness), measures exact
validation/test accuracy from the tables, computes the objectives and constraint metrics, and saves
everything needed to rebuild the design. It never raises for a trial's own failure: it returns a
``TrialResult.failure(...)`` (status ``fail``) with the error, so the driver records it and the study goes on.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_trial", "load_trial_dataset", "write_json", "TrialResult", "TrialStatus"]


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

    @property
    def ok(self) -> bool:
        return self.status is TrialStatus.OK

    @classmethod
    def success(cls, values: list[float], user_attrs: dict[str, Any], constraint_metrics: dict[str, float],
                seconds: float) -> TrialResult:
        return cls(TrialStatus.OK, values=list(values), user_attrs=dict(user_attrs),
                   constraint_metrics=dict(constraint_metrics), seconds=float(seconds))

    @classmethod
    def failure(cls, error: str, seconds: float = 0.0, artifact_dir: str | None = None) -> TrialResult:
        return cls(TrialStatus.FAIL, error=error, seconds=float(seconds), artifact_dir=artifact_dir)


@functools.lru_cache(maxsize=4)
def _dataset(name: str, split_seed: int, val_fraction: float, options_json: str):
    from lutsearch.data import load_dataset

    return load_dataset(name, split_seed=split_seed, val_fraction=val_fraction, **json.loads(options_json))


def load_trial_dataset(dataset: dict[str, Any]):
    """The dataset of a resolved config, cached per worker process."""
    return _dataset(dataset["name"], dataset["split_seed"], dataset["val_fraction"],
                    json.dumps(dataset.get("options", {}), sort_keys=True))


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


def write_json(path: Path, payload: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default))
    tmp.replace(path)


def run_trial(config: dict[str, Any], artifact_dir: str, threads: int = 1, use_gpu: bool = False) -> TrialResult:
    """Train, tabulate, verify and score one configuration. See the module docstring.

    ``threads``: torch intra-op threads (the CPUs given to the trial); ``use_gpu``: train on CUDA when
    the process sees a GPU (tabulation and the exact checks always run on the CPU in float64).
    """
    t_start = time.perf_counter()
    workdir = Path(artifact_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _run(config, workdir, threads, use_gpu, t_start)
    except Exception as exc:  # recorded as a failed trial, never lost
        message = f"{type(exc).__name__}: {exc}"
        (workdir / "error.txt").write_text(traceback.format_exc())
        return TrialResult.failure(message, time.perf_counter() - t_start, str(workdir))


def _run(config: dict[str, Any], workdir: Path, threads: int, use_gpu: bool, t_start: float) -> TrialResult:
    import torch

    from lutsearch.models import build_model
    from lutsearch.objectives import EvalContext, evaluate_objective, load_plugin
    from lutsearch.tables import TableLayer
    from lutsearch.train import TrainConfig, train_model

    for plugin in config.get("plugins", []):  # objective plugins register in this (worker) process too
        load_plugin(plugin)
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    data = load_trial_dataset(config["dataset"])
    write_json(workdir / "config.json", {**config, "n_inputs": data.n_features, "n_classes": data.n_classes})

    model = build_model(config["family"], config["params"], data.n_features, data.n_classes, config["seed"])
    device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
    train_cfg = TrainConfig.from_dict({**config.get("train", {}), "threads": threads, "device": device})
    result = train_model(model, data, train_cfg, config["seed"])

    t_tables = time.perf_counter()
    network = model.to_tables(meta={"dataset_variant": data.variant, "seed": config["seed"]})
    tables_seconds = time.perf_counter() - t_tables

    val_codes = model.input_codes(data.X_val)
    test_codes = model.input_codes(data.X_test)
    torch_val = model.predict_codes(val_codes)
    table_val = network.evaluate(val_codes)
    mismatch = np.flatnonzero((torch_val != table_val).any(1))
    if mismatch.size:
        raise RuntimeError(f"truth tables disagree with the quantized model on validation sample {mismatch[0]}")
    val_acc = float((network.classes_of(table_val) == data.y_val).mean())
    test_acc = float((network.predict(test_codes) == data.y_test).mean())

    torch.save(model.state_dict(), workdir / "model.pt")
    network.save(workdir / "tables.npz")

    metrics: dict[str, Any] = {
        "val_acc": val_acc,
        "test_acc": test_acc,
        "val_acc_float": result.best_val_acc,
        "dataset_variant": data.variant,
        "dataset": data.describe(),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "train_seconds": result.train_seconds,
        "train_device": device,
        "tables_seconds": tables_seconds,
        "bit_exact_val": True,
        "quantizer_scales": model.quantizer_scales(),
        "history": result.history,
        "neurons": int(sum(layer.n_out for layer in network.layers)),
        "live_neurons": int(sum(int(lv.sum()) for lv in network.live_neurons())),
        "max_address_bits": int(max(layer.address_bits if isinstance(layer, TableLayer) else 0
                                    for layer in network.layers)),
    }
    if model.grouping_history:  # NLA's dense grouping phase (accuracy, time, precision); {} when none ran
        metrics["prelude"] = dict(model.grouping_history)
    ctx = EvalContext(network=network, metrics=metrics, workdir=workdir)
    values = [evaluate_objective(o["name"], ctx, o.get("via"), **o.get("options", {}))
              for o in config["objectives"]]
    objective_values = {o["name"]: v for o, v in zip(config["objectives"], values)}
    if any(not np.isfinite(v) for v in values):
        raise RuntimeError(f"non-finite objective values {objective_values}")
    constraint_metrics = {c["expr"]: evaluate_objective(c["metric"], ctx, c.get("via"))
                          for c in config.get("constraints", [])}
    metrics["objectives"] = objective_values
    metrics["constraint_metrics"] = constraint_metrics
    metrics["seconds"] = time.perf_counter() - t_start
    write_json(workdir / "metrics.json", metrics)
    return TrialResult.success(
        seconds=metrics["seconds"],
        values=values,
        constraint_metrics=constraint_metrics,
        user_attrs={
            "val_acc": val_acc,
            "test_acc": test_acc,
            "dataset_variant": data.variant,
            "train_seconds": result.train_seconds,
            "seconds": metrics["seconds"],
            "artifact_dir": str(workdir.resolve()),
            "worker_pid": os.getpid(),
            **{f"hw_{k}": v for k, v in objective_values.items() if k != "accuracy"},
        },
    )
