"""Joint DSP + BRAM knapsack: one item per DSP pattern, one item per BRAM column.

In an hls4ml Resource-strategy layer, DSP pattern ``k`` holds the RF weights one
multiplier processes; neighbouring patterns share a BRAM "column" (a BRAM is freed only
when every pattern stored in it is zero). The reference implementation coarsens the
structures to whole columns, which saves nothing for most weight widths. Here the choice
is exact instead:

- item ``p < P`` is pattern ``p``: value = its importance, cost = (its DSPs, 0 BRAM);
- item ``P + k`` is BRAM column ``k``: value 0, cost = (0 DSP, its BRAM_18K blocks);
- requirement: pattern ``p`` requires column ``pattern_column[p]`` (so a column is kept,
  and its BRAM paid, whenever any of its patterns is kept).

With both budgets as capacities the solver trades DSPs against BRAMs exactly: keeping a
pattern in an already-kept column costs only DSPs; opening a new column costs its BRAMs.
Columns whose patterns are all pruned are dropped after solving (they have value 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rasp.knapsack.problem import KnapsackProblem
from rasp.knapsack.result import KnapsackResult
from rasp.knapsack.solve import solve_problem


@dataclass(frozen=True)
class CoupledDspBramProblem:
    """A :class:`KnapsackProblem` with P pattern items followed by K column items."""

    problem: KnapsackProblem
    n_patterns: int
    n_columns: int

    def _mask(self, result_or_keep: KnapsackResult | np.ndarray) -> np.ndarray:
        keep = result_or_keep.keep if isinstance(result_or_keep, KnapsackResult) else result_or_keep
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_patterns + self.n_columns,):
            raise ValueError(
                f"keep mask has shape {keep.shape}, expected "
                f"({self.n_patterns + self.n_columns},) = patterns + columns"
            )
        return keep

    def pattern_keep(self, result_or_keep: KnapsackResult | np.ndarray) -> np.ndarray:
        """(P,) bool: which DSP patterns are kept."""
        return self._mask(result_or_keep)[: self.n_patterns].copy()

    def column_keep(self, result_or_keep: KnapsackResult | np.ndarray) -> np.ndarray:
        """(K,) bool: which BRAM columns are kept (paid for)."""
        return self._mask(result_or_keep)[self.n_patterns :].copy()

    def solve(self, **options: Any) -> KnapsackResult:
        """Solve; ``options`` as for :func:`rasp.knapsack.solve_knapsack`."""
        return solve_problem(self.problem, **options)


def coupled_dsp_bram_problem(
    pattern_values: Any,
    pattern_dsp: Any,
    pattern_column: Any,
    column_bram: Any,
    dsp_budget: float | None,
    bram_budget: float | None,
    *,
    pattern_forced: Any = None,
) -> CoupledDspBramProblem:
    """Build the joint DSP + BRAM problem (see module docstring).

    Args:
        pattern_values: (P,) importance of each DSP pattern (>= 0, layer-normalised).
        pattern_dsp: (P,) DSP blocks each pattern uses (0 for LUT-built multipliers).
        pattern_column: (P,) int, BRAM column index of each pattern in [0, K), or -1 for
            a pattern whose weights are not stored in BRAM (no requirement).
        column_bram: (K,) BRAM_18K blocks each column uses.
        dsp_budget: DSP blocks allowed, or None for no DSP budget.
        bram_budget: BRAM_18K blocks allowed, or None for no BRAM budget.
        pattern_forced: optional (P,) bool mask of patterns that must be kept.
    """
    v = np.asarray(pattern_values, dtype=np.float64).reshape(-1)
    p = v.size
    dsp = np.asarray(pattern_dsp, dtype=np.float64).reshape(-1)
    col = np.asarray(pattern_column)
    bram = np.asarray(column_bram, dtype=np.float64).reshape(-1)
    k = bram.size
    if dsp.shape != (p,) or col.shape != (p,):
        raise ValueError(
            f"pattern_values, pattern_dsp and pattern_column must all have shape ({p},); "
            f"got {dsp.shape} and {col.shape}"
        )
    if col.size and not np.issubdtype(col.dtype, np.integer):
        raise ValueError(f"pattern_column must hold integer column indices, got {col.dtype}")
    col = col.astype(np.int64)
    if col.size and (col.min() < -1 or col.max() >= k):
        raise ValueError(
            f"pattern_column must be in [0, {k - 1}] (or -1 for no BRAM column), "
            f"got min {col.min()} and max {col.max()}"
        )
    if dsp_budget is None and bram_budget is None:
        raise ValueError("give at least one of dsp_budget and bram_budget")
    rows, caps, names = [], [], []
    if dsp_budget is not None:
        rows.append(np.r_[dsp, np.zeros(k)])
        caps.append(dsp_budget)
        names.append("dsp")
    if bram_budget is not None:
        rows.append(np.r_[np.zeros(p), bram])
        caps.append(bram_budget)
        names.append("bram_18k")
    stored = np.flatnonzero(col >= 0)
    forced = None
    if pattern_forced is not None:
        pf = np.asarray(pattern_forced)
        if pf.dtype != bool or pf.shape != (p,):
            raise ValueError(f"pattern_forced must be a bool mask of shape ({p},)")
        forced = np.r_[pf, np.zeros(k, dtype=bool)]
    problem = KnapsackProblem.create(
        np.r_[v, np.zeros(k)],
        np.vstack(rows),
        np.asarray(caps, dtype=np.float64),
        requires=(stored, p + col[stored]),
        forced=forced,
        resource_names=names,
    )
    return CoupledDspBramProblem(problem=problem, n_patterns=p, n_columns=k)
