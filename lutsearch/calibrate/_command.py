"""``lutsearch calibrate``: rebuild, extend or re-target the surrogate's calibration, and say how good it is.

* ``rebuild``: per-unit Yosys rows of seeded random/structured tables (``build_random``) and of the
  trained corpus (``build_designs``: every family on digits, MNIST, jsc-pythia, nid-testpart), written
  as one calibration file; then the fidelity report (leave-one-family-out and leave-one-dataset-out
  against whole-design Yosys on the corpus).
* ``study``: adds the per-unit rows of a finished study's complete designs (its saved tables) to a
  calibration (the shipped one unless ``--base``): the surrogate learns the designs the user searches.
* ``import``: re-targets a calibration to another tool: a CSV with columns ``key`` (a unit's key, as
  ``units`` writes them) and ``luts`` (and optionally ``depth``), e.g. from a vendor flow; the matched
  rows take those numbers (source ``import:<file>``); unmatched keys are listed.
* ``units``: writes every neuron unit of a study's or the corpus' designs as a Verilog module
  ``<key>.v`` plus ``units.csv`` (key, address bits, output bits), the input of that vendor flow.

The surrogate reads ``$LUTSEARCH_CALIBRATION`` when set, else the shipped file; an objective may name
one: ``{name: luts, via: surrogate, options: {calibration: path}}``.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from pathlib import Path

from lutsearch.tables import TruthTableNetwork

__all__ = ["run"]

Print = Callable[[str], object]


def run(args: argparse.Namespace, say: Print = print) -> int:
    return {"rebuild": _rebuild, "study": _study, "import": _import, "units": _units}[args.verb](args, say)


def _base(path: Path | None):
    from lutsearch.hw.surrogate import Calibration
    from lutsearch.hw.surrogate.backend import _calibration

    return Calibration.load(path) if path is not None else _calibration(None)


def _study_networks(study_dir: Path) -> list[tuple[TruthTableNetwork, str]]:
    """The saved tables of a study's complete trials, tagged ``study:<name>:<family>``."""
    import json

    out = []
    for folder in sorted((study_dir / "trials").glob("*")):
        if (folder / "tables.npz").is_file() and (folder / "metrics.json").is_file():
            family = json.loads((folder / "config.json").read_text()).get("family", "")
            out.append((TruthTableNetwork.load(folder / "tables.npz"), f"study:{study_dir.name}:{family}"))
    if not out:
        raise ValueError(f"{study_dir}: no complete trial with saved tables (expected trials/<n>/tables.npz)")
    return out


def _rebuild(args: argparse.Namespace, say: Print) -> int:
    from lutsearch.calibrate._designs import Design, build_designs, design_truth
    from lutsearch.calibrate._fidelity import fidelity_lines, held_out_scores
    from lutsearch.hw.surrogate import FEATURE_NAMES, Calibration, unit_rows
    from lutsearch.hw.surrogate.build_random import build as build_random

    synth = args.corpus / "synth"
    # the random/structured part as the shipped file has it (build_random's seeded networks)
    base = build_random(networks=args.random, jobs=args.jobs).rows if args.random else []
    say(f"random/structured tables: {len(base)} distinct units")
    designs = build_designs(cache_dir=args.corpus, progress=say)
    rows = {
        d.name: unit_rows([(d.network, f"trained:{d.group}:{d.dataset}")], cache_dir=synth, jobs=args.jobs)
        for d in designs
    }
    # trained units: one row per distinct unit; only units of > 6 address bits train the models
    # (smaller ones are costed by the exact rule), so only those are kept, as in the shipped file
    trained = unit_rows([(d.network, f"trained:{d.group}:{d.dataset}") for d in designs], cache_dir=synth)
    wide = FEATURE_NAMES.index("address_bits")
    calibration = Calibration.merge(base, [r for r in trained if r.features[wide] > 6])
    calibration.save(args.out)
    say(f"wrote {args.out}: {len(calibration)} rows ({', '.join(f'{k} {v}' for k, v in calibration.sources.items())})")
    truth = design_truth(designs, cache_dir=synth, progress=say)
    splits: tuple[tuple[str, Callable[[Design], str]], ...] = (
        ("leave one family out", lambda d: d.group),
        ("leave one dataset out", lambda d: d.dataset),
    )
    for title, key in splits:
        say("\n".join(["", *fidelity_lines(title, held_out_scores(designs, truth, rows, base, key))]))
    return 0


def _study(args: argparse.Namespace, say: Print) -> int:
    from lutsearch.hw.surrogate import Calibration, unit_rows

    networks = _study_networks(args.study_dir)
    rows = unit_rows(networks, jobs=args.jobs)
    calibration = Calibration.merge(_base(args.base), rows)
    calibration.save(args.out)
    say(f"added {len(rows)} units of {len(networks)} designs; wrote {args.out} ({len(calibration)} rows)")
    return 0


def _import(args: argparse.Namespace, say: Print) -> int:
    from lutsearch.hw.surrogate import Calibration, CalibrationRow

    with open(args.results, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"key", "luts"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{args.results}: missing column(s) {', '.join(sorted(missing))}; need key, luts[, depth]")
        given = {row["key"]: row for row in reader}
    base = _base(args.base)
    source = f"import:{args.results.name}"
    rows, matched = [], 0
    for r in base.rows:
        new = given.get(r.key)
        if new is not None:
            matched += 1
            depth = int(new["depth"]) if new.get("depth") not in (None, "") else r.depth
            r = CalibrationRow(r.key, r.features, float(new["luts"]), depth, source, source)
        rows.append(r)
    unknown = sorted(set(given) - {r.key for r in base.rows})
    Calibration(rows).save(args.out)
    say(f"{matched} of {len(given)} units matched and re-targeted; wrote {args.out}")
    if unknown:
        say(f"{len(unknown)} keys not in the base calibration (first: {', '.join(unknown[:5])})")
    return 0


def _units(args: argparse.Namespace, say: Print) -> int:
    from lutsearch.hw.rtl import neuron_rom_module
    from lutsearch.hw.surrogate import network_units

    if args.study is not None:
        networks = _study_networks(args.study)
    else:
        from lutsearch.calibrate._designs import build_designs

        networks = [(d.network, d.name) for d in build_designs(cache_dir=args.corpus, progress=say)]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    seen: dict[str, tuple[int, int]] = {}
    for network, _ in networks:
        for unit in (u for layer in network_units(network) for u in layer):
            if unit.key not in seen:
                text = neuron_rom_module(f"u_{unit.key[:16]}", unit.table, unit.address_bits, unit.out_bits, "table")
                (args.out_dir / f"{unit.key}.v").write_text(text)
                seen[unit.key] = (unit.address_bits, unit.out_bits)
    with open(args.out_dir / "units.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["key", "address_bits", "out_bits", "module"])
        for key, (a, y) in seen.items():
            writer.writerow([key, a, y, f"u_{key[:16]}"])
    say(f"wrote {len(seen)} units to {args.out_dir} (units.csv: key, address bits, output bits, module)")
    return 0
