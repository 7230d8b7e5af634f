"""RTL generation, vector I/O, bit analysis, timing model and the no-Yosys fallback (no tools needed)."""

import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from lutsearch.hw import generate_rtl, stage_plan, synthesize, write_memfiles
from lutsearch.hw.analysis import address_dependence, constant_bits, used_bits
from lutsearch.hw.estimate import lut_depth
from lutsearch.hw.rtl import table_literals
from lutsearch.hw.sim import read_vectors, write_vectors
from lutsearch.hw.timing import DelayModel, fit_delay_model, latency_ns
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork

BENCHMARKS = str(Path(__file__).resolve().parents[1] / "benchmarks")  # published_designs.py
if BENCHMARKS not in sys.path:
    sys.path.append(BENCHMARKS)
from published_designs import LOGICNETS_BASELINES, random_network


def small_net(seed=0):
    return random_network(
        12, [10, 6, 4], input_bits=2, hidden_bits=2, output_bits=3, input_fan_in=3, fan_in=2, output_fan_in=3, seed=seed
    )


def test_stage_plan():
    assert stage_plan(5, 1) == [[0], [1], [2], [3], [4]]
    assert stage_plan(5, 2) == [[0, 1], [2, 3], [4]]
    assert stage_plan(5, 0) == [[0, 1, 2, 3, 4]]
    with pytest.raises(ValueError):
        stage_plan(3, -1)


