"""Multi-fidelity search: rungs, resumable training, successive-halving decisions, the sampler's view,
pruning before training, budgets that fit the data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState

from lutsearch.models import build_model, restore_training_state, training_snapshot
from lutsearch.search import RunOptions, run_study
from lutsearch.search._halving import decide_promotion, promotion_order
from lutsearch.search._rung_sampler import RUNG_VALUES, RungAwareSampler, as_observed
from lutsearch.search._study import UNTRAINED, count_done
from lutsearch.space import SpaceError, load_space
from lutsearch.train import TrainConfig, TrainState, train_model
from lutsearch.trial import fidelity_rungs

SPACE = """
name: fid
seed: 3
dataset: {name: digits, val_fraction: 0.15}
model:
  family: logicnets
  params:
    widths: {per_layer: {count: 1, int: [8, 48], log: true}}
    input_bits: {int: [1, 2]}
    hidden_bits: {int: [1, 2]}
    output_bits: 3
    input_fan_in: {int: [2, 3]}
    fan_in: 3
    output_fan_in: 3
train: {epochs: 9, batch_size: 128, lr: 2.0e-2, min_steps: 0}
objectives: [accuracy, {name: luts, via: surrogate}]
sampler: {name: random}
fidelity: {resource: epochs, min: 1, eta: 3}
"""


def test_rungs_follow_min_and_eta():
    assert fidelity_rungs(3, 3, 30) == [3, 9, 30]
    assert fidelity_rungs(1, 3, 9) == [1, 3, 9]
    assert fidelity_rungs(2, 2, 5) == [2, 5]
    assert fidelity_rungs(5, 3, 4) == [4]


@pytest.mark.parametrize(
    "block, key",
    [
        ("{resource: samples}", "fidelity.resource"),
        ("{eta: 1}", "fidelity.eta"),
        ("{min: 0}", "fidelity.min"),
        ("{mni: 3}", "fidelity.mni"),
        ("7", "fidelity"),
    ],
)
def test_bad_fidelity_block_is_one_line(tmp_path, block, key):
    path = tmp_path / "s.yaml"
    path.write_text(SPACE.replace("fidelity: {resource: epochs, min: 1, eta: 3}", f"fidelity: {block}"))
    with pytest.raises(SpaceError) as err:
        load_space(path)
    assert str(path) in str(err.value) and key in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "family, params",
    [
        (
            "logicnets",
            dict(widths=[24], input_bits=2, hidden_bits=2, output_bits=3, input_fan_in=3, fan_in=3, output_fan_in=3),
        ),
        (
            "logicnets",
            dict(
                widths=[24],
                input_bits=2,
                hidden_bits=2,
                output_bits=3,
                input_fan_in=2,
                fan_in=3,
                output_fan_in=3,
                connectivity="sparselut",
                sparse_T=0.5,
            ),
        ),
    ],
)
def test_training_in_rungs_equals_training_in_one_go(digits, family, params):
    """Stop inside Brevitas' statistics phase and after it, save, rebuild, resume: identical tables."""
    cfg = TrainConfig(epochs=8, batch_size=128, lr=1e-2, min_steps=400)  # 400 steps: past the 300 stats steps
    whole = build_model(family, params, digits.n_features, digits.n_classes, 5)
    train_model(whole, digits, cfg, 5)
    model, state = build_model(family, params, digits.n_features, digits.n_classes, 5), None
    for stop in (3, 27, None):  # epoch 3: statistics phase; 27: after it and after SparseLUT's transition
        result = train_model(model, digits, cfg, 5, resume=state, stop_after=stop)
        if result.state is None:
            break
        buf = io.BytesIO()
        torch.save({"model": training_snapshot(model), "train": result.state.as_dict()}, buf)
        buf.seek(0)
        saved = torch.load(buf, weights_only=True)
        model = build_model(family, params, digits.n_features, digits.n_classes, 5)
        restore_training_state(model, saved["model"])
        state = TrainState.of(saved["train"])
    assert result.finished and result.epochs_run == result.epochs
    codes = whole.input_codes(digits.X_val)
    assert np.array_equal(whole.to_tables().evaluate(codes), model.to_tables().evaluate(codes))


def test_budget_fits_small_data():
    cfg = TrainConfig(epochs=8, batch_size=256, min_steps=500, min_batches=8)
    epochs, batch = cfg.budget(300)  # a few hundred rows: batch 38, 8 steps per epoch, 63 epochs
    assert batch == 38 and epochs * np.ceil(300 / batch) >= 500
    assert TrainConfig(epochs=30, batch_size=1024, min_steps=500, min_batches=8).budget(100_000) == (30, 1024)


