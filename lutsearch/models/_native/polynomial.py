"""ctypes binding of ``polynomial.cpp``: PolyLUT neurons trained by one fused kernel per step.

Used by ``lutsearch.models.polylut`` for training steps on CPU in float32 (:func:`supports`);
evaluation and table enumeration keep the monomial-buffer path, which is the bit-exactness contract
with the truth tables. The kernel sums each sample's terms in its own order, so a training step
agrees with the PyTorch path to rounding, not bit for bit.
"""

from __future__ import annotations

import ctypes

import torch

from lutsearch.models._native import check_status, load_library

__all__ = ["supports", "NativePolynomial"]

_I64, _PTR, _INT = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
_typed: set[int] = set()


def _library() -> ctypes.CDLL | None:
    lib = load_library("polynomial")
    if lib is not None and id(lib) not in _typed:
        head = [_I64, _I64, _I64, _I64, _I64, _PTR, _PTR, _PTR]
        lib.lutsearch_poly_forward.argtypes = [*head, _PTR, _PTR, _INT]
        lib.lutsearch_poly_backward.argtypes = [*head, _PTR, _PTR, _PTR, _PTR, _INT]
        lib.lutsearch_poly_forward.restype = lib.lutsearch_poly_backward.restype = _INT
        _typed.add(id(lib))
    return lib


def supports(x: torch.Tensor) -> bool:
    """Whether the fused kernel can run a PolyLUT layer on ``x``."""
    return x.device.type == "cpu" and x.dtype == torch.float32 and _library() is not None


class NativePolynomial(torch.autograd.Function):
    """``apply(x, weight, bias, neuron)``: x (B, n, F), weight (n, M), bias (n) -> (B, n), the
    monomial order given by ``neuron.groups`` (``polylut.monomial_groups``). Saves only x and the
    weights: the backward recomputes the monomials."""

    @staticmethod
    def forward(ctx, x, weight, bias, neuron):
        lib = _library()
        batch, n, fan_in = x.shape
        xt = x.detach().permute(1, 2, 0).contiguous()  # (n, F, B): 16 samples of an input are one vector
        weight, bias = weight.detach().contiguous(), bias.detach().contiguous()
        groups = neuron.groups
        out = torch.empty(n, batch, dtype=x.dtype)
        check_status(lib.lutsearch_poly_forward(n, fan_in, weight.shape[1], batch, len(groups), groups.data_ptr(),
                                          xt.data_ptr(), weight.data_ptr(), bias.data_ptr(), out.data_ptr(),
                                          torch.get_num_threads()), "polynomial")
        ctx.neuron = neuron
        ctx.save_for_backward(xt, weight)
        return out.t()

    @staticmethod
    def backward(ctx, grad):
        lib = _library()
        xt, weight = ctx.saved_tensors
        n, fan_in, batch = xt.shape
        groups = ctx.neuron.groups
        g = grad.t().contiguous()  # (n, B)
        gw, gb = torch.empty_like(weight), weight.new_empty(n)
        gx = torch.empty_like(xt) if ctx.needs_input_grad[0] else None
        check_status(lib.lutsearch_poly_backward(n, fan_in, weight.shape[1], batch, len(groups), groups.data_ptr(),
                                           xt.data_ptr(), weight.data_ptr(), g.data_ptr(),
                                           None if gx is None else gx.data_ptr(), gw.data_ptr(), gb.data_ptr(),
                                           torch.get_num_threads()), "polynomial")
        return (None if gx is None else gx.permute(2, 0, 1), gw, gb, None)
