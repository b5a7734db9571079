"""``python -m evaluator evaluate FILE``: cash flows and finance metrics per application."""

from __future__ import annotations

import pandas as pd

from evaluator.cli.common import EXIT_INVALID_ROWS, add_common, emit, load_inputs, status

#: Fields printed by ``evaluate`` (DESIGN.md interface: snake_case with units).
EVALUATE_FIELDS = [
    "id", "name", "country_iso3", "mineral", "stage", "npv_usd_m", "npv_krw_bn", "irr", "irr_note",
    "payback_years", "discounted_payback_years", "profitability_index", "npv_per_support",
    "aisc_usd_per_t", "min_dscr", "avg_dscr", "llcr", "discount_rate", "risk_premium",
    "support_request_krw_bn", "coverage_share", "first_production_year", "korea_offtake_t_per_year",
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
    emit(ev.metrics.reset_index()[EVALUATE_FIELDS], args.format)
    return status(loaded)
