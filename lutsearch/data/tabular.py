"""Your own data (dataset name ``file``): one CSV, Parquet or NPZ table, a target column, features.

Options: ``path`` (absolute, relative to the working directory, or relative to the data directory),
``target`` (the label column; any values, mapped to 0..K-1 in sorted order), ``features`` (columns
to use; default every other numeric column except ``split_column``), ``split_column`` (optional
column whose values are ``train``/``val``/``test``; rows with other values are dropped; with no
``val`` rows, validation is carved from the training rows), ``test_fraction`` (used without a split
column), ``scaler`` (``minmax``, ``standard``, ``quantile``, or ``none`` for features already in
[0, 1]), ``clip_quantile``/``clip_sigma`` (see ``lutsearch.data._base.make_scaler``).

NPZ files hold either one 1-D array per column, or a matrix ``X`` (with optional ``feature_names``)
plus a label array (``target``, default ``y``). Splits are stratified when every class has enough
rows. The variant tag is ``file-<file name>``; ``meta`` records the file's sha256.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lutsearch.data._base import SCALERS, DatasetSpec, SplitData, _sha256, data_dir, make_scaler, register_dataset

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
FORMATS = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq", ".npz")


def _resolve(path: str) -> Path:
    if not path:
        raise ValueError("dataset 'file' needs option 'path' (a CSV, Parquet or NPZ file)")
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, data_dir() / p]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"dataset file {path!r} not found; looked at {', '.join(str(c) for c in candidates)}")


def read_table(path: Path, target: str) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path, encoding="utf-8-sig")
    if name.endswith(".tsv"):
        return pd.read_csv(path, sep="\t", encoding="utf-8-sig")
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if "X" in arrays and arrays["X"].ndim == 2:
            X = arrays.pop("X")
            names = [str(n) for n in arrays.pop("feature_names", [f"x{i}" for i in range(X.shape[1])])]
            label = target or "y"
            if label not in arrays:
                raise ValueError(f"{path}: no label array {label!r}; arrays: {', '.join(['X', *arrays])}")
            return pd.DataFrame({**dict(zip(names, X.T)), label: arrays[label]})
        bad = [k for k, v in arrays.items() if v.ndim != 1]
        if bad:
            raise ValueError(f"{path}: NPZ needs 1-D column arrays or a 2-D 'X'; arrays {bad} are not 1-D")
        return pd.DataFrame(arrays)
    raise ValueError(f"{path}: unknown format; allowed: {', '.join(FORMATS)}")


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


def _columns(
    df: pd.DataFrame, file: Path, target: str, features: list[Any], split_column: str
) -> tuple[str, list[str]]:
    """The label column and the feature columns, checked: present, numeric, without missing values."""
    columns = [str(c) for c in df.columns]
    label = target or ("y" if file.name.lower().endswith(".npz") and "y" in columns else "")
    if not label:
        raise ValueError(f"dataset 'file' needs option 'target'; columns of {file.name}: {', '.join(columns)}")
    for what, name in [("target", label)] + ([("split_column", split_column)] if split_column else []):
        if name not in columns:
            raise ValueError(f"{file.name}: no {what} column {name!r}; columns: {', '.join(columns)}")
    if features:
        missing = [f for f in features if f not in columns]
        if missing:
            raise ValueError(f"{file.name}: no feature column {missing[0]!r}; columns: {', '.join(columns)}")
        feats = [str(f) for f in features]
    else:
        feats = [c for c in columns if c not in (label, split_column) and pd.api.types.is_numeric_dtype(df[c])]
    bad = [f for f in feats if not (pd.api.types.is_numeric_dtype(df[f]) or pd.api.types.is_bool_dtype(df[f]))]
    if bad:
        raise ValueError(
            f"{file.name}: feature column {bad[0]!r} is not numeric ({df[bad[0]].dtype}); "
            "encode it or leave it out of 'features'"
        )
    if not feats:
        raise ValueError(f"{file.name}: no numeric feature columns besides {label!r}; columns: {', '.join(columns)}")
    nan = df[feats + [label]].isna().sum()
    if nan.any():
        raise ValueError(f"{file.name}: column {nan.idxmax()!r} has {int(nan.max())} missing values; fill or drop them")
    return label, feats


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
        tags = df[split_column].astype(str).str.strip().str.lower().map(SPLIT_NAMES)
        parts = {s: (X[(tags == s).to_numpy()], y[(tags == s).to_numpy()]) for s in ("train", "val", "test")}
        for s in ("train", "test"):
            if not len(parts[s][1]):
                found = sorted(df[split_column].astype(str).unique())
                raise ValueError(
                    f"{file.name}: split column {split_column!r} has no {s!r} rows; values: {', '.join(found)}"
                )
        (X_train, y_train), (X_val, y_val), (X_test, y_test) = parts["train"], parts["val"], parts["test"]
        if not len(y_val):
            X_train, X_val, y_train, y_val = _split(X_train, y_train, val_fraction, split_seed)
    else:
        X_rest, X_test, y_rest, y_test = _split(X, y, test_fraction, split_seed)
        X_train, X_val, y_train, y_val = _split(X_rest, y_rest, val_fraction, split_seed + 1)
    return _Splits(X_train, y_train, X_val, y_val, X_test, y_test)


def _scale(
    splits: _Splits, file: Path, X: np.ndarray, feats: list[str], scaler: str, clip_quantile: float, clip_sigma: float
) -> tuple[_Splits, dict[str, Any]]:
    """The splits scaled into [0, 1] by a scaler fit on the training rows, and the scaler's state;
    ``none`` checks that every feature already is in [0, 1]."""
    if scaler == "none":
        out = [f for f, lo, hi in zip(feats, X.min(0), X.max(0)) if lo < 0 or hi > 1]
        if out:
            raise ValueError(f"{file.name}: scaler 'none' needs features in [0, 1]; {out[0]!r} is not (pick a scaler)")
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
    file = _resolve(path)
    df = read_table(file, target)
    label, feats = _columns(df, file, target, features, split_column)
    if scaler not in SCALERS + ("none",):
        raise ValueError(f"unknown scaler {scaler!r}; allowed: {', '.join(SCALERS + ('none',))}")

    classes, y = np.unique(df[label].to_numpy(), return_inverse=True)
    X = df[feats].to_numpy(np.float64)
    splits = _split_rows(df, file, X, y, split_column, split_seed, val_fraction, test_fraction)
    splits, state = _scale(splits, file, X, feats, scaler, clip_quantile, clip_sigma)
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
            "sha256": _sha256(file),
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
    )
)
