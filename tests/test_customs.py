"""Tests for evaluator.customs (UN Comtrade-format extracts -> Korea's import table).

Files:
* tests/data/comtrade_sample.csv: 29 rows copied verbatim from
  ../shared/data/trade/japan_imports_by_partner_comtrade_2020_SCARCE.csv (UN Comtrade, Japan's
  2020 imports; HS 810520, 280530, 260200, 281820, 790111, 810600).
* tests/data/comtrade_korea_synthetic.csv: a synthetic Korea 2024 extract in the same layout,
  built so the China shares by value equal the published ones (lithium hydroxide 84 %, KITA
  2023; natural graphite 93 %, BACI 2024), with one unknown HS code, one unknown partner and one
  magnet row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evaluator import customs, supply
from evaluator.reference import load_reference

DATA = Path(__file__).resolve().parent / "data"
SAMPLE = DATA / "comtrade_sample.csv"
KOREA = DATA / "comtrade_korea_synthetic.csv"


@pytest.fixture(scope="module")
def ref():
    return load_reference()


def test_sample_extract_parsed(ref):
    imp = customs.read_comtrade(SAMPLE, ref=ref)
    t = imp.imports
    assert list(t.columns) == customs.IMPORT_COLUMNS
    assert set(t.mineral) == {"cobalt", "manganese", "rare_earths", "zinc"}
    # Australia -> Japan, HS 810520: NetWgt 249,000 kg, PrimaryValue 8,514,052.345 USD
    row = t[(t.mineral == "cobalt") & (t.partner_iso3 == "AUS")].iloc[0]
    assert row.quantity_t == pytest.approx(249.0) and row.value_kusd == pytest.approx(8514.052345)
    assert row.year == 2020
    # world rows (PartnerCode 0, W00) excluded: cobalt partner total 6,372,445 kg, not 8,097,138 + that
    assert t[t.mineral == "cobalt"].quantity_t.sum() == pytest.approx(6422.425)
    assert "W00" not in set(t.partner_iso3)
    text = " | ".join(imp.problems)
    assert "world-total" in text
    assert "281820" in text  # unknown HS code reported
    assert "810600 -> bismuth" in text  # mapped to a name that is not a mineral key
    assert "S19" in text  # unknown partner reported, kept
    assert "S19" in set(t.partner_iso3)
    assert "JPN" in text  # not Korea's imports: said so
    assert imp.reporters == ("JPN",)


def test_korea_extract_china_shares_and_with_imports(ref):
    imp = customs.read_comtrade(KOREA, ref=ref)
    assert imp.minerals == ["graphite", "lithium"]
    r2 = customs.with_imports(ref, imp)
    # per-mineral table: by hand lithium hydroxide CHN 840 / (840 + 100 + 40 + 20) = 0.84 (KITA 84 %)
    k = r2.korea_imports[(r2.korea_imports.mineral == "lithium") & (r2.korea_imports.year == 2024)]
    assert k.loc[k.partner_iso3 == "CHN", "value_kusd"].sum() / k.value_kusd.sum() == pytest.approx(0.84)
    # Brazil row: NetWgt 0 -> Qty 1,000,000 kg used -> 1,000 t
    assert imp.imports.set_index(["mineral", "partner_iso3"]).loc[("graphite", "BRA"), "quantity_t"] == pytest.approx(1000)
    # other minerals untouched, ref not mutated
    pd.testing.assert_frame_equal(r2.korea_imports[r2.korea_imports.mineral == "copper"].reset_index(drop=True),
                                  ref.korea_imports[ref.korea_imports.mineral == "copper"].reset_index(drop=True))
    assert 2019 in set(ref.korea_imports[ref.korea_imports.mineral == "lithium"].year)
    assert set(r2.korea_imports[r2.korea_imports.mineral == "lithium"].year) == {2024}
    text = " | ".join(imp.problems)
    assert "281820" in text and "_X" in text and "850511" in text


def test_chain_rows_replaced_code_by_code(ref):
    imp = customs.read_comtrade(KOREA, ref=ref)
    # magnets are counted in the chain (hs_content.csv has 850511); 281820 (aluminium oxide) has no factor
    assert imp.chain_codes == ["250410", "282520", "850511"]
    r2 = customs.with_imports(ref, imp)
    old, new = ref.supply_chain.imports, r2.supply_chain.imports
    for code in imp.chain_codes:
        assert set(new.loc[new.hs6 == code, "source_kind"]) == {"customs"}
        assert set(new.loc[new.hs6 == code, "year"]) == {2024}
    for code in ("283691", "250490", "380110", "284690"):  # other codes keep their bundled rows
        pd.testing.assert_frame_equal(new[new.hs6 == code].reset_index(drop=True), old[old.hs6 == code].reset_index(drop=True))
    assert set(old.loc[old.hs6 == "282520", "source_kind"]) == {"baci"}  # ref not mutated
    # by hand on the extract: lithium hydroxide in 2024, LCE 0.880 per t: China 60,000 t of 70,000 t
    v = supply.window_volumes(r2, "lithium", window=(2024, 2024))
    li2co3 = supply.chain_rows(ref, "lithium")
    li2co3 = li2co3[(li2co3.hs6 == "283691") & (li2co3.year == 2024)]
    chn = 60_000 * 0.880 + li2co3.loc[li2co3.partner_iso3 == "CHN", "units"].sum()
    assert v["CHN"] == pytest.approx(chn)
    # world row excluded: CHN 60 + CHL 6 + ARG 2.5 + USA 1.5 = 70 kt of hydroxide
    assert v.sum() == pytest.approx(70_000 * 0.880 + li2co3.units.sum())


def test_upload_brings_its_own_content_factor(ref):
    df = pd.read_csv(KOREA, dtype=str)
    extra = df[df.CmdCode == "281820"].assign(CmdCode="750120", Mineral="nickel", ContentFactor="0.40")
    new_code = df[df.CmdCode == "281820"].assign(CmdCode="381800", Mineral="graphite", ContentFactor="0.9")
    data = pd.concat([df, extra, new_code]).to_csv(index=False).encode()
    imp = customs.read_comtrade(data, filename="k.csv", ref=ref)
    assert {"750120", "381800"} <= set(imp.chain_codes)
    r2 = customs.with_imports(ref, imp)
    # 750120 is known (0.38 in hs_content.csv) but the upload's 0.40 wins; 381800 is new
    assert r2.supply_chain.hs_content.loc["750120", "content_factor"] == pytest.approx(0.40)
    assert r2.supply_chain.hs_content.loc["381800", "mineral"] == "graphite"
    rows = supply.chain_rows(r2, "nickel")
    assert rows.loc[rows.hs6 == "750120", "units"].sum() == pytest.approx(1000 * 0.40)  # 1,000,000 kg
    with pytest.raises(customs.CustomsError, match="content factors must be > 0"):
        bad = pd.concat([df, extra.assign(ContentFactor="-1")]).to_csv(index=False).encode()
        customs.read_comtrade(bad, filename="bad.csv", ref=ref)
    f = pd.DataFrame({"hs6": ["281820"], "mineral": ["antimony"], "content_factor": [0.5]})
    imp2 = customs.read_comtrade(KOREA, ref=ref, factors=f)
    assert "281820" in imp2.chain_codes


def test_magnets_counted_on_request(ref):
    imp = customs.read_comtrade(KOREA, ref=ref, exclude_forms=())
    assert "rare_earths" in imp.minerals


def test_missing_columns_named(ref):
    df = pd.read_csv(SAMPLE, dtype=str).drop(columns=["NetWgt", "PartnerISO"])
    with pytest.raises(customs.CustomsError, match="PartnerISO, NetWgt"):
        customs.read_comtrade(df.to_csv(index=False).encode(), filename="bad.csv", ref=ref)


def test_bytes_and_filelike_sources(ref):
    a = customs.read_comtrade(SAMPLE.read_bytes(), filename="x.csv", ref=ref)
    with open(SAMPLE, "rb") as fh:
        b = customs.read_comtrade(fh, ref=ref)
    pd.testing.assert_frame_equal(a.imports.drop(columns="source"), b.imports.drop(columns="source"))


def test_no_mineral_rows_is_an_error(ref):
    df = pd.read_csv(SAMPLE, dtype=str)
    df = df[df.CmdCode == "281820"]
    with pytest.raises(customs.CustomsError, match="no import row"):
        customs.read_comtrade(df.to_csv(index=False).encode(), filename="alu.csv", ref=ref)
