"""Reading a figure ("about 1,000", "$68 million", "two dozen") as a number, to tell whether two
sources give different figures for the same thing. The number and scale words are data
(:mod:`qa.lexicon`)."""

from __future__ import annotations

import re

from qa.lexicon import lexicon

_DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")


_YEAR = re.compile(r"\b(?:1[5-9]|20)\d{2}\b(?!,\d)")


def is_figure(text: str) -> bool:
    """Whether a short answer is a quantity that sources could disagree on: it has a number and
    is not a date, a year or a length of time ("June 25, 2024", "2023", "one year")."""
    low = text.lower()
    words = set(re.findall(r"[a-z]+", low))
    lex = lexicon()
    if words & set(lex["months"]) or words & set(lex["time_units"]) or _YEAR.search(low):
        return False
    return parse_figure(text) is not None


def parse_figure(text: str) -> float | None:
    """The value of a figure span, or None when it holds no number."""
    low = text.lower()
    lex = lexicon()
    m = _DIGITS.search(low)
    if m:
        value, rest = float(m.group(0).replace(",", "")), low[m.end() :]
    else:
        for word, v in lex["number_words"].items():
            hit = re.search(rf"\b{re.escape(word)}\b", low)
            if hit:
                value, rest = float(v), low[hit.end() :]
                break
        else:
            return None
    for word, mult in lex["scale_words"].items():
        if re.match(rf"\s?{re.escape(word)}\b", rest):
            return value * float(mult)
    return value
