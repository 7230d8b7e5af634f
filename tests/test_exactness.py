"""The exactness contract on any CPU: the exact path (``predict_codes``, ``to_tables``) of every family
runs only operations whose results IEEE 754 fixes (``lutsearch.models._exact``), gives every input
the same bits whatever the batch size or thread count, and reproduces golden table hashes recorded
on one machine, whatever CPU, BLAS code path or PyTorch kernel build runs it.

CI runs this file (marker ``exactness``) under several instruction-set settings: MKL's code paths
(``MKL_CBWR=COMPATIBLE``, ``MKL_CBWR=AVX2``), PyTorch's kernel builds (``ATEN_CPU_CAPABILITY=default``)
and native kernels built for ``x86-64-v3``; see ``.ci/run``.

Regenerate the golden hashes (only after an intended change of the exact arithmetic) with
``python tests/test_exactness.py --regen`` and paste the printed dict into ``GOLDEN``.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest
import torch
from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling
from helpers import ExactOpsRecorder

from lutsearch.models import _exact as exact
from lutsearch.models import build_model
from lutsearch.models._native import exact as native_exact

pytestmark = pytest.mark.exactness

N_INPUTS, N_CLASSES = 12, 4
SMALL = {"input_bits": 2, "hidden_bits": 2, "output_bits": 3, "input_fan_in": 3, "fan_in": 3, "output_fan_in": 3}
CONFIGS = {
    "logicnets": ("logicnets", {**SMALL, "widths": [10, N_CLASSES]}),
    "neuralut": ("neuralut", {**SMALL, "widths": [10, N_CLASSES], "hidden_width": 8, "hidden_depth": 4}),
    "neuralut-wide": (
        "neuralut",
        {**SMALL, "widths": [6, N_CLASSES], "hidden_width": 24, "hidden_depth": 3, "skip": False},
    ),
    "polylut": ("polylut", {**SMALL, "widths": [10, N_CLASSES], "degree": 3}),
    "polylut-d1": ("polylut", {**SMALL, "widths": [10, N_CLASSES], "degree": 1}),
    "sparselut-neuralut": (
        "neuralut",
        {**SMALL, "widths": [10, N_CLASSES], "hidden_width": 8, "connectivity": "sparselut"},
    ),
    "nla": (
        "nla",
        dict(
            widths=[12, 6, 8, N_CLASSES],
            tree_depth=2,
            input_fan_in=2,
            fan_in=2,
            support_fan_in=2,
            output_fan_in=2,
            input_bits=2,
            hidden_bits=2,
            support_bits=2,
            output_bits=3,
            neuron_width=8,
            prelude_epochs=0,
        ),
    ),
    "ensemble": (
        "ensemble",
        {
            "input_bits": 2,
            "widths": [10],
            "members": 2,
            "member_family": "polylut",
            "input_fan_in": 3,
            "fan_in": 3,
            "output_fan_in": 3,
            "member_params": {"degree": 2},
        },
    ),
    "hgq": ("hgq", {"input_bits": 2, "widths": [8], "edge_hidden": 4, "edge_bits": 3, "output_bits": 4}),
    "warp": (
        "warp",
        {"input_bits": 2, "widths": [48], "input_fan_in": 4, "fan_in": 4, "output_fan_in": 3, "group_size": 6},
    ),
}


def _seeded_model(name: str) -> torch.nn.Module:
    """A model of ``name`` whose every floating-point parameter and buffer comes from numpy's PCG64
    (the same numbers on every platform), past Brevitas' statistics phase, in eval mode."""
    family, params = CONFIGS[name]
    model = build_model(family, params, N_INPUTS, N_CLASSES, seed=0)
    model.train()
    with torch.no_grad():
        model(torch.rand(64, N_INPUTS, generator=torch.Generator().manual_seed(0)))
    for module in model.modules():
        if isinstance(module, ParameterFromRuntimeStatsScaling):
            module.init_scale()
    model.eval()
    rng = np.random.default_rng(12345)
    with torch.no_grad():
        for key, tensor in sorted(model.state_dict(keep_vars=True).items()):
            if not tensor.is_floating_point():
                continue
            if key.endswith("running_var"):
                values = rng.uniform(0.25, 2.0, tensor.shape)
            elif key.endswith(("scaling_impl.value", ".value")):
                values = rng.uniform(0.2, 0.6, tensor.shape)
            elif "bit_param" in key:
                values = np.round(rng.uniform(0.0, 0.4, tensor.shape), 1)
            else:
                values = rng.uniform(-1.0, 1.0, tensor.shape)
            tensor.copy_(torch.from_numpy(values.astype(np.float32)).to(tensor.dtype))
    return model


