"""Tests of evaluator.uncertainty (Monte Carlo, tornado, spider).

Reference values: the Ornstein-Uhlenbeck transition density (Schwartz 1997, model 1;
Uhlenbeck & Ornstein 1930): ``E[x_t] = mu + (x0 - mu) e^{-kt}``,
``Var[x_t] = sigma^2 (1 - e^{-2kt}) / (2k)``; the deterministic model (``evaluate``).
"""

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evaluator import cashflow, special_loan
from evaluator import uncertainty as unc
from evaluator.uncertainty import kernel, processes, statistics

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_projects" / "applications.csv"




@pytest.fixture(scope="module")
def sim(apps, scenario, ref):
    return unc.simulate(apps, scenario, ref, n_paths=2000, seed=1)


def test_zero_volatility_reproduces_evaluate(apps, scenario, ref, ev):
    r = unc.simulate(apps, scenario, ref, n_paths=7, vol_scale=0.0, chunk_paths=3, irr_paths=2)
    npv = ev.metrics["npv_usd_m"].to_numpy()
    for col in ("npv_mean_usd_m", "npv_p10_usd_m", "npv_p90_usd_m", "npv_usd_m"):
        np.testing.assert_allclose(r.summary[col].to_numpy(), npv, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r.npv_samples_usd_m, np.repeat(npv[:, None], 7, 1).astype(np.float32))
    loan = ev.metrics["loan_request_krw_bn"].to_numpy() > 0
    below = (ev.metrics["min_dscr"].to_numpy() < 1.0).astype(float)
    np.testing.assert_array_equal(r.summary["prob_min_dscr_below_1"].to_numpy()[loan], below[loan])
    irr = ev.metrics["irr"].to_numpy()
    ok = np.isfinite(irr)
    np.testing.assert_allclose(r.summary["irr_p50"].to_numpy()[ok], irr[ok], atol=1e-9)


def test_zero_volatility_in_the_data_reproduces_evaluate(apps, scenario, ref, ev):
    proc = unc.load_price_processes(ref)
    flat = dataclasses.replace(proc, sigma=np.zeros_like(proc.sigma))
    r = unc.simulate(apps, scenario, ref, n_paths=5, processes=flat, project_risk=False, irr_paths=0)
    np.testing.assert_allclose(r.summary["npv_mean_usd_m"], ev.metrics["npv_usd_m"], rtol=1e-9, atol=1e-9)


def test_no_applications_is_a_clear_error(scenario, ref):
    with pytest.raises(ValueError, match="no applications"):
        unc.simulate([], scenario, ref, n_paths=10)


def test_reproducible_with_seed(apps, scenario, ref):
    a = unc.simulate(apps[:5], scenario, ref, n_paths=300, seed=7, irr_paths=0)
    b = unc.simulate(apps[:5], scenario, ref, n_paths=300, seed=7, irr_paths=0)
    np.testing.assert_array_equal(a.npv_samples_usd_m, b.npv_samples_usd_m)
    # a small memory budget splits the projects differently but draws the same paths
    c = unc.simulate(apps[:5], scenario, ref, n_paths=300, seed=7, irr_paths=0, memory_budget_bytes=1)
    np.testing.assert_allclose(a.npv_samples_usd_m, c.npv_samples_usd_m, rtol=1e-6)


def test_memory_budget_splits_the_paths_not_the_results(apps, scenario, ref):
    """A budget of one block of paths at a time (three super-blocks, the IRR sample across two of
    them) gives the per-path results of one pass over all paths."""
    kw = dict(n_paths=300, seed=4, chunk_paths=100, irr_paths=150)
    whole = unc.simulate_paths(apps, scenario, ref, **kw)
    split = unc.simulate_paths(apps, scenario, ref, memory_budget_bytes=1, **kw)
    for key in ("npv_usd_m", "min_dscr", "irr"):
        np.testing.assert_allclose(getattr(split, key), getattr(whole, key), rtol=1e-12, atol=1e-12)
    assert np.isfinite(whole.irr[:, 100:150]).any()


