"""The store's JSON: canonical form, the hash of a set of applications, and the typed DataFrame
codec (split from :mod:`evaluator.store`, issue 26)."""

from __future__ import annotations

import builtins
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


# --------------------------------------------------------------------------------------------
# JSON helpers (canonical form, hashing, typed DataFrame codec)
# --------------------------------------------------------------------------------------------
def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return False


def _to_jsonable(value: Any) -> Any:
    """Plain JSON types from dicts/lists/numpy/pandas scalars; missing values become None.

    Dict keys become strings (JSON has no other key type). Sets become sorted lists so that the
    same set always gives the same JSON. Infinite floats become the strings "Infinity" and
    "-Infinity" (strict JSON has no such numbers).
    """
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [_to_jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple, np.ndarray, pd.Series, pd.Index)):
        return [_to_jsonable(v) for v in value]
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"value {value!r} of type {type(value).__name__} is not JSON-serialisable")


def canonical_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, no whitespace, UTF-8 text, strict (no NaN)."""
    return json.dumps(
        _to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False,
    )


def _application_records(applications: Any) -> builtins.list[dict[str, Any]]:
    """Records (list of dicts in JSON types) from a records list or a DataFrame."""
    if isinstance(applications, pd.DataFrame):
        frame = applications
        # A meaningful index (e.g. application id) is kept as a column; a default one is not.
        if not isinstance(frame.index, pd.RangeIndex) or any(n is not None for n in frame.index.names):
            frame = frame.reset_index()
        applications = frame.to_dict(orient="records")
    if isinstance(applications, Mapping) or not isinstance(applications, Sequence) \
            or isinstance(applications, (str, bytes)):
        raise TypeError("applications must be a list of records (dicts) or a pandas DataFrame")
    records = []
    for i, record in enumerate(applications):
        if not isinstance(record, Mapping):
            raise TypeError(f"applications[{i}] is a {type(record).__name__}, not a record (dict)")
        records.append(_to_jsonable(record))
    return records


def applications_hash(applications: Any) -> str:
    """sha256 (hex) of the canonical JSON of a set of applications.

    The hash identifies the *set*: it does not change with key order inside a record, column
    order of a DataFrame, or the order of the records, and a DataFrame gives the same hash as
    the equivalent list of dicts.
    """
    records = sorted(canonical_json(r) for r in _application_records(applications))
    return hashlib.sha256(("[" + ",".join(records) + "]").encode("utf-8")).hexdigest()


def _cell(value: Any) -> Any:
    # NaN and +-inf floats are kept as floats (Python's json writes NaN/Infinity tokens and
    # reads them back): the stored frames are read by this module only, and exact round trip
    # of e.g. an infinite payback matters more than strict JSON here.
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, datetime, date, pd.Timedelta)):
        return value.isoformat()
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return _to_jsonable(value)
    return value


def _encode_index(index: pd.Index) -> dict[str, Any]:
    if isinstance(index, pd.RangeIndex):
        return {"kind": "range", "start": index.start, "stop": index.stop, "step": index.step,
                "name": _cell(index.name)}
    if isinstance(index, pd.MultiIndex):
        return {"kind": "multi", "names": [_cell(n) for n in index.names],
                "dtypes": [str(level.dtype) for level in index.levels],
                "values": [[_cell(v) for v in tup] for tup in index]}
    return {"kind": "plain", "name": _cell(index.name), "dtype": str(index.dtype),
            "values": [_cell(v) for v in index]}


def _restore(values: builtins.list[Any], dtype: str) -> pd.Series:
    series = pd.Series(values, dtype=object)
    try:
        if dtype.startswith("datetime64"):
            return pd.to_datetime(series, utc="," in dtype).astype(dtype)
        if dtype.startswith("timedelta64"):
            return pd.to_timedelta(series).astype(dtype)
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series  # an exotic dtype comes back as object rather than failing the load


def _decode_index(spec: dict[str, Any]) -> pd.Index:
    if spec["kind"] == "range":
        return pd.RangeIndex(spec["start"], spec["stop"], spec["step"], name=spec["name"])
    if spec["kind"] == "multi":
        tuples = [tuple(v) for v in spec["values"]]
        levels = list(zip(*tuples)) if tuples else [[] for _ in spec["names"]]
        arrays = [_restore(list(level), dt) for level, dt in zip(levels, spec["dtypes"])]
        return pd.MultiIndex.from_arrays(arrays, names=spec["names"])
    return pd.Index(_restore(spec["values"], spec["dtype"]), name=spec["name"])


def frame_to_json(frame: pd.DataFrame | None) -> str | None:
    """A DataFrame as JSON in pandas' 'split' layout plus the dtypes needed to rebuild it.

    Floats are written with full precision (Python ``repr``), so float columns round-trip
    exactly; int, bool, string, category, datetime columns and the index (range, plain or
    multi) come back with their dtypes.
    """
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    payload = {
        "orient": "split",
        "columns": [_cell(c) for c in frame.columns],
        "columns_dtype": str(frame.columns.dtype),
        "dtypes": [str(t) for t in frame.dtypes],
        "index": _encode_index(frame.index),
        "data": [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def frame_from_json(text: str | None) -> pd.DataFrame | None:
    """Inverse of :func:`frame_to_json`."""
    if text is None:
        return None
    payload = json.loads(text)
    data = payload["data"]
    n_rows = len(data)
    columns = {
        j: _restore([row[j] for row in data], dtype).reset_index(drop=True)
        for j, dtype in enumerate(payload["dtypes"])
    }
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n_rows))
    frame.columns = pd.Index(
        _restore(payload["columns"], payload["columns_dtype"]).tolist(),
        dtype=None if payload["columns_dtype"] in ("object", "str") else payload["columns_dtype"],
    )
    frame.index = _decode_index(payload["index"])
    return frame
