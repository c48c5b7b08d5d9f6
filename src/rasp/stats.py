"""Statistics over repeated seeds: seed means with intervals, the tolerance decision, and
paired comparisons of pruning objectives.

Every number here is computed across *replicates*: replicate ``r`` is one training seed
of a baseline and, for each pruned point, one pruning seed applied to that baseline. The
test set is the same for all of them, so two models of the same replicate are compared on
the same test examples (a paired comparison), and replicates are the independent units.

Intervals are Student-t intervals over replicates (``scipy.stats.t``): for values
``x_1..x_n`` with mean ``m`` and sample standard deviation ``s`` (``ddof=1``), the
standard error is ``s / sqrt(n)`` and the two-sided ``confidence`` interval is
``m -+ t_{(1+confidence)/2, n-1} * s / sqrt(n)``. They cover the variation between
training and pruning seeds; the sampling noise of the fixed test set is reported
separately as the binomial standard error ``sqrt(p (1 - p) / n_test)``.

The tolerance decision (:func:`tolerance_test`)
    A pruned point is *within tolerance* when its accuracy, relative to the baseline of
    the same replicate, is at least ``1 - tolerance`` *with confidence*: the one-sided
    lower ``confidence`` bound of the mean margin ``accuracy_r / baseline_r - (1 -
    tolerance)`` is >= 0 (a one-sided paired t-test at level ``1 - confidence``). A
    point whose mean passes but whose bound does not is *not* within tolerance. With a
    single replicate there is no interval: the decision falls back to the point estimate
    and the ``tolerance_test`` column says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from rasp.results import BASELINE

#: Columns that identify one point of the sweep across its replicates.
POINT_KEYS = ("dataset", "data_source", "variant", "reuse_factor", "objective", "budget")
#: Resource columns averaged over replicates (block counts, cycles).
RESOURCE_COLUMNS = ("dsp", "bram_18k", "lut", "ff", "latency_cycles", "multipliers",
                    "baseline_dsp", "baseline_bram_18k", "dsp_reduction", "bram_reduction")


@dataclass(frozen=True)
class Interval:
    """Mean, sample standard deviation, standard error and t-interval of ``n`` values."""

    n: int
    mean: float
    std: float
    sem: float
    low: float
    high: float


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Two-sided Student-t ``confidence`` interval of the mean of ``values`` (NaNs dropped).

    With one value the std, standard error and bounds are NaN; with none, everything is.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must be a fraction in (0, 1), e.g. 0.95")
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = int(x.size)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean, math.nan, math.nan, math.nan, math.nan)
    std = float(x.std(ddof=1))
    sem = std / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    return Interval(n, mean, std, sem, mean - half, mean + half)


def lower_bound(values: Sequence[float], confidence: float = 0.95) -> float:
    """One-sided lower ``confidence`` bound of the mean (NaN with fewer than 2 values)."""
    iv = t_interval(values, confidence)
    if iv.n < 2:
        return math.nan
    return iv.mean - float(stats.t.ppf(confidence, iv.n - 1)) * iv.sem


@dataclass(frozen=True)
class ToleranceDecision:
    """Outcome of :func:`tolerance_test`; margins are fractions of the baseline accuracy."""

    within: bool
    margin_mean: float
    margin_lower: float
    test: str


def tolerance_test(accuracy: Sequence[float], baseline: Sequence[float], tolerance: float,
                   confidence: float = 0.95) -> ToleranceDecision:
    """Is the relative accuracy loss <= ``tolerance``, judged on the seed mean with its
    one-sided lower bound (module docstring)? ``accuracy[r]`` and ``baseline[r]`` are the
    test accuracies (fractions) of replicate ``r``'s pruned model and its own baseline."""
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance={tolerance!r} must be a fraction in [0, 1), e.g. 0.01")
    if len(accuracy) != len(baseline):
        raise ValueError(f"{len(accuracy)} accuracies but {len(baseline)} baselines: the "
                         "comparison is paired, one baseline per replicate")
    margins = [a / b - (1.0 - tolerance) for a, b in zip(accuracy, baseline, strict=True)
               if not (math.isnan(a) or math.isnan(b)) and b > 0]
    if not margins:
        return ToleranceDecision(False, math.nan, math.nan, "no data")
    mean = float(np.mean(margins))
    if len(margins) == 1:
        return ToleranceDecision(mean >= -1e-12, mean, math.nan,
                                 "point estimate (1 seed, no interval)")
    low = lower_bound(margins, confidence)
    return ToleranceDecision(
        low >= -1e-12, mean, low,
        f"one-sided paired t, {confidence:.0%} lower bound, n={len(margins)}")


