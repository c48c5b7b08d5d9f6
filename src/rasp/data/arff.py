"""Reading and writing dense ARFF tables (the format OpenML serves).

Only what the jet tables need: ``@relation``, ``@attribute`` lines with ``numeric`` /
``real`` / ``integer`` / ``string`` or nominal ``{a, b, ...}`` types (names optionally
quoted), ``%`` comments, and a dense comma-separated ``@data`` section with ``?`` for
missing values. The header is parsed line by line; the data section is read by
``pandas.read_csv`` (fast for the 830,000-row OpenML table). Sparse ARFF is rejected with
a clear error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rasp.atomic import atomic_open

_ATTR = re.compile(
    r"""@attribute\s+(?P<name>'[^']*'|"[^"]*"|\S+)\s+(?P<type>.+?)\s*$""", re.IGNORECASE
)


#: Attribute type keywords (lower case) -> column kind.
_KINDS = {"numeric": "numeric", "real": "numeric", "integer": "numeric", "string": "string"}


class ArffError(ValueError):
    """The file is not a dense ARFF table this reader understands."""


@dataclass(frozen=True)
class ArffAttribute:
    """One column: ``name``, ``kind`` (numeric | string | nominal), nominal ``values``."""

    name: str
    kind: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArffHeader:
    """Relation name, the columns, and the line number (0-based) where data starts."""

    relation: str
    attributes: tuple[ArffAttribute, ...]
    data_line: int

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.attributes]


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def read_header(path: str | Path) -> ArffHeader:
    """Parse the header of an ARFF file (everything up to ``@data``)."""
    relation = ""
    attrs: list[ArffAttribute] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh):
            line = raw.strip()
            if not line or line.startswith("%"):
                continue
            low = line.lower()
            if low.startswith("@relation"):
                relation = _unquote(line[len("@relation") :])
            elif low.startswith("@attribute"):
                m = _ATTR.match(line)
                if not m:
                    raise ArffError(f"{path}:{lineno + 1}: cannot parse attribute line {line!r}")
                name, typ = _unquote(m.group("name")), m.group("type").strip()
                if typ.startswith("{"):
                    if not typ.endswith("}"):
                        raise ArffError(f"{path}:{lineno + 1}: unterminated nominal type {typ!r}")
                    values = tuple(_unquote(v) for v in typ[1:-1].split(",") if v.strip())
                    attrs.append(ArffAttribute(name, "nominal", values))
                elif typ.lower() in _KINDS:
                    attrs.append(ArffAttribute(name, _KINDS[typ.lower()]))
                else:
                    raise ArffError(f"{path}:{lineno + 1}: unsupported attribute type {typ!r}")
            elif low.startswith("@data"):
                if not attrs:
                    raise ArffError(f"{path}: no @attribute lines before @data")
                return ArffHeader(relation, tuple(attrs), lineno + 1)
            else:
                raise ArffError(f"{path}:{lineno + 1}: unexpected header line {line[:80]!r}")
    raise ArffError(f"{path}: no @data section (is this an ARFF file? truncated download?)")


def read_arff(path: str | Path) -> tuple[pd.DataFrame, ArffHeader]:
    """Read a dense ARFF table: numeric columns as float64, the others as str.

    Raises :class:`ArffError` for sparse data, rows with the wrong number of values,
    non-numeric values in numeric columns, or nominal values outside the declared set.
    """
    header = read_header(path)
    dtypes = {a.name: (np.float64 if a.kind == "numeric" else str) for a in header.attributes}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for _ in range(header.data_line):
            fh.readline()
        pos = fh.tell()
        first = next((ln for ln in fh if ln.strip() and not ln.lstrip().startswith("%")), "")
        if first.lstrip().startswith("{"):
            raise ArffError(f"{path}: sparse ARFF data is not supported")
        fh.seek(pos)
        try:
            frame = pd.read_csv(
                fh,
                header=None,
                names=header.names,
                dtype=dtypes,
                na_values=["?"],
                keep_default_na=False,
                quotechar="'",
                skipinitialspace=True,
                comment="%",
            )
        except (ValueError, pd.errors.ParserError) as err:
            raise ArffError(f"{path}: malformed @data section: {err}") from err
    for a in header.attributes:
        if a.kind == "nominal":
            bad = sorted(set(frame[a.name].dropna()) - set(a.values))
            if bad:
                raise ArffError(
                    f"{path}: column {a.name!r} has values {bad[:5]} outside {list(a.values)}"
                )
    return frame, header


def write_arff(
    path: str | Path,
    frame: pd.DataFrame,
    relation: str,
    nominal: dict[str, tuple[str, ...]] | None = None,
    comments: tuple[str, ...] = (),
    float_format: str = "%.9g",
) -> Path:
    """Write ``frame`` as a dense ARFF table, atomically (temporary file + rename).

    Columns listed in ``nominal`` (name -> allowed values) are written as nominal
    attributes, all other columns as ``numeric``; NaN is written as ``?``.
    """
    nominal = nominal or {}
    lines = [*(f"% {c}" for c in comments), f"@relation {relation}"]
    lines += [f"@attribute {name} {{{','.join(nominal[name])}}}" if name in nominal
              else f"@attribute {name} numeric" for name in frame.columns]
    lines.append("@data")
    with atomic_open(path, "w", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
        frame.to_csv(fh, header=False, index=False, na_rep="?", float_format=float_format,
                     lineterminator="\n")
    return Path(path)
