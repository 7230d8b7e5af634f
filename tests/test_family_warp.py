"""WARP-LUT family: Walsh-coefficient nodes, exact hard tables, popcount outputs (tiny nets on digits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import hadamard

from lutsearch.data import load_dataset
from lutsearch.models import build_model, family_plan
from lutsearch.models.warp import WARPNetwork, walsh_basis
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork
from lutsearch.train import TrainConfig, train_model

PARAMS = {"widths": [192], "input_fan_in": 4, "fan_in": 4, "output_fan_in": 3, "group_size": 6}


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", split_seed=0)


@pytest.fixture(scope="module")
def trained(data):
    model = build_model("warp", PARAMS, data.n_features, data.n_classes, seed=0)
    result = train_model(model, data, TrainConfig(epochs=6, batch_size=64, lr=2e-2), seed=0)
    return model, result


def test_forward_backward_shapes(data):
    model = build_model("warp", PARAMS, data.n_features, data.n_classes, seed=1)
    assert isinstance(model, WARPNetwork)
    assert [layer.coeffs.shape for layer in model.layers] == [(192, 16), (60, 8)]
    x = torch.from_numpy(data.X_train[:16])
    model.train()
    out = model(x)
    assert out.shape == (16, data.n_classes)
    torch.nn.functional.cross_entropy(out, torch.from_numpy(data.y_train[:16])).backward()
    assert all(layer.coeffs.grad is not None and layer.coeffs.grad.abs().sum() > 0 for layer in model.layers)
    # training is stochastic (Gumbel noise); eval is the deterministic hard network: popcounts / tau
    model.eval()
    hard = model(x) * model.group_tau
    assert torch.equal(hard, model(x) * model.group_tau)
    assert torch.equal(hard, hard.round()) and hard.min() >= 0 and hard.max() <= 6
    plans = family_plan("warp", model.config["params"], data.n_features, data.n_classes)
    assert [(p.n_out, p.fan_in, p.in_bits) for p in plans] == [(64 * 3, 1, 2), (192, 4, 1), (60, 3, 1)]


def test_walsh_basis_order():
    z = torch.tensor([[-1.0, 1.0, 1.0]])
    # subset S = bit pattern: {0}, {1}, {0,1}, {2}, ...
    assert walsh_basis(z).tolist() == [[1, -1, 1, -1, 1, -1, 1, -1]]


def test_tables_exact_on_test_split(trained, data):
    model, result = trained
    codes = model.input_codes(data.X_test)
    net = model.to_tables()
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    assert [type(layer) for layer in net.layers] == [TableLayer, TableLayer, TableLayer, AdderLayer]
    therm = net.layers[0]  # 2-bit codes -> 3 thermometer bits per feature
    assert np.array_equal(therm.tables[:3], [[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]])
    popcount = net.layers[-1]
    assert not popcount.in_signed and not popcount.out_signed and popcount.out_bits == 3
    assert popcount.mask.all() and np.array_equal(popcount.indices, np.arange(60).reshape(10, 6))
    acc = float((net.predict(codes) == data.y_test).mean())
    assert acc > 0.5, acc  # 6 epochs (chance: 0.1)
    assert result.best_val_acc > 0.5


def test_walsh_hadamard_reconstruction_equals_hard_table(trained):
    model, _ = trained
    net = model.to_tables()
    for layer, tl in zip(model.layers, net.layers[1:]):
        k = layer.fan_in
        c = layer.coeffs.detach().double().numpy()  # (n, 2^k)
        parity = (-1.0) ** np.array([bin(s).count("1") for s in range(1 << k)])
        # f(a) = sum_S c_S prod_{j in S} (2 a_j - 1) = sum_S c_S (-1)^|S| H[a, S] (Sylvester order)
        f = (c * parity) @ hadamard(1 << k).T
        sure = np.abs(f) > 1e-9
        assert sure.mean() > 0.99
        assert np.array_equal(tl.tables[sure], (f > 0).astype(np.int64)[sure])
        # and the forward Walsh transform of the +-1 table is proportional to the signs' spectrum
        signs = 2 * tl.tables - 1
        spectrum = signs @ hadamard(1 << k) / (1 << k)
        assert np.allclose((spectrum @ hadamard(1 << k).T), signs)


def test_state_dict_and_tables_round_trip(trained, data, tmp_path):
    model, _ = trained
    torch.save(model.state_dict(), tmp_path / "model.pt")
    net = model.to_tables()
    net.save(tmp_path / "tables.npz")
    again = build_model("warp", model.config["params"], data.n_features, data.n_classes, seed=0)
    again.load_state_dict(torch.load(tmp_path / "model.pt"))
    codes = again.input_codes(data.X_test)
    assert np.array_equal(again.predict_codes(codes), model.predict_codes(codes))
    assert again.to_tables().fingerprint() == net.fingerprint()
    assert np.array_equal(TruthTableNetwork.load(tmp_path / "tables.npz").evaluate(codes), net.evaluate(codes))


def test_binary_inputs_without_thermometer(data):
    params = {"widths": [32], "input_bits": 1, "input_fan_in": 2, "fan_in": 2, "output_fan_in": 2,
              "group_size": 3, "gumbel": False, "residual_init": 0.0}
    model = build_model("warp", params, data.n_features, data.n_classes, seed=2)
    train_model(model, data, TrainConfig(epochs=1, batch_size=128, lr=2e-2), seed=0)
    net = model.to_tables()
    assert net.layers[0].in_bits == 1 and net.layers[0].fan_in == 2 and len(net.layers) == 3
    codes = model.input_codes(data.X_test)
    assert set(np.unique(codes)) <= {0, 1}
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    with pytest.raises(ValueError):
        build_model("warp", {**params, "hidden_bits": 2}, data.n_features, data.n_classes, seed=0)
