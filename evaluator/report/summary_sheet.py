"""The Summary sheet (one printed page)."""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd

from evaluator import messages
from evaluator import xlsx_style as xs
from evaluator.krw import krw_text
from evaluator.report.allocation_sheet import _write_budget_rows
from evaluator.report.cells import _col, _kv, _table, _title, _wide_text
from evaluator.report.context import _Context
from evaluator.report.ranking_sheet import _write_decision_line
from evaluator.report.supply_sheet import _by_year_column
from evaluator.report.wording import _summary_get, binding_messages

# ----------------------------------------------------------------------------------------------
# Summary (one printed page)
# ----------------------------------------------------------------------------------------------
#: A funded project whose simulated P(NPV < 0) exceeds this is named among the Summary's key risks
#: [fraction] (a reporting threshold, an assumption of this report, not a programme rule).
PROB_LOSS_FLAG = 0.20


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
        won = lambda x: krw_text(x, lab.language)  # noqa: E731  (억원 / 조원 in Korean, KRW bn in English)
        text = lab("text.decision_asked_text", fund=won(ctx.alloc["fund_krw_bn"].sum()), fund_budget=won(sc.fund_krw_bn),
                   loan=won(ctx.alloc["loan_krw_bn"].sum()), loan_budget=won(sc.loan_krw_bn), n=len(funded),
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
        xs.apply_style(c, "Total", xs.format_for_column(key))
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
    items = [(lab("text.risk_expected_loss"), lab("text.not_allocated") if el is None else el, xs.FMT_KRW)]
    pr = ctx.portfolio_risk
    if pr is not None:
        items += [(lab("text.risk_book_loss"), pr.loan_loss_expected_krw_bn, xs.FMT_KRW),
                  (lab("text.risk_book_p95"), pr.loan_loss_p95_krw_bn, xs.FMT_KRW),
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
