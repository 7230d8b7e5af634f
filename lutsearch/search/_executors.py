"""Where trials run: on Ray (local or a cluster) or in the driver process itself.

Executors only run ``lutsearch.trial.run_trial``; they never touch the study's storage (the driver
owns it). ``submit`` returns a handle (``rung``: train only up to that multi-fidelity rung, one task per rung);
``wait`` blocks until at least one handle finishes (or ``timeout`` seconds pass) and
returns ``(handle, TrialResult)`` pairs, where a crashed worker's result is ``TrialResult.failure``.

On Ray every result records the node and host the trial ran on (``ray_node``, ``host``), and
``memory_per_trial_mb`` both reserves Ray's ``memory`` resource and caps the trial's address space in
its worker (``RLIMIT_AS`` above what the worker already maps, lifted after the trial): a trial that
allocates beyond it fails with ``out of memory: ...`` instead of taking the machine down, and so does one
that Ray's memory monitor or the kernel kills.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import resource
import socket
from collections.abc import Callable, Hashable
from typing import Any

from lutsearch.trial import TrialResult, run_trial

__all__ = ["BaseExecutor", "ExecutorError", "InProcessExecutor", "RayExecutor", "make_executor"]


class ExecutorError(RuntimeError):
    """The executor could not start (e.g. no Ray cluster at the given address); one line."""


class BaseExecutor:
    """Runs trials; pluggable like Optuna's samplers and storages."""

    _pool: concurrent.futures.ThreadPoolExecutor | None = None

    def submit(self, config: dict[str, Any], artifact_dir: str, rung: int | None = None) -> Hashable:
        raise NotImplementedError

    def wait(self, handles: list[Hashable], timeout: float | None = None) -> list[tuple[Hashable, TrialResult]]:
        """The finished handles with their results: at least one, or none after ``timeout`` seconds."""
        raise NotImplementedError

    def cancel(self, handles: list[Hashable]) -> None:
        """Stop the given running trials (best effort)."""

    # background tasks (e.g. Yosys confirming a design), never waited for by the trial loop
    def submit_background(self, fn: Callable[..., Any], *args: Any) -> Hashable:
        """Start ``fn(*args)`` in the background (a thread here; a Ray task on Ray)."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lutsearch-bg")
        return self._pool.submit(fn, *args)

    def finished_background(self, handles: list[Hashable], timeout: float = 0.0) -> list[tuple[Hashable, Any]]:
        """The handles whose tasks ended within ``timeout`` seconds, with their result or exception."""
        futures = [h for h in handles if isinstance(h, concurrent.futures.Future)]
        done, _ = concurrent.futures.wait(futures, timeout=timeout)
        return [(f, f.exception() or f.result()) for f in done]

    def shutdown(self) -> None:
        """Release resources (a local Ray instance started here is stopped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    @property
    def description(self) -> str:
        return type(self).__name__


class InProcessExecutor(BaseExecutor):
    """Runs each trial synchronously in the driver process (no Ray); for debugging and benchmarks."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._results: dict[int, TrialResult] = {}
        self._next = 0

    def submit(self, config, artifact_dir, rung=None):
        handle = self._next
        self._next += 1
        self._results[handle] = run_trial(config, artifact_dir, self.threads, rung=rung)
        return handle

    def wait(self, handles, timeout=None):
        return [(h, self._results.pop(h)) for h in handles if h in self._results]

    @property
    def description(self) -> str:
        return "in-process"


class RayExecutor(BaseExecutor):
    """Each trial is a Ray task with its own CPU/GPU resources; a worker that dies is retried once."""

    def __init__(
        self,
        address: str | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        num_cpus: int | None = None,
        max_retries: int = 1,
        memory_per_trial_mb: float | None = None,
    ) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry prompt or upload
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        import ray

        self._ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kwargs: dict[str, Any] = dict(
                include_dashboard=False, log_to_driver=False, logging_level="ERROR", configure_logging=True
            )
            if address and address != "auto":
                _check_reachable(address)
            try:
                if address:
                    ray.init(address=address, **kwargs)
                else:  # "local": a new instance, even when another Ray runs on this machine
                    ray.init(address="local", num_cpus=num_cpus, **kwargs)
            except Exception as exc:  # connection refused, authentication, bad address...
                first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
                hint = (
                    "; a cluster with token authentication needs RAY_AUTH_MODE=token and its token "
                    "(~/.ray/auth_token or RAY_AUTH_TOKEN)"
                    if "auth" in str(exc).lower()
                    else ""
                )
                raise ExecutorError(f"could not start Ray ({address or 'local'}): {first[:300]}{hint}") from None
        self.address = address or "local"
        self.threads = max(1, math.ceil(cpus_per_trial))
        self.use_gpu = gpus_per_trial > 0
        self.memory_mb = memory_per_trial_mb
        resources: dict[str, Any] = {"num_cpus": cpus_per_trial, "num_gpus": gpus_per_trial}
        if memory_per_trial_mb:
            resources["memory"] = int(memory_per_trial_mb * 2**20)
        self._remote = ray.remote(run_trial_on_node).options(
            **resources, max_retries=max_retries, retry_exceptions=False
        )

    def submit(self, config, artifact_dir, rung=None):
        return self._remote.remote(config, artifact_dir, self.threads, self.use_gpu, rung, self.memory_mb)

    def wait(self, handles, timeout=None):
        ray = self._ray
        ready, _ = ray.wait(list(handles), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            try:
                out.append((ref, ray.get(ref)))
            except Exception as exc:  # the worker process or its node died (also after its retry), or OOM
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                error = f"ray task failed: {type(exc).__name__}: {text}"
                oom = isinstance(exc, ray.exceptions.OutOfMemoryError)
                out.append((ref, TrialResult.failure(f"out of memory: {error}" if oom else error)))
        return out

    def cancel(self, handles):
        for ref in handles:
            self._ray.cancel(ref, force=True)

    def submit_background(self, fn, *args):
        """A one-CPU Ray task (on a cluster: wherever Ray places it)."""
        return self._ray.remote(fn).options(num_cpus=1, max_retries=1).remote(*args)

    def finished_background(self, handles, timeout=0.0):
        refs = [h for h in handles if isinstance(h, self._ray.ObjectRef)]
        if not refs:
            return []
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=timeout)
        out: list[tuple[Hashable, Any]] = []
        for ref in ready:
            try:
                out.append((ref, self._ray.get(ref)))
            except Exception as exc:  # the task failed or its worker died: the caller records it
                out.append((ref, exc))
        return out

    def shutdown(self) -> None:
        super().shutdown()
        if self.started_here:
            self._ray.shutdown()

    @property
    def description(self) -> str:
        return f"ray ({self.address})"


_OOM_SIGNS = ("MemoryError", "can't allocate memory", "std::bad_alloc", "Cannot allocate memory", "out of memory")


def run_trial_on_node(
    config: dict[str, Any],
    artifact_dir: str,
    threads: int,
    use_gpu: bool,
    rung: int | None,
    memory_mb: float | None = None,
) -> TrialResult:
    """``run_trial`` in a Ray worker: under ``memory_mb`` of new address space when given (module
    docstring); the result records where it ran, and an allocation failure reads ``out of memory: ...``."""
    import ray

    limit = _cap_address_space(memory_mb) if memory_mb else None
    try:
        result = run_trial(config, artifact_dir, threads, use_gpu, rung)
    finally:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, limit)
    if not result.ok and result.error and any(sign in result.error for sign in _OOM_SIGNS):
        cap = f" (limit {memory_mb:g} MiB per trial)" if memory_mb else ""
        result = dataclasses.replace(result, error=f"out of memory{cap}: {result.error.splitlines()[0][:300]}")
    result.user_attrs["ray_node"] = ray.get_runtime_context().get_node_id()
    result.user_attrs["host"] = socket.gethostname()
    return result


def _cap_address_space(memory_mb: float) -> tuple[int, int]:
    """Lower this process's soft ``RLIMIT_AS`` to what it maps now plus ``memory_mb``; the old limits."""
    old = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as f:
        vm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    cap = vm_kb * 1024 + int(memory_mb * 2**20)
    if old[1] != resource.RLIM_INFINITY:
        cap = min(cap, old[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    return old


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast with one line when nothing listens at ``host:port`` (ray.init would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"--ray-address must be host:port, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorError(f"no Ray cluster answers at {address}: {exc}") from None


def make_executor(
    kind: str,
    *,
    ray_address: str | None,
    cpus_per_trial: float,
    gpus_per_trial: float,
    workers: int,
    memory_per_trial_mb: float | None = None,
) -> BaseExecutor:
    if kind == "inprocess":  # no memory cap: it would bind the driver itself
        return InProcessExecutor(threads=max(1, math.ceil(cpus_per_trial)))
    if kind == "ray":
        num_cpus = None if ray_address else max(os.cpu_count() or 1, math.ceil(workers * cpus_per_trial))
        return RayExecutor(
            ray_address, cpus_per_trial, gpus_per_trial, num_cpus=num_cpus, memory_per_trial_mb=memory_per_trial_mb
        )
    raise ValueError(f"unknown executor {kind!r}; allowed: ray, inprocess")
