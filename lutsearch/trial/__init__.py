"""A trial: train one configuration, turn it into truth tables, score it, save its artifacts."""

from lutsearch.trial._artifacts import TrialArtifact, load_artifact
from lutsearch.trial._run import TrialResult, TrialStatus, load_trial_dataset, run_trial, write_json
from lutsearch.trial._rungs import fidelity_rungs, trial_rungs

__all__ = [
    "TrialArtifact",
    "TrialResult",
    "TrialStatus",
    "fidelity_rungs",
    "load_artifact",
    "load_trial_dataset",
    "run_trial",
    "trial_rungs",
    "write_json",
]
