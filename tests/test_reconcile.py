"""The bridge from a feasibility study's NPV to the fund's (evaluator/reconcile.py)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from evaluator import reconcile
from evaluator.evaluate import evaluate
from evaluator.reference import load_reference
from models.application import ByProduct
from models.loader import load_applications
from models.scenario import default_scenario

REF = load_reference()
SCEN = default_scenario()
APPS = {a.id: a for a in load_applications("sample_projects/applications.csv", ref=REF).applications}


def with_study(**kw):
    a = APPS["AU-LI-01"]
    study = dict(study_npv_usd_m=900.0, study_discount_rate=0.08, study_irr=0.25, study_basis="after_tax",
                 study_price_usd_per_t=20_000.0, study_royalty_rate=0.05, study_income_tax_rate=0.30,
                 study_first_production_year=SCEN.first_year + a.construction_years + 2,
                 study_initial_capex_usd_m=0.9 * a.initial_capex_usd_m)
    study.update(kw)
    return dataclasses.replace(a, **study)


@pytest.mark.parametrize("basis", ["after_tax", "pre_tax"])
def test_steps_sum_exactly_to_the_total_difference_and_end_at_the_fund_npv(basis):
    app = with_study(study_basis=basis)
    b = reconcile.bridge(app, SCEN, REF)
    assert math.fsum(s.change_usd_m for s in b.steps) == pytest.approx(b.total_difference_usd_m, abs=1e-9)
    assert b.steps[-1].npv_after_usd_m == b.fund_npv_usd_m
    fund = evaluate([app], SCEN, REF).metrics.loc[app.id, "npv_usd_m"]
    assert b.fund_npv_usd_m == pytest.approx(fund, rel=1e-12)
    assert [s.label for s in b.steps] == ["unreproduced by the tool", *reconcile.STEP_GROUPS]
    frame = b.frame()
    assert frame.change_usd_m.iloc[1:-1].sum() == pytest.approx(frame.change_usd_m.iloc[-1])


def test_tool_figure_on_the_study_basis_is_an_independent_evaluation():
    """Row 0 of the bridge = evaluate() of the application with the study's royalty, tax,
    schedule and capital, under a scenario with the study's flat price and rate and no premium."""
    for basis, column in (("after_tax", "npv_usd_m"), ("pre_tax", "npv_pretax_usd_m")):
        app = with_study(study_basis=basis)
        b = reconcile.bridge(app, SCEN, REF)
        c = app.study_first_production_year - SCEN.first_year
        study_app = dataclasses.replace(app, royalty_rate=0.05, income_tax_rate=0.30, construction_years=c,
                                        initial_capex_usd_m=app.study_initial_capex_usd_m)
        study_scen = SCEN.replace(price_overrides_usd_per_t={app.mineral: 20_000.0}, discount_rate=0.08,
                                  add_country_risk_premium=False)
        m = evaluate([study_app], study_scen, REF).metrics.iloc[0]
        assert b.tool_npv_study_basis_usd_m == pytest.approx(m[column], rel=1e-9)


def test_each_group_moves_the_way_its_assumption_does():
    b = {s.label: s for s in reconcile.bridge(with_study(study_discount_rate=0.07), SCEN, REF).steps}
    assert b["price deck"].change_usd_m < 0           # study 20,000 > the fund's 15,000 USD/t LCE
    assert b["discount rate and country premium"].change_usd_m < 0  # 7 % -> 8 % (Australia's premium is 0)
    assert b["timing"].change_usd_m > 0               # the applicant now plans two years earlier
    assert b["costs"].change_usd_m < 0                # the applicant's capital is 10 % higher


def test_groups_the_study_does_not_state_move_nothing():
    app = with_study(study_price_usd_per_t=None, study_royalty_rate=None, study_income_tax_rate=None,
                     study_first_production_year=None, study_initial_capex_usd_m=None)
    b = {s.label: s for s in reconcile.bridge(app, SCEN, REF).steps}
    for group in ("price deck", "timing", "costs"):
        assert b[group].change_usd_m == 0.0 and "not stated" in b[group].detail
    assert b["fiscal terms"].change_usd_m == 0.0  # after tax, the fund's regime on both sides


def test_missing_study_figures_are_a_named_error():
    with pytest.raises(reconcile.ReconcileError, match="AU-LI-01: study_npv_usd_m, study_discount_rate"):
        reconcile.bridge(APPS["AU-LI-01"], SCEN, REF)


