"""The truth-table network: the contract between models (which produce it) and hardware.

A network is a list of layers applied in order to a vector of integer *codes*. Every signal is an
unsigned bit pattern of a known width; a signed signal stores two's complement in that width.

``TableLayer``  (one L-LUT per output neuron)
    ``indices``  int64 (n_out, F): which signals of the previous layer each neuron reads.
    ``tables``   int64 (n_out, 2**(F*in_bits)): the output code for every input address.
    The address of a neuron is ``sum_j code[indices[j]] << (in_bits * j)``: input 0 sits in the
    least significant bits, i.e. Verilog's ``{in[F-1], ..., in[1], in[0]}``.

``AdderLayer``  (arithmetic: HGQ-LUT edge sums, ensemble sums)
    ``indices`` int64 (n_out, K) and ``mask`` bool (n_out, K): output ``i`` is the sum of the
    (sign-interpreted) codes ``indices[i, k]`` where ``mask[i, k]``; the result is stored in
    ``out_bits`` as two's complement when ``out_signed``. The width must hold every possible sum;
    ``AdderLayer.required_bits`` computes it and the constructor checks it.

The exact evaluator here is plain numpy integer arithmetic (no floats anywhere), vectorized over
samples and neurons: one gather and one shift-or per layer input position, then one table lookup.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "AdderLayer",
    "TableLayer",
    "TruthTableNetwork",
    "to_signed",
    "to_unsigned",
]


def to_signed(codes: np.ndarray, bits: int) -> np.ndarray:
    """Interpret unsigned ``bits``-wide bit patterns as two's complement integers."""
    codes = np.asarray(codes, dtype=np.int64)
    if bits <= 0:
        return np.zeros_like(codes)
    half = 1 << (bits - 1)
    return np.where(codes >= half, codes - (1 << bits), codes)


def to_unsigned(values: np.ndarray, bits: int) -> np.ndarray:
    """Store integers as ``bits``-wide bit patterns (two's complement for negatives)."""
    values = np.asarray(values, dtype=np.int64)
    if bits <= 0:
        return np.zeros_like(values)
    return values & ((1 << bits) - 1)


def _range_of(bits: int, signed: bool) -> tuple[int, int]:
    if bits <= 0:
        return 0, 0
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


class _LayerRecord:
    """What both layer records share: the wiring ``indices`` (n_out, F or K), the code formats of
    their inputs and outputs, and the JSON metadata written next to their arrays."""

    kind: ClassVar[str]
    indices: np.ndarray
    in_bits: int
    out_bits: int
    in_signed: bool
    out_signed: bool
    name: str

    @property
    def n_out(self) -> int:
        return int(self.indices.shape[0])

    @property
    def fan_in(self) -> int:
        return int(self.indices.shape[1])

    def meta(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "in_bits": self.in_bits,
            "out_bits": self.out_bits,
            "in_signed": self.in_signed,
            "out_signed": self.out_signed,
            "name": self.name,
        }


@dataclasses.dataclass
class TableLayer(_LayerRecord):
    """One L-LUT per output neuron (see the module docstring for the address convention)."""

    indices: np.ndarray
    tables: np.ndarray
    in_bits: int
    out_bits: int
    in_signed: bool = False
    out_signed: bool = False
    name: str = ""

    kind: ClassVar[str] = "table"

    def __post_init__(self) -> None:
        self.indices = np.ascontiguousarray(self.indices, dtype=np.int64)
        self.tables = np.ascontiguousarray(self.tables, dtype=np.int64)
        self.in_bits, self.out_bits = int(self.in_bits), int(self.out_bits)
        if self.indices.ndim != 2 or self.tables.ndim != 2:
            raise ValueError("TableLayer: indices and tables must be 2-D")
        if self.indices.shape[0] != self.tables.shape[0]:
            raise ValueError("TableLayer: indices and tables disagree on the number of neurons")
        if self.tables.shape[1] != 1 << (self.fan_in * self.in_bits):
            raise ValueError(
                f"TableLayer: tables have {self.tables.shape[1]} entries, expected "
                f"2**(fan_in*in_bits) = {1 << (self.fan_in * self.in_bits)}"
            )
        if self.tables.size and (self.tables.min() < 0 or self.tables.max() >= 1 << self.out_bits):
            raise ValueError(f"TableLayer: table codes do not fit in {self.out_bits} bits")

    @property
    def address_bits(self) -> int:
        return self.fan_in * self.in_bits

    def addresses(self, prev: np.ndarray) -> np.ndarray:
        """Table addresses (N, n_out) of every neuron for previous-layer codes ``prev`` (N, n_in)."""
        addr = np.zeros((prev.shape[0], self.n_out), dtype=np.int64)
        for j in range(self.fan_in):  # loop over fan-in positions (F <= ~12), not neurons
            addr |= prev[:, self.indices[:, j]] << (self.in_bits * j)
        return addr

    def evaluate(self, prev: np.ndarray) -> np.ndarray:
        addr = self.addresses(prev)
        # One flat gather: neuron i's entries start at i * 2^address_bits (2-6x faster than indexing
        # the 2-D table with broadcast row and column indices).
        addr += np.arange(self.n_out, dtype=np.int64) << self.address_bits
        return np.take(self.tables.reshape(-1), addr)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}indices": self.indices, f"{prefix}tables": self.tables}


