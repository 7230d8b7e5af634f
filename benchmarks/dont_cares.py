"""Don't-care compression (``lutsearch.hw.dontcare``) on trained baselines: Yosys LUTs and accuracy before
and after, for several ``min_count`` thresholds, side by side.

Trains each design (the published single-point spaces LogicNets JSC-S and NeuraLUT JSC-2L on the ``jsc``
dataset, whichever variant their space names, and a small LogicNets design on digits), converts it to
truth tables, compresses them with the training split's input codes for every ``--min-count`` and
synthesizes the original and every compressed network with Yosys in design mode (whole design, one
pipeline stage per layer, the export's flow). Prints one table: LUTs before/after and their ratio,
validation and test accuracy before/after, care entries, bits of support, compression time; and the CPU,
the Yosys version and the epochs actually trained (``--epochs``: fewer than the published 1000 by
default, so the accuracies are not the published ones; the comparison before/after is what counts).

Usage: ``LUTSEARCH_DATA_DIR=... python benchmarks/dont_cares.py [--epochs 100] [--min-count 1 2 4]
[--json out.json] [--space spaces/baselines/x.yaml ...]``. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASELINES = [
    ROOT / "spaces" / "baselines" / "logicnets_jsc_s.yaml",
    ROOT / "spaces" / "baselines" / "neuralut_jsc_2l.yaml",
]
DIGITS = {
    "name": "digits LogicNets 64-32-10",
    "dataset": {"name": "digits", "split_seed": 0, "val_fraction": 0.15, "options": {}},
    "family": "logicnets",
    "params": {
        "widths": [64, 32],
        "input_bits": 2,
        "hidden_bits": 2,
        "output_bits": 3,
        "input_fan_in": 4,
        "fan_in": 3,
        "output_fan_in": 4,
    },
    "train": {"epochs": 30, "batch_size": 64, "lr": 1e-2},
    "seed": 0,
}


def space_design(path: Path, epochs: int) -> dict[str, Any]:
    """A single-point space's design (its fixed configuration), trained for ``epochs`` epochs."""
    import optuna

    from lutsearch.space import load_space

    space = load_space(path)
    config = space.sample(optuna.trial.FixedTrial({}))
    published = config["train"].get("epochs")
    config["train"] = {**config["train"], "epochs": epochs}
    return {"name": space.name, "dataset": space.dataset, "seed": space.seed, "published_epochs": published, **config}


def train(design: dict[str, Any]) -> dict[str, Any]:
    """Train the design; its truth tables and every split's input codes and labels."""
    import torch

    from lutsearch.models import build_model
    from lutsearch.train import TrainConfig, train_model
    from lutsearch.trial import load_trial_dataset

    torch.set_num_threads(1)
    data = load_trial_dataset(design["dataset"])
    model = build_model(design["family"], design["params"], data.n_features, data.n_classes, design["seed"])
    t0 = time.perf_counter()
    train_model(model, data, TrainConfig.from_dict(design["train"]), design["seed"])
    seconds = time.perf_counter() - t0
    splits = {
        s: (model.input_codes(getattr(data, f"X_{s}")), getattr(data, f"y_{s}")) for s in ("train", "val", "test")
    }
    return {"network": model.to_tables(), "splits": splits, "train_seconds": seconds, "variant": data.variant}


def accuracy(network, split: tuple[np.ndarray, np.ndarray]) -> float:
    codes, labels = split
    return float((network.predict(codes) == labels).mean())


def measure(design: dict[str, Any], min_counts: list[int]) -> list[dict[str, Any]]:
    """One row per ``min_count``: LUTs and accuracies before/after, the compression's own numbers."""
    from lutsearch.hw import synthesize
    from lutsearch.hw.dontcare import compress_dont_cares

    trained = train(design)
    net, splits = trained["network"], trained["splits"]
    base = synthesize(net, mode="design", cache_dir=False, on_error="raise")
    rows = []
    for k in min_counts:
        t0 = time.perf_counter()
        comp, report = compress_dont_cares(net, splits["train"][0], min_count=k)
        seconds = time.perf_counter() - t0
        after = synthesize(comp, mode="design", cache_dir=False, on_error="raise")
        rows.append(
            {
                "design": design["name"],
                "variant": trained["variant"],
                "epochs": design["train"]["epochs"],
                "published_epochs": design.get("published_epochs"),
                "train_seconds": trained["train_seconds"],
                "min_count": k,
                "luts_before": base.luts,
                "luts_after": after.luts,
                "ratio": base.luts / after.luts if after.luts else float("inf"),
                "val_before": accuracy(net, splits["val"]),
                "val_after": accuracy(comp, splits["val"]),
                "test_before": accuracy(net, splits["test"]),
                "test_after": accuracy(comp, splits["test"]),
                "care_fraction": report.care_entries / report.entries,
                "support_before": report.support_before,
                "support_after": report.support_after,
                "compress_seconds": seconds,
                "yosys": f"{base.tool} {base.tool_version}",
            }
        )
        print(f"  {design['name']}: min_count {k} done ({seconds:.1f} s to compress)", flush=True)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'design':28s} {'k':>2s} {'LUTs before':>11s} {'after':>6s} {'ratio':>6s} {'val before':>10s} "
        f"{'after':>7s} {'test before':>11s} {'after':>7s} {'care':>6s} {'support':>11s} {'s':>5s}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['design']:28s} {r['min_count']:2d} {r['luts_before']:11.0f} {r['luts_after']:6.0f} {r['ratio']:6.2f} "
            f"{100 * r['val_before']:9.2f}% {100 * r['val_after']:6.2f}% {100 * r['test_before']:10.2f}% "
            f"{100 * r['test_after']:6.2f}% {100 * r['care_fraction']:5.1f}% "
            f"{r['support_before']:5d}>{r['support_after']:<5d} {r['compress_seconds']:5.1f}"
        )


def main() -> None:
    from lutsearch.hw import find_yosys
    from lutsearch.models._native.choice import cpu_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=100, help="epochs for the baseline spaces (published: 1000)")
    ap.add_argument("--min-count", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--space", type=Path, nargs="*", default=BASELINES, help="single-point spaces to measure")
    ap.add_argument("--no-digits", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    yosys = find_yosys()
    print(f"CPU: {cpu_model()}; Yosys: {yosys.name} {yosys.version}")
    print("LUTs: Yosys design mode (synth_lut6 flow, one pipeline stage per layer)")
    designs = [space_design(p, args.epochs) for p in args.space] + ([] if args.no_digits else [DIGITS])
    for d in designs:
        pub = d.get("published_epochs")
        note = (
            f" (the space trains {pub}: reduced, accuracies are not the published ones)"
            if pub and pub != d["train"]["epochs"]
            else ""
        )
        print(f"{d['name']}: {d['family']} on {d['dataset']['name']}, trained {d['train']['epochs']} epochs{note}")
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for d in designs:
        rows += measure(d, args.min_count)
    print()
    print("k = min_count: table entries the training split reaches fewer than k times are don't-cares.")
    print("care = reached entries / all entries; support = address bits the output bits depend on (summed).")
    print_table(rows)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    sys.exit(main())
