"""Which training path a layer takes under ``LUTSEARCH_NATIVE=auto``: measured once per CPU and layer
kind, cached on disk.

Why measure: which path is fastest depends on the CPU, not only on the layer. On a development
machine with AVX-512 the fused layers ran 2.5-4.6x faster than PyTorch; on an AVX2-only CPU the
same fused NeuraLUT layers once ran at 0.7x, so a fixed default was the slowest path there. Each
decision below is a few timed steps, once, so the chosen path is the fastest to timing noise.

The three paths of a training step of a layer whose neurons have a kernel (``layer.py``):

* ``fused``: gather, neurons, batch-norm and quantizer in one kernel call per direction;
* ``neurons``: the neuron kernel alone, inside PyTorch's gather, batch-norm and quantizer;
* ``torch``: PyTorch only.

Two decisions, each taken the first time it is asked for a kind (and then read from memory, a
dict lookup per layer and step):

* **neurons** (asked by ``NeuronKernel.supports``, i.e. by NeuraLUT/PolyLUT neurons running alone):
  the kernel alone against the family's PyTorch path, forward + backward on that step's own
  gathered input, on a copy of the neuron function.
* **layer** (asked by ``LUTLayer.fused_constants``): the fused step against the layer's modules,
  whose neurons follow the first decision, on a copy of the layer and that step's own input.

A native path is taken only when it is at least ``1 / MARGIN`` times faster than PyTorch, so a
measured near-tie keeps PyTorch's ops; between the fused step and the neuron kernel alone a near-tie
keeps the fused step, which runs the same neurons and only saves PyTorch's batch-norm and quantizer
ops.

**Key.** The environment: the kernel library's build (its file name hashes the kernel sources, the
compiler and its version, the flags with the ``-march`` level and the CPU's feature flags), the CPU's
model name, the torch version and the number of threads; and the kind: the decision, the family
kernel and its shape (``NeuronKernel.shape_key``: fan-in, hidden width/depth/skips, monomials), the
number of neurons and the batch, each rounded up to a power of two, and (layers) whether there is a
batch-norm.

**Cache.** ``$LUTSEARCH_CACHE_DIR/native-choice.json`` (default ``~/.cache/lutsearch``): one JSON
object of entries by key, each with the path and the measured milliseconds. A new entry is merged
under an exclusive lock (``flock``, where there is one) into the file as it is then, written to a
temporary file and renamed into place, so concurrent Ray workers never read a half-written file and
rarely lose an entry (a lost one is measured again, once). A file that cannot be read or parsed is
ignored and rewritten; one that cannot be written leaves the decisions in memory for the process.

**Timing.** Each candidate runs once untimed (allocations, a nested decision), then rounds of one
forward + backward per candidate, interleaved so that all see the same machine load, each after a
short sleep (the kernels' helper threads spin for 2 ms after a call, ``common.h``), until at least
``MIN_ROUNDS`` rounds and ``BUDGET_S`` seconds (twice that while the candidates are within 15 %), at
most ``MAX_ROUNDS``; the minimum per candidate is compared (the least disturbed run). A kind costs
about a second at most, once (both decisions, a 128-neuron NeuraLUT layer at batch 1024).

Evaluation and table enumeration never come here: they take the exact path whatever is chosen.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from lutsearch.models._native import cache_dir, march, native_mode

try:  # POSIX; elsewhere concurrent writers merge without a lock (atomic renames still)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["MARGIN", "choice_file", "cpu_model", "describe", "forget", "fused_allowed", "neurons_allowed"]

_log = logging.getLogger("lutsearch.native")

FORMAT = 1
MARGIN = 0.97  # a native path must take <= MARGIN x PyTorch's time (fused vs kernel alone: see _decide)
MIN_ROUNDS, MAX_ROUNDS, BUDGET_S = 3, 9, 0.4
HELPERS_ASLEEP = 0.003  # seconds before each timed run: longer than the helpers' 2 ms spin

_decisions: dict[tuple, str] = {}  # in-memory key -> path, this process
_entries: dict[str, dict] | None = None  # the cache file's entries as last read or written
_lock = threading.RLock()
_local = threading.local()  # .forced: the path a measurement forces (None: choose)
_warned: set[str] = set()
_clock: Callable[[], float] = time.perf_counter


def choice_file() -> Path:
    """``$LUTSEARCH_CACHE_DIR/native-choice.json`` (beside the built kernels' ``native`` folder)."""
    return cache_dir().parent / "native-choice.json"


def forget() -> None:
    """Drop this process's decisions and its copy of the cache file (as a new process starts)."""
    global _entries
    with _lock:
        _decisions.clear()
        _entries = None


@contextlib.contextmanager
def _forcing(path: str) -> Iterator[None]:
    saved = getattr(_local, "forced", None)
    _local.forced = path
    try:
        yield
    finally:
        _local.forced = saved


def _bucket(value: int) -> int:
    """``value`` rounded up to a power of two: kinds differ in speed per sample and neuron only
    through per-call costs, which change slowly with the sizes."""
    return 1 << max(0, int(value) - 1).bit_length()


# ----------------------------------------------------------------------------- asked every step
def neurons_allowed(kernel: Any, neuron: Any, x: torch.Tensor) -> bool:
    """Whether a training step of ``neuron`` on gathered inputs ``x`` (B, n, F) takes ``kernel``
    alone (the caller checked that it can): ``LUTSEARCH_NATIVE`` decides, under ``auto`` the
    measured choice for this kind of neuron function."""
    mode = native_mode()
    if mode != "auto":
        return mode != "torch"
    forced = getattr(_local, "forced", None)
    if forced is not None:
        return forced == "neurons"
    if x.dim() != 3:  # a layer's input, from a duck-typed kernel's ``supports``: capability only
        return True
    key = (
        "neurons",
        _stem(kernel),
        march(),
        torch.get_num_threads(),
        _shape(kernel, neuron),
        _bucket(x.shape[1]),
        _bucket(x.shape[0]),
    )
    path = _decisions.get(key)
    if path is None:
        path = _decide(key, kernel, lambda: _measure_neurons(kernel, neuron, x), "neurons", "torch")
    return path == "neurons"


def fused_allowed(layer: Any, x: torch.Tensor, batch: int, norm: bool) -> bool:
    """Whether ``layer``'s training step on ``x`` (``batch`` samples, either layout) runs fused (the
    caller checked that it can): ``LUTSEARCH_NATIVE`` decides, under ``auto`` the measured choice
    for this kind of layer."""
    mode = native_mode()
    if mode != "auto":
        return mode == "fused"
    forced = getattr(_local, "forced", None)
    if forced is not None:
        return forced == "fused"
    neuron = layer._modules["neuron"]
    kernel = neuron.native_kernel
    key = (
        "layer",
        _stem(kernel),
        march(),
        torch.get_num_threads(),
        _shape(kernel, neuron),
        _bucket(layer.n_out),
        _bucket(batch),
        bool(norm),
    )
    path = _decisions.get(key)
    if path is None:
        # Unfused, the neurons run alone on the kernel or on PyTorch (decided while measuring, in the
        # modules' first run): against the kernel alone, the fused step only saves work (the same
        # neurons, the batch-norm and quantizer in C), so a near-tie keeps it.
        alone = ("neurons", *key[1:7])
        path = _decide(
            key,
            kernel,
            lambda: _measure_layer(layer, x, batch),
            "fused",
            "unfused",
            lambda: _decisions.get(alone) == "neurons",
        )
    return path == "fused"


def describe(layer: Any, batch: int) -> str:
    """The path this process's ``auto`` decisions give a training step of ``layer`` at ``batch``
    samples once its quantizer is trained: ``fused``, ``neurons`` or ``torch``; ``?`` when not yet
    decided in this process, ``-`` for a layer without a kernel. For benchmarks and logs."""
    neuron = getattr(layer, "_modules", {}).get("neuron")
    kernel = getattr(neuron, "native_kernel", None)
    if kernel is None:
        return "-"
    common = (
        _stem(kernel),
        march(),
        torch.get_num_threads(),
        _shape(kernel, neuron),
        _bucket(layer.n_out),
        _bucket(batch),
    )
    norm = type(layer._modules.get("bn")) is torch.nn.BatchNorm1d
    path = _decisions.get(("layer", *common, norm))
    if path != "unfused":
        return path or "?"
    if not getattr(kernel, "neurons_alone", True):
        return "torch"
    paths: dict[str | None, str] = {"neurons": "neurons", "torch": "torch"}  # an undecided path is None
    return paths.get(_decisions.get(("neurons", *common)), "?")


def _stem(kernel: Any) -> str:
    return getattr(kernel, "stem", "") or type(kernel).__name__


def _shape(kernel: Any, neuron: Any) -> str:
    shape_key = getattr(kernel, "shape_key", None)
    return shape_key(neuron) if shape_key is not None else f"F{neuron.fan_in}"


# ----------------------------------------------------------------------------- deciding
def _decide(
    key: tuple,
    kernel: Any,
    measure: Callable[[], dict[str, float] | None],
    native: str,
    alternative: str,
    alternative_native: Callable[[], bool] = lambda: False,
) -> str:
    """The path for ``key``: from the cache file when it holds a valid entry, else measured (and
    stored). ``native`` is taken when it is at least 1 / MARGIN times faster than ``alternative``,
    or, when ``alternative_native()`` (asked after measuring) says the alternative runs on the
    kernels too, unless the alternative is that much faster. A measurement that fails keeps the
    native path, as before this choice existed, for this process only."""
    name = _entry_key(key, kernel)
    with _lock:
        entry = _lookup(name)
    if isinstance(entry, dict) and entry.get("path") in (native, alternative):
        path = entry["path"]
    else:
        try:
            times = measure()
        except Exception as exc:  # a failed measurement must never fail training
            _warn_once(name, f"lutsearch: could not time the training paths of {name} ({exc!r}); using {native}")
            times = None
        if times is None or not all(math.isfinite(times.get(p, math.nan)) for p in (native, alternative)):
            path = native
        else:
            if alternative_native():
                path = alternative if times[alternative] < MARGIN * times[native] else native
            else:
                path = native if times[native] <= MARGIN * times[alternative] else alternative
            _store(name, {"path": path, "ms": {p: round(t * 1e3, 4) for p, t in times.items()}})
            _log.info(
                "lutsearch: %s -> %s (%s)", name, path, ", ".join(f"{p} {t * 1e3:.2f} ms" for p, t in times.items())
            )
    _decisions[key] = path
    return path


def _entry_key(key: tuple, kernel: Any) -> str:
    """The cache file's key for in-memory ``key``: environment, then kind (see the module doc)."""
    what, stem, _march, threads, shape, n, batch, *rest = key
    library = getattr(kernel, "library", None)
    lib = library() if library is not None else None
    build = Path(lib._name).stem if lib is not None and getattr(lib, "_name", None) else f"{stem} {_march}"
    kind = f"{what} {stem} {shape} n{n} B{batch}" + ("".join(" norm" if r else " no-norm" for r in rest))
    return f"{build} | torch {torch.__version__} | {cpu_model()} | threads {threads} | {kind}"


_cpu_name: str | None = None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform``): part of every cache key."""
    global _cpu_name
    if _cpu_name is None:
        name = ""
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith(("model name", "Processor", "cpu model")):
                    name = line.split(":", 1)[1].strip()
                    break
        except (OSError, IndexError):
            pass
        _cpu_name = name or platform.processor() or platform.machine() or "unknown CPU"
    return _cpu_name


# ----------------------------------------------------------------------------- measuring
def _close(best: dict[str, float]) -> bool:
    """Whether the candidates' best times are within 15 % of each other (worth more rounds)."""
    low, high = min(best.values()), max(best.values())
    return high < 1.15 * low