@dataclasses.dataclass
class AdderLayer(_LayerRecord):
    """Output ``i`` = sum of the masked, sign-interpreted input codes ``indices[i]``."""

    indices: np.ndarray
    mask: np.ndarray
    in_bits: int
    out_bits: int
    in_signed: bool = True
    out_signed: bool = True
    name: str = ""

    kind: ClassVar[str] = "adder"

    def __post_init__(self) -> None:
        self.indices = np.ascontiguousarray(self.indices, dtype=np.int64)
        self.mask = np.ascontiguousarray(self.mask, dtype=bool)
        self.in_bits, self.out_bits = int(self.in_bits), int(self.out_bits)
        if self.indices.shape != self.mask.shape or self.indices.ndim != 2:
            raise ValueError("AdderLayer: indices and mask must be 2-D of the same shape")
        need = self.required_bits(int(self.mask.sum(1).max(initial=0)), self.in_bits, self.in_signed, self.out_signed)
        if self.out_bits < need:
            raise ValueError(
                f"AdderLayer: out_bits={self.out_bits} cannot hold a sum of {self.mask.sum(1).max()} terms; need {need}"
            )

    @staticmethod
    def required_bits(n_terms: int, in_bits: int, in_signed: bool, out_signed: bool) -> int:
        lo, hi = _range_of(in_bits, in_signed)
        lo, hi = lo * n_terms, hi * n_terms
        bits = 1
        while _range_of(bits, out_signed)[0] > lo or _range_of(bits, out_signed)[1] < hi:
            bits += 1
        return bits

    def evaluate(self, prev: np.ndarray) -> np.ndarray:
        # Only the live terms are gathered: (N, n_live) values, summed per neuron by one reduceat over
        # the row-major live positions (integers: exact in any order).
        rows, cols = np.nonzero(self.mask)
        vals = prev[:, self.indices[rows, cols]]
        if self.in_signed and self.in_bits > 0:  # two's complement patterns -> values, in one pass
            half = 1 << (self.in_bits - 1)
            vals = (vals ^ half) - half
        counts = self.mask.sum(1)
        total = np.zeros((prev.shape[0], self.n_out), dtype=np.int64)
        live = np.flatnonzero(counts)
        if live.size:
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[live]
            total[:, live] = np.add.reduceat(vals, starts, axis=1)
        return to_unsigned(total, self.out_bits) if self.out_signed else total

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}indices": self.indices, f"{prefix}mask": self.mask}


Layer = TableLayer | AdderLayer


