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
    Optional yearly ore table: ``id``, ``operating_year`` (1, 2, ...), ``ore_mt`` [Mt].
``instructions``
    One row per field: group, description, unit, required, rule.
``lists``
    Hidden: the allowed codes behind the drop-downs.
"""

from __future__ import annotations

import io
from typing import Iterable

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from evaluator import xlsx_style as xs
from models.application import (ESG_CATEGORIES, FIELDS, GRADE_UNITS, PERMITS, STAGES, YES_NO, Application,
                                FieldSpec)

__all__ = ["build_template", "EXAMPLE_RECORD", "units_label", "rule_text"]

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


def units_label(f: FieldSpec) -> str:
    """The units-row text, always in brackets (the loader skips a row whose id starts with '[')."""
    unit = f.unit or _UNIT_FOR_KIND.get(f.kind, "")
    if f.name == "id":
        unit = "text, unique"
    return f"[{unit}]"


def rule_text(f: FieldSpec) -> str:
    """The validation rule of a field, in words."""
    parts = []
    if f.choices:
        parts.append("one of: " + ", ".join(f.choices))
    if f.kind in ("float", "int", "list") and (f.lo is not None or f.hi is not None):
        lo = "" if f.lo is None else (f"> {f.lo:g}" if f.lo_open else f">= {f.lo:g}")
        hi = "" if f.hi is None else f"<= {f.hi:g}"
        parts.append(("each value " if f.kind == "list" else "") + " and ".join(p for p in (lo, hi) if p))
    if f.kind == "int":
        parts.append("whole number")
    if f.name == "country_iso3":
        parts.append("ISO 3166 alpha-3 code from the drop-down (lists sheet)")
    if f.name == "mineral":
        parts.append("mineral key from the drop-down (evaluator/data/minerals.csv)")
    if f.kind == "list":
        parts.append("numbers separated by ';'")
    if f.name == "success_probability":
        parts.append("required for exploration-stage loans")
    if f.name == "id":
        parts.append("unique in the file")
    return "; ".join(parts)


def _reference_lists():
    try:
        from evaluator.reference import load_reference

        ref = load_reference()
        return sorted(ref.countries.index), list(ref.minerals.index)
    except Exception:  # the template still builds; the two lists are then free text
        return [], []


def _record_of(app) -> dict:
    if isinstance(app, Application):
        return app.to_record()
    return dict(app)


def build_template(example: bool = True, applications: Iterable | None = None) -> bytes:
    """The application workbook as ``.xlsx`` bytes.

    Parameters
    ----------
    example : bool, default True
        Add the :data:`EXAMPLE_RECORD` row (ignored when ``applications`` is given).
    applications : iterable of Application or of dict, optional
        Rows to write (dicts keyed by field name, e.g. ``Application.to_record()``); the result
        loads back to the same applications with :func:`models.loader.load_applications`.

    Returns
    -------
    bytes
    """
    countries, minerals = _reference_lists()
    wb = Workbook()
    xs.ensure_styles(wb)
    ws = wb.active
    ws.title = "applications"
    sched = wb.create_sheet("production_schedule")
    instr = wb.create_sheet("instructions")
    lists = wb.create_sheet("lists")

    # ---- applications: header, units, rows
    col_of = {}
    for j, f in enumerate(FIELDS, start=1):
        col_of[f.name] = j
        xs.put_text(ws, HEADER_ROW, j, f.name, "Header")
        xs.put_text(ws, UNITS_ROW, j, units_label(f), "Note")
        width = max(12, min(40, len(f.name) + 2))
        if f.name in ("name", "company", "source_note", "by_products", "ree_basket", "region"):
            width = 32
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.freeze_panes = ws.cell(row=FIRST_DATA_ROW, column=2)

    if applications is not None:
        records = [_record_of(a) for a in applications]
    else:
        records = [dict(EXAMPLE_RECORD)] if example else []
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

    # text columns stay text when typed (e.g. "0.5;0.85" or an id like "0012")
    for f in FIELDS:
        if f.kind in ("str", "list"):
            L = get_column_letter(col_of[f.name])
            for i in range(FIRST_DATA_ROW + len(records), min(last_row, FIRST_DATA_ROW + 200) + 1):
                ws[f"{L}{i}"].number_format = "@"

    # ---- hidden lists
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
                            showErrorMessage=True, errorTitle=f"{name}: not in the list",
                            error=f"Choose a value of '{name}' from the drop-down (lists sheet).",
                            promptTitle=name, prompt=FIELDS_BY_NAME[name].description[:250], showInputMessage=True)
        TL = get_column_letter(col_of[name])
        dv.add(f"{TL}{FIRST_DATA_ROW}:{TL}{last_row}")
        ws.add_data_validation(dv)
    lists.sheet_state = "hidden"

    # ---- range checks on bounded numbers
    for f in FIELDS:
        if f.kind not in ("float", "int") or (f.lo is None and f.hi is None):
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
        dv.errorTitle = f"{f.name}: out of range"
        dv.error = f"{f.name} [{f.unit}]: {rule_text(f)}"[:250]
        TL = get_column_letter(col_of[f.name])
        dv.add(f"{TL}{FIRST_DATA_ROW}:{TL}{last_row}")
        ws.add_data_validation(dv)

    # ---- production schedule
    for j, (h, u) in enumerate((("id", "[text: application id]"), ("operating_year", "[1, 2, 3, ...]"), ("ore_mt", "[Mt]")), start=1):
        xs.put_text(sched, 1, j, h, "Header")
        xs.put_text(sched, 2, j, u, "Note")
        sched.column_dimensions[get_column_letter(j)].width = 22
    xs.put_text(sched, 1, 5, "Optional. One row per operating year; replaces throughput x ramp-up for that id "
                "(mine life = number of rows). Years must run 1, 2, 3, ... without gaps.", "Note")
    sched.freeze_panes = "A3"

    # ---- instructions
    xs.put_text(instr, 1, 1, "How to fill in the application workbook", "Title")
    xs.put_text(instr, 2, 1, "One row per project on the 'applications' sheet, from row 3 (row 2 gives the units). "
                "Shares are fractions (0.70 = 70%). Money: USD m for project figures, KRW bn for support asked.", "Note")
    heads = ["field", "group", "description", "unit", "required", "rule"]
    for j, h in enumerate(heads, start=1):
        xs.put_text(instr, 4, j, h, "Header")
    for i, f in enumerate(FIELDS, start=5):
        for j, v in enumerate((f.name, f.group, f.description, f.unit, "yes" if f.required else "no", rule_text(f)), start=1):
            xs.put_text(instr, i, j, v, "Value")
    for j, w in enumerate((32, 12, 70, 14, 10, 60), start=1):
        instr.column_dimensions[get_column_letter(j)].width = w
    instr.freeze_panes = "A5"

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


FIELDS_BY_NAME = {f.name: f for f in FIELDS}
