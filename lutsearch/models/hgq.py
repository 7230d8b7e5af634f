"""HGQ-LUT style networks (Sun et al., "da4ml"/HGQ2 table layers, calad0i/HGQ2 ``QDenseT``).

Every input->output *edge* is a one-input L-LUT: a tiny MLP of one variable (``edge_hidden`` tanh
units, or an affine map when 0), vectorized over all edges, whose output goes through a signed
``edge_bits`` quantizer shared by the layer. A neuron is an *adder* of its edges' integer codes,
so the sum is plain arithmetic in hardware. Each edge also has a learnable bitwidth (HGQ's
per-weight bitwidths): an edge of b bits keeps only the top b bits of the layer's code (step
2^(edge_bits-b)), the bits get HGQ's rounding-error surrogate gradient, and ``sparsity`` x
mean(bits) is added to the loss. An edge whose bitwidth reaches 0 always outputs 0: it is pruned
(``mask=False`` in the adder).

Hardware mapping (``to_tables``), per layer: a ``TableLayer`` of fan-in 1 (one table per edge)
followed by an ``AdderLayer`` summing each neuron's live edges. The neuron's requantization
(scale x sum -> batch-norm -> unsigned ``hidden_bits`` quantizer) is folded into the next layer's
edge tables, whose input is then the adder's signed output code. The output layer's adders are the
logits. Adder widths are the exact ``AdderLayer.required_bits`` of the live edge count, so pruning
shrinks the next layer's tables.

**Computing on tables.** An edge's input is always a quantizer's output: one of K = 2^b values
``k * s`` (the input quantizer's, or the previous layer's unsigned ``hidden_bits`` quantizer's, with
its scale s). So every layer first evaluates its edge functions, edge quantizer and bitwidth step
on those K values only, giving a (n_out, K, F) table of codes, and a sample's adder output is a sum
of table entries picked by its input codes: ``acc[b, o] = sum_i T[o, c[b, idx[o, i]], i]``. A layer's
per-sample work is then a lookup-sum instead of F edge MLPs per neuron (the JSC configuration with
widths [64, 32] and 4 tanh units per edge: ~120 kFLOP per sample forward + backward before).

* Training (``_EdgeTableSum``, written by hand: no library evaluates a per-edge function on a
  quantized input's code table and sums by lookup) is one autograd node per layer. Forward: the
  table with the same elementwise ops the per-sample module computed (``x * w1 + b1``, tanh,
  ``(h * w2).sum(-1) + b2``, Brevitas' quantizer op for op, the step ``exp2(edge_bits - b)``), so
  every edge output is bit-identical to evaluating the edge on each sample; then the lookup-sum as
  one matmul of the one-hot input codes (B, K*n_in) with the table (the adder sums of those codes
  equal the per-sample ``sum`` to float32 rounding: another summation order). Backward: the table's
  gradient is the one-hot matmul transposed (the sum over samples of each entry's share), then the
  gradients of the quantizer (straight-through round, clamp pass band), the step surrogate and the
  tiny MLP written out on the table; the input's gradient is, per sample, the sum over its edges of
  the output gradient times the table of d(edge code)/d(input) (another matmul, masked by the
  one-hot rows). A step of the configuration above trains ~40x faster than per sample. Tests
  compare values and gradients with the per-sample autograd graph through Brevitas. Brevitas'
  statistics phase (its first 300 steps, where the scale is max|edge output| of the batch) runs its
  own module on the table with unused codes masked (the same max); ``_StatsTap`` routes that max's
  gradient back to the samples that hit it.
* The exact path (evaluation, ``predict_codes``, ``to_tables``; ``_exact_table``) builds the same
  table from ``lutsearch.models._exact`` operations only: separately rounded multiplies and adds, the
  hidden sum as ordered adds, ``_exact.tanh``, Brevitas' elementwise quantizer, steps 2^k read from
  a list of exact Python floats, and sums a sample's table entries with ordered elementwise adds of
  integers (gathers, no BLAS, no reduction). Tables and ``predict_codes`` read the same table, so they
  agree on every input; the values are the same bits on every CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from lutsearch.models import _exact as exact
from lutsearch.models._base import LayerHooks, LUTNetwork, WiredNodes, enumerate_codes, random_indices
from lutsearch.models._quant import make_act_quant, quant_scale, quantize_with_codes, to_codes, training_constants
from lutsearch.models._registry import FamilySpec, Knob, LayerPlan, layer_fan_in, register_family
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork, to_unsigned

__all__ = ["EdgeLayer", "HGQNetwork"]

# Per-edge bitwidth = _BIT_RATE * parameter: Adam then moves bitwidths about _BIT_RATE times faster
# than weights, so the sparsity pressure acts within short trainings.
_BIT_RATE = 10.0
_LN2 = math.log(2.0)


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _one_hot(codes: torch.Tensor, k: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, n) integer codes in [0, k) -> (B, k * n) one-hot rows, laid out (B, k, n): one comparison
    into a float buffer with n innermost (a scatter, or ``one_hot`` with k innermost, is ~10x slower)."""
    out = torch.empty(codes.shape[0], k, codes.shape[1], dtype=dtype, device=codes.device)
    torch.eq(codes.unsqueeze(1), torch.arange(k, dtype=codes.dtype, device=codes.device).unsqueeze(1), out=out)
    return out.view(codes.shape[0], -1)


