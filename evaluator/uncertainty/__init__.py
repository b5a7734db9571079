"""Uncertainty: Monte Carlo of prices and project risks, tornado and spider sensitivities.

A point NPV at one price deck is not a decision. :func:`simulate` draws correlated commodity
price paths (and KRW/USD) together with per-project capex overruns, construction delays and
opex / recovery multipliers, runs the deterministic cash-flow model
(:func:`evaluator.cashflow.build`) on every (project, path) pair, and reports per project the
NPV distribution, the probability of a negative NPV, of a minimum DSCR below 1.0 and below the lenders' comfort level (scenario), the
loan's probability of default (:mod:`evaluator.credit`) and its simulated expected loss, and IRR percentiles. :func:`tornado` and
:func:`spider` move one input at a time with the others at base.

Price process
-------------
Each commodity's log price ``x = ln P`` follows the one-factor mean-reverting (Ornstein-Uhlenbeck)
model of Schwartz (1997) [1]_::

    dx = kappa (mu - x) dt + sigma dW,     mu = ln(price deck),  x_0 = mu

discretised exactly on the model's yearly grid (the OU transition density [2]_)::

    x_{t+1} = mu + (x_t - mu) e^{-kappa} + sigma sqrt((1 - e^{-2 kappa}) / (2 kappa)) eps_{t+1}

so ``E[x_t] = mu + (x_0 - mu) e^{-kappa t}`` and
``Var[x_t] = sigma^2 (1 - e^{-2 kappa t}) / (2 kappa)``. The shocks ``eps`` of the commodities
and of KRW/USD are standard normal with the correlation matrix of ``price_processes.csv``.
The price multiplier applied to the deck in model year ``t`` is
``exp(x_t - mu - Var[x_t] / 2)`` (``deck="mean"``, default: the deck is the *expected* price in
every year, so the mean NPV is not inflated by the lognormal convexity) or ``exp(x_t - mu)``
(``deck="median"``). Column 0 (valuation date) has multiplier 1. Kappa comes from the half-life
in the data: ``kappa = ln 2 / half_life_years``.

A project's by-products follow their own commodity's path: the model receives one effective
multiplier per (project, path, year), the revenue-weighted mean of the primary and by-product
multipliers, which gives exactly ``sum_i revenue_i x multiplier_i`` because every product's
revenue is proportional to the same ore tonnage.

KRW/USD (``fx_krw_per_usd``) follows the same kind of process around the scenario's rate. It
touches the KRW figures only: the policy loan is in KRW, so its debt service in USD is the
scheduled USD service x ``fx_0 / fx_t`` (a stronger won raises the USD cost of the loan). USD
NPVs do not depend on it.

Project risks (per project and path, independent of prices and of other projects)
------------------------------------------------------------------------------------
See :data:`PROJECT_RISKS` (parameters by stage, with their sources): capex overrun multiplier
(lognormal with the stage's mean and standard deviation, on the initial capex only), extra
construction years (discrete), opex and recovery multipliers (lognormal, mean 1; the model caps
recovery at 100 %).

``vol_scale`` scales every source of uncertainty: price and FX volatilities, the log-dispersion
*and* the log-mean of the project multipliers, and the delay probabilities (``min(1, v P)``).
``vol_scale = 0`` is the deterministic model exactly; 2 is a stress case.

Expected loss (simulated)
-------------------------
Later stages: ``loan x P(default) x LGD`` (scenario ``lgd``), with the default of the one credit
model (:mod:`evaluator.credit`): a shortfall of the path's cash flow available for debt service
against the loan's scheduled debt service, after the debt-service reserve (scenario
``dsra_months``) and the cash the project kept, that the loan's remaining cash flow cannot repay
(LLCR below 1); or a default of the baseline hazard, drawn from its own stream at the static
model's annual PD of a well-covered loan (:func:`evaluator.credit.baseline_annual_hazard`,
scaled by ``vol_scale`` like the other project risks). ``prob_default`` is its probability over
the loan's life; ``prob_min_dscr_below_1`` stays as a measure of cover, no longer the default.
Exploration stage (DESIGN.md): ``loan x (1 - success_probability) x write_off_share`` (the
success-contingent write-off, not simulated). No loan: 0.

Reproducibility
---------------
Paths are drawn in blocks of ``chunk_paths`` (default 1,000) paths, each from its own PCG64
stream spawned from ``numpy.random.SeedSequence(seed)``; for a given set of applications the
results depend on ``seed``, ``n_paths``, ``chunk_paths`` and ``antithetic`` only (not on the
memory budget, which splits the work, nor on the number of cores). Only the price processes of
the applications' products and KRW/USD are drawn (with the Cholesky factor of their own
correlation block, the exact marginal of the joint law), so adding an application can change
every path's draws, not their distribution. Every project sees the same price draws on the
same path, so a portfolio's paths are correlated.

Antithetic pairs
----------------
By default (``antithetic=True``) the second half of each block mirrors the first: path
``h + j`` takes the negated normal shocks of path ``j`` (prices, capex, opex, recovery) and
``1 - u`` for the delay draw (antithetic variates, Glasserman 2003, sec. 4.2 [6]_). Each path keeps the exact
marginal law; means are unbiased with a smaller variance for the monotone responses here (NPV
rises with prices and falls with costs), and half the normal variates are drawn.
``simulate_log_prices`` returns independent paths.

Fast evaluation
---------------
``method="fast"`` (default) does not call the cash-flow model per path. Every pre-tax line of
:func:`evaluator.cashflow.build` is linear in the price, opex, capex and recovery multipliers,
so the model is run a few times per possible delay to read off, per project, each product's
revenue ``R_t`` at multiplier 1 and the opex, capex, depreciation, sustaining and closure lines;
royalty and working capital are fixed shares of revenue (checked against the model's output,
an ``AssertionError`` if a model change breaks it). Per path, revenue is
``sum_products R_t x price multiplier_t x recovery multiplier`` and the only nonlinear step,
the income tax with unlimited loss carry-forward (``max(0, running max of cumulative taxable
income)``), is evaluated exactly, vectorised over (project, path) columns with a loop over the
years. The linear lines of a group of paths (cumulative taxable income, the NPV of revenue, the
pre-tax CFADS of the loan years) come out of one matrix product per group (BLAS; the cumulative
sums are a lower-triangular matrix, applied in blocks). The NPV, the minimum DSCR and the IRR
rows follow from the same pieces. On a machine with a second core, a second thread builds the
per-project coefficients while the paths are drawn, then both threads take batches of projects
from a shared queue (numpy and BLAS release the interpreter lock in their loops); the IRR rows
are solved in fixed runs of consecutive batches, so what is computed, and every result to the
bit, does not depend on which thread does it.
``method="reference"`` tiles the inputs and runs :func:`cashflow.build` on every (project,
path) row with the same draws; the tests hold the two equal to 1e-9 on every sample project,
and ``vol_scale = 0`` equal to :func:`evaluator.evaluate.evaluate`.

References
----------
.. [1] Schwartz, E. S. (1997). "The stochastic behavior of commodity prices: implications for
   valuation and hedging." *Journal of Finance* 52(3): 923-973 (model 1, one factor).
.. [2] Uhlenbeck, G. E., Ornstein, L. S. (1930). "On the theory of the Brownian motion."
   *Physical Review* 36: 823-841; the Gaussian transition density used for the exact step,
   e.g. Glasserman, P. (2003). *Monte Carlo Methods in Financial Engineering*, Springer, sec. 3.3.
.. [3] Bertisen, J., Davis, G. A. (2008). "Bias and error in mine project capital cost
   estimation." *The Engineering Economist* 53(2): 118-139 (mean overrun about 14-25 %, wide
   dispersion).
.. [4] EY (2015). *Opportunities to enhance capital productivity* (mining & metals megaprojects:
   about 62 % over budget, many late).
.. [5] Merrow, E. W. (2011). *Industrial Megaprojects*, Wiley (schedule slips of early-stage
   estimates).
.. [6] Glasserman, P. (2003). *Monte Carlo Methods in Financial Engineering*, Springer,
   sec. 4.2 (antithetic variates).

Package layout
--------------
One concept per module: :mod:`.processes` (price, FX and project-risk processes),
:mod:`.context` (what a run carries; the policy-loan rules it applies), :mod:`.kernel` (the fast
evaluation), :mod:`.reference_path` (the simple tiled path, tested equal to the kernel),
:mod:`.statistics` (summary statistics and the result), :mod:`.simulation` (the public entry),
:mod:`.sensitivity` (tornado and spider), and for a funded portfolio: :mod:`.portfolio_paths`
(the joint simulation: loan losses, exploration outcomes, the fund's NPV), :mod:`.supply_paths`
(China's share per path and year), :mod:`.portfolio_risk` (loan book, fund and target
statistics, :func:`portfolio_risk`) and :mod:`.portfolio_saa` (the allocation under a cap on
the book's 95th-percentile loss, by sample-average approximation).
"""

