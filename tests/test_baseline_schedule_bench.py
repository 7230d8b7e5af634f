"""benchmarks/baseline_schedule.py: its overrides fail in one line before anything trains."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

bs = pytest.importorskip("baseline_schedule")


def test_prelude_override_is_refused_for_a_baseline_without_a_grouping_phase(tmp_path):
    with pytest.raises(SystemExit, match=r"polylut_mnist: --prelude-epochs: .*no dense grouping phase"):
        bs.train_at("polylut_mnist", 1, 0, 1, tmp_path, prelude=1)
    assert not any(tmp_path.iterdir())  # nothing written, nothing trained


def test_every_published_accuracy_names_a_shipped_baseline():
    stems = {p.stem for p in (bs.REPO / "spaces" / "baselines").glob("*.yaml")}
    assert set(bs.PUBLISHED_ACCURACY) <= stems
    assert all(0.5 < acc < 1 and source for acc, source in bs.PUBLISHED_ACCURACY.values())


def test_training_subset_is_refused_for_a_non_mnist_baseline(tmp_path):
    with pytest.raises(SystemExit, match=r"neuralut_jsc_2l: --train-subset: only MNIST"):
        bs.train_at("neuralut_jsc_2l", 1, 0, 1, tmp_path, subset=100)
    assert not any(tmp_path.iterdir())
