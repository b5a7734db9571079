"""Read a customs extract in UN Comtrade format and rebuild Korea's import table from it.

An officer may replace the bundled BACI import figures (``korea_imports.csv``) with a fresher
extract from UN Comtrade (comtradeplus.un.org, "Download" with the standard column names) or a
Korea Customs Service extract saved in the same layout. :func:`read_comtrade` maps each HS6 code
to a mineral key with ``evaluator/data/hs_map.csv`` and sums rows per mineral, year and partner
into the ``korea_imports`` schema; :func:`with_imports` swaps the table into a
:class:`~evaluator.reference.ReferenceData`.

Conventions
-----------
* Quantity = ``NetWgt`` [kg] / 1000 -> [t]; when the net weight is missing or 0 and the quantity
  unit (``QtyUnitAbbr``) is ``kg``, ``Qty`` is used instead; otherwise the row has no quantity
  (counted in ``n_rows_missing_quantity``).
* Value = ``PrimaryValue`` [USD] / 1000 -> [kUSD] (CIF for imports as reported by Comtrade).
* Only import rows (``FlowCode`` ``M``) are used; where the extract has breakdowns by customs
  procedure, mode of transport or second partner, only the totals (``CustomsCode`` ``C00``,
  ``MotCode`` 0, ``Partner2Code`` 0) are kept so that nothing is counted twice.
* World and aggregate partner rows (``PartnerCode`` 0, ``PartnerISO`` ``W00``, description
  ``World``) are excluded with a note. Partner codes that are not in ``countries.csv`` (``S19``
  "Other Asia, nes", ``_X`` "Areas, nes" ...) are KEPT under their code and reported.
* HS codes not in the map (including 4-digit heading rows) and codes mapped to a name that is not
  a mineral key are reported and skipped; forms listed in ``exclude_forms`` (default downstream
  magnets and synthetic graphite, officer's choice per ``hs_map.csv``) are reported and skipped.

Value chain (issue 15)
----------------------
The same rows also feed Korea's chain imports (``korea_imports_chain.csv``, one row per year, HS6
code and partner): any HS6 code with a content factor is accepted, its factor from
``hs_content.csv``, or from the extract itself (optional columns ``Mineral`` and
``ContentFactor`` [t unit / t traded], ``MagnetShare`` for rare earths), or from the ``factors``
table passed to :func:`read_comtrade`. :func:`with_imports` replaces the bundled chain rows CODE
BY CODE (every year of each code in the extract; other codes keep their BACI, mirror or published
rows). Forms excluded from the legacy per-mineral table (magnets, synthetic graphite) are counted
in the chain, where they belong.

References
----------
.. [1] United Nations (2024). UN Comtrade Database, data item definitions (comtradeplus.un.org,
   "Data availability and dictionary").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from evaluator.errors import InputError
from evaluator.reference import ReferenceData

__all__ = ["CustomsError", "CustomsImport", "REQUIRED_COLUMNS", "read_comtrade", "with_imports"]

#: Columns a Comtrade-format extract must have.
REQUIRED_COLUMNS = ("RefYear", "FlowCode", "PartnerCode", "PartnerISO", "CmdCode", "NetWgt", "PrimaryValue")
WORLD_CODES = {"0", "W00", "WLD"}
DEFAULT_EXCLUDED_FORMS = ("magnet", "synthetic")
IMPORT_COLUMNS = ["mineral", "year", "partner_iso3", "partner_name", "quantity_t", "value_kusd",
                  "n_rows_missing_quantity", "hs6_codes", "source"]
CHAIN_COLUMNS = ["year", "hs6", "mineral", "partner_iso3", "partner_name", "quantity_t", "value_kusd",
                 "source_kind", "source", "assumption"]
#: Optional columns of an extract that give a code's mineral and content factor.
FACTOR_COLUMNS = {"mineral": ("Mineral", "mineral"), "content_factor": ("ContentFactor", "content_factor"),
                  "magnet_share": ("MagnetShare", "magnet_share")}


class CustomsError(InputError):
    """A customs extract cannot be used; the message says why (e.g. names the missing columns)."""


@dataclass(frozen=True)
class CustomsImport:
    """Korea's imports rebuilt from a customs extract.

    Attributes
    ----------
    imports : pandas.DataFrame
        ``korea_imports`` schema: ``mineral``, ``year``, ``partner_iso3``, ``partner_name``,
        ``quantity_t`` [t], ``value_kusd`` [thousand USD], ``n_rows_missing_quantity``,
        ``hs6_codes``, ``source``.
    problems : list of str
        Readable notes: excluded world rows, unknown HS codes, unknown partners, other reporters.
    source : str
        File name or description.
    reporters : tuple of str
        Reporter ISO3 codes found (``KOR`` expected).
    """

    imports: pd.DataFrame = field(repr=False)
    problems: list = field(default_factory=list)
    source: str = ""
    reporters: tuple = ()
    chain: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CHAIN_COLUMNS), repr=False)
    content: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def minerals(self) -> list[str]:
        """Mineral keys present in ``imports``."""
        return sorted(self.imports["mineral"].unique())

    @property
    def chain_codes(self) -> list[str]:
        """HS6 codes of the chain rows (they replace the bundled rows of these codes)."""
        return sorted(self.chain["hs6"].unique()) if len(self.chain) else []


def _read_bytes(source, filename: str | None) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), filename or "uploaded extract"
    if isinstance(source, (str, Path)):
        p = Path(source)
        try:
            return p.read_bytes(), filename or p.name
        except OSError as exc:
            raise CustomsError(f"{p}: cannot read customs extract ({exc.strerror})") from None
    if hasattr(source, "read"):
        data = source.read()
        return (data.encode("utf-8") if isinstance(data, str) else data), filename or getattr(source, "name", "uploaded extract")
    raise CustomsError(f"unsupported source type {type(source).__name__}")


def _code(s: pd.Series) -> pd.Series:
    """Text code without spaces and a trailing '.0' (spreadsheets turn 0 into 0.0)."""
    return s.astype("string").fillna("").str.strip().str.replace(r"\.0$", "", regex=True)


def read_comtrade(source: str | Path | bytes | BinaryIO, *, filename: str | None = None, ref: ReferenceData,
                  exclude_forms: tuple[str, ...] = DEFAULT_EXCLUDED_FORMS,
                  factors: pd.DataFrame | None = None) -> CustomsImport:
    """Read a UN Comtrade-format CSV (or xlsx) extract into Korea's import table.

    Parameters
    ----------
    source : path, bytes or file-like
        The extract (CSV, UTF-8 with or without BOM; ``.xlsx`` when ``filename`` says so).
    filename : str, optional
        Name used in messages and to detect xlsx.
    ref : ReferenceData
        For ``hs_map`` (HS6 -> mineral), the mineral keys and ``countries`` (known partners).
    exclude_forms : tuple of str
        ``hs_map.form`` values left out of the per-mineral table (reported), default magnets and
        synthetic graphite; the value chain counts them.
    factors : pandas.DataFrame, optional
        Content factors for codes the bundle lacks: ``hs6``, ``mineral``, ``content_factor``
        [t unit / t traded], optional ``magnet_share`` (see the module notes).

    Returns
    -------
    CustomsImport

    Raises
    ------
    CustomsError
        When the file cannot be read or lacks required columns (the message names them), or
        when no row maps to a mineral.
    """
    from models.loader import LoaderError, read_plain_table

    data, name = _read_bytes(source, filename)
    try:  # the applications' guarded reader: the same caps against hostile files
        raw = _as_text(read_plain_table(data, filename=name))
    except LoaderError as exc:
        raise CustomsError(f"{name}: cannot be read as a Comtrade extract ({exc})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise CustomsError(f"{name}: required column(s) missing: {', '.join(missing)} "
                           f"(a UN Comtrade extract needs {', '.join(REQUIRED_COLUMNS)})")
    problems: list[str] = []
    df = raw.copy()
    n0 = len(df)

    flow = _code(df["FlowCode"]).str.upper()
    keep = flow == "M"
    if (~keep).any():
        problems.append(f"{int((~keep).sum())} row(s) with a flow other than imports (M) skipped: "
                        f"{sorted(set(flow[~keep]))}")
    df = df[keep]
    for col, total in (("CustomsCode", "C00"), ("MotCode", "0"), ("Partner2Code", "0")):
        if col in df.columns:
            c = _code(df[col]).str.upper()
            sub = (c != total) & (c != "")
            if sub.any():
                problems.append(f"{int(sub.sum())} breakdown row(s) by {col} (not {total}) skipped to avoid double counting")
                df = df[~sub]

    pcode = _code(df["PartnerCode"]).str.upper()
    piso = _code(df["PartnerISO"]).str.upper()
    pdesc = df["PartnerDesc"].astype("string").fillna("") if "PartnerDesc" in df.columns else pd.Series("", index=df.index)
    world = pcode.isin(WORLD_CODES) | piso.isin(WORLD_CODES) | pdesc.str.strip().str.lower().eq("world")
    if world.any():
        problems.append(f"{int(world.sum())} world-total partner row(s) (code 0 / W00 / 'World') excluded; "
                        "shares are computed from the partner rows")
    df = df[~world]
    piso = piso[~world]
    pcode = pcode[~world]
    pdesc = pdesc[~world]

    reporters = tuple(sorted(set(_code(df["ReporterISO"]).str.upper()))) if "ReporterISO" in df.columns else ()
    if reporters and reporters != ("KOR",):
        problems.append(f"reporter(s) {', '.join(reporters)} found, not Korea (KOR): the table is that "
                        "reporter's imports")

    hs = _code(df["CmdCode"])
    hs = hs.where(hs.str.len() != 5, hs.str.zfill(6))  # Excel drops the leading zero of 0xxxxx codes
    df = df.assign(hs6=hs, partner_iso3=piso.where(piso != "", pcode), partner_name=pdesc)
    unknown_partner = ~df["partner_iso3"].isin(ref.countries.index)
    if unknown_partner.any():
        u = sorted(set(df.loc[unknown_partner, "partner_iso3"] + " (" + df.loc[unknown_partner, "partner_name"].str.strip() + ")"))
        problems.append(f"{int(unknown_partner.sum())} row(s) with partner code(s) not in countries.csv kept "
                        f"under their code (governance = median fallback): {', '.join(u)}")
    df = _quantities(df, problems)
    chain, content = _chain_rows(df, ref, factors, name, problems)
    legacy = _legacy_rows(df, ref, exclude_forms, name, problems)
    if legacy.empty and chain.empty:
        raise CustomsError(f"{name}: no import row maps to a mineral key (see hs_map.csv and hs_content.csv); "
                           f"problems: {' | '.join(problems)}")
    problems.insert(0, f"{name}: {n0} row(s) read, {len(legacy)} mineral-year-partner rows built, "
                       f"{len(chain)} chain rows for HS {', '.join(sorted(set(chain['hs6']))) or '-'}")
    return CustomsImport(legacy, problems, name, reporters, chain, content)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as text (a workbook's numbers as their shortest text, ``2027`` not ``2027.0``), blanks NaN."""
    from models.application import number_text

    def text(v):
        if v is None:
            return np.nan
        if isinstance(v, float):
            return number_text(v)
        return str(v)

    return frame.astype(object).map(text) if len(frame.columns) else frame


