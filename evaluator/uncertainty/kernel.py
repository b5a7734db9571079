"""The fast evaluation: linear coefficients of the deterministic model, one matrix product per
group of paths, the exact tax loop, and the two lanes that share the batches (module notes of
:mod:`evaluator.uncertainty`, "Fast evaluation").
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from evaluator import cashflow, finance
from evaluator.credit import default_test
from evaluator.uncertainty.context import SimContext
from evaluator.uncertainty.processes import (
    ou_multipliers,
    ou_shocks,
    project_draws,
    stage_params,
)


def _pad(a: np.ndarray, T: int) -> np.ndarray:
    return a[:, :T] if a.shape[1] >= T else np.pad(a, ((0, 0), (0, T - a.shape[1])))


def _linear_coefficients(inputs: cashflow.ProjectInputs, first_year: int, T: int, delay: int, by_proc: np.ndarray):
    """Coefficients of the pre-tax lines of :func:`cashflow.build` at ``delay`` extra construction
    years, read off the model itself by switching its multipliers on and off (every pre-tax line
    is linear in the price, opex, capex and recovery multipliers). Arrays ``(n, T)``.

    Also checks the two facts the fast kernel relies on: royalty and working capital are fixed
    shares of each product's revenue (so one revenue line per path carries them), and the
    products add up to the model's revenue. A model change that breaks either raises
    ``AssertionError`` instead of giving wrong numbers.

    Returns
    -------
    dict
        ``rev``: list of ``(kind, proc, rows, R)``: per commodity, the revenue (after offsite
        costs, before royalty) at multiplier 1 for the projects ``rows`` (``kind`` 'primary' or
        'by'); ``opex``, ``capex`` (initial, at capex multiplier 1), ``dep_init`` (its
        depreciation), ``dep_sust`` (depreciation of sustaining capex), ``sustaining``,
        ``closure``, ``first``, ``last`` (production columns).
    """
    n = inputs.n
    d = np.full(n, int(delay))
    kw = dict(first_year=first_year, delay_years=d)
    base = cashflow.build(inputs, **kw)
    no_capex = cashflow.build(inputs, capex_multiplier=np.zeros(n), **kw)
    no_by = dataclasses.replace(inputs, byproduct_rows=np.zeros(0, int), byproduct_coef_usd_per_t_ore=np.zeros(0))
    net_share = (1.0 - inputs.royalty_rate)[:, None]
    wc_share = inputs.working_capital_share[:, None]

    def revenue(cf, rows):
        R = _pad(cf.revenue_usd_m, T)
        scale = np.abs(R).max(initial=1.0)
        ok = (np.allclose(_pad(cf.revenue_usd_m - cf.royalty_usd_m, T)[rows], (net_share * R)[rows],
                          rtol=1e-12, atol=1e-12 * scale)
              and np.allclose(_pad(np.cumsum(cf.working_capital_change_usd_m, axis=1), T)[rows], (wc_share * R)[rows],
                              rtol=1e-12, atol=1e-12 * scale))
        if not ok:
            raise AssertionError("royalty or working capital is no longer a share of revenue: fast path invalid")
        return R

    rev = [("primary", None, np.arange(n), revenue(cashflow.build(no_by, **kw), slice(None)))]
    for q in np.unique(by_proc):
        sel = by_proc == q
        # the other by-products' coefficients zeroed, not dropped: a by-product's price path is
        # found by its position among its project's by-products
        only_q = dataclasses.replace(inputs, price_usd_per_t=np.zeros(n),
                                     byproduct_coef_usd_per_t_ore=np.where(sel, inputs.byproduct_coef_usd_per_t_ore, 0.0))
        rows = np.unique(inputs.byproduct_rows[sel])
        rev.append(("by", int(q), rows, revenue(cashflow.build(only_q, **kw), rows)))
    total = sum(r[3] for r in rev)
    scale = np.abs(base.revenue_usd_m).max(initial=1.0)
    if not np.allclose(total, _pad(base.revenue_usd_m, T), rtol=1e-12, atol=1e-9 * scale):
        raise AssertionError("cash-flow model is not additive over products: fast path invalid")
    return {
        "rev": rev,
        "opex": _pad(base.opex_usd_m, T),
        "capex": _pad(base.initial_capex_usd_m, T),
        "dep_init": _pad(base.depreciation_usd_m - no_capex.depreciation_usd_m, T),
        "dep_sust": _pad(no_capex.depreciation_usd_m, T),
        "sustaining": _pad(base.sustaining_capex_usd_m, T),
        "closure": _pad(base.closure_usd_m, T),
        "first": np.asarray(base.first_production_index),
        "last": np.asarray(base.last_production_index),
    }


@dataclass
class _Plan:
    """Everything the fast kernel needs for one (project, delay).

    Columns ``s:e`` (``w = e - s`` of them) carry the taxable income (``e = last production + 1``,
    widened to the loan's DSCR columns ``a:b``). ``comms``: ``(row, capped, R)`` per product,
    ``row`` its row in the price-multiplier array, ``capped`` whether its recovery is capped at
    100 % (the primary product, first), ``R`` its revenue at multiplier 1 (after offsite costs,
    before royalty).

    ``A`` (``w + 1 + len(dscr_t)`` x ``3 + w``) is the linear part of one path: applied to
    ``[o / rr; k / rr; 1 / rr; V]`` (opex and capex multipliers ``o``, ``k``; ``rr`` the first
    product's recovery multiplier; ``V`` the price multipliers of the one product on columns
    ``s:e``, or with by-products their revenue ``sum_j R_j x price multiplier_j x rr_j / rr``),
    it gives, divided by ``rr``: rows ``0..w-1`` the cumulative taxable income before loss
    carry-forward, row ``w`` the NPV of revenue net of royalty less the working-capital build,
    and rows ``w + 1..`` the pre-tax CFADS on the DSCR columns ``s + dscr_t``. ``blocks``: the
    ``(first row, end row, columns)`` pieces it is applied in (cumulative sums only need the
    years up to their own: the matrix is lower triangular)."""

    s: int
    e: int
    comms: list
    A: np.ndarray
    blocks: tuple
    ddf: np.ndarray          # (w,): discount weights of the cumulative tax base
    pv_op: float
    pv_ci: float
    pv_fix: float
    rate: float
    F: np.ndarray | None     # (n_irr, 3 + w): the free cash flow before tax from the inputs of A
    dscr_t: np.ndarray | slice | None = None   # DSCR columns in the scope of min_dscr_rows, relative to s
    inv_ds: np.ndarray | None = None           # 1 / scheduled debt service (USD at fx_0) on those columns
    n_irr: int = 0                             # columns up to the last non-zero cash flow (IRR rows)


#: Rows of the cumulative-sum part of :class:`_Plan` ``A`` per matrix product: the lower
#: triangle is applied in pieces, each over the years it needs (smaller pieces: fewer
#: multiplications, more calls).
_TRI_BLOCK_ROWS = 8


@functools.cache
def _lower_triangle(w: int) -> np.ndarray:
    """``numpy.tri(w)`` (ones on and below the diagonal), made once per width (read-only)."""
    t = np.tri(w)
    t.setflags(write=False)
    return t


def _plan_matrices(Rw, net_share, wc_share, u, ctax, s, e, scope, opex, sustaining):
    """The matrices ``A`` of :class:`_Plan` (see there) of every project at one delay, built at
    once: each project's ``A`` is ``out[i, :w + 1 + nb, :3 + w]``, a view into one padded array.

    ``Rw`` the revenue weight of ``V`` per column (the product's revenue at multiplier 1, or ones
    when ``V`` is revenue), ``u`` the NPV weight of revenue, ``ctax`` the tax-deductible lines
    (``(n, T, 3)``: opex, initial-capex and sustaining depreciation), ``opex`` and
    ``sustaining``, all ``(n, T)``; ``s``, ``e`` the plans' columns, ``scope`` ``(n, T)`` the DSCR
    columns. Returns the padded array and the DSCR columns (relative to ``s``) and their
    absolute columns per project."""
    n, T = Rw.shape
    w = e - s
    Wm = int(w.max())
    valid = np.arange(Wm)[None, :] < w[:, None]                  # (n, Wm): the plan's columns
    col = np.minimum(s[:, None] + np.arange(Wm)[None, :], T - 1)

    def aligned(x):                                               # (n, Wm): x on the plan's columns
        return np.take_along_axis(x, col, axis=1) * valid

    R = aligned(Rw)
    I, T_abs = np.nonzero(scope)                                  # DSCR columns, project by project
    nb = np.bincount(I, minlength=n)
    A = np.zeros((n, Wm + 1 + int(nb.max(initial=0)), 3 + Wm))
    ct = np.take_along_axis(ctax, col[:, :, None], axis=1) * valid[:, :, None]
    A[:, :Wm, :3] = -np.cumsum(ct, axis=1) * valid[:, :, None]
    A[:, :Wm, 3:] = _lower_triangle(Wm)[None] * (net_share[:, None] * R)[:, None, :] * valid[:, :, None]
    A[np.arange(n), w, 3:] = aligned(u) * R
    t = T_abs - s[I]                                              # relative to the plan's first column
    rows = w[I] + 1 + np.arange(len(I)) - np.concatenate([[0], np.cumsum(nb)[:-1]])[I]
    A[I, rows, 0] = -opex[I, T_abs]
    A[I, rows, 2] = -sustaining[I, T_abs]
    A[I, rows, 3 + t] = (net_share - wc_share)[I] * R[I, t]
    prev = t >= 1                         # working capital released from the year before (inside s:e)
    A[I[prev], rows[prev], 2 + t[prev]] = wc_share[I[prev]] * R[I[prev], t[prev] - 1]
    bounds = np.concatenate([[0], np.cumsum(nb)])
    return A, [t[bounds[i]:bounds[i + 1]] for i in range(n)], [T_abs[bounds[i]:bounds[i + 1]] for i in range(n)]


@functools.cache
def _plan_blocks(w: int, nb: int, t_max: int, piece: int) -> tuple:
    """The ``(first row, end row, columns)`` pieces :class:`_Plan` ``A`` is applied in: the
    cumulative-sum rows in pieces of ``piece`` rows over the years each needs, the last with the
    NPV row (every year), then the DSCR rows up to their last column ``t_max``."""
    blocks = [(r0, min(w, r0 + piece), 3 + min(w, r0 + piece)) for r0 in range(0, w, piece)]
    blocks[-1] = (blocks[-1][0], w + 1, 3 + w)
    if nb:
        blocks.append((w + 1, w + 1 + nb, 3 + t_max + 1))
    return tuple(blocks)


def _irr_matrices(Rw, net_share, wc_share, s, e, L, opex, capex, fixed):
    """The matrices ``F`` of :class:`_Plan` of every project at one delay (``out[i, :L, :3 + w]``
    views of one padded array): they map the inputs of ``A`` to the free cash flow before income
    tax, divided by ``rr``, on columns ``0..L-1`` (the IRR rows): revenue net of royalty less the
    working-capital build on the plan's columns, less opex, initial capex and the fixed costs
    (sustaining and closure) on every column."""
    n = len(s)
    w = e - s
    Lm, Wm = int(L.max()), int(w.max())
    F = np.zeros((n, Lm, 3 + Wm))
    upto = np.arange(Lm)[None, :] < L[:, None]
    F[:, :, 0], F[:, :, 1], F[:, :, 2] = -opex[:, :Lm] * upto, -capex[:, :Lm] * upto, -fixed[:, :Lm] * upto
    I, t = np.nonzero(np.arange(Wm)[None, :] < w[:, None])        # (project, plan column)
    R = Rw[I, s[I] + t]
    F[I, s[I] + t, 3 + t] = (net_share - wc_share)[I] * R
    nxt = s[I] + t + 1 < L[I]             # working capital released the year after
    F[I[nxt], s[I[nxt]] + t[nxt] + 1, 3 + t[nxt]] = wc_share[I[nxt]] * R[nxt]
    return F


def _plans(ctx: SimContext, row_of: Mapping[int, int]) -> list[list[_Plan]]:
    """One :class:`_Plan` per project and delay ``0..max_delay``; ``row_of`` maps a process index
    to its row in the kernel's price-multiplier array."""
    inputs, T = ctx.inputs, ctx.T
    n = inputs.n
    t = np.arange(T)
    df = ctx.dfac
    df_next = np.concatenate([df[:, 1:], np.zeros((n, 1))], axis=1)
    net_share, wc_share = 1.0 - inputs.royalty_rate, inputs.working_capital_share
    out = [[None] * (ctx.max_delay + 1) for _ in range(n)]
    for d in range(ctx.max_delay + 1):
        co = _linear_coefficients(inputs, ctx.scenario.first_year, T, d, ctx.by_proc)
        lp, fp = co["last"], co["first"]
        mask = t[None, :] <= lp[:, None]                      # build: taxable income up to the last production year
        per_proj = [[] for _ in range(n)]
        for kind, q, rows, R in co["rev"]:
            if np.any(R[rows] * ~mask[rows]):
                raise AssertionError("revenue after the last production year: fast path invalid")
            for i in rows:
                proc_i = int(ctx.prim_proc[i]) if kind == "primary" else q
                per_proj[i].append((row_of[proc_i], kind == "primary", R[i]))
        fix = co["sustaining"] + co["closure"]
        ctax = np.stack([co["opex"], co["dep_init"], co["dep_sust"]], axis=2) * mask[:, :, None]   # (n, T, 3)
        act = np.abs(ctax).sum(axis=2)                        # columns with any taxable line
        for *_, rows, R in co["rev"]:
            act[rows] += np.abs(R[rows])
        live = (act * mask) > 0
        s_arr = np.where(live.any(axis=1), live.argmax(axis=1), fp)
        e_arr = lp + 1
        # DSCR columns: debt service once production has started, or repaying principal earlier
        sd, pr = ctx.sched.debt_service_usd_m, ctx.sched.principal_usd_m
        scope_m = (sd > 1e-12) & ((t[None, :] >= fp[:, None]) | (pr > 1e-12)) & ctx.has_loan[:, None]
        has_scope = scope_m.any(axis=1)
        a_arr = np.where(has_scope, scope_m.argmax(axis=1), 0)
        b_arr = np.where(has_scope, T - scope_m[:, ::-1].argmax(axis=1), 0)
        whole = scope_m.sum(axis=1) == b_arr - a_arr
        s_arr = np.where(has_scope, np.minimum(s_arr, a_arr), s_arr)
        e_arr = np.where(has_scope, np.maximum(e_arr, b_arr), e_arr)
        s_arr = np.maximum(0, np.minimum(s_arr, e_arr - 1))
        e_arr = np.minimum(np.maximum(e_arr, s_arr + 1), T)
        u_all = net_share[:, None] * df - wc_share[:, None] * (df - df_next)   # NPV weight of revenue
        dd_all = df - df_next                                 # weight of cumulative tax base, last year aside
        pv_op, pv_ci, pv_fix = ((co["opex"] * df).sum(axis=1), (co["capex"] * df).sum(axis=1), (fix * df).sum(axis=1))
        # last column with a cash flow: costs, or the working capital released the year after revenue
        rev_any = np.zeros((n, T), dtype=bool)
        for *_, rows, R in co["rev"]:
            rev_any[rows] |= R[rows] != 0
        cost_any = (co["opex"] != 0) | (co["capex"] != 0) | (fix != 0)
        last_cost = np.where(cost_any.any(axis=1), T - 1 - cost_any[:, ::-1].argmax(axis=1), -1)
        last_rev = np.where(rev_any.any(axis=1), T - 1 - rev_any[:, ::-1].argmax(axis=1), -2)
        n_irr = np.minimum(T, np.maximum.reduce([e_arr, last_cost + 1, last_rev + 2, np.ones(n, int)]))
        # revenue weight of V: the one product's revenue, or ones when V is the products' revenue
        Rw = np.array([per_proj[i][0][2] if len(per_proj[i]) == 1 else np.ones(T) for i in range(n)])
        A_all, dscr_ts, dscr_abs = _plan_matrices(Rw, net_share, wc_share, u_all, ctax, s_arr, e_arr, scope_m,
                                                  co["opex"], co["sustaining"])
        F_all = _irr_matrices(Rw, net_share, wc_share, s_arr, e_arr, n_irr, co["opex"], co["capex"], fix) \
            if ctx.irr_n else None
        for i in range(n):
            s, e = int(s_arr[i]), int(e_arr[i])
            w, dscr_t = e - s, dscr_ts[i]
            nb = len(dscr_t)
            ddf = dd_all[i, s:e].copy()
            ddf[-1] = df[i, e - 1]
            blocks = _plan_blocks(w, nb, int(dscr_t.max(initial=0)), _TRI_BLOCK_ROWS)
            out[i][d] = _Plan(
                s, e, per_proj[i], A_all[i, :w + 1 + nb, :3 + w], blocks, ddf,
                float(pv_op[i]), float(pv_ci[i]), float(pv_fix[i]),
                float(inputs.income_tax_rate[i]), F_all[i, :int(n_irr[i]), :3 + w] if F_all is not None else None,
                (slice(int(dscr_t[0]), int(dscr_t[-1]) + 1) if whole[i] else dscr_t) if has_scope[i] else None,
                1.0 / sd[i, dscr_abs[i]] if has_scope[i] else None, int(n_irr[i]))
    return out


def tax_base_time_major(X: np.ndarray, n_cols=None) -> None:
    """In place: rows ``1..`` of ``X`` (time on axis 0, row 0 = zeros), the cumulative sums
    ``S_t`` of the taxable income (the fast kernel's matrix product forms them), become the
    cumulative taxable income after unlimited loss carry-forward, ``max(0, max_{s<=t} S_s)``
    (the identity of :func:`cashflow.loss_carried_forward_tax_base`; its yearly base is the
    first difference).

    ``n_cols[k]``: only the first ``n_cols[k]`` columns are carried in row ``k`` (columns sorted
    by their number of years, longest first); default all.

    A loop over the ~40 years, each step vectorised over every (project, path) row of the batch:
    ``numpy.maximum.accumulate`` along an axis costs 4-10 ns an element in numpy 2.x, this
    about 0.5."""
    n = [X.shape[1]] * X.shape[0] if n_cols is None else n_cols
    for k in range(1, X.shape[0]):
        c = n[k]
        np.maximum(X[k - 1, :c], X[k, :c], out=X[k, :c])


#: Rows (project x path pairs) per batch of the fast kernel: the taxable-income matrix is
#: ``(years, rows)`` float64, about 10 MiB at 32k rows and 40 years.
FAST_BATCH_ROWS = 32_768
#: Paths per super-block of the fast kernel (a multiple of ``chunk_paths``).
FAST_BLOCK_PATHS = 10_000
#: IRR rows per :func:`finance.irr` call: about a sixteenth of all the IRR rows, within these
#: bounds. Alone, 2k-row calls are fastest (the working arrays, rows x ~280 grid nodes, stay in
#: cache; 50k rows in one call take twice as long); beside another thread, fewer and longer
#: calls contend less for the interpreter lock (1,000 projects: 8k-16k rows 0.75x the time of
#: 2k rows). 8k rather than 16k: as fast, and half the working memory per lane.
IRR_BATCH_ROWS = (2048, 8192)


def usable_cores() -> int:
    """CPUs this process may run on: its affinity mask where the OS has one (a container limited
    to one core still reports the host's count in ``os.cpu_count``), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_fast(ctx: SimContext, n_paths: int, seed: int, chunk_paths: int, memory_budget_bytes: int) -> None:
    """Fast evaluation (module notes): the deterministic model's linear coefficients (read off
    :func:`cashflow.build`), combined per path with the drawn multipliers; only the tax (loss
    carry-forward) is nonlinear and is evaluated per path. Same draws as :func:`run_reference`.

    With a second core, a second thread builds the plans while the first block of paths is
    drawn, then shares the batches of projects and their IRR rows with this one (numpy and BLAS
    release the interpreter lock in their loops; results identical to one thread)."""
    T, n, used = ctx.T, len(ctx.apps), ctx.used
    row_of = {int(q): r for r, q in enumerate(used)}
    params = stage_params(ctx.stages, ctx.v_proj, ctx.risks)
    n_blocks = math.ceil(n_paths / chunk_paths)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    # blocks per super-block: about FAST_BLOCK_PATHS paths, within the memory budget
    per_path = len(used) * T * 8 + n * (3 * 8 + 1) + 2 * n * 8    # draws, and the results (npv, min DSCR)
    sb = max(1, min(FAST_BLOCK_PATHS // chunk_paths, max(1, memory_budget_bytes // max(1, per_path * chunk_paths))))
    S_max = min(n_paths, sb * chunk_paths)
    lanes = usable_cores() if ctx.lanes is None else ctx.lanes
    pool = ThreadPoolExecutor(max_workers=1) if lanes > 1 else None
    try:
        get_plans = pool.submit(_plans, ctx, row_of).result if pool is not None else lambda: _plans(ctx, row_of)
        _fast_super_blocks(ctx, get_plans, row_of, params, children, n_paths, n_blocks, chunk_paths, sb, S_max, pool)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _touched(*shape, dtype=float) -> np.ndarray:
    """A new array with every page touched once, in order: first writes scattered over fresh pages
    (the blocks of paths, the groups' columns) fault page by page and cost several times a
    sequential fill on a virtual machine."""
    a = np.empty(shape, dtype=dtype)
    a.fill(0)
    return a


def _fast_super_blocks(ctx, get_plans, row_of, params, children, n_paths, n_blocks, chunk_paths, sb, S_max,
                       pool) -> None:
    """The super-block loop of :func:`run_fast`: draw the paths of ``sb`` blocks, then evaluate
    every project on them in batches of about ``FAST_BATCH_ROWS`` (project, path) columns, on
    two lanes (this thread and ``pool``'s) when there is a pool. ``get_plans()`` returns
    :func:`_plans` (waited for after the first draws)."""
    proc, T, n, used = ctx.proc, ctx.T, len(ctx.apps), ctx.used
    Mt_buf = _touched(len(used), T, S_max)                       # price multipliers (process, year, path)
    mult_buf = _touched(3, n, S_max)                             # capex, opex, recovery multipliers
    delay_buf = _touched(n, S_max, dtype=np.int8)
    plans = None
    lanes = 2 if pool is not None else 1
    progress = _Progress(n * n_paths, ctx.progress)
    irr_batch = min(IRR_BATCH_ROWS[1], max(IRR_BATCH_ROWS[0], n * ctx.irr_n // 16))
    for b0 in range(0, n_blocks, sb):
        p0 = b0 * chunk_paths
        S = min(n_paths, (b0 + sb) * chunk_paths) - p0
        Mt = Mt_buf[:, :, :S]
        mult, delay = mult_buf[:, :, :S], delay_buf[:, :S]
        tickets = _Tickets(min(n_blocks, b0 + sb) - b0)

        def draw_blocks() -> None:
            """Blocks of this super-block, each from its own stream into its own columns, until
            none is left (both threads draw: the results do not depend on who draws which)."""
            while (j := tickets.take()) is not None:
                b = b0 + j
                q0 = b * chunk_paths - p0
                B = min(chunk_paths, n_paths - b * chunk_paths)
                rng = np.random.Generator(np.random.PCG64(children[b]))
                ou_shocks(rng, proc, B, T - 1, used, ctx.antithetic, out=Mt[:, 1:, q0:q0 + B])
                project_draws(rng, ctx.stages, B, ctx.v_proj, ctx.risks,
                               out=(mult[:, :, q0:q0 + B], delay[:, q0:q0 + B]), params=params,
                               antithetic=ctx.antithetic)

        # the second thread joins once it has built the plans (first super-block)
        on_lanes(lambda k, stop: draw_blocks(), pool)
        ou_multipliers(proc, Mt[:, 1:], Mt, ctx.vol_scale, ctx.deck, rows=used)    # in place
        if ctx.delay is not None:                                 # per-path delays, when a portfolio asks
            ctx.delay[:, p0:p0 + S] = delay
        capex_m, opex_m, rec_m = mult
        if plans is None:
            plans = get_plans()
            W = max(pl.e - pl.s for per in plans for pl in per)
            H = 1 + max(pl.A.shape[0] for per in plans for pl in per)
            # per lane: outputs of a batch (time, row), see _fast_batch; inputs of one group (flat)
            bufs = [(_touched(H, FAST_BATCH_ROWS + S_max), _touched((3 + W) * S_max)) for _ in range(lanes)]
            # projects of one primary product one after another: its price rows (T x S, a few MB)
            # stay in the cache while they are gathered, instead of each project fetching them
            order = np.argsort([per[0].comms[0][0] for per in plans], kind="stable")
        irr_lim = max(0, min(S, ctx.irr_n - p0))
        # batches of consecutive projects (``order``), about FAST_BATCH_ROWS (project, path) columns each
        per_batch = max(1, math.ceil(FAST_BATCH_ROWS / S))
        batches = [order[j:j + per_batch] for j in range(0, n, per_batch)]
        fx_row = row_of[ctx.fx_i]
        queue = _BatchQueue(len(batches), max(1, round(irr_batch / max(1, per_batch * irr_lim))))

        def lane(k: int, stop: threading.Event) -> None:
            """Batches from the queue, and the IRR runs it completes."""
            X_buf, B_buf = bufs[k]
            while not stop.is_set():
                b = queue.take()
                if b is None:
                    return
                projects = batches[b]
                rows = len(projects) * S
                irr_acc = []
                _fast_batch(ctx, plans, _groups(projects, delay, ctx.max_delay), X_buf[:, :rows], B_buf, Mt, fx_row,
                            rec_m, opex_m, capex_m, p0, irr_lim, irr_acc)
                run = queue.done(b, irr_acc)
                if run is not None:
                    _solve_irr(ctx, run)
                progress.add(rows)
                if k == 0:
                    progress.report()

        on_lanes(lane, pool)
        progress.report()                                         # the other lane may have ended last


class _Tickets:
    """Numbers ``0..n-1`` handed out in order to whichever thread asks first."""

    def __init__(self, n: int):
        self.n, self._next = n, 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The next number, or None when all are taken."""
        with self._lock:
            if self._next >= self.n:
                return None
            self._next += 1
            return self._next - 1


class _BatchQueue(_Tickets):
    """Batch numbers handed out in order to whichever lane asks first; the IRR rows of each run of
    ``per_call`` consecutive batches are merged (in batch order) for one :func:`finance.irr` call
    by the lane that finishes the run's last batch. The threads' speed decides who does what,
    never what is computed: the results do not depend on it."""

    def __init__(self, n_batches: int, per_call: int):
        super().__init__(n_batches)
        self.per_call = per_call
        self._left = [min(per_call, n_batches - g) for g in range(0, n_batches, per_call)]
        self._irr: list = [None] * n_batches

    def done(self, b: int, irr_acc: list) -> list | None:
        """Keep batch ``b``'s IRR rows (``irr_acc`` of :func:`_fast_batch`); return its run's
        merged rows when ``b`` was the run's last batch to finish, else None."""
        g = b // self.per_call
        run = slice(g * self.per_call, min(self.n, (g + 1) * self.per_call))
        with self._lock:
            self._irr[b] = irr_acc
            self._left[g] -= 1
            if self._left[g]:
                return None
            parts, self._irr[run] = self._irr[run], [None] * (run.stop - run.start)
        return [row for p in parts for row in p]


class _Progress:
    """Fraction of the (project, path) columns done, counted by both lanes and reported to the
    caller's callback from the caller's thread only (Streamlit draws from its script thread),
    whenever it has moved."""

    def __init__(self, total: int, callback: Callable[[float], None] | None):
        self.total, self.callback = total, callback
        self.done, self.reported = 0, 0.0
        self._lock = threading.Lock()

    def add(self, rows: int) -> None:
        with self._lock:
            self.done += rows

    def report(self) -> None:
        frac = self.done / self.total
        if self.callback is not None and frac > self.reported:
            self.reported = frac
            self.callback(frac)


def on_lanes(work: Callable[[int, threading.Event], None], pool: ThreadPoolExecutor | None) -> None:
    """``work(0, stop)`` on this thread and ``work(1, stop)`` on ``pool`` (when there is one),
    waited for. After an error on this thread ``stop`` is set, so the other lane returns at its
    next batch; the first error is raised."""
    stop = threading.Event()
    others = [pool.submit(work, 1, stop)] if pool is not None else []
    try:
        work(0, stop)
    except BaseException:
        stop.set()
        raise
    finally:
        for f in others:
            if stop.is_set():
                f.exception()                                     # wait for it, keep the first error
            else:
                f.result()


def _groups(projects, delay, max_delay: int) -> list:
    """``(project, delay, paths)`` of a batch of ``projects``: their paths split by the drawn delay
    (each delay has its own plan: the years shift)."""
    if not max_delay:
        return [(i, 0, np.arange(delay.shape[1])) for i in projects]
    out = []
    for i in projects:
        dl = delay[i]
        for d in range(max_delay + 1):
            idx = np.flatnonzero(dl == d)
            if len(idx):
                out.append((i, d, idx))
    return out


def _recovery_multiplier(recovery: float, m: np.ndarray, capped: bool) -> np.ndarray:
    """Multiplier on a product's base ``recovery`` on some paths: the drawn ``m``; for the primary
    product (``capped``) limited so that recovery x multiplier stays at most 100 %."""
    if not capped or recovery <= 0:
        return m
    m = m * recovery
    np.minimum(m, 1.0, out=m)
    m /= recovery
    return m


def _fast_batch(ctx, plans, groups, X, B_buf, Mt, fx_row, rec_m, opex_m, capex_m, p0, irr_lim,
                irr_acc) -> None:
    """Evaluate one batch of (project, delay, paths) groups into ``X`` (``(H, rows)``, reused
    between batches); writes NPV and min DSCR, and appends the cash flows of the IRR paths to
    ``irr_acc`` (see :func:`_solve_irr`).

    Per group, the matrix product ``A @ B`` (:class:`_Plan`) writes the group's columns of ``X``:
    rows ``1..w`` the cumulative taxable income, row ``w + 1`` the NPV of net revenue, the rows
    after it the pre-tax CFADS; all divided by the first product's recovery multiplier ``rr0``
    (the tax base ``max(0, running max)`` is positively homogeneous, so the carry-forward runs on
    the divided rows and the tax is multiplied back by ``rr0``). Then one loop over the years
    carries the losses forward for every column of the batch."""
    X[0] = 0.0                            # the zero before the first year
    # longest plans first, so that year k of the tax loop runs over a prefix of the columns
    groups = sorted(groups, key=lambda g: plans[g[0]][g[1]].e - plans[g[0]][g[1]].s, reverse=True)
    widths = np.array([plans[i][d].e - plans[i][d].s for i, d, _ in groups])
    ends = np.concatenate([[0], np.cumsum([len(idx) for *_, idx in groups])])
    n_long = (widths[None, :] >= np.arange(widths[0] + 1)[:, None]).sum(axis=1)   # groups spanning year k
    recs, off = [], 0
    for i, d, idx in groups:
        pl = plans[i][d]
        s, e, A = pl.s, pl.e, pl.A
        w, nd = e - s, len(idx)
        B = B_buf[:(3 + w) * nd].reshape(3 + w, nd)
        V = B[3:]
        for j, (r, capped, R) in enumerate(pl.comms):              # the primary product first
            rr = _recovery_multiplier(ctx.inputs.recovery[i], rec_m[i, idx], capped)
            if j == 0:
                rr0 = np.maximum(rr, 1e-200)              # > 0: lognormal multipliers
                # mode="clip" (the indices are in range) writes straight into B; "raise" buffers a copy
                np.take(Mt[r, s:e], idx, axis=1, out=V, mode="clip")
                if len(pl.comms) > 1:                     # V becomes revenue (A's weights are ones)
                    V *= R[s:e, None]
            else:
                G = np.take(Mt[r, s:e], idx, axis=1)
                G *= R[s:e, None]
                G *= rr / rr0
                V += G
        o, k = opex_m[i, idx], capex_m[i, idx]
        np.divide(o, rr0, out=B[0])
        np.divide(k, rr0, out=B[1])
        np.divide(1.0, rr0, out=B[2])
        for r0, r1, c in pl.blocks:
            np.matmul(A[r0:r1, :c], B[:c], out=X[1 + r0:1 + r1, off:off + nd])
        ns = int(np.searchsorted(idx, irr_lim))           # paths of this group in the IRR subsample
        fcf = pl.F @ B[:, :ns] if ns else None            # their free cash flow before tax / rr0
        # the special levy's base needs the yearly taxable income before the carry-forward
        # overwrites it (only the projects whose levy is asked)
        S = X[1:1 + w, off:off + nd].copy() if ctx.levy is not None and ctx.levy_weight[i].any() else None
        recs.append((i, d, idx, off, o, k, rr0, fcf, S))
        off += nd
    tax_base_time_major(X[:1 + widths[0]], ends[n_long].tolist())
    for i, d, idx, off, o, k, rr0, fcf, S in recs:
        pl = plans[i][d]
        w, nd = pl.e - pl.s, len(idx)
        cols = slice(off, off + nd)
        if S is not None:
            ctx.levy[i, p0 + idx] = _fast_levy(pl, S, X[:1 + w, cols], rr0, ctx.levy_weight[i])
        pv = X[1 + w, cols] - pl.rate * (pl.ddf @ X[1:1 + w, cols])
        pv *= rr0
        ctx.npv[i, p0 + idx] = pv - o * pl.pv_op - k * pl.pv_ci - pl.pv_fix
        if pl.dscr_t is not None:
            first = None if ctx.default_col is None else ctx.default_col[i]
            ctx.min_dscr[i, p0 + idx] = _fast_min_dscr(pl, X, cols, Mt, fx_row, idx, rr0, first, p0 + idx,
                                                       ctx.scenario.dsra_months, ctx.scenario.policy_loan_rate)
        if fcf is not None:                               # IRR rows: less the tax, times rr0
            ns = fcf.shape[1]
            tax = np.subtract(X[1:1 + w, off:off + ns], X[:w, off:off + ns])
            tax *= pl.rate
            fcf[pl.s:pl.e] -= tax
            fcf *= rr0[:ns]
            irr_acc.append((i, p0 + idx[:ns], fcf.T))


def _fast_levy(pl: _Plan, S: np.ndarray, Xb: np.ndarray, rr0, weight: np.ndarray) -> np.ndarray:
    """The special levy [KRW bn] of one group's paths: profit after tax on the plan's columns,
    ``rr0 x (dS_t - rate x dB_t)`` (``S`` the cumulative taxable income before the carry-forward,
    ``w x paths``; ``Xb`` rows ``1..w`` the cumulative tax base after it, row 0 zeros; both divided
    by ``rr0``), under the weights of :func:`evaluator.special_loan.levy_weights` (``(T,)``).

    On the kernel's projects (no depletion, no tax credit: :func:`cashflow.linear_kernel_view`)
    the taxable income before losses is EBITDA less depreciation, so this is the profit after tax
    evaluate's levy takes. Outside the plan's columns there is no revenue: no profit is levied."""
    ni = np.diff(S, axis=0, prepend=0.0)
    ni -= pl.rate * np.diff(Xb, axis=0)
    np.maximum(ni, 0.0, out=ni)
    levy = weight[pl.s:pl.e] @ ni
    levy *= rr0
    return levy


def _solve_irr(ctx: SimContext, acc: list) -> None:
    """IRR of the collected cash-flow rows, ``acc = [(project, paths, rows), ...]``: one
    :func:`finance.irr` call, written into ``ctx.irr``. The rows are padded with zeros to the model's ``T``
    columns: zeros change neither the IRR nor its flags, and one width for every call makes each
    row's result independent of the rows that share its call (one lane or two agree to the bit).
    Few long calls: each call's Python steps hold the interpreter lock the other lane needs."""
    if not acc:
        return
    rows = np.zeros((sum(len(f) for *_, f in acc), ctx.T))
    k = 0
    for *_, f in acc:
        rows[k:k + len(f), :f.shape[1]] = f
        k += len(f)
    vals = finance.irr(rows)
    k = 0
    for i, pp, _ in acc:
        ctx.irr[i, pp] = vals[k:k + len(pp)]
        k += len(pp)


def _fast_min_dscr(pl: _Plan, X, cols, Mt, fx_row, idx, rr0, first=None, at=None, dsra_months=0.0,
                   loan_rate=0.0) -> np.ndarray:
    """Minimum DSCR of one group's paths: CFADS on the DSCR columns from the pre-tax CFADS and the
    cumulative tax base the matrix product left in ``X`` (both divided by ``rr0``, see
    :func:`_fast_batch`), over debt service in USD (``ds x fx_0 / fx_t``, so the ratio is
    ``CFADS x (fx_t / fx_0) / ds``); ``rr0 > 0`` is factored out of the minimum. ``first``
    (optional, one project's row): at the paths ``at``, the year of default of the credit model
    (:func:`evaluator.credit.default_test`, -1: none), tested in the loan's currency at the
    scenario's rate: CFADS ``DSCR_t x ds_t`` against ``ds_t``, the reserve ``dsra_months / 12 x
    max ds``."""
    w, t = pl.e - pl.s, pl.dscr_t
    cf = X[2 + w:2 + w + len(pl.inv_ds), cols]           # pre-tax CFADS / rr0 (scratch rows of X)
    tax = np.subtract(X[1:, cols][t], X[:-1, cols][t])
    tax *= pl.rate
    cf -= tax
    fx = np.take(Mt[fx_row, pl.s:pl.e][t], idx, axis=1)
    fx *= pl.inv_ds[:, None]
    cf *= fx
    m = cf.min(axis=0)
    m *= rr0
    if first is not None:
        first[at] = -1
        bad = np.flatnonzero(m < 1.0)                     # a DSCR of 1 or more every year: never a default
        if len(bad):
            ds = 1.0 / pl.inv_ds
            cfb = cf[:, bad]
            cfb *= (rr0[bad] if np.ndim(rr0) else rr0)    # the DSCR itself
            cfb *= ds[:, None]                            # CFADS in the loan's currency
            cols_t = np.arange(w)[t] + pl.s
            reserve = np.full(len(bad), dsra_months / 12.0 * float(ds.max(initial=0.0)))
            _, pos = default_test(cfb, ds[:, None], None, reserve, loan_rate, axis=0, years=cols_t)
            first[at[bad]] = np.where(pos >= 0, cols_t[np.maximum(pos, 0)], -1)
    return m
