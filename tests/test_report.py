"""The committee workbook: structure, safety, and formulas that recompute to the app's numbers.

Reference values: the NPV and IRR of every cash-flow sheet are checked against
``evaluation.metrics`` (the app's vectorised model) after recalculating the workbook with
LibreOffice headless; NOTES.md: ``=NPV(r,B2:Bn)+B1`` agrees with numpy-financial to about 1e-13.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from evaluator import xlsx_style as xs
from evaluator.evaluate import evaluate
from evaluator.report import REPORT_SHEETS, build_report, cashflow_sheet_ids, project_page_ids
from models.application import ValidationError
from models.loader import MAX_UNZIPPED_BYTES, load_applications

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = ROOT / "sample_projects" / "applications.csv"
HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1", "-2", "@SUM(A1:A2)", "\tx"]




def _wb(data: bytes, **kw):
    return openpyxl.load_workbook(io.BytesIO(data), **kw)


def _fake_results(ev):
    ids = list(ev.metrics.index)
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({
        "id": ids, "score": rng.uniform(20, 90, len(ids)),
        "contrib_financial": rng.uniform(0, 20, len(ids)), "contrib_diversification": rng.uniform(0, 30, len(ids)),
        "eligible": [i % 4 != 0 for i in range(len(ids))],
        "ineligible_reasons": [["coverage above cap", "ESG A without plan"] if i % 4 == 0 else [] for i in range(len(ids))],
        "expected_loss_krw_bn": rng.uniform(0, 2, len(ids)), "china_share_after": rng.uniform(0.3, 0.9, len(ids)),
    })
    scores["rank"] = scores["score"].rank(ascending=False, method="first").astype(int)
    funded = ids[1:4]
    allocation = pd.DataFrame({"id": funded, "fund_krw_bn": [10.0, 20.0, 5.5], "loan_krw_bn": [3.0, 0.0, 2.0],
                               "expected_loss_krw_bn": [0.1, 0.0, 0.05]})
    summary = {"objective": 123.4, "status": "optimal", "optimal": True, "mip_gap": 0.0, "solve_time_s": 0.05,
               "binding": ["budget loan_krw_bn", "cap country VNM"],
               "binding_codes": [{"code": "constraint_budget", "params": {"budget": "loan_krw_bn"}}],
               "marginal_values": {"fund_krw_bn": 0.0, "loan_krw_bn": 1.7}}
    supply = pd.DataFrame({"mineral": ["rare_earths", "graphite"], "china_share_before": [0.8, 0.95],
                           "china_share_after": [0.55, 0.6], "hhi_before": [0.66, 0.9]})
    years = list(range(2026, 2036))
    sby = pd.DataFrame([{"mineral": m, "year": y, "china_share": max(0.3, s - 0.03 * (y - 2026))}
                        for m, s in (("rare_earths", 0.8), ("graphite", 0.95)) for y in years])
    return dict(scores=scores, allocation=allocation, allocation_summary=summary, supply=supply, supply_by_year=sby)


# ----------------------------------------------------------------------------------------------
# structure
# ----------------------------------------------------------------------------------------------
def test_default_report_sheets_and_top5_cashflows(ev, scenario):
    data = build_report(ev, scenario)
    assert data[:2] == b"PK"
    wb = _wb(data)
    top5 = list(ev.metrics["npv_usd_m"].sort_values(ascending=False).index[:5])
    assert cashflow_sheet_ids(ev) == top5
    pages = project_page_ids(ev)
    assert pages == top5  # no scores, no allocation: the top 5 by NPV get a page
    assert wb.sheetnames == (["Summary"] + [f"P {i}" for i in pages] + ["Ranking", "Allocation", "Supply"]
                             + [f"CF {i}" for i in top5] + ["Assumptions"])
    ranking = wb["Ranking"]
    assert ranking.freeze_panes == "D5"
    assert ranking.auto_filter.ref.startswith("A4:")
    assert ranking.print_title_rows == "$4:$4"
    assert len(ranking.conditional_formatting) >= 1
    id_col = [c.value for c in ranking[4]].index("Id") + 1
    ids = [ranking.cell(row=r, column=id_col).value for r in range(5, 5 + len(ev.metrics))]
    assert sorted(ids) == sorted(ev.metrics.index)
    summary_text = [c.value for row in wb["Summary"].iter_rows() for c in row if isinstance(c.value, str)]
    import evaluator

    assert evaluator.__version__ in summary_text
    for ws in wb.worksheets:  # every sheet prints landscape, one page wide; the Ranking three (issue 27)
        wide = 3 if ws.title == "Ranking" else 1
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == wide, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
    assert wb["Summary"].page_setup.fitToHeight == 1


def test_optional_inputs_fill_the_sheets(ev, scenario):
    extra = _fake_results(ev)
    decision = {"meeting": "2026-03-15 investment committee", "decision": "approve the three funded projects",
                "dissent": "=cmd|' /C calc'!A0"}
    data = build_report(ev, scenario, decision=decision, **extra)
    wb = _wb(data)
    funded = list(extra["allocation"]["id"])
    assert [s for s in wb.sheetnames if s.startswith("CF ")] == [f"CF {i}" for i in funded]
    # funded projects and the nearest contested ones (eligible, unfunded, ranked above a funded one; the
    # MEMO_CONTESTED best ranked) get a page: the pack stays bounded (issue 27), the rest is in the Ranking
    from evaluator.memo import MEMO_CONTESTED

    pages = [s[2:] for s in wb.sheetnames if s.startswith("P ")]
    sc = extra["scores"].set_index("id")
    worst = max(sc.loc[funded, "rank"])
    contested = sorted((i for i in sc.index if i not in funded and sc.at[i, "eligible"] and sc.at[i, "rank"] < worst),
                       key=lambda i: sc.at[i, "rank"])[:MEMO_CONTESTED]
    assert set(pages) == set(funded) | set(contested)
    assert pages == sorted(pages, key=lambda i: sc.at[i, "rank"])
    assert wb.sheetnames[-2:] == ["Assumptions", "Decision"]
    dec = {wb["Decision"].cell(row=r, column=1).value: wb["Decision"].cell(row=r, column=2) for r in range(4, 7)}
    assert dec["dissent"].value == decision["dissent"] and dec["dissent"].data_type == "s"
    rank = wb["Ranking"]
    header = [c.value for c in rank[4]]
    for col in ("Rank", "Score [0-100]", "Financial [points]", "Eligible", "Why not eligible", "NPV [USD m]",
                "IRR, real [%]", "Funded", "Fund allocated [KRW bn]"):
        assert col in header, col
    assert not any("_" in str(h) for h in header), header  # words, not identifiers
    assert header[0] == "Rank" and rank.cell(row=5, column=1).value == 1
    reasons = [rank.cell(row=r, column=header.index("Why not eligible") + 1).value for r in range(5, 5 + len(ev.metrics))]
    assert "coverage above cap; ESG A without plan" in reasons
    cells = [c.value for row in rank.iter_rows() for c in row]
    assert "None" not in cells and not any(isinstance(v, str) and v.lower() in ("nan", "none") for v in cells)
    assert any(isinstance(v, str) and "approve the three funded projects" in v for v in cells)  # the decision
    alloc = wb["Allocation"]
    texts = [c.value for row in alloc.iter_rows() for c in row if c.value is not None]
    assert "the policy-loan budget is used up" in texts and "Total [KRW bn]" in texts
    assert any(isinstance(t, str) and t.startswith("=SUM(") for t in texts)
    sup = wb["Supply"]
    stexts = [c.value for row in sup.iter_rows() for c in row if c.value is not None]
    assert "China share after [%]" in stexts and 2035 in stexts and "Target" in stexts
    assert len(sup._charts) == 1
    summ = [c.value for row in wb["Summary"].iter_rows() for c in row if c.value is not None]
    assert "Portfolio funded" in summ and "Key risks" in summ
    assert any(isinstance(v, str) and v.startswith("Recorded decision") for v in summ)


def test_assumptions_list_every_reference_figure_with_source(ev, scenario):
    wb = _wb(build_report(ev, scenario))
    ws = wb["Assumptions"]
    texts = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    joined = "\n".join(texts)
    for heading in ("Price deck", "Royalties", "Income tax and country risk premium", "Raw sources"):
        assert heading in joined
    for col in ("Price source", "Premium source", "Income tax source", "Royalty rate [%]", "Licence", "Date"):
        assert col in texts
    for iso3 in {a.country_iso3 for a in ev.applications}:
        assert iso3 in texts
    assert "WGI" in texts and "DAM" in texts  # raw sources ids from SOURCES.md


def test_named_styles_registered_once(ev, scenario):
    wb = openpyxl.Workbook()
    xs.ensure_styles(wb)
    xs.ensure_styles(wb)  # idempotent: a second registration would raise ValueError
    names = list(wb.named_styles)
    assert len(names) == len(set(names))
    wb2 = _wb(build_report(ev, scenario))
    assert "Input" in wb2.named_styles and "Header" in wb2.named_styles


# ----------------------------------------------------------------------------------------------
# formulas: references only, inputs blue, formulas black
# ----------------------------------------------------------------------------------------------
_STRING_LIT = re.compile(r'"[^"]*"')
_REF = re.compile(r"(?:'[^']+'|[A-Za-z_][\w .]*)?!?\$?[A-Z]{1,3}\$?\d+")


def numeric_literals(formula: str) -> list[str]:
    """Numbers typed into a formula (after removing strings and cell references)."""
    body = _STRING_LIT.sub("", formula[1:])
    body = _REF.sub("", body)
    return re.findall(r"(?<![A-Za-z_])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", body)


def test_numeric_literal_detector():
    assert numeric_literals("=B5*$C$7+SUM(C10:Z10)") == []
    assert numeric_literals('=IFERROR(IRR(C40:Z40,$B$30),"n/a 2")') == []
    assert numeric_literals("=B5*1000000") == ["1000000"]
    assert numeric_literals("=MAX(0,C5)") == ["0"]
    assert numeric_literals("=C5*(1+$B$3)^0.5") == ["1", "0.5"]


def test_cashflow_formulas_hold_references_only_and_colours(ev, scenario):
    data = build_report(ev, scenario, cashflow_ids=list(ev.metrics.index))
    wb = _wb(data)
    n_formulas = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    n_formulas += 1
                    assert numeric_literals(c.value) == [], (ws.title, c.coordinate, c.value)
                    if ws.title.startswith("CF "):
                        assert c.font.color is None or c.font.color.rgb in (None, "FF000000", "00000000"), (ws.title, c.coordinate)
    assert n_formulas > 1000
    ws = wb[f"CF {ev.metrics.index[0]}"]
    labels = {ws.cell(row=r, column=1).value: r for r in range(1, ws.max_row + 1)}
    # every row label carries its unit
    for label, r in labels.items():
        if (label and r > 4 and ws.cell(row=r, column=2).value is not None
                and ws.cell(row=r, column=1).style != "Subtitle"):
            assert "[" in str(label), label
    grade = ws.cell(row=labels["Head grade [fraction of ore, grade basis]"], column=2)
    assert grade.font.color.rgb.endswith(xs.INPUT_BLUE) and grade.style == "Input"
    ore = ws.cell(row=labels["Ore processed [Mt] (model schedule)"], column=3)
    assert ore.style == "Input" and ore.data_type == "n"
    npv = ws.cell(row=labels["NPV at the discount rate [USD m]"], column=2).value
    assert re.fullmatch(r"=NPV\(\$B\$\d+,D\d+:[A-Z]+\d+\)\+C\d+", npv), npv
    irr = ws.cell(row=labels["IRR, real [fraction]"], column=2).value
    assert irr.startswith("=IFERROR(IRR(C")


# ----------------------------------------------------------------------------------------------
# recalculation with LibreOffice
# ----------------------------------------------------------------------------------------------
_RECALC_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def recalculate(paths: list[Path], outdir: Path, profile: Path) -> list[Path]:
    """Recalculate workbooks with LibreOffice headless (own profile; recalc forced on load)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_RECALC_XCU, encoding="utf-8")
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
           "--convert-to", "xlsx", "--outdir", str(outdir), *map(str, paths)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "HOME": str(profile)})
    outs = [outdir / p.name for p in paths]
    missing = [p for p in outs if not p.exists()]
    assert not missing, f"LibreOffice produced no output for {missing}: {proc.stdout}\n{proc.stderr}"
    return outs


