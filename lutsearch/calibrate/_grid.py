"""The calibration corpus' configurations: small, trained designs of every family on every dataset.

``DESIGN_GRID`` lists ``DesignSpec`` records: a family, a dataset, the family's knobs and a short tag
(``a``, ``b``, ...); the training budget comes from the dataset's ``DatasetBudget`` unless a spec
overrides it. Designs differ in widths, fan-ins (2..7) and bitwidths (1..4), so that the L-LUTs'
address widths (fan-in x input bits) span 1..14 bits, and stay small enough for a whole-design Yosys run
(analytic LUTs below ~1500; 12- and 14-bit tables only on a few neurons, and 14-bit ones only where
their inputs are hidden codes: a 14-bit first-layer table takes ABC minutes).

``CORPUS_VERSION`` enters every design's cache key: bump it when a change here or in training should
retrain every cached design.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["CORPUS_VERSION", "DATASET_BUDGETS", "DESIGN_GRID", "DatasetBudget", "DesignSpec"]

CORPUS_VERSION = 1


@dataclasses.dataclass(frozen=True)
class DatasetBudget:
    """How a dataset is loaded and subsampled, and the default training budget of its designs.

    ``train_rows``/``val_rows``: a seeded random subsample of the training/validation split (0 = all
    rows); the test split is kept whole. Enough optimizer steps (epochs x rows / batch) to get past
    Brevitas' 300 statistics steps."""

    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    train_rows: int = 0
    val_rows: int = 0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-2


DATASET_BUDGETS: dict[str, DatasetBudget] = {
    "digits": DatasetBudget(epochs=15, batch_size=32),
    "mnist": DatasetBudget(train_rows=15000, val_rows=3000, epochs=8, batch_size=128),
    "jsc": DatasetBudget(options={"variant": "pythia"}, train_rows=20000, val_rows=5000, epochs=8, batch_size=256),
    "nid": DatasetBudget(options={"variant": "testpart"}, train_rows=10000, val_rows=3000, epochs=5, batch_size=128),
}


@dataclasses.dataclass(frozen=True)
class DesignSpec:
    """One corpus design before training. ``epochs``/``batch_size``/``lr``: None = the dataset's budget."""

    family: str
    dataset: str
    tag: str
    params: Mapping[str, Any]
    seed: int = 0
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None

    @property
    def sparse(self) -> bool:
        return self.params.get("connectivity") == "sparselut"

    @property
    def group(self) -> str:
        """The family, or ``sparselut`` for SparseLUT connectivity (on any family)."""
        return "sparselut" if self.sparse else self.family

    @property
    def name(self) -> str:
        """Stable name, e.g. ``neuralut-jsc-s0-a`` or ``polylut-sparse-mnist-s0-a``."""
        return f"{self.family}{'-sparse' if self.sparse else ''}-{self.dataset}-s{self.seed}-{self.tag}"

    @property
    def budget(self) -> DatasetBudget:
        base = DATASET_BUDGETS[self.dataset]
        return dataclasses.replace(
            base,
            epochs=self.epochs if self.epochs is not None else base.epochs,
            batch_size=self.batch_size if self.batch_size is not None else base.batch_size,
            lr=self.lr if self.lr is not None else base.lr,
        )

    def key(self) -> dict[str, Any]:
        """Everything that determines the trained design (the cache compares it)."""
        return json.loads(
            json.dumps(
                {
                    "version": CORPUS_VERSION,
                    "family": self.family,
                    "dataset": self.dataset,
                    "params": dict(self.params),
                    "seed": self.seed,
                    "budget": dataclasses.asdict(self.budget) | {"options": dict(self.budget.options)},
                },
                sort_keys=True,
            )
        )


