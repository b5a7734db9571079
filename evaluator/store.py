"""Scenario store: a committee's saved what-ifs and its decision record.

One embedded SQLite file holds every scenario an officer saved (assumptions, the set of
applications, the ranking, the allocation and its summary) and the immutable record of the
committee's decisions. The module is domain-free: payloads are plain JSON-serialisable dicts and
pandas DataFrames supplied by the caller; it does not import ``streamlit``.

Notes
-----
Concurrency and durability. The file runs in WAL mode with a ``busy_timeout``, so two officers
(or two browser tabs, two CLI runs) can save at the same time: writers queue for the lock rather
than fail. Every write is one ``BEGIN IMMEDIATE`` transaction and each operation opens its own
short-lived connection (safe from any thread, e.g. Streamlit's script threads). A process killed
mid-save leaves only uncommitted WAL frames, which SQLite discards on the next open: nothing
already stored is lost and the partial save never appears.

Decisions are guarded in three layers (each claim below is exercised in ``tests/test_store.py``):

* In Python, :class:`DecisionLocked` refuses to rename or delete a decided scenario, so the UI
  gets a clear message first.
* In SQL, triggers refuse, from any connection including a raw ``sqlite3`` session, with or
  without ``PRAGMA recursive_triggers``: ``UPDATE`` and ``DELETE`` of a decision row or of a
  decided scenario; ``REPLACE INTO`` / ``INSERT OR REPLACE`` of an existing decision (same id or
  same ``supersedes``) or of a decided scenario (``REPLACE`` deletes the old row without firing
  DELETE triggers, so BEFORE INSERT triggers close that path); ``UPDATE OR REPLACE`` that moves
  another scenario onto a decided id (scenario ids cannot change); a decision that does not
  supersede the current one, or that lacks its hash link to it.
* Tamper evidence. Each decision stores ``scenario_digest`` (canonical JSON of the SHA-256 of
  every stored column of its scenario, :func:`scenario_digest`), ``prev_hash`` (the previous
  decision's ``this_hash``, 64 zeros for the first) and ``this_hash`` = SHA-256 of the canonical
  JSON of its own columns, the digest and ``prev_hash`` (:func:`decision_hash`).
  :func:`verify_chain` runs when the store is opened, when scenarios or decisions are listed
  (:meth:`ScenarioStore.list`, :meth:`~ScenarioStore.decisions`,
  :meth:`~ScenarioStore.current_decision`) and before a new decision is recorded; it raises :class:`TamperedStore` naming the first broken link (the
  decision id and whether its record, its link, or which column of its scenario differs), a
  missing last decision (``sqlite_sequence`` remembers the highest id given), and a guarding
  trigger that was dropped, altered or added. So ``DROP TRIGGER`` followed by an edit, with or
  without re-creating the trigger, is detected at the next open.

The audit trail (schema 5, :func:`verify_audit`) is a second chain of the same kind: every save,
load, decision, export and upload with who, when and what (ids, file SHA-256). Each decision
enters it in the same transaction with its hash, and its first entry says how many decisions came
before it, so removing the newest decision (even with ``sqlite_sequence`` lowered) or its entry is
detected on the next open; removing the newest other entry is detected through the audit's own
``sqlite_sequence``.

Limits, stated plainly: SQLite file access cannot be prevented, only detected. The chain has no
secret key: someone who knows this scheme and rewrites a decision *and every later hash* leaves
a consistent file (for the audit trail: also removing its newest entries together with their
sequence number, when no decision refers to them). The head hashes (:meth:`ScenarioStore.heads`,
``Decision.this_hash``) vouch for the whole history, so printing them in the committee's minutes
or report anchors the chains outside the file. Decisions recorded before schema 3 are chained from their state at the
upgrade.

Schema versions live in ``PRAGMA user_version`` (authoritative) and a ``meta`` table that names
the owning application (``app_id = 'mine-evaluator'``). :data:`MIGRATIONS` is the ordered list
of steps; version ``n`` is reached by applying steps ``1..n``. To add a version, append a
:class:`Migration` and never edit a released one.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluator.errors import RecordStoreError
from evaluator.store_codec import _application_records, applications_hash, canonical_json, frame_from_json, frame_to_json
from evaluator.store_codec import _to_jsonable as _to_jsonable  # noqa: F401 (evaluator.record reads it here)
from evaluator.store_records import Comparison, Decision, SavedScenario, _side_by_side

__all__ = [
    "APP_ID",
    "SCHEMA_VERSION",
    "MIGRATIONS",
    "Migration",
    "StoreError",
    "DecisionLocked",
    "ScenarioNotFound",
    "TamperedStore",
    "SavedScenario",
    "Decision",
    "Comparison",
    "ScenarioStore",
    "default_store_path",
    "migrate",
    "applications_hash",
    "canonical_json",
    "scenario_digest",
    "decision_hash",
    "verify_chain",
    "verify_audit",
    "audit_hash",
    "frame_to_json",
    "frame_from_json",
]

APP_ID = "mine-evaluator"
ENV_VAR = "EVALUATOR_STORE"
DEFAULT_BUSY_TIMEOUT_S = 15.0
# Prefix of every trigger message, so a raw IntegrityError can be told apart from others.
_LOCK_TAG = "mine-evaluator locked:"
_FUNDING_COLUMNS = ("fund_krw_bn", "loan_krw_bn", "selected")
#: prev_hash of the first decision.
_GENESIS = "0" * 64
#: Columns of a scenario row that a decision records (its whole stored payload).
_SCENARIO_FIELDS = ("id", "name", "author", "created_at", "assumptions_json", "applications_json",
                    "applications_hash", "ranking_json", "allocation_json", "summary_json")
#: Columns of a decision row covered by its hash.
_DECISION_FIELDS = ("id", "scenario_id", "note", "decided_by", "decided_at", "supersedes")
#: Columns added by schema 5 (the committee's record). They join a scenario's digest and a
#: decision's hash only when they hold a value, so that the chains written before they existed
#: keep verifying unchanged.
_SCENARIO_EXTRA_FIELDS = ("record_json",)
_DECISION_EXTRA_FIELDS = ("reason",)
#: Columns of an audit entry covered by its hash.
_AUDIT_FIELDS = ("id", "at", "who", "action", "detail_json")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
class StoreError(RecordStoreError):
    """The store cannot do what was asked; the message is fit to show an officer as is."""


class DecisionLocked(StoreError):
    """A decided scenario, or a decision record, cannot be changed or deleted."""


class ScenarioNotFound(StoreError, LookupError):
    """No scenario (or decision) with that id."""


class TamperedStore(StoreError):
    """The decision record was changed outside the tool: a hash of the chain does not match, a
    recorded decision is missing, or a guarding trigger was dropped or altered. The message
    names the first broken link (decision id and what differs)."""


# --------------------------------------------------------------------------------------------
# Schema and migrations
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Migration:
    """One schema step: from ``version - 1`` to ``version``.

    ``statements`` are SQL texts, or callables ``f(conn)`` for a step SQL cannot express (the
    SHA-256 back-fill of migration 3); all run in the migration's one transaction.
    """

    version: int
    description: str
    statements: tuple[str | Callable[[sqlite3.Connection], None], ...]


_DECISIONS_NO_UPDATE = f"""CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
            BEGIN SELECT RAISE(ABORT, '{_LOCK_TAG} decision records are immutable'); END"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "meta table and saved scenarios",
        (
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            f"INSERT INTO meta (key, value) VALUES ('app_id', '{APP_ID}')",
            "INSERT INTO meta (key, value) VALUES "
            "('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            # AUTOINCREMENT: an id is never reused after a delete, so an id in a report or
            # an e-mail always means the same scenario.
            """CREATE TABLE scenarios (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                author TEXT NOT NULL,
                created_at TEXT NOT NULL,
                assumptions_json TEXT NOT NULL,
                applications_json TEXT NOT NULL,
                applications_hash TEXT NOT NULL,
                ranking_json TEXT,
                allocation_json TEXT,
                summary_json TEXT NOT NULL DEFAULT '{}'
            )""",
            "CREATE INDEX scenarios_applications_hash ON scenarios (applications_hash)",
        ),
    ),
    Migration(
        2,
        "decision record (immutable, superseding chain)",
        (
            """CREATE TABLE decisions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                scenario_id INTEGER NOT NULL REFERENCES scenarios (id) ON DELETE RESTRICT,
                note TEXT NOT NULL,
                decided_by TEXT NOT NULL,
                decided_at TEXT NOT NULL,
                supersedes INTEGER UNIQUE REFERENCES decisions (id)
            )""",
            "CREATE INDEX decisions_scenario_id ON decisions (scenario_id)",
            _DECISIONS_NO_UPDATE,
            f"""CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
            BEGIN SELECT RAISE(ABORT, '{_LOCK_TAG} decision records are immutable'); END""",
            # The chain stays linear: a new decision must supersede the current head.
            """CREATE TRIGGER decisions_linear_chain BEFORE INSERT ON decisions
            WHEN NEW.supersedes IS NOT (SELECT MAX(id) FROM decisions)
            BEGIN SELECT RAISE(ABORT,
                'mine-evaluator chain: a new decision must supersede the current decision');
            END""",
            f"""CREATE TRIGGER scenarios_decided_no_update BEFORE UPDATE ON scenarios
            WHEN EXISTS (SELECT 1 FROM decisions WHERE scenario_id = OLD.id)
            BEGIN SELECT RAISE(ABORT,
                '{_LOCK_TAG} this scenario has been decided and cannot be changed'); END""",
            f"""CREATE TRIGGER scenarios_decided_no_delete BEFORE DELETE ON scenarios
            WHEN EXISTS (SELECT 1 FROM decisions WHERE scenario_id = OLD.id)
            BEGIN SELECT RAISE(ABORT,
                '{_LOCK_TAG} this scenario has been decided and cannot be deleted'); END""",
        ),
    ),
    Migration(
        3,
        "decisions closed to REPLACE; SHA-256 chain over each decision and its scenario",
        (
            "ALTER TABLE decisions ADD COLUMN scenario_digest TEXT",
            "ALTER TABLE decisions ADD COLUMN prev_hash TEXT",
            "ALTER TABLE decisions ADD COLUMN this_hash TEXT",
            # The back-fill vouches for the rows as they are: refuse a file whose schema-2
            # guards were already dropped or altered. Then lift the update guard for this one
            # transaction (to write the hashes) and put back the very same trigger.
            lambda conn: _check_triggers(conn, version=2),
            "DROP TRIGGER decisions_no_update",
            lambda conn: _backfill_chain(conn),
            _DECISIONS_NO_UPDATE,
            # REPLACE / INSERT OR REPLACE delete the conflicting row without firing DELETE
            # triggers (NOTES.md); a BEFORE INSERT trigger runs before the conflict is resolved.
            f"""CREATE TRIGGER decisions_no_replace BEFORE INSERT ON decisions
            WHEN EXISTS (SELECT 1 FROM decisions WHERE id = NEW.id OR supersedes = NEW.supersedes)
            BEGIN SELECT RAISE(ABORT,
                '{_LOCK_TAG} decision records are immutable (an existing one cannot be replaced)');
            END""",
            f"""CREATE TRIGGER scenarios_decided_no_replace BEFORE INSERT ON scenarios
            WHEN EXISTS (SELECT 1 FROM decisions WHERE scenario_id = NEW.id)
            BEGIN SELECT RAISE(ABORT,
                '{_LOCK_TAG} this scenario has been decided and cannot be replaced'); END""",
            # UPDATE OR REPLACE moving another scenario onto a decided id would delete it too.
            f"""CREATE TRIGGER scenarios_id_immutable BEFORE UPDATE OF id ON scenarios
            WHEN NEW.id IS NOT OLD.id
            BEGIN SELECT RAISE(ABORT, '{_LOCK_TAG} a scenario id cannot change'); END""",
            # A well-placed decision (see decisions_linear_chain) must carry its link to the head.
            f"""CREATE TRIGGER decisions_hashed BEFORE INSERT ON decisions
            WHEN NEW.supersedes IS (SELECT MAX(id) FROM decisions)
                AND (NEW.this_hash IS NULL OR length(NEW.this_hash) != 64
                     OR NEW.scenario_digest IS NULL
                     OR NEW.prev_hash IS NOT COALESCE(
                        (SELECT this_hash FROM decisions ORDER BY id DESC LIMIT 1), '{_GENESIS}'))
            BEGIN SELECT RAISE(ABORT,
                'mine-evaluator chain: a new decision must carry its hash link to the current one');
            END""",
        ),
    ),
    Migration(
        4,
        "the officer's working draft (restored after a reload or a restart)",
        (
            """CREATE TABLE drafts (
                slot TEXT PRIMARY KEY,
                saved_at TEXT NOT NULL,
                payload_json TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        5,
        "the committee's record: what a scenario decided, a reason for superseding, the audit chain",
        (
            # everything that was decided beyond the assumptions: locks, the officer's edits with
            # the applicant's originals, the schedules, the customs basis, hashes of the figures
            # and of the results (:meth:`ScenarioStore.save`, ``record``)
            "ALTER TABLE scenarios ADD COLUMN record_json TEXT",
            "ALTER TABLE decisions ADD COLUMN reason TEXT",
            # a decision replaces the one in force only with a stated reason
            f"""CREATE TRIGGER decisions_supersede_with_reason BEFORE INSERT ON decisions
            WHEN NEW.supersedes IS NOT NULL AND (NEW.reason IS NULL OR trim(NEW.reason) = '')
            BEGIN SELECT RAISE(ABORT,
                '{_LOCK_TAG} a decision supersedes the one in force only with a stated reason'); END""",
            # files kept by their SHA-256 (a customs extract a scenario was computed with)
            """CREATE TABLE files (
                sha256 TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                data BLOB NOT NULL
            )""",
            """CREATE TABLE audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at TEXT NOT NULL,
                who TEXT NOT NULL,
                action TEXT NOT NULL,
                detail_json TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                this_hash TEXT NOT NULL
            )""",
            f"""CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, '{_LOCK_TAG} audit entries are immutable'); END""",
            f"""CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, '{_LOCK_TAG} audit entries are immutable'); END""",
            f"""CREATE TRIGGER audit_linear_chain BEFORE INSERT ON audit
            WHEN EXISTS (SELECT 1 FROM audit WHERE id >= NEW.id)
                OR NEW.prev_hash IS NOT COALESCE(
                    (SELECT this_hash FROM audit ORDER BY id DESC LIMIT 1), '{_GENESIS}')
                OR length(NEW.this_hash) != 64
            BEGIN SELECT RAISE(ABORT,
                '{_LOCK_TAG} an audit entry must follow the last one with its hash link'); END""",
            # the first entry: how many decisions were recorded before the audit trail existed
            # (every later decision must have its own entry: :func:`verify_chain`)
            lambda conn: _audit_insert(conn, "system", "upgrade", {
                "schema": 5, "decisions_before": conn.execute(
                    "SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0]}),
        ),
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
assert all(m.version == i + 1 for i, m in enumerate(MIGRATIONS)), "migrations out of order"


def migrate(conn: sqlite3.Connection, target_version: int = SCHEMA_VERSION) -> int:
    """Bring the database on ``conn`` from its ``user_version`` up to ``target_version``.

    All steps run in one ``BEGIN IMMEDIATE`` transaction together with the ``user_version``
    bumps, so a crash mid-migration leaves the file at its old version, and two processes
    opening a fresh file at once apply each step exactly once.

    Parameters
    ----------
    conn : sqlite3.Connection
        An open connection, not inside a transaction.
    target_version : int
        Version to reach (default: the current :data:`SCHEMA_VERSION`). Lower values exist to
        build old-version files in tests.

    Returns
    -------
    int
        The version the database is at afterwards.
    """
    if not 0 <= target_version <= SCHEMA_VERSION:
        raise ValueError(f"target_version must be in 0..{SCHEMA_VERSION}, got {target_version}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The scenario store was written by a newer version of the tool "
                f"(schema {version}, this tool knows up to {SCHEMA_VERSION}). Update the tool."
            )
        for step in MIGRATIONS[version:target_version]:
            for statement in step.statements:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
            # PRAGMA user_version is part of the transaction (it lives in the db header page).
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return max(version, target_version)


# --------------------------------------------------------------------------------------------
# Hash chain over the decision record
# --------------------------------------------------------------------------------------------
def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scenario_digest(scenario: Mapping[str, Any] | None) -> str:
    """The fingerprint of a stored scenario: canonical JSON ``{column: sha256}``.

    Each column of the scenario row as stored (the assumptions, applications, ranking,
    allocation and summary JSON texts, the name, author, time and id) is hashed: SHA-256 of
    ``"t:"`` + the text for a text value, of ``"j:"`` + its canonical JSON otherwise (the id,
    NULL), so that a text can never pass for a number or a NULL. Hashing the stored text
    itself, not a re-encoding of it, keeps the check exact and cheap (no JSON re-encoding of
    megabyte payloads at every open). Keeping one hash per column lets a mismatch name the
    column that changed. ``None`` (a missing scenario) gives ``{}``.
    """
    if scenario is None:
        return canonical_json({})
    digest = {f: _column_hash(scenario[f]) for f in _SCENARIO_FIELDS}
    digest.update({f: _column_hash(scenario[f]) for f in _SCENARIO_EXTRA_FIELDS if scenario.get(f) is not None})
    return canonical_json(digest)


def _column_hash(value: Any) -> str:
    h = hashlib.sha256()
    if isinstance(value, str):
        h.update(b"t:")
        h.update(value.encode("utf-8"))
    else:
        h.update(b"j:" + canonical_json(value).encode("utf-8"))
    return h.hexdigest()


def decision_hash(decision: Mapping[str, Any], digest: str, prev_hash: str) -> str:
    """SHA-256 (hex) of one link: the decision's columns, its scenario's digest and the hash of
    the decision before it (:data:`_GENESIS`, 64 zeros, for the first)."""
    fields = {f: decision[f] for f in _DECISION_FIELDS}
    # schema 5's reason joins the hash only when given (the links written before keep verifying)
    fields.update({f: decision[f] for f in _DECISION_EXTRA_FIELDS if decision.get(f) is not None})
    return _sha256(canonical_json({"decision": fields, "scenario_digest": digest, "prev_hash": prev_hash}))


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _scenario_row(conn: sqlite3.Connection, scenario_id: Any) -> dict[str, Any] | None:
    # the schema-2 back-fill of migration 3 runs before schema 5's columns exist
    fields = _SCENARIO_FIELDS + tuple(f for f in _SCENARIO_EXTRA_FIELDS if f in _columns(conn, "scenarios"))
    row = conn.execute(f"SELECT {', '.join(fields)} FROM scenarios WHERE id = ?", (scenario_id,)).fetchone()
    return None if row is None else dict(zip(fields, row))


_CHAIN_COLUMNS = ", ".join(_DECISION_FIELDS) + ", scenario_digest, prev_hash, this_hash, reason"


def _chain_rows(conn: sqlite3.Connection) -> builtins.list[dict[str, Any]]:
    columns = _DECISION_FIELDS + ("scenario_digest", "prev_hash", "this_hash")
    extra = tuple(f for f in _DECISION_EXTRA_FIELDS if f in _columns(conn, "decisions"))
    rows = conn.execute(f"SELECT {', '.join(columns + extra)} FROM decisions ORDER BY id").fetchall()
    return [dict(zip(columns + extra, r)) for r in rows]


# --------------------------------------------------------------------------------------------
# The audit trail: who did what, chained like the decisions
# --------------------------------------------------------------------------------------------
def audit_hash(entry: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of one audit entry: its columns (the detail as its stored JSON text) and the
    hash of the entry before it (:data:`_GENESIS` for the first)."""
    return _sha256(canonical_json({"entry": {f: entry[f] for f in _AUDIT_FIELDS}, "prev_hash": prev_hash}))


