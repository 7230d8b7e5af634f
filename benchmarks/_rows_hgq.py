"""``train_throughput.py`` row for HGQ-LUT (``python benchmarks/train_throughput.py --only hgq-jsc``).

The configuration is the one a user timed on an AMD CPU at 3,123 samples/s: HGQ JSC, widths [64, 32],
``edge_hidden`` 4, ``edge_bits`` 3 (other knobs at their defaults: 2-bit inputs and hidden
activations, 4-bit output edges, dense edges), batch 1024, 16 features, 5 classes. Target: >= 40k
samples/s for lutsearch's model.

* Ours: ``lutsearch.models.hgq``: each layer trains on its (n_out, K, F) table of edge codes (one
  autograd node: the edge MLPs, quantizer and bitwidth step on the K values a quantized input can
  take, then a one-hot matmul per sample; see that module's docstring).
* Reference style, HGQ2's ``QDenseT`` (calad0i/HGQ2, ``hgq/layers/table/dense.py``), re-implemented
  here in PyTorch from its description (not copied): the layer input (B, n_in) is broadcast to every
  edge (B, n_in, n_out); each edge's one-input MLP is an einsum over edges with per-edge weights
  (``...iod,iodD->...ioD``, bias, tanh, then ``...iod,iod->...io`` and bias); each edge output goes
  through the table quantizer; the layer's output is the sum over inputs. The quantizers are the same
  as ours (Brevitas' signed learned-scale quantizer with HGQ's per-edge bitwidth step, batch-norm and
  an unsigned quantizer between layers), trained through Brevitas' own autograd graph as reference
  code does. So every sample evaluates every edge's MLP: ~120 kFLOP per sample forward + backward.
* Plain: a lutsearch NeuraLUT network of the same widths [64, 32] (fan-in 3, 2-bit activations, its
  default sub-networks: 4 layers of width 16 with skips), ~65k parameters against HGQ's ~45k.
"""

from __future__ import annotations

import math

import torch
from _rows import ExtraRow
from torch import nn

from lutsearch.models import build_model
from lutsearch.models._quant import make_act_quant, make_input_quant, set_fused_training
from lutsearch.models._registry import resolve_params

HGQ_PARAMS = {"widths": [64, 32], "edge_hidden": 4, "edge_bits": 3}
PLAIN_PARAMS = {"widths": [64, 32], "input_bits": 2, "hidden_bits": 2}
_BIT_RATE = 10.0  # as lutsearch.models.hgq: bitwidth = 10 x its parameter


class RefTableDense(nn.Module):
    """One ``QDenseT``-style layer: every (input i, output o) edge a one-input MLP, evaluated per sample."""

    def __init__(self, n_in: int, n_out: int, hidden: int, edge_bits: int, act_bits: int | None) -> None:
        super().__init__()
        shape = (n_in, n_out, hidden)
        self.w1 = nn.Parameter(torch.empty(shape).uniform_(-2.0, 2.0))
        self.b1 = nn.Parameter(torch.empty(shape).uniform_(-1.0, 1.0))
        bound = 1.0 / math.sqrt(hidden)
        self.w2 = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.b2 = nn.Parameter(torch.zeros(n_in, n_out))
        self.bit_param = nn.Parameter(torch.full((n_in, n_out), edge_bits / _BIT_RATE))
        self.max_bits = edge_bits
        self.toq = make_act_quant(edge_bits, signed=True)
        self.toq.return_quant_tensor = True
        self.bn = nn.BatchNorm1d(n_out) if act_bits is not None else None
        self.act = make_act_quant(act_bits, signed=False) if act_bits is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_in, n_out = self.b2.shape
        x = x[:, :, None].expand(x.shape[0], n_in, n_out)  # (B, i, o): every edge gets its input
        h = torch.tanh(torch.einsum("bio,ioh->bioh", x, self.w1) + self.b1)
        y = torch.einsum("bioh,ioh->bio", h, self.w2) + self.b2
        qt = self.toq(y)  # the table quantizer, Brevitas' graph
        code = qt.value / qt.scale
        bits = torch.clamp(
            self.bit_param * _BIT_RATE
            + (torch.round(self.bit_param * _BIT_RATE) - self.bit_param * _BIT_RATE).detach(),
            0.0,
            self.max_bits,
        )
        step = torch.exp2(self.max_bits - bits)  # HGQ's per-edge precision, rounding-error surrogate
        u = code / step
        half = float(1 << (self.max_bits - 1))
        q = torch.clamp(code + step * (torch.round(u) - u).detach(), -half, half - 1.0)
        acc = q.sum(1) * qt.scale  # sum over inputs
        if self.act is None:
            return acc
        return self.act(self.bn(acc))


class RefHGQ(nn.Module):
    def __init__(self, n_features: int, n_classes: int, params: dict) -> None:
        super().__init__()
        self.input_quant = make_input_quant(params["input_bits"])
        widths = list(params["widths"]) + [n_classes]
        layers, n_in = [], n_features
        for i, n_out in enumerate(widths):
            last = i == len(widths) - 1
            layers.append(
                RefTableDense(
                    n_in,
                    n_out,
                    params["edge_hidden"],
                    params["output_bits"] if last else params["edge_bits"],
                    None if last else params["hidden_bits"],
                )
            )
            n_in = n_out
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.input_quant(x))


def build_ours(n_features: int, n_classes: int, seed: int) -> nn.Module:
    return build_model("hgq", HGQ_PARAMS, n_features, n_classes, seed)


def build_reference(n_features: int, n_classes: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = RefHGQ(n_features, n_classes, resolve_params("hgq", HGQ_PARAMS))
    set_fused_training(model, False)  # reference code trains through Brevitas' own quantizer graph
    return model


def build_plain(n_features: int, n_classes: int, seed: int) -> nn.Module:
    return build_model("neuralut", PLAIN_PARAMS, n_features, n_classes, seed)


ROWS = [
    ExtraRow(
        name="hgq-jsc",
        n_features=16,
        n_classes=5,
        batch=1024,
        build_ours=build_ours,
        build_reference=build_reference,
        build_plain=build_plain,
        target=">= 40k samples/s",
        target_met=lambda r: r.ours_sps >= 40_000,
    )
]
