"""Reconciliation of the fund's NPV with the applicant's feasibility study: a bridge (waterfall).

The study states its own NPV at its own discount rate, pre- or after-tax (``study_npv_usd_m``,
``study_discount_rate``, ``study_basis``), and may state the price, royalty and tax rates,
first production year and initial capital it assumed. :func:`bridge` values the project with
the tool six times, moving one group of assumptions at a time from the study's to the fund's:

0. the study's assumptions throughout, on the study's basis: *the tool's figure on the study's
   basis*; its gap to the published NPV is the part the tool does not reproduce (model and
   inputs not in the application, e.g. a different production profile or working capital);
1. price deck: the study's flat prices -> the fund's deck (scenario case, overrides, price path):
   the primary product (``study_price_usd_per_t``) and every by-product the study prices
   (``study_by_product_prices``), so that row 0 is the tool on the study's prices throughout;
2. discount rate and country premium: the study's rate -> the scenario's rate plus the host
   country's premium;
3. fiscal terms: the study's royalty and income tax rates and basis (pre- or after-tax) -> the
   fund's regime (fiscal_regimes.csv or the country tables), after tax;
4. timing: the study's first production year -> the applicant's construction schedule;
5. costs: the study's initial capital -> the applicant's.

The last valuation equals :func:`evaluator.evaluate.evaluate`'s ``npv_usd_m``. Each step is the
difference of consecutive valuations, so the steps (with the unreproduced part) add up to the
total difference fund - study. A group the study does not state moves nothing (its step is 0 and
``notes`` says so). The attribution depends on the order of the steps, as in any sequential
bridge; the order above is fixed so that bridges of different projects compare.

References
----------
.. [1] CIM (2019). *Estimation of Mineral Resources and Mineral Reserves Best Practice
   Guidelines*; NI 43-101F1 item 22 (economic analysis: NPV, IRR, sensitivities, taxes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from evaluator import cashflow, finance
from evaluator.errors import InputError
from evaluator.evaluate import discount_rates
from models.application import Application
from models.scenario import Scenario

__all__ = ["ReconcileError", "BridgeStep", "Bridge", "bridge", "bridges", "bridge_table", "has_study", "STEP_GROUPS",
           "BRIDGE_FIELDS", "STUDY_COLUMNS"]

#: the groups moved from the study's assumptions to the fund's, in bridge order
STEP_GROUPS = ("price deck", "discount rate and country premium", "fiscal terms", "timing", "costs")


class ReconcileError(InputError):
    """The application lacks the study figures a bridge needs (the message names them)."""


@dataclass(frozen=True)
class BridgeStep:
    """One bar of the waterfall.

    Attributes
    ----------
    label : str
        ``unreproduced by the tool`` or one of :data:`STEP_GROUPS`.
    change_usd_m : float
        NPV change of this step [USD m].
    npv_after_usd_m : float
        NPV after the step [USD m].
    detail : str
        What moved (from -> to), or why nothing did.
    """

    label: str
    change_usd_m: float
    npv_after_usd_m: float
    detail: str


@dataclass(frozen=True)
class Bridge:
    """The study's NPV, the tool's, and the steps between them.

    Attributes
    ----------
    application_id : str
    study_basis : str
        ``after_tax`` or ``pre_tax``.
    study_npv_usd_m : float
        Published NPV [USD m] at ``study_discount_rate``.
    study_discount_rate : float
        [fraction]
    tool_npv_study_basis_usd_m : float
        The tool's NPV with the study's assumptions, on the study's basis [USD m].
    study_irr, tool_irr_study_basis : float
        Published IRR and the tool's IRR on the study's assumptions and basis [fraction]
        (NaN when not given / none).
    fund_npv_usd_m : float
        The fund's NPV (after tax, fund's assumptions) [USD m].
    steps : tuple of BridgeStep
        First the unreproduced part, then one step per group of :data:`STEP_GROUPS`.
    """

    application_id: str
    study_basis: str
    study_npv_usd_m: float
    study_discount_rate: float
    tool_npv_study_basis_usd_m: float
    study_irr: float
    tool_irr_study_basis: float
    fund_npv_usd_m: float
    steps: tuple[BridgeStep, ...]

    @property
    def total_difference_usd_m(self) -> float:
        """Fund NPV - study NPV [USD m] (= the sum of the steps)."""
        return self.fund_npv_usd_m - self.study_npv_usd_m

    def frame(self):
        """The waterfall as a table: ``label``, ``change_usd_m``, ``npv_after_usd_m``, ``detail``,
        starting with the published study and ending with the fund's figure."""
        import pandas as pd
        rows = [("study (published)", np.nan, self.study_npv_usd_m, f"at {self.study_discount_rate:.1%}, {self.study_basis}")]
        rows += [(s.label, s.change_usd_m, s.npv_after_usd_m, s.detail) for s in self.steps]
        rows.append(("fund", self.total_difference_usd_m, self.fund_npv_usd_m, "fund's assumptions, after tax"))
        return pd.DataFrame(rows, columns=["label", "change_usd_m", "npv_after_usd_m", "detail"])


