"""Project-finance primitives, vectorised over projects.

Every function takes cash flows as a NumPy array whose last axis is time and whose leading
axis (if any) is the project: a 1-D array is one project, a 2-D array has one project per row.
Results are a NumPy scalar for 1-D input and a 1-D array (one value per row) for 2-D input.
There is no Python loop over projects; the only loops are over iterations (IRR) and none is
over years x projects.

Conventions
-----------
* Real annual model. ``values[..., 0]`` holds the flows at the valuation date (start of model
  year 1) and is **not** discounted; ``values[..., t]`` holds the flows at the end of model year
  ``t`` and is discounted by ``(1 + rate) ** t``. This is numpy-financial's convention; in Excel
  it is ``=NPV(r, Y1:Yn) + Y0`` (Excel's ``NPV`` discounts its first argument by one period).
* ``mid_year=True`` discounts the flows of year ``t >= 1`` by ``(1 + rate) ** (t - 0.5)``
  (flows spread evenly over the year); index 0 stays undiscounted.
* ``quarterly=True`` spreads each year's flow evenly over its four quarters, each discounted at
  the quarter's end: ``(1 + rate) ** -t`` times ``(1 + (1 + rate) ** 0.25 + (1 + rate) ** 0.5 +
  (1 + rate) ** 0.75) / 4`` (:func:`quarterly_uplift`); index 0 stays undiscounted.
* Outflows are negative, money is in US$ millions (``_usd_m``), rates are fractions.
* A metric that does not exist (no IRR, never paid back, no debt) is NaN, never an exception;
  :func:`irr_with_reason` says why.

References
----------
.. [1] L. J. Gitman, "Principles of Managerial Finance, Brief", 3rd ed., Addison-Wesley, 2003,
   pp. 346-348 (NPV and IRR, as cited by numpy-financial).
.. [2] R. A. Brealey, S. C. Myers and F. Allen, "Principles of Corporate Finance", 13th ed.,
   McGraw-Hill, 2020, ch. 5 (IRR pitfalls: multiple rates of return; payback; profitability index).
.. [3] E. R. Yescombe, "Principles of Project Finance", 2nd ed., Academic Press, 2014, ch. 12
   (debt service cover ratio, loan life cover ratio, repayment profiles).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = [
    "IRR_MIN_RATE",
    "IRR_MAX_RATE",
    "REASON_NON_FINITE",
    "REASON_ALL_ZERO",
    "REASON_NO_SIGN_CHANGE",
    "REASON_NO_ROOT",
    "REASON_MULTIPLE",
    "LoanSchedule",
    "npv",
    "discount_factors",
    "sign_changes",
    "irr",
    "irr_with_reason",
    "payback_years",
    "discounted_payback_years",
    "profitability_index",
    "loan_schedule",
    "dscr",
    "dscr_summary",
    "llcr",
]

#: Lowest IRR searched [fraction]. Below -99 % a return is meaningless for a mine.
IRR_MIN_RATE = -0.99
#: Highest IRR searched [fraction] (1000 % a year).
IRR_MAX_RATE = 10.0

REASON_NON_FINITE = "non-finite flows"
REASON_ALL_ZERO = "all flows zero"
REASON_NO_SIGN_CHANGE = "no sign change"
REASON_NO_ROOT = f"no root in [{IRR_MIN_RATE:g}, {IRR_MAX_RATE:g}]"
#: Flag, not a failure: the IRR is reported, but the flows have several sign changes.
REASON_MULTIPLE = "multiple sign changes: reported root nearest 0%"
_REASONS = np.array(["", REASON_NON_FINITE, REASON_ALL_ZERO, REASON_NO_SIGN_CHANGE,
                     REASON_NO_ROOT, REASON_MULTIPLE])
(_CODE_OK, _CODE_NON_FINITE, _CODE_ALL_ZERO, _CODE_NO_SIGN_CHANGE, _CODE_NO_ROOT,
 _CODE_MULTIPLE) = range(len(_REASONS))

# Bracketing grid for the IRR: nodes uniform in log(1 + r) with r = 0 exactly on a node.
# Step 0.05 in log(1 + r) is about 5 percentage points near r = 0; cells holding two roots
# are found from the slope (see irr_with_reason), so the grid can be coarse.
_GRID_STEP = 0.05


def _as_flows(values):
    """Return ``values`` as a float array with at least one time step."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        raise ValueError("cash flows must be an array with time on the last axis, got a scalar")
    if arr.shape[-1] == 0:
        raise ValueError("cash flows must have at least one period")
    return arr


def _scalar_if_0d(result):
    """Return a NumPy scalar for a 0-d result, the array otherwise."""
    result = np.asarray(result)
    return result[()] if result.ndim == 0 else result


def quarterly_uplift(rate):
    """Factor on the end-of-year discount factor of a year whose flow falls evenly in its four
    quarters, each at the quarter's end [-]: ``(1 + q + q^2 + q^3) / 4`` with
    ``q = (1 + rate) ** 0.25``, since the quarter ending at ``t - 1 + k / 4`` is discounted by
    ``(1 + rate) ** -t`` times ``q ** (4 - k)``."""
    q = (1.0 + np.asarray(rate, dtype=float)) ** 0.25
    return (1.0 + q + q * q + q * q * q) / 4.0


def discount_factors(rate, n_periods, *, mid_year=False, quarterly=False):
    """Discount factors for periods ``0 .. n_periods - 1``.

    Parameters
    ----------
    rate : float or array_like
        Discount rate per period [fraction]; an array gives one row of factors per rate.
    n_periods : int
        Number of periods (length of the time axis).
    mid_year : bool, default False
        Discount periods ``t >= 1`` by ``t - 0.5`` instead of ``t``; period 0 is never discounted.
    quarterly : bool, default False
        Periods ``t >= 1`` as four quarters of equal flows, each discounted at its end
        (:func:`quarterly_uplift`); not together with ``mid_year``.

    Returns
    -------
    numpy.ndarray
        Shape ``rate.shape + (n_periods,)``: ``(1 + rate) ** -e_t`` with ``e_0 = 0`` and
        ``e_t = t`` (or ``t - 0.5``). NaN where ``rate <= -1``.
    """
    rate = np.asarray(rate, dtype=float)
    exponent = np.arange(n_periods, dtype=float)
    if mid_year:
        exponent[1:] -= 0.5
    base = 1.0 + rate[..., None]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        factors = np.where(base > 0, np.abs(base) ** -exponent, np.nan)
        if quarterly:
            factors[..., 1:] = factors[..., 1:] * quarterly_uplift(np.abs(base) - 1.0)
    return factors


