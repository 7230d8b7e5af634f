"""A design sampled again after it was trained is not trained again (lutsearch.search._repeats): real
studies on digits over a space of exactly two designs."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from lutsearch.search import RunOptions, count_done, load_existing_study, run_study
from lutsearch.search._driver import MAX_UNTRAINED_STREAK
from lutsearch.search._rung_sampler import as_observed
from lutsearch.space import SpaceError, load_space

TWO_DESIGNS = """
name: {name}
seed: 5
dataset: {{name: digits, val_fraction: 0.15}}
model:
  family: logicnets
  params:
    widths: [16]
    input_bits: {{int: [1, 2]}}
    hidden_bits: 2
    output_bits: 3
    input_fan_in: 3
    fan_in: 3
    output_fan_in: 4
train: {{epochs: 1, batch_size: 64, lr: 1.0e-2, min_steps: 0, min_batches: 1}}
objectives: [accuracy, luts, depth]
constraints: ["luts <= 100000"]
sampler: {{name: random{repeats}}}
limits: {{max_address_bits: 12}}
"""


def _space(tmp_path, name, repeats=""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(TWO_DESIGNS.format(name=name, repeats=repeats))
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
