"""Re-solves through HiGHS directly: the entry values' MILPs and the frontier's points."""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse
from scipy.optimize import OptimizeResult

from evaluator.allocation.model import _Model

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
