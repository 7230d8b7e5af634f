"""Hardware objectives from the hardware backend (``lutsearch.hw``): ``luts``/``depth`` via Yosys, and
``latency_ns``/``fmax_mhz`` from per-stage LUT-level depth and the UltraScale+ delay model.

Backends:
``synthesis``  one Yosys run per trial (``lutsearch.hw.synthesize``), shared by every objective of the
               trial through ``ctx.cache``; its report is written to ``<ctx.workdir>/hw_synthesis.json``.
               Without Yosys it warns once and uses the analytic estimate.
``analytic``   (``latency_ns``/``fmax_mhz`` default) the measured LUT-depth-per-table-width model of
               ``lutsearch.hw.estimate``, no tool run.

Options (from the space's objective entry): ``pipeline`` (register every k layers, default 1),
``mode`` (auto|design|layer|neuron, default auto), ``flow`` (lut6|xilinx), ``script`` (template path),
``tool``, ``jobs``, ``timeout``, ``cache_dir``.

Units: ``luts`` in 6-input LUTs; ``lut_depth`` is the total LUT-level depth of the network (sum over
layers of each layer's deepest neuron; ``depth`` stays the number of L-LUT layers); ``latency_ns`` =
stages x clock period.

A new way of producing the hardware report (e.g. a learned ``surrogate``) plugs in with
``register_hw_backend(name, fn)``, ``fn(ctx, **options) -> lutsearch.hw.HardwareReport`` (required:
``luts``, ``stage_depths``; ``depth`` and ``total_depth`` are derived when left out; a mapping with
those keys is accepted and read with ``HardwareReport.from_dict``); it then serves luts, lut_depth,
latency_ns and fmax_mhz, which read the report's attributes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Callable

from lutsearch.hw import estimate, timing
from lutsearch.hw.report import HardwareReport
from lutsearch.hw.synth import synthesize
from lutsearch.objectives._registry import EvalContext, register_objective

__all__ = ["hardware_report", "register_hw_backend", "HW_BACKENDS"]

_SYNTH_OPTIONS = ("pipeline", "mode", "flow", "script", "tool", "jobs", "timeout", "cache_dir")


def _synthesis_report(ctx: EvalContext, **options: Any) -> HardwareReport:
    unknown = sorted(set(options) - set(_SYNTH_OPTIONS))
    if unknown:
        raise ValueError(f"synthesis backend: unknown option {unknown[0]!r}; allowed: {', '.join(_SYNTH_OPTIONS)}")
    opts = {"pipeline": 1, "mode": "auto", **options}
    report = synthesize(ctx.network, **opts)  # Yosys runs in a temporary folder; the summary is kept
    if ctx.workdir is not None:
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        (ctx.workdir / "hw_synthesis.json").write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True,
                                                                  default=str))
    return report


def _analytic_report(ctx: EvalContext, pipeline: int = 1, **_: Any) -> HardwareReport:
    return estimate.analytic_result(ctx.network, int(pipeline))


HW_BACKENDS: dict[str, Callable[..., HardwareReport]] = {}


def hardware_report(ctx: EvalContext, via: str = "synthesis", **options: Any) -> HardwareReport:
    """The hardware report of this trial from backend ``via`` (computed once per trial and options)."""
    if via not in HW_BACKENDS:
        raise ValueError(f"unknown hardware backend {via!r}; allowed: {', '.join(sorted(HW_BACKENDS))}")
    key = "hw:" + via + ":" + json.dumps(options, sort_keys=True, default=str)
    if key not in ctx.cache:
        ctx.cache[key] = HardwareReport.coerce(HW_BACKENDS[via](ctx, **options), backend=via)
    return ctx.cache[key]


def _latency(via: str) -> Callable[..., float]:
    def fn(ctx: EvalContext, **options: Any) -> float:
        return timing.latency_ns(hardware_report(ctx, via, **options).stage_depths)
    return fn


def _fmax(via: str) -> Callable[..., float]:
    def fn(ctx: EvalContext, **options: Any) -> float:
        return timing.fmax_mhz(hardware_report(ctx, via, **options).stage_depths)
    return fn


def register_hw_backend(name: str, fn: Callable[..., HardwareReport | Mapping[str, Any]], *, default_for_timing: bool = False) -> None:
    """Add a hardware-report backend and register it for luts, lut_depth, latency_ns and fmax_mhz."""
    HW_BACKENDS[name] = fn
    register_objective("luts", "minimize", name, lambda ctx, **o: hardware_report(ctx, name, **o).luts,
                       doc="6-input LUTs", unit="LUT")
    register_objective("lut_depth", "minimize", name,
                       lambda ctx, **o: hardware_report(ctx, name, **o).total_depth,
                       default=default_for_timing, doc="LUT levels through the network", unit="levels")
    register_objective("latency_ns", "minimize", name, _latency(name), default=default_for_timing,
                       doc="pipeline stages x clock period (UltraScale+ delay model)", unit="ns")
    register_objective("fmax_mhz", "maximize", name, _fmax(name), default=default_for_timing,
                       doc="maximum clock frequency of the slowest pipeline stage", unit="MHz")


register_hw_backend("synthesis", _synthesis_report)
HW_BACKENDS["analytic"] = _analytic_report
register_objective("lut_depth", "minimize", "analytic",
                   lambda ctx, **o: hardware_report(ctx, "analytic", **o).total_depth, default=True,
                   doc="LUT levels through the network", unit="levels")
register_objective("latency_ns", "minimize", "analytic", _latency("analytic"), default=True,
                   doc="pipeline stages x clock period (UltraScale+ delay model)", unit="ns")
register_objective("fmax_mhz", "maximize", "analytic", _fmax("analytic"), default=True,
                   doc="maximum clock frequency of the slowest pipeline stage", unit="MHz")
