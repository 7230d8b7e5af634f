"""The fused C++ training kernels (NeuraLUT sub-networks, PolyLUT polynomials): outputs and gradients
against the float64 PyTorch path, when they are used, and the fall-back to PyTorch when they cannot
be built or are switched off."""

from __future__ import annotations

import copy
import ctypes
import logging
import os
import select
import signal
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lutsearch.models import LUTLayer, _native, _quant, build_model, random_indices
from lutsearch.models._native import layer as native_layer
from lutsearch.models._native import linear as native_linear
from lutsearch.models._native import polynomial as native_polynomial
from lutsearch.models._native import subnet as native_subnet
from lutsearch.models._quant import set_fused_training, training_constants
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


@pytest.fixture(autouse=True)
def _kernels_forced(monkeypatch):
    """These tests check the kernels themselves: the native paths are forced (``fused``), not chosen
    by timing (``auto``, tests/test_native_choice.py), so which path runs never depends on a clock."""
    monkeypatch.setenv("LUTSEARCH_NATIVE", "fused")


def _grad_fn_name(out: torch.Tensor) -> str:
    return type(out.grad_fn).__name__


# (n_out, batch, F, N, L, skip): the published shapes, every depth 1..8, widths 1..64 (one, two and
# four vectors of 16 floats), batches that leave a partial block of samples, an output skip (L even).
SHAPES = [
    (7, 37, 6, 16, 4, True),
    (5, 19, 3, 8, 3, True),
    (5, 19, 4, 32, 2, True),
    (4, 11, 3, 16, 1, False),
    (3, 9, 7, 20, 4, False),
    (3, 9, 5, 40, 5, True),
    (3, 5, 2, 64, 8, True),
    (2, 3, 1, 1, 2, True),
    (6, 130, 6, 16, 6, True),
    (4, 1, 3, 16, 4, True),
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
    _assert_matches_float64(lambda: SubNetworkNeurons(n_out, fan_in, width, depth, skip), x, "_NeuronsBackward")


# (n_out, batch, F, D): published shapes (JSC-XL F = 2/3, D = 4; JSC-M-Lite F = 4, D = 6), F = 1,
# D = 1, batches that leave a partial vector of 16 samples, batch 1.
POLY_SHAPES = [
    (7, 37, 3, 4),
    (5, 19, 2, 4),
    (4, 16, 6, 2),
    (3, 5, 1, 1),
    (6, 130, 4, 3),
    (2, 1, 3, 1),
    (3, 40, 5, 5),
    (3, 33, 4, 6),
]


@pytest.mark.parametrize("n_out,batch,fan_in,degree", POLY_SHAPES)
@pytest.mark.parametrize("input_grad", [True, False])
def test_polynomial_kernel_matches_float64_reference(library, n_out, batch, fan_in, degree, input_grad):
    torch.manual_seed(n_out * 100 + batch)
    x = (torch.rand(batch, n_out, fan_in) * 2 - 1).requires_grad_(input_grad)
    _assert_matches_float64(lambda: PolynomialNeurons(n_out, fan_in, degree), x, "_NeuronsBackward")


@pytest.mark.parametrize(
    "make",
    [lambda: SubNetworkNeurons(48, 4, 16, 4, True), lambda: PolynomialNeurons(48, 4, 3)],
    ids=["subnet", "polynomial"],
)
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


@pytest.mark.parametrize(
    "make,native,plain",
    [
        (lambda: SubNetworkNeurons(4, 3, 8, 4, True), "_NeuronsBackward", "_SubNetworksBackward"),
        (lambda: PolynomialNeurons(4, 3, 3), "_NeuronsBackward", "_PolynomialBackward"),
    ],
    ids=["subnet", "polynomial"],
)
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
    assert not native_subnet.KERNEL.supports(SubNetworkNeurons(4, 3, 65, 2, True), x)  # wider than 64
    assert not native_subnet.KERNEL.supports(SubNetworkNeurons(4, 3, 8, 9, True), x)  # deeper than 8


@pytest.mark.parametrize(
    "family,knobs", [("neuralut", dict(hidden_width=16, hidden_depth=4, skip=True)), ("polylut", dict(degree=3))]
)
def test_network_gradients_agree_with_pytorch_path(library, monkeypatch, family, knobs):
    """A whole network's training step (gathers, batch-norm, quantizers around the kernel): the same
    loss and parameter gradients as the PyTorch path, to float32 rounding. (Trajectories over many
    steps drift apart once a rounding difference flips a quantized code, as any reordering of sums
    would make them.)"""
    params = dict(
        widths=[24, 12], input_bits=2, hidden_bits=2, output_bits=2, input_fan_in=4, fan_in=3, output_fan_in=3, **knobs
    )
    model = build_model(family, params, 20, 5, seed=3).train()
    x, y = torch.rand(64, 20), torch.randint(0, 5, (64,))

    def step():
        loss = F.cross_entropy(model(x), y)
        return loss.item(), torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)

    native_loss, native_grads = step()
    monkeypatch.setenv("LUTSEARCH_NATIVE", "0")
    assert not native_subnet.KERNEL.supports(SubNetworkNeurons(2, 2, 4, 2, True), torch.zeros(1, 2, 2))
    assert not native_polynomial.KERNEL.supports(PolynomialNeurons(2, 2, 2), torch.zeros(1, 2, 2))
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


