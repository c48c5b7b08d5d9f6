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

from rasp.atomic import write_text_atomic
from rasp.hls.resources import DA_STRATEGY, YOSYS, design_total, read_resources
from rasp.results import BASELINE, SUMMARY_COLUMNS, run_id

EXTRA_COLUMNS = (
    "run", "flow", "model_precision", "n_csim_samples", "agreement", "agreement_passed",
    "max_abs_diff", "compile_seconds",
    "library_cached", "multipliers", "multipliers_generated", "seed", "hls_seconds",
    "replicate", "train_seed", "prune_seed", "n_test",
)


class SummaryInputError(ValueError):
    """A run's result files are missing or inconsistent."""


@dataclass(frozen=True)
class RunFiles:
    """Result files of one HLS run (``metrics`` only for pruned models)."""

    csim: str | Path
    resources: str | Path
    metrics: str | Path | None = None


def finite_or_nan(value: Any) -> float:
    """``value`` as a float, NaN when it is missing, not a number or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def summary_row(files: RunFiles) -> dict[str, Any]:
    """One summary row (without the baseline columns) from a run's files."""
    csim_path = Path(files.csim)
    csim = _read_json(csim_path)
    total = design_total(read_resources(files.resources), "hls")
    metrics = _read_json(files.metrics) if files.metrics is not None else {}
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
        "budget": finite_or_nan(csim.get("budget")),
        "accuracy_torch": finite_or_nan(csim["accuracy_torch"]),
        "accuracy_csim": finite_or_nan(csim.get("accuracy_csim")),
        "dsp": finite_or_nan(total["dsp"]),
        "bram_18k": finite_or_nan(total["bram_18k"]),
        "lut": finite_or_nan(total["lut"]),
        "ff": finite_or_nan(total["ff"]),
        "latency_cycles": finite_or_nan(total["latency_cycles"]),
        "resource_source": str(total["source"]),
        "solve_seconds": finite_or_nan(metrics.get("solve_seconds")),
        "gap": finite_or_nan(metrics.get("gap")),
        "run": csim["run"],
        "flow": csim.get("flow", ""),
        "model_precision": csim.get("model_precision", ""),
        "n_csim_samples": finite_or_nan(csim.get("n_samples")),
        "agreement": finite_or_nan(csim.get("agreement")),
        "agreement_passed": csim.get("agreement_passed"),
        "max_abs_diff": finite_or_nan(csim.get("max_abs_diff")),
        "compile_seconds": finite_or_nan(csim.get("compile_seconds")),
        "library_cached": csim.get("library_cached"),
        "multipliers": finite_or_nan(total["multipliers_estimated"]),
        "multipliers_generated": finite_or_nan(total["multipliers_generated"]),
        "seed": csim.get("seed"),
        "hls_seconds": finite_or_nan(csim.get("hls_seconds")),
        "replicate": 0,
        "train_seed": metrics.get("baseline_seed", csim.get("model_seed")),
        "prune_seed": metrics.get("seed"),
        "n_test": finite_or_nan(csim.get("n_test")),
    }


def _reduction(value: float, baseline: float) -> float:
    if math.isnan(value) or math.isnan(baseline) or baseline <= 0:
        return math.nan
    return 100.0 * (1.0 - value / baseline)


