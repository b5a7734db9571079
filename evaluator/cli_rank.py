"""``python -m evaluator rank FILE``: screen, score and rank applications.

Prints one record per valid application, eligible ones by rank and then the ineligible ones
(``rank`` empty, ``ineligible_reasons`` filled). ``--weights`` overrides some or all of the
scenario's criteria weights (criteria not named keep the scenario's weight); a bad weight stops
the command with exit status 2.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from evaluator.cli import CliError, EXIT_INVALID_ROWS, _add_common, _status, emit, load_inputs
from models.scenario import CRITERIA

#: Fields of a ``rank`` record (DESIGN.md interface: snake_case with units).
RANK_FIELDS = [
    "id", "name", "country_iso3", "mineral", "stage", "npv_usd_m", "irr", "payback_years", "min_dscr",
    "country_risk_score", "risk_premium", "expected_loss_krw_bn", "diversification_score",
    "china_share_after", "score", "rank", "rank_range", "eligible", "ineligible_reasons",
] + [f"contrib_{c}" for c in CRITERIA]

#: Narrower column set for ``--format table`` (reasons printed below the table).
TABLE_FIELDS = ["rank", "id", "country_iso3", "mineral", "score", "rank_range"] + \
    [f"contrib_{c}" for c in CRITERIA] + ["eligible"]


def parse_weights(text: str | None, base) -> dict[str, float] | None:
    """``"financial=0.3,risk=0.2"`` -> the scenario's weights with those criteria replaced."""
    if text is None:
        return None
    out = {c: float(base.get(c, 0.0)) for c in CRITERIA}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise CliError(f"--weights: {item!r} must be criterion=number (criteria: {', '.join(CRITERIA)})")
        k, v = (s.strip() for s in item.split("=", 1))
        if k not in CRITERIA:
            raise CliError(f"--weights: unknown criterion {k!r} (criteria: {', '.join(CRITERIA)})")
        try:
            out[k] = float(v)
        except ValueError:
            raise CliError(f"--weights: {k}={v!r} is not a number") from None
    return out


def _add_arguments(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--weights", help="criteria weights, e.g. financial=0.25,risk=0.15,diversification=0.3,"
                                     "loan_safety=0.1,readiness=0.1,esg=0.1 (non-negative, normalised; "
                                     "criteria not named keep the scenario's weight)")
    p.add_argument("--customs", help="customs extract in UN Comtrade format replacing the bundled Korea imports")


def cmd_rank(args) -> int:
    from evaluator import pipeline, scoring

    ref, scenario, result = load_inputs(args)
    weights = parse_weights(args.weights, scenario.weights)
    if weights is not None:
        try:
            scoring.validate_weights(weights)
        except scoring.ScoringError as exc:
            raise CliError(str(exc)) from None
    if not result.applications:
        emit(pd.DataFrame(columns=RANK_FIELDS), args.format)
        return _status(result) or EXIT_INVALID_ROWS
    customs = None
    if args.customs:
        from evaluator.customs import CustomsError, read_comtrade

        try:
            customs = read_comtrade(args.customs, ref=ref)
        except (CustomsError, OSError) as exc:
            raise CliError(f"--customs {args.customs}: {exc}") from None
        for note in customs.problems:
            sys.stderr.write(f"customs extract: {note}\n")
    try:
        out = pipeline.run(result.applications, scenario, ref, customs=customs, weights=weights)
    except scoring.ScoringError as exc:
        raise CliError(str(exc)) from None
    table = out.scores.table.reset_index()
    table["rank"] = table["rank"].astype("Int64")
    if args.format == "table":
        emit(table[TABLE_FIELDS], "table")
        bad = table[~table["eligible"]]
        if len(bad):
            print("\nNot eligible:")
            for _, r in bad.iterrows():
                print(f"  {r['id']}: {r['ineligible_reasons']}")
    else:
        rec = table[RANK_FIELDS].copy()
        rec["rank"] = rec["rank"].astype(object).where(rec["rank"].notna(), None)
        emit(rec, args.format)
    return _status(result)


COMMANDS = {"rank": ("screen, score and rank applications (criteria contributions, rank stability)",
                     _add_arguments, cmd_rank)}
