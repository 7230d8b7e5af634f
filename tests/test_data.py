"""Dataset loaders: jsc (pythia + OpenML/CERNBox readers), nid (UNSW-NB15 binarization), file."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from lutsearch.data import jsc, load_dataset, nid
from lutsearch.data._base import data_dir

SHARED = "/work/shared/data"
PYTHIA_COUNTS = [25738, 36308, 25769, 25771, 25762]


@pytest.fixture(autouse=True)
def shared_data(monkeypatch):
    monkeypatch.setenv("LUTSEARCH_DATA_DIR", SHARED)
    if not (data_dir() / jsc.PYTHIA_FILE).exists():
        pytest.skip(f"shared data not found under {SHARED}")


def _rows(X: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in np.ascontiguousarray(X)}


def _assert_in_unit_range(d):
    for X in (d.X_train, d.X_val, d.X_test):
        assert X.dtype == np.float32 and X.min() >= 0.0 and X.max() <= 1.0


# ----------------------------------------------------------------------------------------- jsc
def test_jsc_pythia_shapes_classes_and_disjoint_splits():
    d = load_dataset("jsc", split_seed=0, val_fraction=0.1)
    assert d.variant == "jsc-pythia" and d.n_classes == 5 and d.n_features == 16
    assert d.feature_names == jsc.FEATURES and d.class_names == ["g", "q", "w", "z", "t"]
    counts = sum(np.bincount(y, minlength=5) for y in (d.y_train, d.y_val, d.y_test))
    assert counts.tolist() == PYTHIA_COUNTS
    n = sum(PYTHIA_COUNTS)
    assert len(d.y_test) == math.ceil(0.2 * n) and abs(len(d.y_val) - 0.1 * (n - len(d.y_test))) <= 1
    _assert_in_unit_range(d)
    assert d.meta["scaler"]["kind"] == "standard01"
    # Clipping can merge distinct jets, so check disjointness with an unclipped (injective) scaling.
    u = load_dataset("jsc", split_seed=0, val_fraction=0.1, scaler="minmax", clip_quantile=0.0)
    train, val, test = _rows(u.X_train), _rows(u.X_val), _rows(u.X_test)
    assert len(train) == len(u.y_train) and len(val) == len(u.y_val) and len(test) == len(u.y_test)
    assert not (train & val) and not (train & test) and not (val & test)


def test_jsc_scaler_is_fit_on_training_split_only():
    d = load_dataset("jsc", split_seed=3, scaler="minmax", clip_quantile=0.0)
    with np.load(data_dir() / jsc.PYTHIA_FILE) as npz:
        X, y = npz["X"], npz["y"].astype(np.int64)
    # Independent re-derivation of the documented splits: fixed test split, stratified validation.
    X_rest, _, y_rest, _ = train_test_split(X, y, test_size=0.2, random_state=42)
    X_train, _, _, _ = train_test_split(X_rest, y_rest, test_size=0.1, random_state=3, stratify=y_rest)
    np.testing.assert_allclose(d.meta["scaler"]["low"], X_train.min(0).astype(np.float64))
    np.testing.assert_allclose(d.meta["scaler"]["high"], X_train.max(0).astype(np.float64))
    assert np.allclose(d.X_train.min(0), 0) and np.allclose(d.X_train.max(0), 1)
    assert (np.asarray(d.meta["scaler"]["high"]) < X.max(0)).any()  # the full data reaches further
    _assert_in_unit_range(d)


def test_jsc_split_seed_determinism():
    a = load_dataset("jsc", split_seed=1)
    b = load_dataset("jsc", split_seed=1)
    c = load_dataset("jsc", split_seed=2)
    for split in ("X_train", "y_train", "X_val", "X_test"):
        np.testing.assert_array_equal(getattr(a, split), getattr(b, split))
    assert not np.array_equal(a.y_val, c.y_val)
    assert np.array_equal(a.y_test, c.y_test)  # the published test split does not move with the seed


def test_jsc_bad_variant_names_allowed():
    with pytest.raises(ValueError, match="allowed: pythia, openml, cernbox"):
        load_dataset("jsc", variant="nope")


def _jsc_frame(n=40, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 16)).astype(np.float32), columns=jsc.FEATURES)
    df["class"] = np.array(jsc.CLASSES)[np.arange(n) % 5]
    return df


def test_openml_arff_and_parquet_parsing(tmp_path):
    df = _jsc_frame()
    lines = ["% tiny hls4ml_lhc_jets_hlf sample", "@RELATION hls4ml_lhc_jets_hlf"]
    lines += [f"@ATTRIBUTE {f} NUMERIC" for f in jsc.FEATURES] + ["@ATTRIBUTE class {g,q,t,w,z}", "@DATA"]
    lines += [",".join([*(repr(float(v)) for v in row[:16]), row[16]]) for row in df.itertuples(index=False)]
    arff = tmp_path / "dataset_42468.arff"
    arff.write_text("\n".join(lines) + "\n")
    X, y = jsc.read_openml_file(arff)
    np.testing.assert_allclose(X, df[jsc.FEATURES].to_numpy(), rtol=1e-6)
    assert y.tolist() == (np.arange(40) % 5).tolist()

    pq = tmp_path / "dataset_42468.pq"
    df.astype({"class": "category"}).to_parquet(pq)
    X2, y2 = jsc.read_openml_file(pq)
    np.testing.assert_array_equal(X2, df[jsc.FEATURES].to_numpy())
    np.testing.assert_array_equal(y2, y)


def test_openml_variant_reads_cached_raw_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LUTSEARCH_DATA_DIR", str(tmp_path))
    (tmp_path / "jsc").mkdir()
    _jsc_frame(200).astype({"class": "category"}).to_parquet(tmp_path / "jsc" / "dataset_42468.pq")
    d = load_dataset("jsc", variant="openml", split_seed=0)
    assert d.variant == "jsc-openml" and len(d.y_test) == 40 and (tmp_path / jsc.OPENML_CACHE).exists()
    _assert_in_unit_range(d)


def test_cernbox_hdf5_reader(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(1)
    names = jsc.FEATURES + jsc.CERNBOX_LABELS + ["j_index"]
    table = np.zeros(30, dtype=[(n, "<f4") for n in names])
    for f in jsc.FEATURES:
        table[f] = rng.normal(size=30)
    labels = np.arange(30) % 5
    for i, lab in enumerate(jsc.CERNBOX_LABELS):
        table[lab] = labels == i
    table["j_index"] = np.arange(30)
    table = np.concatenate([table, table[:4]])  # duplicates: dropped, as LogicNets does
    path = tmp_path / "jets.z"
    with h5py.File(path, "w") as f:
        f[jsc.CERNBOX_TABLE] = table
    X, y = jsc.read_cernbox_file(path)
    assert X.shape == (30, 16) and y.tolist() == labels.tolist()
    np.testing.assert_array_equal(X[:, 0], table["j_zlogz"][:30])


# ----------------------------------------------------------------------------------------- nid
@pytest.fixture(scope="module")
def nid_testpart():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUTSEARCH_DATA_DIR", SHARED)
        return load_dataset("nid", variant="testpart", split_seed=0, val_fraction=0.1)


def test_nid_testpart_binary_features_and_classes(nid_testpart):
    d = nid_testpart
    assert d.variant == "nid-testpart" and d.n_classes == 2
    # The published layout has 593 bits over train+test; on the test partition alone it has 575.
    assert d.n_features == d.meta["n_bits"] == 575 == len(d.feature_names)
    assert sum(e["bits"] for e in d.meta["scaler"]["columns"].values()) == d.n_features
    for X in (d.X_train, d.X_val, d.X_test):
        assert set(np.unique(X).tolist()) == {0.0, 1.0}
    counts = sum(np.bincount(y, minlength=2) for y in (d.y_train, d.y_val, d.y_test))
    assert counts.tolist() == [37000, 45332]
    assert len(d.y_test) == math.ceil(0.2 * 82332)  # scikit-learn rounds the test size up


@pytest.fixture(scope="module")
def unsw_testing_csv():
    return nid.read_unsw_csv(f"{SHARED}/UNSW_NB15_testing-set.csv.gz")


def test_nid_split_rows_disjoint_and_deterministic(unsw_testing_csv):
    df = unsw_testing_csv
    a = nid.split_rows(df, 5, 0.1, 0.2)
    b = nid.split_rows(df, 5, 0.1, 0.2)
    c = nid.split_rows(df, 6, 0.1, 0.2)
    ids = [set(part["id"]) for part in a]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert sum(map(len, ids)) == len(df)
    assert all(x["id"].tolist() == y["id"].tolist() for x, y in zip(a, b))
    assert a[2]["id"].tolist() != c[2]["id"].tolist()
    # the binarization of a fixed split is deterministic and fit on its training rows
    bz = nid.UnswBinarizer().fit(a[0])
    np.testing.assert_array_equal(bz.transform(a[2]), nid.UnswBinarizer().fit(b[0]).transform(b[2]))


def _unsw_frame(rows):
    base = dict.fromkeys(nid.FEATURES, 0) | {"proto": "tcp", "service": "-", "state": "FIN", "label": 0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_unsw_binarizer_reference_rules():
    train = _unsw_frame(
        [
            {"dur": 0.25, "spkts": 3, "proto": "udp"},
            {"dur": 1.0, "spkts": 1, "proto": "tcp"},
            {"dur": 0.5, "spkts": 0, "proto": "arp"},
        ]
    )
    bz = nid.UnswBinarizer().fit(train)
    cols = bz.columns
    assert cols["dur"]["scale"] == 4.0 and cols["dur"]["bits"] == 3  # 1/min positive; ceil(log2(4 + 1))
    assert cols["spkts"]["scale"] == 1.0 and cols["spkts"]["bits"] == 2
    assert cols["proto"]["categories"] == ["arp", "tcp", "udp"] and cols["proto"]["bits"] == 2
    assert cols["service"]["bits"] == 1 and cols["is_sm_ips_ports"]["bits"] == 1  # constant columns
    test = _unsw_frame([{"dur": 0.375, "spkts": 9, "proto": "icmp"}, {"dur": 0.3, "spkts": 2, "proto": "udp"}])
    assert bz.column_codes(test, "dur").tolist() == [2, 1]  # 1.5 rounds half up to 2; 1.2 -> 1
    assert bz.column_codes(test, "spkts").tolist() == [3, 2]  # beyond the training range: saturates
    assert bz.column_codes(test, "proto").tolist() == [3, 2]  # unseen category -> K = 3
    bits = bz.transform(test)
    names = bz.feature_names()
    assert bits.shape == (2, bz.n_bits) and names[:3] == ["dur.b2", "dur.b1", "dur.b0"]
    assert bits[0, :3].tolist() == [0, 1, 0] and bits[1, :3].tolist() == [0, 0, 1]  # MSB first


def test_nid_zenodo_reader_checks_593_bits(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 2, size=(50, 594)).astype(np.uint8)
    test = rng.integers(0, 2, size=(20, 594)).astype(np.uint8)
    np.savez(tmp_path / "unsw_nb15_binarized.npz", train=train, test=test)
    X_tr, y_tr, X_te, y_te = nid.read_zenodo_npz(tmp_path / "unsw_nb15_binarized.npz")
    assert X_tr.shape == (50, nid.PUBLISHED_BITS) == (50, 593) and X_te.shape == (20, 593)
    np.testing.assert_array_equal(y_tr, train[:, -1])
    np.savez(tmp_path / "bad.npz", train=train[:, :100], test=test[:, :100])
    with pytest.raises(ValueError, match="expected 593 bits"):
        nid.read_zenodo_npz(tmp_path / "bad.npz")


def test_nid_testpart_missing_file_message(tmp_path, monkeypatch):
    monkeypatch.setenv("LUTSEARCH_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="UNSW_NB15_testing-set.csv"):
        load_dataset("nid", variant="testpart")


def test_nid_official_variant_from_local_csvs(tmp_path, monkeypatch, unsw_testing_csv):
    # Stand-ins for the two official CSVs, cut from the real testing partition.
    df = unsw_testing_csv.sample(6000, random_state=0)
    (tmp_path / "unsw_nb15").mkdir()
    df.iloc[:4000].to_csv(tmp_path / "unsw_nb15" / nid.TRAIN_CSV, index=False)
    df.iloc[4000:].to_csv(tmp_path / "unsw_nb15" / nid.TEST_CSV, index=False)
    monkeypatch.setenv("LUTSEARCH_DATA_DIR", str(tmp_path))
    d = load_dataset("nid", variant="official", split_seed=0, val_fraction=0.25)
    assert d.variant == "nid-official" and (len(d.y_train), len(d.y_val), len(d.y_test)) == (3000, 1000, 2000)
    assert d.y_test.tolist() == df.iloc[4000:]["label"].tolist()  # the official test rows, in file order
    train_rows = nid.split_rows(nid.read_unsw_csv(tmp_path / "unsw_nb15" / nid.TRAIN_CSV), 0, 0.25, 0.0)[0]
    assert d.meta["scaler"] == nid.UnswBinarizer().fit(train_rows).state()  # fit on the training split only
    every = load_dataset("nid", variant="official", split_seed=0, val_fraction=0.25, fit_on="all")
    assert every.meta["n_bits"] == nid.UnswBinarizer().fit(df).n_bits >= d.n_features


# ----------------------------------------------------------------------------------------- file
def _write_table(tmp_path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.uniform(5, 9, size=n),
            "c": rng.integers(0, 4, n),
            "kind": rng.choice(["cat", "dog", "eel"], size=n),
            "note": ["x"] * n,
        }
    )
    df["part"] = np.where(np.arange(n) < 80, "train", np.where(np.arange(n) < 100, "val", "test"))
    path = tmp_path / "mine.csv"
    df.to_csv(path, index=False)
    return df, path


def test_file_csv_defaults_and_determinism(tmp_path):
    df, path = _write_table(tmp_path)
    d = load_dataset("file", split_seed=4, path=str(path), target="kind")
    assert d.variant == "file-mine.csv" and d.class_names == ["cat", "dog", "eel"] and d.n_classes == 3
    assert d.feature_names == ["a", "b", "c"]  # non-numeric 'note' and 'part' are left out
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == len(df) and len(d.y_test) == 24
    _assert_in_unit_range(d)
    assert np.allclose(d.X_train.min(0), 0) and np.allclose(d.X_train.max(0), 1)
    e = load_dataset("file", split_seed=4, path=str(path), target="kind")
    np.testing.assert_array_equal(d.X_val, e.X_val)
    assert len(d.meta["sha256"]) == 64


def test_file_split_column_parquet_and_npz(tmp_path):
    df, _ = _write_table(tmp_path)
    df.to_parquet(tmp_path / "mine.parquet")
    d = load_dataset(
        "file",
        path=str(tmp_path / "mine.parquet"),
        target="kind",
        features=["a", "b"],
        split_column="part",
        scaler="standard",
    )
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (80, 20, 20) and d.n_features == 2
    _assert_in_unit_range(d)
    np.savez(tmp_path / "mine.npz", X=df[["a", "b", "c"]].to_numpy(), y=df["kind"].to_numpy().astype("U3"))
    n = load_dataset("file", path=str(tmp_path / "mine.npz"), scaler="quantile")
    assert n.n_features == 3 and n.feature_names == ["x0", "x1", "x2"] and n.n_classes == 3


@pytest.mark.parametrize(
    "options, message",
    [
        ({"path": "nowhere.csv", "target": "kind"}, "'nowhere.csv' not found; looked at"),
        ({"path": "", "target": "kind"}, "needs option 'path'"),
        ({"target": "species"}, "no target column 'species'; columns: a, b, c, kind, note, part"),
        ({"target": "kind", "features": ["a", "zz"]}, "no feature column 'zz'; columns: a, b"),
        ({"target": "kind", "features": ["a", "note"]}, "feature column 'note' is not numeric"),
        ({"target": "kind", "split_column": "stage"}, "no split_column column 'stage'"),
        ({"target": "kind", "scaler": "none"}, "scaler 'none' needs features in \\[0, 1\\]; 'a'"),
        ({"target": "kind", "scaler": "robust"}, "unknown scaler 'robust'"),
    ],
)
def test_file_errors_are_one_line(tmp_path, options, message):
    _, path = _write_table(tmp_path)
    options = {"path": str(path), **options}
    with pytest.raises((ValueError, FileNotFoundError), match=message) as info:
        load_dataset("file", **options)
    assert "\n" not in str(info.value)


def test_file_split_column_without_test_rows(tmp_path):
    df, _ = _write_table(tmp_path)
    df["part"] = "train"
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ValueError, match="has no 'test' rows; values: train"):
        load_dataset("file", path=str(tmp_path / "t.csv"), target="kind", split_column="part")
