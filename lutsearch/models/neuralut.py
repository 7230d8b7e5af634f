"""NeuraLUT (Andronic & Constantinides, FPL 2024): each neuron hides a dense MLP with skip connections.

Neuron i is a small real-valued MLP of ``hidden_depth`` (L) linear layers of width ``hidden_width``
(N): F -> N -> ... -> N -> 1, ReLU between layers. With ``skip``, every pair of consecutive layers
gets a linear shortcut from the pair's input to the pair's output, added before the pair's
activation. With L = 4 this is exactly the reference structure (MartaAndronic/NeuraLUT,
``src/neuralut/nn.py``: fc1..fc4, ``res0`` F -> N added after fc2, ``res1`` N -> 1 added after fc4).
Only the sub-network's inputs and output are quantized, so the whole MLP is one L-LUT.

Vectorization: every sub-layer keeps per-neuron weights (n_out, d_out, d_in) and runs on activations
laid out (n_out, batch, width): the reference copies each neuron's input N times and multiplies-sums;
here a sub-layer is one batched matmul over neurons (``baddbmm``: the bias, or the skip's output,
is the accumulator), or for tiny maps (d_in * d_out < 16) a broadcast product and a reduction over
the short input axis. The backward is written by hand (``_SubNetworks``): ReLU in place, one fused
in-place ReLU-gradient pass per hidden layer, weight/input gradients as batched matmuls.

The exact path (evaluation: ``predict_codes`` and table enumeration) is ``_exact_forward``: every
sub-layer is ``_exact.per_neuron_affine``, the products of one input unit added to an accumulator
that starts at the bias (or the skip's output plus the bias), one input unit after another, with
separate correctly rounded multiplies and adds (one native call per sub-layer where the kernel
``_native/exact.cpp`` is built: the same operations, accumulators in registers, faster than the
batched matmuls it replaced; else PyTorch elementwise ops). No BLAS call decides the summation order (MKL picks
kernels per CPU and matrix shape: float64 results of ``bmm`` changed with the batch size on an AVX2
CPU), so the tables and the model agree on every CPU, thread count and batch size by construction.
Tests check neuron outputs bit for bit across batch sizes and layouts, and golden table hashes.

Training steps on CPU in float32 run a fused C++ kernel instead (``lutsearch.models._native.subnet``:
one neuron's whole MLP per block of samples in registers, the backward recomputing the forward),
inside a whole fused layer step where the layer allows it (``LUTLayer.fused_forward``: gather,
sub-networks, batch-norm and quantizer in one call). The exact path never runs them. Training
without a kernel (see ``lutsearch.models._native``) and float32 evaluation (validation between
epochs) take the batched-matmul path; its results are not part of the exactness contract.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lutsearch.models import _exact as exact
from lutsearch.models._base import GROUP_NORM_FLOOR, LUTNetwork, NeuronFunction
from lutsearch.models._group_prune import PRUNE_KNOBS
from lutsearch.models._native import layer as native_layer
from lutsearch.models._native import subnet as native_subnet
from lutsearch.models._registry import FamilySpec, Knob, register_family
from lutsearch.models.logicnets import build_layers

__all__ = ["MIN_BMM_ROWS", "SubNetworkNeurons", "per_neuron_affine"]

MIN_BMM_ROWS = 64  # with d_in * d_out >= 16 this keeps every bmm above PyTorch's slow naive-kernel cutoff
_MIN_BMM_WORK = 16


def per_neuron_affine(h: torch.Tensor, weight: torch.Tensor, init: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``init + h @ weight^T`` per neuron: h (n_out, M, d_in), weight (n_out, d_out, d_in), init
    broadcastable to (n_out, M, d_out), or of that exact shape and overwritten when ``inplace``.
    Callers guarantee M >= MIN_BMM_ROWS (see the module docstring)."""
    d_out, d_in = weight.shape[1], weight.shape[2]
    if d_in * d_out < _MIN_BMM_WORK:  # tiny maps: broadcast product + short-axis sum
        return (h[:, :, None, :] * weight[:, None]).sum(-1) + init
    if inplace:
        return init.baddbmm_(h, weight.transpose(1, 2))
    return torch.baddbmm(init, h, weight.transpose(1, 2))


def _linear_init(n_out: int, d_out: int, d_in: int) -> tuple[nn.Parameter, nn.Parameter]:
    # nn.Linear's default init (uniform +-1/sqrt(d_in) for weight and bias), as the reference uses.
    bound = 1.0 / math.sqrt(d_in)
    weight = nn.Parameter(torch.empty(n_out, d_out, d_in).uniform_(-bound, bound))
    bias = nn.Parameter(torch.empty(n_out, d_out).uniform_(-bound, bound))
    return weight, bias


