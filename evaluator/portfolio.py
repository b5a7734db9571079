"""The fund and loan allocation: scored applications -> candidates -> MILP -> explained result.

This is the domain layer over :mod:`evaluator.allocation` (which knows nothing about mines).

Candidates are the eligible applications. Two resources: ``fund_krw_bn`` (the KRW 250 bn fund)
and ``loan_krw_bn`` (the KRW 67.5 bn policy-loan budget); a candidate funded at fraction ``x``
receives ``x`` times both of its requests. Constraints:

* budgets per resource;
* ``x`` is 0 or in ``[scenario.min_fraction, max_fraction]``, where ``max_fraction`` keeps the
  loan within its cap and fund + loan within the applicant's own spending (the special loan's
  coverage rule, :func:`evaluator.special_loan.coverage`);
* caps per host country and per mineral as a share of the total allocated (fund + loan), and
  absolute caps [KRW bn] when the scenario names them;
* a cap on the expected loss of the loan book [KRW bn] (``expected_loss_cap_krw_bn``);
* at least ``min_minerals_covered`` minerals funded;
* officer locks (must fund / must not fund).

Objectives (``scenario.objective``):

``score_weighted_support`` (default)
    ``sum_i (score_i - contrib_div_i) / 100 x support_i x x_i`` + portfolio diversification.
    The project-level diversification contribution is taken out of the score and counted once,
    at portfolio level, with diminishing returns (below), so two projects never both claim the
    same reduction of Korea's import concentration.
``total_score``
    ``sum_i score_i x_i``.
``total_npv``
    ``sum_i npv_krw_bn_i x_i`` (project NPV at the scenario's risk-adjusted rate).
``total_diversification``
    the diversification term alone.

Portfolio diversification: for each mineral ``m`` the candidates supply, ``s_m = sum_i v_i x_i``
is the new import-comparable volume from the funded projects (a project hosted by, or refined
in, the incumbent top supplier adds nothing), and the term is ``w_div x V x f_m(s_m) / 100``
with ``f_m`` the project score's own function of the cut of the top supplier's share
(:func:`evaluator.supply.score_value`; concave, never saturating, the designation weight
included), sampled as a concave piecewise-linear curve (:func:`diversification_curve_points`),
and ``V`` [KRW bn of score-weighted support] from ``evaluator/data/diversification_value.csv`` (a
labelled policy assumption, fixed so that the value does not move with the budget sliders). After
solving, the exact joint supply effect is recomputed by :func:`evaluator.supply.portfolio_effect`.

A partly funded project counts with its funded fraction of the offtake (a conservative reading:
the programme can claim the share of the volume it finances).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator import allocation as alloc
from evaluator import messages, supply
from evaluator.errors import SettingsError
from evaluator.messages import Joined, Message

RESOURCES = ("fund_krw_bn", "loan_krw_bn")
DATA_DIR = Path(__file__).resolve().parent / "data"


class PortfolioError(SettingsError):
    """A lock or option that cannot be used (e.g. locking in an ineligible application)."""


@dataclass(frozen=True)
class PortfolioAllocation:
    """An allocation of both budgets, explained.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per application (index ``id``): ``fund_krw_bn``, ``loan_krw_bn`` allocated,
        ``fraction`` of the request, ``selected``, ``candidate`` (eligible and not excluded),
        ``note`` (why not a candidate), plus name, country, mineral, score, requests.
    summary : dict
        Totals, budgets, objective, optimality and gap, binding constraints, marginal values
        [objective units per KRW bn], China share per mineral before/after.
    result : allocation.AllocationResult
    candidates : pandas.DataFrame
        The candidate table given to the optimiser (for frontier and what-if calls).
    supply_effect : pandas.DataFrame
        :func:`evaluator.supply.portfolio_effect` of the funded set (index mineral).

    The solver's state is carried in ``summary`` (``status``, ``optimal``, ``mip_gap``,
    ``limit_reached``, ``note``) and in the properties below; :attr:`warnings` holds the
    sentences a CLI prints on stderr and a page shows as a warning.
    """

    table: pd.DataFrame
    summary: dict
    result: alloc.AllocationResult = field(repr=False)
    candidates: pd.DataFrame = field(repr=False)
    supply_effect: pd.DataFrame = field(repr=False)
    options: dict = field(repr=False, default_factory=dict)

    @property
    def status(self) -> str:
        """``"optimal"``, ``"time_limit"``, ``"iteration_limit"``, ``"node_limit"`` or
        ``"no_candidates"`` (see :class:`allocation.AllocationResult`)."""
        return str(self.summary["status"])

    @property
    def limit_reached(self) -> bool:
        """A time, node or iteration limit stopped the solver (feasible, not proven optimal)."""
        return bool(self.summary["limit_reached"])

    @property
    def mip_gap(self) -> float:
        """Relative gap between the allocation and the best bound [fraction]."""
        return float(self.summary["mip_gap"])

    @property
    def note(self) -> str:
        """Why nothing is funded, or that a limit stopped the solver; ``""`` otherwise."""
        return str(self.summary["note"])

    @property
    def warnings(self) -> list[str]:
        """Plain sentences to show as warnings (empty when the allocation is proven and
        funds something)."""
        return list(self.summary["warnings"])


def diversification_curve() -> tuple[list[float], list[float], float]:
    """Breakpoints and slopes of ``g`` (in units of the gap volume) and ``V`` [KRW bn]."""
    df = pd.read_csv(DATA_DIR / "diversification_value.csv", comment="#")
    seg = df[df["kind"] == "segment"].sort_values("upto_gap_fraction")
    lam = float(df.loc[df["kind"] == "value_of_full_gap_krw_bn", "value"].iloc[0])
    bps = [float(b) for b in seg["upto_gap_fraction"] if np.isfinite(b)]
    slopes = [float(s) for s in seg["value"]]
    return bps, slopes, lam


def gap_volume(base: supply.MineralSupply, target: float, rule: str) -> float:
    """Import-comparable volume that brings the top supplier down to ``target`` [t or kUSD].

    ``top_supplier``: ``V_top - t V``; ``pro_rata``: ``V (1 - t / s_top)``; ``additive``:
    ``V_top / t - V``. Zero when the top share is already at or below the target.
    """
    v = base.total
    s_top = base.measures["top_share"]
    if not np.isfinite(v) or v <= 0 or s_top <= target:
        return 0.0
    v_top = s_top * v
    if rule == "top_supplier":
        return v_top - target * v
    if rule == "pro_rata":
        return v * (1 - target / s_top)
    return v_top / target - v


def build_candidates(ev, scores: pd.DataFrame, scenario, ref, *, offtake: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidate table for the optimiser and the per-application notes.

    Returns
    -------
    candidates : pandas.DataFrame
        Index id; columns fund_krw_bn, loan_krw_bn (requests), value, max_fraction,
        country_iso3, mineral, expected_loss_krw_bn, offtake_units (import-comparable volume
        when fully funded), score, npv_krw_bn.
    notes : pandas.Series
        id -> why an application is not a candidate, an :class:`evaluator.messages.Message`
        (``alloc_note_*``; missing (None/NaN) for candidates).
    """
    m = ev.metrics
    t = scores.reindex(m.index)
    notes = pd.Series(None, index=m.index, dtype=object)
    inel = ~t["eligible"].astype(bool)
    for i in m.index[inel.to_numpy()]:
        found = t.at[i, "ineligible_messages"] if "ineligible_messages" in t.columns else None
        reasons = Joined(tuple(found), "; ") if isinstance(found, tuple) else str(t.at[i, "ineligible_reasons"])
        notes[i] = Message("alloc_note_ineligible", {"reasons": reasons})
    excluded = m["country_iso3"].isin(scenario.excluded_countries).to_numpy()
    notes[excluded & ~inel.to_numpy()] = Message("alloc_note_excluded_country")
    support = m["support_request_krw_bn"].to_numpy(float)
    no_ask = support <= 0
    notes[no_ask & notes.isna().to_numpy()] = Message("alloc_note_no_support")
    keep = notes.isna()
    # the special loan's caps (evaluator.special_loan.coverage): the loan within the tier's share of
    # the applicant's own spending, fund + loan within that spending; binding only where the
    # scenario lets an application above its cap be funded up to it (otherwise it is ineligible)
    max_frac = m["cap_max_fraction"].to_numpy(float)
    if offtake is None:
        offtake = supply.offtake_from_evaluation(ev, ref=ref)
    off = offtake.set_index("id").reindex(m.index).reset_index()
    units = supply.diversifying_units(ref, scenario, off).to_numpy(float)  # 0 when refined in the incumbent
    cand = pd.DataFrame({
        "fund_krw_bn": m["fund_request_krw_bn"].to_numpy(float),
        "loan_krw_bn": m["loan_request_krw_bn"].to_numpy(float),
        "max_fraction": max_frac,
        "country_iso3": m["country_iso3"].to_numpy(),
        "mineral": m["mineral"].to_numpy(),
        "expected_loss_krw_bn": t["expected_loss_krw_bn"].to_numpy(float) if "expected_loss_krw_bn" in t else 0.0,
        "offtake_units": np.nan_to_num(units),
        "supplier_iso3": _supplier(off).to_numpy(),
        "score": t["score"].to_numpy(float),
        "contrib_diversification": t.get("contrib_diversification", pd.Series(0.0, index=t.index)).to_numpy(float),
        "npv_krw_bn": m["npv_krw_bn"].to_numpy(float),
        "support_krw_bn": support,
        "loan_cap_krw_bn": m["loan_cap_krw_bn"].to_numpy(float),
        "support_cap_krw_bn": m["support_cap_krw_bn"].to_numpy(float),
    }, index=m.index)
    obj = scenario.objective
    if obj == "score_weighted_support":
        value = (cand["score"] - cand["contrib_diversification"]) / 100.0 * cand["support_krw_bn"]
    elif obj == "total_score":
        value = cand["score"]
    elif obj == "total_npv":
        value = cand["npv_krw_bn"]
    else:
        value = pd.Series(0.0, index=cand.index)
    cand["value"] = value.fillna(0.0)
    return cand[keep.to_numpy()], notes