def _results_of(ws, lang="en"):
    lab = xs.load_labels(lang)
    found = {}
    for r in range(1, ws.max_row + 1):
        label = ws.cell(row=r, column=1).value
        if label == lab("cf.npv"):
            found["npv"] = ws.cell(row=r, column=2).value
        elif label == lab("cf.irr"):
            found["irr"] = ws.cell(row=r, column=2).value
    return found


@pytest.mark.skipif(not (shutil.which("soffice") or shutil.which("libreoffice")),
                    reason="LibreOffice (soffice) is not installed: cannot recalculate the workbook")
def test_formulas_recompute_to_app_values_with_libreoffice(ev, apps, scenario, ref, tmp_path):
    ids = list(ev.metrics.index)
    p1 = tmp_path / "in" / "all.xlsx"
    p1.parent.mkdir()
    p1.write_bytes(build_report(ev, scenario, cashflow_ids=ids))
    # a second scenario: mid-year discounting, no country premium, low prices, other first year
    sc2 = scenario.replace(mid_year=True, add_country_risk_premium=False, price_case="low", first_year=2028)
    ev2 = evaluate(apps, sc2, ref)
    p2 = tmp_path / "in" / "midyear.xlsx"
    p2.write_bytes(build_report(ev2, sc2, cashflow_ids=ids[::3]))
    # the Korean workbook: the same formulas under Korean labels
    p3 = tmp_path / "in" / "ko.xlsx"
    p3.write_bytes(build_report(ev, scenario, cashflow_ids=ids[1::5], language="ko"))
    # issue 28: quarterly discounting (each year in four quarters), with part-year construction
    sc4 = scenario.replace(quarterly_discounting=True)
    apps4 = [dataclasses.replace(a, construction_months=12 * a.construction_years - 5) if a.construction_years else a
             for a in apps]
    ev4 = evaluate(apps4, sc4, ref)
    p4 = tmp_path / "in" / "quarterly.xlsx"
    p4.write_bytes(build_report(ev4, sc4, cashflow_ids=ids[2::4]))
    outs = recalculate([p1, p2, p3, p4], tmp_path / "out", tmp_path / "profile")
    checked = 0
    for out, e, lang in zip(outs, (ev, ev2, ev, ev4), ("en", "en", "ko", "en")):
        wb = openpyxl.load_workbook(out, data_only=True)
        prefix = "CF " if lang == "en" else "현금흐름 "
        for ws in wb.worksheets:
            if not ws.title.startswith(prefix):
                continue
            app_id = ws.title[len(prefix):]
            got = _results_of(ws, lang)
            m = e.metrics.loc[app_id]
            assert isinstance(got["npv"], float), (ws.title, got)
            assert got["npv"] == pytest.approx(float(m["npv_usd_m"]), rel=1e-6, abs=1e-9), ws.title
            if np.isfinite(m["irr"]):
                assert isinstance(got["irr"], float), (ws.title, got)
                assert got["irr"] == pytest.approx(float(m["irr"]), rel=1e-6, abs=1e-9), ws.title
            else:
                assert got["irr"] == xs.load_labels(lang)("text.na"), (ws.title, got)
            checked += 1
    assert checked == len(ids) + len(ids[::3]) + len(ids[1::5]) + len(ids[2::4])


