"""Supply diversification: Korea's import concentration per mineral and what projects change.

Per mineral, Korea's imports by partner country (``ReferenceData.korea_imports``: CEPII BACI, or
an uploaded customs extract via :mod:`evaluator.customs`) give the partner shares; this module
measures their concentration, applies the extra imports that Korean offtake from overseas projects
brings, and scores the change.

Measures (all on partner shares ``s_c`` [fraction] of Korea's imports of one mineral)
-------------------------------------------------------------------------------------
``china_share``     s_CHN.
``top_share``       max_c s_c, with ``top_supplier`` its ISO3 code. Korea's target: at most
                    ``scenario.target_single_supplier_share`` (0.50) by ``scenario.target_year``.
``hhi``             sum_c s_c^2 [0-1] (Herfindahl-Hirschman index on fractions).
``hhi_wgi``         sum_c s_c^2 x WGI_scaled_c [0-10], the EU criticality method's supply-risk
                    concentration term [1]_.
``geopolrisk``      HHI_production x sum_c s_c x WGI_scaled_c / 10 [0-1], the GeoPolRisk form of
                    [2]_ [3]_ (see :func:`geopolrisk`).

WGI rescaling (documented once, used everywhere)
------------------------------------------------
``WGI_scaled_c = (2.5 - mean6WGI_c) * 2``, clipped to [0, 10], where ``mean6WGI_c`` is the mean of
the six Worldwide Governance Indicators estimates of country c (``wgi_va, wgi_pv, wgi_ge, wgi_rq,
wgi_rl, wgi_cc`` in ``countries.csv``; about -2.5 worst .. +2.5 best; the mean skips a missing
dimension). So 0 = best governance, 10 = worst, as in the EU method [1]_ (which uses the scaled
WGI of the supplying country). Partners without WGI figures (``OTH`` "other countries", Curacao,
New Caledonia, "Other Asia, nes" ...) take the median WGI_scaled of all countries in
``countries.csv`` (a labelled fallback, :data:`WGI_FALLBACK_NOTE`).

How a project changes imports (``scenario.displacement_rule``)
--------------------------------------------------------------
A project adds Korea's offtake from its host country; in import-comparable units that is
``offtake_t x minerals.import_t_per_product_t`` [t gross, quantity basis] or
``offtake_t x price_usd_per_t / 1000`` [kUSD, value basis]. See :func:`apply_additions` for the
three rules. All projects of one mineral are applied jointly (added volumes summed per host), so two
projects never both claim the same reduction.

Benefit, score and joint benefit
--------------------------------
The *incumbent* is the top supplier in the baseline (China for most minerals). Korea's policy is
about cutting that dependence, and measuring the incumbent's share (rather than whichever country
is largest afterwards) makes the benefit monotone in offtake and sub-additive over sets of projects
(a proof sketch is in :func:`joint_benefit`). The new largest supplier is still reported
(``top_supplier_after``, ``top_share_after``, ``meets_target_after``) so that a project which
builds a new dependence is visible.

* ``excess = max(0, incumbent_share - target)`` [fraction]: how far the mineral is above target.
* benefit of a set on a mineral [weighted percentage points] =
  ``100 x w_m x max(0, excess_before - excess_after)`` with ``w_m`` the designation weight
  (``designation_weights.csv``). A mineral already at or below the target gains nothing.
* :func:`joint_benefit` = sum over minerals of that quantity for the set applied jointly.
* ``diversification_score`` [0-100] per project, alone against the baseline, on a fixed scale::

      score = 100 x w_m x (0.5 x min(1, reduction / REFERENCE_REDUCTION) + 0.5 x target_progress)

  with ``reduction = max(0, incumbent_share_before - incumbent_share_after)`` [fraction],
  ``REFERENCE_REDUCTION = 0.10`` (10 percentage points: a single project that cuts the dominant
  supplier's share by 10 pp gets the full half), and
  ``target_progress = (excess_before - excess_after) / excess_before`` in [0, 1] (0 when already
  at or below target). It depends only on the project, the baseline and the scenario, never on the
  other applications.

References
----------
.. [1] European Commission (2017). Methodology for establishing the EU list of critical raw
   materials. Publications Office of the EU, doi:10.2873/769526 (SR = HHI_WGI x IR x (1 - EoL_RIR)
   x SI; HHI_WGI = sum_c (s_c)^2 x WGI_c, WGI rescaled 0-10).
.. [2] Gemechu, E. D., Helbig, C., Sonnemann, G., Thorenz, A. and Tuma, A. (2016). Import-based
   indicator for the geopolitical supply risk of raw materials in life cycle sustainability
   assessments. Journal of Industrial Ecology 20(1): 154-165. doi:10.1111/jiec.12279.
.. [3] Santillan-Saldivar, J., Gemechu, E., Muller, S., Villeneuve, J., Young, S. B. and
   Sonnemann, G. (2021). An improved resource midpoint characterization method for supply risk of
   resources: integrated assessment of Li-ion batteries. Int. J. Life Cycle Assess. 27: 457-468.
   doi:10.1007/s11367-022-02027-y.
.. [4] Helbig, C., Gemechu, E. D., Pillain, B., Young, S. B., Thorenz, A., Tuma, A. and
   Sonnemann, G. (2016). Extending the geopolitical supply risk indicator: application of life
   cycle sustainability assessment to the petrochemical supply chain of polyacrylonitrile-based
   carbon fibers. Journal of Cleaner Production 137: 1170-1178.
"""

