"""Shared test set-up: real data from ../shared/data, small thread counts, temporary run folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# The loaders read the real dataset copies beside the repository; nothing downloads in tests.
if "LUTSEARCH_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["LUTSEARCH_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    """sklearn's digits with a 15% validation split (shared by the family tests)."""
    from lutsearch.data import load_dataset

    return load_dataset("digits", split_seed=0, val_fraction=0.15)


@pytest.fixture
def repo() -> Path:
    return REPO
