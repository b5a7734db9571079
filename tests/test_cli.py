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
