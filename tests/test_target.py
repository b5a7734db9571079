"""One account of the 2030 target (issue 22): one definition, one "after", one number per basis.

The programme's target: no single supplier country above ``target_single_supplier_share`` (50 %)
of Korea's imports of a mineral (chain basis; rare earths on the NdPr+Dy+Tb element basis) in
``target_year`` (2030). "After" is the target year with each funded project's start and ramp-up,
computed by :func:`evaluator.supply.effect_in_year` / :func:`~evaluator.supply.after_in_year`.
The tests hold every place that shows the target to that definition: the allocation summary
(CLI JSON), the committee workbook (Summary and Supply sheets, read back), the app (AppTest) and
the portfolio simulation, whose probabilities with no uncertainty are 0 or 1 and equal the flags.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from evaluator import pipeline, supply
from evaluator.uncertainty.portfolio_risk import portfolio_risk_of_result

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_projects" / "applications.csv"
TOL = 1e-9


@pytest.fixture(scope="module")
def result(sample_apps, scenario, ref):
    return pipeline.run(sample_apps, scenario, ref)


@pytest.fixture(scope="module")
def flags(result, scenario):
    """Per mineral, the summary's one answer: (top supplier after, its share, met, China after)."""
    s = result.summary
    return {m: (s.top_supplier_after[m], s.top_share_after[m], s.meets_target_after[m], s.china_share_after[m])
            for m in s.meets_target_after}


@pytest.fixture(scope="module")
def deterministic_risk(result, sample_apps, scenario, ref):
    """The portfolio simulation with no uncertainty: no price or cost spread, no failure."""
    return portfolio_risk_of_result(result, sample_apps, scenario, ref, n_paths=16, vol_scale=0.0, failures=False)


# ----------------------------------------------------------------------------------------------
# one definition, one "after"
# ----------------------------------------------------------------------------------------------
def test_the_flag_is_the_top_supplier_at_or_below_the_target(result, scenario, flags):
    target = scenario.target_single_supplier_share
    eff = result.supply.effect
    assert flags and set(flags) == set(eff.index)
    for m, (top, top_share, met, china) in flags.items():
        # independent: the largest share after, whoever holds it, against the target
        assert met == (eff.at[m, "top_share_after"] <= target + TOL), m
        assert top == eff.at[m, "top_supplier_after"] and top_share == pytest.approx(eff.at[m, "top_share_after"], abs=1e-4)
        assert china <= top_share + 1e-4      # China's share is never above the top supplier's
        assert result.summary.target_year == scenario.target_year
    # the sample case of the issue: tungsten's China share falls below the target, the target is not
    # met because Vietnam (VN-W-01) becomes the top supplier above it
    if "tungsten" in flags:
        top, top_share, met, china = flags["tungsten"]
        assert china <= target and top == "VNM" and top_share > target and not met


def test_after_is_the_target_year_of_the_projection(result, scenario, ref):
    """The summary's effect, the projection by year and the partner-by-partner shares agree."""
    eff = result.supply.effect
    at = result.supply.by_year.query("year == @scenario.target_year").set_index("mineral")
    every = supply.offtake_by_year_from_evaluation(result.evaluation, ref=ref)
    funded = supply.funded_offtake(every, pipeline.funded_shares(result.allocation), "korea_offtake_t")
    for m in eff.index:
        assert eff.at[m, "year"] == scenario.target_year
        assert eff.at[m, "china_share_after"] == pytest.approx(at.at[m, "china_share"], abs=1e-12)
        assert eff.at[m, "china_share_before"] == pytest.approx(at.at[m, "china_share_counterfactual"], abs=1e-12)
        assert eff.at[m, "top_share_after"] == pytest.approx(at.at[m, "top_share"], abs=1e-12)
        assert eff.at[m, "top_supplier_after"] == at.at[m, "top_supplier"]
        assert bool(eff.at[m, "meets_target_after"]) == bool(at.at[m, "meets_target"])
        shares = supply.partner_shares_in_year(ref, scenario, m, funded)
        assert shares["after"].max() == pytest.approx(eff.at[m, "top_share_after"], abs=1e-12)
        assert shares["after"].idxmax() == eff.at[m, "top_supplier_after"]
        assert shares["after"].get(supply.CHINA, 0.0) == pytest.approx(eff.at[m, "china_share_after"], abs=1e-12)
        assert shares["before"].get(supply.CHINA, 0.0) == pytest.approx(eff.at[m, "china_share_before"], abs=1e-12)
        assert eff.at[m, "share_basis"] == ("NdPr+Dy+Tb" if m == "rare_earths" else "all forms")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_effect_in_year_equals_projection_on_generated_portfolios(ev, scenario, ref, seed):
    """Random funded shares and a random year: one arithmetic for the year's "after"."""
    rng = np.random.default_rng(seed)
    every = supply.offtake_by_year_from_evaluation(ev, ref=ref)
    ids = every["id"].unique()
    share = pd.Series(np.where(rng.random(len(ids)) < 0.5, rng.uniform(0.2, 1.0, len(ids)), 0.0), index=ids)
    by = supply.funded_offtake(every, share, "korea_offtake_t")
    year = int(rng.integers(scenario.first_year, scenario.horizon_year + 1))
    eff = supply.effect_in_year(ref, scenario, by, year=year)
    proj = supply.projection_by_year(ref, scenario, by).query("year == @year").set_index("mineral")
    assert len(eff) and set(proj.index) <= set(eff.index)
    for m in proj.index:
        for a, b in (("china_share_after", "china_share"), ("top_share_after", "top_share"),
                     ("china_share_before", "china_share_counterfactual")):
            assert eff.at[m, a] == pytest.approx(proj.at[m, b], abs=1e-12), (m, a)
        assert eff.at[m, "meets_target_after"] == proj.at[m, "meets_target"]


