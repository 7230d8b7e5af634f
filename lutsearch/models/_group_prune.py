"""Hardware-aware structured pruning of neuron inputs, after PolyLUT's group regularizer (Andronic, Li &
Constantinides, "PolyLUT: Ultra-low Latency Polynomial Inference with Hardware-Aware Structured Pruning",
IEEE Transactions on Computers 2025, arXiv:2501.08043): a group penalty over each neuron's per-input
weight groups that grows with the size of the neuron's truth table, then pruning of the inputs whose
group fell below a threshold, so that neurons end with fewer inputs and smaller truth tables.

Written here from the paper's description (its training code is not public) for every family whose
layers are ``LUTLayer``s with a per-neuron fan-in (LogicNets, PolyLUT, NeuraLUT, NeuraLUT-Assemble,
their ensembles), by composition as SparseLUT is: ``GroupPruneNeuron`` wraps a layer's neuron function
and talks to the layer through the ``NeuronFunction`` hooks; the layer never changes class. Knobs
(``PRUNE_KNOBS``; ``prune_lambda`` 0, the default, leaves the network exactly as it was: no wrapper):

* **Groups.** ``n_ij`` = the norm of the parameters through which neuron i reads input slot j
  (``NeuronFunction.input_group_norms``: LogicNets |w_ij|; PolyLUT the L2 norm of the coefficients of
  every monomial containing x_j; NeuraLUT/NLA the L2 norm of input j's column in the sub-network's first
  layer and first skip). ``s_ij = n_ij / max_k n_ik`` (the maximum held constant) is scale-free, which
  matters under batch-norm, where a neuron's overall weight scale does not change its function.
* **Penalty** (``prune_lambda`` = lambda), before the pruning epoch:
  ``R = lambda * sum_{l,i} o_l * 2^(b_l * S_i) / sum_{l,i} o_l * 2^(b_l * F_l)``, with ``S_i = sum_j s_ij``
  neuron i's soft fan-in (between 1 and F_l), b_l the bits per input and o_l the output bits of layer
  l: the network's soft truth-table size relative to the unpruned one. Its gradient pushes every group
  but a neuron's strongest towards zero with a force proportional to the neuron's soft table size
  2^(b S_i), the exponential weighting of the paper's hardware-aware regularizer (a LUT's cost
  doubles b times per input), and fades as the table shrinks.
* **Pruning** at ``prune_epoch`` (an epoch if >= 1, else a fraction of training; always before the
  last epoch): slot j of neuron i is dropped when ``s_ij < prune_threshold`` (the strongest slot always
  stays). A pruned slot then reads an exact zero (``slot_rows``: the layer's input with one zero row
  appended, the pruned slots pointing at it; the fused native step included), so the function no
  longer depends on it. Fine-tuning follows without the penalty; best-validation checkpoints are only
  taken after pruning (``checkpoint_ready``).
* **Tables.** Each neuron's kept slots come first (``order``); a layer's tables are addressed by
  A = max_i (kept slots of neuron i) inputs, so every neuron's table shrinks by 2^(b (F - A)); a neuron
  with fewer kept slots than A fills the rest with a zero input (its table does not depend on those
  address bits; they read its first kept input, so no other signal becomes live). ``to_tables``
  enumerates the same zeros as the data path reads, so the tables stay bit-exact.

Not here: WARP-LUTs (1-bit Walsh nodes of k <= 6 inputs: one physical LUT6 whatever k, so fewer inputs
save no LUTs) and HGQ-LUT (no multi-input tables: one table per edge, and its own ``sparsity`` knob
already prunes edges).
"""

from __future__ import annotations

from typing import Any

import torch

from lutsearch.models._base import LUTNetwork, NeuronFunction
from lutsearch.models._connectivity import layer_inputs, lut_layers
from lutsearch.models._knobs import Knob
from lutsearch.models.sparselut import _InnerKernel

__all__ = ["PRUNE_KNOBS", "GroupPruneNeuron", "apply_group_prune", "prune_epoch", "soft_fan_in"]