def _supplier(off: pd.DataFrame) -> pd.Series:
    """Where each project's product is bought from: the processing country, else the host."""
    host = off["country_iso3"].astype(str).str.upper()
    if "processing_country_iso3" not in off.columns:
        return host
    proc = off["processing_country_iso3"].astype("string").str.strip().str.upper()
    return proc.where(proc.notna() & (proc != ""), host).astype(str)


#: Where the allocator samples the score curve, in multiples of a mineral's scale volume (its gap
#: to the target, or a tenth of its chain demand when already at or below the target).
CURVE_MULTIPLES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def diversification_curve_points(base: supply.MineralSupply, scenario, ref, mineral: str, scale: float
                                 ) -> tuple[list[float], list[float]]:
    """Breakpoints [units of ``scale``] and slopes of the allocator's concave term for a mineral:
    the project score's own function (:func:`evaluator.supply.score_value` of the cut of the
    incumbent top supplier's share, :func:`evaluator.supply.incumbent_reduction`, after the added
    volume, :func:`evaluator.supply.measures_after`) sampled at
    :data:`CURVE_MULTIPLES`, so ranking and allocation value a reduction alike and neither
    saturates at the 50 % target.

    The chord slopes are made non-increasing (the allocator needs a concave term) by taking their
    running minimum, a slight under-statement where the sampled curve is locally convex. The curve
    rises past the target and up to 8 times the scale volume (the score's slope there is under a
    hundredth of its first one); beyond that the allocator counts nothing more, which lets it
    tighten the weight of a project that alone passes that point (allocation.tighten_concave).
    The project score itself (:func:`evaluator.supply.score_value`) never saturates.
    """
    opt = supply.scenario_options(scenario)
    key = ("diversification_curve", mineral, float(scale), scenario.displacement_rule,
           float(scenario.target_single_supplier_share), opt["basis"], opt["window"], opt["case"])
    # a function of the reference tables and these settings only: computed once, not on every move
    bps, slopes = supply.per_reference(ref, key, lambda: _curve_points(base, scenario, ref, mineral, scale))
    return list(bps), list(slopes)


