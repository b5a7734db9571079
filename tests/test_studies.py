"""Published feasibility studies re-run through the mine model (issue 16).

Each test documents the study's public inputs, where they come from, the published NPV, and
either checks the tool's NPV at the study's own price and discount rate within 10 % of it or
states which missing input explains the rest (and checks that, with that input set to a value
labelled as an assumption, the tool lands within 10 %).
"""

from __future__ import annotations


import pytest

from evaluator import reconcile
from evaluator.evaluate import evaluate
from evaluator.reference import load_reference
from models.application import Application
from models.scenario import Scenario

REF = load_reference()

# --------------------------------------------------------------------------------------------
# Thacker Pass (Lithium Americas), Preliminary Feasibility Study, NI 43-101, June 2018.
# Source: Lithium Americas news release "Lithium Americas Announces Preliminary Feasibility Study
# Results for the Thacker Pass Project", GlobeNewswire, 21 June 2018 (as reproduced by
# stockhouse.com and news.canadianminingreport.com); production timing (30,000 tpa in 2022,
# 60,000 tpa in 2026) from Investing News Network, 21 June 2018.
# Published: 179.4 Mt of reserves at 3,283 ppm Li, 46-year life, recovery 83 %, 30,000 tpa
# Li2CO3 (Phase 1) then 60,000 tpa (Phase 2), Phase 1 capital USD 581 m, Phase 2 USD 478 m,
# LOM opex USD 2,570/t Li2CO3 (net of acid and power credits), AISC incl. royalties and sustaining
# capital USD 3,043/t, price USD 12,000/t, average EBITDA USD 520 m (246 m in Phase 1),
# after-tax NPV8 USD 2.6 bn, after-tax IRR 29.3 %.
# Derived here: ppm Li -> % Li2O x 2.153 (molar masses); t LCE per t ore = 3,283e-6 x 5.323 x
# 0.83 = 0.014505; ore 2.068 Mt/yr (Phase 1) and 4.137 Mt/yr (Phase 2), the last year the
# reserve left; opex USD 37.3/t ore; sustaining capital USD 15 m/yr = (AISC - opex - a 1.75 %
# royalty) x average output (the royalty rate is not published: the Nevada regime's own
# net-proceeds tax stands in for it). Construction 2 years, capital spread evenly; Phase 2
# spent in operating years 3-4. Taxes: fiscal region USA-NV (federal 21 %, 80 % NOL limit,
# MACRS, 22 % percentage depletion for lithium, Nevada net proceeds tax).
# --------------------------------------------------------------------------------------------
_LCE_PER_T_ORE = 3283e-6 * 5.323 * 0.83
_P1, _P2 = 30_000 / _LCE_PER_T_ORE / 1e6, 60_000 / _LCE_PER_T_ORE / 1e6


def _thacker_pass(**kw) -> Application:
    ore = [_P1] * 4 + [_P2] * 41
    ore.append(179.4 - sum(ore))
    base = dict(
        id="THACKER-PASS-PFS-2018", name="Thacker Pass (PFS 2018)", company="Lithium Americas", country_iso3="USA",
        mineral="lithium", stage="feasibility", korean_ownership_share=0.0, esg_category="B", permits_status="applied",
        ore_reserve_mt=179.4, head_grade=3283e-4 * 2.153, head_grade_unit="%", recovery=0.83, payability=1.0,
        throughput_mtpa=_P2, mine_life_years=46, initial_capex_usd_m=581.0, construction_years=2,
        sustaining_capex_usd_m_per_year=15.0, opex_usd_per_t_ore=2570 * _LCE_PER_T_ORE, fixed_opex_usd_m_per_year=0.0,
        offsite_costs_share=0.0, closure_cost_usd_m=0.0, working_capital_share=0.0, fund_request_krw_bn=0.0,
        loan_request_krw_bn=0.0, loan_tenor_years=5, loan_grace_years=1, total_project_cost_usd_m=1059.0,
        korea_offtake_share=0.0, production_schedule_ore_mt=tuple(ore),
        capex_schedule_usd_m=(290.5, 290.5, 0.0, 0.0, 239.0, 239.0), fiscal_region="USA-NV",
        study_npv_usd_m=2600.0, study_discount_rate=0.08, study_irr=0.293, study_basis="after_tax",
        study_price_usd_per_t=12_000.0,
    )
    base.update(kw)
    return Application(**base)