# ----------------------------------------------------------------------------------------------
# safety: user text, sheet names, uploads
# ----------------------------------------------------------------------------------------------
def test_hostile_user_text_is_written_as_text(apps, scenario, ref):
    hostile_apps = [dataclasses.replace(a, name=HOSTILE[k % len(HOSTILE)], company=HOSTILE[(k + 1) % len(HOSTILE)])
                    for k, a in enumerate(apps[:6])]
    ev = evaluate(hostile_apps, scenario, ref)
    data = build_report(ev, scenario, cashflow_ids=[a.id for a in hostile_apps],
                        decision={h: h for h in HOSTILE})
    wb = _wb(data)
    found = {h: 0 for h in HOSTILE}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str):
                    for h in HOSTILE:
                        if c.value == h:
                            assert c.data_type == "s", (ws.title, c.coordinate, c.value)
                            found[h] += 1
                if c.data_type == "f":
                    assert "HYPERLINK" not in c.value and "evil" not in c.value
    assert all(v >= 2 for v in found.values()), found
    # the CF sheet titles embed the name: a formula-like name must not become a formula there
    cf = wb[f"CF {hostile_apps[0].id}"]
    assert cf["A1"].data_type == "s"


def test_put_text_neutralises_formula_triggers():
    wb = openpyxl.Workbook()
    ws = wb.active
    for i, h in enumerate(HOSTILE + ["\rcr", "plain", "a=b"], start=1):
        xs.put_text(ws, i, 1, h)
    buf = io.BytesIO()
    wb.save(buf)
    back = _wb(buf.getvalue()).active
    for i, h in enumerate(HOSTILE + ["\rcr", "plain", "a=b"], start=1):
        c = back.cell(row=i, column=1)
        # XML reading normalises a carriage return to a line feed; the cell stays text either way
        assert c.value in (h, h.replace("\r", "\n")) and c.data_type == "s"
        if xs.is_formula_like(h):
            assert c.quotePrefix