def test_other_seed_changes_draws_but_not_statistics(apps, scenario, ref, sim):
    other = unc.simulate(apps, scenario, ref, n_paths=2000, seed=2, irr_paths=0)
    assert not np.array_equal(sim.npv_samples_usd_m, other.npv_samples_usd_m)
    se = np.sqrt(sim.summary["npv_sd_usd_m"] ** 2 / 2000 + other.summary["npv_sd_usd_m"] ** 2 / 2000)
    diff = (sim.summary["npv_mean_usd_m"] - other.summary["npv_mean_usd_m"]).abs()
    assert (diff <= 4 * se + 1e-9).all(), (diff / se).max()


def test_ou_paths_match_analytic_moments():
    proc = unc.load_price_processes()
    n = 20_000
    x0, mu = np.log(8000.0), np.log(10000.0)
    x = unc.simulate_log_prices(proc, n_paths=n, n_years=30, seed=3, x0=x0, mu=mu)
    for h in (1, 3, 10, 30):
        mean, var = unc.ou_moments(x0, mu, proc.kappa, proc.sigma, h)
        got_m, got_v = x[:, :, h].mean(axis=1), x[:, :, h].var(axis=1, ddof=1)
        se_m = np.sqrt(var / n)
        se_v = var * np.sqrt(2.0 / (n - 1))
        assert np.all(np.abs(got_m - mean) < 4 * se_m), h
        assert np.all(np.abs(got_v - var) < 4 * se_v), h


def test_shock_correlation_matches_data():
    proc = unc.load_price_processes()
    x = unc.simulate_log_prices(proc, n_paths=20_000, n_years=1, seed=4)
    c = np.corrcoef(x[:, :, 1])
    # sampling error of a correlation ~ (1 - rho^2) / sqrt(n) < 0.007; 4 s.e. < 0.03
    np.testing.assert_allclose(c, proc.corr, atol=0.03)


def test_price_multiplier_mean_is_the_deck(ref):
    proc = unc.load_price_processes(ref)
    rng = np.random.Generator(np.random.PCG64(5))
    mult = processes.price_log_deviations(rng, proc, 20_000, 10, 1.0, "mean")
    m = mult[:, :, 10]
    se = m.std(axis=1) / np.sqrt(m.shape[1])
    assert np.all(np.abs(m.mean(axis=1) - 1.0) < 4 * se)
    assert np.all(mult[:, :, 0] == 1.0)


def test_price_processes_cover_every_mineral(ref):
    proc = unc.load_price_processes(ref)
    assert set(ref.minerals.index) <= set(proc.names)
    assert np.linalg.eigvalsh(proc.corr).min() > 0
    assert proc.table["assumption"].astype(str).str.lower().eq("true").all()


def test_summary_columns_and_expected_loss(sim, apps, scenario):
    s = sim.summary
    for col in ("npv_mean_usd_m", "npv_p10_usd_m", "npv_p50_usd_m", "npv_p90_usd_m", "prob_npv_negative",
                "prob_min_dscr_below_1", "prob_min_dscr_below_comfort", "expected_loss_sim_krw_bn",
                "irr_p10", "irr_p50", "irr_p90"):
        assert col in s.columns
    assert (s["npv_p10_usd_m"] <= s["npv_p50_usd_m"]).all() and (s["npv_p50_usd_m"] <= s["npv_p90_usd_m"]).all()
    assert ((s["prob_npv_negative"] >= 0) & (s["prob_npv_negative"] <= 1)).all()
    loan = s["loan_request_krw_bn"] > 0
    assert (s.loc[loan, "prob_min_dscr_below_1"] <= s.loc[loan, "prob_min_dscr_below_comfort"]).all()
    for a in apps:
        row = s.loc[a.id]
        if a.loan_request_krw_bn <= 0:
            assert row["expected_loss_sim_krw_bn"] == 0
        elif a.stage == "exploration":
            assert row["expected_loss_sim_krw_bn"] == pytest.approx(
                a.loan_request_krw_bn * (1 - a.success_probability)
                * special_loan.failure_loss_share(None, scenario, [a.mineral], [a.loan_tenor_years])[0])
        else:     # the one credit model (issue 22): P(default), not P(some year with DSCR < 1)
            assert row["expected_loss_sim_krw_bn"] == pytest.approx(
                a.loan_request_krw_bn * row["prob_default"] * scenario.lgd)
    assert sim.npv_samples_usd_m.dtype == np.float32
    assert sim.npv_samples_usd_m.shape == (len(apps), 2000)


