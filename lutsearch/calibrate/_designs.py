"""A reproducible corpus of trained LUT networks (issue #13): every family on digits, MNIST, jsc-pythia
and nid-testpart, and the whole-design Yosys results the cost surrogates are measured against.

``build_designs`` trains each ``DesignSpec`` of a grid (seeded: the same spec gives the same tables on
the same machine) and caches its truth tables (``TruthTableNetwork.save``) and metadata (JSON) under
``cache_dir/<name>/``; a later call loads a design whose cached spec matches instead of training it.
A design that fails (a bad configuration, a diverged training, tables that disagree with the model)
is reported through ``progress`` and skipped. ``design_truth`` synthesizes each design whole with
Yosys (``lutsearch.hw.synthesize(mode="design")``, whose cache is keyed by the network's fingerprint).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lutsearch.calibrate._grid import DESIGN_GRID, DatasetBudget, DesignSpec
from lutsearch.data import SplitData, load_dataset
from lutsearch.hw import HardwareReport, YosysNotFound, default_cache_dir, synthesize
from lutsearch.tables import TruthTableNetwork

__all__ = ["DESIGN_GRID", "Design", "DesignSpec", "build_designs", "design_truth"]

Progress = Callable[[str], Any]


@dataclasses.dataclass
class Design:
    """One trained corpus design: its spec's identity, the resolved knobs, exact accuracies (of the
    truth tables) and the tables themselves."""

    name: str
    family: str
    dataset: str
    variant: str  # the loaded data's variant tag (SplitData.variant)
    params: dict[str, Any]  # the resolved configuration (defaults filled in)
    seed: int
    epochs: int
    val_acc: float
    test_acc: float
    network: TruthTableNetwork
    tag: str = ""
    n_train: int = 0  # training rows actually used (after subsampling)
    train_seconds: float = 0.0  # time of the training that produced the cached tables

    @property
    def group(self) -> str:
        """The family, or ``sparselut`` for SparseLUT connectivity."""
        return "sparselut" if self.params.get("connectivity") == "sparselut" else self.family

    def metadata(self) -> dict[str, Any]:
        """Everything but the network, as JSON-ready values."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "network"}


# ----------------------------------------------------------------------------- data
def _subsample(X: np.ndarray, y: np.ndarray, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not rows or rows >= len(y):
        return X, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:rows])
    return X[keep], y[keep]


class _Datasets:
    """Each (dataset, budget) loaded and subsampled once per ``build_designs`` call."""

    def __init__(self) -> None:
        self._full: dict[tuple[str, str], SplitData] = {}
        self._split: dict[tuple[str, str], SplitData] = {}

    def get(self, name: str, budget: DatasetBudget) -> SplitData:
        options = json.dumps(dict(budget.options), sort_keys=True)
        key = (name, f"{options}|{budget.train_rows}|{budget.val_rows}")
        if key not in self._split:
            if (name, options) not in self._full:
                self._full[name, options] = load_dataset(name, split_seed=0, **dict(budget.options))
            data = self._full[name, options]
            X_train, y_train = _subsample(data.X_train, data.y_train, budget.train_rows, seed=1)
            X_val, y_val = _subsample(data.X_val, data.y_val, budget.val_rows, seed=2)
            self._split[key] = dataclasses.replace(data, X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val)
        return self._split[key]


# ----------------------------------------------------------------------------- training
def _train(spec: DesignSpec, data: SplitData, threads: int) -> Design:
    """Train ``spec`` on ``data`` and tabulate it; the tables must reproduce the model on validation."""
    import torch

    from lutsearch.models import build_model
    from lutsearch.train import TrainConfig, train_model

    budget = spec.budget
    saved_threads = torch.get_num_threads()
    try:
        model = build_model(spec.family, dict(spec.params), data.n_features, data.n_classes, spec.seed)
        cfg = TrainConfig(epochs=budget.epochs, batch_size=budget.batch_size, lr=budget.lr, threads=threads)
        result = train_model(model, data, cfg, seed=spec.seed)
    finally:
        torch.set_num_threads(saved_threads)
    network = model.to_tables(meta={"dataset_variant": data.variant, "seed": spec.seed, "design": spec.name})
    val_codes = model.input_codes(data.X_val)
    table_val = network.evaluate(val_codes)
    if not np.array_equal(model.predict_codes(val_codes), table_val):
        raise RuntimeError("truth tables disagree with the quantized model on validation")
    return Design(
        name=spec.name,
        family=spec.family,
        dataset=spec.dataset,
        variant=data.variant,
        params=json.loads(json.dumps(model.config["params"])),  # as the cache reads it back (tuples: lists)
        seed=spec.seed,
        epochs=budget.epochs,
        val_acc=float((network.classes_of(table_val) == data.y_val).mean()),
        test_acc=float((network.predict(model.input_codes(data.X_test)) == data.y_test).mean()),
        network=network,
        tag=spec.tag,
        n_train=len(data.y_train),
        train_seconds=result.train_seconds,
    )


