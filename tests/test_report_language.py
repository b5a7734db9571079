"""Korean or English at the officer's choice: the committee workbook and the application template.

* Both label files (``evaluator/data/report_labels_en.toml`` and ``..._ko.toml``) hold the same
  keys and the same ``{placeholders}``.
* The Korean report and the Korean template carry no English word in any string cell or sheet
  name, except codes (ISO country codes, mineral keys, the template's column ids and choice
  codes), units and abbreviations (:data:`ALLOWED`), and the data the officer or the sources
  gave (application names and notes, source citations: :func:`data_strings`), which stay as given.
"""

from __future__ import annotations

import io
import re
import string
import tomllib
from pathlib import Path

import openpyxl
import pytest

from evaluator import pipeline
from evaluator import xlsx_style as xs
from evaluator.messages import Joined, Message
from evaluator.report import binding_messages, build_pipeline_report, reasons_text

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "evaluator" / "data"

#: Units, abbreviations and proper names that a Korean committee document writes in Latin letters.
ALLOWED = {
    "USD", "KRW", "ISO3", "NPV", "IRR", "P10", "P50", "P90", "DSCR", "LLCR", "EBITDA", "ESG", "HHI", "OECD", "MIP", "UTC",  # KST: Korea Standard Time
    "KST", "Mt", "ISO", "TREO", "LCE", "NdPr", "Dy", "Tb", "Li2O", "WO3", "V2O5", "Ta2O5", "LME", "LBMA", "APT", "C",
    "numpy", "financial", "npv",  # the numpy-financial function named in the cash-flow convention note
    "SUM", "r", "Y0", "Y1", "Yn", "P", "N", "x", "e", "g", "t", "ppm", "pp", "p",  # %p: percentage points
}


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z0-9_]*", text)


