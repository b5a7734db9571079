"""The special levy in the portfolio simulation's loan book (issue 23).

Reference values: the levy recomputed by hand from the deterministic cash-flow table (profit
after tax x 20 % x the borrower's share, in the years after the loan is repaid, discounted at the
social rate 4.5 %, as tests/test_special_loan.py), the records' ``loan_expected_levy_krw_bn``,
and a hand-built book of two loans on four paths.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from evaluator.evaluate import evaluate
from evaluator.uncertainty import simulate_paths, simulate_portfolio_paths
from evaluator.uncertainty.portfolio_paths import PortfolioPaths
from evaluator.uncertainty.portfolio_risk import summarise_portfolio


def _app(apps, i):
    return next(a for a in apps if a.id == i)


def _hand_levy_if_success(app, scenario, ref):
    """The levy of ``app`` if it succeeds, by hand from its deterministic cash-flow table [KRW bn]."""
    ev = evaluate([app], scenario, ref)
    cf = ev.cashflows
    ni = (cf.ebitda_usd_m - cf.depreciation_usd_m - cf.depletion_usd_m - cf.tax_usd_m + cf.tax_credit_usd_m)[0]
    mat = int(ev.loans.maturity_index[0])
    years = np.arange(len(ni))
    window = (years > mat) & (years <= mat + scenario.success_levy_years)
    own = app.korean_ownership_share
    return float((0.20 * own * np.maximum(ni, 0) * window / 1.045 ** years).sum() * scenario.fx_krw_per_usd / 1000), ev


def test_levy_on_a_deterministic_path_by_hand(sample_apps, scenario, ref):
    # VN-GR-01: graphite (listed, Rule art. 4-2), exploration, 70 % Korean, p(success) 0.4; the
    # default scenario's levy 20 % for success_levy_years; no price or project risk, no failure:
    # every path pays the hand-computed levy
    assert scenario.success_levy_share == 0.20 and scenario.social_discount_rate == 0.045
    a = _app(sample_apps, "VN-GR-01")
    hand, ev = _hand_levy_if_success(a, scenario, ref)
    assert hand > 0
    assert ev.metrics["loan_levy_if_success_krw_bn"].iloc[0] == pytest.approx(hand, rel=1e-12)
    pp = simulate_portfolio_paths([a], scenario, ref, fund_krw_bn={a.id: 0.0},
                                  loan_krw_bn={a.id: a.loan_request_krw_bn}, n_paths=8, seed=1, vol_scale=0.0,
                                  failures=False)
    assert not pp.defaulted.any()
    assert np.allclose(pp.levy_krw_bn, hand, rtol=1e-12)
    assert np.allclose(pp.net_cost_krw_bn, pp.loss_krw_bn - hand, rtol=1e-12)
    # half the loan asked allocated: half the levy (as the allocation's expected levy)
    half = simulate_portfolio_paths([a], scenario, ref, fund_krw_bn={}, loan_krw_bn={a.id: a.loan_request_krw_bn / 2},
                                    n_paths=4, seed=1, vol_scale=0.0, failures=False)
    assert np.allclose(half.levy_krw_bn, hand / 2, rtol=1e-12)
    # failures drawn: a failed path pays no levy, a successful one the whole levy
    pf = simulate_portfolio_paths([a], scenario, ref, fund_krw_bn={}, loan_krw_bn={a.id: a.loan_request_krw_bn},
                                  n_paths=200, seed=1, vol_scale=0.0)
    assert pf.failed.any() and (~pf.failed).any()
    assert (pf.levy_krw_bn[pf.failed] == 0).all()
    assert np.allclose(pf.levy_krw_bn[~pf.failed], hand, rtol=1e-12)


def test_no_levy_for_an_unlisted_mineral_or_a_production_loan(sample_apps, scenario, ref):
    # the levy goes with the success-contingent loan: a vanadium twin (not listed in the Decree or
    # the Rule) and a production-stage loan (AU-LI-01) pay none
    a = _app(sample_apps, "VN-GR-01")
    v = dataclasses.replace(a, mineral="vanadium")
    b = _app(sample_apps, "AU-LI-01")
    pp = simulate_portfolio_paths([v, b], scenario, ref, fund_krw_bn={},
                                  loan_krw_bn={v.id: v.loan_request_krw_bn, b.id: b.loan_request_krw_bn},
                                  n_paths=16, seed=2, vol_scale=0.0, failures=False)
    assert (pp.levy_krw_bn == 0).all()


def test_fast_kernel_levy_equals_reference_path(sample_apps, scenario, ref):
    # under price and project risk the fast kernel's levy (profit after tax from its tax loop)
    # equals the reference path's (cashflow.build's own profit after tax) path by path
    apps = [_app(sample_apps, "VN-GR-01"), _app(sample_apps, "LA-REE-02")]
    rows = np.ones(2, dtype=bool)
    fast = simulate_paths(apps, scenario, ref, n_paths=300, seed=5, irr_paths=0, levy_rows=rows, method="fast")
    slow = simulate_paths(apps, scenario, ref, n_paths=300, seed=5, irr_paths=0, levy_rows=rows, method="reference")
    assert fast.evaluated_by == ("fast kernel", "fast kernel")
    assert (fast.levy_krw_bn > 0).mean() > 0.5 and (fast.levy_krw_bn == 0).any()   # both kinds of path
    assert np.allclose(fast.levy_krw_bn, slow.levy_krw_bn, rtol=1e-9, atol=1e-9)
    assert simulate_paths(apps, scenario, ref, n_paths=4, seed=5, irr_paths=0).levy_krw_bn is None


def test_simulated_levy_converges_to_the_records(sample_apps, scenario, ref):
    # with exploration outcomes the only draw, the mean levy is the records' expected levy
    # p x levy_if_success within sampling error (4 standard errors of a Bernoulli mean)
    a = _app(sample_apps, "VN-GR-01")
    m = evaluate([a], scenario, ref).metrics.iloc[0]
    n = 20_000
    pp = simulate_portfolio_paths([a], scenario, ref, fund_krw_bn={}, loan_krw_bn={a.id: a.loan_request_krw_bn},
                                  n_paths=n, seed=9, vol_scale=0.0)
    p, levy = a.success_probability, m["loan_levy_if_success_krw_bn"]
    se = levy * np.sqrt(p * (1 - p) / n)
    assert abs(pp.levy_krw_bn.mean() - m["loan_expected_levy_krw_bn"]) < 4 * se
    assert m["loan_expected_levy_krw_bn"] == pytest.approx(p * levy, rel=1e-12)


def test_book_net_cost_by_hand(scenario):
    # two loans, four paths. loss (KRW bn): A 0, 9, 0, 0; B 0, 0, 1, 0. levy: A 2, 0, 2, 2; B 0.
    # net cost per path: -2, 9, -1, -2 -> mean 1.0; levy mean 1.5; loss mean 2.5;
    # P95 of (-2, -2, -1, 9) (numpy linear): position 0.95 x 3 = 2.85 -> -1 + 0.85 x 10 = 7.5
    loss = np.array([[0, 9, 0, 0], [0, 0, 1, 0.0]])
    levy = np.array([[2, 0, 2, 2], [0, 0, 0, 0.0]])
    col = np.where(loss > 0, 3, -1)
    z = np.zeros((2, 4))
    pp = PortfolioPaths(ids=("A", "B"), minerals=("graphite", "lithium"), countries=("VNM", "AUS"), n_paths=4, seed=0,
                        first_year=2026, n_columns=4, loan_krw_bn=np.array([10.0, 5.0]), fund_krw_bn=np.zeros(2),
                        fund_share=np.zeros(2), loss_krw_bn=loss, loss_column=col, failed=z.astype(bool),
                        defaulted=loss > 0, delay_years=z.astype(np.int8), npv_usd_m=z, fund_npv_krw_bn=z,
                        deterministic_npv_usd_m=np.zeros(2), min_dscr=z, levy_krw_bn=levy)
    r = summarise_portfolio(pp, None, scenario, vol_scale=1.0, failures=True, loss_threshold_share=0.1,
                            static_expected_loss_krw_bn=np.array([2.0, 0.5]), static_expected_levy_krw_bn=1.2)
    assert r.loan_loss_expected_krw_bn == pytest.approx(2.5)
    assert r.loan_levy_expected_krw_bn == pytest.approx(1.5)
    assert r.loan_net_cost_expected_krw_bn == pytest.approx(1.0)
    assert r.loan_net_cost_p95_krw_bn == pytest.approx(7.5)
    assert r.static_expected_levy_krw_bn == 1.2
    assert r.projects.loc["A", "expected_levy_krw_bn"] == pytest.approx(1.5)
    assert r.projects.loc["A", "expected_net_cost_krw_bn"] == pytest.approx(0.75)
    assert r.projects.loc["B", "expected_net_cost_krw_bn"] == pytest.approx(0.25)
    rec = r.as_record()
    assert rec["loan_net_cost_expected_krw_bn"] == pytest.approx(1.0)
    assert {p["id"]: p["expected_levy_krw_bn"] for p in rec["projects"]} == pytest.approx({"A": 1.5, "B": 0.0})
    assert isinstance(r.projects, pd.DataFrame)


def test_static_levy_is_the_allocations(sample_apps, scenario, ref):
    # the records' levy beside the simulated one: the allocation's loan_expected_levy_krw_bn of the
    # funded loans, whether portfolio_risk is given it or computes it
    from evaluator import pipeline
    from evaluator.uncertainty import portfolio_risk, portfolio_risk_of_result

    res = pipeline.run(sample_apps, scenario, ref)
    t = res.allocation.table
    want = float(t.loc[t["selected"].astype(bool), "loan_expected_levy_krw_bn"].sum())
    assert want > 0
    r = portfolio_risk_of_result(res, sample_apps, scenario, ref, n_paths=64, seed=1)
    assert r.static_expected_levy_krw_bn == pytest.approx(want, rel=1e-9)
    sel = t["selected"].astype(bool)
    r2 = portfolio_risk(sample_apps, scenario, ref, fund_krw_bn=t["fund_krw_bn"].where(sel, 0.0).to_dict(),
                        loan_krw_bn=t["loan_krw_bn"].where(sel, 0.0).to_dict(), n_paths=64, seed=1)
    assert r2.static_expected_levy_krw_bn == pytest.approx(want, rel=1e-9)
    assert r2.loan_net_cost_expected_krw_bn == pytest.approx(r2.loan_loss_expected_krw_bn - r2.loan_levy_expected_krw_bn)


def test_report_shows_levy_net_cost_and_the_fund_terms(sample_apps, scenario, ref):
    # the Portfolio-risk sheet: the levy and the net cost beside the loss (key figures and per
    # project); the Assumptions sheet: the fund's terms, each labelled an assumption until published
    import io

    import openpyxl

    from evaluator import pipeline
    from evaluator import xlsx_style as xs
    from evaluator.report import build_pipeline_report
    from evaluator.uncertainty import portfolio_risk_of_result

    res = pipeline.run(sample_apps, scenario, ref)
    pr = portfolio_risk_of_result(res, sample_apps, scenario, ref, n_paths=200, seed=3)
    for lang in ("en", "ko"):
        lab = xs.load_labels(lang)
        wb = openpyxl.load_workbook(io.BytesIO(build_pipeline_report(res, scenario, ref=ref, portfolio_risk=pr,
                                                                     language=lang)))
        ws = wb[next(n for n in wb.sheetnames if n in ("Portfolio risk", lab("sheet.portfolio_risk")))]
        kv = {ws.cell(row=r, column=1).value: ws.cell(row=r, column=2).value for r in range(1, 40)}
        for key in ("loan_levy_expected_krw_bn", "static_expected_levy_krw_bn", "loan_net_cost_expected_krw_bn",
                    "loan_net_cost_p95_krw_bn"):
            per_krw_bn = 10.0 if lang == "ko" else 1.0   # the Korean pack writes amounts in 억원
            assert kv[lab.col(key)] == pytest.approx(getattr(pr, key) * per_krw_bn, rel=1e-12, abs=1e-12), key
        assert kv[lab.col("loan_net_cost_expected_krw_bn")] == pytest.approx(
            kv[lab.col("loan_loss_expected_krw_bn")] - kv[lab.col("loan_levy_expected_krw_bn")])
        cells = {ws.cell(row=r, column=c).value for r in range(1, ws.max_row + 1) for c in range(1, 20)}
        assert lab.col("expected_levy_krw_bn") in cells and lab.col("expected_net_cost_krw_bn") in cells
        text = [[wa.cell(row=r, column=c).value for c in range(1, 4)] for wa in wb.worksheets
                for r in range(1, wa.max_row + 1)]
        share = next(r for r in text if r[0] == lab("loan_rule.fund_equity_share"))
        ret = next(r for r in text if r[0] == lab("loan_rule.fund_target_return"))
        assert share[1] == "100%" and ret[1] == "8.0%"
        words = "Assumption until published" if lang == "en" else "공개 전까지 가정"
        assert words in share[2] and words in ret[2]
