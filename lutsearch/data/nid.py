"""Network intrusion detection (NID): UNSW-NB15 (Moustafa & Slay, MilCIS 2015), normal vs attack,
binarized the way LogicNets (Umuroglu et al., FPL 2020) and FINN's cybersecurity example feed it.

The binarization is Murovič & Trost's (the MATLAB script ``cybersecurity_dataset_unswb15.m`` of
their BNN intrusion-detection work; FINN's ``dataloader_quantized.py`` ports it, and its output is
the 593-bit ``unsw_nb15_binarized.npz`` on Zenodo record 4519767 that LogicNets trains on):

* the 42 feature columns in CSV order (``id``, ``attack_cat`` and the ``label`` target dropped);
* categorical ``proto``/``service``/``state`` -> integer codes 0..K-1 of the sorted categories;
* every column is multiplied by 1/m, m = its smallest positive value, when m < 1 (so the finest
  step becomes one unit), rounded half up, saturated to uint32;
* each column gets b = ceil(log2(max + 1)) bits (max of the scaled column), written MSB first.

Summed over the 42 columns of the official training + testing CSVs this gives the published 593
bits. Here the layout (scales, bit counts, categories) is fit on the **training rows only**
(``fit_on: train``); values beyond the training range saturate to all-ones, unseen categories get
code K (saturated likewise). ``fit_on: all`` fits on every row, as the published file does. The width
therefore depends on the fitting rows: on the testing CSV alone it is 575 bits, not 593. Not
reproduced: FINN's port patches 14 ``rate`` values by row index to match MATLAB's rounding.

Variants (tag ``nid-<variant>``):

* ``testpart`` (default, offline): only ``UNSW_NB15_testing-set.csv(.gz)`` (82,332 rows), split into
  our own stratified train/val/test by ``split_seed`` (``test_fraction``).
* ``official``: ``UNSW_NB15_training-set.csv`` (175,341 rows) for training/validation and
  ``UNSW_NB15_testing-set.csv`` as the test split, from ``unsw_nb15/`` in the data directory.
* ``zenodo``: the published 593-bit file itself (``unsw_nb15/unsw_nb15_binarized.npz``, arrays
  ``train``/``test``, label in the last column), downloaded from Zenodo. LogicNets validated on its
  test split; here validation is carved from the training rows.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lutsearch.data._base import DatasetSpec, SplitData, carve_validation, data_dir, fetch_file, register_dataset

FEATURES = [
    "dur",
    "proto",
    "service",
    "state",
    "spkts",
    "dpkts",
    "sbytes",
    "dbytes",
    "rate",
    "sttl",
    "dttl",
    "sload",
    "dload",
    "sloss",
    "dloss",
    "sinpkt",
    "dinpkt",
    "sjit",
    "djit",
    "swin",
    "stcpb",
    "dtcpb",
    "dwin",
    "tcprtt",
    "synack",
    "ackdat",
    "smean",
    "dmean",
    "trans_depth",
    "response_body_len",
    "ct_srv_src",
    "ct_state_ttl",
    "ct_dst_ltm",
    "ct_src_dport_ltm",
    "ct_dst_sport_ltm",
    "ct_dst_src_ltm",
    "is_ftp_login",
    "ct_ftp_cmd",
    "ct_flw_http_mthd",
    "ct_src_ltm",
    "ct_srv_dst",
    "is_sm_ips_ports",
]
CATEGORICAL = ("proto", "service", "state")
TARGET = "label"
CLASSES = ["normal", "attack"]
VARIANTS = ("testpart", "official", "zenodo")
UINT32_MAX = (1 << 32) - 1
PUBLISHED_BITS = 593

TEST_CSV = "UNSW_NB15_testing-set.csv"
TRAIN_CSV = "UNSW_NB15_training-set.csv"
TEST_CSV_GZ_SHA256 = "611e2b334b3980ce1a7208a5ca55f751472b9dc47b8382e19b6bf89701ca31f7"
# The dataset's home (https://research.unsw.edu.au/projects/unsw-nb15-dataset) links a SharePoint
# folder without stable file URLs; this is the historical direct location of the two CSVs.
_UNSW_BASE = (
    "https://www.unsw.adfa.edu.au/unsw-canberra-cyber/cybersecurity/ADFA-NB15-Datasets/"
    "a%20part%20of%20training%20and%20testing%20set/"
)
ZENODO_FILE = "unsw_nb15/unsw_nb15_binarized.npz"
ZENODO_URLS = ["https://zenodo.org/record/4519767/files/unsw_nb15_binarized.npz?download=1"]


# --------------------------------------------------------------------------- binarization
def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


class UnswBinarizer:
    """The Murovič–Trost bit layout, fit on the rows given to ``fit`` (see the module docstring)."""

    def fit(self, df: pd.DataFrame) -> UnswBinarizer:
        self.columns: dict[str, dict[str, Any]] = {}
        for col in FEATURES:
            entry: dict[str, Any] = {}
            if col in CATEGORICAL:
                entry["categories"] = sorted(str(v) for v in pd.unique(df[col]))
                values = np.arange(len(entry["categories"]), dtype=np.float64)
            else:
                values = df[col].to_numpy(np.float64)
            positive = values[values > 0]
            m = positive.min() if positive.size else 1.0
            entry["scale"] = 1.0 / m if 1.0 / m > 1 else 1.0
            top = float((values * entry["scale"]).max()) if values.size else 0.0
            entry["bits"] = max(1, math.ceil(math.log2(max(top, 0.0) + 1.0)))
            self.columns[col] = entry
        return self

    @property
    def n_bits(self) -> int:
        return sum(e["bits"] for e in self.columns.values())

    def feature_names(self) -> list[str]:
        return [f"{col}.b{b}" for col, e in self.columns.items() for b in range(e["bits"] - 1, -1, -1)]

    def column_codes(self, df: pd.DataFrame, col: str) -> np.ndarray:
        """Unsigned integer code of one column (before splitting into bits)."""
        e = self.columns[col]
        if col in CATEGORICAL:
            codes = pd.Categorical(df[col].astype(str), categories=e["categories"]).codes.astype(np.float64)
            values = np.where(codes < 0, len(e["categories"]), codes)  # unseen category -> K
        else:
            values = df[col].to_numpy(np.float64)
        codes = np.clip(_round_half_up(values * e["scale"]), 0, UINT32_MAX).astype(np.int64)
        return np.minimum(codes, (1 << e["bits"]) - 1)

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """(n, n_bits) array of 0/1 (uint8), columns MSB first, in ``FEATURES`` order."""
        missing = [c for c in FEATURES if c not in df.columns]
        if missing:
            raise ValueError(f"UNSW-NB15 frame lacks columns {missing}; has {list(df.columns)}")
        blocks = []
        for col, e in self.columns.items():  # 42 columns; each is one vectorized unpackbits
            big_endian = self.column_codes(df, col).astype(">u8").view(np.uint8).reshape(-1, 8)
            blocks.append(np.unpackbits(big_endian, axis=1)[:, 64 - e["bits"] :])
        return np.concatenate(blocks, axis=1)

    def state(self) -> dict[str, Any]:
        return {"kind": "unsw_binarizer", "n_bits": self.n_bits, "columns": self.columns}


# --------------------------------------------------------------------------- files
def read_unsw_csv(path: str | Path) -> pd.DataFrame:
    df = pd.read_csv(path, encoding="utf-8-sig")
    missing = [c for c in FEATURES + [TARGET] if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing UNSW-NB15 columns {missing}; has {list(df.columns)}")
    return df


def _csv_path(name: str, download: bool) -> Path:
    """The CSV (or .csv.gz) from the data directory or its ``unsw_nb15/`` folder, else downloaded."""
    root = data_dir()
    for candidate in (root / name, root / f"{name}.gz", root / "unsw_nb15" / name, root / "unsw_nb15" / f"{name}.gz"):
        if candidate.exists():
            if candidate.name == f"{TEST_CSV}.gz":
                fetch_file(str(candidate.relative_to(root)), [], TEST_CSV_GZ_SHA256)  # checksum only
            return candidate
    if not download:
        raise FileNotFoundError(
            f"{root / name}(.gz) is missing; place the UNSW-NB15 CSV there or set LUTSEARCH_DATA_DIR"
        )
    return fetch_file(f"unsw_nb15/{name}", [_UNSW_BASE + name])


def read_zenodo_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) from the published binarized file (label = last column)."""
    with np.load(path) as npz:
        if "train" not in npz or "test" not in npz:
            raise ValueError(f"{path}: expected arrays 'train' and 'test'; has {sorted(npz.files)}")
        train, test = npz["train"], npz["test"]
    if train.shape[1] != PUBLISHED_BITS + 1 or test.shape[1] != PUBLISHED_BITS + 1:
        raise ValueError(f"{path}: expected {PUBLISHED_BITS} bits + label, got {train.shape} / {test.shape}")
    return train[:, :-1], train[:, -1], test[:, :-1], test[:, -1]


