"""The committee memo (issue 27): the applicant's memo fields, the officer's notes, the memo sheets
of the workbook, and amounts in the officer's unit (억원)."""

from __future__ import annotations

import dataclasses
import io

import openpyxl
import pytest

from evaluator import pipeline
from evaluator.krw import eok_text, krw_text
from evaluator.memo import MEMO_CONTESTED, MemoNotesError, clean_notes, memo_ids
from evaluator.report import build_pipeline_report, memo_page_ids, project_page_ids
from models.application import FIELD_BY_NAME, parse_application

#: The six section titles the programme's committee uses (issue 27), as printed in both languages.
SECTION_TITLES_KO = ("사업 개요", "사업주", "판매 계약(오프테이크)", "주요 위험과 완화 방안", "대출 조건과 약정",
                     "검토 의견과 조건")
NOTES = {"VN-W-01": {"recommendation": "approve_with_conditions", "opinion": "증설 사업으로 기술 위험이 낮음",
                     "conditions": "해외투자보험 가입 후 첫 인출"},
         "US-SB-01": {"recommendation": "approve", "opinion": '=HYPERLINK("http://x","y")', "conditions": ""}}


@pytest.fixture(scope="module")
def result(sample_apps, scenario, ref):
    return pipeline.run(sample_apps, scenario, ref)


@pytest.fixture(scope="module")
def books(result, scenario, ref):
    return {lang: build_pipeline_report(result, scenario, ref=ref, language=lang, officer_notes=NOTES)
            for lang in ("en", "ko")}


def _texts(ws) -> list[str]:
    return [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]


# ---------------------------------------------------------------------------------------------- units

@pytest.mark.parametrize("krw_bn, text", [
    (2.7712, "27.7억원"),        # the example: an award of 2.7712 KRW bn is 27.7억원
    (0.04, "0.4억원"), (48.0, "480억원"), (313.5, "3,135억원"),
    (1250.0, "1조 2,500억원"),   # 1조 = 10,000억 = 1,000 KRW bn
    (2000.0, "2조원"), (-1.25, "-12.5억원"), (0.0, "0억원"), (-0.001, "0억원"),
])
def test_eok_text_writes_amounts_as_officers_do(krw_bn, text):
    assert eok_text(krw_bn) == text


def test_krw_text_in_english_and_missing_values():
    assert krw_text(2.7712, "en") == "KRW 2.77 bn"
    assert krw_text(48.0, "en") == "KRW 48 bn"
    assert krw_text(None, "ko") == "-" and krw_text(float("nan"), "en") == "-"


# ---------------------------------------------------------------------------------------------- fields

def test_memo_fields_are_optional_text_of_the_template(sample_apps):
    for name in ("sponsor_track_record", "offtake_buyer", "offtake_volume", "offtake_price_basis",
                 "risk_country_mitigation", "risk_technical_mitigation", "risk_market_mitigation",
                 "risk_esg_mitigation", "proposed_covenants", "proposed_security"):
        assert FIELD_BY_NAME[name].kind == "str" and not FIELD_BY_NAME[name].required
    assert FIELD_BY_NAME["offtake_tenor_years"].kind == "int"
    vn = next(a for a in sample_apps if a.id == "VN-W-01")
    assert vn.offtake_tenor_years == 7 and vn.offtake_price_basis.startswith("Fastmarkets")
    blank = next(a for a in sample_apps if a.id == "KZ-W-01")
    assert blank.sponsor_track_record == "" and blank.offtake_tenor_years is None


def test_memo_field_rules(sample_apps):
    rec = sample_apps[0].to_record()
    app, problems = parse_application({**rec, "offtake_tenor_years": "0", "offtake_buyer": " =1+1"})
    assert app is None and [p.field for p in problems] == ["offtake_tenor_years"]
    app, problems = parse_application({**rec, "offtake_buyer": " =1+1", "proposed_security": "'=SUM(A1)"})
    assert problems == [] and app.offtake_buyer == " =1+1" and app.proposed_security == "=SUM(A1)"


# ---------------------------------------------------------------------------------------------- notes

def test_clean_notes_keeps_what_was_entered_and_refuses_the_rest():
    assert clean_notes(None) == {}
    assert clean_notes({"A": {"recommendation": "", "opinion": "  ", "conditions": None}}) == {}
    assert clean_notes({"A": {"opinion": " ok "}}) == {"A": {"recommendation": "", "opinion": "ok", "conditions": ""}}
    for bad in ([1], {"A": "text"}, {"A": {"verdict": "x"}}, {"A": {"recommendation": "maybe"}},
                {"A": {"opinion": "x" * 5000}}):
        with pytest.raises(MemoNotesError):
            clean_notes(bad)


def test_notes_are_kept_with_a_saved_scenario(result, sample_apps, scenario, tmp_path):
    from evaluator.store import ScenarioStore

    kw = pipeline.snapshot(sample_apps, scenario, result, officer_notes=NOTES)
    assert kw["summary"]["officer_notes"] == clean_notes(NOTES)
    assert "officer_notes" not in kw["assumptions"]  # not an assumption: a recorded decision still matches
    store = ScenarioStore(tmp_path / "s.sqlite")
    a = store.save("with notes", "officer", **kw)
    b = store.save("without", "officer", **pipeline.snapshot(sample_apps, scenario, result))
    assert store.load(a).summary["officer_notes"] == clean_notes(NOTES)
    assert "officer_notes" not in store.load(b).summary
    assert "officer_notes" not in store.compare([a, b]).summary.index  # text is no metric to compare


# ---------------------------------------------------------------------------------------------- memo sheets

