"""The committee memo: one or two A4 pages per project the committee decides on (issue 27).

An investment committee reads, for each project, six sections (the Korean titles are the ones the
programme's committee uses): 사업 개요 (overview), 사업주 (sponsor), 판매 계약(오프테이크)
(offtake), 주요 위험과 완화 방안 (key risks and mitigants), 대출 조건과 약정 (loan terms and
covenants) and 검토 의견과 조건 (the officer's recommendation and conditions). The memo puts
beside each other what the applicant states (the template's memo fields, text as typed), what the
tool computed (the pipeline's figures, never re-derived here) and what the officer concludes
(:data:`NOTE_KEYS`, entered in the app and kept with the draft and the saved scenario).

Which projects get a memo: the funded ones and the contested ones nearest the margin
(:func:`memo_ids`). Amounts are in the officer's unit (:mod:`evaluator.krw`: 억원 in Korean).
Applicant and officer text is written with :func:`evaluator.xlsx_style.put_text`, so a text that
looks like a formula stays text.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import pandas as pd
from openpyxl.styles import Alignment

from evaluator import xlsx_style as xs
from evaluator.errors import InputError
from evaluator.krw import krw_text

__all__ = ["MEMO_SECTIONS", "NOTE_KEYS", "RECOMMENDATIONS", "MEMO_CONTESTED", "MemoNotesError", "clean_notes",
           "memo_ids", "write_memo"]

#: The memo's sections, in order (labels ``memo.section_<key>``).
MEMO_SECTIONS = ("overview", "sponsor", "offtake", "risks", "loan", "opinion")
#: What the officer enters per project.
NOTE_KEYS = ("recommendation", "opinion", "conditions")
#: The officer's recommendation, as a code (labels ``memo.rec_<code>``).
RECOMMENDATIONS = ("approve", "approve_with_conditions", "defer", "decline")
#: Contested projects (eligible, not funded) given a memo besides the funded ones: the best ranked.
MEMO_CONTESTED = 3
#: Longest officer text kept [characters] (a workbook cell holds 32,767).
MAX_NOTE_CHARS = 4000

_WRAP = Alignment(wrap_text=True, vertical="top")
#: Column widths [characters]: label, then four value columns; about 100 characters print on A4 portrait.
_WIDTHS = (24, 19, 19, 19, 19)
_LAST_COL = len(_WIDTHS)


class MemoNotesError(InputError):
    """The officer's memo notes are not a table of application id -> {recommendation, opinion, conditions}."""


def clean_notes(notes: Any) -> dict[str, dict[str, str]]:
    """The officer's notes in their one form: ``{id: {"recommendation": code or "", "opinion": text,
    "conditions": text}}``, projects with nothing entered dropped.

    Raises
    ------
    MemoNotesError
        Not a table of tables, an unknown key, a recommendation that is not one of
        :data:`RECOMMENDATIONS`, or a text longer than :data:`MAX_NOTE_CHARS`.
    """
    if notes is None:
        return {}
    if not isinstance(notes, Mapping):
        raise MemoNotesError("memo notes: must be a table of application id -> notes")
    out: dict[str, dict[str, str]] = {}
    for app_id, entry in notes.items():
        if not isinstance(entry, Mapping):
            raise MemoNotesError(f"memo notes of {app_id}: must be a table of {', '.join(NOTE_KEYS)}")
        unknown = sorted(str(k) for k in entry if k not in NOTE_KEYS)
        if unknown:
            raise MemoNotesError(f"memo notes of {app_id}: unknown key(s) {', '.join(unknown)}")
        clean = {k: "" if entry.get(k) is None else str(entry.get(k)).strip() for k in NOTE_KEYS}
        if clean["recommendation"] and clean["recommendation"] not in RECOMMENDATIONS:
            raise MemoNotesError(f"memo notes of {app_id}: recommendation must be one of {', '.join(RECOMMENDATIONS)}")
        too_long = [k for k in NOTE_KEYS if len(clean[k]) > MAX_NOTE_CHARS]
        if too_long:
            raise MemoNotesError(f"memo notes of {app_id}: {too_long[0]} is longer than {MAX_NOTE_CHARS:,} characters")
        if any(clean.values()):
            out[str(app_id)] = clean
    return out


