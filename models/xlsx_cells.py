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

import posixpath
import zipfile
from dataclasses import dataclass
from typing import Any, Iterator

from defusedxml.ElementTree import fromstring, iterparse

from evaluator.errors import InputError

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_C, _V, _IS, _T, _R, _ROW, _SI, _DATA = (_MAIN + t for t in ("c", "v", "is", "t", "r", "row", "si", "sheetData"))


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
    targets, by_type = {}, {}
    for r in wb_rels.iter(_PKG_REL + "Relationship"):
        target = _part(base, r.get("Target", ""))
        targets[r.get("Id")] = target
        by_type.setdefault(r.get("Type", "").rsplit("/", 1)[-1], target)
    sheets = {s.get("name", ""): targets[s.get(_DOC_REL + "id")] for s in wb.iter(_MAIN + "sheet")}
    pr = wb.find(_MAIN + "workbookPr")
    date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
    names = set(zf.namelist())

    def part_of(kind: str) -> str | None:  # by relationship, else by the name Excel gives it
        conventional = posixpath.join(base, kind + ".xml")
        return by_type.get(kind) or (conventional if conventional in names else None)

    return WorkbookParts(sheets, part_of("sharedStrings"), part_of("styles"), date1904)


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
    with zf.open(path) as fh:
        for event, el in iterparse(fh, events=("start", "end")):
            if root is None:
                root = el
            elif event == "end" and el.tag == _SI:
                out.append(_rich_text(el))
                root.clear()  # done with every item so far: keeps memory flat
    return out


def date_styles(zf: zipfile.ZipFile, path: str | None) -> frozenset[int]:
    """Indices of the cell formats (``cellXfs``) of stylesheet ``path`` whose number format is a date."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

    if path is None:
        return frozenset()
    root = fromstring(zf.read(path))
    codes = dict(BUILTIN_FORMATS)
    for nf in root.iter(_MAIN + "numFmt"):
        codes[int(nf.get("numFmtId", "-1"))] = nf.get("formatCode", "")
    xfs = root.find(_MAIN + "cellXfs")
    if xfs is None:
        return frozenset()
    return frozenset(i for i, xf in enumerate(xfs.findall(_MAIN + "xf"))
                     if is_date_format(codes.get(int(xf.get("numFmtId", "0")), "")))


def _cell_value(el, strings: list[str], dates: frozenset[int], epoch) -> Any:
    t = el.get("t", "n")
    if t == "inlineStr":
        node = el.find(_IS)
        return None if node is None else _rich_text(node)
    v = el.findtext(_V)
    if v is None:
        return None
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
        except ValueError:  # "inf", "nan" and the like: read, then refused as not finite by the loader
            x = float(v)
    if dates and int(el.get("s", "0")) in dates:
        from openpyxl.utils.datetime import from_excel

        try:
            return from_excel(x, epoch)
        except (OverflowError, ValueError):  # no such date (e.g. 1e300): the number, refused later by range
            return x
    return x


class ColumnLimitError(InputError):
    """A cell holds a value beyond the widest row the caller accepts; ``ref`` is the cell ("XFD5")."""

    def __init__(self, ref: str):
        self.ref = ref
        super().__init__(f"cell {ref} lies beyond the accepted columns")


def iter_rows(zf: zipfile.ZipFile, part: str, strings: list[str], dates: frozenset[int],
              date1904: bool = False, max_columns: int = 16_384) -> Iterator[tuple[int, list[Any]]]:
    """(row number from 1, cell values by column from A) for every ``<row>`` of a sheet, in order.

    Parameters
    ----------
    max_columns : int, default 16,384 (Excel's width)
        Widest row accepted: the lists never grow past it, so a value in column XFD cannot make
        every row 16,384 entries long.

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
    sheet_data = None
    with zf.open(part) as fh:
        for event, el in iterparse(fh, events=("start", "end")):
            if event == "start":
                if el.tag == _DATA:
                    sheet_data = el
                continue
            if el.tag != _ROW:
                continue
            row_no = int(el.get("r", row_no + 1))
            values: list[Any] = []
            j = -1
            for c in el:  # the cells of a row are its children
                j = _column_index(c.get("r"), j)
                v = _cell_value(c, strings, dates, epoch)
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
