"""Tests for evaluator.finance.

Reference values name their source in a comment: numpy-financial 1.0.0 (its docstring examples and
the function itself as an oracle), the Excel NPV convention written out by hand, or a hand
calculation shown in the test.
"""

import math

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from evaluator import finance as fin

RNG_SEED = 20260101


def _random_flows(rng, n_rows, n_years):
    """Conventional-ish mine flows: capex first, then mostly positive flows [USD m]."""
    flows = rng.normal(30.0, 25.0, size=(n_rows, n_years))
    flows[:, 0] = -rng.uniform(100.0, 400.0, size=n_rows)
    return flows


# ---------------------------------------------------------------- npv


def test_npv_matches_numpy_financial_1d_and_2d():
    # Oracle: numpy_financial.npv (1-D only) applied row by row.
    rng = np.random.default_rng(RNG_SEED)
    flows = rng.normal(0.0, 100.0, size=(50, 31))
    for rate in (0.0, 0.045, 0.08, 0.10, -0.2):
        expected = np.array([npf.npv(rate, row) for row in flows])
        np.testing.assert_allclose(fin.npv(rate, flows), expected, rtol=1e-12, atol=1e-9)
        assert fin.npv(rate, flows[3]) == pytest.approx(npf.npv(rate, flows[3]), rel=1e-12)
    # One rate per row.
    rates = rng.uniform(0.0, 0.2, size=50)
    expected = np.array([npf.npv(r, row) for r, row in zip(rates, flows)])
    np.testing.assert_allclose(fin.npv(rates, flows), expected, rtol=1e-12, atol=1e-9)


def test_npv_excel_convention_by_hand():
    # Excel: =NPV(r, Y1:Yn) + Y0 = sum_{t>=1} v_t / (1 + r)^t + v_0 (written out by hand).
    values = [-250.0, 40.0, 60.0, 80.0, 90.0, 75.0]
    rate = 0.08
    excel = sum(v / (1 + rate) ** t for t, v in enumerate(values) if t >= 1) + values[0]
    assert fin.npv(rate, values) == pytest.approx(excel, rel=1e-14)


def test_npv_numpy_financial_docstring_example():
    # numpy-financial 1.0.0 npv docstring: npv(0.08, [-40000, 5000, 8000, 12000, 30000])
    # = 3065.22267 (rounded to 5 decimals).
    assert round(float(fin.npv(0.08, [-40_000, 5_000, 8_000, 12_000, 30_000])), 5) == 3065.22267


def test_npv_mid_year_by_hand():
    # Hand calculation: index 0 undiscounted, year t discounted by (1.1)^(t - 0.5).
    values = [-100.0, 50.0, 60.0]
    expected = -100.0 + 50.0 / 1.1**0.5 + 60.0 / 1.1**1.5
    assert fin.npv(0.1, values, mid_year=True) == pytest.approx(expected, rel=1e-14)
    # Mid-year is worth (1 + r)^0.5 more on every flow at t >= 1.
    end_year = fin.npv(0.1, [0.0, 50.0, 60.0])
    assert fin.npv(0.1, [0.0, 50.0, 60.0], mid_year=True) == pytest.approx(end_year * 1.1**0.5)


def test_npv_shapes_and_invalid_rate():
    assert np.ndim(fin.npv(0.08, [-1.0, 2.0])) == 0
    assert fin.npv(0.08, np.ones((4, 3))).shape == (4,)
    assert np.isnan(fin.npv(-1.0, [-1.0, 2.0]))


# ---------------------------------------------------------------- irr

# numpy-financial 1.0.0 irr docstring examples (values rounded to 5 decimals there).
NPF_IRR_EXAMPLES = [
    ([-100, 39, 59, 55, 20], 0.28095),
    ([-100, 0, 0, 74], -0.0955),
    ([-100, 100, 0, -7], -0.0833),
    ([-100, 100, 0, 7], 0.06206),
    ([-5, 10.5, 1, -8, 1], 0.0886),
]


@pytest.mark.parametrize("values, expected", NPF_IRR_EXAMPLES)
def test_irr_numpy_financial_docstring_examples(values, expected):
    result = fin.irr(values)
    assert round(float(result), 5) == expected
    assert result == pytest.approx(npf.irr(values), abs=1e-9)  # oracle: numpy_financial.irr


