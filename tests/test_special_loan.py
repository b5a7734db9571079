"""The special loan's own rules (issue 23), each against a hand computation.

Sources of the rules: evaluator/data/loan_terms.csv, loan_cap_tiers.csv and
loan_write_off_minerals.csv (해외자원개발 사업법 art. 11, 시행령 art. 11-3, 시행규칙 art. 4-2; 2020
execution plan; 2024 and 2026 terms as reported).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evaluator import country_risk as cr
from evaluator import pipeline, special_loan
from models.application import parse_application

FX = 1461.0


@pytest.fixture(scope="module")
def scen(scenario):
    return scenario


@pytest.fixture(scope="module")
def apps(sample_apps):
    return {a.id: a for a in sample_apps}


@pytest.fixture(scope="module")
def full(sample_apps, scenario, ref):
    return pipeline.run(sample_apps, scenario, ref)


@pytest.fixture(scope="module")
def base_app(apps):
    # a 10 % stake in a USD 300 m project asking KRW 60 bn + 30 bn (the issue's example); gold is not
    # a critical mineral, so the other criteria decide the tier
    return dataclasses.replace(apps["VN-W-01"], id="X-1", korean_ownership_share=0.10, total_project_cost_usd_m=300.0,
                               fund_request_krw_bn=60.0, loan_request_krw_bn=30.0)


def _cov(app, scen, ref):
    return special_loan.coverage([app], scen, ref).iloc[0]


def test_issue_example_is_not_eligible_in_full(base_app, scen, ref):
    # own spending 0.10 x 300 = USD 30 m x 1,461 / 1000 = 43.83 KRW bn; loan cap 70 % x 43.83 = 30.681
    # (tungsten: critical, preferred tier); fund + loan 90 > 43.83
    c = _cov(base_app, scen, ref)
    assert c["applicant_spending_krw_bn"] == pytest.approx(43.83)
    assert c["loan_cap_krw_bn"] == pytest.approx(0.7 * 43.83)
    assert c["above_cap"]
    assert c["cap_max_fraction"] == pytest.approx(43.83 / 90)
    res = pipeline.run([base_app], scen, ref, allocate=False)
    assert not res.scores.table.loc["X-1", "eligible"]
    assert "fund + loan 90.0 KRW bn exceed the applicant's own spending" in res.scores.table.loc["X-1", "ineligible_reasons"]


def test_above_cap_funded_only_up_to_the_cap_when_the_officer_allows_it(base_app, scen, ref):
    s = scen.replace(allow_partial_above_cap=True, min_fraction=0.1, country_cap_share=1.0, mineral_cap_share=1.0)
    res = pipeline.run([base_app], s, ref)
    t = res.allocation.table
    assert res.scores.table.loc["X-1", "eligible"]
    # funded at x = 43.83 / 90 of both requests: fund 29.22, loan 14.61, support = the spending
    assert t.loc["X-1", "fund_krw_bn"] + t.loc["X-1", "loan_krw_bn"] == pytest.approx(43.83, rel=1e-6)
    assert t.loc["X-1", "loan_krw_bn"] == pytest.approx(30 * 43.83 / 90, rel=1e-6)


@pytest.mark.parametrize("terms, base, preferred", [("2026", 0.30, 0.70), ("2024-25", 0.30, 0.50),
                                                    ("2017-23", 0.30, 0.30)])
def test_minority_stake_cap_in_each_tier(base_app, scen, ref, terms, base, preferred):
    s = scen.with_loan_terms(terms)
    gold = dataclasses.replace(base_app, mineral="gold", stage="production", korea_offtake_share=0.0,
                               applicant_size="large", operator="no", imports_to_korea=None)
    spending = 0.10 * 300 * FX / 1000  # 43.83 KRW bn
    c = _cov(gold, s, ref)
    assert c["loan_cap_tier"] == "base" and c["loan_cap_criteria"] == ""
    assert c["loan_cap_krw_bn"] == pytest.approx(base * spending)
    for change, criterion in (({"operator": "yes"}, "operator=yes"), ({"applicant_size": "sme"}, "applicant_size=sme"),
                              ({"applicant_size": "midsize"}, "applicant_size=midsize"),
                              ({"imports_to_korea": "yes"}, "imports_to_korea=yes"),
                              ({"korea_offtake_share": 0.5}, "imports_to_korea=yes"),  # empty field: from the offtake
                              ({"stage": "exploration"}, "stage=exploration"),
                              ({"mineral": "vanadium"}, "critical_mineral=yes")):
        c = _cov(dataclasses.replace(gold, **change), s, ref)
        assert c["loan_cap_tier"] == "preferred" and criterion in c["loan_cap_criteria"]
        assert c["loan_cap_krw_bn"] == pytest.approx(preferred * spending)
    # imports_to_korea = no wins over a positive offtake share
    c = _cov(dataclasses.replace(gold, korea_offtake_share=0.5, imports_to_korea="no"), s, ref)
    assert c["loan_cap_tier"] == "base"
    # a stated own spending replaces ownership x cost: USD 50 m -> 73.05 KRW bn
    c = _cov(dataclasses.replace(gold, applicant_investment_usd_m=50.0), s, ref)
    assert c["spending_basis"] == "stated"
    assert c["loan_cap_krw_bn"] == pytest.approx(base * 50 * FX / 1000)


def test_listed_and_unlisted_failed_exploration_loan(ref, scen):
    # the same exploration loan (8 KRW bn, p = 0.4, 10 years, Vietnam) for rare earths (Decree art.
    # 11-3(1)) and for vanadium (not listed): the first is waived 90 % on failure, the rest repaid
    # within 5 years at the borrower's 3 %/yr default risk; the second is owed in full over its
    # tenor (borrower PD over 10 years) or, on success, follows the project's default risk.
    kw = dict(iso3s=["VNM", "VNM"], stage=["exploration", "exploration"], loan_krw_bn=[8.0, 8.0],
              success_probability=[0.4, 0.4], min_dscr=[1.2, 1.2], tenor_years=[10, 10])
    listed = special_loan.write_off_listed(ref, ["rare_earths", "vanadium"])
    assert list(listed) == [True, False]
    e = cr.loan_expected_loss(ref, scen, write_off_listed=listed, **kw)
    el_ree = 8 * 0.6 * (0.9 + 0.1 * (1 - 0.97 ** 5) * 0.45)
    # Vietnam: OECD CRC 4 -> annual PD (pd_by_oecd.csv), x1.5 for min DSCR in [1.0, 1.3)
    pd_project = 1 - (1 - min(e["annual_pd"].iloc[1] * 1.5, 1)) ** 10
    el_v = 8 * (0.6 * (1 - 0.97 ** 10) + 0.4 * pd_project) * 0.45
    assert e["expected_loss_krw_bn"].iloc[0] == pytest.approx(el_ree, rel=1e-12)
    assert e["expected_loss_krw_bn"].iloc[1] == pytest.approx(el_v, rel=1e-12)
    assert e["expected_loss_krw_bn"].iloc[0] != pytest.approx(e["expected_loss_krw_bn"].iloc[1])
    # only exploration loans are success-contingent
    assert list(special_loan.success_contingent(ref, ["exploration", "development", "exploration"],
                                                ["lithium", "lithium", "gold"])) == [True, False, False]


def test_levy_against_a_hand_computation():
    # profit after tax 0, 0, 10, 10, -5, 10, 10 USD m (index 0..6); loan repaid at index 2; levy 20 %
    # for 3 years of the borrower's 50 % share, from index 3: 0.2 x 0.5 x (10, 0 (a loss is not
    # levied), 10) discounted at 4.5 %: 1 / 1.045^3 + 1 / 1.045^5 = 0.876297 + 0.802451 = 1.678748,
    # x 0.2 x 0.5 x 10 USD m = 1.678748 USD m x 1,461 / 1000 = 2.452650 KRW bn
    ni = np.array([[0, 0, 10, 10, -5, 10, 10.0]])
    pv = special_loan.levy_pv_krw_bn(ni, [0.5], [2], levy_share=0.2, levy_years=3, rate=0.045, fx_krw_per_usd=FX)
    hand = 0.2 * 0.5 * 10 * (1.045 ** -3 + 1.045 ** -5) * FX / 1000
    assert pv[0] == pytest.approx(hand, rel=1e-12)
    assert pv[0] == pytest.approx(2.452650, rel=1e-6)
    # no loan: no levy
    assert special_loan.levy_pv_krw_bn(ni, [0.5], [-1], levy_share=0.2, levy_years=3, rate=0.045,
                                       fx_krw_per_usd=FX)[0] == 0.0


def test_levy_of_a_profitable_exploration_project_in_the_pipeline(full, scen):
    # VN-GR-01: graphite (Rule art. 4-2), exploration, p = 0.4: expected levy = 0.4 x the levy if it
    # succeeds, recomputed here from the cash-flow table
    ev = full.evaluation
    i = ev.cashflows.index_of("VN-GR-01")
    cf = ev.cashflows
    ni = (cf.ebitda_usd_m - cf.depreciation_usd_m - cf.depletion_usd_m - cf.tax_usd_m + cf.tax_credit_usd_m)[i]
    mat = int(ev.loans.maturity_index[i])
    years = np.arange(len(ni))
    window = (years > mat) & (years <= mat + scen.success_levy_years)
    hand = (0.20 * 0.70 * np.maximum(ni, 0) * window / 1.045 ** years).sum() * scen.fx_krw_per_usd / 1000
    m = ev.metrics.loc["VN-GR-01"]
    assert m["loan_levy_if_success_krw_bn"] == pytest.approx(hand, rel=1e-12)
    assert m["loan_expected_levy_krw_bn"] == pytest.approx(0.4 * hand, rel=1e-12)
    t = full.scores.table.loc["VN-GR-01"]
    assert t["loan_expected_net_cost_krw_bn"] == pytest.approx(t["expected_loss_krw_bn"] - 0.4 * hand)
    # a production-stage loan is not success-contingent: no levy
    assert ev.metrics.loc["AU-LI-01", "loan_expected_levy_krw_bn"] == 0.0


def test_interest_subsidy_by_hand(scen):
    # balance 10 USD m over index 1..2; gap (KTB - loan rate) = 2.25 pp nominal / 1.02 real;
    # PV at 4.5 %: 10 x 0.0225 / 1.02 x (1/1.045 + 1/1.045^2) x 1.461 = 0.603... KRW bn
    bal = np.array([[0, 10, 10, 0.0]])
    pv = special_loan.interest_subsidy_pv_krw_bn(bal, scen, 0.045)
    hand = 10 * 0.0225 / 1.02 * (1 / 1.045 + 1 / 1.045 ** 2) * FX / 1000
    assert pv[0] == pytest.approx(hand, rel=1e-9)


def test_twenty_year_tenor_refused(apps):
    rec = apps["VN-W-01"].to_record()
    rec["loan_tenor_years"] = 20
    app, problems = parse_application(rec)
    assert app is None
    p = [p for p in problems if p.field == "loan_tenor_years"]
    assert p and "at most 15 years including grace" in p[0].message()
    assert "VN-W-01" in p[0].message()
    assert "거치 기간을 포함해 15년 이하" in p[0].rule_text("ko")
    rec["loan_tenor_years"] = 15
    assert parse_application(rec)[1] == []
