"""The ``question:`` block of a space: a paired experiment on one knob (or a joint level of several).

A question names the knob(s) under study, its levels, the reference level, the paired repeats
(``seeds``), the metric, and the strata (configurations the answer may depend on: model family and
size, dataset). The study then runs the full grid strata x repeats x levels; repeat ``r`` of a stratum
uses the same seed and the same other parameters at every level, so the levels differ only in the knob
(``lutsearch.search._question_grid``). Errors are one-line ``SpaceError``s naming the file and key.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from lutsearch.space._params import SpaceError

if TYPE_CHECKING:
    from lutsearch.space._schema import SearchSpace

__all__ = ["QUESTION_KEYS", "STRATUM_KEYS", "Question", "Stratum", "check_question", "parse_question"]

QUESTION_KEYS = ("text", "knob", "knobs", "levels", "labels", "reference", "seeds", "metric", "direction", "strata")
STRATUM_KEYS = ("family", "params", "train", "dataset", "group")
_DIRECTIONS = ("maximize", "minimize")


@dataclasses.dataclass(frozen=True)
class Stratum:
    """One configuration the answer may depend on: overrides of the family, model knobs, training
    settings and dataset (``None``: the space's). ``group`` gathers strata compared with each other
    (e.g. the PolyLUT degrees of one dataset: does the best degree move with the level?); default ``all``."""

    name: str
    family: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    dataset: dict[str, Any] | None = None
    group: str = ""


@dataclasses.dataclass(frozen=True)
class Question:
    """``levels[i]`` maps each knob (``name`` or ``train.name``) to its value at level i."""

    knobs: tuple[str, ...]
    levels: tuple[dict[str, Any], ...]
    labels: tuple[str, ...]
    reference: int  # index into levels
    seeds: int
    metric: str
    direction: str
    strata: tuple[Stratum, ...]
    text: str = ""

    @property
    def n_trials(self) -> int:
        return len(self.strata) * self.seeds * len(self.levels)

    def describe(self) -> str:
        """One line: what is asked and the grid's size."""
        return (
            f"question: {', '.join(self.knobs)} at levels [{', '.join(self.labels)}] (reference "
            f"{self.labels[self.reference]}), metric {self.metric} ({self.direction}); {len(self.levels)} levels x "
            f"{self.seeds} seeds x {len(self.strata)} strata ({', '.join(s.name for s in self.strata)}) = "
            f"{self.n_trials} trials"
        )

    def overrides(self, level: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model knobs, training settings) that level ``level`` sets."""
        model, train = {}, {}
        for knob, value in self.levels[level].items():
            if knob.startswith("train."):
                train[knob[len("train.") :]] = value
            else:
                model[knob] = value
        return model, train


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _mapping(where: str, value: Any, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpaceError(f"{where}: expected a mapping, got {type(value).__name__}")
    for key in value:
        if allowed is not None and key not in allowed:
            raise SpaceError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")
    return value


def _levels(w: str, q: dict[str, Any]) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """``knob: X`` with values as levels, or ``knobs: [X, Y]`` with ``{X: .., Y: ..}`` mappings as levels."""
    if ("knob" in q) == ("knobs" in q):
        raise SpaceError(f"{w}: name exactly one of knob (one knob) or knobs (a joint level); allowed: knob, knobs")
    raw_levels = q.get("levels")
    if not isinstance(raw_levels, list) or len(raw_levels) < 2:
        raise SpaceError(f"{w}.levels: expected a list of at least 2 levels, got {raw_levels!r}")
    if "knob" in q:
        if not isinstance(q["knob"], str) or not q["knob"]:
            raise SpaceError(f"{w}.knob: expected a knob name (a model knob or train.<setting>), got {q['knob']!r}")
        knobs: tuple[str, ...] = (q["knob"],)
        levels = [{q["knob"]: value} for value in raw_levels]
    else:
        if not isinstance(q["knobs"], list) or not q["knobs"] or not all(isinstance(k, str) for k in q["knobs"]):
            raise SpaceError(f"{w}.knobs: expected a list of knob names, got {q['knobs']!r}")
        knobs = tuple(q["knobs"])
        levels = []
        for i, level in enumerate(raw_levels):
            if not isinstance(level, dict) or set(level) != set(knobs):
                raise SpaceError(
                    f"{w}.levels[{i}]: expected a mapping of every knob ({', '.join(knobs)}), got {level!r}"
                )
            levels.append({k: level[k] for k in knobs})
    keys = [json.dumps(level, sort_keys=True) for level in levels]
    if len(set(keys)) != len(keys):
        raise SpaceError(f"{w}.levels: a level is listed twice ({raw_levels!r})")
    return knobs, levels


def _labels(w: str, q: dict[str, Any], levels: list[dict[str, Any]]) -> tuple[str, ...]:
    raw = q.get("labels")
    if raw is None:
        labels = [
            _show(next(iter(lv.values()))) if len(lv) == 1 else ", ".join(f"{k}={_show(v)}" for k, v in lv.items())
            for lv in levels
        ]
    elif not isinstance(raw, list) or len(raw) != len(levels) or not all(isinstance(x, str) and x for x in raw):
        raise SpaceError(f"{w}.labels: expected {len(levels)} names (one per level), got {raw!r}")
    else:
        labels = list(raw)
    if len(set(labels)) != len(labels):
        raise SpaceError(f"{w}.labels: two levels have the same label ({', '.join(labels)})")
    return tuple(labels)


def _reference(w: str, q: dict[str, Any], levels: list[dict[str, Any]], labels: tuple[str, ...]) -> int:
    if "reference" not in q:
        raise SpaceError(f"{w}.reference: missing; allowed: one of the levels ({', '.join(labels)})")
    ref = q["reference"]
    for i, (level, label) in enumerate(zip(levels, labels)):
        value = next(iter(level.values())) if len(level) == 1 else level
        same_kind = isinstance(ref, bool) == isinstance(value, bool)  # true is not the level 1
        if (same_kind and ref == value) or ref == label:
            return i
    raise SpaceError(f"{w}.reference: {ref!r} is not a level; allowed: {', '.join(labels)}")


def _metric(w: str, q: dict[str, Any], objectives: dict[str, str]) -> tuple[str, str]:
    """The metric and its direction: an objective's own, or ``direction:`` for a recorded metric."""
    metric = q.get("metric", "accuracy")
    if not isinstance(metric, str) or not metric:
        raise SpaceError(f"{w}.metric: expected an objective name or a recorded metric, got {metric!r}")
    if metric.startswith("test"):
        raise SpaceError(f"{w}.metric: {metric!r}: test accuracy is never a metric; allowed: {', '.join(objectives)}")
    direction = q.get("direction", objectives.get(metric))
    if direction is None:
        raise SpaceError(
            f"{w}.direction: missing for {metric!r}, which is not an objective of the space "
            f"({', '.join(objectives)}); allowed: maximize, minimize"
        )
    if direction not in _DIRECTIONS:
        raise SpaceError(f"{w}.direction: {direction!r}; allowed: maximize, minimize")
    return metric, direction


def _stratum(w: str, name: Any, raw: Any) -> Stratum:
    where = f"{w}.strata.{name}"
    if not isinstance(name, str) or not name:
        raise SpaceError(f"{w}.strata: stratum names must be strings, got {name!r}")
    block = _mapping(where, raw, STRATUM_KEYS)
    family = block.get("family")
    if family is not None and not isinstance(family, str):
        raise SpaceError(f"{where}.family: expected one family name, got {family!r}")
    dataset = block.get("dataset")
    if dataset is not None:
        dataset = dict(_mapping(f"{where}.dataset", dataset, ("name", "split_seed", "val_fraction", "options")))
    group = block.get("group", "all")
    if not isinstance(group, str):
        raise SpaceError(f"{where}.group: expected a name, got {group!r}")
    return Stratum(
        name=name,
        family=family,
        params=dict(_mapping(f"{where}.params", block.get("params"))),
        train=dict(_mapping(f"{where}.train", block.get("train"))),
        dataset=dataset,
        group=group,
    )


def parse_question(f: str, raw: Any, objectives: dict[str, str]) -> Question | None:
    """The structure of a ``question:`` block (``f``: the ``<file>: `` prefix of errors; ``objectives``:
    the space's objective names and directions). The knobs' values are checked by ``check_question``."""
    if raw is None:
        return None
    w = f"{f}question"
    q = _mapping(w, raw, QUESTION_KEYS)
    knobs, levels = _levels(w, q)
    labels = _labels(w, q, levels)
    reference = _reference(w, q, levels, labels)
    seeds = q.get("seeds", 5)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2:
        raise SpaceError(f"{w}.seeds: {seeds!r}; allowed: an integer >= 2 (paired repeats; 5 or more recommended)")
    metric, direction = _metric(w, q, objectives)
    raw_strata = _mapping(f"{w}.strata", q.get("strata"))
    strata = tuple(_stratum(w, name, block) for name, block in raw_strata.items()) or (Stratum("all", group="all"),)
    return Question(knobs, tuple(levels), labels, reference, seeds, metric, direction, strata, str(q.get("text", "")))


def _families(space: SearchSpace, stratum: Stratum) -> list[str]:
    return [stratum.family] if stratum.family is not None else space.families()


def _searched(space: SearchSpace, knob: str) -> str | None:
    """Where the space searches ``knob`` (a key path), or None."""
    if knob.startswith("train."):
        spec = space.train.get(knob[len("train.") :])
        return f"train.{knob[len('train.') :]}" if spec is not None and spec.searched else None
    if knob in space.params and space.params[knob].searched:
        return f"model.params.{knob}"
    return next(
        (f"model.when.{cond}.{knob}" for cond, block in space.when.items() if knob in block and block[knob].searched),
        None,
    )


def _check_value(where: str, knob: str, value: Any, families: list[str]) -> None:
    from lutsearch.models import get_family
    from lutsearch.train import TrainConfig

    if knob.startswith("train."):
        name = knob[len("train.") :]
        fields = [fld.name for fld in dataclasses.fields(TrainConfig) if fld.name not in ("device", "threads")]
        if name not in fields:
            raise SpaceError(f"{where}: unknown training setting {name!r}; allowed: {', '.join(fields)}")
        default = getattr(TrainConfig(), name)
        if isinstance(value, bool) or not isinstance(value, (int, float) if isinstance(default, float) else int):
            raise SpaceError(f"{where}: {name} = {value!r}; allowed: a {type(default).__name__}")
        return
    for fam in families:
        knobs = get_family(fam).all_knobs
        if knob not in knobs:
            raise SpaceError(f"{where}: {knob!r} is not a knob of family {fam!r}; allowed: {', '.join(sorted(knobs))}")
        problem = knobs[knob].problem(value)
        if problem:
            raise SpaceError(f"{where}: {problem} (family {fam!r})")


def check_question(f: str, question: Question, space: SearchSpace) -> Question:
    """Check the question against its space: every level and stratum value suits the knob of every family
    that reads it, no studied knob is also searched, strata name the space's families; the strata's
    datasets are parsed like the space's. Returns the question with its strata's datasets resolved."""
    from lutsearch.space._schema import _dataset

    w = f"{f}question"
    if space.fidelity is not None:
        raise SpaceError(f"{f}fidelity: a question study trains every cell to the end; allowed: off (remove it)")
    for knob in question.knobs:
        where = _searched(space, knob)
        if where is not None:
            raise SpaceError(f"{w}.knob: {knob!r} is also searched by the space ({where}); fix it there or drop it")
    strata = []
    for stratum in question.strata:
        ws = f"{w}.strata.{stratum.name}"
        if stratum.family is not None and stratum.family not in space.families():
            raise SpaceError(f"{ws}.family: {stratum.family!r}; allowed: {', '.join(space.families())}")
        families = _families(space, stratum)
        for i, level in enumerate(question.levels):
            for knob, value in level.items():
                _check_value(f"{w}.levels[{i}]", knob, value, families)
        overrides = {**stratum.params, **{f"train.{k}": v for k, v in stratum.train.items()}}
        for knob, value in overrides.items():
            key = f"{ws}.train.{knob[6:]}" if knob.startswith("train.") else f"{ws}.params.{knob}"
            if knob in question.knobs:
                raise SpaceError(f"{key}: the question's knob is set by its levels; drop it here")
            if _searched(space, knob) is not None:
                raise SpaceError(f"{key}: also searched by the space ({_searched(space, knob)}); fix it in one place")
            _check_value(key, knob, value, families)
        dataset = _dataset(f"{ws}.", stratum.dataset) if stratum.dataset is not None else None
        strata.append(dataclasses.replace(stratum, dataset=dataset))
    return dataclasses.replace(question, strata=tuple(strata))
