"""Training loops shared by every family."""

from lutsearch.train._loop import (
    TrainConfig,
    TrainContext,
    TrainingDiverged,
    TrainResult,
    TrainState,
    accuracy,
    fit_module,
    train_model,
)

__all__ = [
    "TrainConfig",
    "TrainContext",
    "TrainResult",
    "TrainState",
    "TrainingDiverged",
    "accuracy",
    "fit_module",
    "train_model",
]
