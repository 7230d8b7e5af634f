"""``--gpus-per-trial 0.25`` packs four trials on one GPU (issue item 8), checked without a GPU.

Ray schedules on logical resources: a local Ray started with ``num_gpus=1`` on a machine with no GPU still
gives each task its fraction of "GPU 0" (``CUDA_VISIBLE_DEVICES=0``), and the trial itself falls back to
the CPU (``torch.cuda.is_available()`` is false). With 6 trials in flight, CPUs for 8 and one GPU, the GPU
is what bounds the trials that run at once: exactly 4 of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import small_space
from optuna.trial import TrialState

from lutsearch.search import RunOptions, run_study
from lutsearch.space import load_space

# An objective that holds its task for 3 s and records when, and which GPU Ray gave the task.
SLOT = """
import json, os, time
from lutsearch.objectives import register_objective
def gpu_slot(ctx, **_):
    start = time.time()
    time.sleep(3.0)
    record = {"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": start, "end": time.time()}
    (ctx.workdir / "slot.json").write_text(json.dumps(record))
    return 0.0
register_objective("gpu_slot", "minimize", "test", gpu_slot, default=True)
"""


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])  # an end before a start at a tie
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


@pytest.mark.slow  # about 55 s on 2 cores (a local Ray and 8 trials of 3 s each); CI runs it in its slow step
def test_a_quarter_gpu_per_trial_runs_four_trials_on_one_gpu(tmp_path):
    import ray

    (tmp_path / "slot.py").write_text(SLOT)
    path = small_space(tmp_path, "gpu4", extra="plugins: [slot.py]")
    path.write_text(path.read_text().replace("objectives: [accuracy, luts, depth]", "objectives: [accuracy, gpu_slot]"))
    ray.init(
        address="local", num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR"
    )
    try:
        options = RunOptions(
            trials=8, workers=6, cpus_per_trial=0.5, gpus_per_trial=0.25, runs_dir=tmp_path / "runs", executor="ray"
        )
        summary = run_study(load_space(path), options)
    finally:
        ray.shutdown()
    trials = summary.handle.study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    records = [json.loads((Path(t.user_attrs["artifact_dir"]) / "slot.json").read_text()) for t in trials]
    assert {r["gpu"] for r in records} == {"0"}  # every trial was given a share of GPU 0
    assert _most_at_once([(r["start"], r["end"]) for r in records]) == 4
