"""Allocation: what-if budgets, caps, objective and locks; who gets what and why."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app_pages import access, compute, draft, state
from app_pages.explain import portfolio_sentence
from app_pages.fmt import country_name, fmt_money, fmt_pct, mineral_name, money_factor, money_slider, money_unit, table_view
from app_pages.i18n import lang, t
from app_pages.world_map import funding_map
from evaluator import messages, supply
from evaluator.allocation import AllocationError, AllocationInfeasible
from evaluator.portfolio import PortfolioError
from evaluator.scoring import ScoringError
from models.scenario import FINANCIAL_MEASURES, OBJECTIVES

st.title(t("allocation"))
ss = st.session_state
base = ss["base_scenario"]

if not compute.applications():
    st.warning(t("no_valid_application"))
    st.stop()


def _controls(ids: list[str]) -> None:
    """Budgets (in the officer's unit), caps, objective, partial funding, locks, measure."""
    for k in ("lock_in", "lock_out"):  # drop locks on applications no longer loaded
        if k in ss:
            ss[k] = [i for i in ss[k] if i in ids]
    ro = access.read_only()  # a viewer reads the settings, never moves them
    with st.container(border=True):
        c1, c2 = st.columns(2)
        money_slider(c1, t("budget_fund_krw_bn"), "fund_krw_bn", 500.0, 5.0,
                     help=t("budget_fund_help", amount=fmt_money(base.fund_krw_bn)), disabled=ro)
        money_slider(c2, t("budget_loan_krw_bn"), "loan_krw_bn", 150.0, 2.5,
                     help=t("budget_loan_help", amount=fmt_money(base.loan_krw_bn)), disabled=ro)
        c3, c4, c5, c6 = st.columns(4)
        c3.slider(t("country_cap_pct"), 5, 100, step=5, key="country_cap_pct", disabled=ro)
        c4.slider(t("mineral_cap_pct"), 5, 100, step=5, key="mineral_cap_pct", disabled=ro)
        c5.selectbox(t("objective"), OBJECTIVES, key="objective", format_func={o: t(f"objective_{o}") for o in OBJECTIVES}.get,
                     disabled=ro)
        c6.slider(t("min_fraction_pct"), 0, 100, step=5, key="min_fraction_pct", disabled=ro)
        c7, c8, c9 = st.columns([2, 2, 2])
        c7.multiselect(t("lock_in"), ids, key="lock_in", placeholder=t("choose_applications"), disabled=ro)
        c8.multiselect(t("lock_out"), ids, key="lock_out", placeholder=t("choose_applications"), disabled=ro)
        c9.radio(t("financial_measure"), FINANCIAL_MEASURES, key="financial_measure", horizontal=True,
                 format_func={m: t(f"measure_{m}") for m in FINANCIAL_MEASURES}.get, help=t("financial_measure_help"),
                 disabled=ro)
        st.toggle(t("prove_optimality"), key="prove_optimal",
                  help=t("prove_optimality_help", seconds=f"{compute.INTERACTIVE_TIME_LIMIT_S:g}"), disabled=ro)


def _allocation(scenario):
    """The allocation under the page's settings, or None after saying why there is none."""
    scenario = state.current_scenario()
    if ss.get("scenario_error"):
        st.error(t("settings_not_applied", error=ss["scenario_error"]))

    try:
        pa = compute.allocation(scenario)
    except AllocationInfeasible as exc:
        conflicts = getattr(exc, "conflict_messages", None)
        st.error(t("allocation_infeasible", error=exc.text(lang()))
                 + (f"  \n{t('conflicting')}: {messages.join(conflicts, lang(), ', ')}" if conflicts else ""))
        return
    except (AllocationError, PortfolioError, ScoringError) as exc:
        st.error(t("allocation_not_possible", error=exc))
        return
    if pa is None:
        st.warning(t("nothing_to_allocate"))
        return
    return pa


def _headline(pa, s) -> None:
    """What is allocated against the budgets, how many projects, and the solver's word."""
    t_alloc = pa.table
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
    if s.limit_reached:
        st.warning(t("not_proven_optimal", seconds=f"{compute.time_limit_s():g}", gap=fmt_pct(s.mip_gap)))
    elif s.n_selected == 0 and s.note:
        st.info(t("nothing_funded_because", note=s.note_text(lang())))


def _who_gets_what(t_alloc):
    """Each application's request and award, and the funding by host country and mineral."""
    # -- who gets what -------------------------------------------------------------------------------
    st.subheader(t("who_gets_what"))
    shown = t_alloc.assign(mineral=t_alloc["mineral"].map(mineral_name), note=[messages.word(v, lang()) for v in t_alloc["note_message"]])
    shown = shown.sort_values(["selected", "score"], ascending=[False, False])
    view, colcfg = table_view(shown, [
        ("name", "col_name", "text"), ("country_iso3", "col_country", "text"), ("mineral", "col_mineral", "text"),
        ("score", "col_score", "num1"), ("fund_request_krw_bn", "col_fund_request", "money"),
        ("fund_krw_bn", "col_fund", "money"), ("loan_request_krw_bn", "col_loan_request", "money"),
        ("loan_krw_bn", "col_loan", "money"), ("fraction", "col_share_of_request_pct", "pct"),
        ("selected", "col_selected", "check"), ("note", "col_note", "text")])
    st.dataframe(view, width="stretch", height=380, key="allocation_table", column_config=colcfg)
    unit = money_unit()

    funded = t_alloc[t_alloc["selected"]].assign(mineral=lambda d: d["mineral"].map(mineral_name),
                                                 country=lambda d: d["country_iso3"].map(country_name))
    funded["total"] = (funded["fund_krw_bn"] + funded["loan_krw_bn"]) * money_factor()
    left, right = st.columns(2)
    for col, by, title in ((left, "country", t("by_host_country")), (right, "mineral", t("by_mineral"))):
        with col:
            st.markdown(f"**{t('funding_by', what=title)}** [{unit}]")
            g = funded.groupby(by, as_index=False)["total"].sum()
            if g.empty:
                st.caption(t("nothing_funded"))
            else:
                st.altair_chart(alt.Chart(g).mark_bar().encode(
                    x=alt.X("total:Q", title=unit),
                    y=alt.Y(f"{by}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
                    tooltip=[alt.Tooltip(f"{by}:N", title=t("col_country" if by == "country" else "col_mineral")),
                             alt.Tooltip("total:Q", format=",.1f", title=t("funding_unit", unit=unit))],
                ).properties(height=max(200, 30 * len(g))),
                    width="stretch")
    return funded


def _where(funded) -> None:
    """The world map of the funding."""
    # -- world map -----------------------------------------------------------------------------------
    st.subheader(t("where_the_money_goes"))
    from app_pages.i18n import labels

    names = {k.removeprefix("country_"): v for k, v in labels(lang()).items() if k.startswith("country_")}
    st.altair_chart(funding_map(funded.groupby("country_iso3")["total"].sum().to_dict(), money_unit(), t("col_country"),
                                t("funding_unit", unit=money_unit()), names=names), width="stretch")
    st.caption(t("map_source"))


def _china_share(pa, scenario, t_alloc) -> None:
    """China's share before and after, by year, and the numbers in words."""
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
        cs["mineral"] = cs["mineral"].map(mineral_name)
        order = [t("when_before"), t("when_after")]
        bars = alt.Chart(cs).mark_bar().encode(
            x=alt.X("mineral:N", title=None), xOffset=alt.XOffset("when:N", sort=order),
            y=alt.Y("share_pct:Q", title=t("axis_china_share_pct"), scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("when:N", sort=order, title=None),
            tooltip=[alt.Tooltip("mineral:N", title=t("col_mineral")), alt.Tooltip("when:N", title=t("col_when")),
                     alt.Tooltip("share_pct:Q", format=".1f", title=t("axis_china_share_pct"))])
        rule = alt.Chart(pd.DataFrame({"y": [target]})).mark_rule(strokeDash=[6, 4], color="black").encode(y="y:Q")
        left, right = st.columns(2)
        left.altair_chart((bars + rule).properties(height=300), width="stretch")
        proj = outcome.by_year
        if proj is not None and not proj.empty:
            proj = proj.assign(china_share_pct=proj["china_share"] * 100, mineral=proj["mineral"].map(mineral_name),
                               top_supplier=proj["top_supplier"].map(country_name))
            lines = alt.Chart(proj).mark_line(point=True).encode(
                x=alt.X("year:O", title=None), y=alt.Y("china_share_pct:Q", title=t("axis_china_share_pct"),
                                                       scale=alt.Scale(domain=[0, 100])),
                color=alt.Color("mineral:N", title=t("col_mineral")),
                tooltip=[alt.Tooltip("mineral:N", title=t("col_mineral")), alt.Tooltip("year:O", title=t("col_year")),
                         alt.Tooltip("china_share_pct:Q", format=".1f", title=t("axis_china_share_pct")),
                         alt.Tooltip("top_supplier:N", title=t("col_top_supplier"))])
            year_rule = alt.Chart(pd.DataFrame({"x": [scenario.target_year]})).mark_rule(color="#888").encode(x="x:O")
            right.altair_chart((lines + rule + year_rule).properties(height=300), width="stretch")
        st.caption(t("china_share_caption", target=f"{target:.0f}", year=scenario.target_year,
                     horizon=scenario.horizon_year))
        st.caption(t("share_basis_caption", year=scenario.target_year, target=f"{target:.0f}"))
        funded_ids = list(t_alloc.index[t_alloc["selected"]])
        shares = t_alloc["fraction"].where(t_alloc["selected"], 0.0).to_dict()
        for d in supply.explain_portfolio(compute.supply_ref(), scenario, compute.evaluation(scenario), funded_ids,
                                          fractions=shares):
            st.markdown(f"- **{mineral_name(d['mineral'])}**: " + portfolio_sentence(d, scenario.target_single_supplier_share))


def _portfolio_risk(scenario, t_alloc) -> None:
    """The funded portfolio's joint simulation, on request."""
    unit = money_unit()
    # -- portfolio risk: loan book, fund, target ------------------------------------------------------
    st.subheader(t("portfolio_risk_title"))
    risk = compute.portfolio_risk(scenario)
    if risk is None:
        st.caption(t("portfolio_risk_help", paths=f"{compute.PORTFOLIO_RISK_PATHS:,}"))
        if st.button(t("portfolio_risk_run"), key="run_portfolio_risk"):
            risk = compute.portfolio_risk(scenario, run=True)
    if risk is not None:
        r1 = st.columns(5)
        r1[0].metric(t("loan_loss_expected"), fmt_money(risk.loan_loss_expected_krw_bn), border=True)
        r1[1].metric(t("loan_loss_static_expected"), fmt_money(risk.static_expected_loss_krw_bn), border=True)
        r1[2].metric(t("loan_loss_p95"), fmt_money(risk.loan_loss_p95_krw_bn), border=True)
        r1[3].metric(t("loan_loss_p99"), fmt_money(risk.loan_loss_p99_krw_bn), border=True)
        r1[4].metric(t("prob_loss_above", share=fmt_pct(risk.loss_threshold_share)),
                     fmt_pct(risk.prob_loss_exceeds_threshold), border=True)
        st.caption(risk.expected_loss_note().text(lang()))     # why the static and simulated figures differ
        r3 = st.columns(4)                                      # the special levy and the net cost (issue 23)
        r3[0].metric(t("loan_levy_expected"), fmt_money(risk.loan_levy_expected_krw_bn), border=True)
        r3[1].metric(t("loan_levy_static_expected"), fmt_money(risk.static_expected_levy_krw_bn), border=True)
        r3[2].metric(t("loan_net_cost_expected"), fmt_money(risk.loan_net_cost_expected_krw_bn), border=True)
        r3[3].metric(t("loan_net_cost_p95"), fmt_money(risk.loan_net_cost_p95_krw_bn), border=True)
        st.caption(t("loan_levy_caption", share=fmt_pct(scenario.success_levy_share),
                     years=f"{scenario.success_levy_years:d}"))
        r2 = st.columns(4)
        r2[0].metric(t("fund_npv_p10"), fmt_money(risk.fund_npv_p10_krw_bn), border=True)
        r2[1].metric(t("fund_npv_p50"), fmt_money(risk.fund_npv_p50_krw_bn), border=True)
        r2[2].metric(t("fund_npv_p90"), fmt_money(risk.fund_npv_p90_krw_bn), border=True)
        r2[3].metric(t("prob_fund_loss"), fmt_pct(risk.prob_fund_loss), border=True)
        left, right = st.columns(2)
        hist = risk.loan_loss_histogram.assign(
            lo=lambda d: d["bin_left_krw_bn"] * money_factor(), hi=lambda d: d["bin_right_krw_bn"] * money_factor(),
            pct=lambda d: d["share_of_paths"] * 100)
        left.altair_chart(alt.Chart(hist).mark_bar().encode(
            x=alt.X("lo:Q", title=t("axis_loan_loss", unit=unit)), x2="hi:Q",
            y=alt.Y("pct:Q", title=t("axis_share_of_paths_pct")),
            tooltip=[alt.Tooltip("lo:Q", format=",.1f", title=t("axis_loss_from", unit=unit)),
                     alt.Tooltip("hi:Q", format=",.1f", title=t("axis_loss_to", unit=unit)),
                     alt.Tooltip("pct:Q", format=".2f", title=t("axis_share_of_paths_pct"))],
        ).properties(height=280, title=t("loan_loss_distribution")), width="stretch")
        curve = risk.loan_loss_s_curve.assign(loss=lambda d: d["loss_krw_bn"] * money_factor(),
                                              pct=lambda d: d["probability"] * 100)
        p95 = pd.DataFrame({"loss": [risk.loan_loss_p95_krw_bn * money_factor()]})
        right.altair_chart((alt.Chart(curve).mark_line().encode(
            x=alt.X("loss:Q", title=t("axis_loan_loss", unit=unit)), y=alt.Y("pct:Q", title=t("axis_prob_not_exceeded_pct")))
            + alt.Chart(p95).mark_rule(strokeDash=[6, 4], color="#c0392b").encode(x="loss:Q")
        ).properties(height=280, title=t("loan_loss_s_curve")), width="stretch")
        st.caption(t("loan_loss_caption"))
        target_tbl = risk.target.assign(mineral=risk.target["mineral"].map(mineral_name),
                                        prob=risk.target["prob_target_met"] * 100)
        st.altair_chart(alt.Chart(target_tbl).mark_line(point=True).encode(
            x=alt.X("year:O", title=None), y=alt.Y("prob:Q", title=t("axis_prob_target_met_pct"), scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("mineral:N", title=t("col_mineral")),
            tooltip=[alt.Tooltip("mineral:N", title=t("col_mineral")), alt.Tooltip("year:O", title=t("col_year")),
                     alt.Tooltip("prob:Q", format=".1f", title=t("axis_prob_target_met_pct"))],
        ).properties(height=280, title=t("prob_target_met_title", target=fmt_pct(scenario.target_single_supplier_share))),
            width="stretch")
        contrib = risk.projects.join(t_alloc[["name"]]).assign(mineral=lambda d: d["mineral"].map(mineral_name))
        view, cfg = table_view(contrib, [
            ("name", "col_name", "text"), ("mineral", "col_mineral", "text"), ("fund_krw_bn", "col_fund", "money"),
            ("loan_krw_bn", "col_loan", "money"), ("prob_failure", "col_prob_failure_pct", "pct"),
            ("prob_default", "col_prob_default_pct", "pct"), ("expected_loss_krw_bn", "col_expected_loss_sim", "money"),
            ("static_expected_loss_krw_bn", "col_static_expected_loss", "money"),
            ("expected_levy_krw_bn", "col_expected_levy_sim", "money"),
            ("expected_net_cost_krw_bn", "col_expected_net_cost_sim", "money"),
            ("loss_contribution_es99_krw_bn", "col_loss_contribution", "money"),
            ("fund_npv_p10_krw_bn", "col_fund_npv_p10", "money"),
            ("fund_contribution_es10_krw_bn", "col_fund_downside_contribution", "money")])
        st.dataframe(view, column_config=cfg, width="stretch", key="risk_contributions")
        st.caption(t("risk_contribution_caption"))


def _constraints(s) -> None:
    """Which constraints bind and what one more KRW bn of each budget is worth."""
    # -- constraints, marginal values ----------------------------------------------------------------
    left, right = st.columns(2)
    with left:
        st.subheader(t("binding_constraints"))
        if s.binding_messages:   # text of the catalogue, not typed by a person: Markdown is safe
            st.markdown("\n".join(f"- {m.text(lang())}" for m in s.binding_messages))
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


#: How often the page looks for the results of its background work while it runs [s].
POLL_S = 0.6


def _frontier(pa, scenario, s) -> None:
    """The objective against one budget, the current budget marked."""
    # -- frontier ------------------------------------------------------------------------------------
    st.subheader(t("frontier_title"))
    resource = st.radio(t("vary"), ["fund_krw_bn", "loan_krw_bn"], horizontal=True, key="frontier_resource",
                        format_func={r: t(f"budget_{r}") for r in ("fund_krw_bn", "loan_krw_bn")}.get)
    fr = compute.frontier(pa, resource, scenario)
    unit = money_unit()
    fr = fr.assign(budget_disp=fr["budget"] * money_factor())
    # the objective's value named by what it adds up (score-weighted support, total NPV, ...)
    value_title = t("axis_objective_value", what=t(f"objective_{scenario.objective}"))
    tips = [alt.Tooltip("budget_disp:Q", format=",.1f", title=t("axis_budget", unit=unit)),
            alt.Tooltip("objective:Q", format=",.1f", title=value_title)]
    curve = alt.Chart(fr).mark_line(point=True).encode(
        x=alt.X("budget_disp:Q", title=t("axis_budget", unit=unit)), y=alt.Y("objective:Q", title=value_title),
        tooltip=tips)
    # the current budget's point is this page's own allocation (the cached curve is shared by every
    # position of the slider)
    here = pd.DataFrame({"budget_disp": [getattr(scenario, resource) * money_factor()], "objective": [s.objective]})
    cur = alt.Chart(here).mark_point(size=220, shape="diamond", filled=True, color="#c0392b").encode(
        x="budget_disp:Q", y="objective:Q", tooltip=tips)
    st.altair_chart((curve + cur).properties(height=300), width="stretch")
    st.caption(t("current_budget_marker"))


def _what_it_would_take(pa, scenario) -> None:
    """For each left-out project, what it would take to enter: computed in the background from
    the moment the allocation is shown, the answers appear as they are solved."""
    # -- what it would take --------------------------------------------------------------------------
    st.subheader(t("what_it_would_take"))
    st.caption(t("what_it_would_take_help"))
    left = compute.left_out_job(pa, scenario)
    polling = not left.finished
    st.fragment(run_every=POLL_S if polling else None)(_left_out_table)(left, pa, polling)
    if not left.finished:   # the words first: the value table waits for the cores
        return
    job = compute.what_it_would_take_job(pa, scenario)
    polling = not job.finished       # a fragment that looks again every POLL_S while the job runs
    st.fragment(run_every=POLL_S if polling else None)(_what_it_would_take_table)(job, pa, polling)


def _job_state(job, polling: bool):
    """The background job's latest ``(table, done, total)``, or None once its state is drawn
    instead (an error, or the caption while nothing is ready); a finished job reruns the app once
    so that the final state is drawn and the polling stops."""
    if job.finished and polling:
        st.rerun()
    if job.error is not None or (job.finished and not job.complete and not job.cancel.is_set()):
        st.error(t("background_failed", error=job.error or ""))
        return None
    if job.latest is None:
        st.caption(t("computing_in_background"))
        return None
    return job.latest


def _left_out_table(job, pa, polling: bool) -> None:
    """Every project left out, in words with the number (evaluator/left_out.py): the support at
    which it would have been funded and the request reduction that takes, or the rule that
    excludes it; worded here, in the page's language, from the job's messages."""
    state = _job_state(job, polling)
    if state is None:
        return
    table, done, total = state
    if done < total:
        st.progress(done / total if total else 0.0, text=t("left_out_progress", done=done, total=total))
    shown = table.join(pa.table[["name"]]).assign(explanation=[messages.word(m, lang()) for m in table["message"]])
    view, cfg = table_view(shown, [
        ("name", "col_name", "text"), ("request_krw_bn", "col_request_total", "money"),
        ("entry_support_krw_bn", "col_entry_support", "money"), ("request_cut_krw_bn", "col_request_reduction", "money"),
        ("explanation", "col_why_left_out", "text")])
    st.dataframe(view, column_config=cfg, width="stretch", key="left_out_table")
    st.caption(t("left_out_caption"))


def _what_it_would_take_table(job, pa, polling: bool) -> None:
    """The answers computed so far, the left-out projects nearest to entering first; once the job
    ends, one rerun of the app draws the final state and stops the polling."""
    state = _job_state(job, polling)
    if state is None:
        return
    table, done, total = state
    if done < total:     # the left-out projects (the funded ones' margins follow without a bar)
        st.progress(done / total if total else 0.0, text=t("wit_progress", done=done, total=total))
    # left-out projects first, the nearest to entering on top; then the funded ones
    wit = table.join(pa.table[["name"]]).sort_values(["selected", "value_increase"], na_position="last", kind="stable")
    view, cfg = table_view(wit, [
        ("name", "col_name", "text"), ("selected", "col_selected", "check"),
        ("value_increase", "col_value_increase", "num2"), ("score_increase", "col_score_increase", "num1"),
        ("enter_fraction", "col_enter_fraction_pct", "pct"),
        ("value_drop_to_leave", "col_value_drop_to_leave", "num2"), ("exact", "col_exact", "check")])
    st.dataframe(view, column_config=cfg, width="stretch", key="wit_table")
    st.caption(t("wit_caption"))


@st.fragment
def allocation_page() -> None:
    """The page body: a budget, cap or lock move reruns this part only, not the sidebar and the
    other pages' state (the sidebar's assumptions are read from the session as they stand)."""
    _controls([a.id for a in compute.applications()])
    scenario = state.current_scenario()
    pa = _allocation(scenario)
    if pa is not None:
        s = compute.summary(pa, scenario, with_supply=False)   # the headline does not wait for the supply projection
        _headline(pa, s)
        funded = _who_gets_what(pa.table)
        _where(funded)
        _china_share(pa, scenario, pa.table)
        _portfolio_risk(scenario, pa.table)
        _constraints(s)
        _frontier(pa, scenario, s)
        _what_it_would_take(pa, scenario)
    draft.save()  # a fragment run does not reach app.py's save


allocation_page()
