"""The committee's Excel report (the committee pack): a pure function from results to ``.xlsx`` bytes.

:func:`build_report` (and :func:`build_pipeline_report`, its mapping from a
:class:`evaluator.pipeline.PipelineResult`) writes, in memory with openpyxl, in English or
Korean (``language``; every label, header, sheet name and note from
``evaluator/data/report_labels_<language>.toml``):

``Summary`` (one printed page)
    The decision asked for, the recorded decision, budgets and their use, the portfolio funded,
    China's share of Korea's imports against the target per mineral (before, after, in the
    target year, and the probability of meeting it when the portfolio risk was simulated), key
    risks (loan expected loss, the simulated loan-book loss and P95 and P(fund NPV < 0) when the
    portfolio risk was given, P(NPV < 0) and P10 NPV when the simulation ran, binding
    constraints, solver status).
``P <id>`` (one printed page each)
    Every funded or contested project (:func:`project_page_ids`): figures, country risk,
    diversification effect, score by criterion, simulation percentiles, the tornado
    (:func:`evaluator.uncertainty.tornado`) and the reconciliation with the applicant's study
    (:func:`study_reconciliation`, a hook until applications carry study figures).
``Ranking``
    Every application in words with units (rank, eligibility and its reasons, funding, score by
    criterion, NPV beside P10 NPV and P(NPV < 0), ...), the recorded decision; exact values in the
    cells, number formats round for reading.
``Allocation``
    Fund and loan per project, coverage, expected loss; totals against the budgets (live
    formulas); binding constraints and marginal values, in words.
``Portfolio risk`` (when ``portfolio_risk`` is given; two printed pages)
    The joint simulation of the funded portfolio (:class:`evaluator.uncertainty.PortfolioRisk`):
    loan-book loss (expected, P95, P99, ES99, P(above threshold)) and fund NPV (P10, P50, P90,
    P(loss)); the loss by year; P(China's share at or below the target) per mineral by year to
    2035; each project's risk contribution; the loss histogram and the S-curves, with charts.
``Supply``
    Per mineral: China's and the top supplier's share before and after, sources, and China's
    share by year to the horizon against the single-supplier target.
``CF <id>``
    One sheet per funded project (or per ``cashflow_ids``): an inputs block (blue) and the whole
    cash-flow model as live formulas (black) ending in ``=NPV(r, Y1:Yn) + Y0`` and ``=IRR(...)``,
    which recompute to the app's numbers (checked by recalculating with LibreOffice in
    ``tests/test_report.py``). A project with features the flat formulas cannot express (a
    fiscal regime's royalty basis, depreciation or loss rules, depletion, a tax credit, a capital
    schedule, a price path: :func:`extended_features_of`) gets the model's lines as values
    (marked ``*``) and formulas only where they stay exact, and recomputes to the same numbers.
``Assumptions``
    Scenario values, every reference figure used (price, royalty, tax, country risk premium) with
    its source, the fiscal-regime rows the applications use (:func:`fiscal_regimes_used`: law,
    source, date), and the raw sources with their dates (``evaluator/data/SOURCES.md``).
``Decision``
    The committee's decision record, when one is given.

Every sheet prints A4 landscape, one page wide, with its header row repeated (the sample
applications print as 33 pages, 35 with the portfolio risk; ``tests/test_report_pdf.py``).

Notes
-----
Formulas hold references only, never typed numbers: every constant (tonnes per Mt, USD per
USD m, opening balances, the IRR guess) is a labelled blue input cell, so an auditor can see
and change it. Flags are written as comparisons (``(C$5>=$B$20)*(C$5<=$B$21)``), which both
Excel and LibreOffice turn into 1/0. What the engine says (binding constraints, screening
reasons, allocation notes, input sources) comes as :class:`evaluator.messages.Message` codes and is
worded by the one message catalogue in the report's language; no engine text is parsed.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import CellIsRule, ColorScaleRule, DataBarRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break

from evaluator import memo, messages
from evaluator import xlsx_style as xs

__all__ = ["build_report", "build_pipeline_report", "cashflow_sheet_ids", "project_page_ids", "study_reconciliation",
           "REPORT_SHEETS", "STUDY_FIELDS"]

#: Fixed sheets of the English report, in order (project pages ``P <id>`` follow the Summary, cash-flow
#: sheets ``CF <id>`` follow ``Supply``; Korean names in ``report_labels_ko.toml`` [sheet]).
REPORT_SHEETS = ("Summary", "Ranking", "Allocation", "Supply", "Assumptions", "Decision")
#: Number of projects given cash-flow sheets when nothing is funded and no ids are asked.
DEFAULT_TOP_N = 5
_FUND_TOL = 1e-9
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



# ----------------------------------------------------------------------------------------------
# Cash-flow sheet (live formulas)
# ----------------------------------------------------------------------------------------------
def _byproduct_coef(inputs, i: int) -> float:
    rows = np.asarray(inputs.byproduct_rows, dtype=int)
    if rows.size == 0:
        return 0.0
    return float(np.asarray(inputs.byproduct_coef_usd_per_t_ore)[rows == i].sum())


def extended_features_of(evaluation, app_id: str) -> list[str]:
    """The model features of ``app_id`` the cash-flow sheet's flat formulas cannot reproduce
    (:func:`evaluator.cashflow.extended_features`: capital or grade schedule, price path, royalty
    basis, depreciation method, loss limits, depletion, tax credit); empty when none."""
    from evaluator.cashflow import extended_features

    text = extended_features(evaluation.inputs)[evaluation.cashflows.index_of(app_id)]
    return [f for f in text.split("; ") if f]


def _features_text(features: list[str], lab: xs.Labels) -> str:
    return "; ".join(lab.get("feature", f) for f in features)


def _price_by_period(inp, i: int, n: int) -> np.ndarray:
    """Product price of project ``i`` in each model period [USD/t product]: the flat price times
    the scenario's price path factor (1 without a path)."""
    from evaluator.cashflow import fit_columns

    price = np.full(n, float(inp.price_usd_per_t[i]))
    if inp.price_factor is not None:
        price = price * fit_columns(np.asarray(inp.price_factor)[i:i + 1], n)[0]
    return price


