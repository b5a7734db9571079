"""Hostile and malformed inputs for the loader, generated in memory (nothing large is committed).

Each generator returns ``(bytes, filename)``. ``tests/test_input_strict.py`` asserts the named
error of each; run this file to measure every case in a fresh process (wall time and peak RSS)::

    OPENBLAS_NUM_THREADS=1 python tests/hostile_inputs.py

which prints the table quoted in the issue-13 report (input class | handled how | worst time |
worst memory).
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = ROOT / "sample_projects" / "applications.csv"


def problems_at(res, app_id, field) -> list:
    """The problems a load (``LoadResult``) found in ``app_id``'s ``field``; asserts there is one."""
    found = [p for p in res.problems if p.application_id == app_id and p.field == field]
    assert found, [p.message() for p in res.problems]
    return found


def assert_fast_and_small(fn, seconds=20.0, megabytes=300) -> tuple[float, float]:
    """Run ``fn``; assert it took under ``seconds`` [s] and peaked under ``megabytes`` [MiB] of
    Python memory; (time, peak). A guard against the minutes and the gigabyte these files once
    took, not a speed target (those live in benchmarks/): each is refused in well under a second,
    so a loaded CI machine keeps a wide margin under the bound."""
    import time
    import tracemalloc

    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        fn()
    finally:
        took = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert took < seconds and peak < megabytes, (took, peak)
    return took, peak

_CT = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
       b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
       b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override '
       b'PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
       b'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType='
       b'"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
_RELS = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
         b'2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WB = (b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
       b'2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
       b'<sheet name="applications" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            b'2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
               b'spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = b"</sheetData></worksheet>"


def minimal_workbook(sheet_xml_parts, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal one-sheet workbook whose sheet XML is streamed from ``sheet_xml_parts`` (bytes chunks)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CT)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WB)
        zf.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            for part in sheet_xml_parts:
                fh.write(part)
    return buf.getvalue()


def template_workbook(n_apps: int = 3) -> bytes:
    """The template writer's workbook holding the first ``n_apps`` sample applications."""
    from evaluator.template import build_template
    from models.loader import load_applications

    apps = load_applications(SAMPLE_CSV).applications[:n_apps]
    return build_template(applications=apps)


