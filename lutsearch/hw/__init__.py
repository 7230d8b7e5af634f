"""Hardware backend: truth-table network -> Verilog RTL -> Yosys (LUTs, FFs, depth) -> latency/Fmax;
bit-exact RTL simulation against ``TruthTableNetwork.evaluate``.

Depends on numpy and ``lutsearch.tables`` only (no torch/optuna): it consumes a ``TruthTableNetwork``.
"""

from lutsearch.hw.report import HardwareReport
from lutsearch.hw.rtl import RTLDesign, generate_rtl, stage_plan, write_memfiles
from lutsearch.hw.synth import MODES, SynthResult, default_cache_dir, synthesize, synthesize_chunk
from lutsearch.hw.yosys import YosysError, YosysNotFound, YosysTimeout, find_yosys

__all__ = [
    "MODES", "HardwareReport", "RTLDesign", "SynthResult", "YosysError", "YosysNotFound", "YosysTimeout",
    "default_cache_dir", "find_yosys", "generate_rtl", "stage_plan", "synthesize", "synthesize_chunk", "write_memfiles",
]
