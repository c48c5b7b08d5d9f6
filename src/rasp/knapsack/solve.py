"""The single entry point: :func:`solve_knapsack` (and :func:`solve_problem`).

Order of work for every call:

1. Validate the inputs (:meth:`KnapsackProblem.create`), check the method's preconditions.
2. Reduce: keep forced items and what they require, drop items that cannot be kept.
3. Exact fast paths (``fast_paths=True``, on by default), whatever the method:

   - nothing binds: no capacity can be exceeded by the free items together and there are
     no exclusive groups -> keep every item of positive value (and what it requires);
   - equal costs: all free items have the same cost vector and there is no structure ->
     the best set is the K most valuable items, K = how many fit; solved by sorting.
     This is where the reference implementation's "top-K" is actually correct, and we
     prove it (gap 0) instead of assuming it.

4. The method: ``dp`` (exact), ``greedy`` (heuristic with a bound) or ``milp`` (exact up
   to gap/time limit). ``auto`` picks ``dp`` for one integer resource whose table fits in
   memory and ``milp`` otherwise.

``milp`` first runs the greedy heuristic and the Lagrangian bound (about a second at
200,000 items). When they already prove the greedy answer within the requested ``gap`` the
solver is not started (``accept_greedy=True``). Otherwise reduced-cost fixing at the
Lagrangian prices leaves a *core* of items whose value is uncertain; the solver (HiGHS or
CBC) sees only the core, first at most ``CORE_START_ITEMS`` items, four times more per
round until the fixings outside the core are proven (or the gap or time limit is reached).
The reported bound is the smaller of the Lagrangian bound and
``max(core bound, best bound of any answer that disagrees with a fixing)``.

After solving, zero-value items that are neither forced nor required by a kept item are
dropped: they add nothing to the objective and only use resources.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from rasp.knapsack.bounds import KnapsackBound, best_bound, fix_items, fixing_data
from rasp.knapsack.dp import (
    DEFAULT_DP_MEMORY_LIMIT,
    check_dp_applicable,
    dp_solve,
    dp_table_bytes,
)
from rasp.knapsack.greedy import greedy_solve
from rasp.knapsack.milp import highs_available, solve_cbc, solve_highs
from rasp.knapsack.problem import (
    KnapsackProblem,
    ReducedProblem,
    ancestors_closure,
    capacity_slack,
    reduce_problem,
    restrict,
)
from rasp.knapsack.result import KnapsackResult, relative_gap

log = logging.getLogger(__name__)

METHODS = ("auto", "milp", "dp", "greedy")
SOLVERS = ("auto", "highs", "cbc")

#: A reported bound may undercut the objective by this much (relative) from float rounding
#: or solver tolerances; anything more is treated as an error, never as a proof.
BOUND_RTOL = 1e-7

#: First core size (free items) handed to the MILP solver; grows x4 until proven.
CORE_START_ITEMS = 4_000

#: ``auto`` uses DP only below this many table cells (items x capacity), ~1 s of work.
AUTO_DP_MAX_CELLS = 50_000_000


def solve_knapsack(
    values: Any,
    costs: Any,
    capacities: Any,
    *,
    method: str = "auto",
    solver: str = "auto",
    time_limit: float | None = 60.0,
    gap: float = 1e-4,
    requires: Any = None,
    forced: Any = None,
    exclusive: Any = None,
    resource_names: Any = None,
    threads: int = 1,
    seed: int = 0,
    dp_memory_limit: int = DEFAULT_DP_MEMORY_LIMIT,
    fast_paths: bool = True,
    accept_greedy: bool = True,
) -> KnapsackResult:
    """Choose items maximising total value subject to one budget per resource.

    Args:
        values: (N,) non-negative importance of each item (any unit; the objective is in it).
        costs: (M, N) non-negative resource use per item, or (N,) for one resource.
        capacities: (M,) budget per resource (unit of the matching cost row), or a scalar.
        method: ``auto`` | ``milp`` | ``dp`` | ``greedy`` (see module docstring).
        solver: MILP back end, ``auto`` (HiGHS if highspy imports, else CBC) | ``highs`` |
            ``cbc``.
        time_limit: wall-clock budget of the whole call in seconds (MILP only; the solver
            gets what is left after validation and the greedy start). None = no limit.
        gap: relative optimality gap at which the MILP may stop, e.g. 1e-3 = 0.1 %.
            0 asks for a proof of optimality.
        requires: ``(children, parents)`` index arrays or a (K, 2) array of rows
            ``(child, parent)``: keeping a child requires keeping its parent.
        forced: (N,) bool mask of items that must be kept.
        exclusive: iterable of disjoint index arrays; at most one item per group is kept.
        resource_names: M names used in messages and summaries.
        threads: solver threads (MILP).
        seed: random seed handed to the MILP solver (recorded in the result).
        dp_memory_limit: largest DP decision table allowed, in bytes.
        fast_paths: use the exact shortcuts (nothing binds, equal costs).
        accept_greedy: for ``milp``, skip the solver when the greedy answer is already
            proven within ``gap``.

    Returns:
        A :class:`KnapsackResult`; its mask is always feasible and its bound always valid.

    Raises:
        ValueError: bad input (message names the problem and the fix), a method that does
            not apply (e.g. ``dp`` with two resources), or an infeasible forced set.
    """
    t0 = time.perf_counter()
    problem = KnapsackProblem.create(
        values,
        costs,
        capacities,
        requires=requires,
        forced=forced,
        exclusive=exclusive,
        resource_names=resource_names,
    )
    return solve_problem(
        problem,
        method=method,
        solver=solver,
        time_limit=time_limit,
        gap=gap,
        threads=threads,
        seed=seed,
        dp_memory_limit=dp_memory_limit,
        fast_paths=fast_paths,
        accept_greedy=accept_greedy,
        _t0=t0,
    )


def _check_options(method: str, solver: str, time_limit: float | None, gap: float) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if time_limit is not None and not (time_limit > 0 and math.isfinite(time_limit)):
        raise ValueError(
            f"time_limit must be a positive number of seconds or None, got {time_limit}"
        )
    if not (0.0 <= gap < 1.0):
        raise ValueError(f"gap must be a relative gap in [0, 1), e.g. 1e-3 for 0.1 %, got {gap}")


def _drop_useless(problem: KnapsackProblem, keep: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Drop kept zero-value items that are not fixed and not required by a kept item."""
    keep = keep.copy()
    pairs = problem.requires
    while True:
        useless = keep & (problem.values <= 0) & ~fixed
        if len(pairs) and useless.any():
            needed = np.zeros_like(keep)
            needed[pairs[keep[pairs[:, 0]], 1]] = True
            useless &= ~needed
        if not useless.any():
            return keep
        keep &= ~useless