# ------------------------------------------------------------------------------ by-product prices (issue 28)
def _copper_gold(**kw):
    """A small copper mine with a gold credit: 1 Mt/yr of ore for 5 years at 1 % Cu (90 %
    recovery) and 1 g/t Au (80 %), one year of construction, USD 100 m of capital, USD 20/t ore
    of operating cost, no royalty, tax, working capital or closure in the study."""
    a = APPS["AU-LI-01"]
    base = dict(id="CU-AU-TEST", mineral="copper", head_grade=1.0, head_grade_unit="%", recovery=0.9,
                payability=1.0, throughput_mtpa=1.0, mine_life_years=5, ore_reserve_mt=5.0, ramp_up=(),
                production_schedule_ore_mt=(), grade_schedule=(), capex_schedule_usd_m=(), ree_basket=(),
                by_products=(ByProduct("gold", 1.0, "g/t", 0.8, 1.0),), initial_capex_usd_m=100.0,
                construction_years=1, sustaining_capex_usd_m_per_year=0.0, opex_usd_per_t_ore=20.0,
                fixed_opex_usd_m_per_year=0.0, offsite_costs_share=0.0, closure_cost_usd_m=0.0,
                working_capital_share=0.0, country_iso3="AUS", fiscal_region="", currency="USD",
                study_npv_usd_m=150.0, study_discount_rate=0.08, study_basis="pre_tax", study_price_usd_per_t=10_000.0,
                study_by_product_prices=(("gold", 80_000_000.0),), study_royalty_rate=0.0,
                study_income_tax_rate=0.0, study_first_production_year=SCEN.first_year + 1,
                study_initial_capex_usd_m=None)
    base.update(kw)
    return dataclasses.replace(a, **base)


def test_tool_on_the_study_basis_prices_by_products_at_the_study_price_hand_computed():
    """Hand computation: revenue per year = 1e6 t x 1 % x 0.9 x 10,000 + 1e6 t x 1e-6 x 0.8 x
    80,000,000 USD/t = 90 + 64 = 154 USD m; opex 20 USD m; capital 100 USD m at the end of year 1
    (the valuation date is the start of year 1); production in years 2-6; pre-tax NPV at 8 %
    (numpy-financial convention, values[0] at t = 0)."""
    npf = pytest.importorskip("numpy_financial")
    b = reconcile.bridge(_copper_gold(), SCEN, REF)
    flows = [0.0, -100.0] + [154.0 - 20.0] * 5
    assert b.tool_npv_study_basis_usd_m == pytest.approx(npf.npv(0.08, flows), rel=1e-9)
    assert b.tool_irr_study_basis == pytest.approx(npf.irr(flows), rel=1e-7)
    assert b.steps[0].change_usd_m == pytest.approx(npf.npv(0.08, flows) - 150.0, rel=1e-9)
    price = next(s for s in b.steps if s.label == "price deck")
    assert "gold 80,000,000 -> 77,161,792" in price.detail and "copper 10,000 -> 9,000" in price.detail


def test_by_product_price_not_stated_stays_at_the_fund_deck_and_is_said():
    app = _copper_gold(study_by_product_prices=())
    b = reconcile.bridge(app, SCEN, REF)
    gold = float(REF.minerals.at["gold", "price_base_usd_per_t"])
    assert b.tool_npv_study_basis_usd_m == pytest.approx(
        __import__("numpy_financial").npv(0.08, [0.0, -100.0] + [90.0 + 0.8 * gold / 1e6 - 20.0] * 5), rel=1e-9)
    price = next(s for s in b.steps if s.label == "price deck")
    assert "not stated by the study" in price.detail and "gold" in price.detail


def test_study_row_equals_evaluate_under_the_study_prices_for_every_product():
    """Row 0 = evaluate() under a scenario that prices the primary and the by-products at the
    study's (the issue's case: the by-product at the fund's deck gave a different row 0)."""
    app = _copper_gold(study_basis="after_tax", study_royalty_rate=0.05, study_income_tax_rate=0.30)
    b = reconcile.bridge(app, SCEN, REF)
    study_app = dataclasses.replace(app, royalty_rate=0.05, income_tax_rate=0.30)
    scen = SCEN.replace(price_overrides_usd_per_t={"copper": 10_000.0, "gold": 80_000_000.0}, discount_rate=0.08,
                        add_country_risk_premium=False)
    m = evaluate([study_app], scen, REF).metrics.iloc[0]
    assert b.tool_npv_study_basis_usd_m == pytest.approx(m["npv_usd_m"], rel=1e-9)


