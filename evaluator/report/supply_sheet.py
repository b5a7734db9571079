"""The Supply sheet."""

from __future__ import annotations

import pandas as pd
from openpyxl.chart import LineChart, Reference
from openpyxl.formatting.rule import CellIsRule
from openpyxl.worksheet.pagebreak import Break

from evaluator import xlsx_style as xs
from evaluator.report.cells import _GREEN_FILL, _RED_FILL, _col, _table, _title

# ----------------------------------------------------------------------------------------------
# Supply
# ----------------------------------------------------------------------------------------------
_SUPPLY_COLUMNS = ["mineral", "share_basis", "n_projects", "added_volume", "china_share_before", "china_share_after",
                   "top_supplier_before", "top_share_before", "top_supplier_after", "top_share_after",
                   "hhi_before", "hhi_after", "meets_target_after", "gap_to_target_after", "top_supplier",
                   "top_supplier_share"]


def _source_shares(evaluation, scenario, ref) -> dict[str, pd.Series]:
    """Per applicant mineral: each supplier's share of Korea's imports in the target year without
    any project (:func:`evaluator.supply.partner_shares_in_year`: the basis and year of every other
    "before" share of the workbook)."""
    from evaluator import supply as sup

    out = {}
    for mineral in sorted(set(evaluation.metrics["mineral"])):
        try:
            s = sup.partner_shares_in_year(ref, scenario, mineral)["before"].sort_values(ascending=False)
        except (sup.SupplyDataError, KeyError):   # no import data: the mineral is left out
            continue
        s = s[s > 0]
        if len(s):
            out[mineral] = s
    return out


def _baseline_supply(evaluation, scenario, ref) -> pd.DataFrame:
    from evaluator import supply as sup

    rows = []
    for mineral, s in _source_shares(evaluation, scenario, ref).items():
        rows.append({"mineral": mineral, "share_basis": sup.share_basis(ref, mineral),
                     "china_share_before": float(s.get("CHN", 0.0)), "top_supplier": s.index[0],
                     "top_supplier_share": float(s.iloc[0]), "hhi_before": float((s ** 2).sum())})
    return pd.DataFrame(rows)


def _write_source_shares(ws, r: int, evaluation, scenario, ref, lab: xs.Labels, top_k: int = 5) -> int:
    """Korea's import sources per mineral in the target year, before any project [fraction]."""
    rows = []
    for mineral, s in _source_shares(evaluation, scenario, ref).items():
        for rank, (partner, share) in enumerate(s.iloc[:top_k].items(), start=1):
            rows.append({"mineral": mineral, "source_rank": rank, "partner_iso3": partner, "share_before": float(share)})
        if len(s) > top_k:
            rows.append({"mineral": mineral, "source_rank": top_k + 1, "partner_iso3": lab("text.others"),
                         "share_before": float(s.iloc[top_k:].sum())})
    if not rows:
        return r
    xs.put_text(ws, r, 1, lab("text.source_shares", k=top_k, year=scenario.target_year), "Subtitle")
    last, _ = _table(ws, r + 1, 1, pd.DataFrame(rows), lab, {"source_rank": "0"})
    return last + 2


def _supply_table(supply) -> pd.DataFrame:
    table = pd.DataFrame(supply).copy()
    if "mineral" not in table.columns:
        table = table.reset_index().rename(columns={"index": "mineral"})
    return table


def _write_supply(ws, evaluation, scenario, supply, supply_by_year, ref, lab: xs.Labels | None = None) -> dict:
    lab = lab or xs.load_labels("en")
    target = float(scenario.target_single_supplier_share)
    _title(ws, lab("text.supply_title"), lab("text.supply_target", target=target, year=scenario.target_year))
    xs.put_text(ws, 3, 1, lab("text.single_supplier_target"), "Label")
    xs.put_value(ws, 3, 2, target, "Input", xs.FMT_PCT)
    xs.put_text(ws, 4, 1, lab("text.share_basis_note", year=scenario.target_year), "Note")
    r = 5
    info: dict = {}
    if supply is None:
        xs.put_text(ws, r, 1, lab("text.supply_not_run"), "Note")
        r += 1
        table = _baseline_supply(evaluation, scenario, ref) if ref is not None else pd.DataFrame()
    else:
        table = _supply_table(supply)
        table = table[[c for c in _SUPPLY_COLUMNS if c in table.columns]]
    if len(table):
        top = r
        last, lastc = _table(ws, top, 1, table, lab)
        ws.row_dimensions[top].height = 45
        cols = list(table.columns)
        for key in ("china_share_before", "china_share_after"):
            if key in cols:
                Lc = _col(cols.index(key) + 1)
                ws.conditional_formatting.add(f"{Lc}{top + 1}:{Lc}{last}", CellIsRule(operator="greaterThan", formula=["$B$3"], fill=_RED_FILL))
                ws.conditional_formatting.add(f"{Lc}{top + 1}:{Lc}{last}", CellIsRule(operator="lessThanOrEqual", formula=["$B$3"], fill=_GREEN_FILL))
        info["table"] = (top, last, cols)
        r = last + 2
    if ref is not None:
        r = _write_source_shares(ws, r, evaluation, scenario, ref, lab)
    if supply_by_year is not None and len(supply_by_year):
        r = _write_supply_by_year(ws, r, scenario, pd.DataFrame(supply_by_year), lab)
    ws.column_dimensions["A"].width = 22
    for j in range(2, 16):
        ws.column_dimensions[_col(j)].width = 13
    xs.print_setup(ws, footer=lab("text.page_footer"))
    return info


