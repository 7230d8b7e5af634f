"""LogicNets analytic LUT formula vs Yosys vs published Vivado results, and the delay-model calibration.

For every LogicNets baseline (Xilinx/logicnets JSC-S/M/L, NID-S/M/L) this builds the architecture with
random truth tables, synthesizes a sample of neurons of every distinct table shape (X address bits, Y
output bits) with Yosys+ABC (per-neuron units, cached), and prints

  * LUTs per neuron: formula vs Yosys (random tables: the formula is what ABC reaches),
  * whole-design LUTs: formula over live neurons, Yosys extrapolated from the sample, published Vivado
    (trained tables), and the ratios (the formula over-estimates trained designs),
  * LUT-level depth per layer and per design (k=1: the deepest layer), the least-squares fit of
    period = t_reg + t_level * depth to the published Fmax of these six designs alone, and its error.
    (The shipped constants come from ``benchmarks/calibration.py``, which fits all published designs:
    LogicNets, PolyLUT, PolyLUT-Add, NeuraLUT, NeuraLUT-Assemble; docs/hardware.md.)

Then a few random small designs synthesized whole (design mode) against the formula.
Prints, never asserts. Default run: a few minutes on 2 cores (sample=2 neurons per shape; the unit
cache makes re-runs fast). ``--sample N`` for more neurons per shape.
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
    fit_delay_model,
    fmax_mhz,
)
from lutsearch.tables import TableLayer, TruthTableNetwork

sys.path.insert(0, str(Path(__file__).resolve().parent))  # published_designs, when not run as a script
from published_designs import LOGICNETS_BASELINES, baseline_network, random_network


def shape_stats(shapes: set[tuple[int, int]], sample: int, jobs: int, timeout: float) -> dict:
    """Yosys LUTs and depth per random neuron for each (X, Y) shape (mean over ``sample`` neurons)."""
    out = {}
    for x, y in sorted(shapes):
        rng = np.random.default_rng(1000 * x + y)
        layer = TableLayer(
            np.tile(np.arange(x), (sample, 1)), rng.integers(0, 1 << y, size=(sample, 1 << x)), 1, y, False, False
        )
        net = TruthTableNetwork(x, 1, [layer])
        t0 = time.perf_counter()
        res = synthesize(net, pipeline=1, mode="neuron", jobs=jobs, timeout=timeout)
        out[(x, y)] = {
            "luts": res.luts / sample,
            "depth": res.depth,
            "seconds": time.perf_counter() - t0,
            "estimated": res.estimated_units > 0 or res.estimated,
        }
        print(
            f"  shape X={x:2d} Y={y}: Yosys {out[(x, y)]['luts']:8.1f} LUTs/neuron, formula "
            f"{float(logicnets_lut_cost(x, y)):8.1f}, depth {res.depth}, {out[(x, y)]['seconds']:.1f} s"
            f"{' (ESTIMATED: timeout)' if out[(x, y)]['estimated'] else ''}",
            flush=True,
        )
    return out


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=2, help="random neurons synthesized per table shape")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--skip-random", action="store_true", help="skip the whole-design random comparison")
    return ap.parse_args()


def formula_luts(net: TruthTableNetwork, live: list[np.ndarray]) -> float:
    """The LogicNets formula summed over the live neurons of every layer."""
    return sum(float(logicnets_lut_cost(l.address_bits, l.out_bits)) * int(lv.sum()) for l, lv in zip(net.layers, live))


def print_baselines(nets: dict[str, TruthTableNetwork], stats: dict) -> tuple[list[int], list[float], list[str]]:
    """Whole-design LUTs and depths of the baselines; returns (random-table depth, published period, name)
    per design."""
    print("\nLogicNets baselines (random tables of the published architectures; Vivado = trained, published)")
    hdr = (
        f"{'design':7s} {'live':>5s} {'formula':>9s} {'yosys~':>9s} {'vivado':>7s} {'form/viv':>8s} "
        f"{'yos/viv':>7s} {'depth':>5s} {'layer depths':>16s} {'Fmax':>7s} {'period':>6s}"
    )
    print(hdr)
    depths, periods, names = [], [], []
    for name, net in nets.items():
        b = LOGICNETS_BASELINES[name]
        live = net.live_neurons()
        formula = formula_luts(net, live)
        yos = sum(stats[(l.address_bits, l.out_bits)]["luts"] * int(lv.sum()) for l, lv in zip(net.layers, live))
        ld = [stats[(l.address_bits, l.out_bits)]["depth"] for l in net.layers]
        period = 1000.0 / b.fmax_mhz
        depths.append(max(ld))
        periods.append(period)
        names.append(name)
        print(
            f"{name:7s} {sum(int(v.sum()) for v in live):5d} {formula:9.0f} {yos:9.0f} {b.luts:7d} "
            f"{formula / b.luts:8.2f} {yos / b.luts:7.2f} {max(ld):5d} {ld!s:>16s} {b.fmax_mhz:7.1f} "
            f"{period:6.3f}"
        )
    return depths, periods, names


def compression_matched_depths(nets: dict[str, TruthTableNetwork]) -> list[int]:
    """Depth proxy (b) per design: trained tables compress (Vivado LUTs / formula = c), and a layer of X-bit
    tables costs like X_eff-bit random ones; the design's depth is its deepest layer's ``lut_depth(X_eff)``."""
    eff_depths = []
    for name, net in nets.items():
        b = LOGICNETS_BASELINES[name]
        c = min(1.0, b.luts / formula_luts(net, net.live_neurons()))
        per_layer = []
        for l in net.layers:
            target = c * float(logicnets_lut_cost(l.address_bits, l.out_bits))
            x_eff = next(
                (x for x in range(1, l.address_bits + 1) if float(logicnets_lut_cost(x, l.out_bits)) >= target),
                l.address_bits,
            )
            per_layer.append(lut_depth(x_eff))
        eff_depths.append(max(per_layer))
    return eff_depths


def print_delay_fit(label: str, names: list[str], ds: list[int], periods: list[float]) -> None:
    """The least-squares delay model on one depth proxy, and its Fmax and latency per design."""
    model = fit_delay_model(ds, periods)
    print(f"\nDelay model fit {label}: period = {model.t_reg_ns:.3f} ns + {model.t_level_ns:.3f} ns x depth")
    print(
        f"{'design':7s} {'depth':>5s} {'Fmax pub':>9s} {'Fmax mod':>9s} {'err %':>6s} {'lat pub ns':>10s} "
        f"{'lat mod ns':>10s}"
    )
    errs = []
    for name, d, _period in zip(names, ds, periods):
        b = LOGICNETS_BASELINES[name]
        pm = model.t_reg_ns + model.t_level_ns * d
        err = (1000 / pm - b.fmax_mhz) / b.fmax_mhz * 100
        errs.append(abs(err))
        print(
            f"{name:7s} {d:5d} {b.fmax_mhz:9.1f} {1000 / pm:9.1f} {err:6.1f} {b.latency_ns:10.2f} "
            f"{b.latency_cycles * pm:10.2f}"
        )
    print(f"mean |Fmax error| = {np.mean(errs):.1f} %, max = {np.max(errs):.1f} %")


def print_shipped_constants(names: list[str], eff_depths: list[int]) -> None:
    for label, d in (("ULTRASCALE_PLUS", ULTRASCALE_PLUS), ("XCU280_LOGICNETS", XCU280_LOGICNETS)):
        errs = [
            abs((fmax_mhz([dd], d) - LOGICNETS_BASELINES[n].fmax_mhz) / LOGICNETS_BASELINES[n].fmax_mhz * 100)
            for n, dd in zip(names, eff_depths)
        ]
        print(
            f"\nShipped constants lutsearch.hw.timing.{label} (t_reg {d.t_reg_ns} ns, t_level {d.t_level_ns} ns) "
            f"on depths (b), all layers timed: mean |Fmax error| {np.mean(errs):.1f} %, max {np.max(errs):.1f} %"
        )


def print_random_designs(timeout: float) -> None:
    """A few random small designs synthesized whole (design mode, k=1) against the formula."""
    print("\nRandom small designs, whole-design synthesis (k=1) vs the formula:")
    print(f"{'X':>3s} {'Y':>2s} {'live':>5s} {'formula':>8s} {'yosys':>8s} {'ratio':>6s} {'seconds':>7s}")
    for x_in, bits in [(3, 2), (4, 2), (5, 2)]:
        net = random_network(
            32,
            [32, 16, 8],
            input_bits=bits,
            hidden_bits=bits,
            output_bits=bits,
            input_fan_in=x_in,
            fan_in=x_in,
            output_fan_in=x_in,
            seed=x_in,
        )
        live = net.live_neurons()
        formula = formula_luts(net, live)
        res = synthesize(net, pipeline=1, mode="design", cache_dir=False, timeout=timeout)
        print(
            f"{x_in * bits:3d} {bits:2d} {sum(int(v.sum()) for v in live):5d} {formula:8.0f} {res.luts:8.0f} "
            f"{formula / max(res.luts, 1):6.2f} {res.seconds:7.1f}",
            flush=True,
        )


def main() -> None:
    args = parse_args()
    nets = {name: baseline_network(name) for name in LOGICNETS_BASELINES}
    shapes = {(l.address_bits, l.out_bits) for n in nets.values() for l in n.layers}
    print(f"Synthesizing {args.sample} random neuron(s) for each of {len(shapes)} table shapes ...")
    stats = shape_stats(shapes, args.sample, args.jobs, args.timeout)

    depths, periods, names = print_baselines(nets, stats)
    # Two depth proxies for the published (trained) designs: (a) the random-table depth measured above;
    # (b) the depth of the table width whose formula cost matches the published LUTs.
    eff_depths = compression_matched_depths(nets)
    for label, ds in (("(a) random-table depth", depths), ("(b) compression-matched depth", eff_depths)):
        print_delay_fit(label, names, ds, periods)
    print_shipped_constants(names, eff_depths)

    if args.skip_random:
        return
    print_random_designs(args.timeout)


if __name__ == "__main__":
    main()
