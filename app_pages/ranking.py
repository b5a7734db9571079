"""Ranking: score, criterion contributions, eligibility, rank range; the risk-adjusted switch."""

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import access, compute, state
from app_pages.explain import rank_changes
from app_pages.fmt import country_name, mineral_name, money_factor, money_unit, share_basis_label, table_view
from app_pages.i18n import lang, t
from evaluator import scoring, supply
from models.scenario import CRITERIA, FINANCIAL_MEASURES

st.title(t("ranking"))
if not compute.applications():
    st.warning(t("no_valid_application"))
    st.stop()
st.radio(t("financial_measure"), FINANCIAL_MEASURES, key="financial_measure", horizontal=True,
         format_func={m: t(f"measure_{m}") for m in FINANCIAL_MEASURES}.get, help=t("financial_measure_help"),
         disabled=access.read_only())
scenario = state.current_scenario()
try:
    table = compute.ranking(scenario)
    result = compute.scored(scenario).scores
except scoring.ScoringError as exc:
    st.error(t("scoring_failed", error=exc))
    st.stop()

n_el = int(table["eligible"].sum())
c1, c2, c3 = st.columns(3)
c1.metric(t("applications_scored"), len(table))
c2.metric(t("eligible"), n_el)
c3.metric(t("ineligible"), len(table) - n_el)
st.caption(t("weights_in_use", weights=", ".join(f"{t(c)} {100 * w:.1f}%" for c, w in result.weights.items())))
if scenario.financial_measure != "npv":
    st.info(t("ranked_on_simulation", measure=t(f"measure_{scenario.financial_measure}"),
              paths=f"{compute.RANKING_SIMULATION_PATHS:,}"))

# -- ranked table --------------------------------------------------------------------------------
ranked = table.copy()
ranked["ineligible_reasons"] = [result.reasons_text(i, lang()) for i in ranked.index]
ranked["mineral"] = ranked["mineral"].map(mineral_name)
spec = [("rank", "col_rank", "int"), ("name", "col_name", "text"), ("eligible", "col_eligible", "check"),
        ("ineligible_reasons", "col_why_ineligible", "text"), ("country_iso3", "col_country", "text"),
        ("mineral", "col_mineral", "text"), ("score", "col_score", "score"), ("rank_range", "col_rank_range", "text")]
spec += [(f"contrib_{c}", f"col_contrib_{c}", "num1") for c in CRITERIA]
spec += [("npv_usd_m", "col_npv_usd_m", "num1"), ("npv_p10_usd_m", "col_npv_p10_usd_m", "num1"),
         ("prob_npv_negative", "col_prob_loss_pct", "pct"), ("country_risk_score", "col_country_risk", "num1"),
         ("diversification_score", "col_diversification", "num1"),
         ("china_share_after", "col_china_share_after_pct", "pct"), ("expected_loss_krw_bn", "col_expected_loss", "money")]
view, colcfg = table_view(ranked, spec)
st.dataframe(view, column_config=colcfg, width="stretch", height=420, key="ranking_table")
st.caption(t("rank_range_help"))

# -- what moved since the last ranking (a weight or assumption changed) ---------------------------
ss = st.session_state
now_ranks = table["rank"]
was = ss.get("previous_ranking")
if was is not None and was["key"] != state.score_key(scenario):
    moved = rank_changes(was["ranks"], now_ranks)
    if not moved.empty:
        moved_view, moved_cfg = table_view(moved.join(table[["name"]]), [
            ("name", "col_name", "text"), ("was", "col_rank_was", "int"), ("now", "col_rank_now", "int"),
            ("change", "col_rank_change", "text")])
        with st.expander(t("what_moved", n=len(moved)), expanded=True):
            st.dataframe(moved_view, column_config=moved_cfg, width="stretch", key="moved_table")
if was is None or was["key"] != state.score_key(scenario):
    ss["previous_ranking"] = {"key": state.score_key(scenario), "ranks": now_ranks}

# -- charts --------------------------------------------------------------------------------------
m = compute.evaluation(scenario).metrics
extra = [c for c in ("support_request_krw_bn", "npv_usd_m") if c not in table.columns]
chart_df = table.join(m[extra], how="left").reset_index()
chart_df["support"] = chart_df["support_request_krw_bn"] * money_factor()
# charts show names in the officer's language, never codes
chart_df["mineral_shown"] = chart_df["mineral"].map(mineral_name)
chart_df["country_shown"] = chart_df["country_iso3"].map(country_name)
# only what the charts draw is sent to the browser (the reasons are Message objects, not chart data)
chart_df = chart_df[["id", "name", "mineral_shown", "country_shown", "country_risk_score", "npv_usd_m", "support",
                     "score", *[f"contrib_{c}" for c in CRITERIA]]]

