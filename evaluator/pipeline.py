"""The one orchestration: evaluate -> (simulate) -> score -> allocate -> joint supply effect -> by year.

The app pages, every CLI command and the report builder take their numbers from the frozen
:class:`PipelineResult` that :func:`run` returns; none of them re-derives a business rule. The
steps are pure functions of their inputs, exposed one by one so that the UI can cache each on
what it depends on (the evaluation on applications + scenario; the simulation on the same; the
scores also on the weights; the allocation also on budgets, caps and locks):

=========================  ====================================================================
:func:`evaluate_step`      cash flows and finance metrics (:func:`evaluator.evaluate.evaluate`)
:func:`simulate_step`      Monte Carlo risk figures, only when a risk-adjusted measure asks
:func:`score_step`         offtake, supply benefits, screens, criteria, weights, rank
:func:`allocate_step`      the fund and loan allocation (:mod:`evaluator.portfolio`)
:func:`supply_step`        the funded set's joint supply effect and China's share by year
=========================  ====================================================================

Risk-adjusted decisions
-----------------------
``risk_measure`` (or the scenario's ``financial_measure``) ``p10_npv`` or ``prob_loss`` ranks and
allocates on the simulated P10 NPV per KRW of support or on P(NPV < 0); the simulation runs
inside the pipeline when no result is given, and its P10 NPV and P(NPV < 0) then stand beside
the point NPV in :attr:`PipelineResult.ranking`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator import portfolio, scoring, supply
from evaluator.evaluate import Evaluation, evaluate
from evaluator.portfolio import funded_shares  # here too: the pipeline's callers read it from here
from models import scenario as scenario_model

__all__ = [
    "RISK_MEASURES", "DEFAULT_SIMULATION_PATHS", "Scored", "SupplyOutcome", "AllocationSummary", "PipelineResult",
    "evaluate_step", "simulate_step", "score_step", "allocate_step", "supply_step", "supply_reference",
    "risk_measure_of", "run",
]

#: Financial measures that need the Monte Carlo (:mod:`evaluator.uncertainty`); the list has its
#: home in models.scenario.
RISK_MEASURES = scenario_model.RISK_MEASURES
#: Paths of the simulation the pipeline runs for a risk-adjusted ranking.
DEFAULT_SIMULATION_PATHS = 10_000
#: Simulated columns shown beside the point NPV whenever the simulation has run.
RISK_COLUMNS = ("npv_p10_usd_m", "prob_npv_negative")


@dataclass(frozen=True)
class Scored:
    """Offtake, supply benefits and the score table of one evaluation."""

    offtake: pd.DataFrame = field(repr=False)
    benefits: pd.DataFrame = field(repr=False)
    scores: scoring.ScoreResult = field(repr=False)


@dataclass(frozen=True)
class SupplyOutcome:
    """What the funded set does to Korea's supply concentration.

    Attributes
    ----------
    effect : pandas.DataFrame
        :func:`evaluator.supply.effect_in_year` of the funded offtake in the scenario's target year
        (index ``mineral``): ``china_share_before``, ``china_share_after``, ``top_supplier_after``,
        ``top_share_after`` [fraction], ``meets_target_after``, ``share_basis``, ... The one
        "after" of the summary, the report and the app (equal to ``by_year``'s target-year rows).
    by_year : pandas.DataFrame
        :func:`evaluator.supply.projection_by_year`: one row per (mineral, year).
    """

    effect: pd.DataFrame = field(repr=False)
    by_year: pd.DataFrame = field(repr=False)

    def shares(self, column: str) -> dict[str, float]:
        """``column`` of :attr:`effect` per mineral, rounded to 4 decimals (NaN left out)."""
        if self.effect.empty or column not in self.effect.columns:
            return {}
        return {str(k): float(v) for k, v in self.effect[column].dropna().round(4).items()}

    def values(self, column: str) -> dict:
        """``column`` of :attr:`effect` per mineral as it is (a supplier's ISO3, a flag; missing
        left out)."""
        if self.effect.empty or column not in self.effect.columns:
            return {}
        return {str(k): (bool(v) if isinstance(v, (bool, np.bool_)) else str(v))
                for k, v in self.effect[column].items() if v is not None and v == v}


@dataclass(frozen=True)
class AllocationSummary:
    """Headline figures of an allocation (typed; replaces the loose summary mapping).

    Budgets and amounts in [KRW bn]; ``marginal_value_per_krw_bn`` in objective units per KRW bn
    of each budget; shares in [fraction]. The shares are Korea's imports of each mineral in
    ``target_year`` before / after the funded set (stage timing and ramp-up;
    :func:`evaluator.supply.effect_in_year`) on ``share_basis`` (``all forms``: the chain basis;
    ``NdPr+Dy+Tb``: the element basis of rare earths); ``top_supplier_after`` is the ISO3 of the
    largest supplier after, and ``meets_target_after`` the programme's target (its share at or
    below ``target_single_supplier_share``).
    """

    objective_name: str
    objective: float
    status: str
    optimal: bool
    mip_gap: float
    solve_time_s: float
    n_selected: int
    fund_allocated_krw_bn: float
    fund_budget_krw_bn: float
    loan_allocated_krw_bn: float
    loan_budget_krw_bn: float
    expected_loss_krw_bn: float
    binding: tuple[str, ...]
    marginal_value_per_krw_bn: Mapping[str, float]
    diversification_value: Mapping[str, float]
    china_share_before: Mapping[str, float]
    china_share_after: Mapping[str, float]
    top_share_after: Mapping[str, float]
    top_supplier_after: Mapping[str, str] = field(default_factory=dict)
    meets_target_after: Mapping[str, bool] = field(default_factory=dict)
    share_basis: Mapping[str, str] = field(default_factory=dict)
    target_year: int | None = None
    limit_reached: bool = False
    note: str = ""
    warnings: tuple[str, ...] = ()
    note_messages: tuple = field(default=(), repr=False)
    #: the special levy expected back on the funded loans and the government's expected net cost
    #: (expected loss - expected levy) [KRW bn]
    loan_expected_levy_krw_bn: float = 0.0
    loan_expected_net_cost_krw_bn: float = 0.0
    binding_messages: tuple = field(default=(), repr=False)

    def note_text(self, language: str = "en") -> str:
        """The allocator's note (why nothing is funded, a limit that stopped it) in ``language``."""
        from evaluator import messages

        return messages.join(self.note_messages, language, " ") if self.note_messages else self.note

    def as_record(self) -> dict:
        """The summary as one JSON-ready mapping (the CLI's ``summary`` object): ``binding`` names
        the binding constraints (English), ``binding_codes`` gives them as catalogue codes with
        their parameters (``{"code": "constraint_budget", "params": {"budget": "loan_krw_bn"}}``)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("note_messages", "binding_messages")}
        out["binding"] = list(self.binding)
        out["binding_codes"] = [m.record() for m in self.binding_messages]
        out["warnings"] = list(self.warnings)
        for k in ("marginal_value_per_krw_bn", "diversification_value", "china_share_before", "china_share_after",
                  "top_share_after", "top_supplier_after", "meets_target_after", "share_basis"):
            out[k] = dict(out[k])
        return out


@dataclass(frozen=True)
class PipelineResult:
    """Everything the app, the CLI and the report show, for one set of applications and one scenario.

    Attributes
    ----------
    evaluation : evaluator.evaluate.Evaluation
    scored : Scored
    simulation : evaluator.uncertainty.SimulationResult or None
        The Monte Carlo, when a risk-adjusted measure asked for it (or the caller gave one).
    allocation : evaluator.portfolio.PortfolioAllocation or None
        None when the run was asked not to allocate.
    supply : SupplyOutcome or None
        The funded set's supply effect and China's share by year (None without allocation).
    summary : AllocationSummary or None
    risk_measure : str
        The financial measure the ranking used (``npv``, ``p10_npv`` or ``prob_loss``).
    """

    evaluation: Evaluation = field(repr=False)
    scored: Scored = field(repr=False)
    simulation: object = field(repr=False, default=None)
    allocation: portfolio.PortfolioAllocation | None = field(repr=False, default=None)
    supply: SupplyOutcome | None = field(repr=False, default=None)
    summary: AllocationSummary | None = None
    risk_measure: str = "npv"

    @property
    def scores(self) -> scoring.ScoreResult:
        return self.scored.scores

    @property
    def offtake(self) -> pd.DataFrame:
        return self.scored.offtake

    @property
    def benefits(self) -> pd.DataFrame:
        return self.scored.benefits

    @property
    def table(self) -> pd.DataFrame:
        """The ranked score table (``scores.table``)."""
        return self.scored.scores.table

    @property
    def ranking(self) -> pd.DataFrame:
        """The score table with the simulated P10 NPV [USD m] and P(NPV < 0) beside the point NPV
        when the simulation has run."""
        return with_risk_columns(self.table, self.simulation)


def with_risk_columns(table: pd.DataFrame, simulation) -> pd.DataFrame:
    """``table`` (index ``id``) with :data:`RISK_COLUMNS` of the simulation joined, placed right
    after ``npv_usd_m``; unchanged without a simulation."""
    if simulation is None:
        return table
    risk = simulation.summary[list(RISK_COLUMNS)].reindex(table.index)
    out = table.drop(columns=[c for c in RISK_COLUMNS if c in table.columns])
    at = list(out.columns).index("npv_usd_m") + 1 if "npv_usd_m" in out.columns else len(out.columns)
    for k, c in enumerate(RISK_COLUMNS):
        out.insert(at + k, c, risk[c])
    return out


def evaluate_step(apps: Sequence, scenario, ref) -> Evaluation:
    """Cash flows and finance metrics (:func:`evaluator.evaluate.evaluate`)."""
    return evaluate(apps, scenario, ref)


def study_bridge_step(apps: Sequence, scenario, ref):
    """The study's figures and the bridge to the fund's NPV per application
    (:func:`evaluator.reconcile.bridge_table`; empty columns where no study figures are given)."""
    from evaluator import reconcile

    return reconcile.bridge_table(apps, scenario, ref)


def risk_measure_of(scenario, risk_measure: str | None = None) -> str:
    """The financial measure a run ranks on: ``risk_measure`` when given, else the scenario's."""
    fm = risk_measure or scenario.financial_measure
    if fm not in scenario_model.FINANCIAL_MEASURES:
        raise scoring.ScoringError(f"risk measure {fm!r}: must be one of {', '.join(scenario_model.FINANCIAL_MEASURES)}")
    return fm


