"""WARP-LUTs (Gerlach et al., "WARP-LUTs: Walsh-Assisted Relaxation for Probabilistic Look Up
Tables", arXiv:2510.15655; WARP logic networks, arXiv:2602.03527).

A node is a k-input Boolean function stored as its 2^k Walsh-Hadamard coefficients c_S:
``f(x) = sum_S c_S prod_{j in S} (2 x_j - 1)``. Training relaxes it with a Gumbel-sigmoid,
``sigmoid((f(p) + logistic noise) / tau)`` on input probabilities p (the multilinear extension of
f is its expectation over independent inputs); evaluation and hardware use the hard node
``f(x) > 0``, whose truth table is the sign of the Walsh-Hadamard transform of c.

Network: input codes pass through a fixed thermometer (one bit per level ``code > t``, a fan-in-1
table layer; none when ``input_bits`` is 1), then ``widths`` layers of k-input nodes with random
connectivity (k = ``input_fan_in``/``fan_in``), then ``n_classes * group_size`` output nodes
(k = ``output_fan_in``) whose per-class popcount (an ``AdderLayer``) is the logit, divided by
``group_tau`` in training (the GroupSum of differentiable logic gate networks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from lutsearch.models._base import LUTNetwork, enumerate_codes, random_indices
from lutsearch.models._quant import to_codes
from lutsearch.models._registry import FamilySpec, Knob, LayerPlan, register_family
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork

__all__ = ["WalshNodes", "WARPNetwork", "walsh_basis"]


def walsh_basis(z: torch.Tensor) -> torch.Tensor:
    """(..., k) signed inputs -> (..., 2^k) products; subset S = bit pattern of the last index."""
    basis = torch.ones(*z.shape[:-1], 1, dtype=z.dtype, device=z.device)
    for j in range(z.shape[-1]):  # loop over the k inputs of a node (k <= 6)
        basis = torch.cat([basis, basis * z[..., j:j + 1]], dim=-1)
    return basis


class WalshNodes(nn.Module):
    """``n`` WARP nodes of ``k`` inputs each, reading ``indices`` (n, k) of the previous layer."""

    def __init__(self, indices: torch.Tensor, tau: float, gumbel: bool, residual_init: float) -> None:
        super().__init__()
        n, k = indices.shape
        self.register_buffer("indices", indices.to(torch.int64).clone())
        self.tau, self.gumbel = float(tau), bool(gumbel)
        coeffs = torch.randn(n, 1 << k) * 0.1
        coeffs[:, 1] += residual_init  # S = {input 0}: the node starts as a copy of its first input
        self.coeffs = nn.Parameter(coeffs)

    @property
    def n_out(self) -> int:
        return self.indices.shape[0]

    @property
    def fan_in(self) -> int:
        return self.indices.shape[1]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, k) inputs in [0, 1] -> (B, n) Walsh expansion."""
        basis = walsh_basis(2.0 * x - 1.0)
        if self.training:
            return (basis * self.coeffs).sum(-1)
        out = torch.zeros(basis.shape[:-1], dtype=basis.dtype)
        for s in range(basis.shape[-1]):  # fixed summation order: data path == enumeration, bit for bit
            out = out + basis[..., s] * self.coeffs[:, s]
        return out

    def forward(self, prev: torch.Tensor) -> torch.Tensor:
        f = self.logits(prev[:, self.indices])
        if not self.training:
            return (f > 0).to(f.dtype)
        if self.gumbel:  # Gumbel-sigmoid: the difference of two Gumbels is logistic noise
            u = torch.rand_like(f).clamp(1e-6, 1 - 1e-6)
            f = f + torch.log(u) - torch.log1p(-u)
        return torch.sigmoid(f / self.tau)

    @torch.no_grad()
    def truth_tables(self) -> np.ndarray:
        """Hard outputs (n, 2^k) for every address (input j = address bit j)."""
        x = enumerate_codes(self.fan_in, 1, False).to(self.coeffs.dtype)  # (2^k, k)
        x = x[:, None, :].expand(x.shape[0], self.n_out, self.fan_in)
        return (self.logits(x) > 0).to(torch.int64).T.numpy()


