"""The paired grid of a question study: strata x repeats x levels, enqueued as fixed trials.

Repeat ``r`` of a stratum trains with the seed ``question_seed(space.seed, r)`` (initialization and data
order) and the same draw of every knob the space still searches (one draw per stratum and repeat, from
Optuna's ``RandomSampler`` seeded by both), so its levels differ only in the studied knob(s). Each trial
carries the user attributes ``question_stratum``, ``question_level`` (the level's label) and
``question_repeat``; ``apply_question`` turns them into the configuration's overrides (stratum family,
knobs, training settings, dataset; then the level's knobs). ``enqueue_question_grid`` enqueues the cells
the study does not hold yet, so a resumed study never enqueues a cell twice. Every cell trains to the end:
a question space has no ``fidelity:`` block (the space refuses one) and the dominance pre-filter skips
question trials.
"""

from __future__ import annotations

import copy
from typing import Any

import optuna

from lutsearch.space import Categorical, SearchSpace
from lutsearch.space._question import Question

__all__ = [
    "DUPLICATE",
    "QUESTION_LEVEL",
    "QUESTION_REPEAT",
    "QUESTION_STRATUM",
    "apply_question",
    "duplicate_cell",
    "enqueue_question_grid",
    "give_back_duplicate",
    "grid_cells",
    "question_seed",
    "question_target",
]

QUESTION_STRATUM = "question_stratum"
QUESTION_LEVEL = "question_level"
QUESTION_REPEAT = "question_repeat"
_SEED_OFFSET = 900_000  # question seeds sit apart from the search's trial seeds (space.seed * 1_000_003 + n)


def question_seed(space_seed: int, repeat: int) -> int:
    """The training seed of repeat ``repeat``, the same at every level and in every stratum."""
    return int(space_seed) * 1_000_003 + _SEED_OFFSET + int(repeat)


def grid_cells(question: Question) -> list[tuple[str, int, str]]:
    """(stratum, repeat, level label) of every cell, repeat-major within a stratum, levels innermost
    (so the levels of one repeat run close together in time)."""
    return [(s.name, r, label) for s in question.strata for r in range(question.seeds) for label in question.labels]


def _paired_params(space: SearchSpace, stratum_index: int, repeat: int) -> dict[str, Any]:
    """The Optuna parameters of one stratum's repeat: the stratum's family, one random draw of the rest."""
    assert space.question is not None
    stratum = space.question.strata[stratum_index]
    sampler = optuna.samplers.RandomSampler(seed=space.seed * 7919 + stratum_index * 1009 + repeat)
    scratch = optuna.create_study(sampler=sampler)
    if stratum.family is not None and isinstance(space.family, Categorical):
        scratch.enqueue_trial({"family": stratum.family})
    trial = scratch.ask()
    space.sample(trial)
    return dict(trial.params)


def enqueue_question_grid(study: optuna.Study, space: SearchSpace) -> int:
    """Enqueue every cell of the space's question grid not yet in ``study`` (in any state); how many."""
    question = space.question
    if question is None:
        return 0
    held = {
        (t.user_attrs.get(QUESTION_STRATUM), t.user_attrs.get(QUESTION_REPEAT), t.user_attrs.get(QUESTION_LEVEL))
        for t in study.get_trials(deepcopy=False)
    }
    index = {s.name: i for i, s in enumerate(question.strata)}
    drawn: dict[tuple[str, int], dict[str, Any]] = {}
    n = 0
    for stratum, repeat, label in grid_cells(question):
        if (stratum, repeat, label) in held:
            continue
        if (stratum, repeat) not in drawn:
            drawn[stratum, repeat] = _paired_params(space, index[stratum], repeat)
        attrs = {
            QUESTION_STRATUM: stratum,
            QUESTION_REPEAT: repeat,
            QUESTION_LEVEL: label,
            "seed": question_seed(space.seed, repeat),
        }
        study.enqueue_trial(dict(drawn[stratum, repeat]), user_attrs=attrs, skip_if_exists=False)
        n += 1
    return n


def apply_question(space: SearchSpace, config: dict[str, Any], user_attrs: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the overrides of the cell named by ``user_attrs`` (unchanged for other trials)."""
    question = space.question
    if question is None or QUESTION_STRATUM not in user_attrs:
        return config
    stratum = next(s for s in question.strata if s.name == user_attrs[QUESTION_STRATUM])
    model, train = question.overrides(question.labels.index(user_attrs[QUESTION_LEVEL]))
    out = copy.deepcopy(config)
    if stratum.family is not None:
        out["family"] = stratum.family
    out["params"] = {**out["params"], **copy.deepcopy(stratum.params), **copy.deepcopy(model)}
    out["train"] = {**out["train"], **stratum.train, **train}
    if stratum.dataset is not None:
        out["dataset"] = copy.deepcopy(stratum.dataset)
    return out


def question_target(space: SearchSpace, trials: int) -> int:
    """A question study's target: its grid (fewer when ``trials`` asks for fewer, e.g. a smoke run)."""
    return trials if space.question is None else min(int(trials), space.question.n_trials)


DUPLICATE = "duplicate_cell"  # user attribute of a trial given back because another trial holds its cell


def _cell(attrs: dict[str, Any]) -> tuple[Any, Any, Any]:
    return attrs.get(QUESTION_STRATUM), attrs.get(QUESTION_REPEAT), attrs.get(QUESTION_LEVEL)


def duplicate_cell(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Whether another trial holds ``trial``'s question cell: several drivers starting together may each
    enqueue the grid. A cell is held by a trial that finished (not a re-queued failure, not a twin given
    back), or runs with a smaller number (of two twins running at once, the later one yields)."""
    from optuna.trial import TrialState

    from lutsearch.search._study import REQUEUED

    if QUESTION_STRATUM not in trial.user_attrs:
        return False
    cell = _cell(trial.user_attrs)
    for t in study.get_trials(deepcopy=False):
        if t.number == trial.number or t.state == TrialState.WAITING or _cell(t.user_attrs) != cell:
            continue
        if t.user_attrs.get(DUPLICATE) or (t.state == TrialState.FAIL and t.user_attrs.get(REQUEUED)):
            continue
        if t.state == TrialState.RUNNING and t.number > trial.number:
            continue
        return True
    return False


def give_back_duplicate(study: optuna.Study, trial: optuna.Trial) -> None:
    """Record ``trial`` as a twin of a held cell: pruned, untrained (not counted), never analysed."""
    from optuna.trial import TrialState

    from lutsearch.search._study import UNTRAINED

    trial.set_user_attr(DUPLICATE, True)
    trial.set_user_attr(UNTRAINED, True)
    trial.set_user_attr("prune_reason", "duplicate question cell (another driver enqueued the grid too)")
    study.tell(trial, state=TrialState.PRUNED)
