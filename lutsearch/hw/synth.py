"""Yosys synthesis of a truth-table network: LUTs (by size), FFs, MUXF7/F8, LUT-level depth per stage.

Three modes (accuracy and cost measured in docs/hardware.md), and ``auto`` (default): ``design`` up to
``AUTO_DESIGN_MAX_LUTS`` analytic LUTs (one Yosys process is fastest there on 2 cores), else ``neuron``
when more than one job (or Ray) can run the units in parallel:

``design``  the whole pipelined RTL in one Yosys run; each pipeline stage is kept as its own module
            while ABC maps it (so ``ltp -noff`` gives the depth of every stage), then the design is
            flattened for the totals (constant/dead registers removed). Exact, no reuse.
``layer``   every layer module is a cached *unit*; stage depth = sum of its layers' depths.
``neuron``  every live neuron's truth table is a cached unit (identical tables are synthesized once,
            across trials too); layer depth = its deepest neuron; adder layers are layer units.

Units are content-addressed: key = sha256(unit Verilog + script template + LUT size + Yosys version).
Uncached units are synthesized in ``jobs`` parallel chunks (threads driving Yosys processes, or Ray
tasks with ``ray=True``: ``synthesize_chunk`` is a plain function usable as a Ray task). Each Yosys run
has a timeout; a unit that times out or fails is estimated with the analytic model and flagged
(``on_error="estimate"``, with a warning) or raises (``on_error="raise"``). Without any Yosys the whole
result is the analytic estimate, with a one-line warning.

Layout: this module holds the public ``synthesize()`` and the whole-design flow; units are built in
``_units``, cached by ``_cache``, scheduled (threads / Ray) by ``_schedule``; one call's resolved
settings travel as a ``_job.SynthJob``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Literal

from lutsearch.hw import estimate
from lutsearch.hw._cache import cache_get, cache_put, default_cache_dir, resolve_cache_dir
from lutsearch.hw._job import SynthJob
from lutsearch.hw._schedule import run_units, synthesize_chunk
from lutsearch.hw._units import Unit, layer_units, unit_key
from lutsearch.hw.analysis import simplify_constants
from lutsearch.hw.estimate import register_counts
from lutsearch.hw.report import HardwareReport
from lutsearch.hw.rtl import generate_rtl
from lutsearch.hw.yosys import (
    YosysNotFound,
    YosysTool,
    find_yosys,
    parse_reports,
    render_script,
    run_yosys,
    template_path,
)
from lutsearch.tables import TruthTableNetwork

__all__ = [
    "MODES",
    "HardwareReport",
    "SynthResult",
    "default_cache_dir",
    "register_counts",
    "synthesize",
    "synthesize_chunk",
]

MODES = ("auto", "design", "layer", "neuron")
# auto: whole-design synthesis up to this many (analytic) LUTs or with one job, else parallel neuron units
AUTO_DESIGN_MAX_LUTS = 2000.0


SynthResult = HardwareReport  # the former name of the report type (lutsearch.hw.report)


# ----------------------------------------------------------------------------- public entry
def synthesize(
    network: TruthTableNetwork,
    *,
    pipeline: int = 1,
    mode: str = "auto",
    flow: str = "lut6",
    script: str | Path | None = None,
    tool: str | None = None,
    k: int = 6,
    jobs: int | None = None,
    timeout: float | None = 600.0,
    cache_dir: str | Path | Literal[False] | None = None,
    workdir: str | Path | None = None,
    ray: bool = False,
    on_error: str = "estimate",
) -> HardwareReport:
    """Synthesize ``network`` and return its hardware cost (see the module docstring).

    ``script``: a custom Yosys template path (overrides ``flow``); ``cache_dir=False`` disables the
    unit cache; ``workdir``: where runs and reports go (a temporary folder if None; ``design`` mode
    keeps its reports there).
    """
    if mode not in MODES:
        raise ValueError(f"unknown synthesis mode {mode!r}; allowed: {', '.join(MODES)}")
    if on_error not in ("estimate", "raise"):
        raise ValueError("on_error must be 'estimate' or 'raise'")
    t0 = time.perf_counter()
    options = {
        "pipeline": int(pipeline),
        "mode": mode,
        "flow": str(script or flow),
        "tool": tool,
        "k": int(k),
        "jobs": jobs,
        "timeout": timeout,
        "ray": bool(ray),
        "on_error": on_error,
        "cache_dir": cache_dir if cache_dir is False or cache_dir is None else str(cache_dir),
    }
    try:
        yosys = find_yosys(tool)
    except YosysNotFound as exc:
        if on_error == "raise":
            raise
        note = str(exc).splitlines()[0]
        warnings.warn(f"lutsearch.hw: {note} — falling back to the analytic estimate", stacklevel=2)
        report = estimate.analytic_result(network, pipeline, note=note)
        return dataclasses.replace(report, backend="synthesis", options=options)
    job = _make_job(network, yosys, options, template_path(script or flow), workdir)
    res = _synth_design(job) if job.mode == "design" else _synth_units(job)
    res.update(mode=job.mode, flow=job.flow, tool=yosys.name, tool_version=yosys.version, backend="synthesis")
    res.update(pipeline=int(pipeline), seconds=time.perf_counter() - t0, options=options)
    res.setdefault("notes", [])
    return HardwareReport(**res)


def _make_job(
    network: TruthTableNetwork, yosys: YosysTool, options: dict, template: Path, workdir: str | Path | None
) -> SynthJob:
    """The job of ``synthesize``'s resolved ``options``: the defaults (cache folder, job count,
    ``auto`` mode) filled in, constants simplified."""
    jobs = options["jobs"] or os.cpu_count() or 1
    pipeline, mode = options["pipeline"], options["mode"]
    wd = Path(workdir) if workdir else None
    if wd:
        wd.mkdir(parents=True, exist_ok=True)
    if mode == "auto":
        big = estimate.analytic_result(network, pipeline).luts > AUTO_DESIGN_MAX_LUTS
        mode = "neuron" if (big and jobs > 1) or options["ray"] else "design"
    if mode != "neuron":  # neuron units are restricted by propagate_constants instead
        network = simplify_constants(network)
    return SynthJob(
        network=network,
        pipeline=pipeline,
        mode=mode,
        flow=options["flow"],
        template=template,
        script=template.read_text(),
        tool=yosys,
        k=options["k"],
        jobs=jobs,
        timeout=options["timeout"],
        cache_dir=resolve_cache_dir(options["cache_dir"]),
        workdir=wd,
        ray=options["ray"],
        on_error=options["on_error"],
    )


# ----------------------------------------------------------------------------- design mode
def _run_design(job: SynthJob, run_dir: Path, top: str) -> dict:
    """Generate the pipelined RTL in ``run_dir``, run Yosys there and parse its reports."""
    design = generate_rtl(job.network, run_dir, top=top, pipeline=job.pipeline or 0, style="table")
    script = render_script(job.template, files=design.files, top=top, keep=f"{top}_stage*", k=job.k)
    run_yosys(job.tool, script, run_dir, timeout=job.timeout)
    return parse_reports(run_dir)


def _synth_design(job: SynthJob) -> dict:
    key = unit_key(job.network.fingerprint() + f"|design|{job.pipeline}", job.script, job.k, job.tool.version)
    hit = cache_get(job.cache_dir, key)
    if hit is not None:
        return hit | {"cached_units": 1, "units": 1}
    top = "lutnet"
    if job.workdir is None:
        with tempfile.TemporaryDirectory(prefix="lutsearch-design-") as tmp:
            rep = _run_design(job, Path(tmp), top)
    else:
        rep = _run_design(job, job.workdir, top)
    mods, n_stages = rep["modules"], len(job.stages)
    stage_luts = [float(mods.get(f"{top}_stage{s}", {}).get("luts", 0)) for s in range(n_stages)]
    stage_depths = [int(mods.get(f"{top}_stage{s}", {}).get("depth", 0)) for s in range(n_stages)]
    total = rep["total"]
    res = {
        "luts": float(total["luts"]),
        "ffs": int(total["ffs"]),
        "depth": max(stage_depths, default=0),
        "stage_depths": stage_depths,
        "stage_luts": stage_luts,
        "layer_luts": [],
        "layer_depths": [],
        "lut_sizes": rep["lut_sizes"],
        "muxf7": total["muxf7"],
        "muxf8": total["muxf8"],
        "units": 1,
        "cached_units": 0,
        "estimated_units": 0,
    }
    cache_put(job.cache_dir, key, res)
    return res


# ----------------------------------------------------------------------------- layer / neuron modes
def _synth_units(job: SynthJob) -> dict:
    per_layer = layer_units(job.network, job.mode)
    units: dict[str, Unit] = {}
    for u in (u for lu in per_layer for u in lu):
        u.key = unit_key(u.text, job.script, job.k, job.tool.version)
        units.setdefault(u.key, u)
    run = run_units(units, job)
    stats = [[run.results[u.key] for u in lu] for lu in per_layer]
    layer_luts = [float(sum(s["luts"] for s in ls)) for ls in stats]
    layer_depths = [int(max((s["depth"] for s in ls), default=0)) for ls in stats]
    stage_luts = [float(sum(layer_luts[i] for i in layers)) for layers in job.stages]
    stage_depths = [int(sum(layer_depths[i] for i in layers)) for layers in job.stages]
    return {
        "luts": float(sum(layer_luts)),
        "ffs": register_counts(job.network, job.pipeline),
        "depth": max(stage_depths, default=0),
        "stage_depths": stage_depths,
        "stage_luts": stage_luts,
        "layer_luts": layer_luts,
        "layer_depths": layer_depths,
        "lut_sizes": {},
        "muxf7": int(sum(s["muxf7"] for ls in stats for s in ls)),
        "muxf8": int(sum(s["muxf8"] for ls in stats for s in ls)),
        "units": len(units),
        "cached_units": run.cached,
        "estimated_units": run.estimated,
        "notes": run.notes,
    }