# ----------------------------------------------------------------------------- cache
def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _save(design: Design, spec: DesignSpec, folder: Path) -> None:
    """Tables first, metadata last: a folder with ``design.json`` is complete."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tables.{os.getpid()}.tmp.npz"
    design.network.save(tmp)
    os.replace(tmp, folder / "tables.npz")
    record = {"spec": spec.key(), "fingerprint": design.network.fingerprint(), **design.metadata()}
    _write_atomic(folder / "design.json", json.dumps(record, indent=1, sort_keys=True, default=str).encode())


def _load(spec: DesignSpec, folder: Path) -> Design | None:
    """The cached design of ``spec``, or None when absent, stale (another spec) or unreadable."""
    try:
        record = json.loads((folder / "design.json").read_text())
        if record.get("spec") != spec.key():
            return None
        network = TruthTableNetwork.load(folder / "tables.npz")
        if network.fingerprint() != record["fingerprint"]:
            return None
    except (OSError, ValueError, KeyError):
        return None
    fields = {f.name for f in dataclasses.fields(Design)} - {"network"}
    return Design(network=network, **{k: v for k, v in record.items() if k in fields})


def build_designs(
    grid: Sequence[DesignSpec] = DESIGN_GRID,
    *,
    cache_dir: str | Path,
    only: Callable[[DesignSpec], bool] | None = None,
    progress: Progress = print,
    threads: int = 1,
) -> list[Design]:
    """Train (or load from ``cache_dir``) every spec of ``grid`` that ``only`` accepts, in grid order.

    ``threads``: torch intra-op threads while training (restored afterwards). A design that fails is
    reported through ``progress`` and left out of the result."""
    names = [spec.name for spec in grid]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"design grid has duplicate names: {', '.join(duplicates)}")
    cache = Path(cache_dir)
    specs = [spec for spec in grid if only is None or only(spec)]
    datasets = _Datasets()
    designs = []
    for i, spec in enumerate(specs):
        where = f"[{i + 1}/{len(specs)}] {spec.name}"
        try:
            design = _load(spec, cache / spec.name)
            if design is None:
                design = _train(spec, datasets.get(spec.dataset, spec.budget), threads)
                _save(design, spec, cache / spec.name)
                progress(f"{where}: trained in {design.train_seconds:.1f} s, val acc {design.val_acc:.3f}")
            else:
                progress(f"{where}: cached, val acc {design.val_acc:.3f}")
        except Exception as exc:  # one design's failure never stops the corpus
            progress(f"{where}: FAILED, skipped ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
            continue
        designs.append(design)
    return designs


# ----------------------------------------------------------------------------- ground truth
def _seconds_file(
    cache_dir: str | Path | Literal[False] | None, network: TruthTableNetwork, pipeline: int
) -> Path | None:
    """Where the first (uncached) run's Yosys seconds of a design are kept, so that a report read back
    from the synthesis cache still says how long Yosys took."""
    if cache_dir is False:
        return None
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    return root / "calibrate-seconds" / f"{network.fingerprint()}-p{pipeline}.json"


def _truth_one(
    design: Design, pipeline: int, cache_dir: str | Path | Literal[False] | None, tool: str | None, timeout: float
) -> HardwareReport:
    report = synthesize(
        design.network,
        mode="design",
        pipeline=pipeline,
        cache_dir=cache_dir,
        tool=tool,
        timeout=timeout,
        jobs=1,
        on_error="raise",
    )
    side = _seconds_file(cache_dir, design.network, pipeline)
    if side is None:
        return report
    if report.cached_units:  # a cache hit: the seconds of the run that filled the cache
        try:
            seconds = float(json.loads(side.read_text())["seconds"])
        except (OSError, ValueError, KeyError):
            return report
        return dataclasses.replace(report, seconds=seconds)
    side.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(side, json.dumps({"seconds": report.seconds, "design": design.name}).encode())
    return report


def design_truth(
    designs: Iterable[Design],
    *,
    pipeline: int = 1,
    cache_dir: str | Path | Literal[False] | None = None,
    tool: str | None = None,
    timeout: float = 600.0,
    progress: Progress | None = None,
) -> dict[str, HardwareReport]:
    """Whole-design Yosys synthesis of every design (``synthesize(mode="design")``), by design name.

    ``cache_dir``: the synthesis cache (None: ``lutsearch.hw.default_cache_dir()``; False: none); a
    cached report keeps the seconds its first run took. Raises ``YosysNotFound`` without Yosys (no
    analytic stand-in: this is the ground truth); a design whose synthesis fails or exceeds ``timeout``
    seconds is reported through ``progress`` and left out."""
    reports: dict[str, HardwareReport] = {}
    for design in designs:
        try:
            reports[design.name] = report = _truth_one(design, pipeline, cache_dir, tool, timeout)
        except YosysNotFound:
            raise
        except Exception as exc:  # YosysError, YosysTimeout, ...: one design's failure never stops the rest
            if progress is not None:
                progress(f"{design.name}: synthesis FAILED, skipped ({type(exc).__name__}: {exc})")
            continue
        if progress is not None:
            progress(f"{design.name}: {report.luts:.0f} LUTs, depth {report.depth}, {report.seconds:.1f} s")
    return reports