def binomial_se(accuracy: float, n_test: float) -> float:
    """Standard error of an accuracy (fraction) measured on ``n_test`` examples."""
    if not n_test or math.isnan(n_test) or math.isnan(accuracy):
        return math.nan
    return math.sqrt(accuracy * (1.0 - accuracy) / n_test)


def _nanmean(values: Sequence[float]) -> float:
    """Mean of the finite values (NaN, without a warning, when there are none)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def _point_frame(summary: pd.DataFrame, accuracy: str) -> pd.DataFrame:
    missing = [c for c in (*POINT_KEYS, "replicate", accuracy, "baseline_accuracy")
               if c not in summary.columns]
    if missing:
        raise KeyError(f"the aggregation needs columns {missing} in summary.csv")
    dup = summary.duplicated([*POINT_KEYS, "replicate"], keep=False)
    if dup.any():
        first = summary.loc[dup, [*POINT_KEYS, "replicate"]].iloc[0].to_dict()
        raise ValueError(f"two rows for the same point and replicate: {first}")
    return summary


def aggregate_summary(summary: pd.DataFrame, tolerance: float, confidence: float = 0.95,
                      accuracy: str = "accuracy_torch") -> pd.DataFrame:
    """One row per sweep point of ``summary`` (one row per replicate): seed means,
    standard deviations, standard errors and ``confidence`` intervals of the accuracy, the
    tolerance decision, and seed means of the resources (:data:`RESOURCE_COLUMNS`).

    Columns: :data:`POINT_KEYS`, ``n_seeds``, ``accuracy_mean``, ``accuracy_std``,
    ``accuracy_sem``, ``accuracy_ci_low``, ``accuracy_ci_high``, ``accuracy_test_se``
    (binomial, mean over seeds; needs ``n_test``), ``baseline_accuracy_mean``,
    ``relative_loss_mean`` (``1 - accuracy / baseline``, mean over seeds),
    ``tolerance_margin_mean``, ``tolerance_margin_lower``, ``within_tolerance``,
    ``tolerance_test``, ``<resource>_mean`` / ``<resource>_std`` for each resource, and
    ``replicates`` (the replicate indices, ``;``-separated). Accuracies are fractions.
    """
    frame = _point_frame(summary, accuracy)
    rows = []
    for key, group in frame.groupby(list(POINT_KEYS), dropna=False, sort=False):
        group = group.sort_values("replicate")
        acc = group[accuracy].astype(float).tolist()
        base = group["baseline_accuracy"].astype(float).tolist()
        iv = t_interval(acc, confidence)
        row = dict(zip(POINT_KEYS, key, strict=True))
        row.update(n_seeds=iv.n, accuracy_mean=iv.mean, accuracy_std=iv.std,
                   accuracy_sem=iv.sem, accuracy_ci_low=iv.low, accuracy_ci_high=iv.high)
        n_test = (group["n_test"].astype(float).tolist() if "n_test" in group
                  else [math.nan] * len(acc))
        row["accuracy_test_se"] = _nanmean([binomial_se(a, n) for a, n in
                                            zip(acc, n_test, strict=True)])
        row["baseline_accuracy_mean"] = _nanmean(base)
        row["relative_loss_mean"] = _nanmean([1 - a / b for a, b in zip(acc, base,
                                              strict=True) if b > 0])
        if row["objective"] == BASELINE:
            decision = ToleranceDecision(True, tolerance, math.nan, "baseline")
        else:
            decision = tolerance_test(acc, base, tolerance, confidence)
        row.update(tolerance_margin_mean=decision.margin_mean,
                   tolerance_margin_lower=decision.margin_lower,
                   within_tolerance=decision.within, tolerance_test=decision.test)
        for col in RESOURCE_COLUMNS:
            if col in group:
                values = group[col].astype(float)  # NaN: no value / fewer than 2 values
                row[f"{col}_mean"] = float(values.mean())
                row[f"{col}_std"] = float(values.std(ddof=1))
        row["replicates"] = ";".join(str(int(r)) for r in group["replicate"])
        rows.append(row)
    return pd.DataFrame(rows)


def compare_objectives(summary: pd.DataFrame, reference: str = "unstructured",
                       confidence: float = 0.95,
                       accuracy: str = "accuracy_torch") -> pd.DataFrame:
    """Paired accuracy difference of every objective against ``reference`` at the same
    (dataset, variant, reuse factor, budget), replicate by replicate (same baseline seed,
    same test examples).

    Columns: the point keys with ``objective``, ``reference``, ``n_pairs``,
    ``accuracy_diff_mean`` / ``_sem`` / ``_ci_low`` / ``_ci_high`` (objective minus
    reference, fractions), ``dsp_mean`` / ``reference_dsp_mean`` and the BRAM pair (the
    resources both reached), and ``verdict``: ``better`` / ``worse`` when the interval
    excludes 0, ``no difference`` when it contains 0, ``no interval (1 seed)`` otherwise.
    """
    frame = _point_frame(summary, accuracy)
    group_keys = ["dataset", "data_source", "variant", "reuse_factor", "budget"]
    pruned = frame[frame["objective"] != BASELINE]
    rows = []
    for key, group in pruned.groupby(group_keys, dropna=False, sort=False):
        ref = group[group["objective"] == reference].set_index("replicate")
        if ref.empty:
            continue
        for objective, obj in group[group["objective"] != reference].groupby("objective",
                                                                               sort=False):
            obj = obj.set_index("replicate")
            common = sorted(set(obj.index) & set(ref.index))
            diffs = [float(obj.at[r, accuracy]) - float(ref.at[r, accuracy]) for r in common]
            iv = t_interval(diffs, confidence)
            if iv.n < 2:
                verdict = "no interval (1 seed)"
            elif iv.low > 0:
                verdict = "better"
            elif iv.high < 0:
                verdict = "worse"
            else:
                verdict = "no difference"
            row = dict(zip(group_keys, key, strict=True))
            row.update(objective=objective, reference=reference, n_pairs=iv.n,
                       accuracy_diff_mean=iv.mean, accuracy_diff_sem=iv.sem,
                       accuracy_diff_ci_low=iv.low, accuracy_diff_ci_high=iv.high,
                       verdict=verdict)
            for col in ("dsp", "bram_18k"):
                if col in obj:
                    row[f"{col}_mean"] = float(obj.loc[common, col].astype(float).mean())
                    row[f"reference_{col}_mean"] = float(ref.loc[common, col].astype(float)
                                                         .mean())
            rows.append(row)
    return pd.DataFrame(rows)


def smallest_budget_within_tolerance(aggregated: pd.DataFrame) -> pd.DataFrame:
    """Per series (dataset, variant, reuse factor, objective): the smallest budget (%)
    whose point is within tolerance (:func:`aggregate_summary`), with its accuracy interval;
    a series where no budget passes has NaN budget."""
    pruned = aggregated[aggregated["objective"] != BASELINE]
    rows = []
    keys = ["dataset", "variant", "reuse_factor", "objective"]
    for key, group in pruned.groupby(keys, sort=False):
        ok = group[group["within_tolerance"].astype(bool)].sort_values("budget")
        row = dict(zip(keys, key, strict=True))
        if ok.empty:
            row.update(budget=math.nan, n_seeds=int(group["n_seeds"].max()))
        else:
            best = ok.iloc[0]
            row.update({c: best[c] for c in ("budget", "n_seeds", "accuracy_mean",
                                             "accuracy_ci_low", "accuracy_ci_high",
                                             "baseline_accuracy_mean",
                                             "tolerance_margin_lower", "tolerance_test")})
        rows.append(row)
    return pd.DataFrame(rows)
