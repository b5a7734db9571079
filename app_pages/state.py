"""The officer's session: the applications table, the widget values and the scenario they make.

Widget values live in ``st.session_state`` under the keys below; :func:`current_scenario` turns
them into a validated :class:`models.scenario.Scenario`. The ``*_key`` functions name what each
cached step depends on (see :mod:`app_pages.compute`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from models.scenario import CRITERIA, Scenario, ScenarioError, default_scenario

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PATH = ROOT / "sample_projects" / "applications.csv"
PAGE_FILES = {
    "applications": "app_pages/applications.py",
    "ranking": "app_pages/ranking.py",
    "project": "app_pages/project.py",
    "allocation": "app_pages/allocation.py",
    "report": "app_pages/report.py",
    "scenarios": "app_pages/scenarios.py",
}
#: Widget keys that must survive a page switch (widgets of other pages are otherwise cleaned up).
PERSISTENT_KEYS = (
    "fund_krw_bn", "loan_krw_bn", "country_cap_pct", "mineral_cap_pct", "objective", "min_fraction_pct",
    "lock_in", "lock_out", "excluded_countries", "project_id", "mc_paths", "financial_measure",
    "demand_case", "supply_window_first", "supply_window_last",
)
#: Scenario fields that only the allocation uses (not the evaluation nor the scores).
ALLOCATION_FIELDS = ("fund_krw_bn", "loan_krw_bn", "country_cap_share", "mineral_cap_share",
                     "country_caps_krw_bn", "mineral_caps_krw_bn", "objective", "min_fraction",
                     "expected_loss_cap_krw_bn", "min_minerals_covered", "name")
#: Further fields that only the scoring uses.
SCORING_FIELDS = ("weights", "excluded_countries", "min_korean_ownership_share", "financial_measure",
                  "allow_partial_above_cap")


def _table_hash(raw: pd.DataFrame, schedule: pd.DataFrame | None) -> str:
    h = hashlib.sha1()
    h.update(raw.to_csv(index=False).encode("utf-8"))
    if schedule is not None:
        h.update(schedule.to_csv(index=False).encode("utf-8"))
    return h.hexdigest()


def set_table(raw: pd.DataFrame, schedule: pd.DataFrame | None, source: str, *, edited: bool = False,
              original: pd.DataFrame | None = None) -> None:
    """Replace the applications table held in the session.

    ``original`` is the table as the applicants submitted it (default: ``raw`` itself, a new
    file); ``edited=True`` (the officer's edits of the table in the session) keeps the original
    already held, so that a saved scenario shows every edit beside the applicant's value."""
    ss = st.session_state
    if not edited or "original_df" not in ss:
        ss["original_df"] = (raw if original is None else original).reset_index(drop=True).copy()
        ss["edit_log"] = {}  # who changed which cell when (evaluator.record.table_edits): a new table, none yet
    ss["raw_df"] = raw.reset_index(drop=True)
    ss["schedule_df"] = schedule
    ss["source_name"] = source
    ss["apps_hash"] = _table_hash(ss["raw_df"], schedule)
    ss["editor_version"] = ss.get("editor_version", 0) + 1


def init_state(load_sample, restore_draft) -> None:
    """First run of a session: the officer's saved draft (``restore_draft()`` -> bool) when there
    is one, else the bundled sample applications (``load_sample()`` -> LoadResult); the default
    scenario under the officer's values."""
    ss = st.session_state
    if "base_scenario" not in ss:
        ss["base_scenario"] = default_scenario()
    if "raw_df" not in ss and not (not ss.get("draft_cleared") and restore_draft()):
        res = load_sample()
        set_table(res.raw, res.schedule, SAMPLE_PATH.name)
    ss.setdefault("lang", "en")
    ss.setdefault("unit", "KRW bn")


def apps_key() -> str:
    return st.session_state["apps_hash"]


def keep_widget_state() -> None:
    """Re-store page widgets' values so they survive navigation (Streamlit drops unrendered widgets)."""
    ss = st.session_state
    for k in PERSISTENT_KEYS:
        if k in ss:
            ss[k] = ss[k]


def scenario_to_widgets(s: Scenario) -> None:
    """Put a scenario's values into the widget state (call from a callback, before widgets draw)."""
    ss = st.session_state
    ss["base_scenario"] = s
    for c in CRITERIA:
        ss[f"w_{c}"] = int(round(100 * float(s.weights.get(c, 0.0))))
    ss["price_case"] = s.price_case
    ss["discount_rate_pct"] = float(round(100 * s.discount_rate, 1))
    ss["fx_krw_per_usd"] = float(s.fx_krw_per_usd)
    ss["add_country_risk_premium"] = bool(s.add_country_risk_premium)
    ss["loan_terms"] = s.loan_terms
    ss["allow_partial_above_cap"] = bool(s.allow_partial_above_cap)
    ss["fund_krw_bn"] = float(s.fund_krw_bn)
    ss["loan_krw_bn"] = float(s.loan_krw_bn)
    ss["country_cap_pct"] = int(round(100 * s.country_cap_share))
    ss["mineral_cap_pct"] = int(round(100 * s.mineral_cap_share))
    ss["objective"] = s.objective
    ss["min_fraction_pct"] = int(round(100 * s.min_fraction))
    ss["excluded_countries"] = list(s.excluded_countries)
    ss["financial_measure"] = s.financial_measure
    ss["demand_case"] = s.demand_case
    ss["supply_window_first"], ss["supply_window_last"] = s.supply_window or default_supply_window()


def default_supply_window() -> tuple[int, int]:
    """The import window the bundled supply data averages by default (:func:`supply.default_window`)."""
    from evaluator.reference import load_reference
    from evaluator.supply import default_window

    return default_window(load_reference())


def _window(first, last, base_window):
    """The window widgets' (first, last) years; None (the data's default) while they show it."""
    if first is None or last is None:
        return base_window
    w = (int(first), int(last))
    return None if base_window is None and w == default_supply_window() else w


def widget_defaults() -> None:
    """Fill widget state from the base scenario the first time."""
    ss = st.session_state
    if "w_financial" not in ss:
        scenario_to_widgets(ss["base_scenario"])


def current_scenario() -> Scenario:
    """The base scenario with the officer's widget values; the base one if they break a rule."""
    ss = st.session_state
    base: Scenario = ss["base_scenario"]
    changes = dict(
        weights={c: float(ss.get(f"w_{c}", 100 * base.weights.get(c, 0))) / 100 for c in CRITERIA},
        price_case=ss.get("price_case", base.price_case),
        discount_rate=float(ss.get("discount_rate_pct", 100 * base.discount_rate)) / 100,
        fx_krw_per_usd=float(ss.get("fx_krw_per_usd", base.fx_krw_per_usd)),
        add_country_risk_premium=bool(ss.get("add_country_risk_premium", base.add_country_risk_premium)),
        allow_partial_above_cap=bool(ss.get("allow_partial_above_cap", base.allow_partial_above_cap)),
        fund_krw_bn=float(ss.get("fund_krw_bn", base.fund_krw_bn)),
        loan_krw_bn=float(ss.get("loan_krw_bn", base.loan_krw_bn)),
        country_cap_share=float(ss.get("country_cap_pct", 100 * base.country_cap_share)) / 100,
        mineral_cap_share=float(ss.get("mineral_cap_pct", 100 * base.mineral_cap_share)) / 100,
        objective=ss.get("objective", base.objective),
        min_fraction=float(ss.get("min_fraction_pct", 100 * base.min_fraction)) / 100,
        excluded_countries=tuple(ss.get("excluded_countries", base.excluded_countries)),
        financial_measure=ss.get("financial_measure", base.financial_measure),
        demand_case=ss.get("demand_case", base.demand_case),
        price_path_usd_per_t=ss.get("price_path") or base.price_path_usd_per_t,
        supply_window=_window(ss.get("supply_window_first"), ss.get("supply_window_last"), base.supply_window),
    )
    try:
        s = base.replace(**changes)
        terms = ss.get("loan_terms", base.loan_terms)
        if terms != s.loan_terms:  # the terms year sets its own write-off share (loan_terms.csv)
            s = s.with_loan_terms(terms)
        ss.pop("scenario_error", None)
        return s
    except ScenarioError as exc:
        ss["scenario_error"] = str(exc)
        return base


def scenario_key(s: Scenario, drop: tuple[str, ...]) -> str:
    d = {k: v for k, v in s.to_dict().items() if k not in drop}
    return json.dumps(d, sort_keys=True, default=str)


def evaluation_key(s: Scenario) -> str:
    """What the evaluation (and the simulation) depend on: no weights, budgets, caps or locks."""
    return scenario_key(s, ALLOCATION_FIELDS + SCORING_FIELDS)


def score_key(s: Scenario) -> str:
    return scenario_key(s, ALLOCATION_FIELDS)


def allocation_key(s: Scenario) -> str:
    return scenario_key(s, ("name",))


def locks() -> tuple[tuple[str, ...], tuple[str, ...]]:
    ss = st.session_state
    return tuple(sorted(ss.get("lock_in", []) or [])), tuple(sorted(ss.get("lock_out", []) or []))


def store_path() -> str | None:
    """Scenario store file: $EVALUATOR_STORE, else the store's own default."""
    return os.environ.get("EVALUATOR_STORE") or None
