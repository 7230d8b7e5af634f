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
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lutsearch.hw import estimate
from lutsearch.hw.analysis import address_dependence, propagate_constants, simplify_constants, used_bits
from lutsearch.hw.estimate import register_counts
from lutsearch.hw.report import HardwareReport
from lutsearch.hw.rtl import generate_rtl, neuron_rom_module, stage_plan, _layer_module
from lutsearch.hw.yosys import (YosysError, YosysNotFound, find_yosys, parse_reports, render_script,
                                run_yosys, template_path)
from lutsearch.tables import TableLayer, TruthTableNetwork

__all__ = [
    "HardwareReport", "SynthResult", "synthesize", "synthesize_chunk", "default_cache_dir", "register_counts", "MODES",
]

MODES = ("auto", "design", "layer", "neuron")
# auto: whole-design synthesis up to this many (analytic) LUTs or with one job, else parallel neuron units
AUTO_DESIGN_MAX_LUTS = 2000.0


SynthResult = HardwareReport  # the former name of the report type (lutsearch.hw.report)


def default_cache_dir() -> Path:
    env = os.environ.get("LUTSEARCH_SYNTH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lutsearch" / "synth"


# ----------------------------------------------------------------------------- the Ray-able worker
def synthesize_chunk(payload: dict[str, Any]) -> dict[str, Any]:
    """Synthesize independent unit modules in one Yosys run (usable as a Ray task).

    ``payload``: ``units`` {module name: Verilog text}, ``script`` (template text), ``k``, ``command``
    (the Yosys command list), ``timeout``, optional ``workdir``. Returns {module name: stats} or
    {"error": message}.
    """
    from lutsearch.hw.yosys import YosysTool

    names = sorted(payload["units"])
    tool = YosysTool(tuple(payload["command"]), payload.get("version", ""))
    base = payload.get("workdir")
    base = base if base and Path(base).is_dir() else None  # a Ray worker on another node has no such folder
    with tempfile.TemporaryDirectory(prefix="lutsearch-synth-", dir=base) as tmp:
        tmp = Path(tmp)
        (tmp / "units.v").write_text("".join(payload["units"][n] for n in names))
        insts = "\n".join(f"  (* keep *) {n} i_{n} ();" for n in names)
        (tmp / "chunk.v").write_text(f"module chunk ();\n{insts}\nendmodule\n")
        (tmp / "template.ys").write_text(payload["script"])
        script = render_script(tmp / "template.ys", files=["units.v", "chunk.v"], top="chunk", keep="u_*",
                               k=payload.get("k", 6))
        try:
            seconds = run_yosys(tool, script, tmp, timeout=payload.get("timeout"))
            mods = parse_reports(tmp)["modules"]
        except YosysError as exc:
            return {"error": str(exc).splitlines()[0]}
    out = {n: {k: mods[n][k] for k in ("luts", "ffs", "muxf7", "muxf8")} | {"depth": mods[n].get("depth", 0)}
           for n in names if n in mods}
    out["_seconds"] = seconds
    return out


# ----------------------------------------------------------------------------- units
@dataclasses.dataclass
class _Unit:
    key: str
    text: str  # Verilog with the module named @UNIT@
    cost: float  # analytic LUT estimate (chunk balancing and fallback)
    depth_estimate: int


def _unit_key(text: str, script: str, k: int, version: str) -> str:
    h = hashlib.sha256()
    for part in (text, script, str(k), version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _layer_units(network: TruthTableNetwork, mode: str) -> list[list[_Unit]]:
    """Per layer: the units whose LUTs add up to the layer. ``neuron`` mode: one unit per live neuron
    of a table layer, its table restricted to the input bits that are not constant upstream (what
    whole-design synthesis keeps); otherwise one unit for the whole layer. Dead neurons are no units."""
    live = network.live_neurons()
    restricted = propagate_constants(network)[0] if mode == "neuron" else None
    used = used_bits(network)[1] if mode == "neuron" else None
    out, n_in = [], network.n_inputs
    for i, (layer, lv) in enumerate(zip(network.layers, live)):
        if restricted is not None and isinstance(layer, TableLayer):
            units = []
            for nu in restricted[i]:  # one ROM text per live neuron, only the bits something reads
                keep = np.flatnonzero(used[i][nu.neuron])
                if keep.size == 0 or nu.address_bits == 0:
                    continue  # constant or unread outputs need no LUT
                table = (((nu.table[:, None] >> keep) & 1) << np.arange(keep.size)).sum(1)
                # drop address bits the kept outputs ignore: equal functions then share one cache entry
                dep = address_dependence(table[None], nu.address_bits)[0]
                if not dep.any():
                    continue  # constant
                ignored = int(((~dep) * (1 << np.arange(nu.address_bits))).sum())
                table = table[(np.arange(table.size) & ignored) == 0]
                a_bits = int(dep.sum())
                text = neuron_rom_module("@UNIT@", table, a_bits, int(keep.size), "table")
                units.append(_Unit("", text, float(estimate.logicnets_lut_cost(a_bits, keep.size)),
                                   estimate.lut_depth(a_bits)))
            out.append(units)
        else:
            text = _layer_module(i, layer, n_in, lv, "table", "layer").replace(f"module layer{i} (", "module @UNIT@ (")
            out.append([_Unit("", text, estimate.layer_luts(layer, lv), estimate.layer_depth(layer))])
        n_in = layer.n_out
    return out


def _cache_get(cache_dir: Path | None, key: str) -> dict | None:
    if cache_dir is None:
        return None
    path = cache_dir / key[:2] / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _cache_put(cache_dir: Path | None, key: str, value: dict) -> None:
    if cache_dir is None:
        return
    path = cache_dir / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, sort_keys=True))
    os.replace(tmp, path)


