"""Jet substructure classification (JSC): 16 high-level jet features, 5 classes (g, q, w, z, t).

Duarte et al., "Fast inference of deep neural networks in FPGAs for particle physics" (JINST 2018),
the hls4ml benchmark used by LogicNets (Umuroglu et al., FPL 2020), PolyLUT, NeuraLUT, ...
Three sources with the same schema, chosen by the ``variant`` option (tag ``jsc-<variant>``):

* ``pythia`` (default, offline): ``jsc_pythia/jsc_pythia.npz``, a Pythia 8 stand-in with the same
  schema (139,348 jets). Its numbers are **not** comparable with published JSC results.
* ``openml``: OpenML data id 42468 ``hls4ml_lhc_jets_hlf`` (830,000 jets), the copy hls4ml's
  tutorials load. Downloaded once from OpenML's file server (parquet, or the ARFF as fallback) into
  ``jsc/`` and converted to ``jsc/openml_42468.npz``.
* ``cernbox``: the older HDF5 file LogicNets' ``examples/jet_substructure`` reads
  (``processed-pythia82-lhc13-all-pt1-50k-r1_h022_e0175_t220_nonu_truth.z``, table
  ``t_allpar_new``); needs ``h5py``. As LogicNets does, duplicate rows are dropped.

Splits follow hls4ml / LogicNets practice: the test split is ``train_test_split(test_size=0.2,
random_state=42)`` (unstratified; ``test_fraction``/``test_seed`` change it), so every split seed
shares one test set. LogicNets used its training data as validation; here a stratified
``val_fraction`` of the training rows is held out instead, chosen by ``split_seed``.
Scaling: LogicNets fits a standard scaler on the training rows; we do the same and clip to
+-``clip_sigma`` standard deviations mapped onto [0, 1] (``scaler: standard``), or use
``minmax`` (with ``clip_quantile``) or ``quantile``. The fit uses the training split only and its
state is stored in ``meta["scaler"]``.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lutsearch.data._base import (
    DatasetSpec,
    SplitData,
    carve_validation,
    data_dir,
    fetch_file,
    make_scaler,
    register_dataset,
)

FEATURES = [
    "j_zlogz",
    "j_c1_b0_mmdt",
    "j_c1_b1_mmdt",
    "j_c1_b2_mmdt",
    "j_c2_b1_mmdt",
    "j_c2_b2_mmdt",
    "j_d2_b1_mmdt",
    "j_d2_b2_mmdt",
    "j_d2_a1_b1_mmdt",
    "j_d2_a1_b2_mmdt",
    "j_m2_b1_mmdt",
    "j_m2_b2_mmdt",
    "j_n2_b1_mmdt",
    "j_n2_b2_mmdt",
    "j_mass_mmdt",
    "j_multiplicity",
]
CLASSES = ["g", "q", "w", "z", "t"]
VARIANTS = ("pythia", "openml", "cernbox")

PYTHIA_FILE = "jsc_pythia/jsc_pythia.npz"
PYTHIA_SHA256 = "64a49aa703928502f54fedb7d300b99a7ad7859163f5f590a6d5e322bea46c77"

OPENML_ID = 42468
OPENML_API = f"https://www.openml.org/api/v1/json/data/{OPENML_ID}"
OPENML_PARQUET_URLS = [
    f"https://data.openml.org/datasets/0004/{OPENML_ID}/dataset_{OPENML_ID}.pq",
    f"https://openml1.win.tue.nl/datasets/0004/{OPENML_ID}/dataset_{OPENML_ID}.pq",
]
OPENML_CACHE = f"jsc/openml_{OPENML_ID}.npz"

CERNBOX_FILE = "jsc/processed-pythia82-lhc13-all-pt1-50k-r1_h022_e0175_t220_nonu_truth.z"
CERNBOX_URLS = ["https://cernbox.cern.ch/index.php/s/jvFd5MoWhGs1l5v/download"]
CERNBOX_TABLE = "t_allpar_new"
CERNBOX_LABELS = ["j_g", "j_q", "j_w", "j_z", "j_t"]


# --------------------------------------------------------------------------- readers
def _labels_from_names(values: np.ndarray) -> np.ndarray:
    """Class column (names like ``g`` / ``b'g'`` / ``'g'``, or integer codes 0..4) -> int64 0..4."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        y = values.astype(np.int64)
    else:
        if values.dtype.kind == "S":
            values = np.char.decode(values, "utf-8")
        names = np.char.strip(np.char.strip(values.astype(str)), "'\"")
        y = pd.Categorical(names, categories=CLASSES).codes.astype(np.int64)
        if (y < 0).any():
            raise ValueError(f"JSC class column has values {sorted(set(names[y < 0].tolist()))}; expected {CLASSES}")
    if y.size and (y.min() < 0 or y.max() >= len(CLASSES)):
        raise ValueError(f"JSC class codes must be 0..{len(CLASSES) - 1}")
    return y


