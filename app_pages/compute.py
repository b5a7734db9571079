"""The pipeline's steps, cached in the UI layer on what each depends on.

Every wrapper is keyed on hashable inputs (the applications' content hash and the scenario fields
that step reads, :mod:`app_pages.state`), so that

* moving a budget slider re-runs only the allocation (evaluation and scores are cache hits),
* moving a weight slider re-runs only the scoring (evaluation and simulation are cache hits),
* a risk-adjusted ranking simulates once per applications + evaluation assumptions.

Heavy objects are passed as ``_``-prefixed arguments that Streamlit does not hash; the explicit
keys in front of them identify their content. The numbers come from :mod:`evaluator.pipeline`,
as in the CLI and the report.

The pipeline's results are held with ``st.cache_resource``, not ``st.cache_data``: they are
read-only (pages derive new frames, never write into them), ``cache_data`` would unpickle a copy
of 200 applications' cash flows on every rerun, and the evaluation must stay one object for the
tables it memoises (:meth:`evaluator.evaluate.Evaluation.memoised`) to be reused.
"""

from __future__ import annotations

import collections

import streamlit as st

from app_pages import background, state
from app_pages.customs_upload import customs_import
from app_pages.i18n import t
from evaluator import pipeline, portfolio
from evaluator.reference import load_reference
from models.application import ValidationError
from models.loader import load_applications, validate_table
from models.scenario import Scenario

#: Solver time on a slider move [s]: the best allocation found by then is shown with its gap;
#: "Prove optimality" on the Allocation page lifts the limit. 1 s: the domain allocation of 200
#: applications is proven in 0.12-0.55 s and of 1,000 in 0.3-0.8 s (benchmarks/bench_allocation.py
#: on this 2-core machine), so a slider move is normally proven, and a stopped solve says so.
INTERACTIVE_TIME_LIMIT_S = 1.0
PROVE_TIME_LIMIT_S = 30.0
#: Solver time for the funded projects' margins of "what it would take" [s]: the last step of the
#: background job, which a slider move cannot interrupt (the rows beyond keep the LP first cut, and
#: say so).
WHAT_IT_WOULD_TAKE_MARGINS_S = 1.0
#: Paths of the simulation behind a risk-adjusted ranking.
RANKING_SIMULATION_PATHS = pipeline.DEFAULT_SIMULATION_PATHS


@st.cache_resource(show_spinner=False)
def reference():
    """The bundled reference tables (read once per server process)."""
    return load_reference()


def load_sample():
    return load_applications(state.SAMPLE_PATH, ref=reference())


@st.cache_resource(show_spinner=False, max_entries=16)
def _validated(key: str, _raw, _schedule, currencies: tuple[str, ...] = ()):
    return validate_table(_raw, _schedule, ref=reference(), currencies=currencies)


def validation():
    """LoadResult of the session's current table (cached on its content hash).

    Raises ValidationError when the edited table lost a required column or every row.
    """
    ss = st.session_state
    base = ss.get("base_scenario")  # its exchange rates decide which currencies can be converted
    currencies = tuple(sorted(base.fx_usd_per_unit)) if base is not None else ()
    return _validated(state.apps_key(), ss["raw_df"], ss.get("schedule_df"), currencies)


def applications():
    """Valid applications of the current table ([] when the table as a whole is unusable)."""
    try:
        return validation().applications
    except ValidationError:
        return []


@st.cache_resource(show_spinner=False, max_entries=16)
def _evaluation(akey: str, ekey: str, _apps, _scenario):
    return pipeline.evaluate_step(_apps, _scenario, reference())


def evaluation(s: Scenario | None = None):
    """Evaluation of the valid applications under the scenario (None when there are none)."""
    s = s or state.current_scenario()
    apps = applications()
    if not apps:
        return None
    return _evaluation(state.apps_key(), state.evaluation_key(s), apps, s)


def require_evaluation(s: Scenario):
    """The evaluation, or a warning and the end of the page when no application is valid."""
    ev = evaluation(s)
    if ev is None:
        st.warning(t("no_valid_application"))
        st.stop()
    return ev


#: Simulations kept per server process (one per set of applications x evaluation assumptions).
SIMULATIONS_KEPT = 8


@st.cache_resource(show_spinner=False)
def _simulations() -> "collections.OrderedDict":
    """The simulations of this server process, newest last. A plain mapping rather than
    ``st.cache_data``: the run draws its own progress bar, which a cached function cannot replay."""
    return collections.OrderedDict()


