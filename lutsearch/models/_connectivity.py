"""Connectivity schemes: how a network's neurons pick their F inputs (the ``connectivity:`` knob).

A scheme is a ``ConnectivityScheme``: a name, its own knobs (every family accepts them; they take
effect, and enter the resolved configuration, only when the scheme is chosen) and
``apply(model, params, generator)``, which adapts a freshly built network *by composition*: it may
wrap each ``LUTLayer``'s neuron function, and the wrapper talks to its layer through the
``NeuronFunction`` hooks (``slot_rows``: the neuron computes its own slot values from the whole layer
input; ``on_epoch_start``: new indices for the layer; ``reset_inputs``: the layer's indices were set
from outside). No layer ever changes class.

``CONNECTIVITY`` is a ``Registry`` like the families' (its items come from the modules of
``lutsearch.models``, the entry-point group ``lutsearch.connectivity`` and ``plugins:`` files).
Built in: ``random`` here (each neuron reads a fixed random subset of F inputs, as in LogicNets; the
family builders already draw it, so applying it changes nothing) and ``sparselut``
(``lutsearch.models.sparselut``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from lutsearch._registry import Registry
from lutsearch.models._base import LUTLayer, LUTNetwork
from lutsearch.models._knobs import Knob

__all__ = [
    "CONNECTIVITY",
    "ConnectivityScheme",
    "apply_connectivity",
    "connectivity_names",
    "layer_inputs",
    "lut_layers",
    "register_connectivity",
    "scheme_knobs",
    "set_layer_indices",
]

Apply = Callable[[LUTNetwork, dict[str, Any], torch.Generator], LUTNetwork]


@dataclasses.dataclass(frozen=True)
class ConnectivityScheme:
    """One way for neurons to pick their inputs: ``apply`` gets the built network, the resolved
    parameters (the scheme's own knobs filled in) and the build's random generator."""

    name: str
    apply: Apply
    knobs: dict[str, Knob] = dataclasses.field(default_factory=dict)
    doc: str = ""


class _ConnectivityRegistry(Registry[ConnectivityScheme]):
    """A knob name belongs to one scheme only (the resolved configuration says whose it is)."""

    def register(self, name: str, item: ConnectivityScheme, *, replace: bool = False) -> ConnectivityScheme:
        for other_name, other in self._store().items():
            clash = sorted(set(other.knobs) & set(item.knobs))
            if clash and other_name != name:
                raise ValueError(f"connectivity {name!r}: knob {clash[0]!r} is already connectivity {other_name!r}'s")
        return super().register(name, item, replace=replace)


CONNECTIVITY: Registry[ConnectivityScheme] = _ConnectivityRegistry(
    "connectivity scheme", short="connectivity", package="lutsearch.models", group="lutsearch.connectivity"
)


def register_connectivity(scheme: ConnectivityScheme) -> ConnectivityScheme:
    return CONNECTIVITY.register(scheme.name, scheme)


def connectivity_names() -> list[str]:
    return CONNECTIVITY.names()


def scheme_knobs() -> dict[str, tuple[str, Knob]]:
    """Every registered scheme's knobs: knob name -> (scheme name, knob)."""
    return {key: (name, knob) for name in CONNECTIVITY.names() for key, knob in CONNECTIVITY.get(name).knobs.items()}


def apply_connectivity(model: LUTNetwork, params: dict[str, Any], generator: torch.Generator) -> LUTNetwork:
    return CONNECTIVITY.get(params.get("connectivity", "random")).apply(model, params, generator)


def lut_layers(model: torch.nn.Module) -> list[LUTLayer]:
    """Every ``LUTLayer`` of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, LUTLayer)]


def layer_inputs(model: LUTNetwork) -> dict[int, int]:
    """Input width of every LUTLayer (by ``id``), found by one eval-mode forward pass (any family)."""
    widths: dict[int, int] = {}
    layers = lut_layers(model)
    hooks = [
        m.register_forward_pre_hook(lambda mod, args: widths.__setitem__(id(mod), args[0].shape[1])) for m in layers
    ]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, model.n_inputs))
            if any(id(m) not in widths for m in layers):
                LUTNetwork.forward(model, torch.zeros(2, model.n_inputs))  # a forward that skips layer calls
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return widths


def set_layer_indices(layer: LUTLayer, indices: torch.Tensor, generator: torch.Generator | None = None) -> None:
    """Set a layer's connectivity from outside (e.g. NLA's learned grouping); its neuron function
    (e.g. SparseLUT's candidate pools) follows through ``reset_inputs``."""
    indices = indices.to(layer.indices.device, torch.int64)
    layer.neuron.reset_inputs(indices, generator)
    layer.indices.copy_(indices)


def _keep_random(model: LUTNetwork, params: dict[str, Any], generator: torch.Generator) -> LUTNetwork:
    return model


register_connectivity(
    ConnectivityScheme(
        name="random",
        apply=_keep_random,
        doc="each neuron reads a fixed random subset of F inputs (LogicNets); drawn by the family's builder",
    )
)
