"""The tabular search-efficiency benchmark (benchmarks/search_efficiency.py) on its committed table.

The table was built by the real trial pipeline; these tests check it still matches the grid the
benchmark proposes from (a pipeline change that adds a resolved setting makes it stale), that a replay
only proposes table rows, and the hypervolume arithmetic behind the numbers in docs/results.md.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np
import pytest

from lutsearch.space import load_space

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

se = pytest.importorskip("search_efficiency")

FINE_FRONT_HV = 1.1509  # the 4,096 grid's whole-table front, as docs/results.md quotes it


def _load(name: str):
    from search_efficiency_grid import CACHES

    space, table, columns, facts = se.grid_table(CACHES[name], name)
    ok = np.asarray([r["values"] for r in table.values() if r["status"] == "ok"], dtype=float)
    return space, table, columns, facts, ok


@pytest.fixture(scope="module")
def grid():
    return _load("1024")


@pytest.fixture(scope="module")
def fine_grid():
    return _load("4096")


def test_committed_table_covers_the_grid(grid):
    _space, table, _columns, facts, ok = grid
    assert facts["rows"] == 1024 and facts["ok"] == 1024 == len(ok)
    assert {r["family"] for r in table.values()} == {"logicnets", "polylut", "neuralut", "warp", "hgq"}


def test_the_finer_grid_is_a_superset_of_the_same_space(grid, fine_grid):
    space, table, columns, facts, ok = fine_grid
    assert facts["rows"] == 4096 and facts["ok"] == len(ok)
    assert columns == grid[2]  # the same knobs, more values of two of them
    assert set(grid[1]) <= set(table)  # every configuration of the 1,024 grid is one of the finer grid's
    told = se.replay(space, table, columns, se.Variant("random", "random", {}), seed=0, trials=40)
    assert set(told[:, 3].astype(int)) <= {int(r["index"]) for r in table.values()}
    scale = se.Scale.of(ok)
    assert se.hv_curve(scale(ok), scale.ref)[-1] == pytest.approx(FINE_FRONT_HV, abs=1e-4)  # docs/results.md


def test_build_trains_missing_rows_in_parallel(tmp_path):
    from search_efficiency_grid import build_cache, enumerate_grid, grid_columns, grid_space, load_table

    cache = tmp_path / "table.csv"
    build_cache(cache, limit=2, progress=lambda _line: None, jobs=2)
    build_cache(cache, limit=1, progress=lambda _line: None, jobs=1)  # resumes: one more row, none twice
    table = load_table(cache, grid_columns(list(enumerate_grid(grid_space()))))
    assert len(table) == 3 and all(r["status"] == "ok" for r in table.values())
    assert all(0 < r["values"][0] <= 1 and r["values"][1] > 0 for r in table.values())


def test_replay_proposes_table_rows_and_hypervolume_only_grows(grid):
    space, table, columns, _facts, ok = grid
    scale = se.Scale.of(ok)
    told = se.replay(space, table, columns, se.Variant("random", "random", {}), seed=0, trials=40)
    assert told.shape == (40, 4)
    indices = {int(r["index"]) for r in table.values()}
    assert set(told[:, 3].astype(int)) <= indices
    curve = se.hv_curve(scale(told[:, :3]), scale.ref)
    best = se.hv_curve(scale(ok), scale.ref)[-1]
    assert np.all(np.diff(curve) >= 0) and 0 < curve[-1] <= best
    assert best == pytest.approx(1.0186, abs=1e-4)  # the number docs/results.md quotes


def test_replay_reuses_repeats_as_the_driver_does(grid):
    """A configuration drawn again after it was told is not counted (lutsearch.search._repeats): every counted
    trial is a distinct table row; counting repeats too, the same seed's random study repeats rows."""
    space, table, columns, *_ = grid
    reused = se.replay(space, table, columns, se.Variant("random", "random", {}), seed=1, trials=120)
    counted = se.replay(space, table, columns, se.Variant("r", "random", {}, reuse_repeats=False), seed=1, trials=120)
    assert len(set(reused[:, 3])) == 120
    assert len(set(counted[:, 3])) < 120  # 120 draws of 1,024 rows: about 7 repeats
    rows = counted[:, 3]
    first = next(i for i in range(120) if rows[i] in rows[:i])  # the first repeated draw
    assert np.array_equal(reused[:first], counted[:first])  # the same draws until the first repeat


def test_reference_accuracy_maps_back_to_the_asked_accuracy(grid):
    *_, ok = grid
    scale = se.Scale.of(ok, ref_accuracy=0.5)
    error_at_ref = scale.lo[0] + scale.ref[0] * (scale.hi[0] - scale.lo[0])
    assert error_at_ref == pytest.approx(0.5)
    assert scale.ref[1] == scale.ref[2] == pytest.approx(1.1)
    # a design below the reference accuracy adds no hypervolume
    worse = np.array([[0.45, 20.0, 1.5]])
    assert se.hv_curve(scale(worse), scale.ref)[-1] == 0.0


def test_gap_report_lists_every_front_design(grid):
    space, table, columns, _facts, ok = grid
    scale = se.Scale.of(ok)
    out = io.StringIO()
    chosen = se.variants(se.default_sampler(), sweep=False)
    with contextlib.redirect_stdout(out):
        se.print_gaps(space, table, columns, {"default": (chosen[0], 15), "random": (chosen[2], 30)}, 1, scale)
    lines = out.getvalue().strip().splitlines()
    assert "29 front designs" in lines[0]
    rows = lines[2:]
    assert len(rows) == 29
    shares = [float(r.split()[5]) for r in rows]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0


def test_every_variant_of_the_sweep_replays(grid):
    """Every sweep variant is well formed (labels unique, fields of the right types) and the ways of drawing
    the family replay on the grid; the default follows ``spaces/jsc.yaml`` as the space loader reads it."""
    space, table, columns, *_ = grid
    variants = se.variants(se.default_sampler(), sweep=True)
    assert len({v.label for v in variants}) == len(variants)
    assert all(isinstance(v.workers, int) and isinstance(v.max_trials, int | None) for v in variants)
    default = next(v for v in variants if v.label == "default")
    shipped = load_space(se.ROOT / "spaces" / "jsc.yaml")
    assert (default.family_first, default.joint_share) == (shipped.sampler_family, shipped.sampler_joint_share)
    for v in variants:
        if v.label == "default" or v.label.startswith("family"):
            told = se.replay(space, table, columns, v, seed=0, trials=14)
            assert told.shape == (14, 4) and len(set(told[:, 3])) == 14, v.label
