"""The officer's assumptions: price deck, rates, budgets, caps, weights.

A scenario is an immutable record; ``replace(...)`` gives a what-if copy. It loads from and
saves to TOML or JSON. The defaults have one home: ``evaluator/data/default_scenario.toml`` (the
bundled 2026 scenario, with the source of every policy figure). The dataclass takes each default
from it, so ``Scenario()``, ``default_scenario()`` and a scenario file that leaves a field out all
use the same value; only the optional settings the TOML cannot spell (None, empty tables) are
written here.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import numbers
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import tomli_w

from evaluator.errors import SettingsError

DEFAULT_SCENARIO_PATH = Path(__file__).resolve().parent.parent / "evaluator" / "data" / "default_scenario.toml"
CRITERIA = ("financial", "risk", "diversification", "loan_safety", "readiness", "esg")
PRICE_CASES = ("base", "low", "high")
DISPLACEMENT_RULES = ("top_supplier", "pro_rata", "additive")
IMPORT_BASES = ("quantity", "value")
DEMAND_CASES = ("low", "base", "high")
OBJECTIVES = ("score_weighted_support", "total_score", "total_npv", "total_diversification")
LOAN_TERMS = ("2026", "2024-25", "2017-23")
#: Older names of the loan terms, read from saved scenarios.
_LOAN_TERMS_ALIASES = {"2025": "2024-25", "2024": "2024-25"}
#: The financial measures a ranking can use: the point NPV per KRW of support, and the two the
#: Monte Carlo gives (P10 NPV per KRW of support, probability of a negative NPV).
FINANCIAL_MEASURES = ("npv", "p10_npv", "prob_loss")
#: The measures that need the simulation.
RISK_MEASURES = FINANCIAL_MEASURES[1:]


def _bundled_defaults(path: Path = DEFAULT_SCENARIO_PATH) -> dict[str, Any]:
    """The bundled scenario's fields (its ``[sources]`` table left out): the one home of the
    defaults. Read once at import; a field missing there fails at import, naming it."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    data.pop("sources", None)
    return data


_DEFAULTS = _bundled_defaults()


def _default(name: str) -> Any:
    """The bundled scenario's value of ``name`` (a table as a fresh dict per scenario)."""
    if name not in _DEFAULTS:
        raise KeyError(f"{DEFAULT_SCENARIO_PATH.name} gives no default for the scenario field {name!r}")
    value = _DEFAULTS[name]
    if isinstance(value, dict):
        return field(default_factory=lambda: dict(value))
    return tuple(value) if isinstance(value, list) else value


class ScenarioError(SettingsError):
    """A scenario file or value breaks a rule; the message names the field and the rule."""


