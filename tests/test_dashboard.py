"""`lutsearch dashboard`: optuna-dashboard served over HTTP on a small real study, stopped by a signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from helpers import small_space

from lutsearch.search import RunOptions, run_study
from lutsearch.space import load_space


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash")
    run_study(load_space(small_space(tmp, "dash")), RunOptions(trials=1, runs_dir=tmp / "runs", executor="inprocess"))
    return tmp / "runs" / "dash"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, deadline: float) -> str:
    """The body of ``url``, retried while the server starts (until ``deadline``)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sigint", ["default", "inherited ignored"])
def test_dashboard_serves_the_study(study_dir, sigint):
    """Served, then stopped by Ctrl-C; also when started with SIGINT ignored, as a background job of a
    script or CI starts it (Python would otherwise leave it ignored and Ctrl-C would never stop it)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lutsearch.cli", "dashboard", str(study_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_ignore_sigint if sigint != "default" else None,
    )
    try:
        deadline = time.monotonic() + 60
        studies = json.loads(_get(f"http://127.0.0.1:{port}/api/studies", deadline))
        assert "dash" in [s["study_name"] for s in studies["study_summaries"]]
        page = _get(f"http://127.0.0.1:{port}/dashboard", deadline)
        assert "<html" in page.lower()
        url = proc.stdout.readline()  # printed before the server starts
        assert f"http://127.0.0.1:{port}/dashboard/studies/" in url, url
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, proc.stderr.read()


def test_dashboard_busy_port_is_one_line(study_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "lutsearch.cli", "dashboard", str(study_dir), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2 and f"cannot serve on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
