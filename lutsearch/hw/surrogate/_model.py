"""The surrogate's models (scikit-learn, imported lazily): an exact rule for units of <= 6 address bits,
gradient-boosted trees for wider ones, each predicting relative to a structural estimate of
``features`` (LUTs: the log ratio to min(LogicNets cost per distinct bit, shared mux-tree estimate);
depth: the offset from the random-table depth of the widest output support). See ``calibration``."""

from __future__ import annotations

from typing import Any

import numpy as np

from lutsearch.hw.surrogate.features import FEATURE_NAMES

__all__ = ["base_depth", "base_luts", "design_matrix", "exact_small", "fit_models", "predict_models"]

_F = {name: i for i, name in enumerate(FEATURE_NAMES)}
MIN_ROWS = 20  # fewer wide rows than this: the structural estimates themselves
# GradientBoostingRegressor, not HistGradientBoosting: as accurate here and 10x faster to predict on
# one design's few hundred units (no thread start-up); subsample < 1 is seeded, so fits are deterministic
_TREES = {
    "n_estimators": 300,
    "max_depth": 4,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "min_samples_leaf": 4,
    "random_state": 0,
}
_COUNTS = ("formula_luts", "mux_luts_bits", "mux_luts_shared", "mux_luts_fixed", "cofactors6", "support_sum")


def base_luts(x: np.ndarray) -> np.ndarray:
    """The structural LUT estimate: the smaller of the LogicNets cost per distinct bit at its support
    (exact for random and low-support bits) and the shared mux-tree count (structured tables). Per-unit
    error on 1,614 units of > 6 address bits: 13 % (formula alone 100 %, mux tree alone 22 %)."""
    return np.maximum(np.minimum(x[:, _F["formula_luts"]], x[:, _F["mux_luts_shared"]]), 1.0)


def base_depth(x: np.ndarray) -> np.ndarray:
    """The random-table depth of the widest output support (94 % of units exact; measured)."""
    return np.maximum(x[:, _F["depth_random"]], 1.0)


def design_matrix(x: np.ndarray) -> np.ndarray:
    """Model inputs: the features (counts as log2(1 + n)), the estimates' ratios and log2 of the base."""
    out = x.copy()
    idx = [_F[n] for n in _COUNTS]
    out[:, idx] = np.log2(1.0 + x[:, idx])
    shared = 1.0 + x[:, _F["mux_luts_shared"]]
    ratios = [(1.0 + x[:, _F[n]]) / shared for n in ("formula_luts", "mux_luts_bits", "mux_luts_fixed", "cofactors6")]
    return np.column_stack([out, *ratios, np.log2(base_luts(x))])


def exact_small(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Units of <= 6 address bits: one LUT per distinct output-bit function that is not a wire (an
    inverter is a LUT1), depth 1 (0 when every bit is a wire). Exact on all 1,494 such units measured."""
    luts = x[:, _F["distinct_bits"]].astype(np.float64)
    return luts, (luts > 0).astype(np.int64)


def fit_models(x: np.ndarray, luts: np.ndarray, depth: np.ndarray) -> dict[str, Any]:
    """Fit on calibration arrays; the rows of > 6 address bits train the trees (deterministic)."""
    from sklearn.ensemble import GradientBoostingRegressor

    wide = x[:, _F["address_bits"]] > 6
    if wide.sum() < MIN_ROWS:
        return {"luts": None, "depth": None}
    xw, m = x[wide], design_matrix(x[wide])
    lut_model = GradientBoostingRegressor(**_TREES).fit(m, np.log(np.maximum(luts[wide], 1.0) / base_luts(xw)))
    depth_model = GradientBoostingRegressor(**_TREES).fit(m, depth[wide] - base_depth(xw))
    return {"luts": lut_model, "depth": depth_model}


def predict_models(models: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(LUTs, depth) per unit: the exact rule up to 6 address bits, the fitted models above."""
    luts, depth = exact_small(x)
    wide = x[:, _F["address_bits"]] > 6
    if wide.any():
        xw = x[wide]
        if models.get("luts") is None:
            luts[wide], depth[wide] = base_luts(xw), base_depth(xw).astype(np.int64)
        else:
            m = design_matrix(xw)
            luts[wide] = np.maximum(base_luts(xw) * np.exp(models["luts"].predict(m)), 1.0)
            depth[wide] = np.maximum(np.rint(base_depth(xw) + models["depth"].predict(m)), 1).astype(np.int64)
    return luts, depth
