"""The calibration corpus (issue #13): the grid covers every family on every dataset, designs train once
and load from the cache after, failures are skipped with a message, and ``design_truth`` is the whole-design
Yosys result."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from helpers import require_yosys

from lutsearch.calibrate import DESIGN_GRID, DesignSpec, build_designs, design_truth
from lutsearch.hw import synthesize
from lutsearch.models import family_names, family_plan, resolve_params

SHAPES = {"digits": (64, 10), "mnist": (784, 10), "jsc": (16, 5), "nid": (575, 2)}
TINY = {"input_bits": 2, "hidden_bits": 2, "output_bits": 2, "input_fan_in": 3, "fan_in": 3, "output_fan_in": 3}
SPECS = [
    DesignSpec("logicnets", "digits", "t1", {**TINY, "widths": [24]}, epochs=8),
    DesignSpec("polylut", "digits", "t2", {**TINY, "widths": [16], "degree": 2}, seed=1, epochs=8),
]


def _yosys():
    return require_yosys()


def test_grid_covers_every_family_and_dataset():
    names = [s.name for s in DESIGN_GRID]
    assert len(names) == len(set(names))
    assert 60 <= len(DESIGN_GRID) <= 120
    groups = Counter(s.group for s in DESIGN_GRID)
    assert set(groups) == set(family_names()) | {"sparselut"}
    assert min(groups.values()) >= 12
    assert {s.family for s in DESIGN_GRID if s.sparse} == {"logicnets", "polylut", "neuralut"}
    assert {(g, d) for g in groups for d in SHAPES} == {(s.group, s.dataset) for s in DESIGN_GRID}
    assert {s.params["degree"] for s in DESIGN_GRID if s.family == "polylut"} == {1, 2, 3}
    widths = set()
    for spec in DESIGN_GRID:  # every spec resolves; its planned tables stay within 14 address bits
        plans = family_plan(spec.family, resolve_params(spec.family, dict(spec.params)), *SHAPES[spec.dataset])
        widths |= {p.address_bits for p in plans}
    assert max(widths) == 14 and {2, 4, 6, 8, 10, 12} <= widths


def test_build_twice_loads_from_cache(tmp_path):
    log: list[str] = []
    first = build_designs(SPECS, cache_dir=tmp_path, progress=log.append)
    assert [d.name for d in first] == ["logicnets-digits-s0-t1", "polylut-digits-s1-t2"]
    assert all("trained" in line for line in log)
    for d in first:
        assert d.variant == "digits-sklearn" and d.epochs == 8 and d.n_train > 0
        assert d.val_acc > 0.2 and d.test_acc > 0.2  # above chance (0.1) after eight short epochs
        assert d.params["widths"] == list(next(s for s in SPECS if s.name == d.name).params["widths"])
        assert (tmp_path / d.name / "tables.npz").is_file() and (tmp_path / d.name / "design.json").is_file()
    log.clear()
    again = build_designs(SPECS, cache_dir=tmp_path, progress=log.append)
    assert all("cached" in line for line in log)
    for a, b in zip(first, again):
        assert a.network.fingerprint() == b.network.fingerprint()
        assert a.metadata() == b.metadata()
        for la, lb in zip(a.network.layers, b.network.layers):
            assert np.array_equal(la.indices, lb.indices) and np.array_equal(la.tables, lb.tables)
    log.clear()
    changed = [DesignSpec(SPECS[0].family, "digits", "t1", SPECS[0].params, epochs=9)]  # same name, other spec
    (retrained,) = build_designs(changed, cache_dir=tmp_path, progress=log.append)
    assert "trained" in log[0] and retrained.epochs == 9
    only = build_designs(SPECS, cache_dir=tmp_path, only=lambda s: s.family == "polylut", progress=log.append)
    assert [d.family for d in only] == ["polylut"]


def test_failing_design_is_skipped_with_a_message(tmp_path):
    bad = DesignSpec("logicnets", "digits", "bad", {**TINY, "widths": [8], "no_such_knob": 1}, epochs=1)
    too_wide = DesignSpec("logicnets", "digits", "wide", {**TINY, "widths": [4], "output_fan_in": 5}, epochs=1)
    log: list[str] = []
    designs = build_designs([bad, SPECS[0], too_wide], cache_dir=tmp_path, progress=log.append)
    assert [d.name for d in designs] == [SPECS[0].name]
    assert "logicnets-digits-s0-bad" in log[0] and "FAILED" in log[0] and "no_such_knob" in log[0]
    assert "logicnets-digits-s0-wide" in log[2] and "FAILED" in log[2] and "fan-in 5 exceeds" in log[2]
    with pytest.raises(ValueError, match="duplicate"):
        build_designs([SPECS[0], SPECS[0]], cache_dir=tmp_path)


def test_design_truth_is_whole_design_yosys(tmp_path):
    _yosys()
    (design,) = build_designs(SPECS[:1], cache_dir=tmp_path / "corpus", progress=lambda _: None)
    direct = synthesize(design.network, mode="design", pipeline=1, cache_dir=False)
    truth = design_truth([design], cache_dir=tmp_path / "synth")
    report = truth[design.name]
    assert report.luts == direct.luts and report.depth == direct.depth and report.mode == "design"
    assert report.cached_units == 0
    again = design_truth([design], cache_dir=tmp_path / "synth")[design.name]
    assert again.cached_units == 1 and again.luts == report.luts
    assert again.seconds == report.seconds  # the first run's time, not the cache lookup's
