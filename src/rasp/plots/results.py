"""Result figures of the pruning study, built from result files only (never from models).

Every figure covers one (dataset, variant, reuse factor) unless stated otherwise, and
names the data source and the resource source in its title:

- :func:`plot_accuracy_vs_resource`: test accuracy (%) against DSP48 or BRAM_18K blocks,
  one series per objective (the hardware-unaware ``unstructured`` baseline included),
  the unpruned baseline as a star and the tolerance band (relative accuracy loss <=
  tolerance) shaded below the baseline accuracy. Source: ``results/summary.csv``.
- :func:`plot_layer_resources`: per-layer DSP / BRAM_18K / LUT as stacked bars, the
  baseline next to the best pruned model of each objective. Source: the HLS runs'
  ``resources.csv``.
- :func:`plot_trajectories`: validation accuracy (%) at every step of the iterative
  pruning schedule against the step's target budget (% of the baseline resource), one
  line per objective and final budget. Source: the pruning runs' ``trajectory.csv``.
- :func:`plot_knapsack`: knapsack solve time (s) and relative optimality gap (%) against
  the number of items, from the knapsack benchmark CSV and the solver rows of the
  pruning trajectories.
- :func:`plot_class_auc`: ROC AUC per class of the baseline and of the best pruned
  model of each objective (grouped bars), from the ``metrics.json`` files.

Run directories are named ``baseline_rf{RF}`` or ``{objective}_rf{RF}_b{budget}``; the
functions index the files they are given by that name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rasp.plots.style import (
    BASELINE_STYLE,
    DPI,
    TOLERANCE,
    describe_data_source,
    figure_title,
    legend,
    new_figure,
    objective_order,
    objective_style,
    plot_series,
    save_figure,
    tolerance_band,
)
from rasp.plots.summary_table import (
    ACCURACY_COLUMNS,
    ACCURACY_LABELS,
    best_overall,
    group_rows,
    pruned_rows,
    select_best,
    the_baseline,
)
from rasp.results import parse_run_id, run_id, uses_fabric

RESOURCE_LABELS = {"dsp": "DSP48 blocks", "bram_18k": "BRAM_18K blocks", "lut": "LUTs",
                   "ff": "flip-flops"}
RESOURCE_NAMES = {"dsp": "DSP", "bram_18k": "BRAM", "lut": "LUT", "ff": "FF"}


class ResultFileError(ValueError):
    """A per-run result file is missing or lacks what a figure needs."""


# ----------------------------------------------------------------------------- run ids

def index_by_run(paths: Iterable[str | Path]) -> dict[str, Path]:
    """Map run id (the parent directory's name) -> file path."""
    out = {Path(p).parent.name: Path(p) for p in paths}
    for rid in out:
        parse_run_id(rid)  # raises RunIdError for a directory that is no run
    return out


def row_run_id(row: pd.Series) -> str:
    """Run id of a summary.csv row."""
    return run_id(row["objective"], row["reuse_factor"], row["budget"])


# ----------------------------------------------------------------------------- readers

#: Columns of the HLS stage's resources.csv (lower-cased on read).
RESOURCE_CSV_COLUMNS = ("layer", "dsp", "bram_18k", "lut", "ff")
#: Name of the whole-design row in resources.csv.
TOTAL_ROW = "total"


def read_result_csv(path: str | Path, columns: Sequence[str], fix: str,
                    lower: bool = False) -> pd.DataFrame:
    """Read a result CSV that must have ``columns`` (names lower-cased first with
    ``lower``); :class:`ResultFileError` when it is absent (``fix``: how to make it) or
    lacks some."""
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"{path} does not exist: {fix}")
    df = pd.read_csv(path)
    if lower:
        df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ResultFileError(f"{path} lacks columns {missing}; has {list(df.columns)}")
    return df


def read_resources(path: str | Path) -> pd.DataFrame:
    """Read an HLS run's ``resources.csv`` (one row per layer plus ``total``).

    Column names are lower-cased; resource columns are block counts (float, NaN when the
    source does not report them).
    """
    df = read_result_csv(path, RESOURCE_CSV_COLUMNS, "run the HLS stage for this model",
                         lower=True)
    df["layer"] = df["layer"].astype(str)
    num = list(RESOURCE_CSV_COLUMNS[1:])
    df[num] = df[num].apply(pd.to_numeric, errors="coerce").astype(float)
    return df


