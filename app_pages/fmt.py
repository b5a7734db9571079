"""How numbers read on screen: money in the officer's unit, percentages, and tables with human
headers in the session's language.

Money is held in KRW bn everywhere in the computation; the screen shows it as the officer writes
it: 억원 (3,135억원; 1조 2,500억원 from 1조 up), 백만원, or KRW bn.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.i18n import lang, t
from evaluator import messages

#: Display units: KRW bn -> unit factor.
UNIT_FACTORS = {"억원": 10.0, "KRW bn": 1.0, "백만원": 1000.0}
UNITS = tuple(UNIT_FACTORS)
#: 1조 = 10,000억.
EOK_PER_JO = 10_000


def unit_choice() -> str:
    u = st.session_state.get("unit", "KRW bn")
    return u if u in UNIT_FACTORS else "KRW bn"


def money_factor() -> float:
    return UNIT_FACTORS[unit_choice()]


def money_unit() -> str:
    """The unit as a column header shows it."""
    u = unit_choice()
    return t("unit_krw_bn") if u == "KRW bn" else u


def _trim(x: float, decimals: int) -> str:
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_eok(eok: float) -> str:
    """억원 as Korean officers write them: 3,135억원; 1조 2,500억원; 2조원."""
    sign = "-" if eok < 0 else ""
    eok = abs(eok)
    if eok >= EOK_PER_JO:
        jo, rest = divmod(round(eok), EOK_PER_JO)
        return f"{sign}{jo:,}조원" if rest == 0 else f"{sign}{jo:,}조 {rest:,}억원"
    return f"{sign}{_trim(eok, 1)}억원"


def fmt_money(krw_bn: float | None) -> str:
    """An amount [KRW bn] in the officer's unit."""
    if krw_bn is None or not np.isfinite(krw_bn):
        return t("not_available")
    u = unit_choice()
    if u == "억원":
        return fmt_eok(krw_bn * UNIT_FACTORS[u])
    if u == "백만원":
        return f"{krw_bn * UNIT_FACTORS[u]:,.0f}백만원"
    return f"{krw_bn:,.1f} {money_unit()}"


