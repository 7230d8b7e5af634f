"""Search-space schema: valid spaces load and sample; every malformed space gives its one-line error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from lutsearch.space import SpaceError, load_space

REPO = Path(__file__).resolve().parents[1]

BASE = {
    "dataset": {"name": "digits"},
    "model": {"family": "logicnets", "params": {"widths": [16]}},
    "objectives": ["accuracy", "luts"],
}


def _write(tmp_path: Path, doc, name="space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def _merge(base: dict, patch: dict) -> dict:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("space", sorted((REPO / "spaces").rglob("*.yaml")), ids=lambda p: p.name)
def test_shipped_spaces_validate(space):
    loaded = load_space(space)
    assert loaded.objectives and loaded.dataset["name"]


def test_sampling_conditional_and_per_layer(tmp_path):
    doc = _merge(
        BASE,
        {
            "model": {
                "params": {
                    "widths": {"per_layer": {"count": {"int": [1, 3]}, "int": [8, 64], "log": True}},
                    "fan_in": {"choices": [2, 3]},
                }
            },
            "train": {"lr": {"float": [1e-3, 1e-2], "log": True}, "batch_size": {"int": [32, 128], "step": 32}},
        },
    )
    space = load_space(_write(tmp_path, doc))
    study = optuna.create_study(directions=space.directions, sampler=space.build_sampler(1))
    counts = set()
    for _ in range(12):
        trial = study.ask()
        cfg = space.sample(trial)
        widths = cfg["params"]["widths"]
        counts.add(len(widths))
        assert trial.params["widths.count"] == len(widths)
        assert all(8 <= w <= 64 for w in widths)
        assert cfg["train"]["batch_size"] in (32, 64, 96, 128)
        assert 1e-3 <= cfg["train"]["lr"] <= 1e-2
        study.tell(trial, [0.5, 1.0])
    assert len(counts) > 1  # the number of layers really is sampled


def test_family_conditional_knobs(tmp_path):
    from lutsearch.models import family_names

    others = [
        f
        for f in family_names()
        if f != "logicnets" and "degree" in __import__("lutsearch.models", fromlist=["get_family"]).get_family(f).knobs
    ]
    if not others:
        pytest.skip("no family with a 'degree' knob registered")
    fam = others[0]
    doc = _merge(
        BASE, {"model": {"family": {"choices": ["logicnets", fam]}, "when": {fam: {"degree": {"int": [1, 3]}}}}}
    )
    space = load_space(_write(tmp_path, doc))
    study = optuna.create_study(directions=space.directions, sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        cfg = space.sample(trial)
        seen.add(cfg["family"])
        assert ("degree" in cfg["params"]) == (cfg["family"] == fam)
        assert (f"{fam}.degree" in trial.params) == (cfg["family"] == fam)
        study.tell(trial, [0.5, 1.0])
    assert seen == {"logicnets", fam}


def test_family_spec_replaces_the_shared_one(tmp_path):
    """A knob under ``when.<family>`` that is also shared is drawn once, as ``<family>.<knob>``, in its range."""
    doc = _merge(
        BASE,
        {
            "model": {
                "family": {"choices": ["logicnets", "hgq"]},
                "params": {"input_bits": {"int": [2, 3]}},
                "when": {"hgq": {"input_bits": {"int": [6, 8]}}},
            }
        },
    )
    space = load_space(_write(tmp_path, doc))
    study = optuna.create_study(directions=space.directions, sampler=optuna.samplers.RandomSampler(seed=0))
    bits: dict[str, set[int]] = {"logicnets": set(), "hgq": set()}
    for _ in range(30):
        trial = study.ask()
        cfg = space.sample(trial)
        bits[cfg["family"]].add(cfg["params"]["input_bits"])
        hgq = cfg["family"] == "hgq"
        assert ("input_bits" in trial.params, "hgq.input_bits" in trial.params) == (not hgq, hgq)
        study.tell(trial, [0.5, 1.0])
    assert bits["logicnets"] <= {2, 3} and bits["hgq"] <= {6, 7, 8}
    assert bits["logicnets"] and bits["hgq"]


BAD = [
    ("unknown top-level key", {"datset": {"name": "digits"}}, "unknown key 'datset'; allowed:"),
    ("unknown model key", {"model": {"famly": "x"}}, "model: unknown key 'famly'; allowed: family, params, when"),
    ("wrong type", {"seed": "zero"}, "seed: expected an integer"),
    (
        "range wrong type",
        {"model": {"params": {"input_bits": {"int": ["a", 3]}}}},
        "model.params.input_bits.int: expected a number",
    ),
    ("empty range", {"train": {"lr": {"float": [0.01, 0.01]}}}, "train.lr.float: empty range"),
    (
        "low > high",
        {"model": {"params": {"input_bits": {"int": [4, 2]}}}},
        "model.params.input_bits.int: low 4 > high 2",
    ),
    (
        "log with low <= 0",
        {"train": {"lr": {"float": [0.0, 0.1], "log": True}}},
        "train.lr.float: a log range needs low > 0",
    ),
    (
        "empty categorical",
        {"model": {"params": {"fan_in": {"choices": []}}}},
        "model.params.fan_in.choices: a categorical needs a non-empty list",
    ),
    ("unknown family", {"model": {"family": "tinylut"}}, "model.family: unknown family 'tinylut'; allowed: "),
    (
        "unknown sampler",
        {"sampler": {"name": "bayes"}},
        "sampler.name: unknown sampler 'bayes'; allowed: tpe, nsga2, nsga3, gp, random",
    ),
    (
        "unknown sampler option",
        {"sampler": {"name": "tpe", "options": {"n_startup": 3}}},
        "sampler.options.n_startup: not an option of TPESampler; allowed:",
    ),
    ("unknown dataset", {"dataset": {"name": "cifar"}}, "dataset.name: unknown dataset 'cifar'; allowed: "),
    ("unknown dataset option", {"dataset": {"options": {"colour": True}}}, "dataset.options: unknown key 'colour'"),
    (
        "unknown objective",
        {"objectives": ["accuracy", "power"]},
        "objectives[1].name: unknown objective 'power'; allowed: ",
    ),
    (
        "bad direction",
        {"objectives": [{"name": "luts", "direction": "down"}]},
        "objectives[0].direction: 'down'; allowed: maximize, minimize",
    ),
    (
        "unknown backend",
        {"objectives": [{"name": "luts", "via": "oracle"}]},
        "objectives[0].via: objective 'luts' has no backend 'oracle'",
    ),
    ("bad constraint", {"constraints": ["luts less than 5"]}, "constraints[0]: expected 'metric <=|>=|<|> number'"),
    (
        "constraint on unknown metric",
        {"constraints": ["watts <= 5"]},
        "constraints[0]: unknown metric 'watts'; allowed:",
    ),
    (
        "unknown knob",
        {"model": {"params": {"widths": [8], "colour": 3}}},
        "model.params.colour: not a knob of family 'logicnets'",
    ),
    ("unknown train key", {"train": {"epoch": 3}}, "train: unknown key 'epoch'; allowed: "),
    ("bad val fraction", {"dataset": {"val_fraction": 1.5}}, "dataset.val_fraction: expected a number in (0, 1)"),
    ("missing required knob", {"model": {"params": {"widths": None}}}, "model.params.widths"),
    (
        "two forms",
        {"model": {"params": {"fan_in": {"int": [1, 2], "choices": [1]}}}},
        "model.params.fan_in: a parameter mapping needs exactly one of",
    ),
    (
        "knob value not a choice",
        {"model": {"params": {"connectivity": "bogus"}}},
        "model.params.connectivity: 'bogus' is not allowed; allowed: random, sparselut (family 'logicnets')",
    ),
    (
        "categorical knob value",
        {"model": {"params": {"connectivity": {"choices": ["random", "dense"]}}}},
        "model.params.connectivity: 'dense' is not allowed; allowed: random, sparselut",
    ),
    (
        "knob value of the wrong type",
        {"model": {"params": {"fan_in": "four"}}},
        "model.params.fan_in: 'four' is not an integer (family 'logicnets')",
    ),
    (
        "float range on an int knob",
        {"model": {"params": {"fan_in": {"float": [1.0, 4.0]}}}},
        "model.params.fan_in: a float range cannot set knob of family 'logicnets' that takes int",
    ),
    (
        "range on a choice knob",
        {"model": {"params": {"connectivity": {"int": [1, 2]}}}},
        "model.params.connectivity: an integer range cannot set knob of family 'logicnets' that takes one of random, sparselut",
    ),
    (
        "per_layer on a scalar knob",
        {"model": {"params": {"fan_in": {"per_layer": {"count": 2, "value": 3}}}}},
        "model.params.fan_in: per_layer makes a list, but family 'logicnets' takes int",
    ),
]


@pytest.mark.parametrize("label,patch,expected", BAD, ids=[b[0] for b in BAD])
def test_malformed_space_one_line_error(tmp_path, label, patch, expected):
    doc = _merge(BASE, patch)
    if label == "missing required knob":
        doc["model"]["params"] = {}
        expected = "model.params.widths: required by family 'logicnets'"
    path = _write(tmp_path, doc)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_missing_file_and_invalid_yaml(tmp_path):
    with pytest.raises(SpaceError, match="no such space file"):
        load_space(tmp_path / "nope.yaml")
    path = _write(tmp_path, "dataset: [unclosed\n")
    with pytest.raises(SpaceError, match=r"line \d+: invalid YAML"):
        load_space(path)
    empty = _write(tmp_path, "", "empty.yaml")
    with pytest.raises(SpaceError, match="empty space file"):
        load_space(empty)


def test_yaml_is_loaded_safely(tmp_path):
    path = _write(tmp_path, "!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpaceError, match="invalid YAML"):
        load_space(path)


def test_cli_prints_one_line_without_traceback(tmp_path):
    path = _write(tmp_path, _merge(BASE, {"sampler": {"name": "bayes"}}))
    proc = subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", "validate", str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("lutsearch: error:")]
    assert len(lines) == 1 and "sampler.name: unknown sampler 'bayes'" in lines[0]
    assert "Traceback" not in proc.stderr


def test_knob_conditioned_block(tmp_path):
    """SparseLUT's T is only sampled when connectivity=sparselut is drawn."""
    doc = _merge(
        BASE,
        {
            "model": {
                "params": {"connectivity": {"choices": ["random", "sparselut"]}},
                "when": {"connectivity=sparselut": {"sparse_T": {"float": [0.1, 0.9]}}},
            }
        },
    )
    space = load_space(_write(tmp_path, doc))
    study = optuna.create_study(directions=space.directions, sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = set()
    for _ in range(16):
        trial = study.ask()
        params = space.sample(trial)["params"]
        drawn.add(params["connectivity"])
        assert ("sparse_T" in params) == (params["connectivity"] == "sparselut")
        assert ("connectivity=sparselut.sparse_T" in trial.params) == (params["connectivity"] == "sparselut")
        study.tell(trial, [0.5, 1.0])
    assert drawn == {"random", "sparselut"}
    bad = _merge(BASE, {"model": {"when": {"colour=red": {"sparse_T": 0.5}}}})
    with pytest.raises(SpaceError, match="model.when.colour=red: 'colour' is not a knob of logicnets"):
        load_space(_write(tmp_path, bad, "bad.yaml"))
