"""What the engine says (messages), in the report's language."""

from __future__ import annotations

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
