"""The sha256 of a file's bytes, read in 1 MiB blocks: dataset downloads (``lutsearch.data``), the truth
tables a trial records (``lutsearch.trial``) and the check of them at export (``lutsearch.export``).
Dependency-free, so every layer may import it."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["sha256_file"]


def sha256_file(path: Path) -> str:
    """The sha256 of ``path``'s bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
