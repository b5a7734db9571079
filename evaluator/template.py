"""The blank application workbook a company fills in (and the writer of filled ones).

:func:`build_template` writes, from :data:`models.application.FIELDS` alone (one schema drives
the loader, the validation and this template):

``applications``
    Header row = field names; second row = units in brackets (``[USD m]``), which
    :func:`models.loader.load_applications` skips; drop-down lists for the coded fields
    (country from a hidden ``lists`` sheet of ISO3 codes, mineral, stage, ESG category,
    mitigation plan, permits, grade unit) and range checks for bounded numbers; an example row
    or the given applications.
``production_schedule``
    Optional yearly table per operating year: ``id``, ``operating_year`` (1 = first production
    year), ``ore_mt`` [Mt] and ``grade`` [head_grade_unit] (either or both); read into
    ``production_schedule_ore_mt`` and ``grade_schedule``.
``capex_schedule``
    Optional yearly capital per model year: ``id``, ``model_year`` (1 = first construction year),
    ``capex_usd_m`` [USD m]; read into ``capex_schedule_usd_m``. A schedule is given either on these
    sheets or as a ``;`` list on the applications sheet, not both (the loader names the field).
``instructions`` (``작성 안내`` in Korean)
    One row per field: group, description, unit, required, rule.
``lists``
    Hidden: the allowed codes behind the drop-downs.

Language: every instruction, unit, rule, check message and the example row's text come from
``evaluator/data/report_labels_<language>.toml`` (``en`` or ``ko``); the column ids in row 1, the
sheet names the loader reads (``applications``, ``production_schedule``, ``capex_schedule``) and the choice codes
are codes and stay as they are in both languages.
"""

from __future__ import annotations

import io
import math
from typing import Any, Iterable

import pandas as pd
from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from evaluator import xlsx_style as xs
from models.application import ESG_CATEGORIES, FIELDS, GRADE_UNITS, PERMITS, STAGES, YES_NO, Application, FieldSpec
from models.loader import CAPEX_COLUMNS, CAPEX_SHEET, SCHEDULE_COLUMNS, SCHEDULE_SHEET, is_capex_row

__all__ = ["build_template", "applications_workbook", "EXAMPLE_RECORD", "example_record", "units_label", "rule_text",
           "description"]

#: Rows of the applications sheet prepared with drop-downs and checks.
MAX_TEMPLATE_ROWS = 1000
HEADER_ROW, UNITS_ROW, FIRST_DATA_ROW = 1, 2, 3

#: The example row (an illustrative rare-earth project; delete it before submitting).
EXAMPLE_RECORD = {
    "id": "EXAMPLE-01", "name": "Example rare-earth mine (delete this row)", "company": "Example Co. (fictitious)",
    "country_iso3": "VNM", "region": "Lai Chau province", "mineral": "rare_earths", "stage": "feasibility",
    "korean_ownership_share": 0.49, "esg_category": "B", "esg_mitigation_plan": "yes", "permits_status": "applied",
    "source_note": "Illustrative example, not a real application",
    "ore_reserve_mt": 8.0, "head_grade": 2.5, "head_grade_unit": "%", "recovery": 0.70, "payability": 0.65,
    "throughput_mtpa": 0.5, "mine_life_years": 16, "ramp_up": "0.5;0.85", "production_schedule_ore_mt": "",
    "by_products": "", "ree_basket": "", "initial_capex_usd_m": 220.0, "construction_years": 2,
    "sustaining_capex_usd_m_per_year": 5.0, "opex_usd_per_t_ore": 70.0, "fixed_opex_usd_m_per_year": 12.0,
    "offsite_costs_share": 0.06, "closure_cost_usd_m": 15.0, "working_capital_share": 0.12,
    "royalty_rate": None, "income_tax_rate": None, "depreciation_years": None,
    "fund_request_krw_bn": 90.0, "loan_request_krw_bn": 30.0, "loan_tenor_years": 10, "loan_grace_years": 3,
    "total_project_cost_usd_m": 250.0, "korea_offtake_share": 0.70, "success_probability": None,
}

_UNIT_FOR_KIND = {"str": "text", "choice": "choose", "list": "list"}


def example_record(language: str = "en") -> dict:
    """:data:`EXAMPLE_RECORD` with its free text (name, company, region, note) in ``language``."""
    lab = xs.load_labels(language)
    return {**EXAMPLE_RECORD, "name": lab("template.example_name"), "company": lab("template.example_company"),
            "region": lab("template.example_region"), "source_note": lab("template.example_note")}