def _lut(widths: list[int], ib: int, hb: int, ob: int, fi: tuple[int, int, int], **extra: Any) -> dict[str, Any]:
    """Common knobs: widths, input/hidden/output bits, (input, hidden, output) fan-ins."""
    return dict(
        widths=widths,
        input_bits=ib,
        hidden_bits=hb,
        output_bits=ob,
        input_fan_in=fi[0],
        fan_in=fi[1],
        output_fan_in=fi[2],
        **extra,
    )


def _specs(family: str, rows: list[tuple[str, str, dict[str, Any]]], **common: Any) -> list[DesignSpec]:
    return [DesignSpec(family, dataset, tag, {**params, **common}) for dataset, tag, params in rows]


_LOGICNETS = [
    ("digits", "a", _lut([128], 1, 2, 3, (6, 3, 4))),
    ("digits", "b", _lut([64, 32], 2, 2, 2, (3, 3, 3))),
    ("digits", "c", _lut([48], 3, 3, 3, (3, 3, 3))),
    ("digits", "d", _lut([24], 4, 2, 2, (2, 2, 5))),
    ("mnist", "a", _lut([128, 64], 1, 2, 3, (6, 4, 5))),
    ("mnist", "b", _lut([256, 64], 2, 2, 2, (3, 4, 4))),
    ("mnist", "c", _lut([192, 96], 1, 3, 2, (6, 2, 3))),
    ("jsc", "a", _lut([64, 32], 2, 2, 3, (3, 4, 4))),
    ("jsc", "b", _lut([32], 3, 2, 2, (3, 3, 4))),
    ("jsc", "c", _lut([4], 4, 2, 2, (3, 3, 4))),
    ("nid", "a", _lut([64, 32], 1, 2, 2, (6, 4, 4))),
    ("nid", "b", _lut([16], 1, 2, 2, (6, 3, 7))),
    ("nid", "c", _lut([64, 32], 1, 3, 2, (7, 2, 4))),
]

_POLYLUT = [
    ("digits", "a", _lut([64], 2, 2, 3, (3, 3, 4), degree=1)),
    ("digits", "b", _lut([48, 24], 2, 2, 2, (3, 3, 3), degree=2)),
    ("digits", "c", _lut([32], 1, 3, 3, (7, 3, 3), degree=3)),
    ("digits", "d", _lut([32, 6], 2, 2, 2, (3, 6, 3), degree=2)),
    ("mnist", "a", _lut([128], 2, 2, 3, (4, 3, 5), degree=2)),
    ("mnist", "b", _lut([192, 64], 1, 2, 2, (6, 3, 4), degree=1)),
    ("mnist", "c", _lut([96], 1, 2, 2, (5, 3, 3), degree=3)),
    ("jsc", "a", _lut([64], 3, 2, 3, (3, 3, 4), degree=2)),
    ("jsc", "b", _lut([32, 16], 2, 2, 2, (3, 3, 3), degree=3)),
    ("jsc", "c", _lut([16], 4, 2, 2, (2, 3, 5), degree=1)),
    ("nid", "a", _lut([64, 32], 1, 2, 2, (5, 3, 3), degree=2)),
    ("nid", "b", _lut([16], 1, 2, 2, (7, 3, 6), degree=3)),
    ("nid", "c", _lut([32], 1, 3, 2, (4, 3, 4), degree=1)),
]

