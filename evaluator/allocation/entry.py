"""Entry values and thresholds: what a candidate left out would need to be funded."""

from __future__ import annotations

import functools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator.allocation.errors import EntryValuesStopped
from evaluator.allocation.highs import _entry_milp, _Relaxation, _Resolve
from evaluator.allocation.lp import _lp, _marginals
from evaluator.allocation.model import _Model
from evaluator.allocation.presolve import _dominated
from evaluator.allocation.spec import SELECTED_TOL, SNAP_TOL, AllocationResult


def entry_values(candidates: pd.DataFrame, budgets: Mapping[str, float],
                 result: AllocationResult, *, ids: Sequence | None = None,
                 n_jobs: int | None = None, max_iter: int = 12,
                 should_stop: Callable[[], bool] | None = None, **kwargs) -> pd.DataFrame:
    """For every left-out candidate, the exact value at which it enters the optimal allocation.

    Exact means by MILP re-solves (no LP estimate): the smallest value increase ``delta`` such
    that an optimal allocation funds the candidate, to the MILP gap. With ``F`` the objective
    and ``X_i`` the allocations that fund ``i`` (at least its minimum share), the candidate
    enters at value ``v_i + delta`` exactly when some ``x`` in ``X_i`` reaches the optimum
    ``O*`` of ``result``: ``F(x) + delta x_i >= O*``. So ``delta* = min over X_i of
    (O* - F(x)) / x_i``, a fractional programme solved by Dinkelbach's method (Newton on the
    convex, piecewise-linear ``max_x F(x) + delta x_i``): from a feasible ``x^0`` in ``X_i``,
    ``delta_t = (O* - F(x^t)) / x^t_i`` and ``x^{t+1}`` maximises ``F(x) + delta_t x_i`` over
    ``X_i`` (a MILP with ``i`` locked in and its value raised), until that maximum is ``O*``
    (within the gap); ``delta_t`` then is the threshold. When a step's answer funds the
    candidate at its floor (``x_i = lo_i``, its smallest share in ``X_i``), the new ``delta`` is
    already the threshold: for every ``x`` in ``X_i``, ``F(x) + delta x_i <= F(x^{t+1}) +
    delta_t lo_i - (delta_t - delta) x_i <= O*`` because ``x_i >= lo_i``; the check solve is
    skipped. With all-or-nothing candidates the first step is therefore exact.

    Every MILP is small. ``x^0`` is the best allocation that keeps every funded candidate and
    ``i`` within their funded ranges (an LP: any such point lies in ``X_i``); when that LP has
    no answer (someone must leave) or the model has coverage binaries, a core MILP over the
    funded candidates and ``i``. Each Dinkelbach MILP keeps free only the candidates that can
    be funded in an allocation worth ``O*`` at the raised value, by LP reduced costs ``d``
    [4]_: any ``x`` has
    ``F(x) <= Z_LP - sum_k d_k x_k``, so ``F(x) + delta x_i >= O*`` needs
    ``sum_{k != i} d_k x_k <= (Z_LP - O*) + max(0, delta - d_i) hi_i``, and a candidate
    whose ``d_k lo_k`` exceeds that bound is 0 in every such ``x`` (``delta <= delta_t``
    decreases along the iteration); here ``Z_LP`` and ``d`` come from the LP of that very
    problem (``i`` locked in at the raised value). Candidates dominated by enough
    interchangeable copies (``_dominated``) are fixed at 0 as well: some best answer leaves
    them out, and moving a fraction to a better copy never funds a candidate that the reduced
    costs exclude. Each Dinkelbach MILP also only looks for answers worth more than ``O*`` (+
    the tolerance; HiGHS's cutoff): finding none proves the threshold. The MILPs run on HiGHS
    directly (:func:`_entry_milp`: fixed candidates out of the matrix,
    :data:`RESOLVE_HIGHS_OPTIONS`), the LPs on one HiGHS model per thread re-solved from the
    previous basis (:class:`_Relaxation`). Candidates are processed on ``n_jobs`` threads
    (HiGHS releases the GIL); answers do not depend on the order or the chunking (``ids``).

    Parameters
    ----------
    candidates, budgets, **kwargs
        As passed to :func:`allocate` for ``result`` (``mip_rel_gap`` included).
    result : AllocationResult
        The allocation to explain (its objective is ``O*``).
    ids : sequence, optional
        Only these candidates (those of them that are left out and not locked out), e.g. a
        chunk at a time so that a page can show answers as they come; default all.
    n_jobs : int, optional
        Threads (default: up to 2).
    max_iter : int
        Dinkelbach steps per candidate (convergence is finite; the bound is a safeguard).
    should_stop : callable, optional
        Asked before each candidate; once it answers True no further candidate is started
        and :class:`EntryValuesStopped` is raised (a page cancelling work it no longer needs).

    Returns
    -------
    pd.DataFrame
        Index: the left-out candidates that are not locked out. Columns ``value``,
        ``enter_value`` and ``value_increase`` [objective units; inf when no allocation can fund
        it], ``enter_fraction`` (its funded fraction at the threshold), ``exact`` (converged
        within ``max_iter``), ``solves`` (MILPs), ``free_candidates`` (largest restricted MILP),
        ``seconds``.
    """
    m = _Model(candidates, budgets, **kwargs)
    n = m.n
    x0 = result.fractions.reindex(m.ids).fillna(0.0).to_numpy(float)
    sel = x0 > SELECTED_TOL
    wanted = np.ones(n, bool) if ids is None else m.ids.isin(list(ids))
    out_ids = [p for p in range(n) if wanted[p] and not sel[p] and p not in set(m.pos_out.tolist())]
    cols = ["value", "enter_value", "value_increase", "enter_fraction", "exact", "solves",
            "free_candidates", "seconds"]
    if not out_ids:
        return pd.DataFrame(columns=cols, index=m.ids[[]])
    O_star = float(result.objective)
    relaxable = (m.integ[:n] > 0) & (m.lo > 0)
    lb = m.lb.copy()
    lb[:n][relaxable] = 0.0
    lp, *_ = _lp(m, lb, m.ub, m.row_hi)
    if lp.status == 0:
        d = np.maximum(np.asarray(lp.lower.marginals[:n], float), 0.0)
        G = max(-float(lp.fun) - O_star, 0.0)
    else:                                  # no LP bound: nothing can be fixed
        d, G = np.zeros(n), np.inf
    tol = 2.0 * m.mip_rel_gap * max(1.0, abs(O_star))
    if n_jobs is None:
        n_jobs = max(1, min(2, os.cpu_count() or 1))
    # dominance [5]_ once for all: with p locked in at a raised value a candidate with enough
    # better interchangeable copies is still 0 in some best answer (p, funded, is never the
    # unfunded copy the argument moves a fraction to; a raised value only makes p a better
    # copy), so the fixing of the plain model holds in every problem below, p itself excepted
    dominated = _dominated(m, m.row_hi)
    local = threading.local()

    def one(p):
        if should_stop is not None and should_stop():
            raise EntryValuesStopped("stopped on request")
        if not hasattr(local, "lp"):
            local.lp = _Relaxation(m)
        return _entry_value(m, p, x0, sel, O_star, d, G, relaxable, tol, max_iter, local.lp,
                            dominated)

    if n_jobs > 1 and len(out_ids) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            rows = list(pool.map(one, out_ids))
    else:
        rows = [one(p) for p in out_ids]
    return pd.DataFrame(rows, index=m.ids[out_ids], columns=cols)


