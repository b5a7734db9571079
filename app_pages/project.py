"""Project: one application's metrics, cash flows, loan DSCR, supply effect, input sources, uncertainty."""

import time

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app_pages import common as ui

st.title(ui.t("project"))
scenario = ui.current_scenario()
ev = ui.require_evaluation(scenario)

m = ev.metrics
ids = list(m.index)
if st.session_state.get("project_id") not in ids:
    st.session_state["project_id"] = ids[0]
app_id = st.selectbox("Application", ids, key="project_id",
                      format_func=lambda i: f"{i} — {m.at[i, 'name']} ({m.at[i, 'country_iso3']}, {m.at[i, 'mineral']})")
r = m.loc[app_id]

# -- metrics -------------------------------------------------------------------------------------
c = st.columns(6)
c[0].metric("NPV [USD m]", f"{r['npv_usd_m']:,.1f}", help=f"at {ui.fmt_pct(r['discount_rate'])} "
            f"(incl. country premium {ui.fmt_pct(r['risk_premium'])})")
c[1].metric("IRR", ui.fmt_pct(r["irr"]), help=str(r.get("irr_note") or ""))
c[2].metric("Payback [yr]", "n/a" if not np.isfinite(r["payback_years"]) else f"{r['payback_years']:.1f}")
c[3].metric("min DSCR", "n/a" if not np.isfinite(r["min_dscr"]) else f"{r['min_dscr']:.2f}")
c[4].metric(f"Support asked [{ui.money_unit()}]", f"{r['support_request_krw_bn'] * ui.money_factor():,.1f}")
c[5].metric("Coverage of cost", ui.fmt_pct(r["coverage_share"]))

sc = None
if ui.optional_module("supply") is not None:
    try:
        sc = ui.scores(scenario)
    except Exception as exc:
        st.error(f"Scoring failed: {exc}")
if sc is not None:
    from evaluator import scoring
    with st.expander("Score explained", expanded=True):
        for line in scoring.explain(sc[2], app_id):
            st.markdown(f"- {line}")

# -- cash flows ----------------------------------------------------------------------------------
st.subheader("Annual cash flows [USD m, real]")
cf = ev.cashflows.frame(app_id)
flows = pd.DataFrame({
    "year": cf["year"],
    "Revenue": cf["revenue_usd_m"],
    "Royalty": -cf["royalty_usd_m"],
    "Operating costs": -cf["opex_usd_m"],
    "Income tax": -cf["tax_usd_m"],
    "Capex (initial + sustaining + closure)": -(cf["initial_capex_usd_m"] + cf["sustaining_capex_usd_m"]
                                               + cf["closure_usd_m"]),
})
long = flows.melt("year", var_name="item", value_name="usd_m")
bars = alt.Chart(long).mark_bar().encode(
    x=alt.X("year:O", title=None), y=alt.Y("usd_m:Q", title="USD m", stack="zero"),
    color=alt.Color("item:N", title=None, legend=alt.Legend(orient="bottom")),
    tooltip=["year", "item", alt.Tooltip("usd_m:Q", format=",.1f")])
line = alt.Chart(cf).mark_line(point=True, color="black").encode(
    x="year:O", y="fcf_usd_m:Q", tooltip=[alt.Tooltip("fcf_usd_m:Q", format=",.1f", title="FCF [USD m]")])
st.altair_chart((bars + line).properties(height=340), width="stretch")
st.caption("Bars: revenue (up) and costs, tax and capex (down); black line: free cash flow after tax.")

