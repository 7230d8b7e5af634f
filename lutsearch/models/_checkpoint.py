"""A model's full training state for checkpoints between multi-fidelity rungs.

``state_dict()`` alone does not resume a Brevitas model exactly: a ``ParameterFromRuntimeStatsScaling``
quantizer keeps its statistics counter and running buffer outside it, saves the buffer in place of
its learned value during the statistics phase (which ends by multiplying that value by the buffer),
and loading a state dict ends the statistics phase. ``snapshot`` adds the counter, buffer and value,
and the prelude's report, in plain tensors and numbers, so a checkpoint loads with
``torch.load(weights_only=True)``; ``restore`` puts everything back on a freshly built model of the
same configuration.
"""

from __future__ import annotations

from typing import Any

import torch
from brevitas.core.scaling import ParameterFromRuntimeStatsScaling

from lutsearch.models._model import LUTModel

__all__ = ["restore", "snapshot"]


def snapshot(model: LUTModel) -> dict[str, Any]:
    """Weights, buffers, quantizer statistics state and the prelude's report of ``model``."""
    stats = {
        name: {"counter": int(m.counter), "buffer": m.buffer.detach().clone(), "value": m.value.detach().clone()}
        for name, m in model.named_modules()
        if isinstance(m, ParameterFromRuntimeStatsScaling)
    }
    return {"weights": model.state_dict(), "stats": stats, "grouping_history": dict(model.grouping_history)}


def restore(model: LUTModel, state: dict[str, Any]) -> None:
    """Load a ``snapshot`` into a model built from the same configuration."""
    model.load_state_dict(state["weights"])
    stats = state["stats"]
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, ParameterFromRuntimeStatsScaling) and name in stats:
                m.counter = int(stats[name]["counter"])
                m.buffer.copy_(stats[name]["buffer"])
                m.value.copy_(stats[name]["value"])
    model.grouping_history = dict(state["grouping_history"])
