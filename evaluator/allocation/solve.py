"""One allocation (:func:`allocate`): the solve, its result and its notes."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator import messages
from evaluator.allocation.check import _clean_x, _recheck, _status_text, _stop_reason
from evaluator.allocation.errors import AllocationError, AllocationInfeasible
from evaluator.allocation.lp import _marginals
from evaluator.allocation.model import _Model
from evaluator.allocation.presolve import _solve_raw
from evaluator.allocation.spec import RECHECK_TOL, SELECTED_TOL, SNAP_TOL, AllocationResult, ConcaveTerm, GroupCap, _messages_of
from evaluator.messages import Joined, Message


def _package(m: _Model, res, seconds: float, row_hi=None, marginals=True) -> AllocationResult:
    row_hi = m.row_hi if row_hi is None else row_hi
    x, viol, slacks = _clean_x(m, res.x, row_hi)
    bad = {k: v for k, v in viol.items() if v > RECHECK_TOL}
    if bad:
        raise AllocationError(
            f"The solver's answer (status {_status_text(res)!r}) breaks constraints on re-check: "
            + ", ".join(f"{k} by {v:.3g}" for k, v in bad.items()))
    obj, conc = m.objective_of(x)
    solver_obj = -float(res.fun)
    # scale by the size of the terms, not only their sum, so cancellations do not trip it
    scale = max(1.0, abs(obj), float(np.abs(m.c) @ np.abs(np.nan_to_num(res.x))))
    if abs(obj - solver_obj) > 1e-6 * scale:
        raise AllocationError(f"objective mismatch on re-check: {obj} vs solver {solver_obj}")
    binding = [nm for nm, s in slacks.items()
               if abs(s) <= 1e-6 * max(1.0, abs(_rhs_scale(m, nm, row_hi)))]
    amounts = pd.DataFrame(m.req * x[:, None], index=m.ids, columns=m.keys)
    gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
    gap = gap if np.isfinite(gap) else float("inf")
    mv = _marginals(m, res.x, row_hi) if marginals else {}
    status, limit = _stop_reason(res)
    return AllocationResult(
        fractions=pd.Series(x, index=m.ids, name="fraction"),
        amounts=amounts,
        selected=pd.Series(x > SELECTED_TOL, index=m.ids, name="selected"),
        objective=obj, status=status, optimal=bool(res.status == 0),
        mip_gap=gap, solve_time_s=seconds, binding=binding, slacks=slacks,
        marginal_values=mv, recheck=viol, concave_values=conc, limit_reached=limit,
        binding_messages=_messages_of(m, binding),
        **_notes(_note(m, x, row_hi, status, limit, gap)))


def _notes(notes: tuple) -> dict:
    """``note`` (English) and ``notes`` of an :class:`AllocationResult`."""
    return {"note": messages.join(notes, "en", " "), "notes": tuple(notes)}


def _rhs_scale(m: _Model, name: str, row_hi) -> float:
    if name.startswith("budget "):
        return float(row_hi[m.row_names.index(name)])
    return 1.0


def _solve_model(m: _Model, row_hi=None, marginals=True) -> AllocationResult:
    if m.n == 0:
        return _empty_result(m, row_hi)
    res, seconds = _solve_raw(m, row_hi)
    return _package(m, res, seconds, row_hi=row_hi, marginals=marginals)


def _empty_result(m: _Model, row_hi=None) -> AllocationResult:
    """The answer without candidates: nothing funded, unless a constraint needs something."""
    row_hi = m.row_hi if row_hi is None else row_hi
    x = np.zeros(0)
    viol, slacks = _recheck(m, x, row_hi)
    needs = [nm for nm, sl in slacks.items() if sl < -RECHECK_TOL]
    if needs:
        raise AllocationInfeasible(
            f"No allocation satisfies these together: {'; '.join(needs)} (there are no "
            "candidates to fund).", needs, _messages_of(m, needs),
            Message("infeasible_no_candidates", {"conflicts": Joined(_messages_of(m, needs), "; ")}))
    obj, conc = m.objective_of(x)
    return AllocationResult(
        fractions=pd.Series(x, index=m.ids, name="fraction"),
        amounts=pd.DataFrame(np.zeros((0, len(m.keys))), index=m.ids, columns=m.keys),
        selected=pd.Series(np.zeros(0, bool), index=m.ids, name="selected"),
        objective=obj, status="no_candidates", optimal=True, mip_gap=0.0, solve_time_s=0.0,
        binding=[], slacks=slacks, marginal_values={k: 0.0 for k in m.keys}, recheck=viol,
        concave_values=conc, **_notes((Message("alloc_nothing_no_candidates"),)))


def _note(m: _Model, x: np.ndarray, row_hi, status: str, limit: bool, gap: float) -> tuple:
    """Messages explaining an all-zero allocation or a solver stopped by a limit."""
    notes = []
    if not np.any(x > SELECTED_TOL):
        notes.append(_why_nothing(m, row_hi))
    if limit:
        what = (Message("alloc_limit_time", {"seconds": f"{m.time_limit_s:g}"}) if status == "time_limit"
                else Message("alloc_limit_other", {"status": status.replace("_", " ")}))
        code = "alloc_stopped_gap" if np.isfinite(gap) else "alloc_stopped_gap_unknown"
        notes.append(Message(code, {"limit": what, "gap": f"{gap:.2%}"}))
    return tuple(notes)


def _why_nothing(m: _Model, row_hi) -> Message:
    """The first reason, in a fixed order, why no candidate can be funded with a gain."""
    bud = m.budgets if row_hi is None else np.asarray(row_hi[:m.n_budget_rows], float)
    free = np.ones(m.n, bool)
    free[m.pos_out] = False
    if not free.any():
        return Message("alloc_nothing_all_locked_out")
    bonus = np.zeros(m.n)
    for t, w in zip(m.concave, m.concave_w):
        bonus += w * max(float(np.max(t.slopes)), 0.0)
    gain = free & (m.value + bonus > 0)
    if not gain.any():
        return Message("alloc_nothing_no_value")
    start = np.where(m.lo > 0, m.lo, SNAP_TOL)          # smallest fundable share
    fits = gain & np.all(m.req * start[:, None] <= bud[None, :] * (1 + RECHECK_TOL), axis=1)
    if not fits.any():
        budgets = Joined(tuple(Message("alloc_budget_amount", {"budget": k, "amount": f"{b:g}"})
                               for k, b in zip(m.keys, bud)))
        return Message("alloc_nothing_fits_budgets", {"budgets": budgets})
    # caps and constraints that a candidate breaks on its own at its minimum share
    blockers = []
    for cap, mask, amount in zip(m.caps, m.cap_members, m.cap_amount):
        lim = 0.0 if cap.kind == "share" else cap.limit
        if cap.kind == "absolute" or cap.limit <= 0:
            blockers.append((cap.name, mask & (amount * start > lim * (1 + RECHECK_TOL))))
    for spec, a in zip(m.linear, m.linear_coef):
        limit = spec.upper + RECHECK_TOL * max(1.0, abs(spec.upper))
        blockers.append((spec.name, a * start > limit))
    blockers = [(nm, b) for nm, b in blockers if (b & fits).any()]
    blocked = np.zeros(m.n, bool)
    for _, b in blockers:
        blocked |= b
    if blockers and not (fits & ~blocked).any():
        names = _messages_of(m, [nm for nm, _ in blockers[:5]]) + ((Message("constraint_named", {"name": "..."}),)
                                                                  if len(blockers) > 5 else ())
        return Message("alloc_nothing_constraints_exclude", {"constraints": Joined(names, "; ")})
    return Message("alloc_nothing_no_combination")


def allocate(candidates: pd.DataFrame, budgets: Mapping[str, float], *, value="value",
             min_fraction=1.0, group_caps: Sequence[GroupCap] = (), locked_in=(), locked_out=(),
             max_fraction=1.0, extra_constraints: Sequence = (),
             concave_terms: Sequence[ConcaveTerm] = (), time_limit_s: float = 10.0,
             mip_rel_gap: float = 1e-6, tighten_concave: bool = True,
             presolve: bool = True, award_step: float | None = None,
             step_search: str = "selection") -> AllocationResult:
    """Choose funded fractions that maximise total value within budgets, caps and locks.

    Parameters
    ----------
    candidates : pd.DataFrame
        Index: candidate id (unique). A value column [objective units per fully funded
        candidate; may be negative] and one request column per key of ``budgets`` [units of the
        resource asked for when fully funded; non-negative].
    budgets : mapping str -> float
        Budget per resource [units of the resource], e.g. ``{"fund_krw_bn": 250.0,
        "loan_krw_bn": 67.5}``.
    value : str or mapping or array
        The value column name (default ``"value"``), or values per candidate.
    min_fraction : float, str or array
        Smallest fraction at which a candidate may be funded [fraction]: scalar, column name or
        one value per row. 1 = all-or-nothing; 0 = any fraction.
    group_caps : sequence of GroupCap
        Caps by group (country, mineral, ...), absolute or as share of the total.
    locked_in : sequence of ids
        Must fund: forces ``x_i >= min_fraction_i`` (or :data:`LOCK_FLOOR` when that is 0), not
        full funding. To force full funding set that candidate's ``min_fraction`` to 1.
    locked_out : sequence of ids
        Must not fund: forces ``x_i = 0``.
    max_fraction : float, str or array
        Largest fundable fraction [fraction] (e.g. a coverage cap per project).
    extra_constraints : sequence of LinearConstraintSpec or MinGroupsCovered
        Further constraints.
    concave_terms : sequence of ConcaveTerm
        Diminishing-returns bonuses added to the objective.
    time_limit_s : float
        HiGHS time limit [s]. On hitting it with a feasible answer the result has
        ``optimal=False`` and ``status="time_limit"``.
    mip_rel_gap : float
        Relative optimality gap at which HiGHS stops [fraction].
    tighten_concave : bool
        Clip the weights of concave terms where one candidate saturates the term by itself, and
        add the cuts of every breakpoint (same optimum, much tighter LP relaxation; see the
        module notes). False gives the plain formulation, kept as the reference path for tests
        and benchmarks.
    presolve : bool
        From :data:`FIXING_MIN_CANDIDATES` candidates on, fix at 0 the candidates that provably
        need not be funded: those that cannot be funded at all, those dominated by enough
        interchangeable better candidates (``_dominated``, with the absolute caps that share
        caps imply), then those whose LP bound cannot beat the answer of a small core MILP
        (``_solve_with_fixing``); HiGHS then runs with :data:`FIXING_HIGHS_OPTIONS`. Same
        optimum, proven the same way. False solves the full model directly. Not with
        ``award_step`` (its arguments hold for continuous shares).
    award_step : float, optional
        Every candidate's total award (the sum over the resources) a whole number of this step
        [units of the budgets]: ``sum_k request_ik x_i = award_step n_i`` with ``n_i`` an integer
        variable of the MILP, so the optimiser itself chooses among the awards on the step
        (within the shares, caps and budgets) and the totals add up exactly. A total request that
        is not a whole number of steps cannot be funded in full. None (the default): continuous
        shares.
    step_search : {"selection", "exact"}
        With ``award_step``: ``"selection"`` (default) lets the continuous optimum choose the
        candidates and the stepped MILP their awards (two fast solves; ``mip_gap`` carries the
        proven bound on the difference, see :func:`_allocate_on_steps`); ``"exact"`` solves
        the stepped MILP over all candidates (the reference; 10-30x slower at 200 candidates).

    Returns
    -------
    AllocationResult
        Frozen; every constraint re-checked independently of the solver.

    Raises
    ------
    AllocationInfeasible
        No allocation satisfies the locks, caps and constraints; ``.conflicts`` names a small
        conflicting set, found with a deletion filter [3]_ (each element relaxed in turn,
        dropped for good when the rest is still infeasible).
    AllocationError
        No answer within the time limit, or the solver's answer failed the re-check.
    ValueError
        Malformed input (unknown ids, missing columns, bad fractions, non-concave terms).

    Notes
    -----
    ``marginal_values`` are shadow prices from ``linprog(method="highs")`` on the LP obtained by
    fixing the selection: selected candidates may move within ``[min_fraction, max_fraction]``
    (candidates with ``min_fraction = 0`` may move freely), unselected ones stay at 0. They tell
    what one more unit of budget is worth *without changing which candidates are in*; with
    all-or-nothing candidates that is 0 by construction. The effect of larger budget changes,
    including new entries, is read from :func:`frontier`.

    Warnings
    --------
    HiGHS inside scipy may print stray lines to stdout on long solves (NOTES.md); callers that
    print machine-read output (JSON) should write it after the solve or to a file.

    References
    ----------
    .. [2] Weingartner (1963), capital budgeting as an integer programme.
    .. [3] Chinneck and Dravnieks (1991), deletion filter.
    """
    kw = dict(value=value, min_fraction=min_fraction, max_fraction=max_fraction,
              group_caps=group_caps, locked_in=locked_in, extra_constraints=extra_constraints,
              concave_terms=concave_terms, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
              tighten_concave=tighten_concave)
    if award_step is not None and step_search == "selection":
        return _allocate_on_steps(candidates, budgets, kw, locked_out, presolve, float(award_step))
    if step_search not in ("selection", "exact"):
        raise ValueError(f"step_search must be 'selection' or 'exact', got {step_search!r}")
    m = _Model(candidates, budgets, locked_out=locked_out, presolve=presolve, award_step=award_step, **kw)
    return _solve_model(m)


#: The shortcut's bound (``mip_gap``, always shown with the solver's state) becomes a note of its own
#: above this share of the continuous optimum [fraction]: 0.1 %, below which the steps' rounding,
#: not the choice of projects, is all it measures (the samples: 0.009 %).
STEP_GAP_NOTED = 1e-3


def _allocate_on_steps(candidates: pd.DataFrame, budgets: Mapping[str, float], kw: dict,
                       locked_out, presolve: bool, award_step: float) -> AllocationResult:
    """Awards on whole steps, in two solves (``step_search="selection"`` of :func:`allocate`).

    The continuous optimum (with the presolve) chooses which candidates are in; the stepped MILP
    then chooses every award of those candidates on the step, the others held at 0. The stepped
    problem is a restriction of the continuous one, so the continuous optimum bounds the best
    stepped allocation from above: the result's ``mip_gap`` is at least
    ``(continuous - stepped) / |continuous|``, a proven bound on what the shortcut can have cost,
    and a note says so when it exceeds :data:`STEP_GAP_NOTED`. When the selection cannot be put
    on steps (a share below one step that a lock or a coverage rule needs), the exact stepped MILP
    over all candidates is solved instead.
    """
    cont = _solve_model(_Model(candidates, budgets, locked_out=locked_out, presolve=presolve, **kw))
    if not cont.selected.any():
        return cont                                   # nothing to put on steps; its note says why
    out = sorted(set(locked_out) | set(cont.selected.index[~cont.selected.to_numpy()]))
    try:
        stepped = _solve_model(_Model(candidates, budgets, locked_out=out, presolve=False,
                                      award_step=award_step, **kw))
    except AllocationInfeasible:
        return _solve_model(_Model(candidates, budgets, locked_out=locked_out, presolve=False,
                                   award_step=award_step, **kw))
    bound = max(cont.objective - stepped.objective, 0.0) / max(abs(cont.objective), 1e-12)
    notes = stepped.notes
    if bound > STEP_GAP_NOTED:
        notes = notes + (Message("alloc_steps_within", {"step": award_step, "gap": f"{bound:.3%}"}),)
    return dataclasses.replace(stepped, mip_gap=max(stepped.mip_gap, bound),
                               solve_time_s=cont.solve_time_s + stepped.solve_time_s, **_notes(notes))
