"""scikit-learn's bundled 8x8 digits (1,797 images, 64 features, 10 classes): the offline demo.

There is no official split: a stratified test split (``test_fraction``) and a validation split are
carved with the space's split seed. Pixels 0..16 are scaled by the fixed range (x / 16).
"""

from __future__ import annotations

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from lutsearch.data._base import DatasetSpec, SplitData, carve_validation, register_dataset


def load(split_seed: int, val_fraction: float, test_fraction: float) -> SplitData:
    bunch = load_digits()
    X, y = bunch.data / 16.0, bunch.target
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=test_fraction, random_state=split_seed, stratify=y
    )
    X_train, X_val, y_train, y_val = carve_validation(X_rest, y_rest, val_fraction, split_seed + 1)
    return SplitData(
        name="digits",
        variant="digits-sklearn",
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        n_classes=10,
        feature_names=[f"px{i}" for i in range(64)],
        class_names=[str(i) for i in range(10)],
        meta={"source": "sklearn.datasets.load_digits", "scaling": "x/16", "test_fraction": test_fraction},
    )


register_dataset(DatasetSpec("digits", load, {"test_fraction": (float, 0.2)}, __doc__.splitlines()[0]))