def _time(candidates: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Seconds per call of each candidate: the minimum over interleaved rounds (module doc); rounds
    go on up to twice the budget while the candidates are close."""
    for run in candidates.values():
        run()
    best = dict.fromkeys(candidates, math.inf)
    start, rounds = _clock(), 0
    while rounds < MAX_ROUNDS and (
        rounds < MIN_ROUNDS or _clock() - start < BUDGET_S or (_close(best) and _clock() - start < 2 * BUDGET_S)
    ):
        for name, run in candidates.items():
            time.sleep(HELPERS_ASLEEP)
            t0 = _clock()
            run()
            best[name] = min(best[name], _clock() - t0)
        rounds += 1
    return best


def _backward(out: torch.Tensor, wrt: list[torch.Tensor]) -> None:
    torch.autograd.grad(out, wrt, torch.ones_like(out), allow_unused=True)


def _measure_neurons(kernel: Any, neuron: Any, x: torch.Tensor) -> dict[str, float] | None:
    """The neurons alone on ``kernel`` against the family's PyTorch path: forward + backward (the
    parameters' gradients, the input's when ``x`` needs one) on a copy of ``neuron``, so nothing
    of the training state changes."""
    from lutsearch.models._native import layer as native_layer  # layer.py imports this module

    twin = copy.deepcopy(neuron)
    xin = x.detach().clone().requires_grad_(x.requires_grad)
    wrt = [p for p in twin.parameters() if p.requires_grad] + ([xin] if xin.requires_grad else [])

    def alone() -> None:
        _backward(native_layer.neurons(kernel, twin, xin), wrt)

    def plain() -> None:
        with _forcing("torch"):  # the family's forward asks ``supports``: no
            out = twin(xin)
        _backward(out, wrt)

    with torch.enable_grad():
        return _time({"neurons": alone, "torch": plain})


def _measure_layer(layer: Any, x: torch.Tensor, batch: int) -> dict[str, float] | None:
    """The fused step against the layer's modules, forward + backward on a copy of ``layer`` (its
    batch-norm statistics and quantizer move on the copy only). ``x`` is read in its own layout:
    feature-major (n_in, B) unless its first dimension is the batch."""
    feature_major = not (x.shape[0] == batch and x.shape[1] != batch)
    twin = copy.deepcopy(layer)
    xin = x.detach().clone().requires_grad_(x.requires_grad)
    xs = xin.t() if feature_major else xin  # (B, n_in), as run_layers hands an unfused layer
    wrt = [p for p in twin.parameters() if p.requires_grad] + ([xin] if xin.requires_grad else [])
    with torch.enable_grad():
        with _forcing("fused"):
            consts = twin.fused_constants(xin, batch)
        if consts is None:
            return None

        def fused() -> None:
            _backward(twin.fused_forward(xin, consts, feature_major), wrt)

        def modules() -> None:
            _backward(twin(xs), wrt)

        return _time({"fused": fused, "unfused": modules})


# ----------------------------------------------------------------------------- the cache file
def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        _log.warning("%s", message)


def _read_file() -> dict[str, dict]:
    """The cache file's entries; {} when it is missing, unreadable or not what this module writes."""
    path = choice_file()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        _warn_once(f"read {path}", f"lutsearch: ignoring unreadable {path} ({exc}); it will be rewritten")
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not (isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("entries"), dict)):
        _warn_once(f"read {path}", f"lutsearch: ignoring corrupt {path}; it will be rewritten")
        return {}
    return {k: v for k, v in data["entries"].items() if isinstance(v, dict)}


def _lookup(name: str) -> dict | None:
    """The entry ``name`` from memory, else from the file read again (another process may have
    measured it meanwhile)."""
    global _entries
    if _entries is not None and name in _entries:
        return _entries[name]
    _entries = _read_file()
    return _entries.get(name)


def _store(name: str, entry: dict) -> None:
    """Merge ``entry`` into the cache file: under an exclusive lock, re-read, write a temporary
    file, rename it into place (readers see the old or the new file, never a partial one)."""
    global _entries
    path = choice_file()
    with _lock:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path.with_name(path.name + ".lock"), "a") as lock:
                if fcntl is not None:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes
                entries = _read_file()
                entries[name] = entry
                fd, tmp = tempfile.mkstemp(prefix=".native-choice-", suffix=".json", dir=path.parent)
                try:
                    with os.fdopen(fd, "w") as out:
                        json.dump({"format": FORMAT, "entries": entries}, out, indent=1, sort_keys=True)
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            _entries = entries
        except OSError as exc:
            _warn_once(
                f"write {path}",
                f"lutsearch: could not write {path} ({exc}); training-path choices are kept for this process only",
            )
            if _entries is None:
                _entries = {}
            _entries[name] = entry
