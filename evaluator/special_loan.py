"""The special loan's own rules (해외자원개발 특별융자): coverage cap, write-off, special levy, rate.

One home for the rules the Overseas Resources Development Business Act (art. 11), its Decree
(art. 11-3) and Rule (art. 4-2) and the yearly loan criteria set for the programme's loan; the
evaluation, the scoring, the allocation, the report and the CLI take them from here.

* **Coverage** (:func:`coverage`): the loan is capped at the tier's share of the applicant's own
  qualifying spending (융자대상 사업비) -- ``applicant_investment_usd_m`` when stated, otherwise
  its ownership share of the total project cost -- and fund + loan never exceed that spending.
  The preferred tier applies when any criterion of ``loan_cap_tiers.csv`` holds (exploration,
  operatorship, import into Korea, a critical mineral, an SME or mid-sized applicant); the shares
  per terms year are in ``loan_terms.csv``.
* **Write-off** (:func:`write_off_listed`, :func:`success_contingent`): only loans for the minerals
  the Decree and the Rule list (``loan_write_off_minerals.csv``), and only exploration loans of a
  project that ends before commercial production, may be waived on failure; the part not waived is
  repaid within ``failure_repayment_years``.
* **Special levy** (:func:`levy_pv_krw_bn`): on success, a share of the borrower's profit after
  tax, in the years after the loan is repaid.
* **Rate and subsidy** (:func:`interest_subsidy_pv_krw_bn`): the loan's nominal rate floats on the
  3-year KTB (``Scenario.policy_loan_rate`` puts it on the model's real basis); the government's
  funding cost minus the loan rate, on the outstanding balance, is a cost of the programme.

References
----------
.. [1] 해외자원개발 사업법 (Overseas Resources Development Business Act), art. 11, version of
   2025-10-01; 시행령 (Decree) art. 11-3, version of 2026-03-24; 시행규칙 (Rule) art. 4-2, version of
   2025-10-01 (https://www.law.go.kr).
.. [2] 2020년도 해외자원개발 특별융자사업 집행계획 공고 (2020 execution plan), as reported by 이투뉴스
   2020-02-10 and 가스신문 2020-02-18: tenor within 15 years including grace; 30 % of a failed
   exploration loan repaid within 5 years.
.. [3] 아주경제 2024-06-03 (2024 terms: 30 % base, 50 % preferred, write-off 80 %); 서울신문 and
   동아일보 2026-02-05 (2026: 70 %, write-off 90 %); SBS / Yonhap 2017-03-12 (levy 20 % of profit).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from evaluator.messages import Joined, Message
from evaluator.reference import DATA_DIR, ReferenceDataError

__all__ = [
    "CRITICAL_DESIGNATIONS",
    "loan_terms_table",
    "cap_tiers",
    "write_off_minerals",
    "terms_value",
    "write_off_listed",
    "success_contingent",
    "failure_loss_share",
    "failure_loss_share_of",
    "coverage",
    "criteria_message",
    "levy_weights",
    "levy_pv_krw_bn",
    "interest_subsidy_pv_krw_bn",
]

#: Designations in ``minerals.csv`` that are 핵심광물 (critical minerals): the 2023 list of 33 (of
#: which the 10 strategic, five of them rare earths) and the 17 rare earths designated in 2025-26.
CRITICAL_DESIGNATIONS = ("strategic", "critical")


def _data_dir(ref) -> Path:
    d = Path(getattr(ref, "data_dir", DATA_DIR)) if ref is not None else DATA_DIR
    return d


@functools.lru_cache(maxsize=8)
def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ReferenceDataError(f"{path.name}: missing from {path.parent}") from None


def _table(ref, name: str) -> pd.DataFrame:
    p = _data_dir(ref) / name
    return _read(p if p.exists() else DATA_DIR / name)


def loan_terms_table(ref=None) -> pd.DataFrame:
    """``loan_terms.csv``: one row per terms year and rule, with its source, date and confidence."""
    return _table(ref, "loan_terms.csv")


def cap_tiers(ref=None) -> pd.DataFrame:
    """``loan_cap_tiers.csv``: the criteria that give the preferred coverage tier."""
    return _table(ref, "loan_cap_tiers.csv")


def write_off_minerals(ref=None) -> pd.DataFrame:
    """``loan_write_off_minerals.csv``: per mineral key, whether the Decree or the Rule lists it."""
    return _table(ref, "loan_write_off_minerals.csv")


def terms_value(ref, terms: str, rule: str) -> float:
    """One figure of the terms (e.g. ``terms_value(ref, "2026", "loan_cap_share_preferred")``).

    Raises
    ------
    ReferenceDataError
        When ``loan_terms.csv`` has no row for that terms year and rule.
    """
    t = loan_terms_table(ref)
    row = t[(t["terms"] == terms) & (t["rule"] == rule)]
    if row.empty:
        raise ReferenceDataError(f"loan_terms.csv: no row for terms {terms!r}, rule {rule!r}")
    return float(row["value"].iloc[0])


def write_off_listed(ref, minerals: Sequence[str]) -> np.ndarray:
    """Whether each mineral's loans may be waived (Decree art. 11-3(1), Rule art. 4-2) [bool].

    A mineral missing from ``loan_write_off_minerals.csv`` is not listed (no waiver is presumed).
    """
    t = write_off_minerals(ref)
    listed = dict(zip(t["mineral"], t["listed"].str.lower() == "yes"))
    return np.array([bool(listed.get(str(m), False)) for m in minerals], dtype=bool)


def success_contingent(ref, stages: Sequence[str], minerals: Sequence[str]) -> np.ndarray:
    """Loans that are waived in part when the project fails: exploration-stage loans (type (1) of
    Act art. 11(1), for the rights to explore; the project then ends before commercial
    production, Decree art. 11-3(2)) for a listed mineral [bool]."""
    explor = np.array([str(s) == "exploration" for s in stages], dtype=bool)
    return explor & write_off_listed(ref, minerals)


def failure_loss_share(ref, scenario, minerals: Sequence[str], tenor_years) -> np.ndarray:
    """Expected loss of an exploration loan whose project fails, as a share of the loan
    [fraction], per project: the one home of the rule for the static expected loss
    (:func:`evaluator.country_risk.loan_expected_loss`) and the simulation's loan book.

    A listed mineral's loan is waived up to ``write_off_share``; the rest is repaid within
    ``failure_repayment_years`` (``loan_terms.csv``) at the borrower's own default risk. An
    unlisted mineral's loan is owed in full over its tenor at that risk::

        pd_b(y) = 1 - (1 - borrower_annual_pd) ** y
        listed:   write_off_share + (1 - write_off_share) x pd_b(failure_repayment_years) x LGD
        unlisted: pd_b(tenor) x LGD
    """
    return failure_loss_share_of(ref, scenario, write_off_listed(ref, minerals), tenor_years)


def failure_loss_share_of(ref, scenario, listed, tenor_years) -> np.ndarray:
    """:func:`failure_loss_share` given whether each mineral is listed [bool array]."""
    listed = np.asarray(listed, dtype=bool)
    w = scenario.write_off_share
    years = terms_value(ref, scenario.loan_terms, "failure_repayment_years")
    pd_repay = 1.0 - (1.0 - scenario.borrower_annual_pd) ** years
    tenor = np.maximum(np.asarray(tenor_years, dtype=float).reshape(len(listed)), 0.0)
    pd_tenor = 1.0 - (1.0 - scenario.borrower_annual_pd) ** tenor
    return np.where(listed, w + (1.0 - w) * pd_repay * scenario.lgd, pd_tenor * scenario.lgd)


def _critical(ref, minerals: Sequence[str]) -> np.ndarray:
    des = ref.minerals["designation"] if ref is not None and "designation" in ref.minerals else pd.Series(dtype=str)
    return np.array([str(des.get(m, "other")) in CRITICAL_DESIGNATIONS for m in minerals], dtype=bool)


def coverage(apps, scenario, ref) -> pd.DataFrame:
    """The coverage cap of each application under the scenario's terms (index ``id``).

    Parameters
    ----------
    apps : sequence of Application
        Money fields in USD (:func:`evaluator.cashflow.in_usd`).
    scenario : Scenario
        ``loan_terms`` (which row of ``loan_terms.csv``), ``fx_krw_per_usd``.
    ref : ReferenceData
        ``minerals.csv`` designation (critical minerals).

    Returns
    -------
    pandas.DataFrame
        ``applicant_spending_usd_m`` [USD m], ``applicant_spending_krw_bn`` [KRW bn],
        ``spending_basis`` ("stated" or "ownership"), ``loan_cap_tier`` ("base" or
        "preferred"), ``loan_cap_criteria`` (the criteria met, ``;``-joined), ``loan_cap_share``
        [fraction of the spending], ``loan_cap_krw_bn`` [KRW bn], ``support_cap_krw_bn`` [KRW bn,
        = the spending], ``applicant_equity_need_krw_bn`` [KRW bn, the spending less the loan
        asked, at least 0], ``fund_cap_krw_bn`` [KRW bn, ``fund_equity_share`` x that need],
        ``cap_max_fraction`` [fraction of both requests that fits every cap], ``above_cap`` [bool].

    Notes
    -----
    ::

        spending = applicant_investment_usd_m, or korean_ownership_share x total_project_cost_usd_m
        loan_cap = share(tier, terms) x spending           fund + loan <= spending
        fund <= fund_equity_share x (spending - loan)       (the fund's terms: an assumption)
        cap_max_fraction = min(1, loan_cap / loan, spending / (fund + loan),
                               share x spending / (fund + share x loan))

    The last term is the fraction ``f`` at which ``f x fund = share x (spending - f x loan)``: a
    partly funded application needs less loan and so more equity. With ``fund_equity_share`` 1
    the fund cap is the spending cap.
    """
    n = len(apps)
    fx = scenario.fx_krw_per_usd
    stated = np.array([a.applicant_investment_usd_m is not None for a in apps], dtype=bool)
    spending_usd = np.array([a.applicant_investment_usd_m if a.applicant_investment_usd_m is not None
                             else a.korean_ownership_share * a.total_project_cost_usd_m for a in apps], dtype=float)
    spending_krw = spending_usd * fx / 1000.0
    minerals = [a.mineral for a in apps]
    imports = np.array([(a.imports_to_korea == "yes") if a.imports_to_korea is not None
                        else a.korea_offtake_share > 0 for a in apps], dtype=bool)
    facts = {
        ("stage", "exploration"): np.array([a.stage == "exploration" for a in apps], dtype=bool),
        ("operator", "yes"): np.array([a.operator == "yes" for a in apps], dtype=bool),
        ("imports_to_korea", "yes"): imports,
        ("critical_mineral", "yes"): _critical(ref, minerals),
        ("applicant_size", "sme"): np.array([a.applicant_size == "sme" for a in apps], dtype=bool),
        ("applicant_size", "midsize"): np.array([a.applicant_size == "midsize" for a in apps], dtype=bool),
    }
    met: list[list[str]] = [[] for _ in range(n)]
    for _, row in cap_tiers(ref).iterrows():
        key = (row["criterion"], row["value"])
        if key not in facts:
            raise ReferenceDataError(f"loan_cap_tiers.csv: unknown criterion {row['criterion']}={row['value']}")
        if row["tier"] != "preferred":
            continue
        for i in np.flatnonzero(facts[key]):
            met[i].append(f"{row['criterion']}={row['value']}")
    preferred = np.array([bool(m) for m in met], dtype=bool)
    terms = scenario.loan_terms
    share = np.where(preferred, terms_value(ref, terms, "loan_cap_share_preferred"),
                     terms_value(ref, terms, "loan_cap_share_base"))
    loan_cap = share * spending_krw
    loan = np.array([a.loan_request_krw_bn for a in apps], dtype=float)
    fund = np.array([a.fund_request_krw_bn for a in apps], dtype=float)
    support = loan + fund
    eq_share = float(scenario.fund_equity_share)
    fund_cap = eq_share * np.maximum(spending_krw - loan, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_loan = np.where(loan > 0, loan_cap / np.where(loan > 0, loan, 1.0), 1.0)
        by_support = np.where(support > 0, spending_krw / np.where(support > 0, support, 1.0), 1.0)
        fund_den = fund + eq_share * loan
        by_fund = np.where(fund > 0, eq_share * spending_krw / np.where(fund_den > 0, fund_den, 1.0), 1.0)
    max_frac = np.clip(np.minimum(np.minimum(by_loan, by_support), by_fund), 0.0, 1.0)
    tol = 1e-9
    above = (loan > loan_cap + tol) | (support > spending_krw + tol) | (fund > fund_cap + tol)
    return pd.DataFrame({
        "applicant_spending_usd_m": spending_usd,
        "applicant_spending_krw_bn": spending_krw,
        "spending_basis": np.where(stated, "stated", "ownership"),
        "loan_cap_tier": np.where(preferred, "preferred", "base"),
        "loan_cap_criteria": [";".join(m) for m in met],
        "loan_cap_share": share,
        "loan_cap_krw_bn": loan_cap,
        "support_cap_krw_bn": spending_krw,
        "applicant_equity_need_krw_bn": np.maximum(spending_krw - loan, 0.0),
        "fund_cap_krw_bn": fund_cap,
        "cap_max_fraction": max_frac,
        "above_cap": above,
    }, index=pd.Index([a.id for a in apps], name="id"))


def criteria_message(criteria: str) -> Joined:
    """The criteria of the preferred tier an application meets (``loan_cap_criteria`` of
    :func:`coverage`, e.g. ``"stage=exploration;operator=yes"``) as catalogue messages."""
    codes = [c for c in str(criteria or "").split(";") if c]
    return Joined(tuple(Message("loan_cap_criterion_" + c.replace("=", "_")) for c in codes)
                  or (Message("loan_cap_criterion_none"),))


def levy_weights(ownership_share, maturity_index, n_periods: int, *, levy_share: float, levy_years: int,
                 rate: float, fx_krw_per_usd: float) -> np.ndarray:
    """The special levy's weight on each period's profit after tax [KRW bn per USD m], per project:
    ``levy_share x own x fx / 1000 / (1 + rate)^t`` over ``maturity < t <= maturity + levy_years``,
    0 elsewhere (and for a project with no loan, ``maturity_index`` -1). The one home of the
    levy's base and window: :func:`levy_pv_krw_bn` (the records) and the portfolio simulation's
    loan book (:mod:`evaluator.uncertainty.portfolio_paths`) both apply it to ``max(profit_t, 0)``.

    Parameters as :func:`levy_pv_krw_bn`; ``n_periods`` the periods (columns) [-].

    Returns
    -------
    numpy.ndarray
        ``(n, n_periods)`` [KRW bn per USD m].
    """
    mat = np.asarray(maturity_index, dtype=int).reshape(-1)
    n, T = len(mat), int(n_periods)
    t = np.arange(T)[None, :]
    window = (mat[:, None] >= 0) & (t > mat[:, None]) & (t <= mat[:, None] + int(levy_years))
    disc = (1.0 + rate) ** -np.arange(T, dtype=float)
    own = np.asarray(ownership_share, dtype=float).reshape(n, 1)
    return np.where(window, levy_share * own * disc[None, :], 0.0) * fx_krw_per_usd / 1000.0


def levy_pv_krw_bn(net_income_usd_m, ownership_share, maturity_index, *, levy_share: float, levy_years: int,
                   rate: float, fx_krw_per_usd: float) -> np.ndarray:
    """Present value of the special levy if the project succeeds [KRW bn], per project.

    Parameters
    ----------
    net_income_usd_m : array (n, T)
        The project's profit after tax per period [USD m, real]; column 0 = valuation date.
    ownership_share : array (n,)
        The borrower's share of the project's profit [fraction].
    maturity_index : array (n,)
        Period of the loan's last repayment (-1: no loan, no levy).
    levy_share : float
        Share of the borrower's profit levied [fraction] (``success_levy_share``).
    levy_years : int
        Years of profit levied, from the period after the loan is repaid [yr].
    rate : float
        Discount rate [fraction/yr, real] (the government's view: the social rate).
    fx_krw_per_usd : float

    Returns
    -------
    numpy.ndarray
        ``sum_t levy_share x own x max(profit_t, 0) / (1 + rate)^t`` over ``maturity < t <=
        maturity + levy_years`` [KRW bn] (:func:`levy_weights`); losses are not levied (a negative
        profit adds nothing).
    """
    ni = np.asarray(net_income_usd_m, dtype=float)
    w = levy_weights(ownership_share, maturity_index, ni.shape[1], levy_share=levy_share, levy_years=levy_years,
                     rate=rate, fx_krw_per_usd=fx_krw_per_usd)
    return (w * np.maximum(ni, 0.0)).sum(axis=1)


def interest_subsidy_pv_krw_bn(balance_usd_m, scenario, rate: float) -> np.ndarray:
    """Present value of the interest subsidy [KRW bn]: the government's funding cost (the 3-year
    KTB) minus the loan's rate, on the balance outstanding, on the model's real basis.

    ``subsidy_t = balance_t x (ktb - loan_nominal) / (1 + inflation)``, discounted at ``rate``.
    """
    bal = np.asarray(balance_usd_m, dtype=float)
    gap = (scenario.ktb_3y_rate - scenario.policy_loan_rate_nominal) / (1.0 + scenario.inflation_rate)
    disc = (1.0 + rate) ** -np.arange(bal.shape[1], dtype=float)
    return (bal * gap * disc).sum(axis=1) * scenario.fx_krw_per_usd / 1000.0
