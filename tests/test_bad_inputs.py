"""Every bad input is one line, never a traceback (issue #16, part 5).

Each case writes a malformed space file or data file under ``tmp_path`` and runs the real CLI, ``main``:
``validate`` for every case and, for data problems, ``run --executor inprocess --trials 1`` too. Each must
exit 2 with exactly one line on stderr that names the file, the key or column at fault and what is
allowed. The data cases are small files, so ``validate``'s preview (the header and first rows) holds the
whole file and finds the value problems too (one class, NaN, split tags).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lutsearch.cli import main

N = 60  # rows of the good table


def _frame(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.uniform(5, 9, size=n),
            "c": rng.integers(0, 4, n),
            "label": rng.choice(["cat", "dog", "eel"], size=n),
            "part": np.where(np.arange(n) < 40, "train", np.where(np.arange(n) < 50, "val", "test")),
        }
    )


def _csv(df: pd.DataFrame, name: str = "data.csv", **kw) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        path = d / name
        df.to_csv(path, index=False, **kw)
        return path

    return write


def _raw(content: bytes, name: str) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        (d / name).write_bytes(content)
        return d / name

    return write


def _with(column: str, row: int, value) -> pd.DataFrame:
    df = _frame().astype({column: object})
    df.loc[row, column] = value
    return df


def _parquet(df: pd.DataFrame, name: str = "data.parquet", cut: int | None = None) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        buf = io.BytesIO()
        df.to_parquet(buf)
        data = buf.getvalue()
        (d / name).write_bytes(data if cut is None else data[: len(data) // cut])
        return d / name

    return write


def _npz(name: str = "data.npz", **arrays) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        np.savez(d / name, **arrays)
        return d / name

    return write


def _folder(d: Path) -> Path:
    (d / "data.csv").mkdir()
    return d / "data.csv"


def _gz_not_gzip(d: Path) -> Path:
    (d / "data.csv.gz").write_bytes(b"a,b,label\n1,2,x\n")
    return d / "data.csv.gz"


def _truncated_gz(d: Path) -> Path:
    data = gzip.compress(_frame().to_csv(index=False).encode())
    (d / "data.csv.gz").write_bytes(data[: len(data) // 2])
    return d / "data.csv.gz"


@dataclasses.dataclass(frozen=True)
class Data:
    """A data-file case: the file, the dataset options on top of ``path``, and what the line must name."""

    id: str
    write: Callable[[Path], Path]
    options: dict
    expect: tuple[str, ...]
    names_file: bool = True  # the problem is the file's (not an option's alone): the line names it


_F = _frame()
_COLUMNS = "columns: a, b, c, label, part"
DATA = [
    Data("target-missing", _csv(_F), {"target": "species"}, ("options.target", "'species'", _COLUMNS)),
    Data("target-misspelled", _csv(_F), {"target": "lable"}, ("options.target", _COLUMNS, "did you mean 'label'")),
    Data("target-wrong-case", _csv(_F), {"target": "Label"}, ("options.target", "did you mean 'label'")),
    Data("target-not-given", _csv(_F), {}, ("options.target", "needs option 'target'", "a, b, c, label")),
    Data("target-missing-tsv", _csv(_F, "data.tsv", sep="\t"), {"target": "kind"}, ("options.target", _COLUMNS)),
    Data("target-missing-parquet", _parquet(_F), {"target": "kind"}, ("options.target", _COLUMNS)),
    Data(
        "target-missing-npz-columns",
        _npz(a=_F.a.to_numpy(), label=_F.label.to_numpy().astype("U3")),
        {"target": "kind"},
        ("options.target", "columns: a, label"),
    ),
    Data(
        "npz-no-label-array",
        _npz(X=_F[["a", "b"]].to_numpy(), labels=np.zeros(N)),
        {},
        ("options.target", "no label array 'y'", "arrays: X, labels"),
    ),
    Data("npz-2d-columns", _npz(M=np.zeros((N, 2)), y=np.zeros(N)), {}, ("options.path", "'X'", "not 1-D")),
    Data(
        "npz-object-array",
        _npz(X=_F[["a", "b"]].to_numpy(), y=np.array([{"k": 1}] * N, dtype=object)),
        {},
        ("options.path", "cannot read it as NPZ", "allow_pickle"),
    ),
    Data("empty-file", _raw(b"", "data.csv"), {"target": "label"}, ("options.path", "empty", "header line")),
    Data("header-only", _csv(_F.iloc[:0]), {"target": "label"}, ("options.path", "no data rows")),
    Data("empty-parquet", _parquet(_F.iloc[:0]), {"target": "label"}, ("options.path", "no data rows")),
    Data("one-class", _csv(_F.assign(label="cat")), {"target": "label"}, ("options.target", "1 class", "at least 2")),
    Data("one-class-parquet", _parquet(_F.assign(label=1)), {"target": "label"}, ("options.target", "1 class")),
    Data("nan-in-feature", _csv(_with("b", 6, np.nan)), {"target": "label"}, ("options.features", "'b'", "row 7")),
    Data("nan-in-target", _csv(_with("label", 3, np.nan)), {"target": "label"}, ("options.target", "'label'", "row 4")),
    Data("inf-in-feature", _csv(_with("a", 2, np.inf)), {"target": "label"}, ("options.features", "'a'", "finite")),
    Data("text-in-feature", _csv(_with("a", 9, "abc")), {"target": "label"}, ("options.features", "'abc'", "row 10")),
    Data(
        "text-feature-listed",
        _csv(_F.assign(note="x")),
        {"target": "label", "features": ["a", "note"]},
        ("options.features", "'note' is not numeric", "numbers only"),
    ),
    Data(
        "text-in-listed-feature",
        _csv(_with("c", 0, "n/a?")),
        {"target": "label", "features": ["a", "c"]},
        ("options.features", "'c'", "row 1"),
    ),
    Data(
        "feature-missing",
        _csv(_F),
        {"target": "label", "features": ["a", "bb"]},
        ("options.features", "'bb'", _COLUMNS, "did you mean 'b'"),
    ),
    Data(
        "feature-is-target",
        _csv(_F),
        {"target": "label", "features": ["a", "label"]},
        ("options.features", "'label'", "allowed: other columns"),
    ),
    Data(
        "no-numeric-features",
        _csv(_F.assign(a="x", b="y", c="z").drop(columns="part")),
        {"target": "label"},
        ("options.features", "no numeric feature columns", "columns: a, b, c, label"),
    ),
    Data(
        "split-unknown-value",
        _csv(_F.assign(part=np.where(np.arange(N) < 5, "trian", _F.part))),
        {"target": "label", "split_column": "part"},
        ("options.split_column", "'trian'", "allowed: train, val"),
    ),
    Data(
        "split-column-missing",
        _csv(_F),
        {"target": "label", "split_column": "prt"},
        ("options.split_column", _COLUMNS, "did you mean 'part'"),
    ),
    Data(
        "split-no-test-rows",
        _csv(_F.assign(part="train")),
        {"target": "label", "split_column": "part"},
        ("options.split_column", "no 'test' rows", "values: train"),
    ),
    Data(
        "split-no-train-rows",
        _csv(_F.assign(part="test")),
        {"target": "label", "split_column": "part"},
        ("options.split_column", "no 'train' rows", "values: test"),
    ),
    Data(
        "binary-csv",
        _raw(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "data.csv"),
        {"target": "label"},
        ("options.path", "binary file", "CSV"),
    ),
    Data(
        "not-utf8-csv",
        _raw("a,b,cl\xe9\n1,2,x\n".encode("latin-1"), "data.csv"),
        {"target": "label"},
        ("options.path", "cannot read it as CSV", "utf-8"),
    ),
    Data(
        "ragged-csv", _raw(b"a,b,label\n1,2,x\n1,2,3,4,5\n", "data.csv"), {"target": "label"}, ("options.path", "CSV")
    ),
    Data(
        "corrupt-parquet", _raw(b"a,b,label\n1,2,x\n", "data.parquet"), {"target": "label"}, ("options.path", "PARQUET")
    ),
    Data("truncated-parquet", _parquet(_F, cut=2), {"target": "label"}, ("options.path", "cannot read it as PARQUET")),
    Data("corrupt-npz", _raw(os.urandom(300), "data.npz"), {}, ("options.path", "cannot read it as NPZ")),
    Data("not-gzip-csv-gz", _gz_not_gzip, {"target": "label"}, ("options.path", "cannot read it as CSV")),
    Data("truncated-csv-gz", _truncated_gz, {"target": "label"}, ("options.path", "cannot read it as CSV")),
    Data("path-is-folder", _folder, {"target": "label"}, ("options.path", "is a folder", "name a data file")),
    Data(
        "wrong-extension-xlsx", _csv(_F, "data.xlsx"), {"target": "label"}, ("options.path", ".xlsx", "allowed: .csv")
    ),
    Data("wrong-extension-json", _raw(b"{}", "data.json"), {"target": "label"}, ("options.path", ".json", ".parquet")),
    Data("wrong-extension-txt", _csv(_F, "data.txt"), {"target": "label"}, ("options.path", ".txt", ".npz")),
    Data("no-extension", _csv(_F, "data"), {"target": "label"}, ("options.path", "(none)", "allowed: .csv")),
    Data(
        "huge-class-count",
        _csv(pd.DataFrame({"a": np.arange(3000.0), "y": np.arange(3000)})),
        {"target": "y"},
        ("options.target", "3000 distinct values", "2 to 1024 classes"),
    ),
    Data(
        "continuous-target",
        _csv(_F.assign(label=np.linspace(0, 1, N))),
        {"target": "label"},
        ("options.target", f"{N} distinct values", "at least 2 rows each"),
    ),
    Data(
        "scaler-unknown",
        _csv(_F),
        {"target": "label", "scaler": "robust"},
        ("options.scaler", "allowed: standard"),
        names_file=False,
    ),
    Data(
        "scaler-none-out-of-range",
        _csv(_F),
        {"target": "label", "scaler": "none"},
        ("options.scaler", "[0, 1]", "'a'", "pick a scaler"),
    ),
    Data(
        "test-fraction-out-of-range",
        _csv(_F),
        {"target": "label", "test_fraction": 1.5},
        ("options.test_fraction", "(0, 1)"),
        names_file=False,
    ),
]


def _path_case(id: str, path: str, expect: tuple[str, ...]) -> Data:
    return Data(id, lambda d: d / "unused.csv", {"path": path, "target": "label"}, expect)


DATA += [
    _path_case("path-not-found", "nowhere.csv", ("options.path", "'nowhere.csv' not found", "looked at")),
    Data(
        "path-empty",
        lambda d: d / "unused.csv",
        {"path": "", "target": "label"},
        ("options.path", "needs option 'path'", ".csv, .csv.gz"),
        names_file=False,
    ),
]

GOOD_MODEL = {
    "family": "logicnets",
    "params": {
        "widths": [8],
        "input_bits": 1,
        "hidden_bits": 2,
        "output_bits": 2,
        "input_fan_in": 3,
        "fan_in": 3,
        "output_fan_in": 3,
    },
}
GOOD = {
    "dataset": {"name": "digits"},
    "model": GOOD_MODEL,
    "train": {"epochs": 1, "min_steps": 0, "min_batches": 1},
    "objectives": ["accuracy", "luts"],
}


@dataclasses.dataclass(frozen=True)
class Space:
    """A space-file case: the file's text (or a patch of the good space) and what the line must name."""

    id: str
    text: str | bytes | None  # None: ``patch`` applied to GOOD
    expect: tuple[str, ...]
    patch: dict = dataclasses.field(default_factory=dict)
    name: str = "space.yaml"