from evaluator.uncertainty.portfolio_paths import (  # noqa: F401
    PortfolioInputError,
    PortfolioPaths,
    simulate_portfolio_paths,
)
from evaluator.uncertainty.portfolio_risk import (  # noqa: F401
    DEFAULT_LOSS_THRESHOLD_SHARE,
    PortfolioRisk,
    portfolio_risk,
    portfolio_risk_of_result,
)
from evaluator.uncertainty.portfolio_saa import (  # noqa: F401
    DEFAULT_SAA_SCENARIOS,
    SaaAllocation,
    SaaError,
    allocate_with_loss_cap,
)
from evaluator.uncertainty.processes import (  # noqa: F401
    FX_PROCESS,
    PRICE_PROCESSES_FILE,
    PROJECT_RISKS,
    PriceProcesses,
    StageRisk,
    load_price_processes,
    load_project_risks,
    ou_moments,
    ou_step,
    simulate_log_prices,
)
from evaluator.uncertainty.reference_path import tile_inputs  # noqa: F401
from evaluator.uncertainty.sensitivity import SPIDER_INPUTS, TORNADO_INPUTS, spider, tornado  # noqa: F401
from evaluator.uncertainty.simulation import (  # noqa: F401
    DEFAULT_CHUNK_PATHS,
    DEFAULT_IRR_PATHS,
    DEFAULT_MEMORY_BUDGET_BYTES,
    PathResults,
    simulate,
    simulate_paths,
)
from evaluator.uncertainty.statistics import SimulationResult, portfolio_npv, risk_metrics  # noqa: F401
from evaluator.uncertainty.supply_paths import SupplySharePaths, supply_share_paths  # noqa: F401
