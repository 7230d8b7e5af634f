"""Datasets: one loader module each, one pipeline for all. Adding a dataset = adding one file."""

import importlib
import pkgutil

from lutsearch.data._base import (
    DatasetSpec,
    SCALERS,
    MinMaxScaler01,
    QuantileScaler01,
    SplitData,
    StandardScaler01,
    carve_validation,
    data_dir,
    dataset_names,
    fetch_file,
    get_dataset,
    load_dataset,
    make_scaler,
    register_dataset,
)

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_mod}")

__all__ = [
    "SCALERS", "DatasetSpec", "MinMaxScaler01", "QuantileScaler01", "SplitData", "StandardScaler01", "make_scaler", "carve_validation", "data_dir", "dataset_names",
    "fetch_file", "get_dataset", "load_dataset", "register_dataset",
]
