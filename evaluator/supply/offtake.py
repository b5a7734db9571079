"""Offtake from the evaluation (payable basis, ramp-up, element share, stage probability) and the funded offtake."""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData, load_reference
from evaluator.supply.chain import _scale, _tables, score_years
from evaluator.supply.displacement import element_share


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
