"""PolyLUT-TC's hardware-aware structured pruning (``prune_lambda``) on every LUT-layer family: the
regularizer prunes inputs, the tables lose address bits, the truth tables stay bit-exact, and with
lambda 0 nothing changes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ExactOpsRecorder

from lutsearch.models import LUTLayer, build_model, resolve_params
from lutsearch.models._base import run_layers
from lutsearch.models._group_prune import GroupPruneNeuron, prune_epoch, soft_fan_in
from lutsearch.train import TrainConfig, train_model

SHAPE = dict(widths=[24, 12], input_bits=2, hidden_bits=2, output_bits=3, input_fan_in=6, fan_in=5, output_fan_in=5)
PRUNE = dict(prune_lambda=10.0, prune_threshold=0.2, prune_epoch=0.5)
FAMILIES = {
    "logicnets": {},
    "polylut": dict(degree=2),
    "neuralut": dict(hidden_width=8, hidden_depth=2),
}


def _train(family, params, digits, epochs=4, seed=0):
    model = build_model(family, params, digits.n_features, digits.n_classes, seed)
    result = train_model(model, digits, TrainConfig(epochs=epochs, batch_size=64, lr=1e-2), seed=seed)
    return model, result


def _exact(model, digits):
    net = model.to_tables()
    codes = model.input_codes(digits.X_test)
    assert np.array_equal(model.predict_codes(codes), net.evaluate(codes))
    return net


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_strong_lambda_prunes_inputs_and_tables_shrink_bit_exactly(family, digits):
    params = dict(SHAPE, **FAMILIES[family], **PRUNE)
    model, result = _train(family, params, digits)
    assert result.best_epoch >= prune_epoch(0.5, 4)  # only pruned designs are kept as best
    wrappers = [layer.neuron for layer in model.layers]
    assert all(isinstance(w, GroupPruneNeuron) and bool(w.pruned) for w in wrappers)
    kept = [w.keep.sum(1) for w in wrappers]
    assert sum(int((k < w.fan_in).sum()) for k, w in zip(kept, wrappers)) > len(model.layers) * 4
    net = _exact(model, digits)
    full = [layer.fan_in * layer.in_bits for layer in model.layers]
    bits = [layer.address_bits for layer in net.layers]
    assert bits == [w.table_fan_in * layer.in_bits for w, layer in zip(wrappers, model.layers)]
    assert all(b <= f for b, f in zip(bits, full)) and sum(bits) < sum(full)  # smaller truth tables
    assert result.best_val_acc > 0.3  # still a classifier (10 classes)
    # a neuron's table ignores the address bits of the slots it no longer reads
    layer, w, table = model.layers[0], wrappers[0], net.layers[0]
    i = int(torch.argmin(kept[0]))
    assert int(kept[0][i]) < w.table_fan_in
    rows = table.tables[i].reshape([1 << layer.in_bits] * w.table_fan_in)  # axes: last address input first
    for a in range(int(kept[0][i]), w.table_fan_in):
        axis = w.table_fan_in - 1 - a
        assert (np.diff(rows, axis=axis) == 0).all()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_lambda_zero_changes_nothing(family, digits):
    params = dict(SHAPE, **FAMILIES[family])
    plain, _ = _train(family, params, digits, epochs=2)
    off, _ = _train(family, dict(params, prune_lambda=0.0, prune_threshold=0.5, prune_epoch=1), digits, epochs=2)
    assert not any(isinstance(m, GroupPruneNeuron) for m in off.modules())
    assert plain.state_dict().keys() == off.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), off.state_dict().values()))
    assert plain.to_tables().fingerprint() == off.to_tables().fingerprint()


def test_nla_and_ensembles_prune_too(digits):
    nla = dict(
        widths=[24, 12],
        tree_depth=2,
        input_fan_in=5,
        fan_in=2,
        support_fan_in=3,
        output_fan_in=2,
        input_bits=2,
        hidden_bits=2,
        support_bits=2,
        output_bits=3,
        neuron_width=8,
        prelude_epochs=1,
        **PRUNE,
    )
    model, _ = _train("nla", nla, digits, epochs=3)
    net = _exact(model, digits)
    assert net.layers[0].address_bits < 5 * 2
    ensemble = dict(SHAPE, members=2, member_family="logicnets", member_params=PRUNE)
    model, _ = _train("ensemble", ensemble, digits, epochs=3)
    assert sum(isinstance(m, GroupPruneNeuron) for m in model.modules()) == 2 * 3
    net = _exact(model, digits)
    assert net.layers[0].address_bits < 2 * (6 * 2)  # two members side by side, narrower tables


def test_soft_fan_in_counts_inputs_and_ignores_scale():
    norms = torch.tensor([[1.0, 1.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0], [3.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(soft_fan_in(norms), torch.tensor([2.0, 4.0, 1.0]))
    assert torch.allclose(soft_fan_in(norms * 7.5), soft_fan_in(norms))
    n = torch.tensor([[1.0, 0.5, 0.1]], requires_grad=True)
    soft_fan_in(n).sum().backward()
    assert n.grad[0, 0] < 0 < n.grad[0, 2]  # the penalty shrinks the weak group, not the strong one


def test_penalty_is_the_relative_soft_table_size():
    model = build_model("logicnets", dict(SHAPE, prune_lambda=2.0), 64, 10, 0)
    layers = [m for m in model.modules() if isinstance(m, LUTLayer)]
    with torch.no_grad():  # every group equal: S_i = F, the unpruned tables
        for layer in layers:
            layer.neuron.inner.weight.fill_(0.3)
    assert float(model.regularization()) == pytest.approx(2.0)
    with torch.no_grad():  # one input left per neuron: tables of 2^b entries
        for layer in layers:
            layer.neuron.inner.weight[:, 1:] = 0.0
    cost = [layer.n_out * layer.out_bits * 4.0**layer.fan_in for layer in layers]
    small = [layer.n_out * layer.out_bits * 4.0 for layer in layers]
    assert float(model.regularization()) == pytest.approx(2.0 * sum(small) / sum(cost))


def _pruned(family="logicnets", seed=0):
    """A model past its pruning epoch (random weights, a high threshold: most slots pruned), in training mode."""
    model = build_model(family, dict(SHAPE, **FAMILIES[family], **dict(PRUNE, prune_threshold=0.9)), 64, 10, seed)
    model.train()
    with torch.no_grad():
        model(torch.rand(64, 64, generator=torch.Generator().manual_seed(1)))
        for layer in model.layers:
            inner = layer.neuron.inner
            if family == "logicnets":
                inner.weight.copy_(torch.rand(inner.weight.shape, generator=torch.Generator().manual_seed(2)))
    for epoch in range(3):
        model.on_epoch_start(epoch, 4)
    return model


def test_prune_schedule_checkpoints_and_reload():
    model = build_model("logicnets", dict(SHAPE, **dict(PRUNE, prune_epoch=2)), 64, 10, 0)
    for epoch in range(4):
        model.on_epoch_start(epoch, 5)
        assert [bool(layer.neuron.pruned) for layer in model.layers] == [epoch >= 2] * 3
        assert model.checkpoint_ok() == (epoch >= 2)
    assert prune_epoch(0.5, 10) == 5 and prune_epoch(30, 10) == 9 and prune_epoch(3, 10) == 3
    model = _pruned()
    net = model.to_tables()
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    again = build_model("logicnets", dict(SHAPE, **dict(PRUNE, prune_threshold=0.9)), 64, 10, 0)
    again.load_state_dict(torch.load(buf))
    assert again.to_tables().fingerprint() == net.fingerprint()
    with pytest.raises(ValueError, match="prune_threshold.*out of range"):
        resolve_params("polylut", dict(SHAPE, prune_threshold=1.5))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fused_step_of_a_pruned_layer_equals_the_pytorch_layer(family):
    model = _pruned(family, seed=5)
    assert any(layer.neuron.masked for layer in model.layers)
    h = model.input_quant(torch.rand(40, 64, generator=torch.Generator().manual_seed(3)))
    if model.layers[0].fused_constants(h, h.shape[0]) is None:
        pytest.skip("no fused native step for this family here")
    fused = run_layers(model.layers, h)
    for layer in model.layers:
        layer.fused_constants = lambda *a: None
    plain = run_layers(model.layers, h)  # PyTorch's gather of the zero-padded rows
    assert torch.allclose(fused, plain, rtol=1e-5, atol=1e-5)
    x = torch.rand(8, 64, requires_grad=True)
    layer = model.layers[0]
    (layer.preactivation(x)[:, 0] * torch.arange(8.0)).sum().backward()  # neuron 0: only its kept slots reach it
    reached = set(torch.nonzero(x.grad.abs().sum(0)).flatten().tolist())
    kept = set(layer.indices[0][layer.neuron.keep[0]].tolist())
    assert reached <= kept and reached


def test_exact_path_of_a_pruned_model_runs_only_exact_ops():
    model = _pruned("polylut")
    codes = np.random.default_rng(0).integers(0, 4, (50, 64))
    recorder = ExactOpsRecorder()
    with recorder:
        out = model.predict_codes(codes)
        net = model.to_tables()
    assert not recorder.bad, sorted(recorder.bad)
    assert np.array_equal(out, net.evaluate(codes))


def test_shipped_spaces_search_pruning_for_every_lut_layer_family_and_nla_trees():
    import optuna

    from lutsearch.models import family_plan
    from lutsearch.models.nla import support_flags
    from lutsearch.space import load_space

    spaces = Path(__file__).resolve().parents[1] / "spaces"
    for name in ("digits", "jsc", "mnist", "nid"):
        space = load_space(spaces / f"{name}.yaml")
        for family in set(space.families()) & {"logicnets", "polylut", "neuralut", "nla"}:
            searched = set(space.params) | set(space.when.get(family, {}))
            assert {"prune_lambda", "prune_threshold", "prune_epoch"} <= searched, (name, family)
        if "nla" in space.families():
            assert {"tree_depth", "level_fan_ins"} <= set(space.when["nla"]), name
    space = load_space(spaces / "jsc.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    depths = set()
    while len(depths) < 3:  # NLA designs of every tree depth: one fan-in per tree level, all buildable
        config = space.sample(study.ask())
        if config["family"] != "nla":
            continue
        params = resolve_params("nla", config["params"])
        n_layers = len(params["widths"]) + 1
        flags = support_flags(params, n_layers)
        plans = family_plan("nla", params, 16, 5)
        level = 0
        for flag, plan in zip(flags, plans):
            level = level + 1 if flag else 0
            if flag:
                assert plan.fan_in == params["level_fan_ins"][level - 1]
        depths.add(params["tree_depth"])
