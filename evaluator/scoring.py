"""Scoring: eligibility screens, criteria on fixed 0-100 scales, weighted score, rank.

:func:`score` turns an :class:`~evaluator.evaluate.Evaluation`, the supply benefits of
:func:`evaluator.supply.project_benefits` and the officer's weights into a frozen
:class:`ScoreResult`; :func:`explain` prints why a project scored what it did.

Notes
-----
*Fixed scales.* Every criterion maps a project's own measures through piecewise-linear anchor
tables in ``evaluator/data/scoring_scales.csv`` (labelled assumptions an officer may replace),
clipped at the end anchors. Nothing is normalised against the other applications, so a project's
criterion scores and weighted score do not move when another application is added or removed;
only the ranks do. A measure that is missing (NaN: no IRR, no DSCR) takes the lowest score of its
scale; a project without a policy loan scores 100 on loan safety (no state loan is at risk).

*Criteria* (``models.scenario.CRITERIA``)::

    financial       = 0.6 f(NPV per KRW of support) + 0.4 f(IRR - hurdle)     hurdle = discount rate + premium
                      (financial_measure p10_npv: P10 NPV per KRW of support; prob_loss: P(NPV < 0))
    risk            = 100 - country risk score            (evaluator.country_risk.country_risk_score)
    diversification = supply.project_benefits' diversification_score (already fixed 0-100)
    loan_safety     = 0.4 f(min DSCR) + 0.2 f(LLCR) + 0.4 f(expected loss / loan)
    readiness       = 0.6 f(stage) + 0.4 f(permits_status)
    esg             = f(ESG category, mitigation plan)

*Score and rank.* Weights are validated (finite, non-negative, not all zero, known criteria) and
normalised to sum to 1; ``contrib_c = w_c x crit_c`` and ``score = sum_c contrib_c`` [0-100].
Eligible projects are ranked 1..n by score (descending), then NPV per KRW of support
(descending, NaN last), then id (ascending): the order is deterministic. Ineligible projects get
``rank`` NaN and are listed after the eligible ones (their score is still shown).

*Rank stability.* Each weight is multiplied by 0.8, 1.0 or 1.2 independently (3^6 = 729
combinations), renormalised, and the eligible projects re-ranked under every combination at once
(one matrix product); ``rank_best`` / ``rank_worst`` are the extremes, ``rank_range`` is text
such as ``"3-5"``.

References
----------
.. [1] Belton, V. and Stewart, T. J. (2002). Multiple Criteria Decision Analysis: An Integrated
   Approach. Kluwer, ch. 5 (value functions on fixed scales, weighted sum, sensitivity of ranks
   to weights).
.. [2] Equator Principles EP4 (2020): categories A, B, C of environmental and social risk.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from evaluator import country_risk, messages
from evaluator.errors import SettingsError
from evaluator.messages import Message
from evaluator.reference import DATA_DIR, ReferenceDataError
from models.scenario import CRITERIA, RISK_MEASURES

__all__ = [
    "ScoringError",
    "ScoreResult",
    "CRITERIA",
    "PERTURBATION",
    "validate_weights",
    "scoring_scales",
    "eligibility",
    "criteria_scores",
    "score",
    "rank_order",
    "explain",
]

#: Relative move of each weight in the rank-stability grid (+/- 20 %).
PERTURBATION = 0.20
_SCORE_DECIMALS = 9  # scores equal to 1e-9 points count as tied (weights that differ only by scale)


class ScoringError(SettingsError):
    """Scoring cannot proceed; the message names the rule (weights, missing risk metrics)."""


@dataclass(frozen=True)
class ScoreResult:
    """Scores and ranks of one set of applications under one scenario and set of weights.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``id``, ordered by rank (eligible first). Columns include ``country_risk_score``,
        ``risk_premium``, ``expected_loss_krw_bn``, ``diversification_score``,
        ``china_share_after``, ``crit_<criterion>`` and ``contrib_<criterion>`` [points],
        ``score`` [0-100], ``rank`` (NaN when ineligible), ``rank_best``, ``rank_worst``,
        ``rank_range``, ``eligible``, ``ineligible_reasons``.
    weights : dict
        Normalised weights used (sum 1).
    reasons : dict
        id -> the screens it fails, as :class:`evaluator.messages.Message` (for any language;
        ``ineligible_reasons`` holds the English text).
    financial_measure : str
    scenario_name : str
    """

    table: pd.DataFrame = field(repr=False)
    weights: Mapping[str, float]
    reasons: Mapping[str, tuple] = field(default_factory=dict, repr=False)
    financial_measure: str = "npv"
    scenario_name: str = ""

    def reasons_text(self, app_id: str, language: str = "en") -> str:
        """Why an application is ineligible, in ``language`` (empty when it is eligible)."""
        return messages.join(self.reasons.get(app_id, ()), language)

    @property
    def eligible(self) -> pd.DataFrame:
        return self.table[self.table["eligible"]]

    @property
    def ineligible(self) -> pd.DataFrame:
        return self.table[~self.table["eligible"]]


# ----------------------------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------------------------
def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Check officer weights and scale them to sum to 1.

    Rules: criteria must be known (``CRITERIA``); every weight a finite number >= 0; at least
    one > 0. Criteria not named weigh 0.

    Raises
    ------
    ScoringError
        Naming the rule and the offending criterion.
    """
    unknown = sorted(set(weights) - set(CRITERIA))
    if unknown:
        raise ScoringError(f"weights: unknown criterion {', '.join(unknown)} (known: {', '.join(CRITERIA)})")
    w = {}
    for c in CRITERIA:
        v = weights.get(c, 0.0)
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ScoringError(f"weights: {c}={v!r} must be a number") from None
        if not np.isfinite(v):
            raise ScoringError(f"weights: {c}={v} must be finite")
        if v < 0:
            raise ScoringError(f"weights: {c}={v:g} breaks the rule 'every weight must be non-negative'")
        w[c] = v
    total = sum(w.values())
    if total <= 0:
        raise ScoringError("weights: all weights are zero; the rule is 'at least one weight must be positive'")
    return {c: v / total for c, v in w.items()}


