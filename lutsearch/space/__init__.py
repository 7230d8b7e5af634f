"""Search spaces: YAML files describing what a study explores (schema: docs/spaces.md)."""

from lutsearch.space._fidelity import Fidelity
from lutsearch.space._params import Categorical, Fixed, FloatRange, IntRange, Param, PerLayer, SpaceError
from lutsearch.space._samplers import SAMPLERS, SamplerSpec, register_sampler, sampler_names
from lutsearch.space._schema import Constraint, ObjectiveRef, SearchSpace, load_space, parse_space

__all__ = [
    "SAMPLERS",
    "Categorical",
    "Constraint",
    "Fidelity",
    "Fixed",
    "FloatRange",
    "IntRange",
    "ObjectiveRef",
    "Param",
    "PerLayer",
    "SamplerSpec",
    "SearchSpace",
    "SpaceError",
    "load_space",
    "parse_space",
    "register_sampler",
    "sampler_names",
]
