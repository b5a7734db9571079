"""Tests of ``evaluator.allocation``.

Every result is re-checked here with code independent of the module's own re-check
(:func:`check_solution`). Reference optima come from exhaustive enumeration, from a published
multidimensional-knapsack instance and from a textbook capital-budgeting example (sources cited
where used).
"""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from evaluator import allocation as alloc_mod
# where the monkeypatched names are looked up (the package's modules)
from evaluator.allocation import efficient_frontier as alloc_frontier
from evaluator.allocation import model as alloc_model
from evaluator.allocation import presolve as alloc_presolve
from evaluator.allocation import (
    AllocationError,
    AllocationInfeasible,
    AllocationTimeout,
    ConcaveTerm,
    GroupCap,
    LinearConstraintSpec,
    MinGroupsCovered,
    allocate,
    entry_thresholds,
    entry_values,
    frontier,
)

TOL = 1e-6


# ----------------------------------------------------------------------------------------------
# Independent checking code
# ----------------------------------------------------------------------------------------------
def _vec(cands, spec):
    if isinstance(spec, str):
        return cands[spec].to_numpy(float)
    if isinstance(spec, dict):
        return np.array([float(spec.get(i, 0.0)) for i in cands.index])
    return np.broadcast_to(np.asarray(spec, float), (len(cands),)).copy()


def _pwl(s, breakpoints, slopes):
    """Concave piecewise-linear f(s), f(0)=0, evaluated segment by segment."""
    total, left = 0.0, 0.0
    for b, m in zip(list(breakpoints) + [np.inf], slopes):
        total += m * max(0.0, min(s, b) - left)
        left = b
    return total


def check_solution(cands, budgets, res, *, value="value", min_fraction=1.0, max_fraction=1.0,
                   group_caps=(), locked_in=(), locked_out=(), extra_constraints=(),
                   concave_terms=(), **_):
    """Assert every constraint of the model holds on ``res`` (tolerance TOL, scaled)."""
    keys = list(budgets)
    x = res.fractions.reindex(cands.index).to_numpy(float)
    lo = _vec(cands, min_fraction)
    hi = _vec(cands, max_fraction)
    req = cands[keys].to_numpy(float)
    # bounds and semi-continuity: x = 0 or lo <= x <= hi
    assert np.all(x >= -TOL)
    assert np.all(x <= hi + TOL)
    on = x > 1e-7
    assert np.all(x[on] >= lo[on] - TOL), "semi-continuity broken"
    assert (res.selected.reindex(cands.index).to_numpy() == on).all()
    # amounts
    np.testing.assert_allclose(res.amounts[keys].to_numpy(), req * x[:, None], atol=1e-9)
    # budgets
    for k, key in enumerate(keys):
        assert req[:, k] @ x <= budgets[key] + TOL * max(1, abs(budgets[key]))
    # caps
    for cap in group_caps:
        if cap.members is not None:
            mask = cands.index.isin(list(cap.members))
        else:
            mask = (cands[cap.column] == cap.value).to_numpy()
        amount = req.sum(axis=1) if cap.resource is None else cands[cap.resource].to_numpy()
        g = float((amount * x)[mask].sum())
        tot = float((amount * x).sum())
        lim = cap.limit * tot if cap.kind == "share" else cap.limit
        assert g <= lim + TOL * max(1.0, tot), f"cap {cap.name}: {g} > {lim}"
    # locks
    pos = cands.index.get_indexer(list(locked_in))
    assert np.all(x[pos] >= np.maximum(lo[pos], 1e-6) - TOL)
    pos = cands.index.get_indexer(list(locked_out))
    assert np.all(np.abs(x[pos]) <= TOL)
    # extra constraints
    for spec in extra_constraints:
        if isinstance(spec, LinearConstraintSpec):
            v = _vec(cands, spec.coefficients) @ x
            assert spec.lower - TOL <= v <= spec.upper + TOL, spec.name
        else:
            labels = (cands[spec.groups] if isinstance(spec.groups, str)
                      else pd.Series(spec.groups).reindex(cands.index))
            covered = labels[on].dropna().nunique()
            assert covered >= spec.k, f"{spec.name}: {covered} < {spec.k}"
    # objective recomputed from scratch
    obj = _vec(cands, value) @ x + sum(
        _pwl(_vec(cands, t.weights) @ x, t.breakpoints, t.slopes) for t in concave_terms)
    assert res.objective == pytest.approx(obj, rel=1e-9, abs=1e-9)
    return obj


def random_instance(rng, n, n_keys=2, tight=0.4):
    keys = [f"r{k}" for k in range(n_keys)]
    cands = pd.DataFrame({"value": rng.uniform(1, 20, n)}, index=[f"c{i}" for i in range(n)])
    for k in keys:
        cands[k] = rng.uniform(1, 10, n).round(2)
    cands["country"] = rng.choice(["KOR", "AUS", "IDN"], n)
    budgets = {k: float(tight * cands[k].sum()) for k in keys}
    return cands, budgets


def enumerate_all_or_nothing(cands, budgets, caps=(), concave=()):
    """Best subset by brute force over all 2^n subsets (vectorised)."""
    n = len(cands)
    keys = list(budgets)
    masks = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)
    req = cands[keys].to_numpy()
    feas = np.all(masks @ req <= np.array([budgets[k] for k in keys]) + 1e-9, axis=1)
    for cap in caps:
        mask = (cands[cap.column] == cap.value).to_numpy() if cap.members is None else \
            cands.index.isin(list(cap.members))
        amount = req.sum(axis=1) if cap.resource is None else cands[cap.resource].to_numpy()
        g = masks @ (amount * mask)
        tot = masks @ amount
        lim = cap.limit * tot if cap.kind == "share" else cap.limit
        feas &= g <= lim + 1e-9
    obj = masks @ cands["value"].to_numpy()
    for t in concave:
        s = masks @ _vec(cands, t.weights)
        obj = obj + np.array([_pwl(v, t.breakpoints, t.slopes) for v in s])
    obj = np.where(feas, obj, -np.inf)
    return float(obj.max())


# ----------------------------------------------------------------------------------------------
# Published and textbook instances
# ----------------------------------------------------------------------------------------------
def test_textbook_stockco_capital_budgeting():
    # Winston, W. L. (2004). Operations Research: Applications and Algorithms, 4th ed.,
    # Section 9.2, Example 1 (Stockco): NPVs 16, 22, 12, 8 [$ thousand], cash outflows
    # 5, 7, 4, 3 [$ thousand], $14 thousand available; optimum z = 42 (investments 2, 3, 4).
    cands = pd.DataFrame({"value": [16, 22, 12, 8], "cash": [5, 7, 4, 3]},
                         index=["inv1", "inv2", "inv3", "inv4"])
    res = allocate(cands, {"cash": 14})
    check_solution(cands, {"cash": 14}, res)
    assert res.objective == pytest.approx(42.0, rel=1e-9)
    assert list(res.selected[res.selected].index) == ["inv2", "inv3", "inv4"]
    assert res.optimal
    # and by enumeration
    assert enumerate_all_or_nothing(cands, {"cash": 14}) == pytest.approx(42.0)


def test_orlibrary_mknap1_problem1():
    # Beasley, J. E., OR-Library, file mknap1.txt, problem 1 (Petersen 1967 capital budgeting
    # instance): 6 items, 10 constraints, optimal value 3800.
    # https://people.brunel.ac.uk/~mastjjb/jeb/orlib/files/mknap1.txt
    profits = [100, 600, 1200, 2400, 500, 2000]
    rows = [[8, 12, 13, 64, 22, 41], [8, 12, 13, 75, 22, 41], [3, 6, 4, 18, 6, 4],
            [5, 10, 8, 32, 6, 12], [5, 13, 8, 42, 6, 20], [5, 13, 8, 48, 6, 20],
            [0, 0, 0, 0, 8, 0], [3, 0, 4, 0, 8, 0], [3, 2, 4, 0, 8, 4], [3, 2, 4, 8, 8, 4]]
    caps = [80, 96, 20, 36, 44, 48, 10, 18, 22, 24]
    cands = pd.DataFrame({"value": profits}, index=[f"j{j + 1}" for j in range(6)])
    budgets = {}
    for i, (r, b) in enumerate(zip(rows, caps)):
        cands[f"d{i + 1}"] = r
        budgets[f"d{i + 1}"] = b
    res = allocate(cands, budgets)
    check_solution(cands, budgets, res)
    assert res.objective == pytest.approx(3800.0, rel=1e-9)
    assert enumerate_all_or_nothing(cands, budgets) == pytest.approx(3800.0)


def test_fractional_knapsack_marginal_value():
    # Dantzig, G. B. (1957). "Discrete-variable extremum problems." Operations Research 5(2):
    # 266-288: the continuous knapsack is solved greedily by value/weight; the budget's shadow
    # price is the ratio of the fractional item. Ratios 2, 1.5, 1; budget 7 -> item a full,
    # item b at 2/4, price 1.5, objective 10 + 3 = 13.
    cands = pd.DataFrame({"value": [10.0, 6.0, 4.0], "fund": [5.0, 4.0, 4.0]},
                         index=["a", "b", "c"])
    res = allocate(cands, {"fund": 7.0}, min_fraction=0.0)
    check_solution(cands, {"fund": 7.0}, res, min_fraction=0.0)
    assert res.objective == pytest.approx(13.0)
    assert res.fractions["b"] == pytest.approx(0.5)
    assert res.marginal_values["fund"] == pytest.approx(1.5)
    assert "budget fund" in res.binding
    # LP break-even value = price x request: 1.5 x 4 = 6 for item c (Dantzig's ratio rule)
    th = entry_thresholds(cands, {"fund": 7.0}, res, min_fraction=0.0)
    assert th.loc["c", "lp_break_even_value"] == pytest.approx(6.0)
    assert th.loc["b", "lp_break_even_value"] == pytest.approx(6.0)


