"""One direction of dependency: hardware never imports torch/optuna/the search; models never import the CLI;
the search never imports the report (``lutsearch.analyze``), which never imports the training stack."""

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


@pytest.mark.parametrize(
    "module,forbidden_roots,forbidden_pkgs",
    [
        (
            "lutsearch.hw",
            ("torch", "optuna", "ray", "brevitas"),
            (
                "lutsearch.search",
                "lutsearch.export",
                "lutsearch.models",
                "lutsearch.train",
                "lutsearch.objectives",
                "lutsearch.cli",
            ),
        ),
        ("lutsearch.tables", ("torch", "optuna", "ray"), ("lutsearch.search", "lutsearch.models", "lutsearch.hw")),
        (
            "lutsearch.models",
            ("optuna", "ray"),
            ("lutsearch.cli", "lutsearch.search", "lutsearch.export", "lutsearch.trial"),
        ),
        ("lutsearch.trial", ("optuna",), ("lutsearch.cli", "lutsearch.search", "lutsearch.export")),
        ("lutsearch.search", (), ("lutsearch.cli", "lutsearch.export", "lutsearch.analyze")),
        # the report reads a finished study: no training stack, no CLI
        ("lutsearch.analyze", ("torch", "ray", "brevitas"), ("lutsearch.cli", "lutsearch.models", "lutsearch.train")),
    ],
)
def test_import_direction(module, forbidden_roots, forbidden_pkgs):
    code = CHECK.format(module=module, forbidden_roots=forbidden_roots, forbidden_pkgs=forbidden_pkgs)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"


def _module_imports() -> dict[str, set[str]]:
    """lutsearch's modules -> the lutsearch modules they import at module level (``from pkg import sub``
    counts as importing ``pkg.sub``; imports under ``if TYPE_CHECKING:`` and inside functions do not)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "lutsearch"
    files = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in files}
                deps.update(subs or {base})
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def test_no_import_cycles():
    """No two lutsearch modules import each other, directly or through others."""
    graph = _module_imports()
    assert len(graph) > 50
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join([*path, module, dep])
            if dep not in state:
                visit(dep, [*path, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
