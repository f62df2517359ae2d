"""What a person's input means: which trigger of the machine it fires.

Words people type are language, so the keyword lists live in messages_ja (keywords). Quick
replies are postbacks with data "t=<trigger>", accepted only for triggers a person may fire.
"""
from __future__ import annotations

import unicodedata

from messages_ja import POSTBACK_PREFIX, catalog

from .model import Event



def normalise(text: str) -> str:
    """Width, case and spacing folded, so full-width or spaced input matches its keyword."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if not ch.isspace())


def _keyword_index() -> dict[str, str]:
    index = {}
    for trigger, words in catalog().keywords.items():
        for w in words:
            index[normalise(w)] = trigger
    return index


_INDEX: dict[str, str] | None = None


def classify(event: Event, triggers: set[str]) -> str | None:
    """The trigger for this event, or None when nothing should be said (e.g. an unsend)."""
    global _INDEX
    if event.in_group:
        return "group_join" if event.kind == "join" else None
    kind = event.kind
    if kind in ("follow", "unfollow", "sticker"):
        return kind
    if kind in ("media", "location"):
        return "media"
    if kind == "postback":
        if event.data.startswith(POSTBACK_PREFIX):
            trigger = event.data[len(POSTBACK_PREFIX):]
            if trigger in triggers and trigger in catalog().user_triggers:
                return trigger
        return "fallback"
    if kind == "text":
        if _INDEX is None:
            _INDEX = _keyword_index()
        return _INDEX.get(normalise(event.text), "fallback")
    return None
