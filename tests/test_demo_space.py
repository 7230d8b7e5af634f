"""The offline demo (`lutsearch run spaces/digits.yaml --trials 40`, issue #15 part 4): what it searches and
the command its run ends with."""

from __future__ import annotations

from pathlib import Path

import optuna

from lutsearch.cli import _analyze_command
from lutsearch.models import family_plan, resolve_params
from lutsearch.search._warmstart import baseline_files, plan_warm_start
from lutsearch.space import load_space

SPACES = Path(__file__).resolve().parents[1] / "spaces"


def test_demo_searches_several_families_and_starts_from_its_known_good_designs():
    space = load_space(SPACES / "digits.yaml")
    assert space.families() == ["warp", "ensemble"]
    assert space.metric_names == ["accuracy", "luts", "latency_ns"]
    assert space.objectives[1].via == "surrogate" and space.objectives[1].options["confirm"] == "front"
    assert space.warm_start == SPACES / "digits_start"
    plan = plan_warm_start(space, space.warm_start)
    assert plan.misfits == [] and len(plan.fits) == len(baseline_files(space.warm_start)) >= 2
    assert all(plan.notes[name] == [] for name, _ in plan.fits)  # enqueued exactly as measured


def test_every_demo_draw_builds_within_the_space_limits():
    space = load_space(SPACES / "digits.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = set()
    for _ in range(60):
        config = space.sample(study.ask())
        params = resolve_params(config["family"], config["params"])
        plan = family_plan(config["family"], params, 64, 10)
        assert max(layer.address_bits for layer in plan) <= space.limits["max_address_bits"], config
        drawn.add(config["family"])
    assert drawn == {"warp", "ensemble"}


def test_run_ends_with_the_command_that_opens_its_report():
    assert _analyze_command(Path("runs/digits"), None, "digits") == "lutsearch analyze runs/digits --open"
    assert _analyze_command(Path("my runs/d"), "postgresql://u@h/db", "d") == (
        "lutsearch analyze 'my runs/d' --open --storage postgresql://u@h/db --study d"
    )
    assert "secret" not in _analyze_command(Path("runs/d"), "postgresql://u:secret@h/db", "d")
