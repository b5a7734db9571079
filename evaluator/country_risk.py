"""Country risk: the premium added to the discount rate (score and loan loss: see below).

References
----------
.. [1] Damodaran, A. (2024). Country Default Spreads and Risk Premiums, January 2024 update
   (``ctryprem.xlsx``): country risk premium = default spread x (sigma_equity / sigma_bond).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def risk_premium(ref, iso3: Sequence[str]) -> np.ndarray:
    """Country risk premium added to the discount rate [fraction], one per country code.

    A country without a Damodaran figure takes the mean premium of the countries in the same
    OECD risk category, else the median of all countries (a labelled fallback, not a zero).
    """
    c = ref.countries
    crp = c["crp"].astype(float)
    by_crc = crp.groupby(c["oecd_crc"]).mean()
    out = np.empty(len(iso3))
    for i, code in enumerate(iso3):
        v = crp.get(code, np.nan)
        if not np.isfinite(v):
            crc = c["oecd_crc"].get(code, np.nan)
            v = by_crc.get(crc, np.nan) if crc == crc else np.nan
            if not np.isfinite(v):
                v = float(crp.median())
        out[i] = v
    return out
