"""The study end to end on a local Ray: counts, storage contents, artifacts, failures, pruning, status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from helpers import small_space as _space
from optuna.trial import TrialState

from lutsearch.search import RunOptions, count_done, load_existing_study, run_study
from lutsearch.space import SpaceError, load_space


def test_failures_are_recorded_and_study_goes_on(tmp_path):
    plugin = tmp_path / "flaky.py"
    plugin.write_text(
        "from lutsearch.objectives import register_objective\n"
        "def flaky(ctx, **_):\n"
        "    if ctx.metrics['live_neurons'] % 2:\n"
        "        raise RuntimeError('odd number of live neurons')\n"
        "    return float(ctx.metrics['live_neurons'])\n"
        "register_objective('flaky_neurons', 'minimize', 'test', flaky, default=True)\n"
    )
    path = _space(tmp_path, "flaky", extra=f"plugins: [{plugin.name}]")
    text = path.read_text().replace("objectives: [accuracy, luts, depth]", "objectives: [accuracy, flaky_neurons]")
    text = text.replace('constraints: ["luts <= 100000"]', "")
    path.write_text(text)
    space = load_space(path)
    summary = run_study(space, RunOptions(trials=6, workers=1, runs_dir=tmp_path / "runs", executor="inprocess"))
    study = summary.handle.study
    assert summary.done == 6
    states = [t.state for t in study.trials]
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert TrialState.FAIL in states and TrialState.COMPLETE in states, states
    for t in failed:
        assert "odd number of live neurons" in t.user_attrs["error"]
        assert (Path(t.user_attrs["artifact_dir"]) / "error.txt").is_file()


def test_a_streak_of_failed_trials_stops_the_study_in_one_line(tmp_path, monkeypatch):
    """Something under every trial is broken (here an objective that always raises; in the field a Ray
    runtime that died): the driver stops after a streak of failures instead of recording failures forever
    (they never count toward --trials), and says how to resume."""
    from lutsearch.search import StudyError, _driver

    monkeypatch.setattr(_driver, "MAX_FAILED_STREAK", 3)
    plugin = tmp_path / "broken.py"
    plugin.write_text(
        "from lutsearch.objectives import register_objective\n"
        "def broken(ctx, **_):\n"
        "    raise RuntimeError('the cost backend is gone')\n"
        "register_objective('broken_cost', 'minimize', 'test', broken, default=True)\n"
    )
    path = _space(tmp_path, "broken", extra=f"plugins: [{plugin.name}]")
    path.write_text(
        path.read_text().replace("objectives: [accuracy, luts, depth]", "objectives: [accuracy, broken_cost]")
    )
    with pytest.raises(StudyError, match="the last 3 trials all failed") as err:
        run_study(load_space(path), RunOptions(trials=10, workers=1, runs_dir=tmp_path / "runs", executor="inprocess"))
    assert "\n" not in str(err.value) and "the cost backend is gone" in str(err.value) and "resume" in str(err.value)
    study = load_existing_study(tmp_path / "runs" / "broken").study
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3


def test_infeasible_designs_pruned_without_training(tmp_path):
    """Every design over the limit: each is pruned with its reason, none counts toward --trials, and the
    driver stops with one line once a long streak of draws yielded nothing trainable."""
    from lutsearch.search._driver import MAX_UNTRAINED_STREAK

    path = _space(tmp_path, "prune")
    path.write_text(path.read_text().replace("limits: {max_address_bits: 12}", "limits: {max_address_bits: 4}"))
    space = load_space(path)
    with pytest.raises(SpaceError, match="all pruned before training") as err:
        run_study(space, RunOptions(trials=3, runs_dir=tmp_path / "runs", executor="inprocess"))
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    study = optuna.load_study(study_name="prune", storage=f"sqlite:///{tmp_path / 'runs' / 'prune' / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == MAX_UNTRAINED_STREAK and {t.state for t in trials} == {TrialState.PRUNED}
    assert all("exceeds limit 4" in t.user_attrs["prune_reason"] for t in trials)
    assert count_done(study) == 0
    assert not (tmp_path / "runs" / "prune" / "trials").exists()  # nothing was trained


def test_resume_adds_only_missing_trials_and_reseeds(tmp_path):
    space = load_space(_space(tmp_path, "again"))
    opts = RunOptions(trials=2, runs_dir=tmp_path / "runs", executor="inprocess")
    first = run_study(space, opts).handle.study
    before = {t.number: (t.values, t.params) for t in first.trials}
    opts.trials = 4
    study = run_study(space, opts).handle.study
    assert len(study.trials) == 4
    for number, (values, params) in before.items():
        assert study.trials[number].values == values and study.trials[number].params == params
    # a re-seeded sampler does not replay the first trials' parameters
    assert [t.params for t in study.trials[2:]] != [t.params for t in study.trials[:2]]
    opts.trials = 3  # target already met: nothing runs
    assert len(run_study(space, opts).handle.study.trials) == 4


def test_status_command_prints_front(tmp_path):
    space = load_space(_space(tmp_path, "stat"))
    run_study(space, RunOptions(trials=2, runs_dir=tmp_path / "runs", executor="inprocess"))
    proc = subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", "status", str(tmp_path / "runs" / "stat")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "trials 2/2" in proc.stdout and "Pareto front" in proc.stdout and "accuracy" in proc.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", "status", str(tmp_path / "runs" / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no study here" in missing.stderr and "Traceback" not in missing.stderr


def test_study_refuses_changed_objectives(tmp_path):
    from lutsearch.search import StudyError

    path = _space(tmp_path, "obj")
    run_study(load_space(path), RunOptions(trials=1, runs_dir=tmp_path / "runs", executor="inprocess"))
    path.write_text(path.read_text().replace("[accuracy, luts, depth]", "[accuracy, luts]"))
    with pytest.raises(StudyError, match="has objectives"):
        run_study(load_space(path), RunOptions(trials=2, runs_dir=tmp_path / "runs", executor="inprocess"))


def test_optuna_storage_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    space = load_space(_space(tmp_path, "url"))
    run_study(space, RunOptions(trials=1, runs_dir=tmp_path / "runs", storage=url, executor="inprocess"))
    assert len(optuna.load_study(study_name="url", storage=url).trials) == 1
    assert load_existing_study(storage=url, study_name="url").study.trials[0].state == TrialState.COMPLETE
