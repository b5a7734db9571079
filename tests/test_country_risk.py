"""Country risk score and loan expected loss.

Reference inputs: WGI 2023 estimates (World Bank WGI, 2024 release), OECD Country Risk
Classification valid 2026-01-30, Damodaran country risk premiums (January 2024), as curated in
``evaluator/data/countries.csv``; weights from ``evaluator/data/country_risk_weights.csv``
(0.40 CRC, 0.30 WGI mean, 0.30 CRP, cap 15 %). Hand calculations are spelled out in each test.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from evaluator import country_risk as cr
from evaluator.reference import ReferenceDataError, load_reference
from models.scenario import default_scenario


@pytest.fixture(scope="module")
def ref():
    return load_reference()


# Australia: OECD CRC 0 (high-income OECD); WGI 2023 VA 1.51, PV 0.92, GE 1.59, RQ 1.94, RL 1.52,
# CC 1.78; Damodaran CRP 0 (Aaa). Laos: CRC 7; WGI -1.63, 0.81, -0.64, -0.93, -0.83, -0.97;
# CRP 14.628 % (Damodaran Jan 2024, Caa2/Caa3 band).
AUS = dict(crc=0, wgi=(1.51, 0.92, 1.59, 1.94, 1.52, 1.78), crp=0.0)
LAO = dict(crc=7, wgi=(-1.63, 0.81, -0.64, -0.93, -0.83, -0.97), crp=0.14628)


def _by_hand(crc, wgi, crp):
    s_crc = 100 * crc / 7
    s_wgi = 100 * (2.5 - sum(wgi) / 6) / 5
    s_crp = 100 * min(crp / 0.15, 1.0)
    return 0.40 * s_crc + 0.30 * s_wgi + 0.30 * s_crp


@pytest.mark.parametrize("iso3, fig", [("AUS", AUS), ("LAO", LAO)])
def test_inputs_are_the_published_figures(ref, iso3, fig):
    row = ref.countries.loc[iso3]
    assert row["oecd_crc"] == fig["crc"]
    assert list(row[list(cr.WGI_COLUMNS)].astype(float)) == pytest.approx(fig["wgi"])
    assert row["crp"] == pytest.approx(fig["crp"], abs=5e-6)


def test_country_score_by_hand(ref):
    # AUS: 0.4*0 + 0.3*100*(2.5-1.543333)/5 + 0.3*0 = 0.3*19.1333 = 5.74
    # LAO: 0.4*100 + 0.3*100*(2.5+0.698333)/5 + 0.3*100*0.14628/0.15 = 40 + 19.19 + 29.256 = 88.446
    got = cr.country_risk_score(ref, ["AUS", "LAO"])
    assert got[0] == pytest.approx(_by_hand(**AUS), abs=1e-9) == pytest.approx(5.74, abs=1e-9)
    assert got[1] == pytest.approx(_by_hand(**LAO), abs=1e-4) == pytest.approx(88.446, abs=1e-3)


def test_missing_components_are_reweighted(ref):
    # Greenland: no OECD category, no Damodaran premium -> the WGI component alone.
    # Afghanistan: no premium -> (0.4 * s_crc + 0.3 * s_wgi) / 0.7.
    comp = cr.country_risk_components(ref, ["GRL", "AFG"])
    grl, afg = cr.country_risk_score(ref, ["GRL", "AFG"])
    assert np.isnan(comp.loc["GRL", "score_oecd_crc"]) and np.isnan(comp.loc["GRL", "score_crp"])
    assert grl == pytest.approx(comp.loc["GRL", "score_wgi_mean"])
    assert afg == pytest.approx((0.4 * 100 + 0.3 * comp.loc["AFG", "score_wgi_mean"]) / 0.7)


def test_premium_above_cap_scores_100(ref):
    comp = cr.country_risk_components(ref, list(ref.countries.index))
    over = comp["crp"] > 0.15
    assert over.any() and (comp.loc[over, "score_crp"] == 100).all()
    s = cr.country_risk_score(ref, list(ref.countries.index))
    assert np.all((s >= 0) & (s <= 100))


def test_unknown_country_is_a_clear_error(ref):
    with pytest.raises(ReferenceDataError, match="unknown country code.*'XXX'"):
        cr.country_risk_score(ref, ["AUS", "XXX"])


def test_risk_premium_unchanged(ref):
    # Damodaran Jan 2024: Laos 14.628 %, Australia 0; Greenland has no figure -> median fallback
    p = cr.risk_premium(ref, ["LAO", "AUS", "GRL"])
    assert p[0] == pytest.approx(0.14628, abs=5e-6) and p[1] == 0.0
    assert np.isfinite(p[2]) and p[2] > 0


# ----------------------------------------------------------------------------------------------
# monotonicity: a country worse on every component never has a lower score
# ----------------------------------------------------------------------------------------------
def _ordered_pairs(ref):
    c = ref.countries
    cols = ["oecd_crc", *cr.WGI_COLUMNS, "crp"]
    full = c[c[cols].notna().all(axis=1)][cols].astype(float)
    a = full.to_numpy()
    worse_risk = np.c_[a[:, :1], -a[:, 1:7], a[:, 7:]]  # higher = riskier on every column
    le = (worse_risk[:, None, :] <= worse_risk[None, :, :]).all(axis=2)
    i, j = np.nonzero(le & ~np.eye(len(a), dtype=bool))
    return [(full.index[x], full.index[y]) for x, y in zip(i, j)]


@pytest.fixture(scope="module")
def ordered_pairs(ref):
    pairs = _ordered_pairs(ref)
    assert len(pairs) > 100
    return pairs


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_riskier_country_never_scores_lower(ref, ordered_pairs, data):
    safer, riskier = data.draw(st.sampled_from(ordered_pairs))
    s = cr.country_risk_score(ref, [safer, riskier])
    assert s[1] >= s[0] - 1e-12


@settings(max_examples=100, deadline=None)
@given(iso3=st.sampled_from(["AUS", "IDN", "VNM", "LAO", "COD", "CHL", "KAZ", "MNG"]),
       component=st.sampled_from(["oecd_crc", *cr.WGI_COLUMNS, "crp"]),
       step=st.floats(0.0, 3.0))
def test_worsening_one_component_never_lowers_score(ref, iso3, component, step):
    c = ref.countries.copy()
    before = cr.country_risk_score(ref, [iso3])[0]
    if component == "oecd_crc":
        c.loc[iso3, component] = min(7.0, float(c.loc[iso3, component]) + round(step))
    elif component == "crp":
        c.loc[iso3, component] = float(c.loc[iso3, component]) + step / 10
    else:
        c.loc[iso3, component] = float(c.loc[iso3, component]) - step
    after = cr.country_risk_score(dataclasses.replace(ref, countries=c), [iso3])[0]
    assert after >= before - 1e-12


# ----------------------------------------------------------------------------------------------
# loan expected loss
# ----------------------------------------------------------------------------------------------
def test_exploration_loss_2026_vs_2025_terms(ref):
    # write-off up to 90 % (2026 terms), 80 % (2024-25), 70 % (2017-23) (loan_terms.csv); the rest
    # is repaid within 5 years at the borrower's own default risk (3 %/yr, LGD 45 %):
    # pd_b(5) = 1 - 0.97^5 = 0.1412660; EL = 8 x 0.6 x (w + (1 - w) x 0.1412660 x 0.45)
    pd5 = 1 - 0.97 ** 5
    s26 = default_scenario()
    kw = dict(iso3s=["VNM"], stage=["exploration"], loan_krw_bn=[8.0], success_probability=[0.4],
              min_dscr=[-25.0], tenor_years=[7])
    for terms, w in (("2026", 0.9), ("2024-25", 0.8), ("2017-23", 0.7)):
        e = cr.loan_expected_loss(ref, s26.with_loan_terms(terms), **kw)
        assert e["expected_loss_krw_bn"].iloc[0] == pytest.approx(8 * 0.6 * (w + (1 - w) * pd5 * 0.45), rel=1e-12)
    e26 = cr.loan_expected_loss(ref, s26, **kw)
    assert e26["expected_loss_krw_bn"].iloc[0] == pytest.approx(4.3505097, rel=1e-6)
    assert e26["pd_cumulative"].iloc[0] == pytest.approx(0.6)


def test_later_stage_loss_by_hand(ref):
    # Indonesia: OECD CRC 3 -> country grade PD 0.20 %/yr (BBB), below the project-finance floor
    # 0.69 %/yr (Moody's 2017, PF bank loans 1983-2015: 10-year cumulative 6.7 % -> -ln(0.933)/10),
    # so annual PD 0.69 % (pd_by_oecd.csv, issue 22 calibration); min DSCR 1.2 in band [1.0, 1.3)
    # -> x1.5 (pd_dscr_multipliers.csv) -> 1.035 %/yr; 10-yr cumulative 1 - 0.98965^10 = 0.0988102;
    # EL = 40 x 0.0988102 x 0.45 (Basel F-IRB LGD) = 1.778583
    s = default_scenario()
    e = cr.loan_expected_loss(ref, s, iso3s=["IDN"], stage=["development"], loan_krw_bn=[40.0],
                              success_probability=[np.nan], min_dscr=[1.2], tenor_years=[10])
    assert e["annual_pd"].iloc[0] == pytest.approx(0.0069)
    assert ref.pd_by_oecd.at[3, "country_grade_pd"] == pytest.approx(0.002)
    assert e["pd_multiplier"].iloc[0] == 1.5
    assert e["pd_cumulative"].iloc[0] == pytest.approx(0.0988101535, rel=1e-8)
    assert e["expected_loss_krw_bn"].iloc[0] == pytest.approx(1.7785827634, rel=1e-8)
    # loan terms do not change a later-stage loss (LGD, not the write-off share)
    e25 = cr.loan_expected_loss(ref, s.with_loan_terms("2025"), iso3s=["IDN"], stage=["development"],
                                loan_krw_bn=[40.0], success_probability=[np.nan], min_dscr=[1.2],
                                tenor_years=[10])
    assert e25["expected_loss_krw_bn"].iloc[0] == pytest.approx(1.7785827634, rel=1e-8)
    # a loan that defaults on the base case (evaluator.credit) has a cumulative PD of 1
    d = cr.loan_expected_loss(ref, s, iso3s=["IDN"], stage=["development"], loan_krw_bn=[40.0],
                              success_probability=[np.nan], min_dscr=[0.5], tenor_years=[10],
                              base_case_default=[True])
    assert d["pd_cumulative"].iloc[0] == 1.0 and d["expected_loss_krw_bn"].iloc[0] == pytest.approx(18.0)


def test_pd_calibration_matches_moodys_project_finance_study(ref):
    # Moody's (2017), Default and Recovery Rates for Project Finance Bank Loans, 1983-2015: 10-year
    # cumulative default rate 6.7 % for the whole sample. A loan at lender comfort cover (DSCR
    # 1.3-1.6) in a high-income OECD country reproduces it; a very well covered one (DSCR >= 3) is
    # at about 2 %, the single-A-like level the study's seasoned loans reach.
    s = default_scenario()
    e = cr.loan_expected_loss(ref, s, iso3s=["AUS", "AUS"], stage=["production"] * 2, loan_krw_bn=[10.0, 10.0],
                              success_probability=[np.nan] * 2, min_dscr=[1.4, 5.0], tenor_years=[10, 10])
    assert e["pd_cumulative"].iloc[0] == pytest.approx(0.067, abs=0.001)
    assert 0.015 < e["pd_cumulative"].iloc[1] < 0.025


def test_loss_is_monotone_in_dscr_and_zero_without_loan(ref):
    s = default_scenario()
    e = cr.loan_expected_loss(ref, s, iso3s=["KAZ"] * 4, stage=["production"] * 4,
                              loan_krw_bn=[30.0, 30.0, 30.0, 0.0], success_probability=[np.nan] * 4,
                              min_dscr=[0.8, 1.4, 2.0, 2.0], tenor_years=[10] * 4)
    el = e["expected_loss_krw_bn"].to_numpy()
    assert el[0] > el[1] > el[2] > 0 and el[3] == 0
    assert np.isnan(e["expected_loss_share"].iloc[3])
