"""Command-line interface: ``python -m evaluator <command> FILE [options]``.

Commands: ``evaluate``, ``rank``, ``allocate``, ``simulate``, ``report``, ``template``,
``scenario``. Every command that reads applications prints one record per valid application
(``--format table|json|csv``) on stdout and every problem, with its application id, field and
rule, on stderr; the valid applications are evaluated whatever is wrong with the others.

Exit status: 0 all applications valid; 3 some applications invalid (the rest printed);
2 the file or the options could not be used at all.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Callable, Sequence

import numpy as np
import pandas as pd

EXIT_OK, EXIT_INVALID_ROWS, EXIT_UNUSABLE = 0, 3, 2

#: Fields printed by ``evaluate`` (DESIGN.md interface: snake_case with units).
EVALUATE_FIELDS = [
    "id", "name", "country_iso3", "mineral", "stage", "npv_usd_m", "npv_krw_bn", "irr", "irr_note",
    "payback_years", "discounted_payback_years", "profitability_index", "npv_per_support",
    "aisc_usd_per_t", "min_dscr", "avg_dscr", "llcr", "discount_rate", "risk_premium",
    "support_request_krw_bn", "coverage_share", "first_production_year", "korea_offtake_t_per_year",
]


class CliError(Exception):
    """A problem with the command line or a file that stops the command (exit 2)."""


def _json_value(v):
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    return v


def emit(frame: pd.DataFrame, fmt: str, out=None, summary: dict | None = None) -> None:
    """Print a result table as ``table``, ``json`` (a list of records, or
    ``{"applications": [...], "summary": {...}}`` when a summary is given) or ``csv``."""
    out = out or sys.stdout
    if fmt == "json":
        records = [{k: _json_value(v) for k, v in r.items()} for r in frame.to_dict("records")]
        obj = records if summary is None else {"applications": records, "summary": _json_value(summary)}
        out.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        frame.to_csv(out, index=False, lineterminator="\n")
        if summary:
            sys.stderr.write(json.dumps(_json_value(summary), indent=2, ensure_ascii=False) + "\n")
    else:
        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                               "display.float_format", lambda x: f"{x:,.3f}"):
            out.write(frame.to_string(index=False) + "\n")
        if summary:
            out.write("\n" + _summary_text(summary) + "\n")


def _summary_text(summary: dict, indent: str = "") -> str:
    lines = []
    for k, v in summary.items():
        if isinstance(v, dict):
            lines.append(f"{indent}{k}:")
            lines.append(_summary_text(v, indent + "  "))
        else:
            lines.append(f"{indent}{k}: {_json_value(v)}")
    return "\n".join(lines)


def load_inputs(args) -> tuple:
    """Reference data, scenario and applications for a command; problems go to stderr."""
    from evaluator.reference import load_reference
    from models.application import ValidationError
    from models.loader import load_applications
    from models.scenario import ScenarioError, default_scenario, load_scenario

    ref = load_reference()
    try:
        scenario = load_scenario(args.scenario) if getattr(args, "scenario", None) else default_scenario()
    except ScenarioError as exc:
        raise CliError(f"scenario: {exc}") from None
    try:
        result = load_applications(args.file, ref=ref)
    except ValidationError as exc:
        raise CliError("\n".join(f"{args.file}: {p.message()}" for p in exc.problems)) from None
    for p in result.problems:
        sys.stderr.write(f"invalid application {p.message()}\n")
    return ref, scenario, result


def _status(result) -> int:
    return EXIT_INVALID_ROWS if result.problems else EXIT_OK


def cmd_evaluate(args) -> int:
    from evaluator.evaluate import evaluate

    ref, scenario, result = load_inputs(args)
    if not result.applications:
        emit(pd.DataFrame(columns=EVALUATE_FIELDS), args.format)
        return _status(result) or EXIT_INVALID_ROWS
    ev = evaluate(result.applications, scenario, ref)
    emit(ev.metrics.reset_index()[EVALUATE_FIELDS], args.format)
    return _status(result)


def _add_common(p: argparse.ArgumentParser, file_required: bool = True) -> None:
    if file_required:
        p.add_argument("file", help="applications: workbook (.xlsx, template format), .csv or .json")
    p.add_argument("--scenario", help="scenario file (.toml or .json); default: the bundled 2026 scenario")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")


#: Further commands register here: name -> (help, add_arguments(parser), handler(args) -> int).
COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "evaluate": ("cash flows and finance metrics per application", _add_common, cmd_evaluate),
}


def _register_optional() -> None:
    """Commands that live beside their modules (rank, allocate, report, ...)."""
    import importlib

    for mod_name in ("evaluator.cli_rank", "evaluator.cli_allocate", "evaluator.cli_report",
                     "evaluator.cli_simulate", "evaluator.cli_scenario"):
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name != mod_name:
                raise
            continue
        COMMANDS.update(mod.COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    _register_optional()
    parser = argparse.ArgumentParser(prog="python -m evaluator", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_args, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        add_args(p)
        if handler is not None:  # commands with sub-actions set their handlers themselves
            p.set_defaults(handler=handler)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CliError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_UNUSABLE
