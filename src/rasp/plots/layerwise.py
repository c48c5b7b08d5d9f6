"""Figures of the layerwise objectives, from result files only.

- :func:`plot_rank_correlation`: the ablation behind greedy layerwise pruning. For each
  prunable layer with a prunable predecessor, Spearman's rank correlation (left) and the
  overlap of the kept channel sets (right) between the layer's channel ranking on the dense
  network and after the previous layer is pruned, against the previous layer's sparsity
  (% of its channels removed). One colour per layer, one line style per score. Source:
  ``results/{dataset}/layerwise/rank_correlation.csv``.
- :func:`plot_accuracy_vs_weight_bits`: test accuracy (%) against weight memory (kbit,
  log scale: non-zero weights x weight width, summed over layers), one series per
  objective, the unpruned baseline as a star and the tolerance band: the axis of the
  layerwise + quantisation source paper. Accuracies and run identities come from
  ``results/summary.csv``; weight memory from each pruned run's ``metrics.json``
  (:func:`weight_memory_bits`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rasp.plots.results import (
    ResultFileError,
    _note,
    group_title,
    index_by_run,
    read_metrics,
    read_result_csv,
    row_run_id,
)
from rasp.plots.style import (
    BASELINE_STYLE,
    DPI,
    TOLERANCE,
    describe_data_source,
    legend,
    new_figure,
    objective_order,
    plot_series,
    save_figure,
    tolerance_band,
)
from rasp.plots.summary_table import (
    ACCURACY_COLUMNS,
    ACCURACY_LABELS,
    group_rows,
    pruned_rows,
    the_baseline,
)

#: Columns the rank-correlation figure reads.
RANK_COLUMNS = ("dataset", "data_source", "variant", "score", "layer", "previous_layer",
                "previous_sparsity", "spearman", "kept_overlap")
_SCORE_LINES = {"activation": "-", "activation_x_weight": "--"}


def read_rank_correlation(path: str | Path) -> pd.DataFrame:
    """Read and check ``rank_correlation.csv`` (rasp.prune.layerwise.ABLATION_COLUMNS)."""
    path = Path(path)
    df = read_result_csv(path, RANK_COLUMNS, "run rule layerwise_ablation")
    if df.empty:
        raise ResultFileError(f"{path} has no rows (the model has fewer than two prunable "
                              "layers)")
    return df


def plot_rank_correlation(df: pd.DataFrame, out_paths: Sequence[str | Path],
                          dpi: int = DPI) -> list[Path]:
    """Spearman's rho and kept-set overlap vs the previous layer's sparsity (module doc)."""
    fig, axes = new_figure(ncols=2, width=8.0, height=3.8)
    layers = list(dict.fromkeys(df["layer"]))
    cmap = __import__("matplotlib").colormaps["tab10"]
    for ax, col, label in ((axes[0], "spearman", "Spearman rank correlation"),
                           (axes[1], "kept_overlap", "kept-channel overlap (fraction)")):
        for li, layer in enumerate(layers):
            for score in sorted(set(df["score"])):
                rows = df[(df["layer"] == layer) & (df["score"] == score)]
                rows = rows.sort_values("previous_sparsity")
                if rows.empty:
                    continue
                prev = rows["previous_layer"].iloc[0]
                ax.plot(100.0 * rows["previous_sparsity"], rows[col], color=cmap(li % 10),
                        linestyle=_SCORE_LINES.get(score, ":"), marker="o", markersize=4,
                        label=f"{layer} ({prev} pruned), {score}")
        ax.set_xlabel("channels removed from the previous layer (%)")
        ax.set_ylabel(label)
        ax.set_ylim(float(np.fmin(-0.05, df[col].min() - 0.05)), 1.05)  # fmin: NaN-safe
        ax.axhline(1.0, color="0.5", lw=0.6, ls=":")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[1].legend(handles, labels, frameon=False, fontsize=6, loc="lower left")
    ds = sorted(set(df["dataset"]))
    variants = sorted(set(df["variant"]))
    fig.suptitle(f"{'/'.join(ds)} / {'/'.join(variants)}: channel ranking, dense vs previous "
                 f"layer pruned (no fine-tuning)\ndata: {describe_data_source(df['data_source'])}",
                 fontsize=9)
    return save_figure(fig, out_paths, dpi=dpi)


def weight_memory_bits(metrics: Mapping[str, Any], quantized_weight_bits: int | None = None,
                       baseline: bool = False) -> float:
    """Weight memory in bits of a pruned run (``baseline=True``: of its baseline).

    In order of preference: the run's own ``weight_memory_bits`` /
    ``baseline_weight_memory_bits`` (layerwise objectives); per-layer ``weight_bits`` in
    ``layers`` / ``baseline_layers`` times non-zero weights; the total non-zero weights
    times ``quantized_weight_bits`` (a QAT variant's weight width, from its baseline) or,
    for float variants, the width of the hardware's weight precision.
    """
    key = "baseline_weight_memory_bits" if baseline else "weight_memory_bits"
    if metrics.get(key) is not None:
        return float(metrics[key])
    layers = metrics.get("baseline_layers" if baseline else "layers") or {}
    if layers and all("weight_bits" in r and "weight_memory_bits" in r for r in layers.values()):
        return float(sum(r["weight_memory_bits"] for r in layers.values()))
    if layers and not baseline and all("weight_bits" in r and "nonzero_weights" in r
                                       for r in layers.values()):
        return float(sum(r["weight_bits"] * r["nonzero_weights"] for r in layers.values()))
    res = metrics.get("baseline_resources" if baseline else "resources") or {}
    nonzero = res.get("nonzero_weights")
    if nonzero is None:
        raise ResultFileError("pruning metrics have neither weight_memory_bits nor the "
                              "nonzero_weights resource: rerun the prune rule")
    bits = quantized_weight_bits
    if bits is None:
        hw = metrics.get("hardware") or {}
        precision = hw.get("weight_precision") or hw.get("precision")
        if precision:
            from rasp.hardware.fixed import parse_precision

            bits = int(parse_precision(str(precision)).width)
    if bits is None:
        raise ResultFileError("cannot tell the weight width of this run: its metrics have no "
                              "hardware precision")
    return float(nonzero) * float(bits)


def weight_memory_points(summary: pd.DataFrame, metrics_files: Iterable[str | Path],
                         dataset: str, variant: str, rf: int, accuracy: str = "torch",
                         baseline_metrics: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per pruned run of the group in ``summary`` that has a metrics file:
    objective, budget, accuracy (fraction), weight_bits (bits). ``baseline_metrics``: the
    baseline's training metrics (its ``model_kwargs`` give a QAT variant's weight width)."""
    acc_col = ACCURACY_COLUMNS[accuracy]
    group = group_rows(summary, dataset, variant, rf)
    files = index_by_run(metrics_files)
    kwargs = (baseline_metrics or {}).get("model_kwargs") or {}
    qbits = int(kwargs["weight_bits"]) if kwargs.get("quantized") else None
    rows = []
    for _, row in pruned_rows(group).iterrows():
        rid = row_run_id(row)
        if rid not in files or pd.isna(row[acc_col]):
            continue
        m = read_metrics(files[rid])
        rows.append({"objective": row["objective"], "budget": float(row["budget"]),
                     "accuracy": float(row[acc_col]),
                     "weight_bits": weight_memory_bits(m, qbits),
                     "baseline_weight_bits": weight_memory_bits(m, qbits, baseline=True),
                     "run": rid})
    return pd.DataFrame(rows, columns=["objective", "budget", "accuracy", "weight_bits",
                                       "baseline_weight_bits", "run"])


def plot_accuracy_vs_weight_bits(summary: pd.DataFrame, metrics_files: Iterable[str | Path],
                                 dataset: str, variant: str, rf: int,
                                 out_paths: Sequence[str | Path], *, tolerance: float = TOLERANCE,
                                 accuracy: str = "torch",
                                 baseline_metrics: Mapping[str, Any] | None = None,
                                 dpi: int = DPI) -> list[Path]:
    """Accuracy (%) vs weight memory (kbit, log scale) of one (dataset, variant, RF)."""
    acc_col = ACCURACY_COLUMNS[accuracy]
    group = group_rows(summary, dataset, variant, rf)
    base = the_baseline(group)
    pts = weight_memory_points(summary, metrics_files, dataset, variant, rf, accuracy,
                               baseline_metrics)
    fig, ax = new_figure()
    base_acc = 100.0 * float(base[acc_col])
    tolerance_band(ax, base_acc, tolerance)
    for obj in objective_order(pts["objective"]):
        rows = pts[pts["objective"] == obj].sort_values(["weight_bits", "budget"])
        plot_series(ax, rows["weight_bits"] / 1000.0, 100.0 * rows["accuracy"], rows["budget"],
                    obj)
    if not pts.empty:
        # the float baseline: the largest baseline memory among the runs (a layerwise+quant
        # run reports its float baseline, like every other objective)
        ax.plot([pts["baseline_weight_bits"].max() / 1000.0], [base_acc],
                label="baseline (unpruned)", **BASELINE_STYLE)
        ax.set_xscale("log")
    else:
        _note(ax, "no pruned run of this group has a metrics file")
    ax.set_xlabel("weight memory (kbit): non-zero weights x weight width")
    ax.set_ylabel(ACCURACY_LABELS[accuracy])
    ax.set_title(group_title(dataset, variant, rf, "accuracy vs weight memory", group,
                             ["estimate"]))
    legend(ax, loc="best")
    return save_figure(fig, out_paths, dpi=dpi)


__all__ = [
    "RANK_COLUMNS",
    "plot_accuracy_vs_weight_bits",
    "plot_rank_correlation",
    "read_rank_correlation",
    "weight_memory_bits",
    "weight_memory_points",
]
