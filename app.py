"""Streamlit entry point: the page router and the shared sidebar (assumptions every page uses).

Run with ``streamlit run app.py``. Pages live in ``app_pages/``; computation lives in
``evaluator/`` and ``models/``; ``app_pages/common.py`` holds session state and cached wrappers.
"""

import streamlit as st

from app_pages import common as ui
from models.scenario import CRITERIA, PRICE_CASES

st.set_page_config(page_title="Critical-mineral fund evaluator", page_icon=":material/landscape:",
                   layout="wide")
ui.keep_widget_state()
ui.init_state()
ui.widget_defaults()

pages = [
    st.Page(ui.PAGE_FILES["applications"], title=ui.t("applications"), icon=":material/upload_file:",
            default=True),
    st.Page(ui.PAGE_FILES["ranking"], title=ui.t("ranking"), icon=":material/leaderboard:"),
    st.Page(ui.PAGE_FILES["project"], title=ui.t("project"), icon=":material/insights:"),
    st.Page(ui.PAGE_FILES["allocation"], title=ui.t("allocation"), icon=":material/account_balance:"),
    st.Page(ui.PAGE_FILES["report"], title=ui.t("report"), icon=":material/description:"),
    st.Page(ui.PAGE_FILES["scenarios"], title=ui.t("scenarios"), icon=":material/bookmarks:"),
]
nav = st.navigation(pages)

with st.sidebar:
    c1, c2 = st.columns(2)
    c1.radio(ui.t("language"), ["en", "ko"], key="lang", horizontal=True,
             format_func=lambda v: {"en": "English", "ko": "한국어"}[v])
    c2.radio(ui.t("unit"), ["KRW bn", "억원"], key="unit", horizontal=True)

    st.subheader(ui.t("assumptions"))
    st.selectbox(ui.t("price_case"), PRICE_CASES, key="price_case")
    st.slider(ui.t("discount_rate"), 0.0, 20.0, step=0.5, format="%.1f", key="discount_rate_pct")
    st.number_input(ui.t("fx"), min_value=500.0, max_value=3000.0, step=10.0, format="%.0f", key="fx_krw_per_usd")
    st.toggle(ui.t("premium"), key="add_country_risk_premium")
    with st.expander(ui.t("weights"), expanded=True):
        for c in CRITERIA:
            st.slider(ui.t(c), 0, 100, step=5, key=f"w_{c}")
        total = sum(st.session_state[f"w_{c}"] for c in CRITERIA)
        if total == 0:
            st.error("Every weight is 0: set at least one above 0 (the previous weights stay in use).")
        else:
            st.caption(f"Weights are scaled to sum to 100 % (now {total}).")
    st.file_uploader(ui.t("customs"), type=["csv", "xlsx", "json"], key="customs_upload")
    ui.customs_import()
    if st.session_state.get("customs_error"):
        st.error(st.session_state["customs_error"])
    scenario = ui.current_scenario()
    if st.session_state.get("scenario_error"):
        st.error(f"Scenario not applied: {st.session_state['scenario_error']}")

nav.run()
