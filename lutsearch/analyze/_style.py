"""Colours and markers shared by the interactive (plotly) and paper (matplotlib) figures."""

from __future__ import annotations

__all__ = ["INFEASIBLE", "PALETTE", "family_colors"]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and far from white and grey
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
INFEASIBLE = "#9A9A9A"


def family_colors(families: list[str] | tuple[str, ...]) -> dict[str, str]:
    """One fixed colour per family (sorted by name, so a family keeps its colour across figures)."""
    return {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(sorted(set(families)))}
