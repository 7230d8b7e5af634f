"""Don't-care compression (lutsearch.hw.dontcare): the tables stay exact on every input the data contains
(random networks, wide tables, adder layers, trained models of several families), the support of every
output bit never grows, the counts are right on a hand-made network, Yosys maps the compressed design to
no more LUTs, and ``lutsearch export --dont-cares 1`` writes RTL that simulates bit-exactly on the test
split."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from lutsearch.hw.dontcare import address_counts, compress_dont_cares
from lutsearch.tables import AdderLayer, TableLayer, TruthTableNetwork


def _support(layer: TableLayer, n_in: int) -> np.ndarray:
    """(n_out, out_bits, n_in, in_bits): which bits of which input signals each output bit depends on
    (signals, not address positions: the compression may reorder a neuron's fan-in positions)."""
    bits = (layer.tables[:, None, :] >> np.arange(layer.out_bits)[None, :, None]) & 1
    dep = np.zeros((layer.n_out, layer.out_bits, n_in, layer.in_bits), dtype=bool)
    rows = np.arange(layer.n_out)
    for v in range(layer.address_bits):
        t = bits.reshape(layer.n_out, layer.out_bits, -1, 2, 1 << v)
        j, b = divmod(v, layer.in_bits)
        dep[rows, :, layer.indices[:, j], b] |= (t[:, :, :, 0] != t[:, :, :, 1]).any(axis=(2, 3))
    return dep


def _check(network: TruthTableNetwork, codes: np.ndarray, min_count: int = 1) -> TruthTableNetwork:
    """Compress; check exactness on ``codes`` (min_count=1), per-bit support, report consistency."""
    new, report = compress_dont_cares(network, codes, min_count=min_count)
    if min_count == 1:
        assert np.array_equal(new.evaluate(codes), network.evaluate(codes))
        assert report.rows_changed == 0
    widths = [network.n_inputs] + [layer.n_out for layer in network.layers]
    tables = [(a, b, n) for a, b, n in zip(network.layers, new.layers, widths) if isinstance(a, TableLayer)]
    for old, comp, n_in in tables:
        assert not (_support(comp, n_in) & ~_support(old, n_in)).any()  # support never grows, bit by bit
    assert report.support_after == sum(int(_support(c, n).sum()) for _, c, n in tables)
    assert report.support_after <= report.support_before
    assert report.entries == sum(o.tables.size for o, _, _ in tables)
    assert report.to_dict()["layers"][0]["layer"] == next(i for i, l in enumerate(network.layers) if l.kind == "table")
    return new


def _random_layer(rng, n_in, n_out, fan_in, in_bits, out_bits, in_signed=False, out_signed=False) -> TableLayer:
    idx = np.argsort(rng.random((n_out, n_in)), axis=1)[:, :fan_in]
    tables = rng.integers(0, 1 << out_bits, (n_out, 1 << (fan_in * in_bits)))
    return TableLayer(idx, tables, in_bits, out_bits, in_signed=in_signed, out_signed=out_signed)


def _skewed_codes(rng, n, n_inputs, bits) -> np.ndarray:
    """Correlated codes concentrated in the middle of the range: many table entries are never reached."""
    top = (1 << bits) - 1
    x = rng.normal(top / 2, top / 5, (n, 1)) + rng.normal(0, top / 8, (n, n_inputs))
    return np.clip(np.round(x), 0, top).astype(np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_networks_exact_on_data(seed):
    rng = np.random.default_rng(seed)
    narrow = TruthTableNetwork(
        12,
        2,
        [_random_layer(rng, 12, 16, 3, 2, 2), _random_layer(rng, 16, 8, 3, 2, 2), _random_layer(rng, 8, 4, 2, 2, 3)],
    )
    wide = TruthTableNetwork(  # 12 and 9 address bits: the cofactor sharing path
        8, 4, [_random_layer(rng, 8, 12, 3, 4, 3), _random_layer(rng, 12, 5, 3, 3, 3)]
    )
    adder = AdderLayer(rng.integers(0, 8, (3, 4)), rng.random((3, 4)) < 0.7, 3, 5, in_signed=True, out_signed=True)
    summed = TruthTableNetwork(  # table -> adder -> table
        10, 2, [_random_layer(rng, 10, 8, 3, 2, 3, out_signed=True), adder, _random_layer(rng, 3, 2, 2, 5, 2, True)]
    )
    for net, bits in ((narrow, 2), (wide, 4), (summed, 2)):
        codes = _skewed_codes(rng, 400, net.n_inputs, bits)
        new = _check(net, codes)
        _check(net, codes, min_count=3)
        held_out = _skewed_codes(rng, 200, net.n_inputs, bits)  # unseen rows may differ: never an error
        assert new.evaluate(held_out).shape == net.evaluate(held_out).shape


def test_hand_made_counts_and_compression():
    # layer 0: one neuron reading inputs (1, 0), 1-bit codes: address = in1 | in0 << 1
    xor = TableLayer(np.array([[1, 0]]), np.array([[0, 1, 1, 0]]), 1, 1)
    adder = AdderLayer(np.array([[0, 0]]), np.array([[True, False]]), 1, 2, in_signed=False, out_signed=False)
    last = TableLayer(np.array([[0]]), np.array([[1, 0, 0, 1]]), 2, 1)
    net = TruthTableNetwork(2, 1, [xor, adder, last])
    codes = np.array([[0, 0], [0, 0], [1, 0], [0, 1], [1, 0]])  # addresses 0, 0, 2, 1, 2
    counts = address_counts(net, codes)
    assert len(counts) == 2  # the adder layer has no table
    assert counts[0].tolist() == [[2, 1, 2, 0]]
    assert counts[1].tolist() == [[2, 3, 0, 0]]  # xor outputs 0, 0, 1, 1, 1 pass through the adder
    new, report = compress_dont_cares(net, codes)
    # entry 3 is free: xor = in0 ^ in1 on the care entries {0, 1, 2} -> OR; not a single bit, keeps both
    assert new.layers[0].tables.tolist() == [[0, 1, 1, 1]]
    # last layer: entries 2, 3 free -> its value depends on address bit 0 only: NOT(a0)
    assert new.layers[2].tables.tolist() == [[1, 0, 1, 0]]
    assert report.care_entries == 5 and report.entries == 8 and report.changed_entries == 3
    assert (report.support_before, report.support_after) == (4, 3)
    # min_count=2: entry 1 of layer 0 (seen once) is free as well -> the neuron reads in0 only
    new2, report2 = compress_dont_cares(net, codes, min_count=2)
    assert new2.layers[0].tables.tolist() == [[0, 0, 1, 1]]
    assert report2.rows_changed == 1 and report2.inputs_dropped == 1
    assert new2.layers[0].indices.tolist() == [[0, 0]]  # the unread position rewired to the one read
    with pytest.raises(ValueError, match="min_count"):
        compress_dont_cares(net, codes, min_count=0)


FAMILIES = {
    "logicnets": {"widths": [24], "input_bits": 2, "hidden_bits": 2, "output_bits": 3, "input_fan_in": 4},
    "neuralut": {"widths": [12], "input_bits": 2, "hidden_width": 8, "hidden_depth": 3, "input_fan_in": 4},
    "hgq": {"input_bits": 2, "widths": [6], "edge_hidden": 4, "edge_bits": 3, "output_bits": 4},
    "ensemble": {"input_bits": 2, "widths": [8], "members": 2, "member_family": "logicnets", "output_bits": 3},
}


@pytest.fixture(scope="module")
def trained(digits):
    """Small models of several families trained one epoch on digits: (family, network, input codes)."""
    from lutsearch.models import build_model
    from lutsearch.train import TrainConfig, train_model

    out = {}
    for family, params in FAMILIES.items():
        model = build_model(family, params, digits.n_features, digits.n_classes, 0)
        train_model(model, digits, TrainConfig(epochs=1, batch_size=128, lr=1e-2), seed=0)
        codes = {s: model.input_codes(getattr(digits, f"X_{s}")) for s in ("train", "val", "test")}
        out[family] = (model.to_tables(), codes)
    return out


@pytest.mark.parametrize("family", list(FAMILIES))
def test_trained_families_exact_on_training_data(trained, family):
    net, codes = trained[family]
    assert any(isinstance(l, AdderLayer) for l in net.layers) == (family in ("hgq", "ensemble"))
    new = _check(net, codes["train"])
    assert new.evaluate(codes["test"]).shape == net.evaluate(codes["test"]).shape  # unseen rows evaluate too
    _check(net, codes["train"], min_count=4)


def _have_yosys() -> bool:
    from lutsearch.hw.yosys import YosysNotFound, find_yosys

    try:
        find_yosys()
        return True
    except YosysNotFound:
        return False


def test_yosys_luts_do_not_grow(trained):
    if not _have_yosys():
        if os.environ.get("CI"):
            pytest.fail("Yosys is required in CI")
        pytest.skip("Yosys missing")
    from lutsearch.hw import synthesize

    net, codes = trained["logicnets"]
    new, report = compress_dont_cares(net, codes["train"])
    before = synthesize(net, mode="design", cache_dir=False, on_error="raise").luts
    after = synthesize(new, mode="design", cache_dir=False, on_error="raise").luts
    assert after <= before and report.support_after < report.support_before


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, digits):
    """A one-trial study of a small trained LogicNets digits design, as ``lutsearch run`` leaves it."""
    optuna = pytest.importorskip("optuna")
    import torch

    from lutsearch.models import build_model
    from lutsearch.train import TrainConfig, train_model

    root = tmp_path_factory.mktemp("runs") / "dc"
    art = root / "trials" / "0"
    art.mkdir(parents=True)
    params = {"widths": [16], "input_bits": 2, "hidden_bits": 2, "output_bits": 3, "input_fan_in": 3}
    model = build_model("logicnets", params, digits.n_features, digits.n_classes, 1)
    train_model(model, digits, TrainConfig(epochs=2, batch_size=64, lr=1e-2), seed=1)
    net = model.to_tables()
    dataset = {"name": "digits", "split_seed": 0, "val_fraction": 0.15, "options": {}}
    config = {"dataset": dataset, "family": "logicnets", "params": model.config["params"], "seed": 1}
    (art / "config.json").write_text(json.dumps({**config, "n_inputs": 64, "n_classes": 10}))
    torch.save(model.state_dict(), art / "model.pt")
    net.save(art / "tables.npz")
    val = float((net.predict(model.input_codes(digits.X_val)) == digits.y_val).mean())
    test = float((net.predict(model.input_codes(digits.X_test)) == digits.y_test).mean())
    (art / "metrics.json").write_text(json.dumps({"val_acc": val, "test_acc": test, "dataset_variant": "x"}))
    study = optuna.create_study(study_name="dc", storage=f"sqlite:///{root / 'study.db'}", directions=["maximize"])
    study.add_trial(optuna.trial.create_trial(values=[val], user_attrs={"artifact_dir": str(art)}))
    return root


def test_export_dont_cares_bit_exact_on_test(study_dir, tmp_path, digits):
    have_sim = shutil.which("iverilog") or shutil.which("verilator")
    if not (have_sim and _have_yosys()):
        if os.environ.get("CI"):
            pytest.fail("Yosys and a simulator are required in CI")
        pytest.skip("Yosys or simulator missing")
    from lutsearch.cli import main
    from lutsearch.hw.sim import read_vectors
    from lutsearch.trial import load_artifact

    out = tmp_path / "export"
    assert main(["export", str(study_dir), "--trial", "0", "--out", str(out), "--dont-cares", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    dc, ver = report["dont_cares"], report["verification"]
    assert ver["status"] == "passed" and ver["n_samples"] == len(digits.y_test)  # RTL == compressed network
    assert dc["min_count"] == 1 and dc["report"]["changed_entries"] > 0 and dc["report"]["rows_changed"] == 0
    assert dc["luts"]["after"] == report["hardware"]["luts"] <= dc["luts"]["before"]
    assert dc["accuracy"]["test"]["after"] == pytest.approx(report["accuracy"]["test_exact_from_tables"])
    assert dc["accuracy"]["val"]["before"] == pytest.approx(report["accuracy"]["val"])
    assert "don't-cares" in (out / "report.md").read_text()
    # the vectors the RTL was checked against are the compressed network's; the original agrees on train
    original = load_artifact(study_dir / "trials" / "0")
    model = original.build_model()
    compressed, _ = compress_dont_cares(original.network, model.input_codes(digits.X_train))
    test_codes = model.input_codes(digits.X_test)
    expected = read_vectors(out / "vectors" / "test_expected.hex", compressed.n_outputs, compressed.output_bits)
    assert np.array_equal(expected, compressed.evaluate(test_codes))


def test_dont_cares_as_an_option_of_a_cost_objective(tmp_path):
    """``{name: luts, options: {dont_cares: {min_count: 1}}}`` costs the compressed design and records
    the compression and the accuracies before and after; a bad value is a one-line space error."""
    import json as _json
    from pathlib import Path

    from helpers import small_space

    from lutsearch.search import RunOptions, run_study
    from lutsearch.space import SpaceError, load_space

    path = small_space(tmp_path, "dc_objective")
    text = path.read_text()
    path.write_text(
        text.replace(
            "objectives: [accuracy, luts, depth]",
            "objectives: [accuracy, {name: luts, via: analytic, options: {dont_cares: {min_count: 1}}}]",
        ).replace('constraints: ["luts <= 100000"]', 'constraints: [{expr: "luts <= 100000", via: analytic}]')
    )
    study = run_study(load_space(path), RunOptions(trials=1, runs_dir=tmp_path / "runs", executor="inprocess"))
    trial = study.handle.study.trials[0]
    metrics = _json.loads((Path(trial.user_attrs["artifact_dir"]) / "metrics.json").read_text())
    section = metrics["dont_cares"]["analytic"]
    assert section["min_count"] == 1 and section["report"]["min_count"] == 1
    assert set(section["val_acc"]) == {"before", "after"} and set(section["test_acc"]) == {"before", "after"}
    assert section["val_acc"]["before"] == metrics["val_acc"]
    plain = metrics["constraint_metrics"]["luts <= 100000"]  # the constraint costs the original design
    assert trial.values[1] <= plain
    path.write_text(
        text.replace(
            "objectives: [accuracy, luts, depth]",
            "objectives: [accuracy, {name: luts, options: {dont_cares: {min_count: 0}}}]",
        )
    )
    with pytest.raises(
        SpaceError, match=r"objectives\[1\]\.options\.dont_cares: .*allowed: \{min_count: <integer >= 1>\}$"
    ):
        load_space(path)
