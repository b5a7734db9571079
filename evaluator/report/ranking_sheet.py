"""The Ranking sheet."""

from __future__ import annotations

from typing import Mapping

import pandas as pd
from openpyxl.formatting.rule import ColorScaleRule, FormulaRule
from openpyxl.styles import Font

from evaluator import xlsx_style as xs
from evaluator.kst import kst_text
from evaluator.report.cells import _GREEN_FILL, _RED_FILL, _col, _table, _title, _wide_text, _wrap_rows
from evaluator.report.pack import _FUND_TOL
from evaluator.report.wording import reasons_text

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
                   at=kst_text(decision.get("decided_at_utc", "")),
                   note=decision.get("note", "") or "; ".join(f"{k}: {v}" for k, v in decision.items()))
    else:
        text = lab("text.decision_none")
    xs.put_text(ws, row, col, lab("text.ranking_decision"), "Label")
    if last_col:
        _wide_text(ws, row, text, "Value", col + 2, last_col)
    else:
        xs.put_text(ws, row, col + 2, text, "Value")
    return row + 1


#: A4 landscape pages the Ranking's columns print across (its first three columns on each).
RANKING_PAGES_WIDE = 3


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
            "country_risk_score": "0", "loan_cap_share": "0%"}  # amounts [KRW bn]: xs.FMT_KRW by their names
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
    # 36 columns do not read on one A4 width: three pages wide, rank, id and name repeated on each
    ws.page_setup.fitToWidth = RANKING_PAGES_WIDE
    ws.print_title_cols = "A:C"
