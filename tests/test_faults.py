"""Injected faults, each recorded as a failed trial with a one-line reason while the study goes on (issue
#16, part 4). Every fault is real: a learning rate that makes the loss NaN, a real Yosys run past a real
timeout, a real file-size limit (``RLIMIT_FSIZE``: writes past it fail with ``EFBIG``) while a trial saves.
Each scenario counts the trials lost (asked of the study but not recorded as finished) and the processes
left behind (zombie children, or any process still working in the test's folders): both must be 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import sys
from pathlib import Path

import optuna
import pytest

from lutsearch.search import InProcessExecutor, RunOptions, run_study
from lutsearch.space import load_space

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SPACE = """
name: {name}
seed: {seed}
dataset: {{name: digits, val_fraction: 0.15}}
model:
  family: logicnets
  params:
    widths: {widths}
    input_bits: 1
    hidden_bits: 2
    output_bits: 2
    input_fan_in: 3
    fan_in: 3
    output_fan_in: 3
train: {{epochs: 1, batch_size: 64, lr: {lr}, min_steps: 0, min_batches: 1}}
objectives: [accuracy, {luts}]
sampler: {{name: random}}
"""


def _space(tmp_path: Path, name: str, *, seed=0, widths="[16]", lr="1.0e-2", luts="{name: luts, via: analytic}"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPACE.format(name=name, seed=seed, widths=widths, lr=lr, luts=luts))
    return load_space(path)


def _run(space, tmp_path: Path, trials: int) -> optuna.Study:
    return run_study(space, RunOptions(trials=trials, runs_dir=tmp_path / "runs", executor="inprocess")).handle.study


def _lost(study: optuna.Study) -> int:
    """Trials asked of the study that did not end COMPLETE, PRUNED or FAIL (left RUNNING or WAITING)."""
    finished = {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL}
    return sum(t.state not in finished for t in study.trials)


def _left_behind(root: Path) -> list[str]:
    """Zombie children of this process, and processes (other than this one) whose working folder is under
    ``root``: what a fault may leave behind. Reads /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if (state == "Z" and int(ppid) == os.getpid()) or cwd.startswith(str(root)):
            found.append(f"{entry.name} {state} {stat.split()[1]} in {cwd}")
    return found


def _one_line_errors(study: optuna.Study) -> list[str]:
    errors = [t.user_attrs.get("error", "") for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert all(e and "\n" not in e for e in errors), errors
    return errors


pytestmark = [pytestmark, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]


def test_nan_loss_fails_the_trial_and_the_study_goes_on(tmp_path):
    # lr 1e30 makes the loss NaN within the first steps (real divergence); lr 1e-2 trains. The space's
    # seed 10 draws 1e30 first, then 1e-2: the study goes on after the failure.
    space = _space(tmp_path, "nan", seed=10, lr="{choices: [1.0e+30, 1.0e-2]}")
    study = _run(space, tmp_path, trials=2)
    errors = _one_line_errors(study)
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "COMPLETE"], states
    for error in errors:
        assert re.fullmatch(
            r"TrainingDiverged: loss became NaN at epoch \d+ step \d+ \(lower the learning rate\?\)", error
        )
    diverged = [t for t in study.trials if t.state.name == "FAIL"]
    assert all(t.params["train.lr"] > 1 for t in diverged)
    assert not (Path(diverged[0].user_attrs["artifact_dir"]) / "metrics.json").exists()
    print(
        f"NaN loss: {len(errors)} of {len(states)} trials failed; trials lost {_lost(study)}, "
        f"left behind {len(_left_behind(tmp_path))}"
    )
    assert _lost(study) == 0 and _left_behind(tmp_path) == []


SLOW_SCRIPT = """@READ@
hierarchy -top @TOP@
! sleep 60
"""


def test_synthesis_timeout_kills_yosys_and_its_children(tmp_path):
    """A real Yosys (the native build: its `!` runs a shell child) past a 1 s timeout: the trial fails with
    one line, Yosys and the `sleep` it started are killed, the study goes on."""
    if shutil.which("yosys") is None:
        pytest.skip("the native yosys is not installed")
    script = tmp_path / "slow.ys"
    script.write_text(SLOW_SCRIPT)
    work = tmp_path / "synth"
    options = f"{{mode: design, tool: yosys, script: {script}, timeout: 1, cache_dir: false, workdir: {work}}}"
    space = _space(tmp_path, "timeout", luts=f"{{name: luts, via: synthesis, options: {options}}}")
    study = _run(space, tmp_path, trials=2)
    errors = _one_line_errors(study)
    assert len(errors) == 2, [t.state.name for t in study.trials]
    for error in errors:
        assert error == f"YosysTimeout: Yosys exceeded its 1 s limit (timeout) in {work}", error
    left = _left_behind(tmp_path)
    print(f"synthesis timeout: {len(errors)} trials failed; trials lost {_lost(study)}, left behind {len(left)}")
    assert _lost(study) == 0 and left == []


@contextlib.contextmanager
def _file_size_limit(limit: int):
    """Every file write past ``limit`` bytes fails with EFBIG (as on a full disk) while inside."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel's SIGXFSZ ends the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


class _FullDiskWorker(InProcessExecutor):
    """The in-process executor whose worker (this process, while it runs a trial) cannot write a file past
    ``limit`` bytes: a real OS limit, like a worker on a full disk; the driver writes its study unlimited."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def submit(self, config, artifact_dir, rung=None):
        with _file_size_limit(self.limit):
            return super().submit(config, artifact_dir, rung)


def test_full_disk_during_save_fails_the_trial_and_nothing_half_written_is_done(tmp_path, monkeypatch):
    """A worker that cannot write past 4 KB: config.json and progress.json fit, model.pt (~10 KB) does not.
    The trials fail with one line naming the file, their folders hold no model.pt, no marker (metrics.json)
    and no temporary file; resumed on a healthy worker, the study trains the next trial and still counts
    the failed ones as failed, not done."""
    monkeypatch.setenv("LUTSEARCH_NATIVE", "torch")  # no kernel is compiled under the limit
    space = _space(tmp_path, "disk", widths="[64]")
    options = RunOptions(trials=2, runs_dir=tmp_path / "runs", executor="inprocess")
    study = run_study(space, options, executor=_FullDiskWorker(4096)).handle.study
    errors = _one_line_errors(study)
    assert len(errors) == 2, [t.state.name for t in study.trials]
    for error in errors:
        assert re.fullmatch(r"ArtifactWriteError: cannot save model\.pt in \S+: File too large \(errno 27\)", error)
    failed = [Path(t.user_attrs["artifact_dir"]) for t in study.trials]
    for folder in failed:
        assert sorted(p.name for p in folder.iterdir()) == ["config.json", "error.txt", "progress.json"]
    lost, left = _lost(study), _left_behind(tmp_path)

    study = _run(space, tmp_path, trials=3)  # resume, disk space back
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "FAIL", "COMPLETE"], states
    assert all(not (folder / "metrics.json").exists() for folder in failed)
    assert (Path(study.trials[2].user_attrs["artifact_dir"]) / "metrics.json").is_file()
    print(
        f"full disk: 2 trials failed, then 1 completed on resume; trials lost {lost + _lost(study)}, "
        f"left behind {len(left)}"
    )
    assert lost == 0 and _lost(study) == 0 and left == []
