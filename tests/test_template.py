"""The application template: documented columns, drop-downs, and a lossless round trip
through the one loader (``models.loader.load_applications``)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pandas as pd
import openpyxl
import pytest

from evaluator.template import EXAMPLE_RECORD, build_template, example_record
from models.application import COLUMNS, FIELDS, ValidationError, parse_application
from models.loader import load_applications

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = ROOT / "sample_projects" / "applications.csv"
SAMPLE_XLSX = ROOT / "sample_projects" / "applications.xlsx"


@pytest.fixture(scope="module")
def csv_apps(ref):
    res = load_applications(SAMPLE_CSV, ref=ref)
    assert not res.problems
    return res.applications


def _wb(data):
    return openpyxl.load_workbook(io.BytesIO(data))


def test_blank_template_layout(ref):
    wb = _wb(build_template())
    assert wb.sheetnames == ["applications", "production_schedule", "capex_schedule", "instructions", "lists"]
    assert wb["lists"].sheet_state == "hidden"
    ws = wb["applications"]
    assert [c.value for c in ws[1]] == list(COLUMNS)
    units = [c.value for c in ws[2]]
    assert all(isinstance(u, str) and u.startswith("[") and u.endswith("]") for u in units)
    assert units[list(COLUMNS).index("initial_capex_usd_m")] == "[USD m]"
    assert ws["A3"].value == EXAMPLE_RECORD["id"]
    sched = wb["production_schedule"]
    assert [sched.cell(row=1, column=j).value for j in (1, 2, 3, 4)] == ["id", "operating_year", "ore_mt", "grade"]
    capex = wb["capex_schedule"]
    assert [capex.cell(row=1, column=j).value for j in (1, 2, 3)] == ["id", "model_year", "capex_usd_m"]
    assert [capex.cell(row=2, column=j).value for j in (1, 2, 3)] == ["[text: application id]", "[1, 2, 3, ...]",
                                                                      "[USD m]"]


def test_dropdowns_point_at_the_hidden_lists(ref):
    wb = _wb(build_template())
    ws = wb["applications"]
    lists = wb["lists"]
    col = {name: openpyxl.utils.get_column_letter(j) for j, name in enumerate(COLUMNS, start=1)}
    dvs = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            dvs[rng.coord.split(":")[0].rstrip("0123456789")] = dv
    list_headers = [c.value for c in lists[1]]
    for name in ("country_iso3", "mineral", "stage", "esg_category", "esg_mitigation_plan", "permits_status",
                 "head_grade_unit"):
        dv = dvs[col[name]]
        assert dv.type == "list" and dv.formula1.startswith("lists!$"), name
        j = list_headers.index(name) + 1
        values = [lists.cell(row=r, column=j).value for r in range(2, lists.max_row + 1)]
        values = [v for v in values if v is not None]
        if name == "country_iso3":
            assert values == sorted(ref.countries.index) and "VNM" in values
        if name == "mineral":
            assert values == list(ref.minerals.index)
    assert dvs[col["recovery"]].type == "decimal"


def test_instructions_document_every_field():
    wb = _wb(build_template())
    ws = wb["instructions"]
    header = [c.value for c in ws[4]]
    assert header == ["field", "group", "description", "unit", "required", "rule"]
    rows = {ws.cell(row=r, column=1).value: [ws.cell(row=r, column=j).value for j in range(1, 7)]
            for r in range(5, 5 + len(FIELDS))}
    assert list(rows) == list(COLUMNS)
    for f in FIELDS:
        row = rows[f.name]
        assert row[2] == f.description and row[4] == ("yes" if f.required else "no")
        if f.choices:
            assert all(ch in row[5] for ch in f.choices)


def test_example_row_loads_and_blank_has_no_rows(ref):
    res = load_applications(build_template(), filename="t.xlsx", ref=ref)
    # issue 25: the example row is read, valid in every field, and named so that it is not evaluated
    assert [(p.application_id, p.code) for p in res.problems] == [("EXAMPLE-01", "problem_example_row")]
    assert res.applications == [] and res.raw["name"].tolist() == [example_record()["name"]]
    assert parse_application(example_record())[1] == []
    with pytest.raises(ValidationError, match="no application rows"):
        load_applications(build_template(example=False), filename="t.xlsx", ref=ref)


def test_filled_template_round_trips_to_the_csv_applications(ref, csv_apps):
    data = build_template(applications=csv_apps)
    back = load_applications(data, filename="apps.xlsx", ref=ref)
    assert not back.problems
    assert back.applications == csv_apps


def test_records_round_trip_too(ref, csv_apps):
    data = build_template(applications=[a.to_record() for a in csv_apps])
    assert load_applications(data, filename="apps.xlsx", ref=ref).applications == csv_apps


def test_sample_workbook_matches_the_csv(ref, csv_apps):
    assert SAMPLE_XLSX.exists(), "generate with: python -m evaluator template --from sample_projects/applications.csv --out sample_projects/applications.xlsx"
    back = load_applications(SAMPLE_XLSX, ref=ref)
    assert not back.problems
    assert back.applications == csv_apps


def test_production_schedule_sheet_is_read(ref, csv_apps):
    wb = _wb(build_template(applications=csv_apps[:1]))
    sched = wb["production_schedule"]
    app = csv_apps[0]
    ore = [0.2, 0.4, 0.5, 0.5]
    for k, x in enumerate(ore, start=1):
        sched.append([app.id, k, x])
    buf = io.BytesIO()
    wb.save(buf)
    back = load_applications(buf.getvalue(), filename="s.xlsx", ref=ref)
    assert not back.problems
    assert back.applications[0].production_schedule_ore_mt == tuple(ore)


def test_hostile_text_survives_the_template_as_text(ref, csv_apps):
    hostile = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1", "-2", "@SUM(A1)", "\tx"]
    apps = [dataclasses.replace(a, name=h, company=h, source_note=h) for a, h in zip(csv_apps, hostile)]
    data = build_template(applications=apps)
    ws = _wb(data)["applications"]
    name_col = list(COLUMNS).index("name") + 1
    for r, h in enumerate(hostile, start=3):
        c = ws.cell(row=r, column=name_col)
        assert c.value == h and c.data_type == "s"
    back = load_applications(data, filename="h.xlsx", ref=ref)
    # the loader strips surrounding whitespace from text fields, so "\tx" reads as "x"
    assert [a.name for a in back.applications] == [h.strip() for h in hostile]


def test_cli_template(tmp_path, ref, csv_apps):
    from evaluator.cli import main

    blank = tmp_path / "blank.xlsx"
    assert main(["template", "--out", str(blank)]) == 0
    assert openpyxl.load_workbook(blank).sheetnames[0] == "applications"
    filled = tmp_path / "filled.xlsx"
    assert main(["template", "--from", str(SAMPLE_CSV), "--out", str(filled)]) == 0
    assert load_applications(filled, ref=ref).applications == csv_apps


# ----------------------------------------------------------------------------------------------
# Korean
# ----------------------------------------------------------------------------------------------
def test_korean_template_keeps_the_codes_and_loads(ref, csv_apps):
    data = build_template(language="ko")
    wb = _wb(data)
    assert wb.sheetnames == ["applications", "production_schedule", "capex_schedule", "작성 안내", "lists"]
    ws = wb["applications"]
    assert [c.value for c in ws[1]] == list(COLUMNS)  # the column ids are codes the loader reads
    units = [c.value for c in ws[2]]
    assert units[list(COLUMNS).index("initial_capex_usd_m")] == "[백만 달러]"
    assert units[list(COLUMNS).index("fund_request_krw_bn")] == "[십억원]"
    instr = wb["작성 안내"]
    rows = {instr.cell(row=r, column=1).value: [instr.cell(row=r, column=j).value for j in range(1, 7)]
            for r in range(5, 5 + len(FIELDS))}
    assert list(rows) == list(COLUMNS)
    assert rows["recovery"][2] == "선광·제련 회수율" and rows["recovery"][4] == "예"
    assert rows["stage"][5].startswith("다음 중 하나: exploration, feasibility")
    res = load_applications(data, filename="t.xlsx", ref=ref)
    assert [p.code for p in res.problems] == ["problem_example_row"]  # issue 25: named, not evaluated
    assert res.raw["name"].iloc[0].startswith("예시 희토류 광산")
    assert parse_application(example_record("ko"))[1] == []
    back = load_applications(build_template(applications=csv_apps, language="ko"), filename="k.xlsx", ref=ref)
    assert back.applications == csv_apps


def test_english_field_labels_are_the_schema_descriptions():
    """The English label file repeats FIELDS' descriptions (for key parity): they must not drift."""
    from evaluator.xlsx_style import load_labels

    assert load_labels("en").table["field"] == {f.name: f.description for f in FIELDS}


