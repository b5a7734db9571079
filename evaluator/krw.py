"""Amounts of won as officers write them: 억원 (and 조원 from 1조) in Korean, KRW bn in English.

Money is held in KRW bn (``_krw_bn``) everywhere in the computation. A Korean officer writes an
award of 2.7712 KRW bn as 27.7억원, 1,250 KRW bn as 1조 2,500억원, and never in 십억원; this module
is the one place that turns a KRW bn figure into those words for the workbook (the app's screen
formatter, ``app_pages/fmt.py``, writes the same forms).

1억원 = 0.1 KRW bn; 1조원 = 10,000억원 = 1,000 KRW bn.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["EOK_PER_KRW_BN", "EOK_PER_JO", "eok_text", "krw_text"]

#: 억원 per KRW bn (1 KRW bn = 10억원).
EOK_PER_KRW_BN = 10.0
#: 억원 per 조원.
EOK_PER_JO = 10_000


def _trim(x: float, decimals: int) -> str:
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def eok_text(krw_bn: float, decimals: int = 1) -> str:
    """An amount [KRW bn] in 억원 as written: ``27.7억원``, ``3,135억원``, ``1조 2,500억원``, ``2조원``.

    Parameters
    ----------
    krw_bn : float
        The amount [KRW bn].
    decimals : int, default 1
        Decimals of 억 below 1조 (trailing zeros dropped); amounts of 1조 and more are whole 억.
    """
    eok = krw_bn * EOK_PER_KRW_BN
    sign = "-" if eok < 0 else ""
    eok = abs(eok)
    if round(eok) >= EOK_PER_JO:
        jo, rest = divmod(round(eok), EOK_PER_JO)
        return f"{sign}{jo:,}조원" if rest == 0 else f"{sign}{jo:,}조 {rest:,}억원"
    text = _trim(eok, decimals)
    return f"{sign if text != '0' else ''}{text}억원"


def krw_text(krw_bn: Any, language: str = "ko", missing: str = "-") -> str:
    """An amount [KRW bn] in the officer's unit: 억원 / 조원 in Korean, ``KRW 2.77 bn`` in English
    (two decimals below 10 bn, so that one 억 step still shows; one decimal above).

    ``missing`` is returned for None or a value that is not a finite number.
    """
    try:
        x = float(krw_bn)
    except (TypeError, ValueError):
        return missing
    if not math.isfinite(x):
        return missing
    if language == "ko":
        return eok_text(x)
    return f"KRW {_trim(x, 2 if abs(x) < 10 else 1)} bn"
