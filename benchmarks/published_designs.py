"""Random-table networks of given shapes, and the published designs used to calibrate the timing model.

Benchmark and test data, not part of the runtime package (``lutsearch.hw.timing`` holds only the fitted
constants). Import it with ``benchmarks/`` on ``sys.path`` (the scripts here are run from it; the tests
insert it).

``random_network`` builds a ``TruthTableNetwork`` with LogicNets-style random connectivity (each neuron
reads ``fan_in`` distinct random inputs) and uniformly random truth tables: the worst case for logic
synthesis (no structure to exploit), used for depth/timing calibration and for the cost-model
benchmarks. Vectorized with numpy (one argsort per layer for the connectivity).

``LOGICNETS_BASELINES``: architectures from Xilinx/logicnets ``examples/jet_substructure/train.py``
and ``examples/cybersecurity/train.py`` (configs ``jsc-s|m|l``, ``nid-s|m|l``) with the Vivado 2019.2
results of the examples' README files (LUTs, FFs, Fmax, latency in cycles; Umuroglu et al., FPL 2020):
the JSC README at commit 1a4fb734 (2021-04-13) and the NID README at commit 6aec7caf (2021-10-20).
The READMEs were rewritten later (JSC 2021-06 ea5f4ca0, both 2023-08 9cda4a9b); the 2023 rows are in
``PUBLISHED_DESIGNS`` as repeat measurements (not fitted). The part is ``xcu280-fsvh2892-2L-e``
(``neq2lut.py``: ``fpga_part``, 1.0 ns clock constraint), not a VU9P.

``PUBLISHED_DESIGNS``: every design whose post-place-and-route Vivado results could be found with a
source (collected in the calibration notes behind docs/hardware.md): LogicNets (Xilinx README, primary),
PolyLUT-Add (authors' README, primary), NeuraLUT, PolyLUT and NeuraLUT-Assemble (comparison tables of
later papers: secondary; or third-party transcriptions: tertiary, cross-check only). Each record holds
the architecture as a list of L-LUT layers, from which ``tables`` gives every table's address width
X = fan_in * in_bits (and the adder table of PolyLUT-Add), and ``stages`` the register stages.
Data only: every number is the published one (cycle counts marked ``cycles_derived`` are
round(latency_ns * Fmax_MHz / 1000), not published).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lutsearch.tables import TableLayer, TruthTableNetwork

__all__ = [
    "FAMILIES",
    "LOGICNETS_BASELINES",
    "PUBLISHED_DESIGNS",
    "Baseline",
    "Layer",
    "PublishedDesign",
    "Table",
    "baseline_network",
    "random_network",
]


def random_network(
    n_inputs: int,
    widths: list[int],
    *,
    input_bits: int,
    hidden_bits: int,
    output_bits: int,
    input_fan_in: int,
    fan_in: int,
    output_fan_in: int,
    seed: int = 0,
    output_signed: bool = True,
) -> TruthTableNetwork:
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


_JSC = (
    "Xilinx/logicnets examples/jet_substructure (train.py configs; README at commit 1a4fb734, 2021-04-13, "
    "Vivado 2019.2, xcu280-fsvh2892-2L-e)"
)
_NID = (
    "Xilinx/logicnets examples/cybersecurity (train.py configs; README at commit 6aec7caf, 2021-10-20, "
    "Vivado 2019.2, xcu280-fsvh2892-2L-e)"
)
LOGICNETS_BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in [
        Baseline("jsc-s", 16, (64, 32, 32, 32, 5), 2, 2, 2, 3, 3, 3, 232, 268, 1394.70, 5, _JSC),
        Baseline("jsc-m", 16, (64, 32, 32, 32, 5), 3, 3, 3, 4, 4, 4, 14576, 803, 596.66, 5, _JSC),
        Baseline("jsc-l", 16, (32, 64, 192, 192, 16, 5), 4, 3, 7, 3, 4, 5, 38925, 2418, 485.44, 6, _JSC),
        Baseline("nid-s", 593, (593, 100, 1), 1, 2, 2, 7, 7, 7, 110, 103, 1183.43, 3, _NID),
        Baseline("nid-m", 593, (593, 256, 128, 128, 1), 1, 2, 2, 7, 7, 7, 3058, 1666, 801.28, 5, _NID),
        Baseline("nid-l", 593, (593, 100, 100, 100, 1), 1, 3, 3, 7, 5, 5, 9087, 4579, 498.26, 5, _NID),
    ]
}


def baseline_network(name: str, seed: int = 0) -> TruthTableNetwork:
    """A random-table network with the architecture of a published baseline."""
    b = LOGICNETS_BASELINES[name]
    return random_network(
        b.n_inputs,
        list(b.widths),
        input_bits=b.input_bits,
        hidden_bits=b.hidden_bits,
        output_bits=b.output_bits,
        input_fan_in=b.input_fan_in,
        fan_in=b.fan_in,
        output_fan_in=b.output_fan_in,
        seed=seed,
    )


# --------------------------------------------------------------------------------------------------
# Published designs for the delay-model calibration
# --------------------------------------------------------------------------------------------------

FAMILIES = ("logicnets", "polylut", "polylut-add", "neuralut", "nla")
_TIERS = {
    "P": "primary (authors' own README/code)",
    "S": "secondary (another paper's comparison table)",
    "T": "tertiary (third-party transcription of a paper table)",
}


@dataclasses.dataclass(frozen=True)
class Table:
    """One kind of truth table in a layer: ``count`` tables of ``x`` address bits and ``y`` output bits."""

    count: int
    x: int
    y: int
    kind: str = "lut"  # "lut" (L-LUT / sub-neuron) or "adder" (PolyLUT-Add's adder table)


@dataclasses.dataclass(frozen=True)
class Layer:
    """One L-LUT layer: ``n_out`` neurons reading ``fan_in`` of the previous layer's ``in_bits``-bit signals.

    ``adds`` > 0: a PolyLUT-Add layer: each neuron is ``adds`` sub-neuron tables (fan-in ``fan_in`` each,
    ``sub_bits``-bit outputs) summed by an adder table of ``adds * sub_bits`` address bits (the reference's
    ``Adder2``: itself a truth table, ``generate_lut_verilog``) that outputs ``out_bits``.
    """

    n_out: int
    fan_in: int
    in_bits: int
    out_bits: int
    adds: int = 0
    sub_bits: int = 0

    @property
    def tables(self) -> tuple[Table, ...]:
        if not self.adds:
            return (Table(self.n_out, self.fan_in * self.in_bits, self.out_bits),)
        return (
            Table(self.n_out * self.adds, self.fan_in * self.in_bits, self.sub_bits),
            Table(self.n_out, self.adds * self.sub_bits, self.out_bits, "adder"),
        )

    @property
    def distinct_inputs(self) -> int:
        """Distinct signals of the previous layer one neuron reads (PolyLUT-Add: ``adds * fan_in``)."""
        return self.fan_in * max(1, self.adds)


@dataclasses.dataclass(frozen=True)
class PublishedDesign:
    """A published post-place-and-route result and the architecture it was measured on.

    ``stage_layers``: layers per register stage, in order (None: one stage per layer, the LogicNets
    convention: a register on every layer's input, the last layer's output combinational to the ports).
    ``cycles``: the published latency in cycles, or (``cycles_derived``) round(latency_ns * Fmax / 1000).
    ``tier``: P (authors' own), S (another paper's comparison table), T (third-party transcription);
    ``fit``: used in the least-squares fit (False: a cross-check row, reported but not fitted).
    """

    name: str
    family: str
    dataset: str
    n_inputs: int
    input_bits: int
    layers: tuple[Layer, ...]
    luts: int
    ffs: int | None
    fmax_mhz: float
    cycles: int
    latency_ns: float | None  # published latency in ns (None: only cycles were published)
    part: str
    vivado: str
    source: str
    tier: str
    cycles_derived: bool = False
    stage_layers: tuple[int, ...] | None = None
    fit: bool = True
    notes: str = ""

    @property
    def primary(self) -> bool:
        return self.tier == "P"

    @property
    def latency_ns_published(self) -> float:
        """The published latency, or cycles / Fmax where only cycles were published."""
        return self.latency_ns if self.latency_ns is not None else self.cycles * 1e3 / self.fmax_mhz

    @property
    def tables(self) -> list[Table]:
        return [t for layer in self.layers for t in layer.tables]

    @property
    def stages(self) -> list[list[int]]:
        """Layer indices of each register stage."""
        sizes = self.stage_layers or (1,) * len(self.layers)
        out, i = [], 0
        for n in sizes:
            out.append(list(range(i, i + n)))
            i += n
        return out


def _mlp(
    n_inputs: int,
    widths,
    input_bits: int,
    hidden_bits: int,
    output_bits: int,
    input_fan_in: int,
    fan_in: int,
    output_fan_in: int,
    adds: int = 0,
) -> tuple[Layer, ...]:
    """LogicNets/PolyLUT/NeuraLUT layer list (``widths`` ends with the output layer); ``adds``: PolyLUT-Add
    with ``adds`` sub-neurons whose outputs have one bit more than the layer's (the reference's
    ``QuantIdentity(bit_width=hidden_bitwidth + 1)``)."""
    layers, in_bits = [], input_bits
    for i, n in enumerate(widths):
        last = i == len(widths) - 1
        f = input_fan_in if i == 0 else output_fan_in if last else fan_in
        ob = output_bits if last else hidden_bits
        layers.append(Layer(n, f, in_bits, ob, adds, ob + 1 if adds else 0))
        in_bits = ob
    return tuple(layers)


def _nla(
    widths,
    support,
    input_bits: int,
    hidden_bits: int,
    support_bits: int,
    output_bits: int,
    input_fan_in: int,
    fan_in: int,
    support_fan_in: int,
) -> tuple[Layer, ...]:
    """NeuraLUT-Assemble tree levels (``support``: 1 = a support level of the tree below; as
    ``lutsearch.models.nla.plan`` and the reference's ``support_layers``)."""
    layers, in_bits = [], input_bits
    for i, n in enumerate(widths):
        last = i == len(widths) - 1
        f = support_fan_in if support[i] else input_fan_in if i == 0 else fan_in
        ob = output_bits if last else support_bits if support[i + 1] else hidden_bits
        layers.append(Layer(n, f, in_bits, ob))
        in_bits = ob
    return tuple(layers)


_U280, _VU9P = "xcu280-fsvh2892-2L-e", "xcvu9p-flgb2104-2-i"
_VU9P_Q = "xcvu9p-flgb2104-2-i (the authors' flow; the quoting table does not restate it)"
_LN_JSC = "github.com/Xilinx/logicnets examples/jet_substructure/README.md"
_LN_NID = "github.com/Xilinx/logicnets examples/cybersecurity/README.md"
_PLA = (
    "github.com/bingleilou/PolyLUT-Add README.md @058b1e70 ('updated post-Place&Route results for Table III'); "
    "architecture: datasets/{ds}/train.py configs['{cfg}'] and models.py (Adder2, A=2)"
)
_KANELE = "KANELE (Hoang, Gupta, Harris, FPGA'26, doi 10.1145/3748173.3779202) Table 3, quoting {ref}"
_FINNAS = "FINNAS (Chauffour et al., arXiv 2609.16367) Table II, quoting {ref}"
_AMIGO = (
    "AmigoLUT (Weng et al., FPGA'25, doi 10.1145/3706628.3708874) Table 4 as transcribed by third-party "
    "notes, quoting {ref}"
)
_NLA_REF = "NeuraLUT-Assemble (FCCM'25, arXiv 2504.00592)"
_NLA_ARCH = "architecture: spaces/baselines/{y}.yaml (MartaAndronic/NeuraLUT @650c4f4 demo/train.py)"
_NL_REF = "NeuraLUT (FPL'24, arXiv 2403.00849)"
_NL_ARCH = "architecture: MartaAndronic/NeuraLUT @610c8a2 datasets/{ds}/train.py configs['{cfg}']"
_PL_TC = "PolyLUT (IEEE TC 2025 journal version)"
_PL_CONF = "PolyLUT (ICFPT'23)"
_PL_ARCH = "architecture: MartaAndronic/PolyLUT @22fdfb8 datasets/{ds}/train.py configs['{cfg}']"

_JSC_S = _mlp(16, (64, 32, 32, 32, 5), 2, 2, 2, 3, 3, 3)
_JSC_M = _mlp(16, (64, 32, 32, 32, 5), 3, 3, 3, 4, 4, 4)
_JSC_L = _mlp(16, (32, 64, 192, 192, 16, 5), 4, 3, 7, 3, 4, 5)
_NID_S = _mlp(593, (593, 100, 1), 1, 2, 2, 7, 7, 7)
_NID_M = _mlp(593, (593, 256, 128, 128, 1), 1, 2, 2, 7, 7, 7)
_NID_L = _mlp(593, (593, 100, 100, 100, 1), 1, 3, 3, 7, 5, 5)
_PL_JSC_XL = _mlp(16, (128, 64, 64, 64, 5), 7, 5, 5, 2, 3, 3)
_PL_JSC_ML = _mlp(16, (64, 32, 5), 3, 3, 3, 4, 4, 4)
_PL_HDR = _mlp(784, (256, 100, 100, 100, 100, 10), 2, 2, 2, 6, 6, 6)
_NL_JSC_5L = _mlp(16, (128, 128, 128, 64, 5), 7, 4, 4, 2, 3, 3)
_NL_JSC_2L = _mlp(16, (32, 5), 4, 4, 4, 3, 3, 3)
_NL_HDR = _mlp(784, (256, 100, 100, 100, 10), 2, 2, 2, 6, 6, 6)
_NLA_JSC = _nla((320, 160, 80, 40, 20, 10, 5), (0, 1, 1, 1, 1, 1, 1), 6, 3, 3, 8, 1, 2, 2)
_NLA_HDR = _nla((2160, 360, 2160, 360, 60, 10), (0, 1, 0, 1, 1, 1), 2, 2, 2, 2, 6, 6, 6)
_NLA_CYC2 = (
    "2 cycles (derived) for 7 (JSC) / 6 (MNIST) tree levels: the register placement is not published; "
    "assumed 2 stages of balanced depth (the Imperial flow enables synthesis retiming)"
)

_ln = [
    # (name, dataset, layers, LUT, FF, Fmax, cycles, README commit)
    ("jsc-s", "jsc", _JSC_S, 232, 268, 1394.70, 5, "1a4fb734"),
    ("jsc-m", "jsc", _JSC_M, 14576, 803, 596.66, 5, "1a4fb734"),
    ("jsc-l", "jsc", _JSC_L, 38925, 2418, 485.44, 6, "1a4fb734"),
    ("nid-s", "nid", _NID_S, 110, 103, 1183.43, 3, "6aec7caf"),
    ("nid-m", "nid", _NID_M, 3058, 1666, 801.28, 5, "6aec7caf"),
    ("nid-l", "nid", _NID_L, 9087, 4579, 498.26, 5, "6aec7caf"),
    ("jsc-s@2023", "jsc", _JSC_S, 244, 270, 1353.18, 5, "9cda4a9b"),
    ("jsc-m@2023", "jsc", _JSC_M, 15526, 881, 576.70, 5, "9cda4a9b"),
    ("jsc-l@2023", "jsc", _JSC_L, 36415, 2790, 389.86, 6, "9cda4a9b"),
    ("nid-s@2023", "nid", _NID_S, 28, 38, 1824.82, 3, "9cda4a9b"),
    ("nid-m@2023", "nid", _NID_M, 2846, 1572, 747.94, 5, "9cda4a9b"),
    ("nid-l@2023", "nid", _NID_L, 8106, 1901, 498.26, 5, "9cda4a9b"),
]

PUBLISHED_DESIGNS: dict[str, PublishedDesign] = {
    d.name: d
    for d in [
        *(
            PublishedDesign(
                f"logicnets-{n}",
                "logicnets",
                ds,
                16 if ds == "jsc" else 593,
                layers[0].in_bits,
                layers,
                lut,
                ff,
                fmax,
                cyc,
                None,
                _U280,
                "2019.2",
                f"{_LN_JSC if ds == 'jsc' else _LN_NID} at commit {commit} (row {n.split('@')[0].upper()}); "
                f"train.py configs; part from neq2lut.py",
                "P",
                fit="@" not in n,
                notes="" if "@" not in n else "2023 README rewrite of the same architecture (repeat measurement)",
            )
            for n, ds, layers, lut, ff, fmax, cyc, commit in _ln
        ),
        PublishedDesign(
            "polylut-add-jsc-xl-add2",
            "polylut-add",
            "jsc",
            16,
            7,
            _mlp(16, (128, 64, 64, 64, 5), 7, 5, 5, 1, 2, 2, adds=2),
            36484,
            1209,
            315,
            5,
            16.0,
            _VU9P,
            "2020.1",
            _PLA.format(ds="jet_substructure", cfg="jsc-xl-add2"),
            "P",
            True,
            notes="5 cycles = 5 (layer + adder) stages: pipelining strategy-2 of the README's examples",
        ),
        PublishedDesign(
            "polylut-add-jsc-m-lite-add2",
            "polylut-add",
            "jsc",
            16,
            3,
            _mlp(16, (64, 32, 5), 3, 3, 3, 2, 2, 2, adds=2),
            895,
            189,
            750,
            3,
            4.0,
            _VU9P,
            "2020.1",
            _PLA.format(ds="jet_substructure", cfg="jsc-m-lite-add2"),
            "P",
            True,
            notes="3 cycles = strategy-2 (register per layer + adder pair)",
        ),
        PublishedDesign(
            "polylut-add-mnist-hdr-add2",
            "polylut-add",
            "mnist",
            784,
            2,
            _mlp(784, (256, 100, 100, 100, 100, 10), 2, 2, 2, 4, 4, 4, adds=2),
            14810,
            2609,
            625,
            6,
            10.0,
            _VU9P,
            "2020.1",
            _PLA.format(ds="mnist", cfg="hdr-add2"),
            "P",
            True,
            notes="10 ns x 625 MHz = 6.25 cycles: 6 = strategy-2",
        ),
        PublishedDesign(
            "polylut-add-nid-add2",
            "polylut-add",
            "nid",
            593,
            1,
            _mlp(593, (100, 100, 50, 50, 1), 1, 2, 2, 6, 3, 7, adds=2),
            1649,
            830,
            620,
            5,
            8.0,
            _VU9P,
            "2020.1",
            _PLA.format(ds="cybersecurity", cfg="nid-add2"),
            "P",
            True,
            notes="5 cycles = strategy-2; n_inputs 593 (the binarized UNSW-NB15 features)",
        ),
        PublishedDesign(
            "nla-jsc-cernbox-latency",
            "nla",
            "jsc",
            16,
            6,
            _NLA_JSC,
            8539,
            1332,
            352,
            2,
            5.7,
            _VU9P_Q,
            "2020.1",
            f"{_KANELE.format(ref=_NLA_REF)}; {_FINNAS.format(ref=_NLA_REF)} (agree); "
            f"{_NLA_ARCH.format(y='nla_jsc_cernbox')}",
            "S",
            True,
            stage_layers=(4, 3),
            notes=_NLA_CYC2 + "; bitwidths of the CERNBox config unverified (8,539 LUTs > the formula "
            "for 6-bit tables)",
        ),
        PublishedDesign(
            "nla-jsc-cernbox-fmax",
            "nla",
            "jsc",
            16,
            6,
            _NLA_JSC,
            8535,
            2717,
            994,
            7,
            7.0,
            _VU9P_Q,
            "2020.1",
            f"{_FINNAS.format(ref=_NLA_REF)} (second NLA row); {_NLA_ARCH.format(y='nla_jsc_cernbox')}",
            "S",
            True,
            notes="throughput pipelining of the same model: 7 cycles = a register per tree level",
        ),
        PublishedDesign(
            "nla-jsc-openml",
            "nla",
            "jsc",
            16,
            6,
            _NLA_JSC,
            1780,
            540,
            941,
            2,
            2.1,
            _VU9P_Q,
            "2020.1",
            f"{_KANELE.format(ref=_NLA_REF)}; {_NLA_ARCH.format(y='nla_jsc_openml')}",
            "S",
            True,
            stage_layers=(4, 3),
            notes=_NLA_CYC2,
        ),
        PublishedDesign(
            "nla-mnist",
            "nla",
            "mnist",
            784,
            2,
            _NLA_HDR,
            5070,
            725,
            863,
            2,
            2.1,
            _VU9P_Q,
            "2020.1",
            f"{_KANELE.format(ref=_NLA_REF)}; {_NLA_ARCH.format(y='nla_mnist')}",
            "S",
            True,
            stage_layers=(3, 3),
            notes=_NLA_CYC2 + " (2.1 ns x 863 MHz = 1.8)",
        ),
        PublishedDesign(
            "neuralut-jsc-5l",
            "neuralut",
            "jsc",
            16,
            7,
            _NL_JSC_5L,
            92357,
            4885,
            368,
            5,
            13.6,
            _VU9P_Q,
            "2020.1",
            f"{_FINNAS.format(ref=_NL_REF)}; {_KANELE.format(ref=_NL_REF)} (14 ns); "
            f"AmigoLUT T4 (agree); {_NL_ARCH.format(ds='jet_substructure', cfg='jsc-5l')}",
            "S",
            True,
        ),
        PublishedDesign(
            "neuralut-mnist-hdr-5l",
            "neuralut",
            "mnist",
            784,
            2,
            _NL_HDR,
            54798,
            3757,
            431,
            5,
            12.0,
            _VU9P_Q,
            "2020.1",
            f"{_KANELE.format(ref=_NL_REF)}; NeuraLUT Table III per third-party notes "
            f"(agree); {_NL_ARCH.format(ds='mnist', cfg='hdr-5l')}",
            "S",
            True,
            notes="12 ns x 431 MHz = 5.2 cycles: 5",
        ),
        PublishedDesign(
            "neuralut-jsc-2l",
            "neuralut",
            "jsc",
            16,
            4,
            _NL_JSC_2L,
            4684,
            341,
            727,
            2,
            3.0,
            _VU9P_Q,
            "2020.1",
            f"{_AMIGO.format(ref=_NL_REF)}; {_NL_ARCH.format(ds='jet_substructure', cfg='jsc-2l')}",
            "T",
            True,
            fit=False,
            notes="tertiary: cross-check only",
        ),
        PublishedDesign(
            "polylut-jsc-xl-tc25",
            "polylut",
            "jsc",
            16,
            7,
            _PL_JSC_XL,
            246071,
            12384,
            203,
            5,
            24.6,
            _VU9P_Q,
            "not stated",
            f"{_FINNAS.format(ref=_PL_TC)}; {_KANELE.format(ref=_PL_TC)} (25 ns); "
            f"{_PL_ARCH.format(ds='jet_substructure', cfg='jsc-xl')} (ASSUMED: the journal's JSC model "
            "is the ICFPT'23 JSC-XL architecture)",
            "S",
            True,
        ),
        PublishedDesign(
            "polylut-mnist-hdr-tc25",
            "polylut",
            "mnist",
            784,
            2,
            _PL_HDR,
            75131,
            4668,
            353,
            6,
            17.0,
            _VU9P_Q,
            "not stated",
            f"{_KANELE.format(ref=_PL_TC)}; {_PL_ARCH.format(ds='mnist', cfg='hdr')} "
            "(ASSUMED: the journal's MNIST model is the ICFPT'23 HDR architecture)",
            "S",
            True,
        ),
        PublishedDesign(
            "polylut-jsc-xl-icfpt23",
            "polylut",
            "jsc",
            16,
            7,
            _PL_JSC_XL,
            236541,
            2775,
            235,
            5,
            21.0,
            _VU9P,
            "2020.1",
            f"{_AMIGO.format(ref=_PL_CONF)}; {_PL_ARCH.format(ds='jet_substructure', cfg='jsc-xl')}",
            "T",
            True,
            fit=False,
            notes="tertiary: cross-check only",
        ),
        PublishedDesign(
            "polylut-jsc-m-lite-icfpt23",
            "polylut",
            "jsc",
            16,
            3,
            _PL_JSC_ML,
            12436,
            773,
            646,
            3,
            5.0,
            _VU9P,
            "2020.1",
            f"{_AMIGO.format(ref=_PL_CONF)}; {_PL_ARCH.format(ds='jet_substructure', cfg='jsc-m-lite')}",
            "T",
            True,
            fit=False,
            notes="tertiary: cross-check only (the transcription prints 75%; 72% expected)",
        ),
        PublishedDesign(
            "polylut-mnist-hdr-icfpt23",
            "polylut",
            "mnist",
            784,
            2,
            _PL_HDR,
            70673,
            4681,
            378,
            6,
            16.0,
            _VU9P,
            "2020.1",
            f"NeuraLUT Table III quoting {_PL_CONF}, per third-party notes; {_PL_ARCH.format(ds='mnist', cfg='hdr')}",
            "T",
            True,
            fit=False,
            notes="tertiary: cross-check only",
        ),
    ]
}