def _equal_cost_sort(red: ReducedProblem) -> np.ndarray | None:
    """Exact top-K solution when every free item has the same cost vector, else None."""
    if not red.plain or red.m == 0 or red.n == 0:
        return None
    c = red.costs[:, 0]
    if not np.all(red.costs == c[:, None]):
        return None
    room = red.capacities + capacity_slack(red.capacities)
    k_max = red.n
    for r in np.flatnonzero(c > 0):
        k = int(math.floor(room[r] / c[r]))
        while k > 0 and k * c[r] > room[r]:
            k -= 1
        while (k + 1) * c[r] <= room[r]:
            k += 1
        k_max = min(k_max, k)
    positive = np.flatnonzero(red.values > 0)
    order = positive[np.argsort(-red.values[positive], kind="stable")]
    keep = np.zeros(red.n, dtype=bool)
    keep[order[:k_max]] = True
    return keep


def _pick_auto(problem: KnapsackProblem, red: ReducedProblem, dp_memory_limit: int) -> str:
    try:
        check_dp_applicable(problem)
    except ValueError:
        return "milp"
    size, _, cells = dp_table_bytes(red)
    if size <= dp_memory_limit and red.n * cells <= AUTO_DP_MAX_CELLS:
        return "dp"
    return "milp"


def solve_problem(
    problem: KnapsackProblem,
    *,
    method: str = "auto",
    solver: str = "auto",
    time_limit: float | None = 60.0,
    gap: float = 1e-4,
    threads: int = 1,
    seed: int = 0,
    dp_memory_limit: int = DEFAULT_DP_MEMORY_LIMIT,
    fast_paths: bool = True,
    accept_greedy: bool = True,
    _t0: float | None = None,
) -> KnapsackResult:
    """Solve a validated :class:`KnapsackProblem`; options as in :func:`solve_knapsack`."""
    t0 = time.perf_counter() if _t0 is None else _t0
    _check_options(method, solver, time_limit, gap)
    if method == "dp":
        check_dp_applicable(problem)
    red = reduce_problem(problem)

    def finish(
        local_keep: np.ndarray | None,
        bound_free: float | None = None,
        *,
        keep_full: np.ndarray | None = None,
        bound_total: float | None = None,
        used_method: str,
        solver_name: str,
        bound_source: str = "exact",
        stop: str = "optimal",
        nodes: int | None = None,
        message: str = "",
    ) -> KnapsackResult:
        """Result of ``local_keep`` (or ``keep_full``); ``bound_free`` None: proven optimal."""
        if bound_free is None:
            bound_free = float(red.values[local_keep].sum())
        if keep_full is None:
            keep_full = red.expand(local_keep)
        keep = _drop_useless(problem, keep_full, red.fixed_keep)
        broken = problem.violations(keep)
        if broken:  # a bug, not a user error: never hand out an infeasible mask
            raise RuntimeError(f"knapsack solver produced an infeasible answer: {broken}")
        objective = float(problem.values[keep].sum())
        bound = red.base_value + bound_free if bound_total is None else bound_total
        if bound < objective - BOUND_RTOL * max(1.0, abs(objective)):
            # A bound below a feasible objective is wrong; never report it as a proof.
            raise RuntimeError(
                f"knapsack bound {bound!r} ({bound_source}) is below the objective "
                f"{objective!r} of a feasible answer: a bug in rasp.knapsack"
            )
        bound = max(bound, objective)  # rounding noise only (checked just above)
        g = relative_gap(objective, bound)
        if g == 0.0:
            status = "optimal"
        elif stop in ("time_limit", "gap_limit"):
            status = stop
        else:
            status = "feasible"
        return KnapsackResult(
            keep=keep,
            objective=objective,
            bound=bound,
            gap=g,
            status=status,
            wall_seconds=time.perf_counter() - t0,
            method=used_method,
            solver=solver_name,
            bound_source=bound_source,
            used=problem.used(keep),
            capacities=problem.capacities.copy(),
            resource_names=problem.resource_names,
            time_limit=time_limit if used_method == "milp" else None,
            gap_tolerance=gap if used_method == "milp" else None,
            nodes=nodes,
            seed=seed,
            message=message,
        )

    if method == "auto":
        method = _pick_auto(problem, red, dp_memory_limit)

    if fast_paths:
        if not red.n or not (red.m or red.exclusive):  # no capacity binds, nothing exclusive
            return finish(
                ancestors_closure(red.values > 0, red.requires),
                used_method=method,
                solver_name="trivial (no capacity binds)",
                message="fast path: the free items fit together; all positive-value items kept",
            )
        keep = _equal_cost_sort(red)
        if keep is not None:
            return finish(
                keep,
                used_method=method,
                solver_name="equal-cost sort",
                message="fast path: all free items have equal costs; top-K by value is optimal",
            )

    if method == "dp":
        return finish(dp_solve(red, dp_memory_limit), used_method="dp", solver_name="numpy-dp")

    bound: KnapsackBound = best_bound(red)
    keep, greedy_name = greedy_solve(red, bound.prices)
    if method == "greedy":
        return finish(
            keep,
            bound.value,
            used_method="greedy",
            solver_name=greedy_name,
            bound_source=bound.source,
            stop="feasible",
        )

    # method == "milp"
    total = red.base_value + float(red.values[keep].sum())
    early = None  # (stop, why the MILP solver did not run, message)
    if accept_greedy and relative_gap(total, red.base_value + bound.value) <= gap:
        early = ("gap_limit", "MILP solver not needed",
                 "greedy answer already proven within the requested gap")
    elif time_limit is not None and time_limit - (time.perf_counter() - t0) <= 0:
        early = ("time_limit", "time limit reached before the MILP solver", "")
    if early is not None:
        return finish(keep, bound.value, used_method="milp",
                      solver_name=f"{greedy_name}; {early[1]}", bound_source=bound.source,
                      stop=early[0], message=early[2])
    return _milp_core_loop(
        problem,
        red,
        bound,
        keep,
        greedy_name,
        finish,
        solver=solver,
        gap=gap,
        deadline=None if time_limit is None else t0 + time_limit,
        threads=threads,
        seed=seed,
    )


