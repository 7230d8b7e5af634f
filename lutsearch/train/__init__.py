"""Training loops shared by every family."""

from lutsearch.train._loop import (
    TrainConfig,
    TrainContext,
    TrainingDiverged,
    TrainResult,
    accuracy,
    fit_module,
    train_model,
)

__all__ = ["TrainConfig", "TrainContext", "TrainResult", "TrainingDiverged", "accuracy", "fit_module", "train_model"]
