"""``lutsearch calibrate``: a study's designs extend a calibration; another tool's per-unit numbers
re-target it; units are written for that tool; bad input is one line."""

from __future__ import annotations

import csv

import pytest
from helpers import require_yosys, small_space

from lutsearch.cli import main
from lutsearch.search import RunOptions, run_study
from lutsearch.space import load_space


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    require_yosys()
    tmp = tmp_path_factory.mktemp("cal")
    space = load_space(small_space(tmp, "calstudy"))
    return run_study(space, RunOptions(trials=2, runs_dir=tmp / "runs", executor="inprocess")).handle.study_dir


def test_study_units_and_import_round_trip(study_dir, tmp_path, capsys):
    from lutsearch.hw.surrogate import Calibration

    base = tmp_path / "base.csv"
    assert main(["calibrate", "study", str(study_dir), "--out", str(base)]) == 0
    extended = Calibration.load(base)
    ours = [r for r in extended.rows if r.source.startswith("study:calstudy:")]
    assert ours and len(extended) > len(ours)  # the shipped rows plus the study's units
    assert main(["calibrate", "units", str(tmp_path / "units"), "--study", str(study_dir)]) == 0
    with open(tmp_path / "units" / "units.csv") as fh:
        units = list(csv.DictReader(fh))
    assert {u["key"] for u in units} >= {r.key for r in ours}
    assert all((tmp_path / "units" / f"{u['key']}.v").is_file() for u in units)
    vendor = tmp_path / "vendor.csv"  # "another tool" counts one LUT more per unit
    with open(vendor, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["key", "luts"])
        for r in ours:
            writer.writerow([r.key, r.luts + 1])
        writer.writerow(["not-a-unit", 3])
    out = tmp_path / "vendor_cal.csv"
    assert main(["calibrate", "import", str(vendor), "--base", str(base), "--out", str(out)]) == 0
    short = tmp_path / "short.csv"  # the short form reads against the calibration in use (here: base)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUTSEARCH_CALIBRATION", str(base))
        assert main(["calibrate", "--from", str(vendor), "--out", str(short)]) == 0
    assert short.read_text() == out.read_text()
    text = capsys.readouterr().out
    assert f"{len(ours)} of {len(ours) + 1} units matched" in text and "1 keys not in the base" in text
    retargeted = {r.key: r for r in Calibration.load(out).rows}
    for r in ours:
        assert retargeted[r.key].luts == r.luts + 1 and retargeted[r.key].source == "import:vendor.csv"


def test_bad_inputs_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("unit,count\nx,1\n")
    assert main(["calibrate", "import", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing column(s) key, luts" in err
    assert main(["calibrate", "study", str(tmp_path), "--out", str(tmp_path / "o.csv")]) == 2
    assert "no complete trial with saved tables" in capsys.readouterr().err
    assert main(["calibrate"]) == 2
    assert "give a verb" in capsys.readouterr().err
