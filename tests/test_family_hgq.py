"""HGQ-LUT family: edge tables + adders, exact tables, pruning, persistence (tiny nets on digits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lutsearch.data import load_dataset
from lutsearch.models import build_model, family_plan
from lutsearch.models.hgq import HGQNetwork
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork, to_signed
from lutsearch.train import TrainConfig, train_model

PARAMS = {"widths": [8], "edge_hidden": 4, "edge_bits": 3, "output_bits": 4, "sparsity": 0.5}


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", split_seed=0)


@pytest.fixture(scope="module")
def trained(data):
    model = build_model("hgq", PARAMS, data.n_features, data.n_classes, seed=0)
    result = train_model(model, data, TrainConfig(epochs=3, batch_size=64, lr=1e-2), seed=0)
    return model, result


def test_forward_backward_shapes(data):
    model = build_model("hgq", PARAMS, data.n_features, data.n_classes, seed=1)
    assert isinstance(model, HGQNetwork)
    x = torch.from_numpy(data.X_train[:32])
    out = model(x)
    assert out.shape == (32, data.n_classes)
    loss = torch.nn.functional.cross_entropy(out, torch.from_numpy(data.y_train[:32])) + model.regularization()
    loss.backward()
    first = model.layers[0]
    assert first.w1.grad.shape == (8, data.n_features, 4) and first.w1.grad.abs().sum() > 0
    assert first.bit_param.grad is not None and first.bit_param.grad.abs().sum() > 0
    # plan: one edge table per (neuron, input); hidden edge tables read the 9-bit adder outputs
    plans = family_plan("hgq", {**model.config["params"]}, data.n_features, data.n_classes)
    assert [(p.n_out, p.fan_in, p.in_bits) for p in plans] == [(8 * 64, 1, 2), (10 * 8, 1, 9)]


def test_tables_exact_on_test_split(trained, data):
    model, result = trained
    codes = model.input_codes(data.X_test)
    net = model.to_tables()
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    assert [type(layer) for layer in net.layers] == [TableLayer, AdderLayer, TableLayer, AdderLayer]
    assert all(layer.fan_in == 1 for layer in net.layers if isinstance(layer, TableLayer))
    acc = float((net.predict(codes) == data.y_test).mean())
    assert acc > 0.5, acc  # 3 epochs on digits (chance: 0.1)
    assert result.best_val_acc > 0.5


def test_pruned_edges_have_mask_false_and_adders_fit(trained, data):
    model, _ = trained
    model = build_model("hgq", PARAMS, data.n_features, data.n_classes, seed=0)
    model.load_state_dict(trained[0].state_dict())
    with torch.no_grad():  # prune every edge of neuron 0 and half the edges of the output layer
        model.layers[0].bit_param[0] = 0.0
        model.layers[1].bit_param[:, ::2] = -1.0
    live0 = model.layers[0].edge_mask().numpy()
    assert not live0[0].any() and live0[1:].any()
    net = model.to_tables()
    codes = model.input_codes(data.X_test)
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    edges0, adder0, edges1, adder1 = net.layers
    assert np.array_equal(adder0.mask, live0)
    assert not adder1.mask[:, ::2].any() and adder1.mask[:, 1::2].all()
    # a pruned edge's table is identically 0, and its edge table is dead (no adder reads it)
    dead = ~live0.reshape(-1)
    assert (edges0.tables[dead] == 0).all()
    assert not net.live_neurons()[0][dead].any()
    # adder widths: exactly the required bits of the live terms, and every observed sum fits
    for adder in (adder0, adder1):
        need = AdderLayer.required_bits(int(adder.mask.sum(1).max()), adder.in_bits, True, True)
        assert adder.out_bits == need
    stages = net.evaluate_all(codes)
    for k, adder in ((2, adder0), (4, adder1)):
        prev = to_signed(stages[k - 1], adder.in_bits)
        true_sum = np.where(adder.mask[None], prev[:, adder.indices], 0).sum(-1)
        assert np.array_equal(to_signed(stages[k], adder.out_bits), true_sum)
    # the pruned output layer has 4 live terms of 4 bits: 6 bits, not the 7 of 8 terms
    assert adder1.out_bits == 6


def test_sparsity_prunes_edges(data):
    counts = {}
    for sparsity in (0.0, 20.0):
        model = build_model("hgq", {**PARAMS, "sparsity": sparsity}, data.n_features, data.n_classes, seed=0)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=2e-2)
        X, y = torch.from_numpy(data.X_train[:256]), torch.from_numpy(data.y_train[:256])
        for step in range(30):  # a few full-batch steps: the bitwidth penalty acts fast
            loss = torch.nn.functional.cross_entropy(model(X), y) + model.regularization()
            opt.zero_grad()
            loss.backward()
            opt.step()
        counts[sparsity] = model.pruned_fraction()
        net = model.to_tables()
        codes = model.input_codes(data.X_test)
        assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
        n_masked = sum(int((~layer.mask).sum()) for layer in net.layers if isinstance(layer, AdderLayer))
        n_edges = sum(layer.mask.size for layer in net.layers if isinstance(layer, AdderLayer))
        assert n_masked / n_edges == pytest.approx(counts[sparsity])
    assert counts[0.0] == 0.0
    assert counts[20.0] > 0.05, counts


def test_state_dict_and_tables_round_trip(trained, data, tmp_path):
    model, _ = trained
    torch.save(model.state_dict(), tmp_path / "model.pt")
    net = model.to_tables()
    net.save(tmp_path / "tables.npz")
    again = build_model("hgq", model.config["params"], data.n_features, data.n_classes, seed=0)
    again.load_state_dict(torch.load(tmp_path / "model.pt"))
    codes = again.input_codes(data.X_test)
    assert np.array_equal(again.predict_codes(codes), model.predict_codes(codes))
    assert again.to_tables().fingerprint() == net.fingerprint()
    loaded = TruthTableNetwork.load(tmp_path / "tables.npz")
    assert np.array_equal(loaded.evaluate(codes), net.evaluate(codes))
    assert loaded.meta["family"] == "hgq"


def test_sparse_fan_in_and_affine_edges(data):
    params = {"widths": [6], "dense": False, "input_fan_in": 5, "output_fan_in": 3, "edge_hidden": 0,
              "edge_bits": 2, "output_bits": 3, "hidden_bits": 1, "batch_norm": False}
    model = build_model("hgq", params, data.n_features, data.n_classes, seed=3)
    train_model(model, data, TrainConfig(epochs=1, batch_size=128), seed=0)
    net = model.to_tables()
    assert net.layers[1].fan_in == 5 and net.layers[3].fan_in == 3
    codes = model.input_codes(data.X_test)
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    with pytest.raises(ValueError):
        build_model("hgq", {**params, "edge_bits": 1}, data.n_features, data.n_classes, seed=0)