_NEURALUT = [
    ("digits", "a", _lut([64], 2, 2, 3, (3, 3, 4), hidden_width=8, hidden_depth=2)),
    ("digits", "b", _lut([32, 16], 2, 3, 3, (2, 3, 3), hidden_width=16, hidden_depth=4)),
    ("digits", "c", _lut([48], 1, 2, 2, (6, 3, 3), hidden_width=8, hidden_depth=3)),
    ("digits", "d", _lut([16], 4, 2, 2, (2, 3, 5), hidden_width=8, hidden_depth=2)),
    ("mnist", "a", _lut([128], 1, 2, 3, (6, 3, 5), hidden_width=8, hidden_depth=2)),
    ("mnist", "b", _lut([96, 32], 2, 2, 2, (3, 4, 4), hidden_width=8, hidden_depth=4)),
    ("mnist", "c", _lut([64], 1, 3, 2, (7, 3, 3), hidden_width=16, hidden_depth=2)),
    ("jsc", "a", _lut([32], 3, 2, 3, (3, 3, 4), hidden_width=8, hidden_depth=4)),
    ("jsc", "b", _lut([64, 32], 2, 2, 2, (3, 3, 3), hidden_width=16, hidden_depth=2)),
    ("jsc", "c", _lut([32], 4, 2, 2, (2, 3, 6), hidden_width=8, hidden_depth=2)),
    ("nid", "a", _lut([32], 1, 2, 2, (7, 3, 4), hidden_width=8, hidden_depth=2)),
    ("nid", "b", _lut([64, 16], 1, 2, 2, (5, 4, 4), hidden_width=8, hidden_depth=4)),
    ("nid", "c", _lut([16], 1, 2, 2, (6, 3, 7), hidden_width=8, hidden_depth=2)),
]

_SPARSE = dict(connectivity="sparselut")
_SPARSELUT = [
    *_specs(
        "logicnets",
        [
            ("digits", "a", _lut([64], 2, 2, 2, (3, 3, 4))),
            ("digits", "b", _lut([48], 2, 2, 2, (4, 3, 3), sparse_regrowth="gradient", sparse_candidates=3)),
            ("mnist", "a", _lut([128], 1, 2, 2, (6, 3, 4))),
            ("jsc", "a", _lut([32, 16], 2, 2, 2, (3, 3, 3))),
            ("nid", "a", _lut([32], 1, 2, 2, (6, 3, 4))),
        ],
        **_SPARSE,
    ),
    *_specs(
        "polylut",
        [
            ("digits", "a", _lut([48], 2, 2, 2, (4, 3, 3), degree=2)),
            ("mnist", "a", _lut([96], 2, 2, 2, (3, 3, 5), degree=1)),
            ("jsc", "a", _lut([32], 3, 2, 2, (3, 3, 4), degree=2)),
            ("jsc", "b", _lut([24], 2, 2, 2, (5, 3, 3), degree=1, sparse_T=2)),
            ("nid", "a", _lut([32], 1, 2, 2, (7, 3, 3), degree=2)),
        ],
        **_SPARSE,
    ),
    *_specs(
        "neuralut",
        [
            ("digits", "a", _lut([32], 2, 2, 2, (3, 3, 5), hidden_width=8, hidden_depth=2)),
            ("mnist", "a", _lut([64], 1, 2, 2, (5, 3, 4), hidden_width=8, hidden_depth=2)),
            ("jsc", "a", _lut([32], 3, 3, 2, (2, 3, 3), hidden_width=8, hidden_depth=2)),
            ("jsc", "b", _lut([16], 2, 2, 2, (4, 3, 4), hidden_width=8, hidden_depth=2, sparse_candidates=2)),
            ("nid", "a", _lut([32], 1, 2, 2, (4, 3, 5), hidden_width=8, hidden_depth=2)),
        ],
        **_SPARSE,
    ),
]


def _nla(
    widths: list[int],
    ib: int,
    sb: int,
    fi: int,
    sfi: int,
    *,
    hfi: int = 0,
    depth: int = 2,
    hb: int = 2,
    n: int = 8,
    pre: int = 1,
) -> dict[str, Any]:
    """NLA: leaf fan-in ``fi`` on ``ib``-bit inputs (``hfi``, default ``fi``, on ``hb``-bit hidden codes),
    tree levels of fan-in ``sfi`` on ``sb``-bit signed support signals, ``depth`` levels per tree, node
    sub-networks of width ``n``, ``pre`` dense grouping epochs."""
    return dict(
        _lut(widths, ib, hb, 3, (fi, hfi or fi, sfi)),
        tree_depth=depth,
        support_fan_in=sfi,
        support_bits=sb,
        neuron_width=n,
        prelude_epochs=pre,
    )


