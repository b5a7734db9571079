"""Exports are safe to open and to edit: user text that a spreadsheet would read as a formula
stays text in the report, the template, the edited-applications workbook and every CSV.

The rule (prefix an apostrophe in CSV; a text cell with ``quotePrefix`` in xlsx) is OWASP's
"CSV Injection" advice. The xlsx checks read the written file itself (``xl/styles.xml`` and the
sheet XML), because openpyxl can hold a flag in memory that never reaches the file (NOTES.md:
assigning ``cell.style`` after ``cell.quotePrefix`` resets it).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator import xlsx_style as xs
from evaluator.safe_text import (
    FORMULA_TRIGGERS,
    is_formula_like,
    neutralise_cell,
    neutralise_frame,
    safe_csv,
    safe_csv_bytes,
)
from evaluator.template import applications_workbook, build_template
from models.application import COLUMNS
from models.loader import load_applications, read_table, validate_table

SAMPLE_CSV = Path(__file__).resolve().parents[1] / "sample_projects" / "applications.csv"

HYPERLINK = '=HYPERLINK("http://x","y")'
HOSTILE = [HYPERLINK, "+1", "-2", "@SUM(A1:A2)", "\tx", "\rcr", "=1+1"]
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


# ----------------------------------------------------------------------------------------------
# helpers: what the written xlsx file says
# ----------------------------------------------------------------------------------------------
def _sheet_paths(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> path of its XML part inside the zip."""
    book = ET.fromstring(zf.read("xl/workbook.xml"))
    rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    target = {r.get("Id"): r.get("Target") for r in rels}
    rid = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    out = {}
    for s in book.find("m:sheets", NS):
        t = target[s.get(rid)].lstrip("/")
        out[s.get("name")] = t if t.startswith("xl/") else "xl/" + t
    return out


