"""Evaluate applications: cash flows, then every finance metric, as one table.

:func:`evaluate` is the pure function behind ``python -m evaluator evaluate``, the ranking and
the app: applications + scenario + reference data -> :class:`Evaluation`.

Conventions (DESIGN.md): NPV at the scenario's real discount rate plus, when the scenario asks,
the host country's risk premium; valuation date = start of model year 1 (column 0 undiscounted,
numpy-financial convention; ``=NPV(r, Y1:Yn) + Y0`` in Excel). Payback is counted from first
production. The policy loan (``loan_request_krw_bn``) is drawn at the valuation date, pays
interest during its grace years and then amortises in equal instalments; DSCR is measured in the
years that carry debt service once production has started, or that repay principal earlier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from evaluator import cashflow, country_risk, credit, finance, special_loan
from evaluator.fiscal import RoyaltyBasis
from models.application import Application
from models.scenario import Scenario

#: Derived tables kept per evaluation (:meth:`Evaluation.memoised`).
MEMO_ENTRIES = 32


@dataclass(frozen=True)
class Evaluation:
    """Everything computed for a set of applications under one scenario.

    Attributes
    ----------
    applications : tuple of Application
    inputs : cashflow.ProjectInputs
        Resolved parameters and where each came from.
    cashflows : cashflow.CashflowTable
    loans : finance.LoanSchedule
        The policy loan per project [USD m].
    metrics : pandas.DataFrame
        One row per application (index ``id``), columns with units in their names.
    """

    applications: tuple[Application, ...]
    inputs: cashflow.ProjectInputs
    cashflows: cashflow.CashflowTable
    loans: object
    metrics: pd.DataFrame = field(repr=False)
    #: Tables derived from this evaluation alone (e.g. the offtake by year), computed once: the
    #: allocation and the supply projection read them on every budget move.
    memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def memoised(self, key: tuple, held, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A copy of ``compute()``, computed once for this evaluation, ``key`` and the objects
        ``held`` (one object or a tuple, each compared by identity: other reference tables, e.g.
        after a customs upload, or another simulation compute anew)."""
        held = held if isinstance(held, tuple) else (held,)
        hit = self.memo.get(key)
        if hit is None or len(hit[0]) != len(held) or any(a is not b for a, b in zip(hit[0], held)):
            hit = (held, compute())
            self.memo.pop(key, None)
            while len(self.memo) >= MEMO_ENTRIES:      # the oldest go first
                self.memo.pop(next(iter(self.memo)))
            self.memo[key] = hit
        return hit[1].copy()

    def application(self, app_id: str) -> Application:
        return self.applications[self.cashflows.index_of(app_id)]


def krw_bn_to_usd_m(krw_bn, fx_krw_per_usd: float):
    """KRW bn -> USD m: ``krw_bn * 1e9 / fx / 1e6``."""
    return np.asarray(krw_bn, dtype=float) * 1000.0 / fx_krw_per_usd


def usd_m_to_krw_bn(usd_m, fx_krw_per_usd: float):
    """USD m -> KRW bn: ``usd_m * 1e6 * fx / 1e9``."""
    return np.asarray(usd_m, dtype=float) * fx_krw_per_usd / 1000.0


def discount_rates(apps: Sequence[Application], scenario: Scenario, ref) -> tuple[np.ndarray, np.ndarray]:
    """Per-project discount rate [fraction] and the country risk premium in it [fraction]."""
    premium = country_risk.risk_premium(ref, [a.country_iso3 for a in apps])
    if not scenario.add_country_risk_premium:
        premium = np.zeros(len(apps))
    return scenario.discount_rate + premium, premium


#: ``dscr_scope`` labels: which debt the DSCR and LLCR cover
SCOPE_POLICY_ALONE = "policy loan alone (no other debt stated)"
SCOPE_WITH_SENIOR = "other debt and policy loan (other debt ranks ahead or pari passu)"
SCOPE_POLICY_AHEAD = "policy loan (the other debt ranks behind it)"