def _write_cashflow_sheet(ws, evaluation, scenario, app_id: str, lab: xs.Labels | None = None) -> dict:
    """The cash-flow model of one project as live formulas; returns the cells of NPV and IRR.

    A project with model features the flat formulas cannot reproduce
    (:func:`extended_features_of`: a fiscal regime's royalty basis, depreciation or loss rules,
    a capital schedule, a price path...) gets the model's lines as values instead: inputs in blue
    (ore, capital, closure, price by year), the lines the law computes as values marked ``*``,
    and formulas only where they stay exact (revenue, EBITDA, working capital, free cash flow,
    the sums, NPV and IRR), so that the sheet recomputes to the model's NPV and IRR.
    """
    lab = lab or xs.load_labels("en")
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
    features = extended_features_of(evaluation, app_id)

    _title(ws, lab("text.cf_title", id=app_id, name=app.name))
    xs.put_text(ws, 2, 1, lab("text.cf_note"), "Note")
    xs.put_text(ws, 4, 1, lab("text.cf_inputs"), "Subtitle")
    xs.put_text(ws, 4, 2, lab("text.cf_value"), "Header")
    xs.put_text(ws, 4, 3, lab("text.cf_source"), "Header")

    mid_year = bool(getattr(scenario, "mid_year", False))
    rate = float(m["discount_rate"])
    irr_py = float(m["irr"]) if pd.notna(m["irr"]) else np.nan
    scalars = [
        ("grade", lab("cf.grade"), float(inp.grade_fraction[i]), xs.FMT_FACTOR, lab("text.src_applicant")),
        ("rec", lab("cf.rec"), float(inp.recovery[i]), xs.FMT_PCT, lab("text.src_applicant")),
        ("pay", lab("cf.pay"), float(inp.payability[i]), xs.FMT_PCT, lab("text.src_applicant")),
        ("pf", lab("cf.pf"), float(inp.product_factor[i]), xs.FMT_FACTOR, lab("text.src_product_factor")),
        ("price", lab("cf.price"), float(inp.price_usd_per_t[i]), xs.FMT_PRICE, _source(src, "price_source", lab) or lab("text.src_price")),
        ("bycoef", lab("cf.bycoef"), _byproduct_coef(inp, i), xs.FMT_MONEY2, lab("text.src_byproducts")),
        ("offsite", lab("cf.offsite"), float(inp.offsite_costs_share[i]), xs.FMT_PCT, lab("text.src_applicant")),
        ("roy", lab("cf.roy"), float(inp.royalty_rate[i]), xs.FMT_PCT2, _source(src, "royalty_source", lab)),
        ("opex", lab("cf.opex"), float(inp.opex_usd_per_t_ore[i]), xs.FMT_MONEY2, lab("text.src_applicant")),
        ("fixed", lab("cf.fixed"), float(inp.fixed_opex_usd_m_per_year[i]), xs.FMT_MONEY2, lab("text.src_applicant")),
        ("sust", lab("cf.sust"), float(inp.sustaining_capex_usd_m_per_year[i]), xs.FMT_MONEY2, lab("text.src_applicant")),
        ("closure", lab("cf.closure"), float(inp.closure_cost_usd_m[i]), xs.FMT_MONEY2, lab("text.src_applicant")),
        ("wcs", lab("cf.wcs"), float(inp.working_capital_share[i]), xs.FMT_PCT, lab("text.src_applicant")),
        ("tax", lab("cf.tax"), float(inp.income_tax_rate[i]), xs.FMT_PCT2, _source(src, "income_tax_source", lab)),
        ("dep", lab("cf.dep"), int(inp.depreciation_years[i]), "0", _source(src, "depreciation_source", lab)),
        ("offtake", lab("cf.offtake"), float(inp.korea_offtake_share[i]), xs.FMT_PCT, lab("text.src_applicant")),
        ("r", lab("cf.r"), rate, xs.FMT_PCT2,
         lab("text.src_rate", rate=scenario.discount_rate, crp=float(m["risk_premium"]))),
        ("fp", lab("cf.fp"), fp, "0", lab("text.src_fp")),
        ("lp", lab("cf.lp"), lp, "0", lab("text.src_lp")),
        ("clp", lab("cf.clp"), lp + 1, "0", lab("text.src_clp")),
        ("tpm", lab("cf.tpm"), 1_000_000, xs.FMT_INT, lab("text.src_unit")),
        ("usdm", lab("cf.usdm"), 1_000_000, xs.FMT_INT, lab("text.src_unit")),
        ("wc0", lab("cf.wc0"), 0.0, xs.FMT_MONEY2, lab("text.src_none")),
        ("lbf", lab("cf.lbf"), 0.0, xs.FMT_MONEY2, lab("text.src_none")),
        ("t0", lab("cf.t0"), 0.0, xs.FMT_MONEY2, lab("text.src_none")),
        ("guess", lab("cf.guess"), float(irr_py) if np.isfinite(irr_py) else 0.1, xs.FMT_PCT2,
         lab("text.src_guess")),
    ]
    if mid_year:
        scalars.append(("uplift", lab("cf.uplift"), (1.0 + rate) ** 0.5, xs.FMT_FACTOR,
                        lab("text.src_midyear")))
    elif getattr(scenario, "quarterly_discounting", False):  # each year in four quarters, at their ends
        from evaluator.finance import quarterly_uplift

        scalars.append(("uplift", lab("cf.uplift_quarterly"), float(quarterly_uplift(rate)), xs.FMT_FACTOR,
                        lab("text.src_quarterly")))
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
    xs.put_text(ws, r, 1, lab("text.cf_period"), "Header")
    xs.put_text(ws, r, 2, lab("text.cf_total"), "Header")
    for k in range(n):
        c = ws.cell(row=r, column=first_c + k, value=int(frame["period"].iloc[k]))
        xs.apply_style(c, "Header")
    r += 1
    xs.put_text(ws, r, 1, lab("text.cf_year"), "Label")
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
            xs.apply_style(c, "Calc", fmt)
        r += 1

    def formula_row(key, label, make, fmt=xs.FMT_MONEY2, style="Calc", opening=None):
        """``make(L, P)`` -> formula text for column letter L (P = previous column or None)."""
        nonlocal r
        rows[key] = r
        xs.put_text(ws, r, 1, label, "Label" if style != "Total" else "Total")
        if opening is not None:
            c = ws.cell(row=r, column=2, value=opening)
            xs.apply_style(c, "Calc", fmt)
        for k in range(n):
            L = _col(first_c + k)
            P = _col(first_c + k - 1)
            c = ws.cell(row=r, column=first_c + k, value="=" + make(L, P, k))
            xs.apply_style(c, style, fmt)
        r += 1

    R = lambda key, L: f"{L}{rows[key]}"  # noqa: E731

    def value_row(key, label, values, fmt=xs.FMT_MONEY2):
        """The model's own line as values (a law the sheet's formulas cannot express), marked *."""
        nonlocal r
        rows[key] = r
        xs.put_text(ws, r, 1, f"{label} *", "Label")
        for k, v in enumerate(values):
            xs.put_value(ws, r, first_c + k, float(v), "Value", fmt)
        c = ws.cell(row=r, column=2, value=f"=SUM({C0}{r}:{CL}{r})")
        xs.apply_style(c, "Calc", fmt)
        r += 1

    if features:
        xs.put_text(ws, 3, 1, lab("text.cf_extended_note", features=_features_text(features, lab)), "Note")
        price = _price_by_period(inp, i, n)
        primary = frame["payable_t"].to_numpy() * price / 1e6
        input_row("ore", lab("cf.row_ore"), frame["ore_mt"], xs.FMT_MT)
        input_row("init", lab("cf.row_init_schedule"), frame["initial_capex_usd_m"], xs.FMT_MONEY2)
        input_row("sust", lab("cf.row_sust"), frame["sustaining_capex_usd_m"], xs.FMT_MONEY2)
        input_row("closure", lab("cf.row_closure"), frame["closure_usd_m"], xs.FMT_MONEY2)
        input_row("price", lab("cf.row_price"), price, xs.FMT_PRICE, total=False)
        r += 1
        xs.put_text(ws, r, 1, lab("text.cf_formulas_extended"), "Subtitle")
        r += 1
        value_row("payable", lab("cf.row_payable"), frame["payable_t"], xs.FMT_TONNES)
        formula_row("prim", lab("cf.row_prim"), lambda L, P, k: f"{R('payable', L)}*{R('price', L)}/{ref['usdm']}")
        value_row("byp", lab("cf.row_byp"), frame["gross_revenue_usd_m"].to_numpy() - primary)
        formula_row("gross", lab("cf.row_gross"), lambda L, P, k: f"{R('prim', L)}+{R('byp', L)}")
        formula_row("offs", lab("cf.row_offs"), lambda L, P, k: f"{R('gross', L)}*{ref['offsite']}")
        formula_row("rev", lab("cf.row_rev"), lambda L, P, k: f"{R('gross', L)}-{R('offs', L)}", style="Total")
        value_row("roy", lab("cf.row_roy"), frame["royalty_usd_m"])
        value_row("opex", lab("cf.row_opex"), frame["opex_usd_m"])
        formula_row("ebitda", lab("cf.row_ebitda"), lambda L, P, k: f"{R('rev', L)}-{R('roy', L)}-{R('opex', L)}",
                    style="Total")
        value_row("dep", lab("cf.row_dep"), frame["depreciation_usd_m"])
        value_row("depl", lab("cf.row_depl"), frame["depletion_usd_m"])
        value_row("taxable", lab("cf.row_taxable"), frame["taxable_income_usd_m"])
        value_row("taxpaid", lab("cf.row_taxpaid"), frame["tax_usd_m"])
        value_row("credit", lab("cf.row_credit"), frame["tax_credit_usd_m"])
        wc_row = r
        formula_row("wc", lab("cf.row_wc"), lambda L, P, k: f"{R('rev', L)}*{ref['wcs']}", opening=f"={ref['wc0']}")
        formula_row("dwc", lab("cf.row_dwc"), lambda L, P, k: f"{L}{wc_row}-{P}{wc_row}")
        formula_row("fcf", lab("cf.row_fcf"),
                    lambda L, P, k: (f"{R('ebitda', L)}-{R('taxpaid', L)}+{R('credit', L)}-{R('init', L)}"
                                     f"-{R('sust', L)}-{R('closure', L)}-{R('dwc', L)}"), style="Total")
        formula_row("cfads", lab("cf.row_cfads"),
                    lambda L, P, k: f"{R('ebitda', L)}-{R('taxpaid', L)}+{R('credit', L)}-{R('sust', L)}-{R('dwc', L)}")
    else:
        input_row("ore", lab("cf.row_ore"), frame["ore_mt"], xs.FMT_MT)
        input_row("init", lab("cf.row_init"), frame["initial_capex_usd_m"], xs.FMT_MONEY2)
        r += 1
        xs.put_text(ws, r, 1, lab("text.cf_formulas"), "Subtitle")
        r += 1
        formula_row("flag", lab("cf.row_flag"), lambda L, P, k: f"({per(L)}>={ref['fp']})*({per(L)}<={ref['lp']})", "0")
        formula_row("product", lab("cf.row_product"), lambda L, P, k: f"{R('ore', L)}*{ref['tpm']}*{ref['grade']}*{ref['rec']}*{ref['pf']}", xs.FMT_TONNES)
        formula_row("payable", lab("cf.row_payable"), lambda L, P, k: f"{R('product', L)}*{ref['pay']}", xs.FMT_TONNES)
        formula_row("offt", lab("cf.row_offt"), lambda L, P, k: f"{R('product', L)}*{ref['offtake']}", xs.FMT_TONNES)
        formula_row("prim", lab("cf.row_prim"), lambda L, P, k: f"{R('payable', L)}*{ref['price']}/{ref['usdm']}")
        formula_row("byp", lab("cf.row_byp"), lambda L, P, k: f"{R('ore', L)}*{ref['tpm']}*{ref['bycoef']}/{ref['usdm']}")
        formula_row("gross", lab("cf.row_gross"), lambda L, P, k: f"{R('prim', L)}+{R('byp', L)}")
        formula_row("offs", lab("cf.row_offs"), lambda L, P, k: f"{R('gross', L)}*{ref['offsite']}")
        formula_row("rev", lab("cf.row_rev"), lambda L, P, k: f"{R('gross', L)}-{R('offs', L)}", style="Total")
        formula_row("roy", lab("cf.row_roy"), lambda L, P, k: f"{R('rev', L)}*{ref['roy']}")
        formula_row("opex", lab("cf.row_opex"), lambda L, P, k: f"{R('ore', L)}*{ref['tpm']}*{ref['opex']}/{ref['usdm']}+{R('flag', L)}*{ref['fixed']}")
        formula_row("ebitda", lab("cf.row_ebitda"), lambda L, P, k: f"{R('rev', L)}-{R('roy', L)}-{R('opex', L)}", style="Total")
        formula_row("sust", lab("cf.row_sust"), lambda L, P, k: f"{R('flag', L)}*{ref['sust']}")
        init_total = f"$B${rows['init']}"
        formula_row("add", lab("cf.row_add"),
                    lambda L, P, k: f"{R('sust', L)}+({per(L)}={ref['fp']})*{init_total}")
        formula_row("cumadd", lab("cf.row_cumadd"), lambda L, P, k: f"SUM(${C0}{rows['add']}:{L}{rows['add']})")
        add_rng = f"${C0}${rows['add']}:${CL}${rows['add']}"
        formula_row("sl", lab("cf.row_sl"),
                    lambda L, P, k: (f"SUMPRODUCT(({periods_rng}>{per(L)}-{ref['dep']})*({periods_rng}<={per(L)})*{add_rng})"
                                     f"/{ref['dep']}*({per(L)}<={ref['lp']})"))
        formula_row("wo", lab("cf.row_wo"),
                    lambda L, P, k: f"({per(L)}={ref['lp']})*({R('cumadd', L)}-SUM(${C0}{rows['sl']}:{L}{rows['sl']}))")
        formula_row("dep", lab("cf.row_dep"), lambda L, P, k: f"{R('sl', L)}+{R('wo', L)}")
        formula_row("tpre", lab("cf.row_tpre"), lambda L, P, k: f"({R('ebitda', L)}-{R('dep', L)})*({per(L)}<={ref['lp']})")
        formula_row("cum", lab("cf.row_cum"),
                    lambda L, P, k: f"SUM(${C0}{rows['tpre']}:{L}{rows['tpre']})-{ref['lbf']}")
        t_row = r  # the next row: cumulative taxed income, opening value in column B
        formula_row("taxed", lab("cf.row_taxed"),
                    lambda L, P, k: f"MAX({P}{t_row},{R('cum', L)})", opening=f"={ref['t0']}")
        formula_row("taxable", lab("cf.row_taxable"), lambda L, P, k: f"{R('taxed', L)}-{P}{rows['taxed']}")
        formula_row("taxpaid", lab("cf.row_taxpaid"), lambda L, P, k: f"{R('taxable', L)}*{ref['tax']}")
        formula_row("closure", lab("cf.row_closure"), lambda L, P, k: f"({per(L)}={ref['clp']})*{ref['closure']}")
        wc_row = r
        formula_row("wc", lab("cf.row_wc"), lambda L, P, k: f"{R('rev', L)}*{ref['wcs']}", opening=f"={ref['wc0']}")
        formula_row("dwc", lab("cf.row_dwc"), lambda L, P, k: f"{L}{wc_row}-{P}{wc_row}")
        formula_row("fcf", lab("cf.row_fcf"),
                    lambda L, P, k: f"{R('ebitda', L)}-{R('taxpaid', L)}-{R('init', L)}-{R('sust', L)}-{R('closure', L)}-{R('dwc', L)}",
                    style="Total")
        formula_row("cfads", lab("cf.row_cfads"),
                    lambda L, P, k: f"{R('ebitda', L)}-{R('taxpaid', L)}-{R('sust', L)}-{R('dwc', L)}")

    # ---- results
    r += 1
    xs.put_text(ws, r, 1, lab("text.cf_results"), "Subtitle")
    xs.put_text(ws, r, 2, lab("text.cf_formula"), "Header")
    xs.put_text(ws, r, 3, lab("text.cf_app"), "Header")
    xs.put_text(ws, r, 4, lab("text.cf_difference"), "Header")
    r += 1
    f = rows["fcf"]
    C1 = _col(first_c + 1)
    if n > 1:
        disc = f"NPV({ref['r']},{C1}{f}:{CL}{f})"
        if "uplift" in ref:
            disc += f"*{ref['uplift']}"
        npv_formula = f"={disc}+{C0}{f}"
    else:
        npv_formula = f"={C0}{f}"
    npv_row = r
    xs.put_text(ws, r, 1, lab("cf.npv"), "Total")
    c = ws.cell(row=r, column=2, value=npv_formula)
    xs.apply_style(c, "Total", xs.FMT_MONEY2)
    xs.put_value(ws, r, 3, float(m["npv_usd_m"]), "Note", xs.FMT_MONEY2)
    c = ws.cell(row=r, column=4, value=f"=B{r}-C{r}")
    xs.apply_style(c, "Calc", "0.00E+00")
    r += 1
    irr_row = r
    xs.put_text(ws, r, 1, lab("cf.irr"), "Total")
    c = ws.cell(row=r, column=2, value=f'=IFERROR(IRR({C0}{f}:{CL}{f},{ref["guess"]}),"{lab("text.na")}")')
    xs.apply_style(c, "Total", xs.FMT_PCT2)
    xs.put_value(ws, r, 3, irr_py if np.isfinite(irr_py) else lab("text.na"), "Note", xs.FMT_PCT2)
    if np.isfinite(irr_py):
        c = ws.cell(row=r, column=4, value=f'=IFERROR(B{r}-C{r},"{lab("text.na")}")')
        xs.apply_style(c, "Calc", "0.00E+00")
    r += 1
    xs.put_text(ws, r, 1, lab("cf.fcf_total"), "Label")
    c = ws.cell(row=r, column=2, value=f"=SUM({C0}{f}:{CL}{f})")
    xs.apply_style(c, "Calc", xs.FMT_MONEY2)
    r += 1
    xs.put_text(ws, r, 1, lab("text.cf_convention"), "Note")

    ws.freeze_panes = ws.cell(row=per_row + 1, column=first_c)
    ws.column_dimensions["A"].width = 58
    ws.column_dimensions["B"].width = 16
    for k in range(n):
        ws.column_dimensions[_col(first_c + k)].width = 11
    ws.column_dimensions["C"].width = max(ws.column_dimensions["C"].width or 11, 12)
    xs.print_setup(ws, title_rows=f"{per_row}:{per_row + 1}", footer=lab("text.page_footer"))
    return {"npv": f"B{npv_row}", "irr": f"B{irr_row}", "fcf_row": f, "first_col": C0, "last_col": CL}


# ----------------------------------------------------------------------------------------------
# What the engine says (messages), in the report's language
# ----------------------------------------------------------------------------------------------
def binding_messages(summary) -> list:
    """The binding constraints of an allocation summary (:class:`evaluator.pipeline.AllocationSummary`
    or its record) as messages: ``binding_messages``, else the records of ``binding_codes``; a
    mapping with names only (``binding``) quotes each name as it is."""
    found = _summary_get(summary, "binding_messages")
    if found:
        return list(found)
    codes = _summary_get(summary, "binding_codes")
    if codes:
        return [messages.from_record(c) for c in codes]
    return [messages.Message("constraint_named", {"name": str(b)}) for b in (_summary_get(summary, "binding") or [])]


def reasons_text(value: Any, lab: xs.Labels) -> str:
    """Screening reasons (``ineligible_messages``: messages) in the report's language; text given
    instead (a caller's own table) as it is."""
    if isinstance(value, (tuple, list)) and all(isinstance(v, messages.Message) for v in value):
        return messages.join(value, lab.language)
    return messages.word(value, lab.language)


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


# ----------------------------------------------------------------------------------------------
# Ranking
# ----------------------------------------------------------------------------------------------
#: Columns of the Ranking sheet, in order (each has a label with its unit); those absent are skipped.
RANKING_COLUMNS = ["rank", "id", "name", "country_iso3", "mineral", "stage", "eligible", "ineligible_reasons",
                   "funded", "fund_krw_bn", "loan_krw_bn", "score", "contrib_financial", "contrib_risk",
                   "contrib_diversification", "contrib_loan_safety", "contrib_readiness", "contrib_esg",
                   "npv_usd_m", "npv_p10_usd_m", "prob_npv_negative", "irr", "discount_rate", "payback_years",
                   "min_dscr", "support_request_krw_bn", "coverage_share", "applicant_spending_krw_bn",
                   "loan_cap_share", "loan_cap_krw_bn", "expected_loss_krw_bn", "loan_expected_levy_krw_bn",
                   "loan_expected_net_cost_krw_bn", "loan_interest_subsidy_krw_bn",
                   "country_risk_score", "score_china_share_before", "score_china_share_after", "rank_range"]


def _ranking_frame(evaluation, scores: pd.DataFrame | None, allocation: pd.DataFrame | None,
                   lab: xs.Labels) -> pd.DataFrame:
    m = evaluation.metrics
    base = pd.DataFrame({c: m[c].to_numpy() for c in ("name", "country_iso3", "mineral", "stage")},
                        index=m.index.astype(str))
    out = base.join(m[[c for c in RANKING_COLUMNS if c in m.columns and c not in base.columns]], how="left")
    if scores is not None:
        out = out.join(scores[[c for c in scores.columns if c not in out.columns]], how="left")
        for c in scores.columns:  # the score table's values win (e.g. risk columns)
            if c in out.columns and c not in base.columns:
                out[c] = scores[c].reindex(out.index)
    if allocation is not None:
        out["fund_krw_bn"] = allocation["fund_krw_bn"].reindex(out.index).fillna(0.0)
        out["loan_krw_bn"] = allocation["loan_krw_bn"].reindex(out.index).fillna(0.0)
        out["funded"] = (out["fund_krw_bn"] + out["loan_krw_bn"]) > _FUND_TOL
    if "ineligible_messages" in out.columns:
        out["ineligible_reasons"] = [reasons_text(v, lab) if isinstance(v, tuple) else ""
                                     for v in out["ineligible_messages"]]
    if "rank" in out.columns:
        out = out.sort_values("rank", kind="stable", na_position="last")
    else:
        out = out.sort_values("npv_usd_m", ascending=False, kind="stable", na_position="last")
    out.index.name = "id"
    # the score's China shares (project alone, scoring-years mean) are named as such: the target
    # year's shares of the Summary and Supply sheets are another window
    out = out.reset_index().rename(columns={"china_share_before": "score_china_share_before",
                                            "china_share_after": "score_china_share_after"})
    return out[[c for c in RANKING_COLUMNS if c in out.columns]]


