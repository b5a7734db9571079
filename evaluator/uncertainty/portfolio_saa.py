"""An allocation under a cap on the loan book's tail loss, by sample-average approximation.

The deterministic allocation (:func:`evaluator.portfolio.allocate_portfolio`) maximises the
scenario's objective (default: score-weighted support) within the budgets, caps and locks.
:func:`allocate_with_loss_cap` keeps that model exactly (the same candidates, objective,
diversification terms, caps and locks, from :func:`evaluator.portfolio.build_candidates` and
:func:`evaluator.portfolio.solver_kwargs`) and adds one requirement: on ``n_scenarios``
simulated paths of the candidates (:func:`.portfolio_paths.simulate_portfolio_paths`, every
candidate at its full request) the mean of the worst 5 % of the book's loss, the CVaR95, is at
most ``p95_cap_krw_bn``.

Why the CVaR: the 95th percentile of the loss (VaR95) under a cap is a chance constraint (one
binary per scenario); the CVaR95 is its smallest convex upper bound (Rockafellar and Uryasev
2000 [1]_), so ``CVaR95 <= cap`` implies ``P95 <= cap`` on the scenarios (conservative) and
keeps the model linear. With the losses ``L_s . x`` (``x`` the funded fractions; a candidate's
loss on a path scales with its funded share of the loan, assumption: the default event is taken
at the full request, whose DSCR is the lowest, so this is conservative), the CVaR95 is the
maximum over all sets ``S`` of ``k = ceil(0.05 n)`` scenarios of ``(1/k) sum_{s in S} L_s . x``.
Each set is one linear constraint on ``x``; they are added as cuts (Kelley's cutting-plane
method): solve, find the worst ``k`` scenarios of the solution, add their constraint when it is
violated, solve again. Finitely many sets, so it ends; in practice after a few solves.

The result stands beside the deterministic allocation, and both are re-simulated on fresh paths
(another seed, ``n_validation_paths``) so the tail figures compared are out of sample.

References
----------
.. [1] Rockafellar, R. T., Uryasev, S. (2000). "Optimization of conditional value-at-risk."
   *Journal of Risk* 2(3): 21-41.
.. [2] Kleywegt, A. J., Shapiro, A., Homem-de-Mello, T. (2002). "The sample average
   approximation method for stochastic discrete optimization." *SIAM J. Optimization* 12(2):
   479-502.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator import allocation as alloc
from evaluator import portfolio, supply
from evaluator.errors import SolverError
from evaluator.uncertainty.portfolio_paths import simulate_portfolio_paths
from evaluator.uncertainty.portfolio_risk import PortfolioRisk, portfolio_risk

#: Scenarios of the sample-average approximation (the issue asks that the number be stated).
DEFAULT_SAA_SCENARIOS = 2000
#: Tail share of the CVaR that caps the 95th percentile [fraction].
TAIL_SHARE = 0.05


class SaaError(SolverError):
    """The cutting-plane loop did not meet the cap within its iterations."""


@dataclass(frozen=True)
class SaaAllocation:
    """Outcome of :func:`allocate_with_loss_cap`.

    Attributes
    ----------
    p95_cap_krw_bn : float
    n_scenarios, seed, iterations : int
    comparison : pandas.DataFrame
        Index ``id`` (candidates funded by either allocation): ``fund_krw_bn_deterministic``,
        ``loan_krw_bn_deterministic``, ``fund_krw_bn_saa``, ``loan_krw_bn_saa``.
    figures : pandas.DataFrame
        Index ``deterministic``, ``saa``: ``objective``, ``fund_krw_bn``, ``loan_krw_bn``,
        ``cvar95_in_sample_krw_bn``, and out of sample ``loan_loss_expected_krw_bn``,
        ``loan_loss_p95_krw_bn``, ``loan_loss_p99_krw_bn``, ``fund_npv_p10_krw_bn``,
        ``prob_fund_loss``, ``prob_target_met_<mineral>`` (target year).
    result : evaluator.allocation.AllocationResult
        The SAA allocation.
    risk_deterministic, risk_saa : PortfolioRisk
        The out-of-sample simulations.
    """

    p95_cap_krw_bn: float
    n_scenarios: int
    seed: int
    iterations: int
    comparison: pd.DataFrame = field(repr=False)
    figures: pd.DataFrame = field(repr=False)
    result: alloc.AllocationResult = field(repr=False)
    risk_deterministic: PortfolioRisk = field(repr=False)
    risk_saa: PortfolioRisk = field(repr=False)


def cvar(losses: np.ndarray, share: float = TAIL_SHARE) -> tuple[float, np.ndarray]:
    """Mean of the worst ``ceil(share n)`` losses and their scenario indices."""
    k = max(1, int(math.ceil(share * len(losses) - 1e-9)))
    worst = np.argsort(-losses, kind="stable")[:k]
    return float(losses[worst].mean()), worst


def scenario_losses(apps: Sequence, cand: pd.DataFrame, scenario, ref, n_scenarios: int, seed: int) -> np.ndarray:
    """``(len(cand), n_scenarios)`` loss of each candidate funded at its full request [KRW bn]."""
    by_id = {a.id: a for a in apps}
    ids = [i for i in cand.index if cand.loc[i, "loan_krw_bn"] > 0]
    out = np.zeros((len(cand), n_scenarios))
    if not ids:
        return out
    pp = simulate_portfolio_paths([by_id[i] for i in ids], scenario, ref,
                                  fund_krw_bn={i: float(cand.loc[i, "fund_krw_bn"]) for i in ids},
                                  loan_krw_bn={i: float(cand.loc[i, "loan_krw_bn"]) for i in ids},
                                  n_paths=n_scenarios, seed=seed)
    pos = {i: k for k, i in enumerate(cand.index)}
    for r, i in enumerate(pp.ids):
        out[pos[i]] = pp.loss_krw_bn[r]
    return out


def _cutting_planes(cand, budgets, kw, L, cap, max_iter, time_limit_s):
    cuts: list = []
    for it in range(1, max_iter + 1):
        extra = list(kw.get("extra_constraints", ())) + cuts
        res = alloc.allocate(cand, budgets, time_limit_s=time_limit_s, **{**kw, "extra_constraints": extra})
        x = res.fractions.reindex(cand.index).fillna(0.0).to_numpy()
        c, worst = cvar(L.T @ x)
        if c <= cap + 1e-9 * max(1.0, cap):
            return res, it, c
        coef = L[:, worst].mean(axis=1)
        cuts.append(alloc.LinearConstraintSpec(f"loan book CVaR95 cut {it}", dict(zip(cand.index, coef)), upper=cap))
    raise SaaError(f"CVaR95 of the loan book still above the cap {cap:g} KRW bn after {max_iter} solves")


def allocate_with_loss_cap(result, apps: Sequence, scenario, ref, *, p95_cap_krw_bn: float, supply_ref=None,
                           n_scenarios: int = DEFAULT_SAA_SCENARIOS, seed: int = 0,
                           n_validation_paths: int = 10_000, max_iter: int = 50,
                           time_limit_s: float = 10.0) -> SaaAllocation:
    """The scenario's allocation with the loan book's P95 loss capped (module notes).

    Parameters
    ----------
    result : evaluator.pipeline.PipelineResult
        A run with an allocation (its scores, evaluation and locks are reused).
    apps : sequence of Application
    scenario : Scenario
    ref : evaluator.reference.ReferenceData
    p95_cap_krw_bn : float
        Cap on the 95th-percentile loss of the loan book [KRW bn] (enforced through the CVaR95).
    supply_ref : ReferenceData, optional
        The pipeline's supply reference (customs applied); default ``ref``.
    n_scenarios : int
        Scenarios of the SAA (default :data:`DEFAULT_SAA_SCENARIOS`).
    seed : int
        Seed of the SAA scenarios; the validation uses ``seed + 1``.
    n_validation_paths : int
        Paths of the out-of-sample comparison.
    max_iter, time_limit_s
        Cutting-plane solves at most; HiGHS time limit per solve [s].

    Returns
    -------
    SaaAllocation

    Raises
    ------
    evaluator.allocation.AllocationInfeasible
        No allocation meets the cap with the locks (e.g. a locked-in loan alone exceeds it).
    SaaError
        The cap is not met within ``max_iter`` solves.
    """
    if result.allocation is None:
        raise ValueError("the pipeline result has no allocation: run it with allocate=True")
    if not p95_cap_krw_bn >= 0:
        raise ValueError("p95_cap_krw_bn must be a number >= 0")
    sref = supply_ref or ref
    cand, _ = portfolio.build_candidates(result.evaluation, result.scores.table, scenario, sref)
    locks = result.allocation.options
    kw = portfolio.solver_kwargs(cand, scenario, sref, locks.get("locked_in", ()), locks.get("locked_out", ()))
    L = scenario_losses(apps, cand, scenario, ref, n_scenarios, seed)
    res, iterations, c_saa = _cutting_planes(cand, portfolio.budgets_of(scenario), kw, L, float(p95_cap_krw_bn),
                                             max_iter, time_limit_s)
    det = result.allocation.table
    sel = det["selected"].astype(bool)
    det_fund, det_loan = det["fund_krw_bn"].where(sel, 0.0), det["loan_krw_bn"].where(sel, 0.0)
    saa_fund = res.amounts["fund_krw_bn"].where(res.selected, 0.0).reindex(det.index).fillna(0.0)
    saa_loan = res.amounts["loan_krw_bn"].where(res.selected, 0.0).reindex(det.index).fillna(0.0)
    det_x = result.allocation.result.fractions.reindex(cand.index).fillna(0.0).to_numpy()
    from evaluator.portfolio import funded_shares

    shares = {"deterministic": funded_shares(result.allocation),
              "saa": res.fractions.where(res.selected, 0.0).reindex(det.index).fillna(0.0)}
    minerals = sorted(set(cand.loc[[i for i in cand.index if det_fund.get(i, 0) + det_loan.get(i, 0) > 0
                                    or saa_fund.get(i, 0) + saa_loan.get(i, 0) > 0], "mineral"]))
    risks = {}
    for name, f, l_ in (("deterministic", det_fund, det_loan), ("saa", saa_fund, saa_loan)):
        offtake = supply.funded_offtake(supply.offtake_by_year_from_evaluation(result.evaluation), shares[name],
                                        "korea_offtake_t")
        risks[name] = portfolio_risk(apps, scenario, ref, fund_krw_bn=f.to_dict(), loan_krw_bn=l_.to_dict(),
                                     offtake_by_year=offtake, supply_ref=sref, n_paths=n_validation_paths,
                                     seed=seed + 1, also_minerals=minerals)
    comparison = pd.DataFrame({"fund_krw_bn_deterministic": det_fund, "loan_krw_bn_deterministic": det_loan,
                               "fund_krw_bn_saa": saa_fund, "loan_krw_bn_saa": saa_loan})
    comparison = comparison[(comparison > 0).any(axis=1)]
    figures = pd.DataFrame([
        _figures(result.allocation.result.objective, det_fund, det_loan, cvar(L.T @ det_x)[0], risks["deterministic"]),
        _figures(res.objective, saa_fund, saa_loan, c_saa, risks["saa"])], index=["deterministic", "saa"])
    return SaaAllocation(float(p95_cap_krw_bn), int(n_scenarios), int(seed), iterations, comparison, figures, res,
                         risks["deterministic"], risks["saa"])


def _figures(objective, fund, loan, cvar_in, risk: PortfolioRisk) -> dict:
    out = {"objective": float(objective), "fund_krw_bn": float(fund.sum()), "loan_krw_bn": float(loan.sum()),
           "cvar95_in_sample_krw_bn": float(cvar_in),
           "loan_loss_expected_krw_bn": risk.loan_loss_expected_krw_bn,
           "loan_loss_p95_krw_bn": risk.loan_loss_p95_krw_bn, "loan_loss_p99_krw_bn": risk.loan_loss_p99_krw_bn,
           "fund_npv_p10_krw_bn": risk.fund_npv_p10_krw_bn, "prob_fund_loss": risk.prob_fund_loss}
    t = risk.target
    for r in t[t["is_target_year"]].itertuples(index=False):
        out[f"prob_target_met_{r.mineral}"] = float(r.prob_target_met)
    return out
