"""Annual unlevered cash-flow model of a mine, vectorised over projects.

Every array has one row per project and one column per period: column 0 holds flows at the
valuation date (start of model year 1), column ``t`` the flows at the end of model year ``t``
(calendar year ``scenario.first_year + t - 1``). Money is in real US$ millions, volumes in
tonnes of the mineral's priced product (``minerals.csv`` ``product``).

Model (DESIGN.md, "Cash flow")::

    ore [t]            = throughput x ramp-up (or the applicant's schedule)
    product [t]        = ore x grade (per operating year when a grade schedule is given)
                         x recovery x product_factor
    payable [t]        = product x payability; Korea's offtake = payable x korea_offtake_share
    gross revenue      = payable x price(year)  (+ by-product credits, priced the same way)
    revenue            = gross revenue x (1 - offsite_costs_share)
    royalty            = by the fiscal regime (evaluator/fiscal.py): rate x gross or net revenue,
                         a profit-based or price-banded royalty, at least a minimum
    opex               = ore x opex_usd_per_t_ore + fixed opex       (operating years)
    EBITDA             = revenue - royalty - opex
    depreciation       = straight line per vintage, declining balance or units of production;
                         the book value left is written off in the last operating year
    taxable income     = EBITDA - depreciation - percentage depletion, after losses carried
                         forward (with the regime's time limit and offset cap)
    tax                = income_tax_rate x taxable income (never negative)
    tax credit         = production tax credit share x opex (refundable, e.g. US 45X)
    pre-tax FCF        = EBITDA - capex - sustaining capex - closure - delta WC
    free cash flow     = pre-tax FCF - tax + tax credit
    CFADS              = EBITDA - tax + tax credit - sustaining capex - delta WC
    Korean equity flow = ownership x (FCF - dividend withholding x max(FCF, 0))

Prices: the scenario's deck (flat per case, overrides) or its ``price_path_usd_per_t`` (calendar
year -> price, linear between the years given, flat outside); ``price_usd_per_t`` holds model
year 1's price and ``price_factor`` the path relative to it per column.

Timing: construction years are model years ``1..c``; the initial capex is spread evenly over
them (end-of-year flows); with ``c = 0`` (already built) it sits in column 0. A
``capex_schedule_usd_m`` replaces that spread: the amount of model year ``y`` is spent in column
``y``; what is spent up to first production is placed in service then, later spending
(expansions) when spent. Production runs from year ``c + 1`` for ``operating_years``; closure is
paid the year after the last one, when the working capital is also released. Closure is not
tax-deductible here: with no loss carry-back a deduction after the last revenue year would be
worthless anyway. Money fields in another ``currency`` are converted to USD first
(:func:`in_usd`).

References
----------
.. [1] Rudenno, V. (2012). *The Mining Valuation Handbook*, 4th ed., Wiley, ch. 6-8
   (mine cash-flow structure, royalties, depreciation, working capital).
.. [2] World Gold Council (2018). *Guidance Note on Non-GAAP Metrics: All-in Sustaining
   Costs and All-in Costs* (AISC with by-product credits).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator import fiscal
from evaluator import reference as refmod
from evaluator.errors import InputError
from evaluator.messages import Message
from models.application import Application
from models.scenario import Scenario

#: Annual series held by a :class:`CashflowTable`, in display order, with their units.
SERIES = {
    "ore_mt": "Mt",
    "product_t": "t",
    "payable_t": "t",
    "korea_offtake_t": "t",
    "gross_revenue_usd_m": "USD m",
    "offsite_costs_usd_m": "USD m",
    "revenue_usd_m": "USD m",
    "byproduct_revenue_usd_m": "USD m",
    "royalty_usd_m": "USD m",
    "opex_usd_m": "USD m",
    "ebitda_usd_m": "USD m",
    "depreciation_usd_m": "USD m",
    "depletion_usd_m": "USD m",
    "taxable_income_usd_m": "USD m",
    "tax_usd_m": "USD m",
    "tax_credit_usd_m": "USD m",
    "initial_capex_usd_m": "USD m",
    "sustaining_capex_usd_m": "USD m",
    "closure_usd_m": "USD m",
    "working_capital_change_usd_m": "USD m",
    "pretax_fcf_usd_m": "USD m",
    "fcf_usd_m": "USD m",
    "cfads_usd_m": "USD m",
    "korea_equity_fcf_usd_m": "USD m",
}


@dataclass(frozen=True)
class ProjectInputs:
    """Per-project parameter vectors (one entry per project) resolved from applications,
    the host country's fiscal defaults and the scenario's price deck.

    ``sources`` records, per project and parameter, where the value came from, as an
    :class:`evaluator.messages.Message` (``src_applicant``, ``src_country_default``,
    ``src_price_deck``, ``src_fiscal_regime`` ...: worded in the reader's language by the catalogue).
    """

    ids: tuple[str, ...]
    construction_years: np.ndarray
    operating_years: np.ndarray
    ore_profile_mt: np.ndarray          # (n, Lmax) ore per operating year
    grade_fraction: np.ndarray
    recovery: np.ndarray
    payability: np.ndarray
    product_factor: np.ndarray          # t product per t contained grade basis
    price_usd_per_t: np.ndarray         # per t of product
    offsite_costs_share: np.ndarray
    royalty_rate: np.ndarray
    income_tax_rate: np.ndarray
    depreciation_years: np.ndarray
    initial_capex_usd_m: np.ndarray
    sustaining_capex_usd_m_per_year: np.ndarray
    opex_usd_per_t_ore: np.ndarray
    fixed_opex_usd_m_per_year: np.ndarray
    closure_cost_usd_m: np.ndarray
    working_capital_share: np.ndarray
    korea_offtake_share: np.ndarray
    byproduct_rows: np.ndarray          # project index of each by-product
    byproduct_coef_usd_per_t_ore: np.ndarray  # revenue per t ore of each by-product
    sources: pd.DataFrame = field(repr=False, default=None)
    # issue 16 (every array has one row per project, so that tiling by rows stays valid)
    grade_profile_fraction: np.ndarray = None   # (n, Lmax) grade per operating year [fraction]
    capex_schedule_usd_m: np.ndarray = None     # (n, S) capital per model year 1..S [USD m]
    has_capex_schedule: np.ndarray = None       # (n,) True where the schedule replaces initial capex
    korean_ownership_share: np.ndarray = None   # (n,) [fraction]
    dividend_withholding_rate: np.ndarray = None  # (n,) on dividends to Korea [fraction]
    # fiscal regime (evaluator/fiscal.py), one row per project
    royalty_basis_code: np.ndarray = None       # (n,) fiscal.RoyaltyBasis codes
    royalty_band_threshold: np.ndarray = None   # (n, B) +inf padded
    royalty_band_rate: np.ndarray = None        # (n, B)
    royalty_top_rate_above_usd_m: np.ndarray = None  # (n,)
    royalty_min_rate_by_year: np.ndarray = None  # (n, M) share of gross revenue per operating year
    loss_carry_years: np.ndarray = None         # (n,) int
    loss_offset_cap: np.ndarray = None          # (n,) share of taxable income losses may offset
    depreciation_method_code: np.ndarray = None  # (n,) index into fiscal.DEPRECIATION_METHODS
    depreciation_rate: np.ndarray = None        # (n,) declining-balance rate
    depletion_rate: np.ndarray = None           # (n,) share of gross income
    depletion_cap_share: np.ndarray = None      # (n,) share of taxable income before depletion
    tax_credit_share: np.ndarray = None         # (n,) refundable credit as share of opex
    price_factor: np.ndarray = None             # (n, P) price path / price in year 1, per column
    byproduct_price_factor: np.ndarray = None   # (n, K, P) the same for the k-th by-product of a project
    construction_months: np.ndarray = None      # (n,) [months]; None = whole construction years
    # issue 28: national and state income tax (income_tax_rate is their combination) and a granted incentive
    national_income_tax_rate: np.ndarray = None  # (n,) [fraction]
    state_income_tax_rate: np.ndarray = None     # (n,) [fraction]
    state_tax_deductible: np.ndarray = None      # (n,) bool
    tax_exempt_years: np.ndarray = None          # (n,) int: years without national income tax
    tax_reduced_years: np.ndarray = None         # (n,) int: then years at tax_reduced_share of it
    tax_reduced_share: np.ndarray = None         # (n,) [fraction]
    tax_incentive_start_code: np.ndarray = None  # (n,) index into fiscal.INCENTIVE_STARTS

    @property
    def n(self) -> int:
        return len(self.ids)


class PriceDeckError(InputError):
    """An uploaded price deck breaks a rule; the message names the row, column and rule."""


def price_path_factors(path: dict, first_year: int, n_columns: int) -> tuple[float, np.ndarray]:
    """Price at model year 1 and the path relative to it, per model column.

    Parameters
    ----------
    path : dict of int to float
        Calendar year -> price [USD/t]; linear between the years given, flat before the first
        and after the last (``numpy.interp``).
    first_year : int
        Calendar year of model year 1 (column ``t`` is year ``first_year - 1 + t``).
    n_columns : int
        Columns wanted; the last one holds the price of every later year.

    Returns
    -------
    base_usd_per_t : float
        Price in ``first_year`` [USD/t].
    factor : numpy.ndarray
        ``price(year_t) / base`` for ``t = 0 .. n_columns - 1`` [-].
    """
    years = np.array(sorted(path), dtype=float)
    prices = np.array([path[y] for y in sorted(path)], dtype=float)
    cal = first_year - 1 + np.arange(n_columns, dtype=float)
    base = float(np.interp(first_year, years, prices))
    return base, np.interp(cal, years, prices) / base


def price_deck_from_frame(frame: pd.DataFrame) -> dict[str, dict[int, float]]:
    """A scenario's ``price_path_usd_per_t`` from an uploaded table.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``mineral``, ``year`` (calendar year) and ``price_usd_per_t`` [USD/t product],
        one row per mineral and year (e.g. a study's price deck).

    Returns
    -------
    dict
        ``{mineral: {year: price}}``.

    Raises
    ------
    PriceDeckError
        Missing column, non-numeric or non-positive price, a year that is not a whole calendar
        year, or a (mineral, year) given twice; the message names the row (1 = first data row).
    """
    missing = [c for c in ("mineral", "year", "price_usd_per_t") if c not in frame.columns]
    if missing:
        raise PriceDeckError(f"price deck: column(s) {', '.join(missing)} missing (need mineral, year, price_usd_per_t)")
    from models.application import NumberError, parse_number
    from models.scenario import known_minerals

    minerals = known_minerals()
    out: dict[str, dict[int, float]] = {}
    for row, (m, y, p) in enumerate(zip(frame["mineral"], frame["year"], frame["price_usd_per_t"]), start=1):
        mineral = str(m).strip().lower().replace(" ", "_")
        if mineral not in minerals:  # a misspelt mineral would be accepted and never used
            raise PriceDeckError(f"price deck row {row}: unknown mineral {str(m)[:40]!r} "
                                 "(the keys of evaluator/data/minerals.csv, e.g. lithium, rare_earths)")
        try:  # the input number grammar of the applications (README): no decimal comma, no NaN
            year_f, price = parse_number(y), parse_number(p)
        except NumberError as exc:
            raise PriceDeckError(f"price deck row {row}: year and price_usd_per_t must be numbers "
                                 f"({str(y)[:40]!r}, {str(p)[:40]!r}): {exc}") from None
        if year_f != round(year_f) or not 1900 <= year_f <= 2200:
            raise PriceDeckError(f"price deck row {row}: year must be a whole calendar year, got {y!r}")
        if not price > 0:
            raise PriceDeckError(f"price deck row {row}: price_usd_per_t must be positive, got {p!r}")
        if int(year_f) in out.setdefault(mineral, {}):
            raise PriceDeckError(f"price deck row {row}: {mineral} {int(year_f)} given twice")
        out[mineral][int(year_f)] = price
    return out


def _price(ref, mineral: str, scenario: Scenario, basket=()) -> tuple[float, str]:
    """Flat price of the scenario's deck [USD/t] (paths: :func:`_price_path`)."""
    if mineral in scenario.price_overrides_usd_per_t:
        return float(scenario.price_overrides_usd_per_t[mineral]), Message("src_scenario_override")
    if mineral == "rare_earths":
        shares = dict(basket) if basket else None
        code = "src_price_deck_applicant_basket" if basket else "src_price_deck_default_basket"
        return (refmod.ree_basket_price_usd_per_t(ref, shares, scenario.price_case),
                Message(code, {"case": scenario.price_case}))
    return refmod.price_usd_per_t(ref, mineral, scenario.price_case), Message("src_price_deck", {"case": scenario.price_case})


def _price_path(ref, mineral: str, scenario: Scenario, basket, n_columns: int) -> tuple[float, np.ndarray, str]:
    """Price in model year 1 [USD/t], the path relative to it per column, and its source."""
    if mineral in scenario.price_path_usd_per_t:
        base, factor = price_path_factors(scenario.price_path_usd_per_t[mineral], scenario.first_year, n_columns)
        return base, factor, Message("src_scenario_price_path")
    price, src = _price(ref, mineral, scenario, basket)
    return price, np.ones(1), src


class CurrencyError(InputError):
    """An application states a currency with no rate; the message names the application."""


#: money fields converted to USD when an application states another ``currency``
MONEY_FIELDS = ("initial_capex_usd_m", "sustaining_capex_usd_m_per_year", "opex_usd_per_t_ore",
                "fixed_opex_usd_m_per_year", "closure_cost_usd_m", "total_project_cost_usd_m",
                "senior_debt_usd_m", "study_npv_usd_m", "study_price_usd_per_t", "study_initial_capex_usd_m",
                "applicant_investment_usd_m")


def usd_per_unit(currency: str, scenario: Scenario, ref) -> float:
    """USD per unit of ``currency``: the scenario's ``fx_usd_per_unit``, KRW at its
    ``fx_krw_per_usd``, else ``evaluator/data/fx_rates.csv``.

    Raises
    ------
    CurrencyError
        When no rate is known.
    """
    cur = currency.upper()
    if cur in scenario.fx_usd_per_unit:
        return float(scenario.fx_usd_per_unit[cur])
    if cur == "KRW":
        return 1.0 / scenario.fx_krw_per_usd
    table = getattr(ref, "fx_rates", None)
    if table is not None and cur in table.index:
        return float(table.at[cur, "usd_per_unit"])
    raise CurrencyError(f"no exchange rate for {cur} (scenario fx_usd_per_unit or evaluator/data/fx_rates.csv)")


def in_usd(app: Application, scenario: Scenario, ref) -> Application:
    """The application with its money fields (:data:`MONEY_FIELDS`, ``capex_schedule_usd_m``)
    converted from its ``currency`` to USD at the scenario's rate; KRW fields are left alone.

    Raises
    ------
    CurrencyError
        Naming the application and the field when the currency has no rate.
    """
    if app.currency == "USD":
        return app
    try:
        k = usd_per_unit(app.currency, scenario, ref)
    except CurrencyError as exc:
        raise CurrencyError(f"{app.id}: currency = {app.currency!r}: {exc}") from None
    changes = {f: getattr(app, f) * k for f in MONEY_FIELDS if getattr(app, f) is not None}
    changes["capex_schedule_usd_m"] = tuple(x * k for x in app.capex_schedule_usd_m)
    changes["study_by_product_prices"] = tuple((m, p * k) for m, p in app.study_by_product_prices)
    return dataclasses.replace(app, currency="USD", **changes)


def _memo(fn):
    cache: dict = {}

    def call(*key):
        if key not in cache:
            cache[key] = fn(*key)
        return cache[key]

    return call


def resolve_inputs(apps: Sequence[Application], scenario: Scenario, ref) -> ProjectInputs:
    """Turn applications into parameter vectors, filling fiscal defaults from the host country.

    Parameters
    ----------
    apps : sequence of Application
    scenario : Scenario
        Price case and overrides, default depreciation period.
    ref : evaluator.reference.ReferenceData

    Returns
    -------
    ProjectInputs
    """
    apps = [in_usd(a, scenario, ref) for a in apps]
    n = len(apps)
    lmax = max((a.operating_years for a in apps), default=1)
    # reference look-ups repeat across projects (few countries x minerals): memoise per call
    n_cols = int(max((a.construction_years + a.operating_years for a in apps), default=1)) + 2
    last_path_year = max((max(p) for p in scenario.price_path_usd_per_t.values() if p), default=0)
    n_cols = max(n_cols, last_path_year - scenario.first_year + 2)
    price_of = _memo(lambda mineral, basket: _price_path(ref, mineral, scenario, basket, n_cols))
    n_by = np.bincount([i for i, a in enumerate(apps) for _ in a.by_products], minlength=n)
    kmax = int(n_by.max(initial=0))
    has_path = bool(scenario.price_path_usd_per_t)
    price_factor = np.ones((n, n_cols if has_path else 1))
    by_factor = np.ones((n, max(kmax, 1), n_cols if has_path else 1))
    factor_of = _memo(lambda mineral: float(ref.minerals.at[mineral, "product_factor"]))
    profile = np.zeros((n, lmax))
    grades = np.array([a.grade_fraction for a in apps], dtype=float)[:, None] * np.ones((n, lmax))
    smax = max((len(a.capex_schedule_usd_m) for a in apps), default=0)
    capex_sched = np.zeros((n, max(smax, 1)))
    rows = []
    by_rows, by_coef = [], []
    for i, a in enumerate(apps):  # O(n) parameter gathering; the yearly model below is vectorised
        if a.production_schedule_ore_mt:
            profile[i, : len(a.production_schedule_ore_mt)] = a.production_schedule_ore_mt
            ore_src = Message("src_applicant_schedule")
        else:
            ramp = np.ones(a.mine_life_years)
            k = min(len(a.ramp_up), a.mine_life_years)
            ramp[:k] = a.ramp_up[:k]
            profile[i, : a.mine_life_years] = a.throughput_mtpa * ramp
            ore_src = Message("src_applicant_ramp_up")
        if a.grade_schedule:
            grades[i, : len(a.grade_schedule)] = a.grade_schedule_fraction
        if a.capex_schedule_usd_m:
            capex_sched[i, : len(a.capex_schedule_usd_m)] = a.capex_schedule_usd_m
        price, factor, price_src = price_of(a.mineral, a.ree_basket)
        price_factor[i, : len(factor)] = factor
        price_factor[i, len(factor):] = factor[-1]
        for k, b in enumerate(a.by_products):
            bp_price, bp_factor, _ = price_of(b.mineral, ())
            by_factor[i, k, : len(bp_factor)] = bp_factor
            by_factor[i, k, len(bp_factor):] = bp_factor[-1]
            by_rows.append(i)
            by_coef.append(b.grade_fraction * b.recovery * b.payability * factor_of(b.mineral) * bp_price)
        rows.append({
            "id": a.id,
            "price_usd_per_t": price,
            "price_source": price_src,
            "ore_source": ore_src,
            "product_factor": factor_of(a.mineral),
        })
    fisc, fisc_rows = _fiscal_arrays(apps, scenario, ref)
    for r, f in zip(rows, fisc_rows):
        r.update(f)
    src = pd.DataFrame(rows).set_index("id") if rows else pd.DataFrame()

    def vec(attr, dtype=float):
        return np.array([getattr(a, attr) for a in apps], dtype=dtype)

    return ProjectInputs(
        ids=tuple(a.id for a in apps),
        construction_years=vec("construction_years", int),
        construction_months=np.array([12.0 * a.construction_years if a.construction_months is None
                                      else float(a.construction_months) for a in apps], dtype=float),
        operating_years=np.array([a.operating_years for a in apps], dtype=int),
        ore_profile_mt=profile,
        grade_fraction=np.array([a.grade_fraction for a in apps], dtype=float),
        recovery=vec("recovery"),
        payability=vec("payability"),
        product_factor=src["product_factor"].to_numpy(float) if n else np.zeros(0),
        price_usd_per_t=src["price_usd_per_t"].to_numpy(float) if n else np.zeros(0),
        offsite_costs_share=vec("offsite_costs_share"),
        initial_capex_usd_m=vec("initial_capex_usd_m"),
        sustaining_capex_usd_m_per_year=vec("sustaining_capex_usd_m_per_year"),
        opex_usd_per_t_ore=vec("opex_usd_per_t_ore"),
        fixed_opex_usd_m_per_year=vec("fixed_opex_usd_m_per_year"),
        closure_cost_usd_m=vec("closure_cost_usd_m"),
        working_capital_share=vec("working_capital_share"),
        korea_offtake_share=vec("korea_offtake_share"),
        byproduct_rows=np.array(by_rows, dtype=int),
        byproduct_coef_usd_per_t_ore=np.array(by_coef, dtype=float),
        sources=src,
        grade_profile_fraction=grades,
        capex_schedule_usd_m=capex_sched,
        has_capex_schedule=np.array([bool(a.capex_schedule_usd_m) for a in apps], dtype=bool),
        korean_ownership_share=vec("korean_ownership_share"),
        price_factor=price_factor,
        byproduct_price_factor=by_factor,
        **fisc,
    )


def _fiscal_arrays(apps: Sequence[Application], scenario: Scenario, ref) -> tuple[dict, list[dict]]:
    """Per-project fiscal parameter arrays (fields of :class:`ProjectInputs`) and, per project,
    the regime, its source and any fallback warning (:func:`evaluator.fiscal.resolve_regime`)."""
    n = len(apps)
    cache = fiscal.regime_cache(ref)
    regimes = [fiscal.resolve_regime(ref, a, scenario, cache) for a in apps]
    nb = max((len(r.royalty_bands) for r in regimes), default=0)
    nm = max((len(r.royalty_min_rate) for r in regimes), default=0)
    thresholds, band_rates = np.full((n, max(nb, 1)), np.inf), np.zeros((n, max(nb, 1)))
    min_rate = np.zeros((n, max(nm, 1)))
    for i, r in enumerate(regimes):
        if r.royalty_bands:
            thresholds[i, : len(r.royalty_bands)] = [b[0] for b in r.royalty_bands]
            band_rates[i, : len(r.royalty_bands)] = [b[1] for b in r.royalty_bands]
        if r.royalty_min_rate:
            min_rate[i, : len(r.royalty_min_rate)] = r.royalty_min_rate
            min_rate[i, len(r.royalty_min_rate):] = r.royalty_min_rate[-1]

    def arr(attr, dtype=float):
        return np.array([getattr(r, attr) for r in regimes], dtype=dtype)

    arrays = dict(
        royalty_rate=arr("royalty_rate"),
        income_tax_rate=arr("income_tax_rate"),
        depreciation_years=arr("depreciation_years", int),
        royalty_basis_code=np.array([fiscal.RoyaltyBasis.of(r.royalty_basis) for r in regimes], dtype=int),
        royalty_band_threshold=thresholds,
        royalty_band_rate=band_rates,
        royalty_top_rate_above_usd_m=arr("royalty_top_rate_above_usd_m"),
        royalty_min_rate_by_year=min_rate,
        loss_carry_years=arr("loss_carry_years", int),
        loss_offset_cap=arr("loss_offset_cap"),
        depreciation_method_code=np.array([fiscal.DEPRECIATION_METHODS.index(r.depreciation_method) for r in regimes], dtype=int),
        depreciation_rate=arr("depreciation_rate"),
        depletion_rate=arr("depletion_rate"),
        depletion_cap_share=arr("depletion_cap"),
        tax_credit_share=arr("tax_credit_share"),
        dividend_withholding_rate=arr("withholding_rate"),
        national_income_tax_rate=np.array([r.national_rate for r in regimes], dtype=float),
        state_income_tax_rate=arr("state_income_tax_rate"),
        state_tax_deductible=arr("state_tax_deductible", bool),
        tax_exempt_years=arr("tax_exempt_years", int),
        tax_reduced_years=arr("tax_reduced_years", int),
        tax_reduced_share=arr("tax_reduced_share"),
        tax_incentive_start_code=np.array([fiscal.INCENTIVE_STARTS.index(r.incentive_start) for r in regimes], dtype=int),
    )
    rows = []
    for a, r in zip(apps, regimes):
        rows.append({
            "fiscal_region": r.region,
            "royalty_basis": r.royalty_basis,
            "royalty_rate": r.royalty_rate,
            "royalty_source": Message("src_applicant") if a.royalty_rate is not None else r.source,
            "income_tax_rate": r.income_tax_rate,
            "income_tax_source": fiscal.with_incentive(
                Message("src_applicant") if a.income_tax_rate is not None else r.source, r),
            "fiscal_incentive": fiscal.incentive_text(r),
            "fiscal_incentive_source": r.incentive_source,
            "depreciation_method": r.depreciation_method,
            "depreciation_years": r.depreciation_years,
            "depreciation_source": Message("src_applicant") if a.depreciation_years is not None else
            (Message("src_scenario_default") if r.depreciation_method == "sl" else r.source),
            "fiscal_warning": r.warning,
        })
    return arrays, rows


@dataclass(frozen=True)
class CashflowTable:
    """Annual series for many projects: each attribute named in :data:`SERIES` is an
    ``(n_projects, n_periods)`` array; column 0 is the valuation date.
    """

    ids: tuple[str, ...]
    first_year: int
    first_production_index: np.ndarray
    last_production_index: np.ndarray
    series: dict = field(repr=False)

    def __getattr__(self, name):
        try:
            return self.__dict__["series"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def n_periods(self) -> int:
        return self.series["fcf_usd_m"].shape[1]

    @property
    def calendar_years(self) -> np.ndarray:
        """Calendar year of each column (column 0 = valuation date, labelled the year before)."""
        return self.first_year - 1 + np.arange(self.n_periods)

    def index_of(self, app_id: str) -> int:
        return self.ids.index(app_id)

    def frame(self, app_id: str) -> pd.DataFrame:
        """One project's annual table: rows = periods (with calendar year), columns = series."""
        i = self.index_of(app_id)
        last = int(self.last_production_index[i]) + 2  # through the closure year
        df = pd.DataFrame({k: v[i, :last] for k, v in self.series.items()})
        df.insert(0, "year", self.calendar_years[:last])
        df.insert(0, "period", np.arange(last))
        return df

    def subset(self, idx: Sequence[int]) -> "CashflowTable":
        idx = np.asarray(idx, dtype=int)
        return CashflowTable(tuple(self.ids[i] for i in idx), self.first_year,
                             self.first_production_index[idx], self.last_production_index[idx],
                             {k: v[idx] for k, v in self.series.items()})


def loss_carried_forward_tax_base(taxable_before_losses: np.ndarray) -> np.ndarray:
    """Taxable income after unlimited loss carry-forward (no carry-back), per period.

    With unlimited carry-forward the cumulative income taxed up to ``t`` equals the running
    maximum of the cumulative pre-loss income, floored at zero: ``T_t = max(0, max_{s<=t} S_s)``;
    the yearly tax base is its first difference. This avoids a Python loop over years.
    """
    cum = np.cumsum(taxable_before_losses, axis=-1)
    taxed_cum = np.maximum.accumulate(np.maximum(cum, 0.0), axis=-1)
    return np.diff(taxed_cum, axis=-1, prepend=0.0)


def fit_columns(a: np.ndarray, T: int) -> np.ndarray:
    """``a`` cut or edge-padded to ``T`` columns (last axis)."""
    if a.shape[-1] >= T:
        return a[..., :T]
    return np.concatenate([a, np.repeat(a[..., -1:], T - a.shape[-1], axis=-1)], axis=-1)


def rank_within(rows: np.ndarray) -> np.ndarray:
    """Position of each entry among the earlier entries with the same value (0, 1, ...)."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    start = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    rank_sorted = np.arange(len(rows)) - np.repeat(start, np.diff(np.r_[start, len(rows)]))
    rank = np.empty_like(rank_sorted)
    rank[order] = rank_sorted
    return rank


def construction_early_share(inputs: ProjectInputs) -> np.ndarray:
    """Per project, the share of a year by which production starts before the column after the
    construction years [fraction, 0 <= x < 1]: ``construction_years - construction_months / 12``
    (0 without months, or when already built)."""
    c = inputs.construction_years
    if inputs.construction_months is None:
        return np.zeros(len(c))
    return np.where(c > 0, np.clip(c - inputs.construction_months / 12.0, 0.0, 1.0 - 1e-12), 0.0)


def _capital(inputs: ProjectInputs, c, fp, t, T, cm, delay, early=None):
    """Initial (or scheduled) capital per column and the depreciation additions of it.

    Without a schedule the initial capex is spread evenly over the construction period (column 0
    when already built) and placed in service at first production: over ``c`` whole years, or,
    with construction in months, evenly over its ``c - early`` years, so that column ``t`` takes
    the part of the period that falls in model year ``t``. With ``capex_schedule_usd_m``
    the amount of model year ``y`` is spent in column ``y + delay``; spending up to first
    production is placed in service at first production, later spending (expansions) in the
    year it is spent.
    """
    n = inputs.n
    capex_total = inputs.initial_capex_usd_m * cm
    building = (t >= 1) & (t <= c[:, None])
    per_year = capex_total / np.maximum(c, 1)
    spread = np.where(building, per_year[:, None], 0.0)
    if early is not None and (early > 0).any():
        dur = (c - early)[:, None]
        share = np.clip(dur - (t - 1), 0.0, 1.0) / np.where(dur > 0, dur, 1.0)
        spread = np.where((early > 0)[:, None] & building, np.broadcast_to(capex_total, (n,))[:, None] * share, spread)
    spread[:, 0] += np.where(c == 0, capex_total, 0.0)
    in_service = np.zeros((n, T))
    np.put_along_axis(in_service, fp[:, None], capex_total[:, None], axis=1)
    has = inputs.has_capex_schedule
    if has is None or not has.any():
        return spread, in_service
    sched = inputs.capex_schedule_usd_m * np.broadcast_to(np.asarray(cm, dtype=float), (n,))[:, None]
    col = np.arange(1, sched.shape[1] + 1)[None, :] + (np.zeros(n, int) if delay is None else np.asarray(delay, int))[:, None]
    scheduled = np.zeros((n, T + sched.shape[1] + 1))
    np.put_along_axis(scheduled, col, sched, axis=1)
    scheduled = scheduled[:, :T]
    before = np.where(t <= fp[:, None], scheduled, 0.0).sum(axis=1)
    placed = np.where(t > fp[:, None], scheduled, 0.0)
    np.put_along_axis(placed, fp[:, None], before[:, None], axis=1)
    return (np.where(has[:, None], scheduled, spread), np.where(has[:, None], placed, in_service))


def _depreciation(inputs: ProjectInputs, additions, ore_mt, t, lp):
    """Tax depreciation by the regime's method (straight line when none is given)."""
    n = inputs.n
    code = np.zeros(n, int) if inputs.depreciation_method_code is None else inputs.depreciation_method_code
    rate = np.zeros(n) if inputs.depreciation_rate is None else inputs.depreciation_rate
    return fiscal.depreciation(code, inputs.depreciation_years, rate, additions, ore_mt, t, lp)


def _royalty(inputs: ProjectInputs, gross, revenue, opex, capital, dep, price, operating, op_k):
    """Royalty by the regime's basis (ad valorem on net revenue when none is given)."""
    n = inputs.n
    if inputs.royalty_basis_code is None:
        return revenue * inputs.royalty_rate[:, None]
    return fiscal.royalty(inputs.royalty_basis_code, inputs.royalty_rate, inputs.royalty_band_threshold,
                          inputs.royalty_band_rate, inputs.royalty_top_rate_above_usd_m, inputs.royalty_min_rate_by_year,
                          gross=gross, revenue=revenue, opex=opex, capital=capital, depreciation=dep,
                          price=np.broadcast_to(price, (n, gross.shape[1])), operating=operating, op_index=op_k)


def _income_tax(inputs: ProjectInputs, ebitda, dep, revenue, opex, operating, t, lp, fp=None):
    """Income tax after percentage depletion and losses carried forward, and the refundable
    production tax credit. Returns ``tax, taxable income, depletion, credit`` [USD m].

    A granted incentive (tax holiday, reduced rate for a period) sets the national rate per year
    (:func:`evaluator.fiscal.income_tax_rate_by_period`); losses are carried forward as without
    it (the base is computed first, then taxed at the year's rate)."""
    n = inputs.n
    in_life = t <= lp[:, None]
    before_depletion = np.where(in_life, ebitda - dep, 0.0)
    zeros = np.zeros(n)
    depletion = fiscal.percentage_depletion(
        zeros if inputs.depletion_rate is None else inputs.depletion_rate,
        zeros if inputs.depletion_cap_share is None else inputs.depletion_cap_share,
        revenue, before_depletion, operating)
    taxable = fiscal.tax_base_after_losses(before_depletion - depletion, inputs.loss_carry_years, inputs.loss_offset_cap)
    tax = taxable * inputs.income_tax_rate[:, None]
    if inputs.tax_exempt_years is not None and fp is not None:
        has = (inputs.tax_exempt_years + inputs.tax_reduced_years) > 0
        if has.any():
            T = taxable.shape[1]
            pos = taxable > 0
            first_taxable = np.where(pos.any(axis=1), pos.argmax(axis=1), T)
            start = np.choose(inputs.tax_incentive_start_code, [np.ones(n, int), np.asarray(fp), first_taxable])
            rates = fiscal.income_tax_rate_by_period(inputs.national_income_tax_rate, inputs.state_income_tax_rate,
                                                     inputs.state_tax_deductible, inputs.tax_exempt_years,
                                                     inputs.tax_reduced_years, inputs.tax_reduced_share, start, T)
            tax = np.where(has[:, None], taxable * rates, tax)
    share = zeros if inputs.tax_credit_share is None else inputs.tax_credit_share
    credit = np.where(operating, opex * share[:, None], 0.0) if share.any() else np.zeros(opex.shape)
    return tax, taxable, depletion, credit


def _ore_and_grade(inputs: ProjectInputs, op_k: np.ndarray, full: np.ndarray, part: np.ndarray,
                   early: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ore [Mt], grade [fraction] and operating share [fraction of the year] per project and
    column of :func:`build` (``op_k`` the operating year of the column's main share, ``full`` it
    is an operating year; a part year blends in the next operating year's ore and grade)."""
    L = inputs.operating_years
    prof = inputs.ore_profile_mt
    grades = inputs.grade_profile_fraction

    def ore_and_grade(k, on):
        ore = np.where(on, np.take_along_axis(prof, np.clip(k, 0, prof.shape[1] - 1), axis=1), 0.0)
        g = inputs.grade_fraction[:, None] if grades is None else \
            np.take_along_axis(grades, np.clip(k, 0, grades.shape[1] - 1), axis=1)
        return ore, g

    ore_mt, grade = ore_and_grade(op_k, full)
    operating_share = full * 1.0
    if part.any():  # blend in the next operating year's share; rows without a part year are unchanged
        nxt = (op_k + 1 >= 0) & (op_k + 1 < L[:, None])
        ore_nxt, grade_nxt = ore_and_grade(op_k + 1, nxt)
        e = early[:, None]
        contained = (1 - e) * ore_mt * grade + e * ore_nxt * grade_nxt
        blended = (1 - e) * ore_mt + e * ore_nxt
        with np.errstate(invalid="ignore", divide="ignore"):
            grade = np.where(part[:, None], np.where(blended > 0, contained / blended, grade), grade)
        ore_mt = np.where(part[:, None], blended, ore_mt)
        operating_share = np.where(part[:, None], (1 - e) * full + e * nxt, operating_share)
    return ore_mt, grade, operating_share


def _byproduct_revenue(inputs: ProjectInputs, ore_t: np.ndarray, recovery_multiplier, pm, T: int) -> np.ndarray:
    """By-product revenue per project and column of :func:`build` [USD m] (``pm`` its price
    multiplier)."""
    n = inputs.n
    by_usd_m = np.zeros((n, T))
    if len(inputs.byproduct_rows):
        rows = inputs.byproduct_rows
        rec_mult = 1.0 if recovery_multiplier is None else np.asarray(recovery_multiplier, dtype=float)[rows, None]
        contrib = ore_t[rows] * inputs.byproduct_coef_usd_per_t_ore[:, None] * rec_mult / 1e6
        if inputs.byproduct_price_factor is not None:
            contrib = contrib * fit_columns(inputs.byproduct_price_factor[rows, rank_within(rows)], T)
        if np.ndim(pm) == 2:
            contrib = contrib * pm[inputs.byproduct_rows] if pm.shape[0] == n else contrib * pm
        np.add.at(by_usd_m, inputs.byproduct_rows, contrib)
    return by_usd_m


def build(inputs: ProjectInputs, *, first_year: int = 2027, price_multiplier=None,
          capex_multiplier=None, opex_multiplier=None, recovery_multiplier=None,
          delay_years=None) -> CashflowTable:
    """Build the annual cash-flow table for all projects at once.

    Parameters
    ----------
    inputs : ProjectInputs
        From :func:`resolve_inputs`.
    first_year : int
        Calendar year of model year 1.
    price_multiplier : array_like, optional
        Multiplier on every price, shape ``(n,)`` or ``(n, n_periods)`` (used by the
        uncertainty module for price paths; default 1).
    capex_multiplier, opex_multiplier, recovery_multiplier : array_like, optional
        Per-project multipliers, shape ``(n,)`` (default 1).
    delay_years : array_like of int, optional
        Extra construction years per project (default 0); a capital schedule moves with them.

    Returns
    -------
    CashflowTable
    """
    c = inputs.construction_years + (0 if delay_years is None else np.asarray(delay_years, dtype=int))
    L = inputs.operating_years
    # construction in months (issue 28): production starts ``early`` of a year before column
    # c + 1, so operating year k falls ``early`` into column c + k and ``1 - early`` into c + k + 1
    early = construction_early_share(inputs)
    part = early > 0
    fp = c + 1 - part               # first production column (a part year when ``early`` > 0)
    lp = c + L                      # last production column
    T = int(lp.max(initial=1)) + 2  # columns 0 .. closure year
    t = np.arange(T)[None, :]
    op_k = t - (c + 1)[:, None]     # 0-based operating year of the column's main share
    full = (op_k >= 0) & (op_k < L[:, None])

    ore_mt, grade, operating_share = _ore_and_grade(inputs, op_k, full, part, early)
    operating = operating_share > 0
    op_k = t - fp[:, None]          # 0-based operating year index per column (fiscal year count)
    ore_t = ore_mt * 1e6

    rec = inputs.recovery if recovery_multiplier is None else np.minimum(inputs.recovery * np.asarray(recovery_multiplier), 1.0)
    product_t = ore_t * grade * (rec * inputs.product_factor)[:, None]
    payable_t = product_t * inputs.payability[:, None]
    price = inputs.price_usd_per_t[:, None]
    pm = 1.0 if price_multiplier is None else np.asarray(price_multiplier, dtype=float)
    if np.ndim(pm) == 1:
        pm = pm[:, None]
    if np.ndim(pm) == 2 and pm.shape[1] not in (1, T):  # price paths longer or shorter than this model
        pm = pm[:, :T] if pm.shape[1] > T else np.pad(pm, ((0, 0), (0, T - pm.shape[1])), mode="edge")
    path = 1.0 if inputs.price_factor is None else fit_columns(inputs.price_factor, T)
    primary_usd_m = payable_t * price * pm * path / 1e6
    by_usd_m = _byproduct_revenue(inputs, ore_t, recovery_multiplier, pm, T)
    gross = primary_usd_m + by_usd_m
    offsite = gross * inputs.offsite_costs_share[:, None]
    revenue = gross - offsite
    om = 1.0 if opex_multiplier is None else np.asarray(opex_multiplier, dtype=float)[:, None]
    opex = (ore_t * inputs.opex_usd_per_t_ore[:, None] / 1e6
            + operating_share * inputs.fixed_opex_usd_m_per_year[:, None]) * om

    cm = 1.0 if capex_multiplier is None else np.asarray(capex_multiplier, dtype=float)
    initial, placed = _capital(inputs, c, fp, t, T, cm, delay_years, early)
    sustaining = operating_share * inputs.sustaining_capex_usd_m_per_year[:, None]  # overruns hit the initial build only
    closure = np.where(t == (lp + 1)[:, None], inputs.closure_cost_usd_m[:, None], 0.0)
    dep = _depreciation(inputs, placed + sustaining, ore_mt, t, lp)
    royalty = _royalty(inputs, gross, revenue, opex, initial + sustaining, dep, price * pm * path, operating, op_k)
    ebitda = revenue - royalty - opex
    tax, taxable, depletion, credit = _income_tax(inputs, ebitda, dep, revenue, opex, operating, t, lp, fp)

    wc = revenue * inputs.working_capital_share[:, None]
    dwc = np.diff(wc, axis=1, prepend=0.0)

    pretax = ebitda - initial - sustaining - closure - dwc
    fcf = pretax - tax + credit
    cfads = ebitda - tax + credit - sustaining - dwc
    # the Korean parent's view: its equity share of the after-tax flow, distributions (positive
    # years) net of dividend withholding, contributions (negative years) in full
    share = 0.0 if inputs.korean_ownership_share is None else inputs.korean_ownership_share[:, None]
    wht = 0.0 if inputs.dividend_withholding_rate is None else inputs.dividend_withholding_rate[:, None]
    korea_equity = share * (fcf - wht * np.maximum(fcf, 0.0))
    series = {
        "ore_mt": ore_mt,
        "product_t": product_t,
        "payable_t": payable_t,
        "korea_offtake_t": payable_t * inputs.korea_offtake_share[:, None],
        "gross_revenue_usd_m": gross,
        "offsite_costs_usd_m": offsite,
        "revenue_usd_m": revenue,
        "byproduct_revenue_usd_m": by_usd_m * (1 - inputs.offsite_costs_share[:, None]),
        "royalty_usd_m": royalty,
        "opex_usd_m": opex,
        "ebitda_usd_m": ebitda,
        "depreciation_usd_m": dep,
        "depletion_usd_m": depletion,
        "taxable_income_usd_m": taxable,
        "tax_usd_m": tax,
        "tax_credit_usd_m": credit,
        "initial_capex_usd_m": initial,
        "sustaining_capex_usd_m": sustaining,
        "closure_usd_m": closure,
        "working_capital_change_usd_m": dwc,
        "pretax_fcf_usd_m": pretax,
        "fcf_usd_m": fcf,
        "cfads_usd_m": cfads,
        "korea_equity_fcf_usd_m": korea_equity,
    }
    return CashflowTable(inputs.ids, first_year, fp, lp, series)


def price_deck_table(ref, scenario: Scenario, years: Sequence[int] | None = None) -> pd.DataFrame:
    """The scenario's price deck as paths by calendar year, with the source of each.

    Parameters
    ----------
    ref : evaluator.reference.ReferenceData
    scenario : Scenario
        Price case, flat overrides and ``price_path_usd_per_t``.
    years : sequence of int, optional
        Calendar years wanted (default ``first_year .. first_year + 29``).

    Returns
    -------
    pandas.DataFrame
        Columns ``mineral``, ``year``, ``price_usd_per_t`` [USD/t product], ``source``: the
        scenario's path (interpolated, flat outside), else its flat override, else the bundled
        deck of the price case (``minerals.csv``; rare earths at the default basket), which is a
        flat path. The same table read back by :func:`price_deck_from_frame` reproduces the
        prices of those years.
    """
    years = list(range(scenario.first_year, scenario.first_year + 30)) if years is None else list(years)
    rows = []
    for mineral in ref.minerals.index:
        if mineral in scenario.price_path_usd_per_t:
            path = scenario.price_path_usd_per_t[mineral]
            ys = sorted(path)
            prices = np.interp(years, ys, [path[y] for y in ys])
            src = Message("src_scenario_price_path").text()
        else:
            price, how = _price(ref, mineral, scenario)
            prices = np.full(len(years), price)
            src = how.text()  # the table is a file in English (read back by price_deck_from_frame)
            if how.code.startswith("src_price_deck"):
                src = f"{src}: {ref.minerals.at[mineral, 'price_source']}"
        rows += [(mineral, int(y), float(p), src) for y, p in zip(years, prices)]
    return pd.DataFrame(rows, columns=["mineral", "year", "price_usd_per_t", "source"])


def extended_features(inputs: ProjectInputs) -> list[str]:
    """Per project, the model features beyond the flat, ad valorem, straight-line model (for a
    consumer that re-computes cash flows with its own formulas, e.g. a workbook): capital or
    grade schedule, price path, construction ending part-way through a year, royalty basis other
    than net revenue or a minimum royalty,
    depreciation other than straight line, limited or capped losses, depletion, tax credit.
    ``''`` where none is used."""
    n = inputs.n
    zeros = np.zeros(n)
    grades = inputs.grade_profile_fraction
    checks = {
        "capital schedule": inputs.has_capex_schedule if inputs.has_capex_schedule is not None else zeros > 0,
        "grade schedule": (np.abs(grades - inputs.grade_fraction[:, None]) > 0).any(axis=1) if grades is not None else zeros > 0,
        "price path": (np.abs(inputs.price_factor - 1.0) > 0).any(axis=1) if inputs.price_factor is not None else zeros > 0,
        "construction in months": construction_early_share(inputs) > 0,
        "tax holiday or reduced rate": (inputs.tax_exempt_years + inputs.tax_reduced_years > 0)
        if inputs.tax_exempt_years is not None else zeros > 0,
    }
    if inputs.royalty_basis_code is not None:
        checks.update({
            "royalty basis": (inputs.royalty_basis_code != fiscal.RoyaltyBasis.NSR) | (inputs.royalty_min_rate_by_year.max(axis=1) > 0),
            "depreciation method": inputs.depreciation_method_code != 0,
            "loss limits": (inputs.loss_carry_years < fiscal.UNLIMITED_YEARS) | (inputs.loss_offset_cap < 1.0),
            "percentage depletion": inputs.depletion_rate > 0,
            "production tax credit": inputs.tax_credit_share > 0,
        })
    if inputs.byproduct_price_factor is not None and len(inputs.byproduct_rows):
        by_path = (np.abs(inputs.byproduct_price_factor - 1.0) > 0).any(axis=(1, 2))
        checks["price path"] = checks["price path"] | by_path
    flags = np.stack([np.asarray(v, bool) for v in checks.values()], axis=1)
    return ["; ".join(k for k, on in zip(checks, row) if on) for row in flags]


#: features the linear Monte Carlo kernel cannot evaluate exactly (see :func:`linear_kernel_view`)
NONLINEAR_FEATURES = ("profit-based or sliding royalty", "minimum royalty", "loss carry-forward limit",
                      "loss offset cap", "percentage depletion", "production tax credit", "tax holiday or reduced rate")


def linear_kernel_view(inputs: ProjectInputs) -> tuple[ProjectInputs, list[str]]:
    """Inputs the linear Monte Carlo kernel evaluates exactly, and per project why it cannot.

    The kernel (:mod:`evaluator.uncertainty`) assumes the royalty is a fixed share of revenue
    net of off-site costs and that income tax is a rate times income after unlimited loss
    carry-forward. A royalty on gross revenue is such a share (``rate / (1 - offsite share)``),
    so those rows are rewritten exactly. Profit-based and sliding royalties, a minimum royalty,
    limited or capped loss carry-forward, percentage depletion, a production tax credit and a tax
    holiday or reduced rate for a period (its start may hang on the path's first taxable year) are
    not linear in the drawn multipliers: those rows get ``''`` replaced by the reasons
    (:data:`NONLINEAR_FEATURES`) and must be evaluated by the reference path.

    Returns
    -------
    view : ProjectInputs
        Same as ``inputs`` with gross-revenue royalties as equivalent net-revenue rates, and the
        nonlinear terms of the flagged rows switched off (their kernel results are placeholders
        the caller replaces).
    reasons : list of str
        Per project, ``''`` when the kernel is exact, else the features that need the reference
        path (``'; '``-joined).
    """
    n = inputs.n
    if inputs.royalty_basis_code is None:
        return inputs, [""] * n
    code = inputs.royalty_basis_code
    offsite = inputs.offsite_costs_share
    checks = (
        (code >= fiscal.RoyaltyBasis.NET_VALUE) | ((code == fiscal.RoyaltyBasis.GROSS) & (offsite >= 1.0)),
        inputs.royalty_min_rate_by_year.max(axis=1) > 0,
        inputs.loss_carry_years < fiscal.UNLIMITED_YEARS,
        inputs.loss_offset_cap < 1.0,
        inputs.depletion_rate > 0,
        inputs.tax_credit_share > 0,
        (inputs.tax_exempt_years + inputs.tax_reduced_years > 0) if inputs.tax_exempt_years is not None
        else np.zeros(n, bool),
    )
    flags = np.stack(checks, axis=1)
    reasons = ["; ".join(f for f, on in zip(NONLINEAR_FEATURES, row) if on) for row in flags]
    bad = flags.any(axis=1)
    gross = (code == fiscal.RoyaltyBasis.GROSS) & ~bad
    rate = np.where(gross, inputs.royalty_rate / np.where(gross, 1.0 - offsite, 1.0), inputs.royalty_rate)
    view = dataclasses.replace(
        inputs,
        royalty_basis_code=np.where(gross | bad, fiscal.RoyaltyBasis.NSR, code),
        royalty_rate=rate,
        royalty_min_rate_by_year=np.where(bad[:, None], 0.0, inputs.royalty_min_rate_by_year),
        loss_carry_years=np.where(bad, fiscal.UNLIMITED_YEARS, inputs.loss_carry_years),
        loss_offset_cap=np.where(bad, 1.0, inputs.loss_offset_cap),
        depletion_rate=np.where(bad, 0.0, inputs.depletion_rate),
        tax_credit_share=np.where(bad, 0.0, inputs.tax_credit_share),
        tax_exempt_years=None if inputs.tax_exempt_years is None else np.where(bad, 0, inputs.tax_exempt_years),
        tax_reduced_years=None if inputs.tax_reduced_years is None else np.where(bad, 0, inputs.tax_reduced_years),
    )
    return view, reasons


def build_cashflows(apps: Sequence[Application], scenario: Scenario, ref) -> CashflowTable:
    """Resolve inputs and build the table: the usual entry point."""
    return build(resolve_inputs(apps, scenario, ref), first_year=scenario.first_year)
