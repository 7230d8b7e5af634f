"""The ``surrogate`` cost backend: Yosys' LUT count and LUT depth predicted from the truth tables.

Each live neuron's table is restricted exactly as ``neuron``-mode synthesis restricts it
(``network_units``), described by vectorized features (``unit_features``), and costed by models fitted
on per-unit Yosys results (``Calibration``: rows from ``unit_rows`` over ``random_networks`` and, later,
trained designs); a layer's LUTs are the sum of its units, its depth the deepest unit's.
"""

from lutsearch.hw.surrogate._tables import UnitTable, network_units, table_key
from lutsearch.hw.surrogate.backend import SurrogateBackend, predict_units
from lutsearch.hw.surrogate.calibration import Calibration, CalibrationRow
from lutsearch.hw.surrogate.corpus import KINDS, random_networks, unit_rows
from lutsearch.hw.surrogate.features import FEATURE_NAMES, unit_features

__all__ = [
    "FEATURE_NAMES",
    "KINDS",
    "Calibration",
    "CalibrationRow",
    "SurrogateBackend",
    "UnitTable",
    "network_units",
    "predict_units",
    "random_networks",
    "table_key",
    "unit_features",
    "unit_rows",
]
