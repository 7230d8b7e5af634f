"""The search's one-line errors (the CLI prints them without a traceback)."""

from __future__ import annotations

__all__ = ["StorageUnavailable", "StudyError"]


class StudyError(ValueError):
    """A one-line problem with a study (missing, incompatible with the space...)."""


class StorageUnavailable(StudyError):
    """The study's storage did not answer within the retry bound; one line, password redacted."""
