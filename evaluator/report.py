"""The committee's Excel report: a pure function from results to ``.xlsx`` bytes.

:func:`build_report` writes, in memory with openpyxl:

``Summary``
    Scenario, both budgets and their use, totals, date, tool version; charts of funding by
    country and by mineral and of China's share per mineral before/after.
``Ranking``
    Every application: score, rank, per-criterion contributions, eligibility and reasons, and
    the finance metrics (frozen header, autofilter, conditional formatting).
``Allocation``
    Fund and loan per project, coverage, expected loss; totals against the budgets (live
    formulas); binding constraints and marginal values.
``Supply``
    Per mineral: source shares and China's share before and after, and by year to the horizon
    against the single-supplier target.
``CF <id>``
    One sheet per funded project (or per ``cashflow_ids``): an inputs block (blue) and the whole
    cash-flow model as live formulas (black) ending in ``=NPV(r, Y1:Yn) + Y0`` and ``=IRR(...)``,
    which recompute to the app's numbers (checked by recalculating with LibreOffice in
    ``tests/test_report.py``).
``Decision``
    The committee's decision record, when one is given.
``Assumptions``
    Scenario values, every reference figure used (price, royalty, tax, country risk premium) with
    its source, and the raw sources with their dates (``evaluator/data/SOURCES.md``).

Notes
-----
Formulas hold references only, never typed numbers: every constant (tonnes per Mt, USD per
USD m, opening balances, the IRR guess) is a labelled blue input cell, so an auditor can see
and change it. Flags are written as comparisons (``(C$5>=$B$20)*(C$5<=$B$21)``), which both
Excel and LibreOffice turn into 1/0.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import CellIsRule, ColorScaleRule, FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from evaluator import xlsx_style as xs

__all__ = ["build_report", "cashflow_sheet_ids", "REPORT_SHEETS"]

#: Fixed sheets, in order (cash-flow sheets ``CF <id>`` follow ``Supply``).
REPORT_SHEETS = ("Summary", "Ranking", "Allocation", "Supply", "Decision", "Assumptions")
#: Number of projects given cash-flow sheets when nothing is funded and no ids are asked.
DEFAULT_TOP_N = 5
_FUND_TOL = 1e-9
_RED_FILL = PatternFill("solid", fgColor="F8CBAD")
_GREEN_FILL = PatternFill("solid", fgColor="C6EFCE")


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _col(j: int) -> str:
    return get_column_letter(j)


def _by_id(frame, what: str) -> pd.DataFrame | None:
    """A frame indexed by application id (from an ``id`` column or the index)."""
    if frame is None:
        return None
    df = pd.DataFrame(frame).copy()
    if "id" in df.columns:
        df["id"] = df["id"].astype(str)
        df = df.set_index("id")
    df.index = df.index.astype(str)
    df.index.name = "id"
    return df


def _funded(allocation: pd.DataFrame | None) -> pd.DataFrame | None:
    if allocation is None or allocation.empty:
        return None
    a = allocation.copy()
    for c in ("fund_krw_bn", "loan_krw_bn"):
        if c not in a.columns:
            a[c] = 0.0
        a[c] = pd.to_numeric(a[c], errors="coerce").fillna(0.0)
    a["support_krw_bn"] = a["fund_krw_bn"] + a["loan_krw_bn"]
    return a


def cashflow_sheet_ids(evaluation, allocation=None, cashflow_ids=None, top_n: int = DEFAULT_TOP_N) -> list[str]:
    """Which projects get a cash-flow sheet: ``cashflow_ids`` as given (unknown ids dropped),
    else the funded ones, else the ``top_n`` by NPV."""
    known = list(evaluation.cashflows.ids)
    if cashflow_ids is not None:
        seen, out = set(), []
        for i in cashflow_ids:
            i = str(i)
            if i in known and i not in seen:
                seen.add(i)
                out.append(i)
        return out
    a = _funded(_by_id(allocation, "allocation"))
    if a is not None:
        ids = [i for i in a.index[a["support_krw_bn"] > _FUND_TOL] if i in known]
        if ids:
            return ids
    npv = evaluation.metrics["npv_usd_m"].astype(float).fillna(-np.inf)
    return [str(i) for i in npv.sort_values(ascending=False, kind="stable").index[:top_n]]


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


# ----------------------------------------------------------------------------------------------
# Cash-flow sheet (live formulas)
# ----------------------------------------------------------------------------------------------
def _byproduct_coef(inputs, i: int) -> float:
    rows = np.asarray(inputs.byproduct_rows, dtype=int)
    if rows.size == 0:
        return 0.0
    return float(np.asarray(inputs.byproduct_coef_usd_per_t_ore)[rows == i].sum())


def _write_cashflow_sheet(ws, evaluation, scenario, app_id: str) -> dict:
    """The cash-flow model of one project as live formulas; returns the cells of NPV and IRR."""
    inp = evaluation.inputs
    cf = evaluation.cashflows
    i = cf.index_of(app_id)
    app = evaluation.applications[i]
    m = evaluation.metrics.loc[app_id]
    frame = cf.frame(app_id)
    n = len(frame)
    fp = int(cf.first_production_index[i])
    lp = int(cf.last_production_index[i])
    src = inp.sources.loc[app_id] if inp.sources is not None and app_id in inp.sources.index else {}

    _title(ws, f"Cash flow: {app_id} - {app.name}")
    xs.put_text(ws, 2, 1, "Inputs in blue (change them and the sheet recomputes), formulas in black. "
                "Real USD m; flows at the end of each period; period 0 = valuation date "
                "(start of model year 1); costs shown positive and subtracted.", "Note")
    xs.put_text(ws, 4, 1, "Inputs", "Subtitle")
    xs.put_text(ws, 4, 2, "Value", "Header")
    xs.put_text(ws, 4, 3, "Source", "Header")

    mid_year = bool(getattr(scenario, "mid_year", False))
    rate = float(m["discount_rate"])
    irr_py = float(m["irr"]) if pd.notna(m["irr"]) else np.nan
    scalars = [
        ("grade", "Head grade [fraction of ore, grade basis]", float(inp.grade_fraction[i]), xs.FMT_FACTOR, "applicant"),
        ("rec", "Metallurgical recovery [fraction]", float(inp.recovery[i]), xs.FMT_PCT, "applicant"),
        ("pay", "Payability [fraction]", float(inp.payability[i]), xs.FMT_PCT, "applicant"),
        ("pf", "Product factor [t product / t grade basis]", float(inp.product_factor[i]), xs.FMT_FACTOR, "minerals.csv product_factor"),
        ("price", "Price [USD/t product]", float(inp.price_usd_per_t[i]), xs.FMT_PRICE, src.get("price_source", "scenario price deck")),
        ("bycoef", "By-product credit [USD/t ore, gross]", _byproduct_coef(inp, i), xs.FMT_MONEY2, "applicant by-products x price deck"),
        ("offsite", "Offsite costs share (TC/RC, freight) [fraction of gross revenue]", float(inp.offsite_costs_share[i]), xs.FMT_PCT, "applicant"),
        ("roy", "Royalty rate [fraction of net revenue]", float(inp.royalty_rate[i]), xs.FMT_PCT2, src.get("royalty_source", "")),
        ("opex", "Variable opex [USD/t ore]", float(inp.opex_usd_per_t_ore[i]), xs.FMT_MONEY2, "applicant"),
        ("fixed", "Fixed opex [USD m/yr]", float(inp.fixed_opex_usd_m_per_year[i]), xs.FMT_MONEY2, "applicant"),
        ("sust", "Sustaining capex [USD m/yr]", float(inp.sustaining_capex_usd_m_per_year[i]), xs.FMT_MONEY2, "applicant"),
        ("closure", "Closure cost [USD m]", float(inp.closure_cost_usd_m[i]), xs.FMT_MONEY2, "applicant"),
        ("wcs", "Working capital [fraction of net revenue]", float(inp.working_capital_share[i]), xs.FMT_PCT, "applicant"),
        ("tax", "Income tax rate [fraction]", float(inp.income_tax_rate[i]), xs.FMT_PCT2, src.get("income_tax_source", "")),
        ("dep", "Tax depreciation period [yr, straight line]", int(inp.depreciation_years[i]), "0", src.get("depreciation_source", "")),
        ("offtake", "Korean offtake [fraction of product]", float(inp.korea_offtake_share[i]), xs.FMT_PCT, "applicant"),
        ("r", "Discount rate [fraction, real]", rate, xs.FMT_PCT2,
         f"scenario {scenario.discount_rate:.2%} + country risk premium {float(m['risk_premium']):.2%}"),
        ("fp", "First production period [index]", fp, "0", "construction years + 1"),
        ("lp", "Last operating period [index]", lp, "0", "construction years + operating years"),
        ("clp", "Closure period [index]", lp + 1, "0", "the year after the last operating year"),
        ("tpm", "Tonnes per million tonnes [t/Mt]", 1_000_000, xs.FMT_INT, "unit conversion"),
        ("usdm", "USD per USD million [USD/USD m]", 1_000_000, xs.FMT_INT, "unit conversion"),
        ("wc0", "Working capital at valuation date [USD m]", 0.0, xs.FMT_MONEY2, "model: none"),
        ("lbf", "Tax losses brought forward [USD m]", 0.0, xs.FMT_MONEY2, "model: none"),
        ("t0", "Cumulative taxed income at valuation date [USD m]", 0.0, xs.FMT_MONEY2, "model: none"),
        ("guess", "IRR search start [fraction]", float(irr_py) if np.isfinite(irr_py) else 0.1, xs.FMT_PCT2,
         "the app's IRR, so the spreadsheet finds the same root"),
    ]
    if mid_year:
        scalars.append(("uplift", "Mid-year discounting uplift [(1+r)^0.5]", (1.0 + rate) ** 0.5, xs.FMT_FACTOR,
                        "scenario mid_year = true"))
    ref: dict[str, str] = {}
    r = 5
    for key, label, value, fmt, source in scalars:
        xs.put_text(ws, r, 1, label, "Label")
        xs.put_value(ws, r, 2, value, "Input", fmt)
        xs.put_text(ws, r, 3, source, "Note")
        ref[key] = f"$B${r}"
        r += 1

    # ---- timeline
    r += 1
    first_c, last_c = 3, 3 + n - 1
    C0, CL = _col(first_c), _col(last_c)
    per_row = r
    xs.put_text(ws, r, 1, "Period [index]", "Header")
    xs.put_text(ws, r, 2, "Total / opening", "Header")
    for k in range(n):
        c = ws.cell(row=r, column=first_c + k, value=int(frame["period"].iloc[k]))
        c.style = "Header"
    r += 1
    xs.put_text(ws, r, 1, "Calendar year [year end]", "Label")
    for k in range(n):
        ws.cell(row=r, column=first_c + k, value=int(frame["year"].iloc[k])).number_format = "0"
    r += 1

    rows: dict[str, int] = {}
    per = lambda L: f"{L}${per_row}"  # noqa: E731
    periods_rng = f"${C0}${per_row}:${CL}${per_row}"

    def input_row(key, label, values, fmt, total=True):
        nonlocal r
        rows[key] = r
        xs.put_text(ws, r, 1, label, "Label")
        for k, v in enumerate(values):
            xs.put_value(ws, r, first_c + k, float(v), "Input", fmt)
        if total:
            c = ws.cell(row=r, column=2, value=f"=SUM({C0}{r}:{CL}{r})")
            c.style = "Calc"
            c.number_format = fmt
        r += 1

    def formula_row(key, label, make, fmt=xs.FMT_MONEY2, style="Calc", opening=None):
        """``make(L, P)`` -> formula text for column letter L (P = previous column or None)."""
        nonlocal r
        rows[key] = r
        xs.put_text(ws, r, 1, label, "Label" if style != "Total" else "Total")
        if opening is not None:
            c = ws.cell(row=r, column=2, value=opening)
            c.style = "Calc"
            c.number_format = fmt
        for k in range(n):
            L = _col(first_c + k)
            P = _col(first_c + k - 1)
            c = ws.cell(row=r, column=first_c + k, value="=" + make(L, P, k))
            c.style = style
            c.number_format = fmt
        r += 1

    R = lambda key, L: f"{L}{rows[key]}"  # noqa: E731
    input_row("ore", "Ore processed [Mt] (model schedule)", frame["ore_mt"], xs.FMT_MT)
    input_row("init", "Initial capex [USD m] (spread over construction)", frame["initial_capex_usd_m"], xs.FMT_MONEY2)
    r += 1
    xs.put_text(ws, r, 1, "Cash flow (formulas)", "Subtitle")
    r += 1
    formula_row("flag", "Operating flag [1 = producing]", lambda L, P, k: f"({per(L)}>={ref['fp']})*({per(L)}<={ref['lp']})", "0")
    formula_row("product", "Product [t]", lambda L, P, k: f"{R('ore', L)}*{ref['tpm']}*{ref['grade']}*{ref['rec']}*{ref['pf']}", xs.FMT_TONNES)
    formula_row("payable", "Payable product [t]", lambda L, P, k: f"{R('product', L)}*{ref['pay']}", xs.FMT_TONNES)
    formula_row("offt", "Korean offtake [t]", lambda L, P, k: f"{R('product', L)}*{ref['offtake']}", xs.FMT_TONNES)
    formula_row("prim", "Primary product revenue, gross [USD m]", lambda L, P, k: f"{R('payable', L)}*{ref['price']}/{ref['usdm']}")
    formula_row("byp", "By-product revenue, gross [USD m]", lambda L, P, k: f"{R('ore', L)}*{ref['tpm']}*{ref['bycoef']}/{ref['usdm']}")
    formula_row("gross", "Gross revenue [USD m]", lambda L, P, k: f"{R('prim', L)}+{R('byp', L)}")
    formula_row("offs", "Offsite costs [USD m]", lambda L, P, k: f"{R('gross', L)}*{ref['offsite']}")
    formula_row("rev", "Net revenue [USD m]", lambda L, P, k: f"{R('gross', L)}-{R('offs', L)}", style="Total")
    formula_row("roy", "Royalty [USD m]", lambda L, P, k: f"{R('rev', L)}*{ref['roy']}")
    formula_row("opex", "Operating cost [USD m]", lambda L, P, k: f"{R('ore', L)}*{ref['tpm']}*{ref['opex']}/{ref['usdm']}+{R('flag', L)}*{ref['fixed']}")
    formula_row("ebitda", "EBITDA [USD m]", lambda L, P, k: f"{R('rev', L)}-{R('roy', L)}-{R('opex', L)}", style="Total")
    formula_row("sust", "Sustaining capex [USD m]", lambda L, P, k: f"{R('flag', L)}*{ref['sust']}")
    init_total = f"$B${rows['init']}"
    formula_row("add", "Depreciable additions [USD m] (initial capex in service at first production + sustaining)",
                lambda L, P, k: f"{R('sust', L)}+({per(L)}={ref['fp']})*{init_total}")
    formula_row("cumadd", "Cumulative depreciable additions [USD m]", lambda L, P, k: f"SUM(${C0}{rows['add']}:{L}{rows['add']})")
    add_rng = f"${C0}${rows['add']}:${CL}${rows['add']}"
    formula_row("sl", "Straight-line tax depreciation [USD m]",
                lambda L, P, k: f"SUMPRODUCT(({periods_rng}>{per(L)}-{ref['dep']})*({periods_rng}<={per(L)})*{add_rng})/{ref['dep']}*({per(L)}<={ref['lp']})")
    formula_row("wo", "Write-off of remaining book value in the last operating year [USD m]",
                lambda L, P, k: f"({per(L)}={ref['lp']})*({R('cumadd', L)}-SUM(${C0}{rows['sl']}:{L}{rows['sl']}))")
    formula_row("dep", "Tax depreciation [USD m]", lambda L, P, k: f"{R('sl', L)}+{R('wo', L)}")
    formula_row("tpre", "Taxable income before losses [USD m]", lambda L, P, k: f"({R('ebitda', L)}-{R('dep', L)})*({per(L)}<={ref['lp']})")
    formula_row("cum", "Cumulative taxable income before losses [USD m] (net of losses brought forward)",
                lambda L, P, k: f"SUM(${C0}{rows['tpre']}:{L}{rows['tpre']})-{ref['lbf']}")
    t_row = r  # the next row: cumulative taxed income, opening value in column B
    formula_row("taxed", "Cumulative taxed income [USD m] (losses carried forward: running maximum)",
                lambda L, P, k: f"MAX({P}{t_row},{R('cum', L)})", opening=f"={ref['t0']}")
    formula_row("taxable", "Taxable income after losses [USD m]", lambda L, P, k: f"{R('taxed', L)}-{P}{rows['taxed']}")
    formula_row("taxpaid", "Income tax [USD m]", lambda L, P, k: f"{R('taxable', L)}*{ref['tax']}")
    formula_row("closure", "Closure cost [USD m]", lambda L, P, k: f"({per(L)}={ref['clp']})*{ref['closure']}")
    wc_row = r
    formula_row("wc", "Working capital [USD m]", lambda L, P, k: f"{R('rev', L)}*{ref['wcs']}", opening=f"={ref['wc0']}")
    formula_row("dwc", "Change in working capital [USD m]", lambda L, P, k: f"{L}{wc_row}-{P}{wc_row}")
    formula_row("fcf", "Free cash flow, unlevered after tax [USD m]",
                lambda L, P, k: f"{R('ebitda', L)}-{R('taxpaid', L)}-{R('init', L)}-{R('sust', L)}-{R('closure', L)}-{R('dwc', L)}",
                style="Total")
    formula_row("cfads", "Cash flow available for debt service [USD m]",
                lambda L, P, k: f"{R('ebitda', L)}-{R('taxpaid', L)}-{R('sust', L)}-{R('dwc', L)}")

    # ---- results
    r += 1
    xs.put_text(ws, r, 1, "Results", "Subtitle")
    xs.put_text(ws, r, 2, "Formula", "Header")
    xs.put_text(ws, r, 3, "App", "Header")
    xs.put_text(ws, r, 4, "Difference", "Header")
    r += 1
    f = rows["fcf"]
    C1 = _col(first_c + 1)
    if n > 1:
        disc = f"NPV({ref['r']},{C1}{f}:{CL}{f})"
        if mid_year:
            disc += f"*{ref['uplift']}"
        npv_formula = f"={disc}+{C0}{f}"
    else:
        npv_formula = f"={C0}{f}"
    npv_row = r
    xs.put_text(ws, r, 1, "NPV at the discount rate [USD m]", "Total")
    c = ws.cell(row=r, column=2, value=npv_formula)
    c.style, c.number_format = "Total", xs.FMT_MONEY2
    xs.put_value(ws, r, 3, float(m["npv_usd_m"]), "Note", xs.FMT_MONEY2)
    c = ws.cell(row=r, column=4, value=f"=B{r}-C{r}")
    c.style, c.number_format = "Calc", "0.00E+00"
    r += 1
    irr_row = r
    xs.put_text(ws, r, 1, "IRR, real [fraction]", "Total")
    c = ws.cell(row=r, column=2, value=f'=IFERROR(IRR({C0}{f}:{CL}{f},{ref["guess"]}),"n/a")')
    c.style, c.number_format = "Total", xs.FMT_PCT2
    xs.put_value(ws, r, 3, irr_py if np.isfinite(irr_py) else str(m.get("irr_note", "n/a")), "Note", xs.FMT_PCT2)
    if np.isfinite(irr_py):
        c = ws.cell(row=r, column=4, value=f"=IFERROR(B{r}-C{r},\"n/a\")")
        c.style, c.number_format = "Calc", "0.00E+00"
    r += 1
    xs.put_text(ws, r, 1, "Total free cash flow, undiscounted [USD m]", "Label")
    c = ws.cell(row=r, column=2, value=f"=SUM({C0}{f}:{CL}{f})")
    c.style, c.number_format = "Calc", xs.FMT_MONEY2
    r += 1
    xs.put_text(ws, r, 1, "Convention: =NPV(r, Y1:Yn) + Y0 (period 0 undiscounted), as numpy-financial npv.", "Note")

    ws.freeze_panes = ws.cell(row=per_row + 1, column=first_c)
    ws.column_dimensions["A"].width = 58
    ws.column_dimensions["B"].width = 16
    for k in range(n):
        ws.column_dimensions[_col(first_c + k)].width = 11
    ws.column_dimensions["C"].width = max(ws.column_dimensions["C"].width or 11, 12)
    return {"npv": f"B{npv_row}", "irr": f"B{irr_row}", "fcf_row": f, "first_col": C0, "last_col": CL}


# ----------------------------------------------------------------------------------------------
# Ranking
# ----------------------------------------------------------------------------------------------
_RANK_METRICS = ["npv_usd_m", "irr", "payback_years", "profitability_index", "min_dscr", "llcr",
                 "discount_rate", "support_request_krw_bn", "coverage_share", "aisc_usd_per_t",
                 "first_production_year", "korea_offtake_t_per_year"]


def _ranking_frame(evaluation, scores: pd.DataFrame | None) -> pd.DataFrame:
    m = evaluation.metrics
    apps = {a.id: a for a in evaluation.applications}
    base = pd.DataFrame({
        "id": list(m.index.astype(str)),
        "name": m["name"].to_numpy(),
        "company": [apps[i].company for i in m.index],
        "country_iso3": m["country_iso3"].to_numpy(),
        "mineral": m["mineral"].to_numpy(),
        "stage": m["stage"].to_numpy(),
    }).set_index("id")
    if scores is not None:
        s = scores.copy()
        front = [c for c in ("rank", "score") if c in s.columns]
        contrib = [c for c in s.columns if str(c).startswith("contrib")]
        tail = [c for c in ("eligible", "ineligible_reasons", "expected_loss_krw_bn", "china_share_after") if c in s.columns]
        other = [c for c in s.columns if c not in front + contrib + tail and c not in base.columns and c not in m.columns]
        s = s[front + contrib + tail + other]
        if "ineligible_reasons" in s.columns:
            s["ineligible_reasons"] = s["ineligible_reasons"].map(
                lambda v: "; ".join(map(str, v)) if isinstance(v, (list, tuple, set, np.ndarray)) else ("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)))
        out = base.join(s, how="left")
    else:
        out = base
    out = out.join(m[[c for c in _RANK_METRICS if c in m.columns]], how="left")
    if "rank" in out.columns:
        out = out.sort_values("rank", kind="stable", na_position="last")
    else:
        out = out.sort_values("npv_usd_m", ascending=False, kind="stable", na_position="last")
    out = out.reset_index()
    cols = list(out.columns)
    if "rank" in cols:
        cols.remove("rank")
        cols = ["rank"] + cols
    return out[cols]


def _write_ranking(ws, evaluation, scores, comfort_dscr: float) -> None:
    df = _ranking_frame(evaluation, scores)
    top = 3
    _title(ws, "Ranking of all applications",
           "Sorted by rank" if scores is not None else "Scoring not run: sorted by NPV [USD m]")
    xs.put_text(ws, 1, 3, "Lenders' min DSCR comfort [x]:", "Note")
    xs.put_value(ws, 1, 4, comfort_dscr, "Input", xs.FMT_RATIO)
    last_row, last_col = xs.write_table(ws, top, 1, df)
    ws.freeze_panes = ws.cell(row=top + 1, column=3)
    ws.auto_filter.ref = f"A{top}:{_col(last_col)}{max(last_row, top + 1)}"
    cols = list(df.columns)
    if len(df):
        first = top + 1
        for key in ("score", "npv_usd_m"):
            if key in cols:
                L = _col(cols.index(key) + 1)
                ws.conditional_formatting.add(f"{L}{first}:{L}{last_row}", ColorScaleRule(
                    start_type="min", start_color="F8696B", mid_type="percentile", mid_value=50,
                    mid_color="FFEB84", end_type="max", end_color="63BE7B"))
        if "eligible" in cols:
            L = _col(cols.index("eligible") + 1)
            ws.conditional_formatting.add(f"A{first}:{_col(last_col)}{last_row}",
                                          FormulaRule(formula=[f"${L}{first}=FALSE"], fill=_RED_FILL))
        if "irr" in cols and "discount_rate" in cols:
            Li, Ld = _col(cols.index("irr") + 1), _col(cols.index("discount_rate") + 1)
            ws.conditional_formatting.add(f"{Li}{first}:{Li}{last_row}",
                                          FormulaRule(formula=[f"AND(ISNUMBER({Li}{first}),{Li}{first}<{Ld}{first})"],
                                                      font=Font(color="C00000")))
        if "min_dscr" in cols:
            L = _col(cols.index("min_dscr") + 1)
            ws.conditional_formatting.add(f"{L}{first}:{L}{last_row}",
                                          FormulaRule(formula=[f"AND(ISNUMBER({L}{first}),{L}{first}<$D$1)"], font=Font(color="C00000")))
    widths = {"id": 14, "name": 34, "company": 26, "ineligible_reasons": 40}
    for j, ccol in enumerate(cols, start=1):
        ws.column_dimensions[_col(j)].width = widths.get(ccol, 13)


# ----------------------------------------------------------------------------------------------
# Allocation
# ----------------------------------------------------------------------------------------------
def _summary_get(summary, key, default=None):
    if summary is None:
        return default
    if isinstance(summary, Mapping):
        return summary.get(key, default)
    return getattr(summary, key, default)


def _write_allocation(ws, evaluation, scenario, allocation, summary) -> dict:
    _title(ws, "Allocation of the fund and the policy loans [KRW bn]")
    a = _funded(allocation)
    m = evaluation.metrics
    info = {"fund_used": None, "loan_used": None}
    if a is None:
        xs.put_text(ws, 3, 1, "Allocation not run: no amounts to show. Requests per project are on the Ranking sheet.", "Note")
        r = 5
    else:
        df = pd.DataFrame(index=a.index)
        df["name"] = m["name"].reindex(a.index)
        df["country_iso3"] = m["country_iso3"].reindex(a.index)
        df["mineral"] = m["mineral"].reindex(a.index)
        df["fund_request_krw_bn"] = m["fund_request_krw_bn"].reindex(a.index)
        df["loan_request_krw_bn"] = m["loan_request_krw_bn"].reindex(a.index)
        df["fund_krw_bn"] = a["fund_krw_bn"]
        df["loan_krw_bn"] = a["loan_krw_bn"]
        df["project_cost_krw_bn"] = m["project_cost_krw_bn"].reindex(a.index)
        if "coverage_share" in a.columns:
            df["coverage_share"] = a["coverage_share"]
        if "expected_loss_krw_bn" in a.columns:
            df["expected_loss_krw_bn"] = a["expected_loss_krw_bn"]
        for extra in a.columns:
            if extra not in df.columns and extra not in ("support_krw_bn",):
                df[extra] = a[extra]
        df = df.reset_index()
        top = 3
        cols = list(df.columns) + ["support_krw_bn"]
        if "coverage_share" not in df.columns:
            cols.append("coverage_share")
        for j, name in enumerate(cols, start=1):
            xs.put_text(ws, top, j, name, "Header")
        fmts = [xs.format_for_column(c) for c in cols]
        L = {c: _col(j) for j, c in enumerate(cols, start=1)}
        for i, row in enumerate(df.itertuples(index=False, name=None), start=top + 1):
            for j, v in enumerate(row, start=1):
                xs.put_value(ws, i, j, v, "Input" if cols[j - 1] in ("fund_krw_bn", "loan_krw_bn") else "Value", fmts[j - 1])
            c = ws.cell(row=i, column=cols.index("support_krw_bn") + 1, value=f"={L['fund_krw_bn']}{i}+{L['loan_krw_bn']}{i}")
            c.style, c.number_format = "Calc", xs.FMT_MONEY
            if "coverage_share" not in df.columns:
                c = ws.cell(row=i, column=cols.index("coverage_share") + 1,
                            value=f"=IFERROR({L['support_krw_bn']}{i}/{L['project_cost_krw_bn']}{i},\"n/a\")")
                c.style, c.number_format = "Calc", xs.FMT_PCT
        last = top + len(df)
        ws.freeze_panes = ws.cell(row=top + 1, column=2)
        if len(df):
            ws.auto_filter.ref = f"A{top}:{_col(len(cols))}{last}"
        r = last + 1
        xs.put_text(ws, r, 1, "Total [KRW bn]", "Total")
        for key in ("fund_request_krw_bn", "loan_request_krw_bn", "fund_krw_bn", "loan_krw_bn", "support_krw_bn",
                    "expected_loss_krw_bn"):
            if key in L:
                c = ws.cell(row=r, column=cols.index(key) + 1, value=f"=SUM({L[key]}{top + 1}:{L[key]}{max(last, top + 1)})")
                c.style, c.number_format = "Total", xs.FMT_MONEY
        tot_row = r
        r += 2
        xs.put_text(ws, r, 1, "Budgets", "Subtitle")
        for j, h in enumerate(["Budget [KRW bn]", "Allocated [KRW bn]", "Remaining [KRW bn]", "Used [fraction]"], start=2):
            xs.put_text(ws, r, j, h, "Header")
        r += 1
        for label, budget, key in (("Fund", scenario.fund_krw_bn, "fund_krw_bn"), ("Policy loans", scenario.loan_krw_bn, "loan_krw_bn")):
            xs.put_text(ws, r, 1, f"{label} [KRW bn]", "Label")
            xs.put_value(ws, r, 2, float(budget), "Input", xs.FMT_MONEY)
            c = ws.cell(row=r, column=3, value=f"={L[key]}{tot_row}")
            c.style, c.number_format = "Calc", xs.FMT_MONEY
            c = ws.cell(row=r, column=4, value=f"=B{r}-C{r}")
            c.style, c.number_format = "Calc", xs.FMT_MONEY
            c = ws.cell(row=r, column=5, value=f"=IFERROR(C{r}/B{r},\"n/a\")")
            c.style, c.number_format = "Calc", xs.FMT_PCT
            r += 1
        xs.put_text(ws, r, 1, "Coverage cap [fraction of project cost]", "Label")
        xs.put_value(ws, r, 2, float(scenario.coverage_cap_share), "Input", xs.FMT_PCT)
        if len(df):  # coverage above the cap in red
            Lc = L["coverage_share"]
            ws.conditional_formatting.add(f"{Lc}{top + 1}:{Lc}{last}", CellIsRule(
                operator="greaterThan", formula=[f"$B${r}"], fill=_RED_FILL))
        r += 1
        info = {"fund_used": float(a["fund_krw_bn"].sum()), "loan_used": float(a["loan_krw_bn"].sum())}
        for j, ccol in enumerate(cols, start=1):
            ws.column_dimensions[_col(j)].width = {"name": 32, "id": 14}.get(ccol, 14)
        ws.column_dimensions["A"].width = 34
    # solver diagnostics
    r += 1
    xs.put_text(ws, r, 1, "Solver", "Subtitle")
    r += 1
    status = _summary_get(summary, "status")
    items = [("Objective", _summary_get(summary, "objective"), "#,##0.000"),
             ("Status", status if status is not None else "not run", None),
             ("Proven optimal", _summary_get(summary, "optimal"), None),
             ("MIP gap [fraction]", _summary_get(summary, "mip_gap"), "0.00E+00"),
             ("Solve time [s]", _summary_get(summary, "solve_time_s"), "0.000")]
    r = _kv(ws, r, items)
    r += 1
    xs.put_text(ws, r, 1, "Binding constraints", "Subtitle")
    r += 1
    binding = _summary_get(summary, "binding") or []
    if not binding:
        xs.put_text(ws, r, 1, "none reported", "Note")
        r += 1
    for b in binding:
        xs.put_text(ws, r, 1, str(b), "Value")
        r += 1
    r += 1
    xs.put_text(ws, r, 1, "Marginal value of one more unit [objective per KRW bn]", "Subtitle")
    r += 1
    mv = _summary_get(summary, "marginal_values") or _summary_get(summary, "marginal_value_per_krw_bn") or {}
    if not mv:
        xs.put_text(ws, r, 1, "none reported", "Note")
    for k, v in dict(mv).items():
        xs.put_text(ws, r, 1, str(k), "Label")
        xs.put_value(ws, r, 2, v, "Value", "#,##0.0000")
        r += 1
    return info


# ----------------------------------------------------------------------------------------------
# Supply
# ----------------------------------------------------------------------------------------------
def _baseline_supply(evaluation, ref) -> pd.DataFrame:
    from evaluator import reference as refmod

    rows = []
    for mineral in sorted(set(evaluation.metrics["mineral"])):
        try:
            s = refmod.import_shares(ref, mineral)
        except Exception:  # no trade data: say so rather than fail the report
            continue
        top = s.index[0] if len(s) else ""
        rows.append({"mineral": mineral, "china_share_before": float(s.get("CHN", 0.0)),
                     "top_supplier": top, "top_supplier_share": float(s.iloc[0]) if len(s) else np.nan,
                     "hhi_before": float((s ** 2).sum())})
    return pd.DataFrame(rows)


def _write_source_shares(ws, r: int, evaluation, ref, top_k: int = 5) -> int:
    """Korea's import sources per mineral (latest trade year, before any project) [fraction]."""
    from evaluator import reference as refmod

    rows = []
    for mineral in sorted(set(evaluation.metrics["mineral"])):
        try:
            s = refmod.import_shares(ref, mineral)
        except Exception:  # noqa: BLE001 - a mineral without trade data is skipped
            continue
        for rank, (partner, share) in enumerate(s.iloc[:top_k].items(), start=1):
            rows.append({"mineral": mineral, "source_rank": rank, "partner_iso3": partner, "share_before": float(share)})
        if len(s) > top_k:
            rows.append({"mineral": mineral, "source_rank": top_k + 1, "partner_iso3": "others",
                         "share_before": float(s.iloc[top_k:].sum())})
    if not rows:
        return r
    xs.put_text(ws, r, 1, f"Source shares of Korea's imports, latest trade year, top {top_k} [fraction]", "Subtitle")
    r += 1
    last, _ = xs.write_table(ws, r, 1, pd.DataFrame(rows), formats={"source_rank": "0"})
    return last + 2


