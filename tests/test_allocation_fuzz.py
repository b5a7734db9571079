"""Fuzz of the allocator (issue 13): every well-formed question gets a re-checked answer.

A few hundred seeded random instances: empty and all-ineligible candidate sets, budgets of 0,
1e-9 and +inf, caps of 0 (absolute and share), every objective form the module supports (value
only, value plus diminishing-returns terms, diminishing returns only), minimum shares, coverage
and linear constraints, random and conflicting locks. Each answer is either a result that passes
the re-check below, or :class:`AllocationInfeasible` where something must be funded (a lock, a
coverage floor or a lower bound). Nothing else may be raised.

The re-check here is written from the model's definition (``evaluator/allocation`` package
notes), independently of the module's own ``_recheck``: plain loops over the constraints.
Then the same for the domain layer: random scenarios over the sample applications, every
objective of :mod:`evaluator.portfolio`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluator import pipeline, portfolio
from evaluator.allocation import (
    SELECTED_TOL,
    AllocationInfeasible,
    ConcaveTerm,
    GroupCap,
    LinearConstraintSpec,
    MinGroupsCovered,
    allocate,
)
from evaluator.reference import load_reference
from models.loader import load_applications
from models.scenario import OBJECTIVES, default_scenario

TOL = 1e-6          # relative, as in the module's contract (RECHECK_TOL)
N_CASES = 300
STATUSES = {"optimal", "time_limit", "iteration_limit", "node_limit", "no_candidates"}


# ----------------------------------------------------------------------------------------------
# Random instances
# ----------------------------------------------------------------------------------------------
def _budget(rng, total):
    return float(rng.choice([0.0, 1e-9, 0.05 * total, 0.3 * total, 0.7 * total, np.inf],
                            p=[0.15, 0.1, 0.15, 0.3, 0.2, 0.1]))


def random_case(seed: int) -> tuple[pd.DataFrame, dict, dict]:
    """(candidates, budgets, keyword arguments of ``allocate``) for one seed."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([0, 1, 2, 3, 5, 8, 12, 20], p=[0.08, 0.1, 0.1, 0.12, 0.2, 0.2, 0.12, 0.08]))
    keys = [f"r{k}" for k in range(int(rng.integers(1, 4)))]
    ids = [f"c{i}" for i in range(n)]
    cands = pd.DataFrame(index=pd.Index(ids, dtype=object))
    form = rng.choice(["value", "value+concave", "concave"])
    cands["value"] = 0.0 if form == "concave" else rng.normal(3.0, 4.0, n).round(3)
    if rng.random() < 0.15:                      # nothing worth funding
        cands["value"] = -np.abs(cands["value"])
    for k in keys:
        req = rng.uniform(0.5, 10.0, n).round(2)
        req[rng.random(n) < 0.1] = 0.0
        cands[k] = req
    cands["country"] = rng.choice(["AUS", "IDN", "CHL", "KOR"], n)
    cands["mineral"] = rng.choice(["li", "ni", "co"], n)
    budgets = {k: _budget(rng, float(cands[k].sum())) for k in keys}

    lo_kind = rng.choice(["binary", "continuous", "semi", "rows"])
    lo = {"binary": np.ones(n), "continuous": np.zeros(n), "semi": np.full(n, 0.4),
          "rows": rng.choice([0.0, 0.2, 0.5, 1.0], n)}[lo_kind]
    hi = np.where(rng.random(n) < 0.3, np.maximum(lo, rng.uniform(0.3, 1.0, n)), 1.0)
    kw: dict = {"min_fraction": lo, "max_fraction": hi}

    caps = []
    if n and rng.random() < 0.5:
        caps += GroupCap.per_value(cands, "country", float(rng.choice([0.0, 0.3, 0.6, 1.0])),
                                   kind="share",
                                   resource=rng.choice([None, keys[0]]) if rng.random() < 0.5
                                   else None)
    if n and rng.random() < 0.4:
        mineral = str(cands["mineral"].iloc[0])
        total = float(cands[keys].to_numpy().sum())
        caps.append(GroupCap(f"{mineral} absolute", column="mineral", value=mineral,
                             limit=float(rng.choice([0.0, 0.1 * total, total])),
                             resource=None if rng.random() < 0.5 else keys[-1]))
    kw["group_caps"] = caps

    extra = []
    if rng.random() < 0.3:
        extra.append(LinearConstraintSpec("loss cap", dict(zip(ids, rng.uniform(0, 2, n))),
                                          upper=float(rng.choice([0.0, 1.0, 5.0]))))
    if rng.random() < 0.2:
        extra.append(MinGroupsCovered("minerals covered", "mineral", int(rng.integers(0, 3))))
    kw["extra_constraints"] = extra

    if form != "value" and n:
        kw["concave_terms"] = [ConcaveTerm(
            f"div {m}", (cands["mineral"] == m).astype(float) * rng.uniform(0, 1, n), [0.5, 1.0],
            [float(rng.uniform(2, 6)), 1.0, 0.0]) for m in ("li", "ni")]
    perm = rng.permutation(n)
    n_in = int(rng.choice([0, 1, 2], p=[0.7, 0.2, 0.1])) if n else 0
    n_out = int(rng.choice([0, 1, n], p=[0.6, 0.3, 0.1])) if n else 0
    kw["locked_in"] = [ids[p] for p in perm[:n_in]]
    kw["locked_out"] = [ids[p] for p in perm[n_in:n_in + n_out]]
    if n >= 2 and rng.random() < 0.03:           # contradictory: in and out at once
        kw["locked_out"] = kw["locked_out"] + kw["locked_in"][:1]
    return cands, budgets, kw


