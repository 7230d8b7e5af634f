"""Hardware backend: truth-table network -> Verilog RTL -> Yosys (LUTs, FFs, depth) -> latency/Fmax;
bit-exact RTL simulation against ``TruthTableNetwork.evaluate``.

Hardware cost comes from a named ``CostBackend`` (``COST_BACKENDS``: ``analytic``, ``yosys`` alias
``synthesis``, ``surrogate`` (Yosys' LUTs and depth predicted from the tables, ``lutsearch.hw.surrogate``),
plug-ins; see ``lutsearch.hw.backends``).

Depends on numpy and ``lutsearch.tables`` only (no torch/optuna): it consumes a ``TruthTableNetwork``.
"""

from lutsearch.hw.backends import COST_BACKENDS, CostBackend, get_cost_backend, register_cost_backend
from lutsearch.hw.report import HardwareReport
from lutsearch.hw.rtl import RTLDesign, generate_rtl, stage_plan, write_memfiles
from lutsearch.hw.surrogate import Calibration, SurrogateBackend
from lutsearch.hw.synth import MODES, SynthResult, default_cache_dir, synthesize, synthesize_chunk
from lutsearch.hw.yosys import YosysError, YosysNotFound, YosysTimeout, find_yosys

__all__ = [
    "COST_BACKENDS",
    "MODES",
    "Calibration",
    "CostBackend",
    "HardwareReport",
    "RTLDesign",
    "SurrogateBackend",
    "SynthResult",
    "YosysError",
    "YosysNotFound",
    "YosysTimeout",
    "default_cache_dir",
    "find_yosys",
    "generate_rtl",
    "get_cost_backend",
    "register_cost_backend",
    "stage_plan",
    "synthesize",
    "synthesize_chunk",
    "write_memfiles",
]

register_cost_backend(SurrogateBackend())
