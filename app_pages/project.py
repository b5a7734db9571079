"""Project: one application's metrics, cash flows, loan DSCR, supply effect, input sources, uncertainty."""

import time

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app_pages import compute, state
from app_pages.explain import project_sentence
from app_pages.fmt import country_name, fmt_money, fmt_pct, mineral_name, money_factor, money_unit, share_basis_label, shown, tornado_words
from app_pages.i18n import lang, t
from evaluator import messages, reconcile, scoring, special_loan, supply, uncertainty
from evaluator.evaluate import SCOPE_POLICY_ALONE
from evaluator.scoring import ScoringError

#: The bridge's steps (evaluator.reconcile) -> their labels.
BRIDGE_LABELS = {"study (published)": "bridge_study", "unreproduced by the tool": "bridge_unreproduced",
                 "price deck": "bridge_price_deck", "discount rate and country premium": "bridge_discount_rate",
                 "fiscal terms": "bridge_fiscal", "timing": "bridge_timing", "costs": "bridge_costs", "fund": "bridge_fund"}

st.title(t("project"))
scenario = state.current_scenario()
ev = compute.require_evaluation(scenario)

m = ev.metrics
ids = list(m.index)
if st.session_state.get("project_id") not in ids:
    st.session_state["project_id"] = ids[0]
app_id = st.selectbox(t("application"), ids, key="project_id",
                      format_func=lambda i: f"{i} — {m.at[i, 'name']} ({m.at[i, 'country_iso3']}, {m.at[i, 'mineral']})")
r = m.loc[app_id]
comfort = float(scenario.lender_min_dscr)

# -- metrics -------------------------------------------------------------------------------------
c = st.columns(6)
c[0].metric(t("col_npv_usd_m"), f"{r['npv_usd_m']:,.1f}", help=t("npv_help", rate=fmt_pct(r["discount_rate"]),
                                                              premium=fmt_pct(r["risk_premium"])))
c[1].metric("IRR", fmt_pct(r["irr"]), help=str(r.get("irr_note") or ""))
c[2].metric(t("payback_years"), "n/a" if not np.isfinite(r["payback_years"]) else f"{r['payback_years']:.1f}")
c[3].metric(t("min_dscr"), "n/a" if not np.isfinite(r["min_dscr"]) else f"{r['min_dscr']:.2f}")
c[4].metric(t("support_asked", unit=money_unit()), f"{r['support_request_krw_bn'] * money_factor():,.1f}")
c[5].metric(t("coverage_of_cost"), fmt_pct(r["coverage_share"]))
c2 = st.columns(5)
c2[0].metric(t("npv_pretax"), f"{r['npv_pretax_usd_m']:,.1f}")
c2[1].metric(t("irr_pretax"), fmt_pct(r["irr_pretax"]))
c2[2].metric(t("npv_korea_equity"), f"{r['npv_korea_equity_usd_m']:,.1f}",
             help=t("npv_korea_equity_help", withholding=fmt_pct(r["dividend_withholding_rate"])))
c2[3].metric(t("irr_korea_equity"), fmt_pct(r["irr_korea_equity"]))
# the fund's target return beside the equity IRR: the fund's terms are not published (issue 23)
c2[4].metric(t("fund_target_return"), fmt_pct(scenario.fund_target_return), help=t("fund_terms_help"))
st.caption(t("fiscal_line", region=r["fiscal_region"], basis=messages.text(f"royalty_basis_{r['royalty_basis']}", lang()),
             withholding=fmt_pct(r["dividend_withholding_rate"])))
if r["fiscal_warning"]:
    st.warning(t("fiscal_fallback", warning=messages.word(r["fiscal_warning"], lang())))

try:
    sc = compute.scored(scenario)
except ScoringError as exc:
    sc = None
    st.error(t("scoring_failed", error=exc))
if sc is not None:
    with st.expander(t("score_explained"), expanded=True):
        for line in scoring.explain(sc.scores, app_id, language=lang()):
            st.markdown(f"- {line}")

