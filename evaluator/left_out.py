"""Why a project is left out, with the number: the total support at which it would be funded.

An officer asked why rank 5 gets nothing while rank 20 is funded needs a sentence with a number,
not a value in objective units. For a left-out candidate ``i`` asking ``R_i`` [KRW bn] in total
(fund + loan), :func:`entry_support` finds the largest total support ``S <= R_i``, in steps of
``step_krw_bn``, at which the optimal allocation funds ``i`` with everything else unchanged (the
other applications, budgets, caps, locks and the objective): "it would have been funded had it
asked for at most S". Its answer is "never" when even one step would not be funded, and ``R_i``
itself never qualifies (the project is left out at its request).

How a smaller request is modelled: the allocation funds a share ``x_i`` of the request, and the
support, value, expected loss and offtake of a candidate are all proportional to ``x_i``
(:mod:`evaluator.allocation`). A project asking ``S = k R_i`` and funded a share ``y`` of it is
therefore the same candidate funded ``x_i = k y``: the request cut is the candidate with its
fraction range ``[lo_i, hi_i]`` scaled to ``[k lo_i, k hi_i]``. Each trial is one exact MILP solve
of that problem (:func:`evaluator.allocation.allocate`), so every figure reported is an
allocation the solver returned, not an estimate.

The search is a bisection over whole steps. Entry need not be monotone in the request (a
smaller request can fit a different combination); the reported ``S`` is always one at which a
solve funded the project, and the note says "at most" only for the bracket the bisection proved
(``S`` funded, ``S + step`` not).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator import allocation as alloc
from evaluator.portfolio import PortfolioAllocation, budgets_of, solver_kwargs

__all__ = ["ENTRY_COLUMNS", "entry_support"]

#: Columns of :func:`entry_support`.
ENTRY_COLUMNS = ["request_krw_bn", "entry_support_krw_bn", "request_cut_krw_bn", "reason"]


def _funds(cand: pd.DataFrame, budgets, kw: dict, pos: int, app_id, k: float, time_limit_s: float) -> bool:
    """Whether the optimal allocation funds ``app_id`` when it asks ``k`` times its request."""
    lo = np.array(kw["min_fraction"], dtype=float, copy=True)
    c = cand.copy()
    lo[pos] *= k
    c.iloc[pos, c.columns.get_loc("max_fraction")] = float(cand["max_fraction"].iloc[pos]) * k
    res = alloc.allocate(c, budgets, **{**kw, "min_fraction": lo}, time_limit_s=time_limit_s)
    return bool(res.selected.get(app_id, False))


def entry_support(pa: PortfolioAllocation, scenario, ref, *, ids: Sequence[str] | None = None,
                  step_krw_bn: float = 0.1, time_limit_s: float = 5.0) -> pd.DataFrame:
    """For each left-out candidate, the total support [KRW bn] at which it would have been funded.

    Parameters
    ----------
    pa : evaluator.portfolio.PortfolioAllocation
        The allocation to explain.
    scenario : models.scenario.Scenario
    ref : evaluator.reference.ReferenceData
    ids : sequence of str, optional
        Only these applications (default: every left-out candidate). Funded, locked-out and
        ineligible ones are skipped (their reason is the allocation's note).
    step_krw_bn : float
        The step of the search [KRW bn] (0.1 = 1억원).
    time_limit_s : float
        Solver time limit per trial [s].

    Returns
    -------
    pandas.DataFrame
        Index id. ``request_krw_bn`` (fund + loan asked), ``entry_support_krw_bn`` (the largest
        total support found at which it is funded, a multiple of ``step_krw_bn``; NaN when none),
        ``request_cut_krw_bn`` (request minus entry support), ``reason``: ``"request_cut"`` or
        ``"not_at_any_request"``.
    """
    cand = pa.candidates
    budgets = budgets_of(scenario)
    locked_out = set(map(str, pa.options.get("locked_out", ())))
    kw = solver_kwargs(cand, scenario, ref, pa.options.get("locked_in", ()), pa.options.get("locked_out", ()))
    selected = pa.result.selected
    wanted = None if ids is None else set(map(str, ids))
    rows = {}
    for pos, app_id in enumerate(cand.index):
        if bool(selected.get(app_id, False)) or str(app_id) in locked_out or (wanted is not None and str(app_id) not in wanted):
            continue
        request = float(cand["support_krw_bn"].iloc[pos])
        n_max = int(math.floor(request / step_krw_bn + 1e-9))
        good = None
        if n_max >= 1 and _funds(cand, budgets, kw, pos, app_id, step_krw_bn / request, time_limit_s):
            good, bad = 1, n_max  # funded at one step; left out at the full request
            while bad - good > 1:
                mid = (good + bad) // 2
                if _funds(cand, budgets, kw, pos, app_id, mid * step_krw_bn / request, time_limit_s):
                    good = mid
                else:
                    bad = mid
        entry = np.nan if good is None else round(good * step_krw_bn, 10)
        rows[app_id] = {"request_krw_bn": request, "entry_support_krw_bn": entry,
                        "request_cut_krw_bn": request - entry if good is not None else np.nan,
                        "reason": "request_cut" if good is not None else "not_at_any_request"}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=ENTRY_COLUMNS)
    out.index.name = "id"
    return out


def explain_left_out(pa: PortfolioAllocation, scenario, ref, *, ids: Sequence[str] | None = None,
                     language: str = "en", step_krw_bn: float = 0.1) -> pd.DataFrame:
    """Every left-out application of ``pa`` explained in words, with the number.

    An ineligible application: the rule that excludes it (the allocation's note). A left-out
    candidate: the total support at which it would have been funded (:func:`entry_support`);
    when no request size would do, the score rise at which it would enter
    (:func:`evaluator.portfolio.what_it_would_take`, exact MILP re-solves) and the budget that is
    fully used.

    Returns
    -------
    pandas.DataFrame
        Index id (the left-out applications, or those of ``ids``): ``entry_support_krw_bn``
        [KRW bn; NaN when none], ``score_increase`` [points; NaN when not needed or not found],
        ``explanation`` (words in ``language``, amounts in 억원 in Korean).
    """
    from evaluator import messages
    from evaluator.krw import krw_text
    from evaluator.portfolio import what_it_would_take

    table = pa.table
    left = [str(i) for i in table.index if not bool(table.at[i, "selected"])]
    if ids is not None:
        wanted = set(map(str, ids))
        left = [i for i in left if i in wanted]
    cand_left = [i for i in left if i in pa.candidates.index]
    entry = entry_support(pa, scenario, ref, ids=cand_left, step_krw_bn=step_krw_bn)
    never = [i for i in entry.index if entry.at[i, "reason"] == "not_at_any_request"]
    wit = what_it_would_take(pa, scenario, ref, ids=never, max_candidates=0) if never else None
    binding = [b.split(" ", 1)[1] for b in pa.result.binding if b.startswith("budget ")]  # e.g. "budget loan_krw_bn"
    rows = {}
    for i in left:
        support, rise = np.nan, np.nan
        if i not in entry.index:  # not a candidate: excluded by a rule, or locked out
            text = str(table.at[i, "note"] or "") or messages.text("left_out_locked", language)
        elif entry.at[i, "reason"] == "request_cut":
            support = float(entry.at[i, "entry_support_krw_bn"])
            text = messages.text("left_out_request_cut", language, support=krw_text(support, language),
                                 request=krw_text(entry.at[i, "request_krw_bn"], language))
        else:
            if wit is not None and i in wit.index:
                rise = float(wit.at[i, "score_increase"]) if pd.notna(wit.at[i, "score_increase"]) else np.nan
            budget = messages.text("left_out_budget_" + (binding[0] if binding else "any"), language)
            text = (messages.text("left_out_score_rise", language, budget=budget, points=f"{rise:.1f}")
                    if np.isfinite(rise) else messages.text("left_out_never", language, budget=budget))
        rows[i] = {"entry_support_krw_bn": support, "score_increase": rise, "explanation": text}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["entry_support_krw_bn", "score_increase", "explanation"])
    out.index.name = "id"
    return out
