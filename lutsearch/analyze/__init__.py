"""Analysis of a finished (or running) study: ``lutsearch analyze``, ``lutsearch dashboard`` and
``lutsearch status --json``.

``build_report`` writes ``report.html`` (interactive plotly figures, plotly.js inline: opens offline),
paper PNGs (matplotlib) and ``summary.json``; ``status_data`` gives the counts and the front as typed
rows; ``serve_dashboard`` runs optuna-dashboard on the study's storage.

Modules: ``_data`` (study -> typed rows; the front is the export's), ``_indicators`` (hypervolume
reference point, PED-ANOVA importances), ``_figures`` (plotly), ``_png`` (matplotlib), ``_html``
(``templates/report.html``), ``_summary`` (summary.json), ``_questions`` (question studies' answers),
``_dashboard``, ``_build`` (the report in order). This package reads the search's study helpers and the
export's front; neither imports it.
"""

from lutsearch.analyze._build import ReportResult, build_report, status_data
from lutsearch.analyze._dashboard import dashboard_url, serve_dashboard
from lutsearch.analyze._data import Counts, FrontRow, Objective, StudyData, TrialPoint
from lutsearch.analyze._png import DPI, HEIGHT_PX, WIDTH_PX
from lutsearch.analyze._summary import write_json

__all__ = [
    "DPI",
    "HEIGHT_PX",
    "WIDTH_PX",
    "Counts",
    "FrontRow",
    "Objective",
    "ReportResult",
    "StudyData",
    "TrialPoint",
    "build_report",
    "dashboard_url",
    "serve_dashboard",
    "status_data",
    "write_json",
]
