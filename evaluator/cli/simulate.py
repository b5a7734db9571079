"""``python -m evaluator simulate FILE [--paths N] [--seed S] [--scenario F] [--format table|json|csv]``.

Monte Carlo of every valid application (see :mod:`evaluator.uncertainty`): one record per
application with the NPV distribution, loss and loan-cover probabilities. Runs longer than a
second print a progress line on stderr.
"""

from __future__ import annotations

import pandas as pd

from evaluator.cli.common import EXIT_INVALID_ROWS, CliError, Progress, add_common, emit, load_inputs, status

SIMULATE_FIELDS = [
    "id", "name", "mineral", "stage", "npv_usd_m", "npv_mean_usd_m", "npv_p10_usd_m", "npv_p50_usd_m",
    "npv_p90_usd_m", "prob_npv_negative", "prob_min_dscr_below_1", "prob_min_dscr_below_comfort",
    "expected_loss_sim_krw_bn", "irr_p10", "irr_p50", "irr_p90", "risk_adjusted_npv_usd_m",
]


def add_arguments(p) -> None:
    add_common(p)
    p.add_argument("--paths", type=int, default=10_000, help="number of simulated paths (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--vol-scale", type=float, default=1.0, help="scale on every uncertainty (0 = deterministic)")


def run(args) -> int:
    from evaluator.uncertainty import simulate

    if args.paths < 1:
        raise CliError("--paths must be >= 1")
    if not args.vol_scale >= 0:
        raise CliError("--vol-scale must be a number >= 0")
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
