"""One credit model for a policy loan: when a shortfall of cash becomes a default.

The static evaluation (:func:`evaluator.evaluate.evaluate`, its ``base_case_default`` column),
the Monte Carlo (:mod:`evaluator.uncertainty`: the fast kernel and the reference path) and the
portfolio simulation all call :func:`default_test` on the same quantities: the cash flow available
for debt service (CFADS, :mod:`evaluator.cashflow`), the scheduled debt service of the loan's own
schedule (:func:`evaluator.evaluate.policy_loan_schedule`, with the other debt that ranks at or
above it) and the years of the DSCR's scope (:func:`evaluator.finance.dscr_in_scope`:
construction and the interest-only years before production are carried by the financing plan).

The rule
--------
In each year ``t`` of the scope, in the loan's currency:

* The project's cash ``C_t = R + sum_{s <= t} (CFADS_s - DS_s)``: it starts with the debt-service
  reserve ``R`` (:func:`reserve_usd_m`: ``dsra_months / 12`` x the largest scheduled yearly debt
  service in scope, funded by the financing plan before the first year in scope) and carries
  forward what each year leaves after debt service (assumption: no distribution to the sponsors
  while the policy loan is outstanding, so the cash a strong year builds up serves a weak one).
* A year whose CFADS would be negative contributes nothing, not a loss (assumption: the operator
  idles a mine that cannot cover its cash costs, the option to close temporarily of Brennan and
  Schwartz 1985 [3]_, with the holding costs carried by the sponsor; a mine that kept producing at
  a loss through a price trough would burn the lenders' cash, which no lender allows).
* A **payment shortfall** is a year with ``C_t < 0``: the year's debt service exceeds the cash
  available, reserve and retained cash included. A single year with DSCR below 1 is no shortfall
  when the reserve or the retained cash covers it.
* A shortfall is a **default** (a loss) only when the loan can no longer be serviced over its
  remaining life: the loan life cover ratio at that point, with the cash on hand,
  ``LLCR_t = (C_{t-1} + PV_t(CFADS_t..m)) / PV_t(DS_t..m)``, is below 1 (``m`` the loan's last
  year in scope, PV at the policy-loan rate to the start of year ``t``; ``PV_t(DS_t..m)`` is the
  balance outstanding at ``t`` when the rate is the loan's, Yescombe 2014 [1]_). Otherwise the
  missed payment is rescheduled and recovered from later years (it stays as arrears in ``C``).
  The first such year is the year of default.

With no uncertainty this is a statement about the base case: a loan whose minimum DSCR in scope
is at least 1 never defaults (``C_t >= R >= 0``); one whose cash flow falls short of debt service
by more than the reserve and all it retained, and whose remaining cash flow cannot repay what is
outstanding, does. In the simulation the CFADS are each path's (realised, so the LLCR at ``t``
is the one the path turns out to have: an ex-post test of whether the loan is repaid).

Loss given default and timing: the loss is ``loan x LGD`` (scenario ``lgd``, exposure at default
= the loan's face value, as the static expected loss ``loan x PD x LGD``), recognised in the year
of default. Exploration failure is not a default but the success-contingent write-off
(:mod:`evaluator.uncertainty.portfolio_paths`).

Causes the cash-flow model does not simulate (a mine's operating accidents, a sponsor's failure,
political events) enter the simulation as a baseline hazard (:func:`baseline_annual_hazard`):
the static model's annual probability of default of a loan the cash flow covers many times.

References
----------
.. [1] Yescombe, E. R. (2014). Principles of Project Finance, 2nd ed., Academic Press: cover
   ratios (ADSCR, LLCR) and reserve accounts (a debt-service reserve of typically six months).
.. [2] Moody's Investors Service (2017). Default and Recovery Rates for Project Finance Bank
   Loans, 1983-2015 (10-year cumulative default rate 6.7 % for the whole sample).
.. [3] Brennan, M. J. and Schwartz, E. S. (1985). "Evaluating natural resource investments."
   Journal of Business 58(2): 135-157 (the option to close a mine temporarily).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: A cash balance below minus this counts as short [USD m] (rounding of sums of many years).
SHORTFALL_TOL_USD_M = 1e-9


def reserve_usd_m(scoped_debt_service_usd_m, dsra_months: float):
    """Debt-service reserve per loan [USD m]: ``dsra_months / 12`` x the largest scheduled
    yearly debt service in the DSCR's scope (0 where no year is in scope).

    Parameters
    ----------
    scoped_debt_service_usd_m : array_like
        ``(..., T)`` debt service in scope [USD m] (zero outside the scope).
    dsra_months : float
        Months of debt service held [months] (scenario ``dsra_months``).
    """
    ds = np.asarray(scoped_debt_service_usd_m, dtype=float)
    return float(dsra_months) / 12.0 * np.max(ds, axis=-1, initial=0.0)


def default_test(cfads_usd_m, debt_service_usd_m, in_scope, reserve_usd_m, rate: float, *, axis: int = -1,
                 years=None):
    """Whether (and when) a loan defaults under the credit rule of this module.

    Parameters
    ----------
    cfads_usd_m, debt_service_usd_m : array_like
        CFADS and scheduled debt service [loan currency, e.g. USD m at the scenario's rate], time
        on ``axis``. A negative CFADS counts as 0 (module notes).
    in_scope : array_like of bool or None
        Years in the DSCR's scope, broadcastable to the flows (None: every year given is).
    reserve_usd_m : array_like
        Debt-service reserve per loan [same unit], the flows' shape without the time axis.
    rate : float
        Rate the remaining cash flow is discounted at [fraction/yr] (the policy-loan rate).
    axis : int
        Time axis of the flows.
    years : array_like of int, optional
        Model year of each position on the time axis (default ``0, 1, ...``): the LLCR discounts
        by the years between them.

    Returns
    -------
    defaulted : numpy.ndarray of bool
        Per loan (the flows' shape without the time axis).
    first : numpy.ndarray of int
        Position on the time axis of the year of default; -1 where none.
    """
    # time on axis 0, contiguous: cumulative sums run over whole rows of loans at once (a short
    # time axis last would cost a loop per loan inside numpy)
    shape = np.shape(cfads_usd_m)
    cf = np.moveaxis(np.asarray(cfads_usd_m, dtype=float), axis, 0)
    ds = np.moveaxis(np.broadcast_to(np.asarray(debt_service_usd_m, dtype=float), shape), axis, 0)
    net = np.maximum(cf, 0.0, order="C")                     # a year of negative CFADS: the mine idles (module notes)
    net -= ds
    scope = None
    if in_scope is not None:
        scope = np.moveaxis(np.broadcast_to(np.asarray(in_scope, dtype=bool), shape), axis, 0)
        net[~scope] = 0.0
    T = net.shape[0]
    rest = net.shape[1:]
    first = np.full(rest, -1, dtype=np.int64)
    # only a loan with some year short of debt service can default (else C_t >= R >= 0 always)
    short = (net < 0).any(axis=0) if T else np.zeros(rest, dtype=bool)
    if not short.any():
        return first >= 0, first
    net = net[:, short]
    reserve = np.broadcast_to(np.asarray(reserve_usd_m, dtype=float), rest)[short]
    if scope is not None:
        scope = scope[:, short]
    y = np.arange(T, dtype=float) if years is None else np.asarray(years, dtype=float)
    y = y - (y[0] if T else 0.0)                             # discount weights relative to the first column
    v = 1.0 / (1.0 + float(rate))
    w = (v ** y).reshape((T,) + (1,) * (net.ndim - 1))
    cash = net.copy()
    if T:
        cash[0] += reserve                                    # the reserve before the first year, then carried
    _cumsum_years(cash)
    # remaining life: sum_{s >= t} net_s v^(y_s - y_t + 1) = v x (sum_{s >= t} net_s w_s) / w_t
    tail = net * w
    _cumsum_years(tail[::-1])                                # in place: sum over s >= t
    tail *= v / w
    tail += cash
    tail -= net                                              # + the cash on hand before year t
    lost = cash < -SHORTFALL_TOL_USD_M
    lost &= tail < -SHORTFALL_TOL_USD_M
    if scope is not None:
        lost &= scope
    found = np.full(lost.shape[1:], -1, dtype=np.int64)
    for t in range(T - 1, -1, -1):                           # the earliest year wins
        found[lost[t]] = t
    first[short] = found
    return first >= 0, first


def base_case_default(scoped_debt_service_usd_m, cfads_usd_m, scenario) -> np.ndarray:
    """Whether each project's loan defaults on its base case [bool per row]: :func:`default_test`
    on the evaluation's CFADS and the debt service in the DSCR's scope
    (:attr:`evaluator.evaluate.DebtCover.debt_service_usd_m`), with the scenario's reserve
    (``dsra_months``) and the policy-loan rate. What the simulation finds with no uncertainty."""
    ds = np.asarray(scoped_debt_service_usd_m, dtype=float)
    return default_test(cfads_usd_m, ds, ds > 0, reserve_usd_m(ds, scenario.dsra_months),
                        scenario.policy_loan_rate)[0]


def _cumsum_years(x: np.ndarray) -> np.ndarray:
    """In place: cumulative sum over axis 0 (years), one vectorised add per year (numpy's
    ``cumsum(axis=0)`` runs a short loop per column, many times slower on (years, paths))."""
    for t in range(1, x.shape[0]):
        x[t] += x[t - 1]
    return x


def baseline_annual_hazard(ref, iso3s: Sequence[str]) -> np.ndarray:
    """Annual probability of default the simulation adds for causes its cash flows do not model
    [fraction/yr]: the static model's annual PD of a loan in the host country whose cash flow
    covers debt service many times (``pd_by_oecd.csv`` x the smallest multiplier of
    ``pd_dscr_multipliers.csv``), so that a well-covered loan has the same PD in both models."""
    from evaluator import country_risk
    from evaluator.reference import annual_pd

    floor = float(country_risk.dscr_multipliers(ref)["pd_multiplier"].min())
    return np.array([annual_pd(ref, str(c).strip().upper()) for c in iso3s], dtype=float) * floor


def hazard_default_years(hazard: np.ndarray, tenor_years: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Model-year column of a baseline-hazard default per (loan, path), -1 where none.

    ``hazard`` ``(n,)`` [fraction/yr], ``tenor_years`` ``(n,)``, ``u`` ``(n, P)`` uniforms on (0, 1].
    The loan is drawn at the valuation date (column 0) and is exposed in years ``1..tenor``; the
    year of default is geometric, ``k = 1 + floor(ln u / ln(1 - h))``, so that
    ``P(k <= tenor) = 1 - (1 - h)^tenor``, the static model's cumulative PD.
    """
    h = np.clip(np.asarray(hazard, dtype=float), 0.0, 1.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(h >= 1.0, 1.0, np.where(h > 0, 1.0 + np.floor(np.log(u) / np.log1p(-np.minimum(h, 1 - 1e-16))),
                                             np.inf))
    return np.where(k <= np.asarray(tenor_years, dtype=float)[:, None], k, -1).astype(np.int32)
