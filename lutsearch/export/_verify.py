"""Check the exported design: the hardware report of a named cost backend (Yosys, or the analytic
estimate) and RTL simulation against the Python model (``TruthTableNetwork.evaluate``) on the whole
test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lutsearch.export._errors import ExportError

__all__ = ["hardware_report", "simulate"]


def hardware_report(
    network, design, out_dir: Path, pipeline: int, synthesize: bool, backend: str | None = None
) -> tuple[dict, list[str]]:
    """LUTs, FFs, depths from cost backend ``backend`` (a name in ``lutsearch.hw.COST_BACKENDS``; default
    ``yosys`` in design mode, or ``analytic`` when ``synthesize`` is false) and the delay model's Fmax and
    latency; the notes say when the numbers are estimates."""
    from lutsearch.hw import get_cost_backend, timing
    from lutsearch.hw.backends import AnalyticBackend, YosysBackend

    notes: list[str] = []
    name = backend or ("yosys" if synthesize else "analytic")
    try:
        cost = get_cost_backend(name)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if isinstance(cost, YosysBackend):
        res = cost.estimate(network, pipeline=pipeline, mode="design", workdir=out_dir / "synth", cache_dir=False)
    elif isinstance(cost, AnalyticBackend):
        res = cost.estimate(
            network, pipeline=pipeline, note="" if synthesize else "synthesis skipped (--no-synthesize)"
        )
    else:
        res = cost.estimate(network, pipeline=pipeline)
    if res.estimated:
        notes.append("hardware numbers are the analytic estimate: " + "; ".join(res.notes))
    hw = {
        "luts": res.luts,
        "ffs": res.ffs,
        "depth_lut_levels": res.depth,
        "stage_depths": res.stage_depths,
        "lut_sizes": res.lut_sizes,
        "muxf7": res.muxf7,
        "muxf8": res.muxf8,
        "fmax_mhz": timing.fmax_mhz(res.stage_depths),
        "latency_ns": timing.latency_ns(res.stage_depths),
        "latency_cycles": design.latency_cycles,
        "period_ns": timing.period_ns(res.stage_depths),
        "tool": res.tool,
        "tool_version": res.tool_version,
        "flow": res.flow,
        "estimated": res.estimated,
        "delay_model": vars(timing.ULTRASCALE_PLUS),
    }
    return hw, notes


def simulate(network, design, codes, out_dir: Path) -> dict[str, Any]:
    """Bit-exact RTL simulation of every test vector: ``passed`` or ``failed`` (a mismatch); a simulator
    that cannot run raises ``ExportError`` (verification is part of every export: no silent skip)."""
    from lutsearch.hw.sim import SimulationError, SimulationMismatch, verify

    try:
        v = verify(network, design, codes, workdir=out_dir / "sim")
        return {"status": "passed", **v.to_dict()}
    except SimulationMismatch as exc:
        return {"status": "failed", "error": str(exc)}
    except SimulationError as exc:
        raise ExportError(
            f"RTL verification could not run: {str(exc).splitlines()[0]} "
            f"(install verilator or iverilog, or pass --no-simulate)"
        ) from None