def units_label(f: FieldSpec, language: str = "en") -> str:
    """The units-row text, always in brackets (the loader skips a row whose id starts with '[')."""
    unit = f.unit or _UNIT_FOR_KIND.get(f.kind, "")
    if f.name == "id":
        unit = "text, unique"
    return f"[{xs.load_labels(language).get('unit', unit)}]"


def rule_text(f: FieldSpec, language: str = "en") -> str:
    """The validation rule of a field, in words (``language`` ``en`` or ``ko``)."""
    lab = xs.load_labels(language)
    parts = []
    if f.choices:
        parts.append(lab("template.rule_one_of", choices=", ".join(f.choices)))
    if f.kind in ("float", "int", "list") and (f.lo is not None or f.hi is not None):
        lo = "" if f.lo is None else (f"> {f.lo:g}" if f.lo_open else f">= {f.lo:g}")
        hi = "" if f.hi is None else f"<= {f.hi:g}"
        parts.append((lab("template.rule_each") if f.kind == "list" else "")
                     + lab("template.rule_and").join(p for p in (lo, hi) if p))
    for applies, key in ((f.kind == "int", "rule_whole"), (f.name == "country_iso3", "rule_country"),
                         (f.name == "mineral", "rule_mineral"), (f.kind == "list", "rule_list"),
                         (f.name == "success_probability", "rule_success"), (f.name == "id", "rule_unique")):
        if applies:
            parts.append(lab(f"template.{key}"))
    return "; ".join(parts)


def description(f: FieldSpec, language: str = "en") -> str:
    """The field's description in ``language`` (English: :attr:`FieldSpec.description` itself)."""
    return f.description if language == "en" else xs.load_labels(language).get("field", f.name, f.description)


def _reference_lists():
    from evaluator.reference import ReferenceDataError, load_reference

    try:
        ref = load_reference()
    except (ReferenceDataError, OSError):  # the template still builds; the two lists are then free text
        return [], []
    return sorted(ref.countries.index), list(ref.minerals.index)


def _record_of(app) -> dict:
    if isinstance(app, Application):
        return app.to_record()
    return dict(app)


def _workbook(language: str):
    """A new workbook with the template's styles and sheets, in order: (workbook, applications,
    production_schedule, capex_schedule, instructions)."""
    wb = Workbook()
    xs.ensure_styles(wb)
    ws = wb.active
    ws.title = "applications"
    return (wb, ws, wb.create_sheet(SCHEDULE_SHEET), wb.create_sheet(CAPEX_SHEET),
            wb.create_sheet(xs.load_labels(language)("template.instructions_sheet")))


def build_template(example: bool = True, applications: Iterable | None = None, language: str = "en") -> bytes:
    """The application workbook as ``.xlsx`` bytes.

    Parameters
    ----------
    example : bool, default True
        Add the :data:`EXAMPLE_RECORD` row (ignored when ``applications`` is given).
    applications : iterable of Application or of dict, optional
        Rows to write (dicts keyed by field name, e.g. ``Application.to_record()``); the result
        loads back to the same applications with :func:`models.loader.load_applications`.
    language : {'en', 'ko'}
        Language of the instructions, units, rules, check messages and the example row's text.

    Returns
    -------
    bytes
    """
    wb, ws, sched, capex, instr = _workbook(language)
    lists = wb.create_sheet("lists")

    # ---- applications: header, units, rows
    col_of = _write_header(ws, COLUMN_NAMES, language)

    if applications is not None:
        records = [_record_of(a) for a in applications]
    else:
        records = [example_record(language)] if example else []
    text_kinds = ("str", "choice", "list")
    for i, rec in enumerate(records, start=FIRST_DATA_ROW):
        for f in FIELDS:
            v = rec.get(f.name)
            if v is None or v == "" or (isinstance(v, float) and v != v):
                continue
            j = col_of[f.name]
            if f.kind in text_kinds:
                xs.put_text(ws, i, j, str(v), "Input")
            else:
                fmt = "0" if f.kind == "int" else ("0.00%" if f.unit == "fraction" else "#,##0.####")
                xs.put_value(ws, i, j, int(v) if f.kind == "int" else float(v), "Input", fmt)
    last_row = FIRST_DATA_ROW + max(MAX_TEMPLATE_ROWS, len(records)) - 1

    _text_format_blank_rows(ws, col_of, FIRST_DATA_ROW + len(records), last_row)

    _write_checks(ws, lists, col_of, last_row, language)
    _write_schedule_sheet(sched, language=language)
    _write_schedule_sheet(capex, CAPEX_COLUMNS, language, note="capex_note")
    _write_instructions(instr, language)

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _text_format_blank_rows(ws, col_of: dict[str, int], first_row: int, last_row: int) -> None:
    """Text columns stay text when typed (e.g. "0.5;0.85" or an id like "0012")."""
    for f in FIELDS:
        if f.kind in ("str", "list") and f.name in col_of:
            L = get_column_letter(col_of[f.name])
            for i in range(first_row, min(last_row, FIRST_DATA_ROW + 200) + 1):
                ws[f"{L}{i}"].number_format = "@"


