"""Scenarios: save what-ifs with their ranking and allocation, list, load, compare, decide, audit.

Who may do what (:mod:`app_pages.access`): officers and approvers save; approvers record the
committee's decision under their signed-in identity, after a confirmation that shows what is
being decided; approvers read the audit trail. Every name, note and title a person typed is shown
as text (``st.text``, tables, or escaped), never as Markdown.
"""

import hashlib

import pandas as pd
import streamlit as st

from app_pages import access, compare_view, compute, customs_upload, editor, memo_notes, state
from app_pages.fmt import md_text, shown
from app_pages.i18n import t
from evaluator.allocation import AllocationError
from evaluator.kst import kst_text
from evaluator.pipeline import snapshot
from evaluator.portfolio import PortfolioError
from evaluator.record import edit_rows, log_from_edits, original_table
from evaluator.scoring import ScoringError
from evaluator.store import ScenarioStore, StoreError, frame_from_json
from models.application import COLUMNS
from models.scenario import Scenario, ScenarioError

st.title(t("scenarios"))
ss = st.session_state
who = access.current()
scenario = state.current_scenario()

try:
    store = ScenarioStore(state.store_path())
except StoreError as exc:  # names the path
    st.error(t("store_cannot_open", error=exc))
    st.stop()
st.caption(t("store_path", path=store.path))

# -- save ----------------------------------------------------------------------------------------
submitted = False
if who.may("save"):
    with st.form("save_scenario", border=True):
        st.markdown(t("save_what_if"))
        c1, c2 = st.columns(2)
        name = c1.text_input(t("scenario_name"), key="save_name", placeholder=t("scenario_name_placeholder"))
        if who.mode == "local":
            author = c2.text_input(t("author"), key="save_author")
        else:  # team mode: saved under the signed-in identity, not a typed name
            author = who.label
            c2.caption(t("saved_under", who=md_text(who.label)))
        submitted = st.form_submit_button(t("save"), type="primary")
else:
    st.info(t("viewer_cannot_save"))
if submitted:
    if not name.strip() or not author.strip():
        st.error(t("need_name_author"))
    else:
        named = scenario.replace(name=name.strip())
        try:
            result = compute.pipeline_result(scenario)
            customs = customs_upload.customs_file()
            files = {} if customs is None else {hashlib.sha256(customs[1]).hexdigest(): customs}
            lock_in, lock_out = state.locks()
            kw = snapshot(compute.applications(), named, result, locked_in=lock_in, locked_out=lock_out,
                          entered=ss["raw_df"], original=ss.get("original_df"), schedule=ss.get("schedule_df"),
                          customs=None if customs is None else (customs[0], next(iter(files))),
                          time_limit_s=compute.time_limit_s(), n_paths=compute.RANKING_SIMULATION_PATHS,
                          seed=0, source_name=ss.get("source_name", ""),
                          officer_notes=memo_notes.current(), edit_log=ss.get("edit_log"))
        except (AllocationError, PortfolioError, ScoringError) as exc:
            kw = None
            st.error(t("not_saved", error=exc))
        if kw is not None:
            kw["applications"] = ss["raw_df"]  # the table as the officer entered it, invalid rows too
            try:
                access.require("save")
                sid = store.save(name, author if who.mode == "local" else who.label, files=files, **kw)
                st.success(t("saved_as", id=sid))
            except access.NotAllowed as exc:
                st.error(str(exc))
            except (StoreError, ValueError, TypeError) as exc:
                st.error(t("not_saved", error=exc))

# -- list ----------------------------------------------------------------------------------------
try:
    listing = store.list()
    decision = store.current_decision()
    history = store.decisions()
    heads = store.heads()
except StoreError as exc:  # TamperedStore names the first broken link
    st.error(t("store_cannot_open", error=exc))
    st.stop()
if listing.empty:
    st.info(t("no_saved_scenario"))
    st.stop()
st.subheader(t("saved_scenarios"))
st.dataframe(shown(listing.assign(created_at=listing["created_at"].map(kst_text))), hide_index=True, width="stretch",
             key="scenario_list")
if decision is not None:
    with st.container(border=True):
        st.success(t("decision_in_force", id=decision.scenario_id, by=md_text(decision.decided_by),
                     at=kst_text(decision.decided_at)))
        st.text(decision.note)  # as typed: never Markdown
    st.caption(t("store_head_hash", hash=heads["decisions"] or ""))
