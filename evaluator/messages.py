"""Messages the evaluator writes for an officer to read, in Korean and English.

The computation never formats prose itself: it returns :class:`Message` objects (a code and its
numbers) and the catalogue (``evaluator/data/messages/<language>.toml``) words them. The CLI
prints English; the app and the report use the officer's language. One catalogue, so the same
reason reads the same on the screen, in the workbook and on the command line.
"""

from __future__ import annotations

import functools
import string
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


class _Wording(string.Formatter):
    """Fills a template; ``{mineral:@mineral}`` words the parameter, a code, by the catalogue key
    ``mineral_<value>`` of the same language (the value as it is when the catalogue has no such key);
    ``{amount:@krw}`` writes an amount [KRW bn] in the language's unit (:func:`evaluator.krw.krw_text`);
    ``{amount:@krw_bn}`` an amount [KRW bn] the engine wrote as a number: as written in English (the template
    says "KRW bn"), in 억원 with its unit in Korean."""

    def __init__(self, language: str):
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "@krw_bn":  # an amount [KRW bn] the engine wrote as a number: in English as written
            if self.language == "en":    # (the template words "KRW bn"), in Korean in 억원 with its unit
                return str(value)
            from evaluator.krw import krw_text

            try:
                return krw_text(float(str(value).replace(",", "")), self.language)
            except ValueError:
                return str(value)
        if format_spec == "@krw":  # an amount [KRW bn] in the officer's unit (억원 in Korean)
            from evaluator.krw import krw_text

            return krw_text(value, self.language)
        if format_spec.startswith("@"):
            key = f"{format_spec[1:]}_{value}"
            return text(key, self.language) if key in catalogue(self.language) else str(value)
        return super().format_field(value, format_spec)


def text(code: str, language: str = "en", **params: Any) -> str:
    """The message ``code`` worded in ``language`` with ``params`` filled in (a parameter that is
    itself a :class:`Message` is worded in the same language; ``{name:@prefix}`` words a code
    parameter by the catalogue key ``prefix_<value>``)."""
    params = {k: v.text(language) if isinstance(v, (Message, Joined)) else v for k, v in params.items()}
    template = catalogue(language)[code]
    if ":@" in template:
        return _Wording(language).vformat(template, (), params)
    return template.format(**params)


def codes() -> set[str]:
    """Every message code (the keys both catalogues hold)."""
    return set(catalogue("en"))


@dataclass(frozen=True)
class Message:
    """One message: its catalogue code and the values it quotes."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def text(self, language: str = "en") -> str:
        return text(self.code, language, **self.params)

    def __hash__(self) -> int:  # the params mapping is not hashable itself; its values are
        return hash((self.code, tuple(sorted(self.params.items()))))

    def record(self) -> dict:
        """The message as JSON-ready data: ``{"code": ..., "params": {...}}`` (a parameter that is
        itself a message as its own record)."""
        return {"code": self.code, "params": {k: _record(v) for k, v in self.params.items()}}


def from_record(record: Mapping) -> "Message":
    """The :class:`Message` of :meth:`Message.record` (a parameter given as a record or a list of
    records is a message, or several joined, again)."""
    def value(v):
        if isinstance(v, Mapping) and set(v) == {"code", "params"}:
            return from_record(v)
        if isinstance(v, list):
            return Joined(tuple(value(p) for p in v))
        return v
    return Message(str(record["code"]), {k: value(v) for k, v in dict(record.get("params") or {}).items()})


def _record(value: Any) -> Any:
    if isinstance(value, Message):
        return value.record()
    if isinstance(value, Joined):
        return [_record(p) for p in value.parts]
    return value


def word(value: Any, language: str = "en") -> str:
    """A value that is a :class:`Message` (or :class:`Joined`) worded in ``language``; text (a law
    or a study cited by name, an officer's own words) as it is; None and NaN as ``""``."""
    if isinstance(value, (Message, Joined)):
        return value.text(language)
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


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
