"""The committee's Excel report (the committee pack): a pure function from results to ``.xlsx`` bytes.

:func:`build_report` (and :func:`build_pipeline_report`, its mapping from a
:class:`evaluator.pipeline.PipelineResult`) writes, in memory with openpyxl, in English or
Korean (``language``; every label, header, sheet name and note from
``evaluator/data/report_labels_<language>.toml``):

``Summary`` (one printed page)
    The decision asked for, the recorded decision, budgets and their use, the portfolio funded,
    China's share of Korea's imports against the target per mineral (before, after, in the
    target year, and the probability of meeting it when the portfolio risk was simulated), key
    risks (loan expected loss, the simulated loan-book loss and P95 and P(fund NPV < 0) when the
    portfolio risk was given, P(NPV < 0) and P10 NPV when the simulation ran, binding
    constraints, solver status).
``P <id>`` (one printed page each)
    Every project the committee decides on (:func:`project_page_ids`: the funded ones and the nearest
    contested ones; every other application is a row of the Ranking): figures, country risk,
    diversification effect, score by criterion, simulation percentiles, the tornado
    (:func:`evaluator.uncertainty.tornado`) and the reconciliation with the applicant's study
    (:func:`study_reconciliation`, a hook until applications carry study figures).
``Ranking``
    Every application in words with units (rank, eligibility and its reasons, funding, score by
    criterion, NPV beside P10 NPV and P(NPV < 0), ...), the recorded decision; exact values in the
    cells, number formats round for reading.
``Allocation``
    Fund and loan per project, coverage, expected loss; totals against the budgets (live
    formulas); binding constraints and marginal values, in words.
``Portfolio risk`` (when ``portfolio_risk`` is given; two printed pages)
    The joint simulation of the funded portfolio (:class:`evaluator.uncertainty.PortfolioRisk`):
    loan-book loss (expected, P95, P99, ES99, P(above threshold)) and fund NPV (P10, P50, P90,
    P(loss)); the loss by year; P(China's share at or below the target) per mineral by year to
    2035; each project's risk contribution; the loss histogram and the S-curves, with charts.
``Supply``
    Per mineral: China's and the top supplier's share before and after, sources, and China's
    share by year to the horizon against the single-supplier target.
``CF <id>``
    One sheet per funded project (or per ``cashflow_ids``): an inputs block (blue) and the whole
    cash-flow model as live formulas (black) ending in ``=NPV(r, Y1:Yn) + Y0`` and ``=IRR(...)``,
    which recompute to the app's numbers (checked by recalculating with LibreOffice in
    ``tests/test_report.py``). A project with features the flat formulas cannot express (a
    fiscal regime's royalty basis, depreciation or loss rules, depletion, a tax credit, a capital
    schedule, a price path: :func:`extended_features_of`) gets the model's lines as values
    (marked ``*``) and formulas only where they stay exact, and recomputes to the same numbers.
``Assumptions``
    Scenario values, every reference figure used (price, royalty, tax, country risk premium) with
    its source, the fiscal-regime rows the applications use (:func:`fiscal_regimes_used`: law,
    source, date), and the raw sources with their dates (``evaluator/data/SOURCES.md``).
``Decision``
    The committee's decision record, when one is given.

Every sheet prints A4 landscape, one page wide, with its header row repeated (the sample
applications print as 33 pages, 35 with the portfolio risk; ``tests/test_report_pdf.py``).

Notes
-----
Formulas hold references only, never typed numbers: every constant (tonnes per Mt, USD per
USD m, opening balances, the IRR guess) is a labelled blue input cell, so an auditor can see
and change it. Flags are written as comparisons (``(C$5>=$B$20)*(C$5<=$B$21)``), which both
Excel and LibreOffice turn into 1/0. What the engine says (binding constraints, screening
reasons, allocation notes, input sources) comes as :class:`evaluator.messages.Message` codes and is
worded by the one message catalogue in the report's language; no engine text is parsed.
"""

from __future__ import annotations

from evaluator.report.assumptions_sheet import FISCAL_REGIME_COLUMNS as FISCAL_REGIME_COLUMNS
from evaluator.report.assumptions_sheet import SPECIAL_LOAN_RULES as SPECIAL_LOAN_RULES
from evaluator.report.assumptions_sheet import fiscal_regimes_used as fiscal_regimes_used
from evaluator.report.assumptions_sheet import special_loan_rules_frame as special_loan_rules_frame
from evaluator.report.cashflow_sheet import extended_features_of as extended_features_of
from evaluator.report.cells import _col as _col
from evaluator.report.cells import _mostly_wide as _mostly_wide
from evaluator.report.cells import _table as _table
from evaluator.report.cells import _wrap_rows as _wrap_rows
from evaluator.report.context import _TORNADO_COLUMNS as _TORNADO_COLUMNS
from evaluator.report.context import _Context as _Context
from evaluator.report.pack import DEFAULT_TOP_N as DEFAULT_TOP_N
from evaluator.report.pack import REPORT_SHEETS, cashflow_sheet_ids, project_page_ids
from evaluator.report.pack import memo_page_ids as memo_page_ids
from evaluator.report.project_sheet import STUDY_FIELDS, study_reconciliation
from evaluator.report.project_sheet import _project_tornado as _project_tornado
from evaluator.report.ranking_sheet import RANKING_COLUMNS as RANKING_COLUMNS
from evaluator.report.risk_sheet import RISK_PROJECT_COLUMNS as RISK_PROJECT_COLUMNS
from evaluator.report.risk_sheet import S_CURVE_BLOCK_ROWS as S_CURVE_BLOCK_ROWS
from evaluator.report.risk_sheet import TARGET_LAST_YEAR as TARGET_LAST_YEAR
from evaluator.report.risk_sheet import target_probability_table as target_probability_table
from evaluator.report.summary_sheet import PROB_LOSS_FLAG as PROB_LOSS_FLAG
from evaluator.report.wording import binding_messages as binding_messages
from evaluator.report.wording import reasons_text as reasons_text
from evaluator.report.workbook import build_pipeline_report, build_report

__all__ = ["build_report", "build_pipeline_report", "cashflow_sheet_ids", "project_page_ids", "study_reconciliation",
           "REPORT_SHEETS", "STUDY_FIELDS"]
