"""LUTs and LUT depth of an ``AdderLayer`` (HGQ-LUT edge sums, WARP popcounts, ensemble sums) from Yosys
measurements of K-operand sums (default flow): ``adders.csv`` holds, per (terms K, operand bits b,
signed), the LUTs and LUT depth of one output.

Per live output with K live operands (``AdderModel.output``):

* K <= 1: a wire (or a sign extension), no LUT;
* K * b <= 6 (the sum fits one LUT6 per result bit): w LUTs, w = the bits that sum needs, depth 1 (exact
  on such shapes of the 99-shape grid ``GRID``: K = 2..64, b = 1..6, signed and unsigned);
* else the measured shape, bilinear in (log K, log b) between measured ones; outside the measured range
  the nearest measured shape scaled by a power law fitted on the same grid
  (``exp(c0 + c1 ln(K b) + c2 ln K + c3 signed + c4 ln w)``: 10 % mean error on its own).

The LogicNets-style analytic count (``estimate.layer_luts``: (K-1) * w) is off by 48 % on that grid and its
depth (ceil(log2 K) * ceil(w / 2)) by 9 levels on average. A layer costs the sum of its outputs; its depth
is its deepest output's.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from pathlib import Path

import numpy as np

from lutsearch.tables import AdderLayer

__all__ = ["ADDER_DEPTH", "ADDER_LUTS", "GRID", "AdderModel", "adder_costs", "measure"]

DEFAULT_PATH = Path(__file__).with_name("adders.csv")
ADDER_LUTS = (-0.9464, 0.8916, 0.2975, 0.0691, 0.4836)  # c0..c4 (least squares on log LUTs)
ADDER_DEPTH = (-2.338, 1.6633, 1.1013)  # depth ~ d0 + d1 log2 K + d2 log2 b (least squares)
# the measured shapes of adders.csv (K terms, b operand bits, signed): rebuild with ``python -m
# lutsearch.hw.surrogate.adders --out PATH`` (one whole-design Yosys run per shape, cached)
GRID = tuple(
    (k, b, s)
    for k in (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
    for b in (1, 2, 3, 4, 6)
    for s in (False, True)
    if not (s and b == 1)
)


def _power_law(k: float, b: float, signed: bool, w: float) -> tuple[float, float]:
    c, d = ADDER_LUTS, ADDER_DEPTH
    luts = float(np.exp(c[0] + c[1] * np.log(k * b) + c[2] * np.log(k) + c[3] * signed + c[4] * np.log(w)))
    return luts, d[0] + d[1] * np.log2(k) + d[2] * np.log2(b)


@dataclasses.dataclass(frozen=True)
class AdderModel:
    """Measured per-output costs of sums: {(K, b, signed): (LUTs, depth)}."""

    table: dict[tuple[int, int, bool], tuple[float, float]]

    @classmethod
    def load(cls, path: str | Path) -> AdderModel:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return cls(
            {
                (int(r["terms"]), int(r["in_bits"]), bool(int(r["signed"]))): (float(r["luts"]), float(r["depth"]))
                for r in rows
            }
        )

    @classmethod
    def default(cls) -> AdderModel:
        """The shipped measurements (``adders.csv``), read once per process."""
        return _default()

    def _axis(self, signed: bool, axis: int, value: float) -> tuple[int, int]:
        """The measured values bracketing ``value`` on one axis (0: K, 1: b), clamped to the range."""
        have = sorted({key[axis] for key in self.table if key[2] == signed})
        lo = max([v for v in have if v <= value], default=have[0])
        hi = min([v for v in have if v >= value], default=have[-1])
        return lo, hi

    def output(self, k: int, b: int, signed: bool, w: int) -> tuple[float, float]:
        """(LUTs, depth before rounding) of one K-operand sum of b-bit operands into w bits."""
        if k <= 1:
            return 0.0, 0.0
        if k * b <= 6:
            return float(w), 1.0
        (k0, k1), (b0, b1) = self._axis(signed, 0, k), self._axis(signed, 1, b)
        corners = [(kk, bb) for kk in (k0, k1) for bb in (b0, b1)]
        if any((kk, bb, signed) not in self.table for kk, bb in corners):
            return _power_law(k, b, signed, w)
        tk = 0.0 if k1 == k0 else float(np.clip(np.log(k / k0) / np.log(k1 / k0), 0, 1))
        tb = 0.0 if b1 == b0 else float(np.clip(np.log(b / b0) / np.log(b1 / b0), 0, 1))
        weights = [(1 - tk) * (1 - tb), (1 - tk) * tb, tk * (1 - tb), tk * tb]
        vals = np.array([self.table[(kk, bb, signed)] for kk, bb in corners])
        luts, depth = weights @ vals
        kc, bc = min(max(k, k0), k1), min(max(b, b0), b1)  # outside the grid: scale by the power law
        if (kc, bc) != (k, b):
            (p, pd), (q, qd) = _power_law(k, b, signed, w), _power_law(kc, bc, signed, w)
            luts, depth = luts * p / q, depth + pd - qd
        return float(luts), float(depth)

    def layer(self, layer: AdderLayer, live: np.ndarray) -> tuple[float, int]:
        """(LUTs, LUT depth) of the live outputs of an adder layer."""
        terms = layer.mask[np.asarray(live, dtype=bool)].sum(1)
        total, depth = 0.0, 0
        for k, count in zip(*np.unique(terms, return_counts=True)):  # loop over distinct operand counts
            w = min(layer.out_bits, AdderLayer.required_bits(int(k), layer.in_bits, layer.in_signed, layer.out_signed))
            luts, d = self.output(int(k), layer.in_bits, bool(layer.in_signed), w)
            total += luts * int(count)
            depth = max(depth, int(max(np.rint(d), 1)) if k > 1 else 0)
        return total, depth


@functools.lru_cache(maxsize=1)
def _default() -> AdderModel:
    return AdderModel.load(DEFAULT_PATH)


def adder_costs(layer: AdderLayer, live: np.ndarray) -> tuple[float, int]:
    """(LUTs, LUT depth) of an adder layer's live outputs by the shipped ``AdderModel``."""
    return AdderModel.default().layer(layer, live)


def measure(grid=GRID, *, cache_dir=None, jobs: int = 2, tool: str | None = None) -> list[dict[str, float]]:
    """Whole-design Yosys (default flow, pipeline 1) of one K-term sum per grid shape: the rows of adders.csv."""
    from concurrent.futures import ThreadPoolExecutor

    from lutsearch.hw.synth import synthesize
    from lutsearch.tables import TruthTableNetwork

    def one(shape: tuple[int, int, bool]) -> dict[str, float]:
        k, b, signed = shape
        out = AdderLayer.required_bits(k, b, signed, True)
        layer = AdderLayer(np.arange(k)[None, :], np.ones((1, k), bool), b, out, signed, True)
        net = TruthTableNetwork(k, b, [layer], input_signed=signed)
        r = synthesize(net, mode="design", pipeline=1, cache_dir=cache_dir, tool=tool, jobs=1, on_error="raise")
        return {"terms": k, "in_bits": b, "signed": int(signed), "luts": r.luts, "depth": int(r.depth or 0)}

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(one, grid))


def _main() -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m lutsearch.hw.surrogate.adders", description=measure.__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    rows = measure(jobs=args.jobs)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["terms", "in_bits", "signed", "luts", "depth"])
        writer.writeheader()
        writer.writerows({**r, "luts": f"{r['luts']:g}"} for r in rows)
    print(f"wrote {len(rows)} shapes to {args.out}")


if __name__ == "__main__":
    _main()