def test_korean_template_has_no_english_words(ref):
    from test_report_language import english_words, string_cells
    from models.application import ESG_CATEGORIES, GRADE_UNITS, PERMITS, STAGES, YES_NO

    codes = set(COLUMNS) | set(STAGES) | set(ESG_CATEGORIES) | set(PERMITS) | set(GRADE_UNITS) | set(YES_NO)
    codes |= set(ref.countries.index) | set(ref.minerals.index) | set(ref.ree_oxides.index)
    codes |= {c for f in FIELDS for c in f.choices}                 # choice codes of every field
    regions = pd.read_csv(ROOT / "evaluator" / "data" / "fiscal_regimes.csv", comment="#")["region"]
    codes |= set(regions) | {p for r in regions for p in str(r).split("-")}   # fiscal regime codes
    # sheet and schedule column names the loader reads; the example id; a minerals.csv column
    codes |= {"applications", "production_schedule", "lists", "operating_year", "ore_mt", "EXAMPLE", "VN", "REE",
              "grade_basis", "capex_schedule", "model_year", "capex_usd_m", "grade"}
    cells = string_cells(build_template(language="ko"))
    assert len(cells) > 300
    bad = english_words(cells, [], codes)
    assert bad == [], bad[:20]
    assert english_words(string_cells(build_template(language="en")), [], codes)  # the check can fail


def test_cli_template_in_korean(tmp_path):
    from evaluator.cli import main

    out = tmp_path / "ko.xlsx"
    assert main(["template", "--out", str(out), "--language", "ko"]) == 0
    assert "작성 안내" in openpyxl.load_workbook(out).sheetnames
