"""The chain basis: HS rows -> contained units -> window average by partner; demand and the counterfactual without projects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData
from evaluator.supply.concentration import CHINA, SupplyDataError


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


def _check_basis(basis: str) -> str:
    if basis not in ("quantity", "value"):
        raise ValueError(f"basis must be 'quantity' or 'value', got {basis!r}")
    return basis


def _options(scenario) -> dict:
    """Basis, window and demand case of the scenario (window None: the data's default window)."""
    return {"basis": scenario.import_basis, "window": scenario.supply_window, "case": scenario.demand_case}
