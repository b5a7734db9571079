"""``python -m evaluator template --out FILE [--from CSV]``: the blank application workbook, or the
applications of a CSV / JSON / XLSX file in the template's format."""

from __future__ import annotations

import sys
from pathlib import Path

from evaluator.cli.common import EXIT_INVALID_ROWS, EXIT_OK, CliError, write_output


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, help="output workbook (.xlsx)")
    p.add_argument("--from", dest="from_file", help="write these applications (.csv, .json or .xlsx) instead of a blank form")
    p.add_argument("--no-example", action="store_true", help="leave out the example row")
    p.add_argument("--language", choices=("en", "ko"), default="en",
                   help="language of the instructions, units, rules and example row (default: en); "
                        "the column ids stay as they are")


def run(args) -> int:
    from evaluator.cli.common import protected_inputs
    from evaluator.safe_file import OutputError, check_output_path
    from evaluator.template import build_template

    try:  # template --from X --out X would replace the input and drop its invalid rows
        check_output_path(args.out, protected_inputs(args))
    except OutputError as exc:
        raise CliError(str(exc)) from None
    code = EXIT_OK
    if args.from_file:
        from evaluator.reference import load_reference
        from models.application import ValidationError
        from models.loader import load_applications

        try:
            loaded = load_applications(args.from_file, ref=load_reference())
        except ValidationError as exc:
            raise CliError("\n".join(f"{args.from_file}: {p.message()}" for p in exc.problems)) from None
        for p in loaded.problems:
            sys.stderr.write(f"invalid application (not written) {p.message()}\n")
        code = EXIT_INVALID_ROWS if loaded.problems else EXIT_OK
        data = build_template(applications=loaded.applications, language=args.language)
    else:
        data = build_template(example=not args.no_example, language=args.language)
    write_output(args, Path(args.out), data)
    sys.stderr.write(f"wrote {args.out}\n")
    return code
