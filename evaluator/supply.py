"""Supply security across the value chain: Korea's import dependence per mineral and what projects change.

Basis (issue 15)
----------------
Per mineral, Korea's imports are counted across the value chain (ores and concentrates,
intermediates, refined chemicals and metals, and the first manufactured forms: NdFeB magnets for
rare earths, artificial graphite / anode material for graphite) in ONE contained-content unit
(``supply_chain_units.csv``: t REO, t LCE, t C, t Ni, t Co, t Mn, t Sb, t Cu, t WO3 ...). Each HS6
code has a content factor [t unit / t traded] with its source in ``hs_content.csv`` (a lower factor
for rows below a unit value where a code mixes forms: cobalt hydroxide traded as 8105 at
4.6-6.9 USD/kg). The rows are ``korea_imports_chain.csv``: CEPII BACI where it has the code, China's
mirror exports where it does not (magnets, artificial graphite), published Korean figures where
neither exists (labelled), or an uploaded customs extract that replaces them code by code
(:mod:`evaluator.customs`). Partner volumes are averaged over a window of trade years (default the
three latest, ``supply_score_scale.csv``); a code without data in the window uses its latest year
(labelled ``carried``).

Rare earths are matched element by element: the scored basis is the NdPr + Dy + Tb part of the
chain (``hs_content.magnet_share``: magnets 1, cerium compounds 0 ...), and a project counts only
the NdPr + Dy + Tb share of its basket. La and Ce cannot displace magnet demand.

Time path and counterfactual
----------------------------
Korea's demand follows ``supply_demand_paths.csv`` (low / base / high; IEA Global Critical
Minerals Outlook 2025 growth factors as a labelled global proxy) with the window average at index
1. Without the projects, China's share per year is ``supply_china_counterfactual.csv`` (blank = the
window's partner mix persists, labelled). The *reference* volumes used for scoring are the base-case
counterfactual averaged over the scoring years (``score_first_year`` .. ``score_last_year``,
2030-2035).

A project's contribution
------------------------
Payable Korean offtake (``payable_t x korea_offtake_share`` from the cash-flow table, so from
first production with its ramp-up), times the unit factor of the product, times the magnet-element
share for rare earths, optionally times the probability of reaching production at the project's
stage. It is bought from the country where the product is refined or separated
(``processing_country_iso3``, default the host): output toll-refined in China adds to China's
volume and brings no benefit against China.

How additions change imports (``scenario.displacement_rule``): see :func:`apply_additions`. All
projects of one mineral are applied jointly (added volumes summed per supplier), so two projects
never both claim the same reduction.

Measures (on partner shares ``s_c`` [fraction])
-----------------------------------------------
``china_share``, ``top_share`` / ``top_supplier``, ``hhi = sum s_c^2``, ``hhi_wgi = sum s_c^2 x
WGI_scaled_c`` (EU criticality method [1]_), ``geopolrisk`` (GeoPolRisk form [2]_ [3]_).
``WGI_scaled_c = (2.5 - mean6WGI_c) * 2`` clipped to [0, 10] (0 best); partners without WGI
figures take the median (:data:`WGI_FALLBACK_NOTE`).

Score (one function for ranking, allocation check, projection and explanation)
--------------------------------------------------------------------------------
``r`` = reduction of the incumbent (baseline top supplier)'s share on the reference volumes
[fraction]. ``value(r) = 100 x w_m x r / (r + r_half)`` with ``w_m`` the designation weight and
``r_half`` from ``supply_score_scale.csv`` (0.10, reasoning there): concave, strictly increasing,
below 100 for every finite project, no saturation at the 50 % target. A project's
``diversification_score`` is :func:`joint_benefit` of the project alone; a set's value is the sum
over minerals of ``value(r_m(set))`` with the set applied jointly. Because ``r`` is concave in the
added volume under each displacement rule and ``value`` is concave increasing with value(0) = 0,
the joint value is sub-additive (tested with hypothesis). A project whose scored offtake exceeds
``large_offtake_share`` (0.5) of Korea's reference chain demand is flagged, not capped.

References
----------
.. [1] European Commission (2017). Methodology for establishing the EU list of critical raw
   materials. Publications Office of the EU, doi:10.2873/769526.
.. [2] Gemechu, E. D., Helbig, C., Sonnemann, G., Thorenz, A. and Tuma, A. (2016). Import-based
   indicator for the geopolitical supply risk of raw materials in life cycle sustainability
   assessments. Journal of Industrial Ecology 20(1): 154-165. doi:10.1111/jiec.12279.
.. [3] Santillan-Saldivar, J. et al. (2021). An improved resource midpoint characterization method
   for supply risk of resources. Int. J. Life Cycle Assess. 27: 457-468.
.. [4] IEA (2025). Global Critical Minerals Outlook 2025. International Energy Agency, Paris.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData, ReferenceDataError, designation_weight, load_reference

__all__ = [
    "MineralSupply",
    "SupplyDataError",
    "WGI_COLUMNS",
    "MAGNET_OXIDES",
    "wgi_scaled",
    "hhi",
    "hhi_wgi",
    "geopolrisk",
    "production_hhi",
    "measures",
    "chain_rows",
    "window_volumes",
    "demand_index",
    "counterfactual_volumes",
    "counterfactual_volumes_by_year",
    "baseline",
    "compute_baseline",
    "apply_additions",
    "import_units",
    "diversifying_units",
    "additions_by_mineral",
    "score_value",
    "gap_volume",
    "portfolio_effect",
    "project_benefits",
    "joint_benefit",
    "projection_by_year",
    "after_in_year",
    "effect_in_year",
    "partner_shares_in_year",
    "share_basis",
    "offtake_from_evaluation",
    "offtake_by_year_from_evaluation",
    "explain_project",
    "explain_portfolio",
    "explanation_text",
    "chain_table",
    "default_window",
    "score_years",
    "has_chain",
    "element_share",
    "production_probability",
]

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


# ----------------------------------------------------------------------------------------------
# the chain basis: HS rows -> contained units -> window average by partner
# ----------------------------------------------------------------------------------------------
def _tables(ref: ReferenceData):
    t = getattr(ref, "supply_chain", None)
    if t is None:
        raise SupplyDataError("reference data without supply-chain tables (evaluator/data/hs_content.csv ...)")
    return t


def _scale(ref: ReferenceData, key: str) -> float:
    s = _tables(ref).score_scale
    if key not in s:
        raise SupplyDataError(f"supply_score_scale.csv, column 'key': missing row {key!r}")
    return float(s[key])


def default_window(ref: ReferenceData) -> tuple[int, int]:
    """Default window of trade years ``(first, last)`` from ``supply_score_scale.csv``."""
    last = int(_scale(ref, "window_last_year"))
    return last - int(_scale(ref, "window_years")) + 1, last


def score_years(ref: ReferenceData) -> tuple[int, int]:
    """Years whose average the score is computed on (``score_first_year``, ``score_last_year``)."""
    return int(_scale(ref, "score_first_year")), int(_scale(ref, "score_last_year"))


def has_chain(ref: ReferenceData, mineral: str) -> bool:
    """True when the mineral has rows in ``korea_imports_chain.csv`` and a chain unit."""
    t = _tables(ref)
    return mineral in t.units.index and bool((t.imports.mineral == mineral).any())


def chain_rows(ref: ReferenceData, mineral: str) -> pd.DataFrame:
    """Korea's chain import rows of one mineral with their contained content.

    Returns
    -------
    pandas.DataFrame
        The ``korea_imports_chain.csv`` rows plus ``stage``, ``unit_value_usd_per_kg``,
        ``content_factor`` [t unit / t traded, after the unit-value rule], ``units`` [t unit],
        ``magnet_share`` [fraction] and ``magnet_units`` [t unit of Nd, Pr, Dy, Tb] (= ``units``
        for minerals without element matching).
    """
    t = _tables(ref)
    r = t.imports[t.imports.mineral == mineral].copy()
    hs = t.hs_content.reindex(r.hs6)
    q = pd.to_numeric(r.quantity_t, errors="coerce").to_numpy(float)
    v = pd.to_numeric(r.value_kusd, errors="coerce").to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.where(q > 0, v / q, np.nan)  # kUSD / t = USD / kg
    f = hs.content_factor.to_numpy(float)
    thr = pd.to_numeric(hs.low_uv_below_usd_per_kg, errors="coerce").to_numpy(float)
    low = pd.to_numeric(hs.low_uv_factor, errors="coerce").to_numpy(float)
    f = np.where(np.isfinite(thr) & np.isfinite(uv) & (uv < thr), low, f)
    r["stage"] = hs.stage.to_numpy()
    r["unit_value_usd_per_kg"] = uv
    r["content_factor"] = f
    r["units"] = np.nan_to_num(q) * f
    matching = str(t.units.at[mineral, "element_matching"]) if mineral in t.units.index else ""
    ms = pd.to_numeric(hs.magnet_share, errors="coerce").to_numpy(float) if matching == "magnet" else np.ones(len(r))
    r["magnet_share"] = np.nan_to_num(ms, nan=0.0)
    r["magnet_units"] = r["units"] * r["magnet_share"]
    return r


def _window_rows(rows: pd.DataFrame, window: tuple[int, int]) -> pd.DataFrame:
    """Rows of each code inside the window; a code without any year in it uses its latest year
    (or, with none before the window ends, its earliest): labelled ``carried`` in ``window_note``."""
    lo, hi = window
    parts = []
    for _code, g in rows.groupby("hs6", sort=True):
        inside = g[(g.year >= lo) & (g.year <= hi)]
        if len(inside):
            parts.append(inside.assign(window_note="", n_years=inside.year.nunique()))
            continue
        before = g[g.year < lo]
        y = int(before.year.max()) if len(before) else int(g.year.min())
        parts.append(g[g.year == y].assign(window_note=f"carried from {y}", n_years=1))
    return pd.concat(parts, ignore_index=True) if parts else rows.assign(window_note="", n_years=1)


def window_volumes(ref: ReferenceData, mineral: str, *, window: tuple[int, int] | None = None,
                   basis: str = "quantity", elements: bool = True) -> pd.Series:
    """Korea's average yearly chain imports of a mineral by partner over the window.

    Parameters
    ----------
    mineral : str
    window : (int, int), optional
        First and last trade year; default :func:`default_window`. Each code is averaged over the
        years of the window in which it has data.
    basis : {'quantity', 'value'}
        Contained units [t unit/yr] or import value [kUSD/yr].
    elements : bool
        For element-matched minerals (rare earths), only the Nd, Pr, Dy, Tb part (default);
        False gives all the content (TREO).

    Returns
    -------
    pandas.Series
        Index ``partner_iso3``, positive volumes, descending.
    """
    _check_basis(basis)
    rows = chain_rows(ref, mineral)
    if rows.empty:
        raise SupplyDataError(f"korea_imports_chain.csv: no rows for mineral {mineral!r}")
    w = _window_rows(rows, window or default_window(ref))
    if basis == "quantity":
        x = w["magnet_units"] if elements else w["units"]
    else:
        x = pd.to_numeric(w.value_kusd, errors="coerce").fillna(0.0) * (w["magnet_share"] if elements else 1.0)
    per_year = (x / w["n_years"]).groupby(w["partner_iso3"]).sum()
    per_year = per_year[per_year > 0].astype(float).sort_values(ascending=False)
    per_year.index.name = "partner_iso3"
    return per_year


def chain_table(ref: ReferenceData, mineral: str, *, window: tuple[int, int] | None = None) -> pd.DataFrame:
    """Per HS code: stage, content factor, tonnes traded and contained, China share, source kinds.

    The per-mineral audit table (issue 15's closing table). Averages over the window per code.

    Returns
    -------
    pandas.DataFrame
        Index ``hs6``: ``stage``, ``content_factor`` (mean after the unit-value rule), ``traded_t``
        [t/yr], ``units`` [t unit/yr], ``magnet_units`` [t unit/yr], ``china_share_units``
        [fraction], ``value_kusd`` [kUSD/yr], ``source_kind``, ``window_note``.
    """
    rows = chain_rows(ref, mineral)
    w = _window_rows(rows, window or default_window(ref))
    w = w.assign(traded=pd.to_numeric(w.quantity_t, errors="coerce").fillna(0.0) / w.n_years,
                 u=w["units"] / w.n_years, mu=w["magnet_units"] / w.n_years,
                 val=pd.to_numeric(w.value_kusd, errors="coerce").fillna(0.0) / w.n_years)
    w["u_chn"] = w.u.where(w.partner_iso3 == CHINA, 0.0)
    g = w.groupby("hs6")
    out = pd.DataFrame({
        "stage": g.stage.first(), "content_factor": g.content_factor.mean(), "traded_t": g.traded.sum(),
        "units": g.u.sum(), "magnet_units": g.mu.sum(), "value_kusd": g.val.sum(),
        "china_share_units": g.u_chn.sum() / g.u.sum().where(g.u.sum() > 0),
        "source_kind": g.source_kind.agg(lambda s: ";".join(sorted(set(s)))),
        "window_note": g.window_note.first(),
    })
    return out


def demand_index(ref: ReferenceData, mineral: str, year, case: str = "base") -> np.ndarray:
    """Korea's chain demand relative to the window average [1 = window], by year.

    Linear between the years of ``supply_demand_paths.csv``, flat outside; 1.0 for minerals
    without a path.
    """
    d = _tables(ref).demand_paths
    d = d[(d.mineral == mineral) & (d.case == case)].sort_values("year")
    years = np.atleast_1d(np.asarray(year, dtype=float))
    if d.empty:
        if case not in ("low", "base", "high"):
            raise SupplyDataError(f"supply_demand_paths.csv, column 'case': unknown case {case!r}")
        return np.ones_like(years)
    return np.interp(years, d.year.to_numpy(float), d.demand_index.to_numpy(float))


def _china_overrides(ref: ReferenceData, mineral: str, years: np.ndarray) -> np.ndarray:
    """China's counterfactual share for each of ``years`` (the latest row of
    ``supply_china_counterfactual.csv`` at or before the year; a row without a year applies to
    every year), NaN where the file gives none."""
    cf = _tables(ref).china_counterfactual
    c = cf[(cf.mineral == mineral) & cf.china_share.notna()]
    years = np.asarray(years, dtype=float)
    if c.empty:
        return np.full(years.shape, np.nan)
    c = c.assign(_y=c.year.fillna(-np.inf)).sort_values("_y", kind="stable")
    row_years, shares = c["_y"].to_numpy(float), c.china_share.to_numpy(float)
    last = np.searchsorted(row_years, years, side="right") - 1    # latest row at or before the year
    return np.where(last >= 0, shares[np.maximum(last, 0)], np.nan)


def counterfactual_volumes_by_year(ref: ReferenceData, mineral: str, years, window_vols: pd.Series,
                                   case: str = "base") -> list[pd.Series]:
    """:func:`counterfactual_volumes` for each of ``years`` (the demand path and China's
    counterfactual looked up once for all of them: this runs on every budget move)."""
    years = np.atleast_1d(np.asarray(years, dtype=float))
    index = demand_index(ref, mineral, years, case)
    china = _china_overrides(ref, mineral, years)
    others = window_vols.drop(CHINA, errors="ignore")
    out = []
    for k, s in zip(index, china):
        v = window_vols * float(k)
        tot = float(v.sum())
        if np.isnan(s) or tot <= 0:
            out.append(v)
            continue
        o = others / others.sum() * (1 - s) * tot if others.sum() > 0 else others * float(k)
        w = pd.concat([pd.Series({CHINA: s * tot}), o])
        out.append(w[w > 0].sort_values(ascending=False))
    return out


def counterfactual_volumes(ref: ReferenceData, mineral: str, year: int, window_vols: pd.Series,
                           case: str = "base") -> pd.Series:
    """Partner volumes in ``year`` without any project: window volumes x demand index, with
    China's share set by ``supply_china_counterfactual.csv`` when it gives one (others scale)."""
    return counterfactual_volumes_by_year(ref, mineral, [year], window_vols, case)[0]


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


