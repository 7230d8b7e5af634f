"""The headline: `lutsearch run spaces/jsc.yaml` for N trials with 2 workers; where the time goes.

Runs the real command (a subprocess, Ray, the shipped space with its successive halving) and reads the
study afterwards. Reports trained trials per hour, the projected time of 500 trials, and the split of the
trials' task time: training by family and rung, tabulation (truth tables + exact checks), cost
(objectives through the cost backend), the rest of each task (data, saving), and what is left of the
workers' wall time (driver: ask/tell/storage, Ray dispatch, idle workers). Then, side by side in the same
run, a few trials of the same space with successive halving off (every design trained fully): the ratio
of wall time per trained trial is the speed-up the rungs bring. Target: 500 trials <= 2 h on 2 cores,
i.e. <= 14.4 s of wall time per trial.

    python benchmarks/headline.py [--trials 40] [--workers 2] [--full-trials 6] [--space spaces/jsc.yaml]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from lutsearch.models._native.choice import cpu_model

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 2 * 3600 / 500


def run(space: Path, trials: int, workers: int, runs: Path, name: str) -> tuple[float, optuna.Study]:
    cmd = [sys.executable, "-m", "lutsearch.cli", "run", str(space), "--trials", str(trials), "--workers", str(workers)]
    cmd += ["--quiet", "--runs-dir", str(runs), "--study", name]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"lutsearch run failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{runs / name / 'study.db'}")
    return wall, study


def split(study: optuna.Study) -> dict[str, float]:
    """Seconds of the trials' tasks by part: train <family> rung <k>, tabulation, cost, other."""
    parts: dict[str, float] = collections.defaultdict(float)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        folder = Path(t.user_attrs.get("artifact_dir", "/nonexistent"))
        rows = json.loads((folder / "rungs.json").read_text()) if (folder / "rungs.json").is_file() else []
        if not rows and (folder / "metrics.json").is_file():  # no rungs: one task for the whole budget
            m = json.loads((folder / "metrics.json").read_text())
            rows = [{"rung": "all", "seconds": m["seconds"], "user_attrs": m}]
        trained_before = 0.0
        for row in rows:
            attrs = row["user_attrs"]
            train = float(attrs.get("train_seconds", 0.0)) - trained_before
            trained_before = float(attrs.get("train_seconds", 0.0))
            tables, cost = float(attrs.get("tables_seconds", 0.0)), float(attrs.get("score_seconds", 0.0))
            parts[f"train {t.user_attrs.get('family', '?')} rung {row['rung']}"] += train
            parts["tabulation"] += tables
            parts["cost"] += cost
            parts["other in task"] += max(0.0, float(row["seconds"]) - train - tables - cost)
    return dict(parts)


def report(label: str, wall: float, study: optuna.Study, workers: int) -> float:
    trained = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("pruned_before_training")]
    trained = [t for t in trained if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
    per_trial = wall / max(1, len(trained))
    states = collections.Counter(t.state.name for t in trained)
    untrained = sum(1 for t in study.get_trials(deepcopy=False) if t.user_attrs.get("pruned_before_training"))
    print(
        f"\n== {label}: {len(trained)} trained trials in {wall:.0f} s "
        f"({dict(states)}; {untrained} pruned before training)"
    )
    print(
        f"   {per_trial:.1f} s per trial, {3600 / per_trial:.0f} trials/hour, "
        f"500 trials ~ {500 * per_trial / 3600:.2f} h"
    )
    parts = split(study)
    total = sum(parts.values())
    for name, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"   {name:<32} {seconds:8.1f} s  {100 * seconds / max(total, 1e-9):5.1f} % of task time")
    print(
        f"   {'driver + dispatch + idle':<32} {max(0.0, wall * workers - total):8.1f} s  (workers x wall - task time)"
    )
    return per_trial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", type=Path, default=REPO / "spaces" / "jsc.yaml")
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--full-trials", type=int, default=6, help="trials with successive halving off (0: skip)")
    args = ap.parse_args()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; space {args.space}; {args.workers} workers")
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        wall, study = run(args.space, args.trials, args.workers, runs, "headline")
        halving = report("successive halving (the shipped space)", wall, study, args.workers)
        if args.full_trials:
            full_space = runs / "full.yaml"  # the same space with successive halving off
            full_space.write_text(
                yaml.safe_dump({**yaml.safe_load(args.space.read_text()), "fidelity": "off"}, sort_keys=False)
            )
            wall_f, study_f = run(full_space, args.full_trials, args.workers, runs, "headline-full")
            full = report("every design trained fully (fidelity: off)", wall_f, study_f, args.workers)
            print(f"\nwall time per trained trial, halving vs full training: {halving / full:.2f}x")
    print(
        f"\ntarget <= {TARGET_S:.1f} s per trial (500 in 2 h): {halving:.1f} s -> "
        f"{'met' if halving <= TARGET_S else 'NOT met'} ({halving / TARGET_S:.2f}x the target)"
    )


if __name__ == "__main__":
    main()