def _write_supply(ws, evaluation, scenario, supply, supply_by_year, ref) -> dict:
    target = float(scenario.target_single_supplier_share)
    _title(ws, "Supply diversification: Korea's imports per mineral",
           f"Target: at most {target:.0%} from any single supplier by {scenario.target_year}")
    xs.put_text(ws, 3, 1, "Single-supplier target [fraction]", "Label")
    xs.put_value(ws, 3, 2, target, "Input", xs.FMT_PCT)
    r = 5
    info: dict = {}
    if supply is None:
        xs.put_text(ws, r, 1, "Supply analysis not run: baseline import shares from the bundled trade data "
                    "(evaluator/data/korea_imports.csv); 'after' needs the portfolio effect.", "Note")
        r += 1
        table = _baseline_supply(evaluation, ref) if ref is not None else pd.DataFrame()
    else:
        table = pd.DataFrame(supply).copy()
        if "mineral" not in table.columns:
            table = table.reset_index().rename(columns={"index": "mineral"})
    if len(table):
        top = r
        last, lastc = xs.write_table(ws, top, 1, table)
        cols = list(table.columns)
        for key in ("china_share_before", "china_share_after"):
            if key in cols:
                L = _col(cols.index(key) + 1)
                ws.conditional_formatting.add(f"{L}{top + 1}:{L}{last}", CellIsRule(operator="greaterThan", formula=["$B$3"], fill=_RED_FILL))
                ws.conditional_formatting.add(f"{L}{top + 1}:{L}{last}", CellIsRule(operator="lessThanOrEqual", formula=["$B$3"], fill=_GREEN_FILL))
        info["table"] = (top, last, cols)
        r = last + 2
    if ref is not None:
        r = _write_source_shares(ws, r, evaluation, ref)
    if supply_by_year is not None and len(supply_by_year):
        sby = pd.DataFrame(supply_by_year).copy()
        if "year" in sby.columns:
            sby = sby[sby["year"] <= scenario.horizon_year]
        value_col = next((c for c in ("china_share_after", "china_share", "top_supplier_share_after") if c in sby.columns), None)
        xs.put_text(ws, r, 1, f"China share of Korea's imports by year [fraction] ({value_col or 'n/a'})", "Subtitle")
        r += 1
        if value_col and {"mineral", "year"} <= set(sby.columns):
            piv = sby.pivot_table(index="mineral", columns="year", values=value_col, aggfunc="first")
            piv.columns = [int(c) for c in piv.columns]
            ptop = r
            xs.put_text(ws, r, 1, "mineral", "Header")
            for j, y in enumerate(piv.columns, start=2):
                c = ws.cell(row=r, column=j, value=int(y))
                c.style = "Header"
            for i, (mineral, vals) in enumerate(piv.iterrows(), start=r + 1):
                xs.put_text(ws, i, 1, mineral, "Label")
                for j, v in enumerate(vals.to_numpy(), start=2):
                    xs.put_value(ws, i, j, v, "Value", xs.FMT_PCT)
            tr = r + len(piv) + 1
            xs.put_text(ws, tr, 1, "target", "Label")
            for j in range(2, len(piv.columns) + 2):
                c = ws.cell(row=tr, column=j, value="=$B$3")
                c.style, c.number_format = "Calc", xs.FMT_PCT
            rng = f"B{ptop + 1}:{_col(len(piv.columns) + 1)}{ptop + len(piv)}"
            ws.conditional_formatting.add(rng, CellIsRule(operator="greaterThan", formula=["$B$3"], fill=_RED_FILL))
            ws.conditional_formatting.add(rng, CellIsRule(operator="lessThanOrEqual", formula=["$B$3"], fill=_GREEN_FILL))
            ch = LineChart()
            ch.title = "China share by year vs target"
            ch.y_axis.title = "share of imports"
            ch.y_axis.number_format = "0%"
            data = Reference(ws, min_col=1, max_col=len(piv.columns) + 1, min_row=ptop + 1, max_row=tr)
            ch.add_data(data, from_rows=True, titles_from_data=True)
            ch.set_categories(Reference(ws, min_col=2, max_col=len(piv.columns) + 1, min_row=ptop, max_row=ptop))
            ch.height, ch.width = 8, 18
            ws.add_chart(ch, f"A{tr + 2}")
            r = tr + 20
            rest = [c for c in sby.columns if c not in ("mineral", "year", value_col)]
            if rest:
                xs.put_text(ws, r, 1, "Detail by year", "Subtitle")
                r += 1
                r, _ = xs.write_table(ws, r, 1, sby)
        else:
            r, _ = xs.write_table(ws, r, 1, sby)
    ws.column_dimensions["A"].width = 22
    for j in range(2, 16):
        ws.column_dimensions[_col(j)].width = 14
    return info


