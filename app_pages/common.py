"""Shared UI state, labels, formatting and cached compute wrappers for the Streamlit pages.

Only the UI layer caches (DESIGN.md): every wrapper below is keyed on hashable inputs, i.e. the
applications' content hash plus the scenario fields that matter for that step, so that

* moving a budget slider re-runs only the allocation (evaluation and scores are cache hits),
* moving a weight slider re-runs only the scoring (the evaluation is a cache hit).

Heavy objects (applications, evaluation, scores) are passed as ``_``-prefixed arguments that
Streamlit does not hash; the explicit keys in front of them identify their content.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from evaluator.reference import load_reference
from models.application import FIELDS, ValidationError
from models.loader import load_applications, validate_table
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

# ------------------------------------------------------------------------------------------------
# Labels (English / Korean)
# ------------------------------------------------------------------------------------------------
LABELS: dict[str, dict[str, str]] = {
    "app_title": {"en": "Overseas critical-mineral fund evaluator", "ko": "해외 핵심광물 투자 심사"},
    "applications": {"en": "Applications", "ko": "신청서"},
    "ranking": {"en": "Ranking", "ko": "순위"},
    "project": {"en": "Project", "ko": "사업 상세"},
    "allocation": {"en": "Allocation", "ko": "배분"},
    "report": {"en": "Report", "ko": "보고서"},
    "scenarios": {"en": "Scenarios", "ko": "시나리오"},
    "language": {"en": "Language", "ko": "언어"},
    "unit": {"en": "Amounts in", "ko": "금액 단위"},
    "assumptions": {"en": "Assumptions", "ko": "가정"},
    "weights": {"en": "Criteria weights", "ko": "평가 기준 가중치"},
    "price_case": {"en": "Price deck", "ko": "가격 시나리오"},
    "discount_rate": {"en": "Real discount rate [%]", "ko": "실질 할인율 [%]"},
    "fx": {"en": "FX [KRW per USD]", "ko": "환율 [원/달러]"},
    "premium": {"en": "Add country risk premium", "ko": "국가위험 프리미엄 가산"},
    "customs": {"en": "Customs data (UN Comtrade format)", "ko": "수입 통관 자료 (UN Comtrade 형식)"},
    "financial": {"en": "Financial return", "ko": "재무 수익성"},
    "risk": {"en": "Country risk", "ko": "국가 위험"},
    "diversification": {"en": "Supply diversification", "ko": "공급망 다변화"},
    "loan_safety": {"en": "Loan safety", "ko": "융자 안전성"},
    "readiness": {"en": "Readiness", "ko": "사업 준비도"},
    "esg": {"en": "ESG", "ko": "ESG"},
    "fund_budget": {"en": "Fund budget", "ko": "펀드 예산"},
    "loan_budget": {"en": "Policy-loan budget", "ko": "정책융자 예산"},
    "allocated": {"en": "Allocated", "ko": "배정액"},
    "not_available": {"en": "not available yet", "ko": "아직 제공되지 않음"},
}
CRITERION_KEYS = CRITERIA


def lang() -> str:
    return st.session_state.get("lang", "en")


def t(key: str) -> str:
    """The label in the chosen language (the key itself when unknown)."""
    entry = LABELS.get(key)
    if entry is None:
        return key
    return entry.get(lang(), entry["en"])


def not_available(what: str) -> None:
    """The standard note for a back-end part still being written."""
    st.info(f"{what}: {t('not_available')}.", icon=":material/hourglass_empty:")


def optional_module(name: str):
    """``evaluator.<name>`` if it exists and imports, else None (the page shows a note)."""
    try:
        return importlib.import_module(f"evaluator.{name}")
    except ImportError:
        return None


# ------------------------------------------------------------------------------------------------
# Money formatting: KRW bn, or 억원 (1 KRW bn = 10 억원)
# ------------------------------------------------------------------------------------------------
def money_factor() -> float:
    return 10.0 if st.session_state.get("unit") == "억원" else 1.0


def money_unit() -> str:
    return "억원" if st.session_state.get("unit") == "억원" else "KRW bn"


def fmt_money(krw_bn: float | None) -> str:
    if krw_bn is None or not np.isfinite(krw_bn):
        return "n/a"
    return f"{krw_bn * money_factor():,.1f} {money_unit()}"


def fmt_pct(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{100 * x:.1f}%"


def money_columns(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Copy with KRW bn columns converted to the display unit and headed with it."""
    out = df.copy()
    f = money_factor()
    unit = money_unit()
    ren = {}
    for c in cols:
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce") * f
            ren[c] = c.replace("_krw_bn", "") + f" [{unit}]"
    return out.rename(columns=ren)


