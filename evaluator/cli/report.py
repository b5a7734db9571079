"""``python -m evaluator report FILE --out report.xlsx``: the committee workbook.

Runs the whole pipeline (ranking, allocation, the funded set's supply effect by year; the
simulation too with ``--risk-adjusted``) with the same options as ``allocate``, and writes the
workbook the app's Report page writes for the same inputs, in English or Korean (``--language ko``).
With ``--portfolio-risk`` the funded portfolio is also simulated jointly
(:func:`evaluator.uncertainty.portfolio_risk_of_result`, ``--paths`` paths, ``--seed``) and the
workbook gains its key figures on the Summary and a ``Portfolio risk`` sheet. A decision recorded in the scenario
store (``--store`` or ``$EVALUATOR_STORE``) for these applications and this scenario fills the
Decision sheet.
"""

from __future__ import annotations

import sys
from pathlib import Path

from evaluator.cli.common import CliError, Progress, add_common, add_decision_options, run_pipeline, write_output


def add_arguments(p) -> None:
    add_common(p)
    add_decision_options(p)
    p.add_argument("--out", required=True, help="output workbook (.xlsx)")
    p.add_argument("--cashflow-ids", nargs="+", metavar="ID",
                   help="projects given a live cash-flow sheet (default: funded ones, else top 5 by NPV)")
    p.add_argument("--language", choices=("en", "ko"), default="en",
                   help="language of the workbook's labels, headers, sheet names and notes (default: en)")
    p.add_argument("--portfolio-risk", action="store_true",
                   help="also simulate the funded portfolio jointly (--paths, --seed) and add its loan-book loss, "
                        "fund NPV and target probabilities to the workbook")
    p.add_argument("--store", help="scenario store whose recorded decision for these inputs fills the Decision "
                                   "sheet (default: $EVALUATOR_STORE when set)")


def _cashflow_ids(args, result) -> list[str] | None:
    if not args.cashflow_ids:
        return None
    ids = [s.strip() for chunk in args.cashflow_ids for s in chunk.split(",") if s.strip()]
    unknown = [i for i in ids if i not in result.evaluation.metrics.index]
    if unknown:
        raise CliError(f"--cashflow-ids: unknown application id(s): {', '.join(unknown)}")
    return ids


def _portfolio_risk(args, result, apps, scenario, ref):
    """The joint simulation of ``result``'s funded portfolio (``--portfolio-risk``), else None."""
    if not args.portfolio_risk:
        return None
    from evaluator import pipeline
    from evaluator.uncertainty import PortfolioInputError, portfolio_risk_of_result

    prog = Progress("portfolio risk")
    try:
        return portfolio_risk_of_result(result, apps, scenario, ref,
                                        supply_ref=pipeline.supply_reference(ref, getattr(args, "customs", None)),
                                        n_paths=args.paths, seed=args.seed, progress=prog)
    except PortfolioInputError as exc:
        raise CliError(f"--portfolio-risk: {exc}") from None
    finally:
        prog.close()


def run(args) -> int:
    import os

    from evaluator import pipeline
    from evaluator.cli.common import protected_inputs
    from evaluator.report import build_pipeline_report
    from evaluator.safe_file import OutputError, check_output_path

    try:  # before the pipeline's work: an output naming an input or the store is refused at once
        check_output_path(args.out, protected_inputs(args))
    except OutputError as exc:
        raise CliError(str(exc)) from None
    apps, scenario, ref, result, code = run_pipeline(args, allocate=True)
    if result is None:
        raise CliError("no valid application to report on")
    store_path = args.store or os.environ.get("EVALUATOR_STORE")
    from evaluator.cli.common import ids_option

    decision = pipeline.recorded_decision(store_path, scenario, apps, ids_option(getattr(args, "lock_in", None)),
                                          ids_option(getattr(args, "lock_out", None))) if store_path else None
    if decision and decision.get("for_other_figures"):
        sys.stderr.write(f"warning: the recorded decision #{decision['decision_id']} was for other figures "
                         f"(scenario {decision['scenario']}: {', '.join(decision['differs'])} differ); "
                         f"the report does not carry it\n")
    cashflow_ids = _cashflow_ids(args, result)
    risk = _portfolio_risk(args, result, apps, scenario, ref)
    data = build_pipeline_report(result, scenario, ref=ref, cashflow_ids=cashflow_ids, decision=decision,
                                 language=args.language, portfolio_risk=risk)
    out = Path(args.out)
    write_output(args, out, data)
    sys.stderr.write(f"wrote {out} ({len(data):,} bytes; {len(result.evaluation.metrics)} applications)\n")
    if store_path:  # the export enters the store's audit trail with the workbook's SHA-256
        import getpass
        import hashlib

        from evaluator.store import ScenarioStore

        ScenarioStore(store_path).audit(getpass.getuser(), "export", {
            "kind": "report", "file": out.name, "sha256": hashlib.sha256(data).hexdigest(),
            "decision_id": decision.get("decision_id") if decision and not decision.get("for_other_figures") else None})
    return code
