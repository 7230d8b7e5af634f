"""Your own data (dataset name ``file``): one CSV, Parquet or NPZ table, a target column, features.

Options: ``path`` (absolute, relative to the working directory, or relative to the data directory),
``target`` (the label column; any values, mapped to 0..K-1 in sorted order), ``features`` (columns
to use; default every other numeric column except ``split_column``), ``split_column`` (optional
column whose values are ``train``/``val``/``test``, also ``valid``/``validation``; any other value is an
error; with no ``val`` rows, validation is carved from the training rows), ``test_fraction`` (used
without a split column), ``scaler`` (``minmax``, ``standard``, ``quantile``, or ``none`` for features
already in [0, 1]), ``clip_quantile``/``clip_sigma`` (see ``lutsearch.data._base.make_scaler``).

NPZ files hold either one 1-D array per column, or a matrix ``X`` (with optional ``feature_names``)
plus a label array (``target``, default ``y``). Splits are stratified when every class has enough
rows. The variant tag is ``file-<file name>``; ``meta`` records the file's sha256.

Every mistake is a one-line ``DatasetError`` naming the file, the option, the column or value at fault and
what is allowed: a missing or misspelled column, an empty or unreadable file, text or missing values in a
feature, a target with one class or more distinct values than a classifier can have (``MAX_CLASSES``, or
fewer than two rows per class: an ID or a continuous column), unknown split tags. ``check`` finds them
from the file's header and first ``PREVIEW_ROWS`` rows (``lutsearch validate``); the checks that need every
row (one class, rows per class, split tags present) run there only when the preview holds the whole file.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lutsearch._hashing import sha256_file
from lutsearch.data._base import (
    SCALERS,
    DatasetError,
    DatasetSpec,
    SplitData,
    data_dir,
    make_scaler,
    register_dataset,
)
from lutsearch.data._tables import FORMATS, preview_table, read_table

__all__ = ["FORMATS", "MAX_CLASSES", "PREVIEW_ROWS", "check", "load", "read_table"]

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
MAX_CLASSES = 1024  # more distinct target values is a regression target or an ID column, not classes
PREVIEW_ROWS = 10_000  # rows ``check`` reads (the header plus these)


def _resolve(path: str) -> Path:
    if not path:
        raise DatasetError(f"dataset 'file' needs option 'path' (a file ending in {', '.join(FORMATS)})", "path")
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, data_dir() / p]
    for c in candidates:
        if c.is_file():
            return c
        if c.is_dir():
            raise DatasetError(f"dataset file {path!r} is a folder ({c}); name a data file in it", "path")
    raise DatasetError(f"dataset file {path!r} not found; looked at {', '.join(str(c) for c in candidates)}", "path")


def _no_column(file: Path, what: str, name: Any, columns: list[str], option: str) -> DatasetError:
    close = difflib.get_close_matches(str(name), columns, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return DatasetError(f"{file.name}: no {what} column {name!r}; columns: {', '.join(columns)}{hint}", option)


def _first_text(series: pd.Series) -> tuple[int, Any] | None:
    """Row number (1 = first data row) and value of the first entry of an object column that is no number."""
    numbers = pd.to_numeric(series, errors="coerce")
    bad = np.flatnonzero((numbers.isna() & series.notna()).to_numpy())
    return (int(bad[0]) + 1, series.iloc[bad[0]]) if bad.size else None


def _auto_features(df: pd.DataFrame, file: Path, skip: tuple[str, ...]) -> list[str]:
    """Every numeric column but ``skip``; a column of numbers with a stray text value is an error, not left out."""
    feats = []
    for c in df.columns:
        if str(c) in skip:
            continue
        if pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            feats.append(str(c))
        elif len(df) and pd.to_numeric(df[c], errors="coerce").notna().mean() >= 0.5:
            row, value = _first_text(df[c]) or (0, "")
            raise DatasetError(
                f"{file.name}: column {c!r} holds numbers and text ({value!r} in data row {row}); "
                "allowed: numbers only (fix the value or list the features to use)",
                "features",
            )
    return feats


def _features(df: pd.DataFrame, file: Path, label: str, features: list[Any], split_column: str) -> list[str]:
    """The feature columns: the listed ones (present, numeric) or every numeric column but label and split."""
    columns = [str(c) for c in df.columns]
    if not features:
        feats = _auto_features(df, file, (label, split_column))
        if not feats:
            raise DatasetError(
                f"{file.name}: no numeric feature columns besides {label!r}; columns: {', '.join(columns)}", "features"
            )
        return feats
    for f in features:
        if str(f) not in columns:
            raise _no_column(file, "feature", f, columns, "features")
        if str(f) in (label, split_column):
            raise DatasetError(
                f"{file.name}: features lists {str(f)!r}, the target or split column; allowed: other columns",
                "features",
            )
    feats = [str(f) for f in features]
    for f in feats:
        if not (pd.api.types.is_numeric_dtype(df[f]) or pd.api.types.is_bool_dtype(df[f])):
            row, value = _first_text(df[f]) or (0, "")
            raise DatasetError(
                f"{file.name}: feature column {f!r} is not numeric ({df[f].dtype}; {value!r} in data row {row}); "
                "allowed: numbers only (encode it or leave it out of 'features')",
                "features",
            )
    return feats


def _columns(
    df: pd.DataFrame, file: Path, target: str, features: list[Any], split_column: str
) -> tuple[str, list[str]]:
    """The label column and the feature columns, checked: present, numeric, without missing values."""
    columns = [str(c) for c in df.columns]
    label = target or ("y" if file.name.lower().endswith(".npz") and "y" in columns else "")
    if not label:
        columns_text = ", ".join(columns)
        raise DatasetError(f"dataset 'file' needs option 'target'; columns of {file.name}: {columns_text}", "target")
    if label not in columns:
        raise _no_column(file, "target", label, columns, "target")
    if split_column and split_column not in columns:
        raise _no_column(file, "split_column", split_column, columns, "split_column")
    feats = _features(df, file, label, features, split_column)
    _finite(df, file, feats, label)
    return label, feats


def _finite(df: pd.DataFrame, file: Path, feats: list[str], label: str) -> None:
    """No missing values in the features and the label, no infinite ones in the features."""
    for c in [*feats, label]:
        missing = np.flatnonzero(df[c].isna().to_numpy())
        if missing.size:
            raise DatasetError(
                f"{file.name}: column {c!r} has {missing.size} missing values (first in data row {missing[0] + 1}); "
                "allowed: numbers only (fill or drop them)",
                "target" if c == label else "features",
            )
    values = df[feats].to_numpy(np.float64)
    inf = np.argwhere(~np.isfinite(values))
    if inf.size:
        raise DatasetError(
            f"{file.name}: column {feats[inf[0][1]]!r} has an infinite value in data row {inf[0][0] + 1}; "
            "allowed: finite numbers",
            "features",
        )


def _labels(df: pd.DataFrame, file: Path, label: str, complete: bool) -> None:
    """A classification target: 2..MAX_CLASSES classes with two rows per class on average (the class
    count and the rows per class only when ``df`` holds the whole file)."""
    n = int(df[label].nunique())
    if n > MAX_CLASSES or (complete and n > len(df) // 2 and len(df) >= 4):
        raise DatasetError(
            f"{file.name}: target {label!r} has {n} distinct values in {len(df)} rows; allowed: 2 to "
            f"{MAX_CLASSES} classes with at least 2 rows each (a continuous or ID column is no class label)",
            "target",
        )
    if complete and n < 2:
        only = f" ({df[label].iloc[0]!r})" if len(df) else ""
        raise DatasetError(
            f"{file.name}: target {label!r} has {n} class{only}; a classifier needs at least 2 classes", "target"
        )


def _split_tags(df: pd.DataFrame, file: Path, split_column: str, complete: bool) -> pd.Series:
    """The split column's values as train/val/test; any other value is an error, and so is a table (the
    whole file: ``complete``) without train or test rows."""
    raw = df[split_column].astype(str).str.strip()
    tags = raw.str.lower().map(SPLIT_NAMES)
    unknown = sorted(raw[tags.isna()].unique())
    if unknown:
        raise DatasetError(
            f"{file.name}: split column {split_column!r} has value {unknown[0]!r}"
            f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}; allowed: {', '.join(SPLIT_NAMES)}",
            "split_column",
        )
    for s in ("train", "test") if complete else ():
        if not (tags == s).any():
            values = ", ".join(sorted(raw.unique()))
            raise DatasetError(
                f"{file.name}: split column {split_column!r} has no {s!r} rows; values: {values}", "split_column"
            )
    return tags


def _options(scaler: str, test_fraction: float) -> None:
    if scaler not in (*SCALERS, "none"):
        raise DatasetError(f"unknown scaler {scaler!r}; allowed: {', '.join((*SCALERS, 'none'))}", "scaler")
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be in (0, 1), got {test_fraction}", "test_fraction")


def _validated(
    df: pd.DataFrame, file: Path, target: str, features: list[Any], split_column: str, scaler: str, complete: bool
) -> tuple[str, list[str]]:
    """Every check of the table ``df`` (the whole file when ``complete``); the label and feature columns."""
    if complete and not len(df):
        raise DatasetError(f"{file.name}: the file has a header but no data rows", "path")
    label, feats = _columns(df, file, target, features, split_column)
    _labels(df, file, label, complete)
    if split_column:
        _split_tags(df, file, split_column, complete)
    if scaler == "none":
        X = df[feats].to_numpy(np.float64)
        out = [f for f, lo, hi in zip(feats, X.min(0, initial=0.0), X.max(0, initial=1.0)) if lo < 0 or hi > 1]
        if out:
            raise DatasetError(
                f"{file.name}: scaler 'none' needs features in [0, 1]; {out[0]!r} is not (pick a scaler)", "scaler"
            )
    return label, feats


def check(
    path: str,
    target: str,
    features: list[Any],
    split_column: str,
    test_fraction: float,
    scaler: str,
    clip_quantile: float,
    clip_sigma: float,
) -> None:
    """The mistakes the file's header and first ``PREVIEW_ROWS`` rows show (module docstring)."""
    _options(scaler, test_fraction)
    file = _resolve(path)
    table = preview_table(file, target, PREVIEW_ROWS)
    _validated(table.frame, file, target, features, split_column, scaler, table.complete)


