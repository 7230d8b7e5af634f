"""A real run to confirm ``search_efficiency.py``: default sampler vs random search, trials actually trained.

The same five families on digits as the tabular grid, but with the knobs as ranges (integers,
log-scaled widths and learning rate: what a space file would say), run through ``run_study`` with the
in-process executor (1 thread) for ``--trials`` trials per study, for each sampler and seed (the
space's seed is the study's seed, so both samplers train trial ``n`` with the same seed). Hypervolume
as in ``search_efficiency.py``: (1 - accuracy, log10 LUTs, latency ns) scaled to [0, 1] between the
best and worst value seen in all these studies together, reference point 1.1 on each scaled axis.

``--grid 4096`` runs the tabular benchmark's own discrete grid instead, through the real driver: there a
sampler draws designs again, and the run reports how many draws reused a trained design's result
(``lutsearch.search._repeats``) instead of training it. Curves are over trained trials only (the
trials ``--trials`` counts).

    python benchmarks/search_efficiency_real.py [--trials 60] [--seeds 2] [--grid 1024|4096]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from optuna.trial import TrialState

from lutsearch.models._native.choice import cpu_model
from lutsearch.search import InProcessExecutor, RunOptions, run_study
from lutsearch.space import load_space

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_efficiency import Scale, default_sampler, hv_curve
from search_efficiency_grid import GRIDS

from lutsearch.search._repeats import REPEAT_OF
from lutsearch.search._study import UNTRAINED

SPACE: dict[str, Any] = {
    "dataset": {"name": "digits", "split_seed": 0, "val_fraction": 0.15},
    "model": {
        "family": {"choices": ["logicnets", "polylut", "neuralut", "warp", "hgq"]},
        "params": {
            "widths": {"per_layer": {"count": {"int": [1, 2]}, "int": [32, 128], "log": True}},
            "input_bits": {"int": [1, 2]},
            "input_fan_in": {"int": [3, 6]},
            "fan_in": {"int": [3, 5]},
            "output_fan_in": 4,
        },
        "when": {
            "logicnets": {"hidden_bits": {"int": [1, 2]}, "output_bits": {"int": [2, 3]}},
            "polylut": {"hidden_bits": {"int": [1, 2]}, "degree": {"int": [2, 3]}},
            "neuralut": {"hidden_width": {"choices": [8, 16]}, "hidden_depth": {"int": [2, 4]}},
            "warp": {"group_size": {"choices": [8, 16]}},
            "hgq": {"edge_hidden": {"int": [2, 8]}, "dense": False},
        },
    },
    "train": {"epochs": 10, "batch_size": 64, "lr": {"float": [0.01, 0.03], "log": True}},
    "objectives": ["accuracy", {"name": "luts", "via": "surrogate"}, {"name": "latency_ns", "via": "surrogate"}],
    "limits": {"max_address_bits": 12},
}


def one_study(
    tmp: Path, label: str, sampler: dict[str, Any], seed: int, trials: int, space_dict: dict[str, Any]
) -> tuple[np.ndarray, float, int]:
    """Objective values of one real study's trained trials in trial order (NaN for those stopped or
    failed), its wall time and the number of draws that reused a trained design's result."""
    path = tmp / f"{label}-{seed}.yaml"
    path.write_text(yaml.safe_dump({**space_dict, "name": f"{label}-{seed}", "seed": seed, "sampler": sampler}))
    space = load_space(path)
    executor = InProcessExecutor(threads=1)
    t0 = time.perf_counter()
    summary = run_study(
        space, RunOptions(trials=trials, runs_dir=tmp / "runs", executor="inprocess"), executor=executor
    )
    seconds = time.perf_counter() - t0
    executor.shutdown()
    rows, reused = [], 0
    for t in sorted(summary.handle.study.get_trials(deepcopy=False), key=lambda t: t.number):
        reused += REPEAT_OF in t.user_attrs
        if not t.user_attrs.get(UNTRAINED):
            rows.append(list(t.values) if t.state == TrialState.COMPLETE else [float("nan")] * 3)
    return np.asarray(rows, dtype=float), seconds, reused


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--grid", choices=sorted(GRIDS), default=None, help="the tabular benchmark's discrete grid")
    args = ap.parse_args()
    space_dict = SPACE if args.grid is None else {k: v for k, v in GRIDS[args.grid].items() if k != "sampler"}
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    name, options, family, share = default_sampler()
    bandit = {"joint_share": share} if share is not None else {}
    samplers = {
        "default": {"name": name, "options": options, "family": family, **bandit},
        "random": {"name": "random", "options": {}},
    }
    print(
        f"CPU: {cpu_model()}; 1 thread, in-process executor; {args.trials} trials per study, "
        f"seeds 0..{args.seeds - 1}; space: {'ranges' if args.grid is None else f'the {args.grid} grid'}"
    )
    print(f"default sampler (spaces/jsc.yaml): {samplers['default']}")
    values: dict[str, list[np.ndarray]] = {label: [] for label in samplers}
    with tempfile.TemporaryDirectory(prefix="se_real_") as tmp:
        for seed in range(args.seeds):
            for label, sampler in samplers.items():
                v, seconds, reused = one_study(Path(tmp), label, sampler, seed, args.trials, space_dict)
                values[label].append(v)
                print(
                    f"  {label} seed {seed}: {len(v)} trained trials in {seconds / 60:.1f} min; "
                    f"{reused} draws reused a trained design's result",
                    flush=True,
                )
    report(values, args.trials)


def report(values: dict[str, list[np.ndarray]], trials: int) -> None:
    scale = Scale.of(np.vstack([v for runs in values.values() for v in runs]))
    print(scale.describe("all these studies"))
    points = sorted({max(1, trials // 3), max(1, 2 * trials // 3), trials})
    curves = {label: np.asarray([hv_curve(scale(v), scale.ref) for v in runs]) for label, runs in values.items()}
    print(
        f"{'sampler':10s}"
        + "".join(f"{f'HV@{n}':>16s}" for n in points)
        + "".join(f"{f'/rnd@{n}':>9s}" for n in points)
    )
    for label, c in curves.items():
        hv = "".join(f"{c[:, n - 1].mean():9.4f}±{c[:, n - 1].std():.4f}" for n in points)
        ratio = "".join(f"{c[:, n - 1].mean() / curves['random'][:, n - 1].mean():9.3f}" for n in points)
        print(f"{label:10s}{hv}{ratio}")
    for label, runs in values.items():
        best = [float(np.nanmax(v[:, 0])) for v in runs]
        print(f"{label}: best validation accuracy per seed {', '.join(f'{b:.4f}' for b in best)}")


if __name__ == "__main__":
    main()
