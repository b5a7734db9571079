"""Country risk: the premium added to the discount rate, a 0-100 country score and loan loss.

Three public measures of the host country are combined into one score (higher = riskier), the
Damodaran premium is added to the discount rate (:func:`risk_premium`), and the policy loan's
expected loss follows the programme's success-contingent terms (:func:`loan_expected_loss`).
Every mapping lives in ``evaluator/data/`` (``country_risk_weights.csv``, ``pd_by_oecd.csv``,
``pd_dscr_multipliers.csv``), each row labelled as a source or an assumption.

References
----------
.. [1] Damodaran, A. (2024). Country Default Spreads and Risk Premiums, January 2024 update
   (``ctryprem.xlsx``): country risk premium = default spread x (sigma_equity / sigma_bond).
.. [2] OECD (2026). Country Risk Classifications of the Participants to the Arrangement on
   Officially Supported Export Credits, valid 30 January 2026 (categories 0-7).
.. [3] Kaufmann, D., Kraay, A. and Mastruzzi, M. (2010). "The Worldwide Governance Indicators:
   Methodology and Analytical Issues." World Bank Policy Research Working Paper 5430 (estimates in
   units of a standard normal, about -2.5 to +2.5).
.. [4] Basel Committee on Banking Supervision (2006). International Convergence of Capital
   Measurement and Capital Standards, para. 287 (foundation IRB LGD 45 % for senior unsecured).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator.reference import DATA_DIR, ReferenceDataError, annual_pd
from evaluator.special_loan import failure_loss_share_of, write_off_listed

__all__ = [
    "WGI_COLUMNS",
    "risk_premium",
    "country_risk_components",
    "country_risk_score",
    "risk_weights",
    "dscr_multipliers",
    "pd_multiplier",
    "loan_expected_loss",
    "loan_safety_metrics",
]

WGI_COLUMNS = ("wgi_va", "wgi_pv", "wgi_ge", "wgi_rq", "wgi_rl", "wgi_cc")
_COMPONENTS = ("oecd_crc", "wgi_mean", "crp")


def risk_premium(ref, iso3: Sequence[str]) -> np.ndarray:
    """Country risk premium added to the discount rate [fraction], one per country code.

    A country without a Damodaran figure takes the mean premium of the countries in the same
    OECD risk category, else the median of all countries (a labelled fallback, not a zero).
    """
    c = ref.countries
    crp = c["crp"].astype(float)
    by_crc = crp.groupby(c["oecd_crc"]).mean()
    out = np.empty(len(iso3))
    memo: dict[str, float] = {}
    for i, code in enumerate(iso3):
        if code in memo:
            out[i] = memo[code]
            continue
        v = crp.get(code, np.nan)
        if not np.isfinite(v):
            crc = c["oecd_crc"].get(code, np.nan)
            v = by_crc.get(crc, np.nan) if crc == crc else np.nan
            if not np.isfinite(v):
                v = float(crp.median())
        out[i] = memo[code] = v
    return out


def _data_dir(ref) -> Path:
    d = Path(getattr(ref, "data_dir", DATA_DIR))
    return d if (d / "country_risk_weights.csv").exists() else DATA_DIR


@functools.lru_cache(maxsize=8)
def _read_weights(path: Path) -> pd.DataFrame:
    w = pd.read_csv(path).set_index("component")
    missing = [c for c in _COMPONENTS if c not in w.index]
    if missing:
        raise ReferenceDataError(f"{path.name}, column 'component': missing rows {missing}")
    w = w.loc[list(_COMPONENTS)]
    for col in ("weight", "x_low", "x_high", "score_at_low", "score_at_high"):
        w[col] = pd.to_numeric(w[col], errors="raise").astype(float)
    if (w["weight"] < 0).any() or w["weight"].sum() <= 0:
        raise ReferenceDataError(f"{path.name}, column 'weight': weights must be >= 0 and not all zero")
    if (w["x_low"] == w["x_high"]).any():
        raise ReferenceDataError(f"{path.name}: x_low must differ from x_high")
    return w


def risk_weights(ref) -> pd.DataFrame:
    """The component table of ``country_risk_weights.csv`` (index ``component``)."""
    return _read_weights(_data_dir(ref) / "country_risk_weights.csv")


def _codes(ref, iso3s: Sequence[str]) -> list[str]:
    codes = [str(c).strip().upper() for c in iso3s]
    unknown = sorted({c for c in codes if c not in ref.countries.index})
    if unknown:
        raise ReferenceDataError(
            f"countries.csv, column 'iso3': unknown country code(s) {', '.join(map(repr, unknown))} "
            "(use an ISO 3166-1 alpha-3 code listed in evaluator/data/countries.csv)")
    return codes


def country_risk_components(ref, iso3s: Sequence[str]) -> pd.DataFrame:
    """Raw and scaled components of the country score, one row per code (index ``iso3``).

    Columns: ``oecd_crc`` [0-7], ``wgi_mean`` [WGI estimate], ``crp`` [fraction], and
    ``score_oecd_crc``, ``score_wgi_mean``, ``score_crp`` [0-100, NaN when the input is missing].
    """
    codes = _codes(ref, iso3s)
    c = ref.countries.loc[codes]
    raw = pd.DataFrame({
        "oecd_crc": c["oecd_crc"].astype(float).to_numpy(),
        # mean over the WGI dimensions that are published (skipna): a missing dimension is not a zero
        "wgi_mean": c[list(WGI_COLUMNS)].astype(float).mean(axis=1, skipna=True).to_numpy(),
        "crp": c["crp"].astype(float).to_numpy(),
    }, index=pd.Index(codes, name="iso3"))
    w = risk_weights(ref)
    for comp in _COMPONENTS:
        x = raw[comp].to_numpy()
        lo, hi = w.at[comp, "x_low"], w.at[comp, "x_high"]
        s_lo, s_hi = w.at[comp, "score_at_low"], w.at[comp, "score_at_high"]
        frac = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        raw[f"score_{comp}"] = s_lo + frac * (s_hi - s_lo)
    return raw


def country_risk_score(ref, iso3s: Sequence[str]) -> np.ndarray:
    """One country risk score per code [0-100, higher = riskier].

    Parameters
    ----------
    ref : evaluator.reference.ReferenceData
    iso3s : sequence of str
        ISO3 codes; an unknown code raises :class:`~evaluator.reference.ReferenceDataError`.

    Returns
    -------
    numpy.ndarray of float

    Notes
    -----
    With the component rows of ``evaluator/data/country_risk_weights.csv`` (weights ``w_k``, a
    labelled assumption; default 0.40 / 0.30 / 0.30)::

        s_crc = 100 * CRC / 7                                  (OECD category 0..7) [2]
        s_wgi = 100 * clip((2.5 - mean(WGI_1..6)) / 5, 0, 1)    (six WGI estimates) [3]
        s_crp = 100 * clip(CRP / 0.15, 0, 1)                    (Damodaran premium) [1]
        score = sum_k w_k s_k / sum_k w_k   over the components k that are available

    A missing component (no OECD category, e.g. Greenland; no Damodaran premium, e.g.
    Afghanistan) is left out and the remaining weights are re-normalised, so a missing figure is
    neither a zero nor a penalty. The WGI mean is taken over the published dimensions. The score
    is monotone: a country worse on every component never scores lower. The bounds of each scale
    are fixed in the data file, so a score never moves when another country is added.

    References
    ----------
    See the module references [1]_ [2]_ [3]_.
    """
    comp = country_risk_components(ref, iso3s)
    w = risk_weights(ref)["weight"].to_numpy()
    s = comp[[f"score_{k}" for k in _COMPONENTS]].to_numpy()
    have = np.isfinite(s)
    wsum = (have * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(wsum > 0, np.where(have, s, 0.0) @ w / np.where(wsum > 0, wsum, 1.0), np.nan)
    return out


# ----------------------------------------------------------------------------------------------
# loan expected loss
# ----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _read_dscr(path: Path) -> pd.DataFrame:
    t = pd.read_csv(path)
    for col in ("min_dscr_from", "min_dscr_to", "pd_multiplier"):
        t[col] = pd.to_numeric(t[col], errors="raise").astype(float)
    t = t.sort_values("min_dscr_from").reset_index(drop=True)
    if (t["pd_multiplier"] < 0).any():
        raise ReferenceDataError(f"{path.name}, column 'pd_multiplier': must be >= 0")
    if not np.allclose(t["min_dscr_to"].to_numpy()[:-1], t["min_dscr_from"].to_numpy()[1:]):
        raise ReferenceDataError(f"{path.name}: DSCR bands must be contiguous")
    return t


def dscr_multipliers(ref) -> pd.DataFrame:
    """The PD multiplier bands of ``pd_dscr_multipliers.csv`` (``[from, to)`` in min DSCR)."""
    d = Path(getattr(ref, "data_dir", DATA_DIR))
    path = d / "pd_dscr_multipliers.csv"
    return _read_dscr(path if path.exists() else DATA_DIR / "pd_dscr_multipliers.csv")


def pd_multiplier(ref, min_dscr) -> np.ndarray:
    """PD multiplier for a project's minimum DSCR (bands ``[from, to)``).

    A DSCR that cannot be computed (NaN: no debt service in an operating year) takes the worst
    band: an unmeasured cover is not treated as a good one.
    """
    t = dscr_multipliers(ref)
    x = np.asarray(min_dscr, dtype=float)
    idx = np.searchsorted(t["min_dscr_from"].to_numpy(), x, side="right") - 1
    idx = np.clip(idx, 0, len(t) - 1)
    mult = t["pd_multiplier"].to_numpy()[idx]
    return np.where(np.isfinite(x), mult, t["pd_multiplier"].max())


def loan_expected_loss(ref, scenario, *, iso3s: Sequence[str], stage: Sequence[str], loan_krw_bn,
                       success_probability, min_dscr, tenor_years, base_case_default=None,
                       write_off_listed=None) -> pd.DataFrame:
    """Expected loss of each project's policy loan [KRW bn], vectorised over projects.

    Parameters
    ----------
    ref : ReferenceData
    scenario : models.scenario.Scenario
        Uses ``write_off_share`` (set by ``loan_terms`` via ``Scenario.with_loan_terms``: 0.90 under
        the 2026 terms, 0.80 under 2025) and ``lgd`` [fraction].
    iso3s, stage : sequences of str
    loan_krw_bn : array [KRW bn]
    success_probability : array [fraction], NaN where not given
    min_dscr : array [-]
    tenor_years : array [yr]
    base_case_default : array of bool, optional
        The loan defaults on the base case (:func:`evaluator.credit.default_test`, the evaluation's
        ``base_case_default``): its cumulative PD is 1.
    write_off_listed : array of bool, optional
        Whether the Decree / Rule lists each project's mineral for a waiver
        (:func:`evaluator.special_loan.write_off_listed`); None = listed (every exploration loan
        success-contingent).

    Returns
    -------
    pandas.DataFrame
        Columns ``annual_pd`` [fraction/yr], ``pd_multiplier`` [-], ``pd_cumulative`` [fraction],
        ``loss_given_event`` [fraction], ``expected_loss_krw_bn`` [KRW bn],
        ``expected_loss_share`` [fraction of the loan; NaN without a loan].

    Notes
    -----
    Exploration loan for a listed mineral (success-contingent: waived in part on failure; the
    rest, ``1 - write_off_share``, repaid by the borrower within ``failure_repayment_years`` of
    ``loan_terms.csv``, at the borrower's own default risk)::

        pd_b(y) = 1 - (1 - borrower_annual_pd) ** y
        EL = loan x (1 - p_success) x [write_off_share + (1 - write_off_share) x pd_b(5) x LGD]
        pd_cumulative = 1 - p_success

    Exploration loan for a mineral the law does not list (no waiver: on failure the borrower owes
    the whole loan over its tenor from its own means; on success the project's default risk)::

        EL = loan x [(1 - p_success) x pd_b(tenor) + p_success x pd_project] x LGD

    Later stages (project-finance default)::

        pd_1y = min(annual_pd(OECD CRC) x m(min DSCR), 1)
        pd_project = pd_cumulative = 1 - (1 - pd_1y) ** tenor      (1 when the base case defaults)
        EL = loan x pd_cumulative x LGD

    The PD is over the loan's life, calibrated to Moody's (2017) project-finance bank loans
    1983-2015 (``pd_by_oecd.csv``: a loan at lender comfort cover defaults at 0.69 %/yr at least,
    6.7 % over ten years, the study's whole-sample rate); the simulation answers the same
    question with the same credit model (:mod:`evaluator.credit`).

    ``annual_pd`` comes from ``pd_by_oecd.csv`` and ``m`` from ``pd_dscr_multipliers.csv`` (both
    labelled assumptions). An exploration loan without a success probability has a NaN loss (the
    scoring screens it out with a reason).
    """
    codes = _codes(ref, iso3s)
    n = len(codes)
    loan = np.asarray(loan_krw_bn, dtype=float).reshape(n)
    p_succ = np.asarray(success_probability, dtype=float).reshape(n)
    tenor = np.asarray(tenor_years, dtype=float).reshape(n)
    explor = np.asarray([str(s) == "exploration" for s in stage], dtype=bool).reshape(n)
    pd1 = np.array([annual_pd(ref, c) for c in codes], dtype=float)
    mult = pd_multiplier(ref, np.asarray(min_dscr, dtype=float).reshape(n))
    pd_adj = np.minimum(pd1 * mult, 1.0)
    pd_cum_later = 1.0 - (1.0 - pd_adj) ** np.maximum(tenor, 0.0)
    if base_case_default is not None:
        pd_cum_later = np.where(np.asarray(base_case_default, dtype=bool).reshape(n), 1.0, pd_cum_later)
    listed = np.ones(n, dtype=bool) if write_off_listed is None else np.asarray(write_off_listed, dtype=bool).reshape(n)
    waived = explor & listed
    unlisted_explor = explor & ~listed
    # the failure loss by the law's list: one home (special_loan.failure_loss_share_of), shared with
    # the simulation's loan book; unlisted, it is pd_b(tenor) x LGD
    fail_share = failure_loss_share_of(ref, scenario, listed, tenor)
    pd_unlisted = (1.0 - p_succ) * fail_share / scenario.lgd + p_succ * pd_cum_later if scenario.lgd > 0 \
        else p_succ * pd_cum_later
    pd_cum = np.where(waived, 1.0 - p_succ, np.where(unlisted_explor, pd_unlisted, pd_cum_later))
    lge = np.where(waived, fail_share, scenario.lgd)
    el = np.where(loan > 0, loan * pd_cum * lge, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(loan > 0, el / np.where(loan > 0, loan, 1.0), np.nan)
    return pd.DataFrame({
        "annual_pd": np.where(waived, np.nan, pd1),
        "pd_multiplier": np.where(waived, np.nan, mult),
        "write_off_listed": listed,
        "pd_cumulative": pd_cum,
        "loss_given_event": lge,
        "expected_loss_krw_bn": el,
        "expected_loss_share": share,
    })


def loan_safety_metrics(ev, scenario, ref) -> pd.DataFrame:
    """Country score, premium and loan expected loss per project of an evaluation (index ``id``).

    Columns: ``country_risk_score`` [0-100], ``risk_premium`` [fraction, Damodaran, whether or not
    the scenario adds it to the rate], the columns of :func:`loan_expected_loss`, and
    ``loan_terms`` (the scenario's "2026", "2024-25" or "2017-23"), ``loan_expected_levy_krw_bn``
    (the special levy's probability-weighted PV, from the evaluation), ``loan_expected_net_cost_krw_bn``
    (expected loss minus expected levy: the government's expected cost of the loan) and
    ``loan_net_cost_share`` [fraction of the loan; NaN without a loan].
    """
    apps = ev.applications
    iso3s = [a.country_iso3 for a in apps]
    el = loan_expected_loss(
        ref, scenario, iso3s=iso3s, stage=[a.stage for a in apps],
        loan_krw_bn=[a.loan_request_krw_bn for a in apps],
        success_probability=[np.nan if a.success_probability is None else a.success_probability for a in apps],
        min_dscr=ev.metrics["min_dscr"].to_numpy(dtype=float),
        tenor_years=[a.loan_tenor_years for a in apps],
        base_case_default=ev.metrics["base_case_default"].to_numpy(dtype=bool) if "base_case_default" in ev.metrics
        else None,
        write_off_listed=write_off_listed(ref, [a.mineral for a in apps]))
    el.index = ev.metrics.index
    el.insert(0, "risk_premium", risk_premium(ref, iso3s))
    el.insert(0, "country_risk_score", country_risk_score(ref, iso3s))
    el["loan_terms"] = scenario.loan_terms
    levy = ev.metrics["loan_expected_levy_krw_bn"].to_numpy(dtype=float) if "loan_expected_levy_krw_bn" in ev.metrics \
        else np.zeros(len(el))
    loan = np.array([a.loan_request_krw_bn for a in apps], dtype=float)
    el["loan_expected_levy_krw_bn"] = levy
    el["loan_expected_net_cost_krw_bn"] = el["expected_loss_krw_bn"].to_numpy(dtype=float) - levy
    with np.errstate(invalid="ignore", divide="ignore"):
        el["loan_net_cost_share"] = np.where(loan > 0, el["loan_expected_net_cost_krw_bn"] / np.where(loan > 0, loan, 1.0),
                                             np.nan)
    return el
