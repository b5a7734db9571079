"""Why a project is left out, with the number: the total support at which it would be funded.

An officer asked why rank 5 gets nothing while rank 20 is funded needs a sentence with a number,
not a value in objective units. For a left-out candidate ``i`` asking ``R_i`` [KRW bn] in total
(fund + loan), :func:`entry_support` finds the largest total support ``S <= R_i``, in steps of
``step_krw_bn``, at which the optimal allocation funds ``i`` with everything else unchanged (the
other applications, budgets, caps, locks and the objective): "it would have been funded had it
asked for at most S". Its answer is "never" when even one step would not be funded, and ``R_i``
itself never qualifies (the project is left out at its request).

How a smaller request is modelled: a project asking ``S = k R_i`` is the candidate with every
column proportional to its request (:data:`PROPORTIONAL`: fund, loan, support, value, expected
loss, offtake, NPV) scaled by ``k`` and its cap share ``max_fraction`` (the special loan's caps,
a fixed amount of the applicant's spending) raised to ``min(1, max_fraction / k)``; the
allocator's terms are then rebuilt from that table (:func:`evaluator.portfolio.solver_kwargs`).
Scaling the funded fraction's range instead (``[k lo_i, k hi_i]``) is the same for the linear
columns but not for the diversification term: a project's volume counts only up to where its
supplier overtakes the incumbent (a clip of its weight at the full request,
:func:`evaluator.portfolio.diversification_terms`), and a cut request's smaller volume may lie
below that clip, so it must be clipped anew (KZ-W-01 of the samples enters only so). Each trial
is one exact MILP solve of that problem (:func:`evaluator.allocation.allocate`), so every figure
reported is an allocation the solver returned, not an estimate.

The search is a bisection over whole steps. Entry need not be monotone in the request (a
smaller request can fit a different combination); the reported ``S`` is always one at which a
solve funded the project, and the note says "at most" only for the bracket the bisection proved
(``S`` funded, ``S + step`` not).
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator import allocation as alloc
from evaluator import messages
from evaluator.portfolio import PortfolioAllocation, award_step_of, budgets_of, solver_kwargs

__all__ = ["ENTRY_COLUMNS", "PROPORTIONAL", "EXPLAIN_COLUMNS", "cut_request", "entry_support", "entry_supports",
           "explain_left_out", "explain_left_out_in_chunks"]

#: Columns of :func:`entry_support`.
ENTRY_COLUMNS = ["request_krw_bn", "entry_support_krw_bn", "request_cut_krw_bn", "reason"]


#: Candidate columns proportional to the request: a project asking ``k`` times as much has ``k``
#: times each (:mod:`evaluator.portfolio`: a funded fraction ``x`` gets ``x`` of each).
PROPORTIONAL = ("fund_krw_bn", "loan_krw_bn", "support_krw_bn", "value", "expected_loss_krw_bn", "offtake_units",
                "npv_krw_bn")


def cut_request(cand: pd.DataFrame, app_id, k: float) -> pd.DataFrame:
    """The candidate table with ``app_id`` asking ``k`` times its request (``0 < k <= 1``).

    Its cap share (the special loan's caps as a share of the request, a fixed amount in KRW) is
    ``min(1, max_fraction / k)``: ``min(1, cap / (k request))``.
    """
    c = cand.copy()
    for col in PROPORTIONAL:
        if col in c.columns:
            c.at[app_id, col] = float(cand.at[app_id, col]) * k
    c.at[app_id, "max_fraction"] = min(1.0, float(cand.at[app_id, "max_fraction"]) / k)
    return c


def _funds(cand: pd.DataFrame, budgets, kwargs_of, app_id, k: float, time_limit_s: float) -> bool:
    """Whether the optimal allocation funds ``app_id`` when it asks ``k`` times its request (the
    table cut and every term rebuilt from it: the reference path of :class:`_Trials`)."""
    c = cut_request(cand, app_id, k)
    res = alloc.allocate(c, budgets, **kwargs_of(c), time_limit_s=time_limit_s)
    return bool(res.selected.get(app_id, False))


#: Factor of the offtake that reads the diversification weights before their clip [-].
_UNCLIPPED = 1e-6


class _Trials:
    """The re-allocations of :func:`entry_supports`, without rebuilding the allocator's terms for
    every trial: the same model as :func:`_funds`, built from the terms of the whole table once.

    A project asking ``k`` times its request is the candidate with its share range scaled to
    ``[k lo, k hi]`` (value, requests, expected loss and volume are proportional to the funded
    share), with one exception, its diversification weight: the term counts a project's volume up
    to a clip (:func:`evaluator.portfolio.diversification_terms`), applied to the cut request's own
    volume, so per unit of the full request's share the weight is ``min(w_raw, w_clip / k)``
    (``w_raw`` read from the terms of the table with every volume made tiny, below any clip). A
    candidate whose cap share is below 1, or terms given as columns, take the reference path.
    """

    def __init__(self, cand: pd.DataFrame, budgets, kwargs_of, time_limit_s: float):
        self.cand, self.budgets, self.kwargs_of, self.time_limit_s = cand, budgets, kwargs_of, time_limit_s
        self.kw = kwargs_of(cand)
        lo = self.kw.get("min_fraction", 1.0)
        terms = list(self.kw.get("concave_terms", ()))
        self.fast = (not isinstance(lo, str) and self.kw.get("max_fraction") == "max_fraction"
                     and all(isinstance(t.weights, dict) for t in terms))
        if not self.fast:
            return
        self.lo = np.broadcast_to(np.asarray(lo, dtype=float), (len(cand),)).copy()
        raw = {}
        if terms and "offtake_units" in cand.columns:
            tiny = cand.assign(offtake_units=cand["offtake_units"] * _UNCLIPPED)
            raw = {t.name: t.weights for t in kwargs_of(tiny).get("concave_terms", ()) if isinstance(t.weights, dict)}
        self.raw = raw

    def funds(self, app_id, k: float) -> bool:
        pos = self.cand.index.get_loc(app_id)
        if not self.fast or float(self.cand["max_fraction"].iloc[pos]) < 1.0:
            return _funds(self.cand, self.budgets, self.kwargs_of, app_id, k, self.time_limit_s)
        c = self.cand.copy()
        c.iloc[pos, c.columns.get_loc("max_fraction")] = k
        lo = self.lo.copy()
        lo[pos] *= k
        terms = []
        for t in self.kw.get("concave_terms", ()):
            w_clip = float(t.weights.get(app_id, 0.0))
            w_raw = float(self.raw.get(t.name, {}).get(app_id, 0.0)) / _UNCLIPPED
            if w_raw > w_clip * (1 + 1e-9):   # clipped at the full request: clip the cut request's own volume
                t = dataclasses.replace(t, weights={**t.weights, app_id: min(w_raw, w_clip / k)})
            terms.append(t)
        kw = {**self.kw, "min_fraction": lo, "concave_terms": terms}
        res = alloc.allocate(c, self.budgets, **kw, time_limit_s=self.time_limit_s)
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
    locks = (tuple(pa.options.get("locked_in", ())), tuple(pa.options.get("locked_out", ())))
    skip = set(pa.result.selected.index[pa.result.selected.to_numpy(bool)]) | set(locks[1])
    step = award_step_of(scenario)   # the allocation's own award steps

    def kwargs_of(c):
        return {**solver_kwargs(c, scenario, ref, *locks), "award_step": step}

    return entry_supports(pa.candidates, budgets_of(scenario), kwargs_of,
                          ids=ids, skip=skip, step_krw_bn=step_krw_bn, time_limit_s=time_limit_s)


def entry_supports(cand: pd.DataFrame, budgets: dict, kwargs_of, *, ids: Sequence[str] | None = None, skip=(),
                   step_krw_bn: float = 0.1, time_limit_s: float = 5.0, n_jobs: int = 2) -> pd.DataFrame:
    """:func:`entry_support` on a candidate table: ``kwargs_of(table)`` gives the keyword arguments
    of :func:`evaluator.allocation.allocate` for a table (the allocator's terms rebuilt from it),
    ``skip`` the funded and locked-out ids. Columns as :func:`entry_support`."""
    wanted = None if ids is None else set(map(str, ids))
    skip = set(map(str, skip))
    todo = [i for i in cand.index if str(i) not in skip and (wanted is None or str(i) in wanted)]
    if not todo:
        return pd.DataFrame(columns=ENTRY_COLUMNS, index=pd.Index([], name="id"))
    trials = _Trials(cand, budgets, kwargs_of, time_limit_s)

    def one(app_id) -> dict:
        request = float(cand.at[app_id, "support_krw_bn"])
        n_max = int(math.floor(request / step_krw_bn + 1e-9))
        good = None
        if n_max >= 1 and trials.funds(app_id, step_krw_bn / request):
            # funded at one step; left out at the full request (a step past n_max when that is below it)
            good, bad = 1, n_max if n_max * step_krw_bn >= request - 1e-9 else n_max + 1
            while bad - good > 1:
                mid = (good + bad) // 2
                if trials.funds(app_id, mid * step_krw_bn / request):
                    good = mid
                else:
                    bad = mid
        entry = np.nan if good is None else round(good * step_krw_bn, 10)
        return {"request_krw_bn": request, "entry_support_krw_bn": entry,
                "request_cut_krw_bn": request - entry if good is not None else np.nan,
                "reason": "request_cut" if good is not None else "not_at_any_request"}

    # the candidates on two threads (HiGHS releases the GIL while it solves)
    if len(todo) > 1 and n_jobs > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            rows = dict(zip(todo, pool.map(one, todo)))
    else:
        rows = {i: one(i) for i in todo}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=ENTRY_COLUMNS)
    out.index.name = "id"
    return out


#: Columns of :func:`explain_left_out`.
EXPLAIN_COLUMNS = ["request_krw_bn", "entry_support_krw_bn", "request_cut_krw_bn", "score_increase", "message",
                   "explanation"]


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
        Index id (the left-out applications, or those of ``ids``): ``request_krw_bn`` [KRW bn;
        fund + loan asked], ``entry_support_krw_bn`` [KRW bn; NaN when none],
        ``request_cut_krw_bn`` [KRW bn; request minus entry support, NaN when none],
        ``score_increase`` [points; NaN when not needed or not found], ``message`` (an
        :class:`evaluator.messages.Message`: the code and its numbers, worded at the edge) and
        ``explanation`` (that message in ``language``, amounts in 억원 in Korean).
    """
    out = None
    for table, _, _ in explain_left_out_in_chunks(pa, scenario, ref, ids=ids, language=language,
                                                  step_krw_bn=step_krw_bn, chunk_size=None):
        out = table
    return out


def explain_left_out_in_chunks(pa: PortfolioAllocation, scenario, ref, *, ids: Sequence[str] | None = None,
                               language: str = "en", step_krw_bn: float = 0.1, chunk_size: int | None = 4,
                               should_stop=None):
    """:func:`explain_left_out`, chunk by chunk, for a page that shows the answers as they come.

    Yields ``(table, done, total)``: the table of :func:`explain_left_out` so far (the
    applications excluded by a rule or a lock first, at once; then the left-out candidates in
    rank order, highest score first, ``chunk_size`` at a time; all at once when None), the
    candidates explained and their number. ``should_stop`` (a callable) is asked between chunks:
    once it answers True the generator ends.
    """
    from evaluator.messages import Message
    from evaluator.portfolio import what_it_would_take

    table = pa.table
    left = [str(i) for i in table.index if not bool(table.at[i, "selected"])]
    if ids is not None:
        wanted = set(map(str, ids))
        left = [i for i in left if i in wanted]
    skip = set(map(str, pa.options.get("locked_out", ())))
    cand_left = [i for i in left if i in pa.candidates.index and i not in skip]
    if "score" in pa.candidates.columns:   # the highest ranked first: the officer's first question
        cand_left.sort(key=lambda i: -float(pa.candidates.at[i, "score"]))
    binding = [b.split(" ", 1)[1] for b in pa.result.binding if b.startswith("budget ")]  # e.g. "budget loan_krw_bn"
    budget = binding[0] if binding else "any"
    rows = {}

    def row(i, msg, support=np.nan, rise=np.nan):
        request = float(pa.candidates.at[i, "support_krw_bn"]) if i in pa.candidates.index else np.nan
        rows[i] = {"request_krw_bn": request, "entry_support_krw_bn": support,
                   "request_cut_krw_bn": request - support, "score_increase": rise, "message": msg,
                   "explanation": msg.text(language)}

    def frame():
        out = pd.DataFrame.from_dict(rows, orient="index", columns=EXPLAIN_COLUMNS).reindex(
            [i for i in left if i in rows])
        out.index.name = "id"
        return out

    for i in left:
        if i not in cand_left:  # not a candidate: excluded by a rule, or locked out
            note = table.at[i, "note_message"] if "note_message" in table.columns else None
            row(i, note if isinstance(note, (Message, messages.Joined)) else Message("left_out_locked"))
    yield frame(), 0, len(cand_left)
    size = chunk_size or max(1, len(cand_left))
    for start in range(0, len(cand_left), size):
        if should_stop is not None and should_stop():
            return
        chunk = cand_left[start:start + size]
        entry = entry_support(pa, scenario, ref, ids=chunk, step_krw_bn=step_krw_bn)
        never = [i for i in chunk if entry.at[i, "reason"] == "not_at_any_request"]
        wit = what_it_would_take(pa, scenario, ref, ids=never, max_candidates=0, n_jobs=1) if never else None
        for i in chunk:
            if entry.at[i, "reason"] == "request_cut":
                support = float(entry.at[i, "entry_support_krw_bn"])
                row(i, Message("left_out_request_cut", {"support": support,
                                                        "request": float(entry.at[i, "request_krw_bn"])}), support)
                continue
            rise = np.nan
            if wit is not None and i in wit.index and pd.notna(wit.at[i, "score_increase"]):
                rise = float(wit.at[i, "score_increase"])
            row(i, Message("left_out_score_rise", {"budget": budget, "points": rise}) if np.isfinite(rise)
                else Message("left_out_never", {"budget": budget}), rise=rise)
        yield frame(), min(start + size, len(cand_left)), len(cand_left)
