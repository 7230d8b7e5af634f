"""Which driver owns a running trial, and whether that driver is still alive.

Every driver has an id ``host:pid:token`` (``DriverId``), recorded in the user attribute ``driver`` of each
trial it asks for, and registers itself in the study's user attribute ``driver:<id>`` (machine, process
start time, a beat counter). A background thread beats every ``HEARTBEAT_SECONDS`` while the driver runs:

- on RDB storages (SQLite, PostgreSQL, MySQL) with Optuna's own heartbeat: ``RDBStorage.record_heartbeat``
  for each trial in flight; Optuna's stale-trial query (the one ``optuna.storages.fail_stale_trials``
  uses) names the trials whose heartbeat is older than ``GRACE_SECONDS``;
- on JournalStorage (Optuna has no heartbeat there; written by hand): the driver's beat counter in
  its ``driver:<id>`` attribute is a lease. A trial is stale when its driver's counter has not moved for
  ``GRACE_SECONDS`` of this driver's own clock (no comparison of two machines' clocks).

On either storage a trial is stale at once when its driver ran on this machine (same boot, same pid
namespace) and that process is gone (a driver restarted after kill -9 resumes without waiting), or
when its driver recorded a clean end. A trial without a ``driver`` (asked by an older version) is
stale ``GRACE_SECONDS`` after it started. A driver never finds its own trials stale.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial

from lutsearch.search._storage import GRACE_SECONDS, HEARTBEAT_SECONDS

__all__ = ["DRIVER", "DriverId", "Liveness", "StaleTrial"]

DRIVER = "driver"  # trial user attribute: the id of the driver that asked for it
_REGISTRY = "driver:"  # study user attribute prefix: one per driver


def _machine() -> str:
    """This machine and process table: boot id + pid namespace (a container on the same host differs)."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(Path(path).read_text().strip() if "boot" in path else os.readlink(path))
        except OSError:
            parts.append("?")
    return "/".join(parts)


def _start_ticks(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5); the name in () may hold spaces


@dataclasses.dataclass(frozen=True)
class DriverId:
    """One driver process: ``host:pid:token`` plus what tells, on its machine, whether it still runs."""

    host: str
    pid: int
    token: str
    machine: str
    started: str | None

    @classmethod
    def current(cls) -> DriverId:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, uuid.uuid4().hex[:8], _machine(), _start_ticks(pid))

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    def record(self, beat: int, ended: bool = False) -> dict[str, Any]:
        return {"pid": self.pid, "machine": self.machine, "started": self.started, "beat": beat, "ended": ended}


@dataclasses.dataclass(frozen=True)
class StaleTrial:
    trial: FrozenTrial
    reason: str


class Liveness:
    """This driver's heartbeat (a thread) and the staleness test for other drivers' trials."""

    def __init__(self, study: optuna.Study, storage: BaseStorage, grace: float = GRACE_SECONDS) -> None:
        self.study = study
        self.storage = storage
        self.me = DriverId.current()
        self.grace = grace
        self.rdb = isinstance(storage, RDBStorage) and storage.get_heartbeat_interval() is not None
        self._study_id = storage.get_study_id_from_name(study.study_name)
        self._tracked: dict[int, int] = {}  # trial number -> trial id, in flight here
        self._lock = threading.Lock()
        self._beat = 0
        self._seen: dict[str, tuple[Any, float]] = {}  # lease key -> (last value, when it last changed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._register()
        self._thread = threading.Thread(target=self._run, name="lutsearch-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and record a clean end (this driver's trials are no longer in flight)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self._register(ended=True)
        except Exception:  # the storage is gone: the lease simply stops moving
            pass

    def track(self, trial: optuna.Trial) -> None:
        """``trial`` is in flight here: beat for it, then record its owner (so a trial with an owner always
        has a heartbeat; one without is judged by its age)."""
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self._study_id, trial.number)
        if self.rdb:
            self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
        with self._lock:
            self._tracked[trial.number] = trial_id
        trial.set_user_attr(DRIVER, str(self.me))

    def untrack(self, number: int) -> None:
        with self._lock:
            self._tracked.pop(number, None)

    def _register(self, ended: bool = False) -> None:
        self.study.set_user_attr(f"{_REGISTRY}{self.me}", self.me.record(self._beat, ended))

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.beat()
            except Exception as exc:  # the storage is unreachable for longer than its retry bound
                optuna.logging.get_logger("lutsearch").warning("heartbeat failed: %s", str(exc)[:200])

    def beat(self) -> None:
        """One heartbeat: Optuna's per-trial heartbeat on RDB storages, the driver's lease otherwise."""
        if self.rdb:
            with self._lock:
                ids = list(self._tracked.values())
            for trial_id in ids:
                self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
        else:
            self._beat += 1
            self._register()

    def stale(self, running: list[FrozenTrial]) -> list[StaleTrial]:
        """The running trials whose driver is dead (module docstring), each with why."""
        if not running:
            return []
        registry = {k[len(_REGISTRY) :]: v for k, v in self.study.user_attrs.items() if k.startswith(_REGISTRY)}
        rdb_stale: set[int] = set()
        if self.rdb:
            ids = self.storage._get_stale_trial_ids(self._study_id)  # type: ignore[attr-defined]
            rdb_stale = {self.storage.get_trial_number_from_id(i) for i in ids}
        out = []
        for t in running:
            reason = self._why_stale(t, registry, rdb_stale)
            if reason is not None:
                out.append(StaleTrial(t, f"interrupted: {reason}"))
        return out

    def _why_stale(self, t: FrozenTrial, registry: dict[str, Any], rdb_stale: set[int]) -> str | None:
        owner = t.user_attrs.get(DRIVER)
        if owner == str(self.me):
            return None
        if owner is None:
            started = t.datetime_start or datetime.now()
            age = (datetime.now() - started).total_seconds()
            return f"no driver recorded and started {age:.0f} s ago" if age > self.grace else None
        info = registry.get(owner)
        if info is not None:
            if info.get("ended"):
                return f"its driver {owner} ended while this trial ran"
            if info.get("machine") == self.me.machine and _start_ticks(int(info["pid"])) != info.get("started"):
                return f"its driver {owner} is no longer running"
        if self.rdb:
            return f"its driver {owner} sent no heartbeat for {self.grace:.0f} s" if t.number in rdb_stale else None
        return self._lease_expired(owner, info)

    def _lease_expired(self, owner: str, info: dict[str, Any] | None) -> str | None:
        """JournalStorage: the owner's beat counter unchanged for ``grace`` seconds of this clock."""
        beat = None if info is None else info.get("beat")
        now = time.monotonic()
        last = self._seen.get(owner)
        if last is None or last[0] != beat:
            self._seen[owner] = (beat, now)
            return None
        return f"its driver {owner} renewed no lease for {self.grace:.0f} s" if now - last[1] > self.grace else None
