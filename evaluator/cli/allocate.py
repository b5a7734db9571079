"""``python -m evaluator allocate FILE``: split the fund and the loan budget over the applications."""

from __future__ import annotations

import pandas as pd

from evaluator.cli.common import add_common, add_decision_options, emit, run_pipeline

ALLOCATION_FIELDS = ["id", "name", "country_iso3", "mineral", "score", "eligible", "fund_request_krw_bn",
                     "loan_request_krw_bn", "fund_krw_bn", "loan_krw_bn", "fraction", "selected",
                     "coverage_share", "loan_cap_krw_bn", "support_cap_krw_bn", "expected_loss_krw_bn",
                     "loan_expected_levy_krw_bn", "loan_expected_net_cost_krw_bn", "note"]


def add_arguments(p) -> None:
    add_common(p)
    add_decision_options(p)


def allocation_table(result) -> pd.DataFrame:
    """One record per application: what it asked, what it gets, and why."""
    t = result.allocation.table.join(result.table[["eligible"]]).reset_index()
    return t[ALLOCATION_FIELDS]


def run(args) -> int:
    _, _, _, result, code = run_pipeline(args, allocate=True)
    if result is None:
        emit(pd.DataFrame(columns=ALLOCATION_FIELDS), args.format)
        return code
    emit(allocation_table(result), args.format, summary=result.summary.as_record())
    return code
