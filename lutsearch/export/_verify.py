"""Check the exported design: synthesis report (or the analytic estimate) and RTL simulation against the
Python model (``TruthTableNetwork.evaluate``) on the whole test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lutsearch.export._errors import ExportError

__all__ = ["hardware_report", "simulate"]


def hardware_report(network, design, out_dir: Path, pipeline: int, synthesize: bool) -> tuple[dict, list[str]]:
    """LUTs, FFs, depths (Yosys in design mode, or the analytic estimate) and the delay model's Fmax and
    latency; the notes say when the numbers are estimates."""
    from lutsearch.hw import estimate, timing
    from lutsearch.hw.synth import synthesize as run_synthesis

    notes: list[str] = []
    if synthesize:
        res = run_synthesis(network, pipeline=pipeline, mode="design", workdir=out_dir / "synth", cache_dir=False)
    else:
        res = estimate.analytic_result(network, pipeline, note="synthesis skipped (--no-synthesize)")
    if res.estimated:
        notes.append("hardware numbers are the analytic estimate: " + "; ".join(res.notes))
    hw = {"luts": res.luts, "ffs": res.ffs, "depth_lut_levels": res.depth, "stage_depths": res.stage_depths,
          "lut_sizes": res.lut_sizes, "muxf7": res.muxf7, "muxf8": res.muxf8,
          "fmax_mhz": timing.fmax_mhz(res.stage_depths), "latency_ns": timing.latency_ns(res.stage_depths),
          "latency_cycles": design.latency_cycles, "period_ns": timing.period_ns(res.stage_depths),
          "tool": res.tool, "tool_version": res.tool_version, "flow": res.flow, "estimated": res.estimated,
          "delay_model": vars(timing.ULTRASCALE_PLUS)}
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
        raise ExportError(f"RTL verification could not run: {str(exc).splitlines()[0]} "
                          f"(install verilator or iverilog, or pass --no-simulate)") from None