# ----------------------------------------------------------------------------------------------
# Independent re-check
# ----------------------------------------------------------------------------------------------
def violations(cands, budgets, res, kw) -> list[str]:
    """Every constraint of the model checked on the result, from its definition."""
    out = []
    keys = list(budgets)
    x = res.fractions.reindex(cands.index).to_numpy(float)
    lo, hi = np.asarray(kw["min_fraction"], float), np.asarray(kw["max_fraction"], float)
    if not np.all(np.isfinite(x)):
        return ["non-finite fraction"]
    req = cands[keys].to_numpy(float)
    amounts = res.amounts.reindex(cands.index)[keys].to_numpy(float)
    if np.abs(amounts - req * x[:, None]).max(initial=0.0) > 1e-9:
        out.append("amounts != request x fraction")
    for k, key in enumerate(keys):
        used = float(sum(req[i, k] * x[i] for i in range(len(x))))
        if used > budgets[key] + TOL * max(1.0, budgets[key] if np.isfinite(budgets[key]) else 1):
            out.append(f"budget {key}: {used} > {budgets[key]}")
    locked_in = set(kw.get("locked_in", ()))
    for i, cid in enumerate(cands.index):
        if x[i] < 0 or x[i] > hi[i] + TOL:
            out.append(f"{cid}: fraction {x[i]} outside [0, {hi[i]}]")
        # semi-continuity, with the snap: exactly 0, or at least the minimum share
        floor = max(lo[i], 1e-6) if cid in locked_in else lo[i]
        if x[i] != 0.0 and x[i] < floor - TOL:
            out.append(f"{cid}: fraction {x[i]} in the forbidden gap below {floor}")
        if lo[i] > 0 and 0.0 < x[i] <= 1e-6 and cid not in locked_in:
            out.append(f"{cid}: {x[i]} within tolerance of 0 was not snapped to 0")
        if bool(res.selected[cid]) != (x[i] > SELECTED_TOL):
            out.append(f"{cid}: selected flag disagrees with the fraction")
        if cid in locked_in and x[i] < floor - TOL:
            out.append(f"must fund {cid} broken")
        if cid in kw.get("locked_out", ()) and x[i] != 0.0:
            out.append(f"must not fund {cid} broken")
    for cap in kw.get("group_caps", ()):
        amount = req.sum(axis=1) if cap.resource is None else cands[cap.resource].to_numpy()
        group = sum(amount[i] * x[i] for i in range(len(x))
                    if cands[cap.column].iat[i] == cap.value)
        total = sum(amount[i] * x[i] for i in range(len(x)))
        limit = cap.limit * total if cap.kind == "share" else cap.limit
        if group > limit + TOL * max(1.0, total):
            out.append(f"cap {cap.name}: {group} > {limit}")
    for spec in kw.get("extra_constraints", ()):
        if isinstance(spec, LinearConstraintSpec):
            v = sum(spec.coefficients[cid] * x[i] for i, cid in enumerate(cands.index))
            if v > spec.upper + TOL * max(1.0, abs(spec.upper)) or v < spec.lower - TOL:
                out.append(f"{spec.name}: {v} outside [{spec.lower}, {spec.upper}]")
        else:
            covered = {cands[spec.groups].iat[i] for i in range(len(x)) if x[i] > SELECTED_TOL}
            if len(covered) < spec.k:
                out.append(f"{spec.name}: {len(covered)} < {spec.k}")
    value = float(sum(cands["value"].iat[i] * x[i] for i in range(len(x))))
    for t in kw.get("concave_terms", ()):
        s = float(sum(t.weights[cid] * x[i] for i, cid in enumerate(cands.index)))
        left = 0.0
        for b, m in zip(list(t.breakpoints) + [np.inf], t.slopes):
            value += m * max(0.0, min(s, b) - left)
            left = b
    if abs(value - res.objective) > 1e-9 * max(1.0, abs(value)):
        out.append(f"objective {res.objective} != recomputed {value}")
    return out


