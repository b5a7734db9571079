"""Messages the evaluator writes for an officer to read, in Korean and English.

The computation never formats prose itself: it returns :class:`Message` objects (a code and its
numbers) and the catalogue (``evaluator/data/messages/<language>.toml``) words them. The CLI
prints English; the app and the report use the officer's language. One catalogue, so the same
reason reads the same on the screen, in the workbook and on the command line.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

CATALOGUE_DIR = Path(__file__).resolve().parent / "data" / "messages"
LANGUAGES = ("en", "ko")


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """Every message template of one language (``{name}`` placeholders)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    with open(CATALOGUE_DIR / f"{language}.toml", "rb") as fh:
        return tomllib.load(fh)


def text(code: str, language: str = "en", **params: Any) -> str:
    """The message ``code`` worded in ``language`` with ``params`` filled in (a parameter that is
    itself a :class:`Message` is worded in the same language)."""
    params = {k: v.text(language) if isinstance(v, (Message, Joined)) else v for k, v in params.items()}
    return catalogue(language)[code].format(**params)


@dataclass(frozen=True)
class Message:
    """One message: its catalogue code and the values it quotes."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def text(self, language: str = "en") -> str:
        return text(self.code, language, **self.params)


def join(messages, language: str = "en", sep: str = "; ") -> str:
    """Several messages as one line."""
    return sep.join(m.text(language) for m in messages)


@dataclass(frozen=True)
class Joined:
    """Several messages quoted as one parameter of another, worded in its language."""

    parts: tuple
    sep: str = ", "

    def text(self, language: str = "en") -> str:
        return join(self.parts, language, self.sep)


def unit_key(unit: str) -> str:
    """The catalogue key of a field unit (``USD m/yr`` -> ``unit_USD_m_yr``)."""
    return "unit_" + "".join(ch if ch.isalnum() else "_" for ch in unit)


def field_label(name: str, unit: str = "", language: str = "en") -> str:
    """An application field's header for officers, with its unit: ``Initial capex [USD m]``."""
    label = text(f"field_{name}", language)
    return f"{label} [{text(unit_key(unit), language)}]" if unit else label


def mineral_name(key: str, language: str = "en") -> str:
    """A mineral key (``rare_earths``) in words."""
    return text(f"mineral_{key}", language)


#: Where a resolved input came from, as the engine records it (evaluator.cashflow, evaluator.fiscal)
#: -> catalogue code and the parts it quotes. A citation of a law or study is quoted as it is.
_SOURCES = (
    (re.compile(r"applicant"), "src_applicant"),
    (re.compile(r"applicant schedule"), "src_applicant_schedule"),
    (re.compile(r"applicant throughput x ramp-up"), "src_applicant_ramp_up"),
    (re.compile(r"scenario default"), "src_scenario_default"),
    (re.compile(r"scenario override"), "src_scenario_override"),
    (re.compile(r"scenario price path"), "src_scenario_price_path"),
    (re.compile(r"country default \((?P<iso3>[A-Z]{3})\)"), "src_country_default"),
    (re.compile(r"price deck \((?P<case>[\w-]+)\)"), "src_price_deck"),
    (re.compile(r"price deck \((?P<case>[\w-]+)\), applicant basket"), "src_price_deck_applicant_basket"),
    (re.compile(r"price deck \((?P<case>[\w-]+)\), default basket"), "src_price_deck_default_basket"),
)


def source_text(source: str, language: str = "en") -> str:
    """An input's recorded source (``applicant``, ``country default (VNM)``, ``price deck (base)``
    ...) in ``language``; any other text (a law or study cited by name) as it is."""
    value = "" if source is None else str(source)
    for pattern, code in _SOURCES:
        m = pattern.fullmatch(value)
        if m:
            parts = m.groupdict()
            if f"price_case_{parts.get('case')}" in catalogue(language):
                parts["case"] = text(f"price_case_{parts['case']}", language)
            return text(code, language, **parts)
    return value
