"""The annual cash-flow model against a hand-worked example and an independent loop model.

The hand-worked example is written out line by line below (every figure derivable with a
calculator); the loop model is a plain per-project, per-year re-implementation of DESIGN.md's
"Cash flow" paragraph that shares no code with ``evaluator.cashflow``.
"""

from __future__ import annotations


import numpy as np
import pytest

from evaluator.messages import Message
from hypothesis import given, settings, strategies as st

from evaluator import cashflow
from evaluator.reference import load_reference
from models.application import Application, ByProduct
from models.scenario import Scenario

REF = load_reference()


def copper_app(**kw) -> Application:
    base = dict(
        id="T-CU-01", name="Test copper", company="K", country_iso3="LAO", mineral="copper",
        stage="development", korean_ownership_share=0.5, esg_category="B", permits_status="granted",
        ore_reserve_mt=10.0, head_grade=1.0, head_grade_unit="%", recovery=0.9, payability=0.95,
        throughput_mtpa=1.0, mine_life_years=3, initial_capex_usd_m=100.0, construction_years=1,
        sustaining_capex_usd_m_per_year=2.0, opex_usd_per_t_ore=20.0, fixed_opex_usd_m_per_year=5.0,
        offsite_costs_share=0.10, closure_cost_usd_m=10.0, working_capital_share=0.10,
        fund_request_krw_bn=10.0, loan_request_krw_bn=20.0, loan_tenor_years=8, loan_grace_years=2,
        total_project_cost_usd_m=120.0, korea_offtake_share=0.5,
        royalty_rate=0.05, income_tax_rate=0.25, depreciation_years=2,
    )
    base.update(kw)
    return Application(**base)


SCEN = Scenario(price_overrides_usd_per_t={"copper": 9000.0})


def test_hand_worked_copper_example():
    """Hand calculation (copper priced per t contained Cu, product_factor 1):

    product = 1e6 t x 1 % x 0.90 = 9,000 t/yr; payable = 9,000 x 0.95 = 8,550 t
    gross revenue = 8,550 x 9,000 / 1e6 = 76.95; offsite 10 % = 7.695; revenue = 69.255
    royalty 5 % = 3.46275; opex = 1e6 x 20 / 1e6 + 5 = 25; EBITDA = 40.79225
    depreciation (2 yr SL): capex 100 + sustaining 2 in service in year 2 -> 51, 51;
      sustaining of year 3 -> 1, 1; of year 4 -> 1 + 1 written off in year 4:
      dep = 51, 51 + 1, 1 + 1 + 1 = 51, 52, 3 (total 106 = 100 + 3 x 2)
    taxable before losses = -10.20775, -11.20775, 37.79225; losses carried forward ->
      taxed in year 4 = 37.79225 - 21.4155 = 16.37675; tax 25 % = 4.0941875
    WC 10 % of revenue = 6.9255 built in year 2, released in year 5
    FCF = [0, -100, 40.79225 - 2 - 6.9255, 40.79225 - 2, 40.79225 - 4.0941875 - 2, -10 + 6.9255]
    """
    cf = cashflow.build_cashflows([copper_app()], SCEN, REF)
    expected_fcf = [0.0, -100.0, 31.86675, 38.79225, 34.6980625, -3.0745]
    np.testing.assert_allclose(cf.fcf_usd_m[0], expected_fcf, atol=1e-9)
    np.testing.assert_allclose(cf.depreciation_usd_m[0], [0, 0, 51, 52, 3, 0], atol=1e-9)
    np.testing.assert_allclose(cf.tax_usd_m[0], [0, 0, 0, 0, 4.0941875, 0], atol=1e-9)
    np.testing.assert_allclose(cf.revenue_usd_m[0, 2:5], 69.255, atol=1e-9)
    np.testing.assert_allclose(cf.royalty_usd_m[0, 2:5], 3.46275, atol=1e-9)
    np.testing.assert_allclose(cf.korea_offtake_t[0, 2:5], 4275.0)  # 50 % of payable 8,550 t
    np.testing.assert_allclose(cf.cfads_usd_m[0, 2], 40.79225 - 2 - 6.9255, atol=1e-9)
    assert cf.first_production_index[0] == 2 and cf.last_production_index[0] == 4


