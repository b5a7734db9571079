"""Shared openpyxl habits for the workbooks the tool writes (report, template).

* Named styles are registered once per workbook (:func:`ensure_styles`); registering the same
  :class:`~openpyxl.styles.NamedStyle` twice raises ``ValueError`` (NOTES.md).
* Inputs are blue, formulas black, as financial modellers expect (STYLE.md habit 9).
* Sheet names are cleaned (31 characters, none of ``\\ * ? : / [ ]``) and made unique
  (:func:`safe_sheet_title`).
* User text that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab, CR
  first) is written as a text cell with the quote-prefix flag (:func:`put_text`), so
  ``=HYPERLINK(...)`` in an application name stays a name (OWASP "CSV/formula injection").
* Speed (issue 18: a report of 1,000 applications writes about 100,000 cells): a cell's look
  (named style + number format) is applied by :func:`apply_style`, which resolves each (style,
  format) pair once per workbook and copies the resolved style array into the cell; alignments
  go through :func:`set_alignment` and one-row merges through :func:`merge_row` on the same
  principle. Each keeps the plain openpyxl path beside it (:func:`apply_style_reference`,
  :func:`set_alignment_reference`, :func:`merge_row_reference`), and
  ``tests/test_report_styling.py`` checks that a report written either way is the same file.
"""

from __future__ import annotations

import math
import re
import tomllib
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from openpyxl.cell.cell import MergedCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.merge import MergedCellRange
from openpyxl.worksheet.page import PageMargins

from evaluator.errors import SettingsError
from evaluator.safe_text import FORMULA_TRIGGERS, is_formula_like  # noqa: F401 (re-exported)

INPUT_BLUE = "0000FF"
HEADER_FILL = "1F3864"
INPUT_FILL = "FFF2CC"

#: Characters Excel forbids in sheet names.
_BAD_SHEET_CHARS = re.compile(r"[\\*?:/\[\]]")
MAX_SHEET_TITLE = 31

FMT_MONEY = '#,##0.0;[Red]-#,##0.0'
FMT_MONEY2 = '#,##0.00;[Red]-#,##0.00'
#: Amounts in KRW bn (English pack). Looks as FMT_MONEY; a string of its own, so that the Korean pack can
#: find every KRW amount and show it in 억원 (:func:`krw_cells_in_eok`).
FMT_KRW = '#,##0.0;[Red]-#,##0.0;0.0'
#: The same amounts in 억원 (values x 10): whole 억원 from 100억원, one decimal below, as officers write them.
FMT_EOK = '[>=100]#,##0;[<=-100][Red]-#,##0;#,##0.0'
FMT_PCT = '0.0%'
FMT_PCT2 = '0.00%'
FMT_INT = '#,##0'
FMT_YEAR = '0'
FMT_RATIO = '0.00'
FMT_SCORE = '0.0'
FMT_PRICE = '#,##0'
FMT_TONNES = '#,##0'
FMT_MT = '#,##0.000'
FMT_FACTOR = '0.0000'
FMT_DATE = 'yyyy-mm-dd hh:mm'


def _styles() -> list[NamedStyle]:
    thin = Side(style="thin", color="BFBFBF")
    return [
        NamedStyle("Title", font=Font(bold=True, size=14, color=HEADER_FILL)),
        NamedStyle("Subtitle", font=Font(bold=True, size=11, color=HEADER_FILL)),
        NamedStyle("Header", font=Font(bold=True, color="FFFFFF"),
                   fill=PatternFill("solid", fgColor=HEADER_FILL),
                   alignment=Alignment(wrap_text=True, vertical="center"),
                   border=Border(bottom=thin)),
        NamedStyle("Label", font=Font(color="000000")),
        NamedStyle("Input", font=Font(color=INPUT_BLUE), fill=PatternFill("solid", fgColor=INPUT_FILL)),
        NamedStyle("Calc", font=Font(color="000000")),
        NamedStyle("Total", font=Font(bold=True, color="000000"), border=Border(top=thin)),
        NamedStyle("Note", font=Font(italic=True, color="7F7F7F")),
        NamedStyle("Value", font=Font(color="000000")),
    ]


def ensure_styles(wb) -> None:
    """Register the named styles once per workbook (idempotent)."""
    have = set(wb.named_styles)
    for st in _styles():
        if st.name not in have:
            wb.add_named_style(st)


