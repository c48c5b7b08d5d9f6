"""SVHN cropped digits (format 2): download, the ``.mat`` layout, conversion.

The files are MATLAB v5 ``.mat`` files with ``X``: uint8 (32, 32, 3, N) (height,
width, RGB channel, image) and ``y``: (N, 1) labels 1..10, where 10 means the digit 0.
The offline stand-in (:mod:`rasp.data.render_digits`) writes the same layout, so
:func:`load_svhn_mat` serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import scipy.io

from rasp.atomic import atomic_path
from rasp.data.download import download

SVHN_BASE_URL = "http://ufldl.stanford.edu/housenumbers"

OFFLINE_HINT_SVHN = (
    "No internet? Use the offline stand-in instead: set `datasets: {svhn: {source: "
    "synthetic}}` in your config file (the default config/config.yaml does), which renders "
    "street-number digits in the SVHN format."
)


@dataclass(frozen=True)
class SvhnFile:
    """One published SVHN file: name, MD5 digest, size in bytes, number of images."""

    name: str
    md5: str
    size: int
    n_images: int


SVHN_FILES: dict[str, SvhnFile] = {
    "train": SvhnFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", 182_040_794, 73_257),
    "test": SvhnFile("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", 64_275_384, 26_032),
    "extra": SvhnFile("extra_32x32.mat", "a93ce644f1a588dc4d68dda5feec44a7", 1_329_278_602,
                      531_131),
}

CLASS_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))


def svhn_url(split: str, base_url: str = SVHN_BASE_URL) -> str:
    """URL of the published ``.mat`` file of ``split`` (train, test or extra)."""
    return f"{base_url.rstrip('/')}/{SVHN_FILES[split].name}"


def fetch_svhn(
    split: str,
    dest: str | Path,
    base_url: str = SVHN_BASE_URL,
    retries: int = 3,
    timeout_s: float = 60.0,
    progress: IO[str] | bool | None = None,
) -> Path:
    """Download one SVHN split to ``dest`` (size and MD5 verified, resumable)."""
    meta = SVHN_FILES[split]
    return download(
        svhn_url(split, base_url),
        dest,
        md5=meta.md5,
        size=meta.size,
        retries=retries,
        timeout_s=timeout_s,
        progress=progress,
        offline_hint=OFFLINE_HINT_SVHN,
    )


def svhn_upstream(source: str, base_url: str = SVHN_BASE_URL) -> dict:
    """Provenance of the raw files of an SVHN-format source (``svhn`` or ``synthetic``)."""
    if source == "synthetic":
        return {"kind": "rendered street-number digits (rasp.data.render_digits)"}
    return {
        "kind": "SVHN cropped digits (format 2), Netzer et al. 2011",
        "files": {
            split: {"url": svhn_url(split, base_url), "md5": f.md5, "bytes": f.size,
                    "n_images": f.n_images}
            for split, f in SVHN_FILES.items()
            if split in ("train", "test")
        },
    }


def read_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw arrays of an SVHN-layout file: X uint8 (32, 32, 3, N), y int64 (N,) in 1..10."""
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, OSError, NotImplementedError, IndexError,
            scipy.io.matlab.MatReadError) as err:
        raise ValueError(f"{path} is not a readable MATLAB v5 file: {err!r}") from err
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{path} lacks the SVHN arrays X and y (found {sorted(mat)})")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise ValueError(f"{path}: X has shape {x.shape}, expected (32, 32, 3, N)")
    if x.shape[3] != len(y):
        raise ValueError(f"{path}: X has {x.shape[3]} images but y has {len(y)} labels")
    if x.dtype != np.uint8:
        raise ValueError(f"{path}: X has dtype {x.dtype}, expected uint8")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise ValueError(f"{path}: labels span {y.min()}..{y.max()}, expected 1..10")
    return x, y


def svhn_labels_to_digits(y: np.ndarray) -> np.ndarray:
    """SVHN labels 1..10 to digits 0..9 (label 10 is the digit 0); int64."""
    y = np.asarray(y, dtype=np.int64)
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise ValueError(f"SVHN labels must be in 1..10, got {y.min()}..{y.max()}")
    return np.where(y == 10, 0, y)


def digits_to_svhn_labels(digits: np.ndarray) -> np.ndarray:
    """Digits 0..9 to SVHN labels 1..10 (0 becomes 10); uint8."""
    d = np.asarray(digits, dtype=np.int64)
    return np.where(d == 0, 10, d).astype(np.uint8)


def load_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images float32 (N, 3, 32, 32) in [0, 1] and digits int64 (N,) in 0..9."""
    x, y = read_svhn_mat(path)
    x = np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1)), dtype=np.float32)
    return x / np.float32(255.0), svhn_labels_to_digits(y)


def write_svhn_mat(path: str | Path, x_hwcn: np.ndarray, labels: np.ndarray) -> Path:
    """Write X uint8 (32, 32, 3, N) and labels 1..10 in the SVHN layout, atomically."""
    x_hwcn = np.asarray(x_hwcn)
    labels = np.asarray(labels).reshape(-1, 1)
    if x_hwcn.dtype != np.uint8 or x_hwcn.shape[:3] != (32, 32, 3):
        raise ValueError(f"X must be uint8 (32, 32, 3, N), got {x_hwcn.dtype} {x_hwcn.shape}")
    if x_hwcn.shape[3] != len(labels):
        raise ValueError("X and labels disagree on the number of images")
    path = Path(path)
    with atomic_path(path, suffix=".mat") as tmp:
        scipy.io.savemat(tmp, {"X": x_hwcn, "y": labels.astype(np.uint8)}, format="5",
                         do_compression=False)
    return path
