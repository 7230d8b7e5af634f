"""Time per trial spent outside training (ask, sampling, dispatch, tell, storage): local Ray vs in-process.

Runs the same small digits study twice, side by side in one process: once with trials executed in
the driver process, once on a local Ray (started before timing; its start-up is printed apart).
Per-trial overhead = (wall time of the study loop - time the trials themselves took) / trials.
The target: overhead < 5% of a 10-second trial, i.e. < 0.5 s per trial.

    python benchmarks/search_overhead.py [--trials 12]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lutsearch.search import InProcessExecutor, RayExecutor, RunOptions, run_study
from lutsearch.space import load_space

SPACE = """
name: overhead
seed: 0
dataset: {{name: digits}}
model:
  family: logicnets
  params: {{widths: [{width}], input_fan_in: 3, fan_in: 3, output_fan_in: 3, input_bits: {{int: [1, 2]}}}}
train: {{epochs: {epochs}, batch_size: 64}}
objectives: [accuracy, luts, depth]
constraints: ["luts <= 100000"]
sampler: {{name: tpe, options: {{n_startup_trials: 5}}}}
"""


def measure(kind: str, trials: int, epochs: int, width: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "overhead.yaml"
        path.write_text(SPACE.format(epochs=epochs, width=width))
        space = load_space(path)
        t0 = time.perf_counter()
        executor = InProcessExecutor(threads=1) if kind == "in-process" else RayExecutor(cpus_per_trial=1)
        startup = time.perf_counter() - t0
        # warm-up trial: a fresh Ray worker imports torch/brevitas once (reported, not counted per trial)
        warm = run_study(space, RunOptions(trials=1, runs_dir=Path(tmp) / "runs"), executor=executor)
        summary = run_study(space, RunOptions(trials=trials + 1, runs_dir=Path(tmp) / "runs"), executor=executor)
        executor.shutdown()
    overhead = (summary.seconds - summary.trial_seconds) / trials
    return {
        "startup_s": startup,
        "warmup_trial_s": warm.seconds,
        "trial_s": summary.trial_seconds / trials,
        "overhead_s": overhead,
        "driver_s": summary.driver_seconds / trials,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--width", type=int, default=64)
    args = ap.parse_args()
    rows = {kind: measure(kind, args.trials, args.epochs, args.width) for kind in ("in-process", "ray")}
    print(
        f"{'executor':12s} {'start-up s':>10s} {'warm-up s':>10s} {'trial s':>8s} {'overhead s/trial':>17s} "
        f"{'of which ask/tell/storage':>26s} {'% of a 10-s trial':>18s}"
    )
    for kind, r in rows.items():
        print(
            f"{kind:12s} {r['startup_s']:10.2f} {r['warmup_trial_s']:10.2f} {r['trial_s']:8.2f} "
            f"{r['overhead_s']:17.3f} {r['driver_s']:26.3f} {100 * r['overhead_s'] / 10:17.2f}%"
        )
    ratio = rows["ray"]["overhead_s"] / max(rows["in-process"]["overhead_s"], 1e-9)
    print(
        f"ray / in-process overhead ratio: {ratio:.2f}x; "
        f"ray overhead = {100 * rows['ray']['overhead_s'] / 10:.2f}% of a 10-s trial (target < 5%)"
    )


if __name__ == "__main__":
    main()
