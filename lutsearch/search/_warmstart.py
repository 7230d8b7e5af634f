"""Warm start: the published configurations that fit a space become the study's first trials.

A baseline is a single-point space file (``spaces/baselines/*.yaml``: every knob fixed). It *fits* a
target space when the dataset name is the same (variant and other dataset options may differ: the target's
are used, and the difference is noted), its family is one of the target's families, and ``space.sample``
can draw exactly the baseline's model knobs: every knob the target searches can take the baseline's value
(in range, on the step, among the choices; a per-layer list has a count and each element in range), every
knob the target fixes has the baseline's value, and every knob the target does not name has its default
equal to the baseline's value. Model knobs must match exactly; training settings always come from the
target space: a searched one takes the baseline's value when the target's range allows it (else the
sampler draws it), a fixed one (e.g. ``epochs``) keeps the target's value; both are noted.

``plan_warm_start`` gives, per baseline file, the Optuna parameters for ``study.enqueue_trial`` or a
one-line reason; ``enqueue_warm_start`` enqueues each fitting baseline once per study (user attribute
``warm_start``), so a resumed run does not enqueue them again.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import optuna

from lutsearch.space import (
    Categorical,
    Fixed,
    FloatRange,
    IntRange,
    Param,
    PerLayer,
    SearchSpace,
    SpaceError,
    load_space,
)
from lutsearch.space._params import _PRIMITIVES

__all__ = ["WARM_START_ATTR", "WarmStartError", "WarmStartPlan", "enqueue_warm_start", "plan_warm_start"]

WARM_START_ATTR = "warm_start"  # user attribute of an enqueued baseline trial: the baseline's name
_SUFFIXES = (".yaml", ".yml")


class WarmStartError(SpaceError):
    """A bad warm-start source (missing path, no baseline files): one line naming the path."""


class _Misfit(Exception):
    """Raised while fitting one baseline: its text is the one-line reason."""


@dataclasses.dataclass(frozen=True)
class WarmStartPlan:
    """Per baseline file: ``fits`` (name, Optuna params to enqueue) or ``misfits`` (name, reason).

    ``notes`` says, per fitting baseline, what the target space changes (dataset options, training
    settings); the model itself is always the baseline's.
    """

    source: Path
    fits: list[tuple[str, dict[str, Any]]]
    misfits: list[tuple[str, str]]
    notes: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def plan_warm_start(space: SearchSpace, source: Path) -> WarmStartPlan:
    """Fit every baseline space file of ``source`` (a file, or a folder of ``*.yaml``) to ``space``."""
    fits: list[tuple[str, dict[str, Any]]] = []
    misfits: list[tuple[str, str]] = []
    notes: dict[str, list[str]] = {}
    for path in baseline_files(Path(source), exclude=space.path):
        try:
            baseline = load_space(path)
        except SpaceError as exc:
            misfits.append((path.stem, f"invalid space file: {str(exc).splitlines()[0]}"))
            continue
        name = baseline.name
        if any(name == seen for seen, _ in [*fits, *misfits]):
            misfits.append((f"{name} ({path.name})", f"another baseline file is named {name!r}"))
            continue
        try:
            params, why = _fit_baseline(space, baseline)
        except _Misfit as exc:
            misfits.append((name, str(exc)))
            continue
        twin = next((other for other, p in fits if p == params), None)
        if twin is not None:
            misfits.append((name, f"draws the same trial as {twin} in this space"))
            continue
        fits.append((name, params))
        notes[name] = why
    return WarmStartPlan(Path(source), fits, misfits, notes)


def baseline_files(source: Path, exclude: Path | None = None) -> list[Path]:
    """The space files of a warm-start source; a missing path or a folder without any is an error."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise WarmStartError(f"{source}: warm start: no such baseline file or folder")
    skip = exclude.resolve() if exclude is not None else None
    files = sorted(p for p in source.iterdir() if p.suffix in _SUFFIXES and p.is_file() and p.resolve() != skip)
    if not files:
        raise WarmStartError(f"{source}: warm start: no baseline space files (*.yaml) in this folder")
    return files


def enqueue_warm_start(study: optuna.Study, plan: WarmStartPlan) -> list[str]:
    """Enqueue each fitting baseline not yet enqueued or run in ``study``; the names enqueued, in order."""
    done = {t.user_attrs.get(WARM_START_ATTR) for t in study.get_trials(deepcopy=False)}
    enqueued = []
    for name, params in plan.fits:
        if name in done:
            continue
        study.enqueue_trial(dict(params), user_attrs={WARM_START_ATTR: name})
        enqueued.append(name)
    return enqueued