def _patched(patch: dict) -> str:
    doc = {**GOOD, **patch}
    return yaml.safe_dump({k: v for k, v in doc.items() if v is not None})


SPACES = [
    Space("space-empty", "", ("empty space file", "expected keys: name")),
    Space("space-invalid-yaml", "dataset: {name: digits\nmodel: [", ("line", "invalid YAML")),
    Space("space-list", "- dataset\n- model\n", ("expected a mapping",)),
    Space("space-binary", b"\x00\x01\xff\xfe" * 64, ("not a text", "YAML")),
    Space("space-unknown-top-key", None, ("objective", "allowed: name"), {"objective": ["accuracy"]}),
    Space("space-no-dataset", None, ("dataset: missing", "required keys"), {"dataset": None}),
    Space("space-unknown-dataset", None, ("dataset.name", "'mnst'", "allowed: digits"), {"dataset": {"name": "mnst"}}),
    Space(
        "space-unknown-dataset-option",
        None,
        ("dataset.options", "'targte'", "allowed: path, target"),
        {"dataset": {"name": "file", "options": {"targte": "y"}}},
    ),
    Space(
        "space-dataset-option-type",
        None,
        ("dataset.options.target", "expected str"),
        {"dataset": {"name": "file", "options": {"target": ["y"]}}},
    ),
    Space(
        "space-val-fraction",
        None,
        ("dataset.val_fraction", "(0, 1)"),
        {"dataset": {"name": "digits", "val_fraction": 1.5}},
    ),
    Space("space-unknown-family", None, ("model.family", "'logicnet'", "allowed:"), {"model": {"family": "logicnet"}}),
    Space(
        "space-unknown-knob",
        None,
        ("model.params.widht", "allowed:"),
        {"model": {"family": "logicnets", "params": {**GOOD_MODEL["params"], "widht": 3}}},
    ),
    Space(
        "space-unknown-objective",
        None,
        ("objectives[1].name", "'lut'", "allowed:"),
        {"objectives": ["accuracy", "lut"]},
    ),
    Space(
        "space-bad-direction",
        None,
        ("objectives[1].direction", "allowed: maximize, minimize"),
        {"objectives": ["accuracy", {"name": "luts", "direction": "down"}]},
    ),
    Space("space-bad-constraint", None, ("constraints[0]", "metric <=|>=|<|> number"), {"constraints": ["luts =< 5"]}),
    Space("space-unknown-sampler", None, ("sampler.name", "'tpee'", "allowed:"), {"sampler": {"name": "tpee"}}),
    Space("space-unknown-train-key", None, ("train", "'epoch'", "allowed:"), {"train": {"epoch": 3}}),
    Space("space-seed-not-int", None, ("seed", "expected an integer"), {"seed": "three"}),
    Space(
        "space-unknown-limit", None, ("limits", "'max_bits'", "allowed: max_address_bits"), {"limits": {"max_bits": 3}}
    ),
    Space("space-plugin-missing", None, ("plugins[0]", "no such file"), {"plugins": ["nothere.py"]}),
    Space("space-warm-start-missing", None, ("warm_start", "no such baseline"), {"warm_start": "nothere"}),
    Space("space-bad-name", None, ("name", "letters, digits"), {"name": "my study!"}),
    Space(
        "space-lr-read-as-text",
        "dataset: {name: digits}\nmodel: {family: logicnets, params: {widths: [8]}}\n"
        "train: {lr: 1.0e30}\nobjectives: [accuracy, luts]\n",
        ("train.lr", "'1.0e30' is not a number", "1.0e+30"),
    ),
]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("lutsearch: error: "), err
    return lines[0]


