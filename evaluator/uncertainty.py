"""Uncertainty: Monte Carlo of prices and project risks, tornado and spider sensitivities.

A point NPV at one price deck is not a decision. :func:`simulate` draws correlated commodity
price paths (and KRW/USD) together with per-project capex overruns, construction delays and
opex / recovery multipliers, runs the deterministic cash-flow model
(:func:`evaluator.cashflow.build`) on every (project, path) pair, and reports per project the
NPV distribution, the probability of a negative NPV, of a minimum DSCR below 1.0 and 1.3, a
simulated expected loss on the policy loan, and IRR percentiles. :func:`tornado` and
:func:`spider` move one input at a time with the others at base.

Price process
-------------
Each commodity's log price ``x = ln P`` follows the one-factor mean-reverting (Ornstein-Uhlenbeck)
model of Schwartz (1997) [1]_::

    dx = kappa (mu - x) dt + sigma dW,     mu = ln(price deck),  x_0 = mu

discretised exactly on the model's yearly grid (the OU transition density [2]_)::

    x_{t+1} = mu + (x_t - mu) e^{-kappa} + sigma sqrt((1 - e^{-2 kappa}) / (2 kappa)) eps_{t+1}

so ``E[x_t] = mu + (x_0 - mu) e^{-kappa t}`` and
``Var[x_t] = sigma^2 (1 - e^{-2 kappa t}) / (2 kappa)``. The shocks ``eps`` of the commodities
and of KRW/USD are standard normal with the correlation matrix of ``price_processes.csv``.
The price multiplier applied to the deck in model year ``t`` is
``exp(x_t - mu - Var[x_t] / 2)`` (``deck="mean"``, default: the deck is the *expected* price in
every year, so the mean NPV is not inflated by the lognormal convexity) or ``exp(x_t - mu)``
(``deck="median"``). Column 0 (valuation date) has multiplier 1. Kappa comes from the half-life
in the data: ``kappa = ln 2 / half_life_years``.

A project's by-products follow their own commodity's path: the model receives one effective
multiplier per (project, path, year), the revenue-weighted mean of the primary and by-product
multipliers, which gives exactly ``sum_i revenue_i x multiplier_i`` because every product's
revenue is proportional to the same ore tonnage.

KRW/USD (``fx_krw_per_usd``) follows the same kind of process around the scenario's rate. It
touches the KRW figures only: the policy loan is in KRW, so its debt service in USD is the
scheduled USD service x ``fx_0 / fx_t`` (a stronger won raises the USD cost of the loan). USD
NPVs do not depend on it.

Project risks (per project and path, independent of prices and of other projects)
------------------------------------------------------------------------------------
See :data:`PROJECT_RISKS` (parameters by stage, with their sources): capex overrun multiplier
(lognormal with the stage's mean and standard deviation, on the initial capex only), extra
construction years (discrete), opex and recovery multipliers (lognormal, mean 1; the model caps
recovery at 100 %).

``vol_scale`` scales every source of uncertainty: price and FX volatilities, the log-dispersion
*and* the log-mean of the project multipliers, and the delay probabilities (``min(1, v P)``).
``vol_scale = 0`` is the deterministic model exactly; 2 is a stress case.

Expected loss (simulated)
-------------------------
Later stages: ``loan x P(min DSCR < 1.0) x LGD`` (scenario ``lgd``): a year in which cash flow
does not cover debt service is taken as a default-like event. Exploration stage (DESIGN.md):
``loan x (1 - success_probability) x write_off_share`` (the success-contingent write-off, not
simulated). No loan: 0.

Reproducibility
---------------
Paths are drawn in blocks of ``chunk_paths`` (default 1,000) paths, each from its own PCG64
stream spawned from ``numpy.random.SeedSequence(seed)``; for a given set of applications the
results depend on ``seed``, ``n_paths``, ``chunk_paths`` and ``antithetic`` only (not on the
memory budget, which splits the work, nor on the number of cores). Only the price processes of
the applications' products and KRW/USD are drawn (with the Cholesky factor of their own
correlation block, the exact marginal of the joint law), so adding an application can change
every path's draws, not their distribution. Every project sees the same price draws on the
same path, so a portfolio's paths are correlated.

Antithetic pairs
----------------
By default (``antithetic=True``) the second half of each block mirrors the first: path
``h + j`` takes the negated normal shocks of path ``j`` (prices, capex, opex, recovery) and
``1 - u`` for the delay draw (antithetic variates, Glasserman 2003, sec. 4.2 [6]_). Each path keeps the exact
marginal law; means are unbiased with a smaller variance for the monotone responses here (NPV
rises with prices and falls with costs), and half the normal variates are drawn.
``simulate_log_prices`` returns independent paths.

Fast evaluation
---------------
``method="fast"`` (default) does not call the cash-flow model per path. Every pre-tax line of
:func:`evaluator.cashflow.build` is linear in the price, opex, capex and recovery multipliers,
so the model is run a few times per possible delay to read off, per project, each product's
revenue ``R_t`` at multiplier 1 and the opex, capex, depreciation, sustaining and closure lines;
royalty and working capital are fixed shares of revenue (checked against the model's output,
an ``AssertionError`` if a model change breaks it). Per path, revenue is
``sum_products R_t x price multiplier_t x recovery multiplier`` and the only nonlinear step,
the income tax with unlimited loss carry-forward (``max(0, running max of cumulative taxable
income)``), is evaluated exactly, vectorised over (project, path) columns with a loop over the
years. The linear lines of a group of paths (cumulative taxable income, the NPV of revenue, the
pre-tax CFADS of the loan years) come out of one matrix product per group (BLAS; the cumulative
sums are a lower-triangular matrix, applied in blocks). The NPV, the minimum DSCR and the IRR
rows follow from the same pieces. On a machine with a second core, a second thread builds the
per-project coefficients while the paths are drawn, then both threads take batches of projects
from a shared queue (numpy and BLAS release the interpreter lock in their loops); the IRR rows
are solved in fixed runs of consecutive batches, so what is computed, and every result to the
bit, does not depend on which thread does it.
``method="reference"`` tiles the inputs and runs :func:`cashflow.build` on every (project,
path) row with the same draws; the tests hold the two equal to 1e-9 on every sample project,
and ``vol_scale = 0`` equal to :func:`evaluator.evaluate.evaluate`.

References
----------
.. [1] Schwartz, E. S. (1997). "The stochastic behavior of commodity prices: implications for
   valuation and hedging." *Journal of Finance* 52(3): 923-973 (model 1, one factor).
.. [2] Uhlenbeck, G. E., Ornstein, L. S. (1930). "On the theory of the Brownian motion."
   *Physical Review* 36: 823-841; the Gaussian transition density used for the exact step,
   e.g. Glasserman, P. (2003). *Monte Carlo Methods in Financial Engineering*, Springer, sec. 3.3.
.. [3] Bertisen, J., Davis, G. A. (2008). "Bias and error in mine project capital cost
   estimation." *The Engineering Economist* 53(2): 118-139 (mean overrun about 14-25 %, wide
   dispersion).
.. [4] EY (2015). *Opportunities to enhance capital productivity* (mining & metals megaprojects:
   about 62 % over budget, many late).
.. [5] Merrow, E. W. (2011). *Industrial Megaprojects*, Wiley (schedule slips of early-stage
   estimates).
.. [6] Glasserman, P. (2003). *Monte Carlo Methods in Financial Engineering*, Springer,
   sec. 4.2 (antithetic variates).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator import cashflow, finance
from evaluator.evaluate import discount_rates, evaluate, krw_bn_to_usd_m
from models.application import Application
from models.scenario import Scenario

PRICE_PROCESSES_FILE = "price_processes.csv"
FX_PROCESS = "fx_krw_per_usd"
#: Default paths per draw block (fixed so that results do not depend on the memory budget).
DEFAULT_CHUNK_PATHS = 1000
#: Default working-memory budget of one model call [bytes].
DEFAULT_MEMORY_BUDGET_BYTES = 512 * 2**20
#: Paths per project on which IRR percentiles are computed (an IRR costs ~40 us a row).
DEFAULT_IRR_PATHS = 250


@dataclass(frozen=True)
class StageRisk:
    """Project-risk parameters of one stage (multipliers on the applicant's figures).

    Attributes
    ----------
    capex_mean, capex_sd : float
        Mean and standard deviation of the initial-capex multiplier [-] (lognormal).
    delay_survival : tuple of float
        ``P(extra construction years >= k)`` for ``k = 1, 2, ...`` [fraction], non-increasing.
    opex_sd, recovery_sd : float
        Standard deviation of the opex and recovery multipliers (lognormal, mean 1) [-].
    source : str
    """

    capex_mean: float
    capex_sd: float
    delay_survival: tuple[float, ...]
    opex_sd: float
    recovery_sd: float
    source: str = ""


def load_project_risks(path: str | Path | None = None) -> dict[str, StageRisk]:
    """Project-risk parameters by stage from ``evaluator/data/project_risks.csv``.

    **All labelled assumptions** (sources in the file): earlier stages have less engineering
    behind their estimates, hence larger overruns and longer delays.
    """
    path = Path(path) if path is not None else Path(__file__).resolve().parent / "data" / "project_risks.csv"
    df = pd.read_csv(path)
    delay_cols = sorted(c for c in df.columns if c.startswith("delay_p_ge"))
    out = {}
    for r in df.itertuples(index=False):
        surv = tuple(float(getattr(r, c)) for c in delay_cols)
        if any(b > a for a, b in zip(surv, surv[1:])):
            raise ValueError(f"{path.name}: stage {r.stage}: delay probabilities must not increase")
        out[str(r.stage)] = StageRisk(float(r.capex_mean), float(r.capex_sd), surv, float(r.opex_sd),
                                      float(r.recovery_sd), str(r.source))
    return out


#: Project-risk parameters by stage (``project_risks.csv``).
PROJECT_RISKS: Mapping[str, StageRisk] = load_project_risks()


# ----------------------------------------------------------------------------------------------
# price processes
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriceProcesses:
    """Mean-reverting log-price processes and their shock correlation (``price_processes.csv``).

    Attributes
    ----------
    names : tuple of str
        Mineral keys, then ``fx_krw_per_usd``.
    sigma : numpy.ndarray
        Annual volatility of the log price [1/sqrt(yr)].
    kappa : numpy.ndarray
        Mean-reversion speed [1/yr] = ln 2 / half-life.
    corr : numpy.ndarray
        Correlation matrix of the shocks (symmetric, positive definite).
    table : pandas.DataFrame
        The file as read (index ``process``), with its source columns.
    """

    names: tuple[str, ...]
    sigma: np.ndarray
    kappa: np.ndarray
    corr: np.ndarray
    table: pd.DataFrame = field(repr=False)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"{PRICE_PROCESSES_FILE}: no process for {name!r}") from None

    @property
    def cholesky(self) -> np.ndarray:
        return np.linalg.cholesky(self.corr)


def load_price_processes(ref=None, path: str | Path | None = None) -> PriceProcesses:
    """Read and check ``price_processes.csv`` (from ``ref.data_dir``, or the bundled folder).

    Raises
    ------
    ValueError
        Naming the file and the column: missing process rows or columns, non-positive
        half-life, negative volatility, a correlation matrix that is not symmetric with a unit
        diagonal, or not positive definite.
    """
    if path is None:
        base = Path(getattr(ref, "data_dir", None) or Path(__file__).resolve().parent / "data")
        path = base / PRICE_PROCESSES_FILE
    t = pd.read_csv(path).set_index("process")
    names = tuple(t.index)
    if FX_PROCESS not in names:
        raise ValueError(f"{PRICE_PROCESSES_FILE}, column 'process': no row {FX_PROCESS!r}")
    if ref is not None:
        missing = sorted(set(ref.minerals.index) - set(names))
        if missing:
            raise ValueError(f"{PRICE_PROCESSES_FILE}, column 'process': no rows for {missing}")
    cols = [f"corr_{n}" for n in names]
    missing_cols = [c for c in cols if c not in t.columns]
    if missing_cols:
        raise ValueError(f"{PRICE_PROCESSES_FILE}: missing correlation columns {missing_cols}")
    sigma = t["annual_volatility"].to_numpy(float)
    half = t["half_life_years"].to_numpy(float)
    if np.any(sigma < 0) or not np.all(np.isfinite(sigma)):
        raise ValueError(f"{PRICE_PROCESSES_FILE}, column 'annual_volatility': must be finite and >= 0")
    if np.any(~(half > 0)):
        raise ValueError(f"{PRICE_PROCESSES_FILE}, column 'half_life_years': must be > 0")
    corr = t[cols].to_numpy(float)
    if not np.allclose(corr, corr.T, atol=1e-12) or not np.allclose(np.diag(corr), 1.0):
        raise ValueError(f"{PRICE_PROCESSES_FILE}, corr_* columns: matrix must be symmetric with unit diagonal")
    if np.linalg.eigvalsh(corr).min() <= 0:
        raise ValueError(f"{PRICE_PROCESSES_FILE}, corr_* columns: matrix is not positive definite")
    for a in (sigma, corr):
        a.setflags(write=False)
    kappa = np.log(2.0) / half
    kappa.setflags(write=False)
    return PriceProcesses(names, sigma, kappa, corr, t)


def ou_step(kappa, sigma, dt: float = 1.0):
    """Coefficients of the exact OU step ``x' = mu + a (x - mu) + s eps``.

    Returns
    -------
    a, s : numpy.ndarray
        ``a = exp(-kappa dt)``; ``s = sigma sqrt((1 - exp(-2 kappa dt)) / (2 kappa))``
        (``sigma sqrt(dt)`` as kappa -> 0).
    """
    kappa = np.asarray(kappa, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    a = np.exp(-kappa * dt)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(kappa > 1e-12, -np.expm1(-2 * kappa * dt) / (2 * kappa), dt)
    return a, sigma * np.sqrt(v)


def ou_moments(x0, mu, kappa, sigma, t):
    """Analytic mean and variance of the OU log price at horizon ``t`` [yr] (Schwartz 1997).

    ``E = mu + (x0 - mu) e^{-kappa t}``, ``Var = sigma^2 (1 - e^{-2 kappa t}) / (2 kappa)``.
    """
    t = np.asarray(t, dtype=float)
    a, s = ou_step(kappa, sigma, t)
    return mu + (np.asarray(x0, dtype=float) - mu) * a, s ** 2


def _antithetic_half(n_paths: int, antithetic: bool) -> int:
    """Paths drawn independently in a block; with antithetic pairs path ``h + j`` mirrors path ``j``."""
    return (n_paths + 1) // 2 if antithetic else n_paths


def _ou_shocks(rng, proc: PriceProcesses, n_paths: int, n_years: int, rows=None, antithetic: bool = True,
               out: np.ndarray | None = None) -> np.ndarray:
    """Correlated standard-normal shocks of one block of paths, shape
    ``(len(rows), n_years, n_paths)`` (written into ``out`` if given, any strides).

    Only the processes ``rows`` are drawn, with the Cholesky factor of their own correlation
    block (the marginal of the joint normal). With ``antithetic`` the second half of the paths
    takes the negated shocks of the first (module notes, "Antithetic pairs")."""
    rows = np.arange(len(proc.names)) if rows is None else np.asarray(rows, dtype=int)
    h = _antithetic_half(n_paths, antithetic)
    chol = np.linalg.cholesky(proc.corr[np.ix_(rows, rows)])
    z = rng.standard_normal((n_years * h, len(rows)))                           # row = year * h + path
    eps = (chol @ z.T).reshape(len(rows), n_years, h)
    if out is None:
        out = np.empty((len(rows), n_years, n_paths))
    out[:, :, :h] = eps
    np.negative(eps[:, :, :n_paths - h], out=out[:, :, h:])
    return out


def _ou_multipliers(proc: PriceProcesses, eps: np.ndarray, out: np.ndarray, vol_scale: float, deck: str = "mean",
                    rows=None, log: bool = False) -> np.ndarray:
    """Fill ``out`` (``(len(rows), n_years + 1, n_paths)``, any strides) with the OU log
    deviations ``y = x_t - mu`` from the shocks ``eps`` (``(len(rows), n_years, n_paths)``; may be
    ``out[:, 1:]`` itself), then, unless ``log``, turn them into price multipliers in place
    (module notes, ``deck``). A loop over years only, vectorised over processes x paths."""
    if deck not in ("mean", "median"):
        raise ValueError("deck must be 'mean' or 'median'")
    rows = np.arange(len(proc.names)) if rows is None else np.asarray(rows, dtype=int)
    kappa, sigma = proc.kappa[rows], proc.sigma[rows] * vol_scale
    a, s = ou_step(kappa, sigma)
    a, s = a[:, None], s[:, None]
    n_years = eps.shape[1]
    out[:, 0] = 0.0
    for t in range(1, n_years + 1):
        shock = s * eps[:, t - 1]             # read before out[:, t] is written (eps may alias it)
        np.multiply(a, out[:, t - 1], out=out[:, t])
        out[:, t] += shock
    if not log:
        if deck == "mean":
            _, var = ou_moments(0.0, 0.0, kappa[:, None], sigma[:, None], np.arange(n_years + 1)[None, :])
            out -= 0.5 * var[:, :, None]
        np.exp(out, out=out)
    return out


def _price_log_deviations(rng, proc: PriceProcesses, n_paths: int, n_years: int, vol_scale: float,
                          deck: str = "mean", log: bool = False, rows=None, antithetic: bool = True) -> np.ndarray:
    """One block of correlated OU paths of the processes ``rows`` (default all).

    Returns
    -------
    numpy.ndarray
        Price multipliers on the deck (module notes, ``deck``), or with ``log`` the log
        deviations ``x_t - mu`` [ln units]; shape ``(len(rows), n_paths, n_years + 1)``,
        column 0 (the valuation date) = 1 (log: 0).
    """
    rows = np.arange(len(proc.names)) if rows is None else np.asarray(rows, dtype=int)
    out = np.empty((len(rows), n_years + 1, n_paths))
    _ou_multipliers(proc, _ou_shocks(rng, proc, n_paths, n_years, rows, antithetic), out, vol_scale, deck,
                    rows=rows, log=log)
    return np.moveaxis(out, 1, 2)


def simulate_log_prices(processes: PriceProcesses | None = None, *, n_paths: int = 10_000,
                        n_years: int = 30, seed: int = 0, vol_scale: float = 1.0,
                        x0=None, mu=None) -> np.ndarray:
    """Sampled OU log prices ``x_t`` for every process (for checks and charts).

    Parameters
    ----------
    x0, mu : array_like, optional
        Start and long-run level per process [ln USD/t]; default 0 (deviations from the deck).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_processes, n_paths, n_years + 1)``.
    """
    proc = processes or load_price_processes()
    rng = np.random.Generator(np.random.PCG64(seed))
    p = len(proc.names)
    x0 = np.zeros(p) if x0 is None else np.broadcast_to(np.asarray(x0, float), (p,))
    mu = np.zeros(p) if mu is None else np.broadcast_to(np.asarray(mu, float), (p,))
    y = _price_log_deviations(rng, proc, n_paths, n_years, vol_scale, log=True, antithetic=False)  # independent paths
    # y started at 0 = deviation of a path started at mu; a path from x0 adds the decaying gap
    decay = np.exp(-proc.kappa[:, None] * np.arange(n_years + 1)[None, :])
    return mu[:, None, None] + ((x0 - mu)[:, None] * decay)[:, None, :] + y


# ----------------------------------------------------------------------------------------------
# tiling and project draws
# ----------------------------------------------------------------------------------------------
def tile_inputs(inputs: cashflow.ProjectInputs, idx, repeats: int) -> cashflow.ProjectInputs:
    """ProjectInputs whose rows are (project, path) pairs: project ``idx[i]`` repeated ``repeats``
    times (row ``i * repeats + j`` = path ``j`` of project ``idx[i]``). By-product rows are
    re-indexed to the tiled rows."""
    idx = np.asarray(idx, dtype=int)
    rows = np.repeat(idx, repeats)
    changes = {}
    for f in dataclasses.fields(inputs):
        v = getattr(inputs, f.name)
        if f.name in ("ids", "sources", "byproduct_rows", "byproduct_coef_usd_per_t_ore"):
            continue
        changes[f.name] = v[rows]
    changes["ids"] = tuple(np.asarray(inputs.ids, dtype=object)[rows])
    changes["sources"] = None
    pos = np.full(inputs.n, -1)
    pos[idx] = np.arange(len(idx))
    keep = pos[inputs.byproduct_rows] >= 0 if len(inputs.byproduct_rows) else np.zeros(0, bool)
    b_rows = inputs.byproduct_rows[keep]
    b_coef = inputs.byproduct_coef_usd_per_t_ore[keep]
    changes["byproduct_rows"] = (pos[b_rows][:, None] * repeats + np.arange(repeats)[None, :]).ravel()
    changes["byproduct_coef_usd_per_t_ore"] = np.repeat(b_coef, repeats)
    return dataclasses.replace(inputs, **changes)


def _lognormal_log_params(mean, sd):
    mean = np.asarray(mean, float)
    s2 = np.log1p((np.asarray(sd, float) / mean) ** 2)
    return np.log(mean) - 0.5 * s2, np.sqrt(s2)


def _stage_params(stages: Sequence[str], vol_scale: float, risks: Mapping[str, StageRisk]) -> dict:
    """Per-project parameters of :func:`_project_draws` (log-mean and log-sd of the capex, opex and
    recovery multipliers, already scaled by ``vol_scale``; delay survival ``(n, k)``)."""
    r = [risks[s] for s in stages]
    n = len(r)
    cm_mu, cm_s = _lognormal_log_params([x.capex_mean for x in r], [x.capex_sd for x in r])
    om_mu, om_s = _lognormal_log_params(np.ones(n), [x.opex_sd for x in r])
    rm_mu, rm_s = _lognormal_log_params(np.ones(n), [x.recovery_sd for x in r])
    kmax = max((len(x.delay_survival) for x in r), default=0)
    surv = np.zeros((n, kmax))
    for i, x in enumerate(r):
        surv[i, : len(x.delay_survival)] = x.delay_survival
    v = vol_scale
    return {"mu": np.stack([cm_mu, om_mu, rm_mu])[:, :, None] * v, "sd": np.stack([cm_s, om_s, rm_s])[:, :, None] * v,
            "surv": np.minimum(1.0, v * surv)}


def _project_draws(rng, stages: Sequence[str], n_paths: int, vol_scale: float, risks: Mapping[str, StageRisk],
                   out=None, params: dict | None = None, antithetic: bool = True):
    """Capex, opex, recovery multipliers and extra construction years, shape ``(n, paths)``.

    ``out``: optional ``(mult, delay)`` to fill, ``mult`` of shape ``(3, n, paths)`` (capex, opex,
    recovery) and ``delay`` ``(n, paths)`` (any strides); ``params``: :func:`_stage_params`.
    With ``antithetic`` the second half of the paths mirrors the first (``-z``, ``1 - u``)."""
    n = len(stages)
    h = _antithetic_half(n_paths, antithetic)
    m = n_paths - h
    p = params if params is not None else _stage_params(stages, vol_scale, risks)
    mult, delay = out if out is not None else (np.empty((3, n, n_paths)), np.empty((n, n_paths), dtype=np.int64))
    z = rng.standard_normal((3, n, h))
    u = rng.random((n, h))
    np.multiply(p["sd"], z, out=mult[:, :, :h])
    np.negative(mult[:, :, :m], out=mult[:, :, h:])
    mult += p["mu"]
    np.exp(mult, out=mult)
    surv = p["surv"]
    delay[...] = 0
    for k in range(surv.shape[1]):
        delay[:, :h] += u < surv[:, k:k + 1]
        delay[:, h:] += (1.0 - u[:, :m]) < surv[:, k:k + 1]
    return mult[0], mult[1], mult[2], delay


def _max_delay(stages, vol_scale, risks) -> int:
    if vol_scale <= 0:
        return 0
    return max((sum(1 for p in risks[s].delay_survival if p > 0) for s in stages), default=0)


# ----------------------------------------------------------------------------------------------
# loans and DSCR (the rules of evaluator.evaluate)
# ----------------------------------------------------------------------------------------------
def _loans(apps: Sequence[Application], scenario: Scenario, n_periods: int):
    """The policy loan schedule per project in USD m, as :func:`evaluator.evaluate.evaluate`."""
    loan_krw = np.array([a.loan_request_krw_bn for a in apps], dtype=float)
    loan_usd = krw_bn_to_usd_m(loan_krw, scenario.fx_krw_per_usd)
    return loan_krw, finance.loan_schedule(
        loan_usd, scenario.policy_loan_rate, np.array([a.loan_tenor_years for a in apps]),
        np.array([a.loan_grace_years for a in apps]), np.zeros(len(apps), dtype=int), n_periods)


def _min_dscr(cfads, ds, principal, fp):
    """Minimum DSCR per row under evaluate's scope rule: years with debt service once
    production has started, or that repay principal earlier. NaN where no year is in scope.

    ``cfads``, ``ds`` (..., T); ``principal`` broadcastable; ``fp`` (...) first production index.
    """
    T = cfads.shape[-1]
    t = np.arange(T)
    in_scope = (ds > 1e-12) & ((t >= fp[..., None]) | (principal > 1e-12))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(in_scope, cfads / np.where(in_scope, ds, 1.0), np.inf)
    m = ratio.min(axis=-1)
    return np.where(np.isinf(m) & ~in_scope.any(axis=-1), np.nan, m)


# ----------------------------------------------------------------------------------------------
# simulation
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationResult:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    ids : tuple of str
    n_paths, seed, chunk_paths : int
    vol_scale : float
    summary : pandas.DataFrame
        Index ``id``. ``npv_usd_m`` (deterministic), ``npv_mean_usd_m``, ``npv_sd_usd_m``,
        ``npv_p10_usd_m``, ``npv_p50_usd_m``, ``npv_p90_usd_m``, ``npv_cvar10_usd_m`` (mean of
        the worst 10 %), ``prob_npv_negative``, ``prob_min_dscr_below_1``,
        ``prob_min_dscr_below_1_3`` (NaN without a loan), ``min_dscr_p10``,
        ``loan_request_krw_bn``, ``expected_loss_sim_krw_bn``, ``expected_loss_basis``,
        ``irr_p10``, ``irr_p50``, ``irr_p90`` (over the first ``irr_paths`` paths; paths with
        no IRR are left out), ``irr_share_undefined``, ``risk_adjusted_npv_usd_m``.
    npv_samples_usd_m : numpy.ndarray
        float32, ``(n_projects, n_kept)``: simulated NPV per project on the kept paths (the same
        path indices for every project, so sums across projects are portfolio paths).
    kept_paths : numpy.ndarray
        Indices of the kept paths.
    elapsed_s : float
    """

    ids: tuple[str, ...]
    n_paths: int
    seed: int
    chunk_paths: int
    vol_scale: float
    summary: pd.DataFrame = field(repr=False)
    npv_samples_usd_m: np.ndarray = field(repr=False)
    kept_paths: np.ndarray = field(repr=False)
    elapsed_s: float = 0.0

    def npv_sample(self, app_id: str) -> np.ndarray:
        return self.npv_samples_usd_m[self.ids.index(app_id)]


