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
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator import cashflow, finance
from evaluator import country_risk
from models.application import Application
from models.scenario import Scenario

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
        ``min_dscr``, ``avg_dscr``, ``llcr``, ``first_production_year``,
        ``steady_output_t_per_year``, ``korea_offtake_t_per_year``, ``price_usd_per_t``,
        ``fiscal_region``, ``royalty_basis``, ``dividend_withholding_rate``, ``fiscal_warning``
        (a fallback to a default that an officer should see; empty when none).
    """
    apps = tuple(cashflow.in_usd(a, scenario, ref) for a in apps)  # money fields in USD from here on
    inputs = cashflow.resolve_inputs(apps, scenario, ref)
    cf = cashflows if cashflows is not None else cashflow.build(inputs, first_year=scenario.first_year)
    n, T = cf.fcf_usd_m.shape
    fx = scenario.fx_krw_per_usd
    rate, premium = discount_rates(apps, scenario, ref)
    fcf = cf.fcf_usd_m
    npv_usd_m = finance.npv(rate, fcf, mid_year=scenario.mid_year)
    npv_social = finance.npv(scenario.social_discount_rate, fcf, mid_year=scenario.mid_year)
    irr, irr_note = finance.irr_with_reason(fcf)
    npv_pretax = finance.npv(rate, cf.pretax_fcf_usd_m, mid_year=scenario.mid_year)
    irr_pretax, _ = finance.irr_with_reason(cf.pretax_fcf_usd_m)
    npv_korea = finance.npv(rate, cf.korea_equity_fcf_usd_m, mid_year=scenario.mid_year)
    irr_korea, _ = finance.irr_with_reason(cf.korea_equity_fcf_usd_m)
    fp = cf.first_production_index
    payback = finance.payback_years(fcf, start_index=fp)
    dpayback = finance.discounted_payback_years(rate, fcf, start_index=fp, mid_year=scenario.mid_year)
    pi = finance.profitability_index(rate, fcf)

    fund = np.array([a.fund_request_krw_bn for a in apps], dtype=float)
    loan_krw = np.array([a.loan_request_krw_bn for a in apps], dtype=float)
    support = fund + loan_krw
    cost_krw = usd_m_to_krw_bn([a.total_project_cost_usd_m for a in apps], fx)
    npv_krw = usd_m_to_krw_bn(npv_usd_m, fx)

    loan_usd = krw_bn_to_usd_m(loan_krw, fx)
    sched = finance.loan_schedule(loan_usd, scenario.policy_loan_rate,
                                  np.array([a.loan_tenor_years for a in apps]),
                                  np.array([a.loan_grace_years for a in apps]),
                                  np.zeros(n, dtype=int), T)
    ds = sched.debt_service_usd_m
    t = np.arange(T)[None, :]
    in_scope = (ds > 1e-12) & ((t >= fp[:, None]) | (sched.principal_usd_m > 1e-12))
    ds_scoped = np.where(in_scope, ds, 0.0)
    min_dscr, avg_dscr = finance.dscr_summary(cf.cfads_usd_m, ds_scoped)
    llcr = finance.llcr(scenario.policy_loan_rate, cf.cfads_usd_m, ds_scoped, sched.balance_usd_m)

    payable = cf.payable_t.sum(axis=1)
    aisc_cost = (cf.opex_usd_m + cf.royalty_usd_m + cf.offsite_costs_usd_m + cf.sustaining_capex_usd_m).sum(axis=1) \
        - cf.byproduct_revenue_usd_m.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        aisc = np.where(payable > 0, aisc_cost * 1e6 / payable, np.nan)
        npv_per_support = np.where(support > 0, npv_krw / support, np.nan)
        coverage = np.where(cost_krw > 0, support / cost_krw, np.nan)
    op_years = np.maximum(inputs.operating_years, 1)
    steady = cf.product_t.sum(axis=1) / op_years
    offtake = cf.korea_offtake_t.sum(axis=1) / op_years

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
        "initial_capex_usd_m": np.where(inputs.has_capex_schedule,
                                        np.where(np.arange(T)[None, :] < fp[:, None], cf.initial_capex_usd_m, 0.0).sum(axis=1),
                                        inputs.initial_capex_usd_m),
        "fund_request_krw_bn": fund,
        "loan_request_krw_bn": loan_krw,
        "support_request_krw_bn": support,
        "project_cost_krw_bn": cost_krw,
        "coverage_share": coverage,
        "npv_per_support": npv_per_support,
        "aisc_usd_per_t": aisc,
        "price_usd_per_t": inputs.price_usd_per_t,
        "loan_usd_m": loan_usd,
        "min_dscr": min_dscr,
        "avg_dscr": avg_dscr,
        "llcr": llcr,
        "first_production_year": scenario.first_year - 1 + fp,
        "operating_years": inputs.operating_years,
        "steady_output_t_per_year": steady,
        "korea_offtake_t_per_year": offtake,
        "korea_offtake_share": inputs.korea_offtake_share,
        "royalty_rate": inputs.royalty_rate,
        "income_tax_rate": inputs.income_tax_rate,
        "fiscal_region": _source_column(inputs, "fiscal_region", ""),
        "royalty_basis": _source_column(inputs, "royalty_basis", "nsr"),
        "dividend_withholding_rate": inputs.dividend_withholding_rate,
        "fiscal_warning": _source_column(inputs, "fiscal_warning", ""),
    }, index=pd.Index([a.id for a in apps], name="id"))
    return Evaluation(apps, inputs, cf, sched, m)