def _write_header(ws, columns: list[str], language: str = "en") -> dict[str, int]:
    """Header row (field names), units row and widths; returns column index by name."""
    col_of = {}
    for j, name in enumerate(columns, start=1):
        col_of[name] = j
        f = FIELDS_BY_NAME.get(name)
        xs.put_text(ws, HEADER_ROW, j, name, "Header")
        xs.put_text(ws, UNITS_ROW, j, units_label(f, language) if f is not None else xs.load_labels(language)("template.schedule_other"), "Note")
        width = max(12, min(40, len(name) + 2))
        if name in ("name", "company", "source_note", "by_products", "ree_basket", "region"):
            width = 32
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.freeze_panes = ws.cell(row=FIRST_DATA_ROW, column=2)
    return col_of


def _write_checks(ws, lists, col_of: dict[str, int], last_row: int, language: str = "en") -> None:
    """The hidden ``lists`` sheet, the drop-downs that use it and the range checks."""
    lab = xs.load_labels(language)
    countries, minerals = _reference_lists()
    list_cols = {
        "country_iso3": countries, "mineral": minerals, "stage": list(STAGES), "esg_category": list(ESG_CATEGORIES),
        "esg_mitigation_plan": list(YES_NO), "permits_status": list(PERMITS), "head_grade_unit": list(GRADE_UNITS),
    }
    for j, (name, values) in enumerate(list_cols.items(), start=1):
        xs.put_text(lists, 1, j, name, "Header")
        for i, v in enumerate(values, start=2):
            xs.put_text(lists, i, j, v)
        lists.column_dimensions[get_column_letter(j)].width = 20
        if not values:
            continue
        L = get_column_letter(j)
        dv = DataValidation(type="list", formula1=f"lists!${L}$2:${L}${len(values) + 1}", allow_blank=True,
                            showErrorMessage=True, errorTitle=lab("template.list_error_title", name=name)[:32],
                            error=lab("template.list_error", name=name),
                            promptTitle=name, prompt=description(FIELDS_BY_NAME[name], language)[:250],
                            showInputMessage=True)
        if name not in col_of:
            continue
        TL = get_column_letter(col_of[name])
        dv.add(f"{TL}{FIRST_DATA_ROW}:{TL}{last_row}")
        ws.add_data_validation(dv)
    lists.sheet_state = "hidden"

    # ---- range checks on bounded numbers
    for f in FIELDS:
        if f.kind not in ("float", "int") or (f.lo is None and f.hi is None) or f.name not in col_of:
            continue
        typ = "whole" if f.kind == "int" else "decimal"
        if f.lo is not None and f.hi is not None:
            dv = DataValidation(type=typ, operator="between", formula1=repr(f.lo), formula2=repr(f.hi))
        elif f.lo is not None:
            dv = DataValidation(type=typ, operator="greaterThanOrEqual", formula1=repr(f.lo))
        else:
            dv = DataValidation(type=typ, operator="lessThanOrEqual", formula1=repr(f.hi))
        dv.allow_blank = True
        dv.showErrorMessage = True
        dv.errorTitle = lab("template.range_error_title", name=f.name)[:32]
        dv.error = lab("template.range_error", name=f.name, unit=lab.get("unit", f.unit),
                       rule=rule_text(f, language))[:250]
        TL = get_column_letter(col_of[f.name])
        dv.add(f"{TL}{FIRST_DATA_ROW}:{TL}{last_row}")
        ws.add_data_validation(dv)