# ----------------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------------
def _write_summary(ws, evaluation, scenario, scores, alloc, alloc_info, supply_table, generated_at, cf_ids, version):
    _title(ws, "Overseas critical-mineral projects: evaluation report",
           "Figures recompute from the formulas on the CF sheets; inputs blue, formulas black.")
    m = evaluation.metrics
    r = 4
    xs.put_text(ws, r, 1, "Report", "Subtitle")
    r += 1
    r = _kv(ws, r, [
        ("Scenario", scenario.name, None),
        ("Generated [UTC]", generated_at, xs.FMT_DATE),
        ("Tool version", version, None),
        ("Price case", scenario.price_case, None),
        ("FX [KRW per USD]", scenario.fx_krw_per_usd, "#,##0.0"),
        ("Base real discount rate [fraction]", scenario.discount_rate, xs.FMT_PCT),
        ("Country risk premium added", bool(scenario.add_country_risk_premium), None),
        ("Coverage cap [fraction of project cost]", scenario.coverage_cap_share, xs.FMT_PCT),
        ("Write-off share on failed exploration [fraction]", scenario.write_off_share, xs.FMT_PCT),
    ])
    r += 1
    xs.put_text(ws, r, 1, "Budgets [KRW bn]", "Subtitle")
    for j, h in enumerate(["Budget", "Allocated", "Remaining", "Used [fraction]"], start=2):
        xs.put_text(ws, r, j, h, "Header")
    r += 1
    for label, budget, used in (("Fund", scenario.fund_krw_bn, alloc_info.get("fund_used")),
                                ("Policy loans", scenario.loan_krw_bn, alloc_info.get("loan_used"))):
        xs.put_text(ws, r, 1, f"{label} [KRW bn]", "Label")
        xs.put_value(ws, r, 2, float(budget), "Input", xs.FMT_MONEY)
        if used is not None:
            xs.put_value(ws, r, 3, used, "Value", xs.FMT_MONEY)
            c = ws.cell(row=r, column=4, value=f"=B{r}-C{r}")
            c.style, c.number_format = "Calc", xs.FMT_MONEY
            c = ws.cell(row=r, column=5, value=f"=IFERROR(C{r}/B{r},\"n/a\")")
            c.style, c.number_format = "Calc", xs.FMT_PCT
        else:
            xs.put_text(ws, r, 3, "not allocated", "Note")
        r += 1
    r += 1
    xs.put_text(ws, r, 1, "Totals", "Subtitle")
    r += 1
    n_apps = len(m)
    eligible = int(pd.Series(scores["eligible"]).astype(bool).sum()) if scores is not None and "eligible" in scores.columns else None
    funded_ids = list(alloc.index[alloc["support_krw_bn"] > _FUND_TOL]) if alloc is not None else []
    npv_f = float(m.loc[[i for i in funded_ids if i in m.index], "npv_usd_m"].sum()) if funded_ids else None
    r = _kv(ws, r, [
        ("Applications evaluated", n_apps, "0"),
        ("Eligible", eligible if eligible is not None else "scoring not run", "0"),
        ("Funded", len(funded_ids) if alloc is not None else "allocation not run", "0"),
        ("Support requested [KRW bn]", float(m["support_request_krw_bn"].sum()), xs.FMT_MONEY),
        ("NPV of funded projects [USD m]", npv_f, xs.FMT_MONEY),
        ("Cash-flow sheets", ", ".join(cf_ids) if cf_ids else "none", None),
    ])
    ws.column_dimensions["A"].width = 46
    for L in "BCDE":
        ws.column_dimensions[L].width = 16

    # chart data beside the summary
    col0 = 8
    if alloc is not None and funded_ids:
        base = alloc.loc[funded_ids, ["fund_krw_bn", "loan_krw_bn"]].copy()
        label = "allocated"
    else:
        base = m[["fund_request_krw_bn", "loan_request_krw_bn"]].rename(
            columns={"fund_request_krw_bn": "fund_krw_bn", "loan_request_krw_bn": "loan_krw_bn"})
        label = "requested (not allocated)"
    base = base.join(m[["country_iso3", "mineral"]], how="left")
    row = 4
    anchors = []
    for key, title in (("country_iso3", "country"), ("mineral", "mineral")):
        g = base.groupby(key)[["fund_krw_bn", "loan_krw_bn"]].sum().sort_values("fund_krw_bn", ascending=False)
        g = g.reset_index()
        xs.put_text(ws, row, col0, f"Funding by {title}, {label} [KRW bn]", "Subtitle")
        last, _ = xs.write_table(ws, row + 1, col0, g)
        if len(g):
            ch = BarChart()
            ch.type = "col"
            ch.grouping = "stacked"
            ch.overlap = 100
            ch.title = f"Funding by {title} [KRW bn]"
            data = Reference(ws, min_col=col0 + 1, max_col=col0 + 2, min_row=row + 1, max_row=last)
            ch.add_data(data, titles_from_data=True)
            ch.set_categories(Reference(ws, min_col=col0, min_row=row + 2, max_row=last))
            ch.height, ch.width = 7, 14
            anchors.append(ch)
        row = last + 3
    if supply_table is not None and len(supply_table) and "china_share_before" in supply_table.columns:
        cols = ["mineral", "china_share_before"] + (["china_share_after"] if "china_share_after" in supply_table.columns else [])
        t = supply_table[cols]
        xs.put_text(ws, row, col0, "China share of Korea's imports [fraction]", "Subtitle")
        last, _ = xs.write_table(ws, row + 1, col0, t)
        ch = BarChart()
        ch.type = "bar"
        ch.title = "China share per mineral, before / after"
        ch.x_axis.number_format = "0%"
        data = Reference(ws, min_col=col0 + 1, max_col=col0 + len(cols) - 1, min_row=row + 1, max_row=last)
        ch.add_data(data, titles_from_data=True)
        ch.set_categories(Reference(ws, min_col=col0, min_row=row + 2, max_row=last))
        ch.height, ch.width = 8, 14
        anchors.append(ch)
        row = last + 3
    for j in range(col0, col0 + 3):
        ws.column_dimensions[_col(j)].width = 16
    chart_row = max(r + 2, 4)
    for k, ch in enumerate(anchors):
        ws.add_chart(ch, f"{_col(col0 + 4)}{4 + 16 * k}")
    return chart_row