def fmt_pct(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return t("not_available")
    return f"{100 * x:.1f}%"


def money_columns(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Copy with KRW bn columns converted to the display unit (names unchanged)."""
    out = df.copy()
    f = money_factor()
    for c in cols:
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce") * f
    return out


def table_view(df: pd.DataFrame, spec: list[tuple[str, str, str]]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The columns of ``spec`` with human headers, values scaled for reading, and their config.

    ``spec``: (column, label key, kind) with kind ``text``, ``int``, ``num1``, ``num2``, ``score``,
    ``check``, ``pct`` (a fraction shown in %), ``money`` (KRW bn shown in the officer's unit; the
    unit joins the header). Columns absent from ``df`` are skipped.
    """
    out, config = {}, {}
    f = money_factor()
    for col, key, kind in spec:
        if col not in df.columns:
            continue
        label = t(key, unit=money_unit()) if kind == "money" else t(key)
        v = df[col]
        if kind == "money":
            v = pd.to_numeric(v, errors="coerce") * f
            config[label] = st.column_config.NumberColumn(label, format="%.1f" if f < 1000 else "%.0f")
        elif kind == "pct":
            v = pd.to_numeric(v, errors="coerce") * 100
            config[label] = st.column_config.NumberColumn(label, format="%.1f")
        elif kind in ("num1", "num2", "int"):
            config[label] = st.column_config.NumberColumn(label, format={"num1": "%.1f", "num2": "%.2f", "int": "%d"}[kind])
        elif kind == "score":
            config[label] = st.column_config.ProgressColumn(label, min_value=0, max_value=100, format="%.1f")
        elif kind == "check":
            config[label] = st.column_config.CheckboxColumn(label)
        else:
            v = v.astype(object).where(v.notna(), "")
            config[label] = st.column_config.TextColumn(label)
        out[label] = v
    frame = pd.DataFrame(out, index=df.index)
    if frame.index.name == "id":
        frame.index.name = t("col_application")
    return shown(frame), config


#: Text a spreadsheet reads as a number or a dash, not a formula, although it starts with + or -.
_PLAIN_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?%?|[-+]")


def shown_cell(v: Any) -> Any:
    """One cell as shown: formula-like text with an apostrophe in front; numbers, numbers written as
    text (``-3.25``) and a lone dash as they are."""
    from evaluator.safe_text import neutralise_cell

    if isinstance(v, str) and not _PLAIN_NUMBER_TEXT.fullmatch(v.strip()):
        return neutralise_cell(v)
    return v


def _shown_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for j in range(out.shape[1]):
        column = out.iloc[:, j]
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            continue
        mapped = column.astype(object).map(shown_cell)
        if not mapped.equals(column.astype(object)):
            out.iloc[:, j] = mapped if column.dtype == object else mapped.astype(column.dtype)
    for axis in ("index", "columns"):
        labels = getattr(out, axis)
        if not isinstance(labels, pd.MultiIndex) and any(shown_cell(v) is not v for v in labels):
            setattr(out, axis, pd.Index([shown_cell(v) for v in labels], name=labels.name, dtype=object))
    return out


def shown(table):
    """A table as the app shows it: text that a spreadsheet would run as a formula (``=HYPERLINK(...)``,
    ``@SUM(...)``) carries an apostrophe in front, because Streamlit's own table toolbar ("Download as
    CSV") writes cells as they are (OWASP's advice, :mod:`evaluator.safe_text`); numbers are never
    touched. A pandas Styler keeps its styles, its data neutralised."""
    if isinstance(table, pd.DataFrame):
        return _shown_frame(table)
    data = getattr(table, "data", None)
    if isinstance(data, pd.DataFrame):  # a Styler: styles are computed from its data when drawn
        table.data = _shown_frame(data)
    return table


def mineral_name(key: str) -> str:
    """A mineral key (``rare_earths``) as the officer reads it (:func:`evaluator.messages.mineral_name`)."""
    return messages.mineral_name(key, lang())


def language() -> str:
    return lang()


def _money_from_display(key_krw_bn: str, factor: float) -> None:
    st.session_state[key_krw_bn] = float(st.session_state[f"{key_krw_bn}__shown"]) / factor


def money_slider(container, label: str, key_krw_bn: str, max_krw_bn: float, step_krw_bn: float, help: str = "",
                 disabled: bool = False):
    """A budget slider that reads in the officer's unit while the scenario keeps KRW bn.

    The slider's own value (key ``<key>__shown``) is set from the KRW bn value on every run, so a
    change of unit redraws it; moving it writes the KRW bn value back before the script runs.
    """
    f = money_factor()
    shown = float(st.session_state[key_krw_bn]) * f
    # Assign only when it differs (a unit change, a restored draft, Start over): assigning a widget's
    # value sends it to the browser, which would snap a thumb the officer is still moving back to
    # the value of the run in progress and drop the key presses made meanwhile.
    current = st.session_state.get(f"{key_krw_bn}__shown")
    if current is None or not np.isclose(float(current), shown, rtol=1e-9, atol=0.0):
        st.session_state[f"{key_krw_bn}__shown"] = shown
    return container.slider(f"{label} [{money_unit()}]", 0.0, max_krw_bn * f, step=step_krw_bn * f,
                            format="%.1f" if f < 100 else "%.0f", key=f"{key_krw_bn}__shown", help=help,
                            on_change=_money_from_display, args=(key_krw_bn, f), disabled=disabled)


def tornado_words(value: Any) -> str:
    """A tornado input or setting as the data file words it (``price (primary)``, ``deck low case``,
    ``+1 year``; ``evaluator/data/sensitivity_ranges.csv``) in the session's language: the labels'
    ``tornado_w_<slug>``; a setting that is only a number (``-25%``) as it is."""
    from app_pages.i18n import labels

    text = "" if value is None else str(value)
    signed = re.sub(r"^\+", "plus ", re.sub(r"^-", "minus ", text.strip().lower()))
    slug = re.sub(r"[^a-z0-9]+", "_", signed).strip("_")
    return labels(lang()).get(f"tornado_w_{slug}", text)


def country_name(iso3) -> str:
    """A country in the session's language (the labels' ``country_<ISO3>``), else its ISO3 code."""
    from app_pages.i18n import labels

    code = "" if iso3 is None else str(iso3)
    return labels(lang()).get(f"country_{code}", code)


def share_basis_label(basis: str) -> str:
    """The basis of a China or top-supplier share (:func:`evaluator.supply.share_basis`) in words."""
    return t("share_basis_elements") if basis == "NdPr+Dy+Tb" else t("share_basis_all")


def country_subject(iso3) -> str:
    """:func:`country_name` as the subject of a sentence: in Korean with its particle (베트남이,
    호주가: 이 after a final consonant, 가 after a vowel), in English as it is."""
    name = country_name(iso3)
    if lang() != "ko" or not name:
        return name
    last = ord(name[-1]) - 0xAC00
    if 0 <= last < 11172:                      # a Hangul syllable: batchim when (code % 28) != 0
        return name + ("이" if last % 28 else "가")
    return name + "이(가)"


#: ASCII punctuation: CommonMark lets a backslash escape each of them, and escaped they lose any
#: meaning (links, images, emphasis, HTML, Streamlit's :color[...] and :material/...: shortcodes).
_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def md_text(value: Any) -> str:
    """Text a person typed (a note, a name, a file or scenario title), made safe to put inside a
    label that Streamlit renders as Markdown: every punctuation character escaped, line breaks
    as spaces. Longer text is better shown with ``st.text`` (never parsed at all)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value if value is not None else "").split()))
