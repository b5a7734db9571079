"""Issue 27: what an officer reads is in the officer's terms.

Validation names the template's column (its name in the officer's language and its header as the
spreadsheet shows it) and the spreadsheet's own row number (the header row and the units row counted,
from 1, as Excel numbers rows), never a 0-based index or a data-file path.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pytest

from models.loader import load_applications

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_XLSX = ROOT / "sample_projects" / "applications.xlsx"


def _sample_with(cells: dict[tuple[int, str], object]) -> bytes:
    """The sample workbook with ``{(sheet row, column header): value}`` written on its applications sheet."""
    wb = openpyxl.load_workbook(SAMPLE_XLSX)
    ws = wb["applications"]
    header = [c.value for c in ws[1]]
    for (row, column), value in cells.items():
        ws.cell(row=row, column=header.index(column) + 1).value = value
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_bad_cell_in_row_7_is_reported_as_row_7_with_its_column_in_both_languages(ref):
    wb = openpyxl.load_workbook(SAMPLE_XLSX)
    app_id = wb["applications"].cell(row=7, column=1).value  # the id Excel shows in A7
    res = load_applications(_sample_with({(7, "recovery"): 1.5}), filename="applications.xlsx", ref=ref)
    [p] = res.problems
    assert (p.application_id, p.row) == (app_id, 7)
    assert p.message("en") == f"{app_id} (row 7): Recovery (column recovery) = 1.5: must be at most 1 [fraction]"
    assert p.message("ko") == f"{app_id} (7행): 회수율 (recovery 열) = 1.5: 1 이하여야 합니다 [비율]"
    frame = res.problems_frame("ko")
    assert list(frame["row"]) == [7] and list(frame["field"]) == ["회수율 (recovery 열)"]


def test_rows_of_a_csv_are_its_lines_and_duplicates_name_them(ref, tmp_path):
    lines = (ROOT / "sample_projects" / "applications.csv").read_text(encoding="utf-8").splitlines()
    lines[4] = lines[2]  # line 5 repeats line 3's application
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_applications(path, ref=ref)
    dup = [p for p in res.problems if p.code == "problem_duplicate_id"]
    assert sorted(p.row for p in dup) == [3, 5]
    assert all(p.params["rows"] == "3, 5" for p in dup)


@pytest.mark.parametrize("language", ["en", "ko"])
def test_no_problem_names_a_data_file_or_counts_from_zero(ref, language):
    data = _sample_with({(3, "mineral"): "unobtainium", (4, "fiscal_region"): "XX-ZZ", (5, "currency"): "XYZ",
                         (6, "initial_capex_usd_m"): 900000})
    res = load_applications(data, filename="applications.xlsx", ref=ref)
    assert {p.row for p in res.problems} == {3, 4, 5, 6}
    for p in res.problems:
        line = p.message(language)
        assert not re.search(r"evaluator/|\.csv|\.toml", line), line
