"""Export refuses a trial folder it cannot trust (issue #16, parts 4 and 6): the study records the hash of
each trial's ``tables.npz``; export recomputes it and refuses altered, truncated or missing files with an
``ExportError`` naming the file, before any RTL is written; ``model.pt`` is read with
``torch.load(weights_only=True)``, so a pickle that would run code is refused, not run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lutsearch.cli import main
from lutsearch.export import ExportError, export_design
from lutsearch.search import RunOptions, run_study
from lutsearch.space import load_space
from lutsearch.tables import TruthTableNetwork

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SPACE = """
name: integrity
seed: 5
dataset: {name: digits, val_fraction: 0.15}
model:
  family: logicnets
  params: {widths: [16], input_bits: 1, hidden_bits: 2, output_bits: 2, input_fan_in: 3, fan_in: 3, output_fan_in: 3}
train: {epochs: 1, batch_size: 64, lr: 1.0e-2, min_steps: 0, min_batches: 1}
objectives: [accuracy, {name: luts, via: analytic}]
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real trial of a tiny digits study (in-process): the study folder and the trial's folder."""
    tmp = tmp_path_factory.mktemp("integrity")
    (tmp / "integrity.yaml").write_text(SPACE)
    space = load_space(tmp / "integrity.yaml")
    summary = run_study(space, RunOptions(trials=1, runs_dir=tmp / "runs", executor="inprocess"))
    trial = summary.handle.study.trials[0]
    assert trial.state.name == "COMPLETE", trial.user_attrs.get("error")
    return tmp / "runs" / "integrity", Path(trial.user_attrs["artifact_dir"]), trial.user_attrs["tables_sha256"]


@pytest.fixture
def folder(trained):
    """The trial folder, restored after each test (the tests damage it)."""
    study_dir, art, _ = trained
    backup = art.parent / "backup"
    shutil.copytree(art, backup)
    yield art
    shutil.rmtree(art)
    backup.rename(art)


def _export(study_dir: Path, out: Path) -> dict:
    return export_design(study_dir, out, trial=0, simulate=False, synthesize=False)


def test_recorded_hash_is_the_tables_and_travels_with_the_export(trained, folder, tmp_path):
    study_dir, _, recorded = trained
    assert json.loads((folder / "metrics.json").read_text())["tables_sha256"] == recorded
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*.tmp"))  # atomic writes leave no temp file
    report = _export(study_dir, tmp_path / "out")
    assert report["tables_sha256"] == recorded and report["tables_check"] == "matches the study's record"
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["tables_sha256"] == recorded
    assert recorded in (tmp_path / "out" / "report.md").read_text()


def _altered_tables(folder: Path) -> None:
    """A valid tables.npz whose first table entry differs: a different design."""
    net = TruthTableNetwork.load(folder / "tables.npz")
    layer = net.layers[0]
    layer.tables.reshape(-1)[0] = (int(layer.tables.reshape(-1)[0]) + 1) % (1 << layer.out_bits)
    net.save(folder / "tables.npz")


def _truncated(name: str):
    def damage(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])

    return damage


def _missing(name: str):
    return lambda folder: (folder / name).unlink()


def _garbage(name: str):
    return lambda folder: (folder / name).write_bytes(b"\x00not what it should be\xff" * 8)


CASES = [
    ("altered-tables", _altered_tables, "tables.npz", "does not match"),
    ("truncated-tables", _truncated("tables.npz"), "tables.npz", "does not match"),
    ("missing-tables", _missing("tables.npz"), "tables.npz", "no artifact folder with tables.npz"),
    ("missing-metrics", _missing("metrics.json"), "metrics.json", "did not finish saving"),
    ("missing-model", _missing("model.pt"), "model.pt", "missing"),
    ("truncated-model", _truncated("model.pt"), "model.pt", "cannot load the trained model"),
    ("garbage-model", _garbage("model.pt"), "model.pt", "cannot load the trained model"),
    ("garbage-config", _garbage("config.json"), "config.json", "cannot read it as JSON"),
    ("truncated-metrics", _truncated("metrics.json"), "metrics.json", "cannot read it as JSON"),
]


@pytest.mark.parametrize("damage, name, problem", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_damaged_trial_folder_is_refused_before_any_rtl(trained, folder, tmp_path, damage, name, problem):
    damage(folder)
    out = tmp_path / "out"
    with pytest.raises(ExportError, match=problem) as info:
        _export(trained[0], out)
    assert name in str(info.value) and "\n" not in str(info.value)
    assert not out.exists()  # no RTL, no tables, no report: never a wrong design


def test_cli_export_of_altered_tables_is_one_line(trained, folder, tmp_path, capsys):
    _altered_tables(folder)
    argv = ["export", str(trained[0]), "--trial", "0", "--out", str(tmp_path / "out"), "--no-simulate"]
    assert main([*argv, "--no-synthesize"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tables.npz" in err[0] and "refusing to export" in err[0], err
    assert not (tmp_path / "out").exists()


class _Payload:
    """Unpickling this with ``weights_only=False`` would write a file (code run from a model file)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (Path(self.target).write_text, ("pwned",))


def test_model_file_with_code_is_refused_not_run(trained, folder, tmp_path):
    import torch

    marker = tmp_path / "ran.txt"
    torch.save({"weights": _Payload(str(marker))}, folder / "model.pt")
    with pytest.raises(ExportError, match="model.pt: cannot load the trained model"):
        _export(trained[0], tmp_path / "out")
    assert not marker.exists()


def test_tables_load_refuses_pickled_objects(tmp_path):
    """TruthTableNetwork.load reads with allow_pickle=False: an object array in tables.npz is refused."""
    np.savez(tmp_path / "t.npz", header=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        TruthTableNetwork.load(tmp_path / "t.npz")


def _calls(name: str):
    """Every call ``<module>.<name>(...)`` in the package's source: (file, line, call node)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "lutsearch"
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                yield f"{path.relative_to(root)}:{node.lineno}", node


def _keyword(node, name: str):
    import ast

    for kw in node.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


def test_every_load_in_the_package_is_safe():
    """torch.load with weights_only=True, numpy's load never with allow_pickle=True, YAML only safe_load."""
    torch_loads = [(where, n) for where, n in _calls("load") if getattr(n.func.value, "id", "") == "torch"]
    assert torch_loads and all(_keyword(n, "weights_only") is True for _, n in torch_loads), torch_loads
    assert all(
        _keyword(n, "allow_pickle") is not True for _, n in _calls("load") if getattr(n.func.value, "id", "") == "np"
    )
    yaml_loads = [where for where, n in _calls("load") if getattr(n.func.value, "id", "") == "yaml"]
    assert yaml_loads == [], yaml_loads
