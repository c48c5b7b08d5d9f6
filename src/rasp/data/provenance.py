"""Provenance records: where a dataset came from and how it was made.

Every processed dataset carries a ``provenance.json`` with at least ``source`` (openml,
pythia, svhn or synthetic), ``dataset``, the inputs with their checksums, the URLs or
generator settings, the seeds, and the versions of the packages that produced it. The
helpers here build those records and write JSON atomically. Records hold no timestamps,
so two runs with the same inputs and seeds give identical provenance.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from rasp.atomic import write_json_atomic as _write_json

#: Packages whose versions are recorded with every dataset.
DATA_PACKAGES: tuple[str, ...] = (
    "rasp",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "pillow",
    "pythia8mc",
    "fastjet",
    "awkward",
)

#: Data sources per dataset; the first one is the real data set of the paper.
SOURCES: dict[str, tuple[str, ...]] = {
    "jets": ("openml", "pythia"),
    "svhn": ("svhn", "synthetic"),
}

#: Sources that are offline stand-ins rather than the paper's data.
STAND_IN_SOURCES: frozenset[str] = frozenset({"pythia", "synthetic"})


def package_versions(names: Iterable[str] = DATA_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (``None`` if not installed), plus Python."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def md5_file(path: str | Path) -> str:
    """Hex MD5 digest of a file (read in chunks)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def file_record(path: str | Path) -> dict[str, Any]:
    """``{"path", "bytes", "md5"}`` of a file."""
    p = Path(path)
    return {"path": str(p), "bytes": p.stat().st_size, "md5": md5_file(p)}


def base_provenance(dataset: str, source: str) -> dict[str, Any]:
    """Skeleton record: dataset (jets, svhn), source, whether it is a stand-in, package
    versions. Raises ``ValueError`` unless ``source`` is a known source of ``dataset``."""
    if source not in SOURCES[dataset]:
        raise ValueError(
            f"unknown source {source!r} for dataset {dataset!r}; expected one of "
            f"{list(SOURCES[dataset])} (set datasets.{dataset}.source in the config)"
        )
    return {
        "dataset": dataset,
        "source": source,
        "stand_in": source in STAND_IN_SOURCES,
        "versions": package_versions(),
    }


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON via a temporary file and a rename."""
    return _write_json(path, obj, sort_keys=True)


def read_json(path: str | Path) -> Any:
    """Load a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