def test_sheet_names_sanitised_and_unique():
    taken: list[str] = []
    for _ in range(4):
        taken.append(xs.safe_sheet_title("A/B:C*?[x]", taken))
    assert taken[0] == "A_B_C___x_"
    assert len(set(t.lower() for t in taken)) == 4
    long = "CF " + "X" * 40
    t1 = xs.safe_sheet_title(long, taken)
    t2 = xs.safe_sheet_title(long, taken + [t1])
    for t in taken + [t1, t2]:
        assert len(t) <= 31 and not re.search(r"[\\*?:/\[\]]", t)
    assert t1 != t2 and len(t2) == 31
    assert xs.safe_sheet_title("'':/", []) == "__"  # forbidden chars replaced, quotes dropped
    assert xs.safe_sheet_title("   ", []) == "Sheet"


def test_report_with_awkward_ids_gets_valid_unique_sheets(apps, scenario, ref):
    odd = ["A/B:C*?[x]", "A_B_C___x_", "A?B:C*/[x]", "Y" * 40, "Y" * 41]
    odd_apps = [dataclasses.replace(a, id=i) for a, i in zip(apps, odd)]
    ev = evaluate(odd_apps, scenario, ref)
    wb = _wb(build_report(ev, scenario, cashflow_ids=odd))
    cf = [s for s in wb.sheetnames if s.startswith("CF ")]
    assert len(cf) == len(odd) and len({s.lower() for s in wb.sheetnames}) == len(wb.sheetnames)
    for s in wb.sheetnames:
        assert len(s) <= 31 and not re.search(r"[\\*?:/\[\]]", s)
    # the full id is still on the sheet
    assert wb[cf[0]]["A1"].value.startswith("Cash flow: A/B:C*?[x]")


def test_zip_bomb_like_upload_is_refused_with_a_clear_error(tmp_path):
    # a small file that claims (and really holds) more than MAX_UNZIPPED_BYTES of XML
    bomb = tmp_path / "bomb.xlsx"
    chunk = b"<row/>" * (1 << 20)
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            written = 0
            while written <= MAX_UNZIPPED_BYTES:
                fh.write(chunk)
                written += len(chunk)
    assert bomb.stat().st_size < 5 * 2**20
    with pytest.raises(ValidationError) as exc:
        load_applications(bomb)
    msg = str(exc.value)
    assert "expands to more than" in msg and exc.value.problems[0].field == "file"


@pytest.mark.parametrize("content", [
    b"PK\x03\x04 this is not really a zip archive",
    b"\x00\x01\x02 binary junk",
    None,  # a truncated real workbook
])
def test_corrupt_workbook_gives_a_clear_validation_error(content, tmp_path):
    if content is None:
        from evaluator.template import build_template

        content = build_template()[:1500]
    p = tmp_path / "upload.xlsx"
    p.write_bytes(content)
    with pytest.raises(ValidationError) as exc:
        load_applications(p)
    assert "xlsx" in str(exc.value) or "workbook" in str(exc.value)
    assert exc.value.problems and exc.value.problems[0].field == "file"


def test_bundled_corrupt_sample_is_refused():
    for name in ("corrupt.xlsx", "not_a_spreadsheet.xlsx"):
        with pytest.raises(ValidationError):
            load_applications(ROOT / "sample_projects" / "broken" / name)


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def test_cli_report_writes_a_workbook(tmp_path):
    from evaluator.cli import main

    out = tmp_path / "report.xlsx"
    rc = main(["report", str(SAMPLE_CSV), "--out", str(out), "--cashflow-ids", "US-REE-01,AU-LI-01"])
    assert rc == 0
    wb = openpyxl.load_workbook(out)
    assert {"CF US-REE-01", "CF AU-LI-01"} <= set(wb.sheetnames)
    assert set(REPORT_SHEETS) - {"Decision"} <= set(wb.sheetnames)


def test_cli_report_rejects_unknown_cashflow_id(tmp_path, capsys):
    from evaluator.cli import main

    rc = main(["report", str(SAMPLE_CSV), "--out", str(tmp_path / "r.xlsx"), "--cashflow-ids", "NOPE-1"])
    assert rc == 2
    assert "NOPE-1" in capsys.readouterr().err


def test_cli_report_in_korean(tmp_path):
    from evaluator.cli import main

    out = tmp_path / "report_ko.xlsx"
    assert main(["report", str(SAMPLE_CSV), "--out", str(out), "--language", "ko"]) == 0
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == "요약" and {"순위", "배분", "공급망", "가정 및 출처"} <= set(wb.sheetnames)
    assert wb["순위"]["A4"].value == "순위"
    with pytest.raises(SystemExit):
        main(["report", str(SAMPLE_CSV), "--out", str(out), "--language", "fr"])


