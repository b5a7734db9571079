"""Ranking: score, criterion contributions, eligibility, rank range; the risk-adjusted switch."""

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import compute, state
from app_pages.fmt import money_columns, money_factor, money_unit
from app_pages.i18n import t
from evaluator import scoring, supply
from models.scenario import CRITERIA

FINANCIAL_MEASURES = ("npv", "p10_npv", "prob_loss")

st.title(t("ranking"))
if not compute.applications():
    st.warning(t("no_valid_application"))
    st.stop()
st.radio(t("financial_measure"), FINANCIAL_MEASURES, key="financial_measure", horizontal=True,
         format_func={m: t(f"measure_{m}") for m in FINANCIAL_MEASURES}.get, help=t("financial_measure_help"))
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
cols = ["rank", "name", "eligible", "ineligible_reasons", "country_iso3", "mineral", "score", "rank_range"] \
    + [f"contrib_{c}" for c in CRITERIA] \
    + ["npv_usd_m", "npv_p10_usd_m", "prob_npv_negative", "country_risk_score", "diversification_score",
       "china_share_after", "expected_loss_krw_bn"]
view = table[[c for c in cols if c in table.columns]].copy()
for c in ("china_share_after", "prob_npv_negative"):
    if c in view:
        view[c] = view[c] * 100
view = money_columns(view, ["expected_loss_krw_bn"])
colcfg = {
    "rank": st.column_config.NumberColumn(t("col_rank"), format="%d"),
    "name": st.column_config.TextColumn(t("col_name")),
    "eligible": st.column_config.CheckboxColumn(t("col_eligible")),
    "ineligible_reasons": st.column_config.TextColumn(t("col_why_ineligible"), width="large"),
    "country_iso3": st.column_config.TextColumn(t("col_country")),
    "mineral": st.column_config.TextColumn(t("col_mineral")),
    "score": st.column_config.ProgressColumn(t("col_score"), min_value=0, max_value=100, format="%.1f"),
    "rank_range": st.column_config.TextColumn(t("col_rank_range"), help=t("rank_range_help")),
    "npv_usd_m": st.column_config.NumberColumn(t("col_npv_usd_m"), format="%.1f"),
    "npv_p10_usd_m": st.column_config.NumberColumn(t("col_npv_p10_usd_m"), format="%.1f"),
    "prob_npv_negative": st.column_config.NumberColumn(t("col_prob_loss_pct"), format="%.1f"),
    "country_risk_score": st.column_config.NumberColumn(t("col_country_risk"), format="%.1f"),
    "diversification_score": st.column_config.NumberColumn(t("col_diversification"), format="%.1f"),
    "china_share_after": st.column_config.NumberColumn(t("col_china_share_after_pct"), format="%.1f"),
    f"expected_loss [{money_unit()}]": st.column_config.NumberColumn(
        t("col_expected_loss", unit=money_unit()), format="%.2f"),
}
for c in CRITERIA:
    colcfg[f"contrib_{c}"] = st.column_config.NumberColumn(t("col_contrib", criterion=t(c)), format="%.1f")
st.dataframe(view, column_config=colcfg, width="stretch", height=420, key="ranking_table")

# -- charts --------------------------------------------------------------------------------------
m = compute.evaluation(scenario).metrics
extra = [c for c in ("support_request_krw_bn", "npv_usd_m") if c not in table.columns]
chart_df = table.join(m[extra], how="left").reset_index()
chart_df["support"] = chart_df["support_request_krw_bn"] * money_factor()

left, right = st.columns(2)
with left:
    st.subheader(t("chart_npv_vs_risk"))
    scatter = alt.Chart(chart_df).mark_circle(opacity=0.75).encode(
        x=alt.X("country_risk_score:Q", title=t("axis_country_risk")),
        y=alt.Y("npv_usd_m:Q", title=t("col_npv_usd_m")),
        size=alt.Size("support:Q", title=t("axis_support", unit=money_unit())),
        color=alt.Color("mineral:N", title=t("col_mineral")),
        tooltip=["id", "name", "mineral", "country_iso3",
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
        tooltip=["id", "name", "criterion", alt.Tooltip("points:Q", format=".1f")],
    ).properties(height=max(380, 18 * len(order)))
    st.altair_chart(bars, width="stretch")

st.subheader(t("chart_china_share_today"))
rows = []
for mineral in sorted(set(table["mineral"])):
    base = supply.baseline(compute.reference(), mineral, basis=scenario.import_basis)
    share = float(base.measures.get("china_share", base.shares.get("CHN", 0.0)))
    rows.append({"mineral": mineral, "china_share_pct": 100 * share,
                 "basis": t("basis_assumed") if base.assumed else t("basis_trade", year=base.year)})
if rows:
    cs = pd.DataFrame(rows)
    target = 100 * scenario.target_single_supplier_share
    bar = alt.Chart(cs).mark_bar().encode(
        x=alt.X("mineral:N", sort="-y", title=None),
        y=alt.Y("china_share_pct:Q", title=t("axis_china_share_pct"), scale=alt.Scale(domain=[0, 100])),
        color=alt.condition(alt.datum.china_share_pct > target, alt.value("#c0392b"), alt.value("#2e86c1")),
        tooltip=["mineral", "basis", alt.Tooltip("china_share_pct:Q", format=".1f")],
    )
    rule = alt.Chart(pd.DataFrame({"y": [target]})).mark_rule(strokeDash=[6, 4], color="black").encode(y="y:Q")
    st.altair_chart((bar + rule).properties(height=300), width="stretch")
    st.caption(t("target_line_caption", target=f"{target:.0f}", year=scenario.target_year))
