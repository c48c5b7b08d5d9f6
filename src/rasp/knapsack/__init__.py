"""Knapsack selection of structures: exact, fast, and honest about optimality.

Choose which weight groups to keep so that the total importance is maximal while every
resource stays within its budget::

    maximise  sum_i v_i x_i   s.t.  sum_i c_ri x_i <= b_r  for every resource r,  x in {0,1}^N

plus optional requirements (keeping a DSP pattern requires its BRAM column), forced items
and exclusive groups. Entry point: :func:`solve_knapsack` (methods ``milp``, ``dp``,
``greedy``, ``auto``); every answer is feasible and comes with a proven upper bound, the
relative gap and a status. See docs/knapsack.md for formulations and bounds.
"""

from rasp.knapsack.coupled import CoupledDspBramProblem, coupled_dsp_bram_problem
from rasp.knapsack.dp import DEFAULT_DP_MEMORY_LIMIT
from rasp.knapsack.instances import SyntheticPruningInstance, synthetic_pruning_instance
from rasp.knapsack.problem import KnapsackProblem
from rasp.knapsack.result import STATUSES, KnapsackResult, relative_gap
from rasp.knapsack.solve import METHODS, SOLVERS, solve_knapsack, solve_problem

__all__ = [
    "DEFAULT_DP_MEMORY_LIMIT",
    "METHODS",
    "SOLVERS",
    "STATUSES",
    "CoupledDspBramProblem",
    "KnapsackProblem",
    "KnapsackResult",
    "SyntheticPruningInstance",
    "coupled_dsp_bram_problem",
    "relative_gap",
    "solve_knapsack",
    "solve_problem",
    "synthetic_pruning_instance",
]
