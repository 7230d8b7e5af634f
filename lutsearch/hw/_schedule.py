"""Running uncached units: greedy cost-balanced chunks, one Yosys run per chunk, in ``jobs`` threads
(each driving a Yosys process) or as Ray tasks (``ray=True``; ``synthesize_chunk`` is a plain function
of a JSON-able payload, usable as a Ray task). A chunk that fails or times out is estimated with the
analytic model and flagged (``on_error="estimate"``, with a warning) or raises (``on_error="raise"``).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lutsearch.hw._cache import cache_get, cache_put
from lutsearch.hw._job import SynthJob
from lutsearch.hw._units import PLACEHOLDER, Unit
from lutsearch.hw.yosys import YosysError, YosysTool, parse_reports, render_script, run_yosys

__all__ = ["UnitRun", "chunks", "run_units", "synthesize_chunk"]

STAT_KEYS = ("luts", "ffs", "muxf7", "muxf8")


# ----------------------------------------------------------------------------- the Ray-able worker
def _write_chunk(tmp: Path, payload: dict[str, Any], names: list[str]) -> str:
    """Write the unit Verilog, a top instantiating every unit, and the script; return the script."""
    (tmp / "units.v").write_text("".join(payload["units"][n] for n in names))
    insts = "\n".join(f"  (* keep *) {n} i_{n} ();" for n in names)
    (tmp / "chunk.v").write_text(f"module chunk ();\n{insts}\nendmodule\n")
    (tmp / "template.ys").write_text(payload["script"])
    return render_script(
        tmp / "template.ys", files=["units.v", "chunk.v"], top="chunk", keep="u_*", k=payload.get("k", 6)
    )


def synthesize_chunk(payload: dict[str, Any]) -> dict[str, Any]:
    """Synthesize independent unit modules in one Yosys run (usable as a Ray task).

    ``payload``: ``units`` {module name: Verilog text}, ``script`` (template text), ``k``, ``command``
    (the Yosys command list), ``timeout``, optional ``workdir``. Returns {module name: stats} or
    {"error": message}.
    """
    names = sorted(payload["units"])
    tool = YosysTool(tuple(payload["command"]), payload.get("version", ""))
    base = payload.get("workdir")
    base = base if base and Path(base).is_dir() else None  # a Ray worker on another node has no such folder
    with tempfile.TemporaryDirectory(prefix="lutsearch-synth-", dir=base) as tmp_name:
        tmp = Path(tmp_name)
        script = _write_chunk(tmp, payload, names)
        try:
            seconds = run_yosys(tool, script, tmp, timeout=payload.get("timeout"))
            mods = parse_reports(tmp)["modules"]
        except YosysError as exc:
            return {"error": str(exc).splitlines()[0]}
    out: dict[str, Any] = {
        n: {k: mods[n][k] for k in STAT_KEYS} | {"depth": mods[n].get("depth", 0)} for n in names if n in mods
    }
    out["_seconds"] = seconds
    return out


# ----------------------------------------------------------------------------- scheduling
def chunks(units: list[Unit], n: int) -> list[list[Unit]]:
    """Greedy balance by estimated cost into at most ``n`` chunks (largest first)."""
    n = max(1, min(n, len(units)))
    bins: list[list[Unit]] = [[] for _ in range(n)]
    loads = np.zeros(n)
    for u in sorted(units, key=lambda u: -u.cost):
        b = int(np.argmin(loads))
        bins[b].append(u)
        loads[b] += u.cost + 1.0
    return [b for b in bins if b]


def _module_name(unit: Unit) -> str:
    return f"u_{unit.key[:24]}"


def _payload(chunk: list[Unit], job: SynthJob) -> dict[str, Any]:
    """The worker payload of one chunk; ``_keys`` (module name -> unit key) stays with the driver."""
    return {
        "units": {_module_name(u): u.text.replace(PLACEHOLDER, _module_name(u)) for u in chunk},
        "script": job.script,
        "k": job.k,
        "command": list(job.tool.command),
        "version": job.tool.version,
        "timeout": job.timeout,
        "workdir": str(job.workdir) if job.workdir else None,
        "_keys": {_module_name(u): u.key for u in chunk},
    }


def _dispatch(payloads: list[dict[str, Any]], job: SynthJob) -> list[dict[str, Any]]:
    if not payloads:
        return []
    if job.ray:
        import ray  # only when asked

        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, log_to_driver=False)
        task = ray.remote(synthesize_chunk)
        return ray.get([task.remote({k: v for k, v in p.items() if k != "_keys"}) for p in payloads])
    with cf.ThreadPoolExecutor(max_workers=max(1, job.jobs)) as pool:
        return list(pool.map(synthesize_chunk, payloads))


@dataclasses.dataclass
class UnitRun:
    results: dict[str, dict]  # unit key -> stats (luts, ffs, muxf7, muxf8, depth[, estimated])
    cached: int = 0
    estimated: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)


def _estimate_chunk(run: UnitRun, payload: dict[str, Any], error: str, units: dict[str, Unit], job: SynthJob) -> None:
    if job.on_error == "raise":
        raise YosysError(error)
    run.notes.append(error)
    warnings.warn(
        f"lutsearch.hw: {error}; using the analytic estimate for {len(payload['_keys'])} unit(s)", stacklevel=4
    )  # synthesize(), as before the split
    for key in payload["_keys"].values():
        u = units[key]
        run.results[key] = {
            "luts": u.cost,
            "ffs": 0,
            "muxf7": 0,
            "muxf8": 0,
            "depth": u.depth_estimate,
            "estimated": True,
        }
        run.estimated += 1


def run_units(units: dict[str, Unit], job: SynthJob) -> UnitRun:
    """Stats of every unit (keyed by unit key): cache hits, then the rest synthesized in chunks."""
    run, todo = UnitRun({}), []
    for key, unit in units.items():
        hit = cache_get(job.cache_dir, key)
        if hit is not None:
            run.results[key] = hit
        else:
            todo.append(unit)
    run.cached = len(run.results)
    payloads = [_payload(chunk, job) for chunk in chunks(todo, job.jobs)] if todo else []
    for p, out in zip(payloads, _dispatch(payloads, job)):
        if "error" in out:
            _estimate_chunk(run, p, out["error"], units, job)
            continue
        for name, key in p["_keys"].items():
            run.results[key] = out[name]
            cache_put(job.cache_dir, key, out[name])
    return run