def _write_decision_line(ws, row: int, decision: Mapping | None, lab: xs.Labels, col: int = 1,
                         last_col: int | None = None) -> int:
    if decision and decision.get("for_other_figures"):
        # a recorded decision exists, but for other figures (pipeline.recorded_decision): said plainly
        text = lab("text.decision_other_figures", id=decision.get("decision_id", ""),
                   scenario=decision.get("scenario", ""),
                   differs=", ".join(lab(f"text.decision_differs_{k}") for k in decision.get("differs", ())))
    elif decision and "decision_id" not in decision:
        text = "; ".join(f"{lab.get('decision', k)}: {v}" for k, v in decision.items())
    elif decision:
        text = lab("text.decision_recorded", id=decision.get("decision_id", ""), by=decision.get("decided_by", ""),
                   at=decision.get("decided_at_utc", ""),
                   note=decision.get("note", "") or "; ".join(f"{k}: {v}" for k, v in decision.items()))
    else:
        text = lab("text.decision_none")
    xs.put_text(ws, row, col, lab("text.ranking_decision"), "Label")
    if last_col:
        _wide_text(ws, row, text, "Value", col + 2, last_col)
    else:
        xs.put_text(ws, row, col + 2, text, "Value")
    return row + 1


def _write_ranking(ws, evaluation, scores, comfort_dscr: float, allocation=None, decision=None,
                   lab: xs.Labels | None = None) -> None:
    lab = lab or xs.load_labels("en")
    df = _ranking_frame(evaluation, scores, allocation, lab)
    top = 4
    _title(ws, lab("text.ranking_title"), lab("text.ranking_sorted") if scores is not None else lab("text.ranking_by_npv"))
    _write_decision_line(ws, 3, decision, lab)
    xs.put_text(ws, 1, 6, lab("text.dscr_comfort"), "Note")
    xs.put_value(ws, 1, 9, comfort_dscr, "Input", xs.FMT_RATIO)
    fmts = {"rank": "0", "score": xs.FMT_SCORE, "npv_usd_m": xs.FMT_MONEY, "npv_p10_usd_m": xs.FMT_MONEY,
            "prob_npv_negative": "0%", "irr": xs.FMT_PCT, "discount_rate": xs.FMT_PCT, "payback_years": "0.0",
            "min_dscr": "0.00", "coverage_share": "0%", "score_china_share_before": "0%", "score_china_share_after": "0%",
            "country_risk_score": "0", "expected_loss_krw_bn": "#,##0.00", "loan_expected_levy_krw_bn": "#,##0.00",
            "loan_expected_net_cost_krw_bn": "#,##0.00", "loan_interest_subsidy_krw_bn": "#,##0.00",
            "applicant_spending_krw_bn": "#,##0.0", "loan_cap_share": "0%", "loan_cap_krw_bn": "#,##0.0"}
    last_row, last_col = _table(ws, top, 1, df, lab, fmts)
    ws.row_dimensions[top].height = 45
    ws.freeze_panes = ws.cell(row=top + 1, column=4)
    ws.auto_filter.ref = f"A{top}:{_col(last_col)}{max(last_row, top + 1)}"
    cols = list(df.columns)
    if len(df):
        first = top + 1
        for key in ("score", "npv_usd_m"):
            if key in cols:
                Lc = _col(cols.index(key) + 1)
                ws.conditional_formatting.add(f"{Lc}{first}:{Lc}{last_row}", ColorScaleRule(
                    start_type="min", start_color="F8696B", mid_type="percentile", mid_value=50,
                    mid_color="FFEB84", end_type="max", end_color="63BE7B"))
        if "eligible" in cols:
            Lc = _col(cols.index("eligible") + 1)
            ws.conditional_formatting.add(f"A{first}:{_col(last_col)}{last_row}",
                                          FormulaRule(formula=[f'${Lc}{first}="{lab("text.no")}"'], fill=_RED_FILL))
        if "funded" in cols:
            Lc = _col(cols.index("funded") + 1)
            ws.conditional_formatting.add(f"{Lc}{first}:{Lc}{last_row}",
                                          FormulaRule(formula=[f'${Lc}{first}="{lab("text.yes")}"'], fill=_GREEN_FILL))
        if "irr" in cols and "discount_rate" in cols:
            Li, Ld = _col(cols.index("irr") + 1), _col(cols.index("discount_rate") + 1)
            ws.conditional_formatting.add(f"{Li}{first}:{Li}{last_row}",
                                          FormulaRule(formula=[f"AND(ISNUMBER({Li}{first}),{Li}{first}<{Ld}{first})"],
                                                      font=Font(color="C00000")))
        if "min_dscr" in cols:
            Lc = _col(cols.index("min_dscr") + 1)
            ws.conditional_formatting.add(f"{Lc}{first}:{Lc}{last_row}",
                                          FormulaRule(formula=[f"AND(ISNUMBER({Lc}{first}),{Lc}{first}<$I$1)"], font=Font(color="C00000")))
    widths = {"rank": 6, "id": 12, "name": 30, "ineligible_reasons": 36, "country_iso3": 8, "mineral": 12, "stage": 11,
              "eligible": 8, "funded": 8, "rank_range": 10}
    for j, ccol in enumerate(cols, start=1):
        ws.column_dimensions[_col(j)].width = widths.get(ccol, 11)
    _wrap_rows(ws, top + 1, last_row, [j for j, c in enumerate(cols, start=1) if c in ("name", "ineligible_reasons")])
    xs.print_setup(ws, title_rows=f"{top}:{top}", footer=lab("text.page_footer"))


# ----------------------------------------------------------------------------------------------
# Allocation
# ----------------------------------------------------------------------------------------------
def _summary_get(summary, key, default=None):
    if summary is None:
        return default
    if isinstance(summary, Mapping):
        return summary.get(key, default)
    return getattr(summary, key, default)


_ALLOC_COLUMNS = ["id", "name", "country_iso3", "mineral", "fund_request_krw_bn", "loan_request_krw_bn",
                  "fund_krw_bn", "loan_krw_bn", "project_cost_krw_bn", "coverage_share", "expected_loss_krw_bn",
                  "fraction", "note"]


def _allocation_frame(evaluation, a: pd.DataFrame, lab: xs.Labels) -> pd.DataFrame:
    m = evaluation.metrics
    df = pd.DataFrame(index=a.index)
    for c in ("name", "country_iso3", "mineral", "fund_request_krw_bn", "loan_request_krw_bn"):
        df[c] = m[c].reindex(a.index)
    df["fund_krw_bn"] = a["fund_krw_bn"]
    df["loan_krw_bn"] = a["loan_krw_bn"]
    df["project_cost_krw_bn"] = m["project_cost_krw_bn"].reindex(a.index)
    for c in ("coverage_share", "expected_loss_krw_bn", "fraction", "note"):
        if c in a.columns:
            df[c] = a[c]
    if "note_message" in a.columns:   # the allocator's note in the report's language
        df["note"] = [messages.word(v, lab.language) for v in a["note_message"]]
    df = df.assign(_s=a["support_krw_bn"]).sort_values("_s", ascending=False, kind="stable").drop(columns="_s")
    df.index.name = "id"
    df = df.reset_index()
    return df[[c for c in _ALLOC_COLUMNS if c in df.columns]]


def _write_alloc_table(ws, df: pd.DataFrame, lab: xs.Labels, top: int) -> tuple[int, list, dict]:
    """The per-project rows with live support (and coverage) formulas beside the amounts; returns
    (last row, columns, column letters)."""
    cols = list(df.columns)
    cols.insert(cols.index("loan_krw_bn") + 1, "support_krw_bn")
    formula_cols = {"support_krw_bn"} | ({"coverage_share"} if "coverage_share" not in df.columns else set())
    if "coverage_share" not in df.columns:
        cols.insert(cols.index("project_cost_krw_bn") + 1, "coverage_share")
    for j, name in enumerate(cols, start=1):
        xs.put_text(ws, top, j, lab.col(name), "Header")
    fmts = {name: xs.format_for_column(name) for name in cols}
    Lc = {c: _col(j) for j, c in enumerate(cols, start=1)}
    shown = dict(zip(df.columns, _display_columns(df, lab)))
    for k, i in enumerate(range(top + 1, top + 1 + len(df))):
        for j, name in enumerate(cols, start=1):
            if name == "support_krw_bn":
                c = ws.cell(row=i, column=j, value=f"={Lc['fund_krw_bn']}{i}+{Lc['loan_krw_bn']}{i}")
                xs.apply_style(c, "Calc", xs.FMT_MONEY)
            elif name in formula_cols:
                c = ws.cell(row=i, column=j, value=f'=IFERROR({Lc["support_krw_bn"]}{i}/{Lc["project_cost_krw_bn"]}{i},"{lab("text.na")}")')
                xs.apply_style(c, "Calc", xs.FMT_PCT)
            else:
                xs.put_value(ws, i, j, shown[name][k], "Input" if name in ("fund_krw_bn", "loan_krw_bn") else "Value",
                             fmts[name])
    return top + len(df), cols, Lc


def _write_budget_rows(ws, r: int, scenario, lab: xs.Labels, used: Mapping[str, Any]) -> int:
    """Budget / allocated / remaining / used rows; ``used`` maps ``fund``/``loan`` to a number, a
    formula text or None."""
    for j, h in enumerate([lab("text.budget"), lab("text.allocated"), lab("text.remaining"), lab("text.used")], start=2):
        xs.put_text(ws, r, j, h, "Header")
    ws.row_dimensions[r].height = 30
    r += 1
    for key, budget in (("fund", scenario.fund_krw_bn), ("loan", scenario.loan_krw_bn)):
        xs.put_text(ws, r, 1, lab("text.fund") if key == "fund" else lab("text.loans"), "Label")
        xs.put_value(ws, r, 2, float(budget), "Input", xs.FMT_MONEY)
        u = used.get(key)
        if u is None:
            xs.put_text(ws, r, 3, lab("text.not_allocated"), "Note")
        else:
            c = ws.cell(row=r, column=3, value=u)
            xs.apply_style(c, ("Calc" if isinstance(u, str) else "Value"), xs.FMT_MONEY)
            for col, f, fmt in ((4, f"=B{r}-C{r}", xs.FMT_MONEY), (5, f'=IFERROR(C{r}/B{r},"{lab("text.na")}")', xs.FMT_PCT)):
                c = ws.cell(row=r, column=col, value=f)
                xs.apply_style(c, "Calc", fmt)
        r += 1
    return r


def _write_allocation(ws, evaluation, scenario, allocation, summary, lab: xs.Labels | None = None) -> dict:
    lab = lab or xs.load_labels("en")
    _title(ws, lab("text.allocation_title"))
    a = _funded(allocation)
    info = {"fund_used": None, "loan_used": None}
    top = 3
    if a is None:
        xs.put_text(ws, 3, 1, lab("text.allocation_not_run"), "Note")
        r = 5
    else:
        df = _allocation_frame(evaluation, a, lab)
        last, cols, Lc = _write_alloc_table(ws, df, lab, top)
        ws.row_dimensions[top].height = 45
        ws.freeze_panes = ws.cell(row=top + 1, column=3)
        if len(df):
            ws.auto_filter.ref = f"A{top}:{_col(len(cols))}{last}"
        r = last + 1
        xs.put_text(ws, r, 1, lab("text.total_krw_bn"), "Total")
        for key in ("fund_request_krw_bn", "loan_request_krw_bn", "fund_krw_bn", "loan_krw_bn", "support_krw_bn",
                    "expected_loss_krw_bn"):
            if key in Lc:
                c = ws.cell(row=r, column=cols.index(key) + 1, value=f"=SUM({Lc[key]}{top + 1}:{Lc[key]}{max(last, top + 1)})")
                xs.apply_style(c, "Total", xs.FMT_MONEY)
        tot_row = r
        r += 2
        xs.put_text(ws, r, 1, lab("text.budgets"), "Subtitle")
        r = _write_budget_rows(ws, r, scenario, lab, {"fund": f"={Lc['fund_krw_bn']}{tot_row}",
                                                      "loan": f"={Lc['loan_krw_bn']}{tot_row}"})
        info = {"fund_used": float(a["fund_krw_bn"].sum()), "loan_used": float(a["loan_krw_bn"].sum())}
        for j, ccol in enumerate(cols, start=1):
            ws.column_dimensions[_col(j)].width = {"name": 30, "id": 12, "note": 40}.get(ccol, 12)
        ws.column_dimensions["A"].width = 30
        _wrap_rows(ws, top + 1, last, [j for j, c in enumerate(cols, start=1) if c in ("name", "note")])
    r = _write_solver(ws, r + 1, summary, lab)
    xs.print_setup(ws, title_rows=f"{top}:{top}" if a is not None else None, footer=lab("text.page_footer"))
    return info