def test_already_built_project_puts_capex_at_valuation_date():
    cf = cashflow.build_cashflows([copper_app(construction_years=0)], SCEN, REF)
    assert cf.initial_capex_usd_m[0, 0] == pytest.approx(100.0)
    assert cf.ore_mt[0, 1] == pytest.approx(1.0) and cf.ore_mt[0, 0] == 0


def test_ramp_up_and_schedule():
    a = copper_app(ramp_up=(0.5, 0.8), mine_life_years=4)
    cf = cashflow.build_cashflows([a], SCEN, REF)
    np.testing.assert_allclose(cf.ore_mt[0, 2:6], [0.5, 0.8, 1.0, 1.0])
    b = copper_app(production_schedule_ore_mt=(0.3, 0.9, 0.7))
    cf = cashflow.build_cashflows([b], SCEN, REF)
    np.testing.assert_allclose(cf.ore_mt[0, 2:5], [0.3, 0.9, 0.7])
    assert cf.ore_mt[0].sum() == pytest.approx(1.9)


def test_by_product_credit():
    """Gold by-product: 0.5 g/t x 0.8 recovery x 0.9 payability x 1e6 t = 0.36 t Au payable."""
    price_au = 2_000_000.0 * 32.1507466  # a price override in USD per t (USD 2,000,000/kg ~ 62,200/oz)
    a = copper_app(by_products=(ByProduct("gold", 0.5, "g/t", 0.8, 0.9),))
    scen = SCEN.replace(price_overrides_usd_per_t={"copper": 9000.0, "gold": price_au})
    cf = cashflow.build_cashflows([a], scen, REF)
    factor = float(REF.minerals.at["gold", "product_factor"])
    expected_gross = 76.95 + 1e6 * 0.5e-6 * 0.8 * 0.9 * factor * price_au / 1e6
    np.testing.assert_allclose(cf.gross_revenue_usd_m[0, 2], expected_gross)


def test_losses_carry_forward_and_tax_never_negative():
    a = copper_app(opex_usd_per_t_ore=55.0)  # loss-making years
    cf = cashflow.build_cashflows([a], SCEN, REF)
    assert (cf.tax_usd_m >= 0).all()
    assert (cf.taxable_income_usd_m >= -1e-12).all()


def _loop_model(a: Application, price: float, product_factor: float, royalty: float, tax_rate: float, dep_n: int):
    """Plain re-implementation: one project, year by year (no shared code)."""
    c, L = a.construction_years, a.operating_years
    T = c + L + 2
    ore = [0.0] * T
    for k in range(L):
        if a.production_schedule_ore_mt:
            x = a.production_schedule_ore_mt[k]
        else:
            x = a.throughput_mtpa * (a.ramp_up[k] if k < len(a.ramp_up) else 1.0)
        ore[c + 1 + k] = x
    fcf, loss_pool, wc_prev, vintages = [], 0.0, 0.0, []
    g = a.head_grade * {"%": 1e-2, "g/t": 1e-6, "ppm": 1e-6}[a.head_grade_unit]
    for t in range(T):
        operating = c + 1 <= t <= c + L
        prod = ore[t] * 1e6 * g * a.recovery * product_factor
        rev = prod * a.payability * price / 1e6 * (1 - a.offsite_costs_share)
        roy = rev * royalty
        opex = ore[t] * a.opex_usd_per_t_ore + (a.fixed_opex_usd_m_per_year if operating else 0)
        ebitda = rev - roy - opex
        capex = 0.0
        if c == 0 and t == 0:
            capex = a.initial_capex_usd_m
        if c >= 1 and 1 <= t <= c:
            capex = a.initial_capex_usd_m / c
        sus = a.sustaining_capex_usd_m_per_year if operating else 0.0
        if t == c + 1:
            vintages.append([a.initial_capex_usd_m, t])
        if operating:
            vintages.append([sus, t])
        dep = 0.0
        if operating:
            for amount, s in vintages:
                if s <= t < s + dep_n:
                    dep += amount / dep_n
            if t == c + L:  # write off what is left
                dep += sum(amount * max(0, s + dep_n - 1 - t) / dep_n for amount, s in vintages)
        ti = ebitda - dep if t <= c + L else 0.0
        if ti < 0:
            loss_pool += -ti
            taxed = 0.0
        else:
            used = min(loss_pool, ti)
            loss_pool -= used
            taxed = ti - used
        tax = taxed * tax_rate
        wc = rev * a.working_capital_share
        dwc, wc_prev = wc - wc_prev, wc
        closure = a.closure_cost_usd_m if t == c + L + 1 else 0.0
        fcf.append(ebitda - tax - capex - sus - closure - dwc)
    return np.array(fcf)


