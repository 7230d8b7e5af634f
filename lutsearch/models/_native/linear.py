"""ctypes binding of ``linear.cpp``: LogicNets' linear neurons inside a fused layer training step.

Used through ``layer.py`` by ``lutsearch.models._base.LUTLayer.fused_forward`` for training steps on
CPU in float32 (the neurons alone keep PyTorch's two ops: nothing to fuse there). Evaluation and
table enumeration keep the PyTorch path, the bit-exactness contract with the truth tables.
"""

from __future__ import annotations

import ctypes

from lutsearch.models._native.layer import NeuronKernel, _ptr

__all__ = ["KERNEL", "LinearArgs"]


class LinearArgs(ctypes.Structure):
    """``Linear`` (linear.cpp): same fields, same order."""

    _fields_ = [
        ("n", ctypes.c_int64),
        ("F", ctypes.c_int64),
        ("w", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("gw", ctypes.c_void_p),
        ("gb", ctypes.c_void_p),
    ]


class LinearKernel(NeuronKernel):
    stem, entry = "linear", "lutsearch_linear_layer"
    neurons_alone = False  # two PyTorch ops: nothing to gain alone

    def parameters(self, neuron):
        return [neuron.weight, neuron.bias]

    def arguments(self, neuron, params, grads):
        weight, bias = params
        gw, gb = grads if grads is not None else (None, None)
        return LinearArgs(
            n=weight.shape[0], F=weight.shape[1], w=_ptr(weight), bias=_ptr(bias), gw=_ptr(gw), gb=_ptr(gb)
        )


KERNEL = LinearKernel()
