"""Arithmetic of the exact path, the same bits on every CPU, BLAS, thread count and batch size.

The exact path (evaluation, ``predict_codes``, table enumeration) is the contract "truth tables ==
quantized model == RTL". Its values must not depend on how a library chooses to compute them, so it
is built from operations whose result is fixed by IEEE 754 alone:

* one elementwise ``+``, ``-``, ``*``, ``/`` or ``sqrt`` per PyTorch call (each is correctly rounded,
  so every ISA, vector width, scalar tail and thread split gives the same bits);
* ``round``, ``clamp``, ``relu``, comparisons, ``where``, copies and gathers (exact);
* no BLAS call (a matmul's summation order depends on the library, its version, the CPU's code
  path (MKL picks kernels per CPU and per shape) and the matrix shape);
* no floating-point reduction (``sum``, ``mean``: PyTorch splits them by vector width and by shape);
  a sum over an axis is written here as a left-to-right chain of elementwise adds;
* no fused multiply-add or fused kernel such as ``addcmul``, ``baddbmm`` or eval-mode batch-norm
  (a compiler may contract ``a * b + c`` into an FMA in one CPU's kernel build and not in another's);
* no transcendental function from a math library (``tanh``, ``exp``: their last bit differs
  between glibc, SLEEF's vector versions and other platforms); :func:`tanh` below uses only the
  operations above.

The exact path is evaluation in float64 (:func:`active`). Loops here run over a reduction axis (a
fan-in, a hidden width, a monomial count), never over neurons or table entries. Training never takes
this path; it may use any fast kernel. ``tests/test_exactness.py`` records the ATen operators the
exact path of every family runs and rejects any outside this list.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from lutsearch.models._native import exact as native_exact

__all__ = ["active", "batch_norm", "ordered_dot", "ordered_sum", "per_neuron_affine", "tanh"]


def active(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``module`` computes ``x`` on the exact path: evaluation mode in float64, which is how
    ``LUTNetwork.exact()`` runs its twin for ``predict_codes`` and ``to_tables``. Evaluation in
    float32 (validation accuracy between epochs, for early stopping only) keeps the fast kernels."""
    return not module.training and x.dtype == torch.float64


def ordered_sum(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``t`` summed over ``dim`` left to right, one elementwise add per term."""
    n = t.shape[dim]
    if n == 0:  # the empty sum
        shape = list(t.shape)
        del shape[dim]
        return t.new_zeros(shape)
    acc = t.select(dim, 0).clone()
    for k in range(1, n):
        acc.add_(t.select(dim, k))
    return acc


def ordered_dot(a: torch.Tensor, b: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``sum_k a_k * b_k`` over ``dim`` (a and b broadcast), each product rounded, then added left to
    right: ``((a_0 b_0 + a_1 b_1) + a_2 b_2) + ...``."""
    a, b = torch.broadcast_tensors(a, b)
    n = a.shape[dim]
    acc = a.select(dim, 0) * b.select(dim, 0)
    for k in range(1, n):
        acc.add_(a.select(dim, k) * b.select(dim, k))
    return acc


def per_neuron_affine(
    h: torch.Tensor, weight: torch.Tensor, init: torch.Tensor | None, relu: bool = False
) -> torch.Tensor:
    """``init + sum_k weight[:, :, k] * h[:, k]`` per neuron, accumulated in order k = 0, 1, ...; then
    ``clamp_min(0)`` when ``relu``.

    Feature-major: ``h`` (n, d_in, M), ``weight`` (n, d_out, d_in), ``init`` broadcastable to
    (n, d_out, M) (a bias, or a skip connection's output), or None: the sum then starts at the first
    product. Returns (n, d_out, M). Runs as one native call (``_native/exact.cpp``: the same
    operations in the same order, accumulators in registers) where that kernel is built, else as one
    multiply and one add per input unit, vectorized over the M samples (innermost)."""
    fast = native_exact.affine(h, weight, init, relu)
    if fast is not None:
        return fast
    n, d_in, rows = h.shape
    d_out = weight.shape[1]
    tmp = torch.empty((n, d_out, rows), dtype=torch.result_type(h, weight), device=h.device)
    if init is None:
        acc = torch.mul(weight[:, :, :1], h[:, :1, :])
        first = 1
    else:
        acc = torch.empty_like(tmp)
        acc.copy_(init.expand(n, d_out, rows))
        first = 0
    for k in range(first, d_in):
        torch.mul(weight[:, :, k : k + 1], h[:, k : k + 1, :], out=tmp)
        acc.add_(tmp)
    return acc.clamp_min_(0.0) if relu else acc


def batch_norm(x: torch.Tensor, bn: nn.BatchNorm1d) -> torch.Tensor:
    """Eval-mode ``nn.BatchNorm1d`` over the last axis of ``x`` as separate correctly rounded steps:
    ``(x - mean) / sqrt(var + eps) * weight + bias``. PyTorch's own kernel folds this into
    ``x * alpha + beta``, which a vectorized build may compute with or without an FMA."""
    # the running statistics are tracked (None only without ``track_running_stats``, which callers exclude)
    std = torch.sqrt(cast(torch.Tensor, bn.running_var) + bn.eps)
    y = (x - cast(torch.Tensor, bn.running_mean)) / std
    if bn.affine:
        y = y * bn.weight + bn.bias
    return y


# exp(r) for |r| <= ln(2)/2 by its Taylor series to degree 17 (truncation < 1e-19 relative: below
# one float64 ulp), evaluated by Horner's rule with separate multiplies and adds.
_EXP_COEFFS = tuple(1.0 / math.factorial(k) for k in range(17, -1, -1))
_LN2_HI = 0.6931471803691238  # ln 2 split so that n * _LN2_HI is exact for |n| < 2^20
_LN2_LO = 1.9082149292705877e-10


def _exp(y: torch.Tensor) -> torch.Tensor:
    """exp(y) for float64 0 <= y <= 40 from +, -, *, round and integer bit operations alone
    (deterministic, about 1 ulp): y = n ln2 + r, exp(r) by Horner, times 2^n built from its bits."""
    n = torch.round(y / math.log(2.0))
    r = (y - n * _LN2_HI) - n * _LN2_LO
    p = torch.full_like(r, _EXP_COEFFS[0])
    for c in _EXP_COEFFS[1:]:
        p = p * r + c
    two_n = ((n.to(torch.int64) + 1023) << 52).view(torch.float64)  # exactly 2^n (0 <= n <= 58)
    return p * two_n


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh from deterministic operations only (see the module doc), computed in float64 and returned
    in x's dtype: ``1 - 2 / (exp(2|x|) + 1)`` with the sign of x; |x| >= 20 gives +-1 (tanh(20) =
    1 - 8e-18 rounds to 1 in float64). Absolute error about 2e-16 (relative error near 0 is larger,
    the absolute error is not); what the exact path needs is the same bits on every CPU."""
    a = torch.clamp(x.detach().to(torch.float64).abs(), max=20.0)
    t = 1.0 - 2.0 / (_exp(2.0 * a) + 1.0)
    return torch.where(x < 0, -t, t).to(x.dtype)
