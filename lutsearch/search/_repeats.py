"""A design the sampler proposes again is not trained again.

A sampler on a space of discrete knobs proposes a design it already tried, and proposes it more often as
it converges (TPE repeats about 1 in 6 of its first 150 proposals on the 4,096-design grid of
``benchmarks/search_efficiency.py``). Training such a design again costs a full trial and adds nothing the
search looks at, since the front and the sampler already hold its result.

So when the sampled parameters of a new trial equal those of a finished trained trial (COMPLETE, or
stopped at a rung), the driver records the new trial PRUNED and untrained: it does not count toward
``--trials``, like every design pruned before training. The new trial carries ``repeat_of`` (the
earlier trial's number), ``repeat_values`` (the values the earlier trial is judged on: its final values,
or its last rung's) and the earlier trial's constraint values. ``RungAwareSampler`` shows the repeat to
the sampler as COMPLETE with those values, as if it had been trained again with the same outcome. The
stored study keeps one COMPLETE trial per design, so the front and export are unchanged.

Left out, on purpose:
- enqueued trials (warm start, re-queued, question cells): they are always trained;
- repeats of a running trial: they are trained (the parallel sampler's liar keeps them rare);
- a space with nothing to sample: every trial is then a seed replicate, which the user asked for.

A space turns this off with ``sampler: {repeats: train}``.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lutsearch.search._rung_sampler import REPEAT_VALUES, as_observed
from lutsearch.search._study import UNTRAINED

__all__ = ["REPEAT_OF", "REPEAT_VALUES", "mark_repeat", "trained_original"]

REPEAT_OF = "repeat_of"  # user attribute: the number of the trained trial a repeat takes its result from


def trained_original(study: optuna.Study, params: dict[str, Any], number: int) -> FrozenTrial | None:
    """The earliest finished, trained trial other than ``number`` sampled with exactly ``params``, or None."""
    if not params:
        return None
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if t.number == number or t.user_attrs.get(UNTRAINED) or t.params != params:
            continue
        if as_observed(t).state == TrialState.COMPLETE:  # complete, or stopped at a rung with its values
            return t
    return None


def mark_repeat(trial: optuna.Trial, original: FrozenTrial) -> str:
    """Record on ``trial`` (not yet told) what the sampler sees of it; the reason to prune it with."""
    seen = as_observed(original)
    trial.set_user_attr(REPEAT_OF, original.number)
    trial.set_user_attr(REPEAT_VALUES, list(seen.values))
    for key, value in original.constraints.items():
        trial.set_constraint(key, value)
    return f"repeat of trial {original.number}: the same sampled parameters, trained already"