def simulate_step(apps: Sequence, scenario, ref, *, n_paths: int = DEFAULT_SIMULATION_PATHS, seed: int = 0,
                  progress: Callable[[float], None] | None = None):
    """The Monte Carlo of :func:`evaluator.uncertainty.simulate` (the risk figures of the ranking)."""
    from evaluator.uncertainty import simulate

    return simulate(apps, scenario, ref, n_paths=n_paths, seed=seed, progress=progress)


def supply_reference(ref, customs=None):
    """Reference data with Korea's imports replaced by a customs extract, when one is given.

    ``customs`` is a path (or bytes) of a UN Comtrade-format extract, read with
    ``customs.read_comtrade`` (which raises ``customs.CustomsError`` when it cannot be used), or a
    ``customs.CustomsImport`` already read; None keeps the bundled BACI imports.
    """
    if customs is None:
        return ref
    from evaluator import customs as customs_mod

    if not isinstance(customs, customs_mod.CustomsImport):
        customs = customs_mod.read_comtrade(customs, ref=ref)
    return customs_mod.with_imports(ref, customs)


def score_step(ev: Evaluation, scenario, ref, *, customs=None, simulation=None,
               weights: Mapping[str, float] | None = None) -> Scored:
    """Offtake, supply benefits and scores for an evaluation.

    ``simulation`` (a :class:`evaluator.uncertainty.SimulationResult`) supplies the risk metrics a
    risk-adjusted ``scenario.financial_measure`` needs.
    """
    from evaluator.uncertainty import risk_metrics

    supply_ref = supply_reference(ref, customs)
    offtake = supply.offtake_from_evaluation(ev, ref=supply_ref)
    # each project alone against the baseline: independent of the weights, so a weight move reuses it
    key = ("project_benefits", scenario.target_single_supplier_share, scenario.displacement_rule,
           *supply.scenario_options(scenario).values())
    benefits = ev.memoised(key, supply_ref, lambda: supply.project_benefits(supply_ref, scenario, offtake))
    rm = risk_metrics(simulation) if simulation is not None else None
    # the criteria and screens do not depend on the weights: a weight move reuses them
    not_weights = json.dumps({k: v for k, v in scenario.to_dict().items() if k != "weights"}, sort_keys=True, default=str)
    screened = ev.memoised(("screened_criteria", not_weights), (supply_ref, ref, simulation),
                           lambda: scoring.screened_criteria(ev, scenario, ref, benefits=benefits, risk_metrics=rm))
    result = scoring.score(ev, scenario, ref, weights=weights, screened=screened)
    return Scored(offtake, benefits, result)


