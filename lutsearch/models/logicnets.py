"""LogicNets (Umuroglu et al., FPL 2020): each neuron is a linear function of F random inputs.

Neuron i computes ``w_i . x[indices_i] + b_i`` followed by batch-norm and a quantized activation.
Vectorized as one gather (in ``LUTLayer``) and one broadcast multiply-sum over the fan-in: no dense
masked matmul (the reference code multiplies a mostly-zero n_in x n_out matrix). Training steps on
CPU in float32 run each whole layer (gather, neurons, batch-norm, quantizer) as one native kernel
call per direction instead (``lutsearch.models._native.linear``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lutsearch.models import _exact as exact
from lutsearch.models._base import LUTLayer, LUTNetwork, NeuronFunction, random_indices
from lutsearch.models._group_prune import PRUNE_KNOBS
from lutsearch.models._native import linear as native_linear
from lutsearch.models._registry import FamilySpec, plan_layers, register_family


class LinearNeurons(NeuronFunction):
    """``n_out`` independent linear functions of ``fan_in`` inputs each. Training steps of a whole
    layer run fused (``LUTLayer.fused_forward``, ``lutsearch.models._native.linear``)."""

    native_kernel = native_linear.KERNEL

    def __init__(self, n_out: int, fan_in: int) -> None:
        super().__init__(n_out, fan_in)
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(n_out, fan_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if exact.active(self, x):  # the exact path: products added in fan-in order (``_exact``), any CPU
            return exact.ordered_dot(x, self.weight) + self.bias
        return (x * self.weight).sum(-1) + self.bias

    @torch.no_grad()
    def fold_input_scale(self, scale: torch.Tensor) -> bool:
        self.weight.mul_(scale.to(self.weight.dtype))  # weight (n_out, F): column j times input j's scale
        return True

    def input_group_norms(self) -> torch.Tensor:
        """|w_ij|: input j of neuron i meets one weight."""
        return self.weight.abs()


def build_layers(params, n_inputs, n_classes, generator, neuron_factory) -> list[LUTLayer]:
    """Common stacking used by every single-function-per-neuron family."""
    layers = []
    for plan in plan_layers(params, n_inputs, n_classes):
        layers.append(
            LUTLayer(
                neuron_factory(plan),
                random_indices(plan.n_in, plan.n_out, plan.fan_in, generator),
                in_bits=plan.in_bits,
                in_signed=plan.in_signed,
                out_bits=plan.out_bits,
                out_signed=plan.out_signed,
                batch_norm=params["batch_norm"],
            )
        )
    return layers


def build(params, n_inputs, n_classes, generator) -> LUTNetwork:
    layers = build_layers(params, n_inputs, n_classes, generator, lambda p: LinearNeurons(p.n_out, p.fan_in))
    return LUTNetwork(n_inputs, params["input_bits"], layers)


register_family(FamilySpec(name="logicnets", build=build, knobs=dict(PRUNE_KNOBS), doc=__doc__.splitlines()[0]))
