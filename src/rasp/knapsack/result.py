"""What a knapsack solve returns, and how the optimality gap and status are defined.

Statuses (``KnapsackResult.status``):

- ``optimal``: the objective is proven optimal (``bound - objective`` within
  :data:`OPTIMAL_ATOL` relative), from an exact method or a solver that closed the gap.
- ``gap_limit``: a MILP solver stopped because the requested relative gap was reached; the
  answer is within ``gap`` of optimal but not proven optimal.
- ``time_limit``: a MILP solver stopped at the time limit; ``gap`` says how far from the
  bound the kept set may be.
- ``feasible``: a heuristic answer (greedy) with a valid bound; ``gap`` says how good it is.

Every status comes with a feasible ``keep`` mask and a valid upper ``bound``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

STATUSES = ("optimal", "gap_limit", "time_limit", "feasible")

#: Relative tolerance under which ``bound - objective`` counts as zero (proven optimal).
OPTIMAL_ATOL = 1e-9


def relative_gap(objective: float, bound: float) -> float:
    """Relative optimality gap ``(bound - objective) / objective`` (dimensionless).

    Returns 0 when the bound equals the objective within :data:`OPTIMAL_ATOL` (relative
    to ``max(1, |objective|)``), and ``inf`` when the objective is 0 but the bound is
    positive. This is the convention of HiGHS' ``mip_gap`` (primal value in the
    denominator); it is never smaller than ``(bound - objective) / bound``.
    """
    diff = bound - objective
    if diff <= OPTIMAL_ATOL * max(1.0, abs(objective)):
        return 0.0
    if objective <= 0.0:
        return math.inf
    return diff / objective


@dataclass(frozen=True)
class KnapsackResult:
    """Outcome of :func:`rasp.knapsack.solve_knapsack`.

    Attributes:
        keep: (N,) bool, True = item kept. Always feasible.
        objective: sum of the values of the kept items (unit of ``values``).
        bound: proven upper bound on the best achievable objective (unit of ``values``).
        gap: relative gap, see :func:`relative_gap` (dimensionless, 0.01 = 1 %).
        status: one of :data:`STATUSES` (see module docstring).
        wall_seconds: wall-clock time of the whole call, validation included (seconds).
        method: method that produced the answer (``milp``, ``dp``, ``greedy``).
        solver: what ran, e.g. ``highs 1.15.1``, ``cbc 2.10.3 via pulp 3.3.2``,
            ``numpy-dp``, ``equal-cost sort``, ``greedy(dual-ratio)``.
        bound_source: where ``bound`` comes from (solver dual bound, Lagrangian, exact).
        used: (M,) resource use of the kept items (unit of each cost row).
        capacities: (M,) budgets (unit of each cost row).
        resource_names: names of the M resources.
        time_limit: time limit given to the solver (seconds) or None.
        gap_tolerance: relative gap requested from the solver, or None.
        nodes: branch-and-bound nodes explored (MILP only) or None.
        seed: random seed passed to the solver.
        message: free-text notes (fast paths taken, repairs, solver messages).
    """

    keep: np.ndarray
    objective: float
    bound: float
    gap: float
    status: str
    wall_seconds: float
    method: str
    solver: str
    bound_source: str
    used: np.ndarray
    capacities: np.ndarray
    resource_names: tuple[str, ...] = ()
    time_limit: float | None = None
    gap_tolerance: float | None = None
    nodes: int | None = None
    seed: int = 0
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def n_kept(self) -> int:
        return int(self.keep.sum())

    def summary(self) -> dict:
        """JSON-friendly dict of everything except the mask (counts instead)."""
        return {
            "method": self.method,
            "solver": self.solver,
            "status": self.status,
            "objective": float(self.objective),
            "bound": float(self.bound),
            "gap": float(self.gap),
            "bound_source": self.bound_source,
            "wall_seconds": float(self.wall_seconds),
            "n_items": int(self.keep.shape[0]),
            "n_kept": self.n_kept,
            "used": {n: float(u) for n, u in zip(self.resource_names, self.used, strict=True)},
            "capacities": {
                n: float(c) for n, c in zip(self.resource_names, self.capacities, strict=True)
            },
            "time_limit": self.time_limit,
            "gap_tolerance": self.gap_tolerance,
            "nodes": self.nodes,
            "seed": self.seed,
            "message": self.message,
        }