def _check_basis(basis: str) -> str:
    if basis not in ("quantity", "value"):
        raise ValueError(f"basis must be 'quantity' or 'value', got {basis!r}")
    return basis


def _options(scenario) -> dict:
    """Basis, window and demand case of the scenario (window None: the data's default window)."""
    return {"basis": scenario.import_basis, "window": scenario.supply_window, "case": scenario.demand_case}


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


def apply_additions(volumes: pd.Series, additions: Mapping[str, float], rule: str) -> pd.Series:
    """Partner volumes after Korea buys ``additions`` from host countries.

    Parameters
    ----------
    volumes : pandas.Series
        Partner ISO3 -> current imports [t gross or kUSD], >= 0.
    additions : mapping of str to float
        Host ISO3 -> added imports in the same unit, >= 0 (several projects in one host summed).
    rule : {'top_supplier', 'pro_rata', 'additive'}
        ``top_supplier``: the total added volume ``A`` displaces the largest current supplier
        (volume ``V0``) with diminishing returns: it keeps ``V0 exp(-A / V0)``; the part of ``A``
        that displaces nothing adds to imports. The first tonnes displace one for one; the last
        tonnes of the incumbent (specific grades, long contracts, its processing) are the hardest
        to replace, so no finite offtake takes it to zero (ASSUMPTION of this tool, issue 15:
        no single project takes China's share to 0 and the benefit never saturates).
        ``pro_rata``: every current source keeps ``V exp(-A / total)`` (the same law applied to
        the whole mix). ``additive``: nothing is displaced; imports grow by ``A``.
        In all rules the hosts' volumes then grow by their additions (a host that already supplies
        Korea grows). Displacement applies to the volumes *before* the additions, so a project in
        the top supplier itself only raises its share. To first order in ``A`` the rules are the
        one-for-one displacement rules.

    Returns
    -------
    pandas.Series
        New volumes, index = current partners then new hosts; never negative.
    """
    if rule not in ("top_supplier", "pro_rata", "additive"):
        raise ValueError(f"displacement rule must be top_supplier, pro_rata or additive, got {rule!r}")
    v = pd.Series(volumes, dtype=float).fillna(0.0).clip(lower=0.0)
    add = pd.Series({str(k): float(x) for k, x in dict(additions).items()}, dtype=float)
    if (add < 0).any() or add.isna().any():
        raise ValueError("additions must be non-negative numbers")
    out = pd.Series(_displace(v.to_numpy(), float(add.sum()), rule), index=v.index)
    idx = v.index.append(add.index.difference(v.index))
    out = out.reindex(idx, fill_value=0.0).add(add.reindex(idx, fill_value=0.0))
    out.name = "volume"
    return out.clip(lower=0.0)