@dataclass(frozen=True)
class Scenario:
    """Assumptions an officer sets. Rates are fractions; money in KRW bn unless named otherwise.

    Notes
    -----
    ``loan_terms`` selects the special loan's terms (``evaluator/data/loan_terms.csv``): "2026"
    (coverage of the applicant's own spending 30 % base / 70 % preferred, write-off 90 %),
    "2024-25" (30 / 50 %, 80 %) or "2017-23" (30 %, 70 %). The coverage tiers are read from the
    table by :mod:`evaluator.special_loan`; ``write_off_share`` is what the model uses and
    :meth:`with_loan_terms` sets it from the same table.

    The policy loan's rate is nominal and floats on the 3-year KTB: ``ktb_3y_rate`` +
    ``policy_loan_spread``; the model is real, so :attr:`policy_loan_rate` converts it with the
    Fisher relation at ``inflation_rate``.
    """

    name: str = _default("name")
    first_year: int = _default("first_year")
    price_case: str = _default("price_case")
    price_overrides_usd_per_t: Mapping[str, float] = _default("price_overrides_usd_per_t")
    fx_krw_per_usd: float = _default("fx_krw_per_usd")
    discount_rate: float = _default("discount_rate")
    social_discount_rate: float = _default("social_discount_rate")
    add_country_risk_premium: bool = _default("add_country_risk_premium")
    mid_year: bool = _default("mid_year")
    #: issue 28: each year's flow in four equal quarters, each discounted at its end (a study's
    #: convention); not together with mid_year
    quarterly_discounting: bool = _default("quarterly_discounting")
    #: 3-year Korea Treasury Bond yield, nominal [fraction/yr] (the special loan's base rate)
    ktb_3y_rate: float = _default("ktb_3y_rate")
    #: the special loan's spread over the 3-year KTB, nominal [fraction/yr]; -0.0225 in the last
    #: published terms (2004-07)
    policy_loan_spread: float = _default("policy_loan_spread")
    #: Korean inflation assumed over the loan's life [fraction/yr], to put the nominal loan rate on
    #: the model's real basis
    inflation_rate: float = _default("inflation_rate")
    loan_terms: str = _default("loan_terms")
    write_off_share: float = _default("write_off_share")
    #: when True, an application asking more than its coverage cap stays a candidate and is funded
    #: only up to the cap; when False it is ineligible
    allow_partial_above_cap: bool = _default("allow_partial_above_cap")
    #: special levy on success (특별부담금): share of the borrower's profit after tax [fraction]
    success_levy_share: float = _default("success_levy_share")
    #: years of profit the levy is charged on, from the year after the loan is repaid [yr]
    success_levy_years: int = _default("success_levy_years")
    #: annual default probability of a borrower who repays a failed project's loan from its own
    #: means [fraction/yr]
    borrower_annual_pd: float = _default("borrower_annual_pd")
    lgd: float = _default("lgd")
    #: Debt-service reserve account of a policy loan [months of the largest scheduled yearly debt
    #: service in the DSCR's scope]: the cash a default test draws on before a shortfall
    #: (evaluator.credit; default 6, market norm).
    dsra_months: float = _default("dsra_months")
    fund_krw_bn: float = _default("fund_krw_bn")
    #: the fund's share of the equity the applicant needs (its own qualifying spending less the
    #: loan) [fraction]: the fund's cap per project (evaluator.special_loan.coverage); an
    #: assumption until the fund's terms are published
    fund_equity_share: float = _default("fund_equity_share")
    #: the fund's target return, real [fraction/yr]: shown beside the project's equity IRR; an
    #: assumption until published
    fund_target_return: float = _default("fund_target_return")
    loan_krw_bn: float = _default("loan_krw_bn")
    country_cap_share: float = _default("country_cap_share")
    mineral_cap_share: float = _default("mineral_cap_share")
    country_caps_krw_bn: Mapping[str, float] = _default("country_caps_krw_bn")
    mineral_caps_krw_bn: Mapping[str, float] = _default("mineral_caps_krw_bn")
    expected_loss_cap_krw_bn: float | None = None
    min_minerals_covered: int = _default("min_minerals_covered")
    weights: Mapping[str, float] = _default("weights")
    excluded_countries: tuple[str, ...] = _default("excluded_countries")
    min_korean_ownership_share: float = _default("min_korean_ownership_share")
    displacement_rule: str = _default("displacement_rule")
    import_basis: str = _default("import_basis")
    target_single_supplier_share: float = _default("target_single_supplier_share")
    target_year: int = _default("target_year")
    horizon_year: int = _default("horizon_year")
    objective: str = _default("objective")
    min_fraction: float = _default("min_fraction")
    #: Every project's total award (fund + loan) a whole number of this step [KRW bn], chosen by
    #: the optimiser (evaluator.allocation, ``award_step``); 0.1 = 1억원; 0 = continuous shares.
    award_step_krw_bn: float = _default("award_step_krw_bn")
    depreciation_years_default: int = _default("depreciation_years_default")
    financial_measure: str = _default("financial_measure")
    lender_min_dscr: float = _default("lender_min_dscr")
    lender_min_llcr: float = _default("lender_min_llcr")
    #: Trade years averaged for Korea's import basis, first and last (None: the data's default
    #: window, the last three bundled years; supply_score_scale.csv).
    supply_window: tuple[int, int] | None = None
    #: Korea's demand path to 2035 (supply_demand_paths.csv).
    demand_case: str = _default("demand_case")
    #: per mineral, calendar year -> price [USD/t product]; linear between the years given, flat
    #: before the first and after the last; wins over the price case and the flat overrides
    price_path_usd_per_t: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    #: USD per unit of a currency in which an application states its money fields; currencies
    #: not given here use evaluator/data/fx_rates.csv (KRW always uses fx_krw_per_usd)
    fx_usd_per_unit: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        problems = validate_scenario(self)
        if problems:
            raise ScenarioError("; ".join(problems))

    @property
    def discounting(self) -> dict:
        """The discounting convention as keyword arguments of :func:`evaluator.finance.npv`
        (``mid_year``, ``quarterly``): the one home of the choice."""
        return {"mid_year": self.mid_year, "quarterly": self.quarterly_discounting}

    def replace(self, **changes: Any) -> "Scenario":
        """A copy with some fields changed (validated).

        Raises
        ------
        ScenarioError
            A name that is not a scenario field, or a value that breaks a rule (naming both).
        """
        return dataclasses.replace(self, **validate_overrides(changes))

    def with_loan_terms(self, terms: str) -> "Scenario":
        """Switch coverage cap and write-off share to the named year's policy terms.

        References
        ----------
        ``evaluator/data/loan_terms.csv`` (each row with its source): write-off up to 90 % on
        failed exploration in 2026 (80 % in 2024-25, 70 % in 2017-23).
        """
        terms = _LOAN_TERMS_ALIASES.get(terms, terms)
        if terms not in LOAN_TERMS:
            raise ScenarioError(f"loan_terms: must be one of {', '.join(LOAN_TERMS)}")
        return self.replace(loan_terms=terms, write_off_share=loan_terms_value(terms, "write_off_share"))

    @property
    def policy_loan_rate_nominal(self) -> float:
        """The special loan's nominal rate [fraction/yr]: 3-year KTB + spread."""
        return self.ktb_3y_rate + self.policy_loan_spread

    @property
    def policy_loan_rate(self) -> float:
        """The special loan's rate on the model's real basis [fraction/yr].

        Fisher: ``(1 + nominal) / (1 + inflation) - 1``.
        """
        return (1.0 + self.policy_loan_rate_nominal) / (1.0 + self.inflation_rate) - 1.0

    def normalised_weights(self) -> dict[str, float]:
        """Criteria weights scaled to sum to 1."""
        total = sum(self.weights.get(c, 0.0) for c in CRITERIA)
        return {c: self.weights.get(c, 0.0) / total for c in CRITERIA}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["price_overrides_usd_per_t"] = dict(self.price_overrides_usd_per_t)
        d["country_caps_krw_bn"] = dict(self.country_caps_krw_bn)
        d["mineral_caps_krw_bn"] = dict(self.mineral_caps_krw_bn)
        d["weights"] = dict(self.weights)
        d["price_path_usd_per_t"] = {m: {str(y): p for y, p in path.items()} for m, path in self.price_path_usd_per_t.items()}
        d["fx_usd_per_unit"] = dict(self.fx_usd_per_unit)
        d["excluded_countries"] = list(self.excluded_countries)
        if d["expected_loss_cap_krw_bn"] is None:
            d.pop("expected_loss_cap_krw_bn")
        if d["supply_window"] is None:
            d.pop("supply_window")
        else:
            d["supply_window"] = list(d["supply_window"])
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Scenario":
        """A scenario from a table of fields (a loaded file); every key and value is checked.

        Raises
        ------
        ScenarioError
            An unknown key, ``excluded_countries`` that is not a list, a table field that is not a
            table of name = number, or any rule of :func:`validate_scenario`.
        """
        d = validate_overrides(_legacy(data))
        if "excluded_countries" in d:
            d["excluded_countries"] = _code_list("excluded_countries", d["excluded_countries"])
        if d.get("supply_window") is not None:
            w = d["supply_window"]
            if isinstance(w, (str, bytes)) or not hasattr(w, "__len__") or len(w) != 2:
                raise ScenarioError("supply_window: must be [first_year, last_year]")
            d["supply_window"] = (_whole_year("supply_window", w[0]), _whole_year("supply_window", w[1]))
        for k in TABLE_FIELDS + ("fx_usd_per_unit",):
            if k in d:
                if not isinstance(d[k], Mapping):
                    raise ScenarioError(f"{k}: must be a table of name = number")
                d[k] = {str(a): _num(f"{k}.{a}", b) for a, b in d[k].items()}
        if "fx_usd_per_unit" in d:
            d["fx_usd_per_unit"] = _currency_table(d["fx_usd_per_unit"])
        if "price_path_usd_per_t" in d:
            d["price_path_usd_per_t"] = _price_paths(d["price_path_usd_per_t"])
        try:
            return cls(**d)
        except TypeError as exc:  # wrong types that dataclasses cannot coerce
            raise ScenarioError(str(exc)) from exc