def test_portfolio_and_risk_metrics(sim, apps):
    ids = [a.id for a in apps[:3]]
    tot = unc.portfolio_npv(sim, ids)
    np.testing.assert_allclose(tot, sim.npv_samples_usd_m[:3].astype(float).sum(axis=0))
    half = unc.portfolio_npv(sim, ids, weights={i: 0.5 for i in ids})
    np.testing.assert_allclose(half, tot / 2)
    rm = unc.risk_metrics(sim)
    assert {"npv_p10_usd_m", "prob_npv_negative", "risk_adjusted_npv_usd_m"} <= set(rm.columns)
    assert list(rm.index) == [a.id for a in apps]


def test_keep_paths_subsamples(apps, scenario, ref):
    r = unc.simulate(apps[:3], scenario, ref, n_paths=500, keep_paths=50, irr_paths=0)
    assert r.npv_samples_usd_m.shape == (3, 50) and len(r.kept_paths) == 50


def test_progress_callback(apps, scenario, ref):
    seen = []
    unc.simulate(apps[:4], scenario, ref, n_paths=50, chunk_paths=20, progress=seen.append, irr_paths=0)
    assert seen and seen[-1] == pytest.approx(1.0) and all(np.diff(seen) > 0)


@pytest.fixture(scope="module")
def torn(apps, scenario, ref):
    return unc.tornado(apps, scenario, ref)


def test_tornado_base_is_deterministic(torn, ev):
    base = torn.groupby("id")["base_npv_usd_m"].first()
    np.testing.assert_allclose(base.loc[ev.metrics.index], ev.metrics["npv_usd_m"], rtol=1e-12, atol=1e-9)
    assert set(torn.columns) >= {"id", "input", "low_npv_usd_m", "high_npv_usd_m", "base_npv_usd_m", "swing"}


def test_tornado_inputs_outside_cash_flow_have_zero_swing(torn, apps):
    no_by = [a.id for a in apps if not a.by_products]
    with_by = [a.id for a in apps if a.by_products]
    assert no_by and with_by
    t = torn.set_index(["id", "input"])
    for i in no_by:
        assert t.loc[(i, "price (by-products)"), "swing"] == 0
    assert any(t.loc[(i, "price (by-products)"), "swing"] > 0 for i in with_by)
    # loan rate and FX never move the unlevered USD NPV; without a loan not the DSCR either
    assert (torn.loc[torn.input.isin(["policy loan rate", "fx (KRW/USD)"]), "swing"] == 0).all()
    for a in apps:
        if a.loan_request_krw_bn <= 0:
            r = t.loc[(a.id, "policy loan rate")]
            assert np.isnan(r["low_min_dscr"]) and np.isnan(r["high_min_dscr"])
    assert (t.xs("initial capex", level="input")["swing"] > 0).all()


def test_tornado_project_without_loan(apps, scenario, ref):
    a = dataclasses.replace(apps[0], id="NOLOAN", loan_request_krw_bn=0.0)
    t = unc.tornado([a], scenario, ref).set_index("input")
    assert t.loc["policy loan rate", "swing"] == 0
    assert np.isnan(t.loc["policy loan rate", ["low_min_dscr", "high_min_dscr", "base_min_dscr"]].astype(float)).all()


