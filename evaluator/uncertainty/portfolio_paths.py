"""Joint simulation of a funded portfolio: per project and path, the policy-loan loss and its
year, the exploration outcome, the drawn delay and the fund's NPV.

One call of :func:`evaluator.uncertainty.simulate_paths` evaluates every funded project on the
same paths: every project of a mineral sees the same price path, the minerals' paths are
correlated as the scenario's processes say (``price_processes.csv``), every project sees the
same KRW/USD path, and each project draws its own capex, opex, recovery and delay risks. On top
of these, each exploration-stage project draws its own success or failure (independent of
prices and of the other projects).

Loan loss on a path (KRW bn, at the loan's face value)
------------------------------------------------------
* Exploration failure (probability ``1 - success_probability``): ``loan x`` the failure loss share
  of :func:`evaluator.special_loan.failure_loss_share` (the write-off, 90 % under the 2026 terms,
  only for a mineral the Decree / Rule lists, with the rest at the borrower's default risk),
  recognised in model year ``max(1, construction_years)`` (assumption: the exploration result
  is known when production would have been decided, before any repayment).
* Otherwise, a default of the one credit model (:mod:`evaluator.credit`): a shortfall of the
  path's cash flow available for debt service against the loan's scheduled debt service in the
  DSCR's scope, after the debt-service reserve (scenario ``dsra_months``) and the cash the
  project retained, that the path's remaining cash flow cannot repay (LLCR below 1 at that
  point); or a default of the baseline hazard (causes the cash flows do not model,
  :func:`evaluator.credit.baseline_annual_hazard`). Loss ``loan x lgd`` (``scenario.lgd``,
  exposure at default = the face value, as the static model), recognised in the year of default.
* Otherwise 0.

Special levy on a path (KRW bn, PV at the social discount rate)
--------------------------------------------------------------
A success-contingent loan (:func:`evaluator.special_loan.success_contingent`: an exploration
loan for a listed mineral) whose project succeeds and does not default pays the special levy:
``success_levy_share`` of the borrower's share of the path's profit after tax, in the
``success_levy_years`` after the loan is repaid (:func:`evaluator.special_loan.levy_weights`, the
records' ``loan_levy_if_success_krw_bn`` on the path's cash flows), times the allocated share of
the loan asked (as the allocation's ``loan_expected_levy_krw_bn``). On a path where exploration
fails or the loan defaults the levy is 0 (the levy is paid once the loan is repaid). The
government's net cost on a path is ``loss - levy``; its mean is the simulated counterpart of
the records' ``loan_expected_net_cost_krw_bn``.

So the expected loss of a later-stage project is ``loan x P(default) x LGD``, as the static
``loan x PD x LGD`` (:func:`evaluator.country_risk.loan_expected_loss`) with the simulated PD; an
exploration project's is ``loan x [(1 - p) x write_off_share + p x P(default | success) x LGD]``
(the static figure keeps only the first term).

The loan simulated is the *allocated* loan (its debt service sets the DSCR), not the request.

The fund's share of a project (definition)
------------------------------------------
The fund's KRW investment buys a pro-rata share of the project's capital:
``share = min(1, fund_usd_m / total_project_cost_usd_m)`` with ``fund_usd_m`` the allocated
``fund_krw_bn`` at the scenario's KRW/USD rate. The fund's NPV from the project on a path is
``share x project NPV`` [KRW bn at the scenario rate]: the project NPV (unlevered, after tax,
at the project's discount rate) already deducts the whole capital cost, the fund's part
included, so this is the fund's value created net of what it pays (assumption: pari-passu
equity, no preference, no dilution). On a path where an exploration project fails the fund
loses what it put in: ``-fund_krw_bn`` (taken at the valuation date).

Reproducibility
---------------
The price and project draws are those of :func:`simulate_paths` (``seed``); the exploration
outcomes come from their own stream, ``SeedSequence(seed, spawn_key=(FAILURE_STREAM,))``, so
switching them off changes no other draw.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from evaluator import special_loan
from evaluator.errors import InputError
from evaluator.evaluate import krw_bn_to_usd_m, usd_m_to_krw_bn
from evaluator.uncertainty.simulation import simulate_paths

#: Spawn key of the exploration-outcome stream (far above the block streams' keys 0, 1, ...).
FAILURE_STREAM = 0x19_0000


class PortfolioInputError(InputError):
    """A funded amount that cannot be simulated (names the application and the field)."""


@dataclass(frozen=True)
class PortfolioPaths:
    """Per (funded project, path) outcomes of :func:`simulate_portfolio_paths`.

    Attributes
    ----------
    ids : tuple of str
        The funded projects, in the order of the rows.
    minerals, countries : tuple of str
    n_paths, seed : int
    first_year : int
        Calendar year of model year 1 (column ``t`` is calendar year ``first_year - 1 + t``).
    n_columns : int
        Model-year columns of the loss years (0 .. ``n_columns - 1``).
    loan_krw_bn, fund_krw_bn, fund_share : numpy.ndarray
        ``(n,)`` allocated loan and fund [KRW bn], fund's share of the project [fraction].
    loss_krw_bn : numpy.ndarray
        ``(n, n_paths)`` loan loss [KRW bn].
    loss_column : numpy.ndarray
        ``(n, n_paths)`` model-year column of the loss (-1: no loss).
    failed : numpy.ndarray
        ``(n, n_paths)`` bool, exploration failed.
    defaulted : numpy.ndarray
        ``(n, n_paths)`` bool, the loan defaults (:mod:`evaluator.credit`) on a path without failure.
    delay_years : numpy.ndarray
        ``(n, n_paths)`` drawn extra construction years.
    npv_usd_m : numpy.ndarray
        ``(n, n_paths)`` project NPV [USD m] (the project as if it succeeded).
    fund_npv_krw_bn : numpy.ndarray
        ``(n, n_paths)`` the fund's NPV from each project [KRW bn] (module notes).
    deterministic_npv_usd_m : numpy.ndarray
        ``(n,)`` point NPV of the same model (no draw) [USD m].
    min_dscr : numpy.ndarray
        ``(n, n_paths)`` simulated minimum DSCR (NaN: no year in scope).
    levy_krw_bn : numpy.ndarray
        ``(n, n_paths)`` special levy paid [KRW bn, PV] (module notes; 0 where none).
    """

    ids: tuple[str, ...]
    minerals: tuple[str, ...]
    countries: tuple[str, ...]
    n_paths: int
    seed: int
    first_year: int
    n_columns: int
    loan_krw_bn: np.ndarray = field(repr=False)
    fund_krw_bn: np.ndarray = field(repr=False)
    fund_share: np.ndarray = field(repr=False)
    loss_krw_bn: np.ndarray = field(repr=False)
    loss_column: np.ndarray = field(repr=False)
    failed: np.ndarray = field(repr=False)
    defaulted: np.ndarray = field(repr=False)
    delay_years: np.ndarray = field(repr=False)
    npv_usd_m: np.ndarray = field(repr=False)
    fund_npv_krw_bn: np.ndarray = field(repr=False)
    deterministic_npv_usd_m: np.ndarray = field(repr=False)
    min_dscr: np.ndarray = field(repr=False)
    levy_krw_bn: np.ndarray | None = field(repr=False, default=None)

    @property
    def net_cost_krw_bn(self) -> np.ndarray:
        """``(n, n_paths)`` the government's net cost of each loan: loss less levy [KRW bn]."""
        return self.loss_krw_bn - (0.0 if self.levy_krw_bn is None else self.levy_krw_bn)