# ------------------------------------------------------------------------------------------------
# Reference data and applications state
# ------------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def reference():
    """The bundled reference tables (read once per server process)."""
    return load_reference()


def _table_hash(raw: pd.DataFrame, schedule: pd.DataFrame | None) -> str:
    h = hashlib.sha1()
    h.update(raw.to_csv(index=False).encode("utf-8"))
    if schedule is not None:
        h.update(schedule.to_csv(index=False).encode("utf-8"))
    return h.hexdigest()


def set_table(raw: pd.DataFrame, schedule: pd.DataFrame | None, source: str) -> None:
    """Replace the applications table held in the session."""
    ss = st.session_state
    ss["raw_df"] = raw.reset_index(drop=True)
    ss["schedule_df"] = schedule
    ss["source_name"] = source
    ss["apps_hash"] = _table_hash(ss["raw_df"], schedule)
    ss["editor_version"] = ss.get("editor_version", 0) + 1


def init_state() -> None:
    """First run of a session: the bundled sample applications and the default scenario."""
    ss = st.session_state
    ss.setdefault("lang", "en")
    ss.setdefault("unit", "KRW bn")
    if "base_scenario" not in ss:
        ss["base_scenario"] = default_scenario()
    if "raw_df" not in ss:
        res = load_applications(SAMPLE_PATH, ref=reference())
        set_table(res.raw, res.schedule, SAMPLE_PATH.name)


def apps_key() -> str:
    return st.session_state["apps_hash"]


@st.cache_data(show_spinner=False, max_entries=16)
def _validated(key: str, _raw: pd.DataFrame, _schedule):
    return validate_table(_raw, _schedule, ref=reference())


def validation():
    """LoadResult of the session's current table (cached on its content hash).

    Raises ValidationError when the edited table lost a required column or every row.
    """
    ss = st.session_state
    return _validated(apps_key(), ss["raw_df"], ss.get("schedule_df"))


def applications():
    """Valid applications of the current table ([] when the table as a whole is unusable)."""
    try:
        return validation().applications
    except ValidationError:
        return []


def try_load_upload(data: bytes, filename: str) -> str | None:
    """Load an uploaded application file into the session; the error text, or None on success.

    Nothing already loaded is lost on failure.
    """
    try:
        res = load_applications(data, filename=filename, ref=reference())
    except ValidationError as exc:
        return "; ".join(p.message() for p in exc.problems) or str(exc)
    except Exception as exc:  # never a traceback in the UI
        return f"{filename}: could not be read ({type(exc).__name__}: {exc})"
    set_table(res.raw, res.schedule, filename)
    return None


def apply_editor_delta(key: str) -> None:
    """on_change of the data editor: fold its edits into the session table."""
    ss = st.session_state
    delta = ss.get(key) or {}
    raw = ss["raw_df"].copy()
    for row, changes in (delta.get("edited_rows") or {}).items():
        for col, val in changes.items():
            if col in raw.columns:
                if raw[col].dtype != object:
                    raw[col] = raw[col].astype(object)
                raw.iat[int(row), raw.columns.get_loc(col)] = val
    deleted = sorted(int(i) for i in (delta.get("deleted_rows") or []))
    if deleted:
        raw = raw.drop(index=raw.index[deleted])
    added = [r for r in (delta.get("added_rows") or []) if r]
    if added:
        raw = pd.concat([raw, pd.DataFrame(added, dtype=object)], ignore_index=True)
    set_table(raw, ss.get("schedule_df"), ss.get("source_name", "edited"))


