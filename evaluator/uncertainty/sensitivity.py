"""One-at-a-time sensitivities: tornado and spider.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd
from models.application import Application
from models.scenario import Scenario

from evaluator import cashflow, finance
from evaluator.evaluate import discount_rates, evaluate


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


#: Tornado settings: input -> (low label, high label).
TORNADO_INPUTS = {
    "price (primary)": ("deck low case", "deck high case"),
    "price (by-products)": ("deck low case", "deck high case"),
    "initial capex": ("-25%", "+25%"),
    "opex": ("-15%", "+15%"),
    "recovery": ("-5%", "+3%"),
    "construction delay": ("none", "+1 year"),
    "discount rate": ("-2 pp", "+2 pp"),
    "fx (KRW/USD)": ("-10%", "+10%"),
    "policy loan rate": ("-1 pp", "+1 pp"),
}


def tornado(apps: Sequence[Application], scenario: Scenario, ref, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One-at-a-time NPV (and minimum DSCR) with each input at its low and high setting.

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``input``, ``low_setting``, ``high_setting``, ``low_npv_usd_m`` (NPV
        with the input at its *low setting*, which need not be the lower NPV: low capex gives a
        higher NPV), ``high_npv_usd_m``, ``base_npv_usd_m``, ``swing`` (= |high - low| [USD m]),
        ``low_min_dscr``, ``high_min_dscr``, ``base_min_dscr``; rows of a project sorted by
        swing, largest first. Settings: :data:`TORNADO_INPUTS`. FX and the loan rate do not
        enter the unlevered USD cash flow: their NPV swing is 0, they move the DSCR only.
    """
    apps = _select(apps, ids)
    if not apps:
        return pd.DataFrame(columns=["id", "input", "low_setting", "high_setting", "low_npv_usd_m",
                                     "high_npv_usd_m", "base_npv_usd_m", "swing", "low_min_dscr",
                                     "high_min_dscr", "base_min_dscr"])
    base_in = cashflow.resolve_inputs(apps, scenario, ref)
    n = base_in.n
    one = np.ones(n)
    base_npv, base_dscr = _point(apps, scenario, ref, base_in)

    def case_inputs(case):
        sc = scenario.replace(price_case=case)
        return cashflow.resolve_inputs(apps, sc, ref)

    lo_in, hi_in = case_inputs("low"), case_inputs("high")
    prim = {c: dataclasses.replace(base_in, price_usd_per_t=x.price_usd_per_t) for c, x in (("low", lo_in), ("high", hi_in))}
    byp = {c: dataclasses.replace(base_in, byproduct_coef_usd_per_t_ore=x.byproduct_coef_usd_per_t_ore)
           for c, x in (("low", lo_in), ("high", hi_in))}
    fx = scenario.fx_krw_per_usd
    variants = {
        "price (primary)": [(scenario, prim[c], {}) for c in ("low", "high")],
        "price (by-products)": [(scenario, byp[c], {}) for c in ("low", "high")],
        "initial capex": [(scenario, base_in, {"capex_multiplier": one * k}) for k in (0.75, 1.25)],
        "opex": [(scenario, base_in, {"opex_multiplier": one * k}) for k in (0.85, 1.15)],
        "recovery": [(scenario, base_in, {"recovery_multiplier": one * k}) for k in (0.95, 1.03)],
        "construction delay": [(scenario, base_in, {}), (scenario, base_in, {"delay_years": np.ones(n, int)})],
        "discount rate": [(scenario.replace(discount_rate=max(0.0, scenario.discount_rate + d)), base_in, {})
                          for d in (-0.02, 0.02)],
        "fx (KRW/USD)": [(scenario.replace(fx_krw_per_usd=fx * k), base_in, {}) for k in (0.9, 1.1)],
        "policy loan rate": [(scenario.replace(policy_loan_rate=max(0.0, scenario.policy_loan_rate + d)), base_in, {})
                             for d in (-0.01, 0.01)],
    }
    frames = []
    for name, ((sc_lo, in_lo, kw_lo), (sc_hi, in_hi, kw_hi)) in variants.items():
        lo_npv, lo_d = _point(apps, sc_lo, ref, in_lo, **kw_lo)
        hi_npv, hi_d = _point(apps, sc_hi, ref, in_hi, **kw_hi)
        frames.append(pd.DataFrame({
            "id": base_in.ids, "input": name,
            "low_setting": TORNADO_INPUTS[name][0], "high_setting": TORNADO_INPUTS[name][1],
            "low_npv_usd_m": lo_npv, "high_npv_usd_m": hi_npv, "base_npv_usd_m": base_npv,
            "swing": np.abs(hi_npv - lo_npv),
            "low_min_dscr": lo_d, "high_min_dscr": hi_d, "base_min_dscr": base_dscr,
        }))
    out = pd.concat(frames, ignore_index=True)
    order = {i: k for k, i in enumerate(base_in.ids)}
    out["_o"] = out["id"].map(order)
    return out.sort_values(["_o", "swing"], ascending=[True, False], kind="stable").drop(columns="_o").reset_index(drop=True)


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
                v = finance.npv(rate * k, base_fcf, mid_year=scenario.mid_year)
            else:
                fcf = cashflow.build(inp, first_year=scenario.first_year, **kw[name]).fcf_usd_m
                v = finance.npv(rate, fcf, mid_year=scenario.mid_year)
            frames.append(pd.DataFrame({"id": inp.ids, "input": name, "multiplier": k,
                                        "npv_usd_m": np.atleast_1d(v)}))
    if not frames:
        return pd.DataFrame(columns=["id", "input", "multiplier", "npv_usd_m"])
    return pd.concat(frames, ignore_index=True)

