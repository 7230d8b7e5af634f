"""Warm start: which baselines fit a space, and the enqueued trials draw exactly the baseline's model."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import pytest
import yaml

from lutsearch.models import resolve_params
from lutsearch.search import WarmStartError, enqueue_warm_start, plan_warm_start
from lutsearch.space import SearchSpace, SpaceError, load_space

REPO = Path(__file__).resolve().parents[1]
BASELINES = REPO / "spaces" / "baselines"
OBJECTIVES = ["accuracy", "luts"]

TARGET = {
    "name": "target",
    "dataset": {"name": "jsc", "options": {"variant": "pythia"}},
    "model": {
        "family": {"choices": ["logicnets", "polylut"]},
        "params": {
            "widths": {"per_layer": {"count": {"int": [1, 3]}, "int": [8, 64], "log": True}},
            "input_bits": {"int": [1, 3]},
            "fan_in": {"int": [2, 6], "step": 2},
        },
        "when": {
            "logicnets": {"connectivity": {"choices": ["random", "sparselut"]}, "output_bits": {"choices": [2, 4]}},
            "polylut": {"degree": {"int": [1, 3]}, "input_bits": {"int": [3, 5]}},
            "connectivity=sparselut": {"sparse_T": {"float": [0.1, 0.9]}},
        },
    },
    "train": {"epochs": 5, "lr": {"float": [1.0e-3, 1.0e-2], "log": True}, "batch_size": {"choices": [128, 256]}},
    "objectives": OBJECTIVES,
}


def _baseline(family: str, train: dict | None = None, variant: str = "pythia", **params) -> dict:
    return {
        "dataset": {"name": "jsc", "options": {"variant": variant}},
        "model": {"family": family, "params": params},
        "train": train or {"epochs": 100, "lr": 2.0e-3, "batch_size": 256},
        "objectives": OBJECTIVES,
    }


def _write(folder: Path, name: str, doc: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **doc}))
    return path


def _study(space: SearchSpace) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=space.directions, sampler=space.build_sampler(0))


def _baseline_model(path: Path) -> tuple[str, dict]:
    drawn = load_space(path).sample(None)  # a single-point space never suggests
    return drawn["family"], resolve_params(drawn["family"], drawn["params"])


def _assert_enqueued_trials_reproduce(space: SearchSpace, plan, folder: Path) -> None:
    """Enqueue the plan, ask each trial back, sample it: the model is the baseline's, knob for knob."""
    study = _study(space)
    names = enqueue_warm_start(study, plan)
    assert names == [name for name, _ in plan.fits]
    files = {load_space(p).name: p for p in sorted(folder.glob("*.yaml"))}
    for name in names:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trial = study.ask()
            drawn = space.sample(trial)
        assert not [w for w in caught if "out of range" in str(w.message)]
        assert trial.user_attrs["warm_start"] == name
        family, expected = _baseline_model(files[name])
        assert drawn["family"] == family
        assert resolve_params(family, drawn["params"]) == expected
        study.tell(trial, [0.5, 100.0])