def editor_frame(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The table typed for the data editor and its column config from FIELDS.

    A numeric column whose entries do not all parse stays text, so nothing typed is lost.
    """
    df = raw.copy()
    config: dict[str, Any] = {}
    for f in FIELDS:
        if f.name not in df.columns:
            continue
        label = f.name + (f" [{f.unit}]" if f.unit else "")
        if f.kind in ("float", "int"):
            col = df[f.name].replace("", None)
            num = pd.to_numeric(col, errors="coerce")
            if (num.isna() == col.isna()).all():
                df[f.name] = num.astype(float)
                config[f.name] = st.column_config.NumberColumn(
                    label, help=f.description, min_value=f.lo, max_value=f.hi,
                    step=1 if f.kind == "int" else None, required=f.required)
            else:
                config[f.name] = st.column_config.TextColumn(label, help=f.description + " (check entries)")
        elif f.kind == "choice":
            df[f.name] = df[f.name].astype(object).where(df[f.name].notna(), None)
            config[f.name] = st.column_config.SelectboxColumn(
                label, help=f.description, options=list(f.choices), required=f.required)
        else:
            df[f.name] = df[f.name].astype(object).where(df[f.name].notna(), None).map(
                lambda v: None if v is None else str(v))
            config[f.name] = st.column_config.TextColumn(label, help=f.description, required=f.required)
    return df, config


def table_to_workbook(raw: pd.DataFrame, schedule: pd.DataFrame | None) -> bytes:
    """The session's table as an .xlsx in the template's format (sheet ``applications``)."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        raw.to_excel(xw, sheet_name="applications", index=False)
        if schedule is not None and not schedule.empty:
            schedule.to_excel(xw, sheet_name="production_schedule", index=False)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# Scenario from the widgets
# ------------------------------------------------------------------------------------------------
#: Widget keys that must survive a page switch (widgets of other pages are otherwise cleaned up).
PERSISTENT_KEYS = (
    "fund_krw_bn", "loan_krw_bn", "country_cap_pct", "mineral_cap_pct", "objective", "min_fraction_pct",
    "lock_in", "lock_out", "excluded_countries", "project_id", "mc_paths",
)
#: Scenario fields that only the allocation uses (not the evaluation nor the scores).
ALLOCATION_FIELDS = ("fund_krw_bn", "loan_krw_bn", "country_cap_share", "mineral_cap_share",
                     "country_caps_krw_bn", "mineral_caps_krw_bn", "objective", "min_fraction",
                     "expected_loss_cap_krw_bn", "min_minerals_covered", "name")
#: Further fields that only the scoring uses.
SCORING_FIELDS = ("weights", "excluded_countries", "min_korean_ownership_share", "financial_measure")


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
    ss["fund_krw_bn"] = float(s.fund_krw_bn)
    ss["loan_krw_bn"] = float(s.loan_krw_bn)
    ss["country_cap_pct"] = int(round(100 * s.country_cap_share))
    ss["mineral_cap_pct"] = int(round(100 * s.mineral_cap_share))
    ss["objective"] = s.objective
    ss["min_fraction_pct"] = int(round(100 * s.min_fraction))
    ss["excluded_countries"] = list(s.excluded_countries)


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
        fund_krw_bn=float(ss.get("fund_krw_bn", base.fund_krw_bn)),
        loan_krw_bn=float(ss.get("loan_krw_bn", base.loan_krw_bn)),
        country_cap_share=float(ss.get("country_cap_pct", 100 * base.country_cap_share)) / 100,
        mineral_cap_share=float(ss.get("mineral_cap_pct", 100 * base.mineral_cap_share)) / 100,
        objective=ss.get("objective", base.objective),
        min_fraction=float(ss.get("min_fraction_pct", 100 * base.min_fraction)) / 100,
        excluded_countries=tuple(ss.get("excluded_countries", base.excluded_countries)),
    )
    try:
        s = base.replace(**changes)
        ss.pop("scenario_error", None)
        return s
    except (ScenarioError, TypeError, ValueError) as exc:
        ss["scenario_error"] = str(exc)
        return base


def _scenario_key(s: Scenario, drop: tuple[str, ...]) -> str:
    d = {k: v for k, v in s.to_dict().items() if k not in drop}
    return json.dumps(d, sort_keys=True, default=str)


def evaluation_key(s: Scenario) -> str:
    return _scenario_key(s, ALLOCATION_FIELDS + SCORING_FIELDS)


def score_key(s: Scenario) -> str:
    return _scenario_key(s, ALLOCATION_FIELDS)


def allocation_key(s: Scenario) -> str:
    return _scenario_key(s, ("name",))


