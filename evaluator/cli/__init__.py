"""Command-line interface: ``python -m evaluator <command> FILE [options]``.

Commands: ``evaluate``, ``rank``, ``allocate``, ``simulate``, ``report``, ``template``,
``scenario``, one module each. Every command that reads applications prints one record per valid
application (``--format table|json|csv``) on stdout and every problem, with its application id,
field and rule, on stderr; the valid applications are evaluated whatever is wrong with the others.
The numbers come from :func:`evaluator.pipeline.run`, as in the app and the report.

Exit status: 0 all applications valid; 3 some applications invalid (the rest printed);
2 the file or the options could not be used at all (one line ``error: ...`` on stderr, never a
traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from evaluator.cli import allocate, evaluate, rank, report, scenario, simulate, template
from evaluator.cli.common import EXIT_UNUSABLE, CliError

__all__ = ["main", "COMMANDS", "CliError"]

#: name -> (help, add_arguments(parser), handler(args) -> int); None: the command's sub-actions
#: set their own handlers.
COMMANDS = {
    "evaluate": ("cash flows and finance metrics per application", evaluate.add_arguments, evaluate.run),
    "rank": ("screen, score and rank applications (criteria contributions, rank stability)",
             rank.add_arguments, rank.run),
    "allocate": ("allocate the fund and the loan budget (MILP, HiGHS)", allocate.add_arguments, allocate.run),
    "simulate": ("Monte Carlo NPV / DSCR risk per application", simulate.add_arguments, simulate.run),
    "report": ("committee Excel report with live cash-flow formulas", report.add_arguments, report.run),
    "template": ("blank application workbook (or applications in its format)", template.add_arguments,
                 template.run),
    "scenario": ("save, list, show, compare and decide scenarios", scenario.add_arguments, None),
}


def _expected_errors() -> tuple[type[BaseException], ...]:
    """The errors a command may meet with usable code and bad input, data or settings: the
    project's family (:class:`evaluator.errors.EvaluatorError`, every kind and subclass) and the
    operating system's (a file that cannot be read or written). Anything else is a bug."""
    from evaluator.errors import EvaluatorError

    return (EvaluatorError, OSError)


def _one_line(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluator", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_args, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        add_args(p)
        if handler is not None:
            p.set_defaults(handler=handler)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except _expected_errors() as exc:
        for line in _one_line(exc).splitlines() or [""]:
            sys.stderr.write(f"error: {line}\n")
        return EXIT_UNUSABLE
    except Exception as exc:  # noqa: BLE001  the CLI boundary: a bug still ends in one line, not a traceback
        if os.environ.get("EVALUATOR_DEBUG"):
            raise
        sys.stderr.write(f"error: internal error ({type(exc).__name__}: {exc}); "
                         f"set EVALUATOR_DEBUG=1 for the traceback\n")
        return EXIT_UNUSABLE
