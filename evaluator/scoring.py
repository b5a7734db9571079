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

from evaluator import country_risk
from evaluator.reference import DATA_DIR, ReferenceDataError
from models.scenario import CRITERIA

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


class ScoringError(ValueError):
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
    financial_measure : str
    scenario_name : str
    """

    table: pd.DataFrame = field(repr=False)
    weights: Mapping[str, float]
    financial_measure: str = "npv"
    scenario_name: str = ""

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
def eligibility(ev, scenario) -> pd.DataFrame:
    """Hard screens, each failure with a readable reason (index ``id``).

    Screens: host country excluded by the scenario; ESG category A without a mitigation plan;
    support (fund + loan) above ``coverage_cap_share`` x total project cost [KRW bn]; Korean
    ownership below ``min_korean_ownership_share``; fund request above the whole fund budget or
    loan request above the whole loan budget; exploration loan without a success probability;
    no support requested; loan grace period not shorter than the tenor; an NPV that cannot be
    computed (not finite) is never eligible.

    Returns
    -------
    pandas.DataFrame
        ``eligible`` [bool], ``ineligible_reasons`` (text, ``"; "``-joined, empty when eligible).
    """
    m = ev.metrics
    excluded = {c.upper() for c in scenario.excluded_countries}
    reasons = []
    for a, (_, row) in zip(ev.applications, m.iterrows()):
        r = []
        if a.country_iso3.upper() in excluded:
            r.append(f"country {a.country_iso3} is excluded by the scenario")
        if a.esg_category == "A" and str(a.esg_mitigation_plan).lower() != "yes":
            r.append("ESG category A without a mitigation plan")
        cap = scenario.coverage_cap_share * row["project_cost_krw_bn"]
        support = a.fund_request_krw_bn + a.loan_request_krw_bn
        if support > cap + 1e-9:
            r.append(f"support {support:,.1f} KRW bn is above the coverage cap {scenario.coverage_cap_share:.0%} "
                     f"x project cost {row['project_cost_krw_bn']:,.1f} = {cap:,.1f} KRW bn "
                     f"({scenario.loan_terms} terms)")
        if a.korean_ownership_share < scenario.min_korean_ownership_share - 1e-12:
            r.append(f"Korean ownership {a.korean_ownership_share:.0%} is below the programme minimum "
                     f"{scenario.min_korean_ownership_share:.0%}")
        if a.fund_request_krw_bn > scenario.fund_krw_bn + 1e-9:
            r.append(f"fund request {a.fund_request_krw_bn:,.1f} KRW bn exceeds the whole fund budget "
                     f"{scenario.fund_krw_bn:,.1f} KRW bn")
        if a.loan_request_krw_bn > scenario.loan_krw_bn + 1e-9:
            r.append(f"loan request {a.loan_request_krw_bn:,.1f} KRW bn exceeds the whole loan budget "
                     f"{scenario.loan_krw_bn:,.1f} KRW bn")
        if a.stage == "exploration" and a.loan_request_krw_bn > 0 and a.success_probability is None:
            r.append("exploration loan without a success probability (needed for the success-contingent loss)")
        if support <= 0:
            r.append("no support requested (fund and loan requests are both zero)")
        if a.loan_request_krw_bn > 0 and a.loan_grace_years >= a.loan_tenor_years:
            r.append(f"loan grace {a.loan_grace_years} yr is not shorter than the tenor {a.loan_tenor_years} yr")
        if not np.isfinite(row["npv_usd_m"]):
            r.append("NPV cannot be computed (not a finite number): check the application's figures")
        reasons.append(r)
    return pd.DataFrame({"eligible": [not r for r in reasons],
                         "ineligible_reasons": ["; ".join(r) for r in reasons]}, index=m.index)


# ----------------------------------------------------------------------------------------------
# criteria
# ----------------------------------------------------------------------------------------------
def _financial_inputs(ev, scenario, risk_metrics) -> dict[str, np.ndarray]:
    m = ev.metrics
    out = {"npv_per_support": m["npv_per_support"].to_numpy(dtype=float),
           "irr_excess": (m["irr"] - m["discount_rate"]).to_numpy(dtype=float)}
    fm = scenario.financial_measure
    if fm in ("p10_npv", "prob_loss"):
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
                "support_request_krw_bn", "fund_request_krw_bn", "loan_request_krw_bn", "coverage_share"):
        t[col] = m[col]
    t["irr_excess"] = m["irr"] - m["discount_rate"]
    t["permits_status"] = [a.permits_status for a in ev.applications]
    t["esg_category"] = [a.esg_category for a in ev.applications]
    t["esg_mitigation_plan"] = [str(a.esg_mitigation_plan).lower() for a in ev.applications]
    for col in ("country_risk_score", "risk_premium", "pd_cumulative", "expected_loss_krw_bn", "expected_loss_share"):
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
        "expected_loss_share": t["expected_loss_share"].to_numpy(dtype=float),
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


def score(ev, scenario, ref, *, benefits: pd.DataFrame | None = None,
          weights: Mapping[str, float] | None = None,
          risk_metrics: pd.DataFrame | None = None) -> ScoreResult:
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

    Returns
    -------
    ScoreResult

    Raises
    ------
    ScoringError
        Invalid weights; risk metrics needed but absent.
    """
    w = validate_weights(scenario.weights if weights is None else weights)
    t = criteria_scores(ev, scenario, ref, benefits=benefits, risk_metrics=risk_metrics)
    t = t.join(eligibility(ev, scenario))
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
    return ScoreResult(table=t, weights=w, financial_measure=scenario.financial_measure,
                       scenario_name=scenario.name)


