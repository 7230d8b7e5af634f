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

Training runs the layers feature-major on signed activations ``2 q - 1 = tanh((f + noise) / (2 tau))``
(the Gumbel-sigmoid rescaled, so the next layer's Walsh products read them as they are). On CPU in
float32 each layer's expansion is the PolyLUT kernel (``_native/polynomial.cpp``): a Walsh expansion
is a multilinear polynomial, its 2^k products a chain of k product groups (``walsh_groups``), so the
kernel gathers the node inputs in place and computes f, the coefficient gradients and the input
gradients; elsewhere (no compiler, ``LUTSEARCH_NATIVE=0``, GPU) ``_WalshLayer`` does it in PyTorch as a
bilinear form (one batched matmul per layer), the first layer's 0/1 bits as table reads.

Evaluation (``predict_codes``, validation, ``to_tables``) is the exact path (``lutsearch.models._exact``):
each node's hard table is enumerated with correctly rounded products and an ordered sum of the
expansion, and the data path reads those tables at the samples' addresses, so tables and model agree
bit for bit on every CPU; the popcounts are ordered adds of whole numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from lutsearch.models import _exact as exact
from lutsearch.models._base import LayerHooks, LUTNetwork, WiredNodes, enumerate_codes, random_indices
from lutsearch.models._native import layer as native_layer
from lutsearch.models._native import native_enabled
from lutsearch.models._native import polynomial as native_polynomial
from lutsearch.models._quant import to_codes
from lutsearch.models._registry import FamilySpec, Knob, LayerPlan, layer_fan_in, register_family
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork

__all__ = ["WARPNetwork", "WalshNodes", "walsh_basis"]


def walsh_basis(z: torch.Tensor) -> torch.Tensor:
    """(..., k) signed inputs -> (..., 2^k) products; subset S = bit pattern of the last index.

    Each product is one correctly rounded multiply of a smaller subset's product by one input, so this
    is also the exact path's basis (``lutsearch.models._exact``)."""
    basis = torch.ones(*z.shape[:-1], 1, dtype=z.dtype, device=z.device)
    for j in range(z.shape[-1]):  # loop over the k inputs of a node (k <= 8): doubles the basis
        basis = torch.cat([basis, basis * z[..., j : j + 1]], dim=-1)
    return basis


def _basis_rows(z: torch.Tensor) -> torch.Tensor:
    """Feature-major ``walsh_basis``: (n, m, B) signed inputs -> (n, 2^m, B) products."""
    n, m, batch = z.shape
    out = z.new_empty(n, 1 << m, batch)
    out[:, 0] = 1.0
    for j in range(m):
        torch.mul(out[:, : 1 << j], z[:, j : j + 1], out=out[:, 1 << j : 2 << j])
    return out


def _basis_rows_backward(grad: torch.Tensor, basis: torch.Tensor, z: torch.Tensor, out: torch.Tensor) -> None:
    """d loss / d z into ``out`` (n, m, B) from d loss / d basis (n, 2^m, B); ``grad`` is overwritten."""
    for j in reversed(range(z.shape[1])):  # undo the doublings, last first
        hi = grad[:, 1 << j : 2 << j]
        if j == 0:  # basis[:, 0] is 1
            out[:, 0].copy_(hi[:, 0])
            break
        torch.sum(hi * basis[:, : 1 << j], dim=1, out=out[:, j])
        grad[:, : 1 << j].addcmul_(hi, z[:, j : j + 1])


@functools.lru_cache(maxsize=64)
def _walsh_signs(k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(2^k, 2^k) matrix ``H[S, a] = prod_{j in S} (2 a_j - 1) = (-1)^|S minus a|``: Walsh coefficients
    (rows: subsets S) -> table values (columns: addresses a). Training only (cached, never modified)."""
    a = torch.arange(1 << k)
    missing = a[:, None] & ~a[None, :]  # the inputs of S that are 0 at address a
    parity = torch.zeros_like(missing)
    for j in range(k):
        parity ^= (missing >> j) & 1
    return (1 - 2 * parity).to(dtype=dtype, device=device)


class _WalshLayer(torch.autograd.Function):
    """One WARP layer's training step, feature-major and signed: ``z`` (n_in, B) in [-1, 1] (``2 p - 1``
    of the input probabilities p) -> ``tanh(scale * (f + noise))`` (n, B), which is ``2 sigmoid((f +
    noise) / tau) - 1`` for ``scale = 1 / (2 tau)``: the next layer's signed input.

    Node i's expansion ``f = sum_S c_S prod_{j in S} z_j`` is computed as the bilinear form ``psi^T C
    phi``: phi (2^k1) are the Walsh products of its low k1 = k // 2 inputs, C (2^k2, 2^k1) its
    coefficients (``coeffs[i, lo + 2^k1 hi]``), and psi (the high k2 inputs) is contracted one input at
    a time (``t = t[:half] + z_j t[half:]``) instead of being built. One batched matmul per layer does
    the 2^k multiply-adds per sample and the intermediates are 2^k1 or 2^k2 rows wide, not 2^k.
    ``binary`` inputs (exactly 0/1: the thermometer bits of the first layer) skip the expansion: each
    node is its table of values (the Walsh transform of c) read at the sample's address (no input
    gradient then). The backward is written out; tests check it against autograd of the plain
    expansion."""

    @staticmethod
    def forward(ctx, z, coeffs, idx, noise, scale, binary):
        n, k = idx.shape
        batch = z.shape[1]
        zg = z.index_select(0, idx.reshape(-1)).view(n, k, batch)
        if binary:  # 0/1 inputs (uint8 or float): address bit j = input j
            bits = zg if zg.dtype == torch.uint8 else (zg > 0.5).to(torch.uint8)
            addr8 = bits[:, 0].clone()  # k <= 8 address bits: one byte per (node, sample)
            for j in range(1, k):
                addr8.bitwise_or_(bits[:, j] << j)
            addr = addr8.long()
            f = (coeffs @ _walsh_signs(k, coeffs.dtype, coeffs.device)).gather(1, addr)  # table read
            saved = (addr,)
        else:
            k1 = k // 2
            phi = _basis_rows(zg[:, :k1])
            t = torch.bmm(coeffs.view(n, -1, phi.shape[1]), phi)  # (n, 2^k2, B): C phi
            chain = [t]
            for j in reversed(range(k1, k)):  # contract psi's inputs, highest first
                half = t.shape[1] // 2
                t = torch.addcmul(t[:, :half], t[:, half:], zg[:, j : j + 1])
                chain.append(t)
            f = t.view(n, batch)
            saved = (zg, phi, *chain[:-1])
        if noise is not None:
            f = f.add_(noise) if not binary else f + noise
        out = torch.tanh_(f.mul_(scale) if not binary or noise is not None else f * scale)
        ctx.scale, ctx.binary, ctx.n_in = scale, binary, z.shape[0]
        ctx.save_for_backward(coeffs, idx, out, *saved)
        return out

    @staticmethod
    def backward(ctx, grad):
        coeffs, idx, out, *saved = ctx.saved_tensors
        n, k = idx.shape
        batch = out.shape[1]
        gf = torch.addcmul(grad, grad * out, out, value=-1.0)  # d loss / d f, over scale: grad (1 - out^2)
        gx = None
        if ctx.binary:
            if ctx.needs_input_grad[0]:
                raise RuntimeError("WARP: the binary (table) path has no input gradient")
            (addr,) = saved
            gtable = coeffs.new_zeros(n, 1 << k).scatter_add_(1, addr, gf)
            gc = (gtable @ _walsh_signs(k, coeffs.dtype, coeffs.device).T).mul_(ctx.scale)
            return None, gc, None, None, None, None
        zg, phi, *chain = saved
        k1 = k // 2
        need_x = ctx.needs_input_grad[0]
        gz = zg.new_empty(n, k, batch) if need_x else None
        g = gf.view(n, 1, batch)
        for j, t in zip(range(k1, k), reversed(chain)):  # undo the contractions, lowest input first
            half = t.shape[1] // 2
            if need_x:
                torch.sum(g * t[:, half:], dim=1, out=gz[:, j])
            g = torch.cat([g, g * zg[:, j : j + 1]], dim=1)
        # g: d loss / d (C phi), (n, 2^k2, B)
        gc = torch.bmm(g, phi.transpose(1, 2)).view(n, 1 << k).mul_(ctx.scale)
        if need_x:
            gphi = torch.bmm(coeffs.view(n, g.shape[1], phi.shape[1]).transpose(1, 2), g)
            _basis_rows_backward(gphi, phi, zg[:, :k1], gz)
            gx = gz.new_zeros(ctx.n_in, batch).index_add_(0, idx.reshape(-1), gz.view(n * k, batch), alpha=ctx.scale)
        return gx, gc, None, None, None, None


def logistic_noise(rows: int, batch: int, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """(rows, batch) logistic noise ``logit(u)`` (the difference of two Gumbels) for the Gumbel-sigmoid,
    from 16-bit uniforms ``u = (k + 1/2) / 2^16``: four per 64-bit draw of PyTorch's generator, half its
    work per sample (drawing the noise was a fifth of a WARP training step). The noise is cut at
    +-11.8 (``logit(2^-17)``: a 2^-16 tail per draw) and its quantiles are 2^-16 apart."""
    n = rows * batch
    words = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=device)
    k = words.view(torch.int16)[:n].view(rows, batch)
    return k.to(dtype).add_(32768.5).mul_(1.0 / 65536).logit_()


@functools.lru_cache(maxsize=16)
def walsh_groups(k: int) -> torch.Tensor:
    """The Walsh basis as product groups ``(parent, out, count, input)`` (``polylut.monomial_groups``'
    format, which the PolyLUT kernel takes): products ``2^j .. 2^(j+1) - 1`` are products ``0 .. 2^j - 1``
    times input j, exactly ``walsh_basis``' doubling; product 0 is the constant."""
    return torch.tensor([(0, 1 << j, 1 << j, j) for j in range(k)], dtype=torch.int64).reshape(k, 4)


