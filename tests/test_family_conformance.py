"""Family conformance: every registered family (discovered from the registry, so a new family gets
these checks by registering) honours the ``LUTModel`` contract on a tiny configuration.

Checks per family: it builds as a ``LUTModel``; one training step changes parameters with a finite
loss; past Brevitas' statistics phase its truth tables reproduce ``predict_codes``; ``predict_codes``
does not depend on the batch size; a saved ``state_dict`` loaded into a fresh model of the same
config and seed gives the same tables and codes; an ensemble of two members of the family is exact
too; the output codes fit ``output_code_bits()`` and agree with ``output_code_signed()``.

A family missing from ``CONFIGS`` runs on ``GENERIC`` (add an entry when its defaults are too big).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling

from lutsearch.models import COMMON_KNOBS, LUTModel, build_model, family_names

N_INPUTS, N_CLASSES, SEED = 12, 4, 0
INPUT_BITS = 2

SMALL = {
    "input_bits": INPUT_BITS,
    "hidden_bits": 2,
    "output_bits": 3,
    "input_fan_in": 3,
    "fan_in": 3,
    "output_fan_in": 3,
}
GENERIC = {**SMALL, "widths": [8]}
# Small knob values where a family's defaults would be too big for a quick test.
CONFIGS: dict[str, dict] = {
    "logicnets": {**SMALL, "widths": [8]},
    "polylut": {**SMALL, "widths": [8], "degree": 2},
    "neuralut": {**SMALL, "widths": [8], "hidden_width": 8, "hidden_depth": 3},
    "nla": dict(
        widths=[8, 4, 8],
        tree_depth=2,
        input_bits=INPUT_BITS,
        hidden_bits=2,
        support_bits=2,
        output_bits=3,
        input_fan_in=2,
        fan_in=2,
        support_fan_in=2,
        output_fan_in=2,
        neuron_width=8,
        prelude_epochs=0,
    ),
    "hgq": {"input_bits": INPUT_BITS, "widths": [6], "edge_hidden": 4, "edge_bits": 3, "output_bits": 4},
    "warp": {
        "input_bits": INPUT_BITS,
        "widths": [24],
        "input_fan_in": 4,
        "fan_in": 4,
        "output_fan_in": 3,
        "group_size": 6,
    },
    "ensemble": {
        "input_bits": INPUT_BITS,
        "widths": [8],
        "members": 2,
        "member_family": "logicnets",
        "input_fan_in": 3,
        "fan_in": 3,
        "output_fan_in": 3,
        "output_bits": 3,
    },
}
# Families an ensemble does not take as members (``lutsearch.models.ensemble._member_params``).
NOT_ENSEMBLE_MEMBERS = {"ensemble"}

FAMILIES = family_names()


def _config(family: str) -> dict:
    return dict(CONFIGS.get(family, GENERIC))


def _build(family: str, params: dict | None = None, seed: int = SEED) -> LUTModel:
    return build_model(family, _config(family) if params is None else params, N_INPUTS, N_CLASSES, seed=seed)


def _settle(model: LUTModel) -> LUTModel:
    """Past Brevitas' statistics phase (as ``test_exactness._seeded_model``), batch-norm statistics
    those of one large batch (so that the hidden codes, and the outputs, are not constant), in eval mode."""
    model.train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = None  # cumulative average: the running statistics become this batch's
        m.reset_running_stats()
    with torch.no_grad():
        model(torch.rand(512, N_INPUTS, generator=torch.Generator().manual_seed(0)))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    for module in model.modules():
        if isinstance(module, ParameterFromRuntimeStatsScaling):
            module.init_scale()
    model.eval()
    return model


def _codes(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1 << INPUT_BITS, (n, N_INPUTS))


def _ensemble_params(family: str) -> dict:
    """An ensemble of two members of ``family``: the common knobs pass through, the rest are the
    member family's own."""
    cfg = _config(family)
    common = {k: v for k, v in cfg.items() if k in COMMON_KNOBS}
    own = {k: v for k, v in cfg.items() if k not in COMMON_KNOBS}
    return {**common, "members": 2, "member_family": family, "member_params": own}


@pytest.fixture(scope="module")
def settled():
    """One settled model per family, shared by the read-only checks."""
    cache: dict[str, LUTModel] = {}

    def get(family: str) -> LUTModel:
        if family not in cache:
            cache[family] = _settle(_build(family))
        return cache[family]

    return get


def test_registry_lists_the_known_families():
    assert {"logicnets", "polylut", "neuralut", "nla", "hgq", "warp", "ensemble"} <= set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_builds_a_lut_model(family):
    model = _build(family)
    assert isinstance(model, LUTModel)
    assert model.family == family
    assert model.config["family"] == family and model.config["seed"] == SEED
    assert model.n_outputs == N_CLASSES


