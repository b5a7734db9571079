"""Scenarios: save what-ifs with their ranking and allocation, list, load, compare, decide."""

import pandas as pd
import streamlit as st

from app_pages import common as ui
from evaluator.store import ScenarioStore, StoreError
from models.scenario import Scenario

st.title(ui.t("scenarios"))
ss = st.session_state
scenario = ui.current_scenario()

try:
    store = ScenarioStore(ui.store_path())
except Exception as exc:  # StoreError names the path
    st.error(f"The scenario store cannot be opened: {exc}")
    st.stop()
st.caption(f"Store: `{store.path}`")

# -- save ----------------------------------------------------------------------------------------
with st.form("save_scenario", border=True):
    st.markdown("**Save the current what-if** (assumptions, applications, ranking and allocation)")
    c1, c2 = st.columns(2)
    name = c1.text_input("Name", key="save_name", placeholder="e.g. Base, fund 200")
    author = c2.text_input("Author", key="save_author")
    submitted = st.form_submit_button("Save", type="primary")
if submitted:
    if not name.strip() or not author.strip():
        st.error("Give both a name and an author.")
    else:
        ranking = allocation = None
        summary = {}
        try:
            sc = ui.scores(scenario)
            ranking = sc[2].table if sc else None
            pa = ui.allocation(scenario) if sc and ui.optional_module("portfolio") else None
            if pa is not None:
                allocation = pa.table
                summary = pa.summary
        except Exception as exc:
            st.warning(f"Saved without ranking/allocation: {exc}")
        try:
            sid = store.save(name, author, scenario.replace(name=name.strip()).to_dict(), ss["raw_df"],
                             ranking, allocation, summary)
            st.success(f"Saved as scenario {sid}.")
        except (StoreError, ValueError, TypeError) as exc:
            st.error(f"Not saved: {exc}")

# -- list ----------------------------------------------------------------------------------------
listing = store.list()
if listing.empty:
    st.info("No saved scenario yet.")
    st.stop()
decision = store.current_decision()
st.subheader("Saved scenarios")
st.dataframe(listing, hide_index=True, width="stretch", key="scenario_list")
if decision is not None:
    st.success(f"Decision in force: scenario {decision.scenario_id}, recorded by {decision.decided_by} "
               f"on {decision.decided_at}: {decision.note}")

labels = {int(r.id): f"{r.id}: {r.name} ({r.author}, {r.created_at})" + (" — decided" if r.decided else "")
          for r in listing.itertuples()}


def _load(sid: int) -> None:
    saved = store.load(sid)
    try:
        s = Scenario.from_dict({k: v for k, v in saved.assumptions.items()})
    except Exception as exc:
        ss["load_error"] = f"Scenario {sid} cannot be applied: {exc}"
        return
    ui.scenario_to_widgets(s)
    apps = saved.applications_frame()
    if not apps.empty:
        ui.set_table(apps, None, f"scenario {sid}: {saved.name}")
    ss["load_error"] = None
    ss["loaded_note"] = f"Loaded scenario {sid} ({saved.name}) into the session."


c1, c2 = st.columns([3, 1])
to_load = c1.selectbox("Load into the session", list(labels), format_func=labels.get, key="load_id")
c2.button("Load", key="load_btn", on_click=_load, args=(to_load,), width="stretch")
if ss.get("load_error"):
    st.error(ss["load_error"])
elif ss.pop("loaded_note", None):
    st.success(f"Loaded scenario {to_load}: assumptions, budgets and applications now come from it.")

# -- compare -------------------------------------------------------------------------------------
st.subheader("Compare")
chosen = st.multiselect("Scenarios to compare (2 or more)", list(labels), format_func=labels.get, key="compare_ids")


def _highlight(df: pd.DataFrame):
    mark = df["differs"] if "differs" in df else pd.Series(False, index=df.index)
    return df.style.apply(lambda row: ["background-color: #fff3cd" if mark.loc[row.name] else "" for _ in row],
                          axis=1)


if len(chosen) >= 2:
    try:
        cmp = store.compare(chosen)
    except Exception as exc:
        st.error(f"Cannot compare: {exc}")
    else:
        only_diff = st.toggle("Show only differences", value=True, key="compare_only_diff")
        for title, frame in (("Totals", cmp.totals), ("Assumptions", cmp.assumptions),
                             ("Funding per application", cmp.funding), ("Summary", cmp.summary)):
            if frame is None or frame.empty:
                continue
            f = frame[frame["differs"]] if only_diff and title != "Totals" and "differs" in frame else frame
            st.markdown(f"**{title}** ({int(frame['differs'].sum()) if 'differs' in frame else 0} differ)")
            if not f.empty:
                st.dataframe(_highlight(f.astype({c: str for c in f.columns if f[c].dtype == object})),
                             width="stretch", key=f"cmp_{title}")
elif chosen:
    st.caption("Pick at least two.")

# -- decide --------------------------------------------------------------------------------------
st.subheader("Record the decision")
with st.form("decide", border=True):
    st.caption("A decided scenario can no longer be renamed or deleted; a later decision supersedes it.")
    d1, d2 = st.columns(2)
    dec_id = d1.selectbox("Scenario", list(labels), format_func=labels.get, key="decide_id")
    by = d2.text_input("Decided by", key="decide_by")
    note = st.text_area("Note", key="decide_note")
    confirm = st.form_submit_button("Record decision", type="primary")
if confirm:
    if not by.strip():
        st.error("Name who decided.")
    else:
        try:
            did = store.decide(int(dec_id), note, by)
            st.success(f"Decision {did} recorded for scenario {dec_id}.")
            st.rerun()
        except (StoreError, ValueError, TypeError) as exc:
            st.error(f"Not recorded: {exc}")
