"""The report's fast writing paths give the same workbook as openpyxl's plain paths (issue 18).

Reference: openpyxl itself. The plain paths assign a named style and a number format to every
cell (:func:`evaluator.xlsx_style.apply_style_reference`) and merge with ``ws.merge_cells``
(:func:`evaluator.xlsx_style.merge_row_reference`); the report built with them is the report as
it was written before the styles were resolved once per workbook. The two builds must give the
same ``.xlsx`` parts byte for byte (``docProps/core.xml`` carries the time of writing), so the
same cells, values, formulas, number formats, styles, merges, conditional formats, freeze panes
and print settings.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
import pytest
from openpyxl import Workbook

from evaluator import xlsx_style as xs
from evaluator.report import build_pipeline_report

GENERATED_AT = dt.datetime(2026, 3, 4, 5, 6, 7)
DECISION = {"decision_id": "D-7", "decided_by": "=officer", "decided_at_utc": "2026-03-04",
            "note": "approved as ranked"}
STYLES = ("Title", "Subtitle", "Header", "Label", "Input", "Calc", "Total", "Note", "Value")
FORMATS = (None, xs.FMT_MONEY, xs.FMT_PCT2, "0", xs.FMT_MT, "0.00E+00")


@pytest.fixture(scope="module")
def result(apps, scenario, ref):
    from evaluator import pipeline

    return pipeline.run(apps, scenario, ref)


def _parts(data: bytes) -> dict[str, bytes]:
    """Every part of the ``.xlsx`` except the document properties (time of writing)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def _plain(monkeypatch) -> None:
    monkeypatch.setattr(xs, "apply_style", xs.apply_style_reference)
    monkeypatch.setattr(xs, "merge_row", xs.merge_row_reference)
    monkeypatch.setattr(xs, "set_alignment", xs.set_alignment_reference)


@pytest.mark.parametrize("language", ["en", "ko"])
def test_report_equals_the_report_written_by_the_plain_paths(result, scenario, ref, monkeypatch, language):
    ids = list(result.evaluation.metrics.index)  # every project gets a live cash-flow sheet
    kw = dict(ref=ref, generated_at=GENERATED_AT, decision=DECISION, language=language, cashflow_ids=ids)
    fast = build_pipeline_report(result, scenario, **kw)
    _plain(monkeypatch)
    plain = build_pipeline_report(result, scenario, **kw)
    a, b = _parts(fast), _parts(plain)
    assert sorted(a) == sorted(b)
    assert [n for n in a if a[n] != b[n]] == []
    lab = xs.load_labels(language)
    names = openpyxl.load_workbook(io.BytesIO(fast)).sheetnames
    assert all(xs.safe_sheet_title(lab("sheet.cashflow", id=i)) in names for i in ids)
    assert lab("sheet.decision") in names


def _styled_cells(wb, cached: bool) -> list[tuple]:
    ws = wb.active
    write = xs.apply_style if cached else xs.apply_style_reference
    for k in range(3):  # the second and third pass take the cached arrays
        for i, style in enumerate(STYLES):
            for j, fmt in enumerate(FORMATS):
                write(ws.cell(row=1 + i + 20 * k, column=1 + j, value=1.5), style, fmt)
    return [(k, tuple(c._style)) for k, c in sorted(ws._cells.items())]


def test_apply_style_equals_openpyxl_cell_by_cell_in_each_workbook():
    ref_wb = Workbook()
    xs.ensure_styles(ref_wb)
    expected = _styled_cells(ref_wb, cached=False)
    for _ in range(2):  # a second workbook: its registries start empty, the cache is its own
        wb = Workbook()
        xs.ensure_styles(wb)
        assert _styled_cells(wb, cached=True) == expected
        assert list(wb._number_formats) == list(ref_wb._number_formats)
        c = wb.active["B2"]
        assert (c.style, c.number_format, c.font.b) == ("Subtitle", xs.FMT_MONEY, True)


def test_a_cells_quote_prefix_stays_its_own():
    """The cached style array is copied: flagging one cell's text does not flag the next."""
    wb = Workbook()
    xs.ensure_styles(wb)
    ws = wb.active
    first = xs.put_text(ws, 1, 1, "Lithium", "Value")  # resolves ("Value", None)
    hostile = xs.put_text(ws, 2, 1, "=HYPERLINK(\"http://x\",\"y\")", "Value")
    plain = xs.put_text(ws, 3, 1, "Nickel", "Value")
    number = xs.put_value(ws, 4, 1, 2.0, "Value")
    assert hostile.quotePrefix and hostile.data_type == "s"
    assert not first.quotePrefix and not plain.quotePrefix and not number.quotePrefix
    assert first.style == plain.style == number.style == "Value"


def _merged(style: str | None, first: int, last: int, occupied: int | None, reference: bool):
    wb = Workbook()
    xs.ensure_styles(wb)
    merge = xs.merge_row_reference if reference else xs.merge_row
    for ws in (wb.active, wb.create_sheet("second")):
        for row in (2, 5):
            xs.put_text(ws, row, first, "a long note", style)
            if occupied is not None:
                xs.put_value(ws, row, occupied, 1.0, "Value")
            merge(ws, row, first, last)
    return wb, [(ws.title, sorted(str(r) for r in ws.merged_cells.ranges),
                 [(k, type(c).__name__, c.value, tuple(c._style) if c._style is not None else None)
                  for k, c in sorted(ws._cells.items())]) for ws in wb.worksheets]


@pytest.mark.parametrize("style, first, last, occupied", [
    ("Note", 1, 8, None), ("Value", 3, 10, None), ("Subtitle", 1, 13, None),
    ("Header", 1, 8, None),   # a bordered first cell: openpyxl's path
    ("Total", 2, 6, None),    # bordered
    ("Note", 1, 8, 8),        # a written cell inside the range: openpyxl's path
    ("Note", 1, 2, None), (None, 1, 4, None),
])
def test_merge_row_equals_openpyxl_merge(style, first, last, occupied):
    wb_fast, fast = _merged(style, first, last, occupied, reference=False)
    wb_ref, ref = _merged(style, first, last, occupied, reference=True)
    assert fast == ref
    for reg in ("_borders", "_protections", "_cell_styles", "_alignments", "_fonts", "_fills"):
        assert list(getattr(wb_fast, reg)) == list(getattr(wb_ref, reg)), reg


def test_set_alignment_equals_openpyxl_in_each_workbook():
    from openpyxl.styles import Alignment

    wrap, top = Alignment(wrap_text=True, vertical="top"), Alignment(vertical="top")

    def written(setter):
        wb = Workbook()
        xs.ensure_styles(wb)
        ws = wb.active
        for r in range(1, 6):
            setter(xs.put_text(ws, r, 1, "text", "Value"), wrap)
            setter(ws.cell(row=r, column=2), top)        # a cell without a style array yet
            setter(xs.put_value(ws, r, 3, 1.0, "Input", xs.FMT_PCT), wrap)
        return [(k, tuple(c._style)) for k, c in sorted(ws._cells.items())], list(wb._alignments)

    expected = written(xs.set_alignment_reference)
    assert written(xs.set_alignment) == expected
    assert written(xs.set_alignment) == expected  # a second workbook: its own registry