def _train_step(model: LUTModel, lr: float = 1e-2) -> tuple[torch.Tensor, list[bool]]:
    """One step of the training loop's shape: forward, cross-entropy + regularization, backward, Adam.
    Returns the loss and, per trainable parameter, whether the step changed it."""
    model.train()
    model.on_epoch_start(0, 2)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(32, N_INPUTS, generator=gen)
    y = torch.randint(0, N_CLASSES, (32,), generator=gen)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=lr)
    opt.zero_grad()
    out = model(x)
    assert out.shape == (32, N_CLASSES)
    loss = torch.nn.functional.cross_entropy(out, y) + model.regularization()
    loss.backward()
    opt.step()
    return loss.detach(), [not torch.equal(b, p.detach()) for b, p in zip(before, params)]


@pytest.mark.parametrize("family", FAMILIES)
def test_one_training_step(family):
    model = _build(family)
    loss, changed = _train_step(model)
    assert changed, f"{family}: no trainable parameters"
    assert torch.isfinite(loss), f"{family}: loss {loss.item()}"
    assert any(changed), f"{family}: an optimizer step changed no parameter"
    assert all(torch.isfinite(p).all() for p in model.parameters()), f"{family}: non-finite parameters"


@pytest.mark.parametrize("family", FAMILIES)
def test_tables_reproduce_predict_codes(family, settled):
    model = settled(family)
    codes = _codes(500)
    expected = model.predict_codes(codes)
    assert expected.shape == (len(codes), N_CLASSES)
    net = model.to_tables()
    assert net.n_inputs == N_INPUTS and net.n_outputs == N_CLASSES
    assert np.array_equal(net.evaluate(codes), expected)
    assert len(np.unique(expected, axis=0)) > 1, f"{family}: constant outputs prove nothing; adjust CONFIGS"


@pytest.mark.parametrize("family", FAMILIES)
def test_predict_codes_is_batch_invariant(family, settled):
    model = settled(family)
    codes = _codes(111, seed=3)
    full = model.predict_codes(codes)
    for size in (1, 3, 37):
        n = min(len(codes), 12 * size)  # at most 12 calls per size
        parts = np.concatenate([model.predict_codes(codes[s : s + size]) for s in range(0, n, size)])
        assert np.array_equal(parts, full[:n]), (family, size)
        inner = model.predict_codes(codes, batch_size=size)  # the method's own batching
        assert np.array_equal(inner, full), (family, "batch_size", size)


@pytest.mark.parametrize("family", FAMILIES)
def test_state_dict_round_trip(family, tmp_path):
    model = _build(family)
    _train_step(model, lr=0.1)  # weights no longer those a fresh build with the same seed has
    _settle(model)
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    fresh = _build(family)
    fresh.eval()
    a = model.to_tables()
    assert fresh.to_tables().fingerprint() != a.fingerprint(), f"{family}: nothing to round-trip"
    fresh.load_state_dict(torch.load(path, weights_only=True))
    fresh.eval()
    codes = _codes(300, seed=5)
    assert np.array_equal(fresh.predict_codes(codes), model.predict_codes(codes))
    b = fresh.to_tables()
    assert a.fingerprint() == b.fingerprint()
    assert np.array_equal(b.evaluate(codes), fresh.predict_codes(codes))


@pytest.mark.parametrize("family", FAMILIES)
def test_ensemble_of_two(family):
    if family in NOT_ENSEMBLE_MEMBERS:
        pytest.skip(f"an ensemble does not take {family} members")
    model = _settle(_build("ensemble", _ensemble_params(family)))
    assert isinstance(model, LUTModel)
    assert len(model.members) == 2 and all(m.family == family for m in model.members)
    codes = _codes(300, seed=11)
    expected = model.predict_codes(codes)
    assert np.array_equal(model.to_tables().evaluate(codes), expected)
    assert len(np.unique(expected, axis=0)) > 1, f"{family}: constant ensemble outputs prove nothing"
    assert expected.min() >= 0 and expected.max() < 1 << model.output_code_bits()


@pytest.mark.parametrize("family", FAMILIES)
def test_output_code_form(family, settled):
    model = settled(family)
    codes = model.predict_codes(_codes(500, seed=13))
    bits, signed = model.output_code_bits(), model.output_code_signed()
    assert isinstance(bits, int) and bits >= 1
    assert np.issubdtype(codes.dtype, np.integer)
    assert codes.min() >= 0 and codes.max() < 1 << bits, (family, bits, codes.min(), codes.max())
    net = model.to_tables()
    assert net.output_bits == bits and bool(net.output_signed) == bool(signed)
