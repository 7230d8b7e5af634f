"""Latency and Fmax model for UltraScale+ from per-stage LUT-level depth.

    period_ns  = t_reg + t_level * max(stage depth)          (register-to-register, slowest stage)
    fmax_mhz   = min(1000 / period_ns, fmax_cap_mhz)
    latency_ns = cycles * 1000 / fmax_mhz                    (cycles = pipeline stages; k = 0: one stage)

``t_level``: one LUT plus the routing to the next LUT; ``t_reg``: clock-to-out + setup + clock
uncertainty + the routing into and out of the stage. The defaults are fitted (least squares on the
period) to the six LogicNets designs whose Vivado 2019.2 results (UltraScale+) are published in
Xilinx/logicnets' example READMEs. Their depth: each layer's random-table LUT depth measured with our
Yosys flow at the table width whose LogicNets cost matches the published (trained, compressed) LUT
count. ``benchmarks/cost_model.py`` recomputes the fit; docs/hardware.md reports the per-design error
(mean 11 %, max 35 % on Fmax). ``fmax_cap_mhz`` (1.5 GHz) is an assumption: the fastest published
LUT-network designs report ~1.4 GHz.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

__all__ = ["DelayModel", "ULTRASCALE_PLUS", "period_ns", "fmax_mhz", "latency_ns", "fit_delay_model"]


@dataclasses.dataclass(frozen=True)
class DelayModel:
    t_level_ns: float  # LUT + net delay per LUT level
    t_reg_ns: float  # clock-to-out + setup + clock uncertainty per register stage
    fmax_cap_mhz: float = 1500.0  # clock-network ceiling (BUFGCE toggle rate class), never exceeded
    source: str = ""

    def period_ns(self, stage_depths: Sequence[int]) -> float:
        return period_ns(stage_depths, self)

    def fmax_mhz(self, stage_depths: Sequence[int]) -> float:
        return fmax_mhz(stage_depths, self)

    def latency_ns(self, stage_depths: Sequence[int]) -> float:
        return latency_ns(stage_depths, self)


# Fitted on LogicNets JSC-S/M/L and NID-S/M/L (see module docstring and docs/hardware.md).
ULTRASCALE_PLUS = DelayModel(t_level_ns=0.377, t_reg_ns=0.169, fmax_cap_mhz=1500.0,
                             source="least-squares fit to the Vivado 2019.2 results of Xilinx/logicnets' "
                                    "JSC-S/M/L and NID-S/M/L (benchmarks/cost_model.py, fit (b))")


def period_ns(stage_depths: Sequence[int], model: DelayModel = ULTRASCALE_PLUS) -> float:
    depth = max((int(d) for d in stage_depths), default=0)
    return max(model.t_reg_ns + model.t_level_ns * depth, 1000.0 / model.fmax_cap_mhz)


def fmax_mhz(stage_depths: Sequence[int], model: DelayModel = ULTRASCALE_PLUS) -> float:
    return 1000.0 / period_ns(stage_depths, model)


def latency_ns(stage_depths: Sequence[int], model: DelayModel = ULTRASCALE_PLUS) -> float:
    """Stages x period: the time from the input register's capture to the output register's."""
    return max(1, len(stage_depths)) * period_ns(stage_depths, model)


def fit_delay_model(depths: Sequence[int], periods_ns: Sequence[float]) -> DelayModel:
    """Least-squares (t_reg, t_level) with period = t_reg + t_level * depth (closed form)."""
    n = len(depths)
    if n < 2:
        raise ValueError("need at least two designs to fit the delay model")
    mx = sum(depths) / n
    my = sum(periods_ns) / n
    sxx = sum((d - mx) ** 2 for d in depths)
    if sxx == 0:
        raise ValueError("all designs have the same depth; cannot fit a slope")
    slope = sum((d - mx) * (p - my) for d, p in zip(depths, periods_ns)) / sxx
    return DelayModel(t_level_ns=slope, t_reg_ns=my - slope * mx, source=f"fit to {n} designs")
