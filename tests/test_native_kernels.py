"""The fused C++ training kernels (NeuraLUT sub-networks, PolyLUT polynomials): outputs and gradients
against the float64 PyTorch path, when they are used, and the fall-back to PyTorch when they cannot
be built or are switched off."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from lutsearch.models import _native, build_model
from lutsearch.models._native import polynomial as native_polynomial
from lutsearch.models._native import subnet as native_subnet
from lutsearch.models.neuralut import SubNetworkNeurons
from lutsearch.models.polylut import PolynomialNeurons


@pytest.fixture(scope="module")
def library():
    """The built kernels. Where a C++ compiler exists (CI installs g++), a failed build is a failure,
    not a skip."""
    if _native._compiler() is None:
        pytest.skip("no C++ compiler on this machine: training takes the PyTorch path")
    libs = {stem: _native.load_library(stem) for stem in ("subnet", "polynomial")}
    for stem, lib in libs.items():
        assert lib is not None, f"a C++ compiler exists but the native {stem} kernel did not build"
    return libs


def _grad_fn_name(out: torch.Tensor) -> str:
    return type(out.grad_fn).__name__


# (n_out, batch, F, N, L, skip): the published shapes, every depth 1..8, widths 1..64 (one, two and
# four vectors of 16 floats), batches that leave a partial block of samples, an output skip (L even).
SHAPES = [
    (7, 37, 6, 16, 4, True), (5, 19, 3, 8, 3, True), (5, 19, 4, 32, 2, True), (4, 11, 3, 16, 1, False),
    (3, 9, 7, 20, 4, False), (3, 9, 5, 40, 5, True), (3, 5, 2, 64, 8, True), (2, 3, 1, 1, 2, True),
    (6, 130, 6, 16, 6, True), (4, 1, 3, 16, 4, True),
]


def _assert_matches_float64(make, x: torch.Tensor, native_name: str) -> None:
    """The float32 kernel (``make()`` in training mode) against the same parameters in float64 on the
    PyTorch path: outputs, the input gradient (when x requires it) and every parameter gradient."""
    neuron, reference = make().train(), make().double()
    reference.load_state_dict(neuron.state_dict())
    x64 = x.detach().double().requires_grad_(x.requires_grad)
    g = torch.randn(x.shape[0], x.shape[1])
    out = neuron(x)
    assert _grad_fn_name(out) == native_name
    wrt, wrt64 = list(neuron.parameters()), list(reference.parameters())
    if x.requires_grad:
        wrt, wrt64 = [x, *wrt], [x64, *wrt64]
    grads = torch.autograd.grad((out * g).sum(), wrt)
    out64 = reference(x64)
    grads64 = torch.autograd.grad((out64 * g.double()).sum(), wrt64)
    # float32 against float64: agreement to float32 rounding of sums of up to a few hundred terms
    torch.testing.assert_close(out.double(), out64, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, grads64, strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4 * max(1.0, want.abs().max().item()))


@pytest.mark.parametrize("n_out,batch,fan_in,width,depth,skip", SHAPES)
@pytest.mark.parametrize("input_grad", [True, False])
def test_subnet_kernel_matches_float64_reference(library, n_out, batch, fan_in, width, depth, skip, input_grad):
    torch.manual_seed(n_out * 100 + batch)
    x = torch.randn(batch, n_out, fan_in).requires_grad_(input_grad)
    _assert_matches_float64(lambda: SubNetworkNeurons(n_out, fan_in, width, depth, skip), x,
                            "NativeSubNetworksBackward")


# (n_out, batch, F, D): published shapes (JSC-XL F = 2/3, D = 4; JSC-M-Lite F = 4, D = 6), F = 1,
# D = 1, batches that leave a partial vector of 16 samples, batch 1.
POLY_SHAPES = [(7, 37, 3, 4), (5, 19, 2, 4), (4, 16, 6, 2), (3, 5, 1, 1), (6, 130, 4, 3), (2, 1, 3, 1),
               (3, 40, 5, 5), (3, 33, 4, 6)]


@pytest.mark.parametrize("n_out,batch,fan_in,degree", POLY_SHAPES)
@pytest.mark.parametrize("input_grad", [True, False])
def test_polynomial_kernel_matches_float64_reference(library, n_out, batch, fan_in, degree, input_grad):
    torch.manual_seed(n_out * 100 + batch)
    x = (torch.rand(batch, n_out, fan_in) * 2 - 1).requires_grad_(input_grad)
    _assert_matches_float64(lambda: PolynomialNeurons(n_out, fan_in, degree), x, "NativePolynomialBackward")


@pytest.mark.parametrize("make", [lambda: SubNetworkNeurons(48, 4, 16, 4, True), lambda: PolynomialNeurons(48, 4, 3)],
                         ids=["subnet", "polynomial"])
def test_threads_split_neurons_without_changing_results(library, make):
    torch.manual_seed(2)
    neuron = make().train()  # enough work for 3 threads (>= 8k sample-neurons each)
    x = torch.randn(700, 48, 4, requires_grad=True)
    old = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            out = neuron(x)
            results.append([out.detach(), *torch.autograd.grad(out.square().sum(), [x, *neuron.parameters()])])
    finally:
        torch.set_num_threads(old)
    for other in results[1:]:  # each neuron runs whole on one thread: bit-identical
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


@pytest.mark.parametrize("make,native,plain", [
    (lambda: SubNetworkNeurons(4, 3, 8, 4, True), "NativeSubNetworksBackward", "_SubNetworksBackward"),
    (lambda: PolynomialNeurons(4, 3, 3), "NativePolynomialBackward", "_PolynomialBackward"),
], ids=["subnet", "polynomial"])
def test_only_training_steps_take_the_kernel(library, make, native, plain):
    """Evaluation, no-grad passes and float64 (the truth-table contract) keep the PyTorch path."""
    neuron = make()
    x = torch.randn(70, 4, 3)  # at least MIN_BMM_ROWS: no padding on the matmul path
    assert _grad_fn_name(neuron.train()(x)) == native
    assert _grad_fn_name(neuron.eval()(x)) == plain
    with torch.no_grad():
        assert neuron.train()(x).grad_fn is None
    assert _grad_fn_name(neuron.double().train()(x.double())) == plain


def test_subnet_kernel_limits(library):
    x = torch.randn(70, 4, 3)
    assert not native_subnet.supports(SubNetworkNeurons(4, 3, 65, 2, True), x)  # wider than 64
    assert not native_subnet.supports(SubNetworkNeurons(4, 3, 8, 9, True), x)  # deeper than 8


@pytest.mark.parametrize("family,knobs", [("neuralut", dict(hidden_width=16, hidden_depth=4, skip=True)),
                                          ("polylut", dict(degree=3))])
def test_network_gradients_agree_with_pytorch_path(library, monkeypatch, family, knobs):
    """A whole network's training step (gathers, batch-norm, quantizers around the kernel): the same
    loss and parameter gradients as the PyTorch path, to float32 rounding. (Trajectories over many
    steps drift apart once a rounding difference flips a quantized code, as any reordering of sums
    would make them.)"""
    params = dict(widths=[24, 12], input_bits=2, hidden_bits=2, output_bits=2, input_fan_in=4, fan_in=3,
                  output_fan_in=3, **knobs)
    model = build_model(family, params, 20, 5, seed=3).train()
    x, y = torch.rand(64, 20), torch.randint(0, 5, (64,))

    def step():
        loss = F.cross_entropy(model(x), y)
        return loss.item(), torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)

    native_loss, native_grads = step()
    monkeypatch.setenv("LUTSEARCH_NATIVE", "0")
    assert not native_subnet.supports(SubNetworkNeurons(2, 2, 4, 2, True), torch.zeros(1, 2, 2))
    assert not native_polynomial.supports(torch.zeros(1, 2, 2))
    plain_loss, plain_grads = step()
    assert native_loss == pytest.approx(plain_loss, rel=1e-6)
    for got, want in zip(native_grads, plain_grads, strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_failed_build_falls_back_to_pytorch(monkeypatch, tmp_path, caplog):
    broken = tmp_path / "broken-cxx"
    broken.write_text("#!/bin/sh\necho 'broken-cxx: cannot compile' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CXX", str(broken))
    monkeypatch.setenv("LUTSEARCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_native, "_loaded", {})
    with caplog.at_level(logging.WARNING, logger="lutsearch.native"):
        assert _native.load_library("subnet") is None
        assert _native.load_library("polynomial") is None
    assert "could not build the native kernel subnet.cpp" in caplog.text
    assert "could not build the native kernel polynomial.cpp" in caplog.text
    assert "cannot compile" in caplog.text
    x = torch.randn(70, 3, 2)
    assert _grad_fn_name(SubNetworkNeurons(3, 2, 8, 2, True).train()(x)) == "_SubNetworksBackward"
    assert _grad_fn_name(PolynomialNeurons(3, 2, 2).train()(x)) == "_PolynomialBackward"
    assert list((tmp_path / "cache" / "native").iterdir()) == []  # no half-written library left


def test_build_is_cached_per_source_and_compiler(library, monkeypatch, tmp_path):
    monkeypatch.setenv("LUTSEARCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_native, "_loaded", {})
    assert _native.load_library("subnet") is not None
    built = sorted(p.name for p in (tmp_path / "native").iterdir())
    assert len(built) == 1 and built[0].startswith("subnet-") and built[0].endswith(".so")
    monkeypatch.setattr(_native, "_loaded", {})  # a new process: finds the library, does not rebuild
    mtime = (tmp_path / "native" / built[0]).stat().st_mtime_ns
    assert _native.load_library("subnet") is not None
    assert (tmp_path / "native" / built[0]).stat().st_mtime_ns == mtime


def test_unwritable_cache_falls_back_to_pytorch(library, monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("LUTSEARCH_CACHE_DIR", str(blocker))  # cache_dir() lies under a file
    monkeypatch.setattr(_native, "_loaded", {})
    with caplog.at_level(logging.WARNING, logger="lutsearch.native"):
        assert _native.load_library("polynomial") is None
    assert "could not build the native kernel polynomial.cpp" in caplog.text
    assert _grad_fn_name(PolynomialNeurons(3, 2, 2).train()(torch.randn(70, 3, 2))) == "_PolynomialBackward"
