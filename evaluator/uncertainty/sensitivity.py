"""One-at-a-time sensitivities: tornado and spider.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator import cashflow, finance
from evaluator.evaluate import discount_rates, evaluate
from models.application import Application
from models.scenario import Scenario


# ----------------------------------------------------------------------------------------------
# one-at-a-time sensitivities
# ----------------------------------------------------------------------------------------------
def _select(apps, ids):
    apps = tuple(apps)
    if ids is None:
        return apps
    by_id = {a.id: a for a in apps}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise KeyError(f"unknown application ids: {unknown}")
    return tuple(by_id[i] for i in ids)


def _point(apps, scenario, ref, inputs, **build_kwargs):
    """NPV and min DSCR with evaluate's rules for a (possibly modified) inputs / scenario."""
    cf = cashflow.build(inputs, first_year=scenario.first_year, **build_kwargs)
    m = evaluate(apps, scenario, ref, cashflows=cf).metrics
    return m["npv_usd_m"].to_numpy(float), m["min_dscr"].to_numpy(float)


#: Where the tornado's low and high settings are kept, with the source of each range.
SENSITIVITY_RANGES_FILE = Path(__file__).resolve().parents[1] / "data" / "sensitivity_ranges.csv"


@functools.cache
def tornado_ranges(path: str | Path = SENSITIVITY_RANGES_FILE) -> pd.DataFrame:
    """The tornado's inputs, in order: ``kind``, ``low``, ``high``, the settings' labels and the
    source of each range (``sensitivity_ranges.csv``; several are labelled assumptions)."""
    df = pd.read_csv(path, dtype={"low": str, "high": str}).set_index("input")
    known = {"price_case", "byproduct_price_case", "capex_multiplier", "opex_multiplier", "recovery_multiplier",
             "delay_years", "discount_rate_shift", "fx_multiplier", "loan_rate_shift"}
    bad = sorted(set(df["kind"]) - known)
    if bad:
        raise ValueError(f"{Path(path).name}: unknown kind(s) {bad}")
    return df


#: Tornado settings: input -> (low label, high label), from :func:`tornado_ranges`.
TORNADO_INPUTS = {k: (r.low_setting, r.high_setting) for k, r in tornado_ranges().iterrows()}


def _variant(kind: str, value: str, apps, scenario, ref, base_in):
    """(scenario, inputs, build keyword arguments) of one input at one setting."""
    n = base_in.n
    if kind in ("price_case", "byproduct_price_case"):
        case_in = cashflow.resolve_inputs(apps, scenario.replace(price_case=value), ref)
        field = "price_usd_per_t" if kind == "price_case" else "byproduct_coef_usd_per_t_ore"
        return scenario, dataclasses.replace(base_in, **{field: getattr(case_in, field)}), {}
    v = float(value)
    if kind in ("capex_multiplier", "opex_multiplier", "recovery_multiplier"):
        return scenario, base_in, {kind: np.full(n, v)}
    if kind == "delay_years":
        return scenario, base_in, ({"delay_years": np.full(n, int(v))} if v else {})
    if kind == "discount_rate_shift":
        return scenario.replace(discount_rate=max(0.0, scenario.discount_rate + v)), base_in, {}
    if kind == "fx_multiplier":
        return scenario.replace(fx_krw_per_usd=scenario.fx_krw_per_usd * v), base_in, {}
    # the loan rate floats on the 3-year KTB: a shift of the rate is a shift of the KTB (the nominal
    # rate kept at or above zero)
    return scenario.replace(ktb_3y_rate=max(-scenario.policy_loan_spread, scenario.ktb_3y_rate + v)), base_in, {}