def replace_member(data: bytes, name: str, new: bytes) -> bytes:
    """The same zip with one member's content replaced."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, new if info.filename == name else src.read(info.filename))
    return out.getvalue()


def member(data: bytes, name: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read(name)


# ---------------------------------------------------------------------------------- the cases

def zip_bomb():
    """51 MB of sheet XML (zeros in one cell's text) in a file of about 50 kB."""
    def parts():
        yield _SHEET_HEAD + b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
        for _ in range(51):
            yield b"0" * (1 << 20)
        yield b"</t></is></c></row>" + _SHEET_TAIL
    return minimal_workbook(parts()), "bomb.xlsx"


def too_many_cells(n: int = 600_001):
    """A sheet with ``n`` empty cells (a few MB of XML, compressed to a few kB)."""
    def parts():
        yield _SHEET_HEAD
        per_row = 1000
        for r in range(n // per_row + 1):
            k = min(per_row, n - r * per_row)
            if k <= 0:
                break
            yield f'<row r="{r + 1}">'.encode() + b"<c/>" * k + b"</row>"
        yield _SHEET_TAIL
    return minimal_workbook(parts()), "cells.xlsx"


def too_many_shared_strings(n: int = 500_001):
    """A sharedStrings part with ``n`` one-character strings (the sheet is tiny)."""
    sst = (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
           b'2006/main">' + b"<si><t>a</t></si>" * n + b"</sst>")
    sheet = [_SHEET_HEAD + b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + _SHEET_TAIL]
    return minimal_workbook(sheet, {"xl/sharedStrings.xml": sst}), "sst.xlsx"


def _header_row() -> bytes:
    from openpyxl.utils import get_column_letter

    from models.application import COLUMNS

    return b'<row r="1">' + b"".join(f'<c r="{get_column_letter(j + 1)}1" t="inlineStr"><is><t>{c}</t></is></c>'.encode()
                                     for j, c in enumerate(COLUMNS)) + b"</row>"


def long_cell(n_chars: int = 32_768):
    """The template's header and one inline-string id of ``n_chars`` characters under it."""
    sheet = [_SHEET_HEAD + _header_row() +
             b'<row r="2"><c r="A2" t="inlineStr"><is><t>' + b"x" * n_chars + b"</t></is></c></row>" + _SHEET_TAIL]
    return minimal_workbook(sheet), "long.xlsx"


def huge_styles():
    """A template workbook whose styles part is padded to 6 MB."""
    data = template_workbook(1)
    styles = member(data, "xl/styles.xml")
    padded = styles.replace(b"</styleSheet>", b"<!--" + b"x" * (6 << 20) + b"--></styleSheet>")
    return replace_member(data, "xl/styles.xml", padded), "styles.xlsx"


def billion_laughs():
    """Entity expansion in the sheet XML (refused by defusedxml)."""
    dtd = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;'
           b'&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'
           b'&lol2;">]>')
    sheet = dtd + (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                   b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>')
    return minimal_workbook([sheet]), "lol.xlsx"


def truncated_sheet_xml():
    """A template workbook whose applications sheet XML is cut in half (the zip itself is sound)."""
    data = template_workbook(3)
    xml = member(data, "xl/worksheets/sheet1.xml")
    return replace_member(data, "xl/worksheets/sheet1.xml", xml[: len(xml) // 2]), "truncated.xlsx"


def malformed_sheet_xml():
    """A template workbook whose applications sheet XML has a tag closed by the wrong one."""
    data = template_workbook(3)
    xml = member(data, "xl/worksheets/sheet1.xml")
    bad = xml.replace(b"</row>", b"</col>", 1)
    return replace_member(data, "xl/worksheets/sheet1.xml", bad), "malformed.xlsx"


def encrypted_member():
    """A template workbook whose sheet is flagged as encrypted in the zip directory."""
    import struct

    data = bytearray(template_workbook(1))
    name = b"xl/worksheets/sheet1.xml"
    i = data.find(b"PK\x01\x02")
    while i >= 0:
        n = struct.unpack("<H", data[i + 28:i + 30])[0]
        if data[i + 46:i + 46 + n] == name:
            data[i + 8] |= 1  # general-purpose flag bit 0: encrypted
        i = data.find(b"PK\x01\x02", i + 4)
    return bytes(data), "encrypted.xlsx"


def zip_not_xlsx():
    """A sound zip archive holding a text file."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "hello")
    return buf.getvalue(), "archive.xlsx"


def deep_json(depth: int = 100_000):
    """JSON nested ``depth`` arrays deep (about 200 kB)."""
    return b"[" * depth + b"]" * depth, "deep.json"


def utf16_csv():
    """The sample CSV saved as UTF-16 (with BOM), as Excel's 'Unicode text' does."""
    return SAMPLE_CSV.read_text(encoding="utf-8").encode("utf-16"), "utf16.csv"


def max_size_csv():
    """A CSV just below the upload limit: one application row repeated (10,000 rows)."""
    lines = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    head, row = lines[0], lines[1]
    body = [re.sub(r"^[^,]*", f"APP-{i:05d}", row) for i in range(10_000)]
    return ("\n".join([head] + body) + "\n").encode(), "big.csv"


def max_rows_xlsx():
    """A workbook with 10,000 full application rows (the exact row limit), 41 columns each."""
    import openpyxl

    from models.application import COLUMNS
    from models.loader import load_applications

    rec = load_applications(SAMPLE_CSV).raw.iloc[0].to_dict()
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("applications")
    ws.append(list(COLUMNS))
    for i in range(10_000):
        ws.append([f"APP-{i:05d}"] + [rec[c] if rec[c] != "" else None for c in COLUMNS[1:]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), "rows.xlsx"


def cells_at_cap(n_rows: int = 9_999, n_cols: int = 59):
    """Just under the cell cap: the template's header plus extra columns to ``n_cols``, and ``n_rows``
    rows of numbers, without a ``<dimension>`` (the slowest workbook the guards let through)."""
    from openpyxl.utils import get_column_letter

    letters = [get_column_letter(j + 1) for j in range(n_cols)]

    def parts():
        from models.application import COLUMNS

        names = list(COLUMNS) + [f"extra{j}" for j in range(n_cols - len(COLUMNS))]
        yield _SHEET_HEAD + b'<row r="1">' + b"".join(
            f'<c r="{L}1" t="inlineStr"><is><t>{names[j]}</t></is></c>'.encode() for j, L in enumerate(letters)) + b"</row>"
        for r in range(2, n_rows + 2):
            yield f'<row r="{r}">'.encode() + b"".join(f'<c r="{L}{r}"><v>{r}.5</v></c>'.encode() for L in letters) + b"</row>"
        yield _SHEET_TAIL
    return minimal_workbook(parts()), "cap.xlsx"


def stale_dimension():
    """A template workbook of 5 applications whose stored dimension claims A1:B3."""
    data = template_workbook(5)
    xml = member(data, "xl/worksheets/sheet1.xml")
    stale = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:B3"', xml, count=1)
    return replace_member(data, "xl/worksheets/sheet1.xml", stale), "stale.xlsx"


def duplicate_header_csv():
    """The sample CSV with a second ``head_grade`` column appended."""
    lines = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    return ("\n".join([lines[0] + ",head_grade"] + [ln + ",1" for ln in lines[1:]]) + "\n").encode(), "dup.csv"


def wrong_schedule_json():
    """JSON whose production_schedule is an object of lists instead of a list of records."""
    return json.dumps({"applications": [], "production_schedule": {"A": [0.1, 0.2]}}).encode(), "sched.json"


def csv_blank_lines():
    """19 MB of line breaks after a header."""
    return b"id,name\n" + b"\n" * (19 << 20), "blank.csv"


def csv_many_fields(n: int = (19 << 20) // 3):
    """The template's header and one row of ``n`` two-letter fields (19 MB: about 6.6 million)."""
    header = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()[0].encode()
    return header + b"\n" + b"ab," * n, "fields.csv"


def json_many_objects():
    """A JSON list of 19 MB of empty objects (about 6.6 million dicts)."""
    return b"[" + b"{}," * ((19 << 20) // 3) + b"{}]", "objects.json"


def json_many_strings(n: int = (19 << 20) // 5):
    """One application whose ramp_up is a JSON list of ``n`` two-letter strings (19 MB: about 4 million)."""
    return b'[{"id": "A", "ramp_up": [' + b'"ab",' * n + b'"ab"]}]', "strings.json"


_SNIPPETS = [b"<", b">", b'"', b"&", b"<c>", b"</row>", b"\x00", b"\xff", b",", b"{", b"]", b"%", b"1e999", b"'=",
             b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"inf", b"nan", b"[[[[", b"\n[weights]\nx=1\n", b"2027.5"]


def mutate(data: bytes, rng) -> bytes:
    """1-8 random edits: a byte changed, a run deleted, a hostile snippet inserted, or a truncation."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op, i = rng.random(), rng.randrange(len(b)) if b else 0
        if op < 0.4 and b:
            b[i] = rng.randrange(256)
        elif op < 0.6 and b:
            del b[i:i + rng.randint(1, 50)]
        elif op < 0.8:
            b[i:i] = rng.choice(_SNIPPETS)
        else:
            b = b[: rng.randrange(len(b) + 1)]
    return bytes(b)


def mutated_inputs(n: int, seed: int = 0):
    """``n`` mutants of a template workbook (one part or the zip bytes), the sample CSV and JSON."""
    import random

    from models.loader import applications_frame, load_applications

    rng = random.Random(seed)
    base = template_workbook(3)
    src = zipfile.ZipFile(io.BytesIO(base))
    members = {i.filename: src.read(i.filename) for i in src.infolist()}
    csv_bytes = SAMPLE_CSV.read_bytes()[:6000]
    apps = load_applications(SAMPLE_CSV).applications[:3]
    js = json.dumps({"applications": applications_frame(apps).to_dict("records")}).encode()
    for _ in range(n):
        kind = rng.choice(["part", "zip", "csv", "json"])
        if kind == "part":
            name, out = rng.choice(list(members)), io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                for k, v in members.items():
                    zf.writestr(k, mutate(v, rng) if k == name else v)
            yield out.getvalue(), "a.xlsx"
        elif kind == "zip":
            yield mutate(base, rng), "a.xlsx"
        elif kind == "csv":
            yield mutate(csv_bytes, rng), "a.csv"
        else:
            yield mutate(js, rng), "a.json"


def wide_sparse_sheet(n_rows: int = 9_999):
    """The template's header plus a name in column XFD, then rows with one value in column XFD: without
    a width cap every row would be a list of 16,384 entries (1.3 GB for 10,000 rows)."""
    def parts():
        yield _SHEET_HEAD + _header_row().replace(b"</row>", b'<c r="XFD1" t="inlineStr"><is><t>far</t></is></c></row>')
        for r in range(2, n_rows + 2):
            yield f'<row r="{r}"><c r="XFD{r}"><v>1</v></c></row>'.encode()
        yield _SHEET_TAIL
    return minimal_workbook(parts()), "wide.xlsx"


def csv_wide_header(n: int = 990_000):
    """A CSV header of ``n`` columns (under the comma cap), then 10 short rows to pad to its width."""
    header = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()[0] + "".join(f",x{i}" for i in range(n))
    return (header + "\n" + "A\n" * 10).encode(), "wide.csv"


def json_many_keys(n_records: int = 1_000, keys_each: int = 900):
    """JSON records with distinct keys: without a cap, a table of 1,000 x 900,000 cells."""
    recs = [{f"k{i}_{j}": 1 for j in range(keys_each)} for i in range(n_records)]
    return json.dumps(recs, separators=(",", ":")).encode(), "keys.json"


# ----------------------------------------------------------------- issue 25: markup the cell caps do not see

def _flood(inner: bytes, head: bytes = b"", tail: bytes = b"", target_bytes: int = 49 << 20) -> bytes:
    """A sheet of ``head`` + ``inner`` repeated to about ``target_bytes`` of XML + ``tail`` (compresses to kBs)."""
    def parts():
        yield _SHEET_HEAD + head
        block = inner * max(1, (1 << 20) // len(inner))
        for _ in range(target_bytes // len(block)):
            yield block
        yield tail + _SHEET_TAIL
    return minimal_workbook(parts())


def empty_elements():
    """12 million empty elements of a name no guard counted, inside sheetData (49 MB of XML)."""
    return _flood(b"<x/>"), "elements.xlsx"


def empty_elements_outside_sheet_data():
    """The same flood beside sheetData, under the worksheet (never cleared by a row-by-row reader)."""
    def parts():
        yield _SHEET_HEAD + _SHEET_TAIL[:-len(b"</worksheet>")]
        block = b"<x/>" * (1 << 18)
        for _ in range(48):
            yield block
        yield b"</worksheet>"
    return minimal_workbook(parts()), "outside.xlsx"


def rich_text_runs():
    """One inline-string cell of 5 million one-character rich-text runs."""
    return _flood(b"<r><t>a</t></r>", b'<row r="1"><c r="A1" t="inlineStr"><is>', b"</is></c></row>",
                  target_bytes=45 << 20), "runs.xlsx"


def attribute_flood(n: int = 3_900_000):
    """One cell carrying ``n`` attributes (under the unzipped-size cap)."""
    def parts():
        yield _SHEET_HEAD + b'<row r="1"><c r="A1"'
        for start in range(0, n, 100_000):
            yield b"".join(b' a%d="1"' % i for i in range(start, min(start + 100_000, n)))
        yield b"/></row>" + _SHEET_TAIL
    return minimal_workbook(parts()), "attrs.xlsx"


def attributes_on_many_cells():
    """600,000 rows each with 10 attributes (the attribute flood spread thinly)."""
    row = b'<row a="1" b="1" c="1" d="1" e="1" f="1" g="1" h="1" i="1" j="1"/>'
    return _flood(row, target_bytes=40 << 20), "thin_attrs.xlsx"


def workbook_structures(rng, apps_csv_rows: int = 3):
    """A template workbook of a few sample applications with random structure added: merged ranges,
    hidden or renamed sheets, formulas with and without values, number formats, NaN cells."""
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(template_workbook(apps_csv_rows)))
    ws = wb["applications"]
    n_cols = ws.max_column
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["merge", "hide", "twin", "formula", "format", "percent", "date", "text"])
        r, c = rng.randint(1, ws.max_row + 1), rng.randint(1, n_cols)
        cell = ws.cell(row=r, column=c)
        if kind == "merge":
            ws.merge_cells(start_row=r, start_column=c, end_row=r + rng.randint(0, 2), end_column=c + rng.randint(0, 2))
        elif kind == "hide":
            other = wb.create_sheet(rng.choice(["applications (2)", "capex_schedule", "notes"]))
            other.append(["id"])
            rng.choice([ws, other]).sheet_state = rng.choice(["hidden", "veryHidden"])
        elif kind == "twin":
            wb.copy_worksheet(ws).title = rng.choice(["Applications ", "ＡＰＰＬＩＣＡＴＩＯＮＳ", "applications\u200b"])
        elif kind == "formula":
            cell.value = rng.choice(["=1+1", "=A1", '=""', "=NA()", "=1/0"])
        elif kind in ("format", "percent", "date"):
            cell.number_format = {"format": rng.choice(["0.00", "#,##0", "@", '0.0" %"']),
                                  "percent": rng.choice(["0%", "0.00%"]), "date": "yyyy-mm-dd"}[kind]
        else:
            cell.value = rng.choice(["NaN", "1e400", "２．５", "2.5%", "=HYPERLINK(\"x\")", "\u200b"])
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if rng.random() < 0.3:  # a generator that writes no cached value, or NaN as a number
        xml = member(data, "xl/worksheets/sheet1.xml")
        xml = xml.replace(b"<v />", b"", 1) if rng.random() < 0.5 else re.sub(rb"<v>[0-9.]+</v>", b"<v>NaN</v>", xml, count=1)
        data = replace_member(data, "xl/worksheets/sheet1.xml", xml)
    return data, "structure.xlsx"


CASES = {
    "zip bomb (51 MB of sheet XML in ~50 kB)": zip_bomb,
    "600,001 cells in one sheet": too_many_cells,
    "500,001 shared strings": too_many_shared_strings,
    "one cell of 32,768 characters": long_cell,
    "6 MB styles part": huge_styles,
    "entity expansion (billion laughs) in sheet XML": billion_laughs,
    "truncated sheet XML": truncated_sheet_xml,
    "malformed sheet XML": malformed_sheet_xml,
    "zip that is not xlsx": zip_not_xlsx,
    "zip member flagged as encrypted": encrypted_member,
    "10,000 rows with one value in column XFD": wide_sparse_sheet,
    "CSV header of 990,000 columns": csv_wide_header,
    "JSON records with 900,000 distinct keys": json_many_keys,
    "JSON nested 100,000 deep": deep_json,
    "JSON schedule of the wrong shape": wrong_schedule_json,
    "stale <dimension> (A1:B3 on a 5-application sheet)": stale_dimension,
    "duplicate column header (CSV)": duplicate_header_csv,
    "UTF-16 CSV": utf16_csv,
    "CSV of 19 MB of blank lines": csv_blank_lines,
    "CSV row of 6.6 million fields": csv_many_fields,
    "JSON list of 6.6 million empty objects": json_many_objects,
    "JSON list of 4 million strings in one field": json_many_strings,
    "CSV row of 999,000 fields (under the comma cap)": lambda: csv_many_fields(999_000 - 41),
    "JSON list of 999,000 strings (under the comma cap)": lambda: json_many_strings(999_000),
    "499,999 shared strings (under the cap)": lambda: too_many_shared_strings(499_999),
    "CSV of 10,000 valid rows (limit)": max_size_csv,
    "xlsx of 10,000 full rows (limit)": max_rows_xlsx,
    "590,000 cells + 10,000 rows, 59 columns, no <dimension> (at the cap)": cells_at_cap,
    "12 million empty non-cell elements in sheetData (issue 25)": empty_elements,
    "12 million empty elements beside sheetData (issue 25)": empty_elements_outside_sheet_data,
    "5 million rich-text runs in one cell (issue 25)": rich_text_runs,
    "5 million attributes on one cell (issue 25)": attribute_flood,
    "600,000 rows of 10 attributes (issue 25)": attributes_on_many_cells,
}


def _measure_one(name: str) -> dict:
    """Run one case in this process: generate, then time and measure the load alone."""
    import resource
    import time

    from models.application import ValidationError
    from models.loader import load_applications

    data, filename = CASES[name]()
    before = resource.getrusage(resource.RUSAGE_SELF)
    rss_before = before.ru_maxrss
    t0 = time.perf_counter()
    try:
        res = load_applications(data, filename=filename)
        outcome = f"loaded: {len(res.applications)} valid, {len(res.problems)} problems"
    except ValidationError as exc:
        outcome = f"{type(exc).__name__}: {str(exc)[:110]}"
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    rss_after = after.ru_maxrss
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"case": name, "outcome": outcome, "seconds": seconds, "cpu_seconds": cpu, "bytes": len(data),
            "peak_rss_mb": rss_after / 1024, "rss_growth_mb": max(rss_after - rss_before, 0) / 1024}


def main() -> None:
    """Each case in its own interpreter (peak RSS is per process); prints a Markdown table."""
    import subprocess

    print("| input class | file size | handled how | time [s] wall (CPU) | peak RSS [MB] (growth during load) |")
    print("|---|---|---|---|---|")
    for name in CASES:
        out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True, cwd=ROOT,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {r['case']} | {r['bytes'] / 1024:,.0f} kB | {r['outcome']} | {r['seconds']:.2f} ({r['cpu_seconds']:.2f}) | "
              f"{r['peak_rss_mb']:.0f} ({r['rss_growth_mb']:+.0f}) |")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(_measure_one(sys.argv[2])))
    else:
        main()
