"""ctypes binding of ``polynomial.cpp``: PolyLUT neurons in one fused kernel per training step.

Used by ``lutsearch.models.polylut`` for training steps on CPU in float32, alone on gathered inputs
or inside a whole fused layer (``layer.py``); evaluation and table enumeration keep the
monomial-buffer path, which is the bit-exactness contract with the truth tables. The kernel sums
each sample's terms in its own order, so a training step agrees with the PyTorch path to rounding,
not bit for bit. The monomial order is ``neuron.groups`` (``polylut.monomial_groups``).
"""

from __future__ import annotations

import ctypes

from lutsearch.models._native.layer import NeuronKernel, _ptr

__all__ = ["KERNEL", "PolyArgs"]


class PolyArgs(ctypes.Structure):
    """``Poly`` (polynomial.cpp): same fields, same order."""

    _fields_ = [
        ("n", ctypes.c_int64),
        ("F", ctypes.c_int64),
        ("M", ctypes.c_int64),
        ("G", ctypes.c_int64),
        ("groups", ctypes.c_void_p),
        ("w", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("gw", ctypes.c_void_p),
        ("gb", ctypes.c_void_p),
    ]


class PolynomialKernel(NeuronKernel):
    stem, entry = "polynomial", "lutsearch_poly_layer"

    def shape_key(self, neuron):
        return f"F{neuron.fan_in} M{neuron.weight.shape[1]}"  # M monomials: the degree at this fan-in

    def parameters(self, neuron):
        return [neuron.weight, neuron.bias]

    def arguments(self, neuron, params, grads):
        weight, bias = params
        gw, gb = grads if grads is not None else (None, None)
        groups = neuron.groups
        return PolyArgs(
            n=weight.shape[0],
            F=neuron.fan_in,
            M=weight.shape[1],
            G=groups.shape[0],
            groups=_ptr(groups),
            w=_ptr(weight),
            bias=_ptr(bias),
            gw=_ptr(gw),
            gb=_ptr(gb),
        )


KERNEL = PolynomialKernel()