#: Columns of the pruning stage's trajectory.csv that the figures read
#: (rasp.prune.results.TRAJECTORY_COLUMNS): ``budget_fraction`` is the step's target as a
#: fraction of the baseline resource, ``val_accuracy`` a fraction, ``accepted`` a boolean.
TRAJECTORY_COLUMNS = ("step", "budget_fraction", "val_accuracy", "accepted")
#: Solver columns of trajectory.csv used by the knapsack figure; ``n_items`` is the number
#: of structures in the step's knapsack (rows without it are left out of that figure).
SOLVER_COLUMNS = ("solver_method", "n_items", "solve_seconds", "gap")


def read_trajectory(path: str | Path) -> pd.DataFrame:
    """Read a pruning run's ``trajectory.csv`` (one row per schedule step).

    Adds ``target_percent`` (the step's target in percent of the baseline resource) and
    turns ``accepted`` into bool.
    """
    path = Path(path)
    df = read_result_csv(path, TRAJECTORY_COLUMNS, "run the pruning rule for this model")
    if df.empty:
        raise ResultFileError(f"{path} has no steps")
    df["target_percent"] = 100.0 * pd.to_numeric(df["budget_fraction"], errors="coerce")
    df["val_accuracy"] = pd.to_numeric(df["val_accuracy"], errors="coerce")
    df["accepted"] = df["accepted"].astype(str).str.strip().str.lower().isin(["true", "1", "yes"])
    return df


def read_metrics(path: str | Path) -> dict:
    """Read a ``metrics.json`` (training or pruning) into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"{path} does not exist")
    return json.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- helpers

def group_title(dataset: str, variant: str, rf: int, what: str, group: pd.DataFrame,
                resource_sources: Sequence[str] | None = None) -> str:
    """Figure title of one group: names its strategies, data and resource sources (those
    of ``group`` unless ``resource_sources`` are given)."""
    strategies = ", ".join(sorted(set(group["strategy"])))
    return figure_title(f"{dataset} / {variant} / RF {rf} ({strategies}): {what}",
                        group["data_source"],
                        group["resource_source"] if resource_sources is None else resource_sources)


def _fig_legend(fig, axes, title: str) -> None:
    """One legend right of the figure with every label of ``axes`` once (first handle)."""
    seen = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen), loc="outside right center", frameon=False,
               title=title)


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9,
            color="0.35", wrap=True)


def _errorbars(ax, x, rows: pd.DataFrame, acc_col: str, **kw) -> None:
    """Error bars (%) of the seed t-interval of ``rows`` at ``x``; nothing when the rows
    have no interval (one seed, or C-simulation accuracy)."""
    lo_col, hi_col = f"{acc_col}_ci_low", f"{acc_col}_ci_high"
    if lo_col not in rows.columns or rows[lo_col].isna().all():
        return
    yerr = [100.0 * (rows[acc_col] - rows[lo_col]).fillna(0).to_numpy(),
            100.0 * (rows[hi_col] - rows[acc_col]).fillna(0).to_numpy()]
    ax.errorbar(x, 100.0 * rows[acc_col], yerr=yerr, fmt="none", elinewidth=0.8, capsize=2,
                **kw)


def split_fabric(rows: pd.DataFrame, resource: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows drawn on the ``resource`` axis, fabric designs left out of it). On the DSP
    axis a design with 0 DSP that still multiplies (its products in LUTs) is not free,
    so it is listed with its LUTs instead of drawn at 0 DSP."""
    if resource != "dsp" or "multipliers" not in rows.columns:
        return rows, rows.iloc[0:0]
    on_fabric = uses_fabric(rows)
    return rows[~on_fabric], rows[on_fabric]


def _models_to_compare(group: pd.DataFrame, tolerance: float, select_by: str,
                       accuracy: str) -> list[tuple[str, pd.Series]]:
    """Baseline plus the best pruned model within tolerance of each objective."""
    best = select_best(group, tolerance, select_by, accuracy)
    return [("baseline", the_baseline(group))] + [
        (f"{r['objective']} b{r['budget']:g}", r) for _, r in best.iterrows()]