# -- cash flows ----------------------------------------------------------------------------------
st.subheader(t("annual_cash_flows"))
cf = ev.cashflows.frame(app_id)
flows = pd.DataFrame({
    "year": cf["year"],
    t("cf_revenue"): cf["revenue_usd_m"],
    t("cf_royalty"): -cf["royalty_usd_m"],
    t("cf_opex"): -cf["opex_usd_m"],
    t("cf_tax"): -cf["tax_usd_m"],
    t("cf_capex"): -(cf["initial_capex_usd_m"] + cf["sustaining_capex_usd_m"] + cf["closure_usd_m"]),
})
long = flows.melt("year", var_name="item", value_name="usd_m")
bars = alt.Chart(long).mark_bar().encode(
    x=alt.X("year:O", title=None), y=alt.Y("usd_m:Q", title=t("axis_amount_usd_m"), stack="zero"),
    color=alt.Color("item:N", title=None, legend=alt.Legend(orient="bottom")),
    tooltip=[alt.Tooltip("year:O", title=t("col_year")), alt.Tooltip("item:N", title=t("col_item")),
             alt.Tooltip("usd_m:Q", format=",.1f", title=t("axis_amount_usd_m"))])
line = alt.Chart(cf).mark_line(point=True, color="black").encode(
    x="year:O", y="fcf_usd_m:Q", tooltip=[alt.Tooltip("fcf_usd_m:Q", format=",.1f", title=t("fcf_usd_m"))])
st.altair_chart((bars + line).properties(height=340), width="stretch")
st.caption(t("cash_flow_caption"))