def _split(X: np.ndarray, y: np.ndarray, size: float, seed: int) -> list[np.ndarray]:
    """Stratified when possible (every class needs 2+ rows on each side), else plain random."""
    try:
        return train_test_split(X, y, test_size=size, random_state=seed, stratify=y)
    except ValueError:
        return train_test_split(X, y, test_size=size, random_state=seed)


class _Splits(NamedTuple):
    """The rows of each split."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _split_rows(
    df: pd.DataFrame,
    file: Path,
    X: np.ndarray,
    y: np.ndarray,
    split_column: str,
    split_seed: int,
    val_fraction: float,
    test_fraction: float,
) -> _Splits:
    """Train/validation/test rows: as the split column tags them (validation carved from the training
    rows when none is tagged), or random (stratified when possible) without a split column."""
    if split_column:
        tags = _split_tags(df, file, split_column, complete=True)
        parts = {s: (X[(tags == s).to_numpy()], y[(tags == s).to_numpy()]) for s in ("train", "val", "test")}
        (X_train, y_train), (X_val, y_val), (X_test, y_test) = parts["train"], parts["val"], parts["test"]
        if not len(y_val):
            X_train, X_val, y_train, y_val = _split(X_train, y_train, val_fraction, split_seed)
    else:
        X_rest, X_test, y_rest, y_test = _split(X, y, test_fraction, split_seed)
        X_train, X_val, y_train, y_val = _split(X_rest, y_rest, val_fraction, split_seed + 1)
    return _Splits(X_train, y_train, X_val, y_val, X_test, y_test)


def _scale(splits: _Splits, scaler: str, clip_quantile: float, clip_sigma: float) -> tuple[_Splits, dict[str, Any]]:
    """The splits scaled into [0, 1] by a scaler fit on the training rows, and the scaler's state (``none``:
    as they are; ``_validated`` checked that they are in [0, 1])."""
    if scaler == "none":
        return splits, {"kind": "none"}
    sc = make_scaler(scaler, clip_quantile=clip_quantile, clip_sigma=clip_sigma).fit(splits.X_train)
    scaled = splits._replace(
        X_train=sc.transform(splits.X_train), X_val=sc.transform(splits.X_val), X_test=sc.transform(splits.X_test)
    )
    return scaled, sc.state()


def load(
    split_seed: int,
    val_fraction: float,
    path: str,
    target: str,
    features: list[Any],
    split_column: str,
    test_fraction: float,
    scaler: str,
    clip_quantile: float,
    clip_sigma: float,
) -> SplitData:
    _options(scaler, test_fraction)
    file = _resolve(path)
    df = read_table(file, target)
    label, feats = _validated(df, file, target, features, split_column, scaler, complete=True)
    classes, y = np.unique(df[label].to_numpy(), return_inverse=True)
    X = df[feats].to_numpy(np.float64)
    splits = _split_rows(df, file, X, y, split_column, split_seed, val_fraction, test_fraction)
    splits, state = _scale(splits, scaler, clip_quantile, clip_sigma)
    return SplitData(
        name="file",
        variant=f"file-{file.name}",
        X_train=splits.X_train,
        y_train=splits.y_train,
        X_val=splits.X_val,
        y_val=splits.y_val,
        X_test=splits.X_test,
        y_test=splits.y_test,
        n_classes=len(classes),
        feature_names=feats,
        class_names=[str(c) for c in classes],
        meta={
            "source": str(file),
            "sha256": sha256_file(file),
            "target": label,
            "split_column": split_column,
            "scaling": scaler,
            "scaler": state,
            "test_fraction": test_fraction,
        },
    )


register_dataset(
    DatasetSpec(
        "file",
        load,
        {
            "path": (str, ""),
            "target": (str, ""),
            "features": (list, []),
            "split_column": (str, ""),
            "test_fraction": (float, 0.2),
            "scaler": (str, "minmax"),
            "clip_quantile": (float, 0.0),
            "clip_sigma": (float, 3.0),
        },
        __doc__.splitlines()[0],
        check=check,
    )
)
