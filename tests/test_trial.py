"""One trial: determinism, bit-exactness of its tables, saved artifacts that rebuild the design."""

from __future__ import annotations

import json

import numpy as np
import torch

from lutsearch.trial import load_artifact, run_trial

CONFIG = {
    "family": "logicnets",
    "params": {
        "widths": [32, 16],
        "input_bits": 2,
        "hidden_bits": 2,
        "output_bits": 3,
        "input_fan_in": 4,
        "fan_in": 3,
        "output_fan_in": 4,
    },
    "train": {"epochs": 3, "batch_size": 64, "lr": 1e-2},
    "seed": 11,
    "dataset": {"name": "digits", "split_seed": 0, "val_fraction": 0.15, "options": {}},
    "objectives": [{"name": "accuracy"}, {"name": "luts"}, {"name": "depth"}],
    "constraints": [{"expr": "luts <= 1000", "metric": "luts"}],
}


def test_same_seed_and_params_same_validation_accuracy(tmp_path):
    a = run_trial(CONFIG, str(tmp_path / "a"))
    b = run_trial(CONFIG, str(tmp_path / "b"))
    assert a.status == b.status == "ok", (a, b)
    assert a.values == b.values
    assert a.user_attrs["val_acc"] == b.user_attrs["val_acc"]
    ta = load_artifact(tmp_path / "a").network
    tb = load_artifact(tmp_path / "b").network
    assert ta.fingerprint() == tb.fingerprint()
    run_trial({**CONFIG, "seed": 12}, str(tmp_path / "c"))
    assert load_artifact(tmp_path / "c").network.fingerprint() != ta.fingerprint()


def test_artifact_rebuilds_design_bit_exactly(tmp_path):
    result = run_trial(CONFIG, str(tmp_path / "t"))
    assert result.status == "ok"
    art = load_artifact(tmp_path / "t")
    assert art.config["n_inputs"] == 64 and art.config["n_classes"] == 10
    assert art.metrics["dataset_variant"] == "digits-sklearn" and art.metrics["bit_exact_val"]
    state = torch.load(tmp_path / "t" / "model.pt", weights_only=True)
    assert any(k.endswith("indices") for k in state)  # connectivity masks are saved
    model = art.build_model()
    data = art.load_data()
    codes = model.input_codes(data.X_test)
    assert np.array_equal(model.predict_codes(codes), art.network.evaluate(codes))
    assert float((art.network.predict(codes) == data.y_test).mean()) == art.metrics["test_acc"]
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert set(metrics["quantizer_scales"]) >= {"input", "layers.0.quant", "layers.2.quant"}
    assert result.constraint_metrics["luts <= 1000"] == result.values[1]


def test_training_failure_is_a_failed_result(tmp_path):
    bad = {**CONFIG, "params": {**CONFIG["params"], "fan_in": 99}}
    result = run_trial(bad, str(tmp_path / "bad"))
    assert result.status == "fail" and "fan-in 99 exceeds" in result.error
    assert (tmp_path / "bad" / "error.txt").is_file()