def test_promotion_order_is_rank_then_crowding():
    pts = np.array([[1, 5], [2, 4], [3, 3], [2, 5], [4, 4], [5, 5]], float)  # minimized
    order, ranks = promotion_order(pts)
    assert ranks.tolist() == [0, 0, 0, 1, 1, 2]
    assert (set(order[:3]) == {0, 1, 2} and order[1] == 2) or order[0] in (0, 2)  # boundary points first
    assert order[-1] == 5
    infeasible = promotion_order(pts, violations=np.array([0, 0, 0, 0, 0, 1.0]))[0]
    assert infeasible[-1] == 5
    # accuracy up, LUTs down: the dominated design is the one stopped
    d = decide_promotion([[0.9, 100], [0.8, 50], [0.7, 200], [0.95, 1000]], ["maximize", "minimize"], 2, 3, 3)
    assert not d.promote and d.rank == 1 and d.keep == 1
    assert decide_promotion([[0.5, 10], [0.9, 5]], ["maximize", "minimize"], 0, 3, 3).promote  # grace


def _run(tmp_path: Path, text: str, trials: int, **kw) -> optuna.Study:
    path = tmp_path / "fid.yaml"
    path.write_text(text)
    options = RunOptions(trials=trials, workers=1, runs_dir=tmp_path / "runs", executor="inprocess", **kw)
    return run_study(load_space(path), options).handle.study


def test_short_study_promotes_and_stops_by_rank(tmp_path):
    study = _run(tmp_path, SPACE, 10)
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(UNTRAINED)]
    assert count_done(study) == 10 == len(trials)
    reached = [sum(1 for t in trials if any(r["rung"] == k for r in t.user_attrs[RUNG_VALUES])) for k in range(3)]
    assert reached[0] == 10 and reached[0] > reached[1] >= reached[2] >= 1
    peers: list[list[float]] = []
    for t in sorted(trials, key=lambda t: t.number):  # one worker: rung 0 results arrive in trial order
        rung0 = next(r for r in t.user_attrs[RUNG_VALUES] if r["rung"] == 0)
        peers.append(rung0["values"])
        went_on = len(t.user_attrs[RUNG_VALUES]) > 1
        assert went_on == decide_promotion(peers, ["maximize", "minimize"], len(peers) - 1, 3, 3).promote
        if t.state == TrialState.PRUNED:  # stopped: its rung values, tables and metrics are saved
            folder = Path(t.user_attrs["artifact_dir"])
            assert (folder / "tables.npz").is_file() and "stopped at rung" in t.user_attrs["prune_reason"]
            metrics = json.loads((folder / "metrics.json").read_text())
            assert metrics["val_acc"] == t.user_attrs[RUNG_VALUES][-1]["values"][0]
        else:
            assert t.state == TrialState.COMPLETE and t.user_attrs[RUNG_VALUES][-1]["epochs"] == 9
    assert {t.number for t in study.best_trials} <= {t.number for t in trials if t.state == TrialState.COMPLETE}


def test_pruned_before_training_do_not_count(tmp_path):
    text = SPACE.replace("input_fan_in: {int: [2, 3]}", "input_fan_in: {int: [5, 12]}")
    text = text.replace("fidelity: {resource: epochs, min: 1, eta: 3}", "limits: {max_address_bits: 12}\nfidelity: off")
    text = text.replace("epochs: 9", "epochs: 1")
    study = _run(tmp_path, text, 6)
    untrained = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(UNTRAINED)]
    assert untrained and all("exceeds limit 12" in t.user_attrs["prune_reason"] for t in untrained)
    assert count_done(study) == 6
    assert len(study.get_trials(deepcopy=False)) == 6 + len(untrained)


def test_sampler_sees_stopped_trials_at_their_rung_values():
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=RungAwareSampler(optuna.samplers.TPESampler(seed=0, n_startup_trials=2)),
    )
    for i in range(4):
        t = study.ask()
        x = t.suggest_float("x", 0, 1)
        if i % 2:
            t.set_user_attr(RUNG_VALUES, [{"rung": 0, "epochs": 1, "values": [x, 10.0], "violation": 0.0}])
            study.tell(t, state=TrialState.PRUNED)
        else:
            study.tell(t, [x, 5.0])
    pruned = [t for t in study.get_trials() if t.state == TrialState.PRUNED]
    seen = as_observed(pruned[0])
    assert seen.state == TrialState.COMPLETE and seen.values == [pruned[0].params["x"], 10.0]
    assert pruned[0].state == TrialState.PRUNED  # the stored trial is unchanged
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=3)  # TPE runs on the view
    assert len(study.best_trials) >= 1


def test_warm_start_trials_come_first_with_the_baselines_parameters(tmp_path):
    base = tmp_path / "baselines"
    base.mkdir()
    published = {
        "widths": [32],
        "input_bits": 2,
        "hidden_bits": 1,
        "output_bits": 3,
        "input_fan_in": 3,
        "fan_in": 3,
        "output_fan_in": 3,
    }
    (base / "pub.yaml").write_text(
        json.dumps(
            {
                "name": "pub",
                "dataset": {"name": "digits"},
                "model": {"family": "logicnets", "params": published},
                "train": {"epochs": 100, "lr": 0.02, "batch_size": 128},
                "objectives": ["accuracy", "luts"],
            }
        )
    )
    study = _run(tmp_path, SPACE, 3, warm_start=base)
    first = study.get_trials(deepcopy=False)[0]
    assert first.user_attrs["warm_start"] == "pub"
    config = json.loads((Path(first.user_attrs["artifact_dir"]) / "config.json").read_text())
    assert {k: config["params"][k] for k in published} == published
    assert config["train"]["epochs"] == 9  # training settings come from the space


