"""``python -m evaluator simulate FILE [--paths N] [--seed S] [--scenario F] [--format table|json|csv]
[--portfolio [--loss-threshold-share X] [--no-failures] [budget, cap, lock, weight options]]``.

Monte Carlo of every valid application (see :mod:`evaluator.uncertainty`): one record per
application with the NPV distribution, loss and loan-cover probabilities.

With ``--portfolio`` the applications are first allocated with the scenario (the pipeline, with
the allocation options of ``allocate``), the funded projects are simulated jointly
(:func:`evaluator.uncertainty.portfolio_risk_of_result`) and the output carries, beside one
record per funded project, a ``portfolio`` object: loan-book loss (expected, P95, P99, per
year; the static expected loss beside the simulated one, ``static_expected_loss_krw_bn``, with
``expected_loss_note`` saying why they differ, and a ``projects`` list with each loan's
``prob_default``, simulated ``expected_loss_krw_bn`` and ``static_expected_loss_krw_bn``; the special
levy the successful borrowers pay, ``loan_levy_expected_krw_bn`` beside the records'
``static_expected_levy_krw_bn``, and the government's net cost, loss - levy,
``loan_net_cost_expected_krw_bn`` and ``loan_net_cost_p95_krw_bn``, per project
``expected_levy_krw_bn`` and ``expected_net_cost_krw_bn``), the
fund's NPV percentiles and P(loss), and the probability of meeting the supply target per
mineral and year (``prob_target_met``).

Runs longer than a second print a progress line on stderr; JSON on stdout stays clean.
"""

from __future__ import annotations

import json
import math
import sys

import pandas as pd

from evaluator.cli.common import (
    EXIT_INVALID_ROWS,
    CliError,
    Progress,
    add_common,
    add_decision_options,
    emit,
    json_value,
    load_inputs,
    run_pipeline,
    status,
)

SIMULATE_FIELDS = [
    "id", "name", "mineral", "stage", "npv_usd_m", "npv_mean_usd_m", "npv_p10_usd_m", "npv_p50_usd_m",
    "npv_p90_usd_m", "prob_npv_negative", "prob_min_dscr_below_1", "prob_min_dscr_below_comfort",
    "prob_default", "expected_loss_sim_krw_bn", "irr_p10", "irr_p50", "irr_p90", "risk_adjusted_npv_usd_m",
]
#: One record per funded project under ``--portfolio``.
PORTFOLIO_PROJECT_FIELDS = [
    "id", "name", "mineral", "country_iso3", "fund_krw_bn", "loan_krw_bn", "fund_share", "npv_usd_m",
    "npv_mean_usd_m", "npv_p10_usd_m", "prob_failure", "prob_default", "expected_loss_krw_bn",
    "static_expected_loss_krw_bn", "expected_levy_krw_bn", "expected_net_cost_krw_bn", "loss_contribution_es99_krw_bn",
    "fund_npv_mean_krw_bn", "fund_npv_p10_krw_bn", "fund_contribution_es10_krw_bn",
    "delay_mean_years",
]


def add_arguments(p) -> None:
    add_common(p)
    add_decision_options(p)          # budgets, caps, locks, weights (with --portfolio); --paths, --seed
    p.add_argument("--vol-scale", type=float, default=1.0, help="scale on every uncertainty (0 = deterministic)")
    p.add_argument("--portfolio", action="store_true",
                   help="allocate with the scenario, then simulate the funded portfolio jointly")
    p.add_argument("--loss-threshold-share", type=float, default=None,
                   help="share of the loan budget the write-offs are tested against (default 0.10)")
    p.add_argument("--no-failures", action="store_true", help="with --portfolio: no exploration failure")
    p.add_argument("--p95-loss-cap-krw-bn", type=float, default=None,
                   help="with --portfolio: also allocate with the loan book's P95 loss capped (sample-average "
                        "approximation) and print it beside the deterministic allocation (object 'saa')")
    p.add_argument("--saa-scenarios", type=int, default=None,
                   help="scenarios of the sample-average approximation (default 2000)")


#: Bounds on the sizes an option sets (issue 25): ten times the defaults; the sample-average
#: allocation's programme grows with its scenarios, a larger scale only turns prices non-finite.
MAX_SAA_SCENARIOS = 20_000
MAX_VOL_SCALE = 10.0


