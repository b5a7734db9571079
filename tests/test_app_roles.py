"""Sign-in, roles and per-person working state, driven through the app's entry point with
AppTest's ``user`` and ``secrets`` (issue 24). A real sign-in through an OpenID Connect provider
is the browser test's; here AppTest plays the signed-in person."""

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from evaluator.store import ScenarioStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "test-only-cookie-secret",
        "client_id": "mine-evaluator", "client_secret": "test-only",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
ROLES = {"approver": ["secretary@agency.go.kr"], "officer": ["kim@agency.go.kr", "Lee@Agency.go.kr"],
         "viewer": ["auditor@agency.go.kr"]}


@pytest.fixture
def team(monkeypatch, tmp_path):
    """A factory of AppTests of one team server (one store): ``team(email)`` signs that person in,
    ``team(None)`` is a visitor not signed in."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("EVALUATOR_STORE", str(tmp_path / "store.sqlite3"))

    def make(email: str | None, run: bool = True) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.secrets["auth"] = dict(AUTH)
        at.secrets["roles"] = {k: list(v) for k, v in ROLES.items()}
        at.user = ({"is_logged_in": True, "email": email, "name": email.split("@")[0].title()} if email
                   else {"is_logged_in": False})
        if run:
            at.run()
            assert not at.exception, [e.value for e in at.exception]
        return at
    return make


def _page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"app_pages/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _everything_shown(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "success", "warning", "title", "text")
             for e in getattr(at, kind)]
    return " ".join(str(p) for p in parts)


def test_a_visitor_not_signed_in_sees_the_sign_in_page_and_no_data(team):
    at = team(None)
    assert [b.label for b in at.button] == ["Sign in"]
    assert len(at.dataframe) == 0 and len(at.metric) == 0 and len(at.sidebar.slider) == 0
    shown = _everything_shown(at)
    assert "Sign in with your organisation" in shown
    assert "LI-" not in shown and "raw_df" not in at.session_state
    for page in ("ranking", "scenarios"):     # another page asked for directly: the same gate
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        assert not at.exception and len(at.dataframe) == 0 and "raw_df" not in at.session_state


def test_an_address_on_no_list_is_refused_with_a_clear_message(team):
    at = team("stranger@example.com")
    assert any("stranger@example.com" in e.value and "not on the list" in e.value for e in at.error)
    assert [b.label for b in at.button] == ["Sign out"]
    assert len(at.dataframe) == 0 and "raw_df" not in at.session_state


def test_signed_in_officer_works_and_roles_read_case_insensitively(team):
    at = team("lee@agency.go.kr")
    assert any("Signed in as `lee@agency.go.kr` (officer)" in c.value for c in at.sidebar.caption)
    _page(at, "ranking")
    assert len(at.dataframe) > 0


def test_two_officers_keep_their_own_working_state_and_start_over_is_ones_own(team):
    kim = team("kim@agency.go.kr")
    lee = team("lee@agency.go.kr")
    _page(kim, "allocation")
    kim.slider(key="fund_krw_bn__shown").set_value(150.0).run()
    key = f"apps_editor_{kim.session_state['editor_version']}"
    _page(kim, "applications")
    kim.session_state[key] = {"edited_rows": {0: {"name": "Kim's unsaved edit"}}, "added_rows": [], "deleted_rows": []}
    kim.run()
    _page(lee, "allocation")
    lee.slider(key="fund_krw_bn__shown").set_value(200.0).run()
    # each one's new session (a reload) finds their own work, never the other's
    kim2, lee2 = team("kim@agency.go.kr"), team("lee@agency.go.kr")
    assert kim2.session_state["fund_krw_bn"] == pytest.approx(150.0)
    assert kim2.session_state["raw_df"].loc[0, "name"] == "Kim's unsaved edit"
    assert lee2.session_state["fund_krw_bn"] == pytest.approx(200.0)
    assert lee2.session_state["raw_df"].loc[0, "name"] != "Kim's unsaved edit"
    _page(lee2, "ranking")
    assert "Kim's unsaved edit" not in " ".join(map(str, lee2.dataframe[0].value.get("name", [])))
    # Lee starts over: Kim's draft stays
    lee2.button(key="start_over").click().run()
    assert not lee2.exception
    assert team("kim@agency.go.kr").session_state["fund_krw_bn"] == pytest.approx(150.0)
    assert team("lee@agency.go.kr").session_state["fund_krw_bn"] == pytest.approx(250.0)


def _save(at: AppTest, name: str) -> None:
    _page(at, "scenarios")
    at.text_input(key="save_name").set_value(name)
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception
    assert any("Saved as scenario" in s.value for s in at.success), [e.value for e in at.error]


def test_only_an_approver_records_a_decision_under_their_sign_in(team):
    officer = team("kim@agency.go.kr")
    _save(officer, "Base")
    assert "decide_note" not in [ta.key for ta in officer.text_area]
    assert any("Only an approver" in i.value for i in officer.info)
    # whatever an officer presses: the record path itself refuses (state set as a forged form would)
    officer.session_state["pending_decision"] = {"id": 1, "note": "forged", "by": "Minister", "reason": ""}
    officer.run()
    assert not [b for b in officer.button if b.key == "confirm_record"]
    from app_pages import access
    with pytest.raises(access.NotAllowed):
        _require_as(officer, "decide")
    viewer = team("auditor@agency.go.kr")
    _page(viewer, "scenarios")
    assert any("Viewers read" in i.value for i in viewer.info) and "save_name" not in [x.key for x in viewer.text_input]
    assert ScenarioStore().decisions() == []

    approver = team("secretary@agency.go.kr")
    _page(approver, "scenarios")
    assert "decide_by" not in [x.key for x in approver.text_input]      # no typed "decided by"
    approver.text_area(key="decide_note").set_value("Approved as proposed")
    next(b for b in approver.button if b.label == "Record decision").click().run()
    assert not ScenarioStore().decisions()                                # not before the confirmation
    assert any("Check what is being decided" in w.value for w in approver.warning)
    shown = next(d.value for d in approver.dataframe if "Item" in d.value.columns)
    assert "1: Base" in shown["Value"].tolist() and "Approved as proposed" in shown["Value"].tolist()
    approver.button(key="confirm_record").click().run()
    assert not approver.exception
    (d,) = ScenarioStore().decisions()
    assert d.decided_by == "Secretary <secretary@agency.go.kr> (approver)" and d.note == "Approved as proposed"
    assert any("Decision in force: scenario 1" in s.value for s in approver.success)
    trail = ScenarioStore().audit_entries()
    assert trail["action"].tolist()[-2:] == ["save", "decide"]
    assert trail["who"].tolist()[-2:] == ["Kim <kim@agency.go.kr> (officer)", d.decided_by]
    assert "Audit trail" in [h.value for h in approver.subheader]
    assert "Audit trail" not in [h.value for h in officer.subheader]


def _require_as(at: AppTest, action: str):
    """access.require run inside the app as ``at``'s person (a tiny script of the same secrets and user)."""
    script = AppTest.from_string(
        "from app_pages import access\n"
        "import streamlit as st\n"
        f"try:\n    access.require({action!r})\n    st.success('allowed')\n"
        "except access.NotAllowed as exc:\n    st.error(str(exc))\n", default_timeout=30)
    script.secrets = dict(at.secrets)
    script.user = dict(at.user)
    script.run()
    if script.error:
        from app_pages import access
        raise access.NotAllowed(script.error[0].value)
    return script