left, right = st.columns(2)
with left:
    st.subheader(t("chart_npv_vs_risk"))
    scatter = alt.Chart(chart_df).mark_circle(opacity=0.75).encode(
        x=alt.X("country_risk_score:Q", title=t("axis_country_risk")),
        y=alt.Y("npv_usd_m:Q", title=t("col_npv_usd_m")),
        size=alt.Size("support:Q", title=t("axis_support", unit=money_unit())),
        color=alt.Color("mineral_shown:N", title=t("col_mineral")),
        tooltip=[alt.Tooltip("id:N", title=t("col_application")), alt.Tooltip("name:N", title=t("col_name")),
                 alt.Tooltip("mineral_shown:N", title=t("col_mineral")),
                 alt.Tooltip("country_shown:N", title=t("col_country")),
                 alt.Tooltip("npv_usd_m:Q", format=",.1f", title=t("col_npv_usd_m")),
                 alt.Tooltip("score:Q", format=".1f", title=t("col_score")),
                 alt.Tooltip("support:Q", format=",.1f", title=t("axis_support", unit=money_unit()))],
    ).properties(height=380)
    st.altair_chart(scatter, width="stretch")
with right:
    st.subheader(t("chart_contributions"))
    long = chart_df.melt(id_vars=["id", "name", "score"], value_vars=[f"contrib_{c}" for c in CRITERIA],
                         var_name="criterion", value_name="points")
    long["criterion"] = long["criterion"].str.replace("contrib_", "").map(t)
    order = chart_df.sort_values("score", ascending=False)["id"].tolist()
    bars = alt.Chart(long).mark_bar().encode(
        y=alt.Y("id:N", sort=order, title=None, axis=alt.Axis(labelOverlap=False)),
        x=alt.X("points:Q", stack="zero", title=t("axis_score_points")),
        color=alt.Color("criterion:N", title=t("legend_criterion")),
        tooltip=[alt.Tooltip("id:N", title=t("col_application")), alt.Tooltip("name:N", title=t("col_name")),
                 alt.Tooltip("criterion:N", title=t("legend_criterion")),
                 alt.Tooltip("points:Q", format=".1f", title=t("axis_score_points"))],
    ).properties(height=max(380, 18 * len(order)))
    st.altair_chart(bars, width="stretch")

st.subheader(t("chart_china_share_today", year=scenario.target_year))
rows = []
sref = compute.supply_ref()
for mineral in sorted(set(table["mineral"])):
    base = supply.baseline(sref, mineral, **supply.scenario_options(scenario))
    if base.assumed:
        share, basis = float(base.shares.get(supply.CHINA, 0.0)), t("basis_assumed")
    else:   # the target year without any project: the "before" of every other page
        share = float(supply.partner_shares_in_year(sref, scenario, mineral)["before"].get(supply.CHINA, 0.0))
        basis = t("basis_trade", basis=share_basis_label(supply.share_basis(sref, mineral)), year=scenario.target_year)
    rows.append({"mineral": mineral_name(mineral), "china_share_pct": 100 * share, "basis": basis})
if rows:
    cs = pd.DataFrame(rows)
    target = 100 * scenario.target_single_supplier_share
    bar = alt.Chart(cs).mark_bar().encode(
        x=alt.X("mineral:N", sort="-y", title=None),
        y=alt.Y("china_share_pct:Q", title=t("axis_china_share_pct"), scale=alt.Scale(domain=[0, 100])),
        color=alt.condition(alt.datum.china_share_pct > target, alt.value("#c0392b"), alt.value("#2e86c1")),
        tooltip=[alt.Tooltip("mineral:N", title=t("col_mineral")), alt.Tooltip("basis:N", title=t("col_basis")),
                 alt.Tooltip("china_share_pct:Q", format=".1f", title=t("axis_china_share_pct"))],
    )
    rule = alt.Chart(pd.DataFrame({"y": [target]})).mark_rule(strokeDash=[6, 4], color="black").encode(y="y:Q")
    st.altair_chart((bar + rule).properties(height=300), width="stretch")
    st.caption(t("target_line_caption", target=f"{target:.0f}", year=scenario.target_year))