# ----------------------------------------------------------------------------------------------
# Decision and assumptions
# ----------------------------------------------------------------------------------------------
def _write_decision(ws, decision: Mapping) -> None:
    _title(ws, "Decision record")
    xs.put_text(ws, 3, 1, "Item", "Header")
    xs.put_text(ws, 3, 2, "Record", "Header")
    r = 4
    for k, v in decision.items():
        xs.put_text(ws, r, 1, str(k), "Label")
        if isinstance(v, Mapping):
            v = "; ".join(f"{a}: {b}" for a, b in v.items())
        elif isinstance(v, (list, tuple, set)):
            v = "; ".join(map(str, v))
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            xs.put_value(ws, r, 2, v, "Value")
        else:
            xs.put_text(ws, r, 2, "" if v is None else str(v), "Value")
        r += 1
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 90


_SOURCES_ROW = re.compile(r"^\|\s*([A-Z]+)\s*\|(.+)\|\s*([^|]+)\|\s*([^|]+)\|\s*$")


def _raw_sources(data_dir: Path) -> pd.DataFrame:
    """The raw-sources table (id, source, date, licence) of ``SOURCES.md``."""
    p = Path(data_dir) / "SOURCES.md"
    rows = []
    try:
        for line in p.read_text(encoding="utf-8").splitlines():
            mt = _SOURCES_ROW.match(line.strip())
            if mt and mt.group(1) != "id":
                rows.append({"id": mt.group(1), "source": mt.group(2).strip(), "date": mt.group(3).strip(),
                             "licence": mt.group(4).strip()})
    except OSError:
        pass
    return pd.DataFrame(rows, columns=["id", "source", "date", "licence"])


