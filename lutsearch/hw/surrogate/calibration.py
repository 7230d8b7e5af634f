"""Calibration of the surrogate: per-unit Yosys results (rows) and the models fitted on them.

A ``Calibration`` is its rows; the models are refitted from them (deterministically) whenever needed, so
the stored form is a small text file (CSV: key, source, tool, luts, depth, then ``FEATURE_NAMES``), never
a pickle. ``Calibration.default()`` reads the shipped ``calibration.csv`` once per process. Rows from
several sources (random tables, trained designs, imports) are combined with ``merge``/``extend``.

The models (``_model``; chosen by measurement on 3,108 random/structured units, 5-fold CV, and on
held-out designs against whole-design Yosys, see ``build_random --check``):

* units of <= 6 address bits are exact: one LUT6 per distinct output-bit function that is not a plain
  wire (an inverter is a LUT1), depth 1 (0 for wires only) -- exact on all 1,494 such units measured;
* wider units: gradient-boosted trees (scikit-learn ``GradientBoostingRegressor``) on the features
  predict log(Yosys LUTs / structural estimate), the structural estimate being min(LogicNets cost per
  distinct bit, shared mux-tree count); per-unit error 10 % (estimate alone 13 %, log LUTs directly
  11 %, a random forest or histogram boosting the same within 0.5 %), on 31-unit groups 3.7 %. The
  depth is an offset from the random-table depth of the widest output support (alone: 94 % of units
  exact; with the trees 96 %, off by at most 1 on all but a few units).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lutsearch.hw.surrogate.features import FEATURE_NAMES

__all__ = ["DEFAULT_PATH", "Calibration", "CalibrationRow"]

DEFAULT_PATH = Path(__file__).with_name("calibration.csv")
_HEAD = ("key", "source", "tool", "luts", "depth")


@dataclasses.dataclass
class CalibrationRow:
    """One synthesized unit: ``features`` aligned with ``FEATURE_NAMES``; Yosys' ``luts`` and LUT
    ``depth``; ``source`` (``random:<kind>``, ``trained:<family>:<dataset>``, ``import:<file>``);
    ``tool`` (the tool, version and flow that measured it)."""

    key: str
    features: np.ndarray
    luts: float
    depth: int
    source: str = ""
    tool: str = ""

    def __post_init__(self) -> None:
        self.features = np.asarray(self.features, dtype=np.float64).reshape(-1)
        if self.features.size != len(FEATURE_NAMES):
            raise ValueError(f"CalibrationRow {self.key}: {self.features.size} features, expected {len(FEATURE_NAMES)}")
        self.luts, self.depth = float(self.luts), int(self.depth)


def _num(x: float) -> str:
    """Shortest exact text of a number (integers without '.0')."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class Calibration:
    """Rows of per-unit Yosys results and the models fitted on them (see the module doc)."""

    def __init__(self, rows: Iterable[CalibrationRow] = ()) -> None:
        self.rows: list[CalibrationRow] = []
        self._seen: set[tuple[str, str]] = set()
        self._models: Any = None
        self._fingerprint = ""
        self.extend(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Calibration({len(self.rows)} rows, fingerprint={self.fingerprint})"

    # ------------------------------------------------------------------ rows
    def extend(self, rows: Iterable[CalibrationRow]) -> Calibration:
        """Append rows (a unit already present for the same tool is skipped); returns self."""
        for r in rows:
            if (r.key, r.tool) not in self._seen:
                self._seen.add((r.key, r.tool))
                self.rows.append(r)
                self._models, self._fingerprint = None, ""
        return self

    @classmethod
    def merge(cls, *calibrations: Calibration | Sequence[CalibrationRow]) -> Calibration:
        """One calibration of the rows of all (first occurrence of a unit and tool wins)."""
        out = cls()
        for c in calibrations:
            out.extend(c.rows if isinstance(c, Calibration) else c)
        return out

    @property
    def sources(self) -> dict[str, int]:
        """Rows per source."""
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.source] = out.get(r.source, 0) + 1
        return out

    @property
    def fingerprint(self) -> str:
        """sha256 (first 12 hex digits) of the rows' CSV text: what the models were fitted on."""
        if not self._fingerprint:
            self._fingerprint = hashlib.sha256(self.to_csv().encode()).hexdigest()[:12]
        return self._fingerprint

    # ------------------------------------------------------------------ text form
    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(_HEAD + FEATURE_NAMES)
        for r in self.rows:
            w.writerow([r.key, r.source, r.tool, _num(r.luts), r.depth, *(_num(x) for x in r.features)])
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_csv())
        return path

    @classmethod
    def from_csv(cls, text: str, origin: str = "<text>") -> Calibration:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None or tuple(header[: len(_HEAD)]) != _HEAD:
            raise ValueError(f"{origin}: not a surrogate calibration file (header {header})")
        cols = {name: i for i, name in enumerate(header)}
        missing = [n for n in FEATURE_NAMES if n not in cols]
        if missing:
            raise ValueError(
                f"{origin}: lacks features {', '.join(missing)}; "
                "rebuild it (python -m lutsearch.hw.surrogate.build_random)"
            )
        fidx = [cols[n] for n in FEATURE_NAMES]
        rows = [
            CalibrationRow(rec[0], np.array([float(rec[i]) for i in fidx]), float(rec[3]), int(rec[4]), rec[1], rec[2])
            for rec in reader
            if rec
        ]
        return cls(rows)

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a file written by ``save`` (the models are refitted from its rows on first use)."""
        path = Path(path)
        return cls.from_csv(path.read_text(), str(path))

    @classmethod
    def default(cls) -> Calibration:
        """The shipped calibration (``lutsearch/hw/surrogate/calibration.csv``), read and fitted once
        per process."""
        return _default()

    # ------------------------------------------------------------------ models
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(features (n, F), luts (n,), depth (n,)) of the rows."""
        x = np.array([r.features for r in self.rows]).reshape(len(self.rows), len(FEATURE_NAMES))
        return x, np.array([r.luts for r in self.rows]), np.array([r.depth for r in self.rows])

    def fit(self) -> Calibration:
        """Fit the models on the rows (deterministic); returns self."""
        from lutsearch.hw.surrogate._model import fit_models

        self._models = fit_models(*self.arrays())
        return self

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(LUTs (n,) float, depth (n,) int) of units with these ``features`` (n, F)."""
        from lutsearch.hw.surrogate._model import predict_models

        features = np.asarray(features, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
        if self._models is None:
            self.fit()
        return predict_models(self._models, features)


@functools.lru_cache(maxsize=1)
def _default() -> Calibration:
    return Calibration.load(DEFAULT_PATH).fit()
