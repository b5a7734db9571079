"""The fiscal tables: their columns, reading and checks (``fiscal_regimes.csv``, ``depletion.csv``,
``subnational_income_tax.csv``, ``fiscal_incentives.csv``), read by :mod:`evaluator.reference` and
used by :mod:`evaluator.fiscal` (split from it, issue 26, so that reference does not import fiscal)."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path

import numpy as np
import pandas as pd

from evaluator.errors import DataError


#: gross: rate x gross revenue; nsr: rate x revenue net of off-site costs; net_value: rate x
#: (net revenue - opex - capital spent), negative values carried forward (NT 1982 style);
#: net_proceeds: rate (bands by net/gross ratio) x (net revenue - opex - depreciation), no
#: carry-forward (Nevada); sliding_price: rate from bands by the year's price x gross revenue.
class RoyaltyBasis(IntEnum):
    """A royalty basis: the integer is the code the vectorised kernels carry per project,
    :attr:`key` the value the data files write (``fiscal_regimes.csv``, column ``royalty_basis``)."""

    GROSS = 0
    NSR = 1
    NET_VALUE = 2
    NET_PROCEEDS = 3
    SLIDING_PRICE = 4

    @property
    def key(self) -> str:
        """The basis as the data files write it (``gross``, ``nsr``, ...)."""
        return self.name.lower()

    @classmethod
    def of(cls, key: str) -> RoyaltyBasis:
        """The basis a data file's value names (one of :data:`ROYALTY_BASES`)."""
        return cls[key.upper()]


ROYALTY_BASES = tuple(b.key for b in RoyaltyBasis)
#: sl: straight line over ``depreciation_years`` per vintage; db: declining balance at
#: ``depreciation_rate`` on the pool; uop: units of production (ore of the year / ore left).
DEPRECIATION_METHODS = ("sl", "db", "uop")

_REGIME_COLUMNS = ("region", "iso3", "mineral", "country_default", "royalty_basis", "royalty_rate",
                   "royalty_bands", "royalty_top_rate_above_usd_m", "royalty_min_rate", "income_tax_rate",
                   "loss_carry_years", "loss_offset_cap", "depreciation_method", "depreciation_rate",
                   "depreciation_years", "withholding_korea_rate", "production_tax_credit_share",
                   "law", "source", "date", "assumption", "note")
_DEPLETION_COLUMNS = ("iso3", "mineral", "depletion_rate", "depletion_cap", "law", "source", "date", "assumption")
_STATE_TAX_COLUMNS = ("region", "iso3", "state_income_tax_rate", "deductible_from_national", "law", "source", "date",
                      "assumption", "note")
_INCENTIVE_COLUMNS = ("incentive", "iso3", "income_tax_exempt_years", "reduced_rate_years", "reduced_rate_share",
                      "start", "law", "source", "date", "assumption", "note")
#: when an incentive's period starts: the valuation date (model year 1), the first production
#: year, or the first year with taxable income (after losses carried forward)
INCENTIVE_STARTS = ("valuation_date", "first_production", "first_taxable_income")


class FiscalDataError(DataError):
    """A fiscal table is malformed; the message names the file, the row and the rule."""


def parse_bands(text: str) -> tuple[tuple[float, float], ...]:
    """``'0:0.14;18000:0.15'`` -> ((0, 0.14), (18000, 0.15)): (threshold, rate), ascending.

    The rate of the highest threshold not above the variable applies.
    """
    if not isinstance(text, str) or not text.strip():
        return ()
    out = []
    for item in text.split(";"):
        lo, _, rate = item.partition(":")
        out.append((float(lo), float(rate)))
    if any(b[0] <= a[0] for a, b in zip(out, out[1:])):
        raise ValueError(f"band thresholds must increase: {text!r}")
    return tuple(out)


def _rates(text: str) -> tuple[float, ...]:
    if not isinstance(text, str) or not text.strip():
        return ()
    return tuple(float(x) for x in text.split(";"))


