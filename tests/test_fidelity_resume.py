"""Kill -9 the driver while a trial trains its second rung; the same command resumes that trial from
its rung checkpoint (not from scratch) and finishes it exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

SPACE = """
name: killrung
seed: 2
dataset: {name: digits}
model:
  family: logicnets
  params: {widths: [48], input_fan_in: 4, fan_in: 4, output_fan_in: 4, input_bits: 2, hidden_bits: 2}
train: {epochs: 40, batch_size: 32, min_steps: 0}
objectives: [accuracy, {name: luts, via: surrogate}]
sampler: {name: random}
fidelity: {resource: epochs, min: 2, eta: 10}  # rungs at 2 and 40 epochs: a long second rung to kill in
"""


def _trials(url: str):
    try:
        return optuna.load_study(study_name="killrung", storage=url).get_trials(deepcopy=False)
    except Exception:  # the driver has not created the study yet
        return []


def _in_second_rung(folder: Path) -> bool:
    """The trial finished rung 0 (checkpoint saved) and trained at least one epoch of rung 1."""
    try:
        progress = json.loads((folder / "progress.json").read_text())
    except (OSError, ValueError):
        return False
    return (folder / "checkpoint.pt").is_file() and progress.get("rung") == 1 and 3 <= progress.get("epoch", 0) < 30


def _kill_in_second_rung(cmd, tmp_path: Path, env) -> None:
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    folder = tmp_path / "runs" / "killrung" / "trials" / "0"
    deadline = time.time() + 300
    try:
        while not _in_second_rung(folder):
            assert time.time() < deadline, "trial 0 never reached its second rung"
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_kill_minus_nine_during_a_rung_resumes_from_its_checkpoint(tmp_path):
    space = tmp_path / "killrung.yaml"
    space.write_text(SPACE)
    runs = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "lutsearch.cli",
        "run",
        str(space),
        "--trials",
        "1",
        "--quiet",
        "--runs-dir",
        str(runs),
    ]
    cmd += ["--executor", "inprocess"]
    url = f"sqlite:///{runs / 'killrung' / 'study.db'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    _kill_in_second_rung(cmd, tmp_path, env)
    killed = _trials(url)
    assert [t.state for t in killed] == [TrialState.RUNNING]
    assert [r["rung"] for r in killed[0].user_attrs["rung_values"]] == [0]

    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    trials = _trials(url)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 1 and complete[0].user_attrs["retry_of"] == 0  # finished once, by its re-queued copy
    folder = Path(complete[0].user_attrs["artifact_dir"])
    assert folder == runs.resolve() / "killrung" / "trials" / "0"  # the same folder, its checkpoint
    rung_log = json.loads((folder / "rungs.json").read_text())
    assert [r["rung"] for r in rung_log] == [0, 1]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == 2 and metrics["epochs_run"] == 40  # rung 1 went on from rung 0's end
    assert not (folder / "checkpoint.pt").exists()  # training is over
