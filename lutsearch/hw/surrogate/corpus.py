"""Calibration corpora: seeded random-table networks (uniform and "structured", i.e. shaped like trained
tables) and the per-unit Yosys rows of any networks.

Trained tables (digits, JSC, NID units measured in ``benchmarks``) are nothing like uniform random ones:
they are saturating, monotone functions of a weighted sum of the input codes, with skewed on-sets and
few distinct output values, and most output bits still depend on every address bit. The structured
kinds below mimic that (``linear``: a quantized weighted sum, LogicNets; ``poly``: degree 2, PolyLUT;
``mlp``: a small tanh network per neuron, NeuraLUT), plus tables that stress single features
(``sparse``: low support per output bit, with wires; ``fewvals``: a handful of output codes; ``biased``:
sparse on-sets) and ``random`` (uniform; Yosys equals the LogicNets formula there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from lutsearch.hw.estimate import logicnets_lut_cost
from lutsearch.hw.surrogate._synth import synthesize_units
from lutsearch.hw.surrogate._tables import UnitTable, network_units
from lutsearch.hw.surrogate.calibration import CalibrationRow
from lutsearch.hw.surrogate.features import unit_features
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork, to_signed, to_unsigned

__all__ = ["KINDS", "random_networks", "unit_rows"]


# ----------------------------------------------------------------------------- table generators
def _input_values(f: int, in_bits: int, signed: bool) -> np.ndarray:
    """(2**(f*in_bits), f) input values of every address (input 0 in the low bits)."""
    e = np.arange(1 << (f * in_bits), dtype=np.int64)
    codes = (e[:, None] >> (in_bits * np.arange(f))) & ((1 << in_bits) - 1)
    return (to_signed(codes, in_bits) if signed else codes).astype(np.float64)


def _quantize(v: np.ndarray, out_bits: int, signed: bool, rng: np.random.Generator) -> np.ndarray:
    """Standardized pre-activations (n, E) -> output codes: a random scale and offset, rounding and
    saturation. Unsigned outputs are ReLU-like (trained LogicNets hidden layers on digits: 55-87 % of
    the entries are code 0, then decreasing); signed ones are centred. The saturation makes some bits
    constant or nearly so, as in trained tables."""
    mu, sd = v.mean(1, keepdims=True), v.std(1, keepdims=True)
    v = (v - mu) / np.where(sd > 0, sd, 1.0)
    levels, shape = 1 << out_bits, (v.shape[0], 1)
    scale = levels / 4 * np.exp(rng.uniform(np.log(0.4), np.log(3.0), shape))
    lo, hi = (-(levels // 2), levels // 2 - 1) if signed else (0, levels - 1)
    offset = rng.uniform(lo / 2, hi / 2 + 0.5, shape) if signed else rng.uniform(-levels / 2, levels / 4, shape)
    return to_unsigned(np.clip(np.round(v * scale + offset), lo, hi).astype(np.int64), out_bits)


def _weights(rng: np.random.Generator, n: int, f: int) -> np.ndarray:
    """(n, f) weights, some inputs of each neuron nearly unused (trained sparsity)."""
    w = rng.normal(size=(n, f))
    return w * np.where(rng.random((n, f)) < rng.uniform(0, 0.4), 0.05, 1.0)


def _linear(rng, n, f, ib, sig, ob, osig):
    x = _input_values(f, ib, sig)
    return _quantize(_weights(rng, n, f) @ x.T, ob, osig, rng)


def _poly(rng, n, f, ib, sig, ob, osig):
    x = _input_values(f, ib, sig)
    pairs = np.einsum("ej,ek->ejk", x, x).reshape(x.shape[0], -1)  # degree-2 monomials
    w2 = rng.normal(size=(n, f * f)) * rng.uniform(0.05, 0.6, (n, 1))
    return _quantize(_weights(rng, n, f) @ x.T + w2 @ pairs.T, ob, osig, rng)


def _mlp(rng, n, f, ib, sig, ob, osig):
    x = _input_values(f, ib, sig)
    h = int(rng.integers(2, 9))
    w1, b1 = rng.normal(size=(n, h, f)), rng.normal(size=(n, h, 1))
    hidden = np.tanh(np.einsum("nhf,ef->nhe", w1, x / max(1.0, x.std())) + b1)
    return _quantize(np.einsum("nh,nhe->ne", rng.normal(size=(n, h)), hidden), ob, osig, rng)


def _sparse(rng, n, f, ib, sig, ob, osig):
    """Every output bit a random function of a few address bits (some bits plain wires)."""
    a, e = f * ib, np.arange(1 << (f * ib), dtype=np.int64)
    out = np.zeros((n, e.size), dtype=np.int64)
    for b in range(ob):  # loop over output bits, vectorized over neurons and entries
        k = rng.integers(1, min(a, 7) + 1, n)
        sel = np.argsort(rng.random((n, a)), 1)  # a random order of the address bits per neuron
        sub = np.zeros((n, e.size), dtype=np.int64)
        for j in range(min(a, 7)):  # the first k of them form the sub-address
            sub |= np.where(j < k[:, None], ((e[None, :] >> sel[:, j : j + 1]) & 1) << j, 0)
        lut = rng.integers(0, 2, (n, 1 << min(a, 7)))
        out |= np.take_along_axis(lut, sub, 1) << b
    return out


def _fewvals(rng, n, f, ib, sig, ob, osig):
    """A handful of codes, chosen by thresholds of a weighted sum (skewed class sizes)."""
    v = _weights(rng, n, f) @ _input_values(f, ib, sig).T  # (n, E)
    m = int(rng.integers(2, 7))
    q = np.sort(rng.random((n, m - 1)) ** 1.5, 1)  # class boundaries as quantiles
    cuts = np.take_along_axis(np.sort(v, 1), (q * (v.shape[1] - 1)).astype(np.int64), 1)
    cls = (v[:, :, None] > cuts[:, None, :]).sum(2)
    return np.take_along_axis(rng.integers(0, 1 << ob, (n, m)), cls, 1)


def _biased(rng, n, f, ib, sig, ob, osig):
    p = rng.uniform(0.02, 0.3, (n, ob, 1))
    bits = rng.random((n, ob, 1 << (f * ib))) < p
    return (bits.astype(np.int64) << np.arange(ob)[None, :, None]).sum(1)


def _random(rng, n, f, ib, sig, ob, osig):
    return rng.integers(0, 1 << ob, (n, 1 << (f * ib)), dtype=np.int64)


Generator = Callable[..., np.ndarray]
KINDS: dict[str, Generator] = {
    "linear": _linear,
    "poly": _poly,
    "mlp": _mlp,
    "sparse": _sparse,
    "fewvals": _fewvals,
    "biased": _biased,
    "random": _random,
}


# ----------------------------------------------------------------------------- networks
@dataclasses.dataclass(frozen=True)
class _Shape:
    n_out: int
    fan_in: int
    out_bits: int
    out_signed: bool


# how much cheaper than the LogicNets formula (random tables) a kind's tables roughly synthesize: only
# sizes the layers, so that structured networks get as many wide neurons as their LUT budget allows
_COMPRESSION = {"linear": 6.0, "poly": 6.0, "mlp": 6.0, "fewvals": 6.0, "sparse": 3.0, "biased": 1.5, "random": 1.0}


def _layer_shapes(
    rng: np.random.Generator, n_in: int, in_bits: int, n_layers: int, kind: str, limits: dict
) -> list[_Shape]:
    """Per layer: address width drawn uniformly in 2..max_address_bits (fan-in = width / input bits),
    output bits mostly small, neuron count within the layer's share of ``max_luts``."""
    shapes: list[_Shape] = []
    for _ in range(n_layers):
        a = int(rng.integers(2, limits["max_address_bits"] + 1))
        f = int(np.clip(round(a / in_bits), 1, min(n_in, limits["max_address_bits"] // in_bits)))
        ob = int(rng.integers(1, 5) if rng.random() < 0.75 else rng.integers(1, limits["max_out_bits"] + 1))
        cost = float(logicnets_lut_cost(f * in_bits, ob)) / _COMPRESSION.get(kind, 1.0)
        n_out = int(np.clip(limits["max_luts"] / n_layers / cost, 1, limits["max_neurons"]))
        shapes.append(_Shape(n_out, f, ob, bool(rng.random() < 0.5)))
        n_in, in_bits = n_out, ob
    return shapes


def _network(rng: np.random.Generator, kind: str, limits: dict) -> TruthTableNetwork:
    n_inputs, input_bits = int(rng.integers(8, 33)), int(rng.integers(1, 5))
    shapes = _layer_shapes(rng, n_inputs, input_bits, int(rng.integers(2, 4)), kind, limits)
    layers: list[TableLayer | AdderLayer] = []
    n_in, ib, sig = n_inputs, input_bits, False
    for s in shapes:
        idx = np.sort(np.argsort(rng.random((s.n_out, n_in)), 1)[:, : s.fan_in], 1)
        tables = KINDS[kind](rng, s.n_out, s.fan_in, ib, sig, s.out_bits, s.out_signed)
        layers.append(TableLayer(idx, tables, ib, s.out_bits, sig, s.out_signed))
        n_in, ib, sig = s.n_out, s.out_bits, s.out_signed
    return TruthTableNetwork(n_inputs, input_bits, layers, meta={"kind": kind})


def random_networks(
    seed: int,
    n: int = 28,
    *,
    kinds: Sequence[str] = tuple(KINDS),
    max_address_bits: int = 14,
    max_out_bits: int = 8,
    max_luts: float = 2000.0,
    max_neurons: int = 24,
) -> list[tuple[TruthTableNetwork, str]]:
    """``n`` seeded networks of 2-3 table layers, kinds in turn (see the module doc; source
    ``random:<kind>``); address widths 2..``max_address_bits``, output bits 1..``max_out_bits``, about
    ``max_luts`` analytic LUTs each (so a whole-design Yosys run stays short)."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown table kind {unknown[0]!r}; allowed: {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    limits = {
        "max_address_bits": max_address_bits,
        "max_out_bits": max_out_bits,
        "max_luts": max_luts,
        "max_neurons": max_neurons,
    }
    return [(_network(rng, kinds[i % len(kinds)], limits), f"random:{kinds[i % len(kinds)]}") for i in range(n)]


# ----------------------------------------------------------------------------- Yosys rows
def unit_rows(
    networks: Sequence[tuple[TruthTableNetwork, str]],
    *,
    tool: str | None = None,
    cache_dir: str | Path | Literal[False] | None = None,
    jobs: int | None = None,
    timeout: float | None = 600.0,
) -> list[CalibrationRow]:
    """One row per distinct neuron unit of ``networks`` ((network, source) pairs; a unit shared by
    several keeps the first source): its features and Yosys' LUTs and LUT depth under the default flow,
    synthesized through the unit cache and the chunked scheduler (``cache_dir`` as ``synthesize``).
    Units whose run failed are left out. Raises ``YosysNotFound`` without Yosys."""
    units: dict[str, tuple[UnitTable, str]] = {}
    for net, source in networks:
        for layer in network_units(net):
            for u in layer:
                units.setdefault(u.key, (u, source))
    tables = [u for u, _ in units.values()]
    stats, tool_name = synthesize_units(tables, tool=tool, cache_dir=cache_dir, jobs=jobs, timeout=timeout)
    feats = unit_features(tables)
    return [
        CalibrationRow(u.key, f, float(stats[u.key]["luts"]), int(stats[u.key]["depth"]), source, tool_name)
        for (u, source), f in zip(units.values(), feats)
        if u.key in stats
    ]