PRUNE_KNOBS: dict[str, Knob] = {
    "prune_lambda": Knob(
        "float",
        0.0,
        "strength of the hardware-aware group regularizer on neuron inputs (0 = off)",
        bounds=(0.0, 1000.0),
    ),
    "prune_threshold": Knob(
        "float",
        0.1,
        "prune an input whose group norm is below this fraction of its neuron's largest",
        bounds=(0.0, 1.0),
    ),
    "prune_epoch": Knob(
        "float", 0.5, "epoch of pruning (>= 1) or fraction of training (< 1); fine-tuning follows", bounds=(0.0, None)
    ),
}


def prune_epoch(at: float, n_epochs: int) -> int:
    """The epoch at which inputs are pruned: ``at`` if >= 1, else ``round(at * n_epochs)``; clipped to
    ``n_epochs - 1`` so that the pruned network is always trained at least one epoch."""
    epoch = round(at) if at >= 1 else round(at * n_epochs)
    return max(0, min(epoch, n_epochs - 1))


def soft_fan_in(norms: torch.Tensor) -> torch.Tensor:
    """S_i = (sum_j n_ij)^2 / sum_j n_ij^2 of group norms (n_out, F): the effective number of inputs each
    neuron reads (k for k equal groups and zeros elsewhere; between 1 and F), unchanged by scaling."""
    return norms.sum(1).square() / norms.square().sum(1).clamp_min(torch.finfo(norms.dtype).tiny)