from __future__ import annotations

import weakref

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData, ReferenceDataError, designation_weight, import_volumes

__all__ = [
    "MineralSupply",
    "REFERENCE_REDUCTION",
    "WGI_COLUMNS",
    "wgi_scaled",
    "hhi",
    "hhi_wgi",
    "geopolrisk",
    "production_hhi",
    "measures",
    "baseline",
    "apply_additions",
    "additions_by_mineral",
    "portfolio_effect",
    "project_benefits",
    "joint_benefit",
    "projection_by_year",
    "offtake_from_evaluation",
    "offtake_by_year_from_evaluation",
]

WGI_COLUMNS = ("wgi_va", "wgi_pv", "wgi_ge", "wgi_rq", "wgi_rl", "wgi_cc")
#: Reduction of the dominant supplier's share that earns the full reduction half of the score [fraction].
REFERENCE_REDUCTION = 0.10
CHINA = "CHN"
WGI_FALLBACK_NOTE = "partners without WGI figures take the median WGI_scaled of countries.csv (assumption)"
_EPS = 1e-12


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


@dataclass(frozen=True)
class MineralSupply:
    """Korea's baseline imports of one mineral.

    Attributes
    ----------
    mineral : str
    basis : {'quantity', 'value'}
    year : int or None
        Trade year (None for minerals with assumed shares only).
    volumes : pandas.Series
        Partner ISO3 -> imports [t gross] (quantity) or [kUSD] (value); NaN-valued series when
        the mineral has assumed shares only (no volumes bundled).
    shares : pandas.Series
        Partner ISO3 -> share [fraction], descending.
    measures : dict
        :func:`measures` of ``shares`` (with GeoPolRisk).
    wgi : pandas.Series
        WGI_scaled [0-10] of every country in ``countries.csv`` and of the partners.
    hhi_production : float
        World production HHI [0-1].
    assumed : bool
        True when the shares come from ``korea_imports_assumed.csv`` (no volumes).
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

    @property
    def total(self) -> float:
        """Total imports [t gross or kUSD]."""
        return float(self.volumes.sum(min_count=1))

    @property
    def incumbent(self) -> str | None:
        """ISO3 of the baseline top supplier."""
        return self.measures["top_supplier"]


def _check_basis(basis: str) -> str:
    if basis not in ("quantity", "value"):
        raise ValueError(f"basis must be 'quantity' or 'value', got {basis!r}")
    return basis


#: baseline() results per reference-data object (slider moves re-use them: about 60 ms a call
#: otherwise); entries go when the ReferenceData object is garbage-collected.
_BASELINES: dict[int, dict] = {}


def baseline(ref: ReferenceData, mineral: str, *, basis: str = "quantity", year: int | None = None) -> MineralSupply:
    """Cached :func:`compute_baseline` (the result is shared: treat it as read-only)."""
    key = id(ref)
    per_ref = _BASELINES.get(key)
    if per_ref is None:
        per_ref = _BASELINES[key] = {}
        weakref.finalize(ref, _BASELINES.pop, key, None)
    k = (mineral, basis, year)
    if k not in per_ref:
        per_ref[k] = compute_baseline(ref, mineral, basis=basis, year=year)
    return per_ref[k]


def compute_baseline(ref: ReferenceData, mineral: str, *, basis: str = "quantity", year: int | None = None) -> MineralSupply:
    """Korea's imports of a mineral by partner, their shares and concentration measures.

    Parameters
    ----------
    ref : ReferenceData
    mineral : str
        Mineral key.
    basis : {'quantity', 'value'}
        Quantity [t gross] or value [kUSD]; partners without a reported quantity are left out on
        the quantity basis.
    year : int, optional
        Trade year; default the latest year with data for the mineral.

    Returns
    -------
    MineralSupply
    """
    _check_basis(basis)
    v, yr = import_volumes(ref, mineral, year=year, basis=basis)
    if v is not None:
        shares = v / v.sum()
        assumed = False
    else:
        a = ref.korea_imports_assumed[ref.korea_imports_assumed.mineral == mineral]
        shares = a.groupby("partner_iso3").share.sum().astype(float)
        shares = (shares / shares.sum()).sort_values(ascending=False)
        v = pd.Series(np.nan, index=shares.index)
        yr, assumed = None, True
    v.index.name = shares.index.name = "partner_iso3"
    v.name, shares.name = "volume", "share"
    w = wgi_scaled(ref, shares.index)
    hp = production_hhi(ref, mineral)
    every = wgi_scaled(ref)
    every = pd.concat([every, w[~w.index.isin(every.index)]])
    return MineralSupply(mineral, basis, yr, v, shares, measures(shares, w, hhi_production=hp), every, hp, assumed)


def apply_additions(volumes: pd.Series, additions: Mapping[str, float], rule: str) -> pd.Series:
    """Partner volumes after Korea buys ``additions`` from host countries.

    Parameters
    ----------
    volumes : pandas.Series
        Partner ISO3 -> current imports [t gross or kUSD], >= 0.
    additions : mapping of str to float
        Host ISO3 -> added imports in the same unit, >= 0 (several projects in one host summed).
    rule : {'top_supplier', 'pro_rata', 'additive'}
        ``top_supplier``: the total added volume ``A`` displaces the largest current supplier's
        volume, not below zero; any remainder displaces the next largest, and so on.
        ``pro_rata``: ``A`` displaces every current source in proportion to its volume.
        ``additive``: nothing is displaced; imports grow by ``A``.
        In all rules the hosts' volumes then grow by their additions (a host that already supplies
        Korea grows). Displacement applies to the volumes *before* the additions, so a project in
        the top supplier itself changes nothing under ``top_supplier``. When ``A`` exceeds all
        current imports, everything is displaced and total imports become ``A``.

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
# offtake -> additions
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
    df[value_col] = pd.to_numeric(df[value_col], errors="coerce").fillna(0.0).clip(lower=0.0)
    return df


