"""Tests of evaluator.store: round trip, hashing, concurrency, crash safety, refusal of foreign
files, immutability of decisions (API and SQL triggers), supersede chain and migrations.

The figures are illustrative what-if payloads, not reference values.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluator import store as store_module
from evaluator.store import (
    APP_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    DecisionLocked,
    ScenarioNotFound,
    ScenarioStore,
    StoreError,
    TamperedStore,
    applications_hash,
    frame_from_json,
    frame_to_json,
    migrate,
)

APPLICATIONS = [
    {"id": "LI-AR-01", "mineral": "lithium", "country_iso3": "ARG", "fund_request_krw_bn": 80.0,
     "loan_request_krw_bn": 20.0, "stage": "feasibility", "by_products": None},
    {"id": "REE-VN-02", "mineral": "rare_earths", "country_iso3": "VNM",
     "fund_request_krw_bn": 60.0, "loan_request_krw_bn": 15.5, "stage": "exploration",
     "by_products": "cobalt 0.12 % 0.85 0.70"},
    {"id": "GR-AU-03", "mineral": "graphite", "country_iso3": "AUS", "fund_request_krw_bn": 45.0,
     "loan_request_krw_bn": 0.0, "stage": "development", "by_products": None},
]
IDS = [a["id"] for a in APPLICATIONS]
ASSUMPTIONS = {
    "fund_krw_bn": 250.0, "loan_krw_bn": 67.5, "discount_rate": 0.08,
    "weights": {"financial": 0.3, "risk": 0.2, "diversification": 0.3, "loan_safety": 0.1,
                "readiness": 0.05, "esg": 0.05},
    "excluded_countries": ["PRK"], "price_case": "base",
}


def ranking_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"npv_usd_m": [412.123456789012345, 95.5, -3.25], "irr": [0.1834, 0.1102, np.nan],
         "payback_years": [4.5, 7.0, np.inf], "score": [78.4, 64.1, 40.0], "rank": [1, 2, 3],
         "eligible": [True, True, False], "mineral": ["lithium", "rare_earths", "graphite"]},
        index=pd.Index(IDS, name="id"),
    )


def allocation_frame(fund=(80.0, 60.0, 0.0), loan=(20.0, 15.5, 0.0)) -> pd.DataFrame:
    return pd.DataFrame(
        {"fund_krw_bn": list(fund), "loan_krw_bn": list(loan),
         "selected": [f > 0 or l > 0 for f, l in zip(fund, loan)]},
        index=pd.Index(IDS, name="id"),
    )


SUMMARY = {"objective": 1234.5, "china_share_after": {"rare_earths": 0.71, "graphite": 0.93}}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "scenarios.sqlite3"


@pytest.fixture
def store(db_path: Path) -> ScenarioStore:
    return ScenarioStore(db_path)


def save_base(store: ScenarioStore, name: str = "base case", **overrides) -> int:
    kwargs = dict(name=name, author="officer kim", assumptions=ASSUMPTIONS,
                  applications=APPLICATIONS, ranking=ranking_frame(),
                  allocation=allocation_frame(), summary=SUMMARY)
    kwargs.update(overrides)
    return store.save(**kwargs)


# ------------------------------------------------------------------------------ round trip
def test_round_trip(store: ScenarioStore) -> None:
    sid = save_base(store)
    loaded = store.load(sid)
    assert loaded.id == sid and loaded.name == "base case" and loaded.author == "officer kim"
    assert loaded.created_at.endswith("+00:00")
    assert loaded.assumptions == ASSUMPTIONS
    assert loaded.applications == APPLICATIONS
    assert loaded.applications_hash == applications_hash(APPLICATIONS)
    assert loaded.summary == SUMMARY
    pdt.assert_frame_equal(loaded.ranking, ranking_frame(), check_exact=True)
    pdt.assert_frame_equal(loaded.allocation, allocation_frame(), check_exact=True)
    assert loaded.ranking["npv_usd_m"].iloc[0] == 412.123456789012345  # full float precision
    assert not loaded.decided
    with pytest.raises(AttributeError):
        loaded.name = "changed"  # frozen


def test_round_trip_dataframe_applications_and_optional_parts(store: ScenarioStore) -> None:
    apps = pd.DataFrame(APPLICATIONS).set_index("id")
    sid = store.save("frame apps", "lee", {}, apps, ranking=None, allocation=None)
    loaded = store.load(sid)
    assert loaded.ranking is None and loaded.allocation is None and loaded.summary == {}
    # the index (application id) is kept as a column; same set -> same hash as the records list
    assert loaded.applications_hash == applications_hash(APPLICATIONS)
    assert set(loaded.applications_frame()["id"]) == set(IDS)


def test_frame_codec_dtypes() -> None:
    frame = pd.DataFrame({
        "f": [1.5, np.nan, -0.0], "i": np.array([1, 2, 3], dtype="int64"),
        "b": [True, False, True], "s": ["a", "b", None], "o": ["x", 1, 2.5],
        "ni": pd.array([1, None, 3], dtype="Int64"),
        "t": pd.to_datetime(["2027-01-01", "2028-06-30", "2030-12-31"]),
        "c": pd.Categorical(["li", "ree", "li"]),
    })
    back = frame_from_json(frame_to_json(frame))
    pdt.assert_frame_equal(back, frame, check_exact=True, check_categorical=False)
    multi = pd.DataFrame({"v": [1.0, 2.0]},
                         index=pd.MultiIndex.from_tuples([("li", 2027), ("ree", 2030)],
                                                         names=["mineral", "year"]))
    pdt.assert_frame_equal(frame_from_json(frame_to_json(multi)), multi)
    empty = allocation_frame().iloc[0:0]
    pdt.assert_frame_equal(frame_from_json(frame_to_json(empty)), empty)


# ------------------------------------------------------------------------------ hashing
def test_hash_stable_under_key_record_and_column_order() -> None:
    reordered_keys = [dict(reversed(list(a.items()))) for a in APPLICATIONS]
    h = applications_hash(APPLICATIONS)
    assert len(h) == 64
    assert applications_hash(reordered_keys) == h
    assert applications_hash(list(reversed(APPLICATIONS))) == h
    frame = pd.DataFrame(APPLICATIONS)
    assert applications_hash(frame) == h
    assert applications_hash(frame[frame.columns[::-1]]) == h
    changed = [dict(APPLICATIONS[0], fund_request_krw_bn=81.0)] + APPLICATIONS[1:]
    assert applications_hash(changed) != h


@settings(max_examples=50, deadline=None)
@given(st.lists(
    st.dictionaries(st.text(min_size=1, max_size=5),
                    st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                              st.text(max_size=5), st.booleans(), st.none()),
                    max_size=5),
    max_size=5), st.randoms())
def test_hash_property_order_free(records, rnd) -> None:
    shuffled = [dict(rnd.sample(list(r.items()), len(r))) for r in records]
    rnd.shuffle(shuffled)
    assert applications_hash(shuffled) == applications_hash(records)


# ------------------------------------------------------------------------------ list / delete
def test_list_and_delete(store: ScenarioStore) -> None:
    assert store.list().empty
    a = save_base(store, "a")
    b = save_base(store, "b")
    listing = store.list()
    assert list(listing.columns) == ["id", "name", "author", "created_at", "app_hash", "decided"]
    assert listing["id"].tolist() == [a, b]
    assert listing["app_hash"].iloc[0] == applications_hash(APPLICATIONS)[:12]
    assert not listing["decided"].any()
    store.rename(a, "a renamed")
    assert store.load(a).name == "a renamed"
    store.delete(a)
    assert store.list()["id"].tolist() == [b]
    with pytest.raises(ScenarioNotFound, match=str(a)):
        store.load(a)
    with pytest.raises(ScenarioNotFound):
        store.delete(a)
    c = save_base(store, "c")
    assert c > b  # ids never reused


# ------------------------------------------------------------------------------ compare
def test_compare(store: ScenarioStore) -> None:
    a = save_base(store, "base")
    b = save_base(store, "bigger fund",
                  assumptions={**ASSUMPTIONS, "fund_krw_bn": 300.0,
                               "weights": {**ASSUMPTIONS["weights"], "financial": 0.4}},
                  allocation=allocation_frame(fund=(80.0, 60.0, 45.0)),
                  summary={"objective": 1300.0,
                           "china_share_after": {"rare_earths": 0.71, "graphite": 0.88}})
    cmp = store.compare([a, b])
    assert cmp.scenario_ids == (a, b)
    diffs = cmp.assumption_differences
    assert set(diffs.index) == {"fund_krw_bn", "weights.financial"}
    assert diffs.loc["fund_krw_bn", f"scenario_{a}"] == 250.0
    assert diffs.loc["fund_krw_bn", f"scenario_{b}"] == 300.0
    assert not cmp.assumptions.loc["discount_rate", "differs"]

    f = cmp.funding
    assert list(f.index) == IDS
    assert f.loc["GR-AU-03", f"fund_krw_bn_{a}"] == 0.0
    assert f.loc["GR-AU-03", f"fund_krw_bn_{b}"] == 45.0
    assert f["differs"].tolist() == [False, False, True]
    assert f.loc["GR-AU-03", f"selected_{b}"] and not f.loc["GR-AU-03", f"selected_{a}"]

    t = cmp.totals
    assert t.loc["fund_krw_bn", f"scenario_{a}"] == pytest.approx(140.0)
    assert t.loc["fund_krw_bn", f"scenario_{b}"] == pytest.approx(185.0)
    assert t.loc["fund_krw_bn", "differs"] and not t.loc["loan_krw_bn", "differs"]

    s = cmp.summary
    assert s.loc["china_share_after.graphite", "differs"]
    assert not s.loc["china_share_after.rare_earths", "differs"]
    assert s.loc["china_share_after.graphite", f"scenario_{b}"] == 0.88

    with pytest.raises(ValueError):
        store.compare([a, a])


def test_compare_application_missing_from_one_scenario(store: ScenarioStore) -> None:
    a = save_base(store)
    b = save_base(store, allocation=allocation_frame().drop(index="REE-VN-02"))
    f = store.compare([a, b]).funding
    assert f.loc["REE-VN-02", f"fund_krw_bn_{b}"] == 0.0
    assert not f.loc["REE-VN-02", f"selected_{b}"]
    assert f.loc["REE-VN-02", "differs"]


# ------------------------------------------------------------------------------ decisions
def test_decided_scenario_refuses_change_via_api(store: ScenarioStore) -> None:
    sid = save_base(store)
    other = save_base(store, "other")
    dec = store.decide(sid, "Approved: fund LI-AR-01 and REE-VN-02.", "committee chair")
    assert store.load(sid).decided
    assert store.list().set_index("id").loc[sid, "decided"]
    with pytest.raises(DecisionLocked, match="decided"):
        store.delete(sid)
    with pytest.raises(DecisionLocked, match="decided"):
        store.rename(sid, "tampered")
    assert store.load(sid).name == "base case"
    store.delete(other)  # undecided ones can still go
    assert store.current_decision().id == dec


def test_triggers_refuse_raw_sql(store: ScenarioStore, db_path: Path) -> None:
    sid = save_base(store)
    free = save_base(store, "free")
    dec = store.decide(sid, "approved", "chair")
    conn = sqlite3.connect(db_path)
    try:
        for statement, params in [
            ("UPDATE scenarios SET name = 'tampered' WHERE id = ?", (sid,)),
            ("UPDATE scenarios SET allocation_json = NULL WHERE id = ?", (sid,)),
            ("DELETE FROM scenarios WHERE id = ?", (sid,)),
            ("UPDATE decisions SET note = 'rewritten' WHERE id = ?", (dec,)),
            ("DELETE FROM decisions WHERE id = ?", (dec,)),
        ]:
            with pytest.raises(sqlite3.IntegrityError, match="mine-evaluator locked"):
                conn.execute(statement, params)
            conn.rollback()
        # a forked chain (a decision not superseding the head) is refused too
        with pytest.raises(sqlite3.IntegrityError, match="supersede"):
            conn.execute("INSERT INTO decisions (scenario_id, note, decided_by, decided_at, "
                         "supersedes) VALUES (?, 'x', 'y', 'z', NULL)", (free,))
        conn.rollback()
        # the triggers only guard decided rows
        conn.execute("UPDATE scenarios SET name = 'renamed raw' WHERE id = ?", (free,))
        conn.commit()
    finally:
        conn.close()
    assert store.load(sid).name == "base case"
    assert store.load(free).name == "renamed raw"
    assert store.decisions()[0].note == "approved"


def test_supersede_chain(store: ScenarioStore) -> None:
    assert store.current_decision() is None and store.decisions() == []
    a, b, c = (save_base(store, n) for n in ("a", "b", "c"))
    d1 = store.decide(a, "first decision", "chair")
    d2 = store.decide(b, "revised after price deck update", "chair", reason="new price deck")
    d3 = store.decide(c, "final", "vice chair", reason="final figures")
    history = store.decisions()
    assert [d.id for d in history] == [d1, d2, d3]
    assert [d.supersedes for d in history] == [None, d1, d2]
    assert [d.scenario_id for d in history] == [a, b, c]
    current = store.current_decision()
    assert current.id == d3 and current.decided_by == "vice chair"
    assert current.decided_at.endswith("+00:00")
    # superseded decisions keep their scenarios locked
    for sid in (a, b, c):
        with pytest.raises(DecisionLocked):
            store.delete(sid)
    with pytest.raises(ScenarioNotFound):
        store.decide(999, "no such scenario", "chair")


# ------------------------------------------------------------------------------ bad files
def test_corrupt_file_gives_store_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(np.random.default_rng(7).bytes(8192))
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        ScenarioStore(path)
    message = str(info.value)
    assert str(path) in message and "not a SQLite database" in message
    assert info.value.__suppress_context__  # no chained sqlite traceback for the UI
    assert path.read_bytes() == before


def test_foreign_sqlite_gives_store_error(tmp_path: Path) -> None:
    no_meta = tmp_path / "other_app.db"
    with sqlite3.connect(no_meta) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    conn.close()
    with pytest.raises(StoreError, match="another application") as info:
        ScenarioStore(no_meta)
    assert str(no_meta) in str(info.value)
    with sqlite3.connect(no_meta) as conn:  # left untouched
        assert conn.execute("SELECT total FROM invoices").fetchone() == (12.5,)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
    conn.close()

    foreign_meta = tmp_path / "foreign_meta.db"
    with sqlite3.connect(foreign_meta) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('app_id', 'someone-else')")
    conn.close()
    with pytest.raises(StoreError, match="someone-else") as info:
        ScenarioStore(foreign_meta)
    assert str(foreign_meta) in str(info.value)


def test_newer_schema_refused(db_path: Path) -> None:
    ScenarioStore(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer version"):
        ScenarioStore(db_path)


# ------------------------------------------------------------------------------ migrations
def _meta(path: Path) -> tuple[int, dict[str, str], str]:
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    return version, meta, mode


def test_migration_from_empty_v0(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)  # an existing but empty SQLite file: version 0
    conn.execute("VACUUM")
    conn.close()
    assert db_path.exists()
    store = ScenarioStore(db_path)
    version, meta, mode = _meta(db_path)
    assert version == SCHEMA_VERSION == len(MIGRATIONS) == store.schema_version()
    assert meta["app_id"] == APP_ID and mode == "wal"
    assert store.integrity_check() == ["ok"]
    sid = save_base(store)
    assert store.decide(sid, "works", "chair") >= 1


def test_migration_from_older_version(db_path: Path) -> None:
    # simulate a file written by release 1 (scenarios only, before the decision record)
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(conn, target_version=1) == 1
    conn.execute(
        "INSERT INTO scenarios (name, author, created_at, assumptions_json, applications_json, "
        "applications_hash, ranking_json, allocation_json, summary_json) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("v1 scenario", "park", "2026-03-01T09:00:00+00:00", '{"fund_krw_bn":250}', "[]",
         applications_hash([]), None, frame_to_json(allocation_frame()), "{}"))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "decisions" not in tables

    store = ScenarioStore(db_path)
    assert _meta(db_path)[0] == SCHEMA_VERSION
    old = store.load(1)
    assert old.name == "v1 scenario" and old.assumptions == {"fund_krw_bn": 250}
    pdt.assert_frame_equal(old.allocation, allocation_frame())
    store.decide(1, "decided after upgrade", "chair")
    with pytest.raises(DecisionLocked):
        store.delete(1)
    assert ScenarioStore(db_path).list()["id"].tolist() == [1]  # re-open: no re-migration


# ------------------------------------------------------------------------------ default path
def test_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "env" / "store.sqlite3"
    monkeypatch.setenv("EVALUATOR_STORE", str(target))
    assert ScenarioStore().path == target and target.exists()

    monkeypatch.delenv("EVALUATOR_STORE")
    home = tmp_path / "home"
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    expected = home / ".local" / "share" / "mine-evaluator" / "scenarios.sqlite3"
    assert store_module.default_store_path() == expected

    # a home where the folder cannot be created (a file is in the way) -> ./scenarios.sqlite3
    blocked = tmp_path / "blocked_home"
    blocked.write_text("not a directory")
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: blocked))
    monkeypatch.chdir(tmp_path)
    assert store_module.default_store_path() == tmp_path / "scenarios.sqlite3"


# ------------------------------------------------------------------------------ concurrency
def _save_many(path: str, worker: int, count: int, barrier) -> None:
    store = ScenarioStore(path)
    barrier.wait()
    for i in range(count):
        store.save(f"w{worker}-{i}", f"officer {worker}", {"worker": worker, "i": i},
                   APPLICATIONS, ranking_frame(), allocation_frame())


def test_concurrent_saves_from_two_processes(store: ScenarioStore, db_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_save_many, args=(str(db_path), w, 50, barrier))
               for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    listing = store.list()
    assert len(listing) == 100
    assert listing["id"].is_unique
    assert set(listing["name"]) == {f"w{w}-{i}" for w in range(2) for i in range(50)}
    assert store.integrity_check() == ["ok"]


# ------------------------------------------------------------------------------ crash safety
CRASHING_WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA cache_size = 8")  # tiny cache: uncommitted pages spill into the WAL
    conn.execute("BEGIN IMMEDIATE")
    for i in range(300):
        conn.execute(
            "INSERT INTO scenarios (name, author, created_at, assumptions_json, "
            "applications_json, applications_hash, summary_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("partial", "crash", "2026-01-01T00:00:00+00:00", "{}", "x" * 8000, "0" * 64, "{}"))
    print("inserted", flush=True)
    time.sleep(60)
""")


