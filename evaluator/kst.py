"""Times as the officer reads them: Korea Standard Time, said so.

The store and the records keep UTC ISO 8601 (``2026-12-07T13:58:00+00:00`` or ``...Z``); every
place an officer reads a time (the app, the committee workbook, the decision record) shows it
through :func:`kst_text`, so one rule decides the zone and the form.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

#: Korea Standard Time: UTC+9 all year (no daylight saving since 1988).
KST = _dt.timezone(_dt.timedelta(hours=9), "KST")


def to_kst(value: Any) -> _dt.datetime | None:
    """A stored time (ISO text or datetime; without a zone it is UTC) in KST; None when empty or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        t = value
    else:
        try:
            t = _dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.astimezone(KST)


def kst_text(value: Any) -> str:
    """``2026-12-07 22:58 KST`` for a stored UTC time; text that is no time is returned as it is."""
    t = to_kst(value)
    if t is None:
        return "" if value is None else str(value)
    return f"{t:%Y-%m-%d %H:%M} KST"