def _numbers(df: pd.DataFrame, column: str) -> pd.Series:
    """A column read by the applications' number grammar (``1,234.5``; no decimal comma, no NaN);
    blanks are NaN. A value the grammar refuses is named with its row (1 = first data row)."""
    from models.application import NumberError, parse_number

    out = np.full(len(df), np.nan)
    for i, v in enumerate(df[column].tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            continue
        try:
            out[i] = parse_number(v)
        except NumberError as exc:
            raise CustomsError(f"{column} in data row {i + 1} = {str(v)[:40]!r}: {exc}") from None
    return pd.Series(out, index=df.index)


def _quantities(df: pd.DataFrame, problems: list) -> pd.DataFrame:
    """``quantity_t`` [t], ``value_kusd`` [kUSD] and ``year`` per row (module conventions)."""
    net = _numbers(df, "NetWgt")
    qty = _numbers(df, "Qty") if "Qty" in df.columns else pd.Series(np.nan, index=df.index)
    unit = df["QtyUnitAbbr"].astype("string").str.strip().str.lower() if "QtyUnitAbbr" in df.columns else pd.Series("", index=df.index)
    kg = net.where(net > 0, qty.where((unit == "kg") & (qty > 0)))
    df = df.assign(quantity_t=kg / 1000.0)
    value = _numbers(df, "PrimaryValue")
    if value.isna().any():
        problems.append(f"{int(value.isna().sum())} row(s) without a numeric PrimaryValue counted as 0 kUSD")
    df["value_kusd"] = value.fillna(0.0) / 1000.0
    year = _numbers(df, "RefYear")
    if year.isna().any():
        problems.append(f"{int(year.isna().sum())} row(s) without a numeric RefYear skipped")
    return df[year.notna()].assign(year=year[year.notna()].astype(int))


def _factor_column(df: pd.DataFrame, key: str) -> pd.Series:
    for c in FACTOR_COLUMNS[key]:
        if c in df.columns:
            return df[c]
    return pd.Series(pd.NA, index=df.index, dtype="object")


def _chain_rows(df: pd.DataFrame, ref: ReferenceData, factors: pd.DataFrame | None, name: str,
                problems: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Chain rows (``CHAIN_COLUMNS``) and the content factors of codes the bundle does not know.

    A code's factor comes, in this order, from the extract's own columns, the ``factors`` table,
    or ``hs_content.csv``; codes with none are reported and left out of the chain.
    """
    bundled = ref.supply_chain.hs_content if getattr(ref, "supply_chain", None) is not None else pd.DataFrame()
    given = pd.DataFrame({"hs6": df["hs6"], "mineral": _factor_column(df, "mineral"),
                          "content_factor": pd.to_numeric(_factor_column(df, "content_factor"), errors="coerce"),
                          "magnet_share": pd.to_numeric(_factor_column(df, "magnet_share"), errors="coerce")})
    given = given.dropna(subset=["mineral", "content_factor"]).drop_duplicates("hs6", keep="last")
    if factors is not None and len(factors):
        f = factors.assign(hs6=_code(factors["hs6"]))
        given = pd.concat([f, given]).drop_duplicates("hs6", keep="last")
    bad = given[~(given["content_factor"] > 0) | ~given["mineral"].isin(ref.minerals.index)]
    if len(bad):
        raise CustomsError(f"{name}: content factors must be > 0 with a known mineral key; HS {', '.join(bad['hs6'])}")
    content = given.set_index("hs6").assign(unit="", stage="upload", source=f"factor given with {name}",
                                            assumption=False)
    known = set(content.index) | set(bundled.index)
    ok = df["hs6"].isin(known)
    if (~ok).any():
        codes = sorted(set(df.loc[~ok, "hs6"]))
        problems.append(f"{int((~ok).sum())} row(s) with HS code(s) without a content factor left out of the value chain "
                        f"({', '.join(codes[:25])}); add columns Mineral and ContentFactor to count them")
    d = df[ok]
    mineral = d["hs6"].map(content["mineral"]) if len(content) else pd.Series(pd.NA, index=d.index)
    mineral = mineral.fillna(d["hs6"].map(bundled["mineral"]) if len(bundled) else mineral)
    chain = pd.DataFrame({"year": d["year"], "hs6": d["hs6"], "mineral": mineral,
                          "partner_iso3": d["partner_iso3"], "partner_name": d["partner_name"].str.strip(),
                          "quantity_t": d["quantity_t"], "value_kusd": d["value_kusd"], "source_kind": "customs",
                          "source": f"customs extract {name} (UN Comtrade format)", "assumption": False})
    chain = chain.groupby(["year", "hs6", "mineral", "partner_iso3"], as_index=False, sort=True).agg(
        partner_name=("partner_name", "first"), quantity_t=("quantity_t", lambda x: x.sum(min_count=1)),
        value_kusd=("value_kusd", "sum"), source_kind=("source_kind", "first"), source=("source", "first"),
        assumption=("assumption", "first"))
    return chain[CHAIN_COLUMNS], content


def _legacy_rows(df: pd.DataFrame, ref: ReferenceData, exclude_forms: tuple, name: str, problems: list) -> pd.DataFrame:
    """The per-mineral table (``IMPORT_COLUMNS``) over the codes of ``hs_map.csv``."""
    hmap = ref.hs_map.set_index("hs6")
    known_hs = df["hs6"].isin(hmap.index)
    if (~known_hs).any():
        codes = sorted(set(df.loc[~known_hs, "hs6"]))
        problems.append(f"{int((~known_hs).sum())} row(s) with HS code(s) not in hs_map.csv skipped "
                        f"({len(codes)} codes: {', '.join(codes[:25])}{', ...' if len(codes) > 25 else ''})")
    df = df[known_hs].copy()
    df["mineral"] = df["hs6"].map(hmap["mineral"])
    df["form"] = df["hs6"].map(hmap["form"])
    not_key = ~df["mineral"].isin(ref.minerals.index)
    if not_key.any():
        pairs = sorted(set(df.loc[not_key, "hs6"] + " -> " + df.loc[not_key, "mineral"]))
        problems.append(f"{int(not_key.sum())} row(s) mapped to names that are not mineral keys skipped ({'; '.join(pairs)})")
    excl = df["form"].isin(exclude_forms) & ~not_key
    if excl.any():
        codes = sorted(set(df.loc[excl, "hs6"]))
        problems.append(f"{int(excl.sum())} row(s) of excluded forms {list(exclude_forms)} skipped (HS {', '.join(codes)}); "
                        "pass exclude_forms=() to count them")
    df = df[~not_key & ~excl]
    if df.empty:
        return pd.DataFrame(columns=IMPORT_COLUMNS)
    g = df.groupby(["mineral", "year", "partner_iso3"], sort=True)
    out = g.agg(partner_name=("partner_name", "first"), quantity_t=("quantity_t", lambda s: s.sum(min_count=1)),
                value_kusd=("value_kusd", "sum"),
                n_rows_missing_quantity=("quantity_t", lambda s: int(s.isna().sum())),
                hs6_codes=("hs6", lambda s: ";".join(sorted(set(s))))).reset_index()
    out["source"] = f"customs extract {name} (UN Comtrade format)"
    return out[IMPORT_COLUMNS]


def with_imports(ref: ReferenceData, customs: CustomsImport) -> ReferenceData:
    """A copy of ``ref`` with the extract's figures in place of the bundled ones.

    * ``korea_imports`` (per mineral): all years of the minerals in ``customs.imports`` are
      replaced; other minerals keep the bundled rows.
    * the value chain (``ref.supply_chain.imports``): CODE BY CODE, every bundled row of an HS6
      code present in ``customs.chain`` is replaced by the extract's rows; other codes keep their
      BACI, mirror or published rows. Codes the bundle had no factor for get the extract's.

    The input ``ref`` is not changed.
    """
    present = set(customs.imports["mineral"])
    kept = ref.korea_imports[~ref.korea_imports["mineral"].isin(present)]
    add = customs.imports.copy()
    for c in add.columns.intersection(kept.columns):  # keep the bundled table's dtypes
        try:
            add[c] = add[c].astype(kept[c].dtype)
        except (TypeError, ValueError):
            pass
    new = pd.concat([kept, add], ignore_index=True) if len(add) else kept
    new = new[list(kept.columns) + [c for c in new.columns if c not in kept.columns]]
    out = dataclasses.replace(ref, korea_imports=new)
    sc = getattr(ref, "supply_chain", None)
    if sc is None or customs.chain is None or customs.chain.empty:
        return out
    codes = set(customs.chain["hs6"])
    kept_chain = sc.imports[~sc.imports["hs6"].isin(codes)]
    add_chain = customs.chain.copy()
    for c in add_chain.columns.intersection(kept_chain.columns):  # keep the bundled table's dtypes
        try:
            add_chain[c] = add_chain[c].astype(kept_chain[c].dtype)
        except (TypeError, ValueError):
            pass
    chain = pd.concat([kept_chain, add_chain], ignore_index=True)
    content = sc.hs_content
    if len(customs.content):
        extra = customs.content.reindex(columns=content.columns)
        content = pd.concat([content[~content.index.isin(extra.index)], extra])
        content.index.name = "hs6"
    return dataclasses.replace(out, supply_chain=dataclasses.replace(sc, imports=chain, hs_content=content))