def _legacy(data: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of scenarios saved before the special loan's own rules (issue 23): ``loan_terms``
    "2025" is "2024-25"; ``coverage_cap_share`` (one cap on the whole project's cost) has no
    meaning under the rule's tiers and is dropped; a real ``policy_loan_rate`` becomes the spread
    over the 3-year KTB that gives the same real rate."""
    d = dict(data)
    if d.get("loan_terms") in _LOAN_TERMS_ALIASES:
        d["loan_terms"] = _LOAN_TERMS_ALIASES[d["loan_terms"]]
    d.pop("coverage_cap_share", None)
    if "policy_loan_rate" in d:
        real = _num("policy_loan_rate", d.pop("policy_loan_rate"))
        infl = _num("inflation_rate", d.get("inflation_rate", Scenario.inflation_rate))
        ktb = _num("ktb_3y_rate", d.get("ktb_3y_rate", Scenario.ktb_3y_rate))
        d["policy_loan_spread"] = (1.0 + real) * (1.0 + infl) - 1.0 - ktb
    return d


@functools.lru_cache(maxsize=None)
def _loan_terms_table() -> dict[tuple[str, str], float]:
    with open(_DATA_DIR / "loan_terms.csv", newline="", encoding="utf-8") as fh:
        return {(r["terms"], r["rule"]): float(r["value"]) for r in csv.DictReader(fh)}


def loan_terms_value(terms: str, rule: str) -> float:
    """One figure of the special loan's terms (``evaluator/data/loan_terms.csv``), e.g.
    ``loan_terms_value("2026", "write_off_share")`` -> 0.90."""
    return _loan_terms_table()[(terms, rule)]


def _price_paths(data: Any) -> dict[str, dict[int, float]]:
    """``{mineral: {year: price}}`` from a TOML/JSON table (years may arrive as text)."""
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        raise ScenarioError("price_path_usd_per_t: must be a table of mineral = {year = price}")
    out = {}
    for mineral, path in data.items():
        years: dict[int, float] = {}
        for y, p in path.items():
            try:
                year = int(y)
            except ValueError:
                raise ScenarioError(f"price_path_usd_per_t.{mineral}: years must be whole calendar years") from None
            if year in years:  # "2027" and "02027" (or " 2027"): one year given twice, the last would win
                raise ScenarioError(f"price_path_usd_per_t.{mineral}: year {year} is given twice")
            years[year] = _num(f"price_path_usd_per_t.{mineral}", p)
        out[str(mineral)] = years
    return out


def _currency_table(data: Mapping[str, Any]) -> dict[str, float]:
    """``fx_usd_per_unit`` keyed by ISO 4217 code in upper case, as applications name currencies
    (``aud`` is AUD: ignoring it would silently use the bundled rate); a code given twice is refused."""
    out: dict[str, float] = {}
    for k, v in data.items():
        code = str(k).strip().upper()
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            raise ScenarioError(f"fx_usd_per_unit.{k}: must be a three-letter ISO 4217 code, e.g. AUD")
        if code in out:
            raise ScenarioError(f"fx_usd_per_unit: {code} is given twice")
        out[code] = _num(f"fx_usd_per_unit.{k}", v)
    return out


#: Scenario fields that hold a table of name = number.
TABLE_FIELDS = ("weights", "price_overrides_usd_per_t", "country_caps_krw_bn", "mineral_caps_krw_bn")
_DATA_DIR = DEFAULT_SCENARIO_PATH.parent


def validate_overrides(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check that every key names a scenario field (for ``replace``, files and CLI options).

    Parameters
    ----------
    changes : mapping
        Field name -> new value.

    Returns
    -------
    dict
        The same changes.

    Raises
    ------
    ScenarioError
        Naming every key that is not a scenario field.
    """
    known = {f.name for f in dataclasses.fields(Scenario)}
    unknown = sorted(str(k) for k in set(changes) - known)
    if unknown:
        raise ScenarioError(f"unknown scenario field(s): {', '.join(unknown)}")
    return dict(changes)


def _code_list(name: str, v: Any) -> tuple[str, ...]:
    if isinstance(v, str) or not isinstance(v, (list, tuple)):
        raise ScenarioError(f"{name}: must be a list of ISO3 codes, e.g. [\"PRK\"], got {v!r}")
    if not all(isinstance(c, str) for c in v):
        raise ScenarioError(f"{name}: every entry must be an ISO3 code (text), got {v!r}")
    return tuple(c.strip().upper() for c in v)


def _whole_year(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ScenarioError(f"{name}: years must be whole calendar years, got {v!r}")
    return int(v)


def _num(name: str, v: Any) -> float:
    """A number from a scenario file: a real number (not text, not true/false), finite."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ScenarioError(f"{name}: {v!r} must be a number")
    x = float(v)
    if not math.isfinite(x):
        raise ScenarioError(f"{name}: {v!r} must be a finite number")
    return x


@functools.lru_cache(maxsize=None)
def _known_keys(table: str, column: str) -> frozenset[str]:
    """Keys of a bundled reference table (country ISO3 codes, mineral keys)."""
    with open(_DATA_DIR / table, newline="", encoding="utf-8") as fh:
        return frozenset(row[column] for row in csv.DictReader(fh))


def known_minerals() -> frozenset[str]:
    """The mineral keys of ``evaluator/data/minerals.csv``."""
    return _known_keys("minerals.csv", "mineral")


@functools.lru_cache(maxsize=None)
def _scenario_bounds() -> dict[str, tuple[float, float]]:
    from models.application import plausibility_bounds

    return plausibility_bounds("scenario")


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _check_numbers(s: "Scenario", p: list[str]) -> None:
    """Rates, shares, budgets, FX and the optional expected-loss cap: finite and in range."""
    def within(name, lo, hi, unit):
        v = getattr(s, name)
        if not _is_real(v) or not (lo <= v <= hi):
            p.append(f"{name}: must be a finite number in [{lo:,.6g}, {hi:,.6g}] [{unit}], got {v!r}")

    for n in ("write_off_share", "success_levy_share", "borrower_annual_pd", "lgd", "country_cap_share", "mineral_cap_share",
              "min_korean_ownership_share", "target_single_supplier_share", "min_fraction", "fund_equity_share"):
        within(n, 0.0, 1.0, "fraction")
    for n in ("discount_rate", "social_discount_rate", "ktb_3y_rate", "inflation_rate", "fund_target_return"):
        within(n, -0.05, 0.5, "fraction")
    within("policy_loan_spread", -0.2, 0.2, "fraction")
    for n in ("lender_min_dscr", "lender_min_llcr"):
        within(n, 1.0, 5.0, "x")
    within("dsra_months", 0.0, 24.0, "months")
    within("award_step_krw_bn", 0.0, 10.0, "KRW bn")
    bounds = _scenario_bounds()
    for n in ("fund_krw_bn", "loan_krw_bn"):
        within(n, *bounds[n], "KRW bn")
    within("fx_krw_per_usd", *bounds["fx_krw_per_usd"], "KRW/USD")
    if s.expected_loss_cap_krw_bn is not None:
        within("expected_loss_cap_krw_bn", *bounds["expected_loss_cap_krw_bn"], "KRW bn")
    for n, lo, hi in (("first_year", 2000, 2100), ("target_year", 2000, 2100), ("horizon_year", 2000, 2100),
                      ("min_minerals_covered", 0, 100), ("depreciation_years_default", 1, 40),
                      ("success_levy_years", 0, 100)):
        v = getattr(s, n)
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not lo <= v <= hi:
            p.append(f"{n}: must be an integer in [{lo}, {hi}], got {v!r}")
    for n in ("add_country_risk_premium", "mid_year", "quarterly_discounting", "allow_partial_above_cap"):
        if not isinstance(getattr(s, n), bool):
            p.append(f"{n}: must be true or false, got {getattr(s, n)!r}")
    if s.mid_year is True and s.quarterly_discounting is True:
        p.append("mid_year and quarterly_discounting: choose one discounting convention")


def _check_tables(s: "Scenario", p: list[str]) -> None:
    """Weights, price overrides and caps: known keys, finite values in range."""
    bounds = _scenario_bounds()
    countries = _known_keys("countries.csv", "iso3")
    minerals = _known_keys("minerals.csv", "mineral")
    for name, known, what in (("weights", frozenset(CRITERIA), "criteria"),
                              ("price_overrides_usd_per_t", minerals, "mineral"),
                              ("country_caps_krw_bn", countries, "ISO3 country code"),
                              ("mineral_caps_krw_bn", minerals, "mineral")):
        table = getattr(s, name)
        if not isinstance(table, Mapping):
            p.append(f"{name}: must be a table of name = number")
            continue
        unknown = sorted(str(k) for k in set(table) - known)
        if unknown:
            shown = ", ".join(sorted(known)) if len(known) <= 20 else f"the {what} keys of evaluator/data"
            p.append(f"{name}: unknown {what} (key) {', '.join(unknown)} (known: {shown})")
        lo, hi = bounds.get(name, (0.0, math.inf))
        for k, v in table.items():
            if not _is_real(v) or not lo <= v <= hi or (name == "price_overrides_usd_per_t" and v <= 0):
                rule = "positive" if name == "price_overrides_usd_per_t" else "non-negative"
                p.append(f"{name}.{k}: must be a {rule} finite number, at most {hi:,.6g}, got {v!r}")
    if isinstance(s.weights, Mapping) and all(_is_real(s.weights.get(c, 0.0)) and s.weights.get(c, 0.0) >= 0
                                              for c in CRITERIA):
        total = sum(s.weights.get(c, 0.0) for c in CRITERIA)
        if total <= 0:
            p.append("weights: at least one weight must be positive")
        elif not math.isfinite(total):  # every normalised weight would be 0, and so every score
            p.append("weights: their sum overflows: give weights of ordinary size (they are normalised)")
    else:
        p.append("weights: every weight must be a non-negative number")
    if not isinstance(s.excluded_countries, tuple) or not all(isinstance(c, str) for c in s.excluded_countries):
        p.append(f"excluded_countries: must be a list of ISO3 codes, got {s.excluded_countries!r}")
    else:
        unknown = sorted(set(c.upper() for c in s.excluded_countries) - countries)
        if unknown:
            p.append(f"excluded_countries: unknown ISO3 code(s) {', '.join(unknown)}")


def _check_model_inputs(s: "Scenario", p: list[str]) -> None:
    """The supply window, exchange rates of other currencies and price decks by year."""
    if s.supply_window is not None:
        w = s.supply_window
        if (not isinstance(w, tuple) or len(w) != 2 or not all(isinstance(y, int) and 2000 <= y <= 2100 for y in w)
                or w[0] > w[1]):
            p.append(f"supply_window: must be two years [first, last] with first <= last, got {w!r}")
    for k, v in s.fx_usd_per_unit.items():
        if not _is_real(v) or not v > 0:
            p.append(f"fx_usd_per_unit.{k}: must be a positive finite number [USD per unit], got {v!r}")
    minerals = _known_keys("minerals.csv", "mineral")
    for k, path in s.price_path_usd_per_t.items():
        if k not in minerals:  # accepted and never used: the bundled deck would price that mineral
            p.append(f"price_path_usd_per_t.{k}: unknown mineral (key) {k} (see evaluator/data/minerals.csv)")
        if not path:
            p.append(f"price_path_usd_per_t.{k}: needs at least one year = price")
        if any(not _is_real(v) or not v > 0 for v in path.values()):
            p.append(f"price_path_usd_per_t.{k}: every price must be a positive finite number [USD/t]")
        if any(not isinstance(y, int) or not 1900 <= y <= 2200 for y in path):
            p.append(f"price_path_usd_per_t.{k}: years must be calendar years")


def validate_scenario(s: Scenario) -> list[str]:
    """Every rule the scenario breaks, as 'field: rule' lines.

    Numbers must be finite and in range (budgets, caps and FX within
    ``evaluator/data/plausibility_bounds.csv``); years and counts integers; keys of weights,
    price overrides and caps known (criteria, ``minerals.csv``, ``countries.csv``);
    ``excluded_countries`` a list of known ISO3 codes.
    """
    p: list[str] = []
    _check_numbers(s, p)
    _check_tables(s, p)
    _check_model_inputs(s, p)
    for name, allowed in (("price_case", PRICE_CASES), ("displacement_rule", DISPLACEMENT_RULES),
                          ("import_basis", IMPORT_BASES), ("objective", OBJECTIVES), ("loan_terms", LOAN_TERMS),
                          ("financial_measure", FINANCIAL_MEASURES), ("demand_case", DEMAND_CASES)):
        if getattr(s, name) not in allowed:
            p.append(f"{name}: must be one of {', '.join(allowed)}, got {getattr(s, name)!r}")
    if not isinstance(s.name, str):
        p.append(f"name: must be text, got {s.name!r}")
    if not p and not (s.first_year - 1 <= s.target_year <= s.horizon_year):
        p.append("target_year: must lie between the base year and horizon_year")
    return p


def default_scenario() -> Scenario:
    """The bundled 2026 default (``evaluator/data/default_scenario.toml``)."""
    return load_scenario(DEFAULT_SCENARIO_PATH)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from TOML or JSON; fields not given keep the code defaults.

    Raises
    ------
    ScenarioError
        One line naming the file and the rule: unreadable, not UTF-8, not valid TOML/JSON,
        nested too deeply, an unknown key, or a value that breaks a rule.
    """
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario file ({exc.strerror})") from None
    try:
        if text.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ScenarioError("UTF-16 text: save the scenario as UTF-8")
        if path.suffix.lower() == ".json":
            data = json.loads(text.decode("utf-8-sig"), object_pairs_hook=_json_object,
                              parse_constant=_json_constant)
        else:
            data = tomllib.loads(text.decode("utf-8-sig"))
    except RecursionError:
        raise ScenarioError(f"{path.name}: not a valid scenario file: nested too deeply") from None
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise ScenarioError(f"{path.name}: not a valid scenario file: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{path.name}: a scenario file must hold a table of fields")
    data = {k: v for k, v in data.items() if k != "sources"}  # sources are documentation
    try:
        return Scenario.from_dict(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object whose keys are each given once (json keeps the last of two silently)."""
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ScenarioError(f"the key {k!r} is given twice in one object")
        out[k] = v
    return out


def _json_constant(word: str) -> Any:
    raise ScenarioError(f"{word} is not a finite number")


def scenario_to_toml(s: Scenario) -> str:
    """TOML text of a scenario."""
    return tomli_w.dumps(s.to_dict())


def save_scenario(s: Scenario, path: str | Path) -> None:
    """Write a scenario as TOML (``.toml``) or JSON (``.json``)."""
    from evaluator.safe_file import write_atomic  # a full disk leaves the previous file whole

    path = Path(path)
    text = json.dumps(s.to_dict(), indent=2) if path.suffix.lower() == ".json" else scenario_to_toml(s)
    write_atomic(path, text.encode("utf-8"))
