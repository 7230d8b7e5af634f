"""PolyLUT family: shapes, vectorized monomials vs a naive reference, exact tables, persistence, knobs."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import torch

from lutsearch.models import build_model, family_names
from lutsearch.models.polylut import PolynomialNeurons, _Polynomial, monomial_structure, n_monomials
from lutsearch.train import TrainConfig, train_model

PARAMS = dict(
    widths=[32, 16], input_bits=1, hidden_bits=2, output_bits=3, input_fan_in=6, fan_in=4, output_fan_in=4, degree=2
)


@pytest.fixture(scope="module")
def trained(digits):
    model = build_model("polylut", PARAMS, digits.n_features, digits.n_classes, seed=3)
    train_model(model, digits, TrainConfig(epochs=3, batch_size=32, lr=3e-2), seed=3)
    return model


def test_registered():
    assert "polylut" in family_names()


def test_monomial_structure_is_every_monomial_once():
    for fan_in, degree in [(1, 3), (2, 4), (3, 2), (4, 6), (6, 4)]:
        parents, variables, exps = monomial_structure(fan_in, degree)
        assert exps.shape == (n_monomials(fan_in, degree), fan_in)
        assert exps.shape[0] == math.comb(fan_in + degree, degree)
        # Naive reference: the exponent vector of every multiset of at most `degree` variables.
        expected = set()
        for d in range(degree + 1):
            for combo in itertools.combinations_with_replacement(range(fan_in), d):
                expected.add(tuple(np.bincount(np.array(combo, dtype=int), minlength=fan_in).tolist()))
        got = [tuple(row) for row in exps.tolist()]
        assert len(set(got)) == len(got) and set(got) == expected
        assert [len(p) for p in parents] == [math.comb(fan_in + d - 1, d) for d in range(1, degree + 1)]


def test_monomials_match_naive_pow_prod():
    torch.manual_seed(0)
    neuron = PolynomialNeurons(n_out=7, fan_in=4, degree=3).double()
    x = torch.rand(11, 7, 4, dtype=torch.float64) * 2 - 1
    fast = neuron.monomials(x)
    # Naive reference (test only): x^e multiplied over the fan-in, monomial by monomial.
    naive = torch.stack([(x ** e.to(x.dtype)).prod(-1) for e in neuron.exponents], dim=-1)
    torch.testing.assert_close(fast, naive, rtol=1e-13, atol=1e-15)
    out = neuron(x)
    naive_out = (naive * neuron.weight).sum(-1) + neuron.bias
    torch.testing.assert_close(out, naive_out, rtol=1e-12, atol=1e-13)


def test_forward_backward_shapes():
    model = build_model("polylut", PARAMS, 64, 10, seed=0)
    x = torch.rand(32, 64, requires_grad=True)
    out = model(x)
    assert out.shape == (32, 10)
    out.sum().backward()
    neuron = model.layers[0].neuron
    assert neuron.weight.grad.shape == (32, n_monomials(6, 2))
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("fan_in,degree", [(3, 4), (6, 4), (2, 1), (4, 6), (2, 4), (3, 2)])
def test_neuron_is_batch_invariant(fan_in, degree, threads):
    """Eval mode (the data path and table enumeration) gives every sample the same bits whatever the
    batch size, its position in the batch or the input's memory layout."""
    torch.manual_seed(1)
    neuron = PolynomialNeurons(n_out=16, fan_in=fan_in, degree=degree).double().eval()
    x = torch.randint(0, 4, (700, 16, fan_in)).double() * 0.37
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            full = neuron(x)
            for size in (1, 7, 63, 64, 129, 500):
                parts = torch.cat([neuron(x[s : s + size]) for s in range(0, len(x), size)])
                assert torch.equal(parts, full), size
            # The table-enumeration layout: one input vector broadcast to every neuron (stride 0).
            v = x[:, 0, :]
            assert torch.equal(neuron(v[:, None, :].expand(len(v), 16, fan_in)), neuron(v[:, None, :].repeat(1, 16, 1)))
    finally:
        torch.set_num_threads(old)