# ----------------------------------------------------------------------------------------------
# offtake -> additions in chain units, by supplier (the processing country)
# ----------------------------------------------------------------------------------------------
_OFFTAKE_COLS = ("id", "mineral", "country_iso3", "korea_offtake_t_per_year")


def _check_offtake(offtake: pd.DataFrame, value_col: str = "korea_offtake_t_per_year") -> pd.DataFrame:
    df = offtake.reset_index() if "id" not in offtake.columns and offtake.index.name == "id" else offtake
    cols = [c if c != "korea_offtake_t_per_year" else value_col for c in _OFFTAKE_COLS]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"offtake table: missing columns {missing}")
    df = df.copy()
    df["id"] = df["id"].astype(str)
    df["country_iso3"] = df["country_iso3"].astype(str).str.strip().str.upper()
    proc = df["processing_country_iso3"] if "processing_country_iso3" in df.columns else pd.Series(None, index=df.index)
    proc = proc.astype("string").str.strip().str.upper()
    df["supplier_iso3"] = proc.where(proc.notna() & (proc != ""), df["country_iso3"]).astype(str)
    df[value_col] = pd.to_numeric(df[value_col], errors="coerce").fillna(0.0).clip(lower=0.0)
    return df


def element_share(ref: ReferenceData, mineral: str, basket: Sequence[tuple[str, float]] = ()) -> float:
    """Share of a product that can displace Korea's scored chain demand [fraction].

    Rare earths (``element_matching = magnet``): the NdPr + Dy + Tb share of the oxide basket
    (the application's, else ``ree_oxides.default_basket_share``); 1 for other minerals.
    """
    t = _tables(ref)
    if mineral not in t.units.index or str(t.units.at[mineral, "element_matching"]) != "magnet":
        return 1.0
    shares = dict(basket) if basket else ref.ree_oxides["default_basket_share"].to_dict()
    return float(sum(float(shares.get(o, 0.0)) for o in MAGNET_OXIDES))


def _default_factor(ref: ReferenceData, mineral: str) -> float:
    t = _tables(ref)
    if mineral not in t.units.index:
        return 1.0
    return float(t.units.at[mineral, "t_unit_per_t_product"]) * element_share(ref, mineral)


def _unit_value_kusd(ref: ReferenceData, mineral: str) -> float:
    """Average import value of one chain unit over the default window [kUSD / t unit]."""
    q = window_volumes(ref, mineral, basis="quantity").sum()
    v = window_volumes(ref, mineral, basis="value").sum()
    return float(v / q) if q > 0 else float("nan")


def import_units(ref: ReferenceData, df: pd.DataFrame, basis: str, value_col: str) -> pd.Series:
    """Offtake [t product] -> chain units [t unit, element-matched] or [kUSD], one value per row.

    Uses the row's ``chain_t_per_product_t`` (unit factor x element share x stage probability,
    from :func:`offtake_from_evaluation`) when present, else the mineral's default factor.
    """
    _check_basis(basis)
    default = df["mineral"].map({m: _default_factor(ref, m) for m in set(df["mineral"])}).astype(float)
    if "chain_t_per_product_t" in df.columns:
        f = pd.to_numeric(df["chain_t_per_product_t"], errors="coerce").fillna(default)
    else:
        f = default
    units = pd.to_numeric(df[value_col], errors="coerce").fillna(0.0).astype(float) * f
    if basis == "value":
        uv = {m: (_unit_value_kusd(ref, m) if has_chain(ref, m) else 1.0) for m in set(df["mineral"])}
        units = units * df["mineral"].map(uv).astype(float)
    return units


def diversifying_units(ref: ReferenceData, scenario, offtake: pd.DataFrame,
                       value_col: str = "korea_offtake_t_per_year") -> pd.Series:
    """:func:`import_units`, zero where the product is bought from (refined in) the mineral's
    incumbent supplier: such offtake cannot diversify away from it. For the allocator's terms."""
    df = _check_offtake(offtake, value_col) if "id" in offtake.columns or offtake.index.name == "id" else offtake
    opt = _options(scenario)
    units = import_units(ref, df, opt["basis"], value_col)
    inc = {m: baseline(ref, m, basis=opt["basis"], window=opt["window"], case=opt["case"]).incumbent
           for m in set(df["mineral"]) if m in ref.minerals.index}
    supplier = df["supplier_iso3"] if "supplier_iso3" in df.columns else df["country_iso3"]
    return units.where(supplier.to_numpy() != df["mineral"].map(inc).to_numpy(), 0.0)


def additions_by_mineral(ref: ReferenceData, scenario, offtake: pd.DataFrame, ids: Sequence[str] | None = None) -> dict[str, pd.Series]:
    """Added imports per mineral and supplier country [chain units or kUSD], projects summed jointly.

    Parameters
    ----------
    offtake : pandas.DataFrame
        Columns ``id``, ``mineral``, ``country_iso3``, ``korea_offtake_t_per_year`` [t product/yr];
        optional ``processing_country_iso3`` (the supplier; default the host) and
        ``chain_t_per_product_t``.
    ids : sequence of str, optional
        Projects to include; default all rows.

    Returns
    -------
    dict of str to pandas.Series
        mineral -> Series supplier ISO3 -> added volume.
    """
    df = _check_offtake(offtake)
    if ids is not None:
        df = df[df["id"].isin([str(i) for i in ids])]
    if df.empty:
        return {}
    unknown = sorted(set(df["mineral"]) - set(ref.minerals.index))
    if unknown:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown minerals {unknown}")
    df = df.assign(added_units=import_units(ref, df, _options(scenario)["basis"], "korea_offtake_t_per_year"))
    return {m: g.groupby("supplier_iso3")["added_units"].sum() for m, g in df.groupby("mineral", sort=True)}


def _displace_many(v: np.ndarray, total_add: np.ndarray, rule: str) -> np.ndarray:
    """NumPy core of :func:`apply_additions` on the current partners' volumes (no hosts added),
    for several total additions at once: ``(P, K)`` from ``v`` (K,) and ``total_add`` (P,).

    Displacement with diminishing returns: the k-th tonne displaces the displaced volume in
    proportion to what is left of it, ``dV/dA = -V / V0``, so ``V(A) = V0 exp(-A / V0)``
    (``V0`` = the top supplier's volume, or every source's with ``V0 = total`` pro rata).
    """
    if rule not in ("top_supplier", "pro_rata", "additive"):
        raise ValueError(f"displacement rule must be top_supplier, pro_rata or additive, got {rule!r}")
    v = v.astype(float)
    a = np.clip(np.asarray(total_add, dtype=float), 0.0, None)
    out = np.repeat(v[None, :], len(a), axis=0)
    if rule == "additive" or not (v > 0).any():
        return out
    if rule == "top_supplier":
        i = int(np.argmax(v))
        out[:, i] = v[i] * np.exp(-a / v[i])
        return out
    return v[None, :] * np.exp(-a[:, None] / float(v.sum()))


def _displace(v: np.ndarray, total_add: float, rule: str) -> np.ndarray:
    """:func:`_displace_many` for one total addition."""
    return _displace_many(v, np.array([float(total_add)]), rule)[0]


def volumes_after_many(volumes: pd.Series, host_additions: Mapping[str, np.ndarray], rule: str
                       ) -> tuple[list[str], np.ndarray]:
    """:func:`apply_additions` for many cases at once (e.g. simulated paths).

    Parameters
    ----------
    volumes : pandas.Series
        Partner ISO3 -> current imports, >= 0.
    host_additions : mapping of str to numpy.ndarray
        Host (supplier) ISO3 -> added imports per case, shape ``(P,)``, >= 0.
    rule : str
        As :func:`apply_additions`.

    Returns
    -------
    names : list of str
        Current partners, then new hosts.
    volumes : numpy.ndarray
        ``(P, len(names))`` volumes after the additions; never negative.
    """
    v = pd.Series(volumes, dtype=float).fillna(0.0).clip(lower=0.0)
    hosts = [str(h) for h in host_additions]
    P = len(next(iter(host_additions.values()))) if host_additions else 1
    added = np.array([np.asarray(host_additions[h], dtype=float) for h in host_additions]).reshape(len(hosts), P)
    names = list(v.index) + [h for h in dict.fromkeys(hosts) if h not in v.index]
    out = np.zeros((P, len(names)))
    out[:, :len(v)] = _displace_many(v.to_numpy(), added.sum(axis=0), rule)
    for h, row in zip(hosts, added):
        out[:, names.index(h)] += row
    return names, np.clip(out, 0.0, None)


