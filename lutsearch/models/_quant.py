"""Brevitas quantizers used by every family, and the bridge from their outputs to integer codes."""

from __future__ import annotations

import warnings

import torch
from torch import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import brevitas.nn as qnn
    from brevitas.core.scaling import ScalingImplType
    from brevitas.inject.enum import StatsOp
    from brevitas.quant import Int8ActPerTensorFloat, Uint8ActPerTensorFloat

__all__ = ["make_act_quant", "make_input_quant", "quant_scale", "quantize_with_codes", "to_codes"]


def make_act_quant(bits: int, signed: bool) -> nn.Module:
    """A learned-scale per-tensor activation quantizer of ``bits`` bits.

    Unsigned quantizers are ``QuantReLU`` (codes 0..2^b-1); signed ones are ``QuantIdentity`` with a
    two's complement range (-2^(b-1)..2^(b-1)-1). Both return plain (dequantized) tensors.

    The scale is Brevitas' ``PARAMETER_FROM_STATS`` (a learned parameter initialized from the
    statistics of the first training batches), with the stats op set to ``MAX`` (|x|.max()) instead
    of the presets' 99.999th percentile: the percentile is a ``kthvalue`` over the whole activation
    tensor (a copy + selection, ~2.4 ms per 128k values, forward and backward, on every stats step),
    while the max is a single reduction (~0.04 ms). For fewer than 50,000 values per batch the
    99.999th percentile *is* the max (k rounds to numel); above that it is the 2nd/3rd largest.
    """
    if bits < 1:
        raise ValueError(f"activation bitwidth must be >= 1, got {bits}")
    if signed:
        if bits < 2:
            raise ValueError("a signed activation needs at least 2 bits")
        return qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=bits, scaling_stats_op=StatsOp.MAX,
                                 return_quant_tensor=False)
    return qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=bits, scaling_stats_op=StatsOp.MAX,
                         return_quant_tensor=False)


def make_input_quant(bits: int) -> nn.Module:
    """Fixed-range input quantizer: features arrive scaled to [0, 1]; code = round(x * (2^b - 1)).

    The range is a constant, so the hardware's input codes never depend on training.
    """
    return qnn.QuantIdentity(
        act_quant=Uint8ActPerTensorFloat,
        bit_width=bits,
        scaling_impl_type=ScalingImplType.CONST,
        scaling_const=1.0,
        max_val=1.0,
        return_quant_tensor=False,
    )


def quant_scale(quant: nn.Module) -> torch.Tensor:
    """The (scalar) scale of a Brevitas activation quantizer in its current (eval) state."""
    return quant.act_quant.scale().detach().reshape(())


def quantize_with_codes(quant: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass of a Brevitas quantizer: its output value (with grad), integer codes (int64, two's
    complement values for signed) and its scalar scale."""
    was = quant.return_quant_tensor
    quant.return_quant_tensor = True
    try:
        qt = quant(x)
    finally:
        quant.return_quant_tensor = was
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
