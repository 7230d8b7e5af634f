"""Delay-model calibration against every published Vivado result in ``published_designs.PUBLISHED_DESIGNS``.

Designs: LogicNets JSC-S/M/L and NID-S/M/L (Xilinx README, xcu280, Vivado 2019.2), PolyLUT-Add (authors'
README), NeuraLUT, PolyLUT and NeuraLUT-Assemble (comparison tables of later papers), all xcvu9p /
Vivado 2020.1 for the Imperial flow. Each is rebuilt from its architecture as tables of X = fan_in *
in_bits address bits (PolyLUT-Add: the sub-neuron tables, then the adder table of A * sub_bits bits, in
the same register stage: the published cycle counts equal the layer counts, pipelining "strategy-2").

Depth of a table, two proxies (as ``benchmarks/cost_model.py``):
  (a) raw: the Yosys+ABC LUT depth of a random X-input table (per distinct (X, Y) shape, ``--sample``
      random neurons, 1 for X >= 14; per-neuron unit cache); X >= 16 is not synthesized:
      ``lutsearch.hw.estimate.lut_depth`` (the measured table, +1 level per 2 bits) is used instead;
  (b) compression-matched: trained tables compress (published LUTs / LogicNets formula over the
      expected live neurons = c <= 1); a table of X bits is given the depth ``lut_depth(X_eff)`` of the
      smallest width X_eff whose formula cost reaches c times its own.
Stage depth = the sum of its layers' depths (a PolyLUT-Add layer: sub-neuron + adder). Timed stages:
the Imperial and LogicNets flows register each layer's *input* and leave the last layer's output
combinational to the ports, and their OOC constraints are only ``create_clock`` (no I/O delays), so the
last stage is not timed (default ``--io untimed``); ``--io timed`` counts it.

Fit: period = t_reg + t_level * depth by least squares over the designs flagged ``fit`` (primary and
secondary sources; the 2023 LogicNets README rows and third-party transcriptions are cross-checks).
Prints per-design Fmax and latency errors, mean/max per family, per population (xcu280 vs xcvu9p) and
overall, leave-one-family-out errors, and the shipped constants' errors. Never asserts.
Default run: a few minutes cold on 2 cores (the X = 15 shapes dominate), seconds with a warm cache.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from lutsearch.hw import synthesize
from lutsearch.hw.estimate import logicnets_lut_cost, lut_depth
from lutsearch.hw.timing import (
    ULTRASCALE_PLUS,
    XCU280_LOGICNETS,
    DelayModel,
    fit_delay_model,
)
from lutsearch.tables import TableLayer, TruthTableNetwork

sys.path.insert(0, str(Path(__file__).resolve().parent))  # published_designs, when not run as a script
from published_designs import FAMILIES, PUBLISHED_DESIGNS, PublishedDesign

SYNTH_MAX_X = 15  # X >= 16: lut_depth (no synthesis)
# The constants shipped before this calibration (a LogicNets-only fit), for comparison.
PREVIOUS = DelayModel(t_level_ns=0.377, t_reg_ns=0.169, source="previous ULTRASCALE_PLUS (LogicNets-only fit)")


def cost(x: int, y: int) -> float:
    return float(logicnets_lut_cost(x, y))


def shape_stats(shapes: set[tuple[int, int]], sample: int, jobs: int, timeout: float) -> dict:
    """Yosys LUTs and depth of random (X, Y) tables (``sample`` neurons; 1 for X >= 14)."""
    out = {}
    for x, y in sorted(shapes):
        if x > SYNTH_MAX_X:
            out[(x, y)] = {"luts": cost(x, y), "depth": lut_depth(x), "seconds": 0.0, "how": "lut_depth"}
            print(f"  shape X={x:2d} Y={y}: not synthesized, lut_depth {lut_depth(x)}")
            continue
        n = 1 if x >= 14 else sample
        rng = np.random.default_rng(1000 * x + y)
        layer = TableLayer(np.tile(np.arange(x), (n, 1)), rng.integers(0, 1 << y, size=(n, 1 << x)), 1, y, False, False)
        t0 = time.perf_counter()
        res = synthesize(TruthTableNetwork(x, 1, [layer]), pipeline=1, mode="neuron", jobs=jobs, timeout=timeout)
        est = res.estimated_units > 0 or res.estimated
        out[(x, y)] = {
            "luts": res.luts / n,
            "depth": res.depth,
            "seconds": time.perf_counter() - t0,
            "how": "analytic (timeout)" if est else f"yosys x{n}",
        }
        print(
            f"  shape X={x:2d} Y={y}: {out[(x, y)]['luts']:8.1f} LUTs/neuron (formula {cost(x, y):8.1f}), "
            f"depth {res.depth} (lut_depth {lut_depth(x)}), {out[(x, y)]['seconds']:.1f} s"
            f"{' ESTIMATED: timeout' if est else ''}",
            flush=True,
        )
    return out


def expected_live(d: PublishedDesign) -> list[float]:
    """Expected live neurons per layer under random connectivity (each neuron of layer i+1 reads
    ``distinct_inputs`` distinct signals of layer i; every output neuron is live)."""
    live = [0.0] * len(d.layers)
    live[-1] = float(d.layers[-1].n_out)
    for i in range(len(d.layers) - 2, -1, -1):
        n, nxt = d.layers[i].n_out, d.layers[i + 1]
        p = 1.0 - (1.0 - min(1.0, nxt.distinct_inputs / n)) ** live[i + 1]
        live[i] = n * p
    return live


def formula_luts(d: PublishedDesign) -> float:
    return sum(
        lv * sum(t.count / layer.n_out * cost(t.x, t.y) for t in layer.tables)
        for layer, lv in zip(d.layers, expected_live(d))
    )


def x_eff(x: int, y: int, c: float) -> int:
    target = c * cost(x, y)
    return next((xx for xx in range(1, x + 1) if cost(xx, y) >= target), x)


def design_depths(d: PublishedDesign, stats: dict, proxy: str, io: str) -> tuple[int, list[int]]:
    """(depth of the slowest timed stage, all stage depths) with depth proxy 'a' or 'b'."""
    c = min(1.0, d.luts / formula_luts(d))
    layer_d = []
    for layer in d.layers:
        if proxy == "a":
            layer_d.append(sum(int(stats[(t.x, t.y)]["depth"]) for t in layer.tables))
        else:
            layer_d.append(sum(lut_depth(x_eff(t.x, t.y, c)) for t in layer.tables))
    stage_d = [sum(layer_d[i] for i in s) for s in d.stages]
    timed = stage_d if io == "timed" or len(stage_d) == 1 else stage_d[:-1]
    return max(timed), stage_d


def population(d: PublishedDesign) -> str:
    return "xcu280/2019.2" if d.part.startswith("xcu280") else "xcvu9p/2020.1"


def fmax_err(model: DelayModel, depth: int, d: PublishedDesign) -> float:
    return (model.fmax_mhz([depth]) - d.fmax_mhz) / d.fmax_mhz * 100.0


def summarize(label: str, errs: list[float]) -> str:
    if not errs:
        return f"{label}: -"
    a = np.abs(errs)
    return (
        f"{label}: mean |err| {a.mean():5.1f} %, max {a.max():5.1f} %, mean signed {np.mean(errs):+6.1f} % (n={len(a)})"
    )


def evaluate(designs: list[PublishedDesign], depths: dict[str, int], model: DelayModel) -> dict[str, float]:
    return {d.name: fmax_err(model, depths[d.name], d) for d in designs}


def report(designs, depths, stage_d, model: DelayModel, title: str) -> None:
    print(
        f"\n{title}: period = {model.t_reg_ns:.3f} ns + {model.t_level_ns:.3f} ns x depth "
        f"(cap {model.fmax_cap_mhz:.0f} MHz)"
    )
    print(
        f"{'design':28s} {'family':11s} {'tier':4s} {'fit':3s} {'stage depths':>22s} {'d':>2s} {'Fmax pub':>8s} "
        f"{'Fmax mod':>8s} {'err %':>6s} {'cyc':>4s} {'lat pub':>7s} {'lat mod':>7s} {'err %':>6s}"
    )
    for d in designs:
        dep = depths[d.name]
        fm = model.fmax_mhz([dep])
        lat_m = d.cycles * 1e3 / fm
        lat_p = d.latency_ns_published
        print(
            f"{d.name:28s} {d.family:11s} {d.tier:4s} {'y' if d.fit else '-':3s} {stage_d[d.name]!s:>22s} "
            f"{dep:2d} {d.fmax_mhz:8.1f} {fm:8.1f} {(fm - d.fmax_mhz) / d.fmax_mhz * 100:+6.1f} "
            f"{d.cycles:3d}{'*' if d.cycles_derived else ' '} {lat_p:7.2f} {lat_m:7.2f} "
            f"{(lat_m - lat_p) / lat_p * 100:+6.1f}"
        )
    fit = [d for d in designs if d.fit]
    errs = evaluate(designs, depths, model)
    print(summarize("  overall (fit set)", [errs[d.name] for d in fit]))
    for fam in FAMILIES:
        print(summarize(f"  {fam:11s}", [errs[d.name] for d in fit if d.family == fam]))
    for pop in ("xcu280/2019.2", "xcvu9p/2020.1"):
        print(summarize(f"  {pop}", [errs[d.name] for d in fit if population(d) == pop]))
    print(summarize("  cross-check rows (not fitted)", [errs[d.name] for d in designs if not d.fit]))


def lofo(designs, depths) -> list[str]:
    """Leave-one-family-out: fit on the other families' fit rows, error on the held-out family's."""
    fit = [d for d in designs if d.fit]
    lines, all_errs = [], []
    for fam in FAMILIES:
        train = [d for d in fit if d.family != fam]
        test = [d for d in fit if d.family == fam]
        if not test:
            continue
        m = fit_delay_model([depths[d.name] for d in train], [1e3 / d.fmax_mhz for d in train])
        m = DelayModel(m.t_level_ns, m.t_reg_ns, ULTRASCALE_PLUS.fmax_cap_mhz)
        e = [fmax_err(m, depths[d.name], d) for d in test]
        all_errs += e
        lines.append(summarize(f"  held out {fam:11s} (fit {m.t_reg_ns:.3f} + {m.t_level_ns:.3f} d)", e))
    lines.append(summarize("  all held-out errors", all_errs))
    return lines


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=2, help="random neurons per table shape (1 for X >= 14)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--proxy", choices=("a", "b"), default="b", help="depth proxy of the detailed tables")
    ap.add_argument(
        "--io",
        choices=("untimed", "timed"),
        default="untimed",
        help="whether the last (combinational-to-port) stage is timed",
    )
    return ap.parse_args()


def print_compression(designs: list[PublishedDesign]) -> None:
    """Published LUTs against the formula over expected live neurons (c), and each layer's table widths."""
    print(f"\n{'design':28s} {'population':14s} {'LUTs pub':>9s} {'formula':>10s} {'c':>6s} {'X per layer'}")
    for d in designs:
        f = formula_luts(d)
        xs = ["+".join(str(t.x) for t in layer.tables) for layer in d.layers]
        print(f"{d.name:28s} {population(d):14s} {d.luts:9d} {f:10.0f} {min(1, d.luts / f):6.3f} {' '.join(xs)}")


