"""Issue 25: what a spreadsheet, a scenario file and a full disk still got past, one test per class.

Every file is built here from the sample applications (``sample_projects/applications.csv``) through
the template writer and openpyxl, or by editing a member of the written workbook; nothing large is
committed. Each test asserts the named problem (application, field or cell, the rule) or the number
read, against the same application loaded from the plain value.
"""

from __future__ import annotations

import io
import math
import json
import re

import numpy as np
import openpyxl
import pytest

import hostile_inputs as hostile
from evaluator.template import EXAMPLE_RECORD, build_template
from models.application import COLUMNS
from models.loader import EXAMPLE_ID, LoaderError, load_applications

SHEET = "xl/worksheets/sheet1.xml"


def _col(field: str) -> int:
    """1-based column of a field on the template's applications sheet."""
    return list(COLUMNS).index(field) + 1


def _edited(apps, edit) -> bytes:
    """The template holding ``apps`` with ``edit(worksheet)`` applied (data rows from row 3)."""
    wb = openpyxl.load_workbook(io.BytesIO(build_template(applications=apps)))
    edit(wb["applications"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_problems = hostile.problems_at


# ------------------------------------------------------------------ percent-formatted cells

def test_percent_formatted_grade_reads_as_the_number_shown_with_a_notice(ref, sample_apps):
    """Excel stores 0.025 when an officer types 2.5% in head_grade [%]: the officer meant 2.5."""
    app = next(a for a in sample_apps if a.head_grade_unit == "%")

    def edit(ws):
        cell = ws.cell(row=3, column=_col("head_grade"))
        cell.value, cell.number_format = app.head_grade / 100, "0.00%"

    res = load_applications(_edited([app], edit), filename="a.xlsx", ref=ref)
    assert res.problems == []
    assert res.applications == [app]  # the same application as the plain value: same NPV
    [notice] = res.notices
    assert (notice.application_id, notice.field) == (app.id, "head_grade")
    assert notice.value == f"{app.head_grade:.12g}%" and f"read as {app.head_grade:g}" in notice.rule


def test_percent_formatted_fraction_is_the_stored_fraction(ref, sample_apps):
    app = sample_apps[0]

    def edit(ws):
        ws.cell(row=3, column=_col("recovery")).number_format = "0%"

    res = load_applications(_edited([app], edit), filename="a.xlsx", ref=ref)
    assert res.applications == [app] and res.notices == []


@pytest.mark.parametrize("field", ["initial_capex_usd_m", "opex_usd_per_t_ore"])
def test_percent_formatted_cell_in_a_money_field_is_named(ref, sample_apps, field):
    app = sample_apps[0]

    def edit(ws):
        cell = ws.cell(row=3, column=_col(field))
        cell.value, cell.number_format = 0.5, "0%"

    res = load_applications(_edited([app], edit), filename="a.xlsx", ref=ref)
    [p] = _problems(res, app.id, field)
    assert p.value == "50%" and "percentage is only accepted in fraction fields" in p.rule
    assert res.applications == []


def test_percent_formatted_grade_in_g_per_t_is_named(ref, sample_apps):
    app = next(a for a in sample_apps if a.head_grade_unit != "%")

    def edit(ws):
        ws.cell(row=3, column=_col("head_grade")).number_format = "0.0%"

    res = load_applications(_edited([app], edit), filename="a.xlsx", ref=ref)
    assert "percentage" in _problems(res, app.id, "head_grade")[0].rule


def test_percent_in_quotes_is_no_percent_format():
    from models.xlsx_cells import is_percent_format

    assert is_percent_format("0.0%") and is_percent_format("#,##0.00%;-0%")
    assert not is_percent_format('0.0" %"') and not is_percent_format("0.0\\%") and not is_percent_format("General")


# ------------------------------------------------------------------ merged cells, sheets

def test_merged_cells_over_data_rows_are_named(ref, sample_apps):
    col = openpyxl.utils.get_column_letter(_col("country_iso3"))

    def edit(ws):
        ws.merge_cells(f"{col}3:{col}4")

    with pytest.raises(LoaderError) as exc:
        load_applications(_edited(sample_apps[:2], edit), filename="a.xlsx", ref=ref)
    assert f"cells {col}3:{col}4 on the 'applications' sheet are merged" in str(exc.value)


def _with_sheets(apps, *extra, hidden=False) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(build_template(applications=apps)))
    for title in extra:
        copy = wb.copy_worksheet(wb["applications"])
        copy.title = title
    if hidden:
        wb["applications"].sheet_state = "hidden"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_hidden_applications_sheet_is_named(ref, sample_apps):
    data = _with_sheets(sample_apps[:1], "applications (2)", hidden=True)
    with pytest.raises(LoaderError, match="the 'applications' sheet is hidden"):
        load_applications(data, filename="a.xlsx", ref=ref)


@pytest.mark.parametrize("other", ["ａｐｐｌｉｃａｔｉｏｎｓ", "applications ", "appli\u200bcations"])
def test_two_sheets_of_one_name_after_normalisation_are_named(ref, sample_apps, other):
    data = _with_sheets(sample_apps[:1], other)
    with pytest.raises(LoaderError, match="two sheets are named 'applications'"):
        load_applications(data, filename="a.xlsx", ref=ref)


# ------------------------------------------------------------------ formulas, non-finite numbers

def test_formula_without_cached_value_names_the_cell(ref, sample_apps):
    """openpyxl writes a formula with an empty value (``<v />``); generators may write none at all."""
    col = openpyxl.utils.get_column_letter(_col("initial_capex_usd_m"))

    def edit(ws):
        ws[f"{col}4"] = "=100+120"

    data = _edited(sample_apps[:3], edit)
    assert b"<f>100+120</f><v />" in hostile.member(data, SHEET) or b"<f>100+120</f><v/>" in hostile.member(data, SHEET)
    for variant in (data, hostile.replace_member(data, SHEET, re.sub(rb"<v ?/>", b"", hostile.member(data, SHEET)))):
        res = load_applications(variant, filename="a.xlsx", ref=ref)
        [p] = _problems(res, sample_apps[1].id, "initial_capex_usd_m")
        assert f"cell {col}4 holds a formula without a calculated value" in p.rule
        assert [a.id for a in res.applications] == [sample_apps[0].id, sample_apps[2].id]


def test_formula_without_value_in_a_text_field_is_named(ref, sample_apps):
    col = openpyxl.utils.get_column_letter(_col("region"))

    def edit(ws):
        ws[f"{col}3"] = '=CONCAT("a","b")'

    res = load_applications(_edited(sample_apps[:1], edit), filename="a.xlsx", ref=ref)
    assert f"cell {col}3 holds a formula" in _problems(res, sample_apps[0].id, "region")[0].rule


def test_formula_with_its_cached_value_is_read(ref, sample_apps):
    """A workbook saved by a spreadsheet carries the formula's value: that value is read."""
    app = sample_apps[0]
    col = openpyxl.utils.get_column_letter(_col("initial_capex_usd_m"))
    data = _edited([app], lambda ws: ws.__setitem__(f"{col}3", "=1+1"))
    xml = hostile.member(data, SHEET)
    xml = re.sub(rb"<f>1\+1</f><v ?/>", b"<f>1+1</f><v>" + repr(app.initial_capex_usd_m).encode() + b"</v>", xml)
    res = load_applications(hostile.replace_member(data, SHEET, xml), filename="a.xlsx", ref=ref)
    assert res.applications == [app]


@pytest.mark.parametrize("word", [b"NaN", b"nan", b"INF", b"-inf", b"1e400"])
def test_non_finite_numeric_cell_is_named_not_blank(ref, sample_apps, word):
    app = sample_apps[0]
    col = openpyxl.utils.get_column_letter(_col("royalty_rate"))  # optional: blank would take the default
    data = _edited([app], lambda ws: ws.__setitem__(f"{col}3", 0.123))
    xml = hostile.member(data, SHEET).replace(b"<v>0.123</v>", b"<v>" + word + b"</v>")
    res = load_applications(hostile.replace_member(data, SHEET, xml), filename="a.xlsx", ref=ref)
    [p] = _problems(res, app.id, "royalty_rate")
    assert f"cell {col}3 holds a number that is not finite" in p.rule


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_named_not_blank(ref, sample_apps, word):
    rec = {k: v for k, v in sample_apps[0].to_record().items() if v not in (None, "", ())}
    text = json.dumps([{**rec, "royalty_rate": 0.5}]).replace("0.5", word)
    res = load_applications(text.encode(), filename="a.json", ref=ref)
    [p] = _problems(res, rec["id"], "royalty_rate")
    assert f"{word} is not a finite number" in p.rule


# ------------------------------------------------------------------ the template's example row

def test_example_row_left_in_is_named_and_not_evaluated(ref, sample_apps):
    assert EXAMPLE_ID == EXAMPLE_RECORD["id"]
    wb = openpyxl.load_workbook(io.BytesIO(build_template(language="ko")))
    wb["applications"].append(list(sample_apps[0].to_record().values()))
    buf = io.BytesIO()
    wb.save(buf)
    res = load_applications(buf.getvalue(), filename="a.xlsx", ref=ref)
    assert [a.id for a in res.applications] == [sample_apps[0].id]
    assert "example row" in _problems(res, EXAMPLE_ID, "id")[0].rule


def test_example_row_with_a_new_id_but_its_name_is_named(ref):
    rec = dict(EXAMPLE_RECORD, id="MY-01")
    res = load_applications(json.dumps([rec]).encode(), filename="a.json", ref=ref)
    assert res.applications == [] and "example row" in _problems(res, "MY-01", "id")[0].rule


def test_cli_prints_the_notice_and_evaluates(tmp_path, capsys, sample_apps):
    from evaluator.cli import main

    app = next(a for a in sample_apps if a.head_grade_unit == "%")

    def edit(ws):
        cell = ws.cell(row=3, column=_col("head_grade"))
        cell.value, cell.number_format = app.head_grade / 100, "0.0%"

    path = tmp_path / "a.xlsx"
    path.write_bytes(_edited([app], edit))
    assert main(["evaluate", str(path), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert f"notice: {app.id} (row 3): Head grade (column head_grade)" in err and [r["id"] for r in json.loads(out)] == [app.id]


# ------------------------------------------------------------------ scenario files

def _scenario(tmp_path, name, text):
    from models.scenario import load_scenario

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


@pytest.mark.parametrize("name, text, message", [
    ("s.json", '{"discount_rate": 0.08, "discount_rate": 0.12}', "'discount_rate' is given twice"),
    ("s.json", '{"weights": {"financial": 1, "risk": 1, "financial": 9}}', "'financial' is given twice"),
    ("s.json", '{"discount_rate": NaN}', "NaN is not a finite number"),
    ("s.json", '{"fund_krw_bn": Infinity}', "Infinity is not a finite number"),
    ("s.json", '{"price_path_usd_per_t": {"lithum": {"2027": 9000}}}', "unknown mineral (key) lithum"),
    ("s.toml", '[price_path_usd_per_t.lithium]\n"2027" = 9000\n"02027" = 20000\n', "year 2027 is given twice"),
    ("s.json", '{"price_path_usd_per_t": {"lithium": {"2027": 9000, " 2027": 1}}}', "year 2027 is given twice"),
    ("s.json", '{"fx_usd_per_unit": {"aud": 0.66, "AUD": 0.7}}', "AUD is given twice"),
    ("s.json", '{"fx_usd_per_unit": {"A$": 0.66}}', "three-letter ISO 4217 code"),
    ("s.toml", "[weights]\n" + "".join(f"{c} = 1e308\n" for c in
                                          ("financial", "risk", "diversification", "loan_safety", "readiness", "esg")),
     "their sum overflows"),
])
def test_scenario_file_tricks_are_named(tmp_path, name, text, message):
    from models.scenario import ScenarioError

    with pytest.raises(ScenarioError) as exc:
        _scenario(tmp_path, name, text)
    assert message in str(exc.value) and name in str(exc.value)


def test_currency_keys_in_lower_case_are_the_currency(tmp_path):
    s = _scenario(tmp_path, "s.toml", "[fx_usd_per_unit]\naud = 0.66\n")
    assert dict(s.fx_usd_per_unit) == {"AUD": 0.66}


# ------------------------------------------------------------------ fields: ids, headers, regions, by-products

def _csv_rows(header, rows) -> bytes:
    import csv

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header] + rows)
    return buf.getvalue().encode()


def _sample_table(n=3):
    import csv

    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "sample_projects" / "applications.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [list(r) for r in rows[1: n + 1]]


@pytest.mark.parametrize("twin", [
    lambda s: s.lower(),                                          # case
    lambda s: s.replace("0", "\uff10", 1) if "0" in s else s + "\uff21",  # a full-width digit (or letter)
    lambda s: s.replace("A", "\u0410", 1) if "A" in s else s.replace("E", "\u0415", 1),  # a Cyrillic look-alike
    lambda s: s[:2] + "\u200b" + s[2:],                            # an invisible character
    lambda s: "\ufeff" + s,                                        # a byte-order mark
])
def test_ids_that_read_the_same_are_duplicates(ref, twin):
    header, rows = _sample_table(3)
    original = rows[0][0]
    rows[2][0] = twin(original)
    assert rows[2][0] != original
    res = load_applications(_csv_rows(header, rows), filename="a.csv", ref=ref)
    assert [a.id for a in res.applications] == [rows[1][0]]
    assert "duplicate id (rows 2, 4)" in _problems(res, original, "id")[0].rule  # the CSV's lines (header = 1)


@pytest.mark.parametrize("header_name, closest", [
    ("head grade", "head_grade"), ("Head_Grade", "head_grade"), ("head\u200bgrade", "head_grade"),
    ("royalty rate", "royalty_rate"), ("로열티율", "-"), ("notes", "-"),
])
def test_unknown_column_with_values_is_named_with_the_closest(ref, header_name, closest):
    from models.loader import closest_column

    header, rows = _sample_table(2)
    rows[0].append("0.05")
    rows[1].append("")
    res = load_applications(_csv_rows(header + [header_name], rows), filename="a.csv", ref=ref)
    assert [a.id for a in res.applications] == [rows[1][0]]  # the row without a value there is read
    [p] = [p for p in res.problems if p.application_id == rows[0][0]]
    assert "is not a template column" in p.rule and f"closest: {closest_column(header_name)}" in p.rule
    if closest != "-":
        assert closest_column(header_name) == closest


def test_korean_field_label_header_points_to_its_field(ref):
    from evaluator import messages
    from models.loader import closest_column

    assert closest_column(messages.text("field_head_grade", "ko")) == "head_grade"


def test_fiscal_region_of_another_country_is_named(ref, sample_apps):
    import dataclasses

    app = next(a for a in sample_apps if a.country_iso3 == "VNM")
    rec = dataclasses.replace(app, fiscal_region="AUS-WA").to_record()
    res = load_applications(json.dumps([rec]).encode(), filename="a.json", ref=ref)
    [p] = _problems(res, app.id, "fiscal_region")
    assert "a fiscal region of AUS, not of the host country VNM (regions of VNM: VNM)" in p.rule
    assert res.applications == []


def test_unknown_fiscal_region_is_named_with_the_country_regions(ref, sample_apps):
    import dataclasses

    app = next(a for a in sample_apps if a.country_iso3 == "AUS")
    rec = dataclasses.replace(app, fiscal_region="AUS-QLD").to_record()
    res = load_applications(json.dumps([rec]).encode(), filename="a.json", ref=ref)
    p = _problems(res, app.id, "fiscal_region")[0]
    assert "not a fiscal region the tool knows (regions of AUS: AUS-NT, AUS-NT-1982, AUS-WA)" in p.rule


@pytest.mark.parametrize("by_products, rule", [
    ("{primary} 0.1 % 0.8 0.9", "is the primary mineral"),
    ("cobalt 0.1 % 0.8 0.9; cobalt 0.2 % 0.8 0.9", "cobalt is listed twice"),
])
def test_by_product_counted_twice_is_named(ref, sample_apps, by_products, rule):
    import dataclasses

    app = next(a for a in sample_apps if a.mineral not in ("cobalt", "rare_earths"))
    rec = dataclasses.replace(app, by_products=()).to_record()
    rec["by_products"] = by_products.format(primary=app.mineral)
    res = load_applications(json.dumps([rec]).encode(), filename="a.json", ref=ref)
    assert rule in _problems(res, app.id, "by_products")[0].rule and res.applications == []


# ------------------------------------------------------------------ crashes: a currency without a rate

def test_currency_without_a_rate_is_named_and_the_others_evaluate(tmp_path, capsys, ref, sample_apps):
    import dataclasses

    from evaluator.cli import main

    recs = [dataclasses.replace(sample_apps[0], currency="XYZ").to_record()] + [a.to_record() for a in sample_apps[1:3]]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(recs), encoding="utf-8")
    assert main(["evaluate", str(path), "--format", "json"]) == 3
    out, err = capsys.readouterr()
    assert [r["id"] for r in json.loads(out)] == [a.id for a in sample_apps[1:3]]
    # a JSON file has no sheet rows: the record's number (1) and the column as the template heads it
    assert f"invalid application {sample_apps[0].id} (row 1): Currency (column currency) = 'XYZ': no exchange rate" in err
    assert "internal error" not in err