# ----------------------------------------------------------------------------------------------
# the committee pack: Summary and project pages carry the pipeline's numbers
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def risk_result(apps, scenario, ref):
    from evaluator import pipeline

    return pipeline.run(apps, scenario, ref, risk_measure="p10_npv", n_paths=200)


def _kv_of(ws, label_col=1, value_col=2):
    return {ws.cell(row=r, column=label_col).value: ws.cell(row=r, column=value_col).value
            for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=label_col).value is not None}


def test_summary_and_project_pages_carry_the_simulation_and_tornado(risk_result, scenario, ref):
    from evaluator.report import build_pipeline_report
    from evaluator.uncertainty import tornado

    wb = _wb(build_pipeline_report(risk_result, scenario, ref=ref))
    sim = risk_result.simulation.summary
    alloc = risk_result.allocation.table
    funded = [i for i in alloc.index if alloc.at[i, "fund_krw_bn"] + alloc.at[i, "loan_krw_bn"] > 1e-9]
    summary = _kv_of(wb["Summary"])
    assert summary["Sum of the funded projects' P10 NPV [USD m]"] == pytest.approx(float(sim.loc[funded, "npv_p10_usd_m"].sum()))
    assert summary["Expected loss on the policy loans [KRW bn]"] == pytest.approx(risk_result.summary.expected_loss_krw_bn)
    flagged = [i for i in funded if sim.at[i, "prob_npv_negative"] > 0.20]
    listed = summary["Funded projects with P(NPV < 0) above 20%"]
    assert [p.split(" (")[0] for p in listed.split(", ")] == flagged if flagged else listed == "(none)"
    # a project page: its simulated percentiles and its tornado, as computed
    pid = funded[0]
    page = wb[f"P {pid}"]
    sim_kv = _kv_of(page, 7, 8)
    assert sim_kv["P10 NPV [USD m]"] == pytest.approx(float(sim.at[pid, "npv_p10_usd_m"]))
    assert sim_kv["P(NPV < 0) [%]"] == pytest.approx(float(sim.at[pid, "prob_npv_negative"]))
    figures = _kv_of(page)
    assert figures["NPV [USD m]"] == pytest.approx(float(risk_result.evaluation.metrics.at[pid, "npv_usd_m"]))
    t = tornado(list(risk_result.evaluation.applications), scenario, ref, ids=[pid])
    t = t[t["swing"] > 0]
    head = next(r for r in range(1, page.max_row + 1) if page.cell(row=r, column=1).value == "Input")
    swings = [page.cell(row=r, column=6).value for r in range(head + 1, head + 1 + len(t))]
    assert swings == pytest.approx(list(t["swing"]))
    assert page.cell(row=head + 1, column=2).value == "price deck, low case"
    # the ranking: P10 NPV and P(NPV < 0) right after the point NPV
    header = [c.value for c in wb["Ranking"][4]]
    k = header.index("NPV [USD m]")
    assert header[k + 1: k + 3] == ["P10 NPV [USD m]", "P(NPV < 0) [%]"]


def test_study_reconciliation_hook():
    from types import SimpleNamespace

    from evaluator.report import STUDY_FIELDS, study_reconciliation

    row = pd.Series({"npv_usd_m": 120.0, "irr": 0.15})
    assert study_reconciliation(SimpleNamespace(initial_capex_usd_m=200.0), row) is None
    app = SimpleNamespace(study_npv_usd_m=150.0, study_initial_capex_usd_m=180.0, initial_capex_usd_m=200.0)
    rec = study_reconciliation(app, row).set_index("metric")
    assert set(rec.index) <= set(STUDY_FIELDS.values())
    assert rec.at["npv_usd_m", "difference"] == pytest.approx(-30.0)
    assert rec.at["initial_capex_usd_m", "difference"] == pytest.approx(20.0)


def test_summary_china_share_against_the_target_is_the_engines(risk_result, scenario, ref):
    from evaluator.report import build_pipeline_report

    ws = _wb(build_pipeline_report(risk_result, scenario, ref=ref))["Summary"]
    head = next(r for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=1).value == "Mineral")
    header = [c.value for c in ws[head]]
    y = scenario.target_year
    at = risk_result.supply.by_year.query("year == @y").set_index("mineral")
    effect = risk_result.supply.effect
    labels = {v: k for k, v in xs.load_labels("en").table["mineral"].items()}
    rows = 0
    for r in range(head + 1, ws.max_row + 1):
        name = ws.cell(row=r, column=1).value
        if name not in labels:
            break
        m = labels[name]
        got = {h: ws.cell(row=r, column=j).value for j, h in enumerate(header, start=1)}
        # one "after": the target year with each project's timing (the summary's effect, the projection)
        assert got[f"China share in {y} without the portfolio [%]"] == pytest.approx(effect.at[m, "china_share_before"])
        assert got[f"China share in {y} [%]"] == pytest.approx(at.at[m, "china_share"])
        assert got[f"China share in {y} [%]"] == pytest.approx(effect.at[m, "china_share_after"])
        assert got[f"Top supplier share in {y} [%]"] == pytest.approx(at.at[m, "top_share"])
        assert got[f"Top supplier in {y}"] == effect.at[m, "top_supplier_after"]
        assert got["Meets the single-supplier target"] == ("yes" if at.at[m, "meets_target"] else "no")
        assert at.at[m, "meets_target"] == (at.at[m, "top_share"] <= scenario.target_single_supplier_share + 1e-12)
        rows += 1
    assert rows == len(effect)