def _write_solver(ws, r: int, summary, lab: xs.Labels) -> int:
    xs.put_text(ws, r, 1, lab("text.solver"), "Subtitle")
    r += 1
    status = _summary_get(summary, "status")
    items = [(lab("text.objective"), _summary_get(summary, "objective"), "#,##0.000"),
             (lab("text.status"), lab.get("status", status) if status is not None else lab("status.not_run"), None),
             (lab("text.proven_optimal"), lab.yes_no(_summary_get(summary, "optimal")), None),
             (lab("text.mip_gap"), _summary_get(summary, "mip_gap"), "0.00%"),
             (lab("text.solve_time"), _summary_get(summary, "solve_time_s"), "0.000")]
    r = _kv(ws, r, items) + 1
    xs.put_text(ws, r, 1, lab("text.binding"), "Subtitle")
    r += 1
    binding = binding_messages(summary)
    if not binding:
        xs.put_text(ws, r, 1, lab("text.none_reported"), "Note")
        r += 1
    for b in binding:
        xs.put_text(ws, r, 1, b.text(lab.language), "Value")
        r += 1
    r += 1
    xs.put_text(ws, r, 1, lab("text.marginal_values"), "Subtitle")
    r += 1
    mv = _summary_get(summary, "marginal_values") or _summary_get(summary, "marginal_value_per_krw_bn") or {}
    if not mv:
        xs.put_text(ws, r, 1, lab("text.none_reported"), "Note")
    for k, v in dict(mv).items():
        xs.put_text(ws, r, 1, lab.get("scenario", k), "Label")
        xs.put_value(ws, r, 2, v, "Value", "#,##0.000")
        r += 1
    return r


# ----------------------------------------------------------------------------------------------
# Supply
# ----------------------------------------------------------------------------------------------
_SUPPLY_COLUMNS = ["mineral", "share_basis", "n_projects", "added_volume", "china_share_before", "china_share_after",
                   "top_supplier_before", "top_share_before", "top_supplier_after", "top_share_after",
                   "hhi_before", "hhi_after", "meets_target_after", "gap_to_target_after", "top_supplier",
                   "top_supplier_share"]


def _source_shares(evaluation, scenario, ref) -> dict[str, pd.Series]:
    """Per applicant mineral: each supplier's share of Korea's imports in the target year without
    any project (:func:`evaluator.supply.partner_shares_in_year`: the basis and year of every other
    "before" share of the workbook)."""
    from evaluator import supply as sup

    out = {}
    for mineral in sorted(set(evaluation.metrics["mineral"])):
        try:
            s = sup.partner_shares_in_year(ref, scenario, mineral)["before"].sort_values(ascending=False)
        except (sup.SupplyDataError, KeyError):   # no import data: the mineral is left out
            continue
        s = s[s > 0]
        if len(s):
            out[mineral] = s
    return out


def _baseline_supply(evaluation, scenario, ref) -> pd.DataFrame:
    from evaluator import supply as sup

    rows = []
    for mineral, s in _source_shares(evaluation, scenario, ref).items():
        rows.append({"mineral": mineral, "share_basis": sup.share_basis(ref, mineral),
                     "china_share_before": float(s.get("CHN", 0.0)), "top_supplier": s.index[0],
                     "top_supplier_share": float(s.iloc[0]), "hhi_before": float((s ** 2).sum())})
    return pd.DataFrame(rows)


def _write_source_shares(ws, r: int, evaluation, scenario, ref, lab: xs.Labels, top_k: int = 5) -> int:
    """Korea's import sources per mineral in the target year, before any project [fraction]."""
    rows = []
    for mineral, s in _source_shares(evaluation, scenario, ref).items():
        for rank, (partner, share) in enumerate(s.iloc[:top_k].items(), start=1):
            rows.append({"mineral": mineral, "source_rank": rank, "partner_iso3": partner, "share_before": float(share)})
        if len(s) > top_k:
            rows.append({"mineral": mineral, "source_rank": top_k + 1, "partner_iso3": lab("text.others"),
                         "share_before": float(s.iloc[top_k:].sum())})
    if not rows:
        return r
    xs.put_text(ws, r, 1, lab("text.source_shares", k=top_k, year=scenario.target_year), "Subtitle")
    last, _ = _table(ws, r + 1, 1, pd.DataFrame(rows), lab, {"source_rank": "0"})
    return last + 2


def _supply_table(supply) -> pd.DataFrame:
    table = pd.DataFrame(supply).copy()
    if "mineral" not in table.columns:
        table = table.reset_index().rename(columns={"index": "mineral"})
    return table


def _write_supply(ws, evaluation, scenario, supply, supply_by_year, ref, lab: xs.Labels | None = None) -> dict:
    lab = lab or xs.load_labels("en")
    target = float(scenario.target_single_supplier_share)
    _title(ws, lab("text.supply_title"), lab("text.supply_target", target=target, year=scenario.target_year))
    xs.put_text(ws, 3, 1, lab("text.single_supplier_target"), "Label")
    xs.put_value(ws, 3, 2, target, "Input", xs.FMT_PCT)
    xs.put_text(ws, 4, 1, lab("text.share_basis_note", year=scenario.target_year), "Note")
    r = 5
    info: dict = {}
    if supply is None:
        xs.put_text(ws, r, 1, lab("text.supply_not_run"), "Note")
        r += 1
        table = _baseline_supply(evaluation, scenario, ref) if ref is not None else pd.DataFrame()
    else:
        table = _supply_table(supply)
        table = table[[c for c in _SUPPLY_COLUMNS if c in table.columns]]
    if len(table):
        top = r
        last, lastc = _table(ws, top, 1, table, lab)
        ws.row_dimensions[top].height = 45
        cols = list(table.columns)
        for key in ("china_share_before", "china_share_after"):
            if key in cols:
                Lc = _col(cols.index(key) + 1)
                ws.conditional_formatting.add(f"{Lc}{top + 1}:{Lc}{last}", CellIsRule(operator="greaterThan", formula=["$B$3"], fill=_RED_FILL))
                ws.conditional_formatting.add(f"{Lc}{top + 1}:{Lc}{last}", CellIsRule(operator="lessThanOrEqual", formula=["$B$3"], fill=_GREEN_FILL))
        info["table"] = (top, last, cols)
        r = last + 2
    if ref is not None:
        r = _write_source_shares(ws, r, evaluation, scenario, ref, lab)
    if supply_by_year is not None and len(supply_by_year):
        r = _write_supply_by_year(ws, r, scenario, pd.DataFrame(supply_by_year), lab)
    ws.column_dimensions["A"].width = 22
    for j in range(2, 16):
        ws.column_dimensions[_col(j)].width = 13
    xs.print_setup(ws, footer=lab("text.page_footer"))
    return info


def _by_year_column(sby: pd.DataFrame) -> str | None:
    return next((c for c in ("china_share_after", "china_share", "top_supplier_share_after") if c in sby.columns), None)


def _write_supply_by_year(ws, r: int, scenario, sby: pd.DataFrame, lab: xs.Labels) -> int:
    """China's share per mineral and year against the target (grid, line chart, detail)."""
    if "year" in sby.columns:
        sby = sby[sby["year"] <= scenario.horizon_year]
    value_col = _by_year_column(sby)
    xs.put_text(ws, r, 1, lab("text.china_by_year"), "Subtitle")
    r += 1
    if not (value_col and {"mineral", "year"} <= set(sby.columns)):
        r, _ = _table(ws, r, 1, sby, lab)
        return r + 2
    piv = sby.pivot_table(index="mineral", columns="year", values=value_col, aggfunc="first")
    piv.columns = [int(c) for c in piv.columns]
    ptop = r
    xs.put_text(ws, r, 1, lab.col("mineral"), "Header")
    for j, y in enumerate(piv.columns, start=2):
        c = ws.cell(row=r, column=j, value=int(y))
        xs.apply_style(c, "Header")
    for i, (mineral, vals) in enumerate(piv.iterrows(), start=r + 1):
        xs.put_text(ws, i, 1, lab.mineral(mineral), "Label")
        for j, v in enumerate(vals.to_numpy(), start=2):
            xs.put_value(ws, i, j, v, "Value", xs.FMT_PCT)
    tr = r + len(piv) + 1
    xs.put_text(ws, tr, 1, lab("text.target"), "Label")
    for j in range(2, len(piv.columns) + 2):
        c = ws.cell(row=tr, column=j, value="=$B$3")
        xs.apply_style(c, "Calc", xs.FMT_PCT)
    rng = f"B{ptop + 1}:{_col(len(piv.columns) + 1)}{ptop + len(piv)}"
    ws.conditional_formatting.add(rng, CellIsRule(operator="greaterThan", formula=["$B$3"], fill=_RED_FILL))
    ws.conditional_formatting.add(rng, CellIsRule(operator="lessThanOrEqual", formula=["$B$3"], fill=_GREEN_FILL))
    ch = LineChart()
    ch.title = lab("text.china_by_year_chart")
    ch.y_axis.title = lab("text.share_of_imports")
    ch.y_axis.number_format = "0%"
    data = Reference(ws, min_col=1, max_col=len(piv.columns) + 1, min_row=ptop + 1, max_row=tr)
    ch.add_data(data, from_rows=True, titles_from_data=True)
    ch.set_categories(Reference(ws, min_col=2, max_col=len(piv.columns) + 1, min_row=ptop, max_row=ptop))
    ch.height, ch.width = 8, 18
    ws.add_chart(ch, f"A{tr + 2}")
    r = tr + 19
    ws.row_breaks.append(Break(id=r - 1))
    rest = [c for c in sby.columns if c not in ("mineral", "year", value_col)]
    if rest:
        xs.put_text(ws, r, 1, lab("text.detail_by_year"), "Subtitle")
        r += 1
        keep = ["mineral", "year", value_col] + [c for c in ("top_supplier", "top_share", "incumbent", "incumbent_share",
                                                             "meets_target", "added_volume") if c in sby.columns]
        r, _ = _table(ws, r, 1, sby[keep], lab, {"year": "0"})
    return r + 2


# ----------------------------------------------------------------------------------------------
# Summary (one printed page)
# ----------------------------------------------------------------------------------------------
#: A funded project whose simulated P(NPV < 0) exceeds this is named among the Summary's key risks
#: [fraction] (a reporting threshold, an assumption of this report, not a programme rule).
PROB_LOSS_FLAG = 0.20


#: Columns of a project page's tornado table, in order.
_TORNADO_COLUMNS = ["input", "low_setting", "high_setting", "low_npv_usd_m", "high_npv_usd_m", "swing"]


@dataclass
class _Context:
    """What the sheets of one report share."""

    evaluation: Any
    scenario: Any
    lab: xs.Labels
    scores: pd.DataFrame | None = None
    alloc: pd.DataFrame | None = None
    summary: Any = None
    supply_table: pd.DataFrame | None = None
    supply_by_year: pd.DataFrame | None = None
    simulation: Any = None
    decision: Mapping | None = None
    ref: Any = None
    project_ids: list = dc_field(default_factory=list)
    cf_sheets: dict = dc_field(default_factory=dict)
    tornado: pd.DataFrame | None = None
    portfolio_risk: Any = None
    _tornado_rows: dict | None = None
    _rows: dict = dc_field(default_factory=dict)

    def tornado_of(self, app_id: str) -> list[list]:
        """The tornado rows of ``app_id`` with a positive swing, one list per column of
        :data:`_TORNADO_COLUMNS`, inputs and settings in words (the whole table is converted
        once per report and split by id, not filtered once per page)."""
        if self._tornado_rows is None:
            t = self.tornado[self.tornado["swing"] > 0]
            columns = [t[c].tolist() for c in _TORNADO_COLUMNS]
            for k in range(3):  # input, low_setting, high_setting
                columns[k] = [self.lab.get("tornado", v) for v in columns[k]]
            self._tornado_rows = {str(i): [[col[p] for p in pos] for col in columns]
                                  for i, pos in t.groupby("id", sort=False).indices.items()}
        return self._tornado_rows.get(str(app_id), [[] for _ in _TORNADO_COLUMNS])

    def _row(self, name: str, frame: pd.DataFrame | None, app_id: str) -> dict | None:
        """Row ``app_id`` of ``frame`` as a dict (column -> value), looked up once per report
        (None when absent); ``frame.at`` per figure otherwise costs a pandas lookup each."""
        if frame is None or not frame.index.is_unique:
            return None
        rows = self._rows.get(name)
        if rows is None:
            rows = self._rows[name] = {}
        if app_id not in rows:
            rows[app_id] = dict(zip(frame.columns, frame.loc[app_id].tolist())) if app_id in frame.index else None
        return rows[app_id]

    def metric_of(self, app_id: str, col: str):
        m = self.evaluation.metrics
        if not m.index.is_unique:
            return xs.clean_value(m.at[app_id, col])
        return xs.clean_value(self._row("metrics", m, app_id)[col])

    def funded_ids(self) -> list[str]:
        if self.alloc is None:
            return []
        return [str(i) for i in self.alloc.index[self.alloc["support_krw_bn"] > _FUND_TOL]]

    def score_of(self, app_id: str, col: str):
        if self.scores is None or col not in self.scores.columns or app_id not in self.scores.index:
            return None
        if not self.scores.index.is_unique:
            return xs.clean_value(self.scores.at[app_id, col])
        return xs.clean_value(self._row("scores", self.scores, app_id)[col])

    def reasons_of(self, app_id: str) -> tuple:
        """The screening reasons of an application (messages; ``()`` when none are recorded)."""
        if self.scores is None or "ineligible_messages" not in self.scores.columns or app_id not in self.scores.index:
            return ()
        found = self.scores["ineligible_messages"].loc[app_id]
        return found.iloc[0] if isinstance(found, pd.Series) else found

    def sim_of(self, app_id: str, col: str):
        if self.simulation is None or app_id not in self.simulation.summary.index:
            return None
        summary = self.simulation.summary
        if not summary.index.is_unique:
            return xs.clean_value(summary.at[app_id, col])
        return xs.clean_value(self._row("simulation", summary, app_id)[col])


