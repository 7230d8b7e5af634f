"""NeuraLUT-Assemble: tree plan, exact tables, tree skips, learned grouping (tiny nets on digits)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from lutsearch.data import load_dataset
from lutsearch.models import _quant, build_model, family_plan
from lutsearch.models.nla import DenseGroupingNet, support_flags
from lutsearch.train import TrainConfig, TrainContext, train_model
from lutsearch.train._loop import _tensors

# jsc-openml as published (MartaAndronic/NeuraLUT @650c4f4, datasets/jet_substructure_openml/train.py)
JSC_OPENML = dict(
    widths=[320, 160, 80, 40, 20, 10],
    support_layers=[0, 1, 1, 1, 1, 1, 1],
    input_bits=6,
    hidden_bits=3,
    output_bits=8,
    support_bits=3,
    input_fan_in=1,
    fan_in=2,
    output_fan_in=2,
    support_fan_in=2,
    neuron_width=64,
)

TINY = dict(
    widths=[24, 12, 16, 8],
    tree_depth=2,
    input_fan_in=2,
    fan_in=2,
    support_fan_in=2,
    output_fan_in=2,
    input_bits=2,
    hidden_bits=2,
    support_bits=2,
    output_bits=3,
    neuron_width=8,
    prelude_epochs=1,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split_seed=0)


def test_support_flags_and_published_plan():
    assert support_flags({"tree_depth": 7}, 7) == [0, 1, 1, 1, 1, 1, 1]
    assert support_flags({"tree_depth": 2}, 5) == [0, 0, 1, 0, 1]
    assert support_flags({"support_layers": [0, 1, 0, 1, 1, 1]}, 6) == [0, 1, 0, 1, 1, 1]
    with pytest.raises(ValueError):
        support_flags({"support_layers": [1, 0]}, 2)
    plans = family_plan("nla", build_model("nla", JSC_OPENML, 16, 5, 0).config["params"], 16, 5)
    assert [p.fan_in for p in plans] == [1, 2, 2, 2, 2, 2, 2]
    assert [p.n_out for p in plans] == [320, 160, 80, 40, 20, 10, 5]
    assert [(p.in_bits, p.in_signed) for p in plans] == [(6, False)] + [(3, True)] * 6
    assert [(p.out_bits, p.out_signed) for p in plans][-1] == (8, True)
    assert max(p.address_bits for p in plans) == 6
    # per-level fan-ins: level k of every tree uses level_fan_ins[k-1]
    p = build_model("nla", dict(TINY, level_fan_ins=[3]), 64, 10, 0).config["params"]
    assert [q.fan_in for q in family_plan("nla", p, 64, 10)] == [2, 2, 3, 2, 3]


def test_forward_backward_shapes():
    model = build_model("nla", dict(JSC_OPENML, prelude_epochs=0), 16, 5, 0)
    x = torch.rand(32, 16)
    out = model(x)
    assert out.shape == (32, 5)
    out.sum().backward()
    assert all(p.grad is not None for p in model.layers[0].neuron.parameters())
    assert model.to_tables().layers[0].tables.shape == (320, 64)


def test_tables_exact_and_reload(digits, tmp_path):
    model = build_model("nla", TINY, 64, 10, 0)
    before = [l.indices.clone() for l in model.layers]
    train_model(model, digits, TrainConfig(epochs=1, batch_size=128), seed=0)
    assert any(not torch.equal(b, l.indices) for b, l in zip(before, model.layers))  # grouping rewired
    codes = model.input_codes(digits.X_test)
    net = model.to_tables()
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    for layer in net.layers:  # tree wiring: F distinct children per node
        assert all(len(set(row)) == len(row) for row in layer.indices.tolist())
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    again = build_model("nla", TINY, 64, 10, 0)
    again.load_state_dict(torch.load(buf))
    assert np.array_equal(again.predict_codes(codes), model.predict_codes(codes))
    assert again.to_tables().fingerprint() == net.fingerprint()


def test_deeper_node_network_is_exact(digits):
    params = dict(TINY, neuron_depth=3, prelude_epochs=0)
    model = build_model("nla", params, 64, 10, 1)
    train_model(model, digits, TrainConfig(epochs=1, batch_size=128), seed=1)
    codes = model.input_codes(digits.X_test)
    assert np.array_equal(model.predict_codes(codes), model.to_tables().evaluate(codes))


def _leaf_grad(skip: bool) -> torch.Tensor:
    model = build_model("nla", dict(TINY, skip=skip, prelude_epochs=0), 64, 10, 3)
    root = model.layers[1].neuron  # a support level: tree nodes above the leaves of layer 0
    with torch.no_grad():
        root.weights[-1].zero_()  # the node's MLP path carries nothing: only the skip can
    torch.manual_seed(0)
    x, y = torch.rand(64, 64), torch.randint(0, 10, (64,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return torch.cat([p.grad.flatten() for p in model.layers[0].neuron.parameters()])


def test_tree_skip_feeds_gradient_to_lower_level():
    assert _leaf_grad(skip=False).abs().max() == 0  # ablation: no skip, no gradient below
    assert _leaf_grad(skip=True).abs().max() > 0


def test_skip_changes_training(digits):
    losses = []
    for skip in (True, False):
        model = build_model("nla", dict(TINY, skip=skip, prelude_epochs=0), 64, 10, 5)
        result = train_model(model, digits, TrainConfig(epochs=1, batch_size=128), seed=5)
        losses.append(result.history[0]["loss"])
    assert losses[0] != losses[1]


def test_grouping_regularizer_changes_choice(digits):
    params = build_model("nla", TINY, 64, 10, 0).config["params"]
    plans = family_plan("nla", params, 64, 10)
    ctx = TrainContext(data=digits, cfg=TrainConfig(epochs=1, batch_size=128), seed=0, tensors=_tensors(digits, "cpu"))
    chosen, norms = [], []
    for lam1, lam2 in ((0.0, 0.07), (0.05, 1.0)):
        torch.manual_seed(0)
        dense = DenseGroupingNet(plans, dict(params, group_lambda1=lam1, group_lambda2=lam2))
        ctx.fit(dense, 2, extra_loss=dense.group_regularizer)
        chosen.append(dense.grouping([p.fan_in for p in plans]))
        norms.append(float(torch.cat([lv.group_norms() for lv in dense.levels]).mean()))
    assert norms[1] < norms[0]  # the exponential group penalty shrinks row norms
    assert any(not torch.equal(a, b) for a, b in zip(*chosen))  # and so changes the chosen inputs


@pytest.mark.parametrize("steady_state", [False, True])
def test_table_training_matches_direct_gradients(steady_state, monkeypatch):
    """Training through enumerated node tables gives the sub-network path's values and gradients, in
    Brevitas' statistics phase and after it (fused quantizer step)."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(256, 64, generator=gen), torch.randint(0, 10, (256,), generator=gen)
    if steady_state:
        monkeypatch.setattr(_quant, "STATS_STEPS", 1)
    outs, grads = [], []
    for table in (True, False):
        model = build_model("nla", dict(TINY, prelude_epochs=0, table_training=table), 64, 10, 7)
        model.train()
        if steady_state:
            with torch.no_grad():  # the statistics step, then the step that sets the learned scales
                model(x), model(x)
        out = model(x)
        torch.nn.functional.cross_entropy(out, y).backward()
        outs.append(out.detach())
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    assert grads[0].keys() == grads[1].keys()
    for name, g in grads[1].items():
        if g.abs().max() > 1e-4:  # skip biases feeding batch-norm: their true gradient is 0 (noise)
            assert float((grads[0][name] - g).norm() / g.norm()) < 1e-3, name  # float32 summation order


def test_prelude_precision_choice(digits):
    from lutsearch.models.nla import prelude_precision

    assert prelude_precision("float32", "cpu") == "float32"
    assert prelude_precision("auto", "cpu") in ("float32", "bfloat16")
    with pytest.raises(ValueError, match="prelude_precision must be one of auto, float32, bfloat16"):
        prelude_precision("fp8", "cpu")
    # The bfloat16 grouping phase trains and wires every level with F distinct inputs.
    model = build_model(
        "nla", dict(TINY, prelude_epochs=1, prelude_precision="bfloat16"), digits.n_features, digits.n_classes, 3
    )
    train_model(model, digits, TrainConfig(epochs=1, batch_size=64, lr=1e-2), seed=3)
    assert model.grouping_history["precision"] == "bfloat16"
    for layer in model.layers:
        idx = layer.indices
        assert idx.shape[1] == layer.fan_in and (idx.sort(1).values[:, 1:] != idx.sort(1).values[:, :-1]).all()