def _spread(table: torch.Tensor, indices: torch.Tensor, n_in: int) -> torch.Tensor:
    """(n_out, K, F) per-edge tables -> (n_out, K, n_in): edge (o, i) at input ``indices[o, i]``, 0 elsewhere."""
    n_out, k, _ = table.shape
    out = table.new_zeros(n_out, k, n_in)
    return out.scatter_(2, indices.unsqueeze(1).expand(-1, k, -1), table)


class _EdgeTableSum(torch.autograd.Function):
    """One training step of a whole edge layer on its code table (see the module docstring).

    Inputs: ``v`` (B, n_in) the layer's input values (only their gradient is used), ``onehot``
    (B, K*n_in) their codes (``_one_hot``), ``xk`` (K,) the value of each code, the edge
    parameters, the per-edge ``bits`` (n_out, F), and ``sv``: the scale's learned parameter
    (``from_value``: s = clamp_min(|sv|, min_val) / threshold, straight-through as Brevitas past its
    statistics phase) or the scale itself. Returns the adder outputs (B, n_out) and the scale.

    Forward values are the per-sample module's (the same ops on the same values, per edge); the sum
    over a neuron's edges is a matmul (float32 sums of near-integers, in another order). Backward is
    that module's autograd gradient written out on the (n_out, K, F) table: ``dq/d code`` = 1 inside
    the stepped code's clamp (``torch.clamp``'s pass band), ``dq/d step = round(u) - u`` (HGQ's
    surrogate) with ``d step / d bits = -ln2 step``, ``d code / dz`` = 1 where the rounded code is in
    range (Brevitas' straight-through round and ``TensorClamp``), ``dz/dy = 1/s``, ``dz/ds = -z/s``
    (the ``value = code * s`` and ``code = value / s`` terms of the autograd graph cancel exactly;
    autograd adds and subtracts them in float), then the tiny MLP's backward.
    """

    @staticmethod
    def forward(ctx, v, onehot, xk, w1, b1, w2, b2, bits, sv, consts):
        indices, dense, max_bits, lo, hi, from_value, threshold, min_val = consts
        n_out, _fan_in = indices.shape
        n_in, k = v.shape[1], xk.shape[0]
        hidden = b1 is not None
        # -- edge functions on the table: op for op the per-sample module's forward
        if hidden:
            h = xk[:, None, None] * w1[:, None]  # (n_out, K, F, H)
            h.add_(b1[:, None]).tanh_()
            y = (h * w2[:, None]).sum(-1) + b2[:, None]  # (n_out, K, F)
        else:
            h = None
            y = xk[:, None] * w1[:, None] + b2[:, None]
        # -- Brevitas' signed quantizer (op for op), the module's code = value / scale, the edge step
        s = sv.abs().clamp_min(min_val) / threshold if from_value else sv.reshape(())
        z = y / s
        rz = torch.round(z)
        code = rz.clamp(lo, hi).mul_(s).div_(s)
        step = torch.exp2(max_bits - bits).unsqueeze(1)  # the training path may use exp2
        u = code / step
        r = torch.round(u).sub_(u)
        q = code.add_(step * r)
        half = float(1 << (max_bits - 1))
        mask_q = (q >= -half) & (q <= half - 1.0)
        table = q.clamp_(-half, half - 1.0)
        # -- lookup-sum: acc[b, o] = sum_i table[o, codes[b, indices[o, i]], i]
        wide = table if dense else _spread(table, indices, n_in)
        acc = onehot @ wide.view(n_out, k * n_in).t()
        # -- for backward: pass bands, and d(edge code)/d(input) of every entry when v needs a gradient
        mask_k = (rz >= lo) & (rz <= hi)
        ctx.need_x = ctx.needs_input_grad[0]
        if ctx.need_x:
            if hidden:
                fprime = (1.0 - h * h).mul_((w1 * w2)[:, None]).sum(-1)
            else:
                fprime = w1[:, None].expand_as(y)
            dx = (mask_q & mask_k).to(y.dtype).mul_(fprime).div_(s)
            ctx.dx_wide = dx if dense else _spread(dx, indices, n_in)
        ctx.save_for_backward(onehot, xk, w1, w2, sv)
        ctx.saved = (h, z, r, step, mask_q, mask_k, s)
        ctx.consts = consts
        ctx.shape = (n_out, n_in, k, hidden)
        return acc, s.detach().clone()

    @staticmethod
    def backward(ctx, grad_acc, grad_s):
        onehot, xk, _w1, w2, sv = ctx.saved_tensors
        h, z, r, step, mask_q, mask_k, s = ctx.saved
        indices, dense, _max_bits, _lo, _hi, from_value, threshold, _min_val = ctx.consts
        n_out, n_in, k, hidden = ctx.shape
        grad_acc = grad_acc.contiguous()
        grad_v = None
        if ctx.need_x:  # per sample: sum over its edges of d loss/d acc x d code/d x at the sample's code
            per_code = (grad_acc @ ctx.dx_wide.view(n_out, k * n_in)).view(-1, k, n_in)
            grad_v = per_code.mul_(onehot.view(-1, k, n_in)).sum(1)  # picks each sample's code
        g = (grad_acc.t() @ onehot).view(n_out, k, n_in)  # d loss / d table entry, summed over samples
        if not dense:
            g = g.gather(2, indices.unsqueeze(1).expand(-1, k, -1))
        g = g * mask_q  # through the stepped code's clamp
        grad_bits = (g * r).sum(1).mul_(step.squeeze(1)).mul_(-_LN2) if ctx.needs_input_grad[7] else None
        gz = g.mul_(mask_k)  # through the straight-through round and the code's clamp
        grad_scale = -(gz * z).sum() / s
        if grad_s is not None:
            grad_scale = grad_scale + grad_s
        gy = gz.div_(s)
        grad_sv = None
        if ctx.needs_input_grad[8]:
            grad_sv = grad_scale * torch.sign(sv) / threshold if from_value else grad_scale
            grad_sv = grad_sv.reshape(sv.shape)
        grad_b2 = gy.sum(1)
        if hidden:
            grad_w2 = torch.einsum("okf,okfh->ofh", gy, h)
            gpre = (1.0 - h * h).mul_(gy.unsqueeze(3)).mul_(w2[:, None])
            grad_b1 = gpre.sum(1)
            grad_w1 = torch.einsum("okfh,k->ofh", gpre, xk)
        else:
            grad_w2 = grad_b1 = None
            grad_w1 = torch.einsum("okf,k->of", gy, xk)
        return grad_v, None, None, grad_w1, grad_b1, grad_w2, grad_b2, grad_bits, grad_sv, None