def test_currency_with_a_scenario_rate_is_accepted(ref, sample_apps):
    import dataclasses

    rec = dataclasses.replace(sample_apps[0], currency="XYZ").to_record()
    res = load_applications(json.dumps([rec]).encode(), filename="a.json", ref=ref, currencies=["xyz"])
    assert res.problems == [] and res.applications[0].currency == "XYZ"


# ------------------------------------------------------------------ data lost: outputs

def _store_file(tmp_path):
    from evaluator.store import ScenarioStore

    path = tmp_path / "scenarios.sqlite3"
    ScenarioStore(path)
    return path


def test_report_out_naming_the_store_or_an_input_is_refused(tmp_path, capsys):
    from evaluator.cli import main

    store = _store_file(tmp_path)
    before = store.read_bytes()
    sample = tmp_path / "apps.csv"
    sample.write_bytes((hostile.ROOT / "sample_projects" / "applications.csv").read_bytes())
    for out, extra, said in ((store, ["--store", str(store)], "is the scenario store"),
                             (store, [], "is an SQLite database"),
                             (sample, [], "is the input file")):
        assert main(["report", str(sample), "--out", str(out), *extra]) == 2
        assert said in capsys.readouterr().err
    assert store.read_bytes() == before


def test_template_from_x_out_x_is_refused(tmp_path, capsys):
    from evaluator.cli import main

    path = tmp_path / "apps.csv"
    path.write_bytes((hostile.ROOT / "sample_projects" / "applications.csv").read_bytes())
    before = path.read_bytes()
    assert main(["template", "--from", str(path), "--out", str(tmp_path / "." / "apps.csv")]) == 2
    assert "is the --from file" in capsys.readouterr().err and path.read_bytes() == before