def _fit_baseline(space: SearchSpace, baseline: SearchSpace) -> tuple[dict[str, Any], list[str]]:
    """Optuna params that make ``space.sample`` draw ``baseline``'s model, and notes on what differs.

    Raises ``_Misfit`` with a one-line reason when the baseline does not fit.
    """
    from lutsearch.models import resolve_params

    if space.dataset["name"] != baseline.dataset["name"]:
        raise _Misfit(f"dataset {baseline.dataset['name']!r}, the space's is {space.dataset['name']!r}")
    drawn = _single_point(baseline)
    family = drawn["family"]
    if family not in space.families():
        raise _Misfit(f"family {family!r} is not among the space's ({', '.join(space.families())})")
    try:
        target = resolve_params(family, drawn["params"])
    except ValueError as exc:
        raise _Misfit(str(exc)) from None
    params, problems = _model_fit(space, family, target)
    if problems:
        shown = "; ".join(problems[:4]) + (f" (+{len(problems) - 4} more)" if len(problems) > 4 else "")
        raise _Misfit(shown)
    train_params, notes = _train_fit(space, drawn["train"])
    params.update(train_params)
    _verify(space, params, family, target)
    return params, _dataset_notes(space, baseline) + notes


def _single_point(baseline: SearchSpace) -> dict[str, Any]:
    """The baseline's one configuration; a baseline that searches anything is not a published point."""
    try:
        return baseline.sample(_NoSearch())
    except _Misfit:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise _Misfit(f"cannot resolve its configuration: {exc}") from None