# ----------------------------------------------------------------------------------------------
# scales
# ----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _read_scales(path: Path) -> pd.DataFrame:
    t = pd.read_csv(path, dtype={"x": str}, keep_default_na=False)
    t["measure_weight"] = t["measure_weight"].astype(float)
    t["score"] = t["score"].astype(float)
    bad = sorted(set(t["criterion"]) - set(CRITERIA))
    if bad:
        raise ReferenceDataError(f"{path.name}, column 'criterion': unknown {bad}")
    lin = t["kind"] == "linear"
    t["x_num"] = np.where(lin, pd.to_numeric(t["x"].where(lin), errors="coerce"), np.nan)
    if t.loc[lin, "x_num"].isna().any():
        raise ReferenceDataError(f"{path.name}, column 'x': linear anchors must be numbers")
    for (crit, meas), g in t[lin].groupby(["criterion", "measure"]):
        if not np.all(np.diff(g["x_num"].to_numpy()) > 0):
            raise ReferenceDataError(f"{path.name}: anchors of {crit}/{meas} must have increasing x")
    return t


def scoring_scales(ref=None) -> pd.DataFrame:
    """The anchor table ``scoring_scales.csv`` (from the reference folder when it has one)."""
    d = Path(getattr(ref, "data_dir", DATA_DIR)) if ref is not None else DATA_DIR
    p = d / "scoring_scales.csv"
    return _read_scales(p if p.exists() else DATA_DIR / "scoring_scales.csv")


def _measure_score(scales: pd.DataFrame, criterion: str, measure: str, values) -> np.ndarray:
    g = scales[(scales.criterion == criterion) & (scales.measure == measure)]
    if g.empty:
        raise ReferenceDataError(f"scoring_scales.csv: no anchors for {criterion}/{measure}")
    lowest = float(g["score"].min())
    if (g["kind"] == "linear").all():
        x = np.asarray(values, dtype=float)
        s = np.interp(x, g["x_num"].to_numpy(), g["score"].to_numpy())
        return np.where(np.isfinite(x), s, lowest)
    lookup = dict(zip(g["x"], g["score"]))
    return np.array([lookup.get(str(v), lowest) for v in values], dtype=float)


