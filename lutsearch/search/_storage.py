"""The study's storage from a URL, with Optuna's heartbeat on RDB storages and bounded retries.

- ``sqlite:///...``, ``postgresql://...``, ``mysql://...``: Optuna's ``RDBStorage`` with its heartbeat
  (``heartbeat_interval``/``grace_period``: trials whose driver stopped beating are stale) and
  SQLAlchemy's ``pool_pre_ping`` (a connection the server dropped is replaced at checkout).
- ``journal:///path/file.log`` or any path ending in ``.log``: Optuna's ``JournalStorage`` on a
  ``JournalFileBackend`` (no heartbeat in Optuna: ``lutsearch.search._liveness`` keeps a lease instead).

Every storage call of an RDB storage is retried on connection errors (server restarting, network
blip, SQLite's "database is locked" under several drivers) with exponential back-off for at most
``STORAGE_RETRY_SECONDS``; then the error goes up as one line (``StorageUnavailable``). Written by hand:
Optuna retries nothing and SQLAlchemy's ``pool_pre_ping`` only covers a connection's checkout.
"""

from __future__ import annotations

import functools
import importlib.util
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import optuna
import sqlalchemy.exc
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from lutsearch._redact import redact_text, redact_url
from lutsearch.search._errors import StorageUnavailable

__all__ = [
    "GRACE_SECONDS",
    "HEARTBEAT_SECONDS",
    "STORAGE_RETRY_SECONDS",
    "StorageUnavailable",
    "is_connection_error",
    "make_storage",
    "with_retry",
]

HEARTBEAT_SECONDS = 2  # a driver beats for its running trials this often (Optuna wants whole seconds)
GRACE_SECONDS = 12  # a trial whose driver has not beaten for this long is stale (its driver is dead)
STORAGE_RETRY_SECONDS = 180.0  # the longest a driver waits for its storage to answer again
T = TypeVar("T")


_PERMANENT = ("authentication", "does not exist", "no password supplied", "permission denied")


def is_connection_error(exc: BaseException) -> bool:
    """A storage error that a retry can cure: a lost/refused connection or a locked SQLite file (not
    wrong credentials or a missing database)."""
    if any(word in str(exc.__cause__ or exc).lower() for word in _PERMANENT):
        return False
    # Both links of the chain: a connection lost inside Optuna's ``_get_trials`` query makes its fallback
    # query raise ``PendingRollbackError`` (whose ``__context__``, not ``__cause__``, is the lost connection)
    pending, visited = [exc], set()
    while pending:
        seen = pending.pop()
        if id(seen) in visited:
            continue
        visited.add(id(seen))
        if isinstance(seen, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        pending.extend(link for link in (seen.__cause__, seen.__context__) if link is not None)
    return False


def with_retry(fn: Callable[[], T], what: str, bound: float = STORAGE_RETRY_SECONDS) -> T:
    """``fn()``, retried on connection errors with back-off 0.5 s -> 8 s for at most ``bound`` seconds."""
    deadline = time.monotonic() + bound
    delay = 0.5
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            if time.monotonic() + delay > deadline:
                first = redact_text(str(exc.__cause__ or exc).strip().splitlines()[0] if str(exc) else repr(exc))
                raise StorageUnavailable(f"{what}: no answer for {bound:.0f} s: {first[:300]}") from None
            optuna.logging.get_logger("lutsearch").warning("%s: storage unreachable, retrying in %.1f s", what, delay)
            time.sleep(delay)
            delay = min(8.0, delay * 2)


def _retrying(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: RDBStorage, *args: Any, **kwargs: Any) -> Any:
        attempt = [0]

        def once() -> Any:
            attempt[0] += 1
            try:
                return method(self, *args, **kwargs)
            except optuna.exceptions.UpdateFinishedTrialError:
                # a retried state change whose first attempt did commit before the connection broke
                if name == "set_trial_state_values" and attempt[0] > 1:
                    state = kwargs.get("state", args[1] if len(args) > 1 else None)
                    if self.get_trial(args[0] if args else kwargs["trial_id"]).state == state:
                        return True
                raise

        return with_retry(once, f"storage {name}")

    return call


# Every public call of RDBStorage, and the private ones Optuna's _CachedStorage (which wraps it) calls.
_RETRIED = [
    name
    for name in dir(RDBStorage)
    if not name.startswith("_")
    and callable(getattr(RDBStorage, name))
    and name not in ("upgrade", "remove_session", "get_heartbeat_interval", "get_heartbeat_stale_trial_callback")
] + ["_create_new_trial", "_get_best_trial_id", "_get_stale_trial_ids", "_get_trials", "_set_trial_param"]


class RetryingRDBStorage(RDBStorage):
    """``RDBStorage`` whose calls are retried on connection errors (``with_retry``)."""


for _name in _RETRIED:
    setattr(RetryingRDBStorage, _name, _retrying(_name, getattr(RDBStorage, _name)))


def journal_path(url: str) -> Path | None:
    """The journal file a ``journal:///path`` URL or a ``*.log`` path names, or None."""
    if url.startswith("journal://"):
        return Path(url.removeprefix("journal://"))
    if "://" not in url and url.endswith(".log"):
        return Path(url)
    return None


def _with_driver(url: str) -> str:
    """``postgresql://`` with the driver installed: SQLAlchemy >= 2.1 means psycopg 3 by it, the
    ``postgres`` extra installs psycopg2."""
    if url.startswith(("postgresql://", "postgres://")) and importlib.util.find_spec("psycopg") is None:
        if importlib.util.find_spec("psycopg2") is not None:
            return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def _open_rdb(url: str) -> RetryingRDBStorage:
    """Optuna's RDB storage. Two drivers that open a new database at the same moment both create its
    schema, and the second one's insert of the schema version fails (IntegrityError on
    ``alembic_version``): the schema is there by then, so opening again succeeds."""
    for attempt in range(5):
        try:
            return RetryingRDBStorage(
                url,
                engine_kwargs={"pool_pre_ping": True},
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
            )
        except sqlalchemy.exc.IntegrityError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def make_storage(url: str) -> BaseStorage:
    """The storage a URL names (module docstring); a URL Optuna cannot open fails in one line."""
    path = journal_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path.resolve())))
    url = _with_driver(url)
    # lutsearch beats for its ask/tell trials itself (``_liveness``), which Optuna warns about on each ask
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used", category=UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return with_retry(lambda: _open_rdb(url), f"opening {redact_url(url)}")
        except StorageUnavailable:
            raise
        except Exception as exc:  # a bad URL, a missing driver (psycopg2), wrong credentials
            first = redact_text(str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__)
            raise StorageUnavailable(f"cannot open storage {redact_url(url)}: {first[:300]}") from None