def _write_assumptions(ws, evaluation, scenario, ref) -> None:
    _title(ws, "Assumptions and sources", "Every reference figure used, with its source; scenario values as set by the officer.")
    r = 4
    xs.put_text(ws, r, 1, "Scenario", "Subtitle")
    r += 1
    sc = scenario.to_dict()
    for k, v in sc.items():
        xs.put_text(ws, r, 1, k, "Label")
        if isinstance(v, Mapping):
            v = "; ".join(f"{a} = {b:g}" if isinstance(b, (int, float)) else f"{a} = {b}" for a, b in v.items()) or "(none)"
        elif isinstance(v, (list, tuple)):
            v = ", ".join(map(str, v)) or "(none)"
        xs.put_value(ws, r, 2, v, "Input", xs.format_for_column(k) if isinstance(v, (int, float)) and not isinstance(v, bool) else None)
        r += 1
    r += 1
    apps = evaluation.applications
    minerals = sorted({a.mineral for a in apps} | {b.mineral for a in apps for b in a.by_products})
    countries = sorted({a.country_iso3 for a in apps})
    if ref is not None:
        xs.put_text(ws, r, 1, "Price deck [USD/t product, real]", "Subtitle")
        r += 1
        mt = ref.minerals.reindex(minerals)
        cols = [c for c in ("product", "price_base_usd_per_t", "price_low_usd_per_t", "price_high_usd_per_t",
                            "price_source", "price_assumption") if c in mt.columns]
        t = mt[cols].reset_index().rename(columns={"index": "mineral"})
        if scenario.price_overrides_usd_per_t:
            t["scenario_override_usd_per_t"] = t["mineral"].map(dict(scenario.price_overrides_usd_per_t))
        r, _ = xs.write_table(ws, r, 1, t)
        r += 2
        if "rare_earths" in minerals:
            xs.put_text(ws, r, 1, "Rare-earth oxide prices [USD/t oxide, real]", "Subtitle")
            r += 1
            o = ref.ree_oxides.reset_index()
            o = o[[c for c in ("oxide", "price_base_usd_per_t", "price_low_usd_per_t", "price_high_usd_per_t",
                               "default_basket_share", "source", "assumption") if c in o.columns]]
            r, _ = xs.write_table(ws, r, 1, o)
            r += 2
        from evaluator import reference as refmod

        xs.put_text(ws, r, 1, "Royalties [fraction of revenue] applied (country, mineral)", "Subtitle")
        r += 1
        roy = []
        for c, mn in sorted({(a.country_iso3, a.mineral) for a in apps}):
            try:
                row = refmod.royalty_row(ref, c, mn)
            except Exception:
                continue
            roy.append({"country_iso3": c, "mineral": mn, "table_row": f"{row['iso3']}/{row['mineral']}",
                        "royalty_rate": float(row["royalty_rate"]), "basis": row.get("basis", ""),
                        "source": row.get("source", ""), "assumption": bool(row.get("assumption", False))})
        r, _ = xs.write_table(ws, r, 1, pd.DataFrame(roy))
        r += 2
        xs.put_text(ws, r, 1, "Income tax and country risk premium per host country", "Subtitle")
        r += 1
        ct = ref.countries.reindex(countries)
        tax = []
        for c in countries:
            tax.append({"country_iso3": c, "name": ct.at[c, "name"] if "name" in ct.columns else "",
                        "income_tax_rate": refmod.income_tax_rate(ref, c),
                        "income_tax_source": ct.at[c, "income_tax_source"] if "income_tax_source" in ct.columns else "",
                        "crp": ct.at[c, "crp"] if "crp" in ct.columns else np.nan,
                        "crp_source": ct.at[c, "crp_source"] if "crp_source" in ct.columns else "",
                        "oecd_crc": ct.at[c, "oecd_crc"] if "oecd_crc" in ct.columns else np.nan})
        r, _ = xs.write_table(ws, r, 1, pd.DataFrame(tax), formats={"crp": xs.FMT_PCT2, "oecd_crc": "0"})
        r += 2
        xs.put_text(ws, r, 1, "Mineral-specific tax regimes (tax_overrides.csv)", "Subtitle")
        r += 1
        to = ref.tax_overrides
        to = to[(to.iso3.isin(countries + ["*"]))]
        r, _ = xs.write_table(ws, r, 1, to.reset_index(drop=True))
        r += 2
    xs.put_text(ws, r, 1, "Resolved inputs per project and where each came from", "Subtitle")
    r += 1
    src = evaluation.inputs.sources
    if src is not None and len(src):
        r, _ = xs.write_table(ws, r, 1, src.reset_index())
        r += 2
    xs.put_text(ws, r, 1, "Raw sources (evaluator/data/SOURCES.md)", "Subtitle")
    r += 1
    from evaluator import reference as refmod

    data_dir = getattr(ref, "data_dir", None) or refmod.DATA_DIR
    r, _ = xs.write_table(ws, r, 1, _raw_sources(data_dir))
    ws.column_dimensions["A"].width = 34
    for L in "BCDEFGHI":
        ws.column_dimensions[L].width = 18


