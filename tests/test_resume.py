"""Kill -9 the driver mid-trial, run the same command again: nothing finished is lost or repeated."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from lutsearch.search._liveness import DRIVER

SPACE = """
name: killme
seed: 1
dataset: {name: digits}
model:
  family: logicnets
  params: {widths: [64, 32], input_fan_in: 4, fan_in: 4, output_fan_in: 4, input_bits: {int: [1, 2]},
           hidden_bits: {int: [1, 3]}}
train: {epochs: 12, batch_size: 32}
objectives: [accuracy, luts]
sampler: {name: random}
"""


def _trials(url: str):
    try:
        return optuna.load_study(study_name="killme", storage=url).get_trials(deepcopy=False)
    except Exception:  # the driver has not created the study yet
        return []


def _wait_for_a_finished_and_a_running_trial(proc: subprocess.Popen, url: str, finished: bool = True) -> None:
    """One trial done (unless not ``finished``), the next running and owned (an ownerless one waits out the
    grace period)."""
    deadline = time.time() + 300
    while time.time() < deadline:
        trials = _trials(url)
        if (not finished or any(t.state == TrialState.COMPLETE for t in trials)) and any(
            t.state == TrialState.RUNNING and DRIVER in t.user_attrs for t in trials
        ):
            time.sleep(1.0)
            return
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.3)
    raise AssertionError("the study never had a finished and a running trial")


def _command(tmp_path: Path) -> list[str]:
    space = tmp_path / "killme.yaml"
    space.write_text(SPACE)
    return [
        sys.executable,
        "-m",
        "lutsearch.cli",
        "run",
        str(space),
        "--trials",
        "3",
        "--quiet",
        "--runs-dir",
        str(tmp_path / "runs"),
    ]


def test_kill_minus_nine_then_resume(tmp_path):
    cmd = _command(tmp_path)
    url = f"sqlite:///{tmp_path / 'runs' / 'killme' / 'study.db'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        _wait_for_a_finished_and_a_running_trial(proc, url)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {t.number: (t.params, t.values) for t in _trials(url) if t.state == TrialState.COMPLETE}
    interrupted = [t for t in _trials(url) if t.state == TrialState.RUNNING]
    assert before and len(interrupted) == 1

    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "recovered interrupted trials" in rerun.stdout
    trials = _trials(url)
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    reused = [t for t in trials if "repeat_of" in t.user_attrs]  # a draw of a trained design (_repeats)
    assert all(t.state == TrialState.PRUNED and t.user_attrs["pruned_before_training"] for t in reused)
    requeued = [t for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("requeued")]
    counted = [t for t in trials if t not in reused + requeued]
    assert len(counted) == 3 and all(t.state == TrialState.COMPLETE for t in counted)
    for number, (params, values) in before.items():  # finished trials kept, unchanged
        assert trials[number].params == params and trials[number].values == values
    killed = trials[interrupted[0].number]
    assert killed.state == TrialState.FAIL and killed.user_attrs["requeued"] is True
    retried = [t for t in trials if t.user_attrs.get("retry_of") == killed.number]
    assert len(retried) == 1 and retried[0].params == killed.params and retried[0].user_attrs["retries"] == 1
    # no finished trial repeated: every complete trial number appears once, each artifact folder is its own
    dirs = [t.user_attrs["artifact_dir"] for t in counted]
    assert len(set(dirs)) == 3 and all((Path(d) / "tables.npz").is_file() for d in dirs)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_stops_a_run_started_as_a_background_job(tmp_path):
    """``kill -INT`` stops a run even when it inherited SIGINT ignored (a background job of a script or CI):
    exit 130 with one line saying how to resume, the running trial recorded FAIL and re-queued."""
    url = f"sqlite:///{tmp_path / 'runs' / 'killme' / 'study.db'}"
    proc = subprocess.Popen(
        _command(tmp_path),
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_ignore_sigint,
    )
    try:
        _wait_for_a_finished_and_a_running_trial(proc, url, finished=False)
        running = [t.number for t in _trials(url) if t.state == TrialState.RUNNING]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):  # Ray's processes, if any outlived the driver
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 130, out.decode()
    assert "interrupted: running trials were recorded as failed and re-queued" in out.decode()
    trials = _trials(url)
    for number in running:
        assert trials[number].state == TrialState.FAIL and trials[number].user_attrs["requeued"] is True
        waiting = [t for t in trials if t.user_attrs.get("retry_of") == number]
        assert len(waiting) == 1 and waiting[0].state == TrialState.WAITING
