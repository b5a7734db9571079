"""Streamlit entry point: the page router and the shared sidebar (assumptions every page uses).

Run with ``streamlit run app.py``. Pages live in ``app_pages/``; computation lives in
``evaluator/`` and ``models/``; the UI layer's state, labels, formatting and cached steps live in
``app_pages/state.py``, ``i18n.py``, ``fmt.py`` and ``compute.py``.
"""

import streamlit as st

from app_pages import access, compute, draft, state
from app_pages.customs_upload import customs_import
from app_pages.fmt import UNITS
from app_pages.i18n import t
from app_pages.price_deck import read_price_deck
from models.scenario import CRITERIA, DEMAND_CASES, LOAN_TERMS, PRICE_CASES

st.set_page_config(page_title=t("app_title"), page_icon=":material/landscape:", layout="wide")
who = access.gate()  # team mode: the sign-in page, or a refusal, before any application data is read
state.keep_widget_state()
state.init_state(compute.load_sample, draft.restore)
state.widget_defaults()

pages = [
    st.Page(state.PAGE_FILES["applications"], title=t("applications"), icon=":material/upload_file:",
            default=True),
    st.Page(state.PAGE_FILES["ranking"], title=t("ranking"), icon=":material/leaderboard:"),
    st.Page(state.PAGE_FILES["project"], title=t("project"), icon=":material/insights:"),
    st.Page(state.PAGE_FILES["allocation"], title=t("allocation"), icon=":material/account_balance:"),
    st.Page(state.PAGE_FILES["report"], title=t("report"), icon=":material/description:"),
    st.Page(state.PAGE_FILES["scenarios"], title=t("scenarios"), icon=":material/bookmarks:"),
]
nav = st.navigation(pages)

with st.sidebar:
    c1, c2 = st.columns(2)
    c1.radio(t("language"), ["en", "ko"], key="lang", horizontal=True,
             format_func=lambda v: {"en": "English", "ko": "한국어"}[v])
    c2.radio(t("unit"), UNITS, key="unit", horizontal=False, format_func={u: t("unit_krw_bn") if u == "KRW bn" else u
                                                                          for u in UNITS}.get)

    st.subheader(t("assumptions"))
    ro = access.read_only()  # a viewer: every input drawn disabled, the uploads not drawn
    if ro:
        st.info(t("viewer_read_only"))
    st.selectbox(t("price_case"), PRICE_CASES, key="price_case", format_func={c: t(f"price_case_{c}") for c in PRICE_CASES}.get,
                 disabled=ro)
    st.slider(t("discount_rate"), 0.0, 20.0, step=0.5, format="%.1f", key="discount_rate_pct", disabled=ro)
    st.number_input(t("fx"), min_value=500.0, max_value=3000.0, step=10.0, format="%.0f", key="fx_krw_per_usd",
                    disabled=ro)
    st.toggle(t("premium"), key="add_country_risk_premium", disabled=ro)
    st.selectbox(t("loan_terms"), LOAN_TERMS, key="loan_terms", help=t("loan_terms_help"), disabled=ro)
    st.toggle(t("allow_partial_above_cap"), key="allow_partial_above_cap", help=t("allow_partial_above_cap_help"),
              disabled=ro)
    with st.expander(t("weights"), expanded=True):
        for c in CRITERIA:
            st.slider(t(c), 0, 100, step=5, key=f"w_{c}", disabled=ro)
        total = sum(st.session_state[f"w_{c}"] for c in CRITERIA)
        if total == 0:
            st.error(t("weights_all_zero"))
        else:
            st.caption(t("weights_scaled", total=total))
    with st.expander(t("supply_basis"), expanded=False):
        w1, w2 = st.columns(2)
        w1.selectbox(t("supply_window_first"), list(range(2019, 2025)), key="supply_window_first",
                     help=t("supply_window_help"), disabled=ro)
        w2.selectbox(t("supply_window_last"), list(range(2019, 2025)), key="supply_window_last", disabled=ro)
        st.selectbox(t("demand_case"), DEMAND_CASES, key="demand_case",
                     format_func={c: t(f"price_case_{c}") for c in DEMAND_CASES}.get, help=t("demand_case_help"),
                     disabled=ro)
    if not ro:
        st.file_uploader(t("price_deck_upload"), type=["csv", "xlsx"], key="price_deck_upload",
                         help=t("price_deck_help"))
        read_price_deck()
    if st.session_state.get("price_deck_error"):
        st.error(st.session_state["price_deck_error"])
    elif st.session_state.get("price_path"):
        st.caption(t("price_deck_in_use", minerals=", ".join(sorted(st.session_state["price_path"]))))
    if not ro:
        st.file_uploader(t("customs"), type=["csv", "xlsx", "json"], key="customs_upload")
    customs_import(compute.reference())
    if st.session_state.get("customs_error"):
        st.error(st.session_state["customs_error"])
    scenario = state.current_scenario()
    if st.session_state.get("scenario_error"):
        st.error(t("scenario_not_applied", error=st.session_state["scenario_error"]))
    st.divider()
    if st.session_state.get("draft_restored"):
        st.caption(t("draft_restored"))
    st.button(t("start_over"), key="start_over", on_click=draft.start_over, help=t("start_over_help"))
    access.sidebar(who)

draft.save()  # before the page: a page that stops early (st.stop) still keeps the officer's state
if st.session_state.get("draft_error"):  # the working state is not kept: said, never silent
    st.sidebar.warning(t("draft_not_kept", path=draft.store_file(), error=st.session_state["draft_error"]))
nav.run()
draft.save()
