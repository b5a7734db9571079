"""The supply-security numbers in words an officer can check, in the session's language.

The numbers come from :func:`evaluator.supply.explain_project` and
:func:`evaluator.supply.explain_portfolio`; only the wording lives here (label files).
"""

from __future__ import annotations

from collections.abc import Mapping

from app_pages.fmt import country_name, country_subject, share_basis_label
from app_pages.i18n import t
from evaluator.supply import CHINA


def _pct(x) -> str:
    return f"{100 * float(x):.0f}%"


def _imports(d: Mapping) -> str:
    w0, w1 = d["window"]
    text = t("explain_imports", imports=f"{d['imports_content_t']:,.0f}", unit=d["unit"], start=w0, end=w1,
             china=_pct(d["china_share_content"]))
    if d.get("scored_elements", "all") != "all":
        text += t("explain_imports_scored", scored=f"{d['imports_scored_t']:,.0f}", elements=d["scored_elements"],
                  china=_pct(d["china_share_scored"]))
    return text


def project_sentence(d: Mapping) -> str:
    """One project's contribution (:func:`evaluator.supply.explain_project`)."""
    key = d["label_key"]
    if key == "supply.explain.assumed_shares":
        return t("explain_assumed_shares", mineral=d["mineral"])
    head = _imports(d)
    if key == "supply.explain.refined_in_incumbent":
        return head + t("explain_refined_in_incumbent", country=d["processing_country_iso3"])
    if key == "supply.explain.no_offtake_by_target":
        return head + t("explain_no_offtake_by_target", year=d["target_year"], first=d["first_production_year"])
    elements = "" if d.get("scored_elements", "all") == "all" else f" {d['scored_elements']}"
    text = head + t("explain_project_effect", elements=elements, offtake=f"{d['offtake_scored_t_target_year']:,.0f}",
                    full=f"{d['offtake_scored_t_full']:,.0f}", first=d["first_production_year"],
                    year=d["target_year"], basis=share_basis_label(d["share_basis"]),
                    before=_pct(d["china_share_target_before"]), after=_pct(d["china_share_target_after"]))
    top = d.get("top_supplier_target_after")
    if top and top != CHINA:
        text += t("explain_project_new_top", country=country_subject(top), share=_pct(d["top_share_target_after"]))
    text += "."
    if d.get("large_offtake"):
        text += " " + t("explain_large_offtake", share=_pct(d["offtake_share_of_demand"]))
    return text


def portfolio_sentence(d: Mapping, target_share: float) -> str:
    """The funded set's effect on one mineral (:func:`evaluator.supply.explain_portfolio`)."""
    year, target = d["target_year"], _pct(target_share)
    text = _imports(d) + t("explain_portfolio_effect", n=d["n_projects"], offtake=f"{d['offtake_scored_t_target_year']:,.0f}",
                           full=f"{d['offtake_scored_t_full']:,.0f}", unit=d["unit"], year=year,
                           basis=share_basis_label(d["share_basis"]), before=_pct(d["china_share_target_before"]),
                           after=_pct(d["china_share_target_after"]))
    # the programme's target: the top supplier after the portfolio, whoever it is, named
    top, share = d.get("top_supplier_target_after"), _pct(d["top_share_target_after"])
    if d["meets_target_target_year"]:
        text += t("explain_target_met_in_year", country=country_name(top), share=share, target=target, year=year)
    elif top == CHINA:
        text += t("explain_china_still_top", share=share, target=target, year=year)
    else:
        text += t("explain_new_top_supplier", country=country_subject(top), share=share, target=target, year=year)
    first = d.get("first_year_meeting_target")
    if first is not None and first != year:
        return text + " " + t("explain_target_met_from", year=first)
    return text if first is not None else text + " " + t("explain_target_not_met", target=target)


def rank_changes(was, now):
    """Applications whose rank moved between two rankings: ``was``, ``now`` (NaN: not ranked) and
    ``change`` (+2 = up two places; "new" / "out" when it entered or left the ranking)."""
    import pandas as pd

    both = pd.DataFrame({"was": was, "now": now})
    moved = both[(both["was"].fillna(-1) != both["now"].fillna(-1))].copy()

    def change(r):
        if pd.isna(r["was"]):
            return t("rank_entered")
        if pd.isna(r["now"]):
            return t("rank_left")
        d = int(r["was"] - r["now"])
        return f"+{d}" if d > 0 else str(d)

    moved["change"] = [change(r) for _, r in moved.iterrows()]
    return moved.sort_values("now", na_position="last")
