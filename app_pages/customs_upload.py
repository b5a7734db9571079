"""The officer's customs extract (UN Comtrade format), read once per upload."""

from __future__ import annotations

import hashlib

import streamlit as st

from evaluator.customs import CustomsError, read_comtrade


@st.cache_data(show_spinner=False, max_entries=4)
def _customs(key: str, _data: bytes, filename: str, _ref):
    return read_comtrade(_data, filename=filename, ref=_ref)


def customs_file() -> tuple[str, bytes] | None:
    """(file name, bytes) of the extract in use, None for the bundled imports: the one a loaded
    scenario was computed with (``customs_restored``, set by the Scenarios page), until the
    officer uploads another file; else the uploaded one."""
    ss = st.session_state
    up = ss.get("customs_upload")
    restored = ss.get("customs_restored")
    if restored is not None:
        digest = None if up is None else hashlib.sha1(up.getvalue()).hexdigest()
        if digest == restored["upload_at_load"]:
            return restored["file"]
        ss.pop("customs_restored")  # a file uploaded since the load replaces the scenario's
    return None if up is None else (up.name, up.getvalue())


def restore(file: tuple[str, bytes] | None) -> None:
    """Use ``file`` (None: the bundled imports) as a loaded scenario's customs basis."""
    ss = st.session_state
    up = ss.get("customs_upload")
    ss["customs_restored"] = {"file": file,
                              "upload_at_load": None if up is None else hashlib.sha1(up.getvalue()).hexdigest()}


def customs_import(ref):
    """(CustomsImport or None, its hash key). An unreadable extract is reported in
    ``st.session_state["customs_error"]``, not raised."""
    ss = st.session_state
    source = customs_file()
    if source is None:
        return None, ""
    name, data = source
    key = hashlib.sha1(data).hexdigest()
    try:
        c = _customs(key, data, name, ref)
    except (CustomsError, ValueError, OSError) as exc:
        ss["customs_error"] = f"{name}: {exc}"
        return None, ""
    ss.pop("customs_error", None)
    if ss.get("customs_audited") != key:  # once per file, not on every rerun
        from app_pages import access

        ss["customs_audited"] = key
        access.audit("upload", kind="customs", file=name, sha256=hashlib.sha256(data).hexdigest())
    return c, key
