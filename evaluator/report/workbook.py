"""The workbook's assembly: :func:`build_report` and :func:`build_pipeline_report`."""

from __future__ import annotations

import datetime as _dt
import io

import pandas as pd
from openpyxl import Workbook

from evaluator import memo
from evaluator import xlsx_style as xs
from evaluator.report.allocation_sheet import _write_allocation
from evaluator.report.assumptions_sheet import _write_assumptions, _write_decision
from evaluator.report.cashflow_sheet import _write_cashflow_sheet
from evaluator.report.context import _Context
from evaluator.report.edits_sheet import _write_edits
from evaluator.report.pack import DEFAULT_TOP_N, _by_id, _funded, cashflow_sheet_ids, memo_page_ids, project_page_ids
from evaluator.report.project_sheet import _write_project
from evaluator.report.ranking_sheet import _write_ranking
from evaluator.report.risk_sheet import _write_portfolio_risk
from evaluator.report.summary_sheet import _write_summary
from evaluator.report.supply_sheet import _baseline_supply, _supply_table, _write_supply
from evaluator.report.wording import word_data_notes


# ----------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------
def _tornado_for(evaluation, scenario, ref, ids: list[str]) -> pd.DataFrame | None:
    """The one-at-a-time NPV swings of the project pages (None without reference data)."""
    if ref is None or not ids:
        return None
    from evaluator.uncertainty import tornado

    return tornado(list(evaluation.applications), scenario, ref, ids=ids)


def _utc_naive(generated_at):
    """The report's time stamp in UTC without a time zone (now when None); KST is worded where shown."""
    if generated_at is None:
        return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    if getattr(generated_at, "tzinfo", None) is not None:
        return generated_at.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return generated_at


def _write_memos(memo_sheets, ctx, notes, left_out) -> None:
    """One memo per (id, sheet), with the officer's notes and why a left-out project is left out."""
    for app_id, ws in memo_sheets:
        memo.write_memo(ws, ctx, app_id, notes.get(app_id),
                        None if left_out is None or app_id not in left_out.index else left_out.at[app_id, "explanation"])
        ws.sheet_properties.tabColor = "F4B183"


def _prepare(evaluation, scenario, scores, allocation, allocation_summary, supply, supply_by_year, cashflow_ids,
             decision, ref, top_n, simulation, lab, portfolio_risk):
    """What :func:`build_report` writes from: ``(ref, scores_df, alloc_df, cf_ids, page_ids, ctx)``,
    the reference data (default: the bundled ones), the scores and funded allocation by id, the
    projects given cash-flow sheets and project pages, and the :class:`_Context` of the pages."""
    if ref is None:
        from evaluator.reference import load_reference

        ref = load_reference()
    scores_df = _by_id(scores, "scores")
    alloc_df = _funded(_by_id(allocation, "allocation"))
    cf_ids = cashflow_sheet_ids(evaluation, alloc_df, cashflow_ids, top_n)
    page_ids = project_page_ids(evaluation, scores_df, alloc_df, top_n)
    supply_table = _supply_table(supply) if supply is not None else _baseline_supply(evaluation, scenario, ref)
    ctx = _Context(evaluation, scenario, lab, scores_df, alloc_df, allocation_summary, supply_table,
                   None if supply_by_year is None else pd.DataFrame(supply_by_year), simulation, decision, ref,
                   page_ids, tornado=_tornado_for(evaluation, scenario, ref, page_ids), portfolio_risk=portfolio_risk)
    return ref, scores_df, alloc_df, cf_ids, page_ids, ctx


def _write_cashflow_sheets(new_sheet, ctx, evaluation, scenario, cf_ids, lab) -> None:
    """One live cash-flow sheet per project of ``cf_ids``, each on a sheet ``new_sheet`` adds."""
    for app_id in cf_ids:
        ws = new_sheet(lab("sheet.cashflow", id=app_id))
        ctx.cf_sheets[app_id] = ws.title
        _write_cashflow_sheet(ws, evaluation, scenario, app_id, lab)
        ws.sheet_properties.tabColor = "A9D08E"