def _audit_insert(conn: sqlite3.Connection, who: str, action: str, detail: Mapping[str, Any]) -> int:
    """Append one entry to the audit chain on ``conn`` (inside the caller's write transaction)."""
    head = conn.execute("SELECT id, this_hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    entry = {"id": max(head[0] if head else 0, seq[0] if seq else 0) + 1, "at": _utc_now(), "who": str(who),
             "action": str(action), "detail_json": canonical_json(dict(detail))}
    prev = head[1] if head else _GENESIS
    conn.execute("INSERT INTO audit (id, at, who, action, detail_json, prev_hash, this_hash) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (*[entry[f] for f in _AUDIT_FIELDS], prev, audit_hash(entry, prev)))
    return int(entry["id"])


def _audit_rows(conn: sqlite3.Connection) -> builtins.list[dict[str, Any]]:
    if "audit" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}:
        return []
    columns = _AUDIT_FIELDS + ("prev_hash", "this_hash")
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM audit ORDER BY id").fetchall()
    return [dict(zip(columns, r)) for r in rows]


def verify_audit(conn: sqlite3.Connection, decisions: Sequence[Mapping[str, Any]] = ()) -> str | None:
    """Check the audit chain on ``conn`` and its cross-links to the decision record; return the
    audit head hash (None before schema 5).

    Each entry must follow the one before it and match its own hash; the last id SQLite ever gave
    an entry must still exist; every decision recorded since the trail began (its first entry
    says how many came before) must have its ``decide`` entry carrying its hash, and every
    ``decide`` entry its decision. So removing the newest decision, or its entry, is detected.

    Raises
    ------
    TamperedStore
        At the first broken link, naming the entry or decision.
    """
    rows = _audit_rows(conn)
    if not rows:
        return None
    prev_id, prev_hash = None, _GENESIS
    for e in rows:
        if e["prev_hash"] != prev_hash:
            raise TamperedStore(f"audit entry {e['id']}: its link to entry {prev_id} is broken: an entry was "
                                f"removed, inserted or rewritten")
        if e["this_hash"] != audit_hash(e, e["prev_hash"]):
            raise TamperedStore(f"audit entry {e['id']} differs from what was recorded")
        prev_id, prev_hash = e["id"], e["this_hash"]
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    if seq is not None and seq[0] > prev_id:
        raise TamperedStore(f"audit entry {seq[0]} is missing: entries up to id {seq[0]} were recorded, the last "
                            f"one left is {prev_id}")
    first = json.loads(rows[0]["detail_json"]) if rows[0]["action"] == "upgrade" else {}
    before = int(first.get("decisions_before", 0))
    entered = {}
    for e in rows:
        if e["action"] == "decide":
            d = json.loads(e["detail_json"])
            entered[int(d["decision_id"])] = d.get("decision_hash")
    hashes = {int(d["id"]): d["this_hash"] for d in decisions}
    for did, h in sorted(entered.items()):
        if did not in hashes:
            raise TamperedStore(f"decision {did} is missing: the audit trail records it")
        if hashes[did] != h:
            raise TamperedStore(f"decision {did} differs from the one the audit trail records")
    for did in sorted(hashes):
        if did > before and did not in entered:
            raise TamperedStore(f"decision {did} has no entry in the audit trail: an entry was removed")
    return prev_hash