def _entry_value(m: _Model, p: int, x0: np.ndarray, sel: np.ndarray, O_star: float,
                 d: np.ndarray, G: float, relaxable: np.ndarray, tol: float,
                 max_iter: int, lp_solver: _Relaxation, dominated: np.ndarray) -> dict:
    """Dinkelbach iteration of :func:`entry_values` for candidate position ``p``."""
    t0 = time.perf_counter()
    n = m.n
    v = float(m.value[p])
    lb, ub, integ = m.apply_locks(list(m.pos_in) + [p], list(m.pos_out))
    solves, largest = 0, 0

    def solve(free, delta, cutoff=None):
        nonlocal solves, largest
        lb_, ub_, integ_ = lb.copy(), ub.copy(), integ.copy()
        lb_[:n][~free] = ub_[:n][~free] = 0.0
        integ_[:n][~free] = 0
        c = m.c.copy()
        c[p] = -(v + delta)
        res = _entry_milp(m, c, lb_, ub_, integ_, cutoff)
        solves += 1
        largest = max(largest, int(free.sum()))
        return res

    # x^0: the funded candidates and p all kept funded (an LP), else the MILP over them (some
    # may leave), else over everything (p may need others to fit caps)
    start = _entry_start(m, p, sel, lb, ub, lp_solver, O_star)
    for free in (sel | (np.arange(n) == p), np.ones(n, bool)):
        if start is not None and start.x is not None:
            break
        start = solve(free, 0.0)
    if start.x is None:
        return {"value": v, "enter_value": np.inf, "value_increase": np.inf,
                "enter_fraction": np.nan, "exact": start.status == 2, "solves": solves,
                "free_candidates": largest, "seconds": time.perf_counter() - t0}
    x = start.x
    delta = (O_star - m.objective_of(x[:n])[0]) / max(x[p], SELECTED_TOL)
    # O* is optimal with p out, so delta* >= 0 (to the gap): a start within the tolerance of 0
    # is already the threshold (a tie: p is in an alternative optimum)
    exact = start.status == 0 and delta * x[p] <= tol
    for _ in range(0 if exact else max_iter):
        free = _free_for_entry(m, p, v + delta, lb, relaxable, O_star, tol, lp_solver,
                               dominated)
        if free is None:
            slack = G + max(0.0, delta - d[p]) * m.hi[p] + tol
            free = ~relaxable | (d * m.lo <= slack) | (np.arange(n) == p)
        # only an answer worth more than O* (+ tol) moves delta: the rest is cut off
        res = solve(free, delta, cutoff=-(O_star + tol))
        if res.status == 2:
            exact = True              # nothing beats O* + tol at delta: delta is the threshold
            break
        if res.x is None:
            break
        gain = -float(res.fun) - O_star
        if gain <= tol:
            exact = res.status == 0
            break
        x = res.x
        delta = (O_star - m.objective_of(x[:n])[0]) / max(x[p], SELECTED_TOL)
        if res.status == 0 and x[p] <= lb[p] + SNAP_TOL:
            # x maximises F + delta_t x_p and funds p at its floor a = lb_p; for every x' in X_p
            # (so x'_p >= a) and the new delta <= delta_t: F(x') + delta x'_p
            # <= F(x) + delta_t a - (delta_t - delta) x'_p <= F(x) + delta a = O*, so the new
            # delta is the threshold: no check solve needed
            exact = True
            break
    return {"value": v, "enter_value": v + delta, "value_increase": delta,
            "enter_fraction": float(x[p]), "exact": exact, "solves": solves,
            "free_candidates": largest, "seconds": time.perf_counter() - t0}