def _measures(scales: pd.DataFrame, criterion: str, financial_measure: str) -> list[tuple[str, float]]:
    g = scales[(scales.criterion == criterion) & scales.applies_to.isin(["*", financial_measure])]
    first = g.drop_duplicates("measure")
    return list(zip(first["measure"], first["measure_weight"]))


# ----------------------------------------------------------------------------------------------
# eligibility
# ----------------------------------------------------------------------------------------------
def _screens(a, row, scenario, excluded) -> list[Message]:
    """The hard screens one application fails (none: eligible)."""
    out = []
    if a.country_iso3.upper() in excluded:
        out.append(Message("screen_country_excluded", {"country": a.country_iso3}))
    if a.esg_category == "A" and str(a.esg_mitigation_plan).lower() != "yes":
        out.append(Message("screen_esg_a_without_plan"))
    support = a.fund_request_krw_bn + a.loan_request_krw_bn
    if not scenario.allow_partial_above_cap:
        out += coverage_messages(a, row, scenario)
    if a.korean_ownership_share < scenario.min_korean_ownership_share - 1e-12:
        out.append(Message("screen_ownership_below_minimum", {
            "ownership": f"{a.korean_ownership_share:.0%}", "minimum": f"{scenario.min_korean_ownership_share:.0%}"}))
    if a.fund_request_krw_bn > scenario.fund_krw_bn + 1e-9:
        out.append(Message("screen_fund_above_budget", {"request": f"{a.fund_request_krw_bn:,.1f}",
                                                        "budget": f"{scenario.fund_krw_bn:,.1f}"}))
    if a.loan_request_krw_bn > scenario.loan_krw_bn + 1e-9:
        out.append(Message("screen_loan_above_budget", {"request": f"{a.loan_request_krw_bn:,.1f}",
                                                        "budget": f"{scenario.loan_krw_bn:,.1f}"}))
    if a.stage == "exploration" and a.loan_request_krw_bn > 0 and a.success_probability is None:
        out.append(Message("screen_exploration_without_probability"))
    if support <= 0:
        out.append(Message("screen_no_support"))
    if a.loan_request_krw_bn > 0 and a.loan_grace_years >= a.loan_tenor_years:
        out.append(Message("screen_grace_not_shorter", {"grace": a.loan_grace_years, "tenor": a.loan_tenor_years}))
    if not np.isfinite(row["npv_usd_m"]):
        out.append(Message("screen_npv_not_computable"))
    return out


def coverage_basis(a, row) -> Message:
    """How the applicant's own spending was measured (the base of the special loan's cap)."""
    if row["spending_basis"] == "stated":
        return Message("coverage_basis_stated", {"spending": f"{row['applicant_spending_krw_bn']:,.1f}"})
    return Message("coverage_basis_ownership", {"ownership": f"{a.korean_ownership_share:.0%}",
                                                "cost": f"{row['project_cost_krw_bn']:,.1f}",
                                                "spending": f"{row['applicant_spending_krw_bn']:,.1f}"})


def coverage_messages(a, row, scenario) -> list[Message]:
    """The special loan's coverage rules an application breaks (:func:`evaluator.special_loan.coverage`):
    the loan above the tier's share of the applicant's own spending, fund + loan above that
    spending."""
    out = []
    basis = coverage_basis(a, row)
    if a.loan_request_krw_bn > row["loan_cap_krw_bn"] + 1e-9:
        out.append(Message("screen_above_loan_cap", {
            "loan": f"{a.loan_request_krw_bn:,.1f}", "cap_share": f"{row['loan_cap_share']:.0%}",
            "tier": Message(f"loan_cap_tier_{row['loan_cap_tier']}"), "basis": basis,
            "cap": f"{row['loan_cap_krw_bn']:,.1f}", "terms": scenario.loan_terms}))
    support = a.fund_request_krw_bn + a.loan_request_krw_bn
    if support > row["support_cap_krw_bn"] + 1e-9:
        out.append(Message("screen_above_applicant_spending", {"support": f"{support:,.1f}", "basis": basis}))
    elif "fund_cap_krw_bn" in row and a.fund_request_krw_bn > row["fund_cap_krw_bn"] + 1e-9:
        out.append(Message("screen_above_fund_cap", {
            "fund": f"{a.fund_request_krw_bn:,.1f}", "share": f"{scenario.fund_equity_share:.0%}",
            "need": f"{row['applicant_equity_need_krw_bn']:,.1f}", "cap": f"{row['fund_cap_krw_bn']:,.1f}"}))
    return out