def test_outputs_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A full disk (ENOSPC at the sync) leaves the previous report whole and no temporary file."""
    import errno
    import os

    from evaluator.safe_file import OutputError, write_atomic

    out = tmp_path / "report.xlsx"
    write_atomic(out, b"previous good report")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError) as exc:
        write_atomic(out, b"x" * 100_000)
    assert "No space left on device" in str(exc.value) and str(tmp_path) in str(exc.value)
    assert out.read_bytes() == b"previous good report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.xlsx"]


def test_output_into_a_missing_folder_names_the_folder(tmp_path):
    from evaluator.safe_file import OutputError, write_atomic

    with pytest.raises(OutputError, match="cannot create a temporary file in .*nowhere"):
        write_atomic(tmp_path / "nowhere" / "r.xlsx", b"x")


# ------------------------------------------------------------------ uploads through the guarded reader

def test_price_deck_goes_through_the_guarded_reader_and_the_grammar():
    from evaluator.cashflow import PriceDeckError, price_deck_from_frame
    from models.loader import read_plain_table

    frame = read_plain_table(b"mineral,year,price_usd_per_t\nlithium,2027,\"12,000\"\n", "d.csv")
    assert price_deck_from_frame(frame) == {"lithium": {2027: 12000.0}}
    for body, said in ((b"lithium,2027,\"12,5\"\n", "must be numbers"), (b"lithum,2027,9000\n", "unknown mineral"),
                       (b"lithium,2027,NaN\n", "must be numbers")):
        with pytest.raises(PriceDeckError, match=said):
            price_deck_from_frame(read_plain_table(b"mineral,year,price_usd_per_t\n" + body, "d.csv"))
    with pytest.raises(LoaderError, match="expands to more than 50 MB"):
        read_plain_table(*hostile.zip_bomb())
    with pytest.raises(LoaderError, match="not a valid .xlsx workbook"):
        read_plain_table(b"PK\x03\x04 damaged", "deck.xlsx")


def test_customs_extract_goes_through_the_guarded_reader(ref):
    from evaluator.customs import CustomsError, read_comtrade

    with pytest.raises(CustomsError, match="more than 600,000 cells"):
        read_comtrade(hostile.too_many_cells()[0], filename="c.xlsx", ref=ref)
    with pytest.raises(CustomsError, match="not a valid .xlsx workbook"):
        read_comtrade(b"PK\x03\x04 damaged", filename="c.xlsx", ref=ref)


# ------------------------------------------------------------------ resources: markup the cell caps did not see

# a guard against the 17-43 s and 0.6-1.1 GB these files once took (not a speed target)
_fast_and_small = hostile.assert_fast_and_small


@pytest.mark.parametrize("case, message", [
    (hostile.empty_elements, "more than 2,000,000 XML elements or 4,000,000 attributes"),
    (hostile.empty_elements_outside_sheet_data, "more than 2,000,000 XML elements"),
    (hostile.rich_text_runs, "more than 2,000,000 XML elements"),
    (hostile.attributes_on_many_cells, "4,000,000 attributes"),
    (hostile.attribute_flood, "holds an XML tag longer than 64 kB"),
    (lambda: hostile.attribute_flood(20_000), "holds an XML tag longer than 64 kB"),
])
def test_markup_floods_are_refused_fast_with_a_named_error(case, message):
    data, filename = case()

    def load():
        with pytest.raises(LoaderError) as exc:
            load_applications(data, filename=filename)
        assert message in str(exc.value) and "\n" not in str(exc.value)

    _fast_and_small(load)


def test_markup_beside_the_rows_is_not_kept_in_memory():
    """Under the element cap, elements the reader does not use are dropped as they end."""
    import tracemalloc
    import zipfile

    from models import xlsx_cells

    def parts():
        yield hostile._SHEET_HEAD + b'<row r="1"><c r="A1"><v>1</v></c></row>' + b"<x/>" * 400_000
        yield hostile._SHEET_TAIL + b"".join([b""])
    data = hostile.minimal_workbook(parts())
    zf = zipfile.ZipFile(io.BytesIO(data))
    tracemalloc.start()
    rows = list(xlsx_cells.iter_rows(zf, "xl/worksheets/sheet1.xml", [], frozenset()))
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert rows == [(1, [1])] and peak < 40, peak


def test_structure_fuzz_gives_a_named_problem_or_a_result_never_a_traceback(ref):
    """40 workbooks of random structure (merged ranges, hidden and twin sheets, formulas with and
    without values, number formats, NaN cells; seeded): a LoaderError or a LoadResult, nothing else;
    and never an application whose values differ from the sample's without a problem or notice."""
    import random

    rng = random.Random(25)
    originals = {a.id: a for a in load_applications(hostile.template_workbook(3), filename="t.xlsx",
                                                     ref=ref).applications}
    loaded = refused = 0
    for _ in range(40):
        data, filename = hostile.workbook_structures(rng)
        try:
            res = load_applications(data, filename=filename, ref=ref)
            loaded += 1
        except LoaderError as exc:
            assert str(exc) and "\n" not in str(exc)
            refused += 1
            continue
        for app in res.applications:  # what loads silently is what was written
            if app.id in originals and not res.notices:
                assert app == originals[app.id]
    assert loaded and refused