def test_fits_and_misfits_of_small_spaces(tmp_path):
    space = load_space(_write(tmp_path, "target", TARGET))
    folder = tmp_path / "baselines"
    common = {"widths": [16, 32], "fan_in": 4}
    sparse = {"connectivity": "sparselut", "sparse_T": 0.3}
    _write(folder, "a-sparse", _baseline("logicnets", input_bits=2, output_bits=4, **sparse, **common))
    _write(folder, "b-poly", _baseline("polylut", variant="openml", input_bits=5, degree=3, **common))
    _write(folder, "c-nla", _baseline("nla", widths=[16, 8], input_bits=2))
    _write(folder, "d-deep", _baseline("logicnets", widths=[16, 16, 16, 16], input_bits=2, fan_in=4))
    _write(folder, "e-wide", _baseline("logicnets", widths=[16, 100], input_bits=2, fan_in=4))
    _write(folder, "f-step", _baseline("logicnets", widths=[16], input_bits=2, fan_in=3))
    _write(folder, "g-choice", _baseline("logicnets", widths=[16], input_bits=2, fan_in=4, output_bits=3))
    _write(folder, "h-unsearched", _baseline("logicnets", widths=[16], input_bits=2, fan_in=4, hidden_bits=3))
    _write(folder, "i-mnist", {**_baseline("logicnets", widths=[16], fan_in=4), "dataset": {"name": "mnist"}})
    _write(folder, "j-range", _baseline("logicnets", widths=[16], fan_in=4, input_bits={"int": [1, 2]}))
    plan = plan_warm_start(space, folder)

    assert [name for name, _ in plan.fits] == ["a-sparse", "b-poly"]
    fits = dict(plan.fits)
    assert fits["a-sparse"]["connectivity=sparselut.sparse_T"] == 0.3
    assert fits["a-sparse"]["train.lr"] == 2.0e-3 and fits["a-sparse"]["train.batch_size"] == 256
    assert fits["b-poly"]["polylut.input_bits"] == 5 and "input_bits" not in fits["b-poly"]  # 5 is outside 1..3
    assert "epochs 100 -> 5" in plan.notes["a-sparse"]
    assert "dataset variant openml -> pythia" in plan.notes["b-poly"]
    reasons = dict(plan.misfits)
    assert reasons["c-nla"] == "family 'nla' is not among the space's (logicnets, polylut)"
    assert "has 4 layers: count outside the space's range 1..3" in reasons["d-deep"]
    assert "layer 1 (100) outside the space's range 8..64" in reasons["e-wide"]
    assert "fan_in=3 outside the space's range 2..6 step 2" in reasons["f-step"]
    assert "output_bits=3 not among the space's choices [2, 4]" in reasons["g-choice"]
    assert reasons["h-unsearched"] == "hidden_bits=3: the space does not search it (default 2)"
    assert reasons["i-mnist"] == "dataset 'mnist', the space's is 'jsc'"
    assert reasons["j-range"] == "not a single-point space: it searches input_bits"
    assert all("\n" not in r for r in reasons.values())
    _assert_enqueued_trials_reproduce(space, plan, folder)


def test_per_layer_count_named_by_a_knob_and_fixed_knobs(tmp_path):
    model = {
        "family": "neuralut",
        "params": {
            "hidden_depth": {"int": [1, 3]},
            "widths": {"per_layer": {"count": "hidden_depth", "choices": [8, 16, 32]}},
            "skip": False,
            "input_bits": 2,
        },
    }
    space = load_space(_write(tmp_path, "target", {**TARGET, "model": model}))
    folder = tmp_path / "baselines"
    _write(folder, "fits", _baseline("neuralut", widths=[16, 32], hidden_depth=2, skip=False, input_bits=2))
    _write(folder, "count", _baseline("neuralut", widths=[16, 32], hidden_depth=3, skip=False, input_bits=2))
    _write(folder, "fixed", _baseline("neuralut", widths=[16], hidden_depth=1, skip=True, input_bits=2))
    plan = plan_warm_start(space, folder)
    assert plan.fits == [
        ("fits", {"hidden_depth": 2, "widths.0": 16, "widths.1": 32, "train.lr": 2.0e-3, "train.batch_size": 256})
    ]
    reasons = dict(plan.misfits)
    assert reasons["count"] == "widths=[16, 32] has 2 layers, the space takes hidden_depth=3"
    assert reasons["fixed"] == "skip=true but the space fixes it to false"
    _assert_enqueued_trials_reproduce(space, plan, folder)


def test_list_valued_choices_are_enqueued_by_index(tmp_path):
    model = {"family": "logicnets", "params": {"widths": {"choices": [[16, 32], [32, 16]]}}}
    space = load_space(_write(tmp_path, "target", {**TARGET, "model": model}))
    folder = tmp_path / "baselines"
    _write(folder, "second", _baseline("logicnets", widths=[32, 16]))
    _write(folder, "other", _baseline("logicnets", widths=[16]))
    _write(folder, "twin", _baseline("logicnets", widths=[32, 16]))
    plan = plan_warm_start(space, folder)
    assert plan.fits == [("second", {"widths.choice": 1, "train.lr": 2.0e-3, "train.batch_size": 256})]
    reasons = dict(plan.misfits)
    assert reasons["other"] == "widths=[16] not among the space's choices [[16, 32], [32, 16]]"
    assert reasons["twin"] == "draws the same trial as second in this space"
    _assert_enqueued_trials_reproduce(space, plan, folder)