def scenario_options(scenario) -> dict:
    """Basis, window and demand case of the scenario, as :func:`baseline` takes them."""
    return _options(scenario)


def measures_after(base: MineralSupply, added: Mapping[str, float], rule: str, target: float) -> dict:
    """Measures after the additions, plus the incumbent's share and excess over target.

    The same arithmetic as :func:`apply_additions` followed by :func:`measures`, on NumPy arrays:
    it runs once per mineral and year on every slider move, so pandas overhead matters here.
    """
    add = {str(k): float(x) for k, x in added.items()}
    if any(x < 0 or not np.isfinite(x) for x in add.values()):
        raise ValueError("additions must be non-negative numbers")
    partners = list(base.volumes.index)
    names = partners + [h for h in add if h not in base.volumes.index]
    pos = {c: i for i, c in enumerate(names)}
    v = np.clip(np.nan_to_num(base.volumes.to_numpy(dtype=float)), 0.0, None)
    out = np.zeros((1, len(names)))
    out[0, :len(partners)] = _displace(v, float(sum(add.values())), rule)
    for h, x in add.items():
        out[0, pos[h]] += x
    return _measures_of_rows(base, names, out)[0]


def measures_after_each(base: MineralSupply, hosts: Sequence[str], amounts, rule: str) -> list[dict]:
    """:func:`measures_after` of each addition ALONE (``amounts[k]`` at ``hosts[k]``), at once.

    The project score measures every project alone against the same baseline; one matrix (a row
    per addition, a column per partner and new host) replaces a call per project.
    """
    amounts = np.asarray(amounts, dtype=float)
    if amounts.size and (np.any(amounts < 0) or not np.all(np.isfinite(amounts))):
        raise ValueError("additions must be non-negative numbers")
    hosts = [str(h) for h in hosts]
    partners = list(base.volumes.index)
    names = partners + list(dict.fromkeys(h for h in hosts if h not in base.volumes.index))
    pos = {c: i for i, c in enumerate(names)}
    v = np.clip(np.nan_to_num(base.volumes.to_numpy(dtype=float)), 0.0, None)
    out = np.zeros((len(hosts), len(names)))
    out[:, :len(partners)] = _displace_many(v, amounts, rule)
    out[np.arange(len(hosts)), [pos[h] for h in hosts]] += amounts
    return _measures_of_rows(base, names, out)


def _measures_of_rows(base: MineralSupply, names: list[str], out: np.ndarray) -> list[dict]:
    """:func:`measures` (and the incumbent's share, the total volume) of each row of ``out``:
    volumes after additions, one column per name in ``names``."""
    out = np.clip(out, 0.0, None)
    tot = out.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sh = np.where(tot[:, None] > 0, out / tot[:, None], 0.0)
    wgi = base.wgi.reindex(names).fillna(float(base.wgi.median())).to_numpy(dtype=float)
    hp = base.hhi_production
    has_hp = hp is not None and np.isfinite(hp)
    top = sh.argmax(axis=1) if names else np.zeros(len(out), dtype=int)
    pos = {c: i for i, c in enumerate(names)}
    ci, ii = pos.get(CHINA), pos.get(base.incumbent)
    result = []
    for k in range(len(out)):
        r = sh[k]
        if tot[k] <= 0 or not (r > 0).any():     # as measures(): only shares > 0 count
            m = {"china_share": float("nan"), "top_supplier": None, "top_share": float("nan"), "hhi": float("nan"),
                 "hhi_wgi": float("nan"), "geopolrisk": float("nan"), "n_sources": 0}
        else:
            m = {"china_share": float(r[ci]) if ci is not None else 0.0, "top_supplier": names[top[k]],
                 "top_share": float(r[top[k]]), "hhi": float(np.sum(r ** 2)), "hhi_wgi": float(np.sum(r ** 2 * wgi)),
                 "geopolrisk": float(hp) * float(np.sum(r * wgi / 10.0)) if has_hp else float("nan"),
                 "n_sources": int(np.count_nonzero(r > 0))}
        m["incumbent_share"] = (float(out[k, ii] / tot[k]) if ii is not None else 0.0) if tot[k] > 0 else float("nan")
        m["volume"] = float(tot[k])
        result.append(m)
    return result


def _excess(share: float, target: float) -> float:
    return max(0.0, float(share) - target) if np.isfinite(share) else 0.0


# ----------------------------------------------------------------------------------------------
# score, portfolio, projects, joint benefit
# ----------------------------------------------------------------------------------------------
def score_value(ref: ReferenceData, mineral: str, reduction) -> np.ndarray:
    """Diversification value of a cut of the top supplier's share [score points, 0-100).

    ``100 x w_m x r / (r + r_half)`` with ``r = max(0, reduction)`` [fraction], ``w_m`` the
    designation weight and ``r_half`` = ``supply_score_scale.half_score_reduction``: concave,
    strictly increasing in ``r``, 0 at 0 and below ``100 x w_m`` for every finite project.
    """
    r = np.maximum(np.asarray(reduction, dtype=float), 0.0)
    half = _scale(ref, "half_score_reduction")
    if half <= 0:
        raise SupplyDataError("supply_score_scale.csv, key 'half_score_reduction': must be > 0")
    return 100.0 * designation_weight(ref, mineral) * r / (r + half)


def _baselines(ref: ReferenceData, scenario, minerals: Iterable[str]) -> dict[str, MineralSupply]:
    o = _options(scenario)
    return {m: baseline(ref, m, basis=o["basis"], window=o["window"], case=o["case"]) for m in minerals}


def incumbent_reduction(b: MineralSupply, a: dict) -> float:
    """Cut of the incumbent's share [fraction, >= 0] from the baseline ``b`` to the measures
    ``a`` of :func:`measures_after`: what the diversification score rewards (the one rule for the
    ranking, the allocation and the projection)."""
    if not np.isfinite(a["incumbent_share"]):
        return 0.0
    r = b.measures["top_share"] - a["incumbent_share"]
    return r if r > 1e-12 else 0.0  # rounding of a zero addition is no reduction


def portfolio_effect(ref: ReferenceData, scenario, offtake: pd.DataFrame, *, all_minerals: bool = False) -> pd.DataFrame:
    """Before/after concentration per mineral with every project in ``offtake`` applied jointly.

    Parameters
    ----------
    ref : ReferenceData
    scenario : models.scenario.Scenario
        Uses ``import_basis``, ``displacement_rule`` and ``target_single_supplier_share``.
    offtake : pandas.DataFrame
        As :func:`additions_by_mineral`.
    all_minerals : bool
        Also return the minerals no project touches (after = before).

    Returns
    -------
    pandas.DataFrame
        Index ``mineral``. Columns ``basis``, ``unit``, ``year``, ``incumbent``,
        ``{china_share, top_supplier, top_share, hhi, hhi_wgi, geopolrisk, incumbent_share,
        volume}_{before,after}`` (on the reference volumes), ``added_volume``, ``n_projects``,
        ``meets_target_{before,after}``, ``gap_to_target_{before,after}``, ``reduction``
        [fraction], ``benefit_pp`` (:func:`score_value` of the joint reduction), ``assumed_shares``,
        ``note``.
    """
    target = scenario.target_single_supplier_share
    adds = additions_by_mineral(ref, scenario, offtake)
    df = _check_offtake(offtake)
    counts = df.groupby("mineral")["id"].nunique()
    minerals = list(ref.minerals.index) if all_minerals else sorted(adds)
    bases = _baselines(ref, scenario, minerals)
    rows = []
    for m in minerals:
        b = bases[m]
        added = adds.get(m, pd.Series(dtype=float))
        row = {"mineral": m, "basis": b.basis, "unit": b.unit, "year": b.year, "incumbent": b.incumbent,
               "n_projects": int(counts.get(m, 0)), "added_volume": float(added.sum()),
               "assumed_shares": b.assumed, "note": ""}
        before = dict(b.measures, incumbent_share=b.measures["top_share"], volume=b.total)
        if b.assumed:
            after = {k: (np.nan if not isinstance(v, str) else None) for k, v in before.items()}
            row["note"] = "no bundled import volumes (assumed shares only): effect not computed"
        else:
            after = measures_after(b, added, scenario.displacement_rule, target)
        for k in ("china_share", "top_supplier", "top_share", "hhi", "hhi_wgi", "geopolrisk", "incumbent_share", "volume"):
            row[f"{k}_before"] = before[k]
            row[f"{k}_after"] = after[k]
        for s in ("before", "after"):
            ts = row[f"top_share_{s}"]
            row[f"meets_target_{s}"] = bool(ts <= target + _EPS) if ts == ts else False
            row[f"gap_to_target_{s}"] = max(0.0, ts - target) if ts == ts else np.nan
        row["reduction"] = 0.0 if b.assumed else incumbent_reduction(b, after)
        row["benefit_pp"] = float(score_value(ref, m, row["reduction"]))
        rows.append(row)
    out = pd.DataFrame(rows)
    return out if out.empty else out.set_index("mineral")



