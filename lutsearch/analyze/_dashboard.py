"""``lutsearch dashboard``: optuna-dashboard on a study's storage, until Ctrl-C.

optuna-dashboard's WSGI app (``optuna_dashboard.wsgi``) runs on the standard library's wsgiref server,
in a thread: ``optuna_dashboard.run_server`` serves in the main thread, where wsgiref's request
handler swallows a Ctrl-C that arrives while a response is being written (the server then keeps
running). Here the main thread only sleeps, so Ctrl-C always stops the server. SIGINT gets Python's
own handler back first: a process started from a non-interactive shell's background job (``cmd &`` in a
script, CI) inherits SIGINT *ignored*, and Python then leaves it ignored, so Ctrl-C or ``kill -INT``
would never reach the server. Closing the server does not wait for request threads
(``block_on_close``): a client that never finishes its request cannot hold up Ctrl-C.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIServer, make_server

import optuna

from lutsearch.search import load_existing_study

__all__ = ["dashboard_url", "serve_dashboard"]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A request per thread: the dashboard's page loads its API calls in parallel."""

    daemon_threads = True
    block_on_close = False


class _ThreadingWSGIServer6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


def dashboard_url(storage: str, study_name: str, host: str, port: int) -> str:
    """The page of ``study_name`` in optuna-dashboard (its ``/dashboard/studies/<id>`` route)."""
    study_id = optuna.storages.get_storage(storage).get_study_id_from_name(study_name)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/dashboard/studies/{study_id}"


def serve_dashboard(
    study_dir: Path | None,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve optuna-dashboard on the study's storage; ``announce`` gets the study's URL once the port is
    bound. Blocks until interrupted (``KeyboardInterrupt`` propagates after the server stopped); a busy
    port raises ``OSError``."""
    from optuna_dashboard import wsgi

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)  # even when inherited ignored (docstring)
    handle = load_existing_study(study_dir, storage=storage, study_name=study_name)
    server_class = _ThreadingWSGIServer6 if ":" in host else _ThreadingWSGIServer
    server = make_server(host, port, wsgi(handle.storage_url), server_class=server_class)
    announce(dashboard_url(handle.storage_url, handle.name, host, port))
    thread = threading.Thread(target=server.serve_forever, name="optuna-dashboard", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            time.sleep(0.5)
    finally:
        server.shutdown()
        server.server_close()
