"""The Streamlit app driven through its entry point with AppTest (no browser).

Download bytes are not exposed by AppTest: the builders behind the buttons are tested in their
own modules (test_report, test_template).
"""

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from app_pages import background  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_projects" / "applications.csv"
BROKEN = ROOT / "sample_projects" / "broken"
PAGES = ["applications", "ranking", "project", "allocation", "report", "scenarios"]


def _page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"app_pages/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture
def at(fresh_app):
    return fresh_app


def test_every_page_renders_in_both_languages(at):
    for page in PAGES:
        _page(at, page)
        assert not at.error, (page, [e.value for e in at.error])
    at.radio(key="lang").set_value("ko")
    at.radio(key="unit").set_value("억원").run()
    assert not at.exception
    _page(at, "allocation")
    assert "억원" in _metric(at, "배정액")


def test_fund_slider_changes_allocated_total(at):
    _page(at, "allocation")
    before = _metric(at, "Allocated")
    at.slider(key="fund_krw_bn__shown").set_value(100.0).run()
    assert not at.exception
    after = _metric(at, "Allocated")
    assert after != before
    assert float(after.split()[0].replace(",", "")) < float(before.split()[0].replace(",", ""))


def test_weight_change_changes_ranking(at):
    _page(at, "ranking")
    first = at.dataframe[0].value.index.tolist()
    for c in ("financial", "risk", "loan_safety", "readiness", "esg"):
        at.slider(key=f"w_{c}").set_value(0)
    at.slider(key="w_diversification").set_value(100).run()
    assert not at.exception
    second = at.dataframe[0].value.index.tolist()
    assert sorted(first) == sorted(second)
    assert first != second


def test_all_weights_zero_shows_error_not_crash(at):
    _page(at, "ranking")
    for c in ("financial", "risk", "diversification", "loan_safety", "readiness", "esg"):
        at.slider(key=f"w_{c}").set_value(0)
    at.run()
    assert not at.exception
    assert any("weight" in e.value.lower() for e in at.error)


