"""What a saved scenario records beyond its assumptions, and its replay.

A committee decides an allocation computed from *these* applications (as the officer entered
them, edits included), *these* assumptions (budgets, caps, objective, exclusions, the price deck),
*these* locks and *this* customs basis. :func:`scenario_record` keeps all of it with a saved
scenario (the store's ``record`` column, covered by a decision's hash); :func:`figures_key` is the
fingerprint a recorded decision is matched against, so that a decision attaches only to its own
figures; :func:`evaluator.replay.replay` recomputes a saved scenario and says whether its allocation is the one
saved.

Edits are kept cell by cell beside the applicant's original value (:func:`table_edits`), with who
changed the cell and when (UTC; :func:`edit_rows` words them with the time in Korea, KST), so a
committee sees every figure the officer changed; :func:`original_table` rebuilds the applicant's
table from the entered one and the edits.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evaluator.errors import RecordStoreError

__all__ = ["RECORD_VERSION", "figures_key", "results_hash", "table_edits", "original_table", "scenario_record",
           "ReplayError", "edit_key", "log_from_edits", "edit_rows", "kst"]

#: Version of the record layout (a later layout keeps reading this one).
RECORD_VERSION = 1
#: Money is compared to this many decimals of KRW bn (KRW 1,000) in the results hash and replay.
MONEY_DECIMALS = 6


class ReplayError(RecordStoreError):
    """A saved scenario cannot be recomputed (its assumptions or applications no longer load)."""


def _sha256_json(value: Any) -> str:
    from evaluator.store import canonical_json

    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _locks(locked_in: Sequence[str] = (), locked_out: Sequence[str] = ()) -> dict[str, list[str]]:
    return {"must_fund": sorted(str(i) for i in locked_in), "must_not_fund": sorted(str(i) for i in locked_out)}


def figures_key(apps: Sequence, scenario, locked_in: Sequence[str] = (), locked_out: Sequence[str] = ()) -> dict:
    """SHA-256 fingerprints of what a decision is about.

    ``applications``: the content of the valid applications as evaluated (every field, order-free:
    :func:`evaluator.store.applications_hash` of :func:`models.loader.applications_frame`);
    ``assumptions``: the scenario without its name; ``locks``: must fund / must not fund.
    """
    from evaluator.store import applications_hash
    from models.loader import applications_frame

    return {"applications": applications_hash(applications_frame(apps)),
            "assumptions": _sha256_json({k: v for k, v in scenario.to_dict().items() if k != "name"}),
            "locks": _sha256_json(_locks(locked_in, locked_out))}


def _allocation_records(table: pd.DataFrame | None) -> list[dict]:
    """(id, fund, loan, selected) per application, money rounded to :data:`MONEY_DECIMALS`, by id."""
    if table is None or table.empty:
        return []
    out = []
    for app_id, row in table.iterrows():
        out.append({"id": str(app_id), "fund_krw_bn": round(float(row.get("fund_krw_bn", 0.0) or 0.0), MONEY_DECIMALS),
                    "loan_krw_bn": round(float(row.get("loan_krw_bn", 0.0) or 0.0), MONEY_DECIMALS),
                    "selected": bool(row.get("selected", False))})
    return sorted(out, key=lambda r: r["id"])


def results_hash(allocation_table: pd.DataFrame | None) -> str:
    """SHA-256 of the allocation: each application's fund and loan [KRW bn, to 1e-6] and whether
    it is funded, sorted by id."""
    return _sha256_json(_allocation_records(allocation_table))


def _norm(value: Any) -> Any:
    """A cell as compared for edits: missing -> None, numbers as floats, text stripped."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            return text
        return number if math.isfinite(number) else text
    if isinstance(value, bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else str(value)


def _jsonable(value: Any) -> Any:
    from evaluator.store import _to_jsonable

    return _to_jsonable(value)


def edit_key(app_id: Any, field: str) -> str:
    """The key of one cell in an edit log (``{key: {"by", "at"}}``, JSON-ready)."""
    return f"{app_id}\x1f{field}"


def log_from_edits(edits: Mapping | None) -> dict[str, dict[str, str]]:
    """The edit log (cell -> who and when) that :func:`table_edits` read its ``by``/``at`` from."""
    return {edit_key(e["id"], e["field"]): {"by": e["by"], "at": e["at"]}
            for e in (edits or {}).get("changed") or [] if e.get("by") or e.get("at")}


def kst(at_utc: str | None) -> str:
    """An ISO time in UTC (as the record keeps it) as ``YYYY-MM-DD HH:MM KST`` (the one rule:
    :func:`evaluator.kst.kst_text`); '' when unknown."""
    from evaluator.kst import kst_text

    return kst_text(at_utc)


def edit_rows(edits: Mapping | None) -> list[dict[str, Any]]:
    """The changed cells of a record's ``edits`` as rows to show: ``id, field, original, entered,
    by, at_kst`` (who and when blank for an edit recorded without them)."""
    return [{"id": e["id"], "field": e["field"], "original": e.get("original"), "entered": e.get("entered"),
             "by": e.get("by") or "", "at_kst": kst(e.get("at"))} for e in (edits or {}).get("changed") or []]


def table_edits(original: pd.DataFrame | None, entered: pd.DataFrame, log: Mapping | None = None) -> dict:
    """The officer's edits of the applicants' table, cell by cell.

    ``log`` (:func:`edit_key` -> ``{"by", "at"}``, the session's record of who changed which
    cell when) adds ``by`` and ``at`` (ISO, UTC) to each changed cell it knows.

    Returns
    -------
    dict
        ``changed``: ``[{id, field, original, entered[, by, at]}]``; ``added``: ids entered that the
        applicant did not submit; ``removed``: ``[{id, record}]`` rows the applicant submitted
        that are not in the entered table (with the applicant's values).
    """
    if original is None or "id" not in entered.columns or "id" not in original.columns:
        return {"changed": [], "added": [], "removed": []}
    orig = {str(r["id"]): r for r in original.to_dict("records")}
    now = {str(r["id"]): r for r in entered.to_dict("records")}
    changed = []
    for app_id, row in now.items():
        before = orig.get(app_id)
        if before is None:
            continue
        for field in sorted(set(row) | set(before)):
            a, b = before.get(field), row.get(field)
            if _norm(a) != _norm(b):
                who = (log or {}).get(edit_key(app_id, field)) or {}
                changed.append({"id": app_id, "field": str(field), "original": _jsonable(a), "entered": _jsonable(b),
                                **{k: str(who[k]) for k in ("by", "at") if who.get(k)}})
    return {"changed": changed, "added": sorted(i for i in now if i not in orig),
            "removed": [{"id": i, "record": _jsonable(r)} for i, r in orig.items() if i not in now]}


def original_table(entered: pd.DataFrame, edits: Mapping | None) -> pd.DataFrame:
    """The applicants' table rebuilt from the entered one and :func:`table_edits`'s ``edits``."""
    if not edits:
        return entered.copy()
    out = entered[~entered["id"].astype(str).isin(set(edits.get("added") or []))].copy() \
        if "id" in entered.columns else entered.copy()
    for e in edits.get("changed") or []:
        rows = out.index[out["id"].astype(str) == e["id"]]
        if e["field"] not in out.columns:
            out[e["field"]] = None
        if out[e["field"]].dtype != object:
            out[e["field"]] = out[e["field"]].astype(object)
        out.loc[rows, e["field"]] = e["original"]
    removed = [r["record"] for r in edits.get("removed") or []]
    if removed:
        out = pd.concat([out, pd.DataFrame(removed)], ignore_index=True)
    return out.reset_index(drop=True)


def scenario_record(apps: Sequence, scenario, result, *, locked_in: Sequence[str] = (),
                    locked_out: Sequence[str] = (), entered: pd.DataFrame | None = None,
                    original: pd.DataFrame | None = None, schedule: pd.DataFrame | None = None,
                    customs: tuple[str, str] | None = None, time_limit_s: float = 10.0, n_paths: int | None = None,
                    seed: int = 0, source_name: str = "", edit_log: Mapping | None = None) -> dict:
    """Everything that was decided besides the assumptions (which the scenario row holds).

    Parameters
    ----------
    apps : sequence of Application
        The valid applications the pipeline ran on.
    scenario : Scenario
    result : evaluator.pipeline.PipelineResult
    locked_in, locked_out : sequence of str
        The officer's locks.
    entered, original : DataFrame, optional
        The table as the officer entered it and as the applicants submitted it (edits).
    schedule : DataFrame, optional
        The yearly schedule sheet of the entered table.
    customs : (file name, SHA-256), optional
        The customs extract the supply figures used (None: the bundled imports).
    time_limit_s : float
        The solver's time limit of the run [s]; ``n_paths``, ``seed``: its simulation, if any.
    edit_log : mapping, optional
        Who changed which cell when (:func:`table_edits`).
    """
    from evaluator.store import frame_to_json

    alloc = None if result.allocation is None else result.allocation.table
    funded = [r for r in _allocation_records(alloc) if r["selected"]]
    return {
        "version": RECORD_VERSION,
        "locks": _locks(locked_in, locked_out),
        "edits": table_edits(original, entered, edit_log) if entered is not None else {"changed": [], "added": [], "removed": []},
        "schedule": frame_to_json(schedule),
        "customs": {"basis": "bundled"} if customs is None else {"basis": "upload", "file": customs[0],
                                                                   "sha256": customs[1]},
        "price_deck": "scenario price_path_usd_per_t" if scenario.price_path_usd_per_t else "scenario price_case",
        "risk_measure": result.risk_measure, "time_limit_s": float(time_limit_s),
        "n_paths": n_paths, "seed": int(seed), "source_name": str(source_name),
        "figures": figures_key(apps, scenario, locked_in, locked_out),
        "results_hash": results_hash(alloc),
        "funded": {"count": len(funded), "fund_krw_bn": round(sum(r["fund_krw_bn"] for r in funded), MONEY_DECIMALS),
                   "loan_krw_bn": round(sum(r["loan_krw_bn"] for r in funded), MONEY_DECIMALS)},
    }


def saved_inputs(saved, ref, file_of=None):
    """(applications, scenario, schedule, locks, customs bytes or None) of a saved scenario.

    ``file_of(sha256)`` returns ``(name, bytes)`` of a kept file (the store's :meth:`file`)."""
    from evaluator.store import frame_from_json
    from models.loader import LoaderError, validate_table
    from models.scenario import Scenario, ScenarioError

    record = saved.record or {}
    try:
        scenario = Scenario.from_dict(dict(saved.assumptions))
    except ScenarioError as exc:
        raise ReplayError(f"scenario {saved.id}: its assumptions no longer load: {exc}") from None
    schedule = frame_from_json(record.get("schedule"))
    try:
        loaded = validate_table(saved.applications_frame(), schedule, ref=ref)
    except LoaderError as exc:
        raise ReplayError(f"scenario {saved.id}: its applications no longer load: {exc}") from None
    locks = record.get("locks") or {}
    customs = None
    basis = record.get("customs") or {"basis": "bundled"}
    if basis.get("basis") == "upload":
        kept = file_of(basis["sha256"]) if file_of is not None else None
        if kept is None:
            raise ReplayError(f"scenario {saved.id}: its customs extract {basis.get('file')} "
                              f"(SHA-256 {basis['sha256'][:12]}) is not in the store")
        customs = kept
    return loaded, scenario, schedule, locks, customs
