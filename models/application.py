"""The application a company submits, its field schema and its validation.

One table of :data:`FIELDS` drives everything that needs to know about a field: parsing,
validation, the CSV/workbook header, the blank template's documentation and the UI's column
configuration. Validation collects every problem (application id, field, rule, offending
value) rather than stopping at the first one, so an officer sees the whole list at once and
the valid applications are still evaluated.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from evaluator.errors import InputError

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
    _f("loan_tenor_years", "int", True, "yr", "Loan tenor including grace (the special loan: at most 15 years)", 1, 30, group="Support"),
    _f("loan_grace_years", "int", True, "yr", "Interest-only grace period", 0, 15, group="Support"),
    _f("total_project_cost_usd_m", "float", True, "USD m", "Total project cost (x ownership share = the applicant's spending, the base of the loan's coverage cap)", 0, None, group="Support", lo_open=True),
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
    # issue 28: the study's by-product prices (the bridge's "tool on the study's basis" row prices every product at the study's)
    _f("study_by_product_prices", "str", False, "USD/t product", "By-product prices the study used: 'mineral price; ...', e.g. 'cobalt 33000; copper 9000'", group="Support"),
    _f("study_valuation_year", "int", False, "calendar yr", "Valuation date of the study's NPV (1 January of this year; default: the scenario's first year)", 1990, 2100, group="Support"),
    _f("fiscal_incentive", "str", False, "", "Fiscal incentive granted to the project (evaluator/data/fiscal_incentives.csv), e.g. IDN-TAX-HOLIDAY-5Y; empty = none", group="Costs"),
    _f("construction_months", "int", False, "months", "Construction period in months from the valuation date (capital spent evenly over it, production from its end); construction_years must be it divided by 12, rounded up", 0, 120, group="Costs"),
    # the special loan's own rules (issue 23): the coverage tier and the applicant's own spending
    _f("applicant_size", "choice", False, "", "Size of the Korean applicant (sme, midsize, large; empty = large)", choices=("sme", "midsize", "large"), group="Support"),
    _f("operator", "choice", False, "yes/no", "The applicant is the project's operator", choices=YES_NO, group="Support"),
    _f("imports_to_korea", "choice", False, "yes/no", "Output is imported into Korea (empty = yes when korea_offtake_share > 0)", choices=YES_NO, group="Support"),
    _f("applicant_investment_usd_m", "float", False, "USD m", "The applicant's own qualifying spending on the project (empty = ownership share x total project cost)", 0, None, group="Support"),
    # what the applicant states for the committee memo (issue 27): text, shown as typed, never computed on
    _f("sponsor_track_record", "str", False, "", "The Korean sponsor's track record: mines built or operated, offtake and financing history", group="Memo"),
    _f("offtake_buyer", "str", False, "", "Buyer(s) of the output under the offtake agreement", group="Memo"),
    _f("offtake_volume", "str", False, "", "Volume under the offtake agreement, with its unit (e.g. 3,000 t/yr NdPr oxide)", group="Memo"),
    _f("offtake_price_basis", "str", False, "", "Price basis of the offtake (e.g. Asian Metal NdPr oxide monthly average less 5%)", group="Memo"),
    _f("offtake_tenor_years", "int", False, "yr", "Tenor of the offtake agreement", 1, 50, group="Memo"),
    _f("risk_country_mitigation", "str", False, "", "Country risks and how the applicant mitigates them (insurance, stabilisation agreement, ...)", group="Memo"),
    _f("risk_technical_mitigation", "str", False, "", "Technical risks (resource, metallurgy, construction) and their mitigants", group="Memo"),
    _f("risk_market_mitigation", "str", False, "", "Market risks (price, demand, buyer) and their mitigants", group="Memo"),
    _f("risk_esg_mitigation", "str", False, "", "Environmental, social and governance risks and their mitigants", group="Memo"),
    _f("proposed_covenants", "str", False, "", "Loan covenants the applicant proposes (e.g. DSCR at least 1.3, distribution lock-up)", group="Memo"),
    _f("proposed_security", "str", False, "", "Security the applicant offers (share pledge, offtake assignment, guarantee, ...)", group="Memo"),
)
FIELD_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}
COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
_UNIT_FOR_KIND = {"str": "text", "choice": "choose", "list": "list"}


def unit_label(spec: FieldSpec) -> str:
    """The text of a field in the template's units row, e.g. ``[USD m]``.

    The loader recognises the units row by this content (every filled cell equals its field's
    label), so it must equal ``evaluator.template.units_label`` (a test checks both agree).
    """
    unit = spec.unit or _UNIT_FOR_KIND.get(spec.kind, "")
    if spec.name == "id":
        unit = "text, unique"
    return f"[{unit}]"


def rule_text(code: str, params: Mapping[str, Any] | None = None, language: str = "en") -> str:
    """A validation rule worded in ``language`` from the message catalogue.

    Parameters
    ----------
    code : str
        Catalogue key (``problem_...``) in ``evaluator/data/messages/<language>.toml``.
    params : mapping, optional
        The values the wording quotes. A :class:`Rule` value (a reason inside a reason) is worded
        in the same language; a value named ``unit`` is a field unit and is translated.
    language : {'en', 'ko'}

    Returns
    -------
    str
    """
    # evaluator.messages imports only the standard library, so this import makes no cycle
    from evaluator import messages

    cat = messages.catalogue(language)
    shown = {}
    for k, v in (params or {}).items():
        if isinstance(v, Rule):
            v = v.text(language)
        elif k == "unit" and v:
            v = cat.get(messages.unit_key(v), v)
        shown[k] = v
    return cat[code].format(**shown)


@dataclass(frozen=True)
class Rule:
    """A rule broken, as a catalogue code and the values it quotes (worded by :func:`rule_text`)."""

    code: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def text(self, language: str = "en") -> str:
        return rule_text(self.code, self.params, language)


#: Pseudo-fields of file-level problems, worded in the officer's language (sheet names stay codes).
_PSEUDO_FIELDS = {"file": "problem_field_file", "sheet": "problem_field_sheet"}


@dataclass(frozen=True)
class Problem:
    """One validation problem: which application, which field, which rule, what value.

    ``rule`` is the English wording (the CLI prints it); ``code`` and ``params`` word it in any
    language of the catalogue (:meth:`text`, :meth:`message`). Build one with :meth:`of`.
    """

    application_id: str
    field: str
    rule: str
    value: Any = None
    row: int | None = None
    code: str = ""
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, application_id: str, field_name: str, code: str, value: Any = None, row: int | None = None,
           **params: Any) -> "Problem":
        """A problem from its catalogue code; ``rule`` is the English wording."""
        return cls(application_id, field_name, rule_text(code, params), value, row, code, params)

    @classmethod
    def from_error(cls, application_id: str, field_name: str, exc: "NumberError", value: Any = None,
                   row: int | None = None) -> "Problem":
        """A problem carrying the rule of a :class:`NumberError`."""
        return cls.of(application_id, field_name, exc.code, value, row, **exc.params)

    def rule_text(self, language: str = "en") -> str:
        """The rule alone in ``language`` (the English ``rule`` when the problem has no code)."""
        return rule_text(self.code, self.params, language) if self.code else self.rule

    def field_text(self, language: str = "en") -> str:
        """The field as the officer finds it: a template column by its name in ``language`` and its
        header as the spreadsheet shows it (``Head grade (column head_grade)``), ``file``/``sheet``
        in words, anything else (a header the loader does not read) as it is."""
        key = _PSEUDO_FIELDS.get(self.field)
        if key:
            return rule_text(key, None, language)
        if self.field in FIELD_BY_NAME:
            return rule_text("problem_field_column", {"label": rule_text(f"field_{self.field}", None, language),
                                                      "header": self.field}, language)
        return self.field

    def message(self, language: str = "en") -> str:
        """One readable line, e.g. ``VN-REE-01 (row 7): Head grade (column head_grade) = 120: must be at
        most 100 %``: the template's column header and the spreadsheet's row number (``row``, as Excel
        numbers it when the rows came from a sheet) beside the officer's words.

        Parameters
        ----------
        language : {'en', 'ko'}
            Language of the words; ids, field ids, values and numbers are the same in both.
        """
        if self.application_id and self.row is not None:
            where = rule_text("problem_where_id_row", {"id": self.application_id, "row": self.row}, language)
        elif self.application_id:
            where = self.application_id
        elif self.row is not None:
            where = rule_text("problem_where_row", {"row": self.row}, language)
        else:
            where = rule_text("problem_where_file", None, language)
        val = "" if self.value is None or self.value == "" else f" = {self.value!r}"
        return rule_text("problem_line", {"where": where, "field": self.field_text(language), "value": val,
                                          "rule": self.rule_text(language)}, language)

    text = message

    def as_dict(self, language: str = "en") -> dict:
        """The problem as a table row (``rule`` and pseudo-fields worded in ``language``)."""
        return {"application_id": self.application_id, "field": self.field_text(language),
                "rule": self.rule_text(language), "value": None if self.value is None else str(self.value),
                "row": self.row}


class ValidationError(InputError):
    """Raised when applications cannot be read at all (empty file, wrong sheet, missing columns).

    ``problems`` holds every :class:`Problem` found; ``str(exc)`` is English, :meth:`text` any language.
    """

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message() for p in self.problems) or "invalid input")

    def text(self, language: str = "en", sep: str = "; ") -> str:
        """Every problem's line in ``language``, joined by ``sep``."""
        return sep.join(p.message(language) for p in self.problems)


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
    study_by_product_prices: tuple[tuple[str, float], ...] = ()
    construction_months: int | None = None
    fiscal_incentive: str = ""
    study_valuation_year: int | None = None
    applicant_size: str = "large"
    operator: str = "no"
    imports_to_korea: str | None = None  # None = yes when korea_offtake_share > 0
    applicant_investment_usd_m: float | None = None
    sponsor_track_record: str = ""
    offtake_buyer: str = ""
    offtake_volume: str = ""
    offtake_price_basis: str = ""
    offtake_tenor_years: int | None = None
    risk_country_mitigation: str = ""
    risk_technical_mitigation: str = ""
    risk_market_mitigation: str = ""
    risk_esg_mitigation: str = ""
    proposed_covenants: str = ""
    proposed_security: str = ""

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
                v = "; ".join(f"{b.mineral} {number_text(b.grade)} {b.grade_unit} {number_text(b.recovery)} "
                              f"{number_text(b.payability)}" for b in v)
            elif f.name == "ree_basket":
                v = ";".join(f"{k}:{number_text(s)}" for k, s in v)
            elif f.name == "study_by_product_prices":
                v = "; ".join(f"{k} {number_text(p)}" for k, p in v)
            elif f.kind == "list":
                v = ";".join(number_text(x) for x in v)
            rec[f.name] = v
        return rec