# ------------------------------------------------------------------ unclear: delimiter, long schedules, devices

@pytest.mark.parametrize("sep, word", [(";", "semicolons"), ("\t", "tabs")])
def test_csv_with_another_delimiter_gets_one_line(sep, word):
    header, rows = _sample_table(2)
    text = "\n".join(sep.join(r) for r in [header] + [[c.replace(",", "") for c in row] for row in rows]) + "\n"
    with pytest.raises(LoaderError) as exc:
        load_applications(text.encode(), filename="a.csv")
    assert len(exc.value.problems) == 1 and f"the CSV is separated by {word}" in str(exc.value)


def test_a_100_year_mine_carries_a_100_year_schedule(ref, sample_apps, scenario):
    import dataclasses

    from evaluator import pipeline

    app = sample_apps[0]
    per_year = app.ore_reserve_mt / 100 * 0.99
    rec = dataclasses.replace(app, mine_life_years=100, ramp_up=(), grade_schedule=(),
                              production_schedule_ore_mt=(per_year,) * 100).to_record()
    res = load_applications(json.dumps([rec]).encode(), filename="a.json", ref=ref)
    assert res.problems == [] and res.applications[0].operating_years == 100
    result = pipeline.run(res.applications, scenario, ref, allocate=False)
    assert np.isfinite(result.evaluation.metrics["npv_usd_m"].iloc[0])


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom"])
def test_endless_device_is_refused_with_a_bound(path):
    _fast_and_small(lambda: pytest.raises(LoaderError, load_applications, path, filename="a.csv"), megabytes=60)
    with pytest.raises(LoaderError, match="larger than the 20 MB limit"):
        load_applications(path, filename="a.csv")