def _quote_prefixed_cells(data: bytes, sheet: str) -> dict[str, bool]:
    """Cell reference -> True when the cell's xf in the written ``xl/styles.xml`` carries
    ``quotePrefix="1"``, for every cell of ``sheet``."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        styles = ET.fromstring(zf.read("xl/styles.xml"))
        xfs = styles.find("m:cellXfs", NS).findall("m:xf", NS)
        quoted = [xf.get("quotePrefix") in ("1", "true") for xf in xfs]
        root = ET.fromstring(zf.read(_sheet_paths(zf)[sheet]))
    return {c.get("r"): quoted[int(c.get("s", "0"))] for c in root.iter(f"{{{NS['m']}}}c")}


def _formula_cells(data: bytes) -> list[str]:
    """Every ``<f>`` element in every sheet of the written file (as 'sheet!ref')."""
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for title, path in _sheet_paths(zf).items():
            root = ET.fromstring(zf.read(path))
            for c in root.iter(f"{{{NS['m']}}}c"):
                if c.find("m:f", NS) is not None:
                    found.append(f"{title}!{c.get('r')}")
    return found


# ----------------------------------------------------------------------------------------------
# CSV
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", HOSTILE)
def test_neutralise_cell_prefixes_every_trigger(text):
    assert neutralise_cell(text) == "'" + text
    assert not is_formula_like(neutralise_cell(text))


@pytest.mark.parametrize("value", ["plain", "a=b", " =x", "", "'=already", -3.25, 0, None, True, float("nan")])
def test_neutralise_cell_leaves_the_rest_alone(value):
    assert neutralise_cell(value) is value


def test_triggers_are_owasps_list():
    # OWASP "CSV Injection": =, +, -, @, tab (0x09), carriage return (0x0D)
    assert set(FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r"}


def _hostile_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"name": HOSTILE, "npv_usd_m": [-3.25, 10.0, -0.5, 1e6, -7.0, 2.0, -1.0],
         "rank": [1, 2, 3, 4, 5, 6, 7], "note": ["ok", None, "-", "x", "@", "a-b", "+"]},
        index=pd.Index(["=ID()", "B", "-C", "D", "E", "F", "G"], name="id"),
    )


def test_safe_csv_neutralises_text_and_keeps_numbers():
    frame = _hostile_frame()
    text = safe_csv(frame)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    assert header == ["id", "name", "npv_usd_m", "rank", "note"]
    assert [r[0] for r in body] == ["'=ID()", "B", "'-C", "D", "E", "F", "G"]
    assert [r[1] for r in body] == ["'" + h for h in HOSTILE]
    # numbers stay numbers: the negative ones keep their minus sign and get no apostrophe
    assert [float(r[2]) for r in body] == frame["npv_usd_m"].tolist()
    assert [r[3] for r in body] == [str(k) for k in range(1, 8)]
    assert [r[4] for r in body] == ["ok", "", "'-", "x", "'@", "a-b", "'+"]
    assert text.endswith("\r\n") and len(body) == len(frame)  # the CR inside a field is quoted
    # no field of the file starts with a trigger, except the numbers
    for r in body:
        for field in (r[0], r[1], r[4]):
            assert not is_formula_like(field)
    # the frame given is not changed
    assert frame["name"].tolist() == HOSTILE


def test_safe_csv_column_names_multiindex_and_bytes():
    frame = pd.DataFrame({"=SUM(A1)": ["x"], "ok": [-1.5]},
                         index=pd.MultiIndex.from_tuples([("-a", "b")], names=["@k", "j"]))
    text = safe_csv(frame)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["'@k", "j", "'=SUM(A1)", "ok"]
    assert rows[1] == ["'-a", "b", "x", "-1.5"]
    assert safe_csv(frame, index=False).splitlines()[0] == "'=SUM(A1),ok"
    data = safe_csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf") and data.decode("utf-8-sig") == text


def test_neutralise_frame_keeps_dtypes_of_numeric_and_string_columns():
    frame = pd.DataFrame({"n": pd.Series([-1, 2], dtype="int64"), "f": [-0.5, 1.5],
                          "s": pd.Series(["-x", "y"], dtype="string"), "b": [True, False]})
    out = neutralise_frame(frame)
    assert out["n"].dtype == "int64" and out["f"].dtype == "float64" and out["b"].dtype == bool
    assert out["s"].tolist() == ["'-x", "y"]
    assert neutralise_frame(frame.iloc[:0]).shape == (0, 4)


# ----------------------------------------------------------------------------------------------
# xlsx: the quotePrefix flag reaches the file
# ----------------------------------------------------------------------------------------------
def test_put_text_with_a_style_keeps_quote_prefix_in_the_file():
    wb = openpyxl.Workbook()
    xs.ensure_styles(wb)
    ws = wb.active
    for i, h in enumerate(HOSTILE + ["plain"], start=1):
        xs.put_text(ws, i, 1, h, "Input")  # a named style: the case that used to drop the flag
        xs.put_value(ws, i, 2, h, "Value")
        xs.put_value(ws, i, 3, -float(i), "Input", xs.FMT_MONEY)
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    quoted = _quote_prefixed_cells(data, ws.title)
    for i, h in enumerate(HOSTILE + ["plain"], start=1):
        assert quoted[f"A{i}"] is quoted[f"B{i}"] is is_formula_like(h), h
        assert not quoted[f"C{i}"]
    assert _formula_cells(data) == []
    back = openpyxl.load_workbook(io.BytesIO(data)).active
    for i, h in enumerate(HOSTILE + ["plain"], start=1):
        a = back.cell(row=i, column=1)
        # XML reading normalises a carriage return to a line feed; the cell stays text either way
        assert a.value in (h, h.replace("\r", "\n")) and a.data_type == "s"
        assert a.quotePrefix is is_formula_like(h) and a.style == "Input"
        c = back.cell(row=i, column=3)
        assert c.value == -float(i) and c.data_type == "n"


def test_template_writes_hostile_text_quote_prefixed(ref, sample_apps):
    apps = [dataclasses.replace(a, name=h, company=h) for a, h in zip(sample_apps, HOSTILE)]
    data = build_template(applications=apps)
    quoted = _quote_prefixed_cells(data, "applications")
    name_col = openpyxl.utils.get_column_letter(list(COLUMNS).index("name") + 1)
    for r, h in enumerate(HOSTILE, start=3):
        assert quoted[f"{name_col}{r}"], h
    assert _formula_cells(data) == []


def test_blank_template_has_no_formula_cells_and_quotes_nothing_needlessly():
    data = build_template()
    assert _formula_cells(data) == []
    quoted = _quote_prefixed_cells(data, "applications")
    assert not any(quoted.values())


def test_report_writes_hostile_names_quote_prefixed(ref, scenario, sample_apps):
    from evaluator.evaluate import evaluate
    from evaluator.report import build_report

    apps = [dataclasses.replace(a, name=h) for a, h in zip(sample_apps[:5], HOSTILE)]
    ev = evaluate(apps, scenario, ref)
    data = build_report(ev, scenario, cashflow_ids=[apps[0].id], decision={"note": HYPERLINK})
    wb = openpyxl.load_workbook(io.BytesIO(data))
    hits = 0
    for ws in wb.worksheets:
        quoted = None
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value in HOSTILE[:5]:
                    assert c.data_type == "s" and c.quotePrefix, (ws.title, c.coordinate)
                    quoted = quoted or _quote_prefixed_cells(data, ws.title)
                    assert quoted[c.coordinate], (ws.title, c.coordinate)
                    hits += 1
    assert hits >= 5
    # the report's own formulas exist, and none of them is user text
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheets = b"".join(zf.read(p) for p in _sheet_paths(zf).values())
    assert b"<f>" in sheets
    assert not re.search(rb"<f>[^<]*HYPERLINK", sheets)


# ----------------------------------------------------------------------------------------------
# the edited applications workbook (replaces pandas to_excel in the app)
# ----------------------------------------------------------------------------------------------
def _none_for_blank(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna() & (frame.astype(str) != ""), None)


def test_pandas_to_excel_would_write_a_live_formula():
    # why the replacement exists: the writer the app used keeps "=..." as a formula
    buf = io.BytesIO()
    pd.DataFrame({"name": [HYPERLINK]}).to_excel(buf, index=False)
    assert _formula_cells(buf.getvalue()) == ["Sheet1!A2"]


def test_applications_workbook_round_trip_keeps_hostile_text(ref):
    raw, _ = read_table(SAMPLE_CSV)
    raw = raw.copy()
    for k, h in enumerate(HOSTILE):
        raw.loc[k, "name"] = h
    raw.loc[len(HOSTILE), "company"] = HYPERLINK
    sched = pd.DataFrame({"id": [raw.loc[0, "id"]] * 3, "operating_year": [1, 2, 3], "ore_mt": [0.2, 0.4, 0.5]})
    data = applications_workbook(raw, sched)
    assert _formula_cells(data) == []
    assert openpyxl.load_workbook(io.BytesIO(data)).sheetnames == build_template_sheetnames()

    back, back_sched = read_table(data, filename="edited.xlsx")
    # the raw table comes back cell for cell (CR becomes LF in XML, as Excel does)
    expected = _none_for_blank(raw)
    expected.loc[5, "name"] = "\ncr"
    got = back[list(raw.columns)]
    pd.testing.assert_frame_equal(_none_for_blank(got), expected, check_dtype=False)
    assert back_sched[["id", "operating_year", "ore_mt"]].values.tolist() == sched.values.tolist()

    before = validate_table(raw, sched, ref=ref)
    after = load_applications(data, filename="edited.xlsx", ref=ref)
    assert [a.id for a in after.applications] == [a.id for a in before.applications]
    named = {a.id: a for a in after.applications}
    assert named[raw.loc[0, "id"]].name == HYPERLINK
    assert named[raw.loc[len(HOSTILE), "id"]].company == HYPERLINK
    assert named[raw.loc[0, "id"]].production_schedule_ore_mt == (0.2, 0.4, 0.5)
    assert [(p.application_id, p.field) for p in after.problems] == \
        [(p.application_id, p.field) for p in before.problems]


def build_template_sheetnames() -> list[str]:
    return ["applications", "production_schedule", "capex_schedule", "instructions", "lists"]


def test_applications_workbook_keeps_numbers_as_numbers(ref, sample_apps):
    from models.loader import applications_frame

    raw = applications_frame(sample_apps[:4]).astype(object)
    raw.loc[0, "closure_cost_usd_m"] = -5.0  # a negative number: an error for the loader, but a number
    raw.loc[1, "name"] = "-2"
    data = applications_workbook(raw, None)
    ws = openpyxl.load_workbook(io.BytesIO(data))["applications"]
    col = {c.value: c.column for c in ws[1]}
    cell = ws.cell(row=3, column=col["closure_cost_usd_m"])
    assert cell.value == -5.0 and cell.data_type == "n" and not cell.quotePrefix
    name = ws.cell(row=4, column=col["name"])
    assert name.value == "-2" and name.data_type == "s" and name.quotePrefix
    res = load_applications(data, filename="e.xlsx", ref=ref)
    assert [a.id for a in res.applications] == [a.id for a in sample_apps[1:4]]
    assert res.applications[0].name == "-2"
    assert [(p.application_id, p.field) for p in res.problems] == [(sample_apps[0].id, "closure_cost_usd_m")]
    assert list(res.applications[1:]) == list(sample_apps[2:4])


def test_applications_workbook_extra_columns_and_empty_table():
    raw = pd.DataFrame({"id": ["A-1"], "name": ["x"], "my_note": ["=1+1"]}, dtype=object)
    data = applications_workbook(raw)
    back, _ = read_table(data, filename="e.xlsx")
    assert back.loc[0, "my_note"] == "=1+1" and back.loc[0, "id"] == "A-1"
    assert list(back.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert _quote_prefixed_cells(data, "applications")[
        openpyxl.utils.get_column_letter(len(COLUMNS) + 1) + "3"]
    empty, _ = read_table(applications_workbook(raw.iloc[:0]), filename="e.xlsx")
    assert len(empty) == 0


_TEXT = st.text(alphabet=st.sampled_from(list("=+-@\t ab1(),\"'.:/") + ["가", "é"]), min_size=1, max_size=20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_TEXT, min_size=1, max_size=4), numbers=st.lists(
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False), min_size=1, max_size=4))
def test_property_edited_table_round_trips(names, numbers):
    n = min(len(names), len(numbers))
    raw = pd.DataFrame({"id": [f"P-{k}" for k in range(n)], "name": names[:n],
                        "initial_capex_usd_m": numbers[:n]}, dtype=object)
    back, _ = read_table(applications_workbook(raw), filename="p.xlsx")
    for k in range(n):
        assert isinstance(back.loc[k, "initial_capex_usd_m"], (int, float))
        # XML reading turns CR into LF (Excel does the same); nothing else changes
        assert back.loc[k, "name"] == names[k].replace("\r", "\n")
        # openpyxl writes 16 significant digits (Excel keeps 15): equal to that precision
        assert back.loc[k, "initial_capex_usd_m"] == pytest.approx(numbers[k], rel=1e-15, abs=0)
