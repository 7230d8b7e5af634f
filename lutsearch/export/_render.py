"""The export report: ``report.json`` (everything) and ``report.md`` (a summary table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["build_report", "markdown", "write_report"]


def build_report(
    study,
    chosen,
    front: list,
    *,
    pick: str,
    trial: int | None,
    max_luts: float | None,
    pipeline: int,
    loaded,
    built,
    hw: dict,
    verification: dict,
    notes: list[str],
    dont_cares: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report dict (``loaded``: ``_build.Loaded``; ``built``: ``_build.Built``; ``dont_cares``: the
    don't-care compression's section, ``_dontcare.compress_design``, or None)."""
    metrics, network, data = loaded.artifact.metrics, loaded.artifact.network, loaded.data
    names = list(study.metric_names or [f"objective{i}" for i in range(len(chosen.values))])
    return {
        "study": study.study_name,
        "trial": chosen.number,
        "pick": "trial" if trial is not None else pick,
        "max_luts": max_luts,
        "front": [t.number for t in front],
        "on_front": any(t.number == chosen.number for t in front),
        "objectives": dict(zip(names, chosen.values)),
        "accuracy": {
            "val": metrics.get("val_acc", chosen.user_attrs.get("val_acc")),
            "test": metrics.get("test_acc", chosen.user_attrs.get("test_acc")),
            "test_exact_from_tables": built.test_acc,
            "n_test": len(loaded.codes),
        },
        "dataset_variant": metrics.get("dataset_variant", chosen.user_attrs.get("dataset_variant", data.variant)),
        "hardware": hw,
        "pipeline": pipeline,
        "rtl": built.design.to_dict() | {"out_dir": "rtl"},
        "tables": [f"tables/{m}" for m in built.mems],
        "verification": verification,
        "config": loaded.artifact.config,
        "artifact_dir": str(loaded.artifact.path),
        # the trial's tables.npz, as the study recorded it (export refused a mismatch)
        "tables_sha256": loaded.tables_sha256,
        "tables_check": "matches the study's record" if loaded.tables_checked else "unchecked: no hash recorded",
        "network": network.summary(),
        "notes": notes,
        "dont_cares": dont_cares,
    }


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "report.md").write_text(markdown(report))


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _dont_care_row(dc: dict[str, Any]) -> tuple[str, str]:
    acc, luts = dc["accuracy"], dc.get("luts", {})
    text = (
        f"LUTs {_fmt(luts.get('before'))} -> {_fmt(luts.get('after'))} ({_fmt(luts.get('ratio'))}x); "
        f"accuracy val {_fmt(acc['val']['before'])} -> {_fmt(acc['val']['after'])}, "
        f"test {_fmt(acc['test']['before'])} -> {_fmt(acc['test']['after'])}"
    )
    k = dc["min_count"]
    seen = "never reached" if k == 1 else f"reached < {k} times"
    return (f"don't-cares (table entries {seen} in training)", text)


def _rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    hw, acc, ver = r["hardware"], r["accuracy"], r["verification"]
    extra = [_dont_care_row(r["dont_cares"])] if r.get("dont_cares") else []
    rows = [
        (
            "study / trial",
            f"{r['study']} / {r['trial']} (pick: {r['pick']}; "
            + ("on the feasible Pareto front)" if r.get("on_front") else "not on the feasible Pareto front)"),
        ),
        ("dataset variant", r["dataset_variant"]),
        (
            "accuracy val / test",
            f"{_fmt(acc['val'])} / {_fmt(acc['test'])} (exact test from tables: "
            f"{_fmt(acc['test_exact_from_tables'])}, n={acc['n_test']})",
        ),
        ("LUTs", _fmt(hw["luts"]) + (" (analytic estimate)" if hw["estimated"] else "")),
        ("FFs", _fmt(hw["ffs"])),
        ("LUT sizes", json.dumps(hw["lut_sizes"])),
        ("depth (LUT levels, slowest stage)", _fmt(hw["depth_lut_levels"])),
        ("stage depths", str(hw["stage_depths"])),
        ("Fmax (model)", f"{hw['fmax_mhz']:.0f} MHz"),
        ("latency (model)", f"{hw['latency_ns']:.2f} ns = {hw['latency_cycles']} cycles x {hw['period_ns']:.3f} ns"),
        ("pipeline", f"register every {r['pipeline']} layer(s)" if r["pipeline"] else "combinational"),
        ("synthesis", f"{hw['tool']} {hw['tool_version']} ({hw['flow']})"),
        (
            "verification",
            ver["status"]
            + (f": {ver.get('n_samples')} samples with {ver.get('simulator')}" if ver["status"] == "passed" else ""),
        ),
        ("trial tables sha256", f"{r.get('tables_sha256', '')} ({r.get('tables_check', 'unchecked')})"),
    ]
    return rows[:4] + extra + rows[4:]  # after the LUTs


def markdown(r: dict[str, Any]) -> str:
    """``report.md``: the summary table, the objectives, the config and the notes."""
    lines = [f"# Design export: {r['study']} trial {r['trial']}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _rows(r)]
    lines += [
        "",
        "Objectives: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in r["objectives"].items()),
        "",
        "Fmax and latency come from the LUT-depth delay model (docs/hardware.md), not from Vivado.",
        "",
        "## Config",
        "",
        "```json",
        json.dumps(r["config"], indent=2, default=str),
        "```",
    ]
    if r["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"