# ----------------------------------------------------------------------------- fused layer steps
def _neurons(kind: str, n: int, fan_in: int, knob: int):
    return SubNetworkNeurons(n, fan_in, knob, 4, True) if kind == "subnet" else PolynomialNeurons(n, fan_in, knob)


def _trained_layer(monkeypatch, kind, n_in, n, fan_in, knob, norm, out_signed, seed) -> LUTLayer:
    """A LUTLayer whose quantizer is past Brevitas' statistics phase (what the fused step needs)."""
    monkeypatch.setattr(_quant, "STATS_STEPS", 1)
    torch.manual_seed(seed)
    indices = random_indices(n_in, n, fan_in, torch.Generator().manual_seed(seed))
    layer = LUTLayer(
        _neurons(kind, n, fan_in, knob),
        indices,
        in_bits=2,
        in_signed=False,
        out_bits=3,
        out_signed=out_signed,
        batch_norm=norm,
    ).train()
    x = torch.rand(64, n_in)
    for _ in range(4):
        if training_constants(layer.quant) is not None:
            break
        layer(x).sum().backward()
    assert training_constants(layer.quant) is not None
    layer.zero_grad(set_to_none=True)
    return layer


def _clear_of_rounding_edges(layer: LUTLayer, x: torch.Tensor) -> bool:
    """Whether every quantizer input z = relu?(bn(y)) / s of ``layer`` on ``x`` (float64) lies at least
    1e-4 from a rounding edge (k + 1/2) and from 0: float32 and float64 then give the same codes and
    gradient masks, so the two paths can be compared value by value."""
    twin = copy.deepcopy(layer).double()
    scaling, threshold, min_val = training_constants(twin.quant)[:3]
    with torch.no_grad():
        z = twin.preactivation(x.double()) / (scaling.value.abs().clamp_min(min_val) / threshold)
    return bool(((z - z.floor() - 0.5).abs().min() > 1e-4) and (z.abs().min() > 1e-4))


FUSED_CASES = [  # (kind, n_in, n, F, knob, batch, norm, signed): knob = hidden width or degree
    ("subnet", 20, 7, 6, 16, 37, True, False),
    ("subnet", 9, 5, 3, 8, 2, True, True),
    ("subnet", 30, 6, 4, 40, 130, False, False),
    ("polynomial", 20, 7, 3, 4, 37, True, False),
    ("polynomial", 9, 5, 2, 2, 2, True, True),
    ("polynomial", 30, 6, 4, 3, 130, False, True),
]


