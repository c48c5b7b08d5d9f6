"""The paper-style results table, built from ``results/summary.csv`` only.

``summary.csv`` has one row per HLS run (the contract of the HLS stage): baselines have
``objective == "baseline"`` and no budget, pruned models have an objective (``dsp``,
``bram``, ``dsp+bram``, ``neurons``, ``unstructured``, ...) and a budget in percent of
the baseline resource. Accuracies are fractions in [0, 1]; resources are counts of
blocks (DSP48, BRAM_18K, LUT, FF); latency is in clock cycles.

For every (dataset, variant, precision, reuse factor) the table lists the baseline and,
per objective, the *best pruned model within tolerance* (relative accuracy loss <=
tolerance; the one rule of :mod:`rasp.results`, shared with the HLS stage). Reductions
are ``100 x (1 - pruned / baseline)`` in percent, against the baseline at the same reuse
factor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from rasp import results, stats
from rasp.atomic import write_text_atomic
from rasp.plots.style import (
    describe_data_source,
    describe_resource_source,
    objective_order,
)
from rasp.results import BASELINE, SUMMARY_COLUMNS

#: Keys identifying one comparison group (one table section, one set of figures).
GROUP_KEYS = ("dataset", "variant", "precision", "reuse_factor")
#: Accuracy kinds: which summary column a figure or the table reads.
ACCURACY_COLUMNS = {"torch": "accuracy_torch", "csim": "accuracy_csim"}
ACCURACY_LABELS = {"torch": "test accuracy (%)", "csim": "C-simulation test accuracy (%)"}


class SummaryError(ValueError):
    """``summary.csv`` is missing columns or rows the figures and the table need."""


def load_summary(path: str | Path, tolerance: float | None = None,
                 confidence: float = 0.95, accuracy: str = "torch") -> pd.DataFrame:
    """Read and check ``summary.csv``; return one row per sweep point with normalised
    dtypes (:func:`seed_means` of the seed replicates).

    ``reuse_factor`` becomes int, ``budget`` float (NaN for baselines), ``objective`` and
    the source columns str. With ``tolerance`` (a fraction), each pruned point also gets
    the seed-statistics decision ``within_tolerance`` (:func:`rasp.stats.tolerance_test`).
    Raises :class:`SummaryError` naming the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise SummaryError(f"{path} does not exist: run the HLS stage first (rule producing "
                           "results/summary.csv)")
    return seed_means(normalise_summary(pd.read_csv(path), str(path)), tolerance, confidence,
                      accuracy)


#: Columns replaced by their mean over seed replicates in :func:`seed_means`, and the
#: columns of :func:`rasp.stats.aggregate_summary` holding those means.
MEAN_COLUMNS = ("accuracy_torch", "baseline_accuracy", "dsp", "bram_18k", "lut", "ff",
                "latency_cycles", "multipliers", "baseline_dsp", "baseline_bram_18k",
                "dsp_reduction", "bram_reduction", "solve_seconds")
_MEANS = {c: {"accuracy_torch": "accuracy_mean"}.get(c, f"{c}_mean") for c in MEAN_COLUMNS}