def _backfill_chain(conn: sqlite3.Connection) -> None:
    """Migration 3: compute the chain of decisions recorded before it existed (from the rows as
    they are at the upgrade; nothing earlier can be vouched for)."""
    prev = _GENESIS
    for d in _chain_rows(conn):
        digest = scenario_digest(_scenario_row(conn, d["scenario_id"]))
        this = decision_hash(d, digest, prev)
        conn.execute("UPDATE decisions SET scenario_digest = ?, prev_hash = ?, this_hash = ? "
                     "WHERE id = ?", (digest, prev, this, d["id"]))
        prev = this


def _check_link(conn: sqlite3.Connection, d: Mapping[str, Any], prev_id: int | None,
                prev_hash: str) -> None:
    """Raise :class:`TamperedStore` when decision ``d`` does not follow ``prev_id`` / ``prev_hash``
    or no longer matches its own hash or its scenario."""
    did, sid = d["id"], d["scenario_id"]
    if d["supersedes"] != prev_id:
        raise TamperedStore(
            f"decision {did} supersedes {d['supersedes']}, but the decision before it is "
            f"{prev_id}: a decision was removed or inserted")
    if d["prev_hash"] != prev_hash:
        raise TamperedStore(
            f"decision {did}: its link to decision {prev_id} is broken (prev_hash differs): "
            f"decision {prev_id} was changed or rewritten")
    if d["this_hash"] != decision_hash(d, d["scenario_digest"], d["prev_hash"]):
        raise TamperedStore(
            f"decision {did}: the decision record differs from what was recorded (its note, "
            f"decided_by, decided_at, scenario_id, supersedes or stored digest was changed)")
    scenario = _scenario_row(conn, sid)
    if scenario is None:
        raise TamperedStore(f"decision {did}: its scenario {sid} is missing")
    try:
        recorded = json.loads(d["scenario_digest"])
    except (TypeError, ValueError):
        recorded = {}
    now = json.loads(scenario_digest(scenario))
    changed = [f for f in _SCENARIO_FIELDS + _SCENARIO_EXTRA_FIELDS if now.get(f) != recorded.get(f)]
    if changed:
        raise TamperedStore(
            f"decision {did}: scenario {sid} differs from what was decided "
            f"(changed: {', '.join(changed)})")


