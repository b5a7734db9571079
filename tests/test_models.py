"""Applications and scenarios: the one loader, validation messages, round trips.

Every bad input names the application, the field and the rule, and the other applications are
still returned. The broken files are described in ``sample_projects/broken/README.md``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from evaluator.reference import load_reference
from models.application import COLUMNS, FIELDS, ValidationError, parse_application
from models.loader import MAX_FILE_BYTES, applications_frame, load_applications, validate_table
from models.scenario import Scenario, ScenarioError, default_scenario, load_scenario, save_scenario

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_projects"
BROKEN = SAMPLES / "broken"
REF = load_reference()


def load(name: str):
    return load_applications(BROKEN / name, ref=REF)


def test_samples_load_without_problems():
    res = load_applications(SAMPLES / "applications.csv", ref=REF)
    assert res.problems == [], [p.message() for p in res.problems]
    assert len(res.applications) >= 24
    assert len({a.country_iso3 for a in res.applications}) >= 12
    assert {a.stage for a in res.applications} == {"exploration", "feasibility", "development", "production"}
    ids = [a.id for a in res.applications]
    assert len(set(ids)) == len(ids)


def test_csv_header_is_the_schema():
    header = pd.read_csv(SAMPLES / "applications.csv", nrows=0).columns.tolist()
    assert header == list(COLUMNS)


@pytest.mark.parametrize("name, bad_id, field, rule_part, good", [
    ("negative_capex.csv", "LA-REE-01", "initial_capex_usd_m", "at least 0", {"VN-REE-01", "TZ-GR-01"}),
    ("grade_over_100.csv", "TZ-GR-01", "head_grade", "at most 100 %", {"VN-W-01"}),
    ("unknown_country.csv", "KZ-W-01", "country_iso3", "unknown country", {"VN-REE-01"}),
    ("text_in_numeric.csv", "AU-LI-01", "throughput_mtpa", "must be a number", {"CA-LI-01"}),
    ("unknown_mineral.csv", "CD-CO-01", "mineral", "unknown mineral", {"ID-NI-01"}),
    ("duplicate_ids.csv", "LA-REE-01", "id", "duplicate id", {"VN-GR-01"}),
])
def test_bad_row_is_named_and_others_still_load(name, bad_id, field, rule_part, good):
    res = load(name)
    bad = [p for p in res.problems if p.application_id == bad_id and p.field == field]
    assert bad, [p.message() for p in res.problems]
    assert rule_part in bad[0].rule
    assert bad_id in bad[0].message() and field in bad[0].message()
    assert {a.id for a in res.applications} == good
    assert len(res.raw) == len(good) + (2 if name == "duplicate_ids.csv" else 1)  # nothing entered is lost


@pytest.mark.parametrize("name, field, rule_part", [
    ("missing_column.csv", "head_grade", "required column is missing"),
    ("empty.csv", "file", "empty"),
    ("corrupt.xlsx", "file", "not a valid .xlsx"),
    ("not_a_spreadsheet.xlsx", "file", "not a valid .xlsx"),
])
def test_unusable_file_raises_clear_error(name, field, rule_part):
    with pytest.raises(ValidationError) as exc:
        load(name)
    assert any(p.field == field and rule_part in p.rule for p in exc.value.problems), str(exc.value)


def test_every_problem_in_a_row_is_collected():
    rec = applications_frame(load_applications(SAMPLES / "applications.csv", ref=REF).applications[:1]).iloc[0].to_dict()
    rec.update(recovery=1.5, payability="x", stage="mining", initial_capex_usd_m=-1)
    app, problems = parse_application(rec, known_countries=REF.countries.index, known_minerals=REF.minerals.index)
    assert app is None
    assert {p.field for p in problems} == {"recovery", "payability", "stage", "initial_capex_usd_m"}


def test_wrong_sheet_in_workbook():
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.active.append(["id", "name"])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(ValidationError, match="no 'applications' sheet"):
        load_applications(buf.getvalue(), filename="apps.xlsx", ref=REF)


def test_oversize_file_refused_before_parsing():
    with pytest.raises(ValidationError, match="MB limit"):
        load_applications(b"a" * (MAX_FILE_BYTES + 1), filename="big.csv", ref=REF)


def test_json_and_csv_give_the_same_applications():
    csv_res = load_applications(SAMPLES / "applications.csv", ref=REF)
    records = applications_frame(csv_res.applications).to_dict("records")
    js = json.dumps({"applications": records}).encode()
    json_res = load_applications(js, filename="apps.json", ref=REF)
    assert json_res.problems == []
    assert json_res.applications == csv_res.applications


def test_schedule_sheet_is_folded_in():
    csv_res = load_applications(SAMPLES / "applications.csv", ref=REF)
    raw = applications_frame(csv_res.applications[:2])
    raw["production_schedule_ore_mt"] = ""
    app_id = raw.loc[0, "id"]
    sched = pd.DataFrame({"id": [app_id] * 3, "operating_year": [2, 1, 3], "ore_mt": [0.2, 0.1, 0.3]})
    res = validate_table(raw, sched, ref=REF)
    assert res.problems == []
    assert res.applications[0].production_schedule_ore_mt == (0.1, 0.2, 0.3)
    assert res.applications[0].operating_years == 3


def test_exploration_loan_needs_success_probability():
    res = load_applications(SAMPLES / "applications.csv", ref=REF)
    expl = next(a for a in res.applications if a.stage == "exploration" and a.loan_request_krw_bn > 0)
    rec = applications_frame([expl]).iloc[0].to_dict()
    rec["success_probability"] = ""
    app, problems = parse_application(rec)
    assert app is None and problems[0].field == "success_probability"


def test_scenario_round_trip_toml_and_json(tmp_path):
    s = default_scenario().replace(fund_krw_bn=300.0, weights={"financial": 1, "risk": 2, "diversification": 3,
                                                               "loan_safety": 0, "readiness": 0, "esg": 0},
                                   excluded_countries=("PRK",), price_overrides_usd_per_t={"lithium": 12000.0})
    for name in ("s.toml", "s.json"):
        save_scenario(s, tmp_path / name)
        assert load_scenario(tmp_path / name) == s


def test_default_scenario_policy_figures():
    """Feb 2026 announcements: KRW 67.5 bn loans = USD 46.2 m; write-off 90 % (2024-25: 80 %,
    2017-23: 70 %; evaluator/data/loan_terms.csv); the coverage tiers live in loan_terms.csv."""
    s = default_scenario()
    assert (s.fund_krw_bn, s.loan_krw_bn, s.loan_terms, s.write_off_share) == (250.0, 67.5, "2026", 0.90)
    assert s.loan_krw_bn * 1000 / s.fx_krw_per_usd == pytest.approx(46.2, abs=0.05)
    assert s.with_loan_terms("2024-25").write_off_share == 0.80
    assert s.with_loan_terms("2025").loan_terms == "2024-25"  # the older name still reads
    assert s.with_loan_terms("2017-23").write_off_share == 0.70


def test_loan_rate_is_nominal_on_the_ktb_and_converted_by_fisher():
    """Rate = 3-year KTB + spread (KTB - 2.25 pp, 2004-07 terms); real = (1 + i) / (1 + pi) - 1
    (Fisher). Hand: KTB 2.6 %, spread -2.25 pp -> 0.35 % nominal; at 2 % inflation
    1.0035 / 1.02 - 1 = -1.6176 %."""
    s = default_scenario()
    assert s.policy_loan_rate_nominal == pytest.approx(0.0035)
    assert s.policy_loan_rate == pytest.approx(1.0035 / 1.02 - 1)
    s2 = s.replace(ktb_3y_rate=0.05, policy_loan_spread=0.0, inflation_rate=0.0)
    assert s2.policy_loan_rate == pytest.approx(0.05)
    # a saved scenario with the old real rate keeps that real rate
    legacy = Scenario.from_dict({"policy_loan_rate": 0.02, "coverage_cap_share": 0.7, "loan_terms": "2025"})
    assert legacy.policy_loan_rate == pytest.approx(0.02)
    assert legacy.loan_terms == "2024-25"


@pytest.mark.parametrize("change, message", [
    ({"weights": {"financial": -1, "risk": 1}}, "non-negative"),
    ({"weights": {"financial": 0, "risk": 0}}, "at least one weight"),
    ({"weights": {"luck": 1}}, "unknown criteria"),
    ({"fund_krw_bn": -5}, "fund_krw_bn"),
    ({"price_case": "median"}, "price_case"),
])
def test_bad_scenario_values_named(change, message):
    with pytest.raises(ScenarioError, match=message):
        Scenario(**change)


def test_bad_scenario_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("fund_krw_bn = 'lots'\n")
    with pytest.raises(ScenarioError, match="bad.toml"):
        load_scenario(p)
    p.write_text("budget = 3\n")
    with pytest.raises(ScenarioError, match="unknown scenario field"):
        load_scenario(p)


def test_every_field_documented_with_unit_or_choices():
    for f in FIELDS:
        assert f.description
        if f.kind in ("float", "int"):
            assert f.unit, f.name
        if f.kind == "choice":
            assert f.choices, f.name
