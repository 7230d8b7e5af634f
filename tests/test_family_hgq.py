"""HGQ-LUT family: edge tables + adders, exact tables, pruning, persistence (tiny nets on digits)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling
from helpers import ExactOpsRecorder

from lutsearch.data import load_dataset
from lutsearch.models import _exact, build_model, family_plan
from lutsearch.models.hgq import EdgeLayer, HGQNetwork, _one_hot
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
        masks = [layer.edge_mask() for layer in model.layers]  # the fraction of edges the bitwidths pruned
        counts[sparsity] = 1.0 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)
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
    params = {
        "widths": [6],
        "dense": False,
        "input_fan_in": 5,
        "output_fan_in": 3,
        "edge_hidden": 0,
        "edge_bits": 2,
        "output_bits": 3,
        "hidden_bits": 1,
        "batch_norm": False,
    }
    model = build_model("hgq", params, data.n_features, data.n_classes, seed=3)
    train_model(model, data, TrainConfig(epochs=1, batch_size=128), seed=0)
    net = model.to_tables()
    assert net.layers[1].fan_in == 5 and net.layers[3].fan_in == 3
    codes = model.input_codes(data.X_test)
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    with pytest.raises(ValueError):
        build_model("hgq", {**params, "edge_bits": 1}, data.n_features, data.n_classes, seed=0)


# ---------------------------------------------------------------------- training on code tables
# The per-sample computation the module did before it trained on tables (its training forward, op
# for op): every sample's every edge through the MLP, Brevitas' quantizer graph (QuantTensor), the
# per-edge step. The table step must give the same edge codes bit for bit and the same gradients.
def reference_edge_codes(layer, x):
    """(B, n_out, F) edge inputs -> edge codes (B, n_out, F) and the edge scale, per sample."""
    if layer.hidden == 0:
        y = x * layer.w1 + layer.b2
    else:
        h = torch.tanh(x[..., None] * layer.w1 + layer.b1)
        y = (h * layer.w2).sum(-1) + layer.b2
    quant = layer.edge_quant
    quant.return_quant_tensor = True
    try:
        qt = quant(y)
    finally:
        quant.return_quant_tensor = False
    code = qt.value / qt.scale
    step = torch.exp2(layer.max_bits - layer.edge_bits())
    u = code / step
    q = code + step * (torch.round(u) - u).detach()
    half = float(1 << (layer.max_bits - 1))
    return torch.clamp(q, -half, half - 1.0), qt.scale


def reference_forward(model, x):
    v = model.input_quant(x)
    for layer in model.layers:
        code, scale = reference_edge_codes(layer, v[:, layer.indices])
        acc = code.sum(-1)
        if layer.is_output:
            return acc * scale
        pre = acc * scale
        v = layer.out_quant(layer.bn(pre) if layer.bn is not None else pre)


def _table_of(layer, n_in, k, xk):
    """The training table (n_out, K, F) of ``layer`` (past the statistics phase), read off bit for bit:
    one-hot rows selecting one (code, input) each make every adder output a single table entry."""
    eye = torch.eye(k * n_in)
    acc, _ = layer._train_sums(torch.zeros(k * n_in, n_in), torch.zeros(k * n_in, n_in), eye, xk)
    wide = acc.detach().t().reshape(layer.n_out, k, n_in)
    return wide.gather(2, layer.indices[:, None, :].expand(-1, k, -1))


def _layer_inputs(n_in, k, batch, seed):
    """Random input codes (B, n_in), their values k * s and the K values."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, k, (batch, n_in), generator=gen)
    scale = torch.tensor(0.37)
    xk = torch.arange(k, dtype=torch.float32) * scale
    return codes, xk[codes], xk


LAYER_CASES = {  # (n_in, n_out, fan_in, hidden, bits, K)
    "dense": (12, 7, 12, 4, 3, 4),
    "sparse": (12, 9, 5, 3, 4, 8),
    "affine": (10, 6, 10, 0, 3, 4),
}


def _make_layer(case, seed):
    n_in, n_out, fan_in, hidden, bits, _ = LAYER_CASES[case]
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    indices = (
        torch.arange(n_in).repeat(n_out, 1)
        if fan_in == n_in
        else torch.argsort(torch.rand(n_out, n_in, generator=gen), 1)[:, :fan_in].sort(1).values
    )
    layer = EdgeLayer(indices, hidden, bits, 2, True)
    with torch.no_grad():  # some pruned edges and some at intermediate bitwidths
        layer.bit_param.copy_(torch.randint(-1, bits + 2, layer.bit_param.shape, generator=gen) / 10.0)
        layer.b2.uniform_(-0.5, 0.5, generator=gen)
    return layer.train()


def _end_stats(module):
    for m in module.modules():
        if isinstance(m, ParameterFromRuntimeStatsScaling):
            m.init_scale()


