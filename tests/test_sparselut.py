"""SparseLUT connectivity on any family: exactly F live inputs per neuron, no dead neuron, exact tables."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from lutsearch.data import load_dataset
from lutsearch.models import build_model
from lutsearch.models.sparselut import SparseNeuron, sparse_transition_epoch
from lutsearch.train import TrainConfig, train_model

BASE = dict(
    widths=[32, 16],
    input_fan_in=3,
    fan_in=3,
    output_fan_in=3,
    connectivity="sparselut",
    sparse_T=2,
    sparse_candidates=3,
    sparse_penalty=2e-2,
)


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
    params = dict(
        widths=[24, 12],
        tree_depth=2,
        input_fan_in=2,
        fan_in=2,
        support_fan_in=3,
        output_fan_in=2,
        input_bits=2,
        hidden_bits=2,
        support_bits=2,
        output_bits=3,
        neuron_width=8,
        prelude_epochs=1,
        connectivity="sparselut",
        sparse_T=1,
        sparse_candidates=2,
    )
    model, _, _ = _train(params, digits, epochs=2, family="nla")
    _check_structure(model, 64)
    codes = model.input_codes(digits.X_test)
    assert np.array_equal(model.predict_codes(codes), model.to_tables().evaluate(codes))


# ---------------------------------------------------------------------- hand-written training code
from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling
from helpers import ExactOpsRecorder

from lutsearch.models import sparselut as connectivity
from lutsearch.models._base import run_layers
from lutsearch.models.sparselut import _CandidateMix, fold_input_scale

NEURALUT = dict(BASE, hidden_width=8, hidden_depth=4)
POLYLUT = dict(BASE, degree=2)


def _past_statistics(model):
    for module in model.modules():
        if isinstance(module, ParameterFromRuntimeStatsScaling):
            module.init_scale()
    return model


def _initialized(model):
    """Past Brevitas' statistics phase (its learned scales exist), in training mode."""
    model.train()
    with torch.no_grad():
        model(torch.rand(32, 64, generator=torch.Generator().manual_seed(9)))
    return _past_statistics(model)


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("feature_major", [False, True])
def test_candidate_mix_matches_autograd_of_the_gather(feature_major, dense, monkeypatch):
    monkeypatch.setattr(connectivity, "DENSE_MIX_INPUTS_PER_CANDIDATE", 64 if dense else 0)
    gen = torch.Generator().manual_seed(0)
    n_in, n, F, K, batch = 30, 7, 3, 4, 11
    cand = torch.stack([torch.randperm(n_in, generator=gen)[: F * K] for _ in range(n)]).view(n, F, K)
    w = torch.randn(n, F, K, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(batch, n_in, generator=gen, dtype=torch.float64, requires_grad=True)
    xin = x.t() if feature_major else x
    v = _CandidateMix.apply(xin, w, cand, feature_major)  # (n F, B)
    ref = (x[:, cand] * w).sum(-1)  # the previous computation, (B, n, F)
    assert torch.allclose(v.t().reshape(batch, n, F), ref, rtol=0, atol=1e-14)
    grad = torch.randn(batch, n, F, generator=gen, dtype=torch.float64)
    got = torch.autograd.grad(v, (x, w), grad.reshape(batch, n * F).t())
    want = torch.autograd.grad(ref, (x, w), grad)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("family,params", [("logicnets", BASE), ("neuralut", NEURALUT), ("polylut", POLYLUT)])
def test_fused_sparsification_step_equals_the_pytorch_layer(family, params):
    model = _past_statistics(build_model(family, params, 64, 10, 5))
    model.train()
    model.on_epoch_start(0, 10)
    x = torch.rand(40, 64, generator=torch.Generator().manual_seed(1))
    layer = model.layers[0]
    h = model.input_quant(x)
    if layer.fused_constants(h, h.shape[0]) is None:
        pytest.skip("no fused native step for this family here")
    fused = run_layers(model.layers, h)  # fused layer steps on the mixtures
    weight = torch.randn(fused.shape, generator=torch.Generator().manual_seed(2))
    (fused * weight).sum().backward()  # (a plain sum of batch-normalized outputs has no gradient)
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    for l in model.layers:
        l.fused_constants = lambda *a: None
    plain = run_layers(model.layers, h)  # PyTorch gather of the mixture, neuron kernels alone
    (plain * weight).sum().backward()
    assert torch.allclose(fused, plain, rtol=1e-5, atol=1e-5)
    # to float32 rounding of the step (biases in front of a batch-norm get gradients of rounding size)
    scale = max(float(p.grad.abs().max()) for p in model.parameters() if p.grad is not None)
    assert scale > 0
    for a, p in zip(grads, [p for p in model.parameters() if p.grad is not None]):
        assert torch.allclose(a, p.grad, rtol=1e-3, atol=1e-4 * scale)


@pytest.mark.parametrize("family,params", [("logicnets", BASE), ("neuralut", NEURALUT), ("polylut", POLYLUT)])
def test_transition_folds_the_slot_scales_into_the_neurons(family, params):
    model = _initialized(build_model(family, params, 64, 10, 6))
    model.on_epoch_start(0, 4)
    model.on_epoch_start(1, 4)
    with torch.no_grad():  # scales away from 1 (as after sparsification), the choice synced to them
        for l in model.layers:
            l.neuron.theta.mul_(torch.rand(l.neuron.theta.shape, generator=torch.Generator().manual_seed(2)) + 0.5)
            l.neuron._select()
            l.indices.copy_(l.neuron.chosen_indices())
    x = torch.rand(16, 64, generator=torch.Generator().manual_seed(3)).double()
    model.double().eval()
    with torch.no_grad():
        before = model(x)
        model.on_epoch_start(2, 4)  # the transition (sparse_T = 2): select, then fold
        assert all(l.neuron.is_final and l.neuron.folded for l in model.layers)
        assert all(torch.equal(l.neuron.slot_scale(), torch.ones_like(l.neuron.slot_scale())) for l in model.layers)
        _check_structure(model, 64)
        # the same function as before (the transition re-selects the same inputs; only the fold
        # changed the weights): to rounding
        assert torch.allclose(model(x), before, rtol=0, atol=1e-9)
        # the folded state survives a reload
        again = _initialized(build_model(family, params, 64, 10, 0)).double()
        again.load_state_dict(model.state_dict())
        assert all(l.neuron.folded for l in again.layers)
        assert torch.equal(again.eval()(x), model(x))
    # afterwards the layer trains as a plain one: the fused step where the family has a kernel
    model.float().train()
    _past_statistics(model)
    layer = model.layers[0]
    h = model.input_quant(x.float())
    kernel = getattr(layer.neuron.inner, "native_kernel", None)
    if kernel is not None and kernel.supports(layer.neuron.inner, h):
        assert layer.fused_constants(h, h.shape[0]) is not None


def test_fold_leaves_unknown_neurons_alone():
    from lutsearch.models._base import NeuronFunction

    assert fold_input_scale(NeuronFunction(4, 3), torch.ones(4, 3)) is False


@pytest.mark.parametrize("final", [False, True])
def test_exact_path_runs_no_reduction_blas_fma_or_libm(final):
    model = _past_statistics(build_model("neuralut", NEURALUT, 64, 10, 7))
    model.train()
    for epoch in range(3 if final else 1):
        model.on_epoch_start(epoch, 4)
    codes = np.random.default_rng(0).integers(0, 4, (50, 64))
    recorder = ExactOpsRecorder()
    with recorder:
        out = model.predict_codes(codes)
        net = model.to_tables()
    assert not recorder.bad, sorted(recorder.bad)
    assert np.array_equal(out, net.evaluate(codes))


def test_sparselut_wraps_by_composition(digits):
    """The layers stay plain ``LUTLayer``s (no class swap): SparseLUT lives in the neuron wrapper."""
    from lutsearch.models import LUTLayer

    model = build_model("logicnets", BASE, digits.n_features, digits.n_classes, seed=0)
    layers = [m for m in model.modules() if isinstance(m, LUTLayer)]
    assert layers and all(type(m) is LUTLayer for m in layers)
    assert all(isinstance(m.neuron, SparseNeuron) for m in layers)
