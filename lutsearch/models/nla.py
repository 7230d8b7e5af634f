"""NeuraLUT-Assemble (Andronic & Constantinides, FCCM 2025, arXiv:2504.00592): large-fan-in neurons
assembled as trees of small L-LUTs, with learned input grouping.

Structure (as the reference code, MartaAndronic/NeuraLUT @650c4f4, ``datasets/*/train.py`` and the
``demo.ipynb`` model printouts): the layer list ``widths + [n_classes]`` carries a ``support_layers``
flag per layer. A non-support layer is the *leaf level* of new assembled neurons; each following
support layer is one more *tree level* whose nodes read ``support_fan_in`` nodes of the level below.
Signals between tree levels are the signed ``support_bits`` "support" signals (the reference's
QuantIdentity); a layer that feeds a leaf level outputs unsigned ``hidden_bits`` (QuantReLU). Every
tree node is itself an L-LUT: a NeuraLUT sub-network F -> N -> 1 (``neuron_width`` N,
``neuron_depth`` linear layers) plus a linear skip F -> 1 (``skip``; the reference's ``res2``), so
the residual path through the whole tree is absorbed into the node tables. Each tree level is one
``TableLayer`` of the truth-table network; ``indices`` express the tree wiring.

Learned grouping (``prelude``): a short dense phase trains a twin whose every node sees *all*
inputs of its level (``fc1``: n_in -> n_out*N and the skip n_in -> n_out, as the reference's
``fc1_dense``/``res2_dense``) under the exponential group regularizer
``R = lambda1 * sum_g (2^(lambda2 * ||W_g||_1) - 1)`` over the rows of both matrices (the reference's
``wd``/``wd1``); each node then reads the ``F`` inputs with the largest skip weights |W_res| (the
reference's ``GetInputMask``; without the skip, the largest first-layer column norms). The sparse
model is trained from scratch with those indices, as in the reference.

Knobs: ``tree_depth`` (levels per assembled neuron, grouped from the output; or ``support_layers``
verbatim), ``support_fan_in`` / ``level_fan_ins`` (fan-in per tree level), ``support_bits``,
``prelude_epochs``, ``group_lambda1``, ``group_lambda2``, ``neuron_width``, ``neuron_depth``, ``skip``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from lutsearch.models._base import LUTLayer, LUTNetwork, enumerate_codes, random_indices
from lutsearch.models._connectivity import set_layer_indices
from lutsearch.models._group_prune import PRUNE_KNOBS
from lutsearch.models._quant import make_act_quant, make_input_quant, quantize_with_codes
from lutsearch.models._registry import FamilySpec, Knob, LayerPlan, check_fan_in, layer_fan_in, register_family
from lutsearch.models.neuralut import SubNetworkNeurons

__all__ = ["DenseGroupingNet", "NLANetwork", "build", "plan", "support_flags"]


def support_flags(params: dict[str, Any], n_layers: int) -> list[int]:
    """0/1 per layer (1 = a support level reading the level below); layer 0 is always a leaf."""
    flags = [int(f) for f in (params.get("support_layers") or [])]
    if flags:
        if len(flags) != n_layers or any(f not in (0, 1) for f in flags) or flags[0]:
            raise ValueError(f"nla: support_layers must be {n_layers} flags of 0/1 starting with 0, got {flags}")
        return flags
    depth = int(params["tree_depth"])
    if depth < 1:
        raise ValueError(f"nla: tree_depth must be >= 1, got {depth}")
    # Trees are grouped from the output backwards; the first block may be shorter.
    return [0 if i == 0 or (n_layers - 1 - i) % depth == depth - 1 else 1 for i in range(n_layers)]


def plan(params: dict[str, Any], n_inputs: int, n_classes: int) -> list[LayerPlan]:
    widths = list(params["widths"]) + [n_classes]
    flags = support_flags(params, len(widths))
    level_fan_ins = [int(f) for f in (params.get("level_fan_ins") or [])]
    plans, n_in, in_bits, in_signed, level = [], n_inputs, params["input_bits"], False, 0
    for i, n_out in enumerate(widths):
        last = i == len(widths) - 1
        level = level + 1 if flags[i] else 0
        if flags[i]:
            if level_fan_ins and level > len(level_fan_ins):
                raise ValueError(f"nla: level_fan_ins {level_fan_ins} has no fan-in for tree level {level}")
            fan_in = check_fan_in(
                int(level_fan_ins[level - 1] if level_fan_ins else params["support_fan_in"]), n_in, i, "nla"
            )
        else:
            fan_in = layer_fan_in(params, i, len(widths), n_in, "nla")
        if last:
            out_bits, out_signed = params["output_bits"], True
        elif flags[i + 1]:
            out_bits, out_signed = params["support_bits"], True
        else:
            out_bits, out_signed = params["hidden_bits"], False
        plans.append(LayerPlan(n_in, n_out, fan_in, in_bits, in_signed, out_bits, out_signed))
        n_in, in_bits, in_signed = n_out, out_bits, out_signed
    return plans


class _DenseLevel(nn.Module):
    """One level of the dense grouping twin: every node sees all ``n_in`` inputs (first layer only)."""

    def __init__(self, p: LayerPlan, width: int, depth: int, skip: bool, batch_norm: bool) -> None:
        super().__init__()
        self.n_out, self.depth = p.n_out, depth
        self.width = width = width if depth > 1 else 1
        self.fc1 = nn.Linear(p.n_in, p.n_out * width)  # the reference's fc1_dense
        self.res = nn.Linear(p.n_in, p.n_out) if skip else None  # the reference's res2_dense
        self.rest = SubNetworkNeurons(p.n_out, width, width, depth - 1, skip=False) if depth > 1 else None
        self.bn = nn.BatchNorm1d(p.n_out) if batch_norm else nn.Identity()
        self.quant = make_act_quant(p.out_bits, p.out_signed)

    matmul_dtype: torch.dtype | None = None  # e.g. bfloat16: the two dense matmuls under autocast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Only the dense input matmuls (nearly all of the phase's work) may run in bfloat16; their
        # outputs return to float32, so the rest (node MLPs, batch-norm, quantizer) is unchanged.
        with torch.autocast(
            x.device.type, dtype=self.matmul_dtype or torch.bfloat16, enabled=self.matmul_dtype is not None
        ):
            h = self.fc1(x)
            r = self.res(x) if self.res is not None else None
        h, r = h.float(), (r.float() if r is not None else None)
        if self.rest is None:  # depth 1: the node is linear in its inputs
            z = h.view(-1, self.n_out, self.width).sum(-1)
        else:
            z = self.rest(torch.relu(h).view(-1, self.n_out, self.width))
        if r is not None:
            z = z + r
        return self.quant(self.bn(z))

    def group_norms(self) -> torch.Tensor:
        rows = [self.fc1.weight.abs().sum(1)]
        if self.res is not None:
            rows.append(self.res.weight.abs().sum(1))
        return torch.cat(rows)

    @torch.no_grad()
    def importance(self) -> torch.Tensor:
        """(n_out, n_in): how strongly each node uses each input."""
        if self.res is not None:
            return self.res.weight.abs()
        return self.fc1.weight.abs().view(self.n_out, self.width, -1).sum(1)


class DenseGroupingNet(nn.Module):
    """The dense twin trained in NLA's prelude; ``group_regularizer`` is R (module docstring)."""

    def __init__(self, plans: list[LayerPlan], params: dict[str, Any]) -> None:
        super().__init__()
        self.input_quant = make_input_quant(params["input_bits"])
        self.levels = nn.ModuleList(
            _DenseLevel(p, params["neuron_width"], params["neuron_depth"], params["skip"], params["batch_norm"])
            for p in plans
        )
        self.lambda1, self.lambda2 = float(params["group_lambda1"]), float(params["group_lambda2"])

    @property
    def dense_levels(self) -> Sequence[_DenseLevel]:
        """``levels``, typed: every level is a ``_DenseLevel``."""
        return cast("Sequence[_DenseLevel]", self.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_quant(x)
        for level in self.levels:
            x = level(x)
        return x

    def set_matmul_dtype(self, dtype: torch.dtype | None) -> None:
        for level in self.dense_levels:
            level.matmul_dtype = dtype

    def group_regularizer(self) -> torch.Tensor:
        norms = torch.cat([level.group_norms() for level in self.dense_levels])
        return self.lambda1 * (torch.exp2(self.lambda2 * norms) - 1).sum()

    def grouping(self, fan_ins: list[int]) -> list[torch.Tensor]:
        """Per level, each node's top-F inputs (sorted), the learned tree wiring."""
        return [
            torch.topk(level.importance(), f, dim=1).indices.sort(dim=1).values
            for level, f in zip(self.dense_levels, fan_ins)
        ]


class _TableLookup(torch.autograd.Function):
    """pre[b, i] = table[addr[b, i], i], with d pre / d x[b, i, :] = jac[addr[b, i], i, :].

    Forward is one gather; backward scatters the output gradient into the table (the sub-network's
    weights then get it summed per entry) and gathers each sample's Jacobian row for its inputs.
    Written by hand: as ``pre + ((x - x.detach()) * slope).sum(-1)`` it took ~5 more passes.
    """

    @staticmethod
    def forward(ctx, table, x, addr, jac):
        ctx.save_for_backward(addr, jac)
        ctx.table_shape = table.shape
        return table.gather(0, addr)

    @staticmethod
    def backward(ctx, grad):
        addr, jac = ctx.saved_tensors
        grad_table = grad.new_zeros(ctx.table_shape).scatter_add_(0, addr, grad)
        grad_x = None
        if ctx.needs_input_grad[1]:
            f = jac.shape[-1]
            grad_x = jac.gather(0, addr[..., None].expand(-1, -1, f)).mul_(grad[..., None])
        return grad_table, grad_x, None, None


def table_preactivation(layer: LUTLayer, x: torch.Tensor, codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Training-time pre-activations through each node's *table* instead of its sub-network.

    Every node input is a quantized code, so a node has only A = 2^(F*b) distinct inputs: evaluate
    its sub-network once on all A (n_out * A * N work instead of batch * n_out * N), gather each
    sample's entry, and give the inputs the sub-network's exact Jacobian at that entry (tabulated by
    one extra backward), so values and gradients equal the direct path's: weights get the gradient
    summed per table entry, inputs (hence lower levels and quantizer scales) their per-sample one.
    Written by hand: no library trains through enumerated tables.
    """
    F, b, n = layer.fan_in, layer.in_bits, layer.n_out
    # The address of each node's input codes (input 0 in the LSBs), from the two's complement patterns.
    cg = layer.gather(codes & ((1 << b) - 1))  # (B, n, F)
    addr = (cg << (torch.arange(F, device=x.device) * b)).sum(-1)  # (B, n)
    entries = enumerate_codes(F, b, layer.in_signed).to(x.device, x.dtype) * scale
    if not (torch.is_grad_enabled() and x.requires_grad):  # evaluation: the lookup alone
        return layer.neuron(entries[:, None, :].expand(entries.shape[0], n, F)).gather(0, addr)
    grid = entries[:, None, :].expand(entries.shape[0], n, F).clone().requires_grad_(True)
    with torch.enable_grad():
        table = layer.neuron(grid)  # (A, n), graph to the neuron's weights
        (jac,) = torch.autograd.grad(table.sum(), grid, retain_graph=True)  # (A, n, F): d table / d input
    return _TableLookup.apply(table, layer.gather(x), addr, jac)


PRELUDE_PRECISIONS = ("auto", "float32", "bfloat16")


def prelude_precision(choice: str, device: str) -> str:
    """The dense grouping phase only ranks input weights, so it may train in bfloat16 (autocast).
    ``auto`` picks bfloat16 where matmuls have native bfloat16 units (CPU AMX tiles: ~1.75x faster
    dense phase for the JSC config measured here; CUDA with bfloat16 support), float32 elsewhere
    (emulated bfloat16 would be slower)."""
    if choice not in PRELUDE_PRECISIONS:
        raise ValueError(f"nla: prelude_precision must be one of {', '.join(PRELUDE_PRECISIONS)}, got {choice!r}")
    if choice != "auto":
        return choice
    if str(device).startswith("cuda"):
        return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return "bfloat16" if amx() else "float32"


class NLANetwork(LUTNetwork):
    family = "nla"

    def __init__(self, n_inputs: int, params: dict[str, Any], plans: list[LayerPlan], layers: list[LUTLayer]):
        super().__init__(n_inputs, params["input_bits"], layers)
        self.params, self.plans = dict(params), plans
        self.table_training = bool(params.get("table_training", True))

    @staticmethod
    def _use_table(layer: LUTLayer, batch: int) -> bool:
        if layer.neuron.sparsifying():  # SparseLUT mixes candidates
            return False
        return (1 << (layer.fan_in * layer.in_bits)) * 4 <= batch  # the enumeration covers all F slots

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training and validation go through node tables where they are small (``table_training``);
        the exact path (``predict_codes``, ``to_tables``) always runs the sub-networks directly."""
        if not self.table_training:
            return super().forward(x)
        x, codes, scale = quantize_with_codes(self.input_quant, x)
        for i, layer in enumerate(cast("Sequence[LUTLayer]", self.layers)):  # every layer a LUTLayer
            if self._use_table(layer, x.shape[0]):
                pre = layer.normalize(table_preactivation(layer, x, codes, scale))
            else:
                pre = layer.preactivation(x)
            if i == len(self.layers) - 1:
                return layer.quant(pre)
            x, codes, scale = quantize_with_codes(layer.quant, pre)
        return x

    def prelude(self, ctx: Any) -> None:
        """Dense grouping phase: train the dense twin, then wire every tree level by its top-F."""
        epochs = int(self.params["prelude_epochs"])
        if epochs <= 0:
            return
        torch.manual_seed(ctx.seed + 104729)
        dense = DenseGroupingNet(self.plans, self.params).to(ctx.cfg.device)
        precision = prelude_precision(self.params["prelude_precision"], ctx.cfg.device)
        dense.set_matmul_dtype(torch.bfloat16 if precision == "bfloat16" else None)
        result = ctx.fit(dense, epochs, extra_loss=dense.group_regularizer, lr=float(self.params["prelude_lr"]) or None)
        for layer, idx in zip(cast("Sequence[LUTLayer]", self.layers), dense.grouping([p.fan_in for p in self.plans])):
            set_layer_indices(layer, idx)
        self.grouping_history = {
            "val_acc": result.best_val_acc,
            "epochs": result.epochs_run,
            "seconds": result.train_seconds,
            "precision": precision,
        }


def build(params, n_inputs, n_classes, generator) -> LUTNetwork:
    plans = plan(params, n_inputs, n_classes)
    width, depth, skip = int(params["neuron_width"]), int(params["neuron_depth"]), bool(params["skip"])
    if depth < 1 or width < 1:
        raise ValueError(f"nla: neuron_width and neuron_depth must be >= 1, got {width}, {depth}")
    layers = [
        LUTLayer(
            SubNetworkNeurons(p.n_out, p.fan_in, width, depth, skip),
            random_indices(p.n_in, p.n_out, p.fan_in, generator),
            in_bits=p.in_bits,
            in_signed=p.in_signed,
            out_bits=p.out_bits,
            out_signed=p.out_signed,
            batch_norm=params["batch_norm"],
        )
        for p in plans
    ]
    return NLANetwork(n_inputs, params, plans, layers)


register_family(
    FamilySpec(
        name="nla",
        build=build,
        plan=plan,
        knobs={
            "tree_depth": Knob("int", 2, "L-LUT levels per assembled neuron (layers grouped from the output)"),
            "support_layers": Knob("int_list", (), "explicit 0/1 support flag per layer (overrides tree_depth)"),
            "support_fan_in": Knob("int", 2, "fan-in of tree nodes above the leaf level"),
            "level_fan_ins": Knob(
                "int_list",
                (),
                "fan-in per tree level 1..depth-1 (overrides support_fan_in); entries past the deepest level are "
                "ignored, so a space may search it as per_layer with count: tree_depth",
            ),
            "support_bits": Knob("int", 3, "bits of the signed signals between tree levels"),
            "neuron_width": Knob("int", 64, "hidden width N of each node's sub-network"),
            "neuron_depth": Knob("int", 2, "linear layers per node sub-network (2 = F->N->1, the reference)"),
            "skip": Knob("bool", True, "linear skip F->1 inside every node (the tree's residual path)"),
            "prelude_epochs": Knob("int", 25, "epochs of the dense grouping phase (0 = random wiring)"),
            "prelude_lr": Knob("float", 0.0, "learning rate of the grouping phase (0 = the training lr)"),
            "prelude_precision": Knob(
                "str",
                "auto",
                "arithmetic of the grouping phase: auto (bfloat16 where the "
                "hardware has bfloat16 matmul units), float32, bfloat16",
                choices=PRELUDE_PRECISIONS,
            ),
            "group_lambda1": Knob("float", 1e-4, "lambda1 of the exponential group regularizer"),
            "group_lambda2": Knob("float", 0.07, "lambda2 (exponent scale) of the group regularizer"),
            "table_training": Knob(
                "bool",
                True,
                "train small-table levels through their enumerated tables (same values and gradients, less work)",
            ),
            **PRUNE_KNOBS,
        },
        doc=__doc__.splitlines()[0],
    )
)
