"""Connectivity schemes that apply to any family (``connectivity:`` knob).

``random``: each neuron reads a fixed random subset of F inputs (LogicNets); the family builders
already draw it, so nothing more happens here.

``sparselut``: SparseLUT (Lou, Wu & Leong, "SparseLUT: Sparse Connectivity Optimization for Lookup
Table-based Deep Neural Networks", arXiv:2503.12829, 2025). Every connection has a trainable
magnitude ``theta >= 0`` and a fixed random sign; a connection with ``theta <= 0`` is inactive.
Written by hand here (no library implements it), generically over any family's ``LUTLayer``s:

* each of a neuron's F input *slots* gets a pool of K candidate inputs (the family's own choice is
  candidate 0; all F*K candidates of a neuron are distinct inputs). During the *sparsification*
  phase (epochs before the transition epoch T) the slot value fed to the neuron function is the
  signed mixture ``sum_k sign_k * relu(theta_k) * x[cand_k]``, so a neuron sees up to F*K inputs;
  an L1 penalty (``sparse_penalty``) shrinks magnitudes and Langevin-style gradient noise
  (``sparse_noise``) explores, as in Deep-R;
* at every epoch start, candidates whose magnitude reached zero are regrown in place
  (``sparse_regrowth``: ``random`` = a uniformly random input the neuron does not use yet;
  ``gradient`` = the unused input with the largest |dL/dw| on the last training batch, RigL-style),
  so no slot, hence no neuron, ever dies;
* at every epoch start ``indices`` is re-synced to each slot's strongest candidate (exactly F
  distinct inputs per neuron), and a coverage repair re-points redundant slots at inputs nobody
  reads (when there are enough slots) so every neuron of the previous layer feeds something. The
  eval-mode model (validation, tables) is always this F-input network, so whichever epoch's weights
  the trainer keeps as best is a valid design;
* at T (``sparse_T``: an epoch if >= 1, a fraction of training if < 1; always before the last
  epoch) the choice is frozen; fine-tuning continues with each slot scaled by its trainable
  ``sign * theta``.

Outside the sparsification phase (and in eval mode always) a layer reads ``x[:, indices]`` and the
wrapped neuron function multiplies slot j by its scale: one elementwise op inside the neuron, so
``LUTLayer.truth_tables`` and ``to_tables`` work unchanged and reproduce the model exactly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lutsearch.models._base import LUTLayer, LUTNetwork, NeuronFunction

__all__ = ["SCHEMES", "apply_connectivity", "SparseNeuron", "set_layer_indices", "sparse_transition_epoch"]

SCHEMES = ("random", "sparselut")
REGROWTH = ("random", "gradient")


def sparse_transition_epoch(T: float, n_epochs: int) -> int:
    """The epoch at which sparsification ends: ``T`` itself if >= 1, else ``round(T * n_epochs)``;
    clipped to ``n_epochs - 1`` so the final F-input network is always fine-tuned and finalized."""
    epoch = int(round(T)) if T >= 1 else int(round(T * n_epochs))
    return max(0, min(epoch, n_epochs - 1))


class SparseNeuron(NeuronFunction):
    """Wraps a family's neuron function with SparseLUT's candidate pools and slot scales."""

    def __init__(self, inner: NeuronFunction, indices: torch.Tensor, n_in: int, candidates: int,
                 generator: torch.Generator, T: float, penalty: float, noise: float, regrowth: str,
                 seed: int) -> None:
        super().__init__(inner.n_out, inner.fan_in)
        if regrowth not in REGROWTH:
            raise ValueError(f"sparse_regrowth {regrowth!r}; allowed: {', '.join(REGROWTH)}")
        self.inner = inner
        self.n_in = int(n_in)
        self.K = max(1, min(int(candidates), self.n_in // max(1, self.fan_in)))
        self.T, self.penalty, self.noise, self.regrowth = float(T), float(penalty), float(noise), regrowth
        self.seed = int(seed)
        shape = (self.n_out, self.fan_in, self.K)
        self.register_buffer("candidates", torch.zeros(shape, dtype=torch.int64))
        self.register_buffer("sign", torch.ones(shape))
        self.theta = nn.Parameter(torch.zeros(shape))
        self.register_buffer("choice", torch.zeros(self.n_out, self.fan_in, dtype=torch.int64))
        self.register_buffer("final", torch.zeros((), dtype=torch.bool))
        self.reset_candidates(indices, generator)
        self._last_x: torch.Tensor | None = None
        self._last_grad: torch.Tensor | None = None

    # ------------------------------------------------------------------ state
    @torch.no_grad()
    def reset_candidates(self, indices: torch.Tensor, generator: torch.Generator) -> None:
        """New candidate pools whose candidate 0 is ``indices`` (n_out, F); all distinct per neuron."""
        n_out, F, K = self.n_out, self.fan_in, self.K
        keys = torch.rand(n_out, self.n_in, generator=generator)
        # the given inputs sort first, in slot order; the rest of the pool is a random draw
        keys.scatter_(1, indices.cpu(), torch.arange(F, dtype=keys.dtype).expand(n_out, F) - F - 1.0)
        pool = torch.argsort(keys, dim=1)[:, :F * K]
        cand = torch.cat([pool[:, :F, None], pool[:, F:].reshape(n_out, F, K - 1)], dim=2)
        self.candidates.copy_(cand)
        self.sign.copy_(torch.where(torch.rand(cand.shape, generator=generator) < 0.5, -1.0, 1.0))
        self.sign[:, :, 0] = 1.0
        theta = torch.rand(cand.shape, generator=generator) * 0.5 + 0.5
        theta[:, :, 0] = 1.0  # the family's own connection starts strongest
        self.theta.data.copy_(theta / K)
        self.choice.zero_()
        self.final.fill_(False)

    @property
    def enumeration_width(self) -> int:
        return int(getattr(self.inner, "enumeration_width", 1))

    @property
    def is_final(self) -> bool:
        return bool(self.final)

    @property
    def checkpoint_ready(self) -> bool:
        """Best-validation checkpoints are only taken once the connectivity is final (after T)."""
        return self.is_final

    def sparsifying(self) -> bool:
        return self.training and not self.is_final

    def slot_scale(self) -> torch.Tensor:
        """(n_out, F): sign * theta of each slot's chosen candidate."""
        return (self.sign * self.theta).gather(2, self.choice[..., None])[..., 0]

    def chosen_indices(self) -> torch.Tensor:
        return self.candidates.gather(2, self.choice[..., None])[..., 0]

    # ------------------------------------------------------------------ forward
    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """Sparsification-phase slot values (B, n_out, F) from the layer input x (B, n_in)."""
        w = self.sign * torch.relu(self.theta)
        v = (x[:, self.candidates] * w).sum(-1)  # elementwise + a reduction over the K candidates
        if self.regrowth == "gradient" and v.requires_grad:
            self._last_x = x.detach()
            v.register_hook(self._store_grad)
        return v

    def _store_grad(self, grad: torch.Tensor) -> None:
        self._last_grad = grad.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.sparsifying():  # x = x[:, indices]: scale each slot by its chosen connection
            x = x * self.slot_scale()
        return self.inner(x)

    def regularization(self) -> torch.Tensor | float:
        reg = self.inner.regularization()
        if self.sparsifying():
            reg = reg + self.penalty * torch.relu(self.theta).sum()
            if self.noise > 0:  # a zero-mean term whose gradient is Gaussian noise (Langevin step)
                reg = reg + self.noise * (self.theta * torch.randn_like(self.theta)).sum()
        return reg

    # ------------------------------------------------------------------ schedule
    @torch.no_grad()
    def schedule(self, epoch: int, n_epochs: int) -> None:
        """Regrow, reselect, and finalize at the transition (called by the layer's epoch hook)."""
        if self.is_final:
            return
        gen = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        if epoch > 0:
            self._regrow(gen)
        self._select()
        if epoch >= sparse_transition_epoch(self.T, n_epochs):
            self.finalize()

    @torch.no_grad()
    def _select(self) -> None:
        self.choice.copy_(self.theta.argmax(dim=2))
        self._repair_coverage()

    @torch.no_grad()
    def finalize(self) -> None:
        """Exactly one input per slot (F distinct per neuron, covering the inputs); fine-tune from here."""
        self._select()
        self.final.fill_(True)
        self._last_x = self._last_grad = None

    @torch.no_grad()
    def _regrow(self, gen: torch.Generator) -> None:
        dead = self.theta <= 0  # (n_out, F, K)
        if not dead.any():
            return
        dev = self.theta.device
        n_out, F, K = self.n_out, self.fan_in, self.K
        in_use = torch.zeros(n_out, self.n_in, dtype=torch.bool, device=dev)
        in_use.scatter_(1, self.candidates.reshape(n_out, -1), True)
        new = self.candidates.clone()
        if self.regrowth == "gradient" and self._last_grad is not None and self._last_x is not None:
            g, xb = self._last_grad.to(dev), self._last_x.to(dev)
            score = torch.einsum("bnf,bu->nfu", g, xb).abs()  # |dL/dw| of every possible connection
            for j in range(F):  # slots one at a time, so two slots never grow the same input
                s = score[:, j].masked_fill(in_use, -1.0)
                top = torch.topk(s, K, dim=1)  # (n_out, K) best unused inputs, best first
                rank = torch.cumsum(dead[:, j].long(), dim=1) - 1
                pick = top.indices.gather(1, rank.clamp(min=0))
                ok = dead[:, j] & (top.values.gather(1, rank.clamp(min=0)) >= 0)
                new[:, j] = torch.where(ok, pick, new[:, j])
                in_use.scatter_(1, torch.where(ok, pick, new[:, j]), True)
        else:
            keys = torch.rand(n_out, self.n_in, generator=gen).to(dev).masked_fill(in_use, 2.0)
            order = torch.argsort(keys, dim=1)  # unused inputs first, in random order
            n_free = (~in_use).sum(1, keepdim=True)
            flat_dead = dead.reshape(n_out, -1)
            rank = torch.cumsum(flat_dead.long(), dim=1) - 1
            pick = order.gather(1, rank.clamp(min=0, max=self.n_in - 1))
            ok = flat_dead & (rank < n_free)
            new = torch.where(ok, pick, new.reshape(n_out, -1)).reshape(n_out, F, K)
        alive = self.theta[~dead]
        init = 0.1 * float(alive.mean()) if alive.numel() else 1.0 / K
        self.candidates.copy_(new)
        self.theta.data[dead] = init
        flip = torch.rand(self.sign.shape, generator=gen).to(dev) < 0.5
        self.sign[dead] = torch.where(flip, -1.0, 1.0).to(self.sign.dtype)[dead]
        self._last_x = self._last_grad = None

    @torch.no_grad()
    def _repair_coverage(self) -> None:
        """Point redundant slots at inputs no slot reads, while slots allow (vectorized per input)."""
        idx = self.chosen_indices()
        counts = torch.bincount(idx.flatten(), minlength=self.n_in)
        for u in torch.nonzero(counts == 0).flatten().tolist():  # once, at the transition only
            c = counts[idx]  # (n_out, F): how many slots read the same input as this slot
            # prefer the most redundant slot, then the weakest connection among those
            score = c.to(self.theta.dtype) - self.slot_scale().abs() / (1 + self.slot_scale().abs().max())
            score = score.masked_fill(c < 2, float("-inf"))
            best = int(torch.argmax(score))
            if not torch.isfinite(score.flatten()[best]):
                break  # fewer slots than inputs: the rest stay unread
            i, j = divmod(best, self.fan_in)
            old = int(idx[i, j])
            counts[old] -= 1
            counts[u] += 1
            pool = self.candidates[i]
            pool[pool == u] = old  # u may sit unchosen elsewhere in the pool: swap, keep it a set
            pool[j, self.choice[i, j]] = u
            idx[i, j] = u


