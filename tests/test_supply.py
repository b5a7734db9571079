"""Tests for evaluator.supply: concentration measures, displacement rules, benefits, projection.

Reference values:
* HHI, HHI_WGI: European Commission (2017), Methodology for establishing the EU list of critical
  raw materials (HHI_WGI = sum s_c^2 x WGI_c, WGI rescaled 0-10, 10 worst) - worked by hand below.
* GeoPolRisk: Gemechu et al. (2016) J. Ind. Ecol. 20(1) 154-165 with domestic production 0 and
  the WGI normalised to 0-1 (Santillan-Saldivar et al. 2021) - worked by hand below.
* China shares: evaluator/data/korea_china_shares_published.csv (KITA via BusinessKorea 2023;
  Korea Customs Service 2024) against the bundled CEPII BACI HS92 V202401b 2024 figures.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator import supply
from evaluator.reference import load_reference
from models.scenario import Scenario

#: Korea 2024 HS 282520 rows of the BACI snapshot, copied into the repo (source in the file header)
BACI_LIOH = Path(__file__).resolve().parent / "data" / "baci_2024_korea_lithium_hydroxide_282520.csv"


@pytest.fixture(scope="module")
def scen():
    return Scenario()


REF = load_reference()
SCEN = Scenario()


# ----------------------------------------------------------------------------------------------
# measures on a worked example
# ----------------------------------------------------------------------------------------------
def test_measures_worked_example_by_hand():
    shares = pd.Series({"CHN": 0.6, "AUS": 0.3, "CHL": 0.1})
    wgi = pd.Series({"CHN": 6.0, "AUS": 2.0, "CHL": 3.0})
    m = supply.measures(shares, wgi, hhi_production=0.5)
    # HHI = 0.6^2 + 0.3^2 + 0.1^2 = 0.36 + 0.09 + 0.01 = 0.46
    assert m["hhi"] == pytest.approx(0.46)
    # HHI_WGI (EU 2017) = 0.36*6 + 0.09*2 + 0.01*3 = 2.16 + 0.18 + 0.03 = 2.37
    assert m["hhi_wgi"] == pytest.approx(2.37)
    # GeoPolRisk = HHI_prod * sum s_c * WGI_c/10 = 0.5 * (0.6*0.6 + 0.3*0.2 + 0.1*0.3)
    #            = 0.5 * (0.36 + 0.06 + 0.03) = 0.5 * 0.45 = 0.225
    assert m["geopolrisk"] == pytest.approx(0.225)
    assert m["china_share"] == pytest.approx(0.6)
    assert m["top_supplier"] == "CHN" and m["top_share"] == pytest.approx(0.6)
    assert m["n_sources"] == 3


def test_measures_normalises_and_ignores_zero_partners():
    m = supply.measures(pd.Series({"AUS": 2.0, "CHL": 2.0, "ZZZ": 0.0}), pd.Series({"AUS": 1.0, "CHL": 1.0, "ZZZ": 9.0}))
    # shares 0.5/0.5 -> HHI 0.25 + 0.25 = 0.5; no China -> 0; no production HHI -> NaN
    assert m["hhi"] == pytest.approx(0.5) and m["china_share"] == 0.0 and m["n_sources"] == 2
    assert np.isnan(m["geopolrisk"])


def test_wgi_rescaling_by_hand(ref):
    cols = list(supply.WGI_COLUMNS)
    c = pd.DataFrame({k: [0.5, -2.5, 2.5, 2.7, -1.0] for k in cols}, index=["XXA", "XXB", "XXC", "XXD", "XXE"])
    c.loc["XXE", "wgi_va"] = np.nan  # mean of the other five = -1.0
    r = dataclasses.replace(ref, countries=c)
    w = supply.wgi_scaled(r)
    # (2.5 - 0.5) * 2 = 4; (2.5 + 2.5) * 2 = 10; (2.5 - 2.5) * 2 = 0; (2.5 - 2.7) * 2 = -0.4 -> clip 0
    # (2.5 + 1.0) * 2 = 7
    assert w.to_dict() == pytest.approx({"XXA": 4.0, "XXB": 10.0, "XXC": 0.0, "XXD": 0.0, "XXE": 7.0})
    # unknown partner -> median of the countries (0, 0, 4, 7, 10 -> 4)
    assert supply.wgi_scaled(r, ["OTH"])["OTH"] == pytest.approx(4.0)


def test_production_hhi_matches_shares(ref):
    p = ref.production_shares[ref.production_shares.mineral == "graphite"]
    s = p.share / p.share.sum()
    assert supply.production_hhi(ref, "graphite") == pytest.approx(float((s ** 2).sum()))
    assert 0 < supply.production_hhi(ref, "graphite") <= 1


# ----------------------------------------------------------------------------------------------
# published China shares (tolerance 3 percentage points: BACI calendar-year 2024 reconciled
# CIF/FOB flows vs partial-year customs figures reported in the press)
# ----------------------------------------------------------------------------------------------
TOL_PP = 3.0


def _published(ref, mineral, scope):
    p = ref.china_shares_published
    return p[(p.mineral == mineral) & (p["scope"] == scope)].china_share_pct.tolist()


def test_natural_graphite_china_share_matches_published(ref):
    b = supply.baseline(ref, "graphite", basis="value", year=2024)
    got = 100 * b.measures["china_share"]  # bundled BACI 2024, HS 250410 + 250490: 93.3 %
    assert got == pytest.approx(93.25, abs=0.1)
    for pub in _published(ref, "graphite", "natural graphite"):  # KITA 2023-01..05: 91.0 %
        assert abs(got - pub) <= TOL_PP


def test_lithium_hydroxide_china_share_matches_published(ref):
    from evaluator import customs

    d = pd.read_csv(BACI_LIOH, dtype={"hs6_hs92": str}, comment="#")
    d = d[(d.year == 2024) & (d.hs6_hs92 == "282520")]
    # the BACI rows in Comtrade layout (values in USD, weights in kg), read through customs.py
    ct = pd.DataFrame({"RefYear": d.year, "FlowCode": "M", "PartnerCode": 1, "PartnerISO": d.exporter_iso3,
                       "PartnerDesc": d.exporter_name, "CmdCode": d.hs6_hs92, "NetWgt": d.quantity_t * 1000,
                       "PrimaryValue": d.value_kusd * 1000, "ReporterISO": "KOR"})
    imp = customs.read_comtrade(ct.to_csv(index=False).encode(), filename="baci_lioh.csv", ref=ref)
    r2 = customs.with_imports(ref, imp)
    got = 100 * supply.baseline(r2, "lithium", basis="value", year=2024).measures["china_share"]
    assert got == pytest.approx(84.2, abs=0.1)  # by hand from the snapshot: 84.196 %
    pubs = _published(ref, "lithium", "lithium hydroxide")  # KITA 84.0 %, KCS 2024-01..11 82.3 %
    assert pubs and all(abs(got - p) <= TOL_PP for p in pubs)


def test_baseline_assumed_mineral_has_no_volumes(ref):
    b = supply.baseline(ref, "gallium")
    assert b.assumed and b.measures["china_share"] == pytest.approx(0.98)
    assert np.isnan(b.total)


# ----------------------------------------------------------------------------------------------
# displacement rules by hand
# ----------------------------------------------------------------------------------------------
V = pd.Series({"CHN": 60.0, "AUS": 30.0, "CHL": 10.0})


def test_top_supplier_rule_with_remainder():
    out = supply.apply_additions(V, {"VNM": 70.0}, "top_supplier")
    # CHN 60 - 60 = 0; remainder 10 displaces AUS: 30 - 10 = 20; CHL 10; VNM + 70
    assert out.to_dict() == pytest.approx({"CHN": 0.0, "AUS": 20.0, "CHL": 10.0, "VNM": 70.0})


def test_top_supplier_rule_host_is_top_changes_nothing():
    out = supply.apply_additions(V, {"CHN": 10.0}, "top_supplier")
    assert out.to_dict() == pytest.approx(V.to_dict())  # 60 - 10 + 10


def test_pro_rata_rule():
    out = supply.apply_additions(V, {"VNM": 20.0}, "pro_rata")
    # each existing source loses 20/100 = 20 %: 48, 24, 8; VNM 20
    assert out.to_dict() == pytest.approx({"CHN": 48.0, "AUS": 24.0, "CHL": 8.0, "VNM": 20.0})


def test_additive_rule_existing_host_grows():
    out = supply.apply_additions(V, {"AUS": 20.0}, "additive")
    assert out.to_dict() == pytest.approx({"CHN": 60.0, "AUS": 50.0, "CHL": 10.0})


def test_addition_larger_than_imports_never_negative():
    for rule in ("top_supplier", "pro_rata"):
        out = supply.apply_additions(V, {"VNM": 150.0}, rule)
        assert (out >= 0).all()
        assert out.to_dict() == pytest.approx({"CHN": 0.0, "AUS": 0.0, "CHL": 0.0, "VNM": 150.0})


def test_unknown_rule_rejected():
    with pytest.raises(ValueError, match="displacement rule"):
        supply.apply_additions(V, {"VNM": 1.0}, "bogus")


# ----------------------------------------------------------------------------------------------
# portfolio, project benefits, joint benefit
# ----------------------------------------------------------------------------------------------
def _offtake(rows):
    return pd.DataFrame(rows, columns=["id", "mineral", "country_iso3", "korea_offtake_t_per_year"])


def test_portfolio_effect_graphite_by_hand(ref, scen):
    b = supply.baseline(ref, "graphite")
    total, chn = b.total, float(b.volumes["CHN"])
    add = 0.1 * total  # graphite import_t_per_product_t = 1.0
    off = _offtake([("A", "graphite", "MOZ", add / 2), ("B", "graphite", "MOZ", add / 2)])
    pe = supply.portfolio_effect(ref, scen, off)
    row = pe.loc["graphite"]
    # top_supplier rule: China loses the whole added volume, total unchanged
    assert row.china_share_after == pytest.approx((chn - add) / total)
    assert row.added_volume == pytest.approx(add)
    assert row.n_projects == 2 and not row.meets_target_before
    assert row.gap_to_target_before == pytest.approx(row.top_share_before - 0.5)


def test_value_basis_uses_price(ref):
    sc = Scenario(import_basis="value")
    off = _offtake([("A", "graphite", "MOZ", 1000.0)]).assign(price_usd_per_t=2000.0)
    pe = supply.portfolio_effect(ref, sc, off)
    assert pe.loc["graphite", "added_volume"] == pytest.approx(1000 * 2000 / 1000)  # kUSD


def test_project_in_china_adds_nothing(ref, scen):
    off = _offtake([("CN", "graphite", "CHN", 5000.0), ("MZ", "graphite", "MOZ", 5000.0)])
    pb = supply.project_benefits(ref, scen, off)
    assert pb.loc["CN", "diversification_score"] == 0.0 and pb.loc["CN", "benefit_pp"] == 0.0
    assert pb.loc["MZ", "diversification_score"] > 0
    for rule in ("pro_rata", "additive"):
        pb = supply.project_benefits(ref, Scenario(displacement_rule=rule), off)
        assert pb.loc["CN", "diversification_score"] == 0.0
        assert supply.joint_benefit(ref, Scenario(displacement_rule=rule), off, ["CN"]) == 0.0


def test_score_scale_by_hand(ref, scen):
    b = supply.baseline(ref, "graphite")
    total, s0 = b.total, b.measures["top_share"]
    add = 0.05 * total  # cuts China's share by 5 pp under top_supplier
    pb = supply.project_benefits(ref, scen, _offtake([("A", "graphite", "MOZ", add)]))
    w = 0.8  # graphite: strategic
    progress = 0.05 / (s0 - 0.5)
    # 100 * w * (0.5 * min(1, 0.05 / 0.10) + 0.5 * progress)
    assert pb.loc["A", "diversification_score"] == pytest.approx(100 * w * (0.25 + 0.5 * progress))
    assert pb.loc["A", "benefit_pp"] == pytest.approx(100 * w * 0.05)
    assert supply.joint_benefit(ref, scen, _offtake([("A", "graphite", "MOZ", add)]), ["A"]) == pytest.approx(100 * w * 0.05)


def test_two_identical_projects_below_target_add_nothing(ref, scen):
    # copper: top supplier (Chile) is below 50 % already
    assert supply.baseline(ref, "copper").measures["top_share"] < 0.5
    off = _offtake([("A", "copper", "LAO", 20000.0), ("B", "copper", "LAO", 20000.0)])
    assert supply.joint_benefit(ref, scen, off, ["A", "B"]) == 0.0
    assert supply.joint_benefit(ref, scen, off, ["A"]) == 0.0


def test_joint_saturates_at_target(ref, scen):
    b = supply.baseline(ref, "graphite")
    big = b.total  # each alone displaces all Chinese graphite
    off = _offtake([("A", "graphite", "MOZ", big), ("B", "graphite", "TZA", big)])
    one = supply.joint_benefit(ref, scen, off, ["A"])
    both = supply.joint_benefit(ref, scen, off, ["A", "B"])
    assert both == pytest.approx(one)  # the whole gap is closed once, never twice
    assert one == pytest.approx(100 * 0.8 * (b.measures["top_share"] - 0.5))


MINERALS = ["graphite", "lithium", "rare_earths", "copper", "cobalt", "tungsten"]
HOSTS = ["VNM", "AUS", "CHN", "USA", "MOZ", "COD", "CHL"]
project = st.tuples(st.sampled_from(MINERALS), st.sampled_from(HOSTS), st.floats(0, 2e5, allow_nan=False))
rules = st.sampled_from(["top_supplier", "pro_rata", "additive"])
FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.sampled_from(MINERALS), st.sampled_from(HOSTS), st.floats(0, 1e5), st.floats(0, 1e5), rules)
def test_more_offtake_never_lowers_benefit(mineral, host, x, extra, rule):
    sc = Scenario(displacement_rule=rule)
    small = _offtake([("P", mineral, host, x)])
    large = _offtake([("P", mineral, host, x + extra)])
    a = supply.project_benefits(REF, sc, small).loc["P"]
    b = supply.project_benefits(REF, sc, large).loc["P"]
    assert b.diversification_score >= a.diversification_score - 1e-9
    assert b.benefit_pp >= a.benefit_pp - 1e-9
    assert supply.joint_benefit(REF, sc, large, ["P"]) >= supply.joint_benefit(REF, sc, small, ["P"]) - 1e-9
    assert 0.0 <= b.diversification_score <= 100.0


@FAST
@given(st.lists(project, min_size=1, max_size=6), rules)
def test_joint_benefit_at_most_sum_of_singles(projects, rule):
    sc = Scenario(displacement_rule=rule)
    off = _offtake([(f"P{i}", m, h, x) for i, (m, h, x) in enumerate(projects)])
    ids = list(off.id)
    joint = supply.joint_benefit(REF, sc, off, ids)
    singles = sum(supply.joint_benefit(REF, sc, off, [i]) for i in ids)
    assert 0.0 <= joint <= singles + 1e-9
    pb = supply.project_benefits(REF, sc, off)
    assert pb.benefit_pp.sum() == pytest.approx(singles)


@FAST
@given(project, st.lists(project, min_size=1, max_size=4), rules)
def test_score_independent_of_other_applications(first, others, rule):
    sc = Scenario(displacement_rule=rule)
    alone = _offtake([("A",) + first])
    crowd = _offtake([("A",) + first] + [(f"O{i}",) + p for i, p in enumerate(others)])
    a = supply.project_benefits(REF, sc, alone).loc["A"]
    b = supply.project_benefits(REF, sc, crowd).loc["A"]
    num = a.index[[isinstance(v, float) for v in a.values]]
    pd.testing.assert_series_equal(a[num].astype(float), b[num].astype(float))


# ----------------------------------------------------------------------------------------------
# projection by year
# ----------------------------------------------------------------------------------------------
def test_projection_reaches_steady_state_after_ramp_up(ref, scen):
    steady = 20000.0
    ramp = {2026: 0.0, 2027: 0.0, 2028: 0.5, 2029: 0.8}
    rows = [("A", "graphite", "MOZ", y, steady * ramp.get(y, 1.0)) for y in range(2026, 2036)]
    rows += [("B", "lithium", "AUS", y, 30000.0 * (y >= 2030)) for y in range(2026, 2036)]
    oby = pd.DataFrame(rows, columns=["id", "mineral", "country_iso3", "year", "korea_offtake_t"])
    pr = supply.projection_by_year(ref, scen, oby).set_index(["mineral", "year"])
    assert set(pr.index.get_level_values("year")) == set(range(2026, 2036))
    base = supply.baseline(ref, "graphite").measures
    assert pr.loc[("graphite", 2026), "china_share"] == pytest.approx(base["china_share"])
    assert pr.loc[("graphite", 2027), "china_share"] == pytest.approx(base["china_share"])
    s = pr.xs("graphite").china_share
    assert (s.diff().dropna() <= 1e-12).all()  # ramp-up only lowers China's share
    pe = supply.portfolio_effect(ref, scen, _offtake([("A", "graphite", "MOZ", steady), ("B", "lithium", "AUS", 30000.0)]))
    for m in ("graphite", "lithium"):
        for y in (2030, 2035):
            assert pr.loc[(m, y), "china_share"] == pytest.approx(pe.loc[m, "china_share_after"])
            assert pr.loc[(m, y), "top_share"] == pytest.approx(pe.loc[m, "top_share_after"])
    assert (pr.target_share == 0.5).all()
    assert pr.xs("graphite").loc[2030, "is_target_year"]


def test_helpers_from_evaluation(ref, scen):
    from evaluator.evaluate import evaluate
    from models.loader import load_applications

    res = load_applications(Path(__file__).resolve().parents[1] / "sample_projects" / "applications.csv", ref=ref)
    apps = res.applications[:4]
    ev = evaluate(apps, scen, ref)
    off = supply.offtake_from_evaluation(ev)
    assert list(off.columns) == ["id", "mineral", "country_iso3", "korea_offtake_t_per_year", "price_usd_per_t"]
    oby = supply.offtake_by_year_from_evaluation(ev)
    cf = ev.cashflows
    assert len(oby) == len(apps) * cf.n_periods
    i = 0
    got = oby[oby.id == cf.ids[i]].set_index("year").korea_offtake_t
    np.testing.assert_allclose(got.values, cf.korea_offtake_t[i])
    assert got.index[0] == scen.first_year - 1
    one = supply.offtake_by_year_from_evaluation(ev, ids=[cf.ids[1]])
    assert set(one.id) == {cf.ids[1]}
    pr = supply.projection_by_year(ref, scen, oby)
    assert pr.year.min() == scen.first_year - 1 and pr.year.max() == scen.horizon_year


@settings(max_examples=40, deadline=None)
@given(vols=st.lists(st.floats(0, 1000), min_size=1, max_size=6), add=st.floats(0, 3000),
       host=st.sampled_from(["CHN", "AUS", "VNM", "LAO", "USA"]), rule=st.sampled_from(["top_supplier", "pro_rata", "additive"]))
def test_fast_after_equals_apply_additions_then_measures(vols, add, host, rule):
    """The NumPy path used per project agrees with the documented pandas functions."""
    partners = ["CHN", "AUS", "CHL", "ARG", "ZAF", "BRA"][: len(vols)]
    v = pd.Series(vols, index=partners, dtype=float)
    if v.sum() <= 0:
        return
    wgi = supply.wgi_scaled(REF)
    base = supply.MineralSupply("x", "quantity", 2024, v, v / v.sum(), supply.measures(v / v.sum(), wgi.reindex(partners), hhi_production=0.3),
                                wgi, 0.3, False)
    fast = supply._after(base, pd.Series({host: add}), rule, 0.5)
    new = supply.apply_additions(v, {host: add}, rule)
    slow = supply.measures(new / new.sum(), wgi.reindex(new.index).fillna(float(wgi.median())), hhi_production=0.3)
    for k in ("china_share", "top_share", "hhi", "hhi_wgi", "geopolrisk", "n_sources"):
        assert fast[k] == pytest.approx(slow[k], rel=1e-12, abs=1e-15, nan_ok=True), k
    assert fast["top_supplier"] == slow["top_supplier"]
