"""One page per funded or contested project."""

from __future__ import annotations

import pandas as pd
from openpyxl.formatting.rule import DataBarRule

from evaluator import xlsx_style as xs
from evaluator.krw import krw_text
from evaluator.report.cells import _kv, _table, _table_columns, _title, _wide_text
from evaluator.report.context import _TORNADO_COLUMNS, _Context
from evaluator.report.wording import reasons_text

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
        return lab("text.project_status_funded", fund=krw_text(a["fund_krw_bn"], lab.language),
                   loan=krw_text(a["loan_krw_bn"], lab.language), fraction=frac)
    if ctx.score_of(app_id, "eligible") is False:
        return lab("text.project_status_ineligible", reasons=reasons_text(ctx.reasons_of(app_id) or ctx.score_of(app_id, "ineligible_reasons"), lab))
    return lab("text.project_status_contested", rank=ctx.score_of(app_id, "rank"))


_FIGURES = [("rank", "0"), ("score", xs.FMT_SCORE), ("npv_usd_m", xs.FMT_MONEY), ("npv_krw_bn", xs.FMT_KRW),
            ("irr", xs.FMT_PCT), ("discount_rate", xs.FMT_PCT), ("payback_years", "0.0"), ("min_dscr", "0.00"),
            ("llcr", "0.00"), ("support_request_krw_bn", xs.FMT_KRW), ("coverage_share", xs.FMT_PCT),
            ("expected_loss_krw_bn", xs.FMT_KRW)]
_COUNTRY = [("country_risk_score", "0.0"), ("risk_premium", xs.FMT_PCT2), ("pd_cumulative", xs.FMT_PCT)]
_DIVERSIFICATION = [("diversification_score", "0.0"), ("china_share_before", xs.FMT_PCT),
                    ("china_share_after", xs.FMT_PCT), ("delta_top_share", "0.0%"), ("target_progress", xs.FMT_PCT),
                    ("korea_offtake_t_full", xs.FMT_TONNES), ("korea_offtake_t_target_year", xs.FMT_TONNES),
                    ("korea_offtake_t_per_year", xs.FMT_TONNES)]
_SIMULATED = [("npv_mean_usd_m", xs.FMT_MONEY), ("npv_p10_usd_m", xs.FMT_MONEY), ("npv_p50_usd_m", xs.FMT_MONEY),
              ("npv_p90_usd_m", xs.FMT_MONEY), ("npv_cvar10_usd_m", xs.FMT_MONEY), ("prob_npv_negative", xs.FMT_PCT),
              ("prob_min_dscr_below_1", xs.FMT_PCT), ("expected_loss_sim_krw_bn", xs.FMT_KRW)]


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
        r = _kv(ws, r, [(lab.col("fund_krw_bn"), float(ctx.alloc.at[app_id, "fund_krw_bn"]), xs.FMT_KRW),
                        (lab.col("loan_krw_bn"), float(ctx.alloc.at[app_id, "loan_krw_bn"]), xs.FMT_KRW)])
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
