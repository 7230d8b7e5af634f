"""Choose the model family by discounted Thompson sampling on "the design entered the front".

Why. Multivariate TPE models ``family`` jointly with the knobs every family shares, and a univariate TPE
on ``family`` alone (the first chooser tried) ranks a family by how many of the study's good trials it
holds: both feed on their own choices. On the 4,096-configuration tabular benchmark the univariate chooser
drew one family until its sub-grid was exhausted (400 repeats by trial 442); on a real ``spaces/jsc.yaml``
study joint TPE drew NeuraLUT-Assemble 122 times in a row while HGQ held the most accurate design
(docs/results.md, "Why the search missed ...").

How. Each family is an arm of a Bernoulli bandit. A finished trial's reward is 1 when it entered the
study's feasible front at the time it finished (it is weakly dominated by no earlier feasible trial of any
family), else 0: a repeat of a trained design, a design stopped at an early rung below the front, a design
pruned before training, a failure and an infeasible design all score 0. Rewards are discounted by how many
trials finished after them (``discount`` per trial), so a family whose recent draws stopped improving the
front loses its share and one left alone for a while is tried again. The arm's posterior is
Beta(prior + discounted successes, prior + discounted failures) with an empirical-Bayes prior: ``prior_trials``
pseudo-trials at the study's overall discounted success rate (a family never drawn is as good as the
average family, not as good as a coin). Each draw samples every posterior and takes the largest (Thompson
sampling), which also spreads trials in flight over families without a constant liar.

Scale-free: it needs no reference point and no scaling of the objectives, only their directions.
Written here because Optuna has no bandit over a categorical parameter and no conditional sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from lutsearch.search._rung_sampler import as_observed

__all__ = ["FamilyBandit", "front_entries"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)


def front_entries(values: np.ndarray, feasible: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """For trials in the order they finished, (n, m) values on minimized axes (NaN where none): whether
    each of ``rows`` (default: all) entered the feasible front, i.e. no earlier feasible trial is at least
    as good on every axis."""
    n = len(values)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=int)
    ok = feasible & np.isfinite(values).all(axis=1)
    # covers[r, j]: trial j is at least as good as trial rows[r] on every axis (NaN compares False)
    covers = (values[None, :, :] <= values[rows, None, :]).all(axis=2)
    earlier = np.arange(n)[None, :] < rows[:, None]  # earlier[r, j]: j finished before rows[r]
    return ok[rows] & ~(covers & earlier & ok[None, :]).any(axis=1)


class FamilyBandit(BaseSampler):
    """Draws the family parameter (module docstring); every other parameter is left to the caller."""

    def __init__(self, seed: int | None = None, discount: float = 0.98, prior_trials: float = 2.0) -> None:
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        self.discount = discount
        self.prior_trials = prior_trials
        self._rng = np.random.default_rng(seed)
        self._entered: dict[int, bool] = {}  # trial number -> its reward, once final (see _rewards)
        self._study_id: int | None = None  # the study self._entered was computed on

    def posterior(self, study: optuna.Study, param: str, choices: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Beta posterior parameters (alpha, beta) of each choice of ``param``, from the study's finished trials."""
        finished = [as_observed(t) for t in study._get_trials(deepcopy=False, states=_FINISHED, use_cache=True)]
        finished.sort(key=lambda t: t.number)
        arm = np.array([_index(choices, t.params.get(param)) for t in finished], dtype=int)
        reward = self._rewards(study, finished).astype(float)
        weight = self.discount ** np.arange(len(finished) - 1, -1, -1, dtype=float)
        counted = arm >= 0
        wins = np.bincount(arm[counted], weights=(weight * reward)[counted], minlength=len(choices))
        draws = np.bincount(arm[counted], weights=weight[counted], minlength=len(choices))
        rate = (wins.sum() + 1.0) / (draws.sum() + 2.0)
        return self.prior_trials * rate + wins, self.prior_trials * (1.0 - rate) + draws - wins

    def _rewards(self, study: optuna.Study, finished: list[FrozenTrial]) -> np.ndarray:
        """Front entries of ``finished`` (sorted by number). A trial's entry is final once every trial
        numbered before it has finished; those are kept, so a draw costs O(new trials x all trials)."""
        if self._study_id != study._study_id:
            self._entered, self._study_id = {}, study._study_id
        out = np.array([self._entered.get(t.number, False) for t in finished], dtype=bool)
        rows = np.flatnonzero([t.number not in self._entered for t in finished])
        if len(rows) == 0:
            return out
        out[rows] = front_entries(_minimized(finished, study.directions), _feasible(finished), rows)
        unfinished = study._get_trials(deepcopy=False, states=_UNFINISHED, use_cache=True)
        horizon = min((t.number for t in unfinished), default=np.inf)
        self._entered.update({finished[i].number: bool(out[i]) for i in rows if finished[i].number < horizon})
        return out

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if not isinstance(param_distribution, CategoricalDistribution):
            raise ValueError(f"FamilyBandit draws a categorical parameter; {param_name!r} is {param_distribution}")
        choices = param_distribution.choices
        alpha, beta = self.posterior(study, param_name, choices)
        return choices[int(np.argmax(self._rng.beta(alpha, beta)))]

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()


def _index(choices: Sequence[Any], value: Any) -> int:
    return choices.index(value) if value in choices else -1


def _minimized(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]) -> np.ndarray:
    sign = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions])
    out = np.full((len(trials), len(directions)), np.nan)
    for i, t in enumerate(trials):
        if t.state == TrialState.COMPLETE and t.values is not None:
            out[i] = np.asarray(t.values, dtype=float) * sign
    return out


def _feasible(trials: Sequence[FrozenTrial]) -> np.ndarray:
    return np.array([all(c <= 0.0 for c in t.constraints.values()) for t in trials], dtype=bool)