def verify_chain(conn: sqlite3.Connection) -> str | None:
    """Check the whole decision record on ``conn``; return the head hash (None when empty).

    Checks, in order: every guarding trigger is present and unchanged; each decision
    supersedes the one before it, carries that one's hash, matches its own hash and its
    scenario's stored columns; the last id SQLite ever gave a decision still exists.

    Raises
    ------
    TamperedStore
        At the first broken link, naming the decision (or trigger) and what differs.
    """
    prev_id: int | None = None
    prev_hash = _GENESIS
    chain = _chain_rows(conn)
    for d in chain:
        _check_link(conn, d, prev_id, prev_hash)
        prev_id, prev_hash = d["id"], d["this_hash"]
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'").fetchone()
    if row is not None and row[0] > (prev_id or 0):
        raise TamperedStore(
            f"decision {row[0]} is missing: decisions up to id {row[0]} were recorded, the last "
            f"one left is {prev_id}")
    _check_triggers(conn)
    verify_audit(conn, chain)
    return None if prev_id is None else prev_hash


@functools.lru_cache(maxsize=None)
def expected_triggers(version: int = SCHEMA_VERSION) -> tuple[tuple[str, str], ...]:
    """(name, SQL) of every trigger of schema ``version``, read from a fresh in-memory store."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(conn, target_version=version)
        return tuple(conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").fetchall())
    finally:
        conn.close()


def _check_triggers(conn: sqlite3.Connection, version: int = SCHEMA_VERSION) -> None:
    """Raise :class:`TamperedStore` unless the triggers are exactly those of schema ``version``."""
    expected = dict(expected_triggers(version))
    found = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    before = "" if version == SCHEMA_VERSION else f" (found before the upgrade to schema {version + 1})"
    for name in sorted(expected):
        if name not in found:
            raise TamperedStore(f"the guarding trigger {name} is missing (it was dropped){before}")
        if found[name] != expected[name]:
            raise TamperedStore(f"the guarding trigger {name} was altered{before}")
    extra = sorted(set(found) - set(expected))
    if extra:
        raise TamperedStore(f"unexpected trigger(s) in the store: {', '.join(extra)}{before}")


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------
def default_store_path() -> Path:
    """``$EVALUATOR_STORE``, else ``~/.local/share/mine-evaluator/scenarios.sqlite3`` (created),
    else ``./scenarios.sqlite3`` when the home directory is not writable."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    try:
        directory = Path.home() / ".local" / "share" / "mine-evaluator"
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK | os.X_OK):
            return directory / "scenarios.sqlite3"
    except (OSError, RuntimeError):  # RuntimeError: no home directory can be determined
        pass
    return Path.cwd() / "scenarios.sqlite3"


