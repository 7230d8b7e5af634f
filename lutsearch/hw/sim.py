"""Bit-exact RTL simulation (Verilator or Icarus) against ``TruthTableNetwork.evaluate``.

The testbench (``templates/testbench.v``) reads hex input vectors with ``$readmemh`` and writes the
outputs with ``$writememh``; the same compiled simulator is reused for any vector file (plusargs).
Verilator (``--binary --timing``, Debian 12's 5.006) is preferred: measured ~3 orders of magnitude
faster than Icarus per vector on a JSC-size net (docs/hardware.md); ccache is used when installed.
``$LUTSEARCH_SIMULATOR`` or ``simulator=`` picks one explicitly.

``verify`` compares every sample; on a mismatch it re-simulates the first mismatching sample through
the combinational debug top (every layer's output exposed) and raises ``SimulationMismatch`` naming
the sample, the layer and the neuron where the RTL first departs from ``evaluate_all``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from lutsearch.hw.rtl import RTLDesign, table_literals
from lutsearch.tables import TruthTableNetwork

__all__ = [
    "SIMULATORS",
    "SimulationError",
    "SimulationMismatch",
    "VerifyResult",
    "find_simulator",
    "read_vectors",
    "simulate",
    "verify",
    "write_testbench",
    "write_vectors",
]

TEMPLATES = Path(__file__).with_name("templates")
SIMULATORS = ("verilator", "icarus")


class SimulationError(RuntimeError):
    """The simulator is missing, failed to build, or failed to run."""


class SimulationMismatch(AssertionError):
    """RTL outputs differ from ``TruthTableNetwork.evaluate`` (the message localizes the first one)."""

    def __init__(self, message: str, sample: int, layer: int | None, neuron: int | None):
        super().__init__(message)
        self.sample, self.layer, self.neuron = sample, layer, neuron


@dataclasses.dataclass
class VerifyResult:
    n_samples: int
    simulator: str
    build_seconds: float
    run_seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Icarus cost per (vector x live neuron), measured on JSC-S with a register after every layer; a
# combinational design costs ~10x more (event cascades through the layers). docs/hardware.md.
ICARUS_S_PER_NEURON_VECTOR = 12e-6
AUTO_ICARUS_MAX_S = 20.0  # below this estimated Icarus run time, Icarus wins (no ~10-30 s C++ build)


def find_simulator(simulator: str | None = None, design: RTLDesign | None = None, n_vectors: int = 0) -> str:
    """``verilator`` or ``icarus``; ``auto`` picks Icarus for small jobs (no build) else Verilator."""
    want = simulator or os.environ.get("LUTSEARCH_SIMULATOR") or "auto"
    if want not in ("auto", *SIMULATORS):
        raise ValueError(f"unknown simulator {want!r}; allowed: auto, {', '.join(SIMULATORS)}")
    have = {
        "verilator": shutil.which("verilator") is not None,
        "icarus": shutil.which("iverilog") is not None and shutil.which("vvp") is not None,
    }
    order = SIMULATORS if want == "auto" else (want,)
    if want == "auto" and design is not None:
        est = n_vectors * max(1, design.live_neurons) * ICARUS_S_PER_NEURON_VECTOR * (1 if design.pipeline else 10)
        if est < AUTO_ICARUS_MAX_S:
            order = ("icarus", "verilator")
    for sim in order:
        if have[sim]:
            return sim
    raise SimulationError(f"no RTL simulator found (wanted {want}); install verilator or iverilog (.ci/install_hw.sh)")


# ----------------------------------------------------------------------------- vectors
def write_vectors(codes: np.ndarray, bits: int, path: str | Path) -> Path:
    """One hex word per sample: code j at bits [j*bits +: bits] (vectorized packing)."""
    codes = np.asarray(codes, dtype=np.int64)
    path = Path(path)
    path.write_text("\n".join(table_literals(codes, bits)) + "\n" if len(codes) else "")
    return path


def read_vectors(path: str | Path, n_signals: int, bits: int) -> np.ndarray:
    """Parse ``$writememh`` output into codes (N, n_signals); raises on X/Z values."""
    lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    lines = [ln.split("//")[0].strip() for ln in lines if ln and not ln.startswith(("//", "@"))]
    lines = [ln for ln in lines if ln]
    bad = next((i for i, ln in enumerate(lines) if any(c in ln.lower() for c in "xz")), None)
    if bad is not None:
        raise SimulationError(f"{path}: sample {bad} has undefined (X/Z) output bits: {lines[bad]}")
    width = n_signals * bits
    nbytes = (width + 7) // 8
    if not lines:
        return np.zeros((0, n_signals), dtype=np.int64)
    text = "".join(ln.rjust(2 * nbytes, "0")[-2 * nbytes :] for ln in lines)
    raw = np.frombuffer(bytes.fromhex(text), dtype=np.uint8).reshape(len(lines), nbytes)[:, ::-1]
    bitarr = np.unpackbits(raw, axis=1, bitorder="little")[:, :width].astype(np.int64)
    return (bitarr.reshape(len(lines), n_signals, bits) << np.arange(bits)).sum(-1)


# ----------------------------------------------------------------------------- testbench and build
def write_testbench(
    design: RTLDesign, out_dir: str | Path | None = None, *, debug: bool = False, max_n: int = 1 << 16, name: str = "tb"
) -> Path:
    """Fill the testbench template for ``design`` (or its combinational debug top)."""
    out_dir = Path(out_dir or design.out_dir)
    lat = 0 if debug else design.latency_cycles
    dut = design.debug_top if debug else design.top
    out_w = sum(design.layer_widths) if debug else design.out_width
    text = (TEMPLATES / "testbench.v").read_text()
    for key, val in {
        "@TB@": name,
        "@IN_W@": str(design.in_width),
        "@OUT_W@": str(max(out_w, 1)),
        "@LAT@": str(lat),
        "@MAX_N@": str(max_n),
        "@DUT@": dut,
        "@CLK@": "" if lat == 0 else ".clk(clk), ",
        "@OUT_PORT@": "layers" if debug else "out",
    }.items():
        text = text.replace(key, val)
    path = out_dir / (f"{name}_debug.v" if debug else f"{name}.v")
    path.write_text(text)
    return path


def _build(
    design: RTLDesign, simulator: str, debug: bool, max_n: int, build_root: Path, timeout: float | None
) -> tuple[list[str], float]:
    """Compile (or reuse) the simulator for ``design``; returns the run command and build seconds."""
    sources = [p.read_bytes() for p in design.paths(debug)]
    key = hashlib.sha256(b"\0".join(sources) + f"{simulator}|{debug}|{max_n}|{design.top}".encode()).hexdigest()[:20]
    bdir = (Path(build_root) / f"{simulator}-{'debug-' if debug else ''}{key}").resolve()
    exe = bdir / ("obj/Vtb" if simulator == "verilator" else "tb.vvp")
    if exe.exists():
        return ([str(exe)] if simulator == "verilator" else ["vvp", "-n", str(exe)]), 0.0
    bdir.mkdir(parents=True, exist_ok=True)
    tb = write_testbench(design, bdir, debug=debug, max_n=max_n)
    files = [str(p.resolve()) for p in design.paths(debug)] + [str(Path(tb).resolve())]
    t0 = time.perf_counter()
    if simulator == "verilator":
        cmd = [
            "verilator",
            "--binary",
            "--timing",
            "-j",
            str(os.cpu_count() or 1),
            "--top-module",
            "tb",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
            "--Mdir",
            "obj",
            "-o",
            "Vtb",
            "-CFLAGS",
            "-O1",
            *files,
        ]
        env = dict(os.environ)
        if shutil.which("ccache"):
            env.setdefault("OBJCACHE", "ccache")
    else:
        cmd = ["iverilog", "-g2005", "-s", "tb", "-o", "tb.vvp", *files]
        env = None
    try:
        proc = subprocess.run(cmd, cwd=bdir, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise SimulationError(f"{simulator} build exceeded {timeout} s in {bdir}") from None
    if proc.returncode != 0:
        shutil.rmtree(bdir / "obj", ignore_errors=True)
        raise SimulationError(f"{simulator} build failed in {bdir}:\n" + (proc.stdout + proc.stderr)[-3000:])
    return ([str(exe)] if simulator == "verilator" else ["vvp", "-n", str(exe)]), time.perf_counter() - t0


def simulate(
    design: RTLDesign,
    codes: np.ndarray,
    input_bits: int,
    *,
    simulator: str | None = None,
    debug: bool = False,
    workdir: str | Path | None = None,
    timeout: float | None = 1800,
    signals: tuple[int, int] | None = None,
) -> tuple[np.ndarray, dict]:
    """Simulate ``codes`` (N, n_inputs) through the RTL; returns the output codes and timings.

    ``signals`` = (count, bits) of the output bus (default: derived from the design's output width by
    the caller via ``verify``); in debug mode the raw bus bits are returned as one row of 0/1 per sample.
    """
    codes = np.asarray(codes, dtype=np.int64)
    sim = find_simulator(simulator, design, len(codes))
    n = len(codes)
    max_n = max(1024, 1 << int(np.ceil(np.log2(max(n, 1)))))
    ctx: tempfile.TemporaryDirectory[str] | None = None
    if workdir is None:
        ctx = tempfile.TemporaryDirectory(prefix="lutsearch-sim-")
        root = Path(ctx.name)
    else:
        root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    try:
        run_cmd, build_s = _build(design, sim, debug, max_n, root / "build", timeout)
        fin = root / ("inputs_debug.hex" if debug else "inputs.hex")
        fout = root / ("outputs_debug.hex" if debug else "outputs.hex")
        write_vectors(codes, input_bits, fin)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [*run_cmd, f"+inputs={fin.resolve()}", f"+outputs={fout.resolve()}", f"+n={n}"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise SimulationError(f"{sim} simulation of {n} vectors exceeded {timeout} s") from None
        if proc.returncode != 0 or not fout.exists():
            raise SimulationError(f"{sim} simulation failed:\n" + (proc.stdout + proc.stderr)[-3000:])
        run_s = time.perf_counter() - t0
        count, bits = signals if signals else (sum(design.layer_widths) if debug else design.out_width, 1)
        out = read_vectors(fout, count, bits)
    finally:
        if ctx:
            ctx.cleanup()
    if len(out) != n:
        raise SimulationError(f"{sim} wrote {len(out)} output vectors for {n} inputs")
    return out, {"simulator": sim, "build_seconds": build_s, "run_seconds": run_s}


def _decode_layers(bits: np.ndarray, network: TruthTableNetwork) -> list[np.ndarray]:
    outs, pos = [], 0
    for layer in network.layers:
        w = layer.n_out * layer.out_bits
        chunk = bits[:, pos : pos + w].reshape(len(bits), layer.n_out, layer.out_bits)
        outs.append((chunk << np.arange(layer.out_bits)).sum(-1))
        pos += w
    return outs


def verify(
    network: TruthTableNetwork,
    design: RTLDesign,
    codes: np.ndarray,
    *,
    simulator: str | None = None,
    workdir: str | Path | None = None,
    timeout: float | None = 1800,
) -> VerifyResult:
    """Simulate every sample and require 100% equality with ``network.evaluate``."""
    codes = network._check_inputs(codes)
    expected = network.evaluate(codes)
    got, info = simulate(
        design,
        codes,
        network.input_bits,
        simulator=simulator,
        workdir=workdir,
        timeout=timeout,
        signals=(network.n_outputs, network.output_bits),
    )
    bad = np.flatnonzero((got != expected).any(1))
    if bad.size == 0:
        return VerifyResult(len(codes), info["simulator"], info["build_seconds"], info["run_seconds"])
    s = int(bad[0])
    o = int(np.flatnonzero(got[s] != expected[s])[0])
    head = (
        f"RTL mismatch on {bad.size} of {len(codes)} samples; first: sample {s}, output {o}: "
        f"RTL {int(got[s, o])} != expected {int(expected[s, o])}"
    )
    bits, _ = simulate(
        design, codes[s : s + 1], network.input_bits, simulator=simulator, debug=True, workdir=workdir, timeout=timeout
    )
    rtl_layers = _decode_layers(bits, network)
    ref_layers = network.evaluate_all(codes[s : s + 1])[1:]
    # dead neurons (nothing reads them) are tied to 0 in the RTL while their tables need not be constant
    for i, (r, e, live) in enumerate(zip(rtl_layers, ref_layers, network.live_neurons())):
        diff = np.flatnonzero((r[0] != e[0]) & live)
        if diff.size:
            j = int(diff[0])
            raise SimulationMismatch(
                f"{head}; first wrong layer {i}, neuron {j} (layer{i}_neuron{j}): "
                f"RTL {int(r[0, j])} != expected {int(e[0, j])}",
                s,
                i,
                j,
            )
    raise SimulationMismatch(
        f"{head}; every layer matches in the combinational debug top, so the "
        f"pipeline registers or the top-level wiring are wrong",
        s,
        None,
        None,
    )
