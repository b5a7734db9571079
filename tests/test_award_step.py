"""Awards in whole steps chosen by the optimiser itself (issue 27): every project's total award a
whole number of ``award_step_krw_bn`` (integer step variables in the HiGHS MILP), budgets held."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluator import allocation as alloc
from evaluator import pipeline


def test_the_step_changes_the_choice_hand_checked():
    """Fund budget 10, any share (min_fraction 0). A asks 6.5 (value 6.5, 1.0 a won), C 0.5
    (0.475, 0.95 a won), B 5 (4.5, 0.9 a won). Continuous: A, C in full and B the rest 3:
    6.5 + 0.475 + 2.7 = 9.675. In steps of 1: C's only award within its request is 0, A's largest
    is 6, so A 6 + B 4 = 6 + 3.6 = 9.6 (A 5 + B 5 = 9.5 is worse). In steps of 0.5 every
    continuous award is already on the step: 9.675 again."""
    cand = pd.DataFrame({"fund": [6.5, 5.0, 0.5], "value": [6.5, 4.5, 0.475]}, index=["A", "B", "C"])
    free = alloc.allocate(cand, {"fund": 10.0}, min_fraction=0.0)
    assert free.objective == pytest.approx(9.675)
    assert free.amounts["fund"].to_dict() == pytest.approx({"A": 6.5, "B": 3.0, "C": 0.5})
    one = alloc.allocate(cand, {"fund": 10.0}, min_fraction=0.0, award_step=1.0)
    assert one.objective == pytest.approx(9.6)
    assert one.amounts["fund"].to_dict() == {"A": 6.0, "B": 4.0, "C": 0.0}   # exactly
    assert not one.selected["C"]
    half = alloc.allocate(cand, {"fund": 10.0}, min_fraction=0.0, award_step=0.5)
    assert half.objective == pytest.approx(9.675)


@pytest.mark.parametrize("search", ["selection", "exact"])
def test_both_step_searches_agree_on_the_hand_checked_case(search):
    """The case above (steps of 1: A 6, B 4, worth 9.6) whichever way the steps are searched."""
    cand = pd.DataFrame({"fund": [6.5, 5.0, 0.5], "value": [6.5, 4.5, 0.475]}, index=["A", "B", "C"])
    one = alloc.allocate(cand, {"fund": 10.0}, min_fraction=0.0, award_step=1.0, step_search=search)
    assert one.objective == pytest.approx(9.6)
    assert one.amounts["fund"].to_dict() == {"A": 6.0, "B": 4.0, "C": 0.0}


def test_the_selection_shortcut_reports_what_it_may_have_cost():
    """Fund budget 10, any share, steps of 1. A asks 6.5 (value 6.5: 1.0 a won), B 3.5 (3.325:
    0.95 a won), D 1 (0.9: 0.9 a won). Continuous: A and B in full, 9.825; D is left out. The
    shortcut keeps D out and puts A on 6, B on 3: 6 + 2.85 = 8.85, one won unspent. The exact
    stepped MILP adds D's 1: 9.75. The shortcut's mip_gap is its proven bound (9.825 - 8.85) /
    9.825 = 9.92 %, and the exact optimum lies within it; a note says so."""
    cand = pd.DataFrame({"fund": [6.5, 3.5, 1.0], "value": [6.5, 3.325, 0.9]}, index=["A", "B", "D"])
    cont = alloc.allocate(cand, {"fund": 10.0}, min_fraction=0.0)
    assert cont.objective == pytest.approx(9.825) and not cont.selected["D"]
    short = alloc.allocate(cand, {"fund": 10.0}, min_fraction=0.0, award_step=1.0)
    assert short.objective == pytest.approx(8.85)
    assert short.amounts["fund"].to_dict() == {"A": 6.0, "B": 3.0, "D": 0.0}
    assert short.mip_gap == pytest.approx(0.975 / 9.825)
    assert "alloc_steps_within" in [n.code for n in short.notes]
    exact = alloc.allocate(cand, {"fund": 10.0}, min_fraction=0.0, award_step=1.0, step_search="exact")
    assert exact.objective == pytest.approx(9.75)
    assert short.objective <= exact.objective <= short.objective / (1 - short.mip_gap) + 1e-9
    with pytest.raises(ValueError, match="step_search"):
        alloc.allocate(cand, {"fund": 10.0}, award_step=1.0, step_search="greedy")


def test_the_samples_shortcut_finds_the_exact_stepped_optimum(sample_apps, scenario, ref, monkeypatch):
    """On the 27 samples (steps of 1억원) the two-solve search and the exact stepped MILP over all
    candidates find the same objective and awards."""
    import functools

    from evaluator import portfolio

    s = scenario.replace(award_step_krw_bn=0.1)
    ev = pipeline.evaluate_step(sample_apps, s, ref)
    scored = pipeline.score_step(ev, s, ref)
    sup = pipeline.supply_reference(ref)
    short = pipeline.allocate_step(ev, scored, s, sup)
    monkeypatch.setattr(portfolio.alloc, "allocate", functools.partial(alloc.allocate, step_search="exact"))
    exact = pipeline.allocate_step(ev, scored, s, sup)
    assert short.summary["objective"] == pytest.approx(exact.summary["objective"], rel=1e-6)
    total = lambda pa: pa.table["fund_krw_bn"] + pa.table["loan_krw_bn"]  # noqa: E731
    assert np.allclose(total(short), total(exact), atol=1e-9)
    assert short.summary["mip_gap"] < 1e-3          # within 0.1 % of the continuous optimum


def test_total_award_steps_with_two_resources_and_a_floor():
    """Two resources, the step on each candidate's total: A asks fund 3 + loan 1.5 (4.5 in all,
    value 4.5), B fund 4 + loan 2 (6, value 6): both worth 1 a won of total, two thirds of it
    fund. min_fraction 0.5, budgets fund 5 and loan 5. Continuous: the fund budget allows a total
    of 7.5, worth 7.5. In steps of 1: A's total in {3, 4} (4.5 is not a whole step), B's in
    {3, ..., 6}, together at most 7 (fund 2/3 x 7 = 4.67 <= 5; 8 would need 5.33): worth 7."""
    cand = pd.DataFrame({"fund": [3.0, 4.0], "loan": [1.5, 2.0], "value": [4.5, 6.0]}, index=["A", "B"])
    budgets = {"fund": 5.0, "loan": 5.0}
    assert alloc.allocate(cand, budgets, min_fraction=0.5).objective == pytest.approx(7.5)
    res = alloc.allocate(cand, budgets, min_fraction=0.5, award_step=1.0)
    total = res.amounts.sum(axis=1)
    assert np.allclose(total, np.round(total), atol=1e-9, rtol=0)
    assert res.objective == pytest.approx(7.0) and total.sum() == pytest.approx(7.0)
    assert set(np.round(total).astype(int)) <= {3, 4} and res.selected.all()
    assert (res.amounts.sum() <= pd.Series(budgets) + 1e-9).all()


def test_every_award_of_the_samples_is_a_whole_step(sample_apps, scenario, ref):
    s = scenario.replace(award_step_krw_bn=0.1)
    result = pipeline.run(sample_apps, s, ref)
    t = result.allocation.table
    total = t["fund_krw_bn"] + t["loan_krw_bn"]
    n = total / 0.1
    assert np.allclose(n, np.round(n), atol=1e-9, rtol=0), total[~np.isclose(n, np.round(n), atol=1e-9, rtol=0)]
    assert t["fund_krw_bn"].sum() <= s.fund_krw_bn + 1e-9 and t["loan_krw_bn"].sum() <= s.loan_krw_bn + 1e-9
    assert t["selected"].sum() >= 5
    # the same allocation's total in 억원 adds up exactly from the projects' awards
    assert round(total.sum() * 10) == sum(round(v * 10) for v in total)


def test_award_step_is_a_labelled_scenario_value(scenario):
    from evaluator import xlsx_style as xs

    assert scenario.award_step_krw_bn == 0.0 and "award_step_krw_bn" in scenario.to_dict()   # 1억원
    for language, word in (("en", "Award step"), ("ko", "지원액 단위")):
        assert word in xs.load_labels(language).get("scenario", "award_step_krw_bn")
    from models.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="award_step_krw_bn"):
        scenario.replace(award_step_krw_bn=-0.1)
