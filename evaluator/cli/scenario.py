"""``python -m evaluator scenario save|list|show|compare|decide|replay|audit``: the committee's record.

``save`` runs the ranking and the allocation of a file of applications under a scenario (and the
allocate command's options) and stores assumptions, applications, ranking and allocation, with
everything else that was decided (locks, the customs extract, the solver limit, hashes of the
figures and results: :func:`evaluator.record.scenario_record`) in the SQLite store (``--store`` or
the ``EVALUATOR_STORE`` environment variable, else the default path of
:func:`evaluator.store.default_store_path`). ``replay`` recomputes a saved scenario and says
whether the allocation is the one saved. ``decide``, ``list`` and ``show`` print the head hashes
of the decision record and of the audit trail (on stderr for ``decide``, in the output otherwise),
so that they can be kept outside the file.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from evaluator.cli.common import CliError, add_common, add_decision_options, emit, quiet_stdout, run_pipeline
from evaluator.pipeline import snapshot

#: Exit status of ``replay`` when the recomputed allocation differs from the saved one.
EXIT_REPLAY_DIFFERS = 4

def _store(args):
    from evaluator.store import ScenarioStore, StoreError

    try:
        return ScenarioStore(args.store)
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _guard(fn):
    def run(args):
        from evaluator.store import StoreError

        try:
            return fn(args)
        except (StoreError, ValueError) as exc:
            raise CliError(str(exc)) from None
    return run


@_guard
def cmd_save(args) -> int:
    import hashlib
    from pathlib import Path

    from evaluator.cli.common import ids_option

    apps, scenario, _, result, code = run_pipeline(args, allocate=True)
    if result is None:
        raise CliError("no valid application to save")
    files, customs = {}, None
    if getattr(args, "customs", None):  # kept in the store: a replay needs the very same extract
        data = Path(args.customs).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        files[sha] = (Path(args.customs).name, data)
        customs = (Path(args.customs).name, sha)
    kw = snapshot(apps, scenario, result, locked_in=ids_option(args.lock_in), locked_out=ids_option(args.lock_out),
                  customs=customs, time_limit_s=args.time_limit_s, n_paths=getattr(args, "paths", None),
                  seed=getattr(args, "seed", 0), source_name=Path(args.file).name)
    sid = _store(args).save(args.name, args.author, files=files, **kw)
    print(sid)
    return code


def _heads_line(heads: dict) -> str:
    return (f"decision record head (SHA-256): {heads['decisions'] or '-'}\n"
            f"audit trail head (SHA-256): {heads['audit'] or '-'}")


@_guard
def cmd_list(args) -> int:
    store = _store(args)
    listing, heads = store.list(), store.heads()
    if args.format == "json":
        import json

        from evaluator.cli.common import json_value

        print(json.dumps({"scenarios": [{k: json_value(v) for k, v in r.items()} for r in listing.to_dict("records")],
                          "head_hash": heads["decisions"], "audit_head_hash": heads["audit"]}, indent=2,
                         ensure_ascii=False))
        return 0
    emit(listing, args.format)
    sys.stderr.write(_heads_line(heads) + "\n") if args.format == "csv" else print("\n" + _heads_line(heads))
    return 0


@_guard
def cmd_show(args) -> int:
    store = _store(args)
    s = store.load(args.id)
    record = s.record or {}
    edits = record.get("edits") or {}
    header = {"id": s.id, "name": s.name, "author": s.author, "created_at": s.created_at,
              "applications_hash": s.applications_hash, "decided": s.decided, "assumptions": s.assumptions,
              "locks": record.get("locks"), "edits": edits.get("changed", []),
              "applications_added": edits.get("added", []),
              "applications_removed": [r["id"] for r in edits.get("removed", [])],
              "customs": record.get("customs"), "figures": record.get("figures"),
              "results_hash": record.get("results_hash"), "summary": s.summary}
    header.update({"head_hash": None, "audit_head_hash": None})
    heads = store.heads()
    header["head_hash"], header["audit_head_hash"] = heads["decisions"], heads["audit"]
    if record == {}:
        header["record"] = "saved before schema 5: no locks, edits or customs basis were kept"
    table = s.allocation.reset_index() if s.allocation is not None else pd.DataFrame()
    emit(table, args.format, summary=header)
    return 0


@_guard
def cmd_replay(args) -> int:
    """Recompute a saved scenario; exit 0 when the allocation matches, 4 when it differs."""
    import json

    from evaluator.record import ReplayError
    from evaluator.reference import load_reference
    from evaluator.replay import replay

    store = _store(args)
    saved = store.load(args.id)
    try:
        with quiet_stdout():  # HiGHS may print stray lines
            out = replay(saved, load_reference(), store.file)
    except ReplayError as exc:
        raise CliError(str(exc)) from None
    if args.format == "json":
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(f"scenario {out['scenario_id']}: matches_saved: {str(out['matches_saved']).lower()}; "
              f"{out['funded']['count']} funded, fund {out['funded']['fund_krw_bn']:,.3f}, "
              f"loans {out['funded']['loan_krw_bn']:,.3f} [KRW bn]")
        for d in out["differences"]:
            print("  differs: " + ", ".join(f"{k}={v}" for k, v in d.items()))
    return 0 if out["matches_saved"] else EXIT_REPLAY_DIFFERS


@_guard
def cmd_audit(args) -> int:
    store = _store(args)
    trail, heads = store.audit_entries(), store.heads()
    if args.format == "json":
        emit(trail, "json", summary={"head_hash": heads["decisions"], "audit_head_hash": heads["audit"]})
        return 0
    emit(trail, args.format)
    if args.format == "table":
        print("\n" + _heads_line(heads))
    return 0


@_guard
def cmd_compare(args) -> int:
    c = _store(args).compare(args.ids)
    if args.format == "json":
        emit(c.funding.reset_index(), "json", summary={
            "assumptions": c.assumptions.reset_index().to_dict("records"),
            "totals": c.totals.reset_index().to_dict("records"),
            "summary": c.summary.reset_index().to_dict("records")})
        return 0
    for title, frame in (("Assumptions that differ", c.assumption_differences), ("Funding [KRW bn]", c.funding),
                         ("Totals", c.totals), ("Summary", c.summary)):
        sys.stdout.write(f"\n{title}\n")
        emit(frame.reset_index(), args.format)
    return 0


@_guard
def cmd_decide(args) -> int:
    """Record the decision under an identity the store knows with the approver role
    (:func:`evaluator.roles.decider`), bound like the app's to the scenario's stored figures."""
    import json

    from evaluator.roles import DeciderError, decider

    store = _store(args)
    try:
        by = decider(store, args.by)
    except DeciderError as exc:
        raise CliError(str(exc)) from None
    record = store.load(args.id).record or {}
    if not record.get("figures"):  # saved before schema 5: a decision could attach to no run's figures
        raise CliError(f"scenario {args.id} was saved before its figures were fingerprinted (schema 5): "
                       f"save it again and decide the new one")
    did = store.decide(args.id, args.note, by, reason=args.reason)
    heads = store.heads()
    if args.format == "json":
        decision = next(d for d in store.decisions() if d.id == did)
        print(json.dumps({"decision_id": did, "scenario_id": args.id, "decided_by": by, "figures": record["figures"],
                          "results_hash": record.get("results_hash"), "decision_hash": decision.this_hash,
                          "head_hash": heads["decisions"], "audit_head_hash": heads["audit"]}, indent=2))
    else:
        print(did)
    sys.stderr.write(_heads_line(heads) + "\n")  # keep it outside the file (the minutes)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="SQLite file (default: $EVALUATOR_STORE or the user data folder)")
    sub = p.add_subparsers(dest="action", required=True)
    s = sub.add_parser("save", help="rank and allocate FILE, then save the scenario")
    add_common(s)
    add_decision_options(s)
    s.add_argument("--name", required=True)
    s.add_argument("--author", required=True)
    s.set_defaults(handler=cmd_save)
    for name, handler, help_text in (("list", cmd_list, "saved scenarios"),):
        q = sub.add_parser(name, help=help_text)
        q.add_argument("--format", choices=["table", "json", "csv"], default="table")
        q.set_defaults(handler=handler)
    q = sub.add_parser("show", help="one saved scenario")
    q.add_argument("id", type=int)
    q.add_argument("--format", choices=["table", "json", "csv"], default="table")
    q.set_defaults(handler=cmd_show)
    q = sub.add_parser("compare", help="two or more scenarios side by side")
    q.add_argument("ids", type=int, nargs="+")
    q.add_argument("--format", choices=["table", "json", "csv"], default="table")
    q.set_defaults(handler=cmd_compare)
    q = sub.add_parser("decide", help="record a scenario as the committee's decision (immutable)")
    q.add_argument("id", type=int)
    q.add_argument("--note", required=True)
    q.add_argument("--by", help="the approver's e-mail address on the team's roles the store knows (entered by the "
                                "team server); a local store's decider is this machine's user, --by may be left out")
    q.add_argument("--format", choices=["table", "json"], default="table",
                   help="json: the decision with the figures' fingerprints it is bound to and the head hashes")
    q.add_argument("--reason", help="why it supersedes the decision in force (required when there is one)")
    q.set_defaults(handler=cmd_decide)
    q = sub.add_parser("replay", help="recompute a saved scenario and compare with its saved allocation")
    q.add_argument("id", type=int)
    q.add_argument("--format", choices=["table", "json"], default="table")
    q.set_defaults(handler=cmd_replay)
    q = sub.add_parser("audit", help="the audit trail: who saved, loaded, decided, exported, uploaded what")
    q.add_argument("--format", choices=["table", "json", "csv"], default="table")
    q.set_defaults(handler=cmd_audit)