def test_hand_written_backward_matches_naive_autograd():
    torch.manual_seed(4)
    neuron = PolynomialNeurons(n_out=5, fan_in=3, degree=4).double()
    x = (torch.rand(50, 5, 3, dtype=torch.float64) * 0.9 + 0.1).requires_grad_()
    g = torch.randn(50, 5, dtype=torch.float64)
    fast_grads = torch.autograd.grad((neuron(x) * g).sum(), [x, neuron.weight, neuron.bias])
    # Naive reference (test only): pow/prod monomials, autograd through everything.
    naive = ((x.unsqueeze(-2) ** neuron.exponents.double()).prod(-1) * neuron.weight).sum(-1) + neuron.bias
    naive_grads = torch.autograd.grad((naive * g).sum(), [x, neuron.weight, neuron.bias])
    for a, b in zip(fast_grads, naive_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    w = neuron.weight.detach().clone().requires_grad_()
    b = neuron.bias.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w, b: _Polynomial.apply(x, w, b, neuron), (x[:6], w, b))


def test_reused_monomial_buffer_never_corrupts_gradients():
    torch.manual_seed(5)
    neuron = PolynomialNeurons(n_out=8, fan_in=4, degree=3).double()  # 35 monomials: the matmul path
    xs = [torch.rand(96, 8, 4, dtype=torch.float64).requires_grad_() for _ in range(3)]
    gs = [torch.randn(96, 8, dtype=torch.float64) for _ in range(3)]

    def grads(x, g):
        return torch.autograd.grad((neuron(x) * g).sum(), [x, neuron.weight])

    fresh = []
    for x, g in zip(xs, gs):  # each step from an empty holder: fresh buffers
        neuron.spare.tensor = None
        fresh.append(grads(x, g))
    for (x, g), expected in zip(zip(xs, gs), fresh):  # steps reusing the previous step's buffer
        with torch.no_grad():
            neuron(torch.rand(96, 8, 4, dtype=torch.float64))  # a no-grad forward in between
        for a, b in zip(grads(x, g), expected):
            assert torch.equal(a, b)
    assert neuron.spare.tensor is not None
    # A buffer autograd still holds is never handed out: a second forward gets its own ...
    y1 = (neuron(xs[0]) * gs[0]).sum()
    y2 = (neuron(xs[1]) * gs[1]).sum()
    assert torch.equal(torch.autograd.grad(y1, neuron.weight, retain_graph=True)[0], fresh[0][1])
    # ... and reusing one that a retained graph still needs fails loudly (PyTorch's version check).
    neuron(xs[2]).sum()  # takes y1's buffer, handed back by the backward above
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        torch.autograd.grad(y1, neuron.weight)
    assert torch.equal(torch.autograd.grad(y2, neuron.weight)[0], fresh[1][1])
    assert copy.deepcopy(neuron).spare.tensor is None


def test_tables_reproduce_model_exactly(trained, digits):
    codes = trained.input_codes(digits.X_test)
    net = trained.to_tables()
    assert net.meta["family"] == "polylut"
    np.testing.assert_array_equal(trained.predict_codes(codes), net.evaluate(codes))
    acc = (net.predict(codes) == digits.y_test).mean()
    assert acc > 0.2  # learned something in 3 epochs (chance = 0.1)


def test_state_dict_round_trip(trained, digits, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(trained.state_dict(), path)
    fresh = build_model("polylut", PARAMS, digits.n_features, digits.n_classes, seed=3)
    fresh.load_state_dict(torch.load(path))
    fresh.eval()
    codes = trained.input_codes(digits.X_test)
    np.testing.assert_array_equal(fresh.predict_codes(codes), trained.predict_codes(codes))
    a, b = trained.to_tables(), fresh.to_tables()
    assert a.fingerprint() == b.fingerprint()
    with torch.no_grad():
        x = torch.from_numpy(digits.X_test)
        assert torch.equal(fresh(x), trained.eval()(x))


def test_degree_changes_parameter_count():
    def neuron_params(model):
        return sum(p.numel() for layer in model.layers for p in layer.neuron.parameters())

    for degree in (1, 2, 4):
        model = build_model("polylut", {**PARAMS, "degree": degree}, 64, 10, seed=0)
        expected = sum(n * (math.comb(f + degree, degree) + 1) for n, f in ((32, 6), (16, 4), (10, 4)))
        assert neuron_params(model) == expected
    with pytest.raises(ValueError):
        build_model("polylut", {**PARAMS, "degree": 0}, 64, 10, seed=0)


def test_degree_one_is_linear_in_inputs():
    torch.manual_seed(2)
    neuron = PolynomialNeurons(n_out=5, fan_in=3, degree=1).double()
    x = torch.rand(9, 5, 3, dtype=torch.float64)
    expected = (x * neuron.weight[:, 1:]).sum(-1) + neuron.weight[:, 0] + neuron.bias
    torch.testing.assert_close(neuron(x), expected, rtol=1e-12, atol=1e-13)