def test_cli_allocate_json_carries_the_same_target(result, flags):
    out = subprocess.run([sys.executable, "-m", "evaluator", "allocate", str(SAMPLE), "--format", "json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)["summary"]
    assert s["target_year"] == result.summary.target_year
    for m, (top, top_share, met, china) in flags.items():
        assert s["top_supplier_after"][m] == top and s["meets_target_after"][m] == met
        assert s["top_share_after"][m] == pytest.approx(top_share) and s["china_share_after"][m] == pytest.approx(china)
        assert s["meets_target_after"][m] == (s["top_share_after"][m] <= 0.5 + 1e-4)
        assert s["share_basis"][m] in ("all forms", "NdPr+Dy+Tb")


# ----------------------------------------------------------------------------------------------
# the simulation: no uncertainty -> 0 or 1, equal to the flags
# ----------------------------------------------------------------------------------------------
def test_deterministic_simulation_equals_the_flags(deterministic_risk, result, scenario, flags):
    target = scenario.target_single_supplier_share
    met = deterministic_risk.prob_target_met()
    china = deterministic_risk.prob_target_met("prob_china_share_at_most_target")
    y = scenario.target_year
    assert set(flags) <= set(met)
    for m, (_, _, flag, _) in flags.items():
        assert met[m][y] in (0.0, 1.0) and met[m][y] == float(flag), m
        china_after = result.supply.effect.at[m, "china_share_after"]
        assert china[m][y] == float(china_after <= target + 1e-12), m
    rec = deterministic_risk.as_record()
    assert rec["prob_target_met"] == met and rec["prob_china_share_at_most_target"] == china
    # every year, not only the target year: the projection's flags
    by_year = result.supply.by_year.set_index(["mineral", "year"])
    t = deterministic_risk.target.set_index(["mineral", "year"])
    assert np.array_equal(t["prob_target_met"].to_numpy(), by_year.loc[t.index, "meets_target"].astype(float).to_numpy())


# ----------------------------------------------------------------------------------------------
# the committee workbook, read back in Korean
# ----------------------------------------------------------------------------------------------
def _header_row(ws, first: str) -> int:
    return next(r for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=1).value == first)


def test_workbook_summary_and_supply_sheets_tell_one_story(result, scenario, ref, deterministic_risk, flags):
    from evaluator import xlsx_style as xs
    from evaluator.report import build_pipeline_report

    data = build_pipeline_report(result, scenario, ref=ref, language="ko", portfolio_risk=deterministic_risk)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    lab = xs.load_labels("ko")
    names = {v: k for k, v in lab.table["mineral"].items()}
    y = scenario.target_year
    ws = wb[lab("sheet.summary")]
    head = _header_row(ws, lab.col("mineral"))
    header = [c.value for c in ws[head]]
    seen = 0
    for r in range(head + 1, ws.max_row + 1):
        m = names.get(ws.cell(row=r, column=1).value)
        if m is None:
            break
        got = {h: ws.cell(row=r, column=j).value for j, h in enumerate(header, start=1)}
        top, top_share, met, china = flags[m]
        assert got[lab.col("meets_target")] == (lab("text.yes") if met else lab("text.no")), m
        assert got[lab("col.top_supplier_target_year", year=y)] == top
        assert got[lab("col.top_share_target_year", year=y)] == pytest.approx(top_share, abs=1e-4)
        assert got[lab("col.china_share_target_year", year=y)] == pytest.approx(china, abs=1e-4)
        # the probability beside the flag answers the same question: no "no" next to 100 %
        assert got[lab("col.prob_target_met_target_year", year=y)] == float(met)
        assert got[lab.col("share_basis")] == lab.get("share_basis", result.supply.effect.at[m, "share_basis"])
        seen += 1
    assert seen == len(flags)
    # the Supply sheet: the same "after" and the same "before" as the Summary, its sources table too
    ws = wb[lab("sheet.supply")]
    head = _header_row(ws, lab.col("mineral"))
    header = [c.value for c in ws[head]]
    eff = result.supply.effect
    for r in range(head + 1, head + 1 + len(eff)):
        m = names[ws.cell(row=r, column=1).value]
        got = {h: ws.cell(row=r, column=j).value for j, h in enumerate(header, start=1)}
        assert got[lab.col("china_share_after")] == pytest.approx(eff.at[m, "china_share_after"])
        assert got[lab.col("china_share_before")] == pytest.approx(eff.at[m, "china_share_before"])
        assert got[lab.col("top_supplier_after")] == flags[m][0]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=1, max_row=ws.max_row)]
    k = next(i for i, row in enumerate(rows) if row[0] == lab.col("mineral") and lab.col("partner_iso3") in row)
    cols = rows[k]
    for row in rows[k + 1:]:
        if row[0] not in names:
            break
        if row[cols.index(lab.col("partner_iso3"))] == supply.CHINA:
            m = names[row[0]]
            if m in eff.index:
                assert row[cols.index(lab.col("share_before"))] == pytest.approx(eff.at[m, "china_share_before"])