def test_irr_docstring_examples_as_2d_rows():
    # Same examples, padded with trailing zeros (which change no NPV) and stacked as rows.
    rows = np.zeros((len(NPF_IRR_EXAMPLES), 5))
    for i, (values, _) in enumerate(NPF_IRR_EXAMPLES):
        rows[i, : len(values)] = values
    result, reason = fin.irr_with_reason(rows)
    np.testing.assert_allclose(result, [npf.irr(v) for v, _ in NPF_IRR_EXAMPLES], atol=1e-9)
    # [-100, 100, 0, -7] and [-5, 10.5, 1, -8, 1] have several sign changes: flagged.
    assert list(reason) == ["", "", fin.REASON_MULTIPLE, "", fin.REASON_MULTIPLE]


def test_irr_matches_numpy_financial_on_random_conventional_rows():
    # Oracle: numpy_financial.irr row by row; conventional = one sign change.
    rng = np.random.default_rng(RNG_SEED)
    flows = np.abs(rng.normal(40.0, 20.0, size=(300, 31)))
    flows[:, 0] = -rng.uniform(100.0, 600.0, size=300)
    flows[:, 1] = -rng.uniform(0.0, 300.0, size=300)
    expected = np.array([npf.irr(row) for row in flows])
    result, reason = fin.irr_with_reason(flows)
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9)
    assert set(reason) == {""}


def test_irr_failures_give_nan_and_reason():
    result, reason = fin.irr_with_reason(
        [[1.0, 2.0, 3.0], [-1.0, -2.0, 0.0], [0.0, 0.0, 0.0], [np.nan, 1.0, -1.0],
         [-1.0, 100.0, 0.0]]
    )
    assert np.isnan(result).all()
    assert list(reason) == [
        fin.REASON_NO_SIGN_CHANGE,
        fin.REASON_NO_SIGN_CHANGE,
        fin.REASON_ALL_ZERO,
        fin.REASON_NON_FINITE,
        fin.REASON_NO_ROOT,  # true IRR is 9900 % (100 / 1 - 1), above the searched 1000 %
    ]
    assert fin.REASON_NO_ROOT == "no root in [-0.99, 10]"
    value, why = fin.irr_with_reason([1.0, 2.0])
    assert np.isnan(value) and why == "no sign change"
    assert np.isnan(fin.irr([5.0, 5.0]))


def test_irr_exact_zero_rate():
    # Hand: -100 + 100 / (1 + r) = 0 at r = 0 exactly.
    assert fin.irr([-100.0, 100.0]) == 0.0


def test_irr_closure_cost_two_roots_rule_and_flag():
    # Closure cost at the end: two IRRs. Hand: roots of -100 + 50x + 80x^2 - 40x^3 with
    # x = 1 / (1 + r) are x = 2 (r = -0.5) and x = (1 + sqrt(5)) / ... checked by the oracle:
    # numpy_financial.irr also returns the root nearest 0 (-0.10557...).
    values = [-100.0, 50.0, 80.0, -40.0]
    result, reason = fin.irr_with_reason(values)
    assert reason == fin.REASON_MULTIPLE
    assert result == pytest.approx(npf.irr(values), abs=1e-9)
    assert fin.npv(result, values) == pytest.approx(0.0, abs=1e-9)
    assert fin.sign_changes(values) == 2


def test_irr_mine_with_closure_reports_positive_root():
    # 2 years capex, 15 years of cash, closure cost: NPV < 0 at -99 % (closure dominates),
    # > 0 at 0 %, < 0 at high rates: one negative and one positive IRR; the positive is nearer 0.
    values = np.r_[-300.0, -200.0, np.full(15, 90.0), -150.0]
    result, reason = fin.irr_with_reason(values)
    assert reason == fin.REASON_MULTIPLE
    assert 0.1 < result < 0.3
    assert fin.npv(result, values) == pytest.approx(0.0, abs=1e-8)


