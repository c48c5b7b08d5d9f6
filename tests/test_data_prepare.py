"""Raw files -> processed format: ARFF reading, the tutorial split and scaling for jets,
SVHN conversion (label 10 -> 0, NCHW in [0, 1]), NaN policy, determinism, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from rasp.data.arff import ArffError, read_arff, write_arff
from rasp.data.jet_features import FEATURE_NAMES, JET_CLASSES
from rasp.data.prepare import encode_jet_labels, prepare_jets, prepare_svhn, unscale
from rasp.data.processed import load_processed, save_processed
from rasp.data.svhn import (
    digits_to_svhn_labels,
    load_svhn_mat,
    read_svhn_mat,
    svhn_labels_to_digits,
    write_svhn_mat,
)

FIXTURES = Path(__file__).parent / "fixtures" / "data"
ARFF = FIXTURES / "hls4ml_lhc_jets_hlf_tiny.arff"
MAT = FIXTURES / "svhn_tiny_32x32.mat"


def test_fixture_arff_has_the_openml_layout():
    frame, header = read_arff(ARFF)
    assert header.relation == "hls4ml_lhc_jets_hlf"
    assert header.names == [*FEATURE_NAMES, "class"]
    assert header.attributes[-1].values == JET_CLASSES
    assert len(frame) == 30 and set(frame["class"]) == set(JET_CLASSES)
    assert frame[list(FEATURE_NAMES)].dtypes.unique().tolist() == [np.float64]


def test_arff_round_trip_with_missing_values(tmp_path):
    frame = pd.DataFrame({"a": [1.5, np.nan, -2.0], "b": [0.0, 1e-9, 3.0], "class": ["g", "q", "z"]})
    path = write_arff(tmp_path / "t.arff", frame, "rel", nominal={"class": JET_CLASSES})
    back, header = read_arff(path)
    assert header.names == ["a", "b", "class"]
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@relation r\n@attribute a numeric\n@data\n{0 1.0}\n", "sparse"),
        ("@relation r\n@attribute a numeric\n", "no @data"),
        ("@relation r\n@attribute a date\n@data\n1\n", "unsupported attribute type"),
        ("@relation r\n@attribute c {g,q}\n@data\nx\n", "outside"),
        ("<html>Service unavailable</html>\n", "unexpected header line"),
    ],
)
def test_bad_arff_is_rejected_with_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.arff"
    path.write_text(text)
    with pytest.raises(ArffError, match=message):
        read_arff(path)


def test_labels_are_alphabetical():
    assert encode_jet_labels(["g", "q", "t", "w", "z", "t"]).tolist() == [0, 1, 2, 3, 4, 2]
    with pytest.raises(ValueError, match="unknown jet class 'b'"):
        encode_jet_labels(["b"])


def _jets(tmp_path: Path, seed: int = 0, n: int = 200, nan_rows: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)) * np.arange(1, 17) + np.arange(16)
    x[:nan_rows, 6] = np.nan
    frame = pd.DataFrame(x, columns=list(FEATURE_NAMES))
    frame["class"] = rng.choice(JET_CLASSES, size=n)
    return write_arff(tmp_path / f"jets_{seed}.arff", frame, "t", nominal={"class": JET_CLASSES},
                      float_format="%.17g")


def test_prepare_jets_follows_the_tutorial_recipe(tmp_path):
    path = _jets(tmp_path)
    data, scaler = prepare_jets([path], source="pythia", val_fraction=0.25, val_seed=3)
    frame, _ = read_arff(path)
    x = frame[list(FEATURE_NAMES)].to_numpy()
    y = encode_jet_labels(frame["class"].to_numpy())
    x_trval, x_test, y_trval, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    # the test split is exactly the tutorial's
    np.testing.assert_allclose(unscale(data.x_test, scaler), x_test, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(data.y_test, y_test)
    assert len(data.y_train) + len(data.y_val) == len(y_trval) == 160
    assert len(data.y_val) == 40
    # scaler fitted on the training split only
    assert np.abs(data.x_train.mean(axis=0)).max() < 1e-5
    assert np.abs(data.x_train.std(axis=0) - 1).max() < 1e-4
    assert scaler["n_samples_seen"] == len(data.y_train)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.class_names == list(JET_CLASSES) and data.feature_names == list(FEATURE_NAMES)
    prov = data.provenance
    assert prov["source"] == "pythia" and prov["stand_in"] is True
    assert prov["seeds"] == {"test_split": 42, "validation_split": 3}
    assert prov["inputs"][0]["md5"] and prov["versions"]["numpy"]


def test_prepare_jets_nan_policy(tmp_path):
    path = _jets(tmp_path, nan_rows=7)
    data, _ = prepare_jets([path], source="openml", val_fraction=0.25, val_seed=1)
    assert data.provenance["n_rows_dropped_nan"] == 7
    assert data.provenance["nan_by_feature"]["d2_b1_mmdt"] == 7
    assert sum(len(data.split(s)[1]) for s in ("train", "val", "test")) == 193
    assert all(np.isfinite(data.split(s)[0]).all() for s in ("train", "val", "test"))
    with pytest.raises(ValueError, match="7 jets have NaN.*nan_policy: drop"):
        prepare_jets([path], source="openml", val_fraction=0.25, val_seed=1, nan_policy="error")


def test_prepare_jets_rejects_wrong_tables(tmp_path):
    frame = pd.DataFrame({"zlogz": [1.0], "class": ["g"]})
    bad = write_arff(tmp_path / "bad.arff", frame, "t", nominal={"class": JET_CLASSES})
    with pytest.raises(ValueError, match="differ from the expected"):
        prepare_jets([bad], source="pythia", val_fraction=0.25, val_seed=1)
    with pytest.raises(ValueError, match="unknown source 'zenodo'"):
        prepare_jets([_jets(tmp_path)], source="zenodo", val_fraction=0.25, val_seed=1)


def _assert_same(a, b):
    for split in ("train", "val", "test"):
        for x, y in zip(a.split(split), b.split(split), strict=True):
            np.testing.assert_array_equal(x, y)
    assert a.class_names == b.class_names and a.feature_names == b.feature_names


def test_processed_jets_identical_across_runs(tmp_path):
    tables = [_jets(tmp_path, seed=1), _jets(tmp_path, seed=2)]
    outs = []
    for run in ("a", "b"):
        data, scaler = prepare_jets(tables, source="pythia", val_fraction=0.25, val_seed=9)
        save_processed(tmp_path / run / "dataset.npz", data)
        outs.append(load_processed(tmp_path / run / "dataset.npz"))
    _assert_same(*outs)
    assert outs[0].provenance == outs[1].provenance
    other, _ = prepare_jets(tables, source="pythia", val_fraction=0.25, val_seed=10)
    assert not np.array_equal(other.y_train, outs[0].y_train)  # the seed matters


def test_svhn_label_10_is_digit_0():
    assert svhn_labels_to_digits(np.array([10, 1, 9, 10])).tolist() == [0, 1, 9, 0]
    assert digits_to_svhn_labels(np.array([0, 1, 9])).tolist() == [10, 1, 9]
    with pytest.raises(ValueError, match="1..10"):
        svhn_labels_to_digits(np.array([0, 3]))


def test_svhn_mat_layout_and_conversion(tmp_path):
    x_raw, y_raw = read_svhn_mat(MAT)
    assert x_raw.shape == (32, 32, 3, 12) and x_raw.dtype == np.uint8
    assert 10 in y_raw
    x, y = load_svhn_mat(MAT)
    assert x.shape == (12, 3, 32, 32) and x.dtype == np.float32
    # NCHW: pixel (row 5, col 7, channel 2) of image 3
    assert x[3, 2, 5, 7] == pytest.approx(x_raw[5, 7, 2, 3] / 255.0)
    assert y.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    # round trip through the writer
    out = write_svhn_mat(tmp_path / "copy.mat", x_raw, y_raw)
    x2, y2 = read_svhn_mat(out)
    np.testing.assert_array_equal(x2, x_raw)
    np.testing.assert_array_equal(y2, y_raw)
    with pytest.raises(ValueError, match="uint8"):
        write_svhn_mat(tmp_path / "bad.mat", x_raw.astype(np.float32), y_raw)


def test_bad_mat_files_are_rejected(tmp_path):
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"<html>not a mat file</html>")
    with pytest.raises(ValueError, match="not a readable MATLAB"):
        read_svhn_mat(bad)
    import scipy.io

    scipy.io.savemat(tmp_path / "wrong.mat", {"X": np.zeros((28, 28, 1, 2), np.uint8),
                                             "y": np.ones((2, 1))})
    with pytest.raises(ValueError, match=r"expected \(32, 32, 3, N\)"):
        read_svhn_mat(tmp_path / "wrong.mat")


def test_prepare_svhn_split_and_determinism(tmp_path):
    train = [MAT, MAT]  # 24 training images
    runs = []
    for run in ("a", "b"):
        data = prepare_svhn(train, [MAT], source="synthetic", val_fraction=0.25, val_seed=4)
        save_processed(tmp_path / run / "dataset.npz", data)
        runs.append(load_processed(tmp_path / run / "dataset.npz"))
    a, b = runs
    _assert_same(a, b)
    assert len(a.y_train) == 18 and len(a.y_val) == 6 and len(a.y_test) == 12
    assert a.input_shape == (3, 32, 32) and a.n_classes == 10
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1
    assert a.source == "synthetic"
    prov = json.loads((tmp_path / "a" / "provenance.json").read_text())
    assert prov["seeds"] == {"validation_split": 4}
    assert prov["counts"]["test"]["0"] == 2