# ----------------------------------------------------------------------------- parsing
#
# The input number grammar (README, "Input number grammar"): a number typed as text is
# ``1234.5``, ``-0.5``, ``.5``, ``1e-05`` or ``1,234.5`` (commas only between groups of exactly three
# digits, then no exponent); ``49%`` only in fraction fields; nothing else. ``220,5``, ``1,2,3``,
# ``1.234,5``, ``nan``, ``inf`` and ``2.5%`` in a grade field are errors, never re-read as another
# number. Numbers that arrive as numbers (xlsx numeric cells, JSON numbers) are taken as they are;
# every number must be finite.

_PLAIN_NUMBER = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_GROUPED_NUMBER = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?"
_NUMBER_RE = re.compile(rf"[+-]?(?:{_GROUPED_NUMBER}|{_PLAIN_NUMBER})")
#: Units whose fields accept a percentage (``49%`` = 0.49).
FRACTION_UNITS = ("fraction", "fractions")
#: Characters that make a spreadsheet read text as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@")
#: Longest text accepted in one field [characters]: Excel's own limit for one cell.
MAX_TEXT_CHARS = 32_767
BOUNDS_PATH = Path(__file__).resolve().parent.parent / "evaluator" / "data" / "plausibility_bounds.csv"


class NumberError(InputError):
    """A value breaks a rule; ``code`` and ``params`` name it (:func:`rule_text`), ``str(exc)`` in English."""

    def __init__(self, code: str, **params: Any):
        self.code = code
        self.params = params
        super().__init__(rule_text(code, params))

    @property
    def rule(self) -> Rule:
        return Rule(self.code, self.params)


