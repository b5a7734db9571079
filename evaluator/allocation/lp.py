"""The LP relaxation and the budgets' marginal values."""

from __future__ import annotations

import copy

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from evaluator.allocation.model import _Model
from evaluator.allocation.spec import SELECTED_TOL


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
