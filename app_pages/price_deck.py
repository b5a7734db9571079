"""The officer's price deck by year (a study's or the fund's), uploaded as a table."""

from __future__ import annotations

import hashlib
import io

import pandas as pd
import streamlit as st

from app_pages.i18n import t
from evaluator.cashflow import PriceDeckError, price_deck_from_frame


def read_price_deck() -> None:
    """Read the uploaded deck once per file into ``price_path`` (``{mineral: {year: price}}``);
    an unusable file leaves the previous deck in use and says why in ``price_deck_error``."""
    ss = st.session_state
    up = ss.get("price_deck_upload")
    if up is None:
        ss.pop("price_path", None)
        ss.pop("price_deck_error", None)
        ss.pop("price_deck_digest", None)
        return
    data = up.getvalue()
    digest = hashlib.sha1(data).hexdigest()
    if ss.get("price_deck_digest") == digest:
        return
    ss["price_deck_digest"] = digest
    from app_pages import access

    access.audit("upload", kind="price_deck", file=up.name, sha256=hashlib.sha256(data).hexdigest())
    try:
        frame = pd.read_excel(io.BytesIO(data)) if up.name.lower().endswith(".xlsx") else pd.read_csv(io.BytesIO(data))
        ss["price_path"] = price_deck_from_frame(frame)
        ss.pop("price_deck_error", None)
    except (PriceDeckError, ValueError, UnicodeDecodeError) as exc:
        ss["price_deck_error"] = t("price_deck_error", name=up.name, error=exc)
