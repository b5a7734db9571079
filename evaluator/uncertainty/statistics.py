"""Statistics of the simulated paths: row quantiles, tail means, standard deviations, the
summary table, risk metrics and portfolio NPV paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator import special_loan


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
        ``prob_min_dscr_below_comfort`` (below ``scenario.lender_min_dscr``; NaN without a loan), ``min_dscr_p10``,
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


def _lerp(a, b, t):
    """numpy's linear interpolation for quantiles (``numpy.lib._function_base_impl._lerp``):
    from ``b`` when ``t >= 0.5``, so results equal ``numpy.quantile`` bit for bit."""
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def row_quantiles(x: np.ndarray, qs: Sequence[float], tail: int = 0, overwrite: bool = False):
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


def row_sd(x: np.ndarray, mean: np.ndarray, rows: int = 64) -> np.ndarray:
    """``x.std(axis=1, ddof=1)`` given the row means, a few rows at a time: the deviations are
    one small scratch array instead of a temporary the size of ``x``."""
    out = np.empty(len(x))
    for r in range(0, len(x), rows):
        d = x[r:r + rows] - mean[r:r + rows, None]
        d *= d
        out[r:r + rows] = d.sum(axis=1)
    out /= x.shape[1] - 1
    return np.sqrt(out)


def nan_row_quantiles(x: np.ndarray, qs: Sequence[float]) -> np.ndarray:
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


def summarise(apps, scenario, npv, min_dscr, irr, loan_krw, has_loan, det, risk_aversion,
               overwrite: bool = False, defaulted=None, ref=None) -> pd.DataFrame:
    """Summary table of :class:`SimulationResult`. ``overwrite``: the rows of ``npv`` and
    ``min_dscr`` may be reordered in place (no copies of them). ``defaulted`` ``(n, paths)``: the
    loan's default on each path (:func:`evaluator.credit.default_test` and the baseline hazard);
    ``prob_default`` is its mean (None: a minimum DSCR below 1 stands for it)."""
    n_paths = npv.shape[1]
    k = max(1, int(math.floor(0.1 * n_paths)))
    q, cvar = row_quantiles(npv, [0.1, 0.5, 0.9], tail=k, overwrite=overwrite)
    mean = npv.mean(axis=1)
    with np.errstate(invalid="ignore"):
        p_dscr1 = np.where(has_loan, (min_dscr < 1.0).mean(axis=1), np.nan)
        p_dscr13 = np.where(has_loan, (min_dscr < scenario.lender_min_dscr).mean(axis=1), np.nan)
        p_default = np.where(has_loan, (min_dscr < 1.0).mean(axis=1) if defaulted is None else defaulted.mean(axis=1),
                             np.nan)
    # P10 of min DSCR over the paths where it is defined (NaN: no year in scope)
    dscr_p10 = np.full(len(apps), np.nan)
    gaps = np.isnan(min_dscr).any(axis=1)
    full = np.flatnonzero(has_loan & ~gaps)
    if len(full) == len(apps):
        dscr_p10[:] = row_quantiles(min_dscr, [0.1], overwrite=overwrite)[0][0]
    elif len(full):
        dscr_p10[full] = row_quantiles(min_dscr[full], [0.1], overwrite=True)[0][0]    # a copy already
    part = np.flatnonzero(has_loan & gaps)
    if len(part):
        dscr_p10[part] = nan_row_quantiles(min_dscr[part], [0.1])[0]
    explo = np.array([a.stage == "exploration" for a in apps])
    succ = np.array([a.success_probability if a.success_probability is not None else np.nan for a in apps], float)
    # the failure loss by the law's list (evaluator.special_loan.failure_loss_share: the write-off only
    # for the listed minerals, the rest at the borrower's default risk)
    fail_share = special_loan.failure_loss_share(ref, scenario, [a.mineral for a in apps],
                                                 [a.loan_tenor_years for a in apps])
    el_explo = loan_krw * (1 - np.nan_to_num(succ, nan=0.0)) * fail_share
    el_later = loan_krw * np.nan_to_num(p_default, nan=0.0) * scenario.lgd
    el = np.where(has_loan, np.where(explo, el_explo, el_later), 0.0)
    basis = np.where(~has_loan, "no loan",
                     np.where(explo, "loan x (1 - success probability) x failure loss share",
                              "loan x P(default) x LGD"))
    if irr.shape[1]:
        irr_q = nan_row_quantiles(irr, [0.1, 0.5, 0.9])                # rows without any IRR: NaN
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
        "npv_sd_usd_m": row_sd(npv, mean) if n_paths > 1 else np.zeros(len(apps)),
        "npv_p10_usd_m": q[0],
        "npv_p50_usd_m": q[1],
        "npv_p90_usd_m": q[2],
        "npv_cvar10_usd_m": cvar,
        "prob_npv_negative": (npv < 0).mean(axis=1),
        "prob_min_dscr_below_1": p_dscr1,
        "prob_min_dscr_below_comfort": p_dscr13,
        "prob_default": p_default,
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