class _SparseGather:
    """Mixin for LUTLayer classes: during sparsification the layer feeds its neuron the mixture."""

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        neuron = self.neuron
        if isinstance(neuron, SparseNeuron) and neuron.sparsifying():
            return neuron.mix(x)
        return super().gather(x)

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        neuron = self.neuron
        if isinstance(neuron, SparseNeuron) and not neuron.is_final:
            neuron.schedule(epoch, n_epochs)
            self.indices.copy_(neuron.chosen_indices())


_CLASSES: dict[type, type] = {}


def _sparse_class(cls: type) -> type:
    if issubclass(cls, _SparseGather):
        return cls
    if cls not in _CLASSES:
        name = f"SparseLUT{cls.__name__}"
        _CLASSES[cls] = type(name, (_SparseGather, cls), {"__module__": __name__, "__qualname__": name})
        globals()[name] = _CLASSES[cls]  # picklable by name
    return _CLASSES[cls]


def _layer_inputs(model: LUTNetwork) -> dict[int, int]:
    """Input width of every LUTLayer, found by one eval-mode forward pass (works for any family)."""
    widths: dict[int, int] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args: widths.__setitem__(id(mod), args[0].shape[1]))
             for m in model.modules() if isinstance(m, LUTLayer)]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, model.n_inputs))
            if any(id(m) not in widths for m in model.modules() if isinstance(m, LUTLayer)):
                LUTNetwork.forward(model, torch.zeros(2, model.n_inputs))  # a forward that skips layer calls
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return widths


