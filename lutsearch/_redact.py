"""Passwords out of storage URLs before they are printed, logged, stored or raised.

``redact_url("postgresql://u:secret@host/db")`` -> ``"postgresql://u:***@host/db"``; ``redact_text`` does
the same to every URL inside a message (e.g. a driver's exception text). Written by hand: SQLAlchemy's
``URL.render_as_string(hide_password=True)`` covers database URLs only, these cover any ``scheme://``.
"""

from __future__ import annotations

import re

__all__ = ["redact_text", "redact_url"]

MASK = "***"
# scheme://user:password@  (the password ends at the last '@' before the host; it may hold ':' or '/')
_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<password>[^\s@]*)@")
# key=value forms of libpq connection strings and query parameters: password=secret
_PARAM = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<password>[^\s&;]+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its password (user info after ':', or a ``password=`` parameter) replaced by ``***``."""
    return redact_text(url)


def redact_text(text: str) -> str:
    """``text`` with the password of every URL and every ``password=...`` in it replaced by ``***``."""
    text = _CREDENTIALS.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _PARAM.sub(lambda m: f"{m['head']}{MASK}", text)