# ------------------------------------------------------------------------------------------------
# Customs upload
# ------------------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=4)
def _customs(key: str, _data: bytes, filename: str):
    mod = optional_module("customs")
    return mod.read_comtrade(_data, filename=filename, ref=reference())


def customs_import():
    """(CustomsImport or None, its hash key). An unreadable extract is reported, not raised."""
    ss = st.session_state
    up = ss.get("customs_upload")
    if up is None:
        return None, ""
    data = up.getvalue()
    key = hashlib.sha1(data).hexdigest()
    mod = optional_module("customs")
    if mod is None:
        ss["customs_error"] = f"Customs import: {t('not_available')}"
        return None, ""
    try:
        c = _customs(key, data, up.name)
        ss.pop("customs_error", None)
        return c, key
    except Exception as exc:  # CustomsError or anything unexpected: message, not traceback
        ss["customs_error"] = f"{up.name}: {exc}"
        return None, ""


# ------------------------------------------------------------------------------------------------
# Cached compute steps
# ------------------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def _evaluation(akey: str, ekey: str, _apps, _scenario):
    from evaluator import pipeline
    return pipeline.evaluate_step(_apps, _scenario, reference())


@st.cache_data(show_spinner=False, max_entries=32)
def _scores(akey: str, ekey: str, skey: str, ckey: str, _ev, _scenario, _customs):
    from evaluator import pipeline
    return pipeline.score_step(_ev, _scenario, reference(), customs=_customs)


#: Solver time on a slider move [s]: the best allocation found by then is shown with its gap;
#: "Prove optimality" on the Allocation page lifts the limit (HiGHS finds the optimum of 200
#: applications in about 0.2 s and needs about 0.6 s more to prove it).
INTERACTIVE_TIME_LIMIT_S = 0.2
PROVE_TIME_LIMIT_S = 30.0


@st.cache_resource(show_spinner=False, max_entries=8)
def _supply_ref(ckey: str, _customs):
    """Reference data with the uploaded customs imports (one object per upload, so the supply
    engine's per-object baseline cache is reused across reruns)."""
    from evaluator import pipeline
    return pipeline.supply_reference(reference(), _customs)


def supply_ref():
    customs, ckey = customs_import()
    return _supply_ref(ckey, customs)


def time_limit_s() -> float:
    return PROVE_TIME_LIMIT_S if st.session_state.get("prove_optimal") else INTERACTIVE_TIME_LIMIT_S


@st.cache_data(show_spinner=False, max_entries=64)
def _allocation(akey: str, skey: str, alkey: str, ckey: str, locks: tuple, limit_s: float, _scores_table, _ev,
                _scenario, _ref):
    from evaluator import portfolio
    from evaluator.allocation import AllocationError, AllocationInfeasible

    kw = dict(locked_in=locks[0], locked_out=locks[1])
    try:
        return portfolio.allocate_portfolio(_ev, _scores_table, _scenario, _ref, time_limit_s=limit_s, **kw)
    except AllocationInfeasible:
        raise
    except AllocationError:  # no feasible answer yet within the interactive limit: take the time
        return portfolio.allocate_portfolio(_ev, _scores_table, _scenario, _ref, time_limit_s=PROVE_TIME_LIMIT_S, **kw)


@st.cache_data(show_spinner=False, max_entries=16)
def _frontier(akey: str, fkey: str, ckey: str, locks: tuple, resource: str, _pa, _scenario, _ref):
    from evaluator import portfolio
    return portfolio.frontier(_pa, _scenario, _ref, resource=resource)


@st.cache_data(show_spinner=False, max_entries=16)
def _what_it_would_take(akey: str, alkey: str, ckey: str, locks: tuple, _pa, _scenario, _ref):
    from evaluator import portfolio
    return portfolio.what_it_would_take(_pa, _scenario, _ref)


@st.cache_data(show_spinner=False, max_entries=16)
def _projection(akey: str, alkey: str, ckey: str, locks: tuple, _pa, _ev, _scenario, _ref):
    from evaluator import supply
    t = _pa.table
    funded = t.index[t["selected"]]
    by_year = supply.offtake_by_year_from_evaluation(_ev, ids=list(funded))
    by_year["korea_offtake_t"] = by_year["korea_offtake_t"] * by_year["id"].map(t["fraction"]).fillna(0.0)
    return supply.projection_by_year(_ref, _scenario, by_year)


