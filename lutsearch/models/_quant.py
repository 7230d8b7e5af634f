"""Brevitas quantizers used by every family, and the bridge from their outputs to integer codes."""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import torch
from torch import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import brevitas.nn as qnn
    from brevitas.core.scaling import ScalingImplType
    from brevitas.inject.enum import StatsOp
    from brevitas.quant import Int8ActPerTensorFloat, Uint8ActPerTensorFloat

__all__ = [
    "BN_RANGE",
    "make_act_quant",
    "make_input_quant",
    "quant_scale",
    "quantize_with_codes",
    "set_fused_training",
    "start_learned_scale",
    "to_codes",
    "training_constants",
]


class _LearnedScaleQuant(torch.autograd.Function):
    """Brevitas' learned-scale activation quantizer in one autograd node (training only).

    Forward, op for op as Brevitas computes it once its statistics phase is over:
    ``s = clamp_min(|v|, min_val) / threshold``; ``y = clamp(round(relu?(x) / s), lo, hi) * s``, so the
    values are bit-identical. Backward is the gradient Brevitas' autograd graph produces (straight-
    through round, ``TensorClamp`` passing gradient only where the rounded code is in range, ReLU,
    straight-through ``clamp_min``), written out: ``dx = g`` where the code is in range (and x > 0
    after a ReLU), ``ds = sum(g * q) - sum(g * z over in-range codes)`` with ``z = relu?(x) / s``,
    ``dv = ds * sign(v) / threshold``. The in-range mask is an open interval of ``z``
    (``_pass_band``), so ``dx`` is one ``hardtanh_backward`` pass over the saved ``z``.
    Hand-written (no library fuses it) because Brevitas spends ~25 tensor ops per call, several of
    them comparisons and ``where`` (slow on CPU), which made the quantizers ~40% of a training step of
    a small L-LUT network; tests compare values and gradients with Brevitas, boundaries included.
    """

    @staticmethod
    def forward(ctx, x, value, threshold, min_val, lo, hi, relu):
        scale = value.abs().clamp_min(min_val) / threshold
        z = torch.relu(x).div_(scale) if relu else x / scale
        code = torch.round(z).clamp_(lo, hi)
        ctx.save_for_backward(z, code, value)
        ctx.consts = (threshold, lo, hi, relu)
        return code * scale

    @staticmethod
    def backward(ctx, grad):
        z, code, value = ctx.saved_tensors
        threshold, lo, hi, relu = ctx.consts
        below, above = _pass_band(lo, hi, relu, z.dtype)
        grad_x = torch.ops.aten.hardtanh_backward(grad, z, below, above)  # grad where below < z < above
        grad_v = None
        if ctx.needs_input_grad[1]:
            # In-range terms need no ReLU mask: z = 0 wherever the ReLU blocks.
            grad_s = torch.dot(grad.reshape(-1), code.reshape(-1)) - torch.dot(grad_x.reshape(-1), z.reshape(-1))
            grad_v = (grad_s / threshold * torch.sign(value)).reshape(value.shape)
        return (grad_x if ctx.needs_input_grad[0] else None), grad_v, None, None, None, None, None


@functools.cache
def _pass_band(lo: float, hi: float, relu: bool, dtype: torch.dtype) -> tuple[float, float]:
    """Open interval (below, above) of ``z`` whose rounded code lies in [lo, hi] (and z > 0 after a
    ReLU), exact in ``dtype`` under round-half-to-even: ``z = hi + 0.5`` rounds into range only when
    ``hi`` is even, ``z = lo - 0.5`` only when ``lo`` is even; an included end moves one ulp out."""

    def step(edge: float, towards: float) -> float:
        return float(torch.nextafter(torch.tensor(edge, dtype=dtype), torch.tensor(towards, dtype=dtype)))

    above = hi + 0.5 if hi % 2 else step(hi + 0.5, math.inf)
    if relu:
        return 0.0, above
    return (step(lo - 0.5, -math.inf) if lo % 2 == 0 else lo - 0.5), above


def _learned_scale_constants(module: nn.Module) -> tuple | None:
    """(scaling module, threshold, min_val, lo, hi, relu) when ``module`` is in Brevitas' learned-scale
    phase with the configuration ``make_act_quant`` builds; None otherwise (Brevitas runs)."""
    cached = module.__dict__.get("_fast_constants")  # (scaling, constants): fixed once built
    if cached is None:
        act_quant: Any = module.act_quant  # Brevitas is untyped
        proxy = act_quant.fused_activation_quant_proxy
        tq = proxy.tensor_quant
        scaling = tq.scaling_impl
        bits = tq.msb_clamp_bit_width_impl()
        cached = (
            scaling,
            float(tq.int_scaling_impl(bits).abs()),
            float(scaling.clamp_scaling.clamp_min_ste.min_val),
            float(tq.int_quant.min_int(bits)),
            float(tq.int_quant.max_int(bits)),
            isinstance(proxy.activation_impl, nn.ReLU),
        )
        module.__dict__["_fast_constants"] = cached
    scaling = cached[0]
    if scaling.counter <= scaling.collect_stats_steps:  # statistics phase, or its last (init) step
        return None
    return cached


