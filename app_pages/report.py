"""Report: the committee workbook (Excel) and the tables as CSV, from the session's pipeline result."""

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

import streamlit as st

from app_pages import access, compute, editor, memo_notes, state
from app_pages.fmt import fmt_money, fmt_pct, md_text
from app_pages.i18n import lang, t
from evaluator import pipeline
from evaluator.allocation import AllocationError
from evaluator.portfolio import PortfolioError
from evaluator.report import build_pipeline_report, memo_page_ids
from evaluator.scoring import ScoringError
from evaluator.store import StoreError

#: Officers read times in Korea time.
KST = ZoneInfo("Asia/Seoul")

st.title(t("report"))
scenario = state.current_scenario()
compute.require_evaluation(scenario)
try:
    result = compute.pipeline_result(scenario)
except (AllocationError, PortfolioError, ScoringError) as exc:
    st.error(t("report_not_possible", error=exc))
    st.stop()

st.markdown(t("report_scenario_line", name=md_text(scenario.name), case=t(f"price_case_{scenario.price_case}"),
              rate=fmt_pct(scenario.discount_rate), fx=f"{scenario.fx_krw_per_usd:,.0f}",
              fund=fmt_money(scenario.fund_krw_bn), loans=fmt_money(scenario.loan_krw_bn)))
# what the workbook was built from: a report built for other assumptions is not offered as current
risk = compute.portfolio_risk(scenario)   # included when simulated on the Allocation page
built_for = (state.apps_key(), state.allocation_key(scenario), state.locks(), lang(), risk is not None)
try:
    decision = pipeline.recorded_decision(state.store_path(), scenario, compute.applications(), *state.locks())
except StoreError as exc:
    decision = None
    st.warning(t("store_unreadable", error=exc))
if decision and decision.get("for_other_figures"):
    # a decision exists, but not for these figures: said plainly, never shown as this one's
    st.warning(t("recorded_for_other_figures", id=decision["decision_id"], scenario=md_text(decision["scenario"]),
                 differs=", ".join(t(f"differs_{k}") for k in decision["differs"])))
elif decision:
    st.success(t("decision_in_report", id=decision["decision_id"], by=md_text(decision["decided_by"])))

st.subheader(t("memo_notes"))
st.caption(t("memo_notes_caption"))
table = result.allocation.table if result.allocation is not None else None
memo_notes.editor(memo_page_ids(result.evaluation, result.ranking, table),
                  result.evaluation.metrics["name"].astype(str).to_dict())
notes = memo_notes.current()
edits = editor.session_edit_rows()  # the officer's edits of applicants' figures: the Edits sheet
built_for = built_for + (repr(sorted(notes.items())), repr(edits))

st.caption(t("report_with_risk") if risk is not None else t("report_without_risk"))
if st.button(t("build_report"), key="build_report", type="primary"):
    with st.spinner(t("building_report")):
        st.session_state["report_bytes"] = build_pipeline_report(result, scenario, ref=compute.reference(),
                                                                 decision=decision, language=lang(),
                                                                 portfolio_risk=risk, officer_notes=notes, edits=edits)
        st.session_state["report_built_for"] = built_for
        st.session_state["report_built_at"] = dt.datetime.now(KST).strftime("%Y-%m-%d %H:%M KST")
if st.session_state.get("report_bytes"):
    if st.session_state.get("report_built_for") == built_for:
        st.download_button(t("download_report"), st.session_state["report_bytes"],
                           file_name=f"mineral_fund_report_{dt.datetime.now(KST):%Y%m%d}.xlsx", key="dl_report",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", type="primary",
                           on_click=access.audit, args=("export",),
                           kwargs={"kind": "report", "sha256": hashlib.sha256(st.session_state["report_bytes"]).hexdigest()})
        st.caption(t("report_built_at", at=st.session_state.get("report_built_at")))
    else:
        st.warning(t("report_stale"))

st.subheader(t("tables_as_csv"))
c1, c2 = st.columns(2)
ranking_csv, allocation_csv = compute.csv_bytes(result.ranking), compute.csv_bytes(result.allocation.table)
c1.download_button(t("download_ranking_csv"), ranking_csv, file_name="ranking.csv",
                   mime="text/csv", key="dl_ranking_csv", on_click=access.audit, args=("export",),
                   kwargs={"kind": "ranking.csv", "sha256": hashlib.sha256(ranking_csv).hexdigest()})
c2.download_button(t("download_allocation_csv"), allocation_csv,
                   file_name="allocation.csv", mime="text/csv", key="dl_alloc_csv", on_click=access.audit,
                   args=("export",), kwargs={"kind": "allocation.csv", "sha256": hashlib.sha256(allocation_csv).hexdigest()})
