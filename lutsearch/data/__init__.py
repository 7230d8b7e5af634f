"""Datasets: one loader module each, one pipeline for all. Adding a dataset = adding one file."""

from lutsearch._registry import discover
from lutsearch.data._base import (
    DATASETS,
    SCALERS,
    DatasetError,
    DatasetSpec,
    MinMaxScaler01,
    QuantileScaler01,
    SplitData,
    StandardScaler01,
    carve_validation,
    check_dataset,
    data_dir,
    dataset_names,
    fetch_file,
    get_dataset,
    load_dataset,
    make_scaler,
    register_dataset,
)

discover(__name__)

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