def import_units(ref: ReferenceData, df: pd.DataFrame, basis: str, value_col: str) -> pd.Series:
    """Offtake [t product] -> import-comparable units [t gross or kUSD], one value per row."""
    if basis == "quantity":
        factor = df["mineral"].map(ref.minerals["import_t_per_product_t"]).astype(float)
        return df[value_col].astype(float) * factor
    if "price_usd_per_t" in df.columns:
        price = pd.to_numeric(df["price_usd_per_t"], errors="coerce")
    else:
        price = pd.Series(np.nan, index=df.index)
    base = df["mineral"].map(ref.minerals["price_base_usd_per_t"]).astype(float)
    price = price.fillna(base)
    return df[value_col].astype(float) * price / 1000.0


def additions_by_mineral(ref: ReferenceData, scenario, offtake: pd.DataFrame, ids: Sequence[str] | None = None) -> dict[str, pd.Series]:
    """Added imports per mineral and host country [t gross or kUSD], projects summed jointly.

    Parameters
    ----------
    offtake : pandas.DataFrame
        Columns ``id``, ``mineral``, ``country_iso3``, ``korea_offtake_t_per_year`` [t priced
        product/yr], optional ``price_usd_per_t`` [USD/t] (value basis; default the base price).
    ids : sequence of str, optional
        Projects to include; default all rows.

    Returns
    -------
    dict of str to pandas.Series
        mineral -> Series host ISO3 -> added volume.
    """
    df = _check_offtake(offtake)
    if ids is not None:
        df = df[df["id"].isin([str(i) for i in ids])]
    if df.empty:
        return {}
    unknown = sorted(set(df["mineral"]) - set(ref.minerals.index))
    if unknown:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown minerals {unknown}")
    df = df.assign(added_units=import_units(ref, df, scenario.import_basis, "korea_offtake_t_per_year"))
    return {m: g.groupby("country_iso3")["added_units"].sum() for m, g in df.groupby("mineral", sort=True)}


