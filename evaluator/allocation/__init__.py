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

from evaluator.allocation.check import _recheck as _recheck
from evaluator.allocation.check import _snap as _snap
from evaluator.allocation.efficient_frontier import _solve_point as _solve_point
from evaluator.allocation.efficient_frontier import frontier
from evaluator.allocation.entry import _entry_start as _entry_start
from evaluator.allocation.entry import entry_thresholds, entry_values
from evaluator.allocation.errors import AllocationError, AllocationInfeasible, AllocationTimeout
from evaluator.allocation.errors import EntryValuesStopped as EntryValuesStopped
from evaluator.allocation.highs import RESOLVE_HIGHS_OPTIONS as RESOLVE_HIGHS_OPTIONS
from evaluator.allocation.highs import _entry_milp as _entry_milp
from evaluator.allocation.highs import _HighsModel as _HighsModel
from evaluator.allocation.highs import _Relaxation as _Relaxation
from evaluator.allocation.lp import _lp as _lp
from evaluator.allocation.lp import _marginals as _marginals
from evaluator.allocation.model import _concave_cuts as _concave_cuts
from evaluator.allocation.model import _Model as _Model
from evaluator.allocation.model import _tightened_weights as _tightened_weights
from evaluator.allocation.presolve import FIXING_CORE as FIXING_CORE
from evaluator.allocation.presolve import FIXING_CORE_PER_USED as FIXING_CORE_PER_USED
from evaluator.allocation.presolve import FIXING_HIGHS_OPTIONS as FIXING_HIGHS_OPTIONS
from evaluator.allocation.presolve import FIXING_MIN_CANDIDATES as FIXING_MIN_CANDIDATES
from evaluator.allocation.presolve import _dominated as _dominated
from evaluator.allocation.presolve import _implied_share_rows as _implied_share_rows
from evaluator.allocation.presolve import _solve_with_fixing as _solve_with_fixing
from evaluator.allocation.solve import _package as _package
from evaluator.allocation.solve import allocate
from evaluator.allocation.spec import COVERAGE_FLOOR as COVERAGE_FLOOR
from evaluator.allocation.spec import LOCK_FLOOR as LOCK_FLOOR
from evaluator.allocation.spec import RECHECK_TOL as RECHECK_TOL
from evaluator.allocation.spec import SELECTED_TOL as SELECTED_TOL
from evaluator.allocation.spec import SNAP_TOL as SNAP_TOL
from evaluator.allocation.spec import AllocationResult, ConcaveTerm, GroupCap, LinearConstraintSpec, MinGroupsCovered

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
