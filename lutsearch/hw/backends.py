"""Hardware cost backends, looked up by name (in the style of Optuna's samplers).

A cost backend turns a truth-table network into a ``HardwareReport``:
``backend.estimate(network, pipeline=1, **options) -> HardwareReport``. ``COST_BACKENDS`` is a
``Registry[CostBackend]``; its items come from this module (``analytic``, ``yosys`` and its alias
``synthesis``), from third-party packages (entry-point group ``lutsearch.cost_backends``: an instance,
a ``CostBackend`` subclass, a module or a function that registers) and from ``register_cost_backend``
calls (e.g. a ``plugins:`` file of a space). The hardware objectives (``luts``, ``lut_depth``,
``latency_ns``, ``fmax_mhz``) and the export name a backend and read its report.

Depends on ``lutsearch.hw`` and ``lutsearch._registry`` only (no torch, search or objectives).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from lutsearch._registry import Registry
from lutsearch.hw.estimate import analytic_result
from lutsearch.hw.report import HardwareReport
from lutsearch.hw.synth import synthesize

__all__ = [
    "COST_BACKENDS",
    "AnalyticBackend",
    "CostBackend",
    "YosysBackend",
    "get_cost_backend",
    "register_cost_backend",
]


class CostBackend(abc.ABC):
    """One way of costing a network in hardware.

    ``name``: the name it registers under by default. ``report_file``: when set, the hardware
    objectives write the report as JSON under this name in the trial's folder.
    """

    name: str = ""
    report_file: str | None = None

    @abc.abstractmethod
    def estimate(self, network: Any, *, pipeline: int = 1, **options: Any) -> HardwareReport:
        """The hardware report of ``network`` with a register every ``pipeline`` layers."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class AnalyticBackend(CostBackend):
    """The LogicNets LUT-cost model and the measured LUT-depth model (``lutsearch.hw.estimate``); no
    tool run. Options other than ``pipeline`` and ``note`` (a line for the report's notes) are ignored."""

    name = "analytic"

    def estimate(self, network: Any, *, pipeline: int = 1, note: str = "", **_: Any) -> HardwareReport:
        return analytic_result(network, int(pipeline), note=note)


class YosysBackend(CostBackend):
    """Yosys through ``lutsearch.hw.synthesize``: ``mode`` design (the whole design in one run) or one
    of the unit modes (layer, neuron; auto picks); without Yosys it warns and gives the analytic estimate."""

    name = "yosys"
    report_file = "hw_synthesis.json"
    OPTIONS = ("mode", "flow", "script", "tool", "k", "jobs", "timeout", "cache_dir", "workdir")

    def estimate(self, network: Any, *, pipeline: int = 1, **options: Any) -> HardwareReport:
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise ValueError(
                f"{self.name} backend: unknown option {unknown[0]!r}; "
                f"allowed: {', '.join(('pipeline',) + self.OPTIONS)}"
            )
        return synthesize(network, **{"mode": "auto", **options, "pipeline": int(pipeline)})


Listener = Callable[[str, CostBackend], None]


class _CostBackendRegistry(Registry[CostBackend]):
    """A ``Registry`` of ``CostBackend``s (instances only) that tells listeners (the hardware
    objectives) about every backend, including those registered later."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listeners: list[Listener] = []

    def register(self, name: str, item: CostBackend, *, replace: bool = False) -> CostBackend:
        if not isinstance(item, CostBackend):
            raise TypeError(f"cost backend {name!r}: {type(item).__name__} is not a CostBackend")
        super().register(name, item, replace=replace)
        for listener in list(self._listeners):
            listener(name, item)
        return item

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(name, backend)`` for every backend now registered and every later one."""
        self.load()
        self._listeners.append(listener)
        for name in self.names():
            listener(name, self._store()[name])


COST_BACKENDS = _CostBackendRegistry("cost backend", group="lutsearch.cost_backends", item_type=CostBackend)


def register_cost_backend(
    backend: CostBackend | type[CostBackend], name: str | None = None, *, replace: bool = False
) -> CostBackend:
    """Register ``backend`` (an instance, or a subclass to instantiate) as ``name`` (default: its
    ``name``); returns the instance."""
    if isinstance(backend, type) and issubclass(backend, CostBackend):
        backend = backend()
    name = name or getattr(backend, "name", "")
    if not name:
        raise ValueError(f"cost backend {backend!r} has no name")
    return COST_BACKENDS.register(name, backend, replace=replace)


def get_cost_backend(name: str) -> CostBackend:
    """The backend registered as ``name`` (``ValueError`` naming the allowed ones otherwise)."""
    return COST_BACKENDS.get(name)


_yosys = YosysBackend()
register_cost_backend(AnalyticBackend())
register_cost_backend(_yosys)
register_cost_backend(_yosys, "synthesis")  # the name spaces have always used
