"""Construction in months (issue 28): capital spent and output earned in the part of a year
where they fall, the fast Monte Carlo kernel exact on such projects, and the validation rule.

The workbook's live formulas on part-year projects are checked by LibreOffice in
tests/test_report.py (``EXTENDED``: TZ-GR-01 at 20 months, KZ-W-02 at 7 months).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy_financial as npf
import pytest

from evaluator import reconcile
from evaluator import uncertainty as unc
from evaluator.evaluate import evaluate
from evaluator.reference import load_reference
from models.application import parse_application
from models.loader import load_applications
from models.scenario import default_scenario

REF = load_reference()
SCEN = default_scenario().replace(add_country_risk_premium=False)
APPS = {a.id: a for a in load_applications("sample_projects/applications.csv", ref=REF).applications}


def _simple(**kw):
    """1 Mt/yr for 3 years at 1 % Cu (100 % recovery and payability) at USD 9,000/t: USD 90 m of
    revenue a year; USD 30/t ore of operating cost; USD 90 m of capital; no royalty, income tax,
    working capital, sustaining capital or closure."""
    base = dict(id="T-SIMPLE", mineral="copper", head_grade=1.0, head_grade_unit="%", recovery=1.0, payability=1.0,
                throughput_mtpa=1.0, mine_life_years=3, ore_reserve_mt=3.0, ramp_up=(), production_schedule_ore_mt=(),
                grade_schedule=(), capex_schedule_usd_m=(), ree_basket=(), by_products=(), initial_capex_usd_m=90.0,
                sustaining_capex_usd_m_per_year=0.0, opex_usd_per_t_ore=30.0, fixed_opex_usd_m_per_year=0.0,
                offsite_costs_share=0.0, closure_cost_usd_m=0.0, working_capital_share=0.0, royalty_rate=0.0,
                income_tax_rate=0.0, country_iso3="AUS", fiscal_region="", currency="USD", loan_request_krw_bn=0.0,
                construction_years=2, construction_months=18)
    base.update(kw)
    return dataclasses.replace(APPS["AU-LI-01"], **base)


SCEN_CU = SCEN.replace(price_overrides_usd_per_t={"copper": 9000.0})


def test_eighteen_months_hand_computed():
    """Hand computation: construction over months 0-18, so capital 90 x 12/18 = 60 in year 1 and
    30 in year 2; production from month 18: half an operating year in year 2, then whole years,
    the last half year in year 5. Net of USD 30 m opex a year, each operating year earns 60."""
    ev = evaluate([_simple()], SCEN_CU, REF)
    cf = ev.cashflows
    assert cf.ore_mt[0, :6] == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0, 0.5])
    assert cf.initial_capex_usd_m[0, :3] == pytest.approx([0.0, 60.0, 30.0])
    flows = [0.0, -60.0, -30.0 + 30.0, 60.0, 60.0, 30.0]
    assert cf.fcf_usd_m[0, :6] == pytest.approx(flows, abs=1e-12) and abs(cf.fcf_usd_m[0, 6:]).max() == 0
    m = ev.metrics.iloc[0]
    assert m.npv_usd_m == pytest.approx(npf.npv(0.08, flows), rel=1e-12)
    assert m.irr == pytest.approx(npf.irr(flows), rel=1e-9)
    assert m.first_production_year == SCEN.first_year + 1 and ev.cashflows.first_production_index[0] == 2


def test_whole_years_in_months_change_nothing_and_months_lie_between_years():
    apps = [_simple(id="Y2", construction_months=None), _simple(id="M24", construction_months=24),
            _simple(id="Y1", construction_years=1, construction_months=None), _simple(id="M18")]
    cf = evaluate(apps, SCEN_CU, REF).cashflows
    np.testing.assert_array_equal(cf.fcf_usd_m[0], cf.fcf_usd_m[1])
    irr = evaluate(apps, SCEN_CU, REF).metrics["irr"]
    assert irr["Y2"] < irr["M18"] < irr["Y1"]


def test_the_issues_small_fast_project_counts_its_part_year():
    """The issue's case: USD 40 m of capital against USD 84 m a year of EBITDA (1 Mt/yr of 1 % Cu
    at 9,000 less 6/t). Built in whole years (12 months) the pre-tax IRR is far above what a
    15-month build gives, hand-computed: capital 40 x 12/15 in year 1 and 40 x 3/15 in year 2,
    production of 3/4 of an operating year in year 2."""
    kw = dict(initial_capex_usd_m=40.0, opex_usd_per_t_ore=6.0, mine_life_years=10, ore_reserve_mt=10.0)
    whole = evaluate([_simple(construction_years=1, construction_months=None, **kw)], SCEN_CU, REF).metrics.iloc[0]
    months = evaluate([_simple(construction_years=2, construction_months=15, **kw)], SCEN_CU, REF).metrics.iloc[0]
    assert whole.irr == pytest.approx(npf.irr([0.0, -40.0] + [84.0] * 10), rel=1e-9)
    flows = [0.0, -32.0, -8.0 + 0.75 * 84.0] + [84.0] * 9 + [0.25 * 84.0]
    assert months.npv_usd_m == pytest.approx(npf.npv(0.08, flows), rel=1e-12)
    assert months.irr < whole.irr


def test_fast_kernel_equals_the_reference_path_on_part_years():
    """Part-year production is linear in the drawn multipliers: the fast kernel evaluates it
    itself and agrees with the reference path (NPV, min DSCR, IRR per path), delays included."""
    base, by = APPS["AU-LI-01"], next(a for a in APPS.values() if a.by_products)
    sel = [dataclasses.replace(base, id="M18", construction_years=2, construction_months=18),
           dataclasses.replace(by, id="M7", construction_years=1, construction_months=7),
           dataclasses.replace(base, id="M30S", construction_years=3, construction_months=30,
                               capex_schedule_usd_m=(50.0, 100.0, 70.0))]
    kw = dict(n_paths=200, seed=5, chunk_paths=80, irr_paths=30, vol_scale=2.0)
    fast = unc.simulate_paths(sel, SCEN, REF, method="fast", **kw)
    slow = unc.simulate_paths(sel, SCEN, REF, method="reference", **kw)
    assert set(fast.evaluated_by) == {"fast kernel"}
    scale = float(np.abs(slow.npv_usd_m).max())
    np.testing.assert_allclose(fast.npv_usd_m, slow.npv_usd_m, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(fast.min_dscr, slow.min_dscr, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.irr, slow.irr, rtol=1e-9, atol=1e-12)


def test_construction_years_must_be_the_months_rounded_up():
    rec = APPS["KZ-W-02"].to_record()
    rec.update(construction_years=1, construction_months=7)
    app, problems = parse_application(rec)
    assert problems == [] and app.construction_months == 7
    assert parse_application(app.to_record())[0] == app
    rec.update(construction_years=1, construction_months=13)
    _, problems = parse_application(rec)
    assert [(p.field, p.code) for p in problems] == [("construction_months", "problem_construction_months_years")]
    assert "(2)" in problems[0].rule


def test_bridge_timing_step_moves_from_the_study_year_to_the_months():
    app = _simple(study_npv_usd_m=50.0, study_discount_rate=0.08, study_first_production_year=SCEN.first_year + 2)
    b = {s.label: s for s in reconcile.bridge(app, SCEN_CU, REF).steps}
    assert f"first production {SCEN.first_year + 2} -> {SCEN.first_year + 1} (after 18 months" in b["timing"].detail
    assert b["timing"].change_usd_m > 0


# ------------------------------------------------------------------------------ quarterly discounting
def test_quarterly_discounting_equals_explicit_quarters():
    """Each year's flow in four equal quarters, each discounted at its end (t - 1 + k / 4),
    hand-built on a quarterly grid and discounted with the annual rate's quarterly equivalent."""
    flows = np.array([-100.0, -40.0, 60.0, 70.0, 80.0])
    r = 0.08
    explicit = flows[0] + sum(flows[t] / 4 * (1 + r) ** -(t - 1 + k / 4) for t in range(1, 5) for k in range(1, 5))
    from evaluator import finance

    assert finance.npv(r, flows, quarterly=True) == pytest.approx(explicit, rel=1e-13)
    assert finance.npv(r, flows, mid_year=True) < finance.npv(r, flows, quarterly=True) < finance.npv(r, flows) or \
        finance.npv(r, flows) < finance.npv(r, flows, quarterly=True) < finance.npv(r, flows, mid_year=True)


def test_quarterly_discounting_is_a_scenario_choice_everywhere():
    """The evaluation, the bridge and the simulation's deterministic NPV use the scenario's
    convention; mid-year and quarterly together are refused."""
    from evaluator import finance
    from models.scenario import ScenarioError

    app = _simple()
    sc = SCEN_CU.replace(quarterly_discounting=True)
    ev = evaluate([app], sc, REF)
    assert ev.metrics.iloc[0].npv_usd_m == pytest.approx(finance.npv(0.08, ev.cashflows.fcf_usd_m[0], quarterly=True))
    b = reconcile.bridge(_simple(study_npv_usd_m=50.0, study_discount_rate=0.08), sc, REF)
    assert b.steps[-1].npv_after_usd_m == pytest.approx(ev.metrics.iloc[0].npv_usd_m, rel=1e-12)
    with pytest.raises(ScenarioError, match="choose one"):
        SCEN.replace(mid_year=True, quarterly_discounting=True)