def thermometer(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(B, n) codes of ``bits`` bits -> (B, n * (2^bits - 1)) bits ``code > t``, feature-major."""
    levels = torch.arange((1 << bits) - 1, device=codes.device)
    return (codes[..., None] > levels).reshape(codes.shape[0], -1).to(torch.get_default_dtype())


class WARPNetwork(LUTNetwork):
    def __init__(self, n_inputs: int, input_bits: int, layers: list[WalshNodes], n_classes: int,
                 group_tau: float) -> None:
        super().__init__(n_inputs, input_bits, layers)
        self.n_classes, self.group_tau = int(n_classes), float(group_tau)
        self.group_size = layers[-1].n_out // n_classes

    def _bits_in(self, codes: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return thermometer(codes, self.input_bits).to(dtype) if self.input_bits > 1 else codes.to(dtype)

    def _group_counts(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x.reshape(x.shape[0], self.n_classes, self.group_size).sum(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            bits = self._bits_in(to_codes(self.input_quant, x), x.dtype)
        return self._group_counts(bits) / self.group_tau

    def output_code_bits(self) -> int:
        return AdderLayer.required_bits(self.group_size, 1, False, False)

    def output_code_signed(self) -> bool:
        return False

    def output_quant_slot(self) -> None:
        """Popcount logits have no quantizer: every member's codes are already on one scale."""
        return None

    @property
    def n_outputs(self) -> int:
        return self.n_classes

    def max_address_bits(self) -> int:
        return max([self.input_bits] + [layer.fan_in for layer in self.layers])

    @torch.no_grad()
    def predict_codes(self, codes: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        with self.exact() as twin:
            outs = [twin._group_counts(twin._bits_in(torch.as_tensor(codes[s:s + batch_size]), torch.float64))
                    for s in range(0, len(codes), batch_size)]
        if not outs:
            return np.zeros((0, self.n_classes), dtype=np.int64)
        return torch.cat(outs).round().to(torch.int64).numpy()

    @torch.no_grad()
    def to_tables(self, meta: dict[str, Any] | None = None) -> TruthTableNetwork:
        layers: list[TableLayer | AdderLayer] = []
        if self.input_bits > 1:
            levels = (1 << self.input_bits) - 1
            codes = np.arange(1 << self.input_bits)
            layers.append(TableLayer(
                indices=np.repeat(np.arange(self.n_inputs), levels)[:, None],
                tables=np.tile((codes[None, :] > np.arange(levels)[:, None]).astype(np.int64), (self.n_inputs, 1)),
                in_bits=self.input_bits, out_bits=1, name="thermometer",
            ))
        with self.exact() as twin:
            for i, layer in enumerate(twin.layers):
                layers.append(TableLayer(indices=layer.indices.numpy(), tables=layer.truth_tables(),
                                         in_bits=1, out_bits=1, name=f"layer{i}"))
        g = self.group_size
        layers.append(AdderLayer(
            indices=np.arange(self.n_classes * g).reshape(self.n_classes, g),
            mask=np.ones((self.n_classes, g), dtype=bool),
            in_bits=1, out_bits=self.output_code_bits(), in_signed=False, out_signed=False, name="popcount",
        ))
        return TruthTableNetwork(n_inputs=self.n_inputs, input_bits=self.input_bits, layers=layers,
                                 meta={"family": self.family, "config": self.config, **(meta or {})})


# ---------------------------------------------------------------------- registration
def plan(params: dict[str, Any], n_inputs: int, n_classes: int) -> list[LayerPlan]:
    b = params["input_bits"]
    plans, n_in = [], n_inputs
    if b > 1:
        plans.append(LayerPlan(n_inputs, n_inputs * ((1 << b) - 1), 1, b, False, 1, False))
        n_in = n_inputs * ((1 << b) - 1)
    widths = list(params["widths"]) + [n_classes * params["group_size"]]
    for i, n_out in enumerate(widths):
        k = params["input_fan_in"] if i == 0 else params["output_fan_in"] if i == len(widths) - 1 else params["fan_in"]
        if k > n_in:
            raise ValueError(f"warp layer {i}: fan-in {k} exceeds its {n_in} inputs")
        if k > 8:
            raise ValueError(f"warp layer {i}: {2 ** k} Walsh coefficients per node is beyond this family (k <= 8)")
        plans.append(LayerPlan(n_in, n_out, k, 1, False, 1, False))
        n_in = n_out
    return plans


def build(params, n_inputs, n_classes, generator) -> WARPNetwork:
    layers = [
        WalshNodes(random_indices(p.n_in, p.n_out, p.fan_in, generator), params["tau"], params["gumbel"],
                   params["residual_init"])
        for p in plan(params, n_inputs, n_classes) if p.in_bits == 1
    ]
    return WARPNetwork(n_inputs, params["input_bits"], layers, n_classes, params["group_tau"])


register_family(FamilySpec(
    name="warp",
    build=build,
    knobs={
        "input_bits": Knob("int", 2, "bits per input feature, thermometer-coded into 2^b - 1 binary inputs"),
        "hidden_bits": Knob("int", 1, "node outputs are Boolean", choices=(1,)),
        "output_bits": Knob("int", 1, "output nodes are Boolean (their per-class popcount is the logit)",
                            choices=(1,)),
        "batch_norm": Knob("bool", False, "unused: Boolean nodes have no batch-norm", choices=(False,)),
        "group_size": Knob("int", 16, "output nodes per class (popcount width)"),
        "group_tau": Knob("float", 2.0, "training logits = popcount / group_tau"),
        "tau": Knob("float", 1.0, "Gumbel-sigmoid temperature"),
        "gumbel": Knob("bool", True, "add logistic (Gumbel-difference) noise to node logits in training"),
        "residual_init": Knob("float", 1.0, "initial coefficient of the first input (node starts as a wire)"),
    },
    doc=__doc__.splitlines()[0],
    plan=plan,
))