@pytest.mark.parametrize("email, read_only", [("auditor@agency.go.kr", True), ("kim@agency.go.kr", False),
                                               ("secretary@agency.go.kr", False)])
def test_a_viewers_inputs_are_read_only_an_officers_and_approvers_are_not(team, email, read_only):
    at = team(email)
    sidebar = [*at.sidebar.slider, *at.sidebar.selectbox, *at.sidebar.toggle, *at.sidebar.number_input]
    assert len(sidebar) >= 12 and {w.disabled for w in sidebar} == {read_only}
    assert {r.key: r.disabled for r in at.sidebar.radio} == {"lang": False, "unit": False}   # how it reads
    assert (len(at.sidebar.get("file_uploader")) == 0) == read_only                           # price deck, customs
    assert any("signed in as a viewer" in i.value for i in at.sidebar.info) == read_only
    assert (len(at.get("file_uploader")) == 0) == read_only                                    # applications
    assert ("reload_sample" not in [b.key for b in at.button]) == read_only
    _page(at, "allocation")
    controls = [at.slider(key="fund_krw_bn__shown"), at.slider(key="country_cap_pct"), at.selectbox(key="objective"),
                at.multiselect(key="lock_in"), at.multiselect(key="lock_out"), at.toggle(key="prove_optimal")]
    assert {w.disabled for w in controls} == {read_only}
    _page(at, "ranking")
    assert at.radio(key="financial_measure").disabled == read_only
    _page(at, "report")
    assert {w.disabled for w in at.text_area} == {read_only}


