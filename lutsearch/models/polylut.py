"""PolyLUT (Andronic & Constantinides, ICFPT 2023): each neuron is a multivariate polynomial.

Neuron i expands its F inputs into every monomial of total degree <= D (the constant included,
C(F+D, D) terms) and applies a linear map: ``y_i = sum_m w_im * prod_j x_j^e_mj + b_i``, followed by
batch-norm and the quantized activation, as in the reference code (MartaAndronic/PolyLUT,
``src/polylut/nn.py``). With D = 1 it is LogicNets plus a redundant constant term.

Vectorization (no ``pow``/``prod`` per monomial): the monomial order is fixed once so that the
degree-d monomials with largest variable j are a *prefix* of the degree-(d-1) block times x_j. A
layer is then D*F slice-times-row products written in place into one (n_out, M, B) buffer, plus one
batched matmul over neurons for the linear map. The backward is written by hand: the weight
gradient is one more batched matmul, and the input gradient uses d(m' x_j)/dx_j = (e_j + 1) m', a
batched matmul of the degree <= D-1 monomials with a matrix gathered from the weights.

The exact path (evaluation: ``predict_codes`` and table enumeration) builds the same monomials
(elementwise products, exact by construction) and contracts them with ``_exact`` arithmetic: the
products ``w_m * mono_m`` added one monomial after another in the fixed monomial order, then the
bias (``_exact.per_neuron_affine``: one native call where ``_native/exact.cpp`` is built). No BLAS
call or ``sum`` decides the order, so the tables and the model agree on every CPU, BLAS, thread count
and batch size (on an AVX2 CPU, MKL's batched matmul gave other float64 bits for other batch sizes).
Tests check it across batch sizes and layouts, and golden table hashes.

Training steps on CPU in float32 run a fused C++ kernel instead (``lutsearch.models._native.polynomial``:
monomials of 16 samples at a time in L1, the backward recomputing them and differentiating through
their product tree), inside a whole fused layer step where the layer allows it
(``LUTLayer.fused_forward``: gather, polynomials, batch-norm and quantizer in one call). The exact
path never runs them. Training without a kernel and float32 evaluation (validation between epochs)
take the PyTorch path (``_Polynomial``), whose results are not part of the exactness contract.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lutsearch.models import _exact as exact
from lutsearch.models._base import GROUP_NORM_FLOOR, LUTNetwork, NeuronFunction
from lutsearch.models._group_prune import PRUNE_KNOBS
from lutsearch.models._native import layer as native_layer
from lutsearch.models._native import polynomial as native_polynomial
from lutsearch.models._registry import FamilySpec, Knob, register_family
from lutsearch.models.logicnets import build_layers
from lutsearch.models.neuralut import MIN_BMM_ROWS

__all__ = ["PolynomialNeurons", "monomial_groups", "monomial_structure", "n_monomials"]


def n_monomials(fan_in: int, degree: int) -> int:
    """Number of monomials of total degree <= ``degree`` in ``fan_in`` variables: C(F+D, D)."""
    return math.comb(fan_in + degree, degree)


def monomial_structure(fan_in: int, degree: int) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """The fixed monomial order, built degree by degree.

    Within a degree, monomials are grouped by their largest variable j (ascending); group j is every
    degree-(d-1) monomial whose largest variable is <= j, times x_j. Since the previous degree is
    sorted the same way, those parents are a *prefix* of the previous block, of length
    ``C(j + d - 1, d - 1)``: each group is one slice times one input row, no gather needed.

    Returns ``parents``, ``variables`` (one int64 tensor per degree d = 1..D: monomial k of degree d
    is ``block_{d-1}[parents[d-1][k]] * x[variables[d-1][k]]``, indices local to the blocks) and the
    exponent matrix (M, F) of all monomials in order (constant first). Runs once per layer; its
    loops are over degrees and monomials, never over data.
    """
    if degree < 0:
        raise ValueError(f"polynomial degree must be >= 0, got {degree}")
    prev: list[tuple[int, ...]] = [()]  # a monomial = non-decreasing tuple of variable indices
    exps = [[0] * fan_in]
    parents, variables = [], []
    for d in range(1, degree + 1):
        block, par, var = [], [], []
        for j in range(fan_in):
            for p in range(_prefix(j, d)):
                block.append(prev[p] + (j,))
                par.append(p)
                var.append(j)
        exps += [np.bincount(np.array(m, dtype=np.int64), minlength=fan_in).tolist() for m in block]
        parents.append(torch.tensor(par, dtype=torch.int64))
        variables.append(torch.tensor(var, dtype=torch.int64))
        prev = block
    return parents, variables, torch.tensor(exps, dtype=torch.int64)


def _prefix(j: int, d: int) -> int:
    """Number of degree-(d-1) monomials whose largest variable is <= j: C(j + d - 1, d - 1)."""
    return math.comb(j + d - 1, d - 1)


def monomial_groups(fan_in: int, degree: int) -> torch.Tensor:
    """The monomial order as (G = D*F, 4) int64 rows ``(parent, out, count, j)``: monomials
    ``out .. out+count-1`` are monomials ``parent .. parent+count-1`` (a prefix of the previous
    degree's block) times input j; monomial 0 is the constant. Same order as ``monomial_structure``."""
    rows, start, count = [], 0, 1  # the previous degree's block
    for d in range(1, degree + 1):
        out = start + count
        for j in range(fan_in):
            n = _prefix(j, d)
            rows.append((start, out, n, j))
            out += n
        start, count = start + count, out - start - count
    return torch.tensor(rows, dtype=torch.int64).reshape(-1, 4)


def _monomial_rows(x: torch.Tensor, neuron: PolynomialNeurons) -> torch.Tensor:
    """(B, n_out, F) -> (n_out, M, B): per group, one product of a prefix of the previous
    degree's block with the row x_j, written in place (constant row first)."""
    xt = x.permute(1, 2, 0).contiguous()  # (n_out, F, B)
    mono = neuron.spare.take((neuron.n_out, neuron.n_terms, x.shape[0]), x)
    mono[:, 0] = 1.0
    for parent, out, n, j in neuron.group_rows:  # D*F groups, not neurons or samples
        torch.mul(mono.narrow(1, parent, n), xt.narrow(1, j, 1), out=mono.narrow(1, out, n))
    return mono


def _contract(mono: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """y[i, b] = sum_m weight[i, m] * mono[i, m, b] on the training path (the exact path is
    ``PolynomialNeurons._exact_forward``).

    With M * MIN_BMM_ROWS >= 400 (M >= 7): a batched (1 x M) @ (M x B) matmul, the weights on the
    left so that BLAS streams the monomial buffer in its own layout (~4x faster than multiplying its
    transpose by the weights), with the batch zero-padded to ``MIN_BMM_ROWS`` columns (M * B >= 400
    keeps PyTorch off its slow naive small-matmul kernel). Fewer monomials: the products summed one
    monomial at a time.
    """
    n_terms = weight.shape[1]
    if n_terms * MIN_BMM_ROWS < 400:
        total = mono[:, 0] * weight[:, :1]
        for m in range(1, n_terms):  # a loop over at most 6 monomials, never over neurons or samples
            total += mono[:, m] * weight[:, m : m + 1]
        return total
    cols = mono.shape[2]
    if cols < MIN_BMM_ROWS:
        mono = F.pad(mono, (0, MIN_BMM_ROWS - cols))
    return torch.bmm(weight.unsqueeze(1), mono)[:, 0, :cols]


class _Polynomial(torch.autograd.Function):
    """y[b, i] = sum_m w[i, m] * mono_m(x[b, i]) + bias[i], with a hand-written backward.

    Monomials live in a (n_out, M, B) buffer: each degree is a row gather of the previous degree's
    block and of the inputs, then one product written in place. The linear map and both gradients are
    batched matmuls over neurons. Backward uses d mono_{m'x_j} / d x_j = (e_{m'j} + 1) mono_{m'}: the
    input gradient is one more matmul of the degree <= D-1 monomials with a matrix gathered from w.
    Hand-written because autograd through gathers on the monomial axis (index_add) is ~10x slower.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, neuron):
        mono = _monomial_rows(x, neuron)
        y = _contract(mono, weight)  # (n_out, B)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(mono, weight)
        else:  # no backward will read it
            neuron.spare.give(mono)
        ctx.neuron = neuron
        return y.t() + bias

    @staticmethod
    def backward(ctx, grad):
        mono, weight = ctx.saved_tensors
        neuron = ctx.neuron
        gt = grad.t().contiguous()  # (n_out, B)
        # Both products keep the monomial buffer as the right-hand (M x B) operand, as in forward.
        grad_w = torch.bmm(gt.unsqueeze(1), mono.transpose(1, 2))[:, 0] if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if ctx.needs_input_grad[2] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            lower = mono.narrow(1, 0, neuron.child.shape[0])  # monomials of degree <= D-1
            a = weight[:, neuron.child] * neuron.child_coef  # (n_out, M', F)
            grad_x = (torch.bmm(a.transpose(1, 2), lower) * gt.unsqueeze(1)).permute(2, 0, 1)  # (B, n_out, F)
        neuron.spare.give(mono)  # backward is done with it: the next forward writes into it
        return grad_x, grad_w, grad_b, None


class _SpareBuffer:
    """One reusable monomial buffer per layer.

    The (n_out, M, B) monomial buffer is the largest tensor of a PolyLUT step (55 MB for JSC-M-Lite);
    allocated fresh, every step pays page faults on first touch (glibc returns blocks over 32 MB to
    the OS), ~20% of the step. A buffer is handed back only once no backward can read it any more
    (after backward, or at once when no gradient is needed), and a later in-place write into a buffer
    that autograd still holds would raise PyTorch's version-counter error, never compute silently.
    Not copied with the module (``deepcopy``/pickling give an empty holder).
    """

    __slots__ = ("tensor",)

    def __init__(self) -> None:
        self.tensor: torch.Tensor | None = None

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        buf, self.tensor = self.tensor, None
        if buf is not None and buf.shape == shape and buf.dtype == like.dtype and buf.device == like.device:
            return buf
        return like.new_empty(shape)

    def give(self, buf: torch.Tensor) -> None:
        self.tensor = buf

    def __deepcopy__(self, memo) -> _SpareBuffer:
        return _SpareBuffer()

    def __reduce__(self):
        return (_SpareBuffer, ())


class PolynomialNeurons(NeuronFunction):
    """``n_out`` independent degree-``degree`` polynomials of ``fan_in`` inputs each."""

    native_kernel = native_polynomial.KERNEL
    exponents: torch.Tensor  # (n_terms, F) exponent of each input in each monomial

    def __init__(self, n_out: int, fan_in: int, degree: int) -> None:
        super().__init__(n_out, fan_in)
        self.degree = int(degree)
        exps = monomial_structure(fan_in, self.degree)[2]
        self.register_buffer("exponents", exps, persistent=False)
        groups = monomial_groups(fan_in, self.degree)
        self.register_buffer("groups", groups, persistent=False)  # read by the fused kernel
        self.group_rows = [tuple(r) for r in groups.tolist()]
        self.n_terms = exps.shape[0]
        self.spare = _SpareBuffer()
        # child[m', j] = index of monomial m' * x_j, for every monomial m' of degree <= D-1.
        n_lower = n_monomials(fan_in, self.degree - 1) if self.degree >= 1 else 0
        lookup = {tuple(e): k for k, e in enumerate(exps.tolist())}
        child = [
            [lookup[tuple(e[:j] + [e[j] + 1] + e[j + 1 :])] for j in range(fan_in)] for e in exps[:n_lower].tolist()
        ]
        self.register_buffer("child", torch.tensor(child, dtype=torch.int64).reshape(n_lower, fan_in), persistent=False)
        self.register_buffer("child_coef", (exps[:n_lower] + 1).to(torch.get_default_dtype()), persistent=False)
        # Same init as the reference (uniform +-1/sqrt(#monomials) weights, nn.Linear-style bias).
        bound = 1.0 / math.sqrt(self.n_terms)
        self.weight = nn.Parameter(torch.empty(n_out, self.n_terms).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))

    @torch.no_grad()
    def fold_input_scale(self, scale: torch.Tensor) -> bool:
        """Monomial m of exponents e: its coefficient times prod_j scale_j^e_j."""
        w, exps = self.weight, self.exponents.to(self.weight.dtype)
        factor = torch.ones_like(w)
        for j in range(scale.shape[1]):  # F <= ~8 inputs, vectorized over neurons and monomials
            factor.mul_(scale[:, j : j + 1].to(w.dtype) ** exps[:, j])
        w.mul_(factor)
        return True

    @property
    def enumeration_width(self) -> int:
        """Floats held per (input, neuron) pair: sizes table-enumeration chunks."""
        return self.n_terms

    def input_group_norms(self) -> torch.Tensor:
        """The L2 norm of the coefficients of every monomial in which input j appears (exponent > 0)."""
        member = (self.exponents > 0).to(self.weight.dtype)  # (M, F)
        return (self.weight.square() @ member + GROUP_NORM_FLOOR).sqrt()

    def monomials(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_out, F) -> (B, n_out, M): every monomial, constant first, graded order."""
        return _monomial_rows(x, self).permute(2, 0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if exact.active(self, x):
            return self._exact_forward(x)
        if self.training and torch.is_grad_enabled() and self.native_kernel.supports(self, x):
            return native_layer.neurons(self.native_kernel, self, x)
        return _Polynomial.apply(x, self.weight, self.bias, self)

    def _exact_forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_out, F) -> (B, n_out) with ``_exact`` arithmetic only (see the module docstring)."""
        mono = _monomial_rows(x, self)  # (n_out, M, B), elementwise products
        try:
            y = exact.per_neuron_affine(mono, self.weight[:, None, :], None)[:, 0]  # (n_out, B)
        finally:
            self.spare.give(mono)
        return (y + self.bias[:, None]).t()


def build(params, n_inputs, n_classes, generator) -> LUTNetwork:
    degree = int(params["degree"])
    if degree < 1:
        raise ValueError(f"polylut: degree must be >= 1, got {degree}")
    layers = build_layers(
        params, n_inputs, n_classes, generator, lambda p: PolynomialNeurons(p.n_out, p.fan_in, degree)
    )
    return LUTNetwork(n_inputs, params["input_bits"], layers)


register_family(
    FamilySpec(
        name="polylut",
        build=build,
        knobs={"degree": Knob("int", 2, "maximum total degree D of each neuron's polynomial"), **PRUNE_KNOBS},
        doc=__doc__.splitlines()[0],
    )
)
