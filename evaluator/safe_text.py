"""Text that stays text in a spreadsheet: neutralising user text for CSV downloads.

A spreadsheet opening a CSV file reads a field that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return as a formula (or a DDE payload): an application named
``=HYPERLINK("http://x","y")`` would become a live link in the officer's Excel. OWASP's advice
for CSV is to prefix such a field with an apostrophe, which spreadsheets show as text
(:func:`neutralise_cell`); :func:`safe_csv` applies it to every text cell, column name and index
label of a table before writing it. Numbers are never touched: ``-3.25`` in a numeric column
stays the number -3.25.

For ``.xlsx`` files the apostrophe is not needed: a cell is written as a string with the
``quotePrefix`` style flag (:func:`evaluator.xlsx_style.put_text`), so its value is unchanged
and Excel keeps it as text when it is edited.

References
----------
.. [1] OWASP, "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection
   (accessed 2026-11).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["FORMULA_TRIGGERS", "is_formula_like", "neutralise_cell", "neutralise_frame", "safe_csv",
           "safe_csv_bytes"]

#: First characters that make a spreadsheet treat a field as a formula or a DDE payload [1]_.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: Any) -> bool:
    """True when ``text`` is a string a spreadsheet would read as a formula."""
    return isinstance(text, str) and text.startswith(FORMULA_TRIGGERS)


def neutralise_cell(text: Any) -> Any:
    """``text`` with an apostrophe in front when it starts with a formula trigger.

    Parameters
    ----------
    text : Any
        A cell value. Only ``str`` values are changed; numbers, booleans and missing values
        come back as given (a negative number is data, not a formula).

    Returns
    -------
    Any
        ``"'" + text`` for a formula-like string, else ``text`` unchanged.
    """
    return "'" + text if is_formula_like(text) else text


def _neutralise_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(neutralise_cell(v) for v in t) for t in index],
                                         names=[neutralise_cell(n) for n in index.names])
    if not any(is_formula_like(v) for v in index) and not is_formula_like(index.name):
        return index
    return pd.Index([neutralise_cell(v) for v in index], name=neutralise_cell(index.name),
                    dtype=object)


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every formula-like text cell, column name and index label
    neutralised (:func:`neutralise_cell`); numeric columns are left as they are."""
    out = frame.copy()
    for j in range(out.shape[1]):
        column = out.iloc[:, j]
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            continue
        if column.map(is_formula_like, na_action="ignore").fillna(False).astype(bool).any():
            out[out.columns[j]] = column.astype(object).map(neutralise_cell)
    out.columns = _neutralise_index(out.columns)
    out.index = _neutralise_index(out.index)
    return out


def safe_csv(frame: pd.DataFrame, *, index: bool = True, lineterminator: str = "\r\n") -> str:
    """``frame.to_csv`` with user text neutralised (see the module notes).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to write.
    index : bool, default True
        Write the index as the first column(s), as ``DataFrame.to_csv`` does.
    lineterminator : str, default ``"\\r\\n"``
        End of each line. The default is RFC 4180's CRLF, and it matters: Python 3.11's csv
        writer quotes a field holding a bare carriage return only when CR is part of the line
        terminator, and an unquoted CR splits the row in every reader.

    Returns
    -------
    str
        The CSV text.
    """
    return neutralise_frame(frame).to_csv(index=index, lineterminator=lineterminator)


def safe_csv_bytes(frame: pd.DataFrame, *, index: bool = True) -> bytes:
    """:func:`safe_csv` encoded as UTF-8 with a byte-order mark, so that Excel reads Korean text
    correctly (the form of the app's CSV downloads)."""
    return safe_csv(frame, index=index).encode("utf-8-sig")
