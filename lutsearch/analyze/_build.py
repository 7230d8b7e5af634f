"""``build_report``: a study -> report.html (interactive, offline), paper PNGs and summary.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lutsearch.analyze._data import StudyData, study_data
from lutsearch.analyze._figures import figures
from lutsearch.analyze._html import render_html
from lutsearch.analyze._indicators import hypervolume, importances
from lutsearch.analyze._png import write_pngs
from lutsearch.analyze._questions import answer_questions
from lutsearch.analyze._summary import summary, write_json
from lutsearch.search import load_existing_study

__all__ = ["ReportResult", "build_report", "status_data"]


@dataclasses.dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    html: Path
    summary: Path
    pngs: tuple[Path, ...]
    data: StudyData
    question_lines: tuple[str, ...]  # the question study's answer, empty for other studies


def build_report(
    study_dir: Path | None,
    out_dir: Path | None = None,
    *,
    storage: str | None = None,
    study_name: str | None = None,
) -> ReportResult:
    """Write the report of the study in ``study_dir`` (or ``storage`` + ``study_name``) to ``out_dir``
    (default ``<study_dir>/report``). Raises ``StudyError`` (one line) for a missing study."""
    from lutsearch import __version__

    handle = load_existing_study(study_dir, storage=storage, study_name=study_name)
    study = handle.study
    out = Path(out_dir) if out_dir is not None else handle.study_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    where = str(study_dir) if study_dir is not None else str(handle.study_dir)
    data = study_data(study, where, storage)
    hv = hypervolume(study, data)
    found = importances(study, data)
    figs = figures(study, data, hv, found)
    question = answer_questions(study)
    html_path = out / "report.html"
    html_path.write_text(render_html(data, figs, question, __version__), encoding="utf-8")
    pngs = write_pngs(study, data, hv, out)
    files = {
        "html": html_path.name,
        "png": [p.name for p in pngs],
        "interactive": [f.key for f in figs if f.figure is not None],
    }
    summary_path = out / "summary.json"
    write_json(summary(data, hv, found, files, question), summary_path)
    lines = tuple(question.lines) if question is not None else ()
    return ReportResult(out, html_path, summary_path, tuple(pngs), data, lines)


def status_data(study_dir: Path | None, *, storage: str | None = None, study_name: str | None = None) -> StudyData:
    """The study's counts and front as typed rows (``lutsearch status --json``)."""
    handle = load_existing_study(study_dir, storage=storage, study_name=study_name)
    where = str(study_dir) if study_dir is not None else str(handle.study_dir)
    return study_data(handle.study, where, storage)
