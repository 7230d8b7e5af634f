"""The per-CPU choice of the training path (``lutsearch.models._native.choice``): measured once per
kind, cached in a JSON file and read back instead of measured again, a corrupt file ignored and
rewritten, ``LUTSEARCH_NATIVE`` forcing each path, and evaluation independent of all of it.

No test depends on a measured time: the timer is replaced by one that runs each candidate once (so
the measuring code runs) and reports fixed times."""

from __future__ import annotations

import json
import logging
import multiprocessing
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lutsearch.models import LUTLayer, _native, _quant, build_model
from lutsearch.models._native import choice
from lutsearch.models._native import layer as native_layer

PARAMS = dict(widths=[24, 12], input_bits=2, hidden_bits=2, output_bits=2, input_fan_in=4, fan_in=3, output_fan_in=3)
FAMILIES = [
    ("neuralut", dict(hidden_width=8, hidden_depth=2, skip=True)),
    ("polylut", dict(degree=2)),
    ("logicnets", {}),
]


@pytest.fixture(scope="module")
def library():
    if _native._compiler() is None:
        pytest.skip("no C++ compiler on this machine: training takes the PyTorch path")
    for stem in ("subnet", "polynomial", "linear"):
        assert _native.load_library(stem) is not None, f"a C++ compiler exists but {stem} did not build"


@pytest.fixture
def cache(monkeypatch, tmp_path, library):
    """A fresh cache directory (the built kernels linked in, not rebuilt) and a process that has
    decided nothing yet; ``LUTSEARCH_NATIVE`` unset (``auto``)."""
    built = _native.cache_dir()
    monkeypatch.setenv("LUTSEARCH_CACHE_DIR", str(tmp_path))
    (tmp_path / "native").symlink_to(built, target_is_directory=True)
    monkeypatch.delenv("LUTSEARCH_NATIVE", raising=False)
    monkeypatch.setattr(_quant, "STATS_STEPS", 1)
    choice.forget()
    yield tmp_path
    choice.forget()


class FakeTimer:
    """Stands in for ``choice._time``: runs every candidate once and reports the native one
    (listed first) faster (``native_fast``) or slower; counts its calls."""

    def __init__(self, native_fast: bool = True) -> None:
        self.native_fast, self.calls = native_fast, []

    def __call__(self, candidates):
        self.calls.append(tuple(candidates))
        for run in candidates.values():
            run()
        native, alternative = candidates
        return {native: 1e-3, alternative: 2e-3} if self.native_fast else {native: 2e-3, alternative: 1e-3}


def _model(family: str, knobs: dict):
    torch.manual_seed(0)
    return build_model(family, {**PARAMS, **knobs}, 20, 5, seed=3).train()


def _steps(model, n: int = 3, batch: int = 64) -> None:
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(batch, 20, generator=gen), torch.randint(0, 5, (batch,), generator=gen)
    for _ in range(n):  # the first steps are the quantizers' statistics phase (STATS_STEPS = 1)
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()


class PathRecorder:
    """Counts, per step, the fused layer steps and the neuron-kernel-alone calls that ran."""

    def __init__(self, monkeypatch) -> None:
        self.fused, self.alone = 0, 0
        fused_forward, neurons = LUTLayer.fused_forward, native_layer.neurons

        def record_fused(layer, *args, **kwargs):
            self.fused += 1
            return fused_forward(layer, *args, **kwargs)

        def record_alone(*args, **kwargs):
            self.alone += 1
            return neurons(*args, **kwargs)

        monkeypatch.setattr(LUTLayer, "fused_forward", record_fused)
        monkeypatch.setattr(native_layer, "neurons", record_alone)

    def step(self, model) -> tuple[int, int]:
        self.fused = self.alone = 0
        _steps(model, n=1)
        return self.fused, self.alone