def test_irr_matches_numpy_financial_on_random_closure_rows():
    # Oracle: numpy_financial.irr (root nearest 0, the same rule) on flows with a closure cost
    # in the last year (two sign changes), including pairs of roots a few points apart.
    rng = np.random.default_rng(RNG_SEED + 1)
    flows = np.abs(rng.normal(40.0, 20.0, size=(400, 31)))
    flows[:, 0] = -rng.uniform(100.0, 600.0, size=400)
    flows[:, 1] = -rng.uniform(0.0, 300.0, size=400)
    flows[:, -1] = -rng.uniform(0.0, 800.0, size=400)
    result, reason = fin.irr_with_reason(flows)
    expected = np.array([npf.irr(row) for row in flows])
    in_range = ~np.isnan(expected) & (expected >= fin.IRR_MIN_RATE) & (expected <= fin.IRR_MAX_RATE)
    np.testing.assert_allclose(result[in_range], expected[in_range], rtol=0, atol=1e-9)
    assert np.isnan(result[~in_range]).all()
    assert (reason[np.isfinite(result)] == fin.REASON_MULTIPLE).all()


def test_irr_two_roots_in_one_grid_cell():
    # Roots at r = -2 % and r = -1 % (hand: NPV = 1000 (x - 1/0.98)(x - 1/0.99) in x = 1/(1+r),
    # i.e. flows [1000/(0.98*0.99), -1000(1/0.98 + 1/0.99), 1000]); both inside one grid cell.
    # Root nearest 0 is -1 %.
    values = [1000 / (0.98 * 0.99), -1000 * (1 / 0.98 + 1 / 0.99), 1000.0]
    result, reason = fin.irr_with_reason(values)
    assert result == pytest.approx(-0.01, abs=1e-9)
    assert reason == fin.REASON_MULTIPLE
    assert result == pytest.approx(npf.irr(values), abs=1e-9)


def test_sign_changes_skips_zeros():
    # Hand count.
    assert fin.sign_changes([-1, 0, 0, 2, 0, -3, 4]) == 3
    np.testing.assert_array_equal(fin.sign_changes([[0, 0, 1], [-1, 0, 1], [0, 0, 0]]), [0, 1, 0])


conventional_flows = st.builds(
    lambda capex, flows: [-capex] + flows,
    st.floats(min_value=10.0, max_value=1000.0),
    # Flows are 0 or at least 0.01: a tiny last flow (e.g. 3e-34) makes np.roots, and so the
    # numpy-financial oracle, inaccurate (its leading polynomial coefficient vanishes).
    st.lists(st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=300.0)),
             min_size=1, max_size=40),
).filter(lambda v: sum(v[1:]) > 0.02 * -v[0] and max(v[1:]) < 5.0 * -v[0])