# -- loan DSCR -----------------------------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.subheader("Policy loan: DSCR by year")
    i = ev.cashflows.index_of(app_id)
    ds = np.asarray(ev.loans.debt_service_usd_m)[i, : len(cf)]
    cfads = cf["cfads_usd_m"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        dscr = np.where(ds > 1e-9, cfads / ds, np.nan)
    d = pd.DataFrame({"year": cf["year"], "dscr": dscr}).dropna()
    if d.empty:
        st.info("No loan asked, or no debt service in the model years.")
    else:
        d["below"] = d["dscr"] < 1.3
        pts = alt.Chart(d).mark_bar().encode(
            x=alt.X("year:O", title=None), y=alt.Y("dscr:Q", title="DSCR [x]"),
            color=alt.condition(alt.datum.below, alt.value("#c0392b"), alt.value("#2e86c1")),
            tooltip=["year", alt.Tooltip("dscr:Q", format=".2f")])
        rule = alt.Chart(pd.DataFrame({"y": [1.3]})).mark_rule(strokeDash=[6, 4]).encode(y="y:Q")
        st.altair_chart((pts + rule).properties(height=280), width="stretch")
        st.caption("Dashed line: lenders' 1.3x comfort level; red bars fall below it.")

# -- supply effect -------------------------------------------------------------------------------
with right:
    st.subheader(f"Supply effect on {r['mineral']}")
    supply = ui.optional_module("supply")
    if supply is None:
        ui.not_available("Supply effect")
    else:
        try:
            offtake = supply.offtake_from_evaluation(ev)
            one = offtake[offtake["id"] == app_id]
            base = supply.baseline(ui.reference(), r["mineral"], basis=scenario.import_basis)
            eff = supply.portfolio_effect(ui.reference(), scenario, one)
            if base.assumed:
                st.info("Korea's imports of this mineral are assumed shares only (no volumes): "
                        "the effect of one project is not computed.")
            before = base.shares.rename("before")
            added = supply.additions_by_mineral(ui.reference(), scenario, one).get(r["mineral"])
            if added is not None and not base.assumed:
                after = supply.apply_additions(base.volumes, added, scenario.displacement_rule)
                after = (after / after.sum()).rename("after")
            else:
                after = before.rename("after")
            shares = pd.concat([before, after], axis=1).fillna(0.0)
            top = shares.max(axis=1).sort_values(ascending=False).index[:8]
            s_long = (shares.loc[top] * 100).reset_index(names="partner").melt(
                "partner", var_name="when", value_name="share_pct")
            chart = alt.Chart(s_long).mark_bar().encode(
                y=alt.Y("partner:N", sort=list(top), title="Source country"),
                x=alt.X("share_pct:Q", title="Share of Korea's imports [%]"),
                yOffset=alt.YOffset("when:N", sort=["before", "after"]),
                color=alt.Color("when:N", sort=["before", "after"], title=None),
                tooltip=["partner", "when", alt.Tooltip("share_pct:Q", format=".1f")])
            st.altair_chart(chart.properties(height=280), width="stretch")
            if not eff.empty and r["mineral"] in eff.index:
                e = eff.loc[r["mineral"]]
                st.caption(f"China share {ui.fmt_pct(e['china_share_before'])} → {ui.fmt_pct(e['china_share_after'])}; "
                           f"top supplier share {ui.fmt_pct(e['top_share_before'])} → {ui.fmt_pct(e['top_share_after'])}.")
        except Exception as exc:
            st.warning(f"Supply effect not available for this project: {exc}")

# -- inputs and their sources --------------------------------------------------------------------
st.subheader("Every input and where it came from")
app = ev.application(app_id)
src = ev.inputs.sources
srow = src.loc[app_id] if app_id in src.index else pd.Series(dtype=object)
resolved = {}
for col in srow.index:
    if col.endswith("_source"):
        key = col[: -len("_source")]
        resolved[key] = (srow.get(key, srow.get(key + "_usd_per_t", "")), srow[col])
rows = []
for k, v in app.to_record().items():
    if k in resolved:
        continue
    rows.append({"input": k, "value": "" if v is None else str(v), "source": "applicant"})
for k, (v, s) in resolved.items():
    rows.append({"input": k, "value": str(v), "source": s})
rows += [
    {"input": "discount_rate", "value": ui.fmt_pct(r["discount_rate"]),
     "source": "scenario" + (" + country risk premium" if scenario.add_country_risk_premium else "")},
    {"input": "fx_krw_per_usd", "value": f"{scenario.fx_krw_per_usd:,.0f}", "source": "scenario"},
    {"input": "policy_loan_rate", "value": ui.fmt_pct(scenario.policy_loan_rate), "source": "scenario"},
    {"input": "price_usd_per_t", "value": f"{r['price_usd_per_t']:,.0f}",
     "source": str(srow.get("price_source", f"price deck ({scenario.price_case})"))},
]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=300)