def gap_volume(base: MineralSupply, target: float, rule: str) -> float:
    """Volume from non-incumbent suppliers that brings the incumbent's share down to ``target``
    [unit/yr or kUSD/yr], under :func:`apply_additions`'s rules; 0 when already at or below.

    Solved by bisection on the incumbent's share after (monotone in the volume); ``inf`` when the
    target cannot be reached (``additive`` never takes a share below ``V_top / (T + X)`` > 0, but
    every target > 0 is reached for a large enough ``X`` under all three rules).
    """
    v = base.volumes.to_numpy(dtype=float)
    tot = float(np.nansum(v))
    s0 = base.measures["top_share"]
    if not np.isfinite(tot) or tot <= 0 or not np.isfinite(s0) or s0 <= target:
        return 0.0
    if target <= 0:
        return float("inf")
    i = int(np.nanargmax(v))

    def share(x: float) -> float:
        out = _displace(np.nan_to_num(v), x, rule)
        return out[i] / (out.sum() + x)

    lo, hi = 0.0, tot
    while share(hi) > target:
        hi *= 2.0
        if hi > 1e6 * tot:
            return float("inf")
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if share(mid) > target else (lo, mid)
    return hi

_BENEFIT_COLS = ["id", "mineral", "country_iso3", "processing_country_iso3", "added_volume", "incumbent",
                 "china_share_before", "china_share_after", "delta_china_share", "top_share_before",
                 "top_supplier_after", "top_share_after", "delta_top_share", "delta_hhi", "delta_hhi_wgi",
                 "delta_geopolrisk", "incumbent_share_before", "incumbent_share_after", "reduction",
                 "target_progress", "importance_weight", "offtake_share_of_demand", "large_offtake",
                 "benefit_pp", "diversification_score", "note"]


def _benefit_row(ref, b: MineralSupply, r, rule: str, target: float, large: float, a: dict | None = None) -> dict:
    """One project's row of :func:`project_benefits` (``r`` an offtake row after _check_offtake;
    ``a`` its :func:`measures_after`, computed here when not given)."""
    bm = b.measures
    w = designation_weight(ref, r.mineral)
    row = {"id": r.id, "mineral": r.mineral, "country_iso3": r.country_iso3, "processing_country_iso3": r.supplier_iso3,
           "added_volume": float(r.added_units), "incumbent": b.incumbent, "importance_weight": w,
           "china_share_before": bm["china_share"], "top_share_before": bm["top_share"],
           "incumbent_share_before": bm["top_share"], "note": ""}
    if b.assumed:
        row.update(china_share_after=np.nan, top_supplier_after=None, top_share_after=np.nan, delta_china_share=np.nan,
                   delta_top_share=np.nan, delta_hhi=np.nan, delta_hhi_wgi=np.nan, delta_geopolrisk=np.nan,
                   incumbent_share_after=np.nan, reduction=0.0, target_progress=0.0, offtake_share_of_demand=np.nan,
                   large_offtake=False, benefit_pp=0.0, diversification_score=0.0,
                   note="no bundled import volumes for this mineral (assumed shares only): scored 0")
        return row
    if a is None:
        a = measures_after(b, {r.supplier_iso3: float(r.added_units)}, rule, target)
    e0, e1 = _excess(bm["top_share"], target), _excess(a["incumbent_share"], target)
    red = incumbent_reduction(b, a)
    value = float(score_value(ref, r.mineral, red))
    share_of_demand = float(r.added_units) / b.total if b.total > 0 else np.nan
    row.update(china_share_after=a["china_share"], top_supplier_after=a["top_supplier"], top_share_after=a["top_share"],
               delta_china_share=a["china_share"] - bm["china_share"], delta_top_share=a["top_share"] - bm["top_share"],
               delta_hhi=a["hhi"] - bm["hhi"], delta_hhi_wgi=a["hhi_wgi"] - bm["hhi_wgi"],
               delta_geopolrisk=a["geopolrisk"] - bm["geopolrisk"], incumbent_share_after=a["incumbent_share"],
               reduction=red, target_progress=min(1.0, max(0.0, (e0 - e1) / e0)) if e0 > _EPS else 0.0,
               offtake_share_of_demand=share_of_demand, large_offtake=bool(share_of_demand > large),
               benefit_pp=value, diversification_score=value)
    notes = []
    if r.supplier_iso3 == b.incumbent:
        where = "refined / processed" if r.supplier_iso3 != r.country_iso3 else "host is"
        notes.append(f"{where} in the current top supplier ({b.incumbent}): no diversification against it")
    elif a["top_share"] > target + _EPS and a["top_supplier"] == r.supplier_iso3:
        notes.append(f"{r.supplier_iso3} becomes the top supplier above the {target:.0%} target")
    if row["large_offtake"]:
        notes.append(f"offtake is {share_of_demand:.0%} of Korea's chain demand (> {large:.0%}): flagged, not capped")
    row["note"] = "; ".join(notes)
    return row


def project_benefits(ref: ReferenceData, scenario, offtake: pd.DataFrame) -> pd.DataFrame:
    """Each project ALONE against the baseline: changes in concentration and its score.

    Parameters
    ----------
    ref, scenario, offtake
        As :func:`portfolio_effect`.

    Returns
    -------
    pandas.DataFrame
        Index ``id``; columns :data:`_BENEFIT_COLS`: shares before / after on the reference
        volumes, ``reduction`` [fraction], ``offtake_share_of_demand`` [fraction],
        ``large_offtake`` (flag), ``diversification_score`` [0-100) = ``benefit_pp`` =
        :func:`joint_benefit` of the project alone, ``note``.

    Notes
    -----
    Each project is measured alone against the baseline, so adding or removing another
    application never changes a project's score. Output refined in the incumbent scores 0.
    """
    target = scenario.target_single_supplier_share
    df = _check_offtake(offtake)
    if df["id"].duplicated().any():
        raise ValueError(f"offtake table: duplicate ids {sorted(df.loc[df['id'].duplicated(), 'id'])}")
    unknown = sorted(set(df["mineral"]) - set(ref.minerals.index))
    if unknown:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown minerals {unknown}")
    df = df.assign(added_units=import_units(ref, df, _options(scenario)["basis"], "korea_offtake_t_per_year"))
    bases = _baselines(ref, scenario, sorted(set(df["mineral"])))
    large = _scale(ref, "large_offtake_share")
    rule = scenario.displacement_rule
    after: dict[int, dict] = {}                  # row position -> measures with that project alone
    for m, g in df.groupby("mineral", sort=False):
        if not bases[m].assumed:
            each = measures_after_each(bases[m], g["supplier_iso3"].tolist(), g["added_units"].to_numpy(float), rule)
            after.update(zip(np.flatnonzero(df["mineral"].to_numpy() == m), each))
    rows = [_benefit_row(ref, bases[r.mineral], r, rule, target, large, after.get(k))
            for k, r in enumerate(df.itertuples(index=False))]
    return pd.DataFrame(rows, columns=_BENEFIT_COLS).set_index("id")


def joint_benefit(ref: ReferenceData, scenario, offtake: pd.DataFrame, ids: Iterable[str]) -> float:
    """Portfolio-level diversification value of a set of projects [score points].

    ``sum_m score_value(m, r_m)`` with ``r_m`` the cut of mineral m's incumbent share when the
    set is applied jointly (module docstring). A project's ``diversification_score`` is this
    function of the project alone.

    Notes
    -----
    Properties (tested with hypothesis): monotone (more offtake from a non-incumbent supplier
    never lowers it) and sub-additive (``J(A u B) <= J(A) + J(B)``): the incumbent's share after
    is convex non-increasing in the volume added from other suppliers under each displacement
    rule (additions from the incumbent only raise it), so ``r`` is concave with r(0) = 0 and
    ``r / (r + r_half)`` is concave increasing.
    """
    ids = [str(i) for i in ids]
    if not ids:
        return 0.0
    adds = additions_by_mineral(ref, scenario, offtake, ids)
    bases = _baselines(ref, scenario, adds)
    total = 0.0
    for m, added in adds.items():
        b = bases[m]
        if b.assumed or added.sum() <= 0:
            continue
        a = measures_after(b, added, scenario.displacement_rule, scenario.target_single_supplier_share)
        total += float(score_value(ref, m, incumbent_reduction(b, a)))
    return float(total)


# ----------------------------------------------------------------------------------------------
# time path
# ----------------------------------------------------------------------------------------------
_PROJ_COLS = ["mineral", "year", "unit", "china_share", "china_share_counterfactual", "top_supplier", "top_share",
              "incumbent", "incumbent_share", "meets_target", "target_share", "is_target_year", "added_volume",
              "demand_volume"]


