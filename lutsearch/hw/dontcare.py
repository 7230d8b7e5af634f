"""Don't-care compression of truth tables (the idea of ReducedLUT: Cassidy, Andronic, Coward and
Constantinides, "ReducedLUT: Table Decomposition with 'Don't Care' Conditions", FPGA 2025; this is our own
implementation, no code of theirs): table entries that the data never reaches (fewer than ``min_count``
rows) are free, so their values are chosen to minimize logic.

Per table layer in order (the data is propagated through the already compressed layers, so with
``min_count > 1`` later layers are counted on the addresses the compressed network really produces),
vectorized over neurons and output bits together: every (neuron, output bit) pair is one Boolean
function of the layer's ``A = F * in_bits`` address bits, known on its *care* entries.

1. **Support reduction.** Each function keeps two masks over its entries, ``has0``/``has1``: does the
   *class* of the entry (the entries that agree with it on the kept address bits) hold a care entry of
   value 0/1. Dropping address bit ``v`` merges every class with its partner across ``v`` (an OR of the
   masks with their halves swapped); it is allowed when no class then holds both values, i.e. when every
   two care entries that differ only in dropped bits agree. Greedy, one bit per round per function: among
   the droppable bits, the one after whose removal the most other bits stay droppable (a one-step
   lookahead; on very wide tables, where that costs too much, the one that determines the fewest new
   entries). Functions whose care values are all equal become constants. (On a trained digits layer of
   8-bit tables the greedy result equalled the exhaustive minimum support of every function.)
2. **Fill.** A function left with at most ``lut_k`` (6) bits fits one LUT whatever its values: classes
   without a care entry take the value most of their neighbours across one kept bit have, repeated (a
   Hamming-nearest fill), else the function's majority care value.
   **Cofactor sharing** (wider functions: the ReducedLUT idea of sub-tables made equal through their
   don't-cares). With the kept bits moved to the low address positions, the table is cut into blocks
   (cofactors) of ``2**k`` entries, for ``k`` from the widest level down to ``lut_k``; per level each block
   joins the first compatible group (the constants 0 and 1 first, then earlier blocks) and takes the
   group's merged care values. Equal blocks become equal sub-trees of the ROM's multiplexer tree (the
   low address bits sit at its leaves), which synthesis maps once. Each ``2**lut_k`` block is then
   completed from its own content (steps 1 and 2 on the block), so blocks made equal stay equal.
   **Fan-in order** (wide layers): which inputs sit in the low address positions decides which cofactors
   exist, so every order of a neuron's fan-in positions is tried (up to 24 orders, else the rotations)
   and each neuron keeps the order whose completed table has the fewest distinct non-constant
   ``2**lut_k``-entry cofactors, summed over its output bits (the indices and the table are permuted
   together: the same function of the same inputs).
3. **Rewiring.** A fan-in position none of whose bits any output bit depends on any more is rewired to
   one the neuron still reads (the table does not change): the upstream neuron may become dead.

Care entries always keep their values, so with ``min_count=1`` the compressed network gives the same
outputs on every row of the data. The output code is the packed bits, so the bits of a neuron are
independent functions. Adder layers have no tables and pass the data through. ``compress_dont_cares``
returns the new network and a ``DontCareReport``; ``address_counts`` gives how often the data reaches
every entry. Numpy only.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from lutsearch.hw.analysis import address_dependence
from lutsearch.tables import TableLayer, TruthTableNetwork

__all__ = ["DontCareReport", "address_counts", "compress_dont_cares", "compress_layer"]

# Rounds of the greedy support reduction use the one-step lookahead up to this many bool operations
# (functions x entries x address bits^2); above it the cheaper "fewest newly determined entries" score.
_LOOKAHEAD_BUDGET = 2e9
# Cofactor sharing: functions wider than LUT_K kept bits share their cofactors over LUT_K bits; the block
# grouping compares a block with at most _MAX_GROUPS groups and runs the levels above LUT_K (top down)
# while their cost (functions x entries x groups) stays within _SHARE_BUDGET.
LUT_K = 6
_MAX_GROUPS = 64
_SHARE_BUDGET = 2e9
# Wide layers: every order of a neuron's fan-in positions is tried up to this many orders (else rotations).
_MAX_ORDERS = 24


@dataclasses.dataclass
class DontCareReport:
    """What ``compress_dont_cares`` did, summed over the table layers (``layers``: one dict per table
    layer). ``rows``: data rows; ``entries``/``care_entries``: table entries, those reached at least
    ``min_count`` times; ``changed_entries``: entries whose code changed; ``support_*``: address bits the
    output bits depend on, summed over (neuron, output bit); ``constant_bits_*``: output bits that are
    constants; ``inputs_dropped``: fan-in positions no output bit reads any more; ``rows_changed``: data
    rows whose network output changed (0 when ``min_count`` is 1)."""

    min_count: int
    rows: int
    entries: int
    care_entries: int
    changed_entries: int
    support_before: int
    support_after: int
    constant_bits_before: int
    constant_bits_after: int
    inputs_dropped: int
    rows_changed: int = 0
    layers: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- counting
def _layer_counts(layer: TableLayer, prev: np.ndarray) -> np.ndarray:
    """(n_out, 2**address_bits) int64: how many rows of ``prev`` reach each entry of each neuron."""
    addr = layer.addresses(prev) + (np.arange(layer.n_out, dtype=np.int64) << layer.address_bits)
    counts = np.bincount(addr.reshape(-1), minlength=layer.n_out << layer.address_bits)
    return counts.reshape(layer.n_out, -1)


def address_counts(network: TruthTableNetwork, codes: np.ndarray) -> list[np.ndarray]:
    """Per table layer (adder layers skipped), (n_out, 2**address_bits): how often the input ``codes``
    (N, n_inputs) reach each table entry when propagated exactly through ``network``."""
    x = network._check_inputs(codes)
    out = []
    for layer in network.layers:
        if isinstance(layer, TableLayer):
            out.append(_layer_counts(layer, x))
        x = layer.evaluate(x)
    return out


# ----------------------------------------------------------------------------- bit functions
def _swap(x: np.ndarray, v: int) -> np.ndarray:
    """Every entry's partner across address bit ``v`` (rows: functions, columns: entries)."""
    n, m = x.shape
    return x.reshape(n, m >> (v + 1), 2, 1 << v)[:, :, ::-1, :].reshape(n, m)


