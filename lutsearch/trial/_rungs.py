"""A trial's files for multi-fidelity training: the checkpoint between rungs, the rung log, the progress.

``checkpoint.pt``: the model's full training state (``lutsearch.models.training_snapshot``) and the
training loop's (``lutsearch.train.TrainState``), plain tensors and numbers: loaded with
``torch.load(weights_only=True)``. It is written to a temporary file and renamed, so a process killed
while saving leaves the previous rung's checkpoint intact, never half a file.
``rungs.json``: one ``TrialResult`` per finished rung. ``progress.json``: the current epoch.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lutsearch.models import LUTNetwork
    from lutsearch.train import TrainState
    from lutsearch.trial._run import TrialResult

__all__ = [
    "fidelity_rungs",
    "load_checkpoint",
    "log_rung",
    "logged_rung",
    "save_checkpoint",
    "trial_rungs",
    "write_progress",
]

CHECKPOINT = "checkpoint.pt"
RUNG_LOG = "rungs.json"
PROGRESS = "progress.json"


def fidelity_rungs(min_epochs: int, eta: float, max_epochs: int) -> list[int]:
    """Successive-halving rungs on epochs: ``min * eta**k`` while the next one still fits, then ``max``.

    ``(3, 3, 30)`` gives ``[3, 9, 30]``; a budget no larger than ``min`` is one rung."""
    rungs: list[int] = []
    r = float(max(1, min_epochs))
    while r * eta <= max_epochs and round(r) < max_epochs:
        rungs.append(round(r))
        r *= eta
    return [*rungs, int(max_epochs)]


def trial_rungs(config: dict[str, Any], fidelity: Any, n_train: int) -> list[int]:
    """The rungs (epochs) of a configuration: ``fidelity``'s min and eta up to the epochs its training
    budget gives on ``n_train`` rows (``TrainConfig.budget``: small data trains more epochs)."""
    from lutsearch.train import TrainConfig

    epochs, _ = TrainConfig.from_dict(dict(config.get("train", {}))).budget(n_train)
    return fidelity_rungs(int(fidelity.min), float(fidelity.eta), int(epochs))


def save_checkpoint(workdir: Path, model: LUTNetwork, state: TrainState) -> None:
    import torch

    from lutsearch.models import training_snapshot
    from lutsearch.trial._atomic import atomic_bytes

    buffer = io.BytesIO()  # then temp file + fsync + rename (lutsearch.trial._atomic)
    torch.save({"model": training_snapshot(model), "train": state.as_dict()}, buffer)
    atomic_bytes(workdir / CHECKPOINT, buffer.getvalue())


def load_checkpoint(workdir: Path, model: LUTNetwork) -> TrainState | None:
    """Restore ``model`` from the trial's checkpoint; its training state, or None when there is none."""
    import torch

    from lutsearch.models import restore_training_state
    from lutsearch.train import TrainState

    path = workdir / CHECKPOINT
    if not path.is_file():
        return None
    saved = torch.load(path, weights_only=True)
    restore_training_state(model, saved["model"])
    return TrainState.of(saved["train"])


def _log(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / RUNG_LOG
    return json.loads(path.read_text()) if path.is_file() else []


def logged_rung(workdir: Path, rung: int) -> TrialResult | None:
    """The result already logged for ``rung`` (a rerun after the driver died), or None."""
    from lutsearch.trial._run import TrialResult

    for row in _log(workdir):
        if row["rung"] == rung:
            return TrialResult.of_json(row)
    return None


def log_rung(workdir: Path, result: TrialResult) -> None:
    from lutsearch.trial._run import write_json

    rows = [r for r in _log(workdir) if r["rung"] != result.rung]
    write_json(workdir / RUNG_LOG, [*rows, result.as_json()])


def write_progress(workdir: Path, info: dict[str, Any]) -> None:
    from lutsearch.trial._run import write_json

    write_json(workdir / PROGRESS, {**info, "time": time.time()}, durable=False)  # live display: no fsync
