"""What the Summary and the project pages read, indexed once (:class:`_Context`)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Mapping

import pandas as pd

from evaluator import xlsx_style as xs
from evaluator.report.pack import _FUND_TOL

#: Columns of a project page's tornado table, in order.
_TORNADO_COLUMNS = ["input", "low_setting", "high_setting", "low_npv_usd_m", "high_npv_usd_m", "swing"]


@dataclass
class _Context:
    """What the sheets of one report share."""

    evaluation: Any
    scenario: Any
    lab: xs.Labels
    scores: pd.DataFrame | None = None
    alloc: pd.DataFrame | None = None
    summary: Any = None
    supply_table: pd.DataFrame | None = None
    supply_by_year: pd.DataFrame | None = None
    simulation: Any = None
    decision: Mapping | None = None
    ref: Any = None
    project_ids: list = dc_field(default_factory=list)
    cf_sheets: dict = dc_field(default_factory=dict)
    tornado: pd.DataFrame | None = None
    portfolio_risk: Any = None
    _tornado_rows: dict | None = None
    _rows: dict = dc_field(default_factory=dict)

    def tornado_of(self, app_id: str) -> list[list]:
        """The tornado rows of ``app_id`` with a positive swing, one list per column of
        :data:`_TORNADO_COLUMNS`, inputs and settings in words (the whole table is converted
        once per report and split by id, not filtered once per page)."""
        if self._tornado_rows is None:
            t = self.tornado[self.tornado["swing"] > 0]
            columns = [t[c].tolist() for c in _TORNADO_COLUMNS]
            for k in range(3):  # input, low_setting, high_setting
                columns[k] = [self.lab.get("tornado", v) for v in columns[k]]
            self._tornado_rows = {str(i): [[col[p] for p in pos] for col in columns]
                                  for i, pos in t.groupby("id", sort=False).indices.items()}
        return self._tornado_rows.get(str(app_id), [[] for _ in _TORNADO_COLUMNS])

    def _row(self, name: str, frame: pd.DataFrame | None, app_id: str) -> dict | None:
        """Row ``app_id`` of ``frame`` as a dict (column -> value), looked up once per report
        (None when absent); ``frame.at`` per figure otherwise costs a pandas lookup each."""
        if frame is None or not frame.index.is_unique:
            return None
        rows = self._rows.get(name)
        if rows is None:
            rows = self._rows[name] = {}
        if app_id not in rows:
            rows[app_id] = dict(zip(frame.columns, frame.loc[app_id].tolist())) if app_id in frame.index else None
        return rows[app_id]

    def metric_of(self, app_id: str, col: str):
        m = self.evaluation.metrics
        if not m.index.is_unique:
            return xs.clean_value(m.at[app_id, col])
        return xs.clean_value(self._row("metrics", m, app_id)[col])

    def funded_ids(self) -> list[str]:
        if self.alloc is None:
            return []
        return [str(i) for i in self.alloc.index[self.alloc["support_krw_bn"] > _FUND_TOL]]

    def score_of(self, app_id: str, col: str):
        if self.scores is None or col not in self.scores.columns or app_id not in self.scores.index:
            return None
        if not self.scores.index.is_unique:
            return xs.clean_value(self.scores.at[app_id, col])
        return xs.clean_value(self._row("scores", self.scores, app_id)[col])

    def reasons_of(self, app_id: str) -> tuple:
        """The screening reasons of an application (messages; ``()`` when none are recorded)."""
        if self.scores is None or "ineligible_messages" not in self.scores.columns or app_id not in self.scores.index:
            return ()
        found = self.scores["ineligible_messages"].loc[app_id]
        return found.iloc[0] if isinstance(found, pd.Series) else found

    def sim_of(self, app_id: str, col: str):
        if self.simulation is None or app_id not in self.simulation.summary.index:
            return None
        summary = self.simulation.summary
        if not summary.index.is_unique:
            return xs.clean_value(summary.at[app_id, col])
        return xs.clean_value(self._row("simulation", summary, app_id)[col])
