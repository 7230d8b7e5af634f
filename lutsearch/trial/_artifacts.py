"""Reading a trial's artifact folder back: config, metrics, truth tables and the trained model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from lutsearch.tables import TruthTableNetwork

__all__ = ["TrialArtifact", "load_artifact"]


@dataclasses.dataclass
class TrialArtifact:
    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    network: TruthTableNetwork

    def build_model(self):
        """The trained PyTorch model, rebuilt from the resolved config and its saved state."""
        import torch

        from lutsearch.models import build_model

        cfg = self.config
        model = build_model(cfg["family"], cfg["params"], cfg["n_inputs"], cfg["n_classes"], cfg["seed"])
        model.load_state_dict(torch.load(self.path / "model.pt", weights_only=True))
        return model.eval()

    def load_data(self):
        from lutsearch.trial._run import load_trial_dataset

        return load_trial_dataset(self.config["dataset"])


def load_artifact(path: str | Path) -> TrialArtifact:
    path = Path(path)
    for name in ("config.json", "metrics.json", "tables.npz", "model.pt"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path}: trial artifact is missing {name}")
    return TrialArtifact(
        path=path,
        config=json.loads((path / "config.json").read_text()),
        metrics=json.loads((path / "metrics.json").read_text()),
        network=TruthTableNetwork.load(path / "tables.npz"),
    )
