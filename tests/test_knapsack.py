"""Tests of rasp.knapsack against brute force over all subsets of small instances."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from scipy.optimize import linprog

from rasp.knapsack import (
    KnapsackProblem,
    coupled_dsp_bram_problem,
    relative_gap,
    solve_knapsack,
    solve_problem,
    synthetic_pruning_instance,
)
from rasp.knapsack.bounds import lagrangian_bound
from rasp.knapsack.milp import parse_cbc_bound
from rasp.knapsack.problem import reduce_problem

EXACT = dict(gap=0.0, time_limit=30.0, fast_paths=False, accept_greedy=False)


def brute_force(p: KnapsackProblem) -> float | None:
    """Best objective over all 2^N subsets, or None when no subset is feasible."""
    n = p.n_items
    subsets = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)
    slack = 1e-9 * np.maximum(1.0, p.capacities)
    ok = (subsets.astype(float) @ p.costs.T <= p.capacities + slack).all(axis=1)
    if len(p.requires):
        ok &= ~(subsets[:, p.requires[:, 0]] & ~subsets[:, p.requires[:, 1]]).any(axis=1)
    if p.forced is not None:
        ok &= subsets[:, p.forced].all(axis=1)
    for g in p.exclusive:
        ok &= subsets[:, g].sum(axis=1) <= 1
    if not ok.any():
        return None
    return float((subsets[ok].astype(float) @ p.values).max())


def random_problem(seed: int) -> tuple[KnapsackProblem, dict]:
    """Random instance with N <= 14, M <= 3 and a random mix of structure."""
    rng = np.random.default_rng(seed)
    kind = ["plain", "requires", "coupled", "forced", "exclusive", "all"][seed % 6]
    if kind == "coupled":
        n_cols = int(rng.integers(1, 5))
        n_pat = int(rng.integers(1, 15 - n_cols))
        cp = coupled_dsp_bram_problem(
            rng.lognormal(size=n_pat) * (rng.random(n_pat) > 0.1),
            rng.integers(0, 3, n_pat),
            rng.integers(-1, n_cols, n_pat),
            rng.integers(1, 3, n_cols),
            dsp_budget=float(rng.integers(0, n_pat + 1)),
            bram_budget=float(rng.integers(0, 2 * n_cols + 1)),
        )
        return cp.problem, {"kind": kind, "integer": True}
    n = int(rng.integers(1, 15))
    m = int(rng.integers(1, 4))
    integer = bool(rng.random() < 0.7)
    if integer:
        values = rng.integers(0, 30, n).astype(float)
        costs = rng.integers(0, 12, (m, n)).astype(float)
    else:
        values = rng.lognormal(size=n) * (rng.random(n) > 0.15)
        costs = rng.random((m, n)) * 10 * (rng.random((m, n)) > 0.1)
    caps = np.floor(rng.uniform(0.1, 0.9, m) * costs.sum(axis=1))
    requires = forced = exclusive = None
    if kind in ("requires", "all"):
        pairs = [(i, int(rng.integers(0, i))) for i in range(1, n) if rng.random() < 0.4]
        pairs += [(i, int(rng.integers(0, i))) for i in range(1, n) if rng.random() < 0.1]
        if pairs:
            requires = np.array(pairs)
    if kind in ("forced", "all"):
        forced = rng.random(n) < 0.15
    if kind in ("exclusive", "all"):
        perm = rng.permutation(n)
        exclusive = [perm[:3], perm[3:5]]
    p = KnapsackProblem.create(
        values, costs, caps, requires=requires, forced=forced, exclusive=exclusive
    )
    return p, {"kind": kind, "integer": integer}


def assert_feasible(p: KnapsackProblem, keep: np.ndarray) -> None:
    assert keep.dtype == bool and keep.shape == (p.n_items,)
    assert p.violations(keep) == []


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-7 * max(1.0, abs(b))


@pytest.mark.parametrize("seed", range(72))
def test_methods_against_brute_force(seed):
    p, info = random_problem(seed)
    best = brute_force(p)
    if best is None:  # only an infeasible forced set can make every subset infeasible
        with pytest.raises(ValueError, match="infeasible forced set"):
            solve_problem(p, method="greedy")
        return
    for solver in ("highs", "cbc"):
        r = solve_problem(p, method="milp", solver=solver, **EXACT)
        assert_feasible(p, r.keep)
        assert close(r.objective, best), (solver, r.objective, best, info)
        assert r.status == "optimal" and r.gap == 0.0
        assert r.bound >= best - 1e-9
    dp_ok = p.n_resources == 1 and len(p.requires) == 0 and info["integer"]
    if dp_ok:
        r = solve_problem(p, method="dp", fast_paths=False)
        assert_feasible(p, r.keep)
        assert close(r.objective, best) and r.status == "optimal"
    g = solve_problem(p, method="greedy")
    assert_feasible(p, g.keep)
    assert g.bound >= best - 1e-9 * max(1.0, best), (g.bound, best, info)
    assert g.objective <= best + 1e-9
    assert g.gap == relative_gap(g.objective, g.bound)
    assert g.status in ("optimal", "feasible")
    if g.status == "optimal":
        assert close(g.objective, best)
    auto = solve_problem(p)  # defaults: auto method, fast paths on
    assert_feasible(p, auto.keep)
    assert auto.objective >= best * (1 - 1e-4) - 1e-9
    assert auto.bound >= best - 1e-9


def test_coupled_trades_dsp_against_bram():
    # Two columns of two patterns. Column 0 holds the two best patterns, but only one BRAM
    # is allowed: the solver must keep both patterns of one column rather than the two
    # individually best patterns spread over two columns.
    cp = coupled_dsp_bram_problem(
        pattern_values=[5.0, 1.0, 4.0, 3.0],
        pattern_dsp=[1, 1, 1, 1],
        pattern_column=[0, 0, 1, 1],
        column_bram=[1, 1],
        dsp_budget=2,
        bram_budget=1,
    )
    for solver in ("highs", "cbc"):
        r = cp.solve(method="milp", solver=solver, **EXACT)
        assert r.objective == pytest.approx(7.0)
        assert cp.pattern_keep(r).tolist() == [False, False, True, True]
        assert cp.column_keep(r).tolist() == [False, True]
    g = cp.solve(method="greedy")
    assert g.bound >= 7.0 - 1e-9
    assert_feasible(cp.problem, g.keep)


def test_coupled_columns_follow_patterns():
    inst = synthetic_pruning_instance(400, seed=3)
    cp = inst.coupled(0.4, 0.5)
    for method in ("milp", "greedy"):
        r = cp.solve(method=method, gap=1e-6)
        pk, ck = cp.pattern_keep(r), cp.column_keep(r)
        stored_in_kept = np.zeros(cp.n_columns, dtype=bool)
        stored_in_kept[inst.column[pk]] = True
        assert (ck == stored_in_kept).all()  # no orphan columns, no missing columns
        assert r.used[0] <= r.capacities[0] and r.used[1] <= r.capacities[1]
        assert r.used[1] == inst.column_bram[ck].sum()


def test_coupled_builder_patterns_without_column_and_single_budget():
    cp = coupled_dsp_bram_problem([1.0, 2.0, 3.0], [1, 1, 1], [-1, 0, 0], [1], 2, None)
    assert cp.problem.resource_names == ("dsp",)
    r = cp.solve(method="milp", **EXACT)
    assert r.objective == pytest.approx(5.0)
    with pytest.raises(ValueError, match="at least one"):
        coupled_dsp_bram_problem([1.0], [1], [0], [1], None, None)
    with pytest.raises(ValueError, match=r"pattern_column must be in \[0, 0\]"):
        coupled_dsp_bram_problem([1.0], [1], [1], [1], 1, 1)


# ----------------------------------------------------------------- edge cases


@pytest.mark.parametrize("method", ["milp", "dp", "greedy", "auto"])
def test_everything_fits(method):
    v = np.array([3.0, 0.0, 2.0, 1.0])
    r = solve_knapsack(v, [1, 2, 3, 4], 100, method=method)
    assert r.keep.tolist() == [True, False, True, True]  # zero-value item not kept
    assert r.objective == 6.0 and r.bound == 6.0 and r.status == "optimal"
    r2 = solve_knapsack(v, [1, 2, 3, 4], 100, method=method, fast_paths=False)
    assert r2.objective == 6.0 and r2.status == "optimal"


@pytest.mark.parametrize("method", ["milp", "dp", "greedy"])
@pytest.mark.parametrize("fast", [True, False])
def test_nothing_fits(method, fast):
    r = solve_knapsack([3.0, 2.0], [5, 6], 4, method=method, fast_paths=fast)
    assert not r.keep.any() and r.objective == 0.0 and r.bound == 0.0
    assert r.status == "optimal" and r.gap == 0.0
    r = solve_knapsack([3.0, 2.0], [5, 6], 0, method=method, fast_paths=fast)
    assert not r.keep.any() and r.status == "optimal"


@pytest.mark.parametrize("method", ["milp", "dp", "greedy"])
def test_zero_values(method):
    r = solve_knapsack(np.zeros(5), [1, 1, 2, 2, 3], 4, method=method, fast_paths=False)
    assert r.objective == 0.0 and r.bound == 0.0 and r.status == "optimal"
    assert not r.keep.any()


@pytest.mark.parametrize("method", ["milp", "dp", "greedy"])
def test_ties(method):
    # Every item has value 2 and cost 2; any 3 of the 6 are optimal.
    r = solve_knapsack(np.full(6, 2.0), np.full(6, 2), 7, method=method, fast_paths=False)
    assert r.objective == 6.0 and r.n_kept == 3
    r = solve_knapsack(np.full(6, 2.0), np.full(6, 2), 7, method=method)
    assert r.solver == "equal-cost sort" and r.objective == 6.0 and r.gap == 0.0


def test_empty_problem():
    r = solve_knapsack(np.zeros(0), np.zeros((2, 0)), [1, 1])
    assert r.keep.shape == (0,) and r.objective == 0.0 and r.status == "optimal"


def test_equal_cost_fast_path_is_exact_and_fast():
    rng = np.random.default_rng(0)
    v = rng.lognormal(size=14)
    p = KnapsackProblem.create(v, np.full((2, 14), 3.0), [20.0, 31.0])
    r = solve_problem(p, method="milp")
    assert r.solver == "equal-cost sort" and r.status == "optimal"
    assert close(r.objective, brute_force(p))
    assert r.n_kept == 6  # floor(20 / 3)
    big = rng.lognormal(size=200_000)
    t = time.perf_counter()
    r = solve_knapsack(big, np.ones(200_000), 50_000, method="milp")
    assert time.perf_counter() - t < 2.0
    assert r.n_kept == 50_000 and r.gap == 0.0
    assert r.objective == pytest.approx(np.sort(big)[-50_000:].sum())
    # With forced items the top-K is taken among the others.
    forced = np.zeros(14, dtype=bool)
    forced[np.argmin(v)] = True
    p = KnapsackProblem.create(v, np.ones(14), 5, forced=forced)
    r = solve_problem(p, method="greedy")
    assert r.solver == "equal-cost sort" and close(r.objective, brute_force(p))


def test_dp_exact_on_medium_instance():
    rng = np.random.default_rng(5)
    n = 300
    v = rng.lognormal(size=n)
    c = rng.integers(1, 30, n)
    cap = int(c.sum() * 0.3)
    dp = solve_knapsack(v, c, cap, method="dp")
    mi = solve_knapsack(v, c, cap, method="milp", solver="highs", **EXACT)
    assert dp.status == "optimal" and mi.status == "optimal"
    assert close(dp.objective, mi.objective)
    # gcd scaling and capacity clipping do not change the answer
    dp10 = solve_knapsack(v, 10 * c, 10 * cap + 5, method="dp")
    assert close(dp10.objective, dp.objective)


def test_dp_exclusive_groups():
    v = np.array([5.0, 6.0, 7.0, 1.0, 2.0])
    c = np.array([2, 3, 4, 1, 1])
    groups = [[0, 1, 2], [3, 4]]
    p = KnapsackProblem.create(v, c, 5, exclusive=groups)
    best = brute_force(p)
    r = solve_problem(p, method="dp")
    assert close(r.objective, best) and r.keep[[0, 1, 2]].sum() <= 1


def test_greedy_bound_valid_on_larger_instances():
    for seed in range(3):
        inst = synthetic_pruning_instance(600, seed=seed)
        for p in (inst.plain(1, 0.3), inst.plain(2, 0.4), inst.coupled(0.3, 0.3).problem):
            exact = solve_problem(p, method="milp", solver="highs", **EXACT)
            assert exact.status == "optimal"
            g = solve_problem(p, method="greedy")
            assert_feasible(p, g.keep)
            assert g.bound >= exact.objective - 1e-9 * exact.objective
            assert g.objective >= 0.99 * exact.objective


def test_lagrangian_bound_reaches_lp_relaxation():
    inst = synthetic_pruning_instance(300, seed=7)
    for p in (inst.plain(2, 0.4), inst.coupled(0.35, 0.3).problem):
        red = reduce_problem(p)
        b = lagrangian_bound(red)
        n = red.n
        rows = [red.costs]
        ub = [red.capacities]
        if len(red.requires):
            a = np.zeros((len(red.requires), n))
            a[np.arange(len(red.requires)), red.requires[:, 0]] = 1
            a[np.arange(len(red.requires)), red.requires[:, 1]] = -1
            rows.append(a)
            ub.append(np.zeros(len(red.requires)))
        lp = linprog(-red.values, A_ub=np.vstack(rows), b_ub=np.concatenate(ub), bounds=(0, 1))
        assert lp.status == 0
        assert b.value >= -lp.fun - 1e-7 * abs(lp.fun)  # valid
        assert b.value <= -lp.fun * (1 + 1e-6)  # and as tight as the LP


def test_forced_and_exclusive_are_respected():
    v = np.array([1.0, 10.0, 10.0, 3.0])
    c = np.array([[2, 2, 2, 1]])
    forced = np.array([True, False, False, False])
    p = KnapsackProblem.create(v, c, [4], forced=forced, exclusive=[[1, 2]])
    for method in ("milp", "greedy", "dp"):
        r = solve_problem(p, method=method)
        assert r.keep[0] and r.keep[[1, 2]].sum() == 1
        assert r.objective == pytest.approx(11.0)
    # forced child pulls in its parent even when the parent has no value
    p = KnapsackProblem.create(
        [1.0, 0.0, 5.0], [[1, 2, 1]], [3], requires=([0], [1]), forced=np.array([1, 0, 0], bool)
    )
    r = solve_problem(p, method="milp")
    assert r.keep.tolist() == [True, True, False]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(values=[1.0, -2.0], costs=[1, 1], capacities=1), "values must be >= 0"),
        (dict(values=[1.0, np.nan], costs=[1, 1], capacities=1), "NaN"),
        (dict(values=[1.0, 2.0], costs=[1, np.nan], capacities=1), "costs contains NaN"),
        (dict(values=[1.0, 2.0], costs=[1, 1], capacities=np.nan), "capacities contains NaN"),
        (dict(values=[1.0, 2.0], costs=[1, np.inf], capacities=1), "inf"),
        (dict(values=[1.0, 2.0], costs=[1, -1], capacities=1), "costs must be >= 0"),
        (dict(values=[1.0, 2.0], costs=[1, 1], capacities=-1), "budgets must be >= 0"),
        (dict(values=[1.0, 2.0], costs=[1, 1, 1], capacities=1), "costs has shape"),
        (dict(values=[1.0, 2.0], costs=np.ones((2, 3)), capacities=[1, 1]), "costs has shape"),
        (dict(values=[1.0, 2.0], costs=np.ones((2, 2)), capacities=[1]), "one capacity per row"),
        (dict(values=[[1.0, 2.0]], costs=[1, 1], capacities=1), "values must have 1"),
    ],
)
def test_input_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_knapsack(**kwargs)


def test_transposed_costs_hint():
    with pytest.raises(ValueError, match="looks transposed"):
        solve_knapsack([1.0, 2.0, 3.0], np.ones((3, 2)), [1, 1])


def test_dp_errors():
    with pytest.raises(ValueError, match="integer costs, item 1 costs 1.5"):
        solve_knapsack([1.0, 2.0], [1, 1.5], 2, method="dp")
    with pytest.raises(ValueError, match="integer capacity, got 2.5.*capacity 2"):
        solve_knapsack([1.0, 2.0], [1, 1], 2.5, method="dp")
    with pytest.raises(ValueError, match="exactly one resource"):
        solve_knapsack([1.0, 2.0], np.ones((2, 2)), [1, 1], method="dp")
    with pytest.raises(ValueError, match="does not support requires"):
        solve_knapsack([1.0, 2.0], [1, 1], 1, method="dp", requires=([0], [1]))
    with pytest.raises(ValueError, match="dp_memory_limit"):
        solve_knapsack(
            np.arange(1.0, 101.0), np.arange(1, 101), 3000, method="dp", dp_memory_limit=1000
        )
    # auto falls back to milp when the DP table would not fit
    r = solve_knapsack(
        np.arange(1.0, 101.0), np.arange(1, 101), 3000, method="auto", dp_memory_limit=1000
    )
    assert r.method == "milp"


def test_infeasible_forced_set_says_by_how_much():
    forced = np.array([True, True, False])
    with pytest.raises(ValueError, match=r"resource1: forced use 9 > capacity 5 \(over by 4\)"):
        solve_knapsack([1.0, 1.0, 1.0], [[1, 1, 1], [4, 5, 1]], [10, 5], forced=forced)
    with pytest.raises(ValueError, match="exclusive group 0 contains 2 forced"):
        solve_knapsack([1.0, 1.0], [1, 1], 5, forced=np.array([1, 1], bool), exclusive=[[0, 1]])
    with pytest.raises(ValueError, match="including 1 item"):  # the parent pushes it over
        solve_knapsack([1.0, 0.0], [2, 2], 3, forced=np.array([True, False]), requires=([0], [1]))


def test_structure_errors():
    with pytest.raises(ValueError, match="cycle"):
        solve_knapsack([1.0, 1.0, 1.0], [1, 1, 1], 2, requires=([0, 1, 2], [1, 2, 0]))
    with pytest.raises(ValueError, match="requiring themselves"):
        solve_knapsack([1.0, 1.0], [1, 1], 2, requires=([0], [0]))
    with pytest.raises(ValueError, match="outside"):
        solve_knapsack([1.0, 1.0], [1, 1], 2, requires=([0], [5]))
    with pytest.raises(ValueError, match="disjoint"):
        solve_knapsack([1.0, 1.0, 1.0], [1, 1, 1], 2, exclusive=[[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="bool mask"):
        solve_knapsack([1.0, 1.0], [1, 1], 2, forced=[0, 1])
    with pytest.raises(ValueError, match="method must be one of"):
        solve_knapsack([1.0], [1], 1, method="ortools")
    with pytest.raises(ValueError, match="solver must be one of"):
        solve_knapsack([1.0], [1], 1, solver="gurobi")
    with pytest.raises(ValueError, match="gap must be"):
        solve_knapsack([1.0], [1], 1, gap=1.5)
    with pytest.raises(ValueError, match="time_limit"):
        solve_knapsack([1.0], [1], 1, time_limit=0)


# ------------------------------------------------------- solver reporting


def test_time_limit_is_honoured_and_bound_reported():
    # Strongly correlated two-resource knapsack (value = weight + constant): hard to
    # prove optimal, so the solvers must stop on time and still report a valid bound.
    rng = np.random.default_rng(11)
    n = 4000
    w = rng.integers(100, 1000, (2, n)).astype(float)
    v = w.sum(axis=0) + 100.0
    caps = np.floor(w.sum(axis=1) * 0.37)
    for solver in ("highs", "cbc"):
        t = time.perf_counter()
        r = solve_knapsack(v, w, caps, method="milp", solver=solver, gap=0.0, time_limit=2.0)
        elapsed = time.perf_counter() - t
        assert elapsed < 2.0 + 3.0, (solver, elapsed)
        assert r.status in ("time_limit", "optimal")
        assert r.bound >= r.objective and math.isfinite(r.bound)
        assert r.gap < 1e-3  # a weak bound would show up here
        assert r.gap == relative_gap(r.objective, r.bound)
        assert_feasible(KnapsackProblem.create(v, w, caps), r.keep)


def test_gap_tolerance_and_accept_greedy():
    inst = synthetic_pruning_instance(3000, seed=2)
    p = inst.plain(2, 0.5)
    r = solve_problem(p, method="milp", gap=1e-2)
    assert r.status in ("gap_limit", "optimal") and r.gap <= 1e-2
    assert "MILP solver not needed" in r.solver
    r = solve_problem(p, method="milp", gap=1e-2, accept_greedy=False, solver="highs")
    assert r.solver.startswith("highs") and r.gap <= 1e-2


def test_seeded_runs_are_reproducible():
    inst = synthetic_pruning_instance(2000, seed=4)
    p = inst.coupled(0.3, 0.3).problem
    a = solve_problem(p, method="milp", solver="highs", seed=3, accept_greedy=False, gap=0.0)
    b = solve_problem(p, method="milp", solver="highs", seed=3, accept_greedy=False, gap=0.0)
    assert (a.keep == b.keep).all() and a.seed == 3


def test_summary_is_json():
    r = solve_knapsack(
        [3.0, 2.0, 1.0], [[1, 2, 3], [2, 2, 2]], [3, 4], resource_names=["dsp", "bram"]
    )
    s = json.loads(json.dumps(r.summary()))
    assert s["used"] == {"dsp": 3.0, "bram": 4.0} and s["n_kept"] == 2


def test_parse_cbc_bound_from_log_lines():
    time_limit_log = (
        "Cbc0005I Partial search - best objective -26192.051 (best possible -26192.101), "
        "took 213 iterations\n\nResult - Stopped on time limit\n\n"
        "Objective value:                26192.05060303\n"
        "Upper bound:                    26192.101\n"
    )
    b, how = parse_cbc_bound(time_limit_log, 26192.05060303, 0.0)
    assert how == "upper bound line" and b == pytest.approx(26192.102)
    gap_log = (
        "Cbc0011I Exiting as integer gap of 0.050637258 less than 1e-10 or 0.001%\n"
        "Result - Optimal solution found (within gap tolerance)\n"
    )
    b, how = parse_cbc_bound(gap_log, 100.0, 1e-5)
    assert how == "integer gap" and b == pytest.approx(100.050637259)
    b, how = parse_cbc_bound("Result - Optimal solution found\n", 50.0, 0.0, 1e-6)
    assert b == 50.0 + 1e-6 and how == "optimal"
    b, how = parse_cbc_bound("Result - Optimal solution found\n", 50.0, 0.01)
    assert b == math.inf  # CBC's ratio gap is relative to an unprinted root LP value
    b, how = parse_cbc_bound("Cbc0005I best possible -12.5)\n", 10.0, 0.0)
    assert b == pytest.approx(12.6)
    assert parse_cbc_bound("garbage", 1.0, 0.0)[0] == math.inf


def test_vectorised_plain_fill_matches_item_by_item_scan():
    from rasp.knapsack.greedy import _plain_fill
    from rasp.knapsack.problem import capacity_slack

    rng = np.random.default_rng(1)
    for trial in range(20):
        n, m = int(rng.integers(1, 400)), int(rng.integers(1, 4))
        costs = rng.integers(0, 6, (m, n)).astype(float)
        p = KnapsackProblem.create(
            rng.random(n) + 0.01, costs, np.floor(rng.uniform(0.05, 0.6, m) * costs.sum(1))
        )
        red = reduce_problem(p)
        order = rng.permutation(red.n)
        res = red.capacities + capacity_slack(red.capacities)
        expected = np.zeros(red.n, dtype=bool)
        for i in order:
            if (red.costs[:, i] <= res).all():
                res = res - red.costs[:, i]
                expected[i] = True
        for rounds in (1, 3, 64):
            assert (_plain_fill(red, order, max_rounds=rounds) == expected).all(), trial


def test_reduced_cost_fixing_keeps_milp_exact():
    from rasp.knapsack.bounds import reduced_cost_fixing
    from rasp.knapsack.greedy import greedy_solve
    from rasp.knapsack.milp import solve_highs

    rng = np.random.default_rng(3)
    n = 150
    exclusive = [np.arange(k, k + 3) for k in range(0, 30, 3)]
    pairs = np.array([(i, int(rng.integers(0, i))) for i in range(40, n) if rng.random() < 0.3])
    problems = [
        synthetic_pruning_instance(800, seed=9).coupled(0.3, 0.35).problem,
        synthetic_pruning_instance(800, seed=9).plain(2, 0.4),
        KnapsackProblem.create(
            rng.lognormal(size=n),
            rng.integers(1, 20, (2, n)),
            [400, 500],
            requires=pairs,
            exclusive=exclusive,
        ),
    ]
    for p in problems:
        red = reduce_problem(p)
        b = lagrangian_bound(red)
        keep, _ = greedy_solve(red, b.prices)
        fix_keep, fix_drop, n_fixed = reduced_cost_fixing(red, b.prices, red.values[keep].sum())
        assert n_fixed > 0
        ref = solve_highs(red, None, time_limit=60, gap=0.0, abs_gap=1e-12, threads=1, seed=0)
        best = red.values[ref.keep]
        # the proven optimum agrees with every fixing
        assert ref.keep[fix_keep].all() and not ref.keep[fix_drop].any()
        r = solve_problem(p, method="milp", gap=0.0, accept_greedy=False)
        assert r.status == "optimal" and close(r.objective, red.base_value + best.sum())


def test_core_rounds_stay_exact(monkeypatch):
    """Tiny cores force heuristic fixings and several rounds; the answer must stay exact."""
    import rasp.knapsack.solve as solve_module
    from rasp.knapsack.milp import solve_highs

    monkeypatch.setattr(solve_module, "CORE_START_ITEMS", 20)
    for seed, p in [
        (0, synthetic_pruning_instance(500, seed=21).coupled(0.25, 0.3).problem),
        (1, synthetic_pruning_instance(500, seed=22).plain(2, 0.3)),
    ]:
        red = reduce_problem(p)
        ref = solve_highs(red, None, time_limit=60, gap=0.0, abs_gap=1e-12, threads=1, seed=0)
        best = red.base_value + red.values[ref.keep].sum()
        for solver in ("highs", "cbc"):
            r = solve_problem(p, method="milp", solver=solver, gap=0.0, accept_greedy=False)
            assert "core of" in r.message, seed
            assert r.status == "optimal" and close(r.objective, best), (seed, solver, r.message)
            assert r.bound >= best - 1e-9 * best
