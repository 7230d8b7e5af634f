"""Dataset contract, registry, data directory and the shared split/scaling helpers.

Every loader returns a ``SplitData``: float32 features already scaled into [0, 1] by a scaler fit on
the *training split only* and clamped explicitly (so the model's fixed-range input quantizer gives
the hardware exactly the codes it saw in training), int64 labels, and a ``variant`` tag that names
the exact data source (e.g. ``jsc-openml``, ``jsc-pythia``, ``nid-testpart``). The validation split
is held out of training and drives model selection and the search objective; the test split is
only reported.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from lutsearch._hashing import sha256_file
from lutsearch._registry import Registry

__all__ = [
    "DATASETS",
    "SCALERS",
    "DatasetError",
    "DatasetSpec",
    "MinMaxScaler01",
    "QuantileScaler01",
    "SplitData",
    "StandardScaler01",
    "carve_validation",
    "check_dataset",
    "data_dir",
    "dataset_names",
    "fetch_file",
    "get_dataset",
    "load_dataset",
    "make_scaler",
    "register_dataset",
]


@dataclasses.dataclass
class SplitData:
    name: str
    variant: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    feature_names: list[str] = dataclasses.field(default_factory=list)
    class_names: list[str] = dataclasses.field(default_factory=list)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            X = np.ascontiguousarray(getattr(self, f"X_{split}"), dtype=np.float32)
            y = np.ascontiguousarray(getattr(self, f"y_{split}"), dtype=np.int64)
            if X.ndim != 2 or len(X) != len(y):
                raise ValueError(f"dataset {self.name}: {split} split has X {X.shape} and y {y.shape}")
            if X.size and (X.min() < 0.0 or X.max() > 1.0):
                raise ValueError(f"dataset {self.name}: {split} features must be scaled into [0, 1]")
            setattr(self, f"X_{split}", X)
            setattr(self, f"y_{split}", y)

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "variant": self.variant,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            **{k: v for k, v in self.meta.items() if isinstance(v, (str, int, float, bool))},
        }


class DatasetError(ValueError):
    """A dataset option or data file a loader cannot use, in one line naming the file, the column or value
    at fault and what is allowed. ``option``: the dataset option at fault (e.g. ``target``; '' when none),
    so a caller can name its key in the space file (``dataset.options.<option>``)."""

    def __init__(self, message: str, option: str = "") -> None:
        super().__init__(message)
        self.option = option


Loader = Callable[..., SplitData]
Checker = Callable[..., None]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A loader and the options a space may pass to it (name -> (type, default)).

    ``check``: optional, called like the loader (without the split arguments) to find the mistakes that
    reading the data file's header and first rows shows, without loading it all (``lutsearch validate``);
    raises ``DatasetError``."""

    name: str
    loader: Loader
    options: dict[str, tuple[type, Any]]
    doc: str = ""
    check: Checker | None = None


DATASETS: Registry[DatasetSpec] = Registry("dataset", package="lutsearch.data", group="lutsearch.datasets")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    return DATASETS.register(spec.name, spec)


def dataset_names() -> list[str]:
    return DATASETS.names()


