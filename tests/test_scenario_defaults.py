"""Defaults once: the bundled scenario file is the one home of every default; the financial
measures are listed once (models.scenario)."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

from models.scenario import DEFAULT_SCENARIO_PATH, FINANCIAL_MEASURES, RISK_MEASURES, Scenario, default_scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def test_the_dataclass_defaults_are_the_bundled_scenario():
    code, bundled = Scenario(), default_scenario()
    assert [f.name for f in dataclasses.fields(Scenario) if getattr(code, f.name) != getattr(bundled, f.name)] == []
    # the numbers the app and the CLI used before: the bundled file's (caps 40 % per country, 50 % per mineral)
    assert (code.country_cap_share, code.mineral_cap_share) == (0.40, 0.50)
    assert (code.fund_krw_bn, code.loan_krw_bn, code.discount_rate, code.lender_min_llcr) == (250.0, 67.5, 0.08, 1.40)


def test_no_default_is_written_twice():
    """Every field the TOML gives takes its default from it; the class body writes no number."""
    source = (ROOT / "models" / "scenario.py").read_text(encoding="utf-8")
    body = source[source.index("class Scenario:"):source.index("    def __post_init__")]
    fields = re.findall(r"^    (\w+): [^=\n]+= (.+)$", body, re.M)
    data = tomllib.loads(DEFAULT_SCENARIO_PATH.read_text(encoding="utf-8"))
    for name, default in fields:
        if name in data:
            assert default == f'_default("{name}")', name
        else:   # optional settings the TOML cannot spell: None or an empty table
            assert default in ("None", "field(default_factory=dict)"), name
    assert {f.name for f in dataclasses.fields(Scenario)} - set(data) == {
        "expected_loss_cap_krw_bn", "supply_window", "price_path_usd_per_t", "fx_usd_per_unit"}


def test_a_scenario_file_that_leaves_fields_out_gets_the_bundled_values(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "Mine"\nfund_krw_bn = 100.0\n', encoding="utf-8")
    s = load_scenario(path)
    assert (s.name, s.fund_krw_bn) == ("Mine", 100.0)
    assert (s.country_cap_share, s.mineral_cap_share, s.loan_krw_bn) == (0.40, 0.50, 67.5)


def test_the_financial_measures_are_listed_once():
    assert FINANCIAL_MEASURES == ("npv",) + RISK_MEASURES == ("npv", "p10_npv", "prob_loss")
    spelt = re.compile(r"""[(\[]\s*(["']npv["'],\s*)?["']p10_npv["'],\s*["']prob_loss["']""")   # a tuple or list in code
    found = [str(p.relative_to(ROOT)) for folder in ("evaluator", "models", "app_pages")
             for p in (ROOT / folder).rglob("*.py") if spelt.search(p.read_text(encoding="utf-8"))]
    assert found == ["models/scenario.py"]
