"""Korea's import basis per mineral (:class:`MineralSupply`), computed once per reference data."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData, ReferenceDataError
from evaluator.supply.chain import _check_basis, _tables, counterfactual_volumes_by_year, default_window, has_chain, score_years, window_volumes
from evaluator.supply.concentration import CHINA, SupplyDataError, measures, production_hhi, wgi_scaled


@dataclass(frozen=True)
class MineralSupply:
    """Korea's imports of one mineral before any project.

    Attributes
    ----------
    mineral : str
    basis : {'quantity', 'value'}
    year : int or None
        Last trade year of the window (None for minerals with assumed shares only).
    volumes : pandas.Series
        Partner ISO3 -> REFERENCE volumes the score and the portfolio effect use: the base-case
        counterfactual averaged over the scoring years [t unit/yr, quantity] or [kUSD/yr, value];
        for rare earths the Nd+Pr+Dy+Tb part. NaN-valued when the mineral has assumed shares only.
    shares : pandas.Series
        Partner ISO3 -> share of ``volumes`` [fraction], descending.
    measures : dict
        :func:`measures` of ``shares`` (with GeoPolRisk).
    wgi : pandas.Series
        WGI_scaled [0-10] of every country in ``countries.csv`` and of the partners.
    hhi_production : float
        World production HHI [0-1].
    assumed : bool
        True when the shares come from ``korea_imports_assumed.csv`` (no volumes).
    unit : str
        Chain unit (``t REO``, ``t LCE`` ...) or ``kUSD``.
    window : tuple of int or None
        Trade years averaged.
    window_volumes : pandas.Series or None
        Partner -> window average [unit/yr] on the scored basis (before the demand path).
    window_content : pandas.Series or None
        Partner -> window average of ALL the content (TREO for rare earths) [unit/yr].
    """

    mineral: str
    basis: str
    year: int | None
    volumes: pd.Series = field(repr=False)
    shares: pd.Series = field(repr=False)
    measures: dict
    wgi: pd.Series = field(repr=False)
    hhi_production: float
    assumed: bool
    unit: str = ""
    window: tuple | None = None
    window_volumes: pd.Series | None = field(default=None, repr=False)
    window_content: pd.Series | None = field(default=None, repr=False)

    @property
    def total(self) -> float:
        """Total reference imports [unit/yr or kUSD/yr]."""
        return float(self.volumes.sum(min_count=1))

    @property
    def incumbent(self) -> str | None:
        """ISO3 of the baseline top supplier."""
        return self.measures["top_supplier"]


#: baseline() and other per_reference() results per reference-data object; entries go when the
#: object is collected.
_BASELINES: dict[int, dict] = {}


def baseline(ref: ReferenceData, mineral: str, *, basis: str = "quantity", year: int | None = None,
             window: tuple[int, int] | None = None, case: str = "base") -> MineralSupply:
    """Cached :func:`compute_baseline` (the result is shared: treat it as read-only).

    ``year`` (kept for callers of the one-year basis) sets a one-year window ``(year, year)``.
    """
    if year is not None and window is None:
        window = (int(year), int(year))
    k = (mineral, basis, tuple(window) if window else None, case)
    return per_reference(ref, k, lambda: compute_baseline(ref, mineral, basis=basis, window=window, case=case))


def per_reference(ref: ReferenceData, key: tuple, compute):
    """``compute()``, computed once per reference-data object and ``key`` (a hashable tuple that
    names everything else the result depends on); entries go when the object is collected. The
    result is shared: treat it as read-only."""
    per_ref = _BASELINES.get(id(ref))
    if per_ref is None:
        per_ref = _BASELINES[id(ref)] = {}
        weakref.finalize(ref, _BASELINES.pop, id(ref), None)
    if key not in per_ref:
        per_ref[key] = compute()
    return per_ref[key]


def compute_baseline(ref: ReferenceData, mineral: str, *, basis: str = "quantity",
                     window: tuple[int, int] | None = None, case: str = "base") -> MineralSupply:
    """Korea's chain imports of a mineral by partner, reference volumes and concentration measures.

    Parameters
    ----------
    ref : ReferenceData
    mineral : str
    basis : {'quantity', 'value'}
        Contained units [t unit] or import value [kUSD].
    window : (int, int), optional
        Trade years averaged (default :func:`default_window`).
    case : {'low', 'base', 'high'}
        Demand path for the reference volumes.

    Returns
    -------
    MineralSupply
    """
    _check_basis(basis)
    if mineral not in ref.minerals.index:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown mineral {mineral!r}")
    hp = production_hhi(ref, mineral)
    every = wgi_scaled(ref)
    if not has_chain(ref, mineral):
        a = ref.korea_imports_assumed[ref.korea_imports_assumed.mineral == mineral]
        if a.empty:
            raise SupplyDataError(f"korea_imports_chain.csv / korea_imports_assumed.csv: no import data for {mineral!r}")
        shares = a.groupby("partner_iso3").share.sum().astype(float)
        shares = (shares / shares.sum()).sort_values(ascending=False)
        v = pd.Series(np.nan, index=shares.index)
        w = wgi_scaled(ref, shares.index)
        every = pd.concat([every, w[~w.index.isin(every.index)]])
        v.index.name = shares.index.name = "partner_iso3"
        return MineralSupply(mineral, basis, None, v, shares.rename("share"), measures(shares, w, hhi_production=hp),
                             every, hp, True, unit="", window=None)
    win = tuple(window) if window else default_window(ref)
    wv = window_volumes(ref, mineral, window=win, basis=basis, elements=True)
    content = window_volumes(ref, mineral, window=win, basis=basis, elements=False)
    y0, y1 = score_years(ref)
    ref_v = sum(v.reindex(wv.index.union([CHINA]), fill_value=0.0)
                for v in counterfactual_volumes_by_year(ref, mineral, range(y0, y1 + 1), wv, case)) / (y1 - y0 + 1)
    ref_v = ref_v[ref_v > 0].sort_values(ascending=False)
    ref_v.index.name = "partner_iso3"
    ref_v.name = "volume"
    shares = (ref_v / ref_v.sum()).rename("share")
    w = wgi_scaled(ref, shares.index)
    every = pd.concat([every, w[~w.index.isin(every.index)]])
    unit = str(_tables(ref).units.at[mineral, "chain_unit"]) if basis == "quantity" else "kUSD"
    return MineralSupply(mineral, basis, win[1], ref_v, shares, measures(shares, w, hhi_production=hp), every, hp,
                         False, unit=unit, window=win, window_volumes=wv, window_content=content)
