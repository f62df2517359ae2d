"""What a person's input means: which trigger of the machine it fires.

Words people type are language, so the keyword lists live in messages_ja (keywords). Quick
replies are postbacks with data "t=<trigger>", accepted only for triggers a person may fire.
"""
from __future__ import annotations

import unicodedata

from messages_ja import ARG_SEP, POSTBACK_PREFIX, catalog

from .model import Event



def normalise(text: str) -> str:
    """Width, case and spacing folded, so full-width or spaced input matches its keyword."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if not ch.isspace())


def _kana(text: str) -> str:
    """Katakana folded to hiragana, so a name typed in katakana reads like its hiragana form."""
    return "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in text)


def _keyword_index() -> dict[str, tuple[str, str]]:
    """Typed words → (trigger, argument): the catalogue's keywords, then regions and prefectures."""
    cat = catalog()
    index: dict[str, tuple[str, str]] = {}
    for key, region in cat.places["regions"].items():
        index[_kana(normalise(region["label"]))] = ("region", key)
    for code, pref in cat.places["prefs"].items():
        for word in (pref["name"], pref["short"], *pref["kana"]):
            index[_kana(normalise(word))] = ("pref", code)
    for trigger, words in cat.keywords.items():
        for w in words:
            index[_kana(normalise(w))] = (trigger, "")
    return index


_INDEX: dict[str, tuple[str, str]] | None = None
NOTHING = (None, "")


def classify(event: Event, triggers: set[str]) -> tuple[str | None, str]:
    """(trigger, argument) for this event; trigger None when nothing should be said (an unsend)."""
    global _INDEX
    if event.in_group:
        return ("group_join", "") if event.kind == "join" else NOTHING
    kind = event.kind
    if kind in ("follow", "unfollow", "sticker"):
        return kind, ""
    if kind in ("media", "location"):
        return "media", ""
    if kind == "postback":
        if event.data.startswith(POSTBACK_PREFIX):
            value = event.data[len(POSTBACK_PREFIX):]
            trigger, _, arg = value.partition(ARG_SEP)
            if trigger in triggers and value in catalog().user_triggers:
                return trigger, arg
        return "fallback", ""
    if kind == "text":
        if _INDEX is None:
            _INDEX = _keyword_index()
        return _INDEX.get(_kana(normalise(event.text)), ("fallback", ""))
    return NOTHING