def _check_columns(columns, path: Path) -> None:
    missing = [f for f in FEATURES if f not in columns]
    if missing:
        raise ValueError(f"{path}: missing JSC columns {missing}; has {list(columns)}")


def read_openml_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(X float32 (n, 16) in ``FEATURES`` order, y int64) from OpenML's parquet or ARFF file."""
    path = Path(path)
    if path.suffix in (".pq", ".parquet"):
        df = pd.read_parquet(path)
        _check_columns(df.columns, path)
        target = "class" if "class" in df.columns else df.columns[-1]
        return df[FEATURES].to_numpy(np.float32), _labels_from_names(df[target].astype(str).to_numpy())
    from scipy.io import arff  # ARFF parsing: scipy's reader (numeric + nominal attributes)

    records, meta = arff.loadarff(str(path))
    names = list(meta.names())
    _check_columns(names, path)
    target = "class" if "class" in names else names[-1]
    X = np.stack([records[f].astype(np.float32) for f in FEATURES], axis=1)
    return X, _labels_from_names(records[target])


def _openml_sources() -> list[tuple[str, list[str]]]:
    """(cache name, URLs) for the parquet file, then the ARFF, from OpenML's dataset description
    when reachable, plus the known parquet locations."""
    parquet, arff = [], []
    try:
        with urllib.request.urlopen(OPENML_API, timeout=30) as resp:
            desc = json.load(resp)["data_set_description"]
        parquet += [desc["parquet_url"]] if desc.get("parquet_url") else []
        arff += [desc["url"]] if desc.get("url") else []
    except (OSError, ValueError, KeyError):
        pass  # offline or API change: fall back to the fixed locations
    parquet += [u for u in OPENML_PARQUET_URLS if u not in parquet]
    return [(f"jsc/dataset_{OPENML_ID}.pq", parquet), (f"jsc/dataset_{OPENML_ID}.arff", arff)]


def _load_openml() -> tuple[np.ndarray, np.ndarray, str]:
    cache = data_dir() / OPENML_CACHE
    if not cache.exists():
        present = [data_dir() / n for n in (f"jsc/dataset_{OPENML_ID}.pq", f"jsc/dataset_{OPENML_ID}.arff")]
        raw = next((p for p in present if p.exists()), None)
        errors = []
        for relpath, urls in [] if raw else _openml_sources():
            try:
                raw = fetch_file(relpath, urls)
                break
            except FileNotFoundError as exc:
                errors.append(str(exc))
        if raw is None:
            raise FileNotFoundError(" | ".join(errors))
        X, y = read_openml_file(raw)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, X=X, y=y)
    with np.load(cache) as npz:
        return npz["X"], npz["y"].astype(np.int64), str(cache)


