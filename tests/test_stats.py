"""rasp.stats: seed aggregation against hand computations, and the tolerance decision."""

import math

import pandas as pd
import pytest

from rasp.stats import (
    aggregate_summary,
    compare_objectives,
    lower_bound,
    smallest_budget_within_tolerance,
    t_interval,
    tolerance_test,
)

# Student-t quantiles from tables: t_{0.975, 2} and t_{0.95, 2}
T975_2 = 4.302652729911275
T95_2 = 2.919985580355516


def test_t_interval_matches_hand_computation():
    iv = t_interval([0.70, 0.72, 0.74])
    sem = 0.02 / math.sqrt(3)
    assert iv.n == 3
    assert iv.mean == pytest.approx(0.72)
    assert iv.std == pytest.approx(0.02)
    assert iv.sem == pytest.approx(sem)
    assert iv.low == pytest.approx(0.72 - T975_2 * sem)
    assert iv.high == pytest.approx(0.72 + T975_2 * sem)
    assert lower_bound([0.70, 0.72, 0.74]) == pytest.approx(0.72 - T95_2 * sem)


def test_t_interval_one_value_has_no_spread():
    iv = t_interval([0.5, float("nan")])
    assert iv.n == 1 and iv.mean == 0.5
    assert math.isnan(iv.sem) and math.isnan(iv.low)
    with pytest.raises(ValueError, match="confidence"):
        t_interval([0.5], confidence=95)


def test_point_estimate_passes_but_interval_fails():
    baseline = [0.75, 0.75, 0.75]
    pruned = [0.760, 0.735, 0.745]  # mean 0.74667 >= 0.99 * 0.75 = 0.7425
    decision = tolerance_test(pruned, baseline, tolerance=0.01)
    margins = [a / 0.75 - 0.99 for a in pruned]
    mean = sum(margins) / 3
    sd = math.sqrt(sum((m - mean) ** 2 for m in margins) / 2)
    assert decision.margin_mean == pytest.approx(mean) and mean > 0
    assert decision.margin_lower == pytest.approx(mean - T95_2 * sd / math.sqrt(3))
    assert not decision.within
    assert "one-sided" in decision.test and "n=3" in decision.test


def test_consistent_small_loss_passes():
    decision = tolerance_test([0.746, 0.747, 0.748], [0.75, 0.751, 0.752], tolerance=0.01)
    assert decision.within and decision.margin_lower > 0


def test_single_seed_falls_back_to_point_estimate_and_says_so():
    decision = tolerance_test([0.745], [0.75], tolerance=0.01)
    assert decision.within and "point estimate" in decision.test
    with pytest.raises(ValueError, match="paired"):
        tolerance_test([0.7, 0.7], [0.7], tolerance=0.01)


def _summary():
    rows = []
    base = {"dataset": "jets", "data_source": "pythia", "variant": "float", "reuse_factor": 4}
    baseline_acc = [0.75, 0.76, 0.74]
    for r, b in enumerate(baseline_acc):
        rows.append({**base, "objective": "baseline", "budget": float("nan"), "replicate": r,
                     "accuracy_torch": b, "baseline_accuracy": b, "dsp": 1000, "n_test": 12000})
        rows.append({**base, "objective": "dsp", "budget": 10.0, "replicate": r,
                     "accuracy_torch": b - 0.002, "baseline_accuracy": b, "dsp": 100 + r,
                     "n_test": 12000})
        rows.append({**base, "objective": "unstructured", "budget": 10.0, "replicate": r,
                     "accuracy_torch": b - 0.02 - 0.001 * r, "baseline_accuracy": b,
                     "dsp": 100, "n_test": 12000})
        rows.append({**base, "objective": "dsp", "budget": 5.0, "replicate": r,
                     "accuracy_torch": b - 0.05, "baseline_accuracy": b, "dsp": 50,
                     "n_test": 12000})
    return pd.DataFrame(rows)


def test_aggregate_summary_columns_and_values():
    agg = aggregate_summary(_summary(), tolerance=0.01)
    assert len(agg) == 4
    dsp10 = agg[(agg["objective"] == "dsp") & (agg["budget"] == 10)].iloc[0]
    assert dsp10["n_seeds"] == 3
    assert dsp10["accuracy_mean"] == pytest.approx(0.748)
    assert dsp10["accuracy_std"] == pytest.approx(0.01)
    assert dsp10["accuracy_sem"] == pytest.approx(0.01 / math.sqrt(3))
    assert dsp10["dsp_mean"] == pytest.approx(101) and dsp10["dsp_std"] == pytest.approx(1)
    assert dsp10["accuracy_test_se"] == pytest.approx(
        sum(math.sqrt(a * (1 - a) / 12000) for a in (0.748, 0.758, 0.738)) / 3)
    # paired: the pruned model tracks its own baseline, so the loss is certain
    assert bool(dsp10["within_tolerance"])
    assert dsp10["replicates"] == "0;1;2"
    base = agg[agg["objective"] == "baseline"].iloc[0]
    assert math.isnan(base["budget"]) and base["tolerance_test"] == "baseline"
    assert not bool(agg[(agg["objective"] == "dsp") & (agg["budget"] == 5)]
                    .iloc[0]["within_tolerance"])


def test_aggregate_rejects_duplicate_replicates():
    df = _summary()
    df = pd.concat([df, df.iloc[[1]]])
    with pytest.raises(ValueError, match="same point and replicate"):
        aggregate_summary(df, tolerance=0.01)


def test_compare_objectives_paired_verdicts():
    comp = compare_objectives(_summary())
    row = comp[(comp["objective"] == "dsp") & (comp["budget"] == 10)].iloc[0]
    diffs = [0.018, 0.019, 0.020]
    assert row["n_pairs"] == 3
    assert row["accuracy_diff_mean"] == pytest.approx(sum(diffs) / 3)
    assert row["accuracy_diff_ci_low"] == pytest.approx(0.019 - T975_2 * 0.001 / math.sqrt(3))
    assert row["verdict"] == "better"
    assert row["reference_dsp_mean"] == 100
    assert len(comp) == 1  # budget 5 has no unstructured point
    noisy = _summary()
    sel = (noisy["objective"] == "dsp") & (noisy["budget"] == 10)
    noisy.loc[sel, "accuracy_torch"] = noisy.loc[sel, "baseline_accuracy"] + pd.Series(
        [-0.04, 0.0, 0.02], index=noisy.index[sel]) - 0.02
    verdict = compare_objectives(noisy)["verdict"].iloc[0]
    assert verdict == "no difference"


def test_smallest_budget_within_tolerance():
    agg = aggregate_summary(_summary(), tolerance=0.01)
    best = smallest_budget_within_tolerance(agg).set_index("objective")
    assert best.at["dsp", "budget"] == 10
    assert math.isnan(best.at["unstructured", "budget"])
