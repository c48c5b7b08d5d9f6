"""Contracts shared by every stage that reads results: the run id and the best-model rule.

The pruning jobs, the HLS stage (which pruned model to C-simulate), the summary table,
the figures and the README all name runs and pick "the best pruned model" through this
module, so they cannot disagree.

Run ids
    ``baseline_rf<RF>`` for an unpruned baseline, ``<objective>_rf<RF>_b<budget>`` for a
    pruned model, the budget in percent of the baseline resource (``dsp_rf4_b2.5``).

The best-model rule (:func:`select_best`)
    1. Candidates are the pruned models whose test accuracy is at least
       ``(1 - tolerance) x`` the baseline's (relative loss <= ``tolerance``).
    2. They are ranked by the selection resource (``dsp``, ``bram_18k``, or ``dsp+bram``
       = the sum of both as fractions of the baseline), ties broken by fewer LUTs, then
       the other block resource, then higher accuracy, then the lower budget.
    3. Fabric designs are compared on LUT, not as free on the DSP axis: when the
       selection resource counts DSPs, a design with 0 DSP that still multiplies
       (``multipliers > 0``: its products are built from LUTs, e.g. narrow x narrow
       products or every constant folded to shifts and adds) is chosen only when it also
       uses fewer LUTs than the best design that does use DSPs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import pandas as pd

#: Columns of results/summary.csv, in order (the contract every reader relies on; the HLS
#: stage writes them, then its extra columns): accuracies are fractions, resources block
#: counts, reductions fractions of the baseline, ``solve_seconds`` wall seconds.
SUMMARY_COLUMNS = (
    "dataset", "data_source", "variant", "precision", "reuse_factor", "strategy",
    "objective", "budget", "accuracy_torch", "accuracy_csim", "baseline_accuracy", "dsp",
    "bram_18k", "lut", "ff", "latency_cycles", "baseline_dsp", "baseline_bram_18k",
    "dsp_reduction", "bram_reduction", "resource_source", "solve_seconds", "gap",
)
#: Allowed selection resources for the best pruned model.
SELECT_BY = ("dsp", "bram_18k", "dsp+bram")
#: Columns :func:`rank_models` and :func:`select_best` read (besides the accuracy column).
RULE_COLUMNS = ("dsp", "bram_18k", "lut", "multipliers", "budget")

_RUN_RE = re.compile(r"^(?P<objective>.+)_rf(?P<rf>\d+)_b(?P<budget>\d+(?:\.\d+)?)$")
_BASE_RE = re.compile(r"^baseline_rf(?P<rf>\d+)$")
BASELINE = "baseline"


class RunIdError(ValueError):
    """A name that is not a run id."""


def run_id(objective: str, reuse_factor: int, budget: float | None) -> str:
    """Directory name of a run: ``baseline_rf4`` or ``dsp_rf4_b10`` (budget in %)."""
    if objective == BASELINE:
        return f"baseline_rf{int(reuse_factor)}"
    return f"{objective}_rf{int(reuse_factor)}_b{float(budget):g}"


def parse_run_id(name: str) -> tuple[str, int, float | None]:
    """Inverse of :func:`run_id`: ``(objective, reuse_factor, budget in % or None)``."""
    m = _BASE_RE.match(name)
    if m:
        return BASELINE, int(m["rf"]), None
    m = _RUN_RE.match(name)
    if m:
        return m["objective"], int(m["rf"]), float(m["budget"])
    raise RunIdError(f"{name!r} is not a run directory name (baseline_rf<RF> or "
                     "<objective>_rf<RF>_b<budget>)")


def within_tolerance(accuracy: pd.Series, baseline_accuracy: float,
                     tolerance: float) -> pd.Series:
    """Mask of accuracies with relative loss <= ``tolerance`` (a fraction, e.g. 0.01)."""
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance={tolerance!r} must be a fraction in [0, 1), e.g. 0.01")
    floor = (1.0 - tolerance) * baseline_accuracy
    return accuracy.notna() & (accuracy >= floor - 1e-12)


def uses_fabric(models: pd.DataFrame) -> pd.Series:
    """Mask of designs that multiply without DSPs (0 DSP, ``multipliers`` > 0)."""
    return (models["dsp"] == 0) & (models["multipliers"].fillna(0) > 0)


def _fraction(values: pd.Series, baseline: float) -> pd.Series:
    if pd.isna(baseline) or baseline == 0:
        return pd.Series(0.0, index=values.index)
    return values / float(baseline)


def _sort_keys(models: pd.DataFrame, select_by: str, accuracy: str,
               baseline: Mapping[str, float]) -> pd.DataFrame:
    if select_by == "dsp":
        first, other = models["dsp"], models["bram_18k"]
    elif select_by == "bram_18k":
        first, other = models["bram_18k"], models["dsp"]
    elif select_by == "dsp+bram":
        first = (_fraction(models["dsp"], baseline.get("dsp", math.nan)).fillna(0)
                 + _fraction(models["bram_18k"], baseline.get("bram_18k", math.nan)).fillna(0))
        other = models["dsp"]
    else:
        raise ValueError(f"select_by={select_by!r}; allowed: {list(SELECT_BY)}")
    return pd.DataFrame({"first": first, "lut": models["lut"], "other": other,
                         "accuracy": -models[accuracy], "budget": models["budget"]},
                        index=models.index)


def rank_models(models: pd.DataFrame, select_by: str = "dsp", accuracy: str = "accuracy",
                baseline: Mapping[str, float] | None = None) -> list:
    """Index labels of ``models``, best first, by steps 2 and 3 of the module's rule.

    ``models`` needs the columns :data:`RULE_COLUMNS` and ``accuracy``; ``baseline``
    (``dsp``, ``bram_18k`` block counts) is needed for ``select_by="dsp+bram"`` only.
    Unknown (NaN) values sort last.
    """
    missing = [c for c in (*RULE_COLUMNS, accuracy) if c not in models.columns]
    if missing:
        raise KeyError(f"the best-model rule needs columns {missing}")
    if models.empty:
        return []
    keys = _sort_keys(models, select_by, accuracy, {} if baseline is None else baseline)
    order = list(keys.sort_values(list(keys.columns), kind="mergesort",
                                  na_position="last").index)
    if select_by == "bram_18k":
        return order
    fabric = uses_fabric(models)
    on_dsp = [i for i in order if not fabric[i]]
    # a stable sort of the ranked fabric designs by LUT (NaN last)
    on_fabric = list(models.loc[[i for i in order if fabric[i]], "lut"]
                     .sort_values(kind="mergesort", na_position="last").index)
    if not on_dsp or not on_fabric:
        return on_dsp or on_fabric
    bar = models.at[on_dsp[0], "lut"]
    cheaper = [i for i in on_fabric if models.at[i, "lut"] < bar]  # NaN LUT never wins
    rest = [i for i in on_fabric if i not in cheaper]
    return cheaper + on_dsp + rest


def select_best(models: pd.DataFrame, baseline: Mapping[str, float], tolerance: float,
                select_by: str = "dsp", accuracy: str = "accuracy"):
    """Index label of the best model of ``models`` within tolerance, or None.

    ``models``: one row per pruned model (columns :data:`RULE_COLUMNS` and
    ``accuracy``: fractions; resources in blocks; budget in %). ``baseline``: the
    baseline's ``accuracy`` (same column name) and its ``dsp`` / ``bram_18k``.
    ``tolerance``: relative accuracy loss allowed (fraction). When ``models`` has a
    boolean ``within_tolerance`` column (the seed-statistics decision of
    :func:`rasp.stats.tolerance_test`, made at this tolerance), step 1 reads it instead of
    comparing the accuracies.
    """
    if "within_tolerance" in models.columns:  # decided on seed replicates (rasp.stats)
        ok = models[models["within_tolerance"].astype(bool) & models[accuracy].notna()]
    else:
        ok = models[within_tolerance(models[accuracy], float(baseline[accuracy]), tolerance)]
    order = rank_models(ok, select_by, accuracy, baseline)
    return order[0] if order else None