def read_cernbox_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) from the LogicNets HDF5 file: table ``t_allpar_new``, one-hot j_g..j_t labels,
    duplicate rows dropped (as LogicNets does)."""
    try:
        import h5py
    except ImportError:
        raise ImportError("the jsc 'cernbox' variant reads HDF5 and needs h5py: pip install h5py") from None

    path = Path(path)
    with h5py.File(path, "r") as f:
        if CERNBOX_TABLE not in f:
            raise ValueError(f"{path}: no table {CERNBOX_TABLE!r}; has {sorted(f.keys())}")
        table = f[CERNBOX_TABLE][()]
    columns = list(table.dtype.names or ())
    _check_columns(columns, path)
    missing = [c for c in CERNBOX_LABELS if c not in columns]
    if missing:
        raise ValueError(f"{path}: missing label columns {missing}; has {columns}")
    df = pd.DataFrame({c: table[c] for c in FEATURES + CERNBOX_LABELS}).drop_duplicates()
    return df[FEATURES].to_numpy(np.float32), df[CERNBOX_LABELS].to_numpy().argmax(1).astype(np.int64)


def _load_cernbox() -> tuple[np.ndarray, np.ndarray, str]:
    path = fetch_file(CERNBOX_FILE, CERNBOX_URLS)
    X, y = read_cernbox_file(path)
    return X, y, str(path)


def _load_pythia() -> tuple[np.ndarray, np.ndarray, str]:
    path = fetch_file(PYTHIA_FILE, [], PYTHIA_SHA256)
    with np.load(path) as npz:
        names = [str(n) for n in npz["feature_names"]]
        if names != FEATURES:
            raise ValueError(f"{path}: feature order {names} differs from {FEATURES}")
        return npz["X"].astype(np.float32), npz["y"].astype(np.int64), str(path)


# --------------------------------------------------------------------------- loader
def split_and_scale(X, y, *, split_seed, val_fraction, test_fraction, test_seed, scaler, clip_quantile, clip_sigma):
    """Fixed (published) test split, seeded validation split, scaler fit on the training rows."""
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=test_fraction, random_state=test_seed)
    X_train, X_val, y_train, y_val = carve_validation(X_rest, y_rest, val_fraction, split_seed)
    sc = make_scaler(scaler, clip_quantile=clip_quantile, clip_sigma=clip_sigma).fit(X_train)
    return (sc.transform(X_train), y_train, sc.transform(X_val), y_val, sc.transform(X_test), y_test, sc.state())


def load(
    split_seed: int,
    val_fraction: float,
    variant: str,
    scaler: str,
    clip_quantile: float,
    clip_sigma: float,
    test_fraction: float,
    test_seed: int,
) -> SplitData:
    readers = {"pythia": _load_pythia, "openml": _load_openml, "cernbox": _load_cernbox}
    if variant not in readers:
        raise ValueError(f"jsc has no variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    X, y, source = readers[variant]()
    X_tr, y_tr, X_va, y_va, X_te, y_te, state = split_and_scale(
        X,
        y,
        split_seed=split_seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        test_seed=test_seed,
        scaler=scaler,
        clip_quantile=clip_quantile,
        clip_sigma=clip_sigma,
    )
    return SplitData(
        name="jsc",
        variant=f"jsc-{variant}",
        X_train=X_tr,
        y_train=y_tr,
        X_val=X_va,
        y_val=y_va,
        X_test=X_te,
        y_test=y_te,
        n_classes=len(CLASSES),
        feature_names=list(FEATURES),
        class_names=list(CLASSES),
        meta={
            "source": source,
            "scaling": scaler,
            "scaler": state,
            "test_fraction": test_fraction,
            "test_seed": test_seed,
            "n_rows": len(y),
        },
    )


register_dataset(
    DatasetSpec(
        "jsc",
        load,
        {
            "variant": (str, "pythia"),
            "scaler": (str, "standard"),
            "clip_quantile": (float, 0.001),
            "clip_sigma": (float, 2.0),
            "test_fraction": (float, 0.2),
            "test_seed": (int, 42),
        },
        __doc__.splitlines()[0],
    )
)
