"""``python -m evaluator rank FILE``: screen, score and rank applications.

Prints one record per valid application, eligible ones by rank and then the ineligible ones
(``rank`` empty, ``ineligible_reasons`` filled). ``--weights`` overrides some or all of the
scenario's criteria weights (criteria not named keep the scenario's weight); a bad weight stops
the command with exit status 2. ``--risk-adjusted [p10_npv|prob_loss]`` ranks on the simulated
figures, which are then printed beside the point NPV.
"""

from __future__ import annotations

import pandas as pd

from evaluator.cli.common import (
    add_common,
    add_risk_options,
    add_weights_option,
    emit,
    run_pipeline,
)
from models.scenario import CRITERIA

#: Fields of a ``rank`` record (DESIGN.md interface: snake_case with units).
RANK_FIELDS = [
    "id", "name", "country_iso3", "mineral", "stage", "npv_usd_m", "irr", "payback_years", "min_dscr",
    "country_risk_score", "risk_premium", "expected_loss_krw_bn", "loan_expected_levy_krw_bn",
    "loan_expected_net_cost_krw_bn", "loan_interest_subsidy_krw_bn", "applicant_spending_krw_bn", "loan_cap_tier",
    "loan_cap_share", "loan_cap_krw_bn", "diversification_score",
    "china_share_after", "score", "rank", "rank_range", "eligible", "ineligible_reasons",
] + [f"contrib_{c}" for c in CRITERIA]
#: Simulated fields added after ``npv_usd_m`` when the ranking is risk-adjusted.
RISK_FIELDS = ["npv_p10_usd_m", "prob_npv_negative"]
#: Narrower column set for ``--format table`` (reasons printed below the table).
TABLE_FIELDS = ["rank", "id", "country_iso3", "mineral", "score", "rank_range"] + \
    [f"contrib_{c}" for c in CRITERIA] + ["eligible"]


def add_arguments(p) -> None:
    add_common(p)
    add_weights_option(p)
    add_risk_options(p)


def run(args) -> int:
    _, _, _, result, code = run_pipeline(args, allocate=False)
    if result is None:
        emit(pd.DataFrame(columns=RANK_FIELDS), args.format)
        return code
    table = result.ranking.reset_index()
    table["rank"] = table["rank"].astype("Int64")
    fields = RANK_FIELDS if result.simulation is None else RANK_FIELDS[:6] + RISK_FIELDS + RANK_FIELDS[6:]
    if args.format == "table":
        emit(table[TABLE_FIELDS], "table")
        bad = table[~table["eligible"]]
        if len(bad):
            print("\nNot eligible:")
            for _, r in bad.iterrows():
                print(f"  {r['id']}: {r['ineligible_reasons']}")
    else:
        rec = table[fields].copy()
        rec["rank"] = rec["rank"].astype(object).where(rec["rank"].notna(), None)
        emit(rec, args.format)
    return code