# ----------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------
def build_report(evaluation, scenario, *, scores=None, allocation=None, allocation_summary=None, supply=None,
                 supply_by_year=None, cashflow_ids=None, decision=None, generated_at=None, ref=None,
                 top_n: int = DEFAULT_TOP_N) -> bytes:
    """Build the committee workbook and return it as ``.xlsx`` bytes (nothing touches disk).

    Parameters
    ----------
    evaluation : evaluator.evaluate.Evaluation
        Cash flows and metrics of every application.
    scenario : models.scenario.Scenario
    scores : pandas.DataFrame, optional
        From ``evaluator.pipeline.run``: index or column ``id``; columns ``score`` [0-100],
        ``rank``, ``contrib_*`` [score points], ``eligible`` [bool], ``ineligible_reasons``
        (text or list), ``expected_loss_krw_bn``, ``china_share_after`` [fraction]; any other
        column is shown too.
    allocation : pandas.DataFrame, optional
        Index or column ``id``; ``fund_krw_bn``, ``loan_krw_bn`` [KRW bn]; optional
        ``coverage_share`` [fraction], ``expected_loss_krw_bn``, ``selected``. Projects with a
        positive amount count as funded.
    allocation_summary : mapping or AllocationResult, optional
        ``objective``, ``status``, ``optimal``, ``mip_gap``, ``solve_time_s``, ``binding``
        (list of str), ``marginal_values`` or ``marginal_value_per_krw_bn`` (name -> value per
        KRW bn), as ``evaluator.portfolio.PortfolioAllocation.summary``.
    supply : pandas.DataFrame, optional
        One row per mineral: ``mineral``, ``china_share_before``, ``china_share_after``
        [fraction], and any further measures (``hhi_before``, ``top_supplier``...). Without it
        the Supply sheet shows the baseline from the bundled trade data.
    supply_by_year : pandas.DataFrame, optional
        Long table ``mineral``, ``year``, ``china_share_after`` (or ``china_share``) [fraction];
        shown as a mineral x year grid to ``scenario.horizon_year`` against the target.
    cashflow_ids : sequence of str, optional
        Projects given a live cash-flow sheet; default the funded ones, else the ``top_n`` by NPV.
    decision : mapping, optional
        The committee's decision record (item -> text), written to a ``Decision`` sheet.
    generated_at : datetime, optional
        Timestamp shown on the Summary (default: now, UTC); pass one for reproducible bytes.
    ref : evaluator.reference.ReferenceData, optional
        Reference tables for the Assumptions sheet (default: the bundled ones).

    Returns
    -------
    bytes
        The ``.xlsx`` file.
    """
    import evaluator

    if ref is None:
        try:
            from evaluator.reference import load_reference

            ref = load_reference()
        except Exception:  # the report still builds without the Assumptions' reference tables
            ref = None
    if generated_at is None:
        generated_at = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    elif getattr(generated_at, "tzinfo", None) is not None:
        generated_at = generated_at.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    scores_df = _by_id(scores, "scores")
    alloc_df = _funded(_by_id(allocation, "allocation"))
    cf_ids = cashflow_sheet_ids(evaluation, alloc_df, cashflow_ids, top_n)

    wb = Workbook()
    xs.ensure_styles(wb)
    titles: list[str] = []

    def new_sheet(name):
        t = xs.safe_sheet_title(name, titles)
        titles.append(t)
        if len(titles) == 1:
            ws = wb.active
            ws.title = t
        else:
            ws = wb.create_sheet(t)
        return ws

    ws_sum = new_sheet("Summary")
    ws_rank = new_sheet("Ranking")
    ws_alloc = new_sheet("Allocation")
    ws_sup = new_sheet("Supply")
    _write_ranking(ws_rank, evaluation, scores_df, scenario.lender_min_dscr)
    alloc_info = _write_allocation(ws_alloc, evaluation, scenario, alloc_df, allocation_summary)
    _write_supply(ws_sup, evaluation, scenario, supply, supply_by_year, ref)
    supply_table = pd.DataFrame(supply) if supply is not None else (_baseline_supply(evaluation, ref) if ref is not None else None)
    if supply_table is not None and len(supply_table) and "mineral" not in supply_table.columns:
        supply_table = supply_table.reset_index().rename(columns={"index": "mineral"})
    for app_id in cf_ids:
        ws = new_sheet(f"CF {app_id}")
        _write_cashflow_sheet(ws, evaluation, scenario, app_id)
    if decision:
        _write_decision(new_sheet("Decision"), decision)
    _write_assumptions(new_sheet("Assumptions"), evaluation, scenario, ref)
    _write_summary(ws_sum, evaluation, scenario, scores_df, alloc_df, alloc_info, supply_table, generated_at,
                   cf_ids, evaluator.__version__)
    ws_sum.sheet_properties.tabColor = "1F3864"
    for t in titles:
        if t.startswith("CF "):
            wb[t].sheet_properties.tabColor = "A9D08E"
    wb.calculation.fullCalcOnLoad = True  # Excel recomputes every formula when it opens the file
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def build_pipeline_report(result, scenario, *, ref=None, cashflow_ids=None, decision=None, generated_at=None,
                          top_n: int = DEFAULT_TOP_N) -> bytes:
    """The committee workbook of one :class:`evaluator.pipeline.PipelineResult`.

    The one mapping from the pipeline's result to the workbook: the app's Report page and the
    ``report`` command both call it, so the same inputs give the same numbers. The ranking
    carries the simulated P10 NPV and P(NPV < 0) when the simulation has run.
    """
    kw = {}
    if result.allocation is not None:
        kw = dict(allocation=result.allocation.table, allocation_summary=result.summary.as_record(),
                  supply=result.supply.effect.reset_index() if not result.supply.effect.empty else None,
                  supply_by_year=result.supply.by_year)
    return build_report(result.evaluation, scenario, scores=result.ranking, cashflow_ids=cashflow_ids,
                        decision=decision, generated_at=generated_at, ref=ref, top_n=top_n, **kw)
