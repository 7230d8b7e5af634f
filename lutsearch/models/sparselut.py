"""The ``sparselut`` connectivity scheme: SparseLUT (Lou, Wu & Leong, "SparseLUT: Sparse
Connectivity Optimization for Lookup Table-based Deep Neural Networks", arXiv:2503.12829, 2025).
Every connection has a trainable magnitude ``theta >= 0`` and a fixed random sign; a connection
with ``theta <= 0`` is inactive.
Written by hand here (no library implements it), generically over any family's ``LUTLayer``s, by
composition: ``SparseNeuron`` wraps a layer's neuron function and feeds it through the
``NeuronFunction`` hooks (``slot_rows``, ``on_epoch_start``, ``reset_inputs``); the layer's class is
not changed:

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
  epoch) the choice is frozen and each slot's scale ``sign * theta`` is folded into the wrapped
  neuron function's weights on that input (``fold_input_scale``: LogicNets, NeuraLUT and PolyLUT
  neurons; the scale becomes 1): fine-tuning trains a plain F-input layer, the fused native step
  included. A neuron function that cannot fold keeps multiplying slot j by its trainable scale.

Training cost: the candidate mixture is one matmul with the dense candidate-weight matrix (few
inputs) or row gathers of the feature-major layer input (``_CandidateMix``, backward written out);
the layer then feeds the mixture (n_out * F, B) to the family's fused native layer step as its
input, each neuron reading its own F rows, so the neurons, batch-norm and quantizer run as for a
plain layer.

Outside the sparsification phase (and in eval mode always) a layer reads ``x[:, indices]`` and the
wrapped neuron function sees the slots unscaled (folded) or multiplied by their scales (one
correctly rounded elementwise op), so ``LUTLayer.truth_tables`` and ``to_tables`` work unchanged and
reproduce the model exactly; the exact path adds no operation outside ``lutsearch.models._exact``'s.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lutsearch.models._base import LUTNetwork, NeuronFunction
from lutsearch.models._connectivity import (
    ConnectivityScheme,
    layer_inputs,
    lut_layers,
    register_connectivity,
)
from lutsearch.models._knobs import Knob

__all__ = ["REGROWTH", "SparseNeuron", "apply_sparselut", "fold_input_scale", "sparse_transition_epoch"]

REGROWTH = ("random", "gradient")


def sparse_transition_epoch(T: float, n_epochs: int) -> int:
    """The epoch at which sparsification ends: ``T`` itself if >= 1, else ``round(T * n_epochs)``;
    clipped to ``n_epochs - 1`` so the final F-input network is always fine-tuned and finalized."""
    epoch = round(T) if T >= 1 else round(T * n_epochs)
    return max(0, min(epoch, n_epochs - 1))


class _CandidateMix(torch.autograd.Function):
    """``apply(x, w, candidates, feature_major)``: the sparsification-phase slot values, feature-major
    (n_out * F, B): ``v[i F + f] = sum_k w[i, f, k] * x[candidates[i, f, k]]``, from x (n_in, B) if
    ``feature_major`` else (B, n_in). Layers with few inputs (``_dense_mix``) multiply by the dense
    (n_in, n_out * F) matrix of the candidate weights (one matmul each way, the weight gradient read
    off the dense one at the candidates); wider ones gather rows of the feature-major input
    (``index_select`` on dim 0, then a batched dot over K) and scatter-add rows back (``index_add_``)
    in the backward: contiguous rows of B samples, where autograd of ``x[:, candidates]`` scattered
    single elements along dim 1. Training only; tests check values and gradients of both against
    autograd of that expression."""

    @staticmethod
    def forward(ctx, x, w, candidates, feature_major):
        n, F, K = candidates.shape
        xf = x if feature_major else x.t()
        n_in = xf.shape[0]
        flat = candidates.reshape(-1)
        ctx.feature_major, ctx.n_in = feature_major, n_in
        if _dense_mix(n_in, n * F, K):
            # few inputs: the (n_in, n F) matrix of the candidate weights, one matmul each way
            cols = torch.arange(n * F, device=w.device).repeat_interleave(K)
            dense = w.new_zeros(n_in, n * F).index_put_((flat, cols), w.reshape(-1))
            ctx.save_for_backward(w, flat, cols, xf, dense)
            return dense.t().mm(xf)
        xs = xf.index_select(0, flat).view(n * F, K, -1)  # (n F, K, B)
        v = torch.bmm(w.reshape(n * F, 1, K), xs).view(n * F, -1)  # K products added per slot
        ctx.save_for_backward(w, flat, xs)
        return v

    @staticmethod
    def backward(ctx, grad):
        w, flat, *saved = ctx.saved_tensors
        n, F, K = w.shape
        gw = gx = None
        if len(saved) == 3:  # dense
            cols, xf, dense = saved
            if ctx.needs_input_grad[1]:
                gw = xf.mm(grad.t())[flat, cols].view(n, F, K)  # d loss / d dense, at the candidates
            if ctx.needs_input_grad[0]:
                gx = dense.mm(grad)
        else:
            (xs,) = saved
            g = grad.contiguous().view(n * F, -1, 1)  # (n F, B, 1)
            if ctx.needs_input_grad[1]:
                gw = torch.bmm(xs, g).view(n, F, K)
            if ctx.needs_input_grad[0]:
                rows = (w.reshape(n * F, K, 1) * g.view(n * F, 1, -1)).view(n * F * K, -1)
                gx = rows.new_zeros(ctx.n_in, rows.shape[1]).index_add_(0, flat, rows)
        if gx is not None and not ctx.feature_major:
            gx = gx.t()
        return gx, gw, None, None


DENSE_MIX_INPUTS_PER_CANDIDATE = 64


def _dense_mix(n_in: int, slots: int, K: int) -> bool:
    """Whether the candidate mixture runs as dense matmuls: 3 B n_in n F multiply-adds in BLAS against
    about 6 passes over B n F K gathered values; BLAS wins while n_in is below ~64 K here."""
    return n_in <= DENSE_MIX_INPUTS_PER_CANDIDATE * K


class _InnerKernel:
    """The wrapped family's native kernel, handed the inner neuron function: a SparseNeuron whose
    slots feed the inner function unscaled (sparsification, or scales folded in) *is* that function.
    Methods that take a neuron unwrap it; other attributes (``stem``, ``entry``, ...) are the kernel's."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "kernel":  # copy / pickle protocol, construction
            raise AttributeError(name)
        return getattr(self.kernel, name)

    def supports(self, neuron: SparseNeuron, x: torch.Tensor) -> bool:
        return self.kernel.supports(neuron.inner, x)

    def capable(self, neuron: SparseNeuron, x: torch.Tensor) -> bool:
        return self.kernel.capable(neuron.inner, x)

    def shape_key(self, neuron: SparseNeuron) -> str:
        return self.kernel.shape_key(neuron.inner)

    def parameters(self, neuron: SparseNeuron) -> list[torch.Tensor]:
        return self.kernel.parameters(neuron.inner)

    def arguments(self, neuron: SparseNeuron, params, grads):
        return self.kernel.arguments(neuron.inner, params, grads)

    def call(self, layer, args, backward: bool) -> None:
        self.kernel.call(layer, args, backward)