@settings(max_examples=60, deadline=None)
@given(
    c=st.integers(0, 4), L=st.integers(1, 25), dep=st.integers(1, 15),
    grade=st.floats(0.2, 3.0), opex=st.floats(5, 80), capex=st.floats(10, 2000),
    tax=st.floats(0, 0.5), roy=st.floats(0, 0.2), ramp=st.lists(st.floats(0.1, 1.0), max_size=3),
    wc=st.floats(0, 0.3), closure=st.floats(0, 100), fixed=st.floats(0, 30),
)
def test_vectorised_model_equals_loop_model(c, L, dep, grade, opex, capex, tax, roy, ramp, wc, closure, fixed):
    a = copper_app(construction_years=c, mine_life_years=L, depreciation_years=dep, head_grade=grade,
                   opex_usd_per_t_ore=opex, initial_capex_usd_m=capex, income_tax_rate=tax, royalty_rate=roy,
                   ramp_up=tuple(ramp), working_capital_share=wc, closure_cost_usd_m=closure,
                   fixed_opex_usd_m_per_year=fixed, ore_reserve_mt=100.0)
    b = copper_app(id="T-2", construction_years=2, mine_life_years=7, production_schedule_ore_mt=(0.4, 1.2, 1.1, 0.2))
    cf = cashflow.build_cashflows([a, b], SCEN, REF)
    ref_fcf = _loop_model(a, 9000.0, 1.0, roy, tax, dep)
    np.testing.assert_allclose(cf.fcf_usd_m[0, : len(ref_fcf)], ref_fcf, rtol=1e-9, atol=1e-7)
    assert np.all(cf.fcf_usd_m[0, len(ref_fcf):] == 0)
    ref_b = _loop_model(b, 9000.0, 1.0, 0.05, 0.25, 2)
    np.testing.assert_allclose(cf.fcf_usd_m[1, : len(ref_b)], ref_b, rtol=1e-9, atol=1e-7)


def test_total_depreciation_equals_capital_spent():
    apps = [copper_app(id=f"P{i}", depreciation_years=d, mine_life_years=L)
            for i, (d, L) in enumerate([(2, 3), (10, 3), (5, 12), (1, 1)])]
    cf = cashflow.build_cashflows(apps, SCEN, REF)
    spent = cf.initial_capex_usd_m.sum(1) + cf.sustaining_capex_usd_m.sum(1)
    np.testing.assert_allclose(cf.depreciation_usd_m.sum(1), spent)


def test_price_and_multiplier_hooks_scale_revenue():
    inputs = cashflow.resolve_inputs([copper_app()], SCEN, REF)
    base = cashflow.build(inputs)
    up = cashflow.build(inputs, price_multiplier=np.array([1.2]))
    np.testing.assert_allclose(up.gross_revenue_usd_m, base.gross_revenue_usd_m * 1.2)
    late = cashflow.build(inputs, delay_years=np.array([2]))
    assert late.first_production_index[0] == base.first_production_index[0] + 2


def test_inputs_record_their_sources():
    a = copper_app(royalty_rate=None, income_tax_rate=None, depreciation_years=None)
    inputs = cashflow.resolve_inputs([a], Scenario(), REF)
    src = inputs.sources.loc["T-CU-01"]
    assert src["royalty_source"] == Message("src_country_default", {"iso3": "LAO"})
    assert src["royalty_source"].text() == "country default (LAO)"
    assert src["depreciation_source"] == Message("src_scenario_default")
    assert inputs.depreciation_years[0] == Scenario().depreciation_years_default