STUDY_SCENARIO = Scenario(price_overrides_usd_per_t={"lithium": 12_000.0}, discount_rate=0.08,
                          add_country_risk_premium=False)


def test_thacker_pass_2018_ebitda_matches_the_study():
    """Average EBITDA over the 46 years: published USD 520 m a year."""
    ev = evaluate([_thacker_pass()], STUDY_SCENARIO, REF)
    cf = ev.cashflows
    fp, lp = int(cf.first_production_index[0]), int(cf.last_production_index[0])
    assert cf.ebitda_usd_m[0, fp:lp + 1].mean() == pytest.approx(520.0, rel=0.03)


def test_thacker_pass_2018_npv_and_the_inputs_that_explain_the_gap():
    """With the published inputs only, the tool's after-tax NPV8 is 27 % above USD 2.6 bn (IRR
    36.6 % vs 29.3 %). The inputs the release does not give explain it: the valuation date (the
    study is dated June 2018 for production in 2022, i.e. one more year of discounting before a
    two-year build), the ramp-up of each phase, working capital and closure. With those set to
    labelled assumptions (one idle year before construction; Phase 1 at 50 % and 80 % in its
    first two years, Phase 2 at 75 % in its first; working capital 10 % of revenue; closure
    USD 100 m) the tool lands within 10 % of the published NPV."""
    only_published = evaluate([_thacker_pass()], STUDY_SCENARIO, REF).metrics.iloc[0]
    assert 0.10 < only_published.npv_usd_m / 2600.0 - 1 < 0.35
    ore = [_P1 * 0.5, _P1 * 0.8, _P1, _P1, _P2 * 0.75] + [_P2] * 40
    ore.append(179.4 - sum(ore))
    assumed = _thacker_pass(construction_years=3, capex_schedule_usd_m=(0.0, 290.5, 290.5, 0.0, 0.0, 239.0, 239.0),
                            production_schedule_ore_mt=tuple(ore), working_capital_share=0.10, closure_cost_usd_m=100.0)
    m = evaluate([assumed], STUDY_SCENARIO, REF).metrics.iloc[0]
    assert m.npv_usd_m == pytest.approx(2600.0, rel=0.10)
    assert m.irr == pytest.approx(0.293, abs=0.03)


def test_thacker_pass_2018_bridge_to_the_fund():
    """The bridge from the published USD 2.6 bn to the fund's view adds up, and the price step
    carries the move from USD 12,000/t to the fund's base deck."""
    app = _thacker_pass()
    scen = Scenario()
    b = reconcile.bridge(app, scen, REF)
    assert sum(s.change_usd_m for s in b.steps) == pytest.approx(b.fund_npv_usd_m - 2600.0, abs=1e-6)
    price = next(s for s in b.steps if s.label == "price deck")
    assert (price.change_usd_m > 0) == (REF.minerals.at["lithium", "price_base_usd_per_t"] > 12_000.0)


# --------------------------------------------------------------------------------------------
# Nolans (Arafura Rare Earths), Northern Territory, project update of September 2023 (JORC).
# Source: Arafura investor centre "Project Economics" table (arultd.com, 13 Sep 2023), and
# NS Energy, "Arafura announces project update for Nolans NdPr project" (2023).
# Published (US$ and A$ both given; their ratio is the study's rate, 1,135 / 1,590 = 0.714 USD
# per AUD): 38-year life; 4,440 t/yr NdPr oxide, 474 t/yr SEG/HRE oxide, phosphoric acid;
# pre-production capital A$1,394 m + contingency A$196 m = A$1,590 m; rare-earth sales
# US$587 m/yr and phosphoric acid US$65 m/yr; mining, processing and G&A A$44 + 193 + 36 m/yr;
# EBITDA US$409 m/yr (after a two-year ramp-up); NPV8 after tax US$1,693 m; IRR 19.3 %.
# Modelled in A$ (currency AUD at the study's rate): one product of 4,440 t/yr (1 Mt/yr of
# "ore" at 0.444 %) priced at all revenue per t NdPr, (587 + 65) / 4,440 = US$146,847/t; the
# US$48 m/yr between revenue less the three cost lines and the published EBITDA (royalty,
# freight and marketing, not itemised) as off-site costs of 48 / 652 of revenue, hence royalty
# override 0; federal company tax, losses and diminishing-value depreciation of the AUS-NT row.
# --------------------------------------------------------------------------------------------
_NOLANS_PRICE = (587 + 65) / 4440 * 1e6
NOLANS_SCENARIO = Scenario(price_overrides_usd_per_t={"rare_earths": _NOLANS_PRICE}, discount_rate=0.08,
                           add_country_risk_premium=False, fx_usd_per_unit={"AUD": 1135 / 1590})