# --------------------------------------------------------------------------- loader
def split_rows(df: pd.DataFrame, split_seed: int, val_fraction: float, test_fraction: float):
    """Stratified (by label) train/val/test row split; ``test_fraction`` 0 leaves the test part empty."""
    if test_fraction > 0:
        rest, test = train_test_split(df, test_size=test_fraction, random_state=split_seed, stratify=df[TARGET])
    else:
        rest, test = df, df.iloc[:0]
    train, val = train_test_split(rest, test_size=val_fraction, random_state=split_seed + 1, stratify=rest[TARGET])
    return train, val, test


def load(split_seed: int, val_fraction: float, variant: str, test_fraction: float, fit_on: str) -> SplitData:
    if variant not in VARIANTS:
        raise ValueError(f"nid has no variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    if fit_on not in ("train", "all"):
        raise ValueError(f"nid option fit_on must be 'train' or 'all', got {fit_on!r}")
    meta: dict[str, Any] = {"fit_on": fit_on}
    if variant == "zenodo":
        path = fetch_file(ZENODO_FILE, ZENODO_URLS)
        X_rest, y_rest, X_test, y_test = read_zenodo_npz(path)
        X_train, X_val, y_train, y_val = carve_validation(X_rest, y_rest, val_fraction, split_seed)
        names = [f"bit{i}" for i in range(X_train.shape[1])]
        meta.update(source=str(path), scaling="published 593-bit binarization", fit_on="all")
    else:
        if variant == "testpart":
            path = _csv_path(TEST_CSV, download=False)
            df = read_unsw_csv(path)
            train, val, test = split_rows(df, split_seed, val_fraction, test_fraction)
            meta.update(source=str(path), test_fraction=test_fraction)
        else:
            train_path, test_path = _csv_path(TRAIN_CSV, download=True), _csv_path(TEST_CSV, download=True)
            test = read_unsw_csv(test_path)
            train, val, _ = split_rows(read_unsw_csv(train_path), split_seed, val_fraction, 0.0)
            meta.update(source=f"{train_path} + {test_path}")
        binarizer = UnswBinarizer().fit(train if fit_on == "train" else pd.concat([train, val, test]))
        X_train, X_val, X_test = (binarizer.transform(part) for part in (train, val, test))
        y_train, y_val, y_test = (part[TARGET].to_numpy(np.int64, copy=True) for part in (train, val, test))
        names = binarizer.feature_names()
        meta.update(scaling="unsw binarization", scaler=binarizer.state(), n_bits=binarizer.n_bits)
    return SplitData(
        name="nid",
        variant=f"nid-{variant}",
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        n_classes=2,
        feature_names=names,
        class_names=list(CLASSES),
        meta=meta,
    )


register_dataset(
    DatasetSpec(
        "nid",
        load,
        {
            "variant": (str, "testpart"),
            "test_fraction": (float, 0.2),
            "fit_on": (str, "train"),
        },
        __doc__.splitlines()[0],
    )
)
