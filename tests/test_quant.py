"""Quantizer-to-code bridge: 1-bit activations, constant neurons, signed ranges."""

from __future__ import annotations

import numpy as np
import torch

from lutsearch.models import build_model
from lutsearch.models._quant import make_act_quant, make_input_quant, to_codes


def test_one_bit_constant_neuron_tabulates_exactly(digits):
    params = {"widths": [16, 8], "input_bits": 1, "hidden_bits": 1, "output_bits": 2, "input_fan_in": 4,
              "fan_in": 2, "output_fan_in": 3}
    model = build_model("logicnets", params, digits.n_features, digits.n_classes, seed=0)
    model.train()
    model(torch.from_numpy(digits.X_train[:256]))  # collect quantizer statistics
    with torch.no_grad():  # layer 0 collapses to a constant: every table entry of every neuron is equal
        model.layers[0].neuron.weight.zero_()
        model.layers[0].neuron.bias.zero_()
        model.layers[0].bn.reset_parameters()
        model.layers[0].bn.reset_running_stats()
    model.eval()
    network = model.to_tables()  # Brevitas' QuantTensor.int() refuses such a 1-bit tensor
    assert len(np.unique(network.layers[0].tables)) == 1
    codes = model.input_codes(digits.X_test)
    assert np.array_equal(model.predict_codes(codes), network.evaluate(codes))


def test_codes_match_brevitas_int_where_it_is_defined():
    torch.manual_seed(0)
    for bits, signed in ((2, False), (3, True), (4, False)):
        quant = make_act_quant(bits, signed)
        quant.train()
        quant(torch.randn(512, 8))
        quant.eval()
        x = torch.randn(64, 8, dtype=torch.float64)
        quant.return_quant_tensor = True
        expected = quant(x).int().to(torch.int64)
        quant.return_quant_tensor = False
        assert torch.equal(to_codes(quant, x), expected)
    inq = make_input_quant(1).eval()
    assert to_codes(inq, torch.zeros(3, 2, dtype=torch.float64)).eq(0).all()  # constant 1-bit input