def safe_sheet_title(name: Any, existing: Iterable[str] = (), fallback: str = "Sheet") -> str:
    """A valid, unique sheet title.

    Forbidden characters become ``_``, leading/trailing apostrophes and spaces go, the result
    is cut to 31 characters, and a `` (2)``, `` (3)``, ... suffix makes it unique among
    ``existing`` (case-insensitive, as Excel compares titles).
    """
    title = _BAD_SHEET_CHARS.sub("_", str(name if name is not None else ""))
    title = "".join(ch for ch in title if ch >= " ").strip().strip("'").strip()
    if not title or title.lower() == "history":  # "History" is reserved by Excel
        title = fallback
    title = title[:MAX_SHEET_TITLE]
    taken = {t.lower() for t in existing}
    if title.lower() not in taken:
        return title
    k = 2
    while True:
        suffix = f" ({k})"
        cand = title[: MAX_SHEET_TITLE - len(suffix)] + suffix
        if cand.lower() not in taken:
            return cand
        k += 1




def clean_value(v: Any) -> Any:
    """Python / numpy / pandas value -> something openpyxl writes (NaN and None -> None)."""
    if v is None:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (list, tuple, set)):
        return "; ".join(str(x) for x in v)
    if v is pd.NA or v is pd.NaT:
        return None
    return v


#: Per workbook: (named style, number format) -> the cell style array openpyxl resolves them to.
_RESOLVED: "weakref.WeakKeyDictionary[Any, dict[tuple[str, str | None], StyleArray]]" = weakref.WeakKeyDictionary()


def apply_style_reference(cell, style: str, number_format: str | None = None):
    """Give ``cell`` the named ``style`` (replacing its whole look), then ``number_format``: the
    plain openpyxl path (a named-style lookup by name and a format registration per cell)."""
    cell.style = style
    if number_format:
        cell.number_format = number_format
    return cell


def apply_style(cell, style: str, number_format: str | None = None):
    """:func:`apply_style_reference`, resolved once per workbook and (style, format) pair.

    Notes
    -----
    A cell's look is one :class:`~openpyxl.styles.cell_style.StyleArray` (indices of its font,
    fill, border, number format, alignment, protection, named style and the quote-prefix flag);
    the named style replaces the whole array and the number format then sets one index. Both
    depend only on (style, format) and on the workbook's registries, which only grow, so the
    first cell of a pair goes through openpyxl and every later one receives a copy of its array
    (a copy: flags such as ``quotePrefix`` are set on a cell's own array afterwards). The
    workbook's registries see the same additions in the same order as on the plain path.
    """
    wb = cell.parent.parent
    resolved = _RESOLVED.get(wb)
    if resolved is None:
        resolved = _RESOLVED[wb] = {}
    key = (style, number_format or None)
    arr = resolved.get(key)
    if arr is None:
        apply_style_reference(cell, style, number_format)
        resolved[key] = StyleArray(cell._style)
    else:
        cell._style = StyleArray(arr)
    return cell


#: Per workbook: id of an alignment object -> (the object, its index in the workbook's registry).
_ALIGNMENT_IDS: "weakref.WeakKeyDictionary[Any, dict[int, tuple[Alignment, int]]]" = weakref.WeakKeyDictionary()


def set_alignment_reference(cell, alignment: Alignment):
    """``cell.alignment = alignment``: openpyxl hashes the alignment to find its registry index."""
    cell.alignment = alignment
    return cell


def set_alignment(cell, alignment: Alignment):
    """:func:`set_alignment_reference` with the registry index found once per workbook and
    alignment object (the object is kept, so its id stays its own); the cell's style array gets
    the index as openpyxl would set it."""
    wb = cell.parent.parent
    ids = _ALIGNMENT_IDS.get(wb)
    if ids is None:
        ids = _ALIGNMENT_IDS[wb] = {}
    known = ids.get(id(alignment))
    if known is None:
        set_alignment_reference(cell, alignment)
        ids[id(alignment)] = (alignment, cell._style.alignmentId)
        return cell
    if cell._style is None:
        cell._style = StyleArray()
    cell._style.alignmentId = known[1]
    return cell


def put_text(ws, row: int, col: int, text: Any, style: str | None = None):
    """Write user text as text, never as a formula (see module notes).

    The named style goes on first: assigning ``cell.style`` resets ``quotePrefix`` (NOTES.md),
    so the flag is set after it and reaches the written file's ``xl/styles.xml``.
    """
    c = ws.cell(row=row, column=col)
    if style:
        apply_style(c, style)
    if text is None:
        return c
    s = str(text)
    c.value = s
    if is_formula_like(s):
        c.data_type = "s"  # openpyxl marks a string starting with "=" as a formula
        c.quotePrefix = True
    return c


def put_value(ws, row: int, col: int, v: Any, style: str | None = None, number_format: str | None = None):
    """Write a data value: numbers as numbers, strings through :func:`put_text`."""
    v = clean_value(v)
    if isinstance(v, str):
        return put_text(ws, row, col, v, style)
    c = ws.cell(row=row, column=col, value=v)
    if style:
        apply_style(c, style, number_format)
    elif number_format:
        c.number_format = number_format
    return c


