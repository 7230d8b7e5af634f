"""ctypes binding of ``exact.cpp``: the exact path's per-neuron affine map in one native call.

``lutsearch.models._exact.per_neuron_affine`` computes the same IEEE 754 operations in the same
order with PyTorch elementwise ops (one product, one sum per input unit, no FMA); this kernel keeps
the accumulator in registers instead of passing over memory twice per input unit, so table
enumeration and ``predict_codes`` of NeuraLUT and PolyLUT run at matmul-like speed. Both give the
same bits by construction (the kernel is built with ``-ffp-contract=off``, no fast-math); tests
compare them bit for bit and the golden table hashes pass with and without it. Without a compiler,
or with ``LUTSEARCH_NATIVE=0``, the PyTorch version runs.
"""

from __future__ import annotations

import ctypes

import torch

from lutsearch.models._native import check_status, load_library

__all__ = ["affine", "available"]

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_bound = None


def _entry():
    global _bound
    lib = load_library("exact")
    if lib is None:
        return None
    if _bound is None:
        fn = lib.lutsearch_exact_affine
        fn.restype = ctypes.c_int
        fn.argtypes = [_I64, _I64, _I64, _I64, _PTR, _PTR, _PTR, _I64, _I64, _I64, _PTR, ctypes.c_int, ctypes.c_int]
        _bound = fn
    return _bound


def available() -> bool:
    return _entry() is not None


def affine(h: torch.Tensor, weight: torch.Tensor, init: torch.Tensor | None, relu: bool = False) -> torch.Tensor | None:
    """``init + sum_k weight[:, :, k] * h[:, k]`` (k ascending; without ``init`` the sum starts at the
    first product), then ``clamp_min(0)`` when ``relu``; feature-major shapes as in
    ``_exact.per_neuron_affine``. None when the kernel does not apply (not float64 on CPU, gradients
    wanted, no kernel): the caller then runs the PyTorch version."""
    fn = _entry()
    if (
        fn is None
        or h.dtype != torch.float64
        or weight.dtype != torch.float64
        or h.device.type != "cpu"
        or (
            torch.is_grad_enabled()
            and (h.requires_grad or weight.requires_grad or (init is not None and init.requires_grad))
        )
    ):
        return None
    h, weight = h.contiguous(), weight.detach().contiguous()
    n, d_in, m = h.shape
    d_out = weight.shape[1]
    if weight.shape != (n, d_out, d_in) or d_in < 1:
        return None
    y = torch.empty((n, d_out, m), dtype=torch.float64)
    if init is not None:
        if init.dtype != torch.float64 or init.device.type != "cpu":
            return None
        init = init.detach().expand(n, d_out, m)  # strides 0 where broadcast; no copy
        strides, ptr = init.stride(), init.data_ptr()
    else:
        strides, ptr = (0, 0, 0), None
    rc = fn(
        n,
        d_in,
        d_out,
        m,
        h.data_ptr(),
        weight.data_ptr(),
        ptr,
        *strides,
        y.data_ptr(),
        int(relu),
        torch.get_num_threads(),
    )
    check_status(rc, "exact")
    return y
