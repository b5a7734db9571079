"""Every project left out explained (issue 27): the total support at which it would have been
funded, everything else unchanged, or the score rise, or the rule; checked by re-solving the
allocation with the application's request itself cut (an independent model of "asked less")."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evaluator import allocation as alloc
from evaluator import pipeline
from evaluator.cli import main
from evaluator.left_out import cut_request, entry_support, entry_supports, explain_left_out
from evaluator.portfolio import budgets_of, solver_kwargs

SAMPLES = "sample_projects/applications.csv"


@pytest.fixture(scope="module")
def result(sample_apps, scenario, ref):
    return pipeline.run(sample_apps, scenario, ref)


def _funded_when_asking(result, scenario, ref, app_id: str, support_krw_bn: float) -> bool:
    """Re-allocate with ``app_id``'s request (and everything proportional to it: value, expected
    loss, offtake) scaled to ``support_krw_bn``, the diversification terms rebuilt from the scaled
    offtake: the application as if it had asked that much."""
    cand = result.allocation.candidates.copy()
    k = support_krw_bn / float(cand.at[app_id, "support_krw_bn"])
    for c in ("fund_krw_bn", "loan_krw_bn", "support_krw_bn", "value", "expected_loss_krw_bn", "offtake_units",
              "npv_krw_bn"):
        cand.at[app_id, c] = cand.at[app_id, c] * k
    res = alloc.allocate(cand, budgets_of(scenario), **solver_kwargs(cand, scenario, ref))
    return bool(res.selected[app_id])


def test_entry_support_is_where_a_cut_request_enters(result, scenario, ref):
    e = entry_support(result.allocation, scenario, ref, ids=["MZ-GR-01", "KZ-W-01", "AU-LI-01", "CA-LI-01"])
    assert "AU-LI-01" not in e.index  # funded: nothing to explain
    for app_id, request in (("MZ-GR-01", 32.0), ("KZ-W-01", 48.0)):
        s = float(e.at[app_id, "entry_support_krw_bn"])
        assert 0 < s < request and abs(s * 10 - round(s * 10)) < 1e-9  # a whole number of 억원 below its request
        assert _funded_when_asking(result, scenario, ref, app_id, s)
        assert not _funded_when_asking(result, scenario, ref, app_id, s + 0.1)
        assert e.at[app_id, "request_cut_krw_bn"] == pytest.approx(request - s)
        assert e.at[app_id, "reason"] == "request_cut"
    # rank 5 enters once its request is small enough that its tungsten volume (Kazakhstan) no longer
    # passes the point where its supplier would overtake the incumbent (the diversification term's
    # clip, applied to the cut request's own volume: the defect of scaling the funded share instead)
    assert 10.0 < float(e.at["KZ-W-01", "entry_support_krw_bn"]) < 15.0
    # out at any request: one step is not funded either (the fund and the loan budget are full
    # and the funded bring more per won)
    assert np.isnan(e.at["CA-LI-01", "entry_support_krw_bn"]) and e.at["CA-LI-01", "reason"] == "not_at_any_request"
    assert not _funded_when_asking(result, scenario, ref, "CA-LI-01", 0.1)


def test_entry_support_hand_checked():
    """Fund budget 10 [KRW bn], every project funded at least half its request (min_fraction 0.5).
    A asks 6 (value 6, 1.0 a won), B asks 6 (value 4.8, 0.8 a won), C asks 12 (value 10.2,
    0.85 a won). Best: A in full and 4 to B: 6 + 3.2 = 9.2 (with C, C's floor 6 leaves A 4:
    4 + 0.85 x 6 = 9.1). C asking S: for S <= 8, A 6 + C 4 = 9.4 > 9.2; for 8 < S <= 12, C at its
    floor S/2 and A the rest: 10 - 0.075 S > 9.2 iff S < 10.667. So C enters at 10.6 (9.205)
    and not at 10.7 (9.1975): entry support 10.6, cut 1.4."""
    cand = pd.DataFrame({"fund_krw_bn": [6.0, 6.0, 12.0], "loan_krw_bn": 0.0, "support_krw_bn": [6.0, 6.0, 12.0],
                         "value": [6.0, 4.8, 10.2], "max_fraction": 1.0}, index=["A", "B", "C"])
    budgets = {"fund_krw_bn": 10.0, "loan_krw_bn": 10.0}

    def kw(c):
        return dict(value="value", min_fraction=0.5, max_fraction="max_fraction")

    base = alloc.allocate(cand, budgets, **kw(cand))
    assert base.objective == pytest.approx(9.2) and not base.selected["C"]
    e = entry_supports(cand, budgets, kw, skip=["A", "B"])
    assert list(e.index) == ["C"]
    assert e.at["C", "entry_support_krw_bn"] == pytest.approx(10.6)
    assert e.at["C", "request_cut_krw_bn"] == pytest.approx(1.4)
    at = alloc.allocate(cut_request(cand, "C", 10.6 / 12.0), budgets, **kw(cand))
    assert at.selected["C"] and at.objective == pytest.approx(9.205)


def test_explanations_in_words_with_the_number(result, scenario, ref):
    ids = ["MZ-GR-01", "CA-LI-01", "US-LI-01"]
    ex = explain_left_out(result.allocation, scenario, ref, ids=ids, language="ko")
    s = float(ex.at["MZ-GR-01", "entry_support_krw_bn"])
    assert f"{s * 10:,.0f}억원 이하" in ex.at["MZ-GR-01", "explanation"] and "320억원" in ex.at["MZ-GR-01", "explanation"]
    assert ex.at["MZ-GR-01", "request_cut_krw_bn"] == pytest.approx(32.0 - s)
    ca = ex.at["CA-LI-01", "explanation"]
    assert "예산" in ca and f"{ex.at['CA-LI-01', 'score_increase']:.1f}점" in ca
    assert ex.at["CA-LI-01", "score_increase"] > 0
    # the rule that excludes it, in Korean too (codes in the engine, words at the edge)
    assert ex.at["US-LI-01", "explanation"].startswith("부적격:")
    en = explain_left_out(result.allocation, scenario, ref, ids=ids, language="en")
    assert en.at["US-LI-01", "explanation"].startswith("ineligible:")
    assert f"KRW {s:g} bn in total (asked KRW 32 bn)" in en.at["MZ-GR-01", "explanation"]
    for i in ids:  # the same code and numbers, worded in either language
        assert ex.at[i, "message"] == en.at[i, "message"]
        assert not any("\uac00" <= ch <= "\ud7a3" for ch in en.at[i, "explanation"])


def test_cli_allocate_explain_records(capsys):
    code = main(["allocate", SAMPLES, "--format", "json", "--explain"])
    out, _ = capsys.readouterr()
    rec = {r["id"]: r for r in json.loads(out)["applications"]}
    assert code == 0 and "entry_support_krw_bn" in rec["MZ-GR-01"]
    assert rec["MZ-GR-01"]["entry_support_krw_bn"] > 0 and "at most" in rec["MZ-GR-01"]["note"]
    assert "score" in rec["CA-LI-01"]["note"] and rec["CA-LI-01"]["entry_support_krw_bn"] is None
    assert rec["KZ-W-01"]["entry_support_krw_bn"] > 0 and rec["KZ-W-01"]["request_cut_krw_bn"] > 0
    assert rec["AU-LI-01"]["note"] == ""  # funded
    assert all(r["note"] for r in rec.values() if not r["selected"])  # every left-out one explained


def test_trials_without_rebuilding_the_terms_are_the_reference_model(result, scenario, ref):
    """The re-allocations of entry_supports reuse the terms of the whole table (the share range
    scaled, the clipped diversification weight re-clipped for the cut request): the same answers
    as the table cut and every term rebuilt (left_out._funds), KZ-W-01's clipped weight included."""
    from evaluator.left_out import _Trials, _funds

    cand = result.allocation.candidates
    budgets = budgets_of(scenario)

    def kw(c):
        return solver_kwargs(c, scenario, ref)

    trials = _Trials(cand, budgets, kw, 5.0)
    assert trials.fast
    seen = set()
    for app_id, sizes in (("KZ-W-01", (0.1, 12.2, 12.3, 30.0)), ("MZ-GR-01", (0.1, 6.0, 6.1)), ("CA-LI-01", (0.1,))):
        request = float(cand.at[app_id, "support_krw_bn"])
        for s in sizes:
            fast = trials.funds(app_id, s / request)
            assert fast == _funds(cand, budgets, kw, app_id, s / request, 5.0), (app_id, s)
            seen.add(fast)
    assert seen == {True, False}