class CellFault(str):
    """A cell whose value cannot be read as the officer sees it: a formula without a calculated value,
    a non-finite number (``NaN``, ``Infinity``). The text is what the file holds (the formula, the
    word); ``code`` and ``params`` name the rule (:func:`rule_text`), so that every field that meets
    one reports it by name instead of reading it as blank.
    """

    code: str
    params: dict

    def __new__(cls, text: str, code: str, /, **params: Any) -> "CellFault":
        obj = super().__new__(cls, text)
        obj.code, obj.params = code, dict(params)
        return obj

    def __reduce__(self):  # pickled by value with its rule (the app's session and cache copy tables)
        return (_cell_fault, (str(self), self.code, tuple(self.params.items())))


def _cell_fault(text: str, code: str, params: tuple) -> CellFault:
    return CellFault(text, code, **dict(params))


def number_text(x: float) -> str:
    """Shortest text that reads back to the same float (``0.5``, ``1e-05``, ``100``)."""
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


def parse_number(v: Any, *, percent_ok: bool = False) -> float:
    """Read one number under the input number grammar.

    Parameters
    ----------
    v : str, int or float
        A cell or JSON value. Real numbers are taken as they are; text must follow the grammar.
    percent_ok : bool, default False
        Whether ``49%`` (= 0.49) is accepted: only in fraction fields.

    Returns
    -------
    float
        A finite number.

    Raises
    ------
    NumberError
        Naming the rule the value breaks.
    """
    if type(v) is float:  # the common case, without the slower ABC check below
        x = v
    elif isinstance(v, CellFault):
        raise NumberError(v.code, **v.params)
    elif isinstance(v, bool):
        raise NumberError("problem_not_bool")
    elif isinstance(v, numbers.Real):
        try:
            x = float(v)
        except OverflowError:
            raise NumberError("problem_not_finite") from None
    elif isinstance(v, str):
        s = v.strip()
        pct = s.endswith("%")
        if pct:
            if not percent_ok:
                raise NumberError("problem_percent_not_allowed")
            s = s[:-1]
        if not _NUMBER_RE.fullmatch(s):
            raise NumberError("problem_number_form_pct" if percent_ok else "problem_number_form")
        x = float(s.replace(",", ""))
        if pct:
            x /= 100.0
    else:
        raise NumberError("problem_not_number")
    if not math.isfinite(x):
        raise NumberError("problem_not_finite")
    return x