def test_training_settings_come_from_the_space(tmp_path):
    space = load_space(_write(tmp_path, "target", TARGET))
    train = {"epochs": 5, "lr": 0.5, "batch_size": 256, "patience": 4}
    path = _write(tmp_path / "b", "lr", _baseline("logicnets", train=train, widths=[16], input_bits=2, fan_in=4))
    plan = plan_warm_start(space, path)
    params = dict(plan.fits)["lr"]
    assert "train.lr" not in params and params["train.batch_size"] == 256  # 0.5 is outside: the sampler draws lr
    assert plan.notes["lr"] == [
        "lr 0.5 outside the space's range 0.001..0.01: drawn by the sampler",
        "patience 4 -> 0 (default)",
    ]


def test_enqueue_is_idempotent_on_resume(tmp_path):
    space = load_space(_write(tmp_path, "target", TARGET))
    folder = tmp_path / "baselines"
    _write(folder, "one", _baseline("logicnets", widths=[16], input_bits=2, fan_in=4))
    _write(folder, "two", _baseline("logicnets", widths=[32], input_bits=2, fan_in=4))
    plan = plan_warm_start(space, folder)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="s", directions=space.directions)
    assert enqueue_warm_start(study, plan) == ["one", "two"]
    assert enqueue_warm_start(study, plan) == []  # still waiting: not enqueued twice
    trial = study.ask()
    space.sample(trial)
    study.tell(trial, [0.5, 10.0])
    resumed = optuna.load_study(study_name="s", storage=storage)
    assert enqueue_warm_start(resumed, plan) == []
    attrs = [t.user_attrs.get("warm_start") for t in resumed.get_trials(deepcopy=False)]
    assert attrs == ["one", "two"]


def test_bad_sources_are_one_line_errors(tmp_path):
    space = load_space(_write(tmp_path, "target", TARGET))
    missing = tmp_path / "nope"
    with pytest.raises(WarmStartError, match=f"^{missing}: warm start: no such baseline file or folder$"):
        plan_warm_start(space, missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WarmStartError, match="empty: warm start: no baseline space files"):
        plan_warm_start(space, tmp_path / "empty")
    assert issubclass(WarmStartError, SpaceError)  # the CLI prints SpaceErrors in one line
    folder = tmp_path / "mixed"
    _write(folder, "ok", _baseline("logicnets", widths=[16], input_bits=2, fan_in=4))
    (folder / "broken.yaml").write_text("dataset: {name: jsc}\n")
    plan = plan_warm_start(space, folder)
    assert [name for name, _ in plan.fits] == ["ok"]
    assert plan.misfits[0][0] == "broken" and plan.misfits[0][1].startswith("invalid space file: ")


def test_warm_start_key_in_a_space_file(tmp_path):
    folder = tmp_path / "baselines"
    _write(folder, "one", _baseline("logicnets", widths=[16], input_bits=2, fan_in=4))
    space = load_space(_write(tmp_path, "target", {**TARGET, "warm_start": "baselines"}))
    assert space.warm_start == folder.resolve()
    assert [name for name, _ in plan_warm_start(space, space.warm_start).fits] == ["one"]
    assert load_space(_write(tmp_path, "plain", TARGET)).warm_start is None
    bad = _write(tmp_path, "bad", {**TARGET, "warm_start": 3})
    with pytest.raises(SpaceError, match=r"bad.yaml: warm_start: expected a path .* got 3$"):
        load_space(bad)
    gone = _write(tmp_path, "gone", {**TARGET, "warm_start": "missing/dir"})
    with pytest.raises(SpaceError, match=r"gone.yaml: warm_start: no such baseline file or folder .*missing/dir$"):
        load_space(gone)


@pytest.mark.parametrize("baseline", sorted(BASELINES.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_shipped_baseline_fits_its_own_space(baseline):
    plan = plan_warm_start(load_space(baseline), baseline)
    name = load_space(baseline).name
    assert plan.fits == [(name, {})] and plan.misfits == [] and plan.notes[name] == []


@pytest.mark.parametrize("target", ["jsc", "mnist", "nid"])
def test_shipped_baselines_against_shipped_spaces(target):
    space = load_space(REPO / "spaces" / f"{target}.yaml")
    plan = plan_warm_start(space, BASELINES)
    names = {load_space(p).name: load_space(p) for p in BASELINES.glob("*.yaml")}
    assert sorted([n for n, _ in plan.fits] + [n for n, _ in plan.misfits]) == sorted(names)
    for name, reason in plan.misfits:
        assert reason and "\n" not in reason
        if names[name].dataset["name"] != target:
            assert reason.startswith(f"dataset {names[name].dataset['name']!r}")
    _assert_enqueued_trials_reproduce(space, plan, BASELINES)
