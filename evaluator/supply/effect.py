"""The supply effect: the diversification score, the portfolio's effect, projects' and joint benefits."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData, ReferenceDataError, designation_weight
from evaluator.supply.basis import MineralSupply, baseline
from evaluator.supply.chain import _options, _scale
from evaluator.supply.concentration import _EPS, SupplyDataError
from evaluator.supply.displacement import _check_offtake, _displace, additions_by_mineral, import_units, measures_after, measures_after_each


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
        _put_before_after(row, before, after, ("china_share", "top_supplier", "top_share", "hhi", "hhi_wgi",
                                               "geopolrisk", "incumbent_share", "volume"), target)
        row["reduction"] = 0.0 if b.assumed else incumbent_reduction(b, after)
        row["benefit_pp"] = float(score_value(ref, m, row["reduction"]))
        rows.append(row)
    out = pd.DataFrame(rows)
    return out if out.empty else out.set_index("mineral")



def _put_before_after(row: dict, before: dict, after: dict, measures: Iterable[str], target: float) -> None:
    """Each of ``measures`` before and after the additions into ``row`` (``<k>_before``,
    ``<k>_after``), and for both whether the top supplier's share meets ``target`` [fraction]
    (``meets_target_*``) and its gap to it (``gap_to_target_*`` [fraction]; NaN when unknown)."""
    for k in measures:
        row[f"{k}_before"] = before[k]
        row[f"{k}_after"] = after[k]
    for s in ("before", "after"):
        ts = row[f"top_share_{s}"]
        row[f"meets_target_{s}"] = bool(ts <= target + _EPS) if ts == ts else False
        row[f"gap_to_target_{s}"] = max(0.0, ts - target) if ts == ts else np.nan


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