def _fused_training(quant: nn.Module) -> bool:
    return bool(getattr(quant, "fused", False)) and quant.training and torch.is_grad_enabled()


class _TrainingFastPath:
    """Mixin: in training, past the statistics phase, run ``_LearnedScaleQuant``; else Brevitas.
    Set ``fused = False`` on an instance to train it with Brevitas' own graph."""

    fused = True

    def forward(self, x):
        if not self.return_quant_tensor and _fused_training(self):
            consts = _learned_scale_constants(self)
            if consts is not None:
                scaling, threshold, min_val, lo, hi, relu = consts
                return _LearnedScaleQuant.apply(x, scaling.value, threshold, min_val, lo, hi, relu)
        return super().forward(x)


def training_constants(quant: nn.Module) -> tuple | None:
    """``(scaling module, threshold, min_val, lo, hi, relu, below, above)`` of ``quant``'s fused training
    step (see ``_LearnedScaleQuant``; ``(below, above)``: its float32 pass band) when a training step of it
    would take that step, else None. Fused native layers (``LUTLayer.fused_forward``) compute the
    same quantizer from these."""
    if not isinstance(quant, _TrainingFastPath) or quant.return_quant_tensor or not _fused_training(quant):
        return None
    consts = _learned_scale_constants(quant)
    if consts is None:
        return None
    threshold, min_val, lo, hi, relu = consts[1:]
    return (consts[0], threshold, min_val, lo, hi, relu, *_pass_band(lo, hi, relu, torch.float32))


def set_fused_training(model: nn.Module, fused: bool) -> None:
    """Train every activation quantizer of ``model`` with the fused step (True, the default) or
    through Brevitas' own autograd graph (False; e.g. to time or debug against stock Brevitas)."""
    for module in model.modules():
        if isinstance(module, _TrainingFastPath):
            module.fused = fused


class QuantReLU(_TrainingFastPath, qnn.QuantReLU):
    """Brevitas ``QuantReLU`` with a fused training step (see ``_LearnedScaleQuant``)."""


class QuantIdentity(_TrainingFastPath, qnn.QuantIdentity):
    """Brevitas ``QuantIdentity`` with a fused training step (see ``_LearnedScaleQuant``)."""


# Length (batches) of Brevitas' statistics phase for quantizers built from now on; None = Brevitas'
# default (300). Benchmarks shorten it so that short timed runs measure steady-state training.
STATS_STEPS: int | None = None

# The ranges LogicNets' reference quantizers start from after a batch-norm (Xilinx/logicnets
# examples/jet_substructure/models.py, kept by its derivatives PolyLUT and NeuraLUT): hidden
# ``QuantReLU(max_val=1.61)``, output ``QuantHardTanh(max_val=1.33)``, both ``ScalingImplType.PARAMETER``
# (learned from that value on), i.e. about 1.6 and 1.3 standard deviations of the normalized
# pre-activations. Keyed by ``signed``.
BN_RANGE = {False: 1.61, True: 1.33}


def make_act_quant(bits: int, signed: bool, init_range: float | None = None) -> nn.Module:
    """A learned-scale per-tensor activation quantizer of ``bits`` bits.

    Unsigned quantizers are ``QuantReLU`` (codes 0..2^b-1); signed ones are ``QuantIdentity`` with a
    two's complement range (-2^(b-1)..2^(b-1)-1). Both return plain (dequantized) tensors.

    The scale is Brevitas' ``PARAMETER_FROM_STATS`` (a learned parameter). With ``init_range`` (the
    largest positive value; ``BN_RANGE`` after a batch-norm) it is learned from that value from the
    first step, as LogicNets' ``ScalingImplType.PARAMETER`` quantizers are. Without, it is initialized
    from the statistics of the first training batches, with the stats op set to ``MAX`` (|x|.max())
    instead of the presets' 99.999th percentile: the percentile is a ``kthvalue`` over the whole
    activation tensor (a copy + selection, ~2.4 ms per 128k values, forward and backward, on every
    stats step), while the max is a single reduction (~0.04 ms). For fewer than 50,000 values per
    batch the 99.999th percentile *is* the max (k rounds to numel); above that it is the 2nd/3rd
    largest. After a batch-norm the max of a batch of 1024 is ~3.5 standard deviations, growing with
    the batch and in later layers (measured 4-8 on JSC): coarse codes for the bulk of the values, and
    a degree-6 PolyLUT layer fed such inputs raised them to ~1e5, its batch-norm's running variance to
    ~1e10, and collapsed every output to one code (JSC-M Lite never learned).
    """
    quant = _act_quant(bits, signed)
    if init_range is not None:
        start_learned_scale(quant, init_range)
    return quant


