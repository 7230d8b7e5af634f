"""The search: the Optuna study, its driver, executors, progress and status."""

from lutsearch.search._driver import RunOptions, RunSummary, prune_reason, run_study
from lutsearch.search._executors import BaseExecutor, ExecutorError, InProcessExecutor, RayExecutor, make_executor
from lutsearch.search._report import ProgressReporter, front_rows, front_table, status_renderable, study_counts
from lutsearch.search._study import StudyError, StudyHandle, count_done, load_existing_study, open_study
from lutsearch.search._warmstart import WarmStartError, WarmStartPlan, enqueue_warm_start, plan_warm_start

__all__ = [
    "BaseExecutor",
    "ExecutorError",
    "InProcessExecutor",
    "ProgressReporter",
    "RayExecutor",
    "RunOptions",
    "RunSummary",
    "StudyError",
    "StudyHandle",
    "WarmStartError",
    "WarmStartPlan",
    "count_done",
    "enqueue_warm_start",
    "front_rows",
    "front_table",
    "load_existing_study",
    "make_executor",
    "open_study",
    "plan_warm_start",
    "prune_reason",
    "run_study",
    "status_renderable",
    "study_counts",
]
