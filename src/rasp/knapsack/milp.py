"""Exact 0-1 MILP for the reduced knapsack, solved by HiGHS (highspy) or CBC (PuLP).

Formulation over the free items ``x_i in {0, 1}``::

    maximise    sum_i v_i x_i
    subject to  sum_i c_ri x_i <= b_r            for every resource r that can bind
                x_child - x_parent <= 0          for every (child, parent) requirement
                sum_{i in G} x_i <= 1            for every exclusive group G

Both back ends receive the relative gap tolerance and the time limit (seconds), HiGHS also
the greedy answer as a starting incumbent (CBC 2.10.3 mishandles starts, see below), and
both report their best bound:

- HiGHS: built directly through highspy's column-wise matrix API (PuLP's model building is
  the bottleneck at 10^5 items); the bound is ``info.mip_dual_bound``. HiGHS' presolve is
  switched off: in 1.15.1 it takes > 30 s on a single-row knapsack of 20,000 items and
  ignores the time limit meanwhile, while the solve itself takes 0.1 s.
- CBC: the binary bundled with PuLP, through ``pulp.COIN_CMD`` (``PULP_CBC_CMD`` is
  deprecated in PuLP 3.3), with CBC's preprocessing off (it takes minutes on a one-row
  knapsack of 10^5 items and ignores the time limit meanwhile). No MIP start is passed:
  with a start and preprocessing off, CBC 2.10.3 was seen to stop at the start and report
  it optimal although a better answer existed (on a 3-item knapsack). PuLP does not
  expose CBC's bound, so CBC's log is written to a temporary file and parsed (``Exiting
  as integer gap of G`` -> objective + G; ``Upper bound: B``; ``best possible -B``);
  printed numbers are rounded, so one unit of their last printed digit is added.
  "Optimal solution found" with gap tolerance 0 means objective + absolute tolerance;
  with a relative tolerance CBC prunes against its (unprinted) root LP value, so no bound
  is taken from it and the Lagrangian bound is reported instead.

Solutions are rounded to 0/1 and re-checked against every constraint in exact arithmetic;
a solution that fails the check is discarded in favour of the greedy incumbent.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from rasp.knapsack.problem import ReducedProblem

log = logging.getLogger(__name__)


@dataclass
class MilpOutcome:
    """Raw outcome of one MILP run on a reduced problem (local indices).

    ``keep`` is None when the solver returned no solution; ``bound`` (value units, free
    items only, i.e. without ``base_value``) is ``inf`` when the solver proved nothing.
    ``stop`` is ``optimal``, ``gap_limit``, ``time_limit`` or ``other``.
    """

    keep: np.ndarray | None
    bound: float
    stop: str
    solver: str
    nodes: int | None
    message: str = ""


def constraint_matrix(red: ReducedProblem) -> tuple[sp.csc_matrix, np.ndarray]:
    """Rows: capacities, then requirements, then exclusive groups; returns (A, upper)."""
    n = red.n
    blocks = [sp.csr_matrix(red.costs) if red.m else sp.csr_matrix((0, n))]
    upper = [red.capacities]
    k = len(red.requires)
    if k:
        rows = np.repeat(np.arange(k), 2)
        cols = red.requires.reshape(-1)
        vals = np.tile([1.0, -1.0], k)
        blocks.append(sp.csr_matrix((vals, (rows, cols)), shape=(k, n)))
        upper.append(np.zeros(k))
    if red.exclusive:
        sizes = [len(g) for g in red.exclusive]
        rows = np.repeat(np.arange(len(sizes)), sizes)
        cols = np.concatenate(red.exclusive)
        blocks.append(sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(len(sizes), n)))
        upper.append(np.ones(len(sizes)))
    return sp.vstack(blocks, format="csc"), np.concatenate(upper)


def highs_available() -> bool:
    try:
        import highspy  # noqa: F401
    except ImportError:
        return False
    return True


def solve_highs(
    red: ReducedProblem,
    start: np.ndarray | None,
    *,
    time_limit: float | None,
    gap: float,
    abs_gap: float,
    threads: int,
    seed: int,
) -> MilpOutcome:
    """Solve with HiGHS through highspy; ``start`` is a feasible local keep mask or None."""
    import highspy

    n = red.n
    A, upper = constraint_matrix(red)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = A.shape[0]
    lp.col_cost_ = red.values.astype(np.float64)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.full(A.shape[0], -highspy.kHighsInf)
    lp.row_upper_ = upper.astype(np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(np.float64)
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = A.shape[0]
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    lp.sense_ = highspy.ObjSense.kMaximize
    h.passModel(lp)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(max(time_limit, 1e-3)))
    h.setOptionValue("mip_rel_gap", float(gap))
    h.setOptionValue("mip_abs_gap", float(abs_gap))
    h.setOptionValue("random_seed", int(seed) % 2147483647)
    h.setOptionValue("threads", int(threads))
    # Presolve off (see the module docstring); reduce_problem already did the useful part.
    h.setOptionValue("presolve", "off")
    if start is not None:
        h.setSolution(int(n), np.arange(n, dtype=np.int32), start.astype(np.float64))
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    version = f"highs {h.version()}" if hasattr(h, "version") else "highs"
    M = highspy.HighsModelStatus
    stop = {M.kOptimal: "gap_limit", M.kTimeLimit: "time_limit"}.get(status, "other")
    keep = None
    if info.primal_solution_status == 2:  # kSolutionStatusFeasible
        keep = np.asarray(h.getSolution().col_value) > 0.5
    bound = float(info.mip_dual_bound)
    if not math.isfinite(bound):
        bound = math.inf
    return MilpOutcome(
        keep=keep,
        bound=bound,
        stop=stop,
        solver=version,
        nodes=int(info.mip_node_count),
        message=f"HiGHS status {h.modelStatusToString(status)}",
    )


_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"


def _last_digit_unit(text: str) -> float:
    """One unit of the last printed digit of a number string (e.g. '12.345' -> 0.001)."""
    mant, _, exp = text.lower().partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 10.0 ** (-decimals + (int(exp) if exp else 0))


def parse_cbc_bound(
    log_text: str, objective: float, gap: float, abs_gap: float = 0.0
) -> tuple[float, str]:
    """Upper bound (maximisation, value units) proven by CBC according to its log.

    ``gap`` and ``abs_gap`` are the relative and absolute tolerances CBC was given.
    Returns ``(bound, how)``; ``inf`` when the log proves nothing.
    """
    if re.search(r"^Result - Optimal solution found\s*$", log_text, flags=re.M):
        # Search completed: every node was pruned against incumbent + tolerances.
        if gap <= 0:
            return objective + abs_gap, "optimal"
        # With a ratio gap CBC prunes relative to its root LP value, which it does not
        # print: no usable bound (the caller falls back to the Lagrangian bound).
        return math.inf, "optimal within ratio gap (bound not printed)"
    m = re.search(r"Exiting as integer gap of " + _NUM, log_text)
    if m:
        g = float(m.group(1))
        return objective + g + _last_digit_unit(m.group(1)), "integer gap"
    m = re.search(r"^Upper bound:\s+" + _NUM, log_text, flags=re.M)
    if m:
        return float(m.group(1)) + _last_digit_unit(m.group(1)), "upper bound line"
    found = re.findall(r"best possible " + _NUM, log_text)
    if found:
        # CBC minimises the negated objective internally.
        return -float(found[-1]) + _last_digit_unit(found[-1]), "best possible"
    return math.inf, "no bound in log"


def cbc_path() -> str:
    """Path of the CBC binary bundled with PuLP, else ``cbc`` from PATH."""
    from pulp.apis.coin_api import pulp_cbc_path

    path = os.path.normpath(pulp_cbc_path)
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    found = shutil.which("cbc")
    if found is None:
        raise RuntimeError(
            "no CBC binary: PuLP's bundled one is missing and `cbc` is not on PATH; "
            "use solver='highs' or install CBC"
        )
    return found


def solve_cbc(
    red: ReducedProblem,
    start: np.ndarray | None,
    *,
    time_limit: float | None,
    gap: float,
    abs_gap: float,
    threads: int,
    seed: int,
) -> MilpOutcome:
    """Solve with the CBC binary bundled with PuLP; ``start``: feasible local mask or None."""
    import pulp

    n = red.n
    prob = pulp.LpProblem("knapsack", pulp.LpMaximize)
    x = [prob.add_variable(f"x{i}", 0, 1, cat=pulp.LpInteger) for i in range(n)]
    prob += pulp.LpAffineExpression(zip(x, red.values.tolist(), strict=True))
    for r in range(red.m):
        nz = np.flatnonzero(red.costs[r])
        expr = pulp.LpAffineExpression([(x[i], float(red.costs[r, i])) for i in nz])
        prob += expr <= float(red.capacities[r]), f"cap{r}"
    for k, (child, parent) in enumerate(red.requires.tolist()):
        prob += pulp.LpAffineExpression([(x[child], 1.0), (x[parent], -1.0)]) <= 0, f"req{k}"
    for k, members in enumerate(red.exclusive):
        prob += pulp.LpAffineExpression([(x[i], 1.0) for i in members.tolist()]) <= 1, f"ex{k}"
    # No MIP start (see the module docstring): the caller keeps the greedy answer.
    del start
    with tempfile.TemporaryDirectory(prefix="rasp_cbc_") as tmp:
        log_path = os.path.join(tmp, "cbc.log")
        cmd = pulp.COIN_CMD(
            path=cbc_path(),
            msg=False,
            timeLimit=None if time_limit is None else max(float(time_limit), 0.01),
            gapRel=float(gap),
            gapAbs=float(abs_gap),
            threads=int(threads),
            warmStart=False,
            logPath=log_path,
            # CBC treats seed 0 as "time of day": shift so every seed is reproducible.
            # Cgl preprocessing off: see the module docstring.
            # CBC's default cutoff increment (1e-5, absolute) would let "optimal" miss the
            # optimum by that much; tie it to the absolute gap we report instead.
            options=[
                f"randomCbcSeed {int(seed) % 2147483646 + 1}",
                "preprocess off",
                f"increment {float(abs_gap)!r}",
            ],
        )
        prob.solve(cmd)
        with open(log_path) as fh:
            text = fh.read()
    version_m = re.search(r"Version:\s*(\S+)", text)
    solver = f"cbc {version_m.group(1) if version_m else '?'} via pulp {pulp.__version__}"
    values = [var.varValue for var in x]
    keep = None
    if prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible) and all(
        val is not None for val in values
    ):
        keep = np.array(values, dtype=np.float64) > 0.5
    obj_m = re.search(r"^Objective value:\s+" + _NUM, text, flags=re.M)
    # CBC prints its objective rounded to 8 decimals; recompute it from its answer.
    if keep is not None:
        cbc_obj = float(red.values[keep].sum())
    elif obj_m:
        cbc_obj = float(obj_m.group(1)) + _last_digit_unit(obj_m.group(1))
    else:
        cbc_obj = 0.0
    bound, how = parse_cbc_bound(text, cbc_obj, gap, abs_gap)
    if "Stopped on time" in text or "Exiting on maximum time" in text:
        stop = "time_limit"
    elif re.search(r"^Result - Optimal solution found", text, flags=re.M):
        stop = "gap_limit"
    else:
        stop = "other"
    nodes_m = re.search(r"^Enumerated nodes:\s+(\d+)", text, flags=re.M)
    result_m = re.search(r"^Result - (.*)$", text, flags=re.M)
    return MilpOutcome(
        keep=keep,
        bound=bound,
        stop=stop,
        solver=solver,
        nodes=int(nodes_m.group(1)) if nodes_m else None,
        message=f"CBC: {result_m.group(1).strip() if result_m else 'no result line'}; bound from {how}",
    )