if heads["audit"]:
    st.caption(t("audit_head_hash", hash=heads["audit"]))
if history:
    with st.expander(t("decision_history"), expanded=False):
        st.dataframe(shown(pd.DataFrame([{t("col_decision"): d.id, t("scenario"): d.scenario_id,
                                    t("decided_by"): d.decided_by, t("decided_at"): kst_text(d.decided_at),
                                    t("note"): d.note, t("supersede_reason"): d.reason or "",
                                    t("col_supersedes"): d.supersedes, t("col_hash"): d.this_hash}
                                   for d in reversed(history)])),
                     hide_index=True, width="stretch", key="decision_history_table")

labels = {int(r.id): f"{r.id}: {r.name} ({r.author}, {kst_text(r.created_at)})" + (t("decided_suffix") if r.decided else "")
          for r in listing.itertuples()}


def _load(sid: int) -> None:
    saved = store.load(sid)
    try:
        s = Scenario.from_dict({k: v for k, v in saved.assumptions.items()})
    except ScenarioError as exc:
        ss["load_error"] = t("scenario_cannot_apply", id=sid, error=exc)
        return
    record = saved.record or {}
    customs = (record.get("customs") or {}).get("sha256")
    kept = store.file(customs) if customs else None
    if customs and kept is None:
        ss["load_error"] = t("scenario_customs_missing", id=sid)
        return
    state.scenario_to_widgets(s)
    # everything else that was decided: locks, the schedules, the applicant's originals, the
    # scenario's own price deck (in its assumptions) and customs basis
    locks = record.get("locks") or {}
    ss["lock_in"], ss["lock_out"] = list(locks.get("must_fund", [])), list(locks.get("must_not_fund", []))
    ss.pop("price_path", None)
    customs_upload.restore(kept)
    memo_notes.put((saved.summary or {}).get("officer_notes"))
    apps = saved.applications_frame()
    # the store keeps records as canonical JSON (keys sorted): put the template's column order back
    apps = apps[[c for c in COLUMNS if c in apps.columns] + [c for c in apps.columns if c not in COLUMNS]]
    if not apps.empty:
        state.set_table(apps, frame_from_json(record.get("schedule")), f"scenario {sid}: {saved.name}",
                        original=original_table(apps, record.get("edits")))
        ss["edit_log"] = log_from_edits(record.get("edits"))
    ss["load_error"] = None
    ss["loaded_note"] = True
    access.audit("load", scenario_id=sid, applications_hash=saved.applications_hash)


def _show_edits(record: dict | None) -> None:
    """The officer's edits of applicants' figures that a scenario holds: the applicant's value, the
    officer's, who and when (KST)."""
    rows = edit_rows((record or {}).get("edits"))
    if rows:
        st.caption(t("loaded_edits", n=len(rows)))
        editor.show_edits(rows)


c1, c2 = st.columns([3, 1])
to_load = c1.selectbox(t("load_into_session"), list(labels), format_func=labels.get, key="load_id")
c2.button(t("load"), key="load_btn", on_click=_load, args=(to_load,), width="stretch")
if ss.get("load_error"):
    st.error(ss["load_error"])
elif ss.pop("loaded_note", None):
    st.success(t("loaded_scenario", id=to_load))
    _show_edits(store.load(to_load).record)

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
        names = {int(r.id): f"{r.id}: {r.name}" for r in listing.itertuples()}
        for kind, title, frame in (("totals", t("cmp_totals"), cmp.totals), ("assumptions", t("cmp_assumptions"), cmp.assumptions),
                                   ("funding", t("cmp_funding"), cmp.funding), ("summary", t("cmp_summary"), cmp.summary)):
            if frame is None or frame.empty:
                continue
            view = compare_view.readable(frame, kind, names)   # named, rounded, in the officer's unit
            differs = view.pop(t("cmp_differs")).to_numpy(dtype=bool)
            keep = differs if only_diff and kind != "totals" else differs | True
            f = view[keep].assign(differs=differs[keep])
            st.markdown(f"**{title}** " + t("n_differ", n=int(differs.sum())))
            if not f.empty:
                st.dataframe(shown(_highlight(f)), width="stretch", key=f"cmp_{kind}", column_config={"differs": None})
elif chosen:
    st.caption(t("pick_two"))

