"""Scoring: eligibility screens, fixed scales, weights, rank and rank stability.

Applications are the illustrative samples of ``sample_projects/applications.csv`` (see its
README), some altered with ``dataclasses.replace`` to craft one failure each. Policy figures: the
2026 terms (coverage cap 70 %, write-off 90 %) and 2025 terms (50 %, 80 %) of the MOTIE/KOMIR
announcement of Feb 2026; budgets KRW 250 bn fund and KRW 67.5 bn loans.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from evaluator import pipeline, scoring
from evaluator.evaluate import evaluate
from models.loader import load_applications
from models.scenario import CRITERIA, default_scenario

SAMPLES = "sample_projects/applications.csv"


@pytest.fixture(scope="module")
def scen():
    return default_scenario()


@pytest.fixture(scope="module")
def apps(ref):
    return {a.id: a for a in load_applications(SAMPLES, ref=ref).applications}


@pytest.fixture(scope="module")
def full(apps, scen, ref):
    return pipeline.run(list(apps.values()), scen, ref)


def _score(app_list, scen, ref, **kw):
    return scoring.score(evaluate(app_list, scen, ref), scen, ref, **kw)


# ----------------------------------------------------------------------------------------------
# eligibility
# ----------------------------------------------------------------------------------------------
def test_sample_screens(full):
    t = full.scores.table
    bad = t.loc[~t["eligible"], "ineligible_reasons"].to_dict()
    assert set(bad) == {"US-REE-01", "ID-NI-02", "KZ-W-02", "US-LI-01"}
    assert "Korean ownership 5% is below the programme minimum 10%" in bad["US-REE-01"]
    assert bad["ID-NI-02"] == "ESG category A without a mitigation plan"
    # KZ-W-02 (60 % of a USD 32 m project; tungsten, a critical mineral: preferred tier, 70 % in the
    # 2026 terms): own spending 0.60 x 32 x 1,461 / 1000 = 28.05 KRW bn; loan cap 0.70 x 28.05 =
    # 19.64 < loan 40; fund + loan 60 > 28.05
    assert ("loan 40.0 KRW bn is above the special loan's cap: 70% (preferred tier) of the applicant's own "
            "spending, ownership 60% x project cost 46.8 = 28.1 KRW bn, = 19.6 KRW bn under the 2026 terms") in bad["KZ-W-02"]
    assert "fund + loan 60.0 KRW bn exceed the applicant's own spending, ownership 60% x project cost 46.8 = 28.1 KRW bn" \
        in bad["KZ-W-02"]
    assert "fund request 300.0 KRW bn exceeds the whole fund budget 250.0 KRW bn" in bad["US-LI-01"]
    assert t.loc[~t["eligible"], "rank"].isna().all()
    # ineligible rows listed after every eligible one
    assert list(t["eligible"]) == sorted(t["eligible"], reverse=True)


@pytest.mark.parametrize("change, scen_change, expected", [
    ({}, {"excluded_countries": ("VNM",)}, "country VNM is excluded by the scenario"),
    ({"esg_category": "A", "esg_mitigation_plan": "no"}, {}, "ESG category A without a mitigation plan"),
    ({"korean_ownership_share": 0.05}, {}, "Korean ownership 5% is below the programme minimum 10%"),
    ({"loan_request_krw_bn": 70.0}, {}, "loan request 70.0 KRW bn exceeds the whole loan budget 67.5 KRW bn"),
    ({"fund_request_krw_bn": 260.0, "total_project_cost_usd_m": 2000.0}, {},
     "fund request 260.0 KRW bn exceeds the whole fund budget 250.0 KRW bn"),
    ({"stage": "exploration", "success_probability": None}, {},
     "exploration loan without a success probability"),
    ({"fund_request_krw_bn": 0.0, "loan_request_krw_bn": 0.0}, {}, "no support requested"),
])
def test_crafted_failures(apps, scen, ref, change, scen_change, expected):
    a = dataclasses.replace(apps["VN-REE-01"], id="X-1", **change)
    s = scen.replace(**scen_change) if scen_change else scen
    t = _score([a, apps["AU-LI-01"]], s, ref).table
    assert not t.loc["X-1", "eligible"]
    assert expected in t.loc["X-1", "ineligible_reasons"]
    assert t.loc["AU-LI-01", "eligible"] and t.loc["AU-LI-01", "rank"] == 1


def test_coverage_cap_follows_loan_terms(apps, scen, ref):
    # the same application under the three terms (loan_terms.csv): 20 % of a USD 200 m project =
    # own spending 0.20 x 200 x 1,461 / 1000 = 58.44 KRW bn; tungsten is a critical mineral
    # (preferred tier). Loan 25: within 70 % (40.9, 2026) and 50 % (29.2, 2024-25), above 30 %
    # (17.5, 2017-23); fund + loan 55 <= 58.44 in every terms.
    a = dataclasses.replace(apps["VN-W-01"], fund_request_krw_bn=30.0, loan_request_krw_bn=25.0,
                            total_project_cost_usd_m=200.0, korean_ownership_share=0.20)
    t26 = _score([a], scen, ref).table
    t25 = _score([a], scen.with_loan_terms("2024-25"), ref).table
    t17 = _score([a], scen.with_loan_terms("2017-23"), ref).table
    assert t26.loc["VN-W-01", "eligible"] and t25.loc["VN-W-01", "eligible"]
    assert not t17.loc["VN-W-01", "eligible"]
    assert "30% (preferred tier) of the applicant's own spending, ownership 20% x project cost 292.2 = 58.4 KRW bn, " \
           "= 17.5 KRW bn under the 2017-23 terms" in t17.loc["VN-W-01", "ineligible_reasons"]


def test_several_reasons_are_joined(apps, scen, ref):
    a = dataclasses.replace(apps["VN-REE-01"], esg_category="A", esg_mitigation_plan="no",
                            korean_ownership_share=0.01)
    r = _score([a], scen, ref).table.loc["VN-REE-01", "ineligible_reasons"]
    # ESG, ownership below the minimum, and (1 % of the project is 2.5 USD m of own spending) the
    # loan above its cap and fund + loan above the spending: four reasons
    assert r.count("; ") == 3


# ----------------------------------------------------------------------------------------------
# fixed scales: adding an application never moves another's score
# ----------------------------------------------------------------------------------------------
def test_adding_an_application_never_changes_another_score(apps, scen, ref, full):
    subset = [apps[i] for i in ("VN-REE-01", "AU-LI-01", "CD-CO-01", "LA-REE-02")]
    small = pipeline.run(subset, scen, ref).scores.table
    big = full.scores.table
    cols = ["score", "country_risk_score", "diversification_score", "expected_loss_krw_bn"] + \
        [f"crit_{c}" for c in CRITERIA]
    pd.testing.assert_frame_equal(small[cols].sort_index(), big.loc[small.index, cols].sort_index(),
                                  check_exact=False, rtol=1e-12, atol=1e-12)


def test_criteria_are_on_0_100_and_contributions_add_up(full):
    t = full.scores.table
    crit = t[[f"crit_{c}" for c in CRITERIA]].to_numpy()
    assert np.all((crit >= 0) & (crit <= 100))
    contrib = t[[f"contrib_{c}" for c in CRITERIA]].sum(axis=1)
    np.testing.assert_allclose(contrib, t["score"], rtol=1e-12)
    np.testing.assert_allclose(t["crit_risk"], 100 - t["country_risk_score"])


def test_scale_anchors_by_hand(full):
    # loan safety of LA-REE-02 (exploration, rare earths (listed), loan 4 KRW bn, p = 0.3, 2026 terms):
    # EL share 0.7 x (0.9 + 0.1 x (1 - 0.97^5) x 0.45) = 0.7 x 0.9063570 = 0.6344499; the expected
    # levy takes a part off: net cost share >= 0.4 -> 0 points; min DSCR 3.96 and LLCR 7.5 -> 100;
    # loan_safety = 0.4 x 0 + 0.4 x 100 + 0.2 x 100 = 60
    r = full.scores.table.loc["LA-REE-02"]
    assert r["expected_loss_share"] == pytest.approx(0.7 * (0.9 + 0.1 * (1 - 0.97 ** 5) * 0.45))
    assert r["loan_net_cost_share"] == pytest.approx(r["expected_loss_share"] - r["loan_expected_levy_krw_bn"] / 4.0)
    assert r["loan_net_cost_share"] > 0.4
    assert r["crit_loan_safety"] == pytest.approx(60.0)
    r = full.scores.table.loc["VN-GR-01"]
    # readiness: exploration 10, permits applied 30 -> 0.6 x 10 + 0.4 x 30 = 18; ESG B with plan = 85
    assert r["crit_readiness"] == pytest.approx(18.0)
    assert r["crit_esg"] == pytest.approx(85.0)


# ----------------------------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------------------------
def test_weights_differing_only_by_scale_rank_the_same(full, scen, ref):
    ev = full.evaluation
    w = dict(scen.weights)
    a = scoring.score(ev, scen, ref, benefits=full.benefits, weights=w).table
    b = scoring.score(ev, scen, ref, benefits=full.benefits, weights={k: 7.3 * v for k, v in w.items()}).table
    assert list(a.index) == list(b.index)
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-12)
    assert a["rank"].equals(b["rank"]) and a["rank_range"].equals(b["rank_range"])


@pytest.mark.parametrize("weights, match", [
    ({"financial": -0.1, "risk": 1.0}, "financial=-0.1 breaks the rule 'every weight must be non-negative'"),
    ({c: 0.0 for c in CRITERIA}, "all weights are zero"),
    ({"financial": 1.0, "luck": 1.0}, "unknown criterion luck"),
    ({"financial": float("nan")}, "must be finite"),
])
def test_bad_weights_raise(full, scen, ref, weights, match):
    with pytest.raises(scoring.ScoringError, match=match):
        scoring.score(full.evaluation, scen, ref, benefits=full.benefits, weights=weights)


def test_one_criterion_weight_ranks_by_that_criterion(full, scen, ref):
    t = scoring.score(full.evaluation, scen, ref, benefits=full.benefits, weights={"risk": 1.0}).table
    el = t[t["eligible"]]
    assert el["score"].is_monotonic_decreasing
    np.testing.assert_allclose(el["score"], el["crit_risk"])


# ----------------------------------------------------------------------------------------------
# rank, tie-break, stability
# ----------------------------------------------------------------------------------------------
def test_tie_break_is_deterministic():
    scores = np.array([50.0, 60.0, 50.0, 50.0, 50.0])
    nps = np.array([1.0, 0.0, 2.0, np.nan, 1.0])
    ids = np.array(["B", "A", "C", "D", "A2"])
    # 60 first; then equal scores by NPV per support desc (C 2.0; A2, B 1.0 -> by id); NaN last (D)
    assert list(scoring.rank_order(scores, nps, ids)) == [4, 1, 2, 5, 3]
    perm = np.array([4, 2, 0, 3, 1])
    assert list(scoring.rank_order(scores[perm], nps[perm], ids[perm])) == [3, 2, 4, 5, 1]


def test_identical_projects_ranked_by_id(apps, scen, ref):
    a = apps["VN-REE-01"]
    twins = [dataclasses.replace(a, id="Z-TWIN"), dataclasses.replace(a, id="A-TWIN")]
    t = _score(twins, scen, ref).table
    assert t.loc["A-TWIN", "score"] == t.loc["Z-TWIN", "score"]
    assert (t.loc["A-TWIN", "rank"], t.loc["Z-TWIN", "rank"]) == (1, 2)
    assert list(t.index) == ["A-TWIN", "Z-TWIN"]


def test_rank_range_brackets_the_rank(full):
    t = full.scores.table[full.scores.table["eligible"]]
    assert list(t["rank"]) == list(range(1, len(t) + 1))
    assert (t["rank_best"] <= t["rank"]).all() and (t["rank"] <= t["rank_worst"]).all()
    for _, r in t.iterrows():
        b, w = int(r["rank_best"]), int(r["rank_worst"])
        assert r["rank_range"] == (f"{b}" if b == w else f"{b}-{w}")


def test_weight_grid():
    g = scoring.weight_grid({c: 1 / 6 for c in CRITERIA})
    assert g.shape == (729, 6)
    np.testing.assert_allclose(g.sum(axis=1), 1.0)
    # extreme: one weight x1.2, the others x0.8 -> 1.2 / (1.2 + 5 x 0.8) = 0.230769
    assert g[:, 0].max() == pytest.approx(1.2 / 5.2)


# ----------------------------------------------------------------------------------------------
# financial measure from the uncertainty module; explanation
# ----------------------------------------------------------------------------------------------
def test_p10_measure_needs_risk_metrics(full, scen, ref):
    s = scen.replace(financial_measure="p10_npv")
    with pytest.raises(scoring.ScoringError, match="financial_measure=p10_npv needs"):
        scoring.score(full.evaluation, s, ref, benefits=full.benefits)
    ids = full.evaluation.metrics.index
    rm = pd.DataFrame({"npv_p10_usd_m": full.evaluation.metrics["npv_usd_m"],
                       "prob_npv_negative": 0.5}, index=ids)
    a = scoring.score(full.evaluation, s, ref, benefits=full.benefits, risk_metrics=rm).table
    b = scoring.score(full.evaluation, scen, ref, benefits=full.benefits).table
    # P10 NPV equal to the base NPV gives the same financial score (same anchors)
    np.testing.assert_allclose(a.loc[ids, "crit_financial"], b.loc[ids, "crit_financial"], rtol=1e-9)
    # P(NPV<0) = 0.5 scores 20 on its scale
    c = scoring.score(full.evaluation, scen.replace(financial_measure="prob_loss"), ref,
                      benefits=full.benefits, risk_metrics=rm).table
    irr_part = 0.4 * np.interp(c["irr_excess"].fillna(-1), [-0.1, 0, 0.05, 0.15], [0, 50, 75, 100])
    np.testing.assert_allclose(c["crit_financial"], 0.6 * 20 + irr_part, rtol=1e-9)


def test_explain(full):
    lines = scoring.explain(full.scores, "KZ-W-02")
    assert "Not eligible" in lines[1] and "special loan's cap" in lines[1]
    lines = scoring.explain(full.scores, "AU-LI-01")
    rank = int(full.scores.table.loc["AU-LI-01", "rank"])
    assert lines[1].startswith(f"Rank {rank} of 23 eligible")
    assert len(lines) == 2 + len(CRITERIA)
    assert any(l.strip().startswith("diversification:") for l in lines)
    with pytest.raises(KeyError):
        scoring.explain(full.scores, "NOPE")


def test_result_is_frozen(full):
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.scores.weights = {}