def needs_funding(cands, kw) -> bool:
    """True when x = 0 breaks something: only then may the answer be 'infeasible'."""
    if set(kw.get("locked_in", ())) & set(kw.get("locked_out", ())):
        return True
    if kw.get("locked_in"):
        return True
    return any(isinstance(c, MinGroupsCovered) and c.k > 0
               for c in kw.get("extra_constraints", ()))


# ----------------------------------------------------------------------------------------------
# The fuzz
# ----------------------------------------------------------------------------------------------
def test_fuzz_every_answer_is_rechecked_or_a_named_conflict():
    outcomes = {"funded": 0, "all zero": 0, "infeasible": 0}
    problems = []
    for seed in range(N_CASES):
        cands, budgets, kw = random_case(seed)
        try:
            res = allocate(cands, budgets, time_limit_s=5.0, **kw)
        except AllocationInfeasible as exc:
            outcomes["infeasible"] += 1
            if not needs_funding(cands, kw):
                problems.append(f"seed {seed}: infeasible although funding nothing is allowed")
            if not exc.conflicts:
                problems.append(f"seed {seed}: infeasible without naming a conflict")
            continue
        problems += [f"seed {seed}: {v}" for v in violations(cands, budgets, res, kw)]
        if res.status not in STATUSES:
            problems.append(f"seed {seed}: status {res.status!r}")
        if res.selected.any():
            outcomes["funded"] += 1
            if not res.limit_reached and res.note:
                problems.append(f"seed {seed}: a note on a proven, funded allocation")
        else:
            outcomes["all zero"] += 1
            if not res.note.startswith("Nothing funded"):
                problems.append(f"seed {seed}: all zero without a plain note")
        if not needs_funding(cands, kw) and res.objective < -1e-9:
            problems.append(f"seed {seed}: objective {res.objective} below funding nothing")
    assert problems == []
    # the generator reaches every outcome (otherwise the fuzz tests less than it claims)
    assert min(outcomes.values()) >= 10, outcomes


REF = load_reference()
APPS = load_applications(Path(__file__).resolve().parent.parent / "sample_projects"
                         / "applications.csv", ref=REF).applications


@pytest.fixture(scope="module")
def run():
    return pipeline.run(APPS, default_scenario(), REF)


