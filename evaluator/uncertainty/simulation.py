"""The public Monte Carlo entry: :func:`simulate` and its result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from evaluator import cashflow, credit, finance, special_loan
from evaluator.evaluate import discount_rates, other_debt
from evaluator.uncertainty.context import SimContext, policy_loans
from evaluator.uncertainty.kernel import run_fast
from evaluator.uncertainty.processes import (
    FX_PROCESS,
    PROJECT_RISKS,
    PriceProcesses,
    StageRisk,
    load_price_processes,
    max_delay_years,
)
from evaluator.uncertainty.reference_path import run_reference
from evaluator.uncertainty.statistics import SimulationResult, summarise
from models.application import Application
from models.scenario import Scenario

#: Default paths per draw block (fixed so that results do not depend on the memory budget).
DEFAULT_CHUNK_PATHS = 1000
#: Default working-memory budget of one model call [bytes].
DEFAULT_MEMORY_BUDGET_BYTES = 512 * 2**20
#: Paths per project on which IRR percentiles are computed (an IRR costs ~40 us a row).
DEFAULT_IRR_PATHS = 250

# ----------------------------------------------------------------------------------------------
# simulation
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PathResults:
    """Per-path results of :func:`simulate_paths` (float64, one row per application).

    Attributes
    ----------
    ids : tuple of str
    n_paths, seed, chunk_paths : int
    npv_usd_m : numpy.ndarray
        ``(n, n_paths)`` simulated NPV [USD m].
    min_dscr : numpy.ndarray
        ``(n, n_paths)`` minimum DSCR over the loan years [x] (NaN where no year is in scope).
    irr : numpy.ndarray
        ``(n, irr_paths)`` IRR of the first ``irr_paths`` paths [fraction] (NaN: none).
    loan_krw_bn : numpy.ndarray
        Policy loan asked per application [KRW bn].
    deterministic_npv_usd_m : numpy.ndarray
        The point NPV of the same model and rates [USD m].
    delay_years : numpy.ndarray or None
        int8 ``(n, n_paths)``: drawn extra construction years (``path_details=True`` only).
    default_year_index : numpy.ndarray
        int16 ``(n, n_paths)``: model-year column of the loan's default, -1 when none (column
        ``t`` is calendar year ``first_year - 1 + t``): the first of the credit model's year of
        default on the path's cash flows (:func:`evaluator.credit.default_test`) and of the
        baseline-hazard default (:func:`evaluator.credit.baseline_annual_hazard`).
    defaulted : numpy.ndarray
        bool ``(n, n_paths)``: the loan defaults on the path (``default_year_index >= 0``).
    cash_flow_defaulted : numpy.ndarray
        bool ``(n, n_paths)``: of which by the credit model on the path's cash flows.
    levy_krw_bn : numpy.ndarray or None
        ``(n, n_paths)`` the special levy the project would pay if it succeeds [KRW bn, PV at the
        social discount rate] (:func:`evaluator.special_loan.levy_weights` on the path's profit
        after tax); 0 on the rows not in ``levy_rows``; None when no ``levy_rows`` was given.
    evaluated_by : tuple of str
        Per application, ``'fast kernel'`` or ``'reference path (<features>)'`` when the fast
        method fell back to the reference path for features the kernel cannot evaluate
        exactly (:func:`evaluator.cashflow.linear_kernel_view`).
    """

    ids: tuple[str, ...]
    n_paths: int
    seed: int
    chunk_paths: int
    npv_usd_m: np.ndarray = field(repr=False)
    min_dscr: np.ndarray = field(repr=False)
    irr: np.ndarray = field(repr=False)
    loan_krw_bn: np.ndarray = field(repr=False)
    deterministic_npv_usd_m: np.ndarray = field(repr=False)
    delay_years: np.ndarray | None = field(repr=False, default=None)
    default_year_index: np.ndarray | None = field(repr=False, default=None)
    evaluated_by: tuple[str, ...] = ()
    defaulted: np.ndarray | None = field(repr=False, default=None)
    cash_flow_defaulted: np.ndarray | None = field(repr=False, default=None)
    levy_krw_bn: np.ndarray | None = field(repr=False, default=None)


def _check_arguments(n: int, n_paths: int, vol_scale: float, method: str) -> None:
    if n == 0:
        raise ValueError("no applications to simulate")
    if n_paths < 1:
        raise ValueError("n_paths must be >= 1")
    if vol_scale < 0:
        raise ValueError("vol_scale must be >= 0")
    if method not in ("fast", "reference"):
        raise ValueError("method must be 'fast' or 'reference'")


def simulate_paths(apps: Sequence[Application], scenario: Scenario, ref, *, n_paths: int = 10_000, seed: int = 0,
                   chunk_paths: int | None = None, vol_scale: float = 1.0,
                   progress: Callable[[float], None] | None = None, project_risk: bool = True, deck: str = "mean",
                   irr_paths: int = DEFAULT_IRR_PATHS, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
                   processes: PriceProcesses | None = None, risks: Mapping[str, StageRisk] = PROJECT_RISKS,
                   method: str = "fast", antithetic: bool = True, lanes: int | None = None,
                   path_details: bool = False, levy_rows: np.ndarray | None = None) -> PathResults:
    """Every (application, path) NPV, minimum DSCR and IRR, before any statistic.

    Parameters as :func:`simulate`. The arrays are what :func:`simulate` summarises; a portfolio
    sums the rows of its projects path by path (every project sees the same price paths).
    ``path_details``: also return each path's drawn delay (:class:`PathResults`; the draws and
    the other results do not change). Every path's loan default and its year are returned always.
    ``levy_rows`` (bool ``(n,)``, optional): the projects whose special levy on each path is
    returned (``PathResults.levy_krw_bn``; the scenario's ``success_levy_share`` and
    ``success_levy_years``, at the social discount rate, as the records' levy).
    """
    apps = tuple(apps)
    n = len(apps)
    _check_arguments(n, n_paths, vol_scale, method)
    proc = processes or load_price_processes(ref)
    chunk_paths = max(1, min(int(chunk_paths or DEFAULT_CHUNK_PATHS), n_paths))
    inputs = cashflow.resolve_inputs(apps, scenario, ref)
    stages = [a.stage for a in apps]
    v_proj = vol_scale if project_risk else 0.0
    max_delay = max_delay_years(stages, v_proj, risks)
    T = int((inputs.construction_years + inputs.operating_years).max(initial=0)) + max_delay + 2
    T = max(T, 3)  # build's minimum width
    rate, _ = discount_rates(apps, scenario, ref)
    loan_krw, sched = policy_loans(apps, scenario, T)
    fx_i = proc.index(FX_PROCESS)
    # revenue weights of primary product and by-products (per unit of ore, before recovery cap)
    prim_proc = np.array([proc.index(a.mineral) for a in apps], dtype=int)
    by_proc = np.array([proc.index(b.mineral) for a in apps for b in a.by_products], dtype=int)
    irr_n = max(0, min(int(irr_paths), n_paths))
    ctx = SimContext(
        apps=apps, scenario=scenario, inputs=inputs, proc=proc, stages=stages, risks=risks, v_proj=v_proj,
        vol_scale=vol_scale, deck=deck, T=T, max_delay=max_delay,
        dfac=finance.discount_factors(rate, T, **scenario.discounting), sched=sched, has_loan=loan_krw > 0,
        fx_i=fx_i, prim_proc=prim_proc, by_proc=by_proc,
        prim_coef=inputs.grade_fraction * inputs.product_factor * inputs.payability * inputs.price_usd_per_t,
        # filled in order (see kernel._touched)
        npv=np.full((n, n_paths), np.nan), min_dscr=np.full((n, n_paths), np.nan), irr=np.full((n, irr_n), np.nan),
        irr_n=irr_n, progress=progress,
        used=np.unique(np.concatenate([prim_proc, by_proc, [fx_i]]).astype(int)),     # processes drawn
        antithetic=bool(antithetic), lanes=lanes, other_debt=_other_debt_in_scope(apps, T),
        delay=np.zeros((n, n_paths), dtype=np.int8) if path_details else None,
        default_col=np.full((n, n_paths), -1, dtype=np.int16))
    if levy_rows is not None:
        ctx.levy_weight = np.asarray(levy_rows, dtype=bool).reshape(n, 1) * special_loan.levy_weights(
            [a.korean_ownership_share for a in apps], sched.maturity_index, T,
            levy_share=scenario.success_levy_share, levy_years=scenario.success_levy_years,
            rate=scenario.social_discount_rate, fx_krw_per_usd=scenario.fx_krw_per_usd)
        ctx.levy = np.zeros((n, n_paths))
    evaluated_by = _run(ctx, method, n_paths, seed, chunk_paths, memory_budget_bytes)
    cash_col = np.where(ctx.has_loan[:, None], ctx.default_col, -1)
    hazard_col = credit.hazard_default_years(
        np.where(ctx.has_loan, np.minimum(1.0, v_proj * credit.baseline_annual_hazard(ref, [a.country_iso3 for a in apps])),
                 0.0),
        np.array([a.loan_tenor_years for a in apps], dtype=float), hazard_uniforms(n, n_paths, seed))
    both = (cash_col >= 0) & (hazard_col >= 0)
    year = np.where(both, np.minimum(cash_col, hazard_col), np.maximum(cash_col, hazard_col)).astype(np.int16)
    return PathResults(tuple(a.id for a in apps), int(n_paths), int(seed), chunk_paths, ctx.npv, ctx.min_dscr,
                       ctx.irr, loan_krw, deterministic_npv(inputs, scenario, rate), ctx.delay, year,
                       evaluated_by, year >= 0, cash_col >= 0, ctx.levy)


#: Spawn key of the baseline-hazard stream (far above the block streams' keys 0, 1, ...).
HAZARD_STREAM = 0x1A_0000


def hazard_uniforms(n: int, n_paths: int, seed: int) -> np.ndarray:
    """Uniforms on (0, 1] ``(n, n_paths)`` of the baseline-hazard defaults, from their own stream
    ``SeedSequence(seed, spawn_key=(HAZARD_STREAM,))``: switching the hazard off changes no other draw."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(HAZARD_STREAM,))))
    return 1.0 - rng.random((n, n_paths))


def _other_debt_in_scope(apps, T: int):
    """evaluate.other_debt with the rows outside the DSCR's scope zeroed; None when no project
    states other debt in scope."""
    sched, in_scope = other_debt(apps, T)
    if not in_scope.any():
        return None
    keep = in_scope[:, None]
    return dataclasses.replace(sched, debt_service_usd_m=np.where(keep, sched.debt_service_usd_m, 0.0),
                               principal_usd_m=np.where(keep, sched.principal_usd_m, 0.0))


def _run(ctx: SimContext, method: str, n_paths: int, seed: int, chunk_paths: int, memory_budget_bytes: int):
    """Fill ``ctx``'s per-path arrays. The fast method runs the kernel on inputs it evaluates
    exactly (:func:`evaluator.cashflow.linear_kernel_view`) and then the reference path, with the
    same draws, for the projects whose features are not linear (profit-based or sliding
    royalties, limited losses, depletion, tax credits). Returns the method per project."""
    if method == "reference":
        run_reference(ctx, n_paths, seed, chunk_paths, memory_budget_bytes)
        return ("reference path",) * len(ctx.apps)
    view, reasons = cashflow.linear_kernel_view(ctx.inputs)
    if ctx.other_debt is not None:  # the kernel's DSCR scales one debt in KRW by FX; other debt is in USD
        senior = (ctx.other_debt.debt_service_usd_m > 0).any(axis=1) & ctx.has_loan
        reasons = ["; ".join(x for x in (r, "other debt in the DSCR" if s else "") if x) for r, s in zip(reasons, senior)]
    run_fast(dataclasses.replace(ctx, inputs=view), n_paths, seed, chunk_paths, memory_budget_bytes)
    fallback = [i for i, r in enumerate(reasons) if r]
    if fallback:
        run_reference(ctx, n_paths, seed, chunk_paths, memory_budget_bytes, rows=fallback)
    return tuple(f"reference path ({r})" if r else "fast kernel" for r in reasons)


def simulate(apps: Sequence[Application], scenario: Scenario, ref, *, n_paths: int = 10_000, seed: int = 0,
             chunk_paths: int | None = None, vol_scale: float = 1.0, progress: Callable[[float], None] | None = None,
             project_risk: bool = True, deck: str = "mean", irr_paths: int = DEFAULT_IRR_PATHS,
             keep_paths: int | None = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
             risk_aversion: float = 0.5, processes: PriceProcesses | None = None,
             risks: Mapping[str, StageRisk] = PROJECT_RISKS, method: str = "fast",
             antithetic: bool = True, lanes: int | None = None) -> SimulationResult:
    """Monte Carlo of every application's NPV and loan cover under price and project risks.

    Parameters
    ----------
    apps : sequence of Application
    scenario : Scenario
        Price deck (the processes revert to it), discount rates, FX, loan terms, LGD.
    ref : evaluator.reference.ReferenceData
    n_paths : int
        Number of paths [-].
    seed : int
        Seed of ``numpy.random.SeedSequence``; each block of paths gets a PCG64 child stream.
    chunk_paths : int, optional
        Paths per block (default 1,000). Memory per model call is bounded by
        ``memory_budget_bytes`` by also splitting the projects.
    vol_scale : float
        Scale on every source of uncertainty (module notes); 0 = the deterministic model.
    progress : callable, optional
        Called with the fraction done [0-1] after each model call (fast method: each batch of
        projects), always from the calling thread.
    project_risk : bool
        Draw capex / delay / opex / recovery risks (False: prices and FX only).
    deck : {'mean', 'median'}
        Whether the deck is the expected or the median price of each year.
    irr_paths : int
        Paths per project whose IRR is solved for the IRR percentiles (0 = none).
    keep_paths : int, optional
        Keep the NPV of only this many paths (evenly spaced); default all.
    memory_budget_bytes : int
        Working memory [bytes]: of the paths drawn at once and their results (fast method), or of
        one model call (reference); default 512 MiB. Results do not depend on it.
    risk_aversion : float
        Weight ``a`` of the CVaR in ``risk_adjusted_npv = (1 - a) mean + a CVaR10`` [0-1].
    method : {'fast', 'reference'}
        ``'fast'`` (default): the linear-coefficient evaluation of the model (module notes,
        "Fast evaluation"); ``'reference'``: one :func:`cashflow.build` call on tiled
        (project, path) rows, about 40x slower, kept for checks. Same draws, same results
        (to rounding).
    antithetic : bool
        Draw paths in antithetic pairs (module notes, "Antithetic pairs"; default True).
    lanes : int, optional
        Threads of the fast method (1 or 2; default: 2 when the process may run on two CPUs).
        Results do not depend on it.

    Returns
    -------
    SimulationResult
    """
    import time

    t_start = time.perf_counter()
    paths = simulate_paths(apps, scenario, ref, n_paths=n_paths, seed=seed, chunk_paths=chunk_paths,
                           vol_scale=vol_scale, progress=progress, project_risk=project_risk, deck=deck,
                           irr_paths=irr_paths, memory_budget_bytes=memory_budget_bytes, processes=processes,
                           risks=risks, method=method, antithetic=antithetic, lanes=lanes)
    npv = paths.npv_usd_m
    kept = np.arange(n_paths) if keep_paths is None or keep_paths >= n_paths else \
        np.unique(np.linspace(0, n_paths - 1, int(keep_paths)).round().astype(int))
    samples = (npv if len(kept) == n_paths else npv[:, kept]).astype(np.float32)
    # the summary reorders each row in place (its statistics do not depend on the order): the
    # per-path arrays are this call's own
    summary = summarise(tuple(apps), scenario, npv, paths.min_dscr, paths.irr, paths.loan_krw_bn,
                        paths.loan_krw_bn > 0, paths.deterministic_npv_usd_m, risk_aversion, overwrite=True,
                        defaulted=paths.defaulted, ref=ref)
    summary["evaluated_by"] = list(paths.evaluated_by)  # says where the fast method fell back
    samples.setflags(write=False)
    kept.setflags(write=False)
    return SimulationResult(paths.ids, paths.n_paths, paths.seed, paths.chunk_paths, float(vol_scale), summary,
                            samples, kept, time.perf_counter() - t_start)


def deterministic_npv(inputs, scenario, rate) -> np.ndarray:
    cf = cashflow.build(inputs, first_year=scenario.first_year)
    return finance.npv(rate, cf.fcf_usd_m, **scenario.discounting)


