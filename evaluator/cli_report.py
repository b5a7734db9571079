"""CLI commands ``report`` and ``template`` (auto-registered by :mod:`evaluator.cli`).

``python -m evaluator report FILE --out report.xlsx [--scenario S] [--cashflow-ids ID ...]``
    Evaluate the applications and write the committee workbook. Scoring, allocation and the
    supply analysis are used when their modules are importable; otherwise the report says they
    were not run.
``python -m evaluator template --out FILE [--from CSV]``
    Write the blank application workbook, or the applications of CSV/JSON/XLSX in the template's
    format.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluator.cli import EXIT_INVALID_ROWS, EXIT_OK, CliError, _add_common, _status, load_inputs


def _optional_results(apps, scenario, ref, ev) -> dict:
    """Scores, allocation and supply when those modules exist; every failure degrades to
    fewer sheets filled (with a note on stderr), never to no report."""
    out: dict = {}
    try:
        from evaluator import pipeline
    except ImportError:
        return out
    try:
        from evaluator.cli_allocate import quiet_stdout
    except ImportError:  # pragma: no cover
        import contextlib

        quiet_stdout = contextlib.nullcontext
    try:
        run = pipeline.run(apps, scenario, ref)
        out["scores"] = run.scores.table
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"note: scoring not included ({type(exc).__name__}: {exc})\n")
        return out
    try:
        from evaluator import portfolio, supply

        with quiet_stdout():  # HiGHS may print stray lines
            pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, scenario, ref)
        out["allocation"] = pa.table
        out["allocation_summary"] = pa.summary
        if pa.supply_effect is not None and len(pa.supply_effect):
            out["supply"] = pa.supply_effect.reset_index()
        funded = [i for i in pa.table.index[pa.table["selected"].astype(bool)]]
        if funded:
            by_year = supply.offtake_by_year_from_evaluation(run.evaluation, funded)
            out["supply_by_year"] = supply.projection_by_year(ref, scenario, by_year, ids=funded)
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"note: allocation/supply not included ({type(exc).__name__}: {exc})\n")
    return out


def cmd_report(args) -> int:
    from evaluator.evaluate import evaluate
    from evaluator.report import build_report

    ref, scenario, result = load_inputs(args)
    if not result.applications:
        raise CliError("no valid application to report on")
    ev = evaluate(result.applications, scenario, ref)
    extra = _optional_results(result.applications, scenario, ref, ev)
    ids = None
    if args.cashflow_ids:
        ids = [s.strip() for chunk in args.cashflow_ids for s in chunk.split(",") if s.strip()]
        unknown = [i for i in ids if i not in ev.metrics.index]
        if unknown:
            raise CliError(f"--cashflow-ids: unknown application id(s): {', '.join(unknown)}")
    data = build_report(ev, scenario, cashflow_ids=ids, ref=ref, **extra)
    out = Path(args.out)
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror}") from None
    sys.stderr.write(f"wrote {out} ({len(data):,} bytes; {len(ev.metrics)} applications)\n")
    return _status(result)


def _add_report(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--out", required=True, help="output workbook (.xlsx)")
    p.add_argument("--cashflow-ids", nargs="+", metavar="ID",
                   help="projects given a live cash-flow sheet (default: funded ones, else top 5 by NPV)")


def cmd_template(args) -> int:
    from evaluator.template import build_template

    status = EXIT_OK
    if args.from_file:
        from evaluator.reference import load_reference
        from models.application import ValidationError
        from models.loader import load_applications

        try:
            result = load_applications(args.from_file, ref=load_reference())
        except ValidationError as exc:
            raise CliError("\n".join(f"{args.from_file}: {p.message()}" for p in exc.problems)) from None
        for p in result.problems:
            sys.stderr.write(f"invalid application (not written) {p.message()}\n")
        status = EXIT_INVALID_ROWS if result.problems else EXIT_OK
        data = build_template(applications=result.applications)
    else:
        data = build_template(example=not args.no_example)
    try:
        Path(args.out).write_bytes(data)
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc.strerror}") from None
    sys.stderr.write(f"wrote {args.out}\n")
    return status


def _add_template(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output workbook (.xlsx)")
    p.add_argument("--from", dest="from_file", help="write these applications (.csv, .json or .xlsx) instead of a blank form")
    p.add_argument("--no-example", action="store_true", help="leave out the example row")


COMMANDS = {
    "report": ("committee Excel report with live cash-flow formulas", _add_report, cmd_report),
    "template": ("blank application workbook (or applications in its format)", _add_template, cmd_template),
}
