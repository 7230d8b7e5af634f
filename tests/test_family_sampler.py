"""The family is drawn first by the bandit, every other knob by the space's sampler (lutsearch.search._family_sampler)."""

from __future__ import annotations

import optuna
import pytest
import yaml
from helpers import small_space
from optuna.trial import TrialState

from lutsearch.search import RunOptions, run_study
from lutsearch.search._family_bandit import FamilyBandit
from lutsearch.search._family_sampler import JOINT_SHARE, FamilyFirstSampler, family_first
from lutsearch.search._repeat_streak import RepeatStreak
from lutsearch.search._rung_sampler import RungAwareSampler
from lutsearch.space import SpaceError, load_space

SPACE = {
    "dataset": {"name": "digits"},
    "model": {
        "family": {"choices": ["logicnets", "polylut", "warp"]},
        "params": {"widths": {"per_layer": {"count": {"int": [1, 2]}, "int": [8, 64]}}, "input_bits": {"int": [1, 2]}},
        "when": {"polylut": {"degree": {"int": [1, 3]}}, "warp": {"group_size": {"choices": [4, 8]}}},
    },
    "train": {"lr": {"float": [1.0e-3, 1.0e-2], "log": True}},
    "objectives": ["accuracy", "luts"],
}


class _Recording(optuna.samplers.RandomSampler):
    """A random sampler that records, per trial, the families of the trials it was shown."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.shown: dict[int, set] = {}

    def _record(self, study, trial) -> None:
        seen = {t.params.get("family") for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
        self.shown.setdefault(trial.number, set()).update(seen)

    def infer_relative_search_space(self, study, trial):
        self._record(study, trial)
        return super().infer_relative_search_space(study, trial)

    def sample_independent(self, study, trial, param_name, param_distribution):
        self._record(study, trial)
        return super().sample_independent(study, trial, param_name, param_distribution)


def _space(tmp_path):
    path = tmp_path / "fam.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    return load_space(path)


@pytest.mark.parametrize("per_family", [False, True])
def test_the_family_is_drawn_first_and_the_inner_sampler_sees_the_right_trials(tmp_path, per_family):
    space = _space(tmp_path)
    inner = _Recording()
    study = optuna.create_study(
        directions=space.directions, sampler=family_first(inner, 0, per_family=per_family, joint_share=0.0)
    )
    study.enqueue_trial({"family": "warp"})
    drawn = []
    for i in range(40):
        trial = study.ask()
        cfg = space.sample(trial)
        drawn.append(cfg["family"])
        assert "family" not in trial.relative_params
        study.tell(trial, [0.5 + 0.01 * (i % 7), float(10 + i)])
    assert drawn[0] == "warp"  # an enqueued trial keeps its family
    assert set(drawn) == {"logicnets", "polylut", "warp"}
    if per_family:  # from the second trial on, the inner sampler saw the trial's own family only
        for t in study.trials[1:]:
            assert inner.shown[t.number] <= {t.params["family"]}, (t.number, inner.shown[t.number])
        assert any(len(inner.shown[t.number]) == 1 for t in study.trials[10:])
    else:  # it saw every family's trials
        assert inner.shown[39] == {"logicnets", "polylut", "warp"}


def test_draws_move_to_the_family_that_extends_the_front(tmp_path):
    """Warp's designs keep extending the front; the others' are dominated by warp's first one. The joint
    TPE inside keeps drawing the other knobs; the bandit moves the family draws to warp."""
    space = _space(tmp_path)
    study = optuna.create_study(directions=space.directions, sampler=family_first(_tpe(), seed=0))
    for i in range(60):
        trial = study.ask()
        cfg = space.sample(trial)
        if cfg["family"] == "warp":
            study.tell(trial, [0.80 + 0.001 * i, 100.0 + i])
        else:
            study.tell(trial, [0.50, 1000.0])
    late = [t.params["family"] for t in study.trials[30:]]
    assert late.count("warp") > late.count("logicnets") + late.count("polylut")


def _tpe() -> optuna.samplers.TPESampler:
    return optuna.samplers.TPESampler(seed=0, n_startup_trials=10, multivariate=True, group=True)


def test_space_option_and_driver(tmp_path):
    path = small_space(tmp_path, "famfirst")
    text = path.read_text().replace("sampler: {name: random}", "sampler: {name: tpe, family: bandit}")
    text = text.replace("family: logicnets", "family: {choices: [logicnets, polylut]}")
    path.write_text(text)
    space = load_space(path)
    assert space.sampler_family == "bandit"
    summary = run_study(space, RunOptions(trials=3, runs_dir=tmp_path / "runs", executor="inprocess"))
    sampler = summary.handle.study.sampler
    assert isinstance(sampler, RungAwareSampler if space.fidelity is not None else FamilyFirstSampler)
    assert len([t for t in summary.handle.study.trials if t.state == TrialState.COMPLETE]) == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("family: bandit", "family: last"))
    with pytest.raises(SpaceError, match=r"bad.yaml: sampler.family: 'last'; allowed: joint, bandit"):
        load_space(bad)
    assert _sampler_of(summary.handle.study).joint_share == JOINT_SHARE


def _sampler_of(study: optuna.Study) -> FamilyFirstSampler:
    sampler = study.sampler
    sampler = sampler.inner if isinstance(sampler, RungAwareSampler) else sampler
    assert isinstance(sampler, FamilyFirstSampler)
    return sampler


def test_joint_share_is_a_space_option(tmp_path):
    path = small_space(tmp_path, "share")
    text = path.read_text().replace("family: logicnets", "family: {choices: [logicnets, polylut]}")
    path.write_text(text.replace("sampler: {name: random}", "sampler: {name: tpe, family: bandit, joint_share: 0.25}"))
    space = load_space(path)
    assert space.sampler_joint_share == 0.25
    summary = run_study(space, RunOptions(trials=1, runs_dir=tmp_path / "runs", executor="inprocess"))
    assert _sampler_of(summary.handle.study).joint_share == 0.25
    for bad, message in [
        ("{family: bandit, joint_share: 1.0}", r"sampler.joint_share: 1.0; allowed: a number in \[0, 1\)"),
        ("{family: bandit, joint_share: half}", r"sampler.joint_share: 'half'; allowed: a number in \[0, 1\)"),
        ("{family: joint, joint_share: 0.5}", r"sampler.joint_share: only with family: bandit \(family is 'joint'\)"),
    ]:
        path.write_text(text.replace("sampler: {name: random}", f"sampler: {bad}"))
        with pytest.raises(SpaceError, match=rf"share.yaml: {message}"):
            load_space(path)


class _Stuck(optuna.samplers.RandomSampler):
    """A converged sampler: every knob at its lowest value, every time."""

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        if isinstance(param_distribution, optuna.distributions.CategoricalDistribution):
            return param_distribution.choices[0]
        return param_distribution.low


def test_repeat_streak_counts_trailing_repeats_in_number_order():
    study = optuna.create_study()
    streak = RepeatStreak()
    for x, expected in [(1, 0), (2, 0), (1, 1), (2, 2), (3, 0), (3, 1)]:
        trial = study.ask()
        trial.suggest_int("x", x, x)
        study.tell(trial, float(x))
        assert streak(study) == expected, (x, expected)
    running = study.ask()
    running.suggest_int("x", 1, 1)
    assert streak(study) == 1  # a running trial is not counted


def test_a_run_of_repeats_is_broken_after_patience_repeats(tmp_path):
    """The inner sampler proposes one design per family forever; after ``patience`` repeats in a row the
    next trial's knobs are drawn at random (its family still by the bandit), so the study keeps finding
    new designs. Without the escape it never leaves its three designs."""
    space = _space(tmp_path)
    study = optuna.create_study(
        directions=space.directions,
        sampler=FamilyFirstSampler(_Stuck(seed=0), FamilyBandit(seed=0), patience=2, seed=0, joint_share=0.0),
    )
    keys, runs, run = set(), [], 0
    for i in range(60):
        trial = study.ask()
        space.sample(trial)
        key = tuple(sorted(trial.params.items()))
        run = run + 1 if key in keys else 0
        runs.append(run)
        keys.add(key)
        study.tell(trial, [0.5 + 0.001 * (i % 5), 100.0])
    assert max(runs) == 2  # two repeats in a row, then a new design
    assert len(keys) >= 15 and {k[0] for k in keys} >= {("family", f) for f in ("logicnets", "polylut", "warp")}
    stuck = FamilyFirstSampler(_Stuck(seed=0), FamilyBandit(seed=0), patience=None, joint_share=0.0)
    study = optuna.create_study(directions=space.directions, sampler=stuck)
    for _ in range(30):
        trial = study.ask()
        space.sample(trial)
        study.tell(trial, [0.5, 100.0])
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) <= 3  # one design per family


def test_a_share_of_trials_is_drawn_wholly_by_the_inner_sampler(tmp_path):
    """With the shipped share, about that share of the 40 trials after TPE's start-up have the family among
    their relative (jointly modelled) parameters; the others have it drawn first by the bandit."""
    space = _space(tmp_path)
    study = optuna.create_study(directions=space.directions, sampler=family_first(_tpe(), seed=0))
    joint = 0
    for i in range(50):
        trial = study.ask()
        space.sample(trial)
        joint += i >= 10 and "family" in trial.relative_params  # TPE's start-up draws nothing relative
        study.tell(trial, [0.5 + 0.01 * (i % 7), float(10 + i)])
    assert abs(joint - 40 * JOINT_SHARE) <= 10, joint  # a binomial draw: within about 3 standard deviations
    with pytest.raises(ValueError, match="joint_share"):
        family_first(_tpe(), seed=0, joint_share=1.0)
