"""CLI: ``evaluate`` and ``rank`` through ``evaluator.cli.main`` on the sample files.

``sample_projects/applications.csv``: 27 illustrative applications, all valid (README there);
``sample_projects/broken/``: one defect per file (README there).
"""

from __future__ import annotations

import json

import pytest

from evaluator.cli import main
from models.scenario import CRITERIA

SAMPLES = "sample_projects/applications.csv"
BROKEN = "sample_projects/broken/"

RANK_KEYS = {"id", "name", "country_iso3", "mineral", "npv_usd_m", "irr", "payback_years", "min_dscr",
             "country_risk_score", "risk_premium", "expected_loss_krw_bn", "diversification_score",
             "china_share_after", "score", "rank", "rank_range", "eligible", "ineligible_reasons",
             *(f"contrib_{c}" for c in CRITERIA)}


def _json(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_evaluate_json(capsys):
    code, rec, err = _json(capsys, ["evaluate", SAMPLES, "--format", "json"])
    assert code == 0 and err == ""
    assert len(rec) == 27 and len({r["id"] for r in rec}) == 27
    assert {"npv_usd_m", "irr", "payback_years", "min_dscr"} <= set(rec[0])


@pytest.fixture(scope="module")
def ranked():
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["rank", SAMPLES, "--format", "json"])
    return code, json.loads(buf.getvalue())


def test_rank_json_records(ranked):
    code, rec = ranked
    assert code == 0
    assert len(rec) == 27
    assert RANK_KEYS <= set(rec[0])
    eligible = [r for r in rec if r["eligible"]]
    assert [r["rank"] for r in eligible] == list(range(1, len(eligible) + 1))
    assert all(r["rank"] is None and r["ineligible_reasons"] for r in rec if not r["eligible"])
    for r in rec:
        assert sum(r[f"contrib_{c}"] for c in CRITERIA) == pytest.approx(r["score"])


def test_rank_weights_option(capsys, ranked):
    code, rec, _ = _json(capsys, ["rank", SAMPLES, "--format", "json", "--weights", "risk=1,financial=0,"
                                  "diversification=0,loan_safety=0,readiness=0,esg=0"])
    assert code == 0
    el = [r for r in rec if r["eligible"]]
    assert all(r["contrib_financial"] == 0 for r in rec)
    assert el[0]["country_risk_score"] == min(r["country_risk_score"] for r in el)


@pytest.mark.parametrize("weights, msg", [
    ("financial=-1", "non-negative"),
    ("financial=0,risk=0,diversification=0,loan_safety=0,readiness=0,esg=0", "all weights are zero"),
    ("luck=1", "unknown criterion 'luck'"),
    ("financial=abc", "not a number"),
    ("financial", "criterion=number"),
])
def test_rank_bad_weights_exit_2(capsys, weights, msg):
    code = main(["rank", SAMPLES, "--weights", weights])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: --weights") or err.startswith("error: weights")
    assert msg in err


def test_rank_table_lists_reasons(capsys):
    code = main(["rank", SAMPLES])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "Not eligible:" in out and "ID-NI-02: ESG category A without a mitigation plan" in out


def test_rank_csv(capsys):
    code = main(["rank", SAMPLES, "--format", "csv"])
    out, _ = capsys.readouterr()
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("id,name,country_iso3") and len(lines) == 28


