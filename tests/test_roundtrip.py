"""Round trip (issue 13): random valid application sets written with the template writer
(``evaluator.template.build_template``) and as CSV (``models.loader.applications_frame``) read
back through the one loader give the same applications, and the two forms give identical
evaluations (``evaluator.evaluate.evaluate``).

The applications are drawn as raw records and validated by ``parse_application`` itself, so
every drawn application is one the loader can produce; floats are drawn over their whole valid
range (many significant digits, tiny and large magnitudes) to catch any rounding on the way.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from evaluator.evaluate import evaluate
from evaluator.reference import load_reference
from evaluator.template import applications_workbook, build_template
from models.application import (ESG_CATEGORIES, FIELDS, GRADE_UNITS, PERMITS, STAGES, YES_NO, parse_application,
                                plausibility_bounds)
from models.loader import applications_frame, load_applications, read_table
from models.scenario import default_scenario

REF = load_reference()
SCEN = default_scenario()
COUNTRIES = sorted(REF.countries.index)
MINERALS = sorted(REF.minerals.index)
OXIDES = sorted(REF.ree_oxides.index)
BOUNDS = plausibility_bounds()

# text as an applicant types it: letters of any script, digits, punctuation, inner spaces,
# and a leading formula trigger now and then (stored as plain text)
_TEXT_CHARS = st.one_of(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), max_codepoint=0xFFFF),
                        st.sampled_from(["\t", "\n", "\r", "\U0001F600"]))
TEXT = st.builds(lambda lead, body: (lead + body).strip(), st.sampled_from(["", "=", "+", "-", "@", "'="]),
                 st.text(_TEXT_CHARS, min_size=1, max_size=30)).filter(lambda s: s and not s.startswith("'"))


def _float(lo, hi, **kw):
    """Floats over [lo, hi] with at most 16 significant digits: the template writer keeps no more
    (openpyxl writes numbers with ``"%.16g"``; see test_template_keeps_17_significant_digits)."""
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False, **kw).map(
        lambda x: min(max(float(f"{x:.16g}"), lo), hi)).filter(lambda x: x > lo or not kw.get("exclude_min"))


def _money(name):
    lo, hi = BOUNDS[name]
    return _float(lo, hi)


FRACTION = _float(0.0, 1.0)
POS_FRACTION = _float(0.0, 1.0, exclude_min=True)


@st.composite
def application_record(draw, app_id: str) -> dict:
    """One raw record that parse_application accepts."""
    spec = {f.name: f for f in FIELDS}
    stage = draw(st.sampled_from(STAGES))
    mineral = draw(st.sampled_from(MINERALS))
    life = draw(st.integers(1, 60))
    throughput = draw(_float(1e-3, BOUNDS["throughput_mtpa"][1]))
    ramp = draw(st.lists(FRACTION, max_size=3))
    schedule = draw(st.one_of(st.just([]), st.lists(_float(0.0, 500.0), min_size=1, max_size=5)))
    ore_needed = throughput * life if not schedule else sum(schedule)
    reserve = float(f"{min(max(ore_needed * draw(_float(1.0, 3.0)), 1e-3), BOUNDS['ore_reserve_mt'][1]):.16g}")
    assume(reserve >= ore_needed)
    tenor = draw(st.integers(1, 30))
    unit = draw(st.sampled_from(GRADE_UNITS))
    construction = draw(st.integers(0, 10))
    operating = len(schedule) or life
    grade_hi = 100.0 if unit == "%" else 1e6
    grades = draw(st.one_of(st.just([]), st.lists(_float(0.0, grade_hi), min_size=1, max_size=min(5, operating))))
    capex = draw(st.one_of(st.just([]), st.lists(_money("capex_schedule_usd_m"), min_size=1,
                                                 max_size=min(6, max(construction + operating, 1)))))
    rec = {
        "id": app_id, "name": draw(TEXT), "company": draw(TEXT), "country_iso3": draw(st.sampled_from(COUNTRIES)),
        "region": draw(st.one_of(st.none(), TEXT)), "mineral": mineral, "stage": stage,
        "korean_ownership_share": draw(FRACTION), "esg_category": draw(st.sampled_from(ESG_CATEGORIES)),
        "esg_mitigation_plan": draw(st.sampled_from(YES_NO)), "permits_status": draw(st.sampled_from(PERMITS)),
        "source_note": draw(st.one_of(st.none(), TEXT)), "ore_reserve_mt": reserve,
        "head_grade": draw(_float(1e-6, 100.0 if unit == "%" else 1e6)), "head_grade_unit": unit,
        "recovery": draw(POS_FRACTION), "payability": draw(POS_FRACTION), "throughput_mtpa": throughput,
        "mine_life_years": life, "ramp_up": ";".join(repr(x) for x in ramp),
        "production_schedule_ore_mt": ";".join(repr(x) for x in schedule),
        "grade_schedule": ";".join(repr(x) for x in grades), "capex_schedule_usd_m": ";".join(repr(x) for x in capex),
        "construction_years": construction,
        "loan_tenor_years": tenor, "loan_grace_years": draw(st.integers(0, min(15, tenor - 1))),
        "depreciation_years": draw(st.one_of(st.none(), st.integers(1, 40))),
    }
    for name in ("initial_capex_usd_m", "sustaining_capex_usd_m_per_year", "opex_usd_per_t_ore",
                 "fixed_opex_usd_m_per_year", "closure_cost_usd_m", "fund_request_krw_bn", "loan_request_krw_bn"):
        rec[name] = draw(_money(name))
    rec["total_project_cost_usd_m"] = draw(_float(1e-3, BOUNDS["total_project_cost_usd_m"][1]))
    for name in ("offsite_costs_share", "working_capital_share", "korea_offtake_share"):
        rec[name] = draw(FRACTION)
    for name in ("royalty_rate", "income_tax_rate", "success_probability"):
        rec[name] = draw(st.one_of(st.none(), FRACTION))
    if stage == "exploration" and rec["loan_request_krw_bn"] > 0:
        rec["success_probability"] = draw(FRACTION)
    byp = draw(st.lists(st.tuples(st.sampled_from(MINERALS), _float(0.0, 100.0), st.sampled_from(GRADE_UNITS),
                                  FRACTION, FRACTION), max_size=2))
    rec["by_products"] = "; ".join(f"{m} {g!r} {u} {r!r} {p!r}" for m, g, u, r, p in byp)
    if mineral == "rare_earths" and draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(OXIDES), min_size=1, max_size=4, unique=True))
        weights = draw(st.lists(_float(0.01, 1.0), min_size=len(names), max_size=len(names)))
        rec["ree_basket"] = ";".join(f"{n}:{w / sum(weights)!r}" for n, w in zip(names, weights))
    assert set(rec) <= set(spec)
    return rec


@st.composite
def application_set(draw):
    n = draw(st.integers(1, 4))
    ids = draw(st.lists(st.from_regex(r"[A-Z]{2}-[A-Z0-9]{1,6}-[0-9]{2}", fullmatch=True), min_size=n, max_size=n,
                        unique=True))
    apps = []
    for app_id in ids:
        app, problems = parse_application(draw(application_record(app_id)), known_countries=COUNTRIES,
                                          known_minerals=MINERALS, known_oxides=OXIDES)
        assume(app is not None)
        apps.append(app)
    return apps


def _differences(got, expected) -> list[tuple]:
    """(id, field, read, written) for every field that changed on the way (exact, with types)."""
    import dataclasses

    assert len(got) == len(expected)
    return [(b.id, f.name, getattr(a, f.name), getattr(b, f.name)) for a, b in zip(got, expected)
            for f in dataclasses.fields(b) if repr(getattr(a, f.name)) != repr(getattr(b, f.name))]


# no shrink phase: every example writes and reads a workbook, and shrinking a failure took over five
# minutes; the unshrunk example is printed. 300 examples over four seeds passed while writing this.
@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(application_set())
def test_template_and_csv_round_trip_and_evaluate_identically(apps):
    xlsx = load_applications(build_template(applications=apps), filename="apps.xlsx", ref=REF)
    assert xlsx.problems == [], [p.message() for p in xlsx.problems]
    assert _differences(xlsx.applications, apps) == []

    buf = io.StringIO()
    applications_frame(apps).to_csv(buf, index=False)
    csv = load_applications(buf.getvalue().encode(), filename="apps.csv", ref=REF)
    assert csv.problems == [], [p.message() for p in csv.problems]
    assert _differences(csv.applications, apps) == []

    ev_x = evaluate(xlsx.applications, SCEN, REF)
    ev_c = evaluate(csv.applications, SCEN, REF)
    pd.testing.assert_frame_equal(ev_x.metrics, ev_c.metrics, check_exact=True)


def _on_yearly_sheets(apps) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The applications as an edited table whose schedules stand on the yearly sheets: ore and grade
    on ``production_schedule`` (both when they have the same years, else grade stays in its column),
    capital on ``capex_schedule``; the long table as :class:`models.loader.LoadResult` keeps it."""
    raw = applications_frame(apps).astype(object)
    rows = []
    for i, a in enumerate(apps):
        ore, grade = a.production_schedule_ore_mt, a.grade_schedule
        on_sheet = {"ore_mt": ore} if ore else {}
        if grade and (not ore or len(grade) == len(ore)):
            on_sheet["grade"] = grade
        for column in on_sheet:
            raw.at[i, {"ore_mt": "production_schedule_ore_mt", "grade": "grade_schedule"}[column]] = ""
        for k in range(max((len(v) for v in on_sheet.values()), default=0)):
            rows.append({"id": a.id, "operating_year": k + 1, **{c: v[k] for c, v in on_sheet.items()}})
        for k, x in enumerate(a.capex_schedule_usd_m, start=1):
            rows.append({"id": a.id, "model_year": k, "capex_usd_m": x})
        raw.at[i, "capex_schedule_usd_m"] = ""
    cols = ["id", "operating_year", "ore_mt", "grade", "model_year", "capex_usd_m"]
    return raw, pd.DataFrame(rows, columns=cols, dtype=object).where(lambda d: d.notna(), None)


