"""Raw tables / ``.mat`` files -> the one processed format (:mod:`rasp.data.processed`).

Jets (both sources, following the hls4ml tutorial):

1. read the ARFF table(s) in the given order (OpenML order for the real data; class,
   then shard order for the stand-in) and check the 16 feature columns and ``class``;
2. apply the NaN policy (rows with a NaN feature, e.g. one-constituent groomed jets):
   ``drop`` them (counted in the provenance) or ``error``;
3. label-encode alphabetically: g=0, q=1, t=2, w=3, z=4;
4. ``train_test_split(test_size=0.2, random_state=42)`` of the rows in source order
   (test split);
5. carve the validation split out of the rest with ``train_test_split`` seeded by
   ``val_seed``;
6. fit ``StandardScaler`` on the training split only and apply it to all three splits;
   the scaler (mean, scale in feature units) is returned for saving as JSON.

SVHN (both sources): train files -> seeded 90/10 train/validation split, test files ->
test; images float32 (N, 3, 32, 32) in [0, 1], labels 0..9 (SVHN label 10 -> 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from rasp.data.arff import read_arff
from rasp.data.jet_features import FEATURE_NAMES, FEATURE_UNITS, JET_CLASSES
from rasp.data.processed import ProcessedData
from rasp.data.provenance import base_provenance, file_record
from rasp.data.svhn import CLASS_NAMES as DIGIT_CLASS_NAMES
from rasp.data.svhn import load_svhn_mat

NAN_POLICIES = ("drop", "error")
TUTORIAL_TEST_SIZE = 0.2
TUTORIAL_RANDOM_STATE = 42


def read_jet_tables(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate jet tables (ARFF, OpenML columns) in the given order; validate them."""
    frames = []
    expected = [*FEATURE_NAMES, "class"]
    for p in paths:
        frame, header = read_arff(p)
        if header.names != expected:
            raise ValueError(f"{p}: columns {header.names} differ from the expected {expected}")
        n = int(frame["class"].isna().sum())
        if n:
            raise ValueError(f"{p}: {n} rows without a class (truncated or malformed file?)")
        bad = sorted(set(frame["class"].unique()) - set(JET_CLASSES))
        if bad:
            raise ValueError(f"{p}: unknown classes {bad}; expected {list(JET_CLASSES)}")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def encode_jet_labels(classes: Sequence[str] | np.ndarray) -> np.ndarray:
    """Class names to int64 labels, alphabetically: g=0, q=1, t=2, w=3, z=4."""
    lookup = {c: i for i, c in enumerate(JET_CLASSES)}
    try:
        return np.fromiter((lookup[c] for c in classes), dtype=np.int64, count=len(classes))
    except KeyError as err:
        raise ValueError(f"unknown jet class {err.args[0]!r}; expected {JET_CLASSES}") from err


def scaler_to_dict(scaler: StandardScaler, feature_names: Sequence[str]) -> dict[str, Any]:
    """JSON-ready record of a fitted StandardScaler (mean and scale in feature units)."""
    return {
        "kind": "sklearn.preprocessing.StandardScaler",
        "feature_names": list(feature_names),
        "units": {f: FEATURE_UNITS.get(f, "") for f in feature_names},
        "mean": [float(v) for v in scaler.mean_],
        "scale": [float(v) for v in scaler.scale_],
        "var": [float(v) for v in scaler.var_],
        "n_samples_seen": int(np.max(scaler.n_samples_seen_)),
    }


def unscale(x: np.ndarray, scaler: dict[str, Any]) -> np.ndarray:
    """Invert the standardisation: x * scale + mean (back to feature units)."""
    return np.asarray(x, dtype=np.float64) * np.asarray(scaler["scale"]) + np.asarray(
        scaler["mean"]
    )


