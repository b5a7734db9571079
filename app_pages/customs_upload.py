"""The officer's customs extract (UN Comtrade format), read once per upload."""

from __future__ import annotations

import hashlib

import streamlit as st

from evaluator.customs import CustomsError, read_comtrade


@st.cache_data(show_spinner=False, max_entries=4)
def _customs(key: str, _data: bytes, filename: str, _ref):
    return read_comtrade(_data, filename=filename, ref=_ref)


def customs_import(ref):
    """(CustomsImport or None, its hash key). An unreadable extract is reported in
    ``st.session_state["customs_error"]``, not raised."""
    ss = st.session_state
    up = ss.get("customs_upload")
    if up is None:
        return None, ""
    data = up.getvalue()
    key = hashlib.sha1(data).hexdigest()
    try:
        c = _customs(key, data, up.name, ref)
    except (CustomsError, ValueError, OSError) as exc:
        ss["customs_error"] = f"{up.name}: {exc}"
        return None, ""
    ss.pop("customs_error", None)
    if ss.get("customs_audited") != key:  # once per file, not on every rerun
        from app_pages import access

        ss["customs_audited"] = key
        access.audit("upload", kind="customs", file=up.name, sha256=hashlib.sha256(data).hexdigest())
    return c, key