#: The yearly sheets' columns and the label key of each one's units-row text (models.loader reads them back).
_SCHEDULE_UNITS = {"id": "schedule_id", "operating_year": "schedule_year", "ore_mt": "schedule_ore",
                   "grade": "schedule_grade", "model_year": "schedule_year", "capex_usd_m": "schedule_capex"}
#: Rows of the instructions' yearly-schedule block: sheet, column, label key of its description.
_YEARLY_ROWS = ((SCHEDULE_SHEET, "id", "yearly_id"), (SCHEDULE_SHEET, "operating_year", "yearly_operating_year"),
                (SCHEDULE_SHEET, "ore_mt", "yearly_ore"), (SCHEDULE_SHEET, "grade", "yearly_grade"),
                (CAPEX_SHEET, "id", "yearly_id"), (CAPEX_SHEET, "model_year", "yearly_model_year"),
                (CAPEX_SHEET, "capex_usd_m", "yearly_capex"))


def _write_schedule_sheet(sched, columns: Iterable[str] = SCHEDULE_COLUMNS, language: str = "en",
                          note: str = "schedule_note") -> None:
    """Header, units row and note of a yearly sheet (``production_schedule`` or ``capex_schedule``)."""
    lab = xs.load_labels(language)
    columns = list(columns)
    for j, h in enumerate(columns, start=1):
        xs.put_text(sched, 1, j, h, "Header")
        xs.put_text(sched, 2, j, lab("template." + _SCHEDULE_UNITS.get(h, "schedule_other")), "Note")
        sched.column_dimensions[get_column_letter(j)].width = 22
    xs.put_text(sched, 1, len(columns) + 2, lab(f"template.{note}"), "Note")
    sched.freeze_panes = "A3"


def _write_yearly_instructions(instr, first_row: int, language: str = "en") -> None:
    """The instructions' block on the two yearly sheets: one row per column, then the either-or rule."""
    lab = xs.load_labels(language)
    xs.put_text(instr, first_row, 1, lab("template.yearly_title"), "Header")
    for j, key in enumerate(("yearly_h_sheet", "h_field", "h_description", "h_unit"), start=1):
        xs.put_text(instr, first_row + 1, j, lab(f"template.{key}"), "Header")
    for i, (sheet, column, key) in enumerate(_YEARLY_ROWS, start=first_row + 2):
        row = (sheet, column, lab(f"template.{key}"), lab(f"template.{_SCHEDULE_UNITS[column]}"))
        for j, v in enumerate(row, start=1):
            xs.put_text(instr, i, j, v, "Value")
    xs.put_text(instr, first_row + 2 + len(_YEARLY_ROWS), 1, lab("template.yearly_once"), "Note")


def _write_instructions(instr, language: str = "en") -> None:
    """The instructions sheet: one row per field (printed landscape, header row repeated)."""
    lab = xs.load_labels(language)
    xs.put_text(instr, 1, 1, lab("template.title"), "Title")
    xs.put_text(instr, 2, 1, lab("template.note"), "Note")
    heads = ["h_field", "h_group", "h_description", "h_unit", "h_required", "h_rule"]
    for j, h in enumerate(heads, start=1):
        xs.put_text(instr, 4, j, lab(f"template.{h}"), "Header")
    for i, f in enumerate(FIELDS, start=5):
        row = (f.name, lab.get("group", f.group), description(f, language), lab.get("unit", f.unit),
               lab("template.yes") if f.required else lab("template.no"), rule_text(f, language))
        for j, v in enumerate(row, start=1):
            xs.put_text(instr, i, j, v, "Value")
    _write_yearly_instructions(instr, 5 + len(FIELDS) + 1, language)
    for j, w in enumerate((32, 12, 70, 14, 10, 60), start=1):
        instr.column_dimensions[get_column_letter(j)].width = w
    instr.freeze_panes = "A5"
    xs.print_setup(instr, title_rows="4:4", footer=lab("text.page_footer"))


FIELDS_BY_NAME = {f.name: f for f in FIELDS}
COLUMN_NAMES = [f.name for f in FIELDS]


