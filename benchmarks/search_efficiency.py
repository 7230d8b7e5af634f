"""Search efficiency: hypervolume against trials for the default sampler, NSGA-II and random search.

Tabular, as HPO benchmarks do it (``search_efficiency_grid.py``): a finite multi-family digits space
(LogicNets, PolyLUT, NeuraLUT, WARP-LUT, HGQ-LUT; every knob categorical over a few values; 1,024
configurations) is trained and scored once per configuration with the real pipeline and cached in
``benchmarks/data/search_efficiency_cache.csv``. Each sampler, built through lutsearch's sampler
registry, then runs a study on that table: it proposes through ``SearchSpace.sample`` (every
proposal is a table row) and the study is told the cached values (validation accuracy, surrogate
LUTs, surrogate latency; a pruned or failed row is told as such, as the driver does). Repeated
proposals get the cached value again.

Hypervolume is taken on (1 - accuracy, log10 LUTs, latency ns), each scaled to [0, 1] between the
best and worst value in the whole table; the reference point is 1.1 on every scaled axis (printed in
raw units). Printed side by side: hypervolume at 50/100/150/300/500 trials (mean ± std over seeds),
its ratio to random's, and the trials each sampler needs (on the seeds' mean curve) to reach 95 %,
99 % and 100 % of random's mean 500-trial hypervolume. Target: the default reaches random's 500-trial
hypervolume in <= 150 trials.

The default is the sampler of the shipped ``spaces/jsc.yaml`` (read from the file). ``--sweep``
adds the settings a maintainer would try: TPE's start-up trials, multivariate/group off, two trials
in flight with and without constant liar, NSGA-III; ``--gp`` adds the GP sampler (150 trials; slow).

``--grid 4096`` runs the same space at a finer discretization (twice the widths and learning rates; its own
table, ``search_efficiency_cache_4096.csv``): 500 random trials see 12 % of it instead of 40 %.

    python benchmarks/search_efficiency.py --build [--grid 4096] [--jobs 2]   # train a grid once (resumable)
    python benchmarks/search_efficiency.py [--grid 4096] [--seeds 10] [--trials 500] [--sweep] [--gp] [--cache CSV]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.trial import TrialState

from lutsearch.models._native.choice import cpu_model
from lutsearch.search._driver import MAX_UNTRAINED_STREAK
from lutsearch.search._family_sampler import family_first
from lutsearch.space import SAMPLERS, SearchSpace, load_space

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_efficiency_grid import (
    CACHES,
    GRIDS,
    build_cache,
    enumerate_grid,
    grid_columns,
    grid_space,
    load_table,
    row_key,
)

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = (50, 100, 150, 300, 500)
FRACTIONS = (0.95, 0.99, 1.0)


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str
    sampler: str
    options: dict[str, Any]
    workers: int = 1  # trials in flight: asked before the oldest one is told (as the driver with --workers)
    max_trials: int | None = None  # a cap for slow samplers (GP: its fit grows with the cube of the trials)
    reuse_repeats: bool = True  # a repeat of a told configuration is not trained again nor counted (the driver's rule)
    family_first: str = (
        ""  # "bandit"/"tpe": the family drawn first by that chooser (lutsearch/search/_family_sampler.py)
    )
    discount: float = 0.98  # the bandit's discount per finished trial
    per_family: bool = False  # with family_first: the space's sampler sees the drawn family's trials only
    joint_share: float | None = None  # with family_first: share drawn wholly by the space's sampler (None: default)
    patience: int | None = 3  # with family_first: repeats in a row before a trial's knobs are random (None: never)


class DefaultSampler(NamedTuple):
    """The sampler of the shipped ``spaces/jsc.yaml`` (its ``sampler:`` key)."""

    name: str
    options: dict[str, Any]
    family: str  # "joint" or "bandit": how the family is drawn
    joint_share: float | None  # with "bandit": share of trials drawn wholly by the sampler (None: the default)


def default_sampler() -> DefaultSampler:
    """The sampler of the shipped ``spaces/jsc.yaml`` as the space loader reads and checks it."""
    space = load_space(ROOT / "spaces" / "jsc.yaml")
    return DefaultSampler(space.sampler, space.sampler_options, space.sampler_family, space.sampler_joint_share)


def variants(default: DefaultSampler, sweep: bool, gp: bool = False) -> list[Variant]:
    name, options, family, share = default
    first = "" if family == "joint" else family  # the default's family draw, kept by the sweep's variants of it
    like_default = functools.partial(Variant, sampler=name, family_first=first, joint_share=share)
    out = [like_default("default", options=options), Variant("nsga2", "nsga2", {})]
    out.append(Variant("random", "random", {}))
    if gp:  # slow: a 150-trial GP study takes minutes where a 500-trial TPE study takes seconds
        out.append(Variant("gp (150 trials)", "gp", {}, max_trials=150))
    if not sweep:
        return out
    grouped = {"multivariate": True, "group": True}
    liar = {**options, "constant_liar": True}
    return [
        *out,
        *(Variant(f"tpe start={n} mv+group", "tpe", {"n_startup_trials": n, **grouped}) for n in (10, 20)),
        Variant("tpe start=30 mv", "tpe", {"n_startup_trials": 30, "multivariate": True}),
        *(Variant(f"tpe start={n} independent", "tpe", {"n_startup_trials": n}) for n in (10, 30)),
        like_default("default, 2 in flight, liar", options=liar, workers=2),
        like_default("default, 2 in flight, no liar", options={**options, "constant_liar": False}, workers=2),
        Variant("nsga3", "nsga3", {}),
        # every trial counted, repeats of a configuration included (the rule before repeats were reused)
        like_default("default, repeats trained", options=options, reuse_repeats=False),
        like_default("default, 2 in flight, liar, repeats trained", options=liar, workers=2, reuse_repeats=False),
        Variant("random, repeats trained", "random", {}, reuse_repeats=False),
        *_family_variants(name, options, liar),
        # TPE's own knobs, the family drawn jointly (the default until 2026-12-02; none reached the target)
        Variant("family joint, 64 EI candidates", name, {**options, "n_ei_candidates": 64}),
        Variant("family joint, 128 EI candidates", name, {**options, "n_ei_candidates": 128}),
        Variant("family joint, prior weight 0.5", name, {**options, "prior_weight": 0.5}),
        Variant("family joint, prior weight 2", name, {**options, "prior_weight": 2.0}),
        Variant("family joint, 5 start-up", name, {**options, "n_startup_trials": 5}),
        Variant("family joint, endpoints", name, {**options, "consider_endpoints": True}),
        Variant("family joint, gamma 5 %", name, {**options, "gamma": _gamma(0.05)}),
        Variant("family joint, gamma 20 %", name, {**options, "gamma": _gamma(0.20)}),
    ]


def _family_variants(name: str, options: dict[str, Any], liar: dict[str, Any]) -> list[Variant]:
    """How the family is drawn (lutsearch/search/_family_sampler.py; docs/results.md): by the space's
    sampler with the other knobs ("joint"), first by the bandit on every trial or on a share of them, and
    how a run of repeats is broken (``patience``: 3 unless named)."""
    bandit = functools.partial(Variant, sampler=name, family_first="bandit")
    return [
        Variant("family joint", name, options),
        Variant("family joint, 2 in flight, liar", name, liar, workers=2),
        *(bandit(f"family bandit, joint share {p}", options=options, joint_share=p) for p in (0.0, 0.5, 0.75)),
        *(
            bandit(f"family bandit, joint share {p}, 2 in flight, liar", options=liar, workers=2, joint_share=p)
            for p in (0.0, 0.5, 0.75)
        ),
        *(bandit(f"family bandit, discount {g}", options=options, discount=g) for g in (0.95, 0.995)),
        *(
            bandit(
                f"family bandit, joint share 0, per family, discount {g}",
                options=options,
                discount=g,
                per_family=True,
                joint_share=0.0,
            )
            for g in (0.95, 0.995)
        ),
        Variant("family by tpe, per family", name, options, family_first="tpe", per_family=True, joint_share=0.0),
        bandit("family bandit, joint share 0, no escape", options=options, patience=None, joint_share=0.0),
        *(
            bandit(f"family bandit, joint share 0, escape after {k}", options=options, patience=k, joint_share=0.0)
            for k in (1, 10)
        ),
    ]


def _gamma(fraction: float) -> Any:
    """TPE's ``gamma`` (the size of its "good" set) as ``fraction`` of the trials, capped at 25 as Optuna's is."""
    return lambda n: min(math.ceil(fraction * n), 25)


@dataclasses.dataclass(frozen=True)
class Scale:
    """(1 - accuracy, log10 LUTs, latency) scaled to [0, 1] between the table's best and worst values."""

    lo: np.ndarray
    hi: np.ndarray
    ref: np.ndarray  # reference point on the scaled axes

    @staticmethod
    def raw(values: np.ndarray) -> np.ndarray:
        """Objective values (accuracy, luts, latency_ns) as minimized axes; NaN rows stay NaN."""
        v = np.asarray(values, dtype=float).reshape(-1, 3)
        return np.column_stack([1.0 - v[:, 0], np.log10(v[:, 1]), v[:, 2]])

    @classmethod
    def of(cls, values: np.ndarray, ref: float = 1.1, ref_accuracy: float | None = None) -> Scale:
        """``ref`` on every scaled axis, or on the cost axes only with the accuracy axis at ``ref_accuracy``."""
        axes = cls.raw(values)
        lo, hi = np.nanmin(axes, 0), np.nanmax(axes, 0)
        point = np.full(3, ref)
        if ref_accuracy is not None:
            point[0] = (1.0 - ref_accuracy - lo[0]) / (hi[0] - lo[0])
        return cls(lo, hi, point)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (self.raw(values) - self.lo) / (self.hi - self.lo)

    def describe(self, of: str = "the table") -> str:
        r = self.lo + self.ref * (self.hi - self.lo)
        return (
            f"reference point: {'/'.join(f'{x:.3g}' for x in self.ref)} on the scaled axes = "
            f"accuracy {1 - r[0]:.4f} (error {r[0]:.4f}), "
            f"{10 ** r[1]:.0f} LUTs (log10 {r[1]:.3f}), {r[2]:.3f} ns; scaled between best/worst of {of}: "
            f"error {self.lo[0]:.4f}..{self.hi[0]:.4f}, log10 LUTs {self.lo[1]:.3f}..{self.hi[1]:.3f}, "
            f"latency {self.lo[2]:.3f}..{self.hi[2]:.3f} ns"
        )


