"""UI labels in Korean and English, from one TOML file per language (``app_pages/labels/``).

Every string an officer sees is a key here; ``t(key, **values)`` returns it in the session's
language with ``{placeholders}`` filled. A key missing from a language raises ``KeyError``:
the tests render every page in both languages, so a missing label fails there, not in a meeting.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

import streamlit as st

LABEL_DIR = Path(__file__).resolve().parent / "labels"
LANGUAGES = ("ko", "en")


@functools.cache
def labels(language: str) -> dict[str, str]:
    """Every label of one language (read once per process)."""
    with open(LABEL_DIR / f"{language}.toml", "rb") as fh:
        return tomllib.load(fh)


def lang() -> str:
    return st.session_state.get("lang", "en")


def t(key: str, **values) -> str:
    """The label ``key`` in the chosen language, ``{name}`` placeholders filled from ``values``."""
    text = labels(lang())[key]
    return text.format(**values) if values else text
