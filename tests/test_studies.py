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
