"""Native CPU kernels: small C++ sources shipped with the package, built on first use, loaded with ctypes.

A kernel is built once per source, compiler, ``-march`` level and CPU into ``$LUTSEARCH_CACHE_DIR/native``
(default ``~/.cache/lutsearch/native``); a build is written to a temporary file and renamed into
place, so processes that build at the same time (Ray workers) never load a half-written library.
Everything here is optional: without a C++ compiler, with ``LUTSEARCH_NATIVE=0``, or when a build
fails (logged once), :func:`load_library` returns ``None`` and callers keep their PyTorch path.

Environment:

* ``LUTSEARCH_NATIVE`` picks the training path (:func:`native_mode`):

  - ``auto`` (default; also ``1``/``true``/``yes``/``on``): per layer kind, the fastest of the fused
    layer, the neuron kernels alone and PyTorch, timed for a few steps the first time that kind
    trains on this CPU and cached in ``$LUTSEARCH_CACHE_DIR/native-choice.json`` (``choice.py``).
    On an AVX2-only CPU the fused NeuraLUT layers once ran at 0.7x of PyTorch: a fixed default can
    be the slowest path, a measured one cannot (to timing noise).
  - ``fused``: whole fused layers wherever they apply, the neuron kernels alone elsewhere.
  - ``neurons``: the neuron kernels alone inside PyTorch's gather, batch-norm and quantizer.
  - ``torch`` (also ``0``/``false``/``no``/``off``): PyTorch only; no kernel is built or loaded.

  Only training steps are affected: evaluation and table enumeration never run these kernels.
* ``LUTSEARCH_NATIVE_MARCH``: the ``-march`` level the kernels are built for (:func:`march`; default
  ``native``, i.e. tuned for this CPU; e.g. ``x86-64-v3`` builds and runs them as an AVX2-only CPU
  would). A level the compiler rejects falls back to the compiler's default target.
* ``CXX`` picks the compiler (default: ``g++``, ``c++``, ``clang++``, the first found).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

__all__ = ["cache_dir", "check_status", "load_library", "march", "native_enabled", "native_mode"]

_log = logging.getLogger("lutsearch.native")
_HERE = Path(__file__).resolve().parent
_FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-pthread")
# Per-source flags. exact.cpp is the exact path's arithmetic: products and sums must stay separately
# rounded and in source order (no FMA contraction, no reassociation), whatever the compiler's default.
_SOURCE_FLAGS = {"exact": ("-ffp-contract=off", "-fno-fast-math", "-fno-unsafe-math-optimizations")}
_lock = threading.Lock()
_loaded: dict[tuple[str, str], ctypes.CDLL | None] = {}


def march() -> str:
    """The ``-march`` level the kernels are built for: ``$LUTSEARCH_NATIVE_MARCH``, default ``native``.
    An explicit level (``x86-64-v3``: AVX2 + FMA, ``x86-64-v2``, ``x86-64-v4``, ...) lets CI and
    benchmarks build and run the kernels as a CPU of that level would (vector width and block sizes
    follow it at compile time, ``common.h``)."""
    return os.environ.get("LUTSEARCH_NATIVE_MARCH", "").strip() or "native"


def _arch_flags() -> tuple[tuple[str, ...], ...]:
    """Tried in order: the requested level (tuned for this CPU by default), then the compiler's default."""
    return ((f"-march={march()}",), ())


# LUTSEARCH_NATIVE's values and the training path each one names (see lutsearch.models._native.choice)
_MODES = {
    "": "auto",
    "auto": "auto",
    "1": "auto",
    "true": "auto",
    "yes": "auto",
    "on": "auto",
    "fused": "fused",
    "neurons": "neurons",
    "torch": "torch",
    "pytorch": "torch",
    "0": "torch",
    "false": "torch",
    "no": "torch",
    "off": "torch",
}
_warned_modes: set[str] = set()


