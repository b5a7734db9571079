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
        assert set(re.findall(r"\{(\w+)\}", en[k])) == set(re.findall(r"\{(\w+)\}", ko[k])), k


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
