"""AmigoLUT-style ensembles: concatenated member tables + a summing adder, exact (tiny nets on digits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lutsearch.data import load_dataset
from lutsearch.models import build_model, family_plan
from lutsearch.models.ensemble import EnsembleNetwork
from lutsearch.tables import AdderLayer, TruthTableNetwork
from lutsearch.train import TrainConfig, train_model

LOGICNETS = {"widths": [24], "members": 3, "input_fan_in": 4, "fan_in": 3, "output_fan_in": 4}


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", split_seed=0)


@pytest.fixture(scope="module")
def trained(data):
    model = build_model("ensemble", LOGICNETS, data.n_features, data.n_classes, seed=0)
    result = train_model(model, data, TrainConfig(epochs=3, batch_size=64, lr=1e-2), seed=0)
    return model, result


def _member_values(model: EnsembleNetwork, codes: np.ndarray) -> list[np.ndarray]:
    """Each member's tables evaluated alone, as signed/unsigned integer logits."""
    return [m.to_tables().output_values(codes) for m in model.members]


def test_forward_backward_shapes(data):
    model = build_model("ensemble", LOGICNETS, data.n_features, data.n_classes, seed=1)
    assert isinstance(model, EnsembleNetwork) and len(model.members) == 3
    # one output quantizer shared by every member: their codes have one scale
    assert model.members[0].layers[-1].quant is model.members[2].layers[-1].quant
    # members are distinct networks (own connectivity)
    assert not torch.equal(model.members[0].layers[0].indices, model.members[1].layers[0].indices)
    x = torch.from_numpy(data.X_train[:32])
    out = model(x)
    assert out.shape == (32, data.n_classes)
    torch.nn.functional.cross_entropy(out, torch.from_numpy(data.y_train[:32])).backward()
    assert all(m.layers[0].neuron.weight.grad.abs().sum() > 0 for m in model.members)
    plans = family_plan("ensemble", model.config["params"], data.n_features, data.n_classes)
    assert [(p.n_out, p.fan_in) for p in plans] == [(72, 4), (30, 4)]


def test_tables_exact_and_sum_of_members(trained, data):
    model, result = trained
    codes = model.input_codes(data.X_test)
    net = model.to_tables()
    out = net.evaluate(codes)
    assert np.array_equal(model.predict_codes(codes), out)
    final = net.layers[-1]
    assert isinstance(final, AdderLayer) and final.fan_in == 3 and final.in_signed and final.out_signed
    assert np.array_equal(net.output_values(codes), sum(_member_values(model, codes)))
    # the float model agrees with the integer sum: logits = shared scale x summed codes
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(data.X_test)).numpy()
    scale = float(model.members[0].layers[-1].quant.act_quant.scale())
    assert np.allclose(logits, scale * net.output_values(codes), atol=1e-4)
    assert net.layers[0].n_out == 72 and net.layers[0].indices.max() < data.n_features
    assert net.layers[1].indices[24:48].min() >= 24  # member 1 reads its own hidden neurons
    acc = float((net.predict(codes) == data.y_test).mean())
    assert acc > 0.25 and result.best_val_acc > 0.25, acc  # 3 epochs (chance: 0.1)


def test_state_dict_and_tables_round_trip(trained, data, tmp_path):
    model, _ = trained
    torch.save(model.state_dict(), tmp_path / "model.pt")
    net = model.to_tables()
    net.save(tmp_path / "tables.npz")
    again = build_model("ensemble", model.config["params"], data.n_features, data.n_classes, seed=0)
    again.load_state_dict(torch.load(tmp_path / "model.pt"))
    codes = again.input_codes(data.X_test)
    assert np.array_equal(again.predict_codes(codes), model.predict_codes(codes))
    assert again.to_tables().fingerprint() == net.fingerprint()
    assert np.array_equal(TruthTableNetwork.load(tmp_path / "tables.npz").evaluate(codes), net.evaluate(codes))


def test_hgq_members_with_different_widths(data):
    params = {
        "widths": [6],
        "members": 2,
        "member_family": "hgq",
        "member_params": {"edge_hidden": 2, "edge_bits": 3},
        "output_bits": 3,
    }
    model = build_model("ensemble", params, data.n_features, data.n_classes, seed=0)
    assert model.members[0].layers[-1].edge_quant is model.members[1].layers[-1].edge_quant
    train_model(model, data, TrainConfig(epochs=1, batch_size=128, lr=1e-2), seed=0)
    with torch.no_grad():  # member 0 keeps 8 edges per hidden neuron: narrower adders than member 1
        model.members[0].layers[0].bit_param[:, 8:] = 0.0
    w0, w1 = model.members[0].adder_widths()[0], model.members[1].adder_widths()[0]
    assert w0 < w1
    net = model.to_tables()
    codes = model.input_codes(data.X_test)
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    assert net.layers[1].out_bits == w1 and net.layers[2].in_bits == w1  # member 0's tables widened
    assert np.array_equal(net.output_values(codes), sum(_member_values(model, codes)))


def test_warp_members_unsigned_popcounts(data):
    params = {
        "widths": [48],
        "members": 2,
        "member_family": "warp",
        "input_fan_in": 3,
        "fan_in": 3,
        "output_fan_in": 3,
        "member_params": '{"group_size": 4, "gumbel": false}',
    }
    model = build_model("ensemble", params, data.n_features, data.n_classes, seed=0)
    train_model(model, data, TrainConfig(epochs=1, batch_size=128, lr=2e-2), seed=0)
    net = model.to_tables()
    codes = model.input_codes(data.X_test)
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    assert not net.output_signed and net.layers[-1].out_bits == 4  # 2 popcounts of 3 bits
    assert np.array_equal(net.output_values(codes), sum(_member_values(model, codes)))


def test_rejects_nested_ensembles_and_unknown_member_knobs(data):
    with pytest.raises(ValueError):
        build_model("ensemble", {"widths": [4], "member_family": "ensemble"}, 64, 10, seed=0)
    with pytest.raises(ValueError):
        build_model("ensemble", {"widths": [4], "member_params": {"no_such_knob": 1}}, 64, 10, seed=0)
    # member families' own defaults apply to unset common knobs (WARP: Boolean hidden signals)
    m = build_model("ensemble", {"widths": [8], "members": 2, "member_family": "warp"}, 64, 10, seed=0)
    assert m.members[0].config["params"]["hidden_bits"] == 1 and m.members[0].group_size == 16
    assert m.config["params"]["hidden_bits"] is None