@dataclass(frozen=True)
class DebtCover:
    """Debt service covered by the DSCR and LLCR of the policy loan, per project.

    Attributes
    ----------
    policy_loan, senior_debt : finance.LoanSchedule
        Schedules [USD m] of the policy loan and of the other debt the application states.
    debt_service_usd_m : numpy.ndarray
        Debt service in scope of the ratios [USD m] (n, T): the policy loan plus all debt that
        ranks at or above it, in the years that carry debt service once production has started,
        or that repay principal earlier.
    min_dscr, avg_dscr, llcr : numpy.ndarray
        Ratios [-] over that debt service; the LLCR discounts at the principal-weighted rate.
    senior_debt_usd_m : numpy.ndarray
        Other debt stated [USD m].
    scope : list of str
        Per project, one of :data:`SCOPE_POLICY_ALONE` (the ratio covers the policy loan only
        because no other debt was stated: a high DSCR may then look safer than it is),
        :data:`SCOPE_WITH_SENIOR`, :data:`SCOPE_POLICY_AHEAD`.
    """

    policy_loan: finance.LoanSchedule
    senior_debt: finance.LoanSchedule
    debt_service_usd_m: np.ndarray
    min_dscr: np.ndarray
    avg_dscr: np.ndarray
    llcr: np.ndarray
    senior_debt_usd_m: np.ndarray
    scope: list


def other_debt(apps: Sequence[Application], n_periods: int) -> tuple[finance.LoanSchedule, np.ndarray]:
    """The other debt each application states (drawn at the valuation date, USD m) and whether
    it ranks at or above the policy loan, i.e. belongs in the policy loan's DSCR and LLCR
    (``policy_loan_rank`` other than ``ahead``)."""
    n = len(apps)
    senior_usd = np.array([a.senior_debt_usd_m or 0.0 for a in apps], dtype=float)
    sched = finance.loan_schedule(senior_usd, np.array([a.senior_debt_rate or 0.0 for a in apps]),
                                  np.array([a.senior_debt_tenor_years or 1 for a in apps]),
                                  np.array([a.senior_debt_grace_years or 0 for a in apps]), np.zeros(n, dtype=int),
                                  n_periods)
    return sched, (senior_usd > 0) & np.array([a.policy_loan_rank != "ahead" for a in apps], dtype=bool)


def policy_loan_schedule(apps: Sequence[Application], scenario: Scenario, n_periods: int):
    """The policy loan asked by each application [KRW bn] and its schedule in USD m: drawn at the
    valuation date, interest-only over the grace years, then level principal to the tenor at the
    scenario's policy-loan rate (:func:`evaluator.finance.loan_schedule`). The one home of the
    loan schedule: the evaluation, the Monte Carlo and the report take it from here."""
    loan_krw = np.array([a.loan_request_krw_bn for a in apps], dtype=float)
    loan_usd = krw_bn_to_usd_m(loan_krw, scenario.fx_krw_per_usd)
    return loan_krw, finance.loan_schedule(loan_usd, scenario.policy_loan_rate,
                                           np.array([a.loan_tenor_years for a in apps]),
                                           np.array([a.loan_grace_years for a in apps]),
                                           np.zeros(len(apps), dtype=int), n_periods)