def eligibility(ev, scenario) -> pd.DataFrame:
    """Hard screens, each failure with a readable reason (index ``id``).

    Screens: host country excluded by the scenario; ESG category A without a mitigation plan;
    the loan above its cap (the terms' share of the applicant's own spending, by tier) or fund +
    loan above that spending (:mod:`evaluator.special_loan`; unless the scenario allows partial
    funding up to the cap, ``allow_partial_above_cap``); Korean
    ownership below ``min_korean_ownership_share``; fund request above the whole fund budget or
    loan request above the whole loan budget; exploration loan without a success probability;
    no support requested; loan grace period not shorter than the tenor; an NPV that cannot be
    computed (a project is never ranked on a number that does not exist).

    Returns
    -------
    pandas.DataFrame
        ``eligible`` [bool], ``ineligible_reasons`` (English text, ``"; "``-joined, empty when
        eligible), ``ineligible_messages`` (tuple of :class:`evaluator.messages.Message`, for
        the officer's language).
    """
    m = ev.metrics
    excluded = {c.upper() for c in scenario.excluded_countries}
    found = [tuple(_screens(a, row, scenario, excluded)) for a, (_, row) in zip(ev.applications, m.iterrows())]
    return pd.DataFrame({"eligible": [not r for r in found],
                         "ineligible_reasons": [messages.join(r) for r in found],
                         "ineligible_messages": found}, index=m.index)


# ----------------------------------------------------------------------------------------------
# criteria
# ----------------------------------------------------------------------------------------------
def _financial_inputs(ev, scenario, risk_metrics) -> dict[str, np.ndarray]:
    m = ev.metrics
    out = {"npv_per_support": m["npv_per_support"].to_numpy(dtype=float),
           "irr_excess": (m["irr"] - m["discount_rate"]).to_numpy(dtype=float)}
    fm = scenario.financial_measure
    if fm in RISK_MEASURES:
        need = "npv_p10_usd_m" if fm == "p10_npv" else "prob_npv_negative"
        if risk_metrics is None:
            raise ScoringError(f"financial_measure={fm} needs the uncertainty module's risk metrics "
                               f"(column {need}); run the simulation first or use financial_measure=npv")
        if need not in risk_metrics.columns:
            raise ScoringError(f"financial_measure={fm}: risk_metrics has no column {need}")
        missing = [i for i in m.index if i not in risk_metrics.index]
        if missing:
            raise ScoringError(f"financial_measure={fm}: risk_metrics has no row for {', '.join(missing)}")
        rm = risk_metrics.loc[m.index]
        if fm == "p10_npv":
            krw = rm["npv_p10_usd_m"].to_numpy(dtype=float) * scenario.fx_krw_per_usd / 1000.0
            sup = m["support_request_krw_bn"].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                out["npv_p10_per_support"] = np.where(sup > 0, krw / sup, np.nan)
        else:
            out["prob_npv_negative"] = rm["prob_npv_negative"].to_numpy(dtype=float)
    return out