# ----------------------------------------------------------------------------------------------
# portfolio risk (issue 19): the Summary's key figures and the Portfolio-risk sheet
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def portfolio(apps, scenario, ref):
    from evaluator import pipeline
    from evaluator.uncertainty import portfolio_risk_of_result

    result = pipeline.run(apps, scenario, ref)
    pr = portfolio_risk_of_result(result, apps, scenario, ref, supply_ref=pipeline.supply_reference(ref),
                                  n_paths=400, seed=3)
    return result, pr


def _find_row(ws, text, col=1, start=1):
    for r in range(start, ws.max_row + 1):
        if ws.cell(row=r, column=col).value == text:
            return r
    raise AssertionError(f"{text!r} not in column {col} of {ws.title}")


def _read_table(ws, header_row, first_col, n_cols):
    """Rows under ``header_row`` until the first empty cell of ``first_col``."""
    out, r = [], header_row + 1
    while ws.cell(row=r, column=first_col).value not in (None, ""):
        out.append([ws.cell(row=r, column=first_col + j).value for j in range(n_cols)])
        r += 1
    return out


def test_portfolio_risk_sheet_equals_the_portfolio_risk(portfolio, scenario, ref):
    from evaluator.report import build_pipeline_report

    result, pr = portfolio
    lab = xs.load_labels("en")
    wb = _wb(build_pipeline_report(result, scenario, ref=ref, portfolio_risk=pr))
    names = wb.sheetnames
    assert names.index("Portfolio risk") == names.index("Allocation") + 1
    ws = wb["Portfolio risk"]
    kv = _kv_of(ws)
    for key in ("loan_loss_expected_krw_bn", "loan_loss_p95_krw_bn", "loan_loss_p99_krw_bn", "loan_loss_es99_krw_bn",
                "prob_loss_exceeds_threshold", "fund_npv_mean_krw_bn", "fund_npv_p10_krw_bn", "fund_npv_p50_krw_bn",
                "fund_npv_p90_krw_bn", "fund_npv_es10_krw_bn", "prob_fund_loss"):
        assert kv[lab.col(key)] == pytest.approx(getattr(pr, key), abs=1e-12), key
    assert kv[lab("col.loss_threshold_krw_bn", share=pr.loss_threshold_share)] == pytest.approx(
        0.10 * scenario.loan_krw_bn)
    # loss by year: the table is the PortfolioRisk's, row by row
    top = _find_row(ws, lab.col("year"), col=4)
    got = np.array(_read_table(ws, top, 4, 5), dtype=float)
    want = pr.loan_loss_by_year[["year", "expected_krw_bn", "p95_krw_bn", "p99_krw_bn", "prob_any_loss"]].to_numpy(float)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # the target: every mineral, every year to 2035
    top = _find_row(ws, lab.col("mineral"))
    years = [ws.cell(row=top, column=j).value for j in range(2, 20) if ws.cell(row=top, column=j).value]
    assert years[0] == "2026" and years[-1] == "2035"
    met = pr.prob_target_met()
    rows = _read_table(ws, top, 1, 1 + len(years))
    assert len(rows) == len(met)
    by_label = {lab.mineral(m): m for m in met}
    for row in rows:
        m = by_label[row[0]]
        assert row[1:] == pytest.approx([met[m][int(y)] for y in years]), m
    # risk contributions: one row per funded project; the contributions add up to the tails
    # (issue 22: the static expected loss of each loan beside the simulated one, column 10)
    top = _find_row(ws, lab.col("id"))
    rows = _read_table(ws, top, 1, 14)
    assert rows[len(pr.projects)][0] == lab("text.total")
    rows = rows[:len(pr.projects)]
    assert [r[0] for r in rows] == list(pr.projects.index)
    for r in rows:
        p = pr.projects.loc[r[0]]
        assert r[6:14] == pytest.approx([p.prob_failure, p.prob_default, p.expected_loss_krw_bn,
                                         p.static_expected_loss_krw_bn, p.loss_contribution_es99_krw_bn,
                                         p.fund_npv_mean_krw_bn, p.fund_npv_p10_krw_bn,
                                         p.fund_contribution_es10_krw_bn], abs=1e-12)
    assert sum(r[10] for r in rows) == pytest.approx(pr.loan_loss_es99_krw_bn)
    assert sum(r[13] for r in rows) == pytest.approx(pr.fund_npv_es10_krw_bn)
    assert sum(r[8] for r in rows) == pytest.approx(pr.loan_loss_expected_krw_bn)
    assert sum(r[9] for r in rows) == pytest.approx(pr.static_expected_loss_krw_bn)
    assert kv[lab("col.static_expected_loss_krw_bn")] == pytest.approx(pr.static_expected_loss_krw_bn)
    assert _find_row(ws, pr.expected_loss_note().text(lab.language)) < _find_row(ws, lab.col("mineral"))
    total = ws.cell(row=top + len(rows) + 1, column=11).value
    assert total == f"=SUM(K{top + 1}:K{top + len(rows)})"
    # histogram and the S-curves (101 points in three blocks)
    top = _find_row(ws, lab.col("bin_left_krw_bn"))
    got = np.array(_read_table(ws, top, 1, 3), dtype=float)
    np.testing.assert_allclose(got, pr.loan_loss_histogram.to_numpy(float), atol=1e-12)
    top = _find_row(ws, lab.col("probability"), col=5)
    points = []
    for k in range(3):
        points += _read_table(ws, top, 5 + 3 * k, 3)
    np.testing.assert_allclose(np.array(points, dtype=float)[:, :2], pr.loan_loss_s_curve.to_numpy(float), atol=1e-12)
    np.testing.assert_allclose(np.array(points, dtype=float)[:, 2], pr.fund_npv_s_curve["fund_npv_krw_bn"], atol=1e-12)
    assert len(ws._charts) == 2
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1