def _chunks(units: list[_Unit], n: int) -> list[list[_Unit]]:
    """Greedy balance by estimated cost into at most ``n`` chunks (largest first)."""
    n = max(1, min(n, len(units)))
    bins: list[list[_Unit]] = [[] for _ in range(n)]
    loads = np.zeros(n)
    for u in sorted(units, key=lambda u: -u.cost):
        b = int(np.argmin(loads))
        bins[b].append(u)
        loads[b] += u.cost + 1.0
    return [b for b in bins if b]


def _run_units(units: dict[str, _Unit], tool, script: str, k: int, jobs: int, timeout: float | None,
               cache_dir: Path | None, use_ray: bool, workdir: Path | None, on_error: str,
               notes: list[str]) -> tuple[dict[str, dict], int, int]:
    results, todo = {}, []
    for key, unit in units.items():
        hit = _cache_get(cache_dir, key)
        if hit is not None:
            results[key] = hit
        else:
            todo.append(unit)
    cached = len(results)
    payloads = []
    for chunk in _chunks(todo, jobs) if todo else []:
        payloads.append({"units": {f"u_{u.key[:24]}": u.text.replace("@UNIT@", f"u_{u.key[:24]}") for u in chunk},
                         "script": script, "k": k, "command": list(tool.command), "version": tool.version,
                         "timeout": timeout, "workdir": str(workdir) if workdir else None,
                         "_keys": {f"u_{u.key[:24]}": u.key for u in chunk}})
    if use_ray and payloads:
        import ray  # only when asked

        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, log_to_driver=False)
        task = ray.remote(synthesize_chunk)
        outs = ray.get([task.remote({k2: v for k2, v in p.items() if k2 != "_keys"}) for p in payloads])
    elif payloads:
        with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            outs = list(pool.map(synthesize_chunk, payloads))
    else:
        outs = []
    estimated = 0
    for p, out in zip(payloads, outs):
        if "error" in out:
            if on_error == "raise":
                raise YosysError(out["error"])
            notes.append(out["error"])
            warnings.warn(f"lutsearch.hw: {out['error']}; using the analytic estimate for "
                          f"{len(p['_keys'])} unit(s)", stacklevel=3)
            for name, key in p["_keys"].items():
                u = units[key]
                results[key] = {"luts": u.cost, "ffs": 0, "muxf7": 0, "muxf8": 0, "depth": u.depth_estimate,
                                "estimated": True}
                estimated += 1
            continue
        for name, key in p["_keys"].items():
            results[key] = out[name]
            _cache_put(cache_dir, key, out[name])
    return results, cached, estimated


