"""The finite multi-family digits space of ``search_efficiency.py`` and its table of measured results.

Tabular benchmarking, as HPO benchmarks do it: every knob of the space is categorical over a few grid
values, every configuration of the grid is trained and scored once with the real pipeline
(``lutsearch.trial.run_trial`` on the configuration the driver would build), and the samplers then
run against the table: each proposal is a table row, and the study is told its cached values.

The grid is a real lutsearch space (``parse_space``), so proposals come from ``SearchSpace.sample``
exactly as in ``lutsearch run``; the grid is enumerated through the same ``sample`` with a recording
suggester, so the table and the proposals can never disagree.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lutsearch.search import prune_reason
from lutsearch.search._driver import _trial_config
from lutsearch.space import SearchSpace, parse_space

DATA = Path(__file__).resolve().parent / "data"
OBJECTIVES = ("accuracy", "luts", "latency_ns")
RESULT_COLUMNS = ("status", *OBJECTIVES, "test_acc", "seconds", "error")

# Every searched knob is a categorical over grid values; 5 families, 1,024 configurations.
_GRID_1024: dict[str, Any] = {
    "name": "search_efficiency",
    "seed": 0,
    "dataset": {"name": "digits", "split_seed": 0, "val_fraction": 0.15},
    "model": {
        "family": {"choices": ["logicnets", "polylut", "neuralut", "warp", "hgq"]},
        "params": {
            "widths": {"choices": [[32], [96], [64, 32], [128, 64]]},
            "input_bits": {"choices": [1, 2]},
            "input_fan_in": {"choices": [3, 6]},
            "fan_in": {"choices": [3, 5]},
            "output_fan_in": 4,
        },
        "when": {
            "logicnets": {"hidden_bits": {"choices": [1, 2]}, "output_bits": {"choices": [2, 3]}},
            "polylut": {"hidden_bits": {"choices": [1, 2]}, "degree": {"choices": [2, 3]}},
            "neuralut": {"hidden_width": {"choices": [8, 16]}, "hidden_depth": {"choices": [2, 4]}},
            "warp": {"group_size": {"choices": [8, 16]}},
            "hgq": {"edge_hidden": {"choices": [2, 8]}, "dense": False},
        },
    },
    # the plain epoch budget (no step floor): what the committed cache was built with
    "train": {"epochs": 10, "batch_size": 64, "lr": {"choices": [0.01, 0.03]}, "min_steps": 0, "min_batches": 1},
    "objectives": ["accuracy", {"name": "luts", "via": "surrogate"}, {"name": "latency_ns", "via": "surrogate"}],
    "sampler": {"name": "tpe", "options": {"n_startup_trials": 30, "multivariate": True, "group": True}},
    "limits": {"max_address_bits": 12},
}


def _finer(grid: dict[str, Any]) -> dict[str, Any]:
    """The same space at a finer discretization: twice the widths and learning rates (a superset of the
    1,024 grid's values; 4,096 configurations), so that 500 random trials see 12 % of it instead of 40 %,
    nearer what they see of a shipped space's continuous ranges."""
    raw = json.loads(json.dumps(grid))
    raw["model"]["params"]["widths"] = {"choices": [[16], [32], [64], [96], [32, 16], [64, 32], [96, 48], [128, 64]]}
    raw["train"]["lr"] = {"choices": [0.005, 0.01, 0.02, 0.03]}
    return raw


GRIDS: dict[str, dict[str, Any]] = {"1024": _GRID_1024, "4096": _finer(_GRID_1024)}
CACHES: dict[str, Path] = {
    "1024": DATA / "search_efficiency_cache.csv",
    "4096": DATA / "search_efficiency_cache_4096.csv",
}


def grid_space(sampler: str | None = None, options: dict[str, Any] | None = None, grid: str = "1024") -> SearchSpace:
    """A grid as a lutsearch space, optionally with another sampler (name and options, checked as in a file)."""
    raw = json.loads(json.dumps(GRIDS[grid]))
    if sampler is not None:
        raw["sampler"] = {"name": sampler, "options": dict(options or {})}
    return parse_space(raw, Path("search_efficiency.yaml"))


class _Recorder:
    """A suggester that takes the categorical choices given by index and records how many each had."""

    def __init__(self, prefix: list[int]) -> None:
        self.prefix = prefix
        self.taken: list[int] = []
        self.sizes: list[int] = []

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        i = len(self.taken)
        index = self.prefix[i] if i < len(self.prefix) else 0
        self.taken.append(index)
        self.sizes.append(len(choices))
        return list(choices)[index]

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        raise ValueError(f"{name}: the grid must be categorical (got an integer range)")

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        raise ValueError(f"{name}: the grid must be categorical (got a float range)")


def enumerate_grid(space: SearchSpace) -> Iterator[dict[str, Any]]:
    """Every configuration ``space.sample`` can return, in a fixed order (an odometer over the choices)."""
    prefix: list[int] = []
    while True:
        rec = _Recorder(prefix)
        yield space.sample(rec)
        j = len(rec.taken) - 1
        while j >= 0 and rec.taken[j] + 1 >= rec.sizes[j]:
            j -= 1
        if j < 0:
            return
        prefix = rec.taken[:j] + [rec.taken[j] + 1]


def flat(sampled: dict[str, Any]) -> dict[str, str]:
    """A sampled configuration as table columns (family, every model and training value), as text."""
    out = {"family": sampled["family"]}
    for key, value in {**sampled["params"], **sampled["train"]}.items():
        if key not in _PINNED_BUDGET:
            out[key] = json.dumps(value)
    return out


_PINNED_BUDGET = ("min_steps", "min_batches")  # fixed in GRID's train block, not columns of the table


def grid_columns(configs: list[dict[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for c in configs:
        columns.update(dict.fromkeys(flat(c)))
    return list(columns)


def row_key(sampled: dict[str, Any], columns: list[str]) -> tuple[str, ...]:
    values = flat(sampled)
    return tuple(values.get(c, "") for c in columns)


def load_table(path: Path, columns: list[str]) -> dict[tuple[str, ...], dict[str, Any]]:
    """The cached rows by key; objective values as floats (``None`` for pruned or failed rows)."""
    if not path.is_file():
        return {}
    table = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        expected = ["index", *columns, *RESULT_COLUMNS]
        if reader.fieldnames != expected:
            changed = sorted(set(reader.fieldnames or []) ^ set(expected))
            raise SystemExit(
                f"{path}: built for another configuration layout (columns differ: {', '.join(changed) or 'order'}): "
                "the trial pipeline changed since; build a new table with --build --cache NEW.csv"
            )
        for row in reader:
            key = tuple(row.get(c, "") for c in columns)
            values = [float(row[o]) if row["status"] == "ok" else None for o in OBJECTIVES]
            table[key] = {**row, "values": values}
    return table


def _evaluate(space: SearchSpace, sampled: dict[str, Any], number: int, n_inputs: int, n_classes: int) -> dict:
    """One grid configuration through the real trial (pruned like the driver prunes, without training)."""
    from lutsearch.trial import run_trial

    config = _trial_config(space, sampled, number)
    reason = prune_reason(space, config, n_inputs, n_classes)
    if reason is not None:
        return {"status": "pruned", "error": reason, "seconds": 0.0}
    workdir = tempfile.mkdtemp(prefix="se_trial_")
    try:
        result = run_trial(config, workdir, threads=1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not result.ok:
        return {"status": "fail", "error": str(result.error)[:200], "seconds": result.seconds}
    row: dict[str, Any] = {"status": "ok", "error": "", "seconds": f"{result.seconds:.3f}"}
    row.update({o: repr(float(v)) for o, v in zip(OBJECTIVES, result.values or [])})
    row["test_acc"] = repr(float(result.user_attrs["test_acc"]))
    return row


_WORKER: dict[str, Any] = {}


def _worker_init(grid: str) -> None:
    """A build worker: one thread, the grid's configurations and the dataset, loaded once."""
    import torch

    from lutsearch.trial import load_trial_dataset

    torch.set_num_threads(1)
    space = grid_space(grid=grid)
    data = load_trial_dataset(space.dataset)
    _WORKER.update(space=space, configs=list(enumerate_grid(space)), dims=(data.n_features, data.n_classes))


def _worker_row(i: int) -> tuple[int, dict[str, Any]]:
    return i, _evaluate(_WORKER["space"], _WORKER["configs"][i], i, *_WORKER["dims"])


def build_cache(
    path: Path, limit: int | None, progress: Callable[[str], None] = print, grid: str = "1024", jobs: int = 1
) -> None:
    """Evaluate the grid's missing rows (a fixed shuffled order; resumable: appends, skips rows done), each
    on one thread, ``jobs`` processes at once."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    space = grid_space(grid=grid)
    configs = list(enumerate_grid(space))
    columns = grid_columns(configs)
    done = load_table(path, columns)
    order = list(range(len(configs)))
    random.Random(0).shuffle(order)  # a partial table is a uniform sample; the rate seen is the grid's
    todo = [i for i in order if row_key(configs[i], columns) not in done][:limit]
    progress(f"grid {grid}: {len(configs)} configurations, {len(done)} cached, {len(todo)} to evaluate now -> {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    new_file = not path.is_file()
    t0 = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with (
        path.open("a", newline="") as f,
        ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init, initargs=(grid,)) as pool,
    ):
        writer = csv.DictWriter(f, fieldnames=["index", *columns, *RESULT_COLUMNS])
        if new_file:
            writer.writeheader()
        for n, (i, row) in enumerate(pool.map(_worker_row, todo), 1):
            writer.writerow({"index": i, **flat(configs[i]), **row})
            f.flush()
            os.fsync(f.fileno())
            if n % 25 == 0 or n == len(todo):
                rate = (time.perf_counter() - t0) / n
                eta = rate * (len(todo) - n)
                progress(f"  {n}/{len(todo)} rows, {rate:.2f} s/row wall, {math.ceil(eta / 60)} min left")