def test_memo_ids_are_the_funded_and_the_best_ranked_contested(result):
    table = result.allocation.table
    funded = {str(i) for i in table.index[(table["fund_krw_bn"] + table["loan_krw_bn"]) > 1e-9]}
    ids = memo_page_ids(result.evaluation, result.ranking, table)
    pages = project_page_ids(result.evaluation, result.ranking, table)
    assert funded <= set(ids) and ids == [i for i in pages if i in ids]  # rank order
    contested = [i for i in ids if i not in funded]
    assert contested == [i for i in pages if i not in funded][:MEMO_CONTESTED]
    assert all(bool(result.ranking.at[i, "eligible"]) for i in contested)
    # the funded project ranked lowest still gets its memo when contested ones are many
    assert memo_ids(["a", "b", "c", "d", "e"], {"e"}, None, n_contested=2) == ["a", "b", "e"]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_memo_has_its_six_sections_and_the_officers_notes(result, books, lang):
    wb = openpyxl.load_workbook(io.BytesIO(books[lang]))
    ids = memo_page_ids(result.evaluation, result.ranking, result.allocation.table)
    prefix = "Memo " if lang == "en" else "심의 "
    assert wb.sheetnames[1:1 + len(ids)] == [prefix + i for i in ids]  # right after the Summary
    for i in ids:
        ws = wb[prefix + i]
        text = "\n".join(_texts(ws))
        for k, title in enumerate(SECTION_TITLES_KO, start=1):
            assert f"{k}. {title}" in text, (lang, i, title)
        assert ws.page_setup.orientation == "portrait" and ws.max_column <= 5
        assert ws.print_area is not None and ws.print_area.endswith(f"$E${ws.max_row}")
        if lang == "ko":
            assert "십억원" not in text
    ko = wb if lang == "ko" else None
    if ko is not None:
        vn = "\n".join(_texts(ko["심의 VN-W-01"]))
        assert "조건부 승인" in vn and "해외투자보험 가입 후 첫 인출" in vn and "7년" in vn
        assert "Fastmarkets APT 유럽 월평균가 - 4%" in vn  # the applicant's words, as typed


def test_memo_amounts_are_the_allocation_in_eok(result, books):
    """The memo's amounts are the allocation's, in 억원 rounded to 0.1억 (hand check: 10억원 per KRW bn)."""
    wb = openpyxl.load_workbook(io.BytesIO(books["ko"]))
    table = result.allocation.table
    for i in memo_page_ids(result.evaluation, result.ranking, table):
        fund, loan = float(table.at[i, "fund_krw_bn"]), float(table.at[i, "loan_krw_bn"])
        status = wb["심의 " + i]["A2"].value
        if fund + loan > 1e-9:
            want = f"펀드 {round(fund * 10, 1):,g}억원"
            assert want in status.replace(",", "") or f"펀드 {round(fund * 10, 1):,.1f}".rstrip("0").rstrip(".") in status
        else:
            assert status.startswith("경합")


def test_memo_loan_rate_is_the_terms_nominal_rate_and_the_write_off_the_decree_s(result, books, scenario):
    """The rate as the terms state it: 3-year KTB 2.60 % - 2.25 points = 0.35 % nominal, and its
    real equivalent (1.0035 / 1.02 - 1 = -1.62 % with 2 % inflation, Fisher); a write-off only for
    the success-contingent loan (VN-GR-01, graphite exploration: listed mineral and type), none for
    the development and production loans (US-SB-01, AU-LI-01)."""
    assert scenario.policy_loan_rate_nominal == pytest.approx(scenario.ktb_3y_rate + scenario.policy_loan_spread)
    real = (1 + scenario.policy_loan_rate_nominal) / (1 + scenario.inflation_rate) - 1
    wb = openpyxl.load_workbook(io.BytesIO(books["ko"]))
    lines = {i: next(t for t in _texts(wb["심의 " + i]) if t.startswith("명목 연"))
             for i in ("VN-GR-01", "US-SB-01", "AU-LI-01")}
    for line in lines.values():
        assert f"명목 연 {scenario.policy_loan_rate_nominal:.2%}" in line
        assert f"3년 국고채 {scenario.ktb_3y_rate:.2%} {scenario.policy_loan_spread * 100:+.2f}%p" in line
        assert f"실질 연 {real:.2%}" in line
    assert "탐사 실패 시 최대 90% 감면" in lines["VN-GR-01"]
    assert "감면 없음" in lines["US-SB-01"] and "감면 없음" in lines["AU-LI-01"]
    en = openpyxl.load_workbook(io.BytesIO(books["en"]))
    vn = next(t for t in _texts(en["Memo VN-GR-01"]) if "a year nominal" in t)
    assert "up to 90% written off if exploration fails" in vn


def test_applicant_and_officer_text_stays_text(result, scenario, ref, sample_apps):
    apps = [dataclasses.replace(a, offtake_buyer='=HYPERLINK("http://evil","x")') if a.id == "VN-W-01" else a
            for a in sample_apps]
    res = pipeline.run(apps, scenario, ref)
    data = build_pipeline_report(res, scenario, ref=ref, officer_notes=NOTES)
    ws = openpyxl.load_workbook(io.BytesIO(data))["Memo VN-W-01"]
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)
    ws = openpyxl.load_workbook(io.BytesIO(data))["Memo US-SB-01"]
    officer = [c for row in ws.iter_rows() for c in row if c.value == NOTES["US-SB-01"]["opinion"]]
    assert officer and officer[0].data_type == "s" and officer[0].quotePrefix


def test_memo_without_allocation_or_notes_says_so(result, scenario, ref):
    data = build_pipeline_report(result, scenario, ref=ref, language="ko")
    ws = openpyxl.load_workbook(io.BytesIO(data))["심의 KZ-W-01"]
    text = "\n".join(_texts(ws))
    assert "(담당자 미입력)" in text and "(신청서에 기재 없음)" in text