def tornado(apps: Sequence[Application], scenario: Scenario, ref, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One-at-a-time NPV (and minimum DSCR) with each input at its low and high setting.

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``input``, ``low_setting``, ``high_setting``, ``low_npv_usd_m`` (NPV
        with the input at its *low setting*, which need not be the lower NPV: low capex gives a
        higher NPV), ``high_npv_usd_m``, ``base_npv_usd_m``, ``swing`` (= |high - low| [USD m]),
        ``low_min_dscr``, ``high_min_dscr``, ``base_min_dscr``; rows of a project sorted by
        swing, largest first. Settings: :func:`tornado_ranges`. FX and the loan rate do not
        enter the unlevered USD cash flow: their NPV swing is 0, they move the DSCR only.
    """
    apps = _select(apps, ids)
    if not apps:
        return pd.DataFrame(columns=["id", "input", "low_setting", "high_setting", "low_npv_usd_m",
                                     "high_npv_usd_m", "base_npv_usd_m", "swing", "low_min_dscr",
                                     "high_min_dscr", "base_min_dscr"])
    base_in = cashflow.resolve_inputs(apps, scenario, ref)
    base_npv, base_dscr = _point(apps, scenario, ref, base_in)
    frames = []
    for name, r in tornado_ranges().iterrows():
        lo_npv, lo_d = _point_at(apps, ref, _variant(r.kind, r.low, apps, scenario, ref, base_in))
        hi_npv, hi_d = _point_at(apps, ref, _variant(r.kind, r.high, apps, scenario, ref, base_in))
        frames.append(pd.DataFrame({
            "id": base_in.ids, "input": name, "low_setting": r.low_setting, "high_setting": r.high_setting,
            "low_npv_usd_m": lo_npv, "high_npv_usd_m": hi_npv, "base_npv_usd_m": base_npv,
            "swing": np.abs(hi_npv - lo_npv),
            "low_min_dscr": lo_d, "high_min_dscr": hi_d, "base_min_dscr": base_dscr,
        }))
    out = pd.concat(frames, ignore_index=True)
    order = {i: k for k, i in enumerate(base_in.ids)}
    out["_o"] = out["id"].map(order)
    return out.sort_values(["_o", "swing"], ascending=[True, False], kind="stable").drop(columns="_o").reset_index(drop=True)


def _point_at(apps, ref, variant):
    sc, inputs, kw = variant
    return _point(apps, sc, ref, inputs, **kw)


SPIDER_INPUTS = ("price", "initial capex", "opex", "recovery", "discount rate")


def spider(apps: Sequence[Application], scenario: Scenario, ref, ids: Sequence[str] | None = None,
           multipliers=(0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)) -> pd.DataFrame:
    """NPV with one input scaled by each multiplier, the others at base (spider chart data).

    Inputs: all prices (primary and by-products), initial capex, opex, recovery (capped at
    100 % by the model) and the discount rate (rate x multiplier).

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``input``, ``multiplier``, ``npv_usd_m``.
    """
    apps = _select(apps, ids)
    inp = cashflow.resolve_inputs(apps, scenario, ref)
    n = inp.n
    rate, _ = discount_rates(apps, scenario, ref)
    frames = []
    base_fcf = cashflow.build(inp, first_year=scenario.first_year).fcf_usd_m
    for k in multipliers:
        k = float(k)
        kw = {"price": {"price_multiplier": np.full(n, k)}, "initial capex": {"capex_multiplier": np.full(n, k)},
              "opex": {"opex_multiplier": np.full(n, k)}, "recovery": {"recovery_multiplier": np.full(n, k)}}
        for name in SPIDER_INPUTS:
            if name == "discount rate":
                v = finance.npv(rate * k, base_fcf, **scenario.discounting)
            else:
                fcf = cashflow.build(inp, first_year=scenario.first_year, **kw[name]).fcf_usd_m
                v = finance.npv(rate, fcf, **scenario.discounting)
            frames.append(pd.DataFrame({"id": inp.ids, "input": name, "multiplier": k,
                                        "npv_usd_m": np.atleast_1d(v)}))
    if not frames:
        return pd.DataFrame(columns=["id", "input", "multiplier", "npv_usd_m"])
    return pd.concat(frames, ignore_index=True)