def _entry_start(m: _Model, p: int, sel: np.ndarray, lb: np.ndarray, ub: np.ndarray,
                 lp: _Relaxation, O_star: float) -> _Resolve | None:
    """A first allocation that funds ``p`` without a MILP: the funded candidates (all, or all
    but one) and ``p`` held within their funded ranges (``x_i >= min_fraction_i``), the others
    at 0, fractions chosen by the LP; the one with the smallest ratio ``(O* - F) / x_p``. Any
    such point is feasible for the MILP, so its ratio bounds the threshold from above, and
    the closer that bound, the more candidates the reduced-cost fixing of the first re-solve
    removes. None when no such LP has an answer or the model has coverage binaries (the LP
    would relax them)."""
    if m.nz:
        return None
    n = m.n
    best, best_delta = None, np.inf
    locked = np.zeros(n, bool)
    locked[m.pos_in] = True
    # the funded set as it is, then without each funded candidate in turn (its room may be
    # what p needs): the smallest ratio (O* - F) / x_p wins
    for k in [-1] + [int(k) for k in np.flatnonzero(sel & ~locked)]:
        on = sel.copy()
        if k >= 0:
            on[k] = False
        on[p] = True
        lb_, ub_ = lb.copy(), ub.copy()
        lb_[:n] = np.where(on, np.maximum(lb[:n], m.lo), 0.0)
        ub_[:n] = np.where(on, ub[:n], 0.0)
        solved, fun, _ = lp.solve(m.c, lb_, ub_)
        if not solved:
            continue
        x = lp.x.copy()
        delta = (O_star - m.objective_of(x[:n])[0]) / max(x[p], SELECTED_TOL)
        if delta < best_delta:
            best, best_delta = _Resolve(x, fun, 0), delta
    return best


