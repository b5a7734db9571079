"""The application a company submits, its field schema and its validation.

One table of :data:`FIELDS` drives everything that needs to know about a field: parsing,
validation, the CSV/workbook header, the blank template's documentation and the UI's column
configuration. Validation collects every problem (application id, field, rule, offending
value) rather than stopping at the first one, so an officer sees the whole list at once and
the valid applications are still evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

STAGES = ("exploration", "feasibility", "development", "production")
ESG_CATEGORIES = ("A", "B", "C")
PERMITS = ("none", "applied", "partial", "granted")
GRADE_UNITS = ("%", "g/t", "ppm")
#: fraction of contained material per grade unit (1 % = 0.01; 1 g/t = 1 ppm = 1e-6)
GRADE_UNIT_TO_FRACTION = {"%": 1e-2, "g/t": 1e-6, "ppm": 1e-6}
YES_NO = ("yes", "no")


@dataclass(frozen=True)
class FieldSpec:
    """Schema of one application field.

    Parameters
    ----------
    name : str
        Column name (snake_case, unit in the name where it has one).
    kind : str
        ``str``, ``float``, ``int``, ``choice`` or ``list`` (";"-separated text).
    required : bool
        Whether an empty value is a problem.
    unit : str
        Unit shown in the template and the UI.
    description : str
        One line for the template's instructions.
    lo, hi : float, optional
        Inclusive bounds for numbers.
    choices : tuple of str, optional
        Allowed values for ``choice`` fields.
    group : str
        Identity, Technical, Costs or Support (template section).
    """

    name: str
    kind: str
    required: bool
    unit: str
    description: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    group: str = "Identity"
    lo_open: bool = False


def _f(name, kind, required, unit, description, lo=None, hi=None, choices=(), group="Identity", lo_open=False):
    return FieldSpec(name, kind, required, unit, description, lo, hi, tuple(choices), group, lo_open)


#: Every field of an application, in template order.
FIELDS: tuple[FieldSpec, ...] = (
    _f("id", "str", True, "", "Unique application id, e.g. VN-REE-01"),
    _f("name", "str", True, "", "Project name"),
    _f("company", "str", True, "", "Korean applicant company"),
    _f("country_iso3", "str", True, "ISO3", "Host country, ISO 3166 alpha-3 code"),
    _f("region", "str", False, "", "Province / state"),
    _f("mineral", "str", True, "", "Primary mineral (key in evaluator/data/minerals.csv)"),
    _f("stage", "choice", True, "", "Project stage", choices=STAGES),
    _f("korean_ownership_share", "float", True, "fraction", "Korean equity share of the project", 0, 1),
    _f("esg_category", "choice", True, "", "Equator Principles category (A highest impact)", choices=ESG_CATEGORIES),
    _f("esg_mitigation_plan", "choice", False, "yes/no", "Environmental and social management plan in place", choices=YES_NO),
    _f("permits_status", "choice", True, "", "Status of the mining and environmental permits", choices=PERMITS),
    _f("source_note", "str", False, "", "Published study the figures come from"),
    _f("ore_reserve_mt", "float", True, "Mt", "Ore reserve (or resource for exploration projects)", 0, None, group="Technical", lo_open=True),
    _f("head_grade", "float", True, "grade unit", "Head grade in the mineral's grade basis (minerals.csv grade_basis)", 0, None, group="Technical", lo_open=True),
    _f("head_grade_unit", "choice", True, "", "Unit of head_grade", choices=GRADE_UNITS, group="Technical"),
    _f("recovery", "float", True, "fraction", "Metallurgical recovery", 0, 1, group="Technical", lo_open=True),
    _f("payability", "float", True, "fraction", "Share of contained product value paid to the mine", 0, 1, group="Technical", lo_open=True),
    _f("throughput_mtpa", "float", True, "Mt/yr", "Ore processed per year at full rate", 0, None, group="Technical", lo_open=True),
    _f("mine_life_years", "int", True, "yr", "Operating years", 1, 100, group="Technical"),
    _f("ramp_up", "list", False, "fractions", "Share of full throughput in the first operating years, e.g. 0.5;0.85", 0, 1, group="Technical"),
    _f("production_schedule_ore_mt", "list", False, "Mt per yr", "Ore processed per operating year; replaces throughput x ramp-up", 0, None, group="Technical"),
    _f("by_products", "str", False, "", "By-products: 'mineral grade unit recovery payability; ...'", group="Technical"),
    _f("ree_basket", "str", False, "shares", "Rare-earth oxide basket 'NdPr:0.2;Dy:0.02;...' (sums to 1)", group="Technical"),
    _f("initial_capex_usd_m", "float", True, "USD m", "Initial capital cost (real)", 0, None, group="Costs"),
    _f("construction_years", "int", True, "yr", "Construction period before first production (0 = built)", 0, 10, group="Costs"),
    _f("sustaining_capex_usd_m_per_year", "float", True, "USD m/yr", "Sustaining capital per operating year", 0, None, group="Costs"),
    _f("opex_usd_per_t_ore", "float", True, "USD/t ore", "Variable operating cost per tonne of ore", 0, None, group="Costs"),
    _f("fixed_opex_usd_m_per_year", "float", True, "USD m/yr", "Fixed operating cost per operating year", 0, None, group="Costs"),
    _f("offsite_costs_share", "float", True, "fraction", "TC/RC, freight and marketing as share of gross revenue", 0, 1, group="Costs"),
    _f("closure_cost_usd_m", "float", True, "USD m", "Closure and rehabilitation, paid after the last year", 0, None, group="Costs"),
    _f("working_capital_share", "float", True, "fraction", "Working capital as share of revenue", 0, 1, group="Costs"),
    _f("royalty_rate", "float", False, "fraction", "Override of the host country's royalty (ad valorem)", 0, 1, group="Costs"),
    _f("income_tax_rate", "float", False, "fraction", "Override of the host country's income tax rate", 0, 1, group="Costs"),
    _f("depreciation_years", "int", False, "yr", "Straight-line tax depreciation period (default 10)", 1, 40, group="Costs"),
    _f("fund_request_krw_bn", "float", True, "KRW bn", "Equity/co-investment asked of the fund", 0, None, group="Support"),
    _f("loan_request_krw_bn", "float", True, "KRW bn", "Policy loan asked", 0, None, group="Support"),
    _f("loan_tenor_years", "int", True, "yr", "Loan tenor including grace", 1, 30, group="Support"),
    _f("loan_grace_years", "int", True, "yr", "Interest-only grace period", 0, 15, group="Support"),
    _f("total_project_cost_usd_m", "float", True, "USD m", "Total project cost (base of the 70% coverage cap)", 0, None, group="Support", lo_open=True),
    _f("korea_offtake_share", "float", True, "fraction", "Share of payable output committed to Korean buyers", 0, 1, group="Support"),
    _f("success_probability", "float", False, "fraction", "Probability that exploration succeeds (exploration loans)", 0, 1, group="Support"),
    _f("processing_country_iso3", "str", False, "ISO3", "Country where the product is refined / separated (default: the host country)", group="Technical"),
    # feasibility-study model (issue 16): schedules, fiscal regime, currency, other debt, the study's own figures
    _f("capex_schedule_usd_m", "list", False, "USD m per yr", "Capital spent in each model year from year 1 (construction and expansions); replaces initial_capex_usd_m spread over the construction years", 0, None, group="Costs"),
    _f("grade_schedule", "list", False, "grade unit per yr", "Head grade per operating year in head_grade_unit; years after the list keep head_grade", 0, None, group="Technical"),
    _f("fiscal_region", "str", False, "", "Fiscal regime (evaluator/data/fiscal_regimes.csv), e.g. AUS-WA, AUS-NT, USA-NV, VNM; empty = the country's default"),
    _f("production_tax_credit_share", "float", False, "fraction", "Production tax credit as a share of operating costs (e.g. US 45X: 0.10)", 0, 1, group="Costs"),
    _f("currency", "str", False, "ISO 4217", "Currency of the money fields other than KRW (USD when empty), converted at the scenario's rates", group="Costs"),
    _f("senior_debt_usd_m", "float", False, "USD m", "Other project debt (senior or pari passu bank debt), drawn at the valuation date", 0, None, group="Support"),
    _f("senior_debt_rate", "float", False, "fraction", "Interest rate of the other debt", 0, 0.5, group="Support"),
    _f("senior_debt_tenor_years", "int", False, "yr", "Tenor of the other debt including grace", 1, 40, group="Support"),
    _f("senior_debt_grace_years", "int", False, "yr", "Interest-only grace of the other debt", 0, 39, group="Support"),
    _f("policy_loan_rank", "choice", False, "", "Rank of the policy loan against the other debt (behind = the other debt is senior)", choices=("behind", "pari_passu", "ahead"), group="Support"),
    _f("study_npv_usd_m", "float", False, "USD m", "NPV published in the feasibility study", group="Support"),
    _f("study_discount_rate", "float", False, "fraction", "Discount rate of the study's NPV", 0, 0.5, group="Support"),
    _f("study_irr", "float", False, "fraction", "IRR published in the study", -0.99, 10, group="Support"),
    _f("study_basis", "choice", False, "", "Whether the study's NPV and IRR are pre-tax or after-tax (after_tax when empty)", choices=("after_tax", "pre_tax"), group="Support"),
    _f("study_price_usd_per_t", "float", False, "USD/t product", "Long-term price of the primary product used by the study", 0, None, group="Support", lo_open=True),
    _f("study_royalty_rate", "float", False, "fraction", "Royalty rate the study assumed (ad valorem on net revenue)", 0, 1, group="Support"),
    _f("study_income_tax_rate", "float", False, "fraction", "Income tax rate the study assumed", 0, 1, group="Support"),
    _f("study_first_production_year", "int", False, "calendar yr", "First production year in the study's schedule", 1990, 2100, group="Support"),
    _f("study_initial_capex_usd_m", "float", False, "USD m", "Initial capital in the study (when the applicant's figure has changed since)", 0, None, group="Support"),
)
FIELD_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}
COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)


@dataclass(frozen=True)
class Problem:
    """One validation problem: which application, which field, which rule, what value."""

    application_id: str
    field: str
    rule: str
    value: Any = None
    row: int | None = None

    def message(self) -> str:
        """One readable line, e.g. ``VN-REE-01: head_grade = 120: must be at most 100 %``."""
        where = self.application_id or (f"row {self.row}" if self.row is not None else "file")
        val = "" if self.value is None or self.value == "" else f" = {self.value!r}"
        return f"{where}: {self.field}{val}: {self.rule}"

    def as_dict(self) -> dict:
        return {"application_id": self.application_id, "field": self.field, "rule": self.rule,
                "value": None if self.value is None else str(self.value), "row": self.row}


class ValidationError(ValueError):
    """Raised when applications cannot be read at all (empty file, wrong sheet, missing columns).

    ``problems`` holds every :class:`Problem` found.
    """

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message() for p in self.problems) or "invalid input")


@dataclass(frozen=True)
class ByProduct:
    """A by-product credit: grade is in the by-product mineral's grade basis."""

    mineral: str
    grade: float
    grade_unit: str
    recovery: float
    payability: float

    @property
    def grade_fraction(self) -> float:
        return self.grade * GRADE_UNIT_TO_FRACTION[self.grade_unit]


