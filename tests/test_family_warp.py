"""WARP-LUT family: Walsh-coefficient nodes, exact hard tables, popcount outputs (tiny nets on digits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import hadamard

from lutsearch.data import load_dataset
from lutsearch.models import build_model, family_plan
from lutsearch.models._quant import to_codes
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
    params = {
        "widths": [32],
        "input_bits": 1,
        "input_fan_in": 2,
        "fan_in": 2,
        "output_fan_in": 2,
        "group_size": 3,
        "gumbel": False,
        "residual_init": 0.0,
    }
    model = build_model("warp", params, data.n_features, data.n_classes, seed=2)
    train_model(model, data, TrainConfig(epochs=1, batch_size=128, lr=2e-2), seed=0)
    net = model.to_tables()
    assert net.layers[0].in_bits == 1 and net.layers[0].fan_in == 2 and len(net.layers) == 3
    codes = model.input_codes(data.X_test)
    assert set(np.unique(codes)) <= {0, 1}
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    with pytest.raises(ValueError):
        build_model("warp", {**params, "hidden_bits": 2}, data.n_features, data.n_classes, seed=0)


# ---------------------------------------------------------------------- training paths and exactness
from helpers import ExactOpsRecorder

from lutsearch.models._native import native_enabled
from lutsearch.models._native import polynomial as native_polynomial
from lutsearch.models.warp import _WalshLayer, _WalshNative, walsh_groups

NATIVE = native_enabled() and native_polynomial.KERNEL.capable(None, torch.zeros(1))


def _reference_layer(z, coeffs, idx, noise, tau):
    """The previous computation: gathered (B, n, k) inputs, explicit Walsh basis, multiply-sum,
    Gumbel-sigmoid; returned signed (2 q - 1) and feature-major like the hand-written layers."""
    p = (z.t() + 1.0) / 2.0
    f = (walsh_basis(2.0 * p[:, idx] - 1.0) * coeffs).sum(-1)
    if noise is not None:
        f = f + noise.t()
    return (2.0 * torch.sigmoid(f / tau) - 1.0).t()


def _layer_case(k, dtype, seed=0, binary=False):
    gen = torch.Generator().manual_seed(seed)
    n_in, n, batch = 21, 9, 37
    idx = torch.stack([torch.randperm(n_in, generator=gen)[:k] for _ in range(n)])
    coeffs = torch.randn(n, 1 << k, generator=gen, dtype=dtype).requires_grad_()
    if binary:
        z = (torch.rand(n_in, batch, generator=gen) < 0.5).to(dtype) * 2.0 - 1.0
    else:
        z = (torch.rand(n_in, batch, generator=gen, dtype=dtype) * 2.0 - 1.0).requires_grad_()
    noise = torch.randn(n, batch, generator=gen, dtype=dtype)
    grad = torch.randn(n, batch, generator=gen, dtype=dtype)
    return z, coeffs, idx, noise, grad


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_pytorch_layer_matches_autograd_of_the_expansion(k):
    z, coeffs, idx, noise, grad = _layer_case(k, torch.float64)
    for nz in (noise, None):
        out = _WalshLayer.apply(z, coeffs, idx, nz, 0.5 / 0.7, False)
        ref = _reference_layer(z, coeffs, idx, nz, 0.7)
        assert torch.allclose(out, ref, rtol=0, atol=1e-14)
        got = torch.autograd.grad(out, (z, coeffs), grad)
        want = torch.autograd.grad(ref, (z, coeffs), grad)
        for a, b in zip(got, want):
            assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
    # the first layer's 0/1 bits: table reads, coefficient gradients only
    bits, coeffs, idx, noise, grad = _layer_case(k, torch.float64, binary=True)
    out = _WalshLayer.apply((bits + 1.0) / 2.0, coeffs, idx, noise, 0.5, True)
    ref = _reference_layer(bits, coeffs, idx, noise, 1.0)
    assert torch.allclose(out, ref, rtol=0, atol=1e-14)
    assert torch.allclose(
        torch.autograd.grad(out, coeffs, grad)[0], torch.autograd.grad(ref, coeffs, grad)[0], rtol=1e-12, atol=1e-12
    )


def test_walsh_groups_are_the_basis_doubling():
    z = torch.randn(5, 4, dtype=torch.float64)
    mono = torch.ones(5, 16, dtype=torch.float64)
    for par, out, count, j in walsh_groups(4).tolist():
        mono[:, out : out + count] = mono[:, par : par + count] * z[:, j : j + 1]
    assert torch.equal(mono, walsh_basis(z))


@pytest.mark.skipif(not NATIVE, reason="no native PolyLUT kernel (no compiler or LUTSEARCH_NATIVE=0)")
@pytest.mark.parametrize("k", [1, 2, 4, 6, 8])
def test_native_layer_matches_autograd_of_the_expansion(k):
    z, coeffs, idx, noise, grad = _layer_case(k, torch.float32, seed=k)
    out = _WalshNative.apply(z, coeffs, idx, noise * (0.5 / 0.7), 0.5 / 0.7)
    zd, cd = z.detach().double().requires_grad_(), coeffs.detach().double().requires_grad_()
    ref = _reference_layer(zd, cd, idx, noise.double(), 0.7)
    assert torch.allclose(out.double(), ref, rtol=0, atol=1e-5)
    got = torch.autograd.grad(out, (z, coeffs), grad)
    want = torch.autograd.grad(ref, (zd, cd), grad.double())
    for a, b in zip(got, want):
        assert torch.allclose(a.double(), b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


@pytest.mark.parametrize("native", [False, True])
def test_network_training_step_equals_the_previous_computation(data, native):
    if native and not NATIVE:
        pytest.skip("no native PolyLUT kernel")
    params = dict(PARAMS, gumbel=False, input_fan_in=5)
    model = build_model("warp", params, data.n_features, data.n_classes, seed=3)
    if not native:
        for layer in model.layers:
            layer.native_ok = lambda z: False
    model.train()
    x = torch.from_numpy(data.X_train[:50])
    out = model(x)
    with torch.no_grad():
        h = model._bits_in(to_codes(model.input_quant, x), x.dtype)
    coeffs = [layer.coeffs.detach().double().requires_grad_() for layer in model.layers]
    h = h.double()
    for layer, c in zip(model.layers, coeffs):  # the previous training forward, in float64
        h = torch.sigmoid((walsh_basis(2.0 * h[:, layer.indices] - 1.0) * c).sum(-1) / layer.tau)
    ref = h.reshape(h.shape[0], data.n_classes, -1).sum(-1) / model.group_tau
    assert torch.allclose(out.double(), ref, rtol=0, atol=1e-5)
    grad = torch.randn_like(out)
    out.backward(grad)
    ref.backward(grad.double())
    for layer, c in zip(model.layers, coeffs):
        assert torch.allclose(layer.coeffs.grad.double(), c.grad, rtol=1e-4, atol=1e-5 * float(c.grad.abs().max()))


def test_hard_forward_equals_the_exact_expansion_on_data(trained, data):
    model, _ = trained
    with model.exact() as twin:
        x = twin._bits_in(torch.as_tensor(model.input_codes(data.X_test[:200])), torch.float64)
        for layer in twin.layers:
            direct = (layer.logits(x[:, layer.indices]) > 0).to(x.dtype)  # the expansion on the data
            x = layer(x)  # the table reads
            assert torch.equal(x, direct)


def test_exact_path_runs_no_reduction_blas_fma_or_libm(trained, data):
    model, _ = trained
    codes = model.input_codes(data.X_test[:100])
    recorder = ExactOpsRecorder()
    with recorder:
        model.predict_codes(codes)
        model.to_tables()
        model.eval()
        model(torch.from_numpy(data.X_test[:20]))  # validation's forward
    model.train()
    assert not recorder.bad, sorted(recorder.bad)
