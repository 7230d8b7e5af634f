"""The family bandit (lutsearch.search._family_bandit): rewards are front entries, repeats earn nothing."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from lutsearch.search._family_bandit import FamilyBandit, front_entries
from lutsearch.search._rung_sampler import REPEAT_VALUES

FAMILIES = ("logicnets", "polylut", "hgq")
FAMILY = CategoricalDistribution(FAMILIES)
X = FloatDistribution(0.0, 1.0)


def test_front_entries_weak_dominance_feasibility_and_missing_values():
    nan = np.nan
    values = np.array(
        [
            [1.0, 1.0],  # 0: first feasible trial: enters
            [2.0, 2.0],  # 1: dominated by 0
            [0.0, 3.0],  # 2: a new trade-off: enters
            [1.0, 1.0],  # 3: equal to 0 (weakly dominated): a repeat enters nothing
            [nan, nan],  # 4: failed or pruned before training
            [0.0, 0.0],  # 5: dominates everything but is infeasible
            [0.5, 0.5],  # 6: dominated only by the infeasible 5: enters
            [0.5, 2.0],  # 7: dominated by 6
        ]
    )
    feasible = np.array([True, True, True, True, True, False, True, True])
    assert front_entries(values, feasible).tolist() == [True, False, True, False, False, False, True, False]
    assert front_entries(np.zeros((0, 2)), np.zeros(0, dtype=bool)).tolist() == []


def _trial(family: str, values: list[float] | None, state: TrialState = TrialState.COMPLETE, **attrs):
    return create_trial(
        params={"family": family, "x": 0.5},
        distributions={"family": FAMILY, "x": X},
        values=values if state == TrialState.COMPLETE else None,
        state=state,
        user_attrs=attrs,
    )


def _study() -> optuna.Study:
    return optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))


def _draws(bandit: FamilyBandit, study: optuna.Study, n: int) -> dict[str, int]:
    trial = study.ask()
    drawn = [
        bandit.sample_independent(study, study._storage.get_trial(trial._trial_id), "family", FAMILY) for _ in range(n)
    ]
    study.tell(trial, state=TrialState.FAIL)
    return {f: drawn.count(f) for f in FAMILIES}


def test_a_family_whose_draws_repeat_loses_its_share():
    """Polylut's draws keep landing on its one trained design (repeats, recorded PRUNED with the design's
    values, as the driver does); hgq's keep extending the front. The bandit moves its draws to hgq, and
    logicnets, never drawn, keeps a share at the study's average rate."""
    study = _study()
    study.add_trial(_trial("polylut", [0.60, 100.0]))
    for i in range(12):
        study.add_trial(_trial("polylut", None, TrialState.PRUNED, **{REPEAT_VALUES: [0.60, 100.0]}))
        study.add_trial(_trial("hgq", [0.61 + 0.01 * i, 200.0 + 10 * i]))
    bandit = FamilyBandit(seed=0)
    alpha, beta = bandit.posterior(study, "family", FAMILIES)
    mean = alpha / (alpha + beta)
    assert mean[2] > mean[0] > mean[1]
    draws = _draws(bandit, study, 300)
    assert draws["hgq"] > draws["logicnets"] > draws["polylut"]


def test_discount_forgets_old_successes():
    """Polylut entered the front often long ago and never since; hgq has entered it lately. With a short
    memory hgq leads; with none (discount 1) polylut's old count still wins."""
    study = _study()
    for i in range(10):
        study.add_trial(_trial("polylut", [0.50 + 0.01 * i, 10.0 + i]))
    for _ in range(40):
        study.add_trial(_trial("polylut", [0.40, 500.0]))  # dominated: no entry
    for i in range(4):
        study.add_trial(_trial("hgq", [0.70 + 0.01 * i, 1000.0 + i]))
    for _ in range(4):
        study.add_trial(_trial("hgq", [0.40, 900.0]))
    short = FamilyBandit(discount=0.9).posterior(study, "family", FAMILIES)
    none = FamilyBandit(discount=1.0).posterior(study, "family", FAMILIES)
    assert short[0][2] / short[1][2] > short[0][1] / short[1][1]
    assert none[0][1] > none[0][2]


def test_failures_and_pruned_before_training_count_as_draws_without_reward():
    study = _study()
    study.add_trial(_trial("hgq", [0.7, 10.0]))
    for _ in range(5):
        study.add_trial(_trial("polylut", None, TrialState.FAIL))
        study.add_trial(_trial("polylut", None, TrialState.PRUNED))  # no rung or repeat values
    alpha, beta = FamilyBandit(discount=1.0, prior_trials=0.0).posterior(study, "family", FAMILIES)
    assert alpha.tolist() == [0.0, 0.0, 1.0]
    assert beta.tolist() == [0.0, 10.0, 0.0]


def test_rejects_a_non_categorical_parameter_and_a_bad_discount():
    study = _study()
    trial = study.ask()
    with pytest.raises(ValueError, match="categorical"):
        FamilyBandit().sample_independent(study, study._storage.get_trial(trial._trial_id), "x", X)
    with pytest.raises(ValueError, match="discount"):
        FamilyBandit(discount=0.0)


def test_cached_rewards_match_a_fresh_computation_with_trials_in_flight():
    """The bandit keeps a trial's reward once every trial numbered before it has finished; with two trials
    in flight, told out of order, its rewards stay those of a bandit computing them all afresh."""
    study = _study()
    kept = FamilyBandit(seed=0)
    rng = np.random.default_rng(1)
    in_flight = [study.ask(), study.ask()]
    for i in range(60):
        trial = in_flight.pop(int(rng.integers(2)))  # the older or the newer one finishes first
        trial.suggest_categorical("family", FAMILIES)
        study.tell(trial, [float(rng.random()), float(rng.random())])
        finished = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
        cached = kept._rewards(study, finished)
        assert cached.tolist() == FamilyBandit()._rewards(study, finished).tolist(), i
        in_flight.append(study.ask())
    assert 0 < len(kept._entered) < 60  # some kept, the ones behind a trial still in flight recomputed
