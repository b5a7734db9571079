"""The officer's explanation of a project's and a portfolio's supply effect."""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from evaluator.reference import ReferenceData
from evaluator.supply.basis import baseline
from evaluator.supply.chain import _options
from evaluator.supply.concentration import CHINA
from evaluator.supply.displacement import element_share, import_units
from evaluator.supply.effect import project_benefits
from evaluator.supply.offtake import funded_offtake, offtake_by_year_from_evaluation, offtake_from_evaluation
from evaluator.supply.projection import projection_by_year, share_basis


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
