"""Does the search beat the published designs it replaces? Baselines vs the search's confirmed front.

1. Every baseline of the dataset in ``spaces/baselines/`` is trained with ``lutsearch run`` at its
   published schedule, or at ``--epochs`` when that is smaller (printed: two cores rarely allow 1000
   epochs), for ``--seeds`` seeds; its LUTs are Yosys' (objective ``{luts, via: yosys}``).
2. The search runs: ``lutsearch run <space> --trials N --workers W --warm-start spaces/baselines``;
   Yosys confirms its front designs in the background (the shipped spaces' ``confirm: front``).
3. A baseline is dominated when a confirmed design reaches >= +0.5 pp its test accuracy (mean over
   seeds) at <= its LUTs, or <= 0.5x its LUTs at >= its test accuracy. Test accuracy is reported only:
   the search selected designs on validation accuracy.
A logistic regression on the same split is printed as the floor every baseline should clear.

    python benchmarks/search_quality.py [--space spaces/jsc.yaml] [--epochs 30] [--seeds 3] [--trials 500]
    python benchmarks/search_quality.py --runs DIR --read-only ...   # compare what DIR holds, run nothing
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from lutsearch.models._native.choice import cpu_model
from lutsearch.search import count_done

REPO = Path(__file__).resolve().parents[1]


def lutsearch_run(space: Path, runs: Path, name: str, *extra: str) -> optuna.Study:
    cmd = [
        sys.executable,
        "-m",
        "lutsearch.cli",
        "run",
        str(space),
        "--quiet",
        "--runs-dir",
        str(runs),
        "--study",
        name,
    ]
    out = subprocess.run([*cmd, *extra], cwd=REPO, capture_output=True, text=True, env=dict(os.environ))
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return optuna.load_study(study_name=name, storage=f"sqlite:///{runs / name / 'study.db'}")


def load_run(runs: Path, name: str) -> optuna.Study:
    """A study ``--runs`` already holds (``--read-only``); a missing one is a one-line error."""
    db = runs / name / "study.db"
    if not db.is_file():
        raise SystemExit(f"{db}: no such study (--read-only compares only what --runs already holds)")
    return optuna.load_study(study_name=name, storage=f"sqlite:///{db}")


def train_baseline(path: Path, epochs: int, seed: int, runs: Path, read_only: bool = False) -> tuple[float, float, int]:
    """(test accuracy, Yosys LUTs, epochs trained) of one seed of a baseline, on one core (a study already in
    ``runs`` with its trial complete is read back, not trained again: ``--runs`` resumes a long comparison)."""
    doc = yaml.safe_load(path.read_text())
    published = int(doc.get("train", {}).get("epochs", epochs))
    doc["train"] = {**doc.get("train", {}), "epochs": min(published, epochs)}
    doc["seed"] = int(doc.get("seed", 0)) + seed
    doc["objectives"] = ["accuracy", {"name": "luts", "via": "yosys"}]
    space = runs / f"{path.stem}-e{min(published, epochs)}-s{seed}.yaml"
    space.write_text(yaml.safe_dump(doc))
    if read_only:
        study = load_run(runs, space.stem)
    else:
        study = lutsearch_run(space, runs, space.stem, "--trials", "1", "--workers", "1", "--cpus-per-trial", "1")
    t = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))[0]
    return float(t.user_attrs["test_acc"]), int(t.values[1]), min(published, epochs)


def confirmed(study: optuna.Study) -> list[tuple[int, float, float]]:
    """(trial, test accuracy, Yosys LUTs) of every design Yosys confirmed."""
    from lutsearch.search._confirm import confirmations

    trials = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    return [
        (n, float(trials[n].user_attrs["test_acc"]), float(c["luts"]))
        for n, c in confirmations(study).items()
        if n in trials and "luts" in c
    ]


def dominated_by(acc: float, luts: float, designs: list[tuple[int, float, float]]) -> tuple[int, float, float] | None:
    for d in sorted(designs, key=lambda d: d[2]):
        if (d[1] >= acc + 0.005 and d[2] <= luts) or (d[2] <= 0.5 * luts and d[1] >= acc):
            return d
    return None


def logistic_floor(space: Path) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from lutsearch.space import load_space
    from lutsearch.trial import load_trial_dataset

    data = load_trial_dataset(load_space(space).dataset)
    scaler = StandardScaler().fit(data.X_train)
    clf = LogisticRegression(max_iter=2000).fit(scaler.transform(data.X_train), data.y_train)
    return float(clf.score(scaler.transform(data.X_test), data.y_test))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", type=Path, default=REPO / "spaces" / "jsc.yaml")
    ap.add_argument("--epochs", type=int, default=30, help="epoch cap for the baselines (published when smaller)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="baseline file stems to run (default: all of the space's dataset)")
    ap.add_argument("--runs", type=Path, default=None, help="keep the studies here (resumable; default: a temp dir)")
    ap.add_argument("--seeds-of", nargs="*", default=[], metavar="STEM=N", help="fewer seeds for a costly baseline")
    ap.add_argument(
        "--read-only",
        action="store_true",
        help="train and search nothing: compare the studies --runs holds (a stopped search at the trials it finished)",
    )
    args = ap.parse_args()
    dataset = yaml.safe_load(args.space.read_text())["dataset"]["name"]
    baselines = [
        p
        for p in sorted((REPO / "spaces" / "baselines").glob("*.yaml"))
        if yaml.safe_load(p.read_text())["dataset"]["name"] == dataset and (not args.only or p.stem in args.only)
    ]
    seeds_of = {stem: int(n) for stem, n in (item.split("=", 1) for item in args.seeds_of)}
    print(f"CPU: {cpu_model()}; space {args.space}; baselines {[p.stem for p in baselines]}")
    print(f"logistic regression (standardized features), test accuracy: {logistic_floor(args.space):.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs or Path(tmp)
        runs.mkdir(parents=True, exist_ok=True)
        rows = []
        for path in baselines:
            seeds = range(seeds_of.get(path.stem, args.seeds))
            runs_of = [train_baseline(path, args.epochs, s, runs, args.read_only) for s in seeds]
            accs, lut_counts = [r[0] for r in runs_of], [r[1] for r in runs_of]
            rows.append(
                (path.stem, runs_of[0][2], statistics.mean(accs), statistics.pstdev(accs), statistics.mean(lut_counts))
            )
            print(f"baseline {path.stem}: {len(accs)} seeds, test " + " ".join(f"{a:.4f}" for a in accs), flush=True)
        started = time.perf_counter()
        if args.read_only:
            search = load_run(runs, "search")
        else:
            extra = ["--trials", str(args.trials), "--workers", str(args.workers), "--warm-start"]
            search = lutsearch_run(args.space, runs, "search", *extra, str(REPO / "spaces" / "baselines"))
        wall = "" if args.read_only else f" in {(time.perf_counter() - started) / 60:.1f} min wall"
        designs = confirmed(search)
    print(f"\nsearch: {count_done(search)} trained trials{wall}, {len(designs)} designs confirmed by Yosys")
    print(f"{'baseline':<24} {'epochs':>6} {'test acc':>15} {'LUTs':>8}  dominated by (trial, test acc, LUTs)")
    beaten = 0
    for name, epochs, acc, sd, luts in rows:
        d = dominated_by(acc, luts, designs)
        beaten += d is not None
        by = f"#{d[0]} {d[1]:.4f} {d[2]:.0f} ({d[2] / luts:.2f}x LUTs)" if d else "NOT dominated"
        print(f"{name:<24} {epochs:>6} {acc:>8.4f}±{sd:.4f} {luts:>8.0f}  {by}")
    print(f"\n{beaten} of {len(rows)} baselines dominated (target: all)")


if __name__ == "__main__":
    main()
