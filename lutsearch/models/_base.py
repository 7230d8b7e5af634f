"""The one L-LUT layer abstraction every family shares, and the network that stacks them.

An L-LUT layer = connectivity (``indices``: which F signals of the previous layer each neuron
reads) + a neuron function (anything trainable over those F inputs, see ``NeuronFunction``) +
batch-norm + a Brevitas output quantizer of ``out_bits`` bits.

Bit-exactness: the truth table of a neuron is its function evaluated on all 2^(F*b_in) input codes,
through *the same* modules and ops as the data path. Both the exact data path (``predict_codes``)
and enumeration (``to_tables``) run on a float64 copy of the model in evaluation mode, so the tables
reproduce the quantized PyTorch model on every input; tests check it family by family. There (float64
evaluation: ``_exact.active``) every neuron function, batch-norm and quantizer computes with the operations of
``lutsearch.models._exact`` only (correctly rounded elementwise steps in a fixed order, no BLAS, no
floating-point reductions, no fused multiply-adds, no libm transcendental functions), so the same
bits come out on every CPU, BLAS, thread count and batch size by construction, not by a library's
choice of kernel.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, cast

import numpy as np
import torch
from torch import nn

from lutsearch.models import _exact as exact
from lutsearch.models._model import LUTModel
from lutsearch.models._native import layer as native_layer
from lutsearch.models._quant import (
    BN_RANGE,
    make_act_quant,
    make_input_quant,
    quant_scale,
    to_codes,
    training_constants,
)
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork, to_unsigned

__all__ = [
    "LUTLayer",
    "LUTModel",
    "LUTNetwork",
    "LayerHooks",
    "NeuronFunction",
    "WiredNodes",
    "enumerate_codes",
    "random_indices",
    "run_layers",
]

# Largest truth table (address bits) a layer may enumerate; wider designs are pruned before training.
MAX_ADDRESS_BITS = 24
# Added under the square root of an L2 group norm (``NeuronFunction.input_group_norms``): finite gradients at 0.
GROUP_NORM_FLOOR = 1e-24


class NeuronFunction(nn.Module):
    """A batch of ``n_out`` independent neuron functions of ``fan_in`` inputs each.

    ``forward(x)`` takes ``x`` of shape (B, n_out, F) (neuron ``i`` sees ``x[:, i, :]``) and
    returns pre-activations (B, n_out). Implementations must be vectorized over neurons and must
    give each neuron's result independently of the batch it is computed in.

    ``native_kernel``: a family's fused C++ kernel (``lutsearch.models._native.layer.NeuronKernel``),
    which lets a plain ``LUTLayer`` run whole training steps natively; None for families without one.
    A subclass that computes a different function must set it back to None.

    ``enumeration_width``: the intermediate values kept per (table entry, neuron) pair when
    enumerating (hidden width, monomial count; bounds the chunk size of ``LUTLayer.truth_tables``).
    ``checkpoint_ready``: False while the current weights are not a final design (SparseLUT before its
    transition epoch). ``sparsifying()``: whether the neuron currently mixes candidate inputs.

    Connectivity hooks (no-ops here; a connectivity scheme's wrapper, e.g. SparseLUT's
    ``SparseNeuron``, overrides them so that its layer stays a plain ``LUTLayer``): ``slot_rows``
    computes the slot values from the whole layer input, ``on_epoch_start`` returns new indices for
    the layer, ``reset_inputs`` hears of indices set from outside.
    """

    native_kernel: native_layer.NeuronKernel | None = None

    @property
    def enumeration_width(self) -> int:
        return 1

    @property
    def checkpoint_ready(self) -> bool:
        return True

    def __init__(self, n_out: int, fan_in: int) -> None:
        super().__init__()
        self.n_out, self.fan_in = n_out, fan_in

    def regularization(self) -> torch.Tensor | float:  # pragma: no cover - default
        return 0.0

    def sparsifying(self) -> bool:
        return False

    def slot_rows(self, x: torch.Tensor, feature_major: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        """None: the layer gathers its input ``x`` at its ``indices``. Else (rows, slots): the slot
        values as feature-major rows (R, B) computed from ``x`` ((n_in, B) if ``feature_major`` else
        (B, n_in)), and the (n_out, F) rows each neuron reads."""
        return None

    def on_epoch_start(self, epoch: int, n_epochs: int) -> torch.Tensor | None:
        """Called by the layer before each epoch; new (n_out, F) indices for the layer, or None."""
        return None

    def reset_inputs(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """The layer's indices were set to ``indices`` (n_out, F) from outside."""

    def fold_input_scale(self, scale: torch.Tensor) -> bool:
        """Rewrite the function so that ``f'(x) == f(x * scale)`` (``scale`` (n_out, F)), to rounding,
        and say True; False (nothing changed) where the function cannot (the default). Used by
        SparseLUT to fold its slot scales into the neurons at the transition epoch."""
        return False

    def input_group_norms(self) -> torch.Tensor | None:
        """(n_out, F), differentiable: per neuron and input slot, the norm of the parameters through which
        the neuron reads that slot (its *input group*; 0: the neuron ignores the slot). None where the
        function cannot say (the default). Read by the structured-pruning regularizer (``_group_prune``)."""
        return None

    # Truth-table hooks (``LUTLayer.truth_tables``, ``table_layer``); the defaults: every slot addresses it.
    @property
    def table_fan_in(self) -> int:
        """A: the number of inputs that address each neuron's truth table (F unless slots were pruned)."""
        return self.fan_in

    def table_inputs(self, values: torch.Tensor) -> torch.Tensor:
        """The neuron inputs (E, n_out, F) for the enumerated address values (E, A)."""
        return values[:, None, :].expand(values.shape[0], self.n_out, self.fan_in)

    def table_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """The (n_out, A) inputs that address the tables, from the layer's (n_out, F) ``indices``."""
        return indices