def _free_for_entry(m: _Model, p: int, value: float, lb_locked: np.ndarray,
                    relaxable: np.ndarray, O_star: float, tol: float, lp: _Relaxation,
                    dominated: np.ndarray) -> np.ndarray | None:
    """Candidates that can be funded in an allocation worth ``O*`` with ``p`` locked in at
    ``value``: reduced-cost fixing [4]_ on the LP relaxation of that very problem (``p`` at
    least at its floor), less the ``dominated`` ones (see :func:`entry_values`). None when the
    LP is not solved."""
    n = m.n
    lb = lb_locked.copy()
    keep_p = lb[p]
    lb[:n][relaxable] = 0.0
    lb[p] = keep_p
    c = m.c.copy()
    c[p] = -value
    solved, fun, rc = lp.solve(c, lb, m.ub)
    if not solved:
        return None
    d = np.maximum(rc, 0.0)
    slack = -fun - O_star + tol
    free = (~relaxable | (d * m.lo <= slack)) & ~dominated
    free[p] = True
    return free


def entry_thresholds(candidates: pd.DataFrame, budgets: Mapping[str, float],
                     result: AllocationResult, *, max_candidates: int = 10,
                     max_iter: int = 6, time_budget_s: float = 10.0, left_out: bool = True,
                     **kwargs) -> pd.DataFrame:
    """How far each candidate is from changing state.

    For a left-out candidate: the value at which it would enter, and the fraction of its
    request at which it would enter with its value unchanged. For a funded candidate: how much
    its value could fall before it leaves. A cheap LP first cut is given for every candidate;
    exact answers (MILP re-solves) for the candidates nearest the margin, within a time budget.

    Parameters
    ----------
    candidates, budgets, **kwargs
        As passed to :func:`allocate` for ``result``.
    result : AllocationResult
        The allocation to explain.
    max_candidates : int
        Re-solve for at most this many left-out and this many funded candidates, those
        nearest the margin (by value minus LP break-even value) first.
    max_iter : int
        Re-solves per candidate and question.
    time_budget_s : float
        Stop re-solving once this much time is spent [s]; later rows keep the LP first cut
        only (``note`` says so).
    left_out : bool
        Explain left-out candidates too (default). False explains only the funded ones (the
        left-out ones then come exactly, every one of them, from :func:`entry_values`).

    Returns
    -------
    pd.DataFrame
        Index: candidate id (all candidates). Columns:

        ``selected``, ``value``;
        ``lp_break_even_value``: value at which its reduced cost is zero in the LP with the
        selection fixed (first cut: ignores the jump to ``min_fraction`` and any change of
        selection) [objective units];
        ``enter_value``: value at which a left-out candidate enters;
        ``enter_request_fraction``: largest fraction of its request (value unchanged) at which a
        left-out candidate enters, NaN if it never does [fraction];
        ``leave_value``, ``value_drop_to_leave``: for funded candidates;
        ``exact``: the MILP threshold converged; ``note``.

    Notes
    -----
    Let ``O_out`` be the optimum with the candidate excluded and ``O_in(v)`` the optimum with it
    forced in at value ``v``. ``O_in`` is convex and piecewise linear in ``v`` (a maximum of
    functions linear in ``v`` with slope ``x_i``), so Newton steps
    ``v <- v - (O_in(v) - O_out) / x_i(v)`` approach the crossing ``O_in(v) = O_out``
    monotonically from the side where the candidate is in; every iterate is a value at which it
    is (weakly) in. With all-or-nothing candidates ``x_i = 1`` and one step is exact. Ties count
    as entering. The thresholds are exact up to the MILP gap (``mip_rel_gap`` x objective).
    The request scale-down is a bisection with ``max_iter`` steps and reports the
    (conservative) lower end of the bracket. Only request-derived rows (budgets, caps) scale;
    :class:`LinearConstraintSpec` coefficients do not.
    """
    t_start = time.perf_counter()
    m = _Model(candidates, budgets, **kwargs)
    if m.n == 0:
        return _empty_thresholds(m)
    x0, sel, out_pos, in_pos, table = _first_cut(m, result, max_candidates, left_out)
    O_star = result.objective

    def out_of_time():
        return time.perf_counter() - t_start > time_budget_s

    solve_with = functools.partial(_solve_locked, m)
    newton = functools.partial(_newton, m, solve_with, max_iter)

    def set_row(p, **vals):
        for col, v in vals.items():
            table.iloc[p, table.columns.get_loc(col)] = v

    def explain_out(p):
        o_in, x_in = solve_with(force_in=p)
        if o_in is None:
            set_row(p, enter_value=np.inf, exact=True,
                    note="cannot be funded with the locks and constraints")
            return
        # one tangent step up from the current value lands on the 'in' side (convexity)
        v_up = m.value[p] + max(O_star - o_in, 0.0) / max(x_in[p], SELECTED_TOL)
        c = m.c.copy()
        c[p] = -v_up
        o_up, x_up = solve_with(c=c, force_in=p)
        if o_up is None:
            return
        v, exact = newton(p, v_up, o_up, x_up[p], O_star)
        set_row(p, enter_value=v, exact=exact, note="")

    def explain_in(p):
        o_out, _ = solve_with(force_out=p)
        if o_out is None:
            set_row(p, leave_value=-np.inf, value_drop_to_leave=np.inf, exact=True,
                    note="needed for feasibility")
            return
        v, exact = newton(p, m.value[p], O_star, x0[p], o_out)
        set_row(p, leave_value=v, value_drop_to_leave=m.value[p] - v, exact=exact, note="")

    request_fraction = functools.partial(_request_fraction, m, candidates, budgets, kwargs, solve_with, set_row,
                                         out_of_time, O_star, max_iter)

    # interleave left-out and funded candidates so both get explained within the budget
    for k in range(max(len(out_pos), len(in_pos))):
        for pos, fn in ((out_pos, explain_out), (in_pos, explain_in)):
            if k < len(pos) and not out_of_time():
                fn(pos[k])
    for p in out_pos:
        if np.isfinite(table["enter_value"].iat[p]) and not out_of_time():
            request_fraction(p)
    if out_of_time():
        table.loc[table["note"] == "LP first cut only", "note"] = \
            "LP first cut only (time budget reached)"
    return table