def allocate_step(ev: Evaluation, scored: Scored, scenario, supply_ref, *, locked_in: Sequence[str] = (),
                  locked_out: Sequence[str] = (), time_limit_s: float = 10.0) -> portfolio.PortfolioAllocation:
    """The fund and loan allocation over the scored applications
    (:func:`evaluator.portfolio.allocate_portfolio`; raises what it raises)."""
    return portfolio.allocate_portfolio(ev, scored.scores.table, scenario, supply_ref, locked_in=tuple(locked_in),
                                        locked_out=tuple(locked_out), time_limit_s=time_limit_s)


def supply_step(ev: Evaluation, pa: portfolio.PortfolioAllocation, scenario, supply_ref) -> SupplyOutcome:
    """The funded set's joint supply effect and China's share per mineral and year, each project
    counting the funded share of its offtake (:func:`evaluator.supply.funded_offtake`). ``pa``
    comes from :func:`allocate_step` with the same ``supply_ref``: its own joint effect is used."""
    share = funded_shares(pa)
    every = supply.offtake_by_year_from_evaluation(ev, ref=supply_ref)
    by_year = supply.funded_offtake(every, share, "korea_offtake_t")
    # the "after" every page shows: the target year, with each project's timing and ramp-up
    effect = supply.effect_in_year(supply_ref, scenario, by_year) if len(by_year) else pd.DataFrame()
    if by_year.empty:  # nothing funded: the projection is the baseline of the applicants' minerals
        by_year = every.assign(korea_offtake_t=0.0)
    return SupplyOutcome(effect, supply.projection_by_year(supply_ref, scenario, by_year))


