"""Trials on Ray: a 2-worker local study, a worker that dies (retried once, then FAIL), a cluster by address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import small_space
from optuna.trial import TrialState
from ray_processes import free_port, stop_cluster

from lutsearch.search import RunOptions, run_study
from lutsearch.space import load_space
from lutsearch.trial import load_artifact


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (RayExecutor joins it and leaves it running)."""
    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_two_worker_study_on_local_ray(tmp_path, local_ray):
    space = load_space(small_space(tmp_path, "e2e", max_luts=2500))
    summary = run_study(space, RunOptions(trials=5, workers=2, runs_dir=tmp_path / "runs", executor="ray"))
    study = summary.handle.study
    assert summary.done == 5
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 5 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert study.metric_names == ["accuracy", "luts", "depth"]
    assert (tmp_path / "runs" / "e2e" / "study.db").is_file()
    assert (tmp_path / "runs" / "e2e" / "space.yaml").is_file()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete
    pids = set()
    for t in complete:
        attrs = t.user_attrs
        assert set(attrs) >= {"val_acc", "test_acc", "dataset_variant", "artifact_dir", "train_seconds"}
        assert attrs["dataset_variant"] == "digits-sklearn"
        assert t.values[0] == attrs["val_acc"]  # the objective is validation accuracy, never test
        assert t.constraints == {"luts <= 2500": pytest.approx(t.values[1] - 2500)}
        pids.add(attrs["worker_pid"])
    spans = sorted((t.datetime_start, t.datetime_complete) for t in complete)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "2 workers never ran trials at the same time"
    assert len(pids) == 2
    front = study.best_trials
    assert front, "feasible Pareto front is empty"
    assert all(t.values[1] <= 2500 for t in front)
    for t in front:
        art = load_artifact(t.user_attrs["artifact_dir"])
        assert art.config["family"] == "logicnets" and art.config["trial"] == t.number
        model = art.build_model()
        data = art.load_data()
        codes = model.input_codes(data.X_val)
        assert np.array_equal(model.predict_codes(codes), art.network.evaluate(codes))
        assert float((art.network.predict(codes) == data.y_val).mean()) == pytest.approx(t.values[0])
        assert json.loads((Path(t.user_attrs["artifact_dir"]) / "metrics.json").read_text())["quantizer_scales"]


def test_dead_worker_is_retried_once_then_failed(tmp_path, local_ray):
    plugin = tmp_path / "crash.py"
    plugin.write_text(
        "import os\n"
        "from lutsearch.objectives import register_objective\n"
        "def crash(ctx, **_):\n"
        "    with open(ctx.workdir / 'attempts.txt', 'a') as f:\n"
        "        f.write('x')\n"
        "    os._exit(3)  # the worker process dies, as on a segfault or an OOM kill\n"
        "register_objective('crash', 'minimize', 'test', crash, default=True)\n"
    )
    path = small_space(tmp_path, "crash", extra=f"plugins: [{plugin.name}]")
    path.write_text(
        path.read_text()
        .replace("objectives: [accuracy, luts, depth]", "objectives: [accuracy, crash]")
        .replace('constraints: ["luts <= 100000"]', "")
    )
    summary = run_study(load_space(path), RunOptions(trials=1, runs_dir=tmp_path / "runs", executor="ray"))
    (trial,) = summary.handle.study.trials
    assert trial.state == TrialState.FAIL
    assert "ray task failed" in trial.user_attrs["error"]
    assert (Path(trial.user_attrs["artifact_dir"]) / "attempts.txt").read_text() == "xx"  # ran, retried once


def _start_ray_head(port: str, env: dict[str, str], temp: Path) -> None:
    """A local Ray head on ``port`` (2 CPUs, no dashboard), as a separate cluster this process does not own,
    its processes marked by ``temp`` (``stop_cluster``)."""
    subprocess.run(
        [
            "ray",
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=180,
    )


def _cli_run(space: Path, args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """``lutsearch run <space> <args>`` in a fresh interpreter, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", "run", str(space), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.mark.slow
def test_join_existing_cluster_by_address(tmp_path):
    port = str(free_port())
    temp = Path(tempfile.mkdtemp(prefix="lsrh", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    # Ray >= 2.5x clusters may require token authentication; the head and the client share the token.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
    subprocess.run(["ray", "get-auth-token", "--generate"], env=env, capture_output=True, timeout=60)
    try:
        _start_ray_head(port, env, temp)
        space = small_space(tmp_path, "cluster")
        proc = _cli_run(
            space,
            [
                "--trials",
                "2",
                "--workers",
                "2",
                "--ray-address",
                f"127.0.0.1:{port}",
                "--quiet",
                "--runs-dir",
                str(tmp_path / "runs"),
            ],
            env,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "ray (127.0.0.1:" in proc.stdout and "trials 2/2" in proc.stdout
        bad = _cli_run(
            space,
            ["--trials", "1", "--ray-address", "127.0.0.1:1", "--runs-dir", str(tmp_path / "runs2")],
            env,
            timeout=300,
        )
        assert bad.returncode == 2 and "no Ray cluster answers at 127.0.0.1:1" in bad.stderr
        assert "Traceback" not in bad.stderr
    finally:
        stop_cluster(temp)  # this cluster only: `ray stop --force` would also stop a study's Ray on the machine
