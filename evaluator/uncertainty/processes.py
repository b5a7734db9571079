"""Price and project-risk processes: mean-reverting commodity and FX paths, capex / opex /
recovery multipliers and construction delays by stage (module notes of :mod:`evaluator.uncertainty`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

PRICE_PROCESSES_FILE = "price_processes.csv"
FX_PROCESS = "fx_krw_per_usd"



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
    path = Path(path) if path is not None else Path(__file__).resolve().parents[1] / "data" / "project_risks.csv"
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
        base = Path(getattr(ref, "data_dir", None) or Path(__file__).resolve().parents[1] / "data")
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


def antithetic_half(n_paths: int, antithetic: bool) -> int:
    """Paths drawn independently in a block; with antithetic pairs path ``h + j`` mirrors path ``j``."""
    return (n_paths + 1) // 2 if antithetic else n_paths


def ou_shocks(rng, proc: PriceProcesses, n_paths: int, n_years: int, rows=None, antithetic: bool = True,
               out: np.ndarray | None = None) -> np.ndarray:
    """Correlated standard-normal shocks of one block of paths, shape
    ``(len(rows), n_years, n_paths)`` (written into ``out`` if given, any strides).

    Only the processes ``rows`` are drawn, with the Cholesky factor of their own correlation
    block (the marginal of the joint normal). With ``antithetic`` the second half of the paths
    takes the negated shocks of the first (module notes, "Antithetic pairs")."""
    rows = np.arange(len(proc.names)) if rows is None else np.asarray(rows, dtype=int)
    h = antithetic_half(n_paths, antithetic)
    chol = np.linalg.cholesky(proc.corr[np.ix_(rows, rows)])
    z = rng.standard_normal((n_years * h, len(rows)))                           # row = year * h + path
    eps = (chol @ z.T).reshape(len(rows), n_years, h)
    if out is None:
        out = np.empty((len(rows), n_years, n_paths))
    out[:, :, :h] = eps
    np.negative(eps[:, :, :n_paths - h], out=out[:, :, h:])
    return out


def ou_multipliers(proc: PriceProcesses, eps: np.ndarray, out: np.ndarray, vol_scale: float, deck: str = "mean",
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


def price_log_deviations(rng, proc: PriceProcesses, n_paths: int, n_years: int, vol_scale: float,
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
    ou_multipliers(proc, ou_shocks(rng, proc, n_paths, n_years, rows, antithetic), out, vol_scale, deck,
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
    y = price_log_deviations(rng, proc, n_paths, n_years, vol_scale, log=True, antithetic=False)  # independent paths
    # y started at 0 = deviation of a path started at mu; a path from x0 adds the decaying gap
    decay = np.exp(-proc.kappa[:, None] * np.arange(n_years + 1)[None, :])
    return mu[:, None, None] + ((x0 - mu)[:, None] * decay)[:, None, :] + y



def lognormal_log_params(mean, sd):
    mean = np.asarray(mean, float)
    s2 = np.log1p((np.asarray(sd, float) / mean) ** 2)
    return np.log(mean) - 0.5 * s2, np.sqrt(s2)


def stage_params(stages: Sequence[str], vol_scale: float, risks: Mapping[str, StageRisk]) -> dict:
    """Per-project parameters of :func:`project_draws` (log-mean and log-sd of the capex, opex and
    recovery multipliers, already scaled by ``vol_scale``; delay survival ``(n, k)``)."""
    r = [risks[s] for s in stages]
    n = len(r)
    cm_mu, cm_s = lognormal_log_params([x.capex_mean for x in r], [x.capex_sd for x in r])
    om_mu, om_s = lognormal_log_params(np.ones(n), [x.opex_sd for x in r])
    rm_mu, rm_s = lognormal_log_params(np.ones(n), [x.recovery_sd for x in r])
    kmax = max((len(x.delay_survival) for x in r), default=0)
    surv = np.zeros((n, kmax))
    for i, x in enumerate(r):
        surv[i, : len(x.delay_survival)] = x.delay_survival
    v = vol_scale
    return {"mu": np.stack([cm_mu, om_mu, rm_mu])[:, :, None] * v, "sd": np.stack([cm_s, om_s, rm_s])[:, :, None] * v,
            "surv": np.minimum(1.0, v * surv)}


def project_draws(rng, stages: Sequence[str], n_paths: int, vol_scale: float, risks: Mapping[str, StageRisk],
                   out=None, params: dict | None = None, antithetic: bool = True):
    """Capex, opex, recovery multipliers and extra construction years, shape ``(n, paths)``.

    ``out``: optional ``(mult, delay)`` to fill, ``mult`` of shape ``(3, n, paths)`` (capex, opex,
    recovery) and ``delay`` ``(n, paths)`` (any strides); ``params``: :func:`stage_params`.
    With ``antithetic`` the second half of the paths mirrors the first (``-z``, ``1 - u``)."""
    n = len(stages)
    h = antithetic_half(n_paths, antithetic)
    m = n_paths - h
    p = params if params is not None else stage_params(stages, vol_scale, risks)
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


def max_delay_years(stages, vol_scale, risks) -> int:
    if vol_scale <= 0:
        return 0
    return max((sum(1 for p in risks[s].delay_survival if p > 0) for s in stages), default=0)