def _inputs(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, (n, N_INPUTS))


def _digest(model) -> str:
    net = model.to_tables()
    h = hashlib.sha256()
    for layer in net.layers:
        h.update(np.ascontiguousarray(getattr(layer, "tables", np.zeros(0)), dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(model.predict_codes(_inputs(300)), dtype=np.int64).tobytes())
    return h.hexdigest()[:24]


# Recorded on an AMD EPYC (Zen 4, AVX-512) with torch 2.13.0 (MKL), and reproduced there under
# ATEN_CPU_CAPABILITY=default/avx2, MKL_CBWR=COMPATIBLE/AVX2 and 1-2 threads; the same on any CPU by construction.
GOLDEN: dict[str, str] = {
    "ensemble": "f78fd26655a5378b0ed4bb7a",
    "hgq": "529b71ff16aaa7abdbb114f2",
    "logicnets": "f36daccaa086034c64f44ea4",
    "neuralut": "f1ad4748477721823c534aa6",
    "neuralut-wide": "5e913d406ad97e417a781f8f",
    "nla": "f20c31b75f729f266e29cdac",
    "polylut": "0e65583ed83a3075031e3e61",
    "polylut-d1": "9a1149303c166074c7bb2668",
    "sparselut-neuralut": "d3e1c7a7f689821d7d2884e3",
    "warp": "54802163dcd6d332c6661054",
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_exact_path_runs_only_deterministic_operations(name):
    model = _seeded_model(name)
    recorder = ExactOpsRecorder()
    with recorder:
        model.predict_codes(_inputs(100))
        model.to_tables()
    assert not recorder.bad, f"{name}: the exact path ran {sorted(recorder.bad.values())}"


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("threads", [1, 2])
def test_exact_path_is_batch_and_thread_invariant(name, threads):
    model = _seeded_model(name)
    codes = _inputs(1100, seed=3)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        full = model.predict_codes(codes)
        for size in (1, 7, 64, 129, 257):
            n = min(len(codes), 12 * size)  # at most 12 calls per size: each copies the model
            parts = np.concatenate([model.predict_codes(codes[s : s + size]) for s in range(0, n, size)])
            assert np.array_equal(parts, full[: len(parts)]), (name, size)
        net = model.to_tables()
        assert np.array_equal(net.evaluate(codes), full), name
    finally:
        torch.set_num_threads(old)


@pytest.fixture(params=["native", "pytorch"])
def exact_kernel(request, monkeypatch):
    """Both implementations of the exact affine map: the native kernel and the PyTorch ops."""
    if request.param == "pytorch":
        monkeypatch.setattr(native_exact, "affine", lambda *args, **kwargs: None)
    elif not native_exact.available():
        pytest.skip("no native kernel here (no compiler or LUTSEARCH_NATIVE=0): the PyTorch version runs")
    return request.param


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_golden_tables(name, exact_kernel):
    if name not in GOLDEN:
        pytest.fail(f"no golden hash for {name}: run python tests/test_exactness.py --regen")
    assert _digest(_seeded_model(name)) == GOLDEN[name]


def test_native_affine_matches_the_pytorch_ops_bit_for_bit(monkeypatch):
    if not native_exact.available():
        pytest.skip("no native kernel here")
    gen = torch.Generator().manual_seed(0)
    cases = []
    for i in range(120):
        n, d_in, d_out, m = (
            int(torch.randint(lo, hi, (1,), generator=gen)) for lo, hi in ((1, 6), (1, 40), (1, 20), (1, 300))
        )
        spread = 10.0 ** float(torch.randint(-3, 6, (1,), generator=gen))  # magnitudes where rounding bites
        h = torch.randn(n, d_in, m, generator=gen, dtype=torch.float64) * spread
        w = torch.randn(n, d_out, d_in, generator=gen, dtype=torch.float64)
        init = (
            None,
            torch.randn(n, d_out, 1, generator=gen, dtype=torch.float64),
            torch.randn(n, d_out, m, generator=gen, dtype=torch.float64) * spread,
        )[i % 3]
        cases.append((h, w, init, bool(i % 2)))
    native = [exact.per_neuron_affine(*case) for case in cases]
    monkeypatch.setattr(native_exact, "affine", lambda *args, **kwargs: None)
    for case, got in zip(cases, native):
        assert torch.equal(got, exact.per_neuron_affine(*case))


if __name__ == "__main__" and "--regen" in sys.argv:
    torch.set_num_threads(1)
    print("GOLDEN = {")
    for key in sorted(CONFIGS):
        print(f"    {key!r}: {_digest(_seeded_model(key))!r},")
    print("}")
