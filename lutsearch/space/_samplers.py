"""Samplers by name (the space's ``sampler:`` key): a ``Registry[SamplerSpec]`` like the families'.

Built in: Optuna's ``tpe`` (default), ``nsga2``, ``nsga3``, ``gp`` and ``random``. A third-party sampler
registers with ``register_sampler`` (e.g. from a ``plugins:`` file of a space) or through the
entry-point group ``lutsearch.samplers``, naming a ``SamplerSpec`` or an Optuna ``BaseSampler``
subclass. A sampler's options (``sampler.options`` in the space) are its constructor's keyword
arguments, checked against its signature when the space is read; ``seed`` is the study's.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from lutsearch._registry import Registry

__all__ = ["SAMPLERS", "SamplerSpec", "register_sampler", "sampler_names"]


@dataclasses.dataclass(frozen=True)
class SamplerSpec:
    """``cls()`` returns the sampler class (imported only when needed: Optuna loads slowly);
    the driver builds ``cls()(seed=seed, **options)``."""

    name: str
    cls: Callable[[], type]
    doc: str = ""

    def build(self, seed: int, options: dict[str, Any]) -> Any:
        return self.cls()(seed=seed, **options)

    def class_name(self) -> str:
        return self.cls().__name__

    def options(self) -> list[str]:
        """The keyword arguments a space may set (all of the constructor's but ``seed``)."""
        params = inspect.signature(self.cls()).parameters
        return [
            p
            for p, v in params.items()
            if p != "seed" and v.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]


class _SamplerRegistry(Registry[SamplerSpec]):
    """Names in registration order (the default, ``tpe``, first), not sorted."""

    def names(self) -> list[str]:
        self.load()
        return list(self._store())

    def from_entry_point(self, name: str, obj: object) -> None:
        import optuna

        if isinstance(obj, type) and issubclass(obj, optuna.samplers.BaseSampler):
            self.register(name, SamplerSpec(name, lambda: obj, (obj.__doc__ or "").strip().split("\n")[0]))
        else:
            super().from_entry_point(name, obj)


SAMPLERS: Registry[SamplerSpec] = _SamplerRegistry(
    "sampler", package="lutsearch.space._samplers", group="lutsearch.samplers", item_type=SamplerSpec
)


def register_sampler(spec: SamplerSpec) -> SamplerSpec:
    return SAMPLERS.register(spec.name, spec)


def sampler_names() -> list[str]:
    return SAMPLERS.names()


def _optuna(class_name: str) -> Callable[[], type]:
    def cls() -> type:
        import optuna

        return getattr(optuna.samplers, class_name)

    return cls


for _name, _cls, _doc in (
    ("tpe", "TPESampler", "multi-objective TPE (Optuna's default): good with few trials and conditional knobs"),
    ("nsga2", "NSGAIISampler", "NSGA-II: a genetic multi-objective search, for long studies"),
    ("nsga3", "NSGAIIISampler", "NSGA-III: NSGA-II with reference points, for three or more objectives"),
    ("gp", "GPSampler", "Gaussian-process Bayesian optimization (numeric knobs)"),
    ("random", "RandomSampler", "uniform random search: the baseline every sampler must beat"),
):
    register_sampler(SamplerSpec(_name, _optuna(_cls), _doc))