def projection_by_year(ref: ReferenceData, scenario, offtake_by_year: pd.DataFrame, *, ids: Iterable[str] | None = None,
                       case: str | None = None) -> pd.DataFrame:
    """Projected concentration per mineral and calendar year as projects start and ramp up.

    Parameters
    ----------
    ref, scenario
        As :func:`portfolio_effect` (``first_year``, ``horizon_year``, ``target_year`` used too).
    offtake_by_year : pandas.DataFrame
        Long table ``id``, ``mineral``, ``country_iso3``, ``year``, ``korea_offtake_t`` [t product
        in that year]; optional ``processing_country_iso3``, ``chain_t_per_product_t``. See
        :func:`offtake_by_year_from_evaluation`.
    ids : iterable of str, optional
        Only these projects (default all).
    case : {'low', 'base', 'high'}, optional
        Demand path (default the scenario's ``demand_case`` or 'base').

    Returns
    -------
    pandas.DataFrame
        One row per (mineral, year) for ``first_year - 1`` .. ``horizon_year``: :data:`_PROJ_COLS`.
        ``china_share_counterfactual`` is China's share without the projects (the demand path and
        ``supply_china_counterfactual.csv``), ``china_share`` with them; ``demand_volume`` is
        Korea's counterfactual chain demand [unit/yr].
    """
    df = offtake_by_year.copy()
    missing = [c for c in ["id", "mineral", "country_iso3", "year", "korea_offtake_t"] if c not in df.columns]
    if missing:
        raise ValueError(f"offtake_by_year table: missing columns {missing}")
    df = _check_offtake(df, "korea_offtake_t")
    if ids is not None:
        df = df[df["id"].isin([str(i) for i in ids])]
    df["year"] = df["year"].astype(int)
    opt = _options(scenario)
    case = case or opt["case"]
    target = scenario.target_single_supplier_share
    years = np.arange(scenario.first_year - 1, scenario.horizon_year + 1)
    df = df.assign(added_units=import_units(ref, df, opt["basis"], "korea_offtake_t"))
    added_by: dict[tuple, dict] = {}
    for (m, y, sup), units in df.groupby(["mineral", "year", "supplier_iso3"])["added_units"].sum().items():
        added_by.setdefault((m, int(y)), {})[sup] = float(units)
    rows = []
    for m, b in _baselines(ref, scenario, sorted(set(df["mineral"]))).items():
        if b.assumed:
            continue
        for y, cf_v in zip(years, counterfactual_volumes_by_year(ref, m, years, b.window_volumes, case)):
            added = added_by.get((m, int(y)), {})
            a = after_in_year(b, cf_v, added, scenario.displacement_rule, target)
            tot = float(cf_v.sum())
            rows.append({"mineral": m, "year": int(y), "unit": b.unit, "china_share": a["china_share"],
                         "china_share_counterfactual": float(cf_v.get(CHINA, 0.0)) / tot if tot > 0 else np.nan,
                         "top_supplier": a["top_supplier"], "top_share": a["top_share"], "incumbent": b.incumbent,
                         "incumbent_share": a["incumbent_share"], "meets_target": bool(a["top_share"] <= target + _EPS),
                         "target_share": target, "is_target_year": bool(y == scenario.target_year),
                         "added_volume": float(sum(added.values())), "demand_volume": tot})
    return pd.DataFrame(rows, columns=_PROJ_COLS)


def after_in_year(b: MineralSupply, year_volumes: pd.Series, added: Mapping[str, float], rule: str,
                  target: float) -> dict:
    """THE "after" of a calendar year: :func:`measures_after` of the projects' volumes of that year
    (``added``: supplier ISO3 -> import units delivered in the year, with each project's stage
    timing and ramp-up) against that year's counterfactual partner volumes (``year_volumes``,
    :func:`counterfactual_volumes_by_year`). :func:`projection_by_year`, :func:`effect_in_year`
    (the allocation summary, the report, the app) and the simulation's law
    (:func:`volumes_after_many`, tested equal) all take their "after" from this arithmetic."""
    return measures_after(dataclasses.replace(b, volumes=year_volumes), added, rule, target)


def share_basis(ref: ReferenceData, mineral: str) -> str:
    """The basis a mineral's China and top-supplier shares are on: ``"NdPr+Dy+Tb"`` (the element
    basis: rare earths, matched element by element against magnet demand) or ``"all forms"`` (the
    chain basis: every form of the chain in one contained unit)."""
    return "NdPr+Dy+Tb" if element_share(ref, mineral, ()) < 1 else "all forms"


_EFFECT_MEASURES = ("china_share", "top_supplier", "top_share", "hhi", "hhi_wgi", "geopolrisk", "incumbent_share",
                    "volume")


def effect_in_year(ref: ReferenceData, scenario, offtake_by_year: pd.DataFrame, *, year: int | None = None) -> pd.DataFrame:
    """Before / after concentration per mineral in ONE calendar year (default the scenario's
    ``target_year``), each project counting the offtake it delivers in that year (stage timing and
    ramp-up from the cash-flow table), against that year's counterfactual imports.

    This is the "after" the allocation summary (``china_share_after``, ``top_share_after``,
    ``top_supplier_after``), the report, the app and the simulation's deterministic case share:
    its rows equal :func:`projection_by_year`'s rows of ``year`` (the same :func:`after_in_year`).
    The programme's target is met when the top supplier's share after is at or below
    ``target_single_supplier_share`` (``meets_target_after``), whoever that supplier is.

    Parameters
    ----------
    ref, scenario
        As :func:`projection_by_year`.
    offtake_by_year : pandas.DataFrame
        As :func:`projection_by_year` (``korea_offtake_t`` [t product in that year]).
    year : int, optional
        Calendar year (default ``scenario.target_year``).

    Returns
    -------
    pandas.DataFrame
        Index ``mineral`` (every mineral in ``offtake_by_year``). Columns ``basis``, ``unit``,
        ``share_basis`` (:func:`share_basis`), ``year``, ``incumbent`` (the top supplier before,
        in ``year``), ``{china_share, top_supplier, top_share, hhi, hhi_wgi, geopolrisk,
        incumbent_share, volume}_{before,after}`` [fraction; volume in unit/yr], ``added_volume``
        [unit/yr in ``year``], ``n_projects``, ``meets_target_{before,after}``,
        ``gap_to_target_{before,after}`` [fraction], ``reduction`` (cut of the top supplier's share,
        whoever it is after [fraction, >= 0]), ``benefit_pp``, ``assumed_shares``, ``note``.
    """
    year = int(scenario.target_year if year is None else year)
    df = _check_offtake(offtake_by_year, "korea_offtake_t")
    unknown = sorted(set(df["mineral"]) - set(ref.minerals.index))
    if unknown:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown minerals {unknown}")
    opt = _options(scenario)
    target, rule = scenario.target_single_supplier_share, scenario.displacement_rule
    at = df[df["year"].astype(int) == year]
    at = at.assign(added_units=import_units(ref, at, opt["basis"], "korea_offtake_t"))
    adds = {m: g.groupby("supplier_iso3")["added_units"].sum().to_dict() for m, g in at.groupby("mineral")}
    counts = df.groupby("mineral")["id"].nunique()
    rows = []
    for m, b in _baselines(ref, scenario, sorted(set(df["mineral"]))).items():
        added = {k: float(v) for k, v in adds.get(m, {}).items()}
        row = {"mineral": m, "basis": b.basis, "unit": b.unit, "share_basis": share_basis(ref, m), "year": year,
               "n_projects": int(counts.get(m, 0)), "added_volume": float(sum(added.values())),
               "assumed_shares": b.assumed, "note": ""}
        if b.assumed:
            before = dict(b.measures, incumbent_share=b.measures["top_share"], volume=np.nan)
            after = {k: (np.nan if not isinstance(v, str) else None) for k, v in before.items()}
            row["note"] = "no bundled import volumes (assumed shares only): effect not computed"
        else:
            cf_v = counterfactual_volumes_by_year(ref, m, [year], b.window_volumes, opt["case"])[0]
            before = after_in_year(b, cf_v, {}, rule, target)
            after = after_in_year(b, cf_v, added, rule, target)
        row["incumbent"] = before["top_supplier"]
        for k in _EFFECT_MEASURES:
            row[f"{k}_before"] = before[k]
            row[f"{k}_after"] = after[k]
        for s in ("before", "after"):
            ts = row[f"top_share_{s}"]
            row[f"meets_target_{s}"] = bool(ts <= target + _EPS) if ts == ts else False
            row[f"gap_to_target_{s}"] = max(0.0, ts - target) if ts == ts else np.nan
        red = row["top_share_before"] - row["top_share_after"]
        row["reduction"] = float(red) if np.isfinite(red) and red > 1e-12 else 0.0
        row["benefit_pp"] = float(score_value(ref, m, row["reduction"]))
        rows.append(row)
    out = pd.DataFrame(rows)
    return out if out.empty else out.set_index("mineral")