def _curve_points(base: supply.MineralSupply, scenario, ref, mineral: str, scale: float):
    xs = np.array(CURVE_MULTIPLES, dtype=float)
    values = []
    for x in xs:
        after = supply.measures_after(base, {"NEW": float(x * scale)}, scenario.displacement_rule,
                                      scenario.target_single_supplier_share)
        values.append(float(supply.score_value(ref, mineral, supply.incumbent_reduction(base, after))))
    v = np.concatenate([[0.0], values]) / 100.0
    b = np.concatenate([[0.0], xs])
    slopes = np.minimum.accumulate(np.maximum(np.diff(v) / np.diff(b), 0.0))
    return tuple(xs), tuple(slopes) + (0.0,)


#: Where the allocator samples a new supplier's overshoot, in multiples of the volume at which it
#: overtakes the incumbent (:func:`new_top_supplier_points`).
OVERSHOOT_MULTIPLES = (1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 8.0)


def _target_value(base: supply.MineralSupply, ref, mineral: str, after: dict) -> tuple[float, float]:
    """(score of the incumbent's cut, score of the cut of the TOP supplier's share, whoever it is
    after) [score points]: the first is what the per-mineral term counts, the second the
    programme's target as defined (no single supplier above the target share)."""
    s0 = base.measures["top_share"]
    inc = float(supply.score_value(ref, mineral, supply.incumbent_reduction(base, after)))
    top = float(supply.score_value(ref, mineral, max(0.0, s0 - after["top_share"])))
    return inc, top


