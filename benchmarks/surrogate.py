"""The ``surrogate`` cost backend against whole-design Yosys on trained designs it never saw (issue #13).

For every trained design of the calibration corpus (``lutsearch.calibrate.build_designs``: every
family on digits, MNIST, jsc-pythia and nid-testpart, cached) this measures, side by side in one run:

* the ground truth: whole-design Yosys (``synthesize(mode="design", pipeline=1)``, the export's flow);
* the surrogate, refitted without the held-out group: the random/structured rows of the shipped
  calibration plus the per-unit Yosys rows of every *other* group's designs (leave-one-family-out, then
  leave-one-dataset-out: a held-out design's own tables never enter its fit);
* the analytic LogicNets formula (``lutsearch.hw.estimate``) on the same designs.

Printed per held-out group: designs, LUT MAPE and Spearman of the surrogate and of the formula, the
slowest stage's LUT depth exact / off by one / worse, and the time per design of the surrogate next
to Yosys' (targets: MAPE <= 10 %, Spearman >= 0.95, depth exact on >= 90 % and never off by more
than 1, time <= 1 % of Yosys').

Run: ``LUTSEARCH_DATA_DIR=../shared/data python benchmarks/surrogate.py [--corpus DIR] [--jobs N]``.
The first run trains the corpus and synthesizes it (tens of minutes on two cores); later runs read
the caches.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from lutsearch.calibrate import build_designs, design_truth
from lutsearch.calibrate._fidelity import fidelity_lines, held_out_scores, summarize
from lutsearch.hw.surrogate import Calibration, unit_rows
from lutsearch.models._native.choice import cpu_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "lutsearch" / "corpus")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores")
    synth = args.corpus / "synth"  # the corpus' own synthesis cache (lutsearch.calibrate.designs_cli)
    designs = build_designs(cache_dir=args.corpus, progress=lambda line: None)
    truth = design_truth(designs, cache_dir=synth, progress=print)
    t0 = time.perf_counter()
    rows = {
        d.name: unit_rows([(d.network, f"trained:{d.group}:{d.dataset}")], cache_dir=synth, jobs=args.jobs)
        for d in designs
    }
    print(f"per-unit Yosys rows of the corpus: {time.perf_counter() - t0:.0f} s (cached after the first run)")
    base = [r for r in Calibration.default().rows if not r.source.startswith("trained:")]
    print(f"{len(designs)} trained designs ({len(truth)} synthesized), {len(base)} random/structured rows")
    by_family = held_out_scores(designs, truth, rows, base, lambda d: d.group)
    print("\n".join(["", *fidelity_lines("leave one family out", by_family)]))
    by_dataset = held_out_scores(designs, truth, rows, base, lambda d: d.dataset)
    print("\n".join(["", *fidelity_lines("leave one dataset out", by_dataset)]))
    every = summarize([s for group in by_family.values() for s in group])
    ratio = every["surrogate_ms"] / 1000.0 / every["yosys_s"]
    print(f"\nsurrogate time per design / Yosys time per design: {100 * ratio:.3f} % (target <= 1 %)")


if __name__ == "__main__":
    main()