def npv(rate, values, *, mid_year=False, quarterly=False):
    """Net present value of cash flows, one value per project.

    Parameters
    ----------
    rate : float or array_like
        Discount rate per period [fraction]; a scalar, or one rate per row of `values`
        (any shape broadcastable to ``values.shape[:-1]``).
    values : array_like
        Cash flows [USD m], time on the last axis; 1-D for one project, 2-D with one row per
        project. ``values[..., 0]`` is at the valuation date (t = 0).
    mid_year : bool, default False
        Discount the flows of period ``t >= 1`` by ``t - 0.5`` periods (mid-year convention).
    quarterly : bool, default False
        Each period's flow in four equal quarters, each discounted at its end.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        NPV [USD m]: a scalar for one project, one value per row otherwise. NaN where
        ``rate <= -1``.

    Notes
    -----
    .. math:: NPV = \\sum_{t=0}^{T-1} v_t (1 + r)^{-e_t}, \\quad e_0 = 0,\\; e_t = t
              \\; (\\text{or } t - 0.5 \\text{ with mid\\_year})

    With ``mid_year=False`` this equals ``numpy_financial.npv(rate, values)`` row by row, and
    Excel's ``=NPV(r, Y1:Yn) + Y0`` (Excel's ``NPV`` starts discounting at its first argument).

    References
    ----------
    .. [1] L. J. Gitman, "Principles of Managerial Finance, Brief", 3rd ed., Addison-Wesley,
       2003, p. 346.

    Examples
    --------
    >>> round(float(npv(0.08, [-40_000, 5_000, 8_000, 12_000, 30_000])), 5)
    3065.22267
    """
    values = _as_flows(values)
    factors = discount_factors(rate, values.shape[-1], mid_year=mid_year, quarterly=quarterly)
    return _scalar_if_0d(np.sum(values * factors, axis=-1))


def sign_changes(values):
    """Number of sign changes in a cash-flow series, zeros skipped.

    Parameters
    ----------
    values : array_like
        Cash flows [USD m], time on the last axis.

    Returns
    -------
    numpy.int64 or numpy.ndarray
        Count of changes between consecutive non-zero flows (Descartes' rule of signs bounds
        the number of positive roots of the NPV polynomial in ``1 / (1 + r)`` by this count).

    References
    ----------
    .. [1] R. A. Brealey, S. C. Myers and F. Allen, "Principles of Corporate Finance", 13th ed.,
       McGraw-Hill, 2020, sec. 5-3 ("Pitfall 2: multiple rates of return").
    """
    values = _as_flows(values)
    lead, n = values.shape[:-1], values.shape[-1]
    signs = np.sign(values).reshape(-1)
    # consecutive non-zero flows of the same row (zeros skipped); a flat pass, since
    # numpy's accumulate along a short last axis costs ~10x more
    at = np.flatnonzero(signs)
    row = at // max(n, 1)
    s = signs[at]
    change = (s[1:] * s[:-1] < 0) & (row[1:] == row[:-1])
    counts = np.bincount(row[1:][change], minlength=int(np.prod(lead, dtype=np.int64)))
    return _scalar_if_0d(counts.reshape(lead))


def _rate_grid():
    """Bracketing nodes [fraction] and the index of the node at r = 0."""
    u_low, u_high = np.log1p(IRR_MIN_RATE), np.log1p(IRR_MAX_RATE)
    n_neg = int(np.ceil(-u_low / _GRID_STEP)) + 1
    n_pos = int(np.ceil(u_high / _GRID_STEP)) + 1
    u = np.concatenate([np.linspace(u_low, 0.0, n_neg), np.linspace(0.0, u_high, n_pos)[1:]])
    rates = np.expm1(u)
    rates[0], rates[n_neg - 1], rates[-1] = IRR_MIN_RATE, 0.0, IRR_MAX_RATE
    return rates, n_neg - 1


@functools.lru_cache(maxsize=64)
def _grid_matrices(n_periods):
    """Grid nodes and matrices giving the scaled NPV and its slope on the grid, per length.

    Returns ``rates``, ``zero_node``, ``value_matrix`` (T, nodes) with ``flows @ value_matrix``
    = scaled NPV at each node, ``slope_matrix`` (T, nodes + 1) with ``flows @ slope_matrix`` =
    slope at every node in the scaling of the cells that meet there (future-value form up to
    r = 0, present-value form above; the last column is the r = 0 node in present-value form,
    the left end of the first cell above 0), and ``cell_fv`` (cells whose scaling is the
    future-value form, i.e. r <= 0). :func:`_cell_slope_columns` picks the slope at each
    cell's left and right end.
    """
    rates, zero_node = _rate_grid()
    t = np.arange(n_periods, dtype=float)
    fv_exp, pv_exp = (n_periods - 1) - t, -t
    exponent = np.where(rates[:, None] < 0, fv_exp, pv_exp)
    value_matrix = ((1.0 + rates)[:, None] ** exponent).T
    cell_fv = rates[1:] <= 0
    node_exp = np.vstack([np.where(rates[:, None] <= 0, fv_exp, pv_exp), pv_exp])
    node_rate = np.append(rates, 0.0)
    slope_matrix = (node_exp * (1.0 + node_rate)[:, None] ** (node_exp - 1.0)).T
    for arr in (rates, value_matrix, slope_matrix, cell_fv):
        arr.setflags(write=False)
    return rates, zero_node, value_matrix, slope_matrix, cell_fv