def new_top_supplier_points(base: supply.MineralSupply, scenario, ref, mineral: str, host: str, scale: float
                            ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Breakpoints [units of ``scale``] and slopes (<= 0) of what the per-mineral term over-counts
    for volume bought from one non-incumbent supplier ``host``: 0 until ``host`` overtakes the
    incumbent (the first breakpoint: the allocator counts a project's volume up to it), then the
    chord slopes of the over-count.

    The per-mineral term values the cut of the INCUMBENT's share. Past the volume ``x_c`` at which
    ``host`` becomes the larger supplier, the programme's target (the top supplier's share, whoever
    holds it) stops improving and worsens: every further tonne from ``host`` raises the new top
    share. This term is ``-(f(x) - g(x))`` with ``f`` the incumbent-cut score and ``g`` the score
    of the cut of the top supplier's share when ``host`` alone adds ``x``
    (:func:`evaluator.supply.measures_after`), sampled at :data:`OVERSHOOT_MULTIPLES` of
    ``x_c``; the chord slopes are made non-increasing (the allocator needs a concave term) by a
    running minimum, a slight over-statement of the penalty. With one new supplier the two terms
    together are the target's own score at the sampled points; replacing the dominant supplier
    with another therefore earns less than spreading the same volume over several (tested).
    None when ``host`` never overtakes the incumbent within 64 times ``scale``.
    """
    rule, target = scenario.displacement_rule, scenario.target_single_supplier_share

    def after(x: float) -> dict:
        return supply.measures_after(base, {host: float(x * scale)}, rule, target)

    def overtakes(x: float) -> bool:
        a = after(x)
        return a["top_supplier"] == host and a["top_share"] > a["incumbent_share"]

    hi = 64.0
    if not overtakes(hi):
        return None
    lo = 0.0
    for _ in range(60):                      # bisection on the crossing point
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if overtakes(mid) else (mid, hi)
    xs = np.array(OVERSHOOT_MULTIPLES) * hi
    over = np.array([np.subtract(*_target_value(base, ref, mineral, after(x))) for x in xs]) / 100.0
    over = np.maximum(over - over[0], 0.0)   # 0 at the crossing point by construction
    slopes = -np.maximum.accumulate(np.maximum(np.diff(over) / np.diff(xs), 0.0))
    return tuple(float(x) for x in xs), (0.0,) + tuple(float(v) for v in slopes) + (float(slopes[-1]),)


def new_top_supplier_penalty_on() -> bool:
    """``new_top_supplier_penalty`` of ``diversification_value.csv`` (1 = on)."""
    df = pd.read_csv(DATA_DIR / "diversification_value.csv", comment="#")
    row = df.loc[df["kind"] == "new_top_supplier_penalty", "value"]
    return bool(float(row.iloc[0])) if len(row) else False


def diversification_terms(cand: pd.DataFrame, scenario, ref) -> tuple[list[alloc.ConcaveTerm], pd.DataFrame]:
    """One concave term per mineral the candidates supply (see the module notes): the value of the
    funded volume on the project score's own curve, counted once for the portfolio. A project's
    volume counts at most up to the volume at which its supplier alone overtakes the incumbent
    (:func:`new_top_supplier_points`, when ``new_top_supplier_penalty`` is on): past it, the
    programme's target (the top supplier's share, whoever it is) stops improving, so replacing
    one dominant supplier with another earns less than spreading the same volume (tested).
    A clip of each project's weight keeps the formulation (and its speed); two projects in the
    same new supplier are not clipped jointly (a limit of this approximation)."""
    if scenario.objective not in ("score_weighted_support", "total_diversification"):
        return [], pd.DataFrame()
    _, _, lam = diversification_curve()
    penalty = new_top_supplier_penalty_on()
    w_div = scenario.normalised_weights()["diversification"] if scenario.objective == "score_weighted_support" else 1.0
    k = w_div * (lam if scenario.objective == "score_weighted_support" else 100.0)
    opt = supply.scenario_options(scenario)
    terms, rows = [], []
    for mineral, g in cand.groupby("mineral"):
        base = supply.baseline(ref, mineral, **opt)
        if base.assumed or not np.isfinite(base.total) or base.total <= 0 or k <= 0:
            continue
        # a function of the reference tables and these settings only (a bisection): computed once
        gap = supply.per_reference(ref, ("gap_volume", mineral, float(scenario.target_single_supplier_share),
                                         scenario.displacement_rule, opt["basis"], opt["window"], opt["case"]),
                                   lambda base=base: supply.gap_volume(base, scenario.target_single_supplier_share,
                                                             scenario.displacement_rule))
        scale = gap if 0 < gap < np.inf else 0.1 * base.total
        weights = g["offtake_units"].where(g["country_iso3"] != base.incumbent, 0.0)
        if weights.sum() <= 0:
            continue
        if penalty:
            # a supplier's volume counts up to where it overtakes the incumbent: past that point
            # it builds a new dominant supplier, not progress towards the target
            supplier = (g["supplier_iso3"] if "supplier_iso3" in g.columns else g["country_iso3"]).to_numpy()
            cap = np.full(len(g), np.inf)
            for host in set(supplier[weights.to_numpy(float) > 0]):
                pts = _overshoot_points(base, scenario, ref, mineral, str(host), scale)
                if pts is not None:
                    cap[supplier == host] = pts[0][0] * scale
            weights = weights.clip(upper=pd.Series(cap, index=g.index))
        bps, slopes = diversification_curve_points(base, scenario, ref, mineral, scale)
        # s in units of the scale volume (well-scaled for HiGHS: tonnes would span 1e0..1e6)
        terms.append(alloc.ConcaveTerm(name=f"diversification {mineral}", weights=(weights / scale).to_dict(),
                                       breakpoints=bps, slopes=[x * k for x in slopes],
                                       message=Message("constraint_diversification", {"mineral": mineral})))
        rows.append({"mineral": mineral, "gap_volume": gap, "scale_volume": scale,
                     "value_of_full_gap": k * _g(gap / scale if gap > 0 else 0.0, bps, slopes)})
    return terms, pd.DataFrame(rows)


def _overshoot_points(base, scenario, ref, mineral: str, host: str, scale: float):
    """:func:`new_top_supplier_points`, computed once per reference tables and settings."""
    opt = supply.scenario_options(scenario)
    key = ("new_top_supplier", mineral, host, float(scale), scenario.displacement_rule,
           float(scenario.target_single_supplier_share), opt["basis"], opt["window"], opt["case"])
    return supply.per_reference(ref, key, lambda: new_top_supplier_points(base, scenario, ref, mineral, host, scale))


def _g(x, bps, slopes):
    b = np.concatenate([[0.0], bps, [np.inf]])
    return float(np.dot(slopes, np.clip(x - b[:-1], 0.0, np.diff(b))))


def _constraints(cand: pd.DataFrame, scenario) -> tuple[list, list]:
    caps: list = []
    if scenario.country_cap_share < 1:
        caps += alloc.GroupCap.per_value(cand, "country_iso3", scenario.country_cap_share, kind="share")
    if scenario.mineral_cap_share < 1:
        caps += alloc.GroupCap.per_value(cand, "mineral", scenario.mineral_cap_share, kind="share")
    for iso3, lim in scenario.country_caps_krw_bn.items():
        caps.append(alloc.GroupCap(f"country_iso3={iso3} absolute cap", column="country_iso3", value=iso3, limit=float(lim)))
    for mineral, lim in scenario.mineral_caps_krw_bn.items():
        caps.append(alloc.GroupCap(f"mineral={mineral} absolute cap", column="mineral", value=mineral, limit=float(lim)))
    extra: list = []
    if scenario.expected_loss_cap_krw_bn is not None:
        extra.append(alloc.LinearConstraintSpec("loan book expected loss cap", "expected_loss_krw_bn",
                                                upper=float(scenario.expected_loss_cap_krw_bn),
                                                message=Message("constraint_expected_loss_cap")))
    if scenario.min_minerals_covered > 0:
        extra.append(alloc.MinGroupsCovered("minerals covered", "mineral", int(scenario.min_minerals_covered),
                                            message=Message("constraint_minerals_covered",
                                                            {"k": int(scenario.min_minerals_covered)})))
    return caps, extra


def solver_kwargs(cand: pd.DataFrame, scenario, ref, locked_in=(), locked_out=()) -> dict:
    """Keyword arguments for :func:`allocation.allocate` / ``frontier`` / ``entry_thresholds``."""
    caps, extra = _constraints(cand, scenario)
    terms, _ = diversification_terms(cand, scenario, ref)
    return dict(value="value", min_fraction=np.minimum(scenario.min_fraction, cand["max_fraction"].to_numpy()),
                max_fraction="max_fraction", group_caps=caps, extra_constraints=extra,
                concave_terms=terms, locked_in=tuple(locked_in), locked_out=tuple(locked_out))


def award_step_of(scenario) -> float | None:
    """The allocation's award step [KRW bn] (``scenario.award_step_krw_bn``; None when 0: continuous)."""
    step = float(getattr(scenario, "award_step_krw_bn", 0.0) or 0.0)
    return step if step > 0 else None


