"""Scenario comparison as a committee reads it: named rows, one column per scenario by its name,
amounts in the officer's unit, shares as percentages, codes in words, internals left out.

:meth:`evaluator.store.ScenarioStore.compare` returns the stored figures as they are (keys, fractions,
KRW bn); this module only words and rounds them for the Scenarios page.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from app_pages.fmt import country_name, fmt_money, fmt_pct, mineral_name
from app_pages.i18n import lang, t
from evaluator import xlsx_style as xs

#: Summary metrics a committee reads: key (before a ``.mineral`` suffix) -> (label key, kind). The
#: rest (solver internals, values in the objective's own units, codes of binding constraints) is left out.
SUMMARY_METRICS = {
    "fund_budget_krw_bn": ("cmp_fund_budget", "money"), "fund_allocated_krw_bn": ("cmp_fund_allocated", "money"),
    "loan_budget_krw_bn": ("cmp_loan_budget", "money"), "loan_allocated_krw_bn": ("cmp_loan_allocated", "money"),
    "n_selected": ("cmp_n_selected", "int"), "expected_loss_krw_bn": ("cmp_expected_loss", "money"),
    "loan_expected_net_cost_krw_bn": ("cmp_loan_net_cost", "money"),
    "china_share_before": ("cmp_china_share_before", "pct"), "china_share_after": ("cmp_china_share_after", "pct"),
    "top_share_after": ("cmp_top_share_after", "pct"), "top_supplier_after": ("cmp_top_supplier_after", "country"),
    "meets_target_after": ("cmp_meets_target_after", "bool"), "target_year": ("cmp_target_year", "text"),
}
TOTALS = {"fund_krw_bn": ("cmp_fund_allocated", "money"), "loan_krw_bn": ("cmp_loan_allocated", "money"),
          "selected_count": ("cmp_n_selected", "int")}
#: Assumption keys that are amounts [KRW bn] (shown in the officer's unit, its label's unit dropped).
_MONEY_KEYS = {"fund_krw_bn", "loan_krw_bn", "country_caps_krw_bn", "mineral_caps_krw_bn"}
_UNIT = re.compile(r"\s*\[[^\]]*\]\s*$")


def _value(v: Any, kind: str) -> str:
    if v is None or (isinstance(v, float) and v != v) or (isinstance(v, (dict, list, tuple)) and not v):
        return "-"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_value(x, kind)}" for k, x in v.items())
    if kind == "money":
        return fmt_money(float(v))
    if kind == "pct":
        return fmt_pct(float(v))
    if kind == "int":
        return f"{int(round(float(v))):,}"
    if kind == "bool" or isinstance(v, bool):
        return t("yes") if bool(v) else t("no")
    if kind == "country":
        return country_name(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x, "text") for x in v) or "-"
    if isinstance(v, float):
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    word = xs.load_labels(lang()).get("value", str(v))
    return str(word) if word is not None else str(v)


def _assumption(key: str, v: Any) -> tuple[str, str]:
    """(label, value) of one assumption key (``weights.financial``, ``price_overrides_usd_per_t.lithium``)."""
    head, _, sub = key.partition(".")
    label = xs.load_labels(lang()).get("scenario", head) or head
    if head in _MONEY_KEYS:
        label = _UNIT.sub("", str(label))
        kind = "money"
    elif isinstance(v, float) and "[%]" in str(label):
        kind = "pct"
        label = _UNIT.sub("", str(label))
    else:
        kind = "text"
    if sub:
        part = (t(sub) if head == "weights" else mineral_name(sub) if head.startswith(("price", "mineral"))
                else country_name(sub) if head.startswith("country") else sub)
        label = f"{label}: {part}"
    return label, _value(v, kind)


def readable(frame: pd.DataFrame, kind: str, names: dict[int, str]) -> pd.DataFrame:
    """One table of :class:`evaluator.store.Comparison` (``totals``, ``assumptions``, ``funding`` or
    ``summary``) as the Scenarios page shows it; ``names``: scenario id -> its name as listed."""
    sids = [int(c.split("_")[-1]) for c in frame.columns if re.fullmatch(r"scenario_\d+", str(c))]
    rows, index = [], []
    if kind == "funding":
        sids = sorted({int(m.group(1)) for c in frame.columns if (m := re.fullmatch(r"fund_krw_bn_(\d+)", str(c)))})
        for app_id, r in frame.iterrows():
            index.append(str(app_id))
            rows.append({**{f"{names.get(s, s)} · {t('cmp_fund_allocated')}": fmt_money(r[f"fund_krw_bn_{s}"]) for s in sids},
                         **{f"{names.get(s, s)} · {t('cmp_loan_allocated')}": fmt_money(r[f"loan_krw_bn_{s}"]) for s in sids},
                         t("cmp_differs"): bool(r.get("differs", False))})
        out = pd.DataFrame(rows, index=pd.Index(index, name=t("col_application")))
        return out[[c for s in sids for c in out.columns if c.startswith(f"{names.get(s, s)} · ")] + [t("cmp_differs")]]
    for key, r in frame.iterrows():
        key = str(key)
        head, _, sub = key.partition(".")
        if kind == "assumptions":
            pairs = [_assumption(key, r[f"scenario_{s}"]) for s in sids]
            label, values = pairs[0][0], [p[1] for p in pairs]
        else:
            spec = (TOTALS if kind == "totals" else SUMMARY_METRICS).get(head)
            if spec is None:
                continue
            label = t(spec[0]) + (f": {mineral_name(sub)}" if sub else "")
            values = [_value(r[f"scenario_{s}"], spec[1]) for s in sids]
        index.append(label)
        rows.append({**{str(names.get(s, s)): v for s, v in zip(sids, values)},
                     t("cmp_differs"): bool(r.get("differs", False))})
    return pd.DataFrame(rows, index=pd.Index(index, name=t("cmp_item")))