@dataclass(frozen=True)
class Application:
    """A validated application. Units are in the field names (see :data:`FIELDS`)."""

    id: str
    name: str
    company: str
    country_iso3: str
    mineral: str
    stage: str
    korean_ownership_share: float
    esg_category: str
    permits_status: str
    ore_reserve_mt: float
    head_grade: float
    head_grade_unit: str
    recovery: float
    payability: float
    throughput_mtpa: float
    mine_life_years: int
    initial_capex_usd_m: float
    construction_years: int
    sustaining_capex_usd_m_per_year: float
    opex_usd_per_t_ore: float
    fixed_opex_usd_m_per_year: float
    offsite_costs_share: float
    closure_cost_usd_m: float
    working_capital_share: float
    fund_request_krw_bn: float
    loan_request_krw_bn: float
    loan_tenor_years: int
    loan_grace_years: int
    total_project_cost_usd_m: float
    korea_offtake_share: float
    region: str = ""
    esg_mitigation_plan: str = "no"
    source_note: str = ""
    ramp_up: tuple[float, ...] = ()
    production_schedule_ore_mt: tuple[float, ...] = ()
    by_products: tuple[ByProduct, ...] = ()
    ree_basket: tuple[tuple[str, float], ...] = ()
    royalty_rate: float | None = None
    income_tax_rate: float | None = None
    depreciation_years: int | None = None
    success_probability: float | None = None
    processing_country_iso3: str | None = None  # where refined / separated; None = the host country
    capex_schedule_usd_m: tuple[float, ...] = ()
    grade_schedule: tuple[float, ...] = ()
    fiscal_region: str = ""
    production_tax_credit_share: float | None = None
    currency: str = "USD"
    senior_debt_usd_m: float = 0.0
    senior_debt_rate: float | None = None
    senior_debt_tenor_years: int | None = None
    senior_debt_grace_years: int = 0
    policy_loan_rank: str = "behind"
    study_npv_usd_m: float | None = None
    study_discount_rate: float | None = None
    study_irr: float | None = None
    study_basis: str = "after_tax"
    study_price_usd_per_t: float | None = None
    study_royalty_rate: float | None = None
    study_income_tax_rate: float | None = None
    study_first_production_year: int | None = None
    study_initial_capex_usd_m: float | None = None

    @property
    def grade_schedule_fraction(self) -> tuple[float, ...]:
        """Head grade per operating year as a mass fraction [fraction] (``grade_schedule``)."""
        return tuple(g * GRADE_UNIT_TO_FRACTION[self.head_grade_unit] for g in self.grade_schedule)

    @property
    def grade_fraction(self) -> float:
        """Head grade as a mass fraction of ore [fraction]."""
        return self.head_grade * GRADE_UNIT_TO_FRACTION[self.head_grade_unit]

    @property
    def operating_years(self) -> int:
        """Operating years: the schedule's length when one is given."""
        return len(self.production_schedule_ore_mt) or self.mine_life_years

    @property
    def support_request_krw_bn(self) -> float:
        """Fund plus loan asked [KRW bn]."""
        return self.fund_request_krw_bn + self.loan_request_krw_bn

    def to_record(self) -> dict:
        """Flat record with the template's columns (lists joined by ';')."""
        rec = {}
        for f in FIELDS:
            v = getattr(self, f.name)
            if f.name == "by_products":
                v = "; ".join(f"{b.mineral} {b.grade:g} {b.grade_unit} {b.recovery:g} {b.payability:g}" for b in v)
            elif f.name == "ree_basket":
                v = ";".join(f"{k}:{s:g}" for k, s in v)
            elif f.kind == "list":
                v = ";".join(f"{x:g}" for x in v)
            rec[f.name] = v
        return rec


