"""`lutsearch analyze` and `lutsearch status --json` on one small real study with complete, infeasible,
pruned (before training and at a rung) and failed trials: summary.json, PNG sizes, and the HTML report
drawn by a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
from helpers import require_yosys, small_space
from optuna.trial import TrialState

from lutsearch.analyze import DPI, HEIGHT_PX, WIDTH_PX
from lutsearch.search import RunOptions, open_study, run_study
from lutsearch.space import load_space

CHROMIUM = "/usr/bin/chromium"
MAX_LUTS = 250  # the enqueued big design is over it (infeasible), the small ones under it
TRAINED = 8  # complete trials: the least PED-ANOVA importances are computed for (MIN_IMPORTANCE_TRIALS)


def _space(tmp: Path) -> Path:
    path = small_space(tmp, "ana", max_luts=MAX_LUTS)
    text = path.read_text()
    text = text.replace("  family: logicnets\n", "  family: {choices: [logicnets, polylut]}\n")
    text = text.replace("  params:\n", "  when: {polylut: {degree: {int: [1, 2]}}}\n  params:\n")
    text = text.replace(
        "objectives: [accuracy, luts, depth]",
        "objectives: [accuracy, {name: luts, options: {confirm: front}}, latency_ns]",
    )
    text = text.replace("max_address_bits: 12", "max_address_bits: 8")  # fan-in 5 x 2 bits: pruned untrained
    text = text.replace("epochs: 2,", "epochs: 1,")  # fast: the report does not care how good the designs are
    path.write_text(text)
    return path


def _inject(study: optuna.Study) -> None:
    """A failed trial and one stopped at a rung, told as the driver tells them (lutsearch.search._driver)."""
    failed = study.ask()
    failed.set_user_attr("error", "RuntimeError: injected failure")
    study.tell(failed, state=TrialState.FAIL)
    stopped = study.ask()
    stopped.set_user_attr("prune_reason", "stopped at rung 0 (3 epochs): injected")
    study.tell(stopped, state=TrialState.PRUNED)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analyze")
    space = load_space(_space(tmp))
    handle = open_study(space, runs_dir=tmp / "runs")
    common = {"family": "logicnets", "input_bits": 2, "input_fan_in": 4}
    handle.study.enqueue_trial({**common, "widths.count": 2, "widths.0": 48, "widths.1": 48})  # over MAX_LUTS
    handle.study.enqueue_trial({**common, "input_bits": 1, "input_fan_in": 3, "widths.count": 1, "widths.0": 16})
    handle.study.enqueue_trial({**common, "input_fan_in": 5, "widths.count": 1, "widths.0": 16})  # 10 address bits
    small_polylut = {"family": "polylut", "polylut.degree": 1, "input_bits": 1, "input_fan_in": 3}
    handle.study.enqueue_trial({**small_polylut, "widths.count": 1, "widths.0": 24})
    run_study(space, RunOptions(trials=TRAINED, runs_dir=tmp / "runs", executor="inprocess"))
    study_dir = tmp / "runs" / "ana"
    _inject(optuna.load_study(study_name="ana", storage=f"sqlite:///{study_dir / 'study.db'}"))
    out = tmp / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", "analyze", str(study_dir), "--out", str(out), "--open"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BROWSER": "true"},  # --open must not start a real browser in tests
    )
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="ana", storage=f"sqlite:///{study_dir / 'study.db'}")
    return study, study_dir, out, proc.stdout


def _dominates(a, b) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def _expected_front(study: optuna.Study) -> list[int]:
    signs = [-1 if d == optuna.study.StudyDirection.MAXIMIZE else 1 for d in study.directions]
    feasible = [
        t for t in study.get_trials(states=(TrialState.COMPLETE,)) if all(v <= 0 for v in t.constraints.values())
    ]
    losses = {t.number: [s * v for s, v in zip(signs, t.values)] for t in feasible}
    return sorted(n for n, a in losses.items() if not any(_dominates(b, a) for m, b in losses.items() if m != n))


def test_summary_counts_and_front(built):
    study, study_dir, out, stdout = built
    summary = json.loads((out / "summary.json").read_text())
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    infeasible = [t for t in complete if any(v > 0 for v in t.constraints.values())]
    untrained = [t for t in trials if t.state == TrialState.PRUNED and t.user_attrs.get("pruned_before_training")]
    counts = summary["counts"]
    assert counts["complete"] == len(complete) >= 8
    assert counts["infeasible"] == len(infeasible) >= 1
    assert counts["feasible"] == len(complete) - len(infeasible) >= 1
    assert counts["pruned_before_training"] == len(untrained) >= 1
    assert counts["pruned_at_rung"] == 1 and counts["failed"] == 1
    assert counts["total"] == len(trials)
    assert summary["study"] == "ana" and summary["dataset_variant"] == "digits-sklearn"
    assert [o["name"] for o in summary["objectives"]] == ["accuracy", "luts", "latency_ns"]
    front = summary["front"]
    assert [r["trial"] for r in front] == _expected_front(study)
    by_number = {t.number: t for t in complete}
    confirmed = {int(k.split(":")[1]) for k in study.user_attrs if k.startswith("yosys:")}
    for row in front:
        t = by_number[row["trial"]]
        assert row["values"]["accuracy"] == t.values[0] and row["luts"] == t.values[1] <= MAX_LUTS
        assert row["test_acc"] == t.user_attrs["test_acc"] and row["dataset_variant"] == "digits-sklearn"
        assert row["confirmed"] == (row["trial"] in confirmed)
        assert (
            row["export_command"]
            == f"lutsearch export {study_dir} --trial {row['trial']} --out build/ana-t{row['trial']}"
        )
    assert any(r["confirmed"] for r in front)  # confirm: front had Yosys check every front design
    hv = summary["hypervolume"]
    assert hv["final"] > 0 and len(hv["reference_point"]) == 3
    assert hv["reference_point"][0] < min(t.values[0] for t in complete)  # worse than every accuracy
    for name, imp in summary["importances"].items():
        assert imp["reason"] is None and abs(sum(imp["values"].values()) - 1) < 1e-6, name
        assert "fewer than the 5 Optuna advises" in imp["caveat"]  # 8 trials: indicative only
    assert summary["question"] is None
    assert summary["figures"]["png_size_px"] == [WIDTH_PX, HEIGHT_PX] and summary["figures"]["png_dpi"] == DPI
    assert f"front {len(front)} design(s)" in stdout and "report.html" in stdout


def test_pngs_have_the_stated_size(built):
    from PIL import Image

    _, _, out, _ = built
    names = json.loads((out / "summary.json").read_text())["figures"]["png"]
    assert set(names) == {"pareto.png", "accuracy_cost.png", "hypervolume.png"}
    for name in names:
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.size == (WIDTH_PX, HEIGHT_PX), name
            assert len(img.convert("L").getcolors(maxcolors=1 << 16) or []) > 10  # something was drawn


def test_status_json_matches_the_summary(built):
    study, study_dir, out, _ = built
    proc = subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", "status", str(study_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)  # stdout is the JSON and nothing else
    summary = json.loads((out / "summary.json").read_text())
    assert status["study"] == study.study_name and status["dataset_variant"] == "digits-sklearn"
    assert status["counts"] == summary["counts"] and status["front"] == summary["front"]


def test_missing_study_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", "analyze", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no study here" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--window-size=1400,1000",
        "--virtual-time-budget=10000",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def _near(pixels: np.ndarray, rgb, tol: int = 40) -> int:
    """How many pixels lie within ``tol`` of ``rgb`` in every channel."""
    return int((np.abs(pixels.astype(int) - np.array(rgb)) <= tol).all(axis=-1).sum())


def _assert_report_drawn(study: optuna.Study, out: Path, tmp_path: Path) -> dict:
    """The report in ``out`` opened by a real headless Chromium: a screenshot shows the Pareto plot drawn
    (each front family's markers in its colour), the DOM holds plotly's SVG with a point per trial, and
    nothing is loaded from a CDN. Returns summary.json."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} not installed (.ci/install_hw.sh installs it)")
    from PIL import Image

    from lutsearch.analyze._style import family_colors

    html = (out / "report.html").read_text()
    scripts = re.findall(r"<script[^>]*>", html)
    assert not [s for s in scripts if "src=" in s], scripts  # plotly.js inline: nothing loaded from a CDN
    assert html.count("Plotly.newPlot") >= 4
    url = (out / "report.html").resolve().as_uri()
    shot = tmp_path / "shot.png"
    proc = _chromium(f"--screenshot={shot}", url, tmp=tmp_path)
    assert shot.is_file(), proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    palette = family_colors([t.params["family"] for t in study.get_trials(states=(TrialState.COMPLETE,))])
    colors = {f: palette[f] for f in {r["family"] for r in summary["front"]}}  # families on the front
    with Image.open(shot) as img:
        # the Pareto plot's axes, right under the header, left of the legend (whose swatches would also match)
        plot = np.asarray(img.convert("RGB").crop((0, 130, 1080, 640)))
    drawn = plot.shape[0] * plot.shape[1] - _near(plot, (255, 255, 255), 8)
    assert drawn > 5000, drawn  # axes, grid, labels, markers: not an empty page
    assert colors
    for family, color in colors.items():
        rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
        n = _near(plot, rgb)
        assert n >= 40, (family, color, n)  # its front markers are drawn in its colour
    dom = _chromium("--dump-dom", url, tmp=tmp_path).stdout
    assert 'class="main-svg"' in dom
    # one marker path per complete trial in the Pareto plot alone, more in the other scatter plots
    assert dom.count('class="point"') >= summary["counts"]["complete"]
    return summary


