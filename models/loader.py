"""The one loader for applications: workbook (template format), CSV and JSON.

Tests, the CLI and the app all read applications through :func:`load_applications`, so a
file that loads in one loads the same way in the others.

The loader reads exactly what the file says, or says why not:

- File-level failures (empty, oversize, not a workbook, a hostile workbook, text that is not
  UTF-8 or CP949, JSON nested too deeply or of the wrong shape, a missing ``applications``
  sheet or required column, a duplicate column header, more than :data:`MAX_ROWS` rows, a cell
  longer than Excel's 32,767 characters, a value in a column without a header) raise
  :class:`LoaderError`, a :class:`~models.application.ValidationError` with a one-line message.
- Row-level failures never raise: each becomes a :class:`~models.application.Problem` (application
  id, field, rule, value) and the valid rows are returned as applications. The raw table is kept
  in the result so that nothing the officer entered is lost.

Workbooks are inspected before any XML is parsed (declared uncompressed size, cells and rows
counted by streaming the sheet XML, shared strings, size of the other parts), so that no upload
below :data:`MAX_FILE_BYTES` costs more than a few seconds or about 300 MB; the two sheets are
then read by :mod:`models.xlsx_cells` through defusedxml (entity expansion refused), which never
reads the sheet's stored ``<dimension>``. The template's units row is recognised by its content.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import re
import tomllib
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Sequence
from xml.etree.ElementTree import ParseError

import pandas as pd

from models import xlsx_cells
from models.application import (
    COLUMNS,
    FIELD_BY_NAME,
    FRACTION_UNITS,
    MAX_LIST_VALUES,
    MAX_TEXT_CHARS,
    REQUIRED_COLUMNS,
    Application,
    CellFault,
    NumberError,
    Problem,
    ValidationError,
    _is_blank,
    number_text,
    parse_application,
    parse_number,
    plausibility_bounds,
    record_id,
    unit_label,
)

#: Largest upload accepted [bytes]; a larger file is refused before parsing.
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Largest uncompressed workbook content accepted [bytes] (zip-bomb guard), as declared by the zip
#: directory; Python's zipfile never returns more than the declared size of a member.
MAX_UNZIPPED_BYTES = 50 * 1024 * 1024
#: Most cells and rows in all worksheets together: 10,000 rows x 59 columns (the template has 41).
#: models.xlsx_cells reads about 200,000 cells a second here, so this bounds the parse to about 3 s.
MAX_CELLS = 600_000
#: Most shared strings (distinct texts) in a workbook.
MAX_SHARED_STRINGS = 500_000
#: Largest XML part other than worksheets and shared strings (styles, workbook) [bytes].
MAX_OTHER_PART_BYTES = 5 * 1024 * 1024
#: Most members in the zip archive.
MAX_ZIP_MEMBERS = 10_000
#: Most XML elements (start tags) and attributes in all the parts of a workbook together: a full
#: 600,000-cell sheet holds about 1.2 million elements and 1.8 million attributes (``<c r s t><v>``).
#: Cells, rows and shared strings alone do not bound the parse: a 49 kB workbook of 12 million empty
#: elements of another name, rich-text runs or attribute floods each took 17-43 s and 0.6-1.1 GB.
MAX_XML_ELEMENTS = 2_000_000
MAX_XML_ATTRIBUTES = 4_000_000
#: Longest XML tag (from ``<`` to ``>``, attributes included) [bytes]: the XML parser's cost grows with
#: the square of one element's attributes (400,000 on one cell took 15 s here); 64 kB holds about
#: 10,000 attributes, far more than any spreadsheet writes on one element.
MAX_TAG_BYTES = 65_536
_LONG_TAG = re.compile(rb"<[^<>]{%d}" % MAX_TAG_BYTES)
#: Most application rows in one file (exact: this many load, one more is refused).
MAX_ROWS = 10_000
#: Most columns of a table (the template has 41): bounds every row's width, whatever the file says.
MAX_COLUMNS = 200
#: Most commas and line breaks in a CSV (10,000 rows x 41 fields need about 410,000 commas); the
#: comma cap also bounds the values of a JSON file.
MAX_CSV_SEPARATORS = 1_000_000
MAX_CSV_LINES = 1_000_000
#: Most JSON objects and arrays (``{`` and ``[``) in a JSON file: records, list fields, schedule rows.
MAX_JSON_CONTAINERS = 300_000
APPLICATIONS_SHEET = "applications"
SCHEDULE_SHEET = "production_schedule"
#: The yearly capital sheet (issue 16): one row per model year from year 1 (the first construction year).
CAPEX_SHEET = "capex_schedule"
#: The template's units row of the schedule sheets (evaluator/template.py writes it), in English.
SCHEDULE_UNITS = {"id": "[text: application id]", "operating_year": "[1, 2, 3, ...]", "ore_mt": "[Mt]",
                  "grade": "[head_grade_unit]"}
CAPEX_UNITS = {"id": "[text: application id]", "model_year": "[1, 2, 3, ...]", "capex_usd_m": "[USD m]"}
#: Columns of the production_schedule sheet (``grade`` optional; the sheet before issue 16 had the first three).
SCHEDULE_COLUMNS = ("id", "operating_year", "ore_mt", "grade")
CAPEX_COLUMNS = ("id", "model_year", "capex_usd_m")
#: Application field filled from each yearly column, and the sheet that column is on.
SCHEDULE_FIELDS = {"ore_mt": ("production_schedule_ore_mt", SCHEDULE_SHEET), "grade": ("grade_schedule", SCHEDULE_SHEET),
                   "capex_usd_m": ("capex_schedule_usd_m", CAPEX_SHEET)}

#: What reading a corrupt workbook raises (malformed or truncated XML or zip data, missing parts,
#: a cell value that is not a number, a shared-string index out of range, XML constructs refused
#: by defusedxml, which subclass ValueError).
_XLSX_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ParseError, KeyError, ValueError, TypeError, IndexError,
                AttributeError, OSError, NotImplementedError, RuntimeError)  # RuntimeError: encrypted, recursion


class LoaderError(ValidationError):
    """A file cannot be read at all; ``str(exc)`` is one line naming the file-level rule."""


@dataclass(frozen=True)
class LoadResult:
    """What a file held: valid applications, every problem, and the raw rows as entered.

    Attributes
    ----------
    applications : list of Application
        Valid applications, in file order.
    problems : list of Problem
        Every row-level problem (application id, field, rule, value).
    raw : pandas.DataFrame
        All rows as read (strings/numbers as entered), template columns first.
    schedule : pandas.DataFrame or None
        The ``production_schedule`` sheet as read (id, operating_year, ore_mt), if any.
    notices : list of Problem
        What was read other than as stored, and said so (a percent-formatted grade read as the
        number shown, a column that is not read): no application is refused for a notice.
    """

    applications: list[Application]
    problems: list[Problem]
    raw: pd.DataFrame
    schedule: pd.DataFrame | None = None
    notices: list[Problem] = dataclasses.field(default_factory=list)

    @property
    def invalid_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for p in self.problems:
            seen.setdefault(p.application_id or f"row {p.row}", None)
        return list(seen)

    def problems_frame(self, language: str = "en", *, notices: bool = False) -> pd.DataFrame:
        """Every problem (or with ``notices``, every notice) as a table (application_id, field, rule,
        value, row), worded in ``language``."""
        return pd.DataFrame([p.as_dict(language) for p in (self.notices if notices else self.problems)],
                            columns=["application_id", "field", "rule", "value", "row"])


def _file_error(field_name: str, code: str, value: Any = None, **params: Any) -> LoaderError:
    """A file-level error: one problem with its catalogue code (``problem_...``) and values."""
    return LoaderError([Problem.of("", field_name, code, value, None, **params)])


def _as_bytes(source: str | Path | bytes | BinaryIO) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), ""
    if isinstance(source, (str, Path)):
        p = Path(source)
        try:
            size = p.stat().st_size
            if size > MAX_FILE_BYTES:
                raise _file_error("file", "problem_file_too_large", f"{size / 2**20:.1f} MB", mb=MAX_FILE_BYTES // 2**20)
            data = read_bounded(p, MAX_FILE_BYTES)
        except OSError as exc:
            raise _file_error("file", "problem_cannot_read", str(p), reason=exc.strerror or str(exc)) from None
        if data is None:  # a device or a pipe that says size 0 and never ends (/dev/zero): read with a bound
            raise _file_error("file", "problem_file_too_large", f"> {MAX_FILE_BYTES / 2**20:.0f} MB",
                              mb=MAX_FILE_BYTES // 2**20)
        return data, p.name
    data = source.read(MAX_FILE_BYTES + 1)
    return data, getattr(source, "name", "") or ""


def read_bounded(path: str | Path, limit: int) -> bytes | None:
    """At most ``limit`` bytes of a file, or None when it holds more.

    The stat size of a device or a pipe is 0 whatever it holds (``/dev/zero`` never ends), so the
    read itself is bounded; a folder raises :class:`IsADirectoryError` (an OSError).
    """
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return None if len(data) > limit else data


# ----------------------------------------------------------------------------- workbook guards

def _count_tags(zf: zipfile.ZipFile, info: zipfile.ZipInfo, tag: bytes, limit: int, what: str,
                markup: list[int] | None = None) -> int:
    """Count ``<tag`` elements (any namespace prefix) in one member, streaming [elements].

    Raises :class:`LoaderError` (problem code ``what``) as soon as the count passes ``limit``.
    With ``markup``, every element and attribute is counted on the same pass (:func:`_markup_chunk`).
    """
    pattern = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,31}:)?" + tag + rb"[\s/>]")
    keep = 64  # longer than any match, so a tag split between two chunks is counted once
    count, buf = 0, b""
    carry = b""
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(1 << 20)
            if markup is not None:
                carry = _markup_chunk(chunk, carry, markup, info.filename)
            buf += chunk
            cut = len(buf) if not chunk else max(len(buf) - keep, 0)
            count += sum(1 for m in pattern.finditer(buf) if m.start() < cut)
            if count > limit:
                raise _file_error("file", what, limit=f"{limit:,}")
            if not chunk:
                return count
            buf = buf[cut:]


def _count_markup(zf: zipfile.ZipFile, info: zipfile.ZipInfo, counts: list[int]) -> None:
    """Add one member's XML elements and attributes to ``counts`` ([elements, attributes]), streaming.

    Counted on the bytes (every ``<`` that does not open an end tag; every ``="`` or ``='``): an upper
    bound on what the XML parser would build, at C speed. Raises :class:`LoaderError` past the caps.
    """
    carry = b""
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                return
            carry = _markup_chunk(chunk, carry, counts, info.filename)


def _markup_chunk(chunk: bytes, carry: bytes, counts: list[int], part: str) -> bytes:
    """Count one chunk's elements and attributes into ``counts`` and look for an over-long tag;
    ``carry`` is an unfinished tag at the end of the previous chunk (shorter than MAX_TAG_BYTES),
    the return value the one at the end of this chunk."""
    counts[0] += chunk.count(b"<") - chunk.count(b"</")
    counts[1] += chunk.count(b'="') + chunk.count(b"='")
    if counts[0] > MAX_XML_ELEMENTS or counts[1] > MAX_XML_ATTRIBUTES:
        raise _file_error("file", "problem_xlsx_too_much_markup", part=part,
                          elements=f"{MAX_XML_ELEMENTS:,}", attributes=f"{MAX_XML_ATTRIBUTES:,}")
    buf = carry + chunk
    if _LONG_TAG.search(buf):
        raise _file_error("file", "problem_xlsx_tag_too_long", part=part, kb=MAX_TAG_BYTES // 1024)
    lt = buf.rfind(b"<")
    return buf[lt:] if lt > buf.rfind(b">") else b""


def _inspect_xlsx(data: bytes) -> None:
    """Refuse a zip that is not a workbook, or a workbook too large to read safely, before parsing."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise _file_error("file", "problem_not_xlsx") from None
    with zf:
        if len(infos) > MAX_ZIP_MEMBERS:
            raise _file_error("file", "problem_xlsx_too_many_parts", n=f"{MAX_ZIP_MEMBERS:,}")
        unzipped = sum(i.file_size for i in infos)
        if unzipped > MAX_UNZIPPED_BYTES:
            raise _file_error("file", "problem_xlsx_expands", f"{unzipped / 2**20:.0f} MB",
                              mb=MAX_UNZIPPED_BYTES // 2**20)
        names = {i.filename for i in infos}
        if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
            raise _file_error("file", "problem_zip_not_xlsx")
        cells = 0
        markup = [0, 0]  # XML elements and attributes of every part
        try:
            for info in infos:
                name = info.filename
                # markup first, on the bytes alone (a flood is refused at C speed, before any regex)
                if _is_sheet_part(name):
                    _count_markup(zf, info, markup)
                    cells += _count_tags(zf, info, rb"(?:c|row)", MAX_CELLS - cells, "problem_xlsx_too_many_cells")
                elif name == "xl/sharedStrings.xml":
                    _count_markup(zf, info, markup)
                    _count_tags(zf, info, rb"si", MAX_SHARED_STRINGS, "problem_xlsx_too_many_strings")
                elif name.endswith((".xml", ".rels")):
                    if info.file_size > MAX_OTHER_PART_BYTES:
                        raise _file_error("file", "problem_xlsx_part_too_large", f"{info.file_size / 2**20:.0f} MB",
                                          part=name, mb=MAX_OTHER_PART_BYTES // 2**20)
                    _count_markup(zf, info, markup)
        except LoaderError:
            raise
        except RuntimeError:  # zipfile's word for a member that needs a password
            raise _file_error("file", "problem_xlsx_encrypted") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, ValueError) as exc:
            # ValueError: a zip whose offsets point before the archive ("negative seek value")
            raise _file_error("file", "problem_xlsx_corrupt_part", error=type(exc).__name__) from None


def _is_sheet_part(name: str) -> bool:
    return name.startswith("xl/worksheets/") and name.endswith(".xml")


def _check_unusual_parts(zf: zipfile.ZipFile, sheets: list[str], strings: str | None) -> None:
    """Apply the caps of :func:`_inspect_xlsx` to sheets and shared strings kept under unusual names.

    :func:`_inspect_xlsx` counts by the names Excel uses; the relationships may point elsewhere.
    """
    markup = [0, 0]  # .xml and .rels parts were counted with the whole workbook; other names here
    for part in sheets:
        if not _is_sheet_part(part):
            _count_tags(zf, zf.getinfo(part), rb"(?:c|row)", MAX_CELLS, "problem_xlsx_too_many_cells",
                        None if part.endswith((".xml", ".rels")) else markup)
    if strings is not None and strings != "xl/sharedStrings.xml":
        _count_tags(zf, zf.getinfo(strings), rb"si", MAX_SHARED_STRINGS, "problem_xlsx_too_many_strings",
                    None if strings.endswith((".xml", ".rels")) else markup)


def text_key(name: str) -> str:
    """A name as the loader compares it (sheet names, application ids): NFKC, invisible characters
    dropped, trimmed, casefolded (``Applications``, `` applications``, ``ａｐｐｌｉｃａｔｉｏｎｓ`` and
    ``app\u200blications`` are one name)."""
    return _invisible_free(unicodedata.normalize("NFKC", name)).strip().casefold()


#: Letters that look like Latin ones (Cyrillic and Greek capitals and small letters; Unicode's
#: confusables.txt, https://www.unicode.org/Public/security/latest/confusables.txt), folded for the
#: duplicate-id rule only.
_LOOK_ALIKES = str.maketrans("АВЕКМНОРСТХУаеорсухіјѕԁԛԝΑΒΕΖΗΙΚΜΝΟΡΤΥΧοι",
                             "ABEKMHOPCTXYaeopcyxijsdqwABEZHIKMNOPTYXoi")


def id_key(app_id: str) -> str:
    """An application id as the duplicate rule compares it: :func:`text_key` with look-alike letters
    folded to Latin."""
    return text_key(app_id.translate(_LOOK_ALIKES))


def _invisible_free(text: str) -> str:
    """``text`` without format characters (zero-width spaces and joiners, BOM, bidi marks: Unicode Cf)."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _wanted_sheets(parts: xlsx_cells.WorkbookParts) -> dict[str, str]:
    """Sheet key -> part of the sheets the loader reads, refusing a hidden one or two of one name.

    A hidden ``applications`` sheet beside an edited visible copy, or two sheets whose names match
    once case and spaces are set aside, would have one read and the other silently ignored.
    """
    all_sheets = parts.all_sheets or tuple((n, p, "visible") for n, p in parts.sheets.items())
    found: dict[str, tuple[str, str]] = {}
    for name, part, state in all_sheets:
        key = text_key(name)
        if key not in (APPLICATIONS_SHEET, SCHEDULE_SHEET, CAPEX_SHEET):
            continue
        if key in found:
            raise _file_error("sheet", "problem_sheet_twice", sheet=key, a=found[key][0], b=name)
        if state in ("hidden", "veryHidden"):
            raise _file_error("sheet", "problem_sheet_hidden", sheet=name)
        found[key] = (name, part)
    return {k: part for k, (_, part) in found.items()}


def _read_xlsx(data: bytes) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The applications and schedule sheets of a workbook, after :func:`_inspect_xlsx` let it through.

    The applications frame's ``attrs["notices"]`` lists what was read other than as stored (a
    percent-formatted grade read as the number shown).
    """
    _inspect_xlsx(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        try:
            parts = xlsx_cells.workbook_parts(zf)
            wanted = _wanted_sheets(parts)
            if APPLICATIONS_SHEET not in wanted:
                raise _file_error("sheet", "problem_no_sheet", sheet=APPLICATIONS_SHEET, found=", ".join(parts.sheets))
            _check_unusual_parts(zf, list(wanted.values()), parts.shared_strings)
            strings = xlsx_cells.shared_strings(zf, parts.shared_strings)
            dates = xlsx_cells.date_styles(zf, parts.styles)
            percents = xlsx_cells.percent_styles(zf, parts.styles)
        except LoaderError:
            raise
        except _XLSX_ERRORS as exc:
            raise _file_error("file", "problem_xlsx_unreadable", error=type(exc).__name__) from None
        frames = []
        for key in (APPLICATIONS_SHEET, SCHEDULE_SHEET, CAPEX_SHEET):
            if key not in wanted:
                frames.append(None)
                continue
            merged: list[str] = []
            try:
                rows = xlsx_cells.iter_rows(zf, wanted[key], strings, dates, parts.date1904,
                                            max_columns=MAX_COLUMNS, percents=percents, merged=merged)
                frame = _table_from_rows(rows, key)
            except LoaderError:
                raise
            except xlsx_cells.ColumnLimitError as exc:
                raise _file_error(key, "problem_beyond_column", ref=exc.ref, n=MAX_COLUMNS,
                                  letter=_column_letter(MAX_COLUMNS - 1)) from None
            except _XLSX_ERRORS as exc:
                raise _file_error("file", "problem_sheet_corrupt", error=type(exc).__name__) from None
            _check_merged(merged, frame.attrs.get("header_row"), key)
            frames.append(frame)
    notices = _resolve_percent_cells(frames[0], APPLICATIONS_SHEET)
    for f, key in ((frames[1], SCHEDULE_SHEET), (frames[2], CAPEX_SHEET)):
        if f is not None:
            _resolve_percent_cells(f, key)
    frames[0].attrs["notices"] = notices
    return frames[0], merge_schedules(frames[1], frames[2])


_RANGE_ROWS = re.compile(r"^\$?[A-Za-z]{1,3}\$?([0-9]{1,7})(?::\$?[A-Za-z]{1,3}\$?([0-9]{1,7}))?$")


def _check_merged(merged: list[str], header_row: int | None, sheet: str) -> None:
    """Refuse merged cells over the rows under the header: a merged range keeps its value in its first
    cell only, so the second row's value would be empty and silently take the country default."""
    if header_row is None:
        return
    for ref in merged:
        m = _RANGE_ROWS.match(ref.strip())
        last = int(m.group(2) or m.group(1)) if m else header_row + 1  # an unreadable range: assume the worst
        if last > header_row:
            raise _file_error(sheet, "problem_merged_cells", ref, ref=ref, sheet=sheet)


def _resolve_percent_cells(frame: pd.DataFrame | None, sheet: str) -> list[Problem]:
    """Read every percent-formatted number as the officer meant it; the notices of what was done.

    Excel stores 0.025 when an officer types ``2.5%``. In a fraction field that stored fraction is the
    value. In ``head_grade`` whose unit is ``%``, the officer meant the number shown (2.5), which is read
    with a notice. Anywhere else the cell is read as the text shown (``2.5%``), which the number grammar
    refuses by name (a percentage is only accepted in fraction fields).
    """
    notices: list[Problem] = []
    if frame is None or frame.empty:
        return notices
    for col in frame.columns:
        values = frame[col]
        hits = [i for i, v in enumerate(values) if isinstance(v, xlsx_cells.PercentCell)]
        if not hits:
            continue
        spec = FIELD_BY_NAME.get(col) if sheet == APPLICATIONS_SHEET else None
        out = values.tolist()
        for i in hits:
            v = out[i]
            if spec is not None and spec.unit in FRACTION_UNITS:
                out[i] = float(v)
            elif col == "head_grade" and str(frame.iloc[i].get("head_grade_unit") or "").strip() == "%":
                out[i] = float(f"{float(v) * 100:.12g}")
                notices.append(Problem.of(record_id(frame.iloc[i].get("id")), col, "notice_percent_cell_read",
                                          v.shown, source_rows(frame)[i], read=number_text(out[i])))
            else:
                out[i] = v.shown
        frame[col] = pd.Series(out, index=frame.index, dtype=object)
    return notices


# ----------------------------------------------------------------------------- tables

def _column_letter(j: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(j + 1)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def _is_units_row(header: list[str], cells: Sequence[Any], sheet: str) -> bool:
    """The template's units row: every filled cell of a known column holds that column's unit label
    (in any language the template is written in); a column the schema does not know may hold a
    bracketed note (the template writes ``[not a template column]`` there)."""
    yearly = sheet in (SCHEDULE_SHEET, CAPEX_SHEET)
    labels = ({SCHEDULE_SHEET: SCHEDULE_UNITS, CAPEX_SHEET: CAPEX_UNITS}[sheet] if yearly
              else {f: unit_label(FIELD_BY_NAME[f]) for f in COLUMNS})
    matched = 0
    for name, v in zip(header, cells):
        if _blank(v):
            continue
        text = str(v).strip()
        if name not in labels:
            if text.startswith("[") and text.endswith("]"):
                continue
            return False
        allowed = _schedule_unit_labels(name) if yearly else _unit_labels(name, labels[name])
        if text not in allowed | {labels[name]}:
            return False
        matched += 1
    return matched > 0


#: Where the template's words live (its units row is written in the officer's language).
TEMPLATE_LABELS = Path(__file__).resolve().parent.parent / "evaluator" / "data"


@functools.lru_cache(maxsize=None)
def _label_files() -> tuple[dict, ...]:
    """The template's label files, one per language."""
    out = []
    for path in sorted(TEMPLATE_LABELS.glob("report_labels_*.toml")):
        with open(path, "rb") as fh:
            out.append(tomllib.load(fh))
    return tuple(out)


def _template_notes() -> set[str]:
    """The notes the template writes beside the yearly sheets' headers, in every language."""
    return {d.get("template", {}).get(k) for d in _label_files() for k in ("schedule_note", "capex_note")} - {None}


def _unit_translations() -> tuple[dict[str, str], ...]:
    """The ``[unit]`` tables of the template's label files (one per language)."""
    return tuple(dict(d.get("unit", {})) for d in _label_files())


#: Keys of the schedule sheet's units row in the label files' ``[template]`` table.
_SCHEDULE_UNIT_KEYS = {"id": "schedule_id", "operating_year": "schedule_year", "ore_mt": "schedule_ore",
                       "grade": "schedule_grade", "model_year": "schedule_year", "capex_usd_m": "schedule_capex"}


def _schedule_unit_labels(name: str) -> set[str]:
    """The schedule sheet's units-row label of a column in every language."""
    key = _SCHEDULE_UNIT_KEYS.get(name)
    return {d.get("template", {}).get(key) for d in _label_files() if key} - {None}


def _unit_labels(field: str, english: str) -> set[str]:
    """A field's units-row label in every language of the template: ``[USD m]``, ``[백만 달러]``."""
    inner = english[1:-1]
    return {english} | {f"[{table.get(inner, inner)}]" for table in _unit_translations()}


def _check_header(header: list[str], sheet: str) -> None:
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if not name:
            continue
        if name in seen:
            raise _file_error(sheet, "problem_duplicate_header", name=name, a=_column_letter(seen[name]),
                              b=_column_letter(j))
        seen[name] = j


def _check_cell(v: Any, sheet: str, row_no: int, j: int, header: list[str]) -> None:
    if isinstance(v, str) and len(v) > MAX_TEXT_CHARS:
        raise _file_error(sheet, "problem_cell_too_long", f"{len(v):,}", ref=f"{_column_letter(j)}{row_no}",
                          n=f"{MAX_TEXT_CHARS:,}")
    if j >= len(header) or not header[j]:
        raise _file_error(sheet, "problem_cell_without_header", v, ref=f"{_column_letter(j)}{row_no}")


def _table_from_rows(rows: Iterable[tuple[int, Sequence[Any]]], sheet: str) -> pd.DataFrame:
    """Header (first non-empty row), optional units row, data rows; every rule checked exactly.

    ``rows`` holds (row number, cell values); row numbers in messages are the sheet's (or file's)
    own, from 1.
    """
    header: list[str] | None = None
    header_row = None
    body: list[list[Any]] = []
    body_rows: list[int] = []  # each data row's own number in the sheet, for messages
    for row_no, r in rows:
        if not r or all(_blank(c) for c in r):
            continue
        if header is None:
            header_row = row_no
            header = ["" if c is None else str(c).strip() for c in r]
            if sheet in (SCHEDULE_SHEET, CAPEX_SHEET):  # the template's note beside the header is no column
                header = ["" if h in _template_notes() else h for h in header]
            while header and not header[-1]:
                header.pop()
            if len(header) > MAX_COLUMNS:
                raise _file_error(sheet, "problem_header_too_wide", n=MAX_COLUMNS, at_row=row_no)
            _check_header(header, sheet)
            missing = [c for c in REQUIRED_COLUMNS if c not in header] if sheet == APPLICATIONS_SHEET else []
            if missing:  # before reading the rows: a wrong sheet is refused at once
                raise LoaderError([Problem.of("", c, "problem_required_column") for c in missing])
            continue
        cells = list(r)
        for j, v in enumerate(cells):
            if not _blank(v) or (isinstance(v, str) and len(v) > MAX_TEXT_CHARS):
                _check_cell(v, sheet, row_no, j, header)
        if not body and sheet != PLAIN_SHEET and _is_units_row(header, cells, sheet):
            continue  # the template's units row, recognised by its content
        if sheet == APPLICATIONS_SHEET and len(body) >= MAX_ROWS:
            raise _file_error("file", "problem_too_many_rows_at", n=f"{MAX_ROWS:,}", at_row=row_no)
        body.append(cells[: len(header)] + [None] * (len(header) - len(cells)))
        body_rows.append(row_no)
    if header is None:
        return pd.DataFrame()
    df = pd.DataFrame(body, columns=header, dtype=object)
    df = df.loc[:, [c for c in df.columns if c]]
    df.attrs["header_row"] = header_row
    df.attrs[SOURCE_ROWS] = body_rows
    return df


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _decode_text(data: bytes, what: str, *, cp949: bool) -> str:
    if data.startswith(_UTF16_BOMS) or b"\x00" in data[:4096]:
        raise _file_error("file", "problem_utf16", what=what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if cp949:
            try:
                return data.decode("cp949")  # Korean Windows Excel saves CSV in CP949
            except UnicodeDecodeError:
                pass
    raise _file_error("file", "problem_encoding_cp949" if cp949 else "problem_encoding", what=what) from None


def _read_csv(data: bytes, sheet: str = APPLICATIONS_SHEET) -> pd.DataFrame:
    text = _decode_text(data, "CSV", cp949=True)
    if not text.strip():
        raise _file_error("file", "problem_empty_file")
    if "\x00" in text:
        raise _file_error("file", "problem_csv_nul")
    # counted over the whole text (quoted commas and line breaks too): a conservative bound on the
    # fields and rows the csv module would build, so that no CSV below the size limit costs more
    # than a few seconds or about 300 MB
    if text.count(",") > MAX_CSV_SEPARATORS or text.count("\n") > MAX_CSV_LINES:
        raise _file_error("file", "problem_csv_too_big", commas=f"{MAX_CSV_SEPARATORS:,}", lines=f"{MAX_CSV_LINES:,}")
    _check_delimiter(text, sheet)
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        return _table_from_rows(((i, [c if c != "" else None for c in r]) for i, r in enumerate(rows, start=1)),
                                sheet)
    except csv.Error as exc:
        raise _file_error("file", "problem_csv_unreadable", error=str(exc)) from None


def _check_delimiter(text: str, sheet: str) -> None:
    """One line about the delimiter when a CSV was saved with ``;`` or tabs (Excel in a decimal-comma
    locale), instead of a "required column is missing" line for every column."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "," in first or sheet != APPLICATIONS_SHEET:
        return
    for sep, word in ((";", "semicolons (;)"), ("\t", "tabs")):
        if first.count(sep) >= 2 and "id" in [c.strip().strip('"').strip("\ufeff") for c in first.split(sep)]:
            raise _file_error("file", "problem_csv_delimiter", sep=word)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _file_error("file", "problem_json_duplicate_key", key=k)
        out[k] = v
    return out


def _json_constant(word: str) -> CellFault:
    """JSON's ``NaN``, ``Infinity`` and ``-Infinity`` (Python's json accepts them): a named problem
    in whichever field holds one, never a blank (NaN) or an unbounded number."""
    return CellFault(word, "problem_value_not_finite", text=word)


def _read_json(data: bytes) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    text = _decode_text(data, "JSON", cp949=False)
    # brackets inside strings counted too: a conservative bound on the containers json builds
    if text.count("{") + text.count("[") > MAX_JSON_CONTAINERS or text.count(",") > MAX_CSV_SEPARATORS:
        raise _file_error("file", "problem_json_too_big", containers=f"{MAX_JSON_CONTAINERS:,}",
                          commas=f"{MAX_CSV_SEPARATORS:,}")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_json_constant)
    except RecursionError:
        raise _file_error("file", "problem_json_too_deep") from None
    except ValueError as exc:  # JSONDecodeError, or an integer longer than Python reads
        raise _file_error("file", "problem_json_invalid", error=str(exc).splitlines()[0][:200]) from None
    sched = None
    records = obj
    if isinstance(obj, dict):
        unknown = sorted(set(obj) - {"applications", SCHEDULE_SHEET, CAPEX_SHEET})
        if unknown:
            raise _file_error("file", "problem_json_unknown_keys", keys=", ".join(unknown),
                              expected=", ".join(("applications", SCHEDULE_SHEET, CAPEX_SHEET)))
        records = obj.get("applications")
        sched = merge_schedules(*(None if obj.get(k) is None else _json_schedule(obj[k], k)
                                  for k in (SCHEDULE_SHEET, CAPEX_SHEET)))
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _file_error("file", "problem_json_shape")
    if len(records) > MAX_ROWS:
        raise _file_error("file", "problem_too_many_rows", n=f"{MAX_ROWS:,}")
    keys = set().union(*records) if records else set()
    if len(keys) > MAX_COLUMNS:  # the table would have one column per distinct key
        raise _file_error("file", "problem_json_too_many_fields", n=MAX_COLUMNS)
    return pd.DataFrame(records, dtype=object), sched


def _json_schedule(obj: Any, sheet: str) -> pd.DataFrame:
    """A yearly table of a JSON file: ``production_schedule`` records hold id, operating_year and
    ore_mt and/or grade; ``capex_schedule`` records hold id, model_year and capex_usd_m."""
    columns = SCHEDULE_COLUMNS if sheet == SCHEDULE_SHEET else CAPEX_COLUMNS
    shape = {"sheet": sheet, "columns": ", ".join(columns)}
    if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
        raise _file_error(sheet, "problem_json_schedule_shape", **shape)
    for r in obj:
        keys = set(r)
        ok = (keys == set(columns) if sheet == CAPEX_SHEET
              else keys <= set(columns) and {"id", "operating_year"} <= keys and keys & {"ore_mt", "grade"})
        if not ok:
            raise _file_error(sheet, "problem_json_schedule_shape", ", ".join(sorted(map(str, r))), **shape)
    return pd.DataFrame(obj, columns=list(columns), dtype=object)


def merge_schedules(production: pd.DataFrame | None, capex: pd.DataFrame | None) -> pd.DataFrame | None:
    """The two yearly sheets as one long table (what :class:`LoadResult` keeps as ``schedule``).

    Rows of ``production_schedule`` fill id, operating_year, ore_mt, grade; rows of
    ``capex_schedule`` fill id, model_year, capex_usd_m. :func:`is_capex_row` tells them apart,
    and :func:`evaluator.template.applications_workbook` writes each back to its sheet.
    """
    frames = [f for f in (production, capex) if f is not None and f.shape[1] > 0 and len(f)]
    if not frames:
        return production
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True, sort=False).astype(object).where(
        lambda d: d.notna(), None)


def is_capex_row(row: Any) -> bool:
    """Whether one row of the long yearly table belongs on the ``capex_schedule`` sheet: it fills
    model_year or capex_usd_m and none of operating_year, ore_mt, grade."""
    get = row.get if hasattr(row, "get") else (lambda k, d=None: d)
    return (any(not _blank_value(get(c)) for c in ("model_year", "capex_usd_m"))
            and all(_blank_value(get(c)) for c in ("operating_year", "ore_mt", "grade")))


def _bytes_within_caps(source, filename: str | None) -> tuple[bytes, str]:
    """(bytes, lower-case file name) of ``source``; :class:`LoaderError` for an oversize or empty file."""
    data, name = _as_bytes(source)
    name = (filename or name or "").lower()
    if len(data) > MAX_FILE_BYTES:
        raise _file_error("file", "problem_file_too_large", f"{len(data) / 2**20:.1f} MB", mb=MAX_FILE_BYTES // 2**20)
    if not data.strip():
        raise _file_error("file", "problem_empty_file")
    return data, name


def read_table(source: str | Path | bytes | BinaryIO, filename: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Read the raw application table (and the optional schedule) from a file.

    Parameters
    ----------
    source : path, bytes or binary file
        The file; its format is taken from ``filename`` (or the path), falling back to sniffing.
    filename : str, optional
        Name used to pick the format (``.xlsx``, ``.csv``, ``.json``).

    Returns
    -------
    applications : pandas.DataFrame
        One row per application, values as entered (object dtype).
    schedule : pandas.DataFrame or None
        Long table ``id, operating_year, ore_mt`` when the file has one.

    Raises
    ------
    LoaderError
        Empty, oversize, corrupt, hostile or unrecognised file; missing ``applications`` sheet;
        duplicate column header; too many rows; a cell longer than 32,767 characters.
    """
    data, name = _bytes_within_caps(source, filename)
    if name.endswith((".xlsx", ".xlsm")) or (not name and data[:2] == b"PK"):
        return _read_xlsx(data)
    if name.endswith(".json") or (not name and data.lstrip()[:1] in (b"[", b"{")):
        return _read_json(data)
    if name.endswith((".csv", ".txt")) or not name:
        if data[:2] == b"PK":
            raise _file_error("file", "problem_binary_csv")
        return _read_csv(data), None
    raise _file_error("file", "problem_unsupported_type", name)


def read_plain_table(source: str | Path | bytes | BinaryIO, filename: str | None = None) -> pd.DataFrame:
    """A plain table (a price deck, a customs extract) through the guards of the application loader.

    The same caps as :func:`read_table` (size, unzipped size, cells, shared strings, columns, cell
    length, CSV separators and lines) and the same streaming sheet reader; a workbook's first visible
    sheet is read; a percent-formatted number reads as the text shown (``2.5%``), which the number
    grammar refuses outside fraction fields. Values come as entered (text, or numbers of a workbook).

    Raises
    ------
    LoaderError
        One line naming the file-level rule.
    """
    data, name = _bytes_within_caps(source, filename)
    if not (name.endswith((".xlsx", ".xlsm")) or data[:2] == b"PK"):
        return _read_csv(data, PLAIN_SHEET)
    _inspect_xlsx(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        try:
            parts = xlsx_cells.workbook_parts(zf)
            visible = [part for _, part, state in parts.all_sheets if state not in ("hidden", "veryHidden")]
            if not visible:
                raise _file_error("sheet", "problem_no_visible_sheet")
            _check_unusual_parts(zf, visible[:1], parts.shared_strings)
            strings = xlsx_cells.shared_strings(zf, parts.shared_strings)
            dates = xlsx_cells.date_styles(zf, parts.styles)
            percents = xlsx_cells.percent_styles(zf, parts.styles)
            merged: list[str] = []
            frame = _table_from_rows(xlsx_cells.iter_rows(zf, visible[0], strings, dates, parts.date1904,
                                                          max_columns=MAX_COLUMNS, percents=percents,
                                                          merged=merged), PLAIN_SHEET)
        except LoaderError:
            raise
        except xlsx_cells.ColumnLimitError as exc:
            raise _file_error("sheet", "problem_beyond_column", ref=exc.ref, n=MAX_COLUMNS,
                              letter=_column_letter(MAX_COLUMNS - 1)) from None
        except _XLSX_ERRORS as exc:
            raise _file_error("file", "problem_xlsx_unreadable", error=type(exc).__name__) from None
    _check_merged(merged, frame.attrs.get("header_row"), "sheet")
    _resolve_percent_cells(frame, PLAIN_SHEET)
    return frame


#: The sheet name :func:`_table_from_rows` is given for a plain table (no application rules).
PLAIN_SHEET = "table"


# ----------------------------------------------------------------------------- validation

#: Upper bound of each yearly column [its unit] and the unit named in messages; a grade above 100 %
#: is then refused by the application's own ``grade_schedule`` rule.
def _yearly_bounds() -> dict[str, tuple[float, str]]:
    bounds = plausibility_bounds()
    return {"ore_mt": (bounds.get("production_schedule_ore_mt", (0.0, float("inf")))[1], "Mt"),
            "grade": (1e6, "grade unit"),
            "capex_usd_m": (bounds.get("capex_schedule_usd_m", (0.0, float("inf")))[1], "USD m")}


def _year_rows(g: pd.DataFrame, app_id: str, sheet: str, year_col: str, value_cols: Sequence[str],
               problems: list[Problem]) -> list[tuple[int, dict[str, float | None]]] | None:
    """One application's rows of a yearly sheet as (year, {column: value or None}), or None after a problem."""
    bounds = _yearly_bounds()
    rows = []
    for rec in g.to_dict("records"):
        year_v, vals = rec.get(year_col), {c: rec.get(c) for c in value_cols}
        shown = ", ".join(repr(v) for v in (year_v, *vals.values()))
        try:
            year = parse_number(year_v)
            parsed = {c: None if _blank_value(v) else parse_number(v) for c, v in vals.items()}
        except NumberError as exc:
            problems.append(Problem.of(app_id, sheet, "problem_schedule_number", shown,
                                       columns=", ".join((year_col, *value_cols)), reason=exc.rule))
            return None
        bad = [c for c, x in parsed.items() if x is not None and not 0 <= x <= bounds[c][0]]
        if year != int(year) or bad:
            col = (bad or list(value_cols))[0]
            problems.append(Problem.of(app_id, sheet, "problem_schedule_range", shown, year=year_col, column=col,
                                       hi=f"{bounds[col][0]:g}", unit=bounds[col][1]))
            return None
        rows.append((int(year), parsed))
    rows.sort(key=lambda r: r[0])
    if [y for y, _ in rows] != list(range(1, len(rows) + 1)) or len(rows) > MAX_LIST_VALUES:
        problems.append(Problem.of(app_id, sheet, "problem_schedule_years", year=year_col, n=MAX_LIST_VALUES))
        return None
    return rows


def _yearly_lists(g: pd.DataFrame, app_id: str, sheet: str, problems: list[Problem]) -> dict[str, list[float]] | None:
    """One application's rows of a yearly sheet -> {column: value per year 1, 2, ...} for each column it
    fills (in every row; a column filled in some rows only is a problem)."""
    year_col, columns = ("operating_year", ("ore_mt", "grade")) if sheet == SCHEDULE_SHEET else \
        ("model_year", ("capex_usd_m",))
    value_cols = [c for c in columns if c in g.columns]
    rows = _year_rows(g, app_id, sheet, year_col, value_cols, problems)
    if rows is None:
        return None
    out = {}
    for c in value_cols:
        values = [v[c] for _, v in rows]
        if all(x is None for x in values):
            continue
        if any(x is None for x in values):
            problems.append(Problem.of(app_id, sheet, "problem_schedule_partial", column=c, year=year_col))
            return None
        out[c] = values
    return out


def _split_schedule(sched: pd.DataFrame, problems: list[Problem]) -> list[tuple[str, pd.DataFrame]]:
    """The long yearly table as (sheet, rows) for each sheet it holds rows of, with its columns checked."""
    capex = sched.apply(is_capex_row, axis=1) if len(sched) else pd.Series([], dtype=bool)
    out = []
    for sheet, rows, needed in ((SCHEDULE_SHEET, sched[~capex], ("id", "operating_year")),
                                (CAPEX_SHEET, sched[capex], CAPEX_COLUMNS)):
        if rows.empty:
            continue
        missing = [c for c in needed if c not in rows.columns]
        if sheet == SCHEDULE_SHEET and not {"ore_mt", "grade"} & set(rows.columns):
            missing.append("ore_mt")
        if missing:
            problems.append(Problem.of("", sheet, "problem_schedule_columns", columns=", ".join(sorted(missing))))
            continue
        out.append((sheet, rows))
    return out


def _attach_schedule(raw: pd.DataFrame, sched: pd.DataFrame | None, problems: list[Problem]) -> pd.DataFrame:
    """Fold the long yearly table (production_schedule and capex_schedule rows) into the list fields
    ``production_schedule_ore_mt``, ``grade_schedule`` and ``capex_schedule_usd_m``."""
    if sched is None or sched.empty:
        return raw
    raw = raw.copy()
    raw_ids = raw["id"].map(record_id)
    for sheet, rows in _split_schedule(sched, problems):
        sched_ids = rows["id"].map(record_id)
        for app_id in dict.fromkeys(sched_ids):
            lists = _yearly_lists(rows[sched_ids == app_id], app_id, sheet, problems)
            if lists is None:
                continue
            mask = raw_ids == app_id
            if not app_id or not mask.any():
                problems.append(Problem.of(app_id, sheet, "problem_schedule_unknown_id"))
                continue
            for column, values in lists.items():
                name = SCHEDULE_FIELDS[column][0]
                if name not in raw.columns:
                    raw[name] = None
                if not raw.loc[mask, name].map(_blank_value).all():
                    problems.append(Problem.of(app_id, name, "problem_given_twice", sheet=sheet))
                    continue
                raw.loc[mask, name] = ";".join(number_text(x) for x in values)
    return raw


def _blank_value(v: Any) -> bool:
    """None, NaN, pandas' NA/NaT (an emptied cell of the app's editor) or blank text."""
    return _is_blank(v)


#: ``DataFrame.attrs`` key of a table's data rows' own numbers in its sheet or file (header row
#: included in the count, from 1, as Excel shows them), which problems quote as their ``row``.
SOURCE_ROWS = "source_rows"


def source_rows(raw: pd.DataFrame) -> list[int]:
    """The row number an officer finds each row of ``raw`` under in the spreadsheet: the sheet's own
    (``attrs[SOURCE_ROWS]``, kept by :func:`read_table`), or 1, 2, ... for a table that never was a
    sheet (JSON records, rows added in the app)."""
    rows = raw.attrs.get(SOURCE_ROWS)
    if rows is not None and len(rows) == len(raw):
        return [int(r) for r in rows]
    return list(range(1, len(raw) + 1))


def validate_table(
    raw: pd.DataFrame,
    schedule: pd.DataFrame | None = None,
    *,
    ref=None,
    currencies: Iterable[str] = (),
) -> LoadResult:
    """Validate a raw application table row by row.

    Parameters
    ----------
    raw : pandas.DataFrame
        Rows as entered (e.g. from :func:`read_table` or the app's data editor).
    schedule : pandas.DataFrame, optional
        Long production schedule (id, operating_year, ore_mt).
    ref : evaluator.reference.ReferenceData, optional
        When given, country and mineral codes, fiscal regions and currencies are checked against it.
    currencies : iterable of str
        Currencies the scenario gives a rate for (``fx_usd_per_unit``) beside ``fx_rates.csv``.

    Raises
    ------
    LoaderError
        Required columns are missing, a column header is repeated, or the table is empty.
    """
    if raw is None or raw.shape[1] == 0:
        raise _file_error("file", "problem_no_header")
    notices: list[Problem] = list(raw.attrs.get("notices", ()))
    sheet_rows = source_rows(raw)
    raw = raw.copy()
    raw.columns = [str(c).strip() for c in raw.columns]
    _check_header(list(raw.columns), APPLICATIONS_SHEET)
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise LoaderError([Problem.of("", c, "problem_required_column") for c in missing])
    if len(raw) == 0:
        raise _file_error("file", "problem_no_rows")
    if len(raw) > MAX_ROWS:
        raise _file_error("file", "problem_too_many_rows", n=f"{MAX_ROWS:,}")
    problems: list[Problem] = []
    raw = _attach_schedule(raw, schedule, problems)
    # an application whose yearly sheet rows are wrong is not evaluated without them
    schedule_bad = {p.application_id for p in problems if p.application_id}
    extra = [c for c in raw.columns if c not in COLUMNS]
    raw = raw[[c for c in COLUMNS if c in raw.columns] + extra]
    unknown = {c: closest_column(c) for c in extra}

    known_countries = known_minerals = known_oxides = regions = rates = None
    fx = getattr(ref, "fx_rates", None)
    if fx is not None:
        rates = set(map(str, fx.index)) | {"USD", "KRW"} | {str(c).upper() for c in currencies}
    table = getattr(ref, "fiscal_regimes", None)
    if table is not None:
        regions = {}
        for region, iso3 in zip(table["region"], table["iso3"]):
            regions.setdefault(str(region).upper(), set()).add(str(iso3))
    if ref is not None:
        known_countries = set(ref.countries.index)
        known_minerals = set(ref.minerals.index)
        known_oxides = set(ref.ree_oxides.index)

    ids = raw["id"].map(record_id)
    # the duplicate rule compares ids as a person reads them: VN-01, vn-01, VN-０1, VN-0l (Cyrillic or
    # invisible characters inside) are one project, which must not be funded twice
    by_key: dict[str, list[int]] = {}
    for k, v in enumerate(ids):
        if v:
            by_key.setdefault(id_key(v), []).append(k)
    dup_rows = {ids.iloc[k]: [sheet_rows[r] for r in rows] for rows in by_key.values() if len(rows) > 1 for k in rows}
    apps: list[Application] = []
    records = raw.to_dict("records")
    for k, rec in enumerate(records):
        i = sheet_rows[k]  # the row as the spreadsheet numbers it, for every message of this record
        app, probs = parse_application(rec, row=i, known_countries=known_countries,
                                       known_minerals=known_minerals, known_oxides=known_oxides)
        this_id = ids.iloc[k]
        if this_id in dup_rows:
            probs.append(Problem.of(this_id, "id", "problem_duplicate_id", this_id, i,
                                    rows=", ".join(map(str, dup_rows[this_id]))))
            app = None
        if app is not None and rates is not None and app.currency not in rates:
            # without a rate the evaluation of every application would stop: this one is named instead
            probs.append(Problem.of(app.id, "currency", "problem_currency_no_rate", app.currency, i,
                                    known=", ".join(sorted(rates))))
            app = None
        if app is not None and app.fiscal_region and regions is not None:
            fiscal = _fiscal_region_problem(app, regions, i)
            if fiscal is not None:
                probs.append(fiscal)
                app = None
        for column, closest in unknown.items():  # a value under a header the loader does not read
            if not _blank_value(rec.get(column)):
                shown = rec[column] if not isinstance(rec[column], str) or len(rec[column]) <= 80 else rec[column][:77] + "..."
                probs.append(Problem.of(this_id, repr(column)[1:-1], "problem_unknown_column", shown, i,
                                        column=repr(column)[1:-1], closest=closest))
                app = None
        if _is_example_row(this_id, rec.get("name")):
            probs.append(Problem.of(this_id, "id", "problem_example_row", this_id, i))
            app = None
        if this_id in schedule_bad:
            app = None
        problems.extend(probs)
        if app is not None:
            apps.append(app)
    return LoadResult(apps, problems, raw.reset_index(drop=True), schedule, notices)


@functools.lru_cache(maxsize=1)
def _header_names() -> dict[str, str]:
    """Every way of naming a column -> its field id: the ids and the field labels in every language of
    the catalogue (``Head grade``, ``품위``), compared as :func:`_header_key` sees them."""
    from evaluator import messages

    out = {}
    for lang in ("en", "ko"):
        for f in COLUMNS:
            label = messages.text(f"field_{f}", lang)
            if label and label != f"field_{f}":
                out.setdefault(_header_key(label), f)
    out.update({_header_key(f): f for f in COLUMNS})
    return out


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-_.]+", "_", text_key(re.sub(r"\[.*?\]", "", name))).strip("_")


def closest_column(header: str) -> str:
    """The template column an unknown header most likely meant (``-`` when none is close)."""
    import difflib

    names = _header_names()
    key = _header_key(header)
    if key in names:
        return names[key]
    hit = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
    return names[hit[0]] if hit else "-"


def _fiscal_region_problem(app: Application, regions: dict[str, set[str]], row: int) -> Problem | None:
    """A ``fiscal_region`` that is not in ``fiscal_regimes.csv``, or that belongs to another country
    (an Australian regime on a Vietnamese mine): named, never applied or silently replaced."""
    own = sorted(r for r, countries in regions.items() if app.country_iso3 in countries)
    countries = regions.get(app.fiscal_region)
    if countries is None:
        return Problem.of(app.id, "fiscal_region", "problem_fiscal_region_unknown", app.fiscal_region, row,
                          iso3=app.country_iso3, known=", ".join(own) or "-")
    if app.country_iso3 not in countries:
        return Problem.of(app.id, "fiscal_region", "problem_fiscal_region_other_country", app.fiscal_region, row,
                          region_iso3=", ".join(sorted(countries)), iso3=app.country_iso3, known=", ".join(own) or "-")
    return None


#: The blank template's example row (``evaluator.template.EXAMPLE_RECORD["id"]``; a test checks they agree).
EXAMPLE_ID = "EXAMPLE-01"


def _is_example_row(app_id: str, name: Any) -> bool:
    """The template's example row left in: its id, or its name in any language of the template."""
    if app_id and text_key(app_id) == EXAMPLE_ID.casefold():
        return True
    names = {d.get("template", {}).get("example_name") for d in _label_files()} - {None}
    return isinstance(name, str) and text_key(name) in {text_key(n) for n in names}


def load_applications(source: str | Path | bytes | BinaryIO, *, filename: str | None = None, ref=None,
                      currencies: Iterable[str] = ()) -> LoadResult:
    """Read and validate applications from a workbook, CSV or JSON file.

    See :func:`read_table` and :func:`validate_table`.
    """
    raw, schedule = read_table(source, filename)
    return validate_table(raw, schedule, ref=ref, currencies=currencies)


def applications_frame(apps: Iterable[Application]) -> pd.DataFrame:
    """Applications as a flat table with the template's columns."""
    return pd.DataFrame([a.to_record() for a in apps], columns=list(COLUMNS))
