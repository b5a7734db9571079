"""Scenarios: save what-ifs with their ranking and allocation, list, load, compare, decide."""

import pandas as pd
import streamlit as st

from app_pages import compute, memo_notes, state
from app_pages.i18n import t
from evaluator.allocation import AllocationError
from evaluator.pipeline import snapshot
from evaluator.portfolio import PortfolioError
from evaluator.scoring import ScoringError
from evaluator.store import ScenarioStore, StoreError
from models.application import COLUMNS
from models.scenario import Scenario, ScenarioError

st.title(t("scenarios"))
ss = st.session_state
scenario = state.current_scenario()

try:
    store = ScenarioStore(state.store_path())
except StoreError as exc:  # names the path
    st.error(t("store_cannot_open", error=exc))
    st.stop()
st.caption(t("store_path", path=store.path))

# -- save ----------------------------------------------------------------------------------------
with st.form("save_scenario", border=True):
    st.markdown(t("save_what_if"))
    c1, c2 = st.columns(2)
    name = c1.text_input(t("scenario_name"), key="save_name", placeholder=t("scenario_name_placeholder"))
    author = c2.text_input(t("author"), key="save_author")
    submitted = st.form_submit_button(t("save"), type="primary")
if submitted:
    if not name.strip() or not author.strip():
        st.error(t("need_name_author"))
    else:
        named = scenario.replace(name=name.strip())
        try:
            result = compute.pipeline_result(scenario)
            kw = snapshot(compute.applications(), named, result, officer_notes=memo_notes.current())
        except (AllocationError, PortfolioError, ScoringError) as exc:
            kw = None
            st.error(t("not_saved", error=exc))
        if kw is not None:
            kw["applications"] = ss["raw_df"]  # the table as the officer entered it, invalid rows too
            try:
                sid = store.save(name, author, **kw)
                st.success(t("saved_as", id=sid))
            except (StoreError, ValueError, TypeError) as exc:
                st.error(t("not_saved", error=exc))

# -- list ----------------------------------------------------------------------------------------
try:
    listing = store.list()
    decision = store.current_decision()
    head = store.verify()
except StoreError as exc:  # TamperedStore names the first broken link
    st.error(t("store_cannot_open", error=exc))
    st.stop()
if listing.empty:
    st.info(t("no_saved_scenario"))
    st.stop()
st.subheader(t("saved_scenarios"))
st.dataframe(listing, hide_index=True, width="stretch", key="scenario_list")
if decision is not None:
    st.success(t("decision_in_force", id=decision.scenario_id, by=decision.decided_by, at=decision.decided_at,
                 note=decision.note))
    st.caption(t("store_head_hash", hash=head or ""))

labels = {int(r.id): f"{r.id}: {r.name} ({r.author}, {r.created_at})" + (t("decided_suffix") if r.decided else "")
          for r in listing.itertuples()}


def _load(sid: int) -> None:
    saved = store.load(sid)
    try:
        s = Scenario.from_dict({k: v for k, v in saved.assumptions.items()})
    except ScenarioError as exc:
        ss["load_error"] = t("scenario_cannot_apply", id=sid, error=exc)
        return
    state.scenario_to_widgets(s)
    memo_notes.put((saved.summary or {}).get("officer_notes"))
    apps = saved.applications_frame()
    # the store keeps records as canonical JSON (keys sorted): put the template's column order back
    apps = apps[[c for c in COLUMNS if c in apps.columns] + [c for c in apps.columns if c not in COLUMNS]]
    if not apps.empty:
        state.set_table(apps, None, f"scenario {sid}: {saved.name}")
    ss["load_error"] = None
    ss["loaded_note"] = True


c1, c2 = st.columns([3, 1])
to_load = c1.selectbox(t("load_into_session"), list(labels), format_func=labels.get, key="load_id")
c2.button(t("load"), key="load_btn", on_click=_load, args=(to_load,), width="stretch")
if ss.get("load_error"):
    st.error(ss["load_error"])
elif ss.pop("loaded_note", None):
    st.success(t("loaded_scenario", id=to_load))

# -- compare -------------------------------------------------------------------------------------
st.subheader(t("compare"))
chosen = st.multiselect(t("scenarios_to_compare"), list(labels), format_func=labels.get, key="compare_ids",
                        placeholder=t("choose_scenarios"))


def _highlight(df: pd.DataFrame):
    mark = df["differs"] if "differs" in df else pd.Series(False, index=df.index)
    return df.style.apply(lambda row: ["background-color: #fff3cd" if mark.loc[row.name] else "" for _ in row],
                          axis=1)


if len(chosen) >= 2:
    try:
        cmp = store.compare(chosen)
    except StoreError as exc:
        st.error(t("cannot_compare", error=exc))
    else:
        only_diff = st.toggle(t("only_differences"), value=True, key="compare_only_diff")
        for title, frame in ((t("cmp_totals"), cmp.totals), (t("cmp_assumptions"), cmp.assumptions),
                             (t("cmp_funding"), cmp.funding), (t("cmp_summary"), cmp.summary)):
            if frame is None or frame.empty:
                continue
            f = frame[frame["differs"]] if only_diff and title != t("cmp_totals") and "differs" in frame else frame
            st.markdown(f"**{title}** " + t("n_differ", n=int(frame['differs'].sum()) if 'differs' in frame else 0))
            if not f.empty:
                st.dataframe(_highlight(f.astype({c: str for c in f.columns if f[c].dtype == object})),
                             width="stretch", key=f"cmp_{title}")
elif chosen:
    st.caption(t("pick_two"))

# -- decide --------------------------------------------------------------------------------------
st.subheader(t("record_decision"))
with st.form("decide", border=True):
    st.caption(t("decided_is_final"))
    d1, d2 = st.columns(2)
    dec_id = d1.selectbox(t("scenario"), list(labels), format_func=labels.get, key="decide_id")
    by = d2.text_input(t("decided_by"), key="decide_by")
    note = st.text_area(t("note"), key="decide_note")
    confirm = st.form_submit_button(t("record_decision_button"), type="primary")
if confirm:
    if not by.strip():
        st.error(t("need_decider"))
    else:
        try:
            did = store.decide(int(dec_id), note, by)
            st.success(t("decision_recorded", id=did, scenario=dec_id))
            st.rerun()
        except (StoreError, ValueError, TypeError) as exc:
            st.error(t("not_recorded", error=exc))
