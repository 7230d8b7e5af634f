"""Delay model (lutsearch.hw.timing) and the published-design calibration records (benchmarks/published_designs.py).

Fast: no synthesis.
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from lutsearch.hw.estimate import lut_depth
from lutsearch.hw.timing import (
    ULTRASCALE_PLUS,
    DelayModel,
    fit_delay_model,
    fmax_mhz,
    latency_ns,
    period_ns,
)

BENCHMARKS = str(Path(__file__).resolve().parents[1] / "benchmarks")  # published_designs.py
if BENCHMARKS not in sys.path:
    sys.path.append(BENCHMARKS)
from published_designs import (
    FAMILIES,
    LOGICNETS_BASELINES,
    PUBLISHED_DESIGNS,
    Layer,
    PublishedDesign,
)

DESIGNS = list(PUBLISHED_DESIGNS.values())


def test_fit_recovers_known_constants():
    rng = np.random.default_rng(0)
    depths = rng.integers(1, 9, size=40).tolist()
    exact = [0.31 + 0.42 * d for d in depths]
    m = fit_delay_model(depths, exact)
    assert m.t_reg_ns == pytest.approx(0.31) and m.t_level_ns == pytest.approx(0.42)
    noisy = [p + rng.normal(0, 0.01) for p in exact]
    m = fit_delay_model(depths, noisy)
    assert abs(m.t_reg_ns - 0.31) < 0.02 and abs(m.t_level_ns - 0.42) < 0.005


def test_fit_rejects_degenerate_data():
    with pytest.raises(ValueError):
        fit_delay_model([3], [1.0])
    with pytest.raises(ValueError):
        fit_delay_model([2, 2, 2], [1.0, 1.1, 0.9])


def test_period_fmax_latency_monotonic_and_capped():
    m = ULTRASCALE_PLUS
    periods = [period_ns([d], m) for d in range(12)]
    assert all(b >= a for a, b in itertools.pairwise(periods))
    assert periods[-1] > periods[0]
    fmaxes = [fmax_mhz([d], m) for d in range(12)]
    assert all(b <= a for a, b in itertools.pairwise(fmaxes))
    assert max(fmaxes) <= m.fmax_cap_mhz + 1e-9
    # the slowest stage sets the period; more stages of the same depth: proportionally more latency
    assert period_ns([1, 5, 2], m) == period_ns([5], m)
    lat = [latency_ns([3] * s, m) for s in range(1, 8)]
    assert all(b > a for a, b in itertools.pairwise(lat))
    assert latency_ns([3] * 4, m) == pytest.approx(4 * period_ns([3], m))
    assert latency_ns([], m) == pytest.approx(period_ns([], m))  # k = 0: one stage
    # the cap holds for shallow stages and with a fast custom model
    fast = DelayModel(t_level_ns=0.01, t_reg_ns=0.01, fmax_cap_mhz=800.0)
    assert fmax_mhz([0], fast) == pytest.approx(800.0) and fmax_mhz([3], fast) == pytest.approx(800.0)
    assert period_ns([1], fast) == pytest.approx(1.25)


def test_shipped_constants_are_physical():
    m = ULTRASCALE_PLUS
    assert 0.1 < m.t_level_ns < 1.0 and 0.0 < m.t_reg_ns < 2.0 and m.fmax_cap_mhz > 0
    assert m.source
    assert m.fmax_mhz([1]) <= m.fmax_cap_mhz and m.fmax_mhz([6]) < m.fmax_mhz([1])


@pytest.mark.parametrize("d", DESIGNS, ids=[d.name for d in DESIGNS])
def test_published_record_well_formed(d: PublishedDesign):
    assert d.family in FAMILIES and d.tier in ("P", "S", "T") and d.source and d.part and d.vivado
    assert d.fmax_mhz > 0 and d.luts > 0 and d.cycles >= 1
    assert d.primary == (d.tier == "P")
    if d.tier == "T":
        assert not d.fit  # third-party transcriptions are cross-checks only
    if d.latency_ns is not None:
        assert d.latency_ns > 0
        if d.cycles_derived:  # derived cycles = round(latency * Fmax)
            assert d.cycles == round(d.latency_ns * d.fmax_mhz / 1e3)
    # the architecture chains: a layer's input width is the previous layer's output width
    assert d.layers and d.layers[0].in_bits == d.input_bits
    n_prev = d.n_inputs
    for prev, layer in zip((None, *d.layers), d.layers):
        if prev is not None:
            assert layer.in_bits == prev.out_bits
        assert 1 <= layer.distinct_inputs <= n_prev
        n_prev = layer.n_out
    # stage widths X = fan_in * in_bits (+ the adder table of A * sub_bits bits)
    for layer in d.layers:
        tabs = layer.tables
        assert tabs[0].x == layer.fan_in * layer.in_bits and tabs[-1].y == layer.out_bits
        if layer.adds:
            assert len(tabs) == 2 and tabs[1].kind == "adder" and tabs[1].x == layer.adds * layer.sub_bits
            assert tabs[0].count == layer.n_out * layer.adds and tabs[0].y == layer.sub_bits
        else:
            assert len(tabs) == 1 and tabs[0].count == layer.n_out
    # register stages cover every layer once, in order, and match the cycle count
    stages = d.stages
    assert [i for s in stages for i in s] == list(range(len(d.layers)))
    assert len(stages) == d.cycles
    assert all(t.x <= 16 or lut_depth(t.x) > 0 for t in d.tables)


def test_published_set_covers_the_seed_papers():
    fams = {d.family for d in DESIGNS if d.fit}
    assert fams == set(FAMILIES)
    assert sum(d.fit for d in DESIGNS) >= 15
    assert {d.part.split(" ")[0] for d in DESIGNS} == {"xcu280-fsvh2892-2L-e", "xcvu9p-flgb2104-2-i"}
    # PolyLUT-Add rows are the authors' README (primary); JSC-XL-Add2: 7-bit inputs of fan-in 1 per
    # sub-neuron, 10-bit hidden sub-neurons, 12-bit adder tables (2 x (5 + 1) bits)
    xl = PUBLISHED_DESIGNS["polylut-add-jsc-xl-add2"]
    assert xl.primary and sorted({(t.x, t.kind) for t in xl.tables}) == [(7, "lut"), (10, "lut"), (12, "adder")]
    assert xl.fmax_mhz == 315 and xl.latency_ns == 16.0 and xl.cycles == 5


def test_logicnets_records_agree_with_baselines():
    for name, b in LOGICNETS_BASELINES.items():
        d = PUBLISHED_DESIGNS[f"logicnets-{name}"]
        assert d.fit and d.primary and d.part.startswith("xcu280") and d.vivado == "2019.2"
        assert (d.luts, d.ffs, d.fmax_mhz, d.cycles) == (b.luts, b.ffs, b.fmax_mhz, b.latency_cycles)
        assert [layer.n_out for layer in d.layers] == list(b.widths)
        fan = [b.input_fan_in] + [b.fan_in] * (len(b.widths) - 2) + [b.output_fan_in]
        assert [layer.fan_in for layer in d.layers] == fan
        assert d.latency_ns_published == pytest.approx(b.latency_ns)
        assert "1a4fb734" in b.source or "6aec7caf" in b.source
        repeat = PUBLISHED_DESIGNS[f"logicnets-{name}@2023"]
        assert not repeat.fit and repeat.layers == d.layers and "9cda4a9b" in repeat.source


def test_layer_tables_and_nla_structure():
    assert Layer(10, 3, 2, 2).tables[0].x == 6
    nla = PUBLISHED_DESIGNS["nla-jsc-cernbox-fmax"]
    assert [layer.n_out for layer in nla.layers] == [320, 160, 80, 40, 20, 10, 5]
    assert {t.x for t in nla.tables} == {6} and nla.layers[-1].out_bits == 8
    lat = PUBLISHED_DESIGNS["nla-jsc-cernbox-latency"]
    assert lat.layers == nla.layers and [len(s) for s in lat.stages] == [4, 3]
    assert math.isclose(lat.latency_ns * lat.fmax_mhz / 1e3, 2.0, abs_tol=0.05)
