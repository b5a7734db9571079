"""The officer's recommendation and conditions for the committee memo (issue 27).

One small form per project the committee decides on: a recommendation (approve, approve with
conditions, defer, decline), an opinion and the conditions. What is entered lives in
``st.session_state["officer_notes"]`` (application id -> notes), which the working draft keeps
(``app_pages/draft.py``), a saved scenario records and the Report page prints in the memos.
Typed text is shown back only in text inputs, never as Markdown.
"""

from __future__ import annotations

import streamlit as st

from app_pages import access
from app_pages.i18n import t
from evaluator.memo import NOTE_KEYS, RECOMMENDATIONS, MemoNotesError, clean_notes

#: Session key of the notes (kept by the draft, saved with a scenario).
NOTES_KEY = "officer_notes"


def current() -> dict[str, dict[str, str]]:
    """The officer's notes of this session, in their one form (:func:`evaluator.memo.clean_notes`);
    a malformed value (an old draft) counts as none."""
    try:
        return clean_notes(st.session_state.get(NOTES_KEY))
    except MemoNotesError:
        return {}


def put(notes) -> None:
    """Replace the session's notes (a loaded scenario's); a malformed value is dropped."""
    try:
        st.session_state[NOTES_KEY] = clean_notes(notes)
    except MemoNotesError:
        st.session_state[NOTES_KEY] = {}


def editor(ids: list[str], names: dict[str, str]) -> None:
    """The notes form for one of ``ids`` (the projects given a memo), chosen in a select box."""
    if not ids:
        return
    notes = current()
    ro = access.read_only()  # a viewer reads the notes, the form is drawn disabled
    app_id = st.selectbox(t("memo_project"), ids, format_func=lambda i: f"{i}: {names.get(i, '')}", key="memo_note_id")
    entry = notes.get(app_id, dict.fromkeys(NOTE_KEYS, ""))
    with st.form(f"memo_form_{app_id}", border=True):
        words = {"": t("memo_rec_none"), **{c: t(f"memo_rec_{c}") for c in RECOMMENDATIONS}}  # worded once per run
        options = list(words)
        rec = st.selectbox(t("memo_recommendation"), options, index=options.index(entry["recommendation"]),
                           format_func=words.get, key=f"memo_rec_{app_id}", disabled=ro)
        opinion = st.text_area(t("memo_opinion"), value=entry["opinion"], key=f"memo_opinion_{app_id}", height=100,
                               disabled=ro)
        conditions = st.text_area(t("memo_conditions"), value=entry["conditions"], key=f"memo_conditions_{app_id}",
                                  height=100, placeholder=t("memo_conditions_placeholder"), disabled=ro)
        if st.form_submit_button(t("memo_save"), disabled=ro):
            try:
                access.require("edit")
                updated = clean_notes({**notes, app_id: {"recommendation": rec, "opinion": opinion,
                                                         "conditions": conditions}})
            except (MemoNotesError, access.NotAllowed) as exc:
                st.error(t("memo_not_saved", error=exc))
            else:
                st.session_state[NOTES_KEY] = updated
                st.success(t("memo_saved", id=app_id))
