"""The one loader for applications: workbook (template format), CSV and JSON.

Tests, the CLI and the app all read applications through :func:`load_applications`, so a
file that loads in one loads the same way in the others.

File-level failures (empty file, not a spreadsheet, missing ``applications`` sheet, missing
required columns, oversize file) raise :class:`~models.application.ValidationError`.
Row-level failures never raise: each becomes a :class:`~models.application.Problem` and the
valid rows are returned as :class:`~models.application.Application` records. The raw table
is kept in the result so that nothing the officer entered is lost.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable

import pandas as pd

from models.application import (COLUMNS, REQUIRED_COLUMNS, Application, Problem, ValidationError,
                                parse_application)

#: Largest upload accepted [bytes]; a larger file is refused before parsing.
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Largest uncompressed workbook content accepted [bytes] (zip-bomb guard).
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
#: Most applications in one file.
MAX_ROWS = 10_000
APPLICATIONS_SHEET = "applications"
SCHEDULE_SHEET = "production_schedule"


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
    """

    applications: list[Application]
    problems: list[Problem]
    raw: pd.DataFrame
    schedule: pd.DataFrame | None = None

    @property
    def invalid_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for p in self.problems:
            seen.setdefault(p.application_id or f"row {p.row}", None)
        return list(seen)

    def problems_frame(self) -> pd.DataFrame:
        return pd.DataFrame([p.as_dict() for p in self.problems],
                            columns=["application_id", "field", "rule", "value", "row"])


def _file_error(field_name: str, rule: str, value: Any = None) -> ValidationError:
    return ValidationError([Problem("", field_name, rule, value)])


def _as_bytes(source: str | Path | bytes | BinaryIO) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), ""
    if isinstance(source, (str, Path)):
        p = Path(source)
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise _file_error("file", f"cannot read file ({exc.strerror})", str(p)) from None
        if size > MAX_FILE_BYTES:
            raise _file_error("file", f"larger than the {MAX_FILE_BYTES // 2**20} MB limit", f"{size / 2**20:.1f} MB")
        return p.read_bytes(), p.name
    data = source.read(MAX_FILE_BYTES + 1)
    return data, getattr(source, "name", "") or ""


def _read_xlsx(data: bytes) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        unzipped = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile:
        raise _file_error("file", "not a valid .xlsx workbook (corrupt or not a spreadsheet)") from None
    if unzipped > MAX_UNZIPPED_BYTES:
        raise _file_error("file", f"workbook expands to more than {MAX_UNZIPPED_BYTES // 2**20} MB", f"{unzipped / 2**20:.0f} MB")
    import openpyxl  # defusedxml, when installed, hardens openpyxl's XML parsing

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on corrupt content
        raise _file_error("file", f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        sheets = {name.strip().lower(): name for name in wb.sheetnames}
        if APPLICATIONS_SHEET not in sheets:
            raise _file_error("sheet", f"no '{APPLICATIONS_SHEET}' sheet (found: {', '.join(wb.sheetnames)})")
        apps = _sheet_frame(wb[sheets[APPLICATIONS_SHEET]])
        sched = _sheet_frame(wb[sheets[SCHEDULE_SHEET]]) if SCHEDULE_SHEET in sheets else None
    finally:
        wb.close()
    return apps, sched


def _sheet_frame(ws) -> pd.DataFrame:
    rows = ws.iter_rows(values_only=True)
    header = None
    for r in rows:  # first non-empty row is the header; the template may put a units row after it
        if r and any(c not in (None, "") for c in r):
            header = [("" if c is None else str(c).strip()) for c in r]
            break
    if header is None:
        return pd.DataFrame()
    body = []
    for i, r in enumerate(rows):
        if i > MAX_ROWS + 2:
            raise _file_error("file", f"more than {MAX_ROWS} rows")
        if r is None or all(c in (None, "") for c in r):
            continue
        body.append(list(r[: len(header)]) + [None] * (len(header) - len(r)))
    df = pd.DataFrame(body, columns=header, dtype=object)
    df = df.loc[:, [c for c in df.columns if c]]
    # the template's second row documents units: "[USD m]" etc.; drop it
    if len(df) and str(df.iloc[0].get("id", "")).startswith("["):
        df = df.iloc[1:].reset_index(drop=True)
    return df


def _read_csv(data: bytes) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp949")  # Korean Windows Excel saves CSV in CP949
        except UnicodeDecodeError:
            raise _file_error("file", "CSV is neither UTF-8 nor CP949 text") from None
    if not text.strip():
        raise _file_error("file", "the file is empty")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _file_error("file", f"not a readable CSV ({str(exc).splitlines()[0]})") from None
    if len(df) > MAX_ROWS:
        raise _file_error("file", f"more than {MAX_ROWS} rows")
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) and str(df.iloc[0].get("id", "")).startswith("["):
        df = df.iloc[1:].reset_index(drop=True)
    return df


