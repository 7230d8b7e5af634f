"""Online confirmation (issue #13 part 3): Yosys confirms designs in the background while a study runs."""

from __future__ import annotations

import json

import pytest
from helpers import require_yosys, small_space

from lutsearch.search import RunOptions, run_study, status_renderable
from lutsearch.search._confirm import confirmations, residual
from lutsearch.search._report import confirmed_rows
from lutsearch.space import SpaceError, load_space


def _yosys_or_skip():
    require_yosys()


def _confirm_space(tmp_path, mode: str):
    path = small_space(tmp_path, f"confirm_{mode}")
    text = path.read_text().replace(
        "objectives: [accuracy, luts, depth]",
        f"objectives: [accuracy, {{name: luts, via: analytic, options: {{confirm: {mode}, confirm_fraction: 0.0}}}}]",
    )
    path.write_text(text)
    return load_space(path)


def test_confirmed_values_equal_a_direct_export(tmp_path):
    """Every complete design is confirmed (``confirm: all``); the numbers equal the export's Yosys run."""
    _yosys_or_skip()
    from lutsearch.export import export_design

    space = _confirm_space(tmp_path, "all")
    summary = run_study(space, RunOptions(trials=5, runs_dir=tmp_path / "runs", executor="inprocess"))
    study = summary.handle.study
    done = confirmations(study)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert complete and {t.number for t in complete} <= set(done)
    for t in complete:
        assert t.user_attrs["hw_luts_analytic"] == t.values[1]  # the model's number, kept with the trial
        saved = json.loads((tmp_path / "runs" / space.name / "trials" / str(t.number) / "hw_confirm.json").read_text())
        assert saved == done[t.number]
    best = study.best_trials[0]
    report = export_design(summary.handle.study_dir, tmp_path / "export", trial=best.number, simulate=False)
    assert done[best.number]["luts"] == report["hardware"]["luts"] and report["on_front"]
    off = [t for t in complete if t.number not in {b.number for b in study.best_trials}]
    assert off  # seeded: of 5 designs, one is dominated
    # any complete trial exports (issue #13 part 6), and the report says it is off the front
    report = export_design(summary.handle.study_dir, tmp_path / "off", trial=off[0].number, simulate=False)
    assert not report["on_front"] and done[off[0].number]["luts"] == report["hardware"]["luts"]
    rows = confirmed_rows(study)
    assert {r["trial"] for r in rows} == {t.number for t in complete} and any(r["confirmed_front"] for r in rows)
    assert {r["family"] for r in rows} == {"logicnets"}  # a fixed family is a user attribute, not a param
    fit = residual(study, "analytic")
    assert fit["n"] == len(complete) and fit["mape"] >= 0
    assert study.user_attrs["surrogate_residual"]["n"] == len(complete)
    text = str(status_renderable(study).renderables[-1].title)
    assert "Confirmed by Yosys" in text


def test_front_mode_confirms_front_designs_only(tmp_path):
    _yosys_or_skip()
    space = _confirm_space(tmp_path, "front")
    study = run_study(space, RunOptions(trials=3, runs_dir=tmp_path / "runs", executor="inprocess")).handle.study
    done = set(confirmations(study))
    front = {t.number for t in study.best_trials}
    assert front <= done  # every design that is on the front at the end was confirmed when it entered
    assert done <= {t.number for t in study.trials if t.state.name == "COMPLETE"}


def test_bad_confirm_option_is_one_line(tmp_path):
    path = small_space(tmp_path, "bad_confirm")
    path.write_text(
        path.read_text().replace(
            "objectives: [accuracy, luts, depth]", "objectives: [accuracy, {name: luts, options: {confirm: maybe}}]"
        )
    )
    with pytest.raises(SpaceError, match=r"objectives\[1\]\.options\.confirm: 'maybe'; allowed: off, front, all$"):
        load_space(path)