@pytest.mark.parametrize("style,module_per", [("table", "layer"), ("case", "neuron")])
def test_rtl_deterministic_and_widths(tmp_path, style, module_per):
    net = small_net()
    a = generate_rtl(net, tmp_path / "a", pipeline=2, style=style, module_per=module_per)
    generate_rtl(small_net(), tmp_path / "b", pipeline=2, style=style, module_per=module_per)
    for f in a.files + [f"{a.top}_debug.v"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    top = (tmp_path / "a" / "lutnet.v").read_text()
    assert "input  wire [23:0] in" in top and "output wire [11:0] out" in top
    assert a.stages == [[0, 1], [2]] and a.latency_cycles == 2
    layer0 = (tmp_path / "a" / "layer0.v").read_text()
    assert "module layer0 (" in layer0 and "input  wire [23:0] in" in layer0 and "output wire [19:0] out" in layer0
    if module_per == "neuron":
        assert re.search(r"module layer0_neuron\d+ \(", layer0)


def test_dead_neurons_tied_off(tmp_path):
    net = small_net(3)
    live = net.live_neurons()
    assert not live[0].all(), "fixture should have dead neurons"
    generate_rtl(net, tmp_path, pipeline=1)
    text = (tmp_path / "layer0.v").read_text()
    dead = int(np.flatnonzero(~live[0])[0])
    assert f"// dead neuron {dead}" in text
    assert text.count("localparam") == int(live[0].sum())


def test_table_literal_layout():
    t = np.array([[1, 2, 3, 0]])  # entries 0..3, 2 bits each: bits = 00 11 10 01 -> 0x39
    assert table_literals(t, 2) == ["39"]
    t = np.array([[1, 0]])  # 1-bit entries, width 2
    assert table_literals(t, 1) == ["1"]


def test_vectors_roundtrip(tmp_path):
    codes = np.random.default_rng(0).integers(0, 8, size=(50, 7))
    write_vectors(codes, 3, tmp_path / "v.hex")
    assert np.array_equal(read_vectors(tmp_path / "v.hex", 7, 3), codes)


def test_memfiles(tmp_path):
    net = small_net()
    names = write_memfiles(net, tmp_path)
    lines = (tmp_path / names[0]).read_text().splitlines()[1:]
    assert len(lines) == net.layers[0].n_out and lines[0] == table_literals(net.layers[0].tables[:1], 2)[0]


def test_bit_analysis():
    # neuron 0: output bit 1 constant 1; depends only on address bit 0
    t = np.array([[2, 3, 2, 3], [0, 1, 2, 3]])
    const, val = constant_bits(t, 2)
    assert const.tolist() == [[False, True], [False, False]] and val[0, 1]
    assert address_dependence(t, 2).tolist() == [[True, False], [True, True]]
    layer0 = TableLayer(np.array([[0], [1]]), np.array([[2, 3], [2, 2]]), 1, 2)  # neuron 1 constant 2
    layer1 = TableLayer(np.array([[0, 1]]), np.arange(16)[None] % 4, 2, 2)
    net = TruthTableNetwork(2, 1, [layer0, layer1])
    used_in, used = used_bits(net)
    assert used_in.tolist() == [[True], [False]]  # input 1 only feeds a constant neuron
    assert used[0].tolist() == [[True, False], [False, False]]


def test_adder_layer_rtl(tmp_path):
    t0 = TableLayer(np.array([[0], [1], [0]]), np.array([[0, 3], [1, 2], [3, 1]]), 1, 2, False, True)
    add = AdderLayer(np.array([[0, 1, 2]]), np.array([[True, True, True]]), 2, 4, True, True)
    net = TruthTableNetwork(2, 1, [t0, add])
    generate_rtl(net, tmp_path, pipeline=1)
    text = (tmp_path / "layer1.v").read_text()
    assert "{{2{in[1]}}, in[1:0]}" in text and " + " in text


def test_delay_model_fit_and_latency():
    m = fit_delay_model([1, 2, 4], [0.8, 1.2, 2.0])
    assert abs(m.t_level_ns - 0.4) < 1e-9 and abs(m.t_reg_ns - 0.4) < 1e-9
    model = DelayModel(0.5, 0.5, fmax_cap_mhz=10_000)
    assert latency_ns([1, 3, 2], model) == pytest.approx(3 * 2.0)
    assert lut_depth(6) == 1 and lut_depth(12) == 4


def test_missing_yosys_falls_back_with_warning():
    net = small_net()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = synthesize(net, tool="no-such-yosys-binary")
    assert res.estimated and res.luts > 0 and res.tool == "none"
    assert any("falling back to the analytic estimate" in str(w.message) for w in rec)


def test_hardware_report_is_typed_and_round_trips(monkeypatch):
    import dataclasses
    import json

    from lutsearch.hw import HardwareReport
    from lutsearch.hw.estimate import analytic_result
    from lutsearch.objectives import EvalContext, _registry, evaluate_objective
    from lutsearch.objectives import synthesis as hw_objectives

    monkeypatch.setattr(_registry, "_OBJECTIVES", dict(_registry._OBJECTIVES))  # the test backend stays local
    monkeypatch.setattr(hw_objectives, "HW_BACKENDS", dict(hw_objectives.HW_BACKENDS))

    net = small_net()
    rep = analytic_result(net, 2)
    assert isinstance(rep, HardwareReport) and rep.estimated and rep.backend == "analytic"
    assert rep.total_depth == sum(rep.layer_depths) and rep.depth == max(rep.stage_depths)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.luts = 0.0
    data = json.loads(json.dumps(rep.to_dict()))
    assert HardwareReport.from_dict(data) == rep
    old = {k: v for k, v in data.items() if k not in ("total_depth", "backend", "options")}  # an older file
    assert HardwareReport.from_dict(old).total_depth == rep.total_depth
    # a backend written from the documented minimum (no total_depth) serves every hardware objective
    hw_objectives.register_hw_backend("test_minimal", lambda ctx, **_: {"luts": 5.0, "stage_depths": [2, 3]})
    ctx = EvalContext(network=net, metrics={"val_acc": 0.5})
    assert evaluate_objective("lut_depth", ctx, via="test_minimal") == 5.0
    assert evaluate_objective("luts", ctx, via="test_minimal") == 5.0


def test_baselines_match_published_architectures():
    b = LOGICNETS_BASELINES["jsc-m"]
    assert b.widths == (64, 32, 32, 32, 5) and b.fan_in * b.hidden_bits == 12
    assert b.latency_ns == pytest.approx(5 * 1000 / 596.66)


def test_simplify_constants_is_equivalent():
    from lutsearch.hw.analysis import simplify_constants

    layer0 = TableLayer(np.array([[0], [1]]), np.array([[2, 3], [2, 2]]), 1, 2)  # neuron 1 constant
    layer1 = TableLayer(np.array([[0, 1]]), np.arange(16)[None] % 4, 2, 2)
    net = TruthTableNetwork(2, 1, [layer0, layer1])
    simple = simplify_constants(net)
    codes = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    assert np.array_equal(simple.evaluate(codes), net.evaluate(codes))
    assert simple.layers[1].tables.tolist() == [[2, 3] * 8]  # only input 0's low bit still matters
    rnd = small_net(5)
    codes = np.random.default_rng(0).integers(0, 4, size=(200, rnd.n_inputs))
    assert np.array_equal(simplify_constants(rnd).evaluate(codes), rnd.evaluate(codes))
