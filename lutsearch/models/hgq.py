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

Bit-exactness: the exact path and the table enumeration run the same float64 modules on integer
codes; batch-norm is applied elementwise in eval and the edge MLP's hidden sum is accumulated in a
fixed order, so nothing depends on the batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from lutsearch.models._base import LUTNetwork, enumerate_codes, random_indices
from lutsearch.models._quant import make_act_quant, quant_scale
from lutsearch.models._registry import FamilySpec, Knob, LayerPlan, register_family
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork, to_unsigned

__all__ = ["EdgeLayer", "HGQNetwork"]

# Per-edge bitwidth = _BIT_RATE * parameter: Adam then moves bitwidths about _BIT_RATE times faster
# than weights, so the sparsity pressure acts within short trainings.
_BIT_RATE = 10.0


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


class EdgeLayer(nn.Module):
    """``n_out`` neurons, each the sum of ``F`` quantized one-input edge functions.

    ``indices`` (n_out, F): the source signal of every edge. Non-output layers own the neuron's
    requantization (``requant``), applied by the next layer to this layer's sums.
    """

    def __init__(self, indices: torch.Tensor, hidden: int, edge_bits: int, act_bits: int | None,
                 batch_norm: bool) -> None:
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
        self.edge_quant.return_quant_tensor = True
        self.is_output = act_bits is None
        self.bn = nn.BatchNorm1d(n_out) if batch_norm and not self.is_output else None
        if not self.is_output:
            self.out_quant = make_act_quant(act_bits, signed=False)

    @property
    def n_out(self) -> int:
        return self.indices.shape[0]

    @property
    def fan_in(self) -> int:
        return self.indices.shape[1]

    # ------------------------------------------------------------------ edges
    def edge_function(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_out, F) edge inputs -> (B, n_out, F) edge pre-quantization outputs."""
        if self.hidden == 0:
            return x * self.w1 + self.b2
        h = torch.tanh(x[..., None] * self.w1 + self.b1)
        if self.training:
            return (h * self.w2).sum(-1) + self.b2
        y = self.b2.expand(h.shape[:-1])
        for k in range(self.hidden):  # fixed accumulation order over hidden units (batch-invariant)
            y = y + h[..., k] * self.w2[..., k]
        return y

    def edge_bits(self) -> torch.Tensor:
        """Per-edge bitwidths in [0, edge_bits] (integers in value, straight-through gradients)."""
        return torch.clamp(_round_ste(self.bit_param * _BIT_RATE), 0.0, float(self.max_bits))

    def edge_mask(self) -> torch.Tensor:
        """Live edges (bitwidth >= 1); the others always output 0."""
        return self.edge_bits().detach() > 0.5

    def edge_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer-valued signed codes (B, n_out, F) of every edge (exact integers in eval), scale.

        An edge of bitwidth b keeps the top b bits of the layer's ``edge_bits`` code: its step is
        2^(edge_bits - b) codes (HGQ's per-weight fixed-point precision), so b = 0 rounds every
        output to 0. The step's gradient is the rounding error (HGQ's surrogate d(q)/d(b) =
        -ln2 * (q - c)), which the loss weighs against the bitwidth penalty.
        """
        qt = self.edge_quant(self.edge_function(x))
        code = qt.value / qt.scale
        step = torch.exp2(self.max_bits - self.edge_bits())
        if self.training:
            u = code / step
            q = code + step * (torch.round(u) - u).detach()
        else:  # integers over powers of two: exact in floating point
            q = step * torch.round(torch.round(code) / step)
        half = float(1 << (self.max_bits - 1))
        return torch.clamp(q, -half, half - 1.0), qt.scale

    def sums(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_in) source values -> (B, n_out) integer-valued adder outputs, and their scale."""
        code, scale = self.edge_codes(x[:, self.indices])
        return code.sum(-1), scale

    # ------------------------------------------------------------------ neuron requantization
    def requant(self, acc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Adder outputs (..., n_out) -> quantized activations, elementwise per channel."""
        pre = acc * scale
        if self.bn is not None:
            if self.training:
                pre = self.bn(pre)
            else:  # elementwise eval batch-norm: identical for every batch shape
                bn = self.bn
                factor = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                pre = (pre - bn.running_mean) * factor + bn.bias
        return self.out_quant(pre)

    def regularization(self) -> torch.Tensor:
        return torch.relu(self.bit_param * _BIT_RATE).mean()


def adder_bits(n_terms: int, edge_bits: int) -> int:
    return AdderLayer.required_bits(max(1, int(n_terms)), edge_bits, True, True)