def get_dataset(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def _full_options(spec: DatasetSpec, val_fraction: float, options: dict[str, Any]) -> dict[str, Any]:
    """Every option of ``spec``: the given ones, checked, and the defaults."""
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        allowed = ", ".join(sorted(spec.options)) or "none"
        raise DatasetError(f"dataset {spec.name!r} has no option {unknown[0]!r}; allowed: {allowed}", unknown[0])
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be in (0, 1), got {val_fraction}")
    return {k: options.get(k, default) for k, (_, default) in spec.options.items()}


def check_dataset(name: str, split_seed: int = 0, val_fraction: float = 0.1, **options: Any) -> None:
    """The mistakes the dataset's ``check`` finds without loading the data (nothing for datasets without
    one); raises ``DatasetError``. Takes what ``load_dataset`` takes (``split_seed`` is not needed)."""
    spec = get_dataset(name)
    full = _full_options(spec, val_fraction, options)
    if spec.check is not None:
        spec.check(**full)


def load_dataset(name: str, split_seed: int = 0, val_fraction: float = 0.1, **options: Any) -> SplitData:
    spec = get_dataset(name)
    full = _full_options(spec, val_fraction, options)
    data = spec.loader(split_seed=int(split_seed), val_fraction=float(val_fraction), **full)
    data.meta.setdefault("split_seed", int(split_seed))
    data.meta.setdefault("val_fraction", float(val_fraction))
    return data


def data_dir() -> Path:
    """``$LUTSEARCH_DATA_DIR`` if set, else ``~/.cache/lutsearch/data``."""
    env = os.environ.get("LUTSEARCH_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lutsearch" / "data"


def fetch_file(relpath: str, urls: list[str], sha256: str | None = None) -> Path:
    """Path of ``relpath`` under the data directory, downloading it from ``urls`` if absent.

    A present file is used as is when its checksum matches (or none is known). Downloads go to a
    temporary file first, so an interrupted download never leaves a truncated cache entry.
    """
    path = data_dir() / relpath
    if path.exists():
        if sha256 and sha256_file(path) != sha256:
            raise ValueError(f"{path}: checksum mismatch (expected sha256 {sha256}); delete it to re-download")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        try:
            with (
                urllib.request.urlopen(url, timeout=60) as resp,
                tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp,
            ):
                shutil.copyfileobj(resp, tmp)
            tmp_path = Path(tmp.name)
            if sha256 and sha256_file(tmp_path) != sha256:
                tmp_path.unlink()
                errors.append(f"{url}: checksum mismatch")
                continue
            tmp_path.replace(path)
            return path
        except OSError as exc:  # network errors, HTTP errors
            errors.append(f"{url}: {exc}")
    raise FileNotFoundError(
        f"{path} is missing and could not be downloaded ({'; '.join(errors)}); "
        f"place the file there or set LUTSEARCH_DATA_DIR"
    )


class MinMaxScaler01:
    """Per-feature min-max scaling into [0, 1], fit on training data, with explicit clamping.

    Optional quantile clipping (``clip_quantile`` = q keeps [q, 1-q]) makes heavy-tailed features
    use the few input codes well. The fitted ``low``/``high`` are saved with every design.
    """

    def __init__(self, clip_quantile: float = 0.0) -> None:
        self.clip_quantile = float(clip_quantile)

    def fit(self, X: np.ndarray) -> MinMaxScaler01:
        X = np.asarray(X, dtype=np.float64)
        if self.clip_quantile > 0:
            self.low, self.high = np.quantile(X, [self.clip_quantile, 1 - self.clip_quantile], axis=0)
        else:
            self.low, self.high = X.min(0), X.max(0)
        self.span = np.where(self.high > self.low, self.high - self.low, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(X, dtype=np.float64) - self.low) / self.span, 0.0, 1.0).astype(np.float32)

    def state(self) -> dict[str, Any]:
        return {
            "kind": "minmax01",
            "clip_quantile": self.clip_quantile,
            "low": self.low.tolist(),
            "high": self.high.tolist(),
        }


class StandardScaler01:
    """Standardize (scikit-learn ``StandardScaler``, fit on training data), clip to
    [-clip_sigma, +clip_sigma] standard deviations, and map that range linearly onto [0, 1].

    This is LogicNets' JSC preprocessing (a standard scaler) followed by the fixed range our input
    quantizer needs; 0.5 is the training mean of every feature.
    """

    def __init__(self, clip_sigma: float = 3.0) -> None:
        if clip_sigma <= 0:
            raise ValueError(f"clip_sigma must be > 0, got {clip_sigma}")
        self.clip_sigma = float(clip_sigma)

    def fit(self, X: np.ndarray) -> StandardScaler01:
        from sklearn.preprocessing import StandardScaler

        self._sk = StandardScaler().fit(np.asarray(X, dtype=np.float64))
        self.mean, self.scale = self._sk.mean_, self._sk.scale_
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        z = self._sk.transform(np.asarray(X, dtype=np.float64))
        return np.clip((z + self.clip_sigma) / (2 * self.clip_sigma), 0.0, 1.0).astype(np.float32)

    def state(self) -> dict[str, Any]:
        return {
            "kind": "standard01",
            "clip_sigma": self.clip_sigma,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
        }


class QuantileScaler01:
    """Per-feature empirical CDF of the training data (scikit-learn ``QuantileTransformer``,
    uniform output): a fixed-range b-bit input quantizer then sees (roughly) equal-population bins.
    """

    def __init__(self, n_quantiles: int = 1000, seed: int = 0) -> None:
        self.n_quantiles, self.seed = int(n_quantiles), int(seed)

    def fit(self, X: np.ndarray) -> QuantileScaler01:
        from sklearn.preprocessing import QuantileTransformer

        X = np.asarray(X, dtype=np.float64)
        self._sk = QuantileTransformer(
            n_quantiles=min(self.n_quantiles, len(X)),
            output_distribution="uniform",
            subsample=200_000,
            random_state=self.seed,
        ).fit(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        u = self._sk.transform(np.asarray(X, dtype=np.float64))
        return np.clip(u, 0.0, 1.0).astype(np.float32)

    def state(self) -> dict[str, Any]:
        return {
            "kind": "quantile01",
            "n_quantiles": int(self._sk.n_quantiles_),
            "quantiles": self._sk.quantiles_.T.tolist(),
        }


SCALERS = ("standard", "minmax", "quantile")


def make_scaler(name: str, clip_quantile: float = 0.0, clip_sigma: float = 3.0):
    """A fresh scaler into [0, 1] by name: ``standard`` (``StandardScaler01``), ``minmax``
    (``MinMaxScaler01`` with ``clip_quantile``) or ``quantile`` (``QuantileScaler01``)."""
    if name == "standard":
        return StandardScaler01(clip_sigma)
    if name == "minmax":
        return MinMaxScaler01(clip_quantile)
    if name == "quantile":
        return QuantileScaler01()
    raise ValueError(f"unknown scaler {name!r}; allowed: {', '.join(SCALERS)}")


def carve_validation(X: np.ndarray, y: np.ndarray, val_fraction: float, seed: int):
    """Stratified hold-out of ``val_fraction`` of (X, y) as the validation split."""
    return train_test_split(X, y, test_size=val_fraction, random_state=seed, stratify=y)
