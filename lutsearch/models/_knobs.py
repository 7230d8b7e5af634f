"""``Knob``: one searchable parameter of a model family or a connectivity scheme, with its check."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Knob"]


@dataclasses.dataclass(frozen=True)
class Knob:
    """One searchable parameter of a family. ``kind``: int, float, bool, str, int_list. ``bounds``:
    the inclusive range (low, high) a number must lie in (either end None: open on that side)."""

    kind: str
    default: Any = None
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    required: bool = False
    bounds: tuple[float | None, float | None] | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` cannot be this knob's value (a short phrase), or None when it can."""
        if self.choices is not None:
            return (
                None
                if value in self.choices
                else (f"{value!r} is not allowed; allowed: {', '.join(map(str, self.choices))}")
            )
        if value is None and self.default is None:
            return None
        ok = {
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": lambda v: isinstance(v, bool),
            "str": lambda v: isinstance(v, str),
            "int_list": lambda v: (
                isinstance(v, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)
            ),
            "dict": lambda v: isinstance(v, (dict, str)),  # a mapping, or its JSON text
        }[self.kind]
        names = {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
            "int_list": "a list of integers",
            "dict": "a mapping",
        }
        if not ok(value):
            return f"{value!r} is not {names[self.kind]}"
        return self.out_of_bounds(value)

    def out_of_bounds(self, value: Any) -> str | None:
        """Why the number ``value`` lies outside ``bounds`` (a short phrase), or None."""
        if self.bounds is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        low, high = self.bounds
        if (low is not None and value < low) or (high is not None and value > high):
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            return f"{value!r} is out of range; allowed: [{lo}, {hi}]"
        return None
