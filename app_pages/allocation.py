"""Allocation: what-if budgets, caps, objective and locks; who gets what and why."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app_pages import common as ui
from models.scenario import OBJECTIVES

st.title(ui.t("allocation"))
ss = st.session_state
base = ss["base_scenario"]

if not ui.applications():
    st.warning("No valid application: load or fix applications on the Applications page.")
    st.stop()
if ui.optional_module("supply") is None or ui.optional_module("portfolio") is None:
    ui.not_available("Portfolio allocation")
    st.stop()

# -- what-if controls ----------------------------------------------------------------------------
ids = [a.id for a in ui.applications()]
for k in ("lock_in", "lock_out"):  # drop locks on applications no longer loaded
    if k in ss:
        ss[k] = [i for i in ss[k] if i in ids]
with st.container(border=True):
    c1, c2 = st.columns(2)
    c1.slider(f"{ui.t('fund_budget')} [KRW bn]", 0.0, 500.0, step=5.0, format="%.1f", key="fund_krw_bn",
              help=f"2026 budget: KRW {base.fund_krw_bn:g} bn")
    c2.slider(f"{ui.t('loan_budget')} [KRW bn]", 0.0, 150.0, step=2.5, format="%.1f", key="loan_krw_bn",
              help=f"2026 budget: KRW {base.loan_krw_bn:g} bn")
    c3, c4, c5, c6 = st.columns(4)
    c3.slider("Cap per host country [% of total]", 5, 100, step=5, key="country_cap_pct")
    c4.slider("Cap per mineral [% of total]", 5, 100, step=5, key="mineral_cap_pct")
    c5.selectbox("Objective", OBJECTIVES, key="objective", format_func=lambda o: o.replace("_", " "))
    c6.slider("Smallest partial funding [% of request]", 0, 100, step=5, key="min_fraction_pct")
    c7, c8 = st.columns(2)
    c7.multiselect("Must fund (lock in)", ids, key="lock_in")
    c8.multiselect("Must not fund (lock out)", ids, key="lock_out")
    st.toggle("Prove optimality (slower: the solver may take seconds)", key="prove_optimal",
              help=f"Off: the best allocation found in {ui.INTERACTIVE_TIME_LIMIT_S:g} s is shown with its "
                   "distance to the proven bound. Switch on before saving a scenario for the committee.")

scenario = ui.current_scenario()
if ss.get("scenario_error"):
    st.error(f"These settings break a scenario rule and were not applied: {ss['scenario_error']}")

try:
    pa = ui.allocation(scenario)
except Exception as exc:
    from evaluator.allocation import AllocationInfeasible
    if isinstance(exc, AllocationInfeasible):
        conflicts = getattr(exc, "conflicts", None)
        st.error(f"No allocation satisfies these settings: {exc}"
                 + (f"  \nConflicting: {', '.join(map(str, conflicts))}" if conflicts else ""))
    else:
        st.error(f"Allocation not possible with these settings: {exc}")
    st.stop()
if pa is None:
    st.warning("Nothing to allocate.")
    st.stop()

t, s = pa.table, pa.summary
total = s["fund_allocated_krw_bn"] + s["loan_allocated_krw_bn"]
m = st.columns(4)
m[0].metric(ui.t("allocated"), ui.fmt_money(total),
            help="Fund + policy loans allocated", border=True)
m[1].metric("Fund", ui.fmt_money(s["fund_allocated_krw_bn"]),
            f"{ui.fmt_pct(s['fund_allocated_krw_bn'] / s['fund_budget_krw_bn'] if s['fund_budget_krw_bn'] else np.nan)} of {ui.fmt_money(s['fund_budget_krw_bn'])}",
            delta_color="off", border=True)
m[2].metric("Policy loans", ui.fmt_money(s["loan_allocated_krw_bn"]),
            f"{ui.fmt_pct(s['loan_allocated_krw_bn'] / s['loan_budget_krw_bn'] if s['loan_budget_krw_bn'] else np.nan)} of {ui.fmt_money(s['loan_budget_krw_bn'])}",
            delta_color="off", border=True)
m[3].metric("Projects funded", f"{s['n_selected']} of {len(t)}", border=True,
            help=f"Solver: {s['status']}; gap {s['mip_gap'] if s['mip_gap'] is not None else 0:.2%}; "
                 f"{s['solve_time_s']:.2f} s")

if not s["optimal"]:
    st.caption(f"Best allocation found within {ui.INTERACTIVE_TIME_LIMIT_S:g} s: at most "
               f"{ui.fmt_pct(s['mip_gap'])} below the optimum (solver bound). Switch on "
               "'Prove optimality' for the proven optimum.")

# -- who gets what -------------------------------------------------------------------------------
st.subheader("Who gets what")
view = t[["name", "country_iso3", "mineral", "score", "fund_request_krw_bn", "fund_krw_bn",
          "loan_request_krw_bn", "loan_krw_bn", "fraction", "selected", "note"]].copy()
view["fraction"] = view["fraction"] * 100
view = view.sort_values(["selected", "score"], ascending=[False, False])
view = ui.money_columns(view, ["fund_request_krw_bn", "fund_krw_bn", "loan_request_krw_bn", "loan_krw_bn"])
st.dataframe(view, width="stretch", height=380, key="allocation_table", column_config={
    "score": st.column_config.NumberColumn("Score", format="%.1f"),
    "fraction": st.column_config.NumberColumn("Share of request [%]", format="%.1f"),
    **{c: st.column_config.NumberColumn(c, format="%.1f") for c in view.columns if "[" in c},
})

funded = t[t["selected"]].copy()
funded["total"] = (funded["fund_krw_bn"] + funded["loan_krw_bn"]) * ui.money_factor()
left, right = st.columns(2)
for col, by, title in ((left, "country_iso3", "host country"), (right, "mineral", "mineral")):
    with col:
        st.markdown(f"**Funding by {title}** [{ui.money_unit()}]")
        g = funded.groupby(by, as_index=False)["total"].sum()
        if g.empty:
            st.caption("Nothing funded.")
        else:
            st.altair_chart(alt.Chart(g).mark_bar().encode(
                x=alt.X("total:Q", title=ui.money_unit()),
                y=alt.Y(f"{by}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
                tooltip=[by, alt.Tooltip("total:Q", format=",.1f")]).properties(height=max(200, 30 * len(g))),
                width="stretch")

# -- world map -----------------------------------------------------------------------------------
st.subheader("Where the money goes")
world = ui.world_outlines()
if world is None:
    st.info("World map unavailable: install `geopandas<1.0` and `pyshp` (they ship the Natural Earth outlines).")
else:
    by_country = funded.groupby("country_iso3")["total"].sum().to_dict()
    feats = []
    for f in world["features"]:
        p = dict(f["properties"])
        p["total"] = float(by_country.get(p["iso_a3"], 0.0))
        feats.append({**f, "properties": p})
    data = alt.Data(values=feats)
    base_map = alt.Chart(data).mark_geoshape(stroke="white", strokeWidth=0.4).encode(
        color=alt.condition("datum.properties.total > 0",
                            alt.Color("properties.total:Q", title=ui.money_unit(), scale=alt.Scale(scheme="blues")),
                            alt.value("#e5e8ec")),
        tooltip=[alt.Tooltip("properties.name:N", title="Country"),
                 alt.Tooltip("properties.total:Q", title=f"Funding [{ui.money_unit()}]", format=",.1f")],
    ).project("equalEarth").properties(height=380)
    st.altair_chart(base_map, width="stretch")
    st.caption("Country outlines: Natural Earth 1:110m (public domain), shipped with the installed geopandas package.")

# -- supply: China share -------------------------------------------------------------------------
st.subheader("China's share of Korea's imports, before and after this portfolio")
target = 100 * scenario.target_single_supplier_share
eff = pa.supply_effect
if eff is None or eff.empty:
    st.caption("No funded project changes a mineral's import mix.")
else:
    cs = eff[["china_share_before", "china_share_after"]].dropna(how="all").reset_index()
    cs = cs.melt("mineral", var_name="when", value_name="share")
    cs["when"] = cs["when"].str.replace("china_share_", "")
    cs["share_pct"] = cs["share"] * 100
    bars = alt.Chart(cs).mark_bar().encode(
        x=alt.X("mineral:N", title=None), xOffset=alt.XOffset("when:N", sort=["before", "after"]),
        y=alt.Y("share_pct:Q", title="China share [%]", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("when:N", sort=["before", "after"], title=None),
        tooltip=["mineral", "when", alt.Tooltip("share_pct:Q", format=".1f")])
    rule = alt.Chart(pd.DataFrame({"y": [target]})).mark_rule(strokeDash=[6, 4], color="black").encode(y="y:Q")
    left, right = st.columns(2)
    left.altair_chart((bars + rule).properties(height=300), width="stretch")
    with right:
        try:
            proj = ui.projection(pa, scenario)
        except Exception as exc:
            proj = None
            st.warning(f"Projection by year not available: {exc}")
        if proj is not None and not proj.empty:
            proj = proj.assign(china_share_pct=proj["china_share"] * 100)
            lines = alt.Chart(proj).mark_line(point=True).encode(
                x=alt.X("year:O", title=None), y=alt.Y("china_share_pct:Q", title="China share [%]",
                                                       scale=alt.Scale(domain=[0, 100])),
                color=alt.Color("mineral:N", title="Mineral"),
                tooltip=["mineral", "year", alt.Tooltip("china_share_pct:Q", format=".1f"), "top_supplier"])
            year_rule = alt.Chart(pd.DataFrame({"x": [str(scenario.target_year)]})).mark_rule(color="#888").encode(x="x:O")
            right.altair_chart((lines + rule + year_rule).properties(height=300), width="stretch")
    st.caption(f"Dashed line: the {target:.0f} % target; grey line: {scenario.target_year}. "
               "Right: projected by year to " f"{scenario.horizon_year} as funded projects ramp up.")

# -- constraints, marginal values ----------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.subheader("Binding constraints")
    if s["binding"]:
        st.markdown("\n".join(f"- {b}" for b in s["binding"]))
    else:
        st.caption("None: the budgets are not the limit.")
with right:
    st.subheader("Value of one more KRW bn")
    mv = s.get("marginal_value_per_krw_bn", {})
    if mv:
        st.dataframe(pd.DataFrame({"budget": list(mv), "objective gain per KRW bn": list(mv.values())}),
                     hide_index=True, width="stretch",
                     column_config={"objective gain per KRW bn": st.column_config.NumberColumn(format="%.3f")})
    else:
        st.caption("Not available for this solve.")

# -- frontier ------------------------------------------------------------------------------------
st.subheader("Frontier: objective against a budget")
resource = st.radio("Vary", ["fund_krw_bn", "loan_krw_bn"], horizontal=True, key="frontier_resource",
                    format_func=lambda r: ui.t("fund_budget") if r == "fund_krw_bn" else ui.t("loan_budget"))
try:
    fr = ui.frontier(pa, resource, scenario)
    ycol = "objective" if "objective" in fr.columns else [c for c in fr.columns if c not in ("budget", "current", "resource")][0]
    fr = fr.assign(budget_disp=fr["budget"] * ui.money_factor())
    curve = alt.Chart(fr).mark_line(point=True).encode(
        x=alt.X("budget_disp:Q", title=f"Budget [{ui.money_unit()}]"), y=alt.Y(f"{ycol}:Q", title="Objective"),
        tooltip=[alt.Tooltip("budget_disp:Q", format=",.1f"), alt.Tooltip(f"{ycol}:Q", format=",.2f")])
    # the current budget's point is this page's own allocation (the cached curve is shared by
    # every position of the slider)
    here = pd.DataFrame({"budget_disp": [getattr(scenario, resource) * ui.money_factor()],
                         ycol: [s["objective"]]})
    cur = alt.Chart(here).mark_point(size=220, shape="diamond", filled=True, color="#c0392b").encode(
        x="budget_disp:Q", y=f"{ycol}:Q", tooltip=[alt.Tooltip("budget_disp:Q", format=",.1f", title="current budget"),
                                                   alt.Tooltip(f"{ycol}:Q", format=",.2f")])
    st.altair_chart((curve + cur).properties(height=300), width="stretch")
    st.caption("Red diamond: the current budget.")
except Exception as exc:
    st.warning(f"Frontier not available: {exc}")

# -- what it would take --------------------------------------------------------------------------
st.subheader("What it would take")
with st.expander("For each left-out project, the value or request cut at which it would enter", expanded=False):
    if st.toggle("Compute (a few solves; up to ~5 s)", key="wit_on"):
        try:
            wit = ui.what_it_would_take(pa, scenario)
            st.dataframe(wit, width="stretch")
        except Exception as exc:
            st.warning(f"Not available: {exc}")
