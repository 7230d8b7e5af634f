"""Atomic, durable file writes for a trial's artifacts.

A file is written to a temporary name in its own folder, flushed and fsync'd, then renamed over the final
name (``os.replace``, atomic on POSIX) and the folder fsync'd: a reader, or a driver resuming after a
crash, sees the previous file or the whole new one, never half of one. A write that fails (a full disk:
``ENOSPC``; a file-size limit: ``EFBIG``; a quota) removes its temporary file and raises
``ArtifactWriteError`` naming the file. The standard library has no atomic write; this is the usual
temp + fsync + rename recipe.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ArtifactWriteError", "atomic_bytes", "atomic_path"]


class ArtifactWriteError(OSError):
    """A trial artifact could not be written (full disk, file-size limit...); one line naming the file."""


def _fsync(path: Path) -> None:
    """fsync a file or a folder (a folder's entries: the rename of a file in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _failed(path: Path, exc: OSError) -> ArtifactWriteError:
    reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
    err = ArtifactWriteError(f"cannot save {path.name} in {path.parent}: {reason} (errno {exc.errno})")
    err.errno = exc.errno
    return err


@contextlib.contextmanager
def atomic_path(path: Path, *, durable: bool = True) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; on leaving without an error it is renamed to
    ``path`` (fsync'd first, and the folder after, when ``durable``); on any error it is removed (an
    ``OSError`` becomes ``ArtifactWriteError``). ``durable=False`` is still atomic, for files whose loss in
    a power cut costs nothing (the live progress): the two fsyncs take ~10 ms on a VM disk."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, ArtifactWriteError):
            raise
        raise _failed(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (and durably: ``atomic_path``)."""
    with atomic_path(path, durable=durable) as tmp, open(tmp, "wb") as f:
        f.write(data)