def test_summary_carries_the_portfolio_risk_key_figures(portfolio, scenario, ref):
    from evaluator.report import build_pipeline_report

    result, pr = portfolio
    lab = xs.load_labels("en")
    ws = _wb(build_pipeline_report(result, scenario, ref=ref, portfolio_risk=pr))["Summary"]
    kv = _kv_of(ws)
    assert kv[lab("text.risk_book_loss")] == pytest.approx(pr.loan_loss_expected_krw_bn)
    assert kv[lab("text.risk_book_p95")] == pytest.approx(pr.loan_loss_p95_krw_bn)
    assert kv[lab("text.risk_prob_fund_loss")] == pytest.approx(pr.prob_fund_loss)
    # the China table gains P(target met in the target year) per mineral
    head = lab("col.prob_target_met_target_year", year=scenario.target_year)
    top = next(r for r in range(1, ws.max_row + 1) for c in range(1, 11) if ws.cell(row=r, column=c).value == head)
    col = next(c for c in range(1, 11) if ws.cell(row=top, column=c).value == head)
    met = pr.prob_target_met()
    by_label = {lab.mineral(m): m for m in met}
    seen = 0
    for row in _read_table(ws, top, 1, col):
        if row[0] in by_label:
            assert row[col - 1] == pytest.approx(met[by_label[row[0]]][scenario.target_year])
            seen += 1
    assert seen == len(met)
    assert ws.page_setup.fitToHeight == 1  # still one printed page
    # without it: no sheet, no line
    plain = _wb(build_pipeline_report(result, scenario, ref=ref))
    assert "Portfolio risk" not in plain.sheetnames
    assert lab("text.risk_book_p95") not in _kv_of(plain["Summary"])


def test_cli_report_with_portfolio_risk(tmp_path, apps, scenario, ref):
    from evaluator import pipeline
    from evaluator.cli import main
    from evaluator.uncertainty import portfolio_risk_of_result

    out = tmp_path / "risk.xlsx"
    assert main(["report", str(SAMPLE_CSV), "--out", str(out), "--portfolio-risk", "--paths", "300",
                 "--seed", "5"]) == 0
    ws = openpyxl.load_workbook(out)["Portfolio risk"]
    result = pipeline.run(apps, scenario, ref)
    pr = portfolio_risk_of_result(result, apps, scenario, ref, supply_ref=pipeline.supply_reference(ref),
                                  n_paths=300, seed=5)
    kv = _kv_of(ws)
    lab = xs.load_labels("en")
    assert kv[lab.col("loan_loss_expected_krw_bn")] == pytest.approx(pr.loan_loss_expected_krw_bn, abs=1e-9)
    assert kv[lab.col("fund_npv_p10_krw_bn")] == pytest.approx(pr.fund_npv_p10_krw_bn, abs=1e-9)
    assert "Portfolio risk" not in openpyxl.load_workbook(
        tmp_path / "plain.xlsx" if main(["report", str(SAMPLE_CSV), "--out", str(tmp_path / "plain.xlsx")]) == 0
        else out).sheetnames


# ----------------------------------------------------------------------------------------------
# cash-flow sheets of projects with extended model features (issue 16)
# ----------------------------------------------------------------------------------------------
#: Applications given fiscal regimes, a capital schedule, a tax credit and a price path that the
#: flat formulas cannot express: (id, changes). Regimes as evaluator/data/fiscal_regimes.csv.
EXTENDED = {
    "US-REE-01": {"fiscal_region": "USA", "production_tax_credit_share": 0.10},  # depletion, NOL cap, MACRS, 45X
    "US-LI-01": {"fiscal_region": "USA-NV"},           # net-proceeds royalty bands
    "ID-NI-01": {"fiscal_region": "IDN"},              # sliding royalty by price, 5-year losses
    "AU-LI-01": {"fiscal_region": "AUS-NT-1982"},      # net-value royalty with minimum
    "VN-W-01": {"fiscal_region": "VNM", "capex_schedule_usd_m": (100.0, 0.0, 0.0, 0.0, 50.0)},  # expansion in year 5
    "LA-REE-01": {"fiscal_region": "LAO"},             # 3-year losses
    "TZ-GR-01": {"construction_months": 20},           # issue 28: production from month 20 (a part year)
    "KZ-W-02": {"construction_months": 7},             # capital and the first months of output in one year
    "ID-NI-02": {"fiscal_incentive": "IDN-TAX-HOLIDAY-15Y"},  # issue 28: tax holiday, then half rate
}


@pytest.fixture(scope="module")
def extended_ev(apps, scenario, ref):
    changed = tuple(dataclasses.replace(a, **EXTENDED[a.id]) if a.id in EXTENDED else a for a in apps)
    sc = scenario.replace(price_path_usd_per_t={"lithium": {2027: 9000.0, 2032: 14000.0, 2040: 12000.0}})
    return evaluate(changed, sc, ref), sc