# ----------------------------------------------------------------------------- parsing

def _is_blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() == ""


def _parse_number(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip().replace(",", "")
    if s.endswith("%"):
        # "70%" typed in a share column is read as 0.70
        return float(s[:-1]) / 100.0
    return float(s)


def _parse_list(v: Any) -> tuple[float, ...]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (float(v),)
    parts = [p for p in str(v).replace(",", ";").split(";") if p.strip()]
    return tuple(float(p) for p in parts)


def _parse_by_products(v: str, known_minerals, app_id, problems) -> tuple[ByProduct, ...]:
    out = []
    for item in [p.strip() for p in str(v).split(";") if p.strip()]:
        parts = item.split()
        try:
            if len(parts) != 5:
                raise ValueError
            mineral, grade, unit, rec, pay = parts[0].lower(), float(parts[1]), parts[2], float(parts[3]), float(parts[4])
        except ValueError:
            problems.append(Problem(app_id, "by_products", "each item must read 'mineral grade unit recovery payability'", item))
            continue
        if known_minerals is not None and mineral not in known_minerals:
            problems.append(Problem(app_id, "by_products", "unknown mineral", mineral))
            continue
        if unit not in GRADE_UNITS:
            problems.append(Problem(app_id, "by_products", f"grade unit must be one of {', '.join(GRADE_UNITS)}", unit))
            continue
        if grade < 0 or not (0 <= rec <= 1) or not (0 <= pay <= 1) or (unit == "%" and grade > 100):
            problems.append(Problem(app_id, "by_products", "grade must be >= 0 (<= 100 %), recovery and payability in [0, 1]", item))
            continue
        out.append(ByProduct(mineral, grade, unit, rec, pay))
    return tuple(out)


def _parse_basket(v: str, known_oxides, app_id, problems) -> tuple[tuple[str, float], ...]:
    items = []
    for item in [p.strip() for p in str(v).split(";") if p.strip()]:
        name, _, share = item.partition(":")
        try:
            s = float(share)
        except ValueError:
            problems.append(Problem(app_id, "ree_basket", "each item must read 'oxide:share'", item))
            return ()
        if known_oxides is not None and name.strip() not in known_oxides:
            problems.append(Problem(app_id, "ree_basket", f"unknown oxide (known: {', '.join(sorted(known_oxides))})", name.strip()))
            return ()
        if s < 0:
            problems.append(Problem(app_id, "ree_basket", "shares must be >= 0", item))
            return ()
        items.append((name.strip(), s))
    total = sum(s for _, s in items)
    if items and abs(total - 1.0) > 0.005:
        problems.append(Problem(app_id, "ree_basket", "shares must sum to 1 (within 0.005)", round(total, 4)))
        return ()
    return tuple(items)


def parse_application(
    raw: Mapping[str, Any],
    *,
    row: int | None = None,
    known_countries: Iterable[str] | None = None,
    known_minerals: Iterable[str] | None = None,
    known_oxides: Iterable[str] | None = None,
) -> tuple[Application | None, list[Problem]]:
    """Validate one raw record and build an :class:`Application`.

    Parameters
    ----------
    raw : mapping
        Field name -> raw value (text from CSV, cell values from a workbook, JSON values).
    row : int, optional
        1-based data row in the source, for messages when the id itself is missing.
    known_countries, known_minerals, known_oxides : iterable of str, optional
        Reference keys; when given, unknown codes are problems.

    Returns
    -------
    application : Application or None
        None when any problem was found.
    problems : list of Problem
        Every problem found in this record (empty when valid).
    """
    problems: list[Problem] = []
    app_id = "" if _is_blank(raw.get("id")) else str(raw.get("id")).strip()
    values: dict[str, Any] = {}
    kc = None if known_countries is None else set(known_countries)
    km = None if known_minerals is None else set(known_minerals)
    ko = None if known_oxides is None else set(known_oxides)

    for spec in FIELDS:
        v = raw.get(spec.name)
        if _is_blank(v):
            if spec.required:
                problems.append(Problem(app_id, spec.name, "required field is empty", None, row))
            continue
        if spec.kind == "str":
            values[spec.name] = str(v).strip()
        elif spec.kind == "choice":
            s = str(v).strip()
            s_norm = s.upper() if spec.name == "esg_category" else s.lower()
            if spec.name == "head_grade_unit":
                s_norm = s.lower()
            if s_norm not in spec.choices:
                problems.append(Problem(app_id, spec.name, f"must be one of {', '.join(spec.choices)}", s, row))
            else:
                values[spec.name] = s_norm
        elif spec.kind in ("float", "int"):
            try:
                x = _parse_number(v)
            except (ValueError, TypeError):
                problems.append(Problem(app_id, spec.name, f"must be a number [{spec.unit}]", v, row))
                continue
            if not math.isfinite(x):
                problems.append(Problem(app_id, spec.name, "must be a finite number", v, row))
                continue
            if spec.kind == "int":
                if abs(x - round(x)) > 1e-9:
                    problems.append(Problem(app_id, spec.name, "must be a whole number of years", v, row))
                    continue
                x = int(round(x))
            if spec.lo is not None and (x < spec.lo or (spec.lo_open and x <= spec.lo)):
                rel = "greater than" if spec.lo_open else "at least"
                problems.append(Problem(app_id, spec.name, f"must be {rel} {spec.lo:g} [{spec.unit}]", v, row))
                continue
            if spec.hi is not None and x > spec.hi:
                problems.append(Problem(app_id, spec.name, f"must be at most {spec.hi:g} [{spec.unit}]", v, row))
                continue
            values[spec.name] = x
        elif spec.kind == "list":
            try:
                xs = _parse_list(v)
            except ValueError:
                problems.append(Problem(app_id, spec.name, "must be numbers separated by ';'", v, row))
                continue
            if any(x < (spec.lo or 0) for x in xs) or (spec.hi is not None and any(x > spec.hi for x in xs)):
                rng = f"[{spec.lo:g}, {spec.hi:g}]" if spec.hi is not None else f">= {spec.lo:g}"
                problems.append(Problem(app_id, spec.name, f"every value must be in {rng}", v, row))
                continue
            values[spec.name] = xs

    # cross-field and reference rules
    if "processing_country_iso3" in values:
        values["processing_country_iso3"] = values["processing_country_iso3"].upper()
        if kc is not None and values["processing_country_iso3"] not in kc:
            problems.append(Problem(app_id, "processing_country_iso3", "unknown country code (ISO 3166 alpha-3 expected)",
                                    values["processing_country_iso3"], row))
    if kc is not None and "country_iso3" in values:
        values["country_iso3"] = values["country_iso3"].upper()
        if values["country_iso3"] not in kc:
            problems.append(Problem(app_id, "country_iso3", "unknown country code (ISO 3166 alpha-3 expected)", values["country_iso3"], row))
    if "mineral" in values:
        values["mineral"] = values["mineral"].lower().replace(" ", "_").replace("-", "_")
        if km is not None and values["mineral"] not in km:
            problems.append(Problem(app_id, "mineral", "unknown mineral (see evaluator/data/minerals.csv)", values["mineral"], row))
    if values.get("head_grade_unit") == "%" and values.get("head_grade", 0) > 100:
        problems.append(Problem(app_id, "head_grade", "must be at most 100 %", values["head_grade"], row))
    if values.get("head_grade_unit") in ("g/t", "ppm") and values.get("head_grade", 0) > 1e6:
        problems.append(Problem(app_id, "head_grade", "must be at most 1,000,000 g/t", values["head_grade"], row))
    if "loan_grace_years" in values and "loan_tenor_years" in values and values["loan_grace_years"] >= values["loan_tenor_years"]:
        problems.append(Problem(app_id, "loan_grace_years", "must be shorter than loan_tenor_years", values["loan_grace_years"], row))
    if values.get("stage") == "exploration" and values.get("loan_request_krw_bn", 0) > 0 and "success_probability" not in values:
        problems.append(Problem(app_id, "success_probability", "required for an exploration-stage loan", None, row))
    if "by_products" in values:
        values["by_products"] = _parse_by_products(values["by_products"], km, app_id, problems)
    if "ree_basket" in values:
        if values.get("mineral") not in (None, "rare_earths"):
            problems.append(Problem(app_id, "ree_basket", "only for mineral rare_earths", values["ree_basket"], row))
            values.pop("ree_basket")
        else:
            values["ree_basket"] = _parse_basket(values["ree_basket"], ko, app_id, problems)
    sched = values.get("production_schedule_ore_mt", ())
    if sched and "ore_reserve_mt" in values and sum(sched) > values["ore_reserve_mt"] * 1.000001:
        problems.append(Problem(app_id, "production_schedule_ore_mt", "total ore scheduled exceeds ore_reserve_mt", round(sum(sched), 3), row))
    if (not sched and "ore_reserve_mt" in values and "throughput_mtpa" in values and "mine_life_years" in values):
        ramp = values.get("ramp_up", ())
        ore_total = values["throughput_mtpa"] * (sum(ramp[: values["mine_life_years"]]) + max(values["mine_life_years"] - len(ramp), 0))
        if ore_total > values["ore_reserve_mt"] * 1.05:
            problems.append(Problem(app_id, "mine_life_years", "throughput x mine life exceeds ore_reserve_mt by more than 5%",
                                    f"{ore_total:.1f} Mt > {values['ore_reserve_mt']:g} Mt", row))

    # issue 16: schedules fit the project's life; the other debt is complete; currency code
    n_years = values.get("construction_years", 0) + (len(sched) or values.get("mine_life_years", 0))
    if len(values.get("capex_schedule_usd_m", ())) > max(n_years, 1):
        problems.append(Problem(app_id, "capex_schedule_usd_m", "more years than construction_years + operating years",
                                len(values["capex_schedule_usd_m"]), row))
    if len(values.get("grade_schedule", ())) > (len(sched) or values.get("mine_life_years", 10**6)):
        problems.append(Problem(app_id, "grade_schedule", "more years than the operating years", len(values["grade_schedule"]), row))
    if values.get("head_grade_unit") == "%" and any(g > 100 for g in values.get("grade_schedule", ())):
        problems.append(Problem(app_id, "grade_schedule", "every grade must be at most 100 %", None, row))
    if values.get("senior_debt_usd_m", 0) > 0:
        for name in ("senior_debt_rate", "senior_debt_tenor_years"):
            if name not in values:
                problems.append(Problem(app_id, name, "required when senior_debt_usd_m > 0", None, row))
        if values.get("senior_debt_grace_years", 0) >= values.get("senior_debt_tenor_years", 10**6):
            problems.append(Problem(app_id, "senior_debt_grace_years", "must be shorter than senior_debt_tenor_years",
                                    values["senior_debt_grace_years"], row))
    if "currency" in values:
        values["currency"] = values["currency"].upper()
        if len(values["currency"]) != 3 or not values["currency"].isalpha():
            problems.append(Problem(app_id, "currency", "must be a three-letter ISO 4217 code, e.g. USD, AUD, CAD", values["currency"], row))
    if "fiscal_region" in values:
        values["fiscal_region"] = values["fiscal_region"].upper()

    if problems:
        return None, problems
    return Application(**values), []
