"""The officer's memo notes in the app (issue 27): entered on the Report page, kept in the session
(and so in the draft), saved with a scenario and back when it is loaded; a loaded scenario keeps the
template's column order."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from models.application import COLUMNS  # noqa: E402


def _page(at, name: str):
    at.switch_page(f"app_pages/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_notes_entered_saved_with_a_scenario_and_loaded_back(fresh_app):
    at = _page(fresh_app, "report")
    app_id = at.selectbox(key="memo_note_id").value
    at.selectbox(key=f"memo_rec_{app_id}").set_value("approve_with_conditions")
    at.text_area(key=f"memo_opinion_{app_id}").input("=1+1 stays text")
    at.text_area(key=f"memo_conditions_{app_id}").input("Political risk insurance before drawdown")
    next(b for b in at.button if b.label == "Keep these notes").click().run()
    assert not at.exception
    notes = at.session_state["officer_notes"]
    assert notes[app_id] == {"recommendation": "approve_with_conditions", "opinion": "=1+1 stays text",
                             "conditions": "Political risk insurance before drawdown"}
    _page(at, "scenarios")
    at.text_input(key="save_name").input("With notes")
    at.text_input(key="save_author").input("Officer Kim")
    at.button[0].click().run()
    assert not at.exception and any("Saved as scenario" in s.value for s in at.success)
    at.session_state["officer_notes"] = {}
    at.session_state["raw_df"] = at.session_state["raw_df"][sorted(at.session_state["raw_df"].columns)]
    next(b for b in at.button if b.key == "load_btn").click().run()
    assert not at.exception
    assert at.session_state["officer_notes"][app_id]["conditions"] == "Political risk insurance before drawdown"
    cols = list(at.session_state["raw_df"].columns)
    assert cols[:len(COLUMNS)] == [c for c in COLUMNS if c in cols][:len(COLUMNS)]
    assert cols[:3] == ["id", "name", "company"]
