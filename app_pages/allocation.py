"""Allocation: what-if budgets, caps, objective and locks; who gets what and why."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app_pages import compute, state
from app_pages.explain import portfolio_sentence
from app_pages.fmt import fmt_money, fmt_pct, money_columns, money_factor, money_unit
from app_pages.i18n import t
from app_pages.world_map import funding_map
from evaluator import supply
from evaluator.allocation import AllocationError, AllocationInfeasible
from evaluator.portfolio import PortfolioError
from evaluator.scoring import ScoringError
from models.scenario import OBJECTIVES

st.title(t("allocation"))
ss = st.session_state
base = ss["base_scenario"]

if not compute.applications():
    st.warning(t("no_valid_application"))
    st.stop()

# -- what-if controls ----------------------------------------------------------------------------
ids = [a.id for a in compute.applications()]
for k in ("lock_in", "lock_out"):  # drop locks on applications no longer loaded
    if k in ss:
        ss[k] = [i for i in ss[k] if i in ids]
with st.container(border=True):
    c1, c2 = st.columns(2)
    c1.slider(t("fund_budget_krw_bn"), 0.0, 500.0, step=5.0, format="%.1f", key="fund_krw_bn",
              help=t("budget_2026_help", amount=fmt_money(base.fund_krw_bn)))
    c2.slider(t("loan_budget_krw_bn"), 0.0, 150.0, step=2.5, format="%.1f", key="loan_krw_bn",
              help=t("budget_2026_help", amount=fmt_money(base.loan_krw_bn)))
    c3, c4, c5, c6 = st.columns(4)
    c3.slider(t("country_cap_pct"), 5, 100, step=5, key="country_cap_pct")
    c4.slider(t("mineral_cap_pct"), 5, 100, step=5, key="mineral_cap_pct")
    c5.selectbox(t("objective"), OBJECTIVES, key="objective", format_func={o: t(f"objective_{o}") for o in OBJECTIVES}.get)
    c6.slider(t("min_fraction_pct"), 0, 100, step=5, key="min_fraction_pct")
    c7, c8, c9 = st.columns([2, 2, 2])
    c7.multiselect(t("lock_in"), ids, key="lock_in")
    c8.multiselect(t("lock_out"), ids, key="lock_out")
    c9.radio(t("financial_measure"), ("npv", "p10_npv", "prob_loss"), key="financial_measure", horizontal=True,
             format_func={m: t(f"measure_{m}") for m in ("npv", "p10_npv", "prob_loss")}.get, help=t("financial_measure_help"))
    st.toggle(t("prove_optimality"), key="prove_optimal",
              help=t("prove_optimality_help", seconds=f"{compute.INTERACTIVE_TIME_LIMIT_S:g}"))

scenario = state.current_scenario()
if ss.get("scenario_error"):
    st.error(t("settings_not_applied", error=ss["scenario_error"]))

try:
    pa = compute.allocation(scenario)
except AllocationInfeasible as exc:
    conflicts = getattr(exc, "conflicts", None)
    st.error(t("allocation_infeasible", error=exc)
             + (f"  \n{t('conflicting')}: {', '.join(map(str, conflicts))}" if conflicts else ""))
    st.stop()
except (AllocationError, PortfolioError, ScoringError) as exc:
    st.error(t("allocation_not_possible", error=exc))
    st.stop()
if pa is None:
    st.warning(t("nothing_to_allocate"))
    st.stop()

t_alloc = pa.table
s = compute.summary(pa, scenario)
total = s.fund_allocated_krw_bn + s.loan_allocated_krw_bn
m = st.columns(4)
m[0].metric(t("allocated"), fmt_money(total), help=t("allocated_help"), border=True)
m[1].metric(t("fund"), fmt_money(s.fund_allocated_krw_bn),
            t("of_budget", share=fmt_pct(s.fund_allocated_krw_bn / s.fund_budget_krw_bn if s.fund_budget_krw_bn else np.nan),
              budget=fmt_money(s.fund_budget_krw_bn)), delta_color="off", border=True)
m[2].metric(t("policy_loans"), fmt_money(s.loan_allocated_krw_bn),
            t("of_budget", share=fmt_pct(s.loan_allocated_krw_bn / s.loan_budget_krw_bn if s.loan_budget_krw_bn else np.nan),
              budget=fmt_money(s.loan_budget_krw_bn)), delta_color="off", border=True)
m[3].metric(t("projects_funded"), t("n_of_total", n=s.n_selected, total=len(t_alloc)), border=True,
            help=t("solver_help", status=s.status, gap=f"{s.mip_gap:.2%}", seconds=f"{s.solve_time_s:.2f}"))
if s.note:
    st.info(s.note)
if not s.optimal:
    st.caption(t("not_proven_optimal", seconds=f"{compute.time_limit_s():g}", gap=fmt_pct(s.mip_gap)))

# -- who gets what -------------------------------------------------------------------------------
st.subheader(t("who_gets_what"))
view = t_alloc[["name", "country_iso3", "mineral", "score", "fund_request_krw_bn", "fund_krw_bn",
                "loan_request_krw_bn", "loan_krw_bn", "fraction", "selected", "note"]].copy()
view["fraction"] = view["fraction"] * 100
view = view.sort_values(["selected", "score"], ascending=[False, False])
view = money_columns(view, ["fund_request_krw_bn", "fund_krw_bn", "loan_request_krw_bn", "loan_krw_bn"])
unit = money_unit()
st.dataframe(view, width="stretch", height=380, key="allocation_table", column_config={
    "name": st.column_config.TextColumn(t("col_name")),
    "country_iso3": st.column_config.TextColumn(t("col_country")),
    "mineral": st.column_config.TextColumn(t("col_mineral")),
    "score": st.column_config.NumberColumn(t("col_score"), format="%.1f"),
    f"fund_request [{unit}]": st.column_config.NumberColumn(t("col_fund_request", unit=unit), format="%.1f"),
    f"fund [{unit}]": st.column_config.NumberColumn(t("col_fund", unit=unit), format="%.1f"),
    f"loan_request [{unit}]": st.column_config.NumberColumn(t("col_loan_request", unit=unit), format="%.1f"),
    f"loan [{unit}]": st.column_config.NumberColumn(t("col_loan", unit=unit), format="%.1f"),
    "fraction": st.column_config.NumberColumn(t("col_share_of_request_pct"), format="%.1f"),
    "selected": st.column_config.CheckboxColumn(t("col_selected")),
    "note": st.column_config.TextColumn(t("col_note"), width="large"),
})

funded = t_alloc[t_alloc["selected"]].copy()
funded["total"] = (funded["fund_krw_bn"] + funded["loan_krw_bn"]) * money_factor()
left, right = st.columns(2)
for col, by, title in ((left, "country_iso3", t("by_host_country")), (right, "mineral", t("by_mineral"))):
    with col:
        st.markdown(f"**{t('funding_by', what=title)}** [{unit}]")
        g = funded.groupby(by, as_index=False)["total"].sum()
        if g.empty:
            st.caption(t("nothing_funded"))
        else:
            st.altair_chart(alt.Chart(g).mark_bar().encode(
                x=alt.X("total:Q", title=unit),
                y=alt.Y(f"{by}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
                tooltip=[by, alt.Tooltip("total:Q", format=",.1f")]).properties(height=max(200, 30 * len(g))),
                width="stretch")

# -- world map -----------------------------------------------------------------------------------
st.subheader(t("where_the_money_goes"))
st.altair_chart(funding_map(funded.groupby("country_iso3")["total"].sum().to_dict(), unit, t("col_country"),
                            t("funding_unit", unit=unit)), width="stretch")
st.caption(t("map_source"))

# -- supply: China share -------------------------------------------------------------------------
st.subheader(t("china_share_before_after"))
target = 100 * scenario.target_single_supplier_share
outcome = compute.supply_outcome(pa, scenario)
eff = outcome.effect
if eff is None or eff.empty:
    st.caption(t("no_supply_change"))
else:
    cs = eff[["china_share_before", "china_share_after"]].dropna(how="all").reset_index()
    cs = cs.melt("mineral", var_name="when", value_name="share")
    cs["when"] = cs["when"].str.replace("china_share_", "").map(lambda w: t(f"when_{w}"))
    cs["share_pct"] = cs["share"] * 100
    order = [t("when_before"), t("when_after")]
    bars = alt.Chart(cs).mark_bar().encode(
        x=alt.X("mineral:N", title=None), xOffset=alt.XOffset("when:N", sort=order),
        y=alt.Y("share_pct:Q", title=t("axis_china_share_pct"), scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("when:N", sort=order, title=None),
        tooltip=["mineral", "when", alt.Tooltip("share_pct:Q", format=".1f")])
    rule = alt.Chart(pd.DataFrame({"y": [target]})).mark_rule(strokeDash=[6, 4], color="black").encode(y="y:Q")
    left, right = st.columns(2)
    left.altair_chart((bars + rule).properties(height=300), width="stretch")
    proj = outcome.by_year
    if proj is not None and not proj.empty:
        proj = proj.assign(china_share_pct=proj["china_share"] * 100)
        lines = alt.Chart(proj).mark_line(point=True).encode(
            x=alt.X("year:O", title=None), y=alt.Y("china_share_pct:Q", title=t("axis_china_share_pct"),
                                                   scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("mineral:N", title=t("col_mineral")),
            tooltip=["mineral", "year", alt.Tooltip("china_share_pct:Q", format=".1f"), "top_supplier"])
        year_rule = alt.Chart(pd.DataFrame({"x": [scenario.target_year]})).mark_rule(color="#888").encode(x="x:O")
        right.altair_chart((lines + rule + year_rule).properties(height=300), width="stretch")
    st.caption(t("china_share_caption", target=f"{target:.0f}", year=scenario.target_year,
                 horizon=scenario.horizon_year))
    funded_ids = list(t_alloc.index[t_alloc["selected"]])
    shares = t_alloc["fraction"].where(t_alloc["selected"], 0.0).to_dict()
    for d in supply.explain_portfolio(compute.supply_ref(), scenario, compute.evaluation(scenario), funded_ids,
                                      fractions=shares):
        st.markdown(f"- **{d['mineral']}**: " + portfolio_sentence(d, scenario.target_single_supplier_share))

# -- constraints, marginal values ----------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.subheader(t("binding_constraints"))
    if s.binding:
        st.markdown("\n".join(f"- {b}" for b in s.binding))
    else:
        st.caption(t("no_binding"))
with right:
    st.subheader(t("value_of_one_more"))
    mv = s.marginal_value_per_krw_bn
    if mv:
        st.dataframe(pd.DataFrame({t("col_budget"): [t(f"budget_{k}") if k in ("fund_krw_bn", "loan_krw_bn") else k for k in mv],
                                   t("col_gain_per_krw_bn"): list(mv.values())}),
                     hide_index=True, width="stretch",
                     column_config={t("col_gain_per_krw_bn"): st.column_config.NumberColumn(format="%.3f")})
    else:
        st.caption(t("not_available_for_solve"))

# -- frontier ------------------------------------------------------------------------------------
st.subheader(t("frontier_title"))
resource = st.radio(t("vary"), ["fund_krw_bn", "loan_krw_bn"], horizontal=True, key="frontier_resource",
                    format_func={r: t(f"budget_{r}") for r in ("fund_krw_bn", "loan_krw_bn")}.get)
fr = compute.frontier(pa, resource, scenario)
fr = fr.assign(budget_disp=fr["budget"] * money_factor())
curve = alt.Chart(fr).mark_line(point=True).encode(
    x=alt.X("budget_disp:Q", title=t("axis_budget", unit=unit)), y=alt.Y("objective:Q", title=t("objective")),
    tooltip=[alt.Tooltip("budget_disp:Q", format=",.1f"), alt.Tooltip("objective:Q", format=",.2f")])
# the current budget's point is this page's own allocation (the cached curve is shared by every
# position of the slider)
here = pd.DataFrame({"budget_disp": [getattr(scenario, resource) * money_factor()], "objective": [s.objective]})
cur = alt.Chart(here).mark_point(size=220, shape="diamond", filled=True, color="#c0392b").encode(
    x="budget_disp:Q", y="objective:Q", tooltip=[alt.Tooltip("budget_disp:Q", format=",.1f"),
                                                 alt.Tooltip("objective:Q", format=",.2f")])
st.altair_chart((curve + cur).properties(height=300), width="stretch")
st.caption(t("current_budget_marker"))

# -- what it would take --------------------------------------------------------------------------
st.subheader(t("what_it_would_take"))
with st.expander(t("what_it_would_take_help"), expanded=False):
    if st.toggle(t("compute_few_solves"), key="wit_on"):
        st.dataframe(compute.what_it_would_take(pa, scenario), width="stretch")
