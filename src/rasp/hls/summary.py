"""``results/summary.csv``: one row per HLS run (baselines and pruned models).

Inputs per run: its ``csim.json`` and ``resources.csv`` (HLS stage) and, for a pruned
model, the pruning ``metrics.json``. Fields read from the pruning metrics (all optional,
missing ones give an empty cell): ``solve_seconds`` (total knapsack solve wall time, s)
and ``gap`` (relative optimality gap of the final knapsack solve, a fraction). The
accuracies come from the HLS stage itself so that every row is measured the same way:
``accuracy_torch`` = PyTorch test accuracy of the checkpoint (whole test set),
``accuracy_csim`` = fixed-point accuracy on the simulated subset (empty when the run was
not simulated), ``baseline_accuracy`` = ``accuracy_torch`` of the baseline with the same
(dataset, variant, reuse factor).

Columns: the contract (:data:`SUMMARY_COLUMNS`), then :data:`EXTRA_COLUMNS`. Resources
are the ``total`` row of resources.csv (DSP48, BRAM_18K, LUT, FF counts; latency in clock
cycles); ``dsp_reduction`` / ``bram_reduction`` are ``100 * (1 - value / baseline)`` in
percent (0 for baselines, empty when the baseline uses none of the resource).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rasp.atomic import atomic_open
from rasp.hls.resources import TOTAL, read_resources

SUMMARY_COLUMNS = (
    "dataset", "data_source", "variant", "precision", "reuse_factor", "strategy",
    "objective", "budget", "accuracy_torch", "accuracy_csim", "baseline_accuracy", "dsp",
    "bram_18k", "lut", "ff", "latency_cycles", "baseline_dsp", "baseline_bram_18k",
    "dsp_reduction", "bram_reduction", "resource_source", "solve_seconds", "gap",
)
EXTRA_COLUMNS = (
    "run", "flow", "model_precision", "n_csim_samples", "agreement", "max_abs_diff",
    "compile_seconds",
    "library_cached", "multipliers", "multipliers_generated", "seed", "hls_seconds",
)
BASELINE = "baseline"


class SummaryInputError(ValueError):
    """A run's result files are missing or inconsistent."""


@dataclass(frozen=True)
class RunFiles:
    """Result files of one HLS run (``metrics`` only for pruned models)."""

    csim: str | Path
    resources: str | Path
    metrics: str | Path | None = None


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def summary_row(files: RunFiles) -> dict[str, Any]:
    """One summary row (without the baseline columns) from a run's files."""
    csim_path = Path(files.csim)
    try:
        csim = json.loads(csim_path.read_text())
    except (OSError, ValueError) as err:
        raise SummaryInputError(f"cannot read {csim_path}: {err}") from err
    resources = read_resources(files.resources)
    total = resources[resources["layer"].astype(str) == TOTAL].iloc[0]
    metrics: Mapping[str, Any] = {}
    if files.metrics is not None:
        try:
            metrics = json.loads(Path(files.metrics).read_text())
        except (OSError, ValueError) as err:
            raise SummaryInputError(f"cannot read {files.metrics}: {err}") from err
    for key in ("dataset", "variant", "run", "objective", "reuse_factor", "accuracy_torch"):
        if key not in csim:
            raise SummaryInputError(f"{csim_path} lacks {key!r}: not written by the HLS stage")
    objective = str(csim["objective"])
    if objective != BASELINE and files.metrics is None:
        raise SummaryInputError(f"{csim_path}: pruned run {csim['run']!r} needs its metrics.json")
    return {
        "dataset": csim["dataset"],
        "data_source": csim.get("data_source", "unknown"),
        "variant": csim["variant"],
        "precision": csim.get("precision", ""),
        "reuse_factor": int(csim["reuse_factor"]),
        "strategy": csim.get("strategy", ""),
        "objective": objective,
        "budget": _float(csim.get("budget")),
        "accuracy_torch": _float(csim["accuracy_torch"]),
        "accuracy_csim": _float(csim.get("accuracy_csim")),
        "dsp": _float(total["dsp"]),
        "bram_18k": _float(total["bram_18k"]),
        "lut": _float(total["lut"]),
        "ff": _float(total["ff"]),
        "latency_cycles": _float(total["latency_cycles"]),
        "resource_source": str(total["source"]),
        "solve_seconds": _float(metrics.get("solve_seconds")),
        "gap": _float(metrics.get("gap")),
        "run": csim["run"],
        "flow": csim.get("flow", ""),
        "model_precision": csim.get("model_precision", ""),
        "n_csim_samples": _float(csim.get("n_samples")),
        "agreement": _float(csim.get("agreement")),
        "max_abs_diff": _float(csim.get("max_abs_diff")),
        "compile_seconds": _float(csim.get("compile_seconds")),
        "library_cached": csim.get("library_cached"),
        "multipliers": _float(total["multipliers_estimated"]),
        "multipliers_generated": _float(total["multipliers_generated"]),
        "seed": csim.get("seed"),
        "hls_seconds": _float(csim.get("hls_seconds")),
    }


def _reduction(value: float, baseline: float) -> float:
    if math.isnan(value) or math.isnan(baseline) or baseline <= 0:
        return math.nan
    return 100.0 * (1.0 - value / baseline)


def build_summary(runs: Iterable[RunFiles]) -> pd.DataFrame:
    """The summary table of ``runs``; every pruned run needs the baseline of its group."""
    rows = [summary_row(r) for r in runs]
    if not rows:
        raise SummaryInputError("no HLS runs to summarise (is pruning.<dataset> configured?)")
    df = pd.DataFrame(rows)
    keys = ["dataset", "variant", "reuse_factor"]
    base = df[df["objective"] == BASELINE]
    dup = base[base.duplicated(keys, keep=False)]
    if len(dup):
        raise SummaryInputError(f"several baselines for {dup[keys].drop_duplicates().values.tolist()}")
    base = base.set_index(keys)
    out = []
    for _, row in df.iterrows():
        key = (row["dataset"], row["variant"], row["reuse_factor"])
        if key not in base.index:
            raise SummaryInputError(
                f"run {row['run']!r} of {key[0]}/{key[1]} has no baseline_rf{key[2]} to compare "
                "with; the summary rule must list it"
            )
        b = base.loc[key]
        row = row.copy()
        row["baseline_accuracy"] = b["accuracy_torch"]
        row["baseline_dsp"] = b["dsp"]
        row["baseline_bram_18k"] = b["bram_18k"]
        row["dsp_reduction"] = _reduction(row["dsp"], b["dsp"])
        row["bram_reduction"] = _reduction(row["bram_18k"], b["bram_18k"])
        out.append(row)
    table = pd.DataFrame(out)
    table = table.sort_values(["dataset", "variant", "reuse_factor", "objective", "budget"],
                              key=lambda s: s.map(lambda v: "" if v == BASELINE else v)
                              if s.name == "objective" else s, na_position="first")
    return table[list(SUMMARY_COLUMNS) + list(EXTRA_COLUMNS)].reset_index(drop=True)


def write_summary(table: pd.DataFrame, path: str | Path) -> None:
    """Write the table as CSV atomically."""
    with atomic_open(path, "w", newline="") as fh:
        table.to_csv(fh, index=False)
