"""Quantizer-to-code bridge: 1-bit activations, constant neurons, signed ranges."""

from __future__ import annotations

import numpy as np
import torch

from lutsearch.models import build_model
from lutsearch.models._quant import (
    _learned_scale_constants,
    _pass_band,
    make_act_quant,
    make_input_quant,
    quantize_with_codes,
    to_codes,
)


def test_one_bit_constant_neuron_tabulates_exactly(digits):
    params = {
        "widths": [16, 8],
        "input_bits": 1,
        "hidden_bits": 1,
        "output_bits": 2,
        "input_fan_in": 4,
        "fan_in": 2,
        "output_fan_in": 3,
    }
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


def _past_statistics_phase(quant, x):
    """Run the statistics steps, then the step that turns the collected statistic into the learned scale."""
    scaling = quant.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl
    for _ in range(scaling.collect_stats_steps + 1):
        quant(x)
    assert scaling.counter > scaling.collect_stats_steps
    return scaling


def test_fused_training_step_matches_brevitas_values_and_gradients():
    torch.manual_seed(1)
    for bits, signed in ((1, False), (2, True), (3, True), (5, False)):
        quant = make_act_quant(bits, signed)
        quant.train()
        scaling = _past_statistics_phase(quant, torch.randn(256, 16) * 2)
        with torch.no_grad():  # make clipping happen at both ends
            scaling.value.mul_(0.6)
        x = (torch.randn(512, 16) * 3).requires_grad_()
        grad = torch.randn(512, 16)
        results = []
        for fused in (True, False):
            quant.fused = fused
            x.grad, scaling.value.grad = None, None
            y = quant(x)
            assert (y.grad_fn.name() == "_LearnedScaleQuantBackward") == fused
            y.backward(grad)
            results.append((y.detach().clone(), x.grad.clone(), scaling.value.grad.clone()))
        (y_f, gx_f, gv_f), (y_b, gx_b, gv_b) = results
        assert torch.equal(y_f, y_b), (bits, signed)  # forward values are bit-identical
        assert torch.allclose(gx_f, gx_b, rtol=1e-6, atol=1e-7), (bits, signed)
        assert ((gx_f == 0) == (gx_b == 0)).all(), (bits, signed)  # the same elements pass gradient
        assert torch.allclose(gv_f, gv_b, rtol=1e-4, atol=1e-5), (bits, signed, gv_f, gv_b)
        assert int((gx_f == 0).sum()) > 0 and int((gx_f != 0).sum()) > 0


def test_pass_band_is_exact_at_rounding_boundaries():
    """The open z-interval that passes gradient equals "round(z) in [lo, hi]" (and z > 0 after a ReLU)
    on every half-integer boundary and its neighbouring floats, in float32 and float64."""
    for dtype in (torch.float32, torch.float64):
        for lo, hi, relu in (
            (0.0, 1.0, True),
            (0.0, 7.0, True),
            (0.0, 31.0, True),
            (-2.0, 1.0, False),
            (-16.0, 15.0, False),
            (-3.0, 3.0, False),
            (-4.0, 4.0, False),
            (0.0, 6.0, True),
        ):
            below, above = _pass_band(lo, hi, relu, dtype)
            edges = torch.arange(lo - 2.0, hi + 2.5, 0.5, dtype=dtype)
            z = torch.cat(
                [
                    edges,
                    torch.nextafter(edges, edges - 1),
                    torch.nextafter(edges, edges + 1),
                    torch.tensor([0.0, -0.0], dtype=dtype),
                ]
            )
            rounded = torch.round(z)
            expected = (rounded >= lo) & (rounded <= hi) & ((z > 0) if relu else True)
            assert torch.equal((z > below) & (z < above), expected), (dtype, lo, hi, relu)


def test_fused_step_gradient_mask_matches_brevitas_on_boundaries():
    """Inputs placed on code boundaries (z = k/2 exactly) pass gradient exactly where Brevitas does."""
    for bits, signed in ((2, False), (3, True), (4, False)):
        quant = make_act_quant(bits, signed)
        quant.train()
        scaling = _past_statistics_phase(quant, torch.randn(256, 8))
        _, threshold, min_val, *_ = _learned_scale_constants(quant)
        with torch.no_grad():
            scaling.value.fill_(threshold / 4)  # scale 1/4: x / s is exact
        scale = float(scaling.value.detach().abs().clamp_min(min_val) / threshold)
        half_steps = torch.arange(-(2**bits) - 2, 2**bits + 3, dtype=torch.float32) / 2
        x = (half_steps * scale).repeat(8, 1).requires_grad_()
        grads = []
        for fused in (True, False):
            quant.fused = fused
            x.grad = None
            quant(x).backward(torch.ones_like(x))
            grads.append(x.grad.clone())
        assert torch.equal(grads[0] != 0, grads[1] != 0), (bits, signed)
        assert torch.equal(grads[0], grads[1])
        z = x.detach() / scale
        assert torch.equal(z, half_steps.repeat(8, 1))  # the boundaries really are hit


def test_fused_step_only_after_statistics_phase_and_in_training():
    quant = make_act_quant(3, False)
    quant.train()
    x = torch.randn(64, 4, requires_grad=True)
    assert quant(x).grad_fn.name() != "_LearnedScaleQuantBackward"  # statistics phase: Brevitas
    _past_statistics_phase(quant, x.detach())
    assert quant(x).grad_fn.name() == "_LearnedScaleQuantBackward"
    quant.eval()
    assert quant(x).grad_fn.name() != "_LearnedScaleQuantBackward"
    assert to_codes(quant, x.detach()).dtype == torch.int64  # the code bridge still goes through Brevitas


def test_fused_codes_bridge_matches_brevitas():
    torch.manual_seed(2)
    for bits, signed in ((1, False), (3, True), (4, False)):
        quant = make_act_quant(bits, signed)
        quant.train()
        _past_statistics_phase(quant, torch.randn(256, 16))
        x = torch.randn(300, 16) * 2
        value, codes, scale = quantize_with_codes(quant, x)
        assert value.grad_fn is None or value.grad_fn.name() == "_LearnedScaleQuantBackward"
        quant.fused = False
        ref_value, ref_codes, ref_scale = quantize_with_codes(quant, x)
        assert torch.equal(value, ref_value) and torch.equal(codes, ref_codes) and torch.equal(scale, ref_scale)


def test_input_quantizer_training_shortcut_matches_brevitas():
    x = torch.rand(4096, 3) * 1.4 - 0.2  # includes values clipped at both ends
    for bits in range(1, 9):
        quant = make_input_quant(bits)
        quant.train()
        fast = quant(x)
        quant.return_quant_tensor = True  # Brevitas' own path
        assert torch.equal(fast, quant(x).value), bits
        quant.return_quant_tensor = False