class _StatsTap(torch.autograd.Function):
    """Identity on the (masked) edge table handed to Brevitas in its statistics phase, where the scale
    is max |edge output| over the batch. In the per-sample graph the max's gradient is split evenly
    over the samples that hit it; on the table it reaches the entry. Backward passes it to the
    table's parameters and, per sample, ``d max / d entry / count(entry's code)`` times the edge's
    d y / d x to the input (exact for a max reached by one table entry; entries of different edges
    tying exactly would be weighted by edge here, by sample count there)."""

    @staticmethod
    def forward(ctx, table, v, codes, fprime, counts, indices):
        ctx.save_for_backward(codes, fprime, counts, indices)
        ctx.n_in = v.shape[1]
        ctx.need_x = ctx.needs_input_grad[1]
        return table.clone()

    @staticmethod
    def backward(ctx, grad):
        codes, fprime, counts, indices = ctx.saved_tensors
        grad_v = None
        if ctx.need_x:  # tables (n_out, K, F); counts (K, n_in)
            k = fprime.shape[1]
            per_input = grad.new_zeros(k, ctx.n_in).index_add_(
                1, indices.reshape(-1), (grad * fprime).transpose(0, 1).reshape(k, -1)
            )
            per_input = per_input / counts.clamp_min(1.0)
            grad_v = per_input.gather(0, codes)  # (B, n_in): per_input[codes[b, j], j]
        return grad, grad_v, None, None, None, None


