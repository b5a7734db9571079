"""Cell values of named sheets of an ``.xlsx`` workbook, read by streaming the sheet XML.

The loader needs values only, of two sheets. openpyxl's read-only mode parses every cell through
several Python layers (about 12 us of CPU a cell on the project's 2-core machine) and, when a
sheet has no ``<dimension>``, parses the whole sheet once more to look for one; this reader takes
each ``<c>`` element from an ``iterparse`` of the sheet (about 5 us a cell, half of it in
defusedxml's parser, which runs expat through Python callbacks: the price of refusing entity
declarations), so that 10,000 full application rows are read in about 2 s of CPU. It never reads
the stored ``<dimension>`` (a stale one cannot drop rows).

Values are what openpyxl returns with ``data_only=True``: shared and inline strings as text
(rich-text runs joined, phonetic runs left out), numbers as ``int`` when written without a
point or exponent and ``float`` otherwise, ``t="b"`` as bool, errors (``#N/A``) as their text,
formula results as cached, and numbers in a date format as :class:`datetime.datetime`.
All XML goes through defusedxml (entity declarations refused). ``tests/test_input_strict.py``
checks that this reader and openpyxl give the same rows for the template and the sample workbook.

References
----------
ECMA-376 Part 1, 18.3.1.4 ``c`` (Cell), 18.4.8 ``si`` (String Item), 18.8.30 ``numFmt``.
"""

from __future__ import annotations

import math
import posixpath
import re
import zipfile
from dataclasses import dataclass
from typing import Any, Iterator

from defusedxml.ElementTree import fromstring, iterparse

from evaluator.errors import InputError
from models.application import CellFault

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_C, _V, _IS, _T, _R, _ROW, _SI, _DATA = (_MAIN + t for t in ("c", "v", "is", "t", "r", "row", "si", "sheetData"))
_F, _MERGE = _MAIN + "f", _MAIN + "mergeCell"
#: Most merged ranges remembered of one sheet (enough to name them; a flood is bounded by the element cap).
MAX_MERGED_KEPT = 1_000


def _column_index(ref: str | None, previous: int) -> int:
    """0-based column of a cell reference ("AB12" -> 27); the next column when there is none."""
    letters = ref.rstrip("0123456789") if ref else ""
    if not letters or len(letters) > 3 or not letters.isalpha() or not letters.isupper():
        return previous + 1
    j = 0
    for ch in letters:
        j = j * 26 + ord(ch) - 64
    return j - 1


def _part(base_dir: str, target: str) -> str:
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base_dir, target))


@dataclass(frozen=True)
class WorkbookParts:
    """Where a workbook's parts are, as its relationships say.

    Attributes
    ----------
    sheets : dict
        Sheet name -> worksheet part (zip member name), in workbook order.
    shared_strings, styles : str or None
        The shared-string table and the stylesheet parts, if any.
    date1904 : bool
        Whether date serial numbers count from 1904 (old Mac workbooks).
    """

    sheets: dict[str, str]
    shared_strings: str | None
    styles: str | None
    date1904: bool
    #: Every sheet as (name, part, state) in workbook order, with ``state`` "visible", "hidden" or
    #: "veryHidden": two sheets of the same name, or a hidden one, are seen here (``sheets`` keeps one).
    all_sheets: tuple[tuple[str, str, str], ...] = ()


def workbook_parts(zf: zipfile.ZipFile) -> WorkbookParts:
    """The parts of a workbook, found through its relationships (not by assumed file names).

    Raises
    ------
    KeyError
        A part the package names is missing (the loader reports a corrupt workbook).
    """
    rels = fromstring(zf.read("_rels/.rels"))
    wb_part = next((_part("", r.get("Target", "")) for r in rels.iter(_PKG_REL + "Relationship")
                    if r.get("Type", "").endswith("/officeDocument")), "xl/workbook.xml")
    wb = fromstring(zf.read(wb_part))
    base = posixpath.dirname(wb_part)
    wb_rels = fromstring(zf.read(posixpath.join(base, "_rels", posixpath.basename(wb_part) + ".rels")))
    targets: dict[str, str] = {}
    by_type: dict[str, str] = {}
    for r in wb_rels.iter(_PKG_REL + "Relationship"):
        target = _part(base, r.get("Target", ""))
        targets[r.get("Id")] = target
        by_type.setdefault(r.get("Type", "").rsplit("/", 1)[-1], target)
    all_sheets = tuple((s.get("name", ""), targets[s.get(_DOC_REL + "id")], s.get("state", "visible"))
                       for s in wb.iter(_MAIN + "sheet"))
    sheets = {name: part for name, part, _ in all_sheets}
    pr = wb.find(_MAIN + "workbookPr")
    date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
    names = set(zf.namelist())

    def part_of(kind: str) -> str | None:  # by relationship, else by the name Excel gives it
        conventional = posixpath.join(base, kind + ".xml")
        return by_type.get(kind) or (conventional if conventional in names else None)

    return WorkbookParts(sheets, part_of("sharedStrings"), part_of("styles"), date1904, all_sheets)


