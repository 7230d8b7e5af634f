"""Load the chosen trial's artifacts and write its RTL, testbench, truth tables and test vectors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lutsearch.export._errors import ExportError
from lutsearch.export._integrity import TABLES_HASH, first_line, read_artifact

if TYPE_CHECKING:  # the trial package imports torch: only loaded when an export runs
    from lutsearch.trial import TrialArtifact

__all__ = ["TOP", "Built", "Loaded", "artifact_dir", "build_rtl", "load_design", "vivado_tcl"]

TOP = "lutnet"


@dataclasses.dataclass
class Loaded:
    """A trial's artifact (folder, config, metrics, truth-table network), its dataset, test input codes and
    the rebuilt model (its ``input_codes`` give any split's codes)."""

    artifact: TrialArtifact
    data: Any
    codes: np.ndarray
    model: Any = None
    tables_sha256: str = ""  # of the trial folder's tables.npz, checked against the study's record
    tables_checked: bool = False  # the study had recorded the hash (older studies did not)


@dataclasses.dataclass
class Built:
    """What ``build_rtl`` wrote: the RTL design, the table files and the exact test accuracy from tables."""

    design: Any
    rtl_dir: Path
    mems: list[str]
    test_acc: float


def artifact_dir(study_dir: Path, trial) -> Path:
    path = trial.user_attrs.get("artifact_dir")
    candidates = [Path(path)] if path else []
    candidates.append(study_dir / "trials" / str(trial.number))
    for c in candidates:
        if (c / "tables.npz").is_file():
            return c
    raise ExportError(
        f"trial {trial.number}: no artifact folder with tables.npz (looked in {', '.join(str(c) for c in candidates)})"
    )


def load_design(study_dir: Path, trial) -> Loaded:
    """The trial's artifact, its dataset and the test split's input codes (rebuilt from the model); every
    file checked first (``_integrity``): a missing, unreadable or altered one is an ``ExportError`` naming it."""
    art = artifact_dir(study_dir, trial)
    checked = read_artifact(art, trial.number, trial.user_attrs.get(TABLES_HASH))
    artifact = checked.artifact
    data = artifact.load_data()
    try:
        model = artifact.build_model()
    except Exception as exc:  # torch's unpickler (weights_only) or a state that does not fit the config
        raise ExportError(f"{art / 'model.pt'}: cannot load the trained model: {first_line(exc)}") from None
    return Loaded(artifact, data, model.input_codes(data.X_test), model, checked.tables_sha256, checked.checked)


def build_rtl(loaded: Loaded, out_dir: Path, pipeline: int) -> Built:
    """Write ``rtl/`` (design + testbench), ``tables/`` and ``vectors/`` under ``out_dir``."""
    from lutsearch.hw.rtl import generate_rtl, write_memfiles
    from lutsearch.hw.sim import write_testbench, write_vectors

    network, codes, data = loaded.artifact.network, loaded.codes, loaded.data
    rtl_dir = out_dir / "rtl"
    design = generate_rtl(network, rtl_dir, top=TOP, pipeline=pipeline, style="table")
    write_testbench(design, rtl_dir, max_n=max(1, len(codes)))
    mems = write_memfiles(network, out_dir / "tables")
    vec = out_dir / "vectors"
    vec.mkdir(parents=True, exist_ok=True)
    expected = network.evaluate(codes)
    write_vectors(codes, network.input_bits, vec / "test_inputs.hex")
    write_vectors(expected, network.output_bits, vec / "test_expected.hex")
    (vec / "test_labels.txt").write_text("\n".join(str(int(y)) for y in data.y_test) + "\n")
    test_acc = float((network.predict(codes) == data.y_test).mean()) if len(codes) else float("nan")
    return Built(design, rtl_dir, mems, test_acc)


def vivado_tcl(design, period_ns: float) -> str:
    """The out-of-context Vivado script for ``design`` at a clock of ``period_ns``."""
    tpl = (Path(__file__).resolve().parents[1] / "hw" / "templates" / "vivado_ooc.tcl").read_text()
    files = " ".join(design.files)
    return (
        tpl.replace("@FILES@", files)
        .replace("@TOP@", design.top)
        .replace("@PERIOD@", f"{period_ns:.3f}")
        .replace("@CLOCKED@", "1" if design.pipeline else "0")
    )