# as above: no shrink phase (each example writes and reads a workbook)
@settings(max_examples=20, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(application_set())
def test_schedules_on_the_yearly_sheets_round_trip(apps):
    raw, sched = _on_yearly_sheets(apps)
    data = applications_workbook(raw, sched)
    back = load_applications(data, filename="edited.xlsx", ref=REF)
    assert back.problems == [], [p.message() for p in back.problems]
    assert _differences(back.applications, apps) == []
    # written again from what was read: the same table and the same applications
    raw2, sched2 = read_table(data, filename="edited.xlsx")
    again = load_applications(applications_workbook(raw2, sched2), filename="again.xlsx", ref=REF)
    assert _differences(again.applications, apps) == []


@pytest.mark.xfail(strict=False, reason="the template writer (openpyxl) writes numbers with '%.16g': a float that "
                   "needs 17 significant digits comes back 1 ulp away")
def test_template_keeps_17_significant_digits(sample_apps):
    import dataclasses

    app = dataclasses.replace(sample_apps[0], total_project_cost_usd_m=1.2551962408270754)
    assert f"{app.total_project_cost_usd_m:.16g}" != repr(app.total_project_cost_usd_m)  # needs 17 digits
    back = load_applications(build_template(applications=[app]), filename="a.xlsx", ref=REF).applications[0]
    assert back.total_project_cost_usd_m == app.total_project_cost_usd_m