@dataclasses.dataclass
class TruthTableNetwork:
    """A whole LUT network as plain numpy data, with its exact integer evaluator.

    ``input_bits``/``input_signed`` describe the codes fed to the first layer (``n_inputs`` of them).
    The network's output is the last layer's codes; ``predict`` is the argmax of their signed (or
    unsigned) integer values, ties going to the lowest index, as ``torch.argmax``/``numpy.argmax``.
    ``meta`` carries free-form provenance (family, dataset variant, config, scales) as JSON.
    """

    n_inputs: int
    input_bits: int
    layers: list[Layer]
    input_signed: bool = False
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        width, bits, signed = self.n_inputs, self.input_bits, self.input_signed
        for i, layer in enumerate(self.layers):
            if layer.indices.size and (layer.indices.min() < 0 or layer.indices.max() >= width):
                raise ValueError(f"layer {i}: indices out of range for {width} input signals")
            if layer.in_bits != bits or bool(layer.in_signed) != bool(signed):
                raise ValueError(
                    f"layer {i}: expects {layer.in_bits}-bit {'signed' if layer.in_signed else 'unsigned'}"
                    f" inputs but receives {bits}-bit {'signed' if signed else 'unsigned'} codes"
                )
            width, bits, signed = layer.n_out, layer.out_bits, layer.out_signed

    # ---------------------------------------------------------------- evaluation
    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out if self.layers else self.n_inputs

    @property
    def output_bits(self) -> int:
        return self.layers[-1].out_bits if self.layers else self.input_bits

    @property
    def output_signed(self) -> bool:
        return self.layers[-1].out_signed if self.layers else self.input_signed

    def _check_inputs(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.n_inputs:
            raise ValueError(f"expected input codes of shape (N, {self.n_inputs}), got {codes.shape}")
        codes = codes.astype(np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= 1 << self.input_bits):
            raise ValueError(f"input codes must be unsigned {self.input_bits}-bit patterns")
        return codes

    def evaluate_all(self, codes: np.ndarray) -> list[np.ndarray]:
        """Codes after every layer (index 0 = the inputs)."""
        out = [self._check_inputs(codes)]
        for layer in self.layers:
            out.append(layer.evaluate(out[-1]))
        return out

    def evaluate(self, codes: np.ndarray) -> np.ndarray:
        x = self._check_inputs(codes)
        for layer in self.layers:
            x = layer.evaluate(x)
        return x

    def output_values(self, codes: np.ndarray) -> np.ndarray:
        return self.values_of(self.evaluate(codes))

    def values_of(self, outputs: np.ndarray) -> np.ndarray:
        """Output bit patterns (from ``evaluate``) as the integers they stand for."""
        return to_signed(outputs, self.output_bits) if self.output_signed else outputs

    def predict(self, codes: np.ndarray) -> np.ndarray:
        return self.classes_of(self.evaluate(codes))

    def classes_of(self, outputs: np.ndarray) -> np.ndarray:
        """The predicted class (argmax, ties to the lowest index) of output bit patterns from
        ``evaluate``: lets a caller that already evaluated a split skip a second pass."""
        return np.argmax(self.values_of(outputs), axis=1)

    # ---------------------------------------------------------------- analysis
    def live_neurons(self) -> list[np.ndarray]:
        """Boolean mask per layer of neurons whose output reaches the network outputs."""
        live = [np.zeros(layer.n_out, dtype=bool) for layer in self.layers]
        if not self.layers:
            return live
        live[-1][:] = True
        for i in range(len(self.layers) - 1, 0, -1):
            layer = self.layers[i]
            used = layer.indices[live[i]]
            if isinstance(layer, AdderLayer):
                used = used[layer.mask[live[i]]]
            live[i - 1][np.unique(used)] = True
        return live

    def fingerprint(self) -> str:
        """A stable hash of the network's function and structure (for caches)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.n_inputs, self.input_bits, self.input_signed]).encode())
        for layer in self.layers:
            structure = {k: v for k, v in layer.meta().items() if k != "name"}  # names do not change the function
            h.update(json.dumps(structure, sort_keys=True).encode())
            for key, arr in sorted(layer.to_arrays("").items()):
                h.update(key.encode())
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            arrays.update(layer.to_arrays(f"layer{i}_"))
        header = {
            "format": "lutsearch-ttnet-1",
            "n_inputs": self.n_inputs,
            "input_bits": self.input_bits,
            "input_signed": self.input_signed,
            "layers": [layer.meta() for layer in self.layers],
            "meta": self.meta,
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        # allow_pickle is numpy's default, spelled out so the type checker does not match **arrays against it
        np.savez_compressed(buf, allow_pickle=True, **arrays)
        path.write_bytes(buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> TruthTableNetwork:
        with np.load(Path(path), allow_pickle=False) as npz:
            header = json.loads(bytes(npz["header"]).decode())
            if header.get("format") != "lutsearch-ttnet-1":
                raise ValueError(f"{path}: not a lutsearch truth-table network file")
            layers: list[Layer] = []
            for i, m in enumerate(header["layers"]):
                kw = {k: m[k] for k in ("in_bits", "out_bits", "in_signed", "out_signed", "name")}
                if m["kind"] == "table":
                    layers.append(TableLayer(npz[f"layer{i}_indices"], npz[f"layer{i}_tables"], **kw))
                elif m["kind"] == "adder":
                    layers.append(AdderLayer(npz[f"layer{i}_indices"], npz[f"layer{i}_mask"], **kw))
                else:
                    raise ValueError(f"{path}: unknown layer kind {m['kind']!r}")
        return cls(
            n_inputs=header["n_inputs"],
            input_bits=header["input_bits"],
            input_signed=header["input_signed"],
            layers=layers,
            meta=header["meta"],
        )

    def summary(self) -> list[dict[str, Any]]:
        live = self.live_neurons()
        rows = []
        for i, (layer, lv) in enumerate(zip(self.layers, live)):
            rows.append(
                {
                    "layer": i,
                    "kind": layer.kind,
                    "neurons": layer.n_out,
                    "live": int(lv.sum()),
                    "fan_in": layer.fan_in,
                    "in_bits": layer.in_bits,
                    "out_bits": layer.out_bits,
                }
            )
        return rows