def _variants(app: Application, scenario: Scenario) -> tuple[list[Application], list[str]]:
    """The six applications of the bridge (study's assumptions switched off one group at a
    time) and the step details."""
    details = []
    study_fiscal = dict(royalty_rate=app.study_royalty_rate if app.study_royalty_rate is not None else app.royalty_rate,
                        income_tax_rate=app.study_income_tax_rate if app.study_income_tax_rate is not None
                        else app.income_tax_rate)
    if app.study_income_tax_rate is not None:  # the study's own rate: no incentive on top of it
        study_fiscal["fiscal_incentive"] = ""
    if app.study_first_production_year is not None:
        # construction years from the study's own valuation date (its NPV is stated at that date)
        c_study = app.study_first_production_year - (app.study_valuation_year or scenario.first_year)
        timing = dict(construction_years=max(c_study, 0), construction_months=None)
        fund_first = scenario.first_year + (app.construction_years if app.construction_months is None
                                            else app.construction_months // 12)
        months = "" if app.construction_months is None else f" (after {app.construction_months} months of construction)"
        valued = "" if app.study_valuation_year is None else \
            f" (study valued at 1 January {app.study_valuation_year}, the fund at {scenario.first_year})"
        details_timing = (f"first production {app.study_first_production_year} -> {fund_first}{months}{valued}"
                          + (" (study's year before the valuation date: taken as already built)" if c_study < 0 else ""))
    else:
        timing, details_timing = {}, "study's first production year not stated: no change"
    if app.study_initial_capex_usd_m is not None and app.initial_capex_usd_m > 0:
        k = app.study_initial_capex_usd_m / app.initial_capex_usd_m
        costs = dict(initial_capex_usd_m=app.study_initial_capex_usd_m,
                     capex_schedule_usd_m=tuple(x * k for x in app.capex_schedule_usd_m))
        details_costs = f"initial capital {app.study_initial_capex_usd_m:,.1f} -> {app.initial_capex_usd_m:,.1f} USD m"
    else:
        costs, details_costs = {}, "study's initial capital not stated: no change"
    groups = [{}, {}, study_fiscal, timing, costs]  # price and rate are not application fields
    rows = []
    for k in range(6):  # row k: groups < k at the fund's values, groups >= k at the study's
        change = {}
        for g in range(k, 5):
            change.update(groups[g])
        rows.append(dataclasses.replace(app, id=f"{app.id}#bridge{k}", **change))
    fiscal_detail = (f"royalty {_pct(app.study_royalty_rate)} and income tax {_pct(app.study_income_tax_rate)}, "
                     f"{app.study_basis.replace('_', '-')} -> fund's regime, after tax")
    details = ["", "", fiscal_detail, details_timing, details_costs]
    return rows, details


def _pct(x):
    return "as the fund's" if x is None else f"{x:.1%}"


def bridge(app: Application, scenario: Scenario, ref) -> Bridge:
    """Bridge from the study's published NPV to the fund's NPV, one assumption group a step.

    Parameters
    ----------
    app : Application
        With ``study_npv_usd_m`` and ``study_discount_rate`` (required), optionally
        ``study_basis``, ``study_irr``, ``study_price_usd_per_t``, ``study_by_product_prices``,
        ``study_royalty_rate``, ``study_income_tax_rate``, ``study_first_production_year``,
        ``study_initial_capex_usd_m``.
    scenario : Scenario
        The fund's assumptions.
    ref : evaluator.reference.ReferenceData

    Returns
    -------
    Bridge
        ``sum(step.change_usd_m) == fund_npv_usd_m - study_npv_usd_m`` (to rounding).

    Raises
    ------
    ReconcileError
        When ``study_npv_usd_m`` or ``study_discount_rate`` is missing.
    """
    return bridges([app], scenario, ref)[0]


def has_study(app: Application) -> bool:
    """Whether the application carries the study figures a bridge needs."""
    return app.study_npv_usd_m is not None and app.study_discount_rate is not None


def _study_prices(inputs, apps: Sequence[Application], ref, details: list[str]):
    """``inputs`` with row 0 of each application's six (rows ``6 i``) priced at the study's prices:
    the primary product at ``study_price_usd_per_t`` and each by-product named in
    ``study_by_product_prices``, all flat (no price path). A price the study does not state stays
    the fund's, and ``details`` says so."""
    price, factor = inputs.price_usd_per_t.copy(), inputs.price_factor.copy()
    coef, by_factor = inputs.byproduct_coef_usd_per_t_ore.copy(), inputs.byproduct_price_factor.copy()
    by_rows = inputs.byproduct_rows
    by_k = cashflow.rank_within(by_rows) if len(by_rows) else by_rows
    for i, app in enumerate(apps):
        r0 = 6 * i
        moved, kept = [], []
        if app.study_price_usd_per_t is not None:
            moved.append(f"{app.mineral} {app.study_price_usd_per_t:,.0f} -> {price[r0]:,.0f}")
            price[r0], factor[r0] = app.study_price_usd_per_t, 1.0
        else:
            kept.append(app.mineral)
        study_by = dict(app.study_by_product_prices)
        for j in np.flatnonzero(by_rows == r0):
            b = app.by_products[by_k[j]]
            if b.mineral not in study_by:
                kept.append(b.mineral)
                continue
            # the coefficient is revenue per t ore at the deck's price in model year 1: rebuilt at
            # the study's price (grade x recovery x payability x product factor x price)
            fund_coef = float(coef[j])
            coef[j] = (b.grade_fraction * b.recovery * b.payability
                       * float(ref.minerals.at[b.mineral, "product_factor"]) * study_by[b.mineral])
            by_factor[r0, by_k[j]] = 1.0
            fund_price = fund_coef / coef[j] * study_by[b.mineral] if coef[j] > 0 else float("nan")
            moved.append(f"{b.mineral} {study_by[b.mineral]:,.0f} -> {fund_price:,.0f}")
        text = ("USD/t in year 1 (fund's deck): " + "; ".join(moved)) if moved else "study's prices not stated: no change"
        if moved and kept:
            text += f" (not stated by the study, at the fund's deck on both sides: {', '.join(kept)})"
        details.append(text)
    return dataclasses.replace(inputs, price_usd_per_t=price, price_factor=factor, byproduct_coef_usd_per_t_ore=coef,
                               byproduct_price_factor=by_factor)


def bridges(apps: Sequence[Application], scenario: Scenario, ref) -> list[Bridge]:
    """:func:`bridge` for many applications at once (one cash-flow build of six rows each).

    Raises
    ------
    ReconcileError
        Naming the first application that lacks ``study_npv_usd_m`` or ``study_discount_rate``.
    """
    for app in apps:
        missing = [f for f in ("study_npv_usd_m", "study_discount_rate") if getattr(app, f) is None]
        if missing:
            raise ReconcileError(f"{app.id}: {', '.join(missing)} needed for a reconciliation with the study")
    if not apps:
        return []
    apps = [cashflow.in_usd(a, scenario, ref) for a in apps]
    rows, details = [], []
    for app in apps:
        r, d = _variants(app, scenario)
        rows += r
        details.append(d)
    inputs = cashflow.resolve_inputs(rows, scenario, ref)
    price_details: list[str] = []
    inputs = _study_prices(inputs, apps, ref, price_details)
    cf = cashflow.build(inputs, first_year=scenario.first_year)
    fund_rate, premium = discount_rates(apps, scenario, ref)
    study_rate = np.array([a.study_discount_rate for a in apps], dtype=float)
    rate = np.where(np.arange(6)[None, :] < 2, study_rate[:, None], fund_rate[:, None]).ravel()
    pre_tax = np.repeat([a.study_basis == "pre_tax" for a in apps], 6) & np.tile(np.arange(6) < 3, len(apps))
    flows = np.where(pre_tax[:, None], cf.pretax_fcf_usd_m, cf.fcf_usd_m)
    values = finance.npv(rate, flows, **scenario.discounting).reshape(len(apps), 6)
    irr0, _ = finance.irr_with_reason(flows[0::6])
    out = []
    for i, app in enumerate(apps):
        d = details[i]
        d[0] = price_details[i]
        d[1] = (f"{app.study_discount_rate:.1%} -> {float(fund_rate[i]):.1%} "
                f"({scenario.discount_rate:.1%} + country premium {float(premium[i]):.1%})")
        v = values[i]
        steps = [BridgeStep("unreproduced by the tool", float(v[0]) - app.study_npv_usd_m, float(v[0]),
                            "the tool with the study's stated assumptions vs the published NPV")]
        for k, label in enumerate(STEP_GROUPS):
            steps.append(BridgeStep(label, float(v[k + 1] - v[k]), float(v[k + 1]), d[k]))
        out.append(Bridge(app.id, app.study_basis, float(app.study_npv_usd_m), float(app.study_discount_rate),
                          float(v[0]), float("nan") if app.study_irr is None else float(app.study_irr),
                          float(irr0[i]), float(v[5]), tuple(steps)))
    return out


#: ``bridge_*_usd_m`` field of each step of the bridge, in order
BRIDGE_FIELDS = {"unreproduced by the tool": "bridge_unreproduced_usd_m", "price deck": "bridge_price_deck_usd_m",
                 "discount rate and country premium": "bridge_discount_rate_usd_m",
                 "fiscal terms": "bridge_fiscal_terms_usd_m", "timing": "bridge_timing_usd_m",
                 "costs": "bridge_costs_usd_m"}
#: columns of :func:`bridge_table`
STUDY_COLUMNS = ("study_basis", "study_discount_rate", "study_npv_usd_m", "tool_npv_study_basis_usd_m",
                 "study_npv_difference_usd_m", "study_irr", "tool_irr_study_basis", *BRIDGE_FIELDS.values())


def bridge_table(apps: Sequence[Application], scenario: Scenario, ref):
    """The study's figures and the bridge's steps, one row per application (index ``id``).

    Columns (:data:`STUDY_COLUMNS`): ``study_basis``, ``study_discount_rate`` [fraction],
    ``study_npv_usd_m`` (published), ``tool_npv_study_basis_usd_m`` (the tool with the study's
    assumptions, on the study's basis), ``study_npv_difference_usd_m`` (tool - study on that basis),
    ``study_irr``, ``tool_irr_study_basis`` [fraction], and one ``bridge_*_usd_m`` per step
    (:data:`BRIDGE_FIELDS`), which add up to the fund's ``npv_usd_m`` - ``study_npv_usd_m``.
    Applications without the study's NPV and rate have empty study columns (NaN; basis "").
    """
    import pandas as pd

    with_study = [a for a in apps if has_study(a)]
    found = {b.application_id: b for b in bridges(with_study, scenario, ref)}
    recs = []
    for a in apps:
        b = found.get(a.id)
        if b is None:
            recs.append({c: ("" if c == "study_basis" else np.nan) for c in STUDY_COLUMNS})
            continue
        rec = {"study_basis": b.study_basis, "study_discount_rate": b.study_discount_rate,
               "study_npv_usd_m": b.study_npv_usd_m, "tool_npv_study_basis_usd_m": b.tool_npv_study_basis_usd_m,
               "study_npv_difference_usd_m": b.tool_npv_study_basis_usd_m - b.study_npv_usd_m,
               "study_irr": b.study_irr, "tool_irr_study_basis": b.tool_irr_study_basis}
        rec.update({BRIDGE_FIELDS[s.label]: s.change_usd_m for s in b.steps})
        recs.append(rec)
    return pd.DataFrame(recs, columns=list(STUDY_COLUMNS), index=pd.Index([a.id for a in apps], name="id"))