@pytest.mark.parametrize("family,knobs", FAMILIES, ids=[f for f, _ in FAMILIES])
def test_choice_is_measured_once_then_read_from_the_cache(cache, monkeypatch, family, knobs):
    timer = FakeTimer(native_fast=True)
    monkeypatch.setattr(choice, "_time", timer)
    model = _model(family, knobs)
    _steps(model)
    assert timer.calls, "auto measured nothing"
    assert all(c in (("neurons", "torch"), ("fused", "unfused")) for c in timer.calls)
    assert [choice.describe(layer, 64) for layer in model.layers] == ["fused"] * len(model.layers)
    data = json.loads(choice.choice_file().read_text())
    entries = data["entries"]
    assert len(entries) == len(timer.calls)  # one entry per kind measured
    for name, entry in entries.items():
        assert f"torch {torch.__version__}" in name and f"threads {torch.get_num_threads()}" in name
        assert entry["path"] in ("fused", "unfused", "neurons", "torch") and set(entry["ms"]) <= {
            "fused",
            "unfused",
            "neurons",
            "torch",
        }
    n_calls = len(timer.calls)
    choice.forget()  # as a new process: the file answers, nothing is measured again
    recorder = PathRecorder(monkeypatch)
    assert recorder.step(model) == (len(model.layers), 0)
    assert len(timer.calls) == n_calls
    assert json.loads(choice.choice_file().read_text()) == data


def test_a_new_process_reads_the_cache_without_measuring(cache, monkeypatch):
    """The same model trained in a second process (a Ray worker, a later run): its choices come
    from the file; the child's timer would fail the run if it were called."""
    monkeypatch.setattr(choice, "_time", FakeTimer(native_fast=False))
    _steps(_model("polylut", dict(degree=2)))
    assert {e["path"] for e in json.loads(choice.choice_file().read_text())["entries"].values()} == {"torch", "unfused"}
    script = textwrap.dedent("""
        import torch, torch.nn.functional as F
        from lutsearch.models import _quant, build_model
        from lutsearch.models._native import choice
        def fail(candidates):
            raise SystemExit("measured again: " + ",".join(candidates))
        choice._time = fail
        _quant.STATS_STEPS = 1
        torch.set_num_threads(%d)
        torch.manual_seed(0)
        model = build_model("polylut", %r, 20, 5, seed=3).train()
        gen = torch.Generator().manual_seed(1)
        x, y = torch.rand(64, 20, generator=gen), torch.randint(0, 5, (64,), generator=gen)
        for _ in range(3):
            F.cross_entropy(model(x), y).backward()
        print(",".join(choice.describe(layer, 64) for layer in model.layers))
    """) % (torch.get_num_threads(), {**PARAMS, "degree": 2})
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "torch,torch,torch"


def test_measured_choice_is_the_path_that_runs(cache, monkeypatch):
    """Native slower than PyTorch in every measurement: neither fused layers nor the neurons alone
    run; native faster: every layer fused once the quantizers are trained."""
    recorder = PathRecorder(monkeypatch)
    monkeypatch.setattr(choice, "_time", FakeTimer(native_fast=False))
    slow = _model("neuralut", dict(hidden_width=8, hidden_depth=2, skip=True))
    _steps(slow)
    assert recorder.step(slow) == (0, 0)
    assert [choice.describe(layer, 64) for layer in slow.layers] == ["torch"] * 3
    choice.forget()
    choice.choice_file().unlink()
    monkeypatch.setattr(choice, "_time", FakeTimer(native_fast=True))
    fast = _model("neuralut", dict(hidden_width=8, hidden_depth=2, skip=True))
    _steps(fast)
    assert recorder.step(fast) == (3, 0)