def fit_variants(designs: list[PublishedDesign], stats: dict) -> dict:
    """(proxy, io) -> ({design: (slowest timed stage depth, stage depths)}, {design: slowest timed stage
    depth}, least-squares model) for the four variants."""
    results = {}
    for proxy in ("a", "b"):
        for io in ("untimed", "timed"):
            dd = {d.name: design_depths(d, stats, proxy, io) for d in designs}
            depths = {k: v[0] for k, v in dd.items()}
            fit = [d for d in designs if d.fit]
            m = fit_delay_model([depths[d.name] for d in fit], [1e3 / d.fmax_mhz for d in fit])
            m = DelayModel(
                m.t_level_ns,
                m.t_reg_ns,
                ULTRASCALE_PLUS.fmax_cap_mhz,
                source=f"fit to {len(fit)} designs, proxy ({proxy}), last stage {io}",
            )
            results[(proxy, io)] = (dd, depths, m)
    return results


def print_variants(designs: list[PublishedDesign], results: dict) -> None:
    print("\nAll four variants (fit set errors on Fmax):")
    for (proxy, io), (_, depths, m) in results.items():
        errs = evaluate([d for d in designs if d.fit], depths, m)
        old = evaluate([d for d in designs if d.fit], depths, PREVIOUS)
        print(
            f"  ({proxy}) last stage {io:7s}: {m.t_reg_ns:.3f} + {m.t_level_ns:.3f} d; "
            + summarize("new", list(errs.values())).split(": ", 1)[1]
            + f"; previous constants mean {np.mean(np.abs(list(old.values()))):.1f} %"
        )


