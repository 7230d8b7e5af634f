"""Bit-level analysis of truth tables: constant output bits, input-bit dependence, and constant
propagation through the network (what whole-design synthesis finds across neuron boundaries).

Used by per-neuron synthesis (each neuron's table is restricted to the input bits that are not
constant upstream, so the cached unit is the logic synthesis would really keep) and by the flip-flop
count (registers on constant or unread bits are removed by synthesis). Vectorized over neurons and
table entries; the only per-neuron loop is the ragged restriction of each table.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork

__all__ = [
    "NeuronUnit",
    "address_dependence",
    "constant_bits",
    "propagate_constants",
    "simplify_constants",
    "used_bits",
]


def constant_bits(tables: np.ndarray, out_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, out_bits) masks: which output bits are constant over the whole table, and their values."""
    bits = (np.asarray(tables)[:, :, None] >> np.arange(out_bits)) & 1  # (n, E, B)
    const = (bits == bits[:, :1, :]).all(1)
    return const, bits[:, 0, :].astype(bool)


def address_dependence(tables: np.ndarray, address_bits: int) -> np.ndarray:
    """(n, address_bits): whether the table's value changes with each address bit."""
    tables = np.asarray(tables)
    n = tables.shape[0]
    dep = np.zeros((n, address_bits), dtype=bool)
    for b in range(address_bits):  # loop over address bits (<= ~20), vectorized over neurons/entries
        t = tables.reshape(n, -1, 2, 1 << b)
        dep[:, b] = (t[:, :, 0, :] != t[:, :, 1, :]).any((1, 2))
    return dep


@dataclasses.dataclass
class NeuronUnit:
    layer: int
    neuron: int
    table: np.ndarray  # restricted to the free address bits (entry order of the remaining bits)
    address_bits: int
    out_bits: int


def propagate_constants(network: TruthTableNetwork) -> tuple[list[list[NeuronUnit]], list[np.ndarray]]:
    """Per table layer, the live neurons' tables restricted to non-constant input bits; and per layer
    the (n_out, out_bits) mask of constant output bits. Adder layers get an empty unit list."""
    live = network.live_neurons()
    in_const = np.zeros((network.n_inputs, network.input_bits), dtype=bool)
    in_val = np.zeros_like(in_const)
    units: list[list[NeuronUnit]] = []
    consts: list[np.ndarray] = []
    for i, layer in enumerate(network.layers):
        if isinstance(layer, AdderLayer):
            units.append([])
            in_const = np.zeros((layer.n_out, layer.out_bits), dtype=bool)
            in_val = np.zeros_like(in_const)
            consts.append(in_const)
            continue
        ob, a_bits = layer.out_bits, layer.address_bits
        cmask = in_const[layer.indices].reshape(layer.n_out, a_bits)  # address bit j*ib+b
        cval = in_val[layer.indices].reshape(layer.n_out, a_bits)
        weights = 1 << np.arange(a_bits, dtype=np.int64)
        mask_int = (cmask * weights).sum(1)
        val_int = (cval * cmask * weights).sum(1)
        entries = np.arange(layer.tables.shape[1], dtype=np.int64)
        keep = (entries[None, :] & mask_int[:, None]) == val_int[:, None]  # (n, E) consistent entries
        layer_units, out_const, out_val = [], np.zeros((layer.n_out, ob), bool), np.zeros((layer.n_out, ob), bool)
        for j in np.flatnonzero(live[i]):  # ragged: each neuron keeps 2^(free bits) entries
            t = layer.tables[j, keep[j]]
            free = a_bits - int(cmask[j].sum())
            layer_units.append(NeuronUnit(i, int(j), t, free, ob))
        if layer_units:
            rows = np.flatnonzero(live[i])
            # constant output bits over the consistent entries only
            bits = (layer.tables[rows][:, :, None] >> np.arange(ob)) & 1
            k = keep[rows][:, :, None]
            first = np.take_along_axis(bits, np.argmax(keep[rows], 1)[:, None, None], 1)
            out_const[rows] = ((bits == first) | ~k).all(1)
            out_val[rows] = first[:, 0, :].astype(bool)
        units.append(layer_units)
        consts.append(out_const)
        in_const, in_val = out_const, out_val & out_const
    return units, consts


def used_bits(network: TruthTableNetwork) -> tuple[np.ndarray, list[np.ndarray]]:
    """Which bits survive synthesis: (n_inputs, input_bits) for the inputs and (n_out, out_bits) per
    layer: a bit is kept if it is not constant and some live consumer depends on it (the network's
    outputs are always consumed)."""
    live = network.live_neurons()
    _, consts = propagate_constants(network)
    widths = [(network.n_inputs, network.input_bits)] + [(l.n_out, l.out_bits) for l in network.layers]
    used = [np.zeros(w, dtype=bool) for w in widths]
    used[-1][:] = True
    for i, layer in enumerate(network.layers):
        rows = np.flatnonzero(live[i])
        if isinstance(layer, AdderLayer):
            idx = layer.indices[rows][layer.mask[rows]]
            used[i][np.unique(idx)] = True
            continue
        dep = address_dependence(layer.tables[rows], layer.address_bits).reshape(len(rows), layer.fan_in, layer.in_bits)
        src = np.broadcast_to(layer.indices[rows][:, :, None], dep.shape)
        bit = np.broadcast_to(np.arange(layer.in_bits), dep.shape)
        used[i][src[dep], bit[dep]] = True
    for i in range(1, len(used)):
        used[i] &= ~consts[i - 1]
    return used[0], used[1:]


def simplify_constants(network: TruthTableNetwork) -> TruthTableNetwork:
    """An equivalent network whose tables ignore input bits that are constant upstream.

    Every neuron's table is read at its address with the constant bits forced to their values, which
    changes nothing on reachable inputs but lets synthesis drop those bits, as a tool that propagates
    constants through pipeline registers (Vivado does) would. Vectorized: one gather per layer.
    """
    layers: list[TableLayer | AdderLayer] = []
    in_const = np.zeros((network.n_inputs, network.input_bits), dtype=bool)
    in_val = np.zeros_like(in_const)
    _, consts = propagate_constants(network)
    for i, layer in enumerate(network.layers):
        if isinstance(layer, TableLayer):
            a_bits = layer.address_bits
            cmask = in_const[layer.indices].reshape(layer.n_out, a_bits)
            cval = in_val[layer.indices].reshape(layer.n_out, a_bits)
            weights = 1 << np.arange(a_bits, dtype=np.int64)
            mask_int, val_int = (cmask * weights).sum(1), (cval & cmask).astype(np.int64) @ weights
            entries = np.arange(layer.tables.shape[1], dtype=np.int64)
            idx = (entries[None, :] & ~mask_int[:, None]) | val_int[:, None]
            tables = np.take_along_axis(layer.tables, idx, 1)
            layers.append(dataclasses.replace(layer, tables=tables))
            # value of constant output bits: read from any consistent entry (entry val_int itself)
            first = np.take_along_axis(tables, val_int[:, None], 1)[:, 0]
            out_val = ((first[:, None] >> np.arange(layer.out_bits)) & 1).astype(bool)
        else:
            layers.append(layer)
            out_val = np.zeros((layer.n_out, layer.out_bits), dtype=bool)
        in_const, in_val = consts[i], out_val & consts[i]
    return TruthTableNetwork(network.n_inputs, network.input_bits, layers, network.input_signed, dict(network.meta))