def _nolans(**kw) -> Application:
    base = dict(
        id="NOLANS-2023", name="Nolans (2023 update)", company="Arafura Rare Earths", country_iso3="AUS",
        mineral="rare_earths", stage="development", korean_ownership_share=0.0, esg_category="B",
        permits_status="granted", ore_reserve_mt=38.0, head_grade=0.444, head_grade_unit="%", recovery=1.0,
        payability=1.0, throughput_mtpa=1.0, mine_life_years=38, initial_capex_usd_m=1590.0, construction_years=2,
        sustaining_capex_usd_m_per_year=0.0, opex_usd_per_t_ore=0.0, fixed_opex_usd_m_per_year=44.0 + 193.0 + 36.0,
        offsite_costs_share=48 / 652, closure_cost_usd_m=0.0, working_capital_share=0.0, fund_request_krw_bn=0.0,
        loan_request_krw_bn=0.0, loan_tenor_years=5, loan_grace_years=1, total_project_cost_usd_m=1590.0,
        korea_offtake_share=0.0, currency="AUD", royalty_rate=0.0, fiscal_region="AUS-NT",
        study_npv_usd_m=1693.0, study_discount_rate=0.08, study_irr=0.193, study_price_usd_per_t=_NOLANS_PRICE,
    )
    base.update(kw)
    return Application(**base)


def test_nolans_2023_ebitda_matches_the_study():
    """Steady-state EBITDA: published US$409 m a year."""
    ev = evaluate([_nolans()], NOLANS_SCENARIO, REF)
    fp = int(ev.cashflows.first_production_index[0])
    assert ev.cashflows.ebitda_usd_m[0, fp + 3] == pytest.approx(409.0, rel=0.005)


def test_nolans_2023_npv_and_the_inputs_that_explain_the_gap():
    """Published inputs only: the tool's NPV8 is 24 % above US$1,693 m (IRR 25.4 % vs 19.3 %).
    The release gives a two-year ramp-up but not its profile, nor the construction period:
    with the ramp-up at 50 % and 85 % and three years of construction (labelled assumptions)
    the tool lands within 10 % of the published NPV and 1 point of its IRR."""
    only_published = evaluate([_nolans()], NOLANS_SCENARIO, REF).metrics.iloc[0]
    assert 0.15 < only_published.npv_usd_m / 1693.0 - 1 < 0.30
    m = evaluate([_nolans(ramp_up=(0.5, 0.85), construction_years=3)], NOLANS_SCENARIO, REF).metrics.iloc[0]
    assert m.npv_usd_m == pytest.approx(1693.0, rel=0.10)
    assert m.irr == pytest.approx(0.193, abs=0.01)


# ============================================================================================
# Issue 28: four further published studies, countries and minerals the tests above do not cover
# (Ghana lithium, South Africa vanadium, US-Nebraska niobium with a state income tax, Malawi rare
# earths). Each documents which inputs are published and which are labelled assumptions; the
# ones the tool reproduces are checked within 10 % on NPV and 3 points on IRR, the others are
# kept as documented cases whose bridge names the gap.
# ============================================================================================
def _study_app(**kw) -> Application:
    base = dict(company="(published study)", stage="feasibility", korean_ownership_share=0.0, esg_category="B",
                permits_status="applied", payability=1.0, sustaining_capex_usd_m_per_year=0.0, opex_usd_per_t_ore=0.0,
                fixed_opex_usd_m_per_year=0.0, offsite_costs_share=0.0, closure_cost_usd_m=0.0,
                working_capital_share=0.0, fund_request_krw_bn=0.0, loan_request_krw_bn=0.0, loan_tenor_years=5,
                loan_grace_years=1, korea_offtake_share=0.0)
    base.update(kw)
    base.setdefault("total_project_cost_usd_m", base["initial_capex_usd_m"])
    return Application(**base)