def simulation(s: Scenario | None = None, *, required: bool = False):
    """The Monte Carlo behind a risk-adjusted ranking, kept per applications + evaluation
    assumptions (weights and budgets do not re-simulate). Runs with a progress bar when
    ``s.financial_measure`` needs it (or ``required``); None otherwise."""
    s = s or state.current_scenario()
    apps = applications()
    if not apps or not (required or s.financial_measure in pipeline.RISK_MEASURES):
        return None
    key = (state.apps_key(), state.evaluation_key(s), RANKING_SIMULATION_PATHS)
    return _kept_or_run(_simulations(), key, lambda progress: pipeline.simulate_step(
        apps, s, reference(), n_paths=RANKING_SIMULATION_PATHS, seed=0, progress=progress))


def _kept_or_run(kept: "collections.OrderedDict", key, run):
    """``kept[key]``, or ``run(progress)`` under a progress bar, kept (the newest
    :data:`SIMULATIONS_KEPT`): the Monte Carlo runs of this server process."""
    if key in kept:
        kept.move_to_end(key)
        return kept[key]
    bar = st.progress(0.0, text=t("simulating"))
    try:
        value = run(lambda f: bar.progress(min(max(float(f), 0.0), 1.0), text=t("simulating")))
    finally:
        bar.empty()
    kept[key] = value
    while len(kept) > SIMULATIONS_KEPT:
        kept.popitem(last=False)
    return value


@st.cache_resource(show_spinner=False, max_entries=32)
def _scored(akey: str, ekey: str, skey: str, ckey: str, _ev, _scenario, _customs, _simulation):
    return pipeline.score_step(_ev, _scenario, reference(), customs=_customs, simulation=_simulation)


def scored(s: Scenario | None = None):
    """:class:`evaluator.pipeline.Scored` or None; raises what the pipeline raises."""
    s = s or state.current_scenario()
    ev = evaluation(s)
    if ev is None:
        return None
    sim = simulation(s)
    customs, ckey = customs_import(reference())
    return _scored(state.apps_key(), state.evaluation_key(s), state.score_key(s), ckey, ev, s, customs, sim)


def ranking(s: Scenario | None = None):
    """The ranked table with the simulated P10 NPV and P(NPV < 0) when the simulation has run."""
    s = s or state.current_scenario()
    sc = scored(s)
    return None if sc is None else pipeline.with_risk_columns(sc.scores.table, simulation(s))


@st.cache_resource(show_spinner=False, max_entries=8)
def _supply_ref(ckey: str, _customs):
    """Reference data with the uploaded customs imports (one object per upload, so the supply
    engine's per-object baseline cache is reused across reruns)."""
    return pipeline.supply_reference(reference(), _customs)


def supply_ref():
    customs, ckey = customs_import(reference())
    return _supply_ref(ckey, customs)


def time_limit_s() -> float:
    return PROVE_TIME_LIMIT_S if st.session_state.get("prove_optimal") else INTERACTIVE_TIME_LIMIT_S


@st.cache_resource(show_spinner=False, max_entries=64)
def _allocation(akey: str, skey: str, alkey: str, ckey: str, locks: tuple, limit_s: float, _scored, _ev,
                _scenario, _ref):
    return pipeline.allocate_step(_ev, _scored, _scenario, _ref, locked_in=locks[0], locked_out=locks[1],
                                  time_limit_s=limit_s)


def allocation(s: Scenario | None = None):
    """PortfolioAllocation for the current scores, budgets, caps and locks; raises
    AllocationInfeasible (shown by the page) when the settings conflict."""
    s = s or state.current_scenario()
    sc = scored(s)
    if sc is None:
        return None
    _, ckey = customs_import(reference())
    return _allocation(state.apps_key(), state.score_key(s), state.allocation_key(s), ckey, state.locks(),
                       time_limit_s(), sc, evaluation(s), s, supply_ref())


@st.cache_resource(show_spinner=False, max_entries=16)
def _supply_outcome(akey: str, alkey: str, ckey: str, locks: tuple, limit_s: float, _pa, _ev, _scenario, _ref):
    return pipeline.supply_step(_ev, _pa, _scenario, _ref)


def supply_outcome(pa, s: Scenario | None = None):
    """The funded set's supply effect and China's share by year (:func:`pipeline.supply_step`)."""
    s = s or state.current_scenario()
    _, ckey = customs_import(reference())
    return _supply_outcome(state.apps_key(), state.allocation_key(s), ckey, state.locks(), time_limit_s(), pa,
                           evaluation(s), s, supply_ref())


def summary(pa, s: Scenario | None = None, *, with_supply: bool = True):
    """The typed :class:`evaluator.pipeline.AllocationSummary` of an allocation; without the
    supply projection (``with_supply=False``: its China shares empty) for the figures a page
    shows before that projection is in."""
    return pipeline.summarise_allocation(pa, supply_outcome(pa, s) if with_supply else None)


