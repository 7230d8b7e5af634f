"""Unit tests of the truth-table network contract (lutsearch/tables/_network.py), on hand-built
networks whose outputs are worked out independently here."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork, to_signed, to_unsigned


def test_signed_unsigned_round_trip():
    bits = 4
    values = np.arange(-8, 8)
    patterns = to_unsigned(values, bits)
    assert patterns.min() == 0 and patterns.max() == 15
    assert np.array_equal(patterns[:8], np.arange(8, 16))  # negatives: two's complement
    assert np.array_equal(to_signed(patterns, bits), values)
    assert np.array_equal(to_signed(np.arange(8), bits), np.arange(8))
    assert np.array_equal(to_signed(np.array([5]), 0), [0]) and np.array_equal(to_unsigned(np.array([5]), 0), [0])


def test_address_convention_input0_in_lsbs():
    # One neuron reading inputs (2, 0) with 2-bit codes; the table is the identity on the address,
    # so the output *is* the address: code[indices[0]] | code[indices[1]] << 2.
    layer = TableLayer(indices=np.array([[2, 0]]), tables=np.arange(16)[None, :], in_bits=2, out_bits=4)
    net = TruthTableNetwork(n_inputs=3, input_bits=2, layers=[layer])
    codes = np.array(list(itertools.product(range(4), repeat=3)))
    expect = codes[:, 2] | (codes[:, 0] << 2)
    assert np.array_equal(net.evaluate(codes)[:, 0], expect)
    assert layer.address_bits == 4 and layer.fan_in == 2


def test_table_values_follow_the_address():
    # XOR of two 1-bit inputs and AND, with the address bits spelled out by hand.
    xor = [0, 1, 1, 0]  # address = a | b << 1
    andt = [0, 0, 0, 1]
    layer = TableLayer(np.array([[0, 1], [0, 1]]), np.array([xor, andt]), in_bits=1, out_bits=1)
    net = TruthTableNetwork(2, 1, [layer])
    codes = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    assert np.array_equal(net.evaluate(codes), np.array([[0, 0], [1, 0], [1, 0], [0, 1]]))


def test_signed_tables_and_argmax():
    # Signed 3-bit outputs: the table stores two's complement patterns; predict uses values.
    vals = np.array([[-4, 3], [2, -1]])  # neuron 0, neuron 1, indexed by 1-bit input
    layer = TableLayer(np.array([[0], [0]]), to_unsigned(vals, 3), in_bits=1, out_bits=3, out_signed=True)
    net = TruthTableNetwork(1, 1, [layer])
    codes = np.array([[0], [1]])
    assert np.array_equal(net.output_values(codes), np.array([[-4, 2], [3, -1]]))
    assert np.array_equal(net.predict(codes), [1, 0])
    # ties go to the lowest index
    tie = TruthTableNetwork(1, 1, [TableLayer(np.array([[0], [0]]), np.array([[1, 1], [1, 1]]), 1, 2)])
    assert np.array_equal(tie.predict(codes), [0, 0])


def test_table_layer_rejects_bad_shapes_and_codes():
    with pytest.raises(ValueError):
        TableLayer(np.zeros((1, 2), dtype=int), np.zeros((1, 8), dtype=int), in_bits=2, out_bits=1)
    with pytest.raises(ValueError):
        TableLayer(np.zeros((1, 1), dtype=int), np.array([[0, 4]]), in_bits=1, out_bits=2)
    with pytest.raises(ValueError):  # a layer that expects signed inputs after unsigned ones
        TruthTableNetwork(1, 1, [TableLayer(np.zeros((1, 1), dtype=int), np.array([[0, 1]]), 1, 1, in_signed=True)])
    with pytest.raises(ValueError):  # index past the previous layer
        TruthTableNetwork(1, 1, [TableLayer(np.array([[1]]), np.array([[0, 1]]), 1, 1)])
    net = TruthTableNetwork(1, 1, [TableLayer(np.array([[0]]), np.array([[0, 1]]), 1, 1)])
    with pytest.raises(ValueError):
        net.evaluate(np.array([[2]]))  # not a 1-bit code


def test_adder_sums_signed_terms_with_mask():
    # Signed 3-bit inputs (as patterns), two sums: a masked one and an unmasked one.
    values = np.array([[-4, 3, -1, 2], [1, 1, -3, 0]])
    adder = AdderLayer(
        indices=np.array([[0, 1, 2], [1, 2, 3]]),
        mask=np.array([[True, False, True], [True, True, True]]),
        in_bits=3,
        out_bits=5,
        in_signed=True,
        out_signed=True,
    )
    out = adder.evaluate(to_unsigned(values, 3))
    expect = np.stack([values[:, 0] + values[:, 2], values[:, 1] + values[:, 2] + values[:, 3]], 1)
    assert np.array_equal(to_signed(out, 5), expect)


def test_adder_unsigned_popcount():
    adder = AdderLayer(
        np.array([[0, 1, 2]]), np.ones((1, 3), bool), in_bits=1, out_bits=2, in_signed=False, out_signed=False
    )
    bits = np.array(list(itertools.product([0, 1], repeat=3)))
    assert np.array_equal(adder.evaluate(bits)[:, 0], bits.sum(1))


def test_adder_width_check():
    # 4 signed 3-bit terms span [-16, 12]: 5 bits signed; 4 bits must be refused.
    assert AdderLayer.required_bits(4, 3, True, True) == 5
    assert AdderLayer.required_bits(3, 1, False, False) == 2
    assert AdderLayer.required_bits(1, 4, True, True) == 4
    with pytest.raises(ValueError):
        AdderLayer(np.zeros((1, 4), int), np.ones((1, 4), bool), in_bits=3, out_bits=4)
    # masked-out terms do not count: 2 live terms of 3 bits fit in 4 bits
    AdderLayer(np.zeros((1, 4), int), np.array([[True, True, False, False]]), in_bits=3, out_bits=4)
    # extreme sums really fit: every term at the minimum and at the maximum
    adder = AdderLayer(np.arange(4)[None], np.ones((1, 4), bool), in_bits=3, out_bits=5)
    lo, hi = to_unsigned(np.full((1, 4), -4), 3), to_unsigned(np.full((1, 4), 3), 3)
    assert to_signed(adder.evaluate(lo), 5)[0, 0] == -16 and to_signed(adder.evaluate(hi), 5)[0, 0] == 12


def _small_network() -> TruthTableNetwork:
    rng = np.random.default_rng(0)
    t0 = TableLayer(
        rng.integers(0, 4, size=(5, 2)),
        rng.integers(0, 8, size=(5, 16)),
        in_bits=2,
        out_bits=3,
        out_signed=True,
        name="t0",
    )
    a1 = AdderLayer(
        np.array([[0, 1, 2], [3, 4, 0]]),
        np.array([[True, True, False], [True, True, True]]),
        in_bits=3,
        out_bits=5,
        name="a1",
    )
    t2 = TableLayer(
        np.array([[0], [1], [0]]),
        rng.integers(0, 4, size=(3, 32)),
        in_bits=5,
        out_bits=2,
        in_signed=True,
        out_signed=True,
        name="t2",
    )
    return TruthTableNetwork(4, 2, [t0, a1, t2], meta={"family": "test", "scales": [0.5]})


def test_save_load_round_trip(tmp_path):
    net = _small_network()
    path = net.save(tmp_path / "net.npz")
    back = TruthTableNetwork.load(path)
    codes = np.random.default_rng(1).integers(0, 4, size=(200, 4))
    assert np.array_equal(back.evaluate(codes), net.evaluate(codes))
    assert back.meta == net.meta
    assert [layer.meta() for layer in back.layers] == [layer.meta() for layer in net.layers]
    assert np.array_equal(back.layers[1].mask, net.layers[1].mask)
    assert back.fingerprint() == net.fingerprint()
    (tmp_path / "bad.npz").write_bytes(b"not a network")
    with pytest.raises(Exception):
        TruthTableNetwork.load(tmp_path / "bad.npz")


def test_evaluate_all_and_layers_compose():
    net = _small_network()
    codes = np.random.default_rng(2).integers(0, 4, size=(50, 4))
    stages = net.evaluate_all(codes)
    assert len(stages) == 4 and np.array_equal(stages[0], codes)
    for layer, before, after in zip(net.layers, stages[:-1], stages[1:]):
        assert np.array_equal(layer.evaluate(before), after)
    assert np.array_equal(stages[-1], net.evaluate(codes))


def test_live_neurons():
    net = _small_network()
    live = net.live_neurons()
    # t2 reads adder outputs 0 and 1; adder 0 uses t0 neurons 0, 1 (2 masked out), adder 1 uses 3, 4, 0
    assert live[2].all()
    assert np.array_equal(live[1], [True, True])
    assert np.array_equal(live[0], [True, True, False, True, True])
    # a neuron no later layer reads is dead
    t0 = TableLayer(np.array([[0], [0], [0]]), np.array([[0, 1]] * 3), 1, 1)
    t1 = TableLayer(np.array([[2]]), np.array([[0, 1]]), 1, 1)
    assert np.array_equal(TruthTableNetwork(1, 1, [t0, t1]).live_neurons()[0], [False, False, True])


def test_fingerprint_tracks_function_and_structure():
    net = _small_network()
    fp = net.fingerprint()
    assert fp == _small_network().fingerprint()  # stable
    changed = _small_network()
    changed.layers[0].tables[0, 0] ^= 1
    assert changed.fingerprint() != fp
    masked = _small_network()
    masked.layers[1].mask[0, 0] = False
    assert masked.fingerprint() != fp
    renamed = _small_network()
    renamed.layers[2].name = "other"
    assert renamed.fingerprint() == fp  # a layer name does not change the function
    assert _small_network().summary()[1]["kind"] == "adder"
