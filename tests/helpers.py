"""Helpers shared by the tests: small study spaces, the exact path's operator recorder."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

SPACE = """
name: {name}
seed: 3
dataset: {{name: digits, val_fraction: 0.15}}
model:
  family: logicnets
  params:
    widths: {{per_layer: {{count: {{int: [1, 2]}}, int: [16, 48]}}}}
    input_bits: {{int: [1, 2]}}
    hidden_bits: 2
    output_bits: 3
    input_fan_in: {{int: [3, 5]}}
    fan_in: 3
    output_fan_in: 4
train: {{epochs: 2, batch_size: 64, lr: 1.0e-2, min_steps: 0, min_batches: 1}}  # the plain budget: fast tests
objectives: [accuracy, luts, depth]
constraints: ["luts <= {max_luts}"]
sampler: {{name: random}}
limits: {{max_address_bits: 12}}
{extra}
"""


def small_space(tmp_path: Path, name: str, max_luts: int = 100000, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPACE.format(name=name, max_luts=max_luts, extra=extra))
    return path


# Operators the exact path may run on floating-point tensors: single correctly rounded elementwise
# steps, exact operations (rounding, clamps, comparisons, selections, copies, gathers, max/min) and
# shape/view operations. Anything else (matmuls, sums, fused multiply-adds, libm transcendental
# functions, PyTorch's batch-norm kernel) fails the test. Integer tensors may use any operator.
ELEMENTWISE = {
    "add",
    "add_",
    "sub",
    "sub_",
    "rsub",
    "mul",
    "mul_",
    "div",
    "div_",
    "neg",
    "neg_",
    "abs",
    "abs_",
    "sqrt",
    "reciprocal",
}
EXACT = {
    "round",
    "round_",
    "clamp",
    "clamp_",
    "clamp_min",
    "clamp_min_",
    "clamp_max",
    "clamp_max_",
    "relu",
    "relu_",
    "hardtanh",
    "sign",
    "floor",
    "ceil",
    "trunc",
    "where",
    "gt",
    "ge",
    "lt",
    "le",
    "eq",
    "ne",
    "logical_and",
    "logical_or",
    "logical_not",
    "bitwise_and",
    "bitwise_or",
    "bitwise_not",
    "max",
    "min",
    "amax",
    "amin",
    "maximum",
    "minimum",
    "argmax",
    "argmin",
    "isnan",
    "isinf",
    "any",
    "all",
    "copysign",
    "nextafter",
    "masked_fill",
    "masked_fill_",
    "fill_",
    "zero_",
    "zeros_like",
    "ones_like",
    "full_like",
    "_local_scalar_dense",
    "_to_copy",
    "to",
    "copy_",
    "clone",
    "detach",
    "lift_fresh",
    "index_select",
    "gather",
    "index",
    "scatter",
    "cat",
    "stack",
    "flip",
    "sort",
    "argsort",
    "topk",
    "masked_select",
    "nonzero",
    "repeat",
    "constant_pad_nd",
    "empty_like",
    "new_empty",
    "new_zeros",
    "new_full",
    "empty",
    "zeros",
    "ones",
    "full",
    "arange",
    "scalar_tensor",
    "set_",
    "alias",
    "unbind",
}
VIEWS = {
    "view",
    "reshape",
    "_unsafe_view",
    "expand",
    "permute",
    "transpose",
    "t",
    "select",
    "slice",
    "narrow",
    "unsqueeze",
    "squeeze",
    "split",
    "split_with_sizes",
    "chunk",
    "contiguous",
    "as_strided",
    "unfold",
    "diagonal",
    "_reshape_alias",
    "view_as",
    "expand_as",
    "movedim",
    "flatten",
    "unflatten",
    "squeeze_",
}
ALLOWED = ELEMENTWISE | EXACT | VIEWS


class ExactOpsRecorder(TorchDispatchMode):
    """Records every ATen operator run on floating-point data that the exact path may not run (see
    ``lutsearch.models._exact``) in ``bad`` (name -> overload); ``pow`` passes only where its operands
    and result are whole numbers (Brevitas' 2^bits: exact in any correct implementation). Shared by
    the exactness tests of every family."""

    def __init__(self) -> None:
        super().__init__()
        self.bad: dict[str, str] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        tensors = [a for a in (*args, *(kwargs or {}).values()) if isinstance(a, torch.Tensor)]
        floating = any(t.is_floating_point() for t in tensors)
        if floating and name not in ALLOWED:
            if name == "pow" and all(_whole(t) for t in (*tensors, out) if isinstance(t, torch.Tensor)):
                return out
            self.bad.setdefault(name, str(func))
        return out


def _whole(t: torch.Tensor) -> bool:
    return bool(torch.equal(t, torch.round(t))) if t.is_floating_point() else True


def require_yosys():
    """The Yosys tool, or skip the test (fail it in CI, where .ci/install.sh installs Yosys)."""
    import os

    import pytest

    from lutsearch.hw import YosysNotFound, find_yosys

    try:
        return find_yosys()
    except YosysNotFound as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Yosys is required in CI: {exc}")
        pytest.skip(str(exc))
