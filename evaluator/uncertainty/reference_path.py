"""The simple reference path: tile the inputs and run :func:`evaluator.cashflow.build` on every
(project, path) row with the same draws as the fast kernel (kept for checks; the tests hold the
two equal).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from evaluator import cashflow, finance
from evaluator.uncertainty.context import SimContext, credit_default_cols, levy_of_rows, min_dscr_rows
from evaluator.uncertainty.processes import price_log_deviations, project_draws


# ----------------------------------------------------------------------------------------------
# tiling and project draws
# ----------------------------------------------------------------------------------------------
def tile_inputs(inputs: cashflow.ProjectInputs, idx, repeats: int) -> cashflow.ProjectInputs:
    """ProjectInputs whose rows are (project, path) pairs: project ``idx[i]`` repeated ``repeats``
    times (row ``i * repeats + j`` = path ``j`` of project ``idx[i]``). By-product rows are
    re-indexed to the tiled rows."""
    idx = np.asarray(idx, dtype=int)
    rows = np.repeat(idx, repeats)
    changes = {}
    for f in dataclasses.fields(inputs):
        v = getattr(inputs, f.name)
        if f.name in ("ids", "sources", "byproduct_rows", "byproduct_coef_usd_per_t_ore"):
            continue
        changes[f.name] = v[rows]
    changes["ids"] = tuple(np.asarray(inputs.ids, dtype=object)[rows])
    changes["sources"] = None
    pos = np.full(inputs.n, -1)
    pos[idx] = np.arange(len(idx))
    keep = pos[inputs.byproduct_rows] >= 0 if len(inputs.byproduct_rows) else np.zeros(0, bool)
    b_rows = inputs.byproduct_rows[keep]
    b_coef = inputs.byproduct_coef_usd_per_t_ore[keep]
    changes["byproduct_rows"] = (pos[b_rows][:, None] * repeats + np.arange(repeats)[None, :]).ravel()
    changes["byproduct_coef_usd_per_t_ore"] = np.repeat(b_coef, repeats)
    return dataclasses.replace(inputs, **changes)



def _price_paths(inputs: cashflow.ProjectInputs, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Each product's price path relative to model year 1 on ``T`` columns: primary (n, T) and
    per by-product (n_by, T) (ones where the scenario gives no path)."""
    n, nb = inputs.n, len(inputs.byproduct_rows)
    if inputs.price_factor is None:
        return np.ones((n, T)), np.ones((nb, T))
    prim = cashflow.fit_columns(inputs.price_factor, T)
    if not nb:
        return prim, np.ones((0, T))
    rank = cashflow.rank_within(inputs.byproduct_rows)
    return prim, cashflow.fit_columns(inputs.byproduct_price_factor[inputs.byproduct_rows, rank], T)


def _bytes_per_row(n_periods: int) -> int:
    # cashflow.build keeps its 20 series and about as many temporaries alive, float64
    return n_periods * 8 * 48


