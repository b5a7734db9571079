"""The fund/loan allocation on the sample projects: every budget, cap and lock re-checked here,
independently of the optimiser's own re-check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluator import pipeline, portfolio, supply
from evaluator.allocation import AllocationInfeasible
from evaluator.cli import main
from evaluator.reference import load_reference
from models.loader import load_applications
from models.scenario import default_scenario

ROOT = Path(__file__).resolve().parent.parent
REF = load_reference()
APPS = load_applications(ROOT / "sample_projects" / "applications.csv", ref=REF).applications
TOL = 1e-6


@pytest.fixture(scope="module")
def run():
    return pipeline.run(APPS, default_scenario(), REF)


def independent_violations(pa, scenario, scores) -> list[str]:
    t = pa.table
    out = []
    if t["fund_krw_bn"].sum() > scenario.fund_krw_bn + TOL:
        out.append("fund budget")
    if t["loan_krw_bn"].sum() > scenario.loan_krw_bn + TOL:
        out.append("loan budget")
    amount = t["fund_krw_bn"] + t["loan_krw_bn"]
    total = amount.sum()
    for col, cap in (("country_iso3", scenario.country_cap_share), ("mineral", scenario.mineral_cap_share)):
        worst = amount.groupby(t[col]).sum().max()
        if worst > cap * total + TOL:
            out.append(f"{col} cap")
    # the special loan's coverage: every sample mineral is a critical mineral (preferred tier, 70 %
    # of the applicant's own spending under the 2026 terms); own spending = ownership x cost
    own = pd.Series({a.id: a.korean_ownership_share * a.total_project_cost_usd_m * scenario.fx_krw_per_usd / 1000
                     for a in APPS}).reindex(t.index)
    if (amount > own + TOL).any() or (t["loan_krw_bn"] > 0.70 * own + TOL).any():
        out.append("coverage cap")
    sel = t["selected"]
    ask_fund = pd.Series({a.id: a.fund_request_krw_bn for a in APPS}).reindex(t.index)
    frac = t["fund_krw_bn"] / ask_fund.where(ask_fund > 0)
    if (frac[sel] < scenario.min_fraction - TOL).any() or (frac > 1 + TOL).any():
        out.append("semi-continuity")
    if (amount[~scores["eligible"].reindex(t.index).astype(bool)] > TOL).any():
        out.append("ineligible funded")
    return out


@pytest.mark.parametrize("changes", [
    {},
    {"fund_krw_bn": 100.0, "loan_krw_bn": 20.0},
    {"country_cap_share": 0.25, "mineral_cap_share": 0.3},
    {"objective": "total_npv"},
    {"objective": "total_score", "min_fraction": 1.0},
    {"objective": "total_diversification", "fund_krw_bn": 400.0},
])
def test_every_constraint_holds(run, changes):
    s = default_scenario().replace(**changes)
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    assert independent_violations(pa, s, run.scores.table) == []
    assert portfolio.check_allocation(pa, s) == []
    assert pa.summary["optimal"]
    assert pa.summary["n_selected"] >= 1


def test_default_allocation_uses_the_budgets_and_explains_itself(run):
    s = default_scenario()
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    sm = pa.summary
    assert sm["loan_allocated_krw_bn"] == pytest.approx(67.5, abs=1e-6)  # the scarcer budget binds
    assert "budget loan_krw_bn" in sm["binding"]
    assert sm["marginal_value_per_krw_bn"]["loan_krw_bn"] > 0
    assert set(sm["china_share_after"]) <= set(sm["china_share_before"])
    # funded projects can only lower China's share under the top-supplier rule
    for m, after in sm["china_share_after"].items():
        assert after <= sm["china_share_before"][m] + 1e-9


def test_locks_respected(run):
    s = default_scenario()
    base = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    funded = base.table.index[base.table["selected"]]
    out_id = funded[0]
    left = [i for i in base.table.index[base.table["candidate"] & ~base.table["selected"]]]
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF, locked_in=[left[0]], locked_out=[out_id])
    assert pa.table.at[left[0], "selected"]
    assert not pa.table.at[out_id, "selected"]
    assert pa.summary["objective"] <= base.summary["objective"] + 1e-6  # locks never help


def test_locking_in_an_ineligible_application_is_refused(run):
    inel = run.scores.table.index[~run.scores.table["eligible"]][0]
    with pytest.raises(portfolio.PortfolioError, match=inel):
        portfolio.allocate_portfolio(run.evaluation, run.scores.table, default_scenario(), REF, locked_in=[inel])


def test_infeasible_locks_name_the_conflict(run):
    s = default_scenario().replace(loan_krw_bn=5.0)
    big_loans = run.evaluation.metrics.query("loan_request_krw_bn >= 10").index
    eligible = run.scores.table.index[run.scores.table["eligible"]]
    locks = [i for i in big_loans if i in eligible][:2]
    with pytest.raises(AllocationInfeasible) as exc:
        portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF, locked_in=locks)
    text = " ".join(exc.value.conflicts)
    assert "loan_krw_bn" in text and any(i in text for i in locks)


def test_more_budget_never_lowers_the_optimum(run):
    s = default_scenario()
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    f = portfolio.frontier(pa, s, REF, "loan_krw_bn", points=9)
    obj = f.sort_values("budget")["objective"].to_numpy()
    assert np.all(np.diff(obj) >= -1e-6 * max(1.0, abs(obj).max()))
    assert f["current"].sum() == 1
    assert f.loc[f["current"], "objective"].iloc[0] == pytest.approx(pa.summary["objective"], rel=1e-6)


def test_second_project_on_a_mineral_is_worth_less(run):
    """Diminishing returns that never saturate: the concave term's slope falls as a mineral's new
    volume grows, stays positive past the 50 % target, and the term follows the project score's
    own curve (supply.score_value of the incumbent's cut) at its sample points."""
    from evaluator import supply

    s = default_scenario()
    cand, _ = portfolio.build_candidates(run.evaluation, run.scores.table, s, REF)
    terms, info = portfolio.diversification_terms(cand, s, REF)
    t = next(t for t in terms if t.name == "diversification rare_earths")
    # the term's argument is the new volume in units of the mineral's gap volume
    first = t.evaluate(0.3) - t.evaluate(0.0)
    second = t.evaluate(0.6) - t.evaluate(0.3)
    beyond = t.evaluate(2.0) - t.evaluate(1.5)
    far = t.evaluate(7.0) - t.evaluate(6.0)
    assert first > second > beyond > far > 0.0          # still rising far past the 50 % target
    row = info.set_index("mineral").loc["rare_earths"]
    base = supply.baseline(REF, "rare_earths", **supply.scenario_options(s))
    k = s.normalised_weights()["diversification"] * portfolio.diversification_curve()[2]
    for x in (0.5, 1.0, 4.0):     # sample points: the term equals the score's curve there
        after = supply.measures_after(base, {"NEW": x * row["scale_volume"]}, s.displacement_rule, 0.5)
        want = k * supply.score_value(REF, "rare_earths", supply.incumbent_reduction(base, after)) / 100
        assert t.evaluate(x) <= want + 1e-9          # concave under-statement at most
    assert t.evaluate(1.0) == pytest.approx(k * supply.score_value(REF, "rare_earths", supply.incumbent_reduction(
        base, supply.measures_after(base, {"NEW": row["scale_volume"]}, s.displacement_rule, 0.5))) / 100, rel=0.05)


ISOS = sorted({a.country_iso3 for a in APPS})
MINERALS = sorted({a.mineral for a in APPS})


@pytest.mark.parametrize("changes, says", [
    ({"fund_krw_bn": 0.0, "loan_krw_bn": 0.0}, "fits the budgets"),
    ({"fund_krw_bn": 1e-9, "loan_krw_bn": 1e-9}, "fits the budgets"),
    ({"country_cap_share": 0.0}, "share cap"),
    ({"mineral_cap_share": 0.0}, "share cap"),
    ({"country_caps_krw_bn": {i: 0.0 for i in ISOS}}, "amount cap per host country"),
    ({"mineral_caps_krw_bn": {m: 0.0 for m in MINERALS}}, "amount cap per mineral"),
    ({"expected_loss_cap_krw_bn": 0.0}, "expected-loss cap"),
    ({"excluded_countries": tuple(ISOS)}, "no application is a candidate"),
    ({"objective": "total_diversification", "fund_krw_bn": 0.0}, "fits the budgets"),
])
def test_nothing_fundable_gives_an_all_zero_allocation_with_a_note(run, changes, says):
    s = default_scenario().replace(**changes)
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    assert not pa.table["selected"].any()
    assert (pa.table[["fund_krw_bn", "loan_krw_bn"]].to_numpy() == 0.0).all()
    assert pa.summary["objective"] == 0.0 and not pa.limit_reached
    assert pa.note.startswith("Nothing funded") and says in pa.note, pa.note
    assert pa.warnings == [pa.note]
    from evaluator import pipeline
    summary = pipeline.summarise_allocation(pa)
    assert summary.note_text("en") == pa.note
    ko = summary.note_text("ko")
    assert ko.startswith("지원 대상 없음") and "Nothing" not in ko and "ineligible" not in ko, ko
    assert not re.search(r"[A-Za-z]{4,}", ko), ko   # the constraints it names are in Korean too
    assert independent_violations(pa, s, run.scores.table) == []
    assert portfolio.check_allocation(pa, s) == []


def test_no_eligible_application_gives_an_all_zero_allocation(run):
    scores = run.scores.table.assign(eligible=False, ineligible_reasons="test")
    pa = portfolio.allocate_portfolio(run.evaluation, scores, default_scenario(), REF)
    assert pa.status == "no_candidates" and not pa.table["selected"].any()
    assert f"{len(APPS)} ineligible" in pa.note


def test_lock_against_a_zero_cap_names_both(run):
    s = default_scenario()
    lock = run.scores.table.index[run.scores.table["eligible"]][0]
    iso = run.evaluation.metrics.at[lock, "country_iso3"]
    s = s.replace(country_caps_krw_bn={iso: 0.0})
    with pytest.raises(AllocationInfeasible) as exc:
        portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF, locked_in=[lock])
    assert set(exc.value.conflicts) == {f"must fund {lock}", f"country_iso3={iso} absolute cap"}


