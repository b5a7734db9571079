"""What one simulation run carries between its steps, and the policy-loan rules it applies
(the schedule and the DSCR scope of :mod:`evaluator.evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from models.application import Application
from models.scenario import Scenario

from evaluator import cashflow, finance
from evaluator.evaluate import policy_loan_schedule
from evaluator.uncertainty.processes import PriceProcesses, StageRisk


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


def first_default_cols(cfads, ds, principal, fp):
    """Per row, the first column in the scope of :func:`min_dscr_rows` whose DSCR is below 1
    (the year a shortfall against debt service first occurs); -1 where none."""
    in_scope = finance.dscr_in_scope(ds, principal, fp)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = in_scope & (cfads / np.where(in_scope, ds, 1.0) < 1.0)
    return np.where(below.any(axis=-1), below.argmax(axis=-1), -1)



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
    default_col: np.ndarray | None = None  # (n, paths) first column with DSCR < 1 (-1: none), when asked
    other_debt: object = None  # evaluate.other_debt schedule [USD m], zero rows where not in the DSCR's scope