# ---------------------------------------------------------------------------------------------
# issue 16: capital and grade schedules, pre-tax flows, payable offtake, the Korean equity view
# ---------------------------------------------------------------------------------------------
def test_capex_schedule_with_expansion_hand_worked():
    """Capital schedule 60 in year 1 (construction) and 30 in year 3 (an expansion in the second
    operating year); otherwise the hand-worked copper example above (EBITDA 40.79225 a year).

    Placed in service: 60 at first production (column 2), 30 in column 3. Depreciation over
    2 years: (60 + 2) / 2 = 31 in columns 2 and 3; (30 + 2) / 2 = 16 in columns 3 and 4; the
    sustaining 2 of column 4 is 1 + 1 written off: dep = 31, 47, 18 (total 96 = 90 + 3 x 2).
    Taxable before losses 9.79225, -6.20775, 22.79225; cumulative 9.79225, 3.5845, 26.37675;
    running maximum 9.79225, 9.79225, 26.37675 -> taxed 9.79225, 0, 16.5845; tax at 25 %
    2.4480625, 0, 4.146125.
    FCF = [0, -60, 40.79225 - 2.4480625 - 2 - 6.9255, 40.79225 - 30 - 2,
           40.79225 - 4.146125 - 2, -10 + 6.9255].
    """
    a = copper_app(capex_schedule_usd_m=(60.0, 0.0, 30.0))
    cf = cashflow.build_cashflows([a], SCEN, REF)
    np.testing.assert_allclose(cf.depreciation_usd_m[0], [0, 0, 31, 47, 18, 0], atol=1e-9)
    np.testing.assert_allclose(cf.tax_usd_m[0], [0, 0, 2.4480625, 0, 4.146125, 0], atol=1e-9)
    np.testing.assert_allclose(cf.fcf_usd_m[0], [0, -60, 29.4186875, 8.79225, 34.646125, -3.0745], atol=1e-9)
    np.testing.assert_allclose(cf.initial_capex_usd_m[0], [0, 60, 0, 30, 0, 0])


def test_capex_schedule_moves_with_a_delay_and_scales_with_the_multiplier():
    inputs = cashflow.resolve_inputs([copper_app(capex_schedule_usd_m=(60.0, 0.0, 30.0))], SCEN, REF)
    late = cashflow.build(inputs, delay_years=np.array([2]), capex_multiplier=np.array([1.5]))
    np.testing.assert_allclose(late.initial_capex_usd_m[0, :6], [0, 0, 0, 90, 0, 45])
    spent = late.initial_capex_usd_m.sum() + late.sustaining_capex_usd_m.sum()
    assert late.depreciation_usd_m.sum() == pytest.approx(spent)


def test_grade_schedule_sets_each_operating_year():
    """Grades 1.0 %, 0.5 %, 2.0 %: product = 1e6 t x grade x 0.9 = 9,000, 4,500, 18,000 t."""
    cf = cashflow.build_cashflows([copper_app(grade_schedule=(1.0, 0.5, 2.0))], SCEN, REF)
    np.testing.assert_allclose(cf.product_t[0, 2:5], [9000.0, 4500.0, 18000.0])
    short = cashflow.build_cashflows([copper_app(head_grade=1.2, grade_schedule=(0.5,))], SCEN, REF)
    np.testing.assert_allclose(short.product_t[0, 2:5], [4500.0, 10800.0, 10800.0])  # later years: head grade


def test_pretax_flow_adds_back_tax_and_korean_view_takes_its_share():
    cf = cashflow.build_cashflows([copper_app(korean_ownership_share=0.4)], SCEN, REF)
    np.testing.assert_allclose(cf.pretax_fcf_usd_m, cf.fcf_usd_m + cf.tax_usd_m)
    np.testing.assert_allclose(cf.korea_equity_fcf_usd_m, 0.4 * cf.fcf_usd_m)  # no withholding here