def _rich_text(node) -> str:
    """Text of an ``si`` or ``is`` element: its ``t``, or its rich-text runs joined (``rPh`` left out)."""
    t = node.find(_T)
    parts = [t.text or ""] if t is not None else []
    parts += [r.findtext(_T) or "" for r in node.findall(_R)]
    return "".join(parts)


def shared_strings(zf: zipfile.ZipFile, path: str | None) -> list[str]:
    """The shared-string table (part ``path``), in order; empty when the workbook has none."""
    if path is None:
        return []
    out: list[str] = []
    root = None
    depth = 0
    with zf.open(path) as fh:
        for event, el in iterparse(fh, events=("start", "end")):
            depth += 1 if event == "start" else -1
            if root is None:
                root = el
            elif event == "end" and el.tag == _SI:
                out.append(_rich_text(el))
                root.clear()  # done with every item so far: keeps memory flat
            elif event == "end" and depth == 1:
                root.clear()  # an element other than si under the table: not kept
    return out


def _format_codes(zf: zipfile.ZipFile, path: str | None) -> list[str]:
    """The number format code of every cell format (``cellXfs``) of stylesheet ``path``, by index."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS

    if path is None:
        return []
    root = fromstring(zf.read(path))
    codes = dict(BUILTIN_FORMATS)
    for nf in root.iter(_MAIN + "numFmt"):
        codes[int(nf.get("numFmtId", "-1"))] = nf.get("formatCode", "")
    xfs = root.find(_MAIN + "cellXfs")
    if xfs is None:
        return []
    return [codes.get(int(xf.get("numFmtId", "0")), "") for xf in xfs.findall(_MAIN + "xf")]


def date_styles(zf: zipfile.ZipFile, path: str | None) -> frozenset[int]:
    """Indices of the cell formats (``cellXfs``) of stylesheet ``path`` whose number format is a date."""
    from openpyxl.styles.numbers import is_date_format

    return frozenset(i for i, code in enumerate(_format_codes(zf, path)) if is_date_format(code))


#: Quoted text, escaped and filler characters of a format code: a ``%`` there is printed, not a percent.
_FORMAT_LITERALS = re.compile(r'"[^"]*"|\\.|_.|\*.')


def is_percent_format(code: str) -> bool:
    """Whether a number format shows the value times 100 with a ``%`` (``0%``, ``0.0%``, ``#,##0.00%``).

    Only the first section (positive numbers) counts; a ``%`` inside quotes or escaped is literal text.
    """
    first = _FORMAT_LITERALS.sub("", code or "").split(";")[0]
    return "%" in first


def percent_styles(zf: zipfile.ZipFile, path: str | None) -> frozenset[int]:
    """Indices of the cell formats of stylesheet ``path`` whose number format is a percentage."""
    return frozenset(i for i, code in enumerate(_format_codes(zf, path)) if is_percent_format(code))


class PercentCell(float):
    """A number stored in a percent-formatted cell: the sheet showed ``100 * x`` followed by ``%``.

    The loader decides what the officer meant (:func:`models.loader`): in a fraction field the stored
    fraction; in ``head_grade`` with unit ``%`` the number shown; elsewhere the text shown, which the
    number grammar refuses by name.
    """

    @property
    def shown(self) -> str:
        """The text the spreadsheet showed, e.g. ``2.5%`` for 0.025 (to 12 significant digits)."""
        return f"{float(self) * 100:.12g}%"


def _cell_value(el, strings: list[str], dates: frozenset[int], epoch, percents: frozenset[int] = frozenset()) -> Any:
    t = el.get("t", "n")
    if t == "inlineStr":
        node = el.find(_IS)
        return None if node is None else _rich_text(node)
    v = el.findtext(_V)
    formula = el.find(_F)
    if formula is not None and (v is None or v == ""):
        # a generator that does not calculate writes no value: reading it as blank would silently
        # take a default (and an empty cached value as 0); the cell is named instead
        return CellFault("=" + (formula.text or ""), "problem_formula_no_value", ref=el.get("r") or "?")
    if v is None:
        return None
    if v.strip() == "" and t not in ("s", "str", "e"):
        return None  # an empty value element without a formula: an empty cell
    if t == "s":
        return strings[int(v)]
    if t == "b":
        return v.strip() in ("1", "true")
    if t == "d":  # an ISO 8601 date cell, as openpyxl reads it
        from openpyxl.utils.datetime import from_ISO8601

        return from_ISO8601(v)
    if t in ("str", "e"):
        return v
    if "." in v or "e" in v or "E" in v:
        x = float(v)
    else:
        try:
            x = int(v)
        except ValueError:  # "inf", "nan" and the like: named below
            x = float(v)
    if not math.isfinite(x):  # NaN would read as a blank cell downstream: name it instead
        return CellFault(v.strip(), "problem_cell_not_finite", ref=el.get("r") or "?")
    if dates and int(el.get("s", "0")) in dates:
        from openpyxl.utils.datetime import from_excel

        try:
            return from_excel(x, epoch)
        except (OverflowError, ValueError):  # no such date (e.g. 1e300): the number, refused later by range
            return x
    if percents and int(el.get("s", "0")) in percents:
        return PercentCell(x)
    return x


class ColumnLimitError(InputError):
    """A cell holds a value beyond the widest row the caller accepts; ``ref`` is the cell ("XFD5")."""

    def __init__(self, ref: str):
        self.ref = ref
        super().__init__(f"cell {ref} lies beyond the accepted columns")


def iter_rows(zf: zipfile.ZipFile, part: str, strings: list[str], dates: frozenset[int],
              date1904: bool = False, max_columns: int = 16_384, *, percents: frozenset[int] = frozenset(),
              merged: list[str] | None = None) -> Iterator[tuple[int, list[Any]]]:
    """(row number from 1, cell values by column from A) for every ``<row>`` of a sheet, in order.

    Parameters
    ----------
    max_columns : int, default 16,384 (Excel's width)
        Widest row accepted: the lists never grow past it, so a value in column XFD cannot make
        every row 16,384 entries long.
    percents : frozenset of int
        Cell formats that are percentages: their numbers come as :class:`PercentCell`.
    merged : list, optional
        Filled with the sheet's merged ranges (``"A3:A4"``, at most :data:`MAX_MERGED_KEPT`) once the
        rows are exhausted (the ``mergeCells`` element follows the rows).

    Raises
    ------
    ColumnLimitError
        A value lies beyond ``max_columns``.
    xml.etree.ElementTree.ParseError, ValueError, IndexError, KeyError
        Malformed or truncated XML, a value that is not a number, a shared-string index out of range.
    """
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

    epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
    row_no = 0
    sheet_data = root = None
    depth = 0
    with zf.open(part) as fh:
        for event, el in iterparse(fh, events=("start", "end")):
            if event == "start":
                depth += 1
                if root is None:
                    root = el
                elif el.tag == _DATA:
                    sheet_data = el
                continue
            depth -= 1
            if el.tag == _MERGE:
                if merged is not None and len(merged) < MAX_MERGED_KEPT:
                    merged.append(el.get("ref", ""))
                el.clear()
                continue
            if el.tag != _ROW:
                # whatever else ends directly under the worksheet or sheetData is done with: dropped, so
                # that elements the reader does not use cannot pile up in memory
                if depth == 1 and root is not None and el is not sheet_data:
                    root.clear()
                elif depth == 2 and sheet_data is not None:
                    sheet_data.clear()
                continue
            row_no = int(el.get("r", row_no + 1))
            values: list[Any] = []
            j = -1
            for c in el:  # the cells of a row are its children
                j = _column_index(c.get("r"), j)
                v = _cell_value(c, strings, dates, epoch, percents)
                if v is None:
                    continue
                if j >= max_columns:
                    raise ColumnLimitError(c.get("r") or f"column {j + 1} of row {row_no}")
                if j >= len(values):
                    values.extend([None] * (j - len(values)))
                    values.append(v)
                else:  # cells out of order: place by column, as openpyxl does
                    values[j] = v
            yield row_no, values
            if sheet_data is not None:
                sheet_data.clear()  # done with every row so far: keeps memory flat