# ----------------------------------------------------------------------------- public entry
def synthesize(network: TruthTableNetwork, *, pipeline: int = 1, mode: str = "auto", flow: str = "lut6",
               script: str | Path | None = None, tool: str | None = None, k: int = 6, jobs: int | None = None,
               timeout: float | None = 600.0, cache_dir: str | Path | None | bool = None,
               workdir: str | Path | None = None, ray: bool = False, on_error: str = "estimate") -> HardwareReport:
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
    options = {"pipeline": int(pipeline), "mode": mode, "flow": str(script or flow), "tool": tool, "k": int(k),
               "jobs": jobs, "timeout": timeout, "ray": bool(ray), "on_error": on_error,
               "cache_dir": cache_dir if cache_dir is False or cache_dir is None else str(cache_dir)}
    try:
        yosys = find_yosys(tool)
    except YosysNotFound as exc:
        if on_error == "raise":
            raise
        warnings.warn(f"lutsearch.hw: {str(exc).splitlines()[0]} — falling back to the analytic estimate",
                      stacklevel=2)
        return dataclasses.replace(estimate.analytic_result(network, pipeline, note=str(exc).splitlines()[0]),
                                   backend="synthesis", options=options)
    template = template_path(script or flow)
    script_text = template.read_text()
    cache = None if cache_dir is False else Path(cache_dir) if cache_dir else default_cache_dir()
    jobs = jobs or os.cpu_count() or 1
    wd = Path(workdir) if workdir else None
    if wd:
        wd.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    stages = stage_plan(len(network.layers), pipeline)
    if mode == "auto":
        big = estimate.analytic_result(network, pipeline).luts > AUTO_DESIGN_MAX_LUTS
        mode = "neuron" if (big and jobs > 1) or ray else "design"
    if mode != "neuron":  # neuron units are restricted by propagate_constants instead
        network = simplify_constants(network)
    if mode == "design":
        res = _synth_design(network, pipeline, stages, yosys, template, script_text, k, timeout, cache, wd)
    else:
        res = _synth_units(network, pipeline, stages, mode, yosys, script_text, k, jobs, timeout, cache, wd,
                           ray, on_error, notes)
    res.update(pipeline=int(pipeline), mode=mode, flow=str(script or flow), tool=yosys.name,
               tool_version=yosys.version, seconds=time.perf_counter() - t0, backend="synthesis", options=options)
    res.setdefault("notes", []).extend(notes)
    return HardwareReport(**res)


def _synth_design(network, pipeline, stages, yosys, template, script_text, k, timeout, cache, wd) -> dict:
    key = _unit_key(network.fingerprint() + f"|design|{pipeline}", script_text, k, yosys.version)
    hit = _cache_get(cache, key)
    if hit is not None:
        return hit | {"cached_units": 1, "units": 1}
    ctx = tempfile.TemporaryDirectory(prefix="lutsearch-design-") if wd is None else None
    run_dir = Path(ctx.name) if ctx else wd
    try:
        top = "lutnet"
        design = generate_rtl(network, run_dir, top=top, pipeline=pipeline or 0, style="table")
        script = render_script(template, files=design.files, top=top, keep=f"{top}_stage*", k=k)
        run_yosys(yosys, script, run_dir, timeout=timeout)
        rep = parse_reports(run_dir)
    finally:
        if ctx:
            ctx.cleanup()
    mods = rep["modules"]
    stage_luts = [float(mods.get(f"{top}_stage{s}", {}).get("luts", 0)) for s in range(len(stages))]
    stage_depths = [int(mods.get(f"{top}_stage{s}", {}).get("depth", 0)) for s in range(len(stages))]
    total = rep["total"]
    res = {"luts": float(total["luts"]), "ffs": int(total["ffs"]), "depth": max(stage_depths, default=0),
           "stage_depths": stage_depths, "stage_luts": stage_luts, "layer_luts": [], "layer_depths": [],
           "lut_sizes": rep["lut_sizes"], "muxf7": total["muxf7"], "muxf8": total["muxf8"], "units": 1,
           "cached_units": 0, "estimated_units": 0}
    _cache_put(cache, key, res)
    return res


def _synth_units(network, pipeline, stages, mode, yosys, script_text, k, jobs, timeout, cache, wd, use_ray,
                 on_error, notes) -> dict:
    per_layer = _layer_units(network, mode)
    units: dict[str, _Unit] = {}
    for layer_units in per_layer:
        for u in layer_units:
            u.key = _unit_key(u.text, script_text, k, yosys.version)
            units.setdefault(u.key, u)
    results, cached, estimated = _run_units(units, yosys, script_text, k, jobs, timeout, cache, use_ray, wd,
                                            on_error, notes)
    layer_luts = [float(sum(results[u.key]["luts"] for u in lu)) for lu in per_layer]
    layer_depths = [int(max((results[u.key]["depth"] for u in lu), default=0)) for lu in per_layer]
    mux7 = int(sum(results[u.key]["muxf7"] for lu in per_layer for u in lu))
    mux8 = int(sum(results[u.key]["muxf8"] for lu in per_layer for u in lu))
    stage_luts = [float(sum(layer_luts[i] for i in layers)) for layers in stages]
    stage_depths = [int(sum(layer_depths[i] for i in layers)) for layers in stages]
    return {"luts": float(sum(layer_luts)), "ffs": register_counts(network, pipeline),
            "depth": max(stage_depths, default=0), "stage_depths": stage_depths, "stage_luts": stage_luts,
            "layer_luts": layer_luts, "layer_depths": layer_depths, "lut_sizes": {}, "muxf7": mux7,
            "muxf8": mux8, "units": len(units), "cached_units": cached, "estimated_units": estimated}
