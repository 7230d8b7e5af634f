"""ctypes binding of ``subnet.cpp``: NeuraLUT's sub-networks in one fused kernel per training step.

Used by ``lutsearch.models.neuralut`` for training steps on CPU in float32, alone on gathered inputs
or inside a whole fused layer (``layer.py``); evaluation and table enumeration keep the
batched-matmul path, which is the bit-exactness contract with the truth tables. The kernel computes
each sample independently, in float32, with its own summation order, so a training step agrees
with the PyTorch path to rounding, not bit for bit. The backward recomputes the hidden activations
(1.1-1.4x faster than saving and reading them back on the development machine).
"""

from __future__ import annotations

import ctypes

from lutsearch.models._native.layer import NeuronKernel

__all__ = ["KERNEL", "MAX_DEPTH", "MAX_WIDTH", "SubnetArgs"]

MAX_WIDTH = 64  # widest sub-network input or hidden layer the kernel takes (64 floats, padded to whole vectors)
MAX_DEPTH = 8
_ADDR = ctypes.c_void_p
_POINTER_SIZE = ctypes.sizeof(ctypes.c_void_p)


class SubnetArgs(ctypes.Structure):
    """``Args`` (subnet.cpp): same fields, same order."""

    # W .. gSB are arrays of pointers (float* const*), passed as addresses into one ctypes array
    _fields_ = [
        ("n", ctypes.c_int64),
        ("F", ctypes.c_int64),
        ("N", ctypes.c_int64),
        ("L", ctypes.c_int64),
        ("n_skips", ctypes.c_int64),
        ("W", _ADDR),
        ("Bs", _ADDR),
        ("SW", _ADDR),
        ("SB", _ADDR),
        ("gW", _ADDR),
        ("gB", _ADDR),
        ("gSW", _ADDR),
        ("gSB", _ADDR),
        ("dims", ctypes.c_int64 * 10),
    ]


class SubnetKernel(NeuronKernel):
    stem, entry = "subnet", "lutsearch_subnet_layer"

    def capable(self, neuron, x):
        return (
            1 <= neuron.depth <= MAX_DEPTH
            and max(neuron.width, neuron.fan_in) <= MAX_WIDTH
            and super().capable(neuron, x)
        )

    def shape_key(self, neuron):
        return f"F{neuron.fan_in} N{neuron.width} L{neuron.depth} skips{len(neuron.skip_weights)}"

    def parameters(self, neuron):
        # the lists' own dicts: iterating nn.ParameterList costs ~100 us per step, this ~2 us
        return [
            p
            for group in (neuron.weights, neuron.biases, neuron.skip_weights, neuron.skip_biases)
            for p in group._parameters.values()
        ]

    def arguments(self, neuron, params, grads):
        # One array of every pointer, in ``parameters`` order (weights, biases, skip weights, skip
        # biases), then the gradients' in the same order; the struct points into it.
        tensors = [*params, *grads] if grads is not None else params
        table = (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])
        base, depth, n_skips = ctypes.addressof(table), neuron.depth, len(params) // 2 - neuron.depth
        starts = [0, depth, 2 * depth, 2 * depth + n_skips]
        if grads is not None:
            starts += [len(params) + k for k in starts]
        addrs = [base + k * _POINTER_SIZE for k in starts] + [None] * (8 - len(starts))
        args = SubnetArgs(neuron.n_out, neuron.fan_in, neuron.width, depth, n_skips, *addrs)
        args._keep = table  # the pointer table lives as long as the struct
        return args


KERNEL = SubnetKernel()