def test_layer_near_tie_keeps_fused_against_the_kernel_alone(cache, monkeypatch):
    """Fused 2 % slower than the kernel alone inside PyTorch's ops: still fused (it runs the same
    neurons); 2 % slower than PyTorch: not taken."""

    def timer(times):
        def fake(candidates):
            for run in candidates.values():
                run()
            return {name: times[name] for name in candidates}

        return fake

    monkeypatch.setattr(choice, "_time", timer({"neurons": 1.0, "torch": 2.0, "fused": 1.02, "unfused": 1.0}))
    model = _model("polylut", dict(degree=2))
    _steps(model)
    assert [choice.describe(layer, 64) for layer in model.layers] == ["fused"] * 3
    choice.forget()
    choice.choice_file().unlink()
    monkeypatch.setattr(choice, "_time", timer({"fused": 1.02, "unfused": 1.0}))
    model = _model("logicnets", {})  # unfused = PyTorch's ops
    _steps(model)
    assert [choice.describe(layer, 64) for layer in model.layers] == ["torch"] * 3


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"format": 1, "entries": 7}',
        "\xff\xfe",
        '{"format": 1, "entries": {"%s": {"path": "sideways"}}}',
    ],
)
def test_corrupt_cache_is_ignored_and_rewritten(cache, monkeypatch, caplog, content):
    path, name = choice.choice_file(), None
    if "sideways" in content:  # a well-formed file whose entry for this very kind is invalid
        monkeypatch.setattr(choice, "_time", FakeTimer())
        _steps(_model("logicnets", {}))
        name = next(iter(json.loads(path.read_text())["entries"]))
        content = content % name
        choice.forget()
    path.write_bytes(b"\xff\xfe" if content == "\xff\xfe" else content.encode())  # the former: not UTF-8
    timer = FakeTimer()
    monkeypatch.setattr(choice, "_time", timer)
    with caplog.at_level(logging.WARNING, logger="lutsearch.native"):
        _steps(_model("logicnets", {}))
    assert timer.calls  # measured again
    data = json.loads(path.read_text())
    assert data["format"] == choice.FORMAT and data["entries"]
    assert all(e["path"] in ("fused", "unfused") for e in data["entries"].values())
    if "sideways" in content:
        assert data["entries"][name]["path"] in ("fused", "unfused")  # the invalid entry was measured again
    else:
        assert "ignoring" in caplog.text


def test_unwritable_cache_keeps_choices_in_memory(cache, monkeypatch, caplog):
    blocker = cache / "blocked"
    blocker.write_text("")
    monkeypatch.setattr(choice, "choice_file", lambda: blocker / "native-choice.json")
    timer = FakeTimer()
    monkeypatch.setattr(choice, "_time", timer)
    model = _model("logicnets", {})
    with caplog.at_level(logging.WARNING, logger="lutsearch.native"):
        _steps(model)
    assert "could not write" in caplog.text
    n_calls = len(timer.calls)
    _steps(model)
    assert len(timer.calls) == n_calls and [choice.describe(layer, 64) for layer in model.layers] == ["fused"] * 3


def _store_many(args: tuple[str, int]) -> None:
    cache_dir, k = args
    import os

    os.environ["LUTSEARCH_CACHE_DIR"] = cache_dir
    for j in range(5):
        choice._store(f"writer {k} kind {j}", {"path": "fused", "ms": {"fused": 1.0, "unfused": 2.0}})


def test_concurrent_writers_merge_their_entries(cache):
    """Ray workers store at the same time: every entry ends up in the file, which always parses."""
    ctx = multiprocessing.get_context("fork")  # the children only write files: no torch op after fork
    with ctx.Pool(4) as pool:
        pool.map(_store_many, [(str(cache), k) for k in range(4)])
    entries = json.loads(choice.choice_file().read_text())["entries"]
    assert set(entries) == {f"writer {k} kind {j}" for k in range(4) for j in range(5)}
    assert not [p for p in cache.iterdir() if p.name.startswith(".native-choice-")]  # no temporary left