def memo_ids(page_ids: Iterable[str], funded: Iterable[str], scores: pd.DataFrame | None,
             n_contested: int = MEMO_CONTESTED) -> list[str]:
    """Projects the committee decides on, in the order of ``page_ids`` (rank order): every funded
    one and the ``n_contested`` best-ranked contested ones (eligible, not funded) among ``page_ids``."""
    funded = {str(i) for i in funded}
    eligible = None
    if scores is not None and "eligible" in scores.columns:
        eligible = {str(i) for i in scores.index[scores["eligible"].astype(bool)]}
    out, contested = [], 0
    for i in map(str, page_ids):
        if i in funded:
            out.append(i)
        elif contested < n_contested and (eligible is None or i in eligible):
            out.append(i)
            contested += 1
    return out


# ---------------------------------------------------------------------------------------------- cells

def _num(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _pct(v: Any, decimals: int = 1) -> str:
    x = _num(v)
    return "-" if x is None else f"{100 * x:.{decimals}f}%"


def _fixed(v: Any, fmt: str) -> str:
    x = _num(v)
    return "-" if x is None else format(x, fmt)


def _lines(text: str, width: int) -> int:
    """Printed lines of ``text`` in a merged cell ``width`` characters wide (wide CJK characters
    take two columns; each line break starts a line)."""
    n = 0
    for part in str(text).split("\n"):
        cols = sum(2 if ord(ch) > 0x2E80 else 1 for ch in part)
        n += max(1, -(-cols // max(width, 1)))
    return n


class _Writer:
    """Rows of one memo sheet: section titles, label/value rows and a three-column risk table."""

    def __init__(self, ws, lab: xs.Labels):
        self.ws, self.lab, self.row = ws, lab, 4

    def _cell_text(self, row: int, first: int, last: int, text: str, style: str) -> int:
        xs.put_text(self.ws, row, first, text, style)
        if last > first:
            xs.merge_row(self.ws, row, first, last)
        xs.set_alignment(self.ws.cell(row=row, column=first), _WRAP)
        return _lines(text, int(sum(_WIDTHS[first - 1:last])) - 2)

    def section(self, key: str) -> None:
        self.row += 1
        self._cell_text(self.row, 1, _LAST_COL, self.lab(f"memo.section_{key}"), "Subtitle")
        self.row += 1

    def item(self, label: str, value: Any, *, stated: bool = False) -> None:
        """A label and its value across the other columns; ``stated``: applicant text, with a
        placeholder when the application left it blank."""
        text = "" if value is None else str(value).strip()
        if not text:
            text = self.lab("memo.not_stated") if stated else "-"
        n = max(self._cell_text(self.row, 1, 1, label, "Label"), self._cell_text(self.row, 2, _LAST_COL, text, "Value"))
        self.ws.row_dimensions[self.row].height = 15 * n + 2
        self.row += 1

    def triple(self, cells: tuple[str, str, str], style: str = "Value") -> None:
        """Category | tool's figures (2 columns) | applicant's mitigants (2 columns)."""
        n = max(self._cell_text(self.row, 1, 1, cells[0], "Label" if style != "Header" else style),
                self._cell_text(self.row, 2, 3, cells[1], style), self._cell_text(self.row, 4, 5, cells[2], style))
        self.ws.row_dimensions[self.row].height = 15 * n + 2
        self.row += 1


# ---------------------------------------------------------------------------------------------- memo

def _country_name(ctx, iso3: str) -> str:
    lab = ctx.lab
    name = lab.get("country_name", iso3, "")
    if not name and ctx.ref is not None and "name" in ctx.ref.countries.columns and iso3 in ctx.ref.countries.index:
        name = str(ctx.ref.countries.at[iso3, "name"])
    return f"{name} ({iso3})" if name else iso3


def _award(ctx, app_id: str) -> tuple[float, float, float] | None:
    """(fund, loan [KRW bn], funded share of the request [0-1]) or None when not funded."""
    if ctx.alloc is None or app_id not in ctx.alloc.index:
        return None
    a = ctx.alloc.loc[app_id]
    fund, loan = float(a["fund_krw_bn"]), float(a["loan_krw_bn"])
    if fund + loan <= 1e-9:
        return None
    frac = _num(a["fraction"]) if "fraction" in a.index else None
    return fund, loan, 1.0 if frac is None else frac


def _status(ctx, app_id: str, explanation: str | None = None) -> str:
    lab, lang = ctx.lab, ctx.lab.language
    award = _award(ctx, app_id)
    if award is not None:
        return lab("memo.status_funded", fund=krw_text(award[0], lang), loan=krw_text(award[1], lang),
                   fraction=_pct(award[2], 0))
    text = lab("memo.status_contested", rank=_fixed(ctx.score_of(app_id, "rank"), ".0f"))
    return f"{text}: {explanation}" if explanation else text


def _figure(ctx, app_id: str, key: str):
    v = ctx.score_of(app_id, key)
    if v is None and key in ctx.evaluation.metrics.columns:
        v = ctx.metric_of(app_id, key)
    return v


def _overview(w: _Writer, ctx, app, app_id: str) -> None:
    lab = ctx.lab
    w.section("overview")
    w.item(lab("memo.project"), f"{app.name} ({app_id})")
    place = _country_name(ctx, app.country_iso3) + (f", {app.region}" if app.region else "")
    w.item(lab("memo.location"), place)
    w.item(lab("memo.stage"), lab.get("stage", app.stage))
    products = lab.mineral(app.mineral)
    if app.by_products:
        products += " " + lab("memo.by_products", names=", ".join(lab.mineral(b.mineral) for b in app.by_products))
    w.item(lab("memo.product"), products)
    f = lambda k: _figure(ctx, app_id, k)  # noqa: E731
    w.item(lab("memo.key_figures"), lab(
        "memo.key_figures_text", npv=_fixed(f("npv_usd_m"), ",.1f"), rate=_pct(f("discount_rate")),
        irr=_pct(f("irr")), payback=_fixed(f("payback_years"), ".1f"), capex=_fixed(f("initial_capex_usd_m"), ",.0f"),
        output=_fixed(f("steady_output_t_per_year"), ",.0f"), first=_fixed(f("first_production_year"), ".0f")))
    w.item(lab("memo.score_rank"), lab("memo.score_rank_text", score=_fixed(f("score"), ".1f"),
                                       rank=_fixed(f("rank"), ".0f"), n=len(ctx.evaluation.metrics)))
    w.item(lab("memo.support_asked"), lab("memo.support_asked_text",
                                          fund=krw_text(app.fund_request_krw_bn, lab.language),
                                          loan=krw_text(app.loan_request_krw_bn, lab.language),
                                          cost=_fixed(app.total_project_cost_usd_m, ",.0f"),
                                          coverage=_pct(f("coverage_share"))))


def _sponsor(w: _Writer, ctx, app) -> None:
    lab = ctx.lab
    w.section("sponsor")
    w.item(lab("memo.company"), app.company)
    w.item(lab("memo.korean_share"), _pct(app.korean_ownership_share, 0))
    w.item(lab("memo.track_record"), app.sponsor_track_record, stated=True)


def _offtake(w: _Writer, ctx, app, app_id: str) -> None:
    lab = ctx.lab
    w.section("offtake")
    w.item(lab("memo.offtake_buyer"), app.offtake_buyer, stated=True)
    w.item(lab("memo.offtake_volume"), app.offtake_volume, stated=True)
    w.item(lab("memo.offtake_price_basis"), app.offtake_price_basis, stated=True)
    tenor = "" if app.offtake_tenor_years is None else lab("memo.years", n=app.offtake_tenor_years)
    w.item(lab("memo.offtake_tenor"), tenor, stated=True)
    w.item(lab("memo.korea_share"), lab("memo.korea_share_text", share=_pct(app.korea_offtake_share, 0),
                                        t=_fixed(_figure(ctx, app_id, "korea_offtake_t_per_year"), ",.0f")))
    w.item(lab("memo.supply_effect"), lab(
        "memo.supply_effect_text", mineral=lab.mineral(app.mineral), before=_pct(_figure(ctx, app_id, "china_share_before")),
        after=_pct(_figure(ctx, app_id, "china_share_after")), score=_fixed(_figure(ctx, app_id, "diversification_score"), ".1f")))


def _top_driver(ctx, app_id: str) -> str:
    """The tornado's largest swing in words ('' without a tornado)."""
    if ctx.tornado is None or not len(ctx.tornado):
        return ""
    rows = ctx.tornado_of(app_id)  # columns of report._TORNADO_COLUMNS: input, low, high, low NPV, high NPV, swing
    if not rows or not rows[0]:
        return ""
    k = max(range(len(rows[5])), key=lambda j: rows[5][j] or 0)
    return ctx.lab("memo.top_driver", input=rows[0][k], low=_fixed(rows[3][k], ",.0f"), high=_fixed(rows[4][k], ",.0f"))


def _risks(w: _Writer, ctx, app, app_id: str) -> None:
    lab = ctx.lab
    f = lambda k: _figure(ctx, app_id, k)  # noqa: E731
    w.section("risks")
    w.triple((lab("memo.risk_category"), lab("memo.risk_tool"), lab("memo.risk_applicant")), "Header")
    country = lab("memo.risk_country_text", score=_fixed(f("country_risk_score"), ".0f"), premium=_pct(f("risk_premium"), 2),
                  pd=_pct(f("pd_cumulative")))
    sim_loss = ctx.sim_of(app_id, "prob_npv_negative")
    technical = lab("memo.risk_technical_text", stage=lab.get("stage", app.stage),
                    permits=lab.get("memo", f"permits_{app.permits_status}"),
                    dscr=_fixed(f("min_dscr"), ".2f"))
    market = " ".join(x for x in (_top_driver(ctx, app_id),
                                  lab("memo.risk_loss_text", p=_pct(sim_loss)) if sim_loss is not None else "") if x)
    esg = lab("memo.risk_esg_text", category=app.esg_category,
              plan=lab("text.yes") if app.esg_mitigation_plan == "yes" else lab("text.no"))
    stated = lambda v: v.strip() if v and v.strip() else lab("memo.not_stated")  # noqa: E731
    w.triple((lab("memo.risk_country"), country, stated(app.risk_country_mitigation)))
    w.triple((lab("memo.risk_technical"), technical, stated(app.risk_technical_mitigation)))
    w.triple((lab("memo.risk_market"), market or "-", stated(app.risk_market_mitigation)))
    w.triple((lab("memo.risk_esg"), esg, stated(app.risk_esg_mitigation)))


def _loan(w: _Writer, ctx, app, app_id: str) -> None:
    lab, sc, lang = ctx.lab, ctx.scenario, ctx.lab.language
    f = lambda k: _figure(ctx, app_id, k)  # noqa: E731
    w.section("loan")
    award = _award(ctx, app_id)
    if award is not None:
        amount = lab("memo.amount_funded", fund=krw_text(award[0], lang), loan=krw_text(award[1], lang),
                     total=krw_text(award[0] + award[1], lang), fraction=_pct(award[2], 0))
    else:
        amount = lab("memo.amount_asked", fund=krw_text(app.fund_request_krw_bn, lang),
                     loan=krw_text(app.loan_request_krw_bn, lang))
    w.item(lab("memo.amount"), amount)
    w.item(lab("memo.tenor_grace"), lab("memo.tenor_grace_text", tenor=app.loan_tenor_years, grace=app.loan_grace_years))
    # the rate as the terms state it (nominal, on the 3-year KTB) and on the model's real basis;
    # a write-off only where the Decree's list and the loan's type allow one
    contingent = f("loan_success_contingent") is True or str(f("loan_success_contingent")) == "True"
    w.item(lab("memo.rate"), lab("memo.rate_text", nominal=_pct(sc.policy_loan_rate_nominal, 2),
                                 ktb=_pct(sc.ktb_3y_rate, 2), spread=_fixed(sc.policy_loan_spread * 100, "+.2f"),
                                 rate=_pct(sc.policy_loan_rate, 2),
                                 write_off=(lab("memo.write_off_text", write_off=_pct(sc.write_off_share, 0))
                                            if contingent else lab("memo.no_write_off_text"))))
    w.item(lab("memo.dscr_covenant"), lab("memo.dscr_covenant_text", covenant=_fixed(sc.lender_min_dscr, ".2f"),
                                          dscr=_fixed(f("min_dscr"), ".2f"), llcr=_fixed(f("llcr"), ".2f"),
                                          llcr_min=_fixed(sc.lender_min_llcr, ".2f")))
    w.item(lab("memo.expected_loss"), krw_text(f("expected_loss_krw_bn"), lang))
    w.item(lab("memo.proposed_covenants"), app.proposed_covenants, stated=True)
    w.item(lab("memo.proposed_security"), app.proposed_security, stated=True)


def _opinion(w: _Writer, ctx, notes: Mapping[str, str] | None) -> None:
    lab = ctx.lab
    w.section("opinion")
    notes = notes or {}
    rec = notes.get("recommendation") or ""
    w.item(lab("memo.recommendation"), lab(f"memo.rec_{rec}") if rec else lab("memo.not_entered"))
    w.item(lab("memo.opinion"), notes.get("opinion") or lab("memo.not_entered"))
    w.item(lab("memo.conditions"), notes.get("conditions") or lab("memo.not_entered"))


def write_memo(ws, ctx, app_id: str, notes: Mapping[str, str] | None = None, explanation: str | None = None) -> None:
    """Write the memo of ``app_id`` on ``ws`` (A4 portrait, one page wide, one or two pages tall).

    Parameters
    ----------
    ws : openpyxl worksheet
        An empty sheet.
    ctx : evaluator.report._Context
        The report's shared figures (labels, evaluation, scores, allocation, scenario, tornado).
    app_id : str
    notes : mapping, optional
        The officer's ``recommendation`` (a code of :data:`RECOMMENDATIONS`), ``opinion`` and
        ``conditions`` for this project (:func:`clean_notes`).
    explanation : str, optional
        Why the project is left out, in words with the number (a contested project).
    """
    lab = ctx.lab
    app = ctx.evaluation.applications[ctx.evaluation.cashflows.index_of(app_id)]
    for j, width in enumerate(_WIDTHS, start=1):
        ws.column_dimensions["ABCDE"[j - 1]].width = width
    w = _Writer(ws, lab)
    w._cell_text(1, 1, _LAST_COL, lab("memo.title", id=app_id, name=app.name), "Title")
    ws.row_dimensions[1].height = 24
    status = _status(ctx, app_id, explanation)
    ws.row_dimensions[2].height = 16 * w._cell_text(2, 1, _LAST_COL, status, "Subtitle") + 2
    w._cell_text(3, 1, _LAST_COL, lab("memo.sources_note"), "Note")
    ws.row_dimensions[3].height = 15 * _lines(lab("memo.sources_note"), sum(_WIDTHS) - 2) + 2
    _overview(w, ctx, app, app_id)
    _sponsor(w, ctx, app)
    _offtake(w, ctx, app, app_id)
    _risks(w, ctx, app, app_id)
    _loan(w, ctx, app, app_id)
    _opinion(w, ctx, notes)
    xs.print_setup(ws, footer=lab("text.page_footer"))
    ws.page_setup.orientation = "portrait"
    ws.print_area = f"A1:E{w.row - 1}"