def _full_where(exc: BaseException, path: Path) -> str:
    """Which folders a "disk is full" can mean: the store's own and SQLite's temporary folder (it
    writes large sorts and transactions there), so that the officer knows where to make room."""
    if "full" not in str(exc).lower():
        return ""
    import tempfile

    return f" (make room in {Path(path).resolve().parent} or in the temporary folder {tempfile.gettempdir()})"


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ScenarioStore:
    """The committee's scenario store: one SQLite file.

    Parameters
    ----------
    path : str or Path, optional
        The SQLite file; created (with its directory) if missing. Default:
        :func:`default_store_path`.
    busy_timeout_s : float
        How long a writer waits for another writer before giving up [s].

    Raises
    ------
    StoreError
        The file is not a SQLite database, belongs to another application, or was written by a
        newer version of the tool. The message names the path.
    TamperedStore
        The decision record fails :func:`verify_chain` (a subclass of :class:`StoreError`).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None,
                 busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.busy_timeout_s = float(busy_timeout_s)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the folder for the scenario store {self.path}: {exc}") from exc
        self._open_and_migrate()

    def __repr__(self) -> str:
        return f"ScenarioStore({str(self.path)!r})"

    # -- connections -------------------------------------------------------------------------
    def _raw_connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the scenario store {self.path}: {exc}") from None
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        # FULL: a committed save survives a power cut too, not only a process crash.
        conn.execute("PRAGMA synchronous = FULL")

    def _open_and_migrate(self) -> None:
        conn = self._raw_connect()
        try:
            try:
                tables = {r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise StoreError(
                    f"{self.path} is not a scenario store: it is not a SQLite database ({exc}). "
                    f"Choose another file, or move this one away."
                ) from None
            tables.discard("sqlite_sequence")
            if tables or version:
                self._check_ours(conn, tables, version)
            self._configure(conn)
            # WAL must be set outside a transaction; it is persistent in the file.
            conn.execute("PRAGMA journal_mode = WAL")
            migrate(conn)
            conn.execute("BEGIN")
            try:
                self._verified(conn)
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"Cannot open the scenario store {self.path}: {exc}") from None
        except StoreError as exc:
            if str(self.path) not in str(exc):
                raise type(exc)(f"{self.path}: {exc}") from None  # keeps TamperedStore
            raise
        finally:
            conn.close()

    def _check_ours(self, conn: sqlite3.Connection, tables: set[str], version: int) -> None:
        app_id = None
        if "meta" in tables:
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'app_id'").fetchone()
                app_id = row[0] if row else None
            except sqlite3.DatabaseError:
                app_id = None
        if app_id != APP_ID:
            found = f"its app id is {app_id!r}" if app_id else "it has no 'mine-evaluator' meta table"
            raise StoreError(
                f"{self.path} is a SQLite database of another application, not a scenario store "
                f"({found}). Choose another file; this one was left untouched."
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer version of the tool (schema {version}, this "
                f"tool knows up to {SCHEMA_VERSION}). Update the tool to open it."
            )

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = self._raw_connect()
        try:
            self._configure(conn)
            yield conn
        except sqlite3.IntegrityError as exc:
            if _LOCK_TAG in str(exc):
                raise DecisionLocked(
                    f"{str(exc).replace(_LOCK_TAG, '').strip()} (store {self.path})") from None
            raise StoreError(f"The scenario store {self.path} refused the change: {exc}") from None
        except sqlite3.OperationalError as exc:
            raise StoreError(f"The scenario store {self.path} is unavailable: {exc}{_full_where(exc, self.path)}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"The scenario store {self.path} is damaged: {exc}") from None
        finally:
            conn.close()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction: ``BEGIN IMMEDIATE`` for writes (take the write lock up front so a
        writer never fails half-way on a lock), plain ``BEGIN`` for a consistent read."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- helpers -----------------------------------------------------------------------------
    def _verified(self, conn: sqlite3.Connection) -> str | None:
        """:func:`verify_chain` with the store's path in the message."""
        try:
            return verify_chain(conn)
        except TamperedStore as exc:
            raise TamperedStore(
                f"The decision record in {self.path} was changed outside the tool: {exc}. "
                f"Restore the file from a backup.") from None

    @staticmethod
    def _is_decided(conn: sqlite3.Connection, scenario_id: int) -> bool:
        return conn.execute("SELECT 1 FROM decisions WHERE scenario_id = ? LIMIT 1",
                            (scenario_id,)).fetchone() is not None

    def _require_scenario(self, conn: sqlite3.Connection, scenario_id: int) -> None:
        if conn.execute("SELECT 1 FROM scenarios WHERE id = ?", (scenario_id,)).fetchone() is None:
            raise ScenarioNotFound(f"No scenario with id {scenario_id} in {self.path}.")

    def _require_unlocked(self, conn: sqlite3.Connection, scenario_id: int, action: str) -> None:
        self._require_scenario(conn, scenario_id)
        if self._is_decided(conn, scenario_id):
            raise DecisionLocked(
                f"Scenario {scenario_id} has been decided by the committee and cannot be "
                f"{action}. Save a new scenario instead."
            )

    @staticmethod
    def _text(value: Any, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{what} must be a non-empty string, got {value!r}")
        return value.strip()

    # -- scenarios ---------------------------------------------------------------------------
    def save(self, name: str, author: str, assumptions: Mapping[str, Any],
             applications: Sequence[Mapping[str, Any]] | pd.DataFrame,
             ranking: pd.DataFrame | None, allocation: pd.DataFrame | None,
             summary: Mapping[str, Any] | None = None, record: Mapping[str, Any] | None = None,
             files: Mapping[str, tuple[str, bytes]] | None = None) -> int:
        """Save one scenario in a single transaction and return its id.

        Parameters
        ----------
        name, author : str
            Non-empty labels.
        assumptions : dict
            The scenario's settings (JSON-serialisable; nested dicts allowed).
        applications : list of dict or DataFrame
            The applications evaluated (a meaningful DataFrame index is kept as a column).
        ranking, allocation : DataFrame or None
            The ranking table and the allocation table (``fund_krw_bn`` [KRW bn],
            ``loan_krw_bn`` [KRW bn], ``selected`` indexed by application id).
        summary : dict, optional
            Allocation summary metrics, e.g. ``{"china_share_after": {"lithium": 0.55}}``.
        record : dict, optional
            Everything else that was decided (JSON-serialisable): locks, the officer's edits with
            the applicant's originals, schedules, the customs basis, hashes of the figures and the
            results (:func:`evaluator.pipeline.scenario_record`). Covered by a decision's hash.
        files : dict, optional
            ``sha256 -> (file name, bytes)`` the record refers to (a customs extract), kept once.

        The save is entered in the audit trail under ``author``.
        """
        name = self._text(name, "name")
        author = self._text(author, "author")
        if not isinstance(assumptions, Mapping):
            raise TypeError("assumptions must be a dict")
        if summary is not None and not isinstance(summary, Mapping):
            raise TypeError("summary must be a dict or None")
        # Encode everything before taking the write lock, so the lock is held for microseconds.
        records = _application_records(applications)
        row = (
            name, author, _utc_now(), canonical_json(assumptions), canonical_json(records),
            applications_hash(records), frame_to_json(ranking), frame_to_json(allocation),
            canonical_json(summary or {}), None if record is None else canonical_json(dict(record)),
        )
        with self._transaction(write=True) as conn:
            for sha, (fname, data) in (files or {}).items():
                if hashlib.sha256(data).hexdigest() != sha:
                    raise ValueError(f"file {fname!r}: its bytes do not have the SHA-256 given")
                conn.execute("INSERT OR IGNORE INTO files (sha256, name, data) VALUES (?, ?, ?)",
                             (sha, str(fname), sqlite3.Binary(data)))
            cursor = conn.execute(
                "INSERT INTO scenarios (name, author, created_at, assumptions_json, "
                "applications_json, applications_hash, ranking_json, allocation_json, "
                "summary_json, record_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            sid = int(cursor.lastrowid)
            _audit_insert(conn, author, "save", {
                "scenario_id": sid, "name": name, "applications_hash": row[5],
                "scenario_digest": _sha256(scenario_digest(_scenario_row(conn, sid)))})
            return sid

    def list(self) -> pd.DataFrame:
        """All scenarios, oldest first: ``id, name, author, created_at, app_hash`` (first 12
        hex digits of the applications hash), ``decided`` (bool)."""
        with self._transaction(write=False) as conn:
            self._verified(conn)
            rows = conn.execute(
                "SELECT s.id, s.name, s.author, s.created_at, substr(s.applications_hash, 1, 12), "
                "EXISTS (SELECT 1 FROM decisions d WHERE d.scenario_id = s.id) "
                "FROM scenarios s ORDER BY s.id").fetchall()
        frame = pd.DataFrame(rows, columns=["id", "name", "author", "created_at", "app_hash",
                                            "decided"])
        return frame.astype({"id": "int64", "decided": "bool"})

    def load(self, scenario_id: int) -> SavedScenario:
        """The scenario with that id (:class:`ScenarioNotFound` if none)."""
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT id, name, author, created_at, assumptions_json, applications_json, "
                "applications_hash, ranking_json, allocation_json, summary_json, record_json "
                "FROM scenarios WHERE id = ?", (int(scenario_id),)).fetchone()
            if row is None:
                raise ScenarioNotFound(f"No scenario with id {scenario_id} in {self.path}.")
            decided = self._is_decided(conn, int(scenario_id))
        try:
            return SavedScenario(
                id=int(row[0]), name=row[1], author=row[2], created_at=row[3],
                assumptions=json.loads(row[4]), applications=json.loads(row[5]),
                applications_hash=row[6], ranking=frame_from_json(row[7]),
                allocation=frame_from_json(row[8]), summary=json.loads(row[9]), decided=decided,
                record=None if row[10] is None else json.loads(row[10]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"Scenario {scenario_id} in {self.path} cannot be read back: {exc}") from None

    def rename(self, scenario_id: int, name: str) -> None:
        """Rename a scenario (refused with :class:`DecisionLocked` once decided)."""
        name = self._text(name, "name")
        with self._transaction(write=True) as conn:
            self._require_unlocked(conn, int(scenario_id), "changed")
            conn.execute("UPDATE scenarios SET name = ? WHERE id = ?", (name, int(scenario_id)))

    def delete(self, scenario_id: int) -> None:
        """Delete a scenario (refused with :class:`DecisionLocked` once decided)."""
        with self._transaction(write=True) as conn:
            self._require_unlocked(conn, int(scenario_id), "deleted")
            conn.execute("DELETE FROM scenarios WHERE id = ?", (int(scenario_id),))

    # -- decisions ---------------------------------------------------------------------------
    def decide(self, scenario_id: int, note: str, decided_by: str, reason: str | None = None) -> int:
        """Record the committee's decision for a scenario; return the decision id.

        The new decision supersedes the current one (if any), and then only with a stated
        ``reason`` (:class:`ValueError` without one). From then on the scenario and the decision
        row are immutable. The decision is entered in the audit trail with its hash in the same
        transaction, so that removing it later is detected (:func:`verify_audit`).
        """
        if not isinstance(note, str):
            raise TypeError("note must be a string")
        decided_by = self._text(decided_by, "decided_by")
        reason = reason.strip() if isinstance(reason, str) and reason.strip() else None
        with self._transaction(write=True) as conn:
            self._require_scenario(conn, int(scenario_id))
            prev_hash = self._verified(conn) or _GENESIS  # never extend a broken chain
            head = conn.execute("SELECT MAX(id) FROM decisions").fetchone()[0]
            seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'").fetchone()
            # The id is part of the hash, so it is chosen here (as AUTOINCREMENT would) under
            # the write lock, not after the insert.
            if head is not None and reason is None:
                raise ValueError(f"Decision {head} is in force: a new decision supersedes it only with a "
                                 f"stated reason.")
            decision = {"id": max(head or 0, seq[0] if seq else 0) + 1,
                        "scenario_id": int(scenario_id), "note": note, "decided_by": decided_by,
                        "decided_at": _utc_now(), "supersedes": head, "reason": reason}
            digest = scenario_digest(_scenario_row(conn, int(scenario_id)))
            this_hash = decision_hash(decision, digest, prev_hash)
            conn.execute(
                f"INSERT INTO decisions ({_CHAIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*[decision[f] for f in _DECISION_FIELDS], digest, prev_hash, this_hash, reason))
            _audit_insert(conn, decided_by, "decide", {
                "decision_id": decision["id"], "scenario_id": int(scenario_id), "supersedes": head,
                "decision_hash": this_hash})
            return int(decision["id"])

    @staticmethod
    def _decision(row: tuple) -> Decision:
        return Decision(id=int(row[0]), scenario_id=int(row[1]), note=row[2], decided_by=row[3],
                        decided_at=row[4], supersedes=None if row[5] is None else int(row[5]),
                        prev_hash=row[6], this_hash=row[7], reason=row[8])

    _DECISION_COLUMNS = "id, scenario_id, note, decided_by, decided_at, supersedes, prev_hash, this_hash, reason"

    def current_decision(self) -> Decision | None:
        """The decision in force (the one no other supersedes), or None.

        Raises :class:`TamperedStore` when the decision record fails :func:`verify_chain`.
        """
        with self._transaction(write=False) as conn:
            self._verified(conn)
            row = conn.execute(f"SELECT {self._DECISION_COLUMNS} FROM decisions "
                               "ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else self._decision(row)

    def decisions(self) -> builtins.list[Decision]:
        """The full decision history, oldest first (each supersedes the one before).

        Raises :class:`TamperedStore` when the decision record fails :func:`verify_chain`.
        """
        with self._transaction(write=False) as conn:
            self._verified(conn)
            rows = conn.execute(f"SELECT {self._DECISION_COLUMNS} FROM decisions "
                                "ORDER BY id").fetchall()
        return [self._decision(r) for r in rows]

    def verify(self) -> str | None:
        """Check the decision record now (:func:`verify_chain`); return the head hash, the
        SHA-256 of the current decision's link (None when nothing was decided yet).

        The head hash vouches for the whole history: print it in the committee's minutes or
        report, and a later rewrite of the whole chain (which the file alone cannot reveal)
        shows as a different head.
        """
        with self._transaction(write=False) as conn:
            return self._verified(conn)

    def heads(self) -> dict[str, str | None]:
        """Both chains checked now; their head hashes: ``{"decisions": ..., "audit": ...}`` (None
        when empty). Kept outside the file (the minutes, an e-mail), they reveal a later rewrite
        or a removal of the newest entries that the file alone cannot."""
        with self._transaction(write=False) as conn:
            decisions = self._verified(conn)
            row = conn.execute("SELECT this_hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        return {"decisions": decisions, "audit": None if row is None else row[0]}

    # -- audit trail -------------------------------------------------------------------------
    def audit(self, who: str, action: str, detail: Mapping[str, Any] | None = None) -> int:
        """Enter ``who`` did ``action`` (``load``, ``export``, ``upload``, ...) with ``detail``
        (JSON: ids, file names and their SHA-256) in the audit chain; return the entry's id.
        Saves and decisions enter themselves."""
        who = self._text(who, "who")
        action = self._text(action, "action")
        with self._transaction(write=True) as conn:
            self._verified(conn)  # never extend a broken chain
            return _audit_insert(conn, who, action, dict(detail or {}))

    def audit_entries(self) -> pd.DataFrame:
        """The audit trail, oldest first: ``id, at, who, action, detail`` (JSON text), ``this_hash``.

        Raises :class:`TamperedStore` when a chain fails verification."""
        with self._transaction(write=False) as conn:
            self._verified(conn)
            rows = _audit_rows(conn)
        frame = pd.DataFrame([{"id": r["id"], "at": r["at"], "who": r["who"], "action": r["action"],
                               "detail": r["detail_json"], "this_hash": r["this_hash"]} for r in rows],
                             columns=["id", "at", "who", "action", "detail", "this_hash"])
        return frame.astype({"id": "int64"})

    def file(self, sha256: str) -> tuple[str, bytes] | None:
        """(name, bytes) of a file kept with a scenario, by its SHA-256; None when absent."""
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT name, data FROM files WHERE sha256 = ?", (str(sha256),)).fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    # -- comparison --------------------------------------------------------------------------
    def compare(self, ids: Sequence[int]) -> Comparison:
        """Scenarios side by side (see :class:`Comparison`)."""
        ids = tuple(int(i) for i in ids)
        if not ids:
            raise ValueError("compare needs at least one scenario id")
        if len(set(ids)) != len(ids):
            raise ValueError(f"scenario ids repeat: {ids}")
        loaded = {sid: self.load(sid) for sid in ids}

        header = pd.DataFrame(
            [{"id": s.id, "name": s.name, "author": s.author, "created_at": s.created_at,
              "app_hash": s.applications_hash[:12], "decided": s.decided}
             for s in loaded.values()])

        assumptions = _side_by_side({sid: s.assumptions for sid, s in loaded.items()}, "key")
        summary = _side_by_side({sid: {k: v for k, v in s.summary.items() if k != "officer_notes"}  # text, not a metric
                                 for sid, s in loaded.items()}, "metric")

        per_scenario: dict[int, pd.DataFrame] = {}
        order: builtins.list[Any] = []
        seen: set[Any] = set()
        for sid, s in loaded.items():
            alloc = s.allocation if s.allocation is not None else pd.DataFrame()
            part = pd.DataFrame(index=alloc.index)
            for col, default in zip(_FUNDING_COLUMNS, (np.nan, np.nan, False)):
                part[col] = alloc[col] if col in alloc.columns else default
            per_scenario[sid] = part
            for app_id in alloc.index:
                if app_id not in seen:
                    seen.add(app_id)
                    order.append(app_id)
        index = pd.Index(order, name="application_id", dtype=object)
        funding = pd.DataFrame(index=index)
        for sid, part in per_scenario.items():
            part = part.reindex(index)
            funding[f"fund_krw_bn_{sid}"] = part["fund_krw_bn"].astype(float).fillna(0.0)
            funding[f"loan_krw_bn_{sid}"] = part["loan_krw_bn"].astype(float).fillna(0.0)
            funding[f"selected_{sid}"] = part["selected"].astype(object).fillna(False).astype(bool)
        differs = np.zeros(len(index), dtype=bool)
        for col in ("fund_krw_bn", "loan_krw_bn"):
            values = funding[[f"{col}_{sid}" for sid in ids]].to_numpy(dtype=float)
            if values.size:
                differs |= ~np.isclose(values, values[:, :1], rtol=1e-9, atol=1e-9).all(axis=1)
        selected = funding[[f"selected_{sid}" for sid in ids]].to_numpy(dtype=bool)
        if selected.size:
            differs |= ~(selected == selected[:, :1]).all(axis=1)
        funding["differs"] = differs

        totals = _side_by_side(
            {sid: {"fund_krw_bn": float(funding[f"fund_krw_bn_{sid}"].sum()),
                   "loan_krw_bn": float(funding[f"loan_krw_bn_{sid}"].sum()),
                   "selected_count": int(funding[f"selected_{sid}"].sum())}
             for sid in ids}, "total")
        return Comparison(scenario_ids=ids, scenarios=header, assumptions=assumptions,
                          funding=funding, totals=totals, summary=summary)

    # -- maintenance -------------------------------------------------------------------------
    # ----------------------------------------------------------------------------------------
    # the working draft: not a decision record, so it may be overwritten and cleared
    # ----------------------------------------------------------------------------------------
    def save_draft(self, payload: Mapping[str, Any], slot: str = "current") -> None:
        """Keep the officer's working state (applications, edits, assumptions, budgets, locks)
        as JSON under ``slot``, replacing the previous draft of that slot."""
        text = canonical_json(dict(payload))
        with self._transaction(write=True) as conn:
            conn.execute("INSERT OR REPLACE INTO drafts (slot, saved_at, payload_json) VALUES (?, ?, ?)",
                         (str(slot), _utc_now(), text))

    def load_draft(self, slot: str = "current") -> dict[str, Any] | None:
        """The draft of ``slot`` as saved (JSON types), or None when there is none."""
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT payload_json FROM drafts WHERE slot = ?", (str(slot),)).fetchone()
        return None if row is None else json.loads(row[0])

    def clear_draft(self, slot: str = "current") -> None:
        """Forget the draft of ``slot`` ("start over")."""
        with self._transaction(write=True) as conn:
            conn.execute("DELETE FROM drafts WHERE slot = ?", (str(slot),))

    def integrity_check(self) -> builtins.list[str]:
        """SQLite's ``PRAGMA integrity_check``: ``['ok']`` when the file is sound."""
        with self._connection() as conn:
            return [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]

    def schema_version(self) -> int:
        """The file's schema version (``PRAGMA user_version``)."""
        with self._connection() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
