"""Trials on Ray with more than one node: a head and two worker nodes started with ``ray start`` on the
loopback address (different resources), trials spread over them, a worker node killed with kill -9
mid-trial; and a trial that runs out of memory under its memory limit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import small_space
from optuna.trial import TrialState
from ray_processes import free_port, kill_tree, processes, stop_cluster

from lutsearch.search import RunOptions, run_study
from lutsearch.space import load_space

NODE_GATE = """
import os, time
from pathlib import Path
import ray
from lutsearch.objectives import register_objective
def nodegate(ctx, **_):
    # where the trial runs, then hold it until the test opens the gate
    (ctx.workdir / "node.txt").write_text(ray.get_runtime_context().get_node_id())
    flag = Path(os.environ["LUTSEARCH_TEST_GATE"])
    deadline = time.time() + 300
    while not flag.exists() and time.time() < deadline:
        time.sleep(0.1)
    return 0.0
register_objective("nodegate", "minimize", "test", nodegate, default=True)
"""

HOG = """
import numpy as np
from lutsearch.objectives import register_objective
def hog(ctx, **_):
    flag = ctx.workdir.parent / "hogged"
    if not flag.exists():  # the first trial asks for 64 GiB (address space only: nothing is touched)
        flag.write_text("x")
        return float(np.empty(1 << 36, dtype=np.uint8).size)
    return 0.0
register_objective("hog", "minimize", "test", hog, default=True)
"""


def _raylets(temp: Path) -> dict[int, str]:
    """This cluster's raylet processes: pid -> node id."""
    out = {}
    for pid, (_, cmd) in processes().items():
        if str(temp) in cmd and "/raylet/raylet " in cmd:
            out[pid] = cmd.split("--node_id=", 1)[1].split()[0]
    return out


def _start_cluster(temp: Path, port: int, env: dict[str, str], names: dict[str, str], raylet_of: dict[str, int]):
    """A head and two worker nodes on 127.0.0.1 (1 CPU each; resources head, wa, wb), one ``--temp-dir``."""
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats", f"--temp-dir={temp}"]
    nodes = {
        "head": ["--head", "--port", str(port), "--include-dashboard=false", "--resources", '{"head": 1}'],
        "wa": ["--address", f"127.0.0.1:{port}", "--resources", '{"wa": 1}'],
        "wb": ["--address", f"127.0.0.1:{port}", "--resources", '{"wb": 1}'],
    }
    for name, args in nodes.items():
        before = _raylets(temp)
        cmd = ["ray", "start", *args, *common, "--node-name", name]
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=180)
        ((pid, node),) = set(_raylets(temp).items()) - set(before.items())
        names[node], raylet_of[name] = name, pid


@pytest.mark.slow
def test_three_node_cluster_survives_a_dead_worker_node(tmp_path):
    temp = Path(tempfile.mkdtemp(prefix="lsrn", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "PYTHONUNBUFFERED": "1"}
    env["LUTSEARCH_TEST_GATE"] = str(tmp_path / "go")
    subprocess.run(["ray", "get-auth-token", "--generate"], env=env, capture_output=True, timeout=60)
    port = free_port()
    names: dict[str, str] = {}  # node id -> head/wa/wb
    raylet_of: dict[str, int] = {}  # head/wa/wb -> raylet pid
    driver = None
    try:
        _start_cluster(temp, port, env, names, raylet_of)
        (tmp_path / "nodegate.py").write_text(NODE_GATE)
        space = small_space(tmp_path, "nodes", extra="plugins: [nodegate.py]")
        space.write_text(
            space.read_text().replace("objectives: [accuracy, luts, depth]", "objectives: [accuracy, luts, nodegate]")
        )
        cmd = [sys.executable, "-m", "lutsearch.cli", "run", str(space), "--trials", "4", "--workers", "3"]
        cmd += ["--ray-address", f"127.0.0.1:{port}", "--quiet", "--runs-dir", str(tmp_path / "runs")]
        driver = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        trials_dir = tmp_path / "runs" / "nodes" / "trials"
        deadline = time.time() + 300
        while len(list(trials_dir.glob("*/node.txt"))) < 3:  # three trials held at the gate, one per node
            assert driver.poll() is None and time.time() < deadline, driver.stdout.read() if driver.stdout else ""
            time.sleep(0.3)
        placed = {p.parent.name: names[p.read_text()] for p in trials_dir.glob("*/node.txt")}
        assert sorted(placed.values()) == ["head", "wa", "wb"], placed  # spread over the three nodes
        kill_tree({raylet_of["wa"]})  # worker node wa dies (raylet and its workers) mid-trial
        (tmp_path / "go").touch()
        out = driver.communicate(timeout=600)[0]
        assert driver.returncode == 0, out
        from lutsearch.search import load_existing_study

        study = load_existing_study(tmp_path / "runs" / "nodes").study
        trials = study.get_trials(deepcopy=False)
        assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)], out  # no zombie
        assert all(t.state == TrialState.COMPLETE or t.user_attrs.get("error") for t in trials)
        killed = next(int(n) for n, node in placed.items() if node == "wa")
        moved = trials[killed]
        assert moved.state == TrialState.FAIL or names[moved.user_attrs["ray_node"]] != "wa"  # retried elsewhere
        ran_on = {names.get(t.user_attrs.get("ray_node", ""), "?") for t in trials if t.state == TrialState.COMPLETE}
        assert {"head", "wb"} <= ran_on
        print(json.dumps({"trials": [(t.number, t.state.name, t.user_attrs.get("host")) for t in trials]}))
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
        stop_cluster(temp)  # only this cluster's processes, not any other Ray on the machine


def test_worker_out_of_memory_is_a_failed_trial(tmp_path):
    """A trial whose worker allocates beyond ``memory_per_trial_mb`` fails with ``out of memory: ...`` in
    one line; the next trial trains and the study reaches its target."""
    import ray

    (tmp_path / "hog.py").write_text(HOG)
    path = small_space(tmp_path, "oom", extra="plugins: [hog.py]")
    path.write_text(
        path.read_text().replace("objectives: [accuracy, luts, depth]", "objectives: [accuracy, luts, hog]")
    )
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        options = RunOptions(trials=2, runs_dir=tmp_path / "runs", executor="ray", memory_per_trial_mb=1024)
        summary = run_study(load_space(path), options)
    finally:
        ray.shutdown()
    first, second = summary.handle.study.get_trials(deepcopy=False)
    assert first.state == TrialState.FAIL
    error = first.user_attrs["error"]
    assert error.startswith("out of memory (limit 1024 MiB per trial): MemoryError") and "\n" not in error
    assert second.state == TrialState.COMPLETE and summary.done == 2
    assert second.user_attrs["ray_node"] and second.user_attrs["host"] == socket.gethostname()