def test_a_solver_limit_is_carried_to_the_portfolio(run, monkeypatch):
    from evaluator.allocation import model as alloc_model
    real = alloc_model.milp

    def stopped(c, **kw):
        res = real(c, **kw)
        res.status, res.mip_gap = 1, 0.02
        res.message = "Time limit reached. (HiGHS Status 13: Time limit reached)"
        return res
    monkeypatch.setattr(alloc_model, "milp", stopped)   # looked up where the model solves
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, default_scenario(), REF)
    assert pa.status == "time_limit" and pa.limit_reached and pa.mip_gap == 0.02
    assert pa.summary["optimal"] is False and pa.summary["limit_reached"] is True
    assert len(pa.warnings) == 1 and "time limit" in pa.warnings[0] and "2.00%" in pa.warnings[0]
    assert pa.table["selected"].any()


@pytest.mark.parametrize("changes", [
    {},
    {"fund_krw_bn": 100.0, "loan_krw_bn": 20.0},
    {"country_cap_share": 0.3, "mineral_cap_share": 0.4, "expected_loss_cap_krw_bn": 0.8,
     "min_minerals_covered": 3},
    {"objective": "total_diversification"},
    {"min_fraction": 1.0},
])
def test_tightened_diversification_terms_give_the_plain_optimum(run, changes):
    """The clipped concave weights (allocation.tighten_concave) change the LP relaxation only:
    on the samples the optimum equals the plain formulation's, within the MIP gap."""
    from evaluator import allocation as alloc_mod
    s = default_scenario().replace(**changes)
    cand, _ = portfolio.build_candidates(run.evaluation, run.scores.table, s, REF)
    kw = portfolio.solver_kwargs(cand, s, REF)
    budgets = portfolio.budgets_of(s)
    tight = alloc_mod.allocate(cand, budgets, **kw)
    plain = alloc_mod.allocate(cand, budgets, tighten_concave=False, **kw)
    assert tight.optimal and plain.optimal
    assert tight.objective == pytest.approx(plain.objective, rel=2e-6, abs=1e-9)