def _by_year_column(sby: pd.DataFrame) -> str | None:
    return next((c for c in ("china_share_after", "china_share", "top_supplier_share_after") if c in sby.columns), None)


def _write_supply_by_year(ws, r: int, scenario, sby: pd.DataFrame, lab: xs.Labels) -> int:
    """China's share per mineral and year against the target (grid, line chart, detail)."""
    if "year" in sby.columns:
        sby = sby[sby["year"] <= scenario.horizon_year]
    value_col = _by_year_column(sby)
    xs.put_text(ws, r, 1, lab("text.china_by_year"), "Subtitle")
    r += 1
    if not (value_col and {"mineral", "year"} <= set(sby.columns)):
        r, _ = _table(ws, r, 1, sby, lab)
        return r + 2
    piv = sby.pivot_table(index="mineral", columns="year", values=value_col, aggfunc="first")
    piv.columns = [int(c) for c in piv.columns]
    ptop = r
    xs.put_text(ws, r, 1, lab.col("mineral"), "Header")
    for j, y in enumerate(piv.columns, start=2):
        c = ws.cell(row=r, column=j, value=int(y))
        xs.apply_style(c, "Header")
    for i, (mineral, vals) in enumerate(piv.iterrows(), start=r + 1):
        xs.put_text(ws, i, 1, lab.mineral(mineral), "Label")
        for j, v in enumerate(vals.to_numpy(), start=2):
            xs.put_value(ws, i, j, v, "Value", xs.FMT_PCT)
    tr = r + len(piv) + 1
    xs.put_text(ws, tr, 1, lab("text.target"), "Label")
    for j in range(2, len(piv.columns) + 2):
        c = ws.cell(row=tr, column=j, value="=$B$3")
        xs.apply_style(c, "Calc", xs.FMT_PCT)
    rng = f"B{ptop + 1}:{_col(len(piv.columns) + 1)}{ptop + len(piv)}"
    ws.conditional_formatting.add(rng, CellIsRule(operator="greaterThan", formula=["$B$3"], fill=_RED_FILL))
    ws.conditional_formatting.add(rng, CellIsRule(operator="lessThanOrEqual", formula=["$B$3"], fill=_GREEN_FILL))
    ch = LineChart()
    ch.title = lab("text.china_by_year_chart")
    ch.y_axis.title = lab("text.share_of_imports")
    ch.y_axis.number_format = "0%"
    data = Reference(ws, min_col=1, max_col=len(piv.columns) + 1, min_row=ptop + 1, max_row=tr)
    ch.add_data(data, from_rows=True, titles_from_data=True)
    ch.set_categories(Reference(ws, min_col=2, max_col=len(piv.columns) + 1, min_row=ptop, max_row=ptop))
    ch.height, ch.width = 8, 18
    ws.add_chart(ch, f"A{tr + 2}")
    r = tr + 19
    ws.row_breaks.append(Break(id=r - 1))
    rest = [c for c in sby.columns if c not in ("mineral", "year", value_col)]
    if rest:
        xs.put_text(ws, r, 1, lab("text.detail_by_year"), "Subtitle")
        r += 1
        keep = ["mineral", "year", value_col] + [c for c in ("top_supplier", "top_share", "incumbent", "incumbent_share",
                                                             "meets_target", "added_volume") if c in sby.columns]
        r, _ = _table(ws, r, 1, sby[keep], lab, {"year": "0"})
    return r + 2
