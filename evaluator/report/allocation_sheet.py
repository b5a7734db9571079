"""The Allocation sheet."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from evaluator import messages
from evaluator import xlsx_style as xs
from evaluator.report.cells import _col, _display_columns, _kv, _title, _wide_text, _wrap_rows
from evaluator.report.pack import _funded
from evaluator.report.wording import _summary_get, binding_messages

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
                xs.apply_style(c, "Calc", xs.FMT_KRW)
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
        xs.put_value(ws, r, 2, float(budget), "Input", xs.FMT_KRW)
        u = used.get(key)
        if u is None:
            xs.put_text(ws, r, 3, lab("text.not_allocated"), "Note")
        else:
            c = ws.cell(row=r, column=3, value=u)
            xs.apply_style(c, ("Calc" if isinstance(u, str) else "Value"), xs.FMT_KRW)
            for col, f, fmt in ((4, f"=B{r}-C{r}", xs.FMT_KRW), (5, f'=IFERROR(C{r}/B{r},"{lab("text.na")}")', xs.FMT_PCT)):
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
                xs.apply_style(c, "Total", xs.FMT_KRW)
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
    # score-weighted support is an amount: shown as one (in 억원 in Korean), with its meaning in words below
    weighted = _summary_get(summary, "objective_name") in (None, "score_weighted_support")
    items = [(lab("text.objective"), _summary_get(summary, "objective"), xs.FMT_KRW if weighted else "#,##0.000"),
             (lab("text.status"), lab.get("status", status) if status is not None else lab("status.not_run"), None),
             (lab("text.proven_optimal"), lab.yes_no(_summary_get(summary, "optimal")), None),
             (lab("text.mip_gap"), _summary_get(summary, "mip_gap"), "0.00%"),
             (lab("text.solve_time"), _summary_get(summary, "solve_time_s"), "0.000")]
    r = _kv(ws, r, items)
    if weighted:
        _wide_text(ws, r, lab("text.objective_plain"), "Note", 1, 8)
        r += 1
    r += 1
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