def _generated_apps(n, seed=0):
    """``n`` applications from the benchmark generator (perturbed copies of the samples)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_samples", ROOT / "benchmarks" / "samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.perturbed_apps(n, REF, seed=seed)


@pytest.mark.parametrize("changes", [
    {},
    {"country_cap_share": 0.3, "mineral_cap_share": 0.4, "expected_loss_cap_krw_bn": 0.8,
     "min_minerals_covered": 3},
    {"objective": "total_npv", "fund_krw_bn": 100.0},
])
def test_fast_path_gives_the_old_optimum_on_generated_applications(changes):
    """200 generated applications (copies of the samples, so dominance, reduced-cost fixing and
    the tightened terms are all in play): same optimum as the plain model solved in one go."""
    _fast_equals_plain(_generated_apps(200), default_scenario().replace(**changes))


def _fast_equals_plain(apps, s):
    """The allocation by the fast path, checked against the plain model solved in one go."""
    run = pipeline.run(apps, s, REF)
    fast = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    # the plain model is the reference: give it time to prove its optimum on a loaded machine
    plain = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF,
                                         tighten_concave=False, presolve=False, time_limit_s=120.0)
    assert fast.summary["optimal"] and plain.summary["optimal"]
    assert fast.summary["objective"] == pytest.approx(plain.summary["objective"], rel=2e-6)
    assert portfolio.check_allocation(fast, s) == []
    return fast


@pytest.mark.parametrize("seed, changes", [
    (1, {"country_cap_share": 0.3, "mineral_cap_share": 0.4, "expected_loss_cap_krw_bn": 0.8,
         "min_minerals_covered": 3}),
    (2, {"country_cap_share": 0.3, "mineral_cap_share": 0.4, "expected_loss_cap_krw_bn": 0.8,
         "min_minerals_covered": 3}),
    (3, {"country_cap_share": 0.25, "mineral_cap_share": 0.3, "expected_loss_cap_krw_bn": 0.5,
         "min_minerals_covered": 5}),
    (4, {"country_cap_share": 0.4, "mineral_cap_share": 0.5, "expected_loss_cap_krw_bn": 2.0,
         "fund_krw_bn": 120.0}),
])
def test_fast_path_with_caps_gives_the_plain_optimum_on_seeded_applications(seed, changes):
    """Share caps, the expected-loss cap and the coverage floor on 300 generated applications
    (other seeds than the benchmark's): the presolve (dominance with the absolute caps the share
    caps imply, candidates that cannot be funded, reduced-cost fixing), the concave cuts and
    the solver options give the optimum of the plain model solved in one go."""
    s = default_scenario().replace(**changes)
    fast = _fast_equals_plain(_generated_apps(300, seed), s)
    assert fast.summary["expected_loss_krw_bn"] <= s.expected_loss_cap_krw_bn * (1 + 1e-6)
    assert fast.table.loc[fast.table["selected"], "mineral"].nunique() >= s.min_minerals_covered


def test_gap_volume_by_hand():
    """Top supplier 80 of 100 t, target 50 %: top_supplier rule 80 - 50 = 30 t;
    pro rata 100 x (1 - 0.5/0.8) = 37.5 t; additive 80/0.5 - 100 = 60 t."""
    base = supply.MineralSupply("x", "quantity", 2024, pd.Series({"CHN": 80.0, "AUS": 20.0}),
                                pd.Series({"CHN": 0.8, "AUS": 0.2}), {"top_share": 0.8, "top_supplier": "CHN"},
                                pd.Series(dtype=float), 0.5, False)
    assert portfolio.gap_volume(base, 0.5, "top_supplier") == pytest.approx(30.0)
    assert portfolio.gap_volume(base, 0.5, "pro_rata") == pytest.approx(37.5)
    assert portfolio.gap_volume(base, 0.5, "additive") == pytest.approx(60.0)


def test_cli_allocate_json_is_clean_and_within_budgets(capsys):
    code = main(["allocate", str(ROOT / "sample_projects" / "applications.csv"), "--format", "json",
                 "--fund-krw-bn", "150", "--loan-krw-bn", "40", "--country-cap-share", "0.35"])
    out = capsys.readouterr().out
    data = json.loads(out)  # nothing but JSON on stdout (HiGHS chatter silenced)
    assert code == 0
    recs = data["applications"]
    assert len(recs) == len(APPS)
    assert sum(r["fund_krw_bn"] for r in recs) <= 150 + 1e-6
    assert sum(r["loan_krw_bn"] for r in recs) <= 40 + 1e-6
    assert {"fund_krw_bn", "loan_krw_bn", "selected"} <= set(recs[0])
    assert "china_share_after" in data["summary"]


def test_cli_allocate_reports_infeasible_locks(capsys):
    code = main(["allocate", str(ROOT / "sample_projects" / "applications.csv"), "--loan-krw-bn", "1",
                 "--lock-in", "AU-LI-01,CA-LI-01"])
    err = capsys.readouterr().err
    assert code == 2 and "allocation" in err


@pytest.mark.parametrize("resource", ["fund_krw_bn", "loan_krw_bn"])
def test_warm_frontier_matches_independent_solves(run, resource):
    """Issue 18: the warm-started curve (reuse, neighbour bounds, the page's own allocation as a
    solved point) gives every point within the gap of a fresh solve, never decreasing."""
    s = default_scenario()
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    warm = portfolio.frontier(pa, s, REF, resource, points=12)
    cold = portfolio.frontier(pa, s, REF, resource, points=12, warm_start=False)
    assert warm["optimal"].all() and cold["optimal"].all()
    assert np.all(np.diff(warm["objective"].to_numpy()) >= 0.0)
    assert warm["objective"].to_numpy() == pytest.approx(cold["objective"].to_numpy(), rel=2e-4)
    here = warm.loc[warm["current"], "objective"].iloc[0]
    assert here == pytest.approx(pa.summary["objective"], rel=1e-4)


def test_what_it_would_take_is_exact_for_every_left_out_application(run):
    """Issue 18: each left-out candidate gets the value at which funding it is (weakly) optimal,
    checked by re-solving the whole domain model with that value, and just below it."""
    from evaluator import allocation as alloc
    s = default_scenario()
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    w = portfolio.what_it_would_take(pa, s, REF)
    left = w[~w["selected"]]
    assert len(left) == int((~pa.result.selected).sum()) and left["exact"].all()
    assert (left["value_increase"] >= -1e-6).all()
    support = pa.candidates["support_krw_bn"]
    assert left["score_increase"].to_numpy() == pytest.approx(
        (left["value_increase"] * 100 / support.reindex(left.index)).to_numpy())
    kw = portfolio.solver_kwargs(pa.candidates, s, REF)
    budgets = portfolio.budgets_of(s)
    O = pa.summary["objective"]
    for i in left.index[np.isfinite(left["enter_value"].to_numpy(float))][:3]:
        for v, enters in ((left.at[i, "enter_value"] + 1e-3, True), (left.at[i, "enter_value"] - 2e-2, False)):
            c = pa.candidates.assign(value=pa.candidates["value"].where(pa.candidates.index != i, v))
            forced = alloc.allocate(c, budgets, **dict(kw, locked_in=(i,)))
            assert (forced.objective >= O - 1e-6 * O) == enters, (i, v)


def test_what_it_would_take_in_chunks_gives_the_same_answers(run):
    """The page may compute a chunk of applications at a time: same rows, the others marked."""
    s = default_scenario()
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    full = portfolio.what_it_would_take(pa, s, REF)
    left = list(full.index[~full["selected"]])
    part = portfolio.what_it_would_take(pa, s, REF, ids=left[:2])
    pd.testing.assert_series_equal(part.loc[left[:2], "enter_value"], full.loc[left[:2], "enter_value"])
    rest = part.loc[left[2:]]
    assert rest["enter_value"].isna().all() and not rest["exact"].any()
    assert (rest["note"] == "not computed").all()


def test_what_it_would_take_in_chunks_ends_with_the_whole_table(run):
    """Issue 18, off the slider path: the generator yields the funded margins first, then chunks
    of left-out candidates nearest the margin first, and its last table equals the one-call answer."""
    s = default_scenario()
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    full = portfolio.what_it_would_take(pa, s, REF)
    steps = list(portfolio.what_it_would_take_in_chunks(pa, s, REF, chunk_size=3, max_chunk_size=6))
    first, done0, total = steps[0]
    assert done0 == 0 and total == int((~full["selected"]).sum())
    assert (first.loc[~first["selected"], "note"] == "not computed").all()
    # chunks of 3, 6, 6, ... left-out candidates, then the funded margins (every left-out one done)
    assert [d for _, d, _ in steps[1:-1]] == [min(k, total) for k in (3, 9, 15, 21, 27, 33, 39)][:len(steps) - 2]
    assert steps[-2][1] == steps[-1][1] == total
    assert not steps[-2][0]["exact"][steps[-2][0]["selected"]].any()      # funded rows: LP first cut so far
    # the first chunk holds the left-out candidates whose LP break-even is nearest their value
    gap = (first["lp_break_even_value"] - first["value"])[~first["selected"]]
    first_chunk = steps[1][0].index[steps[1][0]["exact"] & ~steps[1][0]["selected"]]
    assert set(first_chunk) == set(gap.sort_values(kind="stable").index[:3])
    last = steps[-1][0]
    assert list(last.columns) == portfolio.WHAT_IT_WOULD_TAKE_COLUMNS
    pd.testing.assert_frame_equal(last, full[portfolio.WHAT_IT_WOULD_TAKE_COLUMNS], check_dtype=False)


def test_what_it_would_take_in_chunks_stops_when_asked(run):
    """A page that no longer needs the answers stops the work before the next candidate."""
    from evaluator import allocation as alloc
    s = default_scenario()
    pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF)
    asked = []

    def stop_after_three():
        asked.append(1)
        return len(asked) > 3
    steps = list(portfolio.what_it_would_take_in_chunks(pa, s, REF, chunk_size=8, should_stop=stop_after_three))
    assert len(steps) == 1 and steps[0][1] == 0          # only the LP first cut: the first chunk was stopped
    assert len(asked) == 4                               # three candidates solved, the fourth not started
    kw = portfolio.solver_kwargs(pa.candidates, s, REF)
    with pytest.raises(alloc.EntryValuesStopped):
        alloc.entry_values(pa.candidates, portfolio.budgets_of(s), pa.result, n_jobs=1, should_stop=lambda: True, **kw)