class EdgeLayer(WiredNodes, LayerHooks, nn.Module):
    """``n_out`` neurons, each the sum of ``F`` quantized one-input edge functions.

    ``indices`` (n_out, F): the source signal of every edge. Non-output layers own the neuron's
    requantization (``requant``), applied by the next layer to this layer's sums.
    """

    indices: torch.Tensor  # registered buffer

    def __init__(
        self, indices: torch.Tensor, hidden: int, edge_bits: int, act_bits: int | None, batch_norm: bool
    ) -> None:
        super().__init__()
        n_out, fan_in = indices.shape
        self.register_buffer("indices", indices.to(torch.int64).clone())
        self.hidden, self.max_bits = int(hidden), int(edge_bits)
        shape = (n_out, fan_in)
        if self.hidden > 0:
            # x in [0, ~4]: first-layer weights ~ U(-2, 2) spread the tanh kinks over the input range
            self.w1 = nn.Parameter(torch.empty(*shape, hidden).uniform_(-2.0, 2.0))
            self.b1 = nn.Parameter(torch.empty(*shape, hidden).uniform_(-1.0, 1.0))
            bound = 1.0 / math.sqrt(hidden * fan_in)
            self.w2 = nn.Parameter(torch.empty(*shape, hidden).uniform_(-bound, bound) * math.sqrt(fan_in))
        else:
            self.w1 = nn.Parameter(torch.empty(*shape).uniform_(-1.0, 1.0))
        self.b2 = nn.Parameter(torch.zeros(shape))
        self.bit_param = nn.Parameter(torch.full(shape, edge_bits / _BIT_RATE))
        self.edge_quant = make_act_quant(edge_bits, signed=True)
        self.is_output = act_bits is None
        self.bn = nn.BatchNorm1d(n_out) if batch_norm and not self.is_output else None
        if act_bits is not None:  # not self.is_output
            self.act_bits = int(act_bits)
            self.out_quant = make_act_quant(act_bits, signed=False)

    def _is_dense(self, n_in: int) -> bool:
        """Whether every neuron reads inputs 0..n_in-1 in order (the table needs no spreading)."""
        indices = cast(torch.Tensor, self._buffers["indices"])
        return self.fan_in == n_in and bool((indices == torch.arange(n_in, device=indices.device)).all())

    # ------------------------------------------------------------------ edges
    def edge_bits(self) -> torch.Tensor:
        """Per-edge bitwidths in [0, edge_bits] (integers in value, straight-through gradients)."""
        return torch.clamp(_round_ste(self.bit_param * _BIT_RATE), 0.0, float(self.max_bits))

    def edge_mask(self) -> torch.Tensor:
        """Live edges (bitwidth >= 1); the others always output 0."""
        return self.edge_bits().detach() > 0.5

    def _edge_outputs(self, xk: torch.Tensor, exact_ops: bool) -> torch.Tensor:
        """(K,) input values -> (n_out, K, F) edge outputs before quantization, with autograd. With
        ``exact_ops``: ``_exact.tanh`` and the hidden sum as ordered adds from the bias (the exact path);
        else the training ops (``torch.tanh``, ``sum``), the values ``_EdgeTableSum`` computes."""
        if self.hidden == 0:
            return xk[:, None] * self.w1[:, None] + self.b2[:, None]
        pre = xk[:, None, None] * self.w1[:, None] + self.b1[:, None]  # (n_out, K, F, H)
        if not exact_ops:
            return (torch.tanh(pre) * self.w2[:, None]).sum(-1) + self.b2[:, None]
        h = exact.tanh(pre)
        y = self.b2[:, None].expand(h.shape[:-1])
        for j in range(self.hidden):  # fixed accumulation order over hidden units
            y = y + h[..., j] * self.w2[:, None, :, j]
        return y

    def _exact_table(self, xk: torch.Tensor) -> torch.Tensor:
        """(n_out, K, F) integer-valued edge codes for input values ``xk`` (K,), from ``_exact``
        operations only (see the module docstring): the codes every exact-path sample looks up."""
        y = self._edge_outputs(xk, exact_ops=True)
        code = to_codes(self.edge_quant, y).to(y.dtype)  # Brevitas' elementwise quantizer: clamp(round(y / s))
        bits = torch.clamp(torch.round(self.bit_param * _BIT_RATE), 0.0, float(self.max_bits))
        steps = torch.tensor(
            [2.0 ** (self.max_bits - b) for b in range(self.max_bits + 1)], dtype=y.dtype, device=y.device
        )
        step = steps[bits.to(torch.int64)].unsqueeze(1)  # exact powers of two, from Python floats
        q = step * torch.round(code / step)  # integers over powers of two: exact
        half = float(1 << (self.max_bits - 1))
        return torch.clamp(q, -half, half - 1.0)

    def _train_sums(
        self, v: torch.Tensor, codes: torch.Tensor, onehot: torch.Tensor, xk: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: input values ``v`` (B, n_in), their ``codes`` (B, n_in, integer-valued floats) and
        ``_one_hot`` rows, ``xk`` (K,) the value of each code -> (B, n_out) adder outputs and the edge
        scale (``_EdgeTableSum``)."""
        n_in = v.shape[1]
        quant: Any = self.edge_quant  # Brevitas is untyped: its attributes are not a Module's
        fast = training_constants(quant)
        tq = quant.act_quant.fused_activation_quant_proxy.tensor_quant
        if fast is not None:  # past Brevitas' statistics phase: the scale from its learned parameter
            scaling, threshold, min_val, lo, hi = fast[:5]
            sv, from_value = scaling.value, True
        else:  # Brevitas computes the scale from max |edge output| over the codes the batch uses
            bits_t = tq.msb_clamp_bit_width_impl()
            lo, hi = float(tq.int_quant.min_int(bits_t)), float(tq.int_quant.max_int(bits_t))
            threshold = min_val = 1.0
            counts = onehot.view(onehot.shape[0], -1, n_in).sum(0)  # (K, n_in) samples per code
            used = (counts > 0)[:, self.indices].transpose(0, 1)  # (n_out, K, F)
            y = self._edge_outputs(xk, exact_ops=False)
            with torch.no_grad():
                if self.hidden:
                    h = torch.tanh(xk[:, None, None] * self.w1[:, None] + self.b1[:, None])
                    fprime = ((1.0 - h * h) * (self.w1 * self.w2)[:, None]).sum(-1)
                else:
                    fprime = self.w1[:, None].expand_as(y).contiguous()
            tapped = _StatsTap.apply(
                torch.where(used, y, torch.zeros_like(y)), v, codes.to(torch.int64), fprime, counts, self.indices
            )
            was = quant.return_quant_tensor
            quant.return_quant_tensor = True
            try:
                sv = quant(tapped).scale
            finally:
                quant.return_quant_tensor = was
            from_value = False
        consts = (
            self.indices,
            self._is_dense(n_in),
            self.max_bits,
            float(lo),
            float(hi),
            from_value,
            float(threshold),
            float(min_val),
        )
        b1 = self.b1 if self.hidden else None
        w2 = self.w2 if self.hidden else None
        return _EdgeTableSum.apply(v, onehot, xk, self.w1, b1, w2, self.b2, self.edge_bits(), sv, consts)

    def _exact_sums(self, codes: torch.Tensor, xk: torch.Tensor) -> torch.Tensor:
        """Exact path: (B, n_out) integer-valued adder outputs of input codes (B, n_in); each edge's
        code is gathered from the table and the F codes are added in order (integers: exact)."""
        table = self._exact_table(xk)  # (n_out, K, F)
        k, fan_in = table.shape[1], self.fan_in
        flat = table.reshape(-1)
        base = torch.arange(self.n_out, dtype=torch.int64, device=codes.device) * (k * fan_in)
        acc = None
        for i in range(fan_in):  # one gather + one add per input slot
            term = flat[base + codes[:, self.indices[:, i]] * fan_in + i]
            acc = term if acc is None else acc.add_(term)
        return cast(torch.Tensor, acc)  # fan_in >= 1: set

    # ------------------------------------------------------------------ neuron requantization
    def requant(self, acc: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Adder outputs (..., n_out) -> quantized activations (value, int64 codes, scale), elementwise
        per channel in evaluation (``_exact.batch_norm``), batch-norm's training step in training."""
        pre = acc * scale
        if self.bn is not None:
            pre = self.bn(pre) if self.bn.training else exact.batch_norm(pre, self.bn)
        return quantize_with_codes(self.out_quant, pre)

    def regularization(self) -> torch.Tensor:
        return torch.relu(self.bit_param * _BIT_RATE).mean()


def adder_bits(n_terms: int, edge_bits: int) -> int:
    return AdderLayer.required_bits(max(1, int(n_terms)), edge_bits, True, True)


def _code_values(scale: torch.Tensor, bits: int, dtype: torch.dtype) -> torch.Tensor:
    """(2^bits,) the values k * scale an unsigned quantizer outputs for codes k (one multiply each,
    as the quantizers compute them)."""
    return torch.arange(1 << bits, dtype=dtype, device=scale.device) * scale.to(dtype)


class HGQNetwork(LUTNetwork):
    """Input quantizer + ``EdgeLayer`` stack; logits = scale x output adders."""

    def __init__(self, n_inputs: int, input_bits: int, layers: list[EdgeLayer], sparsity: float) -> None:
        super().__init__(n_inputs, input_bits, layers)
        self.sparsity = float(sparsity)

    @property
    def edge_layers(self) -> Sequence[EdgeLayer]:
        """``layers``, typed: every layer is an ``EdgeLayer``."""
        return cast("Sequence[EdgeLayer]", self.layers)

    def _scale(self, layer: EdgeLayer) -> torch.Tensor:
        return quant_scale(layer.edge_quant)

    def _input_scale(self, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
        """The input quantizer's scale (a constant: cached per dtype and device)."""
        key = f"_input_scale_{dtype}_{device}"
        s = self.__dict__.get(key)
        if s is None:
            s = self.__dict__[key] = quant_scale(self.input_quant).to(dtype=dtype, device=device)
        return s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.input_quant(x)
        s = self._input_scale(v.dtype, v.device)
        codes = torch.round(v / s).clamp_(0, (1 << self.input_bits) - 1)
        if not self.training:
            return self._exact_logits(codes.to(torch.int64), v.dtype)
        bits = self.input_bits
        for layer in self.edge_layers:
            xk = _code_values(s, bits, v.dtype)
            acc, scale = layer._train_sums(v, codes, _one_hot(codes, 1 << bits, v.dtype), xk)
            if layer.is_output:
                return acc * scale
            v, codes, s = layer.requant(acc, scale)
            codes, bits = codes.to(v.dtype), layer.act_bits
        raise RuntimeError("HGQNetwork has no output layer")

    def _exact_accs(self, codes: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact path: input codes (B, n_inputs) -> the output adders (B, n_classes) and their scale."""
        s, bits = self._input_scale(dtype, codes.device), self.input_bits
        for layer in self.edge_layers:
            acc = layer._exact_sums(codes, _code_values(s, bits, dtype))
            scale = self._scale(layer).to(dtype)
            if layer.is_output:
                return acc, scale
            _, codes, s = layer.requant(acc, scale)
            bits = layer.act_bits
        raise RuntimeError("HGQNetwork has no output layer")

    def _exact_logits(self, codes: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Evaluation: logits of the exact path (``predict_codes``' adders times the output scale)."""
        acc, scale = self._exact_accs(codes, dtype)
        return acc * scale

    def regularization(self) -> torch.Tensor | float:
        if self.sparsity <= 0:
            return 0.0
        return self.sparsity * sum(layer.regularization() for layer in self.edge_layers) / len(self.layers)

    def output_quant_slot(self) -> tuple[nn.Module, str]:
        """Where the logits' scale lives (ensembles share it across members)."""
        return self.layers[-1], "edge_quant"

    # ------------------------------------------------------------------ widths
    def adder_widths(self) -> list[int]:
        return [adder_bits(int(layer.edge_mask().sum(1).max()), layer.max_bits) for layer in self.edge_layers]

    def output_code_bits(self) -> int:
        return self.adder_widths()[-1]

    def output_code_signed(self) -> bool:
        return True

    @property
    def n_outputs(self) -> int:
        return self.edge_layers[-1].n_out

    def max_address_bits(self) -> int:
        return max([self.input_bits] + self.adder_widths()[:-1])

    # ------------------------------------------------------------------ exact path
    @torch.no_grad()
    def predict_codes(self, codes: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        out_bits = self.output_code_bits()
        with self.exact() as exact_twin:
            twin = cast(HGQNetwork, exact_twin)
            outs = []
            for start in range(0, len(codes), batch_size):
                chunk = torch.as_tensor(np.asarray(codes[start : start + batch_size]), dtype=torch.int64)
                outs.append(twin._exact_accs(chunk, torch.float64)[0].to(torch.int64).numpy())
        total = np.concatenate(outs) if outs else np.zeros((0, self.n_outputs), dtype=np.int64)
        return to_unsigned(total, out_bits)

    @torch.no_grad()
    def to_tables(self, meta: dict[str, Any] | None = None) -> TruthTableNetwork:
        widths = self.adder_widths()
        layers: list[TableLayer | AdderLayer] = []
        with self.exact() as exact_twin:
            twin = cast(HGQNetwork, exact_twin)
            in_bits, in_signed = self.input_bits, False
            s, k_bits = twin._input_scale(torch.float64), self.input_bits
            for i, layer in enumerate(twin.edge_layers):
                table = layer._exact_table(_code_values(s, k_bits, torch.float64))  # (n_out, K, F)
                if i == 0:  # input codes 0..K-1 are the table addresses
                    codes = table
                else:  # address = the previous adder's signed code: its requantized code picks the entry
                    prev = twin.edge_layers[i - 1]
                    dom = enumerate_codes(1, in_bits, in_signed)[:, 0].to(torch.float64)  # address order
                    grid = dom[:, None].expand(len(dom), prev.n_out)
                    _, hidden_codes, _ = prev.requant(grid, twin._scale(prev).to(torch.float64))
                    pick = hidden_codes[:, layer.indices].transpose(0, 1)  # (n_out, E, F)
                    codes = table.gather(1, pick)
                tables = codes.transpose(1, 2).to(torch.int64).reshape(layer.n_out * layer.fan_in, -1).numpy()
                layers.append(
                    TableLayer(
                        indices=layer.indices.reshape(-1, 1).numpy(),
                        tables=to_unsigned(tables, layer.max_bits),
                        in_bits=in_bits,
                        out_bits=layer.max_bits,
                        in_signed=in_signed,
                        out_signed=True,
                        name=f"layer{i}_edges",
                    )
                )
                layers.append(
                    AdderLayer(
                        indices=np.arange(layer.n_out * layer.fan_in).reshape(layer.n_out, layer.fan_in),
                        mask=layer.edge_mask().numpy(),
                        in_bits=layer.max_bits,
                        out_bits=widths[i],
                        in_signed=True,
                        out_signed=True,
                        name=f"layer{i}_sum",
                    )
                )
                if not layer.is_output:  # the next layer's table is indexed by this layer's requantized codes
                    s = quant_scale(layer.out_quant).to(torch.float64)
                    k_bits = layer.act_bits
                in_bits, in_signed = widths[i], True
        return TruthTableNetwork(
            n_inputs=self.n_inputs,
            input_bits=self.input_bits,
            layers=layers,
            meta={"family": self.family, "config": self.config, **(meta or {})},
        )


# ---------------------------------------------------------------------- registration
def _layer_shapes(params: dict[str, Any], n_inputs: int, n_classes: int) -> list[tuple[int, int, int, int]]:
    """(n_in, n_out, fan_in, edge_bits) per layer."""
    widths = list(params["widths"]) + [n_classes]
    shapes, n_in = [], n_inputs
    for i, n_out in enumerate(widths):
        last = i == len(widths) - 1
        fan_in = n_in if params["dense"] else layer_fan_in(params, i, len(widths), n_in)
        bits = params["output_bits"] if last else params["edge_bits"]
        if bits < 2:
            raise ValueError("hgq: edge codes are signed and need at least 2 bits")
        shapes.append((n_in, n_out, fan_in, bits))
        n_in = n_out
    return shapes


def plan(params: dict[str, Any], n_inputs: int, n_classes: int) -> list[LayerPlan]:
    """The edge-table layers before training (worst case: no edge pruned)."""
    plans, in_bits, in_signed = [], params["input_bits"], False
    for n_in, n_out, fan_in, bits in _layer_shapes(params, n_inputs, n_classes):
        plans.append(LayerPlan(n_in, n_out * fan_in, 1, in_bits, in_signed, bits, True))
        in_bits, in_signed = adder_bits(fan_in, bits), True
    return plans


def build(params, n_inputs, n_classes, generator) -> HGQNetwork:
    shapes = _layer_shapes(params, n_inputs, n_classes)
    layers = []
    for i, (n_in, n_out, fan_in, bits) in enumerate(shapes):
        if fan_in == n_in:
            indices = torch.arange(n_in).repeat(n_out, 1)
        else:
            indices = random_indices(n_in, n_out, fan_in, generator)
        last = i == len(shapes) - 1
        layers.append(
            EdgeLayer(
                indices, params["edge_hidden"], bits, None if last else params["hidden_bits"], params["batch_norm"]
            )
        )
    return HGQNetwork(n_inputs, params["input_bits"], layers, params["sparsity"])


register_family(
    FamilySpec(
        name="hgq",
        build=build,
        knobs={
            "edge_hidden": Knob("int", 8, "tanh units of each edge's one-input MLP (0: affine edge)"),
            "edge_bits": Knob("int", 3, "signed bits of hidden layers' edge tables (output layer: output_bits)"),
            "output_bits": Knob("int", 4, "signed bits of the output layer's edge tables"),
            "dense": Knob("bool", True, "every neuron has an edge from every input (else the fan-in knobs)"),
            "sparsity": Knob("float", 0.0, "weight of mean per-edge bitwidth in the loss (edge pruning pressure)"),
        },
        doc=__doc__.splitlines()[0],
        plan=plan,
    )
)