@pytest.mark.parametrize("command", ["evaluate", "rank"])
@pytest.mark.parametrize("file, bad_id, field, n_valid", [
    ("unknown_country.csv", "KZ-W-01", "country_iso3", None),
    ("negative_capex.csv", "LA-REE-01", "initial_capex_usd_m", None),
    ("unknown_mineral.csv", "CD-CO-01", "mineral", None),
    ("text_in_numeric.csv", "AU-LI-01", "throughput_mtpa", None),
    ("grade_over_100.csv", "TZ-GR-01", "head_grade", None),
])
def test_broken_rows_exit_3_and_valid_rows_print(capsys, command, file, bad_id, field, n_valid):
    import pandas as pd

    code = main([command, BROKEN + file, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 3
    assert bad_id in err and field in err
    rec = json.loads(out)
    ids = [r["id"] for r in rec]
    assert bad_id not in ids
    n_rows = len(pd.read_csv(BROKEN + file))
    assert len(rec) == n_rows - 1 and len(rec) >= 1


@pytest.mark.parametrize("command", ["evaluate", "rank"])
def test_empty_file_exit_2(capsys, command):
    code = main([command, BROKEN + "empty.csv", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "empty" in err


@pytest.mark.parametrize("command", ["evaluate", "rank"])
def test_missing_column_exit_2(capsys, command):
    code = main([command, BROKEN + "missing_column.csv"])
    _, err = capsys.readouterr()
    assert code == 2 and "head_grade" in err


def test_rank_with_customs_extract(capsys):
    # tests/data/comtrade_korea_synthetic.csv: a synthetic extract in UN Comtrade's export layout
    code, rec, err = _json(capsys, ["rank", SAMPLES, "--format", "json", "--customs",
                                    "tests/data/comtrade_korea_synthetic.csv"])
    assert code == 0 and len(rec) == 27
    assert all(r["diversification_score"] is None or 0 <= r["diversification_score"] <= 100 for r in rec)


def test_rank_missing_customs_file_exit_2(capsys):
    code = main(["rank", SAMPLES, "--customs", "no_such_extract.csv"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "--customs no_such_extract.csv" in err


def _study_file(tmp_path):
    """Two sample applications, one carrying a study's figures (with a by-product price)."""
    from models.loader import load_applications

    apps = {a.id: a for a in load_applications(SAMPLES).applications}
    rec = apps["US-SB-01"].to_record()
    rec.update(study_npv_usd_m=1000.0, study_discount_rate=0.05, study_irr=0.2, study_basis="after_tax",
               study_price_usd_per_t=30_000.0, study_by_product_prices="gold 70,000,000", study_royalty_rate=0.02,
               study_income_tax_rate=0.25)
    path = tmp_path / "study.json"
    path.write_text(json.dumps([rec, apps["VN-REE-01"].to_record()]))
    return path


STUDY_KEYS = ("study_npv_usd_m", "tool_npv_study_basis_usd_m", "study_npv_difference_usd_m", "bridge_unreproduced_usd_m",
              "bridge_price_deck_usd_m", "bridge_discount_rate_usd_m", "bridge_fiscal_terms_usd_m", "bridge_timing_usd_m",
              "bridge_costs_usd_m")


def test_evaluate_prints_every_figure_the_engine_computes(capsys, tmp_path):
    """Issue 28: pre-tax, the Korean investor's view and the study's bridge, in every format;
    the bridge's steps add up to the fund's NPV less the study's, and agree with reconcile.bridge."""
    import math

    from evaluator import reconcile
    from evaluator.reference import load_reference
    from models.loader import load_applications
    from models.scenario import default_scenario

    path = _study_file(tmp_path)
    code, rec, err = _json(capsys, ["evaluate", str(path), "--format", "json"])
    assert code == 0, err
    sb, vn = rec
    for k in ("npv_pretax_usd_m", "irr_pretax", "npv_korea_equity_usd_m", "irr_korea_equity"):
        assert isinstance(sb[k], float) and isinstance(vn[k], float)
    steps = [k for k in STUDY_KEYS if k.startswith("bridge_")]
    assert math.fsum(sb[k] for k in steps) == pytest.approx(sb["npv_usd_m"] - 1000.0, abs=1e-9)
    app = load_applications(str(path)).applications[0]
    b = reconcile.bridge(app, default_scenario(), load_reference())
    assert sb["tool_npv_study_basis_usd_m"] == pytest.approx(b.tool_npv_study_basis_usd_m, rel=1e-12)
    assert [sb[k] for k in steps] == pytest.approx([s.change_usd_m for s in b.steps], rel=1e-12)
    assert all(vn[k] is None for k in STUDY_KEYS) and vn["study_basis"] == ""
    assert main(["evaluate", str(path), "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert set(STUDY_KEYS) | {"npv_pretax_usd_m", "irr_korea_equity", "effective_tax_rate"} <= set(header)
    assert main(["evaluate", str(path), "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert all(k in table for k in STUDY_KEYS + ("irr_pretax", "npv_korea_equity_usd_m"))
