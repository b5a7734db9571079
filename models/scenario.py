"""The officer's assumptions: price deck, rates, budgets, caps, weights.

A scenario is an immutable record; ``replace(...)`` gives a what-if copy. It loads from and
saves to TOML or JSON, and the bundled default lives in ``evaluator/data/default_scenario.toml``
with the source of every policy figure.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import tomli_w

DEFAULT_SCENARIO_PATH = Path(__file__).resolve().parent.parent / "evaluator" / "data" / "default_scenario.toml"
CRITERIA = ("financial", "risk", "diversification", "loan_safety", "readiness", "esg")
PRICE_CASES = ("base", "low", "high")
DISPLACEMENT_RULES = ("top_supplier", "pro_rata", "additive")
IMPORT_BASES = ("quantity", "value")
DEMAND_CASES = ("low", "base", "high")
OBJECTIVES = ("score_weighted_support", "total_score", "total_npv", "total_diversification")
LOAN_TERMS = ("2026", "2025")


class ScenarioError(ValueError):
    """A scenario file or value breaks a rule; the message names the field and the rule."""


@dataclass(frozen=True)
class Scenario:
    """Assumptions an officer sets. Rates are fractions; money in KRW bn unless named otherwise.

    Notes
    -----
    ``loan_terms`` selects the policy-loan terms: "2026" (coverage cap 70 %, write-off 90 %)
    or "2025" (50 %, 80 %) for back-testing; explicit ``coverage_cap_share`` and
    ``write_off_share`` are what the model uses, and :meth:`with_loan_terms` sets both.
    """

    name: str = "Default 2026"
    first_year: int = 2027
    price_case: str = "base"
    price_overrides_usd_per_t: Mapping[str, float] = field(default_factory=dict)
    fx_krw_per_usd: float = 1461.0
    discount_rate: float = 0.08
    social_discount_rate: float = 0.045
    add_country_risk_premium: bool = True
    mid_year: bool = False
    policy_loan_rate: float = 0.02
    loan_terms: str = "2026"
    write_off_share: float = 0.90
    coverage_cap_share: float = 0.70
    lgd: float = 0.45
    fund_krw_bn: float = 250.0
    loan_krw_bn: float = 67.5
    country_cap_share: float = 1.0
    mineral_cap_share: float = 1.0
    country_caps_krw_bn: Mapping[str, float] = field(default_factory=dict)
    mineral_caps_krw_bn: Mapping[str, float] = field(default_factory=dict)
    expected_loss_cap_krw_bn: float | None = None
    min_minerals_covered: int = 0
    weights: Mapping[str, float] = field(default_factory=lambda: {
        "financial": 0.25, "risk": 0.15, "diversification": 0.30,
        "loan_safety": 0.10, "readiness": 0.10, "esg": 0.10})
    excluded_countries: tuple[str, ...] = ()
    min_korean_ownership_share: float = 0.10
    displacement_rule: str = "top_supplier"
    import_basis: str = "quantity"
    target_single_supplier_share: float = 0.50
    target_year: int = 2030
    horizon_year: int = 2035
    objective: str = "score_weighted_support"
    min_fraction: float = 0.5
    depreciation_years_default: int = 10
    financial_measure: str = "npv"
    lender_min_dscr: float = 1.30
    lender_min_llcr: float = 1.40
    #: Trade years averaged for Korea's import basis, first and last (None: the data's default
    #: window, the last three bundled years; supply_score_scale.csv).
    supply_window: tuple[int, int] | None = None
    #: Korea's demand path to 2035 (supply_demand_paths.csv).
    demand_case: str = "base"
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

    def replace(self, **changes: Any) -> "Scenario":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def with_loan_terms(self, terms: str) -> "Scenario":
        """Switch coverage cap and write-off share to the named year's policy terms.

        References
        ----------
        MOTIE / KOMIR, 2026 overseas resource development loan terms (Feb 2026): coverage up to
        70 % of project cost (was 50 %), write-off up to 90 % on failed exploration (was 80 %).
        """
        table = {"2026": (0.70, 0.90), "2025": (0.50, 0.80)}
        if terms not in table:
            raise ScenarioError(f"loan_terms: must be one of {', '.join(table)}")
        cap, wo = table[terms]
        return self.replace(loan_terms=terms, coverage_cap_share=cap, write_off_share=wo)

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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ScenarioError(f"unknown scenario field(s): {', '.join(unknown)}")
        d = dict(data)
        if "excluded_countries" in d:
            d["excluded_countries"] = tuple(str(c).upper() for c in d["excluded_countries"])
        if d.get("supply_window") is not None:
            w = d["supply_window"]
            if isinstance(w, (str, bytes)) or not hasattr(w, "__len__") or len(w) != 2:
                raise ScenarioError("supply_window: must be [first_year, last_year]")
            d["supply_window"] = (int(w[0]), int(w[1]))
        for k in ("weights", "price_overrides_usd_per_t", "country_caps_krw_bn", "mineral_caps_krw_bn", "fx_usd_per_unit"):
            if k in d:
                if not isinstance(d[k], Mapping):
                    raise ScenarioError(f"{k}: must be a table of name = number")
                d[k] = {str(a): _num(k, b) for a, b in d[k].items()}
        if "price_path_usd_per_t" in d:
            d["price_path_usd_per_t"] = _price_paths(d["price_path_usd_per_t"])
        try:
            return cls(**d)
        except TypeError as exc:  # wrong types that dataclasses cannot coerce
            raise ScenarioError(str(exc)) from exc


def _price_paths(data: Any) -> dict[str, dict[int, float]]:
    """``{mineral: {year: price}}`` from a TOML/JSON table (years may arrive as text)."""
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        raise ScenarioError("price_path_usd_per_t: must be a table of mineral = {year = price}")
    out = {}
    for mineral, path in data.items():
        try:
            out[str(mineral)] = {int(y): _num(f"price_path_usd_per_t.{mineral}", p) for y, p in path.items()}
        except ValueError:
            raise ScenarioError(f"price_path_usd_per_t.{mineral}: years must be whole calendar years") from None
    return out


def _num(name: str, v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ScenarioError(f"{name}: {v!r} must be a number") from None


def validate_scenario(s: Scenario) -> list[str]:
    """Every rule the scenario breaks, as 'field: rule' lines."""
    p: list[str] = []

    def frac(name, lo=0.0, hi=1.0):
        v = getattr(s, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not (lo <= v <= hi):
            p.append(f"{name}: must be a number in [{lo:g}, {hi:g}], got {v!r}")

    for n in ("write_off_share", "coverage_cap_share", "lgd", "country_cap_share", "mineral_cap_share",
              "min_korean_ownership_share", "target_single_supplier_share", "min_fraction"):
        frac(n)
    for n in ("discount_rate", "social_discount_rate", "policy_loan_rate"):
        frac(n, -0.05, 0.5)
    for n in ("lender_min_dscr", "lender_min_llcr"):
        frac(n, 1.0, 5.0)
    for n in ("fund_krw_bn", "loan_krw_bn"):
        v = getattr(s, n)
        if not isinstance(v, (int, float)) or v < 0:
            p.append(f"{n}: must be a non-negative number [KRW bn], got {v!r}")
    if not isinstance(s.fx_krw_per_usd, (int, float)) or s.fx_krw_per_usd <= 0:
        p.append(f"fx_krw_per_usd: must be positive [KRW/USD], got {s.fx_krw_per_usd!r}")
    if s.price_case not in PRICE_CASES:
        p.append(f"price_case: must be one of {', '.join(PRICE_CASES)}")
    if s.displacement_rule not in DISPLACEMENT_RULES:
        p.append(f"displacement_rule: must be one of {', '.join(DISPLACEMENT_RULES)}")
    if s.import_basis not in IMPORT_BASES:
        p.append(f"import_basis: must be one of {', '.join(IMPORT_BASES)}")
    if s.objective not in OBJECTIVES:
        p.append(f"objective: must be one of {', '.join(OBJECTIVES)}")
    if s.loan_terms not in LOAN_TERMS:
        p.append(f"loan_terms: must be one of {', '.join(LOAN_TERMS)}")
    if s.demand_case not in DEMAND_CASES:
        p.append(f"demand_case: must be one of {', '.join(DEMAND_CASES)}")
    if s.supply_window is not None:
        w = s.supply_window
        if len(w) != 2 or not all(isinstance(y, int) and 2000 <= y <= 2100 for y in w) or w[0] > w[1]:
            p.append(f"supply_window: must be two years [first, last] with first <= last, got {w!r}")
    if s.financial_measure not in ("npv", "p10_npv", "prob_loss"):
        p.append("financial_measure: must be one of npv, p10_npv, prob_loss")
    unknown = sorted(set(s.weights) - set(CRITERIA))
    if unknown:
        p.append(f"weights: unknown criteria {', '.join(unknown)} (known: {', '.join(CRITERIA)})")
    ws = [s.weights.get(c, 0.0) for c in CRITERIA]
    if any((not isinstance(w, (int, float))) or w < 0 for w in ws):
        p.append("weights: every weight must be a non-negative number")
    elif sum(ws) <= 0:
        p.append("weights: at least one weight must be positive")
    for k, v in list(s.price_overrides_usd_per_t.items()):
        if not v > 0:
            p.append(f"price_overrides_usd_per_t.{k}: must be positive [USD/t]")
    for k, v in s.fx_usd_per_unit.items():
        if not isinstance(v, (int, float)) or not v > 0:
            p.append(f"fx_usd_per_unit.{k}: must be positive [USD per unit]")
    for k, path in s.price_path_usd_per_t.items():
        if not path:
            p.append(f"price_path_usd_per_t.{k}: needs at least one year = price")
        if any(not isinstance(v, (int, float)) or not v > 0 for v in path.values()):
            p.append(f"price_path_usd_per_t.{k}: every price must be positive [USD/t]")
        if any(not isinstance(y, int) or not 1900 <= y <= 2200 for y in path):
            p.append(f"price_path_usd_per_t.{k}: years must be calendar years")
    for name in ("country_caps_krw_bn", "mineral_caps_krw_bn"):
        for k, v in getattr(s, name).items():
            if v < 0:
                p.append(f"{name}.{k}: must be non-negative [KRW bn]")
    if not (2000 <= s.first_year <= 2100):
        p.append("first_year: must be a calendar year")
    if not (s.first_year - 1 <= s.target_year <= s.horizon_year):
        p.append("target_year: must lie between the base year and horizon_year")
    return p


def default_scenario() -> Scenario:
    """The bundled 2026 default (``evaluator/data/default_scenario.toml``)."""
    return load_scenario(DEFAULT_SCENARIO_PATH)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from TOML or JSON; fields not given keep the code defaults."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario file ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text.decode("utf-8"))
        else:
            data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path.name}: not a valid scenario file: {exc}") from None
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{path.name}: a scenario file must hold a table of fields")
    data = {k: v for k, v in data.items() if k != "sources"}  # sources are documentation
    try:
        return Scenario.from_dict(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None


def scenario_to_toml(s: Scenario) -> str:
    """TOML text of a scenario."""
    return tomli_w.dumps(s.to_dict())


def save_scenario(s: Scenario, path: str | Path) -> None:
    """Write a scenario as TOML (``.toml``) or JSON (``.json``)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(s.to_dict(), indent=2), encoding="utf-8")
    else:
        path.write_text(scenario_to_toml(s), encoding="utf-8")