_NLA = [
    ("digits", "a", _nla([24, 12, 16, 8], 2, 2, 2, 2)),
    ("digits", "b", _nla([40, 20], 1, 3, 6, 2, hfi=3)),
    ("digits", "c", _nla([48, 16], 2, 2, 3, 3, n=16)),
    ("digits", "d", _nla([60, 30, 15], 2, 2, 4, 2, depth=3, pre=0)),
    ("mnist", "a", _nla([64, 32], 1, 2, 6, 2, hfi=3, pre=0)),
    ("mnist", "b", _nla([96, 48, 32, 16], 1, 3, 4, 2, pre=0)),
    ("mnist", "c", _nla([200, 60], 2, 2, 3, 3, pre=0, n=16)),
    ("jsc", "a", _nla([40, 20], 3, 3, 3, 2)),
    ("jsc", "b", _nla([30, 15, 10, 5], 2, 2, 2, 3, hb=3)),
    ("jsc", "c", _nla([32, 16], 4, 2, 2, 4, n=16)),
    ("nid", "a", _nla([32, 16], 1, 2, 7, 2, hfi=5, pre=0)),
    ("nid", "b", _nla([24, 8, 12, 4], 1, 3, 5, 3, pre=0)),
    ("nid", "c", _nla([16, 8], 1, 4, 4, 2, pre=0)),
]


def _hgq(widths: list[int], ib: int, eb: int, ob: int, fi: tuple[int, int, int], **extra: Any) -> dict[str, Any]:
    """HGQ: edges on ``ib``-bit inputs, ``eb``-bit edge codes (``ob`` on the output edges); fan-ins
    (input, hidden, output) unless ``dense=True`` is given."""
    own = dict(edge_bits=eb, output_bits=ob, dense=False, edge_hidden=4)
    return dict(widths=widths, input_bits=ib, input_fan_in=fi[0], fan_in=fi[1], output_fan_in=fi[2], **{**own, **extra})


_HGQ = [
    ("digits", "a", _hgq([8], 2, 2, 3, (4, 4, 4))),
    ("digits", "b", _hgq([16], 1, 3, 3, (6, 3, 3), edge_hidden=8)),
    ("digits", "c", _hgq([12], 3, 2, 4, (3, 3, 2), edge_hidden=0)),
    ("digits", "d", _hgq([8], 2, 2, 3, (7, 3, 5), sparsity=0.5)),
    ("mnist", "a", _hgq([16], 1, 2, 3, (7, 3, 4))),
    ("mnist", "b", _hgq([24], 2, 2, 3, (5, 3, 3), edge_hidden=0)),
    ("mnist", "c", _hgq([16, 10], 1, 3, 3, (6, 3, 3), sparsity=0.02)),
    ("jsc", "a", _hgq([16], 3, 2, 3, (4, 3, 4))),
    ("jsc", "b", _hgq([8], 4, 3, 4, (2, 3, 3), edge_hidden=8)),
    ("jsc", "c", _hgq([16, 8], 2, 2, 3, (3, 3, 3), edge_hidden=0)),
    ("jsc", "d", _hgq([6], 2, 2, 3, (3, 3, 3), dense=True)),
    ("nid", "a", _hgq([8], 1, 2, 3, (7, 3, 4))),
    ("nid", "b", _hgq([16], 1, 3, 3, (4, 3, 2), sparsity=0.01)),
    ("nid", "c", _hgq([8, 4], 1, 2, 3, (6, 3, 3), edge_hidden=8)),
]