def _displace(v: np.ndarray, total_add: float, rule: str) -> np.ndarray:
    """NumPy core of :func:`apply_additions` on the current partners' volumes (no hosts added)."""
    if rule == "top_supplier" and total_add > 0:
        order = np.argsort(-v, kind="mergesort")
        ov = v[order]
        cum_before = np.cumsum(ov) - ov  # volume of larger suppliers
        out = np.empty_like(v)
        out[order] = ov - np.clip(total_add - cum_before, 0.0, ov)
        return out
    if rule == "pro_rata" and total_add > 0:
        tot = float(v.sum())
        return v * (1.0 - (min(1.0, total_add / tot) if tot > 0 else 1.0))
    if rule not in ("top_supplier", "pro_rata", "additive"):
        raise ValueError(f"displacement rule must be top_supplier, pro_rata or additive, got {rule!r}")
    return v.copy()


def _after(base: MineralSupply, added: Mapping[str, float], rule: str, target: float) -> dict:
    """Measures after the additions, plus the incumbent's share and excess over target.

    The same arithmetic as :func:`apply_additions` followed by :func:`measures`, on NumPy arrays:
    it runs once per project on every weight or slider move, so pandas overhead matters here.
    """
    partners = list(base.volumes.index)
    v = np.clip(np.nan_to_num(base.volumes.to_numpy(dtype=float)), 0.0, None)
    add = {str(k): float(x) for k, x in added.items()}
    if any(x < 0 or not np.isfinite(x) for x in add.values()):
        raise ValueError("additions must be non-negative numbers")
    out = _displace(v, float(sum(add.values())), rule)
    new_hosts = [h for h in add if h not in base.volumes.index]
    names = partners + new_hosts
    out = np.concatenate([out, np.zeros(len(new_hosts))])
    pos = {c: i for i, c in enumerate(names)}
    for h, x in add.items():
        out[pos[h]] += x
    out = np.clip(out, 0.0, None)
    tot = float(out.sum())
    wgi_all = base.wgi
    fallback = float(wgi_all.median())
    wgi = wgi_all.reindex(names).fillna(fallback).to_numpy(dtype=float)
    keep = (out / tot > 0) if tot > 0 else np.zeros(len(out), dtype=bool)  # as measures(): shares > 0
    if tot <= 0 or not keep.any():
        m = {"china_share": float("nan"), "top_supplier": None, "top_share": float("nan"), "hhi": float("nan"),
             "hhi_wgi": float("nan"), "geopolrisk": float("nan"), "n_sources": 0}
    else:
        sh = out[keep] / tot
        kept = [n for n, k in zip(names, keep) if k]
        w = wgi[keep]
        top = int(np.argmax(sh))
        hp = base.hhi_production
        m = {"china_share": float(sh[kept.index(CHINA)]) if CHINA in kept else 0.0,
             "top_supplier": kept[top], "top_share": float(sh[top]), "hhi": float(np.sum(sh ** 2)),
             "hhi_wgi": float(np.sum(sh ** 2 * w)),
             "geopolrisk": float(hp) * float(np.sum(sh * w / 10.0)) if hp is not None and np.isfinite(hp) else float("nan"),
             "n_sources": int(len(sh))}
    inc = base.incumbent
    m["incumbent_share"] = float(out[pos[inc]] / tot) if tot > 0 and inc in pos else (0.0 if tot > 0 else float("nan"))
    m["volume"] = tot
    return m