def test_fuzz_portfolio_every_objective(run):
    rng = np.random.default_rng(13)
    isos = sorted({a.country_iso3 for a in APPS})
    ids = list(run.scores.table.index[run.scores.table["eligible"]])
    problems = []
    for case in range(40):
        ch = {"objective": OBJECTIVES[case % len(OBJECTIVES)],
              "fund_krw_bn": float(rng.choice([0.0, 1e-9, 50.0, 250.0, 1e4])),
              "loan_krw_bn": float(rng.choice([0.0, 1e-9, 10.0, 67.5])),
              "country_cap_share": float(rng.choice([0.0, 0.3, 1.0])),
              "mineral_cap_share": float(rng.choice([0.0, 0.4, 1.0])),
              "min_fraction": float(rng.choice([0.0, 0.5, 1.0]))}
        if rng.random() < 0.3:
            ch["country_caps_krw_bn"] = {str(rng.choice(isos)): float(rng.choice([0.0, 20.0]))}
        if rng.random() < 0.3:
            ch["expected_loss_cap_krw_bn"] = float(rng.choice([0.0, 1.0]))
        s = default_scenario().replace(**ch)
        lock_in = list(rng.choice(ids, int(rng.integers(0, 2)), replace=False))
        lock_out = [i for i in rng.choice(ids, int(rng.integers(0, 3)), replace=False)
                    if i not in lock_in]
        try:
            pa = portfolio.allocate_portfolio(run.evaluation, run.scores.table, s, REF,
                                              locked_in=lock_in, locked_out=lock_out)
        except AllocationInfeasible as exc:
            if not lock_in or not exc.conflicts:
                problems.append(f"case {case}: infeasible without a lock to blame")
            continue
        t = pa.table
        amount = t["fund_krw_bn"] + t["loan_krw_bn"]
        if t["fund_krw_bn"].sum() > s.fund_krw_bn * (1 + TOL) + TOL:
            problems.append(f"case {case}: fund budget")
        if t["loan_krw_bn"].sum() > s.loan_krw_bn * (1 + TOL) + TOL:
            problems.append(f"case {case}: loan budget")
        for col, cap in (("country_iso3", s.country_cap_share), ("mineral", s.mineral_cap_share)):
            if amount.groupby(t[col]).sum().max() > cap * amount.sum() + TOL * max(1, amount.sum()):
                problems.append(f"case {case}: {col} share cap")
        for iso, lim in s.country_caps_krw_bn.items():
            if amount[t["country_iso3"] == iso].sum() > lim + TOL:
                problems.append(f"case {case}: absolute cap {iso}")
        if s.expected_loss_cap_krw_bn is not None and \
                t["expected_loss_krw_bn"].sum() > s.expected_loss_cap_krw_bn + TOL:
            problems.append(f"case {case}: expected loss cap")
        if (amount[~t["candidate"]] > 0).any() or t.loc[lock_out, "selected"].any():
            problems.append(f"case {case}: a non-candidate or locked-out application funded")
        if not t.loc[lock_in, "selected"].all():
            problems.append(f"case {case}: a locked-in application not funded")
        frac = t["fraction"][t["selected"]]
        floor = np.minimum(s.min_fraction, pa.candidates["max_fraction"].reindex(frac.index))
        caps = pa.candidates.reindex(t.index)
        over_cap = ((t["loan_krw_bn"] > caps["loan_cap_krw_bn"] + TOL)
                    | (amount > caps["support_cap_krw_bn"] + TOL))[t["candidate"]]
        if (frac < floor - TOL).any() or over_cap.any():
            problems.append(f"case {case}: minimum share or coverage cap")
        if not t["selected"].any() and not pa.note.startswith("Nothing funded"):
            problems.append(f"case {case}: all zero without a note")
    assert problems == []


