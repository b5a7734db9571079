"""``python -m evaluator evaluate FILE``: cash flows and finance metrics per application."""

from __future__ import annotations

import pandas as pd

from evaluator.cli.common import EXIT_INVALID_ROWS, add_common, emit, load_inputs, status
from evaluator.reconcile import STUDY_COLUMNS

#: Fields printed by ``evaluate`` (DESIGN.md interface: snake_case with units): the fund's view
#: after tax, pre-tax, the Korean investor's equity view, and, where the application carries the
#: study's figures, the study's NPV, the tool's on the study's basis and the bridge's steps
#: (``bridge_*_usd_m``, adding up to ``npv_usd_m - study_npv_usd_m``; evaluator/reconcile.py).
EVALUATE_FIELDS = [
    "id", "name", "country_iso3", "mineral", "stage", "npv_usd_m", "npv_krw_bn", "irr", "irr_note",
    "npv_pretax_usd_m", "irr_pretax", "npv_korea_equity_usd_m", "irr_korea_equity", "effective_tax_rate",
    "payback_years", "discounted_payback_years", "profitability_index", "npv_per_support",
    "aisc_usd_per_t", "min_dscr", "avg_dscr", "llcr", "discount_rate", "risk_premium",
    "support_request_krw_bn", "coverage_share", "applicant_spending_krw_bn", "loan_cap_tier", "loan_cap_share",
    "loan_cap_krw_bn", "support_cap_krw_bn", "loan_success_contingent", "loan_expected_levy_krw_bn",
    "loan_interest_subsidy_krw_bn", "first_production_year", "korea_offtake_t_per_year",
    "korea_offtake_t_full", "korea_offtake_t_target_year",
    *STUDY_COLUMNS,
]


def add_arguments(p) -> None:
    add_common(p)


def run(args) -> int:
    from evaluator import pipeline

    ref, scenario, loaded = load_inputs(args)
    if not loaded.applications:
        emit(pd.DataFrame(columns=EVALUATE_FIELDS), args.format)
        return status(loaded) or EXIT_INVALID_ROWS
    ev = pipeline.evaluate_step(loaded.applications, scenario, ref)
    study = pipeline.study_bridge_step(loaded.applications, scenario, ref)
    emit(ev.metrics.join(study).reset_index()[EVALUATE_FIELDS], args.format)
    return status(loaded)
