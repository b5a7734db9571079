"""The problem's terms: group caps, linear constraints, coverage, concave terms, the result, and the tolerances of the solution check."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from evaluator import messages
from evaluator.messages import Message

#: A candidate counts as selected when its fraction exceeds this [fraction].
SELECTED_TOL = 1e-7
#: Floor imposed by a lock on a candidate whose ``min_fraction`` is 0 [fraction].
LOCK_FLOOR = 1e-6
#: Total fraction of a group's zero-floor candidates that counts as covering the group.
COVERAGE_FLOOR = 0.01


#: Relative feasibility tolerance of the independent re-check.
RECHECK_TOL = 1e-6
#: Solver tolerance within which a fraction is snapped to 0 or to its largest value before the
#: re-check [fraction]. HiGHS accepts a semi-continuous or integer value within its
#: ``mip_feasibility_tolerance`` (default 1e-6) of an allowed value, so 4e-7 can come back for a
#: candidate that is not funded; unsnapped it would read as "selected below its minimum share".
SNAP_TOL = 1e-6


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