class _WalshPolynomial:
    """A WalshNodes layer as the PolyLUT kernel sees a ``PolynomialNeurons``: ``weight`` = the Walsh
    coefficients (n, 2^k), a zero ``bias``, ``groups`` = ``walsh_groups(k)``. A multilinear polynomial is
    a polynomial, so the kernel computes the expansion with 2^k products, no more."""

    def __init__(self, coeffs: torch.Tensor, k: int) -> None:
        self.fan_in = k
        self.weight = coeffs
        self.bias = coeffs.new_zeros(coeffs.shape[0])
        self.groups = walsh_groups(k)


class _WalshNative(torch.autograd.Function):
    """A WARP layer's training step by the PolyLUT kernel (``_native/polynomial.cpp`` in ``layer.h``'s
    driver, neither batch-norm nor quantizer): signed feature-major ``z`` (n_in, B), each node reading
    rows ``idx`` in place, -> ``tanh(scale * f + noise)`` (n, B), ``noise`` already times ``scale``. The
    kernel computes ``scale * f`` (from the scaled coefficients) and, in the backward, the coefficient
    gradients and the input gradients summed into (n_in, B); the Gumbel-tanh around it is one add and
    one tanh forward, two ops backward."""

    @staticmethod
    def forward(ctx, z, coeffs, idx, noise, scale):
        z = z.contiguous()
        n, k = idx.shape
        weight = coeffs * scale
        poly = _WalshPolynomial(weight, k)
        params = [weight, poly.bias]
        pre = z.new_empty(n, z.shape[1])
        kernel = native_polynomial.KERNEL
        kernel.call(_layer_args(z, idx, pre), kernel.arguments(poly, params, None), backward=False)
        if noise is not None:
            pre.add_(noise)
        out = torch.tanh_(pre)
        ctx.scale = scale
        ctx.save_for_backward(z, idx, out, *params)
        return out

    @staticmethod
    def backward(ctx, grad):
        z, idx, out, coeffs, bias = ctx.saved_tensors  # coeffs: the scaled ones
        n, k = idx.shape
        gpre = torch.addcmul(grad, grad * out, out, value=-1.0)  # (n, B): d loss / d (scale f)
        grads = [torch.empty_like(coeffs), torch.empty_like(bias)]
        args = _layer_args(z, idx, out)
        args.g = gpre.data_ptr()
        gx = None
        if ctx.needs_input_grad[0]:
            gxn = z.new_empty(n, k, z.shape[1])
            gx = torch.empty_like(z)
            args.gxn, args.gx = gxn.data_ptr(), gx.data_ptr()
        kernel = native_polynomial.KERNEL
        kernel.call(args, kernel.arguments(_WalshPolynomial(coeffs, k), [coeffs, bias], grads), backward=True)
        return gx, grads[0].mul_(ctx.scale), None, None, None