def seed_means(summary: pd.DataFrame, tolerance: float | None = None,
               confidence: float = 0.95, accuracy: str = "torch") -> pd.DataFrame:
    """One row per sweep point (:data:`rasp.stats.POINT_KEYS`) of a per-replicate summary.

    The row is replicate 0's (its HLS-stage columns: ``accuracy_csim``, strategy, flow,
    ...), with :data:`MEAN_COLUMNS` replaced by their seed means and the columns
    ``n_seeds``, ``accuracy_torch_sem``, ``accuracy_torch_ci_low`` /
    ``accuracy_torch_ci_high`` (two-sided ``confidence`` t-interval, fractions) added.
    With ``tolerance`` and ``accuracy == "torch"``, ``within_tolerance`` (the one-sided
    paired test of :func:`rasp.stats.tolerance_test`), ``tolerance_test`` and
    ``tolerance`` are added and the best-model rule reads them instead of comparing the
    means. A summary without a ``replicate`` column is one replicate.
    """
    df = summary.copy()
    if "replicate" not in df.columns:
        df["replicate"] = 0
    df["replicate"] = pd.to_numeric(df["replicate"], errors="coerce").fillna(0).astype(int)
    agg = stats.aggregate_summary(df, tolerance if tolerance is not None else 0.0,
                                  confidence, ACCURACY_COLUMNS["torch"])
    first = (df.sort_values("replicate").drop_duplicates(list(stats.POINT_KEYS))
             .reset_index(drop=True))
    keyed = agg.set_index(list(stats.POINT_KEYS))
    rows = []
    for _, row in first.iterrows():
        a = keyed.loc[tuple(row[k] for k in stats.POINT_KEYS)]
        row = row.copy()
        for col, mean_col in _MEANS.items():
            if col in row.index and mean_col in a.index:
                row[col] = a[mean_col]
        row["n_seeds"] = int(a["n_seeds"])
        for part in ("sem", "ci_low", "ci_high"):
            row[f"accuracy_torch_{part}"] = a[f"accuracy_{part}"]
        row["confidence"] = float(confidence)
        if tolerance is not None and accuracy == "torch":
            row["within_tolerance"] = bool(a["within_tolerance"])
            row["tolerance_test"] = a["tolerance_test"]
            row["tolerance"] = float(tolerance)
        rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True)


def normalise_summary(df: pd.DataFrame, name: str = "summary") -> pd.DataFrame:
    """Check the columns and units of a summary table and normalise dtypes (a copy)."""
    missing = [c for c in SUMMARY_COLUMNS if c not in df.columns]
    if missing:
        raise SummaryError(f"{name} lacks columns {missing}; expected the HLS stage's columns "
                           f"{list(SUMMARY_COLUMNS)}")
    if df.empty:
        raise SummaryError(f"{name} has no rows: no HLS run has finished")
    df = df.copy()
    for col in ("dataset", "data_source", "variant", "precision", "strategy", "objective",
                "resource_source"):
        df[col] = df[col].astype(str)
    df["reuse_factor"] = df["reuse_factor"].astype(int)
    num = ["budget", "accuracy_torch", "accuracy_csim", "baseline_accuracy", "dsp", "bram_18k",
           "lut", "ff", "latency_cycles", "baseline_dsp", "baseline_bram_18k", "solve_seconds",
           "gap"]
    for col in num:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in ("accuracy_torch", "accuracy_csim", "baseline_accuracy"):
        bad = df[col][(df[col] < 0) | (df[col] > 1)]
        if len(bad):
            raise SummaryError(f"{name}: column {col} must hold fractions in [0, 1], found "
                               f"{bad.iloc[0]!r}")
    return df


def pruned_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """Every pruned-model row."""
    return summary[summary["objective"] != BASELINE]


def group_rows(summary: pd.DataFrame, dataset: str, variant: str,
               reuse_factor: int) -> pd.DataFrame:
    """Rows of one (dataset, variant, reuse factor); raises when there are none."""
    sel = summary[(summary["dataset"] == dataset) & (summary["variant"] == variant)
                  & (summary["reuse_factor"] == int(reuse_factor))]
    if sel.empty:
        raise SummaryError(f"summary has no rows for dataset={dataset} variant={variant} "
                           f"reuse_factor={reuse_factor}; present: "
                           f"{sorted(set(zip(summary.dataset, summary.variant, summary.reuse_factor, strict=True)))}")
    return sel


def the_baseline(group: pd.DataFrame) -> pd.Series:
    """The single baseline row of a group (clear error when absent or duplicated)."""
    base = group[group["objective"] == BASELINE]
    key = {k: sorted(set(group[k])) for k in GROUP_KEYS}
    if len(base) == 0:
        raise SummaryError(f"no baseline row (objective == {BASELINE!r}) for {key}: the "
                           "baseline's HLS run is missing from summary.csv")
    if len(base) > 1:
        raise SummaryError(f"{len(base)} baseline rows for {key}; expected exactly one")
    return base.iloc[0]


def reduction_percent(value: float, baseline: float) -> float:
    """Reduction in percent, ``100 x (1 - value / baseline)``; NaN if the baseline is 0."""
    if pd.isna(value) or pd.isna(baseline) or baseline == 0:
        return math.nan
    return 100.0 * (1.0 - float(value) / float(baseline))