def budgets_of(scenario) -> dict:
    return {"fund_krw_bn": float(scenario.fund_krw_bn), "loan_krw_bn": float(scenario.loan_krw_bn)}


def allocate_portfolio(ev, scores: pd.DataFrame, scenario, ref, *, locked_in: Sequence[str] = (),
                       locked_out: Sequence[str] = (), offtake: pd.DataFrame | None = None,
                       time_limit_s: float = 10.0, mip_rel_gap: float = 1e-6,
                       tighten_concave: bool = True,
                       presolve: bool = True) -> PortfolioAllocation:
    """Allocate the fund and the loan budget over the scored applications.

    Parameters
    ----------
    ev : evaluator.evaluate.Evaluation
    scores : pandas.DataFrame
        ``ScoreResult.table`` (index id; score, eligible, ineligible_reasons,
        contrib_diversification, expected_loss_krw_bn).
    scenario : models.scenario.Scenario
    ref : evaluator.reference.ReferenceData
    locked_in, locked_out : sequence of str
        Officer locks (must fund / must not fund).
    time_limit_s, mip_rel_gap : float
        Solver limits; the app uses a looser gap (1e-4) for slider moves and reports the gap.
        When a limit stops the solver the result says so (``status``, ``limit_reached``,
        ``mip_gap``, ``warnings``).
    tighten_concave, presolve : bool
        See :func:`allocation.allocate`; False for both solves the plain formulation in one
        go (the reference path of the benchmark and tests).

    Raises
    ------
    PortfolioError
        A locked-in application is not a candidate (ineligible or excluded), or a lock names an
        unknown id.
    allocation.AllocationInfeasible
        Locks, caps and budgets conflict; ``.conflicts`` names them.
    """
    if offtake is None:
        offtake = supply.offtake_from_evaluation(ev, ref=ref)
    cand, note_messages = build_candidates(ev, scores, scenario, ref, offtake=offtake)
    unknown = sorted((set(locked_in) | set(locked_out)) - set(note_messages.index))
    if unknown:
        raise PortfolioError(f"lock names unknown application(s): {', '.join(unknown)}")
    bad = [i for i in locked_in if isinstance(note_messages.get(i), Message)]
    if bad:
        raise PortfolioError("cannot lock in " + "; ".join(f"{i} ({note_messages[i].text()})" for i in bad))
    both = sorted(set(locked_in) & set(locked_out))
    if both:
        raise PortfolioError(f"locked both in and out: {', '.join(both)}")
    locked_out = [i for i in locked_out if i in cand.index]
    budgets = budgets_of(scenario)
    kw = solver_kwargs(cand, scenario, ref, locked_in, locked_out)
    # awards in whole steps (scenario.award_step_krw_bn), chosen by the optimiser itself
    res = alloc.allocate(cand, budgets, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                         tighten_concave=tighten_concave,
                         presolve=presolve, award_step=award_step_of(scenario), **kw)

    m = ev.metrics
    table = pd.DataFrame({
        "name": m["name"], "country_iso3": m["country_iso3"], "mineral": m["mineral"],
        "score": scores["score"].reindex(m.index),
        "fund_request_krw_bn": m["fund_request_krw_bn"], "loan_request_krw_bn": m["loan_request_krw_bn"],
    }, index=m.index)
    frac = res.fractions.reindex(m.index).fillna(0.0)
    table["fraction"] = frac
    table["fund_krw_bn"] = res.amounts["fund_krw_bn"].reindex(m.index).fillna(0.0)
    table["loan_krw_bn"] = res.amounts["loan_krw_bn"].reindex(m.index).fillna(0.0)
    table["selected"] = res.selected.reindex(m.index).fillna(False).astype(bool)
    table["candidate"] = note_messages.isna()
    note_messages = note_messages.copy()
    note_messages[table.index.isin(locked_in)] = Message("alloc_note_locked_in")
    note_messages[table.index.isin(locked_out)] = Message("alloc_note_locked_out")
    # the note in English (the CLI's column) and as a message for the officer's language
    table["note"] = [messages.word(v) for v in note_messages]
    table["note_message"] = note_messages
    cost = m["project_cost_krw_bn"]
    table["coverage_share"] = (table["fund_krw_bn"] + table["loan_krw_bn"]) / cost
    el = scores.get("expected_loss_krw_bn", pd.Series(0.0, index=m.index)).reindex(m.index).fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        loan_frac = np.where(m["loan_request_krw_bn"] > 0, table["loan_krw_bn"] / m["loan_request_krw_bn"], 0.0)
    table["expected_loss_krw_bn"] = el * loan_frac
    # the special levy expected back on the funded loan, and the government's expected net cost
    levy = scores.get("loan_expected_levy_krw_bn", pd.Series(0.0, index=m.index)).reindex(m.index).fillna(0.0)
    table["loan_expected_levy_krw_bn"] = levy * loan_frac
    table["loan_expected_net_cost_krw_bn"] = table["expected_loss_krw_bn"] - table["loan_expected_levy_krw_bn"]
    table["loan_cap_krw_bn"] = m["loan_cap_krw_bn"]
    table["support_cap_krw_bn"] = m["support_cap_krw_bn"]

    funded_share = frac.where(table["selected"], 0.0)
    off = supply.funded_offtake(offtake, funded_share, "korea_offtake_t_per_year")
    effect = supply.portfolio_effect(ref, scenario, off) if len(off) else pd.DataFrame()
    summary_messages = _domain_notes(res, note_messages, cand)
    note = messages.join(summary_messages, "en", " ")
    summary = {
        "objective_name": scenario.objective,
        "objective": res.objective,
        "status": res.status,
        "optimal": res.optimal,
        "mip_gap": res.mip_gap,
        "limit_reached": res.limit_reached,
        "note": note,
        "note_messages": summary_messages,
        "warnings": [note] if note else [],
        "solve_time_s": res.solve_time_s,
        "n_selected": int(table["selected"].sum()),
        "fund_allocated_krw_bn": float(table["fund_krw_bn"].sum()),
        "fund_budget_krw_bn": budgets["fund_krw_bn"],
        "loan_allocated_krw_bn": float(table["loan_krw_bn"].sum()),
        "loan_budget_krw_bn": budgets["loan_krw_bn"],
        "expected_loss_krw_bn": float(table["expected_loss_krw_bn"].sum()),
        "loan_expected_levy_krw_bn": float(table["loan_expected_levy_krw_bn"].sum()),
        "loan_expected_net_cost_krw_bn": float(table["loan_expected_net_cost_krw_bn"].sum()),
        "binding": list(res.binding),
        "binding_messages": tuple(res.binding_messages),
        "marginal_value_per_krw_bn": {k: float(v) for k, v in res.marginal_values.items()},
        "diversification_value": {k: float(v) for k, v in res.concave_values.items()},
        "china_share_before": {} if effect.empty else effect["china_share_before"].dropna().round(4).to_dict(),
        "china_share_after": {} if effect.empty else effect["china_share_after"].dropna().round(4).to_dict(),
        "top_share_after": {} if effect.empty else effect["top_share_after"].dropna().round(4).to_dict(),
    }
    return PortfolioAllocation(table, summary, res, cand, effect,
                               {"locked_in": tuple(locked_in), "locked_out": tuple(locked_out)})