def _space_for(data_path: str, options: dict) -> dict:
    return {**GOOD, "dataset": {"name": "file", "options": {"path": data_path, **options}}}


@pytest.mark.parametrize("case", DATA, ids=lambda c: c.id)
def test_bad_data_file_is_one_line(tmp_path, capsys, case: Data):
    options = {"path": str(case.write(tmp_path)), **case.options}
    data = options.pop("path")
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(_space_for(data, options)))
    runs = tmp_path / "runs"
    for argv in (["validate", str(space)], ["run", str(space), "--executor", "inprocess", "--trials", "1"]):
        assert main([*argv, "--runs-dir", str(runs)] if argv[0] == "run" else argv) == 2
        line = _one_line(capsys)
        assert str(space) in line and "dataset.options." in line, line
        if case.names_file:
            assert Path(data).name in line, line
        for text in case.expect:
            assert text in line, (text, line)
    assert not (runs / "space" / "trials").exists()  # failed before any trial


def _plugin_raises(tmp_path: Path) -> Space:
    (tmp_path / "broken.py").write_text("raise RuntimeError('plug-in says no')\n")
    return Space(
        "space-plugin-raises", None, ("plugins[0]", "failed to load", "plug-in says no"), {"plugins": ["broken.py"]}
    )


@pytest.mark.parametrize(
    "case", [*SPACES, "space-plugin-raises", "space-missing", "space-is-folder"], ids=lambda c: getattr(c, "id", c)
)
def test_bad_space_file_is_one_line(tmp_path, capsys, case):
    if case == "space-plugin-raises":
        case = _plugin_raises(tmp_path)
    if isinstance(case, str):  # a path that is no space file
        path = tmp_path / "space.yaml"
        if case == "space-is-folder":
            path.mkdir()
        expect: tuple[str, ...] = ("no such space file",)
    else:
        path = tmp_path / case.name
        text = _patched(case.patch) if case.text is None else case.text
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        expect = case.expect
    assert main(["validate", str(path)]) == 2
    line = _one_line(capsys)
    assert str(path) in line, line
    for text in expect:
        assert text in line, (text, line)


