"""The time path: shares by year with and without the projects, the effect in the target year."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData, ReferenceDataError
from evaluator.supply.basis import MineralSupply, baseline
from evaluator.supply.chain import _options, counterfactual_volumes_by_year
from evaluator.supply.concentration import _EPS, CHINA
from evaluator.supply.displacement import _check_offtake, apply_additions, element_share, import_units, measures_after
from evaluator.supply.effect import _baselines, _put_before_after, score_value

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
        _put_before_after(row, before, after, _EFFECT_MEASURES, target)
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
