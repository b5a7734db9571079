"""What the engine says (messages), in the report's language."""

from __future__ import annotations

import functools
from typing import Any, Mapping

from evaluator import messages
from evaluator import xlsx_style as xs


# ----------------------------------------------------------------------------------------------
# What the engine says (messages), in the report's language
# ----------------------------------------------------------------------------------------------
def binding_messages(summary) -> list:
    """The binding constraints of an allocation summary (:class:`evaluator.pipeline.AllocationSummary`
    or its record) as messages: ``binding_messages``, else the records of ``binding_codes``; a
    mapping with names only (``binding``) quotes each name as it is."""
    found = _summary_get(summary, "binding_messages")
    if found:
        return list(found)
    codes = _summary_get(summary, "binding_codes")
    if codes:
        return [messages.from_record(c) for c in codes]
    return [messages.Message("constraint_named", {"name": str(b)}) for b in (_summary_get(summary, "binding") or [])]


def reasons_text(value: Any, lab: xs.Labels) -> str:
    """Screening reasons (``ineligible_messages``: messages) in the report's language; text given
    instead (a caller's own table) as it is."""
    if isinstance(value, (tuple, list)) and all(isinstance(v, messages.Message) for v in value):
        return messages.join(value, lab.language)
    return messages.word(value, lab.language)


# ----------------------------------------------------------------------------------------------
# Allocation
# ----------------------------------------------------------------------------------------------
def _summary_get(summary, key, default=None):
    if summary is None:
        return default
    if isinstance(summary, Mapping):
        return summary.get(key, default)
    return getattr(summary, key, default)


# ----------------------------------------------------------------------------------------------
# The data notes in Korean (issue 26)
# ----------------------------------------------------------------------------------------------
#: Notes this short are replaced only when they are a whole cell ("public", "facts"): as parts of
#: a longer text they would match inside other words (a URL's "publication").
_WHOLE_CELL_ONLY = 12


@functools.lru_cache(maxsize=4)
def data_notes_ko(data_dir=None) -> tuple[tuple[str, str], ...]:
    """``(English note, Korean note)`` pairs of ``data_notes_ko.csv``, longest first (a note that
    contains a shorter one is replaced whole)."""
    import csv
    from pathlib import Path

    from evaluator.reference import DATA_DIR

    path = Path(data_dir or DATA_DIR) / "data_notes_ko.csv"
    if not path.exists():
        path = DATA_DIR / "data_notes_ko.csv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    pairs = {(r["text_en"], r["text_ko"]) for r in rows if r["text_en"] and r["text_ko"]}
    return tuple(sorted(pairs, key=lambda p: len(p[0]), reverse=True))


def korean_data_notes(text: str, notes: tuple[tuple[str, str], ...]) -> str:
    """``text`` with every English data note of ``notes`` (:func:`data_notes_ko`) in Korean."""
    for en, ko in notes:
        if len(en) <= _WHOLE_CELL_ONLY:
            if text == en:
                return ko
        elif en in text:
            text = text.replace(en, ko)
    return text


def word_data_notes(wb, language: str, data_dir=None) -> None:
    """In a Korean workbook, the data notes of the reference tables and the sources (shown on the
    Assumptions sheet and beside the cash flows) in Korean (``data_notes_ko.csv``); text typed by
    an applicant or an officer and what the catalogue does not list stay as given."""
    if language != "ko":
        return
    notes = data_notes_ko(data_dir)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                v = c.value
                if isinstance(v, str) and c.data_type != "f":
                    new = korean_data_notes(v, notes)
                    if new != v:
                        c.value = new
