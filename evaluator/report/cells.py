"""Cell and table writers shared by the sheets (titles, key-value rows, wrapped text, tables)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd
from openpyxl.styles import Alignment, PatternFill
from openpyxl.utils import get_column_letter

from evaluator import messages
from evaluator import xlsx_style as xs

_RED_FILL = PatternFill("solid", fgColor="F8CBAD")
_GREEN_FILL = PatternFill("solid", fgColor="C6EFCE")
#: Shared alignments (openpyxl stores a cell's alignment by value in the workbook's registry).
_WRAP_TOP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _col(j: int) -> str:
    return get_column_letter(j)


def _source(sources, column: str, lab: xs.Labels) -> str:
    """Where an input came from (``sources[column]``), in the report's language."""
    value = sources.get(column, "")
    return messages.word(value, lab.language) if value else ""


def _title(ws, text: str, subtitle: str | None = None) -> None:
    xs.put_text(ws, 1, 1, text, "Title")
    if subtitle:
        xs.put_text(ws, 2, 1, subtitle, "Note")


def _kv(ws, row: int, items: Iterable[tuple[str, Any, str | None]], *, col: int = 1,
        style: str = "Value") -> int:
    """Label / value / number-format rows; returns the next free row."""
    for label, value, fmt in items:
        xs.put_text(ws, row, col, label, "Label")
        xs.put_value(ws, row, col + 1, value, style, fmt)
        row += 1
    return row


def _wide_text(ws, row: int, text: str, style: str = "Note", first_col: int = 1, last_col: int = 8) -> None:
    """Text across merged columns, wrapped, with the row tall enough for it (so a long note does
    not widen the printed page)."""
    xs.put_text(ws, row, first_col, text, style)
    xs.merge_row(ws, row, first_col, last_col)
    xs.set_alignment(ws.cell(row=row, column=first_col), _WRAP_TOP)
    width = sum(ws.column_dimensions[_col(j)].width or 10 for j in range(first_col, last_col + 1))
    ws.row_dimensions[row].height = 15 * max(1, -(-len(text) * (2 if _mostly_wide(text) else 1) // int(width)))


def _wrap_rows(ws, first: int, last: int, columns: Iterable[int]) -> None:
    """Wrap the text of ``columns`` in rows ``first``..``last`` and make each row tall enough for
    its longest wrapped cell (LibreOffice does not grow rows it did not lay out itself)."""
    columns = list(columns)
    widths: dict[int, int] = {}  # [characters], looked up once per column
    others = [j for j in range(1, ws.max_column + 1) if j not in columns]  # the rest of a row
    for r in range(first, last + 1):
        lines = 1
        for j in columns:
            c = ws.cell(row=r, column=j)
            xs.set_alignment(c, _WRAP_TOP)
            if isinstance(c.value, str) and c.value:
                if j not in widths:
                    widths[j] = max(4, int(ws.column_dimensions[_col(j)].width or 10) - 1)
                width = widths[j]
                lines = max(lines, -(-len(c.value) * (2 if _mostly_wide(c.value) else 1) // width))
        if lines > 1:
            ws.row_dimensions[r].height = 13 * lines + 2
            for j in others:
                xs.set_alignment(ws.cell(row=r, column=j), _TOP)


def _mostly_wide(text: str) -> bool:
    """Whether ``text`` is mostly wide (CJK) characters, which take about two columns each."""
    return sum(ord(ch) > 0x2E80 for ch in text) > len(text) / 3


def _display_columns(frame: pd.DataFrame, lab: xs.Labels) -> list[list]:
    """A table ready to read, one list of values per column of ``frame``: codes in words
    (minerals, stages, yes/no); each column converted from the frame once."""
    out = []
    for j, c in enumerate(frame.columns):
        s = frame.iloc[:, j]
        values = s.tolist()
        if c == "mineral":
            values = [lab.mineral(v) for v in values]
        elif c == "stage":
            values = [lab.get("stage", v) for v in values]
        elif c == "share_basis":
            values = [lab.get("share_basis", v) for v in values]
        elif s.dtype == bool or any(isinstance(v, (bool, np.bool_)) for v in values):
            values = [lab.yes_no(v) for v in values]
        out.append(values)
    return out


def _table(ws, top: int, left: int, frame: pd.DataFrame, lab: xs.Labels, formats: dict | None = None) -> tuple[int, int]:
    """A table with words for codes and headers (formats by column id, else by the column's unit:
    :func:`xlsx_style.format_for_column`); returns (last row, last column)."""
    return _table_columns(ws, top, left, list(frame.columns), _display_columns(frame, lab), lab, formats)


def _table_columns(ws, top: int, left: int, cols: list, columns: list[list], lab: xs.Labels,
                   formats: dict | None = None) -> tuple[int, int]:
    """:func:`_table` of a table given as column ids and one list of display values per column."""
    headers = [lab.col(c) for c in cols]
    fmts = {lab.col(c): (formats or {}).get(c, xs.format_for_column(str(c))) for c in cols}
    for j, h in enumerate(headers):
        xs.put_text(ws, top, left + j, h, "Header")
    n_rows = xs.write_rows(ws, top + 1, left, columns, [fmts[h] for h in headers]) - top
    widths = [ws.column_dimensions[_col(left + j)].width or 13 for j in range(len(cols))]
    lines = max([-(-len(h) * (2 if _mostly_wide(h) else 1) // max(4, int(w) - 1))
                 for h, w in zip(headers, widths)] or [1])
    if lines > 1:
        ws.row_dimensions[top].height = max(ws.row_dimensions[top].height or 0, 14 * min(lines, 4) + 6)
    return top + n_rows, left + len(cols) - 1