def native_mode() -> str:
    """The training path ``LUTSEARCH_NATIVE`` asks for: ``auto`` (default: the fastest path per layer
    kind, timed once per CPU and cached, ``choice.py``), ``fused`` (whole fused layers wherever they
    apply, the neuron kernels alone elsewhere), ``neurons`` (the neuron kernels alone, never fused
    layers) or ``torch`` (PyTorch only; also ``0``/``false``/``no``/``off``). An unknown value is
    warned about once and read as ``auto``. Read on every call (it is cheap), so a test or benchmark
    can switch paths between steps."""
    raw = os.environ.get("LUTSEARCH_NATIVE", "auto").strip().lower()
    mode = _MODES.get(raw)
    if mode is None:
        if raw not in _warned_modes:
            _warned_modes.add(raw)
            _log.warning(
                "lutsearch: LUTSEARCH_NATIVE=%r is not one of auto, fused, neurons, torch (or 0); using auto", raw
            )
        mode = "auto"
    return mode


def native_enabled() -> bool:
    """False when ``LUTSEARCH_NATIVE`` selects the PyTorch path (``torch``, ``0``/``false``/``no``/``off``)."""
    return native_mode() != "torch"


def cache_dir() -> Path:
    """``$LUTSEARCH_CACHE_DIR/native`` if set, else ``~/.cache/lutsearch/native``."""
    env = os.environ.get("LUTSEARCH_CACHE_DIR")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "lutsearch") / "native"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_signature() -> str:
    """What ``-march=native`` depends on: the CPU's feature flags (Linux), else the processor name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _build(source: Path, compiler: str) -> Path | None:
    """The library built from ``source`` (cached), or ``None`` after a warning saying why."""
    errors: list[str] = []
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
        out_dir = cache_dir()
        headers = [h.read_text() for h in sorted(source.parent.glob("*.h"))]  # included by the sources
        for arch in _arch_flags():
            flags = (*_FLAGS, *_SOURCE_FLAGS.get(source.stem, ()), *arch)
            key = hashlib.sha256(
                "\0".join(
                    [
                        source.read_text(),
                        *headers,
                        compiler,
                        version,
                        " ".join(flags),
                        platform.machine(),
                        _cpu_signature(),
                    ]
                ).encode()
            ).hexdigest()[:16]
            target = out_dir / f"{source.stem}-{key}.so"
            if target.exists():
                return target
            out_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{source.stem}-", suffix=".so", dir=out_dir)
            os.close(fd)
            try:
                proc = subprocess.run(
                    [compiler, *flags, str(source), "-o", tmp], capture_output=True, text=True, timeout=300
                )
                if proc.returncode == 0:
                    os.replace(tmp, target)  # atomic: a concurrent build never exposes a partial file
                    return target
                errors.append((proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1])
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    except (OSError, subprocess.SubprocessError) as exc:  # no cache directory, compiler crash, timeout
        errors.append(str(exc))
    _log.warning(
        "lutsearch: could not build the native kernel %s with %s (%s); using the PyTorch path",
        source.name,
        compiler,
        "; ".join(errors),
    )
    return None


def load_library(stem: str) -> ctypes.CDLL | None:
    """The shared library built from ``<stem>.cpp`` in this package, or ``None`` (see the module doc).
    Built and loaded at most once per process."""
    if not native_enabled():
        return None
    key = (stem, march())
    with _lock:
        if key not in _loaded:
            lib = None
            compiler = _compiler()
            if compiler is None:
                _log.warning("lutsearch: no C++ compiler found (set CXX); %s runs on the PyTorch path", stem)
            else:
                path = _build(_HERE / f"{stem}.cpp", compiler)
                if path is not None:
                    try:
                        lib = ctypes.CDLL(str(path))
                    except OSError as exc:
                        _log.warning("lutsearch: could not load %s (%s); using the PyTorch path", path, exc)
            _loaded[key] = lib
        return _loaded[key]


def check_status(rc: int, stem: str) -> None:
    """Raise for a kernel's non-zero return code: 3 is out of memory; any other code means arguments
    the Python bindings never pass (their ``supports`` checks rule them out), i.e. a bug."""
    if rc == 3:
        raise MemoryError(f"lutsearch native {stem} kernel: out of memory")
    if rc != 0:
        raise RuntimeError(f"lutsearch native {stem} kernel failed with code {rc}")
