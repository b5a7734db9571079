"""Portfolio risk (evaluator.uncertainty.portfolio_paths / supply_paths / portfolio_risk).

Reference values are independent computations: the deterministic model (evaluator.evaluate,
the pipeline's supply projection), each project's own simulation (simulate_paths), the
projection of evaluator.supply on one path's realised offtake, and textbook facts about sums of
random variables (comonotonic quantiles add up, expected shortfall is subadditive: Acerbi and
Tasche 2002, "On the coherence of expected shortfall", J. Banking & Finance 26(7)).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluator import pipeline, supply
from evaluator.evaluate import evaluate, usd_m_to_krw_bn
from evaluator.uncertainty import (
    PortfolioInputError,
    load_price_processes,
    portfolio_risk,
    portfolio_risk_of_result,
    simulate,
    simulate_paths,
    simulate_portfolio_paths,
    supply_share_paths,
)
from evaluator.uncertainty.portfolio_paths import failure_probabilities, funded_applications
from evaluator.uncertainty.portfolio_risk import tail_contributions
from evaluator.uncertainty.supply_paths import realised_offtake

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CSV = ROOT / "sample_projects" / "applications.csv"
PATHS = 2000


@pytest.fixture(scope="module")
def result(sample_apps, scenario, ref):
    return pipeline.run(sample_apps, scenario, ref)


@pytest.fixture(scope="module")
def funded(result):
    t = result.allocation.table
    sel = t["selected"].astype(bool)
    return ({k: float(v) for k, v in t["fund_krw_bn"].where(sel, 0.0).items()},
            {k: float(v) for k, v in t["loan_krw_bn"].where(sel, 0.0).items()})


@pytest.fixture(scope="module")
def risk(result, sample_apps, scenario, ref):
    return portfolio_risk_of_result(result, sample_apps, scenario, ref, n_paths=PATHS, seed=7)


def _by_id(apps, *ids):
    return [next(a for a in apps if a.id == i) for i in ids]


# ----------------------------------------------------------------------------------------------
# zero volatility, no failure: the deterministic figures
# ----------------------------------------------------------------------------------------------
def test_zero_volatility_equals_deterministic(result, sample_apps, scenario, ref, funded):
    fund, loan = funded
    r = portfolio_risk_of_result(result, sample_apps, scenario, ref, n_paths=64, vol_scale=0.0, failures=False)
    apps_f, fund_a, loan_a = funded_applications(sample_apps, fund, loan)
    ev = evaluate(apps_f, scenario, ref)                   # the allocated loans' DSCR
    m = ev.metrics.loc[[a.id for a in apps_f]]
    # the one credit model (issue 22): the base case's default test, not "some year with DSCR < 1"
    # (VN-GR-01's minimum DSCR is below 1 in a principal year before production, which its later
    # cash flow repays: no loss)
    loss = np.where(m["base_case_default"].to_numpy(dtype=bool), loan_a * scenario.lgd, 0.0)
    # (under the 2026 loan rate, KTB - 2.25 pp, real about -1.6 %, no funded loan's minimum DSCR is
    # below 1 any more; the loss is the default test's either way)
    assert not m["base_case_default"].any()
    assert r.loan_loss_expected_krw_bn == pytest.approx(loss.sum(), abs=1e-9)
    assert r.loan_loss_p99_krw_bn == pytest.approx(loss.sum(), abs=1e-9)
    share = np.minimum(1.0, fund_a * 1000.0 / scenario.fx_krw_per_usd
                       / np.array([a.total_project_cost_usd_m for a in apps_f]))
    fund_npv = float(usd_m_to_krw_bn(share * m["npv_usd_m"].to_numpy(), scenario.fx_krw_per_usd).sum())
    for q in (r.fund_npv_p10_krw_bn, r.fund_npv_p50_krw_bn, r.fund_npv_p90_krw_bn, r.fund_npv_mean_krw_bn):
        assert q == pytest.approx(fund_npv, rel=1e-9, abs=1e-9)
    assert r.prob_fund_loss == float(fund_npv < 0)
    # the target: exactly the pipeline's projection by year (the top supplier's share <= target;
    # China's own share is its own measure)
    by_year = result.supply.by_year.set_index(["mineral", "year"])
    t = r.target.set_index(["mineral", "year"])
    assert len(t) and set(t.index) <= set(by_year.index)
    want = (by_year.loc[t.index, "top_share"] <= scenario.target_single_supplier_share + 1e-12).astype(float)
    assert np.array_equal(t["prob_target_met"].to_numpy(), want.to_numpy())
    want_c = (by_year.loc[t.index, "china_share"] <= scenario.target_single_supplier_share + 1e-12).astype(float)
    assert np.array_equal(t["prob_china_share_at_most_target"].to_numpy(), want_c.to_numpy())
    assert np.allclose(t["china_share_p50"], by_year.loc[t.index, "china_share"], atol=1e-12)


# ----------------------------------------------------------------------------------------------
# one project: its own simulation
# ----------------------------------------------------------------------------------------------
def test_single_project_equals_its_own_simulation(sample_apps, scenario, ref):
    (a,) = _by_id(sample_apps, "AU-LI-01")                 # production stage, with a loan
    a = dataclasses.replace(a, loan_request_krw_bn=60.0)   # large enough to default on some paths
    pp = simulate_portfolio_paths([a], scenario, ref, fund_krw_bn={a.id: 20.0}, loan_krw_bn={a.id: 60.0},
                                  n_paths=PATHS, seed=3)
    own = simulate_paths([a], scenario, ref, n_paths=PATHS, seed=3, irr_paths=0)
    assert np.array_equal(pp.npv_usd_m, own.npv_usd_m)
    sim = simulate([a], scenario, ref, n_paths=PATHS, seed=3, irr_paths=0).summary.loc[a.id]
    assert 0.01 < sim["prob_min_dscr_below_1"] < 0.99      # the check below means something
    assert pp.loss_krw_bn.mean() == pytest.approx(sim["expected_loss_sim_krw_bn"], rel=1e-12)
    r = portfolio_risk([a], scenario, ref, fund_krw_bn={a.id: 20.0}, loan_krw_bn={a.id: 60.0}, n_paths=PATHS, seed=3)
    assert r.projects.loc[a.id, "npv_p10_usd_m"] == pytest.approx(sim["npv_p10_usd_m"], rel=1e-12)
    assert r.loan_loss_expected_krw_bn == pytest.approx(sim["expected_loss_sim_krw_bn"], rel=1e-12)


def test_exploration_failures_written_off(sample_apps, scenario, ref):
    (a,) = _by_id(sample_apps, "LA-REE-02")                # exploration, success probability 0.3
    n = 20_000
    pp = simulate_portfolio_paths([a], scenario, ref, fund_krw_bn={a.id: 6.0}, loan_krw_bn={a.id: 4.0},
                                  n_paths=n, seed=11, vol_scale=0.0)
    p_fail = 1 - a.success_probability
    assert abs(pp.failed.mean() - p_fail) < 4 * np.sqrt(p_fail * (1 - p_fail) / n)
    # rare earths are listed (Decree art. 11-3(1)): 90 % waived, the 10 % repaid within 5 years at
    # the borrower's 3 %/yr default risk, LGD 45 %
    assert np.allclose(pp.loss_krw_bn[pp.failed], 4.0 * (0.9 + 0.1 * (1 - 0.97 ** 5) * 0.45))
    # a vanadium twin (not listed): no waiver, the whole loan at the borrower's risk over its tenor
    v = dataclasses.replace(a, mineral="vanadium")
    pv = simulate_portfolio_paths([v], scenario, ref, fund_krw_bn={a.id: 6.0}, loan_krw_bn={a.id: 4.0},
                                  n_paths=200, seed=11, vol_scale=0.0)
    assert np.allclose(pv.loss_krw_bn[pv.failed], 4.0 * (1 - 0.97 ** a.loan_tenor_years) * 0.45)
    assert np.allclose(pp.fund_npv_krw_bn[pp.failed], -6.0)
    assert (pp.loss_column[pp.failed] == max(1, a.construction_years)).all()
    # deterministic model otherwise: a default exactly when the base case defaults (one credit model)
    base = evaluate([dataclasses.replace(a, loan_request_krw_bn=4.0)], scenario, ref).metrics["base_case_default"].iloc[0]
    assert (pp.loss_krw_bn[~pp.failed] > 0).all() == bool(base)


# ----------------------------------------------------------------------------------------------
# the book is the sum of its loans
# ----------------------------------------------------------------------------------------------
def test_book_expected_loss_is_the_sum_of_the_projects(risk, sample_apps, scenario, ref, funded):
    p = risk.projects
    assert risk.loan_loss_expected_krw_bn == pytest.approx(p["expected_loss_krw_bn"].sum(), rel=1e-12)
    # each later-stage project's expected loss is its own simulation's (the same rule, other draws)
    fund, loan = funded
    apps_f, _, _ = funded_applications(sample_apps, fund, loan)
    own = simulate(apps_f, scenario, ref, n_paths=PATHS, seed=7, irr_paths=0).summary
    later = [a.id for a in apps_f if a.stage != "exploration" and a.loan_request_krw_bn > 0]
    assert later
    prob = own.loc[later, "prob_min_dscr_below_1"]
    se = np.sqrt(prob * (1 - prob) / PATHS) * p.loc[later, "loan_krw_bn"] * scenario.lgd
    gap = np.abs(p.loc[later, "expected_loss_krw_bn"] - own.loc[later, "expected_loss_sim_krw_bn"])
    assert (gap <= 5 * se + 1e-12).all()
    # contributions add up to their totals
    assert p["loss_contribution_es99_krw_bn"].sum() == pytest.approx(risk.loan_loss_es99_krw_bn, rel=1e-9)
    assert p["fund_contribution_es10_krw_bn"].sum() == pytest.approx(risk.fund_npv_es10_krw_bn, rel=1e-9)
    # the loss per year adds up to the total
    assert risk.loan_loss_by_year["expected_krw_bn"].sum() == pytest.approx(risk.loan_loss_expected_krw_bn, rel=1e-9)


def test_percentiles_and_s_curve(risk):
    assert risk.loan_loss_expected_krw_bn <= risk.loan_loss_es99_krw_bn + 1e-12
    assert risk.loan_loss_p95_krw_bn <= risk.loan_loss_p99_krw_bn <= risk.loan_loss_es99_krw_bn + 1e-12
    assert risk.fund_npv_es10_krw_bn <= risk.fund_npv_p10_krw_bn <= risk.fund_npv_p50_krw_bn <= risk.fund_npv_p90_krw_bn
    s = risk.loan_loss_s_curve
    assert s["loss_krw_bn"].is_monotonic_increasing and s["probability"].iloc[[0, -1]].tolist() == [0.0, 1.0]
    assert risk.loan_loss_histogram["share_of_paths"].sum() == pytest.approx(1.0)
    assert 0 <= risk.prob_loss_exceeds_threshold <= 1
    assert risk.loss_threshold_krw_bn == pytest.approx(0.10 * 67.5)


def test_tail_contributions_against_sorting():
    rng = np.random.default_rng(0)
    parts = rng.exponential(size=(4, 1000))
    total = parts.sum(axis=0)
    es, c = tail_contributions(total, parts, 0.05, "high")
    worst = np.sort(total)[-50:]
    assert es == pytest.approx(worst.mean()) and c.sum() == pytest.approx(es)


# ----------------------------------------------------------------------------------------------
# correlation: full correlation vs independence
# ----------------------------------------------------------------------------------------------
def _loan_case(sample_apps, ids, loans):
    apps = [dataclasses.replace(a, id=f"{a.id}-{k}", loan_request_krw_bn=l_)
            for k, (a, l_) in enumerate(zip(_by_id(sample_apps, *ids), loans))]
    return apps, {a.id: 0.0 for a in apps}, {a.id: a.loan_request_krw_bn for a in apps}


def test_full_correlation_quantiles_add_up(sample_apps, scenario, ref):
    # copies of one project on one mineral, prices only: every copy defaults on the same paths
    # (comonotonic losses), so each quantile of the book is the sum of the copies' quantiles
    apps, fund, loan = _loan_case(sample_apps, ["AU-LI-01"] * 3, [60.0, 40.0, 60.0])
    pp = simulate_portfolio_paths(apps, scenario, ref, fund_krw_bn=fund, loan_krw_bn=loan, n_paths=PATHS, seed=5,
                                  project_risk=False)
    assert 0.01 < pp.defaulted[0].mean() < 0.99
    total = pp.loss_krw_bn.sum(axis=0)
    for q in (0.5, 0.9, 0.95, 0.99):
        assert np.quantile(total, q) == pytest.approx(np.quantile(pp.loss_krw_bn, q, axis=1).sum(), rel=1e-12)


def test_independence_vs_full_correlation_bracket_the_tail(sample_apps, scenario, ref):
    # two projects on two minerals whose price processes are made identical in law; with
    # correlation 0 their losses are independent, with correlation ~1 nearly comonotonic. Expected
    # shortfall is subadditive (Acerbi-Tasche 2002): ES(indep) <= ES(full) <= ES_1 + ES_2; the
    # expected loss does not depend on the correlation.
    # loans of KRW 60 bn at 70 % of the copper deck: a default probability of about 13 % under the
    # credit model of issue 22 (a shortfall after the reserve that the loan's life cannot repay)
    apps, fund, loan = _loan_case(sample_apps, ["LA-CU-01", "LA-CU-01"], [60.0, 60.0])
    apps = [dataclasses.replace(apps[0], by_products=()),
            dataclasses.replace(apps[1], by_products=(), mineral="zinc")]    # the same project, priced on zinc
    proc = load_price_processes(ref)
    i, j = proc.index("copper"), proc.index("zinc")
    sigma, kappa = proc.sigma.copy(), proc.kappa.copy()
    sigma[j], kappa[j] = sigma[i], kappa[i]
    copper_price = float(ref.minerals.loc["copper", "price_base_usd_per_t"])
    scen = scenario.replace(price_overrides_usd_per_t={"copper": 0.7 * copper_price, "zinc": 0.7 * copper_price})
    out = {}
    for name, rho in (("indep", 0.0), ("full", 1 - 1e-9)):
        corr = proc.corr.copy()
        corr[i, :] = corr[:, i] = corr[j, :] = corr[:, j] = 0.0
        corr[i, i] = corr[j, j] = 1.0
        corr[i, j] = corr[j, i] = rho
        p = dataclasses.replace(proc, sigma=sigma, kappa=kappa, corr=corr)
        pp = simulate_portfolio_paths(apps, scen, ref, fund_krw_bn=fund, loan_krw_bn=loan, n_paths=4000, seed=9,
                                      project_risk=False, processes=p)
        out[name] = pp.loss_krw_bn
    single = out["indep"]
    # P(default) p with p > 5 % > p^2: with full correlation the worst 5 % are all double defaults,
    # independent they are not
    assert all(0.06 < (single[k] > 0).mean() < 0.2 for k in range(2))
    es = {k: tail_contributions(v.sum(axis=0), v, 0.05, "high")[0] for k, v in out.items()}
    es_sum = sum(tail_contributions(single[k], single[k:k + 1], 0.05, "high")[0] for k in range(2))
    assert es["indep"] < es["full"] <= es_sum + 1e-9
    assert np.quantile(out["indep"].sum(axis=0), 0.99) <= np.quantile(out["full"].sum(axis=0), 0.99)
    assert (out["indep"].sum(axis=0) > 0).mean() > (out["full"].sum(axis=0) > 0).mean()
    el = {k: v.sum(axis=0).mean() for k, v in out.items()}
    sd = out["indep"].sum(axis=0).std() / np.sqrt(4000)
    assert abs(el["indep"] - el["full"]) < 6 * sd


# ----------------------------------------------------------------------------------------------
# the target: the supply projection on each path
# ----------------------------------------------------------------------------------------------
def test_supply_shares_equal_the_projection_on_each_path(result, sample_apps, scenario, ref, funded):
    # the funded set plus an exploration project (success probability 0.3), so that some paths fail
    fund, loan = dict(funded[0]), dict(funded[1])
    fund["LA-REE-02"], loan["LA-REE-02"] = 6.0, 4.0
    pp = simulate_portfolio_paths(sample_apps, scenario, ref, fund_krw_bn=fund, loan_krw_bn=loan, n_paths=200,
                                  seed=2)
    share = pipeline.funded_shares(result.allocation).copy()
    share["LA-REE-02"] = 1.0
    off = supply.funded_offtake(supply.offtake_by_year_from_evaluation(result.evaluation), share, "korea_offtake_t")
    sh = supply_share_paths(ref, scenario, off, pp.ids, pp.minerals, pp.countries, pp.delay_years, pp.failed)
    delayed = np.flatnonzero((pp.delay_years > 0).any(axis=0))
    failed = np.flatnonzero(pp.failed.any(axis=0))
    assert len(delayed) and len(failed)
    for p in sorted({0, int(delayed[0]), int(failed[0]), int(delayed[-1])}):
        table = realised_offtake(off, dict(zip(pp.ids, pp.delay_years[:, p])), dict(zip(pp.ids, pp.failed[:, p])))
        proj = supply.projection_by_year(ref, scenario, table).set_index(["mineral", "year"])
        for m, c in sh.china_share.items():
            want = proj.loc[m].reindex(sh.years)
            assert np.allclose(c[p], want["china_share"].to_numpy(), atol=1e-12), (m, p)
            assert np.allclose(sh.top_share[m][p], want["top_share"].to_numpy(), atol=1e-12), (m, p)


def test_target_probabilities(risk, scenario):
    t = risk.target
    for c in ("prob_target_met", "prob_china_share_at_most_target"):
        assert ((t[c] >= 0) & (t[c] <= 1)).all()
    # China's share is never above the top supplier's: meeting the target implies China's share does
    assert (t["prob_target_met"] <= t["prob_china_share_at_most_target"] + 1e-12).all()
    assert t["year"].max() == scenario.horizon_year and t["is_target_year"].sum() == t["mineral"].nunique()
    rec = risk.as_record()["prob_target_met"]
    assert set(rec) == set(t["mineral"]) and all(scenario.target_year in v for v in rec.values())


# ----------------------------------------------------------------------------------------------
# details, inputs, CLI
# ----------------------------------------------------------------------------------------------
def test_path_details_fast_equals_reference(sample_apps, scenario, ref):
    apps = [dataclasses.replace(a, loan_request_krw_bn=a.loan_request_krw_bn * 6) for a in sample_apps[:10]]
    kw = dict(n_paths=120, seed=4, irr_paths=0, path_details=True)
    f = simulate_paths(apps, scenario, ref, **kw)
    r = simulate_paths(apps, scenario, ref, method="reference", **kw)
    assert np.array_equal(f.delay_years, r.delay_years) and (f.delay_years > 0).any()
    assert np.array_equal(f.default_year_index, r.default_year_index) and (f.default_year_index >= 0).any()
    plain = simulate_paths(apps, scenario, ref, n_paths=120, seed=4, irr_paths=0)
    assert np.array_equal(plain.npv_usd_m, f.npv_usd_m) and plain.delay_years is None


def test_bad_allocation_names_application_and_field(sample_apps, scenario, ref):
    a = sample_apps[0]
    with pytest.raises(PortfolioInputError, match=f"{a.id}.*loan_krw_bn"):
        simulate_portfolio_paths(sample_apps, scenario, ref, fund_krw_bn={}, loan_krw_bn={a.id: -1.0}, n_paths=10)
    with pytest.raises(PortfolioInputError, match="nothing to simulate"):
        simulate_portfolio_paths(sample_apps, scenario, ref, fund_krw_bn={}, loan_krw_bn={}, n_paths=10)


def test_failure_probabilities(sample_apps):
    p = failure_probabilities(sample_apps)
    for a, x in zip(sample_apps, p):
        assert x == pytest.approx(1 - a.success_probability if a.stage == "exploration" and a.success_probability
                                  is not None else 0.0)


def test_cli_simulate_portfolio_json():
    out = subprocess.run([sys.executable, "-m", "evaluator", "simulate", str(SAMPLE_CSV), "--portfolio", "--paths",
                          "1000", "--seed", "3", "--format", "json"], check=False, capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)                                    # clean JSON: progress is on stderr
    p = d["portfolio"]
    for k in ("loan_loss_expected_krw_bn", "loan_loss_p95_krw_bn", "loan_loss_p99_krw_bn", "fund_npv_p10_krw_bn",
              "fund_npv_p50_krw_bn", "fund_npv_p90_krw_bn", "prob_fund_loss"):
        assert isinstance(p[k], float), k
    assert p["n_paths"] == 1000 and p["seed"] == 3
    years = {int(y) for v in p["prob_target_met"].values() for y in v}
    assert 2030 in years and max(years) == 2035
    assert len(d["applications"]) == d["summary"]["n_selected"]
    assert all(r["fund_krw_bn"] > 0 or r["loan_krw_bn"] > 0 for r in d["applications"])
    assert d["portfolio"]["loan_loss_expected_krw_bn"] == pytest.approx(
        sum(r["expected_loss_krw_bn"] for r in d["applications"]), rel=1e-9)
    pd.DataFrame(d["applications"])                               # records form a table


# ----------------------------------------------------------------------------------------------
# the allocation under a cap on the book's P95 loss (sample-average approximation)
# ----------------------------------------------------------------------------------------------
def test_saa_allocation_meets_the_cap_and_costs_value(result, sample_apps, scenario, ref):
    from evaluator.uncertainty import allocate_with_loss_cap
    from evaluator.uncertainty.portfolio_saa import cvar, scenario_losses

    cap = 6.0                  # the book's in-sample CVaR95 is about 9.5 under the credit model of issue 22
    s = allocate_with_loss_cap(result, sample_apps, scenario, ref, p95_cap_krw_bn=cap, n_scenarios=500,
                               n_validation_paths=1000, seed=1)
    f = s.figures
    assert f.loc["deterministic", "cvar95_in_sample_krw_bn"] > cap      # the cap binds here
    # in sample, recomputed independently of the loop: CVaR95 and so P95 within the cap
    from evaluator import portfolio
    cand, _ = portfolio.build_candidates(result.evaluation, result.scores.table, scenario, ref)
    L = scenario_losses(sample_apps, cand, scenario, ref, 500, 1)
    book = L.T @ s.result.fractions.reindex(cand.index).fillna(0.0).to_numpy()
    assert cvar(book)[0] <= cap + 1e-6 and np.quantile(book, 0.95) <= cap + 1e-6
    assert f.loc["saa", "objective"] <= f.loc["deterministic", "objective"] + 1e-9
    assert f.loc["saa", "loan_krw_bn"] <= scenario.loan_krw_bn + 1e-9
    assert f.loc["saa", "fund_krw_bn"] <= scenario.fund_krw_bn + 1e-9
    assert set(s.comparison.columns) == {"fund_krw_bn_deterministic", "loan_krw_bn_deterministic",
                                         "fund_krw_bn_saa", "loan_krw_bn_saa"}
    assert s.comparison["loan_krw_bn_saa"].sum() == pytest.approx(f.loc["saa", "loan_krw_bn"])


def test_saa_with_a_loose_cap_is_the_deterministic_allocation(result, sample_apps, scenario, ref):
    from evaluator.uncertainty import allocate_with_loss_cap

    s = allocate_with_loss_cap(result, sample_apps, scenario, ref, p95_cap_krw_bn=1e6, n_scenarios=200,
                               n_validation_paths=200)
    assert s.iterations == 1
    det = result.allocation.result.fractions
    assert np.allclose(s.result.fractions.reindex(det.index).fillna(0.0), det, atol=1e-6)
    assert s.figures.loc["saa", "objective"] == pytest.approx(s.figures.loc["deterministic", "objective"], rel=1e-9)


def test_cli_simulate_portfolio_with_p95_cap():
    out = subprocess.run([sys.executable, "-m", "evaluator", "simulate", str(SAMPLE_CSV), "--portfolio", "--paths",
                          "500", "--p95-loss-cap-krw-bn", "15", "--saa-scenarios", "200", "--format", "json"],
                         check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    saa = json.loads(out.stdout)["saa"]
    assert saa["n_scenarios"] == 200 and saa["figures"]["saa"]["cvar95_in_sample_krw_bn"] <= 15 + 1e-6
    det, new = saa["figures"]["deterministic"], saa["figures"]["saa"]
    assert set(det) == set(new) and all(v is not None for k, v in new.items() if k.startswith("prob_target_met_"))
    bad = subprocess.run([sys.executable, "-m", "evaluator", "simulate", str(SAMPLE_CSV), "--p95-loss-cap-krw-bn",
                          "15"], check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode == 2 and "--portfolio" in bad.stderr


@pytest.mark.parametrize("rule", ["top_supplier", "pro_rata", "additive"])
def test_displacement_equals_apply_additions(rule):
    """The many-cases form the paths use gives apply_additions' volumes case by case."""
    rng = np.random.default_rng(1)
    v = rng.uniform(0, 100, size=6) * (rng.random(6) > 0.2)
    added = np.concatenate([[0.0, v.sum() * 2], rng.uniform(0, v.sum(), size=20)])
    partners = [f"P{k}" for k in range(len(v))]
    names, out = supply.volumes_after_many(pd.Series(v, index=partners), {"NEW": added, "P1": added / 3}, rule)
    assert names == partners + ["NEW"]
    for a, row in zip(added, out):
        want = supply.apply_additions(pd.Series(v, index=partners), {"NEW": a, "P1": a / 3}, rule)
        assert np.allclose(row, want.reindex(names).to_numpy(), atol=1e-9), (rule, a)