def debt_cover(apps: Sequence[Application], scenario: Scenario, cf: cashflow.CashflowTable) -> DebtCover:
    """The policy loan, the other debt and the cover ratios over the debt ranking at or above
    the policy loan: the one home of the DSCR scope rule (app, CLI and report call this).

    Parameters
    ----------
    apps : sequence of Application
        Money fields in USD (:func:`evaluator.cashflow.in_usd`); ``loan_request_krw_bn``,
        ``loan_tenor_years``, ``loan_grace_years``, ``senior_debt_usd_m``, ``senior_debt_rate``,
        ``senior_debt_tenor_years``, ``senior_debt_grace_years``, ``policy_loan_rank``.
    scenario : Scenario
        ``policy_loan_rate``, ``fx_krw_per_usd``.
    cf : cashflow.CashflowTable
        CFADS and first production per project.

    Returns
    -------
    DebtCover

    Notes
    -----
    Both loans are drawn at the valuation date (column 0). The other debt is in scope unless
    ``policy_loan_rank`` is ``ahead`` (the other debt then ranks behind the policy loan).
    """
    n, T = cf.fcf_usd_m.shape
    _, policy = policy_loan_schedule(apps, scenario, T)
    loan_usd = policy.principal_usd_m.sum(axis=1)
    senior_usd = np.array([a.senior_debt_usd_m or 0.0 for a in apps], dtype=float)
    has_senior = senior_usd > 0
    senior, in_scope = other_debt(apps, T)
    ds = policy.debt_service_usd_m + np.where(in_scope[:, None], senior.debt_service_usd_m, 0.0)
    principal = policy.principal_usd_m + np.where(in_scope[:, None], senior.principal_usd_m, 0.0)
    balance = policy.balance_usd_m + np.where(in_scope[:, None], senior.balance_usd_m, 0.0)
    scoped = np.where(finance.dscr_in_scope(ds, principal, cf.first_production_index), ds, 0.0)
    min_dscr, avg_dscr = finance.dscr_summary(cf.cfads_usd_m, scoped)
    weight = loan_usd + np.where(in_scope, senior_usd, 0.0)
    senior_rate = np.array([a.senior_debt_rate or 0.0 for a in apps], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(weight > 0, (loan_usd * scenario.policy_loan_rate + np.where(in_scope, senior_usd, 0.0)
                                     * senior_rate) / np.where(weight > 0, weight, 1.0), scenario.policy_loan_rate)
    llcr = finance.llcr(rate, cf.cfads_usd_m, scoped, balance)
    scope = [SCOPE_WITH_SENIOR if s else (SCOPE_POLICY_AHEAD if h else SCOPE_POLICY_ALONE)
             for s, h in zip(in_scope, has_senior)]
    return DebtCover(policy, senior, scoped, min_dscr, avg_dscr, llcr, senior_usd, scope)


def _korea_irr(inputs: cashflow.ProjectInputs, cf: cashflow.CashflowTable, irr: np.ndarray) -> np.ndarray:
    """IRR of the Korean equity flow: the project's IRR where no dividend withholding applies
    (a positive share of a flow has the flow's IRR), solved only for the other rows."""
    share = inputs.korean_ownership_share
    wht = inputs.dividend_withholding_rate
    out = np.where(share > 0, irr, np.nan)
    rows = np.flatnonzero((wht > 0) & (share > 0))
    if len(rows):
        out[rows] = finance.irr(cf.korea_equity_fcf_usd_m[rows])
    return out


def _effective_tax_rate(cf: cashflow.CashflowTable) -> np.ndarray:
    """Income tax net of credits over the life / income before tax (EBITDA less tax
    depreciation) over the life [fraction]: the rate after depletion, losses, holidays and state
    taxes that a study's "effective tax rate" states (NaN when the income is not positive)."""
    income = (cf.ebitda_usd_m - cf.depreciation_usd_m).sum(axis=1)
    tax = (cf.tax_usd_m - cf.tax_credit_usd_m).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(income > 0, tax / np.where(income > 0, income, 1.0), np.nan)


def _source_column(inputs: cashflow.ProjectInputs, name: str, default) -> list:
    """One column of ``inputs.sources`` in project order (``default`` when absent)."""
    src = inputs.sources
    if src is None or name not in getattr(src, "columns", ()):
        return [default] * inputs.n
    return src[name].tolist()


def evaluate(apps: Sequence[Application], scenario: Scenario, ref, *, cashflows: cashflow.CashflowTable | None = None) -> Evaluation:
    """Cash flows and finance metrics for every application, vectorised over projects.

    Parameters
    ----------
    apps : sequence of Application
        Validated applications.
    scenario : Scenario
    ref : evaluator.reference.ReferenceData
    cashflows : CashflowTable, optional
        A prebuilt table for the same applications (e.g. from a simulation path).

    Returns
    -------
    Evaluation
        ``metrics`` columns: ``discount_rate``, ``risk_premium``, ``npv_usd_m``, ``npv_krw_bn``,
        ``npv_social_usd_m`` (at the social rate, no premium), ``irr``, ``irr_note``,
        ``npv_pretax_usd_m`` and ``irr_pretax`` (before income tax and tax credits),
        ``npv_korea_equity_usd_m`` and ``irr_korea_equity`` (the Korean parent's equity share of
        the after-tax flow, distributions net of dividend withholding),
        ``payback_years``, ``discounted_payback_years``, ``profitability_index``,
        ``support_request_krw_bn``, ``npv_per_support`` [KRW NPV per KRW of support],
        ``coverage_share`` (support / project cost), ``aisc_usd_per_t``, ``loan_usd_m``,
        ``min_dscr``, ``avg_dscr``, ``llcr`` (over the debt in scope, :func:`debt_cover`),
        ``base_case_default`` (the policy loan defaults on the base case under the credit model,
        :func:`evaluator.credit.default_test`: a shortfall after the reserve and retained cash
        that the remaining cash flow cannot repay),
        ``senior_debt_usd_m``, ``dscr_scope``, ``first_production_year``,
        ``steady_output_t_per_year``, ``korea_offtake_t_per_year`` (mean over the operating
        years), ``korea_offtake_t_full`` (at full production: the largest year) [t/yr],
        ``korea_offtake_t_target_year`` (in ``scenario.target_year``, with the ramp-up) [t], ``price_usd_per_t``,
        ``effective_tax_rate`` (income tax net of credits over income before tax, over the life),
        ``fiscal_region``, ``royalty_basis``, ``dividend_withholding_rate``, ``fiscal_warning``
        (a fallback to a default that an officer should see; empty when none), and the special
        loan's rules (:func:`_special_loan_columns`): the columns of
        :func:`evaluator.special_loan.coverage`, ``loan_success_contingent`` [bool],
        ``loan_levy_if_success_krw_bn``, ``loan_expected_levy_krw_bn`` and
        ``loan_interest_subsidy_krw_bn`` [KRW bn, PV at the social discount rate].
    """
    apps = tuple(cashflow.in_usd(a, scenario, ref) for a in apps)  # money fields in USD from here on
    inputs = cashflow.resolve_inputs(apps, scenario, ref)
    cf = cashflows if cashflows is not None else cashflow.build(inputs, first_year=scenario.first_year)
    fx = scenario.fx_krw_per_usd
    rate, premium = discount_rates(apps, scenario, ref)
    fp = cf.first_production_index
    (npv_usd_m, npv_social, irr, irr_note, npv_pretax, irr_pretax, npv_korea, irr_korea, payback, dpayback,
     pi) = _return_figures(scenario, inputs, cf, rate)

    fund = np.array([a.fund_request_krw_bn for a in apps], dtype=float)
    loan_krw = np.array([a.loan_request_krw_bn for a in apps], dtype=float)
    support = fund + loan_krw
    cost_krw = usd_m_to_krw_bn([a.total_project_cost_usd_m for a in apps], fx)
    npv_krw = usd_m_to_krw_bn(npv_usd_m, fx)

    loan_usd = krw_bn_to_usd_m(loan_krw, fx)
    cover = debt_cover(apps, scenario, cf)
    sched = cover.policy_loan
    base_default = credit.base_case_default(cover.debt_service_usd_m, cf.cfads_usd_m, scenario)

    with np.errstate(divide="ignore", invalid="ignore"):
        npv_per_support = np.where(support > 0, npv_krw / support, np.nan)
        coverage = np.where(cost_krw > 0, support / cost_krw, np.nan)
    aisc, steady, offtake, offtake_full, offtake_target = _output_figures(scenario, inputs, cf)

    loan_rules = _special_loan_columns(apps, scenario, ref, cf, sched)

    m = pd.DataFrame({
        "name": [a.name for a in apps],
        "country_iso3": [a.country_iso3 for a in apps],
        "mineral": [a.mineral for a in apps],
        "stage": [a.stage for a in apps],
        "discount_rate": rate,
        "risk_premium": premium,
        "npv_usd_m": npv_usd_m,
        "npv_krw_bn": npv_krw,
        "npv_social_usd_m": npv_social,
        "irr": irr,
        "irr_note": irr_note,
        "npv_pretax_usd_m": npv_pretax,
        "irr_pretax": irr_pretax,
        "npv_korea_equity_usd_m": npv_korea,
        "irr_korea_equity": irr_korea,
        "payback_years": payback,
        "discounted_payback_years": dpayback,
        "profitability_index": pi,
        "initial_capex_usd_m": _initial_capex_usd_m(inputs, cf),
        "fund_request_krw_bn": fund,
        "loan_request_krw_bn": loan_krw,
        "support_request_krw_bn": support,
        "project_cost_krw_bn": cost_krw,
        "coverage_share": coverage,
        "npv_per_support": npv_per_support,
        "aisc_usd_per_t": aisc,
        "price_usd_per_t": inputs.price_usd_per_t,
        "loan_usd_m": loan_usd,
        "min_dscr": cover.min_dscr,
        "avg_dscr": cover.avg_dscr,
        "llcr": cover.llcr,
        "base_case_default": base_default & (loan_krw > 0),
        "senior_debt_usd_m": cover.senior_debt_usd_m,
        "dscr_scope": cover.scope,
        "first_production_year": scenario.first_year - 1 + fp,
        "operating_years": inputs.operating_years,
        "steady_output_t_per_year": steady,
        "korea_offtake_t_per_year": offtake,
        "korea_offtake_t_full": offtake_full,
        "korea_offtake_t_target_year": offtake_target,
        "korea_offtake_share": inputs.korea_offtake_share,
        "royalty_rate": inputs.royalty_rate,
        "income_tax_rate": inputs.income_tax_rate,
        "effective_tax_rate": _effective_tax_rate(cf),
        "fiscal_region": _source_column(inputs, "fiscal_region", ""),
        "royalty_basis": _source_column(inputs, "royalty_basis", RoyaltyBasis.NSR.key),
        "dividend_withholding_rate": inputs.dividend_withholding_rate,
        "fiscal_warning": _source_column(inputs, "fiscal_warning", ""),
    }, index=pd.Index([a.id for a in apps], name="id"))
    m = m.join(loan_rules)
    return Evaluation(apps, inputs, cf, sched, m)



def _return_figures(scenario: Scenario, inputs, cf: cashflow.CashflowTable, rate: np.ndarray) -> tuple:
    """The returns of :func:`evaluate`: ``(npv_usd_m, npv_social, irr, irr_note, npv_pretax,
    irr_pretax, npv_korea, irr_korea, payback, dpayback, pi)`` (its metrics of those names)."""
    fcf = cf.fcf_usd_m
    npv_usd_m = finance.npv(rate, fcf, **scenario.discounting)
    npv_social = finance.npv(scenario.social_discount_rate, fcf, **scenario.discounting)
    irr, irr_note = finance.irr_with_reason(fcf)
    npv_pretax = finance.npv(rate, cf.pretax_fcf_usd_m, **scenario.discounting)
    irr_pretax, _ = finance.irr_with_reason(cf.pretax_fcf_usd_m)
    npv_korea = finance.npv(rate, cf.korea_equity_fcf_usd_m, **scenario.discounting)
    irr_korea = _korea_irr(inputs, cf, irr)
    fp = cf.first_production_index
    payback = finance.payback_years(fcf, start_index=fp)
    dpayback = finance.discounted_payback_years(rate, fcf, start_index=fp, **scenario.discounting)
    pi = finance.profitability_index(rate, fcf)
    return npv_usd_m, npv_social, irr, irr_note, npv_pretax, irr_pretax, npv_korea, irr_korea, payback, dpayback, pi


def _initial_capex_usd_m(inputs, cf: cashflow.CashflowTable) -> np.ndarray:
    """Initial capital per project [USD m]: with a capital schedule, its years before the first
    production year."""
    T = cf.fcf_usd_m.shape[1]
    fp = cf.first_production_index
    return np.where(inputs.has_capex_schedule,
                    np.where(np.arange(T)[None, :] < fp[:, None], cf.initial_capex_usd_m, 0.0).sum(axis=1),
                    inputs.initial_capex_usd_m)


def _output_figures(scenario: Scenario, inputs, cf: cashflow.CashflowTable) -> tuple:
    """The output figures of :func:`evaluate`: ``(aisc, steady, offtake, offtake_full,
    offtake_target)`` (its metrics ``aisc_usd_per_t``, ``steady_output_t_per_year``,
    ``korea_offtake_t_per_year``, ``korea_offtake_t_full``, ``korea_offtake_t_target_year``)."""
    payable = cf.payable_t.sum(axis=1)
    aisc_cost = (cf.opex_usd_m + cf.royalty_usd_m + cf.offsite_costs_usd_m + cf.sustaining_capex_usd_m).sum(axis=1) \
        - cf.byproduct_revenue_usd_m.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        aisc = np.where(payable > 0, aisc_cost * 1e6 / payable, np.nan)
    op_years = np.maximum(inputs.operating_years, 1)
    steady = cf.product_t.sum(axis=1) / op_years
    offtake = cf.korea_offtake_t.sum(axis=1) / op_years
    # the offtake shown: at full production (the largest year) and in the target year, with the
    # ramp-up (column t is calendar year first_year - 1 + t), never the first ramp-up year alone
    k_off = np.asarray(cf.korea_offtake_t, dtype=float)
    offtake_full = k_off.max(axis=1) if k_off.shape[1] else np.zeros(len(k_off))
    k_target = int(scenario.target_year) - int(scenario.first_year) + 1
    offtake_target = k_off[:, k_target] if 0 <= k_target < k_off.shape[1] else np.zeros(len(k_off))
    return aisc, steady, offtake, offtake_full, offtake_target

def _special_loan_columns(apps, scenario: Scenario, ref, cf: cashflow.CashflowTable, sched) -> pd.DataFrame:
    """The special loan's rules per project (:mod:`evaluator.special_loan`): the coverage cap on the
    applicant's own spending, whether the loan is success-contingent (waived in part on failure),
    the special levy (its PV if the project succeeds and probability-weighted) and the interest
    subsidy, both at the social discount rate (the government's view) [KRW bn]."""
    cov = special_loan.coverage(apps, scenario, ref)
    contingent = special_loan.success_contingent(ref, [a.stage for a in apps], [a.mineral for a in apps])
    has_loan = np.array([a.loan_request_krw_bn > 0 for a in apps], dtype=bool)
    contingent &= has_loan
    net_income = cf.ebitda_usd_m - cf.depreciation_usd_m - cf.depletion_usd_m - cf.tax_usd_m + cf.tax_credit_usd_m
    levy_if_success = special_loan.levy_pv_krw_bn(
        net_income, [a.korean_ownership_share for a in apps], sched.maturity_index,
        levy_share=scenario.success_levy_share, levy_years=scenario.success_levy_years,
        rate=scenario.social_discount_rate, fx_krw_per_usd=scenario.fx_krw_per_usd)
    p_success = np.array([1.0 if a.success_probability is None else a.success_probability for a in apps], dtype=float)
    cov["loan_success_contingent"] = contingent
    cov["loan_levy_if_success_krw_bn"] = np.where(contingent, levy_if_success, 0.0)
    cov["loan_expected_levy_krw_bn"] = np.where(contingent, p_success * levy_if_success, 0.0)
    cov["loan_interest_subsidy_krw_bn"] = special_loan.interest_subsidy_pv_krw_bn(
        sched.balance_usd_m, scenario, scenario.social_discount_rate)
    return cov