def test_a_pipe_is_read_with_a_bound(tmp_path):
    import os
    import threading

    fifo = tmp_path / "apps.csv"
    os.mkfifo(fifo)
    sample = (hostile.ROOT / "sample_projects" / "applications.csv").read_bytes()

    def writer():
        with open(fifo, "wb") as fh:
            fh.write(sample)

    t = threading.Thread(target=writer)
    t.start()
    res = load_applications(fifo)
    t.join()
    assert len(res.applications) == 27


def test_paths_option_is_bounded(capsys):
    from evaluator.cli import main

    sample = str(hostile.ROOT / "sample_projects" / "applications.csv")
    for argv, said in ((["rank", sample, "--risk-adjusted", "--paths", "100000000"], "--paths must be at most 100,000"),
                       (["simulate", sample, "--paths", "100000000"], "--paths must be at most 100,000"),
                       (["simulate", sample, "--portfolio", "--saa-scenarios", "10000000"], "between 1 and 20,000"),
                       (["simulate", sample, "--vol-scale", "1e300"], "--vol-scale must be at most 10"),
                       (["allocate", sample, "--time-limit-s", "1e9"], "at most 3,600")):
        assert main(argv) == 2
        assert said in capsys.readouterr().err


# ------------------------------------------------------------------ exports: Streamlit's own table download