def _model_fit(space: SearchSpace, family: str, target: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Walk the space's model specs in ``sample``'s order: a family's own spec replaces the shared one, and
    a knob-conditioned block's spec, drawn last, decides."""
    from lutsearch.models import get_family

    params: dict[str, Any] = {} if isinstance(space.family, Fixed) else {"family": family}
    drawn: dict[str, Any] = {}  # what sample() holds so far: the baseline's value of every knob the space draws
    problems: dict[str, str | None] = {}

    def take(name: str, knob: str, spec: Param) -> None:
        if knob not in target:  # a knob of a connectivity scheme the baseline does not use: dropped anyway
            return
        encoded, problem = _encode(spec, name, target[knob], drawn)
        params.update(encoded)
        problems[knob] = None if problem is None else f"{knob}={_show(target[knob])} {problem}"
        drawn[knob] = target[knob]

    own = space.when.get(family, {})
    for key, spec in space.params.items():
        if key not in own:  # as in ``sample``: the family's own spec replaces the shared one
            take(key, key, spec)
    for key, spec in own.items():
        take(f"{family}.{key}", key, spec)
    for cond, block in space.when.items():
        knob, _, value = cond.partition("=")
        if value and str(drawn.get(knob)).lower() == value.lower():
            for key, spec in block.items():
                take(f"{cond}.{key}", key, spec)
    knobs = get_family(family).all_knobs
    for knob, value in target.items():
        if knob not in problems and not _same(value, knobs[knob].default):
            problems[knob] = (
                f"{knob}={_show(value)}: the space does not search it (default {_show(knobs[knob].default)})"
            )
    return params, [p for p in problems.values() if p is not None]


def _encode(spec: Param, name: str, value: Any, drawn: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The Optuna params under which ``spec`` draws ``value``, or why it cannot (a phrase)."""
    if isinstance(spec, Fixed):
        return {}, None if _same(spec.value, value) else f"but the space fixes it to {_show(spec.value)}"
    if isinstance(spec, (IntRange, FloatRange)):
        return ({name: _number(spec, value)}, None) if _in_range(spec, value) else ({}, f"outside {_describe(spec)}")
    if isinstance(spec, Categorical):
        index = next((i for i, c in enumerate(spec.choices) if _same(c, value)), None)
        if index is None:
            return {}, f"not among {_describe(spec)}"
        if all(isinstance(c, _PRIMITIVES) for c in spec.choices):
            return {name: spec.choices[index]}, None
        return {f"{name}.choice": index}, None
    if isinstance(spec, PerLayer):
        return _encode_per_layer(spec, name, value, drawn)
    return {}, f"cannot be matched against a {type(spec).__name__} parameter"  # pragma: no cover - new Param kinds


def _encode_per_layer(
    spec: PerLayer, name: str, value: Any, drawn: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    if not isinstance(value, (list, tuple)):
        return {}, "is not a list"
    out: dict[str, Any] = {}
    if isinstance(spec.count, str):
        if spec.count not in drawn or drawn[spec.count] != len(value):
            return {}, f"has {len(value)} layers, the space takes {spec.count}={_show(drawn.get(spec.count))}"
    else:
        encoded, problem = _encode(spec.count, f"{name}.count", len(value), drawn)
        if problem is not None:
            return {}, f"has {len(value)} layers: count {problem}"
        out.update(encoded)
    for i, item in enumerate(value):
        encoded, problem = _encode(spec.inner, f"{name}.{i}", item, drawn)
        if problem is not None:
            return {}, f"layer {i} ({_show(item)}) {problem}"
        out.update(encoded)
    return out, None


def _train_fit(space: SearchSpace, baseline: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The baseline's searched training settings the space's ranges allow; notes on the rest."""
    from lutsearch.train import TrainConfig

    params: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in baseline.items():
        spec = space.train.get(key)
        if spec is None:
            default = getattr(TrainConfig(), key)
            if not _same(value, default):
                notes.append(f"{key} {_show(value)} -> {_show(default)} (default)")
        elif isinstance(spec, Fixed):
            if not _same(value, spec.value):
                notes.append(f"{key} {_show(value)} -> {_show(spec.value)}")
        else:
            encoded, problem = _encode(spec, f"train.{key}", value, {})
            params.update(encoded)
            if problem is not None:
                notes.append(f"{key} {_show(value)} {problem}: drawn by the sampler")
    return params, notes


def _dataset_notes(space: SearchSpace, baseline: SearchSpace) -> list[str]:
    mine, theirs = baseline.dataset["options"], space.dataset["options"]
    return [
        f"dataset {key} {_show(mine.get(key))} -> {_show(theirs.get(key))}"
        for key in sorted(set(mine) | set(theirs))
        if mine.get(key) != theirs.get(key)
    ]


def _verify(space: SearchSpace, params: dict[str, Any], family: str, target: dict[str, Any]) -> None:
    """Replay the params through ``space.sample``: the model drawn must be the baseline's, knob for knob."""
    from lutsearch.models import resolve_params

    try:
        drawn = space.sample(_Replay(params))
        got = resolve_params(drawn["family"], drawn["params"]) if drawn["family"] == family else {}
    except (KeyError, TypeError, ValueError) as exc:
        raise _Misfit(f"the space cannot draw its configuration: {exc}") from None
    wrong = [k for k in target if not _same(got.get(k), target[k])]
    if drawn["family"] != family or wrong:
        where = wrong[0] if wrong else "family"
        raise _Misfit(f"the space cannot reproduce {where}={_show(target.get(where, family))} (its sampling differs)")


class _NoSearch:
    """A trial for single-point spaces: any suggestion means the file searches something."""

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        raise _Misfit(f"not a single-point space: it searches {name}")

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        raise _Misfit(f"not a single-point space: it searches {name}")

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        raise _Misfit(f"not a single-point space: it searches {name}")


@dataclasses.dataclass
class _Replay:
    """A trial answering from enqueued params (what Optuna does); other names get their lowest value."""

    params: dict[str, Any]

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        return int(self.params.get(name, low))

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return float(self.params.get(name, low))

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.params.get(name, next(iter(choices)))


def _in_range(spec: IntRange | FloatRange, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(spec, IntRange) and not (isinstance(value, int) or float(value).is_integer()):
        return False
    if not spec.low <= value <= spec.high:
        return False
    if spec.step is None:
        return True
    k = (value - spec.low) / spec.step
    return abs(k - round(k)) < 1.0e-8  # Optuna's own test for a stepped distribution


def _number(spec: IntRange | FloatRange, value: Any) -> int | float:
    return int(value) if isinstance(spec, IntRange) else float(value)


def _same(a: Any, b: Any) -> bool:
    """Equal as a space value: lists and tuples alike, booleans never equal to numbers."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (
            isinstance(a, (list, tuple))
            and isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b))
        )
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _describe(spec: Param) -> str:
    if isinstance(spec, (IntRange, FloatRange)):
        step = f" step {spec.step:g}" if spec.step not in (None, 1) else ""
        return f"the space's range {spec.low:g}..{spec.high:g}{step}"
    if isinstance(spec, Categorical):
        return f"the space's choices [{', '.join(_show(c) for c in spec.choices)}]"
    return "the space's values"  # pragma: no cover - fixed and per-layer specs say their own


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
