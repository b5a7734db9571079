"""One credit model for a policy loan (issue 22): evaluator.credit, used by the static evaluation,
the Monte Carlo (fast kernel and reference path) and the portfolio simulation.

Reference values: hand-worked cash balances (module notes of evaluator.credit), the static
evaluation (evaluator.evaluate) as the oracle of the simulation with no uncertainty, and Moody's
Investors Service (2017), "Default and Recovery Rates for Project Finance Bank Loans, 1983-2015":
10-year cumulative default rate 6.7 % for the whole sample of project-finance bank loans.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evaluator import credit, pipeline
from evaluator.evaluate import evaluate
from evaluator.uncertainty import portfolio_risk_of_result, simulate_paths

#: Moody's (2017) PF bank loans 1983-2015, whole-sample 10-year cumulative default rate.
MOODYS_PF_10Y_CDR = 0.067


def _app(apps, app_id):
    return next(a for a in apps if a.id == app_id)


# ----------------------------------------------------------------------------------------------
# (d) the rule by hand: reserve, retained cash, LLCR at the shortfall
# ----------------------------------------------------------------------------------------------
def test_shortfall_covered_by_the_reserve_is_no_default():
    # debt service 10 a year for 5 years, reserve 6 months = 5; year 2's CFADS 6 falls 4 short,
    # the reserve (5) covers it: cash 5 -> 5 -> 1 -> 3 -> 5 -> 7, never below 0
    ds = np.full(5, 10.0)
    reserve = credit.reserve_usd_m(ds, 6.0)
    assert reserve == pytest.approx(5.0)
    d, first = credit.default_test(np.array([10.0, 6.0, 12.0, 12.0, 12.0]), ds, None, reserve, 0.02)
    assert not d and first == -1
    # the same year 10 short (CFADS 0), no reserve and no later surplus: cash -10 at year 2, the
    # remaining life cannot repay it (LLCR < 1): a default in year 2 (position 1)
    d, first = credit.default_test(np.array([10.0, 0.0, 10.0, 10.0, 10.0]), ds, None, 0.0, 0.02)
    assert d and first == 1
    # with the reserve of 6 months it is still short (5 - 10 = -5 < 0) and not repaid later
    d, first = credit.default_test(np.array([10.0, 0.0, 10.0, 10.0, 10.0]), ds, None, reserve, 0.02)
    assert d and first == 1
    # a reserve of 12 months covers it
    d, _ = credit.default_test(np.array([10.0, 0.0, 10.0, 10.0, 10.0]), ds, None, credit.reserve_usd_m(ds, 12.0),
                               0.02)
    assert not d


def test_a_shortfall_the_remaining_life_repays_is_rescheduled_not_lost():
    # year 2 pays nothing (cash -10 with no reserve), but years 3-5 leave 10 each: the LLCR at
    # year 2 is (0 + PV(0 - 10, 20 - 10, 20 - 10, 20 - 10)) / ... >= 1, so no loss
    ds = np.full(5, 10.0)
    cf = np.array([10.0, 0.0, 20.0, 20.0, 20.0])
    d, _ = credit.default_test(cf, ds, None, 0.0, 0.02)
    assert not d
    # by hand at 2 %: -10/1.02 + 10/1.02^2 + 10/1.02^3 + 10/1.02^4 = -9.8039 + 9.6117 + 9.4232 + 9.2385 = 18.47 > 0
    v = 1 / 1.02
    assert -10 * v + 10 * v**2 + 10 * v**3 + 10 * v**4 == pytest.approx(18.4694, abs=1e-3)


def test_negative_cash_flow_counts_as_zero_and_scope_is_respected():
    ds = np.array([0.0, 10.0, 10.0])
    scope = np.array([False, True, True])
    # a year out of scope (construction) is carried by the financing plan, whatever its CFADS
    d, _ = credit.default_test(np.array([-500.0, 10.0, 10.0]), ds, scope, 0.0, 0.02)
    assert not d
    # a year of negative CFADS (the mine idles) costs the loan its debt service, not the loss
    d1, _ = credit.default_test(np.array([0.0, -500.0, 30.0]), ds, scope, 0.0, 0.02)
    d2, _ = credit.default_test(np.array([0.0, 0.0, 30.0]), ds, scope, 0.0, 0.02)
    assert d1 == d2 == False  # noqa: E712  (30 repays both years' 20)


def test_vectorised_rows_and_time_axis_agree():
    rng = np.random.default_rng(1)
    cf = rng.normal(10.0, 6.0, size=(200, 8))
    ds = np.full(8, 10.0)
    res = np.full(200, 5.0)
    d_last, f_last = credit.default_test(cf, ds, None, res, 0.03)
    d_first, f_first = credit.default_test(cf.T, ds[:, None], None, res, 0.03, axis=0)
    assert np.array_equal(d_last, d_first) and np.array_equal(f_last, f_first)
    for i in range(200):                         # one row at a time, the plain loop
        d, f = credit.default_test(cf[i], ds, None, 5.0, 0.03)
        assert d == d_last[i] and f == f_last[i]
    assert 0 < d_last.mean() < 1


# ----------------------------------------------------------------------------------------------
# (a) no uncertainty: the simulation's default is the static model's
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opex_scale", [1.0, 1.2, 1.5, 1.8, 2.0, 2.5])
def test_no_uncertainty_simulation_defaults_exactly_when_the_static_model_does(sample_apps, scenario, ref,
                                                                              opex_scale):
    # VN-W-01 (production) with a KRW 60 bn loan: opex x1.0 gives a minimum DSCR of 3.5 (no default),
    # x2.0 a cash flow below debt service in every year (min DSCR < 1, a default)
    a = _app(sample_apps, "VN-W-01")
    b = dataclasses.replace(a, opex_usd_per_t_ore=a.opex_usd_per_t_ore * opex_scale, loan_request_krw_bn=60.0)
    m = evaluate([b], scenario, ref).metrics.iloc[0]
    for method in ("fast", "reference"):
        p = simulate_paths([b], scenario, ref, n_paths=4, vol_scale=0.0, irr_paths=0, method=method)
        assert (p.defaulted[0] == bool(m["base_case_default"])).all(), method
    if m["min_dscr"] >= 1.0:                     # never a default when cash covers every year
        assert not m["base_case_default"]
    if m["base_case_default"]:
        assert m["min_dscr"] < 1.0
    if opex_scale == 1.0:
        assert m["min_dscr"] > 3 and not m["base_case_default"]
    if opex_scale == 2.0:
        assert m["min_dscr"] < 1.0 and m["avg_dscr"] < 1.0 and m["base_case_default"]


def test_no_uncertainty_the_year_of_default_matches_the_reference_path(sample_apps, scenario, ref):
    a = _app(sample_apps, "VN-W-01")
    b = dataclasses.replace(a, opex_usd_per_t_ore=a.opex_usd_per_t_ore * 2.0, loan_request_krw_bn=60.0)
    f = simulate_paths([b], scenario, ref, n_paths=4, vol_scale=0.0, irr_paths=0)
    r = simulate_paths([b], scenario, ref, n_paths=4, vol_scale=0.0, irr_paths=0, method="reference")
    assert np.array_equal(f.default_year_index, r.default_year_index) and (f.default_year_index > 0).all()


def test_fast_kernel_and_reference_path_agree_under_uncertainty(sample_apps, scenario, ref):
    apps = [_app(sample_apps, i) for i in ("AU-LI-01", "AU-REE-01", "VN-W-01", "US-SB-01")]
    apps = [dataclasses.replace(a, loan_request_krw_bn=60.0) for a in apps]
    f = simulate_paths(apps, scenario, ref, n_paths=300, seed=4, irr_paths=0)
    r = simulate_paths(apps, scenario, ref, n_paths=300, seed=4, irr_paths=0, method="reference")
    assert np.array_equal(f.default_year_index, r.default_year_index)
    assert f.cash_flow_defaulted.any()


# ----------------------------------------------------------------------------------------------
# (b) a well-covered loan has a project-finance default rate, not tens of percent
# ----------------------------------------------------------------------------------------------
def test_well_covered_loans_default_at_a_few_percent(sample_apps, scenario, ref):
    # the sample's own loans (min DSCR 21-237 beyond exploration). Bound: at most Moody's
    # whole-sample 10-year rate 6.7 % (a loan covered 3 times or more is not worse than the average
    # project-finance loan); at least the baseline hazard alone (0.21 %/yr in Australia and the US,
    # 1 - 0.9979^tenor: the calibration is not zero)
    ids = ("AU-LI-01", "AU-REE-01", "VN-W-01", "US-SB-01")
    apps = [_app(sample_apps, i) for i in ids]
    m = evaluate(apps, scenario, ref).metrics
    assert (m["min_dscr"] >= 3).all() and (m["stage"] != "exploration").all()
    p = simulate_paths(apps, scenario, ref, n_paths=10_000, seed=0, irr_paths=0)
    pd_sim = p.defaulted.mean(axis=1)
    hazard = credit.baseline_annual_hazard(ref, [a.country_iso3 for a in apps])
    floor = 1 - (1 - hazard) ** np.array([a.loan_tenor_years for a in apps])
    assert (pd_sim <= MOODYS_PF_10Y_CDR).all(), dict(zip(ids, pd_sim))
    assert (pd_sim >= 0.7 * floor).all(), dict(zip(ids, pd_sim))


def test_baseline_hazard_reproduces_the_static_pd_of_a_well_covered_loan(sample_apps, scenario, ref):
    # prices and project risks off, hazard on (vol_scale scales it with the other risks): the
    # simulated PD over the loan's life is the static cumulative PD of a loan covered 3 times or more
    from evaluator import country_risk

    a = _app(sample_apps, "AU-LI-01")
    p = simulate_paths([a], scenario, ref, n_paths=40_000, seed=2, irr_paths=0)
    static = country_risk.loan_expected_loss(ref, scenario, iso3s=[a.country_iso3], stage=[a.stage],
                                             loan_krw_bn=[a.loan_request_krw_bn], success_probability=[np.nan],
                                             min_dscr=[100.0], tenor_years=[a.loan_tenor_years])
    hazard_only = (p.defaulted & ~p.cash_flow_defaulted).mean()
    pd_static = float(static["pd_cumulative"].iloc[0])
    n = 40_000
    # the paths the cash flows already default on are not counted again: the hazard's share is
    # P(hazard) x P(no cash-flow default)
    expected = pd_static * (1 - p.cash_flow_defaulted.mean())
    assert abs(hazard_only - expected) < 4 * np.sqrt(expected * (1 - expected) / n)


# ----------------------------------------------------------------------------------------------
# (c) the book: static and simulated expected loss agree within a factor of three
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loan_budget", [67.5, 40.0])
def test_static_and_simulated_book_expected_loss_within_a_factor_of_three(sample_apps, scenario, ref, loan_budget):
    scen = scenario.replace(loan_krw_bn=loan_budget)
    result = pipeline.run(sample_apps, scen, ref)
    r = portfolio_risk_of_result(result, sample_apps, scen, ref, n_paths=4000, seed=1)
    static = r.static_expected_loss_krw_bn
    assert static == pytest.approx(result.summary.expected_loss_krw_bn, rel=1e-9)
    sim = r.loan_loss_expected_krw_bn
    assert static > 0 and sim > 0
    assert 1 / 3 <= sim / static <= 3, (sim, static)
    per = r.projects
    assert per["static_expected_loss_krw_bn"].sum() == pytest.approx(static, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_static_and_simulated_book_expected_loss_agree_on_generated_portfolios(ref, scenario, seed):
    # 24 generated applications (the samples with throughput, grade, capex and opex scaled by
    # +-20 %), every one funded at its request: the factor of three holds beyond the samples
    from benchmarks.samples import perturbed_apps
    from evaluator.uncertainty import portfolio_risk

    apps = perturbed_apps(24, ref, seed=seed)
    r = portfolio_risk(apps, scenario, ref, fund_krw_bn={a.id: a.fund_request_krw_bn for a in apps},
                       loan_krw_bn={a.id: a.loan_request_krw_bn for a in apps}, n_paths=2000, seed=seed)
    assert r.static_expected_loss_krw_bn > 0
    assert 1 / 3 <= r.loan_loss_expected_krw_bn / r.static_expected_loss_krw_bn <= 3