def test_results_do_not_depend_on_the_lanes(sample_apps, scenario, ref, funded):
    fund, loan = funded
    kw = dict(fund_krw_bn=fund, loan_krw_bn=loan, n_paths=1500, seed=5)
    one = portfolio_risk(sample_apps, scenario, ref, lanes=1, **kw)
    two = portfolio_risk(sample_apps, scenario, ref, lanes=2, **kw)
    assert one.as_record() | {"elapsed_s": 0} == two.as_record() | {"elapsed_s": 0}
    pd.testing.assert_frame_equal(one.projects, two.projects)


def test_loss_by_year_against_a_loop(sample_apps, scenario, ref, funded):
    from evaluator.uncertainty.portfolio_risk import loss_by_year

    fund, loan = funded
    pp = simulate_portfolio_paths(sample_apps, scenario, ref, fund_krw_bn=fund, loan_krw_bn=loan, n_paths=300, seed=8)
    years, by_year = loss_by_year(pp)
    want = np.zeros_like(by_year)
    for i in range(len(pp.ids)):
        for p in range(pp.n_paths):
            if pp.loss_column[i, p] >= 0:
                want[pp.loss_column[i, p], p] += pp.loss_krw_bn[i, p]
    assert np.allclose(by_year, want) and years[0] == scenario.first_year - 1
    assert ((pp.loss_krw_bn > 0) == (pp.loss_column >= 0)).all()
