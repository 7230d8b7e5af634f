"""How close does a shipped baseline get to its published test accuracy, and how fast does it get there?

Trains each named baseline of ``spaces/baselines/`` once per ``--epochs`` budget with ``lutsearch run``
(one trial, one worker, ``--cpus-per-trial`` threads): the published schedule compressed to that many
epochs (our one cosine decay spans the run, so a short budget is a finished schedule, not a truncated
one), then prints test accuracy (the official test split; validation is held out of training), the gap
to the published accuracy and the seconds per epoch. ``--epochs`` equal to the published epochs is the
reproduction at the published schedule; smaller budgets give the trend where the machine cannot afford
it. The studies stay in ``--runs`` (default ``runs/baseline_schedule``): a rerun reads a finished budget
back instead of training it again.

    python benchmarks/baseline_schedule.py polylut_mnist neuralut_mnist --epochs 15 45 [--cpus-per-trial 1]
    python benchmarks/baseline_schedule.py nla_mnist --epochs 1 --prelude-epochs 1 --train-subset 1000  # timing

A timing run (``--train-subset``, ``--prelude-epochs``) prints the seconds per epoch of each phase on that
many images, for a projection of a schedule the machine cannot afford; its accuracy is not the baseline's.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

import yaml
from optuna.trial import TrialState

from lutsearch.models._native.choice import cpu_model
from lutsearch.trial import load_artifact

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_quality import logistic_floor, lutsearch_run

REPO = Path(__file__).resolve().parents[1]

# Published test accuracy of each baseline: the results table of the paper its space file cites, unless noted.
PUBLISHED_ACCURACY: dict[str, tuple[float, str]] = {
    "polylut_mnist": (0.96, "PolyLUT (ICFPT 2023), HDR: 96 %"),
    "neuralut_mnist": (0.96, "NeuraLUT (FPL 2024), HDR-5L: 96 %"),
    # not the paper's table (not checked here): the accuracy of the model its space file reproduces
    "nla_mnist": (0.9791, "NeuraLUT-Assemble repository, demo checkpoint hdr-5l-0.1: 97.91 % (PyTorch)"),
}


@dataclasses.dataclass(frozen=True)
class Trained:
    """One budget and seed of a baseline, as its trial recorded it."""

    test: float
    val: float
    seconds: float  # training, the dense grouping prelude included
    prelude_seconds: float  # NLA's dense grouping phase (0 for other families)
    published_epochs: int
    epochs_run: int  # more than asked when the step floor raised the budget (a small training subset)


def train_at(
    stem: str, epochs: int, seed: int, threads: int, runs: Path, prelude: int | None = None, subset: int = 0
) -> Trained:
    """One budget and seed (an offset to the baseline's published seed); ``prelude`` overrides an NLA
    baseline's dense grouping epochs, ``subset`` trains on the first that many training images of an MNIST
    baseline (a timing run: its accuracy is not the baseline's); the study name says both."""
    doc = yaml.safe_load((REPO / "spaces" / "baselines" / f"{stem}.yaml").read_text())
    published = int(doc["train"]["epochs"])
    doc["train"] = {**doc["train"], "epochs": epochs}
    doc["seed"] = int(doc.get("seed", 0)) + seed
    doc["name"] = f"{stem}-e{epochs}" + (f"-s{seed}" if seed else "")
    if prelude is not None:
        if "prelude_epochs" not in doc["model"]["params"]:
            raise SystemExit(f"{stem}: --prelude-epochs: the baseline has no dense grouping phase (prelude_epochs)")
        doc["model"]["params"]["prelude_epochs"] = prelude
        doc["name"] += f"-p{prelude}"
    if subset:
        if doc["dataset"]["name"] != "mnist":
            raise SystemExit(f"{stem}: --train-subset: only MNIST baselines take a training subset")
        doc["dataset"] = {**doc["dataset"], "options": {**doc["dataset"].get("options", {}), "train_subset": subset}}
        doc["name"] += f"-t{subset}"
    space = runs / f"{doc['name']}.yaml"
    space.write_text(yaml.safe_dump(doc))
    study = lutsearch_run(
        space, runs, doc["name"], "--trials", "1", "--workers", "1", "--cpus-per-trial", str(threads), "--executor",
        "inprocess",
    )  # fmt: skip
    t = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))[0]
    attrs = t.user_attrs
    metrics = load_artifact(attrs["artifact_dir"]).metrics  # the trial's metrics.json: epochs run, the prelude
    return Trained(
        float(attrs["test_acc"]),
        float(attrs["val_acc"]),
        float(attrs["train_seconds"]),
        float(metrics.get("prelude", {}).get("seconds", 0.0)),
        published,
        int(metrics["epochs_run"]),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baselines", nargs="+", help="file stems in spaces/baselines/")
    ap.add_argument("--epochs", type=int, nargs="+", required=True, help="epoch budgets, each a full schedule")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per budget (the published seed, then +1, +2, ...)")
    ap.add_argument("--first-seed", type=int, default=0, help="start at this offset from the published seed")
    ap.add_argument("--cpus-per-trial", type=int, default=1)
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "baseline_schedule")
    ap.add_argument("--floor", action="store_true", help="also a logistic regression on each baseline's split")
    ap.add_argument("--prelude-epochs", type=int, default=None, help="NLA: dense grouping epochs (published: 25)")
    ap.add_argument(
        "--train-subset", type=int, default=0, help="MNIST: train on this many images (a timing run; s/epoch of those)"
    )
    args = ap.parse_args()
    unknown = [b for b in args.baselines if not (REPO / "spaces" / "baselines" / f"{b}.yaml").is_file()]
    if unknown:
        raise SystemExit(f"no spaces/baselines/<name>.yaml for {unknown}")
    args.runs.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_model()}; {args.cpus_per_trial} thread(s) per run")
    head = ("baseline", "seed", "epochs", "test acc", "val acc", "published", "gap pp", "s/epoch", "prelude s/ep")
    widths = ("<16", ">4", ">11", ">9", ">8", ">10", ">7", ">8", ">12")
    print(" ".join(f"{h:{w}}" for h, w in zip(head, widths, strict=True)))
    for epochs in sorted(args.epochs):
        for stem, seed in itertools.product(args.baselines, range(args.first_seed, args.first_seed + args.seeds)):
            r = train_at(stem, epochs, seed, args.cpus_per_trial, args.runs, args.prelude_epochs, args.train_subset)
            ref = PUBLISHED_ACCURACY.get(stem)
            pub, gap = (f"{ref[0]:.4f}", f"{100 * (r.test - ref[0]):+.2f}") if ref else ("-", "-")
            pre = f"{r.prelude_seconds / args.prelude_epochs:.1f}" if args.prelude_epochs and r.prelude_seconds else "-"
            print(
                f"{stem:<16} {f'+{seed}':>4} {f'{r.epochs_run}/{r.published_epochs}':>11} {r.test:9.4f} {r.val:8.4f} "
                f"{pub:>10} {gap:>7} {(r.seconds - r.prelude_seconds) / r.epochs_run:8.2f} {pre:>12}",
                flush=True,
            )
    for stem in args.baselines if args.floor else ():
        floor = logistic_floor(REPO / "spaces" / "baselines" / f"{stem}.yaml")
        print(f"floor: {stem}: logistic regression (standardized features) on the same split, test {floor:.4f}")
    for stem in args.baselines:
        if stem in PUBLISHED_ACCURACY:
            print(f"published: {stem}: {PUBLISHED_ACCURACY[stem][1]}")


if __name__ == "__main__":
    main()
