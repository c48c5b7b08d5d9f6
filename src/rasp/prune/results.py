"""Writing the outputs of one prune: model.pt, masks.pt, metrics.json, trajectory.csv.

All files are written atomically (temporary name in the same folder, then rename), so a
failed job never leaves a half-written result.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rasp.atomic import write_json_atomic, write_text_atomic

#: Columns of trajectory.csv, in order (units: fractions in [0, 1], resources in blocks,
#: seconds wall-clock). ``target_*`` / ``achieved_*`` are estimated resources.
TRAJECTORY_COLUMNS = (
    "step",
    "budget_fraction",
    "target_dsp",
    "target_bram_18k",
    "achieved_dsp",
    "achieved_bram_18k",
    "achieved_multipliers",
    "meets_budget",
    "sparsity",
    "val_accuracy",
    "accepted",
    "started_from",
    "finetune_epochs",
    "solver_method",
    "solver_status",
    "n_items",
    "solve_seconds",
    "gap",
    "repairs",
    "step_seconds",
)
#: Columns appended after :data:`TRAJECTORY_COLUMNS` when a row has them (empty in rows
#: without): resources only some objectives budget (``lut_da``: da4ml's cost of the
#: re-traced design, :mod:`rasp.hardware.da_cost`).
OPTIONAL_TRAJECTORY_COLUMNS = ("target_lut_da", "achieved_lut_da")


def write_json(path: str | Path, obj: Mapping[str, Any]) -> None:
    """Write ``obj`` as indented JSON (NaN -> null, inf -> "inf"), atomically."""
    write_json_atomic(path, obj, inf_as_text=True)


def write_trajectory(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write trajectory rows (one per step) with :data:`TRAJECTORY_COLUMNS` (plus the
    :data:`OPTIONAL_TRAJECTORY_COLUMNS` some row has), atomically."""
    columns = TRAJECTORY_COLUMNS + tuple(c for c in OPTIONAL_TRAJECTORY_COLUMNS
                                         if any(c in row for row in rows))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k, float("nan"))) for k in columns})
    write_text_atomic(path, buf.getvalue(), newline="")


def _csv_value(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return "" if math.isnan(v) else repr(round(v, 10))
    if v is None:
        return ""
    return v