def _layer_args(z: torch.Tensor, idx: torch.Tensor, pre: torch.Tensor) -> native_layer.LayerArgs:
    """``layer.h``'s arguments for the neurons alone on feature-major rows (no batch-norm, no quantizer):
    z (n_in, B), node i reading rows ``idx[i]``, pre (n, B); input gradients feature-major (n, F, B)."""
    n, k = idx.shape
    n_in, batch = z.shape
    return native_layer.LayerArgs(
        n=n,
        F=k,
        B=batch,
        n_in=n_in,
        x=z.data_ptr(),
        idx=idx.data_ptr(),
        xr=batch,
        xs=1,
        pre=pre.data_ptr(),
        gr=batch,
        gs=1,
    )


class WalshNodes(WiredNodes, LayerHooks, nn.Module):
    """``n`` WARP nodes of ``k`` inputs each, reading ``indices`` (n, k) of the previous layer."""

    indices: torch.Tensor  # registered buffer

    def __init__(self, indices: torch.Tensor, tau: float, gumbel: bool, residual_init: float) -> None:
        super().__init__()
        n, k = indices.shape
        self.register_buffer("indices", indices.to(torch.int64).clone())
        self.tau, self.gumbel = float(tau), bool(gumbel)
        coeffs = torch.randn(n, 1 << k) * 0.1
        coeffs[:, 1] += residual_init  # S = {input 0}: the node starts as a copy of its first input
        self.coeffs = nn.Parameter(coeffs)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, k) inputs in [0, 1] -> (B, n) Walsh expansion. In evaluation (the exact path) with
        ``_exact`` arithmetic only: the products of ``walsh_basis``, then ``ordered_dot`` (each term
        rounded, added in subset order), so data path and enumeration agree bit for bit on any CPU."""
        basis = walsh_basis(2.0 * x - 1.0)
        if self.training:
            return (basis * self.coeffs).sum(-1)
        return exact.ordered_dot(basis, self.coeffs)

    def native_ok(self, z: torch.Tensor) -> bool:
        """Whether training steps on ``z`` take the PolyLUT kernel: it can (CPU, float32, library built)
        and ``LUTSEARCH_NATIVE`` is not ``torch``/``0``. Not the per-shape measured choice of
        ``_native/choice.py`` (that times PolyLUT's own neurons): the kernel was 1.5-2x faster than
        ``_WalshLayer`` here (AMD EPYC Zen 4, fan-in 4 and 6)."""
        return (
            torch.is_grad_enabled()
            and native_enabled()
            and native_polynomial.KERNEL.capable(_WalshPolynomial(self.coeffs, self.fan_in), z)
        )

    def noise(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
        """Logistic noise (n, B) of the Gumbel-sigmoid (the difference of two Gumbels), or None."""
        if not self.gumbel:
            return None
        return logistic_noise(self.n_out, batch, self.coeffs.dtype, device)

    def native_forward(self, z: torch.Tensor, noise: torch.Tensor | bool | None = True) -> torch.Tensor:
        """Training step on feature-major signed inputs (n_in, B) -> signed outputs (n, B) by the PolyLUT
        kernel (``_WalshNative``); ``train_forward`` is the same step in PyTorch. ``noise``: True draws
        it here, else the (n, B) noise already divided by ``2 tau``, or None."""
        scale = 0.5 / self.tau
        if noise is True:
            noise = self.noise(z.shape[1], z.device)
            noise = None if noise is None else noise.mul_(scale)
        return _WalshNative.apply(z, self.coeffs, self.indices, noise, scale)

    def train_forward(
        self, z: torch.Tensor, binary: bool = False, noise: torch.Tensor | bool | None = True
    ) -> torch.Tensor:
        """Training step on feature-major signed inputs ``2 p - 1`` (n_in, B) -> signed outputs
        ``2 q - 1`` (n, B), q the Gumbel-sigmoid outputs. ``binary``: the inputs are 0/1 bits instead
        (float or uint8: the first layer's; read as tables, no input gradient then). ``noise`` as in
        ``native_forward``."""
        if noise is True:
            noise = self.noise(z.shape[1], z.device)
        return _WalshLayer.apply(z, self.coeffs, self.indices, noise, 0.5 / self.tau, binary)

    def hard_forward(self, prev: torch.Tensor) -> torch.Tensor:
        """Evaluation on 0/1 inputs (B, n_in) -> 0/1 outputs (B, n): each node's hard table (from the
        exact expansion, ``truth_tables``) read at the sample's address; so the data path and the
        tables agree by construction."""
        tables = torch.from_numpy(self.truth_tables()).to(prev.device)  # (n, 2^k)
        addr = torch.zeros(prev.shape[0], self.n_out, dtype=torch.int64, device=prev.device)
        for j in range(self.fan_in):
            addr |= (prev.index_select(1, self.indices[:, j]) > 0.5).to(torch.int64) << j
        return tables.T.gather(0, addr).to(prev.dtype)

    def forward(self, prev: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.hard_forward(prev)
        return self.train_forward(prev.t() * 2.0 - 1.0).t().add(1.0).mul(0.5)

    @torch.no_grad()
    def truth_tables(self) -> np.ndarray:
        """Hard outputs (n, 2^k) for every address (input j = address bit j), exact arithmetic."""
        was = self.training
        self.train(False)
        try:
            x = enumerate_codes(self.fan_in, 1, False).to(self.coeffs.dtype)  # (2^k, k)
            x = x[:, None, :].expand(x.shape[0], self.n_out, self.fan_in)
            return (self.logits(x) > 0).to(torch.int64).T.numpy()
        finally:
            self.train(was)


def thermometer(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(B, n) codes of ``bits`` bits -> (B, n * (2^bits - 1)) bits ``code > t``, feature-major."""
    levels = torch.arange((1 << bits) - 1, device=codes.device)
    return (codes[..., None] > levels).reshape(codes.shape[0], -1).to(torch.get_default_dtype())


class WARPNetwork(LUTNetwork):
    def __init__(
        self, n_inputs: int, input_bits: int, layers: list[WalshNodes], n_classes: int, group_tau: float
    ) -> None:
        super().__init__(n_inputs, input_bits, layers)
        self.n_classes, self.group_tau = int(n_classes), float(group_tau)
        self.group_size = layers[-1].n_out // n_classes

    @property
    def walsh_layers(self) -> Sequence[WalshNodes]:
        """``layers``, typed: every layer is a ``WalshNodes``."""
        return cast("Sequence[WalshNodes]", self.layers)

    def _bits_in(self, codes: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return thermometer(codes, self.input_bits).to(dtype) if self.input_bits > 1 else codes.to(dtype)

    def _group_counts(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_in) 0/1 inputs -> (B, n_classes) per-class sums of the output nodes. Training runs
        the layers feature-major (``WalshNodes.train_forward``); evaluation reads each node's hard
        table and counts with ``_exact`` adds (whole numbers: exact in any order, but no reduction)."""
        if self.training:
            layers = self.walsh_layers
            if all(layer.native_ok(x) for layer in layers[1:]):
                # every layer's noise drawn up front, in one call (PyTorch ops between kernel calls
                # share the cores with the kernels' helper threads), the first layer's bits as tables
                # (cheaper than any expansion), then the kernel
                noise = self._noise(x.shape[0], x.device)
                h = layers[0].train_forward(x.t().to(torch.uint8).contiguous(), True, noise[0])
                for layer, nz in zip(layers[1:], noise[1:]):
                    h = layer.native_forward(h, None if nz is None else nz.mul_(0.5 / layer.tau))
            else:
                h = x.t().contiguous()  # 0/1 bits: the first layer reads them as tables
                for i, layer in enumerate(layers):
                    h = layer.train_forward(h, binary=i == 0)  # signed: 2 q - 1
            return h.view(self.n_classes, self.group_size, -1).sum(1).t().add(self.group_size).mul(0.5)
        for layer in self.walsh_layers:
            x = layer(x)
        return exact.ordered_sum(x.reshape(x.shape[0], self.n_classes, self.group_size))

    def _noise(self, batch: int, device: torch.device | str) -> list[torch.Tensor | None]:
        """Every layer's Gumbel noise (``WalshNodes.noise``), one draw for all layers."""
        sizes = [layer.n_out if layer.gumbel else 0 for layer in self.walsh_layers]
        if not any(sizes):
            return [None] * len(sizes)
        flat = logistic_noise(sum(sizes), batch, self.walsh_layers[0].coeffs.dtype, device)
        return [part if n else None for part, n in zip(flat.split(sizes), sizes)]

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

    @property
    def n_outputs(self) -> int:
        return self.n_classes

    def max_address_bits(self) -> int:
        return max([self.input_bits] + [layer.fan_in for layer in self.walsh_layers])

    @torch.no_grad()
    def predict_codes(self, codes: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        with self.exact() as exact_twin:
            twin = cast(WARPNetwork, exact_twin)
            outs = [
                twin._group_counts(twin._bits_in(torch.as_tensor(codes[s : s + batch_size]), torch.float64))
                for s in range(0, len(codes), batch_size)
            ]
        if not outs:
            return np.zeros((0, self.n_classes), dtype=np.int64)
        return torch.cat(outs).round().to(torch.int64).numpy()

    @torch.no_grad()
    def to_tables(self, meta: dict[str, Any] | None = None) -> TruthTableNetwork:
        layers: list[TableLayer | AdderLayer] = []
        if self.input_bits > 1:
            levels = (1 << self.input_bits) - 1
            codes = np.arange(1 << self.input_bits)
            layers.append(
                TableLayer(
                    indices=np.repeat(np.arange(self.n_inputs), levels)[:, None],
                    tables=np.tile((codes[None, :] > np.arange(levels)[:, None]).astype(np.int64), (self.n_inputs, 1)),
                    in_bits=self.input_bits,
                    out_bits=1,
                    name="thermometer",
                )
            )
        with self.exact() as exact_twin:
            for i, layer in enumerate(cast(WARPNetwork, exact_twin).walsh_layers):
                layers.append(
                    TableLayer(
                        indices=layer.indices.numpy(),
                        tables=layer.truth_tables(),
                        in_bits=1,
                        out_bits=1,
                        name=f"layer{i}",
                    )
                )
        g = self.group_size
        layers.append(
            AdderLayer(
                indices=np.arange(self.n_classes * g).reshape(self.n_classes, g),
                mask=np.ones((self.n_classes, g), dtype=bool),
                in_bits=1,
                out_bits=self.output_code_bits(),
                in_signed=False,
                out_signed=False,
                name="popcount",
            )
        )
        return TruthTableNetwork(
            n_inputs=self.n_inputs,
            input_bits=self.input_bits,
            layers=layers,
            meta={"family": self.family, "config": self.config, **(meta or {})},
        )


# ---------------------------------------------------------------------- registration
def plan(params: dict[str, Any], n_inputs: int, n_classes: int) -> list[LayerPlan]:
    b = params["input_bits"]
    plans, n_in = [], n_inputs
    if b > 1:
        plans.append(LayerPlan(n_inputs, n_inputs * ((1 << b) - 1), 1, b, False, 1, False))
        n_in = n_inputs * ((1 << b) - 1)
    widths = list(params["widths"]) + [n_classes * params["group_size"]]
    for i, n_out in enumerate(widths):
        k = layer_fan_in(params, i, len(widths), n_in, "warp")
        if k > 8:
            raise ValueError(f"warp layer {i}: {2**k} Walsh coefficients per node is beyond this family (k <= 8)")
        plans.append(LayerPlan(n_in, n_out, k, 1, False, 1, False))
        n_in = n_out
    return plans


def build(params, n_inputs, n_classes, generator) -> WARPNetwork:
    layers = [
        WalshNodes(
            random_indices(p.n_in, p.n_out, p.fan_in, generator),
            params["tau"],
            params["gumbel"],
            params["residual_init"],
        )
        for p in plan(params, n_inputs, n_classes)
        if p.in_bits == 1
    ]
    return WARPNetwork(n_inputs, params["input_bits"], layers, n_classes, params["group_tau"])


register_family(
    FamilySpec(
        name="warp",
        build=build,
        knobs={
            "input_bits": Knob("int", 2, "bits per input feature, thermometer-coded into 2^b - 1 binary inputs"),
            "hidden_bits": Knob("int", 1, "node outputs are Boolean", choices=(1,)),
            "output_bits": Knob(
                "int", 1, "output nodes are Boolean (their per-class popcount is the logit)", choices=(1,)
            ),
            "batch_norm": Knob("bool", False, "unused: Boolean nodes have no batch-norm", choices=(False,)),
            "group_size": Knob("int", 16, "output nodes per class (popcount width)"),
            "group_tau": Knob("float", 2.0, "training logits = popcount / group_tau"),
            "tau": Knob("float", 1.0, "Gumbel-sigmoid temperature"),
            "gumbel": Knob("bool", True, "add logistic (Gumbel-difference) noise to node logits in training"),
            "residual_init": Knob("float", 1.0, "initial coefficient of the first input (node starts as a wire)"),
        },
        doc=__doc__.splitlines()[0],
        plan=plan,
    )
)
