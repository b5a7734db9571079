"""The template's yearly sheets (issue 16): ``production_schedule`` (id, operating_year, ore_mt,
grade) and ``capex_schedule`` (id, model_year, capex_usd_m) are read into the application's list
fields, in both languages of the template, from workbooks and JSON; a schedule given both on a sheet
and in the applications column is a named problem; the sheet of before issue 16 still reads; the
hostile-file caps hold on the new sheet; the edited-table writer puts every row back on its sheet."""

from __future__ import annotations

import dataclasses
import io
import json

import openpyxl
import pandas as pd
import pytest

from evaluator.template import applications_workbook, build_template
from models.loader import MAX_COLUMNS, LoaderError, load_applications, read_table, validate_table


@pytest.fixture
def app(sample_apps):
    """A sample application without schedules, construction 2 years, 12+ operating years."""
    a = sample_apps[0]
    assert not a.capex_schedule_usd_m and not a.grade_schedule and a.head_grade_unit == "%"
    return dataclasses.replace(a, production_schedule_ore_mt=())


def _workbook(app, production=(), capex=(), language="en") -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(build_template(applications=[app], language=language)))
    for row in production:
        wb["production_schedule"].append([app.id, *row])
    for row in capex:
        wb["capex_schedule"].append([app.id, *row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _problem(res, field):
    return next(p for p in res.problems if p.field == field)


@pytest.mark.parametrize("language", ["en", "ko"])
def test_both_yearly_sheets_are_read(ref, app, language):
    capex = [(1, 120.0), (2, 100.5), (3, 0), (4, 35.25)]
    production = [(2, None, 2.4), (1, None, 2.6), (3, None, 2.2)]
    res = load_applications(_workbook(app, production, capex, language), filename="a.xlsx", ref=ref)
    assert res.problems == [], [p.message() for p in res.problems]
    back = res.applications[0]
    assert back.capex_schedule_usd_m == (120.0, 100.5, 0.0, 35.25)
    assert back.grade_schedule == (2.6, 2.4, 2.2)
    assert back.production_schedule_ore_mt == ()
    assert dataclasses.replace(back, capex_schedule_usd_m=(), grade_schedule=()) == app


def test_ore_and_grade_together_and_the_old_sheet(ref, app):
    rows = [(1, 0.3, 2.5), (2, 0.5, 2.4)]
    back = load_applications(_workbook(app, rows), filename="a.xlsx", ref=ref).applications[0]
    assert back.production_schedule_ore_mt == (0.3, 0.5) and back.grade_schedule == (2.5, 2.4)
    # the sheet as the template wrote it before issue 16: three columns, no capex sheet
    wb = openpyxl.load_workbook(io.BytesIO(build_template(applications=[app])))
    del wb["capex_schedule"]
    old = wb["production_schedule"]
    old.delete_cols(4, 10)
    for k, x in enumerate((0.2, 0.4), start=1):
        old.append([app.id, k, x])
    buf = io.BytesIO()
    wb.save(buf)
    res = load_applications(buf.getvalue(), filename="old.xlsx", ref=ref)
    assert res.problems == [] and res.applications[0].production_schedule_ore_mt == (0.2, 0.4)


@pytest.mark.parametrize("field, production, capex", [
    ("capex_schedule_usd_m", (), [(1, 100.0)]),
    ("grade_schedule", [(1, None, 2.0)], ()),
    ("production_schedule_ore_mt", [(1, 0.5, None)], ()),
])
def test_a_schedule_given_twice_is_named(ref, app, field, production, capex):
    app2 = dataclasses.replace(app, **{field: (1.0,)})
    res = load_applications(_workbook(app2, production, capex), filename="a.xlsx", ref=ref)
    p = _problem(res, field)
    assert p.code == "problem_given_twice" and p.application_id == app.id
    sheet = "capex_schedule" if capex else "production_schedule"
    assert f"on the {sheet} sheet" in p.rule and sheet in p.message("ko")
    assert res.applications == []


@pytest.mark.parametrize("production, capex, sheet, code", [
    ([(1, 0.5, 2.0), (2, None, 2.1)], (), "production_schedule", "problem_schedule_partial"),
    ((), [(1, 10.0), (3, 10.0)], "capex_schedule", "problem_schedule_years"),
    ((), [(1, 10.0), (1, 12.0)], "capex_schedule", "problem_schedule_years"),
    ((), [(1, 100_001.0)], "capex_schedule", "problem_schedule_range"),
    ((), [(1.5, 10.0)], "capex_schedule", "problem_schedule_range"),
    ((), [(1, "12,5")], "capex_schedule", "problem_schedule_number"),
    ((), [(1, -3.0)], "capex_schedule", "problem_schedule_range"),
])
def test_yearly_sheet_rules_are_named(ref, app, production, capex, sheet, code):
    res = load_applications(_workbook(app, production, capex), filename="a.xlsx", ref=ref)
    p = _problem(res, sheet)
    assert (p.application_id, p.code) == (app.id, code), p.message()
    assert res.applications == []


def test_yearly_values_go_through_the_application_rules(ref, app):
    # grade above 100 % and a capex schedule longer than the project: the application's own rules
    res = load_applications(_workbook(app, [(1, None, 120.0)], [(k, 1.0) for k in range(1, 71)]),
                            filename="a.xlsx", ref=ref)
    assert {p.field for p in res.problems} == {"grade_schedule", "capex_schedule_usd_m"}


def test_schedule_for_an_unknown_id_is_named(ref, app):
    wb = openpyxl.load_workbook(io.BytesIO(_workbook(app)))
    wb["capex_schedule"].append(["NOT-THERE", 1, 5.0])
    buf = io.BytesIO()
    wb.save(buf)
    p = _problem(load_applications(buf.getvalue(), filename="a.xlsx", ref=ref), "capex_schedule")
    assert p.code == "problem_schedule_unknown_id" and p.application_id == "NOT-THERE"


def test_json_capex_schedule(ref, app):
    rec = {k: v for k, v in app.to_record().items() if v not in ("", None)}
    doc = {"applications": [rec], "capex_schedule": [{"id": app.id, "model_year": 1, "capex_usd_m": 50.0},
                                                     {"id": app.id, "model_year": 2, "capex_usd_m": 60.0}],
           "production_schedule": [{"id": app.id, "operating_year": 1, "grade": 2.0}]}
    res = load_applications(json.dumps(doc).encode(), filename="a.json", ref=ref)
    assert res.problems == [] and res.applications[0].capex_schedule_usd_m == (50.0, 60.0)
    assert res.applications[0].grade_schedule == (2.0,)
    doc["capex_schedule"][0] = {"id": app.id, "year": 1, "capex_usd_m": 50.0}
    with pytest.raises(LoaderError, match="capex_schedule' must be a list of records with exactly the keys"):
        load_applications(json.dumps(doc).encode(), filename="a.json", ref=ref)


def test_caps_apply_to_the_capex_sheet(app):
    wb = openpyxl.load_workbook(io.BytesIO(_workbook(app)))
    wb["capex_schedule"].cell(row=3, column=MAX_COLUMNS + 1, value=1.0)
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(LoaderError) as exc:
        read_table(buf.getvalue(), filename="a.xlsx")
    p = exc.value.problems[0]
    assert (p.field, p.code) == ("capex_schedule", "problem_beyond_column")
    wb = openpyxl.load_workbook(io.BytesIO(_workbook(app)))
    wb["capex_schedule"]["D3"] = 1.0  # a value in a column without a header
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(LoaderError) as exc:
        read_table(buf.getvalue(), filename="a.xlsx")
    assert exc.value.problems[0].code == "problem_cell_without_header"


@pytest.mark.parametrize("language", ["en", "ko"])
def test_edited_workbook_puts_each_row_back_on_its_sheet(ref, app, language):
    data = _workbook(app, [(1, 0.3, 2.5), (2, 0.5, 2.4)], [(1, 80.0), (2, 70.0)])
    raw, sched = read_table(data, filename="a.xlsx")
    again = applications_workbook(raw, sched, language=language)
    wb = openpyxl.load_workbook(io.BytesIO(again))
    assert [[c.value for c in r] for r in wb["capex_schedule"].iter_rows(min_row=3, max_col=3)] == \
        [[app.id, 1, 80], [app.id, 2, 70]]
    assert [[c.value for c in r] for r in wb["production_schedule"].iter_rows(min_row=3, max_col=4)] == \
        [[app.id, 1, 0.3, 2.5], [app.id, 2, 0.5, 2.4]]
    raw2, sched2 = read_table(again, filename="b.xlsx")
    a = validate_table(raw, sched, ref=ref)
    b = validate_table(raw2, sched2, ref=ref)
    assert a.problems == b.problems == [] and a.applications == b.applications
    assert a.applications[0].capex_schedule_usd_m == (80.0, 70.0)
    # the template's note beside the headers is no column: a second save reads back the same table
    raw3, sched3 = read_table(applications_workbook(raw2, sched2, language=language), filename="c.xlsx")
    assert list(sched3.columns) == list(sched2.columns) == ["id", "operating_year", "ore_mt", "grade", "model_year",
                                                             "capex_usd_m"]


def test_instructions_document_the_yearly_sheets():
    for language, words in (("en", "Model year"), ("ko", "모형 연도")):
        wb = openpyxl.load_workbook(io.BytesIO(build_template(language=language)))
        ws = wb[wb.sheetnames[3]]
        cells = [(r[0].value, r[1].value, r[2].value) for r in ws.iter_rows(min_row=5, max_col=3)]
        yearly = [(s, c) for s, c, _ in cells if s in ("production_schedule", "capex_schedule")]
        assert yearly == [("production_schedule", "id"), ("production_schedule", "operating_year"),
                          ("production_schedule", "ore_mt"), ("production_schedule", "grade"),
                          ("capex_schedule", "id"), ("capex_schedule", "model_year"),
                          ("capex_schedule", "capex_usd_m")]
        assert any(d and d.startswith(words) for _, _, d in cells)


def test_blank_cells_of_the_app_editor_are_blank(ref, app):
    """A schedule frame restored from the app's draft or editor holds NaN and pandas' NA for blanks."""
    from models.loader import applications_frame

    raw = applications_frame([app])
    sched = pd.DataFrame({"id": [app.id] * 3, "operating_year": [1, 2, pd.NA], "ore_mt": [float("nan")] * 2 + [pd.NA],
                          "grade": [2.0, 2.1, pd.NA], "model_year": [pd.NA, float("nan"), 1],
                          "capex_usd_m": [pd.NA, pd.NA, 90.0]}, dtype=object)
    res = validate_table(raw, sched, ref=ref)
    assert res.problems == [], [p.message() for p in res.problems]
    assert res.applications[0].grade_schedule == (2.0, 2.1) and res.applications[0].capex_schedule_usd_m == (90.0,)