def prepare_jets(
    tables: Sequence[str | Path],
    source: str,
    val_fraction: float,
    val_seed: int,
    test_size: float = TUTORIAL_TEST_SIZE,
    test_random_state: int = TUTORIAL_RANDOM_STATE,
    nan_policy: str = "drop",
    upstream: dict[str, Any] | None = None,
) -> tuple[ProcessedData, dict[str, Any]]:
    """Processed jet dataset and the scaler record (see module docstring for the recipe).

    ``val_fraction`` is the fraction of the non-test rows used for validation;
    ``upstream`` (OpenML description or simulation shard records) goes into the
    provenance unchanged.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy {nan_policy!r} is not one of {NAN_POLICIES}")
    frame = read_jet_tables(tables)
    x = frame[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    y = encode_jet_labels(frame["class"].to_numpy())
    bad = ~np.isfinite(x).all(axis=1)
    n_bad = int(bad.sum())
    nan_by_feature = {f: int(np.sum(~np.isfinite(x[:, i]))) for i, f in enumerate(FEATURE_NAMES)}
    if n_bad and nan_policy == "error":
        which = ", ".join(f"{k}: {v}" for k, v in nan_by_feature.items() if v)
        raise ValueError(
            f"{n_bad} jets have NaN/inf features ({which}); "
            "set datasets.jets.nan_policy: drop to remove them"
        )
    if n_bad:
        x, y = x[~bad], y[~bad]
    x_trval, x_test, y_trval, y_test = train_test_split(
        x, y, test_size=test_size, random_state=test_random_state
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_trval, y_trval, test_size=val_fraction, random_state=val_seed
    )
    scaler = StandardScaler().fit(x_train)
    scaler_rec = scaler_to_dict(scaler, FEATURE_NAMES)

    def tf(a: np.ndarray) -> np.ndarray:
        return scaler.transform(a).astype(np.float32)

    prov = base_provenance("jets", source)
    prov.update(
        {
            "inputs": [file_record(p) for p in tables],
            "upstream": upstream or {},
            "recipe": {
                "label_encoding": {c: i for i, c in enumerate(JET_CLASSES)},
                "test_split": {"function": "sklearn.model_selection.train_test_split",
                               "test_size": test_size, "random_state": test_random_state,
                               "order": "rows in source order"},
                "validation_split": {"function": "sklearn.model_selection.train_test_split",
                                     "test_size": val_fraction, "random_state": val_seed,
                                     "of": "train+validation rows"},
                "scaler": "StandardScaler fitted on the training split only",
                "nan_policy": nan_policy,
            },
            "seeds": {"test_split": test_random_state, "validation_split": val_seed},
            "n_rows_read": int(len(frame)),
            "n_rows_dropped_nan": n_bad,
            "nan_by_feature": nan_by_feature,
            "counts": _counts({"train": y_train, "val": y_val, "test": y_test}, JET_CLASSES),
        }
    )
    data = ProcessedData(
        x_train=tf(x_train),
        y_train=y_train.astype(np.int64),
        x_val=tf(x_val),
        y_val=y_val.astype(np.int64),
        x_test=tf(x_test),
        y_test=y_test.astype(np.int64),
        class_names=list(JET_CLASSES),
        feature_names=list(FEATURE_NAMES),
        provenance=prov,
    )
    return data, scaler_rec


def _load_many(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*map(load_svhn_mat, paths), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def prepare_svhn(
    train_files: Sequence[str | Path],
    test_files: Sequence[str | Path],
    source: str,
    val_fraction: float,
    val_seed: int,
    upstream: dict[str, Any] | None = None,
) -> ProcessedData:
    """Processed SVHN-format dataset: seeded train/validation split of the train files."""
    x_trval, y_trval = _load_many(train_files)
    x_test, y_test = _load_many(test_files)
    idx = np.arange(len(y_trval))
    i_train, i_val = train_test_split(idx, test_size=val_fraction, random_state=val_seed)
    prov = base_provenance("svhn", source)
    prov.update(
        {
            "inputs": {"train": [file_record(p) for p in train_files],
                       "test": [file_record(p) for p in test_files]},
            "upstream": upstream or {},
            "recipe": {
                "labels": "SVHN label 10 -> digit 0",
                "images": "uint8 (32, 32, 3, N) -> float32 (N, 3, 32, 32) / 255",
                "validation_split": {"function": "sklearn.model_selection.train_test_split",
                                     "test_size": val_fraction, "random_state": val_seed,
                                     "of": "train files"},
            },
            "seeds": {"validation_split": val_seed},
            "counts": _counts({"train": y_trval[i_train], "val": y_trval[i_val],
                               "test": y_test}, DIGIT_CLASS_NAMES),
        }
    )
    return ProcessedData(
        x_train=x_trval[i_train],
        y_train=y_trval[i_train],
        x_val=x_trval[i_val],
        y_val=y_trval[i_val],
        x_test=x_test,
        y_test=y_test,
        class_names=list(DIGIT_CLASS_NAMES),
        feature_names=[],
        provenance=prov,
    )


def _counts(splits: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, dict[str, int]]:
    return {
        split: {n: int(c) for n, c in zip(names, np.bincount(y, minlength=len(names)), strict=True)}
        for split, y in splits.items()
    }