def print_other_constants(designs: list[PublishedDesign], depths: dict[str, int]) -> None:
    """Errors of XCU280_LOGICNETS and of the constants shipped before this calibration."""
    fit = [d for d in designs if d.fit]
    for label, model in (("XCU280_LOGICNETS", XCU280_LOGICNETS), ("previous constants", PREVIOUS)):
        e = evaluate(fit, depths, model)
        print(f"\n{label} ({model.t_reg_ns} + {model.t_level_ns} d):")
        print(summarize("  overall (fit set)", list(e.values())))
        for pop in ("xcu280/2019.2", "xcvu9p/2020.1"):
            print(summarize(f"  {pop}", [e[d.name] for d in fit if population(d) == pop]))


def print_population_fits(designs: list[PublishedDesign], depths: dict[str, int]) -> None:
    print("\nPer-population fits (does the part/tool version shift the constants?):")
    for pop in ("xcu280/2019.2", "xcvu9p/2020.1"):
        sub = [d for d in designs if d.fit and population(d) == pop]
        other = [d for d in designs if d.fit and population(d) != pop]
        pm = fit_delay_model([depths[d.name] for d in sub], [1e3 / d.fmax_mhz for d in sub])
        pm = DelayModel(pm.t_level_ns, pm.t_reg_ns, ULTRASCALE_PLUS.fmax_cap_mhz)
        print(
            f"  fit on {pop}: {pm.t_reg_ns:.3f} + {pm.t_level_ns:.3f} d; "
            + summarize("own", [fmax_err(pm, depths[d.name], d) for d in sub]).split(": ", 1)[1]
            + "; on the other population: "
            + summarize("x", [fmax_err(pm, depths[d.name], d) for d in other]).split(": ", 1)[1]
        )


def main() -> None:
    args = parse_args()
    designs = list(PUBLISHED_DESIGNS.values())
    shapes = {(t.x, t.y) for d in designs for t in d.tables}
    print(
        f"{len(designs)} published designs ({sum(d.fit for d in designs)} fitted); synthesizing "
        f"{len(shapes)} random table shapes ..."
    )
    stats = shape_stats(shapes, args.sample, args.jobs, args.timeout)
    print_compression(designs)
    results = fit_variants(designs, stats)
    print_variants(designs, results)

    dd, depths, m = results[(args.proxy, args.io)]
    stage_d = {k: v[1] for k, v in dd.items()}
    report(designs, depths, stage_d, m, f"Least-squares fit, proxy ({args.proxy}), last stage {args.io}")
    report(designs, depths, stage_d, ULTRASCALE_PLUS, "Shipped constants (lutsearch.hw.timing.ULTRASCALE_PLUS)")
    print_other_constants(designs, depths)

    print(f"\nLeave-one-family-out, proxy ({args.proxy}), last stage {args.io}:")
    print("\n".join(lofo(designs, depths)))
    print_population_fits(designs, depths)


if __name__ == "__main__":
    main()
