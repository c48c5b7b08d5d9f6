"""Figure of the distributed-arithmetic designs (``results/summary_da.csv``).

:func:`plot_accuracy_vs_yosys_lut`, one figure per (dataset, variant):

- left: test accuracy (%, bars: one binomial standard error over the ``n_test`` test
  samples) against LUTs for the baselines and the C-simulated pruned
  models, filled markers at Yosys' LUT count of the model's distributed-arithmetic
  design, hollow markers at the hardware model's LUT estimate of the same model's hls4ml
  design (Latency / Resource, whose multiplications mostly sit in DSPs, so the two LUT
  counts describe different circuits of the same network);
- right: Yosys LUTs against da4ml's own cost estimate of the same design, with the
  least-squares ratio and y = x, i.e. how far the adder-graph cost model is from synthesis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from rasp.plots.style import (
    BASELINE_STYLE,
    DPI,
    figure_title,
    new_figure,
    objective_order,
    objective_style,
    save_figure,
)

DA_COLUMNS = ("dataset", "variant", "reuse_factor", "objective", "budget", "accuracy_torch",
              "lut", "lut_estimate", "da_cost", "data_source", "resource_source")
RF_MARKERS = {1: "o", 2: "s", 4: "D", 8: "^"}


class DaFigureError(ValueError):
    """``summary_da.csv`` lacks the rows or columns the figure needs."""


def load_da_summary(path: str | Path) -> pd.DataFrame:
    """Read ``summary_da.csv`` and check its columns."""
    df = pd.read_csv(path)
    missing = [c for c in DA_COLUMNS if c not in df.columns]
    if missing:
        raise DaFigureError(f"{path} lacks columns {missing}: not written by the summary rule")
    df["reuse_factor"] = df["reuse_factor"].astype(int)
    return df


def accuracy_standard_error(accuracy: pd.Series, n_test: pd.Series) -> pd.Series:
    """One binomial standard error of a test accuracy, in percentage points:
    ``100 * sqrt(p (1 - p) / n)`` (NaN where ``n`` is unknown)."""
    return 100 * np.sqrt(accuracy * (1 - accuracy) / n_test)


def plot_accuracy_vs_yosys_lut(da_summary: pd.DataFrame, dataset: str, variant: str,
                               out_paths: Sequence[str | Path], dpi: int = DPI) -> list[Path]:
    """The two-panel figure described in the module docstring; returns the files written."""
    rows = da_summary[(da_summary["dataset"] == dataset) & (da_summary["variant"] == variant)]
    if rows.empty:
        raise DaFigureError(f"summary_da.csv has no distributed-arithmetic rows for {dataset}/"
                            f"{variant}: is {dataset} in hls.da and hls.csim not 'none'?")
    fig, (ax, ax2) = new_figure(ncols=2, width=12.0, height=5.2)
    base = rows[rows["objective"] == "baseline"]
    pruned = rows[rows["objective"] != "baseline"]
    acc = 100 * rows["accuracy_torch"]
    se = accuracy_standard_error(rows["accuracy_torch"], rows.get("n_test", np.nan))
    handles: list = []
    for obj in objective_order(pruned["objective"]):
        st = objective_style(obj)
        handles.append(Line2D([], [], color=st["color"], marker="s", ls="none", label=obj))
        for rf, sub in pruned[pruned["objective"] == obj].groupby("reuse_factor"):
            marker = RF_MARKERS.get(int(rf), "v")
            ax.errorbar(sub["lut"], acc[sub.index], yerr=se[sub.index], color=st["color"],
                        marker=marker, ls="none", elinewidth=0.6, capsize=0, zorder=3)
            est = sub.dropna(subset=["lut_estimate"])
            ax.scatter(est["lut_estimate"], acc[est.index], facecolors="none",
                       edgecolors=st["color"], marker=marker, zorder=2)
            for x0, x1, yv in zip(est["lut_estimate"], est["lut"], acc[est.index], strict=True):
                ax.plot([x0, x1], [yv, yv], color=st["color"], lw=0.5, alpha=0.4)
    if len(base):
        b = base.iloc[0]  # one DA design per baseline model (the same at every RF)
        ax.errorbar([b["lut"]], [acc[b.name]], yerr=[se[b.name]], color=BASELINE_STYLE["color"],
                    elinewidth=0.6, ls="none", zorder=4)
        ax.plot([b["lut"]], [acc[b.name]], **BASELINE_STYLE)
        for i, r in base.dropna(subset=["lut_estimate"]).iterrows():
            ax.plot([r["lut_estimate"]], [acc[i]], marker="*", markersize=12,
                    markerfacecolor="none", markeredgecolor="#d62728", linestyle="none")
        handles.append(Line2D([], [], label="baseline (unpruned)",
                              **{k: v for k, v in BASELINE_STYLE.items() if k != "zorder"}))
    for rf in sorted(rows["reuse_factor"].unique()):
        handles.append(Line2D([], [], color="0.3", marker=RF_MARKERS.get(int(rf), "v"),
                              ls="none", label=f"RF {rf}"))
    handles += [Line2D([], [], color="0.3", marker="o", ls="none",
                       label="filled: Yosys LUTs of the DA design"),
                Line2D([], [], color="0.3", marker="o", ls="none", markerfacecolor="none",
                       label="hollow: estimated LUTs of the hls4ml design")]
    if se.notna().any():
        handles.append(Line2D([], [], color="0.3", marker="|", ls="none", markersize=10,
                              label="bar: 1 s.e. of the test accuracy"))
    ax.set_xscale("log")
    ax.set_xlabel("LUTs (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy vs LUTs: filled = Yosys, hollow = estimate", fontsize=9)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)),
               frameon=False, fontsize=7)

    ok = rows.dropna(subset=["da_cost", "lut"])
    ax2.scatter(ok["da_cost"], ok["lut"], color="#1f77b4", s=18, zorder=3,
                label="one model's DA design")
    if len(ok):
        ratio = float(np.sum(ok["lut"] * ok["da_cost"]) / np.sum(ok["da_cost"] ** 2))
        hi = float(max(ok["da_cost"].max(), ok["lut"].max())) * 1.05
        ax2.plot([0, hi], [0, hi], color="0.5", ls=":", lw=0.8, label="y = x")
        ax2.plot([0, hi], [0, ratio * hi], color="#1f77b4", lw=0.8,
                 label=f"least squares: LUT = {ratio:.2f} x cost")
        ax2.set_xlim(0, hi)
        ax2.set_ylim(0, max(hi, ratio * hi))
    ax2.set_xlabel("da4ml cost estimate (LUT-equivalent adder bits)")
    ax2.set_ylabel("Yosys LUTs (LUT1-LUT6 cells)")
    ax2.set_title("synthesis vs da4ml's cost model", fontsize=9)
    ax2.legend(frameon=False, fontsize=7, loc="upper left")
    fig.suptitle(figure_title(f"{dataset} / {variant}: distributed-arithmetic designs "
                              f"({len(rows)} models, C-simulated ones)", rows["data_source"],
                              rows["resource_source"]), fontsize=10)
    return save_figure(fig, out_paths, dpi=dpi)
