"""SparseLUT connectivity on any family: exactly F live inputs per neuron, no dead neuron, exact tables."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from lutsearch.data import load_dataset
from lutsearch.models import build_model
from lutsearch.models._connectivity import SparseNeuron, sparse_transition_epoch
from lutsearch.train import TrainConfig, train_model

BASE = dict(widths=[32, 16], input_fan_in=3, fan_in=3, output_fan_in=3, connectivity="sparselut",
            sparse_T=2, sparse_candidates=3, sparse_penalty=2e-2)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split_seed=0)


def _check_structure(model, n_inputs):
    """Holds for whichever epoch's weights the trainer restored as best (final or not)."""
    widths = [n_inputs] + [layer.n_out for layer in model.layers]
    for i, layer in enumerate(model.layers):
        assert isinstance(layer.neuron, SparseNeuron)
        idx = layer.indices.numpy()
        assert idx.shape == (layer.n_out, layer.fan_in)
        assert all(len(set(row)) == layer.fan_in for row in idx.tolist())  # F distinct inputs
        assert np.array_equal(idx, layer.neuron.chosen_indices().numpy())
        assert (layer.neuron.slot_scale() != 0).all()  # every kept connection carries signal
        if i > 0:  # every hidden neuron of the previous layer feeds something
            assert np.array_equal(np.unique(idx), np.arange(widths[i]))


def _train(params, digits, epochs=3, family="logicnets", seed=0):
    model = build_model(family, params, 64, 10, seed)
    initial = [l.indices.clone() for l in model.layers]
    result = train_model(model, digits, TrainConfig(epochs=epochs, batch_size=128), seed=seed)
    return model, initial, result


def test_transition_freezes_choice():
    model = build_model("logicnets", BASE, 64, 10, 4)
    model.train()
    for epoch in range(4):
        model.on_epoch_start(epoch, 4)
        assert [l.neuron.is_final for l in model.layers] == [epoch >= 2] * 3
    frozen = [l.indices.clone() for l in model.layers]
    with torch.no_grad():
        for l in model.layers:
            l.neuron.theta.neg_()  # would flip every argmax if the choice were not frozen
    model.on_epoch_start(3, 4)
    assert all(torch.equal(a, l.indices) for a, l in zip(frozen, model.layers))
    _check_structure(model, 64)
    assert not model.layers[0].neuron.sparsifying()


def test_transition_epoch():
    assert sparse_transition_epoch(3, 10) == 3
    assert sparse_transition_epoch(0.5, 10) == 5
    assert sparse_transition_epoch(0.25, 10) == 2  # round(2.5) to even
    assert sparse_transition_epoch(50, 10) == 9  # always leaves a fine-tuning epoch


def test_random_regrowth_exact_and_reload(digits):
    model, initial, _ = _train(BASE, digits)
    _check_structure(model, 64)
    assert any(not torch.equal(a, l.indices) for a, l in zip(initial, model.layers))  # rewired
    codes = model.input_codes(digits.X_test)
    net = model.to_tables()
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    assert [l.fan_in for l in net.layers] == [3, 3, 3]
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    again = build_model("logicnets", BASE, 64, 10, 0)
    again.load_state_dict(torch.load(buf))
    assert np.array_equal(again.predict_codes(codes), model.predict_codes(codes))
    assert again.to_tables().fingerprint() == net.fingerprint()


def test_gradient_regrowth_and_penalty_drop_connections(digits):
    params = dict(BASE, sparse_regrowth="gradient", sparse_penalty=0.5, sparse_noise=1e-3)
    model = build_model("logicnets", params, 64, 10, 1)
    cand0 = [l.neuron.candidates.clone() for l in model.layers]
    train_model(model, digits, TrainConfig(epochs=3, batch_size=128), seed=1)
    _check_structure(model, 64)
    changed = sum(int((l.neuron.candidates != c).sum()) for l, c in zip(model.layers, cand0))
    assert changed > 0  # dropped connections were regrown elsewhere
    for layer in model.layers:  # regrowth never duplicates an input inside a neuron's pool
        pools = layer.neuron.candidates.flatten(1).tolist()
        assert all(len(set(p)) == len(p) for p in pools)
    codes = model.input_codes(digits.X_test)
    assert np.array_equal(model.predict_codes(codes), model.to_tables().evaluate(codes))


def test_sparsification_sees_more_than_f_inputs():
    model = build_model("logicnets", BASE, 64, 10, 2)
    model.train()
    model.on_epoch_start(0, 10)
    layer = model.layers[0]
    assert layer.neuron.sparsifying()
    x = torch.rand(8, 64, requires_grad=True)
    layer.preactivation(x)[:, 0].sum().backward()  # neuron 0 alone
    reached = set(torch.nonzero(x.grad.abs().sum(0)).flatten().tolist())
    pool = set(layer.neuron.candidates[0].flatten().tolist())
    assert reached == pool and len(pool) == layer.fan_in * layer.neuron.K > layer.fan_in
    model.eval()
    assert model(torch.rand(4, 64)).shape == (4, 10)


def test_applies_to_nla_with_learned_grouping(digits):
    params = dict(widths=[24, 12], tree_depth=2, input_fan_in=2, fan_in=2, support_fan_in=3, output_fan_in=2,
                  input_bits=2, hidden_bits=2, support_bits=2, output_bits=3, neuron_width=8, prelude_epochs=1,
                  connectivity="sparselut", sparse_T=1, sparse_candidates=2)
    model, _, _ = _train(params, digits, epochs=2, family="nla")
    _check_structure(model, 64)
    codes = model.input_codes(digits.X_test)
    assert np.array_equal(model.predict_codes(codes), model.to_tables().evaluate(codes))
