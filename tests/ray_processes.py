"""Ray clusters that tests start with ``ray start``, and how to stop only those.

``ray stop --force`` stops every Ray process of the user on the machine, a running study's local Ray
included; a test stops its own cluster by the ``--temp-dir`` it gave it.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process (from /proc)."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out[int(d.name)] = (ppid, cmd)
    return out


def kill_tree(roots: set[int]) -> None:
    """kill -9 ``roots`` and all their descendants."""
    procs = processes()
    found = set(roots)
    grew = True
    while grew:
        new = {pid for pid, (ppid, _) in procs.items() if ppid in found} - found
        found |= new
        grew = bool(new)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_cluster(temp: Path) -> None:
    """kill -9 every process of the cluster started with ``--temp-dir=temp`` (and their children)."""
    kill_tree({pid for pid, (_, cmd) in processes().items() if str(temp) in cmd})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
