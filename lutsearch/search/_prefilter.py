"""Spend nothing on hopeless designs: pruning before training.

Every design gets a *plan cost* when it is drawn: the LogicNets LUT formula and the L-LUT depth of its
layer plan (known before training; ``lutsearch.models.family_plan``). Plan costs are only compared with
plan costs of the same family, so the formula's bias cancels. A design is pruned before training when

- **a constraint cannot be met**: for ``luts`` (via any backend) the design's plan cost times the
  smallest measured-to-plan ratio of the family's trained designs exceeds the bound (likewise
  ``lut_depth``/``latency_ns``/``depth`` with the plan depth); at least ``MIN_EVIDENCE`` trained designs
  of the family are needed before any such claim;
- **it is dominated on cost alone at the best accuracy seen for its cost**: the best accuracy any
  trained design of its family reached within a factor of two of its plan LUTs (its cost class) is
  already reached by a trained design of the family with at most ``CHEAPER`` times its plan LUTs and
  no more depth. Training it could at best tie designs the search already has at half the cost.

A design's accuracy here is the best it is known to reach: at the end of training, or at the last
rung successive halving let it reach (the first rung's accuracy after a few epochs says too little
about a large design). The cost class needs ``MIN_PEERS`` trained designs and the family
``MIN_EVIDENCE``: a heuristic, so it waits for evidence and asks for a factor of two in cost.
Designs pruned here do not count toward ``--trials``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lutsearch.search._rung_sampler import RUNG_VALUES

__all__ = ["PLAN_DEPTH", "PLAN_LUTS", "PlanCost", "hopeless_reason", "plan_cost"]

PLAN_LUTS = "plan_luts"  # user attributes of every trial
PLAN_DEPTH = "plan_depth"
MIN_EVIDENCE = 20
MIN_PEERS = 5
CHEAPER = 0.5
_DEPTH_METRICS = ("lut_depth", "latency_ns", "depth")


@dataclasses.dataclass(frozen=True)
class PlanCost:
    luts: float
    depth: float


def plan_cost(plans: Sequence[Any]) -> PlanCost:
    """The LogicNets formula's LUTs and the L-LUT depth of a list of ``LayerPlan``s."""
    from lutsearch.hw.estimate import logicnets_lut_cost, lut_depth

    luts = sum(float(logicnets_lut_cost(p.address_bits, p.out_bits)) * p.n_out for p in plans)
    return PlanCost(float(luts), float(sum(lut_depth(p.address_bits) for p in plans)))


@dataclasses.dataclass(frozen=True)
class _Trained:
    cost: PlanCost
    accuracy: float
    measured: dict[str, float]  # constraint metric -> value


def _trained(study: optuna.Study, family: str, acc_index: int) -> list[_Trained]:
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if t.user_attrs.get("family") != family or PLAN_LUTS not in t.user_attrs:
            continue
        values = _known_values(t)
        if values is None:
            continue
        out.append(
            _Trained(
                PlanCost(t.user_attrs[PLAN_LUTS], t.user_attrs[PLAN_DEPTH]),
                float(values[acc_index]),
                dict(t.user_attrs.get("constraint_values", {})),
            )
        )
    return out


def _known_values(t: FrozenTrial) -> list[float] | None:
    """The final values of a complete trial, else those of the last rung it reached."""
    if t.state == TrialState.COMPLETE:
        return list(t.values)
    rows = t.user_attrs.get(RUNG_VALUES)
    return list(max(rows, key=lambda r: r["rung"])["values"]) if rows else None


def _constraint_reason(cost: PlanCost, trained: list[_Trained], constraints: Sequence[Any]) -> str | None:
    for c in constraints:
        if c.op not in ("<=", "<") or not (c.metric == "luts" or c.metric in _DEPTH_METRICS):
            continue
        scale = (lambda p: p.luts) if c.metric == "luts" else (lambda p: p.depth)
        ratios = [t.measured[str(c)] / scale(t.cost) for t in trained if str(c) in t.measured and scale(t.cost) > 0]
        if len(ratios) < MIN_EVIDENCE:
            continue
        bound = scale(cost) * min(ratios)
        if c.violation(bound) > 0:
            return (
                f"cannot meet '{c}': its plan ({scale(cost):.0f}) times the smallest measured/plan ratio of "
                f"{len(ratios)} trained designs of its family ({min(ratios):.3g}) is {bound:.0f}"
            )
    return None


def hopeless_reason(
    study: optuna.Study, family: str, cost: PlanCost, constraints: Sequence[Any], acc_index: int | None
) -> str | None:
    """Why a design drawn with plan ``cost`` is not worth training (module docstring), or None."""
    trained = _trained(study, family, acc_index or 0)
    if len(trained) < MIN_EVIDENCE:
        return None
    reason = _constraint_reason(cost, trained, constraints)
    if reason is not None or acc_index is None:
        return reason
    peers = [t.accuracy for t in trained if cost.luts / 2 <= t.cost.luts <= cost.luts * 2]
    if len(peers) < MIN_PEERS:
        return None
    best = max(peers)
    for t in trained:
        if t.accuracy >= best and t.cost.luts <= CHEAPER * cost.luts and t.cost.depth <= cost.depth:
            return (
                f"dominated on cost: the best accuracy of its cost class ({best:.4f}, {len(peers)} designs) is "
                f"already reached at {t.cost.luts:.0f} plan LUTs (this design: {cost.luts:.0f})"
            )
    return None
