"""The applications table as the officer loads and edits it: upload, data editor, download."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from app_pages import state
from app_pages.fmt import shown_cell
from app_pages.i18n import lang
from evaluator.messages import field_label
from evaluator.record import edit_key
from evaluator.template import description
from models.application import FIELDS, ValidationError
from models.loader import SOURCE_ROWS, load_applications, source_rows


def try_load_upload(data: bytes, filename: str, ref) -> str | None:
    """Load an uploaded application file into the session; the error text, or None on success.

    Nothing already loaded is lost on failure.
    """
    from app_pages import access

    detail = {"kind": "applications", "file": filename, "sha256": hashlib.sha256(data).hexdigest()}
    try:
        access.require("edit")
    except access.NotAllowed as exc:  # a viewer: the uploader is not drawn, and this refuses too
        return str(exc)
    try:
        res = load_applications(data, filename=filename, ref=ref)
    except ValidationError as exc:
        access.audit("upload", **detail, loaded=False)
        return exc.text(lang()) or str(exc)
    state.set_table(res.raw, res.schedule, filename)
    access.audit("upload", **detail, loaded=True)
    return None


def apply_editor_delta(key: str) -> None:
    """on_change of the data editor: fold its edits into the session table (not for a viewer, whose
    table is drawn read-only: an edit sent anyway changes nothing)."""
    from app_pages import access

    ss = st.session_state
    if access.read_only():
        return
    delta = ss.get(key) or {}
    raw = ss["raw_df"].copy()
    log = dict(ss.get("edit_log") or {})
    who = access.current()
    stamp = {"by": who.label if who is not None else "", "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for row, changes in (delta.get("edited_rows") or {}).items():
        for col, val in changes.items():
            if col in raw.columns:
                if raw[col].dtype != object:
                    raw[col] = raw[col].astype(object)
                raw.iat[int(row), raw.columns.get_loc(col)] = val
        if "id" in raw.columns:  # who changed the cell when: kept beside the applicant's value
            log.update({edit_key(raw.iat[int(row), raw.columns.get_loc("id")], col): stamp for col in changes})
    ss["edit_log"] = log
    # the rows keep the numbers the spreadsheet gave them (problems quote them); added rows follow on
    rows = source_rows(raw)
    deleted = sorted(int(i) for i in (delta.get("deleted_rows") or []))
    if deleted:
        raw = raw.drop(index=raw.index[deleted])
        rows = [r for k, r in enumerate(rows) if k not in deleted]
    added = [r for r in (delta.get("added_rows") or []) if r]
    if added:
        raw = pd.concat([raw, pd.DataFrame(added, dtype=object)], ignore_index=True)
        rows += list(range(max(rows, default=0) + 1, max(rows, default=0) + 1 + len(added)))
    raw.attrs[SOURCE_ROWS] = rows
    state.set_table(raw, ss.get("schedule_df"), ss.get("source_name", "edited"), edited=True)


def editor_frame(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The table typed for the data editor and its column config from FIELDS.

    A numeric column whose entries do not all parse stays text, so nothing typed is lost.
    """
    df = raw.copy()
    config: dict[str, Any] = {}
    for f in FIELDS:
        if f.name not in df.columns:
            continue
        label = field_label(f.name, f.unit, lang())
        if f.kind in ("float", "int"):
            col = df[f.name].replace("", None)
            num = pd.to_numeric(col, errors="coerce")
            if (num.isna() == col.isna()).all():
                df[f.name] = num.astype(float)
                config[f.name] = st.column_config.NumberColumn(
                    label, help=description(f, lang()), min_value=f.lo, max_value=f.hi,
                    step=1 if f.kind == "int" else None, required=f.required)
            else:
                config[f.name] = st.column_config.TextColumn(label, help=description(f, lang()))
        elif f.kind == "choice":
            df[f.name] = df[f.name].astype(object).where(df[f.name].notna(), None)
            config[f.name] = st.column_config.SelectboxColumn(
                label, help=description(f, lang()), options=list(f.choices), required=f.required)
        else:  # formula-like text shown with its apostrophe (the editor's own "Download as CSV" writes
            # cells as they are); the loader reads '=x back as the text =x, so an edit keeps the value
            df[f.name] = df[f.name].astype(object).where(df[f.name].notna(), None).map(
                lambda v: None if v is None else shown_cell(str(v)))
            config[f.name] = st.column_config.TextColumn(label, help=description(f, lang()), required=f.required)
    return df, config


def table_to_workbook(raw: pd.DataFrame, schedule: pd.DataFrame | None) -> bytes:
    """The session's table as an .xlsx in the template's format, text kept as text
    (:func:`evaluator.template.applications_workbook`)."""
    from evaluator.template import applications_workbook

    return applications_workbook(raw, schedule, language=lang())


def show_edits(rows: list[dict]) -> None:
    """The officer's edits of applicants' figures (:func:`evaluator.record.edit_rows`) as a table:
    application, field, the applicant's value, the officer's, who and when (KST). Text stays text."""
    from app_pages.fmt import shown
    from app_pages.i18n import t

    frame = pd.DataFrame(rows, columns=["id", "field", "original", "entered", "by", "at_kst"]).astype(str)
    frame = frame.replace({"None": ""}).rename(columns={
        "id": t("col_application"), "field": t("col_field"), "original": t("edit_original"),
        "entered": t("edit_entered"), "by": t("edit_by"), "at_kst": t("edit_at_kst")})
    st.dataframe(shown(frame), hide_index=True, width="stretch")


def session_edit_rows() -> list[dict]:
    """This session's edits of the applicants' figures, as :func:`evaluator.record.edit_rows`."""
    from evaluator.record import edit_rows, table_edits

    ss = st.session_state
    return edit_rows(table_edits(ss.get("original_df"), ss["raw_df"], ss.get("edit_log")))