def _empty_thresholds(m: _Model) -> pd.DataFrame:
    """The table of :func:`entry_thresholds` when there are no candidates."""
    return pd.DataFrame(
        {"selected": pd.Series(dtype=bool), "value": pd.Series(dtype=float),
         **{c: pd.Series(dtype=float) for c in (
             "lp_break_even_value", "enter_value", "enter_request_fraction", "leave_value",
             "value_drop_to_leave")},
         "exact": pd.Series(dtype=bool), "note": pd.Series(dtype=object)}, index=m.ids)


def _first_cut(m: _Model, result: AllocationResult, max_candidates: int, left_out: bool):
    """The LP first cut of :func:`entry_thresholds`: ``(x0, sel, out_pos, in_pos, table)``, the
    result's fractions, its selection, the left-out and funded candidates to re-solve (nearest
    the margin first) and the table with the LP break-even values and the locks filled in."""
    x0 = result.fractions.reindex(m.ids).to_numpy()
    sel = x0 > SELECTED_TOL
    locked_in = set(m.pos_in.tolist())
    locked_out = set(m.pos_out.tolist())
    xfull0 = np.zeros(m.nv)
    xfull0[:m.n] = x0
    if m.nz:
        # coverage binaries of the given result: a group is on if a member is selected
        for sl, groups in zip(m.z_slices, m.cov_groups):
            xfull0[sl] = [float(sel[mem].any()) for _, mem in groups]
    _, lp_be = _marginals(m, xfull0, m.row_hi, break_even=True)
    margin = np.abs(m.value - lp_be)
    margin = np.where(np.isfinite(margin), margin, np.inf)
    order = np.argsort(margin, kind="stable")
    out_pos = [p for p in order if not sel[p] and p not in locked_out][:max_candidates] \
        if left_out else []
    in_pos = [p for p in order if sel[p] and p not in locked_in][:max_candidates]

    table = pd.DataFrame({
        "selected": sel, "value": m.value, "lp_break_even_value": lp_be,
        "enter_value": np.nan, "enter_request_fraction": np.nan, "leave_value": np.nan,
        "value_drop_to_leave": np.nan, "exact": False, "note": "LP first cut only"},
        index=m.ids)
    for p in locked_in:
        table.iloc[p, table.columns.get_indexer(["leave_value", "value_drop_to_leave", "exact",
                                                 "note"])] = [-np.inf, np.inf, True, "locked in"]
    for p in locked_out:
        table.iloc[p, table.columns.get_indexer(["enter_value", "exact", "note"])] = [
            np.inf, True, "locked out"]
    return x0, sel, out_pos, in_pos, table


