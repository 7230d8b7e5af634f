"""The ``fidelity:`` block of a space: multi-fidelity search by asynchronous successive halving.

``fidelity: {resource: epochs, min: 3, eta: 3}`` trains every design ``min`` epochs first, then only
the best ``1/eta`` of those that reached a rung go on to ``eta`` times as many epochs, up to the full
budget (``lutsearch.search._halving`` decides). ``fidelity: off`` (or no block) trains every design
fully.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lutsearch.space._params import SpaceError

__all__ = ["RESOURCES", "Fidelity", "parse_fidelity"]

RESOURCES = ("epochs",)
_KEYS = ("resource", "min", "eta", "grace")


@dataclasses.dataclass(frozen=True)
class Fidelity:
    """Successive-halving settings: the resource, the first rung, the reduction factor, and how many
    designs must have reached a rung before it stops any (``grace``; default ``eta``)."""

    resource: str = "epochs"
    min: int = 3
    eta: float = 3.0
    grace: int = 3

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_fidelity(f: str, raw: Any) -> Fidelity | None:
    """``f`` is the ``"<file>: "`` prefix of error messages."""
    if raw is None or raw is False or (isinstance(raw, str) and raw.lower() in ("off", "none")):
        return None
    if not isinstance(raw, dict):
        raise SpaceError(f"{f}fidelity: expected a mapping {{resource, min, eta}} or 'off', got {raw!r}")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise SpaceError(f"{f}fidelity.{unknown[0]}: unknown key; allowed: {', '.join(_KEYS)}")
    resource = raw.get("resource", "epochs")
    if resource not in RESOURCES:
        raise SpaceError(f"{f}fidelity.resource: {resource!r}; allowed: {', '.join(RESOURCES)}")
    low, eta = raw.get("min", 3), raw.get("eta", 3)
    if isinstance(low, bool) or not isinstance(low, int) or low < 1:
        raise SpaceError(f"{f}fidelity.min: expected an integer >= 1 (epochs of the first rung), got {low!r}")
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or eta <= 1:
        raise SpaceError(f"{f}fidelity.eta: expected a number > 1 (the reduction factor), got {eta!r}")
    grace = raw.get("grace", max(1, round(eta)))
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 1:
        raise SpaceError(f"{f}fidelity.grace: expected an integer >= 1, got {grace!r}")
    return Fidelity(resource, low, float(eta), grace)