def frontier(pa, resource: str, s: Scenario | None = None):
    """Objective against one budget (0 .. 2x the current one), the current budget marked.

    Keyed on the scenario without the varied budget: moving that slider only moves the marker.
    """
    s = s or current_scenario()
    _, ckey = customs_import()
    # the curve does not depend on the budget it varies (only its marker does): key without it,
    # and lay the grid around the 2026 budget so every slider position shares one curve
    s_grid = s.replace(**{resource: getattr(st.session_state["base_scenario"], resource)})
    return _frontier(apps_key(), _scenario_key(s, ("name", resource)), ckey, locks(), resource, pa, s_grid, supply_ref())


def what_it_would_take(pa, s: Scenario | None = None):
    s = s or current_scenario()
    _, ckey = customs_import()
    return _what_it_would_take(apps_key(), allocation_key(s), ckey, locks(), pa, s, supply_ref())


def projection(pa, s: Scenario | None = None):
    s = s or current_scenario()
    customs, ckey = customs_import()
    return _projection(apps_key(), allocation_key(s), ckey, locks(), pa, evaluation(s), s, supply_ref())


@st.cache_data(show_spinner=False)
def world_outlines() -> dict | None:
    """Natural Earth 1:110m country outlines as GeoJSON, from the copy shipped inside the
    installed ``geopandas`` (<1.0) wheel, read with ``pyshp``: nothing is fetched at run time.
    None when either package is missing."""
    import importlib.util
    try:
        import shapefile  # pyshp
        spec = importlib.util.find_spec("geopandas")  # locates the package without importing it
    except ImportError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "naturalearth_lowres" / "naturalearth_lowres.shp"
    if not path.exists():
        return None
    with shapefile.Reader(str(path)) as r:
        gj = r.__geo_interface__
    fixes = {"France": "FRA", "Norway": "NOR", "Kosovo": "XKX"}  # -99 in this Natural Earth edition
    feats = []
    for f in gj["features"]:
        p = dict(f["properties"])
        if p.get("iso_a3") in (None, "", "-99"):
            p["iso_a3"] = fixes.get(p.get("name"), p.get("iso_a3"))
        if p.get("name") == "Antarctica":
            continue
        feats.append({"type": "Feature", "geometry": f["geometry"], "properties": {"iso_a3": p["iso_a3"], "name": p["name"]}})
    return {"type": "FeatureCollection", "features": feats}


def evaluation(s: Scenario | None = None):
    """Evaluation of the valid applications under the scenario (None when there are none)."""
    s = s or current_scenario()
    apps = applications()
    if not apps:
        return None
    return _evaluation(apps_key(), evaluation_key(s), apps, s)


def require_evaluation(s: Scenario):
    """The evaluation, or a warning and the end of the page when no application is valid."""
    ev = evaluation(s)
    if ev is None:
        st.warning("No valid application: load or fix applications on the Applications page.")
        st.stop()
    return ev


def scores(s: Scenario | None = None):
    """(offtake, benefits, ScoreResult) or None; raises what the pipeline raises."""
    s = s or current_scenario()
    ev = evaluation(s)
    if ev is None:
        return None
    customs, ckey = customs_import()
    return _scores(apps_key(), evaluation_key(s), score_key(s), ckey, ev, s, customs)


def locks() -> tuple[tuple[str, ...], tuple[str, ...]]:
    ss = st.session_state
    return tuple(sorted(ss.get("lock_in", []) or [])), tuple(sorted(ss.get("lock_out", []) or []))


def allocation(s: Scenario | None = None):
    """PortfolioAllocation for the current scores, budgets, caps and locks; raises
    AllocationInfeasible (caught by the page) when the settings conflict."""
    s = s or current_scenario()
    sc = scores(s)
    if sc is None:
        return None
    _, _, result = sc
    customs, ckey = customs_import()
    return _allocation(apps_key(), score_key(s), allocation_key(s), ckey, locks(), time_limit_s(), result.table,
                       evaluation(s), s, supply_ref())


def store_path() -> str | None:
    """Scenario store file: $EVALUATOR_STORE, else the store's own default."""
    return os.environ.get("EVALUATOR_STORE") or None
