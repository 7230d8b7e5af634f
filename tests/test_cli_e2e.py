"""The user's path through the CLI: run a study (synthesis objectives), status, export with a relative --out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SPACE = """
name: clie2e
seed: 5
dataset: {name: digits, val_fraction: 0.15}
model:
  family: {choices: [logicnets, polylut]}
  params: {widths: [24], input_bits: 2, hidden_bits: 2, output_bits: 3, input_fan_in: 3, fan_in: 3,
           output_fan_in: 3}
  when:
    polylut: {degree: {int: [1, 2]}}
train: {epochs: 2, batch_size: 64, lr: 1.0e-2}
objectives:
  - accuracy
  - {name: luts, via: synthesis, options: {pipeline: 1}}
  - {name: latency_ns, via: synthesis, options: {pipeline: 1}}
constraints: ["luts <= 100000"]
sampler: {name: random}
"""


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def test_run_status_export(tmp_path):
    (tmp_path / "space.yaml").write_text(SPACE)
    run = _cli("run", "space.yaml", "--trials", "2", "--executor", "inprocess", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Pareto front" in run.stdout and "storage: sqlite:///" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "report: lutsearch analyze runs/clie2e --open"
    status = _cli("status", "runs/clie2e", cwd=tmp_path)
    assert status.returncode == 0 and "trials 2/2" in status.stdout and "latency_ns" in status.stdout
    for trial_dir in (tmp_path / "runs" / "clie2e" / "trials").iterdir():
        report = json.loads((trial_dir / "hw_synthesis.json").read_text())  # one synthesis run per trial
        assert report["luts"] > 0 and not report["estimated"]
    export = _cli("export", "runs/clie2e", "--pick", "max-accuracy", "--out", "build/x", cwd=tmp_path)
    assert export.returncode == 0, export.stdout + export.stderr
    report = json.loads((tmp_path / "build" / "x" / "report.json").read_text())
    assert report["verification"]["status"] == "passed"
    assert report["dataset_variant"] == "digits-sklearn" and report["hardware"]["luts"] > 0
    assert (tmp_path / "build" / "x" / "rtl" / "lutnet.v").is_file()
    missing = _cli("export", "runs/clie2e", "--trial", "999", "--out", "build/y", cwd=tmp_path)
    assert missing.returncode == 2 and "has no trial 999" in missing.stderr
    assert "Traceback" not in missing.stderr
