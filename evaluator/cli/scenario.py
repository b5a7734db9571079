"""``python -m evaluator scenario save|list|show|compare|decide``: the committee's saved what-ifs.

``save`` runs the ranking and the allocation of a file of applications under a scenario (and the
allocate command's options) and stores assumptions, applications, ranking and allocation in the
SQLite store (``--store`` or the ``EVALUATOR_STORE`` environment variable, else the default path
of :func:`evaluator.store.default_store_path`).
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from evaluator.pipeline import snapshot
from evaluator.cli.common import CliError, add_common, add_decision_options, emit, run_pipeline

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
    apps, scenario, _, result, code = run_pipeline(args, allocate=True)
    if result is None:
        raise CliError("no valid application to save")
    sid = _store(args).save(args.name, args.author, **snapshot(apps, scenario, result))
    print(sid)
    return code


@_guard
def cmd_list(args) -> int:
    emit(_store(args).list(), args.format)
    return 0


@_guard
def cmd_show(args) -> int:
    s = _store(args).load(args.id)
    header = {"id": s.id, "name": s.name, "author": s.author, "created_at": s.created_at,
              "applications_hash": s.applications_hash, "decided": s.decided, "assumptions": s.assumptions,
              "summary": s.summary}
    table = s.allocation.reset_index() if s.allocation is not None else pd.DataFrame()
    emit(table, args.format, summary=header)
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
    did = _store(args).decide(args.id, args.note, args.by)
    print(did)
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
    q.add_argument("--by", required=True, help="who decided (committee, officer)")
    q.set_defaults(handler=cmd_decide)

