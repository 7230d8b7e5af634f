"""Draw the model family first, by a bandit over families, then every other knob by the space's sampler.

Why. Multivariate TPE (the shipped spaces' sampler) models ``family`` jointly with the knobs every family
shares (widths, training settings): its acquisition l(x)/g(x) is taken on that joint vector. On a
``spaces/jsc.yaml`` study it drew NeuraLUT-Assemble 122 times in a row (30 of 30 asks on a copy at 153
trials) while HGQ held the most accurate design (docs/results.md, "Why the search missed ...").

How. ``FamilyFirstSampler`` wraps the space's sampler. Three quarters of the trials (``JOINT_SHARE``, by a
seeded coin; the space's ``sampler.joint_share``) are drawn wholly by it, family included, as without the
wrapper. For the others the family is drawn by ``chooser`` (``FamilyBandit``: Thompson sampling on "the
design entered the front", ``_family_bandit``). The family is then removed from the wrapped sampler's
relative search space, so its model covers the other knobs only; the wrapped sampler sees every trial
(``per_family=False``, the shipped setting) or only the drawn family's (``per_family=True``: measured worse
on the tabular benchmark, docs/results.md). An enqueued trial (warm start, a re-queued interrupted trial)
keeps its fixed family.

Why three quarters. On the 4,096-design tabular benchmark (docs/results.md; 30 seeds) the trials needed to
reach random search's 500-trial hypervolume were, sequentially and with 2 in flight: joint TPE alone 118
and 135, a share of 0.75 139 and 139, a share of 0.5 140 and 156; the bandit on every trial 207 and 138
(10 seeds). On the real ``spaces/jsc.yaml`` the bandit keeps the draws from collapsing onto one family
(joint TPE drew NLA 180 times in 214). With a share of 0.5 its designs dominated all 7 JSC baselines by the
390th trained design; with 0.75 by the 255th, and 6 of 7 by the 90th (one search seed each).
Optuna has no conditional (hierarchical) sampler for a categorical that selects a sub-space, so this is
written here.

Runs of repeats. Without the family in its model, the wrapped TPE converges on the knob values that are
best across families and then proposes, for whichever family is drawn, a design already tried: on the
4,096-design tabular benchmark one study needed more than 4,700 asks for 500 trained trials, another
stopped on 200 repeats in a row (the driver stops there too). So after ``patience`` trials in a row that
repeat an earlier design (``_repeat_streak``), the next trial keeps the bandit's family but takes every other
knob from a random sampler, until a trial is new again. Measured on that benchmark (docs/results.md):
a random or a joint-TPE draw for the escaping trial reached random search's 500-trial hypervolume in
141 and 142 trials (4 seeds); random is kept, as it is cheaper and cannot repeat the inner sampler's mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from lutsearch.search._family_bandit import FamilyBandit
from lutsearch.search._repeat_streak import RepeatStreak
from lutsearch.search._rung_sampler import StudyView

__all__ = ["FAMILY_PARAM", "FamilyFirstSampler", "family_first"]

FAMILY_PARAM = "family"  # the Optuna parameter a space draws its model family under
JOINT_SHARE = 0.75  # share of trials the wrapped sampler draws wholly, family included (module docstring)


class _FamilyView(StudyView):
    """The study as the wrapped sampler sees it: the trials of one family only."""

    def __init__(self, study: optuna.Study, param: str, family: Any) -> None:
        super().__init__(study)
        self._param = param
        self._family = family

    def _show(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        return [t for t in trials if t.params.get(self._param) == self._family]


class FamilyFirstSampler(BaseSampler):
    """Wraps ``inner`` (module docstring); ``chooser`` draws the family from all trials."""

    def __init__(
        self,
        inner: BaseSampler,
        chooser: BaseSampler,
        param: str = FAMILY_PARAM,
        per_family: bool = False,
        patience: int | None = 3,
        seed: int | None = None,
        joint_share: float = JOINT_SHARE,
    ) -> None:
        self.inner = inner
        self.per_family = per_family  # the inner sampler sees the drawn family's trials only (else all trials)
        self.chooser = chooser
        self.param = param
        self.patience = patience  # repeats in a row after which a trial's knobs are drawn at random (None: never)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        if not 0.0 <= joint_share < 1.0:
            raise ValueError(f"joint_share must be in [0, 1), got {joint_share}")
        self.joint_share = joint_share  # share of trials drawn wholly by the inner sampler, family included
        self._coin = np.random.default_rng(seed)
        self._joint: set[int] = set()  # trials drawn wholly by the inner sampler
        self._streak = RepeatStreak()
        self._escaping: set[int] = set()  # trials whose knobs are drawn at random (module docstring)
        self._drawn: dict[int, Any] = {}  # trial number -> its family, drawn before the trial's other parameters

    def _view(self, study: optuna.Study, trial: FrozenTrial) -> optuna.Study:
        if not self.per_family or trial.number not in self._drawn:  # first trial: no family parameter seen yet
            return study
        return _FamilyView(study, self.param, self._drawn[trial.number])  # type: ignore[return-value]

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.chooser.before_trial(study, trial)
        fixed = trial.system_attrs.get("fixed_params") or {}
        if self.patience is not None and not fixed and self._streak(study) >= self.patience:
            self._escaping.add(trial.number)
        if self.param in fixed:
            self._drawn[trial.number] = fixed[self.param]
        elif trial.number not in self._escaping and self._coin.random() < self.joint_share:
            self._joint.add(trial.number)
        else:
            distribution = _latest_distribution(study, self.param)
            if distribution is not None:
                self._drawn[trial.number] = self.chooser.sample_independent(study, trial, self.param, distribution)
        self.inner.before_trial(self._view(study, trial), trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if trial.number in self._escaping:
            return {}
        if trial.number in self._joint:
            return self.inner.infer_relative_search_space(study, trial)
        space = self.inner.infer_relative_search_space(self._view(study, trial), trial)
        return {name: d for name, d in space.items() if name != self.param}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if trial.number in self._joint:
            return self.inner.sample_relative(study, trial, search_space)
        return self.inner.sample_relative(self._view(study, trial), trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if trial.number in self._joint:
            return self.inner.sample_independent(study, trial, param_name, param_distribution)
        if param_name == self.param:
            drawn = self._drawn.get(trial.number)
            if drawn is not None and param_distribution._contains(param_distribution.to_internal_repr(drawn)):
                return drawn
            value = self.chooser.sample_independent(study, trial, param_name, param_distribution)
            self._drawn[trial.number] = value
            return value
        if trial.number in self._escaping:
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        return self.inner.sample_independent(self._view(study, trial), trial, param_name, param_distribution)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.inner.after_trial(self._view(study, trial), trial, state, values)
        self.chooser.after_trial(study, trial, state, values)
        self._drawn.pop(trial.number, None)
        self._escaping.discard(trial.number)
        self._joint.discard(trial.number)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
        self.chooser.reseed_rng()
        self._random.reseed_rng()


def _latest_distribution(study: optuna.Study, param: str) -> CategoricalDistribution | None:
    """The family parameter's distribution as the latest trial that drew it recorded it."""
    for t in reversed(study._get_trials(deepcopy=False, use_cache=True)):
        distribution = t.distributions.get(param)
        if isinstance(distribution, CategoricalDistribution):
            return distribution
    return None


def family_first(
    inner: BaseSampler,
    seed: int,
    discount: float = 0.98,
    per_family: bool = False,
    chooser: BaseSampler | None = None,
    patience: int | None = 3,
    joint_share: float | None = None,
) -> FamilyFirstSampler:
    """``inner`` wrapped so that the family is drawn first, by ``chooser`` (default: the front-entry bandit
    with ``discount`` per finished trial, ``_family_bandit``), on ``1 - joint_share`` of the trials (default
    ``JOINT_SHARE``: a space's ``sampler.joint_share`` when it sets none)."""
    chooser = chooser or FamilyBandit(seed=seed, discount=discount)
    share = JOINT_SHARE if joint_share is None else joint_share
    return FamilyFirstSampler(inner, chooser, per_family=per_family, patience=patience, seed=seed, joint_share=share)
