"""Validation problems in Korean and English (issue 17): every problem the loader and the schema
report carries a catalogue code and its values, each code is worded in both catalogues with the
same placeholders, the Korean wording holds no English word other than codes, field ids, units and
values, and a broken sample gives the same problems with the same numbers in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evaluator.messages import catalogue
from models.application import Problem, Rule, ValidationError, parse_application
from models.loader import LoaderError, load_applications

ROOT = Path(__file__).resolve().parent.parent
BROKEN = sorted((ROOT / "sample_projects" / "broken").glob("*.*"))
BROKEN = [p for p in BROKEN if p.suffix in (".csv", ".xlsx", ".json")]
CODE_RE = re.compile(r'"(problem_[a-z0-9_]+)"')
PLACEHOLDER = re.compile(r"\{(\w+)\}")
WORD = re.compile(r"[A-Za-z]{2,}")
#: Units, formats and names that Korean documents write in Latin letters too, and the sheet name
#: ``applications`` (a code: the loader reads the sheet by that name in every language).
# product names and units stay as written
ALLOWED = {"Excel", "LibreOffice", "MB", "kB", "g/t", "ppm", "ISO", "USD", "AUD", "CAD", "Mt", "id", "xl", "x", "applications"}


def _codes_in_source() -> set[str]:
    codes = set()
    for path in sorted((ROOT / "models").glob("*.py")):
        codes |= set(CODE_RE.findall(path.read_text(encoding="utf-8")))
    return codes


def _english_words(text: str) -> list[str]:
    """Latin words left after removing placeholders, paths, file names, field ids and codes."""
    text = PLACEHOLDER.sub(" ", text)
    text = re.sub(r"\S*[./_]\S*", " ", text)          # paths, .xlsx, field ids such as ore_reserve_mt
    return [w for w in WORD.findall(text) if w not in ALLOWED and not w.isupper()]


def test_every_code_the_models_emit_is_worded_in_both_languages():
    en, ko = catalogue("en"), catalogue("ko")
    codes = _codes_in_source()
    assert len(codes) > 80, len(codes)
    assert sorted(codes - set(en)) == [] and sorted(codes - set(ko)) == []
    for code in codes:
        assert set(PLACEHOLDER.findall(en[code])) == set(PLACEHOLDER.findall(ko[code])), code
    # no orphan wording either: every problem_ key of the catalogue is used
    assert sorted(k for k in en if k.startswith("problem_") and k not in codes) == []


def test_korean_wording_has_no_english_words():
    ko = catalogue("ko")
    hangul = re.compile(r"[\uac00-\ud7a3]")
    found = {k: _english_words(v) for k, v in ko.items() if k.startswith("problem_")}
    assert {k: w for k, w in found.items() if w} == {}
    # every wording but the bare line layout speaks Korean
    layout = {"problem_line", "problem_schedule_number"}
    assert sorted(k for k, v in ko.items() if k.startswith("problem_") and k not in layout
                  and not hangul.search(v)) == []


def test_the_scanner_catches_english():
    assert _english_words("값이 {n}개를 넘습니다: check the unit") == ["check", "the", "unit"]
    assert _english_words("ore_reserve_mt를 넘습니다 (evaluator/data/minerals.csv)") == []


def _problems(path, ref) -> list[Problem]:
    try:
        return load_applications(path, ref=ref).problems
    except ValidationError as exc:
        return exc.problems


def _param_texts(params, language) -> list[str]:
    out = []
    for v in params.values():
        if isinstance(v, Rule):
            out += _param_texts(v.params, language)
        else:
            out.append(str(v))
    return out


def _strip_data(line: str, p: Problem) -> str:
    """The line without the officer's data: id, field id, value, quoted values."""
    for s in sorted({p.application_id, p.field, repr(p.value), *_param_texts(p.params, "ko")}, key=len, reverse=True):
        if s:
            line = line.replace(s, " ")
    return line


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_sample_gives_the_same_problems_in_both_languages(path, ref):
    problems = _problems(path, ref)
    assert problems, path.name
    for p in problems:
        assert p.code.startswith("problem_"), p
        en, ko = p.message("en"), p.message("ko")
        assert en == p.message() and p.rule in en  # the English line is the CLI's line
        assert ko != en, en
        assert re.findall(r"\d+(?:[.,]\d+)*", en) == re.findall(r"\d+(?:[.,]\d+)*", ko) or \
            sorted(re.findall(r"\d+(?:[.,]\d+)*", en)) == sorted(re.findall(r"\d+(?:[.,]\d+)*", ko)), (en, ko)
        assert _english_words(_strip_data(ko, p)) == [], ko
        assert p.text("ko") == ko