# ----------------------------------------------------------------------------------------------
# the app (AppTest): the Allocation page's sentences, the Project page's chart and sentence
# ----------------------------------------------------------------------------------------------
def _app_page(at, name: str):
    at.switch_page(f"app_pages/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_allocation_page_names_the_top_supplier_in_korean(fresh_app, flags, scenario):
    """"중국 87% → 22% ...; 베트남이 69%로 최대 공급국이 되어 2030년 50% 목표 미달성": the same
    figures and verdict as the summary, per mineral."""
    from app_pages.i18n import labels

    ko = labels("ko")
    at = fresh_app
    at.radio(key="lang").set_value("ko").run()
    _app_page(at, "allocation")
    text = " ".join(m.value for m in at.markdown)
    y = scenario.target_year
    pct = lambda x: f"{100 * x:.0f}%"  # noqa: E731
    for m, (top, top_share, met, china) in flags.items():
        name = ko[f"country_{top}"] if f"country_{top}" in ko else top
        if met:
            assert f"최대 공급국({name}) 비중 {pct(top_share)}로 {y}년 50% 목표 달성" in text, m
        elif top == supply.CHINA:
            assert f"중국이 {pct(top_share)}로 여전히 최대 공급국이어서 {y}년 50% 목표 미달성" in text, m
        else:
            assert f"{name}" in text and f"{pct(top_share)}로 최대 공급국이 되어 {y}년 50% 목표 미달성" in text, m
        assert f"→ {pct(china)}" in text and "중국 비중" in text, m
    if "tungsten" in flags:
        assert f"베트남이 {pct(flags['tungsten'][1])}로 최대 공급국이 되어" in text


def test_project_page_chart_and_sentence_show_one_china_share(fresh_app, scenario):
    """The chart's caption and the sentence below it: the same China share in the target year."""
    import re

    at = _app_page(fresh_app, "project")
    for app_id in ("VN-REE-01", "VN-W-01"):
        at.selectbox(key="project_id").set_value(app_id).run()
        caption = next(c.value for c in at.caption if c.value.startswith(f"In {scenario.target_year} ("))
        sentence = next(m.value for m in at.markdown if "Korea imported" in m.value)
        cap_after = float(re.search(r"China share [\d.]+% → ([\d.]+)%", caption).group(1))
        sen = re.search(r"share \((.+?)\) from (\d+)% to (\d+)%", sentence)
        assert sen is not None, sentence
        assert round(cap_after) == int(sen.group(3)), (app_id, caption, sentence)
        assert sen.group(1) in caption                      # the same basis, named in both
        assert "at full production" in sentence


# ----------------------------------------------------------------------------------------------
# the optimiser values the same thing
# ----------------------------------------------------------------------------------------------
def _portfolio_value(terms, chosen) -> float:
    """The allocator's diversification value of funding ``chosen`` in full (each term evaluated
    as the MILP does: f(sum_i w_i x_i))."""
    return sum(t.evaluate(sum(float(t.weights.get(i, 0.0)) for i in chosen)) for t in terms)


def _tungsten_candidates(units_one: float) -> pd.DataFrame:
    """One project buying ``units_one`` from Vietnam, or two buying half each from Vietnam and
    Kazakhstan (neither the incumbent, China)."""
    return pd.DataFrame({"mineral": "tungsten", "country_iso3": ["VNM", "VNM", "KAZ"],
                         "supplier_iso3": ["VNM", "VNM", "KAZ"],
                         "offtake_units": [units_one, units_one / 2, units_one / 2]},
                        index=pd.Index(["one", "half_vn", "half_kz"], name="id"))


def test_a_new_dominant_supplier_earns_less_than_spreading(ref, scenario, monkeypatch):
    from evaluator import portfolio

    base = supply.baseline(ref, "tungsten", **supply.scenario_options(scenario))
    gap = supply.gap_volume(base, scenario.target_single_supplier_share, scenario.displacement_rule)
    xs, slopes = portfolio.new_top_supplier_points(base, scenario, ref, "tungsten", "VNM", gap)
    crossing = xs[0] * gap                   # Vietnam overtakes China from this volume on [t WO3]
    a = supply.measures_after(base, {"VNM": crossing}, scenario.displacement_rule, 0.5)
    assert a["top_share"] == pytest.approx(a["incumbent_share"], abs=1e-6)
    assert slopes[0] == 0 and all(s <= 0 for s in slopes) and list(slopes[1:]) == sorted(slopes[1:], reverse=True)
    for units, spread_better in ((0.5 * crossing, False), (3.0 * crossing, True)):
        terms, _ = portfolio.diversification_terms(_tungsten_candidates(units), scenario, ref)
        one, spread = _portfolio_value(terms, ["one"]), _portfolio_value(terms, ["half_vn", "half_kz"])
        if spread_better:
            # past the crossing, one supplier replacing China earns less than the same volume spread
            assert one < spread - 1e-6
            # and the target as defined agrees: the top share after is higher with one supplier
            a1 = supply.measures_after(base, {"VNM": units}, scenario.displacement_rule, 0.5)
            a2 = supply.measures_after(base, {"VNM": units / 2, "KAZ": units / 2}, scenario.displacement_rule, 0.5)
            assert a1["top_share"] > a2["top_share"]
        else:                                # below the crossing both cut China's share alike
            assert one == pytest.approx(spread, rel=1e-9)
    # without the new rule (the incumbent's cut alone) the two were worth the same: the change
    monkeypatch.setattr(portfolio, "new_top_supplier_penalty_on", lambda: False)
    terms, _ = portfolio.diversification_terms(_tungsten_candidates(3.0 * crossing), scenario, ref)
    assert _portfolio_value(terms, ["one"]) == pytest.approx(_portfolio_value(terms, ["half_vn", "half_kz"]))


def test_no_credit_for_building_a_new_dominant_supplier(ref, scenario):
    """Past the volume at which one new supplier overtakes the incumbent, more volume from it
    earns the allocator nothing more (the target's top share worsens there)."""
    from evaluator import portfolio

    base = supply.baseline(ref, "tungsten", **supply.scenario_options(scenario))
    gap = supply.gap_volume(base, scenario.target_single_supplier_share, scenario.displacement_rule)
    xs, _ = portfolio.new_top_supplier_points(base, scenario, ref, "tungsten", "VNM", gap)
    values = []
    for x in xs[:4]:
        terms, _ = portfolio.diversification_terms(_tungsten_candidates(x * gap), scenario, ref)
        values.append(_portfolio_value(terms, ["one"]))
    assert values[0] > 0 and all(v == pytest.approx(values[0], rel=1e-12) for v in values)
    tops = [supply.measures_after(base, {"VNM": x * gap}, scenario.displacement_rule, 0.5)["top_share"] for x in xs[:4]]
    assert tops == sorted(tops)                         # the top share rises past the crossing


def test_samples_tungsten_credit_is_what_the_target_allows(sample_apps, scenario, ref, monkeypatch, result):
    """On the samples: VN-W-01 alone would make Vietnam the top supplier of tungsten (69 % in 2030);
    the allocator now credits its volume only up to where Vietnam overtakes China, so the tungsten
    term is worth less than with the incumbent's cut alone (the funded set stays: VN-W-01's other
    merits still earn its place; measured, issue 22)."""
    from evaluator import portfolio

    monkeypatch.setattr(portfolio, "new_top_supplier_penalty_on", lambda: False)
    before = pipeline.run(sample_apps, scenario, ref).summary
    now = result.summary
    key = "diversification tungsten"
    assert now.diversification_value[key] < before.diversification_value[key] - 0.5
    assert now.objective < before.objective