#: Why an application is not a candidate (its note's code) -> the code that counts it.
_NOT_CANDIDATE = {"alloc_note_ineligible": "alloc_reason_ineligible",
                  "alloc_note_excluded_country": "alloc_reason_excluded_country",
                  "alloc_note_no_support": "alloc_reason_no_support", "alloc_note_locked_out": "alloc_reason_locked_out"}


def _domain_notes(res: alloc.AllocationResult, notes: pd.Series, cand: pd.DataFrame) -> tuple:
    """The optimiser's messages, with "no candidates" said in the officers' terms."""
    if len(cand):
        return res.notes
    if len(notes) == 0:
        return (Message("alloc_nothing_no_applications"),)
    counts = pd.Series([v.code for v in notes if isinstance(v, Message)], dtype=object).value_counts()
    why = [Message("alloc_reason_count", {"n": int(c), "reason": Message(_NOT_CANDIDATE[r])}) for r, c in counts.items()]
    return (Message("alloc_nothing_no_candidate", {"reasons": Joined(tuple(why))}),)


def frontier(pa: PortfolioAllocation, scenario, ref, resource: str = "fund_krw_bn", points: int = 15,
             min_multiple: float = 0.25, max_multiple: float = 2.0, *,
             warm_start: bool = True, n_jobs: int | None = None) -> pd.DataFrame:
    """Objective against the budget of one resource (``min_multiple`` .. ``max_multiple`` x the
    current budget), the current budget marked in column ``current``.

    The grid starts at a quarter of the budget: below that a few small projects against many
    share caps make each point slow to prove optimal, and no committee asks about them.
    Each point is proven to :func:`allocation.frontier`'s gap (1e-4); the points share their
    answers (reuse, bounds from neighbouring budgets, warm-started fixing, two threads), and
    ``pa``'s own allocation counts as a solved point at its own budget when it was made at this
    scenario's other budget (so the app may pass the allocation of the current slider position
    with the curve's base scenario). ``warm_start=False`` solves every point on its own (the reference path).
    """
    budgets = budgets_of(scenario)
    kw = solver_kwargs(pa.candidates, scenario, ref, pa.options.get("locked_in", ()), pa.options.get("locked_out", ()))
    current = budgets[resource]
    top = max(current, 1.0)
    grid = np.unique(np.concatenate([np.linspace(min_multiple * top, max_multiple * top, points), [current]]))
    others = {r: b for r, b in budgets.items() if r != resource}
    known = pa.result if _same_budgets(pa, others) else None
    known_budget = pa.summary.get(_budget_field(resource)) if known is not None else None
    df = alloc.frontier(pa.candidates, budgets, resource, grid, known=known, known_budget=known_budget,
                        warm_start=warm_start, n_jobs=n_jobs, **kw)
    df["current"] = np.isclose(df["budget"], current)
    df["resource"] = resource
    return df