def run_reference(ctx: "SimContext", n_paths: int, seed: int, chunk_paths: int, memory_budget_bytes: int,
                  rows=None) -> None:
    """The tiled reference: one :func:`cashflow.build` call per (project, path) row (slow; kept
    to check :func:`run_fast` against it, and used for the projects the fast kernel cannot
    evaluate exactly). ``rows``: the projects to evaluate (default all); the draws are those of
    the whole set either way."""
    (apps, scenario, inputs, proc, stages, risks, v_proj, vol_scale, deck, T, dfac, sched, has_loan, fx_i,
     prim_proc, by_proc, prim_coef, npv, min_dscr, irr, irr_n, progress) = (
        ctx.apps, ctx.scenario, ctx.inputs, ctx.proc, ctx.stages, ctx.risks, ctx.v_proj, ctx.vol_scale, ctx.deck,
        ctx.T, ctx.dfac, ctx.sched, ctx.has_loan, ctx.fx_i, ctx.prim_proc, ctx.by_proc, ctx.prim_coef, ctx.npv,
        ctx.min_dscr, ctx.irr, ctx.irr_n, ctx.progress)
    n = len(apps)
    rows_budget = max(1, memory_budget_bytes // _bytes_per_row(T))
    n_blocks = math.ceil(n_paths / chunk_paths)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    todo = np.arange(n) if rows is None else np.asarray(sorted(rows), dtype=int)
    path_prim, path_by = _price_paths(inputs, T)
    total_rows, done_rows = len(todo) * n_paths, 0
    for b in range(n_blocks):
        p0 = b * chunk_paths
        B = min(chunk_paths, n_paths - p0)
        rng = np.random.Generator(np.random.PCG64(children[b]))
        mult = np.ones((len(proc.names), B, T))                                   # (P, B, T); unused rows stay 1
        mult[ctx.used] = price_log_deviations(rng, proc, B, T - 1, vol_scale, deck, rows=ctx.used,
                                               antithetic=ctx.antithetic)
        capex_m, opex_m, rec_m, delay = project_draws(rng, stages, B, v_proj, risks, antithetic=ctx.antithetic)
        if ctx.delay is not None:
            ctx.delay[:, p0:p0 + B] = delay
        fx_ratio = 1.0 / mult[fx_i]                                              # (B, T): fx_0 / fx_t
        m_proj = max(1, rows_budget // B)
        for s0 in range(0, len(todo), m_proj):
            idx = todo[s0:s0 + m_proj]
            m = len(idx)
            tiled = tile_inputs(inputs, idx, B)
            # effective price multiplier: revenue-weighted mean of the products' multipliers, the
            # weights following each product's price path (year by year)
            rec_eff = np.minimum(inputs.recovery[idx, None] * rec_m[idx], 1.0)
            w_prim = (prim_coef[idx, None] * rec_eff)[:, :, None] * path_prim[idx, None, :]   # (m, B, T)
            pm = w_prim * mult[prim_proc[idx]]
            total = w_prim.copy()
            if len(inputs.byproduct_rows):
                sel = np.flatnonzero(np.isin(inputs.byproduct_rows, idx))
                if len(sel):
                    pos = np.searchsorted(idx, inputs.byproduct_rows[sel])
                    w_by = (inputs.byproduct_coef_usd_per_t_ore[sel, None] * rec_m[inputs.byproduct_rows[sel]])[:, :, None] \
                        * path_by[sel, None, :]
                    np.add.at(total, pos, w_by)
                    np.add.at(pm, pos, w_by * mult[by_proc[sel]])
            with np.errstate(invalid="ignore", divide="ignore"):
                pm = np.where(total > 0, pm / np.where(total > 0, total, 1.0), mult[prim_proc[idx]])
            cf = cashflow.build(tiled, first_year=scenario.first_year,
                                price_multiplier=pm.reshape(m * B, T),
                                capex_multiplier=capex_m[idx].ravel(), opex_multiplier=opex_m[idx].ravel(),
                                recovery_multiplier=rec_m[idx].ravel(), delay_years=delay[idx].ravel())
            Tc = cf.n_periods
            fcf = cf.fcf_usd_m.reshape(m, B, Tc)
            npv[idx, p0:p0 + B] = np.einsum("mbt,mt->mb", fcf, dfac[idx, :Tc])
            if ctx.levy is not None and ctx.levy_weight is not None:  # profit after tax, as evaluate's levy
                ni = (cf.ebitda_usd_m - cf.depreciation_usd_m - cf.depletion_usd_m - cf.tax_usd_m
                      + cf.tax_credit_usd_m).reshape(m, B, Tc)
                ctx.levy[idx, p0:p0 + B] = levy_of_rows(ctx.levy_weight[idx][:, None, :], ni)
            lr = np.flatnonzero(has_loan[idx])
            if len(lr):
                cfads = np.zeros((len(lr), B, T))
                cfads[:, :, :Tc] = cf.cfads_usd_m.reshape(m, B, Tc)[lr]
                g = idx[lr]
                ds = sched.debt_service_usd_m[g][:, None, :] * fx_ratio[None, :, :]
                principal = sched.principal_usd_m[g][:, None, :]
                if ctx.other_debt is not None:  # other debt in USD ranking at or above the policy loan
                    ds = ds + ctx.other_debt.debt_service_usd_m[g][:, None, :]
                    principal = principal + ctx.other_debt.principal_usd_m[g][:, None, :]
                fp = cf.first_production_index.reshape(m, B)[lr]  # the model's own (part years included)
                min_dscr[g, p0:p0 + B] = min_dscr_rows(cfads, ds, principal, fp)
                if ctx.default_col is not None:
                    ctx.default_col[g, p0:p0 + B] = credit_default_cols(ctx, g, cfads, ds, principal, fp, fx_ratio)
            if p0 < irr_n:
                k = min(B, irr_n - p0)
                irr[idx, p0:p0 + k] = finance.irr(fcf[:, :k].reshape(m * k, Tc)).reshape(m, k)
            done_rows += m * B
            if progress is not None:
                progress(done_rows / total_rows)