def test_mine_life_of_100_years_validates_and_builds():
    from models.application import parse_application
    rec = copper_app(mine_life_years=100, throughput_mtpa=0.1).to_record()
    app, problems = parse_application(rec)
    assert problems == [] and app.mine_life_years == 100
    cf = cashflow.build_cashflows([app], SCEN, REF)
    assert cf.last_production_index[0] == 101 and cf.n_periods == 103
    rec["mine_life_years"] = 101
    assert parse_application(rec)[1][0].field == "mine_life_years"


def test_schedules_longer_than_the_project_are_problems():
    from models.application import parse_application
    rec = copper_app(capex_schedule_usd_m=(1.0,) * 5, grade_schedule=(1.0,) * 4).to_record()
    _, problems = parse_application(rec)
    assert {p.field for p in problems} == {"capex_schedule_usd_m", "grade_schedule"}


# ---------------------------------------------------------------------------------------------
# issue 16: price paths by calendar year
# ---------------------------------------------------------------------------------------------
def test_price_path_interpolates_linearly_and_is_flat_outside():
    """Path copper 2027: 8,000, 2029: 10,000 with model year 1 = 2027. Production in model years
    2-4 = 2028-2030: prices 9,000 (half-way), 10,000, 10,000 (flat after the last year).
    Gross revenue = 8,550 t x price: 76.95, 85.5, 85.5 USD m."""
    scen = Scenario(price_path_usd_per_t={"copper": {2027: 8000.0, 2029: 10000.0}})
    cf = cashflow.build_cashflows([copper_app()], scen, REF)
    np.testing.assert_allclose(cf.gross_revenue_usd_m[0, 2:5], [76.95, 85.5, 85.5])
    early = Scenario(first_year=2020, price_path_usd_per_t={"copper": {2027: 8000.0, 2029: 10000.0}})
    cf = cashflow.build_cashflows([copper_app()], early, REF)
    np.testing.assert_allclose(cf.gross_revenue_usd_m[0, 2:5], 8550 * 8000.0 / 1e6)  # flat before 2027


def test_price_path_applies_to_by_products_and_survives_price_multipliers():
    price_au = 60_000_000.0
    a = copper_app(by_products=(ByProduct("gold", 0.5, "g/t", 0.8, 0.9),))
    flat = Scenario(price_overrides_usd_per_t={"copper": 9000.0, "gold": price_au})
    path = flat.replace(price_path_usd_per_t={"gold": {2028: price_au, 2029: 2 * price_au}})
    f, p = (cashflow.build_cashflows([a], s, REF) for s in (flat, path))
    by = f.byproduct_revenue_usd_m[0]
    np.testing.assert_allclose(p.byproduct_revenue_usd_m[0, 2:5], by[2:5] * [1, 2, 2])
    np.testing.assert_allclose(p.revenue_usd_m - p.byproduct_revenue_usd_m, f.revenue_usd_m - by)
    inputs = cashflow.resolve_inputs([a], path, REF)
    np.testing.assert_allclose(cashflow.build(inputs, price_multiplier=np.array([1.5])).gross_revenue_usd_m,
                               1.5 * cashflow.build(inputs).gross_revenue_usd_m)


def test_price_path_round_trips_through_a_scenario_file(tmp_path):
    from models.scenario import ScenarioError, load_scenario, save_scenario
    s = Scenario(price_path_usd_per_t={"lithium": {2027: 12000.0, 2030: 15000.0}})
    for suffix in (".toml", ".json"):
        save_scenario(s, tmp_path / f"s{suffix}")
        assert load_scenario(tmp_path / f"s{suffix}").price_path_usd_per_t == s.price_path_usd_per_t
    with pytest.raises(ScenarioError, match="price_path_usd_per_t.lithium"):
        Scenario(price_path_usd_per_t={"lithium": {2027: -1.0}})


