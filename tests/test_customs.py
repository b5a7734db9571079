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
    # by hand: lithium hydroxide CHN 840 / (840 + 100 + 40 + 20) = 0.84 (published KITA 84 %)
    li = supply.baseline(r2, "lithium", basis="value")
    assert li.year == 2024 and li.measures["china_share"] == pytest.approx(0.84)
    # natural graphite CHN 93,000 / (93,000 + 4,000 + 2,000 + 1,000 + 5) kUSD = 0.92995
    gr = supply.baseline(r2, "graphite", basis="value")
    assert gr.measures["china_share"] == pytest.approx(93000 / 100005)
    # Brazil row: NetWgt 0 -> Qty 1,000,000 kg used -> 1,000 t
    assert imp.imports.set_index(["mineral", "partner_iso3"]).loc[("graphite", "BRA"), "quantity_t"] == pytest.approx(1000)
    # other minerals untouched, ref not mutated
    pd.testing.assert_frame_equal(r2.korea_imports[r2.korea_imports.mineral == "copper"].reset_index(drop=True),
                                  ref.korea_imports[ref.korea_imports.mineral == "copper"].reset_index(drop=True))
    assert 2019 in set(ref.korea_imports[ref.korea_imports.mineral == "lithium"].year)
    assert set(r2.korea_imports[r2.korea_imports.mineral == "lithium"].year) == {2024}
    text = " | ".join(imp.problems)
    assert "281820" in text and "_X" in text and "850511" in text


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
