"""The solution check (independent of the solver's own report) and the diagnosis of an infeasible model."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from evaluator.allocation.errors import AllocationInfeasible
from evaluator.allocation.model import _Model
from evaluator.allocation.spec import RECHECK_TOL, SELECTED_TOL, SNAP_TOL, _messages_of
from evaluator.messages import Joined, Message


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
    if len(m.step_cells):
        # awards exactly on the step: a share is the whole number of steps of its largest request
        # nearest the solver's (its integers carry its tolerance; the other requests follow from
        # the rows), never above the largest share
        raw = np.asarray(xfull[:m.n], float)
        big = m.req.sum(axis=1)
        on = big > 0
        steps = np.minimum(np.floor(raw[on] * big[on] / m.award_step + 0.5),
                           np.floor(m.hi[on] * big[on] / m.award_step + 1e-9))
        x[on] = np.maximum(steps, 0.0) * m.award_step / big[on]
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
    raise AllocationInfeasible(msg, conflicts, _messages_of(m, conflicts), _infeasible_header(m, conflicts, minimal))


def _infeasible_header(m: _Model, conflicts: list[str], minimal: bool) -> Message:
    """The explanation of :func:`_raise_infeasible` as a catalogue message (the officer's language)."""
    budgets = Joined(tuple(Message("infeasible_budget_limit", {"budget": k, "limit": f"{b:g}"})
                           for k, b in zip(m.keys, m.budgets)))
    if not conflicts:
        return Message("infeasible_budgets", {"budgets": budgets})
    return Message("infeasible_conflicts_minimal" if minimal else "infeasible_conflicts",
                   {"conflicts": Joined(_messages_of(m, conflicts), "; "), "budgets": budgets})


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