def _assert_grads_close(new, ref, what):
    """Gradients equal to float32 rounding of their largest terms."""
    assert new is not None and ref is not None, what
    tol = 1e-5 * max(float(ref.abs().max()), 1e-12)
    torch.testing.assert_close(new, ref, rtol=1e-4, atol=tol, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("stats", [False, True], ids=["learned-scale", "statistics-phase"])
@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_table_step_matches_per_sample_module(case, stats):
    """One edge layer's training step on its code table vs the per-sample module: edge codes bit for
    bit, scale bit for bit, adder sums to float32 rounding, every gradient (weights, bitwidths, the
    scale's parameter, the input) to float32 rounding."""
    n_in, n_out, _, _, _, k = LAYER_CASES[case]
    layer = _make_layer(case, seed=5)
    codes, v, xk = _layer_inputs(n_in, k, 256, seed=1)
    if not stats:  # one statistics step (initial scale), then Brevitas' learned-scale phase
        with torch.no_grad():
            reference_edge_codes(layer, v[:, layer.indices])
        _end_stats(layer)
    ref = copy.deepcopy(layer)
    gen = torch.Generator().manual_seed(2)
    weight = torch.randn(256, n_out, generator=gen)

    v_new = v.clone().requires_grad_()
    acc, scale = layer._train_sums(v_new, codes.float(), _one_hot(codes.float(), k, torch.float32), xk)
    (acc * scale * weight).sum().backward()
    v_ref = v.clone().requires_grad_()
    code_ref, scale_ref = reference_edge_codes(ref, v_ref[:, ref.indices])
    (code_ref.sum(-1) * scale_ref * weight).sum().backward()

    assert torch.equal(scale.detach().reshape(()), scale_ref.detach().reshape(()))
    torch.testing.assert_close(acc.detach(), code_ref.sum(-1).detach(), rtol=0, atol=1e-5 * n_in)
    if not stats:  # the table, read off bit for bit, is every sample's edge code
        table = _table_of(copy.deepcopy(ref), n_in, k, xk)
        picked = table.gather(1, codes[:, ref.indices].permute(1, 0, 2))  # (n_out, B, F)
        assert torch.equal(picked.permute(1, 0, 2), code_ref.detach())
    names = ["w1", "b2", "bit_param"] + (["b1", "w2"] if layer.hidden else [])
    for name in names:
        _assert_grads_close(getattr(layer, name).grad, getattr(ref, name).grad, name)
    _assert_grads_close(v_new.grad, v_ref.grad, "input")
    for q_new, q_ref in zip(layer.edge_quant.parameters(), ref.edge_quant.parameters()):
        _assert_grads_close(q_new.grad, q_ref.grad, "scale parameter")


def test_code_values_are_the_quantizers_outputs(data, monkeypatch):
    """Each layer's table is evaluated at K values that are bit for bit what its input quantizer
    outputs (input quantizer, fused hidden quantizers); a network step equals the per-sample module's
    forward to float32 rounding."""
    model = build_model("hgq", {**PARAMS, "widths": [8, 6]}, data.n_features, data.n_classes, seed=4)
    x = torch.from_numpy(data.X_train[:128])
    model.train()
    model(x)
    _end_stats(model)
    seen = []
    original = EdgeLayer._train_sums

    def checked(self, v, codes, onehot, xk):
        assert torch.equal(xk[codes.long()], v.detach())
        assert torch.equal(onehot.view(len(v), len(xk), -1).argmax(1).float(), codes)
        seen.append(self)
        return original(self, v, codes, onehot, xk)

    monkeypatch.setattr(EdgeLayer, "_train_sums", checked)
    logits = model(x)
    assert len(seen) == 3
    monkeypatch.undo()
    with torch.no_grad():
        ref = reference_forward(model, x)
    torch.testing.assert_close(logits.detach(), ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- exact path: deterministic ops only
def test_exact_path_uses_only_deterministic_ops(trained, data, monkeypatch):
    """Evaluation, ``predict_codes`` and ``to_tables`` run no libm transcendental, no BLAS, no fused
    multiply-add kernel and no floating-point reduction: ``torch.tanh`` and ``torch.exp2`` raise, every
    ATen op is recorded, and ``_exact.tanh`` is what computes the edge MLPs."""
    model, _ = trained
    codes = model.input_codes(data.X_test[:300])
    expected_codes, expected_tables = model.predict_codes(codes), model.to_tables().fingerprint()

    def boom(*args, **kwargs):
        raise AssertionError("the exact path called a libm transcendental")

    calls = []
    exact_tanh = _exact.tanh
    monkeypatch.setattr(_exact, "tanh", lambda x: calls.append(x.shape) or exact_tanh(x))
    for name in ("tanh", "exp", "exp2"):
        monkeypatch.setattr(torch, name, boom)
        monkeypatch.setattr(torch.Tensor, name, boom)
    with ExactOpsRecorder() as rec:
        got_codes = model.predict_codes(codes, batch_size=97)
        got_tables = model.to_tables().fingerprint()
        model.eval()
        logits = model(torch.from_numpy(data.X_test[:50]))
    assert not rec.bad, rec.bad
    assert calls  # the edge MLPs went through _exact.tanh
    assert np.array_equal(got_codes, expected_codes) and got_tables == expected_tables
    assert logits.shape == (50, data.n_classes)


def test_exact_path_batch_invariant(trained, data):
    model, _ = trained
    codes = model.input_codes(data.X_test[:257])
    full = model.predict_codes(codes)
    assert np.array_equal(
        np.concatenate([model.predict_codes(codes[i : i + 1]) for i in range(0, 257, 32)]), full[::32]
    )
    assert np.array_equal(model.predict_codes(codes, batch_size=5), full)