# -- loan DSCR -----------------------------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.subheader(t("dscr_by_year"))
    i = ev.cashflows.index_of(app_id)
    ds = np.asarray(ev.loans.debt_service_usd_m)[i, : len(cf)]
    cfads = cf["cfads_usd_m"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        dscr = np.where(ds > 1e-9, cfads / ds, np.nan)
    d = pd.DataFrame({"year": cf["year"], "dscr": dscr}).dropna()
    if d.empty:
        st.info(t("no_debt_service"))
    else:
        d["below"] = d["dscr"] < comfort
        # a log scale keeps the comfort line readable when cover reaches tens of times
        pts = alt.Chart(d).mark_bar().encode(
            x=alt.X("year:O", title=None), y=alt.Y("dscr:Q", title=t("axis_dscr"), scale=alt.Scale(type="symlog")),
            color=alt.condition(alt.datum.below, alt.value("#c0392b"), alt.value("#2e86c1")),
            tooltip=[alt.Tooltip("year:O", title=t("col_year")), alt.Tooltip("dscr:Q", format=".2f", title=t("min_dscr"))])
        rule = alt.Chart(pd.DataFrame({"y": [comfort]})).mark_rule(strokeDash=[6, 4]).encode(y="y:Q")
        st.altair_chart((pts + rule).properties(height=280), width="stretch")
        st.caption(t("dscr_caption", comfort=f"{comfort:.2f}"))
        scope = ("dscr_scope_policy_alone" if r["dscr_scope"] == SCOPE_POLICY_ALONE else "dscr_scope_all_debt")
        st.caption(t(scope))

# -- the special loan's own rules ----------------------------------------------------------------
st.subheader(t("special_loan_title", terms=scenario.loan_terms))
app = ev.application(app_id)
sr = sc.scores.table.loc[app_id] if sc is not None else None
k = st.columns(5)
k[0].metric(t("loan_cap", unit=money_unit()), f"{r['loan_cap_krw_bn'] * money_factor():,.1f}")
k[1].metric(t("support_cap", unit=money_unit()), f"{r['support_cap_krw_bn'] * money_factor():,.1f}")
if sr is not None:
    k[2].metric(t("loan_net_cost", unit=money_unit()), f"{sr['loan_expected_net_cost_krw_bn'] * money_factor():,.2f}",
                help=t("loan_net_cost_help", loss=f"{sr['expected_loss_krw_bn'] * money_factor():,.2f}",
                       levy=f"{sr['loan_expected_levy_krw_bn'] * money_factor():,.2f}"))
k[3].metric(t("loan_levy", unit=money_unit()), f"{r['loan_expected_levy_krw_bn'] * money_factor():,.2f}")
k[4].metric(t("loan_subsidy", unit=money_unit()), f"{r['loan_interest_subsidy_krw_bn'] * money_factor():,.2f}")
st.caption(t("loan_cap_how", share=fmt_pct(r["loan_cap_share"]), terms=scenario.loan_terms,
             tier=messages.text(f"loan_cap_tier_{r['loan_cap_tier']}", lang()),
             basis=scoring.coverage_basis(app, r).text(lang()),
             criteria=special_loan.criteria_message(r["loan_cap_criteria"]).text(lang())))
st.caption(t("fund_cap_how", share=fmt_pct(scenario.fund_equity_share),
             need=f"{r['applicant_equity_need_krw_bn'] * money_factor():,.1f}",
             cap=f"{r['fund_cap_krw_bn'] * money_factor():,.1f}", unit=money_unit()))
st.caption(t("loan_write_off_yes" if r["loan_success_contingent"] else "loan_write_off_no",
             mineral=mineral_name(r["mineral"]), share=fmt_pct(scenario.write_off_share)))
st.caption(t("loan_rate_line", ktb=fmt_pct(scenario.ktb_3y_rate), spread=fmt_pct(scenario.policy_loan_spread),
             nominal=fmt_pct(scenario.policy_loan_rate_nominal), real=fmt_pct(scenario.policy_loan_rate),
             inflation=fmt_pct(scenario.inflation_rate)))

# -- supply effect -------------------------------------------------------------------------------
with right:
    st.subheader(t("supply_effect_on", mineral=mineral_name(r["mineral"])))
    ref = compute.supply_ref()
    base = supply.baseline(ref, r["mineral"], **supply.scenario_options(scenario))
    if base.assumed:
        st.info(t("supply_assumed_only"))
    else:
        # the target year with the project's start and ramp-up: the numbers of the sentence below
        one = supply.offtake_by_year_from_evaluation(ev, ids=[app_id], ref=ref)
        shares = supply.partner_shares_in_year(ref, scenario, r["mineral"], one)
        top = shares.index[:8]
        s_long = (shares.loc[top] * 100).reset_index(names="partner").melt(
            "partner", var_name="when", value_name="share_pct")
        s_long["when"] = s_long["when"].map(lambda w: t(f"when_{w}"))
        s_long["partner"] = s_long["partner"].map(country_name)   # names, not ISO3 codes
        top = [country_name(c) for c in top]
        order = [t("when_before"), t("when_after")]
        chart = alt.Chart(s_long).mark_bar().encode(
            y=alt.Y("partner:N", sort=list(top), title=t("source_country")),
            x=alt.X("share_pct:Q", title=t("axis_share_of_imports_pct")),
            yOffset=alt.YOffset("when:N", sort=order),
            color=alt.Color("when:N", sort=order, title=None),
            tooltip=[alt.Tooltip("partner:N", title=t("source_country")), alt.Tooltip("when:N", title=t("col_when")),
                     alt.Tooltip("share_pct:Q", format=".1f", title=t("axis_share_of_imports_pct"))])
        st.altair_chart(chart.properties(height=280), width="stretch")
        st.caption(t("supply_effect_caption", year=scenario.target_year,
                     basis=share_basis_label(supply.share_basis(ref, r["mineral"])),
                     china_before=fmt_pct(shares["before"].get(supply.CHINA, 0.0)),
                     china_after=fmt_pct(shares["after"].get(supply.CHINA, 0.0)),
                     top_before=fmt_pct(shares["before"].max()), top_after=fmt_pct(shares["after"].max()),
                     top=country_name(shares["after"].idxmax())))
    benefits = sc.benefits if sc is not None else None
    st.markdown(project_sentence(supply.explain_project(ref, scenario, ev, app_id, benefits=benefits)))

# -- reconciliation with the applicant's study ---------------------------------------------------
app = ev.application(app_id)
if app.study_npv_usd_m is not None and app.study_discount_rate is not None:
    st.subheader(t("reconciliation_title"))
    b = reconcile.bridge(app, scenario, compute.reference())
    k = st.columns(3)
    k[0].metric(t("study_npv"), f"{b.study_npv_usd_m:,.1f}", help=t("study_npv_help", rate=fmt_pct(b.study_discount_rate)))
    k[1].metric(t("tool_npv_study_basis"), f"{b.tool_npv_study_basis_usd_m:,.1f}",
                f"{b.tool_npv_study_basis_usd_m - b.study_npv_usd_m:+,.1f}", delta_color="off")
    k[2].metric(t("fund_npv"), f"{b.fund_npv_usd_m:,.1f}", f"{b.total_difference_usd_m:+,.1f}", delta_color="off")
    wf = b.frame()
    wf["step"] = [t(BRIDGE_LABELS.get(x, "bridge_other")) for x in wf["label"]]
    wf["start"] = (wf["npv_after_usd_m"] - wf["change_usd_m"].fillna(wf["npv_after_usd_m"])).where(
        wf["change_usd_m"].notna(), 0.0)
    wf.loc[wf.index[-1], "start"] = 0.0               # the fund's bar stands on zero, as the study's
    wf["kind"] = np.where(wf.index.isin([0, len(wf) - 1]), t("bridge_total"),
                          np.where(wf["change_usd_m"] >= 0, t("bridge_up"), t("bridge_down")))
    st.altair_chart(alt.Chart(wf.reset_index()).mark_bar().encode(
        x=alt.X("step:N", sort=None, title=None, axis=alt.Axis(labelAngle=-20, labelLimit=200)),
        y=alt.Y("start:Q", title=t("col_npv_usd_m")), y2="npv_after_usd_m:Q",
        color=alt.Color("kind:N", title=None, scale=alt.Scale(range=["#2e86c1", "#c0392b", "#7f8c8d"])),
        tooltip=[alt.Tooltip("step:N", title=t("col_item")),
                 alt.Tooltip("change_usd_m:Q", format=",.1f", title=t("axis_change_usd_m")),
                 alt.Tooltip("npv_after_usd_m:Q", format=",.1f", title=t("col_npv_usd_m"))]
        # the step's detail is the engine's English sentence: shown in English only
        + ([alt.Tooltip("detail:N", title=t("col_note"))] if lang() == "en" else [])).properties(height=320),
        width="stretch")
    st.caption(t("bridge_caption"))

# -- inputs and their sources --------------------------------------------------------------------
st.subheader(t("inputs_and_sources"))
src = ev.inputs.sources
srow = src.loc[app_id] if app_id in src.index else pd.Series(dtype=object)
resolved = {}
for col in srow.index:
    if col.endswith("_source"):
        key = col[: -len("_source")]
        resolved[key] = (srow.get(key, srow.get(key + "_usd_per_t", "")), srow[col])
rows = []
field_names = messages.catalogue(lang())   # the template's field headers; other inputs keep their code
for k, v in app.to_record().items():
    if k in resolved:
        continue
    rows.append({t("col_input"): field_names.get(f"field_{k}", k), t("col_value"): "" if v is None else str(v),
                 t("col_source"): t("src_applicant")})
for k, (v, s) in resolved.items():
    rows.append({t("col_input"): field_names.get(f"field_{k}", k), t("col_value"): str(v),
                 t("col_source"): messages.word(s, lang())})
rows += [
    {t("col_input"): "discount_rate", t("col_value"): fmt_pct(r["discount_rate"]),
     t("col_source"): t("src_scenario") + (t("src_plus_premium") if scenario.add_country_risk_premium else "")},
    {t("col_input"): "fx_krw_per_usd", t("col_value"): f"{scenario.fx_krw_per_usd:,.0f}", t("col_source"): t("src_scenario")},
    {t("col_input"): "policy_loan_rate", t("col_value"): fmt_pct(scenario.policy_loan_rate), t("col_source"): t("src_scenario")},
    {t("col_input"): "price_usd_per_t", t("col_value"): f"{r['price_usd_per_t']:,.0f}",
     t("col_source"): messages.word(srow["price_source"], lang()) if "price_source" in srow.index
     else t("src_price_deck", case=scenario.price_case)},
]
st.dataframe(shown(pd.DataFrame(rows)), hide_index=True, width="stretch", height=300)

# -- uncertainty ---------------------------------------------------------------------------------
st.subheader(t("uncertainty"))
n_paths = st.select_slider(t("mc_paths"), [500, 1000, 2000, 5000, 10000], value=2000, key="mc_paths")
if st.button(t("run_uncertainty"), key="run_mc"):
    apps = [a for a in compute.applications() if a.id == app_id]
    bar = st.progress(0.0, text=t("simulating"))
    started = time.perf_counter()

    def progress(frac):  # drawn only for runs longer than a second
        if time.perf_counter() - started > 1.0:
            bar.progress(min(max(float(frac), 0.0), 1.0), text=t("simulating"))

    sim = uncertainty.simulate(apps, scenario, compute.reference(), n_paths=int(n_paths), seed=1, progress=progress)
    tor = uncertainty.tornado(apps, scenario, compute.reference(), ids=[app_id])
    st.session_state["mc_result"] = (app_id, int(n_paths), sim, tor)
    bar.empty()
res = st.session_state.get("mc_result")
if res and res[0] == app_id:
    _, n, sim, tor = res
    summ = sim.summary.loc[app_id]
    cc = st.columns(4)
    for col, key in zip(cc, ["npv_p10_usd_m", "npv_p50_usd_m", "npv_p90_usd_m", "prob_npv_negative"]):
        col.metric(t(f"mc_{key}"), fmt_pct(summ[key]) if key.startswith("prob") else t("usd_m_value", x=f"{summ[key]:,.1f}"))
    if summ["loan_request_krw_bn"] > 0:           # the loan: simulated beside static, one credit model
        static = sc.scores.table.loc[app_id] if sc is not None else None
        cl = st.columns(4)
        cl[0].metric(t("mc_prob_default"), fmt_pct(summ["prob_default"]))
        cl[1].metric(t("static_prob_default"), fmt_pct(static["pd_cumulative"]) if static is not None else t("not_available"))
        cl[2].metric(t("mc_expected_loss"), fmt_money(summ["expected_loss_sim_krw_bn"]))
        cl[3].metric(t("static_expected_loss"),
                     fmt_money(static["expected_loss_krw_bn"]) if static is not None else t("not_available"))
        st.caption(t("credit_model_caption", months=f"{scenario.dsra_months:g}"))
    left, right = st.columns(2)
    arr = np.asarray(sim.npv_sample(app_id), dtype=float)
    hist = alt.Chart(pd.DataFrame({"npv_usd_m": arr})).mark_bar().encode(
        x=alt.X("npv_usd_m:Q", bin=alt.Bin(maxbins=50), title=t("col_npv_usd_m")),
        y=alt.Y("count():Q", title=t("axis_paths")))
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="#c0392b").encode(x="x:Q")
    left.altair_chart((hist + zero).properties(height=300, title=t("npv_distribution", n=f"{n:,}")),
                      width="stretch")
    td = tor[tor["id"] == app_id].copy()
    for col in ("input", "low_setting", "high_setting"):   # the data file's words, in the officer's language
        td[col] = td[col].map(tornado_words)
    order = td.sort_values("swing", ascending=False)["input"].tolist()
    # one bar from the base NPV to each setting, coloured by low or high setting
    ends = pd.concat([
        td.assign(setting=t("tornado_low"), npv=td["low_npv_usd_m"], label=td["low_setting"]),
        td.assign(setting=t("tornado_high"), npv=td["high_npv_usd_m"], label=td["high_setting"])])
    tbar = alt.Chart(ends).mark_bar(opacity=0.85).encode(
        y=alt.Y("input:N", sort=order, title=None), x=alt.X("npv:Q", title=t("col_npv_usd_m")), x2="base_npv_usd_m:Q",
        color=alt.Color("setting:N", title=None, scale=alt.Scale(range=["#c0392b", "#2e86c1"])),
        tooltip=[alt.Tooltip("input:N", title=t("col_input")), alt.Tooltip("setting:N", title=t("col_setting")),
                 alt.Tooltip("label:N", title=t("col_change")), alt.Tooltip("npv:Q", format=",.1f", title=t("col_npv_usd_m"))])
    brule = alt.Chart(td.head(1)).mark_rule(color="black").encode(x="base_npv_usd_m:Q")
    right.altair_chart((tbar + brule).properties(height=300, title=t("tornado_title")), width="stretch")
