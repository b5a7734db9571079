"""The fund's terms as labelled assumptions (issue 23): its share of the applicant's equity need
caps the fund per project; its target return stands beside the project's equity IRR.

Hand numbers: a 10 % stake in a USD 300 m project (own spending 0.10 x 300 x 1,461 / 1000 = 43.83
KRW bn) asking fund 30 + loan 10 KRW bn; the equity it needs is 43.83 - 10 = 33.83 KRW bn.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from evaluator import pipeline, special_loan
from models.scenario import ScenarioError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def app(sample_apps):
    a = next(a for a in sample_apps if a.id == "VN-W-01")
    return dataclasses.replace(a, id="F-1", korean_ownership_share=0.10, total_project_cost_usd_m=300.0,
                               fund_request_krw_bn=30.0, loan_request_krw_bn=10.0, applicant_investment_usd_m=None)


def test_default_terms_are_labelled_assumptions(scenario):
    # the default binds nothing beyond the spending cap (share 1: the fund may put in all the
    # equity the applicant needs); both figures are marked assumptions until published
    assert scenario.fund_equity_share == 1.0 and scenario.fund_target_return == 0.08
    text = (ROOT / "evaluator/data/default_scenario.toml").read_text(encoding="utf-8")
    for name in ("fund_equity_share", "fund_target_return"):
        line = next(x for x in text.splitlines() if x.startswith(name))
        assert "ASSUMPTION until published" in line
    for lang, words in (("en", "assumption until published"), ("ko", "공개 전까지 가정")):
        labels = tomllib.loads((ROOT / f"evaluator/data/report_labels_{lang}.toml").read_text(encoding="utf-8"))
        assert words in labels["scenario"]["fund_equity_share"]
        assert words in labels["scenario"]["fund_target_return"]
        app_labels = tomllib.loads((ROOT / f"app_pages/labels/{lang}.toml").read_text(encoding="utf-8"))
        assert words in app_labels["fund_target_return"].lower()


def test_fund_cap_by_hand(app, scenario, ref):
    # share 1: cap = 33.83, the request 30 fits; fund + loan 40 <= 43.83
    c = special_loan.coverage([app], scenario, ref).iloc[0]
    assert c["applicant_equity_need_krw_bn"] == pytest.approx(33.83)
    assert c["fund_cap_krw_bn"] == pytest.approx(33.83)
    assert not c["above_cap"] and c["cap_max_fraction"] == 1.0
    # share 0.5: cap = 0.5 x 33.83 = 16.915 < 30: above the cap. Funded up to it, at the fraction f
    # with f x 30 = 0.5 x (43.83 - f x 10): f = 21.915 / 35 = 0.626143 (fund 18.784, loan 6.261)
    s = scenario.replace(fund_equity_share=0.5)
    c = special_loan.coverage([app], s, ref).iloc[0]
    assert c["fund_cap_krw_bn"] == pytest.approx(16.915)
    assert c["above_cap"]
    f = 0.5 * 43.83 / (30 + 0.5 * 10)
    assert f == pytest.approx(0.626143, abs=1e-6)
    assert c["cap_max_fraction"] == pytest.approx(f, rel=1e-12)
    assert f * 30 == pytest.approx(0.5 * (43.83 - f * 10))


def test_above_the_fund_cap_ineligible_or_funded_up_to_it(app, scenario, ref):
    s = scenario.replace(fund_equity_share=0.5)
    res = pipeline.run([app], s, ref, allocate=False)
    row = res.scores.table.loc["F-1"]
    assert not row["eligible"]
    assert "fund 30.0 KRW bn is above the fund's cap: 50% of the equity the applicant needs" in row["ineligible_reasons"]
    assert "= 16.9 KRW bn" in row["ineligible_reasons"]
    ko = [m.text("ko") for m in row["ineligible_messages"]]
    assert any("펀드 한도" in k and "169억원" in k for k in ko), ko   # 16.9 KRW bn in 억원
    # the officer allows partial funding: funded at f = 0.626143 of both requests
    s2 = s.replace(allow_partial_above_cap=True, min_fraction=0.1, country_cap_share=1.0, mineral_cap_share=1.0)
    t = pipeline.run([app], s2, ref).allocation.table
    assert t.loc["F-1", "fund_krw_bn"] == pytest.approx(30 * 0.626143, rel=1e-5)
    assert t.loc["F-1", "loan_krw_bn"] == pytest.approx(10 * 0.626143, rel=1e-5)
    assert t.loc["F-1", "fund_krw_bn"] <= 0.5 * (43.83 - t.loc["F-1", "loan_krw_bn"]) + 1e-6


def test_fund_terms_validated(scenario):
    with pytest.raises(ScenarioError, match="fund_equity_share"):
        scenario.replace(fund_equity_share=1.5)
    with pytest.raises(ScenarioError, match="fund_target_return"):
        scenario.replace(fund_target_return=0.9)