def test_a_viewers_edits_sent_anyway_change_nothing_and_keep_no_draft(team):
    viewer = team("auditor@agency.go.kr")
    before = viewer.session_state["raw_df"].copy()
    key = f"apps_editor_{viewer.session_state['editor_version']}"
    # what a forged message would put in the session: an edit of the table and a budget
    viewer.session_state[key] = {"edited_rows": {0: {"name": "Viewer's edit"}}, "added_rows": [], "deleted_rows": []}
    viewer.session_state["fund_krw_bn"] = 100.0
    viewer.run()
    assert not viewer.exception
    assert viewer.session_state["raw_df"].equals(before)
    store = ScenarioStore()
    assert store.load_draft("team:auditor@agency.go.kr") is None                   # nothing kept for a viewer
    assert team("auditor@agency.go.kr").session_state["fund_krw_bn"] == pytest.approx(250.0)
    # the writers themselves refuse, whatever is drawn
    script = AppTest.from_string(
        "import streamlit as st\nfrom app_pages import editor\n"
        "st.session_state['raw_df'] = __import__('pandas').DataFrame({'id': ['X']})\n"
        "st.text(editor.try_load_upload(b'id,name\\nA,B\\n', 'forged.csv', None) or 'loaded')\n", default_timeout=30)
    script.secrets = dict(viewer.secrets)
    script.user = dict(viewer.user)
    script.run()
    assert not script.exception and "does not allow this: changing the working copy" in script.text[0].value
    assert list(script.session_state["raw_df"]["id"]) == ["X"]
    officer = team("kim@agency.go.kr")                                            # an officer's draft is kept
    officer.session_state["fund_krw_bn"] = 100.0
    officer.run()
    assert store.load_draft("team:kim@agency.go.kr")["values"]["fund_krw_bn"] == pytest.approx(100.0)


def test_a_later_decision_needs_a_reason_and_the_history_stays(team):
    approver = team("secretary@agency.go.kr")
    _save(approver, "Base")
    _save(approver, "Revised")
    for sid, note, reason in ((1, "first", ""), (2, "second", "budget cut")):
        _page(approver, "scenarios")
        approver.selectbox(key="decide_id").set_value(sid)
        approver.text_area(key="decide_note").set_value(note)
        if sid == 2:
            next(b for b in approver.button if b.label == "Record decision").click().run()
            assert any("state why" in e.value for e in approver.error)      # no reason: refused
            approver.text_area(key="decide_reason").set_value(reason)
            approver.text_area(key="decide_note").set_value(note)
            approver.selectbox(key="decide_id").set_value(sid)
        next(b for b in approver.button if b.label == "Record decision").click().run()
        approver.button(key="confirm_record").click().run()
        assert not approver.exception
    history = ScenarioStore().decisions()
    assert [(d.scenario_id, d.reason) for d in history] == [(1, None), (2, "budget cut")]
    table = next(d.value for d in approver.dataframe if "Supersedes" in d.value.columns)
    assert len(table) == 2