def _same_budgets(pa: PortfolioAllocation, budgets: dict) -> bool:
    """``pa`` was solved at these budgets (the others than the varied one): its answer is then
    a point of the curve at its own budget of the varied resource."""
    return all(np.isclose(pa.summary.get(_budget_field(r), np.nan), b) for r, b in budgets.items())


def _budget_field(resource: str) -> str:
    return resource.replace("_krw_bn", "_budget_krw_bn")


def what_it_would_take(pa: PortfolioAllocation, scenario, ref, *, max_candidates: int = 8,
                       time_budget_s: float = 5.0, n_jobs: int | None = None,
                       ids: Sequence[str] | None = None) -> pd.DataFrame:
    """For every left-out candidate, the exact value (and score) at which it enters; for the
    funded ones nearest the margin, how far their value could fall before they leave.

    Left-out candidates: :func:`allocation.entry_values` (MILP re-solves, Dinkelbach's method,
    exact to the allocation's gap), every one of them. Funded ones:
    :func:`allocation.entry_thresholds` (``max_candidates`` nearest the margin, within
    ``time_budget_s``). A pure function with no page state: the app can run it in the
    background, off the slider path, and show it when ready; ``ids`` limits the exact part to
    those applications (e.g. a chunk at a time, nearest the margin first by
    ``lp_break_even_value``), the other left-out rows then keep NaN and ``exact`` False.

    Returns
    -------
    pandas.DataFrame
        Index id (every candidate). Columns ``selected``, ``value`` [objective units],
        ``enter_value``, ``value_increase`` [objective units], ``score_increase`` [score
        points; for the score-based objectives: the rise of the application's score that gives
        the value increase], ``enter_fraction`` [fraction of the request funded at the
        threshold], ``leave_value``, ``value_drop_to_leave``, ``lp_break_even_value``,
        ``exact``, ``note``.
    """
    budgets = budgets_of(scenario)
    kw = solver_kwargs(pa.candidates, scenario, ref, pa.options.get("locked_in", ()), pa.options.get("locked_out", ()))
    table = _funded_margins(pa, budgets, kw, max_candidates, time_budget_s)
    ev = alloc.entry_values(pa.candidates, budgets, pa.result, ids=ids, n_jobs=n_jobs, **kw)
    return _with_entry_values(table, ev, pa.candidates, scenario)


def _funded_margins(pa: PortfolioAllocation, budgets: dict, kw: dict, max_candidates: int,
                    time_budget_s: float) -> pd.DataFrame:
    """The table of :func:`what_it_would_take` with the funded rows explained
    (:func:`allocation.entry_thresholds`: exact for the ``max_candidates`` nearest the margin, the
    LP first cut for the others) and the left-out rows marked "not computed"."""
    table = alloc.entry_thresholds(pa.candidates, budgets, pa.result, max_candidates=max_candidates,
                                   time_budget_s=time_budget_s, left_out=False, **kw)
    table = table.drop(columns=["enter_request_fraction"])
    table["value_increase"] = np.nan
    table["enter_fraction"] = np.nan
    # left-out rows are exact once their entry value is in (locked-out ones already are)
    table["exact"] = table["exact"] & (table["selected"] | (table["note"] == "locked out"))
    table.loc[~table["selected"] & (table["note"] != "locked out"), "note"] = "not computed"
    return table


#: Columns of :func:`what_it_would_take`.
WHAT_IT_WOULD_TAKE_COLUMNS = ["selected", "value", "enter_value", "value_increase", "score_increase",
                              "enter_fraction", "leave_value", "value_drop_to_leave", "lp_break_even_value",
                              "exact", "note"]


def _with_entry_values(table: pd.DataFrame, ev: pd.DataFrame, cand: pd.DataFrame, scenario) -> pd.DataFrame:
    """``table`` with the exact entry values ``ev`` (:func:`allocation.entry_values`) filled in."""
    table = table.copy()
    for col in ("enter_value", "value_increase", "enter_fraction", "exact"):
        table.loc[ev.index, col] = ev[col]
    table.loc[ev.index, "note"] = np.where(np.isfinite(ev["value_increase"].to_numpy(float)), "",
                                           "cannot be funded with the locks and constraints")
    table["score_increase"] = _score_increase(cand, scenario, table["value_increase"])
    return table[WHAT_IT_WOULD_TAKE_COLUMNS]