def project_page_ids(evaluation, scores=None, allocation=None, top_n: int = DEFAULT_TOP_N) -> list[str]:
    """Projects given a page: funded ones and contested ones (eligible, not funded, ranked above
    a funded project), in rank order; without an allocation the ``top_n`` by rank (or NPV)."""
    m = evaluation.metrics
    a = _funded(_by_id(allocation, "allocation"))
    s = _by_id(scores, "scores")
    order = list(m.index.astype(str))
    if s is not None and "rank" in s.columns:
        order = [str(i) for i in s["rank"].astype(float).sort_values(kind="stable").index]
    elif "npv_usd_m" in m.columns:
        order = [str(i) for i in m["npv_usd_m"].astype(float).fillna(-np.inf).sort_values(ascending=False, kind="stable").index]
    if a is None:
        return order[:top_n]
    funded = {str(i) for i in a.index[a["support_krw_bn"] > _FUND_TOL]}
    if not funded:
        return order[:top_n]
    last = max(order.index(i) for i in funded if i in order)
    eligible = set(order) if s is None or "eligible" not in s.columns else {str(i) for i in s.index[s["eligible"].astype(bool)]}
    return [i for k, i in enumerate(order) if i in funded or (k < last and i in eligible)]


def memo_page_ids(evaluation, scores=None, allocation=None, top_n: int = DEFAULT_TOP_N) -> list[str]:
    """Projects given a committee memo, in rank order: the funded ones and the best-ranked
    contested ones among :func:`project_page_ids` (:func:`evaluator.memo.memo_ids`); none without
    an allocation (the committee decides on one)."""
    a = _funded(_by_id(allocation, "allocation"))
    if a is None:
        return []
    funded = [str(i) for i in a.index[a["support_krw_bn"] > _FUND_TOL]]
    return memo.memo_ids(project_page_ids(evaluation, scores, allocation, top_n), funded, _by_id(scores, "scores"))


def _write_summary(ws, ctx: _Context, generated_at, version) -> None:
    lab, sc, m = ctx.lab, ctx.scenario, ctx.evaluation.metrics
    ws.column_dimensions["A"].width = 44
    for j in range(2, 11):
        ws.column_dimensions[_col(j)].width = 17 if j == 2 else 14
    _title(ws, lab("text.report_title"))
    hours, minutes = (int(x) for x in lab("time.utc_offset").lstrip("+").split(":"))
    shown_at = generated_at + _dt.timedelta(hours=hours, minutes=minutes)  # generated_at is naive UTC
    r = _kv(ws, 2, [(lab("scenario.name"), sc.name, None), (lab("text.generated"), shown_at, xs.FMT_DATE),
                    (lab("text.version"), version, None)])
    funded = ctx.funded_ids()
    n_eligible = int(ctx.scores["eligible"].astype(bool).sum()) if ctx.scores is not None and "eligible" in ctx.scores.columns else len(m)
    xs.put_text(ws, r, 1, lab("text.decision_asked"), "Subtitle")
    if ctx.alloc is not None:
        text = lab("text.decision_asked_text", fund=float(ctx.alloc["fund_krw_bn"].sum()), fund_budget=sc.fund_krw_bn,
                   loan=float(ctx.alloc["loan_krw_bn"].sum()), loan_budget=sc.loan_krw_bn, n=len(funded),
                   n_apps=len(m), n_eligible=n_eligible)
    else:
        text = lab("text.decision_asked_no_alloc", n_apps=len(m), n_eligible=n_eligible)
    _wide_text(ws, r + 1, text, "Value", 1, 10)
    r = _write_decision_line(ws, r + 2, ctx.decision, lab, last_col=10) + 1
    xs.put_text(ws, r, 1, lab("text.budgets"), "Subtitle")
    used = {"fund": None, "loan": None}
    if ctx.alloc is not None:
        used = {"fund": float(ctx.alloc["fund_krw_bn"].sum()), "loan": float(ctx.alloc["loan_krw_bn"].sum())}
    r = _write_budget_rows(ws, r, sc, lab, used) + 1
    r = _summary_portfolio(ws, r, ctx, funded) + 1
    r = _summary_china(ws, r, ctx) + 1
    r = _summary_risks(ws, r, ctx, funded)
    _wide_text(ws, r + 1, lab("text.contested_note"), "Note", 1, 10)
    xs.print_setup(ws, fit_height=1, footer=lab("text.page_footer"))


def _summary_portfolio(ws, r: int, ctx: _Context, funded: list[str]) -> int:
    lab, m = ctx.lab, ctx.evaluation.metrics
    xs.put_text(ws, r, 1, lab("text.portfolio"), "Subtitle")
    r += 1
    if not funded:
        xs.put_text(ws, r, 1, lab("text.portfolio_none"), "Note")
        return r + 1
    cols = ["name", "country_iso3", "mineral", "rank", "fund_krw_bn", "loan_krw_bn", "npv_usd_m"]
    if ctx.simulation is not None:
        cols += ["npv_p10_usd_m", "prob_npv_negative"]
    cols += ["expected_loss_krw_bn"]
    rows = []
    for i in funded:
        rows.append({"name": f"{i}: {m.at[i, 'name']}" if i in m.index else i,
                     "country_iso3": m.at[i, "country_iso3"], "mineral": m.at[i, "mineral"],
                     "rank": ctx.score_of(i, "rank"), "fund_krw_bn": float(ctx.alloc.at[i, "fund_krw_bn"]),
                     "loan_krw_bn": float(ctx.alloc.at[i, "loan_krw_bn"]), "npv_usd_m": float(m.at[i, "npv_usd_m"]),
                     "npv_p10_usd_m": ctx.sim_of(i, "npv_p10_usd_m"), "prob_npv_negative": ctx.sim_of(i, "prob_npv_negative"),
                     "expected_loss_krw_bn": xs.clean_value(ctx.alloc.at[i, "expected_loss_krw_bn"])
                     if "expected_loss_krw_bn" in ctx.alloc.columns else ctx.score_of(i, "expected_loss_krw_bn")})
    df = pd.DataFrame(rows, columns=cols)
    top = r
    last, _ = _table(ws, top, 1, df, lab, {"rank": "0", "prob_npv_negative": "0%"})
    ws.row_dimensions[top].height = 32
    xs.put_text(ws, last + 1, 1, lab("text.total"), "Total")
    for key in ("fund_krw_bn", "loan_krw_bn", "npv_usd_m", "expected_loss_krw_bn"):
        j = cols.index(key) + 1
        c = ws.cell(row=last + 1, column=j, value=f"=SUM({_col(j)}{top + 1}:{_col(j)}{last})")
        xs.apply_style(c, "Total", xs.FMT_MONEY)
    return last + 2


def _china_rows(ctx: _Context) -> pd.DataFrame:
    """Per mineral, all in the target year (the one "after" of :func:`evaluator.supply.effect_in_year`,
    each project with its start and ramp-up): China's share without and with the portfolio, the top
    supplier and its share, the target, whether it is met (the top supplier's share at or below it)
    and, after a portfolio simulation, the probability of meeting it and China's own measure.
    ``share_basis`` names the basis of every share (chain basis, all forms; rare earths NdPr+Dy+Tb)."""
    t = ctx.supply_table
    if t is None or not len(t) or "china_share_before" not in t.columns:
        return pd.DataFrame()
    sc = ctx.scenario
    out = pd.DataFrame({"mineral": t["mineral"].to_numpy()})
    if "share_basis" in t.columns:
        out["share_basis"] = t["share_basis"].to_numpy()
    out["china_share_before_target_year"] = t["china_share_before"].to_numpy()
    sby = ctx.supply_by_year
    if sby is not None and len(sby) and "year" in sby.columns and _by_year_column(sby):
        at = sby[sby["year"] == sc.target_year].set_index("mineral")
        out["china_share_target_year"] = out["mineral"].map(at[_by_year_column(sby)])
        for c in ("top_supplier", "top_share", "meets_target"):
            if c in at.columns:
                out[f"{c}_target_year"] = out["mineral"].map(at[c])
    elif "china_share_after" in t.columns:   # no projection by year: the effect is already the target year's
        out["china_share_target_year"] = t["china_share_after"].to_numpy()
        for c, k in (("top_supplier", "top_supplier_after"), ("top_share", "top_share_after"),
                     ("meets_target", "meets_target_after")):
            if k in t.columns:
                out[f"{c}_target_year"] = t[k].to_numpy()
    out["target_year_share"] = float(sc.target_single_supplier_share)
    if "meets_target_target_year" in out.columns:
        out["meets_target"] = [None if pd.isna(v) else bool(v) for v in out.pop("meets_target_target_year")]
    pr = ctx.portfolio_risk
    if pr is not None:
        y = int(sc.target_year)
        out["prob_target_met_target_year"] = out["mineral"].map(
            {m: by_year.get(y, np.nan) for m, by_year in pr.prob_target_met().items()})
        out["prob_china_share_at_most_target_target_year"] = out["mineral"].map(
            {m: by_year.get(y, np.nan) for m, by_year in pr.prob_target_met("prob_china_share_at_most_target").items()})
    return out


def _summary_china(ws, r: int, ctx: _Context) -> int:
    lab, sc = ctx.lab, ctx.scenario
    xs.put_text(ws, r, 1, lab("text.china_vs_target", year=sc.target_year, target=sc.target_single_supplier_share), "Subtitle")
    df = _china_rows(ctx)
    if not len(df):
        xs.put_text(ws, r + 1, 1, lab("text.supply_not_run"), "Note")
        return r + 2
    xs.put_text(ws, r + 1, 1, lab("text.share_basis_note", year=sc.target_year), "Note")
    year_cols = ("china_share_before_target_year", "china_share_target_year", "top_supplier_target_year",
                 "top_share_target_year", "prob_target_met_target_year", "prob_china_share_at_most_target_target_year")
    shown = df.rename(columns={c: lab(f"col.{c}", year=sc.target_year) for c in year_cols})
    text_cols = ("mineral", "meets_target", "share_basis", lab("col.top_supplier_target_year", year=sc.target_year))
    fm = {c: "0%" for c in shown.columns if c not in text_cols}
    last, _ = _table(ws, r + 2, 1, shown, lab, fm)
    ws.row_dimensions[r + 2].height = 45 if ctx.portfolio_risk is not None else 32
    return last + 1


def _summary_risks(ws, r: int, ctx: _Context, funded: list[str]) -> int:
    lab = ctx.lab
    xs.put_text(ws, r, 1, lab("text.key_risks"), "Subtitle")
    r += 1
    el = _summary_get(ctx.summary, "expected_loss_krw_bn")
    if el is None and ctx.alloc is not None and "expected_loss_krw_bn" in ctx.alloc.columns:
        el = float(ctx.alloc["expected_loss_krw_bn"].sum())
    items = [(lab("text.risk_expected_loss"), lab("text.not_allocated") if el is None else el, "#,##0.00")]
    pr = ctx.portfolio_risk
    if pr is not None:
        items += [(lab("text.risk_book_loss"), pr.loan_loss_expected_krw_bn, "#,##0.00"),
                  (lab("text.risk_book_p95"), pr.loan_loss_p95_krw_bn, "#,##0.00"),
                  (lab("text.risk_prob_fund_loss"), pr.prob_fund_loss, xs.FMT_PCT)]
    if ctx.simulation is not None and funded:
        s = ctx.simulation.summary.reindex(funded)
        flagged = [i for i in funded if pd.notna(s.at[i, "prob_npv_negative"]) and s.at[i, "prob_npv_negative"] > PROB_LOSS_FLAG]
        items += [(lab("text.risk_p10"), float(s["npv_p10_usd_m"].sum()), xs.FMT_MONEY),
                  (lab("text.risk_prob_loss", limit=PROB_LOSS_FLAG),
                   ", ".join(f"{i} ({s.at[i, 'prob_npv_negative']:.0%})" for i in flagged) or lab("text.none"), None)]
    binding = binding_messages(ctx.summary)
    items += [(lab("text.risk_binding"), messages.join(binding, lab.language) or lab("text.none"), None)]
    status = _summary_get(ctx.summary, "status")
    items += [(lab("text.risk_status"), lab.get("status", status) if status is not None else lab("status.not_run"), None)]
    r = _kv(ws, r, items)
    if pr is not None:                     # the static and simulated loan-book loss: why they differ
        _wide_text(ws, r, pr.expected_loss_note().text(lab.language), "Note", 1, 8)
        r += 1
    if ctx.simulation is None:
        xs.put_text(ws, r, 1, lab("text.risk_sim_not_run"), "Note")
        r += 1
    return r


# ----------------------------------------------------------------------------------------------
# One page per funded or contested project
# ----------------------------------------------------------------------------------------------
#: Study figures an application may give, each with the model figure it is reconciled with.
#: HOOK: ``models.application.Application`` has no study fields yet (only ``source_note``); once
#: it has fields of these names the project pages show the reconciliation without other changes.
STUDY_FIELDS = {"study_npv_usd_m": "npv_usd_m", "study_irr": "irr", "study_initial_capex_usd_m": "initial_capex_usd_m"}


def study_reconciliation(app, metrics_row) -> pd.DataFrame | None:
    """The applicant's study figures beside this evaluation's (None when the application gives none).

    Returns
    -------
    pandas.DataFrame or None
        Columns ``metric``, ``study_value``, ``model_value``, ``difference`` (model - study).
    """
    rows = []
    for field_name, metric in STUDY_FIELDS.items():
        study = getattr(app, field_name, None)
        if study is None:
            continue
        model = metrics_row.get(metric) if metric in metrics_row else getattr(app, metric, None)
        rows.append({"metric": metric, "study_value": float(study), "model_value": xs.clean_value(model),
                     "difference": None if model is None else float(model) - float(study)})
    return pd.DataFrame(rows) if rows else None


def _project_status(ctx: _Context, app_id: str) -> str:
    lab = ctx.lab
    if ctx.alloc is None:
        return lab("text.project_status_candidate")
    if app_id in ctx.funded_ids():
        a = ctx.alloc.loc[app_id]
        frac = float(a["fraction"]) if "fraction" in a.index and pd.notna(a["fraction"]) else 1.0
        return lab("text.project_status_funded", fund=float(a["fund_krw_bn"]), loan=float(a["loan_krw_bn"]), fraction=frac)
    if ctx.score_of(app_id, "eligible") is False:
        return lab("text.project_status_ineligible", reasons=reasons_text(ctx.reasons_of(app_id) or ctx.score_of(app_id, "ineligible_reasons"), lab))
    return lab("text.project_status_contested", rank=ctx.score_of(app_id, "rank"))


