"""ctypes binding of ``layer.h``: a family's neuron kernel alone, or a whole L-LUT layer's training step.

Two autograd functions drive any :class:`NeuronKernel` (``polynomial.py``, ``subnet.py``, ``linear.py``):

* :func:`neurons`: the neurons alone on gathered inputs (B, n, F) -> (B, n), the batch-norm and the
  quantizer left to PyTorch (Brevitas' statistics phase, layers with their own gather);
* :func:`layer_step`: gather + neurons + batch-norm (training mode) + learned-scale quantizer in one
  kernel call per direction, (B, n_in) or feature-major (n_in, B) -> (n, B), both read in place, so
  consecutive layers hand their outputs on without a transpose. What qualifies a layer is decided by
  ``lutsearch.models._base.LUTLayer.fused_constants``; the constants come from there.

Both run only for training steps (CPU, float32); they agree with the PyTorch path to float32
rounding. Evaluation and table enumeration never come here (the bit-exactness contract). Whether a
kernel *can* take a neuron function is ``NeuronKernel.capable``; whether it *should* (which of the
fused layer, the neurons alone and PyTorch runs) is ``LUTSEARCH_NATIVE``'s, by default measured per
CPU and kind of layer (``choice.py``).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lutsearch.models._native import check_status, choice, load_library

__all__ = ["LayerArgs", "LayerConstants", "NeuronKernel", "layer_step", "neurons"]


class LayerArgs(ctypes.Structure):
    """``lutsearch_native::LayerArgs`` (layer.h): same fields, same order."""

    _fields_ = [
        ("n", ctypes.c_int64),
        ("F", ctypes.c_int64),
        ("B", ctypes.c_int64),
        ("n_in", ctypes.c_int64),
        ("x", ctypes.c_void_p),
        ("idx", ctypes.c_void_p),
        ("xr", ctypes.c_int64),
        ("xs", ctypes.c_int64),
        ("pre", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        ("norm", ctypes.c_int32),
        ("quant", ctypes.c_int32),
        ("relu", ctypes.c_int32),
        ("pad_", ctypes.c_int32),
        ("gamma", ctypes.c_void_p),
        ("beta", ctypes.c_void_p),
        ("running_mean", ctypes.c_void_p),
        ("running_var", ctypes.c_void_p),
        ("mean", ctypes.c_void_p),
        ("invstd", ctypes.c_void_p),
        ("eps", ctypes.c_double),
        ("momentum", ctypes.c_double),
        ("scale", ctypes.c_float),
        ("lo", ctypes.c_float),
        ("hi", ctypes.c_float),
        ("below", ctypes.c_float),
        ("above", ctypes.c_float),
        ("pad2_", ctypes.c_float),
        ("g", ctypes.c_void_p),
        ("gxn", ctypes.c_void_p),
        ("gr", ctypes.c_int64),
        ("gs", ctypes.c_int64),
        ("gx", ctypes.c_void_p),
        ("ggamma", ctypes.c_void_p),
        ("gbeta", ctypes.c_void_p),
        ("gscale", ctypes.c_void_p),
    ]


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class NeuronKernel:
    """One family's neuron kernel: its library, its entry point
    ``int entry(const LayerArgs*, const Args*, int backward, int nthreads)`` and how to describe a
    ``NeuronFunction``'s parameters (and their gradients) to it."""

    stem: str = ""
    entry: str = ""

    def library(self) -> ctypes.CDLL | None:
        lib = load_library(self.stem)
        if lib is not None and not getattr(lib, "_lutsearch_typed_" + self.entry, False):
            fn = getattr(lib, self.entry)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
            fn.restype = ctypes.c_int
            setattr(lib, "_lutsearch_typed_" + self.entry, True)
        return lib

    # False where the family's neurons alone keep PyTorch's ops (LogicNets' linear neurons): the kernel
    # then only runs inside fused layers.
    neurons_alone: bool = True

    def capable(self, neuron: Any, x: torch.Tensor) -> bool:
        """Whether the kernel can take ``neuron`` on inputs like ``x``: CPU, float32, a built library
        (families add their limits). Whether it *should* is ``supports`` (neurons alone) or
        ``choice.fused_allowed`` (whole layers)."""
        return x.device.type == "cpu" and x.dtype == torch.float32 and self.library() is not None

    def supports(self, neuron: Any, x: torch.Tensor) -> bool:
        """Whether a training step of ``neuron`` on gathered inputs ``x`` (B, n, F) runs on this kernel
        alone (``neurons``): the kernel can take it and ``LUTSEARCH_NATIVE`` allows it; under ``auto``
        only where the kernel was measured faster than PyTorch for this kind of neuron (``choice.py``)."""
        return self.capable(neuron, x) and choice.neurons_allowed(self, neuron, x)

    def shape_key(self, neuron: Any) -> str:
        """What besides the number of neurons and the batch sets this family's speed, for the cache of
        measured choices (``choice.py``): the fan-in here; families add their sizes."""
        return f"F{neuron.fan_in}"

    def parameters(self, neuron: Any) -> list[torch.Tensor]:
        raise NotImplementedError

    def arguments(
        self, neuron: Any, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor] | None
    ) -> ctypes.Structure:
        """The family's argument struct (it must keep whatever it points into alive)."""
        raise NotImplementedError

    def call(self, layer: LayerArgs, args: ctypes.Structure, backward: bool) -> None:
        fn = getattr(self.library(), self.entry)
        check_status(
            fn(ctypes.addressof(layer), ctypes.addressof(args), int(backward), torch.get_num_threads()), self.stem
        )