def _check(args) -> None:
    from evaluator.cli.common import check_paths

    check_paths(args)
    if args.seed < 0:
        raise CliError("--seed must be a whole number >= 0")
    if not (math.isfinite(args.vol_scale) and args.vol_scale >= 0):
        raise CliError("--vol-scale must be a finite number >= 0")
    if args.loss_threshold_share is not None and not args.loss_threshold_share >= 0:
        raise CliError("--loss-threshold-share must be a number >= 0")
    if args.p95_loss_cap_krw_bn is not None and not args.p95_loss_cap_krw_bn >= 0:
        raise CliError("--p95-loss-cap-krw-bn must be a number >= 0")
    if args.saa_scenarios is not None and not 1 <= args.saa_scenarios <= MAX_SAA_SCENARIOS:
        raise CliError(f"--saa-scenarios must be between 1 and {MAX_SAA_SCENARIOS:,}")
    if args.vol_scale > MAX_VOL_SCALE:
        raise CliError(f"--vol-scale must be at most {MAX_VOL_SCALE:g}")
    if not args.portfolio and (args.p95_loss_cap_krw_bn is not None or args.no_failures):
        raise CliError("--p95-loss-cap-krw-bn and --no-failures need --portfolio")


def run(args) -> int:
    _check(args)
    if args.portfolio:
        return run_portfolio(args)
    from evaluator.uncertainty import simulate

    ref, scenario, loaded = load_inputs(args)
    if not loaded.applications:
        emit(pd.DataFrame(columns=SIMULATE_FIELDS), args.format)
        return status(loaded) or EXIT_INVALID_ROWS
    prog = Progress()
    try:
        sim = simulate(loaded.applications, scenario, ref, n_paths=args.paths, seed=args.seed,
                       vol_scale=args.vol_scale, progress=prog)
    finally:
        prog.close()
    summary = {"paths": sim.n_paths, "seed": sim.seed, "vol_scale": sim.vol_scale,
               "elapsed_s": round(sim.elapsed_s, 3)}
    emit(sim.summary.reset_index()[SIMULATE_FIELDS], args.format,
         summary=summary if args.format == "json" else None)
    return status(loaded)


def run_portfolio(args) -> int:
    """``--portfolio``: allocate, simulate the funded set jointly, print records and ``portfolio``."""
    from evaluator import pipeline
    from evaluator.uncertainty import DEFAULT_LOSS_THRESHOLD_SHARE, PortfolioInputError, portfolio_risk_of_result

    apps, scenario, ref, result, code = run_pipeline(args, allocate=True)
    if result is None:
        emit(pd.DataFrame(columns=PORTFOLIO_PROJECT_FIELDS), args.format)
        return code
    prog = Progress("portfolio")
    try:
        risk = portfolio_risk_of_result(
            result, apps, scenario, ref, supply_ref=pipeline.supply_reference(ref, getattr(args, "customs", None)),
            n_paths=args.paths, seed=args.seed, vol_scale=args.vol_scale, failures=not args.no_failures,
            loss_threshold_share=(DEFAULT_LOSS_THRESHOLD_SHARE if args.loss_threshold_share is None
                                  else args.loss_threshold_share), progress=prog)
    except PortfolioInputError as exc:
        raise CliError(f"portfolio: {exc}") from None
    finally:
        prog.close()
    names = {a.id: a.name for a in apps}
    table = risk.projects.reset_index()
    table.insert(1, "name", table["id"].map(names))
    table = table[PORTFOLIO_PROJECT_FIELDS]
    extra = {"portfolio": risk.as_record()}
    if args.p95_loss_cap_krw_bn is not None:
        extra["saa"] = saa_record(result, apps, scenario, ref, args)
    if args.format == "json":
        records = [{k: json_value(v) for k, v in r.items()} for r in table.to_dict("records")]
        obj = {"applications": records, **json_value(extra), "summary": json_value(result.summary.as_record())}
        sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    else:
        emit(table, args.format, summary=extra)
    return code


def saa_record(result, apps, scenario, ref, args) -> dict:
    """The ``saa`` object: the allocation under the P95 loss cap beside the deterministic one."""
    from evaluator import pipeline
    from evaluator.allocation import AllocationError
    from evaluator.cli.common import quiet_stdout
    from evaluator.uncertainty import DEFAULT_SAA_SCENARIOS, SaaError, allocate_with_loss_cap

    try:
        with quiet_stdout():  # HiGHS may print stray lines
            s = allocate_with_loss_cap(result, apps, scenario, ref, p95_cap_krw_bn=args.p95_loss_cap_krw_bn,
                                       supply_ref=pipeline.supply_reference(ref, getattr(args, "customs", None)),
                                       n_scenarios=args.saa_scenarios or DEFAULT_SAA_SCENARIOS, seed=args.seed,
                                       n_validation_paths=args.paths, time_limit_s=args.time_limit_s)
    except (AllocationError, SaaError) as exc:
        raise CliError(f"allocation under the P95 loss cap: {exc}") from None
    return {"p95_cap_krw_bn": s.p95_cap_krw_bn, "n_scenarios": s.n_scenarios, "iterations": s.iterations,
            "figures": {k: dict(v) for k, v in s.figures.iterrows()},
            "allocation": {str(k): dict(v) for k, v in s.comparison.iterrows()}}
