"""Build the random/structured part of the shipped calibration from seeded networks, and check a
calibration on held-out designs against whole-design Yosys.

    python -m lutsearch.hw.surrogate.build_random [--out PATH] [--seed 1] [--networks 84] [--jobs N]
    python -m lutsearch.hw.surrogate.build_random --check 24 [--calibration PATH]

Reproducible: the networks come from ``random_networks(seed, networks)``, every distinct neuron unit is
synthesized once (``unit_rows``, through the unit cache) and the rows are written in network order.
``--check N`` synthesizes ``N`` held-out networks (``random_networks(seed + 1000, N, **HELD_OUT)``, none
of their tables fitted) in ``design`` mode (pipeline 1) and prints the surrogate's errors and times.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lutsearch.hw.surrogate.calibration import Calibration
from lutsearch.hw.surrogate.corpus import random_networks, unit_rows
from lutsearch.hw.yosys import YosysError
from lutsearch.tables import TruthTableNetwork

__all__ = ["HELD_OUT", "build", "compare", "main"]

# held-out designs: smaller than the corpus networks, since whole-design Yosys on many 12-14 bit ROMs
# takes minutes per design (and more than 400 s for some)
HELD_OUT: dict[str, Any] = {"max_luts": 1000.0, "max_neurons": 16}


def build(seed: int = 1, networks: int = 84, *, jobs: int | None = None, cache_dir: str | None = None) -> Calibration:
    """The calibration of ``random_networks(seed, networks)``'s distinct neuron units."""
    return Calibration(unit_rows(random_networks(seed, networks), jobs=jobs, cache_dir=cache_dir))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 1 else float("nan")


def compare(
    calibration: Calibration,
    nets: Sequence[tuple[TruthTableNetwork, str]],
    *,
    jobs: int | None = None,
    timeout: float | None = 600.0,
) -> list[dict]:
    """Per network: design-mode Yosys (pipeline 1) and the surrogate's LUTs, slowest-stage depth, times."""
    from lutsearch.hw.surrogate.backend import SurrogateBackend
    from lutsearch.hw.synth import synthesize

    backend, out = SurrogateBackend(), []
    for net, source in nets:
        try:
            ref = synthesize(net, pipeline=1, mode="design", jobs=jobs, timeout=timeout, on_error="raise")
        except YosysError as exc:  # e.g. a timeout on a design of many wide ROMs: not compared
            print(f"{source}: skipped ({str(exc).splitlines()[0]})")
            continue
        t0 = time.perf_counter()
        rep = backend.estimate(net, pipeline=1, calibration=calibration)
        seconds = time.perf_counter() - t0
        out.append(
            {
                "source": source,
                "yosys_luts": ref.luts,
                "luts": rep.luts,
                "yosys_depth": ref.depth,
                "depth": rep.depth,
                "yosys_s": ref.seconds,
                "surrogate_s": seconds,
            }
        )
    return out


def summary(rows: list[dict]) -> dict[str, float]:
    """MAPE of LUTs, Spearman, share of exact slowest-stage depths, worst depth error, time ratio."""
    y = np.array([r["yosys_luts"] for r in rows])
    p = np.array([r["luts"] for r in rows])
    dy, dp = np.array([r["yosys_depth"] for r in rows]), np.array([r["depth"] for r in rows])
    ty, ts = np.array([r["yosys_s"] for r in rows]), np.array([r["surrogate_s"] for r in rows])
    ok = y > 0
    return {
        "designs": float(len(rows)),
        "mape_pct": float(100 * np.mean(np.abs(p[ok] - y[ok]) / y[ok])) if ok.any() else float("nan"),
        "spearman": spearman(y, p),
        "depth_exact_pct": float(100 * np.mean(dy == dp)),
        "depth_max_err": float(np.abs(dy - dp).max(initial=0)),
        "yosys_s_median": float(np.median(ty)),
        "surrogate_ms_median": float(1000 * np.median(ts)),
        "time_ratio_max_pct": float(100 * np.max(ts / ty)),
    }


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m lutsearch.hw.surrogate.build_random", description=__doc__)
    # not the shipped file by default: that one also holds trained rows (lutsearch calibrate rebuild)
    ap.add_argument("--out", type=Path, help="calibration file to write (required unless --check)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--networks", type=int, default=84)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--cache-dir", default=None, help="unit cache folder (default: the synthesis cache)")
    ap.add_argument("--check", type=int, default=0, help="held-out designs to compare instead of building")
    ap.add_argument("--calibration", type=Path, default=None, help="with --check: the file to check")
    args = ap.parse_args(argv)
    if args.check:
        cal = Calibration.load(args.calibration) if args.calibration else Calibration.default()
        rows = compare(cal, random_networks(args.seed + 1000, args.check, **HELD_OUT), jobs=args.jobs)
        for r in rows:
            print(r)
        print(summary(rows))
        return
    if args.out is None:
        ap.error("--out is required (the shipped calibration.csv is written by `lutsearch calibrate rebuild`)")
    t0 = time.perf_counter()
    cal = build(args.seed, args.networks, jobs=args.jobs, cache_dir=args.cache_dir)
    path = cal.save(args.out)
    print(f"{path}: {len(cal)} rows {cal.sources} in {time.perf_counter() - t0:.0f} s, fingerprint {cal.fingerprint}")


if __name__ == "__main__":
    main()