def partner_shares_in_year(ref: ReferenceData, scenario, mineral: str, offtake_by_year: pd.DataFrame | None = None,
                           *, year: int | None = None) -> pd.DataFrame:
    """Each supplier's share of Korea's imports of ``mineral`` in ``year`` (default the target
    year) without and with the projects of ``offtake_by_year``: the partner-by-partner view of
    :func:`effect_in_year` (the same volumes, the same law; its ``top_share_after`` is this
    table's largest ``after``).

    Returns
    -------
    pandas.DataFrame
        Index ``partner_iso3`` (descending by the larger of the two shares); ``before``,
        ``after`` [fraction] on :func:`share_basis`. Empty for a mineral with assumed shares only.
    """
    year = int(scenario.target_year if year is None else year)
    opt = _options(scenario)
    b = baseline(ref, mineral, **opt)
    if b.assumed:
        return pd.DataFrame(columns=["before", "after"])
    cf_v = counterfactual_volumes_by_year(ref, mineral, [year], b.window_volumes, opt["case"])[0]
    added: dict = {}
    if offtake_by_year is not None and len(offtake_by_year):
        df = _check_offtake(offtake_by_year, "korea_offtake_t")
        df = df[(df["year"].astype(int) == year) & (df["mineral"] == mineral)]
        if len(df):
            units = import_units(ref, df, opt["basis"], "korea_offtake_t")
            added = units.groupby(df["supplier_iso3"].to_numpy()).sum().to_dict()
    after = apply_additions(cf_v, added, scenario.displacement_rule)
    out = pd.DataFrame({"before": cf_v / cf_v.sum(), "after": after / after.sum()}).fillna(0.0)
    out.index.name = "partner_iso3"
    out = out[(out["before"] > 0) | (out["after"] > 0)]
    return out.loc[out.max(axis=1).sort_values(ascending=False).index]


# ----------------------------------------------------------------------------------------------
# offtake from the evaluation (payable basis, ramp-up, element share, stage probability)
# ----------------------------------------------------------------------------------------------
def production_probability(ref: ReferenceData, app) -> float:
    """Probability that the project reaches production at its stage [fraction]
    (``supply_score_scale.p_production_<stage>``; an exploration application's own
    ``success_probability`` when given)."""
    if app.stage == "exploration" and getattr(app, "success_probability", None) is not None:
        return float(app.success_probability)
    return _scale(ref, f"p_production_{app.stage}")


def offtake_by_year_from_evaluation(ev, ids: Iterable[str] | None = None, *, ref: ReferenceData | None = None,
                                    stage_weighted: bool | None = None) -> pd.DataFrame:
    """Korea's payable offtake per project and calendar year from the cash-flow table.

    ``korea_offtake_t = payable_t x korea_offtake_share`` (the payable basis, from first
    production with the ramp-up); column t of the cash-flow table is calendar year
    ``first_year - 1 + t``.

    Parameters
    ----------
    ev : evaluator.evaluate.Evaluation
    ids : iterable of str, optional
    ref : ReferenceData, optional
        Default the bundled tables (for unit factors, the REE basket, stage probabilities).
    stage_weighted : bool, optional
        Multiply ``chain_t_per_product_t`` by :func:`production_probability`; default the
        ``stage_weighted`` row of ``supply_score_scale.csv``.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``mineral``, ``country_iso3``, ``processing_country_iso3``, ``year``,
        ``korea_offtake_t`` [t product], ``price_usd_per_t``, ``chain_t_per_product_t`` [t unit
        counted per t product: unit factor x element share x probability].
    """
    ref = ref if ref is not None else load_reference()
    out = ev.memoised(("offtake_by_year", stage_weighted), ref, lambda: _offtake_by_year(ev, ref, stage_weighted))
    if ids is not None:
        out = out[out["id"].isin([str(i) for i in ids])].reset_index(drop=True)
    return out


def _offtake_by_year(ev, ref: ReferenceData, stage_weighted: bool | None) -> pd.DataFrame:
    meta = _offtake_meta(ev, ref, stage_weighted)
    cf = ev.cashflows
    arr = np.asarray(cf.payable_t, dtype=float) * meta["korea_offtake_share"].to_numpy(float)[:, None]
    years = np.asarray(cf.calendar_years)
    n, T = arr.shape
    out = pd.DataFrame({"id": np.repeat(np.asarray(cf.ids, dtype=object), T), "year": np.tile(years, n),
                        "korea_offtake_t": arr.ravel()})
    out = out.join(meta.drop(columns="korea_offtake_share"), on="id")
    return out[["id", "mineral", "country_iso3", "processing_country_iso3", "year", "korea_offtake_t",
                "price_usd_per_t", "chain_t_per_product_t"]].reset_index(drop=True)


def _offtake_meta(ev, ref: ReferenceData, stage_weighted: bool | None) -> pd.DataFrame:
    """Per project (in cash-flow order): mineral, host, processing country, price, chain factor."""
    weighted = bool(_scale(ref, "stage_weighted")) if stage_weighted is None else bool(stage_weighted)
    apps = {a.id: a for a in ev.applications}
    m = ev.metrics
    ids = list(ev.cashflows.ids)
    rows = []
    for i in ids:
        a = apps[i]
        unit = _tables(ref).units
        f = float(unit.at[a.mineral, "t_unit_per_t_product"]) if a.mineral in unit.index else 1.0
        f *= element_share(ref, a.mineral, getattr(a, "ree_basket", ()) or ())
        if weighted:
            f *= production_probability(ref, a)
        rows.append({"id": i, "mineral": a.mineral, "country_iso3": a.country_iso3,
                     "processing_country_iso3": (getattr(a, "processing_country_iso3", None) or a.country_iso3).upper(),
                     "price_usd_per_t": float(m.at[i, "price_usd_per_t"]),
                     "korea_offtake_share": float(m.at[i, "korea_offtake_share"]), "chain_t_per_product_t": f})
    return pd.DataFrame(rows).set_index("id")


def offtake_from_evaluation(ev, *, ref: ReferenceData | None = None, stage_weighted: bool | None = None) -> pd.DataFrame:
    """Offtake table for scoring and allocation from an evaluation.

    ``korea_offtake_t_per_year`` is the payable Korean offtake averaged over the scoring years
    (``score_first_year`` .. ``score_last_year``, 2030-2035), so a project that starts late or is
    still ramping up counts less; ``korea_offtake_t_steady`` is the average over its operating
    years; ``korea_offtake_t_full`` the offtake at full production (its largest year: what a
    page shows as "the offtake", beside the target year's from :func:`offtake_by_year_from_evaluation`,
    never the first ramp-up year alone).

    Returns
    -------
    pandas.DataFrame
        ``id``, ``mineral``, ``country_iso3``, ``processing_country_iso3``,
        ``korea_offtake_t_per_year`` [t product/yr], ``korea_offtake_t_steady`` [t product/yr],
        ``korea_offtake_t_full`` [t product/yr],
        ``first_production_year``, ``price_usd_per_t`` [USD/t], ``chain_t_per_product_t``.
    """
    ref = ref if ref is not None else load_reference()
    return ev.memoised(("offtake", stage_weighted), ref, lambda: _offtake(ev, ref, stage_weighted))


def _offtake(ev, ref: ReferenceData, stage_weighted: bool | None) -> pd.DataFrame:
    by = offtake_by_year_from_evaluation(ev, ref=ref, stage_weighted=stage_weighted)
    y0, y1 = score_years(ref)
    window = by[(by.year >= y0) & (by.year <= y1)].groupby("id")["korea_offtake_t"].sum() / (y1 - y0 + 1)
    meta = _offtake_meta(ev, ref, stage_weighted)
    m = ev.metrics.reindex(meta.index)
    payable = np.asarray(ev.cashflows.payable_t, dtype=float).sum(axis=1) * meta["korea_offtake_share"].to_numpy(float)
    full = by.groupby("id")["korea_offtake_t"].max()
    out = meta.drop(columns="korea_offtake_share").assign(
        korea_offtake_t_per_year=window.reindex(meta.index).fillna(0.0),
        korea_offtake_t_steady=payable / np.maximum(m["operating_years"].to_numpy(float), 1.0),
        korea_offtake_t_full=full.reindex(meta.index).fillna(0.0),
        first_production_year=m["first_production_year"].to_numpy())
    out.index.name = "id"
    return out.reset_index()[["id", "mineral", "country_iso3", "processing_country_iso3", "korea_offtake_t_per_year",
                              "korea_offtake_t_steady", "korea_offtake_t_full", "first_production_year",
                              "price_usd_per_t", "chain_t_per_product_t"]]