_FIGURES = [("rank", "0"), ("score", xs.FMT_SCORE), ("npv_usd_m", xs.FMT_MONEY), ("npv_krw_bn", xs.FMT_MONEY),
            ("irr", xs.FMT_PCT), ("discount_rate", xs.FMT_PCT), ("payback_years", "0.0"), ("min_dscr", "0.00"),
            ("llcr", "0.00"), ("support_request_krw_bn", xs.FMT_MONEY), ("coverage_share", xs.FMT_PCT),
            ("expected_loss_krw_bn", "#,##0.00")]
_COUNTRY = [("country_risk_score", "0.0"), ("risk_premium", xs.FMT_PCT2), ("pd_cumulative", xs.FMT_PCT)]
_DIVERSIFICATION = [("diversification_score", "0.0"), ("china_share_before", xs.FMT_PCT),
                    ("china_share_after", xs.FMT_PCT), ("delta_top_share", "0.0%"), ("target_progress", xs.FMT_PCT),
                    ("korea_offtake_t_full", xs.FMT_TONNES), ("korea_offtake_t_target_year", xs.FMT_TONNES),
                    ("korea_offtake_t_per_year", xs.FMT_TONNES)]
_SIMULATED = [("npv_mean_usd_m", xs.FMT_MONEY), ("npv_p10_usd_m", xs.FMT_MONEY), ("npv_p50_usd_m", xs.FMT_MONEY),
              ("npv_p90_usd_m", xs.FMT_MONEY), ("npv_cvar10_usd_m", xs.FMT_MONEY), ("prob_npv_negative", xs.FMT_PCT),
              ("prob_min_dscr_below_1", xs.FMT_PCT), ("expected_loss_sim_krw_bn", "#,##0.00")]


def _figure(ctx: _Context, app_id: str, key: str):
    v = ctx.score_of(app_id, key)
    if v is None and key in ctx.evaluation.metrics.columns:
        v = ctx.metric_of(app_id, key)
    return v


def _write_project(ws, ctx: _Context, app_id: str) -> None:
    lab, m = ctx.lab, ctx.evaluation.metrics
    app = ctx.evaluation.applications[ctx.evaluation.cashflows.index_of(app_id)]
    _title(ws, lab("text.project_title", id=app_id, name=app.name),
           lab("text.project_subtitle", company=app.company, country=app.country_iso3, mineral=lab.mineral(app.mineral),
               stage=lab.get("stage", app.stage)))
    xs.put_text(ws, 5, 1, lab("text.figures"), "Subtitle")
    r = _kv(ws, 6, [(lab.get("metric", k), _figure(ctx, app_id, k), f) for k, f in _FIGURES])
    if ctx.alloc is not None and app_id in ctx.alloc.index:
        r = _kv(ws, r, [(lab.col("fund_krw_bn"), float(ctx.alloc.at[app_id, "fund_krw_bn"]), xs.FMT_MONEY),
                        (lab.col("loan_krw_bn"), float(ctx.alloc.at[app_id, "loan_krw_bn"]), xs.FMT_MONEY)])
    left_end = r
    xs.put_text(ws, 5, 4, lab("text.country_risk"), "Subtitle")
    crc = None
    if ctx.ref is not None and "oecd_crc" in ctx.ref.countries.columns and app.country_iso3 in ctx.ref.countries.index:
        crc = xs.clean_value(ctx.ref.countries.at[app.country_iso3, "oecd_crc"])
    r = _kv(ws, 6, [(lab.get("metric", k), _figure(ctx, app_id, k), f) for k, f in _COUNTRY]
            + [(lab("metric.oecd_crc"), crc, "0")], col=4)
    xs.put_text(ws, r + 1, 4, lab("text.diversification"), "Subtitle")
    r = _kv(ws, r + 2, [(lab.get("metric", k), _figure(ctx, app_id, k), f) for k, f in _DIVERSIFICATION], col=4)
    xs.put_text(ws, 5, 7, lab("text.contributions"), "Subtitle")
    contrib = [c for c in (ctx.scores.columns if ctx.scores is not None else []) if str(c).startswith("contrib_")]
    r2 = _kv(ws, 6, [(lab.col(c), ctx.score_of(app_id, c), xs.FMT_SCORE) for c in contrib], col=7)
    xs.put_text(ws, r2 + 1, 7, lab("text.simulation"), "Subtitle")
    if ctx.simulation is not None and app_id in ctx.simulation.summary.index:
        r2 = _kv(ws, r2 + 2, [(lab.col(k), ctx.sim_of(app_id, k), f) for k, f in _SIMULATED], col=7)
        xs.put_text(ws, r2, 7, lab("text.simulation_paths", n=int(ctx.simulation.n_paths), seed=int(ctx.simulation.seed)), "Note")
    else:
        xs.put_text(ws, r2 + 2, 7, lab("text.simulation_not_run"), "Note")
        r2 += 2
    r = max(left_end, r, r2) + 2
    r = _project_tornado(ws, r, ctx, app_id)
    r = _project_study(ws, r + 1, ctx, app, m.loc[app_id])
    for L, w in (("A", 40), ("B", 14), ("C", 13), ("D", 46), ("E", 13), ("F", 13), ("G", 34), ("H", 13)):
        ws.column_dimensions[L].width = w
    _wide_text(ws, 3, _project_status(ctx, app_id), "Subtitle")
    if app_id in ctx.cf_sheets:
        xs.put_text(ws, r + 1, 1, lab("text.cash_flow_sheet", sheet=ctx.cf_sheets[app_id]), "Note")
    xs.print_setup(ws, fit_height=1, footer=lab("text.page_footer"))


def _project_tornado(ws, r: int, ctx: _Context, app_id: str) -> int:
    lab = ctx.lab
    xs.put_text(ws, r, 1, lab("text.tornado"), "Subtitle")
    if ctx.tornado is None or not len(ctx.tornado):
        xs.put_text(ws, r + 1, 1, lab("text.tornado_not_available"), "Note")
        return r + 2
    t = ctx.tornado_of(app_id)
    last, _ = _table_columns(ws, r + 1, 1, _TORNADO_COLUMNS, t, lab,
                             {k: xs.FMT_MONEY for k in ("low_npv_usd_m", "high_npv_usd_m", "swing")})
    ws.row_dimensions[r + 1].height = 30
    if last > r + 1:
        ws.conditional_formatting.add(f"F{r + 2}:F{last}", DataBarRule(start_type="num", start_value=0, end_type="max",
                                                                        color="5B9BD5"))
    return last + 1


def _project_study(ws, r: int, ctx: _Context, app, metrics_row) -> int:
    lab = ctx.lab
    xs.put_text(ws, r, 1, lab("text.study"), "Subtitle")
    rec = study_reconciliation(app, metrics_row)
    if rec is None:
        note = (app.source_note or "").strip()
        _wide_text(ws, r + 1, lab("text.study_none", note=note) if note else lab("text.study_none_cited"))
        return r + 2
    rec["metric"] = rec["metric"].map(lambda k: lab.get("metric", k))
    last, _ = _table(ws, r + 1, 1, rec, lab)
    if app.study_npv_usd_m is None or app.study_discount_rate is None or ctx.ref is None:
        return last + 1
    # the bridge: one group of assumptions at a time from the study's to the fund's
    from evaluator import reconcile

    b = reconcile.bridge(app, ctx.scenario, ctx.ref).frame()
    steps = pd.DataFrame({"bridge_step": [lab.get("bridge", x) for x in b["label"]],
                          "npv_change_usd_m": b["change_usd_m"], "npv_after_usd_m": b["npv_after_usd_m"],
                          "bridge_detail": b["detail"]})
    xs.put_text(ws, last + 1, 1, lab("text.study_bridge"), "Subtitle")
    last, _ = _table(ws, last + 2, 1, steps, lab)
    return last + 1


# ----------------------------------------------------------------------------------------------
# Decision and assumptions
# ----------------------------------------------------------------------------------------------
def _write_decision(ws, decision: Mapping, lab: xs.Labels | None = None) -> None:
    lab = lab or xs.load_labels("en")
    _title(ws, lab("text.decision_title"))
    xs.put_text(ws, 3, 1, lab("text.item"), "Header")
    xs.put_text(ws, 3, 2, lab("text.record"), "Header")
    r = 4
    for k, v in decision.items():
        xs.put_text(ws, r, 1, lab.get("decision", k), "Label")
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
    xs.print_setup(ws, title_rows="3:3", footer=lab("text.page_footer"))


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


def _scenario_value(k: str, v: Any, lab: xs.Labels) -> Any:
    """A scenario value as the Assumptions sheet shows it (codes in words)."""
    if isinstance(v, bool):
        return lab.yes_no(v)
    if isinstance(v, Mapping):
        return "; ".join(f"{lab.get('value', a) if k == 'weights' else lab.mineral(a)} = {b:g}" if isinstance(b, (int, float))
                         else f"{a} = {b}" for a, b in v.items()) or lab("text.none")
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) or lab("text.none")
    if isinstance(v, str) and k != "name":
        return lab.get("value", v)
    return v


def _write_assumptions(ws, evaluation, scenario, ref, lab: xs.Labels | None = None) -> None:
    lab = lab or xs.load_labels("en")
    _title(ws, lab("text.assumptions_title"), lab("text.assumptions_subtitle"))
    r = 4
    xs.put_text(ws, r, 1, lab("text.scenario"), "Subtitle")
    r += 1
    for k, v in scenario.to_dict().items():
        xs.put_text(ws, r, 1, lab.get("scenario", k), "Label")
        v = _scenario_value(k, v, lab)
        xs.put_value(ws, r, 2, v, "Input", xs.format_for_column(k) if isinstance(v, (int, float)) and not isinstance(v, bool) else None)
        r += 1
    r += 1
    r = _write_special_loan_rules(ws, r, evaluation, scenario, ref, lab) + 1
    if ref is not None:
        r = _write_reference_tables(ws, r, evaluation, scenario, ref, lab)
    xs.put_text(ws, r, 1, lab("text.resolved_inputs"), "Subtitle")
    r += 1
    src = evaluation.inputs.sources
    if src is not None and len(src):
        src = src.copy()
        for c in [c for c in src.columns if c.endswith("_source")]:   # the engine's words, in this language
            src[c] = [messages.word(v, lab.language) for v in src[c]]
        if "fiscal_warning" in src.columns:
            src["fiscal_warning"] = [messages.word(v, lab.language) for v in src["fiscal_warning"]]
        for c in src.columns:   # any other column the engine filled with messages (e.g. a granted fiscal incentive)
            if any(isinstance(v, messages.Message) for v in src[c]):
                src[c] = [messages.word(v, lab.language) if isinstance(v, messages.Message) else v for v in src[c]]
        for c in ("royalty_basis", "depreciation_method"):   # codes of fiscal_regimes.csv, in words
            if c in src.columns:
                src[c] = src[c].map(lambda v: lab.get("fiscal", v))
        r, _ = _table(ws, r, 1, src.reset_index(), lab)
        r += 2
    xs.put_text(ws, r, 1, lab("text.raw_sources"), "Subtitle")
    r += 1
    from evaluator import reference as refmod

    data_dir = getattr(ref, "data_dir", None) or refmod.DATA_DIR
    r, _ = _table(ws, r, 1, _raw_sources(data_dir), lab)
    ws.column_dimensions["A"].width = 34
    for L in "BCDEFGHI":
        ws.column_dimensions[L].width = 18
    for row in ws.iter_rows(min_row=4, max_row=ws.max_row):
        for c in row:
            if isinstance(c.value, str) and len(c.value) > 24:
                xs.set_alignment(c, _WRAP_TOP)
    xs.print_setup(ws, footer=lab("text.page_footer"))


#: The special loan's rules the Assumptions sheet lists, in order: (rule, where its figure is).
SPECIAL_LOAN_RULES = ("loan_cap_share_base", "loan_cap_share_preferred", "write_off_share",
                      "failure_repayment_years", "max_tenor_years")


def special_loan_rules_frame(evaluation, scenario, ref, lab: xs.Labels) -> pd.DataFrame:
    """The special loan's rules as the scenario applies them, each with its legal source (columns
    ``loan_rule`` (in words), ``value``, ``source``, ``source_date``, ``confidence``): the terms
    year's figures (``loan_terms.csv``), the criteria of the preferred tier (``loan_cap_tiers.csv``),
    the write-off list for the applications' minerals (``loan_write_off_minerals.csv``), the rate,
    the levy and the budgets as the scenario sets them."""
    from evaluator import special_loan

    terms = special_loan.loan_terms_table(ref)
    terms = terms[terms["terms"] == scenario.loan_terms].set_index("rule")
    rows = []
    for rule in SPECIAL_LOAN_RULES:
        t = terms.loc[rule]
        value = float(t["value"])
        if rule == "write_off_share":
            value = float(scenario.write_off_share)
        rows.append({"loan_rule": lab("loan_rule." + rule, terms=scenario.loan_terms),
                     "value": f"{value:.0%}" if t["unit"].startswith("fraction") else f"{value:g}",
                     "source": t["source"], "source_date": t["source_date"], "confidence": t["confidence"]})
    for _, t in special_loan.cap_tiers(ref).iterrows():
        rows.append({"loan_rule": lab("loan_rule.preferred_criterion"),
                     "value": special_loan.criteria_message(f"{t['criterion']}={t['value']}").text(lab.language),
                     "source": t["source"], "source_date": t["source_date"], "confidence": t["confidence"]})
    wo = special_loan.write_off_minerals(ref).set_index("mineral")
    for mineral in sorted({a.mineral for a in evaluation.applications}):
        listed = mineral in wo.index and wo.at[mineral, "listed"] == "yes"
        rows.append({"loan_rule": lab("loan_rule.write_off_listed" if listed else "loan_rule.write_off_not_listed",
                                      mineral=lab.mineral(mineral)),
                     "value": lab.yes_no(listed),
                     "source": wo.at[mineral, "legal_source"] if mineral in wo.index else "",
                     "source_date": wo.at[mineral, "source_date"] if mineral in wo.index else "",
                     "confidence": wo.at[mineral, "confidence"] if mineral in wo.index else ""})
    for key, value in (("loan_rate", f"{scenario.ktb_3y_rate:.2%} {scenario.policy_loan_spread:+.2%} = "
                                     f"{scenario.policy_loan_rate_nominal:.2%} -> {scenario.policy_loan_rate:.2%}"),
                       ("success_levy", f"{scenario.success_levy_share:.0%} x {scenario.success_levy_years}"),
                       ("loan_budget", f"{scenario.loan_krw_bn:,.1f}"), ("fund", f"{scenario.fund_krw_bn:,.1f}")):
        rows.append({"loan_rule": lab(f"loan_rule.{key}"), "value": value, "source": lab(f"loan_rule.{key}_source"),
                     "source_date": "", "confidence": lab(f"loan_rule.{key}_confidence")})
    out = pd.DataFrame(rows, columns=["loan_rule", "value", "source", "source_date", "confidence"])
    out["confidence"] = [lab.get("loan_rule", f"confidence_{c}", c) for c in out["confidence"]]
    return out