def test_the_recheck_catches_each_kind_of_break():
    """The fuzz's own checker is not vacuous: each broken result is reported."""
    import dataclasses
    cands = pd.DataFrame({"value": [4.0, 3.0], "r0": [5.0, 5.0], "country": ["AUS", "IDN"],
                          "mineral": ["li", "li"]}, index=["a", "b"])
    kw = {"min_fraction": np.array([0.5, 0.5]), "max_fraction": np.array([1.0, 1.0]),
          "group_caps": [GroupCap("AUS 0", column="country", value="AUS", limit=0.0)],
          "extra_constraints": [], "locked_in": ["b"], "locked_out": []}
    res = allocate(cands, {"r0": 6.0}, **kw)
    assert violations(cands, {"r0": 6.0}, res, kw) == []

    def broken(x):
        fr = pd.Series(x, index=cands.index)
        return dataclasses.replace(res, fractions=fr, selected=fr > SELECTED_TOL,
                                   amounts=cands[["r0"]].mul(fr, axis=0),
                                   objective=float(cands["value"] @ fr))
    for x, says in (([0.0, 1.5], "outside"), ([0.2, 1.0], "forbidden gap"),
                    ([4e-7, 1.0], "not snapped"), ([1.0, 1.0], "budget"),
                    ([0.5, 0.7], "cap AUS 0"), ([0.0, 0.0], "must fund b")):
        assert any(says in v for v in violations(cands, {"r0": 6.0}, broken(x), kw)), says


def test_fuzz_large_sets_take_the_fixing_path_and_agree_with_the_full_solve():
    """From FIXING_MIN_CANDIDATES on, allocate fixes candidates by dominance and reduced cost
    before branch and bound: random larger sets (all objective forms, caps, locks, copies of
    the same candidate) re-checked, and the optimum compared with the full solve."""
    from evaluator import allocation as alloc_mod
    problems = []
    for seed in range(12):
        rng = np.random.default_rng(1000 + seed)
        base, budgets, kw = random_case(seed)
        while len(base) == 0:
            base, budgets, kw = random_case(seed + 500)
        n = alloc_mod.FIXING_MIN_CANDIDATES + int(rng.integers(0, 100))
        take = rng.integers(0, len(base), n)
        cands = base.iloc[take].copy()
        cands.index = pd.Index([f"k{i}" for i in range(n)], dtype=object)
        if seed % 2:     # distinct requests; even seeds keep copies (dominance classes)
            cands[list(budgets)] = cands[list(budgets)].to_numpy() * rng.uniform(0.9, 1.1, (n, 1))
        cands["value"] = cands["value"].to_numpy() * rng.uniform(0.9, 1.1, n)
        budgets = {k: float(rng.choice([0.02, 0.1])) * float(cands[k].sum()) for k in budgets}
        big = {"min_fraction": np.asarray(kw["min_fraction"], float)[take],
               "max_fraction": np.asarray(kw["max_fraction"], float)[take],
               "group_caps": GroupCap.per_value(cands, "country", 0.5),
               "extra_constraints": [LinearConstraintSpec(
                   "loss cap", dict(zip(cands.index, rng.uniform(0, 1, n))), upper=3.0)],
               "concave_terms": [ConcaveTerm(f"div {m}", (cands["mineral"] == m).astype(float)
                                             * rng.choice([0.5, 20.0], n), [0.25, 1.0],
                                             [8.0, 3.0, 0.0]) for m in ("li", "ni")]
               if seed % 3 else [],
               "locked_in": [cands.index[0]] if seed % 4 == 1 else [],
               "locked_out": list(cands.index[1:4])}
        try:
            res = allocate(cands, budgets, mip_rel_gap=1e-9, **big)
            ref = allocate(cands, budgets, mip_rel_gap=1e-9, presolve=False, **big)
        except AllocationInfeasible:
            if not big["locked_in"]:
                problems.append(f"seed {seed}: infeasible without a lock")
            continue
        problems += [f"seed {seed}: {v}" for v in violations(cands, budgets, res, big)]
        if abs(res.objective - ref.objective) > 1e-7 * max(1.0, abs(ref.objective)):
            problems.append(f"seed {seed}: {res.objective} != full solve {ref.objective}")
    assert problems == []
