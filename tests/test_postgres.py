"""Studies on a real PostgreSQL server (a throwaway one started here; tests/pg_server.py): two drivers at
once, kill -9 of a driver then resume, the server restarted mid-study; the password is never printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import psycopg2
import pytest
import sqlalchemy
from multidriver import TARGET, cli, drivers, gated_space, load, owned_running, two_drivers_mid_trial, wait_for
from optuna.trial import TrialState
from pg_server import PostgresServer, find_bindir

from lutsearch.search._storage import RetryingRDBStorage, make_storage
from lutsearch.search._study import running_trials


@pytest.fixture(scope="module")
def pg():
    """A PostgreSQL server for the module: ``LUTSEARCH_TEST_POSTGRES``, else a throwaway one."""
    if os.environ.get("LUTSEARCH_TEST_POSTGRES"):
        yield None, os.environ["LUTSEARCH_TEST_POSTGRES"]
        return
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (apt install postgresql) and LUTSEARCH_TEST_POSTGRES unset")
    server = PostgresServer(bindir)
    try:
        server.init()
        yield server, server.url
    finally:
        server.remove()


def _no_secret(password: str, *texts: str, folder: Path | None = None) -> None:
    for text in texts:
        assert password not in text
    for path in folder.rglob("*") if folder else []:
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path


def _password(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def _finished(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in out + err
    return out + err


def test_two_drivers_on_postgres(tmp_path, pg):
    """Two drivers at once on PostgreSQL: nothing failed, the shared target, the password never shown."""
    _, url = pg
    name = f"pair_{os.getpid()}"
    first, second, study, go = two_drivers_mid_trial(tmp_path, url, name)
    assert len(drivers(study)) == 2 and not study.get_trials(states=(TrialState.FAIL,))
    go.touch()
    outs = [_finished(p) for p in (first, second)]
    assert "storage: postgresql" in "".join(outs) and ":***@" in "".join(outs)
    trials = load(url, name).get_trials(deepcopy=False)  # type: ignore[union-attr]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == TARGET
    assert not [t for t in trials if t.state != TrialState.COMPLETE]
    status = subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", "status", "--storage", url, "--study", name],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert status.returncode == 0, status.stderr
    wrong = url.replace(_password(url), "wrong-pass-0000")
    denied = subprocess.run(
        [sys.executable, "-m", "lutsearch.cli", "status", "--storage", wrong, "--study", name],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert denied.returncode == 2 and "Traceback" not in denied.stderr and len(denied.stderr.splitlines()) == 1
    _no_secret(_password(url), *outs, status.stdout, status.stderr, folder=tmp_path)
    _no_secret("wrong-pass-0000", denied.stdout, denied.stderr)


def test_kill_driver_then_resume_on_postgres(tmp_path, pg):
    """kill -9 of the only driver mid-trial; the same command again recovers the trial at once (its driver is
    gone), re-queues it and reaches the target: nothing lost, no zombie."""
    _, url = pg
    name = f"kill_{os.getpid()}"
    space = gated_space(tmp_path, name)
    victim = cli(space, url, tmp_path / "runs")
    wait_for(url, name, [victim], lambda s: owned_running(s) == 1, "a running trial")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    (killed,) = running_trials(load(url, name))  # type: ignore[arg-type]
    (tmp_path / "go").touch()
    out = _finished(cli(space, url, tmp_path / "runs"))
    assert f"recovered interrupted trials [{killed.number}]" in out
    trials = load(url, name).get_trials(deepcopy=False)  # type: ignore[union-attr]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == TARGET
    assert trials[killed.number].user_attrs["requeued"] is True
    assert [t.user_attrs.get("retry_of") for t in trials].count(killed.number) == 1
    _no_secret(_password(url), out, folder=tmp_path)


def test_server_restart_mid_study(tmp_path, pg):
    """The server goes down for a few seconds while a trial runs: the driver waits (bounded retries), goes
    on, and loses no finished trial."""
    server, url = pg
    if server is None:
        pytest.skip("LUTSEARCH_TEST_POSTGRES names a server these tests do not own (cannot restart it)")
    name = f"restart_{os.getpid()}"
    space = gated_space(tmp_path, name)
    proc = cli(space, url, tmp_path / "runs")
    wait_for(url, name, [proc], lambda s: owned_running(s) == 1, "a running trial")
    server.restart(down=4.0)
    (tmp_path / "go").touch()
    out = _finished(proc)
    trials = load(url, name).get_trials(deepcopy=False)  # type: ignore[union-attr]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == TARGET
    assert not [t for t in trials if t.state != TrialState.COMPLETE]  # nothing failed, nothing re-queued
    _no_secret(_password(url), out, folder=tmp_path)


def test_connection_lost_inside_a_query_is_retried(pg):
    """The server drops the storage's connection between the statements of one read (Optuna's
    ``_get_trials`` then falls back to a second query, which fails with ``PendingRollbackError``): the read is
    retried and answers, instead of going up as ``StorageInternalError`` (CI saw this on a server restart)."""
    _, url = pg
    storage = make_storage(url)
    study = optuna.create_study(storage=storage, study_name=f"dropped_{os.getpid()}")
    study.optimize(lambda t: t.suggest_float("a", 0.0, 1.0), n_trials=3)
    assert isinstance(storage, RetryingRDBStorage)
    dropped: list[int] = []

    def drop_own_connection(conn, cursor, statement, params, context, executemany):
        if "FROM trial_values" in statement and not dropped:
            dropped.append(conn.connection.dbapi_connection.info.backend_pid)
            other = psycopg2.connect(url)
            other.autocommit = True
            other.cursor().execute("SELECT pg_terminate_backend(%s)", (dropped[0],))
            other.close()

    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", drop_own_connection)
    try:
        trials = storage._get_trials(study._study_id, None, set(), -1)
    finally:
        sqlalchemy.event.remove(storage.engine, "before_cursor_execute", drop_own_connection)
    assert dropped, "the connection was never dropped: the test did not exercise the fallback"
    assert [t.number for t in trials] == [0, 1, 2]
    assert [t.params["a"] for t in trials] == [t.params["a"] for t in study.trials]
