"""Korean first: every page rendered in Korean with AppTest shows no English word except proper
nouns (applicants' project names, companies and places), codes, units and acronyms.

What is scanned: titles, headers, markdown, captions, alerts, metric labels and values, widget
labels and options, and table headers. Cell values of the applications editor are the officer's
own data and its column ids are the loader's codes; they are left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evaluator.messages import catalogue

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["applications", "ranking", "project", "allocation", "report", "scenarios"]
#: Acronyms, units and names that are English in Korean documents too.
ALLOWED = {
    "NPV", "IRR", "DSCR", "LLCR", "ESG", "KRW", "USD", "TREO", "LCE", "REO", "HHI", "WGI", "OECD", "BACI",
    "CSV", "JSON", "Excel", "xlsx", "csv", "json", "Monte", "Carlo", "NdPr", "Comtrade", "UN", "SHA", "Natural",
    "Earth", "IEA", "English", "ISO", "Mt", "WO", "Sb", "Co", "Ni", "Cu", "Mn", "yr",
}
WORD = re.compile(r"[A-Za-z]{3,}")


def _visible(at: AppTest) -> list[tuple[str, str]]:
    out = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        out += [(kind, str(e.value)) for e in getattr(at, kind)]
    for m in at.metric:
        out += [("metric", m.label), ("metric", str(m.value)), ("metric", str(m.delta or ""))]
    for kind in ("button", "slider", "selectbox", "radio", "toggle", "text_input", "multiselect", "number_input",
                 "select_slider", "text_area", "expander", "download_button"):
        for w in getattr(at, kind, []):
            out.append((kind, str(getattr(w, "label", "") or "")))
            out.append((kind, str(getattr(w, "placeholder", "") or "")))
            out += [(kind, str(o)) for o in (getattr(w, "options", None) or [])]
    for d in at.dataframe:
        if getattr(d, "key", None) is not None and str(d.key).startswith("apps_editor"):
            continue
        out += [("table header", str(c)) for c in d.value.columns]
    return out


def _data_words(at: AppTest) -> set[str]:
    """Words of the officer's own data: project names, companies, regions, notes, ids, file and
    scenario names (shown as they were entered)."""
    raw = at.session_state["raw_df"]
    words = set()
    for col in ("id", "name", "company", "region", "source_note"):
        if col in raw:
            words |= set(WORD.findall(" ".join(raw[col].astype(str))))
    words |= set(WORD.findall(str(at.session_state["source_name"])))
    words |= set(WORD.findall(at.session_state["base_scenario"].name))
    return words


def _english(text: str, allowed: set[str]) -> list[str]:
    text = re.sub(r"`[^`]*`", " ", text)                    # paths and hashes in code spans
    text = re.sub(r"\S+\.(csv|xlsx|json|sqlite3)\b", " ", text)
    return [w for w in WORD.findall(text) if w not in allowed and not w.isupper()]


@pytest.fixture
def ko_app(fresh_app):
    fresh_app.radio(key="lang").set_value("ko").run()
    return fresh_app


def test_every_page_in_korean_has_no_english_words(ko_app):
    at = ko_app
    allowed = ALLOWED | _data_words(at)
    found = {}
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        bad = [(kind, text[:80], words) for kind, text in _visible(at) if (words := _english(text, allowed))]
        if bad:
            found[page] = bad
    assert found == {}, found


def test_risk_adjusted_and_money_units_in_korean(ko_app):
    at = ko_app
    at.radio(key="unit").set_value("억원").run()
    at.switch_page("app_pages/ranking.py")
    at.run()
    at.radio(key="financial_measure").set_value("prob_loss").run()
    at.switch_page("app_pages/allocation.py")
    at.run()
    at.button(key="run_portfolio_risk").click().run()
    assert not at.exception, [e.value for e in at.exception]
    allowed = ALLOWED | _data_words(at)
    bad = [(kind, text[:80], words) for kind, text in _visible(at) if (words := _english(text, allowed))]
    assert bad == []
    assert any("억원" in v for k, v in _visible(at) if k == "metric")


def test_scanner_catches_english():
    assert _english("저장 Save the scenario", ALLOWED) == ["Save", "the", "scenario"]
    assert _english("NPV [백만 달러], `path/to/x`", ALLOWED) == []
    assert catalogue("ko")["screen_no_support"] != catalogue("en")["screen_no_support"]


def test_validation_problems_in_korean(ko_app):
    """A broken upload's problems read in Korean on the Applications page (field ids and values
    stay as entered)."""
    at = ko_app
    at.switch_page("app_pages/applications.py")
    at.run()
    name = "grade_over_100.csv"
    at.file_uploader(key="apps_upload").set_value((name, (ROOT / "sample_projects" / "broken" / name).read_bytes(),
                                                   "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "규칙" in d.value.columns)
    assert len(table) >= 1
    rules = " ".join(table["규칙"].astype(str))
    assert re.search(r"[\uac00-\ud7a3]", rules)
    allowed = ALLOWED | _data_words(at) | {f for f in table["항목"].astype(str)}
    assert _english(rules, allowed) == []
