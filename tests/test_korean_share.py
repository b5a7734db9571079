"""The Korean report's share of Korean text (issue 26): at least 99 % of its text cells.

A cell counts as English when it has no Hangul and has a Latin word that is not a unit or
abbreviation (``ALLOWED`` of tests/test_report_language.py), a code (ids, ISO3, mineral keys),
a URL or a file name, once the text a person typed (the applications' fields, the scenario's
name, the committee's decision) is set aside: that text stays as it was given.

What stays English, and why (asserted below): the fiscal-region codes of fiscal_regimes.csv
(``AUS-WA``), the short codes of the sources table (``WGI``, ``CRC``, ``DAM``, ``MCS``, ``BACI``,
``PUB``, ``FACTS``, ``PWC``: ids the other tables cite) and the names of licences (``CC BY 4.0``,
``Etalab Open Licence 2.0``): proper names and codes. Titles of laws and publications keep their
original name beside the Korean one (``data_notes_ko.csv``).
"""

from __future__ import annotations

import re

import pytest

from evaluator import pipeline
from evaluator.report import build_pipeline_report
from evaluator.report.wording import data_notes_ko, korean_data_notes

from test_report_language import ALLOWED, DECISION, _words, report_codes, string_cells

HANGUL = re.compile(r"[\uac00-\ud7a3]")
#: The cells that may stay English (module notes): codes and names of licences.
STAYS_ENGLISH = re.compile(r"^(?:[A-Z]{3}-[A-Z]{2}|WGI|CRC|DAM|MCS|BACI|PUB|FACTS|PWC|CC BY 4\.0|Etalab Open Licence 2\.0)$")


def english_cells(cells, typed: list[str], codes: set[str]) -> list[tuple[str, str, str]]:
    out = []
    for sheet, coord, text in cells:
        if HANGUL.search(text) or text.strip() in codes:
            continue
        rest = text
        for s in typed:
            if s in rest:
                rest = rest.replace(s, " ")
        rest = re.sub(r"https?://\S+", " ", rest)
        rest = re.sub(r"[\w/]+\.(csv|md|toml|xlsx)", " ", rest)
        if [w for w in _words(rest) if w not in ALLOWED and w not in codes]:
            out.append((sheet, coord, text))
    return out


@pytest.fixture(scope="module")
def korean_report(sample_apps, scenario, ref):
    from evaluator.uncertainty import portfolio_risk_of_result

    res = pipeline.run(sample_apps, scenario, ref, risk_measure="p10_npv", n_paths=200)
    pr = portfolio_risk_of_result(res, sample_apps, scenario, ref, supply_ref=pipeline.supply_reference(ref),
                                  n_paths=200, seed=0)
    return build_pipeline_report(res, scenario, ref=ref, decision=DECISION, language="ko", portfolio_risk=pr)


def test_korean_report_is_at_least_99_percent_korean(korean_report, sample_apps, scenario, ref):
    cells = string_cells(korean_report)
    typed = {scenario.name} | {str(v) for v in DECISION.values()}
    for a in sample_apps:
        typed |= {str(v) for v in a.to_record().values() if isinstance(v, str) and v}
    typed = sorted((t for t in typed if len(t) > 1), key=len, reverse=True)
    eng = english_cells(cells, typed, report_codes(sample_apps, ref))
    share = 1 - len(eng) / len(cells)
    assert len(cells) > 3000
    assert share >= 0.99, (share, eng[:20])
    # what stays English is codes and the names of licences (module notes)
    assert [e for e in eng if not STAYS_ENGLISH.match(e[2].strip())] == []
    # the data notes are worded in Korean: none of the catalogue's English notes is left whole
    text = "\n".join(t for _, _, t in cells)
    left = [en for en, _ in data_notes_ko() if len(en) > 30 and en in text]
    assert left == []


def test_data_notes_catalogue_by_hand():
    notes = data_notes_ko()
    assert len(notes) > 80
    assert all(HANGUL.search(ko) for _, ko in notes)
    # a note inside a longer text is worded in place; a short one only as a whole cell
    assert korean_data_notes("해외자원개발 사업법 시행령 art. 11-3(1) (희토류)", notes) == \
        "해외자원개발 사업법 시행령 제11조의3 제1항 (희토류)"
    assert korean_data_notes("public", notes) == "공개 자료"
    url = "https://www.worldbank.org/en/publication/x"
    assert korean_data_notes(url, notes) == url
    assert korean_data_notes("team assumption", notes) == "팀 가정"