def summarise_allocation(pa: portfolio.PortfolioAllocation, outcome: SupplyOutcome | None = None) -> AllocationSummary:
    """The typed summary of an allocation; the China shares come from the supply outcome (empty
    without one: a page can show the allocation's figures before the supply projection is in)."""
    s = pa.summary
    if outcome is None:
        outcome = SupplyOutcome(pd.DataFrame(), pd.DataFrame())
    return AllocationSummary(
        objective_name=str(s["objective_name"]), objective=float(s["objective"]), status=str(s["status"]),
        optimal=bool(s["optimal"]), mip_gap=float(s["mip_gap"]), solve_time_s=float(s["solve_time_s"]),
        n_selected=int(s["n_selected"]), fund_allocated_krw_bn=float(s["fund_allocated_krw_bn"]),
        fund_budget_krw_bn=float(s["fund_budget_krw_bn"]), loan_allocated_krw_bn=float(s["loan_allocated_krw_bn"]),
        loan_budget_krw_bn=float(s["loan_budget_krw_bn"]), expected_loss_krw_bn=float(s["expected_loss_krw_bn"]),
        binding=tuple(s["binding"]), marginal_value_per_krw_bn=dict(s["marginal_value_per_krw_bn"]),
        diversification_value=dict(s["diversification_value"]),
        china_share_before=outcome.shares("china_share_before"), china_share_after=outcome.shares("china_share_after"),
        top_share_after=outcome.shares("top_share_after"), top_supplier_after=outcome.values("top_supplier_after"),
        meets_target_after=outcome.values("meets_target_after"), share_basis=outcome.values("share_basis"),
        target_year=int(outcome.effect["year"].iloc[0]) if len(outcome.effect) else None,
        limit_reached=bool(s["limit_reached"]), note=str(s["note"] or ""), warnings=tuple(s["warnings"]),
        loan_expected_levy_krw_bn=float(s.get("loan_expected_levy_krw_bn", 0.0)),
        loan_expected_net_cost_krw_bn=float(s.get("loan_expected_net_cost_krw_bn", s["expected_loss_krw_bn"])),
        note_messages=tuple(s.get("note_messages", ())), binding_messages=tuple(s.get("binding_messages", ())))


