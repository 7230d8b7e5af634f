"""Build the calibration corpus and (with ``--truth``) its whole-design Yosys ground truth; print a table.

    python -m lutsearch.calibrate.designs_cli --cache /work/corpus --truth
    python -m lutsearch.calibrate.designs_cli --cache DIR --only neuralut sparselut --datasets digits jsc

``--only``: families (a design matches its family or its group: ``sparselut`` selects the SparseLUT
designs of every family, ``logicnets`` the LogicNets ones with either connectivity). The synthesis cache
defaults to ``<cache>/synth``, so a corpus folder is self-contained. ``--json`` writes the rows and
summaries.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lutsearch.calibrate._designs import DESIGN_GRID, DesignSpec, build_designs, design_truth
from lutsearch.calibrate._summary import address_histogram, design_rows, family_summary, format_table, grid_counts

DATASETS = ("digits", "mnist", "jsc", "nid")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lutsearch.calibrate.designs_cli", description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, required=True, help="corpus folder (tables, metadata, synthesis cache)")
    p.add_argument("--only", nargs="+", metavar="FAMILY", help="families or groups to build (default: all)")
    p.add_argument("--datasets", nargs="+", choices=DATASETS, help="datasets to build (default: all)")
    p.add_argument("--names", nargs="+", metavar="GLOB", help="design name patterns (e.g. '*-jsc-*')")
    p.add_argument("--truth", action="store_true", help="also synthesize every design whole with Yosys")
    p.add_argument("--pipeline", type=int, default=1, help="register every N layers (default 1)")
    p.add_argument("--synth-cache", type=Path, help="synthesis cache (default: <cache>/synth)")
    p.add_argument("--timeout", type=float, default=600.0, help="Yosys seconds per design (default 600)")
    p.add_argument("--threads", type=int, default=1, help="torch threads while training (default 1)")
    p.add_argument("--json", type=Path, help="write rows and summaries to this JSON file")
    return p


def _selector(args: argparse.Namespace) -> Any:
    def only(spec: DesignSpec) -> bool:
        if args.only and spec.family not in args.only and spec.group not in args.only:
            return False
        if args.datasets and spec.dataset not in args.datasets:
            return False
        return not args.names or any(fnmatch.fnmatchcase(spec.name, g) for g in args.names)

    return only


def _print_summaries(designs: Sequence[Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    counts = grid_counts(designs)
    print("\ndesigns per family x dataset")
    print(f"{'family':<10}" + "".join(f"{d:>8}" for d in DATASETS) + f"{'total':>8}")
    for group in sorted(counts):
        c = counts[group]
        print(f"{group:<10}" + "".join(f"{c.get(d, 0):>8}" for d in DATASETS) + f"{sum(c.values()):>8}")
    hist = address_histogram(designs)
    print("\nlive table neurons by address width (bits: neurons)")
    print("  ".join(f"{bits}: {hist[bits]}" for bits in sorted(hist)))
    summary = family_summary(rows)
    print("\nper family: Yosys LUTs (min..max), analytic/Yosys LUT ratio (median, min..max), max depth, mean val acc")
    for family, s in summary.items():
        luts = f"{s['yosys_luts_min']:.0f}..{s['yosys_luts_max']:.0f}" if "yosys_luts_min" in s else "-"
        ratio = f"{s['ratio_median']:.2f} ({s['ratio_min']:.2f}..{s['ratio_max']:.2f})" if "ratio_median" in s else "-"
        depth = s.get("yosys_depth_max", "-")
        print(
            f"{family:<10} n={s['designs']:<3.0f} LUTs {luts:<11} ratio {ratio:<20} depth<={depth}"
            f"  acc {s['mean_val_acc']:.3f}"
        )
    return {"counts": {g: dict(c) for g, c in counts.items()}, "address_histogram": dict(hist), "families": summary}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    t0 = time.perf_counter()
    designs = build_designs(DESIGN_GRID, cache_dir=args.cache, only=_selector(args), threads=args.threads)
    build_s = time.perf_counter() - t0
    truth = None
    truth_s = 0.0
    if args.truth:
        t1 = time.perf_counter()
        synth_cache = args.synth_cache or args.cache / "synth"
        truth = design_truth(
            designs, pipeline=args.pipeline, cache_dir=synth_cache, timeout=args.timeout, progress=print
        )
        truth_s = time.perf_counter() - t1
    rows = design_rows(designs, truth)
    print()
    print(format_table(rows))
    summaries = _print_summaries(designs, rows)
    print(f"\n{len(designs)} designs; build {build_s:.0f} s" + (f", synthesis {truth_s:.0f} s" if args.truth else ""))
    if args.json:
        payload = {"rows": rows, **summaries, "build_seconds": build_s, "truth_seconds": truth_s}
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
