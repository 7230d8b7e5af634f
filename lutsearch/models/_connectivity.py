"""Connectivity schemes that apply to any family (``connectivity:`` knob).

``random``: each neuron reads a fixed random subset of F inputs (LogicNets); the family builders
already draw it, so nothing more happens here. Other schemes transform the built model's layers.
"""

from __future__ import annotations

from typing import Any

import torch

from lutsearch.models._base import LUTNetwork


SCHEMES = ("random",)


def apply_connectivity(model: LUTNetwork, params: dict[str, Any], generator: torch.Generator) -> LUTNetwork:
    scheme = params.get("connectivity", "random")
    if scheme == "random":
        return model
    raise ValueError(f"unknown connectivity {scheme!r}; allowed: {', '.join(SCHEMES)}")
