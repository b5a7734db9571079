"""The Decision and Assumptions sheets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from evaluator import messages
from evaluator import xlsx_style as xs
from evaluator.krw import krw_text
from evaluator.kst import kst_text
from evaluator.report.cells import _WRAP_TOP, _table, _title


# ----------------------------------------------------------------------------------------------
# Decision and assumptions
# ----------------------------------------------------------------------------------------------
def _write_decision(ws, decision: Mapping, lab: xs.Labels | None = None) -> None:
    lab = lab or xs.load_labels("en")
    _title(ws, lab("text.decision_title"))
    xs.put_text(ws, 3, 1, lab("text.item"), "Header")
    xs.put_text(ws, 3, 2, lab("text.record"), "Header")
    r = 4
    for k, v in decision.items():
        if k == "decided_at_utc":  # stored UTC, read in Korea's time (evaluator.kst)
            k, v = "decided_at", kst_text(v)
        xs.put_text(ws, r, 1, lab.get("decision", k), "Label")
        if isinstance(v, Mapping):
            v = "; ".join(f"{a}: {b}" for a, b in v.items())
        elif isinstance(v, (list, tuple, set)):
            v = "; ".join(map(str, v))
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            xs.put_value(ws, r, 2, v, "Value")
        else:
            xs.put_text(ws, r, 2, "" if v is None else str(v), "Value")
        r += 1
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 90
    xs.print_setup(ws, title_rows="3:3", footer=lab("text.page_footer"))


_SOURCES_ROW = re.compile(r"^\|\s*([A-Z]+)\s*\|(.+)\|\s*([^|]+)\|\s*([^|]+)\|\s*$")


def _raw_sources(data_dir: Path) -> pd.DataFrame:
    """The raw-sources table (id, source, date, licence) of ``SOURCES.md``."""
    p = Path(data_dir) / "SOURCES.md"
    rows = []
    try:
        for line in p.read_text(encoding="utf-8").splitlines():
            mt = _SOURCES_ROW.match(line.strip())
            if mt and mt.group(1) != "id":
                rows.append({"id": mt.group(1), "source": mt.group(2).strip(), "date": mt.group(3).strip(),
                             "licence": mt.group(4).strip()})
    except OSError:
        pass
    return pd.DataFrame(rows, columns=["id", "source", "date", "licence"])


def _scenario_value(k: str, v: Any, lab: xs.Labels) -> Any:
    """A scenario value as the Assumptions sheet shows it (codes in words)."""
    if isinstance(v, bool):
        return lab.yes_no(v)
    if isinstance(v, Mapping):
        return "; ".join(f"{lab.get('value', a) if k == 'weights' else lab.mineral(a)} = {b:g}" if isinstance(b, (int, float))
                         else f"{a} = {b}" for a, b in v.items()) or lab("text.none")
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) or lab("text.none")
    if isinstance(v, str) and k != "name":
        return lab.get("value", v)
    return v


def _write_assumptions(ws, evaluation, scenario, ref, lab: xs.Labels | None = None) -> None:
    lab = lab or xs.load_labels("en")
    _title(ws, lab("text.assumptions_title"), lab("text.assumptions_subtitle"))
    r = 4
    xs.put_text(ws, r, 1, lab("text.scenario"), "Subtitle")
    r += 1
    for k, v in scenario.to_dict().items():
        xs.put_text(ws, r, 1, lab.get("scenario", k), "Label")
        v = _scenario_value(k, v, lab)
        xs.put_value(ws, r, 2, v, "Input", xs.format_for_column(k) if isinstance(v, (int, float)) and not isinstance(v, bool) else None)
        r += 1
    r += 1
    r = _write_special_loan_rules(ws, r, evaluation, scenario, ref, lab) + 1
    if ref is not None:
        r = _write_reference_tables(ws, r, evaluation, scenario, ref, lab)
    xs.put_text(ws, r, 1, lab("text.resolved_inputs"), "Subtitle")
    r += 1
    src = evaluation.inputs.sources
    if src is not None and len(src):
        src = src.copy()
        for c in [c for c in src.columns if c.endswith("_source")]:   # the engine's words, in this language
            src[c] = [messages.word(v, lab.language) for v in src[c]]
        if "fiscal_warning" in src.columns:
            src["fiscal_warning"] = [messages.word(v, lab.language) for v in src["fiscal_warning"]]
        for c in src.columns:   # any other column the engine filled with messages (e.g. a granted fiscal incentive)
            if any(isinstance(v, messages.Message) for v in src[c]):
                src[c] = [messages.word(v, lab.language) if isinstance(v, messages.Message) else v for v in src[c]]
        for c in ("royalty_basis", "depreciation_method"):   # codes of fiscal_regimes.csv, in words
            if c in src.columns:
                src[c] = src[c].map(lambda v: lab.get("fiscal", v))
        r, _ = _table(ws, r, 1, src.reset_index(), lab)
        r += 2
    xs.put_text(ws, r, 1, lab("text.raw_sources"), "Subtitle")
    r += 1
    from evaluator import reference as refmod

    data_dir = getattr(ref, "data_dir", None) or refmod.DATA_DIR
    r, _ = _table(ws, r, 1, _raw_sources(data_dir), lab)
    ws.column_dimensions["A"].width = 34
    for L in "BCDEFGHI":
        ws.column_dimensions[L].width = 18
    for row in ws.iter_rows(min_row=4, max_row=ws.max_row):
        for c in row:
            if isinstance(c.value, str) and len(c.value) > 24:
                xs.set_alignment(c, _WRAP_TOP)
    xs.print_setup(ws, footer=lab("text.page_footer"))


#: The special loan's rules the Assumptions sheet lists, in order: (rule, where its figure is).
SPECIAL_LOAN_RULES = ("loan_cap_share_base", "loan_cap_share_preferred", "write_off_share",
                      "failure_repayment_years", "max_tenor_years")


def special_loan_rules_frame(evaluation, scenario, ref, lab: xs.Labels) -> pd.DataFrame:
    """The special loan's rules as the scenario applies them, each with its legal source (columns
    ``loan_rule`` (in words), ``value``, ``source``, ``source_date``, ``confidence``): the terms
    year's figures (``loan_terms.csv``), the criteria of the preferred tier (``loan_cap_tiers.csv``),
    the write-off list for the applications' minerals (``loan_write_off_minerals.csv``), the rate,
    the levy and the budgets as the scenario sets them."""
    from evaluator import special_loan

    terms = special_loan.loan_terms_table(ref)
    terms = terms[terms["terms"] == scenario.loan_terms].set_index("rule")
    rows = []
    for rule in SPECIAL_LOAN_RULES:
        t = terms.loc[rule]
        value = float(t["value"])
        if rule == "write_off_share":
            value = float(scenario.write_off_share)
        rows.append({"loan_rule": lab("loan_rule." + rule, terms=scenario.loan_terms),
                     "value": f"{value:.0%}" if t["unit"].startswith("fraction") else f"{value:g}",
                     "source": t["source"], "source_date": t["source_date"], "confidence": t["confidence"]})
    for _, t in special_loan.cap_tiers(ref).iterrows():
        rows.append({"loan_rule": lab("loan_rule.preferred_criterion"),
                     "value": special_loan.criteria_message(f"{t['criterion']}={t['value']}").text(lab.language),
                     "source": t["source"], "source_date": t["source_date"], "confidence": t["confidence"]})
    wo = special_loan.write_off_minerals(ref).set_index("mineral")
    for mineral in sorted({a.mineral for a in evaluation.applications}):
        listed = mineral in wo.index and wo.at[mineral, "listed"] == "yes"
        rows.append({"loan_rule": lab("loan_rule.write_off_listed" if listed else "loan_rule.write_off_not_listed",
                                      mineral=lab.mineral(mineral)),
                     "value": lab.yes_no(listed),
                     "source": wo.at[mineral, "legal_source"] if mineral in wo.index else "",
                     "source_date": wo.at[mineral, "source_date"] if mineral in wo.index else "",
                     "confidence": wo.at[mineral, "confidence"] if mineral in wo.index else ""})
    for key, value in (("loan_rate", f"{scenario.ktb_3y_rate:.2%} {scenario.policy_loan_spread:+.2%} = "
                                     f"{scenario.policy_loan_rate_nominal:.2%} -> {scenario.policy_loan_rate:.2%}"),
                       ("success_levy", f"{scenario.success_levy_share:.0%} x {scenario.success_levy_years}"),
                       ("loan_budget", krw_text(scenario.loan_krw_bn, lab.language)),
                       ("fund", krw_text(scenario.fund_krw_bn, lab.language)),
                       # the fund's terms: assumptions until published (issue 23)
                       ("fund_equity_share", f"{scenario.fund_equity_share:.0%}"),
                       ("fund_target_return", f"{scenario.fund_target_return:.1%}")):
        rows.append({"loan_rule": lab(f"loan_rule.{key}"), "value": value, "source": lab(f"loan_rule.{key}_source"),
                     "source_date": "", "confidence": lab(f"loan_rule.{key}_confidence")})
    out = pd.DataFrame(rows, columns=["loan_rule", "value", "source", "source_date", "confidence"])
    out["confidence"] = [lab.get("loan_rule", f"confidence_{c}", c) for c in out["confidence"]]
    return out


def _write_special_loan_rules(ws, r: int, evaluation, scenario, ref, lab: xs.Labels) -> int:
    xs.put_text(ws, r, 1, lab("text.special_loan_rules", terms=scenario.loan_terms), "Subtitle")
    r, _ = _table(ws, r + 1, 1, special_loan_rules_frame(evaluation, scenario, ref, lab), lab)
    return r + 1


#: Columns of the Assumptions sheet's fiscal-regime table, in order.
FISCAL_REGIME_COLUMNS = ["region", "mineral", "applications", "royalty_basis", "royalty_rate", "income_tax_rate",
                         "loss_carry_years", "loss_offset_cap", "depreciation_method", "depreciation_rate",
                         "withholding_korea_rate", "law", "source", "date", "assumption"]


def fiscal_regimes_used(evaluation, ref) -> pd.DataFrame:
    """The ``fiscal_regimes.csv`` rows the applications use (by their ``fiscal_region`` or their
    country's default region; :func:`evaluator.fiscal.regime_row`), one row per regime row with
    the ids using it; empty when every application uses the per-country tables. Rates
    [fraction], ``loss_carry_years`` [years] (blank = no time limit)."""
    from evaluator import fiscal

    used: dict[tuple[str, str], dict] = {}
    for app in evaluation.applications:
        row, _ = fiscal.regime_row(ref, app)
        if row is None:
            continue
        key = (str(row["region"]), str(row["mineral"]))
        if key not in used:
            used[key] = {c: xs.clean_value(row[c]) for c in FISCAL_REGIME_COLUMNS if c in row.index}
            used[key]["applications"] = []
        used[key]["applications"].append(app.id)
    out = []
    for rec in used.values():
        rec["applications"] = ", ".join(rec["applications"])
        if rec.get("loss_carry_years") is not None and rec["loss_carry_years"] >= fiscal.UNLIMITED_YEARS:
            rec["loss_carry_years"] = None
        out.append(rec)
    return pd.DataFrame(out, columns=[c for c in FISCAL_REGIME_COLUMNS])


def _write_reference_tables(ws, r: int, evaluation, scenario, ref, lab: xs.Labels) -> int:
    from evaluator import reference as refmod

    apps = evaluation.applications
    minerals = sorted({a.mineral for a in apps} | {b.mineral for a in apps for b in a.by_products})
    countries = sorted({a.country_iso3 for a in apps})
    xs.put_text(ws, r, 1, lab("text.price_deck"), "Subtitle")
    mt = ref.minerals.reindex(minerals)
    cols = [c for c in ("product", "price_base_usd_per_t", "price_low_usd_per_t", "price_high_usd_per_t",
                        "price_source", "price_assumption") if c in mt.columns]
    t = mt[cols].reset_index().rename(columns={"index": "mineral"})
    if "price_assumption" in t.columns:   # a flag, in words (the table may read it as text)
        t["price_assumption"] = [lab.yes_no(str(v).strip().lower() in ("true", "1", "yes")) for v in t["price_assumption"]]
    if scenario.price_overrides_usd_per_t:
        t["scenario_override_usd_per_t"] = t["mineral"].map(dict(scenario.price_overrides_usd_per_t))
    r, _ = _table(ws, r + 1, 1, t, lab)
    r += 2
    if "rare_earths" in minerals:
        xs.put_text(ws, r, 1, lab("text.ree_prices"), "Subtitle")
        o = ref.ree_oxides.reset_index()
        o = o[[c for c in ("oxide", "price_base_usd_per_t", "price_low_usd_per_t", "price_high_usd_per_t",
                           "default_basket_share", "source", "assumption") if c in o.columns]]
        if "oxide" in o.columns:
            o["oxide"] = o["oxide"].map(lambda v: lab("text.others") if v == "other" else v)
        r, _ = _table(ws, r + 1, 1, o, lab)
        r += 2
    xs.put_text(ws, r, 1, lab("text.royalties"), "Subtitle")
    roy = []
    for c, mn in sorted({(a.country_iso3, a.mineral) for a in apps}):
        try:
            row = refmod.royalty_row(ref, c, mn)
        except refmod.ReferenceDataError:  # a pair without a royalty row is left out of the table
            continue
        roy.append({"country_iso3": c, "mineral": mn, "table_row": f"{row['iso3']}/{row['mineral']}",
                    "royalty_rate": float(row["royalty_rate"]), "basis": row.get("basis", ""),
                    "source": row.get("source", ""), "assumption": bool(row.get("assumption", False))})
    r, _ = _table(ws, r + 1, 1, pd.DataFrame(roy), lab)
    r += 2
    xs.put_text(ws, r, 1, lab("text.tax_and_crp"), "Subtitle")
    ct = ref.countries.reindex(countries)
    tax = []
    for c in countries:
        tax.append({"country_iso3": c, "income_tax_rate": refmod.income_tax_rate(ref, c),
                    "income_tax_source": ct.at[c, "income_tax_source"] if "income_tax_source" in ct.columns else "",
                    "crp": ct.at[c, "crp"] if "crp" in ct.columns else np.nan,
                    "crp_source": ct.at[c, "crp_source"] if "crp_source" in ct.columns else "",
                    "oecd_crc": ct.at[c, "oecd_crc"] if "oecd_crc" in ct.columns else np.nan})
    r, _ = _table(ws, r + 1, 1, pd.DataFrame(tax), lab, formats={"crp": xs.FMT_PCT2, "oecd_crc": "0"})
    r += 2
    regimes = fiscal_regimes_used(evaluation, ref)
    if len(regimes):
        xs.put_text(ws, r, 1, lab("text.fiscal_regimes_used"), "Subtitle")
        shown = regimes.copy()
        shown["royalty_basis"] = shown["royalty_basis"].map(lambda v: lab.get("fiscal", v))
        shown["depreciation_method"] = shown["depreciation_method"].map(lambda v: lab.get("fiscal", v))
        shown["mineral"] = shown["mineral"].map(lambda v: lab("text.all_minerals") if v == "*" else v)
        r, _ = _table(ws, r + 1, 1, shown, lab, formats={"royalty_rate": xs.FMT_PCT2, "income_tax_rate": xs.FMT_PCT2,
                                                         "withholding_korea_rate": xs.FMT_PCT2, "loss_carry_years": "0",
                                                         "loss_offset_cap": xs.FMT_PCT, "depreciation_rate": xs.FMT_PCT})
        r += 2
    xs.put_text(ws, r, 1, lab("text.tax_regimes"), "Subtitle")
    to = ref.tax_overrides
    to = to[(to.iso3.isin(countries + ["*"]))]
    r, _ = _table(ws, r + 1, 1, to.reset_index(drop=True), lab)
    return r + 2
