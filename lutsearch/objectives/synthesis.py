"""Hardware objectives: thin adapters that name a cost backend (``lutsearch.hw.COST_BACKENDS``) and
read its ``HardwareReport``: ``luts``, ``lut_depth``, ``latency_ns`` and ``fmax_mhz`` (the last two from
per-stage LUT-level depth and the UltraScale+ delay model).

Every registered cost backend is a ``via:`` of these four objectives, including backends registered
later (a space's ``plugins:`` file calling ``lutsearch.hw.register_cost_backend``, or an entry point in
the group ``lutsearch.cost_backends``). Built in:

``synthesis``  (alias of ``yosys``) one Yosys run per trial (``lutsearch.hw.synthesize``), shared by every
               objective of the trial through ``ctx.cache``; its report is written to
               ``<ctx.workdir>/hw_synthesis.json``. Without Yosys it warns once and uses the analytic estimate.
``surrogate``  (``luts``, ``lut_depth``, ``latency_ns``, ``fmax_mhz`` default) Yosys' LUT count and LUT
               depth predicted from the truth tables, calibrated on per-unit Yosys results
               (``lutsearch.hw.surrogate``; milliseconds per design).
``analytic``   the LogicNets LUT-cost model and the measured LUT-depth-per-table-width model of
               ``lutsearch.hw.estimate``, no tool run.

Options (from the space's objective entry) go to the backend's ``estimate``: ``pipeline`` (register every
k layers, default 1) and, for Yosys, ``mode`` (auto|design|layer|neuron, default auto), ``flow``
(lut6|xilinx), ``script`` (template path), ``tool``, ``k``, ``jobs``, ``timeout``, ``cache_dir``.

Units: ``luts`` in 6-input LUTs; ``lut_depth`` is the total LUT-level depth of the network (sum over
layers of each layer's deepest neuron; ``depth`` stays the number of L-LUT layers); ``latency_ns`` =
stages x clock period.

``register_hw_backend(name, fn)`` (the older interface, kept): ``fn(ctx, **options) ->
HardwareReport`` (or a mapping with its keys, read with ``HardwareReport.from_dict``); it is wrapped
in a ``CostBackend`` and registered in ``COST_BACKENDS``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

from lutsearch.hw import timing
from lutsearch.hw.backends import COST_BACKENDS, CostBackend
from lutsearch.hw.report import HardwareReport
from lutsearch.objectives._registry import EvalContext, register_objective

__all__ = ["HW_BACKENDS", "hardware_report", "register_hw_backend"]

DEFAULT_BACKEND = "surrogate"

# objective options for the driver (online Yosys confirmation: lutsearch.search._confirm), not for backends
DRIVER_OPTIONS = ("confirm", "confirm_fraction")

# the functions given to register_hw_backend (kept for compatibility; COST_BACKENDS is the registry)
HW_BACKENDS: dict[str, Callable[..., HardwareReport | Mapping[str, Any]]] = {}


class _ContextBackend(CostBackend):
    """A ``register_hw_backend`` function as a cost backend (it sees the trial's ``EvalContext``)."""

    def __init__(self, name: str, fn: Callable[..., HardwareReport | Mapping[str, Any]]) -> None:
        self.name = name
        self.fn = fn

    def estimate_in(self, ctx: EvalContext, **options: Any) -> HardwareReport:
        return HardwareReport.coerce(self.fn(ctx, **options), backend=self.name)

    def estimate(self, network: Any, *, pipeline: int = 1, **options: Any) -> HardwareReport:
        return self.estimate_in(EvalContext(network=network, metrics={}), pipeline=pipeline, **options)


def hardware_report(ctx: EvalContext, via: str = "synthesis", **options: Any) -> HardwareReport:
    """The hardware report of this trial from cost backend ``via`` (computed once per trial and options)."""
    backend = COST_BACKENDS.get(via)  # unknown: "unknown cost backend 'x'; allowed: ..."
    options = {k: v for k, v in options.items() if k not in DRIVER_OPTIONS}
    key = "hw:" + via + ":" + json.dumps(options, sort_keys=True, default=str)
    if key not in ctx.cache:
        dont_cares = options.pop("dont_cares", None)
        network = ctx.network if dont_cares is None else _without_dont_cares(ctx, via, dont_cares)
        if isinstance(backend, _ContextBackend):
            report = backend.estimate_in(dataclasses.replace(ctx, network=network), **options)
        else:
            report = HardwareReport.coerce(backend.estimate(network, **options), backend=via)
        if backend.report_file and ctx.workdir is not None:
            ctx.workdir.mkdir(parents=True, exist_ok=True)
            (ctx.workdir / backend.report_file).write_text(
                json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str)
            )
        ctx.cache[key] = report
        # the model's numbers per backend, recorded with the trial (``hw_luts_<via>``; online confirmation)
        ctx.metrics.setdefault("hw_reports", {})[via] = {
            "luts": float(report.luts),
            "depth": int(report.depth or 0),
            "ffs": int(report.ffs),
            "stage_depths": list(report.stage_depths),
        }
    return ctx.cache[key]