def _flat(mineral, price, rate) -> Scenario:
    return Scenario(price_overrides_usd_per_t={mineral: price}, discount_rate=rate, add_country_risk_premium=False)


# --------------------------------------------------------------------------------------------
# Ewoyaa (Atlantic Lithium), Ghana, Definitive Feasibility Study, JORC, 29 June 2023.
# Sources: Atlantic Lithium DFS announcement as reported by Global Mining Review (6 July 2023),
# Mining Weekly (29 June 2023) and Small Caps (June 2023).
# Published: Ore Reserve 25.6 Mt at 1.22 % Li2O; 3.6 Mt of spodumene concentrate (SC6 and SC5.5
# about 50:50) over a 12-year life plus 4.7 Mt of secondary product; LOM revenue USD 6.6 bn;
# concentrate price USD 1,587/t FOB; average EBITDA USD 316 m/yr; C1 USD 377/t and AISC USD 610/t
# of concentrate; capital USD 185 m; post-tax NPV8 USD 1.5 bn; IRR 105 %; free cash flow
# USD 2.4 bn; payback 19 months.
# Derived: concentrate at 5.75 % Li2O (the 50:50 mix) = 0.1422 t LCE per t; recovery to
# concentrate 3.6 x 5.75 % / (25.6 x 1.22 %) = 66.3 %; all revenue (concentrate and secondary
# product) priced on the concentrate's LCE, 6.6 bn / 3.6 Mt / 0.1422 = USD 12,893/t LCE; ore
# evenly over 12 years; sustaining capital (AISC - C1 - royalty) x 0.3 Mt = USD 22.3 m/yr.
# Assumptions (labelled): royalty 10 % of gross (the rate of Ewoyaa's mining lease), fixed costs
# = revenue less royalty less EBITDA (the published EBITDA), Ghana's 35 % mining company tax with
# a 5-year straight-line capital allowance, one year of construction.
# --------------------------------------------------------------------------------------------
_EW_LCE = 0.0575 * 2.473
_EW_PRICE = 6.6e9 / (3.6e6 * _EW_LCE)


def _ewoyaa(**kw) -> Application:
    base = dict(id="EWOYAA-DFS-2023", name="Ewoyaa (DFS 2023)", country_iso3="GHA", mineral="lithium",
                ore_reserve_mt=25.6, head_grade=1.22, head_grade_unit="%", recovery=3.6 * 0.0575 / (25.6 * 0.0122),
                throughput_mtpa=25.6 / 12, mine_life_years=12, initial_capex_usd_m=185.0, construction_years=1,
                sustaining_capex_usd_m_per_year=(610 - 377 - 0.10 * 1587) * 0.3, fixed_opex_usd_m_per_year=550 * 0.9 - 316,
                royalty_rate=0.10, income_tax_rate=0.35, depreciation_years=5, study_npv_usd_m=1500.0,
                study_discount_rate=0.08, study_irr=1.05, study_price_usd_per_t=_EW_PRICE)
    base.update(kw)
    return _study_app(**base)


EW_SCENARIO = _flat("lithium", _EW_PRICE, 0.08)