def funded_applications(apps: Sequence, fund_krw_bn: Mapping[str, float], loan_krw_bn: Mapping[str, float]):
    """The applications with a positive allocation, each carrying its *allocated* loan as
    ``loan_request_krw_bn`` (so the simulated debt service is the one granted); and the
    allocated fund and loan arrays [KRW bn]."""
    out, fund, loan = [], [], []
    for a in apps:
        f, l_ = float(fund_krw_bn.get(a.id, 0.0)), float(loan_krw_bn.get(a.id, 0.0))
        for name, v in (("fund_krw_bn", f), ("loan_krw_bn", l_)):
            if not np.isfinite(v) or v < 0:
                raise PortfolioInputError(f"application {a.id}, field {name}: must be a number >= 0, got {v!r}")
        if f <= 0 and l_ <= 0:
            continue
        out.append(dataclasses.replace(a, loan_request_krw_bn=l_))
        fund.append(f)
        loan.append(l_)
    return tuple(out), np.array(fund, dtype=float), np.array(loan, dtype=float)


def failure_probabilities(apps: Sequence) -> np.ndarray:
    """Probability that each project's exploration fails [fraction]: ``1 - success_probability``
    for an exploration-stage application that states one, else 0."""
    return np.array([1.0 - a.success_probability if a.stage == "exploration" and a.success_probability is not None
                     else 0.0 for a in apps], dtype=float)


