"""``SurrogateBackend``: the ``surrogate`` cost backend (a ``via:`` of ``luts``, ``lut_depth``,
``latency_ns`` and ``fmax_mhz``). Per layer, the predicted LUTs of its neuron units add up and its depth
is its deepest unit's, as in ``synthesize(mode="neuron")``; an adder layer's outputs cost what Yosys
measured for sums of their size (``adders.AdderModel``)."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from lutsearch.hw import estimate
from lutsearch.hw.backends import CostBackend
from lutsearch.hw.report import HardwareReport
from lutsearch.hw.rtl import stage_plan
from lutsearch.hw.surrogate._tables import UnitTable, network_units
from lutsearch.hw.surrogate.adders import AdderModel
from lutsearch.hw.surrogate.calibration import Calibration
from lutsearch.hw.surrogate.features import unit_features
from lutsearch.tables import AdderLayer, TruthTableNetwork

__all__ = ["SurrogateBackend", "predict_units"]


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Calibration:
    return Calibration.load(path).fit()


def _calibration(calibration: str | Path | Calibration | None) -> Calibration:
    """A ``Calibration``, one read (once per file version) from a path, else ``$LUTSEARCH_CALIBRATION``'s,
    else the shipped one."""
    if calibration is None:
        env = os.environ.get("LUTSEARCH_CALIBRATION")  # a user's calibration (lutsearch calibrate ...)
        if not env:
            return Calibration.default()
        calibration = env
    if isinstance(calibration, Calibration):
        return calibration
    path = Path(calibration).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"surrogate calibration {path} does not exist")
    return _load(str(path), path.stat().st_mtime)


def predict_units(units: list[UnitTable], calibration: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """Predicted (LUTs, depth) of ``units``; each distinct table is featurized and predicted once."""
    first: dict[str, int] = {}
    distinct: list[UnitTable] = []
    for u in units:
        if u.key not in first:
            first[u.key] = len(distinct)
            distinct.append(u)
    if not distinct:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    luts, depth = calibration.predict(unit_features(distinct))
    where = np.array([first[u.key] for u in units])
    return luts[where], depth[where]


def _layer_costs(network: TruthTableNetwork, calibration: Calibration) -> tuple[list[float], list[int], int]:
    """Per layer LUTs and LUT depth, and the number of units."""
    per_layer = network_units(network)
    flat = [u for lu in per_layer for u in lu]
    luts, depth = predict_units(flat, calibration)
    bounds = np.cumsum([0] + [len(lu) for lu in per_layer])
    live = network.live_neurons()
    layer_luts, layer_depths = [], []
    for i, layer in enumerate(network.layers):
        if isinstance(layer, AdderLayer):  # measured K-term sums, interpolated (adders.py)
            luts_i, depth_i = AdderModel.default().layer(layer, live[i])
            layer_luts.append(luts_i)
            layer_depths.append(depth_i)
            continue
        lo, hi = bounds[i], bounds[i + 1]
        layer_luts.append(float(luts[lo:hi].sum()))
        layer_depths.append(int(depth[lo:hi].max(initial=0)))
    return layer_luts, layer_depths, len(flat)


class SurrogateBackend(CostBackend):
    """LUTs and LUT depth predicted from the truth tables by a ``Calibration`` of per-unit Yosys
    results (``calibration``: None for the shipped one, or the path of a calibration file); FFs are
    exact bit accounting (``register_counts``). No tool runs: milliseconds per design."""

    name = "surrogate"
    report_file = "hw_surrogate.json"
    OPTIONS = ("calibration",)

    def estimate(
        self, network: Any, *, pipeline: int = 1, calibration: str | Path | Calibration | None = None, **options: Any
    ) -> HardwareReport:
        if options:
            raise ValueError(
                f"{self.name} backend: unknown option {sorted(options)[0]!r}; "
                f"allowed: {', '.join(('pipeline',) + self.OPTIONS)}"
            )
        t0 = time.perf_counter()
        cal = _calibration(calibration)
        layer_luts, layer_depths, n_units = _layer_costs(network, cal)
        stages = stage_plan(len(network.layers), int(pipeline))
        notes = []
        if any(isinstance(layer, AdderLayer) for layer in network.layers):
            notes.append("adder layers: measured K-term sums (lutsearch.hw.surrogate.adders)")
        return HardwareReport(
            luts=float(sum(layer_luts)),
            ffs=estimate.register_counts(network, int(pipeline)),
            stage_depths=[int(sum(layer_depths[i] for i in s)) for s in stages],
            stage_luts=[float(sum(layer_luts[i] for i in s)) for s in stages],
            layer_luts=layer_luts,
            layer_depths=layer_depths,
            pipeline=int(pipeline),
            mode="surrogate",
            flow="lut6",
            tool="surrogate",
            tool_version=f"calibration {cal.fingerprint} ({len(cal)} rows)",
            seconds=time.perf_counter() - t0,
            units=n_units,
            estimated=False,
            backend=self.name,
            options={"pipeline": int(pipeline), "calibration": None if calibration is None else str(calibration)},
            notes=notes,
        )