@torch.no_grad()
def fold_input_scale(inner: NeuronFunction, scale: torch.Tensor) -> bool:
    """Rewrite ``inner`` so that ``inner'(x) == inner(x * scale)`` (``scale`` (n_out, F)), to rounding;
    False (nothing changed) for a neuron function that cannot (``NeuronFunction.fold_input_scale``:
    families whose inputs first meet a linear map (LogicNets, NeuraLUT, NLA's sub-networks) scale its
    columns; PolyLUT scales each monomial's coefficient by the product of its inputs' scales)."""
    return bool(inner.fold_input_scale(scale))


class SparseNeuron(NeuronFunction):
    """Wraps a family's neuron function with SparseLUT's candidate pools and slot scales."""

    inner: NeuronFunction
    candidates: torch.Tensor  # (n_out, F, K) candidate inputs of each slot
    sign: torch.Tensor  # (n_out, F, K) fixed random signs
    theta: nn.Parameter  # (n_out, F, K) trainable magnitudes
    choice: torch.Tensor  # (n_out, F) each slot's chosen candidate
    final: torch.Tensor  # () past the transition epoch
    slots: torch.Tensor  # (n_out, F) rows of the mixture each neuron reads

    def __init__(
        self,
        inner: NeuronFunction,
        indices: torch.Tensor,
        n_in: int,
        candidates: int,
        generator: torch.Generator,
        T: float,
        penalty: float,
        noise: float,
        regrowth: str,
        seed: int,
    ) -> None:
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
        # slot j of neuron i is row i * F + j of the mixed (n_out * F, B) input: the fused step's gather
        self.register_buffer(
            "slots", torch.arange(self.n_out * self.fan_in).view(self.n_out, self.fan_in), persistent=False
        )
        self._inner_kernel = None if inner.native_kernel is None else _InnerKernel(inner.native_kernel)
        self._folded: bool | None = False
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
        pool = torch.argsort(keys, dim=1)[:, : F * K]
        cand = torch.cat([pool[:, :F, None], pool[:, F:].reshape(n_out, F, K - 1)], dim=2)
        self.candidates.copy_(cand)
        self.sign.copy_(torch.where(torch.rand(cand.shape, generator=generator) < 0.5, -1.0, 1.0))
        self.sign[:, :, 0] = 1.0
        theta = torch.rand(cand.shape, generator=generator) * 0.5 + 0.5
        theta[:, :, 0] = 1.0  # the family's own connection starts strongest
        self.theta.data.copy_(theta / K)
        self.choice.zero_()
        self.final.fill_(False)
        self._folded = False

    @property
    def enumeration_width(self) -> int:
        return int(self.inner.enumeration_width)

    @property
    def is_final(self) -> bool:
        return bool(self.final)

    @property
    def folded(self) -> bool:
        """After the transition: the slot scales were folded into the inner neuron function (all 1),
        so the neuron *is* its inner function on ``x[:, indices]``."""
        if self._folded is None:  # after load_state_dict: read it off the state
            self._folded = self.is_final and bool((self.slot_scale() == 1).all())
        return self._folded

    @property
    def native_kernel(self) -> _InnerKernel | None:  # type: ignore[override]  # read-only: follows the phase
        """The inner function's kernel while the neuron is that function on its slot values."""
        if self._inner_kernel is None or not (self.sparsifying() or self.folded):
            return None
        return self._inner_kernel

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._folded = None

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
    def mix_rows(self, x: torch.Tensor, feature_major: bool) -> torch.Tensor:
        """Sparsification-phase slot values, feature-major (n_out * F, B), from the layer input x,
        (n_in, B) if ``feature_major`` else (B, n_in): ``sum_k sign_k relu(theta_k) x[cand_k]``."""
        w = self.sign * torch.relu(self.theta)
        v = _CandidateMix.apply(x, w, self.candidates, feature_major)
        if self.regrowth == "gradient" and v.requires_grad:
            self._last_x = (x if feature_major else x.t()).detach()
            v.register_hook(self._store_grad)
        return v

    def _store_grad(self, grad: torch.Tensor) -> None:
        self._last_grad = grad.detach()

    def slot_rows(self, x: torch.Tensor, feature_major: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        """While sparsifying: the candidate mixture as rows (n_out * F, B) and the (n_out, F) slot rows
        each neuron reads; afterwards None (the layer gathers ``x`` at its indices)."""
        if not self.sparsifying():
            return None
        return self.mix_rows(x, feature_major), self.slots

    def on_epoch_start(self, epoch: int, n_epochs: int) -> torch.Tensor | None:
        """Regrow, reselect (and at T finalize); the slots' chosen inputs become the layer's indices."""
        if self.is_final:
            return None
        self.schedule(epoch, n_epochs)
        return self.chosen_indices()

    def reset_inputs(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> None:
        self.reset_candidates(indices, generator or torch.Generator().manual_seed(self.seed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.sparsifying() or self.folded):  # x = x[:, indices]: scale each slot by its connection
            x = x * self.slot_scale()
        return self.inner(x)

    def input_group_norms(self) -> torch.Tensor | None:
        """The inner function's groups once the connectivity is final (times each slot's |scale| where it
        was not folded); None before: the slots still mix candidates."""
        norms = self.inner.input_group_norms() if self.is_final else None
        if norms is None or self.folded:
            return norms
        return norms * self.slot_scale().abs()

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
        """Exactly one input per slot (F distinct per neuron, covering the inputs); fine-tune from here.

        Each slot's scale ``sign * theta`` is folded into the inner function's first linear map (its
        weights on that input; ``fold_input_scale``) and set to 1, so fine-tuning trains a plain
        F-input layer (the fused training step where the family has one). The scale and the weights
        it multiplies are one parameter then, as in SparseLUT, where the connection weight is the
        layer's weight. A family that cannot fold keeps the trainable scale in front of its neurons."""
        self._select()
        self.final.fill_(True)
        self._last_x = self._last_grad = None
        self._folded = fold_input_scale(self.inner, self.slot_scale())
        if self._folded:
            one = torch.ones_like(self.choice, dtype=self.theta.dtype)[..., None]
            self.theta.data.scatter_(2, self.choice[..., None], one)
            self.sign.scatter_(2, self.choice[..., None], one.to(self.sign.dtype))

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
            g, xf = self._last_grad.to(dev).reshape(n_out, F, -1), self._last_x.to(dev)  # (n F, B), (n_in, B)
            score = torch.einsum("nfb,ub->nfu", g, xf).abs()  # |dL/dw| of every possible connection
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


def apply_sparselut(model: LUTNetwork, params: dict[str, Any], generator: torch.Generator) -> LUTNetwork:
    """Wrap every ``LUTLayer``'s neuron function of ``model`` in a ``SparseNeuron``."""
    layers = lut_layers(model)
    if not layers:
        raise ValueError(
            f"connectivity 'sparselut' does not apply to family {model.family!r} (it has no L-LUT "
            f"layers with a fan-in to learn); use connectivity: random"
        )
    widths = layer_inputs(model)
    base_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    for n, layer in enumerate(layers):
        layer.neuron = SparseNeuron(
            layer.neuron,
            layer.indices,
            widths[id(layer)],
            params["sparse_candidates"],
            generator,
            T=params["sparse_T"],
            penalty=params["sparse_penalty"],
            noise=params["sparse_noise"],
            regrowth=params["sparse_regrowth"],
            seed=base_seed + n,
        )
    return model


register_connectivity(
    ConnectivityScheme(
        name="sparselut",
        apply=apply_sparselut,
        knobs={
            "sparse_T": Knob("float", 0.5, "SparseLUT transition epoch (>= 1) or fraction of training (< 1)"),
            "sparse_penalty": Knob("float", 1e-4, "SparseLUT L1 penalty on connection magnitudes before T"),
            "sparse_noise": Knob("float", 0.0, "SparseLUT gradient-noise scale on magnitudes before T"),
            "sparse_regrowth": Knob("str", "random", "SparseLUT regrowth of dropped connections", choices=REGROWTH),
            "sparse_candidates": Knob("int", 4, "SparseLUT candidate inputs per neuron input slot before T"),
        },
        doc="learned sparse connectivity (SparseLUT, Lou et al. 2025): candidate pools, L1 magnitudes, regrowth, "
        "transition at T",
    )
)