#: Per workbook: start-cell style array -> the style array ``ws.merge_cells`` gave the other cells
#: of a one-row range (None when they differed, so that such merges always take openpyxl's path).
_MERGED: "weakref.WeakKeyDictionary[Any, dict[tuple, StyleArray | None]]" = weakref.WeakKeyDictionary()


def merge_row_reference(ws, row: int, first_col: int, last_col: int) -> None:
    """openpyxl's own merge of columns ``first_col``..``last_col`` of one row (the plain path
    :func:`merge_row` must agree with)."""
    ws.merge_cells(start_row=row, start_column=first_col, end_row=row, end_column=last_col)


def merge_row(ws, row: int, first_col: int, last_col: int) -> None:
    """``ws.merge_cells`` of columns ``first_col``..``last_col`` of one row, whose first cell is
    written and the others not.

    Notes
    -----
    openpyxl's merge replaces the range's other cells with empty ``MergedCell`` objects and then
    adds the first cell's border sides to the edge cells one by one (registering each border
    combination in the workbook), about 1 ms a merge. What it leaves depends only on the first
    cell's style array when the other cells did not exist and the first cell has no border
    line, so the first such merge per workbook and style goes through openpyxl and later ones
    give the new cells the style array it left (``tests/test_report_styling.py`` compares them).
    """
    start = ws._cells.get((row, first_col))
    border = start.border if start is not None else None
    plain = (start is not None and last_col > first_col
             and all(getattr(getattr(border, side), "style", None) is None
                     for side in ("left", "right", "top", "bottom"))
             and not any((row, j) in ws._cells for j in range(first_col + 1, last_col + 1)))
    done = _MERGED.get(ws.parent)
    if done is None:
        done = _MERGED[ws.parent] = {}
    key = tuple(start._style) if plain else None
    if not plain or key not in done or done[key] is None:
        merge_row_reference(ws, row, first_col, last_col)
        if plain and key not in done:
            rest = {tuple(ws._cells[(row, j)]._style or StyleArray()) for j in range(first_col + 1, last_col + 1)}
            same_start = tuple(ws._cells[(row, first_col)]._style) == key
            done[key] = StyleArray(rest.pop()) if len(rest) == 1 and same_start else None
        return
    ws.merged_cells.add(MergedCellRange(ws, f"{get_column_letter(first_col)}{row}:{get_column_letter(last_col)}{row}"))
    for j in range(first_col + 1, last_col + 1):
        cell = MergedCell(ws, row, j)
        cell._style = StyleArray(done[key])
        ws._cells[(row, j)] = cell


def format_for_column(name: str) -> str | None:
    """Number format from a snake_case column name carrying its unit (DESIGN.md conventions)."""
    n = name.lower()
    if n.startswith("hhi"):
        return FMT_RATIO
    if n in ("added_volume", "volume_before", "volume_after"):
        return FMT_TONNES
    if n.startswith("n_") or n == "source_rank":
        return "0"
    if n.startswith("gap_to_target") or n.startswith("delta_"):
        return FMT_PCT
    if n in ("rank", "operating_years", "loan_tenor_years", "loan_grace_years", "construction_years"):
        return "0"
    if n.endswith("year") or n in ("year", "first_production_year"):
        return FMT_YEAR
    if ("share" in n or n.endswith("_rate") or n in ("irr", "recovery", "payability", "risk_premium",
                                                      "coverage", "fraction", "hhi")
            or n.endswith("_pct") or n.endswith("probability")):
        return FMT_PCT
    if n.endswith("_usd_per_t") or n.endswith("_usd_per_t_ore"):
        return FMT_PRICE
    if n.endswith("_krw_bn"):
        return FMT_KRW
    if n.endswith(("_usd_m", "_usd_m_per_year")):
        return FMT_MONEY
    if n.endswith(("_t", "_t_per_year", "_kt")):
        return FMT_TONNES
    if n.endswith("_mt"):
        return FMT_MT
    if "score" in n or n.startswith("contrib"):
        return FMT_SCORE
    if "dscr" in n or "llcr" in n or n in ("profitability_index", "npv_per_support") or n.endswith("_years"):
        return FMT_RATIO
    return None


