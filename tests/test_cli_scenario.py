"""``python -m evaluator scenario ...``: save, list, compare, decide through the CLI and a temp store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluator.cli import main
from evaluator.store import DecisionLocked, ScenarioStore

SAMPLES = str(Path(__file__).resolve().parent.parent / "sample_projects" / "applications.csv")


def test_save_compare_decide_round_trip(tmp_path, capsys):
    store = str(tmp_path / "s.sqlite3")
    assert main(["scenario", "--store", store, "save", SAMPLES, "--name", "base", "--author", "kim"]) == 0
    assert main(["scenario", "--store", store, "save", SAMPLES, "--name", "loans +20%", "--author", "lee",
                 "--loan-krw-bn", "81"]) == 0
    capsys.readouterr()
    assert main(["scenario", "--store", store, "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["head_hash"] is None and len(listed["audit_head_hash"]) == 64   # nothing decided yet
    listed = listed["scenarios"]
    assert [r["name"] for r in listed] == ["base", "loans +20%"]
    assert listed[0]["app_hash"] == listed[1]["app_hash"]  # same application set

    assert main(["scenario", "--store", store, "compare", "1", "2", "--format", "json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    diffs = {r["key"] for r in cmp["summary"]["assumptions"] if r["differs"]}
    assert diffs == {"loan_krw_bn"}
    loans = {r["application_id"]: (r["loan_krw_bn_1"], r["loan_krw_bn_2"]) for r in cmp["applications"]}
    assert sum(a for a, _ in loans.values()) == pytest.approx(67.5)
    assert sum(b for _, b in loans.values()) <= 81 + 1e-6

    assert main(["scenario", "--store", store, "decide", "2", "--note", "approved"]) == 0   # a local store: its user
    s = ScenarioStore(store)
    assert s.current_decision().scenario_id == 2
    with pytest.raises(DecisionLocked):
        s.delete(2)
    saved = s.load(2)
    assert saved.assumptions["loan_krw_bn"] == 81
    assert saved.allocation["loan_krw_bn"].sum() <= 81 + 1e-6


def test_foreign_store_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "not.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    assert main(["scenario", "--store", str(bad), "list"]) == 2
    assert str(bad) in capsys.readouterr().err


def test_decide_refuses_a_decider_the_store_does_not_know_as_an_approver(tmp_path, capsys):
    """``--by`` is not free text: a local store knows one identity (the machine's user); a team
    store knows the roster its server entered, and only an approver on it decides (issue 24)."""
    from evaluator.roles import local_user, record_roster

    store = str(tmp_path / "s.sqlite3")
    assert main(["scenario", "--store", store, "save", SAMPLES, "--name", "base", "--author", "kim"]) == 0
    capsys.readouterr()
    assert main(["scenario", "--store", store, "decide", "1", "--note", "x", "--by",
                 "Minister of Trade, Industry and Energy"]) == 2
    err = capsys.readouterr().err
    assert "knows no team roles" in err and "approver role" in err and err.count("\n") == 1
    assert ScenarioStore(store).decisions() == []

    record_roster(ScenarioStore(store), {"approver": ["Secretary@Agency.go.kr"], "officer": ["kim@agency.go.kr"]},
                  "team server")
    for by, said in (("kim@agency.go.kr", "is listed as officer"), ("Minister of Trade", "is on no list"),
                     (local_user(), "is on no list")):
        assert main(["scenario", "--store", store, "decide", "1", "--note", "x", "--by", by]) == 2
        err = capsys.readouterr().err
        assert said in err and "only by an approver: secretary@agency.go.kr" in err, err
    assert main(["scenario", "--store", store, "decide", "1", "--note", "x"]) == 2
    assert ScenarioStore(store).decisions() == []
    capsys.readouterr()
    assert main(["scenario", "--store", store, "decide", "1", "--note", "Approved as proposed", "--by",
                 " SECRETARY@agency.go.kr", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (d,) = ScenarioStore(store).decisions()
    assert d.decided_by == out["decided_by"] == "secretary@agency.go.kr (approver)"
    assert out["decision_hash"] == d.this_hash == out["head_hash"]
    trail = ScenarioStore(store).audit_entries()
    assert trail["action"].tolist()[-2:] == ["roles", "decide"] and trail["who"].iloc[-1] == d.decided_by


def test_a_cli_decision_is_bound_to_its_figures_as_the_apps_is(tmp_path, capsys):
    """The decision attaches to a run of the same figures (the report's and the app's rule) and to
    no other: the fingerprint printed is the run's :func:`evaluator.record.figures_key`."""
    from evaluator.pipeline import recorded_decision
    from evaluator.record import figures_key
    from evaluator.reference import load_reference
    from models.loader import load_applications
    from models.scenario import default_scenario

    store = str(tmp_path / "s.sqlite3")
    assert main(["scenario", "--store", store, "save", SAMPLES, "--name", "base", "--author", "kim"]) == 0
    capsys.readouterr()
    assert main(["scenario", "--store", store, "decide", "1", "--note", "ok", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    apps = load_applications(Path(SAMPLES).read_bytes(), filename="applications.csv", ref=load_reference()).applications
    scenario = default_scenario()
    assert out["figures"] == figures_key(apps, scenario)
    assert recorded_decision(store, scenario, apps)["decision_id"] == out["decision_id"]
    other = recorded_decision(store, scenario, apps, locked_in=[apps[0].id])
    assert other["for_other_figures"] and other["differs"] == ["locks"]
