"""What a saved scenario records, its replay, and a decision bound to its own figures (issue 24).

The "sample scenarios" are the bundled 27 applications under: the default scenario; officer
locks (one must fund, one must not); an officer's edit of an applicant's capex with a price path;
a customs extract replacing the bundled imports. Each is saved, replayed from the store alone,
and must give the saved allocation to the won (1e-6 KRW bn = KRW 1,000).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from evaluator import pipeline
from evaluator.cli import main
from evaluator.record import figures_key, original_table, results_hash, table_edits
from evaluator.replay import replay
from evaluator.store import ScenarioStore
from models.loader import load_applications, validate_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_projects" / "applications.csv"
CUSTOMS = ROOT / "tests" / "data" / "comtrade_korea_synthetic.csv"


@pytest.fixture(scope="module")
def loaded(ref):
    return load_applications(SAMPLES, ref=ref)


def _edited(raw: pd.DataFrame, app_id: str, field: str, factor: float) -> pd.DataFrame:
    out = raw.copy()
    row = out.index[out["id"] == app_id][0]
    out[field] = out[field].astype(object)
    out.loc[row, field] = float(out.loc[row, field]) * factor
    return out


def test_edits_are_kept_beside_the_applicants_values_and_undo_exactly():
    original = pd.DataFrame({"id": ["A", "B", "C"], "capex": ["100", "200", "300"], "name": ["a", "b", "c"]})
    entered = pd.DataFrame({"id": ["A", "B", "D"], "capex": [100.0, 600.0, 50.0], "name": ["a", "b", "d"]})
    edits = table_edits(original, entered)
    # "100" typed as text and 100.0 as a number are the same figure: not an edit
    assert edits["changed"] == [{"id": "B", "field": "capex", "original": "200", "entered": 600.0}]
    assert edits["added"] == ["D"] and [r["id"] for r in edits["removed"]] == ["C"]
    back = original_table(entered, edits).sort_values("id").reset_index(drop=True)
    assert back["id"].tolist() == ["A", "B", "C"]
    assert back.set_index("id").loc["B", "capex"] == "200" and back.set_index("id").loc["C", "capex"] == "300"


def _save_sample(store, ref, loaded, name, *, scenario, raw=None, locks=((), ()), customs=None):
    raw = loaded.raw if raw is None else raw
    apps = validate_table(raw, loaded.schedule, ref=ref).applications
    customs_import = None
    files = {}
    if customs is not None:
        from evaluator.customs import read_comtrade

        data = customs.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        files = {sha: (customs.name, data)}
        customs_import = read_comtrade(data, filename=customs.name, ref=ref)
    result = pipeline.run(apps, scenario, ref, customs=customs_import, locked_in=locks[0], locked_out=locks[1])
    kw = pipeline.snapshot(apps, scenario, result, locked_in=locks[0], locked_out=locks[1], entered=raw,
                           original=loaded.raw, schedule=loaded.schedule,
                           customs=None if customs is None else (customs.name, next(iter(files))))
    kw["applications"] = raw
    return store.save(name, "officer kim", files=files, **kw), result


@pytest.fixture(scope="module")
def samples(tmp_path_factory, ref, loaded, scenario):
    """The sample scenarios saved in one store: name -> (id, result)."""
    store = ScenarioStore(tmp_path_factory.mktemp("rec") / "s.sqlite3")
    base = loaded.raw
    edited = _edited(base, "VN-W-01", "initial_capex_usd_m", 3.0)
    path = {"tungsten": {2027: 400.0, 2030: 520.0}, "rare_earths": {2027: 60.0, 2032: 90.0}}
    out = {
        "base": _save_sample(store, ref, loaded, "base", scenario=scenario),
        "locks": _save_sample(store, ref, loaded, "locks", scenario=scenario,
                              locks=(("VN-W-01",), ("VN-REE-01",))),
        "edit + price path": _save_sample(store, ref, loaded, "edit", raw=edited,
                                          scenario=scenario.replace(price_path_usd_per_t=path, fund_krw_bn=200.0),
                                          locks=(("AU-LI-01",), ())),
        "customs": _save_sample(store, ref, loaded, "customs", scenario=scenario, customs=CUSTOMS),
    }
    return store, out


@pytest.mark.parametrize("name", ["base", "locks", "edit + price path", "customs"])
def test_replay_of_each_sample_scenario_equals_the_saved_allocation(samples, ref, name):
    store, out = samples
    sid, result = out[name]
    saved = store.load(sid)
    rep = replay(saved, ref, store.file)
    assert rep["matches_saved"] is True, rep["differences"]
    assert rep["results_hash"] == saved.record["results_hash"] == results_hash(result.allocation.table)
    funded = result.allocation.table[result.allocation.table["selected"].astype(bool)]
    assert rep["funded"]["count"] == len(funded)
    assert rep["funded"]["fund_krw_bn"] == pytest.approx(funded["fund_krw_bn"].sum(), abs=1e-6)


def test_the_record_holds_locks_edits_schedule_and_customs(samples):
    store, out = samples
    locks = store.load(out["locks"][0]).record
    assert locks["locks"] == {"must_fund": ["VN-W-01"], "must_not_fund": ["VN-REE-01"]}
    edit = store.load(out["edit + price path"][0])
    (change,) = edit.record["edits"]["changed"]
    assert change["id"] == "VN-W-01" and change["field"] == "initial_capex_usd_m"
    assert float(change["entered"]) == pytest.approx(3 * float(change["original"]))
    assert edit.assumptions["price_path_usd_per_t"]["tungsten"] == {"2027": 400.0, "2030": 520.0}
    customs = store.load(out["customs"][0]).record["customs"]
    assert customs == {"basis": "upload", "file": CUSTOMS.name,
                       "sha256": hashlib.sha256(CUSTOMS.read_bytes()).hexdigest()}
    assert store.file(customs["sha256"])[1] == CUSTOMS.read_bytes()


def test_replay_says_what_differs(tmp_path, ref, loaded, scenario):
    store = ScenarioStore(tmp_path / "s.sqlite3")
    sid, result = _save_sample(store, ref, loaded, "base", scenario=scenario)
    funded = result.allocation.table.index[result.allocation.table["selected"].astype(bool)][0]
    # the stored allocation changed behind the tool (an undecided scenario): the replay disagrees
    saved = store.load(sid)
    table = saved.allocation.copy()
    table.loc[funded, "fund_krw_bn"] = float(table.loc[funded, "fund_krw_bn"]) + 1.0
    from evaluator.store import frame_to_json

    conn = sqlite3.connect(tmp_path / "s.sqlite3")
    conn.execute("UPDATE scenarios SET allocation_json = ? WHERE id = ?", (frame_to_json(table), sid))
    conn.commit()
    conn.close()
    rep = replay(store.load(sid), ref, store.file)
    assert rep["matches_saved"] is False
    assert {"id": str(funded), "field": "fund_krw_bn", "saved": round(float(table.loc[funded, "fund_krw_bn"]), 6),
            "replayed": round(float(result.allocation.table.loc[funded, "fund_krw_bn"]), 6)} in rep["differences"]


def test_a_decision_attaches_only_to_its_own_figures(tmp_path, ref, loaded, scenario):
    path = tmp_path / "s.sqlite3"
    store = ScenarioStore(path)
    sid, _ = _save_sample(store, ref, loaded, "base", scenario=scenario, locks=(("VN-W-01",), ()))
    store.decide(sid, "Approved as proposed", "committee")
    apps = loaded.applications
    mine = pipeline.recorded_decision(path, scenario, apps, ["VN-W-01"], [])
    assert mine["note"] == "Approved as proposed" and not mine.get("for_other_figures")
    # every capex tripled: same ids, same assumptions, other figures
    tripled = loaded.raw.copy()
    tripled["initial_capex_usd_m"] = pd.to_numeric(tripled["initial_capex_usd_m"]) * 3
    other_apps = validate_table(tripled, loaded.schedule, ref=ref).applications
    other = pipeline.recorded_decision(path, scenario, other_apps, ["VN-W-01"], [])
    assert other == {"for_other_figures": True, "decision_id": 1, "scenario": "base (#1)",
                     "differs": ["applications"]}
    assert pipeline.recorded_decision(path, scenario, apps, [], [])["differs"] == ["locks"]
    assert pipeline.recorded_decision(path, scenario.replace(fund_krw_bn=200.0), apps, ["VN-W-01"], [])[
        "differs"] == ["assumptions"]
    assert figures_key(apps, scenario.replace(name="renamed"), ["VN-W-01"]) == figures_key(apps, scenario, ["VN-W-01"])


def test_the_report_says_plainly_the_decision_was_for_other_figures(tmp_path, ref, loaded, scenario):
    import openpyxl
    from io import BytesIO

    from evaluator.report import build_pipeline_report

    path = tmp_path / "s.sqlite3"
    store = ScenarioStore(path)
    sid, _ = _save_sample(store, ref, loaded, "base", scenario=scenario)
    store.decide(sid, "Approved as proposed", "committee")
    tripled = loaded.raw.copy()
    tripled["initial_capex_usd_m"] = pd.to_numeric(tripled["initial_capex_usd_m"]) * 3
    apps = validate_table(tripled, loaded.schedule, ref=ref).applications
    result = pipeline.run(apps, scenario, ref)
    decision = pipeline.recorded_decision(path, scenario, apps)
    wb = openpyxl.load_workbook(BytesIO(build_pipeline_report(result, scenario, ref=ref, decision=decision)))
    assert "Decision" not in wb.sheetnames
    text = " ".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None)
    assert "Approved as proposed" not in text
    assert "decision #1 was for other figures (scenario base (#1))" in text


def test_cli_replay_show_decide_audit_print_what_a_committee_keeps(tmp_path, capsys):
    store = str(tmp_path / "s.sqlite3")
    base = ["scenario", "--store", store]
    assert main([*base, "save", str(SAMPLES), "--name", "locked", "--author", "kim", "--lock-in", "VN-W-01",
                 "--lock-out", "VN-REE-01", "--customs", str(CUSTOMS)]) == 0
    capsys.readouterr()
    assert main([*base, "replay", "1", "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["matches_saved"] is True and rep["differences"] == []
    assert {r["id"] for r in rep["allocation"] if r["selected"]} >= {"VN-W-01"}
    assert not any(r["selected"] for r in rep["allocation"] if r["id"] == "VN-REE-01")
    assert main([*base, "decide", "1", "--note", "approved"]) == 0
    cap = capsys.readouterr()
    head = ScenarioStore(store).heads()
    assert cap.out.strip() == "1" and head["decisions"] in cap.err and head["audit"] in cap.err
    assert main([*base, "show", "1", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)["summary"]
    assert shown["locks"] == {"must_fund": ["VN-W-01"], "must_not_fund": ["VN-REE-01"]}
    assert shown["edits"] == [] and shown["customs"]["file"] == CUSTOMS.name
    assert shown["head_hash"] == head["decisions"] and shown["audit_head_hash"] == head["audit"]
    assert main([*base, "save", str(SAMPLES), "--name", "other", "--author", "kim"]) == 0
    assert main([*base, "decide", "2", "--note", "revised"]) == 2   # no reason
    assert "stated reason" in capsys.readouterr().err
    assert main([*base, "decide", "2", "--note", "revised", "--reason", "no locks"]) == 0
    capsys.readouterr()
    assert main([*base, "audit", "--format", "json"]) == 0
    trail = json.loads(capsys.readouterr().out)
    assert [r["action"] for r in trail["applications"]] == ["upgrade", "save", "decide", "save", "decide"]
    assert trail["summary"]["audit_head_hash"] == ScenarioStore(store).heads()["audit"]


def test_the_pack_marks_each_edit_with_the_applicants_value_who_and_when(ref, loaded):
    """The workbook's Edits sheet: one row per changed figure, as :func:`table_edits` kept it with
    the session's log of who changed it when (UTC), the time shown in Korea (UTC+9)."""
    import io

    import openpyxl

    from evaluator.messages import field_label
    from evaluator.record import edit_rows
    from evaluator.report import build_pipeline_report
    from models.scenario import default_scenario

    app_id = loaded.raw["id"].iloc[0]
    entered = _edited(loaded.raw, app_id, "initial_capex_usd_m", 2.0)
    log = {f"{app_id}\x1finitial_capex_usd_m": {"by": "Kim <kim@agency.go.kr> (officer)",
                                                "at": "2026-12-07T23:30:00+00:00"}}
    rows = edit_rows(table_edits(loaded.raw, entered, log))
    capex = float(loaded.raw["initial_capex_usd_m"].iloc[0])
    assert rows == [{"id": app_id, "field": "initial_capex_usd_m", "original": loaded.raw["initial_capex_usd_m"].iloc[0],
                     "entered": 2 * capex, "by": "Kim <kim@agency.go.kr> (officer)", "at_kst": "2026-12-08 08:30 KST"}]
    apps = validate_table(entered, loaded.schedule, ref=ref).applications
    scenario = default_scenario()
    result = pipeline.run(apps, scenario, ref)
    for language, sheet, header in (("en", "Edits", "Applicant's value"), ("ko", "수정 내역", "신청자 값")):
        wb = openpyxl.load_workbook(io.BytesIO(build_pipeline_report(result, scenario, ref=ref, edits=rows,
                                                                     language=language)))
        ws = wb[sheet]
        assert [c.value for c in ws[3]][:6][2] == header
        values = [c.value for c in ws[4]][:6]
        assert values[0] == app_id and values[1] == field_label("initial_capex_usd_m", "USD m", language)
        assert float(values[2]) == pytest.approx(capex) and float(values[3]) == pytest.approx(2 * capex)
        assert values[4:] == ["Kim <kim@agency.go.kr> (officer)", "2026-12-08 08:30 KST"]
    assert "Edits" not in openpyxl.load_workbook(io.BytesIO(build_pipeline_report(result, scenario, ref=ref))).sheetnames