# -- decide --------------------------------------------------------------------------------------
def _what_is_decided(sid: int, pending: dict) -> pd.DataFrame:
    """Item -> value of the decision about to be recorded (shown as a table: text stays text)."""
    saved = store.load(sid)
    alloc = saved.allocation if saved.allocation is not None else pd.DataFrame()
    funded = alloc[alloc["selected"].astype(bool)] if "selected" in alloc else alloc
    record = saved.record or {}
    locks = record.get("locks") or {}
    rows = [(t("scenario"), f"{saved.id}: {saved.name}"), (t("author"), saved.author),
            (t("confirm_saved_at"), kst_text(saved.created_at)), (t("confirm_applications"), str(len(saved.applications))),
            (t("confirm_funded"), str(len(funded))),
            (t("confirm_fund_total"), f"{float(alloc.get('fund_krw_bn', pd.Series(dtype=float)).sum()):,.1f}"),
            (t("confirm_loan_total"), f"{float(alloc.get('loan_krw_bn', pd.Series(dtype=float)).sum()):,.1f}"),
            (t("confirm_locks"), "; ".join(f"{k}: {', '.join(v)}" for k, v in locks.items() if v) or "-"),
            (t("confirm_edits"), str(len((record.get("edits") or {}).get("changed") or []))),
            (t("confirm_applications_hash"), saved.applications_hash),
            (t("decided_by"), pending["by"]), (t("note"), pending["note"])]
    if pending.get("reason"):
        rows.append((t("supersede_reason"), pending["reason"]))
    return pd.DataFrame(rows, columns=[t("confirm_item"), t("confirm_value")])


def _record(pending: dict) -> None:
    """Confirm: the decision recorded under the signed-in approver (checked again here, whatever
    was pressed); a typed name only in local mode."""
    ss.pop("pending_decision", None)
    try:
        me = access.require("decide")
        did = store.decide(int(pending["id"]), pending["note"], me.label if me.mode == "team" else pending["by"],
                           reason=pending.get("reason") or None)
        ss["decision_message"] = ("success", t("decision_recorded", id=did, scenario=pending["id"]))
    except access.NotAllowed as exc:
        ss["decision_message"] = ("error", str(exc))
    except (StoreError, ValueError, TypeError) as exc:
        ss["decision_message"] = ("error", t("not_recorded", error=exc))


st.subheader(t("record_decision"))
kind, message = ss.pop("decision_message", (None, None))
if kind:
    (st.success if kind == "success" else st.error)(message)
if not who.may("decide"):
    st.info(t("decide_approvers_only"))
elif ss.get("pending_decision"):
    pending = ss["pending_decision"]
    st.warning(t("confirm_decision"))
    st.dataframe(shown(_what_is_decided(int(pending["id"]), pending)), hide_index=True, width="stretch",
                 key="confirm_table")
    _show_edits(store.load(int(pending["id"])).record)
    b1, b2 = st.columns(2)
    b1.button(t("confirm_record"), key="confirm_record", type="primary", on_click=_record, args=(pending,))
    b2.button(t("cancel"), key="cancel_decision", on_click=lambda: ss.pop("pending_decision", None))
else:
    with st.form("decide", border=True):
        st.caption(t("decided_is_final"))
        d1, d2 = st.columns(2)
        dec_id = d1.selectbox(t("scenario"), list(labels), format_func=labels.get, key="decide_id")
        if who.mode == "local":
            by = d2.text_input(t("decided_by"), key="decide_by", value=who.who)
        else:  # team mode: the signed-in approver, no typed name
            by = who.label
            d2.caption(t("decision_under", who=md_text(who.label)))
        note = st.text_area(t("note"), key="decide_note")
        reason = st.text_area(t("supersede_reason"), key="decide_reason", help=t("supersede_reason_help")) \
            if decision is not None else ""
        review = st.form_submit_button(t("record_decision_button"), type="primary")
    if review:
        if not by.strip():
            st.error(t("need_decider"))
        elif decision is not None and not reason.strip():
            st.error(t("need_reason", id=decision.id))
        else:
            ss["pending_decision"] = {"id": int(dec_id), "note": note, "by": by.strip(), "reason": reason.strip()}
            st.rerun()

# -- audit trail (approvers) ---------------------------------------------------------------------
if who.may("audit"):
    st.subheader(t("audit_trail"))
    try:
        trail = store.audit_entries()
    except StoreError as exc:
        st.error(t("store_cannot_open", error=exc))
    else:
        st.dataframe(shown(trail.iloc[::-1]), hide_index=True, width="stretch", key="audit_table")