def build_report(evaluation, scenario, *, scores=None, allocation=None, allocation_summary=None, supply=None,
                 supply_by_year=None, cashflow_ids=None, decision=None, generated_at=None, ref=None,
                 top_n: int = DEFAULT_TOP_N, simulation=None, language: str = "en", portfolio_risk=None,
                 officer_notes=None, left_out=None, edits=None) -> bytes:
    """Build the committee workbook and return it as ``.xlsx`` bytes (nothing touches disk).

    Sheets: a one-page ``Summary``; a committee memo per project decided on
    (:func:`evaluator.memo.memo_ids`); one page per funded or contested project
    (:func:`project_page_ids`); ``Ranking``, ``Allocation``, ``Supply``; the live cash-flow sheets;
    ``Assumptions``; ``Edits`` (when the officer changed applicants' figures); ``Decision`` (when
    given). Every sheet prints landscape, one page wide.

    Parameters
    ----------
    evaluation : evaluator.evaluate.Evaluation
        Cash flows and metrics of every application.
    scenario : models.scenario.Scenario
    scores : pandas.DataFrame, optional
        From ``evaluator.pipeline.run``: index or column ``id``; columns ``score`` [0-100],
        ``rank``, ``contrib_*`` [score points], ``eligible`` [bool], ``ineligible_reasons``
        (text or list), ``expected_loss_krw_bn``, ``china_share_after`` [fraction], and when the
        simulation ran ``npv_p10_usd_m`` [USD m] and ``prob_npv_negative`` [fraction].
    allocation : pandas.DataFrame, optional
        Index or column ``id``; ``fund_krw_bn``, ``loan_krw_bn`` [KRW bn]; optional
        ``coverage_share`` [fraction], ``expected_loss_krw_bn``, ``fraction``, ``note``. Projects
        with a positive amount count as funded.
    allocation_summary : mapping or AllocationSummary, optional
        ``objective``, ``status``, ``optimal``, ``mip_gap``, ``solve_time_s``, ``binding``
        (list of str), ``marginal_values`` or ``marginal_value_per_krw_bn``, ``expected_loss_krw_bn``.
    supply : pandas.DataFrame, optional
        One row per mineral: ``mineral``, ``china_share_before``, ``china_share_after``
        [fraction], and further measures. Without it the Supply sheet shows the baseline.
    supply_by_year : pandas.DataFrame, optional
        Long table ``mineral``, ``year``, ``china_share_after`` (or ``china_share``) [fraction].
    cashflow_ids : sequence of str, optional
        Projects given a live cash-flow sheet; default the funded ones, else the ``top_n`` by NPV.
    decision : mapping, optional
        The committee's decision record (item -> text): a ``Decision`` sheet, and a line on the
        Summary and the Ranking.
    generated_at : datetime, optional
        Timestamp shown on the Summary (default: now, UTC); pass one for reproducible bytes.
    ref : evaluator.reference.ReferenceData, optional
        Reference tables for the Assumptions sheet and the tornado (default: the bundled ones).
    simulation : evaluator.uncertainty.SimulationResult, optional
        Percentiles on the project pages and P10 NPV / P(NPV < 0) on the Summary.
    language : {'en', 'ko'}
        Language of every label, header, sheet name and note (``evaluator/data/report_labels_*.toml``).
    portfolio_risk : evaluator.uncertainty.PortfolioRisk, optional
        The funded portfolio's joint simulation (issue 19): its key figures on the Summary and a
        ``Portfolio risk`` sheet after the Allocation.
    officer_notes : mapping, optional
        The officer's recommendation, opinion and conditions per application id, printed in the
        memos (:func:`evaluator.memo.clean_notes`).
    left_out : pandas.DataFrame, optional
        Index id, column ``explanation``: why a left-out project is left out, in words with the
        number (:func:`evaluator.left_out.explain_left_out`), printed on its memo.
    edits : sequence of mapping, optional
        The officer's edits of applicants' figures (:func:`evaluator.record.edit_rows`: ``id``,
        ``field``, ``original``, ``entered``, ``by``, ``at_kst``): an ``Edits`` sheet.

    Returns
    -------
    bytes
        The ``.xlsx`` file.
    """
    import evaluator

    lab = xs.load_labels(language)
    generated_at = _utc_naive(generated_at)
    ref, scores_df, alloc_df, cf_ids, page_ids, ctx = _prepare(
        evaluation, scenario, scores, allocation, allocation_summary, supply, supply_by_year, cashflow_ids, decision,
        ref, top_n, simulation, lab, portfolio_risk)

    wb = Workbook()
    xs.ensure_styles(wb)
    titles: list[str] = []

    def new_sheet(name):
        t = xs.safe_sheet_title(name, titles)
        titles.append(t)
        ws = wb.active if len(titles) == 1 else wb.create_sheet(t)
        ws.title = t
        return ws

    ws_sum = new_sheet(lab("sheet.summary"))
    notes = memo.clean_notes(officer_notes)
    memo_sheets = [(i, new_sheet(lab("sheet.memo", id=i))) for i in memo_page_ids(evaluation, scores_df, alloc_df, top_n)]
    project_sheets = [(i, new_sheet(lab("sheet.project", id=i))) for i in page_ids]
    ws_rank = new_sheet(lab("sheet.ranking"))
    ws_alloc = new_sheet(lab("sheet.allocation"))
    ws_risk = new_sheet(lab("sheet.portfolio_risk")) if portfolio_risk is not None else None
    ws_sup = new_sheet(lab("sheet.supply"))
    _write_cashflow_sheets(new_sheet, ctx, evaluation, scenario, cf_ids, lab)
    _write_ranking(ws_rank, evaluation, scores_df, scenario.lender_min_dscr, alloc_df, decision, lab)
    _write_allocation(ws_alloc, evaluation, scenario, alloc_df, allocation_summary, lab)
    if ws_risk is not None:
        _write_portfolio_risk(ws_risk, portfolio_risk, evaluation, scenario, lab)
    _write_supply(ws_sup, evaluation, scenario, supply, supply_by_year, ref, lab)
    _write_assumptions(new_sheet(lab("sheet.assumptions")), evaluation, scenario, ref, lab)
    if edits:
        _write_edits(new_sheet(lab("sheet.edits")), list(edits), lab)
    if decision and not decision.get("for_other_figures"):
        _write_decision(new_sheet(lab("sheet.decision")), decision, lab)
    _write_memos(memo_sheets, ctx, notes, left_out)
    for app_id, ws in project_sheets:
        _write_project(ws, ctx, app_id)
        ws.sheet_properties.tabColor = "9DC3E6"
    _write_summary(ws_sum, ctx, generated_at, evaluator.__version__)
    ws_sum.sheet_properties.tabColor = "1F3864"
    return _finished(wb, lab, ref)


