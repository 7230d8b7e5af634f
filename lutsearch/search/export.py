"""Export one design of a study: pick it from the feasible Pareto front, write its RTL, testbench, test
vectors and truth tables, synthesize it with Yosys, verify it bit-exactly in RTL simulation on the
dataset's whole test split, and write ``report.json`` + ``report.md``.

Layout of ``out_dir``::

    rtl/            layer*.v, <top>_stages.v, <top>.v (+ <top>_debug.v), tb.v, vivado_ooc.tcl
    tables/         layer*.mem ($readmemh truth tables, one line per neuron)
    vectors/        test_inputs.hex, test_expected.hex (one hex word per test sample), test_labels.txt
    synth/          Yosys script, log and reports
    report.json, report.md
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ExportError", "export_design", "pick_trial", "PICKS"]

PICKS = ("knee", "max-accuracy", "min-luts", "min-latency")
TOP = "lutnet"


class ExportError(Exception):
    """Malformed export request (missing study, trial not on the front, nothing feasible...)."""


def _load_study(study_dir: Path, storage: str | None, study_name: str | None):
    from lutsearch.search._study import StudyError, load_existing_study

    try:
        return load_existing_study(study_dir, storage=storage, study_name=study_name).study
    except StudyError as exc:
        raise ExportError(str(exc)) from None


def _metric(study, trial, name: str) -> float | None:
    names = list(study.metric_names or [])
    if name in names:
        return float(trial.values[names.index(name)])
    value = trial.user_attrs.get(name)
    return None if value is None else float(value)


def pick_trial(study, *, trial: int | None = None, pick: str = "knee", max_luts: float | None = None):
    """The chosen FrozenTrial of the feasible Pareto front (``study.best_trials``)."""
    if pick not in PICKS:
        raise ExportError(f"unknown pick {pick!r}; allowed: {', '.join(PICKS)}")
    front = list(study.best_trials)  # Optuna's feasible Pareto front (constraints set via set_constraint)
    if not front:
        raise ExportError(f"study {study.study_name!r} has no feasible completed trial")
    if max_luts is not None:
        if all(_metric(study, t, "luts") is None for t in front):
            raise ExportError("--max-luts needs a 'luts' objective or user attribute; the study has neither")
        front = [t for t in front if (_metric(study, t, "luts") or math.inf) <= max_luts]
        if not front:
            raise ExportError(f"no design on the feasible Pareto front has luts <= {max_luts:g}")
    front.sort(key=lambda t: t.number)
    if trial is not None:
        for t in front:
            if t.number == trial:
                return t, front
        raise ExportError(f"trial {trial} is not on the feasible Pareto front (front: "
                          f"{', '.join(str(t.number) for t in front)})")
    if pick == "max-accuracy":
        return max(front, key=lambda t: (_metric(study, t, "accuracy") or _metric(study, t, "val_acc") or 0.0,
                                         -t.number)), front
    if pick == "min-luts":
        if _metric(study, front[0], "luts") is None:
            raise ExportError("pick min-luts needs a 'luts' objective or user attribute")
        return min(front, key=lambda t: (_metric(study, t, "luts"), t.number)), front
    if pick == "min-latency":
        name = next((n for n in ("latency_ns", "depth") if _metric(study, front[0], n) is not None), None)
        if name is None:
            raise ExportError("pick min-latency needs a 'latency_ns' or 'depth' objective")
        return min(front, key=lambda t: (_metric(study, t, name), t.number)), front
    # knee: closest to the ideal point after scaling every objective to [0, 1] over the front (0 = best)
    values = np.array([t.values for t in front], dtype=float)
    signs = np.array([1.0 if d.name == "MINIMIZE" else -1.0 for d in study.directions])
    v = values * signs
    span = np.where(v.max(0) > v.min(0), v.max(0) - v.min(0), 1.0)
    dist = np.sqrt((((v - v.min(0)) / span) ** 2).sum(1))
    return front[int(np.argmin(dist))], front


def _artifact_dir(study_dir: Path, trial) -> Path:
    path = trial.user_attrs.get("artifact_dir")
    candidates = [Path(path)] if path else []
    candidates.append(study_dir / "trials" / str(trial.number))
    for c in candidates:
        if (c / "tables.npz").is_file():
            return c
    raise ExportError(f"trial {trial.number}: no artifact folder with tables.npz (looked in "
                      f"{', '.join(str(c) for c in candidates)})")


def _vivado_tcl(design, period_ns: float) -> str:
    tpl = (Path(__file__).resolve().parents[1] / "hw" / "templates" / "vivado_ooc.tcl").read_text()
    files = " ".join(design.files)
    return (tpl.replace("@FILES@", files).replace("@TOP@", design.top)
            .replace("@PERIOD@", f"{period_ns:.3f}").replace("@CLOCKED@", "1" if design.pipeline else "0"))


def export_design(study_dir: Path, out_dir: Path, *, storage: str | None = None, study_name: str | None = None,
                  trial: int | None = None, pick: str = "knee", max_luts: float | None = None, pipeline: int = 1,
                  simulate: bool = True, synthesize: bool = True) -> dict:
    """Export one Pareto-optimal design of a study (see the module docstring); returns the report."""
    from lutsearch.hw import estimate, timing
    from lutsearch.hw.rtl import generate_rtl, write_memfiles
    from lutsearch.hw.sim import SimulationError, SimulationMismatch, verify, write_testbench, write_vectors
    from lutsearch.hw.synth import synthesize as run_synthesis
    from lutsearch.trial import load_artifact

    study_dir, out_dir = Path(study_dir), Path(out_dir)
    if pipeline < 0:
        raise ExportError(f"pipeline must be >= 0, got {pipeline}")
    study = _load_study(study_dir, storage, study_name)
    chosen, front = pick_trial(study, trial=trial, pick=pick, max_luts=max_luts)
    art = _artifact_dir(study_dir, chosen)
    try:
        artifact = load_artifact(art)
    except (OSError, ValueError) as exc:
        raise ExportError(f"{art}: cannot read the trial artifact: {str(exc).splitlines()[0]}") from None
    config, metrics, network = artifact.config, artifact.metrics, artifact.network
    data = artifact.load_data()
    codes = artifact.build_model().input_codes(data.X_test)

    rtl_dir = out_dir / "rtl"
    design = generate_rtl(network, rtl_dir, top=TOP, pipeline=pipeline, style="table")
    write_testbench(design, rtl_dir, max_n=max(1, len(codes)))
    mems = write_memfiles(network, out_dir / "tables")
    vec = out_dir / "vectors"
    vec.mkdir(parents=True, exist_ok=True)
    expected = network.evaluate(codes)
    write_vectors(codes, network.input_bits, vec / "test_inputs.hex")
    write_vectors(expected, network.output_bits, vec / "test_expected.hex")
    (vec / "test_labels.txt").write_text("\n".join(str(int(y)) for y in data.y_test) + "\n")
    test_acc = float((network.predict(codes) == data.y_test).mean()) if len(codes) else float("nan")

    notes: list[str] = []
    if synthesize:
        res = run_synthesis(network, pipeline=pipeline, mode="design", workdir=out_dir / "synth", cache_dir=False)
    else:
        res = estimate.analytic_result(network, pipeline, note="synthesis skipped (--no-synthesize)")
    if res.estimated:
        notes.append("hardware numbers are the analytic estimate: " + "; ".join(res.notes))
    period = timing.period_ns(res.stage_depths)
    hw = {"luts": res.luts, "ffs": res.ffs, "depth_lut_levels": res.depth, "stage_depths": res.stage_depths,
          "lut_sizes": res.lut_sizes, "muxf7": res.muxf7, "muxf8": res.muxf8,
          "fmax_mhz": timing.fmax_mhz(res.stage_depths), "latency_ns": timing.latency_ns(res.stage_depths),
          "latency_cycles": design.latency_cycles, "period_ns": period, "tool": res.tool,
          "tool_version": res.tool_version, "flow": res.flow, "estimated": res.estimated,
          "delay_model": vars(timing.ULTRASCALE_PLUS)}
    (rtl_dir / "vivado_ooc.tcl").write_text(_vivado_tcl(design, period))

    verification: dict[str, Any] = {"status": "skipped"}
    if simulate:
        try:
            v = verify(network, design, codes, workdir=out_dir / "sim")
            verification = {"status": "passed", **v.to_dict()}
        except SimulationMismatch as exc:
            verification = {"status": "failed", "error": str(exc)}
        except SimulationError as exc:  # verification is part of every export: no silent skip
            raise ExportError(f"RTL verification could not run: {str(exc).splitlines()[0]} "
                              f"(install verilator or iverilog, or pass --no-simulate)") from None

    names = list(study.metric_names or [f"objective{i}" for i in range(len(chosen.values))])
    report = {
        "study": study.study_name, "trial": chosen.number, "pick": "trial" if trial is not None else pick,
        "max_luts": max_luts, "front": [t.number for t in front],
        "objectives": dict(zip(names, chosen.values)),
        "accuracy": {"val": metrics.get("val_acc", chosen.user_attrs.get("val_acc")),
                     "test": metrics.get("test_acc", chosen.user_attrs.get("test_acc")),
                     "test_exact_from_tables": test_acc, "n_test": int(len(codes))},
        "dataset_variant": metrics.get("dataset_variant", chosen.user_attrs.get("dataset_variant", data.variant)),
        "hardware": hw, "pipeline": pipeline, "rtl": design.to_dict() | {"out_dir": "rtl"},
        "tables": [f"tables/{m}" for m in mems], "verification": verification, "config": config,
        "artifact_dir": str(art), "network": network.summary(), "notes": notes,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "report.md").write_text(_markdown(report))
    if verification["status"] == "failed":
        raise ExportError(verification["error"])
    return report


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _markdown(r: dict[str, Any]) -> str:
    hw, acc = r["hardware"], r["accuracy"]
    rows = [("study / trial", f"{r['study']} / {r['trial']} (pick: {r['pick']})"),
            ("dataset variant", r["dataset_variant"]),
            ("accuracy val / test", f"{_fmt(acc['val'])} / {_fmt(acc['test'])} (exact test from tables: "
                                    f"{_fmt(acc['test_exact_from_tables'])}, n={acc['n_test']})"),
            ("LUTs", _fmt(hw["luts"]) + (" (analytic estimate)" if hw["estimated"] else "")),
            ("FFs", _fmt(hw["ffs"])), ("LUT sizes", json.dumps(hw["lut_sizes"])),
            ("depth (LUT levels, slowest stage)", _fmt(hw["depth_lut_levels"])),
            ("stage depths", str(hw["stage_depths"])),
            ("Fmax (model)", f"{hw['fmax_mhz']:.0f} MHz"),
            ("latency (model)", f"{hw['latency_ns']:.2f} ns = {hw['latency_cycles']} cycles x {hw['period_ns']:.3f} ns"),
            ("pipeline", f"register every {r['pipeline']} layer(s)" if r["pipeline"] else "combinational"),
            ("synthesis", f"{hw['tool']} {hw['tool_version']} ({hw['flow']})"),
            ("verification", r["verification"]["status"] + (f": {r['verification'].get('n_samples')} samples with "
                                                             f"{r['verification'].get('simulator')}"
                                                             if r["verification"]["status"] == "passed" else ""))]
    lines = [f"# Design export: {r['study']} trial {r['trial']}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "Objectives: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in r["objectives"].items()), "",
              "Fmax and latency come from the LUT-depth delay model (docs/hardware.md), not from Vivado.", "",
              "## Config", "", "```json", json.dumps(r["config"], indent=2, default=str), "```"]
    if r["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"
