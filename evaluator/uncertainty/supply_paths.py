"""China's share of Korea's imports per mineral, year and simulated path, as the funded projects
start late or fail.

The arithmetic of :func:`evaluator.supply.projection_by_year` (baseline partner volumes of
:func:`evaluator.supply.baseline`, the projects' added volumes in import units of
:func:`evaluator.supply.import_units`, displaced by the scenario's ``displacement_rule`` through
:func:`evaluator.supply.volumes_after_many`, the same law as :func:`evaluator.supply.apply_additions`,
against each year's counterfactual mix of the demand path, then shares), vectorised over paths instead of called
once per path: on path ``p`` project ``j`` delivers its funded offtake of calendar year
``y - d_jp`` in year ``y`` (``d_jp`` the drawn extra construction years: every production
column of :func:`evaluator.cashflow.build` moves by the delay) and nothing when its exploration
failed. The tests hold each path's shares equal to :func:`projection_by_year` on that path's
realised offtake table.

Recovery draws are not carried into the volumes (assumption: the target question is about
timing and failure; a recovery shortfall changes the offtake by a few per cent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator import supply

#: Tolerance of the share comparisons (as :func:`evaluator.supply.projection_by_year`).
SHARE_EPS = 1e-12


@dataclass(frozen=True)
class SupplySharePaths:
    """Shares per mineral, path and year.

    Attributes
    ----------
    years : numpy.ndarray
        Calendar years ``first_year - 1 .. horizon_year``.
    china_share, top_share : dict of str to numpy.ndarray
        Mineral -> ``(n_paths, n_years)`` [fraction].
    target_share : float
        ``scenario.target_single_supplier_share`` [fraction].
    """

    years: np.ndarray = field(repr=False)
    china_share: dict = field(repr=False)
    top_share: dict = field(repr=False)
    target_share: float = 0.5


def _units_by_year(supply_ref, scenario, offtake_by_year: pd.DataFrame, ids: Sequence[str], years: np.ndarray):
    """``(n, len(years) + pad)`` added import units per project and calendar year, and the
    first calendar year of the array (``years[0] - pad``: a delay reaches back ``pad`` years)."""
    df = offtake_by_year[offtake_by_year["id"].astype(str).isin(ids)].copy()
    df["korea_offtake_t"] = pd.to_numeric(df["korea_offtake_t"], errors="coerce").fillna(0.0).clip(lower=0.0)
    df["units"] = supply.import_units(supply_ref, df, scenario.import_basis, "korea_offtake_t")
    pos = {str(i): k for k, i in enumerate(ids)}
    y0 = int(min(df["year"].astype(int).to_numpy().min(initial=years[0]), years[0]))
    out = np.zeros((len(ids), int(years[-1]) - y0 + 1))
    keep = df["year"].astype(int) <= years[-1]
    d = df[keep]
    np.add.at(out, (d["id"].astype(str).map(pos).to_numpy(int), d["year"].astype(int).to_numpy() - y0),
              d["units"].to_numpy(float))
    return out, y0


def _suppliers(offtake_by_year: pd.DataFrame, ids: Sequence[str], countries) -> list[str]:
    """Where each project's product is bought from: its processing country when the offtake table
    names one (output refined in the incumbent does not displace it), else the host country."""
    host = {str(i): str(c).upper() for i, c in zip(ids, countries)}
    if "processing_country_iso3" in offtake_by_year.columns:
        proc = offtake_by_year.groupby(offtake_by_year["id"].astype(str))["processing_country_iso3"].first()
        for i, c in proc.items():
            if isinstance(c, str) and c.strip():
                host[i] = c.strip().upper()
    return [host[str(i)] for i in ids]


def supply_share_paths(supply_ref, scenario, offtake_by_year: pd.DataFrame, ids: Sequence[str], minerals,
                       countries, delay_years: np.ndarray, failed: np.ndarray,
                       also_minerals: Sequence[str] = ()) -> SupplySharePaths:
    """China's and the top supplier's share per mineral, path and year (module notes).

    Parameters
    ----------
    supply_ref : evaluator.reference.ReferenceData
        With Korea's imports (a customs extract may have replaced them).
    scenario : Scenario
        ``first_year``, ``horizon_year``, ``import_basis``, ``displacement_rule``,
        ``target_single_supplier_share``.
    offtake_by_year : pandas.DataFrame
        The funded offtake per project and calendar year (``id``, ``mineral``, ``country_iso3``,
        ``year``, ``korea_offtake_t`` [t], optional ``price_usd_per_t``), as the pipeline's
        :func:`evaluator.supply.funded_offtake` gives it.
    ids, minerals, countries : sequence of str
        The projects, in the rows of ``delay_years`` and ``failed``; ``countries`` are the hosts,
        replaced by the processing country where ``offtake_by_year`` names one.
    delay_years : numpy.ndarray
        ``(n, n_paths)`` int extra construction years.
    failed : numpy.ndarray
        ``(n, n_paths)`` bool.
    also_minerals : sequence of str
        Minerals to report even without a project here (their baseline on every path), e.g. to
        compare two allocations mineral by mineral.

    Returns
    -------
    SupplySharePaths
        Minerals whose shares are assumed (no volumes) are left out, as in
        :func:`evaluator.supply.projection_by_year`.
    """
    ids = [str(i) for i in ids]
    years = np.arange(scenario.first_year - 1, scenario.horizon_year + 1)
    units, y0 = _units_by_year(supply_ref, scenario, offtake_by_year, ids, years)
    n, P = delay_years.shape
    dmax = int(delay_years.max(initial=0))
    # shifted[d, j, k]: project j's units in years[k] when it is d years late
    pad = np.concatenate([np.zeros((n, dmax)), units], axis=1)
    first = years[0] - y0 + dmax
    shifted = np.stack([pad[:, first - d:first - d + len(years)] for d in range(dmax + 1)])
    suppliers = _suppliers(offtake_by_year, ids, countries)
    china, top = {}, {}
    opt = supply.scenario_options(scenario)
    for m in sorted(set(minerals) | set(also_minerals)):
        base = supply.baseline(supply_ref, m, **opt)
        if base.assumed:
            continue
        rows = [j for j in range(n) if minerals[j] == m]
        hosts = sorted({str(suppliers[j]).upper() for j in rows})
        # realised units per supplier, path and year: (H, P, Y)
        per_host = np.zeros((len(hosts), P, len(years)))
        for j in rows:
            realised = shifted[delay_years[j].astype(np.intp), j]            # (P, Y)
            realised[failed[j]] = 0.0
            per_host[hosts.index(str(suppliers[j]).upper())] += realised
        c_share = np.empty((P, len(years)))
        t_share = np.empty((P, len(years)))
        by_year = supply.counterfactual_volumes_by_year(supply_ref, m, years, base.window_volumes, opt["case"])
        for k, volumes in enumerate(by_year):
            # the year's counterfactual partner mix (demand path), then the projects' volumes: the
            # arithmetic of supply.projection_by_year, one column of paths at a time
            names, out = supply.volumes_after_many(volumes, {h: per_host[i, :, k] for i, h in enumerate(hosts)},
                                                   scenario.displacement_rule)
            tot = out.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                sh = out / tot[:, None]
            ci = names.index(supply.CHINA) if supply.CHINA in names else None
            c_share[:, k] = sh[:, ci] if ci is not None else np.where(tot > 0, 0.0, np.nan)
            t_share[:, k] = np.where(tot > 0, sh.max(axis=1, initial=0.0), np.nan)
        china[m], top[m] = c_share, t_share
    return SupplySharePaths(years, china, top, float(scenario.target_single_supplier_share))


def realised_offtake(offtake_by_year: pd.DataFrame, delay_by_id, failed_by_id) -> pd.DataFrame:
    """One path's realised offtake table (for checks against :func:`supply.projection_by_year`):
    each project's rows moved ``delay`` years later, zero when it failed."""
    df = offtake_by_year.copy()
    ids = df["id"].astype(str)
    df["year"] = df["year"].astype(int) + ids.map(lambda i: int(delay_by_id.get(i, 0))).to_numpy()
    df.loc[ids.map(lambda i: bool(failed_by_id.get(i, False))).to_numpy(), "korea_offtake_t"] = 0.0
    return df
