"""Cash-flow sheets (live formulas), one per funded or asked project."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluator import xlsx_style as xs
from evaluator.report.cells import _col, _source, _title


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
    scalars = _scalars(scenario, lab, inp, i, m, src, rate, irr_py, fp, lp)
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

    w = _Lines(ws, n, r)
    if features:
        _extended_lines(w, ws, lab, inp, i, frame, ref, features)
    else:
        _flat_lines(w, lab, frame, ref, per_row)
    r, rows = w.r, w.rows

    npv_row, irr_row, f = _write_results(ws, r, lab, ref, rows["fcf"], m, irr_py, w)

    ws.freeze_panes = ws.cell(row=per_row + 1, column=first_c)
    ws.column_dimensions["A"].width = 58
    ws.column_dimensions["B"].width = 16
    for k in range(n):
        ws.column_dimensions[_col(first_c + k)].width = 11
    ws.column_dimensions["C"].width = max(ws.column_dimensions["C"].width or 11, 12)
    xs.print_setup(ws, title_rows=f"{per_row}:{per_row + 1}", footer=lab("text.page_footer"))
    return {"npv": f"B{npv_row}", "irr": f"B{irr_row}", "fcf_row": f, "first_col": C0, "last_col": CL}


def _scalars(scenario, lab: xs.Labels, inp, i: int, m, src, rate: float, irr_py: float, fp: int, lp: int) -> list:
    """The cash-flow sheet's inputs: ``(key, label, value, number format, source)`` per scalar."""
    return [
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


class _Lines:
    """The timeline's lines of a cash-flow sheet as they are written: the next row ``r`` and the
    row of each line by key (``rows``)."""

    def __init__(self, ws, n: int, r: int):
        self.ws, self.n, self.r = ws, n, r
        self.rows: dict[str, int] = {}
        self.first_c = 3
        self.C0, self.CL = _col(self.first_c), _col(self.first_c + n - 1)

    def R(self, key, L):
        """The cell of line ``key`` in column ``L`` (the formulas' notation)."""
        return f"{L}{self.rows[key]}"

    def input_row(self, key, label, values, fmt, total=True):
        ws, r, first_c, C0, CL = self.ws, self.r, self.first_c, self.C0, self.CL
        self.rows[key] = r
        xs.put_text(ws, r, 1, label, "Label")
        for k, v in enumerate(values):
            xs.put_value(ws, r, first_c + k, float(v), "Input", fmt)
        if total:
            c = ws.cell(row=r, column=2, value=f"=SUM({C0}{r}:{CL}{r})")
            xs.apply_style(c, "Calc", fmt)
        self.r += 1

    def formula_row(self, key, label, make, fmt=xs.FMT_MONEY2, style="Calc", opening=None):
        """``make(L, P)`` -> formula text for column letter L (P = previous column or None)."""
        ws, r, first_c = self.ws, self.r, self.first_c
        self.rows[key] = r
        xs.put_text(ws, r, 1, label, "Label" if style != "Total" else "Total")
        if opening is not None:
            c = ws.cell(row=r, column=2, value=opening)
            xs.apply_style(c, "Calc", fmt)
        for k in range(self.n):
            L = _col(first_c + k)
            P = _col(first_c + k - 1)
            c = ws.cell(row=r, column=first_c + k, value="=" + make(L, P, k))
            xs.apply_style(c, style, fmt)
        self.r += 1

    def value_row(self, key, label, values, fmt=xs.FMT_MONEY2):
        """The model's own line as values (a law the sheet's formulas cannot express), marked *."""
        ws, r, first_c, C0, CL = self.ws, self.r, self.first_c, self.C0, self.CL
        self.rows[key] = r
        xs.put_text(ws, r, 1, f"{label} *", "Label")
        for k, v in enumerate(values):
            xs.put_value(ws, r, first_c + k, float(v), "Value", fmt)
        c = ws.cell(row=r, column=2, value=f"=SUM({C0}{r}:{CL}{r})")
        xs.apply_style(c, "Calc", fmt)
        self.r += 1


def _extended_lines(w: _Lines, ws, lab: xs.Labels, inp, i: int, frame, ref: dict, features: list[str]):
    """The timeline of a project with extended features: the model's lines as values where the
    flat formulas cannot express its law (see :func:`_write_cashflow_sheet`)."""
    input_row, formula_row, value_row, R = w.input_row, w.formula_row, w.value_row, w.R
    n = w.n
    xs.put_text(ws, 3, 1, lab("text.cf_extended_note", features=_features_text(features, lab)), "Note")
    price = _price_by_period(inp, i, n)
    primary = frame["payable_t"].to_numpy() * price / 1e6
    input_row("ore", lab("cf.row_ore"), frame["ore_mt"], xs.FMT_MT)
    input_row("init", lab("cf.row_init_schedule"), frame["initial_capex_usd_m"], xs.FMT_MONEY2)
    input_row("sust", lab("cf.row_sust"), frame["sustaining_capex_usd_m"], xs.FMT_MONEY2)
    input_row("closure", lab("cf.row_closure"), frame["closure_usd_m"], xs.FMT_MONEY2)
    input_row("price", lab("cf.row_price"), price, xs.FMT_PRICE, total=False)
    w.r += 1
    xs.put_text(ws, w.r, 1, lab("text.cf_formulas_extended"), "Subtitle")
    w.r += 1
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
    wc_row = w.r
    formula_row("wc", lab("cf.row_wc"), lambda L, P, k: f"{R('rev', L)}*{ref['wcs']}", opening=f"={ref['wc0']}")
    formula_row("dwc", lab("cf.row_dwc"), lambda L, P, k: f"{L}{wc_row}-{P}{wc_row}")
    formula_row("fcf", lab("cf.row_fcf"),
                lambda L, P, k: (f"{R('ebitda', L)}-{R('taxpaid', L)}+{R('credit', L)}-{R('init', L)}"
                                 f"-{R('sust', L)}-{R('closure', L)}-{R('dwc', L)}"), style="Total")
    formula_row("cfads", lab("cf.row_cfads"),
                lambda L, P, k: f"{R('ebitda', L)}-{R('taxpaid', L)}+{R('credit', L)}-{R('sust', L)}-{R('dwc', L)}")


def _flat_lines(w: _Lines, lab: xs.Labels, frame, ref: dict, per_row: int):
    """The timeline of a project the flat formulas reproduce: every line a live formula."""
    ws, rows, C0, CL = w.ws, w.rows, w.C0, w.CL
    input_row, formula_row, R = w.input_row, w.formula_row, w.R
    per = lambda L: f"{L}${per_row}"  # noqa: E731
    periods_rng = f"${C0}${per_row}:${CL}${per_row}"
    input_row("ore", lab("cf.row_ore"), frame["ore_mt"], xs.FMT_MT)
    input_row("init", lab("cf.row_init"), frame["initial_capex_usd_m"], xs.FMT_MONEY2)
    w.r += 1
    xs.put_text(ws, w.r, 1, lab("text.cf_formulas"), "Subtitle")
    w.r += 1
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
    t_row = w.r  # the next row: cumulative taxed income, opening value in column B
    formula_row("taxed", lab("cf.row_taxed"),
                lambda L, P, k: f"MAX({P}{t_row},{R('cum', L)})", opening=f"={ref['t0']}")
    formula_row("taxable", lab("cf.row_taxable"), lambda L, P, k: f"{R('taxed', L)}-{P}{rows['taxed']}")
    formula_row("taxpaid", lab("cf.row_taxpaid"), lambda L, P, k: f"{R('taxable', L)}*{ref['tax']}")
    formula_row("closure", lab("cf.row_closure"), lambda L, P, k: f"({per(L)}={ref['clp']})*{ref['closure']}")
    wc_row = w.r
    formula_row("wc", lab("cf.row_wc"), lambda L, P, k: f"{R('rev', L)}*{ref['wcs']}", opening=f"={ref['wc0']}")
    formula_row("dwc", lab("cf.row_dwc"), lambda L, P, k: f"{L}{wc_row}-{P}{wc_row}")
    formula_row("fcf", lab("cf.row_fcf"),
                lambda L, P, k: f"{R('ebitda', L)}-{R('taxpaid', L)}-{R('init', L)}-{R('sust', L)}-{R('closure', L)}-{R('dwc', L)}",
                style="Total")
    formula_row("cfads", lab("cf.row_cfads"),
                lambda L, P, k: f"{R('ebitda', L)}-{R('taxpaid', L)}-{R('sust', L)}-{R('dwc', L)}")


def _write_results(ws, r: int, lab: xs.Labels, ref: dict, f: int, m, irr_py: float, w: _Lines):
    """The results block below the timeline (NPV and IRR as formulas next to the model's, their
    differences); returns the rows of NPV and IRR and the row ``f`` of the free cash flow."""
    n, first_c, C0, CL = w.n, w.first_c, w.C0, w.CL
    # ---- results
    r += 1
    xs.put_text(ws, r, 1, lab("text.cf_results"), "Subtitle")
    xs.put_text(ws, r, 2, lab("text.cf_formula"), "Header")
    xs.put_text(ws, r, 3, lab("text.cf_app"), "Header")
    xs.put_text(ws, r, 4, lab("text.cf_difference"), "Header")
    r += 1
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
    return npv_row, irr_row, f