def _warp(widths: list[int], ib: int, fi: tuple[int, int, int], group: int, **extra: Any) -> dict[str, Any]:
    """WARP: ``ib``-bit inputs (thermometer-coded), Boolean nodes of fan-ins (input, hidden, output),
    ``group`` output nodes per class."""
    return dict(widths=widths, input_bits=ib, input_fan_in=fi[0], fan_in=fi[1], output_fan_in=fi[2], group_size=group)


_WARP = [
    ("digits", "a", _warp([128], 2, (4, 4, 3), 6)),
    ("digits", "b", _warp([256, 128], 1, (2, 2, 2), 8)),
    ("digits", "c", _warp([192], 3, (6, 4, 5), 4)),
    ("digits", "d", _warp([96], 2, (7, 3, 7), 10)),
    ("mnist", "a", _warp([512], 1, (4, 4, 4), 8)),
    ("mnist", "b", _warp([384, 192], 1, (3, 3, 3), 6)),
    ("mnist", "c", _warp([256], 2, (6, 6, 6), 4)),
    ("jsc", "a", _warp([128], 3, (4, 4, 4), 10)),
    ("jsc", "b", _warp([256, 128], 2, (3, 3, 3), 16)),
    ("jsc", "c", _warp([96], 4, (5, 5, 6), 8)),
    ("nid", "a", _warp([128], 1, (6, 6, 6), 16)),
    ("nid", "b", _warp([192, 96], 1, (2, 4, 3), 20)),
    ("nid", "c", _warp([64], 1, (7, 7, 7), 8)),
]


def _ens(members: int, family: str, common: dict[str, Any], **own: Any) -> dict[str, Any]:
    return dict(common, members=members, member_family=family, member_params=own)


_ENSEMBLE = [
    ("digits", "a", _ens(2, "logicnets", _lut([32], 2, 2, 3, (3, 3, 3)))),
    ("digits", "b", _ens(3, "polylut", _lut([24], 2, 2, 3, (4, 3, 3)), degree=2)),
    ("digits", "c", _ens(2, "neuralut", _lut([32], 1, 2, 3, (6, 3, 4)), hidden_width=8, hidden_depth=2)),
    ("digits", "d", _ens(2, "warp", {"input_bits": 2, "widths": [64], "input_fan_in": 4, "fan_in": 4}, group_size=4)),
    ("mnist", "a", _ens(2, "logicnets", _lut([96], 1, 2, 3, (6, 3, 4)))),
    ("mnist", "b", _ens(3, "polylut", _lut([48], 2, 2, 2, (3, 3, 4)), degree=1)),
    (
        "mnist",
        "c",
        _ens(2, "hgq", {"input_bits": 1, "widths": [8], "input_fan_in": 6, "output_fan_in": 3}, dense=False),
    ),
    ("jsc", "a", _ens(3, "logicnets", _lut([32], 2, 2, 3, (3, 3, 3)))),
    ("jsc", "b", _ens(2, "neuralut", _lut([24], 3, 2, 3, (3, 3, 4)), hidden_width=8, hidden_depth=2)),
    ("jsc", "c", _ens(4, "polylut", _lut([8], 2, 2, 2, (4, 3, 4)), degree=2)),
    ("nid", "a", _ens(2, "logicnets", _lut([32], 1, 2, 2, (6, 3, 4)))),
    ("nid", "b", _ens(3, "neuralut", _lut([16], 1, 2, 2, (5, 3, 3)), hidden_width=8, hidden_depth=2)),
    ("nid", "c", _ens(2, "warp", {"input_bits": 1, "widths": [64], "input_fan_in": 6, "fan_in": 6}, group_size=8)),
]

DESIGN_GRID: list[DesignSpec] = [
    *_specs("logicnets", _LOGICNETS),
    *_specs("polylut", _POLYLUT),
    *_specs("neuralut", _NEURALUT),
    *_SPARSELUT,
    *_specs("nla", _NLA),
    *_specs("hgq", _HGQ),
    *_specs("warp", _WARP),
    *_specs("ensemble", _ENSEMBLE),
]
