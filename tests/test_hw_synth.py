"""Yosys synthesis: pipelining, the three modes, the unit cache, the UltraScale+ flow and the
synthesis-backed objectives. Skipped only when Yosys is absent outside CI."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import require_yosys

from lutsearch.hw import synthesize
from lutsearch.hw.synth import register_counts

BENCHMARKS = str(Path(__file__).resolve().parents[1] / "benchmarks")  # published_designs.py
if BENCHMARKS not in sys.path:
    sys.path.append(BENCHMARKS)
from published_designs import random_network


@pytest.fixture(scope="module", autouse=True)
def yosys():
    return require_yosys()


def net6(seed=0):
    # 6 address bits per neuron (3 inputs x 2 bits): one LUT6 level and one LUT per output bit
    return random_network(
        16,
        [12, 8, 6, 4],
        input_bits=2,
        hidden_bits=2,
        output_bits=2,
        input_fan_in=3,
        fan_in=3,
        output_fan_in=3,
        seed=seed,
    )


@pytest.mark.parametrize("pipeline,stage_depths", [(0, [4]), (1, [1, 1, 1, 1]), (2, [2, 2])])
def test_pipelining_changes_registers_and_stage_depth(tmp_path, pipeline, stage_depths):
    net = net6()
    res = synthesize(net, pipeline=pipeline, mode="design", cache_dir=False, workdir=tmp_path)
    live = sum(int(l.sum()) for l in net.live_neurons())
    assert res.stage_depths == stage_depths and res.depth == max(stage_depths)
    assert res.luts == 2 * live  # one LUT6 per output bit of every live neuron
    assert res.lut_sizes["6"] == res.luts
    assert res.ffs == register_counts(net, pipeline)
    if pipeline == 0:
        assert res.ffs == 0
    assert (tmp_path / "synth.ys").is_file() and res.tool_version.startswith("Yosys")


def test_neuron_and_layer_modes_match_design_and_cache(tmp_path):
    net = net6(1)
    ref = synthesize(net, pipeline=1, mode="design", cache_dir=False)
    cache = tmp_path / "cache"
    neuron = synthesize(net, pipeline=1, mode="neuron", cache_dir=cache, jobs=2)
    assert neuron.luts == ref.luts and neuron.stage_depths == ref.stage_depths and neuron.ffs == ref.ffs
    assert neuron.cached_units == 0 and neuron.units > 0
    again = synthesize(net, pipeline=1, mode="neuron", cache_dir=cache)
    assert again.cached_units == again.units and again.luts == neuron.luts
    layer = synthesize(net, pipeline=2, mode="layer", cache_dir=cache)
    assert layer.luts == ref.luts and layer.stage_depths == [2, 2]


def test_xilinx_flow_reports_lut6_and_ffs():
    net = random_network(
        8, [6, 3], input_bits=2, hidden_bits=2, output_bits=2, input_fan_in=4, fan_in=3, output_fan_in=3, seed=2
    )  # 8-bit tables in layer 0 -> MUXF7 or 2 levels
    res = synthesize(net, pipeline=1, mode="design", flow="xilinx", cache_dir=False)
    assert res.luts > 0 and res.ffs == register_counts(net, 1)
    assert res.lut_sizes.get("6", 0) > 0 and res.depth >= 1


def test_synthesis_objectives_share_one_run(tmp_path):
    from lutsearch.objectives import EvalContext, evaluate_objective

    net = net6(2)
    ctx = EvalContext(network=net, metrics={"val_acc": 0.5}, workdir=tmp_path)
    opts = {"pipeline": 1, "cache_dir": str(tmp_path / "cache")}
    luts = evaluate_objective("luts", ctx, via="synthesis", **opts)
    depth = evaluate_objective("lut_depth", ctx, via="synthesis", **opts)
    lat = evaluate_objective("latency_ns", ctx, via="synthesis", **opts)
    fmax = evaluate_objective("fmax_mhz", ctx, via="synthesis", **opts)
    assert len([k for k in ctx.cache if k.startswith("hw:synthesis")]) == 1
    report = json.loads((tmp_path / "hw_synthesis.json").read_text())
    assert report["luts"] == luts and depth == 4  # 4 layers x 1 LUT level
    assert lat == pytest.approx(4 * 1000.0 / fmax)
    analytic = evaluate_objective("latency_ns", ctx)  # analytic default: same depth for 6-bit tables
    assert analytic == pytest.approx(lat)
    assert np.isfinite(evaluate_objective("fmax_mhz", ctx))