# ----------------------------------------------------------------------------------------------
# explanation
# ----------------------------------------------------------------------------------------------
def _pct(x) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}%"


def _num(x, fmt="{:.2f}") -> str:
    return "n/a" if x is None or not np.isfinite(x) else fmt.format(x)


def explain(result: ScoreResult, app_id: str) -> list[str]:
    """Readable lines on a project's eligibility, score, rank and each criterion's contribution."""
    t = result.table
    if app_id not in t.index:
        raise KeyError(f"no application {app_id!r} in the score result")
    r = t.loc[app_id]
    n_el = int(t["eligible"].sum())
    lines = [f"{app_id} {r['name']} ({r['country_iso3']}, {r['mineral']}, {r['stage']}): "
             f"score {r['score']:.1f} / 100"]
    if r["eligible"]:
        lines.append(f"Rank {int(r['rank'])} of {n_el} eligible; {r['rank_range']} when each weight moves by "
                     f"+/-{PERTURBATION:.0%}.")
    else:
        lines.append(f"Not eligible (not ranked): {r['ineligible_reasons']}.")
    w = result.weights
    detail = {
        "financial": (f"NPV {_num(r['npv_usd_m'], '{:,.1f}')} USD m, {_num(r['npv_per_support'])} KRW NPV per KRW "
                      f"of support; IRR {_pct(r['irr'])} vs hurdle {_pct(r['discount_rate'])}"
                      + (f"; P10 NPV per support {_num(r['npv_p10_per_support'])}" if "npv_p10_per_support" in r else "")
                      + (f"; P(NPV<0) {_pct(r['prob_npv_negative'])}" if "prob_npv_negative" in r else "")),
        "risk": (f"country risk score {_num(r['country_risk_score'], '{:.1f}')} / 100 (higher = riskier); "
                 f"premium {_pct(r['risk_premium'])}"),
        "diversification": (f"diversification score {_num(r['diversification_score'], '{:.1f}')}; China share "
                            f"{_pct(r['china_share_before'])} -> {_pct(r['china_share_after'])}"),
        "loan_safety": (f"min DSCR {_num(r['min_dscr'])}, LLCR {_num(r['llcr'])}, expected loss "
                        f"{_num(r['expected_loss_krw_bn'], '{:.2f}')} KRW bn ({_pct(r['expected_loss_share'])} "
                        f"of the loan)"),
        "readiness": f"stage {r['stage']}, permits {r['permits_status']}",
        "esg": f"category {r['esg_category']}, mitigation plan {r['esg_mitigation_plan']}",
    }
    for c in CRITERIA:
        lines.append(f"  {c}: {r[f'crit_{c}']:.1f} x weight {w[c]:.3f} = {r[f'contrib_{c}']:.1f} points "
                     f"({detail[c]})")
    return lines
