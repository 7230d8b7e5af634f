"""Study-level numbers: the hypervolume's reference point and final value, and PED-ANOVA objective importances.

Both come from Optuna (``compute_hypervolume``, the WFG algorithm ``plot_hypervolume_history`` uses,
and ``optuna.importance.PedAnovaImportanceEvaluator``); what is written here is only the choice of the
reference point and the conditions under which an importance is meaningful.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable

import numpy as np
import optuna
from optuna._hypervolume import compute_hypervolume  # Optuna's WFG (no public name in Optuna 5)
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.search_space import intersection_search_space
from optuna.trial import FrozenTrial, TrialState

from lutsearch.analyze._data import StudyData

__all__ = ["MIN_IMPORTANCE_TRIALS", "Hypervolume", "Importance", "hypervolume", "importances"]

MIN_IMPORTANCE_TRIALS = 8  # PED-ANOVA compares the top 10 % with the rest: fewer trials say nothing
MARGIN = 0.1  # the reference point lies this share of the observed range beyond the worst value
REFERENCE_RULE = (
    "per objective, the worst value among the feasible complete trials moved a further 10 % of the "
    "observed range (or 10 % of |value|, or 1, when all values are equal) in the bad direction"
)


@dataclasses.dataclass(frozen=True)
class Hypervolume:
    reference_point: list[float] | None  # in the objectives' own units and directions
    final: float | None
    rule: str
    reason: str | None = None  # why there is none


@dataclasses.dataclass(frozen=True)
class Importance:
    objective: str
    values: dict[str, float]  # parameter -> normalized importance (empty with a reason)
    reason: str | None = None
    caveat: str | None = None  # computed, but from few top trials


def _feasible_values(data: StudyData) -> np.ndarray:
    return np.array([p.values for p in data.points if p.feasible], dtype=float).reshape(-1, len(data.objectives))


def hypervolume(study: optuna.Study, data: StudyData) -> Hypervolume:
    """The reference point (``REFERENCE_RULE``) and the hypervolume of the feasible front against it."""
    if len(data.objectives) < 2:
        return Hypervolume(None, None, REFERENCE_RULE, "a single objective has no hypervolume")
    values = _feasible_values(data)
    if not len(values):
        return Hypervolume(None, None, REFERENCE_RULE, "no feasible complete trial")
    signs = np.array([-1.0 if o.maximize else 1.0 for o in data.objectives])
    loss = values * signs  # every objective minimized
    worst, best = loss.max(0), loss.min(0)
    span = np.where(worst > best, worst - best, np.where(worst != 0, np.abs(worst), 1.0))
    ref_loss = worst + MARGIN * span
    front = np.array([[v * s for v, s in zip(p.values, signs)] for p in data.points if p.on_front], dtype=float)
    final = float(compute_hypervolume(front, ref_loss)) if len(front) else 0.0
    return Hypervolume([float(x) for x in ref_loss * signs], final, REFERENCE_RULE)


def _params(trials: list[FrozenTrial]) -> list[str]:
    return sorted(intersection_search_space(trials))


def _caveat(n: int) -> str | None:
    """Optuna advises at least 5 trials in the top quantile (10 %): below 50 trials, say so."""
    if n >= 50:
        return None
    return f"{n} complete trials: the top 10 % holds {max(1, math.ceil(0.1 * n))}, fewer than the 5 Optuna advises"


def _target(index: int, sign: float) -> Callable[[FrozenTrial], float]:
    return lambda t: sign * t.values[index]


def importances(study: optuna.Study, data: StudyData) -> list[Importance]:
    """Each objective's parameter importances by PED-ANOVA (top 10 % of the complete trials against all
    of them, lower is better: maximized objectives are negated), or the reason there is none."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    params = _params(complete) if complete else []
    out = []
    for i, objective in enumerate(data.objectives):
        if len(complete) < MIN_IMPORTANCE_TRIALS:
            reason = f"{len(complete)} complete trials; PED-ANOVA needs at least {MIN_IMPORTANCE_TRIALS}"
            out.append(Importance(objective.name, {}, reason))
            continue
        if len(params) < 2:
            reason = f"{len(params)} parameter(s) common to every complete trial: nothing to compare"
            out.append(Importance(objective.name, {}, reason))
            continue
        sign = -1.0 if objective.maximize else 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's note that a target is minimized: we negate maximized ones
            found = get_param_importances(
                study,
                evaluator=PedAnovaImportanceEvaluator(),
                params=params,
                target=_target(i, sign),
            )
        out.append(Importance(objective.name, {k: float(v) for k, v in found.items()}, caveat=_caveat(len(complete))))
    return out
