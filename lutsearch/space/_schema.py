"""Search-space files: safe YAML loading, validation with one-line errors, and trial sampling.

Every error is a ``SpaceError`` whose text is ``<file>: <key.path>: <problem>; allowed: <...>``.
The schema is documented in docs/spaces.md.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from lutsearch.space._fidelity import Fidelity, parse_fidelity
from lutsearch.space._params import Categorical, Fixed, FloatRange, IntRange, Param, PerLayer, SpaceError, parse_param
from lutsearch.space._question import Question, check_question, parse_question
from lutsearch.space._samplers import SAMPLERS

__all__ = ["TOP_LEVEL_KEYS", "Constraint", "ObjectiveRef", "SearchSpace", "load_space", "parse_space"]

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "source",
    "seed",
    "dataset",
    "model",
    "train",
    "objectives",
    "constraints",
    "sampler",
    "limits",
    "plugins",
    "retries",
    "warm_start",
    "fidelity",
    "question",
)
# Budgets that fit the data (TrainConfig.budget): at least 8 batches per epoch and 500 optimizer steps,
# so a few hundred rows still train past Brevitas' 300-step statistics phase. A space may override both.
TRAIN_DEFAULTS = {"min_steps": 500, "min_batches": 8}
_DATASET_KEYS = ("name", "split_seed", "val_fraction", "options")
_MODEL_KEYS = ("family", "params", "when")
_LIMIT_KEYS = ("max_address_bits",)
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


@dataclasses.dataclass(frozen=True)
class ObjectiveRef:
    name: str
    direction: str
    via: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Constraint:
    """``metric op bound``; ``violation(v)`` <= 0 means feasible (Optuna's convention)."""

    metric: str
    op: str
    bound: float
    via: str | None = None

    def violation(self, value: float) -> float:
        return value - self.bound if self.op in ("<=", "<") else self.bound - value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclasses.dataclass
class SearchSpace:
    path: Path
    name: str
    seed: int
    dataset: dict[str, Any]
    family: Param
    params: dict[str, Param]
    when: dict[str, dict[str, Param]]
    train: dict[str, Param]
    objectives: list[ObjectiveRef]
    constraints: list[Constraint]
    sampler: str
    sampler_options: dict[str, Any]
    limits: dict[str, int]
    plugins: list[Path]
    retries: int
    raw: dict[str, Any]
    description: str = ""
    source: str = ""
    warm_start: Path | None = None  # baseline space file or folder to enqueue first (lutsearch.search._warmstart)
    fidelity: Fidelity | None = None  # multi-fidelity search (successive halving on epochs); None: off
    question: Question | None = None  # a question study's paired grid (lutsearch.space._question); None: a search
    sampler_repeats: str = "reuse"  # a design sampled again after it was trained: "reuse" its result or "train"
    sampler_family: str = "joint"  # the family drawn with the other knobs ("joint") or first by a "bandit"
    sampler_joint_share: float | None = None  # with the bandit: share of trials drawn whole; None: its default

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def metric_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    def families(self) -> list[str]:
        if isinstance(self.family, Fixed):
            return [self.family.value]
        assert isinstance(self.family, Categorical)
        return list(self.family.choices)

    def sample(self, trial: Any) -> dict[str, Any]:
        """Draw one configuration through an Optuna trial (define-by-run: conditional params)."""
        family = self.family.sample(trial, "family", {})
        params: dict[str, Any] = {}
        own = self.when.get(family, {})
        for key, spec in _count_first(self.params):
            if key not in own:  # a family's own spec replaces the shared one: no unused parameter is drawn
                params[key] = spec.sample(trial, key, params)
        for key, spec in _count_first(own):
            params[key] = spec.sample(trial, f"{family}.{key}", params)
        for cond, block in self.when.items():  # knob-conditioned blocks, e.g. "connectivity=sparselut"
            knob, _, value = cond.partition("=")
            if value and str(params.get(knob)).lower() == value.lower():
                for key, spec in block.items():
                    params[key] = spec.sample(trial, f"{cond}.{key}", params)
        train = {key: spec.sample(trial, f"train.{key}", {}) for key, spec in self.train.items()}
        return {"family": family, "params": params, "train": train}

    def build_sampler(self, seed: int) -> Any:
        """The space's Optuna sampler (from the sampler registry), seeded with ``seed``."""
        return SAMPLERS.get(self.sampler).build(seed, self.sampler_options)


def _mapping(where: str, value: Any, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpaceError(f"{where}: expected a mapping, got {type(value).__name__}")
    if allowed is not None:
        for key in value:
            if key not in allowed:
                raise SpaceError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")
    return value


def _int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpaceError(f"{where}: expected an integer, got {value!r}")
    return value


def _objectives(f: str, raw: Any) -> list[ObjectiveRef]:
    from lutsearch.objectives import get_objective, objective_names

    if not isinstance(raw, list) or not raw:
        raise SpaceError(f"{f}objectives: expected a non-empty list; allowed names: {', '.join(objective_names())}")
    out = []
    for i, item in enumerate(raw):
        where = f"{f}objectives[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        item = _mapping(where, item, ("name", "direction", "via", "options"))
        name = item.get("name")
        if name not in objective_names():
            raise SpaceError(f"{where}.name: unknown objective {name!r}; allowed: {', '.join(objective_names())}")
        spec = get_objective(name)
        direction = item.get("direction", spec.direction)
        if direction not in ("maximize", "minimize"):
            raise SpaceError(f"{where}.direction: {direction!r}; allowed: maximize, minimize")
        via = item.get("via")
        if via is not None and via not in spec.backends:
            raise SpaceError(
                f"{where}.via: objective {name!r} has no backend {via!r}; allowed: {', '.join(sorted(spec.backends))}"
            )
        options = dict(_mapping(f"{where}.options", item.get("options")))
        _check_objective_options(f"{where}.options", options)
        out.append(ObjectiveRef(name, direction, via, options))
    names = [o.name for o in out]
    if len(set(names)) != len(names):
        raise SpaceError(f"{f}objectives: objective listed twice ({names})")
    return out


CONFIRM_MODES = ("off", "front", "all")  # online Yosys confirmation (lutsearch.search._confirm)


def _check_objective_options(where: str, options: dict[str, Any]) -> None:
    """``confirm`` / ``confirm_fraction`` (the driver's) and ``dont_cares`` of a hardware objective."""
    mode = options.get("confirm", "off")
    if mode not in CONFIRM_MODES:
        raise SpaceError(f"{where}.confirm: {mode!r}; allowed: {', '.join(CONFIRM_MODES)}")
    fraction = options.get("confirm_fraction", 0.1)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        raise SpaceError(f"{where}.confirm_fraction: {fraction!r}; allowed: a number from 0 to 1")
    dont_cares = options.get("dont_cares")
    if dont_cares is not None:
        count = dont_cares.get("min_count", 1) if isinstance(dont_cares, dict) else None
        if set(dont_cares if isinstance(dont_cares, dict) else ()) - {"min_count"} or not (
            isinstance(count, int) and not isinstance(count, bool) and count >= 1
        ):
            raise SpaceError(f"{where}.dont_cares: {dont_cares!r}; allowed: {{min_count: <integer >= 1>}}")


def _constraints(f: str, raw: Any) -> list[Constraint]:
    from lutsearch.objectives import get_objective, objective_names

    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SpaceError(f"{f}constraints: expected a list like ['luts <= 5000']")
    out = []
    for i, item in enumerate(raw):
        where = f"{f}constraints[{i}]"
        via = None
        if isinstance(item, dict):
            item = _mapping(where, item, ("expr", "via"))
            via, item = item.get("via"), item.get("expr")
        m = _CONSTRAINT_RE.match(str(item)) if isinstance(item, str) else None
        if not m:
            raise SpaceError(f"{where}: expected 'metric <=|>=|<|> number', got {item!r}")
        metric, op, bound = m.group(1), m.group(2), m.group(3)
        if metric not in objective_names():
            raise SpaceError(f"{where}: unknown metric {metric!r}; allowed: {', '.join(objective_names())}")
        if via is not None and via not in get_objective(metric).backends:
            raise SpaceError(f"{where}.via: {via!r}; allowed: {', '.join(sorted(get_objective(metric).backends))}")
        try:
            value = float(bound)
        except ValueError:
            raise SpaceError(f"{where}: {bound!r} is not a number") from None
        out.append(Constraint(metric, op, value, via))
    return out


def _check_knob(where: str, param: Param, knobs: dict[str, Any]) -> None:
    """Every value ``param`` can take must suit the knob of every family that reads it."""
    for fam, knob in knobs.items():
        if isinstance(param, Fixed):
            values = [param.value]
        elif isinstance(param, Categorical):
            values = [list(c) if isinstance(c, tuple) else c for c in param.choices]
        elif isinstance(param, (IntRange, FloatRange)):
            if (
                knob.kind not in ("int", "float")
                or knob.choices is not None
                or (isinstance(param, FloatRange) and knob.kind == "int")
            ):
                kind = "an integer range" if isinstance(param, IntRange) else "a float range"
                raise SpaceError(
                    f"{where}: {kind} cannot set knob of family {fam!r} that takes "
                    f"{'one of ' + ', '.join(map(str, knob.choices)) if knob.choices else knob.kind}"
                )
            values = [param.low, param.high]
        elif isinstance(param, PerLayer):
            if knob.kind != "int_list":
                raise SpaceError(f"{where}: per_layer makes a list, but family {fam!r} takes {knob.kind}")
            continue
        else:  # pragma: no cover - every Param kind is handled above
            continue
        for value in values:
            problem = knob.problem(value)
            if problem:
                raise SpaceError(f"{where}: {problem} (family {fam!r})")


def _model(f: str, raw: Any) -> tuple[Param, dict[str, Param], dict[str, dict[str, Param]]]:
    from lutsearch.models import family_names, get_family

    model = _mapping(f"{f}model", raw, _MODEL_KEYS)
    if "family" not in model:
        raise SpaceError(f"{f}model.family: missing; allowed: {', '.join(family_names())}")
    family = parse_param(f"{f}model.family", model["family"])
    if not isinstance(family, (Fixed, Categorical)):
        raise SpaceError(f"{f}model.family: a family name or {{choices: [...]}}; allowed: {', '.join(family_names())}")
    families = [family.value] if isinstance(family, Fixed) else list(family.choices)
    for name in families:
        if name not in family_names():
            raise SpaceError(f"{f}model.family: unknown family {name!r}; allowed: {', '.join(family_names())}")
    knobs = {name: get_family(name).all_knobs for name in families}
    params = {}
    for key, value in _mapping(f"{f}model.params", model.get("params")).items():
        missing = [fam for fam in families if key not in knobs[fam]]
        if missing:
            owners = [fam for fam in family_names() if key in get_family(fam).all_knobs]
            hint = (
                f"knob of {', '.join(owners)} only: put it under model.when.<family>"
                if owners
                else f"allowed: {', '.join(sorted(knobs[missing[0]]))}"
            )
            raise SpaceError(f"{f}model.params.{key}: not a knob of family {missing[0]!r}; {hint}")
        params[key] = parse_param(f"{f}model.params.{key}", value)
        _check_knob(f"{f}model.params.{key}", params[key], {fam: knobs[fam][key] for fam in families})
    when: dict[str, dict[str, Param]] = {}
    for cond, block in _mapping(f"{f}model.when", model.get("when")).items():
        where = f"{f}model.when.{cond}"
        knob, _, value = str(cond).partition("=")
        if value:  # a block conditioned on another knob's value, e.g. "connectivity=sparselut"
            owners = [fam for fam in families if knob in knobs[fam]]
            if not owners:
                raise SpaceError(f"{where}: {knob!r} is not a knob of {', '.join(families)}")
        elif cond not in families:
            raise SpaceError(
                f"{where}: not among the space's families ({', '.join(families)}) nor a 'knob=value' condition"
            )
        else:
            owners = [cond]
        when[cond] = {}
        for key, item in _mapping(where, block).items():
            for fam in owners:
                if key not in knobs[fam]:
                    raise SpaceError(
                        f"{where}.{key}: unknown knob of family {fam!r}; allowed: {', '.join(sorted(knobs[fam]))}"
                    )
            when[cond][key] = parse_param(f"{where}.{key}", item)
            _check_knob(f"{where}.{key}", when[cond][key], {fam: knobs[fam][key] for fam in owners})
    for fam in families:
        required = [k for k, knob in get_family(fam).all_knobs.items() if knob.required]
        for key in required:
            if key not in params and key not in when.get(fam, {}):
                raise SpaceError(f"{f}model.params.{key}: required by family {fam!r}")
    return family, params, when


def _dataset(f: str, raw: Any) -> dict[str, Any]:
    from lutsearch.data import dataset_names, get_dataset

    ds = _mapping(f"{f}dataset", raw, _DATASET_KEYS)
    name = ds.get("name")
    if name not in dataset_names():
        raise SpaceError(f"{f}dataset.name: unknown dataset {name!r}; allowed: {', '.join(dataset_names())}")
    spec = get_dataset(name)
    options = _mapping(f"{f}dataset.options", ds.get("options"), tuple(spec.options) or ("(none)",))
    for key, value in options.items():
        kind = spec.options[key][0]
        ok = (
            isinstance(value, kind)
            or (kind is float and isinstance(value, int))
            or (kind in (list, tuple) and isinstance(value, list))
        )
        if not ok or (kind is not bool and isinstance(value, bool)):
            raise SpaceError(f"{f}dataset.options.{key}: expected {kind.__name__}, got {value!r}")
    val_fraction = ds.get("val_fraction", 0.1)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise SpaceError(f"{f}dataset.val_fraction: expected a number in (0, 1), got {val_fraction!r}")
    return {
        "name": name,
        "split_seed": _int(f"{f}dataset.split_seed", ds.get("split_seed", 0)),
        "val_fraction": float(val_fraction),
        "options": dict(options),
    }


def _train(f: str, raw: Any) -> dict[str, Param]:
    from lutsearch.train import TrainConfig

    # device and threads follow the resources Ray gives each trial (--cpus/--gpus-per-trial)
    fields = tuple(fld.name for fld in dataclasses.fields(TrainConfig) if fld.name not in ("device", "threads"))
    given = {key: parse_param(f"{f}train.{key}", value) for key, value in _mapping(f"{f}train", raw, fields).items()}
    numeric = {fld.name for fld in dataclasses.fields(TrainConfig) if _number(fld.default)}
    for key, param in given.items():  # a number YAML read as text fails here, not in every trial
        values = (
            [param.value] if isinstance(param, Fixed) else list(param.choices) if isinstance(param, Categorical) else []
        )
        bad = [v for v in values if key in numeric and not _number(v)]
        if bad:
            raise SpaceError(
                f"{f}train.{key}: {bad[0]!r} is not a number; allowed: numbers "
                "(YAML reads 1e-3 and 1.0e30 as text: write 1.0e-3, 1.0e+30)"
            )
    return {key: Fixed(value) for key, value in TRAIN_DEFAULTS.items() if key not in given} | given


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


REPEATS = ("reuse", "train")  # a design sampled again: its earlier result is reused, or it is trained again
FAMILY_DRAWS = ("joint", "bandit")  # the family drawn with the other knobs, or first (lutsearch.search._family_sampler)


def _joint_share(f: str, sampler: dict[str, Any], family: str) -> float | None:
    """``sampler.joint_share``: with ``family: bandit``, the share of trials the sampler draws whole."""
    share = sampler.get("joint_share")
    if share is None:
        return None
    if family != "bandit":
        raise SpaceError(f"{f}sampler.joint_share: only with family: bandit (family is {family!r})")
    if not _number(share) or not 0.0 <= share < 1.0:
        raise SpaceError(f"{f}sampler.joint_share: {share!r}; allowed: a number in [0, 1)")
    return float(share)


class _SamplerKey(NamedTuple):
    """A space's ``sampler:`` key, checked."""

    name: str
    options: dict[str, Any]
    repeats: str
    family: str
    joint_share: float | None


def _sampler(f: str, raw: Any) -> _SamplerKey:
    if isinstance(raw, str) or raw is None:
        raw = {"name": raw or "tpe"}
    sampler = _mapping(f"{f}sampler", raw, ("name", "options", "repeats", "family", "joint_share"))
    repeats = sampler.get("repeats", "reuse")
    if repeats not in REPEATS:
        raise SpaceError(f"{f}sampler.repeats: {repeats!r}; allowed: {', '.join(REPEATS)}")
    family = sampler.get("family", "joint")
    if family not in FAMILY_DRAWS:
        raise SpaceError(f"{f}sampler.family: {family!r}; allowed: {', '.join(FAMILY_DRAWS)}")
    name = sampler.get("name", "tpe")
    if name not in SAMPLERS:
        raise SpaceError(f"{f}sampler.name: unknown sampler {name!r}; allowed: {', '.join(SAMPLERS.names())}")
    options = dict(_mapping(f"{f}sampler.options", sampler.get("options")))
    spec = SAMPLERS.get(name)
    allowed = spec.options()
    for key in options:
        if key not in allowed:
            raise SpaceError(
                f"{f}sampler.options.{key}: not an option of {spec.class_name()}; allowed: {', '.join(allowed)}"
            )
    return _SamplerKey(name, options, repeats, family, _joint_share(f, sampler, family))


def _count_first(block: dict[str, Param]) -> list[tuple[str, Param]]:
    """A block's knobs in file order, except that a per-layer list whose count names another knob of the
    block comes after that knob (so the order of keys in a file, or of a YAML dump, does not matter)."""
    items = list(block.items())
    later = [(k, v) for k, v in items if isinstance(v, PerLayer) and isinstance(v.count, str) and v.count in block]
    return [kv for kv in items if kv not in later] + later


def _warm_start(f: str, path: Path, value: Any) -> Path | None:
    """``warm_start:``: a baseline space file or a folder of them, relative to the space file."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpaceError(f"{f}warm_start: expected a path to a baseline space file or folder, got {value!r}")
    target = (path.parent / value).resolve()
    if not target.exists():
        raise SpaceError(f"{f}warm_start: no such baseline file or folder {target}")
    return target


def parse_space(raw: Any, path: Path) -> SearchSpace:
    f = f"{path}: "
    top = _mapping(str(path), raw, TOP_LEVEL_KEYS) if raw is not None else None
    if not top:
        raise SpaceError(f"{f}empty space file; expected keys: {', '.join(TOP_LEVEL_KEYS)}")
    for key in ("dataset", "model", "objectives"):
        if key not in top:
            raise SpaceError(f"{f}{key}: missing (required keys: dataset, model, objectives)")
    plugins = []
    for i, plugin in enumerate(top.get("plugins") or []):
        p = (path.parent / str(plugin)).resolve()
        if not p.is_file():
            raise SpaceError(f"{f}plugins[{i}]: no such file {p}")
        from lutsearch.objectives import load_plugin

        try:
            load_plugin(p)
        except Exception as exc:  # a plugin's own error, reported in one line
            raise SpaceError(f"{f}plugins[{i}]: {p} failed to load: {exc}") from None
        plugins.append(p)
    name = top.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        raise SpaceError(f"{f}name: {name!r} must be letters, digits, '.', '_' or '-'")
    limits = _mapping(f"{f}limits", top.get("limits"), _LIMIT_KEYS)
    sampler, sampler_options, repeats, family_draw, joint_share = _sampler(f, top.get("sampler"))
    family, params, when = _model(f, top["model"])
    space = SearchSpace(
        path=path,
        name=name,
        seed=_int(f"{f}seed", top.get("seed", 0)),
        dataset=_dataset(f, top["dataset"]),
        family=family,
        params=params,
        when=when,
        train=_train(f, top.get("train")),
        objectives=_objectives(f, top["objectives"]),
        constraints=_constraints(f, top.get("constraints")),
        sampler=sampler,
        sampler_options=sampler_options,
        sampler_repeats=repeats,
        sampler_family=family_draw,
        sampler_joint_share=joint_share,
        limits={k: _int(f"{f}limits.{k}", v) for k, v in limits.items()},
        plugins=plugins,
        retries=_int(f"{f}retries", top.get("retries", 1)),
        raw=top,
        description=str(top.get("description", "")),
        source=str(top.get("source", "")),
        warm_start=_warm_start(f, path, top.get("warm_start")),
        fidelity=parse_fidelity(f, top.get("fidelity")),
    )
    question = parse_question(f, top.get("question"), {o.name: o.direction for o in space.objectives})
    space.question = check_question(f, question, space) if question is not None else None
    return space


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a space file; raises ``SpaceError`` (one line) on any user mistake."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"{path}: no such space file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise SpaceError(f"{path}: {where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    except UnicodeDecodeError as exc:  # a binary file
        raise SpaceError(f"{path}: not a text file (byte {exc.start}: {exc.reason}); expected UTF-8 YAML") from None
    return parse_space(raw, path)
