"""The one registry behind families, datasets and objectives: names, errors, discovery, entry-point plug-ins."""

from __future__ import annotations

import importlib.metadata
import sys
import types
import warnings

import pytest

from lutsearch._registry import Registry, discover


def test_register_get_names_contains():
    reg: Registry[int] = Registry("widget")
    assert reg.register("b", 2) == 2
    reg.register("a", 1)
    assert reg.names() == ["a", "b"] and list(reg) == ["a", "b"] and len(reg) == 2
    assert "a" in reg and "c" not in reg
    assert reg.get("b") == 2
    with pytest.raises(ValueError, match=r"^unknown widget 'c'; allowed: a, b$"):
        reg.get("c")
    with pytest.raises(ValueError, match="widget 'a' registered twice"):
        reg.register("a", 3)
    reg.register("a", 3, replace=True)
    assert reg.get("a") == 3


def test_builtin_registries_keep_their_wording():
    from lutsearch.data import DATASETS, get_dataset
    from lutsearch.models import FAMILIES, family_names, get_family
    from lutsearch.objectives import OBJECTIVES, get_objective, objective_names

    assert FAMILIES.names() == family_names() and "logicnets" in FAMILIES
    assert OBJECTIVES.names() == objective_names() and "accuracy" in OBJECTIVES
    assert "digits" in DATASETS
    with pytest.raises(ValueError, match=r"unknown model family 'nope'; allowed: .*logicnets"):
        get_family("nope")
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'; allowed: .*digits"):
        get_dataset("nope")
    with pytest.raises(ValueError, match=r"unknown objective 'nope'; allowed: .*accuracy"):
        get_objective("nope")
    with pytest.raises(ValueError, match="family 'logicnets' registered twice"):
        FAMILIES.register("logicnets", get_family("logicnets"))


def test_discover_imports_public_modules_only(tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg_discover"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("LOADED = []\n")
    (pkg / "beta.py").write_text("from fakepkg_discover import LOADED\nLOADED.append('beta')\n")
    (pkg / "alpha.py").write_text("from fakepkg_discover import LOADED\nLOADED.append('alpha')\n")
    (pkg / "_infra.py").write_text("raise RuntimeError('infrastructure is not discovered')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert discover("fakepkg_discover") == ["alpha", "beta"]
        assert sys.modules["fakepkg_discover"].LOADED == ["alpha", "beta"]
    finally:
        for name in [m for m in sys.modules if m.startswith("fakepkg_discover")]:
            del sys.modules[name]


def _fake_entry_points(monkeypatch, group, eps):
    calls = []

    def entry_points(**kw):
        calls.append(kw)
        return [importlib.metadata.EntryPoint(name, value, kw["group"]) for name, value in eps] \
            if kw.get("group") == group else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return calls


def test_entry_point_plugins_load_once_and_lazily(monkeypatch):
    """A fake installed distribution offers a module (registers on import), a function and a bare item."""
    reg: Registry[str] = Registry("gadget", group="lutsearch.gadgets")
    plugin = types.ModuleType("fake_lutsearch_plugin")
    plugin.register = lambda: reg.register("from_function", "F")
    plugin.ITEM = "I"
    module_plugin = types.ModuleType("fake_lutsearch_plugin_mod")
    monkeypatch.setitem(sys.modules, "fake_lutsearch_plugin", plugin)
    monkeypatch.setitem(sys.modules, "fake_lutsearch_plugin_mod", module_plugin)
    calls = _fake_entry_points(monkeypatch, "lutsearch.gadgets", [
        ("by_module", "fake_lutsearch_plugin_mod"),
        ("by_function", "fake_lutsearch_plugin:register"),
        ("from_item", "fake_lutsearch_plugin:ITEM"),
    ])
    reg.register("builtin", "B")
    assert calls == []  # registering does not load plug-ins
    assert reg.names() == ["builtin", "from_function", "from_item"]
    assert reg.get("from_item") == "I" and "from_function" in reg
    assert calls == [{"group": "lutsearch.gadgets"}]  # loaded once


def test_broken_entry_point_is_one_warning_line(monkeypatch):
    reg: Registry[str] = Registry("gadget", group="lutsearch.gadgets")
    _fake_entry_points(monkeypatch, "lutsearch.gadgets", [("broken", "no_such_module_for_lutsearch:thing")])
    reg.register("builtin", "B")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert reg.names() == ["builtin"]
    messages = [str(w.message) for w in rec]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert messages[0].startswith("gadget plug-in 'broken' (no_such_module_for_lutsearch:thing) could not be loaded: "
                                  "ModuleNotFoundError")


def test_family_plugin_through_entry_points(monkeypatch):
    """The built-in family registry picks up a plug-in family registered by an entry point."""
    from lutsearch.models import FAMILIES, FamilySpec, get_family, register_family

    logicnets = get_family("logicnets")
    plugin = types.ModuleType("fake_lutsearch_family")
    plugin.register = lambda: register_family(FamilySpec("plugged", logicnets.build, {}, "a plug-in family"))
    monkeypatch.setitem(sys.modules, "fake_lutsearch_family", plugin)
    _fake_entry_points(monkeypatch, "lutsearch.families", [("plugged", "fake_lutsearch_family:register")])
    monkeypatch.setattr(FAMILIES, "_items", dict(FAMILIES._items))  # the plug-in stays local to this test
    monkeypatch.setattr(FAMILIES, "_loaded", False)
    assert get_family("plugged").doc == "a plug-in family"
    assert "logicnets" in FAMILIES.names()
