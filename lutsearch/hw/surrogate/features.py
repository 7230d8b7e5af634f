"""Features of a neuron unit's restricted truth table that predict its Yosys+ABC LUT count and depth.

Everything is vectorized over the units of one address width (``unit_features`` groups by width); the
only Python loops run over address bits and cofactor levels (<= ~16), never over units or entries.

Two cofactor views carry most of the information:

* the **mux tree** of each output bit: fixing the top ``A-6`` address bits leaves 6-input cofactors (one
  LUT6 each unless constant or a single input), and every further pair of levels is a 4:1 mux (one
  LUT6 per distinct non-constant subfunction). For a random table this reproduces the LogicNets
  formula exactly; trained tables (thresholds of sums) have few distinct or constant cofactors, so the
  count drops the way ABC's LUT count does. Counted per output bit and shared across the unit's
  output bits (ABC shares identical subfunctions), in four variable orders (address bit 0 at the
  bottom, reversed, and the address bits sorted by influence either way), keeping the smallest. On
  3,108 random/structured units the influence order (least influential bits at the bottom) was the
  best single order (per-unit error 27 % vs 33 % / 41 % for the fixed orders; the minimum 22 %).
* the **cofactor profile** of the packed table (distinct subfunctions at every level: a shared
  multi-output BDD's width), whose sum is a BDD-size proxy and whose value at 6 bound variables is the
  Ashenhurst-Curtis column multiplicity of a 6-input bound set (<= 2**k: the bound set folds into k LUTs).

Subfunctions above 6 inputs are compared through a 64-bit hash tree (splitmix64 mixing): collisions are
negligible (about n**2 / 2**64) and only perturb a feature.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lutsearch.hw.estimate import logicnets_lut_cost, lut_depth

if TYPE_CHECKING:
    from lutsearch.hw.surrogate._tables import UnitTable

__all__ = ["FEATURE_NAMES", "table_features", "unit_features"]

FEATURE_NAMES: tuple[str, ...] = (
    # size of the ROM: a random table's cost grows as 2**(A-4), its depth as A/2
    "address_bits",
    # output bits kept: each needs its own logic unless shared
    "out_bits",
    # inputs each output bit really depends on (sum: total logic; max: the deepest cone; mean: shape)
    "support_sum",
    "support_max",
    "support_mean",
    # fraction of ones per output bit: skewed on-sets (saturating thresholds) have small covers
    "onset_mean",
    # mean of min(p, 1-p) over the bits: 0 = nearly constant bits, 0.5 = balanced
    "onset_balance",
    # bits equal to one input: a wire, no LUT
    "wire_bits",
    # bits equal to the complement of one input: one LUT1 each in a unit (a register sits behind it)
    "inverter_bits",
    # distinct output-bit functions needing logic: identical bits share their LUTs
    "distinct_bits",
    # the same up to complement: a complemented copy shares all but its last LUT
    "distinct_bits_nocomp",
    # log2 of the distinct output codes: few values -> an encoder/decoder decomposition
    "log2_values",
    # LogicNets cost of each distinct logic bit at its own support (exact for random tables)
    "formula_luts",
    # mux-tree LUT estimate per output bit, summed (no sharing between bits), best of four orders
    "mux_luts_bits",
    # the same with identical cofactors shared across the unit's bits (what ABC can share)
    "mux_luts_shared",
    # distinct non-trivial 6-input bottom cofactors of all bits together (the first LUT level)
    "cofactors6",
    # the shared estimate in the two fixed orders only (the trees learn how far reordering helps)
    "mux_luts_fixed",
    # log2 of the packed table's cofactor-profile sum: a multi-output BDD-size proxy
    "bdd_log2",
    # log2 column multiplicity of the better 6-input bound set (low or high 6 address bits)
    "mu6_log2",
    # Yosys depth of a random table of the widest output support (docs/hardware.md)
    "depth_random",
    # mux-tree depth of the cofactor structure: 1 + ceil(levels above 6 with non-trivial cofactors / 2)
    "depth_mux",
)

_K1, _K2, _K3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _K2
    x = x ^ (x >> np.uint64(27))
    x = x * _K3
    return x ^ (x >> np.uint64(31))


def _up(h: np.ndarray) -> np.ndarray:
    """Hashes of the subfunctions one level up: pairs along the last axis (the next address bit = 0, 1)."""
    return _mix(h[..., 0::2] * _K1 + _mix(h[..., 1::2] ^ _K3)) | np.uint64(1)


def _distinct(x: np.ndarray) -> np.ndarray:
    """Distinct nonzero values per row of a 2-D uint64 array (0 marks an excluded entry)."""
    if x.shape[1] == 0:
        return np.zeros(x.shape[0], dtype=np.int64)
    s = np.sort(x, axis=1)
    return 1 + (np.diff(s, axis=1) != 0).sum(1) - (s[:, 0] == 0)


def _bit_words(bits: np.ndarray, w: int) -> np.ndarray:
    """(n, B, E) 0/1 -> (n, B, E >> w) uint64 exact truth tables of the bottom ``w``-input cofactors."""
    n, b, e = bits.shape
    packed = np.packbits(bits.reshape(n, b, e >> w, 1 << w), axis=-1, bitorder="little")  # (.., ceil(2^w/8))
    pad = np.zeros((n, b, e >> w, 8), dtype=np.uint8)
    pad[..., : packed.shape[-1]] = packed
    return pad.view("<u8")[..., 0].astype(np.uint64)


@functools.lru_cache(maxsize=16)
def _trivial_words(w: int, whole: bool) -> np.ndarray:
    """Bottom cofactors that need no LUT: constants, single inputs (wires) and, inside a mux tree
    (``whole`` False), their complements (the mux LUT absorbs the inversion)."""
    full = np.uint64((1 << (1 << w)) - 1)
    var = [np.uint64(sum(1 << e for e in range(1 << w) if (e >> k) & 1)) for k in range(w)]
    out = [np.uint64(0), full, *var]
    if not whole:
        out += [v ^ full for v in var]
    return np.array(out, dtype=np.uint64)


def _const_up(const: np.ndarray) -> np.ndarray:
    """The hashes of the constant-0 and constant-1 subfunctions one level up."""
    return _up(np.stack([const, const], axis=1))[:, 0]


def _mux_counts(bits: np.ndarray, logic: np.ndarray, a: int) -> np.ndarray:
    """Mux-tree LUT estimates of (n, B, E) bit tables, per unit, as (4, n): per-bit sum, shared across
    bits, shared distinct bottom cofactors, depth. ``logic``: (n, B) the bits that need logic."""
    n, b, _ = bits.shape
    w = min(a, 6)
    words = _bit_words(bits, w)  # (n, B, M)
    h = _mix(words ^ _K1) | np.uint64(1)  # every subfunction's hash, trivial or not (for the levels above)
    trivial = np.isin(words, _trivial_words(w, whole=a <= 6)) | ~logic[:, :, None]
    hb = np.where(trivial, np.uint64(0), h)
    per_bit = _distinct(hb.reshape(n * b, -1)).reshape(n, b).sum(1)
    bottom = _distinct(hb.reshape(n, -1))
    shared, depth = bottom.copy(), (bottom > 0).astype(np.int64)
    const = _mix(_trivial_words(w, whole=True)[:2] ^ _K1) | np.uint64(1)
    for level in range(w + 1, a + 1):
        h, const = _up(h), _const_up(const)
        if (level - w) % 2 and level != a:
            continue  # a LUT6 takes a 4:1 mux: two levels per LUT, the top one counts
        hl = np.where(np.isin(h, const) | ~logic[:, :, None], np.uint64(0), h)
        nb = _distinct(hl.reshape(n * b, -1)).reshape(n, b).sum(1)
        per_bit, shared = per_bit + nb, shared + _distinct(hl.reshape(n, -1))
        depth = depth + (nb > 0)
    return np.stack([per_bit, shared, bottom, depth]).astype(np.float64)


def _profile(tables: np.ndarray, a: int) -> np.ndarray:
    """(n, a+1) distinct subfunctions of the low ``l`` address bits (the high ones fixed), l = 0..a,
    of packed tables (n, 2**a): the widths of a shared multi-output BDD, bottom variable = bit 0."""
    h = _mix(tables.astype(np.uint64) ^ _K2) | np.uint64(1)
    out = np.empty((tables.shape[0], a + 1), dtype=np.int64)
    for level in range(a + 1):
        out[:, level] = _distinct(h)
        if level < a:
            h = _up(h)
    return out


def _influence(bits: np.ndarray, a: int) -> np.ndarray:
    """(n, B, a): the fraction of addresses where flipping each address bit flips each output bit
    (> 0: the bit is in the output's support)."""
    n, b, _ = bits.shape
    infl = np.zeros((n, b, a))
    for k in range(a):  # loop over address bits, vectorized over units, bits and entries
        v = bits.reshape(n, b, -1, 2, 1 << k)
        infl[:, :, k] = (v[:, :, :, 0, :] != v[:, :, :, 1, :]).mean((2, 3))
    return infl


def _permuted(tables: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Tables (n, E) with address bit k moved to position ``pos[:, k]`` (a permutation per unit)."""
    e = np.arange(tables.shape[1], dtype=np.int64)
    src = np.zeros(tables.shape, dtype=np.int64)
    for k in range(pos.shape[1]):  # loop over address bits, vectorized over units and entries
        src |= ((e[None, :] >> pos[:, k : k + 1]) & 1) << k
    return np.take_along_axis(tables, src, 1)


def _bitrev(a: int) -> np.ndarray:
    """The address permutation that reverses the order of the ``a`` address bits."""
    e = np.arange(1 << a)
    return (((e[:, None] >> np.arange(a)) & 1) << np.arange(a)[::-1]).sum(1)


def _function_hashes(bits: np.ndarray, a: int) -> np.ndarray:
    """(n, B) hashes of the whole output-bit functions of (n, B, 2**a) bit tables."""
    h = _mix(_bit_words(bits, min(6, a)) ^ _K1) | np.uint64(1)
    while h.shape[-1] > 1:
        h = _up(h)
    return h[..., 0]


def _first_of_kind(h: np.ndarray, logic: np.ndarray) -> np.ndarray:
    """(n, B): logic bits whose function no earlier logic bit of the unit has (one per distinct function)."""
    b = h.shape[1]
    earlier = np.tril(np.ones((b, b), dtype=bool), -1)  # [j, k]: k < j
    same = (h[:, :, None] == h[:, None, :]) & earlier[None] & logic[:, None, :]
    return logic & ~same.any(2)


def _bits_of(tables: np.ndarray, bm: int) -> np.ndarray:
    """(n, E) packed codes -> (n, bm, E) 0/1 output bits."""
    return ((tables[:, None, :] >> np.arange(bm)[None, :, None]) & 1).astype(np.uint8)


def _mux_orders(tables: np.ndarray, bits: np.ndarray, logic: np.ndarray, infl: np.ndarray) -> np.ndarray:
    """Mux-tree estimates (``_mux_counts``) in four variable orders: (5, n) = the minima over all
    orders of (per bit, shared, bottom cofactors, depth), then the shared estimate of the two fixed
    orders only (address bit 0 at the bottom, and reversed). Up to 6 address bits the order does not
    matter (one cofactor per bit). The orders are stacked along the unit axis: one pass for all."""
    n, a = tables.shape[0], int(np.log2(tables.shape[1]))
    if a <= 6:
        one = _mux_counts(bits, logic, a)
        return np.vstack([one, one[1:2]])
    rank = np.argsort(np.argsort((infl * logic[:, :, None]).sum(1), 1, kind="stable"), 1)
    # natural, reversed, the least / the most influential address bits at the bottom of the tree
    perms = np.concatenate([tables, tables[:, _bitrev(a)], _permuted(tables, rank), _permuted(tables, a - 1 - rank)])
    counts = _mux_counts(_bits_of(perms, bits.shape[1]), np.tile(logic, (4, 1)), a).reshape(4, 4, n)
    return np.vstack([counts.min(1), counts[1:2, :2].min(1)])


def _group_features(tables: np.ndarray, a: int, out_bits: np.ndarray) -> np.ndarray:
    """FEATURE_NAMES of units with ``a`` address bits: tables (n, 2**a), out_bits (n,)."""
    n, bm = tables.shape[0], int(out_bits.max())
    valid = np.arange(bm)[None, :] < out_bits[:, None]
    bits = _bits_of(tables, bm)  # (n, B, E)
    infl = _influence(bits, a)
    support = (infl > 0).sum(2) * valid
    single = valid & (support == 1)
    inverter = single & (bits[:, :, 0] == 1)  # one input, 1 at address 0: its complement
    logic = valid & (support >= 1) & ~(single & ~inverter)  # bits that need a LUT (not wires, not constants)
    first = _first_of_kind(_function_hashes(bits, a), logic)
    flip = np.where(bits[:, :, :1] == 1, 1 - bits, bits)  # canonical phase (0 at address 0): f ~ not f
    p, nb = bits.mean(2), np.maximum(out_bits, 1)
    mux = _mux_orders(tables, bits, logic, infl)
    prof, prof_rev = np.split(_profile(np.concatenate([tables, tables[:, _bitrev(a)]]), a), 2)
    mu = np.minimum(prof[:, a - 6], prof_rev[:, a - 6]) if a > 6 else np.ones(n, np.int64)
    cols = [
        np.full(n, a),
        out_bits,
        support.sum(1),
        support.max(1),
        support.sum(1) / nb,
        (p * valid).sum(1) / nb,
        (np.minimum(p, 1 - p) * valid).sum(1) / nb,
        (single & ~inverter).sum(1),
        inverter.sum(1),
        first.sum(1),
        _first_of_kind(_function_hashes(flip, a), logic).sum(1),
        np.log2(prof[:, 0]),
        (logicnets_lut_cost(support, 1) * first).sum(1),
        *mux[:3],
        mux[4],
        np.log2(np.minimum(prof.sum(1), prof_rev.sum(1))),
        np.log2(mu),
        np.array([lut_depth(s) for s in range(a + 1)])[support.max(1)],
        mux[3],
    ]
    return np.stack(cols, axis=1).astype(np.float64)


def table_features(tables: np.ndarray, address_bits: int, out_bits: np.ndarray | int) -> np.ndarray:
    """FEATURE_NAMES (n, len(FEATURE_NAMES)) of same-width packed tables (n, 2**address_bits)."""
    tables = np.atleast_2d(np.asarray(tables, dtype=np.int64))
    ob = np.broadcast_to(np.asarray(out_bits, dtype=np.int64), (tables.shape[0],))
    if tables.shape[0] == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    return _group_features(tables, int(address_bits), ob)


def unit_features(units: Sequence[UnitTable]) -> np.ndarray:
    """(len(units), len(FEATURE_NAMES)) float64 features, in the order of ``units``: one vectorized
    pass per address width. Rounded to 4 decimals, so that their text in a calibration file reads back
    to the same numbers (a saved and reloaded calibration predicts identically)."""
    out = np.zeros((len(units), len(FEATURE_NAMES)))
    widths = np.array([u.address_bits for u in units], dtype=np.int64)
    for a in np.unique(widths):
        idx = np.flatnonzero(widths == a)
        group = [units[int(i)] for i in idx]  # gathering the rows is the only per-unit step
        out[idx] = table_features(np.stack([u.table for u in group]), int(a), np.array([u.out_bits for u in group]))
    return np.round(out, 4)