def run(apps: Sequence, scenario, ref, *, customs=None, weights: Mapping[str, float] | None = None,
        risk_measure: str | None = None, simulation=None, n_paths: int = DEFAULT_SIMULATION_PATHS, seed: int = 0,
        progress: Callable[[float], None] | None = None, allocate: bool = True, locked_in: Sequence[str] = (),
        locked_out: Sequence[str] = (), time_limit_s: float = 10.0) -> PipelineResult:
    """Evaluate, (simulate,) score, rank, allocate and project the supply effect.

    Parameters
    ----------
    apps : sequence of models.application.Application
    scenario : models.scenario.Scenario
    ref : evaluator.reference.ReferenceData
    customs : path, bytes or CustomsImport, optional
        A customs extract in UN Comtrade format replacing the bundled imports.
    weights : mapping, optional
        Officer weights overriding ``scenario.weights``.
    risk_measure : {'npv', 'p10_npv', 'prob_loss'}, optional
        Overrides ``scenario.financial_measure``; a risk-adjusted measure runs the simulation
        (``n_paths``, ``seed``, ``progress``) unless ``simulation`` is given.
    simulation : evaluator.uncertainty.SimulationResult, optional
        A simulation of the same applications and scenario (the UI caches it).
    allocate : bool
        Also allocate the budgets and project the supply effect (default True).
    locked_in, locked_out : sequence of str
        Officer locks (must fund / must not fund).
    time_limit_s : float
        Solver time limit [s]; the summary says when it stopped the solver.
    """
    fm = risk_measure_of(scenario, risk_measure)
    if fm != scenario.financial_measure:
        scenario = scenario.replace(financial_measure=fm)
    ev = evaluate_step(apps, scenario, ref)
    if simulation is None and fm in RISK_MEASURES:
        simulation = simulate_step(apps, scenario, ref, n_paths=n_paths, seed=seed, progress=progress)
    scored = score_step(ev, scenario, ref, customs=customs, simulation=simulation, weights=weights)
    if not allocate:
        return PipelineResult(ev, scored, simulation, risk_measure=fm)
    supply_ref = supply_reference(ref, customs)
    pa = allocate_step(ev, scored, scenario, supply_ref, locked_in=locked_in, locked_out=locked_out,
                       time_limit_s=time_limit_s)
    outcome = supply_step(ev, pa, scenario, supply_ref)
    return PipelineResult(ev, scored, simulation, pa, outcome, summarise_allocation(pa, outcome), fm)