def test_ewoyaa_2023_ebitda_irr_and_the_tax_gap_of_its_npv():
    """Published inputs: EBITDA 316 exactly; IRR 107 % against 105 % (within 3 points); NPV8
    USD 1,202 m against 1,500 (-20 %). The bridge puts the gap in the unreproduced step, and the
    study's own free cash flow names it: LOM free cash flow 2.17 bn in the tool against the
    published 2.4 bn, i.e. about USD 0.23 bn less tax in the study than 35 % of EBITDA less
    allowances (the summary does not give its tax terms). With tax at 28 % (labelled assumption:
    the rate at which the tool's LOM free cash flow equals the published 2.4 bn) and the capital
    spent at the valuation date (construction_years 0, labelled) the NPV lands within 10 %
    (USD 1,444 m), but the IRR then rises to 118 %: the study's cash flows also differ in timing
    (its modular DMS units earn during construction), so Ewoyaa stays a documented case for the
    pair (NPV and IRR together), reproduced on EBITDA and on IRR from the published inputs."""
    ev = evaluate([_ewoyaa()], EW_SCENARIO, REF)
    m, cf = ev.metrics.iloc[0], ev.cashflows
    fp = int(cf.first_production_index[0])
    assert cf.ebitda_usd_m[0, fp:fp + 12].mean() == pytest.approx(316.0, rel=1e-9)
    assert m.irr == pytest.approx(1.05, abs=0.03)
    assert m.npv_usd_m / 1500.0 - 1 == pytest.approx(-0.20, abs=0.02)
    assert cf.fcf_usd_m[0].sum() == pytest.approx(2171.0, abs=5.0)
    b = reconcile.bridge(_ewoyaa(), EW_SCENARIO.replace(add_country_risk_premium=True), REF)
    assert b.steps[0].change_usd_m == pytest.approx(m.npv_usd_m - 1500.0, rel=1e-9)
    ev28 = evaluate([_ewoyaa(income_tax_rate=0.28, construction_years=0)], EW_SCENARIO, REF)
    assert ev28.cashflows.fcf_usd_m[0].sum() == pytest.approx(2400.0, rel=0.01)
    m28 = ev28.metrics.iloc[0]
    assert m28.npv_usd_m == pytest.approx(1500.0, rel=0.10) and m28.irr == pytest.approx(1.176, abs=0.005)


# --------------------------------------------------------------------------------------------
# Steelpoortdrift (Vanadium Resources), Limpopo, South Africa, Definitive Feasibility Study, JORC,
# 4 October 2022. Sources: Mining Weekly (4 October 2022), vanadiumprice.com, Engineering News
# project update (28 June 2024), vr8.global DFS page.
# Published: years 1-4 1.6 Mt/yr at 0.83 % V2O5, years 5-25 3.5 Mt/yr at 0.71 %; overall recovery
# 82.4 %; 484 kt of V2O5 flake over 25 years; opex USD 3.24/lb V2O5; capital USD 211 m, expansion
# USD 188 m in operating years 3-5; post-tax NPV7.5 USD 1,212 m, IRR 42 %; average free cash flow
# USD 152 m/yr.
# Not published in the summaries: the price deck ("Deloitte forward mid-range"). Assumption
# (labelled): USD 8.60/lb V2O5, the price at which the tool's average free cash flow over the life
# equals the published USD 152 m; opex per t ore = 3.24/lb x the tool's LOM output / LOM ore; two
# years of construction; South Africa's 27 % company tax and a 3 % royalty (royalties.csv).
# --------------------------------------------------------------------------------------------
_LB = 2204.62
_SPD_ORE, _SPD_GRADE = [1.6] * 4 + [3.5] * 21, [0.83] * 4 + [0.71] * 21
_SPD_OUTPUT_T = sum(o * 1e6 * g / 100 * 0.824 for o, g in zip(_SPD_ORE, _SPD_GRADE))


def _steelpoortdrift(**kw) -> Application:
    base = dict(id="STEELPOORTDRIFT-DFS-2022", name="Steelpoortdrift (DFS 2022)", country_iso3="ZAF",
                mineral="vanadium", ore_reserve_mt=80.32, head_grade=0.71, head_grade_unit="%", recovery=0.824,
                throughput_mtpa=3.5, mine_life_years=25, production_schedule_ore_mt=tuple(_SPD_ORE),
                grade_schedule=tuple(_SPD_GRADE), initial_capex_usd_m=211.0, construction_years=2,
                capex_schedule_usd_m=(105.5, 105.5, 0.0, 0.0, 188 / 3, 188 / 3, 188 / 3),
                opex_usd_per_t_ore=_SPD_OUTPUT_T * 3.24 * _LB / (sum(_SPD_ORE) * 1e6), total_project_cost_usd_m=399.0,
                study_npv_usd_m=1212.0, study_discount_rate=0.075, study_irr=0.42, study_price_usd_per_t=8.60 * _LB)
    base.update(kw)
    return _study_app(**base)


