"""A trial folder's files, checked before anything is exported from them.

The study records the sha256 of each trial's ``tables.npz`` (user attribute ``tables_sha256``, written by
``lutsearch.trial``); export recomputes it from the folder and refuses a mismatch, and refuses a folder
without ``metrics.json`` (the marker a trial writes last) or with a file it cannot read, each with an
``ExportError`` naming the file, before any RTL is written. A study from before the hash was recorded is
exported with a note that its tables could not be checked.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutsearch._hashing import sha256_file
from lutsearch.export._errors import ExportError

if TYPE_CHECKING:  # the trial package imports torch: only loaded when an export runs
    from lutsearch.trial import TrialArtifact

__all__ = ["TABLES_HASH", "Checked", "first_line", "read_artifact", "tables_sha256"]

TABLES_HASH = "tables_sha256"
_FILES = ("config.json", "tables.npz", "model.pt", "metrics.json")


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@dataclasses.dataclass(frozen=True)
class Checked:
    """A trial's artifact read back, the sha256 of its ``tables.npz``, and whether the study had recorded
    it (``checked``: it matched the record; False: nothing was recorded to check against)."""

    artifact: TrialArtifact
    tables_sha256: str
    checked: bool


def tables_sha256(folder: Path) -> str:
    """The sha256 of ``folder/tables.npz``'s bytes (what ``lutsearch.trial`` records)."""
    return sha256_file(folder / "tables.npz")


def _check_files(folder: Path, number: int, recorded: str | None) -> str:
    """The sha256 of the folder's tables, after checking that every file is there and the tables match
    the ``recorded`` hash."""
    for name in _FILES:
        if not (folder / name).is_file():
            done = " (the trial's last file: it did not finish saving)" if name == "metrics.json" else ""
            raise ExportError(f"{folder / name}: missing from trial {number}'s folder{done}; refusing to export")
    actual = tables_sha256(folder)
    if recorded is not None and actual != recorded:
        raise ExportError(
            f"{folder / 'tables.npz'}: sha256 {actual[:16]} does not match the {recorded[:16]} the study "
            f"recorded for trial {number} (changed or damaged since); refusing to export"
        )
    return actual


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: cannot read it as JSON: {first_line(exc)}") from None
    if not isinstance(value, dict):
        raise ExportError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def read_artifact(folder: Path, number: int, recorded: str | None) -> Checked:
    """Trial ``number``'s artifact in ``folder``, its tables checked against the ``recorded`` hash (None:
    nothing recorded, unchecked)."""
    from lutsearch.tables import TruthTableNetwork
    from lutsearch.trial import TrialArtifact

    actual = _check_files(folder, number, recorded)
    config, metrics = _json(folder / "config.json"), _json(folder / "metrics.json")
    try:
        network = TruthTableNetwork.load(folder / "tables.npz")
    except Exception as exc:  # numpy's zip reader, a malformed header: the file is damaged
        raise ExportError(f"{folder / 'tables.npz'}: cannot read the truth tables: {first_line(exc)}") from None
    artifact = TrialArtifact(path=folder, config=config, metrics=metrics, network=network)
    return Checked(artifact, actual, checked=recorded is not None)
