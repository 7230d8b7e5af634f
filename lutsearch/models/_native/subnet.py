"""ctypes binding of ``subnet.cpp``: NeuraLUT's sub-networks trained by one fused kernel per step.

Used by ``lutsearch.models.neuralut`` for training steps on CPU in float32 (:func:`supports`);
evaluation and table enumeration keep the batched-matmul path, which is the bit-exactness contract
with the truth tables. The kernel computes each sample independently, in float32, with its own
summation order, so a training step agrees with the PyTorch path to rounding, not bit for bit.
"""

from __future__ import annotations

import ctypes

import torch

from lutsearch.models._native import check_status, load_library

__all__ = ["MAX_WIDTH", "MAX_DEPTH", "supports", "NativeSubNetworks"]

MAX_WIDTH = 64  # widest sub-network input or hidden layer the kernel takes (4 vectors of 16 floats)
MAX_DEPTH = 8
_I64, _PTR, _INT = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
_PTRS = ctypes.POINTER(ctypes.c_void_p)
_typed: set[int] = set()


def _library() -> ctypes.CDLL | None:
    lib = load_library("subnet")
    if lib is not None and id(lib) not in _typed:
        shape = ctypes.POINTER(ctypes.c_int64)
        common = [shape, _I64, _PTR, _I64, _I64, _PTRS, _PTRS, _PTRS, _PTRS]
        lib.lutsearch_subnet_forward.argtypes = [*common, _PTR, _I64, _I64, _INT]
        lib.lutsearch_subnet_backward.argtypes = [*common, _PTR, _I64, _I64, _PTR, _I64, _I64,
                                                  _PTRS, _PTRS, _PTRS, _PTRS, _INT]
        lib.lutsearch_subnet_forward.restype = lib.lutsearch_subnet_backward.restype = _INT
        _typed.add(id(lib))
    return lib


def supports(neuron, x: torch.Tensor) -> bool:
    """Whether the fused kernel can run ``neuron`` (a ``SubNetworkNeurons``) on ``x``."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and 1 <= neuron.depth <= MAX_DEPTH
            and max(neuron.width, neuron.fan_in) <= MAX_WIDTH and _library() is not None)


def _pointers(tensors) -> ctypes.Array:
    return (ctypes.c_void_p * max(len(tensors), 1))(*[t.data_ptr() for t in tensors])


def _split(neuron, params):
    depth, n_skips = neuron.depth, neuron.n_skips
    return params[:depth], params[depth:2 * depth], params[2 * depth:2 * depth + n_skips], params[2 * depth + n_skips:]


class NativeSubNetworks(torch.autograd.Function):
    """``apply(x, neuron, *params)``: x (B, n, F), params as ``_SubNetworks`` takes them (weights,
    biases, skip weights, skip biases); returns (B, n). Saves only x: the backward recomputes the
    hidden activations (1.1-1.4x faster than saving and reading them back on the development machine)."""

    @staticmethod
    def forward(ctx, x, neuron, *params):
        lib = _library()
        batch, n, fan_in = x.shape
        xt = x.detach().transpose(0, 1).contiguous()  # (n, B, F): each neuron's samples contiguous
        params = [p.detach().contiguous() for p in params]
        out = torch.empty(n, batch, dtype=x.dtype)
        shape = (ctypes.c_int64 * 5)(n, fan_in, neuron.width, neuron.depth, neuron.n_skips)
        check_status(lib.lutsearch_subnet_forward(
            shape, batch, xt.data_ptr(), fan_in, batch * fan_in, *map(_pointers, _split(neuron, params)),
            out.data_ptr(), 1, batch, torch.get_num_threads()), "subnet")
        ctx.neuron, ctx.shape = neuron, shape
        ctx.save_for_backward(xt, *params)
        return out.t()

    @staticmethod
    def backward(ctx, grad):
        lib = _library()
        xt, *params = ctx.saved_tensors
        n, batch, fan_in = xt.shape
        g = grad.t().contiguous()  # (n, B)
        grads = [torch.empty_like(p) for p in params]
        # d loss / d x is written in the caller's (B, n, F) layout: strided stores are cheap, and a
        # transposed view would be copied by the gather's backward anyway.
        gx = xt.new_empty(batch, n, fan_in) if ctx.needs_input_grad[0] else None
        check_status(lib.lutsearch_subnet_backward(
            ctx.shape, batch, xt.data_ptr(), fan_in, batch * fan_in, *map(_pointers, _split(ctx.neuron, params)),
            g.data_ptr(), 1, batch, None if gx is None else gx.data_ptr(), n * fan_in, fan_in,
            *map(_pointers, _split(ctx.neuron, grads)), torch.get_num_threads()), "subnet")
        return (gx, None, *grads)
