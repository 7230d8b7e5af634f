"""Helpers for tests with several driver processes on one study: a plug-in objective that holds every
trial at a gate until the test opens it, the CLI as a subprocess, polling the study."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
from helpers import small_space

from lutsearch.search._liveness import DRIVER
from lutsearch.search._storage import journal_path, make_storage
from lutsearch.search._study import running_trials

TARGET = 4

GATE = """
import os, time
from pathlib import Path
from lutsearch.objectives import register_objective
def gate(ctx, **_):
    # holds every trial until the test opens the gate (a file): other drivers start while it runs
    flag = Path(os.environ["LUTSEARCH_TEST_GATE"])
    deadline = time.time() + 300
    while not flag.exists() and time.time() < deadline:
        time.sleep(0.1)
    return 0.0
register_objective("gate", "minimize", "test", gate, default=True)
"""


def gated_space(tmp_path: Path, name: str) -> Path:
    (tmp_path / "gate.py").write_text(GATE)
    path = small_space(tmp_path, name, extra="plugins: [gate.py]")
    text = path.read_text().replace("objectives: [accuracy, luts, depth]", "objectives: [accuracy, luts, gate]")
    path.write_text(text)
    return path


def cli(space: Path, storage: str, runs: Path, *extra: str, gate: Path | None = None) -> subprocess.Popen:
    """``lutsearch run`` on ``storage`` in the background (in-process trials), output captured as text."""
    cmd = [sys.executable, "-m", "lutsearch.cli", "run", str(space), "--trials", str(TARGET)]
    cmd += ["--executor", "inprocess", "--quiet", "--runs-dir", str(runs), "--storage", storage, *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env["LUTSEARCH_TEST_GATE"] = str(gate or space.parent / "go")
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def load(storage: str, name: str) -> optuna.Study | None:
    """The study, or None while it does not exist yet."""
    path = journal_path(storage) or (Path(storage.removeprefix("sqlite:///")) if "sqlite" in storage else None)
    if path is not None and not path.exists():
        return None
    try:
        return optuna.load_study(study_name=name, storage=make_storage(storage))
    except KeyError:
        return None


def wait_for(
    storage: str, name: str, procs: list[subprocess.Popen], ready: Callable[[optuna.Study], bool], what: str
) -> optuna.Study:
    """Poll the study until ``ready(study)``; fail at once if a driver exits first."""
    deadline = time.time() + 300
    while time.time() < deadline:
        study = load(storage, name)
        if study is not None and ready(study):
            return study
        for p in procs:
            if p.poll() is not None:
                out, err = p.communicate()
                raise AssertionError(f"a driver exited ({p.returncode}) before {what}: {out}{err}")
        time.sleep(0.2)
    raise AssertionError(f"never {what}")


def owned_running(study: optuna.Study) -> int:
    """Trials running with an owner (past the pre-training checks, in training)."""
    return sum(DRIVER in t.user_attrs for t in running_trials(study))


def drivers(study: optuna.Study) -> list[str]:
    return [k for k in study.user_attrs if k.startswith("driver:")]


def two_drivers_mid_trial(tmp_path: Path, storage: str, name: str):
    """Driver 1 with a trial running (held at the gate), then driver 2 started and past its start-up
    (its own trial running too). Returns both processes, the study and the gate file."""
    space = gated_space(tmp_path, name)
    first = cli(space, storage, tmp_path / "runs")
    wait_for(storage, name, [first], lambda s: owned_running(s) == 1, "a running trial")
    second = cli(space, storage, tmp_path / "runs")
    study = wait_for(storage, name, [first, second], lambda s: owned_running(s) == 2, "two running trials")
    return first, second, study, tmp_path / "go"