def test_process_killed_mid_write_loses_nothing(store: ScenarioStore, db_path: Path) -> None:
    kept = [save_base(store, f"kept {i}") for i in range(3)]
    decided = store.decide(kept[0], "approved", "chair")
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(db_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "inserted"
        # the uncommitted transaction really reached the disk (spilled into the WAL)
        assert Path(f"{db_path}-wal").stat().st_size > 1_000_000
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    reopened = ScenarioStore(db_path)
    assert reopened.integrity_check() == ["ok"]
    listing = reopened.list()
    assert listing["id"].tolist() == kept
    assert "partial" not in set(listing["name"])
    pdt.assert_frame_equal(reopened.load(kept[1]).ranking, ranking_frame())
    assert reopened.current_decision().id == decided
    assert reopened.save("after crash", "kim", {}, [], None, None) > kept[-1]  # lock released


# ------------------------------------------------------------------------------ tamper evidence
# The hash chain, computed here independently of the module (hashlib and json only):
# this_hash = sha256(canonical JSON of {"decision": its six columns, "scenario_digest": ...,
# "prev_hash": ...}); scenario_digest = canonical JSON of {column: sha256("t:" + stored text, or
# "j:" + JSON of a non-text value)} over the ten columns of the scenario row (and record_json when
# not NULL); the first prev_hash is 64 zeros; a decision's reason (schema 5) joins its columns when
# not NULL.
SCENARIO_COLUMNS = ("id", "name", "author", "created_at", "assumptions_json", "applications_json",
                    "applications_hash", "ranking_json", "allocation_json", "summary_json")
DECISION_COLUMNS = ("id", "scenario_id", "note", "decided_by", "decided_at", "supersedes")


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _independent_chain(path: Path) -> list[tuple[int, str, str, str]]:
    """(id, scenario_digest, prev_hash, this_hash) recomputed from the raw rows."""
    conn = sqlite3.connect(path)
    try:
        decisions = conn.execute(f"SELECT {', '.join(DECISION_COLUMNS)}, reason FROM decisions "
                                 "ORDER BY id").fetchall()
        out, prev = [], "0" * 64
        for row in decisions:
            d = dict(zip(DECISION_COLUMNS + ("reason",), row))
            if d["reason"] is None:
                del d["reason"]
            srow = conn.execute(f"SELECT {', '.join(SCENARIO_COLUMNS)}, record_json FROM scenarios WHERE id = ?",
                                (d["scenario_id"],)).fetchone()
            digest = _canon({c: _sha("t:" + v if isinstance(v, str) else "j:" + _canon(v))
                             for c, v in zip(SCENARIO_COLUMNS + ("record_json",), srow) if v is not None
                             or c != "record_json"})
            this = _sha(_canon({"decision": d, "scenario_digest": digest, "prev_hash": prev}))
            out.append((d["id"], digest, prev, this))
            prev = this
    finally:
        conn.close()
    return out


def _stored_chain(path: Path) -> list[tuple[int, str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, scenario_digest, prev_hash, this_hash FROM decisions "
                            "ORDER BY id").fetchall()
    finally:
        conn.close()


def _raw(path: Path, *statements: str, params=()) -> None:
    """Run statements in one raw sqlite3 session (autocommit), as a hostile user would."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement, params if "?" in statement else ())
    finally:
        conn.close()


def _trigger_sql(path: Path, name: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def decided(store: ScenarioStore, db_path: Path) -> dict:
    """Three scenarios, two decided (decisions 1 and 2), one free."""
    a, b, free = save_base(store, "a"), save_base(store, "b"), save_base(store, "free")
    d1 = store.decide(a, "first", "chair")
    d2 = store.decide(b, "second", "chair", reason="revised")
    return {"a": a, "b": b, "free": free, "d1": d1, "d2": d2, "head": store.verify()}


def test_chain_matches_an_independent_computation(store: ScenarioStore, db_path: Path,
                                                  decided: dict) -> None:
    stored = _stored_chain(db_path)
    assert stored == _independent_chain(db_path)
    assert [r[0] for r in stored] == [decided["d1"], decided["d2"]]
    assert stored[0][2] == "0" * 64 and stored[1][2] == stored[0][3]
    assert decided["head"] == stored[-1][3]
    history = store.decisions()
    assert [(d.prev_hash, d.this_hash) for d in history] == [(r[2], r[3]) for r in stored]
    assert store.current_decision().this_hash == decided["head"]


REPLACE_ATTACKS = {
    "REPLACE INTO decisions": "REPLACE INTO decisions SELECT id, scenario_id, 'rewritten', decided_by, "
                              "decided_at, supersedes, scenario_digest, prev_hash, this_hash, reason "
                              "FROM decisions WHERE id = 1",
    "INSERT OR REPLACE INTO decisions": "INSERT OR REPLACE INTO decisions (id, scenario_id, note, "
                                        "decided_by, decided_at, supersedes) "
                                        "VALUES (2, 3, 'rewritten', 'x', 'y', 1)",
    "INSERT OR REPLACE on the supersedes key": "INSERT OR REPLACE INTO decisions (id, scenario_id, "
                                               "note, decided_by, decided_at, supersedes) "
                                               "VALUES (9, 3, 'fork', 'x', 'y', 1)",
    "REPLACE INTO scenarios": "REPLACE INTO scenarios (id, name, author, created_at, "
                              "assumptions_json, applications_json, applications_hash, summary_json) "
                              "SELECT id, 'tampered', author, created_at, assumptions_json, "
                              "applications_json, applications_hash, summary_json "
                              "FROM scenarios WHERE id = 1",
    "INSERT OR REPLACE INTO scenarios": "INSERT OR REPLACE INTO scenarios (id, name, author, "
                                        "created_at, assumptions_json, applications_json, "
                                        "applications_hash) VALUES (2, 'x', 'x', 'x', '{}', '[]', 'h')",
    "UPDATE OR REPLACE moving a free scenario onto a decided id":
        "UPDATE OR REPLACE scenarios SET id = 1 WHERE id = 3",
    "UPDATE decisions": "UPDATE decisions SET note = 'rewritten' WHERE id = 1",
    "DELETE FROM decisions": "DELETE FROM decisions WHERE id = 2",
    "UPDATE scenarios": "UPDATE scenarios SET allocation_json = NULL WHERE id = 2",
    "DELETE FROM scenarios": "DELETE FROM scenarios WHERE id = 1",
}


@pytest.mark.parametrize("recursive_triggers", ["OFF", "ON"])
@pytest.mark.parametrize("attack", list(REPLACE_ATTACKS))
def test_raw_session_cannot_change_a_decision(store: ScenarioStore, db_path: Path, decided: dict,
                                              attack: str, recursive_triggers: str) -> None:
    assert (decided["a"], decided["b"], decided["free"], decided["d1"], decided["d2"]) == (1, 2, 3, 1, 2)
    before = _stored_chain(db_path)
    with pytest.raises(sqlite3.IntegrityError, match="mine-evaluator"):
        _raw(db_path, f"PRAGMA recursive_triggers = {recursive_triggers}", REPLACE_ATTACKS[attack])
    assert _stored_chain(db_path) == before
    reopened = ScenarioStore(db_path)  # the next open finds the record intact
    assert reopened.verify() == decided["head"]
    assert [s.name for s in map(reopened.load, (1, 2, 3))] == ["a", "b", "free"]
    assert [d.note for d in reopened.decisions()] == ["first", "second"]


def test_the_replace_hole_was_real_in_schema_2(db_path: Path) -> None:
    # the same REPLACE on a file at the previous schema version rewrites a decided scenario:
    # the attack list above can fail
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, target_version=2)
    conn.execute("INSERT INTO scenarios (name, author, created_at, assumptions_json, "
                 "applications_json, applications_hash) VALUES ('a', 'kim', 't', '{}', '[]', 'h')")
    conn.execute("INSERT INTO decisions (scenario_id, note, decided_by, decided_at) "
                 "VALUES (1, 'first', 'chair', 't')")
    conn.execute(REPLACE_ATTACKS["REPLACE INTO scenarios"])
    assert conn.execute("SELECT name FROM scenarios WHERE id = 1").fetchone() == ("tampered",)
    conn.close()


def _drop_update_recreate(path: Path, trigger: str, edit: str, recreate: bool) -> None:
    sql = _trigger_sql(path, trigger)
    statements = [f"DROP TRIGGER {trigger}", edit] + ([sql] if recreate else [])
    _raw(path, *statements)


@pytest.mark.parametrize("recreate", [False, True], ids=["trigger left dropped", "trigger recreated"])
@pytest.mark.parametrize("trigger, edit, message", [
    ("decisions_no_update", "UPDATE decisions SET note = 'rewritten' WHERE id = 1",
     r"decision 1: the decision record differs"),
    ("decisions_no_update", "UPDATE decisions SET decided_by = 'someone else' WHERE id = 2",
     r"decision 2: the decision record differs"),
    ("decisions_no_update", "UPDATE decisions SET scenario_id = 3 WHERE id = 2",
     r"decision 2: the decision record differs"),
    ("scenarios_decided_no_update", "UPDATE scenarios SET name = 'tampered' WHERE id = 1",
     r"decision 1: scenario 1 differs from what was decided \(changed: name\)"),
    ("scenarios_decided_no_update",
     "UPDATE scenarios SET allocation_json = replace(allocation_json, '80.0', '800.0') WHERE id = 2",
     r"decision 2: scenario 2 differs from what was decided \(changed: allocation_json\)"),
    ("decisions_no_delete", "DELETE FROM decisions WHERE id = 2",
     r"decision 2 is missing"),
    ("decisions_no_delete", "DELETE FROM decisions WHERE id = 1",
     r"decision 2 supersedes 1, but the decision before it is None"),
    ("scenarios_decided_no_delete", "DELETE FROM scenarios WHERE id = 2",
     r"decision 2: its scenario 2 is missing"),
])
def test_drop_trigger_and_edit_is_detected_on_next_open(
        store: ScenarioStore, db_path: Path, decided: dict, trigger: str, edit: str, message: str,
        recreate: bool) -> None:
    _drop_update_recreate(db_path, trigger, edit, recreate)
    with pytest.raises(TamperedStore, match=message) as info:
        ScenarioStore(db_path)
    assert str(db_path) in str(info.value)
    # a store opened before the edit notices it too, at the next listing or decision
    for call in (store.list, store.decisions, store.current_decision, store.verify,
                 lambda: store.decide(decided["free"], "on a broken chain", "chair")):
        with pytest.raises(TamperedStore, match=message):
            call()


def test_rewritten_decision_with_recomputed_hash_breaks_the_next_link(
        store: ScenarioStore, db_path: Path, decided: dict) -> None:
    # an editor who knows the scheme rewrites decision 1 and its own hash: decision 2 still
    # points at the old hash
    _forge_decision_note(db_path, 1)
    with pytest.raises(TamperedStore, match=r"decision 2: its link to decision 1 is broken"):
        ScenarioStore(db_path)


def _forge_decision_note(db_path: Path, decision_id: int) -> str:
    """What an editor who knows the scheme does: rewrite a decision's note and its own hash,
    with the update guard dropped for the edit and put back after it."""
    conn = sqlite3.connect(db_path)
    row = dict(zip(DECISION_COLUMNS + ("scenario_digest", "prev_hash", "reason"), conn.execute(
        f"SELECT {', '.join(DECISION_COLUMNS)}, scenario_digest, prev_hash, reason FROM decisions "
        f"WHERE id = {decision_id}").fetchone()))
    conn.close()
    row["note"] = "rewritten"
    forged = store_module.decision_hash(row, row["scenario_digest"], row["prev_hash"])
    _raw(db_path, "DROP TRIGGER decisions_no_update",
         f"UPDATE decisions SET note = 'rewritten', this_hash = '{forged}' WHERE id = {decision_id}",
         _trigger_sql_from_fresh("decisions_no_update"))
    return forged


def _forge_audit(db_path: Path, decision_id: int, forged: str) -> None:
    """The same editor rewrites the decision's audit entry and every entry after it (schema 5)."""
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT id, at, who, action, detail_json, prev_hash FROM audit ORDER BY id").fetchall()
    conn.close()
    statements, prev = ["DROP TRIGGER audit_no_update"], None
    for rid, at, who, action, detail, prev_hash in rows:
        d = json.loads(detail)
        if action == "decide" and d["decision_id"] == decision_id:
            detail = store_module.canonical_json({**d, "decision_hash": forged})
            prev = prev_hash
        if prev is None:
            continue
        entry = {"id": rid, "at": at, "who": who, "action": action, "detail_json": detail}
        this = store_module.audit_hash(entry, prev)
        statements.append(f"UPDATE audit SET detail_json = '{detail}', prev_hash = '{prev}', this_hash = '{this}' "
                          f"WHERE id = {rid}")
        prev = this
    _raw(db_path, *statements, _trigger_sql_from_fresh("audit_no_update"))


def _trigger_sql_from_fresh(name: str) -> str:
    return dict(store_module.expected_triggers())[name]


@pytest.mark.parametrize("statements, message", [
    (["DROP TRIGGER decisions_no_replace"], "trigger decisions_no_replace is missing"),
    (["DROP TRIGGER scenarios_decided_no_update",
      ("CREATE TRIGGER scenarios_decided_no_update BEFORE UPDATE ON scenarios WHEN 0 "
       "BEGIN SELECT 1; END")], "trigger scenarios_decided_no_update was altered"),
    (["CREATE TRIGGER sneaky AFTER INSERT ON decisions BEGIN SELECT 1; END"],
     r"unexpected trigger\(s\) in the store: sneaky"),
])
def test_trigger_set_is_checked_on_open(store: ScenarioStore, db_path: Path, decided: dict,
                                        statements: list[str], message: str) -> None:
    _raw(db_path, *statements)
    with pytest.raises(TamperedStore, match=message):
        ScenarioStore(db_path)


def test_undecided_scenarios_stay_editable_and_a_store_without_decisions_verifies(
        store: ScenarioStore, db_path: Path) -> None:
    sid = save_base(store)
    assert store.verify() is None
    _raw(db_path, "REPLACE INTO scenarios (id, name, author, created_at, assumptions_json, "
                  "applications_json, applications_hash) VALUES (?, 'replaced', 'x', 't', '{}', '[]', 'h')",
         params=(sid,))
    assert ScenarioStore(db_path).load(sid).name == "replaced"
    store.decide(sid, "now decided", "chair")
    assert store.verify() == _independent_chain(db_path)[-1][3]
    other = save_base(store, "other")
    # a raw decision in the right place but without its hash link is refused
    with pytest.raises(sqlite3.IntegrityError, match="must carry its hash"):
        _raw(db_path, "INSERT INTO decisions (scenario_id, note, decided_by, decided_at, supersedes, reason) "
                      "VALUES (?, 'raw', 'x', 't', 1, 'r')", params=(other,))
    assert len(store.decisions()) == 1


def test_schema_2_file_migrates_and_gets_its_chain(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(conn, target_version=2) == 2
    for name in ("old a", "old b"):
        conn.execute(
            "INSERT INTO scenarios (name, author, created_at, assumptions_json, applications_json, "
            "applications_hash, ranking_json, allocation_json, summary_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, "park", "2026-03-01T09:00:00+00:00", '{"fund_krw_bn":250}', "[]",
             applications_hash([]), frame_to_json(ranking_frame()), frame_to_json(allocation_frame()),
             "{}"))
    conn.execute("INSERT INTO decisions (scenario_id, note, decided_by, decided_at, supersedes) "
                 "VALUES (1, 'v2 decision', 'chair', '2026-03-02T09:00:00+00:00', NULL)")
    conn.execute("INSERT INTO decisions (scenario_id, note, decided_by, decided_at, supersedes) "
                 "VALUES (2, 'v2 revision', 'chair', '2026-03-03T09:00:00+00:00', 1)")
    conn.close()

    store = ScenarioStore(db_path)
    assert store.schema_version() == SCHEMA_VERSION == 5   # 3: the chain; 4: the working draft; 5: record, audit
    assert _stored_chain(db_path) == _independent_chain(db_path)
    assert [d.note for d in store.decisions()] == ["v2 decision", "v2 revision"]
    d3 = store.decide(1, "after the upgrade", "chair", reason="revised after the upgrade")
    assert d3 == 3 and _stored_chain(db_path) == _independent_chain(db_path)
    assert ScenarioStore(db_path).verify() == _independent_chain(db_path)[-1][3]
    # the old decisions are now guarded like new ones
    with pytest.raises(sqlite3.IntegrityError, match="mine-evaluator"):
        _raw(db_path, REPLACE_ATTACKS["REPLACE INTO scenarios"])
    _drop_update_recreate(db_path, "decisions_no_update",
                          "UPDATE decisions SET note = 'x' WHERE id = 1", recreate=True)
    with pytest.raises(TamperedStore, match="decision 1: the decision record differs"):
        ScenarioStore(db_path)


@pytest.mark.parametrize("statement, message", [
    ("DROP TRIGGER decisions_no_update", "decisions_no_update is missing"),
    ("DROP TRIGGER scenarios_decided_no_delete", "scenarios_decided_no_delete is missing"),
])
def test_schema_2_file_with_dropped_guards_is_not_vouched_for(db_path: Path, statement: str,
                                                              message: str) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, target_version=2)
    conn.execute(statement)
    conn.close()
    with pytest.raises(TamperedStore, match=message + r".*before the upgrade to schema 3") as info:
        ScenarioStore(db_path)
    assert str(db_path) in str(info.value)
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # left at its old version
    conn.close()


def test_a_rewrite_of_the_whole_chain_shows_only_in_the_head_hash(
        store: ScenarioStore, db_path: Path, decided: dict) -> None:
    # the stated limit: someone who knows the scheme rewrites the head decision and its hash;
    # the file is consistent again, and only the head hash kept outside the file tells
    forged = _forge_decision_note(db_path, 2)
    # the audit trail records each decision's hash: a rewritten decision alone no longer passes
    with pytest.raises(TamperedStore, match="decision 2 differs from the one the audit trail records"):
        ScenarioStore(db_path)
    _forge_audit(db_path, 2, forged)
    reopened = ScenarioStore(db_path)
    assert reopened.current_decision().note == "rewritten"
    assert reopened.verify() == forged != decided["head"]


def test_working_draft_is_kept_replaced_and_cleared(tmp_path):
    """The officer's draft (migration 4) is a plain slot: saved, replaced, cleared; it is not a
    decision record, so the decision chain does not cover it."""
    store = ScenarioStore(tmp_path / "d.sqlite3")
    assert store.load_draft() is None
    store.save_draft({"values": {"fund_krw_bn": 200.0, "lock_in": ["A-1"]}, "table": None})
    store.save_draft({"values": {"fund_krw_bn": 150.0}, "table": None})
    assert store.load_draft() == {"values": {"fund_krw_bn": 150.0}, "table": None}
    assert ScenarioStore(tmp_path / "d.sqlite3").load_draft()["values"]["fund_krw_bn"] == 150.0  # survives a restart
    store.clear_draft()
    assert store.load_draft() is None


# ------------------------------------------------------------------------------ schema 5: the committee's record
def test_a_later_decision_needs_a_stated_reason(store: ScenarioStore, db_path: Path) -> None:
    a, b = save_base(store, "a"), save_base(store, "b")
    store.decide(a, "first", "chair")            # the first decision supersedes nothing: no reason asked
    with pytest.raises(ValueError, match="only with a stated reason"):
        store.decide(b, "second", "chair", reason="  ")
    d2 = store.decide(b, "second", "chair", reason="the loan budget was cut")
    assert [d.reason for d in store.decisions()] == [None, "the loan budget was cut"]
    assert store.current_decision().id == d2
    # a raw session cannot skip the reason either (trigger)
    with pytest.raises(sqlite3.IntegrityError, match="stated reason"):
        _raw(db_path, "INSERT INTO decisions (scenario_id, note, decided_by, decided_at, supersedes) "
                      "VALUES (1, 'raw', 'x', 't', 2)")


def test_record_round_trip_and_covered_by_the_decision(store: ScenarioStore, db_path: Path) -> None:
    record = {"locks": {"must_fund": ["A-1"], "must_not_fund": []}, "results_hash": "ab" * 32}
    data = b"year,reporter\n2024,KOR\n"
    sha = hashlib.sha256(data).hexdigest()
    sid = save_base(store, record=record, files={sha: ("customs.csv", data)})
    assert store.load(sid).record == record
    assert store.file(sha) == ("customs.csv", data)
    with pytest.raises(ValueError, match="SHA-256"):
        save_base(store, files={"0" * 64: ("x.csv", data)})
    store.decide(sid, "approved", "chair")
    _drop_update_recreate(db_path, "scenarios_decided_no_update",
                          "UPDATE scenarios SET record_json = replace(record_json, 'A-1', 'B-2') WHERE id = 1",
                          recreate=True)
    with pytest.raises(TamperedStore, match=r"scenario 1 differs from what was decided \(changed: record_json\)"):
        ScenarioStore(db_path)


def test_audit_chain_records_saves_decisions_and_actions(store: ScenarioStore, db_path: Path) -> None:
    sid = save_base(store)
    store.audit("kim@agency.go.kr", "export", {"file": "report.xlsx", "sha256": "cd" * 32})
    did = store.decide(sid, "approved", "lee@agency.go.kr (approver)")
    trail = store.audit_entries()
    assert trail["action"].tolist() == ["upgrade", "save", "export", "decide"]
    assert trail["who"].tolist()[1:] == ["officer kim", "kim@agency.go.kr", "lee@agency.go.kr (approver)"]
    decide = json.loads(trail["detail"].iloc[-1])
    assert decide["decision_id"] == did and decide["decision_hash"] == store.current_decision().this_hash
    # each link recomputed independently: sha256 of the canonical JSON of the entry and prev_hash
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT id, at, who, action, detail_json, prev_hash, this_hash FROM audit ORDER BY id").fetchall()
    conn.close()
    prev = "0" * 64
    for rid, at, who, action, detail, prev_hash, this in rows:
        assert prev_hash == prev
        assert this == _sha(_canon({"entry": {"id": rid, "at": at, "who": who, "action": action,
                                              "detail_json": detail}, "prev_hash": prev}))
        prev = this
    assert store.heads() == {"decisions": store.verify(), "audit": prev}


def test_removing_the_newest_decision_is_detected_even_with_the_sequence_lowered(
        store: ScenarioStore, db_path: Path) -> None:
    a, b = save_base(store, "a"), save_base(store, "b")
    store.decide(a, "first", "chair")
    store.decide(b, "second", "chair", reason="revised")
    _raw(db_path, "DROP TRIGGER decisions_no_delete", "DELETE FROM decisions WHERE id = 2",
         "UPDATE sqlite_sequence SET seq = 1 WHERE name = 'decisions'", _trigger_sql_from_fresh("decisions_no_delete"))
    with pytest.raises(TamperedStore, match="decision 2 is missing: the audit trail records it"):
        ScenarioStore(db_path)


def test_removing_the_newest_audit_entry_is_detected(store: ScenarioStore, db_path: Path) -> None:
    sid = save_base(store)
    store.decide(sid, "approved", "chair")
    store.audit("kim", "load", {"scenario_id": sid})
    _raw(db_path, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE id = (SELECT MAX(id) FROM audit)",
         _trigger_sql_from_fresh("audit_no_delete"))
    with pytest.raises(TamperedStore, match="audit entry 4 is missing"):
        ScenarioStore(db_path)


def test_removing_a_decision_with_its_audit_entry_is_detected(store: ScenarioStore, db_path: Path) -> None:
    # both newest entries gone and both sequences lowered: the decision the chain ends with has no
    # entry of its own only if a decision remains; here the audit's own sequence still tells
    sid = save_base(store)
    store.decide(sid, "approved", "chair")
    _raw(db_path, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE action = 'decide'",
         _trigger_sql_from_fresh("audit_no_delete"))
    with pytest.raises(TamperedStore, match="decision 1 has no entry in the audit trail|audit entry 3 is missing"):
        ScenarioStore(db_path)
