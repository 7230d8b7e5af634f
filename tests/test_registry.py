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
        return (
            [importlib.metadata.EntryPoint(name, value, kw["group"]) for name, value in eps]
            if kw.get("group") == group
            else []
        )

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
    calls = _fake_entry_points(
        monkeypatch,
        "lutsearch.gadgets",
        [
            ("by_module", "fake_lutsearch_plugin_mod"),
            ("by_function", "fake_lutsearch_plugin:register"),
            ("from_item", "fake_lutsearch_plugin:ITEM"),
        ],
    )
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
    assert messages[0].startswith(
        "gadget plug-in 'broken' (no_such_module_for_lutsearch:thing) could not be loaded: ModuleNotFoundError"
    )


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


def test_item_type_entry_points_take_instances_and_classes(monkeypatch):
    """With ``item_type``, an entry point may name an instance or a class of items (instantiated)."""

    class Gadget:
        pass

    reg: Registry[Gadget] = Registry("gadget", group="lutsearch.gadgets", item_type=Gadget)
    plugin = types.ModuleType("fake_lutsearch_typed")
    plugin.Gadget, plugin.INSTANCE = Gadget, Gadget()
    monkeypatch.setitem(sys.modules, "fake_lutsearch_typed", plugin)
    _fake_entry_points(
        monkeypatch,
        "lutsearch.gadgets",
        [("by_class", "fake_lutsearch_typed:Gadget"), ("by_instance", "fake_lutsearch_typed:INSTANCE")],
    )
    assert reg.get("by_instance") is plugin.INSTANCE
    assert isinstance(reg.get("by_class"), Gadget) and reg.get("by_class") is not plugin.INSTANCE


def test_sampler_registry_builtins_and_entry_point_plugin(monkeypatch):
    """Samplers come from the registry: built-ins in their documented order, an Optuna sampler class
    named by an entry point usable (and its options checked) from a space."""
    import optuna

    from lutsearch.space import SAMPLERS, sampler_names
    from lutsearch.space._schema import _sampler

    assert sampler_names()[:5] == ["tpe", "nsga2", "nsga3", "gp", "random"]
    assert type(SAMPLERS.get("nsga2").build(3, {"population_size": 8})).__name__ == "NSGAIISampler"

    class CountingSampler(optuna.samplers.RandomSampler):
        """Random search that counts its trials."""

        def __init__(self, seed=None, start=0):
            super().__init__(seed=seed)
            self.count = start

    plugin = types.ModuleType("fake_lutsearch_sampler")
    plugin.CountingSampler = CountingSampler
    monkeypatch.setitem(sys.modules, "fake_lutsearch_sampler", plugin)
    _fake_entry_points(monkeypatch, "lutsearch.samplers", [("counting", "fake_lutsearch_sampler:CountingSampler")])
    monkeypatch.setattr(SAMPLERS, "_items", dict(SAMPLERS._items))
    monkeypatch.setattr(SAMPLERS, "_loaded", False)
    assert _sampler("s.yaml: ", {"name": "counting", "options": {"start": 5}}) == (
        "counting",
        {"start": 5},
        "reuse",
        "joint",
        None,
    )
    assert SAMPLERS.get("counting").build(1, {"start": 5}).count == 5
    assert SAMPLERS.get("counting").doc == "Random search that counts its trials."
    from lutsearch.space import SpaceError

    with pytest.raises(
        SpaceError,
        match=r"^s.yaml: sampler.options.stop: not an option of CountingSampler; "
        r"allowed: start$",
    ):
        _sampler("s.yaml: ", {"name": "counting", "options": {"stop": 5}})


def test_connectivity_scheme_plugin_brings_its_own_knob(monkeypatch):
    """A third-party connectivity scheme registers with its own knob; families accept the knob, only
    designs using the scheme resolve it, and the scheme changes the network by composition."""
    import numpy as np
    import torch

    from lutsearch.models import CONNECTIVITY, ConnectivityScheme, Knob, build_model, register_connectivity
    from lutsearch.models._connectivity import lut_layers, set_layer_indices
    from lutsearch.models._registry import resolve_params

    def first_inputs(model, params, generator):
        """Every neuron of the first layer reads inputs offset..offset+F-1 (a fixed, shared window)."""
        layer = lut_layers(model)[0]
        window = torch.arange(layer.fan_in) + params["window_offset"]
        set_layer_indices(layer, window.expand(layer.n_out, -1))
        return model

    monkeypatch.setattr(CONNECTIVITY, "_items", dict(CONNECTIVITY._items))
    register_connectivity(ConnectivityScheme("window", first_inputs, {"window_offset": Knob("int", 0, "first input")}))
    base = dict(widths=[6], input_fan_in=2, fan_in=2, output_fan_in=2)
    assert "window_offset" not in resolve_params("logicnets", {**base, "window_offset": 3})  # scheme not chosen
    resolved = resolve_params("logicnets", {**base, "connectivity": "window", "window_offset": 3})
    assert resolved["window_offset"] == 3 and "sparse_T" not in resolved
    model = build_model("logicnets", {**base, "connectivity": "window", "window_offset": 3}, 8, 3, seed=0)
    first = lut_layers(model)[0]
    assert type(first).__name__ == "LUTLayer" and first.indices.tolist() == [[3, 4]] * 6
    codes = np.random.default_rng(0).integers(0, 4, (50, 8))
    assert np.array_equal(model.predict_codes(codes), model.to_tables().evaluate(codes))
    with pytest.raises(ValueError, match="knob 'window_offset' is already connectivity 'window'"):
        register_connectivity(ConnectivityScheme("window2", first_inputs, {"window_offset": Knob("int", 0)}))