def _without_dont_cares(ctx: EvalContext, via: str, option: Any) -> Any:
    """The network costed under ``dont_cares: {min_count: k}``: table entries the training split reaches
    fewer than k times are free (``lutsearch.hw.dontcare``). Records in ``ctx.metrics["dont_cares"][via]``
    the compression report and the validation and test accuracy of the compressed design next to the
    original's (the accuracy objective stays the original design's; with k = 1 both agree on every
    training row, and ``lutsearch export --dont-cares k`` writes this very design)."""
    from lutsearch.hw.dontcare import compress_dont_cares

    if ctx.split_codes is None:
        raise ValueError("dont_cares needs the trial's data (no split codes in this context)")
    min_count = int(option.get("min_count", 1)) if isinstance(option, dict) else int(option)
    train_codes, _ = ctx.split_codes("train")
    compressed, report = compress_dont_cares(ctx.network, train_codes, min_count=min_count)
    section: dict[str, Any] = {"min_count": min_count, "report": report.to_dict()}
    for split in ("val", "test"):
        codes, labels = ctx.split_codes(split)
        section[f"{split}_acc"] = {
            "before": float((ctx.network.predict(codes) == labels).mean()),
            "after": float((compressed.predict(codes) == labels).mean()),
        }
    ctx.metrics.setdefault("dont_cares", {})[via] = section
    return compressed


def _total_depth(report: HardwareReport) -> float:
    assert report.total_depth is not None  # HardwareReport fills it in when a backend leaves it out
    return report.total_depth


_METRICS: dict[str, tuple[str, Callable[[HardwareReport], float], str, str]] = {
    "luts": ("minimize", lambda r: r.luts, "6-input LUTs", "LUT"),
    "lut_depth": ("minimize", _total_depth, "LUT levels through the network", "levels"),
    "latency_ns": (
        "minimize",
        lambda r: timing.latency_ns(r.stage_depths),
        "pipeline stages x clock period (UltraScale+ delay model)",
        "ns",
    ),
    "fmax_mhz": (
        "maximize",
        lambda r: timing.fmax_mhz(r.stage_depths),
        "maximum clock frequency of the slowest pipeline stage",
        "MHz",
    ),
}


def _adapter(metric: Callable[[HardwareReport], float], via: str) -> Callable[..., float]:
    def fn(ctx: EvalContext, **options: Any) -> float:
        return float(metric(hardware_report(ctx, via, **options)))

    return fn


def _register_objectives(
    via: str, _backend: CostBackend | None = None, *, default: bool = False, timing_only: bool = False
) -> None:
    for name, (direction, metric, doc, unit) in _METRICS.items():
        if timing_only and name == "luts":
            continue
        register_objective(name, direction, via, _adapter(metric, via), default=default, doc=doc, unit=unit)


def register_hw_backend(
    name: str, fn: Callable[..., HardwareReport | Mapping[str, Any]], *, default_for_timing: bool = False
) -> None:
    """Compatibility wrapper: register ``fn(ctx, **options)`` as cost backend ``name`` (it then serves luts,
    lut_depth, latency_ns and fmax_mhz); ``default_for_timing`` makes it the default of the last three."""
    HW_BACKENDS[name] = fn
    COST_BACKENDS.register(name, _ContextBackend(name, fn), replace=True)  # re-registering replaced, as before
    if default_for_timing:
        _register_objectives(name, default=True, timing_only=True)


COST_BACKENDS.subscribe(_register_objectives)  # every cost backend, now and later, is a via: of each
# The default of luts, lut_depth, latency_ns and fmax_mhz: the surrogate calibrated against Yosys
# (lutsearch.hw.surrogate); ``via: analytic`` stays the LogicNets formula.
_register_objectives(DEFAULT_BACKEND, default=True)