def _read(path: Path, columns) -> pd.DataFrame:
    if not path.is_file():
        raise FiscalDataError(f"{path}: fiscal table missing")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise FiscalDataError(f"{path.name}: column(s) {missing} missing")
    return df


def _fraction(df: pd.DataFrame, col: str, file: str, optional=False, hi=1.0) -> pd.Series:
    s = df[col].str.strip()
    blank = s == ""
    num = pd.to_numeric(s.where(~blank, None), errors="coerce")
    bad = (num.isna() & ~blank) | (blank & (not optional)) | (num < 0) | (num > hi)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise FiscalDataError(f"{file}, line {row}, column '{col}': must be a number in [0, {hi:g}]")
    return num


def load_fiscal_regimes(data_dir: Path) -> pd.DataFrame:
    """Read and check ``fiscal_regimes.csv``.

    Returns
    -------
    pandas.DataFrame
        One row per (region, mineral); numbers as floats (NaN where blank), ``country_default``
        and ``assumption`` as bool.

    Raises
    ------
    FiscalDataError
        Missing column, unknown royalty basis or depreciation method, a rate outside [0, 1],
        malformed bands, a row without law, source or date, a duplicate (region, mineral), or a
        country with more than one default region.
    """
    file = "fiscal_regimes.csv"
    df = _read(Path(data_dir) / file, _REGIME_COLUMNS)
    out = df.copy()
    for col in ("region", "iso3", "mineral"):
        out[col] = df[col].str.strip().str.upper() if col != "mineral" else df[col].str.strip()
    for col in ("royalty_rate", "income_tax_rate", "loss_offset_cap", "withholding_korea_rate",
                "production_tax_credit_share"):
        out[col] = _fraction(df, col, file)
    out["depreciation_rate"] = _fraction(df, "depreciation_rate", file, optional=True, hi=0.6)
    for col in ("royalty_top_rate_above_usd_m", "loss_carry_years", "depreciation_years"):
        out[col] = _fraction(df, col, file, optional=True, hi=np.inf)
    for col in ("country_default", "assumption"):
        t = df[col].str.strip().str.lower()
        if not t.isin(["true", "false"]).all():
            raise FiscalDataError(f"{file}, column '{col}': expected true/false")
        out[col] = t == "true"
    for i, r in out.iterrows():
        where = f"{file}, line {i + 2}"
        if r.royalty_basis not in ROYALTY_BASES:
            raise FiscalDataError(f"{where}, column 'royalty_basis': must be one of {', '.join(ROYALTY_BASES)}")
        if r.depreciation_method not in DEPRECIATION_METHODS:
            raise FiscalDataError(f"{where}, column 'depreciation_method': must be one of {', '.join(DEPRECIATION_METHODS)}")
        if r.depreciation_method == "db" and not r.depreciation_rate > 0:
            raise FiscalDataError(f"{where}, column 'depreciation_rate': declining balance needs a rate in (0, 0.6]")
        try:
            bands = parse_bands(r.royalty_bands)
            mins = _rates(r.royalty_min_rate)
        except ValueError as exc:
            raise FiscalDataError(f"{where}, column 'royalty_bands' / 'royalty_min_rate': {exc}") from None
        if r.royalty_basis in (RoyaltyBasis.SLIDING_PRICE.key, RoyaltyBasis.NET_PROCEEDS.key) and not bands:
            raise FiscalDataError(f"{where}, column 'royalty_bands': basis {r.royalty_basis} needs bands")
        if any(not 0 <= x <= 1 for _, x in bands) or any(not 0 <= x <= 1 for x in mins):
            raise FiscalDataError(f"{where}: band and minimum rates must lie in [0, 1]")
        if not all(str(r[c]).strip() for c in ("law", "source", "date")):
            raise FiscalDataError(f"{where}: every regime needs its law, source and date")
    dup = out.duplicated(["region", "mineral"])
    if dup.any():
        raise FiscalDataError(f"{file}, line {int(np.flatnonzero(dup.to_numpy())[0]) + 2}: duplicate (region, mineral)")
    defaults = out[out.country_default & (out.mineral == "*")].groupby("iso3").region.nunique()
    if (defaults > 1).any():
        raise FiscalDataError(f"{file}: more than one default region for {list(defaults.index[defaults > 1])}")
    return out


