"""How numbers read on screen: money in the officer's unit (KRW bn or 억원) and percentages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

#: 1 KRW bn = 10 억원.
EOK_PER_KRW_BN = 10.0


def money_factor() -> float:
    return EOK_PER_KRW_BN if st.session_state.get("unit") == "억원" else 1.0


def money_unit() -> str:
    return "억원" if st.session_state.get("unit") == "억원" else "KRW bn"


def fmt_money(krw_bn: float | None) -> str:
    if krw_bn is None or not np.isfinite(krw_bn):
        return "n/a"
    return f"{krw_bn * money_factor():,.1f} {money_unit()}"


def fmt_pct(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{100 * x:.1f}%"


def money_columns(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Copy with KRW bn columns converted to the display unit and headed with it."""
    out = df.copy()
    f = money_factor()
    unit = money_unit()
    ren = {}
    for c in cols:
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce") * f
            ren[c] = c.replace("_krw_bn", "") + f" [{unit}]"
    return out.rename(columns=ren)