def draw_failures(p_fail: np.ndarray, n_paths: int, seed: int) -> np.ndarray:
    """Bool ``(n, n_paths)``: exploration failed, from the stream of :data:`FAILURE_STREAM`."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(FAILURE_STREAM,))))
    return rng.random((len(p_fail), n_paths)) < p_fail[:, None]


def simulate_portfolio_paths(apps: Sequence, scenario, ref, *, fund_krw_bn: Mapping[str, float],
                             loan_krw_bn: Mapping[str, float], n_paths: int = 10_000, seed: int = 0,
                             vol_scale: float = 1.0, failures: bool = True, project_risk: bool = True,
                             processes=None, method: str = "fast", lanes: int | None = None,
                             progress: Callable[[float], None] | None = None) -> PortfolioPaths:
    """Joint simulation of the funded projects (module notes).

    Parameters
    ----------
    apps : sequence of Application
        The applications (those with no allocation are left out).
    scenario : Scenario
        Processes' deck, rates, FX, ``write_off_share``, ``lgd``.
    ref : evaluator.reference.ReferenceData
    fund_krw_bn, loan_krw_bn : mapping of str to float
        Allocated fund investment and policy loan per application id [KRW bn].
    n_paths, seed, vol_scale, project_risk, processes, method, lanes, progress
        As :func:`evaluator.uncertainty.simulate`.
    failures : bool
        Draw exploration failures (False: every exploration succeeds).

    Returns
    -------
    PortfolioPaths

    Raises
    ------
    PortfolioInputError
        A negative or non-numeric allocation, or nothing funded.
    """
    funded, fund, loan = funded_applications(apps, fund_krw_bn, loan_krw_bn)
    if not funded:
        raise PortfolioInputError("no application has a fund or loan allocation: nothing to simulate")
    contingent = special_loan.success_contingent(ref, [a.stage for a in funded], [a.mineral for a in funded]) \
        & (loan > 0)
    paths = simulate_paths(funded, scenario, ref, n_paths=n_paths, seed=seed, vol_scale=vol_scale,
                           project_risk=project_risk, irr_paths=0, processes=processes, method=method, lanes=lanes,
                           progress=progress, path_details=True, levy_rows=contingent)
    n = len(funded)
    p_fail = failure_probabilities(funded) if failures else np.zeros(n)
    failed = draw_failures(p_fail, n_paths, seed)
    defaulted = ~failed & paths.defaulted
    fail_col = np.maximum(1, np.array([a.construction_years for a in funded], dtype=int))
    # a failed exploration loan: waived up to the write-off share only for the minerals the Decree
    # and the Rule list, the rest at the borrower's own default risk (special_loan.failure_loss_share)
    fail_share = special_loan.failure_loss_share(ref, scenario, [a.mineral for a in funded],
                                                 [a.loan_tenor_years for a in funded])
    loss = np.where(failed, (loan * fail_share)[:, None],
                    np.where(defaulted, (loan * scenario.lgd)[:, None], 0.0))
    loss_col = np.where(failed, fail_col[:, None], np.where(defaulted, paths.default_year_index, -1)).astype(np.int32)
    loss_col[loss <= 0] = -1
    # the levy on the allocated share of the loan asked (as the allocation's expected levy)
    asked = {a.id: a.loan_request_krw_bn for a in apps}
    req = np.array([asked.get(a.id, 0.0) for a in funded], dtype=float)
    loan_frac = np.where(req > 0, loan / np.where(req > 0, req, 1.0), 0.0)
    levy = np.where(failed | defaulted, 0.0, paths.levy_krw_bn * loan_frac[:, None])
    cost = np.array([a.total_project_cost_usd_m for a in funded], dtype=float)
    share = np.minimum(1.0, krw_bn_to_usd_m(fund, scenario.fx_krw_per_usd) / np.where(cost > 0, cost, np.inf))
    fund_npv = np.where(failed, -fund[:, None],
                        usd_m_to_krw_bn(share[:, None] * paths.npv_usd_m, scenario.fx_krw_per_usd))
    n_cols = int(max(loss_col.max(initial=0), fail_col.max(initial=0))) + 1
    return PortfolioPaths(
        ids=tuple(a.id for a in funded), minerals=tuple(a.mineral for a in funded),
        countries=tuple(a.country_iso3 for a in funded), n_paths=int(n_paths), seed=int(seed),
        first_year=int(scenario.first_year), n_columns=n_cols, loan_krw_bn=loan, fund_krw_bn=fund, fund_share=share,
        loss_krw_bn=loss, loss_column=loss_col, failed=failed, defaulted=defaulted,
        delay_years=paths.delay_years, npv_usd_m=paths.npv_usd_m, fund_npv_krw_bn=fund_npv,
        deterministic_npv_usd_m=paths.deterministic_npv_usd_m, min_dscr=paths.min_dscr, levy_krw_bn=levy)
