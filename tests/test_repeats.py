"""A design sampled again after it was trained is not trained again (lutsearch.search._repeats): real
studies on digits over a space of exactly two designs."""

from __future__ import annotations

import pytest
from helpers import small_space
from optuna.trial import TrialState

from lutsearch.search import RunOptions, count_done, load_existing_study, run_study
from lutsearch.search._driver import MAX_UNTRAINED_STREAK
from lutsearch.search._report import counts_line, study_counts
from lutsearch.search._rung_sampler import as_observed
from lutsearch.space import SpaceError, load_space


def _space(tmp_path, name, repeats=""):
    """``helpers.small_space`` cut down to one free knob of two values (input_bits 1 or 2): two designs."""
    path = small_space(tmp_path, name)
    text = path.read_text()
    for old, new in (
        ("widths: {per_layer: {count: {int: [1, 2]}, int: [16, 48]}}", "widths: [16]"),
        ("input_fan_in: {int: [3, 5]}", "input_fan_in: 3"),
        ("sampler: {name: random}", f"sampler: {{name: random{repeats}}}"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


def test_repeats_reuse_the_trained_result_and_do_not_count(tmp_path):
    """Both designs trained, then a study asking for a third trained design: every draw repeats one of the two,
    none is trained, each carries its original's number, values and constraint values, the sampler sees it
    complete with those values, and the driver stops in one line once nothing new can be drawn."""
    path = _space(tmp_path, "two")
    space = load_space(path)
    opts = RunOptions(trials=2, runs_dir=tmp_path / "runs", executor="inprocess")
    first = run_study(space, opts).handle.study
    trained = [t for t in first.trials if t.state == TrialState.COMPLETE]
    assert sorted(t.params["input_bits"] for t in trained) == [1, 2]
    opts.trials = 3
    with pytest.raises(SpaceError, match="all pruned before training") as err:
        run_study(space, opts)
    assert "\n" not in str(err.value) and "repeat of trial" in str(err.value)
    study = load_existing_study(tmp_path / "runs" / "two").study
    assert count_done(study) == 2
    by_number = {t.number: t for t in study.trials}
    repeats = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert len(repeats) >= MAX_UNTRAINED_STREAK
    for t in repeats:
        original = by_number[t.user_attrs["repeat_of"]]
        assert original.state == TrialState.COMPLETE and original.params == t.params
        assert t.user_attrs["repeat_values"] == original.values
        assert t.constraints == original.constraints and t.constraints
        assert t.user_attrs["prune_reason"].startswith(f"repeat of trial {original.number}")
        seen = as_observed(t)
        assert seen.state == TrialState.COMPLETE and seen.values == original.values
    trial_dirs = sorted(p.name for p in (tmp_path / "runs" / "two" / "trials").iterdir())
    assert trial_dirs == sorted(str(t.number) for t in trained)  # nothing else was trained
    assert [t.number for t in study.best_trials if t.user_attrs.get("repeat_of") is not None] == []
    counts = study_counts(study)
    assert counts["reused"] == len(repeats) and counts["done"] == 2
    assert f"(pruned before training {len(repeats)}, of which repeats reused {len(repeats)})" in counts_line(counts)


def test_repeats_train_trains_every_draw(tmp_path):
    """``sampler: {repeats: train}``: four trained trials of a two-design space, so at least two repeats,
    all trained and counted."""
    space = load_space(_space(tmp_path, "again", ", repeats: train"))
    assert space.sampler_repeats == "train"
    study = run_study(space, RunOptions(trials=4, runs_dir=tmp_path / "runs", executor="inprocess")).handle.study
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert not [t for t in study.trials if "repeat_of" in t.user_attrs]


def test_bad_repeats_value_is_one_line(tmp_path):
    path = _space(tmp_path, "bad", ", repeats: sometimes")
    with pytest.raises(SpaceError) as err:
        load_space(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "sampler.repeats" in message
    assert "reuse, train" in message
