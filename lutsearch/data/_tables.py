"""Reading a user's data file (the ``file`` dataset): the whole table, or its first rows only.

``read_table(path, target)`` reads CSV/TSV (pandas), Parquet (pyarrow through pandas) and NPZ (numpy,
``allow_pickle=False``: an NPZ holding Python objects is refused, never unpickled).
``preview_table(path, target, rows)`` reads the header and at most ``rows`` rows: CSV stops after them,
Parquet reads its schema and the first batch; NPZ members are compressed arrays numpy can only read
whole, so an NPZ is read whole. Every failure to read is a one-line ``DatasetError`` on option ``path``
naming the file, never a parser's traceback.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from lutsearch.data._base import DatasetError

__all__ = ["FORMATS", "Table", "preview_table", "read_table"]

FORMATS = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq", ".npz")
_TEXT_PROBE = 8192  # bytes looked at to tell a binary file from CSV text


@dataclasses.dataclass(frozen=True)
class Table:
    """Rows of a data file: all of them (``complete``) or its first ones (a preview)."""

    frame: pd.DataFrame
    complete: bool


def _kind(path: Path) -> str:
    name = path.name.lower()
    for kind, suffixes in (("csv", (".csv", ".csv.gz")), ("tsv", (".tsv",)), ("parquet", (".parquet", ".pq"))):
        if name.endswith(suffixes):
            return kind
    if name.endswith(".npz"):
        return "npz"
    suffix = "".join(path.suffixes) or "(none)"
    raise DatasetError(f"{path.name}: unknown file type {suffix}; allowed: {', '.join(FORMATS)}", option="path")


def _check_text(path: Path) -> None:
    """A plain CSV/TSV file must be text: a NUL byte in its first block means a binary file."""
    if path.name.lower().endswith(".gz"):
        return
    with open(path, "rb") as f:
        head = f.read(_TEXT_PROBE)
    if not head:
        raise DatasetError(f"{path.name}: the file is empty; expected a header line and data rows", option="path")
    if b"\x00" in head:
        raise DatasetError(f"{path.name}: a binary file, not {path.suffix[1:].upper()} text", option="path")


def _read_csv(path: Path, kind: str, rows: int | None) -> Table:
    _check_text(path)
    nrows = None if rows is None else rows + 1  # one more row tells whether the file has more
    try:
        frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", encoding="utf-8-sig", nrows=nrows)
    except pd.errors.EmptyDataError:
        raise DatasetError(
            f"{path.name}: the file is empty; expected a header line and data rows", option="path"
        ) from None
    if rows is not None and len(frame) > rows:
        return Table(frame.iloc[:rows], complete=False)
    return Table(frame, complete=True)


def _read_parquet(path: Path, rows: int | None) -> Table:
    import pyarrow.parquet as pq

    if rows is None:
        return Table(pd.read_parquet(path), complete=True)
    with pq.ParquetFile(path) as pf:
        batch = next(pf.iter_batches(batch_size=max(1, rows)), None)
        frame = (batch.to_pandas() if batch is not None else pf.schema_arrow.empty_table().to_pandas()).iloc[:rows]
        return Table(frame, complete=pf.metadata.num_rows <= rows)


def _read_npz(path: Path, target: str) -> Table:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if "X" in arrays and arrays["X"].ndim == 2:
        X = arrays.pop("X")
        names = [str(n) for n in arrays.pop("feature_names", [f"x{i}" for i in range(X.shape[1])])]
        label = target or "y"
        if label not in arrays:
            raise DatasetError(
                f"{path.name}: no label array {label!r}; arrays: {', '.join(['X', *arrays])}", option="target"
            )
        return Table(pd.DataFrame({**dict(zip(names, X.T)), label: arrays[label]}), complete=True)
    bad = [k for k, v in arrays.items() if v.ndim != 1]
    if bad:
        raise DatasetError(
            f"{path.name}: NPZ needs 1-D column arrays or a 2-D 'X'; arrays {bad} are not 1-D", option="path"
        )
    return Table(pd.DataFrame(arrays), complete=True)


def _read(path: Path, target: str, rows: int | None) -> Table:
    kind = _kind(path)
    try:
        if kind in ("csv", "tsv"):
            return _read_csv(path, kind, rows)
        if kind == "parquet":
            return _read_parquet(path, rows)
        return _read_npz(path, target)
    except DatasetError:
        raise
    # what the readers raise on a file that is not what its name says: parser, decoding, zip and Arrow
    # errors (pyarrow's are ValueError/OSError subclasses) and a truncated stream (EOFError)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(f"{path.name}: cannot read it as {kind.upper()}: {first}", option="path") from None


def read_table(path: Path, target: str) -> pd.DataFrame:
    """The whole table of ``path`` (one column per feature, label, split tag)."""
    return _read(path, target, None).frame


def preview_table(path: Path, target: str, rows: int) -> Table:
    """The header and at most ``rows`` rows of ``path`` (an NPZ is read whole; see the module docstring)."""
    return _read(path, target, rows)
