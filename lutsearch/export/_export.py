"""``export_design``: pick -> build -> verify -> render (see the package docstring)."""

from __future__ import annotations

from pathlib import Path

from lutsearch.export._build import build_rtl, load_design, vivado_tcl
from lutsearch.export._dontcare import compress_design, record_luts
from lutsearch.export._errors import ExportError
from lutsearch.export._pick import load_study, pick_trial
from lutsearch.export._render import build_report, write_report
from lutsearch.export._verify import hardware_report
from lutsearch.export._verify import simulate as run_simulation

__all__ = ["export_design"]


def export_design(
    study_dir: Path,
    out_dir: Path,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    trial: int | None = None,
    pick: str = "knee",
    max_luts: float | None = None,
    pipeline: int = 1,
    simulate: bool = True,
    synthesize: bool = True,
    dont_cares: int | None = None,
) -> dict:
    """Export one Pareto-optimal design of a study (see the package docstring); returns the report.

    ``dont_cares=k``: compress the design's tables first (entries the training split reaches fewer than
    ``k`` times are don't-cares, ``lutsearch.hw.dontcare``); the RTL, tables, vectors and verification are
    then those of the compressed network, and the report's ``dont_cares`` section holds the accuracy on
    validation and test and the LUTs before and after."""
    study_dir, out_dir = Path(study_dir), Path(out_dir)
    if pipeline < 0:
        raise ExportError(f"pipeline must be >= 0, got {pipeline}")
    study = load_study(study_dir, storage, study_name)
    chosen, front = pick_trial(study, trial=trial, pick=pick, max_luts=max_luts)
    loaded = load_design(study_dir, chosen)
    original, dont_care = loaded.artifact.network, None
    if dont_cares is not None:
        loaded, dont_care = compress_design(loaded, dont_cares)
    built = build_rtl(loaded, out_dir, pipeline)
    hw, notes = hardware_report(loaded.artifact.network, built.design, out_dir, pipeline, synthesize)
    if dont_care is not None:
        record_luts(dont_care, original, built.design, out_dir, pipeline, synthesize, hw)
    (built.rtl_dir / "vivado_ooc.tcl").write_text(vivado_tcl(built.design, hw["period_ns"]))
    verification = (
        run_simulation(loaded.artifact.network, built.design, loaded.codes, out_dir)
        if simulate
        else {"status": "skipped"}
    )
    report = build_report(
        study,
        chosen,
        front,
        pick=pick,
        trial=trial,
        max_luts=max_luts,
        pipeline=pipeline,
        loaded=loaded,
        built=built,
        hw=hw,
        verification=verification,
        notes=notes,
        dont_cares=dont_care,
    )
    write_report(report, out_dir)
    if verification["status"] == "failed":
        raise ExportError(verification["error"])
    return report
