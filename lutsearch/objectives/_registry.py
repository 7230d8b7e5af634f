"""One place that registers objectives (and constraint metrics) by name.

An objective has a name, a default direction and one or more *backends* (``analytic``,
``surrogate``, ``synthesis``): functions ``(ctx, **options) -> float``. A space names an objective
and may pick a backend with ``via:``. Objectives that share an expensive computation (LUTs and
latency both come from one synthesis run) share it through ``ctx.cache``.

Third-party objectives: a Python file that calls ``register_objective`` (see the repository's
``objectives/`` folder), listed under ``plugins:`` in a space.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lutsearch._registry import Registry
from lutsearch.tables import TruthTableNetwork

__all__ = [
    "OBJECTIVES",
    "EvalContext",
    "ObjectiveSpec",
    "evaluate_objective",
    "get_objective",
    "load_plugin",
    "objective_names",
    "register_objective",
]


@dataclasses.dataclass
class EvalContext:
    """What an objective sees after training: the truth-table network and the trial's metrics.

    ``metrics``: at least ``val_acc``, ``test_acc`` (never an objective), ``dataset_variant``.
    ``workdir``: the trial's artifact folder (backends may write reports there).
    ``cache``: shared between the objectives of one trial.
    ``split_codes``: a split's exact input codes and labels (see below).
    """

    network: TruthTableNetwork
    metrics: dict[str, Any]
    workdir: Path | None = None
    cache: dict[str, Any] = dataclasses.field(default_factory=dict)
    # input codes and labels of a split ("train", "val", "test"), computed when first asked for
    # (don't-care compression needs the training codes); None where no data is at hand
    split_codes: Callable[[str], tuple[np.ndarray, np.ndarray]] | None = None


Backend = Callable[..., float]


@dataclasses.dataclass(frozen=True)
class ObjectiveSpec:
    name: str
    direction: str  # "maximize" | "minimize"
    backends: dict[str, Backend]
    default_backend: str
    doc: str = ""
    unit: str = ""


_OBJECTIVES: dict[str, ObjectiveSpec] = {}


class _ObjectiveRegistry(Registry[ObjectiveSpec]):
    def _store(self) -> dict[str, ObjectiveSpec]:
        return _OBJECTIVES  # looked up on each call, so a test may swap in a copy


OBJECTIVES: Registry[ObjectiveSpec] = _ObjectiveRegistry(
    "objective", package="lutsearch.objectives", group="lutsearch.objectives"
)


def register_objective(
    name: str,
    direction: str,
    backend: str,
    fn: Backend,
    *,
    default: bool = False,
    doc: str = "",
    unit: str = "",
) -> None:
    """Register ``fn`` as backend ``backend`` of objective ``name`` (creating the objective)."""
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"objective {name!r}: direction must be 'maximize' or 'minimize'")
    spec = _OBJECTIVES.get(name)  # no discovery: registering is part of it
    if spec is None:
        spec = ObjectiveSpec(name, direction, {}, backend, doc, unit)
    elif spec.direction != direction:
        raise ValueError(f"objective {name!r} registered with two directions")
    backends = {**spec.backends, backend: fn}
    default_backend = backend if default else spec.default_backend
    OBJECTIVES.register(
        name,
        dataclasses.replace(
            spec, backends=backends, default_backend=default_backend, doc=spec.doc or doc, unit=spec.unit or unit
        ),
        replace=True,
    )


def objective_names() -> list[str]:
    return OBJECTIVES.names()


def get_objective(name: str) -> ObjectiveSpec:
    return OBJECTIVES.get(name)


def evaluate_objective(name: str, ctx: EvalContext, via: str | None = None, **options: Any) -> float:
    spec = get_objective(name)
    backend = via or spec.default_backend
    try:
        fn = spec.backends[backend]
    except KeyError:
        raise ValueError(
            f"objective {name!r} has no backend {backend!r}; allowed: {', '.join(sorted(spec.backends))}"
        ) from None
    return float(fn(ctx, **options))


_LOADED_PLUGINS: set[Path] = set()


def load_plugin(path: str | Path) -> None:
    """Import a Python file that registers objectives (once per process)."""
    path = Path(path).resolve()
    if path in _LOADED_PLUGINS:
        return
    if not path.is_file():
        raise FileNotFoundError(f"objective plugin {path} does not exist")
    module_name = f"lutsearch_plugin_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None  # a Python file that exists has both
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _LOADED_PLUGINS.add(path)