def _finished(wb, lab: xs.Labels, ref) -> bytes:
    """The workbook's bytes: its data notes in the report's language (issue 26), every KRW bn amount in
    억원 in Korean (issue 27), every formula recomputed when Excel opens it."""
    word_data_notes(wb, lab.language, getattr(ref, "data_dir", None))
    if lab.language == "ko":  # Korean officers read 억원, never 십억원: every KRW bn amount x 10 (formulas follow)
        xs.krw_cells_in_eok(wb)
    wb.calculation.fullCalcOnLoad = True  # Excel recomputes every formula when it opens the file
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def build_pipeline_report(result, scenario, *, ref=None, cashflow_ids=None, decision=None, generated_at=None,
                          top_n: int = DEFAULT_TOP_N, language: str = "en", portfolio_risk=None,
                          officer_notes=None, edits=None) -> bytes:
    """The committee workbook of one :class:`evaluator.pipeline.PipelineResult`.

    The one mapping from the pipeline's result to the workbook: the app's Report page and the
    ``report`` command both call it, so the same inputs give the same numbers. The ranking
    carries the simulated P10 NPV and P(NPV < 0), and the project pages the simulated
    percentiles, when the simulation has run. ``language``: ``en`` or ``ko``. ``portfolio_risk``:
    the :class:`evaluator.uncertainty.PortfolioRisk` of this result's allocation
    (``portfolio_risk_of_result``), when computed: key figures on the Summary and a ``Portfolio
    risk`` sheet. ``officer_notes``: the officer's memo notes per application id. ``edits``: the
    officer's edits of applicants' figures (:func:`evaluator.record.edit_rows`), an ``Edits`` sheet.
    """
    kw = {}
    reasons = pd.Series({i: tuple(result.scores.reasons.get(str(i), ())) for i in result.ranking.index}, dtype=object)
    if result.allocation is not None:
        from evaluator.left_out import explain_left_out

        if ref is None:
            from evaluator.reference import load_reference

            ref = load_reference()
        contested = [i for i in memo_page_ids(result.evaluation, result.ranking, result.allocation.table, top_n)
                     if not bool(result.allocation.table.at[i, "selected"])]
        left_out = explain_left_out(result.allocation, scenario, ref, ids=contested, language=language) if contested else None
        kw = dict(allocation=result.allocation.table.assign(ineligible_messages=reasons), left_out=left_out,
                  allocation_summary=result.summary.as_record(),
                  supply=result.supply.effect.reset_index() if not result.supply.effect.empty else None,
                  supply_by_year=result.supply.by_year)
    # the screens as the engine's messages, worded in the report's language (not parsed back from English)
    ranking = result.ranking.assign(ineligible_messages=reasons)
    return build_report(result.evaluation, scenario, scores=ranking, cashflow_ids=cashflow_ids,
                        decision=decision, generated_at=generated_at, ref=ref, top_n=top_n,
                        simulation=result.simulation, language=language, portfolio_risk=portfolio_risk,
                        officer_notes=officer_notes, edits=edits, **kw)
