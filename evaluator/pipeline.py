"""The single entry the CLI and the app call: evaluate, supply benefits, score.

``run`` = :func:`evaluate_step` (cash flows and finance; the slow, price-dependent part the UI
caches on applications + scenario) followed by :func:`score_step` (offtake, supply benefits,
screens, criteria, weights, rank; cheap, re-run when the officer moves a weight slider).
Both are pure functions of their inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd

from evaluator import scoring
from evaluator.evaluate import Evaluation, evaluate

__all__ = ["PipelineResult", "evaluate_step", "score_step", "supply_reference", "run"]


@dataclass(frozen=True)
class PipelineResult:
    """Everything the ranking needs, for one set of applications and one scenario.

    Attributes
    ----------
    evaluation : evaluator.evaluate.Evaluation
    offtake : pandas.DataFrame
        ``supply.offtake_from_evaluation`` (id, mineral, country_iso3,
        korea_offtake_t_per_year [t/yr], price_usd_per_t [USD/t]).
    benefits : pandas.DataFrame
        ``supply.project_benefits`` (index id; diversification_score [0-100], China shares ...).
    scores : evaluator.scoring.ScoreResult
    """

    evaluation: Evaluation = field(repr=False)
    offtake: pd.DataFrame = field(repr=False)
    benefits: pd.DataFrame = field(repr=False)
    scores: scoring.ScoreResult = field(repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """The ranked score table (``scores.table``)."""
        return self.scores.table


def evaluate_step(apps: Sequence, scenario, ref) -> Evaluation:
    """Cash flows and finance metrics (:func:`evaluator.evaluate.evaluate`)."""
    return evaluate(apps, scenario, ref)


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


def score_step(ev: Evaluation, scenario, ref, *, customs=None, risk_metrics: pd.DataFrame | None = None,
               weights: Mapping[str, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, scoring.ScoreResult]:
    """Offtake, supply benefits and scores for an evaluation.

    Returns
    -------
    (offtake, benefits, ScoreResult)
    """
    from evaluator import supply

    supply_ref = supply_reference(ref, customs)
    offtake = supply.offtake_from_evaluation(ev)
    benefits = supply.project_benefits(supply_ref, scenario, offtake)
    result = scoring.score(ev, scenario, ref, benefits=benefits, weights=weights, risk_metrics=risk_metrics)
    return offtake, benefits, result


def run(apps: Sequence, scenario, ref, *, customs=None, risk_metrics: pd.DataFrame | None = None,
        weights: Mapping[str, float] | None = None) -> PipelineResult:
    """Evaluate, measure supply benefits, screen, score and rank a set of applications.

    Parameters
    ----------
    apps : sequence of models.application.Application
    scenario : models.scenario.Scenario
    ref : evaluator.reference.ReferenceData
    customs : path or DataFrame, optional
        A customs extract in UN Comtrade format replacing the bundled imports.
    risk_metrics : DataFrame, optional
        Uncertainty results (index id; npv_p10_usd_m, prob_npv_negative) for
        ``financial_measure`` p10_npv / prob_loss.
    weights : mapping, optional
        Officer weights overriding ``scenario.weights``.
    """
    ev = evaluate_step(apps, scenario, ref)
    offtake, benefits, result = score_step(ev, scenario, ref, customs=customs, risk_metrics=risk_metrics,
                                           weights=weights)
    return PipelineResult(ev, offtake, benefits, result)