def criteria_scores(ev, scenario, ref, *, benefits: pd.DataFrame | None = None,
                    risk_metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """Measures and ``crit_<criterion>`` scores [0-100] per project (index ``id``).

    Depends only on each project's own figures, never on the other applications.
    """
    m = ev.metrics
    scales = scoring_scales(ref)
    fm = scenario.financial_measure
    safety = country_risk.loan_safety_metrics(ev, scenario, ref)
    t = pd.DataFrame(index=m.index)
    for col in ("name", "country_iso3", "mineral", "stage", "npv_usd_m", "npv_krw_bn", "irr",
                "discount_rate", "payback_years", "npv_per_support", "min_dscr", "llcr",
                "support_request_krw_bn", "fund_request_krw_bn", "loan_request_krw_bn", "coverage_share",
                "applicant_spending_krw_bn", "spending_basis", "loan_cap_tier", "loan_cap_criteria", "loan_cap_share",
                "loan_cap_krw_bn", "support_cap_krw_bn", "loan_success_contingent", "loan_levy_if_success_krw_bn",
                "loan_interest_subsidy_krw_bn"):
        t[col] = m[col]
    t["irr_excess"] = m["irr"] - m["discount_rate"]
    t["permits_status"] = [a.permits_status for a in ev.applications]
    t["esg_category"] = [a.esg_category for a in ev.applications]
    t["esg_mitigation_plan"] = [str(a.esg_mitigation_plan).lower() for a in ev.applications]
    for col in ("country_risk_score", "risk_premium", "pd_cumulative", "expected_loss_krw_bn", "expected_loss_share",
                "loan_expected_levy_krw_bn", "loan_expected_net_cost_krw_bn", "loan_net_cost_share"):
        t[col] = safety[col]
    for col in ("diversification_score", "china_share_before", "china_share_after", "delta_top_share",
                "target_progress"):
        t[col] = benefits[col].reindex(m.index) if benefits is not None and col in benefits else np.nan

    inputs = dict(_financial_inputs(ev, scenario, risk_metrics))
    for k in ("npv_p10_per_support", "prob_npv_negative"):
        if k in inputs:
            t[k] = inputs[k]
    inputs.update({
        "country_risk_score": t["country_risk_score"].to_numpy(dtype=float),
        "diversification_score": t["diversification_score"].to_numpy(dtype=float),
        "min_dscr": t["min_dscr"].to_numpy(dtype=float),
        "llcr": t["llcr"].to_numpy(dtype=float),
        "loan_net_cost_share": t["loan_net_cost_share"].to_numpy(dtype=float),
        "stage": t["stage"].to_numpy(),
        "permits_status": t["permits_status"].to_numpy(),
        "esg_category_plan": (t["esg_category"] + "|" + t["esg_mitigation_plan"]).to_numpy(),
    })
    for crit in CRITERIA:
        ms = _measures(scales, crit, fm)
        total = sum(w for _, w in ms)
        s = sum(w * _measure_score(scales, crit, meas, inputs[meas]) for meas, w in ms) / total
        t[f"crit_{crit}"] = s
    no_loan = t["loan_request_krw_bn"].to_numpy(dtype=float) <= 0
    t.loc[no_loan, "crit_loan_safety"] = 100.0
    return t


# ----------------------------------------------------------------------------------------------
# ranking
# ----------------------------------------------------------------------------------------------
def _tiebreak_order(npv_per_support: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions sorted by NPV per support (desc, NaN last) then id (asc)."""
    nps = np.where(np.isfinite(npv_per_support), -npv_per_support, np.inf)
    return np.lexsort((ids, nps))


def rank_order(scores: np.ndarray, npv_per_support: np.ndarray, ids) -> np.ndarray:
    """Ranks 1..n (1 = best) for one or many score columns, deterministic tie-break.

    Parameters
    ----------
    scores : array (n,) or (n, k)
        Scores of n projects under k weight sets.
    npv_per_support, ids : array (n,)

    Returns
    -------
    numpy.ndarray of int, same shape as ``scores``
    """
    s = np.round(np.asarray(scores, dtype=float), _SCORE_DECIMALS)
    one = s.ndim == 1
    s2 = s[:, None] if one else s
    n, k = s2.shape
    base = _tiebreak_order(np.asarray(npv_per_support, dtype=float), np.asarray(ids, dtype=str))
    # stable sort of -score over rows already in tie-break order: ties keep that order
    order = base[np.argsort(-s2[base], axis=0, kind="stable")]
    ranks = np.empty((n, k), dtype=int)
    np.put_along_axis(ranks, order, np.arange(1, n + 1)[:, None].repeat(k, axis=1), axis=0)
    return ranks[:, 0] if one else ranks


def weight_grid(weights: Mapping[str, float], perturbation: float = PERTURBATION) -> np.ndarray:
    """All 3^6 weight vectors with each weight x (1 - p, 1, 1 + p), renormalised (rows sum to 1)."""
    w = np.array([weights[c] for c in CRITERIA], dtype=float)
    f = np.array(list(itertools.product((1 - perturbation, 1.0, 1 + perturbation), repeat=len(CRITERIA))))
    g = f * w[None, :]
    return g / g.sum(axis=1, keepdims=True)


def screened_criteria(ev, scenario, ref, *, benefits: pd.DataFrame | None = None,
                      risk_metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """The part of :func:`score` that does not depend on the weights: :func:`criteria_scores`
    joined with :func:`eligibility` (its ``ineligible_messages`` column included). A weight move
    recomputes only the weighted sum and the ranks from it."""
    return criteria_scores(ev, scenario, ref, benefits=benefits, risk_metrics=risk_metrics).join(
        eligibility(ev, scenario))


def score(ev, scenario, ref, *, benefits: pd.DataFrame | None = None,
          weights: Mapping[str, float] | None = None,
          risk_metrics: pd.DataFrame | None = None, screened: pd.DataFrame | None = None) -> ScoreResult:
    """Screen, score and rank the evaluated applications.

    Parameters
    ----------
    ev : evaluator.evaluate.Evaluation
    scenario : models.scenario.Scenario
        Screens, loan terms, ``financial_measure``; its ``weights`` unless ``weights`` is given.
    ref : ReferenceData
    benefits : pandas.DataFrame, optional
        :func:`evaluator.supply.project_benefits` output (index ``id``); without it the
        diversification criterion scores 0 (lowest) for every project.
    weights : mapping, optional
        Officer weights overriding the scenario's (validated, normalised).
    risk_metrics : pandas.DataFrame, optional
        Index ``id``; ``npv_p10_usd_m`` [USD m] and ``prob_npv_negative`` [fraction] from the
        uncertainty module, required when ``scenario.financial_measure`` is p10_npv / prob_loss.
    screened : pandas.DataFrame, optional
        :func:`screened_criteria` of the same arguments, computed earlier (``benefits`` and
        ``risk_metrics`` are then not read).

    Returns
    -------
    ScoreResult

    Raises
    ------
    ScoringError
        Invalid weights; risk metrics needed but absent.
    """
    w = validate_weights(scenario.weights if weights is None else weights)
    if screened is None:
        screened = screened_criteria(ev, scenario, ref, benefits=benefits, risk_metrics=risk_metrics)
    t = screened.copy()
    reasons = {str(k): tuple(v) for k, v in t["ineligible_messages"].items()}
    crit = t[[f"crit_{c}" for c in CRITERIA]].to_numpy(dtype=float)
    wv = np.array([w[c] for c in CRITERIA])
    contrib = crit * wv[None, :]
    for j, c in enumerate(CRITERIA):
        t[f"contrib_{c}"] = contrib[:, j]
    t["score"] = contrib.sum(axis=1)

    t["rank"] = np.nan
    t["rank_best"] = np.nan
    t["rank_worst"] = np.nan
    t["rank_range"] = ""
    el = t["eligible"].to_numpy()
    if el.any():
        ids = t.index.to_numpy(dtype=str)[el]
        nps = t["npv_per_support"].to_numpy(dtype=float)[el]
        t.loc[el, "rank"] = rank_order(t["score"].to_numpy()[el], nps, ids).astype(float)
        grid_scores = crit[el] @ weight_grid(w).T          # (n_eligible, 729)
        grid_ranks = rank_order(grid_scores, nps, ids)
        best, worst = grid_ranks.min(axis=1), grid_ranks.max(axis=1)
        t.loc[el, "rank_best"] = best.astype(float)
        t.loc[el, "rank_worst"] = worst.astype(float)
        t.loc[el, "rank_range"] = [f"{b}" if b == x else f"{b}-{x}" for b, x in zip(best, worst)]
    # eligible by rank, then the ineligible by score (desc) and id
    t["_el"] = ~t["eligible"]
    t["_neg"] = -t["score"].round(_SCORE_DECIMALS)
    t = t.rename_axis("id").reset_index().sort_values(["_el", "rank", "_neg", "id"], kind="stable") \
        .set_index("id").drop(columns=["_el", "_neg"])
    return ScoreResult(table=t, weights=w, reasons=reasons, financial_measure=scenario.financial_measure,
                       scenario_name=scenario.name)


# ----------------------------------------------------------------------------------------------
# explanation
# ----------------------------------------------------------------------------------------------
def _pct(x) -> str | None:
    return None if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def _num(x, fmt="{:.2f}") -> str | None:
    return None if x is None or not np.isfinite(x) else fmt.format(x)


def _score_basis(mineral, say) -> dict:
    """The basis and window of the score's China shares (the project alone, the scoring years'
    mean of :func:`evaluator.supply.project_benefits`), for the sentence that shows them."""
    from evaluator import supply
    from evaluator.reference import load_reference

    ref = load_reference()
    y0, y1 = supply.score_years(ref)
    known = isinstance(mineral, str) and mineral in ref.minerals.index
    basis = supply.share_basis(ref, mineral) if known else "all forms"
    return {"basis": say("share_basis_elements" if basis == "NdPr+Dy+Tb" else "share_basis_all"), "first": y0, "last": y1}


def explain(result: ScoreResult, app_id: str, language: str = "en") -> list[str]:
    """Readable lines on a project's eligibility, score, rank and each criterion's contribution,
    worded in ``language`` (:mod:`evaluator.messages`)."""
    t = result.table
    if app_id not in t.index:
        raise KeyError(f"no application {app_id!r} in the score result")
    r = t.loc[app_id]

    def say(code, **params):
        na = messages.text("not_available", language)
        return messages.text(code, language, **{k: na if v is None else v for k, v in params.items()})

    stage = say(f"stage_{r['stage']}")
    lines = [say("explain_head", id=app_id, name=r["name"], country=r["country_iso3"],
                 mineral=messages.mineral_name(r["mineral"], language),
                 stage=stage, score=f"{r['score']:.1f}")]
    if r["eligible"]:
        lines.append(say("explain_rank", rank=int(r["rank"]), n=int(t["eligible"].sum()), range=r["rank_range"],
                         perturbation=f"{PERTURBATION:.0%}"))
    else:
        lines.append(say("explain_not_eligible", reasons=result.reasons_text(app_id, language)))
    financial = say("explain_financial", npv=_num(r["npv_usd_m"], "{:,.1f}"), npv_per_support=_num(r["npv_per_support"]),
                    irr=_pct(r["irr"]), hurdle=_pct(r["discount_rate"]))
    if "npv_p10_per_support" in r:
        financial += say("explain_financial_p10", value=_num(r["npv_p10_per_support"]))
    if "prob_npv_negative" in r:
        financial += say("explain_financial_prob_loss", value=_pct(r["prob_npv_negative"]))
    detail = {
        "financial": financial,
        "risk": say("explain_risk", score=_num(r["country_risk_score"], "{:.1f}"), premium=_pct(r["risk_premium"])),
        "diversification": say("explain_diversification", score=_num(r["diversification_score"], "{:.1f}"),
                               before=_pct(r["china_share_before"]), after=_pct(r["china_share_after"]),
                               **_score_basis(r.get("mineral"), say)),
        "loan_safety": say("explain_loan_safety", dscr=_num(r["min_dscr"]), llcr=_num(r["llcr"]),
                           loss=_num(r["expected_loss_krw_bn"], "{:.2f}"), levy=_num(r["loan_expected_levy_krw_bn"], "{:.2f}"),
                           net=_num(r["loan_expected_net_cost_krw_bn"], "{:.2f}"), share=_pct(r["loan_net_cost_share"])),
        "readiness": say("explain_readiness", stage=stage, permits=say(f"permits_{r['permits_status']}")),
        "esg": say("explain_esg", category=r["esg_category"],
                   plan=say(f"plan_{r['esg_mitigation_plan'] if r['esg_mitigation_plan'] in ('yes', 'no') else ''}")),
    }
    w = result.weights
    for c in CRITERIA:
        lines.append(say("explain_criterion", criterion=say(f"criterion_{c}"), score=f"{r[f'crit_{c}']:.1f}",
                         weight=f"{w[c]:.3f}", points=f"{r[f'contrib_{c}']:.1f}", detail=detail[c]))
    return lines