@st.cache_resource(show_spinner=False, max_entries=16)
def _frontier(akey: str, fkey: str, ckey: str, locks: tuple, resource: str, _pa, _scenario, _ref):
    return portfolio.frontier(_pa, _scenario, _ref, resource=resource)


def frontier(pa, resource: str, s: Scenario | None = None):
    """Objective against one budget (:func:`evaluator.portfolio.frontier`, 15 points proven to
    1e-4: about 0.1-0.3 s for 200 applications, so it stays on the page's own path).

    Keyed on the scenario without the varied budget: moving that slider only moves the marker.
    """
    s = s or state.current_scenario()
    _, ckey = customs_import(reference())
    s_grid = s.replace(**{resource: getattr(st.session_state["base_scenario"], resource)})
    return _frontier(state.apps_key(), state.scenario_key(s, ("name", resource)), ckey, state.locks(), resource,
                     pa, s_grid, supply_ref())


def what_it_would_take_job(pa, s: Scenario | None = None) -> "background.Job":
    """"What it would take" for the allocation ``pa``, computed off the slider path
    (:func:`evaluator.portfolio.what_it_would_take_in_chunks` in a background job of this session):
    the job's ``latest`` is ``(table, computed, left_out)``, ``None`` until its first table is in."""
    s = s or state.current_scenario()
    _, ckey = customs_import(reference())
    key = (state.apps_key(), state.allocation_key(s), ckey, state.locks())
    ref = supply_ref()
    # both cores while the officer reads; a move stops the job before its next candidate
    return background.job("what_it_would_take", key,
                          lambda cancel: portfolio.what_it_would_take_in_chunks(
                              pa, s, ref, n_jobs=2, max_chunk_size=32, time_budget_s=WHAT_IT_WOULD_TAKE_MARGINS_S,
                              should_stop=cancel.is_set))


def left_out_job(pa, s: Scenario | None = None) -> "background.Job":
    """Every project left out explained, in words with the number
    (:func:`evaluator.left_out.explain_left_out_in_chunks`, the one home of those words for the
    page, the pack and the CLI), computed off the slider path in a background job of this session:
    the job's ``latest`` is ``(table, explained, candidates)``, ``None`` until its first table is
    in. The table carries messages (codes and numbers); the page words them in its language."""
    from evaluator.left_out import explain_left_out_in_chunks

    s = s or state.current_scenario()
    _, ckey = customs_import(reference())
    key = (state.apps_key(), state.allocation_key(s), ckey, state.locks())
    ref = supply_ref()
    return background.job("left_out", key, lambda cancel: explain_left_out_in_chunks(
        pa, s, ref, should_stop=cancel.is_set))


def pipeline_result(s: Scenario | None = None):
    """The whole :class:`evaluator.pipeline.PipelineResult` of the session, assembled from the
    cached steps (the Report and Scenarios pages hand it to the report builder and the store)."""
    s = s or state.current_scenario()
    ev = evaluation(s)
    if ev is None:
        return None
    sc = scored(s)
    pa = allocation(s)
    outcome = supply_outcome(pa, s)
    return pipeline.PipelineResult(ev, sc, simulation(s), pa, outcome, pipeline.summarise_allocation(pa, outcome),
                                   s.financial_measure)


def csv_bytes(frame) -> bytes:
    """A table as CSV for download: UTF-8 with BOM (Excel reads Korean text), text cells that
    start like a formula neutralised (:func:`evaluator.safe_text.safe_csv_bytes`)."""
    from evaluator.safe_text import safe_csv_bytes

    return safe_csv_bytes(frame)


#: Paths of the funded portfolio's joint simulation on the Allocation page.
PORTFOLIO_RISK_PATHS = 10_000


@st.cache_resource(show_spinner=False)
def _portfolio_risks() -> "collections.OrderedDict":
    """Portfolio simulations of this server process, newest last (they draw a progress bar)."""
    return collections.OrderedDict()


def portfolio_risk(s: Scenario | None = None, *, run: bool = False):
    """The funded portfolio's loan-book, fund and target risk
    (:func:`evaluator.uncertainty.portfolio_risk_of_result`), kept per allocation: moving a
    slider never re-simulates; a new allocation is simulated only when ``run`` is asked.
    None when not computed for the current allocation yet."""
    from evaluator.uncertainty import portfolio_risk_of_result

    s = s or state.current_scenario()
    _, ckey = customs_import(reference())
    key = (state.apps_key(), state.allocation_key(s), ckey, state.locks(), time_limit_s(), PORTFOLIO_RISK_PATHS)
    kept = _portfolio_risks()
    if key not in kept and not run:
        return None
    return _kept_or_run(kept, key, lambda progress: portfolio_risk_of_result(
        pipeline_result(s), applications(), s, reference(), supply_ref=supply_ref(),
        n_paths=PORTFOLIO_RISK_PATHS, seed=0, progress=progress))