def recorded_decision(store_path, scenario, apps: Sequence, locked_in: Sequence[str] = (),
                      locked_out: Sequence[str] = ()) -> dict | None:
    """The committee's decision recorded for exactly these figures, if any.

    A decision belongs to a saved scenario; it is the one for this run only when the saved
    figures' fingerprints (:func:`evaluator.record.figures_key`: the applications' content, the
    assumptions without the name, the locks) equal this run's. The newest such decision wins (a
    later decision supersedes an earlier one). A scenario saved before its record existed (schema
    5) has no fingerprint of its content and locks, so no run matches it.

    Returns
    -------
    dict or None
        Item -> text for the report's Decision sheet; when decisions exist but none is for these
        figures, ``{"for_other_figures": True, "decision_id", "scenario", "differs"}`` naming the
        decision in force and which of ``applications``, ``assumptions``, ``locks`` differ (the
        report and the app say so instead of showing it); None when nothing was decided.
    """
    from evaluator.record import figures_key
    from evaluator.store import ScenarioStore

    store = ScenarioStore(store_path)
    want = figures_key(apps, scenario, locked_in, locked_out)
    history = sorted(store.decisions(), key=lambda d: d.id, reverse=True)
    for d in history:
        saved = store.load(d.scenario_id)
        if (saved.record or {}).get("figures") == want:
            return {"decision_id": d.id, "scenario": f"{saved.name} (#{saved.id})", "decided_by": d.decided_by,
                    "decided_at_utc": d.decided_at, "note": d.note,
                    "supersedes": "" if d.supersedes is None else f"decision #{d.supersedes}",
                    "applications_hash": saved.applications_hash,
                    # the chain's hash of this decision: printed, it makes a rewrite of the store detectable
                    "decision_hash": d.this_hash or "", "store_head_hash": store.verify() or ""}
    if not history:
        return None
    head = history[0]
    saved = store.load(head.scenario_id)
    figures = (saved.record or {}).get("figures") or {}
    return {"for_other_figures": True, "decision_id": head.id, "scenario": f"{saved.name} (#{saved.id})",
            "differs": [k for k in ("applications", "assumptions", "locks") if figures.get(k) != want[k]]}


#: Columns of a run that a saved scenario keeps.
SNAPSHOT_RANKING_COLUMNS = ["rank", "score", "rank_range", "eligible", "ineligible_reasons", "country_risk_score",
                   "diversification_score", "expected_loss_krw_bn", "china_share_after"]
SNAPSHOT_ALLOCATION_COLUMNS = ["fund_krw_bn", "loan_krw_bn", "fraction", "selected", "note"]


def snapshot(applications, scenario, result, officer_notes=None, **record) -> dict:
    """What a saved scenario records of a run: keyword arguments for :meth:`ScenarioStore.save`.

    Parameters
    ----------
    applications : sequence of Application
    scenario : Scenario
    result : evaluator.pipeline.PipelineResult
    officer_notes : mapping, optional
        The officer's memo notes per application id (:func:`evaluator.memo.clean_notes`), kept in
        the summary under ``officer_notes`` (they are not assumptions: a decision still matches).
    **record
        The rest of what was decided (locks, the entered and original tables, schedule, customs
        basis, solver limit): keyword arguments of :func:`evaluator.record.scenario_record`.
    """
    from evaluator.memo import clean_notes
    from evaluator.record import scenario_record
    from models.loader import applications_frame

    scores = result.ranking
    ranking = scores[[c for c in SNAPSHOT_RANKING_COLUMNS if c in scores.columns] +
                     [c for c in scores.columns if c.startswith("contrib_")]].copy()
    alloc_table = None if result.allocation is None else result.allocation.table[SNAPSHOT_ALLOCATION_COLUMNS].copy()
    summary = None if result.summary is None else result.summary.as_record()
    notes = clean_notes(officer_notes)
    if notes:
        summary = {**(summary or {}), "officer_notes": notes}
    return {"assumptions": scenario.to_dict(), "applications": applications_frame(applications),
            "ranking": ranking, "allocation": alloc_table, "summary": summary,
            "record": scenario_record(applications, scenario, result, **record)}