# ----------------------------------------------------------------------------------------------
# the officer's explanation
# ----------------------------------------------------------------------------------------------
def explain_project(ref: ReferenceData, scenario, ev, app_id: str, *, benefits: pd.DataFrame | None = None) -> dict:
    """Numbers behind a project's diversification score, for the Project and Allocation pages.

    "Korea imported X t TREO-eq a year in 2022-24, 75 % from China; this project's payable
    NdPr+Dy+Tb offtake of Y t from 2029 lowers China's 2030 share from A % to B %."

    Parameters
    ----------
    ref, scenario, ev
        Reference data (with a customs upload applied, if any), scenario, evaluation.
    app_id : str
    benefits : pandas.DataFrame, optional
        :func:`project_benefits` output (recomputed when not given).

    Returns
    -------
    dict
        ``label_key`` (``supply.explain.project``, ``supply.explain.refined_in_incumbent``,
        ``supply.explain.assumed_shares`` or ``supply.explain.no_offtake_by_target``) and the
        numbers: ``mineral``, ``unit``, ``scored_elements`` (``NdPr+Dy+Tb`` or ``all``),
        ``window`` (first, last), ``imports_content_t`` and ``china_share_content`` (all content,
        window average), ``imports_scored_t``, ``china_share_scored``, ``incumbent``,
        ``processing_country_iso3``, ``first_production_year``, ``offtake_scored_t_target_year``,
        ``offtake_scored_t_full`` (at full production: its largest year),
        ``offtake_scored_t_reference`` (scoring-years mean), ``share_basis``, ``target_year``,
        ``china_share_target_before`` / ``_after``, ``top_supplier_target_after``,
        ``top_share_target_after``, ``diversification_score``, ``large_offtake``,
        ``offtake_share_of_demand``, ``note``.
    """
    app_id = str(app_id)
    off = offtake_from_evaluation(ev, ref=ref)
    row = off.set_index("id").loc[app_id]
    mineral = row["mineral"]
    b = baseline(ref, mineral, **{k: v for k, v in _options(scenario).items()})
    if benefits is None or app_id not in benefits.index:
        benefits = project_benefits(ref, scenario, off[off["id"] == app_id])
    pb = benefits.loc[app_id]
    d = {"id": app_id, "mineral": mineral, "unit": b.unit, "incumbent": b.incumbent,
         "processing_country_iso3": row["processing_country_iso3"], "target_year": int(scenario.target_year),
         "diversification_score": float(pb["diversification_score"]), "large_offtake": bool(pb["large_offtake"]),
         "offtake_share_of_demand": float(pb["offtake_share_of_demand"]), "note": str(pb["note"]),
         "scored_elements": "NdPr+Dy+Tb" if element_share(ref, mineral, ()) < 1 else "all"}
    if b.assumed:
        return dict(d, label_key="supply.explain.assumed_shares")
    by = offtake_by_year_from_evaluation(ev, ids=[app_id], ref=ref)
    by = by.assign(units=import_units(ref, by, b.basis, "korea_offtake_t"))
    producing = by[by["korea_offtake_t"] > 0]
    proj = projection_by_year(ref, scenario, by, ids=[app_id]).set_index("year")
    ty = int(scenario.target_year)
    content = b.window_content
    d.update(window=b.window, imports_content_t=float(content.sum()),
             china_share_content=float(content.get(CHINA, 0.0) / content.sum()),
             imports_scored_t=float(b.window_volumes.sum()),
             china_share_scored=float(b.window_volumes.get(CHINA, 0.0) / b.window_volumes.sum()),
             first_production_year=int(producing["year"].min()) if len(producing) else None,
             offtake_scored_t_target_year=float(by.loc[by["year"] == ty, "units"].sum()),
             offtake_scored_t_full=float(by["units"].max()) if len(by) else 0.0,
             offtake_scored_t_reference=float(pb["added_volume"]),
             share_basis=share_basis(ref, mineral),
             china_share_target_before=float(proj.at[ty, "china_share_counterfactual"]) if ty in proj.index else np.nan,
             china_share_target_after=float(proj.at[ty, "china_share"]) if ty in proj.index else np.nan,
             top_supplier_target_after=proj.at[ty, "top_supplier"] if ty in proj.index else None,
             top_share_target_after=float(proj.at[ty, "top_share"]) if ty in proj.index else np.nan)
    if row["processing_country_iso3"] == b.incumbent:
        d["label_key"] = "supply.explain.refined_in_incumbent"
    elif d["offtake_scored_t_target_year"] <= 0:
        d["label_key"] = "supply.explain.no_offtake_by_target"
    else:
        d["label_key"] = "supply.explain.project"
    return d


def explanation_text(d: Mapping) -> str:
    """English sentence for :func:`explain_project`'s dict (the pages may translate by label key)."""
    if d["label_key"] == "supply.explain.assumed_shares":
        return f"No bundled import volumes for {d['mineral']}: shares are assumed, the project scores 0."
    w0, w1 = d["window"]
    elem = "" if d["scored_elements"] == "all" else f" {d['scored_elements']}"
    head = (f"Korea imported {d['imports_content_t']:,.0f} {d['unit']} a year in {w0}-{str(w1)[-2:]}, "
            f"{d['china_share_content']:.0%} from China")
    if elem:
        head += f" ({d['imports_scored_t']:,.0f} t of it{elem}, {d['china_share_scored']:.0%} from China)"
    if d["label_key"] == "supply.explain.refined_in_incumbent":
        return head + (f"; this project's output is refined in {d['processing_country_iso3']}, the top supplier, "
                       "so it does not lower the dependence on it.")
    if d["label_key"] == "supply.explain.no_offtake_by_target":
        return head + f"; this project delivers nothing to Korea by {d['target_year']} (first production {d['first_production_year']})."
    return head + (f"; this project's payable{elem} offtake of {d['offtake_scored_t_target_year']:,.0f} t from "
                   f"{d['first_production_year']} lowers China's {d['target_year']} share from "
                   f"{d['china_share_target_before']:.0%} to {d['china_share_target_after']:.0%}.")


def explain_portfolio(ref: ReferenceData, scenario, ev, ids: Iterable[str], *,
                      fractions: Mapping[str, float] | None = None) -> list[dict]:
    """Per mineral, the numbers behind the funded set's effect (Allocation page, report).

    Parameters
    ----------
    ref, scenario, ev
        As :func:`explain_project`.
    ids : iterable of str
        Funded applications.
    fractions : mapping, optional
        id -> funded share of the request [0-1]; the offtake counts in proportion
        (:func:`funded_offtake`; an id not in it counts 0). Default: every id in full.

    Returns
    -------
    list of dict
        One per mineral touched: ``label_key`` (``supply.explain.portfolio``), ``mineral``,
        ``unit``, ``window``, ``imports_content_t``, ``china_share_content``, ``n_projects``,
        ``offtake_scored_t_target_year``, ``offtake_scored_t_full`` (each project at full
        production, summed), ``share_basis``, ``target_year``, ``china_share_target_before`` /
        ``_after``, ``top_supplier_target_after``, ``top_share_target_after``,
        ``meets_target_target_year``, ``first_year_meeting_target`` (None when never by the
        horizon).
    """
    ids = [str(i) for i in ids]
    by = offtake_by_year_from_evaluation(ev, ids=ids, ref=ref)
    if fractions is not None:
        by = funded_offtake(by, fractions, "korea_offtake_t")
    opt = _options(scenario)
    by = by.assign(units=import_units(ref, by, opt["basis"], "korea_offtake_t"))
    proj = projection_by_year(ref, scenario, by)
    ty = int(scenario.target_year)
    out = []
    for m, g in proj.groupby("mineral", sort=True):
        g = g.set_index("year")
        b = baseline(ref, m, **opt)
        meets = g.index[g["meets_target"].to_numpy(bool)]
        content = b.window_content
        out.append({"label_key": "supply.explain.portfolio", "mineral": m, "unit": b.unit, "window": b.window,
                    "imports_content_t": float(content.sum()),
                    "china_share_content": float(content.get(CHINA, 0.0) / content.sum()),
                    "n_projects": int(by.loc[by["mineral"] == m, "id"].nunique()),
                    "offtake_scored_t_target_year": float(by.loc[(by["mineral"] == m) & (by["year"] == ty), "units"].sum()),
                    "offtake_scored_t_full": float(by[by["mineral"] == m].groupby("id")["units"].max().sum()),
                    "share_basis": share_basis(ref, m), "target_year": ty,
                    "china_share_target_before": float(g.at[ty, "china_share_counterfactual"]) if ty in g.index else np.nan,
                    "china_share_target_after": float(g.at[ty, "china_share"]) if ty in g.index else np.nan,
                    "top_supplier_target_after": g.at[ty, "top_supplier"] if ty in g.index else None,
                    "top_share_target_after": float(g.at[ty, "top_share"]) if ty in g.index else np.nan,
                    "meets_target_target_year": bool(g.at[ty, "meets_target"]) if ty in g.index else False,
                    "first_year_meeting_target": int(meets.min()) if len(meets) else None})
    return out


def funded_offtake(offtake: pd.DataFrame, fraction_by_id: Mapping[str, float], value_col: str) -> pd.DataFrame:
    """The offtake a set of funding decisions secures: each project's ``value_col`` times the
    funded share of its request (0 for a project not funded).

    The one home of the rule "a partly funded project counts its funded share of the offtake":
    the allocation's supply effect, the China-share projection by year, the CLI and the report
    all take their volumes from here.

    Parameters
    ----------
    offtake : pandas.DataFrame
        Column ``id`` and the volume column ``value_col`` [t or t/yr].
    fraction_by_id : mapping or pandas.Series
        Funded share of each project's request [0-1]; projects not named count 0.
    value_col : str

    Returns
    -------
    pandas.DataFrame
        The rows of funded projects (share > 0), ``value_col`` scaled by the share.
    """
    share = pd.Series(fraction_by_id, dtype=float)
    out = offtake[offtake["id"].astype(str).isin(share.index[share > 0])].copy()
    out[value_col] = out[value_col].to_numpy(float) * out["id"].astype(str).map(share).to_numpy(float)
    return out.reset_index(drop=True)
