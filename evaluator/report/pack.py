"""The pack's layout: its fixed sheets and which projects get cash-flow sheets, project pages and memos."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluator import memo

#: Fixed sheets of the English report, in order (project pages ``P <id>`` follow the Summary, cash-flow
#: sheets ``CF <id>`` follow ``Supply``; Korean names in ``report_labels_ko.toml`` [sheet]).
REPORT_SHEETS = ("Summary", "Ranking", "Allocation", "Supply", "Assumptions", "Decision")
#: Number of projects given cash-flow sheets when nothing is funded and no ids are asked.
DEFAULT_TOP_N = 5
_FUND_TOL = 1e-9


def _by_id(frame, what: str) -> pd.DataFrame | None:
    """A frame indexed by application id (from an ``id`` column or the index)."""
    if frame is None:
        return None
    df = pd.DataFrame(frame).copy()
    if "id" in df.columns:
        df["id"] = df["id"].astype(str)
        df = df.set_index("id")
    df.index = df.index.astype(str)
    df.index.name = "id"
    return df


def _funded(allocation: pd.DataFrame | None) -> pd.DataFrame | None:
    if allocation is None or allocation.empty:
        return None
    a = allocation.copy()
    for c in ("fund_krw_bn", "loan_krw_bn"):
        if c not in a.columns:
            a[c] = 0.0
        a[c] = pd.to_numeric(a[c], errors="coerce").fillna(0.0)
    a["support_krw_bn"] = a["fund_krw_bn"] + a["loan_krw_bn"]
    return a


def cashflow_sheet_ids(evaluation, allocation=None, cashflow_ids=None, top_n: int = DEFAULT_TOP_N) -> list[str]:
    """Which projects get a cash-flow sheet: ``cashflow_ids`` as given (unknown ids dropped),
    else the funded ones, else the ``top_n`` by NPV."""
    known = list(evaluation.cashflows.ids)
    if cashflow_ids is not None:
        seen, out = set(), []
        for i in cashflow_ids:
            i = str(i)
            if i in known and i not in seen:
                seen.add(i)
                out.append(i)
        return out
    a = _funded(_by_id(allocation, "allocation"))
    if a is not None:
        ids = [i for i in a.index[a["support_krw_bn"] > _FUND_TOL] if i in known]
        if ids:
            return ids
    npv = evaluation.metrics["npv_usd_m"].astype(float).fillna(-np.inf)
    return [str(i) for i in npv.sort_values(ascending=False, kind="stable").index[:top_n]]


def project_page_ids(evaluation, scores=None, allocation=None, top_n: int = DEFAULT_TOP_N) -> list[str]:
    """Projects given a page: the ones the committee decides on (:func:`memo_page_ids`: every funded
    one and the nearest contested ones), in rank order; without an allocation the ``top_n`` by rank
    (or NPV). Every other application is a row of the Ranking, so that the pack stays bounded at
    programme scale (issue 27: 1,000 applications gave 404 project pages)."""
    if _funded(_by_id(allocation, "allocation")) is not None:
        pages = memo_page_ids(evaluation, scores, allocation, top_n)
        if pages:
            return pages
    return _contested_page_ids(evaluation, scores, allocation, top_n)


def _contested_page_ids(evaluation, scores=None, allocation=None, top_n: int = DEFAULT_TOP_N) -> list[str]:
    """Funded ones and every contested one (eligible, not funded, ranked above a funded project), in
    rank order; without an allocation the ``top_n`` by rank (or NPV): the candidates of the memos."""
    m = evaluation.metrics
    a = _funded(_by_id(allocation, "allocation"))
    s = _by_id(scores, "scores")
    order = list(m.index.astype(str))
    if s is not None and "rank" in s.columns:
        order = [str(i) for i in s["rank"].astype(float).sort_values(kind="stable").index]
    elif "npv_usd_m" in m.columns:
        order = [str(i) for i in m["npv_usd_m"].astype(float).fillna(-np.inf).sort_values(ascending=False, kind="stable").index]
    if a is None:
        return order[:top_n]
    funded = {str(i) for i in a.index[a["support_krw_bn"] > _FUND_TOL]}
    if not funded:
        return order[:top_n]
    last = max(order.index(i) for i in funded if i in order)
    eligible = set(order) if s is None or "eligible" not in s.columns else {str(i) for i in s.index[s["eligible"].astype(bool)]}
    return [i for k, i in enumerate(order) if i in funded or (k < last and i in eligible)]


def memo_page_ids(evaluation, scores=None, allocation=None, top_n: int = DEFAULT_TOP_N) -> list[str]:
    """Projects given a committee memo, in rank order: the funded ones and the best-ranked
    contested ones among :func:`project_page_ids` (:func:`evaluator.memo.memo_ids`); none without
    an allocation (the committee decides on one)."""
    a = _funded(_by_id(allocation, "allocation"))
    if a is None:
        return []
    funded = [str(i) for i in a.index[a["support_krw_bn"] > _FUND_TOL]]
    return memo.memo_ids(_contested_page_ids(evaluation, scores, allocation, top_n), funded, _by_id(scores, "scores"))