def _write_special_loan_rules(ws, r: int, evaluation, scenario, ref, lab: xs.Labels) -> int:
    xs.put_text(ws, r, 1, lab("text.special_loan_rules", terms=scenario.loan_terms), "Subtitle")
    r, _ = _table(ws, r + 1, 1, special_loan_rules_frame(evaluation, scenario, ref, lab), lab)
    return r + 1


#: Columns of the Assumptions sheet's fiscal-regime table, in order.
FISCAL_REGIME_COLUMNS = ["region", "mineral", "applications", "royalty_basis", "royalty_rate", "income_tax_rate",
                         "loss_carry_years", "loss_offset_cap", "depreciation_method", "depreciation_rate",
                         "withholding_korea_rate", "law", "source", "date", "assumption"]


def fiscal_regimes_used(evaluation, ref) -> pd.DataFrame:
    """The ``fiscal_regimes.csv`` rows the applications use (by their ``fiscal_region`` or their
    country's default region; :func:`evaluator.fiscal.regime_row`), one row per regime row with
    the ids using it; empty when every application uses the per-country tables. Rates
    [fraction], ``loss_carry_years`` [years] (blank = no time limit)."""
    from evaluator import fiscal

    used: dict[tuple[str, str], dict] = {}
    for app in evaluation.applications:
        row, _ = fiscal.regime_row(ref, app)
        if row is None:
            continue
        key = (str(row["region"]), str(row["mineral"]))
        if key not in used:
            used[key] = {c: xs.clean_value(row[c]) for c in FISCAL_REGIME_COLUMNS if c in row.index}
            used[key]["applications"] = []
        used[key]["applications"].append(app.id)
    out = []
    for rec in used.values():
        rec["applications"] = ", ".join(rec["applications"])
        if rec.get("loss_carry_years") is not None and rec["loss_carry_years"] >= fiscal.UNLIMITED_YEARS:
            rec["loss_carry_years"] = None
        out.append(rec)
    return pd.DataFrame(out, columns=[c for c in FISCAL_REGIME_COLUMNS])


def _write_reference_tables(ws, r: int, evaluation, scenario, ref, lab: xs.Labels) -> int:
    from evaluator import reference as refmod

    apps = evaluation.applications
    minerals = sorted({a.mineral for a in apps} | {b.mineral for a in apps for b in a.by_products})
    countries = sorted({a.country_iso3 for a in apps})
    xs.put_text(ws, r, 1, lab("text.price_deck"), "Subtitle")
    mt = ref.minerals.reindex(minerals)
    cols = [c for c in ("product", "price_base_usd_per_t", "price_low_usd_per_t", "price_high_usd_per_t",
                        "price_source", "price_assumption") if c in mt.columns]
    t = mt[cols].reset_index().rename(columns={"index": "mineral"})
    if scenario.price_overrides_usd_per_t:
        t["scenario_override_usd_per_t"] = t["mineral"].map(dict(scenario.price_overrides_usd_per_t))
    r, _ = _table(ws, r + 1, 1, t, lab)
    r += 2
    if "rare_earths" in minerals:
        xs.put_text(ws, r, 1, lab("text.ree_prices"), "Subtitle")
        o = ref.ree_oxides.reset_index()
        o = o[[c for c in ("oxide", "price_base_usd_per_t", "price_low_usd_per_t", "price_high_usd_per_t",
                           "default_basket_share", "source", "assumption") if c in o.columns]]
        if "oxide" in o.columns:
            o["oxide"] = o["oxide"].map(lambda v: lab("text.others") if v == "other" else v)
        r, _ = _table(ws, r + 1, 1, o, lab)
        r += 2
    xs.put_text(ws, r, 1, lab("text.royalties"), "Subtitle")
    roy = []
    for c, mn in sorted({(a.country_iso3, a.mineral) for a in apps}):
        try:
            row = refmod.royalty_row(ref, c, mn)
        except refmod.ReferenceDataError:  # a pair without a royalty row is left out of the table
            continue
        roy.append({"country_iso3": c, "mineral": mn, "table_row": f"{row['iso3']}/{row['mineral']}",
                    "royalty_rate": float(row["royalty_rate"]), "basis": row.get("basis", ""),
                    "source": row.get("source", ""), "assumption": bool(row.get("assumption", False))})
    r, _ = _table(ws, r + 1, 1, pd.DataFrame(roy), lab)
    r += 2
    xs.put_text(ws, r, 1, lab("text.tax_and_crp"), "Subtitle")
    ct = ref.countries.reindex(countries)
    tax = []
    for c in countries:
        tax.append({"country_iso3": c, "income_tax_rate": refmod.income_tax_rate(ref, c),
                    "income_tax_source": ct.at[c, "income_tax_source"] if "income_tax_source" in ct.columns else "",
                    "crp": ct.at[c, "crp"] if "crp" in ct.columns else np.nan,
                    "crp_source": ct.at[c, "crp_source"] if "crp_source" in ct.columns else "",
                    "oecd_crc": ct.at[c, "oecd_crc"] if "oecd_crc" in ct.columns else np.nan})
    r, _ = _table(ws, r + 1, 1, pd.DataFrame(tax), lab, formats={"crp": xs.FMT_PCT2, "oecd_crc": "0"})
    r += 2
    regimes = fiscal_regimes_used(evaluation, ref)
    if len(regimes):
        xs.put_text(ws, r, 1, lab("text.fiscal_regimes_used"), "Subtitle")
        shown = regimes.copy()
        shown["royalty_basis"] = shown["royalty_basis"].map(lambda v: lab.get("fiscal", v))
        shown["depreciation_method"] = shown["depreciation_method"].map(lambda v: lab.get("fiscal", v))
        shown["mineral"] = shown["mineral"].map(lambda v: lab("text.all_minerals") if v == "*" else v)
        r, _ = _table(ws, r + 1, 1, shown, lab, formats={"royalty_rate": xs.FMT_PCT2, "income_tax_rate": xs.FMT_PCT2,
                                                         "withholding_korea_rate": xs.FMT_PCT2, "loss_carry_years": "0",
                                                         "loss_offset_cap": xs.FMT_PCT, "depreciation_rate": xs.FMT_PCT})
        r += 2
    xs.put_text(ws, r, 1, lab("text.tax_regimes"), "Subtitle")
    to = ref.tax_overrides
    to = to[(to.iso3.isin(countries + ["*"]))]
    r, _ = _table(ws, r + 1, 1, to.reset_index(drop=True), lab)
    return r + 2


# ----------------------------------------------------------------------------------------------
# Portfolio risk (issue 19)
# ----------------------------------------------------------------------------------------------
#: Columns of the Portfolio-risk sheet's risk-contribution table, in order.
RISK_PROJECT_COLUMNS = ["id", "name", "mineral", "country_iso3", "fund_krw_bn", "loan_krw_bn", "prob_failure",
                        "prob_default", "expected_loss_sim_krw_bn", "static_expected_loss_krw_bn",
                        "loss_contribution_es99_krw_bn",
                        "fund_npv_mean_krw_bn", "fund_npv_p10_krw_bn", "fund_contribution_es10_krw_bn"]
#: Last calendar year of the target table [year] (issue 19: "by year to 2035").
TARGET_LAST_YEAR = 2035
#: Rows per block of the S-curve table (101 points in three side-by-side blocks).
S_CURVE_BLOCK_ROWS = 34
_PROB_FMT = "0.0%"


def _risk_key_figures(pr, lab: xs.Labels) -> list[tuple[str, Any, str | None]]:
    m2 = "#,##0.00"
    return [(lab("col.loan_loss_expected_krw_bn"), pr.loan_loss_expected_krw_bn, m2),
            (lab("col.static_expected_loss_krw_bn"), pr.static_expected_loss_krw_bn, m2),
            (lab("col.loan_loss_p95_krw_bn"), pr.loan_loss_p95_krw_bn, m2),
            (lab("col.loan_loss_p99_krw_bn"), pr.loan_loss_p99_krw_bn, m2),
            (lab("col.loan_loss_es99_krw_bn"), pr.loan_loss_es99_krw_bn, m2),
            (lab("col.loss_threshold_krw_bn", share=pr.loss_threshold_share), pr.loss_threshold_krw_bn, m2),
            (lab("col.prob_loss_exceeds_threshold"), pr.prob_loss_exceeds_threshold, _PROB_FMT),
            (lab("col.fund_npv_mean_krw_bn"), pr.fund_npv_mean_krw_bn, m2),
            (lab("col.fund_npv_p10_krw_bn"), pr.fund_npv_p10_krw_bn, m2),
            (lab("col.fund_npv_p50_krw_bn"), pr.fund_npv_p50_krw_bn, m2),
            (lab("col.fund_npv_p90_krw_bn"), pr.fund_npv_p90_krw_bn, m2),
            (lab("col.fund_npv_es10_krw_bn"), pr.fund_npv_es10_krw_bn, m2),
            (lab("col.prob_fund_loss"), pr.prob_fund_loss, _PROB_FMT)]


def target_probability_table(pr, last_year: int = TARGET_LAST_YEAR) -> pd.DataFrame:
    """Mineral x calendar year (to ``last_year``): P(the programme's target is met: the top
    supplier's share of Korea's imports at or below it) [fraction], from ``PortfolioRisk.target``."""
    t = pr.target[pr.target["year"] <= last_year]
    if not len(t):
        return pd.DataFrame(columns=["mineral"])
    piv = t.pivot(index="mineral", columns="year", values="prob_target_met").sort_index()
    piv.columns = [int(c) for c in piv.columns]
    return piv.reset_index()


def _risk_projects_frame(pr, evaluation) -> pd.DataFrame:
    # the simulated expected loss beside the static one, each named by its basis
    t = pr.projects.reset_index().rename(columns={"expected_loss_krw_bn": "expected_loss_sim_krw_bn"})
    names = evaluation.metrics["name"] if "name" in evaluation.metrics.columns else pd.Series(dtype=object)
    t["name"] = t["id"].astype(str).map(lambda i: names.get(i, ""))
    return t[[c for c in RISK_PROJECT_COLUMNS if c in t.columns]]


def _write_s_curve(ws, r: int, left: int, pr, lab: xs.Labels) -> tuple[int, list[tuple[int, int]]]:
    """The loan-loss and fund-NPV S-curves in side-by-side blocks (probability, loss, fund NPV)
    from column ``left``; returns the last row and each block's (first data row, last data row)."""
    curve = pd.DataFrame({"probability": pr.loan_loss_s_curve["probability"].to_numpy(),
                          "loss_krw_bn": pr.loan_loss_s_curve["loss_krw_bn"].to_numpy(),
                          "fund_npv_krw_bn": pr.fund_npv_s_curve["fund_npv_krw_bn"].to_numpy()})
    blocks, last = [], r
    for k, start in enumerate(range(0, len(curve), S_CURVE_BLOCK_ROWS)):
        part = curve.iloc[start:start + S_CURVE_BLOCK_ROWS]
        end, _ = _table(ws, r, left + 3 * k, part, lab, {"probability": "0%", "loss_krw_bn": "#,##0.00",
                                                         "fund_npv_krw_bn": "#,##0.00"})
        blocks.append((r + 1, end))
        last = max(last, end)
    return last, blocks


def _risk_charts(ws, r: int, lab: xs.Labels, left: int, blocks, hist_top: int, hist_last: int) -> None:
    """At row ``r``: the histogram of the book's total loss and its S-curve (probability of not
    exceeding), side by side."""
    from openpyxl.chart import ScatterChart, Series

    bar = BarChart()
    bar.title = lab("text.risk_histogram_chart")
    bar.y_axis.title, bar.x_axis.title = lab("col.share_of_paths"), lab("col.bin_right_krw_bn")
    bar.y_axis.number_format = "0%"
    bar.add_data(Reference(ws, min_col=3, min_row=hist_top + 1, max_row=hist_last), titles_from_data=False)
    bar.set_categories(Reference(ws, min_col=2, min_row=hist_top + 1, max_row=hist_last))
    bar.legend = None
    bar.height, bar.width = 7.5, 14
    ws.add_chart(bar, f"A{r}")
    sc = ScatterChart()
    sc.title = lab("text.risk_s_curve_chart")
    sc.x_axis.title, sc.y_axis.title = lab("col.loss_krw_bn"), lab("col.probability")
    sc.y_axis.number_format = "0%"
    sc.y_axis.scaling.min, sc.y_axis.scaling.max = 0.0, 1.0
    for k, (first, last) in enumerate(blocks):
        ser = Series(Reference(ws, min_col=left + 3 * k, min_row=first, max_row=last),
                     Reference(ws, min_col=left + 1 + 3 * k, min_row=first, max_row=last))
        ser.marker.symbol = "none"
        ser.graphicalProperties.line.solidFill = "1F3864"
        sc.series.append(ser)
    sc.legend = None
    sc.height, sc.width = 7.5, 14
    ws.add_chart(sc, f"F{r}")


