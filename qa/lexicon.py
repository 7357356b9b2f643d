"""The word lists `qa` uses, as data: ``lexicon.json`` beside this module (package data).

* ``person_nouns``: nouns naming a person by role ("which prime minister …" asks for a person),
  for follow-up resolution (:mod:`qa.questions`); ``context_words``: words that point back
  to the conversation without a pronoun ("Who else …?", "What other …?"), so a question holding
  one is a follow-up;
* ``number_words`` and ``scale_words``: figures written in words, to compare figures across
  sources; ``months`` and ``time_units``: dates and lengths of time, which are not such figures
  (:mod:`qa.read.figures`).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def lexicon() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (resources.files("qa") / "lexicon.json").read_text(encoding="utf-8")
    )
    return data
