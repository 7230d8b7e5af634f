"""The on-disk synthesis cache: one JSON file per content-addressed key, ``<dir>/<key[:2]>/<key>.json``.

Keys are sha256 hex digests (``lutsearch.hw._units.unit_key``); values are the stats dicts of a unit or
a whole design. Writes go through a per-process temporary file and ``os.replace`` (safe with parallel
writers). ``cache_dir=None`` disables the cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

__all__ = ["cache_get", "cache_put", "default_cache_dir", "resolve_cache_dir"]


def default_cache_dir() -> Path:
    env = os.environ.get("LUTSEARCH_SYNTH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lutsearch" / "synth"


def resolve_cache_dir(cache_dir: str | Path | Literal[False] | None) -> Path | None:
    """``False``: no cache; ``None`` (or empty): the default folder; else that folder."""
    return None if cache_dir is False else Path(cache_dir) if cache_dir else default_cache_dir()


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / f"{key}.json"


def cache_get(cache_dir: Path | None, key: str) -> dict | None:
    if cache_dir is None:
        return None
    try:
        return json.loads(_path(cache_dir, key).read_text())
    except (OSError, ValueError):
        return None


def cache_put(cache_dir: Path | None, key: str, value: dict) -> None:
    if cache_dir is None:
        return
    path = _path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, sort_keys=True))
    os.replace(tmp, path)