def set_layer_indices(layer: LUTLayer, indices: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """Set a layer's connectivity (e.g. NLA's learned grouping), SparseLUT-aware."""
    indices = indices.to(layer.indices.device, torch.int64)
    if isinstance(layer.neuron, SparseNeuron):
        layer.neuron.reset_candidates(indices, generator or torch.Generator().manual_seed(layer.neuron.seed))
    layer.indices.copy_(indices)


def apply_connectivity(model: LUTNetwork, params: dict[str, Any], generator: torch.Generator) -> LUTNetwork:
    scheme = params.get("connectivity", "random")
    if scheme == "random":
        return model
    if scheme != "sparselut":
        raise ValueError(f"unknown connectivity {scheme!r}; allowed: {', '.join(SCHEMES)}")
    if not any(isinstance(m, LUTLayer) for m in model.modules()):
        raise ValueError(f"connectivity 'sparselut' does not apply to family {model.family!r} (it has no L-LUT "
                         f"layers with a fan-in to learn); use connectivity: random")
    widths = _layer_inputs(model)
    base_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    for n, layer in enumerate(m for m in model.modules() if isinstance(m, LUTLayer)):
        layer.neuron = SparseNeuron(
            layer.neuron, layer.indices, widths[id(layer)], params.get("sparse_candidates", 4), generator,
            T=params.get("sparse_T", 0.5), penalty=params.get("sparse_penalty", 1e-4),
            noise=params.get("sparse_noise", 0.0), regrowth=params.get("sparse_regrowth", "random"),
            seed=base_seed + n,
        )
        layer.__class__ = _sparse_class(type(layer))
    return model