def test_price_deck_upload_table():
    import pandas as pd
    deck = pd.DataFrame({"mineral": ["Lithium", "lithium", "nickel"], "year": [2027, 2030, 2027],
                         "price_usd_per_t": [12000, 15000, 16000]})
    assert cashflow.price_deck_from_frame(deck) == {"lithium": {2027: 12000.0, 2030: 15000.0}, "nickel": {2027: 16000.0}}
    with pytest.raises(cashflow.PriceDeckError, match="row 2"):
        cashflow.price_deck_from_frame(deck.assign(year=[2027, 2027.5, 2027]))
    with pytest.raises(cashflow.PriceDeckError, match="given twice"):
        cashflow.price_deck_from_frame(deck.assign(year=[2027, 2027, 2027]))
    with pytest.raises(cashflow.PriceDeckError, match="missing"):
        cashflow.price_deck_from_frame(deck.drop(columns="year"))


# ---------------------------------------------------------------------------------------------
# issue 16: money fields in another currency
# ---------------------------------------------------------------------------------------------
def test_money_fields_in_aud_are_converted_at_the_table_rate():
    """fx_rates.csv: AUD 0.66 USD (2024 average, labelled). Capex AUD 100 m = USD 66 m, opex
    AUD 20/t = USD 13.2/t: the same flows as the application stated in USD."""
    from evaluator.evaluate import evaluate
    aud = copper_app(currency="AUD", capex_schedule_usd_m=(100.0,), opex_usd_per_t_ore=20.0)
    usd = copper_app(capex_schedule_usd_m=(66.0,), opex_usd_per_t_ore=13.2, initial_capex_usd_m=66.0,
                     sustaining_capex_usd_m_per_year=1.32, fixed_opex_usd_m_per_year=3.3, closure_cost_usd_m=6.6,
                     total_project_cost_usd_m=79.2)
    a, u = (cashflow.build_cashflows([x], SCEN, REF) for x in (aud, usd))
    np.testing.assert_allclose(a.fcf_usd_m, u.fcf_usd_m, atol=1e-9)
    ev = evaluate([aud], SCEN, REF)
    assert ev.application("T-CU-01").total_project_cost_usd_m == pytest.approx(79.2)
    assert ev.metrics.loc["T-CU-01", "coverage_share"] == pytest.approx(30.0 / (79.2 * SCEN.fx_krw_per_usd / 1000))


def test_scenario_rate_wins_and_unknown_currency_names_the_application():
    scen = SCEN.replace(fx_usd_per_unit={"AUD": 0.5})
    a = cashflow.in_usd(copper_app(currency="AUD"), scen, REF)
    assert a.initial_capex_usd_m == pytest.approx(50.0) and a.currency == "USD"
    with pytest.raises(cashflow.CurrencyError, match="T-CU-01: currency = 'XYZ'"):
        cashflow.build_cashflows([copper_app(currency="XYZ")], SCEN, REF)


def test_price_deck_table_round_trips_and_names_its_sources():
    scen = Scenario(price_path_usd_per_t={"copper": {2027: 8000.0, 2029: 10000.0}})
    table = cashflow.price_deck_table(REF, scen, years=[2027, 2028, 2030])
    cu = table[table.mineral == "copper"]
    assert cu.price_usd_per_t.tolist() == [8000.0, 9000.0, 10000.0] and set(cu.source) == {"scenario price path"}
    li = table[table.mineral == "lithium"]
    assert li.price_usd_per_t.tolist() == [REF.minerals.at["lithium", "price_base_usd_per_t"]] * 3
    assert li.source.iloc[0].startswith("price deck (base): ")
    back = cashflow.price_deck_from_frame(table)
    assert back["copper"] == {2027: 8000.0, 2028: 9000.0, 2030: 10000.0}


def test_extended_features_flags_what_a_flat_straight_line_model_cannot_redo():
    plain = copper_app(id="PLAIN")
    sched = copper_app(id="SCHED", capex_schedule_usd_m=(60.0, 0.0, 30.0), grade_schedule=(1.0, 0.8))
    usa = copper_app(id="USA", country_iso3="USA", fiscal_region="USA-NV", royalty_rate=None, depreciation_years=None)
    inputs = cashflow.resolve_inputs([plain, sched, usa], SCEN, REF)
    flags = cashflow.extended_features(inputs)
    assert flags[0] == ""
    assert flags[1] == "capital schedule; grade schedule"
    assert flags[2] == "royalty basis; depreciation method; loss limits; percentage depletion"
