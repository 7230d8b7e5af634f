"""Hardware cost backends by name: the registry, the built-ins, and the third-party example of
docs/architecture.md plugged into a study through a space's ``plugins:`` list."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from helpers import small_space
from optuna.trial import TrialState

from lutsearch.hw import COST_BACKENDS, CostBackend, HardwareReport, find_yosys, get_cost_backend
from lutsearch.hw.yosys import YosysNotFound
from lutsearch.objectives import EvalContext, evaluate_objective, get_objective

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = str(ROOT / "benchmarks")  # published_designs.py
if BENCHMARKS not in sys.path:
    sys.path.append(BENCHMARKS)
from published_designs import random_network


def small_net(seed=0):
    return random_network(
        12, [10, 6, 4], input_bits=2, hidden_bits=2, output_bits=3, input_fan_in=3, fan_in=2, output_fan_in=3, seed=seed
    )


def doc_example() -> str:
    """The cost-backend example of docs/architecture.md (its first python block after the heading)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## Example: a third-party cost backend") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_builtin_backends_return_hardware_reports():
    assert {"analytic", "yosys", "synthesis"} <= set(COST_BACKENDS.names())
    assert get_cost_backend("synthesis") is get_cost_backend("yosys")  # the name spaces use is an alias
    net = small_net()
    rep = get_cost_backend("analytic").estimate(net, pipeline=2)
    assert isinstance(rep, HardwareReport) and rep.estimated and rep.backend == "analytic" and rep.luts > 0
    assert isinstance(get_cost_backend("analytic"), CostBackend)
    for name in ("luts", "lut_depth", "latency_ns", "fmax_mhz"):
        assert {"analytic", "yosys", "synthesis", "surrogate"} <= set(get_objective(name).backends)
        assert get_objective(name).default_backend == "surrogate"  # issue #13: the calibrated surrogate


@pytest.mark.parametrize("mode", ["design", "layer"])
def test_yosys_backend_design_and_unit_modes(mode):
    try:
        find_yosys()
    except YosysNotFound as exc:
        pytest.skip(str(exc))
    net = small_net()
    rep = get_cost_backend("yosys").estimate(net, pipeline=1, mode=mode, cache_dir=False)
    assert isinstance(rep, HardwareReport) and not rep.estimated and rep.mode == mode and rep.luts > 0
    assert len(rep.stage_depths) == len(net.layers)
    ctx = EvalContext(network=net, metrics={})
    assert evaluate_objective("luts", ctx, via="yosys", mode=mode, cache_dir=False) == rep.luts


def test_unknown_backend_is_a_one_line_error():
    with pytest.raises(ValueError) as info:
        get_cost_backend("no_such_backend")
    message = str(info.value)
    assert message == "unknown cost backend 'no_such_backend'; allowed: " + ", ".join(COST_BACKENDS.names())
    assert "\n" not in message and "analytic, " in message
    with pytest.raises(ValueError, match="unknown option 'bogus'"):
        get_cost_backend("yosys").estimate(small_net(), bogus=1)
    with pytest.raises(TypeError, match="not a CostBackend"):
        COST_BACKENDS.register("not_a_backend", object())


def test_third_party_backend_from_plugins_reaches_objective_values(tmp_path):
    from lutsearch.search import RunOptions, run_study
    from lutsearch.space import load_space
    from lutsearch.trial import load_artifact

    plugin = tmp_path / "rom_bits.py"
    plugin.write_text(doc_example())
    path = small_space(tmp_path, "rombits", extra=f"plugins: [{plugin.name}]")
    text = path.read_text().replace(
        "objectives: [accuracy, luts, depth]",
        "objectives: [accuracy, {name: luts, via: rom_bits, options: {bits_per_lut: 32}}, "
        "{name: latency_ns, via: rom_bits}]",
    )
    path.write_text(text.replace('constraints: ["luts <= 100000"]', ""))
    space = load_space(path)  # loads the plug-in: rom_bits is now a backend of every hardware objective
    backend = get_cost_backend("rom_bits")
    assert "rom_bits" in get_objective("luts").backends

    summary = run_study(space, RunOptions(trials=2, workers=1, runs_dir=tmp_path / "runs", executor="inprocess"))
    done = [t for t in summary.handle.study.trials if t.state == TrialState.COMPLETE]
    assert done, [t.user_attrs.get("error") for t in summary.handle.study.trials]
    for t in done:
        network = load_artifact(t.user_attrs["artifact_dir"]).network
        expected = backend.estimate(network, bits_per_lut=32)
        assert expected.luts > 0 and expected.backend == "rom_bits"
        assert t.values[1] == pytest.approx(expected.luts)
        analytic = get_cost_backend("analytic").estimate(network).luts
        assert t.values[1] != pytest.approx(analytic)  # the plug-in's numbers, not the built-in's
        ctx = EvalContext(network=network, metrics={})
        assert t.values[2] == pytest.approx(evaluate_objective("latency_ns", ctx, via="rom_bits"))