def test_a_note_with_markdown_is_shown_as_text(team):
    approver = team("secretary@agency.go.kr")
    _save(approver, "**Fake banner** ![x](http://127.0.0.1:9/pixel.png)")
    note = "![tracker](http://127.0.0.1:9/pixel.png) **Decision in force: scenario 99**"
    approver.text_area(key="decide_note").set_value(note)
    next(b for b in approver.button if b.label == "Record decision").click().run()
    approver.button(key="confirm_record").click().run()
    assert not approver.exception
    assert note in [x.value for x in approver.text]                        # st.text: never parsed
    markdown_like = [e.value for kind in ("markdown", "caption", "success", "info", "warning", "error")
                     for e in getattr(approver, kind)]
    assert not any("![" in m or "**Decision in force: scenario 99" in m or "**Fake" in m for m in markdown_like)


def test_local_mode_is_the_single_user_tool(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("EVALUATOR_STORE", str(tmp_path / "store.sqlite3"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("Local mode" in c.value for c in at.sidebar.caption)
    assert not [b for b in at.button if b.label == "Sign in"]


def _local(monkeypatch, tmp_path) -> AppTest:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("EVALUATOR_STORE", str(tmp_path / "store.sqlite3"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    return at


def _local_save(at: AppTest, name: str) -> None:
    _page(at, "scenarios")
    at.text_input(key="save_name").set_value(name)
    at.text_input(key="save_author").set_value("Officer Kim")
    next(b for b in at.button if b.label == "Save").click().run()
    assert any("Saved as scenario" in s.value for s in at.success), [e.value for e in at.error]


def test_loading_a_scenario_restores_locks_edits_and_the_same_allocation(monkeypatch, tmp_path):
    at = _local(monkeypatch, tmp_path)
    key = f"apps_editor_{at.session_state['editor_version']}"
    first_id = at.session_state["raw_df"].loc[0, "id"]
    capex = float(at.session_state["raw_df"].loc[0, "initial_capex_usd_m"])
    at.session_state[key] = {"edited_rows": {0: {"initial_capex_usd_m": 2 * capex}}, "added_rows": [],
                             "deleted_rows": []}
    at.run()
    _page(at, "allocation")
    at.multiselect(key="lock_in").set_value(["VN-W-01"])
    at.multiselect(key="lock_out").set_value(["AU-LI-01"]).run()
    _local_save(at, "Decided")
    at.button(key="start_over").click().run()                     # everything back to the samples
    assert at.session_state["raw_df"].loc[0, "initial_capex_usd_m"] != 2 * capex
    _page(at, "scenarios")
    at.selectbox(key="load_id").set_value(1)
    at.button(key="load_btn").click().run()
    assert not at.exception
    assert list(at.session_state["lock_in"]) == ["VN-W-01"] and list(at.session_state["lock_out"]) == ["AU-LI-01"]
    assert float(at.session_state["raw_df"].loc[0, "initial_capex_usd_m"]) == pytest.approx(2 * capex)
    assert float(at.session_state["original_df"].loc[0, "initial_capex_usd_m"]) == pytest.approx(capex)
    assert any("1 edit(s)" in c.value for c in at.caption)
    _local_save(at, "Reloaded")
    first, again = ScenarioStore().load(1).record, ScenarioStore().load(2).record
    assert again["results_hash"] == first["results_hash"] and again["figures"] == first["figures"]
    (edit,) = first["edits"]["changed"]
    assert again["edits"]["changed"] == [edit]
    assert (edit["id"], edit["field"]) == (first_id, "initial_capex_usd_m")
    assert (float(edit["original"]), float(edit["entered"])) == pytest.approx((capex, 2 * capex))
    from evaluator.roles import local_user
    assert edit["by"] == local_user() and edit["at"].endswith("+00:00")     # who and when (UTC) kept


def test_the_report_page_shows_a_decision_only_for_its_own_figures(monkeypatch, tmp_path):
    at = _local(monkeypatch, tmp_path)
    _local_save(at, "Base")
    ScenarioStore().decide(1, "Approved as proposed", "committee")
    _page(at, "report")
    assert any("decision #1" in s.value and "goes into the report" in s.value for s in at.success)
    key = f"apps_editor_{at.session_state['editor_version']}"
    _page(at, "applications")
    capex = float(at.session_state["raw_df"].loc[0, "initial_capex_usd_m"])
    at.session_state[key] = {"edited_rows": {0: {"initial_capex_usd_m": 3 * capex}}, "added_rows": [],
                             "deleted_rows": []}
    at.run()
    _page(at, "report")
    assert not any("goes into the report" in s.value for s in at.success)
    # the scenario's name is escaped for Markdown (text stays text): read without the backslashes
    assert any("was for other figures (scenario Base (#1))" in w.value.replace("\\", "")
               and "applications' content" in w.value for w in at.warning)


def test_the_team_server_enters_its_roles_in_the_store_once_per_change(team):
    """So that the store itself knows the team's approvers (the CLI's ``scenario decide --by``)."""
    from evaluator.roles import known_roster, roster

    team("kim@agency.go.kr")
    team("lee@agency.go.kr")
    trail = ScenarioStore().audit_entries()
    assert trail["action"].tolist().count("roles") == 1
    known = known_roster(ScenarioStore())
    assert known["roles"] == roster(ROLES) and known["by"] == "Kim <kim@agency.go.kr> (officer)"
    assert known["roles"]["officer"] == ["kim@agency.go.kr", "lee@agency.go.kr"]


def test_an_officers_edit_is_marked_with_the_applicants_value_who_and_when_kst(team):
    from datetime import datetime, timedelta, timezone

    from evaluator.record import kst

    kim = team("kim@agency.go.kr")
    raw = kim.session_state["raw_df"]
    capex = float(raw.loc[1, "initial_capex_usd_m"])
    key = f"apps_editor_{kim.session_state['editor_version']}"
    kim.session_state[key] = {"edited_rows": {1: {"initial_capex_usd_m": capex + 100}}, "added_rows": [],
                              "deleted_rows": []}
    kim.run()
    shown = next(d.value for d in kim.dataframe if "Officer's value" in d.value.columns)
    (row,) = shown.to_dict("records")
    assert (row["Application"], row["Field"]) == (raw.loc[1, "id"], "initial_capex_usd_m")
    assert float(row["Applicant's value"]) == pytest.approx(capex)
    assert float(row["Officer's value"]) == pytest.approx(capex + 100)
    assert row["Changed by"] == "Kim <kim@agency.go.kr> (officer)"
    at = datetime.strptime(row["Changed at (KST)"], "%Y-%m-%d %H:%M KST")
    now_kst = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=9)
    assert abs((now_kst - at).total_seconds()) < 180
    _save(kim, "Edited")
    (edit,) = ScenarioStore().load(1).record["edits"]["changed"]
    assert edit["by"] == "Kim <kim@agency.go.kr> (officer)" and kst(edit["at"]) == row["Changed at (KST)"]
    # another session of the same officer (the draft) and a loaded scenario keep who and when
    again = team("kim@agency.go.kr")
    assert list(again.session_state["edit_log"].values())[0]["by"] == edit["by"]


def test_kst_is_utc_plus_nine_hours():
    from evaluator.record import kst

    # Korea Standard Time is UTC+9 all year (no daylight saving): 22:30 UTC is 07:30 the next day
    assert kst("2026-12-07T22:30:00+00:00") == "2026-12-08 07:30 KST"
    assert kst("2026-06-30T15:00:00Z") == "2026-07-01 00:00 KST"
    assert kst(None) == "" and kst("") == ""
