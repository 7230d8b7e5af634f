"""NeuraLUT family: shapes, sub-network vs a naive per-neuron MLP, batch invariance, exact tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lutsearch.models import build_model, family_names
from lutsearch.models.neuralut import MIN_BMM_ROWS, SubNetworkNeurons, _SubNetworks
from lutsearch.train import TrainConfig, train_model

PARAMS = dict(
    widths=[32, 16],
    input_bits=1,
    hidden_bits=2,
    output_bits=3,
    input_fan_in=6,
    fan_in=4,
    output_fan_in=4,
    hidden_width=8,
    hidden_depth=4,
    skip=True,
)


@pytest.fixture(scope="module")
def trained(digits):
    model = build_model("neuralut", PARAMS, digits.n_features, digits.n_classes, seed=5)
    train_model(model, digits, TrainConfig(epochs=3, batch_size=32, lr=3e-2), seed=5)
    return model


def test_registered():
    assert "neuralut" in family_names()


def _naive_reference(neuron: SubNetworkNeurons, x: torch.Tensor) -> torch.Tensor:
    """Test-only reference: neuron by neuron, F.linear on slices of the neuron's own parameters (so
    autograd gives reference gradients), in the reference repo's L=4 layout (fc1..fc4; res0 F->N
    added after fc2; res1 N->1 added after fc4)."""
    outs = []
    for i in range(neuron.n_out):
        fc = [lambda h, w=w, b=b: F.linear(h, w[i], b[i]) for w, b in zip(neuron.weights, neuron.biases)]
        res = [lambda h, w=w, b=b: F.linear(h, w[i], b[i]) for w, b in zip(neuron.skip_weights, neuron.skip_biases)]
        h = x[:, i, :]
        r0 = res[0](h)
        h = torch.relu(fc[0](h))
        h = torch.relu(fc[1](h) + r0)
        r1 = res[1](h)
        h = torch.relu(fc[2](h))
        outs.append((fc[3](h) + r1)[:, 0])
    return torch.stack(outs, dim=1)


@pytest.mark.parametrize("width", [8, 3])  # 3: the first sub-layers take the broadcast-sum path
def test_subnetwork_and_gradients_match_naive_reference(width):
    torch.manual_seed(0)
    neuron = SubNetworkNeurons(n_out=6, fan_in=3, width=width, depth=4, skip=True).double()
    x = torch.rand(100, 6, 3, dtype=torch.float64, requires_grad=True)
    g = torch.randn(100, 6, dtype=torch.float64)
    params = list(neuron.parameters())
    fast = neuron(x)
    fast_grads = torch.autograd.grad((fast * g).sum(), [x, *params])
    naive = _naive_reference(neuron, x)
    naive_grads = torch.autograd.grad((naive * g).sum(), [x, *params])
    torch.testing.assert_close(fast, naive, rtol=1e-12, atol=1e-12)
    for a, b in zip(fast_grads, naive_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("depth,skip", [(3, True), (4, False), (1, True), (2, True), (5, True)])
def test_hand_written_backward_passes_gradcheck(depth, skip):
    torch.manual_seed(3)
    neuron = SubNetworkNeurons(n_out=4, fan_in=2, width=5, depth=depth, skip=skip).double()
    x = torch.rand(7, 4, 2, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_() for p in neuron.parameters()]
    # Numerical vs analytic Jacobians w.r.t. the inputs and every parameter.
    assert torch.autograd.gradcheck(lambda x, *p: _SubNetworks.apply(x, neuron, *p), (x, *params))


def test_forward_backward_shapes():
    model = build_model("neuralut", PARAMS, 64, 10, seed=0)
    x = torch.rand(32, 64)
    out = model(x)
    assert out.shape == (32, 10)
    out.sum().backward()
    neuron = model.layers[0].neuron
    assert [tuple(w.shape) for w in neuron.weights] == [(32, 8, 6), (32, 8, 8), (32, 8, 8), (32, 1, 8)]
    assert [tuple(w.shape) for w in neuron.skip_weights] == [(32, 8, 6), (32, 1, 8)]
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "width,depth,skip", [(16, 4, True), (8, 3, True), (3, 2, False), (16, 1, True), (15, 2, False), (5, 3, True)]
)
def test_neuron_is_batch_invariant(width, depth, skip, threads):
    torch.manual_seed(1)
    neuron = SubNetworkNeurons(n_out=20, fan_in=3, width=width, depth=depth, skip=skip).double().eval()
    x = torch.randint(0, 4, (700, 20, 3)).double() * 0.41
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            full = neuron(x)
            for size in (1, 5, MIN_BMM_ROWS - 1, MIN_BMM_ROWS, 257):
                parts = torch.cat([neuron(x[s : s + size]) for s in range(0, len(x), size)])
                assert torch.equal(parts, full), size
            # The table-enumeration layout: one input vector broadcast to every neuron (stride 0).
            v = x[:, 0, :]
            expanded = neuron(v[:, None, :].expand(len(v), 20, 3))
            assert torch.equal(expanded, neuron(v[:, None, :].repeat(1, 20, 1)))
    finally:
        torch.set_num_threads(old)


def test_tables_reproduce_model_exactly(trained, digits):
    codes = trained.input_codes(digits.X_test)
    net = trained.to_tables()
    assert net.meta["family"] == "neuralut"
    np.testing.assert_array_equal(trained.predict_codes(codes), net.evaluate(codes))
    # A batch size that is not a multiple of anything and leaves a tail below MIN_BMM_ROWS.
    np.testing.assert_array_equal(trained.predict_codes(codes, batch_size=101), net.evaluate(codes))
    assert (net.predict(codes) == digits.y_test).mean() > 0.2


def test_state_dict_round_trip(trained, digits, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(trained.state_dict(), path)
    fresh = build_model("neuralut", PARAMS, digits.n_features, digits.n_classes, seed=5)
    fresh.load_state_dict(torch.load(path))
    fresh.eval()
    codes = trained.input_codes(digits.X_test)
    np.testing.assert_array_equal(fresh.predict_codes(codes), trained.predict_codes(codes))
    assert fresh.to_tables().fingerprint() == trained.to_tables().fingerprint()
    with torch.no_grad():
        x = torch.from_numpy(digits.X_test)
        assert torch.equal(fresh(x), trained.eval()(x))


def _expected_neuron_params(f: int, n: int, depth: int, skip: bool) -> int:
    dims = [f] + [n] * (depth - 1) + [1]
    total = sum(dims[i] * dims[i + 1] + dims[i + 1] for i in range(depth))
    if skip:
        total += sum(dims[2 * b] * dims[2 * b + 2] + dims[2 * b + 2] for b in range(depth // 2))
    return total


@pytest.mark.parametrize("width,depth,skip", [(8, 4, True), (16, 4, True), (8, 4, False), (4, 2, True), (8, 5, True)])
def test_knobs_change_parameter_count(width, depth, skip):
    params = {**PARAMS, "hidden_width": width, "hidden_depth": depth, "skip": skip}
    model = build_model("neuralut", params, 64, 10, seed=0)
    got = sum(p.numel() for layer in model.layers for p in layer.neuron.parameters())
    assert got == sum(n * _expected_neuron_params(f, width, depth, skip) for n, f in ((32, 6), (16, 4), (10, 4)))


def test_reference_layout_parameter_count():
    # L=4, N, F: fc1 (F*N+N) + fc2, fc3 (N*N+N) + fc4 (N+1) + res0 (F*N+N) + res1 (N+1).
    f, n = 3, 16
    assert _expected_neuron_params(f, n, 4, True) == 2 * (f * n + n) + 2 * (n * n + n) + 2 * (n + 1)
    neuron = SubNetworkNeurons(n_out=1, fan_in=f, width=n, depth=4, skip=True)
    assert sum(p.numel() for p in neuron.parameters()) == 2 * (f * n + n) + 2 * (n * n + n) + 2 * (n + 1)
