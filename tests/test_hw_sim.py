"""Bit-exact RTL simulation of a small trained LogicNets net on the whole digits test split, and the
localized mismatch error for a corrupted RTL table. Needs Icarus (and Verilator for one test): skipped
only when the tool is absent outside CI."""

import os
import re
import shutil

import numpy as np
import pytest

from lutsearch.hw import generate_rtl
from lutsearch.hw.sim import SimulationMismatch, verify


def need(tool):
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI (.ci/install_hw.sh)")
        pytest.skip(f"{tool} not installed")


@pytest.fixture(scope="module")
def trained():
    from lutsearch.data import load_dataset
    from lutsearch.models import build_model
    from lutsearch.train import TrainConfig, train_model

    data = load_dataset("digits", split_seed=0, val_fraction=0.15)
    params = {
        "widths": [24, 12],
        "input_bits": 1,
        "hidden_bits": 2,
        "output_bits": 3,
        "input_fan_in": 4,
        "fan_in": 3,
        "output_fan_in": 3,
    }
    model = build_model("logicnets", params, data.n_features, data.n_classes, seed=1)
    train_model(model, data, TrainConfig(epochs=1, batch_size=64, lr=1e-2), seed=1)
    net = model.to_tables()
    codes = model.input_codes(data.X_test)
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    return net, codes


@pytest.mark.parametrize("pipeline", [0, 1, 2])
def test_icarus_bit_exact_whole_test_split(trained, tmp_path, pipeline):
    need("iverilog")
    net, codes = trained
    design = generate_rtl(net, tmp_path / "rtl", pipeline=pipeline)
    res = verify(net, design, codes, simulator="icarus", workdir=tmp_path / "sim")
    assert res.n_samples == len(codes) == 360


def test_verilator_bit_exact(trained, tmp_path):
    need("verilator")
    net, codes = trained
    design = generate_rtl(net, tmp_path / "rtl", pipeline=1, module_per="neuron")
    res = verify(net, design, codes, simulator="verilator", workdir=tmp_path / "sim")
    assert res.simulator == "verilator" and res.n_samples == len(codes)


def test_corrupted_table_names_sample_layer_neuron(trained, tmp_path):
    need("iverilog")
    net, codes = trained
    design = generate_rtl(net, tmp_path / "rtl", pipeline=1)
    # flip one table entry of layer 1, neuron j at the address the first sample uses
    layer = net.layers[1]
    prev = net.evaluate_all(codes)[1]
    addr = layer.addresses(prev)
    j = int(np.flatnonzero(net.live_neurons()[1])[0])
    a = int(addr[0, j])
    bad = layer.tables[j].copy()
    bad[a] ^= 1
    path = tmp_path / "rtl" / "layer1.v"
    text = path.read_text()
    from lutsearch.hw.rtl import table_literals

    old, new = table_literals(layer.tables[j : j + 1], layer.out_bits)[0], table_literals(bad[None], layer.out_bits)[0]
    assert f"N{j}_T = " in text and old in text
    path.write_text(
        text.replace(
            f"N{j}_T = {len(layer.tables[j]) * layer.out_bits}'h{old}",
            f"N{j}_T = {len(layer.tables[j]) * layer.out_bits}'h{new}",
        )
    )
    with pytest.raises(SimulationMismatch) as err:
        verify(net, design, codes, simulator="icarus", workdir=tmp_path / "sim")
    msg = str(err.value)
    # the first sample may not reach an output through the flipped bit; whichever sample is named,
    # the localization must point at the corrupted neuron
    assert err.value.layer == 1 and err.value.neuron == j
    assert re.search(r"sample \d+", msg) and f"layer 1, neuron {j}" in msg


def test_broken_pipeline_wiring_is_reported(trained, tmp_path):
    need("iverilog")
    net, codes = trained
    design = generate_rtl(net, tmp_path / "rtl", pipeline=1)
    top = tmp_path / "rtl" / "lutnet.v"
    top.write_text(top.read_text().replace("assign out = r3;", "assign out = {r3[0], r3[29:1]};"))
    with pytest.raises(SimulationMismatch, match="pipeline registers or the top-level wiring"):
        verify(net, design, codes[:50], simulator="icarus", workdir=tmp_path / "sim")
