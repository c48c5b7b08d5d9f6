"""Compressed copy of a written hls4ml project (``project.tar.gz``).

Everything needed to rebuild or synthesise the design is kept: firmware sources,
``parameters.h``, the build scripts, ``hls4ml_config.yml``, vendor reports when
synthesis ran, and the QONNX files of QAT models. Left out: compiled C-simulation
libraries (``*.so``, machine-specific), object files, and the generated weight files
(``firmware/weights/``) when together they exceed ``max_weights_bytes`` (they can be
regenerated from the checkpoint and ``hls_config.yml``). Entries are sorted and carry no
owner or time stamps, so the archive depends only on the files' contents.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

from rasp.atomic import atomic_open

EXCLUDED_SUFFIXES = (".so", ".o")


def archive_project(project_dir: str | Path, out_path: str | Path, *,
                    max_weights_bytes: int = 10 * 2**20, arcname: str = "project") -> dict:
    """Write ``project_dir`` as a gzip tar to ``out_path`` (atomically).

    Returns ``{"files": n, "bytes": uncompressed size, "weights_included": bool}``.
    """
    root = Path(project_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"hls4ml project folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in EXCLUDED_SUFFIXES)
    weights = [p for p in files if p.relative_to(root).parts[:2] == ("firmware", "weights")]
    weights_bytes = sum(p.stat().st_size for p in weights)
    include_weights = weights_bytes <= max_weights_bytes
    if not include_weights:
        files = [p for p in files if p not in set(weights)]
    total = 0
    with atomic_open(out_path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if not include_weights:
            note = (f"firmware/weights/ ({len(weights)} files, {weights_bytes} bytes) left out: "
                    "regenerate them by converting the checkpoint with hls_config.yml\n").encode()
            _add_bytes(tar, f"{arcname}/WEIGHTS_OMITTED.txt", note)
        for path in files:
            data = path.read_bytes()
            total += len(data)
            _add_bytes(tar, f"{arcname}/{path.relative_to(root).as_posix()}", data,
                       0o755 if os.access(path, os.X_OK) else 0o644)
    return {"files": len(files), "bytes": total, "weights_included": include_weights}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))
