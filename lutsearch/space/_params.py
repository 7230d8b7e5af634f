"""Parameter specifications of a search space and how each is sampled through an Optuna trial.

Forms accepted in YAML (see docs/spaces.md):
  fixed value                 ``3``, ``[64, 32]``, ``"random"``, ``true``
  integer range               ``{int: [lo, hi]}`` with optional ``step`` and ``log``
  float range                 ``{float: [lo, hi]}`` with optional ``step`` and ``log``
  categorical                 ``{choices: [a, b, c]}`` (choices may be lists: sampled by index)
  per-layer list              ``{per_layer: {count: <spec or param name>, <inner spec keys>}}``
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

__all__ = ["Categorical", "Fixed", "FloatRange", "IntRange", "Param", "PerLayer", "SpaceError", "parse_param"]


class SpaceError(ValueError):
    """A user mistake in a search-space file: always one line naming file, key path and what is allowed."""


class Suggester(Protocol):  # the subset of optuna.Trial used here
    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int: ...
    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...
    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


class Param:
    def sample(self, trial: Suggester, name: str, resolved: dict[str, Any]) -> Any:
        raise NotImplementedError

    @property
    def searched(self) -> bool:
        return True


@dataclasses.dataclass(frozen=True)
class Fixed(Param):
    value: Any

    def sample(self, trial, name, resolved):
        return self.value

    @property
    def searched(self) -> bool:
        return False


@dataclasses.dataclass(frozen=True)
class IntRange(Param):
    low: int
    high: int
    step: int = 1
    log: bool = False

    def sample(self, trial, name, resolved):
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)


@dataclasses.dataclass(frozen=True)
class FloatRange(Param):
    low: float
    high: float
    step: float | None = None
    log: bool = False

    def sample(self, trial, name, resolved):
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)


_PRIMITIVES = (type(None), bool, int, float, str)


@dataclasses.dataclass(frozen=True)
class Categorical(Param):
    choices: tuple[Any, ...]

    def sample(self, trial, name, resolved):
        if all(isinstance(c, _PRIMITIVES) for c in self.choices):
            return trial.suggest_categorical(name, list(self.choices))
        # Optuna's categorical distribution holds primitives only: sample the index of a list choice.
        index = trial.suggest_categorical(f"{name}.choice", list(range(len(self.choices))))
        choice = self.choices[index]
        return list(choice) if isinstance(choice, tuple) else choice


@dataclasses.dataclass(frozen=True)
class PerLayer(Param):
    """A list whose length is itself sampled (or names another parameter, e.g. a sampled depth)."""

    count: Param | str
    inner: Param

    def sample(self, trial, name, resolved):
        if isinstance(self.count, str):
            n = int(resolved[self.count])
        else:
            n = int(self.count.sample(trial, f"{name}.count", resolved))
        return [self.inner.sample(trial, f"{name}.{i}", resolved) for i in range(n)]


def _number(where: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpaceError(f"{where}: expected a number, got {value!r}")
    if kind is int and (not isinstance(value, int) and not float(value).is_integer()):
        raise SpaceError(f"{where}: expected an integer, got {value!r}")
    return kind(value)


def _range(where: str, spec: dict[str, Any], kind: type) -> Param:
    key = "int" if kind is int else "float"
    allowed = {key, "step", "log"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise SpaceError(f"{where}: unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}")
    bounds = spec[key]
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise SpaceError(f"{where}.{key}: expected [low, high], got {bounds!r}")
    low, high = (_number(f"{where}.{key}", b, kind) for b in bounds)
    if low > high:
        raise SpaceError(f"{where}.{key}: low {low} > high {high}")
    if kind is float and low == high:
        raise SpaceError(f"{where}.{key}: empty range (low == high == {low}); use a fixed value instead")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{where}.log: expected true or false, got {log!r}")
    if log and low <= 0:
        raise SpaceError(f"{where}.{key}: a log range needs low > 0, got {low}")
    step = spec.get("step")
    if step is not None:
        step = _number(f"{where}.step", step, kind)
        if step <= 0:
            raise SpaceError(f"{where}.step: must be > 0, got {step}")
        if log:
            raise SpaceError(f"{where}: step and log cannot be combined")
    if kind is int:
        return IntRange(low, high, step or 1, log)
    return FloatRange(low, high, step, log)


def parse_param(where: str, spec: Any) -> Param:
    """Turn one YAML value into a ``Param``; ``where`` is the 'file: key.path' prefix for errors."""
    if not isinstance(spec, dict):
        return Fixed(spec)
    forms = [k for k in ("int", "float", "choices", "per_layer", "value") if k in spec]
    if len(forms) != 1:
        raise SpaceError(
            f"{where}: a parameter mapping needs exactly one of int, float, choices, per_layer, value; "
            f"got keys {sorted(spec)}"
        )
    form = forms[0]
    if form == "value":
        if set(spec) != {"value"}:
            raise SpaceError(f"{where}: 'value' takes no other keys")
        return Fixed(spec["value"])
    if form == "int":
        return _range(where, spec, int)
    if form == "float":
        return _range(where, spec, float)
    if form == "choices":
        if set(spec) != {"choices"}:
            raise SpaceError(f"{where}: unknown key {sorted(set(spec) - {'choices'})[0]!r}; allowed: choices")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{where}.choices: a categorical needs a non-empty list of choices")
        return Categorical(tuple(tuple(c) if isinstance(c, list) else c for c in choices))
    inner = spec["per_layer"]
    if set(spec) != {"per_layer"} or not isinstance(inner, dict) or "count" not in inner:
        raise SpaceError(f"{where}.per_layer: expected a mapping with 'count' and an inner int/float/choices spec")
    count_spec = inner["count"]
    count = count_spec if isinstance(count_spec, str) else parse_param(f"{where}.per_layer.count", count_spec)
    if isinstance(count, Fixed):
        _number(f"{where}.per_layer.count", count.value, int)
        if count.value < 1:
            raise SpaceError(f"{where}.per_layer.count: must be >= 1")
    if isinstance(count, IntRange) and count.low < 1:
        raise SpaceError(f"{where}.per_layer.count: must be >= 1, got low {count.low}")
    rest = {k: v for k, v in inner.items() if k != "count"}
    return PerLayer(count, parse_param(f"{where}.per_layer", rest))