def _milp_core_loop(
    problem: KnapsackProblem,
    red: ReducedProblem,
    bound: KnapsackBound,
    greedy_keep: np.ndarray,
    greedy_name: str,
    finish,
    *,
    solver: str,
    gap: float,
    deadline: float | None,
    threads: int,
    seed: int,
) -> KnapsackResult:
    """MILP on cores defined by reduced-cost fixing (see the module docstring).

    Items whose bound drop ``D_i`` at the Lagrangian prices is large are fixed at their
    inner-problem choice; fixings with ``L - D_i`` below the best known value are proven.
    The bound ``min(L, max(core bound, L - min D over fixed items))`` is valid whether or
    not they are: an answer that disagrees with a fixing of item ``i`` is worth at most
    ``L - D_i``.
    """
    backend = solver
    if backend == "auto":
        backend = "highs" if highs_available() else "cbc"
    run = solve_highs if backend == "highs" else solve_cbc
    abs_gap = 1e-10 * max(1.0, float(red.values.sum()))
    data = fixing_data(red, bound.prices)
    lagrangian = red.base_value + bound.value
    best_full = red.expand(greedy_keep)
    best_total = red.base_value + float(red.values[greedy_keep].sum())
    slack = capacity_slack(red.capacities)
    finite = np.sort(data.drop[np.isfinite(data.drop)])
    n_unfixable = red.n - finite.size
    notes: list[str] = []
    target = CORE_START_ITEMS
    while True:
        tol = BOUND_RTOL * max(1.0, abs(best_total))
        fix_keep, fix_drop, outside = fix_items(red, data, best_total - red.base_value - tol)
        proven = True
        k = target - n_unfixable
        if red.n - int(fix_keep.sum() + fix_drop.sum()) > target and 0 < k < finite.size:
            h_keep, h_drop, h_out = fix_items(red, data, data.upper - finite[k])
            if (red.costs[:, h_keep].sum(axis=1) <= red.capacities + slack).all():
                fix_keep, fix_drop, outside, proven = h_keep, h_drop, h_out, False
        fixed = fix_keep | fix_drop
        core = restrict(red, fix_keep, fix_drop) if fixed.any() else red
        agrees = greedy_keep[fix_keep].all() and not greedy_keep[fix_drop].any()
        start = greedy_keep[~fixed] if agrees else None
        notes.append(f"core of {core.n}/{red.n} free items" + (" (proven)" if proven else ""))
        remaining = None if deadline is None else deadline - time.perf_counter()
        out = None
        core_bound = core.base_value  # an empty core: its only answer is the fixings
        stop = "optimal"
        if core.n and remaining is not None and remaining <= 0:
            core_bound, stop = math.inf, "time_limit"
        elif core.n:
            out = run(
                core,
                start,
                time_limit=remaining,
                gap=gap,
                abs_gap=abs_gap,
                threads=threads,
                seed=seed,
            )
            stop = out.stop
            core_bound = core.base_value + out.bound
            if out.keep is not None:
                full = core.expand(out.keep)
                broken = problem.violations(full)
                value = core.base_value + float(core.values[out.keep].sum())
                if broken:
                    notes.append(f"solver answer rejected ({broken[0]})")
                    log.warning("MILP answer violates %s; ignored", broken[0])
                else:
                    if core_bound < value - BOUND_RTOL * max(1.0, abs(value)):
                        notes.append(f"solver bound {core_bound!r} below its answer, ignored")
                        core_bound = math.inf
                    if value > best_total:
                        best_full, best_total = full, value
        tol = BOUND_RTOL * max(1.0, abs(best_total))
        proven = proven or red.base_value + outside < best_total - tol
        outside_total = red.base_value + outside
        glob = min(lagrangian, max(core_bound, outside_total))
        out_of_time = stop == "time_limit" or (
            deadline is not None and time.perf_counter() >= deadline
        )
        if proven or relative_gap(best_total, glob) <= gap or out_of_time or core.n == red.n:
            if out_of_time and relative_gap(best_total, glob) > gap:
                stop = "time_limit"
            if glob >= lagrangian:
                source = bound.source
            elif core_bound >= outside_total and out is not None:
                source = f"{out.solver} dual bound" + ("" if proven else " on the core")
            else:
                source = "reduced-cost fixing"
            return finish(
                None,
                0.0,
                keep_full=best_full,
                bound_total=glob,
                used_method="milp",
                solver_name=(
                    out.solver
                    if out is not None
                    else f"{greedy_name}; "
                    + ("proven by reduced-cost fixing" if core.n == 0 else "no time for the solver")
                ),
                bound_source=source,
                stop=stop,
                nodes=None if out is None else out.nodes,
                message="; ".join(([out.message] if out is not None else []) + notes),
            )
        target *= 4
