"""The Portfolio-risk sheet (issue 19)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from openpyxl.chart import BarChart, Reference
from openpyxl.worksheet.pagebreak import Break

from evaluator import xlsx_style as xs
from evaluator.report.cells import _col, _kv, _table, _title, _wide_text

# ----------------------------------------------------------------------------------------------
# Portfolio risk (issue 19)
# ----------------------------------------------------------------------------------------------
#: Columns of the Portfolio-risk sheet's risk-contribution table, in order.
RISK_PROJECT_COLUMNS = ["id", "name", "mineral", "country_iso3", "fund_krw_bn", "loan_krw_bn", "prob_failure",
                        "prob_default", "expected_loss_sim_krw_bn", "static_expected_loss_krw_bn",
                        "loss_contribution_es99_krw_bn",
                        "fund_npv_mean_krw_bn", "fund_npv_p10_krw_bn", "fund_contribution_es10_krw_bn",
                        "expected_levy_krw_bn", "expected_net_cost_krw_bn"]
#: Last calendar year of the target table [year] (issue 19: "by year to 2035").
TARGET_LAST_YEAR = 2035
#: Rows per block of the S-curve table (101 points in three side-by-side blocks).
S_CURVE_BLOCK_ROWS = 34
_PROB_FMT = "0.0%"


def _risk_key_figures(pr, lab: xs.Labels) -> list[tuple[str, Any, str | None]]:
    m2 = xs.FMT_KRW
    return [(lab("col.loan_loss_expected_krw_bn"), pr.loan_loss_expected_krw_bn, m2),
            (lab("col.static_expected_loss_krw_bn"), pr.static_expected_loss_krw_bn, m2),
            # the special levy the successful borrowers pay and the government's net cost (issue 23)
            (lab("col.loan_levy_expected_krw_bn"), pr.loan_levy_expected_krw_bn, m2),
            (lab("col.static_expected_levy_krw_bn"), pr.static_expected_levy_krw_bn, m2),
            (lab("col.loan_net_cost_expected_krw_bn"), pr.loan_net_cost_expected_krw_bn, m2),
            (lab("col.loan_net_cost_p95_krw_bn"), pr.loan_net_cost_p95_krw_bn, m2),
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
        end, _ = _table(ws, r, left + 3 * k, part, lab, {"probability": "0%", "loss_krw_bn": xs.FMT_KRW,
                                                         "fund_npv_krw_bn": xs.FMT_KRW})
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
                                                           "expected_krw_bn": xs.FMT_KRW, "p95_krw_bn": xs.FMT_KRW,
                                                           "p99_krw_bn": xs.FMT_KRW})
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
                "expected_levy_krw_bn", "expected_net_cost_krw_bn",
                "loss_contribution_es99_krw_bn", "fund_contribution_es10_krw_bn"):
        j = list(proj.columns).index(key) + 1
        c = ws.cell(row=r + 1, column=j, value=f"=SUM({_col(j)}{top + 1}:{_col(j)}{r})")
        xs.apply_style(c, "Total", xs.FMT_KRW)
    _wide_text(ws, r + 2, lab("text.risk_contrib_note"), "Note", 1, 13)
    r += 4
    ws.row_breaks.append(Break(id=r - 1))
    xs.put_text(ws, r, 1, lab("text.risk_histogram"), "Subtitle")
    xs.put_text(ws, r, 5, lab("text.risk_s_curve"), "Subtitle")
    rows["histogram"] = rows["s_curve"] = r + 1
    hist_last, _ = _table(ws, r + 1, 1, pr.loan_loss_histogram, lab, {"share_of_paths": _PROB_FMT,
                                                                     "bin_left_krw_bn": xs.FMT_KRW,
                                                                     "bin_right_krw_bn": xs.FMT_KRW})
    s_last, blocks = _write_s_curve(ws, r + 1, 5, pr, lab)
    _risk_charts(ws, max(hist_last, s_last) + 2, lab, 5, blocks, r + 1, hist_last)
    xs.print_setup(ws, footer=lab("text.page_footer"))
    return rows
