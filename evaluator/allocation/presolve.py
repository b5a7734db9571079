"""The solve with the presolve: dominance and reduced-cost fixing before branch and bound."""

from __future__ import annotations

import time

import numpy as np

from evaluator.allocation.check import _raise_infeasible, _stop_reason
from evaluator.allocation.errors import AllocationError, AllocationInfeasible, AllocationTimeout
from evaluator.allocation.lp import _lp
from evaluator.allocation.model import _Model
from evaluator.allocation.spec import SELECTED_TOL
from evaluator.messages import Message

#: Reduced-cost fixing before branch and bound from this many candidates on (below it the
#: full solve is already fast and the extra LP would only add time).
FIXING_MIN_CANDIDATES = 150
#: Candidates kept in the core MILP of the reduced-cost fixing: at least this many, and this
#: many per candidate the LP relaxation funds (the cheapest by reduced cost).
FIXING_CORE = 40
FIXING_CORE_PER_USED = 4
#: HiGHS options of the MILPs solved after the presolve. RINS, RENS and the root reduced-cost
#: heuristic solve sub-MIPs around the LP solution only to find incumbents sooner; the bound,
#: and so the proof of optimality to ``mip_rel_gap``, does not depend on them. On presolved
#: models (few candidates left, many of them near copies of each other) those sub-MIPs cost
#: more than they save; the other heuristics stay on.
FIXING_HIGHS_OPTIONS = {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False,
                        "mip_heuristic_run_root_reduced_cost": False}


def _solve_raw(m: _Model, row_hi=None, incumbent: np.ndarray | None = None, diagnose: bool = True):
    """``(milp result, seconds)`` of the model with the presolve of :func:`allocate`.

    ``incumbent`` is a full solution vector known to be feasible for ``row_hi`` (e.g. a
    neighbouring frontier point's answer at a smaller budget): it seeds the reduced-cost fixing.
    Raises :class:`AllocationInfeasible` / :class:`AllocationTimeout` / :class:`AllocationError`
    like :func:`allocate` when there is no answer (``diagnose=False``: without naming the
    conflicting constraints, which takes many solves).
    """
    found = None
    lb, ub, integ = m.lb, m.ub, m.integ
    # the fixing arguments (dominance, reduced costs) hold for continuous shares, not award steps
    presolved = m.presolve and m.n >= FIXING_MIN_CANDIDATES and not len(m.step_cells)
    if presolved:
        t0 = time.perf_counter()
        rhs = m.row_hi if row_hi is None else row_hi
        lb, ub, integ = lb.copy(), ub.copy(), integ.copy()
        drop = np.flatnonzero(_dominated(m, rhs))
        lb[drop] = ub[drop] = 0.0
        integ[drop] = 0
        found = (_solve_with_fixing(m, rhs, lb, ub, integ) if incumbent is None
                 else _solve_with_fixing(m, rhs, lb, ub, integ, incumbent=incumbent))
        if found is not None:
            found = (found[0], time.perf_counter() - t0)
    if found is None:
        found = m.solve(lb=lb, ub=ub, integ=integ, row_hi=row_hi,
                        highs_options=FIXING_HIGHS_OPTIONS if presolved else None)
    res, seconds = found
    if res.status == 2:
        if not diagnose:
            raise AllocationInfeasible("No allocation satisfies the constraints.", [], (),
                                       Message("infeasible_constraints"))
        _raise_infeasible(m)
    if res.x is None:
        limit = _stop_reason(res)[1]
        err = AllocationTimeout if limit else AllocationError
        raise err(f"No allocation found: {res.message} (time limit "
                  f"{m.time_limit_s:g} s; raise it or relax the gap)")
    return res, seconds