@pytest.mark.parametrize(
    "value,fused,alone", [("fused", 3, 0), ("neurons", 0, 3), ("torch", 0, 0), ("0", 0, 0), ("off", 0, 0)]
)
def test_forcing_a_path(cache, monkeypatch, value, fused, alone):
    """``LUTSEARCH_NATIVE`` forces the path, measuring nothing."""
    monkeypatch.setenv("LUTSEARCH_NATIVE", value)
    timer = FakeTimer()
    monkeypatch.setattr(choice, "_time", timer)
    model = _model("neuralut", dict(hidden_width=8, hidden_depth=2, skip=True))
    _steps(model)
    recorder = PathRecorder(monkeypatch)
    assert recorder.step(model) == (fused, alone)
    assert timer.calls == [] and not choice.choice_file().exists()


def test_unknown_value_warns_and_means_auto(cache, monkeypatch, caplog):
    monkeypatch.setenv("LUTSEARCH_NATIVE", "sometimes")
    with caplog.at_level(logging.WARNING, logger="lutsearch.native"):
        assert _native.native_mode() == "auto"
    assert "LUTSEARCH_NATIVE='sometimes'" in caplog.text
    for value, mode in [
        ("", "auto"),
        ("1", "auto"),
        ("AUTO", "auto"),
        (" Fused ", "fused"),
        ("neurons", "neurons"),
        ("torch", "torch"),
        ("false", "torch"),
    ]:
        monkeypatch.setenv("LUTSEARCH_NATIVE", value)
        assert _native.native_mode() == mode


def test_tables_do_not_depend_on_the_training_path(cache, monkeypatch):
    """Training paths differ in float32 rounding, so trained weights do; but one trained state gives
    the same truth tables and exact predictions whatever path is set, and evaluation measures
    nothing."""
    monkeypatch.setenv("LUTSEARCH_NATIVE", "fused")
    model = _model("neuralut", dict(hidden_width=8, hidden_depth=2, skip=True))
    _steps(model, n=4)
    timer = FakeTimer()
    monkeypatch.setattr(choice, "_time", timer)
    codes = np.random.default_rng(0).integers(0, 4, (50, 20))
    results = []
    for value in ("auto", "fused", "neurons", "torch"):
        monkeypatch.setenv("LUTSEARCH_NATIVE", value)
        tables = model.to_tables()
        results.append(([layer.tables for layer in tables.layers], model.predict_codes(codes)))
    for tables, predicted in results[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(results[0][0], tables, strict=True))
        assert np.array_equal(results[0][1], predicted)
    assert timer.calls == []


def test_march_selects_the_build_and_the_cache_key(cache, monkeypatch):
    """``LUTSEARCH_NATIVE_MARCH`` replaces ``-march=native`` in the flags, hence in the library's
    file name (its build key) and in every choice's cache key."""
    monkeypatch.delenv("LUTSEARCH_NATIVE_MARCH", raising=False)
    assert _native.march() == "native" and _native._arch_flags()[0] == ("-march=native",)
    monkeypatch.setenv("LUTSEARCH_NATIVE_MARCH", "x86-64-v3")
    assert _native.march() == "x86-64-v3" and _native._arch_flags()[0] == ("-march=x86-64-v3",)
    monkeypatch.setenv("LUTSEARCH_NATIVE_MARCH", "")
    assert _native.march() == "native"


def test_failed_measurement_keeps_the_native_path_for_this_process(cache, monkeypatch, caplog):
    """A measurement that raises (a layer that cannot be copied, out of memory) never fails training:
    the native path, as before measuring existed, is kept in memory and nothing is cached."""

    def broken(candidates):
        raise RuntimeError("no clock today")

    monkeypatch.setattr(choice, "_time", broken)
    model = _model("polylut", dict(degree=2))
    with caplog.at_level(logging.WARNING, logger="lutsearch.native"):
        _steps(model)
    assert "could not time the training paths" in caplog.text and "no clock today" in caplog.text
    assert [choice.describe(layer, 64) for layer in model.layers] == ["fused"] * 3
    assert not choice.choice_file().exists()