def _rule_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Summary rows as the best-model rule reads them (``multipliers`` NaN when an older
    summary.csv lacks it: such designs are then never treated as fabric designs)."""
    return rows.assign(multipliers=pd.to_numeric(rows.get("multipliers", math.nan),
                                                 errors="coerce"))


def select_best(group: pd.DataFrame, tolerance: float, select_by: str = "dsp",
                accuracy: str = "torch") -> pd.DataFrame:
    """Best pruned model within tolerance per objective of one group
    (:func:`rasp.results.select_best`, the rule the HLS stage and the README use too).

    Returns one row per objective that has at least one model within tolerance, in the
    canonical objective order, with the summary columns (index = original row labels).
    """
    acc_col = ACCURACY_COLUMNS[accuracy]
    base = the_baseline(group)
    if pd.isna(base[acc_col]):
        raise SummaryError(f"baseline of {base['dataset']}/{base['variant']} RF "
                           f"{base['reuse_factor']} has no {acc_col}: set figures.accuracy to "
                           "'torch' or simulate the baseline")
    pr = _rule_frame(pruned_rows(group))
    if "within_tolerance" in pr.columns:
        decided_at = set(pr["tolerance"].dropna())
        if decided_at - {float(tolerance)} or accuracy != "torch":
            raise SummaryError(
                f"the summary's within_tolerance was decided at tolerance {sorted(decided_at)} "
                f"on torch accuracy; asked for {tolerance} on {accuracy}: load it with "
                "load_summary(path, tolerance) of the same tolerance")
    labels = [results.select_best(rows, base, tolerance, select_by, acc_col)
              for _, rows in pr.groupby("objective", sort=False)]
    best = group.loc[[label for label in labels if label is not None]]
    rank = {o: i for i, o in enumerate(objective_order(best["objective"]))}
    return best.sort_values("objective", key=lambda s: s.map(rank))


def best_overall(best: pd.DataFrame, group: pd.DataFrame, select_by: str,
                 accuracy: str = "torch") -> pd.Series | None:
    """The single best model among the per-objective picks (same rule)."""
    acc_col = ACCURACY_COLUMNS[accuracy]
    order = results.rank_models(_rule_frame(best), select_by, acc_col, the_baseline(group))
    return best.loc[order[0]] if order else None


def build_table(summary: pd.DataFrame, tolerance: float,
                select_by: Mapping[str, str] | str = "dsp",
                accuracy: str = "torch") -> pd.DataFrame:
    """The summary table as a DataFrame: per group the baseline then the best per objective.

    Columns: the group keys, ``strategy``, ``data_source``, ``resource_source``, ``model``
    (``baseline`` or ``pruned``), ``objective``, ``budget`` (% of baseline),
    ``accuracy`` and ``accuracy_csim`` (%), ``relative_loss`` (% of baseline accuracy),
    ``dsp``, ``multipliers``, ``bram_18k``, ``lut``, ``ff``, ``latency_cycles``, ``dsp_reduction``,
    ``bram_reduction``, ``lut_reduction``, ``ff_reduction`` (%), ``best`` (bool: the best
    model of the group) and ``select_by``.
    """
    acc_col = ACCURACY_COLUMNS[accuracy]
    records = []
    for _key, group in summary.groupby(list(GROUP_KEYS), sort=True):
        dataset = group["dataset"].iloc[0]
        sel = select_by if isinstance(select_by, str) else select_by.get(dataset, "dsp")
        base = the_baseline(group)
        best = select_best(group, tolerance, sel, accuracy)
        top = best_overall(best, group, sel, accuracy)
        for row, kind in [(base, "baseline")] + [(r, "pruned") for _, r in best.iterrows()]:
            records.append({k: row[k] for k in GROUP_KEYS} | dict(
                strategy=row["strategy"], data_source=row["data_source"],
                resource_source=row["resource_source"], model=kind,
                objective="" if kind == "baseline" else row["objective"],
                budget=row["budget"] if kind == "pruned" else math.nan,
                accuracy=100.0 * row[acc_col],
                accuracy_csim=100.0 * row["accuracy_csim"],
                relative_loss=100.0 * (1.0 - row[acc_col] / base[acc_col]),
                dsp=row["dsp"], multipliers=row.get("multipliers", math.nan),
                bram_18k=row["bram_18k"], lut=row["lut"], ff=row["ff"],
                latency_cycles=row["latency_cycles"],
                **{f"{name}_reduction": reduction_percent(row[col], base[col])
                   for name, col in (("dsp", "dsp"), ("bram", "bram_18k"), ("lut", "lut"),
                                     ("ff", "ff"))},
                best=top is not None and kind == "pruned" and row.name == top.name,
                select_by=sel,
            ))
    return pd.DataFrame.from_records(records)


def missing_objectives(summary: pd.DataFrame, table: pd.DataFrame) -> dict[tuple, list[str]]:
    """Per group, the objectives that were run but have no model within tolerance."""
    picked = table[table["model"] == "pruned"]
    have = {key: set(rows["objective"]) for key, rows in picked.groupby(list(GROUP_KEYS))}
    return {key: objective_order(set(pruned_rows(group)["objective"]) - have.get(key, set()))
            for key, group in summary.groupby(list(GROUP_KEYS), sort=True)}


def _fmt(value: float, digits: int = 0) -> str:
    """Number for a table cell; an en dash for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