def _read_json(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise SummaryInputError(f"cannot read {path}: {err}") from err


def _estimate_row(metrics: Mapping[str, Any], resources: Mapping[str, Any],
                  replicate: int) -> dict[str, Any]:
    hardware = metrics.get("hardware") or {}
    return {
        **dict.fromkeys((*SUMMARY_COLUMNS, *EXTRA_COLUMNS), math.nan),
        "dataset": metrics["dataset"], "data_source": metrics.get("data_source", "unknown"),
        "variant": metrics["variant"], "precision": hardware.get("precision", ""),
        "reuse_factor": int(metrics["reuse_factor"]),
        "strategy": ";".join(sorted(set((metrics.get("strategies") or {}).values()))),
        "dsp": finite_or_nan(resources.get("dsp")), "bram_18k": finite_or_nan(resources.get("bram_18k")),
        "lut": finite_or_nan(resources.get("lut")), "ff": math.nan,
        "latency_cycles": finite_or_nan(resources.get("latency_cycles")),
        "multipliers": finite_or_nan(resources.get("multipliers")),
        "resource_source": "estimate", "flow": "", "model_precision": "",
        "library_cached": None, "replicate": int(replicate),
    }


def replicate_rows(baseline_metrics: str | Path, pruned_metrics: Iterable[str | Path],
                   replicate: int) -> list[dict[str, Any]]:
    """Summary rows of one seed replicate ``r >= 1`` of a (dataset, variant), which has no
    HLS runs: one baseline row per reuse factor and one row per pruned model, from the
    training and pruning ``metrics.json``. Accuracies are PyTorch test accuracies on the
    whole test set (as ``accuracy_torch`` of the HLS stage), resources the hardware
    model's estimates (the numbers the HLS stage checks its own against);
    ``accuracy_csim`` is empty."""
    base = _read_json(baseline_metrics)
    rows, baselines = [], {}
    for path in pruned_metrics:
        m = _read_json(path)
        for key in ("dataset", "variant", "objective", "reuse_factor", "test_accuracy",
                    "resources", "baseline_resources", "budget_percent"):
            if key not in m:
                raise SummaryInputError(f"{path} lacks {key!r}: not written by the prune rule")
        if m.get("baseline_seed") not in (None, base.get("seed")):
            raise SummaryInputError(
                f"{path} was pruned from a baseline with seed {m['baseline_seed']}, but "
                f"{baseline_metrics} has seed {base.get('seed')}: rerun the prune rule")
        row = _estimate_row(m, m["resources"], replicate)
        row.update({
            "objective": m["objective"], "budget": finite_or_nan(m["budget_percent"]),
            "accuracy_torch": finite_or_nan(m["test_accuracy"]),
            "solve_seconds": finite_or_nan(m.get("solve_seconds")), "gap": finite_or_nan(m.get("gap")),
            "run": run_id(m["objective"], int(m["reuse_factor"]), m["budget_percent"]),
            "train_seed": m.get("baseline_seed"), "prune_seed": m.get("seed"),
            "n_test": finite_or_nan((base.get("test") or {}).get("n")),
        })
        rows.append(row)
        rf = int(m["reuse_factor"])
        if rf not in baselines:
            b = _estimate_row(m, m["baseline_resources"], replicate)
            b.update({
                "objective": BASELINE, "budget": math.nan,
                "accuracy_torch": finite_or_nan(base.get("accuracy")),
                "run": run_id(BASELINE, rf, None), "train_seed": base.get("seed"),
                "n_test": finite_or_nan((base.get("test") or {}).get("n")),
            })
            baselines[rf] = b
    return [*baselines.values(), *rows]


def build_summary(runs: Iterable[RunFiles],
                  extra_rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """The summary table of ``runs`` (replicate 0) and ``extra_rows`` (the rows of other
    seed replicates, :func:`replicate_rows`); every pruned run needs the baseline of its
    group and replicate."""
    rows = [summary_row(r) for r in runs] + [dict(r) for r in extra_rows]
    if not rows:
        raise SummaryInputError("no HLS runs to summarise (is pruning.<dataset> configured?)")
    df = pd.DataFrame(rows)
    keys = ["dataset", "variant", "reuse_factor", "replicate"]
    base = df[df["objective"] == BASELINE]
    dup = base[base.duplicated(keys, keep=False)]
    if len(dup):
        raise SummaryInputError(f"several baselines for {dup[keys].drop_duplicates().values.tolist()}")
    base = base.set_index(keys)
    out = []
    for _, row in df.iterrows():
        key = (row["dataset"], row["variant"], row["reuse_factor"], row["replicate"])
        if key not in base.index:
            raise SummaryInputError(
                f"run {row['run']!r} of {key[0]}/{key[1]} (replicate {key[3]}) has no "
                f"baseline_rf{key[2]} to compare with; the summary rule must list it"
            )
        b = base.loc[key]
        row = row.copy()
        row["baseline_accuracy"] = b["accuracy_torch"]
        row["baseline_dsp"] = b["dsp"]
        row["baseline_bram_18k"] = b["bram_18k"]
        row["dsp_reduction"] = _reduction(row["dsp"], b["dsp"])
        row["bram_reduction"] = _reduction(row["bram_18k"], b["bram_18k"])
        out.append(row)
    table = _sorted(pd.DataFrame(out), ["dataset", "variant", "reuse_factor", "objective",
                                         "budget", "replicate"])
    return table[list(SUMMARY_COLUMNS) + list(EXTRA_COLUMNS)].reset_index(drop=True)


#: Extra columns of summary_da.csv (after :data:`SUMMARY_COLUMNS`).
DA_EXTRA_COLUMNS = (
    "run", "model_precision", "carry", "lutram", "lut_reduction", "da_cost",
    "da_latency_max", "n_csim_samples", "agreement", "agreement_csim", "max_abs_diff_csim",
    "lut_estimate", "dsp_estimate", "yosys_seconds", "yosys_peak_rss_mb", "yosys_cached",
    "yosys_family", "seed", "n_test",
)


def _sorted(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``df`` sorted by ``by``, baselines first among the objectives, missing values first."""
    return df.sort_values(by, key=lambda s: s.map(lambda v: "" if v == BASELINE else v)
                          if s.name == "objective" else s, na_position="first")


def da_row(files: RunFiles, csim: Mapping[str, Any],
           hls_row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The distributed-arithmetic row of one run (None when the run has no DA design).

    ``csim``: the run's csim.json; ``hls_row``: its summary.csv row (identity, accuracy and
    the HLS design's resources, kept as ``lut_estimate`` / ``dsp_estimate`` when they are
    estimates).
    """
    total = design_total(read_resources(files.resources), "da")
    if total is None:
        return None
    da = csim.get("da")
    if not isinstance(da, Mapping):
        raise SummaryInputError(f"{files.csim} lacks the 'da' block that its resources.csv's "
                                "yosys row comes from; rerun the hls rule")
    stat = da.get("yosys") or {}
    estimate = hls_row.get("resource_source") == "estimate"
    row = {k: hls_row[k] for k in ("dataset", "data_source", "variant", "precision",
                                   "reuse_factor", "objective", "budget", "accuracy_torch",
                                   "solve_seconds", "gap", "run", "model_precision", "seed")}
    latency = da.get("latency") or [math.nan, math.nan]
    row.update({
        "strategy": DA_STRATEGY,
        "accuracy_csim": finite_or_nan(da.get("accuracy_da")),
        "dsp": finite_or_nan(total["dsp"]), "bram_18k": finite_or_nan(total["bram_18k"]),
        "lut": finite_or_nan(total["lut"]), "ff": finite_or_nan(total["ff"]), "latency_cycles": math.nan,
        "resource_source": YOSYS,
        "carry": finite_or_nan(total.get("carry")), "lutram": finite_or_nan(total.get("lutram")),
        "da_cost": finite_or_nan(da.get("cost")), "da_latency_max": finite_or_nan(latency[-1]),
        "n_csim_samples": finite_or_nan(da.get("n_samples")), "agreement": finite_or_nan(da.get("agreement")),
        "agreement_csim": finite_or_nan(da.get("agreement_csim")),
        "max_abs_diff_csim": finite_or_nan(da.get("max_abs_diff_csim")),
        "lut_estimate": hls_row["lut"] if estimate else math.nan,
        "dsp_estimate": hls_row["dsp"] if estimate else math.nan,
        "yosys_seconds": finite_or_nan(stat.get("seconds")),
        "yosys_peak_rss_mb": finite_or_nan(stat.get("peak_rss_mb")),
        "yosys_cached": bool(da.get("yosys_cached")), "yosys_family": stat.get("family", ""),
        "n_test": finite_or_nan(csim.get("n_test")),  # test samples behind accuracy_torch
    })
    return row


def build_da_summary(runs: Iterable[RunFiles], summary: pd.DataFrame) -> pd.DataFrame:
    """``results/summary_da.csv``: one row per run with a distributed-arithmetic design.

    Columns :data:`SUMMARY_COLUMNS` (same meaning as summary.csv, resources from Yosys,
    ``accuracy_csim`` = accuracy of da4ml's bit-exact model on the C-simulated subset,
    ``strategy = distributed_arithmetic``, ``resource_source = yosys``; baselines and
    reductions against the baseline's DA design, ``lut_reduction`` in percent) then
    :data:`DA_EXTRA_COLUMNS`. ``summary``: the table of :func:`build_summary` of the same
    runs. Empty (headers only) when no run has a DA design.
    """
    hls_rows = summary[summary["replicate"] == 0] if "replicate" in summary else summary
    by_run = {(r["dataset"], r["variant"], r["run"]): r for _, r in hls_rows.iterrows()}
    rows = []
    for files in runs:
        csim = json.loads(Path(files.csim).read_text())
        row = da_row(files, csim, by_run[(csim["dataset"], csim["variant"], csim["run"])])
        if row is not None:
            rows.append(row)
    columns = list(SUMMARY_COLUMNS) + list(DA_EXTRA_COLUMNS)
    if not rows:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(rows)
    keys = ["dataset", "variant", "reuse_factor"]
    base = df[df["objective"] == BASELINE].drop_duplicates(keys).set_index(keys)
    for col, res in (("baseline_accuracy", "accuracy_torch"), ("baseline_dsp", "dsp"),
                     ("baseline_bram_18k", "bram_18k"), ("_baseline_lut", "lut")):
        df[col] = [base.loc[k, res] if k in base.index else math.nan
                   for k in zip(*(df[c] for c in keys), strict=True)]
    for col, res, base_col in (("dsp_reduction", "dsp", "baseline_dsp"),
                               ("bram_reduction", "bram_18k", "baseline_bram_18k"),
                               ("lut_reduction", "lut", "_baseline_lut")):
        df[col] = [_reduction(v, b) for v, b in zip(df[res], df[base_col], strict=True)]
    df = _sorted(df, ["dataset", "variant", "reuse_factor", "objective", "budget"])
    return df[columns].reset_index(drop=True)


def write_summary(table: pd.DataFrame, path: str | Path) -> None:
    """Write the table as CSV atomically."""
    write_text_atomic(path, table.to_csv(index=False), newline="")