class GroupPruneNeuron(NeuronFunction):
    """Wraps a layer's neuron function with the group penalty and, from the pruning epoch, zeroed slots."""

    inner: NeuronFunction
    indices: torch.Tensor  # (n_out, F) the layer's inputs (a copy, kept in sync through the hooks)
    keep: torch.Tensor  # (n_out, F) slots still read
    order: torch.Tensor  # (n_out, F) each neuron's kept slots first, then the pruned ones
    live: torch.Tensor  # () A: table inputs per neuron after pruning
    pruned: torch.Tensor  # () the pruning epoch has passed

    def __init__(
        self,
        inner: NeuronFunction,
        indices: torch.Tensor,
        n_in: int,
        bits: int,
        weight: float,
        threshold: float,
        at: float,
    ) -> None:
        super().__init__(inner.n_out, inner.fan_in)
        self.inner = inner
        self.n_in, self.bits, self.weight = int(n_in), int(bits), float(weight)
        self.threshold, self.at = float(threshold), float(at)
        self.register_buffer("indices", indices.detach().to(torch.int64).clone())
        self.register_buffer("keep", torch.ones(self.n_out, self.fan_in, dtype=torch.bool))
        self.register_buffer("order", torch.arange(self.fan_in).repeat(self.n_out, 1))
        self.register_buffer("live", torch.tensor(self.fan_in, dtype=torch.int64))
        self.register_buffer("pruned", torch.zeros((), dtype=torch.bool))

    # ------------------------------------------------------------------ the wrapped function
    @property
    def native_kernel(self) -> _InnerKernel | None:  # type: ignore[override]  # follows the inner function
        kernel = self.inner.native_kernel
        return None if kernel is None else _InnerKernel(kernel)

    @property
    def enumeration_width(self) -> int:
        return int(self.inner.enumeration_width)

    @property
    def checkpoint_ready(self) -> bool:
        return bool(self.pruned) and self.inner.checkpoint_ready

    def sparsifying(self) -> bool:
        return self.inner.sparsifying()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)  # pruned slots already read zero (``slot_rows``, ``table_inputs``)

    def fold_input_scale(self, scale: torch.Tensor) -> bool:
        return bool(self.inner.fold_input_scale(scale))

    def input_group_norms(self) -> torch.Tensor | None:
        norms = self.inner.input_group_norms()
        return None if norms is None else norms * self.keep

    @property
    def masked(self) -> bool:
        """Whether some slot was pruned (the layer's reads and tables then change)."""
        return bool(self.pruned) and not bool(self.keep.all())

    # ------------------------------------------------------------------ training hooks
    def regularization(self) -> torch.Tensor | float:
        reg = self.inner.regularization()
        if self.weight == 0 or bool(self.pruned):
            return reg
        norms = self.inner.input_group_norms()
        if norms is None:  # e.g. SparseLUT still mixing candidates
            return reg
        return reg + self.weight * torch.exp2(self.bits * (soft_fan_in(norms) - self.fan_in)).sum()

    def slot_rows(self, x: torch.Tensor, feature_major: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        """After pruning: the layer input as rows (n_in + 1, B), the last one zero, and each neuron's
        slots with the pruned ones pointing at that zero row; before, the inner function's (or None)."""
        if not self.masked:
            return self.inner.slot_rows(x, feature_major)
        rows = x if feature_major else x.t()
        rows = torch.cat([rows, rows.new_zeros(1, rows.shape[1])])
        return rows, torch.where(self.keep, self.indices, self.n_in)

    def on_epoch_start(self, epoch: int, n_epochs: int) -> torch.Tensor | None:
        indices = self.inner.on_epoch_start(epoch, n_epochs)
        if indices is not None:
            self.indices.copy_(indices)
        if not bool(self.pruned) and epoch >= prune_epoch(self.at, n_epochs) and self.inner.checkpoint_ready:
            self.prune()
        return indices

    def reset_inputs(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> None:
        self.inner.reset_inputs(indices, generator)
        self.indices.copy_(indices)

    @torch.no_grad()
    def prune(self) -> None:
        """Drop every slot whose relative group norm is below the threshold (never a neuron's strongest)."""
        self.pruned.fill_(True)
        norms = self.inner.input_group_norms()
        if norms is None:
            return
        norms = norms.detach().to(self.keep.device)
        rel = norms / norms.amax(1, keepdim=True).clamp_min(torch.finfo(norms.dtype).tiny)
        keep = rel >= self.threshold
        keep.scatter_(1, rel.argmax(1, keepdim=True), True)
        slot = torch.arange(self.fan_in, device=keep.device)
        self.keep.copy_(keep)
        self.order.copy_(torch.argsort((~keep).long() * self.fan_in + slot, dim=1))  # kept first, in slot order
        self.live.fill_(int(keep.sum(1).max()))

    # ------------------------------------------------------------------ truth tables
    @property
    def table_fan_in(self) -> int:
        return int(self.live) if self.masked else self.fan_in

    def table_inputs(self, values: torch.Tensor) -> torch.Tensor:
        """Address input a of neuron i sets its a-th kept slot (zero where the neuron kept fewer than A);
        pruned slots are zero, as on the data path."""
        if not self.masked:
            return super().table_inputs(values)
        n_entries, A = values.shape
        pos = self.order[:, :A]  # (n_out, A)
        kept = self.keep.gather(1, pos)
        v = torch.where(kept, values[:, None, :].expand(n_entries, self.n_out, A), 0.0)
        x = values.new_zeros(n_entries, self.n_out, self.fan_in)
        return x.scatter(2, pos.expand(n_entries, self.n_out, A), v)

    def table_indices(self, indices: torch.Tensor) -> torch.Tensor:
        if not self.masked:
            return indices
        pos = self.order[:, : self.table_fan_in]
        chosen = indices.gather(1, pos)
        return torch.where(self.keep.gather(1, pos), chosen, chosen[:, :1])


def _wrap(net: LUTNetwork, params: dict[str, Any]) -> None:
    layers = lut_layers(net)
    if not layers:
        raise ValueError(f"prune_lambda: family {net.family!r} has no L-LUT layers with a fan-in to prune")
    widths = layer_inputs(net)
    cost = [layer.n_out * layer.out_bits * 2.0 ** (layer.in_bits * layer.fan_in) for layer in layers]
    total = sum(cost)
    for layer, c in zip(layers, cost):
        layer.neuron = GroupPruneNeuron(
            layer.neuron,
            layer.indices,
            widths[id(layer)],
            layer.in_bits,
            weight=float(params["prune_lambda"]) * c / (layer.n_out * total),
            threshold=float(params["prune_threshold"]),
            at=float(params["prune_epoch"]),
        )


def apply_group_prune(model: LUTNetwork, params: dict[str, Any]) -> LUTNetwork:
    """Wrap every ``LUTLayer``'s neuron function of ``model`` (after its connectivity scheme, so that the
    wrapper is outermost) when ``prune_lambda`` > 0; members of a model (an ensemble's) by their own knobs."""
    if params.get("prune_lambda"):
        _wrap(model, params)
        return model
    for member in model.modules():
        config = getattr(member, "config", None) if member is not model else None
        if isinstance(member, LUTNetwork) and isinstance(config, dict) and config.get("params", {}).get("prune_lambda"):
            _wrap(member, config["params"])
    return model