def _excess(share: float, target: float) -> float:
    return max(0.0, float(share) - target) if np.isfinite(share) else 0.0


# ----------------------------------------------------------------------------------------------
# portfolio, projects, joint benefit
# ----------------------------------------------------------------------------------------------
def _baselines(ref: ReferenceData, scenario, minerals: Iterable[str]) -> dict[str, MineralSupply]:
    return {m: baseline(ref, m, basis=scenario.import_basis) for m in minerals}


def portfolio_effect(ref: ReferenceData, scenario, offtake: pd.DataFrame, *, all_minerals: bool = False) -> pd.DataFrame:
    """Before/after concentration per mineral with every project in ``offtake`` applied jointly.

    Parameters
    ----------
    ref : ReferenceData
    scenario : models.scenario.Scenario
        Uses ``import_basis``, ``displacement_rule`` and ``target_single_supplier_share``.
    offtake : pandas.DataFrame
        Columns ``id``, ``mineral``, ``country_iso3``, ``korea_offtake_t_per_year`` [t priced
        product/yr]; optional ``price_usd_per_t`` [USD/t] for the value basis.
    all_minerals : bool
        Also return the minerals no project touches (after = before).

    Returns
    -------
    pandas.DataFrame
        Index ``mineral``. Columns ``basis``, ``year``, ``incumbent``, ``{china_share, top_supplier,
        top_share, hhi, hhi_wgi, geopolrisk, incumbent_share, volume}_{before,after}``,
        ``added_volume`` [t gross or kUSD], ``n_projects``, ``meets_target_{before,after}``
        (top_share <= target), ``gap_to_target_{before,after}`` [fraction, max(0, top_share -
        target)], ``benefit_pp`` (see :func:`joint_benefit`), ``assumed_shares``, ``note``.
        Minerals with assumed shares only have no volumes: after = NaN and a note.
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
        row = {"mineral": m, "basis": b.basis, "year": b.year, "incumbent": b.incumbent,
               "n_projects": int(counts.get(m, 0)), "added_volume": float(added.sum()),
               "assumed_shares": b.assumed, "note": ""}
        before = dict(b.measures, incumbent_share=b.measures["top_share"], volume=b.total)
        if b.assumed:
            after = {k: (np.nan if not isinstance(v, str) else None) for k, v in before.items()}
            row["note"] = "no bundled import volumes (assumed shares only): effect not computed"
        else:
            after = _after(b, added, scenario.displacement_rule, target)
        for k in ("china_share", "top_supplier", "top_share", "hhi", "hhi_wgi", "geopolrisk", "incumbent_share", "volume"):
            row[f"{k}_before"] = before[k]
            row[f"{k}_after"] = after[k]
        for s in ("before", "after"):
            ts = row[f"top_share_{s}"]
            row[f"meets_target_{s}"] = bool(ts <= target + _EPS) if ts == ts else False
            row[f"gap_to_target_{s}"] = max(0.0, ts - target) if ts == ts else np.nan
        row["benefit_pp"] = 0.0 if b.assumed else 100.0 * designation_weight(ref, m) * max(
            0.0, _excess(before["incumbent_share"], target) - _excess(after["incumbent_share"], target))
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.set_index("mineral")


def project_benefits(ref: ReferenceData, scenario, offtake: pd.DataFrame) -> pd.DataFrame:
    """Each project ALONE against the baseline: changes in concentration and its score.

    Parameters
    ----------
    ref, scenario, offtake
        As :func:`portfolio_effect`.

    Returns
    -------
    pandas.DataFrame
        Index ``id``. Columns ``mineral``, ``country_iso3``, ``added_volume``, ``incumbent``,
        ``china_share_before``, ``china_share_after``, ``delta_china_share``, ``top_share_before``,
        ``top_supplier_after``, ``top_share_after``, ``delta_top_share``, ``delta_hhi``,
        ``delta_hhi_wgi``, ``delta_geopolrisk``, ``incumbent_share_before/after``,
        ``reduction`` [fraction, max(0, incumbent share before - after)], ``target_progress``
        [0-1], ``importance_weight`` [0-1], ``benefit_pp`` [weighted pp; equals
        ``joint_benefit`` of the project alone], ``diversification_score`` [0-100], ``note``.
        Deltas are after - before (negative = less concentrated).

    Notes
    -----
    Score: ``100 x w x (0.5 x min(1, reduction / 0.10) + 0.5 x target_progress)``; see the
    module docstring. Because each project is measured alone against the baseline, adding or
    removing another application never changes a project's score. A project in the incumbent
    supplier country scores 0 (its reduction is clipped at zero).
    """
    target = scenario.target_single_supplier_share
    df = _check_offtake(offtake)
    if df["id"].duplicated().any():
        raise ValueError(f"offtake table: duplicate ids {sorted(df.loc[df['id'].duplicated(), 'id'])}")
    unknown = sorted(set(df["mineral"]) - set(ref.minerals.index))
    if unknown:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown minerals {unknown}")
    df = df.assign(added_units=import_units(ref, df, scenario.import_basis, "korea_offtake_t_per_year"))
    bases = _baselines(ref, scenario, sorted(set(df["mineral"])))
    rows = []
    for r in df.itertuples(index=False):
        b = bases[r.mineral]
        w = designation_weight(ref, r.mineral)
        bm = b.measures
        row = {"id": r.id, "mineral": r.mineral, "country_iso3": r.country_iso3, "added_volume": float(r.added_units),
               "incumbent": b.incumbent, "importance_weight": w, "china_share_before": bm["china_share"],
               "top_share_before": bm["top_share"], "incumbent_share_before": bm["top_share"], "note": ""}
        if b.assumed:
            row.update(china_share_after=np.nan, top_supplier_after=None, top_share_after=np.nan,
                       delta_china_share=np.nan, delta_top_share=np.nan, delta_hhi=np.nan, delta_hhi_wgi=np.nan,
                       delta_geopolrisk=np.nan, incumbent_share_after=np.nan, reduction=0.0, target_progress=0.0,
                       benefit_pp=0.0, diversification_score=0.0,
                       note="no bundled import volumes for this mineral (assumed shares only): scored 0")
            rows.append(row)
            continue
        a = _after(b, pd.Series({r.country_iso3: float(r.added_units)}), scenario.displacement_rule, target)
        e0, e1 = _excess(bm["top_share"], target), _excess(a["incumbent_share"], target)
        reduction = max(0.0, bm["top_share"] - a["incumbent_share"])
        progress = min(1.0, max(0.0, (e0 - e1) / e0)) if e0 > _EPS else 0.0
        row.update(
            china_share_after=a["china_share"], top_supplier_after=a["top_supplier"], top_share_after=a["top_share"],
            delta_china_share=a["china_share"] - bm["china_share"], delta_top_share=a["top_share"] - bm["top_share"],
            delta_hhi=a["hhi"] - bm["hhi"], delta_hhi_wgi=a["hhi_wgi"] - bm["hhi_wgi"],
            delta_geopolrisk=a["geopolrisk"] - bm["geopolrisk"], incumbent_share_after=a["incumbent_share"],
            reduction=reduction, target_progress=progress,
            benefit_pp=100.0 * w * max(0.0, e0 - e1),
            diversification_score=100.0 * w * (0.5 * min(1.0, reduction / REFERENCE_REDUCTION) + 0.5 * progress),
        )
        if r.country_iso3 == b.incumbent:
            row["note"] = f"host is the current top supplier ({b.incumbent}): no diversification"
        elif a["top_share"] > target + _EPS and a["top_supplier"] == r.country_iso3:
            row["note"] = f"host becomes the top supplier above the {target:.0%} target"
        rows.append(row)
    cols = ["id", "mineral", "country_iso3", "added_volume", "incumbent", "china_share_before", "china_share_after",
            "delta_china_share", "top_share_before", "top_supplier_after", "top_share_after", "delta_top_share",
            "delta_hhi", "delta_hhi_wgi", "delta_geopolrisk", "incumbent_share_before", "incumbent_share_after",
            "reduction", "target_progress", "importance_weight", "benefit_pp", "diversification_score", "note"]
    return pd.DataFrame(rows, columns=cols).set_index("id")


def joint_benefit(ref: ReferenceData, scenario, offtake: pd.DataFrame, ids: Iterable[str]) -> float:
    """Portfolio-level diversification value of a set of projects [weighted percentage points].

    ``sum_m 100 x w_m x max(0, excess_m(before) - excess_m(after, set jointly))`` with
    ``excess = max(0, incumbent_share - target)`` (module docstring). The single function the
    optimiser and the UI call.

    Parameters
    ----------
    ref, scenario, offtake
        As :func:`portfolio_effect`.
    ids : iterable of str
        The set; ids not in ``offtake`` are ignored; an empty set gives 0.

    Notes
    -----
    Properties (tested with hypothesis):

    * monotone: more offtake from a non-incumbent host never lowers the benefit;
    * sub-additive: ``joint_benefit(A u B) <= joint_benefit(A) + joint_benefit(B)``. Sketch: for
      a mineral, the incumbent's share after is a convex, non-increasing function of the total
      volume ``X`` added from other hosts (``max(v - X, 0) / T`` for top_supplier, ``v (1 -
      X/T)^+ / T`` for pro_rata, ``v / (T + X)`` for additive), and additions from the incumbent
      itself only raise it. ``max(0, s - target)`` is convex non-decreasing, so the benefit is a
      concave function of ``X`` that is 0 at 0, hence sub-additive; projects in the incumbent
      country only lower the joint value, and the outer clip at zero keeps it >= 0. Displacement
      saturates (volumes cannot go negative) and a mineral at or below target gains nothing, so
      two identical projects there add nothing.
    """
    ids = [str(i) for i in ids]
    if not ids:
        return 0.0
    target = scenario.target_single_supplier_share
    adds = additions_by_mineral(ref, scenario, offtake, ids)
    bases = _baselines(ref, scenario, adds)
    total = 0.0
    for m, added in adds.items():
        b = bases[m]
        if b.assumed or added.sum() <= 0:
            continue
        a = _after(b, added, scenario.displacement_rule, target)
        gain = _excess(b.measures["top_share"], target) - _excess(a["incumbent_share"], target)
        total += 100.0 * designation_weight(ref, m) * max(0.0, gain)
    return float(total)


# ----------------------------------------------------------------------------------------------
# time path
# ----------------------------------------------------------------------------------------------
def projection_by_year(ref: ReferenceData, scenario, offtake_by_year: pd.DataFrame, *, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Projected concentration per mineral and calendar year as projects start and ramp up.

    Parameters
    ----------
    ref, scenario
        As :func:`portfolio_effect` (``first_year``, ``horizon_year``, ``target_year`` used too).
    offtake_by_year : pandas.DataFrame
        Long table ``id``, ``mineral``, ``country_iso3``, ``year``, ``korea_offtake_t`` [t priced
        product in that calendar year]; optional ``price_usd_per_t``. See
        :func:`offtake_by_year_from_evaluation`.
    ids : iterable of str, optional
        Only these projects (default all).

    Returns
    -------
    pandas.DataFrame
        One row per (mineral, year) for years ``first_year - 1`` (base year) .. ``horizon_year``:
        ``china_share``, ``top_supplier``, ``top_share``, ``incumbent_share``, ``meets_target``
        (top_share <= target), ``target_share`` (the target line), ``is_target_year``,
        ``added_volume``.

    Notes
    -----
    Assumption: Korea's total import volume stays at its latest trade year level (no demand
    growth) and the partner mix absent projects stays as in that year; each year's project
    volumes are applied jointly with the scenario's displacement rule. Minerals with assumed
    shares only are left out (no volumes).
    """
    df = offtake_by_year.copy()
    need = ["id", "mineral", "country_iso3", "year", "korea_offtake_t"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"offtake_by_year table: missing columns {missing}")
    df["id"] = df["id"].astype(str)
    if ids is not None:
        df = df[df["id"].isin([str(i) for i in ids])]
    df["country_iso3"] = df["country_iso3"].astype(str).str.upper()
    df["korea_offtake_t"] = pd.to_numeric(df["korea_offtake_t"], errors="coerce").fillna(0.0).clip(lower=0.0)
    df["year"] = df["year"].astype(int)
    target = scenario.target_single_supplier_share
    years = np.arange(scenario.first_year - 1, scenario.horizon_year + 1)
    df = df.assign(added_units=import_units(ref, df, scenario.import_basis, "korea_offtake_t"))
    add = df.groupby(["mineral", "year", "country_iso3"])["added_units"].sum()
    # one Series of host volumes per (mineral, year): looked up, not sliced, in the loop below
    added_by: dict[tuple, dict] = {}
    for (m, y, host), units in add.items():
        added_by.setdefault((m, int(y)), {})[host] = float(units)
    none: dict = {}
    bases = _baselines(ref, scenario, sorted(set(df["mineral"])))
    rows = []
    for m, b in bases.items():
        if b.assumed:
            continue
        for y in years:
            added = added_by.get((m, int(y)), none)
            a = _after(b, added, scenario.displacement_rule, target)
            rows.append({"mineral": m, "year": int(y), "china_share": a["china_share"], "top_supplier": a["top_supplier"],
                         "top_share": a["top_share"], "incumbent": b.incumbent, "incumbent_share": a["incumbent_share"],
                         "meets_target": bool(a["top_share"] <= target + _EPS), "target_share": target,
                         "is_target_year": bool(y == scenario.target_year), "added_volume": float(sum(added.values()))})
    return pd.DataFrame(rows, columns=["mineral", "year", "china_share", "top_supplier", "top_share", "incumbent",
                                       "incumbent_share", "meets_target", "target_share", "is_target_year", "added_volume"])