def test_spider(apps, scenario, ref, ev):
    sp = unc.spider(apps[:4], scenario, ref)
    at1 = sp[sp.multiplier == 1.0]
    for _, g in at1.groupby("input"):
        np.testing.assert_allclose(g["npv_usd_m"].to_numpy(), ev.metrics["npv_usd_m"].to_numpy()[:4], rtol=1e-9, atol=1e-9)
    cap = sp[sp.input == "initial capex"].pivot(index="multiplier", columns="id", values="npv_usd_m")
    assert (np.diff(cap.to_numpy(), axis=0) <= 1e-9).all()  # more capex, less NPV


def test_tile_inputs_keeps_byproducts(apps, scenario, ref):
    from evaluator import cashflow
    inp = cashflow.resolve_inputs(apps, scenario, ref)
    idx = np.array([i for i, a in enumerate(apps) if a.by_products][:2] + [0])
    tiled = unc.tile_inputs(inp, idx, 3)
    base = cashflow.build(inp, first_year=scenario.first_year)
    t = cashflow.build(tiled, first_year=scenario.first_year)
    T = t.n_periods
    np.testing.assert_allclose(t.fcf_usd_m, np.repeat(base.fcf_usd_m[idx][:, :T], 3, axis=0))


def test_cli_simulate_json():
    out = subprocess.run([sys.executable, "-m", "evaluator", "simulate", str(SAMPLE), "--paths", "200",
                          "--seed", "3", "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode in (0, 3), out.stderr
    data = json.loads(out.stdout)
    assert data["summary"]["paths"] == 200
    assert {"id", "npv_p10_usd_m", "prob_npv_negative"} <= set(data["applications"][0])


@pytest.mark.parametrize("vol_scale", [1.0, 2.0])
def test_fast_path_equals_tiled_reference(apps, scenario, ref, vol_scale):
    """The linear-coefficient path reproduces the tiled cashflow.build path (same seed, same
    draws): NPV, min DSCR and IRR per (project, path) for every sample application, including
    delays, recovery caps and by-products (vol_scale 2 makes delays and capped recoveries
    frequent), plus two edge cases of the kernel's algebra: a 100 % royalty (no taxable
    revenue) and no working capital."""
    edge = [dataclasses.replace(apps[0], id="EDGE-ROY", royalty_rate=1.0),
            dataclasses.replace(next(a for a in apps if a.by_products), id="EDGE-WC", working_capital_share=0.0)]
    sel = list(apps) + edge
    kw = dict(n_paths=300, seed=11, chunk_paths=120, irr_paths=40, vol_scale=vol_scale)
    fast = unc.simulate_paths(sel, scenario, ref, method="fast", **kw)
    slow = unc.simulate_paths(sel, scenario, ref, method="reference", **kw)
    scale = float(np.abs(slow.npv_usd_m).max())
    np.testing.assert_allclose(fast.npv_usd_m, slow.npv_usd_m, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_array_equal(np.isnan(fast.min_dscr), np.isnan(slow.min_dscr))
    np.testing.assert_allclose(fast.min_dscr, slow.min_dscr, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.irr, slow.irr, rtol=1e-9, atol=1e-12)
    assert np.isfinite(fast.npv_usd_m).all() and np.isfinite(fast.irr).any()


def test_one_thread_and_two_lanes_give_identical_results(apps, scenario, ref, monkeypatch):
    """The kernel's second lane (a thread sharing the batches and their IRR runs) changes
    nothing: per-path NPV, min DSCR and IRR equal to the bit, and the progress ends at 1."""
    kw = dict(n_paths=400, seed=9, chunk_paths=100, irr_paths=150, vol_scale=1.5)
    monkeypatch.setattr(kernel, "FAST_BATCH_ROWS", 700)          # several batches per lane
    seen = []
    two = unc.simulate_paths(apps, scenario, ref, progress=seen.append, lanes=2, **kw)
    one = unc.simulate_paths(apps, scenario, ref, lanes=1, **kw)
    for key in ("npv_usd_m", "min_dscr", "irr"):
        np.testing.assert_array_equal(getattr(two, key), getattr(one, key))
    assert np.isfinite(two.irr).any()
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_lanes_raise_the_first_error_and_stop_the_other_lane():
    from concurrent.futures import ThreadPoolExecutor
    seen = []

    def fails_here(k, stop):
        if k == 0:
            raise ValueError("lane 0")
        for _ in range(500):                    # the other lane checks `stop` between its batches
            if stop.is_set():
                seen.append("stopped")
                return
            time.sleep(0.01)

    def fails_there(k, stop):
        if k == 1:
            raise RuntimeError("lane 1")
        seen.append("lane 0 done")

    with ThreadPoolExecutor(max_workers=1) as pool:
        with pytest.raises(ValueError, match="lane 0"):
            kernel.on_lanes(fails_here, pool)
        with pytest.raises(RuntimeError, match="lane 1"):
            kernel.on_lanes(fails_there, pool)
    assert seen == ["stopped", "lane 0 done"]


def test_antithetic_pairs_mirror_the_shocks(ref):
    """Path h + j takes the negated shocks of path j (h = ceil(B / 2)); an odd block keeps its
    middle path unpaired; without antithetic pairs the halves are independent."""
    proc = unc.load_price_processes(ref)
    rng = np.random.Generator(np.random.PCG64(3))
    eps = processes.ou_shocks(rng, proc, 7, 5, antithetic=True)
    np.testing.assert_array_equal(eps[:, :, 4:], -eps[:, :, :3])
    assert not np.allclose(eps[:, :, 3], 0.0)
    rng = np.random.Generator(np.random.PCG64(3))
    ind = processes.ou_shocks(rng, proc, 8, 5, antithetic=False)
    assert not np.allclose(ind[:, :, 4:], -ind[:, :, :4])
    stages = ["exploration", "production"]
    cap, opx, rec, delay = processes.project_draws(np.random.default_rng(4), stages, 9, 1.0, unc.PROJECT_RISKS)
    # log multipliers mirror around their log-mean; delays use u and 1 - u
    params = processes.stage_params(stages, 1.0, unc.PROJECT_RISKS)
    mu = params["mu"][:, :, 0]
    np.testing.assert_allclose(np.log(cap[:, 5:]) - mu[0][:, None], -(np.log(cap[:, :4]) - mu[0][:, None]), atol=1e-12)
    np.testing.assert_allclose(np.log(rec[:, 5:]) - mu[2][:, None], -(np.log(rec[:, :4]) - mu[2][:, None]), atol=1e-12)
    assert delay.dtype.kind == "i" and delay.min() >= 0


def test_antithetic_and_independent_paths_agree_within_sampling_error(apps, scenario, ref, sim):
    ind = unc.simulate(apps, scenario, ref, n_paths=2000, seed=5, irr_paths=0, antithetic=False)
    se = np.sqrt(sim.summary["npv_sd_usd_m"] ** 2 / 2000 + ind.summary["npv_sd_usd_m"] ** 2 / 2000)
    diff = (sim.summary["npv_mean_usd_m"] - ind.summary["npv_mean_usd_m"]).abs()
    assert (diff <= 4 * se + 1e-9).all(), (diff / se).max()
    sd_ratio = ind.summary["npv_sd_usd_m"] / sim.summary["npv_sd_usd_m"]
    assert sd_ratio.between(0.8, 1.25).all(), sd_ratio.describe()


def test_row_quantiles_match_numpy():
    """The one-partition quantiles and the sort-based nan-quantiles are numpy's 'linear' method."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 10, 11, 1001):
        x = rng.normal(size=(6, n))
        x[:, ::3] = 0.25                                   # ties
        q, tail = statistics.row_quantiles(x, [0.1, 0.5, 0.9], tail=max(1, n // 10))
        np.testing.assert_array_equal(q, np.quantile(x, [0.1, 0.5, 0.9], axis=1))
        np.testing.assert_allclose(tail, np.sort(x, axis=1)[:, :max(1, n // 10)].mean(axis=1), rtol=1e-14)
        y = x.copy()
        y[rng.random(y.shape) < 0.3] = np.nan
        y[0] = np.nan
        with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
            expect = np.nanquantile(y, [0.1, 0.5, 0.9], axis=1)
        np.testing.assert_array_equal(statistics.nan_row_quantiles(y, [0.1, 0.5, 0.9]), expect)


def test_row_sd_matches_numpy():
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(130, 501))      # more rows than one chunk of 64
    np.testing.assert_allclose(statistics.row_sd(x, x.mean(axis=1)), x.std(axis=1, ddof=1), rtol=1e-13)


def test_time_major_tax_base_matches_cashflow_identity():
    from evaluator import cashflow
    x = np.random.default_rng(0).normal(size=(500, 30)) * 10
    X = np.vstack([np.zeros((1, 500)), np.cumsum(x, axis=1).T])      # cumulative sums, time-major
    kernel.tax_base_time_major(X)
    np.testing.assert_allclose(np.diff(X, axis=0), cashflow.loss_carried_forward_tax_base(x).T, atol=1e-9)
    # columns sorted by length, each carried only over its own years (the kernel's prefix rule)
    lengths = np.sort(np.random.default_rng(1).integers(1, 31, 500))[::-1]
    X = np.vstack([np.zeros((1, 500)), np.cumsum(x, axis=1).T])
    n_cols = [500] + [int((lengths >= k).sum()) for k in range(1, 31)]
    kernel.tax_base_time_major(X, n_cols)
    for j in (0, 250, 499):
        L = lengths[j]
        np.testing.assert_allclose(np.diff(X[:L + 1, j]), cashflow.loss_carried_forward_tax_base(x[j:j + 1, :L])[0],
                                   atol=1e-9)


def test_fast_equals_reference_on_every_new_model_feature(apps, scenario, ref):
    """Issue 16: capital and grade schedules, price paths (primary and by-products), currency,
    every fiscal regime and a production tax credit. The kernel evaluates the linear ones itself
    (a gross-revenue royalty as its equivalent share of net revenue, declining-balance and
    units-of-production depreciation read off the model); for profit-based and sliding
    royalties, minimum royalties, limited or capped losses, depletion and tax credits it falls
    back to the reference path with the same draws, and the result says so per project."""
    base = apps[0]
    by = next(a for a in apps if a.by_products)
    long_ = dataclasses.replace(base, construction_years=2)
    variants = {
        "CAPEX-SCHED": dataclasses.replace(long_, capex_schedule_usd_m=(100.0, 120.0, 0.0, 60.0)),
        "GRADE-SCHED": dataclasses.replace(base, grade_schedule=(base.head_grade * 1.3, base.head_grade * 0.7)),
        "BY-PATH": by,
        "AUD": dataclasses.replace(base, currency="AUD"),
        "AUS-WA": dataclasses.replace(base, country_iso3="AUS", fiscal_region="AUS-WA"),
        "AUS-NT": dataclasses.replace(base, country_iso3="AUS", fiscal_region="AUS-NT"),
        "AUS-NT-1982": dataclasses.replace(base, country_iso3="AUS", fiscal_region="AUS-NT-1982"),
        "USA": dataclasses.replace(base, country_iso3="USA", fiscal_region="USA"),
        "USA-NV": dataclasses.replace(base, country_iso3="USA", fiscal_region="USA-NV"),
        "VNM": dataclasses.replace(base, country_iso3="VNM", fiscal_region="VNM"),
        "LAO": dataclasses.replace(base, country_iso3="LAO", fiscal_region="LAO"),
        "IDN-NI": dataclasses.replace(base, country_iso3="IDN", fiscal_region="IDN", mineral="nickel", ree_basket=(),
                                      head_grade=1.5),
        "45X": dataclasses.replace(base, production_tax_credit_share=0.10),
    }
    sel = [dataclasses.replace(a, id=k) for k, a in variants.items()]
    minerals = {base.mineral, "nickel"} | {b.mineral for b in by.by_products}
    flat = {m: cashflow.resolve_inputs([dataclasses.replace(base, mineral=m, ree_basket=())], scenario, ref)
            .price_usd_per_t[0] for m in minerals}
    scen = scenario.replace(price_path_usd_per_t={m: {2027: p, 2030: 1.4 * p} for m, p in flat.items()})
    kw = dict(n_paths=200, seed=5, chunk_paths=80, irr_paths=30, vol_scale=1.5)
    fast = unc.simulate_paths(sel, scen, ref, method="fast", **kw)
    slow = unc.simulate_paths(sel, scen, ref, method="reference", **kw)
    scale = float(np.abs(slow.npv_usd_m).max())
    for i, k in enumerate(fast.ids):
        np.testing.assert_allclose(fast.npv_usd_m[i], slow.npv_usd_m[i], rtol=1e-9, atol=1e-9 * scale, err_msg=k)
        np.testing.assert_allclose(fast.min_dscr[i], slow.min_dscr[i], rtol=1e-9, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(fast.irr[i], slow.irr[i], rtol=1e-9, atol=1e-12, err_msg=k)
    by_method = dict(zip(fast.ids, fast.evaluated_by))
    for k in ("CAPEX-SCHED", "GRADE-SCHED", "BY-PATH", "AUD", "AUS-WA", "AUS-NT"):
        assert by_method[k] == "fast kernel", k
    for k, why in (("AUS-NT-1982", "profit-based"), ("USA", "percentage depletion"), ("USA-NV", "profit-based"),
                   ("VNM", "loss carry-forward limit"), ("LAO", "loss carry-forward limit"),
                   ("IDN-NI", "sliding"), ("45X", "production tax credit")):
        assert by_method[k].startswith("reference path") and why in by_method[k], k
    res = unc.simulate(sel[:2] + sel[6:7], scen, ref, n_paths=50, seed=1, irr_paths=0)
    assert list(res.summary["evaluated_by"]) == ["fast kernel", "fast kernel", by_method["AUS-NT-1982"]]


def test_other_debt_enters_the_simulated_dscr_through_the_reference_path(apps, scenario, ref):
    """The simulated minimum DSCR covers the same debt as evaluate's (the policy loan and other
    debt ranking at or above it): with zero volatility it equals evaluate's, and the project is
    evaluated by the reference path (the kernel scales only the KRW policy loan by FX)."""
    from evaluator.evaluate import evaluate
    a = next(x for x in apps if x.loan_request_krw_bn > 0)
    with_debt = dataclasses.replace(a, id="SENIOR", senior_debt_usd_m=50.0, senior_debt_rate=0.07,
                                    senior_debt_tenor_years=8, senior_debt_grace_years=2)
    sel = [a, with_debt]
    fast = unc.simulate_paths(sel, scenario, ref, n_paths=20, seed=2, irr_paths=0, vol_scale=0.0)
    ev = evaluate(sel, scenario, ref).metrics
    np.testing.assert_allclose(fast.min_dscr[:, 0], ev.min_dscr.to_numpy(), rtol=1e-9)
    assert fast.evaluated_by == ("fast kernel", "reference path (other debt in the DSCR)")
    assert fast.min_dscr[1, 0] < fast.min_dscr[0, 0]
