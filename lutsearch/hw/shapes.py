"""Random-table networks of given shapes, and the published baselines used to calibrate the timing model.

``random_network`` builds a ``TruthTableNetwork`` with LogicNets-style random connectivity (each neuron
reads ``fan_in`` distinct random inputs) and uniformly random truth tables: the worst case for logic
synthesis (no structure to exploit), used for depth/timing calibration and for the cost-model
benchmarks. Vectorized with numpy (one argsort per layer for the connectivity).

``LOGICNETS_BASELINES``: architectures from Xilinx/logicnets ``examples/jet_substructure/train.py``
and ``examples/cybersecurity/train.py`` (configs ``jsc-s|m|l``, ``nid-s|m|l``) with the Vivado 2019.2
results of the examples' README files (LUTs, FFs, Fmax, latency in cycles; Umuroglu et al., FPL 2020).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lutsearch.tables import TableLayer, TruthTableNetwork

__all__ = ["Baseline", "LOGICNETS_BASELINES", "random_network", "baseline_network"]


def random_network(n_inputs: int, widths: list[int], *, input_bits: int, hidden_bits: int, output_bits: int,
                   input_fan_in: int, fan_in: int, output_fan_in: int, seed: int = 0,
                   output_signed: bool = True) -> TruthTableNetwork:
    """Layers ``widths`` (the last one is the output layer) with random connectivity and tables."""
    rng = np.random.default_rng(seed)
    layers, n_in, in_bits, in_signed = [], n_inputs, input_bits, False
    for i, n_out in enumerate(widths):
        last = i == len(widths) - 1
        f = input_fan_in if i == 0 else output_fan_in if last else fan_in
        ob = output_bits if last else hidden_bits
        idx = np.sort(np.argsort(rng.random((n_out, n_in)), axis=1)[:, :f], axis=1)
        tables = rng.integers(0, 1 << ob, size=(n_out, 1 << (f * in_bits)), dtype=np.int64)
        layers.append(TableLayer(idx, tables, in_bits, ob, in_signed, last and output_signed, name=f"layer{i}"))
        n_in, in_bits, in_signed = n_out, ob, last and output_signed
    return TruthTableNetwork(n_inputs=n_inputs, input_bits=input_bits, layers=layers, meta={"random_seed": seed})


@dataclasses.dataclass(frozen=True)
class Baseline:
    name: str
    n_inputs: int
    widths: tuple[int, ...]  # hidden widths + the output layer
    input_bits: int
    hidden_bits: int
    output_bits: int
    input_fan_in: int
    fan_in: int
    output_fan_in: int
    luts: int | None = None  # published Vivado results
    ffs: int | None = None
    fmax_mhz: float | None = None
    latency_cycles: int | None = None
    source: str = ""

    @property
    def latency_ns(self) -> float | None:
        return None if self.fmax_mhz is None else self.latency_cycles * 1e3 / self.fmax_mhz


_JSC = "Xilinx/logicnets examples/jet_substructure (train.py configs; README, Vivado 2019.2)"
_NID = "Xilinx/logicnets examples/cybersecurity (train.py configs; README, Vivado 2019.2)"
LOGICNETS_BASELINES: dict[str, Baseline] = {b.name: b for b in [
    Baseline("jsc-s", 16, (64, 32, 32, 32, 5), 2, 2, 2, 3, 3, 3, 232, 268, 1394.70, 5, _JSC),
    Baseline("jsc-m", 16, (64, 32, 32, 32, 5), 3, 3, 3, 4, 4, 4, 14576, 803, 596.66, 5, _JSC),
    Baseline("jsc-l", 16, (32, 64, 192, 192, 16, 5), 4, 3, 7, 3, 4, 5, 38925, 2418, 485.44, 6, _JSC),
    Baseline("nid-s", 593, (593, 100, 1), 1, 2, 2, 7, 7, 7, 110, 103, 1183.43, 3, _NID),
    Baseline("nid-m", 593, (593, 256, 128, 128, 1), 1, 2, 2, 7, 7, 7, 3058, 1666, 801.28, 5, _NID),
    Baseline("nid-l", 593, (593, 100, 100, 100, 1), 1, 3, 3, 7, 5, 5, 9087, 4579, 498.26, 5, _NID),
]}


def baseline_network(name: str, seed: int = 0) -> TruthTableNetwork:
    """A random-table network with the architecture of a published baseline."""
    b = LOGICNETS_BASELINES[name]
    return random_network(b.n_inputs, list(b.widths), input_bits=b.input_bits, hidden_bits=b.hidden_bits,
                          output_bits=b.output_bits, input_fan_in=b.input_fan_in, fan_in=b.fan_in,
                          output_fan_in=b.output_fan_in, seed=seed)