def test_report_draws_in_a_headless_browser(built, tmp_path):
    study, _, out, _ = built
    _assert_report_drawn(study, out, tmp_path)


@pytest.mark.slow  # 132 s in CI's default step on 2 cores (2026-12-02); CI runs it in its slow step
def test_readme_demo_report_in_a_headless_browser(tmp_path, capsys):
    """The README's demo space, run and analyzed through the CLI as a user would (4 trials): the run ends
    with the analyze command, which writes a report that Chromium draws, with Yosys-confirmed points."""
    from lutsearch.cli import main

    require_yosys()  # the demo's front is confirmed by Yosys during the run
    space = Path(__file__).resolve().parents[1] / "spaces" / "digits.yaml"
    runs = tmp_path / "runs"
    assert (
        main(["run", str(space), "--trials", "4", "--executor", "inprocess", "--quiet", "--runs-dir", str(runs)]) == 0
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"report: lutsearch analyze {runs / 'digits'} --open"
    assert main(["analyze", str(runs / "digits")]) == 0
    study = optuna.load_study(study_name="digits", storage=f"sqlite:///{runs / 'digits' / 'study.db'}")
    summary = _assert_report_drawn(study, runs / "digits" / "report", tmp_path)
    assert summary["dataset_variant"] == "digits-sklearn"
    assert any(r["confirmed"] for r in summary["front"])  # Yosys confirmed the front during the run


def test_report_without_complete_trials(tmp_path):
    """Only failed and pruned trials (no values): every section is written, with its reason; storage URL form."""
    from lutsearch.analyze import build_report

    url = f"sqlite:///{tmp_path / 'other.db'}"
    study = optuna.create_study(storage=url, study_name="empty", directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["accuracy", "luts"])
    _inject(study)
    result = build_report(None, tmp_path / "out", storage=url, study_name="empty")
    summary = json.loads(result.summary.read_text())
    assert summary["front"] == [] and summary["counts"]["failed"] == 1 and summary["counts"]["complete"] == 0
    assert summary["hypervolume"]["reason"] == "no feasible complete trial"
    assert all("0 complete trials" in i["reason"] for i in summary["importances"].values())
    assert "the front is empty" in result.html.read_text()
    assert len(result.pngs) == 2  # no hypervolume history to draw


def test_question_study_gets_its_answer(tmp_path):
    """A question study (paired grid on input_bits): the answer (lutsearch.analyze._questions) is in the
    page's Question section, in summary.json and in the result's lines."""
    from lutsearch.analyze import build_report

    path = small_space(tmp_path, "qa", extra="question: {knob: input_bits, levels: [1, 2], reference: 1, seeds: 2}")
    text = path.read_text().replace("    input_bits: {int: [1, 2]}\n", "    input_bits: 1\n")
    path.write_text(text.replace("epochs: 2,", "epochs: 1,"))  # the answer's numbers do not matter here
    space = load_space(path)
    run_study(space, RunOptions(trials=space.question.n_trials, runs_dir=tmp_path / "runs", executor="inprocess"))
    result = build_report(tmp_path / "runs" / "qa")
    assert result.question_lines and "input_bits" in result.question_lines[0]
    question = json.loads(result.summary.read_text())["question"]
    assert question["lines"] == list(result.question_lines)
    page = result.html.read_text()
    assert "<h2>Question</h2>" in page and result.question_lines[0] in page