def _fake_trained(study: optuna.Study, family: str, plan_luts: float, acc: float, luts_measured: float) -> None:
    t = study.ask()
    t.set_user_attr("family", family)
    t.set_user_attr("plan_luts", plan_luts)
    t.set_user_attr("plan_depth", 2.0)
    t.set_user_attr("constraint_values", {"luts <= 1000": luts_measured})
    study.tell(t, [acc, luts_measured])


def test_hopeless_designs_are_pruned_with_a_reason():
    from lutsearch.search._prefilter import PlanCost, hopeless_reason
    from lutsearch.space._schema import Constraint

    study = optuna.create_study(directions=["maximize", "minimize"])
    limit = [Constraint("luts", "<=", 1000.0)]
    for i in range(20):  # measured LUTs are at least 0.5x the plan's
        _fake_trained(study, "logicnets", 100.0 * (i + 1), 0.5 + 0.001 * i, 50.0 * (i + 1))
    assert hopeless_reason(study, "logicnets", PlanCost(1000.0, 2.0), limit, None) is None  # >= 500 LUTs: maybe
    reason = hopeless_reason(study, "logicnets", PlanCost(2500.0, 2.0), limit, None)  # >= 1250 LUTs
    assert reason and "cannot meet 'luts <= 1000'" in reason  # at least 1250 LUTs
    assert hopeless_reason(study, "warp", PlanCost(2500.0, 2.0), limit, None) is None  # no evidence for the family
    assert hopeless_reason(study, "logicnets", PlanCost(700.0, 2.0), [], 0) is None  # accuracy grows with size
    for _ in range(3):  # a cheap design already reaches the best accuracy of the 350-1400 plan-LUT class
        _fake_trained(study, "logicnets", 200.0, 0.9, 100.0)
    reason = hopeless_reason(study, "logicnets", PlanCost(700.0, 2.0), [], 0)
    assert reason and reason.startswith("dominated on cost")
    assert hopeless_reason(study, "logicnets", PlanCost(300.0, 2.0), [], 0) is None  # 200 > half of 300
    assert hopeless_reason(study, "logicnets", PlanCost(700.0, 1.0), [], 0) is None  # shallower: not dominated


def test_degenerate_trials_and_small_data_budget(tmp_path, digits):
    from lutsearch.trial import run_trial

    config = {
        "family": "logicnets",
        "params": {
            "widths": [8],
            "input_bits": 1,
            "hidden_bits": 1,
            "output_bits": 2,
            "input_fan_in": 2,
            "fan_in": 2,
            "output_fan_in": 2,
        },
        "train": {"epochs": 1, "batch_size": 256, "lr": 1e-9, "min_steps": 40, "min_batches": 8},
        "seed": 0,
        "dataset": {"name": "digits", "split_seed": 0, "val_fraction": 0.15},
        "objectives": [{"name": "accuracy"}],
        "constraints": [],
        "trial": 0,
        "space": "t",
    }
    result = run_trial(config, str(tmp_path / "t"))
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    epochs, batch = TrainConfig(epochs=1, batch_size=256, min_steps=40, min_batches=8).budget(len(digits.y_train))
    assert (metrics["epochs_budget"], metrics["batch_size_used"]) == (epochs, batch) and batch < 256 and epochs > 1
    # a learning rate of 1e-9 learns nothing: the tables predict one class on validation
    assert result.ok and result.user_attrs["degenerate"] is True and metrics["degenerate"] is True


def test_running_trials_and_eta_from_progress_files(tmp_path):
    from lutsearch.search._progress import eta_seconds, running_rows

    study = optuna.create_study(directions=["maximize", "minimize"])
    for i in range(6):  # finished trials: 2 s per epoch, each stopped after its first 3-epoch rung
        t = study.ask()
        t.set_user_attr("family", "logicnets")
        t.set_user_attr(RUNG_VALUES, [{"rung": 0, "epochs": 3, "values": [0.5, 10.0], "violation": 0, "seconds": 6.0}])
        study.tell(t, state=TrialState.PRUNED)
    study.set_user_attr("fidelity", {"rungs": [3, 9, 30], "eta": 3})
    running = study.ask()
    running.set_user_attr("family", "logicnets")
    running.set_user_attr("artifact_dir", str(tmp_path))
    (tmp_path / "progress.json").write_text(
        json.dumps({"rung": 1, "n_rungs": 3, "epoch": 4, "epochs": 30, "val_acc": 0.61, "family": "logicnets"})
    )
    rows = running_rows(study)
    assert [(r.number, r.rung, r.rungs, r.epoch, r.epochs, r.val_acc) for r in rows] == [(6, 1, 3, 5, 30, 0.61)]
    # a new trial is expected to train 3 epochs (none of 6 went on); the running one has spent more
    assert eta_seconds(study, rows, remaining=4, workers=2) == pytest.approx(4 * 3 * 2.0 / 2)
