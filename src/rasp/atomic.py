"""Atomic file writes: a temporary sibling of the target, then a rename.

Every result file of the workflow is written this way, so a failed or killed job never
leaves a half-written output that a later rule (or Snakemake's incomplete-file check)
could mistake for a finished one. Finished files get the usual permissions (0666 minus
the umask), not the owner-only 0600 that ``tempfile.mkstemp`` creates: results are read
by other users and by jobs on other nodes of a shared file system.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[str]:
    """Yield a temporary file name next to ``path``; rename it over ``path`` on success.

    For writers that take a file name (``torch.save``, ``DataFrame.to_csv``,
    ``Figure.savefig``, ``scipy.io.savemat``). ``suffix`` ends the temporary name (e.g.
    ``".mat"`` for writers that add an extension when it is missing). On any exception
    the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}",
                               dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing (``"w"`` or ``"wb"``; ``kwargs``
    go to :func:`open`); rename it over ``path`` when the block finishes without error."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only ('w' or 'wb'), got mode {mode!r}")
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text_atomic(path: str | Path, text: str, newline: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "w", newline=newline) as fh:
        fh.write(text)
    return Path(path)


def json_safe(value: Any, inf_as_text: bool = False) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays as Python numbers and lists,
    paths as strings, NaN as ``null``; infinities as ``null`` or, with ``inf_as_text``,
    as the strings ``"inf"`` / ``"-inf"`` (metrics whose budget may be unbounded)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, inf_as_text) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, inf_as_text) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return json_safe(value.tolist(), inf_as_text)  # numpy arrays and scalars
    if isinstance(value, float) and not math.isfinite(value):
        if inf_as_text and not math.isnan(value):
            return "inf" if value > 0 else "-inf"
        return None
    return value


def write_json_atomic(path: str | Path, obj: Any, *, sort_keys: bool = False,
                      inf_as_text: bool = False) -> Path:
    """Write ``obj`` as indented, strict JSON (:func:`json_safe`) atomically; returns the
    path. Every JSON result of the workflow goes through here."""
    text = json.dumps(json_safe(obj, inf_as_text), indent=2, sort_keys=sort_keys,
                      allow_nan=False)
    return write_text_atomic(path, text + "\n")
