"""The export's ``dont_cares`` option: don't-care compression of the chosen design before its RTL is
written (``lutsearch.hw.dontcare``), with the accuracy on validation and test and the LUTs before and
after recorded in the report's ``dont_cares`` section. The entries the *training* split reaches fewer
than ``min_count`` times are the don't-cares; the RTL written and verified is the compressed network."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from lutsearch.export._errors import ExportError

__all__ = ["compress_design", "record_luts"]


def _accuracy(network, codes: np.ndarray, labels: np.ndarray) -> float:
    return float((network.predict(codes) == labels).mean()) if len(labels) else float("nan")


def compress_design(loaded, min_count: int) -> tuple[Any, dict[str, Any]]:
    """``loaded`` (``_build.Loaded``) with its network replaced by the compressed one, and the report
    section (accuracies before/after, the ``DontCareReport``; LUTs are added by ``record_luts``)."""
    from lutsearch.hw.dontcare import compress_dont_cares

    if int(min_count) < 1:
        raise ExportError(f"dont_cares (min_count) must be >= 1, got {min_count}")
    model = loaded.model if loaded.model is not None else loaded.artifact.build_model()
    data, before = loaded.data, loaded.artifact.network
    val_codes = model.input_codes(data.X_val)
    after, report = compress_dont_cares(before, model.input_codes(data.X_train), min_count=int(min_count))
    accuracy = {
        split: {"before": _accuracy(before, codes, y), "after": _accuracy(after, codes, y)}
        for split, codes, y in (("val", val_codes, data.y_val), ("test", loaded.codes, data.y_test))
    }
    section = {"min_count": int(min_count), "data": "train", "accuracy": accuracy, "report": report.to_dict()}
    artifact = dataclasses.replace(loaded.artifact, network=after)
    return dataclasses.replace(loaded, artifact=artifact), section


def record_luts(section: dict[str, Any], original, design, out_dir: Path, pipeline: int, synthesize: bool, hw: dict):
    """Add the LUTs before (the original network through the same cost backend, its synthesis under
    ``out_dir/dont_cares/``) and after (``hw``, the exported design) to ``section``."""
    from lutsearch.export._verify import hardware_report

    before, _ = hardware_report(original, design, out_dir / "dont_cares", pipeline, synthesize)
    after = hw["luts"]
    section["luts"] = {
        "before": before["luts"],
        "after": after,
        "saved": before["luts"] - after,
        "ratio": before["luts"] / after if after else float("inf"),
        "estimated": bool(before["estimated"] or hw["estimated"]),
    }
