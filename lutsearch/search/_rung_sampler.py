"""Let the space's sampler learn from designs stopped at a rung.

Optuna's multi-objective samplers do not learn from PRUNED trials: NSGA-II, NSGA-III and the GP
sampler read COMPLETE trials only, and TPE ranks a pruned trial by its intermediate values, which a
multi-objective trial cannot have (``trial.report`` raises), so every pruned trial lands in TPE's
"bad" group unranked. A successive-halving search stops most designs early, so that would throw away
most of what the search measured.

``RungAwareSampler`` wraps the space's sampler and shows it the study through a view in which a design
stopped at a rung looks COMPLETE with the values it had at its last rung (its exact validation accuracy
and cost there). Those values are what the design was judged on; an early rung's accuracy understates
what full training would reach, so such designs rank low, as they should, without being ignored. A repeat
of a trained design (``_repeats``) looks COMPLETE with that design's values. Other designs pruned before
training stay PRUNED. The stored study is never changed: the front, the
status table and export read COMPLETE trials only.
"""

from __future__ import annotations

import copy
from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

__all__ = ["REPEAT_VALUES", "RUNG_VALUES", "RungAwareSampler", "as_observed"]

RUNG_VALUES = "rung_values"  # user attribute: [{"rung", "epochs", "values", "violation", "seconds"}, ...]
REPEAT_VALUES = "repeat_values"  # user attribute: the values of the trained trial a repeat stands for (_repeats)


def as_observed(trial: FrozenTrial) -> FrozenTrial:
    """A PRUNED trial with rung values as the sampler should see it: COMPLETE at its last rung's values;
    a repeat of a trained design (``_repeats``): COMPLETE at that design's values."""
    if trial.state != TrialState.PRUNED:
        return trial
    rows = trial.user_attrs.get(RUNG_VALUES)
    values = rows[-1]["values"] if rows else trial.user_attrs.get(REPEAT_VALUES)
    if not values:
        return trial
    seen = copy.copy(trial)
    seen.state = TrialState.COMPLETE
    seen.values = list(values)
    return seen


class StudyView:
    """A study as a wrapped sampler sees it: ``_show`` maps the trials it is shown (every other attribute is
    the study's own)."""

    def __init__(self, study: optuna.Study) -> None:
        self._wrapped = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    def _show(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        return trials

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        trials = self._show(self._wrapped._get_trials(deepcopy=deepcopy, use_cache=use_cache))
        return [t for t in trials if states is None or t.state in states]

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)


class _StudyView(StudyView):
    """Rung-stopped trials and reused repeats shown as observed (``as_observed``)."""

    def _show(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        return [as_observed(t) for t in trials]


class RungAwareSampler(BaseSampler):
    """Wraps ``inner`` (module docstring); everything else is ``inner``'s behaviour."""

    def __init__(self, inner: BaseSampler) -> None:
        self.inner = inner

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(_StudyView(study), trial)  # type: ignore[arg-type]

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.inner.sample_relative(_StudyView(study), trial, search_space)  # type: ignore[arg-type]

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        view = _StudyView(study)
        return self.inner.sample_independent(view, trial, param_name, param_distribution)  # type: ignore[arg-type]

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(_StudyView(study), trial)  # type: ignore[arg-type]

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.inner.after_trial(_StudyView(study), trial, state, values)  # type: ignore[arg-type]

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