def start_learned_scale(quant: nn.Module, init_range: float) -> None:
    """End ``quant``'s statistics phase now with its learned range set to ``init_range`` (Brevitas'
    ``init_scale`` from a statistics buffer holding that value): no statistics are collected."""
    act_quant: Any = quant.act_quant  # Brevitas is untyped
    scaling = act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl
    with torch.no_grad():
        scaling.buffer.fill_(float(init_range))
    scaling.init_scale()


def _act_quant(bits: int, signed: bool) -> nn.Module:
    if bits < 1:
        raise ValueError(f"activation bitwidth must be >= 1, got {bits}")
    stats = {} if STATS_STEPS is None else {"collect_stats_steps": int(STATS_STEPS)}
    if signed:
        if bits < 2:
            raise ValueError("a signed activation needs at least 2 bits")
        return QuantIdentity(
            act_quant=Int8ActPerTensorFloat,
            bit_width=bits,
            scaling_stats_op=StatsOp.MAX,
            return_quant_tensor=False,
            **stats,
        )
    return QuantReLU(
        act_quant=Uint8ActPerTensorFloat,
        bit_width=bits,
        scaling_stats_op=StatsOp.MAX,
        return_quant_tensor=False,
        **stats,
    )


class InputQuant(qnn.QuantIdentity):
    """Brevitas' constant-scale ``QuantIdentity``; in training, on data that needs no gradient, the
    same values come from three ops (``round(x / s).clamp(0, 2^b - 1) * s``, as Brevitas computes
    them; a test compares all bitwidths) instead of Brevitas' ~20, several of them comparisons
    (~1.5 ms per MNIST batch of 256)."""

    def forward(self, x):
        if self.training and not self.return_quant_tensor and not (torch.is_grad_enabled() and x.requires_grad):
            high = self.__dict__.get("_max_code")
            if high is None:  # the largest code, fixed by the bitwidth
                tq = self.act_quant.fused_activation_quant_proxy.tensor_quant
                high = self._max_code = float(tq.int_quant.max_int(tq.msb_clamp_bit_width_impl()))
            scale = torch.tensor(1.0, dtype=x.dtype, device=x.device) / high
            return torch.round(x / scale).clamp_(0.0, high).mul_(scale)
        return super().forward(x)


def make_input_quant(bits: int) -> nn.Module:
    """Fixed-range input quantizer: features arrive scaled to [0, 1]; code = round(x * (2^b - 1)).

    The range is a constant, so the hardware's input codes never depend on training.
    """
    return InputQuant(
        act_quant=Uint8ActPerTensorFloat,
        bit_width=bits,
        scaling_impl_type=ScalingImplType.CONST,
        scaling_const=1.0,
        max_val=1.0,
        return_quant_tensor=False,
    )


def quant_scale(quant: nn.Module) -> torch.Tensor:
    """The (scalar) scale of a Brevitas activation quantizer in its current (eval) state."""
    act_quant: Any = quant.act_quant  # Brevitas is untyped
    return act_quant.scale().detach().reshape(())


def quantize_with_codes(quant: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass of a Brevitas quantizer: its output value (with grad), integer codes (int64, two's
    complement values for signed) and its scalar scale."""
    brevitas_quant: Any = quant  # Brevitas is untyped: its attributes are not a Module's
    fast = _learned_scale_constants(quant) if _fused_training(quant) else None
    if fast is not None:  # the fused training step; codes and scale exactly as Brevitas derives them
        scaling, threshold, min_val, lo, hi, relu = fast
        value = _LearnedScaleQuant.apply(x, scaling.value, threshold, min_val, lo, hi, relu)
        with torch.no_grad():
            scale = scaling.value.abs().clamp_min(min_val) / threshold
            codes = torch.round(value / scale).to(torch.int64)
        return value, codes, scale.reshape(())
    was = brevitas_quant.return_quant_tensor
    brevitas_quant.return_quant_tensor = True
    try:
        qt = quant(x)
    finally:
        brevitas_quant.return_quant_tensor = was
    # value / scale + zero_point, rounded: what ``QuantTensor.int()`` returns. ``int()`` itself refuses a
    # valid 1-bit tensor whose values are all equal (its binary check wants two distinct values), as a
    # constant neuron or a constant table chunk produces, so the codes are read off directly.
    with torch.no_grad():
        codes = torch.round(qt.value / qt.scale + qt.zero_point).to(torch.int64)
    bits = int(qt.bit_width)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if bool(qt.signed) else (0, (1 << bits) - 1)
    if codes.numel() and (codes.min() < low or codes.max() > high):
        raise RuntimeError(f"quantizer produced codes outside [{low}, {high}]")
    return qt.value, codes, qt.scale.detach().reshape(())


def to_codes(quant: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Integer codes (as int64, two's complement values for signed) of ``quant`` applied to ``x``."""
    return quantize_with_codes(quant, x)[1]
