"""The officer's working state kept as a draft in the local scenario store, so that a reload of
the page or a restart of the server loses nothing (issue: "Nothing lost").

What is kept: the applications table as entered (invalid rows and edits included), its schedule
sheet and source name, every assumption and weight of the sidebar, the Allocation page's
budgets, caps, objective and locks, the chosen measure, language and unit, and an uploaded price
deck. An uploaded customs extract is not kept (the file is the officer's to upload again).

Each person has their own draft (:attr:`app_pages.access.Identity.slot`: the signed-in e-mail in
team mode, the operating-system user in local mode): two officers never see each other's unsaved
work, and "Start over" clears only one's own.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

import streamlit as st

from app_pages import access, state
from evaluator.store import ScenarioStore, StoreError, frame_from_json, frame_to_json
from models.scenario import CRITERIA

#: Session keys kept besides the table: sidebar and page widgets.
KEPT_KEYS = tuple(dict.fromkeys(
    ("lang", "unit", "price_case", "discount_rate_pct", "fx_krw_per_usd", "add_country_risk_premium",
     "loan_terms", "allow_partial_above_cap", "prove_optimal", "price_path", "officer_notes", "edit_log")
    + tuple(f"w_{c}" for c in CRITERIA) + state.PERSISTENT_KEYS))


#: What using the store can raise besides StoreError: SQLite's own errors (a read-only or full disk,
#: a file damaged after opening) and the file system's.
_STORE_FAULTS = (StoreError, sqlite3.Error, OSError)


def _store() -> ScenarioStore | None:
    try:
        return ScenarioStore(state.store_path())
    except _STORE_FAULTS as exc:
        _fault(exc)
        return None


def store_file() -> str:
    """The store file the draft is kept in, as shown to the officer."""
    from evaluator.store import default_store_path

    return str(state.store_path() or default_store_path())


def _fault(exc: BaseException) -> None:
    """The store cannot keep the working state: say so in the sidebar (``draft_error``), never silently."""
    st.session_state["draft_error"] = str(exc) or type(exc).__name__


def _values() -> dict:
    """The kept widget values (JSON types)."""
    ss = st.session_state
    return {k: (list(ss[k]) if isinstance(ss[k], tuple) else ss[k]) for k in KEPT_KEYS if k in ss}


#: The one slot of the store before drafts were kept per person (read once in local mode).
LEGACY_SLOT = "current"


def _slot() -> str:
    who = access.current()
    return who.slot if who is not None else "nobody"


def restore() -> bool:
    """Put this person's saved draft into a new session (before any widget draws); True when one
    was found."""
    store = _store()
    slot = _slot()
    try:
        draft = store.load_draft(slot) if store is not None else None
        if draft is None and store is not None and slot.startswith("local:"):
            draft = store.load_draft(LEGACY_SLOT)  # the single-user draft of an earlier version
    except (*_STORE_FAULTS, ValueError) as exc:  # ValueError: a draft that is not JSON
        _fault(exc)
        return False
    if not draft:
        return False
    ss = st.session_state
    state.set_table(frame_from_json(draft["table"]), frame_from_json(draft.get("schedule")),
                    draft.get("source_name") or "draft", original=frame_from_json(draft.get("original")))
    for k, v in (draft.get("values") or {}).items():
        if k == "price_path" and isinstance(v, dict):
            v = {m: {int(y): float(p) for y, p in path.items()} for m, path in v.items()}
        ss[k] = v
    ss["draft_restored"] = True
    return True


def save() -> None:
    """Write the draft when the working state changed since the last write (one small write).
    A viewer has no draft: nothing is written for them, whatever their session holds."""
    ss = st.session_state
    if "raw_df" not in ss or access.read_only():
        return
    values = _values()
    # the table's content hash (state.apps_key) stands for the table: a slider move serialises
    # only the widget values, the table only when something changed and the draft is written
    digest = hashlib.sha1(json.dumps([state.apps_key(), ss.get("source_name", ""), values], sort_keys=True,
                                     default=str).encode("utf-8")).hexdigest()
    if ss.get("draft_digest") == digest:
        return
    store = _store()
    if store is not None:
        try:
            store.save_draft({"table": frame_to_json(ss["raw_df"]), "schedule": frame_to_json(ss.get("schedule_df")),
                              "original": frame_to_json(ss.get("original_df")),
                              "source_name": ss.get("source_name", ""), "values": values}, slot=_slot())
        except _STORE_FAULTS as exc:
            _fault(exc)
            return
        ss["draft_digest"] = digest
        ss.pop("draft_error", None)


def start_over() -> None:
    """Forget this person's draft and every choice of this session (the bundled samples and the
    default scenario come back on the next run); other people's drafts stay."""
    store = _store()
    slot = _slot()
    if store is not None:
        store.clear_draft(slot)
        if slot.startswith("local:"):
            store.clear_draft(LEGACY_SLOT)
    for k in list(st.session_state.keys()):
        if k != "identity_slot":
            del st.session_state[k]
    st.session_state["draft_cleared"] = True
