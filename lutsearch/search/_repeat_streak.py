"""How many of a study's latest finished trials repeat the parameters of an earlier trial, in a row.

A sampler that has converged proposes designs it already tried (the driver does not train them again,
``_repeats``). ``FamilyFirstSampler`` reads this streak to break out of such a run (``_family_sampler``).
The count is over finished trials in number order; a running trial is skipped, so with trials in flight
the streak is the one seen so far. Kept incrementally: each trial's parameters are indexed once.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

__all__ = ["RepeatStreak"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _key(params: dict[str, Any]) -> tuple:
    return tuple(sorted(params.items()))


class RepeatStreak:
    """The number of trailing finished trials whose parameters an earlier-numbered trial already had."""

    def __init__(self) -> None:
        self._first: dict[tuple, int] = {}  # parameters -> the lowest trial number seen with them
        self._key_of: dict[int, tuple] = {}  # finished trial number -> its parameters' key
        self._study_id: int | None = None

    def __call__(self, study: optuna.Study) -> int:
        if self._study_id != study._study_id:
            self._first, self._key_of, self._study_id = {}, {}, study._study_id
        finished = study._get_trials(deepcopy=False, states=_FINISHED, use_cache=True)
        for t in finished:
            if t.number not in self._key_of and t.params:
                key = _key(t.params)
                self._key_of[t.number] = key
                self._first[key] = min(self._first.get(key, t.number), t.number)
        streak = 0
        for t in reversed(finished):  # Optuna lists a study's trials in number order
            seen = self._key_of.get(t.number)
            if seen is None:
                continue
            if self._first[seen] == t.number:
                break
            streak += 1
        return streak