def test_the_english_line_keeps_its_form(ref):
    rec = {"id": "A-1", "head_grade": "120", "head_grade_unit": "%"}
    _, problems = parse_application(rec)
    p = next(q for q in problems if q.field == "head_grade")
    # the column by its name in the officer's language and its header as the template shows it
    assert p.message() == "A-1: Head grade (column head_grade) = 120.0: must be at most 100 %"
    assert p.message("ko") == "A-1: 품위 (head_grade 열) = 120.0: 100 % 이하여야 합니다"
    blank = next(q for q in problems if q.field == "name")
    assert blank.code == "problem_required_empty" and blank.message("ko") == "A-1: 사업명 (name 열): 필수 항목이 비어 있습니다"


def test_a_reason_inside_a_reason_is_worded_in_the_same_language():
    _, problems = parse_application({"id": "A-1", "ramp_up": "0.5;abc"})
    p = next(q for q in problems if q.field == "ramp_up")
    assert p.rule == "value 2 ('abc'): must be a number in the accepted form (1234.5 or 1,234.5 or 49%)"
    assert p.rule_text("ko") == "2번째 값 ('abc'): 허용된 숫자 형식이어야 합니다 (1234.5, 1,234.5 또는 49%)"


def test_units_in_a_rule_are_translated():
    _, problems = parse_application({"id": "A-1", "recovery": "1.5"})
    p = next(q for q in problems if q.field == "recovery")
    assert p.rule == "must be at most 1 [fraction]"
    assert p.rule_text("ko") == "1 이하여야 합니다 [비율]"


def test_file_level_errors_in_both_languages(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"")
    with pytest.raises(LoaderError) as exc:
        load_applications(path)
    assert str(exc.value) == "file: file: the file is empty"
    assert exc.value.text("ko") == "파일: 파일: 파일이 비어 있습니다"
    path.write_text("id,name\nA,B\n", encoding="utf-8")
    with pytest.raises(LoaderError) as exc:
        load_applications(path)
    assert all(p.code == "problem_required_column" for p in exc.value.problems)
    assert exc.value.problems[0].message("ko") == "파일: 신청 기업 (company 열): 필수 열이 없습니다"


def test_problems_frame_in_korean(ref):
    res = load_applications(ROOT / "sample_projects" / "broken" / "grade_over_100.csv", ref=ref)
    en, ko = res.problems_frame("en"), res.problems_frame("ko")
    assert list(en.columns) == list(ko.columns) == ["application_id", "field", "rule", "value", "row"]
    assert en.drop(columns=["rule", "field"]).equals(ko.drop(columns=["rule", "field"]))
    assert list(ko["field"]) == [p.field_text("ko") for p in res.problems]
    assert list(en["rule"]) == [p.rule for p in res.problems]
    assert all(re.search(r"[\uac00-\ud7a3]", r) for r in ko["rule"])


@pytest.mark.parametrize("name", ["zip_bomb", "huge_styles", "billion_laughs", "truncated_sheet_xml",
                                  "malformed_sheet_xml", "encrypted_member", "zip_not_xlsx", "deep_json", "utf16_csv",
                                  "duplicate_header_csv", "long_cell"])
def test_hostile_file_errors_read_in_korean(name):
    import hostile_inputs

    data, filename = getattr(hostile_inputs, name)()
    with pytest.raises(LoaderError) as exc:
        load_applications(data, filename=filename)
    for p in exc.value.problems:
        assert p.code.startswith("problem_"), p
        ko = p.message("ko")
        assert _english_words(_strip_data(ko, p)) == [], ko
