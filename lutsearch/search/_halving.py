"""Multi-objective asynchronous successive halving (the rung decisions of a ``fidelity:`` space).

Why asynchronous (ASHA, Li et al., MLSys 2020) and not Hyperband's synchronous brackets: trials here
differ in cost by two orders of magnitude (a LogicNets design trains in seconds, an HGQ one in
minutes) and run on two to a few dozen workers; a synchronous rung would leave workers idle until its
slowest design finished. Asynchronously, a design is judged the moment it reaches a rung, against every
design that reached the same rung so far, and a worker is never idle.

Why non-dominated rank and crowding distance: the objectives conflict (accuracy against LUTs and
latency), so "the best 1/eta" is ordered as NSGA-II orders a population, which is how MO-ASHA
(Schmucker et al., 2021) extends ASHA to several objectives: feasible designs (no constraint violated
at the rung) first, then by non-dominated rank, then by crowding distance within the rank (the ones that
spread the front go first). A design goes on when it is among the first ``max(1, floor(n / eta))`` of the
``n`` designs that reached its rung, or while fewer than ``grace`` designs have. Optuna has no pruner for
multi-objective studies (``trial.report`` raises in them; optuna#3450), so this is ours.

The rung's values are those of the rung's own truth tables (exact validation accuracy, cost backend).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

__all__ = ["RungDecision", "decide_promotion", "promotion_order"]


@dataclasses.dataclass(frozen=True)
class RungDecision:
    """Whether a design goes on from its rung, and its place among the ``peers`` that reached it."""

    promote: bool
    position: int  # 0-based place in the promotion order
    keep: int  # how many places go on at this many peers
    peers: int
    rank: int  # non-dominated rank (0: on the rung's front)

    grace: int = 0

    @property
    def reason(self) -> str:
        where = f"place {self.position + 1} of {self.peers} at its rung (front rank {self.rank}); "
        if self.peers < self.grace:
            return where + f"fewer than {self.grace} designs reached it: all go on"
        return where + f"the first {self.keep} go on"


def _domination(points: np.ndarray) -> np.ndarray:
    """``d[i, j]``: point i dominates point j (all objectives minimized)."""
    le = (points[:, None, :] <= points[None, :, :]).all(-1)
    lt = (points[:, None, :] < points[None, :, :]).any(-1)
    return np.asarray(le & lt)


def _ranks(points: np.ndarray) -> np.ndarray:
    """Non-dominated sorting: rank 0 is the front, rank 1 the front of the rest, and so on."""
    dom = _domination(points)
    dominated_by = dom.sum(0)  # how many points dominate each
    ranks = np.full(len(points), -1)
    current = np.flatnonzero(dominated_by == 0)
    rank = 0
    while current.size:  # one step per front, not per point
        ranks[current] = rank
        dominated_by = dominated_by - dom[current].sum(0)
        dominated_by[ranks >= 0] = -1
        current = np.flatnonzero(dominated_by == 0)
        rank += 1
    return ranks


def _crowding(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each point within its set (boundary points: infinite)."""
    n, m = points.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    order = np.argsort(points, axis=0, kind="stable")
    for k in range(m):  # objectives, not points
        col = points[order[:, k], k]
        span = col[-1] - col[0]
        dist[order[[0, -1], k]] = np.inf
        if span > 0:
            dist[order[1:-1, k]] += (col[2:] - col[:-2]) / span
    return dist


def promotion_order(points: np.ndarray, violations: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``points`` (n, m; minimized) best first, and each point's non-dominated rank."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    violations = np.zeros(n) if violations is None else np.maximum(np.asarray(violations, dtype=np.float64), 0)
    feasible = violations <= 0
    ranks = np.full(n, 0)
    crowd = np.zeros(n)
    if feasible.any():
        ranks[feasible] = _ranks(points[feasible])
        for r in np.unique(ranks[feasible]):
            members = np.flatnonzero(feasible & (ranks == r))
            crowd[members] = _crowding(points[members])
    ranks[~feasible] = ranks[feasible].max(initial=-1) + 1
    # feasible first; then rank; then larger crowding; infeasible by smaller violation
    order = np.lexsort((violations, -crowd, ranks, ~feasible))
    return order, ranks


def decide_promotion(
    values: Sequence[Sequence[float]],
    directions: Sequence[str],
    me: int,
    eta: float,
    grace: int,
    violations: Sequence[float] | None = None,
) -> RungDecision:
    """Whether peer ``me`` (an index into ``values``, the rung's values of every design that reached it)
    goes on to the next rung. ``directions``: "maximize"/"minimize" per objective."""
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    points = np.asarray(values, dtype=np.float64) * sign
    order, ranks = promotion_order(points, None if violations is None else np.asarray(violations))
    n = len(points)
    position = int(np.flatnonzero(order == me)[0])
    keep = max(1, int(n // eta))
    promote = n < grace or position < keep
    return RungDecision(promote, position, keep, n, int(ranks[me]), grace)