def _write_portfolio_risk(ws, pr, evaluation, scenario, lab: xs.Labels | None = None) -> dict:
    """The ``Portfolio risk`` sheet: key figures of the loan book and the fund beside the loss by
    year; the probability of meeting the target per mineral by year; each project's risk
    contribution (first page); the loss histogram beside the S-curves, and two charts (second
    page). Every figure is the :class:`evaluator.uncertainty.PortfolioRisk`'s, written as a value.

    Returns
    -------
    dict
        Header row of each block (``key``, ``by_year``, ``target``, ``projects``, ``histogram``,
        ``s_curve``).
    """
    lab = lab or xs.load_labels("en")
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 34
    for j in range(3, 14):
        ws.column_dimensions[_col(j)].width = 13
    _title(ws, lab("text.risk_title"))
    _wide_text(ws, 2, lab("text.risk_subtitle", n=pr.n_paths, seed=pr.seed, vol=pr.vol_scale,
                          failures=lab.yes_no(bool(pr.failures))), "Note", 1, 13)
    rows: dict[str, int] = {"key": 5, "by_year": 5}
    xs.put_text(ws, 4, 1, lab("text.risk_key"), "Subtitle")
    r_key = _kv(ws, 5, _risk_key_figures(pr, lab))
    xs.put_text(ws, 4, 4, lab("text.risk_by_year"), "Subtitle")
    r_year, _ = _table(ws, 5, 4, pr.loan_loss_by_year, lab, {"year": "0", "prob_any_loss": _PROB_FMT,
                                                           "expected_krw_bn": "#,##0.00", "p95_krw_bn": "#,##0.00",
                                                           "p99_krw_bn": "#,##0.00"})
    r = max(r_key, r_year + 1) + 1
    _wide_text(ws, r, pr.expected_loss_note().text(lab.language), "Note", 1, 13)   # why static and simulated differ
    r += 2
    xs.put_text(ws, r, 1, lab("text.risk_target", target=scenario.target_single_supplier_share), "Subtitle")
    rows["target"] = r + 1
    piv = target_probability_table(pr)
    r, _ = _table(ws, r + 1, 1, piv, lab, {c: "0%" for c in piv.columns if c != "mineral"})
    r += 2
    xs.put_text(ws, r, 1, lab("text.risk_projects"), "Subtitle")
    rows["projects"] = top = r + 1
    proj = _risk_projects_frame(pr, evaluation)
    r, _ = _table(ws, top, 1, proj, lab, {"prob_failure": _PROB_FMT, "prob_default": _PROB_FMT})
    ws.row_dimensions[top].height = 60
    xs.put_text(ws, r + 1, 1, lab("text.total"), "Total")
    for key in ("fund_krw_bn", "loan_krw_bn", "expected_loss_sim_krw_bn", "static_expected_loss_krw_bn",
                "loss_contribution_es99_krw_bn", "fund_contribution_es10_krw_bn"):
        j = list(proj.columns).index(key) + 1
        c = ws.cell(row=r + 1, column=j, value=f"=SUM({_col(j)}{top + 1}:{_col(j)}{r})")
        xs.apply_style(c, "Total", xs.FMT_MONEY)
    _wide_text(ws, r + 2, lab("text.risk_contrib_note"), "Note", 1, 13)
    r += 4
    ws.row_breaks.append(Break(id=r - 1))
    xs.put_text(ws, r, 1, lab("text.risk_histogram"), "Subtitle")
    xs.put_text(ws, r, 5, lab("text.risk_s_curve"), "Subtitle")
    rows["histogram"] = rows["s_curve"] = r + 1
    hist_last, _ = _table(ws, r + 1, 1, pr.loan_loss_histogram, lab, {"share_of_paths": _PROB_FMT,
                                                                     "bin_left_krw_bn": "#,##0.00",
                                                                     "bin_right_krw_bn": "#,##0.00"})
    s_last, blocks = _write_s_curve(ws, r + 1, 5, pr, lab)
    _risk_charts(ws, max(hist_last, s_last) + 2, lab, 5, blocks, r + 1, hist_last)
    xs.print_setup(ws, footer=lab("text.page_footer"))
    return rows


# ----------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------
def _tornado_for(evaluation, scenario, ref, ids: list[str]) -> pd.DataFrame | None:
    """The one-at-a-time NPV swings of the project pages (None without reference data)."""
    if ref is None or not ids:
        return None
    from evaluator.uncertainty import tornado

    return tornado(list(evaluation.applications), scenario, ref, ids=ids)


def _utc_naive(generated_at):
    """The report's time stamp in UTC without a time zone (now when None); KST is worded where shown."""
    if generated_at is None:
        return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    if getattr(generated_at, "tzinfo", None) is not None:
        return generated_at.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return generated_at


def _write_memos(memo_sheets, ctx, notes, left_out) -> None:
    """One memo per (id, sheet), with the officer's notes and why a left-out project is left out."""
    for app_id, ws in memo_sheets:
        memo.write_memo(ws, ctx, app_id, notes.get(app_id),
                        None if left_out is None or app_id not in left_out.index else left_out.at[app_id, "explanation"])
        ws.sheet_properties.tabColor = "F4B183"


def build_report(evaluation, scenario, *, scores=None, allocation=None, allocation_summary=None, supply=None,
                 supply_by_year=None, cashflow_ids=None, decision=None, generated_at=None, ref=None,
                 top_n: int = DEFAULT_TOP_N, simulation=None, language: str = "en", portfolio_risk=None,
                 officer_notes=None, left_out=None) -> bytes:
    """Build the committee workbook and return it as ``.xlsx`` bytes (nothing touches disk).

    Sheets: a one-page ``Summary``; a committee memo per project decided on
    (:func:`evaluator.memo.memo_ids`); one page per funded or contested project
    (:func:`project_page_ids`); ``Ranking``, ``Allocation``, ``Supply``; the live cash-flow sheets;
    ``Assumptions``; ``Decision`` (when given). Every sheet prints landscape, one page wide.

    Parameters
    ----------
    evaluation : evaluator.evaluate.Evaluation
        Cash flows and metrics of every application.
    scenario : models.scenario.Scenario
    scores : pandas.DataFrame, optional
        From ``evaluator.pipeline.run``: index or column ``id``; columns ``score`` [0-100],
        ``rank``, ``contrib_*`` [score points], ``eligible`` [bool], ``ineligible_reasons``
        (text or list), ``expected_loss_krw_bn``, ``china_share_after`` [fraction], and when the
        simulation ran ``npv_p10_usd_m`` [USD m] and ``prob_npv_negative`` [fraction].
    allocation : pandas.DataFrame, optional
        Index or column ``id``; ``fund_krw_bn``, ``loan_krw_bn`` [KRW bn]; optional
        ``coverage_share`` [fraction], ``expected_loss_krw_bn``, ``fraction``, ``note``. Projects
        with a positive amount count as funded.
    allocation_summary : mapping or AllocationSummary, optional
        ``objective``, ``status``, ``optimal``, ``mip_gap``, ``solve_time_s``, ``binding``
        (list of str), ``marginal_values`` or ``marginal_value_per_krw_bn``, ``expected_loss_krw_bn``.
    supply : pandas.DataFrame, optional
        One row per mineral: ``mineral``, ``china_share_before``, ``china_share_after``
        [fraction], and further measures. Without it the Supply sheet shows the baseline.
    supply_by_year : pandas.DataFrame, optional
        Long table ``mineral``, ``year``, ``china_share_after`` (or ``china_share``) [fraction].
    cashflow_ids : sequence of str, optional
        Projects given a live cash-flow sheet; default the funded ones, else the ``top_n`` by NPV.
    decision : mapping, optional
        The committee's decision record (item -> text): a ``Decision`` sheet, and a line on the
        Summary and the Ranking.
    generated_at : datetime, optional
        Timestamp shown on the Summary (default: now, UTC); pass one for reproducible bytes.
    ref : evaluator.reference.ReferenceData, optional
        Reference tables for the Assumptions sheet and the tornado (default: the bundled ones).
    simulation : evaluator.uncertainty.SimulationResult, optional
        Percentiles on the project pages and P10 NPV / P(NPV < 0) on the Summary.
    language : {'en', 'ko'}
        Language of every label, header, sheet name and note (``evaluator/data/report_labels_*.toml``).
    portfolio_risk : evaluator.uncertainty.PortfolioRisk, optional
        The funded portfolio's joint simulation (issue 19): its key figures on the Summary and a
        ``Portfolio risk`` sheet after the Allocation.
    officer_notes : mapping, optional
        The officer's recommendation, opinion and conditions per application id, printed in the
        memos (:func:`evaluator.memo.clean_notes`).
    left_out : pandas.DataFrame, optional
        Index id, column ``explanation``: why a left-out project is left out, in words with the
        number (:func:`evaluator.left_out.explain_left_out`), printed on its memo.

    Returns
    -------
    bytes
        The ``.xlsx`` file.
    """
    import evaluator

    lab = xs.load_labels(language)
    if ref is None:
        from evaluator.reference import load_reference

        ref = load_reference()
    generated_at = _utc_naive(generated_at)
    scores_df = _by_id(scores, "scores")
    alloc_df = _funded(_by_id(allocation, "allocation"))
    cf_ids = cashflow_sheet_ids(evaluation, alloc_df, cashflow_ids, top_n)
    page_ids = project_page_ids(evaluation, scores_df, alloc_df, top_n)
    supply_table = _supply_table(supply) if supply is not None else _baseline_supply(evaluation, scenario, ref)
    ctx = _Context(evaluation, scenario, lab, scores_df, alloc_df, allocation_summary, supply_table,
                   None if supply_by_year is None else pd.DataFrame(supply_by_year), simulation, decision, ref,
                   page_ids, tornado=_tornado_for(evaluation, scenario, ref, page_ids), portfolio_risk=portfolio_risk)

    wb = Workbook()
    xs.ensure_styles(wb)
    titles: list[str] = []

    def new_sheet(name):
        t = xs.safe_sheet_title(name, titles)
        titles.append(t)
        ws = wb.active if len(titles) == 1 else wb.create_sheet(t)
        ws.title = t
        return ws

    ws_sum = new_sheet(lab("sheet.summary"))
    notes = memo.clean_notes(officer_notes)
    memo_sheets = [(i, new_sheet(lab("sheet.memo", id=i))) for i in memo_page_ids(evaluation, scores_df, alloc_df, top_n)]
    project_sheets = [(i, new_sheet(lab("sheet.project", id=i))) for i in page_ids]
    ws_rank = new_sheet(lab("sheet.ranking"))
    ws_alloc = new_sheet(lab("sheet.allocation"))
    ws_risk = new_sheet(lab("sheet.portfolio_risk")) if portfolio_risk is not None else None
    ws_sup = new_sheet(lab("sheet.supply"))
    for app_id in cf_ids:
        ws = new_sheet(lab("sheet.cashflow", id=app_id))
        ctx.cf_sheets[app_id] = ws.title
        _write_cashflow_sheet(ws, evaluation, scenario, app_id, lab)
        ws.sheet_properties.tabColor = "A9D08E"
    _write_ranking(ws_rank, evaluation, scores_df, scenario.lender_min_dscr, alloc_df, decision, lab)
    _write_allocation(ws_alloc, evaluation, scenario, alloc_df, allocation_summary, lab)
    if ws_risk is not None:
        _write_portfolio_risk(ws_risk, portfolio_risk, evaluation, scenario, lab)
    _write_supply(ws_sup, evaluation, scenario, supply, supply_by_year, ref, lab)
    _write_assumptions(new_sheet(lab("sheet.assumptions")), evaluation, scenario, ref, lab)
    if decision and not decision.get("for_other_figures"):
        _write_decision(new_sheet(lab("sheet.decision")), decision, lab)
    _write_memos(memo_sheets, ctx, notes, left_out)
    for app_id, ws in project_sheets:
        _write_project(ws, ctx, app_id)
        ws.sheet_properties.tabColor = "9DC3E6"
    _write_summary(ws_sum, ctx, generated_at, evaluator.__version__)
    ws_sum.sheet_properties.tabColor = "1F3864"
    wb.calculation.fullCalcOnLoad = True  # Excel recomputes every formula when it opens the file
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def build_pipeline_report(result, scenario, *, ref=None, cashflow_ids=None, decision=None, generated_at=None,
                          top_n: int = DEFAULT_TOP_N, language: str = "en", portfolio_risk=None,
                          officer_notes=None) -> bytes:
    """The committee workbook of one :class:`evaluator.pipeline.PipelineResult`.

    The one mapping from the pipeline's result to the workbook: the app's Report page and the
    ``report`` command both call it, so the same inputs give the same numbers. The ranking
    carries the simulated P10 NPV and P(NPV < 0), and the project pages the simulated
    percentiles, when the simulation has run. ``language``: ``en`` or ``ko``. ``portfolio_risk``:
    the :class:`evaluator.uncertainty.PortfolioRisk` of this result's allocation
    (``portfolio_risk_of_result``), when computed: key figures on the Summary and a ``Portfolio
    risk`` sheet. ``officer_notes``: the officer's memo notes per application id.
    """
    kw = {}
    reasons = pd.Series({i: tuple(result.scores.reasons.get(str(i), ())) for i in result.ranking.index}, dtype=object)
    if result.allocation is not None:
        from evaluator.left_out import explain_left_out

        if ref is None:
            from evaluator.reference import load_reference

            ref = load_reference()
        contested = [i for i in memo_page_ids(result.evaluation, result.ranking, result.allocation.table, top_n)
                     if not bool(result.allocation.table.at[i, "selected"])]
        left_out = explain_left_out(result.allocation, scenario, ref, ids=contested, language=language) if contested else None
        kw = dict(allocation=result.allocation.table.assign(ineligible_messages=reasons), left_out=left_out,
                  allocation_summary=result.summary.as_record(),
                  supply=result.supply.effect.reset_index() if not result.supply.effect.empty else None,
                  supply_by_year=result.supply.by_year)
    # the screens as the engine's messages, worded in the report's language (not parsed back from English)
    ranking = result.ranking.assign(ineligible_messages=reasons)
    return build_report(result.evaluation, scenario, scores=ranking, cashflow_ids=cashflow_ids,
                        decision=decision, generated_at=generated_at, ref=ref, top_n=top_n,
                        simulation=result.simulation, language=language, portfolio_risk=portfolio_risk,
                        officer_notes=officer_notes, **kw)
