"""AmigoLUT-style ensembles (Weng et al., "Greater than the Sum of its LUTs: Scaling Up LUT-based
Neural Networks with AmigoLUT", FPGA 2025): ``members`` small LUT networks of one family, trained
jointly, whose output codes are summed per class.

Members are built side by side from the same knobs (``member_family``'s own knobs go in
``member_params``), each with its own random connectivity and initialization. Exactness of the sum:
members whose logits come out of a quantizer share *one* output quantizer (so every member's codes
have the same scale and the sum of codes is the sum of logits); popcount outputs (WARP) are
already on a common scale.

Hardware (``to_tables``): layer i of the ensemble is the concatenation of the members' layers i
(indices offset into the concatenated previous layer; widths unified by sign/zero extension when
members differ, e.g. HGQ adders sized by their live edges), followed by an ``AdderLayer`` summing
the members' (signed) outputs per class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from lutsearch.models._base import LUTModel, LUTNetwork
from lutsearch.models._registry import (
    COMMON_KNOBS,
    FamilySpec,
    Knob,
    LayerPlan,
    family_plan,
    get_family,
    register_family,
    resolve_params,
)
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork, to_signed, to_unsigned

__all__ = ["EnsembleNetwork", "concat_networks"]


# ---------------------------------------------------------------------- table concatenation
def _range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _widen_table(layer: TableLayer, in_bits: int, out_bits: int, fan_in: int | None = None) -> TableLayer:
    """The same function on wider input codes (values clipped into the old range: never reached),
    wider output codes (sign/zero extension) and ``fan_in`` address inputs (extra inputs, in the high
    address bits, read each neuron's first input and are ignored: members pruned to fewer inputs)."""
    tables, indices = layer.tables, layer.indices
    if in_bits != layer.in_bits:
        addr = np.arange(1 << (layer.fan_in * in_bits), dtype=np.int64)
        lo, hi = _range(layer.in_bits, layer.in_signed)
        old = np.zeros_like(addr)
        for j in range(layer.fan_in):  # loop over fan-in positions, vectorized over addresses
            digit = (addr >> (in_bits * j)) & ((1 << in_bits) - 1)
            value = to_signed(digit, in_bits) if layer.in_signed else digit
            old |= to_unsigned(np.clip(value, lo, hi), layer.in_bits) << (layer.in_bits * j)
        tables = tables[:, old]
    if out_bits != layer.out_bits and layer.out_signed:
        tables = to_unsigned(to_signed(tables, layer.out_bits), out_bits)
    extra = (fan_in or layer.fan_in) - layer.fan_in
    if extra > 0:
        tables = np.tile(tables, (1, 1 << (in_bits * extra)))
        indices = np.concatenate([indices, np.repeat(indices[:, :1], extra, axis=1)], axis=1)
    return TableLayer(indices, tables, in_bits, out_bits, layer.in_signed, layer.out_signed, layer.name)


def _check_members(nets: list[TruthTableNetwork]) -> None:
    first = nets[0]

    def shape(net: TruthTableNetwork) -> list[tuple]:
        return [(type(a), a.in_signed, a.out_signed, a.n_out) for a in net.layers]

    for net in nets[1:]:
        inputs = (net.n_inputs, net.input_bits, net.input_signed)
        if shape(net) != shape(first) or inputs != (first.n_inputs, first.input_bits, first.input_signed):
            raise ValueError("ensemble members must have the same layer structure and inputs")


def _stack_adders(adders: list[AdderLayer], in_bits: int, offsets: list[int]) -> AdderLayer:
    """Members' adder layers at one position side by side, wide enough for every member's sums."""
    need = max(
        AdderLayer.required_bits(int(p.mask.sum(1).max(initial=0)), in_bits, p.in_signed, p.out_signed) for p in adders
    )
    out_bits = max(max(p.out_bits for p in adders), need)
    indices = np.concatenate([p.indices + off for p, off in zip(adders, offsets)])
    mask = np.concatenate([p.mask for p in adders])
    first = adders[0]
    return AdderLayer(indices, mask, in_bits, out_bits, first.in_signed, first.out_signed, first.name)


def _stack_tables(parts: list[TableLayer], in_bits: int, offsets: list[int]) -> TableLayer:
    """Members' table layers at one position side by side, in the widest member's code widths."""
    out_bits, fan_in = max(p.out_bits for p in parts), max(p.fan_in for p in parts)
    wide = [_widen_table(p, in_bits, out_bits, fan_in) for p in parts]
    indices = np.concatenate([p.indices + off for p, off in zip(wide, offsets)])
    first = parts[0]
    tables = np.concatenate([p.tables for p in wide])
    return TableLayer(indices, tables, in_bits, out_bits, first.in_signed, first.out_signed, first.name)


def concat_networks(nets: list[TruthTableNetwork], meta: dict[str, Any] | None = None) -> TruthTableNetwork:
    """Side-by-side networks on the same inputs, their outputs summed by a final ``AdderLayer``."""
    _check_members(nets)
    first = nets[0]
    layers: list[TableLayer | AdderLayer] = []
    in_bits, offsets = first.input_bits, [0] * len(nets)
    for pos in range(len(first.layers)):
        parts = [net.layers[pos] for net in nets]  # one layer type across the nets (checked above)
        if isinstance(parts[0], AdderLayer):
            layers.append(_stack_adders(cast("list[AdderLayer]", parts), in_bits, offsets))
        else:
            layers.append(_stack_tables(cast("list[TableLayer]", parts), in_bits, offsets))
        offsets = [m * parts[0].n_out for m in range(len(nets))]
        in_bits = layers[-1].out_bits
    n_cls, signed = first.n_outputs, first.output_signed
    terms = np.arange(len(nets))[None, :] * n_cls + np.arange(n_cls)[:, None]
    layers.append(
        AdderLayer(
            terms,
            np.ones_like(terms, dtype=bool),
            in_bits,
            AdderLayer.required_bits(len(nets), in_bits, signed, signed),
            signed,
            signed,
            "ensemble_sum",
        )
    )
    return TruthTableNetwork(first.n_inputs, first.input_bits, layers, first.input_signed, meta or {})


# ---------------------------------------------------------------------- the model
def _output_bits(member: LUTModel) -> int:
    return member.output_code_bits()


def _output_signed(member: LUTModel) -> bool:
    return bool(member.output_code_signed())


class EnsembleNetwork(LUTNetwork):
    """Members side by side; logits = sum of the members' logits (codes on a shared scale)."""

    def __init__(self, n_inputs: int, input_bits: int, members: list[LUTModel]) -> None:
        super().__init__(n_inputs, input_bits, [])
        self.members = nn.ModuleList(members)
        # where each member's logit scale lives (None: no quantizer, e.g. WARP's popcounts)
        slots = [m.output_quant_slot() for m in members]
        if slots[0] is not None:
            shared = getattr(*slots[0])
            # one family: every member has a quantizer slot when the first has one
            for owner, attr in cast("list[tuple[nn.Module, str]]", slots[1:]):
                setattr(owner, attr, shared)  # one quantizer module: one scale for every member

    @property
    def member_models(self) -> Sequence[LUTModel]:
        """``members``, typed: every member is a ``LUTModel``."""
        return cast("Sequence[LUTModel]", self.members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(member(x) for member in self.members)

    def regularization(self) -> torch.Tensor | float:
        return sum((m.regularization() for m in self.member_models), 0.0)

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        for member in self.member_models:
            member.on_epoch_start(epoch, n_epochs)

    def prelude(self, ctx: Any) -> None:
        for member in self.member_models:
            member.prelude(ctx)

    @property
    def n_outputs(self) -> int:
        return self.member_models[0].n_outputs

    def max_address_bits(self) -> int:
        # members come from family builders: ``LUTNetwork``s (``LUTModel`` does not declare this)
        return max(cast(LUTNetwork, m).max_address_bits() for m in self.member_models)

    def output_code_bits(self) -> int:
        width = max(_output_bits(m) for m in self.member_models)
        signed = _output_signed(self.member_models[0])
        return AdderLayer.required_bits(len(self.members), width, signed, signed)

    def output_code_signed(self) -> bool:
        return _output_signed(self.member_models[0])

    def output_quant_slot(self) -> None:
        """The members share one output quantizer; their sum has none of its own."""

    @torch.no_grad()
    def predict_codes(self, codes: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        total: np.ndarray | int = 0
        for m in self.member_models:
            out = m.predict_codes(codes, batch_size)
            total = total + (to_signed(out, _output_bits(m)) if _output_signed(m) else out)
        summed = cast(np.ndarray, total)  # at least one member
        return to_unsigned(summed, self.output_code_bits()) if _output_signed(self.member_models[0]) else summed

    @torch.no_grad()
    def to_tables(self, meta: dict[str, Any] | None = None) -> TruthTableNetwork:
        nets = [m.to_tables() for m in self.member_models]
        return concat_networks(
            nets, meta={"family": self.family, "config": self.config, "members": len(nets), **(meta or {})}
        )


# ---------------------------------------------------------------------- registration
# Common knobs a member family may give its own defaults. The others (widths, connectivity and its
# settings) are passed as resolved; ``build_model`` applies the connectivity scheme to the whole
# ensemble, i.e. to every member's layers.
_SHAPE_KNOBS = ("input_bits", "hidden_bits", "output_bits", "input_fan_in", "fan_in", "output_fan_in", "batch_norm")


def _member_params(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    family = params["member_family"]
    if family == "ensemble":
        raise ValueError("ensemble members cannot be ensembles")
    extra = params["member_params"]
    if isinstance(extra, str):
        extra = json.loads(extra) if extra.strip() else {}
    common = {k: v for k, v in params.items() if k in COMMON_KNOBS and v is not None}
    return family, resolve_params(family, {**common, **dict(extra)})


def plan(params: dict[str, Any], n_inputs: int, n_classes: int) -> list[LayerPlan]:
    """Each member's plan with ``members`` times the neurons."""
    family, mp = _member_params(params)
    m = params["members"]
    return [
        LayerPlan(p.n_in * m, p.n_out * m, p.fan_in, p.in_bits, p.in_signed, p.out_bits, p.out_signed)
        for p in family_plan(family, mp, n_inputs, n_classes)
    ]


def build(params, n_inputs, n_classes, generator) -> EnsembleNetwork:
    if params["members"] < 1:
        raise ValueError("an ensemble needs at least one member")
    family, mp = _member_params(params)
    spec = get_family(family)
    members: list[LUTModel] = []
    for _ in range(params["members"]):
        member = spec.build(mp, n_inputs, n_classes, generator)
        member.family = family
        member.config = {"family": family, "params": mp, "n_inputs": n_inputs, "n_classes": n_classes}
        members.append(member)
    return EnsembleNetwork(n_inputs, mp["input_bits"], members)


register_family(
    FamilySpec(
        name="ensemble",
        build=build,
        knobs={
            # layer-shape knobs pass through to the members; unset ones take the member family's defaults
            **{
                k: Knob(COMMON_KNOBS[k].kind, None, f"{COMMON_KNOBS[k].doc} (default: the member family's)")
                for k in _SHAPE_KNOBS
            },
            "members": Knob("int", 4, "number of member networks whose outputs are summed"),
            "member_family": Knob("str", "logicnets", "family of every member (any but ensemble)"),
            "member_params": Knob("dict", {}, "the member family's own knobs (a mapping, or a JSON string)"),
        },
        doc=__doc__.splitlines()[0],
        plan=plan,
    )
)
