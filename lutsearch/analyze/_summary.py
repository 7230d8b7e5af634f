"""summary.json: the report's numbers for scripts (the same front rows as ``lutsearch status --json``)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from lutsearch.analyze._data import StudyData
from lutsearch.analyze._indicators import Hypervolume, Importance
from lutsearch.analyze._png import DPI, HEIGHT_PX, WIDTH_PX
from lutsearch.analyze._questions import QuestionReport

__all__ = ["summary", "write_json"]


def summary(
    data: StudyData,
    hv: Hypervolume,
    found: list[Importance],
    files: dict[str, Any],
    question: QuestionReport | None,
) -> dict[str, Any]:
    return {
        **data.as_dict(),
        "hypervolume": dataclasses.asdict(hv),
        "importances": {i.objective: {"values": i.values, "reason": i.reason, "caveat": i.caveat} for i in found},
        "figures": {**files, "png_size_px": [WIDTH_PX, HEIGHT_PX], "png_dpi": DPI},
        "question": question.as_dict() if question is not None else None,
    }


def _json_safe(value: Any) -> Any:
    """NaN and infinities (a diverged metric) as null: strict JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(payload: dict[str, Any], path: Path | None = None) -> str:
    """``payload`` as strict JSON (written to ``path`` when given); the text."""
    text = json.dumps(_json_safe(payload), indent=2, sort_keys=False, allow_nan=False, default=str)
    if path is not None:
        path.write_text(text + "\n")
    return text