def test_bridges_of_many_applications_equal_one_at_a_time():
    apps = [with_study(), _copper_gold(), with_study(id="AU-LI-01b", study_basis="pre_tax")]
    many = reconcile.bridges(apps, SCEN, REF)
    for app, b in zip(apps, many):
        one = reconcile.bridge(app, SCEN, REF)
        assert [s.change_usd_m for s in b.steps] == pytest.approx([s.change_usd_m for s in one.steps], rel=1e-12)


def test_bridge_table_fields_add_up_to_the_fund_npv_minus_the_study():
    apps = [with_study(), _copper_gold(), APPS["VN-REE-01"]]
    t = reconcile.bridge_table(apps, SCEN, REF)
    npv = evaluate(apps, SCEN, REF).metrics["npv_usd_m"]
    steps = list(reconcile.BRIDGE_FIELDS.values())
    for app_id in ("AU-LI-01", "CU-AU-TEST"):
        r = t.loc[app_id]
        assert math.fsum(r[steps]) == pytest.approx(npv[app_id] - r.study_npv_usd_m, abs=1e-9)
        assert r.study_npv_difference_usd_m == pytest.approx(r.tool_npv_study_basis_usd_m - r.study_npv_usd_m)
        assert r.bridge_unreproduced_usd_m == r.study_npv_difference_usd_m
    assert t.loc["VN-REE-01", steps].isna().all() and t.loc["VN-REE-01", "study_basis"] == ""


def test_study_by_product_prices_parse_and_name_their_problems():
    from models.application import parse_application

    rec = APPS["US-SB-01"].to_record()
    rec.update(study_by_product_prices="gold 80,000,000")
    app, problems = parse_application(rec)
    assert problems == [] and app.study_by_product_prices == (("gold", 80_000_000.0),)
    assert parse_application(app.to_record())[0] == app
    for text, code in (("copper 9000", "problem_study_price_not_byproduct"), ("gold", "problem_study_price_form"),
                       ("gold 0", "problem_study_price_positive"), ("gold abc", "problem_item")):
        rec.update(study_by_product_prices=text)
        _, problems = parse_application(rec)
        assert [p.code for p in problems] == [code] and problems[0].field == "study_by_product_prices"


def test_the_fiscal_step_carries_a_granted_tax_holiday():
    """The study states its 22 % tax; the fund's side has the granted Indonesian holiday
    (fiscal_incentives.csv): the fiscal step is positive, and row 0 is the study's rate alone."""
    a = dataclasses.replace(APPS["ID-NI-01"], fiscal_incentive="IDN-TAX-HOLIDAY-15Y", study_npv_usd_m=500.0,
                            study_discount_rate=0.08, study_income_tax_rate=0.22, study_royalty_rate=None)
    b = {s.label: s for s in reconcile.bridge(a, SCEN, REF).steps}
    plain = {s.label: s for s in reconcile.bridge(dataclasses.replace(a, fiscal_incentive=""), SCEN, REF).steps}
    assert b["unreproduced by the tool"].change_usd_m == pytest.approx(plain["unreproduced by the tool"].change_usd_m)
    assert b["fiscal terms"].change_usd_m > plain["fiscal terms"].change_usd_m


def test_study_valued_at_its_own_date_counts_construction_from_it():
    """A study valued at 1 January 2018 with first production in 2022 (Thacker Pass's dates):
    its row builds for 4 years from its own valuation date, i.e. it equals evaluate() with four
    construction years under the study's price and rate; the timing step says both dates."""
    app = with_study(study_valuation_year=2018, study_first_production_year=2022)
    b = reconcile.bridge(app, SCEN, REF)
    study_app = dataclasses.replace(app, royalty_rate=0.05, income_tax_rate=0.30, construction_years=4,
                                    initial_capex_usd_m=app.study_initial_capex_usd_m)
    study_scen = SCEN.replace(price_overrides_usd_per_t={app.mineral: 20_000.0}, discount_rate=0.08,
                              add_country_risk_premium=False)
    assert b.tool_npv_study_basis_usd_m == pytest.approx(evaluate([study_app], study_scen, REF).metrics.iloc[0].npv_usd_m,
                                                         rel=1e-9)
    timing = next(s for s in b.steps if s.label == "timing")
    assert "study valued at 1 January 2018, the fund at 2027" in timing.detail
