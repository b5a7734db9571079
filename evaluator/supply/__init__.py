"""Supply security across the value chain: Korea's import dependence per mineral and what projects change.

Basis (issue 15)
----------------
Per mineral, Korea's imports are counted across the value chain (ores and concentrates,
intermediates, refined chemicals and metals, and the first manufactured forms: NdFeB magnets for
rare earths, artificial graphite / anode material for graphite) in ONE contained-content unit
(``supply_chain_units.csv``: t REO, t LCE, t C, t Ni, t Co, t Mn, t Sb, t Cu, t WO3 ...). Each HS6
code has a content factor [t unit / t traded] with its source in ``hs_content.csv`` (a lower factor
for rows below a unit value where a code mixes forms: cobalt hydroxide traded as 8105 at
4.6-6.9 USD/kg). The rows are ``korea_imports_chain.csv``: CEPII BACI where it has the code, China's
mirror exports where it does not (magnets, artificial graphite), published Korean figures where
neither exists (labelled), or an uploaded customs extract that replaces them code by code
(:mod:`evaluator.customs`). Partner volumes are averaged over a window of trade years (default the
three latest, ``supply_score_scale.csv``); a code without data in the window uses its latest year
(labelled ``carried``).

Rare earths are matched element by element: the scored basis is the NdPr + Dy + Tb part of the
chain (``hs_content.magnet_share``: magnets 1, cerium compounds 0 ...), and a project counts only
the NdPr + Dy + Tb share of its basket. La and Ce cannot displace magnet demand.

Time path and counterfactual
----------------------------
Korea's demand follows ``supply_demand_paths.csv`` (low / base / high; IEA Global Critical
Minerals Outlook 2025 growth factors as a labelled global proxy) with the window average at index
1. Without the projects, China's share per year is ``supply_china_counterfactual.csv`` (blank = the
window's partner mix persists, labelled). The *reference* volumes used for scoring are the base-case
counterfactual averaged over the scoring years (``score_first_year`` .. ``score_last_year``,
2030-2035).

A project's contribution
------------------------
Payable Korean offtake (``payable_t x korea_offtake_share`` from the cash-flow table, so from
first production with its ramp-up), times the unit factor of the product, times the magnet-element
share for rare earths, optionally times the probability of reaching production at the project's
stage. It is bought from the country where the product is refined or separated
(``processing_country_iso3``, default the host): output toll-refined in China adds to China's
volume and brings no benefit against China.

How additions change imports (``scenario.displacement_rule``): see :func:`apply_additions`. All
projects of one mineral are applied jointly (added volumes summed per supplier), so two projects
never both claim the same reduction.

Measures (on partner shares ``s_c`` [fraction])
-----------------------------------------------
``china_share``, ``top_share`` / ``top_supplier``, ``hhi = sum s_c^2``, ``hhi_wgi = sum s_c^2 x
WGI_scaled_c`` (EU criticality method [1]_), ``geopolrisk`` (GeoPolRisk form [2]_ [3]_).
``WGI_scaled_c = (2.5 - mean6WGI_c) * 2`` clipped to [0, 10] (0 best); partners without WGI
figures take the median (:data:`WGI_FALLBACK_NOTE`).

Score (one function for ranking, allocation check, projection and explanation)
--------------------------------------------------------------------------------
``r`` = reduction of the incumbent (baseline top supplier)'s share on the reference volumes
[fraction]. ``value(r) = 100 x w_m x r / (r + r_half)`` with ``w_m`` the designation weight and
``r_half`` from ``supply_score_scale.csv`` (0.10, reasoning there): concave, strictly increasing,
below 100 for every finite project, no saturation at the 50 % target. A project's
``diversification_score`` is :func:`joint_benefit` of the project alone; a set's value is the sum
over minerals of ``value(r_m(set))`` with the set applied jointly. Because ``r`` is concave in the
added volume under each displacement rule and ``value`` is concave increasing with value(0) = 0,
the joint value is sub-additive (tested with hypothesis). A project whose scored offtake exceeds
``large_offtake_share`` (0.5) of Korea's reference chain demand is flagged, not capped.

References
----------
.. [1] European Commission (2017). Methodology for establishing the EU list of critical raw
   materials. Publications Office of the EU, doi:10.2873/769526.
.. [2] Gemechu, E. D., Helbig, C., Sonnemann, G., Thorenz, A. and Tuma, A. (2016). Import-based
   indicator for the geopolitical supply risk of raw materials in life cycle sustainability
   assessments. Journal of Industrial Ecology 20(1): 154-165. doi:10.1111/jiec.12279.
.. [3] Santillan-Saldivar, J. et al. (2021). An improved resource midpoint characterization method
   for supply risk of resources. Int. J. Life Cycle Assess. 27: 457-468.
.. [4] IEA (2025). Global Critical Minerals Outlook 2025. International Energy Agency, Paris.
"""

from __future__ import annotations

from evaluator.supply.basis import MineralSupply, baseline, compute_baseline
from evaluator.supply.basis import per_reference as per_reference
from evaluator.supply.chain import (
    chain_rows,
    chain_table,
    counterfactual_volumes,
    counterfactual_volumes_by_year,
    default_window,
    demand_index,
    has_chain,
    score_years,
    window_volumes,
)
from evaluator.supply.concentration import CHINA as CHINA
from evaluator.supply.concentration import MAGNET_OXIDES, WGI_COLUMNS, SupplyDataError, geopolrisk, hhi, hhi_wgi, measures, production_hhi, wgi_scaled
from evaluator.supply.concentration import WGI_FALLBACK_NOTE as WGI_FALLBACK_NOTE
from evaluator.supply.displacement import additions_by_mineral, apply_additions, diversifying_units, element_share, import_units
from evaluator.supply.displacement import measures_after as measures_after
from evaluator.supply.displacement import measures_after_each as measures_after_each
from evaluator.supply.displacement import scenario_options as scenario_options
from evaluator.supply.displacement import volumes_after_many as volumes_after_many
from evaluator.supply.effect import gap_volume, joint_benefit, portfolio_effect, project_benefits, score_value
from evaluator.supply.effect import incumbent_reduction as incumbent_reduction
from evaluator.supply.explanation import explain_portfolio, explain_project, explanation_text
from evaluator.supply.offtake import funded_offtake as funded_offtake
from evaluator.supply.offtake import offtake_by_year_from_evaluation, offtake_from_evaluation, production_probability
from evaluator.supply.projection import after_in_year, effect_in_year, partner_shares_in_year, projection_by_year, share_basis

__all__ = [
    "MineralSupply",
    "SupplyDataError",
    "WGI_COLUMNS",
    "MAGNET_OXIDES",
    "wgi_scaled",
    "hhi",
    "hhi_wgi",
    "geopolrisk",
    "production_hhi",
    "measures",
    "chain_rows",
    "window_volumes",
    "demand_index",
    "counterfactual_volumes",
    "counterfactual_volumes_by_year",
    "baseline",
    "compute_baseline",
    "apply_additions",
    "import_units",
    "diversifying_units",
    "additions_by_mineral",
    "score_value",
    "gap_volume",
    "portfolio_effect",
    "project_benefits",
    "joint_benefit",
    "projection_by_year",
    "after_in_year",
    "effect_in_year",
    "partner_shares_in_year",
    "share_basis",
    "offtake_from_evaluation",
    "offtake_by_year_from_evaluation",
    "explain_project",
    "explain_portfolio",
    "explanation_text",
    "chain_table",
    "default_window",
    "score_years",
    "has_chain",
    "element_share",
    "production_probability",
]
