"""Ranking: score, criterion contributions, eligibility, rank range; three charts."""

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import common as ui
from models.scenario import CRITERIA

st.title(ui.t("ranking"))
scenario = ui.current_scenario()

if not ui.applications():
    st.warning("No valid application to rank: load or fix applications on the Applications page.")
    st.stop()
if ui.optional_module("supply") is None:
    ui.not_available("Scores (supply diversification module)")
    st.stop()
try:
    _, benefits, result = ui.scores(scenario)
except Exception as exc:  # ScoringError and anything unexpected: a message, not a traceback
    st.error(f"Scoring failed: {exc}")
    st.stop()

table = result.table
n_el = int(table["eligible"].sum())
c1, c2, c3 = st.columns(3)
c1.metric("Applications scored", len(table))
c2.metric("Eligible", n_el)
c3.metric("Ineligible", len(table) - n_el)
st.caption("Weights in use: " + ", ".join(f"{ui.t(c)} {100 * w:.1f}%" for c, w in result.weights.items())
           + ". Rank range = best and worst rank when each weight moves by ±20 %.")

# -- ranked table --------------------------------------------------------------------------------
cols = ["rank", "name", "country_iso3", "mineral", "score", "rank_range"] \
    + [f"contrib_{c}" for c in CRITERIA] \
    + ["npv_usd_m", "country_risk_score", "diversification_score", "china_share_after",
       "expected_loss_krw_bn", "eligible", "ineligible_reasons"]
view = table[[c for c in cols if c in table.columns]].copy()
if "china_share_after" in view:
    view["china_share_after"] = view["china_share_after"] * 100
view = ui.money_columns(view, ["expected_loss_krw_bn"])
colcfg = {
    "rank": st.column_config.NumberColumn("Rank", format="%d"),
    "score": st.column_config.ProgressColumn("Score", min_value=0, max_value=100, format="%.1f"),
    "rank_range": st.column_config.TextColumn("Rank range"),
    "npv_usd_m": st.column_config.NumberColumn("NPV [USD m]", format="%.1f"),
    "country_risk_score": st.column_config.NumberColumn("Country risk [0-100]", format="%.1f"),
    "diversification_score": st.column_config.NumberColumn("Diversification [0-100]", format="%.1f"),
    "china_share_after": st.column_config.NumberColumn("China share after [%]", format="%.1f"),
    "ineligible_reasons": st.column_config.TextColumn("Why ineligible", width="large"),
}
for c in CRITERIA:
    colcfg[f"contrib_{c}"] = st.column_config.NumberColumn(f"{ui.t(c)} [pts]", format="%.1f")
st.dataframe(view, column_config=colcfg, width="stretch", height=420, key="ranking_table")

# -- charts --------------------------------------------------------------------------------------
m = ui.evaluation(scenario).metrics
extra = [c for c in ("support_request_krw_bn", "npv_usd_m") if c not in table.columns]
chart_df = table.join(m[extra], how="left").reset_index()
chart_df["support"] = chart_df["support_request_krw_bn"] * ui.money_factor()

left, right = st.columns(2)
with left:
    st.subheader("NPV vs country risk")
    scatter = alt.Chart(chart_df).mark_circle(opacity=0.75).encode(
        x=alt.X("country_risk_score:Q", title="Country risk score [0-100, higher = riskier]"),
        y=alt.Y("npv_usd_m:Q", title="NPV [USD m]"),
        size=alt.Size("support:Q", title=f"Support asked [{ui.money_unit()}]"),
        color=alt.Color("mineral:N", title="Mineral"),
        tooltip=["id", "name", "mineral", "country_iso3",
                 alt.Tooltip("npv_usd_m:Q", format=",.1f", title="NPV [USD m]"),
                 alt.Tooltip("score:Q", format=".1f"), alt.Tooltip("support:Q", format=",.1f")],
    ).properties(height=380)
    st.altair_chart(scatter, width="stretch")
with right:
    st.subheader("Criterion contributions")
    long = chart_df.melt(id_vars=["id", "name", "score"], value_vars=[f"contrib_{c}" for c in CRITERIA],
                         var_name="criterion", value_name="points")
    long["criterion"] = long["criterion"].str.replace("contrib_", "").map(ui.t)
    order = chart_df.sort_values("score", ascending=False)["id"].tolist()
    bars = alt.Chart(long).mark_bar().encode(
        y=alt.Y("id:N", sort=order, title=None),
        x=alt.X("points:Q", stack="zero", title="Score [points of 100]"),
        color=alt.Color("criterion:N", title="Criterion"),
        tooltip=["id", "name", "criterion", alt.Tooltip("points:Q", format=".1f")],
    ).properties(height=max(380, 16 * len(order)))
    st.altair_chart(bars, width="stretch")

st.subheader("Korea's imports today: China's share per mineral")
supply = ui.optional_module("supply")
rows = []
for mineral in sorted(set(table["mineral"])):
    try:
        base = supply.baseline(ui.reference(), mineral, basis=scenario.import_basis)
        share = float(base.measures.get("china_share", base.shares.get("CHN", 0.0)))
    except Exception:
        continue
    rows.append({"mineral": mineral, "china_share_pct": 100 * share,
                 "basis": "assumed shares" if base.assumed else f"trade {base.year}"})
if rows:
    cs = pd.DataFrame(rows)
    target = 100 * scenario.target_single_supplier_share
    bar = alt.Chart(cs).mark_bar().encode(
        x=alt.X("mineral:N", sort="-y", title=None),
        y=alt.Y("china_share_pct:Q", title="China share of Korea's imports [%]", scale=alt.Scale(domain=[0, 100])),
        color=alt.condition(alt.datum.china_share_pct > target, alt.value("#c0392b"), alt.value("#2e86c1")),
        tooltip=["mineral", "basis", alt.Tooltip("china_share_pct:Q", format=".1f")],
    )
    rule = alt.Chart(pd.DataFrame({"y": [target]})).mark_rule(strokeDash=[6, 4], color="black").encode(y="y:Q")
    st.altair_chart((bar + rule).properties(height=300), width="stretch")
    st.caption(f"Dashed line: the {target:.0f} % single-supplier target for {scenario.target_year}.")