def _put_raw(ws, row: int, col: int, value: Any, field: FieldSpec | None) -> None:
    """One cell of an edited table as entered: numbers as numbers, everything else as text.

    Text goes through :func:`evaluator.xlsx_style.put_text`, so ``=HYPERLINK(...)`` in a name is
    written as a quote-prefixed string, never a live formula. A non-finite number is written as
    its text (``inf``) so that the loader reports it instead of reading an empty cell.
    """
    if isinstance(value, float) and math.isinf(value):
        xs.put_text(ws, row, col, str(value), "Input")
        return
    value = xs.clean_value(value)
    if value is None or (isinstance(value, str) and value == ""):
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        fmt = None
        if field is not None and field.kind == "int":
            fmt = "0"
        elif field is not None and field.kind == "float":
            fmt = "0.00%" if field.unit == "fraction" else "#,##0.####"
        xs.put_value(ws, row, col, value, "Input", fmt)
    elif isinstance(value, bool):
        xs.put_value(ws, row, col, value, "Input")
    else:
        xs.put_text(ws, row, col, str(value), "Input")


def applications_workbook(raw: pd.DataFrame, schedule: pd.DataFrame | None = None, language: str = "en") -> bytes:
    """An edited applications table as ``.xlsx`` bytes in the template's format.

    The replacement of pandas' ``to_excel`` for the app's "save edited applications" button:
    that writer turns text starting with ``=`` into a live formula. Here every value is written
    as entered (numbers as numbers, text as quote-prefixed text when it looks like a formula),
    so :func:`models.loader.read_table` reads back the same table and
    :func:`models.loader.load_applications` the same applications.

    Parameters
    ----------
    raw : pandas.DataFrame
        One row per application, columns named by field (values as entered, any dtype); every
        template field gets a column (blank when ``raw`` lacks it), other columns follow.
    schedule : pandas.DataFrame, optional
        The long yearly table as :class:`models.loader.LoadResult` keeps it: rows of the
        ``production_schedule`` sheet (id, operating_year, ore_mt, grade) and of the
        ``capex_schedule`` sheet (id, model_year, capex_usd_m); each row goes back to its sheet
        (:func:`models.loader.is_capex_row`).
    language : {'en', 'ko'}
        Language of the instructions, units, rules and check messages.

    Returns
    -------
    bytes
        The workbook: ``applications`` (header, units row, rows, drop-downs and range checks),
        ``production_schedule``, ``capex_schedule``, ``instructions`` and the hidden ``lists`` sheet.
    """
    names = [str(c) for c in raw.columns]
    columns = COLUMN_NAMES + [c for c in names if c not in FIELDS_BY_NAME]
    wb, ws, sched, capex, instr = _workbook(language)
    lists = wb.create_sheet("lists")
    col_of = _write_header(ws, columns, language)
    for i, values in enumerate(raw.itertuples(index=False, name=None), start=FIRST_DATA_ROW):
        for name, value in zip(names, values):
            _put_raw(ws, i, col_of[name], value, FIELDS_BY_NAME.get(name))
    last_row = FIRST_DATA_ROW + max(MAX_TEMPLATE_ROWS, len(raw)) - 1
    _text_format_blank_rows(ws, col_of, FIRST_DATA_ROW + len(raw), last_row)
    _write_checks(ws, lists, col_of, last_row, language)

    _write_yearly_sheets(sched, capex, schedule, language)
    _write_instructions(instr, language)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _write_yearly_sheets(sched, capex, schedule: pd.DataFrame | None, language: str = "en") -> None:
    """The long yearly table written back to its two sheets, every value as entered.

    Rows of ``capex_schedule`` (:func:`models.loader.is_capex_row`) go to that sheet with its columns;
    every other row goes to ``production_schedule``, which also gets any column the template does not
    know (as before issue 16). A column the template does not know that a capex row fills is written
    on the capex sheet too.
    """
    names = [] if schedule is None else [str(c) for c in schedule.columns]
    extra = [c for c in names if c not in _SCHEDULE_UNITS]
    records = [] if schedule is None else [dict(zip(names, v)) for v in schedule.itertuples(index=False, name=None)]
    capex_rows = [r for r in records if is_capex_row(r)]
    prod_rows = [r for r in records if not is_capex_row(r)]
    capex_extra = [c for c in extra if any(xs.clean_value(r.get(c)) not in (None, "") for r in capex_rows)]
    for ws, columns, rows, note in ((sched, [*SCHEDULE_COLUMNS, *extra], prod_rows, "schedule_note"),
                                    (capex, [*CAPEX_COLUMNS, *capex_extra], capex_rows, "capex_note")):
        _write_schedule_sheet(ws, columns, language, note=note)
        for i, rec in enumerate(rows, start=FIRST_DATA_ROW):
            for j, name in enumerate(columns, start=1):
                if name in rec:
                    _put_raw(ws, i, j, rec[name], None)