def _bytes_per_row(n_periods: int) -> int:
    # cashflow.build keeps its 20 series and about as many temporaries alive, float64
    return n_periods * 8 * 48


def simulate(apps: Sequence[Application], scenario: Scenario, ref, *, n_paths: int = 10_000, seed: int = 0,
             chunk_paths: int | None = None, vol_scale: float = 1.0, progress: Callable[[float], None] | None = None,
             project_risk: bool = True, deck: str = "mean", irr_paths: int = DEFAULT_IRR_PATHS,
             keep_paths: int | None = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
             risk_aversion: float = 0.5, processes: PriceProcesses | None = None,
             risks: Mapping[str, StageRisk] = PROJECT_RISKS, method: str = "fast", antithetic: bool = True,
             _paths_out: dict | None = None) -> SimulationResult:
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

    Returns
    -------
    SimulationResult
    """
    import time

    t_start = time.perf_counter()
    apps = tuple(apps)
    n = len(apps)
    if n == 0:
        raise ValueError("no applications to simulate")
    if n_paths < 1:
        raise ValueError("n_paths must be >= 1")
    if vol_scale < 0:
        raise ValueError("vol_scale must be >= 0")
    if method not in ("fast", "reference"):
        raise ValueError("method must be 'fast' or 'reference'")
    proc = processes or load_price_processes(ref)
    chunk_paths = int(chunk_paths or DEFAULT_CHUNK_PATHS)
    chunk_paths = max(1, min(chunk_paths, n_paths))
    inputs = cashflow.resolve_inputs(apps, scenario, ref)
    stages = [a.stage for a in apps]
    v_proj = vol_scale if project_risk else 0.0
    max_delay = _max_delay(stages, v_proj, risks)
    T = int((inputs.construction_years + inputs.operating_years).max(initial=0)) + max_delay + 2
    T = max(T, int(1 + 2))  # build's minimum width
    rate, _ = discount_rates(apps, scenario, ref)
    dfac = finance.discount_factors(rate, T, mid_year=scenario.mid_year)          # (n, T)
    loan_krw, sched = _loans(apps, scenario, T)
    has_loan = loan_krw > 0
    fx_i = proc.index(FX_PROCESS)

    # revenue weights of primary product and by-products (per unit of ore, before recovery cap)
    prim_proc = np.array([proc.index(a.mineral) for a in apps], dtype=int)
    by_proc = np.array([proc.index(b.mineral) for a in apps for b in a.by_products], dtype=int)
    prim_coef = inputs.grade_fraction * inputs.product_factor * inputs.payability * inputs.price_usd_per_t
    used = np.unique(np.concatenate([prim_proc, by_proc, [fx_i]]).astype(int))    # processes drawn

    kept = np.arange(n_paths) if keep_paths is None or keep_paths >= n_paths else \
        np.unique(np.linspace(0, n_paths - 1, int(keep_paths)).round().astype(int))
    npv = np.full((n, n_paths), np.nan)       # filled now, in order: see _touched
    min_dscr = np.full((n, n_paths), np.nan)
    irr_n = max(0, min(int(irr_paths), n_paths))
    irr = np.full((n, irr_n), np.nan)

    ctx = _SimContext(apps, scenario, inputs, proc, stages, risks, v_proj, vol_scale, deck, T, max_delay, dfac,
                      sched, has_loan, fx_i, prim_proc, by_proc, prim_coef, npv, min_dscr, irr, irr_n, progress,
                      used, bool(antithetic))
    if method == "fast":
        _run_fast(ctx, n_paths, seed, chunk_paths, memory_budget_bytes)
    else:
        _run_reference(ctx, n_paths, seed, chunk_paths, memory_budget_bytes)
    det = _deterministic_npv(inputs, scenario, rate)
    samples = (npv if len(kept) == n_paths else npv[:, kept]).astype(np.float32)
    # the summary may reorder each row in place (its statistics do not depend on the order), unless
    # the test hook wants the per-path arrays
    summary = _summarise(apps, scenario, npv, min_dscr, irr, loan_krw, has_loan, det, risk_aversion,
                         overwrite=_paths_out is None)
    samples.setflags(write=False)
    kept.setflags(write=False)
    result = SimulationResult(tuple(a.id for a in apps), int(n_paths), int(seed), chunk_paths, float(vol_scale),
                              summary, samples, kept, time.perf_counter() - t_start)
    if _paths_out is not None:  # float64 per-path arrays, for the fast-vs-reference check
        _paths_out.update(npv=npv, min_dscr=min_dscr, irr=irr)
    return result



# ----------------------------------------------------------------------------------------------
# fast evaluation (linear coefficients of the deterministic model)
# ----------------------------------------------------------------------------------------------
@dataclass
class _SimContext:
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


def _pad(a: np.ndarray, T: int) -> np.ndarray:
    return a[:, :T] if a.shape[1] >= T else np.pad(a, ((0, 0), (0, T - a.shape[1])))


def _linear_coefficients(inputs: cashflow.ProjectInputs, first_year: int, T: int, delay: int, by_proc: np.ndarray):
    """Coefficients of the pre-tax lines of :func:`cashflow.build` at ``delay`` extra construction
    years, read off the model itself by switching its multipliers on and off (every pre-tax line
    is linear in the price, opex, capex and recovery multipliers). Arrays ``(n, T)``.

    Also checks the two facts the fast kernel relies on: royalty and working capital are fixed
    shares of each product's revenue (so one revenue line per path carries them), and the
    products add up to the model's revenue. A model change that breaks either raises
    ``AssertionError`` instead of giving wrong numbers.

    Returns
    -------
    dict
        ``rev``: list of ``(kind, proc, rows, R)``: per commodity, the revenue (after offsite
        costs, before royalty) at multiplier 1 for the projects ``rows`` (``kind`` 'primary' or
        'by'); ``opex``, ``capex`` (initial, at capex multiplier 1), ``dep_init`` (its
        depreciation), ``dep_sust`` (depreciation of sustaining capex), ``sustaining``,
        ``closure``, ``first``, ``last`` (production columns).
    """
    n = inputs.n
    d = np.full(n, int(delay))
    kw = dict(first_year=first_year, delay_years=d)
    base = cashflow.build(inputs, **kw)
    no_capex = cashflow.build(inputs, capex_multiplier=np.zeros(n), **kw)
    no_by = dataclasses.replace(inputs, byproduct_rows=np.zeros(0, int), byproduct_coef_usd_per_t_ore=np.zeros(0))
    net_share = (1.0 - inputs.royalty_rate)[:, None]
    wc_share = inputs.working_capital_share[:, None]

    def revenue(cf, rows):
        R = _pad(cf.revenue_usd_m, T)
        scale = np.abs(R).max(initial=1.0)
        ok = (np.allclose(_pad(cf.revenue_usd_m - cf.royalty_usd_m, T)[rows], (net_share * R)[rows],
                          rtol=1e-12, atol=1e-12 * scale)
              and np.allclose(_pad(np.cumsum(cf.working_capital_change_usd_m, axis=1), T)[rows], (wc_share * R)[rows],
                              rtol=1e-12, atol=1e-12 * scale))
        if not ok:
            raise AssertionError("royalty or working capital is no longer a share of revenue: fast path invalid")
        return R

    rev = [("primary", None, np.arange(n), revenue(cashflow.build(no_by, **kw), slice(None)))]
    for q in np.unique(by_proc):
        sel = by_proc == q
        only_q = dataclasses.replace(inputs, price_usd_per_t=np.zeros(n),
                                     byproduct_rows=inputs.byproduct_rows[sel],
                                     byproduct_coef_usd_per_t_ore=inputs.byproduct_coef_usd_per_t_ore[sel])
        rows = np.unique(inputs.byproduct_rows[sel])
        rev.append(("by", int(q), rows, revenue(cashflow.build(only_q, **kw), rows)))
    total = sum(r[3] for r in rev)
    scale = np.abs(base.revenue_usd_m).max(initial=1.0)
    if not np.allclose(total, _pad(base.revenue_usd_m, T), rtol=1e-12, atol=1e-9 * scale):
        raise AssertionError("cash-flow model is not additive over products: fast path invalid")
    return {
        "rev": rev,
        "opex": _pad(base.opex_usd_m, T),
        "capex": _pad(base.initial_capex_usd_m, T),
        "dep_init": _pad(base.depreciation_usd_m - no_capex.depreciation_usd_m, T),
        "dep_sust": _pad(no_capex.depreciation_usd_m, T),
        "sustaining": _pad(base.sustaining_capex_usd_m, T),
        "closure": _pad(base.closure_usd_m, T),
        "first": np.asarray(base.first_production_index),
        "last": np.asarray(base.last_production_index),
    }


@dataclass
class _Plan:
    """Everything the fast kernel needs for one (project, delay).

    Columns ``s:e`` (``w = e - s`` of them) carry the taxable income (``e = last production + 1``,
    widened to the loan's DSCR columns ``a:b``). ``comms``: ``(row, capped, R)`` per product,
    ``row`` its row in the price-multiplier array, ``capped`` whether its recovery is capped at
    100 % (the primary product, first), ``R`` its revenue at multiplier 1 (after offsite costs,
    before royalty).

    ``A`` (``w + 1 + len(dscr_t)`` x ``3 + w``) is the linear part of one path: applied to
    ``[o / rr; k / rr; 1 / rr; V]`` (opex and capex multipliers ``o``, ``k``; ``rr`` the first
    product's recovery multiplier; ``V`` the price multipliers of the one product on columns
    ``s:e``, or with by-products their revenue ``sum_j R_j x price multiplier_j x rr_j / rr``),
    it gives, divided by ``rr``: rows ``0..w-1`` the cumulative taxable income before loss
    carry-forward, row ``w`` the NPV of revenue net of royalty less the working-capital build,
    and rows ``w + 1..`` the pre-tax CFADS on the DSCR columns ``s + dscr_t``. ``blocks``: the
    ``(first row, end row, columns)`` pieces it is applied in (cumulative sums only need the
    years up to their own: the matrix is lower triangular)."""

    s: int
    e: int
    comms: list
    A: np.ndarray
    blocks: tuple
    ddf: np.ndarray          # (w,): discount weights of the cumulative tax base
    pv_op: float
    pv_ci: float
    pv_fix: float
    rate: float
    F: np.ndarray | None     # (n_irr, 3 + w): the free cash flow before tax from the inputs of A
    dscr_t: np.ndarray | slice | None = None   # DSCR columns in the scope of _min_dscr, relative to s
    inv_ds: np.ndarray | None = None           # 1 / scheduled debt service (USD at fx_0) on those columns
    n_irr: int = 0                             # columns up to the last non-zero cash flow (IRR rows)


#: Rows of the cumulative-sum part of :class:`_Plan` ``A`` per matrix product: the lower
#: triangle is applied in pieces, each over the years it needs (smaller pieces: fewer
#: multiplications, more calls).
_TRI_BLOCK_ROWS = 8


@functools.cache
def _lower_triangle(w: int) -> np.ndarray:
    """``numpy.tri(w)`` (ones on and below the diagonal), made once per width (read-only)."""
    t = np.tri(w)
    t.setflags(write=False)
    return t


def _plan_matrices(Rw, net_share, wc_share, u, ctax, s, e, scope, opex, sustaining):
    """The matrices ``A`` of :class:`_Plan` (see there) of every project at one delay, built at
    once: each project's ``A`` is ``out[i, :w + 1 + nb, :3 + w]``, a view into one padded array.

    ``Rw`` the revenue weight of ``V`` per column (the product's revenue at multiplier 1, or ones
    when ``V`` is revenue), ``u`` the NPV weight of revenue, ``ctax`` the tax-deductible lines
    (``(n, T, 3)``: opex, initial-capex and sustaining depreciation), ``opex`` and
    ``sustaining``, all ``(n, T)``; ``s``, ``e`` the plans' columns, ``scope`` ``(n, T)`` the DSCR
    columns. Returns the padded array and the DSCR columns (relative to ``s``) and their
    absolute columns per project."""
    n, T = Rw.shape
    w = e - s
    Wm = int(w.max())
    valid = np.arange(Wm)[None, :] < w[:, None]                  # (n, Wm): the plan's columns
    col = np.minimum(s[:, None] + np.arange(Wm)[None, :], T - 1)

    def aligned(x):                                               # (n, Wm): x on the plan's columns
        return np.take_along_axis(x, col, axis=1) * valid

    R = aligned(Rw)
    I, T_abs = np.nonzero(scope)                                  # DSCR columns, project by project
    nb = np.bincount(I, minlength=n)
    A = np.zeros((n, Wm + 1 + int(nb.max(initial=0)), 3 + Wm))
    ct = np.take_along_axis(ctax, col[:, :, None], axis=1) * valid[:, :, None]
    A[:, :Wm, :3] = -np.cumsum(ct, axis=1) * valid[:, :, None]
    A[:, :Wm, 3:] = _lower_triangle(Wm)[None] * (net_share[:, None] * R)[:, None, :] * valid[:, :, None]
    A[np.arange(n), w, 3:] = aligned(u) * R
    t = T_abs - s[I]                                              # relative to the plan's first column
    rows = w[I] + 1 + np.arange(len(I)) - np.concatenate([[0], np.cumsum(nb)[:-1]])[I]
    A[I, rows, 0] = -opex[I, T_abs]
    A[I, rows, 2] = -sustaining[I, T_abs]
    A[I, rows, 3 + t] = (net_share - wc_share)[I] * R[I, t]
    prev = t >= 1                         # working capital released from the year before (inside s:e)
    A[I[prev], rows[prev], 2 + t[prev]] = wc_share[I[prev]] * R[I[prev], t[prev] - 1]
    bounds = np.concatenate([[0], np.cumsum(nb)])
    return A, [t[bounds[i]:bounds[i + 1]] for i in range(n)], [T_abs[bounds[i]:bounds[i + 1]] for i in range(n)]


@functools.cache
def _plan_blocks(w: int, nb: int, t_max: int, piece: int) -> tuple:
    """The ``(first row, end row, columns)`` pieces :class:`_Plan` ``A`` is applied in: the
    cumulative-sum rows in pieces of ``piece`` rows over the years each needs, the last with the
    NPV row (every year), then the DSCR rows up to their last column ``t_max``."""
    blocks = [(r0, min(w, r0 + piece), 3 + min(w, r0 + piece)) for r0 in range(0, w, piece)]
    blocks[-1] = (blocks[-1][0], w + 1, 3 + w)
    if nb:
        blocks.append((w + 1, w + 1 + nb, 3 + t_max + 1))
    return tuple(blocks)


def _irr_matrices(Rw, net_share, wc_share, s, e, L, opex, capex, fixed):
    """The matrices ``F`` of :class:`_Plan` of every project at one delay (``out[i, :L, :3 + w]``
    views of one padded array): they map the inputs of ``A`` to the free cash flow before income
    tax, divided by ``rr``, on columns ``0..L-1`` (the IRR rows): revenue net of royalty less the
    working-capital build on the plan's columns, less opex, initial capex and the fixed costs
    (sustaining and closure) on every column."""
    n = len(s)
    w = e - s
    Lm, Wm = int(L.max()), int(w.max())
    F = np.zeros((n, Lm, 3 + Wm))
    upto = np.arange(Lm)[None, :] < L[:, None]
    F[:, :, 0], F[:, :, 1], F[:, :, 2] = -opex[:, :Lm] * upto, -capex[:, :Lm] * upto, -fixed[:, :Lm] * upto
    I, t = np.nonzero(np.arange(Wm)[None, :] < w[:, None])        # (project, plan column)
    R = Rw[I, s[I] + t]
    F[I, s[I] + t, 3 + t] = (net_share - wc_share)[I] * R
    nxt = s[I] + t + 1 < L[I]             # working capital released the year after
    F[I[nxt], s[I[nxt]] + t[nxt] + 1, 3 + t[nxt]] = wc_share[I[nxt]] * R[nxt]
    return F


def _plans(ctx: _SimContext, row_of: Mapping[int, int]) -> list[list[_Plan]]:
    """One :class:`_Plan` per project and delay ``0..max_delay``; ``row_of`` maps a process index
    to its row in the kernel's price-multiplier array."""
    inputs, T = ctx.inputs, ctx.T
    n = inputs.n
    t = np.arange(T)
    df = ctx.dfac
    df_next = np.concatenate([df[:, 1:], np.zeros((n, 1))], axis=1)
    net_share, wc_share = 1.0 - inputs.royalty_rate, inputs.working_capital_share
    out = [[None] * (ctx.max_delay + 1) for _ in range(n)]
    for d in range(ctx.max_delay + 1):
        co = _linear_coefficients(inputs, ctx.scenario.first_year, T, d, ctx.by_proc)
        lp, fp = co["last"], co["first"]
        mask = t[None, :] <= lp[:, None]                      # build: taxable income up to the last production year
        per_proj = [[] for _ in range(n)]
        for kind, q, rows, R in co["rev"]:
            if np.any(R[rows] * ~mask[rows]):
                raise AssertionError("revenue after the last production year: fast path invalid")
            for i in rows:
                proc_i = int(ctx.prim_proc[i]) if kind == "primary" else q
                per_proj[i].append((row_of[proc_i], kind == "primary", R[i]))
        fix = co["sustaining"] + co["closure"]
        ctax = np.stack([co["opex"], co["dep_init"], co["dep_sust"]], axis=2) * mask[:, :, None]   # (n, T, 3)
        act = np.abs(ctax).sum(axis=2)                        # columns with any taxable line
        for *_, rows, R in co["rev"]:
            act[rows] += np.abs(R[rows])
        live = (act * mask) > 0
        s_arr = np.where(live.any(axis=1), live.argmax(axis=1), fp)
        e_arr = lp + 1
        # DSCR columns: debt service once production has started, or repaying principal earlier
        sd, pr = ctx.sched.debt_service_usd_m, ctx.sched.principal_usd_m
        scope_m = (sd > 1e-12) & ((t[None, :] >= fp[:, None]) | (pr > 1e-12)) & ctx.has_loan[:, None]
        has_scope = scope_m.any(axis=1)
        a_arr = np.where(has_scope, scope_m.argmax(axis=1), 0)
        b_arr = np.where(has_scope, T - scope_m[:, ::-1].argmax(axis=1), 0)
        whole = scope_m.sum(axis=1) == b_arr - a_arr
        s_arr = np.where(has_scope, np.minimum(s_arr, a_arr), s_arr)
        e_arr = np.where(has_scope, np.maximum(e_arr, b_arr), e_arr)
        s_arr = np.maximum(0, np.minimum(s_arr, e_arr - 1))
        e_arr = np.minimum(np.maximum(e_arr, s_arr + 1), T)
        u_all = net_share[:, None] * df - wc_share[:, None] * (df - df_next)   # NPV weight of revenue
        dd_all = df - df_next                                 # weight of cumulative tax base, last year aside
        pv_op, pv_ci, pv_fix = ((co["opex"] * df).sum(axis=1), (co["capex"] * df).sum(axis=1), (fix * df).sum(axis=1))
        # last column with a cash flow: costs, or the working capital released the year after revenue
        rev_any = np.zeros((n, T), dtype=bool)
        for *_, rows, R in co["rev"]:
            rev_any[rows] |= R[rows] != 0
        cost_any = (co["opex"] != 0) | (co["capex"] != 0) | (fix != 0)
        last_cost = np.where(cost_any.any(axis=1), T - 1 - cost_any[:, ::-1].argmax(axis=1), -1)
        last_rev = np.where(rev_any.any(axis=1), T - 1 - rev_any[:, ::-1].argmax(axis=1), -2)
        n_irr = np.minimum(T, np.maximum.reduce([e_arr, last_cost + 1, last_rev + 2, np.ones(n, int)]))
        # revenue weight of V: the one product's revenue, or ones when V is the products' revenue
        Rw = np.array([per_proj[i][0][2] if len(per_proj[i]) == 1 else np.ones(T) for i in range(n)])
        A_all, dscr_ts, dscr_abs = _plan_matrices(Rw, net_share, wc_share, u_all, ctax, s_arr, e_arr, scope_m,
                                                  co["opex"], co["sustaining"])
        F_all = _irr_matrices(Rw, net_share, wc_share, s_arr, e_arr, n_irr, co["opex"], co["capex"], fix) \
            if ctx.irr_n else None
        for i in range(n):
            s, e = int(s_arr[i]), int(e_arr[i])
            w, dscr_t = e - s, dscr_ts[i]
            nb = len(dscr_t)
            ddf = dd_all[i, s:e].copy()
            ddf[-1] = df[i, e - 1]
            blocks = _plan_blocks(w, nb, int(dscr_t.max(initial=0)), _TRI_BLOCK_ROWS)
            out[i][d] = _Plan(
                s, e, per_proj[i], A_all[i, :w + 1 + nb, :3 + w], blocks, ddf,
                float(pv_op[i]), float(pv_ci[i]), float(pv_fix[i]),
                float(inputs.income_tax_rate[i]), F_all[i, :int(n_irr[i]), :3 + w] if F_all is not None else None,
                (slice(int(dscr_t[0]), int(dscr_t[-1]) + 1) if whole[i] else dscr_t) if has_scope[i] else None,
                1.0 / sd[i, dscr_abs[i]] if has_scope[i] else None, int(n_irr[i]))
    return out


def _tax_base_time_major(X: np.ndarray, n_cols=None) -> None:
    """In place: rows ``1..`` of ``X`` (time on axis 0, row 0 = zeros), the cumulative sums
    ``S_t`` of the taxable income (the fast kernel's matrix product forms them), become the
    cumulative taxable income after unlimited loss carry-forward, ``max(0, max_{s<=t} S_s)``
    (the identity of :func:`cashflow._loss_carried_forward_tax_base`; its yearly base is the
    first difference).

    ``n_cols[k]``: only the first ``n_cols[k]`` columns are carried in row ``k`` (columns sorted
    by their number of years, longest first); default all.

    A loop over the ~40 years, each step vectorised over every (project, path) row of the batch:
    ``numpy.maximum.accumulate`` along an axis costs 4-10 ns an element in numpy 2.x, this
    about 0.5."""
    n = [X.shape[1]] * X.shape[0] if n_cols is None else n_cols
    for k in range(1, X.shape[0]):
        c = n[k]
        np.maximum(X[k - 1, :c], X[k, :c], out=X[k, :c])


#: Rows (project x path pairs) per batch of the fast kernel: the taxable-income matrix is
#: ``(years, rows)`` float64, about 10 MiB at 32k rows and 40 years.
_FAST_BATCH_ROWS = 32_768
#: Paths per super-block of the fast kernel (a multiple of ``chunk_paths``).
_FAST_BLOCK_PATHS = 10_000
#: IRR rows per :func:`finance.irr` call: about a sixteenth of all the IRR rows, within these
#: bounds. Alone, 2k-row calls are fastest (the working arrays, rows x ~280 grid nodes, stay in
#: cache; 50k rows in one call take twice as long); beside another thread, fewer and longer
#: calls contend less for the interpreter lock (1,000 projects: 8k-16k rows 0.75x the time of
#: 2k rows). 8k rather than 16k: as fast, and half the working memory per lane.
_IRR_BATCH_ROWS = (2048, 8192)


def _usable_cores() -> int:
    """CPUs this process may run on: its affinity mask where the OS has one (a container limited
    to one core still reports the host's count in ``os.cpu_count``), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _run_fast(ctx: _SimContext, n_paths: int, seed: int, chunk_paths: int, memory_budget_bytes: int) -> None:
    """Fast evaluation (module notes): the deterministic model's linear coefficients (read off
    :func:`cashflow.build`), combined per path with the drawn multipliers; only the tax (loss
    carry-forward) is nonlinear and is evaluated per path. Same draws as :func:`_run_reference`.

    With a second core, a second thread builds the plans while the first block of paths is
    drawn, then shares the batches of projects and their IRR rows with this one (numpy and BLAS
    release the interpreter lock in their loops; results identical to one thread)."""
    T, n, used = ctx.T, len(ctx.apps), ctx.used
    row_of = {int(q): r for r, q in enumerate(used)}
    params = _stage_params(ctx.stages, ctx.v_proj, ctx.risks)
    n_blocks = math.ceil(n_paths / chunk_paths)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    # blocks per super-block: about _FAST_BLOCK_PATHS paths, within the memory budget
    per_path = len(used) * T * 8 + n * (3 * 8 + 1) + 2 * n * 8    # draws, and the results (npv, min DSCR)
    sb = max(1, min(_FAST_BLOCK_PATHS // chunk_paths, max(1, memory_budget_bytes // max(1, per_path * chunk_paths))))
    S_max = min(n_paths, sb * chunk_paths)
    pool = ThreadPoolExecutor(max_workers=1) if _usable_cores() > 1 else None
    try:
        get_plans = pool.submit(_plans, ctx, row_of).result if pool is not None else lambda: _plans(ctx, row_of)
        _fast_super_blocks(ctx, get_plans, row_of, params, children, n_paths, n_blocks, chunk_paths, sb, S_max, pool)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _touched(*shape, dtype=float) -> np.ndarray:
    """A new array with every page touched once, in order: first writes scattered over fresh pages
    (the blocks of paths, the groups' columns) fault page by page and cost several times a
    sequential fill on a virtual machine."""
    a = np.empty(shape, dtype=dtype)
    a.fill(0)
    return a


def _fast_super_blocks(ctx, get_plans, row_of, params, children, n_paths, n_blocks, chunk_paths, sb, S_max,
                       pool) -> None:
    """The super-block loop of :func:`_run_fast`: draw the paths of ``sb`` blocks, then evaluate
    every project on them in batches of about ``_FAST_BATCH_ROWS`` (project, path) columns, on
    two lanes (this thread and ``pool``'s) when there is a pool. ``get_plans()`` returns
    :func:`_plans` (waited for after the first draws)."""
    proc, T, n, used = ctx.proc, ctx.T, len(ctx.apps), ctx.used
    Mt_buf = _touched(len(used), T, S_max)                       # price multipliers (process, year, path)
    mult_buf = _touched(3, n, S_max)                             # capex, opex, recovery multipliers
    delay_buf = _touched(n, S_max, dtype=np.int8)
    plans = None
    lanes = 2 if pool is not None else 1
    progress = _Progress(n * n_paths, ctx.progress)
    irr_batch = min(_IRR_BATCH_ROWS[1], max(_IRR_BATCH_ROWS[0], n * ctx.irr_n // 16))
    for b0 in range(0, n_blocks, sb):
        p0 = b0 * chunk_paths
        S = min(n_paths, (b0 + sb) * chunk_paths) - p0
        Mt = Mt_buf[:, :, :S]
        mult, delay = mult_buf[:, :, :S], delay_buf[:, :S]
        tickets = _Tickets(min(n_blocks, b0 + sb) - b0)

        def draw_blocks() -> None:
            """Blocks of this super-block, each from its own stream into its own columns, until
            none is left (both threads draw: the results do not depend on who draws which)."""
            while (j := tickets.take()) is not None:
                b = b0 + j
                q0 = b * chunk_paths - p0
                B = min(chunk_paths, n_paths - b * chunk_paths)
                rng = np.random.Generator(np.random.PCG64(children[b]))
                _ou_shocks(rng, proc, B, T - 1, used, ctx.antithetic, out=Mt[:, 1:, q0:q0 + B])
                _project_draws(rng, ctx.stages, B, ctx.v_proj, ctx.risks,
                               out=(mult[:, :, q0:q0 + B], delay[:, q0:q0 + B]), params=params,
                               antithetic=ctx.antithetic)

        # the second thread joins once it has built the plans (first super-block)
        _on_lanes(lambda k, stop: draw_blocks(), pool)
        _ou_multipliers(proc, Mt[:, 1:], Mt, ctx.vol_scale, ctx.deck, rows=used)    # in place
        capex_m, opex_m, rec_m = mult
        if plans is None:
            plans = get_plans()
            W = max(pl.e - pl.s for per in plans for pl in per)
            H = 1 + max(pl.A.shape[0] for per in plans for pl in per)
            # per lane: outputs of a batch (time, row), see _fast_batch; inputs of one group (flat)
            bufs = [(_touched(H, _FAST_BATCH_ROWS + S_max), _touched((3 + W) * S_max)) for _ in range(lanes)]
            # projects of one primary product one after another: its price rows (T x S, a few MB)
            # stay in the cache while they are gathered, instead of each project fetching them
            order = np.argsort([per[0].comms[0][0] for per in plans], kind="stable")
        irr_lim = max(0, min(S, ctx.irr_n - p0))
        # batches of consecutive projects (``order``), about _FAST_BATCH_ROWS (project, path) columns each
        per_batch = max(1, math.ceil(_FAST_BATCH_ROWS / S))
        batches = [order[j:j + per_batch] for j in range(0, n, per_batch)]
        fx_row = row_of[ctx.fx_i]
        queue = _BatchQueue(len(batches), max(1, round(irr_batch / max(1, per_batch * irr_lim))))

        def lane(k: int, stop: threading.Event) -> None:
            """Batches from the queue, and the IRR runs it completes."""
            X_buf, B_buf = bufs[k]
            while not stop.is_set():
                b = queue.take()
                if b is None:
                    return
                projects = batches[b]
                rows = len(projects) * S
                irr_acc = []
                _fast_batch(ctx, plans, _groups(projects, delay, ctx.max_delay), X_buf[:, :rows], B_buf, Mt, fx_row,
                            rec_m, opex_m, capex_m, p0, irr_lim, irr_acc)
                run = queue.done(b, irr_acc)
                if run is not None:
                    _solve_irr(ctx, run)
                progress.add(rows)
                if k == 0:
                    progress.report()

        _on_lanes(lane, pool)
        progress.report()                                         # the other lane may have ended last


class _Tickets:
    """Numbers ``0..n-1`` handed out in order to whichever thread asks first."""

    def __init__(self, n: int):
        self.n, self._next = n, 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The next number, or None when all are taken."""
        with self._lock:
            if self._next >= self.n:
                return None
            self._next += 1
            return self._next - 1


class _BatchQueue(_Tickets):
    """Batch numbers handed out in order to whichever lane asks first; the IRR rows of each run of
    ``per_call`` consecutive batches are merged (in batch order) for one :func:`finance.irr` call
    by the lane that finishes the run's last batch. The threads' speed decides who does what,
    never what is computed: the results do not depend on it."""

    def __init__(self, n_batches: int, per_call: int):
        super().__init__(n_batches)
        self.per_call = per_call
        self._left = [min(per_call, n_batches - g) for g in range(0, n_batches, per_call)]
        self._irr: list = [None] * n_batches

    def done(self, b: int, irr_acc: list) -> list | None:
        """Keep batch ``b``'s IRR rows (``irr_acc`` of :func:`_fast_batch`); return its run's
        merged rows when ``b`` was the run's last batch to finish, else None."""
        g = b // self.per_call
        run = slice(g * self.per_call, min(self.n, (g + 1) * self.per_call))
        with self._lock:
            self._irr[b] = irr_acc
            self._left[g] -= 1
            if self._left[g]:
                return None
            parts, self._irr[run] = self._irr[run], [None] * (run.stop - run.start)
        return [row for p in parts for row in p]


class _Progress:
    """Fraction of the (project, path) columns done, counted by both lanes and reported to the
    caller's callback from the caller's thread only (Streamlit draws from its script thread),
    whenever it has moved."""

    def __init__(self, total: int, callback: Callable[[float], None] | None):
        self.total, self.callback = total, callback
        self.done, self.reported = 0, 0.0
        self._lock = threading.Lock()

    def add(self, rows: int) -> None:
        with self._lock:
            self.done += rows

    def report(self) -> None:
        frac = self.done / self.total
        if self.callback is not None and frac > self.reported:
            self.reported = frac
            self.callback(frac)


def _on_lanes(work: Callable[[int, threading.Event], None], pool: ThreadPoolExecutor | None) -> None:
    """``work(0, stop)`` on this thread and ``work(1, stop)`` on ``pool`` (when there is one),
    waited for. After an error on this thread ``stop`` is set, so the other lane returns at its
    next batch; the first error is raised."""
    stop = threading.Event()
    others = [pool.submit(work, 1, stop)] if pool is not None else []
    try:
        work(0, stop)
    except BaseException:
        stop.set()
        raise
    finally:
        for f in others:
            if stop.is_set():
                f.exception()                                     # wait for it, keep the first error
            else:
                f.result()


def _groups(projects, delay, max_delay: int) -> list:
    """``(project, delay, paths)`` of a batch of ``projects``: their paths split by the drawn delay
    (each delay has its own plan: the years shift)."""
    if not max_delay:
        return [(i, 0, np.arange(delay.shape[1])) for i in projects]
    out = []
    for i in projects:
        dl = delay[i]
        for d in range(max_delay + 1):
            idx = np.flatnonzero(dl == d)
            if len(idx):
                out.append((i, d, idx))
    return out


def _recovery_multiplier(recovery: float, m: np.ndarray, capped: bool) -> np.ndarray:
    """Multiplier on a product's base ``recovery`` on some paths: the drawn ``m``; for the primary
    product (``capped``) limited so that recovery x multiplier stays at most 100 %."""
    if not capped or recovery <= 0:
        return m
    m = m * recovery
    np.minimum(m, 1.0, out=m)
    m /= recovery
    return m


def _fast_batch(ctx, plans, groups, X, B_buf, Mt, fx_row, rec_m, opex_m, capex_m, p0, irr_lim,
                irr_acc) -> None:
    """Evaluate one batch of (project, delay, paths) groups into ``X`` (``(H, rows)``, reused
    between batches); writes NPV and min DSCR, and appends the cash flows of the IRR paths to
    ``irr_acc`` (see :func:`_solve_irr`).

    Per group, the matrix product ``A @ B`` (:class:`_Plan`) writes the group's columns of ``X``:
    rows ``1..w`` the cumulative taxable income, row ``w + 1`` the NPV of net revenue, the rows
    after it the pre-tax CFADS; all divided by the first product's recovery multiplier ``rr0``
    (the tax base ``max(0, running max)`` is positively homogeneous, so the carry-forward runs on
    the divided rows and the tax is multiplied back by ``rr0``). Then one loop over the years
    carries the losses forward for every column of the batch."""
    X[0] = 0.0                            # the zero before the first year
    # longest plans first, so that year k of the tax loop runs over a prefix of the columns
    groups = sorted(groups, key=lambda g: plans[g[0]][g[1]].e - plans[g[0]][g[1]].s, reverse=True)
    widths = np.array([plans[i][d].e - plans[i][d].s for i, d, _ in groups])
    ends = np.concatenate([[0], np.cumsum([len(idx) for *_, idx in groups])])
    n_long = (widths[None, :] >= np.arange(widths[0] + 1)[:, None]).sum(axis=1)   # groups spanning year k
    recs, off = [], 0
    for i, d, idx in groups:
        pl = plans[i][d]
        s, e, A = pl.s, pl.e, pl.A
        w, nd = e - s, len(idx)
        B = B_buf[:(3 + w) * nd].reshape(3 + w, nd)
        V = B[3:]
        for j, (r, capped, R) in enumerate(pl.comms):              # the primary product first
            rr = _recovery_multiplier(ctx.inputs.recovery[i], rec_m[i, idx], capped)
            if j == 0:
                rr0 = np.maximum(rr, 1e-200)              # > 0: lognormal multipliers
                # mode="clip" (the indices are in range) writes straight into B; "raise" buffers a copy
                np.take(Mt[r, s:e], idx, axis=1, out=V, mode="clip")
                if len(pl.comms) > 1:                     # V becomes revenue (A's weights are ones)
                    V *= R[s:e, None]
            else:
                G = np.take(Mt[r, s:e], idx, axis=1)
                G *= R[s:e, None]
                G *= rr / rr0
                V += G
        o, k = opex_m[i, idx], capex_m[i, idx]
        np.divide(o, rr0, out=B[0])
        np.divide(k, rr0, out=B[1])
        np.divide(1.0, rr0, out=B[2])
        for r0, r1, c in pl.blocks:
            np.matmul(A[r0:r1, :c], B[:c], out=X[1 + r0:1 + r1, off:off + nd])
        ns = int(np.searchsorted(idx, irr_lim))           # paths of this group in the IRR subsample
        fcf = pl.F @ B[:, :ns] if ns else None            # their free cash flow before tax / rr0
        recs.append((i, d, idx, off, o, k, rr0, fcf))
        off += nd
    _tax_base_time_major(X[:1 + widths[0]], ends[n_long].tolist())
    for i, d, idx, off, o, k, rr0, fcf in recs:
        pl = plans[i][d]
        w, nd = pl.e - pl.s, len(idx)
        cols = slice(off, off + nd)
        pv = X[1 + w, cols] - pl.rate * (pl.ddf @ X[1:1 + w, cols])
        pv *= rr0
        ctx.npv[i, p0 + idx] = pv - o * pl.pv_op - k * pl.pv_ci - pl.pv_fix
        if pl.dscr_t is not None:
            ctx.min_dscr[i, p0 + idx] = _fast_min_dscr(pl, X, cols, Mt, fx_row, idx, rr0)
        if fcf is not None:                               # IRR rows: less the tax, times rr0
            ns = fcf.shape[1]
            tax = np.subtract(X[1:1 + w, off:off + ns], X[:w, off:off + ns])
            tax *= pl.rate
            fcf[pl.s:pl.e] -= tax
            fcf *= rr0[:ns]
            irr_acc.append((i, p0 + idx[:ns], fcf.T))


def _solve_irr(ctx: _SimContext, acc: list) -> None:
    """IRR of the collected cash-flow rows, ``acc = [(project, paths, rows), ...]``: one
    :func:`finance.irr` call, written into ``ctx.irr``. The rows are padded with zeros to the model's ``T``
    columns: zeros change neither the IRR nor its flags, and one width for every call makes each
    row's result independent of the rows that share its call (one lane or two agree to the bit).
    Few long calls: each call's Python steps hold the interpreter lock the other lane needs."""
    if not acc:
        return
    rows = np.zeros((sum(len(f) for *_, f in acc), ctx.T))
    k = 0
    for *_, f in acc:
        rows[k:k + len(f), :f.shape[1]] = f
        k += len(f)
    vals = finance.irr(rows)
    k = 0
    for i, pp, _ in acc:
        ctx.irr[i, pp] = vals[k:k + len(pp)]
        k += len(pp)


def _fast_min_dscr(pl: _Plan, X, cols, Mt, fx_row, idx, rr0) -> np.ndarray:
    """Minimum DSCR of one group's paths: CFADS on the DSCR columns from the pre-tax CFADS and the
    cumulative tax base the matrix product left in ``X`` (both divided by ``rr0``, see
    :func:`_fast_batch`), over debt service in USD (``ds x fx_0 / fx_t``, so the ratio is
    ``CFADS x (fx_t / fx_0) / ds``); ``rr0 > 0`` is factored out of the minimum."""
    w, t = pl.e - pl.s, pl.dscr_t
    cf = X[2 + w:2 + w + len(pl.inv_ds), cols]           # pre-tax CFADS / rr0 (scratch rows of X)
    tax = np.subtract(X[1:, cols][t], X[:-1, cols][t])
    tax *= pl.rate
    cf -= tax
    fx = np.take(Mt[fx_row, pl.s:pl.e][t], idx, axis=1)
    fx *= pl.inv_ds[:, None]
    cf *= fx
    m = cf.min(axis=0)
    m *= rr0
    return m


def _run_reference(ctx: "_SimContext", n_paths: int, seed: int, chunk_paths: int, memory_budget_bytes: int) -> None:
    """The tiled reference: one :func:`cashflow.build` call per (project, path) row (slow; kept
    to check :func:`_run_fast` against it)."""
    (apps, scenario, inputs, proc, stages, risks, v_proj, vol_scale, deck, T, dfac, sched, has_loan, fx_i,
     prim_proc, by_proc, prim_coef, npv, min_dscr, irr, irr_n, progress) = (
        ctx.apps, ctx.scenario, ctx.inputs, ctx.proc, ctx.stages, ctx.risks, ctx.v_proj, ctx.vol_scale, ctx.deck,
        ctx.T, ctx.dfac, ctx.sched, ctx.has_loan, ctx.fx_i, ctx.prim_proc, ctx.by_proc, ctx.prim_coef, ctx.npv,
        ctx.min_dscr, ctx.irr, ctx.irr_n, ctx.progress)
    n = len(apps)
    rows_budget = max(1, memory_budget_bytes // _bytes_per_row(T))
    n_blocks = math.ceil(n_paths / chunk_paths)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    total_rows, done_rows = n * n_paths, 0
    for b in range(n_blocks):
        p0 = b * chunk_paths
        B = min(chunk_paths, n_paths - p0)
        rng = np.random.Generator(np.random.PCG64(children[b]))
        mult = np.ones((len(proc.names), B, T))                                   # (P, B, T); unused rows stay 1
        mult[ctx.used] = _price_log_deviations(rng, proc, B, T - 1, vol_scale, deck, rows=ctx.used,
                                               antithetic=ctx.antithetic)
        capex_m, opex_m, rec_m, delay = _project_draws(rng, stages, B, v_proj, risks, antithetic=ctx.antithetic)
        fx_ratio = 1.0 / mult[fx_i]                                              # (B, T): fx_0 / fx_t
        m_proj = max(1, rows_budget // B)
        for s0 in range(0, n, m_proj):
            idx = np.arange(s0, min(n, s0 + m_proj))
            m = len(idx)
            tiled = tile_inputs(inputs, idx, B)
            # effective price multiplier: revenue-weighted mean of the products' multipliers
            rec_eff = np.minimum(inputs.recovery[idx, None] * rec_m[idx], 1.0)
            w_prim = prim_coef[idx, None] * rec_eff                               # (m, B)
            pm = w_prim[:, :, None] * mult[prim_proc[idx]]
            total = w_prim.copy()
            if len(inputs.byproduct_rows):
                sel = np.flatnonzero(np.isin(inputs.byproduct_rows, idx))
                if len(sel):
                    pos = inputs.byproduct_rows[sel] - s0
                    w_by = inputs.byproduct_coef_usd_per_t_ore[sel, None] * rec_m[inputs.byproduct_rows[sel]]
                    np.add.at(total, pos, w_by)
                    np.add.at(pm, pos, w_by[:, :, None] * mult[by_proc[sel]])
            with np.errstate(invalid="ignore", divide="ignore"):
                pm = np.where(total[:, :, None] > 0, pm / np.where(total > 0, total, 1.0)[:, :, None],
                              mult[prim_proc[idx]])
            cf = cashflow.build(tiled, first_year=scenario.first_year,
                                price_multiplier=pm.reshape(m * B, T),
                                capex_multiplier=capex_m[idx].ravel(), opex_multiplier=opex_m[idx].ravel(),
                                recovery_multiplier=rec_m[idx].ravel(), delay_years=delay[idx].ravel())
            Tc = cf.n_periods
            fcf = cf.fcf_usd_m.reshape(m, B, Tc)
            npv[idx, p0:p0 + B] = np.einsum("mbt,mt->mb", fcf, dfac[idx, :Tc])
            lr = np.flatnonzero(has_loan[idx])
            if len(lr):
                cfads = np.zeros((len(lr), B, T))
                cfads[:, :, :Tc] = cf.cfads_usd_m.reshape(m, B, Tc)[lr]
                g = idx[lr]
                ds = sched.debt_service_usd_m[g][:, None, :] * fx_ratio[None, :, :]
                fp = inputs.construction_years[g, None] + delay[g] + 1
                min_dscr[g, p0:p0 + B] = _min_dscr(cfads, ds, sched.principal_usd_m[g][:, None, :], fp)
            if p0 < irr_n:
                k = min(B, irr_n - p0)
                irr[idx, p0:p0 + k] = finance.irr(fcf[:, :k].reshape(m * k, Tc)).reshape(m, k)
            done_rows += m * B
            if progress is not None:
                progress(done_rows / total_rows)


def _deterministic_npv(inputs, scenario, rate) -> np.ndarray:
    cf = cashflow.build(inputs, first_year=scenario.first_year)
    return finance.npv(rate, cf.fcf_usd_m, mid_year=scenario.mid_year)


def _lerp(a, b, t):
    """numpy's linear interpolation for quantiles (``numpy.lib._function_base_impl._lerp``):
    from ``b`` when ``t >= 0.5``, so results equal ``numpy.quantile`` bit for bit."""
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _row_quantiles(x: np.ndarray, qs: Sequence[float], tail: int = 0, overwrite: bool = False):
    """``numpy.quantile(x, qs, axis=1)`` (method 'linear') from one ``numpy.partition`` of the
    rows, and the mean of the ``tail`` smallest values per row (0: not computed). ``x`` must not
    hold NaN; ``overwrite``: partition ``x`` itself (its rows are reordered) instead of a copy.
    ``np.quantile`` partitions once per call and ``nanquantile`` loops over rows; this is the
    same arithmetic (numpy's ``_lerp``) at a fraction of the cost."""
    n = x.shape[1]
    pos = np.asarray(qs, dtype=float) * (n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    kth = set(lo) | set(hi) | ({tail - 1} if 0 < tail < n else set())
    if overwrite:
        x.partition(sorted(kth), axis=1)
        part = x
    else:
        part = np.partition(x, sorted(kth), axis=1)
    a, b = part[:, lo], part[:, hi]
    out = _lerp(a, b, (pos - lo)[None, :]).T
    tail_mean = part[:, :tail].mean(axis=1) if tail else None
    return out, tail_mean


def _row_sd(x: np.ndarray, mean: np.ndarray, rows: int = 64) -> np.ndarray:
    """``x.std(axis=1, ddof=1)`` given the row means, a few rows at a time: the deviations are
    one small scratch array instead of a temporary the size of ``x``."""
    out = np.empty(len(x))
    for r in range(0, len(x), rows):
        d = x[r:r + rows] - mean[r:r + rows, None]
        d *= d
        out[r:r + rows] = d.sum(axis=1)
    out /= x.shape[1] - 1
    return np.sqrt(out)


def _nan_row_quantiles(x: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """``numpy.nanquantile(x, qs, axis=1)`` (method 'linear') from one sort of the rows (NaN sort
    last), instead of nanquantile's loop over rows; all-NaN rows give NaN."""
    srt = np.sort(x, axis=1)
    c = (~np.isnan(x)).sum(axis=1)
    out = np.full((len(qs), x.shape[0]), np.nan)
    ok = np.flatnonzero(c > 0)
    if len(ok):
        srt, c = srt[ok], c[ok]
        pos = np.asarray(qs, dtype=float)[:, None] * (c - 1)[None, :]        # (q, rows)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, (c - 1)[None, :])
        a = np.take_along_axis(srt, lo.T, axis=1).T
        b = np.take_along_axis(srt, hi.T, axis=1).T
        out[:, ok] = _lerp(a, b, pos - lo)
    return out


def _summarise(apps, scenario, npv, min_dscr, irr, loan_krw, has_loan, det, risk_aversion,
               overwrite: bool = False) -> pd.DataFrame:
    """Summary table of :class:`SimulationResult`. ``overwrite``: the rows of ``npv`` and
    ``min_dscr`` may be reordered in place (no copies of them)."""
    n_paths = npv.shape[1]
    k = max(1, int(math.floor(0.1 * n_paths)))
    q, cvar = _row_quantiles(npv, [0.1, 0.5, 0.9], tail=k, overwrite=overwrite)
    mean = npv.mean(axis=1)
    with np.errstate(invalid="ignore"):
        p_dscr1 = np.where(has_loan, (min_dscr < 1.0).mean(axis=1), np.nan)
        p_dscr13 = np.where(has_loan, (min_dscr < 1.3).mean(axis=1), np.nan)
    # P10 of min DSCR over the paths where it is defined (NaN: no year in scope)
    dscr_p10 = np.full(len(apps), np.nan)
    gaps = np.isnan(min_dscr).any(axis=1)
    full = np.flatnonzero(has_loan & ~gaps)
    if len(full) == len(apps):
        dscr_p10[:] = _row_quantiles(min_dscr, [0.1], overwrite=overwrite)[0][0]
    elif len(full):
        dscr_p10[full] = _row_quantiles(min_dscr[full], [0.1], overwrite=True)[0][0]    # a copy already
    part = np.flatnonzero(has_loan & gaps)
    if len(part):
        dscr_p10[part] = _nan_row_quantiles(min_dscr[part], [0.1])[0]
    explo = np.array([a.stage == "exploration" for a in apps])
    succ = np.array([a.success_probability if a.success_probability is not None else np.nan for a in apps], float)
    el_explo = loan_krw * (1 - np.nan_to_num(succ, nan=0.0)) * scenario.write_off_share
    el_later = loan_krw * np.nan_to_num(p_dscr1, nan=0.0) * scenario.lgd
    el = np.where(has_loan, np.where(explo, el_explo, el_later), 0.0)
    basis = np.where(~has_loan, "no loan",
                     np.where(explo, "loan x (1 - success probability) x write-off share",
                              "loan x P(min DSCR < 1) x LGD"))
    if irr.shape[1]:
        irr_q = _nan_row_quantiles(irr, [0.1, 0.5, 0.9])                # rows without any IRR: NaN
        irr_undef = np.isnan(irr).mean(axis=1)
    else:
        irr_q = np.full((3, len(apps)), np.nan)
        irr_undef = np.full(len(apps), np.nan)
    return pd.DataFrame({
        "name": [a.name for a in apps],
        "mineral": [a.mineral for a in apps],
        "stage": [a.stage for a in apps],
        "npv_usd_m": det,
        "npv_mean_usd_m": mean,
        "npv_sd_usd_m": _row_sd(npv, mean) if n_paths > 1 else np.zeros(len(apps)),
        "npv_p10_usd_m": q[0],
        "npv_p50_usd_m": q[1],
        "npv_p90_usd_m": q[2],
        "npv_cvar10_usd_m": cvar,
        "prob_npv_negative": (npv < 0).mean(axis=1),
        "prob_min_dscr_below_1": p_dscr1,
        "prob_min_dscr_below_1_3": p_dscr13,
        "min_dscr_p10": dscr_p10,
        "loan_request_krw_bn": loan_krw,
        "expected_loss_sim_krw_bn": el,
        "expected_loss_basis": basis,
        "irr_p10": irr_q[0],
        "irr_p50": irr_q[1],
        "irr_p90": irr_q[2],
        "irr_share_undefined": irr_undef,
        "risk_adjusted_npv_usd_m": (1 - risk_aversion) * mean + risk_aversion * cvar,
    }, index=pd.Index([a.id for a in apps], name="id"))


def risk_metrics(result: SimulationResult) -> pd.DataFrame:
    """Risk columns for ranking and allocation, index ``id``.

    Columns ``npv_p10_usd_m`` and ``prob_npv_negative`` (read by the scoring helper as
    ``risk_metrics``), ``risk_adjusted_npv_usd_m`` (a value the optimiser can maximise:
    ``(1 - a) x mean NPV + a x CVaR10``, ``a = risk_aversion`` of :func:`simulate`),
    ``npv_mean_usd_m``, ``prob_min_dscr_below_1`` and ``expected_loss_sim_krw_bn``.
    """
    cols = ["npv_p10_usd_m", "prob_npv_negative", "risk_adjusted_npv_usd_m", "npv_mean_usd_m",
            "prob_min_dscr_below_1", "expected_loss_sim_krw_bn"]
    return result.summary[cols].copy()


def portfolio_npv(result: SimulationResult, ids: Sequence[str], weights=None) -> np.ndarray:
    """Simulated total NPV of a set of projects per kept path [USD m].

    Parameters
    ----------
    ids : sequence of str
    weights : array_like or mapping, optional
        Share of each project's NPV counted (e.g. funded share or Korean stake) [fraction];
        default 1 each.

    Returns
    -------
    numpy.ndarray
        float64, one value per kept path. Paths share price draws across projects, so the
        spread reflects the correlation between projects.
    """
    rows = [result.ids.index(i) for i in ids]
    if weights is None:
        w = np.ones(len(rows))
    elif isinstance(weights, Mapping):
        w = np.array([float(weights[i]) for i in ids])
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(rows),):
            raise ValueError("weights must have one entry per id")
    if not rows:
        return np.zeros(result.npv_samples_usd_m.shape[1])
    return w @ result.npv_samples_usd_m[rows].astype(np.float64)


# ----------------------------------------------------------------------------------------------
# one-at-a-time sensitivities
# ----------------------------------------------------------------------------------------------
def _select(apps, ids):
    apps = tuple(apps)
    if ids is None:
        return apps
    by_id = {a.id: a for a in apps}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise KeyError(f"unknown application ids: {unknown}")
    return tuple(by_id[i] for i in ids)


def _point(apps, scenario, ref, inputs, **build_kwargs):
    """NPV and min DSCR with evaluate's rules for a (possibly modified) inputs / scenario."""
    cf = cashflow.build(inputs, first_year=scenario.first_year, **build_kwargs)
    m = evaluate(apps, scenario, ref, cashflows=cf).metrics
    return m["npv_usd_m"].to_numpy(float), m["min_dscr"].to_numpy(float)


#: Tornado settings: input -> (low label, high label).
TORNADO_INPUTS = {
    "price (primary)": ("deck low case", "deck high case"),
    "price (by-products)": ("deck low case", "deck high case"),
    "initial capex": ("-25%", "+25%"),
    "opex": ("-15%", "+15%"),
    "recovery": ("-5%", "+3%"),
    "construction delay": ("none", "+1 year"),
    "discount rate": ("-2 pp", "+2 pp"),
    "fx (KRW/USD)": ("-10%", "+10%"),
    "policy loan rate": ("-1 pp", "+1 pp"),
}


def tornado(apps: Sequence[Application], scenario: Scenario, ref, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One-at-a-time NPV (and minimum DSCR) with each input at its low and high setting.

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``input``, ``low_setting``, ``high_setting``, ``low_npv_usd_m`` (NPV
        with the input at its *low setting*, which need not be the lower NPV: low capex gives a
        higher NPV), ``high_npv_usd_m``, ``base_npv_usd_m``, ``swing`` (= |high - low| [USD m]),
        ``low_min_dscr``, ``high_min_dscr``, ``base_min_dscr``; rows of a project sorted by
        swing, largest first. Settings: :data:`TORNADO_INPUTS`. FX and the loan rate do not
        enter the unlevered USD cash flow: their NPV swing is 0, they move the DSCR only.
    """
    apps = _select(apps, ids)
    if not apps:
        return pd.DataFrame(columns=["id", "input", "low_setting", "high_setting", "low_npv_usd_m",
                                     "high_npv_usd_m", "base_npv_usd_m", "swing", "low_min_dscr",
                                     "high_min_dscr", "base_min_dscr"])
    base_in = cashflow.resolve_inputs(apps, scenario, ref)
    n = base_in.n
    one = np.ones(n)
    base_npv, base_dscr = _point(apps, scenario, ref, base_in)

    def case_inputs(case):
        sc = scenario.replace(price_case=case)
        return cashflow.resolve_inputs(apps, sc, ref)

    lo_in, hi_in = case_inputs("low"), case_inputs("high")
    prim = {c: dataclasses.replace(base_in, price_usd_per_t=x.price_usd_per_t) for c, x in (("low", lo_in), ("high", hi_in))}
    byp = {c: dataclasses.replace(base_in, byproduct_coef_usd_per_t_ore=x.byproduct_coef_usd_per_t_ore)
           for c, x in (("low", lo_in), ("high", hi_in))}
    fx = scenario.fx_krw_per_usd
    variants = {
        "price (primary)": [(scenario, prim[c], {}) for c in ("low", "high")],
        "price (by-products)": [(scenario, byp[c], {}) for c in ("low", "high")],
        "initial capex": [(scenario, base_in, {"capex_multiplier": one * k}) for k in (0.75, 1.25)],
        "opex": [(scenario, base_in, {"opex_multiplier": one * k}) for k in (0.85, 1.15)],
        "recovery": [(scenario, base_in, {"recovery_multiplier": one * k}) for k in (0.95, 1.03)],
        "construction delay": [(scenario, base_in, {}), (scenario, base_in, {"delay_years": np.ones(n, int)})],
        "discount rate": [(scenario.replace(discount_rate=max(0.0, scenario.discount_rate + d)), base_in, {})
                          for d in (-0.02, 0.02)],
        "fx (KRW/USD)": [(scenario.replace(fx_krw_per_usd=fx * k), base_in, {}) for k in (0.9, 1.1)],
        "policy loan rate": [(scenario.replace(policy_loan_rate=max(0.0, scenario.policy_loan_rate + d)), base_in, {})
                             for d in (-0.01, 0.01)],
    }
    frames = []
    for name, ((sc_lo, in_lo, kw_lo), (sc_hi, in_hi, kw_hi)) in variants.items():
        lo_npv, lo_d = _point(apps, sc_lo, ref, in_lo, **kw_lo)
        hi_npv, hi_d = _point(apps, sc_hi, ref, in_hi, **kw_hi)
        frames.append(pd.DataFrame({
            "id": base_in.ids, "input": name,
            "low_setting": TORNADO_INPUTS[name][0], "high_setting": TORNADO_INPUTS[name][1],
            "low_npv_usd_m": lo_npv, "high_npv_usd_m": hi_npv, "base_npv_usd_m": base_npv,
            "swing": np.abs(hi_npv - lo_npv),
            "low_min_dscr": lo_d, "high_min_dscr": hi_d, "base_min_dscr": base_dscr,
        }))
    out = pd.concat(frames, ignore_index=True)
    order = {i: k for k, i in enumerate(base_in.ids)}
    out["_o"] = out["id"].map(order)
    return out.sort_values(["_o", "swing"], ascending=[True, False], kind="stable").drop(columns="_o").reset_index(drop=True)


SPIDER_INPUTS = ("price", "initial capex", "opex", "recovery", "discount rate")


def spider(apps: Sequence[Application], scenario: Scenario, ref, ids: Sequence[str] | None = None,
           multipliers=(0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)) -> pd.DataFrame:
    """NPV with one input scaled by each multiplier, the others at base (spider chart data).

    Inputs: all prices (primary and by-products), initial capex, opex, recovery (capped at
    100 % by the model) and the discount rate (rate x multiplier).

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``input``, ``multiplier``, ``npv_usd_m``.
    """
    apps = _select(apps, ids)
    inp = cashflow.resolve_inputs(apps, scenario, ref)
    n = inp.n
    rate, _ = discount_rates(apps, scenario, ref)
    frames = []
    base_fcf = cashflow.build(inp, first_year=scenario.first_year).fcf_usd_m
    for k in multipliers:
        k = float(k)
        kw = {"price": {"price_multiplier": np.full(n, k)}, "initial capex": {"capex_multiplier": np.full(n, k)},
              "opex": {"opex_multiplier": np.full(n, k)}, "recovery": {"recovery_multiplier": np.full(n, k)}}
        for name in SPIDER_INPUTS:
            if name == "discount rate":
                v = finance.npv(rate * k, base_fcf, mid_year=scenario.mid_year)
            else:
                fcf = cashflow.build(inp, first_year=scenario.first_year, **kw[name]).fcf_usd_m
                v = finance.npv(rate, fcf, mid_year=scenario.mid_year)
            frames.append(pd.DataFrame({"id": inp.ids, "input": name, "multiplier": k,
                                        "npv_usd_m": np.atleast_1d(v)}))
    if not frames:
        return pd.DataFrame(columns=["id", "input", "multiplier", "npv_usd_m"])
    return pd.concat(frames, ignore_index=True)
