"""UI labels: one file per language with the same keys, and every key the pages use exists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "app_pages" / "labels"


def _load(lang):
    with open(LABELS / f"{lang}.toml", "rb") as fh:
        return tomllib.load(fh)


def test_both_languages_have_the_same_keys_and_placeholders():
    en, ko = _load("en"), _load("ko")
    assert set(en) == set(ko)
    for k in en:
        # the same placeholders, each worded the same way (``{mineral:@mineral}``: by the catalogue)
        assert set(re.findall(r"\{(\w+(?::[^}]*)?)\}", en[k])) == set(re.findall(r"\{(\w+(?::[^}]*)?)\}", ko[k])), k


def test_every_label_key_used_by_the_app_exists():
    en = _load("en")
    files = [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py"))]
    used = set()
    prefixes = set()
    for f in files:
        text = f.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\(\s*"([a-z0-9_]+)"', text))
        prefixes |= set(re.findall(r'\bt\(f"([a-z0-9_]+)\{', text))
    assert used, "no t('key') call found"
    missing = sorted(k for k in used if k not in en)
    assert missing == []
    for p in prefixes:
        assert any(k.startswith(p) for k in en), p


def test_korean_labels_are_korean():
    ko = _load("ko")
    hangul = re.compile(r"[\uac00-\ud7a3]")
    # labels that are codes, units or proper names in both languages
    same = {"esg", "col_irr_pct", "measure_npv", "mc_npv_p10_usd_m", "mc_npv_p50_usd_m", "mc_npv_p90_usd_m"}
    not_korean = sorted(k for k, v in ko.items() if k not in same and not hangul.search(v))
    assert not_korean == []


def test_message_catalogues_match_and_explain_speaks_korean(sample_apps, scenario, ref):
    from evaluator import messages, pipeline, scoring

    en, ko = messages.catalogue("en"), messages.catalogue("ko")
    assert set(en) == set(ko)
    for k in en:
        # the same placeholders, each worded the same way (``{mineral:@mineral}``: by the catalogue)
        assert set(re.findall(r"\{(\w+(?::[^}]*)?)\}", en[k])) == set(re.findall(r"\{(\w+(?::[^}]*)?)\}", ko[k])), k
    res = pipeline.run(sample_apps, scenario, ref, allocate=False).scores
    bad = res.table.index[~res.table["eligible"]][0]
    lines_en = scoring.explain(res, bad, "en")
    lines_ko = scoring.explain(res, bad, "ko")
    assert lines_en[1].startswith("Not eligible") and lines_ko[1].startswith("부적격")
    # the same numbers in both languages
    assert re.findall(r"\d[\d,.]*", lines_en[1]) == re.findall(r"\d[\d,.]*", lines_ko[1])
    assert res.reasons_text(bad, "en") == res.table.at[bad, "ineligible_reasons"]


def test_every_application_field_has_a_header_in_both_languages():
    from evaluator.messages import catalogue, field_label
    from models.application import FIELDS

    for lang in ("en", "ko"):
        for f in FIELDS:
            assert field_label(f.name, f.unit, lang), f.name
    ko = catalogue("ko")
    assert all(f"field_{f.name}" in ko for f in FIELDS)


def test_every_code_the_engine_says_has_both_wordings():
    """Every message code written whole in evaluator/, models/ and app_pages/ (``Message("code", ...)``)
    is in both catalogues, and every ``{name:@prefix}`` placeholder's prefix names catalogue keys
    (``@krw``, an amount, excepted)."""
    from evaluator import messages

    root = Path(__file__).resolve().parents[1]
    used = set()
    for folder in ("evaluator", "models", "app_pages"):
        for path in (root / folder).rglob("*.py"):
            used |= set(re.findall(r'Message\(\s*"([a-z0-9_]+)"\s*[,)]', path.read_text(encoding="utf-8")))
    assert len(used) > 40
    en, ko = messages.catalogue("en"), messages.catalogue("ko")
    assert sorted(used - set(en)) == [] and sorted(used - set(ko)) == []
    for k, v in en.items():
        for prefix in re.findall(r"\{\w+:@(\w+)\}", v):
            if prefix in ("krw", "krw_bn"):  # an amount in the language's unit (messages._Wording, evaluator.krw)
                continue
            assert any(key.startswith(prefix + "_") for key in en), (k, prefix)