def _contiguous(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The kernels read raw memory: C-contiguous tensors (parameters always are; no copy then)."""
    return [p if p.is_contiguous() else p.contiguous() for p in params]


def _layer_args(x: torch.Tensor, idx: torch.Tensor, pre: torch.Tensor, feature_major: bool) -> LayerArgs:
    """A fused layer's arguments: x feature-major (n_in, B) or sample-major (B, n_in), each neuron
    reading rows ``idx``; the neurons' input gradients feature-major (n, F, B)."""
    n, fan_in = idx.shape
    n_in, batch = x.shape if feature_major else reversed(x.shape)
    xr, xs = (batch, 1) if feature_major else (1, n_in)
    return LayerArgs(
        n=n, F=fan_in, B=batch, n_in=n_in, x=_ptr(x), idx=_ptr(idx), xr=xr, xs=xs, pre=_ptr(pre), gr=batch, gs=1
    )


def _gathered_args(x: torch.Tensor, idx: torch.Tensor, pre: torch.Tensor) -> LayerArgs:
    """The neurons alone on PyTorch's gathered x (B, n, F), read in place: input f of neuron i is
    "row" i * F + f, at stride n * F over the samples (``idx`` = arange(n * F))."""
    batch, n, fan_in = x.shape
    return LayerArgs(
        n=n,
        F=fan_in,
        B=batch,
        n_in=n * fan_in,
        x=_ptr(x),
        idx=_ptr(idx),
        xr=1,
        xs=n * fan_in,
        pre=_ptr(pre),
        gr=1,
        gs=n * fan_in,
    )


class _Neurons(torch.autograd.Function):
    """``apply(x, kernel, neuron, *params)``: x (B, n, F) -> (B, n), the neurons alone."""

    @staticmethod
    def forward(ctx, x, kernel, neuron, *params):
        batch, n, fan_in = x.shape
        x = x.contiguous()
        idx = torch.arange(n * fan_in, dtype=torch.int64).view(n, fan_in)
        params = _contiguous(params)
        pre = x.new_empty(n, batch)
        kernel.call(_gathered_args(x, idx, pre), kernel.arguments(neuron, params, None), backward=False)
        ctx.kernel, ctx.neuron = kernel, neuron
        ctx.save_for_backward(x, idx, pre, *params)
        return pre.t()

    @staticmethod
    def backward(ctx, grad):
        x, idx, pre, *params = ctx.saved_tensors
        g = grad.t().contiguous()  # (n, B)
        grads = [torch.empty_like(p) for p in params]
        gx = torch.empty_like(x) if ctx.needs_input_grad[0] else None  # (B, n, F), written in place
        args = _gathered_args(x, idx, pre)
        args.g, args.gxn = _ptr(g), _ptr(gx)
        ctx.kernel.call(args, ctx.kernel.arguments(ctx.neuron, params, grads), backward=True)
        return (gx, None, None, *grads)


def neurons(kernel: NeuronKernel, neuron: Any, x: torch.Tensor) -> torch.Tensor:
    """The neurons of ``neuron`` on gathered inputs ``x`` (B, n, F) -> (B, n), by ``kernel``."""
    return _Neurons.apply(x, kernel, neuron, *kernel.parameters(neuron))


@dataclass(frozen=True)
class LayerConstants:
    """What a fused layer step needs besides tensors: the quantizer's scaling module (its ``value``
    parameter is the learned scale), the batch-norm's constants (``norm`` False: none) and the
    learned-scale quantizer's, as ``lutsearch.models._quant`` derives them."""

    scaling: Any
    norm: bool
    eps: float
    momentum: float
    threshold: float
    min_val: float
    lo: float
    hi: float
    relu: bool
    below: float
    above: float


def _step_args(
    x, feature_major, idx, pre, consts: LayerConstants, scale: float, gamma, beta, mean, invstd
) -> LayerArgs:
    """The arguments forward and backward share: the layer, its quantizer and its batch-norm."""
    args = _layer_args(x, idx, pre, feature_major)
    args.quant, args.relu = 1, int(consts.relu)
    args.scale, args.lo, args.hi, args.below, args.above = scale, consts.lo, consts.hi, consts.below, consts.above
    if consts.norm:
        args.norm, args.eps, args.momentum = 1, consts.eps, consts.momentum
        args.gamma, args.beta, args.mean, args.invstd = _ptr(gamma), _ptr(beta), _ptr(mean), _ptr(invstd)
    return args


class _LayerStep(torch.autograd.Function):
    """``apply(x, feature_major, kernel, neuron, idx, consts, running_mean, running_var, scale_value,
    gamma, beta, *params)``: x (n_in, B) when ``feature_major``, else (B, n_in) -> (n, B). Saves x,
    the neurons' outputs and the batch statistics; the backward recomputes the normalized values and
    codes from them."""

    @staticmethod
    def forward(
        ctx, x, feature_major, kernel, neuron, idx, consts, running_mean, running_var, value, gamma, beta, *params
    ):
        x = x.contiguous()
        n, batch = idx.shape[0], x.shape[1 if feature_major else 0]
        params = _contiguous(params)
        # float32 arithmetic, as _LearnedScaleQuant computes the scale: |v| clamped below, / threshold
        scale = max(abs(np.float32(value.item())), np.float32(consts.min_val)) / np.float32(consts.threshold)
        pre, out = x.new_empty(n, batch), x.new_empty(n, batch)
        mean, invstd = x.new_empty(n), x.new_empty(n)
        args = _step_args(x, feature_major, idx, pre, consts, float(scale), gamma, beta, mean, invstd)
        args.out = _ptr(out)
        if consts.norm:
            args.running_mean, args.running_var = _ptr(running_mean), _ptr(running_var)
        kernel.call(args, kernel.arguments(neuron, params, None), backward=False)
        ctx.kernel, ctx.neuron, ctx.consts, ctx.scale = kernel, neuron, consts, float(scale)
        ctx.feature_major = feature_major
        ctx.save_for_backward(
            x, idx, pre, mean, invstd, value, gamma if consts.norm else None, beta if consts.norm else None, *params
        )
        return out

    @staticmethod
    def backward(ctx, grad):
        x, idx, pre, mean, invstd, value, gamma, beta, *params = ctx.saved_tensors
        consts = ctx.consts
        n, batch = pre.shape
        g = grad.contiguous()
        grads = [torch.empty_like(p) for p in params]
        need_x = ctx.needs_input_grad[0]
        gxn = x.new_empty(n, idx.shape[1], batch) if need_x else None
        gx = x.new_empty(x.shape[0] if ctx.feature_major else x.shape[1], batch) if need_x else None  # (n_in, B)
        gscale = x.new_empty(n)
        ggamma, gbeta = (x.new_empty(n), x.new_empty(n)) if consts.norm else (None, None)
        args = _step_args(x, ctx.feature_major, idx, pre, consts, ctx.scale, gamma, beta, mean, invstd)
        args.g, args.gxn, args.gx, args.gscale = _ptr(g), _ptr(gxn), _ptr(gx), _ptr(gscale)
        args.ggamma, args.gbeta = _ptr(ggamma), _ptr(gbeta)
        ctx.kernel.call(args, ctx.kernel.arguments(ctx.neuron, params, grads), backward=True)
        # d loss / d value: d s / d value = sign(value) / threshold (Brevitas' straight-through clamp_min)
        grad_value = (gscale.sum() / consts.threshold * torch.sign(value)).reshape(value.shape)
        if gx is not None and not ctx.feature_major:
            gx = gx.t()
        return (gx, None, None, None, None, None, None, None, grad_value, ggamma, gbeta, *grads)


def layer_step(
    kernel: NeuronKernel,
    neuron: Any,
    x: torch.Tensor,
    feature_major: bool,
    idx: torch.Tensor,
    consts: LayerConstants,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    scale_value: torch.Tensor,
    gamma: torch.Tensor | None,
    beta: torch.Tensor | None,
) -> torch.Tensor:
    """One layer's training step on ``x``, (n_in, B) when ``feature_major`` else (B, n_in), read in
    place either way -> (n, B); updates the running statistics in place like
    ``torch.nn.BatchNorm1d`` (the caller counts ``num_batches_tracked``)."""
    return _LayerStep.apply(
        x,
        feature_major,
        kernel,
        neuron,
        idx,
        consts,
        running_mean,
        running_var,
        scale_value,
        gamma,
        beta,
        *kernel.parameters(neuron),
    )