class LayerHooks:
    """Training hooks of a network's layers (mixed into their ``nn.Module`` classes), no-op defaults:
    ``LUTNetwork.regularization`` sums the layers', ``LUTNetwork.on_epoch_start`` calls every
    submodule's that has these hooks."""

    def regularization(self) -> torch.Tensor | float:
        return 0.0

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        pass


class WiredNodes:
    """``n_out`` and ``fan_in`` read off the (n_out, F) ``indices`` buffer of a layer (mixed into the
    ``nn.Module`` classes of layers that are not ``LUTLayer``s: HGQ's edges, WARP's Walsh nodes)."""

    indices: torch.Tensor

    @property
    def n_out(self) -> int:
        return int(self.indices.shape[0])

    @property
    def fan_in(self) -> int:
        return int(self.indices.shape[1])


def random_indices(n_in: int, n_out: int, fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """Each neuron reads a uniformly random subset of ``fan_in`` distinct inputs (LogicNets).

    Vectorized: one argsort of a random matrix (n_out, n_in), no loop over neurons.
    """
    if fan_in > n_in:
        raise ValueError(f"fan-in {fan_in} exceeds the {n_in} inputs of the layer")
    keys = torch.rand(n_out, n_in, generator=generator)
    return torch.argsort(keys, dim=1)[:, :fan_in].sort(dim=1).values.contiguous()


def enumerate_codes(fan_in: int, bits: int, signed: bool) -> torch.Tensor:
    """All 2^(F*b) input code vectors (E, F), ordered by address: input j = bits [b*j, b*j+b)."""
    addr = torch.arange(1 << (fan_in * bits), dtype=torch.int64)
    shifts = torch.arange(fan_in, dtype=torch.int64) * bits
    codes = (addr[:, None] >> shifts[None, :]) & ((1 << bits) - 1)
    if signed:
        codes = torch.where(codes >= (1 << (bits - 1)), codes - (1 << bits), codes)
    return codes


class LUTLayer(LayerHooks, nn.Module):
    """Connectivity + neuron function + batch-norm + output quantizer."""

    neuron: NeuronFunction
    indices: torch.Tensor
    bn: nn.Module
    quant: nn.Module

    def __init__(
        self,
        neuron: NeuronFunction,
        indices: torch.Tensor,
        in_bits: int,
        in_signed: bool,
        out_bits: int,
        out_signed: bool,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if indices.shape != (neuron.n_out, neuron.fan_in):
            raise ValueError(f"indices {tuple(indices.shape)} do not match ({neuron.n_out}, {neuron.fan_in})")
        self.neuron = neuron
        self.register_buffer("indices", indices.to(torch.int64).clone())
        self.in_bits, self.in_signed = int(in_bits), bool(in_signed)
        self.out_bits, self.out_signed = int(out_bits), bool(out_signed)
        self.bn = nn.BatchNorm1d(neuron.n_out) if batch_norm else nn.Identity()
        # after a batch-norm, the reference's starting range (``BN_RANGE``); else the first batches' statistics
        self.quant = make_act_quant(out_bits, out_signed, BN_RANGE[bool(out_signed)] if batch_norm else None)

    @property
    def n_out(self) -> int:
        return self.neuron.n_out

    @property
    def fan_in(self) -> int:
        return self.neuron.fan_in

    @property
    def address_bits(self) -> int:
        """Address bits of the layer's truth tables (``NeuronFunction.table_fan_in`` inputs)."""
        return self.neuron.table_fan_in * self.in_bits

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_in) -> (B, n_out, F): one gather per layer (index_select: ~3x faster than fancy indexing
        forward + backward; a pure copy, so values are identical). A neuron function that computes its
        own slot values (``NeuronFunction.slot_rows``) gets those instead."""
        indices = cast(torch.Tensor, self._buffers["indices"])
        rows = cast(NeuronFunction, self._modules["neuron"]).slot_rows(x, False)
        if rows is not None:
            values, slots = rows
            return values.t().index_select(1, slots.reshape(-1)).view(x.shape[0], *slots.shape)
        return x.index_select(1, indices.reshape(-1)).view(x.shape[0], *indices.shape)

    def normalize(self, pre: torch.Tensor) -> torch.Tensor:
        """The batch-norm of neuron outputs ``pre`` (B, n_out): on the exact path (float64 evaluation)
        written out as correctly rounded elementwise steps (``_exact.batch_norm``), else PyTorch's module."""
        bn = cast(nn.Module, self._modules["bn"])
        if isinstance(bn, nn.BatchNorm1d) and exact.active(bn, pre) and bn.track_running_stats:
            return exact.batch_norm(pre, bn)
        return bn(pre)

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.neuron(self.gather(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.quant(self.preactivation(x))

    def regularization(self) -> torch.Tensor | float:
        return self.neuron.regularization()

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        indices = self.neuron.on_epoch_start(epoch, n_epochs)
        if indices is not None:
            self.indices.copy_(indices)

    # ------------------------------------------------------------------ fused training step
    def fused_constants(self, x: torch.Tensor, batch: int) -> native_layer.LayerConstants | None:
        """The constants of the fused native training step (gather, neurons, batch-norm, quantizer
        in one kernel call per direction) when it applies to this layer on ``x``, else None: a
        training step with gradients, on CPU in float32, of a plain ``LUTLayer`` (no overridden
        gather or forward) whose neurons have a kernel, whose batch-norm is the standard training-
        mode one (or none) and whose quantizer is past Brevitas' statistics phase; and where
        ``LUTSEARCH_NATIVE`` allows it: under ``auto`` (default) only for kinds of layer measured
        faster fused on this CPU (``_native.choice``). ``x`` is the input in either layout, ``batch``
        its number of samples (at least 2, as batch-norm needs)."""
        modules = self._modules  # direct lookups: this runs every step, nn.Module.__getattr__ is slow
        neuron, bn = cast(NeuronFunction, modules["neuron"]), cast(Any, modules["bn"])
        kernel = neuron.native_kernel
        if kernel is None or batch < 2 or not (self.training and torch.is_grad_enabled()):
            return None
        cls = type(self)
        if (
            cls.forward is not LUTLayer.forward
            or cls.preactivation is not LUTLayer.preactivation
            or cls.gather is not LUTLayer.gather
        ):
            return None
        norm = type(bn) is nn.BatchNorm1d
        if norm and not (bn.training and bn.affine and bn.track_running_stats and bn.momentum is not None):
            return None
        # ``capable``: can the kernel run it (``supports`` would say whether it should, neurons alone)
        if not (norm or type(bn) is nn.Identity) or not kernel.capable(neuron, x):
            return None
        quant = training_constants(cast(nn.Module, modules["quant"]))
        if quant is None or not native_layer.choice.fused_allowed(self, x, batch, norm):
            return None
        scaling, threshold, min_val, lo, hi, relu, below, above = quant
        return native_layer.LayerConstants(
            scaling,
            norm,
            bn.eps if norm else 0.0,
            bn.momentum if norm else 0.0,
            threshold,
            min_val,
            lo,
            hi,
            relu,
            below,
            above,
        )

    def fused_forward(
        self, x: torch.Tensor, consts: native_layer.LayerConstants, feature_major: bool = True
    ) -> torch.Tensor:
        """This layer's training step on ``x``, feature-major (n_in, B) or else (B, n_in) -> (n_out, B):
        the values of ``forward`` (to float32 rounding), batch-norm statistics updated as
        ``nn.BatchNorm1d`` does."""
        neuron, value = cast(NeuronFunction, self._modules["neuron"]), consts.scaling._parameters["value"]
        indices = cast(torch.Tensor, self._buffers["indices"])
        kernel = neuron.native_kernel
        assert kernel is not None  # fused_constants said so
        rows = neuron.slot_rows(x, feature_major)
        if rows is not None:  # the neurons read their slots' rows of the values the neuron computed
            x, indices = rows
            feature_major = True
        if consts.norm:
            bn = cast(nn.BatchNorm1d, self._modules["bn"])
            buffers, params = cast(dict[str, torch.Tensor], bn._buffers), bn._parameters
            buffers["num_batches_tracked"].add_(1)
            return native_layer.layer_step(
                kernel,
                neuron,
                x,
                feature_major,
                indices,
                consts,
                buffers["running_mean"],
                buffers["running_var"],
                value,
                params["weight"],
                params["bias"],
            )
        return native_layer.layer_step(kernel, neuron, x, feature_major, indices, consts, None, None, value, None, None)

    @torch.no_grad()
    def truth_tables(self, in_scale: torch.Tensor, max_entries_per_chunk: int = 1 << 20) -> np.ndarray:
        """Output codes (n_out, 2^(A*b)) as unsigned bit patterns (A: ``NeuronFunction.table_fan_in``),
        batched over all neurons.

        A chunk holds about ``max_entries_per_chunk`` (entry, neuron, unit) values, where a neuron
        function may declare ``enumeration_width``: the intermediate values it keeps per (entry,
        neuron) pair (hidden width, monomial count); this bounds memory for wide neuron functions.
        The default (8 MB float64 intermediates) keeps tensors cache- and allocator-friendly: with
        32 MB ones every chunk paid fresh page faults and NeuraLUT JSC-5L enumerated ~2x slower.
        """
        neuron = self.neuron
        codes = enumerate_codes(neuron.table_fan_in, self.in_bits, self.in_signed)
        values = codes.to(in_scale.dtype) * in_scale
        n_entries = values.shape[0]
        width = max(1, int(neuron.enumeration_width))
        # At least 256 entries per chunk: below that, per-call overheads dominate.
        chunk = max(256, max_entries_per_chunk // max(1, self.n_out * width))
        out = np.empty((self.n_out, n_entries), dtype=np.int64)
        for start in range(0, n_entries, chunk):  # chunks of table entries bound memory
            x = neuron.table_inputs(values[start : start + chunk])  # (entries, n_out, F)
            pre = self.normalize(neuron(x))
            out[:, start : start + x.shape[0]] = to_codes(self.quant, pre).T.numpy()
        return to_unsigned(out, self.out_bits)

    def table_layer(self, in_scale: torch.Tensor, name: str = "") -> TableLayer:
        return TableLayer(
            indices=self.neuron.table_indices(self.indices).cpu().numpy(),
            tables=self.truth_tables(in_scale),
            in_bits=self.in_bits,
            out_bits=self.out_bits,
            in_signed=self.in_signed,
            out_signed=self.out_signed,
            name=name,
        )


class OutputLayer(Protocol):
    """What ``LUTNetwork`` reads of its last layer (a ``LUTLayer`` or a family's own output layer)."""

    n_out: int
    out_bits: int
    out_signed: bool
    quant: nn.Module

    def preactivation(self, x: torch.Tensor) -> torch.Tensor: ...


def run_layers(layers: Iterable[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """``x`` (B, n) through ``layers`` in order; returns (B, n_out). Consecutive layers that take the
    fused training step (``LUTLayer.fused_constants``) hand on feature-major (n, B) activations; a
    layer that does not gets (and returns) the usual (B, n)."""
    feature_major = False
    for layer in layers:
        if (
            isinstance(layer, LUTLayer)
            and (consts := layer.fused_constants(x, x.shape[1] if feature_major else x.shape[0])) is not None
        ):
            x = layer.fused_forward(x, consts, feature_major)  # reads either layout in place
            feature_major = True
        else:
            if feature_major:
                x, feature_major = x.t(), False
            x = layer(x)
    return x.t() if feature_major else x


class LUTNetwork(LUTModel):
    """Input quantizer + a stack of L-LUT layers; the last layer's quantized outputs are the logits.

    Families build one of these (or a subclass that overrides ``to_tables`` for layers that are not
    plain ``LUTLayer``s, e.g. adders). Training hooks (``LUTModel``): ``regularization()`` is added to
    the loss, ``on_epoch_start(epoch, n_epochs)`` runs before each epoch, ``prelude(ctx)`` before training.
    """

    input_quant: nn.Module
    layers: nn.ModuleList

    def __init__(
        self, n_inputs: int, input_bits: int, layers: Sequence[nn.Module], config: dict[str, Any] | None = None
    ):
        super().__init__()
        self.n_inputs, self.input_bits = int(n_inputs), int(input_bits)
        self.input_quant = make_input_quant(input_bits)
        self.layers = nn.ModuleList(layers)
        self.config = dict(config or {})

    # ------------------------------------------------------------------ training path
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_layers(self.layers, self.input_quant(x))

    def regularization(self) -> torch.Tensor | float:
        return sum((layer.regularization() for layer in self.layers if isinstance(layer, LayerHooks)), 0.0)

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        for module in self.modules():
            if module is not self and isinstance(module, (LayerHooks, LUTModel)):
                module.on_epoch_start(epoch, n_epochs)

    def checkpoint_ok(self) -> bool:
        """Whether the current weights may be kept as the best checkpoint (every neuron function's
        ``checkpoint_ready`` flag, e.g. SparseLUT before its transition epoch, must agree)."""
        return all(m.checkpoint_ready for m in self.modules() if isinstance(m, NeuronFunction))

    # ------------------------------------------------------------------ exact path
    @contextlib.contextmanager
    def exact(self) -> Iterator[LUTNetwork]:
        """A float64, eval-mode copy: the reference quantized model the tables must reproduce."""
        twin = copy.deepcopy(self).to("cpu").double().eval()
        yield twin

    @torch.no_grad()
    def input_codes(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Unsigned input codes (N, n_inputs) exactly as the hardware receives them."""
        x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        with self.exact() as twin:
            return to_codes(twin.input_quant, x).numpy()

    @torch.no_grad()
    def predict_codes(self, codes: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Output codes (N, n_out) of the quantized PyTorch model, fed input *codes*."""
        with self.exact() as twin:
            scale = quant_scale(twin.input_quant)
            outs = []
            for start in range(0, len(codes), batch_size):
                x = torch.as_tensor(codes[start : start + batch_size], dtype=torch.float64) * scale
                outs.append(twin._codes_from_values(x))
            return np.concatenate(outs) if outs else np.zeros((0, self.n_outputs), dtype=np.int64)

    def _output_layer(self) -> OutputLayer:
        return cast(OutputLayer, self.layers[-1])

    def _codes_from_values(self, x: torch.Tensor) -> np.ndarray:
        for layer in self.layers[:-1]:
            x = layer(x)
        last = self._output_layer()
        return to_unsigned(to_codes(last.quant, last.preactivation(x)).numpy(), last.out_bits)

    @property
    def n_outputs(self) -> int:
        return self._output_layer().n_out

    def output_code_bits(self) -> int:
        return self._output_layer().out_bits

    def output_code_signed(self) -> bool:
        return bool(self._output_layer().out_signed)

    def output_quant_slot(self) -> tuple[nn.Module, str] | None:
        """The last layer's quantizer."""
        return self.layers[-1], "quant"

    @torch.no_grad()
    def to_tables(self, meta: dict[str, Any] | None = None) -> TruthTableNetwork:
        """Enumerate every layer into a ``TruthTableNetwork`` (the contract with hardware)."""
        with self.exact() as twin:
            scale = quant_scale(twin.input_quant)
            table_layers: list[TableLayer | AdderLayer] = []
            for i, layer in enumerate(cast(Iterable[LUTLayer], twin.layers)):
                table_layers.append(layer.table_layer(scale, name=f"layer{i}"))
                scale = quant_scale(layer.quant)
        return TruthTableNetwork(
            n_inputs=self.n_inputs,
            input_bits=self.input_bits,
            layers=table_layers,
            meta={"family": self.family, "config": self.config, **(meta or {})},
        )

    def quantizer_scales(self) -> dict[str, float]:
        """Every activation quantizer's scale (saved with each design for the record)."""
        scales = {"input": float(quant_scale(self.input_quant))}
        with self.exact() as twin:
            for name, module in twin.named_modules():
                if name.endswith("quant") and name != "input_quant" and hasattr(module, "act_quant"):
                    scales[name] = float(quant_scale(module))
        return scales

    def max_address_bits(self) -> int:
        return max((getattr(layer, "address_bits", 0) for layer in self.layers), default=0)