def load_depletion(data_dir: Path) -> pd.DataFrame:
    """Read and check ``depletion.csv`` (percentage depletion by country and mineral)."""
    file = "depletion.csv"
    df = _read(Path(data_dir) / file, _DEPLETION_COLUMNS)
    out = df.copy()
    out["iso3"] = df["iso3"].str.strip().str.upper()
    out["mineral"] = df["mineral"].str.strip()
    out["depletion_rate"] = _fraction(df, "depletion_rate", file)
    out["depletion_cap"] = _fraction(df, "depletion_cap", file)
    if out.duplicated(["iso3", "mineral"]).any():
        raise FiscalDataError(f"{file}: duplicate (iso3, mineral)")
    return out


def _checked_law(out: pd.DataFrame, file: str) -> None:
    for i, r in out.iterrows():
        if not all(str(r[c]).strip() for c in ("law", "source", "date")):
            raise FiscalDataError(f"{file}, line {i + 2}: every row needs its law, source and date")


def load_state_taxes(data_dir: Path) -> pd.DataFrame:
    """Read and check ``subnational_income_tax.csv``: a state or provincial income tax levied
    beside the national one, per fiscal region (issue 28).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``region``; ``state_income_tax_rate`` [fraction], ``deductible_from_national``
        (bool: the state tax is deducted in computing the national taxable income, as a US state
        tax is federally).
    """
    file = "subnational_income_tax.csv"
    df = _read(Path(data_dir) / file, _STATE_TAX_COLUMNS)
    out = df.copy()
    out["region"] = df["region"].str.strip().str.upper()
    out["iso3"] = df["iso3"].str.strip().str.upper()
    out["state_income_tax_rate"] = _fraction(df, "state_income_tax_rate", file)
    t = df["deductible_from_national"].str.strip().str.lower()
    if not t.isin(["true", "false"]).all():
        raise FiscalDataError(f"{file}, column 'deductible_from_national': expected true/false")
    out["deductible_from_national"] = t == "true"
    _checked_law(out, file)
    if out.region.duplicated().any():
        raise FiscalDataError(f"{file}, line {int(np.flatnonzero(out.region.duplicated().to_numpy())[0]) + 2}: duplicate region")
    return out.set_index("region")


def load_incentives(data_dir: Path) -> pd.DataFrame:
    """Read and check ``fiscal_incentives.csv``: tax holidays and reduced income tax rates for a
    period, each with its law; an application names the one it has been granted (issue 28).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``incentive``; ``income_tax_exempt_years`` and ``reduced_rate_years`` [yr],
        ``reduced_rate_share`` (share of the national rate paid in the reduced years
        [fraction]), ``start`` (one of :data:`INCENTIVE_STARTS`).
    """
    file = "fiscal_incentives.csv"
    df = _read(Path(data_dir) / file, _INCENTIVE_COLUMNS)
    out = df.copy()
    out["incentive"] = df["incentive"].str.strip().str.upper()
    out["iso3"] = df["iso3"].str.strip().str.upper()
    for col in ("income_tax_exempt_years", "reduced_rate_years"):
        num = _fraction(df, col, file, hi=100)
        if (num != np.floor(num)).any():
            raise FiscalDataError(f"{file}, column '{col}': whole years")
        out[col] = num.astype(int)
    out["reduced_rate_share"] = _fraction(df, "reduced_rate_share", file)
    out["start"] = df["start"].str.strip()
    bad = ~out.start.isin(INCENTIVE_STARTS)
    if bad.any():
        raise FiscalDataError(f"{file}, line {int(np.flatnonzero(bad.to_numpy())[0]) + 2}, column 'start': "
                              f"must be one of {', '.join(INCENTIVE_STARTS)}")
    _checked_law(out, file)
    if out.incentive.duplicated().any():
        raise FiscalDataError(f"{file}: duplicate incentive")
    return out.set_index("incentive")