# -- uncertainty ---------------------------------------------------------------------------------
st.subheader("Uncertainty")
unc = ui.optional_module("uncertainty")
if unc is None:
    ui.not_available("Monte Carlo NPV distribution and tornado")
else:
    n_paths = st.select_slider("Monte Carlo paths", [500, 1000, 2000, 5000, 10000], value=2000, key="mc_paths")
    if st.button("Run the uncertainty analysis", key="run_mc"):
        apps = [a for a in ui.applications() if a.id == app_id]
        bar = st.progress(0.0, text="Simulating…")
        started = time.perf_counter()

        def progress(frac):  # drawn only for runs longer than a second
            if time.perf_counter() - started > 1.0:
                bar.progress(min(max(float(frac), 0.0), 1.0), text="Simulating…")

        try:
            sim = unc.simulate(apps, scenario, ui.reference(), n_paths=int(n_paths), seed=1, progress=progress)
            tor = unc.tornado(apps, scenario, ui.reference(), ids=[app_id])
            st.session_state["mc_result"] = (app_id, int(n_paths), sim, tor)
        except Exception as exc:
            st.error(f"Uncertainty analysis failed: {exc}")
        bar.empty()
    res = st.session_state.get("mc_result")
    if res and res[0] == app_id:
        _, n, sim, tor = res
        try:
            summ = sim.summary.loc[app_id]
            cc = st.columns(4)
            for col, key, label in zip(cc, ["npv_p10_usd_m", "npv_p50_usd_m", "npv_p90_usd_m", "prob_npv_negative"],
                                       ["P10 NPV", "P50 NPV", "P90 NPV", "P(NPV < 0)"]):
                col.metric(label, ui.fmt_pct(summ[key]) if key.startswith("prob") else f"{summ[key]:,.1f} USD m")
            left, right = st.columns(2)
            arr = np.asarray(sim.npv_samples_usd_m[list(sim.ids).index(app_id)], dtype=float)
            hist = alt.Chart(pd.DataFrame({"npv_usd_m": arr})).mark_bar().encode(
                x=alt.X("npv_usd_m:Q", bin=alt.Bin(maxbins=50), title="NPV [USD m]"),
                y=alt.Y("count():Q", title="Paths"))
            zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="#c0392b").encode(x="x:Q")
            left.altair_chart((hist + zero).properties(height=300, title=f"NPV distribution ({n:,} paths)"),
                              width="stretch")
            td = tor[tor["id"] == app_id].copy()
            td["lo"] = td[["low_npv_usd_m", "high_npv_usd_m"]].min(axis=1)
            td["hi"] = td[["low_npv_usd_m", "high_npv_usd_m"]].max(axis=1)
            order = td.sort_values("swing", ascending=False)["input"].tolist()
            tbar = alt.Chart(td).mark_bar().encode(
                y=alt.Y("input:N", sort=order, title=None), x=alt.X("lo:Q", title="NPV [USD m]"), x2="hi:Q",
                tooltip=["input", "low_setting", "high_setting", alt.Tooltip("low_npv_usd_m:Q", format=",.1f"),
                         alt.Tooltip("high_npv_usd_m:Q", format=",.1f")])
            brule = alt.Chart(td.head(1)).mark_rule(color="black").encode(x="base_npv_usd_m:Q")
            right.altair_chart((tbar + brule).properties(height=300, title="Tornado: NPV at each input's low/high"),
                               width="stretch")
        except Exception as exc:
            st.warning(f"Uncertainty results could not be shown: {exc}")
