"""MNIST (LeCun, Cortes, Burges): 60,000 training and 10,000 test images of 28x28 = 784 pixels.

Reads ``mnist.npz`` (Keras layout: x_train, y_train, x_test, y_test, original idx order) from the
data directory (``$LUTSEARCH_DATA_DIR``), downloading the public Keras copy when it is absent.
The official test split is kept as the test split; validation is carved from the training images.
Pixels are scaled by the fixed range (x / 255).
"""

from __future__ import annotations

import numpy as np

from lutsearch.data._base import DatasetSpec, SplitData, carve_validation, fetch_file, register_dataset

SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
URLS = ["https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"]


def load(split_seed: int, val_fraction: float, train_subset: int) -> SplitData:
    path = fetch_file("mnist.npz", URLS, SHA256)
    with np.load(path) as npz:
        x_train, y_train = npz["x_train"], npz["y_train"]
        x_test, y_test = npz["x_test"], npz["y_test"]
    X = x_train.reshape(len(x_train), -1).astype(np.float32) / 255.0
    X_test = x_test.reshape(len(x_test), -1).astype(np.float32) / 255.0
    X_train, X_val, y_tr, y_val = carve_validation(X, y_train, val_fraction, split_seed)
    if train_subset:
        X_train, y_tr = X_train[:train_subset], y_tr[:train_subset]
    return SplitData(
        name="mnist",
        variant="mnist" if not train_subset else f"mnist-sub{train_subset}",
        X_train=X_train,
        y_train=y_tr,
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        n_classes=10,
        feature_names=[f"px{i}" for i in range(784)],
        class_names=[str(i) for i in range(10)],
        meta={"source": str(path), "scaling": "x/255", "train_subset": train_subset},
    )


register_dataset(DatasetSpec("mnist", load, {"train_subset": (int, 0)}, __doc__.splitlines()[0]))
