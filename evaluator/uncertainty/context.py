"""What one simulation run carries between its steps, and the policy-loan rules it applies
(the schedule and the DSCR scope of :mod:`evaluator.evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from evaluator import cashflow, credit, finance
from evaluator.evaluate import policy_loan_schedule
from evaluator.uncertainty.processes import PriceProcesses, StageRisk
from models.application import Application
from models.scenario import Scenario


# ----------------------------------------------------------------------------------------------
# loans and DSCR (the rules of evaluator.evaluate)
# ----------------------------------------------------------------------------------------------
def policy_loans(apps: Sequence[Application], scenario: Scenario, n_periods: int):
    """The policy loan schedule per project in USD m (:func:`evaluator.evaluate.policy_loan_schedule`)."""
    return policy_loan_schedule(apps, scenario, n_periods)


def min_dscr_rows(cfads, ds, principal, fp):
    """Minimum DSCR per row under evaluate's scope rule: years with debt service once
    production has started, or that repay principal earlier. NaN where no year is in scope.

    ``cfads``, ``ds`` (..., T); ``principal`` broadcastable; ``fp`` (...) first production index.
    """
    in_scope = finance.dscr_in_scope(ds, principal, fp)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(in_scope, cfads / np.where(in_scope, ds, 1.0), np.inf)
    m = ratio.min(axis=-1)
    return np.where(np.isinf(m) & ~in_scope.any(axis=-1), np.nan, m)


def credit_default_cols(ctx, rows, cfads, ds, principal, fp, fx_ratio):
    """Per (project ``rows``, path), the year of default of the credit model
    (:func:`evaluator.credit.default_test`), -1 where none. ``cfads``, ``ds`` ``(m, B, T)`` [USD m,
    debt service at each path's FX]; ``fx_ratio`` ``(B, T)`` = ``fx_0 / fx_t``: the test runs in the
    loan's currency at the scenario's rate (flows divided by ``fx_ratio``), as the fast kernel's,
    with the reserve on the scheduled debt service in scope at that rate."""
    in_scope = finance.dscr_in_scope(ds, principal, fp)
    sched_ds = ctx.sched.debt_service_usd_m[rows]
    if ctx.other_debt is not None:
        sched_ds = sched_ds + ctx.other_debt.debt_service_usd_m[rows]
    # the reserve is sized on the schedule at the scenario's rate, in the scope of each path
    scoped = np.where(in_scope, sched_ds[:, None, :], 0.0)
    reserve = credit.reserve_usd_m(scoped, ctx.scenario.dsra_months)
    _, first = credit.default_test(cfads / fx_ratio, ds / fx_ratio, in_scope, reserve,
                                   ctx.scenario.policy_loan_rate)
    return first


# ----------------------------------------------------------------------------------------------
# fast evaluation (linear coefficients of the deterministic model)
# ----------------------------------------------------------------------------------------------
@dataclass
class SimContext:
    apps: tuple
    scenario: Scenario
    inputs: cashflow.ProjectInputs
    proc: PriceProcesses
    stages: list
    risks: Mapping[str, StageRisk]
    v_proj: float
    vol_scale: float
    deck: str
    T: int
    max_delay: int
    dfac: np.ndarray
    sched: object
    has_loan: np.ndarray
    fx_i: int
    prim_proc: np.ndarray
    by_proc: np.ndarray
    prim_coef: np.ndarray
    npv: np.ndarray
    min_dscr: np.ndarray
    irr: np.ndarray
    irr_n: int
    progress: Callable[[float], None] | None
    used: np.ndarray          # process indices drawn (the products of these projects and FX)
    antithetic: bool
    lanes: int | None = None   # threads sharing the batches (None: as many as the process may use, at most 2)
    delay: np.ndarray | None = None        # (n, paths) drawn extra construction years, when asked
    default_col: np.ndarray | None = None  # (n, paths) year of default of the credit model (-1: none)
    other_debt: object = None  # evaluate.other_debt schedule [USD m], zero rows where not in the DSCR's scope
    levy_weight: np.ndarray | None = None  # (n, T) special levy per USD m of profit after tax [KRW bn], when asked
    levy: np.ndarray | None = None         # (n, paths) the special levy if the project succeeds [KRW bn, PV]


def levy_of_rows(weight: np.ndarray, net_income_usd_m: np.ndarray) -> np.ndarray:
    """The special levy [KRW bn] of profit-after-tax rows ``(..., T')`` under their projects'
    weights ``(..., T)`` (:func:`evaluator.special_loan.levy_weights`): ``sum_t w_t x max(NI_t, 0)``
    over the columns both have (the weights are 0 outside the levy's window)."""
    k = min(weight.shape[-1], net_income_usd_m.shape[-1])
    return (weight[..., :k] * np.maximum(net_income_usd_m[..., :k], 0.0)).sum(axis=-1)