def _weight_grad(g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """d loss / d weight (n_out, d_out, d_in) from g (n_out, B, d_out) and the layer input h."""
    return torch.bmm(g.transpose(1, 2), h)


def _input_grad(g: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """d loss / d input (n_out, B, d_in) from g (n_out, B, d_out) and weight (n_out, d_out, d_in)."""
    if g.shape[-1] == 1:
        return g * weight
    return torch.bmm(g, weight)


def _relu_backward_(g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Zero ``g`` where the ReLU output ``h`` is 0, in place on ``g`` (a gradient buffer the caller
    owns): one fused pass and no fresh (n_out, B, N) buffer per hidden layer (the out-of-place op
    took ~2x as long on (128, 1024, 16))."""
    return torch.ops.aten.threshold_backward.grad_input(g, h, 0.0, grad_input=g)


class _SubNetworks(torch.autograd.Function):
    """All neurons' MLPs, forward and a hand-written backward (ReLU applied in place, skips and
    biases folded into the matmuls' accumulators, no autograd bookkeeping per sub-layer). Written by
    hand because autograd's per-op graph (bias broadcasts, ReLU masks, adds) cost about 2x here."""

    @staticmethod
    def forward(ctx, x, neuron, *params):
        depth = neuron.depth
        weights, biases = params[:depth], params[depth : 2 * depth]
        skip_w, skip_b = params[2 * depth : 2 * depth + neuron.n_skips], params[2 * depth + neuron.n_skips :]
        h = x.transpose(0, 1).contiguous()  # (n_out, B, F): neurons are the matmul batch
        inputs, pending = [], None
        for l in range(depth):
            inputs.append(h)
            if l % 2 == 0 and l // 2 < neuron.n_skips:
                # Skip l//2 reads this layer's input; its output, with the next layer's bias folded
                # in, becomes the next layer's matmul accumulator (no separate add pass).
                b = l // 2
                pending = per_neuron_affine(h, skip_w[b], (skip_b[b] + biases[l + 1])[:, None, :])
                z = per_neuron_affine(h, weights[l], biases[l][:, None, :])
            elif pending is not None:  # accumulate into the skip's output in place
                z, pending = per_neuron_affine(h, weights[l], pending, inplace=True), None
            else:
                z = per_neuron_affine(h, weights[l], biases[l][:, None, :])
            h = z.clamp_min_(0.0) if l < depth - 1 else z
        ctx.neuron = neuron
        ctx.save_for_backward(*inputs, *params)
        return h[..., 0].t()

    @staticmethod
    def backward(ctx, grad):
        neuron = ctx.neuron
        depth, n_skips = neuron.depth, neuron.n_skips
        saved = ctx.saved_tensors
        inputs, params = saved[:depth], saved[depth:]
        weights, skip_w = params[:depth], params[2 * depth : 2 * depth + n_skips]
        g_w, g_b = [None] * depth, [None] * depth
        g_sw, g_sb = [None] * n_skips, [None] * n_skips
        g = grad.t().unsqueeze(-1).contiguous()  # d loss / d z of the last layer: (n_out, B, 1)
        g_skip = None  # d loss / d (skip output), set at a layer that ends a skip block
        for l in range(depth - 1, -1, -1):
            h = inputs[l]
            if l % 2 == 1 and (l // 2) < n_skips:
                g_skip = g  # the skip's output was added to this layer's pre-activation
            g_w[l], g_b[l] = _weight_grad(g, h), g.sum(1)
            g_h = _input_grad(g, weights[l])
            if l % 2 == 0 and l // 2 < n_skips:
                b = l // 2
                g_sw[b], g_sb[b] = _weight_grad(g_skip, h), g_skip.sum(1)
                if g_skip.shape[-1] == 1:
                    g_h.addcmul_(g_skip, skip_w[b])
                else:
                    g_h.baddbmm_(g_skip, skip_w[b])
            if l > 0:  # through the ReLU that produced h: one fused pass
                g = _relu_backward_(g_h, h)
        grad_x = g_h.transpose(0, 1) if ctx.needs_input_grad[0] else None
        return (grad_x, None, *g_w, *g_b, *g_sw, *g_sb)


class SubNetworkNeurons(NeuronFunction):
    """``n_out`` independent MLPs F -> N x (L-1) -> 1 with optional linear skips every two layers."""

    native_kernel = native_subnet.KERNEL

    def __init__(self, n_out: int, fan_in: int, width: int, depth: int, skip: bool) -> None:
        super().__init__(n_out, fan_in)
        if width < 1 or depth < 1:
            raise ValueError(f"neuralut: hidden_width and hidden_depth must be >= 1, got {width}, {depth}")
        self.width, self.depth, self.skip = int(width), int(depth), bool(skip)
        self.dims = [fan_in] + [self.width] * (self.depth - 1) + [1]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for l in range(self.depth):
            w, bias = _linear_init(n_out, self.dims[l + 1], self.dims[l])
            self.weights.append(w)
            self.biases.append(bias)
        # Skip b spans layers 2b and 2b+1: from dims[2b] to dims[2b+2].
        self.skip_weights, self.skip_biases = nn.ParameterList(), nn.ParameterList()
        if self.skip:
            for b in range(self.depth // 2):
                w, bb = _linear_init(n_out, self.dims[2 * b + 2], self.dims[2 * b])
                self.skip_weights.append(w)
                self.skip_biases.append(bb)

    @property
    def enumeration_width(self) -> int:
        """Floats held per (input, neuron) pair: sizes table-enumeration chunks."""
        return max(self.width, self.fan_in)

    @property
    def n_skips(self) -> int:
        return len(self.skip_weights)

    @torch.no_grad()
    def fold_input_scale(self, scale: torch.Tensor) -> bool:
        """The layers that read the F inputs (weight (n_out, d_out, F)) scale their columns."""
        for w in [self.weights[0]] + ([self.skip_weights[0]] if self.n_skips else []):
            w.mul_(scale[:, None, :].to(w.dtype))
        return True

    def input_group_norms(self) -> torch.Tensor:
        """The L2 norm of input j's column in the layers that read the F inputs (the first layer and,
        with ``skip``, the first skip)."""
        sq = self.weights[0].square().sum(1)  # (n_out, F)
        if self.n_skips:
            sq = sq + self.skip_weights[0].square().sum(1)
        return (sq + GROUP_NORM_FLOOR).sqrt()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if exact.active(self, x):
            return self._exact_forward(x)
        if self.training and torch.is_grad_enabled() and self.native_kernel.supports(self, x):
            return native_layer.neurons(self.native_kernel, self, x)
        params = [*self.weights, *self.biases, *self.skip_weights, *self.skip_biases]
        rows = x.shape[0]
        if rows < MIN_BMM_ROWS:  # keep every matmul on the BLAS path
            x = F.pad(x, (0, 0, 0, 0, 0, MIN_BMM_ROWS - rows))
        out = _SubNetworks.apply(x, self, *params)
        return out[:rows] if rows < MIN_BMM_ROWS else out

    def _exact_forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_out, F) -> (B, n_out) with ``_exact`` arithmetic only (see the module docstring): the
        same function as the training path, summed in a fixed order, on feature-major activations
        (n_out, width, B)."""
        h = x.permute(1, 2, 0).contiguous()  # (n_out, F, B)
        pending = None  # a skip block's output plus the next layer's bias
        for l in range(self.depth):
            weight, bias, relu = self.weights[l], self.biases[l][:, :, None], l < self.depth - 1
            if l % 2 == 0 and l // 2 < self.n_skips:
                b = l // 2
                pending = exact.per_neuron_affine(
                    h, self.skip_weights[b], (self.skip_biases[b] + self.biases[l + 1])[:, :, None]
                )
                h = exact.per_neuron_affine(h, weight, bias, relu)
            elif pending is not None:
                h, pending = exact.per_neuron_affine(h, weight, pending, relu), None
            else:
                h = exact.per_neuron_affine(h, weight, bias, relu)
        return h[:, 0, :].t()


def build(params, n_inputs, n_classes, generator) -> LUTNetwork:
    width, depth, skip = int(params["hidden_width"]), int(params["hidden_depth"]), bool(params["skip"])
    layers = build_layers(
        params, n_inputs, n_classes, generator, lambda p: SubNetworkNeurons(p.n_out, p.fan_in, width, depth, skip)
    )
    return LUTNetwork(n_inputs, params["input_bits"], layers)


register_family(
    FamilySpec(
        name="neuralut",
        build=build,
        knobs={
            "hidden_width": Knob("int", 16, "width N of each neuron's hidden MLP"),
            "hidden_depth": Knob("int", 4, "number L of linear layers in each neuron's MLP (F->N...->1)"),
            "skip": Knob("bool", True, "linear skip connection around every two MLP layers"),
            **PRUNE_KNOBS,
        },
        doc=__doc__.splitlines()[0],
    )
)