def _cell_slope_columns(n_nodes, zero_node):
    """Columns of ``slope_matrix`` (:func:`_grid_matrices`) giving the slope at the left and at the
    right end of every grid cell: a cell's ends share its scaling, the node's own, except the
    left end of the cell starting at r = 0 (present-value form, the last column)."""
    left = np.arange(n_nodes - 1)
    left[zero_node] = n_nodes
    return left, np.arange(1, n_nodes)


def _turning_points(flows, lo, hi, slope_lo_sign, future_value, n_iter=32):
    """Turning point of the scaled NPV inside each cell (bisection on the slope's sign)."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        _, slope = _scaled_npv(mid, flows, future_value)
        same = np.sign(slope) == slope_lo_sign
        lo = np.where(same, mid, lo)
        hi = np.where(same, hi, mid)
    x_star = 0.5 * (lo + hi)
    f_star, _ = _scaled_npv(x_star, flows, future_value)
    return x_star, f_star


def _scaled_npv(rates, flows, future_value, curvature=False):
    """NPV scaled by a positive factor, with its derivative, one rate per row.

    With ``curvature=True`` the second derivative is returned as a third value.

    ``future_value`` rows use ``sum v_t (1 + r) ** (T - 1 - t)`` (= NPV x (1 + r) ** (T - 1)),
    which stays bounded for r < 0; the other rows use the NPV itself, bounded for r >= 0.
    The scaling is positive, so roots and signs are those of the NPV.
    """
    n = flows.shape[-1]
    t = np.arange(n, dtype=float)
    exponent = np.where(future_value[:, None], (n - 1) - t, -t)
    base = (1.0 + rates)[:, None]
    powers = base**exponent
    terms = flows * powers
    value = np.sum(terms, axis=-1)
    terms *= exponent
    slope = np.sum(terms, axis=-1) / base[:, 0]
    if not curvature:
        return value, slope
    terms *= exponent - 1.0
    return value, slope, np.sum(terms, axis=-1) / base[:, 0] ** 2


def _refine_roots(flows, lo, hi, f_lo, f_hi, future_value, *, max_iter=100):
    """Safeguarded Halley/Newton (bisection fallback) inside sign-change brackets, all rows.

    ``f_lo`` and ``f_hi`` are the scaled NPV at the bracket ends (known from the grid).
    """
    lo, hi, f_lo = lo.copy(), hi.copy(), f_lo.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(hi > lo, lo - f_lo * (hi - lo) / (f_hi - f_lo), lo)  # regula falsi start
    x = np.where(np.isfinite(x) & (x >= lo) & (x <= hi), x, 0.5 * (lo + hi))
    done = (hi <= lo) | (f_lo == 0) | (f_hi == 0)
    x = np.where(f_lo == 0, lo, np.where(f_hi == 0, hi, x))
    for _ in range(max_iter):
        active = np.flatnonzero(~done)
        if active.size == 0:
            break
        xa, loa, hia, f_loa = x[active], lo[active], hi[active], f_lo[active]
        f, slope, curv = _scaled_npv(xa, flows[active], future_value[active], curvature=True)
        same = np.sign(f) == np.sign(f_loa)
        loa = np.where(same, xa, loa)
        f_loa = np.where(same, f, f_loa)
        hia = np.where(same, hia, xa)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            newton = xa - f / slope
            halley = xa - 2.0 * f * slope / (2.0 * slope * slope - f * curv)
        halley_ok = np.isfinite(halley) & (halley >= loa) & (halley <= hia)
        step = np.where(halley_ok, halley, newton)
        inside = np.isfinite(step) & (step >= loa) & (step <= hia)
        x_new = np.where(inside, step, 0.5 * (loa + hia))
        # Halley's step converges cubically (Newton's quadratically): after a Halley step below
        # 1e-5, or a Newton step below 1e-7, relative to 1 + r, the new iterate is within ~1e-13
        # of the root. 1 + r, not 1 + |r|: near r = -1 the NPV moves like 1 / (1 + r), so the
        # step must be small against 1 + r (a -97.5 % root was otherwise left 3e-11 off).
        # Bisection stops at rounding level.
        scale = 1.0 + xa
        small = np.where(halley_ok, 1e-5, 1e-7) * scale
        converged = ((f == 0) | (inside & (np.abs(step - xa) <= small))
                     | (hia - loa <= 4e-16 * scale))
        x[active] = np.where(f == 0, xa, x_new)
        lo[active], hi[active], f_lo[active] = loa, hia, f_loa
        done[active] = converged
    return x


def irr_with_reason(values):
    """Internal rate of return with the reason when it does not exist, one per project.

    Parameters
    ----------
    values : array_like
        Cash flows [USD m], time on the last axis; 1-D for one project, 2-D with one row per
        project. ``values[..., 0]`` is at t = 0 (numpy-financial's convention).

    Returns
    -------
    irr : numpy.float64 or numpy.ndarray
        IRR [fraction per period]; NaN where none is found in
        [``IRR_MIN_RATE``, ``IRR_MAX_RATE``] = [-0.99, 10].
    reason : str or numpy.ndarray of str
        ``''`` for an ordinary IRR, else one of ``REASON_NON_FINITE`` ('non-finite flows'),
        ``REASON_ALL_ZERO`` ('all flows zero'), ``REASON_NO_SIGN_CHANGE`` ('no sign change'),
        ``REASON_NO_ROOT`` ('no root in [-0.99, 10]'), or the flag ``REASON_MULTIPLE``
        ('multiple sign changes: reported root nearest 0%') when the flows have more than one
        IRR in [-0.99, 10]. Flows with several sign changes but a single root in that range
        (the usual effect of a closure cost) get ``''``: their IRR is unique where it matters.

    Notes
    -----
    **Method.** NPV is evaluated for all rows at once on a grid of rates uniform in
    ``log(1 + r)`` (step 0.05, r = 0 exactly on a node) over [-0.99, 10] (one matrix product);
    sign changes between nodes bracket the roots; the chosen bracket is refined by Halley's
    (or Newton's) method safeguarded by bisection, vectorised over rows (loop over iterations
    only). For r < 0 the NPV is multiplied by ``(1 + r) ** (T - 1)`` (same roots, no overflow
    near -99 %).

    **Several IRRs.** Flows with more than one sign change (e.g. a closure cost after the last
    production year) can have several IRRs [2]_. The rule here is the one of
    numpy-financial 1.0.0: *report the root nearest 0 %* (among those bracketed in
    [-0.99, 10]), and flag the row with ``REASON_MULTIPLE``. It is deterministic, matches the
    reference library on all its documented examples, and for a closure cost at the end
    (NPV negative at very low rates, positive around 0 %, negative at high rates) usually picks
    the positive, "investment-type" root. It can pick the negative root instead when that lies
    nearer 0 % (a closure cost nearly as large as the undiscounted net cash), so a flagged IRR
    must not be ranked on its own: use the NPV at the hurdle rate. With one sign change there
    is exactly one IRR (Descartes' rule of signs), and the result agrees with
    ``numpy_financial.irr`` to about 1e-12.

    A cell of the grid without a sign change at its ends can still hold two roots; such cells
    are detected by a change of sign of the slope, their turning point is found by bisection,
    and they are split in two brackets when the NPV there has the other sign.

    **Limits.** A root where the NPV only touches zero (a double root), or three or more roots
    inside one grid step (about 5 percentage points near 0 %), may be missed; neither occurs
    in practice for mine cash flows.

    References
    ----------
    .. [1] L. J. Gitman, "Principles of Managerial Finance, Brief", 3rd ed., Addison-Wesley,
       2003, p. 348.
    .. [2] R. A. Brealey, S. C. Myers and F. Allen, "Principles of Corporate Finance", 13th ed.,
       McGraw-Hill, 2020, sec. 5-3 ("Pitfall 2: multiple rates of return").
    .. [3] numpy-financial 1.0.0, ``numpy_financial.irr`` (root of the NPV polynomial nearest 0).
    """
    values = _as_flows(values)
    lead_shape = values.shape[:-1]
    flows = values.reshape(-1, values.shape[-1])
    n_rows, n = flows.shape

    result, code = _irr_codes(flows)
    result = result.reshape(lead_shape)
    reason = _REASONS[code].reshape(lead_shape)
    if result.ndim == 0:
        return result[()], str(reason[()])
    return result, reason


def _two_root_cells(cf, changes, s, exact, bracket, rates, zero_node, slope_matrix, cell_fv, left_cols, right_cols):
    """Grid cells of :func:`_irr_codes` holding two roots: ``(two_roots, x_turn)``, a mask (rows,
    cells) and the turning point ``(x, f)`` of each such cell by ``(row, cell)``."""
    n_cells = rates.size - 1
    x_turn: dict = {}
    # Two roots inside one cell: no sign change at the ends, but the slope changes sign
    # and the NPV at the turning point has the other sign. Only rows with several sign
    # changes can have several roots (Descartes), and only cells nearer 0 % than the
    # nearest ordinary candidate on each side can change the answer.
    turning = np.zeros(bracket.shape, dtype=bool)
    multi = np.flatnonzero(changes > 1)
    if multi.size:
        node_slopes = np.sign(cf[multi] @ slope_matrix).astype(np.int8)
        slopes_m = node_slopes[:, np.concatenate([left_cols, right_cols])]  # cells' left, right ends
        # a single turning point can only cross zero if the NPV first heads towards zero
        # (ends positive and falling, or negative and rising): a maximum above positive
        # ends, or a minimum below negative ones, cannot
        turning[multi] = ((s[multi, :-1] * s[multi, 1:] > 0)
                          & (slopes_m[:, :n_cells] * slopes_m[:, n_cells:] < 0)
                          & (s[multi, :-1] * slopes_m[:, :n_cells] < 0))
    if turning.any():
        ordinary = bracket | exact[:, :-1] | exact[:, 1:]
        cells = np.arange(n_cells)
        pos_part = ordinary[:, zero_node:]
        first_pos = np.where(pos_part.any(axis=1), zero_node + np.argmax(pos_part, axis=1),
                             n_cells)
        neg_part = ordinary[:, :zero_node]
        last_neg = np.where(neg_part.any(axis=1),
                            zero_node - 1 - np.argmax(neg_part[:, ::-1], axis=1), -1)
        turning &= (cells > last_neg[:, None]) & (cells < first_pos[:, None])
    two_roots = np.zeros_like(turning)
    t_rows, t_cells = np.nonzero(turning[multi])      # turning cells lie in multi rows only
    t_rows = multi[t_rows]
    if t_rows.size:
        slope_left = np.sign(np.einsum("ij,ji->i", cf[t_rows], slope_matrix[:, left_cols[t_cells]]))
        x_star, f_star = _turning_points(cf[t_rows], rates[t_cells], rates[t_cells + 1],
                                         slope_left, cell_fv[t_cells])
        crosses = np.sign(f_star) == -s[t_rows, t_cells]
        two_roots[t_rows[crosses], t_cells[crosses]] = True
        # turning point of each two-root cell (only those are looked up below)
        x_turn = {(int(r), int(c)): (x, f) for r, c, x, f
                  in zip(t_rows[crosses], t_cells[crosses], x_star[crosses], f_star[crosses])}
    return two_roots, x_turn


def _irr_codes(flows):
    """IRR and reason code (index into ``_REASONS``) for a 2-D array, rows = projects."""
    n_rows, n = flows.shape
    result = np.full(n_rows, np.nan)
    code = np.zeros(n_rows, dtype=np.intp)

    finite = np.all(np.isfinite(flows), axis=-1)
    safe = np.where(finite[:, None], flows, 0.0)
    changes = np.atleast_1d(sign_changes(safe))
    all_zero = finite & np.all(safe == 0, axis=-1)
    code[~finite] = _CODE_NON_FINITE
    code[all_zero] = _CODE_ALL_ZERO
    code[finite & ~all_zero & (changes == 0)] = _CODE_NO_SIGN_CHANGE
    todo = np.flatnonzero(finite & (changes > 0))

    if todo.size:
        cf = safe[todo]
        rates, zero_node, value_matrix, slope_matrix, cell_fv = _grid_matrices(n)
        n_cells = rates.size - 1
        left_cols, right_cols = _cell_slope_columns(rates.size, zero_node)
        grid_npv = cf @ value_matrix  # (rows, nodes): scaled NPV on the grid
        s = np.sign(grid_npv).astype(np.int8)  # int8: the sign logic below runs on bytes
        exact = s == 0
        bracket = (s[:, :-1] * s[:, 1:]) < 0
        two_roots, x_turn = _two_root_cells(cf, changes[todo], s, exact, bracket, rates, zero_node, slope_matrix,
                                            cell_fv, left_cols, right_cols)
        # Candidate positions in rate order: 2i = exact root at node i, 2i+1 = cell (i, i+1).
        cand = np.zeros((cf.shape[0], 2 * rates.size - 1), dtype=bool)
        cand[:, 0::2] = exact
        cand[:, 1::2] = bracket | two_roots
        split = 2 * zero_node  # positions >= split lie at r >= 0, positions < split at r <= 0
        pos_side, neg_side = cand[:, split:], cand[:, :split]
        has_pos = pos_side.any(axis=1)
        has_neg = neg_side.any(axis=1)
        p_pos = split + np.argmax(pos_side, axis=1)
        p_neg = split - 1 - np.argmax(neg_side[:, ::-1], axis=1)

        rows_pos, rows_neg = np.flatnonzero(has_pos), np.flatnonzero(has_neg)
        p_all = np.concatenate([p_pos[rows_pos], p_neg[rows_neg]])
        rows_all = np.concatenate([rows_pos, rows_neg])
        on_pos_side = np.arange(p_all.size) < rows_pos.size
        node = p_all // 2
        is_cell = p_all % 2 == 1
        lo = rates[node].copy()
        hi = np.where(is_cell, rates[np.minimum(node + 1, rates.size - 1)], lo)
        # In a two-root cell keep the root nearer 0: the lower one on the positive side.
        cell = np.minimum(node, n_cells - 1)
        double = is_cell & two_roots[rows_all, cell]
        f_lo = grid_npv[rows_all, node]
        f_hi = np.where(is_cell, grid_npv[rows_all, np.minimum(node + 1, rates.size - 1)], f_lo)
        if double.any():
            at = [x_turn.get((int(r), int(c)), (np.nan, np.nan)) for r, c in zip(rows_all[double], cell[double])]
            x_mid = np.full(p_all.size, np.nan)
            f_mid = np.full(p_all.size, np.nan)
            x_mid[double] = [x for x, _ in at]
            f_mid[double] = [f for _, f in at]
            hi = np.where(double & on_pos_side, x_mid, hi)
            lo = np.where(double & ~on_pos_side, x_mid, lo)
            f_hi = np.where(double & on_pos_side, f_mid, f_hi)
            f_lo = np.where(double & ~on_pos_side, f_mid, f_lo)
        # Rows with candidates on both sides: the side whose bracket lies wholly farther from
        # 0 % than the other's cannot hold the chosen root (nearest 0 %, ties to the positive
        # one); leave it unrefined (NaN) and do not count on its value below.
        both = np.zeros(cf.shape[0], dtype=bool)
        both[rows_all[on_pos_side]] = True
        both &= has_neg
        far = np.zeros(p_all.size, dtype=bool)
        if both.any():
            pos_at = np.full(cf.shape[0], -1)
            neg_at = np.full(cf.shape[0], -1)
            pos_at[rows_pos] = np.arange(rows_pos.size)
            neg_at[rows_neg] = rows_pos.size + np.arange(rows_neg.size)
            rb = np.flatnonzero(both)
            ip, ineg = pos_at[rb], neg_at[rb]
            far[ineg] = -hi[ineg] > hi[ip]      # |r_neg| >= -hi_neg > hi_pos >= r_pos
            far[ip] = lo[ip] > -lo[ineg]        # r_pos >= lo_pos > -lo_neg >= |r_neg|
        near = np.flatnonzero(~far)
        roots = np.full(p_all.size, np.nan)
        roots[near] = _refine_roots(cf[rows_all[near]], lo[near], hi[near], f_lo[near], f_hi[near], hi[near] <= 0)

        root_pos = np.full(cf.shape[0], np.nan)
        root_neg = np.full(cf.shape[0], np.nan)
        root_pos[rows_pos] = roots[: rows_pos.size]
        root_neg[rows_neg] = roots[rows_pos.size:]
        pos_far = np.zeros(cf.shape[0], dtype=bool)
        pos_far[rows_pos] = far[: rows_pos.size]
        take_neg = has_neg & (~has_pos | pos_far | (np.abs(root_neg) < np.abs(root_pos)))
        chosen = np.where(take_neg, root_neg, root_pos)

        result[todo] = chosen
        # Flag only rows with several IRRs in the searched range: a closure cost adds a sign
        # change, but its second root usually lies below -99 % and then the IRR is unique here.
        n_roots = exact.sum(axis=1) + bracket.sum(axis=1) + 2 * two_roots.sum(axis=1)
        code[todo] = np.where(np.isnan(chosen), _CODE_NO_ROOT,
                              np.where(n_roots > 1, _CODE_MULTIPLE, _CODE_OK))
    return result, code


def irr(values):
    """Internal rate of return, one per project; NaN where none exists.

    Parameters
    ----------
    values : array_like
        Cash flows [USD m], time on the last axis; 1-D for one project, 2-D with one row per
        project. ``values[..., 0]`` is at t = 0.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        IRR [fraction per period]. See :func:`irr_with_reason` for the method, the rule for
        flows with several IRRs (root nearest 0 %, as numpy-financial 1.0.0) and the reasons
        for NaN.

    References
    ----------
    .. [1] L. J. Gitman, "Principles of Managerial Finance, Brief", 3rd ed., Addison-Wesley,
       2003, p. 348.

    Examples
    --------
    >>> round(float(irr([-100, 39, 59, 55, 20])), 5)
    0.28095
    """
    values = _as_flows(values)
    result, _ = _irr_codes(values.reshape(-1, values.shape[-1]))
    return _scalar_if_0d(result.reshape(values.shape[:-1]))


def _origin(start_index, lead_shape):
    """Time origin [years from the valuation date] for payback, per row."""
    if start_index is None:
        return np.zeros(lead_shape)
    start = np.broadcast_to(np.asarray(start_index, dtype=float), lead_shape)
    if np.any(start < 0):
        raise ValueError("start_index must be >= 0 (index of the first production year)")
    return np.maximum(start - 1.0, 0.0)


def _payback_from_flows(flows, start_index):
    lead_shape = flows.shape[:-1]
    cumulative = np.cumsum(flows, axis=-1)
    prev, curr = cumulative[..., :-1], cumulative[..., 1:]
    upward = (prev < 0) & (curr >= 0)
    has_cross = upward.any(axis=-1)
    k = np.argmax(upward, axis=-1)  # crossing happens during year k + 1
    c_prev = np.take_along_axis(prev, k[..., None], axis=-1)[..., 0]
    c_curr = np.take_along_axis(curr, k[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = k + (-c_prev) / (c_curr - c_prev)
    never_negative = np.all(cumulative >= 0, axis=-1)
    crossing = np.where(has_cross, crossing, np.where(never_negative, 0.0, np.nan))
    crossing = np.where(np.all(np.isfinite(flows), axis=-1), crossing, np.nan)
    result = np.maximum(crossing - _origin(start_index, lead_shape), 0.0)
    return _scalar_if_0d(result)


def payback_years(values, start_index=None):
    """Simple payback period [years], one per project; NaN if never paid back.

    Parameters
    ----------
    values : array_like
        Cash flows [USD m], time on the last axis (1-D or 2-D, rows = projects).
    start_index : int or array_like of int, optional
        Index of the first production year, per row. ``None`` measures from the valuation
        date (t = 0).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        Years from the *start* of the first production year until the cumulative cash flow
        first turns non-negative.

    Notes
    -----
    Timing: the flow at index ``t >= 1`` accrues evenly during year ``t``, i.e. between times
    ``t - 1`` and ``t``, so the cumulative cash flow is interpolated linearly between year ends.
    The crossing time ``tau`` [years from the valuation date] is the first upward crossing of
    zero: for the first ``k`` with ``C_k < 0 <= C_{k+1}`` (``C`` the cumulative sum),
    ``tau = k + (-C_k) / (C_{k+1} - C_k)``. Then

    ``payback = max(tau - (start_index - 1), 0)``  (``start_index=None``: ``payback = tau``).

    Year ``start_index`` starts at time ``start_index - 1``, so a project built at t = 0 whose
    production starts in year 1 (``start_index=1``) has the textbook payback: ``[-100, 50,
    50]`` gives 2.0 years. A series whose cumulative flow is never negative pays back at once
    (0); one that never turns non-negative gives NaN. A later dip below zero (e.g. a closure
    cost) does not undo the payback: it is the first crossing.

    References
    ----------
    .. [1] R. A. Brealey, S. C. Myers and F. Allen, "Principles of Corporate Finance", 13th ed.,
       McGraw-Hill, 2020, sec. 5-2 ("The payback rule").
    """
    return _payback_from_flows(_as_flows(values), start_index)


def discounted_payback_years(rate, values, start_index=None, mid_year=False, quarterly=False):
    """Discounted payback period [years], one per project; NaN if never paid back.

    Parameters
    ----------
    rate : float or array_like
        Discount rate [fraction]; scalar or one per row.
    values : array_like
        Cash flows [USD m], time on the last axis (1-D or 2-D, rows = projects).
    start_index : int or array_like of int, optional
        Index of the first production year, per row; ``None`` measures from t = 0.
    mid_year : bool, default False
        Mid-year discounting of periods ``t >= 1`` (see :func:`npv`).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        As :func:`payback_years`, applied to the discounted flows ``v_t (1 + r) ** -e_t``
        (discounted to the valuation date): years from the start of the first production year
        until the cumulative discounted cash flow first turns non-negative, interpolated
        linearly inside the year. NaN where it never does, i.e. where the NPV is negative and
        the cumulative never crossed zero.

    References
    ----------
    .. [1] R. A. Brealey, S. C. Myers and F. Allen, "Principles of Corporate Finance", 13th ed.,
       McGraw-Hill, 2020, sec. 5-2 ("discounted payback").
    """
    values = _as_flows(values)
    discounted = values * discount_factors(rate, values.shape[-1], mid_year=mid_year, quarterly=quarterly)
    return _payback_from_flows(discounted, start_index)


def profitability_index(rate, values, *, mid_year=False):
    """Profitability index (benefit-cost ratio), one per project.

    Parameters
    ----------
    rate : float or array_like
        Discount rate [fraction]; scalar or one per row.
    values : array_like
        Cash flows [USD m], time on the last axis (1-D or 2-D, rows = projects).
    mid_year : bool, default False
        Mid-year discounting of periods ``t >= 1`` (see :func:`npv`).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``PI = 1 + NPV / PV(outflows)`` [-], where ``PV(outflows)`` is the present value of the
        magnitudes of the negative flows (every year whose net flow is negative counts as
        investment, including closure and loss years). Equivalently ``PV(inflows) /
        PV(outflows)``. PI > 1 exactly when NPV > 0. NaN where there is no outflow.

    References
    ----------
    .. [1] R. A. Brealey, S. C. Myers and F. Allen, "Principles of Corporate Finance", 13th ed.,
       McGraw-Hill, 2020, sec. 5-4 ("The profitability index").
    """
    values = _as_flows(values)
    factors = discount_factors(rate, values.shape[-1], mid_year=mid_year)
    pv_all = np.sum(values * factors, axis=-1)
    pv_out = np.sum(np.maximum(-values, 0.0) * factors, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pi = np.where(pv_out > 0, 1.0 + pv_all / pv_out, np.nan)
    return _scalar_if_0d(pi)


@dataclass(frozen=True)
class LoanSchedule:
    """Yearly schedule of a term loan, rows = projects, columns = periods (model index).

    Attributes
    ----------
    drawdown_usd_m : numpy.ndarray
        Amount drawn [USD m] (the principal, at ``drawdown_index``).
    interest_usd_m : numpy.ndarray
        Interest paid at the end of each period [USD m] = rate x opening balance.
    principal_usd_m : numpy.ndarray
        Principal repaid at the end of each period [USD m].
    debt_service_usd_m : numpy.ndarray
        Interest + principal [USD m].
    balance_usd_m : numpy.ndarray
        Opening balance of each period [USD m] (outstanding during the period, the interest
        base); 0 up to and including the drawdown period.
    first_repayment_index : numpy.ndarray
        Index of the first principal repayment per row (-1 where no loan).
    maturity_index : numpy.ndarray
        Index of the last repayment per row (-1 where no loan).
    truncated : numpy.ndarray
        True where contractual maturity lies beyond the last period, so the outstanding
        balance is repaid in full (balloon) in the last period.
    """

    drawdown_usd_m: np.ndarray
    interest_usd_m: np.ndarray
    principal_usd_m: np.ndarray
    debt_service_usd_m: np.ndarray
    balance_usd_m: np.ndarray
    first_repayment_index: np.ndarray
    maturity_index: np.ndarray
    truncated: np.ndarray


def loan_schedule(principal_usd_m, rate, tenor_years, grace_years, drawdown_index, n_periods):
    """Interest-only grace, then straight-line amortisation, one loan per row.

    Parameters
    ----------
    principal_usd_m : float or array_like
        Loan amount [USD m], per row (0 = no loan).
    rate : float or array_like
        Loan interest rate [fraction per year], per row.
    tenor_years : int or array_like of int
        Loan life from drawdown to final repayment [years], per row (>= 1 where a loan exists).
    grace_years : int or array_like of int
        Interest-only years after drawdown [years], per row (>= 0).
    drawdown_index : int or array_like of int
        Period index at whose end the whole loan is drawn, per row
        (``0 <= drawdown_index < n_periods - 1`` where a loan exists).
    n_periods : int
        Number of periods of the model (length of the time axis).

    Returns
    -------
    LoanSchedule
        Arrays of shape (rows, n_periods); rows = broadcast of the parameters (1 for scalars).

    Notes
    -----
    Timing, with ``d = drawdown_index``, ``g = grace_years``, ``n = tenor_years``: the loan is
    drawn at the end of period ``d``; interest on the opening balance is paid at the end of
    each period ``d + 1 .. d + n``; periods ``d + 1 .. d + g`` are interest-only; principal is
    repaid in ``n - g`` equal instalments at the end of periods ``d + g + 1 .. d + n``
    (straight-line, "equal principal" amortisation, so debt service declines). If ``g >= n``
    the loan is a bullet: interest-only to maturity and the whole principal at ``d + n``. If
    ``d + n`` falls beyond the model, the balance outstanding at the last period is repaid
    there (balloon) and the row is marked ``truncated``; repaid principal always equals the
    loan.

    References
    ----------
    .. [1] E. R. Yescombe, "Principles of Project Finance", 2nd ed., Academic Press, 2014,
       sec. 10.5 ("Debt repayment profile": grace period, equal principal instalments).
    """
    n_periods = int(n_periods)
    if n_periods < 1:
        raise ValueError("n_periods must be >= 1")
    p, r, tenor, grace, d = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=float)) for a in
          (principal_usd_m, rate, tenor_years, grace_years, drawdown_index))
    )
    if p.ndim != 1:
        raise ValueError("loan parameters must be scalars or 1-D arrays (one per project)")
    has_loan = p != 0
    for name, arr in (("tenor_years", tenor), ("grace_years", grace),
                      ("drawdown_index", d)):
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be whole numbers")
    checks = (
        ("principal_usd_m must be >= 0", p < 0),
        ("tenor_years must be >= 1 where there is a loan", has_loan & (tenor < 1)),
        ("grace_years must be >= 0", grace < 0),
        ("drawdown_index must lie in [0, n_periods - 2] where there is a loan",
         has_loan & ((d < 0) | (d > n_periods - 2))),
        ("rate must be > -1", r <= -1),
    )
    for message, bad in checks:
        if np.any(bad):
            raise ValueError(f"{message} (rows {np.flatnonzero(bad).tolist()})")

    grace_eff = np.minimum(grace, tenor - 1)  # g >= n: bullet at maturity
    n_instalments = np.maximum(tenor - grace_eff, 1.0)
    k = np.arange(n_periods, dtype=float)[None, :] - d[:, None]  # periods since drawdown
    last = np.arange(n_periods)[None, :] == n_periods - 1

    def outstanding_after(periods):
        share = np.clip(1.0 - (periods - grace_eff[:, None]) / n_instalments[:, None], 0.0, 1.0)
        return p[:, None] * share

    opening = np.where(k >= 1, outstanding_after(k - 1), 0.0)
    closing = np.where(k >= 0, outstanding_after(np.maximum(k, 0.0)), 0.0)
    closing = np.where(last, 0.0, closing)  # balloon at the horizon
    principal = np.where(k >= 1, opening - closing, 0.0)
    interest = r[:, None] * opening
    drawdown = np.where(k == 0, p[:, None], 0.0)

    first_rep = np.where(has_loan, d + grace_eff + 1, -1).astype(int)
    maturity_contract = d + tenor
    truncated = has_loan & (maturity_contract > n_periods - 1)
    maturity = np.where(has_loan, np.minimum(maturity_contract, n_periods - 1), -1).astype(int)
    first_rep = np.where(has_loan, np.minimum(first_rep, n_periods - 1), -1)
    return LoanSchedule(
        drawdown_usd_m=drawdown,
        interest_usd_m=interest,
        principal_usd_m=principal,
        debt_service_usd_m=interest + principal,
        balance_usd_m=opening,
        first_repayment_index=first_rep,
        maturity_index=maturity,
        truncated=truncated,
    )


def dscr(cfads_usd_m, debt_service_usd_m):
    """Debt service cover ratio per period.

    Parameters
    ----------
    cfads_usd_m : array_like
        Cash flow available for debt service [USD m] (EBITDA - tax - sustaining capex - change
        in working capital), time on the last axis.
    debt_service_usd_m : array_like
        Interest + principal due [USD m], same shape (or broadcastable).

    Returns
    -------
    numpy.ndarray
        ``CFADS_t / DS_t`` [-] where ``DS_t > 0``, NaN elsewhere. Lenders typically look for
        DSCR >= 1.3 for mining (the tool reads the level from the scenario, ``lender_min_dscr``).

    References
    ----------
    .. [1] E. R. Yescombe, "Principles of Project Finance", 2nd ed., Academic Press, 2014,
       sec. 12.3 ("Cover ratios": annual DSCR).
    """
    cfads = np.asarray(cfads_usd_m, dtype=float)
    service = np.asarray(debt_service_usd_m, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(service > 0, cfads / np.where(service > 0, service, 1.0), np.nan)


def dscr_in_scope(debt_service_usd_m, principal_usd_m, first_production_index):
    """Which years count in the DSCR and LLCR: the one home of the scope rule.

    A year counts when debt service is due and either production has started or principal is
    repaid (interest-only years before production are carried by the sponsors and left out).

    Parameters
    ----------
    debt_service_usd_m, principal_usd_m : array_like
        ``(..., T)`` per period [USD m] (principal broadcastable).
    first_production_index : array_like
        ``(...)`` column of first production.

    Returns
    -------
    numpy.ndarray of bool
        ``(..., T)``.
    """
    ds = np.asarray(debt_service_usd_m, dtype=float)
    t = np.arange(ds.shape[-1])
    fp = np.asarray(first_production_index)[..., None]
    return (ds > 1e-12) & ((t >= fp) | (np.asarray(principal_usd_m, dtype=float) > 1e-12))


def dscr_summary(cfads_usd_m, debt_service_usd_m):
    """Minimum and average DSCR over the periods with debt service, per project.

    Parameters
    ----------
    cfads_usd_m, debt_service_usd_m : array_like
        As :func:`dscr` [USD m], time on the last axis.

    Returns
    -------
    min_dscr, avg_dscr : numpy.float64 or numpy.ndarray
        Minimum and arithmetic mean of the per-period DSCR [-] over periods with debt service
        > 0; NaN where there is no debt service.

    References
    ----------
    .. [1] E. R. Yescombe, "Principles of Project Finance", 2nd ed., Academic Press, 2014,
       sec. 12.3 (minimum and average DSCR).
    """
    ratios = dscr(cfads_usd_m, debt_service_usd_m)
    if ratios.ndim == 0:
        raise ValueError("cash flows must have a time axis")
    valid = ~np.isnan(ratios)
    count = valid.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        minimum = np.where(count > 0, np.min(np.where(valid, ratios, np.inf), axis=-1), np.nan)
        average = np.where(count > 0, np.sum(np.where(valid, ratios, 0.0), axis=-1) / count,
                           np.nan)
    return _scalar_if_0d(minimum), _scalar_if_0d(average)


def llcr(rate, cfads_usd_m, debt_service_usd_m, balance_usd_m, at_index=None):
    """Loan life cover ratio, one per project.

    Parameters
    ----------
    rate : float or array_like
        Loan interest rate used for discounting [fraction], scalar or one per row.
    cfads_usd_m : array_like
        Cash flow available for debt service [USD m], time on the last axis (1-D or 2-D).
    debt_service_usd_m : array_like
        Interest + principal [USD m], same shape (e.g. ``LoanSchedule.debt_service_usd_m``).
    balance_usd_m : array_like
        *Opening* balance of each period [USD m], same shape (``LoanSchedule.balance_usd_m``).
    at_index : int or array_like of int, optional
        Period at whose start the ratio is measured, per row. Default: the first principal
        repayment, i.e. the first period ``t`` whose opening balance exceeds the next one
        (the balance after the last period is taken as 0).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``LLCR = sum_{t=a}^{m} CFADS_t / (1 + rate) ** (t - a + 1) / B_a`` [-], with ``a`` =
        ``at_index``, ``m`` = the last period with debt service > 0 (loan maturity) and ``B_a``
        the opening balance of period ``a``: CFADS over the remaining loan life, discounted at
        the loan rate to the start of period ``a``, per unit of debt then outstanding. NaN
        where there is no balance at ``a``. Lenders typically look for LLCR >= 1.4.

    References
    ----------
    .. [1] E. R. Yescombe, "Principles of Project Finance", 2nd ed., Academic Press, 2014,
       sec. 12.3 ("Loan life cover ratio").
    """
    cfads = _as_flows(cfads_usd_m)
    cfads, service, balance = np.broadcast_arrays(
        cfads, np.asarray(debt_service_usd_m, dtype=float), np.asarray(balance_usd_m, dtype=float)
    )
    n = cfads.shape[-1]
    t = np.arange(n)
    lead_shape = cfads.shape[:-1]

    if at_index is None:
        next_balance = np.concatenate([balance[..., 1:], np.zeros(lead_shape + (1,))], axis=-1)
        repaying = balance - next_balance > 0
        at = np.where(repaying.any(axis=-1), np.argmax(repaying, axis=-1), 0)
    else:
        at = np.broadcast_to(np.asarray(at_index), lead_shape).astype(int)
        if np.any((at < 0) | (at >= n)):
            raise ValueError("at_index must lie in [0, n_periods - 1]")
    has_service = service > 0
    maturity = np.where(has_service.any(axis=-1),
                        n - 1 - np.argmax(has_service[..., ::-1], axis=-1), -1)

    at_e = np.asarray(at)[..., None]
    window = (t >= at_e) & (t <= np.asarray(maturity)[..., None])
    rate = np.asarray(rate, dtype=float)[..., None]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        factors = (1.0 + rate) ** -(t - at_e + 1.0)
        pv = np.sum(np.where(window, cfads * factors, 0.0), axis=-1)
        b_at = np.take_along_axis(balance, at_e, axis=-1)[..., 0]
        ratio = np.where(b_at > 0, pv / np.where(b_at > 0, b_at, 1.0), np.nan)
    return _scalar_if_0d(ratio)
