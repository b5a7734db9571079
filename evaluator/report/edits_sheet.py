"""The Edits sheet: every figure the officer changed from the applicant's (issue 24).

One row per changed cell of the applications table as entered: the application, the field, the
applicant's value, the officer's value, who changed it and when (Korea Standard Time), from
:func:`evaluator.record.edit_rows`. Values are written as entered (text stays text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Mapping

from openpyxl.utils import get_column_letter

from evaluator import xlsx_style as xs
from evaluator.report.cells import _title, _wrap_rows

#: The sheet's columns: the key of :func:`evaluator.record.edit_rows`, its label and width.
_COLUMNS = (("id", "text.edit_application", 16), ("field", "text.edit_field", 34),
            ("original", "text.edit_original", 18), ("entered", "text.edit_entered", 18),
            ("by", "text.edit_by", 36), ("at_kst", "text.edit_at_kst", 20))


def _field(name: str, language: str) -> str:
    """A field as the template heads it (with its unit), else its key (a column the template lacks)."""
    from evaluator.messages import field_label
    from models.application import FIELDS

    field = next((f for f in FIELDS if f.name == name), None)
    return name if field is None else field_label(name, field.unit, language)


def _write_edits(ws, rows: Sequence[Mapping[str, Any]], lab: xs.Labels) -> None:
    _title(ws, lab("text.edits_title"), lab("text.edits_subtitle", n=len(rows)))
    for j, (_, key, width) in enumerate(_COLUMNS, start=1):
        xs.put_text(ws, 3, j, lab(key), "Header")
        ws.column_dimensions[get_column_letter(j)].width = width
    for i, row in enumerate(rows, start=4):
        for j, (key, _, _) in enumerate(_COLUMNS, start=1):
            value = _field(str(row[key]), lab.language) if key == "field" else row.get(key)
            xs.put_value(ws, i, j, "" if value is None else value, "Value")
    _wrap_rows(ws, 4, 3 + len(rows), (2, 5))
    xs.print_setup(ws, title_rows="3:3", footer=lab("text.page_footer"))