def _all_strings(frame):
    values = [v for col in frame.columns for v in frame[col].tolist()]
    return [v for v in values + list(frame.index) + list(frame.columns) if isinstance(v, str)]


def test_no_table_the_app_shows_carries_a_live_formula(fresh_app):
    """Streamlit's table toolbar writes cells as they are: every table of every page shows formula-like
    text with its apostrophe (names, companies, regions and ids an applicant typed), in both the
    read-only tables and the editor; a damaged price deck and a currency without a rate are named."""
    from app_pages.fmt import shown_cell
    from evaluator.safe_text import is_formula_like

    at = fresh_app
    header, rows = _sample_table(4)
    rows[0][header.index("name")] = '=HYPERLINK("http://x.example","click")'
    rows[1][header.index("company")] = "@SUM(1+1)*cmd|' /C calc'!A0"
    rows[2][header.index("id")] = "=1+1"
    rows[3][header.index("currency")] = "XYZ"  # no exchange rate: named, not a crash on every page
    at.file_uploader(key="apps_upload").set_value(("hostile.csv", _csv_rows(header, rows), "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for page in ["applications", "ranking", "project", "allocation", "report", "scenarios"]:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        for table in list(at.dataframe):
            live = [v for v in _all_strings(table.value) if is_formula_like(v) and shown_cell(v) != v]
            assert not live, (page, live)
    at.switch_page("app_pages/applications.py")
    at.run()
    assert any("no exchange rate" in v for table in at.dataframe for v in _all_strings(table.value))
    at.file_uploader(key="price_deck_upload").set_value(("deck.xlsx", b"PK\x03\x04 damaged", "application/octet-stream"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("deck.xlsx" in e.value and "not a valid .xlsx workbook" in e.value for e in at.error)


# ------------------------------------------------------------------ data lost: a store that cannot be used

def test_a_store_that_cannot_keep_the_draft_is_said_plainly(monkeypatch, tmp_path):
    """A damaged store, and one whose writes fail (read-only, full disk), are named in the sidebar
    with the file's path; the app keeps running."""
    import sqlite3

    from streamlit.testing.v1 import AppTest

    from evaluator.store import ScenarioStore

    root = hostile.ROOT
    monkeypatch.chdir(root)
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("EVALUATOR_STORE", str(damaged))
    at = AppTest.from_file(str(root / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("NOT being kept" in w.value and str(damaged) in w.value for w in at.sidebar.warning)

    def read_only(self, payload, slot="current"):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setenv("EVALUATOR_STORE", str(tmp_path / "fine.sqlite3"))
    monkeypatch.setattr(ScenarioStore, "save_draft", read_only)
    at = AppTest.from_file(str(root / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("readonly database" in w.value for w in at.sidebar.warning)


def test_a_full_disk_in_the_store_names_the_folders(tmp_path, monkeypatch):
    import sqlite3
    import tempfile

    from evaluator import store as storemod

    s = storemod.ScenarioStore(tmp_path / "s.sqlite3")

    class Full:  # a connection whose every statement meets a full disk
        in_transaction = False

        def execute(self, *args):
            raise sqlite3.OperationalError("database or disk is full")

        def close(self):
            pass

    monkeypatch.setattr(s, "_raw_connect", lambda: Full())
    monkeypatch.setattr(s, "_configure", lambda conn: None)
    with pytest.raises(storemod.StoreError) as exc:
        s.save_draft({"a": 1}, "x")
    assert str(tmp_path) in str(exc.value) and tempfile.gettempdir() in str(exc.value)


def test_scenario_structure_fuzz_is_refused_by_name_or_read_as_written(tmp_path):
    """200 scenario files (seeded) with the tricks of issue 25 mixed in: duplicate keys, NaN and
    Infinity, lower-case currency codes, repeated and padded years, misspelt minerals, huge weights.
    Each is a ScenarioError naming the file, or a scenario whose tables hold exactly what the file
    says (no key silently dropped, no year silently merged)."""
    import random

    from models.scenario import ScenarioError, load_scenario

    rng = random.Random(25)
    loaded = refused = 0
    for i in range(200):
        fx = {rng.choice(["AUD", "aud", "Cad", "EUR", "A$"]): rng.choice([0.66, 1.1, "NaN"]) for _ in range(2)}
        path = {rng.choice(["2027", "02027", " 2028", "2030"]): rng.choice([9000, 12000]) for _ in range(3)}
        mineral = rng.choice(["lithium", "lithum", "nickel", "Nickel"])
        weight = rng.choice([1, 2.5, "1e308", "Infinity"])
        body = ('{"fx_usd_per_unit": {%s}, "price_path_usd_per_t": {"%s": {%s}}, "weights": {"financial": %s, '
                '"risk": %s}%s}' % (", ".join(f'"{k}": {v}' for k, v in fx.items()), mineral,
                                    ", ".join(f'"{k}": {v}' for k, v in path.items()), weight, weight,
                                    rng.choice(["", ', "discount_rate": 0.08', ', "discount_rate": 0.1, "discount_rate": 0.1'])))
        file = tmp_path / f"s{i}.json"
        file.write_text(body, encoding="utf-8")
        try:
            s = load_scenario(file)
        except ScenarioError as exc:
            assert file.name in str(exc) and "\n" not in str(exc)
            refused += 1
            continue
        loaded += 1
        assert set(s.fx_usd_per_unit) == {k.upper() for k in fx}  # every currency kept, in upper case
        assert sorted(s.price_path_usd_per_t[mineral]) == sorted({int(y) for y in path})
        assert len(s.price_path_usd_per_t[mineral]) == len(path)  # no two spellings of one year
        assert all(math.isfinite(w) for w in s.normalised_weights().values())
    assert loaded and refused