def offtake_from_evaluation(ev) -> pd.DataFrame:
    """Steady-state offtake table from an :class:`evaluator.evaluate.Evaluation`.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``mineral``, ``country_iso3``, ``korea_offtake_t_per_year`` [t/yr, average over
        operating years], ``price_usd_per_t`` [USD/t].
    """
    m = ev.metrics
    return m[["mineral", "country_iso3", "korea_offtake_t_per_year", "price_usd_per_t"]].reset_index()


def offtake_by_year_from_evaluation(ev, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Long table of Korea's offtake per project and calendar year from the cash-flow table.

    Column t of ``ev.cashflows.korea_offtake_t`` is calendar year ``first_year - 1 + t``.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``mineral``, ``country_iso3``, ``year``, ``korea_offtake_t`` [t], ``price_usd_per_t``.
    """
    cf = ev.cashflows
    arr = np.asarray(cf.korea_offtake_t, dtype=float)
    years = np.asarray(cf.calendar_years)
    pid = np.asarray(cf.ids, dtype=object)
    n, T = arr.shape
    out = pd.DataFrame({"id": np.repeat(pid, T), "year": np.tile(years, n), "korea_offtake_t": arr.ravel()})
    meta = ev.metrics[["mineral", "country_iso3", "price_usd_per_t"]]
    out = out.join(meta, on="id")
    if ids is not None:
        out = out[out["id"].isin([str(i) for i in ids])]
    return out[["id", "mineral", "country_iso3", "year", "korea_offtake_t", "price_usd_per_t"]].reset_index(drop=True)


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
