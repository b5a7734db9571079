"""Portfolio risk of a funded allocation: the policy-loan book, the fund and the 2030 target.

:func:`portfolio_risk` simulates the funded projects jointly
(:func:`evaluator.uncertainty.portfolio_paths.simulate_portfolio_paths`: shared price and FX
paths, each project's own risks and exploration outcome) and summarises:

* **Loan book**: the loss per path [KRW bn] in total and per calendar year; expected loss, the
  95th and 99th percentiles, the expected shortfall beyond the 99th (mean of the worst 1 %), the
  probability that the loss exceeds ``loss_threshold_share`` of the loan budget, the histogram and
  the S-curve (loss against the probability of not exceeding it). Beside the loss, the special
  levy the successful borrowers pay (:mod:`.portfolio_paths`) and the government's net cost,
  loss - levy, per path: its mean and 95th percentile.
* **Fund**: the fund's portfolio NPV per path [KRW bn] (its share of each project's value, see
  :mod:`.portfolio_paths`), P10, P50, P90, mean, P(NPV < 0), its S-curve.
* **Risk contributions** (Euler allocation of a tail mean, Tasche 1999 [1]_): project ``i``'s
  contribution to the book's ES99 is the mean of its loss over the paths of the worst 1 % of the
  book's loss; to the fund's downside, the mean of its fund NPV over the worst 10 % of the fund's
  paths (contribution to the ES10, i.e. the mean below the P10). Each set sums to its total.
* **Target**: per mineral and calendar year to ``horizon_year``, the probability that the
  programme's target is met: the TOP supplier's share of Korea's imports (whoever it is on the
  path) at or below ``target_single_supplier_share`` (``prob_target_met``; the same definition as
  the allocation summary's ``meets_target_after``, :func:`evaluator.supply.effect_in_year`), and,
  as its own measure, the probability that China's share is at or below it
  (``prob_china_share_at_most_target``) (:mod:`.supply_paths`).

Percentiles are ``numpy.quantile`` (linear). The expected loss of the book is the sum of the
projects' expected losses (the losses add path by path).

References
----------
.. [1] Tasche, D. (1999). "Risk contributions and performance measurement." Working paper,
   TU Munich; Euler allocation of expected shortfall: ``ES(L) = sum_i E[L_i | L >= VaR(L)]``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator import supply
from evaluator.uncertainty.portfolio_paths import PortfolioPaths, simulate_portfolio_paths
from evaluator.uncertainty.supply_paths import SHARE_EPS, SupplySharePaths, supply_share_paths

#: Default share of the loan budget against which write-offs are tested (assumption: a tenth of
#: the year's budget; the officer states the share).
DEFAULT_LOSS_THRESHOLD_SHARE = 0.10
#: Points of the S-curves (probability levels 0, 1/(k-1), ..., 1).
S_CURVE_POINTS = 101
#: Bins of the loss histogram.
HISTOGRAM_BINS = 30
#: Per-project fields of the ``projects`` list of :meth:`PortfolioRisk.as_record`.
PROJECT_RECORD_FIELDS = ("mineral", "country_iso3", "loan_krw_bn", "prob_failure", "prob_default",
                         "expected_loss_krw_bn", "static_expected_loss_krw_bn", "expected_levy_krw_bn",
                         "expected_net_cost_krw_bn")


@dataclass(frozen=True)
class PortfolioRisk:
    """Outcome of :func:`portfolio_risk`: everything the Allocation page, the committee report
    and the CLI show. Money in [KRW bn], probabilities and shares in [fraction].

    Attributes
    ----------
    n_paths, seed : int
    vol_scale : float
    failures : bool
        Exploration failures drawn.
    loan_budget_krw_bn, loss_threshold_share, loss_threshold_krw_bn : float
    loan_loss_expected_krw_bn, loan_loss_p95_krw_bn, loan_loss_p99_krw_bn, loan_loss_es99_krw_bn : float
    prob_loss_exceeds_threshold : float
        P(total loss > ``loss_threshold_krw_bn``).
    loan_levy_expected_krw_bn : float
        Mean special levy of the book [KRW bn, PV at the social discount rate].
    loan_net_cost_expected_krw_bn, loan_net_cost_p95_krw_bn : float
        The government's net cost of the book, loss - levy per path: mean and 95th percentile.
    static_expected_levy_krw_bn : float
        The records' expected levy of the same loans (the allocation's ``loan_expected_levy_krw_bn``;
        NaN when not given).
    loan_loss_by_year : pandas.DataFrame
        ``year``, ``expected_krw_bn``, ``p95_krw_bn``, ``p99_krw_bn``, ``prob_any_loss``.
    loan_loss_s_curve, fund_npv_s_curve : pandas.DataFrame
        ``probability`` (of not exceeding), ``loss_krw_bn`` / ``fund_npv_krw_bn``.
    loan_loss_histogram : pandas.DataFrame
        ``bin_left_krw_bn``, ``bin_right_krw_bn``, ``share_of_paths``.
    fund_npv_mean_krw_bn, fund_npv_p10_krw_bn, fund_npv_p50_krw_bn, fund_npv_p90_krw_bn : float
    fund_npv_es10_krw_bn : float
        Mean of the fund's NPV over its worst 10 % of paths.
    prob_fund_loss : float
        P(fund NPV < 0).
    static_expected_loss_krw_bn : float
        The static expected loss of the same loans (:func:`evaluator.country_risk.loan_expected_loss`:
        the allocation's figure), beside the simulated ``loan_loss_expected_krw_bn``; both use one
        credit model (:mod:`evaluator.credit`), :meth:`expected_loss_note` says why they differ.
    dsra_months : float
        The scenario's debt-service reserve [months].
    projects : pandas.DataFrame
        Index ``id``: ``mineral``, ``country_iso3``, ``fund_krw_bn``, ``loan_krw_bn``,
        ``fund_share``, ``prob_failure``, ``prob_default`` (the loan defaults on a path without
        exploration failure), ``expected_loss_krw_bn`` (simulated), ``static_expected_loss_krw_bn``,
        ``expected_levy_krw_bn``, ``expected_net_cost_krw_bn`` (simulated: loss - levy),
        ``loss_contribution_es99_krw_bn``, ``fund_npv_mean_krw_bn``, ``fund_npv_p10_krw_bn``,
        ``fund_contribution_es10_krw_bn``, ``npv_mean_usd_m``, ``npv_p10_usd_m``, ``npv_usd_m``
        (deterministic), ``delay_mean_years``.
    target : pandas.DataFrame
        One row per (mineral, year): ``prob_target_met`` (top supplier's share at or below the
        target), ``prob_china_share_at_most_target``,
        ``china_share_p10``, ``china_share_p50``, ``china_share_p90``, ``is_target_year``.
    target_year : int
    elapsed_s : float
    """

    n_paths: int
    seed: int
    vol_scale: float
    failures: bool
    loan_budget_krw_bn: float
    loss_threshold_share: float
    loss_threshold_krw_bn: float
    loan_loss_expected_krw_bn: float
    loan_loss_p95_krw_bn: float
    loan_loss_p99_krw_bn: float
    loan_loss_es99_krw_bn: float
    prob_loss_exceeds_threshold: float
    fund_npv_mean_krw_bn: float
    fund_npv_p10_krw_bn: float
    fund_npv_p50_krw_bn: float
    fund_npv_p90_krw_bn: float
    fund_npv_es10_krw_bn: float
    prob_fund_loss: float
    target_year: int
    loan_loss_by_year: pd.DataFrame = field(repr=False)
    loan_loss_s_curve: pd.DataFrame = field(repr=False)
    loan_loss_histogram: pd.DataFrame = field(repr=False)
    fund_npv_s_curve: pd.DataFrame = field(repr=False)
    projects: pd.DataFrame = field(repr=False)
    target: pd.DataFrame = field(repr=False)
    elapsed_s: float = 0.0
    static_expected_loss_krw_bn: float = float("nan")
    dsra_months: float = 6.0
    loan_levy_expected_krw_bn: float = 0.0
    loan_net_cost_expected_krw_bn: float = 0.0
    loan_net_cost_p95_krw_bn: float = 0.0
    static_expected_levy_krw_bn: float = float("nan")

    def expected_loss_note(self):
        """One sentence (a :class:`evaluator.messages.Message`) on why the static and the simulated
        expected loss of the book differ."""
        from evaluator.messages import Message

        sim, static = self.loan_loss_expected_krw_bn, self.static_expected_loss_krw_bn
        code = "portfolio_el_sim_higher" if sim > static else "portfolio_el_sim_lower"
        return Message(code, {"static": f"{static:,.2f}", "simulated": f"{sim:,.2f}",
                              "months": f"{self.dsra_months:g}"})

    def prob_target_met(self, column: str = "prob_target_met") -> dict[str, dict[int, float]]:
        """Mineral -> calendar year -> probability (``column`` of :attr:`target`)."""
        out: dict[str, dict[int, float]] = {}
        for r in self.target.itertuples(index=False):
            out.setdefault(str(r.mineral), {})[int(r.year)] = float(getattr(r, column))
        return out

    def as_record(self) -> dict:
        """The CLI's ``portfolio`` object (JSON-ready scalars and mappings)."""
        keys = ["n_paths", "seed", "vol_scale", "failures", "loan_budget_krw_bn", "loss_threshold_share",
                "loss_threshold_krw_bn", "loan_loss_expected_krw_bn", "loan_loss_p95_krw_bn", "loan_loss_p99_krw_bn",
                "loan_loss_es99_krw_bn", "prob_loss_exceeds_threshold", "fund_npv_mean_krw_bn",
                "fund_npv_p10_krw_bn", "fund_npv_p50_krw_bn", "fund_npv_p90_krw_bn", "fund_npv_es10_krw_bn",
                "prob_fund_loss", "target_year", "static_expected_loss_krw_bn", "dsra_months",
                "loan_levy_expected_krw_bn", "loan_net_cost_expected_krw_bn", "loan_net_cost_p95_krw_bn",
                "static_expected_levy_krw_bn"]
        out = {k: getattr(self, k) for k in keys}
        out["expected_loss_note"] = self.expected_loss_note().text("en")
        out["loan_loss_by_year"] = {int(r.year): {"expected_krw_bn": r.expected_krw_bn, "p95_krw_bn": r.p95_krw_bn,
                                                  "p99_krw_bn": r.p99_krw_bn, "prob_any_loss": r.prob_any_loss}
                                    for r in self.loan_loss_by_year.itertuples(index=False)}
        out["prob_target_met"] = self.prob_target_met()
        out["prob_china_share_at_most_target"] = self.prob_target_met("prob_china_share_at_most_target")
        out["projects"] = [{"id": str(i), **{k: (float(v) if isinstance(v, (float, np.floating)) else v)
                                            for k, v in r.items()}}
                           for i, r in self.projects[list(PROJECT_RECORD_FIELDS)].iterrows()]
        out["elapsed_s"] = round(self.elapsed_s, 3)
        return out


# ----------------------------------------------------------------------------------------------
# statistics
# ----------------------------------------------------------------------------------------------
def tail_contributions(total: np.ndarray, parts: np.ndarray, share: float, worst: str) -> tuple[float, np.ndarray]:
    """Tail mean of ``total`` over its worst ``share`` of paths and each part's mean over the same
    paths (Euler contributions; they sum to the tail mean).

    Parameters
    ----------
    total : numpy.ndarray
        ``(P,)``; must equal ``parts.sum(axis=0)``.
    parts : numpy.ndarray
        ``(n, P)``.
    share : float
        Tail share (0.01: the worst 1 %) [fraction].
    worst : {'high', 'low'}
        Whether the worst paths are the largest (losses) or the smallest (values).
    """
    k = max(1, int(math.ceil(share * len(total) - 1e-9)))
    order = np.argsort(-total if worst == "high" else total, kind="stable")[:k]
    return float(total[order].mean()), parts[:, order].mean(axis=1)


def _s_curve(x: np.ndarray, column: str) -> pd.DataFrame:
    p = np.linspace(0.0, 1.0, S_CURVE_POINTS)
    return pd.DataFrame({"probability": p, column: np.quantile(x, p)})


def _histogram(x: np.ndarray) -> pd.DataFrame:
    hi = float(x.max(initial=0.0))
    counts, edges = np.histogram(x, bins=HISTOGRAM_BINS, range=(0.0, hi if hi > 0 else 1.0))
    return pd.DataFrame({"bin_left_krw_bn": edges[:-1], "bin_right_krw_bn": edges[1:],
                         "share_of_paths": counts / len(x)})


def loss_by_year(pp: PortfolioPaths) -> tuple[np.ndarray, np.ndarray]:
    """Calendar years and the book's loss per (year, path) [KRW bn], ``(n_columns, P)``."""
    P = pp.n_paths
    hit = pp.loss_column >= 0
    cols, paths = pp.loss_column[hit], np.nonzero(hit)[1]
    flat = np.bincount(cols.astype(np.int64) * P + paths, weights=pp.loss_krw_bn[hit],
                       minlength=pp.n_columns * P)
    return pp.first_year - 1 + np.arange(pp.n_columns), flat.reshape(pp.n_columns, P)


def _loan_book(pp: PortfolioPaths, loan_budget_krw_bn: float, threshold_share: float) -> dict:
    total = pp.loss_krw_bn.sum(axis=0)
    q95, q99 = np.quantile(total, [0.95, 0.99])
    es99, contrib = tail_contributions(total, pp.loss_krw_bn, 0.01, "high")
    years, by_year = loss_by_year(pp)
    keep = by_year.any(axis=1)
    yq = np.quantile(by_year[keep], [0.95, 0.99], axis=1) if keep.any() else np.zeros((2, 0))
    table = pd.DataFrame({"year": years[keep], "expected_krw_bn": by_year[keep].mean(axis=1), "p95_krw_bn": yq[0],
                          "p99_krw_bn": yq[1], "prob_any_loss": (by_year[keep] > 0).mean(axis=1)})
    threshold = threshold_share * loan_budget_krw_bn
    levy = pp.levy_krw_bn.sum(axis=0) if pp.levy_krw_bn is not None else np.zeros_like(total)
    net = total - levy
    return {"loan_levy_expected_krw_bn": float(levy.mean()), "loan_net_cost_expected_krw_bn": float(net.mean()),
            "loan_net_cost_p95_krw_bn": float(np.quantile(net, 0.95)),
            "loan_loss_expected_krw_bn": float(total.mean()), "loan_loss_p95_krw_bn": float(q95),
            "loan_loss_p99_krw_bn": float(q99), "loan_loss_es99_krw_bn": es99,
            "prob_loss_exceeds_threshold": float((total > threshold + 1e-12).mean()),
            "loss_threshold_krw_bn": float(threshold), "loan_loss_by_year": table,
            "loan_loss_s_curve": _s_curve(total, "loss_krw_bn"), "loan_loss_histogram": _histogram(total),
            "_contrib": contrib}


def _fund(pp: PortfolioPaths) -> dict:
    total = pp.fund_npv_krw_bn.sum(axis=0)
    p10, p50, p90 = np.quantile(total, [0.1, 0.5, 0.9])
    es10, contrib = tail_contributions(total, pp.fund_npv_krw_bn, 0.10, "low")
    return {"fund_npv_mean_krw_bn": float(total.mean()), "fund_npv_p10_krw_bn": float(p10),
            "fund_npv_p50_krw_bn": float(p50), "fund_npv_p90_krw_bn": float(p90), "fund_npv_es10_krw_bn": es10,
            "prob_fund_loss": float((total < 0).mean()), "fund_npv_s_curve": _s_curve(total, "fund_npv_krw_bn"),
            "_contrib": contrib}


def target_table(shares: SupplySharePaths, target_year: int) -> pd.DataFrame:
    """Per (mineral, year): probability that the programme's target is met (the top supplier's
    share at or below the target: ``prob_target_met``), that China's share is
    (``prob_china_share_at_most_target``), and China's share percentiles. A path with no imports
    at all (share NaN) does not meet the target."""
    rows = []
    for m, c in shares.china_share.items():
        t = shares.top_share[m]
        with np.errstate(invalid="ignore"):
            met_c = (c <= shares.target_share + SHARE_EPS).mean(axis=0)
            met_t = (t <= shares.target_share + SHARE_EPS).mean(axis=0)
        q = np.nanquantile(c, [0.1, 0.5, 0.9], axis=0) if np.isfinite(c).any() else np.full((3, c.shape[1]), np.nan)
        for k, y in enumerate(shares.years):
            rows.append({"mineral": m, "year": int(y), "prob_target_met": float(met_t[k]),
                         "prob_china_share_at_most_target": float(met_c[k]), "china_share_p10": float(q[0, k]),
                         "china_share_p50": float(q[1, k]), "china_share_p90": float(q[2, k]),
                         "target_share": shares.target_share, "is_target_year": bool(y == target_year)})
    return pd.DataFrame(rows, columns=["mineral", "year", "prob_target_met", "prob_china_share_at_most_target",
                                       "china_share_p10", "china_share_p50", "china_share_p90", "target_share",
                                       "is_target_year"])


def _projects(pp: PortfolioPaths, loss_contrib: np.ndarray, fund_contrib: np.ndarray,
              static_el: np.ndarray) -> pd.DataFrame:
    q10 = np.quantile(pp.fund_npv_krw_bn, 0.1, axis=1)
    levy = pp.levy_krw_bn if pp.levy_krw_bn is not None else np.zeros_like(pp.loss_krw_bn)
    return pd.DataFrame({
        "mineral": pp.minerals, "country_iso3": pp.countries, "fund_krw_bn": pp.fund_krw_bn,
        "loan_krw_bn": pp.loan_krw_bn, "fund_share": pp.fund_share, "prob_failure": pp.failed.mean(axis=1),
        "prob_default": pp.defaulted.mean(axis=1), "expected_loss_krw_bn": pp.loss_krw_bn.mean(axis=1),
        "static_expected_loss_krw_bn": static_el,
        "expected_levy_krw_bn": levy.mean(axis=1), "expected_net_cost_krw_bn": pp.net_cost_krw_bn.mean(axis=1),
        "loss_contribution_es99_krw_bn": loss_contrib, "fund_npv_mean_krw_bn": pp.fund_npv_krw_bn.mean(axis=1),
        "fund_npv_p10_krw_bn": q10, "fund_contribution_es10_krw_bn": fund_contrib,
        "npv_mean_usd_m": pp.npv_usd_m.mean(axis=1), "npv_p10_usd_m": np.quantile(pp.npv_usd_m, 0.1, axis=1),
        "npv_usd_m": pp.deterministic_npv_usd_m, "delay_mean_years": pp.delay_years.mean(axis=1),
    }, index=pd.Index(pp.ids, name="id"))


def summarise_portfolio(pp: PortfolioPaths, shares: SupplySharePaths | None, scenario, *, vol_scale: float,
                        failures: bool, loss_threshold_share: float, elapsed_s: float = 0.0,
                        static_expected_loss_krw_bn: np.ndarray | None = None,
                        static_expected_levy_krw_bn: float = float("nan")) -> PortfolioRisk:
    """The :class:`PortfolioRisk` of simulated paths (and of their supply shares, if given);
    ``static_expected_loss_krw_bn`` ``(n,)``: the static expected loss of each funded loan (NaN
    when not given); ``static_expected_levy_krw_bn``: the records' expected levy of the book."""
    book = _loan_book(pp, scenario.loan_krw_bn, loss_threshold_share)
    fund = _fund(pp)
    static_el = np.full(len(pp.ids), np.nan) if static_expected_loss_krw_bn is None else \
        np.asarray(static_expected_loss_krw_bn, dtype=float)
    projects = _projects(pp, book.pop("_contrib"), fund.pop("_contrib"), static_el)
    target = target_table(shares, scenario.target_year) if shares is not None else target_table(
        SupplySharePaths(np.zeros(0), {}, {}, scenario.target_single_supplier_share), scenario.target_year)
    return PortfolioRisk(n_paths=pp.n_paths, seed=pp.seed, vol_scale=float(vol_scale), failures=bool(failures),
                         loan_budget_krw_bn=float(scenario.loan_krw_bn),
                         loss_threshold_share=float(loss_threshold_share),
                         target_year=int(scenario.target_year), projects=projects, target=target, elapsed_s=elapsed_s,
                         static_expected_loss_krw_bn=float(static_el.sum()), dsra_months=float(scenario.dsra_months),
                         static_expected_levy_krw_bn=float(static_expected_levy_krw_bn),
                         **book, **fund)


# ----------------------------------------------------------------------------------------------
# entries
# ----------------------------------------------------------------------------------------------
def portfolio_risk(apps: Sequence, scenario, ref, *, fund_krw_bn: Mapping[str, float],
                   loan_krw_bn: Mapping[str, float], offtake_by_year: pd.DataFrame | None = None,
                   supply_ref=None, n_paths: int = 10_000, seed: int = 0, vol_scale: float = 1.0,
                   failures: bool = True, project_risk: bool = True,
                   loss_threshold_share: float = DEFAULT_LOSS_THRESHOLD_SHARE, processes=None,
                   method: str = "fast", lanes: int | None = None,
                   progress: Callable[[float], None] | None = None, also_minerals: Sequence[str] = (),
                   static_expected_loss_krw_bn: Mapping[str, float] | None = None,
                   static_expected_levy_krw_bn: Mapping[str, float] | None = None) -> PortfolioRisk:
    """Joint simulation of a funded allocation and its loan-book, fund and target statistics.

    Parameters
    ----------
    apps : sequence of Application
    scenario : Scenario
    ref : evaluator.reference.ReferenceData
    fund_krw_bn, loan_krw_bn : mapping of str to float
        Allocated amounts per application id [KRW bn] (unnamed: 0).
    offtake_by_year : pandas.DataFrame, optional
        The funded offtake per project and calendar year (the pipeline's
        ``supply.funded_offtake(supply.offtake_by_year_from_evaluation(ev), shares,
        "korea_offtake_t")``); None: no target statistics.
    supply_ref : ReferenceData, optional
        Reference data for the supply shares (a customs extract applied); default ``ref``.
    n_paths : int
        Paths (at least 10,000 for the committee's figures) [-].
    seed, vol_scale, project_risk, processes, method, lanes, progress
        As :func:`evaluator.uncertainty.simulate`.
    failures : bool
        Draw exploration failures.
    loss_threshold_share : float
        Share of the loan budget the write-offs are tested against [fraction].
    also_minerals : sequence of str
        Minerals whose target probability is reported even without a funded project.
    static_expected_loss_krw_bn : mapping of str to float, optional
        The static expected loss of each funded loan [KRW bn] (the allocation's figures); default:
        :func:`static_expected_loss` of the funded loans.
    static_expected_levy_krw_bn : mapping of str to float, optional
        The records' expected special levy of each funded loan [KRW bn] (the allocation's
        ``loan_expected_levy_krw_bn``), shown beside the simulated levy; default:
        :func:`static_expected_levy` of the funded loans.

    Returns
    -------
    PortfolioRisk
    """
    import time

    t0 = time.perf_counter()
    if not 0 <= loss_threshold_share:
        raise ValueError("loss_threshold_share must be >= 0")
    pp = simulate_portfolio_paths(apps, scenario, ref, fund_krw_bn=fund_krw_bn, loan_krw_bn=loan_krw_bn,
                                  n_paths=n_paths, seed=seed, vol_scale=vol_scale, failures=failures,
                                  project_risk=project_risk, processes=processes, method=method, lanes=lanes,
                                  progress=progress)
    shares = None
    if offtake_by_year is not None and len(offtake_by_year):
        shares = supply_share_paths(supply_ref or ref, scenario, offtake_by_year, pp.ids, pp.minerals, pp.countries,
                                    pp.delay_years, pp.failed, also_minerals=also_minerals)
    static = static_expected_loss_krw_bn
    static_el = static_expected_loss(apps, scenario, ref, pp) if static is None else \
        np.array([float(static.get(i, 0.0)) for i in pp.ids])
    levy = static_expected_levy_krw_bn
    static_levy = float(static_expected_levy(apps, scenario, ref, pp).sum()) if levy is None else \
        float(sum(float(levy.get(i, 0.0)) for i in pp.ids))
    return summarise_portfolio(pp, shares, scenario, vol_scale=vol_scale, failures=failures,
                               loss_threshold_share=loss_threshold_share, elapsed_s=time.perf_counter() - t0,
                               static_expected_loss_krw_bn=static_el, static_expected_levy_krw_bn=static_levy)


def static_expected_loss(apps: Sequence, scenario, ref, pp: PortfolioPaths) -> np.ndarray:
    """The static expected loss [KRW bn] of each simulated loan (``pp.ids``, at its allocated
    amount): :func:`evaluator.country_risk.loan_expected_loss` on the base case's minimum DSCR and
    default test (the evaluation's, without the measures the loan does not need)."""
    from evaluator import cashflow, country_risk, credit
    from evaluator.evaluate import debt_cover

    loan = dict(zip(pp.ids, pp.loan_krw_bn))
    funded = tuple(cashflow.in_usd(dataclasses.replace(a, loan_request_krw_bn=float(loan[a.id])), scenario, ref)
                   for a in apps if a.id in loan)
    cf = cashflow.build(cashflow.resolve_inputs(funded, scenario, ref), first_year=scenario.first_year)
    cover = debt_cover(funded, scenario, cf)
    el = country_risk.loan_expected_loss(
        ref, scenario, iso3s=[a.country_iso3 for a in funded], stage=[a.stage for a in funded],
        loan_krw_bn=[a.loan_request_krw_bn for a in funded],
        success_probability=[np.nan if a.success_probability is None else a.success_probability for a in funded],
        min_dscr=cover.min_dscr, tenor_years=[a.loan_tenor_years for a in funded],
        base_case_default=credit.base_case_default(cover.debt_service_usd_m, cf.cfads_usd_m, scenario)
        & (np.array([a.loan_request_krw_bn for a in funded]) > 0))
    out = dict(zip((a.id for a in funded), el["expected_loss_krw_bn"].to_numpy(dtype=float)))
    return np.array([out.get(i, 0.0) for i in pp.ids])


def static_expected_levy(apps: Sequence, scenario, ref, pp: PortfolioPaths) -> np.ndarray:
    """The records' expected special levy [KRW bn] of each simulated loan (``pp.ids``): the
    evaluation's ``loan_expected_levy_krw_bn`` of the loan asked, times the allocated share of it
    (as the allocation's figure)."""
    from evaluator.evaluate import evaluate

    loan = dict(zip(pp.ids, pp.loan_krw_bn))
    asked = [a for a in apps if a.id in loan and a.loan_request_krw_bn > 0]
    if not asked:
        return np.zeros(len(pp.ids))
    m = evaluate(asked, scenario, ref).metrics
    out = {a.id: float(m.loc[a.id, "loan_expected_levy_krw_bn"]) * loan[a.id] / a.loan_request_krw_bn for a in asked}
    return np.array([out.get(i, 0.0) for i in pp.ids])


def allocation_amounts(allocation) -> tuple[dict[str, float], dict[str, float], pd.Series]:
    """Fund and loan per id [KRW bn] of the selected rows of an
    :class:`evaluator.portfolio.PortfolioAllocation`, and the funded share of each request."""
    t = allocation.table
    sel = t["selected"].astype(bool)
    fund = t["fund_krw_bn"].where(sel, 0.0).astype(float)
    loan = t["loan_krw_bn"].where(sel, 0.0).astype(float)
    share = t["fraction"].where(sel, 0.0).astype(float)
    return {str(k): float(v) for k, v in fund.items()}, {str(k): float(v) for k, v in loan.items()}, share


def portfolio_risk_of_result(result, apps: Sequence, scenario, ref, *, supply_ref=None, n_paths: int = 10_000,
                             seed: int = 0, **kwargs) -> PortfolioRisk:
    """:func:`portfolio_risk` of a :class:`evaluator.pipeline.PipelineResult`'s allocation: the
    funded amounts of ``result.allocation`` and the funded offtake by year the pipeline's supply
    step uses (``supply.funded_offtake`` of the evaluation's offtake by year).

    ``supply_ref``: the pipeline's supply reference (``pipeline.supply_reference(ref, customs)``);
    other keyword arguments go to :func:`portfolio_risk`.
    """
    if result.allocation is None:
        raise ValueError("the pipeline result has no allocation: run it with allocate=True")
    fund, loan, share = allocation_amounts(result.allocation)
    offtake = supply.funded_offtake(supply.offtake_by_year_from_evaluation(result.evaluation, ref=supply_ref or ref),
                                    share, "korea_offtake_t")
    t = result.allocation.table
    static = t["expected_loss_krw_bn"].where(t["selected"].astype(bool), 0.0) if "expected_loss_krw_bn" in t else None
    kwargs.setdefault("static_expected_loss_krw_bn",
                      None if static is None else {str(k): float(v) for k, v in static.items()})
    if "loan_expected_levy_krw_bn" in t:
        levy = t["loan_expected_levy_krw_bn"].where(t["selected"].astype(bool), 0.0)
        kwargs.setdefault("static_expected_levy_krw_bn", {str(k): float(v) for k, v in levy.items()})
    return portfolio_risk(apps, scenario, ref, fund_krw_bn=fund, loan_krw_bn=loan, offtake_by_year=offtake,
                          supply_ref=supply_ref, n_paths=n_paths, seed=seed, **kwargs)