def test_steelpoortdrift_2022_within_10_percent_at_the_price_its_cash_flow_implies():
    ev = evaluate([_steelpoortdrift()], _flat("vanadium", 8.60 * _LB, 0.075), REF)
    m, cf = ev.metrics.iloc[0], ev.cashflows
    fp, lp = int(cf.first_production_index[0]), int(cf.last_production_index[0])
    assert cf.product_t[0].sum() == pytest.approx(484_000, rel=0.03)
    assert cf.fcf_usd_m[0, fp:lp + 1].mean() == pytest.approx(152.0, rel=0.02)
    assert m.npv_usd_m == pytest.approx(1212.0, rel=0.10)
    assert m.irr == pytest.approx(0.42, abs=0.03)


# --------------------------------------------------------------------------------------------
# Elk Creek (NioCorp), Nebraska, USA, revised NI 43-101 Feasibility Study, 2017.
# Source: NioCorp, "The Elk Creek Project's Projected Economics" (niocorp.com), and InvestorIntel
# (13 September 2018) for the reserve and the 32-year life.
# Published: Probable Reserve 31.7 Mt at 0.79 % Nb2O5; 32 years; ferroniobium 7,055 t/yr
# (65 % Nb); LOM revenue USD 17.6 bn; average EBITDA USD 389.6 m/yr at a 69.5 % margin; capital
# 705 + 189 + 85 + 109 - 79 (pre-production revenue) = USD 1,009 m; pre-tax NPV8 USD 2.3 bn, IRR
# 24.3 %; after-tax NPV8 USD 1.7 bn, IRR 21.7 %; effective tax rate 24.1 %; pre-tax payback 3.4
# years from the onset of production.
# Derived: Nb 4,586 t/yr; recovery to ferroniobium 83.9 %; revenue 389.6 / 0.695 = USD 560.6 m/yr,
# all of it (niobium, scandium trioxide, titanium dioxide) priced on the niobium, USD 122,236/t Nb
# (the minerals table has no scandium or titanium); fixed costs = revenue - EBITDA.
# Assumptions (labelled): three years of construction; a ramp-up at 50 % and 80 % (a full first
# year cannot give the published 3.4-year payback); fiscal region USA-NE with no royalty.
# --------------------------------------------------------------------------------------------
_EC_NB = 7055 * 0.65
_EC_REVENUE = 389.6 / 0.695
_EC_PRICE = _EC_REVENUE * 1e6 / _EC_NB


def _elk_creek(**kw) -> Application:
    base = dict(id="ELK-CREEK-FS-2017", name="Elk Creek (FS 2017)", country_iso3="USA", mineral="niobium",
                ore_reserve_mt=31.7, head_grade=0.79, head_grade_unit="%",
                recovery=_EC_NB / (31.7e6 / 32 * 0.0079 * 0.699), throughput_mtpa=31.7 / 32, mine_life_years=32,
                ramp_up=(0.5, 0.8), initial_capex_usd_m=1009.0, construction_years=3,
                fixed_opex_usd_m_per_year=_EC_REVENUE - 389.6, fiscal_region="USA-NE", royalty_rate=0.0,
                study_npv_usd_m=1700.0, study_discount_rate=0.08, study_irr=0.217, study_price_usd_per_t=_EC_PRICE)
    base.update(kw)
    return _study_app(**base)


def test_elk_creek_2017_pre_tax_within_10_percent_and_the_tax_law_of_its_year():
    """Pre-tax: NPV8 within 10 % of USD 2.3 bn and IRR within 3 points of 24.3 %. After tax under
    today's law (federal 21 % and Nebraska's 3.99 %, deductible: 24.2 % combined, less the US
    percentage depletion of depletion.csv) the effective rate is 19 % against the study's 24.1 %, and the
    NPV is 12 % above USD 1.7 bn: the 2017 study taxed at the federal 35 % of its day. With the
    2017 statutory rate (35 % federal + Nebraska's then 7.81 %, deductible: 40.1 %; labelled as
    the study's law) the tool lands within 10 % and 3 points. Nebraska's tax is a state income
    tax beside the federal one (subnational_income_tax.csv)."""
    scen = _flat("niobium", _EC_PRICE, 0.08)
    ev = evaluate([_elk_creek()], scen, REF)
    m, cf = ev.metrics.iloc[0], ev.cashflows
    fp = int(cf.first_production_index[0])
    assert cf.ebitda_usd_m[0, fp + 3] == pytest.approx(389.6, rel=1e-9)
    assert m.npv_pretax_usd_m == pytest.approx(2300.0, rel=0.10) and m.irr_pretax == pytest.approx(0.243, abs=0.03)
    effective = cf.tax_usd_m[0].sum() / (cf.ebitda_usd_m[0] - cf.depreciation_usd_m[0]).sum()
    assert m.effective_tax_rate == pytest.approx(effective, rel=1e-12)
    assert effective == pytest.approx(0.189, abs=0.005) and ev.inputs.income_tax_rate[0] == pytest.approx(
        0.0399 + 0.21 * (1 - 0.0399))
    assert 0.10 < m.npv_usd_m / 1700.0 - 1 < 0.15
    then = evaluate([_elk_creek(income_tax_rate=0.0781 + 0.35 * (1 - 0.0781))], scen, REF).metrics.iloc[0]
    assert then.npv_usd_m == pytest.approx(1700.0, rel=0.10) and then.irr == pytest.approx(0.217, abs=0.03)


