"""The bridge from a feasibility study's NPV to the fund's (evaluator/reconcile.py)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from evaluator import reconcile
from evaluator.evaluate import evaluate
from evaluator.reference import load_reference
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
