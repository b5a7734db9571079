"""``python -m evaluator allocate FILE``: split the fund and the loan budget over the applications.

With ``--explain`` every left-out application is explained in words with its number
(:func:`evaluator.left_out.explain_left_out`): the records gain ``entry_support_krw_bn`` (the total
support at which it would have been funded, everything else unchanged), ``score_increase`` and a
``note`` in words (``--language``).
"""

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
    p.add_argument("--explain", action="store_true",
                   help="explain every left-out application: the total support at which it would have been funded "
                        "(entry_support_krw_bn), or the score rise, or the rule that excludes it (note)")
    p.add_argument("--language", choices=("en", "ko"), default="en", help="language of the --explain notes")


def allocation_table(result) -> pd.DataFrame:
    """One record per application: what it asked, what it gets, and why."""
    t = result.allocation.table.join(result.table[["eligible"]]).reset_index()
    return t[ALLOCATION_FIELDS]


def run(args) -> int:
    _, scenario, ref, result, code = run_pipeline(args, allocate=True)
    if result is None:
        emit(pd.DataFrame(columns=ALLOCATION_FIELDS), args.format)
        return code
    table = allocation_table(result)
    if getattr(args, "explain", False):
        from evaluator.left_out import explain_left_out

        ex = explain_left_out(result.allocation, scenario, ref, language=args.language)
        table = table.join(ex[["entry_support_krw_bn", "request_cut_krw_bn", "score_increase", "explanation"]], on="id")
        words = table["explanation"].where(table["explanation"].notna(), table["note"])
        table = table.drop(columns=["explanation"]).assign(note=words.fillna(""))
    emit(table, args.format, summary=result.summary.as_record())
    return code