@settings(max_examples=200, deadline=None)
@given(conventional_flows)
# a root near -100 %: the Halley stopping rule must be relative to 1 + r (found by hypothesis)
@example([-990.0, 24.375, 0.0, 0.0])
def test_property_npv_at_irr_is_zero(values):
    # Invariant (numpy-financial test suite style): npv(irr(cf), cf) == 0.
    rate, reason = fin.irr_with_reason(values)
    if reason == fin.REASON_NO_ROOT:  # IRR outside [-0.99, 10]; checked below
        npv_low, npv_high = fin.npv([fin.IRR_MIN_RATE, fin.IRR_MAX_RATE], values)
        assert npv_low * npv_high > 0
        return
    assert reason == ""
    scale = sum(abs(v) for v in values)
    assert abs(fin.npv(rate, values)) <= 1e-9 * scale
    reference = npf.irr(values)
    if not math.isnan(reference):  # np.roots may leave a tiny imaginary part
        assert rate == pytest.approx(reference, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(conventional_flows, st.floats(-0.5, 2.0), st.floats(0.001, 1.0))
def test_property_npv_decreasing_in_rate_for_conventional_flows(values, rate, step):
    # For an outflow followed by inflows, each discounted inflow falls as the rate rises.
    assert fin.npv(rate + step, values) <= fin.npv(rate, values) + 1e-12 * sum(map(abs, values))


# ---------------------------------------------------------------- payback, PI


def test_payback_by_hand():
    # Hand: cumulative -100, -50, 0, 50 -> paid back at the end of year 2 = 2.0 years.
    assert fin.payback_years([-100.0, 50.0, 50.0, 50.0]) == pytest.approx(2.0)
    # Hand: cumulative -100, -70, -30, +10 -> during year 3: 2 + 30/40 = 2.75 years.
    assert fin.payback_years([-100.0, 30.0, 40.0, 40.0]) == pytest.approx(2.75)
    # From first production: two construction years at indices 1-2, production from index 3.
    # Cumulative 0, -60, -120, -70, -20, +30: crossing at 4 + 20/50 = 4.4 from t = 0,
    # production starts at time 2 (start of year 3): 2.4 years.
    values = [0.0, -60.0, -60.0, 50.0, 50.0, 50.0]
    assert fin.payback_years(values) == pytest.approx(4.4)
    assert fin.payback_years(values, start_index=3) == pytest.approx(2.4)
    # Never paid back -> NaN; never negative -> 0.
    np.testing.assert_allclose(
        fin.payback_years([[-100.0, 10.0, 10.0], [0.0, 5.0, 5.0]], start_index=[1, 1]),
        [np.nan, 0.0],
    )


def test_payback_closure_dip_keeps_first_crossing():
    # Hand: cumulative -100, -20, +60, -10 -> first crossing 1 + 20/80 = 1.25 years.
    assert fin.payback_years([-100.0, 80.0, 80.0, -70.0]) == pytest.approx(1.25)


def test_discounted_payback_by_hand():
    # Hand at 10 %: discounted flows -100, 45.4545, 41.3223, 37.5657; cumulative -100,
    # -54.5455, -13.2231, +24.3426 -> 2 + 13.2231 / 37.5657 = 2.35200 years.
    values = [-100.0, 50.0, 50.0, 50.0]
    d = [-100.0, 50 / 1.1, 50 / 1.1**2, 50 / 1.1**3]
    expected = 2 + (-(d[0] + d[1] + d[2])) / d[3]
    assert fin.discounted_payback_years(0.1, values) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(2.35200, abs=1e-5)
    # Rows with their own rates; at 30 % the project never pays back (NPV < 0).
    result = fin.discounted_payback_years([0.1, 0.3], [values, values], start_index=[1, 1])
    assert result[0] == pytest.approx(expected) and np.isnan(result[1])
    assert fin.discounted_payback_years(0.1, values, mid_year=True) < expected


def test_profitability_index_by_hand():
    # Hand at 10 %: PV(inflows) = 60/1.1 + 60/1.21 = 104.1322; PV(outflows) = 100.
    pi = fin.profitability_index(0.1, [-100.0, 60.0, 60.0])
    assert pi == pytest.approx((60 / 1.1 + 60 / 1.21) / 100.0, rel=1e-14)
    # Closure year counts as an outflow: PV(out) = 100 + 10/1.331.
    values = [-100.0, 70.0, 70.0, -10.0]
    pv_in = 70 / 1.1 + 70 / 1.21
    pv_out = 100.0 + 10 / 1.331
    assert fin.profitability_index(0.1, values) == pytest.approx(pv_in / pv_out, rel=1e-14)
    assert fin.profitability_index(0.1, values) == pytest.approx(
        1 + fin.npv(0.1, values) / pv_out, rel=1e-14
    )
    assert np.isnan(fin.profitability_index(0.1, [1.0, 2.0]))


# ---------------------------------------------------------------- loans


def test_loan_schedule_by_hand():
    # Hand: 100 drawn at end of index 1, 5 %, tenor 5, grace 2: interest-only at 2, 3;
    # 100/3 principal at 4, 5, 6; interest 5, 5, 5, 3.333, 1.667.
    s = fin.loan_schedule(100.0, 0.05, 5, 2, 1, 10)
    np.testing.assert_allclose(s.principal_usd_m[0], [0, 0, 0, 0, *[100 / 3] * 3, 0, 0, 0])
    np.testing.assert_allclose(s.interest_usd_m[0], [0, 0, 5, 5, 5, 5 * 2 / 3, 5 / 3, 0, 0, 0])
    np.testing.assert_allclose(s.balance_usd_m[0], [0, 0, 100, 100, 100, 200 / 3, 100 / 3, 0, 0, 0])
    np.testing.assert_allclose(s.debt_service_usd_m, s.interest_usd_m + s.principal_usd_m)
    assert s.first_repayment_index[0] == 4 and s.maturity_index[0] == 6
    assert not s.truncated[0]
    with pytest.raises(AttributeError):   # dataclasses.FrozenInstanceError
        s.interest_usd_m = None  # frozen


def test_loan_schedule_rows_zero_bullet_truncated():
    principal = np.array([100.0, 0.0, 60.0, 80.0])
    s = fin.loan_schedule(principal, [0.05, 0.05, 0.06, 0.04], [5, 0, 3, 10], [2, 0, 5, 1],
                          [1, 0, 2, 3], 10)
    # Principal repaid = loan, every row (a truncated loan is repaid as a balloon at the end).
    np.testing.assert_allclose(s.principal_usd_m.sum(axis=1), principal)
    np.testing.assert_allclose(s.drawdown_usd_m.sum(axis=1), principal)
    # Zero principal: all zero.
    assert not s.debt_service_usd_m[1].any()
    # Grace >= tenor: bullet of 60 at index 2 + 3 = 5, interest 3.6 at 3, 4, 5.
    np.testing.assert_allclose(s.principal_usd_m[2], [0, 0, 0, 0, 0, 60, 0, 0, 0, 0])
    np.testing.assert_allclose(s.interest_usd_m[2], [0, 0, 0, 3.6, 3.6, 3.6, 0, 0, 0, 0])
    # Tenor 10 from index 3 runs past index 9: 9 instalments of 80/9 due, 5 paid (indices 5-8)
    # and the remaining 4 as a balloon at index 9.
    np.testing.assert_allclose(s.principal_usd_m[3, 5:9], 80 / 9)
    assert s.principal_usd_m[3, 9] == pytest.approx(80 * 5 / 9)
    assert s.truncated.tolist() == [False, False, False, True]
    # Interest is the rate on the opening balance.
    np.testing.assert_allclose(s.interest_usd_m, np.array([0.05, 0.05, 0.06, 0.04])[:, None]
                               * s.balance_usd_m)


def test_loan_schedule_rejects_bad_parameters():
    with pytest.raises(ValueError, match="tenor_years"):
        fin.loan_schedule(10.0, 0.05, 0, 0, 0, 5)
    with pytest.raises(ValueError, match="drawdown_index"):
        fin.loan_schedule(10.0, 0.05, 3, 0, 4, 5)


def test_dscr_by_hand():
    # Hand: 50/38.333 = 1.3043, 44/36.667 = 1.2, 42/35 = 1.2; interest-only 20/5 = 4.
    cfads = np.array([0.0, 0.0, 20.0, 20.0, 50.0, 44.0, 42.0, 30.0, 30.0, 30.0])
    s = fin.loan_schedule(100.0, 0.05, 5, 2, 1, 10)
    ratios = fin.dscr(cfads, s.debt_service_usd_m[0])
    np.testing.assert_allclose(ratios[2:7], [4.0, 4.0, 50 / (115 / 3), 44 / (110 / 3), 1.2])
    assert np.isnan(ratios[[0, 1, 7, 8, 9]]).all()
    minimum, average = fin.dscr_summary(cfads, s.debt_service_usd_m[0])
    assert minimum == pytest.approx(1.2)
    assert average == pytest.approx((4 + 4 + 50 / (115 / 3) + 1.2 + 1.2) / 5)
    # Rows; a row without debt gives NaN.
    mins, avgs = fin.dscr_summary(np.vstack([cfads, cfads]),
                                  np.vstack([s.debt_service_usd_m[0], np.zeros(10)]))
    assert mins[0] == pytest.approx(1.2) and np.isnan(mins[1]) and np.isnan(avgs[1])


def test_llcr_by_hand():
    # Hand: loan 100 at 5 %, first repayment at index 4 (opening balance 100), maturity 6.
    # LLCR = (50/1.05 + 44/1.05^2 + 42/1.05^3) / 100 = 1.15954...
    cfads = np.array([0.0, 0.0, 20.0, 20.0, 50.0, 44.0, 42.0, 30.0, 30.0, 30.0])
    s = fin.loan_schedule(100.0, 0.05, 5, 2, 1, 10)
    expected = (50 / 1.05 + 44 / 1.05**2 + 42 / 1.05**3) / 100.0
    result = fin.llcr(0.05, cfads, s.debt_service_usd_m[0], s.balance_usd_m[0])
    assert result == pytest.approx(expected, rel=1e-14)
    # At index 5: (44/1.05 + 42/1.05^2) / 66.667.
    at5 = fin.llcr(0.05, cfads, s.debt_service_usd_m[0], s.balance_usd_m[0], at_index=5)
    assert at5 == pytest.approx((44 / 1.05 + 42 / 1.05**2) / (200 / 3), rel=1e-14)
    # Rows, one without a loan -> NaN.
    s2 = fin.loan_schedule([100.0, 0.0], 0.05, [5, 0], [2, 0], [1, 0], 10)
    both = fin.llcr(0.05, np.vstack([cfads, cfads]), s2.debt_service_usd_m, s2.balance_usd_m)
    assert both[0] == pytest.approx(expected) and np.isnan(both[1])


# ---------------------------------------------------------------- speed


def test_irr_vectorised_is_faster_than_loop():
    # Loose in-suite guard (the 30x target is measured in benchmarks, on a quiet machine).
    import time

    rng = np.random.default_rng(RNG_SEED)
    flows = np.abs(rng.normal(40.0, 20.0, size=(300, 31)))
    flows[:, 0] = -rng.uniform(100.0, 600.0, size=300)
    start = time.perf_counter()
    fin.irr(flows)
    vectorised = time.perf_counter() - start
    start = time.perf_counter()
    for row in flows:
        npf.irr(row)
    loop = time.perf_counter() - start
    assert vectorised < loop


def test_evaluate_reports_pretax_and_korean_equity_views():
    """Pre-tax NPV/IRR are those of FCF + tax (numpy-financial as the oracle); the Korean view is
    the ownership share of the after-tax flow (withholding 0 where the regime has none)."""
    import numpy_financial as npf
    from evaluator.evaluate import evaluate
    from evaluator.reference import load_reference
    from models.loader import load_applications
    from models.scenario import default_scenario
    ref = load_reference()
    apps = load_applications("sample_projects/applications.csv", ref=ref).applications[:3]
    ev = evaluate(apps, default_scenario(), ref)
    for i, a in enumerate(apps):
        m = ev.metrics.loc[a.id]
        pre = ev.cashflows.fcf_usd_m[i] + ev.cashflows.tax_usd_m[i]
        assert m.npv_pretax_usd_m == pytest.approx(npf.npv(m.discount_rate, pre), rel=1e-9)
        assert m.irr_pretax == pytest.approx(npf.irr(pre), abs=1e-7)
        assert m.npv_pretax_usd_m >= m.npv_usd_m


def _cover_case(**kw):
    from evaluator.evaluate import debt_cover
    from evaluator.reference import load_reference
    from evaluator import cashflow
    from models.loader import load_applications
    from models.scenario import default_scenario
    import dataclasses
    ref = load_reference()
    app = load_applications("sample_projects/applications.csv", ref=ref).applications[0]
    app = dataclasses.replace(app, **kw)
    scen = default_scenario()
    cf = cashflow.build_cashflows([app], scen, ref)
    return app, scen, cf, debt_cover([app], scen, cf)


def test_dscr_covers_senior_debt_ranking_ahead_of_the_policy_loan():
    """Yescombe (2014) sec. 12.3: the DSCR of a subordinated loan covers all debt service ranking
    at or above it. Senior USD 100 m at 6 %, 6 years, 1 interest-only year, drawn at t = 0:
    year 1 interest 6; years 2-6 principal 20 plus 6 % of the opening balance (100, 80, ...).
    Checked against an independent loop on the project's CFADS."""
    app, scen, cf, cover = _cover_case(senior_debt_usd_m=100.0, senior_debt_rate=0.06, senior_debt_tenor_years=6,
                                       senior_debt_grace_years=1, policy_loan_rank="behind")
    senior = [0.0, 6.0] + [20 + 0.06 * b for b in (100, 80, 60, 40, 20)]
    np.testing.assert_allclose(cover.senior_debt.debt_service_usd_m[0, :7], senior)
    policy = cover.policy_loan.debt_service_usd_m[0]
    fp = cf.first_production_index[0]
    ratios = [cf.cfads_usd_m[0, t] / (policy[t] + (senior[t] if t < 7 else 0.0))
              for t in range(cf.n_periods)
              if policy[t] + (senior[t] if t < 7 else 0.0) > 1e-12
              and (t >= fp or cover.policy_loan.principal_usd_m[0, t] + (20 if 2 <= t <= 6 else 0) > 1e-12)]
    assert cover.min_dscr[0] == pytest.approx(min(ratios))
    assert cover.scope[0].startswith("other debt and policy loan")
    alone = _cover_case()[3]
    assert alone.scope[0] == "policy loan alone (no other debt stated)"
    assert alone.min_dscr[0] > cover.min_dscr[0] or np.isnan(cover.min_dscr[0])


def test_other_debt_ranking_behind_is_left_out_of_the_cover():
    _, _, _, ahead = _cover_case(senior_debt_usd_m=100.0, senior_debt_rate=0.06, senior_debt_tenor_years=6,
                                 policy_loan_rank="ahead")
    alone = _cover_case()[3]
    np.testing.assert_allclose(ahead.min_dscr, alone.min_dscr)
    np.testing.assert_allclose(ahead.llcr, alone.llcr)
    assert ahead.scope[0] == "policy loan (the other debt ranks behind it)"


def test_senior_debt_needs_rate_and_tenor():
    from models.application import parse_application
    app = _cover_case()[0]
    rec = app.to_record() | {"senior_debt_usd_m": 50.0, "senior_debt_rate": None, "senior_debt_tenor_years": None}
    assert {p.field for p in parse_application(rec)[1]} == {"senior_debt_rate", "senior_debt_tenor_years"}


def test_korean_equity_irr_with_and_without_withholding():
    """Without withholding the Korean flow is a positive multiple of the project's, so its IRR is
    the project's; with 15 % withholding (AUS-WA) it is the IRR of the share of FCF less 15 % of
    the positive years (numpy-financial as the oracle)."""
    import dataclasses
    import numpy_financial as npf
    from evaluator.evaluate import evaluate
    from evaluator.reference import load_reference
    from models.loader import load_applications
    from models.scenario import default_scenario
    ref = load_reference()
    apps = load_applications("sample_projects/applications.csv", ref=ref).applications
    a = next(x for x in apps if x.country_iso3 == "AUS")
    wa = dataclasses.replace(a, id="WA", fiscal_region="AUS-WA", royalty_rate=None, income_tax_rate=None,
                             depreciation_years=None)
    # a country without a regime row (per-country tables: no withholding); AUS now defaults to AUS-WA
    plain = next(x for x in apps if x.country_iso3 == "CAN")
    ev = evaluate([plain, wa, a], default_scenario(), ref)
    m = ev.metrics
    assert m.loc[plain.id, "irr_korea_equity"] == pytest.approx(m.loc[plain.id, "irr"], abs=1e-12)
    assert m.loc[a.id, "irr_korea_equity"] < m.loc[a.id, "irr"]  # the country default withholds 15 %
    fcf = ev.cashflows.fcf_usd_m[1]
    flow = wa.korean_ownership_share * (fcf - 0.15 * np.maximum(fcf, 0.0))
    assert m.loc["WA", "irr_korea_equity"] == pytest.approx(npf.irr(flow), abs=1e-7)
    assert m.loc["WA", "irr_korea_equity"] < m.loc["WA", "irr"]


def test_dscr_scope_rule_by_hand():
    """Years count in the DSCR when debt service is due and production has started or principal
    is repaid: interest-only years before first production are left out (worked by hand)."""
    from evaluator import finance

    ds = np.array([[0.0, 3.0, 3.0, 13.0, 12.0, 0.0]])      # interest 3 in grace, then P + I
    principal = np.array([[0.0, 0.0, 0.0, 10.0, 10.0, 0.0]])
    got = finance.dscr_in_scope(ds, principal, np.array([2]))
    assert got.tolist() == [[False, False, True, True, True, False]]
    got = finance.dscr_in_scope(ds, principal, np.array([5]))  # production late: only repayment years
    assert got.tolist() == [[False, False, False, True, True, False]]