def write_table(ws, top: int, left: int, frame, *, header_style: str = "Header",
                formats: dict | None = None, style: str = "Value") -> tuple[int, int]:
    """Write a DataFrame as a table with a header row; returns (last_row, last_col).

    Number formats come from ``formats`` (column -> format) or :func:`format_for_column`.
    """
    formats = formats or {}
    cols = list(frame.columns)
    for j, col in enumerate(cols):
        put_text(ws, top, left + j, str(col), header_style)
    fmts = [formats.get(c, format_for_column(str(c))) for c in cols]
    write_rows(ws, top + 1, left, [frame.iloc[:, j].tolist() for j in range(len(cols))], fmts, style)
    return top + len(frame), left + len(cols) - 1


def write_rows(ws, top: int, left: int, columns: list[list], formats: list[str | None],
               style: str = "Value") -> int:
    """Write a table body given as one list of values per column (each converted from its frame
    once), row by row from ``(top, left)``, every cell as :func:`put_value` writes it with
    ``formats[j]`` for column ``j``; returns the last row written (``top - 1`` when empty)."""
    n_rows = len(columns[0]) if columns else 0
    for i, values in enumerate(zip(*columns), start=top):
        for j, v in enumerate(values):
            put_value(ws, i, left + j, v, style, formats[j])
    return top + n_rows - 1


def krw_cells_in_eok(wb) -> int:
    """Every KRW bn amount of the workbook (number format :data:`FMT_KRW`) shown in 억원: its value
    times 10 and :data:`FMT_EOK` (a formula keeps its text: the amounts it adds are converted too);
    returns how many cells changed. Korean officers write 억원 (and 조원), never 십억원 (issue 27)."""
    n = 0
    for ws in wb.worksheets:
        for c in ws._cells.values():
            if c.number_format == FMT_KRW:
                v = c.value
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    c.value = v * 10.0
                c.number_format = FMT_EOK
                n += 1
    return n


def set_widths(ws, widths: dict | Iterable[float], start_col: int = 1) -> None:
    """Column widths [characters]: a dict letter/index -> width, or a sequence from ``start_col``."""
    if isinstance(widths, dict):
        for k, w in widths.items():
            ws.column_dimensions[k if isinstance(k, str) else get_column_letter(k)].width = w
    else:
        for j, w in enumerate(widths):
            ws.column_dimensions[get_column_letter(start_col + j)].width = w


# ----------------------------------------------------------------------------------------------
# Labels (per-language text of the workbooks) and print settings
# ----------------------------------------------------------------------------------------------
#: Languages the workbooks are written in.
LANGUAGES = ("en", "ko")
LABELS_DIR = Path(__file__).resolve().parent / "data"


class LanguageError(SettingsError):
    """A language the workbooks are not written in."""


@dataclass(frozen=True)
class Labels:
    """The text of one language: ``labels("text.total")``, ``labels.col("npv_usd_m")``.

    Loaded from ``evaluator/data/report_labels_<language>.toml`` (:func:`load_labels`).
    """

    language: str
    table: Mapping[str, Mapping[str, str]]

    def __call__(self, key: str, **kw) -> str:
        """The text at ``section.key``, formatted with ``kw``; KeyError when missing."""
        section, _, name = key.partition(".")
        text = self.table[section][name]
        return text.format(**kw) if kw else text

    def get(self, section: str, name: Any, default: Any = None) -> Any:
        """The text of ``name`` in ``section``, else ``default`` (``name`` itself when None)."""
        return self.table.get(section, {}).get(str(name), str(name) if default is None else default)

    def col(self, name: Any) -> str:
        """The human header (with its unit) of a column id; the id itself when unlabelled."""
        return self.get("col", name)

    def mineral(self, key: Any) -> str:
        return self.get("mineral", key)

    def yes_no(self, v: Any) -> Any:
        """Booleans as the words yes / no (other values unchanged)."""
        if isinstance(v, (bool, np.bool_)):
            return self("text.yes") if v else self("text.no")
        return v


@lru_cache(maxsize=None)
def load_labels(language: str = "en") -> Labels:
    """The labels of ``language`` (``en`` or ``ko``); :class:`LanguageError` otherwise."""
    if language not in LANGUAGES:
        raise LanguageError(f"language {language!r}: must be one of {', '.join(LANGUAGES)}")
    with open(LABELS_DIR / f"report_labels_{language}.toml", "rb") as fh:
        return Labels(language, tomllib.load(fh))


def print_setup(ws, *, title_rows: str | None = None, fit_height: int = 0, footer: str | None = None) -> None:
    """Print settings every sheet carries: A4 landscape, one page wide (``fit_height`` pages tall,
    0 = as many as needed), narrow margins, ``title_rows`` (e.g. ``"3:3"``) repeated on every
    page, a centred page-number footer."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = fit_height
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.5, bottom=0.6, header=0.2, footer=0.25)
    if title_rows:
        ws.print_title_rows = title_rows
    if footer:
        ws.oddFooter.center.text = footer
