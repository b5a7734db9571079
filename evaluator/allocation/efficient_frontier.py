"""The efficient frontier over one budget (:func:`frontier`)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator.allocation.check import _recheck
from evaluator.allocation.errors import AllocationError, AllocationInfeasible
from evaluator.allocation.highs import _HighsModel
from evaluator.allocation.model import _Model
from evaluator.allocation.presolve import _solve_raw
from evaluator.allocation.solve import _empty_result, _package
from evaluator.allocation.spec import RECHECK_TOL, SELECTED_TOL, AllocationResult


def frontier(candidates: pd.DataFrame, budgets: Mapping[str, float], vary: str,
             grid: Sequence[float] | np.ndarray, *, n_jobs: int | None = None, mip_rel_gap: float = 1e-4,
             known: AllocationResult | None = None, known_budget: float | None = None,
             warm_start: bool = True, **kwargs) -> pd.DataFrame:
    """Optimal value against the budget of one resource.

    The model is built once; each grid point only changes that budget's bound. scipy's ``milp``
    has no warm start, so the work of one point is reused for the others by three exact rules
    (``O(b)`` is the optimum at budget ``b``, non-decreasing in ``b``):

    * *reuse*: an answer found at budget ``B`` that uses ``u <= B`` of the resource is feasible
      at every ``b >= u``, so ``O(b) >=`` its value there; with ``b <= B`` it is also optimal
      there to the gap of ``B`` (``O(b) <= O(B)``);
    * *sandwich*: more generally a point ``b`` is settled without a solve when the best answer
      feasible at ``b`` (from any solved point using at most ``b``) is within ``mip_rel_gap`` of
      the smallest proven upper bound (HiGHS's dual bound) of a solved point with budget
      ``>= b``;
    * *warm start*: a point still to solve gets the best neighbouring answer feasible at its
      budget as the incumbent of the reduced-cost fixing (``_solve_with_fixing``), instead of
      solving a core MILP first; the presolve of :func:`allocate` applies to every point, its
      MILPs on HiGHS directly (:class:`_HighsModel`: fixed candidates out of the matrix, no
      presolve, symmetry detection or primal heuristics, which cost most on the small budgets).

    Points are solved from the ends of the grid inward, by repeated bisection of the widest
    stretch not yet visited, on ``n_jobs`` threads (HiGHS releases the GIL); a point settled by
    the answers found so far is skipped when its turn comes. Finally every point takes the best answer feasible at its budget
    among all solved points, so the curve never decreases with the budget, and each point keeps
    the proven gap between that answer and its upper bound (``mip_gap``, at most
    ``mip_rel_gap`` unless a limit stopped a solve).

    Each answer is re-checked like :func:`allocate`. An infeasible point gives NaN objective and
    ``status="infeasible"`` instead of raising, so a curve may start below the locks' needs.

    Parameters
    ----------
    candidates, budgets, **kwargs
        As for :func:`allocate`.
    vary : str
        Budget key to vary.
    grid : sequence of float
        Budget values for ``vary`` [units of the resource].
    n_jobs : int, optional
        Threads for the independent solves (default: up to 2, this machine's share).
    mip_rel_gap : float
        Relative gap per point. The default 1e-4 (HiGHS's own default) is looser than
        :func:`allocate`'s 1e-6: a curve drawn for what-if sliders does not need the last
        digit. Pass ``1e-6`` for proven points; ``optimal`` and ``mip_gap`` say what each point
        achieved.
    known : AllocationResult, optional
        An allocation of the same model (e.g. the page's own allocation), proven to at least
        ``mip_rel_gap``, made at ``known_budget`` of ``vary`` (default ``budgets[vary]``) and
        the other budgets as given: used as a solved point. Ignored when it does not fit.
    warm_start : bool
        Use the rules above (default). False solves every grid point independently with the
        full presolve (the reference path of the tests and the benchmark).

    Returns
    -------
    pd.DataFrame
        One row per grid point, in the order given. Columns ``budget``, ``objective``,
        ``allocated_<key>`` per resource, ``n_selected``, ``optimal`` (to ``mip_gap``),
        ``mip_gap``, ``status``, ``solve_time_s`` (0 for points settled without a solve),
        ``reused`` (True when the point was settled by reuse or sandwich, or took a better
        answer from a smaller budget).
    """
    if vary not in budgets:
        raise ValueError(f"vary={vary!r} is not a budget key")
    m = _HighsModel(candidates, budgets, mip_rel_gap=mip_rel_gap, **kwargs)
    k = m.keys.index(vary)
    grid = np.asarray(grid, dtype=float)
    if n_jobs is None:
        n_jobs = max(1, min(2, os.cpu_count() or 1))
    if m.n == 0:
        return _frontier_frame(m, [_empty_point(m, k, b) for b in grid])
    solved: list[_Point] = []
    seed = (_known_point(m, k, known, mip_rel_gap,
                         m.budgets[k] if known_budget is None else float(known_budget))
            if known is not None and warm_start else None)
    if seed is not None:
        solved.append(seed)
    rec: dict[int, _Point] = {}
    lock = threading.Lock()

    def run(j):
        with lock:
            if warm_start and _settled(solved, grid[j], mip_rel_gap):
                return
            start = _best_feasible(solved, grid[j]) if warm_start else None
        p = _solve_point(m, k, grid[j], start)
        with lock:
            rec[j] = p
            if p.x is not None:
                solved.append(p)

    order = _bisection_order(grid) if warm_start else list(range(len(grid)))
    first, rest = order[:2], order[2:]
    for batch in (first, rest):
        if n_jobs > 1 and len(batch) > 1:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                list(pool.map(run, batch))
        else:
            for j in batch:
                run(j)
    rows = [_final_point(m, k, b, rec.get(j), solved, warm_start) for j, b in enumerate(grid)]
    return _frontier_frame(m, rows)


@dataclass
class _Point:
    """One solved frontier point: budget, answer (full vector), value, proven upper bound."""

    budget: float
    x: np.ndarray | None
    objective: float
    upper: float
    used: float
    optimal: bool
    status: str
    seconds: float
    result: AllocationResult | None = None


def _point_gap(value: float, upper: float) -> float:
    return max(upper - value, 0.0) / max(abs(value), 1e-12)


def _solve_point(m: _Model, k: int, b: float, incumbent: np.ndarray | None) -> _Point:
    row_hi = m.row_hi.copy()
    row_hi[k] = float(b)
    t0 = time.perf_counter()
    try:
        res, _ = _solve_raw(m, row_hi, incumbent=incumbent, diagnose=False)
    except AllocationInfeasible:
        return _Point(float(b), None, np.nan, np.nan, np.nan, False, "infeasible",
                      time.perf_counter() - t0)
    except AllocationError as exc:       # a limit without any answer
        return _Point(float(b), None, np.nan, np.nan, np.nan, False, str(exc),
                      time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    r = _package(m, res, seconds, row_hi=row_hi, marginals=False)
    bound = getattr(res, "mip_dual_bound", None)
    upper = -float(bound) if bound is not None and np.isfinite(bound) else (
        r.objective + max(1.0, abs(r.objective)) * (r.mip_gap if np.isfinite(r.mip_gap) else np.inf))
    x = np.asarray(res.x, float).copy()
    x[:m.n] = r.fractions.to_numpy()
    return _Point(float(b), x, r.objective, max(upper, r.objective),
                  float(r.amounts.iloc[:, k].sum()), r.optimal, r.status, seconds, r)


def _known_point(m: _Model, k: int, known: AllocationResult, gap: float,
                 budget: float) -> _Point | None:
    """A given allocation as a solved point; None when it does not fit the model or is not
    proven to ``gap`` (then it is simply not used)."""
    if not known.fractions.index.equals(m.ids):
        return None
    x = np.zeros(m.nv)
    x[:m.n] = known.fractions.to_numpy(float)
    row_hi = m.row_hi.copy()
    row_hi[k] = budget
    viol, _ = _recheck(m, x[:m.n], row_hi)
    if any(v > RECHECK_TOL for v in viol.values()) or not known.optimal or known.mip_gap > gap:
        return None
    if abs(m.objective_of(x[:m.n])[0] - known.objective) > 1e-6 * max(1.0, abs(known.objective)):
        return None                                   # another objective: not this model
    # auxiliary variables (coverage, segments, totals) from the fractions
    x = _complete_aux(m, x)
    obj = known.objective
    # an upper bound from the gap, whichever way HiGHS scales it (by |objective| or by 1)
    return _Point(float(budget), x, obj, obj + max(1.0, abs(obj)) * known.mip_gap,
                  float(m.req[:, k] @ x[:m.n]), True, known.status, 0.0, known)


def _complete_aux(m: _Model, x: np.ndarray) -> np.ndarray:
    """Fill coverage binaries, concave segments and share totals of a full vector from x."""
    n = m.n
    xs = x[:n]
    for sl, groups in zip(m.z_slices, m.cov_groups):
        x[sl] = [float(np.sum(xs[mem] / m.cover_div[mem]) >= 1.0 - 1e-9) for _, mem in groups]
    for w, widths, sl in zip(m.concave_w_model, m.seg_width, m.u_slices):
        s = float(w @ xs)
        b = np.concatenate([[0.0], np.cumsum(widths[:-1])])
        x[sl] = np.clip(s - b, 0.0, widths)
    for r, jt in m.total_var.items():
        amount = m.req.sum(axis=1) if r is None else m.req[:, m.keys.index(r)]
        x[jt] = float(amount @ xs)
    return x


def _best_feasible(solved: list[_Point], b: float) -> np.ndarray | None:
    ok = [p for p in solved if p.x is not None and p.used <= b * (1 + 1e-9) + 1e-9]
    return max(ok, key=lambda p: p.objective).x if ok else None


def _settled(solved: list[_Point], b: float, gap: float) -> bool:
    lows = [p.objective for p in solved if p.x is not None and p.used <= b * (1 + 1e-9) + 1e-9]
    ups = [p.upper for p in solved if p.x is not None and p.budget >= b and p.optimal]
    return bool(lows and ups and _point_gap(max(lows), min(ups)) <= gap)


def _bisection_order(grid: np.ndarray) -> list[int]:
    """Grid positions: largest and smallest budget first, then repeatedly the middle of the
    widest stretch not yet visited, so early answers settle (reuse, sandwich) later points."""
    idx = list(np.argsort(grid, kind="stable"))
    if len(idx) <= 2:
        return idx[::-1]
    out = [idx[-1], idx[0]]
    stretches = [(0, len(idx) - 1)]
    while stretches:
        stretches.sort(key=lambda ab: ab[1] - ab[0])
        a, b = stretches.pop()
        if b - a < 2:
            continue
        mid = (a + b) // 2
        out.append(idx[mid])
        stretches += [(a, mid), (mid, b)]
    return [int(j) for j in out]


def _final_point(m: _Model, k: int, b: float, own: _Point | None, solved: list[_Point],
                 warm_start: bool) -> dict:
    """Record of one grid point: the best answer feasible at ``b`` and its proven gap."""
    if own is not None and own.x is None:
        return {"budget": float(b), "objective": np.nan, "n_selected": 0, "optimal": False,
                "status": own.status, "solve_time_s": own.seconds, "reused": False,
                "mip_gap": np.nan, **{f"allocated_{key}": np.nan for key in m.keys}}
    if not warm_start:
        r = own.result
        return {"budget": float(b), "objective": r.objective, "n_selected": int(r.selected.sum()),
                "optimal": r.optimal, "status": r.status, "solve_time_s": own.seconds,
                "reused": False, "mip_gap": r.mip_gap,
                **{f"allocated_{key}": float(r.amounts[key].sum()) for key in m.keys}}
    best = max((p for p in solved if p.used <= b * (1 + 1e-9) + 1e-9), key=lambda p: p.objective)
    ups = [p.upper for p in solved if p.budget >= b * (1 - 1e-12) and p.optimal]
    upper = min(ups) if ups else np.inf
    gap = _point_gap(best.objective, upper)
    optimal = bool(ups) and gap <= m.mip_rel_gap * (1 + 1e-9) + 1e-12
    xs = best.x[:m.n]
    rec = {"budget": float(b), "objective": best.objective,
           "n_selected": int(np.sum(xs > SELECTED_TOL)), "optimal": optimal,
           "status": "optimal" if optimal else (own.status if own is not None else best.status),
           "solve_time_s": own.seconds if own is not None else 0.0,
           "reused": own is None or best is not own, "mip_gap": gap}
    rec.update({f"allocated_{key}": float(m.req[:, i] @ xs) for i, key in enumerate(m.keys)})
    return rec


def _empty_point(m: _Model, k: int, b: float) -> dict:
    row_hi = m.row_hi.copy()
    row_hi[k] = float(b)
    try:
        r = _empty_result(m, row_hi)
    except AllocationInfeasible:
        return {"budget": float(b), "objective": np.nan, "n_selected": 0,
                "optimal": False, "status": "infeasible", "solve_time_s": 0.0,
                "reused": False, "mip_gap": 0.0, **{f"allocated_{key}": np.nan for key in m.keys}}
    return {"budget": float(b), "objective": r.objective, "n_selected": 0,
            "optimal": True, "status": r.status, "solve_time_s": 0.0, "reused": False,
            "mip_gap": 0.0, **{f"allocated_{key}": 0.0 for key in m.keys}}


def _frontier_frame(m: _Model, rows: list[dict]) -> pd.DataFrame:
    cols = (["budget", "objective"] + [f"allocated_{key}" for key in m.keys]
            + ["n_selected", "optimal", "mip_gap", "status", "solve_time_s", "reused"])
    return pd.DataFrame.from_records(rows, columns=cols)