def _read_json(data: bytes) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _file_error("file", f"not valid JSON ({exc})") from None
    sched = None
    if isinstance(obj, dict):
        records = obj.get("applications")
        if obj.get(SCHEDULE_SHEET) is not None:
            sched = pd.DataFrame(obj[SCHEDULE_SHEET], dtype=object)
    else:
        records = obj
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _file_error("file", "JSON must be a list of application records or {\"applications\": [...]}")
    if len(records) > MAX_ROWS:
        raise _file_error("file", f"more than {MAX_ROWS} rows")
    return pd.DataFrame(records, dtype=object), sched


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
    ValidationError
        Empty, oversize, corrupt or unrecognised file; missing ``applications`` sheet.
    """
    data, name = _as_bytes(source)
    name = (filename or name or "").lower()
    if len(data) > MAX_FILE_BYTES:
        raise _file_error("file", f"larger than the {MAX_FILE_BYTES // 2**20} MB limit", f"{len(data) / 2**20:.1f} MB")
    if not data.strip():
        raise _file_error("file", "the file is empty")
    if name.endswith((".xlsx", ".xlsm")) or (not name and data[:2] == b"PK"):
        return _read_xlsx(data)
    if name.endswith(".json") or (not name and data.lstrip()[:1] in (b"[", b"{")):
        return _read_json(data)
    if name.endswith((".csv", ".txt")) or not name:
        if data[:2] == b"PK" or b"\x00" in data[:1024]:
            raise _file_error("file", "binary content in a CSV file (is it a workbook?)")
        return _read_csv(data), None
    raise _file_error("file", "unsupported file type: use .xlsx (the template), .csv or .json", name)


def _attach_schedule(raw: pd.DataFrame, sched: pd.DataFrame | None, problems: list[Problem]) -> pd.DataFrame:
    """Fold a long production_schedule sheet into the ``production_schedule_ore_mt`` column."""
    if sched is None or sched.empty:
        return raw
    missing = {"id", "operating_year", "ore_mt"} - set(sched.columns)
    if missing:
        problems.append(Problem("", SCHEDULE_SHEET, f"sheet lacks column(s) {', '.join(sorted(missing))}"))
        return raw
    raw = raw.copy()
    for app_id, g in sched.groupby(sched["id"].astype(str).str.strip()):
        try:
            years = g["operating_year"].astype(float).astype(int)
            ore = g["ore_mt"].astype(float)
        except (TypeError, ValueError):
            problems.append(Problem(app_id, SCHEDULE_SHEET, "operating_year and ore_mt must be numbers"))
            continue
        order = years.argsort().to_numpy()
        ys = years.to_numpy()[order]
        if list(ys) != list(range(1, len(ys) + 1)):
            problems.append(Problem(app_id, SCHEDULE_SHEET, "operating years must run 1, 2, 3, ... without gaps"))
            continue
        mask = raw["id"].astype(str).str.strip() == app_id
        if not mask.any():
            problems.append(Problem(app_id, SCHEDULE_SHEET, "schedule for an id not in the applications sheet"))
            continue
        raw.loc[mask, "production_schedule_ore_mt"] = ";".join(f"{x:g}" for x in ore.to_numpy()[order])
    return raw


def validate_table(
    raw: pd.DataFrame,
    schedule: pd.DataFrame | None = None,
    *,
    ref=None,
) -> LoadResult:
    """Validate a raw application table row by row.

    Parameters
    ----------
    raw : pandas.DataFrame
        Rows as entered (e.g. from :func:`read_table` or the app's data editor).
    schedule : pandas.DataFrame, optional
        Long production schedule (id, operating_year, ore_mt).
    ref : evaluator.reference.ReferenceData, optional
        When given, country and mineral codes are checked against it.

    Raises
    ------
    ValidationError
        Required columns are missing or the table is empty.
    """
    if raw is None or raw.shape[1] == 0:
        raise _file_error("file", "no header row: the file is empty")
    raw = raw.copy()
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise ValidationError([Problem("", c, "required column is missing") for c in missing])
    if len(raw) == 0:
        raise _file_error("file", "no application rows under the header")
    problems: list[Problem] = []
    raw = _attach_schedule(raw, schedule, problems)
    extra = [c for c in raw.columns if c not in COLUMNS]
    raw = raw[[c for c in COLUMNS if c in raw.columns] + extra]

    known_countries = known_minerals = known_oxides = None
    if ref is not None:
        known_countries = set(ref.countries.index)
        known_minerals = set(ref.minerals.index)
        known_oxides = set(ref.ree_oxides.index)

    ids = raw["id"].map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v).strip())
    dup_rows: dict[str, list[int]] = {}
    for row_no, v in enumerate(ids, start=1):
        if v:
            dup_rows.setdefault(v, []).append(row_no)
    dup_rows = {k: v for k, v in dup_rows.items() if len(v) > 1}
    apps: list[Application] = []
    records = raw.to_dict("records")
    for i, rec in enumerate(records, start=1):
        app, probs = parse_application(rec, row=i, known_countries=known_countries,
                                       known_minerals=known_minerals, known_oxides=known_oxides)
        this_id = ids.iloc[i - 1]
        if this_id in dup_rows:
            probs.append(Problem(this_id, "id", f"duplicate id (rows {', '.join(map(str, dup_rows[this_id]))})", this_id, i))
            app = None
        problems.extend(probs)
        if app is not None:
            apps.append(app)
    return LoadResult(apps, problems, raw.reset_index(drop=True), schedule)


def load_applications(source: str | Path | bytes | BinaryIO, *, filename: str | None = None, ref=None) -> LoadResult:
    """Read and validate applications from a workbook, CSV or JSON file.

    See :func:`read_table` and :func:`validate_table`.
    """
    raw, schedule = read_table(source, filename)
    return validate_table(raw, schedule, ref=ref)


def applications_frame(apps: Iterable[Application]) -> pd.DataFrame:
    """Applications as a flat table with the template's columns."""
    return pd.DataFrame([a.to_record() for a in apps], columns=list(COLUMNS))