def test_extended_projects_get_model_values_and_exact_formulas(extended_ev):
    from evaluator.report import extended_features_of

    ev, sc = extended_ev
    for i in EXTENDED:
        assert extended_features_of(ev, i), i
    assert extended_features_of(ev, "KZ-W-01") == []
    lab = xs.load_labels("en")
    wb = _wb(build_report(ev, sc, cashflow_ids=list(EXTENDED) + ["KZ-W-01", "CL-LI-01"]))
    ws = wb["CF US-REE-01"]
    labels = {ws.cell(row=r, column=1).value: r for r in range(1, ws.max_row + 1)}
    frame = ev.cashflows.frame("US-REE-01")
    for key, col in (("row_roy", "royalty_usd_m"), ("row_dep", "depreciation_usd_m"), ("row_depl", "depletion_usd_m"),
                     ("row_taxpaid", "tax_usd_m"), ("row_credit", "tax_credit_usd_m")):
        r = labels[lab(f"cf.{key}") + " *"]
        vals = [ws.cell(row=r, column=3 + k).value for k in range(len(frame))]
        assert all(isinstance(v, (int, float)) for v in vals), key
        assert vals == pytest.approx(frame[col].to_list(), abs=1e-12), key
    assert frame["depletion_usd_m"].sum() > 0 and frame["tax_credit_usd_m"].sum() > 0
    assert "percentage depletion" in ws["A3"].value
    fcf = ws.cell(row=labels[lab("cf.row_fcf")], column=4).value
    assert fcf.startswith("=") and numeric_literals(fcf) == []
    # the capital schedule is an input row (blue), the expansion in model year 5
    ws = wb["CF VN-W-01"]
    labels = {ws.cell(row=r, column=1).value: r for r in range(1, ws.max_row + 1)}
    init = [ws.cell(row=labels[lab("cf.row_init_schedule")], column=3 + k) for k in range(7)]
    assert [c.value for c in init[1:6]] == [100.0, 0.0, 0.0, 0.0, 50.0] and init[5].style == "Input"
    # a lithium project under the price path: the year's price is an input
    ws = wb["CF CL-LI-01"]
    labels = {ws.cell(row=r, column=1).value: r for r in range(1, ws.max_row + 1)}
    prices = [ws.cell(row=labels[lab("cf.row_price")], column=3 + k).value for k in range(8)]
    assert len(set(prices)) > 2
    # a flat project keeps the full formula model
    ws = wb["CF KZ-W-01"]
    labels = {ws.cell(row=r, column=1).value: r for r in range(1, ws.max_row + 1)}
    assert ws.cell(row=labels[lab("cf.row_roy")], column=5).value.startswith("=")
    assert lab("cf.row_roy") + " *" not in labels and ws["A3"].value is None


@pytest.mark.skipif(not (shutil.which("soffice") or shutil.which("libreoffice")),
                    reason="LibreOffice (soffice) is not installed: cannot recalculate the workbook")
def test_extended_sheets_recompute_to_the_model_with_libreoffice(extended_ev, tmp_path):
    ev, sc = extended_ev
    ids = list(EXTENDED) + ["CL-LI-01", "KZ-W-01"]
    p = tmp_path / "in" / "extended.xlsx"
    p.parent.mkdir()
    p.write_bytes(build_report(ev, sc, cashflow_ids=ids))
    (out,) = recalculate([p], tmp_path / "out", tmp_path / "profile")
    wb = openpyxl.load_workbook(out, data_only=True)
    for i in ids:
        got = _results_of(wb[f"CF {i}"])
        m = ev.metrics.loc[i]
        assert got["npv"] == pytest.approx(float(m["npv_usd_m"]), rel=1e-9, abs=1e-9), i
        if np.isfinite(m["irr"]):
            assert got["irr"] == pytest.approx(float(m["irr"]), rel=1e-7, abs=1e-9), i


def test_assumptions_list_the_fiscal_regime_rows_used(extended_ev, ref):
    """Each regime row an application uses (its region, else the country's default) with its law,
    source and date, as fiscal_regimes.csv gives them."""
    from evaluator.report import fiscal_regimes_used

    ev, sc = extended_ev
    used = fiscal_regimes_used(ev, ref)
    table = ref.fiscal_regimes.set_index(["region", "mineral"])
    by_region = {(r.region, r.mineral): r for r in used.itertuples(index=False)}
    # the regions named in EXTENDED, each at the application's mineral row or the region's '*' row
    for app_id, change in EXTENDED.items():
        if "fiscal_region" not in change:  # a part-year or incentive case, in its country's regime
            continue
        app = next(a for a in ev.applications if a.id == app_id)
        key = next(k for k in ((change["fiscal_region"], app.mineral), (change["fiscal_region"], "*")) if k in table.index)
        rec = by_region[key]
        assert app_id in rec.applications.split(", ")
        assert (rec.law, rec.source, rec.date) == tuple(table.loc[key, ["law", "source", "date"]])
        assert rec.royalty_rate == table.loc[key, "royalty_rate"]
    # an application of a country with no default region and no fiscal_region uses no row
    assert not any("KZ-W-01" in r.applications.split(", ") for r in used.itertuples())
    lab = xs.load_labels("en")
    ws = _wb(build_report(ev, sc, ref=ref))["Assumptions"]
    top = next(r for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=1).value == lab("text.fiscal_regimes_used"))
    head = [ws.cell(row=top + 1, column=j).value for j in range(1, 16)]
    assert head[0] == lab.col("region") and lab.col("law") in head
    shown = {ws.cell(row=top + 2 + k, column=1).value for k in range(len(used))}
    assert shown == set(used["region"])
    law_col = head.index(lab.col("law")) + 1
    assert {ws.cell(row=top + 2 + k, column=law_col).value for k in range(len(used))} == set(used["law"])
