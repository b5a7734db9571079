"""Bundled reference tables: loading, validation and look-ups.

The tables live in ``evaluator/data/`` as CSV files (curated once by ``evaluator/data/curate.py``
from public snapshots; source, date and licence of every figure in ``evaluator/data/SOURCES.md``).
This module only reads those CSV files; it never touches the raw snapshots.

Figures that the public record does not give are rows labelled ``assumption`` (True) that an
officer may replace by pointing :func:`load_reference` at a copy of the folder.

References
----------
.. [1] World Bank (2024). Worldwide Governance Indicators, 2024 update (data to 2023). CC BY 4.0.
.. [2] OECD (2026). Country Risk Classifications of the Participants to the Arrangement on
   Officially Supported Export Credits, valid 30 January 2026.
.. [3] Damodaran, A. (2024). Country default spreads and risk premiums, January 2024 update.
.. [4] USGS (2025). Mineral Commodity Summaries 2025, data release v2.0. doi:10.5066/P13XCP3R.
.. [5] Gaulier, G. and Zignago, S. (2010). BACI: International Trade Database at the Product-Level.
   CEPII Working Paper 2010-23 (release HS92 V202401b).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evaluator.errors import DataError

__all__ = [
    "ReferenceData",
    "ReferenceDataError",
    "DATA_DIR",
    "PRICE_CASES",
    "load_reference",
    "royalty_rate",
    "royalty_row",
    "income_tax_rate",
    "price_usd_per_t",
    "ree_basket_price_usd_per_t",
    "known_countries",
    "known_minerals",
    "import_shares",
    "import_volumes",
    "import_volume_t",
    "annual_pd",
    "designation_weight",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
PRICE_CASES = ("base", "low", "high")
DEFAULT_KEY = "*"


class ReferenceDataError(DataError):
    """A reference table is missing or malformed, or a look-up has no answer.

    The message names the file and, where it applies, the column and the offending rows.
    """


@dataclass(frozen=True)
class ReferenceData:
    """All bundled reference tables (read-only by convention; do not mutate the frames).

    Attributes
    ----------
    countries : pandas.DataFrame
        Index ``iso3``. Columns ``name``, ``region``, ``oecd_crc``
        [0-7, <NA> when not reviewed], ``wgi_va`` .. ``wgi_cc`` [WGI estimate, about -2.5 worst
        to +2.5 best], ``crp`` [fraction], ``income_tax_rate`` [fraction], ``forge_partner`` [bool],
        source columns.
    royalties : pandas.DataFrame
        Columns ``iso3``, ``mineral`` (``*`` = default), ``royalty_rate`` [fraction of revenue],
        ``basis``, ``source``, ``assumption``.
    tax_overrides : pandas.DataFrame
        Mineral-specific income-tax regimes: ``iso3``, ``mineral``, ``income_tax_rate`` [fraction];
        the row (``*``, ``*``) is the labelled global default.
    minerals : pandas.DataFrame
        Index ``mineral`` (the mineral keys). Prices [USD/t of priced product, real],
        ``product_factor`` [t product / t grade-basis material], ``import_t_per_product_t`` [t/t],
        ``designation``.
    ree_oxides : pandas.DataFrame
        Index ``oxide``. Prices [USD/t oxide, real] and ``default_basket_share`` [fraction].
    production_shares : pandas.DataFrame
        World mine production by country: ``mineral``, ``iso3`` (``OTH`` = other countries),
        ``production_t`` [t contained], ``share`` [fraction], ``year``.
    hs_map : pandas.DataFrame
        ``hs6`` (6-character string), ``mineral``, ``description``, ``form``, ``in_bundled_data``.
    korea_imports : pandas.DataFrame
        Korea's imports per mineral, year and partner: ``quantity_t`` [t gross], ``value_kusd``
        [thousand USD].
    korea_imports_assumed : pandas.DataFrame
        Labelled partner shares for minerals without bundled trade data: ``mineral``,
        ``partner_iso3``, ``share`` [fraction].
    china_shares_published : pandas.DataFrame
        Published China shares of Korea's imports (``china_share_pct`` [%]) with scope and basis.
    designation_weights : pandas.DataFrame
        Index ``designation``; ``weight`` [0-1].
    pd_by_oecd : pandas.DataFrame
        Index ``oecd_crc`` (0..7, and -1 = not classified); ``annual_pd`` [fraction/yr], ``lgd``
        [fraction].
    data_dir : pathlib.Path
        Folder the tables were read from.
    """

    countries: pd.DataFrame
    royalties: pd.DataFrame
    tax_overrides: pd.DataFrame
    minerals: pd.DataFrame
    ree_oxides: pd.DataFrame
    production_shares: pd.DataFrame
    hs_map: pd.DataFrame
    korea_imports: pd.DataFrame
    korea_imports_assumed: pd.DataFrame
    china_shares_published: pd.DataFrame
    designation_weights: pd.DataFrame
    pd_by_oecd: pd.DataFrame
    data_dir: Path
    supply_chain: "SupplyChainTables | None" = None  # issue 15: see load_supply_chain
    # fiscal regimes by region and percentage depletion (evaluator/fiscal.py reads and checks them)
    fiscal_regimes: pd.DataFrame | None = None
    depletion: pd.DataFrame | None = None
    fx_rates: pd.DataFrame | None = None
    # issue 28: state / provincial income taxes by fiscal region, and the incentives an application may name
    state_income_taxes: pd.DataFrame | None = None
    fiscal_incentives: pd.DataFrame | None = None


# ----------------------------------------------------------------------------------------------
# schema: file -> {column: kind}; kinds: str, float, int, bool, fraction, optfloat, optint
# ----------------------------------------------------------------------------------------------
_SCHEMA: dict[str, dict[str, str]] = {
    "countries.csv": {
        "iso3": "str", "name": "str", "region": "optstr", "oecd_crc": "optcrc",
        "wgi_va": "optfloat", "wgi_pv": "optfloat", "wgi_ge": "optfloat", "wgi_rq": "optfloat",
        "wgi_rl": "optfloat", "wgi_cc": "optfloat", "crp": "optfraction",
        "income_tax_rate": "optfraction", "forge_partner": "bool",
    },
    "royalties.csv": {"iso3": "str", "mineral": "str", "royalty_rate": "fraction", "basis": "str",
                      "source": "str", "assumption": "bool"},
    "tax_overrides.csv": {"iso3": "str", "mineral": "str", "income_tax_rate": "fraction", "assumption": "bool"},
    "minerals.csv": {
        "mineral": "str", "name": "str", "grade_basis": "str", "product": "str", "product_factor": "positive",
        "price_base_usd_per_t": "positive", "price_low_usd_per_t": "positive", "price_high_usd_per_t": "positive",
        "price_source": "str", "designation": "str", "import_t_per_product_t": "positive", "usgs_commodity": "str",
    },
    "ree_oxides.csv": {"oxide": "str", "price_base_usd_per_t": "positive", "price_low_usd_per_t": "positive",
                       "price_high_usd_per_t": "positive", "default_basket_share": "fraction",
                       "source": "str", "assumption": "bool"},
    "production_shares.csv": {"mineral": "str", "iso3": "str", "country": "str", "production_t": "optfloat",
                              "share": "fraction", "year": "int", "source": "str"},
    "hs_map.csv": {"hs6": "hs6", "mineral": "str", "description": "str", "form": "str", "in_bundled_data": "bool"},
    "korea_imports.csv": {"mineral": "str", "year": "int", "partner_iso3": "str", "partner_name": "str",
                          "quantity_t": "optfloat", "value_kusd": "float"},
    "korea_imports_assumed.csv": {"mineral": "str", "partner_iso3": "str", "share": "fraction",
                                  "basis": "str", "note": "str", "assumption": "bool"},
    "korea_china_shares_published.csv": {"mineral": "str", "scope": "str", "basis": "str", "period": "str",
                                         "china_share_pct": "float", "publisher": "str"},
    "designation_weights.csv": {"designation": "str", "weight": "fraction", "assumption": "bool"},
    "pd_by_oecd.csv": {"oecd_crc": "int", "annual_pd": "fraction", "country_grade_pd": "fraction", "lgd": "fraction",
                       "assumption": "bool"},
}

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _fail(file: str, column: str | None, msg: str, rows=None) -> ReferenceDataError:
    where = f"{file}" + (f", column '{column}'" if column else "")
    if rows is not None and len(rows):
        msg += f" (rows {', '.join(str(int(r) + 2) for r in list(rows)[:5])}{', ...' if len(rows) > 5 else ''}; line numbers incl. header)"
    return ReferenceDataError(f"{where}: {msg}")


def _coerce(df: pd.DataFrame, file: str) -> pd.DataFrame:
    schema = _SCHEMA[file]
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise _fail(file, missing[0], f"required column missing (missing: {missing})")
    out = df.copy()
    for col, kind in schema.items():
        s = out[col]
        optional = kind.startswith("opt")
        base = kind[3:] if optional else kind
        blank = s.isna() | (s.astype("string").str.strip() == "")
        if not optional and blank.any() and base not in ("str",):
            raise _fail(file, col, "blank value where a value is required", np.flatnonzero(blank))
        if base == "str":
            if not optional and blank.any():
                raise _fail(file, col, "blank text where a value is required", np.flatnonzero(blank))
            out[col] = s.astype("string").str.strip().astype(object).where(~blank, None)
        elif base == "hs6":
            t = s.astype("string").str.strip().str.zfill(6)
            bad = ~t.str.fullmatch(r"\d{6}").fillna(False).astype(bool)
            if bad.any():
                raise _fail(file, col, "HS6 code must be 6 digits", np.flatnonzero(bad))
            out[col] = t.astype(object)
        elif base == "bool":
            t = s.astype("string").str.strip().str.lower()
            bad = ~t.isin(_TRUE | _FALSE).fillna(False).astype(bool)
            if bad.any():
                raise _fail(file, col, "expected true/false", np.flatnonzero(bad))
            out[col] = t.isin(_TRUE).astype(bool)
        else:
            num = pd.to_numeric(s.where(~blank, None), errors="coerce")
            bad = num.isna() & ~blank
            if bad.any():
                raise _fail(file, col, "not a number", np.flatnonzero(bad))
            if base == "crc":  # float with NaN (not optional Int64) so that NaN checks work downstream
                badr = num.notna() & ~num.isin(range(8))
                if badr.any():
                    raise _fail(file, col, "OECD CRC must be an integer 0..7 or blank", np.flatnonzero(badr))
                out[col] = num.astype("float64")
                continue
            if base in ("int",):
                frac = num.notna() & (num != np.round(num))
                if frac.any():
                    raise _fail(file, col, "expected an integer", np.flatnonzero(frac))
                out[col] = num.astype("Int64") if optional else num.astype("int64")
                continue
            if base == "fraction":
                badr = num.notna() & ((num < 0) | (num > 1))
                if badr.any():
                    raise _fail(file, col, "fraction outside [0, 1]", np.flatnonzero(badr))
            if base == "positive":
                badr = num.notna() & ~(num > 0)
                if badr.any():
                    raise _fail(file, col, "must be > 0", np.flatnonzero(badr))
            out[col] = num.astype("float64")
    return out


def _read(data_dir: Path, file: str) -> pd.DataFrame:
    path = data_dir / file
    if not path.is_file():
        raise ReferenceDataError(f"{path}: reference file missing")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except Exception as exc:  # parser errors become the package's own exception
        raise ReferenceDataError(f"{file}: cannot be read as CSV ({exc})") from exc
    return _coerce(raw, file)


def _unique_index(df: pd.DataFrame, col: str, file: str) -> pd.DataFrame:
    dup = df[col].duplicated()
    if dup.any():
        raise _fail(file, col, f"duplicate key {df.loc[dup, col].iloc[0]!r}", np.flatnonzero(dup))
    return df.set_index(col)


def _check_cross(ref: ReferenceData) -> None:
    minerals = set(ref.minerals.index)
    m = ref.minerals
    bad = m.index[(m.price_low_usd_per_t > m.price_base_usd_per_t) | (m.price_base_usd_per_t > m.price_high_usd_per_t)]
    if len(bad):
        raise ReferenceDataError(f"minerals.csv, columns 'price_low/base/high_usd_per_t': not ordered low <= base <= high for {list(bad)}")
    o = ref.ree_oxides
    bad = o.index[(o.price_low_usd_per_t > o.price_base_usd_per_t) | (o.price_base_usd_per_t > o.price_high_usd_per_t)]
    if len(bad):
        raise ReferenceDataError(f"ree_oxides.csv, columns 'price_*_usd_per_t': not ordered low <= base <= high for {list(bad)}")
    if abs(o.default_basket_share.sum() - 1.0) > 1e-6:
        raise ReferenceDataError("ree_oxides.csv, column 'default_basket_share': shares do not sum to 1")
    unknown_des = set(m.designation) - set(ref.designation_weights.index)
    if unknown_des:
        raise ReferenceDataError(f"minerals.csv, column 'designation': unknown designations {sorted(unknown_des)}")
    for file, df in [("royalties.csv", ref.royalties), ("tax_overrides.csv", ref.tax_overrides)]:
        unk = set(df.mineral) - minerals - {DEFAULT_KEY}
        if unk:
            raise ReferenceDataError(f"{file}, column 'mineral': unknown mineral keys {sorted(unk)}")
    if not ((ref.royalties.iso3 == DEFAULT_KEY) & (ref.royalties.mineral == DEFAULT_KEY)).any():
        raise ReferenceDataError("royalties.csv: the global default row (iso3 '*', mineral '*') is missing")
    t = ref.tax_overrides
    if not ((t.iso3 == DEFAULT_KEY) & (t.mineral == DEFAULT_KEY)).any():
        raise ReferenceDataError("tax_overrides.csv: the global default row (iso3 '*', mineral '*') is missing")
    dup = ref.royalties.duplicated(["iso3", "mineral"])
    if dup.any():
        raise _fail("royalties.csv", "mineral", "duplicate (iso3, mineral) pair", np.flatnonzero(dup))
    for file, df in [("korea_imports.csv", ref.korea_imports), ("korea_imports_assumed.csv", ref.korea_imports_assumed)]:
        unk = set(df.mineral) - minerals
        if unk:
            raise ReferenceDataError(f"{file}, column 'mineral': unknown mineral keys {sorted(unk)}")
    s = ref.korea_imports_assumed.groupby("mineral").share.sum()
    if (abs(s - 1) > 1e-4).any():
        raise ReferenceDataError(f"korea_imports_assumed.csv, column 'share': shares do not sum to 1 for {list(s.index[abs(s - 1) > 1e-4])}")
    missing = minerals - set(ref.korea_imports.mineral) - set(ref.korea_imports_assumed.mineral)
    if missing:
        raise ReferenceDataError(f"korea_imports(_assumed).csv: no import data for minerals {sorted(missing)}")
    if not set(range(8)) <= set(ref.pd_by_oecd.index):
        raise ReferenceDataError("pd_by_oecd.csv, column 'oecd_crc': rows 0..7 required")


def _load_fiscal_tables(data_dir: Path) -> dict:
    """``fiscal_regimes.csv``, ``depletion.csv``, ``subnational_income_tax.csv``, ``fiscal_incentives.csv``
    (checked by :mod:`evaluator.fiscal`) and ``fx_rates.csv``; a folder
    without them (an officer's older copy) evaluates with the per-country tables only."""
    from evaluator import fiscal_tables as fiscal  # the loaders (evaluator.fiscal imports this module)

    out = {}
    for name, file, loader in (("fiscal_regimes", "fiscal_regimes.csv", fiscal.load_fiscal_regimes),
                               ("depletion", "depletion.csv", fiscal.load_depletion),
                               ("state_income_taxes", "subnational_income_tax.csv", fiscal.load_state_taxes),
                               ("fiscal_incentives", "fiscal_incentives.csv", fiscal.load_incentives)):
        if (data_dir / file).is_file():
            try:
                out[name] = loader(data_dir)
            except fiscal.FiscalDataError as exc:
                raise ReferenceDataError(str(exc)) from None
    if (data_dir / "fx_rates.csv").is_file():
        fx = pd.read_csv(data_dir / "fx_rates.csv", dtype={"currency": str}, keep_default_na=False)
        rate = pd.to_numeric(fx.get("usd_per_unit"), errors="coerce")
        if "currency" not in fx or rate.isna().any() or (rate <= 0).any() or fx.currency.duplicated().any():
            raise ReferenceDataError("fx_rates.csv: needs unique 'currency' codes and positive 'usd_per_unit'")
        out["fx_rates"] = fx.assign(usd_per_unit=rate, currency=fx.currency.str.upper()).set_index("currency")
    return out


@functools.lru_cache(maxsize=8)
def _load_cached(data_dir: Path) -> ReferenceData:
    countries = _unique_index(_read(data_dir, "countries.csv"), "iso3", "countries.csv")
    ref = ReferenceData(
        countries=countries,
        royalties=_read(data_dir, "royalties.csv"),
        tax_overrides=_read(data_dir, "tax_overrides.csv"),
        minerals=_unique_index(_read(data_dir, "minerals.csv"), "mineral", "minerals.csv"),
        ree_oxides=_unique_index(_read(data_dir, "ree_oxides.csv"), "oxide", "ree_oxides.csv"),
        production_shares=_read(data_dir, "production_shares.csv"),
        hs_map=_read(data_dir, "hs_map.csv"),
        korea_imports=_read(data_dir, "korea_imports.csv"),
        korea_imports_assumed=_read(data_dir, "korea_imports_assumed.csv"),
        china_shares_published=_read(data_dir, "korea_china_shares_published.csv"),
        designation_weights=_unique_index(_read(data_dir, "designation_weights.csv"), "designation", "designation_weights.csv"),
        pd_by_oecd=_unique_index(_read(data_dir, "pd_by_oecd.csv"), "oecd_crc", "pd_by_oecd.csv"),
        data_dir=data_dir,
        supply_chain=load_supply_chain(data_dir),
        **_load_fiscal_tables(data_dir),
    )
    _check_cross(ref)
    return ref


def load_reference(data_dir: str | Path | None = None) -> ReferenceData:
    """Load, validate and cache the reference tables.

    Parameters
    ----------
    data_dir : str or pathlib.Path, optional
        Folder holding the CSV files; default the bundled ``evaluator/data``. Results are cached per
        resolved path (``functools.lru_cache``), so repeated calls are free; call
        ``load_reference.cache_clear()`` after editing the files in a running process.

    Returns
    -------
    ReferenceData

    Raises
    ------
    ReferenceDataError
        When a file is missing or malformed; the message names the file and the column.
    """
    path = Path(data_dir).resolve() if data_dir is not None else DATA_DIR
    return _load_cached(path)


load_reference.cache_clear = _load_cached.cache_clear  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------------
# look-ups
# ----------------------------------------------------------------------------------------------
def _norm_iso3(iso3: str) -> str:
    return str(iso3).strip().upper()


def _first_match(table: pd.DataFrame, iso3: str, mineral: str) -> int | None:
    """Position of the first row of ``table`` with this ``iso3`` and ``mineral``, or None (numpy
    comparisons: a pandas boolean mask costs ~0.5 ms a look-up, which adds up over applications)."""
    hit = np.flatnonzero((table["iso3"].to_numpy() == iso3) & (table["mineral"].to_numpy() == mineral))
    return int(hit[0]) if len(hit) else None


def royalty_row(ref: ReferenceData, iso3: str, mineral: str) -> pd.Series:
    """The royalty row that applies to (country, mineral), with its basis and source.

    Fallback order: the specific (iso3, mineral) row, else the country's ``*`` row, else the global
    default row (``*``, ``*``), which is a labelled assumption.
    """
    iso3 = _norm_iso3(iso3)
    r = ref.royalties
    for i, m in ((iso3, mineral), (iso3, DEFAULT_KEY), (DEFAULT_KEY, DEFAULT_KEY)):
        hit = _first_match(r, i, m)
        if hit is not None:
            return r.iloc[hit]
    raise ReferenceDataError("royalties.csv: no global default row")  # guarded at load time


def royalty_rate(ref: ReferenceData, iso3: str, mineral: str) -> float:
    """Ad valorem royalty (incl. combined export duty where noted) [fraction of revenue].

    Parameters
    ----------
    ref : ReferenceData
    iso3 : str
        Host country ISO3 code.
    mineral : str
        Mineral key.

    Returns
    -------
    float
        Rate [fraction]; see :func:`royalty_row` for the fallback order.
    """
    return float(royalty_row(ref, iso3, mineral)["royalty_rate"])


def income_tax_rate(ref: ReferenceData, iso3: str, mineral: str | None = None) -> float:
    """Corporate income tax rate of the host country [fraction].

    Parameters
    ----------
    ref : ReferenceData
    iso3 : str
        Host country ISO3 code.
    mineral : str, optional
        When given, a mineral-specific regime in ``tax_overrides.csv`` wins (e.g. Vietnam's 50%
        on rare earths).

    Returns
    -------
    float
        The country's rate, or the labelled global default row (``*``, ``*``) of
        ``tax_overrides.csv`` when the country has none.
    """
    iso3 = _norm_iso3(iso3)
    if mineral is not None:
        t = ref.tax_overrides
        hit = _first_match(t, iso3, mineral)
        if hit is not None:
            return float(t.income_tax_rate.iloc[hit])
    c = ref.countries
    if iso3 in c.index and pd.notna(c.at[iso3, "income_tax_rate"]):
        return float(c.at[iso3, "income_tax_rate"])
    t = ref.tax_overrides
    return float(t.income_tax_rate.iloc[_first_match(t, DEFAULT_KEY, DEFAULT_KEY)])


def _check_case(case: str) -> str:
    if case not in PRICE_CASES:
        raise ValueError(f"price case must be one of {PRICE_CASES}, got {case!r}")
    return case


def price_usd_per_t(ref: ReferenceData, mineral: str, case: str = "base") -> float:
    """Long-term real price of the mineral's priced product [USD/t product].

    The priced product and its relation to the grade basis are given by the ``product`` and
    ``product_factor`` columns of ``minerals.csv``.

    Raises
    ------
    ReferenceDataError
        For an unknown mineral key.
    """
    _check_case(case)
    if mineral not in ref.minerals.index:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown mineral {mineral!r}")
    return float(ref.minerals.at[mineral, f"price_{case}_usd_per_t"])


def ree_basket_price_usd_per_t(ref: ReferenceData, shares: dict[str, float] | None = None, case: str = "base") -> float:
    """Price of one tonne of TREO with the given oxide distribution [USD/t TREO].

    Parameters
    ----------
    shares : dict of str to float, optional
        Oxide -> share of TREO [fraction]; must sum to 1 (tolerance 1e-6). None = the default basket.
    case : {'base', 'low', 'high'}

    Returns
    -------
    float
        sum(share_i x price_i).
    """
    _check_case(case)
    o = ref.ree_oxides
    if shares is None:
        w = o["default_basket_share"]
    else:
        unknown = set(shares) - set(o.index)
        if unknown:
            raise ReferenceDataError(f"ree_oxides.csv, column 'oxide': unknown oxides {sorted(unknown)}")
        w = pd.Series(shares, dtype=float)
        if (w < 0).any() or abs(w.sum() - 1.0) > 1e-6:
            raise ValueError(f"REE basket shares must be >= 0 and sum to 1, got sum {w.sum():.6f}")
    return float((w * o.loc[w.index, f"price_{case}_usd_per_t"]).sum())


def known_countries(ref: ReferenceData) -> list[str]:
    """ISO3 codes of the countries in ``countries.csv``, sorted."""
    return sorted(ref.countries.index)


# ----------------------------------------------------------------------------------------------
# Supply chain tables (issue 15; used by evaluator.supply and evaluator.customs)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SupplyChainTables:
    """Korea's imports across the value chain and the tables that turn them into one unit per mineral.

    Attributes
    ----------
    hs_content : pandas.DataFrame
        Index ``hs6``: ``mineral``, ``stage``, ``unit``, ``content_factor`` [t unit / t traded],
        ``low_uv_below_usd_per_kg`` and ``low_uv_factor`` (a lower factor for rows whose unit value
        is below the threshold: cobalt hydroxide traded as 8105), ``magnet_share`` [fraction of the
        REO content that is Nd, Pr, Dy, Tb; rare earths only].
    imports : pandas.DataFrame
        ``korea_imports_chain.csv``: ``year``, ``hs6``, ``mineral``, ``partner_iso3``,
        ``quantity_t`` [t traded], ``value_kusd`` [kUSD], ``source_kind`` (baci, mirror, published,
        customs), ``source``, ``assumption``.
    units : pandas.DataFrame
        Index ``mineral``: ``chain_unit``, ``t_unit_per_t_product``, ``element_matching``.
    demand_paths : pandas.DataFrame
        ``mineral``, ``case`` (low, base, high), ``year``, ``demand_index`` [1 = window average].
    china_counterfactual : pandas.DataFrame
        ``mineral``, ``year`` (NaN = all years), ``china_share`` (NaN = window mix persists).
    score_scale : dict
        key -> value of ``supply_score_scale.csv``.
    """

    hs_content: pd.DataFrame
    imports: pd.DataFrame
    units: pd.DataFrame
    demand_paths: pd.DataFrame
    china_counterfactual: pd.DataFrame
    score_scale: dict


def _read_plain(data_dir: Path, file: str, **kw) -> pd.DataFrame:
    path = Path(data_dir) / file
    if not path.is_file():
        raise ReferenceDataError(f"{path}: reference file missing")
    try:
        return pd.read_csv(path, comment="#", **kw)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ReferenceDataError(f"{file}: cannot be read as CSV ({exc})") from exc


def load_supply_chain(data_dir: str | Path | None = None) -> SupplyChainTables:
    """Read and check the supply-chain tables (``hs_content.csv``, ``korea_imports_chain.csv``,
    ``supply_chain_units.csv``, ``supply_demand_paths.csv``, ``supply_china_counterfactual.csv``,
    ``supply_score_scale.csv``).

    Raises
    ------
    ReferenceDataError
        Naming the file and column of a missing or invalid entry.
    """
    d = Path(data_dir) if data_dir is not None else DATA_DIR
    hs = _read_plain(d, "hs_content.csv", dtype={"hs6": str})
    if hs.hs6.duplicated().any():
        raise ReferenceDataError(f"hs_content.csv, column 'hs6': duplicate code {hs.hs6[hs.hs6.duplicated()].iloc[0]}")
    bad = ~(pd.to_numeric(hs.content_factor, errors="coerce") > 0)
    if bad.any():
        raise ReferenceDataError(f"hs_content.csv, column 'content_factor': must be > 0 (codes {list(hs.hs6[bad])})")
    imp = _read_plain(d, "korea_imports_chain.csv", dtype={"hs6": str})
    unknown = sorted(set(imp.hs6) - set(hs.hs6))
    if unknown:
        raise ReferenceDataError(f"korea_imports_chain.csv, column 'hs6': codes without a content factor {unknown}")
    units = _read_plain(d, "supply_chain_units.csv").set_index("mineral")
    demand = _read_plain(d, "supply_demand_paths.csv")
    if not (demand.demand_index > 0).all():
        raise ReferenceDataError("supply_demand_paths.csv, column 'demand_index': must be > 0")
    cf = _read_plain(d, "supply_china_counterfactual.csv")
    if ((cf.china_share < 0) | (cf.china_share > 1)).any():
        raise ReferenceDataError("supply_china_counterfactual.csv, column 'china_share': fraction outside [0, 1]")
    scale = _read_plain(d, "supply_score_scale.csv")
    return SupplyChainTables(hs.set_index("hs6"), imp, units, demand, cf,
                             {str(k): float(v) for k, v in zip(scale.key, scale.value)})


def known_minerals(ref: ReferenceData) -> list[str]:
    """Mineral keys in ``minerals.csv``, in file order."""
    return list(ref.minerals.index)


def import_volumes(ref: ReferenceData, mineral: str, year: int | None = None,
                   basis: str = "quantity") -> tuple[pd.Series | None, int | None]:
    """Korea's imports of the mineral by partner in one year, from the bundled trade table.

    Returns
    -------
    volumes : pandas.Series or None
        Index ``partner_iso3``, positive quantities [t gross] or values [kUSD], descending;
        None when the mineral has no bundled trade data (assumed shares only).
    year : int or None
        The year used (default the latest with data).
    """
    if basis not in ("quantity", "value"):
        raise ValueError(f"basis must be 'quantity' or 'value', got {basis!r}")
    if mineral not in ref.minerals.index:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown mineral {mineral!r}")
    k = ref.korea_imports[ref.korea_imports.mineral == mineral]
    if not len(k):
        return None, None
    yr = int(k.year.max()) if year is None else int(year)
    g = k[k.year == yr]
    if g.empty:
        raise ReferenceDataError(f"korea_imports.csv: no {mineral} imports in {yr} (years {sorted(k.year.unique())})")
    col = "quantity_t" if basis == "quantity" else "value_kusd"
    v = g.groupby("partner_iso3")[col].sum(min_count=1).dropna()
    v = v[v > 0].astype(float).sort_values(ascending=False)
    if v.sum() <= 0:
        raise ReferenceDataError(f"korea_imports.csv: no positive {col} for {mineral} in {yr}")
    v.index.name = "partner_iso3"
    return v, yr


def import_shares(ref: ReferenceData, mineral: str, year: int | None = None, basis: str = "quantity") -> pd.Series:
    """Share of each partner country in Korea's imports of the mineral [fraction].

    Parameters
    ----------
    mineral : str
        Mineral key.
    year : int, optional
        Calendar year; default the latest year with data for the mineral.
    basis : {'quantity', 'value'}
        Quantity [t gross] or value [kUSD]. Partners with no reported quantity are left out on the
        quantity basis.

    Returns
    -------
    pandas.Series
        Index ``partner_iso3``, values summing to 1, sorted descending. Minerals without bundled
        trade data fall back to ``korea_imports_assumed.csv`` (labelled assumptions; ``year`` is
        then ignored).
    """
    volumes, _ = import_volumes(ref, mineral, year=year, basis=basis)
    if volumes is not None:
        out = volumes / volumes.sum()
    else:
        a = ref.korea_imports_assumed[ref.korea_imports_assumed.mineral == mineral]
        out = a.groupby("partner_iso3").share.sum()
        out = out / out.sum()
    out.name = "share"
    out.index.name = "partner_iso3"
    return out.sort_values(ascending=False)


def import_volume_t(ref: ReferenceData, mineral: str, year: int | None = None) -> float:
    """Korea's total imports of the mineral in a year [t gross, as counted in korea_imports.csv].

    Divide by ``minerals.import_t_per_product_t`` to express it in tonnes of the priced product.

    Returns
    -------
    float
        Total quantity [t]; NaN when the mineral has no bundled trade data (assumed shares only).
    """
    if mineral not in ref.minerals.index:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown mineral {mineral!r}")
    k = ref.korea_imports[ref.korea_imports.mineral == mineral]
    if k.empty:
        return float("nan")
    yr = int(k.year.max()) if year is None else int(year)
    return float(k.loc[k.year == yr, "quantity_t"].sum())


def annual_pd(ref: ReferenceData, iso3: str) -> float:
    """One-year default probability for an obligor in the country [fraction/yr].

    From the country's OECD CRC via ``pd_by_oecd.csv``; countries without a classification (or
    unknown) use the ``-1`` row (labelled assumption).
    """
    iso3 = _norm_iso3(iso3)
    c = ref.countries
    crc = c.at[iso3, "oecd_crc"] if iso3 in c.index else np.nan
    key = -1 if pd.isna(crc) else int(crc)
    if key not in ref.pd_by_oecd.index:
        raise ReferenceDataError(f"pd_by_oecd.csv, column 'oecd_crc': no row {key}")
    return float(ref.pd_by_oecd.at[key, "annual_pd"])


def designation_weight(ref: ReferenceData, mineral: str) -> float:
    """Strategic-importance weight of the mineral's designation [0-1]."""
    if mineral not in ref.minerals.index:
        raise ReferenceDataError(f"minerals.csv, column 'mineral': unknown mineral {mineral!r}")
    return float(ref.designation_weights.at[ref.minerals.at[mineral, "designation"], "weight"])