def hv_curve(z: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume of the first n points, for every n (NaN rows and points outside the box add nothing)."""
    from optuna._hypervolume import compute_hypervolume

    curve = np.zeros(len(z))
    front = np.empty((0, z.shape[1]))
    hv = 0.0
    for i, p in enumerate(z):
        inside = bool(np.isfinite(p).all() and (p < ref).all())
        if inside and not (front <= p).all(1).any():
            front = np.vstack([front[~(p <= front).all(1)], p])
            hv = float(compute_hypervolume(front, ref, assume_pareto=True))
        curve[i] = hv
    return curve


def replay(space: SearchSpace, table: dict, columns: list[str], variant: Variant, seed: int, trials: int) -> np.ndarray:
    """One study on the table: (trials, 4) objective values in trial order (NaN for pruned/failed), then the
    table row's index. As the driver does (``lutsearch.search._repeats``), a configuration asked again after
    it was told is answered with its row and does not count as a trial (``variant.reuse_repeats``)."""
    sampler = SAMPLERS.get(variant.sampler).build(seed, variant.options)
    if variant.family_first:
        chooser = None  # the bandit
        if variant.family_first == "tpe":  # the first chooser tried: a univariate TPE on the family
            start = variant.options.get("n_startup_trials", 10)
            chooser = optuna.samplers.TPESampler(seed=seed, n_startup_trials=start)
        sampler = family_first(
            sampler, seed, variant.discount, variant.per_family, chooser, variant.patience, variant.joint_share
        )
    study = optuna.create_study(directions=space.directions, sampler=sampler)
    pending: collections.deque = collections.deque()
    told: list[list[float]] = []
    told_keys: set = set()
    repeats_in_a_row = 0
    while len(told) < trials:
        while len(pending) < variant.workers and len(told) + len(pending) < trials:
            trial = study.ask()
            key = row_key(space.sample(trial), columns)
            if key not in table:
                raise SystemExit(f"no cached row for {key}; run with --build first")
            if variant.reuse_repeats and key in told_keys:
                _tell_row(study, trial, table[key])
                repeats_in_a_row += 1
                if repeats_in_a_row >= MAX_UNTRAINED_STREAK:
                    raise SystemExit(f"{variant.label}: {MAX_UNTRAINED_STREAK} repeats in a row (the driver stops too)")
                continue
            repeats_in_a_row = 0
            pending.append((trial, table[key], key))
        trial, row, key = pending.popleft()
        _tell_row(study, trial, row)
        told_keys.add(key)
        told.append(
            [*row["values"], float(row["index"])]
            if row["status"] == "ok"
            else [float("nan")] * 3 + [float(row["index"])]
        )
    return np.asarray(told, dtype=float)


def _tell_row(study: optuna.Study, trial: optuna.Trial, row: dict) -> None:
    if row["status"] == "ok":
        study.tell(trial, row["values"])
    else:
        study.tell(trial, state=TrialState.PRUNED if row["status"] == "pruned" else TrialState.FAIL)


def run_variant(
    space: SearchSpace, table: dict, columns: list[str], variant: Variant, seeds: int, trials: int, scale: Scale
) -> tuple[np.ndarray, float, float]:
    """Hypervolume curves of ``seeds`` studies (seeds, trials), the seconds per study and the mean number of
    distinct configurations among the first 150 trials (a sampler that repeats itself wastes trials)."""
    t0 = time.perf_counter()
    trials = min(trials, variant.max_trials or trials)
    curves, distinct = [], []
    for seed in range(seeds):
        told = replay(space, table, columns, variant, seed, trials)
        curves.append(hv_curve(scale(told[:, :3]), scale.ref))
        distinct.append(len(set(told[:150, 3])))
    return np.asarray(curves), (time.perf_counter() - t0) / seeds, float(np.mean(distinct))


def reach(curves: np.ndarray, target: float) -> str:
    """Trials the seeds' mean curve needs to reach ``target``, then the per-seed median and how many seeds do."""
    mean = curves.mean(0)
    hit = np.flatnonzero(mean >= target - 1e-12)
    first = str(hit[0] + 1) if hit.size else f">{curves.shape[1]}"
    per_seed = [np.flatnonzero(c >= target - 1e-12) for c in curves]
    seeds = np.asarray([h[0] + 1 if h.size else np.inf for h in per_seed])
    median = float(np.median(seeds))
    med = f"{median:.0f}" if np.isfinite(median) else "-"
    return f"{first} ({med}, {int(np.isfinite(seeds).sum())}/{len(curves)})"


def grid_table(cache: Path, grid: str = "1024") -> tuple[SearchSpace, dict, list[str], dict[str, float]]:
    """The grid, its cached rows and the cache's facts (rows, rows ok, seconds of training in all)."""
    space = grid_space(grid=grid)
    configs = list(enumerate_grid(space))
    columns = grid_columns(configs)
    table = load_table(cache, columns)
    missing = sum(row_key(c, columns) not in table for c in configs)
    if missing:
        raise SystemExit(f"{cache}: {missing} of {len(configs)} configurations not evaluated; run with --build")
    facts = {
        "rows": len(configs),
        "ok": sum(r["status"] == "ok" for r in table.values()),
        "seconds": sum(float(r["seconds"] or 0) for r in table.values()),
    }
    return space, table, columns, facts


def print_header(facts: dict[str, float], scale: Scale, front_hv: float, default: Variant) -> None:
    print(f"CPU: {cpu_model()}; 1 thread per trial; Optuna {optuna.__version__}")
    print(
        f"grid: {facts['rows']:.0f} configurations of 5 families on digits ({facts['ok']:.0f} trained ok), "
        f"{facts['seconds'] / 60:.1f} min of trials in the cache ({facts['seconds'] / facts['rows']:.2f} s each)"
    )
    print(scale.describe())
    print(f"hypervolume of the whole table's Pareto front (the most any study can reach): {front_hv:.4f}")
    drawn = f"; family drawn first by {default.family_first}" if default.family_first else ""
    print(f"default sampler (spaces/jsc.yaml): {default.sampler} {default.options}{drawn}")


def print_results(results: dict[str, tuple[np.ndarray, float, float]], trials: int) -> None:
    """Hypervolume and its ratio to random's at each checkpoint; trials to reach random's final hypervolume."""
    points = [c for c in CHECKPOINTS if c <= trials]
    target = results["random"][0][:, trials - 1].mean()
    random_mean = {c: results["random"][0][:, c - 1].mean() for c in points}
    head = "".join(f"{f'HV@{c}':>16s}" for c in points)
    ratios = "".join(f"{f'/rnd@{c}':>9s}" for c in points)
    reaches = "".join(f"{f'to {100 * f:.0f}% of rnd@{trials}':>19s}" for f in FRACTIONS)
    print(f"\n{'sampler':31s}{head}  {ratios}  {reaches}  {'s/study':>8s}  {'distinct@150':>12s}")
    for label, (curves, secs, distinct) in results.items():
        ran = [c for c in points if c <= curves.shape[1]]
        hv = "".join(f"{curves[:, c - 1].mean():9.4f}±{curves[:, c - 1].std():.4f}" for c in ran)
        ratio = "".join(f"{curves[:, c - 1].mean() / random_mean[c]:9.3f}" for c in ran)
        hv, ratio = hv + f"{'-':>16s}" * (len(points) - len(ran)), ratio + f"{'-':>9s}" * (len(points) - len(ran))
        to = "".join(f"{reach(curves, f * target):>19s}" for f in FRACTIONS)
        print(f"{label:31s}{hv}  {ratio}  {to}  {secs:8.1f}  {distinct:12.1f}")
    print(
        f"\nrandom's mean {trials}-trial hypervolume: {target:.4f}; 'to X%': trials on the seeds' mean curve "
        "(per-seed median, seeds that reach it)"
    )
    if "default" not in results:
        return
    hit = np.flatnonzero(results["default"][0].mean(0) >= target - 1e-12)
    n = int(hit[0] + 1) if hit.size else None
    verdict = "met" if n is not None and n <= 150 else "NOT met"
    print(
        f"target: default reaches random's {trials}-trial hypervolume in <= 150 trials: {n or '>' + str(trials)} "
        f"-> {verdict}"
    )


def print_gaps(
    space: SearchSpace, table: dict, columns: list[str], arms: dict[str, tuple[Variant, int]], seeds: int, scale: Scale
) -> None:
    """Each design of the table's front: its share of the front's hypervolume (what the front loses
    without it) and in how many seeds each arm (a variant and its trial budget: the default's and
    random's) found it: where the default's missing hypervolume lies."""
    from optuna._hypervolume import compute_hypervolume

    rows = [r for r in table.values() if r["status"] == "ok"]
    z = scale(np.asarray([r["values"] for r in rows], dtype=float))
    front = [i for i, p in enumerate(z) if not ((z <= p).all(1) & (z < p).any(1)).any() and (p < scale.ref).all()]
    total = float(compute_hypervolume(z[front], scale.ref, assume_pareto=True))
    seen = {}
    for label, (variant, trials) in arms.items():
        found = [set(replay(space, table, columns, variant, s, trials)[:, 3].astype(int)) for s in range(seeds)]
        seen[label] = {int(rows[i]["index"]): sum(int(rows[i]["index"]) in f for f in found) for i in front}
    budgets = ", ".join(f"{label} within {trials} trials" for label, (_, trials) in arms.items())
    print(f"\n{len(front)} front designs; hypervolume {total:.4f}; seeds that found each: {budgets}")
    print(
        f"{'row':>5} {'family':<10} {'accuracy':>8} {'LUTs':>7} {'ns':>6} {'share':>7}"
        + "".join(f"{a:>9}" for a in arms)
    )
    shares = [total - float(compute_hypervolume(np.delete(z[front], k, 0), scale.ref, True)) for k in range(len(front))]
    for k in sorted(range(len(front)), key=lambda k: -shares[k]):
        row = rows[front[k]]
        acc, luts, ns = row["values"]
        index = int(row["index"])
        found_in = "".join(f"{f'{seen[a][index]}/{seeds}':>9}" for a in arms)
        print(f"{index:>5} {row['family']:<10} {acc:8.3f} {luts:7.0f} {ns:6.2f} {shares[k]:7.4f}{found_in}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", action="store_true", help="evaluate the grid's missing rows into the cache first")
    ap.add_argument("--limit", type=int, default=None, help="with --build: evaluate at most this many rows now")
    ap.add_argument("--grid", choices=sorted(GRIDS), default="1024", help="the grid: 1,024 or 4,096 configurations")
    ap.add_argument("--cache", type=Path, default=None, help="the table (CSV) to build or read (default: the grid's)")
    ap.add_argument("--jobs", type=int, default=1, help="with --build: rows trained at once, one thread each")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--sweep", action="store_true", help="also the settings a maintainer would try")
    ap.add_argument("--gp", action="store_true", help="also the GP sampler, capped at 150 trials (slow)")
    ap.add_argument("--only", nargs="*", default=None, help="only these variant labels (random always runs)")
    ap.add_argument(
        "--ref-accuracy", type=float, default=None, help="the reference point's accuracy (default: 1.1 scaled)"
    )
    ap.add_argument("--gaps", type=int, default=None, help="front designs the default misses by this many trials")
    args = ap.parse_args()
    cache = args.cache or CACHES[args.grid]
    if args.build:
        build_cache(cache, args.limit, grid=args.grid, jobs=args.jobs)
        return
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    default = default_sampler()
    chosen = variants(default, args.sweep, args.gp)
    if args.only is not None:
        chosen = [v for v in chosen if v.label in {*args.only, "random"}]
    space, table, columns, facts = grid_table(cache, args.grid)
    ok = np.asarray([r["values"] for r in table.values() if r["status"] == "ok"], dtype=float)
    scale = Scale.of(ok, ref_accuracy=args.ref_accuracy)
    print_header(facts, scale, hv_curve(scale(ok), scale.ref)[-1], variants(default, False)[0])
    if args.gaps is not None:
        default_arm, _, random_arm = variants(default, False)
        arms = {"default": (default_arm, args.gaps), "random": (random_arm, args.trials)}
        print_gaps(space, table, columns, arms, args.seeds, scale)
        return
    results = {}
    for v in chosen:
        results[v.label] = run_variant(space, table, columns, v, args.seeds, args.trials, scale)
        print(f"  {v.label}: {args.seeds} studies x {args.trials} trials, {results[v.label][1]:.1f} s per study")
    print_results(results, args.trials)


if __name__ == "__main__":
    main()