def what_it_would_take_in_chunks(pa: PortfolioAllocation, scenario, ref, *, chunk_size: int = 8,
                                 max_chunk_size: int = 64, n_jobs: int = 1, max_candidates: int = 8,
                                 time_budget_s: float = 5.0, should_stop=None):
    """:func:`what_it_would_take`, answer by answer, for a page that computes off the slider path
    and shows answers as they come (stop iterating to cancel, between steps).

    Yields the table with the LP first cut only, then again after each chunk of left-out
    candidates, nearest the margin first (smallest gap between the LP break-even value and the
    value; chunks start at ``chunk_size`` and double up to ``max_chunk_size``), and once more with
    the funded candidates nearest the margin re-solved (their ``leave_value``): the officer's
    question, what a left-out project would need, is answered first. The last table equals
    :func:`what_it_would_take`. ``should_stop`` (a callable) is asked before each candidate: once
    it answers True the generator ends without another table.

    Yields
    ------
    tuple of (pandas.DataFrame, int, int)
        The table so far (the columns of :func:`what_it_would_take`; left-out rows not reached
        yet carry the note ``"not computed"``), the left-out candidates computed, and their number.
    """
    budgets = budgets_of(scenario)
    kw = solver_kwargs(pa.candidates, scenario, ref, pa.options.get("locked_in", ()), pa.options.get("locked_out", ()))
    first_cut = _funded_margins(pa, budgets, kw, 0, time_budget_s)
    table = _with_entry_values(first_cut, first_cut.iloc[:0], pa.candidates, scenario)
    todo = table.index[table["note"] == "not computed"]
    gap = (table.loc[todo, "lp_break_even_value"] - table.loc[todo, "value"]).fillna(np.inf)
    order = list(gap.sort_values(kind="stable").index)
    yield table, 0, len(order)
    start, size, computed = 0, chunk_size, []
    while start < len(order):
        # the first answers early, then larger chunks (each chunk builds its model and LP once)
        chunk = order[start:start + size]
        try:
            computed.append(alloc.entry_values(pa.candidates, budgets, pa.result, ids=chunk, n_jobs=n_jobs,
                                               should_stop=should_stop, **kw))
        except alloc.EntryValuesStopped:
            return
        table = _with_entry_values(table, computed[-1], pa.candidates, scenario)
        start += len(chunk)
        size = min(2 * size, max_chunk_size)
        yield table, start, len(order)
    if should_stop is not None and should_stop():
        return
    margins = _funded_margins(pa, budgets, kw, max_candidates, time_budget_s)
    ev = pd.concat(computed) if computed else first_cut.iloc[:0]
    yield _with_entry_values(margins, ev, pa.candidates, scenario), len(order), len(order)


def _score_increase(cand: pd.DataFrame, scenario, value_increase: pd.Series) -> pd.Series:
    """Score points that give a value increase under the score-based objectives (NaN otherwise)."""
    if scenario.objective == "score_weighted_support":
        support = cand["support_krw_bn"].reindex(value_increase.index)
        with np.errstate(divide="ignore", invalid="ignore"):
            return value_increase * 100.0 / support.where(support > 0)
    if scenario.objective == "total_score":
        return value_increase.copy()
    return pd.Series(np.nan, index=value_increase.index)


def check_allocation(pa: PortfolioAllocation, scenario, tol: float = 1e-6) -> list[str]:
    """Independent re-check of the domain rules on the result; returns violations (empty = ok)."""
    t = pa.table
    out = []
    for r in RESOURCES:
        if t[r].sum() > getattr(scenario, r) * (1 + tol) + tol:
            out.append(f"{r}: allocated {t[r].sum():.4f} > budget {getattr(scenario, r):.4f}")
    total = (t["fund_krw_bn"] + t["loan_krw_bn"]).sum()
    for col, cap in (("country_iso3", scenario.country_cap_share), ("mineral", scenario.mineral_cap_share)):
        if cap < 1:
            g = (t["fund_krw_bn"] + t["loan_krw_bn"]).groupby(t[col]).sum()
            for k, v in g.items():
                if v > cap * total + tol * max(1.0, total):
                    out.append(f"{col} {k}: {v:.4f} > {cap:.0%} of {total:.4f}")
    sel = t[t["selected"]]
    cap_krw = pa.candidates.reindex(sel.index)
    caps = pa.candidates.reindex(sel.index)
    if "loan_cap_krw_bn" in caps:
        viol = sel.index[(sel["loan_krw_bn"] > caps["loan_cap_krw_bn"] + tol)
                         | (sel["fund_krw_bn"] + sel["loan_krw_bn"] > caps["support_cap_krw_bn"] + tol)]
        out += [f"{i}: support above the special loan's coverage cap" for i in viol]
    low = sel.index[sel["fraction"] < np.minimum(scenario.min_fraction, cap_krw["max_fraction"]) - tol]
    out += [f"{i}: funded fraction below the minimum" for i in low]
    if (t.loc[~t["candidate"], ["fund_krw_bn", "loan_krw_bn"]].to_numpy() > tol).any():
        out.append("a non-candidate application received funding")
    return out


def funded_shares(pa: PortfolioAllocation) -> pd.Series:
    """Funded share of each application's request [0-1] (0 when not selected)."""
    t = pa.table
    return t["fraction"].where(t["selected"].astype(bool), 0.0).astype(float)
