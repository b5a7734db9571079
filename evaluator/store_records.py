"""What the store returns to its callers (saved scenarios, decisions, comparisons) and the
side-by-side comparison of scenarios (split from :mod:`evaluator.store`, issue 26)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluator.store_codec import canonical_json


# --------------------------------------------------------------------------------------------
# Records returned to callers
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SavedScenario:
    """One saved what-if, as stored.

    ``created_at`` is UTC ISO 8601. ``assumptions`` and ``summary`` are in canonical JSON form
    (dict keys are strings; NaN became None). ``applications`` is the list of records in the
    order saved; ``applications_hash`` identifies the set (see :func:`applications_hash`).
    """

    id: int
    name: str
    author: str
    created_at: str
    assumptions: dict[str, Any]
    applications: builtins.list[dict[str, Any]]
    applications_hash: str
    ranking: pd.DataFrame | None
    allocation: pd.DataFrame | None
    summary: dict[str, Any]
    decided: bool
    #: Everything else that was decided (locks, edits and originals, schedules, customs basis,
    #: figure and result hashes); None for a scenario saved before schema 5.
    record: dict[str, Any] | None = None

    def applications_frame(self) -> pd.DataFrame:
        """The applications as a DataFrame (one row per record)."""
        return pd.DataFrame.from_records(self.applications)


@dataclass(frozen=True)
class Decision:
    """One row of the committee's decision record (immutable once written)."""

    id: int
    scenario_id: int
    note: str
    decided_by: str
    decided_at: str
    supersedes: int | None
    #: SHA-256 (hex) of the decision before it (64 zeros for the first) and of this link.
    prev_hash: str | None = None
    this_hash: str | None = None
    #: Why it supersedes the decision before it (None for the first).
    reason: str | None = None


@dataclass(frozen=True)
class Comparison:
    """Scenarios side by side; every table has a boolean ``differs`` column for highlighting.

    Per-scenario columns are ``scenario_<id>`` in ``assumptions``, ``totals`` and ``summary``
    (rows: flattened dotted keys, e.g. ``weights.financial`` or ``china_share_after.lithium``),
    and ``fund_krw_bn_<id>``, ``loan_krw_bn_<id>``, ``selected_<id>`` in ``funding`` (rows:
    application ids; an application absent from a scenario counts as 0 KRW bn, not selected).
    A key missing from a scenario shows as None and counts as a difference.
    """

    scenario_ids: tuple[int, ...]
    scenarios: pd.DataFrame
    assumptions: pd.DataFrame
    funding: pd.DataFrame
    totals: pd.DataFrame
    summary: pd.DataFrame

    @property
    def assumption_differences(self) -> pd.DataFrame:
        """Only the assumption keys whose values differ."""
        return self.assumptions[self.assumptions["differs"]]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value} if prefix else {}


_MISSING = object()


def _same(values: builtins.list[Any]) -> bool:
    """True when all values are equal (numbers within 1e-9 relative, 1e-12 absolute)."""
    first = values[0]
    for other in values[1:]:
        if (first is _MISSING) != (other is _MISSING):
            return False
        if first is _MISSING:
            continue
        numbers = all(isinstance(v, (int, float, np.integer, np.floating))
                      and not isinstance(v, (bool, np.bool_)) for v in (first, other))
        if numbers:
            a, b = float(first), float(other)
            if not ((math.isnan(a) and math.isnan(b))
                    or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)):
                return False
        elif canonical_json(first) != canonical_json(other):
            return False
    return True


def _side_by_side(dicts: dict[int, Mapping[str, Any]], index_name: str) -> pd.DataFrame:
    flat = {sid: _flatten(d) for sid, d in dicts.items()}
    keys: builtins.list[str] = []
    for f in flat.values():
        keys.extend(k for k in f if k not in keys)
    rows = []
    for key in keys:
        values = [flat[sid].get(key, _MISSING) for sid in dicts]
        row = {f"scenario_{sid}": (None if v is _MISSING else v) for sid, v in zip(dicts, values)}
        row["differs"] = not _same(values)
        rows.append(row)
    columns = [f"scenario_{sid}" for sid in dicts] + ["differs"]
    frame = pd.DataFrame(rows, columns=columns, index=pd.Index(keys, name=index_name, dtype=object))
    frame["differs"] = frame["differs"].astype(bool)
    return frame