class HGQNetwork(LUTNetwork):
    """Input quantizer + ``EdgeLayer`` stack; logits = scale x output adders."""

    def __init__(self, n_inputs: int, input_bits: int, layers: list[EdgeLayer], sparsity: float) -> None:
        super().__init__(n_inputs, input_bits, layers)
        self.sparsity = float(sparsity)

    def _scale(self, layer: EdgeLayer) -> torch.Tensor:
        return quant_scale(layer.edge_quant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.input_quant(x)
        for layer in self.layers:
            acc, scale = layer.sums(v)
            if layer.is_output:
                return acc * scale
            v = layer.requant(acc, scale)
        raise RuntimeError("HGQNetwork has no output layer")

    def regularization(self) -> torch.Tensor | float:
        if self.sparsity <= 0:
            return 0.0
        return self.sparsity * sum(layer.regularization() for layer in self.layers) / len(self.layers)

    def output_quant_slot(self) -> tuple[nn.Module, str]:
        """Where the logits' scale lives (ensembles share it across members)."""
        return self.layers[-1], "edge_quant"

    # ------------------------------------------------------------------ widths
    def adder_widths(self) -> list[int]:
        return [adder_bits(int(layer.edge_mask().sum(1).max()), layer.max_bits) for layer in self.layers]

    def output_code_bits(self) -> int:
        return self.adder_widths()[-1]

    def output_code_signed(self) -> bool:
        return True

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    def max_address_bits(self) -> int:
        return max([self.input_bits] + self.adder_widths()[:-1])

    # ------------------------------------------------------------------ exact path
    @torch.no_grad()
    def predict_codes(self, codes: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        out_bits = self.output_code_bits()
        with self.exact() as twin:
            in_scale = quant_scale(twin.input_quant)
            outs = []
            for start in range(0, len(codes), batch_size):
                v = torch.as_tensor(codes[start:start + batch_size], dtype=torch.float64) * in_scale
                acc = None  # the previous layer's adder sums (integers)
                for i, layer in enumerate(twin.layers):
                    if i > 0:
                        prev = twin.layers[i - 1]
                        v = prev.requant(acc, twin._scale(prev))
                    acc = layer.sums(v)[0]
                outs.append(acc.to(torch.int64).numpy())
        total = np.concatenate(outs) if outs else np.zeros((0, self.n_outputs), dtype=np.int64)
        return to_unsigned(total, out_bits)

    @torch.no_grad()
    def to_tables(self, meta: dict[str, Any] | None = None) -> TruthTableNetwork:
        widths = self.adder_widths()
        layers: list[TableLayer | AdderLayer] = []
        with self.exact() as twin:
            in_bits, in_signed = self.input_bits, False
            for i, layer in enumerate(twin.layers):
                dom = enumerate_codes(1, in_bits, in_signed)[:, 0].to(torch.float64)  # address order
                n_src = twin.n_inputs if i == 0 else twin.layers[i - 1].n_out
                grid = dom[:, None].expand(len(dom), n_src)
                if i == 0:
                    v = grid * quant_scale(twin.input_quant)
                else:
                    prev = twin.layers[i - 1]
                    v = prev.requant(grid, twin._scale(prev))
                code = layer.edge_codes(v[:, layer.indices])[0].to(torch.int64)  # (E, n_out, F)
                tables = code.permute(1, 2, 0).reshape(layer.n_out * layer.fan_in, len(dom)).numpy()
                layers.append(TableLayer(
                    indices=layer.indices.reshape(-1, 1).numpy(),
                    tables=to_unsigned(tables, layer.max_bits),
                    in_bits=in_bits, out_bits=layer.max_bits, in_signed=in_signed, out_signed=True,
                    name=f"layer{i}_edges",
                ))
                layers.append(AdderLayer(
                    indices=np.arange(layer.n_out * layer.fan_in).reshape(layer.n_out, layer.fan_in),
                    mask=layer.edge_mask().numpy(),
                    in_bits=layer.max_bits, out_bits=widths[i], in_signed=True, out_signed=True,
                    name=f"layer{i}_sum",
                ))
                in_bits, in_signed = widths[i], True
        return TruthTableNetwork(
            n_inputs=self.n_inputs, input_bits=self.input_bits, layers=layers,
            meta={"family": self.family, "config": self.config, **(meta or {})},
        )

    def pruned_fraction(self) -> float:
        masks = [layer.edge_mask() for layer in self.layers]
        return 1.0 - float(sum(int(m.sum()) for m in masks)) / sum(m.numel() for m in masks)


# ---------------------------------------------------------------------- registration
def _layer_shapes(params: dict[str, Any], n_inputs: int, n_classes: int) -> list[tuple[int, int, int, int]]:
    """(n_in, n_out, fan_in, edge_bits) per layer."""
    widths = list(params["widths"]) + [n_classes]
    shapes, n_in = [], n_inputs
    for i, n_out in enumerate(widths):
        last = i == len(widths) - 1
        if params["dense"]:
            fan_in = n_in
        else:
            fan_in = params["input_fan_in"] if i == 0 else params["output_fan_in"] if last else params["fan_in"]
        if fan_in > n_in:
            raise ValueError(f"layer {i}: fan-in {fan_in} exceeds its {n_in} inputs")
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
        layers.append(EdgeLayer(indices, params["edge_hidden"], bits, None if last else params["hidden_bits"],
                                params["batch_norm"]))
    return HGQNetwork(n_inputs, params["input_bits"], layers, params["sparsity"])


register_family(FamilySpec(
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
))