# --------------------------------------------------------------------------------------------
# Songwe Hill (Mkango Resources), Malawi, Definitive Feasibility Study, NI 43-101, 5 July 2022.
# Sources: Mkango news release (GlobeNewswire, 5 July 2022, as reproduced by goldseiten.de and
# grupomisecop); NS Energy project page (capital); yxmineengineering.com (Reserve).
# Published: Reserve 18.1 Mt at 1.16 % TREO; 18 years; 5,954 t/yr TREO in the first five years
# of full production; nominal EBITDA USD 215 m/yr (those years); capital USD 277.4 m + 33.8 m
# contingency; mining from February 2025, production ramping up from July 2025; post-tax NPV at a
# 10 % NOMINAL rate USD 559 m, IRR 31.5 %; payback 5 years from the start of capital spending.
# Not published: the basket price, the operating costs, the tax and royalty terms, the inflation
# of the nominal model. A documented case, not reproduced: all revenue priced so that EBITDA is
# the published 215 (5 % royalty, no other cost: labelled assumption), 30 % company tax
# (Malawi Taxation Act, labelled), construction from the start of capital spending to July 2025
# taken as 29 months (construction_months; the study's dates).
# --------------------------------------------------------------------------------------------
_SW_PRICE = 215e6 / 0.95 / 5954


def _songwe(**kw) -> Application:
    base = dict(id="SONGWE-DFS-2022", name="Songwe Hill (DFS 2022)", country_iso3="MWI", mineral="rare_earths",
                ore_reserve_mt=18.1, head_grade=1.16, head_grade_unit="%", recovery=5954 / (18.1e6 / 18 * 0.0116),
                throughput_mtpa=18.1 / 18, mine_life_years=18, initial_capex_usd_m=311.2, construction_years=3,
                construction_months=29, royalty_rate=0.05, income_tax_rate=0.30, study_npv_usd_m=559.0,
                study_discount_rate=0.10, study_irr=0.315, study_price_usd_per_t=_SW_PRICE)
    base.update(kw)
    return _study_app(**base)


def test_songwe_hill_2022_is_a_documented_case_the_bridge_explains():
    """The tool on the study's stated basis gives USD 765 m against 559 (+37 %) and an IRR of
    41 % against 31.5 %: the published EBITDA is that of the first five (richest) years, the
    study is nominal and the summary gives neither the price nor the costs, so the gap stays in
    the bridge's unreproduced step. Towards the fund's view the largest step is the discount
    rate: 10 % nominal -> 8 % real plus Malawi's country premium."""
    scen = _flat("rare_earths", _SW_PRICE, 0.10)
    m = evaluate([_songwe()], scen, REF).metrics.iloc[0]
    assert m.npv_usd_m / 559.0 - 1 == pytest.approx(0.37, abs=0.03)
    assert m.irr == pytest.approx(0.41, abs=0.01)
    b = reconcile.bridge(_songwe(), Scenario(), REF)
    assert b.tool_npv_study_basis_usd_m == pytest.approx(m.npv_usd_m, rel=1e-9)
    largest = max(b.steps[1:], key=lambda s: abs(s.change_usd_m))
    assert largest.label == "discount rate and country premium" and largest.change_usd_m < -300
