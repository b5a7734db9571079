"""Model building: the candidates, budgets and constraints as one mixed-integer programme (:class:`_Model`)."""

from __future__ import annotations

import time
import warnings
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from evaluator.allocation.errors import AllocationInfeasible
from evaluator.allocation.spec import COVERAGE_FLOOR, LOCK_FLOOR, LinearConstraintSpec, MinGroupsCovered, _labels, _per_row
from evaluator.messages import Message


class _Model:
    """Matrices of the MILP, built once and re-solved with modified bounds or objective.

    Variables: ``[x (n) | z (coverage binaries) | u (concave segments) | T (share totals) |
    n (award steps, with ``award_step``)]``.
    Rows: budgets, group caps, linear constraints, coverage, concave links, in that order.
    """

    def __init__(self, candidates: pd.DataFrame, budgets: Mapping[str, float], *, value="value",
                 min_fraction=1.0, max_fraction=1.0, group_caps=(), locked_in=(), locked_out=(),
                 extra_constraints=(), concave_terms=(), time_limit_s=10.0, mip_rel_gap=1e-6,
                 tighten_concave=True, presolve=True, award_step=None):
        self._read_inputs(candidates, budgets, value, min_fraction, max_fraction, time_limit_s, mip_rel_gap,
                          presolve)
        n = self.n

        self._read_locks(locked_in, locked_out)

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

        self._extra_variables(candidates, extra_constraints, concave_terms, tighten_concave)
        nz, nu = self.nz, self.nu
        # Share caps compare a group with the total allocation of a resource. Writing the total
        # once as an auxiliary variable T_r keeps each cap row sparse (group members + T_r)
        # instead of dense over all candidates; HiGHS solves the sparse form faster.
        share_res = []
        for cap in group_caps:
            if cap.kind == "share" and cap.resource not in share_res:
                share_res.append(cap.resource)
        self.total_var = {r: n + nz + nu + j for j, r in enumerate(share_res)}
        # Award steps: every candidate's total award (all resources together) a whole number of
        # steps, sum_k req_ik x_i = step n_i with n_i an integer variable, after T. (Per resource
        # it would tie x to multiples of 1/gcd of the requests in steps: 5 % for 48 and 10.)
        self.award_step = None if award_step is None else float(award_step)
        if self.award_step is not None and not (np.isfinite(self.award_step) and self.award_step > 0):
            raise ValueError(f"award_step must be a positive number, got {award_step!r}")
        # one integer per candidate: its total award (all resources) a whole number of steps
        self.step_cells = (np.flatnonzero(self.req.sum(axis=1) > 0) if self.award_step is not None
                           else np.zeros(0, dtype=np.int64))
        self.step_start = n + nz + nu + len(share_res)
        nv = self.nv = self.step_start + len(self.step_cells)

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

        self._cap_rows(candidates, group_caps, row, add_name)

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
        # --- award steps: sum_k req_ik x_i - step n_i = 0
        for j, i in enumerate(self.step_cells):
            coef = np.zeros(n)
            coef[i] = self.req[i].sum()
            row(coef, 0.0, 0.0, f"award step {self.ids[i]}", "award_step",
                [(self.step_start + j, -float(self.award_step or 0.0))])
        # --- cuts on the concave terms (tighten_concave), see _concave_cuts
        if tighten_concave:
            for name, coef, seg in _concave_cuts(self):
                row(-coef, -np.inf, 0.0, name, "concave_cut", [(jj, 1.0) for jj in seg])

        self.A = sparse.vstack(rows, format="csr") if rows else sparse.csr_matrix((0, nv))
        self.row_lo = np.asarray(self.row_lo, float)
        self.row_hi = np.asarray(self.row_hi, float)

        self._objective_and_bounds()

    def _read_inputs(self, candidates, budgets, value, min_fraction, max_fraction, time_limit_s, mip_rel_gap,
                     presolve):
        """The candidates, budgets, values and fraction bounds, checked."""
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
        self.n = len(candidates)
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

    def _read_locks(self, locked_in, locked_out):
        """The must-fund and must-not-fund candidates, checked, and the floors they impose."""
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
                + [Message("constraint_must_not_fund", {"id": i}) for i in both],
                Message("infeasible_locked_both", {"ids": ", ".join(map(str, both))}))
        self.pos_in = self.ids.get_indexer(self.locked_in)
        self.pos_out = self.ids.get_indexer(self.locked_out)
        # Floor of a locked-in candidate.
        self.floor = np.maximum(self.lo, LOCK_FLOOR)
        # Coverage divides by the floor; a zero floor would give huge coefficients, so
        # candidates with min_fraction 0 cover their group once their fractions in it sum to
        # COVERAGE_FLOOR.
        self.cover_div = np.maximum(self.lo, COVERAGE_FLOOR)

    def _extra_variables(self, candidates, extra_constraints, concave_terms, tighten_concave):
        """The coverage groups (one binary each) and the concave terms' segments (one variable each)."""
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

    def _cap_rows(self, candidates, group_caps, row, add_name):
        """One row per group cap (``row`` and ``add_name`` as in :meth:`__init__`)."""
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

    def _objective_and_bounds(self):
        """The objective (``milp`` minimises) and the variables' bounds and integrality, before and
        after the locks."""
        n, nz, nv = self.n, self.nz, self.nv
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
        if len(self.step_cells):
            i = self.step_cells
            steps = slice(self.step_start, nv)
            ub[steps] = np.floor(self.req[i].sum(axis=1) * self.hi[i] / self.award_step + 1e-9)
            integ[steps] = 1
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
