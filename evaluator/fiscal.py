"""Fiscal regimes of host countries and sub-national regions, and the fiscal lines of a mine.

A regime (``evaluator/data/fiscal_regimes.csv``, one row per region and mineral, ``*`` = the
region's default; every row with its law, source, date and assumption label) gives:

* the royalty basis, rate or bands and minimum (:data:`ROYALTY_BASES`);
* the income tax rate, how long losses are carried forward and what share of a year's taxable
  income they may offset;
* the tax depreciation method (:data:`DEPRECIATION_METHODS`);
* the withholding tax on dividends paid to a Korean parent under the relevant treaty;
* a default production tax credit (a share of operating costs).

Percentage depletion, where the law allows it, comes from ``depletion.csv`` by country and
mineral. An application names its ``fiscal_region`` (``AUS-WA``, ``USA-NV``, ``VNM``, ...);
when empty, the country's row flagged ``country_default`` is used, else the older per-country
tables (``royalties.csv``, ``countries.csv`` income tax). Whatever falls back to a global
default says so in a warning that names the fallback; nothing falls back silently.

The kernels below work on ``(n_projects, n_periods)`` arrays; the few that carry a state from
year to year (losses with a time limit or an offset cap, declining balance) loop over years
with every project at once, never over projects.

References
----------
.. [1] Otto, J. et al. (2006). *Mining Royalties: A Global Study of Their Impact on Investors,
   Government, and Civil Society*. World Bank (royalty bases: unit, ad valorem, profit-based,
   sliding scales).
.. [2] 26 U.S.C. 613 (percentage depletion, 50 % of taxable income limit); 26 U.S.C. 172
   (net operating loss deduction, 80 % limitation); 26 U.S.C. 45X (advanced manufacturing
   production credit: 10 % of production costs of applicable critical minerals).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluator.fiscal_tables import (  # the tables' columns, reading and checks (issue 26)
    DEPRECIATION_METHODS,
    INCENTIVE_STARTS,
    ROYALTY_BASES,
    FiscalDataError,
    RoyaltyBasis,
    _rates,
    load_depletion,
    load_fiscal_regimes,
    load_incentives,
    load_state_taxes,
    parse_bands,
)
from evaluator.messages import Joined, Message

__all__ = [
    "ROYALTY_BASES",
    "RoyaltyBasis",
    "DEPRECIATION_METHODS",
    "FiscalDataError",
    "load_fiscal_regimes",
    "load_depletion",
    "Regime",
    "resolve_regime",
    "parse_bands",
    "royalty",
    "depreciation",
    "percentage_depletion",
    "tax_base_after_losses",
    "load_state_taxes",
    "load_incentives",
    "income_tax_rate_by_period",
    "incentive_text",
    "with_incentive",
    "INCENTIVE_STARTS",
]

#: a loss-carry-forward period standing for "no time limit" [years]
UNLIMITED_YEARS = 10_000


@dataclass(frozen=True)
class Regime:
    """The fiscal terms that apply to one project, and where they came from.

    Rates are fractions; ``royalty_bands`` are (threshold, rate) pairs (threshold in USD/t for
    ``sliding_price``, a net/gross ratio for ``net_proceeds``); ``royalty_min_rate`` is a minimum
    royalty as a share of gross revenue per operating year (the last value repeats).
    ``loss_carry_years`` = :data:`UNLIMITED_YEARS` when losses never expire.
    """

    region: str
    royalty_basis: str
    royalty_rate: float
    royalty_bands: tuple[tuple[float, float], ...]
    royalty_top_rate_above_usd_m: float
    royalty_min_rate: tuple[float, ...]
    income_tax_rate: float
    loss_carry_years: int
    loss_offset_cap: float
    depreciation_method: str
    depreciation_rate: float
    depreciation_years: int | None
    depletion_rate: float
    depletion_cap: float
    withholding_rate: float
    tax_credit_share: float
    source: Message | Joined    # where the terms come from (a fiscal_regimes.csv row and its law, or the country tables)
    warning: Joined | str = ""  # what fell back to a default (messages; "" when nothing did)
    # issue 28: the national and the state (provincial) income tax, and a granted incentive
    national_income_tax_rate: float | None = None   # None: income_tax_rate is all national
    state_income_tax_rate: float = 0.0
    state_tax_deductible: bool = True
    incentive: str = ""
    tax_exempt_years: int = 0
    tax_reduced_years: int = 0
    tax_reduced_share: float = 1.0
    incentive_start: str = "first_production"
    incentive_source: str = ""

    @property
    def national_rate(self) -> float:
        """The national income tax rate [fraction]."""
        return self.income_tax_rate if self.national_income_tax_rate is None else self.national_income_tax_rate


def _pick(table: pd.DataFrame, key_col: str, key: str, mineral: str):
    """The (key, mineral) row, else the key's ``*`` row, else None (numpy masks: a pandas
    boolean filter costs about 0.3 ms a look-up)."""
    keys, minerals = table[key_col].to_numpy(), table["mineral"].to_numpy()
    for m in (mineral, "*"):
        hit = np.flatnonzero((keys == key) & (minerals == m))
        if len(hit):
            return table.iloc[int(hit[0])]
    return None


def _depletion(ref, iso3: str, mineral: str) -> tuple[float, float]:
    table = getattr(ref, "depletion", None)
    if table is None:
        return 0.0, 0.0
    row = _pick(table, "iso3", iso3, mineral)
    return (0.0, 0.0) if row is None else (float(row.depletion_rate), float(row.depletion_cap))


_CACHES: dict[int, tuple] = {}


def regime_cache(ref) -> dict:
    """A memo of :func:`resolve_regime` shared by the calls on the same reference tables (they
    are read-only by convention and cached by :func:`evaluator.reference.load_reference`); a
    new table object gets a new memo."""
    key = id(ref.royalties)
    hit = _CACHES.get(key)
    if hit is not None and hit[0]() is ref.royalties and hit[1] is getattr(ref, "fiscal_regimes", None):
        return hit[2]
    if len(_CACHES) > 16:
        _CACHES.clear()
    memo: dict = {}
    _CACHES[key] = (weakref.ref(ref.royalties), getattr(ref, "fiscal_regimes", None), memo)
    return memo


def resolve_regime(ref, app, scenario, cache: dict | None = None) -> Regime:
    """The regime of one application, with application overrides applied.

    Parameters
    ----------
    ref : evaluator.reference.ReferenceData
        With ``fiscal_regimes`` and ``depletion`` tables.
    app : models.application.Application
        ``fiscal_region`` (empty = the country's default), ``royalty_rate`` and
        ``income_tax_rate`` overrides, ``depreciation_years`` (turns depreciation straight-line
        over that period), ``production_tax_credit_share``.
    scenario : models.scenario.Scenario
        ``depreciation_years_default`` for straight line where the regime gives no period.
    cache : dict, optional
        Memo of the table look-ups per (region, country, mineral), shared across calls.

    Returns
    -------
    Regime
        ``warning`` names any fallback: a ``fiscal_region`` not in the table (the country's
        regime is used instead), or a country without a royalty or tax row (the labelled global
        default of ``royalties.csv`` / ``tax_overrides.csv`` is used).

    Notes
    -----
    A ``royalty_rate`` override turns the royalty into an ad valorem rate on net revenue (the
    field's documented meaning), whatever the regime's basis.
    """
    incentive = getattr(app, "fiscal_incentive", "") or ""
    full_key = (app.fiscal_region, app.country_iso3, app.mineral, app.royalty_rate, app.income_tax_rate,
                app.depreciation_years, app.production_tax_credit_share, scenario.depreciation_years_default, incentive)
    if cache is not None and full_key in cache:
        return cache[full_key]
    key = (app.fiscal_region, app.country_iso3, app.mineral, app.royalty_rate is None, app.income_tax_rate is None)
    if cache is None or key not in cache:
        base = _base_regime(ref, app)
        if cache is not None:
            cache[key] = base
    else:
        base = cache[key]
    regime, warnings = base
    dep_years = app.depreciation_years if app.depreciation_years is not None else \
        (regime.depreciation_years or scenario.depreciation_years_default)
    changes = dict(depreciation_years=int(dep_years), warning=Joined(tuple(warnings), "; ") if warnings else "")
    if app.depreciation_years is not None:
        changes.update(depreciation_method="sl")
    if app.royalty_rate is not None:
        changes.update(royalty_basis=RoyaltyBasis.NSR.key, royalty_rate=float(app.royalty_rate), royalty_bands=(), royalty_min_rate=())
    if app.income_tax_rate is not None:  # the applicant's rate replaces national and state tax together
        changes.update(income_tax_rate=float(app.income_tax_rate), national_income_tax_rate=None,
                       state_income_tax_rate=0.0)
    if app.production_tax_credit_share is not None:
        changes.update(tax_credit_share=float(app.production_tax_credit_share))
    if incentive:
        more, warning = _incentive(ref, app, incentive)
        changes.update(more)
        if warning:
            changes["warning"] = "; ".join(filter(None, (changes["warning"], warning)))
    out = _replace(regime, **changes)
    if cache is not None:
        cache[full_key] = out
    return out


def regime_row(ref, app) -> tuple[pd.Series | None, list[str]]:
    """The ``fiscal_regimes.csv`` row that applies to an application (its ``fiscal_region``, else
    its country's ``country_default`` region; the mineral's row, else the region's ``*`` row),
    or None when the per-country tables apply; and the warnings of the look-up."""
    table = getattr(ref, "fiscal_regimes", None)
    warnings = []
    row, region = None, app.fiscal_region
    if table is not None and region:
        row = _pick(table, "region", region, app.mineral)
        if row is None:
            warnings.append(Message("fiscal_region_unknown", {"region": region, "iso3": app.country_iso3}))
    if table is not None and row is None:
        hit = np.flatnonzero((table["iso3"].to_numpy() == app.country_iso3) & table["country_default"].to_numpy())
        if len(hit):
            row = _pick(table, "region", table["region"].iloc[int(hit[0])], app.mineral)
    return row, warnings


def _base_regime(ref, app) -> tuple[Regime, list[str]]:
    """The table's regime for the application's region, country and mineral, and warnings."""
    from evaluator import reference as refmod  # the per-country tables

    row, warnings = regime_row(ref, app)
    if row is not None:
        return _regime_from_row(row, ref, app), warnings
    regime, more = _country_tables_regime(ref, app, refmod)
    return regime, warnings + more


def _incentive(ref, app, key: str) -> tuple[dict, str]:
    """The Regime fields of the incentive ``key`` of ``fiscal_incentives.csv`` granted to
    ``app``, or a warning when the table lacks it or it belongs to another country (the
    incentive is then not applied)."""
    table = getattr(ref, "fiscal_incentives", None)
    key = key.strip().upper()
    if table is None or key not in table.index:
        return {}, f"fiscal incentive {key} is not in fiscal_incentives.csv: not applied"
    row = table.loc[key]
    if row.iso3 != app.country_iso3:
        return {}, f"fiscal incentive {key} is of {row.iso3}, not of {app.country_iso3}: not applied"
    return dict(incentive=key, tax_exempt_years=int(row.income_tax_exempt_years),
                tax_reduced_years=int(row.reduced_rate_years), tax_reduced_share=float(row.reduced_rate_share),
                incentive_start=str(row.start), incentive_source=f"fiscal_incentives.csv {key}: {row.law}"), ""


def incentive_text(regime: Regime) -> Message | str:
    """The granted incentive in words (a :class:`evaluator.messages.Message`: its key, periods
    and start; ``""`` when none)."""
    if not regime.incentive:
        return ""
    parts = []
    if regime.tax_exempt_years:
        parts.append(Message("fiscal_incentive_exempt", {"years": regime.tax_exempt_years}))
    if regime.tax_reduced_years:
        parts.append(Message("fiscal_incentive_reduced", {"share": f"{regime.tax_reduced_share:.0%}",
                                                          "years": regime.tax_reduced_years}))
    periods = Message("fiscal_incentive_then", {"first": parts[0], "then": parts[1]}) if len(parts) == 2 else Joined(tuple(parts))
    return Message("fiscal_incentive", {"incentive": regime.incentive, "periods": periods, "start": regime.incentive_start})


def with_incentive(source: Message | Joined | str, regime: Regime) -> Message | Joined | str:
    """An income tax rate's source, with the granted incentive and its law when there is one."""
    if not regime.incentive:
        return source
    return Joined((source, Message("src_incentive", {"incentive": incentive_text(regime),
                                                     "source": regime.incentive_source})), "; ")


def income_tax_rate_by_period(national, state, deductible, exempt_years, reduced_years, reduced_share, start_col, T):
    """Income tax rate per project and period with a tax holiday or a reduced rate [fraction].

    Parameters
    ----------
    national, state : numpy.ndarray, shape (n,)
        National and state (provincial) income tax rates [fraction].
    deductible : numpy.ndarray of bool, shape (n,)
        Whether the state tax is deducted from the national taxable income.
    exempt_years, reduced_years : numpy.ndarray of int, shape (n,)
        Years without national income tax, then years at ``reduced_share`` of the national rate.
    reduced_share : numpy.ndarray, shape (n,)
    start_col : numpy.ndarray of int, shape (n,)
        Model column where the exemption starts.
    T : int
        Periods.

    Returns
    -------
    numpy.ndarray, shape (n, T)
        ``s + f_t (1 - s)`` where the state tax is deductible, else ``s + f_t``, with ``f_t`` the
        national rate times 0 in the exempt years, ``reduced_share`` in the reduced years and 1
        otherwise. The combined rate of a deductible state tax equals taxing the national base
        after deducting the state tax: ``f (1 - s) + s``.
    """
    k = np.arange(T)[None, :] - start_col[:, None]
    ex = exempt_years[:, None]
    mult = np.where((k >= 0) & (k < ex), 0.0,
                    np.where((k >= ex) & (k < ex + reduced_years[:, None]), reduced_share[:, None], 1.0))
    f = national[:, None] * mult
    s = state[:, None]
    return np.where(deductible[:, None], s + f * (1.0 - s), s + f)


def _replace(regime: Regime, **changes) -> Regime:
    from dataclasses import replace
    return replace(regime, **changes)


def _regime_from_row(row, ref, app) -> Regime:
    dep_rate, dep_cap = _depletion(ref, row.iso3, app.mineral)
    years = row.loss_carry_years
    national = float(row.income_tax_rate)
    states = getattr(ref, "state_income_taxes", None)
    state, deductible, state_src = 0.0, True, None
    regime_src = Message("src_fiscal_regime", {"region": row.region, "mineral": row.mineral, "law": row.law})
    if states is not None and row.region in states.index:
        st = states.loc[row.region]
        state, deductible = float(st.state_income_tax_rate), bool(st.deductible_from_national)
        state_src = Message("src_state_income_tax_deductible" if deductible else "src_state_income_tax",
                            {"rate": f"{state:.3%}", "region": row.region, "law": st.law})
    combined = state + national * (1.0 - state) if deductible else state + national
    return Regime(
        region=row.region,
        royalty_basis=row.royalty_basis,
        royalty_rate=float(row.royalty_rate),
        royalty_bands=parse_bands(row.royalty_bands),
        royalty_top_rate_above_usd_m=float(row.royalty_top_rate_above_usd_m) if pd.notna(row.royalty_top_rate_above_usd_m) else np.inf,
        royalty_min_rate=_rates(row.royalty_min_rate),
        income_tax_rate=combined,
        loss_carry_years=UNLIMITED_YEARS if pd.isna(years) else int(years),
        loss_offset_cap=float(row.loss_offset_cap),
        depreciation_method=row.depreciation_method,
        depreciation_rate=float(row.depreciation_rate) if pd.notna(row.depreciation_rate) else 0.0,
        depreciation_years=int(row.depreciation_years) if pd.notna(row.depreciation_years) else None,
        depletion_rate=dep_rate,
        depletion_cap=dep_cap,
        withholding_rate=float(row.withholding_korea_rate),
        tax_credit_share=float(row.production_tax_credit_share),
        source=(Joined((regime_src, state_src), "; ") if state_src else regime_src),
        national_income_tax_rate=national if state else None,
        state_income_tax_rate=state,
        state_tax_deductible=deductible,
    )


def _country_tables_regime(ref, app, refmod) -> tuple[Regime, list[str]]:
    """Ad valorem royalty on net revenue and flat income tax from the per-country tables."""
    warnings = []
    roy = refmod.royalty_row(ref, app.country_iso3, app.mineral)
    if roy["iso3"] == refmod.DEFAULT_KEY and app.royalty_rate is None:
        warnings.append(Message("fiscal_no_royalty_row", {"iso3": app.country_iso3,
                                                          "rate": f"{float(roy['royalty_rate']):.1%}"}))
    iso3 = app.country_iso3
    has_tax = (iso3 in ref.countries.index and pd.notna(ref.countries.at[iso3, "income_tax_rate"])) or \
        refmod._first_match(ref.tax_overrides, iso3, app.mineral) is not None
    tax = refmod.income_tax_rate(ref, iso3, app.mineral)
    if not has_tax and app.income_tax_rate is None:
        warnings.append(Message("fiscal_no_income_tax", {"iso3": iso3, "rate": f"{tax:.0%}"}))
    dep_rate, dep_cap = 0.0, 0.0  # the per-country tables carry no depletion (today's model)
    regime = Regime(
        region=iso3, royalty_basis=RoyaltyBasis.NSR.key, royalty_rate=float(roy["royalty_rate"]), royalty_bands=(),
        royalty_top_rate_above_usd_m=np.inf, royalty_min_rate=(), income_tax_rate=tax,
        loss_carry_years=UNLIMITED_YEARS, loss_offset_cap=1.0, depreciation_method="sl", depreciation_rate=0.0,
        depreciation_years=None, depletion_rate=dep_rate, depletion_cap=dep_cap, withholding_rate=0.0,
        tax_credit_share=0.0, source=Message("src_country_default", {"iso3": iso3}),
    )
    return regime, warnings


# ----------------------------------------------------------------------------------------------
# kernels: (n, T) arrays, vectorised over projects
# ----------------------------------------------------------------------------------------------
def _band_rate(variable, thresholds, rates):
    """Rate of the highest threshold not above ``variable``, per element; thresholds (n, B)
    padded with +inf, rates (n, B)."""
    idx = (variable[:, :, None] >= thresholds[:, None, :]).sum(axis=2) - 1
    return np.take_along_axis(rates, np.clip(idx, 0, rates.shape[1] - 1), axis=1) * (idx >= 0)


def royalty(basis_code, rate, thresholds, band_rates, top_above_usd_m, min_rate_by_year, *, gross, revenue,
            opex, capital, depreciation, price, operating, op_index):
    """Royalty per project and period [USD m].

    Parameters
    ----------
    basis_code : numpy.ndarray of int, shape (n,)
        A :class:`RoyaltyBasis` per project.
    rate : numpy.ndarray, shape (n,)
        Flat rate [fraction] (gross, nsr, net_value; the top rate for net_proceeds).
    thresholds, band_rates : numpy.ndarray, shape (n, B)
        Bands (threshold padded with +inf) for sliding_price [USD/t] and net_proceeds [ratio].
    top_above_usd_m : numpy.ndarray, shape (n,)
        net_proceeds: the flat ``rate`` applies when the base exceeds this [USD m] (inf = never).
    min_rate_by_year : numpy.ndarray, shape (n, M)
        Minimum royalty as a share of gross revenue per operating year, last column repeating
        (zeros = none).
    gross, revenue, opex, capital, depreciation, price : numpy.ndarray, shape (n, T)
        Gross revenue, revenue net of off-site costs, operating costs, capital spent [USD m];
        tax depreciation [USD m]; the price of the year [USD/t].
    operating : numpy.ndarray of bool, shape (n, T)
    op_index : numpy.ndarray of int, shape (n, T)
        0-based operating year.

    Returns
    -------
    numpy.ndarray
        Royalty [USD m], shape (n, T).
    """
    code = basis_code[:, None]
    r = rate[:, None]
    out = r * revenue if not (basis_code == RoyaltyBasis.GROSS).any() else \
        np.where(code == RoyaltyBasis.GROSS, r * gross, r * revenue)
    if (basis_code == RoyaltyBasis.NET_VALUE).any():
        value = tax_base_after_losses(np.where(operating | (op_index < 0), revenue - opex - capital, 0.0))
        out = np.where(code == RoyaltyBasis.NET_VALUE, r * value, out)
    if (basis_code == RoyaltyBasis.NET_PROCEEDS).any():
        base = np.maximum(revenue - opex - depreciation, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(gross > 0, base / np.where(gross > 0, gross, 1.0), 0.0)
        banded = np.where(base > top_above_usd_m[:, None], r, _band_rate(ratio, thresholds, band_rates))
        out = np.where(code == RoyaltyBasis.NET_PROCEEDS, banded * base, out)
    if (basis_code == RoyaltyBasis.SLIDING_PRICE).any():
        out = np.where(code == RoyaltyBasis.SLIDING_PRICE, _band_rate(price, thresholds, band_rates) * gross, out)
    if min_rate_by_year.any():
        m = np.take_along_axis(min_rate_by_year, np.clip(op_index, 0, min_rate_by_year.shape[1] - 1), axis=1)
        out = np.maximum(out, np.where(operating, m * gross, 0.0))
    return np.where(operating, out, 0.0)


def depreciation(method_code, years, db_rate, additions, ore, t, lp):
    """Tax depreciation per project and period [USD m]; the book value left at the last
    operating column ``lp`` is written off there, so the total equals the capital placed.

    Parameters
    ----------
    method_code : numpy.ndarray of int, shape (n,)
        Index into :data:`DEPRECIATION_METHODS`.
    years : numpy.ndarray of int, shape (n,)
        Straight-line period [years].
    db_rate : numpy.ndarray, shape (n,)
        Declining-balance rate [fraction of the pool a year].
    additions : numpy.ndarray, shape (n, T)
        Capital placed in service per column [USD m].
    ore : numpy.ndarray, shape (n, T)
        Ore processed [Mt] (units-of-production basis).
    t : numpy.ndarray, shape (1, T)
        Column index.
    lp : numpy.ndarray of int, shape (n,)
        Last operating column.

    Notes
    -----
    Straight line: each vintage ``s`` gives ``add_s / N`` in columns ``s .. s + N - 1``.
    Declining balance: pool ``B_t = (1 - r)(B_{t-1} + add_t)``, depreciation ``r (B_{t-1} +
    add_t)``, i.e. ``B_t = sum_{s<=t} add_s (1 - r)^(t-s+1)`` (computed as a cumulative sum
    scaled by ``(1 - r)^-s``; ``r <= 0.6`` keeps it inside float range for 100-year lives).
    Units of production: a vintage ``s`` is written off in proportion to the ore of each year
    over the ore left from ``s``: ``dep_t = ore_t sum_{s<=t} add_s / R_s`` with ``R_s`` the ore
    processed from ``s`` on.
    """
    n, T = additions.shape
    N = np.maximum(years.astype(int), 1)[:, None]
    cum_add = np.cumsum(additions, axis=1)
    lag = t - N
    cum_lag = np.where(lag >= 0, np.take_along_axis(cum_add, np.clip(lag, 0, T - 1), axis=1), 0.0)
    dep = (cum_add - cum_lag) / N
    code = method_code[:, None]
    if (method_code == 1).any():
        keep = (1.0 - db_rate)[:, None]
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            scale = keep ** -t.astype(float)
            pool = keep ** (t + 1.0) * np.cumsum(additions * scale, axis=1)
        pool = np.where(np.isfinite(pool), pool, 0.0)
        opening = np.concatenate([np.zeros((n, 1)), pool[:, :-1]], axis=1)
        dep = np.where(code == 1, opening + additions - pool, dep)
    if (method_code == 2).any():
        remaining = np.cumsum(ore[:, ::-1], axis=1)[:, ::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            per_t = np.where(remaining > 0, additions / np.where(remaining > 0, remaining, 1.0), 0.0)
        dep = np.where(code == 2, ore * np.cumsum(per_t, axis=1), dep)
    dep = np.where(t <= lp[:, None], dep, 0.0)
    rows = np.arange(n)
    book_left = cum_add[rows, lp] - np.cumsum(dep, axis=1)[rows, lp]
    dep[rows, lp] += np.maximum(book_left, 0.0)
    return dep


def percentage_depletion(rate, cap, gross_income, taxable_before_depletion, operating):
    """Percentage depletion [USD m]: ``min(rate x gross income, cap x taxable income before
    depletion)``, never negative, in operating years (26 U.S.C. 613(a): 50 % of the taxable
    income from the property computed without the depletion deduction)."""
    if not np.any(rate):
        return np.zeros(np.shape(gross_income))
    d = np.minimum(rate[:, None] * np.maximum(gross_income, 0.0),
                   cap[:, None] * np.maximum(taxable_before_depletion, 0.0))
    return np.where(operating, d, 0.0)


def tax_base_after_losses(income, carry_years=None, offset_cap=None):
    """Taxable income after losses carried forward (no carry-back), per period [USD m].

    Parameters
    ----------
    income : numpy.ndarray, shape (n, T)
        Taxable income before losses [USD m].
    carry_years : numpy.ndarray of int, shape (n,), optional
        A loss of year ``s`` may be used in years ``s + 1 .. s + carry_years`` (default: no
        limit).
    offset_cap : numpy.ndarray, shape (n,), optional
        Share of a year's positive income that losses may offset (default 1; US 0.8).

    Returns
    -------
    numpy.ndarray
        Taxable income after losses (>= 0).

    Notes
    -----
    Without a time limit or cap the cumulative income taxed up to ``t`` is the running maximum
    of the cumulative pre-loss income floored at zero, so the base is its first difference
    (no loop). Otherwise losses are kept by vintage and used oldest first, looping over years
    with every project at once.
    """
    n, T = income.shape
    limited = np.zeros(n, bool)
    if carry_years is not None:
        limited |= np.asarray(carry_years) < T
    if offset_cap is not None:
        limited |= np.asarray(offset_cap) < 1.0
    cum = np.cumsum(income, axis=-1)
    taxed_cum = np.maximum.accumulate(np.maximum(cum, 0.0), axis=-1)
    out = np.diff(taxed_cum, axis=-1, prepend=0.0)
    if limited.any():
        rows = np.flatnonzero(limited)
        years = np.full(len(rows), T) if carry_years is None else np.asarray(carry_years)[rows]
        cap = np.ones(len(rows)) if offset_cap is None else np.asarray(offset_cap, dtype=float)[rows]
        out[rows] = _losses_by_vintage(income[rows], years, cap)
    return out


def _losses_by_vintage(income, years, cap):
    m, T = income.shape
    pool = np.zeros((m, T))
    base = np.zeros((m, T))
    s = np.arange(T)[None, :]
    for t in range(T):
        x = income[:, t]
        usable = np.where((s < t) & (s >= t - years[:, None]), pool, 0.0)
        want = cap * np.maximum(x, 0.0)
        used_total = np.minimum(want, usable.sum(axis=1))
        before = np.cumsum(usable, axis=1) - usable            # losses of older vintages
        used = np.clip(used_total[:, None] - before, 0.0, usable)
        pool -= used
        pool[:, t] = np.maximum(-x, 0.0)
        base[:, t] = np.maximum(x, 0.0) - used_total
    return base
