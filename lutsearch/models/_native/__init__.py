"""Native CPU kernels: small C++ sources shipped with the package, built on first use, loaded with ctypes.

A kernel is built once per source, compiler and CPU (``-O3 -march=native``) into
``$LUTSEARCH_CACHE_DIR/native`` (default ``~/.cache/lutsearch/native``); a build is written to a
temporary file and renamed into place, so processes that build at the same time (Ray workers) never
load a half-written library. Everything here is optional: without a C++ compiler, with
``LUTSEARCH_NATIVE=0``, or when a build fails (logged once), :func:`load_library` returns ``None``
and callers keep their PyTorch path. ``$CXX`` picks the compiler (default: ``g++``, ``c++``,
``clang++``, the first found).
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

__all__ = ["native_enabled", "load_library", "cache_dir", "check_status"]

_log = logging.getLogger("lutsearch.native")
_HERE = Path(__file__).resolve().parent
_FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-pthread")
_ARCH_FLAGS = (("-march=native",), ())  # tried in order: tuned for this CPU, then the compiler's default
_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL | None] = {}


def native_enabled() -> bool:
    """False when ``LUTSEARCH_NATIVE`` is ``0``/``false``/``no``/``off``."""
    return os.environ.get("LUTSEARCH_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


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
        for arch in _ARCH_FLAGS:
            flags = (*_FLAGS, *arch)
            key = hashlib.sha256("\0".join([source.read_text(), *headers, compiler, version, " ".join(flags),
                                            platform.machine(), _cpu_signature()]).encode()).hexdigest()[:16]
            target = out_dir / f"{source.stem}-{key}.so"
            if target.exists():
                return target
            out_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{source.stem}-", suffix=".so", dir=out_dir)
            os.close(fd)
            try:
                proc = subprocess.run([compiler, *flags, str(source), "-o", tmp], capture_output=True, text=True,
                                      timeout=300)
                if proc.returncode == 0:
                    os.replace(tmp, target)  # atomic: a concurrent build never exposes a partial file
                    return target
                errors.append((proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1])
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    except (OSError, subprocess.SubprocessError) as exc:  # no cache directory, compiler crash, timeout
        errors.append(str(exc))
    _log.warning("lutsearch: could not build the native kernel %s with %s (%s); using the PyTorch path",
                 source.name, compiler, "; ".join(errors))
    return None


def load_library(stem: str) -> ctypes.CDLL | None:
    """The shared library built from ``<stem>.cpp`` in this package, or ``None`` (see the module doc).
    Built and loaded at most once per process."""
    if not native_enabled():
        return None
    with _lock:
        if stem not in _loaded:
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
            _loaded[stem] = lib
        return _loaded[stem]


def check_status(rc: int, stem: str) -> None:
    """Raise for a kernel's non-zero return code: 3 is out of memory; any other code means arguments
    the Python bindings never pass (their ``supports`` checks rule them out), i.e. a bug."""
    if rc == 3:
        raise MemoryError(f"lutsearch native {stem} kernel: out of memory")
    if rc != 0:
        raise RuntimeError(f"lutsearch native {stem} kernel failed with code {rc}")
