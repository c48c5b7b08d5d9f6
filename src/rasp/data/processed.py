"""The one processed-dataset format every downstream step reads, whatever the source.

A processed dataset is a single ``.npz`` file with these arrays:

- ``x_train``, ``x_val``, ``x_test``: float32 features. Jets: shape (N, 16), standardised
  with a scaler fitted on the training split only. Images: shape (N, 3, 32, 32), NCHW,
  pixel values scaled to [0, 1].
- ``y_train``, ``y_val``, ``y_test``: int64 class indices (jets 0..4 = g, q, t, w, z;
  digits 0..9).
- ``class_names``: unicode array of class names, index = label.
- ``feature_names``: unicode array (jets: the 16 OpenML column names; images: empty).

Next to it, ``provenance.json`` records the source (``openml`` | ``pythia`` for jets,
``svhn`` | ``synthetic`` for images), URLs or generator settings, versions, checksums
and seeds. Every result derived from the data copies ``provenance["source"]`` as
``data_source`` so stand-in numbers cannot pass for the paper's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rasp.atomic import atomic_path, write_text_atomic

SPLITS = ("train", "val", "test")
REQUIRED_KEYS = tuple(f"{p}_{s}" for s in SPLITS for p in ("x", "y")) + ("class_names",)


@dataclass
class ProcessedData:
    """In-memory processed dataset (see module docstring for shapes and units)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    feature_names: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    @property
    def source(self) -> str:
        """Data source key recorded in the provenance (e.g. ``pythia``, ``openml``)."""
        return str(self.provenance.get("source", "unknown"))

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` of split ``name`` (``train``, ``val`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


def provenance_path(npz_path: str | Path) -> Path:
    """Path of the provenance JSON that accompanies a processed ``.npz`` file."""
    return Path(npz_path).with_name("provenance.json")


def save_processed(path: str | Path, data: ProcessedData) -> None:
    """Write ``data`` to ``path`` (``.npz``) and its provenance next to it, atomically."""
    arrays = {f"{p}_{s}": getattr(data, f"{p}_{s}") for s in SPLITS for p in ("x", "y")}
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            **arrays,
            class_names=np.asarray(data.class_names, dtype=str),
            feature_names=np.asarray(data.feature_names, dtype=str),
        )
    prov = json.dumps(data.provenance, indent=2, sort_keys=True, default=str)
    write_text_atomic(provenance_path(path), prov)


def load_processed(path: str | Path) -> ProcessedData:
    """Load a processed dataset written by :func:`save_processed`.

    Raises ``ValueError`` naming the missing arrays when the file is not in this format.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in REQUIRED_KEYS if k not in npz.files]
        if missing:
            raise ValueError(
                f"{path} is not a processed rasp dataset: missing arrays {missing}; "
                "re-run the prepare_<dataset> rule"
            )
        arrays = {k: npz[k] for k in npz.files}
    prov_file = provenance_path(path)
    provenance = json.loads(prov_file.read_text()) if prov_file.exists() else {}
    return ProcessedData(
        **{f"{p}_{s}": arrays[f"{p}_{s}"] for s in SPLITS for p in ("x", "y")},
        class_names=[str(c) for c in arrays["class_names"]],
        feature_names=[str(c) for c in arrays.get("feature_names", np.array([], dtype=str))],
        provenance=provenance,
    )