def data_strings(apps, ref, scenario, result, decision) -> list[str]:
    """Text that comes from the applications, the reference tables and the sources, kept as given."""
    out = {scenario.name}
    for a in apps:
        rec = a.to_record()
        out |= {str(v) for v in rec.values() if isinstance(v, str) and v}
    # the engine's own words for an input's source (applicant, country default, price deck) are not
    # data: they are worded in the report's language (messages.source_text); citations are data
    for frame in (ref.minerals, ref.countries, ref.royalties, ref.ree_oxides, ref.tax_overrides,
                  ref.fiscal_regimes):
        for c in frame.columns:
            if frame[c].dtype == object or str(frame[c].dtype).startswith("str"):
                out |= {str(v) for v in frame[c].dropna() if str(v).strip()}
    from evaluator import special_loan  # the special loan's rules: their citations are data

    for frame in (special_loan.loan_terms_table(ref), special_loan.cap_tiers(ref), special_loan.write_off_minerals(ref)):
        for c in ("source", "legal_source"):
            if c in frame.columns:
                out |= {str(v) for v in frame[c] if str(v).strip()}
    for line in (DATA / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        out |= {p.strip() for p in line.split("|") if p.strip()}
    # the same data with its notes worded in Korean (data_notes_ko.csv): the proper names stay
    from evaluator.report.wording import data_notes_ko, korean_data_notes

    notes = data_notes_ko()
    out |= {ko for _, ko in notes} | {korean_data_notes(s, notes) for s in out}
    out |= {str(v) for v in (decision or {}).values()}
    return sorted((s for s in out if len(s) > 1), key=len, reverse=True)


def english_words(cells: list[tuple[str, str, str]], exempt: list[str], codes: set[str]) -> list:
    """(sheet, cell, text, words) of every cell with a word outside the allow-list."""
    bad = []
    for sheet, coord, text in cells:
        if text.strip() in codes:  # a cell that is a code (a partner such as S19, an id)
            continue
        rest = text
        for s in exempt:  # data first: a source citation may hold a file name
            if s in rest:
                rest = rest.replace(s, " ")
        rest = re.sub(r"[\w/]+\.(csv|md|toml)", " ", rest)  # file names
        words = [w for w in _words(rest) if w not in ALLOWED and w not in codes]
        if words:
            bad.append((sheet, coord, text[:80], words))
    return bad


def string_cells(data: bytes) -> list[tuple[str, str, str]]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    out = [(ws.title, "sheet name", ws.title) for ws in wb.worksheets]
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.data_type != "f":
                    out.append((ws.title, c.coordinate, c.value))
        for dv in ws.data_validations.dataValidation:
            for text in (dv.error, dv.errorTitle, dv.prompt, dv.promptTitle):
                if text:
                    out.append((ws.title, "data validation", text))
        for ch in ws._charts:
            out.append((ws.title, "chart", _chart_title(ch)))
    return out


def _chart_title(ch) -> str:
    try:
        return "".join(r.t for p in ch.title.tx.rich.p for r in (p.r or []))
    except AttributeError:
        return ""


def report_codes(apps, ref) -> set[str]:
    """Codes a Korean report writes as they are: application ids, ISO3 country and trade-partner
    codes, mineral keys, chemical symbols of the rare-earth oxides, ESG categories."""
    codes = set(ref.countries.index) | set(ref.minerals.index) | set(ref.korea_imports["partner_iso3"])
    codes |= set(ref.supply_chain.imports["partner_iso3"])      # BACI partner codes such as S19 ("Other Asia, nes")
    codes |= {a.id for a in apps} | {p for a in apps for p in re.split(r"[-_]", a.id)}
    codes |= set(ref.ree_oxides.index) - {"other"}
    return codes | {"OTH", "A", "B", "C"}


def test_label_files_have_the_same_keys_and_placeholders():
    en = tomllib.loads((DATA / "report_labels_en.toml").read_text(encoding="utf-8"))
    ko = tomllib.loads((DATA / "report_labels_ko.toml").read_text(encoding="utf-8"))
    assert set(en) == set(ko)
    fmt = string.Formatter()
    for section in en:
        assert set(en[section]) == set(ko[section]), (section, set(en[section]) ^ set(ko[section]))
        for key, text in en[section].items():
            names = {f for _, f, _, _ in fmt.parse(text) if f}
            assert names == {f for _, f, _, _ in fmt.parse(ko[section][key]) if f}, (section, key)


def test_unknown_language_is_refused():
    with pytest.raises(xs.LanguageError, match="fr"):
        xs.load_labels("fr")


def test_input_sources_are_worded_in_korean():
    """Every source the engine records (evaluator.cashflow, evaluator.fiscal) is a message worded in
    the reader's language; a citation is quoted as it is."""
    from evaluator import messages
    for msg, en, ko in ((Message("src_applicant"), "applicant", "신청사"),
                        (Message("src_scenario_default"), "scenario default", "시나리오 기본값"),
                        (Message("src_country_default", {"iso3": "VNM"}), "country default (VNM)", "국가 기본값 (VNM)"),
                        (Message("src_price_deck", {"case": "base"}), "price deck (base)", "가격 전망 (기준)"),
                        (Message("src_price_deck_applicant_basket", {"case": "high"}),
                         "price deck (high), applicant basket", "가격 전망 (높음), 신청사 희토류 구성"),
                        (Message("src_scenario_price_path"), "scenario price path", "시나리오 가격 경로"),
                        (Message("src_applicant_ramp_up"), "applicant throughput x ramp-up", "신청사 처리량 x 증산 일정")):
        assert messages.word(msg, "ko") == ko
        assert messages.word(msg, "en") == en
    assert messages.word("Mining Act 1978 (WA) s.108", "ko") == "Mining Act 1978 (WA) s.108"


def test_engine_codes_are_worded_in_both_languages():
    """Binding constraints and screening reasons reach the workbook as codes (no parser of English
    text): the Korean and English wordings come from the one catalogue."""
    ko, en = xs.load_labels("ko"), xs.load_labels("en")
    summary = {"binding": ["budget loan_krw_bn", "mineral=graphite share cap"],
               "binding_codes": [{"code": "constraint_budget", "params": {"budget": "loan_krw_bn"}},
                                 {"code": "constraint_cap_mineral_share", "params": {"value": "graphite"}}]}
    assert [m.text("ko") for m in binding_messages(summary)] == ["정책융자 예산을(를) 모두 사용",
                                                                 "흑연이(가) 광종별 비중 상한에 도달"]
    assert [m.text("en") for m in binding_messages(summary)] == ["the policy-loan budget is used up",
                                                                 "graphite is at its share cap per mineral"]
    # names without codes (an older record) are quoted as they are, not parsed
    assert [m.text("ko") for m in binding_messages({"binding": ["budget loan_krw_bn"]})] == ["budget loan_krw_bn"]
    reasons = (Message("screen_ownership_below_minimum", {"ownership": "5%", "minimum": "10%"}),
               Message("screen_fund_above_budget", {"request": "300.0", "budget": "250.0"}))
    assert reasons_text(reasons, ko) == ("한국 지분 5%이(가) 사업 최소 기준 10%보다 낮습니다; "
                                         "펀드 요청 3,000억원이 펀드 전체 예산 2,500억원을 넘습니다")  # 억원, never 십억원
    assert reasons_text(reasons, en) == ("Korean ownership 5% is below the programme minimum 10%; "
                                         "fund request 300.0 KRW bn exceeds the whole fund budget 250.0 KRW bn")
    note = Message("alloc_note_ineligible", {"reasons": Joined(reasons, "; ")})
    assert note.text("en") == "ineligible: " + reasons_text(reasons, en)
    assert note.text("ko").startswith("부적격: 한국 지분 5%")


@pytest.fixture(scope="module")
def risk_result(sample_apps, scenario, ref):
    return pipeline.run(sample_apps, scenario, ref, risk_measure="p10_npv", n_paths=200)


@pytest.fixture(scope="module")
def portfolio_risk(risk_result, sample_apps, scenario, ref):
    from evaluator.uncertainty import portfolio_risk_of_result

    return portfolio_risk_of_result(risk_result, sample_apps, scenario, ref, supply_ref=pipeline.supply_reference(ref),
                                    n_paths=200, seed=0)


DECISION = {"decision_id": 3, "scenario": "Base (#1)", "decided_by": "Committee", "decided_at_utc": "2026-03-15T09:00:00Z",
            "note": "Approved as proposed", "supersedes": "", "applications_hash": "ab12", "decision_hash": "cd34",
            "store_head_hash": "ef56"}


def test_korean_report_has_no_english_words(risk_result, portfolio_risk, sample_apps, scenario, ref):
    data = build_pipeline_report(risk_result, scenario, ref=ref, decision=DECISION, language="ko",
                                 portfolio_risk=portfolio_risk)
    assert "포트폴리오 위험" in openpyxl.load_workbook(io.BytesIO(data)).sheetnames
    cells = string_cells(data)
    assert len(cells) > 500
    codes = report_codes(sample_apps, ref)
    bad = english_words(cells, data_strings(sample_apps, ref, scenario, risk_result, DECISION), codes)
    assert bad == [], bad[:20]
    # the same report in English reads in English (the check can fail)
    en = string_cells(build_pipeline_report(risk_result, scenario, ref=ref, decision=DECISION, language="en",
                                            portfolio_risk=portfolio_risk))
    assert english_words(en, [], codes)


def test_korean_report_keeps_the_numbers(risk_result, portfolio_risk, scenario, ref):
    """Language changes words only: every number cell is the same in both languages, but amounts [KRW bn],
    which the Korean pack shows in 억원 (x 10; issue 27)."""
    from evaluator.xlsx_style import FMT_KRW

    def numbers(data):
        wb = openpyxl.load_workbook(io.BytesIO(data))
        return [[c.value * 10.0 if c.number_format == FMT_KRW else c.value for row in ws.iter_rows() for c in row
                 if isinstance(c.value, (int, float)) and not isinstance(c.value, bool)] for ws in wb.worksheets]
    en = build_pipeline_report(risk_result, scenario, ref=ref, language="en", generated_at=None,
                               portfolio_risk=portfolio_risk)
    ko = build_pipeline_report(risk_result, scenario, ref=ref, language="ko", generated_at=None,
                               portfolio_risk=portfolio_risk)
    assert [pytest.approx(x, rel=1e-12) for x in numbers(en)] == numbers(ko)
    assert [ws.title for ws in openpyxl.load_workbook(io.BytesIO(ko)).worksheets][:2] == \
        ["요약", "심의 " + openpyxl.load_workbook(io.BytesIO(en)).sheetnames[1][len("Memo "):]]  # memos first (issue 27)


def test_korean_summary_shows_korea_time(risk_result, scenario, ref):
    import datetime as dt

    at = dt.datetime(2026, 3, 15, 23, 30, tzinfo=dt.timezone.utc)
    ko = openpyxl.load_workbook(io.BytesIO(build_pipeline_report(risk_result, scenario, ref=ref, language="ko",
                                                                 generated_at=at)))["요약"]
    en = openpyxl.load_workbook(io.BytesIO(build_pipeline_report(risk_result, scenario, ref=ref, generated_at=at)))["Summary"]
    assert ko["B3"].value == dt.datetime(2026, 3, 16, 8, 30) and ko["A3"].value.endswith("UTC+9]")
    # every time an officer reads is Korea's (issue 27), in English too
    assert en["B3"].value == dt.datetime(2026, 3, 16, 8, 30) and en["A3"].value == "Generated [KST, UTC+9]"


def test_citations_name_the_original_publication_not_a_file_outside_the_product():
    """Every source cell of the bundled tables cites a law or a publication, never the raw
    snapshot's notes (``shared/data/SOURCES.md`` is not part of the product)."""
    for path in sorted(DATA.glob("*.csv")) + [DATA / "SOURCES.md"]:
        text = path.read_text(encoding="utf-8")
        assert "shared/data/SOURCES.md" not in text and "raw snapshot's SOURCES.md" not in text, path.name
