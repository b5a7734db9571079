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

    assert main(["scenario", "--store", store, "decide", "2", "--note", "approved", "--by", "committee"]) == 0
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
