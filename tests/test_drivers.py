"""Several drivers on one study (SQLite, JournalStorage): no live trial is failed by another driver, the
target is shared, a dead driver's trial is recovered once; passwords never printed."""

from __future__ import annotations

import os
import signal
import time

import optuna
import pytest
from multidriver import TARGET, drivers, load, two_drivers_mid_trial
from optuna.storages import JournalStorage
from optuna.trial import TrialState

from lutsearch._redact import redact_text, redact_url
from lutsearch.search._liveness import DRIVER, Liveness
from lutsearch.search._storage import RetryingRDBStorage
from lutsearch.search._study import recover_trial, running_trials


def test_redact_url():
    assert redact_url("postgresql://u:s3cr:et@127.0.0.1:5432/db") == "postgresql://u:***@127.0.0.1:5432/db"
    assert redact_url("postgresql+psycopg2://lut:pw@host/db?sslmode=require") == (
        "postgresql+psycopg2://lut:***@host/db?sslmode=require"
    )
    assert redact_url("sqlite:////tmp/x/study.db") == "sqlite:////tmp/x/study.db"
    assert redact_url("journal:///tmp/x.log") == "journal:///tmp/x.log"
    assert redact_url("mysql://root@host/db") == "mysql://root@host/db"  # no password: unchanged
    text = "could not connect to mysql://a:b@h/d and host=h password=hunter2 user=a"
    assert "hunter2" not in redact_text(text) and ":b@" not in redact_text(text)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_drivers_share_one_study(tmp_path, kind):
    """The issue's case: a second driver starts while the first has a trial running. Nothing is failed,
    nobody crashes, and together they stop at the shared target."""
    storage = f"sqlite:///{tmp_path / 'shared.db'}" if kind == "sqlite" else f"journal:///{tmp_path / 'shared.log'}"
    first, second, study, go = two_drivers_mid_trial(tmp_path, storage, "pair")
    assert len(drivers(study)) == 2 and not study.get_trials(states=(TrialState.FAIL,))  # nothing failed
    go.touch()
    outs = ["".join(p.communicate(timeout=600)) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], "\n".join(outs)
    assert not any("Traceback" in out for out in outs)
    study = load(storage, "pair")
    assert study is not None
    trials = study.get_trials(deepcopy=False)
    trained = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(trained) == TARGET, [(t.number, t.state, t.user_attrs.get("prune_reason")) for t in trials]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING)]
    owners = {t.user_attrs[DRIVER] for t in trained}
    assert len(owners) == 2, owners  # both drivers trained trials
    assert {o.split(":")[1] for o in owners} == {str(first.pid), str(second.pid)}
    assert all(study.user_attrs[k]["ended"] for k in drivers(study))


def test_kill_one_of_two_drivers(tmp_path):
    """JournalStorage: kill -9 one driver mid-trial; the other recovers its trial once (re-queued, then
    trained) and the study reaches its target: no trial lost, none left RUNNING."""
    storage = f"journal:///{tmp_path / 'shared.log'}"
    victim, survivor, study, go = two_drivers_mid_trial(tmp_path, storage, "kill")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    killed = [
        t.number for t in running_trials(study) if t.user_attrs.get(DRIVER, "::").split(":")[1] == str(victim.pid)
    ]
    assert len(killed) == 1
    go.touch()
    out = "".join(survivor.communicate(timeout=600))
    assert survivor.returncode == 0, out
    trials = load(storage, "kill").get_trials(deepcopy=False)  # type: ignore[union-attr]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]  # no zombie
    assert sum(t.state == TrialState.COMPLETE for t in trials) == TARGET  # nothing lost
    (number,) = killed
    assert trials[number].state == TrialState.FAIL and trials[number].user_attrs["requeued"] is True
    assert "is no longer running" in trials[number].user_attrs["fail_reason"]
    retry = [t for t in trials if t.user_attrs.get("retry_of") == number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE


def _foreign_trial(study: optuna.Study, owner: str) -> optuna.trial.FrozenTrial:
    """A running trial owned by a driver on another machine (registered, never beating again)."""
    study.set_user_attr(f"driver:{owner}", {"pid": 1, "machine": "elsewhere", "started": "0", "beat": 7})
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr(DRIVER, owner)
    return running_trials(study)[0]


def test_stale_by_optuna_heartbeat_then_recovered_once(tmp_path):
    """SQLite with Optuna's heartbeat: a foreign trial is live while its heartbeat is fresh, stale after
    the grace period; two live drivers recover it concurrently and only one re-queues it."""
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    storage = RetryingRDBStorage(url, heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="hb", storage=storage)
    frozen = _foreign_trial(study, "far:1:feedbeef")
    storage.record_heartbeat(frozen._trial_id)
    watcher = Liveness(study, storage, grace=2)
    assert watcher.stale(running_trials(study)) == []  # heartbeat fresh: alive
    time.sleep(3.2)
    (stale,) = watcher.stale(running_trials(study))
    assert "sent no heartbeat" in stale.reason
    other = optuna.load_study(study_name="hb", storage=RetryingRDBStorage(url, heartbeat_interval=1, grace_period=2))
    wins = [recover_trial(s, stale.trial, stale.reason, max_retries=2) for s in (study, other)]
    assert wins == [True, False]
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[1].user_attrs == {"retries": 1, "retry_of": 0}


def test_stale_by_journal_lease(tmp_path):
    """JournalStorage (no heartbeat in Optuna): a foreign trial is stale once its driver's lease has not
    moved for the grace period on the watcher's own clock; a moving lease keeps it alive."""
    storage = JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log")))
    study = optuna.create_study(study_name="j", storage=storage)
    _foreign_trial(study, "far:1:feedbeef")
    watcher = Liveness(study, storage, grace=1.0)
    assert watcher.stale(running_trials(study)) == []
    for beat in (8, 9):  # the owner renews its lease: never stale
        time.sleep(0.7)
        study.set_user_attr("driver:far:1:feedbeef", {"pid": 1, "machine": "elsewhere", "started": "0", "beat": beat})
        assert watcher.stale(running_trials(study)) == []
    time.sleep(1.3)
    (stale,) = watcher.stale(running_trials(study))
    assert "renewed no lease" in stale.reason
    assert watcher.stale([]) == []