# ----------------------------------------------------------------------------------------------
# Exhaustive enumeration
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed,n", [(0, 10), (1, 12), (2, 14), (3, 16), (4, 16)])
def test_all_or_nothing_matches_enumeration(seed, n):
    rng = np.random.default_rng(seed)
    cands, budgets = random_instance(rng, n)
    caps = [GroupCap("KOR abs", limit=0.3 * budgets["r0"], column="country", value="KOR",
                     resource="r0"),
            GroupCap("AUS share", limit=0.5, column="country", value="AUS",
                     kind="share")]
    res = allocate(cands, budgets, group_caps=caps)
    check_solution(cands, budgets, res, group_caps=caps)
    best = enumerate_all_or_nothing(cands, budgets, caps)
    assert res.optimal
    assert res.objective == pytest.approx(best, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_concave_term_matches_enumeration(seed):
    rng = np.random.default_rng(100 + seed)
    cands, budgets = random_instance(rng, 12, tight=0.5)
    cands["w"] = rng.uniform(0, 3, 12)
    terms = [ConcaveTerm("div", "w", [3.0, 8.0], [4.0, 1.0, -2.0])]
    res = allocate(cands, budgets, concave_terms=terms)
    check_solution(cands, budgets, res, concave_terms=terms)
    assert res.objective == pytest.approx(
        enumerate_all_or_nothing(cands, budgets, concave=terms), rel=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_saturating_concave_term_tightened_gives_the_same_optimum(seed):
    # Weights up to 40x the saturation point: one selected candidate saturates the bonus, the
    # case the clipped weights are for (the diversification terms of evaluator.portfolio).
    rng = np.random.default_rng(300 + seed)
    n = 11
    cands, budgets = random_instance(rng, n, tight=0.4)
    cands["w"] = rng.choice([0.0, 0.3, 5.0, 40.0], n)
    cands["v"] = rng.choice([0.0, 2.0, 9.0], n)
    terms = [ConcaveTerm("div w", "w", [0.25, 1.0], [30.0, 10.0, 0.0]),
             ConcaveTerm("div v", "v", [2.0], [4.0, 0.0])]
    lo = 1.0 if seed < 3 else rng.choice([0.2, 0.5, 1.0], n)
    kw = dict(concave_terms=terms, min_fraction=lo, mip_rel_gap=1e-9)
    tight, plain = allocate(cands, budgets, **kw), allocate(cands, budgets, tighten_concave=False,
                                                             **kw)
    check_solution(cands, budgets, tight, **kw)
    assert tight.objective == pytest.approx(plain.objective, rel=1e-7)
    if seed < 3:
        assert tight.objective == pytest.approx(
            enumerate_all_or_nothing(cands, budgets, concave=terms), rel=1e-7)
    m = alloc_mod._Model(cands, budgets, **kw)
    clipped = m.concave_w_model[0] < m.concave_w[0]
    assert clipped.any()          # the tightening was in play
    np.testing.assert_allclose(m.concave_w_model[0][clipped],
                               1.0 / np.broadcast_to(lo, (n,))[clipped])


def test_tightening_leaves_unsaturating_terms_and_continuous_candidates_alone():
    w = np.array([5.0, 5.0, 0.1])
    lo = np.array([0.5, 0.0, 0.5])
    # last slope positive: never saturates
    assert (alloc_mod._tightened_weights(w, np.array([1.0]), np.array([2.0, 1.0]), lo) == w).all()
    out = alloc_mod._tightened_weights(w, np.array([1.0, 3.0]), np.array([2.0, 0.0, 0.0]), lo)
    assert list(out) == [2.0, 5.0, 0.1]     # B = 1 (slopes 0 from there), B / 0.5 = 2


def _fixing_instance(seed, n=260):
    """Many similar candidates, few fundable: the case reduced-cost fixing is for."""
    rng = np.random.default_rng(400 + seed)
    cands, budgets = random_instance(rng, n, tight=0.04)
    if seed >= 2:       # near-equal value per request: small reduced costs, much left free
        cands["value"] = (cands["r0"] + cands["r1"]) * rng.uniform(0.98, 1.02, n)
    cands["mineral"] = rng.choice(list("abcdef"), n)
    cands["w"] = rng.choice([0.2, 3.0, 50.0], n)
    cands["loss"] = rng.uniform(0.0, 1.0, n)
    lo = rng.choice([0.3, 0.5, 1.0], n)
    kw = dict(min_fraction=lo, mip_rel_gap=1e-9,
              concave_terms=[ConcaveTerm(f"div {g}",
                                         (cands["w"] * (cands["mineral"] == g)).to_dict(),
                                         [0.25, 1.0], [20.0, 8.0, 0.0]) for g in "abc"],
              group_caps=GroupCap.per_value(cands, "country", 0.6),
              extra_constraints=[LinearConstraintSpec("loss", "loss", upper=2.0),
                                 MinGroupsCovered("minerals", "mineral", 2)],
              locked_in=[cands.index[int(rng.integers(n))]] if seed % 2 else [])
    return cands, budgets, kw


def test_dominated_candidates_by_hand():
    # five copies of one request [4 of r0], minimum share 0.5: the budget of 5 takes two at
    # their minimum (2 each), not three. A candidate with two or more better copies is fixed.
    cands = pd.DataFrame({"value": [5.0, 4.0, 3.0, 2.0, 1.0, 3.0], "r0": 4.0,
                          "loss": [0.1, 0.1, 0.1, 0.1, 0.1, 0.05]},
                         index=["v5", "v4", "v3", "v2", "v1", "v3 low loss"])
    kw = dict(min_fraction=0.5, extra_constraints=[LinearConstraintSpec("loss", "loss", upper=1)])

    def dominated(**extra):
        m = alloc_mod._Model(cands, {"r0": 5.0}, **kw, **extra)
        return sorted(cands.index[alloc_mod._dominated(m, m.row_hi)])
    # "v3 low loss" has the least loss: nothing dominates it. v3 has three dominators (v5, v4,
    # "v3 low loss"), v2 four, v1 five: funding any of them with its dominators needs >= 6 > 5
    assert dominated() == ["v1", "v2", "v3"]
    # without v5 and v4 (locked out), v3 has one dominator: 2 x 2 = 4 <= 5, it may be funded
    assert dominated(locked_out=["v5", "v4"]) == ["v1", "v2"]
    assert dominated(locked_in=["v2"]) == ["v1", "v3"]
    twins = pd.DataFrame({"value": [2.0, 2.0, 2.0], "r0": 4.0}, index=["a", "b", "c"])
    m = alloc_mod._Model(twins, {"r0": 5.0}, min_fraction=0.5)
    assert list(alloc_mod._dominated(m, m.row_hi)) == [False, False, True]   # ties by position


def test_dominance_respects_groups_and_share_caps():
    # same request and value but different countries under share caps: not interchangeable
    cands = pd.DataFrame({"value": [3.0, 2.0, 1.0], "r0": 4.0, "c": ["A", "B", "C"]},
                         index=["a", "b", "c"])
    m = alloc_mod._Model(cands, {"r0": 5.0}, min_fraction=0.5,
                         group_caps=GroupCap.per_value(cands, "c", 0.6))
    assert not alloc_mod._dominated(m, m.row_hi).any()


def test_share_caps_imply_absolute_caps_by_hand():
    # country A capped at 40 % of the fund + loan total; budgets 10 + 2: the total is at most
    # min(12, all requests funded = 5 x 5 = 25) = 12, so A holds at most 0.4 x 12 = 4.8
    cands = pd.DataFrame({"value": [5.0, 4.0, 3.0, 2.0, 1.0], "r0": 4.0, "r1": 1.0,
                          "c": ["A"] * 4 + ["B"]}, index=["v5", "v4", "v3", "v2", "v1"])
    caps = [GroupCap("A share", column="c", value="A", limit=0.4, kind="share"),
            GroupCap("B r1 share", column="c", value="B", resource="r1", limit=0.5,
                     kind="share")]
    m = alloc_mod._Model(cands, {"r0": 10.0, "r1": 2.0}, min_fraction=0.5, group_caps=caps)
    rows, limits = alloc_mod._implied_share_rows(m, m.row_hi)
    np.testing.assert_allclose(rows, [[5.0, 5.0, 5.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    # the r1 cap: total r1 at most min(budget 2, all r1 requests 5) = 2, limit 0.5 x 2 = 1
    np.testing.assert_allclose(limits, [4.8, 1.0])
    # the budget r0 <= 10 alone keeps a copy with up to four better ones (5 x 2 = 10 fits),
    # but A's implied cap of 4.8 holds one copy at its minimum share (2.5), not two: v4, v3
    # and v2 are dominated, v5 is not; v1 (in B) is not comparable with them
    assert list(cands.index[alloc_mod._dominated(m, m.row_hi)]) == ["v4", "v3", "v2"]
    # with larger budgets the implied cap grows with them: 0.4 x min(22 + 2, 25) = 9.6 holds
    # three copies at 2.5 each, not four (v2); at r0 <= 30 it is 0.4 x 25 = 10 and v2 fits too
    for r0, dominated in ((22.0, ["v2"]), (30.0, [])):
        m = alloc_mod._Model(cands, {"r0": r0, "r1": 2.0}, min_fraction=0.5, group_caps=caps)
        assert list(cands.index[alloc_mod._dominated(m, m.row_hi)]) == dominated
    kw = dict(min_fraction=0.5, group_caps=caps, mip_rel_gap=1e-9)
    for budgets in ({"r0": 10.0, "r1": 2.0}, {"r0": 22.0, "r1": 2.0}):
        res = allocate(cands, budgets, **kw)
        check_solution(cands, budgets, res, **kw)
        assert res.objective == pytest.approx(
            allocate(cands, budgets, presolve=False, **kw).objective, rel=1e-9)


def test_a_candidate_that_breaks_a_row_alone_is_fixed_unless_locked_in():
    # loss cap 1: "risky" has loss 3, 1.5 at its minimum share 0.5, so it can never be funded;
    # nothing dominates it (it is the only copy of its request)
    cands = pd.DataFrame({"value": [9.0, 1.0], "r0": [4.0, 3.0], "loss": [3.0, 0.1]},
                         index=["risky", "safe"])
    kw = dict(min_fraction=0.5, extra_constraints=[LinearConstraintSpec("loss", "loss", upper=1)])
    m = alloc_mod._Model(cands, {"r0": 10.0}, **kw)
    assert list(alloc_mod._dominated(m, m.row_hi)) == [True, False]
    m = alloc_mod._Model(cands, {"r0": 10.0}, locked_in=["risky"], **kw)
    assert not alloc_mod._dominated(m, m.row_hi).any()     # the solve reports the conflict
    with pytest.raises(AllocationInfeasible) as err:
        allocate(cands, {"r0": 10.0}, locked_in=["risky"], **kw)
    assert set(err.value.conflicts) >= {"must fund risky", "loss"}


def _cut_instance(seed, n=9):
    rng = np.random.default_rng(700 + seed)
    cands, budgets = random_instance(rng, n, tight=0.35)
    cands["w"] = rng.choice([0.0, 0.4, 3.0, 12.0], n)
    lo = rng.choice([0.0, 0.2, 0.5, 1.0], n)
    # a last slope > 0 (never saturates: no weight clipping) and one that saturates
    terms = [ConcaveTerm("steep", "w", [0.5, 2.0, 6.0], [12.0, 5.0, 2.0, 0.5]),
             ConcaveTerm("saturating", (cands["w"] * 0.5).to_dict(), [1.0, 4.0],
                         [6.0, 1.0, 0.0])]
    return cands, budgets, dict(min_fraction=lo, concave_terms=terms, mip_rel_gap=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_concave_cuts_hold_at_every_allocation_the_model_allows(seed):
    # u_1 + ... + u_j = min(s, B_j) at every point with x_i = 0 or lo_i <= x_i <= hi_i; the cut
    # coefficients min(w_i, B_j / lo_i) must bound it from above there (sampled points, plus
    # the corners 0 / lo / hi of every candidate)
    cands, budgets, kw = _cut_instance(seed)
    m = alloc_mod._Model(cands, budgets, **kw)
    cuts = list(alloc_mod._concave_cuts(m))
    assert cuts and (np.asarray(m.row_kind) == "concave_cut").sum() == len(cuts)
    rng = np.random.default_rng(seed)
    n, lo = m.n, m.lo
    corners = np.stack([np.zeros(n), lo, np.ones(n)])
    pts = [corners[rng.integers(0, 3, n), np.arange(n)] for _ in range(300)]
    pts += [np.where(rng.random(n) < 0.5, 0.0, rng.uniform(lo, 1.0)) for _ in range(300)]
    for name, coef, seg in cuts:
        t = next(tt for tt in m.concave if name.startswith(tt.name + " (cut"))
        w = m.concave_w[m.concave.index(t)]
        b = np.asarray(t.breakpoints, float)[len(seg) - 1]
        for x in pts:
            assert min(float(w @ x), b) <= float(coef @ x) + 1e-9, name


@pytest.mark.parametrize("seed", range(4))
def test_concave_cuts_tighten_the_lp_and_keep_the_optimum(seed):
    cands, budgets, kw = _cut_instance(seed)

    def lp_bound(tighten):
        m = alloc_mod._Model(cands, budgets, tighten_concave=tighten, **kw)
        lb = m.lb.copy()
        lb[:m.n] = 0.0
        return -float(alloc_mod._lp(m, lb, m.ub, m.row_hi)[0].fun)

    tight, plain = allocate(cands, budgets, **kw), allocate(
        cands, budgets, tighten_concave=False, presolve=False, **kw)
    check_solution(cands, budgets, tight, **kw)
    assert tight.objective == pytest.approx(plain.objective, rel=1e-7)
    # a valid relaxation: between the optimum and the plain LP bound
    assert tight.objective - 1e-7 <= lp_bound(True) <= lp_bound(False) + 1e-7


def test_concave_cuts_by_hand():
    # one term, breakpoints 1 and 3, slopes 5, 2, 0; weights 4 (lo 0.5) and 0.5 (lo 0): the
    # first cut clips 4 to 1 / 0.5 = 2; at the second breakpoint 3 / 0.5 = 6 > 4 clips
    # nothing (nor does the link row's saturation clip): only the first cut is kept
    cands = pd.DataFrame({"value": [1.0, 1.0], "r0": [1.0, 1.0], "w": [4.0, 0.5]},
                         index=["big", "small"])
    m = alloc_mod._Model(cands, {"r0": 2.0}, min_fraction=np.array([0.5, 0.0]),
                         concave_terms=[ConcaveTerm("t", "w", [1.0, 3.0], [5.0, 2.0, 0.0])])
    cuts = list(alloc_mod._concave_cuts(m))
    assert [c[0] for c in cuts] == ["t (cut 1)"]
    np.testing.assert_allclose(cuts[0][1], [2.0, 0.5])
    # the LP relaxation: without the cut x_big = 0.25 buys the first segment (value 5 for 0.25
    # of the budget); with it, u_1 <= 2 x_big + 0.5 x_small
    u1 = m.u_slices[0].start
    row = m.A.toarray()[np.asarray(m.row_kind) == "concave_cut"][0]
    np.testing.assert_allclose(row[:2], [-2.0, -0.5])
    assert row[u1] == 1.0 and row[u1 + 1] == 0.0


def test_shadow_prices_ignore_the_concave_cuts():
    # the budget's shadow price comes from the formulation's own rows: the same with the cuts
    # in the model as with the plain weights when no weight is clipped by saturation
    cands, budgets, kw = _cut_instance(1)
    kw["concave_terms"] = kw["concave_terms"][:1]          # never saturates: link rows equal
    tight = allocate(cands, budgets, **kw)
    m = alloc_mod._Model(cands, budgets, **kw)
    assert (np.asarray(m.row_kind) == "concave_cut").any()
    xfull = np.zeros(m.nv)
    xfull[:m.n] = tight.fractions.to_numpy()
    plain_m = alloc_mod._Model(cands, budgets, tighten_concave=False, **kw)
    assert alloc_mod._marginals(m, xfull, m.row_hi) == pytest.approx(
        alloc_mod._marginals(plain_m, xfull[:plain_m.nv], plain_m.row_hi), nan_ok=True)


def test_the_presolved_solve_prints_and_warns_nothing(capfd):
    # the HiGHS options scipy does not list (FIXING_HIGHS_OPTIONS) raise no warning to callers
    import warnings
    cands, budgets, kw = _fixing_instance(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = allocate(cands, budgets, **kw)
    assert res.optimal
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize("seed", range(3))
def test_presolve_with_copies_gives_the_full_solve_optimum(seed):
    rng = np.random.default_rng(500 + seed)
    base, _ = random_instance(rng, 6, tight=0.1)
    base["mineral"] = list("abcabc")
    n = 240
    cands = base.iloc[rng.integers(0, 6, n)].copy()      # 40 copies of each of 6 requests
    cands.index = [f"k{i}" for i in range(n)]
    cands["value"] = cands["value"].to_numpy() * rng.uniform(0.8, 1.2, n)
    cands["loss"] = rng.choice([0.1, 0.2, 0.3], n)
    budgets = {k: 0.01 * float(cands[k].sum()) for k in ("r0", "r1")}
    kw = dict(min_fraction=0.5, mip_rel_gap=1e-9,
              group_caps=GroupCap.per_value(cands, "country", 0.5),
              extra_constraints=[LinearConstraintSpec("loss", "loss", upper=1.5),
                                 MinGroupsCovered("minerals", "mineral", 2)],
              concave_terms=[ConcaveTerm("div a", (cands["mineral"] == "a").astype(float) * 9.0,
                                         [1.0], [6.0, 0.0])],
              locked_in=["k0"] if seed == 1 else [], locked_out=["k1", "k2"])
    m = alloc_mod._Model(cands, budgets, **kw)
    assert alloc_mod._dominated(m, m.row_hi).sum() > n // 2       # the presolve is in play
    res = allocate(cands, budgets, **kw)
    full = allocate(cands, budgets, presolve=False, **kw)
    check_solution(cands, budgets, res, **kw)
    assert res.optimal and full.optimal
    assert res.objective == pytest.approx(full.objective, rel=1e-7)


def _spy_fixing(monkeypatch):
    """Record the MILP solves (number of free candidates) and whether the shortcut answered."""
    solves, answered = [], []
    real_fixing, real_solve = alloc_mod._solve_with_fixing, alloc_mod._Model.solve

    def fixing(m, row_hi, *bounds):
        out = real_fixing(m, row_hi, *bounds)
        answered.append(out is not None)
        return out

    def solve(self, **kw):
        ub = kw.get("ub")
        solves.append(int((ub[:self.n] > 0).sum()) if ub is not None else self.n)
        return real_solve(self, **kw)
    monkeypatch.setattr(alloc_presolve, "_solve_with_fixing", fixing)
    monkeypatch.setattr(alloc_mod._Model, "solve", solve)
    return solves, answered


@pytest.mark.parametrize("seed, core", [(0, 40), (1, 40), (2, 3), (3, 3)])
def test_reduced_cost_fixing_gives_the_full_solve_optimum(seed, core, monkeypatch):
    # core 40: the core answer is proven by the fixing alone; core 3: candidates outside the
    # core stay free and a second, smaller MILP is solved
    cands, budgets, kw = _fixing_instance(seed)
    full = allocate(cands, budgets, presolve=False, **kw)
    monkeypatch.setattr(alloc_presolve, "FIXING_CORE", core)
    monkeypatch.setattr(alloc_presolve, "FIXING_CORE_PER_USED", 4 if core == 40 else 1)
    solves, answered = _spy_fixing(monkeypatch)
    fixed = allocate(cands, budgets, **kw)
    assert answered == [True]
    assert len(solves) == (1 if core == 40 else 2) and max(solves) < len(cands), solves
    check_solution(cands, budgets, fixed, **kw)
    assert fixed.optimal and full.optimal
    assert fixed.objective == pytest.approx(full.objective, rel=1e-7)


def test_reduced_cost_fixing_falls_back_when_the_core_has_no_answer(monkeypatch):
    # the core MILP made infeasible (as when a coverage floor needs groups outside the core):
    # the shortcut gives up and the full model is solved
    cands, budgets, kw = _fixing_instance(2)
    full = allocate(cands, budgets, presolve=False, **kw)
    solves, answered = _spy_fixing(monkeypatch)
    spied_solve = alloc_mod._Model.solve

    def core_infeasible(self, **kw_):
        res, t = spied_solve(self, **kw_)
        if len(solves) == 1:
            res.x, res.status = None, 2
        return res, t
    monkeypatch.setattr(alloc_mod._Model, "solve", core_infeasible)
    fixed = allocate(cands, budgets, **kw)
    assert answered == [False] and len(solves) == 2 and solves[-1] == len(cands), solves
    check_solution(cands, budgets, fixed, **kw)
    assert fixed.objective == pytest.approx(full.objective, rel=1e-7)


def test_a_limit_in_the_second_solve_keeps_the_core_answer_and_says_so(monkeypatch):
    cands, budgets, kw = _fixing_instance(2)
    monkeypatch.setattr(alloc_presolve, "FIXING_CORE", 3)
    monkeypatch.setattr(alloc_presolve, "FIXING_CORE_PER_USED", 1)
    solves, _ = _spy_fixing(monkeypatch)
    spied_solve = alloc_mod._Model.solve

    def second_stopped(self, **kw_):
        res, t = spied_solve(self, **kw_)
        if len(solves) == 2:
            res.x, res.status, res.message = None, 1, "Time limit reached. (HiGHS Status 13)"
            res.mip_dual_bound = -1e9
        return res, t
    monkeypatch.setattr(alloc_mod._Model, "solve", second_stopped)
    res = allocate(cands, budgets, **kw)
    assert len(solves) == 2
    assert res.status == "time_limit" and res.limit_reached and not res.optimal
    assert res.mip_gap > 1.0 and "time limit" in res.note
    check_solution(cands, budgets, res, **kw)


def enumerate_semicontinuous(cands, budgets, lo, caps=()):
    """Exact optimum: every selection subset, then an LP over the fractions."""
    n = len(cands)
    keys = list(budgets)
    req = cands[keys].to_numpy()
    val = cands["value"].to_numpy()
    A, b = [req[:, k] for k in range(len(keys))], [budgets[k] for k in keys]
    for cap in caps:
        mask = (cands[cap.column] == cap.value).to_numpy()
        amount = req.sum(axis=1)
        row = amount * mask - (cap.limit * amount if cap.kind == "share" else 0.0)
        A.append(row)
        b.append(0.0 if cap.kind == "share" else cap.limit)
    A, b = np.array(A), np.array(b)
    best = 0.0 if np.all(b >= 0) else -np.inf
    for subset in itertools.product([0, 1], repeat=n):
        s = np.array(subset, bool)
        if not s.any():
            continue
        bounds = [(lo[i], 1.0) if s[i] else (0.0, 0.0) for i in range(n)]
        r = linprog(-val, A_ub=A, b_ub=b, bounds=bounds, method="highs")
        if r.status == 0:
            best = max(best, -r.fun)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_semicontinuous_matches_enumeration(seed):
    rng = np.random.default_rng(200 + seed)
    n = 8
    cands, budgets = random_instance(rng, n, tight=0.35)
    lo = rng.uniform(0.3, 0.9, n).round(3)
    cands["min_fraction"] = lo
    caps = [GroupCap("KOR share", limit=0.4, column="country", value="KOR", kind="share")]
    res = allocate(cands, budgets, min_fraction="min_fraction", group_caps=caps)
    check_solution(cands, budgets, res, min_fraction="min_fraction", group_caps=caps)
    assert res.objective == pytest.approx(enumerate_semicontinuous(cands, budgets, lo, caps),
                                          rel=1e-6)


# ----------------------------------------------------------------------------------------------
# Invariants
# ----------------------------------------------------------------------------------------------
def greedy_value_per_request(cands, budgets):
    """Classic heuristic: full funding in decreasing value per budget-normalised request."""
    keys = list(budgets)
    req = cands[keys].to_numpy()
    bud = np.array([budgets[k] for k in keys])
    ratio = cands["value"].to_numpy() / (req / bud).sum(axis=1)
    used, obj = np.zeros(len(keys)), 0.0
    for i in np.argsort(-ratio):
        if cands["value"].iat[i] > 0 and np.all(used + req[i] <= bud):
            used += req[i]
            obj += cands["value"].iat[i]
    return obj


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(3, 40), tight=st.floats(0.05, 1.2),
       semi=st.booleans())
def test_never_worse_than_greedy_and_monotone_in_budget(seed, n, tight, semi):
    rng = np.random.default_rng(seed)
    cands, budgets = random_instance(rng, n, tight=tight)
    cands.loc[cands.index[0], "value"] = -5.0      # a negative value must simply be left out
    mf = 0.5 if semi else 1.0
    res = allocate(cands, budgets, min_fraction=mf)
    check_solution(cands, budgets, res, min_fraction=mf)
    assert res.optimal
    assert res.objective >= greedy_value_per_request(cands, budgets) - 1e-6
    assert not res.selected.iloc[0]
    more = {k: 1.3 * v for k, v in budgets.items()}
    res2 = allocate(cands, more, min_fraction=mf)
    check_solution(cands, more, res2, min_fraction=mf)
    assert res2.objective >= res.objective - 1e-6 * max(1, abs(res.objective))


def test_frontier_is_monotone_and_agrees_with_allocate():
    rng = np.random.default_rng(7)
    cands, budgets = random_instance(rng, 30)
    cands["min_fraction"] = 0.4
    kw = dict(min_fraction="min_fraction",
              group_caps=GroupCap.per_value(cands, "country", 0.6, kind="share"))
    grid = np.linspace(0, 1.5 * cands["r0"].sum(), 12)
    fr = frontier(cands, budgets, "r0", grid, **kw)
    assert list(fr["budget"]) == pytest.approx(list(grid))
    assert fr["optimal"].all()
    assert np.all(np.diff(fr["objective"]) >= -1e-6)
    assert fr["reused"].any()          # the top of the grid exceeds the saturating budget
    for j in (3, 7, 11):
        b = dict(budgets, r0=float(grid[j]))
        res = allocate(cands, b, **kw)
        check_solution(cands, b, res, **kw)
        assert res.objective == pytest.approx(fr["objective"][j], rel=1e-6, abs=1e-9)
        assert fr["allocated_r0"][j] <= grid[j] + 1e-6


def test_locks_respected():
    rng = np.random.default_rng(11)
    cands, budgets = random_instance(rng, 15)
    free = allocate(cands, budgets)
    take_in = list(free.selected[~free.selected].index[:2])
    take_out = list(free.selected[free.selected].index[:2])
    kw = dict(locked_in=take_in, locked_out=take_out, min_fraction=0.5)
    res = allocate(cands, budgets, **kw)
    check_solution(cands, budgets, res, **kw)
    assert res.selected[take_in].all() and not res.selected[take_out].any()
    assert res.objective <= allocate(cands, budgets, min_fraction=0.5).objective + 1e-6


def test_all_features_together_are_rechecked():
    rng = np.random.default_rng(5)
    n = 40
    cands, budgets = random_instance(rng, n, tight=0.3)
    cands["mineral"] = rng.choice(["li", "ni", "co", "ree", "gr"], n)
    cands["loss"] = rng.uniform(0, 1, n)
    cands["mf"] = rng.uniform(0.2, 0.8, n)
    cands["cap"] = rng.uniform(0.8, 1.0, n)
    kw = dict(
        min_fraction="mf", max_fraction="cap",
        group_caps=GroupCap.per_value(cands, "country", 0.5, kind="share")
        + [GroupCap("li absolute", limit=20.0, column="mineral", value="li", resource="r1")],
        locked_in=["c3"], locked_out=["c4"],
        extra_constraints=[LinearConstraintSpec("expected loss", "loss", upper=3.0),
                           MinGroupsCovered("minerals covered", "mineral", 5)],
        concave_terms=[ConcaveTerm(f"div {g}", dict(zip(cands.index, (cands["mineral"] == g)
                                                        * cands["r0"])), [10.0], [1.0, 0.2])
                       for g in ["li", "ni", "co"]])
    res = allocate(cands, budgets, **kw)
    check_solution(cands, budgets, res, **kw)
    assert res.optimal and res.status == "optimal"
    assert set(res.slacks) >= {"budget r0", "budget r1", "expected loss", "minerals covered"}
    assert all(v <= 1e-6 for v in res.recheck.values())
    for name in res.binding:
        assert abs(res.slacks[name]) <= 1e-6 * max(1.0, abs(budgets.get(name[7:], 1.0)))
    for mv in res.marginal_values.values():
        assert mv >= -1e-9      # more budget never hurts


def test_min_groups_covered_forces_diversification():
    # Two valuable lithium projects use the whole budget; coverage of 2 minerals forces a swap.
    cands = pd.DataFrame({"value": [10.0, 9.0, 2.0], "fund": [5.0, 5.0, 5.0],
                          "mineral": ["li", "li", "ni"]}, index=["a", "b", "c"])
    free = allocate(cands, {"fund": 10.0})
    assert free.objective == pytest.approx(19.0)
    cov = [MinGroupsCovered("two minerals", "mineral", 2)]
    res = allocate(cands, {"fund": 10.0}, extra_constraints=cov)
    check_solution(cands, {"fund": 10.0}, res, extra_constraints=cov)
    assert res.objective == pytest.approx(12.0)
    assert "two minerals" in res.binding


def _enum_feasible_best(cands, budgets, caps, locked_in, locked_out):
    """Enumeration with locks; -inf when no subset is feasible."""
    n = len(cands)
    masks = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
    pin = cands.index.get_indexer(list(locked_in))
    pout = cands.index.get_indexer(list(locked_out))
    keep = masks[:, pin].all(axis=1) & ~masks[:, pout].any(axis=1)
    keys = list(budgets)
    req = cands[keys].to_numpy()
    feas = keep & np.all(masks @ req <= np.array([budgets[k] for k in keys]) + 1e-9, axis=1)
    for cap in caps:
        mask = (cands[cap.column] == cap.value).to_numpy()
        amount = req.sum(axis=1)
        lim = cap.limit * (masks @ amount) if cap.kind == "share" else cap.limit
        feas &= masks @ (amount * mask) <= lim + 1e-9
    obj = masks @ cands["value"].to_numpy()
    return float(np.where(feas, obj, -np.inf).max())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(3, 9))
def test_locks_and_caps_against_enumeration(seed, n):
    """Optimum equals enumeration; when infeasible, the named conflict is checked by
    enumeration to be infeasible itself and minimal (dropping any member makes it feasible)."""
    rng = np.random.default_rng(seed)
    cands, budgets = random_instance(rng, n, n_keys=2, tight=rng.uniform(0.2, 0.7))
    ids = list(cands.index)
    locked_in = list(rng.choice(ids, size=rng.integers(0, 4), replace=False))
    locked_out = [i for i in rng.choice(ids, size=rng.integers(0, 3), replace=False)
                  if i not in locked_in]
    caps = [GroupCap("KOR abs", limit=float(rng.uniform(0, 15)), column="country", value="KOR"),
            GroupCap("AUS share", limit=float(rng.uniform(0.2, 0.8)), column="country",
                     value="AUS", kind="share")]
    kw = dict(group_caps=caps, locked_in=locked_in, locked_out=locked_out)
    best = _enum_feasible_best(cands, budgets, caps, locked_in, locked_out)
    if np.isfinite(best):
        res = allocate(cands, budgets, **kw)
        check_solution(cands, budgets, res, **kw)
        assert res.objective == pytest.approx(best, rel=1e-6, abs=1e-9)
        return
    with pytest.raises(AllocationInfeasible) as info:
        allocate(cands, budgets, **kw)
    conflicts = info.value.conflicts
    assert conflicts and str(info.value)

    def sub_best(names):
        return _enum_feasible_best(
            cands, {k: (v if f"budget {k}" in names else np.inf) for k, v in budgets.items()},
            [c for c in caps if c.name in names],
            [i for i in locked_in if f"must fund {i}" in names],
            [i for i in locked_out if f"must not fund {i}" in names])

    assert not np.isfinite(sub_best(set(conflicts)))
    for name in conflicts:
        assert np.isfinite(sub_best(set(conflicts) - {name})), f"{name} is not needed"


# ----------------------------------------------------------------------------------------------
# Failure modes
# ----------------------------------------------------------------------------------------------
def test_infeasible_locks_name_the_conflict():
    cands = pd.DataFrame({"value": [5.0, 4.0, 3.0, 1.0], "fund": [6.0, 6.0, 1.0, 1.0],
                          "country": ["IDN", "IDN", "AUS", "CHL"]}, index=["A", "B", "C", "D"])
    with pytest.raises(AllocationInfeasible) as info:
        allocate(cands, {"fund": 10.0}, locked_in=["A", "B", "C"])
    assert set(info.value.conflicts) == {"must fund A", "must fund B", "budget fund"}
    assert "must fund A" in str(info.value) and "must fund C" not in info.value.conflicts


def test_infeasible_cap_and_lock_name_the_conflict():
    cands = pd.DataFrame({"value": [5.0, 4.0, 3.0], "fund": [6.0, 2.0, 1.0],
                          "country": ["IDN", "AUS", "CHL"]}, index=["A", "B", "C"])
    caps = [GroupCap("Indonesia at most 4", limit=4.0, column="country", value="IDN"),
            GroupCap("Chile share <= 50%", limit=0.5, column="country", value="CHL", kind="share")]
    with pytest.raises(AllocationInfeasible) as info:
        allocate(cands, {"fund": 100.0}, locked_in=["A", "C"], group_caps=caps)
    assert set(info.value.conflicts) == {"must fund A", "Indonesia at most 4"}
    cov = [MinGroupsCovered("three countries", "country", 3)]
    with pytest.raises(AllocationInfeasible) as info:
        allocate(cands, {"fund": 100.0}, locked_out=["B"], extra_constraints=cov)
    assert set(info.value.conflicts) == {"must not fund B", "three countries"}
    with pytest.raises(AllocationInfeasible):
        allocate(cands, {"fund": 100.0}, locked_in=["A"], locked_out=["A"])


def test_bad_input_raises_value_error():
    cands = pd.DataFrame({"value": [1.0], "fund": [1.0]}, index=["a"])
    with pytest.raises(ValueError):
        allocate(cands, {"loan": 1.0})
    with pytest.raises(ValueError):
        allocate(cands, {"fund": 1.0}, locked_in=["zz"])
    with pytest.raises(ValueError):
        allocate(cands, {"fund": 1.0}, concave_terms=[ConcaveTerm("c", {"a": 1}, [1], [1, 2])])
    with pytest.raises(ValueError):
        allocate(cands, {"fund": 1.0}, min_fraction=1.0, max_fraction=0.5)


def test_solver_answer_breaking_a_constraint_is_refused(monkeypatch):
    # scipy issues 19421 / 22812: milp answers marked optimal that broke constraints.
    real_milp = alloc_model.milp

    def lying_milp(c, **kw):
        res = real_milp(c, **kw)
        res.x = np.ones_like(res.x)          # "fund everything"
        res.fun = float(c @ res.x)
        return res

    monkeypatch.setattr(alloc_model, "milp", lying_milp)
    cands = pd.DataFrame({"value": [3.0, 2.0], "fund": [5.0, 5.0]}, index=["a", "b"])
    with pytest.raises(AllocationError, match="budgets"):
        allocate(cands, {"fund": 6.0})


# ----------------------------------------------------------------------------------------------
# Every well-formed question gets an answer (issue 13)
# ----------------------------------------------------------------------------------------------
def _three():
    return pd.DataFrame({"value": [5.0, 3.0, -1.0], "fund": [2.0, 3.0, 1.0],
                         "loan": [1.0, 0.0, 2.0], "g": ["a", "b", "a"]}, index=["A", "B", "C"])


@pytest.mark.parametrize("case, kwargs, says", [
    ("no candidates", dict(cands=_three().iloc[:0]), "no candidates"),
    ("all values <= 0", dict(cands=_three().assign(value=[-1.0, 0.0, -3.0])), "worth funding"),
    ("budgets 0", dict(budgets={"fund": 0.0, "loan": 0.0}, min_fraction=0.3), "fits the budgets"),
    ("budgets 1e-9", dict(budgets={"fund": 1e-9, "loan": 1e-9}, min_fraction=0.3),
     "fits the budgets"),
    ("continuous, budgets 0", dict(budgets={"fund": 0.0, "loan": 0.0}, min_fraction=0.0),
     "fits the budgets"),
    ("share caps 0", dict(group_caps=GroupCap.per_value(_three(), "g", 0.0)), "g=a share cap"),
    ("absolute caps 0", dict(group_caps=[GroupCap("a0", column="g", value="a", limit=0.0),
                                         GroupCap("b0", column="g", value="b", limit=0.0)]), "a0"),
    ("all locked out", dict(locked_out=["A", "B", "C"]), "locked out"),
    ("loss cap 0", dict(extra_constraints=[LinearConstraintSpec("loss cap", "loan", upper=0.0)],
                        cands=_three().assign(loan=[1.0, 1.0, 1.0])), "loss cap"),
])
def test_nothing_fundable_gives_all_zero_with_a_plain_note(case, kwargs, says):
    cands = kwargs.pop("cands", _three())
    budgets = kwargs.pop("budgets", {"fund": 10.0, "loan": 10.0})
    res = allocate(cands, budgets, **kwargs)
    assert not res.selected.any() and float(res.fractions.abs().sum()) == 0.0
    assert res.objective == 0.0 and res.optimal and not res.limit_reached
    assert res.note.startswith("Nothing funded") and says in res.note, (case, res.note)
    # the same reason from the message catalogue, in Korean for the officer
    from evaluator import messages
    assert messages.join(res.notes, "en", " ") == res.note
    ko = messages.join(res.notes, "ko", " ")
    assert ko.startswith("지원 대상 없음") and "Nothing" not in ko, ko
    check_solution(cands, budgets, res, **kwargs)


def test_a_funded_allocation_has_no_note():
    res = allocate(_three(), {"fund": 10.0, "loan": 10.0})
    assert res.selected.any() and res.note == "" and res.status == "optimal"


def test_contradictory_locks_name_the_conflict_and_negative_budget_is_bad_input():
    cands = _three()
    with pytest.raises(AllocationInfeasible) as info:
        allocate(cands, {"fund": 10.0, "loan": 10.0}, locked_in=["A"],
                 group_caps=[GroupCap("group a is 0", column="g", value="a", limit=0.0)])
    assert set(info.value.conflicts) == {"must fund A", "group a is 0"}
    with pytest.raises(AllocationInfeasible) as info:
        allocate(cands.iloc[:0], {"fund": 1.0}, extra_constraints=[
            MinGroupsCovered("two groups", "g", 2)])
    assert info.value.conflicts == ["two groups"]
    with pytest.raises(ValueError, match="budget fund"):
        allocate(cands, {"fund": -1.0, "loan": 1.0})


def test_frontier_and_thresholds_without_candidates():
    empty = _three().iloc[:0]
    fr = frontier(empty, {"fund": 1.0}, "fund", [0.0, 1.0, 2.0])
    assert list(fr["objective"]) == [0.0, 0.0, 0.0] and fr["optimal"].all()
    th = entry_thresholds(empty, {"fund": 1.0}, allocate(empty, {"fund": 1.0}))
    assert th.empty and "enter_value" in th.columns


def _fake_milp(monkeypatch, edit):
    real = alloc_model.milp

    def fake(c, **kw):
        res = real(c, **kw)
        edit(res)
        return res
    monkeypatch.setattr(alloc_model, "milp", fake)


def test_solver_noise_is_snapped_before_the_recheck(monkeypatch):
    # HiGHS accepts a semi-continuous value within mip_feasibility_tolerance (1e-6) of an
    # allowed one; 4e-7 for an unfunded candidate with a minimum share of 0.5 would otherwise
    # read as "selected below its minimum" and fail the re-check.
    cands = pd.DataFrame({"value": [5.0, 1.0], "fund": [4.0, 4.0]}, index=["a", "b"])

    def noise(res):
        res.x = res.x.copy()
        res.x[0] = 1.0 - 4e-7      # full request, within tolerance
        res.x[1] = 4e-7            # not funded, within tolerance of 0
    _fake_milp(monkeypatch, noise)
    res = allocate(cands, {"fund": 5.0}, min_fraction=0.5)
    assert res.fractions["a"] == 1.0 and res.fractions["b"] == 0.0
    assert list(res.selected) == [True, False]
    assert res.objective == 5.0


def test_noise_beyond_tolerance_is_still_refused(monkeypatch):
    cands = pd.DataFrame({"value": [5.0, 1.0], "fund": [4.0, 4.0]}, index=["a", "b"])

    def noise(res):
        res.x = res.x.copy()
        res.x[1] = 1e-3            # clearly inside the forbidden gap (0, 0.5)
        res.fun = -5.0 - 1e-3
    _fake_milp(monkeypatch, noise)
    with pytest.raises(AllocationError, match="semi_continuity"):
        allocate(cands, {"fund": 5.0}, min_fraction=0.5)


@pytest.mark.parametrize("status, message, expected", [
    (1, "Time limit reached. (HiGHS Status 13: Time limit reached)", "time_limit"),
    (1, "Iteration limit reached. (HiGHS Status 14: Iteration limit reached)",
     "iteration_limit"),
    (4, "The HiGHS status code was not recognized. (HiGHS Status 16: Solution limit reached)",
     "node_limit"),
])
def test_a_solver_limit_is_reported(monkeypatch, status, message, expected):
    def stopped(res):
        res.status, res.message, res.mip_gap = status, message, 0.25
    _fake_milp(monkeypatch, stopped)
    res = allocate(_three(), {"fund": 10.0, "loan": 10.0})
    assert res.status == expected and res.limit_reached and not res.optimal
    assert res.mip_gap == 0.25 and "25.00%" in res.note and "stopped" in res.note


def test_a_limit_before_any_answer_is_a_named_error(monkeypatch):
    def nothing(res):
        res.status, res.message, res.x = 1, "Time limit reached. (HiGHS Status 13)", None
    _fake_milp(monkeypatch, nothing)
    with pytest.raises(AllocationTimeout, match="time limit"):
        allocate(_three(), {"fund": 10.0, "loan": 10.0})


def test_a_real_time_limit_is_reported():
    # 400 all-or-nothing candidates under 3 budgets and 30 share caps: not provable in 0.05 s
    rng = np.random.default_rng(3)
    cands, budgets = random_instance(rng, 400, n_keys=3, tight=0.3)
    cands["grp"] = rng.integers(0, 30, 400).astype(str)
    caps = GroupCap.per_value(cands, "grp", 0.06)
    try:
        res = allocate(cands, budgets, group_caps=caps, time_limit_s=0.05, mip_rel_gap=0.0)
    except AllocationTimeout:
        return                      # no incumbent in time: also a named, reported stop
    assert res.limit_reached == (res.status == "time_limit")
    if res.limit_reached:
        assert not res.optimal and "time limit" in res.note
        check_solution(cands, budgets, res, group_caps=caps)


def test_result_is_frozen():
    cands = pd.DataFrame({"value": [3.0], "fund": [5.0]}, index=["a"])
    res = allocate(cands, {"fund": 6.0})
    with pytest.raises(AttributeError):
        res.objective = 0.0


# ----------------------------------------------------------------------------------------------
# Entry thresholds
# ----------------------------------------------------------------------------------------------
def test_entry_thresholds_all_or_nothing_are_exact():
    rng = np.random.default_rng(3)
    cands, budgets = random_instance(rng, 12)
    res = allocate(cands, budgets)
    th = entry_thresholds(cands, budgets, res, max_candidates=3)
    assert len(th) == len(cands)
    explained = th[th["note"] == ""]
    assert len(explained) == 6
    for cid, row in explained.iterrows():
        if row["selected"]:
            v = row["leave_value"]
            below = allocate(cands.assign(value=cands["value"].where(cands.index != cid,
                                                                      v - 1e-3)), budgets)
            above = allocate(cands.assign(value=cands["value"].where(cands.index != cid,
                                                                      v + 1e-3)), budgets)
            assert not below.selected[cid] and above.selected[cid]
        else:
            v = row["enter_value"]
            assert v >= row["value"] - 1e-9
            above = allocate(cands.assign(value=cands["value"].where(cands.index != cid,
                                                                      v + 1e-3)), budgets)
            below = allocate(cands.assign(value=cands["value"].where(cands.index != cid,
                                                                      v - 1e-3)), budgets)
            assert above.selected[cid] and not below.selected[cid]
            f = row["enter_request_fraction"]
            if np.isfinite(f):
                # at the reported request fraction, funding it costs nothing (it enters)
                scaled = cands.copy()
                scaled.loc[cid, list(budgets)] *= f
                forced = allocate(scaled, budgets, locked_in=[cid])
                assert forced.objective >= res.objective - 1e-6 * abs(res.objective)
        assert row["exact"]


def test_entry_thresholds_semicontinuous_are_upper_bounds():
    rng = np.random.default_rng(8)
    cands, budgets = random_instance(rng, 12)
    kw = dict(min_fraction=0.4)
    res = allocate(cands, budgets, **kw)
    th = entry_thresholds(cands, budgets, res, max_candidates=2, **kw)
    for cid, row in th[~th["selected"]].iterrows():
        v = row["enter_value"]
        if np.isfinite(v):
            # at the reported value the candidate is (weakly) worth funding: forcing it in
            # costs nothing
            forced = allocate(cands.assign(value=cands["value"].where(cands.index != cid, v)),
                              budgets, locked_in=[cid], **kw)
            assert forced.objective >= res.objective - 1e-6 * abs(res.objective)
            if row["exact"]:
                lower = allocate(
                    cands.assign(value=cands["value"].where(cands.index != cid, v - 1e-2)),
                    budgets, locked_in=[cid], **kw)
                assert lower.objective < res.objective
    for cid, row in th[th["selected"]].iterrows():
        v = row["leave_value"]
        if row["exact"] and np.isfinite(v):
            # just below the reported value, keeping it in is worse than dropping it
            low = cands.assign(value=cands["value"].where(cands.index != cid, v - 1e-2))
            kept = allocate(low, budgets, locked_in=[cid], **kw)
            dropped = allocate(low, budgets, locked_out=[cid], **kw)
            assert kept.objective < dropped.objective


# ----------------------------------------------------------------------------------------------
# Warm-started frontier (issue 18): every point as good as a fresh solve, curve non-decreasing
# ----------------------------------------------------------------------------------------------
def _frontier_instance(seed=5, n=48):
    """Semi-continuous candidates with share caps and saturating concave terms (the domain's
    shape), several copies of each request so that dominance and fixing have work to do."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(2, 12, (n // 4, 2)).round(1)
    req = np.repeat(base, 4, axis=0)
    cands = pd.DataFrame({"r0": req[:, 0], "r1": req[:, 1] * 0.3,
                          "value": req.sum(axis=1) * rng.uniform(0.5, 1.5, n),
                          "country": rng.choice(["KOR", "AUS", "IDN", "VNM"], n),
                          "mineral": rng.choice(list("abc"), n),
                          "w": rng.uniform(0.05, 0.6, n)}, index=[f"c{i:02d}" for i in range(n)])
    budgets = {"r0": 0.2 * cands["r0"].sum(), "r1": 0.2 * cands["r1"].sum()}
    kw = dict(min_fraction=0.5,
              group_caps=GroupCap.per_value(cands, "country", 0.5, kind="share"),
              concave_terms=[ConcaveTerm(f"div {g}", (cands["w"] * (cands["mineral"] == g)).to_dict(),
                                         [0.25, 0.5, 1.0], [30.0, 24.0, 18.0, 0.0]) for g in "abc"])
    return cands, budgets, kw


@pytest.mark.parametrize("vary", ["r0", "r1"])
def test_warm_frontier_points_equal_fresh_solves_within_the_gap(vary, monkeypatch):
    monkeypatch.setattr(alloc_presolve, "FIXING_MIN_CANDIDATES", 20)      # presolve on every point
    cands, budgets, kw = _frontier_instance()
    cur = budgets[vary]
    grid = np.linspace(0.25 * cur, 5.0 * cur, 16)      # the top saturates: the other budget binds
    known = allocate(cands, budgets, **kw)
    solves = []
    spied = alloc_mod._solve_point

    def spy(m, k, b, inc):
        solves.append(b)
        return spied(m, k, b, inc)
    monkeypatch.setattr(alloc_frontier, "_solve_point", spy)
    gap = 1e-4
    fr = frontier(cands, budgets, vary, grid, known=known, mip_rel_gap=gap, **kw)
    assert list(fr["budget"]) == pytest.approx(list(grid))
    assert fr["optimal"].all() and (fr["mip_gap"] <= gap + 1e-12).all()
    obj = fr["objective"].to_numpy()
    assert np.all(np.diff(obj) >= 0.0)                     # non-decreasing by construction
    assert len(solves) < len(grid)                         # some points settled without a solve
    for j, b in enumerate(grid):
        bj = dict(budgets, **{vary: float(b)})
        exact = allocate(cands, bj, presolve=False, mip_rel_gap=1e-9, **kw)
        check_solution(cands, bj, exact, **kw)
        # the exact optimum bounds the point from above; the point is within the gap below it
        assert obj[j] <= exact.objective + 1e-7 * max(1.0, abs(exact.objective))
        assert obj[j] >= exact.objective - gap * abs(exact.objective) - 1e-7
        assert fr[f"allocated_{vary}"][j] <= b * (1 + 1e-9) + 1e-9


def test_warm_frontier_agrees_with_the_independent_path():
    cands, budgets, kw = _frontier_instance(seed=9)
    grid = np.linspace(0.2, 2.0, 12) * budgets["r0"]
    warm = frontier(cands, budgets, "r0", grid, **kw)
    cold = frontier(cands, budgets, "r0", grid, warm_start=False, **kw)
    assert cold["solve_time_s"].gt(0).all() and not cold["reused"].any()
    # both within 1e-4 of the optimum, so within about 1e-4 of each other
    assert warm["objective"].to_numpy() == pytest.approx(cold["objective"].to_numpy(), rel=2e-4)


def test_frontier_ignores_a_known_allocation_of_another_model():
    cands, budgets, kw = _frontier_instance(seed=3)
    other = allocate(cands.assign(value=cands["value"] * 2), budgets, **kw)   # other objective
    grid = np.linspace(0.5, 1.5, 5) * budgets["r0"]
    fr = frontier(cands, budgets, "r0", grid, known=other, **kw)
    plain = frontier(cands, budgets, "r0", grid, **kw)
    assert fr["objective"].to_numpy() == pytest.approx(plain["objective"].to_numpy(), rel=2e-4)
    assert fr["objective"].max() < other.objective


# ----------------------------------------------------------------------------------------------
# Exact entry values for every left-out candidate (issue 18)
# ----------------------------------------------------------------------------------------------
def best_subset_with(cands, budgets, i, caps=(), concave=()):
    """Brute force: the best all-or-nothing objective among subsets that contain ``i``."""
    keep = cands.copy()
    # a huge value on i makes every best subset contain it when some feasible subset does;
    # the objective is then corrected for the bonus
    bonus = 1e6
    keep.loc[i, "value"] = keep.loc[i, "value"] + bonus
    return enumerate_all_or_nothing(keep, budgets, caps, concave) - bonus


def test_entry_values_all_or_nothing_equal_brute_force():
    rng = np.random.default_rng(21)
    cands, budgets = random_instance(rng, 11)
    caps = GroupCap.per_value(cands, "country", 0.7, kind="share")
    concave = [ConcaveTerm("div", (cands["r1"] / cands["r1"].sum()).to_dict(), [0.2, 0.4],
                           [12.0, 6.0, 0.0])]
    kw = dict(group_caps=caps, concave_terms=concave, mip_rel_gap=1e-9)
    res = allocate(cands, budgets, **kw)
    opt = enumerate_all_or_nothing(cands, budgets, caps, concave)
    assert res.objective == pytest.approx(opt, rel=1e-9)
    ev = entry_values(cands, budgets, res, **kw)
    left_out = list(res.selected[~res.selected].index)
    assert sorted(ev.index) == sorted(left_out) and len(left_out) >= 4
    for i in left_out:
        with_i = best_subset_with(cands, budgets, i, caps, concave)
        if not np.isfinite(with_i):
            assert ev.at[i, "value_increase"] == np.inf
            continue
        # all-or-nothing: it enters once its value makes up the loss of the best set with it
        assert ev.at[i, "value_increase"] == pytest.approx(opt - with_i, abs=1e-6)
        assert ev.at[i, "exact"] and ev.at[i, "solves"] >= 1


def test_entry_values_semicontinuous_equal_bisection_on_the_value():
    # brute force by bisection: each probe re-solves the whole MILP with the value raised and
    # asks whether funding the candidate is (weakly) optimal
    cands, budgets, kw = _frontier_instance(seed=11, n=24)
    kw = dict(kw, mip_rel_gap=1e-9)
    res = allocate(cands, budgets, **kw)
    ev = entry_values(cands, budgets, res, n_jobs=1, **kw)
    assert ev["exact"].all()
    for i in list(ev.index)[:3]:
        def enters(v, i=i):
            raised = cands.assign(value=cands["value"].where(cands.index != i, v))
            forced = allocate(raised, budgets, locked_in=[i], **kw)
            free = allocate(raised, budgets, **kw)
            return forced.objective >= free.objective - 1e-7 * max(1.0, abs(free.objective))
        lo, hi = float(cands.at[i, "value"]), float(cands.at[i, "value"]) + 200.0
        assert enters(hi)
        for _ in range(24):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if enters(mid) else (mid, hi)
        assert ev.at[i, "enter_value"] == pytest.approx(hi, abs=1e-4 * max(1.0, hi))


def test_entry_values_skip_locked_out_and_report_impossible_entries():
    rng = np.random.default_rng(4)
    cands, budgets = random_instance(rng, 10)
    cands.loc["big", ["value", "r0", "r1", "country"]] = [50.0, 1e4, 1.0, "KOR"]   # never fits
    res = allocate(cands, budgets, locked_out=["c0"])
    ev = entry_values(cands, budgets, res, locked_out=["c0"])
    assert "c0" not in ev.index
    assert ev.at["big", "value_increase"] == np.inf and ev.at["big", "exact"]
    assert not set(ev.index) & set(res.selected[res.selected].index)


# ----------------------------------------------------------------------------------------------
# The what-ifs' own HiGHS path (issue 18): same answers as scipy's milp
# ----------------------------------------------------------------------------------------------
def _coverage_instance(seed=3, n=14):
    """All-or-nothing candidates with a share cap, a concave term and a coverage constraint."""
    rng = np.random.default_rng(seed)
    cands, budgets = random_instance(rng, n)
    cands["mineral"] = rng.choice(list("abcd"), n)
    kw = dict(group_caps=GroupCap.per_value(cands, "country", 0.7, kind="share"),
              concave_terms=[ConcaveTerm("div", (cands["r1"] / cands["r1"].sum()).to_dict(),
                                         [0.2, 0.4], [12.0, 6.0, 0.0])],
              extra_constraints=[MinGroupsCovered("minerals", "mineral", 3)],
              mip_rel_gap=1e-9)
    return cands, budgets, kw


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_highs_model_solves_like_scipy_milp(seed):
    """_HighsModel.solve (highspy, fixed candidates out of the matrix, lean options) gives the
    optimum of _Model.solve (scipy milp) on the same bounds, and says infeasible alike."""
    cands, budgets, kw = _frontier_instance(seed=seed, n=24)
    kw = dict(kw, mip_rel_gap=1e-9)
    plain = alloc_mod._Model(cands, budgets, **kw)
    fast = alloc_mod._HighsModel(cands, budgets, **kw)
    ub = plain.ub.copy()
    ub[:plain.n:3] = 0.0                        # some candidates fixed at 0
    a, _ = plain.solve(ub=ub)
    b, _ = fast.solve(ub=ub)
    assert b.status == a.status == 0
    assert b.fun == pytest.approx(a.fun, rel=1e-8)
    assert b.x.shape == a.x.shape and np.all(b.x[:plain.n][::3] == 0.0)
    assert plain.objective_of(b.x[:plain.n])[0] == pytest.approx(-a.fun, rel=1e-8)
    assert b.mip_dual_bound <= b.fun + 1e-9 * abs(b.fun)
    row_hi = plain.row_hi.copy()
    row_hi[0] = -1.0                            # a budget below zero: nothing fits
    c, _ = fast.solve(row_hi=row_hi)
    assert c.status == 2 and c.x is None


@pytest.mark.parametrize("seed", [4, 5])
def test_entry_milp_cutoff_finds_the_optimum_or_reports_nothing_better(seed):
    """A cutoff above the optimum (minimisation form: below it) leaves HiGHS either nothing
    (status 2) or no answer better than the optimum; a cutoff it can beat changes nothing."""
    cands, budgets, kw = _frontier_instance(seed=seed, n=24)
    m = alloc_mod._Model(cands, budgets, **dict(kw, mip_rel_gap=1e-9))
    best = alloc_mod._entry_milp(m, m.c, m.lb, m.ub, m.integ)
    scipy_best, _ = m.solve()
    assert best.status == 0 and best.fun == pytest.approx(scipy_best.fun, rel=1e-9)
    above = alloc_mod._entry_milp(m, m.c, m.lb, m.ub, m.integ, cutoff=best.fun - 1e-3)
    assert above.status == 2 or (above.status == 0 and above.fun >= best.fun - 1e-9)
    below = alloc_mod._entry_milp(m, m.c, m.lb, m.ub, m.integ, cutoff=best.fun + 1.0)
    assert below.status == 0 and below.fun == pytest.approx(best.fun, rel=1e-9)


def test_entry_start_is_a_feasible_allocation_that_funds_the_candidate():
    cands, budgets, kw = _frontier_instance(seed=6, n=24)
    res = allocate(cands, budgets, **kw)
    m = alloc_mod._Model(cands, budgets, **kw)
    sel = res.selected.to_numpy()
    lp = alloc_mod._Relaxation(m)
    starts = 0
    for p in np.flatnonzero(~sel):
        lb, ub, _ = m.apply_locks([p], [])
        start = alloc_mod._entry_start(m, p, sel, lb, ub, lp, res.objective)
        if start is None:
            continue
        starts += 1
        x = alloc_mod._snap(m, start.x)
        viol, _ = alloc_mod._recheck(m, x)
        assert all(v <= 1e-6 for v in viol.values()), viol
        assert x[p] >= m.lo[p] - 1e-9
        assert np.all(x[~sel & (np.arange(m.n) != p)] == 0.0)
        # its value can only be below the optimum (p is left out of it)
        assert m.objective_of(x)[0] <= res.objective + 1e-6 * abs(res.objective)
    assert starts >= 1
    cov = MinGroupsCovered("minerals", "mineral", 2)
    mc = alloc_mod._Model(cands, budgets, **dict(kw, extra_constraints=[cov]))
    assert alloc_mod._entry_start(mc, int(np.flatnonzero(~sel)[0]), sel, mc.lb, mc.ub,
                                  alloc_mod._Relaxation(mc), res.objective) is None


def test_entry_values_with_coverage_and_locks_equal_brute_force():
    """The MILP start path (coverage binaries) and a must-fund lock, against enumeration."""
    cands, budgets, kw = _coverage_instance()
    res = allocate(cands, budgets, **kw)
    ev = entry_values(cands, budgets, res, **kw)
    chosen = list(res.selected[res.selected].index)
    left_out = list(res.selected[~res.selected].index)
    assert sorted(ev.index) == sorted(left_out) and len(left_out) >= 3

    def best_with(extra_in, lock=()):
        """Best all-or-nothing objective funding ``extra_in`` and ``lock`` (enumeration)."""
        n = len(cands)
        masks = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
        req = cands[list(budgets)].to_numpy()
        ok = np.all(masks @ req <= np.array(list(budgets.values())) + 1e-9, axis=1)
        amount = req.sum(axis=1)
        for cap in kw["group_caps"]:
            mask = (cands[cap.column] == cap.value).to_numpy()
            ok &= masks @ (amount * mask) <= cap.limit * (masks @ amount) + 1e-9
        minerals = cands["mineral"].to_numpy()
        covered = np.stack([masks[:, minerals == g].any(axis=1) for g in "abcd"]).sum(axis=0)
        ok &= covered >= 3
        for i in (extra_in, *lock):
            ok &= masks[:, cands.index.get_loc(i)]
        t = kw["concave_terms"][0]
        s = masks @ _vec(cands, t.weights)
        obj = masks @ cands["value"].to_numpy() + np.array(
            [_pwl(v, t.breakpoints, t.slopes) for v in s])
        return float(np.where(ok, obj, -np.inf).max())

    for i in left_out:
        with_i = best_with(i)
        expect = res.objective - with_i if np.isfinite(with_i) else np.inf
        assert ev.at[i, "value_increase"] == pytest.approx(expect, abs=1e-6)
        assert ev.at[i, "exact"]
    # with a must-fund lock on a chosen candidate the answers hold against the locked optimum
    lock = chosen[:1]
    res_l = allocate(cands, budgets, **dict(kw, locked_in=lock))
    ev_l = entry_values(cands, budgets, res_l, n_jobs=1, **dict(kw, locked_in=lock))
    for i in ev_l.index:
        with_i = best_with(i, lock)
        expect = res_l.objective - with_i if np.isfinite(with_i) else np.inf
        assert ev_l.at[i, "value_increase"] == pytest.approx(expect, abs=1e-6)


def test_an_infeasible_allocation_is_explained_in_the_officers_language():
    """AllocationInfeasible words its explanation from the message catalogues (issue 26): the
    Korean text is the Korean template filled with the conflicts' own Korean wording, the English
    ``str(exc)`` keeps the constraints' names for the command line."""
    from evaluator import messages

    cands = pd.DataFrame({"value": [1.0, 2.0, 1.5], "fund_krw_bn": [60.0, 60.0, 10.0]}, index=["A", "B", "C"])
    with pytest.raises(AllocationInfeasible) as info:
        allocate(cands, {"fund_krw_bn": 100.0}, locked_in=["A", "B"])
    exc = info.value
    assert "must fund A" in str(exc) and set(exc.conflicts) == {"must fund A", "must fund B", "budget fund_krw_bn"}
    ko = exc.text("ko")
    conflicts = "; ".join(m.text("ko") for m in exc.conflict_messages)
    budget = messages.text("budget_fund_krw_bn", "ko")
    assert ko == messages.catalogue("ko")["infeasible_conflicts_minimal"].format(
        conflicts=conflicts, budgets=f"{budget} ≤ 100")
    assert "No allocation" not in ko and "must fund" not in ko
    assert exc.text("en").startswith("No allocation satisfies these together: A must be funded (locked in)")
    with pytest.raises(AllocationInfeasible) as info:
        allocate(cands, {"fund_krw_bn": 100.0}, locked_in=["A"], locked_out=["A"])
    assert info.value.text("ko") == messages.catalogue("ko")["infeasible_locked_both"].format(ids="A")
