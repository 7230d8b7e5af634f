"""``Knob``: one searchable parameter of a model family or a connectivity scheme, with its check."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Knob"]


@dataclasses.dataclass(frozen=True)
class Knob:
    """One searchable parameter of a family. ``kind``: int, float, bool, str, int_list."""

    kind: str
    default: Any = None
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    required: bool = False

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
        return None if ok(value) else f"{value!r} is not {names[self.kind]}"