def _solve_locked(m: _Model, c=None, force_in=None, force_out=None, model=None):
    """``(objective, fractions)`` of ``model`` (default ``m``) with its locks and ``force_in`` /
    ``force_out`` added, objective ``c``; ``(None, None)`` when it has no answer."""
    mm = model or m
    pin = list(mm.pos_in) + ([force_in] if force_in is not None else [])
    pout = [q for q in mm.pos_out if q != force_in] + (
        [force_out] if force_out is not None else [])
    lb, ub, integ = mm.apply_locks(pin, pout)
    res, _ = mm.solve(c=c, lb=lb, ub=ub, integ=integ)
    if res.x is None:
        return None, None
    return -float(res.fun), res.x[:mm.n]


def _newton(m: _Model, solve_with, max_iter: int, p, v, obj, xi, O_target):
    """Walk v from the 'in' side to the crossing O_in(v) = O_target."""
    for _ in range(max_iter):
        if abs(obj - O_target) <= 1e-9 * max(1.0, abs(O_target)):
            return v, True
        if xi <= SELECTED_TOL:
            break
        v_new = v - (obj - O_target) / xi
        c = m.c.copy()
        c[p] = -v_new
        o, xx = solve_with(c=c, force_in=p)
        if o is None:
            break
        v, obj, xi = v_new, o, xx[p]
    return v, abs(obj - O_target) <= 1e-9 * max(1.0, abs(O_target))


def _request_fraction(m: _Model, candidates, budgets, kwargs, solve_with, set_row, out_of_time, O_star, max_iter, p):
    """The largest fraction of candidate ``p``'s request at which it enters (bisection, the
    lower end of the bracket), written to its row by ``set_row``."""
    i = m.ids[p]
    lo_s, hi_s = 0.0, 1.0
    for it in range(max_iter + 1):
        if out_of_time():
            return
        s = 1e-6 if it == 0 else 0.5 * (lo_s + hi_s)
        cand = candidates.copy()
        cand[m.keys] = cand[m.keys].astype(float)
        cand.loc[i, m.keys] = cand.loc[i, m.keys] * s
        o_s, _ = solve_with(force_in=p, model=_Model(cand, budgets, **kwargs))
        enters = o_s is not None and o_s >= O_star - 1e-9 * max(1.0, abs(O_star))
        if it == 0 and not enters:
            set_row(p, note="does not enter even at a negligible request")
            return
        lo_s, hi_s = (s, hi_s) if enters else (lo_s, s)
    set_row(p, enter_request_fraction=lo_s)