# ----------------------------------------------------------------------------- figures

def plot_accuracy_vs_resource(summary: pd.DataFrame, dataset: str, variant: str, rf: int,
                              resource: str, out_paths: Sequence[str | Path],
                              tolerance: float = TOLERANCE, accuracy: str = "torch",
                              dpi: int = DPI) -> list[Path]:
    """Accuracy (%) vs ``resource`` (``dsp`` or ``bram_18k`` blocks) for one group.

    On the DSP axis, designs whose products are all built in LUTs (0 DSP, multipliers >
    0) are listed in a note with their LUTs instead of drawn as free points at 0 DSP."""
    if resource not in ("dsp", "bram_18k"):
        raise ValueError(f"resource={resource!r}; allowed: 'dsp', 'bram_18k'")
    acc_col = ACCURACY_COLUMNS[accuracy]
    group = group_rows(summary, dataset, variant, rf)
    base = the_baseline(group)
    fig, ax = new_figure()
    base_acc = 100.0 * base[acc_col]
    tolerance_band(ax, base_acc, tolerance)
    pr, fabric = split_fabric(pruned_rows(group), resource)
    skipped = 0
    for obj in objective_order(pr["objective"]):
        rows = pr[pr["objective"] == obj].dropna(subset=[resource, acc_col])
        skipped += int((pr["objective"] == obj).sum()) - len(rows)
        if rows.empty:
            continue
        rows = rows.sort_values([resource, "budget"])
        st = plot_series(ax, rows[resource], 100.0 * rows[acc_col], rows["budget"], obj)
        _errorbars(ax, rows[resource], rows, acc_col, ecolor=st["color"], alpha=0.8)
    ax.plot([base[resource]], [base_acc], label="baseline (unpruned)", **BASELINE_STYLE)
    _errorbars(ax, [base[resource]], group.loc[[base.name]], acc_col, ecolor="black")
    ax.set_xlabel(RESOURCE_LABELS[resource])
    ax.set_ylabel(ACCURACY_LABELS[accuracy])
    ax.set_xlim(left=0)
    allres = pd.concat([pr[resource], pd.Series([base[resource]])]).dropna()
    if not allres.empty and allres.max() == 0:
        ax.set_xlim(-0.5, 1.5)
        ax.set_xticks([0, 1])
        _note(ax, f"every model uses 0 {RESOURCE_LABELS[resource]}")
    if len(fabric):
        listed = [f"{r.objective} b{r.budget:g}: {r.lut:,.0f} LUT, {100 * r[acc_col]:.2f}%"
                  for _, r in fabric.sort_values("lut").iterrows()]
        more = f" (+{len(listed) - 4} more)" if len(listed) > 4 else ""
        ax.text(0.98, 0.02, "0 DSP, products in LUTs (compared on LUT, not drawn):\n"
                + "\n".join(listed[:4]) + more, transform=ax.transAxes, ha="right",
                va="bottom", fontsize=7, color="0.3")
    title = f"accuracy vs {RESOURCE_NAMES[resource]}"
    n_seeds = int(group["n_seeds"].max()) if "n_seeds" in group else 1
    if acc_col == "accuracy_torch" and n_seeds > 1:
        level = float(group["confidence"].iloc[0]) if "confidence" in group else 0.95
        title += f" (mean of {n_seeds} seeds, {level:.0%} t-interval bars)"
    if skipped:
        title += f" ({skipped} model(s) without {acc_col} not shown)"
    ax.set_title(group_title(dataset, variant, rf, title, group))
    legend(ax, loc="best")
    return save_figure(fig, out_paths, dpi=dpi)


