"""Budget allocation over candidates: a domain-free mixed-integer programme.

The module knows nothing about mines. A *candidate* is a row of a table with a value column
(the value of funding it fully) and one request column per budget key (the amount of that
resource it asks for when fully funded). The domain layer builds that table from scored
applications and calls :func:`allocate`; :func:`frontier` and :func:`entry_thresholds` answer the
officers' what-if questions on the same model.

Model
-----
For candidate ``i`` the decision is a funded fraction ``x_i`` [fraction of its request]:

* ``x_i = 0`` (not selected) or ``min_fraction_i <= x_i <= max_fraction_i`` (selected). This is a
  semi-continuous variable (scipy ``milp`` ``integrality=2``). ``min_fraction = max_fraction = 1``
  is all-or-nothing (a binary); ``min_fraction = 0`` is plain continuous.
* budgets: ``sum_i request_ik * x_i <= budget_k`` for every key ``k`` [units of the resource].
* group caps (:class:`GroupCap`): ``sum_{i in g} amount_i <= limit`` (absolute) or
  ``sum_{i in g} amount_i - limit * sum_i amount_i <= 0`` (share of the total allocation).
* general linear constraints (:class:`LinearConstraintSpec`) on ``x``.
* coverage (:class:`MinGroupsCovered`): a binary ``z_g <= sum_{i in g} x_i / floor_i`` per group
  and ``sum_g z_g >= k``. Because ``x_i`` is either 0 or at least its floor, ``z_g`` can be 1 only
  if some member of ``g`` is selected.
* diminishing returns (:class:`ConcaveTerm`): a concave piecewise-linear ``f(s)`` of
  ``s = sum_i w_i x_i`` with segment variables ``u_j`` in ``[0, width_j]``, ``sum_j u_j = s``.
  Maximisation fills the steeper segments first because the slopes do not increase, so no
  binaries are needed (the classical lambda/delta formulation, e.g. Williams [1]_, ch. 9).
  When the slopes are 0 beyond a breakpoint ``B`` (the bonus saturates), a weight larger than
  ``B / min_fraction_i`` is clipped to it in the model: a selected candidate saturates the term
  either way, so the optimum is the same, but the LP relaxation no longer lets a sliver of a
  large project buy the whole bonus (coefficient tightening; ``tighten_concave=False`` keeps
  the plain weights). The same argument at every breakpoint ``B_j`` gives valid cuts
  ``u_1 + ... + u_j <= sum_i min(w_i, B_j / min_fraction_i) x_i`` (``_concave_cuts``), also
  added with ``tighten_concave``. Objective and re-check always use the given weights.

Objective: maximise ``sum_i value_i x_i + sum_t f_t(s_t)``.

Presolve (from :data:`FIXING_MIN_CANDIDATES` candidates on): candidates that some optimal
allocation leaves at 0 are fixed there before branch and bound: those that alone, at their
minimum share, break a packing row; those dominated by enough interchangeable candidates
(``_dominated``), where a share cap counts as the absolute cap it implies at the largest
possible total (``_implied_share_rows``); and those whose reduced cost rules them out against
the answer of a small core MILP (``_solve_with_fixing``). All keep the optimum and its proof;
the presolved MILPs run with :data:`FIXING_HIGHS_OPTIONS`. ``presolve=False`` solves the full
model in one go with HiGHS's defaults (the reference path of the tests and benchmarks).

Examples
--------
>>> import pandas as pd
>>> cands = pd.DataFrame({"value": [16.0, 22.0, 12.0, 8.0], "cash": [5.0, 7.0, 4.0, 3.0]},
...                      index=["inv1", "inv2", "inv3", "inv4"])
>>> res = allocate(cands, {"cash": 14.0})
>>> res.objective, list(res.selected[res.selected].index)
(42.0, ['inv2', 'inv3', 'inv4'])

References
----------
.. [1] Williams, H. P. (2013). *Model Building in Mathematical Programming*, 5th ed. Wiley.
.. [2] Weingartner, H. M. (1963). *Mathematical Programming and the Analysis of Capital
   Budgeting Problems*. Prentice-Hall.
.. [3] Chinneck, J. W., and Dravnieks, E. W. (1991). "Locating minimal infeasible constraint
   sets in linear programs." ORSA Journal on Computing 3(2): 157-168 (the deletion filter).
.. [4] Nemhauser, G. L., and Wolsey, L. A. (1988). *Integer and Combinatorial Optimization*.
   Wiley (reduced-cost fixing).
.. [5] Achterberg, T., Bixby, R. E., Gu, Z., Rothberg, E., and Weninger, D. (2020). "Presolve
   reductions in mixed integer programming." INFORMS Journal on Computing 32(2): 473-506
   (dominated columns).
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping, Sequence

import highspy
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, OptimizeResult, linprog, milp

from evaluator import messages
from evaluator.errors import SolverError
from evaluator.messages import Joined, Message

__all__ = [
    "AllocationError",
    "AllocationInfeasible",
    "AllocationResult",
    "AllocationTimeout",
    "ConcaveTerm",
    "GroupCap",
    "LinearConstraintSpec",
    "MinGroupsCovered",
    "allocate",
    "entry_thresholds",
    "entry_values",
    "frontier",
]

#: A candidate counts as selected when its fraction exceeds this [fraction].
SELECTED_TOL = 1e-7
#: Floor imposed by a lock on a candidate whose ``min_fraction`` is 0 [fraction].
LOCK_FLOOR = 1e-6
#: Total fraction of a group's zero-floor candidates that counts as covering the group.
COVERAGE_FLOOR = 0.01
#: Reduced-cost fixing before branch and bound from this many candidates on (below it the
#: full solve is already fast and the extra LP would only add time).
FIXING_MIN_CANDIDATES = 150
#: Candidates kept in the core MILP of the reduced-cost fixing: at least this many, and this
#: many per candidate the LP relaxation funds (the cheapest by reduced cost).
FIXING_CORE = 40
FIXING_CORE_PER_USED = 4
#: HiGHS options of the MILPs solved after the presolve. RINS, RENS and the root reduced-cost
#: heuristic solve sub-MIPs around the LP solution only to find incumbents sooner; the bound,
#: and so the proof of optimality to ``mip_rel_gap``, does not depend on them. On presolved
#: models (few candidates left, many of them near copies of each other) those sub-MIPs cost
#: more than they save; the other heuristics stay on.
FIXING_HIGHS_OPTIONS = {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False,
                        "mip_heuristic_run_root_reduced_cost": False}
#: Relative feasibility tolerance of the independent re-check.
RECHECK_TOL = 1e-6
#: Solver tolerance within which a fraction is snapped to 0 or to its largest value before the
#: re-check [fraction]. HiGHS accepts a semi-continuous or integer value within its
#: ``mip_feasibility_tolerance`` (default 1e-6) of an allowed value, so 4e-7 can come back for a
#: candidate that is not funded; unsnapped it would read as "selected below its minimum share".
SNAP_TOL = 1e-6


# ----------------------------------------------------------------------------------------------
# Exceptions
# ----------------------------------------------------------------------------------------------
class AllocationError(SolverError):
    """The optimiser failed, or its answer broke a constraint on re-check."""


class EntryValuesStopped(AllocationError):
    """:func:`entry_values` stopped because its caller asked it to (``should_stop``)."""


class AllocationTimeout(AllocationError):
    """A solver limit (time, nodes, iterations) stopped HiGHS before it found any allocation."""


class AllocationInfeasible(AllocationError):
    """No allocation satisfies the locks, caps and constraints together.

    Attributes
    ----------
    conflicts : list of str
        Names of a (small, usually minimal) set of locks, caps, constraints and budgets that
        cannot hold together. Names: ``"must fund <id>"``, ``"must not fund <id>"``,
        ``"budget <key>"`` and the names given to caps and constraints.
    conflict_messages : list of evaluator.messages.Message
        The same, as catalogue messages (``constraint_*`` codes) for the officer's language.
    """

    def __init__(self, message: str, conflicts: Sequence[str], conflict_messages: Sequence[Message] = ()):
        super().__init__(message)
        self.conflicts = list(conflicts)
        self.conflict_messages = list(conflict_messages) or [Message("constraint_named", {"name": c})
                                                             for c in self.conflicts]


# ----------------------------------------------------------------------------------------------
# Constraint specifications
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupCap:
    """A cap on the allocation to a group of candidates.

    Parameters
    ----------
    name : str
        Unique name, shown in results and conflict messages.
    members : sequence of candidate ids, optional
        The group, given explicitly. Leave None and give ``column`` and ``value`` instead to
        select the candidates whose ``column`` equals ``value`` (e.g. ``country_iso3 == "IDN"``).
    resource : str or None
        Budget key the cap counts; None counts the sum of all resources.
    limit : float
        Absolute cap [units of ``resource``] for ``kind="absolute"``; share of the total
        allocation [fraction 0-1] for ``kind="share"``.
    kind : {"absolute", "share"}
        ``absolute``: group amount <= limit. ``share``: group amount <= limit x total amount
        (of the same resource, over all candidates).
    column, value : str, object, optional
        The selector alternative to ``members``.
    message : evaluator.messages.Message, optional
        The cap for people (binding constraints, conflicts); default ``constraint_cap_<column>_<kind>``
        quoting ``value`` when the catalogue has that code, else ``constraint_named`` (the name).

    Examples
    --------
    >>> GroupCap("Indonesia <= 30%", column="country_iso3", value="IDN", limit=0.3,
    ...          kind="share")                                           # doctest: +SKIP
    >>> GroupCap("P1+P2 fund", members=["P1", "P2"], resource="fund_krw_bn", limit=80.0)
    ...                                                                  # doctest: +SKIP
    """

    name: str
    members: Sequence[Hashable] | None = None
    resource: str | None = None
    limit: float = math.inf
    kind: str = "absolute"
    column: str | None = None
    value: Any = None
    message: Message | None = None

    def __post_init__(self):
        if self.message is None:  # what the cap is, for people: its kind, column and value
            object.__setattr__(self, "message", _cap_message(self.name, self.column, self.value, self.kind))

    @classmethod
    def per_value(cls, candidates: pd.DataFrame, column: str, limit: float, *,
                  resource: str | None = None, kind: str = "share") -> list["GroupCap"]:
        """One cap per distinct value of ``column`` (e.g. a share cap per country).

        Returns
        -------
        list of GroupCap
            Named ``"<column>=<value> <kind> cap"``.
        """
        return [cls(name=f"{column}={v} {kind} cap", limit=limit, column=column, value=v,
                    resource=resource, kind=kind)
                for v in pd.unique(candidates[column].dropna())]


def _cap_message(name: str, column, value, kind: str) -> Message:
    code = f"constraint_cap_{column}_{kind}"
    if column is not None and code in messages.codes():
        return Message(code, {"value": value})
    return Message("constraint_named", {"name": name})


def _constraint_messages(m) -> dict[str, Message]:
    """Every named constraint, lock and budget of the model ``m`` (its name in results and
    conflicts) -> its catalogue message, made from the specification, not from the name."""
    out = {f"budget {k}": Message("constraint_budget", {"budget": k}) for k in m.keys}
    out.update({f"must fund {i}": Message("constraint_must_fund", {"id": i}) for i in m.locked_in})
    out.update({f"must not fund {i}": Message("constraint_must_not_fund", {"id": i}) for i in m.locked_out})
    for spec in [*m.caps, *m.linear, *m.coverage, *m.concave]:
        out[spec.name] = spec.message or Message("constraint_named", {"name": spec.name})
    return out


def _messages_of(m, names: Sequence[str]) -> tuple[Message, ...]:
    known = _constraint_messages(m)
    return tuple(known.get(nm) or Message("constraint_named", {"name": nm}) for nm in names)


@dataclass(frozen=True)
class LinearConstraintSpec:
    """A general linear constraint ``lower <= sum_i coefficients_i * x_i <= upper`` on fractions.

    Parameters
    ----------
    name : str
        Unique name.
    coefficients : mapping id -> float, or str
        Coefficient per candidate (missing ids count 0), or a column name of ``candidates``.
        E.g. the expected loss of a fully funded loan [KRW bn] for a loan-book loss cap.
    upper, lower : float
        Bounds on the sum (default: ``-inf <= ... <= upper``).
    """

    name: str
    coefficients: Mapping[Hashable, float] | str
    upper: float = math.inf
    lower: float = -math.inf
    message: Message | None = None  # what it is, for people (default: its name as given)


@dataclass(frozen=True)
class MinGroupsCovered:
    """At least ``k`` distinct groups must have a selected candidate.

    Parameters
    ----------
    name : str
        Unique name.
    groups : mapping id -> label, or str
        Group label per candidate (missing ids belong to no group), or a column name.
    k : int
        Minimum number of groups covered.
    """

    name: str
    groups: Mapping[Hashable, Hashable] | str
    k: int
    message: Message | None = None  # what it is, for people (default: its name as given)


@dataclass(frozen=True)
class ConcaveTerm:
    """A concave piecewise-linear bonus ``f(s)`` on ``s = sum_i w_i x_i``, added to the objective.

    ``f(0) = 0``; the slope is ``slopes[0]`` on ``[0, breakpoints[0]]``, ``slopes[j]`` on
    ``[breakpoints[j-1], breakpoints[j]]`` and ``slopes[-1]`` beyond the last breakpoint, so
    ``len(slopes) == len(breakpoints) + 1``. Slopes must not increase (diminishing returns).

    Parameters
    ----------
    name : str
        Unique name.
    weights : mapping id -> float, or str
        Non-negative weight per candidate (missing ids count 0), or a column name.
    breakpoints : sequence of float
        Strictly increasing, positive [units of s].
    slopes : sequence of float
        Non-increasing [objective units per unit of s].
    """

    name: str
    weights: Mapping[Hashable, float] | str
    breakpoints: Sequence[float]
    slopes: Sequence[float]
    message: Message | None = None  # what it is, for people (default: its name as given)

    def evaluate(self, s: float) -> float:
        """Value of ``f(s)`` for ``s >= 0``."""
        b = np.concatenate([[0.0], np.asarray(self.breakpoints, float), [np.inf]])
        widths = np.clip(s - b[:-1], 0.0, np.diff(b))
        return float(np.dot(np.asarray(self.slopes, float), widths))


# ----------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AllocationResult:
    """A solved, re-checked allocation.

    Attributes
    ----------
    fractions : pd.Series
        Funded fraction per candidate [fraction of its request].
    amounts : pd.DataFrame
        Allocated amount per candidate (rows) and resource (columns) [units of the resource].
    selected : pd.Series of bool
        True where the fraction exceeds :data:`SELECTED_TOL`.
    objective : float
        ``sum value_i x_i + sum f_t(s_t)``, recomputed from ``fractions``.
    status : str
        ``"optimal"``; ``"time_limit"``, ``"iteration_limit"`` or ``"node_limit"`` (a solver
        limit stopped HiGHS with a feasible answer, not proven optimal); ``"no_candidates"``
        (nothing to solve); otherwise the solver's message.
    optimal : bool
        Proven optimal to within ``mip_rel_gap``.
    mip_gap : float
        Relative gap reported by HiGHS (0 when proven, or when there was nothing to solve).
    solve_time_s : float
        Wall time of the MILP solve [s].
    binding : list of str
        Constraints with (near) zero slack (their names).
    binding_messages : tuple of evaluator.messages.Message
        The same constraints as catalogue messages (``constraint_*`` codes: kind, column, value).
    slacks : dict
        Slack per constraint (upper side; the lower side for lower-bounded constraints)
        [units of the constraint].
    marginal_values : dict
        Objective gain per extra unit of each budget, with the selection fixed (see Notes of
        :func:`allocate`) [objective units per unit of resource].
    recheck : dict
        Largest violation per constraint family found by the independent re-check (all within
        tolerance, otherwise :class:`AllocationError` had been raised).
    concave_values : dict
        Value of each concave term at the solution [objective units].
    limit_reached : bool
        True when a time, node or iteration limit stopped the solver: the allocation is
        feasible and re-checked, but possibly not the best (``mip_gap`` says how far at most).
    note : str
        Plain-language explanation when nothing is funded (why), or when a limit stopped the
        solver; ``""`` otherwise (English: ``notes`` worded by :mod:`evaluator.messages`).
    notes : tuple of evaluator.messages.Message
        The same explanation as catalogue messages, for the officer's language.
    """

    fractions: pd.Series
    amounts: pd.DataFrame
    selected: pd.Series
    objective: float
    status: str
    optimal: bool
    mip_gap: float
    solve_time_s: float
    binding: list
    slacks: dict
    marginal_values: dict
    recheck: dict
    concave_values: dict = field(default_factory=dict)
    limit_reached: bool = False
    note: str = ""
    notes: tuple = ()
    binding_messages: tuple = ()


# ----------------------------------------------------------------------------------------------
# Model building
# ----------------------------------------------------------------------------------------------
def _per_row(candidates: pd.DataFrame, spec, what: str) -> np.ndarray:
    """Scalar, column name, mapping or array -> float array aligned with the index."""
    n = len(candidates)
    if isinstance(spec, str):
        if spec not in candidates.columns:
            raise ValueError(f"{what}: no column {spec!r} in candidates")
        out = candidates[spec].to_numpy(dtype=float)
    elif isinstance(spec, Mapping):
        unknown = [k for k in spec if k not in candidates.index]
        if unknown:
            raise ValueError(f"{what}: unknown candidate ids {unknown[:5]}")
        out = np.zeros(n)
        pos = candidates.index.get_indexer(list(spec.keys()))
        out[pos] = np.asarray(list(spec.values()), dtype=float)
    elif np.isscalar(spec):
        out = np.full(n, float(spec))
    else:
        out = np.asarray(spec, dtype=float)
        if out.shape != (n,):
            raise ValueError(f"{what}: expected {n} values, got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{what}: values must be finite")
    return out


def _labels(candidates: pd.DataFrame, spec, what: str) -> pd.Series:
    if isinstance(spec, str):
        if spec not in candidates.columns:
            raise ValueError(f"{what}: no column {spec!r} in candidates")
        return candidates[spec]
    unknown = [k for k in spec if k not in candidates.index]
    if unknown:
        raise ValueError(f"{what}: unknown candidate ids {unknown[:5]}")
    return pd.Series(spec).reindex(candidates.index)


class _Model:
    """Matrices of the MILP, built once and re-solved with modified bounds or objective.

    Variables: ``[x (n) | z (coverage binaries) | u (concave segments)]``.
    Rows: budgets, group caps, linear constraints, coverage, concave links, in that order.
    """

    def __init__(self, candidates: pd.DataFrame, budgets: Mapping[str, float], *, value="value",
                 min_fraction=1.0, max_fraction=1.0, group_caps=(), locked_in=(), locked_out=(),
                 extra_constraints=(), concave_terms=(), time_limit_s=10.0, mip_rel_gap=1e-6,
                 tighten_concave=True, presolve=True):
        if not isinstance(candidates, pd.DataFrame):
            raise ValueError("candidates must be a DataFrame")
        if not candidates.index.is_unique:
            raise ValueError("candidate ids (the index) must be unique")
        if not budgets:
            raise ValueError("at least one budget is needed")
        self.candidates = candidates
        self.ids = candidates.index
        self.keys = list(budgets)
        self.budgets = np.array([float(budgets[k]) for k in self.keys])
        for key, b in zip(self.keys, self.budgets):
            if np.isnan(b) or b < 0:
                raise ValueError(f"budget {key}: must be a non-negative number (+inf allowed), "
                                 f"got {float(b)!r}")
        missing = [k for k in self.keys if k not in candidates.columns]
        if missing:
            raise ValueError(f"no request column for budget keys {missing}")
        n = self.n = len(candidates)
        self.value = _per_row(candidates, value, "value")
        self.req = candidates[self.keys].to_numpy(dtype=float)
        if not np.all(np.isfinite(self.req)) or np.any(self.req < 0):
            raise ValueError("requests must be finite and non-negative")
        self.lo = _per_row(candidates, min_fraction, "min_fraction")
        self.hi = _per_row(candidates, max_fraction, "max_fraction")
        if np.any(self.lo < 0) or np.any(self.hi > 1) or np.any(self.lo > self.hi):
            raise ValueError("need 0 <= min_fraction <= max_fraction <= 1 for every candidate")
        self.time_limit_s = float(time_limit_s)
        self.presolve = bool(presolve)
        self.mip_rel_gap = float(mip_rel_gap)

        # a single id given as a string is one id, not a sequence of characters
        self.locked_in = [locked_in] if isinstance(locked_in, str) else list(locked_in)
        self.locked_out = [locked_out] if isinstance(locked_out, str) else list(locked_out)
        for lst, what in ((self.locked_in, "locked_in"), (self.locked_out, "locked_out")):
            bad = [i for i in lst if i not in self.ids]
            if bad:
                raise ValueError(f"{what}: unknown candidate ids {bad[:5]}")
        both = sorted(set(self.locked_in) & set(self.locked_out), key=str)
        if both:
            raise AllocationInfeasible(
                f"Candidate(s) {', '.join(map(str, both))} are both must-fund and must-not-fund.",
                [f"must fund {i}" for i in both] + [f"must not fund {i}" for i in both],
                [Message("constraint_must_fund", {"id": i}) for i in both]
                + [Message("constraint_must_not_fund", {"id": i}) for i in both])
        self.pos_in = self.ids.get_indexer(self.locked_in)
        self.pos_out = self.ids.get_indexer(self.locked_out)
        # Floor of a locked-in candidate.
        self.floor = np.maximum(self.lo, LOCK_FLOOR)
        # Coverage divides by the floor; a zero floor would give huge coefficients, so
        # candidates with min_fraction 0 cover their group once their fractions in it sum to
        # COVERAGE_FLOOR.
        self.cover_div = np.maximum(self.lo, COVERAGE_FLOOR)

        rows: list[sparse.spmatrix] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self.row_names: list[str] = []
        self.row_kind: list[str] = []

        names = set()

        def add_name(nm):
            if nm in names:
                raise ValueError(f"duplicate constraint name {nm!r}")
            names.add(nm)

        # --- extra variables
        self.coverage = list(_of_type(extra_constraints, MinGroupsCovered))
        self.linear = list(_of_type(extra_constraints, LinearConstraintSpec))
        other = [c for c in extra_constraints
                 if not isinstance(c, (MinGroupsCovered, LinearConstraintSpec))]
        if other:
            raise TypeError(f"unsupported constraint type {type(other[0]).__name__}")
        self.cov_groups = []   # per coverage spec: list of (label, member positions)
        nz = 0
        for spec in self.coverage:
            lab = _labels(candidates, spec.groups, spec.name)
            groups = [(g, np.flatnonzero((lab == g).to_numpy())) for g in pd.unique(lab.dropna())]
            self.cov_groups.append(groups)
            nz += len(groups)
        self.nz = nz
        self.concave = list(concave_terms)
        self.concave_w = []
        self.concave_w_model = []     # weights in the link rows (tightened, see _tightened_weights)
        self.seg_width = []
        nu = 0
        for t in self.concave:
            w = _per_row(candidates, t.weights, t.name)
            b = np.asarray(t.breakpoints, float)
            m = np.asarray(t.slopes, float)
            if np.any(w < 0):
                raise ValueError(f"{t.name}: weights must be non-negative")
            if len(m) != len(b) + 1:
                raise ValueError(f"{t.name}: need len(slopes) == len(breakpoints) + 1")
            if np.any(b <= 0) or np.any(np.diff(b) <= 0):
                raise ValueError(f"{t.name}: breakpoints must be positive and increasing")
            if np.any(np.diff(m) > 1e-12):
                raise ValueError(f"{t.name}: slopes must not increase (concave term)")
            self.concave_w.append(w)
            self.concave_w_model.append(
                _tightened_weights(w, b, m, self.lo) if tighten_concave else w)
            self.seg_width.append(np.diff(np.concatenate([[0.0], b, [np.inf]])))
            nu += len(m)
        self.nu = nu
        # Share caps compare a group with the total allocation of a resource. Writing the total
        # once as an auxiliary variable T_r keeps each cap row sparse (group members + T_r)
        # instead of dense over all candidates; HiGHS solves the sparse form faster.
        share_res = []
        for cap in group_caps:
            if cap.kind == "share" and cap.resource not in share_res:
                share_res.append(cap.resource)
        self.total_var = {r: n + nz + nu + j for j, r in enumerate(share_res)}
        nv = self.nv = n + nz + nu + len(share_res)

        def row(coef_x, lo, hi, name, kind, extra=None):
            r = np.zeros(nv)
            r[:n] = coef_x
            if extra is not None:
                for j, v in extra:
                    r[j] = v
            rows.append(sparse.csr_matrix(r))
            self.row_lo.append(lo)
            self.row_hi.append(hi)
            self.row_names.append(name)
            self.row_kind.append(kind)

        # --- budgets
        for k, key in enumerate(self.keys):
            add_name(f"budget {key}")
            row(self.req[:, k], -np.inf, self.budgets[k], f"budget {key}", "budget")
        self.n_budget_rows = len(self.keys)

        # --- group caps
        self.caps = list(group_caps)
        self.cap_members = []
        self.cap_amount = []
        for cap in self.caps:
            add_name(cap.name)
            if cap.kind not in ("absolute", "share"):
                raise ValueError(f"{cap.name}: kind must be 'absolute' or 'share'")
            if cap.members is not None:
                bad = [i for i in cap.members if i not in self.ids]
                if bad:
                    raise ValueError(f"{cap.name}: unknown candidate ids {bad[:5]}")
                mask = self.ids.isin(list(cap.members))
            elif cap.column is not None:
                if cap.column not in candidates.columns:
                    raise ValueError(f"{cap.name}: no column {cap.column!r}")
                mask = (candidates[cap.column] == cap.value).to_numpy()
            else:
                raise ValueError(f"{cap.name}: give members or column/value")
            if cap.resource is None:
                amount = self.req.sum(axis=1)
            else:
                if cap.resource not in self.keys:
                    raise ValueError(f"{cap.name}: resource {cap.resource!r} is not a budget key")
                amount = self.req[:, self.keys.index(cap.resource)]
            self.cap_members.append(np.asarray(mask, bool))
            self.cap_amount.append(amount)
            coef = np.where(mask, amount, 0.0)
            if cap.kind == "share":
                if not 0 <= cap.limit <= 1:
                    raise ValueError(f"{cap.name}: a share limit must be within [0, 1]")
                row(coef, -np.inf, 0.0, cap.name, "cap",
                    [(self.total_var[cap.resource], -float(cap.limit))])
            else:
                row(coef, -np.inf, float(cap.limit), cap.name, "cap")

        # --- general linear constraints
        self.linear_coef = []
        for spec in self.linear:
            add_name(spec.name)
            a = _per_row(candidates, spec.coefficients, spec.name)
            self.linear_coef.append(a)
            row(a, float(spec.lower), float(spec.upper), spec.name, "constraint")

        # --- coverage: z_g - sum_{i in g} x_i / floor_i <= 0, sum z_g >= k
        j = n
        self.z_slices = []
        for spec, groups in zip(self.coverage, self.cov_groups):
            add_name(spec.name)
            start = j
            for g, members in groups:
                coef = np.zeros(n)
                coef[members] = -1.0 / self.cover_div[members]
                row(coef, -np.inf, 0.0, f"{spec.name} [{g}]", "coverage_link", [(j, 1.0)])
                j += 1
            self.z_slices.append(slice(start, j))
            row(np.zeros(n), float(spec.k), np.inf, spec.name, "coverage",
                [(jj, 1.0) for jj in range(start, j)])

        # --- concave links: sum_j u_j - sum_i w_i x_i = 0
        self.u_slices = []
        for t, w, widths in zip(self.concave, self.concave_w_model, self.seg_width):
            start = j
            j += len(widths)
            self.u_slices.append(slice(start, j))
            row(-w, 0.0, 0.0, f"{t.name} (link)", "concave_link",
                [(jj, 1.0) for jj in range(start, j)])
        # --- totals for share caps: T_r - sum_i amount_ir x_i = 0
        for r, jt in self.total_var.items():
            amount = self.req.sum(axis=1) if r is None else self.req[:, self.keys.index(r)]
            row(-amount, 0.0, 0.0, f"total {r or 'all'} (link)", "total_link", [(jt, 1.0)])
        # --- cuts on the concave terms (tighten_concave), see _concave_cuts
        if tighten_concave:
            for name, coef, seg in _concave_cuts(self):
                row(-coef, -np.inf, 0.0, name, "concave_cut", [(jj, 1.0) for jj in seg])

        self.A = sparse.vstack(rows, format="csr") if rows else sparse.csr_matrix((0, nv))
        self.row_lo = np.asarray(self.row_lo, float)
        self.row_hi = np.asarray(self.row_hi, float)

        # --- objective (milp minimises)
        c = np.zeros(nv)
        c[:n] = -self.value
        for t, sl in zip(self.concave, self.u_slices):
            c[sl] = -np.asarray(t.slopes, float)
        self.c = c

        # --- variable bounds and integrality (base, before locks)
        lb = np.zeros(nv)
        ub = np.ones(nv)
        integ = np.zeros(nv, dtype=np.int64)
        semi = self.lo > 0
        binary = semi & (self.lo == 1.0) & (self.hi == 1.0)
        lb[:n] = np.where(semi, self.lo, 0.0)
        ub[:n] = self.hi
        integ[:n] = np.where(binary, 1, np.where(semi, 2, 0))
        lb[:n][binary] = 0.0
        integ[n:n + nz] = 1
        for widths, sl in zip(self.seg_width, self.u_slices):
            ub[sl] = widths
        for jt in self.total_var.values():
            ub[jt] = np.inf
        self.base_lb, self.base_ub, self.base_integ = lb, ub, integ
        self.lb, self.ub, self.integ = self.apply_locks(self.pos_in, self.pos_out)

    # ------------------------------------------------------------------------------------------
    def apply_locks(self, pos_in, pos_out):
        lb, ub, integ = self.base_lb.copy(), self.base_ub.copy(), self.base_integ.copy()
        pos_in = np.asarray(pos_in, dtype=np.int64)
        pos_out = np.asarray(pos_out, dtype=np.int64)
        lb[pos_in] = self.floor[pos_in]
        integ[pos_in] = 0
        lb[pos_out] = 0.0
        ub[pos_out] = 0.0
        integ[pos_out] = 0
        return lb, ub, integ

    def solve(self, *, c=None, lb=None, ub=None, integ=None, row_lo=None, row_hi=None,
              time_limit_s=None, mip_rel_gap=None, highs_options=None):
        opts = {"time_limit": self.time_limit_s if time_limit_s is None else time_limit_s,
                "mip_rel_gap": self.mip_rel_gap if mip_rel_gap is None else mip_rel_gap,
                "disp": False, **(highs_options or {})}
        if highs_options:
            # scipy hands options it does not list itself to HiGHS verbatim, with a
            # RuntimeWarning attributed to this module; they are deliberate here. The filter
            # is (re)installed per call, not once at import: a caller's catch_warnings block
            # (pytest's, for one) restores the filters it found.
            warnings.filterwarnings("ignore", message="Unrecognized options detected",
                                    category=RuntimeWarning, module=__name__)
        cons = LinearConstraint(self.A, self.row_lo if row_lo is None else row_lo,
                                self.row_hi if row_hi is None else row_hi)
        t0 = time.perf_counter()
        res = milp(self.c if c is None else c,
                   integrality=self.integ if integ is None else integ,
                   bounds=Bounds(self.lb if lb is None else lb, self.ub if ub is None else ub),
                   constraints=cons, options=opts)
        return res, time.perf_counter() - t0

    def feasible(self, lb, ub, integ, row_lo, row_hi, time_limit_s=2.0) -> bool | None:
        res, _ = self.solve(c=np.zeros(self.nv), lb=lb, ub=ub, integ=integ, row_lo=row_lo,
                            row_hi=row_hi, time_limit_s=time_limit_s)
        if res.status == 2:
            return False
        if res.x is not None:
            return True
        return None   # undecided within the time limit

    # ------------------------------------------------------------------------------------------
    def objective_of(self, x: np.ndarray) -> tuple[float, dict]:
        conc = {t.name: t.evaluate(float(w @ x)) for t, w in zip(self.concave, self.concave_w)}
        return float(self.value @ x) + sum(conc.values()), conc


def _tightened_weights(w: np.ndarray, breakpoints: np.ndarray, slopes: np.ndarray,
                       lo: np.ndarray) -> np.ndarray:
    """Weights of a concave term clipped where one candidate alone saturates it.

    If the slopes are 0 from breakpoint ``B`` on, ``f(s) = f(min(s, B))``. A candidate with
    ``w_i lo_i >= B`` saturates the term by itself whenever it is selected (``x_i >= lo_i``),
    so its weight can be lowered to ``B / lo_i`` without changing ``f`` at any point of the
    MILP's feasible set: if such a candidate is selected both sums are ``>= B``; if none is,
    the sums are equal. The LP relaxation, however, becomes much tighter: with the raw weight
    a sliver ``x_i = 0.001`` of a large project buys the whole bonus in the LP, and branch and
    bound spends its time closing that gap. This is coefficient tightening of a big-M-like
    term, e.g. Williams [1]_, sec. 10.2 (reducing the size of coefficients).
    Candidates with ``lo_i = 0`` (continuous) are left as they are.
    """
    zero_from = len(slopes)
    while zero_from > 0 and slopes[zero_from - 1] <= 0:
        zero_from -= 1
    if zero_from == len(slopes) or zero_from == 0:
        return w          # the last slope is positive (never saturates), or f is 0 throughout
    saturation = breakpoints[zero_from - 1]
    with np.errstate(divide="ignore"):
        cap = np.where(lo > 0, saturation / np.where(lo > 0, lo, 1.0), np.inf)
    return np.minimum(w, cap)


def _concave_cuts(m: "_Model"):
    """Valid inequalities that tighten the LP relaxation of the concave terms.

    For a term with breakpoints ``B_1 < ... < B_K``, every feasible point has
    ``u_1 + ... + u_j <= min(s, B_j)`` with ``s = sum_i w_i x_i``: those segments are ``B_j``
    wide in all, and all segments add up to the link row's ``sum_i w'_i x_i <= s`` (``w' <=
    w``, :func:`_tightened_weights`). A funded semi-continuous candidate has ``x_i >= lo_i``,
    so ``min(w_i, B_j / lo_i) x_i >= min(w_i x_i, B_j)``, and ``sum_i min(w_i x_i, B_j) >=
    min(s, B_j)`` (if one term reaches ``B_j`` the sum does, otherwise the terms add up to
    ``s``). Hence

        ``u_1 + ... + u_j <= sum_i min(w_i, B_j / lo_i) x_i``

    holds for every allocation the model allows; it cuts off the LP points where a sliver of a
    large project fills the steep first segments. This generalises the weight clipping of
    :func:`_tightened_weights` (which is the case ``j = K`` with zero slopes after ``B_K``) to
    every breakpoint; a cut is left out when it clips no weight (then it follows from the link
    row). Yields ``(name, coefficients on x, segment variable positions)``.
    """
    safe_lo = np.where(m.lo > 0, m.lo, 1.0)
    for t, w, w_link, sl in zip(m.concave, m.concave_w, m.concave_w_model, m.u_slices):
        for k, b in enumerate(np.asarray(t.breakpoints, float)):
            coef = np.where(m.lo > 0, np.minimum(w, b / safe_lo), w)
            if np.all(coef >= w_link):
                continue
            yield f"{t.name} (cut {k + 1})", coef, range(sl.start, sl.start + k + 1)


def _of_type(specs, typ):
    return (s for s in specs if isinstance(s, typ))


# ----------------------------------------------------------------------------------------------
# Re-check (independent of the solver's own report)
# ----------------------------------------------------------------------------------------------
def _recheck(m: _Model, x: np.ndarray, row_hi=None) -> tuple[dict, dict]:
    """Largest scaled violation per family, and slack per named constraint."""
    bud = m.budgets if row_hi is None else row_hi[:m.n_budget_rows]
    viol: dict[str, float] = {}
    slacks: dict[str, float] = {}
    tol = RECHECK_TOL

    def scaled(v, scale):
        return max(0.0, v) / max(1.0, scale)

    used = m.req.T @ x
    viol["budgets"] = 0.0
    for k, key in enumerate(m.keys):
        slacks[f"budget {key}"] = float(bud[k] - used[k])
        viol["budgets"] = max(viol["budgets"], scaled(used[k] - bud[k], abs(bud[k])))
    viol["group_caps"] = 0.0
    for cap, mask, amount in zip(m.caps, m.cap_members, m.cap_amount):
        alloc = amount * x
        g, tot = float(alloc[mask].sum()), float(alloc.sum())
        lim = cap.limit * tot if cap.kind == "share" else cap.limit
        slacks[cap.name] = lim - g
        viol["group_caps"] = max(viol["group_caps"], scaled(g - lim, max(abs(lim), tot)))
    viol["linear_constraints"] = 0.0
    for spec, a in zip(m.linear, m.linear_coef):
        v = float(a @ x)
        scale = float(np.abs(a) @ np.abs(x))
        slacks[spec.name] = min(spec.upper - v, v - spec.lower)
        viol["linear_constraints"] = max(viol["linear_constraints"],
                                         scaled(v - spec.upper, scale),
                                         scaled(spec.lower - v, scale))
    viol["min_groups_covered"] = 0.0
    sel = x > SELECTED_TOL
    for spec, groups in zip(m.coverage, m.cov_groups):
        covered = sum(bool(sel[members].any()) for _, members in groups)
        slacks[spec.name] = covered - spec.k
        viol["min_groups_covered"] = max(viol["min_groups_covered"], float(spec.k - covered))
    # bounds and semi-continuity: x = 0 or lo <= x <= hi
    below = np.where(sel, np.maximum(m.lo - x, 0.0), 0.0)
    viol["bounds"] = float(max(np.max(-x, initial=0.0), np.max(x - m.hi, initial=0.0)))
    viol["semi_continuity"] = float(below.max(initial=0.0))
    li = np.asarray(m.pos_in, dtype=np.int64)
    lo_ = np.asarray(m.pos_out, dtype=np.int64)
    viol["locks"] = float(max(np.max(m.floor[li] - x[li], initial=0.0),
                              np.max(np.abs(x[lo_]), initial=0.0)))
    for k in ("bounds", "semi_continuity", "locks"):
        viol[k] = viol[k] if viol[k] > tol else 0.0
    return viol, slacks


def _snap(m: _Model, xfull: np.ndarray, *, to_full: bool = True) -> np.ndarray:
    """Fractions with solver noise removed, before the re-check.

    Within :data:`SNAP_TOL`: a value near 0 that is not allowed there (below the minimum share
    of a semi-continuous or binary candidate) becomes exactly 0, unless a lock holds it up; a
    value near the largest fraction becomes that fraction (with ``to_full``); a value just below
    the minimum share becomes the minimum. Values within 1e-9 of 0 become 0 for every candidate.
    Larger departures are left for the re-check to refuse.
    """
    x = np.asarray(xfull[:m.n], float).copy()
    locked = np.zeros(m.n, bool)
    locked[m.pos_in] = True
    x[np.abs(x) < 1e-9] = 0.0
    off = (np.abs(x) <= SNAP_TOL) & (x < m.lo) & ~locked
    x[off] = 0.0
    if to_full:
        full = np.abs(x - m.hi) <= SNAP_TOL
    else:
        full = (x > m.hi) & (x - m.hi <= SNAP_TOL)
    x[full] = m.hi[full]
    near_lo = (x > 0) & (x < m.lo) & (m.lo - x <= SNAP_TOL)
    x[near_lo] = m.lo[near_lo]
    return x


def _clean_x(m: _Model, xfull: np.ndarray, row_hi=None) -> tuple[np.ndarray, dict, dict]:
    """Snapped fractions with their re-check (violations, slacks).

    Snapping a value up to its full request can add up to ``SNAP_TOL`` x request to a budget
    that the solver filled to its own tolerance; if that alone breaks the re-check, the values
    just below full are kept as the solver gave them (still within tolerance of it).
    """
    x = _snap(m, xfull)
    viol, slacks = _recheck(m, x, row_hi)
    if any(v > RECHECK_TOL for v in viol.values()):
        x2 = _snap(m, xfull, to_full=False)
        viol2, slacks2 = _recheck(m, x2, row_hi)
        if not any(v > RECHECK_TOL for v in viol2.values()):
            return x2, viol2, slacks2
    return x, viol, slacks


# ----------------------------------------------------------------------------------------------
# Diagnosis of infeasibility (deletion filter over locks, caps and constraints)
# ----------------------------------------------------------------------------------------------
def _diagnose(m: _Model, max_solves: int = 120, time_budget_s: float = 10.0
              ) -> tuple[list[str], bool]:
    """A conflicting set of locks, caps and constraints, and whether it is minimal.

    The working set is always infeasible: an element is dropped only when the rest stays
    infeasible. If the solve or time budget runs out the set is returned as it stands (still
    conflicting, perhaps not minimal).
    """
    t_end = time.perf_counter() + time_budget_s
    elements: list[tuple[str, Any, str]] = []
    for p, i in zip(m.pos_in, m.locked_in):
        elements.append(("in", p, f"must fund {i}"))
    for p, i in zip(m.pos_out, m.locked_out):
        elements.append(("out", p, f"must not fund {i}"))
    for r, (kind, name) in enumerate(zip(m.row_kind, m.row_names)):
        if kind in ("cap", "constraint", "coverage"):
            elements.append(("row", r, name))

    def is_feasible(active: list[int], relax_budgets=()) -> bool | None:
        pin = [elements[e][1] for e in active if elements[e][0] == "in"]
        pout = [elements[e][1] for e in active if elements[e][0] == "out"]
        lb, ub, integ = m.apply_locks(pin, pout)
        rlo, rhi = m.row_lo.copy(), m.row_hi.copy()
        active_rows = {elements[e][1] for e in active if elements[e][0] == "row"}
        for r, kind in enumerate(m.row_kind):
            if kind in ("cap", "constraint", "coverage") and r not in active_rows:
                rlo[r], rhi[r] = -np.inf, np.inf
        for k in relax_budgets:
            rhi[k] = np.inf
        return m.feasible(lb, ub, integ, rlo, rhi)

    active = list(range(len(elements)))
    solves = 0
    minimal = True
    # Coarse pass: drop whole families first (cheap when there are many locks).
    for fam in ("out", "row", "in"):
        trial = [e for e in active if elements[e][0] != fam]
        if len(trial) < len(active) and solves < max_solves:
            solves += 1
            if is_feasible(trial) is False:
                active = trial
    # Deletion filter: drop an element if the rest is still infeasible [3].
    for e in list(active):
        if solves >= max_solves or time.perf_counter() > t_end:
            minimal = False
            break
        trial = [a for a in active if a != e]
        solves += 1
        if is_feasible(trial) is False:
            active = trial
    names = [elements[e][2] for e in active]
    # Which budgets take part: a second deletion filter over the budgets, with the set above
    # fixed. A budget relaxed (to +inf) for good when the rest stays infeasible is not needed.
    relaxed: list[int] = []
    for k, key in enumerate(m.keys):
        if solves >= max_solves + len(m.keys) or time.perf_counter() > t_end:
            minimal = False
            names.extend(f"budget {kk}" for kk in m.keys[k:])
            break
        solves += 1
        if is_feasible(active, relax_budgets=relaxed + [k]) is False:
            relaxed.append(k)
        else:
            names.append(f"budget {key}")
    return names, minimal


def _raise_infeasible(m: _Model):
    conflicts, minimal = _diagnose(m, time_budget_s=max(5.0, m.time_limit_s))
    budgets = ", ".join(f"{k} <= {b:g}" for k, b in zip(m.keys, m.budgets))
    if conflicts:
        listed = "; ".join(conflicts)
        msg = (f"No allocation satisfies these together: {listed}. "
               + ("Remove or relax any one of them" if minimal else
                  "Relax some of them (this set may not be the smallest)")
               + f" (budgets: {budgets}).")
    else:
        msg = f"No allocation satisfies the budgets themselves ({budgets})."
    raise AllocationInfeasible(msg, conflicts, _messages_of(m, conflicts))


# ----------------------------------------------------------------------------------------------
# Solve and package
# ----------------------------------------------------------------------------------------------
def _status_text(res) -> str:
    return _stop_reason(res)[0]


def _stop_reason(res) -> tuple[str, bool]:
    """``(status, limit_reached)`` of a scipy ``milp`` result.

    scipy maps HiGHS's time and iteration limits to status 1 and its solution/node limit
    (HiGHS status 16) to status 4 "not recognized"; the message tells them apart.
    """
    msg = str(getattr(res, "message", "")).lower()
    if res.status == 0:
        return "optimal", False
    if res.status == 1:
        return ("time_limit" if "time limit" in msg else "iteration_limit"), True
    if res.status == 4 and "limit reached" in msg:
        return "node_limit", True
    return str(res.message), False


def _lp_rows(m: _Model, row_hi: np.ndarray):
    """The model's rows in scipy's form: ``(up, eq, A_ub, b_ub)``, the upper-bounded inequality
    rows first in ``A_ub``, then the lower-bounded ones negated."""
    A = m.A
    eq = m.row_lo == m.row_hi
    up = np.isfinite(row_hi) & ~eq
    dn = np.isfinite(m.row_lo) & ~eq
    return up, eq, sparse.vstack([A[up], -A[dn]], format="csr"), np.concatenate([row_hi[up], -m.row_lo[dn]])


def _lp_cost(m: _Model, c: np.ndarray, lb: np.ndarray, ub: np.ndarray, row_hi: np.ndarray):
    """:func:`_lp` with another cost vector; returns the ``linprog`` result only."""
    _, eq, A_ub, b_ub = _lp_rows(m, row_hi)
    return linprog(c, A_ub=A_ub if A_ub.shape[0] else None, b_ub=b_ub if A_ub.shape[0] else None,
                   A_eq=m.A[eq] if eq.any() else None, b_eq=m.row_lo[eq] if eq.any() else None,
                   bounds=np.column_stack([lb, ub]), method="highs")


def _lp(m: _Model, lb: np.ndarray, ub: np.ndarray, row_hi: np.ndarray):
    """``linprog`` (HiGHS) on the model's rows with the given bounds, no integrality.

    Returns the result and the row split scipy needs: ``(res, up, eq, A_ub)`` with ``up`` the
    upper-bounded inequality rows (first in ``A_ub``), then the lower-bounded ones negated.
    """
    up, eq, A_ub, _ = _lp_rows(m, row_hi)
    return _lp_cost(m, m.c, lb, ub, row_hi), up, eq, A_ub


def _marginals(m: _Model, xfull: np.ndarray, row_hi: np.ndarray, break_even: bool = False):
    """Budget shadow prices of the LP with the selection (and coverage binaries) fixed.

    With ``break_even=True`` also returns, per candidate, the value at which its LP reduced
    cost is zero: the dual prices of all rows times its column, ``-A_i^T y`` (minimisation
    form, scipy's marginal sign convention).
    """
    m, row_hi = _without_cuts(m, row_hi)
    n = m.n
    lb, ub = m.lb.copy(), m.ub.copy()
    sel = xfull[:n] > SELECTED_TOL
    # selected semi-continuous candidates keep their floor; continuous ones (min 0) move freely
    lb[:n] = np.where(sel & (m.lo > 0), m.lo, 0.0)
    lb[m.pos_in] = m.floor[m.pos_in]
    ub[:n] = np.where(sel | (m.lo == 0), m.hi, 0.0)
    ub[m.pos_out] = 0.0
    z = slice(n, n + m.nz)
    lb[z] = ub[z] = np.round(xfull[z])
    A = m.A
    res, up, eq, A_ub = _lp(m, lb, ub, row_hi)
    out = {}
    up_rows = np.flatnonzero(up)
    for k, key in enumerate(m.keys):
        if res.status != 0 or k not in up_rows:
            out[key] = float("nan")
            continue
        j = int(np.flatnonzero(up_rows == k)[0])
        # minimising -objective: d(min)/d(b) <= 0, so gain per unit = -marginal (NOTES.md)
        out[key] = float(-res.ineqlin.marginals[j])
    if not break_even:
        return out
    if res.status != 0:
        return out, np.full(n, np.nan)
    cost = np.zeros(m.nv)
    if A_ub.shape[0]:
        cost += A_ub.T @ res.ineqlin.marginals
    if eq.any():
        cost += A[eq].T @ res.eqlin.marginals
    return out, -cost[:n]


def _without_cuts(m: _Model, row_hi: np.ndarray) -> tuple[_Model, np.ndarray]:
    """The model without its concave cuts (:func:`_concave_cuts`), and ``row_hi`` to match.

    With the selection fixed the cuts are redundant, but they can be degenerate at the LP
    optimum and so change which dual prices the LP reports; shadow prices and break-even
    values are read from the rows of the formulation itself.
    """
    keep = np.asarray(m.row_kind, dtype=object) != "concave_cut"
    if keep.all():
        return m, row_hi
    mm = copy.copy(m)
    mm.A = m.A[keep]
    mm.row_lo, mm.row_hi = m.row_lo[keep], m.row_hi[keep]
    mm.row_kind = [k for k, kp in zip(m.row_kind, keep) if kp]
    mm.row_names = [nm for nm, kp in zip(m.row_names, keep) if kp]
    return mm, np.asarray(row_hi)[keep]


def _package(m: _Model, res, seconds: float, row_hi=None, marginals=True) -> AllocationResult:
    row_hi = m.row_hi if row_hi is None else row_hi
    x, viol, slacks = _clean_x(m, res.x, row_hi)
    bad = {k: v for k, v in viol.items() if v > RECHECK_TOL}
    if bad:
        raise AllocationError(
            f"The solver's answer (status {_status_text(res)!r}) breaks constraints on re-check: "
            + ", ".join(f"{k} by {v:.3g}" for k, v in bad.items()))
    obj, conc = m.objective_of(x)
    solver_obj = -float(res.fun)
    # scale by the size of the terms, not only their sum, so cancellations do not trip it
    scale = max(1.0, abs(obj), float(np.abs(m.c) @ np.abs(np.nan_to_num(res.x))))
    if abs(obj - solver_obj) > 1e-6 * scale:
        raise AllocationError(f"objective mismatch on re-check: {obj} vs solver {solver_obj}")
    binding = [nm for nm, s in slacks.items()
               if abs(s) <= 1e-6 * max(1.0, abs(_rhs_scale(m, nm, row_hi)))]
    amounts = pd.DataFrame(m.req * x[:, None], index=m.ids, columns=m.keys)
    gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
    gap = gap if np.isfinite(gap) else float("inf")
    mv = _marginals(m, res.x, row_hi) if marginals else {}
    status, limit = _stop_reason(res)
    return AllocationResult(
        fractions=pd.Series(x, index=m.ids, name="fraction"),
        amounts=amounts,
        selected=pd.Series(x > SELECTED_TOL, index=m.ids, name="selected"),
        objective=obj, status=status, optimal=bool(res.status == 0),
        mip_gap=gap, solve_time_s=seconds, binding=binding, slacks=slacks,
        marginal_values=mv, recheck=viol, concave_values=conc, limit_reached=limit,
        binding_messages=_messages_of(m, binding),
        **_notes(_note(m, x, row_hi, status, limit, gap)))


def _notes(notes: tuple) -> dict:
    """``note`` (English) and ``notes`` of an :class:`AllocationResult`."""
    return {"note": messages.join(notes, "en", " "), "notes": tuple(notes)}


def _rhs_scale(m: _Model, name: str, row_hi) -> float:
    if name.startswith("budget "):
        return float(row_hi[m.row_names.index(name)])
    return 1.0


def _solve_model(m: _Model, row_hi=None, marginals=True) -> AllocationResult:
    if m.n == 0:
        return _empty_result(m, row_hi)
    res, seconds = _solve_raw(m, row_hi)
    return _package(m, res, seconds, row_hi=row_hi, marginals=marginals)


def _solve_raw(m: _Model, row_hi=None, incumbent: np.ndarray | None = None, diagnose: bool = True):
    """``(milp result, seconds)`` of the model with the presolve of :func:`allocate`.

    ``incumbent`` is a full solution vector known to be feasible for ``row_hi`` (e.g. a
    neighbouring frontier point's answer at a smaller budget): it seeds the reduced-cost fixing.
    Raises :class:`AllocationInfeasible` / :class:`AllocationTimeout` / :class:`AllocationError`
    like :func:`allocate` when there is no answer (``diagnose=False``: without naming the
    conflicting constraints, which takes many solves).
    """
    found = None
    lb, ub, integ = m.lb, m.ub, m.integ
    presolved = m.presolve and m.n >= FIXING_MIN_CANDIDATES
    if presolved:
        t0 = time.perf_counter()
        rhs = m.row_hi if row_hi is None else row_hi
        lb, ub, integ = lb.copy(), ub.copy(), integ.copy()
        drop = np.flatnonzero(_dominated(m, rhs))
        lb[drop] = ub[drop] = 0.0
        integ[drop] = 0
        found = (_solve_with_fixing(m, rhs, lb, ub, integ) if incumbent is None
                 else _solve_with_fixing(m, rhs, lb, ub, integ, incumbent=incumbent))
        if found is not None:
            found = (found[0], time.perf_counter() - t0)
    if found is None:
        found = m.solve(lb=lb, ub=ub, integ=integ, row_hi=row_hi,
                        highs_options=FIXING_HIGHS_OPTIONS if presolved else None)
    res, seconds = found
    if res.status == 2:
        if not diagnose:
            raise AllocationInfeasible("No allocation satisfies the constraints.", [])
        _raise_infeasible(m)
    if res.x is None:
        limit = _stop_reason(res)[1]
        err = AllocationTimeout if limit else AllocationError
        raise err(f"No allocation found: {res.message} (time limit "
                  f"{m.time_limit_s:g} s; raise it or relax the gap)")
    return res, seconds


def _dominated(m: _Model, row_hi: np.ndarray) -> np.ndarray:
    """Candidates that some optimal allocation leaves at 0, by dominance [5]_.

    Candidate ``j`` dominates ``i`` when they are interchangeable (same fraction bounds and
    type, same coefficients in every equality or two-sided row) and ``j`` is at least as good
    everywhere else: value no smaller, coefficients no larger in ``<=`` rows and no smaller in
    ``>=`` rows, weight no smaller in a concave term whose last slope is >= 0 (ties broken by
    position, so dominance is a strict order). Moving ``i``'s fraction to an unfunded
    dominator keeps every constraint and does not lower the objective. So if funding ``i``
    together with all its dominators at their minimum shares breaks a packing row (a ``<=`` row
    whose coefficients are all >= 0, e.g. a budget), some dominator is unfunded in every
    allocation that funds ``i``, and repeated moves reach an optimal allocation with ``i`` at
    0 (the moves go up a finite order, so they stop). Fixing all such ``i`` at once is
    therefore safe. Locked-in candidates are never fixed; locked-out ones dominate nothing.
    Identical requests are common in practice (several variants of one project, or the
    generated benchmark sets), where only a handful per class survive.

    The packing rows are the model's own and the absolute caps its share caps imply
    (:func:`_implied_share_rows`): a country held to 30 % of the programme holds few copies
    of one project, far fewer than the budgets alone. A candidate that breaks a packing row on
    its own at its minimum share cannot be funded at all and is fixed too (unless locked in:
    then the solve reports the conflict).
    """
    n = m.n
    A = m.A.tocsc()
    X = A[:, :n].toarray()
    aux = A[:, n:]
    lo_r, hi_r = m.row_lo, row_hi
    both = np.isfinite(lo_r) & np.isfinite(hi_r)
    le = ~np.isfinite(lo_r) & np.isfinite(hi_r)
    ge = np.isfinite(lo_r) & ~np.isfinite(hi_r)
    kind = np.asarray(m.row_kind, dtype=object)
    link_ok = np.zeros(len(kind), bool)
    # concave link rows in model order, one per term: sum u - w x = 0; a larger w is better
    # when the last slope is >= 0 (the extra s goes to the last, unbounded segment)
    link_rows = np.flatnonzero(kind == "concave_link")
    for r, t in zip(link_rows, m.concave):
        link_ok[r] = float(np.asarray(t.slopes, float)[-1]) >= 0
    eq_rows = both & ~link_ok
    # the concave cuts are left out: they hold at every point that satisfies the other rows
    # (_concave_cuts), so a move that keeps those rows keeps the cuts too
    cut = kind == "concave_cut"
    better_small = np.vstack([m.c[:n][None, :], X[le & ~cut], -X[ge],
                              X[link_ok]])                        # smaller = better
    sig = np.vstack([X[eq_rows], m.lo[None, :], m.hi[None, :], m.base_integ[:n][None, :]]).T
    _, cls = np.unique(sig, axis=0, return_inverse=True)
    cls = np.asarray(cls).ravel()
    aux_free = np.asarray(np.abs(aux).sum(axis=1)).ravel() == 0
    packing = le & aux_free & np.all(X >= 0, axis=1)
    P_imp, cap_imp = _implied_share_rows(m, row_hi)
    P = np.vstack([X[packing], P_imp])
    cap = np.concatenate([hi_r[packing], cap_imp])
    cap = cap + 1e-9 * np.maximum(1.0, np.abs(cap))
    locked_in = np.zeros(n, bool)
    locked_in[m.pos_in] = True
    usable = np.ones(n, bool)
    usable[m.pos_out] = False
    if not P.shape[0]:
        return np.zeros(n, bool)
    # a candidate that alone, at its minimum share, breaks a packing row cannot be funded
    out = (m.lo > 0) & ~locked_in & np.any(P * m.lo[None, :] > cap[:, None], axis=0)
    order = np.argsort(cls, kind="stable")
    bounds = np.flatnonzero(np.diff(cls[order])) + 1
    for members in np.split(order, bounds):
        if len(members) < 2:
            continue
        B = better_small[:, members]
        B = B[~np.all(B == B[:, :1], axis=1)]              # rows that differ in this class
        use = usable[members]
        base = (P[:, members] * m.lo[members]).T            # minimum usage per member
        todo = np.flatnonzero(~locked_in[members] & (m.lo[members] > 0) & use)
        for block in np.array_split(todo, max(1, -(-len(todo) // 128))):
            # dom[q, b]: member b dominates member block[q] (all members at once, in blocks
            # so that the (rows, block, members) comparison stays small)
            mine = B[:, block, None]
            dom = np.all(B[:, None, :] <= mine, axis=0)
            equal = np.all(B[:, None, :] == mine, axis=0)
            dom &= (~equal | (members[None, :] < members[block, None])) & use[None, :]
            dom[np.arange(len(block)), block] = False
            need = dom.astype(float) @ base + base[block]
            out[members[block]] |= dom.any(axis=1) & np.any(need > cap[None, :], axis=1)
    return out


def _implied_share_rows(m: _Model, row_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute caps implied by the share caps: ``(coefficients on x, limits)``, one row each.

    A share cap ``sum_{i in g} a_i x_i <= l T`` with ``T = sum_i a_i x_i`` the total of its
    resource implies ``sum_{i in g} a_i x_i <= l T_max``, where ``T_max`` bounds the total:
    the budget of the resource (the sum of all budgets when the cap counts every resource),
    or everything funded in full if that is smaller. These rows are redundant for the LP but
    are packing rows (non-negative coefficients, no auxiliary variable), which is what
    :func:`_dominated` needs: a country capped at 30 % of the programme holds few projects.
    """
    n = m.n
    budgets = np.asarray(row_hi[:m.n_budget_rows], float)
    rows, limits = [], []
    for cap, mask, amount in zip(m.caps, m.cap_members, m.cap_amount):
        if cap.kind != "share":
            continue
        budget = budgets.sum() if cap.resource is None else budgets[m.keys.index(cap.resource)]
        total_max = min(budget, float(amount @ m.hi))
        if not np.isfinite(total_max):
            continue
        rows.append(np.where(mask, amount, 0.0))
        limits.append(float(cap.limit) * max(total_max, 0.0))
    if not rows:
        return np.zeros((0, n)), np.zeros(0)
    return np.vstack(rows), np.asarray(limits, float)


def _solve_with_fixing(m: _Model, row_hi: np.ndarray, lb0: np.ndarray, ub0: np.ndarray,
                       integ0: np.ndarray, incumbent: np.ndarray | None = None):
    """Solve after fixing at 0 the candidates that provably cannot improve on a first answer.

    1. LP relaxation (semi-continuous and binary candidates relaxed to ``[0, hi]``): value
       ``z_LP`` and reduced cost ``d_i >= 0`` of each candidate at 0 (minimisation form).
    2. A *core* MILP over the candidates the LP uses and the ``FIXING_CORE`` cheapest by
       ``d_i lo_i``, all others at 0: a feasible answer of value ``z_core``.
    3. By LP duality any solution with ``x_i >= t`` costs at least ``z_LP + d_i t`` (the dual
       solution stays feasible when the bound of ``x_i`` is raised to ``t``). A selected
       semi-continuous or binary candidate has ``x_i >= lo_i``, so every candidate with
       ``z_LP + d_i lo_i > z_core`` is 0 in every answer better than the core one: fixed at 0.
    4. If every candidate left free was in the core, the core answer is optimal (to the gap);
       otherwise the MILP is solved again with the fixed candidates at 0.

    This is reduced-cost fixing done once before branch and bound (e.g. Nemhauser and Wolsey
    [4]_, sec. II.6.1); HiGHS does it during the search, but on thousands of candidates its
    symmetry detection and restarts take longer than the proof itself. Continuous and locked
    candidates are never fixed. Returns ``(result, seconds)``, or None when the shortcut does not
    apply (LP not solved, core infeasible or without an answer): the caller solves in full.

    With an ``incumbent`` (a full solution vector feasible for ``row_hi``, e.g. a neighbouring
    frontier point's answer) that is better than the core answer, its value replaces ``z_core``
    in step 3 (the argument only needs some feasible answer), and the final solve keeps the
    incumbent when it finds nothing better.
    """
    t0 = time.perf_counter()
    n = m.n
    relaxable = (integ0[:n] > 0) & (m.lo > 0)
    lb = lb0.copy()
    lb[:n][relaxable] = 0.0
    lp, *_ = _lp(m, lb, ub0, row_hi)
    if lp.status != 0:
        return None
    d = np.maximum(np.asarray(lp.lower.marginals[:n], float), 0.0)
    used = lp.x[:n] > SELECTED_TOL
    score = np.where(relaxable, d * m.lo, np.inf)     # others are in the core or dead
    dead = ub0[:n] <= 0                         # locked out or already fixed
    core = (~relaxable & ~dead) | used
    k = max(FIXING_CORE, FIXING_CORE_PER_USED * int(used.sum()))
    core[np.argsort(score, kind="stable")[:k]] = True
    if incumbent is None and core.sum() > (~dead).sum() // 2:
        return None

    def solve_without(drop):
        lb_, ub_, integ_ = lb0.copy(), ub0.copy(), integ0.copy()
        lb_[:n][drop] = ub_[:n][drop] = 0.0
        integ_[:n][drop] = 0
        left = m.time_limit_s - (time.perf_counter() - t0)
        return m.solve(lb=lb_, ub=ub_, integ=integ_, row_hi=row_hi,
                       time_limit_s=max(left, 0.05), highs_options=FIXING_HIGHS_OPTIONS)[0]

    first = solve_without(~core) if core.sum() <= (~dead).sum() // 2 else None
    if incumbent is not None and (first is None or first.x is None
                                  or float(m.c @ incumbent) < float(first.fun)):
        return _fix_from_incumbent(m, lp, d, relaxable, dead, incumbent, solve_without, t0)
    if first is None or first.x is None:
        return None
    z_core = float(first.fun)
    margin = 1e-6 * max(1.0, abs(z_core))       # LP tolerances: keep doubtful ones free
    fixed = relaxable & (lp.fun + d * m.lo > z_core + margin) & (first.x[:n] <= SELECTED_TOL)
    if not (~fixed & ~core & ~dead).any():
        return first, time.perf_counter() - t0
    final = solve_without(fixed)
    if final.x is not None and final.fun <= z_core:
        return final, time.perf_counter() - t0
    if not _stop_reason(final)[1]:
        return first, time.perf_counter() - t0    # cannot happen (the core answer is feasible)
    # a limit stopped the second solve before it matched the core answer: keep that answer,
    # with the limit's status and the gap to the second solve's bound
    bound = float(getattr(final, "mip_dual_bound", np.nan) or np.nan)
    final.x, final.fun = first.x, first.fun
    final.mip_gap = ((z_core - bound) / max(abs(z_core), 1e-12) if np.isfinite(bound)
                     else float("inf"))
    return final, time.perf_counter() - t0


def _fix_from_incumbent(m: _Model, lp, d, relaxable, dead, incumbent, solve_without, t0):
    """Steps 3-4 of :func:`_solve_with_fixing` with a known feasible answer as the start."""
    n = m.n
    z_inc = float(m.c @ incumbent)
    margin = 1e-6 * max(1.0, abs(z_inc))
    fixed = relaxable & (lp.fun + d * m.lo > z_inc + margin) & (incumbent[:n] <= SELECTED_TOL)
    final = solve_without(fixed)
    if final.x is not None and final.fun <= z_inc:
        return final, time.perf_counter() - t0
    if final.x is None and final.status != 1:
        return None                  # cannot happen (the incumbent is feasible): solve in full
    # nothing better than the incumbent: keep it, with the final solve's bound
    bound = float(getattr(final, "mip_dual_bound", np.nan) or np.nan)
    final.x, final.fun = np.asarray(incumbent, float).copy(), z_inc
    final.mip_gap = (max(z_inc - bound, 0.0) / max(abs(z_inc), 1e-12) if np.isfinite(bound)
                     else float("inf"))
    return final, time.perf_counter() - t0


def _empty_result(m: _Model, row_hi=None) -> AllocationResult:
    """The answer without candidates: nothing funded, unless a constraint needs something."""
    row_hi = m.row_hi if row_hi is None else row_hi
    x = np.zeros(0)
    viol, slacks = _recheck(m, x, row_hi)
    needs = [nm for nm, sl in slacks.items() if sl < -RECHECK_TOL]
    if needs:
        raise AllocationInfeasible(
            f"No allocation satisfies these together: {'; '.join(needs)} (there are no "
            "candidates to fund).", needs, _messages_of(m, needs))
    obj, conc = m.objective_of(x)
    return AllocationResult(
        fractions=pd.Series(x, index=m.ids, name="fraction"),
        amounts=pd.DataFrame(np.zeros((0, len(m.keys))), index=m.ids, columns=m.keys),
        selected=pd.Series(np.zeros(0, bool), index=m.ids, name="selected"),
        objective=obj, status="no_candidates", optimal=True, mip_gap=0.0, solve_time_s=0.0,
        binding=[], slacks=slacks, marginal_values={k: 0.0 for k in m.keys}, recheck=viol,
        concave_values=conc, **_notes((Message("alloc_nothing_no_candidates"),)))


def _note(m: _Model, x: np.ndarray, row_hi, status: str, limit: bool, gap: float) -> tuple:
    """Messages explaining an all-zero allocation or a solver stopped by a limit."""
    notes = []
    if not np.any(x > SELECTED_TOL):
        notes.append(_why_nothing(m, row_hi))
    if limit:
        what = (Message("alloc_limit_time", {"seconds": f"{m.time_limit_s:g}"}) if status == "time_limit"
                else Message("alloc_limit_other", {"status": status.replace("_", " ")}))
        code = "alloc_stopped_gap" if np.isfinite(gap) else "alloc_stopped_gap_unknown"
        notes.append(Message(code, {"limit": what, "gap": f"{gap:.2%}"}))
    return tuple(notes)


def _why_nothing(m: _Model, row_hi) -> Message:
    """The first reason, in a fixed order, why no candidate can be funded with a gain."""
    bud = m.budgets if row_hi is None else np.asarray(row_hi[:m.n_budget_rows], float)
    free = np.ones(m.n, bool)
    free[m.pos_out] = False
    if not free.any():
        return Message("alloc_nothing_all_locked_out")
    bonus = np.zeros(m.n)
    for t, w in zip(m.concave, m.concave_w):
        bonus += w * max(float(np.max(t.slopes)), 0.0)
    gain = free & (m.value + bonus > 0)
    if not gain.any():
        return Message("alloc_nothing_no_value")
    start = np.where(m.lo > 0, m.lo, SNAP_TOL)          # smallest fundable share
    fits = gain & np.all(m.req * start[:, None] <= bud[None, :] * (1 + RECHECK_TOL), axis=1)
    if not fits.any():
        budgets = Joined(tuple(Message("alloc_budget_amount", {"budget": k, "amount": f"{b:g}"})
                               for k, b in zip(m.keys, bud)))
        return Message("alloc_nothing_fits_budgets", {"budgets": budgets})
    # caps and constraints that a candidate breaks on its own at its minimum share
    blockers = []
    for cap, mask, amount in zip(m.caps, m.cap_members, m.cap_amount):
        lim = 0.0 if cap.kind == "share" else cap.limit
        if cap.kind == "absolute" or cap.limit <= 0:
            blockers.append((cap.name, mask & (amount * start > lim * (1 + RECHECK_TOL))))
    for spec, a in zip(m.linear, m.linear_coef):
        limit = spec.upper + RECHECK_TOL * max(1.0, abs(spec.upper))
        blockers.append((spec.name, a * start > limit))
    blockers = [(nm, b) for nm, b in blockers if (b & fits).any()]
    blocked = np.zeros(m.n, bool)
    for _, b in blockers:
        blocked |= b
    if blockers and not (fits & ~blocked).any():
        names = _messages_of(m, [nm for nm, _ in blockers[:5]]) + ((Message("constraint_named", {"name": "..."}),)
                                                                  if len(blockers) > 5 else ())
        return Message("alloc_nothing_constraints_exclude", {"constraints": Joined(names, "; ")})
    return Message("alloc_nothing_no_combination")


def allocate(candidates: pd.DataFrame, budgets: Mapping[str, float], *, value="value",
             min_fraction=1.0, group_caps: Sequence[GroupCap] = (), locked_in=(), locked_out=(),
             max_fraction=1.0, extra_constraints: Sequence = (),
             concave_terms: Sequence[ConcaveTerm] = (), time_limit_s: float = 10.0,
             mip_rel_gap: float = 1e-6, tighten_concave: bool = True,
             presolve: bool = True) -> AllocationResult:
    """Choose funded fractions that maximise total value within budgets, caps and locks.

    Parameters
    ----------
    candidates : pd.DataFrame
        Index: candidate id (unique). A value column [objective units per fully funded
        candidate; may be negative] and one request column per key of ``budgets`` [units of the
        resource asked for when fully funded; non-negative].
    budgets : mapping str -> float
        Budget per resource [units of the resource], e.g. ``{"fund_krw_bn": 250.0,
        "loan_krw_bn": 67.5}``.
    value : str or mapping or array
        The value column name (default ``"value"``), or values per candidate.
    min_fraction : float, str or array
        Smallest fraction at which a candidate may be funded [fraction]: scalar, column name or
        one value per row. 1 = all-or-nothing; 0 = any fraction.
    group_caps : sequence of GroupCap
        Caps by group (country, mineral, ...), absolute or as share of the total.
    locked_in : sequence of ids
        Must fund: forces ``x_i >= min_fraction_i`` (or :data:`LOCK_FLOOR` when that is 0), not
        full funding. To force full funding set that candidate's ``min_fraction`` to 1.
    locked_out : sequence of ids
        Must not fund: forces ``x_i = 0``.
    max_fraction : float, str or array
        Largest fundable fraction [fraction] (e.g. a coverage cap per project).
    extra_constraints : sequence of LinearConstraintSpec or MinGroupsCovered
        Further constraints.
    concave_terms : sequence of ConcaveTerm
        Diminishing-returns bonuses added to the objective.
    time_limit_s : float
        HiGHS time limit [s]. On hitting it with a feasible answer the result has
        ``optimal=False`` and ``status="time_limit"``.
    mip_rel_gap : float
        Relative optimality gap at which HiGHS stops [fraction].
    tighten_concave : bool
        Clip the weights of concave terms where one candidate saturates the term by itself, and
        add the cuts of every breakpoint (same optimum, much tighter LP relaxation; see the
        module notes). False gives the plain formulation, kept as the reference path for tests
        and benchmarks.
    presolve : bool
        From :data:`FIXING_MIN_CANDIDATES` candidates on, fix at 0 the candidates that provably
        need not be funded: those that cannot be funded at all, those dominated by enough
        interchangeable better candidates (``_dominated``, with the absolute caps that share
        caps imply), then those whose LP bound cannot beat the answer of a small core MILP
        (``_solve_with_fixing``); HiGHS then runs with :data:`FIXING_HIGHS_OPTIONS`. Same
        optimum, proven the same way. False solves the full model directly.

    Returns
    -------
    AllocationResult
        Frozen; every constraint re-checked independently of the solver.

    Raises
    ------
    AllocationInfeasible
        No allocation satisfies the locks, caps and constraints; ``.conflicts`` names a small
        conflicting set, found with a deletion filter [3]_ (each element relaxed in turn,
        dropped for good when the rest is still infeasible).
    AllocationError
        No answer within the time limit, or the solver's answer failed the re-check.
    ValueError
        Malformed input (unknown ids, missing columns, bad fractions, non-concave terms).

    Notes
    -----
    ``marginal_values`` are shadow prices from ``linprog(method="highs")`` on the LP obtained by
    fixing the selection: selected candidates may move within ``[min_fraction, max_fraction]``
    (candidates with ``min_fraction = 0`` may move freely), unselected ones stay at 0. They tell
    what one more unit of budget is worth *without changing which candidates are in*; with
    all-or-nothing candidates that is 0 by construction. The effect of larger budget changes,
    including new entries, is read from :func:`frontier`.

    Warnings
    --------
    HiGHS inside scipy may print stray lines to stdout on long solves (NOTES.md); callers that
    print machine-read output (JSON) should write it after the solve or to a file.

    References
    ----------
    .. [2] Weingartner (1963), capital budgeting as an integer programme.
    .. [3] Chinneck and Dravnieks (1991), deletion filter.
    """
    m = _Model(candidates, budgets, value=value, min_fraction=min_fraction,
               max_fraction=max_fraction, group_caps=group_caps, locked_in=locked_in,
               locked_out=locked_out, extra_constraints=extra_constraints,
               concave_terms=concave_terms, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
               tighten_concave=tighten_concave, presolve=presolve)
    return _solve_model(m)


def frontier(candidates: pd.DataFrame, budgets: Mapping[str, float], vary: str,
             grid: Sequence[float], *, n_jobs: int | None = None, mip_rel_gap: float = 1e-4,
             known: AllocationResult | None = None, known_budget: float | None = None,
             warm_start: bool = True, **kwargs) -> pd.DataFrame:
    """Optimal value against the budget of one resource.

    The model is built once; each grid point only changes that budget's bound. scipy's ``milp``
    has no warm start, so the work of one point is reused for the others by three exact rules
    (``O(b)`` is the optimum at budget ``b``, non-decreasing in ``b``):

    * *reuse*: an answer found at budget ``B`` that uses ``u <= B`` of the resource is feasible
      at every ``b >= u``, so ``O(b) >=`` its value there; with ``b <= B`` it is also optimal
      there to the gap of ``B`` (``O(b) <= O(B)``);
    * *sandwich*: more generally a point ``b`` is settled without a solve when the best answer
      feasible at ``b`` (from any solved point using at most ``b``) is within ``mip_rel_gap`` of
      the smallest proven upper bound (HiGHS's dual bound) of a solved point with budget
      ``>= b``;
    * *warm start*: a point still to solve gets the best neighbouring answer feasible at its
      budget as the incumbent of the reduced-cost fixing (``_solve_with_fixing``), instead of
      solving a core MILP first; the presolve of :func:`allocate` applies to every point, its
      MILPs on HiGHS directly (:class:`_HighsModel`: fixed candidates out of the matrix, no
      presolve, symmetry detection or primal heuristics, which cost most on the small budgets).

    Points are solved from the ends of the grid inward, by repeated bisection of the widest
    stretch not yet visited, on ``n_jobs`` threads (HiGHS releases the GIL); a point settled by
    the answers found so far is skipped when its turn comes. Finally every point takes the best answer feasible at its budget
    among all solved points, so the curve never decreases with the budget, and each point keeps
    the proven gap between that answer and its upper bound (``mip_gap``, at most
    ``mip_rel_gap`` unless a limit stopped a solve).

    Each answer is re-checked like :func:`allocate`. An infeasible point gives NaN objective and
    ``status="infeasible"`` instead of raising, so a curve may start below the locks' needs.

    Parameters
    ----------
    candidates, budgets, **kwargs
        As for :func:`allocate`.
    vary : str
        Budget key to vary.
    grid : sequence of float
        Budget values for ``vary`` [units of the resource].
    n_jobs : int, optional
        Threads for the independent solves (default: up to 2, this machine's share).
    mip_rel_gap : float
        Relative gap per point. The default 1e-4 (HiGHS's own default) is looser than
        :func:`allocate`'s 1e-6: a curve drawn for what-if sliders does not need the last
        digit. Pass ``1e-6`` for proven points; ``optimal`` and ``mip_gap`` say what each point
        achieved.
    known : AllocationResult, optional
        An allocation of the same model (e.g. the page's own allocation), proven to at least
        ``mip_rel_gap``, made at ``known_budget`` of ``vary`` (default ``budgets[vary]``) and
        the other budgets as given: used as a solved point. Ignored when it does not fit.
    warm_start : bool
        Use the rules above (default). False solves every grid point independently with the
        full presolve (the reference path of the tests and the benchmark).

    Returns
    -------
    pd.DataFrame
        One row per grid point, in the order given. Columns ``budget``, ``objective``,
        ``allocated_<key>`` per resource, ``n_selected``, ``optimal`` (to ``mip_gap``),
        ``mip_gap``, ``status``, ``solve_time_s`` (0 for points settled without a solve),
        ``reused`` (True when the point was settled by reuse or sandwich, or took a better
        answer from a smaller budget).
    """
    if vary not in budgets:
        raise ValueError(f"vary={vary!r} is not a budget key")
    m = _HighsModel(candidates, budgets, mip_rel_gap=mip_rel_gap, **kwargs)
    k = m.keys.index(vary)
    grid = np.asarray(grid, dtype=float)
    if n_jobs is None:
        n_jobs = max(1, min(2, os.cpu_count() or 1))
    if m.n == 0:
        return _frontier_frame(m, [_empty_point(m, k, b) for b in grid])
    solved: list[_Point] = []
    seed = (_known_point(m, k, known, mip_rel_gap,
                         m.budgets[k] if known_budget is None else float(known_budget))
            if known is not None and warm_start else None)
    if seed is not None:
        solved.append(seed)
    rec: dict[int, _Point] = {}
    lock = threading.Lock()

    def run(j):
        with lock:
            if warm_start and _settled(solved, grid[j], mip_rel_gap):
                return
            start = _best_feasible(solved, grid[j]) if warm_start else None
        p = _solve_point(m, k, grid[j], start)
        with lock:
            rec[j] = p
            if p.x is not None:
                solved.append(p)

    order = _bisection_order(grid) if warm_start else list(range(len(grid)))
    first, rest = order[:2], order[2:]
    for batch in (first, rest):
        if n_jobs > 1 and len(batch) > 1:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                list(pool.map(run, batch))
        else:
            for j in batch:
                run(j)
    rows = [_final_point(m, k, b, rec.get(j), solved, warm_start) for j, b in enumerate(grid)]
    return _frontier_frame(m, rows)


@dataclass
class _Point:
    """One solved frontier point: budget, answer (full vector), value, proven upper bound."""

    budget: float
    x: np.ndarray | None
    objective: float
    upper: float
    used: float
    optimal: bool
    status: str
    seconds: float
    result: AllocationResult | None = None


def _point_gap(value: float, upper: float) -> float:
    return max(upper - value, 0.0) / max(abs(value), 1e-12)


def _solve_point(m: _Model, k: int, b: float, incumbent: np.ndarray | None) -> _Point:
    row_hi = m.row_hi.copy()
    row_hi[k] = float(b)
    t0 = time.perf_counter()
    try:
        res, _ = _solve_raw(m, row_hi, incumbent=incumbent, diagnose=False)
    except AllocationInfeasible:
        return _Point(float(b), None, np.nan, np.nan, np.nan, False, "infeasible",
                      time.perf_counter() - t0)
    except AllocationError as exc:       # a limit without any answer
        return _Point(float(b), None, np.nan, np.nan, np.nan, False, str(exc),
                      time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    r = _package(m, res, seconds, row_hi=row_hi, marginals=False)
    bound = getattr(res, "mip_dual_bound", None)
    upper = -float(bound) if bound is not None and np.isfinite(bound) else (
        r.objective + max(1.0, abs(r.objective)) * (r.mip_gap if np.isfinite(r.mip_gap) else np.inf))
    x = np.asarray(res.x, float).copy()
    x[:m.n] = r.fractions.to_numpy()
    return _Point(float(b), x, r.objective, max(upper, r.objective),
                  float(r.amounts.iloc[:, k].sum()), r.optimal, r.status, seconds, r)


def _known_point(m: _Model, k: int, known: AllocationResult, gap: float,
                 budget: float) -> _Point | None:
    """A given allocation as a solved point; None when it does not fit the model or is not
    proven to ``gap`` (then it is simply not used)."""
    if not known.fractions.index.equals(m.ids):
        return None
    x = np.zeros(m.nv)
    x[:m.n] = known.fractions.to_numpy(float)
    row_hi = m.row_hi.copy()
    row_hi[k] = budget
    viol, _ = _recheck(m, x[:m.n], row_hi)
    if any(v > RECHECK_TOL for v in viol.values()) or not known.optimal or known.mip_gap > gap:
        return None
    if abs(m.objective_of(x[:m.n])[0] - known.objective) > 1e-6 * max(1.0, abs(known.objective)):
        return None                                   # another objective: not this model
    # auxiliary variables (coverage, segments, totals) from the fractions
    x = _complete_aux(m, x)
    obj = known.objective
    # an upper bound from the gap, whichever way HiGHS scales it (by |objective| or by 1)
    return _Point(float(budget), x, obj, obj + max(1.0, abs(obj)) * known.mip_gap,
                  float(m.req[:, k] @ x[:m.n]), True, known.status, 0.0, known)


def _complete_aux(m: _Model, x: np.ndarray) -> np.ndarray:
    """Fill coverage binaries, concave segments and share totals of a full vector from x."""
    n = m.n
    xs = x[:n]
    for sl, groups in zip(m.z_slices, m.cov_groups):
        x[sl] = [float(np.sum(xs[mem] / m.cover_div[mem]) >= 1.0 - 1e-9) for _, mem in groups]
    for w, widths, sl in zip(m.concave_w_model, m.seg_width, m.u_slices):
        s = float(w @ xs)
        b = np.concatenate([[0.0], np.cumsum(widths[:-1])])
        x[sl] = np.clip(s - b, 0.0, widths)
    for r, jt in m.total_var.items():
        amount = m.req.sum(axis=1) if r is None else m.req[:, m.keys.index(r)]
        x[jt] = float(amount @ xs)
    return x


def _best_feasible(solved: list[_Point], b: float) -> np.ndarray | None:
    ok = [p for p in solved if p.x is not None and p.used <= b * (1 + 1e-9) + 1e-9]
    return max(ok, key=lambda p: p.objective).x if ok else None


def _settled(solved: list[_Point], b: float, gap: float) -> bool:
    lows = [p.objective for p in solved if p.x is not None and p.used <= b * (1 + 1e-9) + 1e-9]
    ups = [p.upper for p in solved if p.x is not None and p.budget >= b and p.optimal]
    return bool(lows and ups and _point_gap(max(lows), min(ups)) <= gap)


def _bisection_order(grid: np.ndarray) -> list[int]:
    """Grid positions: largest and smallest budget first, then repeatedly the middle of the
    widest stretch not yet visited, so early answers settle (reuse, sandwich) later points."""
    idx = list(np.argsort(grid, kind="stable"))
    if len(idx) <= 2:
        return idx[::-1]
    out = [idx[-1], idx[0]]
    stretches = [(0, len(idx) - 1)]
    while stretches:
        stretches.sort(key=lambda ab: ab[1] - ab[0])
        a, b = stretches.pop()
        if b - a < 2:
            continue
        mid = (a + b) // 2
        out.append(idx[mid])
        stretches += [(a, mid), (mid, b)]
    return [int(j) for j in out]


def _final_point(m: _Model, k: int, b: float, own: _Point | None, solved: list[_Point],
                 warm_start: bool) -> dict:
    """Record of one grid point: the best answer feasible at ``b`` and its proven gap."""
    if own is not None and own.x is None:
        return {"budget": float(b), "objective": np.nan, "n_selected": 0, "optimal": False,
                "status": own.status, "solve_time_s": own.seconds, "reused": False,
                "mip_gap": np.nan, **{f"allocated_{key}": np.nan for key in m.keys}}
    if not warm_start:
        r = own.result
        return {"budget": float(b), "objective": r.objective, "n_selected": int(r.selected.sum()),
                "optimal": r.optimal, "status": r.status, "solve_time_s": own.seconds,
                "reused": False, "mip_gap": r.mip_gap,
                **{f"allocated_{key}": float(r.amounts[key].sum()) for key in m.keys}}
    best = max((p for p in solved if p.used <= b * (1 + 1e-9) + 1e-9), key=lambda p: p.objective)
    ups = [p.upper for p in solved if p.budget >= b * (1 - 1e-12) and p.optimal]
    upper = min(ups) if ups else np.inf
    gap = _point_gap(best.objective, upper)
    optimal = bool(ups) and gap <= m.mip_rel_gap * (1 + 1e-9) + 1e-12
    xs = best.x[:m.n]
    rec = {"budget": float(b), "objective": best.objective,
           "n_selected": int(np.sum(xs > SELECTED_TOL)), "optimal": optimal,
           "status": "optimal" if optimal else (own.status if own is not None else best.status),
           "solve_time_s": own.seconds if own is not None else 0.0,
           "reused": own is None or best is not own, "mip_gap": gap}
    rec.update({f"allocated_{key}": float(m.req[:, i] @ xs) for i, key in enumerate(m.keys)})
    return rec


def _empty_point(m: _Model, k: int, b: float) -> dict:
    row_hi = m.row_hi.copy()
    row_hi[k] = float(b)
    try:
        r = _empty_result(m, row_hi)
    except AllocationInfeasible:
        return {"budget": float(b), "objective": np.nan, "n_selected": 0,
                "optimal": False, "status": "infeasible", "solve_time_s": 0.0,
                "reused": False, "mip_gap": 0.0, **{f"allocated_{key}": np.nan for key in m.keys}}
    return {"budget": float(b), "objective": r.objective, "n_selected": 0,
            "optimal": True, "status": r.status, "solve_time_s": 0.0, "reused": False,
            "mip_gap": 0.0, **{f"allocated_{key}": 0.0 for key in m.keys}}


def _frontier_frame(m: _Model, rows: list[dict]) -> pd.DataFrame:
    cols = (["budget", "objective"] + [f"allocated_{key}" for key in m.keys]
            + ["n_selected", "optimal", "mip_gap", "status", "solve_time_s", "reused"])
    return pd.DataFrame.from_records(rows, columns=cols)


#: HiGHS options of the re-solves of :func:`entry_values` and of the frontier's points
#: (:class:`_HighsModel`). After the fixing (reduced costs, dominance) these MILPs are small and
#: HiGHS closes them at or near the root node, so its fixed costs dominate: presolve, symmetry
#: detection and the primal heuristics cost more than they save (branching finds the few
#: answers there are; the frontier's budgets where few projects fit were up to tenfold
#: slower with them). They change the path, not the answer or its proof.
RESOLVE_HIGHS_OPTIONS = {"presolve": "off", "mip_detect_symmetry": False,
                         "mip_heuristic_effort": 0.0, "mip_heuristic_run_feasibility_jump": False,
                         "mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False,
                         "mip_heuristic_run_root_reduced_cost": False,
                         "mip_heuristic_run_zi_round": False, "mip_heuristic_run_shifting": False}


@dataclass
class _Resolve:
    """A re-solve's answer in ``scipy.optimize.milp``'s terms: ``status`` 0 optimal (to the
    gap), 1 a limit stopped it, 2 infeasible, 4 other; ``x`` the full vector or None."""

    x: np.ndarray | None
    fun: float
    status: int


_HIGHS_STATUS = {highspy.HighsModelStatus.kOptimal: 0, highspy.HighsModelStatus.kInfeasible: 2,
                 highspy.HighsModelStatus.kTimeLimit: 1,
                 highspy.HighsModelStatus.kIterationLimit: 1,
                 highspy.HighsModelStatus.kSolutionLimit: 1,
                 highspy.HighsModelStatus.kInterrupt: 1}


def _highs(m: _Model, A: sparse.spmatrix, c, lb, ub, integ=None, *, row_lo=None, row_hi=None,
           mip_rel_gap=None, time_limit_s=None):
    """A HiGHS instance (highspy) holding ``min c x, row_lo <= A x <= row_hi, lb <= x <= ub``
    (by default the model's rows, gap and time limit, and :data:`RESOLVE_HIGHS_OPTIONS`)."""
    # the plain binding: highspy.Highs adds Python callbacks (interrupt handling) we do not use
    h = highspy._Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", m.mip_rel_gap if mip_rel_gap is None else mip_rel_gap)
    h.setOptionValue("time_limit", m.time_limit_s if time_limit_s is None else time_limit_s)
    for k, v in RESOLVE_HIGHS_OPTIONS.items():
        h.setOptionValue(k, v)
    A = sparse.csc_matrix(A)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = A.shape[1], A.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, lb, ub
    lp.row_lower_ = m.row_lo if row_lo is None else row_lo
    lp.row_upper_ = m.row_hi if row_hi is None else row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = A.shape[1], A.shape[0]
    if integ is not None:
        lp.integrality_ = [highspy.HighsVarType(int(v)) for v in integ]
    h.passModel(lp)
    return h


def _entry_milp(m: _Model, c, lb, ub, integ, cutoff: float | None = None) -> _Resolve:
    """One re-solve of :func:`entry_values`: the MILP over the candidates whose upper bound is
    positive (the fixed ones are left out of the matrix, not only bounded at 0) and the
    auxiliary variables, on HiGHS with :data:`RESOLVE_HIGHS_OPTIONS`.

    With a ``cutoff`` (minimisation form, HiGHS's ``objective_bound``) HiGHS prunes every node
    whose bound does not go below it, so an answer better than the cutoff is still found and
    proven; status 2 then means that there is none (HiGHS may also return an answer that is
    not better than the cutoff: the caller compares).

    ``scipy.optimize.milp`` passes the whole matrix and takes none of HiGHS's own options; on
    these small problems that doubles the time of a solve. Thread-safe (a HiGHS instance per
    call; HiGHS releases the GIL while it runs).
    """
    keep = np.ones(m.nv, bool)
    keep[:m.n] = ub[:m.n] > 0
    cols = np.flatnonzero(keep)
    h = _highs(m, m.A[:, cols], c[cols], lb[cols], ub[cols], integ[cols])
    if cutoff is not None:
        h.setOptionValue("objective_bound", float(cutoff))
    h.run()
    status = _HIGHS_STATUS.get(h.getModelStatus(), 4)
    info = h.getInfo()
    if status in (0, 1) and (info.primal_solution_status
                             == highspy.SolutionStatus.kSolutionStatusFeasible):
        x = np.zeros(m.nv)
        x[cols] = h.getSolution().col_value
        return _Resolve(x, float(info.objective_function_value), status)
    return _Resolve(None, np.nan, status)


_SCIPY_STATUS = {0: "Optimization terminated successfully.", 1: "Time limit reached.",
                 2: "The problem is infeasible.", 4: "Solution limit reached."}


class _HighsModel(_Model):
    """:class:`_Model` whose MILP solves run on HiGHS directly (highspy) with
    :data:`RESOLVE_HIGHS_OPTIONS`, the candidates fixed at 0 left out of the matrix.

    ``solve`` answers like ``scipy.optimize.milp`` (an ``OptimizeResult`` with ``x``, ``fun``,
    ``status``, ``message``, ``mip_gap``, ``mip_dual_bound``, ``mip_node_count``), so the
    presolve and packaging of :func:`allocate` run on it unchanged.
    """

    def solve(self, *, c=None, lb=None, ub=None, integ=None, row_lo=None, row_hi=None,
              time_limit_s=None, mip_rel_gap=None, highs_options=None):
        c = self.c if c is None else np.asarray(c, float)
        lb = self.lb if lb is None else np.asarray(lb, float)
        ub = self.ub if ub is None else np.asarray(ub, float)
        integ = self.integ if integ is None else np.asarray(integ)
        keep = np.ones(self.nv, bool)
        keep[:self.n] = ub[:self.n] > 0
        cols = np.flatnonzero(keep)
        t0 = time.perf_counter()
        h = _highs(self, self.A[:, cols], c[cols], lb[cols], ub[cols], integ[cols],
                   row_lo=row_lo, row_hi=row_hi, mip_rel_gap=mip_rel_gap, time_limit_s=time_limit_s)
        for k, v in (highs_options or {}).items():   # as _Model.solve takes them (on top of RESOLVE_HIGHS_OPTIONS)
            h.setOptionValue(k, v)
        h.run()
        model_status = h.getModelStatus()
        status = {highspy.HighsModelStatus.kSolutionLimit: 4}.get(
            model_status, _HIGHS_STATUS.get(model_status, 4))
        info = h.getInfo()
        x = None
        if status in (0, 1, 4) and (info.primal_solution_status
                                    == highspy.SolutionStatus.kSolutionStatusFeasible):
            x = np.zeros(self.nv)
            x[cols] = h.getSolution().col_value
        message = _SCIPY_STATUS.get(status, f"HiGHS status {model_status}")
        if model_status == highspy.HighsModelStatus.kIterationLimit:
            message = "Iteration limit reached."
        res = OptimizeResult(
            x=x, fun=float(info.objective_function_value) if x is not None else None,
            status=status, success=status == 0, message=message,
            mip_gap=float(info.mip_gap), mip_dual_bound=float(info.mip_dual_bound),
            mip_node_count=int(info.mip_node_count))
        return res, time.perf_counter() - t0


class _Relaxation:
    """The LP relaxation of the model held by one HiGHS instance and re-solved with other
    costs and bounds, each solve starting from the previous basis. One per thread."""

    def __init__(self, m: _Model):
        self.m = m
        self.h = _highs(m, m.A, m.c, m.lb, m.ub)
        self.cols = np.arange(m.nv, dtype=np.int32)

    def solve(self, c, lb, ub) -> tuple[bool, float, np.ndarray]:
        """``(solved, objective, reduced costs of the candidates)`` in minimisation form, like
        ``linprog``'s ``lower.marginals``."""
        h, nv = self.h, self.m.nv
        h.changeColsCost(nv, self.cols, np.asarray(c, float))
        h.changeColsBounds(nv, self.cols, np.asarray(lb, float), np.asarray(ub, float))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            self.x = None
            return False, np.nan, np.zeros(self.m.n)
        sol = h.getSolution()
        self.x = np.asarray(sol.col_value, float)
        dual = np.asarray(sol.col_dual, float)[:self.m.n]
        return True, float(h.getInfo().objective_function_value), dual


def entry_values(candidates: pd.DataFrame, budgets: Mapping[str, float],
                 result: AllocationResult, *, ids: Sequence | None = None,
                 n_jobs: int | None = None, max_iter: int = 12,
                 should_stop: Callable[[], bool] | None = None, **kwargs) -> pd.DataFrame:
    """For every left-out candidate, the exact value at which it enters the optimal allocation.

    Exact means by MILP re-solves (no LP estimate): the smallest value increase ``delta`` such
    that an optimal allocation funds the candidate, to the MILP gap. With ``F`` the objective
    and ``X_i`` the allocations that fund ``i`` (at least its minimum share), the candidate
    enters at value ``v_i + delta`` exactly when some ``x`` in ``X_i`` reaches the optimum
    ``O*`` of ``result``: ``F(x) + delta x_i >= O*``. So ``delta* = min over X_i of
    (O* - F(x)) / x_i``, a fractional programme solved by Dinkelbach's method (Newton on the
    convex, piecewise-linear ``max_x F(x) + delta x_i``): from a feasible ``x^0`` in ``X_i``,
    ``delta_t = (O* - F(x^t)) / x^t_i`` and ``x^{t+1}`` maximises ``F(x) + delta_t x_i`` over
    ``X_i`` (a MILP with ``i`` locked in and its value raised), until that maximum is ``O*``
    (within the gap); ``delta_t`` then is the threshold. When a step's answer funds the
    candidate at its floor (``x_i = lo_i``, its smallest share in ``X_i``), the new ``delta`` is
    already the threshold: for every ``x`` in ``X_i``, ``F(x) + delta x_i <= F(x^{t+1}) +
    delta_t lo_i - (delta_t - delta) x_i <= O*`` because ``x_i >= lo_i``; the check solve is
    skipped. With all-or-nothing candidates the first step is therefore exact.

    Every MILP is small. ``x^0`` is the best allocation that keeps every funded candidate and
    ``i`` within their funded ranges (an LP: any such point lies in ``X_i``); when that LP has
    no answer (someone must leave) or the model has coverage binaries, a core MILP over the
    funded candidates and ``i``. Each Dinkelbach MILP keeps free only the candidates that can
    be funded in an allocation worth ``O*`` at the raised value, by LP reduced costs ``d``
    [4]_: any ``x`` has
    ``F(x) <= Z_LP - sum_k d_k x_k``, so ``F(x) + delta x_i >= O*`` needs
    ``sum_{k != i} d_k x_k <= (Z_LP - O*) + max(0, delta - d_i) hi_i``, and a candidate
    whose ``d_k lo_k`` exceeds that bound is 0 in every such ``x`` (``delta <= delta_t``
    decreases along the iteration); here ``Z_LP`` and ``d`` come from the LP of that very
    problem (``i`` locked in at the raised value). Candidates dominated by enough
    interchangeable copies (``_dominated``) are fixed at 0 as well: some best answer leaves
    them out, and moving a fraction to a better copy never funds a candidate that the reduced
    costs exclude. Each Dinkelbach MILP also only looks for answers worth more than ``O*`` (+
    the tolerance; HiGHS's cutoff): finding none proves the threshold. The MILPs run on HiGHS
    directly (:func:`_entry_milp`: fixed candidates out of the matrix,
    :data:`RESOLVE_HIGHS_OPTIONS`), the LPs on one HiGHS model per thread re-solved from the
    previous basis (:class:`_Relaxation`). Candidates are processed on ``n_jobs`` threads
    (HiGHS releases the GIL); answers do not depend on the order or the chunking (``ids``).

    Parameters
    ----------
    candidates, budgets, **kwargs
        As passed to :func:`allocate` for ``result`` (``mip_rel_gap`` included).
    result : AllocationResult
        The allocation to explain (its objective is ``O*``).
    ids : sequence, optional
        Only these candidates (those of them that are left out and not locked out), e.g. a
        chunk at a time so that a page can show answers as they come; default all.
    n_jobs : int, optional
        Threads (default: up to 2).
    max_iter : int
        Dinkelbach steps per candidate (convergence is finite; the bound is a safeguard).
    should_stop : callable, optional
        Asked before each candidate; once it answers True no further candidate is started
        and :class:`EntryValuesStopped` is raised (a page cancelling work it no longer needs).

    Returns
    -------
    pd.DataFrame
        Index: the left-out candidates that are not locked out. Columns ``value``,
        ``enter_value`` and ``value_increase`` [objective units; inf when no allocation can fund
        it], ``enter_fraction`` (its funded fraction at the threshold), ``exact`` (converged
        within ``max_iter``), ``solves`` (MILPs), ``free_candidates`` (largest restricted MILP),
        ``seconds``.
    """
    m = _Model(candidates, budgets, **kwargs)
    n = m.n
    x0 = result.fractions.reindex(m.ids).fillna(0.0).to_numpy(float)
    sel = x0 > SELECTED_TOL
    wanted = np.ones(n, bool) if ids is None else m.ids.isin(list(ids))
    out_ids = [p for p in range(n) if wanted[p] and not sel[p] and p not in set(m.pos_out.tolist())]
    cols = ["value", "enter_value", "value_increase", "enter_fraction", "exact", "solves",
            "free_candidates", "seconds"]
    if not out_ids:
        return pd.DataFrame(columns=cols, index=m.ids[[]])
    O_star = float(result.objective)
    relaxable = (m.integ[:n] > 0) & (m.lo > 0)
    lb = m.lb.copy()
    lb[:n][relaxable] = 0.0
    lp, *_ = _lp(m, lb, m.ub, m.row_hi)
    if lp.status == 0:
        d = np.maximum(np.asarray(lp.lower.marginals[:n], float), 0.0)
        G = max(-float(lp.fun) - O_star, 0.0)
    else:                                  # no LP bound: nothing can be fixed
        d, G = np.zeros(n), np.inf
    tol = 2.0 * m.mip_rel_gap * max(1.0, abs(O_star))
    if n_jobs is None:
        n_jobs = max(1, min(2, os.cpu_count() or 1))
    # dominance [5]_ once for all: with p locked in at a raised value a candidate with enough
    # better interchangeable copies is still 0 in some best answer (p, funded, is never the
    # unfunded copy the argument moves a fraction to; a raised value only makes p a better
    # copy), so the fixing of the plain model holds in every problem below, p itself excepted
    dominated = _dominated(m, m.row_hi)
    local = threading.local()

    def one(p):
        if should_stop is not None and should_stop():
            raise EntryValuesStopped("stopped on request")
        if not hasattr(local, "lp"):
            local.lp = _Relaxation(m)
        return _entry_value(m, p, x0, sel, O_star, d, G, relaxable, tol, max_iter, local.lp,
                            dominated)

    if n_jobs > 1 and len(out_ids) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            rows = list(pool.map(one, out_ids))
    else:
        rows = [one(p) for p in out_ids]
    return pd.DataFrame(rows, index=m.ids[out_ids], columns=cols)


def _entry_value(m: _Model, p: int, x0: np.ndarray, sel: np.ndarray, O_star: float,
                 d: np.ndarray, G: float, relaxable: np.ndarray, tol: float,
                 max_iter: int, lp_solver: _Relaxation, dominated: np.ndarray) -> dict:
    """Dinkelbach iteration of :func:`entry_values` for candidate position ``p``."""
    t0 = time.perf_counter()
    n = m.n
    v = float(m.value[p])
    lb, ub, integ = m.apply_locks(list(m.pos_in) + [p], list(m.pos_out))
    solves, largest = 0, 0

    def solve(free, delta, cutoff=None):
        nonlocal solves, largest
        lb_, ub_, integ_ = lb.copy(), ub.copy(), integ.copy()
        lb_[:n][~free] = ub_[:n][~free] = 0.0
        integ_[:n][~free] = 0
        c = m.c.copy()
        c[p] = -(v + delta)
        res = _entry_milp(m, c, lb_, ub_, integ_, cutoff)
        solves += 1
        largest = max(largest, int(free.sum()))
        return res

    # x^0: the funded candidates and p all kept funded (an LP), else the MILP over them (some
    # may leave), else over everything (p may need others to fit caps)
    start = _entry_start(m, p, sel, lb, ub, lp_solver, O_star)
    for free in (sel | (np.arange(n) == p), np.ones(n, bool)):
        if start is not None and start.x is not None:
            break
        start = solve(free, 0.0)
    if start.x is None:
        return {"value": v, "enter_value": np.inf, "value_increase": np.inf,
                "enter_fraction": np.nan, "exact": start.status == 2, "solves": solves,
                "free_candidates": largest, "seconds": time.perf_counter() - t0}
    x = start.x
    delta = (O_star - m.objective_of(x[:n])[0]) / max(x[p], SELECTED_TOL)
    # O* is optimal with p out, so delta* >= 0 (to the gap): a start within the tolerance of 0
    # is already the threshold (a tie: p is in an alternative optimum)
    exact = start.status == 0 and delta * x[p] <= tol
    for _ in range(0 if exact else max_iter):
        free = _free_for_entry(m, p, v + delta, lb, relaxable, O_star, tol, lp_solver,
                               dominated)
        if free is None:
            slack = G + max(0.0, delta - d[p]) * m.hi[p] + tol
            free = ~relaxable | (d * m.lo <= slack) | (np.arange(n) == p)
        # only an answer worth more than O* (+ tol) moves delta: the rest is cut off
        res = solve(free, delta, cutoff=-(O_star + tol))
        if res.status == 2:
            exact = True              # nothing beats O* + tol at delta: delta is the threshold
            break
        if res.x is None:
            break
        gain = -float(res.fun) - O_star
        if gain <= tol:
            exact = res.status == 0
            break
        x = res.x
        delta = (O_star - m.objective_of(x[:n])[0]) / max(x[p], SELECTED_TOL)
        if res.status == 0 and x[p] <= lb[p] + SNAP_TOL:
            # x maximises F + delta_t x_p and funds p at its floor a = lb_p; for every x' in X_p
            # (so x'_p >= a) and the new delta <= delta_t: F(x') + delta x'_p
            # <= F(x) + delta_t a - (delta_t - delta) x'_p <= F(x) + delta a = O*, so the new
            # delta is the threshold: no check solve needed
            exact = True
            break
    return {"value": v, "enter_value": v + delta, "value_increase": delta,
            "enter_fraction": float(x[p]), "exact": exact, "solves": solves,
            "free_candidates": largest, "seconds": time.perf_counter() - t0}


def _entry_start(m: _Model, p: int, sel: np.ndarray, lb: np.ndarray, ub: np.ndarray,
                 lp: _Relaxation, O_star: float) -> _Resolve | None:
    """A first allocation that funds ``p`` without a MILP: the funded candidates (all, or all
    but one) and ``p`` held within their funded ranges (``x_i >= min_fraction_i``), the others
    at 0, fractions chosen by the LP; the one with the smallest ratio ``(O* - F) / x_p``. Any
    such point is feasible for the MILP, so its ratio bounds the threshold from above, and
    the closer that bound, the more candidates the reduced-cost fixing of the first re-solve
    removes. None when no such LP has an answer or the model has coverage binaries (the LP
    would relax them)."""
    if m.nz:
        return None
    n = m.n
    best, best_delta = None, np.inf
    locked = np.zeros(n, bool)
    locked[m.pos_in] = True
    # the funded set as it is, then without each funded candidate in turn (its room may be
    # what p needs): the smallest ratio (O* - F) / x_p wins
    for k in [-1] + [int(k) for k in np.flatnonzero(sel & ~locked)]:
        on = sel.copy()
        if k >= 0:
            on[k] = False
        on[p] = True
        lb_, ub_ = lb.copy(), ub.copy()
        lb_[:n] = np.where(on, np.maximum(lb[:n], m.lo), 0.0)
        ub_[:n] = np.where(on, ub[:n], 0.0)
        solved, fun, _ = lp.solve(m.c, lb_, ub_)
        if not solved:
            continue
        x = lp.x.copy()
        delta = (O_star - m.objective_of(x[:n])[0]) / max(x[p], SELECTED_TOL)
        if delta < best_delta:
            best, best_delta = _Resolve(x, fun, 0), delta
    return best


def _free_for_entry(m: _Model, p: int, value: float, lb_locked: np.ndarray,
                    relaxable: np.ndarray, O_star: float, tol: float, lp: _Relaxation,
                    dominated: np.ndarray) -> np.ndarray | None:
    """Candidates that can be funded in an allocation worth ``O*`` with ``p`` locked in at
    ``value``: reduced-cost fixing [4]_ on the LP relaxation of that very problem (``p`` at
    least at its floor), less the ``dominated`` ones (see :func:`entry_values`). None when the
    LP is not solved."""
    n = m.n
    lb = lb_locked.copy()
    keep_p = lb[p]
    lb[:n][relaxable] = 0.0
    lb[p] = keep_p
    c = m.c.copy()
    c[p] = -value
    solved, fun, rc = lp.solve(c, lb, m.ub)
    if not solved:
        return None
    d = np.maximum(rc, 0.0)
    slack = -fun - O_star + tol
    free = (~relaxable | (d * m.lo <= slack)) & ~dominated
    free[p] = True
    return free


def entry_thresholds(candidates: pd.DataFrame, budgets: Mapping[str, float],
                     result: AllocationResult, *, max_candidates: int = 10,
                     max_iter: int = 6, time_budget_s: float = 10.0, left_out: bool = True,
                     **kwargs) -> pd.DataFrame:
    """How far each candidate is from changing state.

    For a left-out candidate: the value at which it would enter, and the fraction of its
    request at which it would enter with its value unchanged. For a funded candidate: how much
    its value could fall before it leaves. A cheap LP first cut is given for every candidate;
    exact answers (MILP re-solves) for the candidates nearest the margin, within a time budget.

    Parameters
    ----------
    candidates, budgets, **kwargs
        As passed to :func:`allocate` for ``result``.
    result : AllocationResult
        The allocation to explain.
    max_candidates : int
        Re-solve for at most this many left-out and this many funded candidates, those
        nearest the margin (by value minus LP break-even value) first.
    max_iter : int
        Re-solves per candidate and question.
    time_budget_s : float
        Stop re-solving once this much time is spent [s]; later rows keep the LP first cut
        only (``note`` says so).
    left_out : bool
        Explain left-out candidates too (default). False explains only the funded ones (the
        left-out ones then come exactly, every one of them, from :func:`entry_values`).

    Returns
    -------
    pd.DataFrame
        Index: candidate id (all candidates). Columns:

        ``selected``, ``value``;
        ``lp_break_even_value``: value at which its reduced cost is zero in the LP with the
        selection fixed (first cut: ignores the jump to ``min_fraction`` and any change of
        selection) [objective units];
        ``enter_value``: value at which a left-out candidate enters;
        ``enter_request_fraction``: largest fraction of its request (value unchanged) at which a
        left-out candidate enters, NaN if it never does [fraction];
        ``leave_value``, ``value_drop_to_leave``: for funded candidates;
        ``exact``: the MILP threshold converged; ``note``.

    Notes
    -----
    Let ``O_out`` be the optimum with the candidate excluded and ``O_in(v)`` the optimum with it
    forced in at value ``v``. ``O_in`` is convex and piecewise linear in ``v`` (a maximum of
    functions linear in ``v`` with slope ``x_i``), so Newton steps
    ``v <- v - (O_in(v) - O_out) / x_i(v)`` approach the crossing ``O_in(v) = O_out``
    monotonically from the side where the candidate is in; every iterate is a value at which it
    is (weakly) in. With all-or-nothing candidates ``x_i = 1`` and one step is exact. Ties count
    as entering. The thresholds are exact up to the MILP gap (``mip_rel_gap`` x objective).
    The request scale-down is a bisection with ``max_iter`` steps and reports the
    (conservative) lower end of the bracket. Only request-derived rows (budgets, caps) scale;
    :class:`LinearConstraintSpec` coefficients do not.
    """
    t_start = time.perf_counter()
    m = _Model(candidates, budgets, **kwargs)
    if m.n == 0:
        return pd.DataFrame(
            {"selected": pd.Series(dtype=bool), "value": pd.Series(dtype=float),
             **{c: pd.Series(dtype=float) for c in (
                 "lp_break_even_value", "enter_value", "enter_request_fraction", "leave_value",
                 "value_drop_to_leave")},
             "exact": pd.Series(dtype=bool), "note": pd.Series(dtype=object)}, index=m.ids)
    x0 = result.fractions.reindex(m.ids).to_numpy()
    O_star = result.objective
    sel = x0 > SELECTED_TOL
    locked_in = set(m.pos_in.tolist())
    locked_out = set(m.pos_out.tolist())
    xfull0 = np.zeros(m.nv)
    xfull0[:m.n] = x0
    if m.nz:
        # coverage binaries of the given result: a group is on if a member is selected
        for sl, groups in zip(m.z_slices, m.cov_groups):
            xfull0[sl] = [float(sel[mem].any()) for _, mem in groups]
    _, lp_be = _marginals(m, xfull0, m.row_hi, break_even=True)
    margin = np.abs(m.value - lp_be)
    margin = np.where(np.isfinite(margin), margin, np.inf)
    order = np.argsort(margin, kind="stable")
    out_pos = [p for p in order if not sel[p] and p not in locked_out][:max_candidates] \
        if left_out else []
    in_pos = [p for p in order if sel[p] and p not in locked_in][:max_candidates]

    table = pd.DataFrame({
        "selected": sel, "value": m.value, "lp_break_even_value": lp_be,
        "enter_value": np.nan, "enter_request_fraction": np.nan, "leave_value": np.nan,
        "value_drop_to_leave": np.nan, "exact": False, "note": "LP first cut only"},
        index=m.ids)
    for p in locked_in:
        table.iloc[p, table.columns.get_indexer(["leave_value", "value_drop_to_leave", "exact",
                                                 "note"])] = [-np.inf, np.inf, True, "locked in"]
    for p in locked_out:
        table.iloc[p, table.columns.get_indexer(["enter_value", "exact", "note"])] = [
            np.inf, True, "locked out"]

    def out_of_time():
        return time.perf_counter() - t_start > time_budget_s

    def solve_with(c=None, force_in=None, force_out=None, model=None):
        mm = model or m
        pin = list(mm.pos_in) + ([force_in] if force_in is not None else [])
        pout = [q for q in mm.pos_out if q != force_in] + (
            [force_out] if force_out is not None else [])
        lb, ub, integ = mm.apply_locks(pin, pout)
        res, _ = mm.solve(c=c, lb=lb, ub=ub, integ=integ)
        if res.x is None:
            return None, None
        return -float(res.fun), res.x[:mm.n]

    def newton(p, v, obj, xi, O_target):
        """Walk v from the 'in' side to the crossing O_in(v) = O_target."""
        for _ in range(max_iter):
            if abs(obj - O_target) <= 1e-9 * max(1.0, abs(O_target)):
                return v, True
            if xi <= SELECTED_TOL:
                break
            v_new = v - (obj - O_target) / xi
            c = m.c.copy()
            c[p] = -v_new
            o, xx = solve_with(c=c, force_in=p)
            if o is None:
                break
            v, obj, xi = v_new, o, xx[p]
        return v, abs(obj - O_target) <= 1e-9 * max(1.0, abs(O_target))

    def set_row(p, **vals):
        for col, v in vals.items():
            table.iloc[p, table.columns.get_loc(col)] = v

    def explain_out(p):
        o_in, x_in = solve_with(force_in=p)
        if o_in is None:
            set_row(p, enter_value=np.inf, exact=True,
                    note="cannot be funded with the locks and constraints")
            return
        # one tangent step up from the current value lands on the 'in' side (convexity)
        v_up = m.value[p] + max(O_star - o_in, 0.0) / max(x_in[p], SELECTED_TOL)
        c = m.c.copy()
        c[p] = -v_up
        o_up, x_up = solve_with(c=c, force_in=p)
        if o_up is None:
            return
        v, exact = newton(p, v_up, o_up, x_up[p], O_star)
        set_row(p, enter_value=v, exact=exact, note="")

    def explain_in(p):
        o_out, _ = solve_with(force_out=p)
        if o_out is None:
            set_row(p, leave_value=-np.inf, value_drop_to_leave=np.inf, exact=True,
                    note="needed for feasibility")
            return
        v, exact = newton(p, m.value[p], O_star, x0[p], o_out)
        set_row(p, leave_value=v, value_drop_to_leave=m.value[p] - v, exact=exact, note="")

    def request_fraction(p):
        i = m.ids[p]
        lo_s, hi_s = 0.0, 1.0
        for it in range(max_iter + 1):
            if out_of_time():
                return
            s = 1e-6 if it == 0 else 0.5 * (lo_s + hi_s)
            cand = candidates.copy()
            cand[m.keys] = cand[m.keys].astype(float)
            cand.loc[i, m.keys] = cand.loc[i, m.keys] * s
            o_s, _ = solve_with(force_in=p, model=_Model(cand, budgets, **kwargs))
            enters = o_s is not None and o_s >= O_star - 1e-9 * max(1.0, abs(O_star))
            if it == 0 and not enters:
                set_row(p, note="does not enter even at a negligible request")
                return
            lo_s, hi_s = (s, hi_s) if enters else (lo_s, s)
        set_row(p, enter_request_fraction=lo_s)

    # interleave left-out and funded candidates so both get explained within the budget
    for k in range(max(len(out_pos), len(in_pos))):
        for pos, fn in ((out_pos, explain_out), (in_pos, explain_in)):
            if k < len(pos) and not out_of_time():
                fn(pos[k])
    for p in out_pos:
        if np.isfinite(table["enter_value"].iat[p]) and not out_of_time():
            request_fraction(p)
    if out_of_time():
        table.loc[table["note"] == "LP first cut only", "note"] = \
            "LP first cut only (time budget reached)"
    return table
