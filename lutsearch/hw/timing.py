"""Latency and Fmax model for UltraScale+ from per-stage LUT-level depth.

    period_ns  = t_reg + t_level * max(stage depth)          (register-to-register, slowest stage)
    fmax_mhz   = min(1000 / period_ns, fmax_cap_mhz)
    latency_ns = cycles * 1000 / fmax_mhz                    (cycles = pipeline stages; k = 0: one stage)

``t_level``: one LUT plus the routing to the next LUT; ``t_reg``: clock-to-out + setup + clock
uncertainty + the routing into and out of the stage. ``stage_depths`` are the LUT-level depths of the
register-to-register stages (lutsearch's RTL registers the outputs too, so every stage is timed).

Calibration (``benchmarks/calibration.py``; per-design tables in docs/hardware.md): 18 published
post-place-and-route results (``benchmarks/published_designs.py``, flagged ``fit``): LogicNets
JSC-S/M/L and NID-S/M/L (Xilinx README, xcu280-fsvh2892-2L-e, Vivado 2019.2) and twelve Imperial-flow
designs on xcvu9p-flgb2104-2-i, Vivado 2020.1 (PolyLUT-Add x4 from the authors' README; NeuraLUT x2,
PolyLUT x2, NeuraLUT-Assemble x4 from other papers' comparison tables). Each design is rebuilt with
random tables; a table's depth is the random-table LUT depth (Yosys / ``lut_depth``) at the
compression-matched width (the width whose LogicNets cost matches the published LUT count); a design's
depth is its slowest *timed* stage (the published flows leave the last layer combinational to
unconstrained ports, so it is not timed). The two populations differ: xcu280/2019.2 alone fits
0.089 + 0.422 d, xcvu9p/2020.1 alone 0.124 + 0.546 d (slower per level; one shared fit is off by
-16 % mean signed on LogicNets and +9 % on the xcvu9p designs). ``ULTRASCALE_PLUS`` is the xcvu9p
fit, the part of every seed paper after LogicNets: mean |Fmax error| 26.7 % (max 54 %) on its 12
designs, 23.2 % (max 52 %) on the six LogicNets ones; ``XCU280_LOGICNETS`` is the LogicNets-only fit
(14.6 %, max 38 % on those six). The errors are dominated by what a depth model cannot see
(trained-table structure, pipelining and tool choices: the same NeuraLUT-Assemble netlist is published
at 352 and 994 MHz; the 2021 and 2023 LogicNets READMEs differ by up to 54 % on one architecture).
The previous constants (0.169 + 0.377 d, a LogicNets-only fit) give 34.0 % mean error on all 18.
``fmax_cap_mhz`` (1.5 GHz) is an assumption: the fastest published LUT-network designs report ~1.4 GHz.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = [
    "ULTRASCALE_PLUS",
    "XCU280_LOGICNETS",
    "DelayModel",
    "fit_delay_model",
    "fmax_mhz",
    "latency_ns",
    "period_ns",
]


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


# Least-squares fits of period = t_reg + t_level * depth (see the module docstring and docs/hardware.md).
ULTRASCALE_PLUS = DelayModel(
    t_level_ns=0.546,
    t_reg_ns=0.124,
    fmax_cap_mhz=1500.0,
    source="least-squares fit to the 12 published xcvu9p-flgb2104-2-i / Vivado 2020.1 "
    "results of PolyLUT-Add (4), NeuraLUT (2), PolyLUT (2) and NeuraLUT-Assemble (4) "
    "(benchmarks/calibration.py: compression-matched depth, last stage untimed)",
)
XCU280_LOGICNETS = DelayModel(
    t_level_ns=0.422,
    t_reg_ns=0.089,
    fmax_cap_mhz=1500.0,
    source="least-squares fit to the Vivado 2019.2 / xcu280-fsvh2892-2L-e results of "
    "Xilinx/logicnets' JSC-S/M/L and NID-S/M/L (benchmarks/calibration.py)",
)


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
