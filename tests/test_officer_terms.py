"""Issue 27: what an officer reads is in the officer's terms.

Validation names the template's column (its name in the officer's language and its header as the
spreadsheet shows it) and the spreadsheet's own row number (the header row and the units row counted,
from 1, as Excel numbers rows), never a 0-based index or a data-file path.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pytest

from models.loader import load_applications

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_XLSX = ROOT / "sample_projects" / "applications.xlsx"


def _sample_with(cells: dict[tuple[int, str], object]) -> bytes:
    """The sample workbook with ``{(sheet row, column header): value}`` written on its applications sheet."""
    wb = openpyxl.load_workbook(SAMPLE_XLSX)
    ws = wb["applications"]
    header = [c.value for c in ws[1]]
    for (row, column), value in cells.items():
        ws.cell(row=row, column=header.index(column) + 1).value = value
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_bad_cell_in_row_7_is_reported_as_row_7_with_its_column_in_both_languages(ref):
    wb = openpyxl.load_workbook(SAMPLE_XLSX)
    app_id = wb["applications"].cell(row=7, column=1).value  # the id Excel shows in A7
    res = load_applications(_sample_with({(7, "recovery"): 1.5}), filename="applications.xlsx", ref=ref)
    [p] = res.problems
    assert (p.application_id, p.row) == (app_id, 7)
    assert p.message("en") == f"{app_id} (row 7): Recovery (column recovery) = 1.5: must be at most 1 [fraction]"
    assert p.message("ko") == f"{app_id} (7행): 회수율 (recovery 열) = 1.5: 1 이하여야 합니다 [비율]"
    frame = res.problems_frame("ko")
    assert list(frame["row"]) == [7] and list(frame["field"]) == ["회수율 (recovery 열)"]


def test_rows_of_a_csv_are_its_lines_and_duplicates_name_them(ref, tmp_path):
    lines = (ROOT / "sample_projects" / "applications.csv").read_text(encoding="utf-8").splitlines()
    lines[4] = lines[2]  # line 5 repeats line 3's application
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_applications(path, ref=ref)
    dup = [p for p in res.problems if p.code == "problem_duplicate_id"]
    assert sorted(p.row for p in dup) == [3, 5]
    assert all(p.params["rows"] == "3, 5" for p in dup)


@pytest.mark.parametrize("language", ["en", "ko"])
def test_no_problem_names_a_data_file_or_counts_from_zero(ref, language):
    data = _sample_with({(3, "mineral"): "unobtainium", (4, "fiscal_region"): "XX-ZZ", (5, "currency"): "XYZ",
                         (6, "initial_capex_usd_m"): 900000})
    res = load_applications(data, filename="applications.xlsx", ref=ref)
    assert {p.row for p in res.problems} == {3, 4, 5, 6}
    for p in res.problems:
        line = p.message(language)
        assert not re.search(r"evaluator/|\.csv|\.toml", line), line


# -- charts in Korean -----------------------------------------------------------------------------

#: Fields whose values are the applicant's own text or ids (shown as entered).
_OWN_DATA_FIELDS = {"id", "name"}
_CODE = re.compile(r"^(?:[a-z]+(?:_[a-z0-9]+)+|[A-Z]{3}|None|nan|NaN)$")


def _chart_texts(at) -> list[tuple[str, str]]:
    """(where, text) of every chart on the page: the titles of its axes, legends and tooltips, and the
    values of every field it draws as categories (axes, colours, offsets, tooltips)."""
    import json

    import pyarrow as pa

    out = []
    for el in at.get("vega_lite_chart"):
        spec = json.loads(el.proto.spec)
        frames = {ds.name: pa.ipc.open_stream(ds.data.data).read_all().to_pandas() for ds in el.proto.datasets}
        if isinstance(spec.get("title"), str):
            out.append(("chart title", spec["title"]))
        for layer in spec.get("layer", [spec]):
            data = frames.get((layer.get("data") or spec.get("data") or {}).get("name"))
            if isinstance(layer.get("title"), str):
                out.append(("chart title", layer["title"]))
            for channel, enc in (layer.get("encoding") or {}).items():
                for item in enc if isinstance(enc, list) else [enc]:
                    if not isinstance(item, dict):
                        continue
                    if "condition" in item and isinstance(item["condition"], dict):
                        item = {**item["condition"], **{k: v for k, v in item.items() if k != "condition"}}
                    field = item.get("field")
                    if field is None:
                        continue
                    if channel == "tooltip":
                        assert "title" in item, f"tooltip {field!r} shows its field name"
                    if isinstance(item.get("title"), str):
                        out.append((f"{channel} title", item["title"]))
                    if (item.get("type") in ("nominal", "ordinal") and field not in _OWN_DATA_FIELDS
                            and data is not None and field in data):
                        out += [(f"{channel} value of {field}", str(v)) for v in data[field].unique()]
    return out


def test_charts_and_the_tornado_in_korean_carry_no_codes_none_or_usd_m(fresh_app):
    from test_korean import ALLOWED, _data_words, _english

    at = fresh_app
    at.radio(key="lang").set_value("ko")
    at.radio(key="unit").set_value("억원").run()
    allowed = ALLOWED | _data_words(at)
    found, seen = {}, {}
    for page in ("ranking", "project", "allocation"):
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        if page == "project":   # the simulation draws the NPV histogram and the tornado
            at.button(key="run_mc").click().run()
        assert not at.exception, (page, [e.value for e in at.exception])
        texts = _chart_texts(at)
        seen[page] = texts
        bad = [(w, x) for w, x in texts if "USD m" in x or (_CODE.match(x) and x not in allowed) or _english(x, allowed)]
        if bad:
            found[page] = bad
    assert found == {}, found
    tornado = {x for w, x in seen["project"] if w == "y value of input"}
    assert {"가격 (주 생산물)", "초기 투자비", "할인율"} <= tornado, tornado
    assert "가격 전망 하위 시나리오" in {x for w, x in seen["project"] if w == "tooltip value of label"}
    assert any(w == "x value of mineral" and x == "희토류" for w, x in seen["allocation"])


# -- times in KST ----------------------------------------------------------------------------------

def test_stored_utc_times_read_in_korea_time():
    import datetime as dt

    from evaluator.kst import kst_text

    # KST = UTC+9 all year: 09:00 UTC is 18:00 in Seoul; 20:30 UTC on 31 Dec is 05:30 on 1 Jan
    assert kst_text("2026-03-15T09:00:00Z") == "2026-03-15 18:00 KST"
    assert kst_text("2026-12-31T20:30:00+00:00") == "2027-01-01 05:30 KST"
    assert kst_text(dt.datetime(2026, 3, 15, 9, 0)) == "2026-03-15 18:00 KST"   # naive = UTC, as stored
    assert kst_text("") == "" and kst_text("not a time") == "not a time"


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_decision_record_in_the_pack_shows_korea_time(sample_apps, scenario, ref, language):
    from evaluator import pipeline
    from evaluator.report import build_pipeline_report

    decision = {"decision_id": 3, "scenario": "Base (#1)", "decided_by": "Committee",
                "decided_at_utc": "2026-03-15T09:00:00+00:00", "note": "Approved"}
    result = pipeline.run(sample_apps, scenario, ref)
    wb = openpyxl.load_workbook(io.BytesIO(build_pipeline_report(result, scenario, ref=ref, decision=decision,
                                                                 language=language)))
    texts = [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any("2026-03-15 18:00 KST" in x for x in texts)
    assert not any("2026-03-15T09:00" in x or "[UTC]" in x for x in texts)


# -- scenario comparison ---------------------------------------------------------------------------

def test_scenario_comparison_reads_as_a_committee_table_in_korean(fresh_app):
    at = fresh_app
    at.radio(key="lang").set_value("ko")
    at.radio(key="unit").set_value("억원").run()
    for name, fund in (("기준", 250.0), ("펀드 150", 150.0)):
        at.switch_page("app_pages/allocation.py").run()
        at.slider(key="fund_krw_bn__shown").set_value(fund * 10).run()   # the slider reads in 억원
        at.switch_page("app_pages/scenarios.py").run()
        at.text_input(key="save_name").input(name)
        at.text_input(key="save_author").input("김 주무관")
        at.button[0].click().run()
        assert not at.exception, [e.value for e in at.exception]
    at.multiselect(key="compare_ids").set_value([1, 2]).run()
    assert not at.exception, [e.value for e in at.exception]
    from app_pages.i18n import labels

    ko = labels("ko")   # the comparison's four tables, in order, by their index (AppTest shows no keys)
    found = [d.value for d in at.dataframe if d.value.index.name in (ko["cmp_item"], ko["col_application"])]
    assert len(found) == 4, [d.value.index.name for d in at.dataframe]
    tables = dict(zip(("cmp_totals", "cmp_assumptions", "cmp_funding", "cmp_summary"), found))
    for key, df in tables.items():
        shown = df.drop(columns=["differs"], errors="ignore")
        assert [c for c in shown.columns if re.search(r"scenario_\d|_krw_bn|^\d+$", str(c))] == [], (key, list(shown.columns))
        assert not [str(i) for i in shown.index if re.fullmatch(r"[a-z_.]+", str(i))], (key, list(shown.index))
        for v in shown.astype(str).to_numpy().ravel():
            # no 10-digit decimals, no raw fractions, no 십억원, no codes
            assert not re.search(r"\d\.\d{3,}", v) and not re.fullmatch(r"0\.\d+", v), (key, v)
            assert "십억원" not in v and not re.fullmatch(r"[a-z]+(_[a-z]+)+", v), (key, v)
    totals = tables["cmp_totals"]
    assert list(totals.columns[:2]) == ["1: 기준", "2: 펀드 150"]
    assert totals.loc[ko["cmp_fund_allocated"], "2: 펀드 150"] == "1,500억원"        # 150 KRW bn allocated in full
    assert totals.loc["지원 사업 수"].iloc[0].isdigit()
    summary = tables["cmp_summary"]
    assert any(str(i).startswith("수입 중 중국 비중") for i in summary.index)
    assert all(str(v).endswith("%") or v == "-" for i, row in summary.iterrows() if "비중" in str(i) for v in row.iloc[:2])