def test_valid_upload_replaces_applications(at):
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(3)
    at.file_uploader(key="apps_upload").set_value(("three.csv", df.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["source_name"] == "three.csv"
    assert len(at.session_state["raw_df"]) == 3
    assert _metric(at, "Valid applications (evaluated)") == "3"


@pytest.mark.parametrize("name", ["corrupt.xlsx", "not_a_spreadsheet.xlsx", "empty.csv", "missing_column.csv"])
def test_bad_upload_shows_error_and_keeps_data(at, name):
    n_before = len(at.session_state["raw_df"])
    at.file_uploader(key="apps_upload").set_value((name, (BROKEN / name).read_bytes(), "application/octet-stream"))
    at.run()
    assert not at.exception
    assert at.error, "expected an st.error for a bad upload"
    assert "kept" in at.error[0].value
    assert len(at.session_state["raw_df"]) == n_before
    assert at.session_state["source_name"] == SAMPLE.name


def test_row_problems_listed_and_valid_rows_evaluated(at):
    name = "grade_over_100.csv"
    at.file_uploader(key="apps_upload").set_value((name, (BROKEN / name).read_bytes(), "text/csv"))
    at.run()
    assert not at.exception
    tables = [d.value for d in at.dataframe]
    assert any({"Application", "Field", "Rule"} <= set(t.columns) for t in tables)


def test_editor_edit_is_validated(at):
    key = f"apps_editor_{at.session_state['editor_version']}"
    at.session_state[key] = {"edited_rows": {0: {"recovery": 1.7}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    problems = next(d.value for d in at.dataframe if {"Application", "Field", "Rule"} <= set(d.value.columns))
    # the column as the officer finds it, and the row as the sample file numbers it (header = line 1)
    assert list(problems["Field"]) == ["Recovery (column recovery)"] and list(problems["Row"]) == [2]


def test_scenarios_save_compare_decide(at):
    _page(at, "scenarios")
    at.text_input(key="save_name").input("Base")
    at.text_input(key="save_author").input("Officer Kim")
    at.button[0].click().run()  # form submit
    assert not at.exception
    assert any("Saved as scenario" in s.value for s in at.success), [e.value for e in at.error]
    _page(at, "allocation")
    at.slider(key="fund_krw_bn__shown").set_value(150.0).run()
    _page(at, "scenarios")
    at.text_input(key="save_name").input("Fund 150")
    at.text_input(key="save_author").input("Officer Kim")
    at.button[0].click().run()
    assert not at.exception
    at.multiselect(key="compare_ids").set_value([1, 2]).run()
    assert not at.exception
    texts = " ".join(m.value for m in at.markdown)
    assert "Assumptions" in texts and "differ" in texts
    at.text_input(key="decide_by").input("Committee")
    at.text_area(key="decide_note").input("Approved at the March meeting")
    at.selectbox(key="decide_id").set_value(2)
    next(b for b in at.button if b.label == "Record decision").click().run()
    assert not at.exception
    assert any("Check what is being decided" in w.value for w in at.warning)   # a confirmation first
    at.button(key="confirm_record").click().run()
    assert not at.exception
    assert any("Decision in force: scenario 2" in s.value for s in at.success)
    from evaluator.store import DecisionLocked, ScenarioStore
    store = ScenarioStore()  # EVALUATOR_STORE points at the test's store
    with pytest.raises(DecisionLocked):
        store.delete(2)


def test_risk_adjusted_switch_simulates_once_and_shows_p10(at, monkeypatch):
    """The Ranking page's switch ranks on the simulated P10 NPV; moving a weight or a budget
    slider afterwards re-scores without re-simulating (the simulation is cached off those paths)."""
    from evaluator import pipeline

    calls = []
    real = pipeline.simulate_step

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(pipeline, "simulate_step", counted)
    _page(at, "ranking")
    assert "P10 NPV [USD m]" not in at.dataframe[0].value.columns
    at.radio(key="financial_measure").set_value("p10_npv").run()
    assert not at.exception, [e.value for e in at.exception]
    view = at.dataframe[0].value
    assert {"P10 NPV [USD m]", "P(NPV < 0) [%]"} <= set(view.columns)
    assert view["P10 NPV [USD m]"].notna().any()
    assert len(calls) == 1
    at.slider(key="w_risk").set_value(40).run()
    _page(at, "allocation")
    at.slider(key="fund_krw_bn__shown").set_value(150.0).run()
    assert not at.exception
    assert len(calls) == 1


def test_supply_effect_is_explained_in_words(at):
    """Project and Allocation pages say the diversification numbers in a sentence an officer can check."""
    _page(at, "project")
    text = " ".join(m.value for m in at.markdown)
    assert "Korea imported" in text and "from China" in text
    _page(at, "allocation")
    text = " ".join(m.value for m in at.markdown)
    assert "funded project(s) deliver" in text and "target" in text
    at.radio(key="lang").set_value("ko").run()
    _page(at, "allocation")
    text = " ".join(m.value for m in at.markdown)
    assert "중국 비중" in text


def test_budget_slider_reads_in_the_chosen_unit(at):
    """In 억원 the fund slider reads 2,500 (KRW 250 bn) and moving it sets the budget in KRW bn;
    amounts read as officers write them (1조 2,500억원 style)."""
    at.radio(key="unit").set_value("억원").run()
    _page(at, "allocation")
    slider = at.slider(key="fund_krw_bn__shown")
    assert slider.value == pytest.approx(2500.0)
    assert "억원" in slider.label
    slider.set_value(2000.0).run()
    assert not at.exception
    assert at.session_state["fund_krw_bn"] == pytest.approx(200.0)
    fund = next(m for m in at.metric if m.label == "Fund")
    assert "2,000억원" in fund.delta


def test_eok_formatting():
    from app_pages.fmt import fmt_eok

    assert fmt_eok(3135.0) == "3,135억원"
    assert fmt_eok(12500.0) == "1조 2,500억원"
    assert fmt_eok(20000.0) == "2조원"
    assert fmt_eok(22.5) == "22.5억원"
    assert fmt_eok(-675.0) == "-675억원"


def test_weight_change_shows_what_moved(at):
    _page(at, "ranking")
    at.slider(key="w_diversification").set_value(100).run()
    assert not at.exception
    moved = next(d.value for d in at.dataframe if "Rank before" in d.value.columns)
    assert len(moved) > 0
    assert {"Rank before", "Rank now", "Change"} <= set(moved.columns)
    ranked = moved.dropna(subset=["Rank before", "Rank now"])
    for _, r in ranked.iterrows():
        assert int(r["Change"]) == int(r["Rank before"] - r["Rank now"])


def test_portfolio_risk_runs_once_per_allocation(at):
    """The Allocation page simulates the funded portfolio on request and keeps it: a slider move
    that keeps the allocation does not re-run it; the figures respect their order."""
    _page(at, "allocation")
    at.button(key="run_portfolio_risk").click().run()
    assert not at.exception, [e.value for e in at.exception]
    labels = {m.label: m.value for m in at.metric}
    assert {"Expected loan-book loss", "Loan loss, 95th percentile", "Fund NPV, P10", "P(fund NPV < 0)"} <= set(labels)
    num = lambda v: float(v.split()[0].replace(",", ""))  # noqa: E731
    assert num(labels["Expected loan-book loss"]) <= num(labels["Loan loss, 99th percentile"])
    assert num(labels["Fund NPV, P10"]) <= num(labels["Fund NPV, P50"]) <= num(labels["Fund NPV, P90"])
    assert any("P(exploration fails) [%]" in d.value.columns for d in at.dataframe)
    # issue 22: the static expected loss of the same loans beside the simulated one, the sentence on
    # why they differ, and both per project
    assert "Static expected loss (same loans)" in labels
    assert any(c.value.startswith("Expected loss of the loan book: static KRW") for c in at.caption)
    table = next(d.value for d in at.dataframe if "P(exploration fails) [%]" in d.value.columns)
    assert {"Simulated expected loss [KRW bn]", "Static expected loss [KRW bn]"} <= set(table.columns)
    at.run()
    assert "Expected loan-book loss" in {m.label for m in at.metric}   # kept, no button press needed


def test_project_page_shows_simulated_and_static_default(at):
    """Issue 22: the Project page's simulation shows the loan's probability of default and expected
    loss beside the static model's (one credit model)."""
    _page(at, "project")
    at.selectbox(key="project_id").set_value("AU-LI-01").run()
    at.select_slider(key="mc_paths").set_value(500).run()
    at.button(key="run_mc").click().run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    for label in ("P(default) over the loan's life", "Static P(default) over the loan's life",
                  "Simulated expected loss of the loan", "Static expected loss of the loan"):
        assert label in metrics, label
    # a producing mine covered 237 times: a few percent over the loan's life, not tens of percent
    assert float(metrics["P(default) over the loan's life"].rstrip("%").strip()) < 10
    assert any("One credit model" in c.value for c in at.caption)


def test_project_page_reconciles_with_the_study(at):
    """An application carrying its study's NPV gets the bridge on the Project page; the steps
    end at the fund's NPV; pre-tax and investor views and the DSCR scope are stated."""
    key = f"apps_editor_{at.session_state['editor_version']}"
    at.session_state[key] = {"edited_rows": {0: {"study_npv_usd_m": 400.0, "study_discount_rate": 0.08}},
                             "added_rows": [], "deleted_rows": []}
    at.run()
    _page(at, "project")
    assert not at.exception, [e.value for e in at.exception]
    assert "Reconciliation with the applicant's study" in [h.value for h in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Study NPV [USD m]"] == "400.0"
    assert float(metrics["Tool, on the fund's assumptions [USD m]"].replace(",", "")) == pytest.approx(
        float(metrics["NPV [USD m]"].replace(",", "")), abs=0.051)
    assert {"Pre-tax NPV [USD m]", "Korean investor's NPV [USD m]"} <= set(metrics)
    assert any("policy loan alone" in c.value for c in at.caption)


def test_price_deck_upload_moves_the_npv(at):
    _page(at, "project")
    before = next(m.value for m in at.metric if m.label == "NPV [USD m]")
    mineral = at.session_state["raw_df"].loc[0, "mineral"]
    deck = f"mineral,year,price_usd_per_t\n{mineral},2027,1000\n{mineral},2040,1000\n".encode()
    at.file_uploader(key="price_deck_upload").set_value(("deck.csv", deck, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    after = next(m.value for m in at.metric if m.label == "NPV [USD m]")
    assert after != before
    bad = b"mineral,year,price_usd_per_t\nlithium,2027,-5\n"
    at.file_uploader(key="price_deck_upload").set_value(("bad.csv", bad, "text/csv"))
    at.run()
    assert any("bad.csv was not used" in e.value for e in at.error)


def test_working_state_survives_a_reload_and_start_over_clears_it(at, monkeypatch, tmp_path):
    """A new session (a reload, or a restarted server) finds the officer's budgets, weights,
    language and edited table where they were left; Start over brings the samples back."""
    key = f"apps_editor_{at.session_state['editor_version']}"           # on the Applications page
    at.session_state[key] = {"edited_rows": {0: {"name": "Renamed by the officer"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    _page(at, "allocation")
    at.slider(key="fund_krw_bn__shown").set_value(150.0).run()
    at.slider(key="w_risk").set_value(40).run()
    at.radio(key="lang").set_value("ko").run()
    fresh = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)     # same store (EVALUATOR_STORE)
    fresh.run()
    assert not fresh.exception, [e.value for e in fresh.exception]
    assert fresh.session_state["fund_krw_bn"] == pytest.approx(150.0)
    assert fresh.session_state["w_risk"] == 40 and fresh.session_state["lang"] == "ko"
    assert fresh.session_state["raw_df"].loc[0, "name"] == "Renamed by the officer"
    assert any("복원" in c.value for c in fresh.caption)
    fresh.button(key="start_over").click().run()
    assert not fresh.exception
    assert fresh.session_state["fund_krw_bn"] == pytest.approx(250.0)
    assert fresh.session_state["raw_df"].loc[0, "name"] != "Renamed by the officer"


def test_what_it_would_take_is_exact_and_worded(at):
    """Computed in the background once the left-out projects are explained (issues 18, 27): the page
    first shows the answers so far, and the whole table once every left-out project is solved."""
    _page(at, "allocation")
    assert not at.exception, [e.value for e in at.exception]
    # the left-out projects' words first (tests/test_left_out_app.py), then this table
    first = {kind: j for (_, kind), j in background._jobs()[0].items()}["left_out"]
    first.thread.join(timeout=300)
    at.run()
    job = {kind: j for (_, kind), j in background._jobs()[0].items()}["what_it_would_take"]  # that run's
    job.thread.join(timeout=120)
    assert job.complete and job.error is None
    at.run()
    assert not any("Computing in the background" in c.value for c in at.caption)
    assert not at.exception, [e.value for e in at.exception]
    assert not any("left-out projects" in p.text for p in at.get("progress"))
    wit = next(d.value for d in at.dataframe if "Exact (re-solved)" in d.value.columns)
    left_out = wit[~wit["Funded"].astype(bool)]
    assert len(left_out) > 0 and left_out["Exact (re-solved)"].all()
    assert (left_out["Value it must gain [objective units]"] > 0).all()


def test_project_page_shows_a_granted_fiscal_incentive(at):
    """Issue 28: an incentive an application names is an input the committee sees, with its law,
    on the Project page's inputs and sources (and in the income tax's source)."""
    row = int(at.session_state["raw_df"].index[at.session_state["raw_df"]["id"] == "ID-NI-01"][0])
    key = f"apps_editor_{at.session_state['editor_version']}"
    at.session_state[key] = {"edited_rows": {row: {"fiscal_incentive": "IDN-TAX-HOLIDAY-15Y"}},
                             "added_rows": [], "deleted_rows": []}
    at.run()
    _page(at, "project")
    at.selectbox(key="project_id").set_value("ID-NI-01")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = "\n".join(d.value.to_csv() for d in at.dataframe)
    assert "IDN-TAX-HOLIDAY-15Y: no national income tax for 15 years" in shown
    assert "PMK 130/PMK.010/2020" in shown