@pytest.mark.parametrize("kind,n_in,n,fan_in,knob,batch,norm,signed", FUSED_CASES)
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("feature_major", [True, False], ids=["feature-major", "sample-major"])
def test_fused_layer_matches_float64_reference(
    library, monkeypatch, kind, n_in, n, fan_in, knob, batch, norm, signed, input_grad, feature_major
):
    """Gather + neurons + batch-norm + quantizer in one kernel call per direction, against the same
    layer's modules in float64: outputs, every gradient (input, neurons, batch-norm, the learned scale)
    and the batch-norm's running statistics; the input read in either layout."""
    layer = _trained_layer(monkeypatch, kind, n_in, n, fan_in, knob, norm, signed, seed=n * 10 + batch)
    x = torch.rand(batch, n_in)
    for k in range(20):  # move clear of float rounding edges (see _clear_of_rounding_edges)
        if _clear_of_rounding_edges(layer, x):
            break
        x = torch.rand(batch, n_in, generator=torch.Generator().manual_seed(k))
    else:
        pytest.fail("no input clear of rounding edges")
    reference = copy.deepcopy(layer).double()
    x = x.requires_grad_(input_grad)
    x64 = x.detach().double().requires_grad_(input_grad)
    consts = layer.fused_constants(x.t(), batch)
    assert consts is not None and consts.norm == norm
    out_t = layer.fused_forward(x.t(), consts) if feature_major else layer.fused_forward(x, consts, False)
    assert _grad_fn_name(out_t) == "_LayerStepBackward"
    out = out_t.t()
    pre64 = reference.neuron(reference.gather(x64))  # reference(x64), with the neurons' output kept
    out64 = reference.quant(reference.bn(pre64))
    torch.testing.assert_close(out.double(), out64, rtol=0, atol=1e-5)
    g = torch.randn(batch, n)
    wrt, wrt64 = list(layer.parameters()), list(reference.parameters())
    if input_grad:
        wrt, wrt64 = [x, *wrt], [x64, *wrt64]
    grads = torch.autograd.grad((out * g).sum(), wrt)
    grads64 = torch.autograd.grad((out64 * g.double()).sum(), [pre64, *wrt64])
    # A gradient summed over the batch carries float32 rounding of about eps * sum|terms|; through
    # batch-norm the terms d loss / d pre cancel (the neurons' output bias has a zero gradient), so
    # the tolerance includes that sum.
    cancel = 1e-5 * grads64[0].abs().sum(0).max().item()
    names = (["x"] if input_grad else []) + [name for name, _ in layer.named_parameters()]
    for name, got, want in zip(names, grads, grads64[1:], strict=True):
        assert got.shape == want.shape, name
        torch.testing.assert_close(
            got.double(),
            want,
            rtol=1e-4,
            atol=1e-4 * max(1.0, want.abs().max().item()) + cancel,
            msg=lambda m, name=name: f"{name}: {m}",
        )
    for (name, got), want in zip(layer.named_buffers(), reference.buffers()):
        if name.startswith("bn."):  # running statistics and the batch counter
            torch.testing.assert_close(
                got.double(), want.double(), rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}"
            )


@pytest.mark.parametrize("kind", ["subnet", "polynomial"])
def test_fused_layer_is_the_same_for_any_number_of_threads(library, monkeypatch, kind):
    """Neurons split over threads, the input gradient summed per input row in a fixed order: results
    are bit-identical for 1, 2 and 3 threads."""
    layer = _trained_layer(monkeypatch, kind, 40, 48, 4, 16 if kind == "subnet" else 3, True, False, seed=5)
    x = torch.rand(700, 40, requires_grad=True)  # >= 8k sample-neurons per thread for 3 threads
    old, results = torch.get_num_threads(), []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            out = layer.fused_forward(x.t(), layer.fused_constants(x.t(), 700))
            results.append([out.detach(), *torch.autograd.grad(out.square().sum(), [x, *layer.parameters()])])
    finally:
        torch.set_num_threads(old)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