def test_case_count():
    """The issue asks for at least 50 malformed inputs; the ids list them."""
    total = len(DATA) + len(SPACES) + 3
    print(f"bad inputs: {len(DATA)} data files + {len(SPACES) + 3} space files = {total}")
    assert total >= 50


def test_good_file_space_validates(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(_space_for(str(_csv(_F)(tmp_path)), {"target": "label", "split_column": "part"})))
    assert main(["validate", str(space)]) == 0
    assert "ok" in capsys.readouterr().out


def test_validate_reads_the_first_rows_run_reads_all(tmp_path, capsys):
    """``validate`` reads the header and the first PREVIEW_ROWS rows only: a missing value beyond them passes
    it (a column mistake would not) and ``run``, which loads every row, reports it in one line."""
    from lutsearch.data.tabular import PREVIEW_ROWS

    n = PREVIEW_ROWS + 2000
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "label": rng.integers(0, 3, n)})
    df.loc[PREVIEW_ROWS + 500, "b"] = np.nan
    data = _csv(df)(tmp_path)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(_space_for(str(data), {"target": "label"})))
    assert main(["validate", str(space)]) == 0
    capsys.readouterr()
    argv = ["run", str(space), "--executor", "inprocess", "--trials", "1", "--runs-dir", str(tmp_path / "runs")]
    assert main(argv) == 2
    line = _one_line(capsys)
    assert f"column 'b' has 1 missing values (first in data row {PREVIEW_ROWS + 501})" in line, line
    space.write_text(yaml.safe_dump(_space_for(str(data), {"target": "lable"})))
    assert main(["validate", str(space)]) == 2
    assert "did you mean 'label'" in _one_line(capsys)