def plot_layer_resources(summary: pd.DataFrame, resources_files: Iterable[str | Path],
                         dataset: str, variant: str, rf: int,
                         out_paths: Sequence[str | Path], tolerance: float = TOLERANCE,
                         select_by: str = "dsp", accuracy: str = "torch",
                         resources: Sequence[str] = ("dsp", "bram_18k", "lut"),
                         dpi: int = DPI) -> list[Path]:
    """Stacked per-layer resources: baseline vs best pruned model of each objective.

    ``resources_files`` are the ``resources.csv`` of the HLS runs of this group (at least
    the baseline and the selected models; extra files are ignored).
    """
    group = group_rows(summary, dataset, variant, rf)
    files = index_by_run(resources_files)
    models = _models_to_compare(group, tolerance, select_by, accuracy)
    tables = []
    for label, row in models:
        rid = row_run_id(row)
        if rid not in files:
            raise ResultFileError(f"no resources.csv given for run {rid} of {dataset}/"
                                  f"{variant}: the figure rule's inputs must include it")
        df = read_resources(files[rid])
        tables.append((label, df[df["layer"].str.lower() != TOTAL_ROW]))
    layers: list[str] = []
    for _, df in tables:  # baseline layer order first, then any extra layers
        layers += [ly for ly in df["layer"] if ly not in layers]
    cmap = __import__("matplotlib").colormaps["tab20"]
    colors = {ly: cmap(i % 20) for i, ly in enumerate(layers)}
    fig, axes = new_figure(ncols=len(resources), width=max(7.0, 1.0 + 0.55 * len(tables)
                                                           * len(resources)), height=4.4)
    axes = np.atleast_1d(axes)
    x = np.arange(len(tables))
    for ax, res in zip(axes, resources, strict=True):
        bottom = np.zeros(len(tables))
        for ly in layers:
            vals = np.array([
                float(df.loc[df["layer"] == ly, res].fillna(0).sum()) for _, df in tables
            ])
            if not vals.any():
                continue
            ax.bar(x, vals, bottom=bottom, color=colors[ly], label=ly, width=0.7,
                   edgecolor="white", linewidth=0.4)
            bottom += vals
        for xi, tot in zip(x, bottom, strict=True):
            ax.text(xi, tot, f"{tot:.0f}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(x, [lab for lab, _ in tables], rotation=45, ha="right")
        ax.set_ylabel(RESOURCE_LABELS[res])
        ax.set_title(RESOURCE_NAMES[res])
        if bottom.max() == 0:
            _note(ax, f"0 {RESOURCE_LABELS[res]}\nin every model")
    _fig_legend(fig, axes, "layer")
    fig.suptitle(group_title(dataset, variant, rf,
                              f"per-layer resources, baseline vs best pruned "
                              f"(<= {100 * tolerance:g}% loss)", group), fontsize=9)
    return save_figure(fig, out_paths, dpi=dpi)


def _baseline_validation(metrics_files: Iterable[str | Path]) -> tuple[float, float] | None:
    """(baseline validation accuracy, rtol) shared by the pruning runs' metrics.json.

    None when no file records both or when the runs disagree (different baselines).
    """
    seen = set()
    for path in metrics_files:
        m = read_metrics(path)
        if m.get("baseline_val_accuracy") is None or m.get("rtol") is None:
            return None
        seen.add((float(m["baseline_val_accuracy"]), float(m["rtol"])))
    return seen.pop() if len(seen) == 1 else None


def plot_trajectories(summary: pd.DataFrame, trajectory_files: Iterable[str | Path],
                      dataset: str, variant: str, rf: int, out_paths: Sequence[str | Path],
                      metrics_files: Iterable[str | Path] = (), dpi: int = DPI) -> list[Path]:
    """Validation accuracy (%) per schedule step vs the step's target budget (%).

    One line per pruning run (colour = objective, final budget annotated at its end),
    rejected steps as open markers. The budget axis is logarithmic and decreasing, so the
    schedule reads left to right. With the runs' ``metrics_files``, every line starts at
    the baseline (100%, baseline validation accuracy, a star) and the acceptance band
    ``[rtol x baseline, baseline]`` is shaded.
    """
    group = group_rows(summary, dataset, variant, rf)
    files = {k: v for k, v in index_by_run(trajectory_files).items()
             if parse_run_id(k)[1] == int(rf)}
    if not files:
        raise ResultFileError(f"no trajectory.csv given for {dataset}/{variant} RF {rf}")
    mfiles = [p for k, p in index_by_run(metrics_files).items() if k in files]
    base = _baseline_validation(mfiles)
    fig, ax = new_figure()
    if base is not None:
        base_val, rtol = 100.0 * base[0], base[1]
        ax.axhspan(rtol * base_val, base_val, color="#d62728", alpha=0.12, lw=0,
                   label=f"accepted steps (>= {rtol:g} x baseline)")
        ax.plot([100.0], [base_val], label="baseline (unpruned)", **BASELINE_STYLE)
    seen: set[str] = set()
    budgets: list[float] = [100.0] if base is not None else []
    any_rejected = False
    order = objective_order(parse_run_id(k)[0] for k in files)
    runs = sorted(files, key=lambda k: (order.index(parse_run_id(k)[0]), -parse_run_id(k)[2]))
    for rid in runs:
        obj, _, final_budget = parse_run_id(rid)
        traj = read_trajectory(files[rid]).sort_values("step")
        any_rejected |= not traj["accepted"].all()
        st = objective_style(obj)
        x = traj["target_percent"]
        y = 100.0 * traj["val_accuracy"]
        budgets += list(x[x > 0])
        lx, ly = (pd.concat([pd.Series([100.0]), x]), pd.concat([pd.Series([base_val]), y])) \
            if base is not None else (x, y)
        ax.plot(lx, ly, color=st["color"], linestyle=st["linestyle"], alpha=0.75,
                marker=st["marker"], markersize=3.5,
                markevery=slice(1 if base is not None else 0, None),
                label=obj if obj not in seen else None)
        rej = ~traj["accepted"]
        ax.plot(x[rej], y[rej], linestyle="none", marker=st["marker"], markersize=6,
                markerfacecolor="white", markeredgecolor=st["color"])
        seen.add(obj)
        ax.annotate(f"b{final_budget:g}", (x.iloc[-1], y.iloc[-1]), fontsize=6,
                    xytext=(2, -2), textcoords="offset points", color=st["color"])
    ax.set_xscale("log")
    if budgets:
        ax.set_xlim(max(budgets) * 1.15, min(budgets) / 1.3)
    ticks = [t for t in (100, 50, 25, 10, 5, 2.5, 1) if budgets and
             min(budgets) / 1.3 <= t <= max(budgets) * 1.15]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("target budget of the step (% of baseline resource, log scale)")
    ax.set_ylabel("validation accuracy (%)")
    if any_rejected:
        ax.plot([], [], linestyle="none", marker="o", markerfacecolor="white",
                markeredgecolor="0.3", label="step rejected (validation accuracy below rtol)")
    # Trajectories are measured with the hardware model, whatever the HLS stage used.
    ax.set_title(figure_title(f"{dataset} / {variant} / RF {rf}: pruning trajectories "
                              "(every schedule step)", group["data_source"], ["estimate"]))
    legend(ax, loc="lower left")
    return save_figure(fig, out_paths, dpi=dpi)


def read_solver_rows(trajectory_files: Iterable[str | Path]) -> pd.DataFrame:
    """Knapsack solves of the pruning trajectories, one row per solve.

    Columns: ``family`` (``coupled`` for the dsp+bram objective, else ``m1``: one budgeted
    resource), ``method``, ``n_items``, ``seconds`` (wall clock) and ``gap`` (fraction).
    Steps without a solve (e.g. the starting point) or without ``n_items`` are left out;
    the result is empty when no trajectory has the solver columns.
    """
    frames = []
    for rid, path in index_by_run(trajectory_files).items():
        traj = read_trajectory(path)
        if not set(SOLVER_COLUMNS) <= set(traj.columns):
            continue
        t = traj[list(SOLVER_COLUMNS)].copy()
        num = ["n_items", "solve_seconds", "gap"]
        t[num] = t[num].apply(pd.to_numeric, errors="coerce")
        t = t.dropna(subset=["n_items", "solve_seconds"])
        t = t[t["solver_method"].notna() & (t["n_items"] > 0)]
        if t.empty:
            continue
        frames.append(pd.DataFrame({
            "family": "coupled" if parse_run_id(rid)[0] == "dsp+bram" else "m1",
            "method": t["solver_method"].astype(str), "n_items": t["n_items"].astype(float),
            "seconds": t["solve_seconds"].astype(float), "gap": t["gap"].astype(float),
        }))
    if not frames:
        return pd.DataFrame(columns=["family", "method", "n_items", "seconds", "gap"])
    return pd.concat(frames, ignore_index=True)


#: Columns of the knapsack benchmark CSV (benchmarks/knapsack_benchmark.py) read here:
#: one row per (family, size, method) with the median wall time over repeats in seconds
#: and the relative gap as a fraction; ``status == "skipped"`` rows are left out.
BENCHMARK_COLUMNS = ("family", "n_items", "method", "status", "median_seconds", "gap")
#: Panel titles of the benchmark's instance families.
FAMILY_TITLES = {
    "m1": "one budgeted resource (DSP)",
    "m2": "two budgeted resources",
    "coupled": "coupled DSP patterns + BRAM columns",
    "equal": "equal costs (top-K fast path)",
    "dp_target": "integer costs, capacity 5,000",
}


def read_knapsack_benchmark(path: str | Path) -> pd.DataFrame:
    """Read the knapsack benchmark CSV: family, method, n_items, seconds, gap (fraction)."""
    df = read_result_csv(path, BENCHMARK_COLUMNS, "run benchmarks/knapsack_benchmark.py")
    df = df[df["status"].astype(str) != "skipped"]
    out = pd.DataFrame({
        "family": df["family"].astype(str), "method": df["method"].astype(str),
        "n_items": pd.to_numeric(df["n_items"], errors="coerce"),
        "seconds": pd.to_numeric(df["median_seconds"], errors="coerce"),
        "gap": pd.to_numeric(df["gap"], errors="coerce"),
    }).dropna(subset=["n_items", "seconds"])
    return out.reset_index(drop=True)


def plot_knapsack(out_paths: Sequence[str | Path], benchmark: pd.DataFrame | None = None,
                  solver_rows: pd.DataFrame | None = None,
                  data_sources: Iterable[str] = (), dpi: int = DPI) -> list[Path]:
    """Knapsack solve time (s) and relative gap (%) vs number of items, per method.

    One row of panels per instance family (left: time, right: gap). ``benchmark``
    (:func:`read_knapsack_benchmark`) is drawn as lines, one per method; ``solver_rows``
    (:func:`read_solver_rows`) as crosses in the panel of their family. At least one of
    them must hold data.
    """
    parts = [d for d in (benchmark, solver_rows) if d is not None and not d.empty]
    if not parts:
        raise ResultFileError("no knapsack data: neither a benchmark CSV nor solver columns "
                              f"{list(SOLVER_COLUMNS)} in the trajectories")
    known = list(FAMILY_TITLES)
    fams = sorted(set().union(*(set(d["family"]) for d in parts)),
                  key=lambda f: (known.index(f) if f in known else len(known), f))
    methods = sorted(set().union(*(set(d["method"]) for d in parts)))
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
    markers = ("o", "s", "^", "D", "v", "P", "h")
    style = {m: (palette[i % len(palette)], markers[i % len(markers)])
             for i, m in enumerate(methods)}
    fig, axes = new_figure(ncols=2, nrows=len(fams), width=7.8, height=0.6 + 2.4 * len(fams))
    axes = np.atleast_2d(axes)
    for row, fam in zip(axes, fams, strict=True):
        ax_t, ax_g = row
        if benchmark is not None and not benchmark.empty:
            for method, rows in benchmark[benchmark["family"] == fam].groupby("method"):
                rows = rows.sort_values("n_items")
                color, marker = style[method]
                kw = {"color": color, "marker": marker, "markersize": 4, "label": method}
                ax_t.plot(rows["n_items"], rows["seconds"], **kw)
                ax_g.plot(rows["n_items"], 100.0 * rows["gap"], **kw)
        if solver_rows is not None and not solver_rows.empty:
            for method, rows in solver_rows[solver_rows["family"] == fam].groupby("method"):
                color, _ = style[method]
                kw = {"s": 16, "marker": "x", "color": color, "linewidths": 0.9,
                      "label": f"{method} (pruning steps)"}
                ax_t.scatter(rows["n_items"], rows["seconds"], **kw)
                ax_g.scatter(rows["n_items"], 100.0 * rows["gap"], **kw)
        ax_t.set_title(f"instances: {FAMILY_TITLES.get(fam, fam)}", loc="left")
        ax_t.set_xscale("log")
        ax_t.set_yscale("log")
        ax_g.set_xscale("log")
        ax_g.set_yscale("symlog", linthresh=1e-3)
        top = max((100.0 * d.loc[d["family"] == fam, "gap"]).max() for d in parts
                  if (d["family"] == fam).any())
        ax_g.set_ylim(0, max(1e-2, 3.0 * top) if np.isfinite(top) else 1e-2)
        ax_t.set_ylabel("solve time (s, wall clock)")
        ax_g.set_ylabel("relative optimality gap (%)")
    for ax in axes[-1]:
        ax.set_xlabel("items in the knapsack (structures)")
    _fig_legend(fig, axes.ravel(), "method")
    origins = []
    if benchmark is not None and not benchmark.empty:
        origins.append("synthetic benchmark instances (lines, median over repeats)")
    if solver_rows is not None and not solver_rows.empty:
        origins.append(f"pruning steps on {describe_data_source(data_sources)} data (crosses)")
    fig.suptitle("knapsack solvers: solve time and gap vs problem size\ninstances: "
                 + " + ".join(origins) + "\ncosts: estimate (hardware model)", fontsize=9)
    return save_figure(fig, out_paths, dpi=dpi)


def class_auc(metrics: Mapping) -> dict[str, float]:
    """ROC AUC per class from a metrics dict (``roc_auc``: {class name: AUC})."""
    auc = metrics.get("roc_auc")
    if not isinstance(auc, Mapping) or not auc:
        raise ResultFileError(
            "metrics.json has no 'roc_auc' mapping of class name -> test ROC AUC; the stage "
            "that wrote it must evaluate with rasp.train.evaluate(..., roc_auc=True, "
            "class_names=...) and record the result under 'roc_auc'")
    return {str(k): float(v) for k, v in auc.items()}


def plot_class_auc(summary: pd.DataFrame, metrics_files: Iterable[str | Path],
                   baseline_metrics: str | Path, dataset: str, variant: str, rf: int,
                   out_paths: Sequence[str | Path], tolerance: float = TOLERANCE,
                   select_by: str = "dsp", accuracy: str = "torch",
                   dpi: int = DPI) -> list[Path]:
    """ROC AUC per class: baseline vs the best pruned model of each objective (bars).

    ``metrics_files`` are the pruning runs' ``metrics.json`` (indexed by run directory);
    ``baseline_metrics`` is the training stage's ``metrics.json`` of the baseline.
    """
    group = group_rows(summary, dataset, variant, rf)
    files = index_by_run(metrics_files)
    aucs = []
    for label, row in _models_to_compare(group, tolerance, select_by, accuracy):
        rid = row_run_id(row)
        if label != "baseline" and rid not in files:
            raise ResultFileError(f"no metrics.json given for run {rid} of {dataset}/{variant}")
        path = baseline_metrics if label == "baseline" else files[rid]
        aucs.append((label, class_auc(read_metrics(path))))
    classes = list(aucs[0][1])
    fig, ax = new_figure(width=max(6.4, 1.2 * len(classes) + 2))
    width = 0.8 / len(aucs)
    x = np.arange(len(classes))
    lo = 1.0
    for i, (label, auc) in enumerate(aucs):
        vals = np.array([auc.get(c, math.nan) for c in classes])
        lo = min(lo, np.nanmin(vals))
        if label == "baseline":
            kw = {"color": BASELINE_STYLE["color"], "hatch": "//", "edgecolor": "white"}
        else:
            kw = {"color": objective_style(label.split(" ")[0])["color"]}
        ax.bar(x - 0.4 + width * (i + 0.5), vals, width=width, label=label, **kw)
    ax.set_xticks(x, classes)
    ax.set_xlabel("class (one vs rest)")
    ax.set_ylabel("ROC AUC (test set)")
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.set_title(group_title(dataset, variant, rf, "ROC AUC per class, baseline vs best "
                             f"pruned (<= {100 * tolerance:g}% loss)", group))
    legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save_figure(fig, out_paths, dpi=dpi)


def best_model_label(summary: pd.DataFrame, dataset: str, variant: str, rf: int,
                     tolerance: float, select_by: str, accuracy: str = "torch") -> str:
    """Short description of the best model of a group (for captions and logs)."""
    group = group_rows(summary, dataset, variant, rf)
    best = best_overall(select_best(group, tolerance, select_by, accuracy), group,
                        select_by, accuracy)
    return "none within tolerance" if best is None else row_run_id(best)