def _droppable(h0: np.ndarray, h1: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """(n, A): kept bits whose removal leaves every class single-valued."""
    ok = np.zeros_like(kept)
    for v in range(kept.shape[1]):
        rows = np.flatnonzero(kept[:, v])
        if rows.size:
            a, b = h0[rows], h1[rows]
            ok[rows, v] = ~((a | _swap(a, v)) & (b | _swap(b, v))).any(1)
    return ok


def _scores(h0: np.ndarray, h1: np.ndarray, kept: np.ndarray, ok: np.ndarray, lookahead: bool) -> np.ndarray:
    """(n, A) preference among droppable bits (higher first): bits still droppable after the drop, or
    minus the entries the drop newly determines; -1 where not droppable."""
    score = np.full(ok.shape, -1.0)
    det = (h0 | h1).sum(1)
    for v in range(ok.shape[1]):
        rows = np.flatnonzero(ok[:, v])
        if not rows.size:
            continue
        a, b = h0[rows], h1[rows]
        a, b = a | _swap(a, v), b | _swap(b, v)
        if lookahead:
            rest = kept[rows].copy()
            rest[:, v] = False
            score[rows, v] = _droppable(a, b, rest).sum(1)
        else:
            score[rows, v] = 1.0 - ((a | b).sum(1) - det[rows]) / h0.shape[1]
    return score


def _reduce_support(h0: np.ndarray, h1: np.ndarray, address_bits: int, kept: np.ndarray | None = None) -> np.ndarray:
    """Greedy support reduction (module docstring, step 1), in place on ``h0``/``h1``; returns the
    (n, A) mask of kept address bits. ``kept``: bits to start from (the function's own support: the
    bits outside it are dropped first, always allowed, so the support never grows)."""
    n, entries = h0.shape
    if kept is None:
        kept = np.ones((n, address_bits), dtype=bool)
    kept = kept.copy()
    for v in range(address_bits):
        rows = np.flatnonzero(~kept[:, v])
        if rows.size:
            h0[rows] |= _swap(h0[rows], v)
            h1[rows] |= _swap(h1[rows], v)
    lookahead = float(n) * entries * address_bits**2 <= _LOOKAHEAD_BUDGET
    for _ in range(address_bits):
        ok = _droppable(h0, h1, kept)
        if not ok.any():
            break
        choice = np.argmax(_scores(h0, h1, kept, ok, lookahead), axis=1)
        moving = ok.any(1)
        for v in range(address_bits):
            rows = np.flatnonzero(moving & (choice == v))
            if rows.size:
                h0[rows] |= _swap(h0[rows], v)
                h1[rows] |= _swap(h1[rows], v)
                kept[rows, v] = False
    return kept


def _fill(h0: np.ndarray, h1: np.ndarray, kept: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The completed functions (module docstring, step 2): bool (n, entries)."""
    for _ in range(kept.shape[1]):
        undet = ~(h0 | h1)
        if not undet.any():
            break
        v0 = np.zeros(h0.shape, dtype=np.int16)
        v1 = np.zeros(h0.shape, dtype=np.int16)
        for v in range(kept.shape[1]):
            rows = np.flatnonzero(kept[:, v])
            if rows.size:
                v0[rows] += _swap(h0[rows], v)
                v1[rows] += _swap(h1[rows], v)
        votes = undet & ((v0 > 0) | (v1 > 0))
        if not votes.any():
            break
        one = (v1 > v0) | ((v1 == v0) & fallback[:, None])
        h1 |= votes & one
        h0 |= votes & ~one
    return h1 | (~(h0 | h1) & fallback[:, None])


# ----------------------------------------------------------------------------- cofactor sharing
def _permutation(kept: np.ndarray) -> np.ndarray:
    """(R, M) gather index: new entry ``e`` of row ``r`` is old entry ``idx[r, e]``, with the kept address
    bits moved to the low positions (in their order) and the dropped ones above them."""
    r, a_bits = kept.shape
    order = np.argsort(~kept, axis=1, kind="stable")  # new address bit p <- old bit order[:, p]
    entries = np.arange(1 << a_bits, dtype=np.int64)
    idx = np.zeros((r, 1 << a_bits), dtype=np.int64)
    for p in range(a_bits):
        idx |= ((entries[None, :] >> p) & 1) << order[:, p : p + 1]
    return idx


def _group_blocks(b0: np.ndarray, b1: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy first-fit grouping of compatible blocks in address order, per row: ``b0``/``b1`` (R, nb, K)
    partial blocks, ``valid`` (R, nb) the blocks that exist (the others are left alone). Groups 0 and 1 are
    the constants 0 and 1 (a block joins one when its care values allow: a constant cofactor costs
    nothing). Returns each block's new masks (R, nb, K): its group's merged masks, or its own when it
    fitted none of the first ``_MAX_GROUPS`` groups."""
    r, nb, k = b0.shape
    cap = min(nb, _MAX_GROUPS) + 2
    g0 = np.zeros((r, cap, k), dtype=bool)
    g1 = np.zeros_like(g0)
    g0[:, 0], g1[:, 1] = True, True
    n_groups = np.full(r, 2)
    assign = np.full((r, nb), -1, dtype=np.int64)
    live = np.arange(cap)[None, :]
    for j in range(int(valid.sum(1).max(initial=0))):
        x0, x1 = b0[:, j] & valid[:, j, None], b1[:, j] & valid[:, j, None]
        compat = ~((g0 & x1[:, None]) | (g1 & x0[:, None])).any(2) & (live < n_groups[:, None])
        has = compat.any(1)
        choice = np.where(has, np.argmax(compat, axis=1), n_groups)
        placed = np.flatnonzero(valid[:, j] & (choice < cap))
        n_groups[placed] += ~has[placed]
        g0[placed, choice[placed]] |= x0[placed]
        g1[placed, choice[placed]] |= x1[placed]
        assign[placed, j] = choice[placed]
    at = np.maximum(assign, 0)[:, :, None]
    own = (assign < 0)[:, :, None]
    return (
        np.where(own, b0, np.take_along_axis(g0, at, 1)),
        np.where(own, b1, np.take_along_axis(g1, at, 1)),
        assign,
    )


def _share_levels(rows: int, entries: int, top: int, lut_k: int) -> list[int]:
    """Block sizes (log2) to group, top down: ``lut_k`` always, the levels above it within the budget."""
    levels = [lut_k]
    budget = _SHARE_BUDGET - rows * entries * (min(entries >> lut_k, _MAX_GROUPS) + 2)
    for k in range(lut_k + 1, top):
        budget -= rows * entries * (min(entries >> k, _MAX_GROUPS) + 2)
        if budget < 0:
            break
        levels.append(k)
    return levels[::-1]


def _share_cofactors(h0: np.ndarray, h1: np.ndarray, kept: np.ndarray, lut_k: int) -> np.ndarray:
    """Complete wide functions (more than ``lut_k`` kept bits) so that their cofactors coincide where the
    care entries allow (module docstring, step 2b). Returns the completed functions, bool (R, M)."""
    r, m = h0.shape
    nk = kept.sum(1)
    idx = _permutation(kept)
    a0, a1 = np.take_along_axis(h0, idx, 1), np.take_along_axis(h1, idx, 1)
    for k in _share_levels(r, m, int(nk.max()), lut_k):
        nb = m >> k
        valid = np.arange(nb)[None, :] < (1 << np.maximum(nk - k, 0))[:, None]
        b0, b1, _ = _group_blocks(a0.reshape(r, nb, -1), a1.reshape(r, nb, -1), valid)
        a0, a1 = b0.reshape(r, m), b1.reshape(r, m)
    # every block of 2**lut_k entries completed from its own content: equal blocks stay equal
    f0, f1 = a0.reshape(-1, 1 << lut_k).copy(), a1.reshape(-1, 1 << lut_k).copy()
    blocks = _fill(f0, f1, _reduce_support(f0, f1, lut_k), f1.sum(1) > f0.sum(1)).reshape(r, m)
    blocks = np.take_along_axis(blocks, np.arange(m)[None, :] & ((1 << nk) - 1)[:, None], 1)  # dropped bits
    out = np.empty_like(blocks)
    np.put_along_axis(out, idx, blocks, 1)
    return out


# ----------------------------------------------------------------------------- one layer
def _layer_bits(tables: np.ndarray, out_bits: int) -> np.ndarray:
    """(n_out * out_bits, entries) bool: row ``i * out_bits + b`` is bit ``b`` of neuron ``i``."""
    bits = (tables[:, None, :] >> np.arange(out_bits, dtype=np.int64)[None, :, None]) & 1
    return bits.reshape(-1, tables.shape[1]).astype(bool)


def _pack(bits: np.ndarray, out_bits: int) -> np.ndarray:
    b = bits.reshape(-1, out_bits, bits.shape[1]).astype(np.int64)
    return (b << np.arange(out_bits, dtype=np.int64)[None, :, None]).sum(1)


def _fallback(bits: np.ndarray, care: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per function, its count-weighted majority value on the care entries (or on all reached entries
    when none is a care entry; 0 when nothing is reached)."""
    w = np.where(care.any(1, keepdims=True), weight * care, weight)
    return (w * bits).sum(1) * 2 > w.sum(1)


def _rewire(layer: TableLayer, support: np.ndarray) -> np.ndarray:
    """Indices with every unread fan-in position pointed at a position the neuron still reads (or at
    its first position when it reads none): the table's values do not change."""
    reads = np.any(support.reshape(layer.n_out, layer.out_bits, layer.fan_in, layer.in_bits), axis=(1, 3))
    first = np.where(np.any(reads, axis=1), np.argmax(reads, axis=1), 0)
    source = np.take_along_axis(layer.indices, first[:, None], 1)
    return np.where(reads, layer.indices, source)


def _compress_tables(
    tables: np.ndarray, care: np.ndarray, counts: np.ndarray, a_bits: int, ob: int, lut_k: int
) -> np.ndarray:
    """Steps 1-2 of the module docstring on one layer's tables (n_out, 2**a_bits): the new tables."""
    bits = _layer_bits(tables, ob)
    care_f = np.repeat(care, ob, axis=0)
    h0, h1 = care_f & ~bits, care_f & bits
    kept = _reduce_support(h0, h1, a_bits, address_dependence(bits, a_bits))
    new_bits = _fill(h0.copy(), h1.copy(), kept, _fallback(bits, care_f, np.repeat(counts, ob, axis=0)))
    wide = np.flatnonzero(kept.sum(1) > lut_k)
    if wide.size:
        new_bits[wide] = _share_cofactors(h0[wide], h1[wide], kept[wide], lut_k)
    return _pack(new_bits, ob)


def _orders(fan_in: int) -> list[tuple[int, ...]]:
    """Fan-in position orders to try: all of them up to _MAX_ORDERS, else the rotations."""
    perms = list(itertools.permutations(range(fan_in)))
    return perms if len(perms) <= _MAX_ORDERS else [tuple(np.roll(np.arange(fan_in), -s)) for s in range(fan_in)]


def _entry_map(layer: TableLayer, order: tuple[int, ...]) -> np.ndarray:
    """Entry ``e`` of the table with fan-in positions reordered (new position p = old ``order[p]``) is
    entry ``map[e]`` of the old table."""
    entries = np.arange(1 << layer.address_bits, dtype=np.int64)
    old = np.zeros_like(entries)
    mask = (1 << layer.in_bits) - 1
    for p, q in enumerate(order):
        old |= ((entries >> (layer.in_bits * p)) & mask) << (layer.in_bits * q)
    return old


def _cofactor_cost(tables: np.ndarray, ob: int, lut_k: int) -> np.ndarray:
    """(n_out,): distinct non-constant blocks of ``2**lut_k`` entries (the LUT-sized cofactors over the
    low address bits), summed over the output bits: the proxy of LUTs that picks a neuron's order."""
    bits = _layer_bits(tables, ob)
    blocks = np.packbits(bits.reshape(len(bits), -1, 1 << lut_k), axis=2, bitorder="little")
    keys = np.zeros(blocks.shape[:2], dtype=np.uint64)
    for i in range(blocks.shape[2]):  # bytes -> one 64-bit key per block (lut_k <= 6)
        keys |= blocks[:, :, i].astype(np.uint64) << np.uint64(8 * i)
    full = np.uint64((1 << (1 << lut_k)) - 1)
    keys = np.sort(np.where((keys == 0) | (keys == full), 0, keys), axis=1)
    distinct = ((np.diff(keys, axis=1) != 0) & (keys[:, 1:] != 0)).sum(1) + (keys[:, 0] != 0)
    return distinct.reshape(-1, ob).sum(1)


def _best_order(
    layer: TableLayer, care: np.ndarray, counts: np.ndarray, lut_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per neuron, the fan-in order whose compressed table has the fewest distinct cofactors (module
    docstring, "fan-in order"). Returns the reordered indices, the new tables in that order and the
    entry maps (n_out, entries) back to the layer's own order."""
    a_bits, ob, n = layer.address_bits, layer.out_bits, layer.n_out
    best_cost = np.full(n, np.iinfo(np.int64).max)
    indices, tables = layer.indices.copy(), np.zeros_like(layer.tables)
    maps = np.zeros(layer.tables.shape, dtype=np.int64)
    for order in _orders(layer.fan_in):
        m = _entry_map(layer, order)
        cand = _compress_tables(layer.tables[:, m], care[:, m], counts[:, m], a_bits, ob, lut_k)
        cost = _cofactor_cost(cand, ob, lut_k)
        won = cost < best_cost  # ties keep the earlier order (the identity first)
        best_cost[won] = cost[won]
        indices[won] = layer.indices[won][:, list(order)]
        tables[won] = cand[won]
        maps[won] = m
    return indices, tables, maps


def compress_layer(
    layer: TableLayer, counts: np.ndarray, min_count: int = 1, lut_k: int = LUT_K
) -> tuple[TableLayer, dict[str, Any]]:
    """Compress one table layer given its entry ``counts`` (n_out, 2**address_bits): entries with fewer
    than ``min_count`` hits are don't-cares. Returns the new layer and its summary."""
    a_bits, ob = layer.address_bits, layer.out_bits
    care = counts >= min_count
    if a_bits > lut_k and lut_k <= 6:
        indices, tables, maps = _best_order(layer, care, counts, lut_k)
        in_order = np.empty_like(tables)
        np.put_along_axis(in_order, maps, tables, 1)  # the new tables in the layer's own order
    else:
        indices, in_order = layer.indices, _compress_tables(layer.tables, care, counts, a_bits, ob, lut_k)
        tables = in_order
    new = dataclasses.replace(layer, indices=indices, tables=tables)
    new.indices = _rewire(new, address_dependence(_layer_bits(tables, ob), a_bits))
    before = address_dependence(_layer_bits(layer.tables, ob), a_bits)
    after = address_dependence(_layer_bits(in_order, ob), a_bits)
    reads_before = before.reshape(layer.n_out, ob, layer.fan_in, layer.in_bits).any(axis=(1, 3))
    reads_after = after.reshape(layer.n_out, ob, layer.fan_in, layer.in_bits).any(axis=(1, 3))
    summary = {
        "name": layer.name,
        "neurons": layer.n_out,
        "address_bits": a_bits,
        "out_bits": ob,
        "entries": int(care.size),
        "care_entries": int(care.sum()),
        "changed_entries": int((in_order != layer.tables).sum()),
        "support_before": int(before.sum()),
        "support_after": int(after.sum()),
        "constant_bits_before": int((~before.any(1)).sum()),
        "constant_bits_after": int((~after.any(1)).sum()),
        "inputs_dropped": int((reads_before & ~reads_after).sum()),
    }
    return new, summary


# ----------------------------------------------------------------------------- the network
def compress_dont_cares(
    network: TruthTableNetwork, codes: np.ndarray, *, min_count: int = 1, lut_k: int = LUT_K
) -> tuple[TruthTableNetwork, DontCareReport]:
    """Don't-care compression of every table layer of ``network`` (see the module docstring).

    ``codes``: input codes (N, n_inputs) of the data whose reached entries must be kept (the training
    split). With ``min_count=1`` the result gives the same output codes as ``network`` on every row of
    ``codes``; with ``min_count=k`` entries reached fewer than ``k`` times are free too. ``lut_k``: the
    LUT size (functions of more kept bits get cofactor sharing).
    """
    if int(min_count) < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    x = network._check_inputs(codes)
    layers: list[Any] = []
    summaries: list[dict[str, Any]] = []
    for i, layer in enumerate(network.layers):
        if isinstance(layer, TableLayer):
            layer, summary = compress_layer(layer, _layer_counts(layer, x), int(min_count), int(lut_k))
            summaries.append({"layer": i, **summary})
        x = layer.evaluate(x)
        layers.append(layer)
    meta = {**network.meta, "dont_cares": {"min_count": int(min_count), "rows": len(x)}}
    out = TruthTableNetwork(network.n_inputs, network.input_bits, layers, network.input_signed, meta)
    keys = [
        "entries",
        "care_entries",
        "changed_entries",
        "support_before",
        "support_after",
        "constant_bits_before",
        "constant_bits_after",
        "inputs_dropped",
    ]
    totals = {k: sum(s[k] for s in summaries) for k in keys}
    rows_changed = int((network.evaluate(codes) != x).any(1).sum()) if len(x) else 0
    report = DontCareReport(int(min_count), len(x), **totals, rows_changed=rows_changed, layers=summaries)
    return out, report
