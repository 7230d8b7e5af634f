"""The one error type of the export package."""

from __future__ import annotations

__all__ = ["ExportError"]


class ExportError(Exception):
    """Malformed export request (missing study, trial not on the front, nothing feasible...)."""
