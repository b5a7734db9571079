"""Concentration measures of an import mix: China's share, HHI, WGI-weighted HHI, GeoPolRisk."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData, ReferenceDataError

WGI_COLUMNS = ("wgi_va", "wgi_pv", "wgi_ge", "wgi_rq", "wgi_rl", "wgi_cc")
CHINA = "CHN"
#: Oxides of the ree basket that feed NdFeB magnets (the rest cannot displace magnet demand).
MAGNET_OXIDES = ("NdPr", "Dy", "Tb")
WGI_FALLBACK_NOTE = "partners without WGI figures take the median WGI_scaled of countries.csv (assumption)"
_EPS = 1e-12


class SupplyDataError(ReferenceDataError):
    """The supply-chain tables cannot answer a request (names the file, mineral and rule)."""

# ----------------------------------------------------------------------------------------------
# primitives
# ----------------------------------------------------------------------------------------------
def wgi_scaled(ref: ReferenceData, partners: Iterable[str] | None = None) -> pd.Series:
    """Governance risk per country on the EU scale [0-10, 10 worst].

    Parameters
    ----------
    ref : ReferenceData
    partners : iterable of str, optional
        ISO3 codes to return (unknown ones get the median fallback). Default: every country.

    Returns
    -------
    pandas.Series
        ``(2.5 - mean6WGI) * 2`` clipped to [0, 10], index ISO3.

    References
    ----------
    European Commission (2017), see module references [1]_.
    """
    w = ref.countries[list(WGI_COLUMNS)].astype(float).mean(axis=1, skipna=True)
    scaled = ((2.5 - w) * 2.0).clip(0.0, 10.0)
    fallback = float(scaled.median())
    scaled = scaled.fillna(fallback)
    if partners is None:
        return scaled
    idx = pd.Index([str(p) for p in partners])
    return pd.Series([float(scaled.get(p, fallback)) for p in idx], index=idx, name="wgi_scaled")


def hhi(shares: pd.Series) -> float:
    """Herfindahl-Hirschman index ``sum s_c^2`` on shares [fraction] -> [0-1]."""
    s = pd.Series(shares, dtype=float)
    return float((s ** 2).sum())


def hhi_wgi(shares: pd.Series, wgi: pd.Series) -> float:
    """EU governance-weighted concentration ``sum s_c^2 x WGI_scaled_c`` [0-10].

    References
    ----------
    European Commission (2017), module references [1]_.
    """
    s = pd.Series(shares, dtype=float)
    w = pd.Series(wgi, dtype=float).reindex(s.index)
    if w.isna().any():
        raise KeyError(f"no WGI_scaled for partners {list(w.index[w.isna()])}")
    return float((s ** 2 * w).sum())


def geopolrisk(shares: pd.Series, wgi: pd.Series, hhi_production: float) -> float:
    """Importer's geopolitical supply risk [0-1].

    ``GeoPolRisk = HHI_prod x sum_c (s_c x WGI_scaled_c / 10)``

    Notes
    -----
    Gemechu et al. (2016) [2]_ write ``HHI_prod x sum_c (WGI_c x f_c / (P + I))`` with ``f_c``
    imports from c, ``I`` total imports and ``P`` domestic production. Korea's domestic mine
    production of these minerals is taken as zero, so ``f_c / (P + I) = s_c``. The WGI enters on
    the 0-1 scale (``WGI_scaled / 10``), as in the normalised form of Santillan-Saldivar et al.
    (2021) [3]_. ``HHI_prod`` comes from world mine production shares (USGS MCS 2025), with the
    "other countries" remainder counted as one producer (an upper bound on concentration).
    """
    s = pd.Series(shares, dtype=float)
    w = pd.Series(wgi, dtype=float).reindex(s.index)
    return float(hhi_production) * float((s * w / 10.0).sum())


def production_hhi(ref: ReferenceData, mineral: str) -> float:
    """HHI of world mine production of the mineral [0-1]; NaN when no shares are bundled."""
    p = ref.production_shares[ref.production_shares.mineral == mineral]
    if p.empty:
        return float("nan")
    p = p[p.year == p.year.max()]
    s = p.groupby("iso3").share.sum()
    s = s / s.sum()
    return float((s ** 2).sum())


def measures(shares: pd.Series, wgi_scaled: pd.Series, *, hhi_production: float | None = None) -> dict:
    """Concentration measures of one mineral's import shares. Pure.

    Parameters
    ----------
    shares : pandas.Series
        Partner ISO3 -> share of imports [fraction]; normalised here (zeros allowed).
    wgi_scaled : pandas.Series
        ISO3 -> WGI_scaled [0-10, 10 worst] for every partner in ``shares``.
    hhi_production : float, optional
        World production HHI [0-1]; when given, ``geopolrisk`` is computed, else NaN.

    Returns
    -------
    dict
        ``china_share`` [fraction], ``top_supplier`` (ISO3), ``top_share`` [fraction], ``hhi``
        [0-1], ``hhi_wgi`` [0-10], ``geopolrisk`` [0-1], ``n_sources`` (partners with share > 0).
    """
    s = pd.Series(shares, dtype=float).fillna(0.0)
    s = s[s > 0]
    if s.empty or s.sum() <= 0:
        return {"china_share": float("nan"), "top_supplier": None, "top_share": float("nan"), "hhi": float("nan"),
                "hhi_wgi": float("nan"), "geopolrisk": float("nan"), "n_sources": 0}
    s = s / s.sum()
    top = s.idxmax()
    w = pd.Series(wgi_scaled, dtype=float)
    return {
        "china_share": float(s.get(CHINA, 0.0)),
        "top_supplier": str(top),
        "top_share": float(s[top]),
        "hhi": hhi(s),
        "hhi_wgi": hhi_wgi(s, w),
        "geopolrisk": geopolrisk(s, w, hhi_production) if hhi_production is not None and np.isfinite(hhi_production) else float("nan"),
        "n_sources": int(len(s)),
    }
