"""export_design: picking from the feasible Pareto front, malformed requests, and a full export of a
small trained digits design (RTL + synthesis + bit-exact simulation on the whole test split)."""

import json
import os
import shutil

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

from lutsearch.export import ExportError, export_design

PARAMS = {
    "widths": [16],
    "input_bits": 1,
    "hidden_bits": 2,
    "output_bits": 3,
    "input_fan_in": 4,
    "fan_in": 3,
    "output_fan_in": 3,
}


def _artifact(path, seed, epochs):
    import torch

    from lutsearch.data import load_dataset
    from lutsearch.hw.estimate import network_luts as analytic_luts
    from lutsearch.models import build_model
    from lutsearch.train import TrainConfig, train_model

    dataset = {"name": "digits", "split_seed": 0, "val_fraction": 0.15, "options": {}}
    data = load_dataset("digits", split_seed=0, val_fraction=0.15)
    model = build_model("logicnets", PARAMS, data.n_features, data.n_classes, seed)
    if epochs:
        train_model(model, data, TrainConfig(epochs=epochs, batch_size=64, lr=1e-2), seed=seed)
    net = model.to_tables()
    path.mkdir(parents=True)
    config = {
        "space": "tiny",
        "dataset": dataset,
        "family": "logicnets",
        "params": model.config["params"],
        "train": {"epochs": epochs},
        "seed": seed,
        "n_inputs": data.n_features,
        "n_classes": data.n_classes,
    }
    (path / "config.json").write_text(json.dumps(config))
    torch.save(model.state_dict(), path / "model.pt")
    net.save(path / "tables.npz")
    val = float((net.predict(model.input_codes(data.X_val)) == data.y_val).mean())
    test = float((net.predict(model.input_codes(data.X_test)) == data.y_test).mean())
    (path / "metrics.json").write_text(json.dumps({"val_acc": val, "test_acc": test, "dataset_variant": data.variant}))
    return val, test, analytic_luts(net)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs") / "tiny"
    study = optuna.create_study(
        study_name="tiny", storage=f"sqlite:///{root.parent / 'tmp.db'}", directions=["maximize", "minimize"]
    )
    root.mkdir()
    shutil.move(str(root.parent / "tmp.db"), root / "study.db")
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{root / 'study.db'}")
    study.set_metric_names(["accuracy", "luts"])
    rows = []
    for number, (seed, epochs) in enumerate([(1, 1), (2, 0)]):
        art = root / "trials" / str(number)
        val, test, luts = _artifact(art, seed, epochs)
        rows.append((val, luts))
        study.add_trial(
            optuna.trial.create_trial(
                values=[val, luts], user_attrs={"artifact_dir": str(art), "val_acc": val, "test_acc": test}
            )
        )
    # a dominated trial (worse on both objectives) that is not on the front
    study.add_trial(
        optuna.trial.create_trial(values=[min(r[0] for r in rows) - 0.01, max(r[1] for r in rows) + 100], user_attrs={})
    )
    return root


def test_malformed_requests(study_dir, tmp_path):
    with pytest.raises(ExportError, match="no study database"):
        export_design(tmp_path / "nothing", tmp_path / "out")
    with pytest.raises(ExportError, match="not found"):
        export_design(study_dir, tmp_path / "out", study_name="other")
    with pytest.raises(ExportError, match=r"has no trial 99 \(trials 0\.\.2\)"):
        export_design(study_dir, tmp_path / "out", trial=99)
    # a complete trial off the front is exportable; this one has no artifact folder: a clear error
    with pytest.raises(ExportError, match="trial 2: no artifact folder with tables.npz"):
        export_design(study_dir, tmp_path / "out", trial=2)
    with pytest.raises(ExportError, match="no design on the feasible Pareto front has luts <= 1"):
        export_design(study_dir, tmp_path / "out", max_luts=1)
    with pytest.raises(ExportError, match="unknown pick"):
        export_design(study_dir, tmp_path / "out", pick="fastest")


def test_pick_rules(study_dir):
    from lutsearch.export import load_study, pick_trial

    study = load_study(study_dir, None, None)
    front = study.best_trials
    best_acc = max(front, key=lambda t: t.values[0]).number
    min_luts = min(front, key=lambda t: t.values[1]).number
    assert pick_trial(study, pick="max-accuracy")[0].number == best_acc
    assert pick_trial(study, pick="min-luts")[0].number == min_luts
    assert pick_trial(study, pick="knee")[0].number in {t.number for t in front}


def test_full_export_verifies_and_synthesizes(study_dir, tmp_path):
    have_sim = shutil.which("iverilog") or shutil.which("verilator")
    from lutsearch.hw.yosys import YosysNotFound, find_yosys

    try:
        find_yosys()
        have_yosys = True
    except YosysNotFound:
        have_yosys = False
    if not (have_sim and have_yosys):
        if os.environ.get("CI"):
            pytest.fail("Yosys and a simulator are required in CI (.ci/install_hw.sh)")
        pytest.skip("Yosys or simulator missing")
    out = tmp_path / "export"
    report = export_design(study_dir, out, pick="max-accuracy", pipeline=1)
    assert report["verification"]["status"] == "passed"
    assert report["verification"]["n_samples"] == report["accuracy"]["n_test"] == 360
    assert report["accuracy"]["test_exact_from_tables"] == pytest.approx(report["accuracy"]["test"])
    hw = report["hardware"]
    assert hw["luts"] > 0 and hw["ffs"] > 0 and hw["fmax_mhz"] > 0 and not hw["estimated"]
    assert hw["latency_ns"] == pytest.approx(hw["latency_cycles"] * hw["period_ns"])
    for f in (
        "rtl/lutnet.v",
        "rtl/layer0.v",
        "rtl/tb.v",
        "rtl/vivado_ooc.tcl",
        "tables/layer0.mem",
        "vectors/test_inputs.hex",
        "vectors/test_expected.hex",
        "synth/yosys.full.log",
        "report.md",
    ):
        assert (out / f).is_file(), f
    saved = json.loads((out / "report.json").read_text())
    assert saved["trial"] == report["trial"] and saved["config"]["family"] == "logicnets"
    assert "dataset variant | digits-sklearn" in (out / "report.md").read_text()
    assert np.isfinite(hw["period_ns"])
