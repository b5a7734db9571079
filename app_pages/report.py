"""Report: the committee workbook (Excel), or CSV tables while the report builder is missing."""

import datetime as dt

import streamlit as st

from app_pages import common as ui

st.title(ui.t("report"))
scenario = ui.current_scenario()
ev = ui.require_evaluation(scenario)

scores = alloc = None
notes = []
try:
    sc = ui.scores(scenario) if ui.optional_module("supply") else None
    scores = sc[2].table if sc else None
except Exception as exc:
    notes.append(f"ranking left out ({exc})")
try:
    alloc = ui.allocation(scenario) if scores is not None and ui.optional_module("portfolio") else None
except Exception as exc:
    notes.append(f"allocation left out ({exc})")
for n in notes:
    st.warning(f"The report is built without part of the analysis: {n}.")

st.markdown(f"Scenario **{scenario.name}**: price deck {scenario.price_case}, discount rate "
            f"{ui.fmt_pct(scenario.discount_rate)}, FX {scenario.fx_krw_per_usd:,.0f} KRW/USD, fund "
            f"{ui.fmt_money(scenario.fund_krw_bn)}, policy loans {ui.fmt_money(scenario.loan_krw_bn)}.")

report = ui.optional_module("report")
if report is not None and hasattr(report, "build_report"):
    if st.button("Build the Excel report", key="build_report", type="primary"):
        with st.spinner("Building the workbook…"):
            try:
                kw = {}
                if alloc is not None:
                    kw = dict(allocation=alloc.table, allocation_summary=alloc.summary, supply=alloc.supply_effect.reset_index()
                              if alloc.supply_effect is not None and not alloc.supply_effect.empty else None)
                    try:
                        kw["supply_by_year"] = ui.projection(alloc, scenario)
                    except Exception:
                        pass
                dec = None
                st.session_state["report_bytes"] = report.build_report(
                    ev, scenario, scores=scores, ref=ui.reference(), decision=dec, **kw)
                st.session_state["report_built_at"] = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
            except Exception as exc:
                st.error(f"The report could not be built: {exc}")
    if st.session_state.get("report_bytes"):
        st.download_button("Download the Excel report (.xlsx)", st.session_state["report_bytes"],
                           file_name=f"mineral_fund_report_{dt.date.today():%Y%m%d}.xlsx", key="dl_report",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", type="primary")
        st.caption(f"Built {st.session_state.get('report_built_at')}; rebuild after changing assumptions.")
else:
    ui.not_available("Excel report")

st.subheader("Tables as CSV")
c1, c2 = st.columns(2)
if scores is not None:
    c1.download_button("Ranking (.csv)", scores.to_csv().encode("utf-8-sig"), file_name="ranking.csv",
                       mime="text/csv", key="dl_ranking_csv")
else:
    c1.download_button("Evaluation (.csv)", ev.metrics.to_csv().encode("utf-8-sig"), file_name="evaluation.csv",
                       mime="text/csv", key="dl_eval_csv")
if alloc is not None:
    c2.download_button("Allocation (.csv)", alloc.table.to_csv().encode("utf-8-sig"), file_name="allocation.csv",
                       mime="text/csv", key="dl_alloc_csv")