@pytest.mark.parametrize(
    "family,knobs", [("neuralut", dict(hidden_width=16, hidden_depth=4, skip=True)), ("polylut", dict(degree=3))]
)
def test_network_takes_fused_layers_once_quantizers_are_trained(library, monkeypatch, family, knobs):
    """A network's training step runs every layer fused once the quantizers' statistics phase is over
    (loss and gradients as on the PyTorch path, to float32 rounding); evaluation, no-grad passes,
    float64 and quantizers switched to Brevitas' own graph never take it."""
    monkeypatch.setattr(_quant, "STATS_STEPS", 1)
    params = dict(
        widths=[24, 12], input_bits=2, hidden_bits=2, output_bits=2, input_fan_in=4, fan_in=3, output_fan_in=3, **knobs
    )
    model = build_model(family, params, 20, 5, seed=3).train()
    x, y = torch.rand(64, 20), torch.randint(0, 5, (64,))
    fused = []
    monkeypatch.setattr(LUTLayer, "fused_forward", _recording(LUTLayer.fused_forward, fused))
    for _ in range(3):  # the statistics phase: Brevitas' graph, then fused
        fused.clear()
        F.cross_entropy(model(x), y).backward()
    assert len(fused) == len(model.layers)

    def step():
        fused.clear()
        loss = F.cross_entropy(model(x), y)
        return loss.item(), torch.autograd.grad(loss, list(model.parameters()), allow_unused=True), len(fused)

    native_loss, native_grads, n_fused = step()
    assert n_fused == len(model.layers)
    set_fused_training(model, False)  # Brevitas' own quantizer graph: the layers' PyTorch path
    plain_loss, plain_grads, n_fused = step()
    assert n_fused == 0
    set_fused_training(model, True)
    assert native_loss == pytest.approx(plain_loss, rel=1e-6)
    for got, want in zip(native_grads, plain_grads, strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    fused.clear()
    model.eval()(x)
    with torch.no_grad():
        model.train()(x)
    model.double()(x.double())
    assert fused == []


def _recording(method, calls: list):
    def wrapper(self, *args, **kwargs):
        calls.append(self)
        return method(self, *args, **kwargs)

    return wrapper


def test_fused_layer_rejects_out_of_range_indices(library, monkeypatch):
    """The C side checks what it is given: an index past the input rows is an error, not a wild read."""
    layer = _trained_layer(monkeypatch, "polynomial", 10, 4, 2, 2, True, False, seed=1)
    x = torch.rand(16, 10)
    consts = layer.fused_constants(x.t(), 16)
    with torch.no_grad():
        layer.indices[0, 0] = 10
    with pytest.raises(RuntimeError, match="polynomial kernel failed with code 2"):
        layer.fused_forward(x.t(), consts)


def _linear_layer_forward(threads: int) -> np.ndarray:
    """One fused LogicNets layer forward, called through ctypes on numpy buffers with ``threads``
    threads (no torch op: PyTorch's own OpenMP pool is not fork-safe)."""
    rng = np.random.default_rng(0)
    n, fan_in, batch, n_in = 48, 4, 700, 40
    x = rng.random((n_in, batch), dtype=np.float32)
    idx = rng.integers(0, n_in, (n, fan_in)).astype(np.int64)
    w, b = rng.random((n, fan_in), dtype=np.float32), rng.random(n, dtype=np.float32)
    pre = np.zeros((n, batch), dtype=np.float32)
    args = native_layer.LayerArgs(
        n=n, F=fan_in, B=batch, n_in=n_in, x=x.ctypes.data, idx=idx.ctypes.data, xr=batch, xs=1, pre=pre.ctypes.data
    )
    neurons = native_linear.LinearArgs(n=n, F=fan_in, w=w.ctypes.data, bias=b.ctypes.data)
    lib = native_linear.KERNEL.library()
    assert lib.lutsearch_linear_layer(ctypes.addressof(args), ctypes.addressof(neurons), 0, threads) == 0
    return pre


def test_forked_child_gets_its_own_helper_threads(library):
    """Helper threads stay between kernel calls (common.h's pool) and do not survive fork(): a forked
    child (multiprocessing's default start method on Linux) starts its own instead of waiting forever
    on its parent's."""
    expected = _linear_layer_forward(threads=2)  # the parent's helper is now spinning or waiting
    assert np.array_equal(expected, _linear_layer_forward(threads=1))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, exit without running pytest's teardown
        try:
            os.write(write, _linear_layer_forward(threads=2).tobytes())
        finally:
            os._exit(0)
    os.close(write)
    deadline, got = time.monotonic() + 60, b""
    while time.monotonic() < deadline and len(got) < expected.nbytes:
        if select.select([read], [], [], 1.0)[0]:
            chunk = os.read(read, 1 << 20)
            if not chunk:
                break
            got += chunk
    os.close(read)
    if len(got) < expected.nbytes:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert len(got) == expected.nbytes, "the forked child hung in the kernel"
    assert np.array_equal(np.frombuffer(got, dtype=np.float32).reshape(expected.shape), expected)