def clean_text(v: Any) -> str:
    """A text value as the officer means it.

    Surrounding whitespace is dropped, with two exceptions that keep a neutralised formula from
    turning live again: leading whitespace before ``= + - @`` is kept (``" =1+1"`` stays as
    entered), and a value starting with an apostrophe followed by ``= + - @`` (``'=1+1``, the
    escape Excel and the CSV exports use) is the plain text after the apostrophe (``=1+1``) in
    every file format. Line breaks inside are LF (CR LF and CR read as LF, as a workbook's XML does),
    so that a CSV and a workbook of the same text give the same value. The value is only ever text;
    exports neutralise it again.
    """
    s = v if isinstance(v, str) else str(v)
    if "\r" in s:  # line breaks read as in a workbook, whose XML turns CR LF and CR into LF
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    t = s.strip()
    if t[:1] == "'" and t[1:2] in FORMULA_TRIGGERS:
        return t[1:]
    if t[:1] in FORMULA_TRIGGERS and s[:1].isspace():
        return s.rstrip()
    return t


@functools.lru_cache(maxsize=None)
def plausibility_bounds(scope: str = "application") -> dict[str, tuple[float, float]]:
    """Plausibility bounds per money and tonnage field, from ``evaluator/data/plausibility_bounds.csv``.

    Parameters
    ----------
    scope : {"application", "scenario"}

    Returns
    -------
    dict
        Field name -> (lower, upper), inclusive, in the field's unit.
    """
    out = {}
    with open(BOUNDS_PATH, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["scope"] == scope:
                out[row["field"]] = (float(row["lower"]), float(row["upper"]))
    return out


def _is_blank(v: Any) -> bool:
    """None, NaN, pandas' NA/NaT (an emptied cell of the app's data editor) or blank text."""
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() == ""


def _range_rule(spec: FieldSpec, x: float) -> Rule | None:
    """The bound of the schema or of the plausibility table that ``x`` breaks, if any."""
    if spec.lo is not None and (x < spec.lo or (spec.lo_open and x <= spec.lo)):
        return Rule("problem_greater_than" if spec.lo_open else "problem_at_least",
                    {"lo": f"{spec.lo:g}", "unit": spec.unit})
    if spec.hi is not None and x > spec.hi:
        return Rule("problem_at_most", {"hi": f"{spec.hi:g}", "unit": spec.unit})
    lo, hi = plausibility_bounds().get(spec.name, (-math.inf, math.inf))
    if not lo <= x <= hi:
        return Rule("problem_implausible", {"lo": f"{lo:,.6g}", "hi": f"{hi:,.6g}", "unit": spec.unit})
    return None


def _parse_scalar(spec: FieldSpec, v: Any) -> float | int:
    """A float or int field: grammar, whole number, schema bounds, plausibility bound."""
    if isinstance(v, (list, tuple, dict)):
        raise NumberError("problem_one_number", unit=spec.unit)
    x = parse_number(v, percent_ok=spec.unit in FRACTION_UNITS)
    if spec.kind == "int":
        if x != round(x):
            raise NumberError("problem_whole_number")
        x = int(round(x))
    rule = _range_rule(spec, x)
    if rule:
        raise NumberError(rule.code, **rule.params)
    return x


#: Most values in a list field: the longest construction plus mine life the schema accepts (10 + 100
#: years), so that a 100-year mine can carry a 100-year schedule.
MAX_LIST_VALUES = 110


def _parse_list(spec: FieldSpec, v: Any) -> tuple[float, ...]:
    """A list field: ``;``-separated numbers (or a JSON list), each under the grammar and in range."""
    if isinstance(v, (list, tuple)):
        items = list(v)
    elif isinstance(v, str):
        items = [p.strip() for p in v.split(";")]
        if len(items) > 1 and items[-1] == "":
            items.pop()  # one trailing ';' is harmless
    elif isinstance(v, numbers.Real) and not isinstance(v, bool):
        items = [v]
    else:
        raise NumberError("problem_list_form")
    if len(items) > MAX_LIST_VALUES:
        raise NumberError("problem_list_too_long", n=MAX_LIST_VALUES)
    out = []
    for i, item in enumerate(items, start=1):
        if isinstance(item, (list, tuple, dict)) or _is_blank(item):
            raise NumberError("problem_list_item_empty", i=i)
        try:
            x = parse_number(item, percent_ok=spec.unit in FRACTION_UNITS)
        except NumberError as exc:
            raise NumberError("problem_list_item", i=i, item=repr(item), reason=exc.rule) from None
        if x < (spec.lo or 0) or (spec.hi is not None and x > spec.hi):
            rng = f"[{spec.lo:g}, {spec.hi:g}]" if spec.hi is not None else f">= {spec.lo:g}"
            raise NumberError("problem_list_range", range=rng, i=i, x=f"{x:g}")
        rule = _range_rule(spec, x)
        if rule:
            raise NumberError("problem_list_item_rule", i=i, reason=rule)
        out.append(x)
    return tuple(out)


def _parse_by_products(v: str, known_minerals, app_id, problems, primary: str | None = None) -> tuple[ByProduct, ...]:
    out = []
    seen: set[str] = set()
    for item in [p.strip() for p in str(v).split(";") if p.strip()]:
        parts = item.split()
        if len(parts) != 5:
            problems.append(Problem.of(app_id, "by_products", "problem_byproduct_form", item))
            continue
        mineral, unit = parts[0].lower(), parts[2]
        try:
            grade = parse_number(parts[1])
            rec, pay = (parse_number(p, percent_ok=True) for p in parts[3:])
        except NumberError as exc:
            problems.append(Problem.of(app_id, "by_products", "problem_item", item, item=item, reason=exc.rule))
            continue
        if known_minerals is not None and mineral not in known_minerals:
            problems.append(Problem.of(app_id, "by_products", "problem_unknown_mineral", mineral))
            continue
        if unit not in GRADE_UNITS:
            problems.append(Problem.of(app_id, "by_products", "problem_grade_unit_choice", unit, choices=", ".join(GRADE_UNITS)))
            continue
        if mineral == primary or mineral in seen:  # its revenue would be counted twice
            problems.append(Problem.of(app_id, "by_products", "problem_byproduct_is_primary" if mineral == primary
                                       else "problem_byproduct_twice", item, mineral=mineral))
            continue
        seen.add(mineral)
        max_grade = 100.0 if unit == "%" else 1e6
        if not (0 <= grade <= max_grade) or not (0 <= rec <= 1) or not (0 <= pay <= 1):
            problems.append(Problem.of(app_id, "by_products", "problem_byproduct_range", item))
            continue
        out.append(ByProduct(mineral, grade, unit, rec, pay))
    return tuple(out)


def _parse_study_prices(v: str, by_products, app_id, problems) -> tuple[tuple[str, float], ...]:
    """``study_by_product_prices``: 'mineral price' items [USD/t product], each a by-product of the application."""
    out = []
    named = {b.mineral for b in by_products}
    for item in [p.strip() for p in str(v).split(";") if p.strip()]:
        parts = item.split()
        if len(parts) != 2:
            problems.append(Problem.of(app_id, "study_by_product_prices", "problem_study_price_form", item))
            continue
        mineral = parts[0].lower()
        try:
            price = parse_number(parts[1])
        except NumberError as exc:
            problems.append(Problem.of(app_id, "study_by_product_prices", "problem_item", item, item=item, reason=exc.rule))
            continue
        if mineral not in named:
            problems.append(Problem.of(app_id, "study_by_product_prices", "problem_study_price_not_byproduct", mineral))
            continue
        if not price > 0:
            problems.append(Problem.of(app_id, "study_by_product_prices", "problem_study_price_positive", item))
            continue
        out.append((mineral, price))
    return tuple(out)


def _parse_basket(v: str, known_oxides, app_id, problems) -> tuple[tuple[str, float], ...]:
    items = []
    for item in [p.strip() for p in str(v).split(";") if p.strip()]:
        name, sep, share = item.partition(":")
        try:
            if not sep:
                raise NumberError("problem_basket_form")
            s = parse_number(share, percent_ok=True)
        except NumberError as exc:
            problems.append(Problem.of(app_id, "ree_basket", "problem_item", item, item=item, reason=exc.rule))
            return ()
        if known_oxides is not None and name.strip() not in known_oxides:
            problems.append(Problem.of(app_id, "ree_basket", "problem_unknown_oxide", name.strip(),
                                       known=", ".join(sorted(known_oxides))))
            return ()
        if not 0 <= s <= 1:
            problems.append(Problem.of(app_id, "ree_basket", "problem_basket_share_range", item))
            return ()
        items.append((name.strip(), s))
    total = sum(s for _, s in items)
    if items and abs(total - 1.0) > 0.005:
        problems.append(Problem.of(app_id, "ree_basket", "problem_basket_sum", round(total, 4)))
        return ()
    return tuple(items)


def _parse_choice(spec: FieldSpec, v: Any) -> str:
    s = str(v).strip()
    s_norm = s.upper() if spec.name == "esg_category" else s.lower()
    if s_norm not in spec.choices:
        raise NumberError("problem_one_of", choices=", ".join(spec.choices))
    return s_norm


_MISSING = object()
#: Characters no workbook can hold (not XML 1.0 characters): C0 controls other than tab, line feed and
#: carriage return, lone surrogates, U+FFFE and U+FFFF. A text holding one could not be exported.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _parse_field(spec: FieldSpec, v: Any, app_id: str, row: int | None, problems: list[Problem]) -> Any:
    """One field's value, or ``_MISSING`` after appending the problem (blank, wrong form, out of range)."""
    if _is_blank(v):
        if spec.required:
            problems.append(Problem.of(app_id, spec.name, "problem_required_empty", None, row))
        return _MISSING
    if isinstance(v, CellFault):  # in a text field too: the cell's value is not known
        problems.append(Problem.of(app_id, spec.name, v.code, str(v)[:80], row, **v.params))
        return _MISSING
    try:
        if spec.kind in ("str", "choice"):
            if isinstance(v, (list, tuple, dict)):
                raise NumberError("problem_one_text")
            if isinstance(v, str) and len(v) > MAX_TEXT_CHARS:
                raise NumberError("problem_text_too_long", n=f"{MAX_TEXT_CHARS:,}")
            bad = _CONTROL_RE.search(str(v))
            if bad:  # no workbook can hold them: the template and the report would fail on export
                raise NumberError("problem_control_char", char=f"U+{ord(bad.group()):04X}")
            return clean_text(v) if spec.kind == "str" else _parse_choice(spec, v)
        if spec.kind in ("float", "int"):
            return _parse_scalar(spec, v)
        return _parse_list(spec, v)
    except NumberError as exc:
        shown = v if not isinstance(v, str) or len(v) <= 80 else v[:77] + "..."
        problems.append(Problem.from_error(app_id, spec.name, exc, shown, row))
        return _MISSING


def record_id(v: Any) -> str:
    """The application id of a raw value, as the loader reads it ("" when blank)."""
    return "" if _is_blank(v) or isinstance(v, (list, tuple, dict)) else clean_text(v)


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
    app_id = record_id(raw.get("id"))
    values: dict[str, Any] = {}
    for spec in FIELDS:
        x = _parse_field(spec, raw.get(spec.name), app_id, row, problems)
        if x is not _MISSING:
            values[spec.name] = x
    kc = None if known_countries is None else set(known_countries)
    km = None if known_minerals is None else set(known_minerals)
    ko = None if known_oxides is None else set(known_oxides)
    _cross_field_rules(values, app_id, row, problems, kc, km, ko)
    if problems:
        return None, problems
    return Application(**values), []


@functools.lru_cache(maxsize=1)
def _max_loan_tenor_years() -> int:
    """The special loan's longest tenor including grace [yr] (``loan_terms.csv``; 15 in every
    terms year: 2020 execution plan)."""
    from models.scenario import LOAN_TERMS, loan_terms_value

    return int(max(loan_terms_value(t, "max_tenor_years") for t in LOAN_TERMS))


def _cross_field_rules(values: dict, app_id: str, row, problems: list[Problem], kc, km, ko) -> None:
    """Rules between fields and against reference keys; parses by-products and the REE basket."""
    if "processing_country_iso3" in values:
        values["processing_country_iso3"] = values["processing_country_iso3"].upper()
        if kc is not None and values["processing_country_iso3"] not in kc:
            problems.append(Problem.of(app_id, "processing_country_iso3", "problem_unknown_country",
                                       values["processing_country_iso3"], row))
    if kc is not None and "country_iso3" in values:
        values["country_iso3"] = values["country_iso3"].upper()
        if values["country_iso3"] not in kc:
            problems.append(Problem.of(app_id, "country_iso3", "problem_unknown_country", values["country_iso3"], row))
    if "mineral" in values:
        values["mineral"] = values["mineral"].lower().replace(" ", "_").replace("-", "_")
        if km is not None and values["mineral"] not in km:
            problems.append(Problem.of(app_id, "mineral", "problem_unknown_mineral_ref", values["mineral"], row))
    if values.get("head_grade_unit") == "%" and values.get("head_grade", 0) > 100:
        problems.append(Problem.of(app_id, "head_grade", "problem_grade_over_100", values["head_grade"], row))
    if values.get("head_grade_unit") in ("g/t", "ppm") and values.get("head_grade", 0) > 1e6:
        problems.append(Problem.of(app_id, "head_grade", "problem_grade_over_1e6", values["head_grade"], row))
    if "loan_grace_years" in values and "loan_tenor_years" in values and values["loan_grace_years"] >= values["loan_tenor_years"]:
        problems.append(Problem.of(app_id, "loan_grace_years", "problem_shorter_than", values["loan_grace_years"], row,
                                   other="loan_tenor_years"))
    max_tenor = _max_loan_tenor_years()
    if values.get("loan_request_krw_bn", 0) > 0 and values.get("loan_tenor_years", 0) > max_tenor:
        problems.append(Problem.of(app_id, "loan_tenor_years", "problem_tenor_above_special_loan_max",
                                   values["loan_tenor_years"], row, max=max_tenor))
    if values.get("stage") == "exploration" and values.get("loan_request_krw_bn", 0) > 0 and "success_probability" not in values:
        problems.append(Problem.of(app_id, "success_probability", "problem_exploration_needs_probability", None, row))
    if "by_products" in values:
        values["by_products"] = _parse_by_products(values["by_products"], km, app_id, problems, values.get("mineral"))
    if "study_by_product_prices" in values:
        values["study_by_product_prices"] = _parse_study_prices(values["study_by_product_prices"],
                                                                values.get("by_products", ()), app_id, problems)
    if "ree_basket" in values:
        if values.get("mineral") not in (None, "rare_earths"):
            problems.append(Problem.of(app_id, "ree_basket", "problem_basket_only_ree", values["ree_basket"], row))
            values.pop("ree_basket")
        else:
            values["ree_basket"] = _parse_basket(values["ree_basket"], ko, app_id, problems)
    sched = values.get("production_schedule_ore_mt", ())
    if sched and "ore_reserve_mt" in values and sum(sched) > values["ore_reserve_mt"] * 1.000001:
        problems.append(Problem.of(app_id, "production_schedule_ore_mt", "problem_schedule_exceeds_reserve",
                                   round(sum(sched), 3), row))
    if (not sched and "ore_reserve_mt" in values and "throughput_mtpa" in values and "mine_life_years" in values):
        ramp = values.get("ramp_up", ())
        ore_total = values["throughput_mtpa"] * (sum(ramp[: values["mine_life_years"]]) + max(values["mine_life_years"] - len(ramp), 0))
        if ore_total > values["ore_reserve_mt"] * 1.05:
            problems.append(Problem.of(app_id, "mine_life_years", "problem_life_exceeds_reserve",
                                       f"{ore_total:.1f} Mt > {values['ore_reserve_mt']:g} Mt", row))
    _model_rules(values, app_id, row, problems, sched)


def _model_rules(values: dict, app_id: str, row, problems: list[Problem], sched) -> None:
    """Rules of the mine model's own fields: schedules fit the project's life, the other debt is
    complete, a currency is an ISO 4217 code, the fiscal region is upper case."""
    n_years = values.get("construction_years", 0) + (len(sched) or values.get("mine_life_years", 0))
    if len(values.get("capex_schedule_usd_m", ())) > max(n_years, 1):
        problems.append(Problem.of(app_id, "capex_schedule_usd_m", "problem_capex_schedule_too_long",
                                   len(values["capex_schedule_usd_m"]), row))
    if len(values.get("grade_schedule", ())) > (len(sched) or values.get("mine_life_years", 10**6)):
        problems.append(Problem.of(app_id, "grade_schedule", "problem_grade_schedule_too_long", len(values["grade_schedule"]),
                                   row))
    if values.get("head_grade_unit") == "%" and any(g > 100 for g in values.get("grade_schedule", ())):
        problems.append(Problem.of(app_id, "grade_schedule", "problem_grade_schedule_over_100", None, row))
    if "construction_months" in values and "construction_years" in values \
            and values["construction_years"] != -(-values["construction_months"] // 12):
        problems.append(Problem.of(app_id, "construction_months", "problem_construction_months_years",
                                   values["construction_months"], row, years=-(-values["construction_months"] // 12)))
    if values.get("senior_debt_usd_m", 0) > 0:
        for name in ("senior_debt_rate", "senior_debt_tenor_years"):
            if name not in values:
                problems.append(Problem.of(app_id, name, "problem_required_with_senior_debt", None, row))
        if values.get("senior_debt_grace_years", 0) >= values.get("senior_debt_tenor_years", 10**6):
            problems.append(Problem.of(app_id, "senior_debt_grace_years", "problem_shorter_than",
                                       values["senior_debt_grace_years"], row, other="senior_debt_tenor_years"))
    if "currency" in values:
        values["currency"] = values["currency"].upper()
        if len(values["currency"]) != 3 or not values["currency"].isalpha():
            problems.append(Problem.of(app_id, "currency", "problem_currency_code", values["currency"], row))
    if "fiscal_region" in values:
        values["fiscal_region"] = values["fiscal_region"].upper()
    if "fiscal_incentive" in values:
        values["fiscal_incentive"] = values["fiscal_incentive"].upper()