TABLE_HEADER = (
    "model", "objective", "budget (% of base)", "accuracy (%)", "rel. loss (%)",
    "csim acc. (%)", "DSP", "mult.", "BRAM_18K", "LUT", "FF", "latency (cycles)",
    "DSP red. (%)", "BRAM red. (%)", "LUT red. (%)", "FF red. (%)",
)


def render_markdown(table: pd.DataFrame, summary: pd.DataFrame, tolerance: float,
                    accuracy: str = "torch") -> str:
    """Markdown text of the table: one section per group, sources named in each."""
    acc_kind = "PyTorch test accuracy" if accuracy == "torch" else "C-simulation test accuracy"
    lines = [
        "# Results summary",
        "",
        f"Baseline and best pruned model per objective at <= {100 * tolerance:g}% relative "
        f"loss of {acc_kind} (relative loss = 1 - accuracy / baseline accuracy). Resources "
        "are block counts (DSP48, BRAM_18K, LUT, FF) of the whole design (at Latency, DSP is "
        "what synthesis builds after constant folding and sharing; mult. = the "
        "multiplications hls4ml generates; BRAM_18K counts shallow arrays as LUTRAM); "
        "latency is in "
        "clock cycles; reductions are 100 x (1 - pruned / baseline) at the same reuse "
        "factor. **Bold**: the best model of the section. Generated from "
        "`results/summary.csv`; data and resource sources are named per section.",
        "",
    ]
    missing = missing_objectives(summary, table)
    for key, sec in table.groupby(list(GROUP_KEYS), sort=True):
        dataset, variant, precision, rf = key
        strategies = ", ".join(sorted(set(sec["strategy"])))
        lines += [
            f"## {dataset} / {variant} / RF {rf} ({strategies}, {precision})",
            "",
            f"data: {describe_data_source(sec['data_source'])}; "
            f"resources: {describe_resource_source(sec['resource_source'])}; "
            f"best pruned model chosen by lowest {sec['select_by'].iloc[0]} (ties: fewer LUT; "
            "0-DSP designs multiplying in LUTs compared on LUT).",
            "",
            "| " + " | ".join(TABLE_HEADER) + " |",
            "|" + "|".join("---" if i < 2 else "---:" for i in range(len(TABLE_HEADER))) + "|",
        ]
        for _, r in sec.iterrows():
            cells = [
                f"**{r['model']}**" if r["best"] else r["model"], r["objective"] or "–",
                "–" if pd.isna(r["budget"]) else f"{r['budget']:g}",
                *(_fmt(r[c], 2) for c in ("accuracy", "relative_loss", "accuracy_csim")),
                *(_fmt(r[c]) for c in ("dsp", "multipliers", "bram_18k", "lut", "ff",
                                       "latency_cycles")),
                *(_fmt(r[f"{c}_reduction"], 1) for c in ("dsp", "bram", "lut", "ff")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        gone = missing.get(key, [])
        if gone:
            lines += ["", f"No model within tolerance for: {', '.join(gone)}."]
        lines.append("")
    return "\n".join(lines)


def write_summary_markdown(summary_csv: str | Path, out_md: str | Path, tolerance: float,
                           select_by: Mapping[str, str] | str = "dsp",
                           accuracy: str = "torch", confidence: float = 0.95) -> pd.DataFrame:
    """Build the table from ``summary_csv`` and write it to ``out_md`` atomically.

    Returns the table DataFrame (see :func:`build_table`).
    """
    summary = load_summary(summary_csv, tolerance, confidence, accuracy)
    table = build_table(summary, tolerance, select_by, accuracy)
    text = render_markdown(table, summary, tolerance, accuracy)
    per_seed = normalise_summary(pd.read_csv(summary_csv), str(summary_csv))
    if "replicate" in per_seed.columns and per_seed["replicate"].nunique() > 1:
        text += render_seed_statistics(per_seed, tolerance, confidence)
    write_text_atomic(out_md, text)
    return table


def _fmt_interval(mean: float, low: float, high: float) -> str:
    if pd.isna(mean):
        return "–"
    if pd.isna(low):
        return f"{100 * mean:.2f}"
    return f"{100 * mean:.2f} [{100 * low:.2f}, {100 * high:.2f}]"


def render_seed_statistics(per_seed: pd.DataFrame, tolerance: float,
                           confidence: float = 0.95) -> str:
    """Markdown of the seed statistics (:mod:`rasp.stats`) of a per-replicate summary:
    per series the smallest budget within tolerance, and every objective against
    unstructured pruning at the same budget (paired by seed)."""
    agg = stats.aggregate_summary(per_seed, tolerance, confidence)
    smallest = stats.smallest_budget_within_tolerance(agg)
    compare = stats.compare_objectives(per_seed, "unstructured", confidence)
    n = int(agg["n_seeds"].max())
    lines = [
        "## Seed statistics",
        "",
        f"{n} seeds per point (training seed and pruning seed). Accuracies are seed means "
        f"with {confidence:.0%} Student-t intervals over seeds, in %. A point is within "
        f"tolerance when the one-sided {confidence:.0%} lower bound of its mean accuracy "
        f"relative to the same seed's baseline is >= {1 - tolerance:.3g} (a paired one-sided "
        "t-test; docs/statistics.md).",
        "",
        "### Smallest budget within tolerance",
        "",
        "| dataset | variant | RF | objective | budget (%) | accuracy (%) | baseline (%) |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for r in smallest.itertuples():
        if pd.isna(r.budget):
            cells = "none passes | – | –"
        else:
            acc = _fmt_interval(r.accuracy_mean, r.accuracy_ci_low, r.accuracy_ci_high)
            cells = f"{r.budget:g} | {acc} | {100 * r.baseline_accuracy_mean:.2f}"
        lines.append(f"| {r.dataset} | {r.variant} | {r.reuse_factor} | {r.objective} | {cells} |")
    if not compare.empty:
        lines += [
            "",
            "### Against unstructured pruning at the same budget",
            "",
            "Difference in accuracy (objective minus unstructured, points, paired by seed) "
            f"with its {confidence:.0%} interval; an interval that contains 0 is reported as "
            "no difference.",
            "",
            "| dataset | variant | RF | budget (%) | objective | DSP | unstr. DSP | BRAM_18K "
            "| unstr. BRAM_18K | difference (points) | verdict |",
            "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in compare.itertuples():
            diff = _fmt_interval(r.accuracy_diff_mean, r.accuracy_diff_ci_low,
                                 r.accuracy_diff_ci_high)
            lines.append(
                f"| {r.dataset} | {r.variant} | {r.reuse_factor} | {r.budget:g} | "
                f"{r.objective} | {_fmt(r.dsp_mean)} | {_fmt(r.reference_dsp_mean)} | "
                f"{_fmt(r.bram_18k_mean)} | {_fmt(r.reference_bram_18k_mean)} | {diff} | "
                f"{r.verdict} |")
    lines.append("")
    return "\n".join(lines)
