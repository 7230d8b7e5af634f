"""One direction of dependency: hardware never imports torch/optuna/the search; models never import the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import sys
import {module}
bad = sorted({{m for m in sys.modules if m.split('.')[0] in {forbidden_roots!r}
              or any(m == p or m.startswith(p + '.') for p in {forbidden_pkgs!r})}})
print(','.join(bad))
"""


@pytest.mark.parametrize("module,forbidden_roots,forbidden_pkgs", [
    ("lutsearch.hw", ("torch", "optuna", "ray", "brevitas"),
     ("lutsearch.search", "lutsearch.export", "lutsearch.models", "lutsearch.train", "lutsearch.objectives",
      "lutsearch.cli")),
    ("lutsearch.tables", ("torch", "optuna", "ray"), ("lutsearch.search", "lutsearch.models", "lutsearch.hw")),
    ("lutsearch.models", ("optuna", "ray"), ("lutsearch.cli", "lutsearch.search", "lutsearch.export", "lutsearch.trial")),
    ("lutsearch.trial", ("optuna",), ("lutsearch.cli", "lutsearch.search", "lutsearch.export")),
    ("lutsearch.search", (), ("lutsearch.cli", "lutsearch.export")),
])
def test_import_direction(module, forbidden_roots, forbidden_pkgs):
    code = CHECK.format(module=module, forbidden_roots=forbidden_roots, forbidden_pkgs=forbidden_pkgs)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"
