"""``python -m evaluator allocate FILE``: split the fund and the loan budget over the applications."""

from __future__ import annotations

import contextlib
import os
import sys


from evaluator.cli import CliError, _add_common, _status, emit, load_inputs

ALLOCATION_FIELDS_ORDER = ["id", "name", "country_iso3", "mineral", "score", "eligible", "fund_request_krw_bn",
                   "loan_request_krw_bn", "fund_krw_bn", "loan_krw_bn", "fraction", "selected",
                   "coverage_share", "expected_loss_krw_bn", "note"]


@contextlib.contextmanager
def quiet_stdout():
    """Silence stray solver lines written to file descriptor 1 (HiGHS inside scipy prints some),
    so that machine-read output (JSON, CSV) stays clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _ids(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def add_arguments(p) -> None:
    _add_common(p)
    p.add_argument("--fund-krw-bn", type=float, help="fund budget [KRW bn] (default: scenario, 250)")
    p.add_argument("--loan-krw-bn", type=float, help="policy-loan budget [KRW bn] (default: scenario, 67.5)")
    p.add_argument("--country-cap-share", type=float, help="max share of the total allocated to one host country [0-1]")
    p.add_argument("--mineral-cap-share", type=float, help="max share of the total allocated to one mineral [0-1]")
    p.add_argument("--objective", choices=["score_weighted_support", "total_score", "total_npv", "total_diversification"])
    p.add_argument("--min-fraction", type=float, help="smallest funded share of a request [0-1]")
    p.add_argument("--lock-in", help="application ids that must be funded, comma-separated")
    p.add_argument("--lock-out", help="application ids that must not be funded, comma-separated")
    p.add_argument("--weights", help="criteria weights, e.g. financial=1,diversification=2")


def scenario_from_args(scenario, args):
    """The scenario with the command-line overrides applied (validated)."""
    from evaluator.cli_rank import parse_weights
    from models.scenario import ScenarioError

    changes = {}
    for opt, field in (("fund_krw_bn", "fund_krw_bn"), ("loan_krw_bn", "loan_krw_bn"),
                       ("country_cap_share", "country_cap_share"), ("mineral_cap_share", "mineral_cap_share"),
                       ("objective", "objective"), ("min_fraction", "min_fraction")):
        v = getattr(args, opt, None)
        if v is not None:
            changes[field] = v
    if getattr(args, "weights", None):
        changes["weights"] = parse_weights(args.weights, scenario.weights)
    try:
        return scenario.replace(**changes) if changes else scenario
    except ScenarioError as exc:
        raise CliError(str(exc)) from None


def run_allocation_objects(args):
    """Load, score and allocate: (applications, scenario, scores table, PortfolioAllocation, status)."""
    from evaluator import pipeline, portfolio
    from evaluator.allocation import AllocationInfeasible

    ref, scenario, result = load_inputs(args)
    scenario = scenario_from_args(scenario, args)
    if not result.applications:
        raise CliError("no valid application to allocate")
    with quiet_stdout():
        run = pipeline.run(result.applications, scenario, ref)
        try:
            pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, scenario, ref,
                                              locked_in=_ids(args.lock_in), locked_out=_ids(args.lock_out))
        except (AllocationInfeasible, portfolio.PortfolioError) as exc:
            raise CliError(f"allocation: {exc}") from None
    violations = portfolio.check_allocation(pa, scenario)
    if violations:  # never print an allocation that breaks a budget or a cap
        raise CliError("allocation failed its re-check: " + "; ".join(violations))
    return result.applications, scenario, run.scores.table, pa, _status(result)


def run_allocation(args):
    """Load, score and allocate; returns (output table, summary dict, exit status)."""
    apps, scenario, scores, pa, status = run_allocation_objects(args)
    t = pa.table.join(scores[["eligible"]]).reset_index()
    return t[ALLOCATION_FIELDS_ORDER], pa.summary, status


def cmd_allocate(args) -> int:
    table, summary, status = run_allocation(args)
    emit(table, args.format, summary=summary)
    return status


COMMANDS = {"allocate": ("allocate the fund and the loan budget (MILP, HiGHS)", add_arguments, cmd_allocate)}