def _dominated(m: _Model, row_hi: np.ndarray) -> np.ndarray:
    """Candidates that some optimal allocation leaves at 0, by dominance [5]_.

    Candidate ``j`` dominates ``i`` when they are interchangeable (same fraction bounds and
    type, same coefficients in every equality or two-sided row) and ``j`` is at least as good
    everywhere else: value no smaller, coefficients no larger in ``<=`` rows and no smaller in
    ``>=`` rows, weight no smaller in a concave term whose last slope is >= 0 (ties broken by
    position, so dominance is a strict order). Moving ``i``'s fraction to an unfunded
    dominator keeps every constraint and does not lower the objective. So if funding ``i``
    together with all its dominators at their minimum shares breaks a packing row (a ``<=`` row
    whose coefficients are all >= 0, e.g. a budget), some dominator is unfunded in every
    allocation that funds ``i``, and repeated moves reach an optimal allocation with ``i`` at
    0 (the moves go up a finite order, so they stop). Fixing all such ``i`` at once is
    therefore safe. Locked-in candidates are never fixed; locked-out ones dominate nothing.
    Identical requests are common in practice (several variants of one project, or the
    generated benchmark sets), where only a handful per class survive.

    The packing rows are the model's own and the absolute caps its share caps imply
    (:func:`_implied_share_rows`): a country held to 30 % of the programme holds few copies
    of one project, far fewer than the budgets alone. A candidate that breaks a packing row on
    its own at its minimum share cannot be funded at all and is fixed too (unless locked in:
    then the solve reports the conflict).
    """
    n = m.n
    A = m.A.tocsc()
    X = A[:, :n].toarray()
    aux = A[:, n:]
    lo_r, hi_r = m.row_lo, row_hi
    both = np.isfinite(lo_r) & np.isfinite(hi_r)
    le = ~np.isfinite(lo_r) & np.isfinite(hi_r)
    ge = np.isfinite(lo_r) & ~np.isfinite(hi_r)
    kind = np.asarray(m.row_kind, dtype=object)
    link_ok = np.zeros(len(kind), bool)
    # concave link rows in model order, one per term: sum u - w x = 0; a larger w is better
    # when the last slope is >= 0 (the extra s goes to the last, unbounded segment)
    link_rows = np.flatnonzero(kind == "concave_link")
    for r, t in zip(link_rows, m.concave):
        link_ok[r] = float(np.asarray(t.slopes, float)[-1]) >= 0
    eq_rows = both & ~link_ok
    # the concave cuts are left out: they hold at every point that satisfies the other rows
    # (_concave_cuts), so a move that keeps those rows keeps the cuts too
    cut = kind == "concave_cut"
    better_small = np.vstack([m.c[:n][None, :], X[le & ~cut], -X[ge],
                              X[link_ok]])                        # smaller = better
    sig = np.vstack([X[eq_rows], m.lo[None, :], m.hi[None, :], m.base_integ[:n][None, :]]).T
    _, cls = np.unique(sig, axis=0, return_inverse=True)
    cls = np.asarray(cls).ravel()
    aux_free = np.asarray(np.abs(aux).sum(axis=1)).ravel() == 0
    packing = le & aux_free & np.all(X >= 0, axis=1)
    P_imp, cap_imp = _implied_share_rows(m, row_hi)
    P = np.vstack([X[packing], P_imp])
    cap = np.concatenate([hi_r[packing], cap_imp])
    cap = cap + 1e-9 * np.maximum(1.0, np.abs(cap))
    locked_in = np.zeros(n, bool)
    locked_in[m.pos_in] = True
    usable = np.ones(n, bool)
    usable[m.pos_out] = False
    if not P.shape[0]:
        return np.zeros(n, bool)
    # a candidate that alone, at its minimum share, breaks a packing row cannot be funded
    out = (m.lo > 0) & ~locked_in & np.any(P * m.lo[None, :] > cap[:, None], axis=0)
    order = np.argsort(cls, kind="stable")
    bounds = np.flatnonzero(np.diff(cls[order])) + 1
    for members in np.split(order, bounds):
        if len(members) < 2:
            continue
        B = better_small[:, members]
        B = B[~np.all(B == B[:, :1], axis=1)]              # rows that differ in this class
        use = usable[members]
        base = (P[:, members] * m.lo[members]).T            # minimum usage per member
        todo = np.flatnonzero(~locked_in[members] & (m.lo[members] > 0) & use)
        for block in np.array_split(todo, max(1, -(-len(todo) // 128))):
            # dom[q, b]: member b dominates member block[q] (all members at once, in blocks
            # so that the (rows, block, members) comparison stays small)
            mine = B[:, block, None]
            dom = np.all(B[:, None, :] <= mine, axis=0)
            equal = np.all(B[:, None, :] == mine, axis=0)
            dom &= (~equal | (members[None, :] < members[block, None])) & use[None, :]
            dom[np.arange(len(block)), block] = False
            need = dom.astype(float) @ base + base[block]
            out[members[block]] |= dom.any(axis=1) & np.any(need > cap[None, :], axis=1)
    return out


def _implied_share_rows(m: _Model, row_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute caps implied by the share caps: ``(coefficients on x, limits)``, one row each.

    A share cap ``sum_{i in g} a_i x_i <= l T`` with ``T = sum_i a_i x_i`` the total of its
    resource implies ``sum_{i in g} a_i x_i <= l T_max``, where ``T_max`` bounds the total:
    the budget of the resource (the sum of all budgets when the cap counts every resource),
    or everything funded in full if that is smaller. These rows are redundant for the LP but
    are packing rows (non-negative coefficients, no auxiliary variable), which is what
    :func:`_dominated` needs: a country capped at 30 % of the programme holds few projects.
    """
    n = m.n
    budgets = np.asarray(row_hi[:m.n_budget_rows], float)
    rows, limits = [], []
    for cap, mask, amount in zip(m.caps, m.cap_members, m.cap_amount):
        if cap.kind != "share":
            continue
        budget = budgets.sum() if cap.resource is None else budgets[m.keys.index(cap.resource)]
        total_max = min(budget, float(amount @ m.hi))
        if not np.isfinite(total_max):
            continue
        rows.append(np.where(mask, amount, 0.0))
        limits.append(float(cap.limit) * max(total_max, 0.0))
    if not rows:
        return np.zeros((0, n)), np.zeros(0)
    return np.vstack(rows), np.asarray(limits, float)


def _solve_with_fixing(m: _Model, row_hi: np.ndarray, lb0: np.ndarray, ub0: np.ndarray,
                       integ0: np.ndarray, incumbent: np.ndarray | None = None):
    """Solve after fixing at 0 the candidates that provably cannot improve on a first answer.

    1. LP relaxation (semi-continuous and binary candidates relaxed to ``[0, hi]``): value
       ``z_LP`` and reduced cost ``d_i >= 0`` of each candidate at 0 (minimisation form).
    2. A *core* MILP over the candidates the LP uses and the ``FIXING_CORE`` cheapest by
       ``d_i lo_i``, all others at 0: a feasible answer of value ``z_core``.
    3. By LP duality any solution with ``x_i >= t`` costs at least ``z_LP + d_i t`` (the dual
       solution stays feasible when the bound of ``x_i`` is raised to ``t``). A selected
       semi-continuous or binary candidate has ``x_i >= lo_i``, so every candidate with
       ``z_LP + d_i lo_i > z_core`` is 0 in every answer better than the core one: fixed at 0.
    4. If every candidate left free was in the core, the core answer is optimal (to the gap);
       otherwise the MILP is solved again with the fixed candidates at 0.

    This is reduced-cost fixing done once before branch and bound (e.g. Nemhauser and Wolsey
    [4]_, sec. II.6.1); HiGHS does it during the search, but on thousands of candidates its
    symmetry detection and restarts take longer than the proof itself. Continuous and locked
    candidates are never fixed. Returns ``(result, seconds)``, or None when the shortcut does not
    apply (LP not solved, core infeasible or without an answer): the caller solves in full.

    With an ``incumbent`` (a full solution vector feasible for ``row_hi``, e.g. a neighbouring
    frontier point's answer) that is better than the core answer, its value replaces ``z_core``
    in step 3 (the argument only needs some feasible answer), and the final solve keeps the
    incumbent when it finds nothing better.
    """
    t0 = time.perf_counter()
    n = m.n
    relaxable = (integ0[:n] > 0) & (m.lo > 0)
    lb = lb0.copy()
    lb[:n][relaxable] = 0.0
    lp, *_ = _lp(m, lb, ub0, row_hi)
    if lp.status != 0:
        return None
    d = np.maximum(np.asarray(lp.lower.marginals[:n], float), 0.0)
    used = lp.x[:n] > SELECTED_TOL
    score = np.where(relaxable, d * m.lo, np.inf)     # others are in the core or dead
    dead = ub0[:n] <= 0                         # locked out or already fixed
    core = (~relaxable & ~dead) | used
    k = max(FIXING_CORE, FIXING_CORE_PER_USED * int(used.sum()))
    core[np.argsort(score, kind="stable")[:k]] = True
    if incumbent is None and core.sum() > (~dead).sum() // 2:
        return None

    def solve_without(drop):
        lb_, ub_, integ_ = lb0.copy(), ub0.copy(), integ0.copy()
        lb_[:n][drop] = ub_[:n][drop] = 0.0
        integ_[:n][drop] = 0
        left = m.time_limit_s - (time.perf_counter() - t0)
        return m.solve(lb=lb_, ub=ub_, integ=integ_, row_hi=row_hi,
                       time_limit_s=max(left, 0.05), highs_options=FIXING_HIGHS_OPTIONS)[0]

    first = solve_without(~core) if core.sum() <= (~dead).sum() // 2 else None
    if incumbent is not None and (first is None or first.x is None
                                  or float(m.c @ incumbent) < float(first.fun)):
        return _fix_from_incumbent(m, lp, d, relaxable, dead, incumbent, solve_without, t0)
    if first is None or first.x is None:
        return None
    z_core = float(first.fun)
    margin = 1e-6 * max(1.0, abs(z_core))       # LP tolerances: keep doubtful ones free
    fixed = relaxable & (lp.fun + d * m.lo > z_core + margin) & (first.x[:n] <= SELECTED_TOL)
    if not (~fixed & ~core & ~dead).any():
        return first, time.perf_counter() - t0
    final = solve_without(fixed)
    if final.x is not None and final.fun <= z_core:
        return final, time.perf_counter() - t0
    if not _stop_reason(final)[1]:
        return first, time.perf_counter() - t0    # cannot happen (the core answer is feasible)
    # a limit stopped the second solve before it matched the core answer: keep that answer,
    # with the limit's status and the gap to the second solve's bound
    bound = float(getattr(final, "mip_dual_bound", np.nan) or np.nan)
    final.x, final.fun = first.x, first.fun
    final.mip_gap = ((z_core - bound) / max(abs(z_core), 1e-12) if np.isfinite(bound)
                     else float("inf"))
    return final, time.perf_counter() - t0


def _fix_from_incumbent(m: _Model, lp, d, relaxable, dead, incumbent, solve_without, t0):
    """Steps 3-4 of :func:`_solve_with_fixing` with a known feasible answer as the start."""
    n = m.n
    z_inc = float(m.c @ incumbent)
    margin = 1e-6 * max(1.0, abs(z_inc))
    fixed = relaxable & (lp.fun + d * m.lo > z_inc + margin) & (incumbent[:n] <= SELECTED_TOL)
    final = solve_without(fixed)
    if final.x is not None and final.fun <= z_inc:
        return final, time.perf_counter() - t0
    if final.x is None and final.status != 1:
        return None                  # cannot happen (the incumbent is feasible): solve in full
    # nothing better than the incumbent: keep it, with the final solve's bound
    bound = float(getattr(final, "mip_dual_bound", np.nan) or np.nan)
    final.x, final.fun = np.asarray(incumbent, float).copy(), z_inc
    final.mip_gap = (max(z_inc - bound, 0.0) / max(abs(z_inc), 1e-12) if np.isfinite(bound)
                     else float("inf"))
    return final, time.perf_counter() - t0
