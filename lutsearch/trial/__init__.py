"""A trial: train one configuration, turn it into truth tables, score it, save its artifacts."""

from lutsearch.trial._artifacts import TrialArtifact, load_artifact
from lutsearch.trial._run import TrialResult, TrialStatus, load_trial_dataset, run_trial, write_json

__all__ = [
    "TrialArtifact",
    "TrialResult",
    "TrialStatus",
    "load_artifact",
    "load_trial_dataset",
    "run_trial",
    "write_json",
]
