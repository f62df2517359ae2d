"""Crisis detection: normalise, mask hyperbole, then look for the tiers of domain_ja.md §5.

A triage aid, not a diagnosis: it errs towards answering with care. The words live in
messages_ja (crisis); this module only knows how to compare them.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from messages_ja import catalog

# Tiers, most serious first. The first tier found decides the answer.
TIERS = ("medical", "urgent", "violence", "high", "medium")
# small hiragana a i u e o ya yu yo wa tsu: elongation like "shinitaai" written with small kana
_SMALL = str.maketrans("", "", "\u3041\u3043\u3045\u3047\u3049\u3083\u3085\u3087\u308e\u3063")
_TAHI = ("\u30bf\u30d2", "\uff80\uff8b")        # katakana TA+HI (full and half width), written for "shi" (death)
_DEATH = "\u6b7b"
_LONG = "\u30fc\uff5e\u301c~"                   # long-vowel mark and wave dashes
_DROP = {"Mn", "Me", "Cf", "Zs", "Zl", "Zp", "Cc", "So", "Sk", "Sm", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"}


def normalise(text: str) -> str:
    """Fold everything that can disguise a word: width, case, katakana, spacing, symbols, emoji,
    combining marks, elongation (long-vowel marks, small kana, repeats), and TA+HI for death."""
    text = unicodedata.normalize("NFKC", text)
    for tahi in _TAHI:
        text = text.replace(tahi, _DEATH)
    out = []
    for ch in text:
        code = ord(ch)
        if 0x30A1 <= code <= 0x30F6:          # katakana -> hiragana
            ch = chr(code - 0x60)
        if ch in _LONG:
            continue
        if unicodedata.category(ch) in _DROP:
            continue
        out.append(ch)
    folded = "".join(out).casefold().translate(_SMALL)
    return re.sub(r"(.)\1{2,}", r"\1", folded)   # a character held three times or more counts once


@dataclass(frozen=True)
class Detection:
    tier: str | None
    about_other: bool = False


def _needle(word: str) -> tuple[str, re.Pattern | None]:
    n = normalise(word)
    if n.isascii():     # short latin words (OD) only as a word of their own, never inside "good"
        return n, re.compile(rf"(?<![a-z]){re.escape(n)}(?![a-z])")
    return n, None


@lru_cache(maxsize=1)
def _lexicon():
    c = catalog().crisis
    tiers = {t: [_needle(w) for w in c.get(t, [])] for t in TIERS}
    negative = sorted({normalise(w) for w in c.get("negative", [])}, key=len, reverse=True)
    others = [normalise(w) for w in catalog().crisis.get("others", [])]
    return tiers, negative, others


def detect(text: str) -> Detection:
    if not text:
        return Detection(None)
    tiers, negative, others = _lexicon()
    norm = normalise(text)
    for phrase in negative:
        norm = norm.replace(phrase, "|")
    for tier in TIERS:
        for needle, pattern in tiers[tier]:
            if (pattern.search(norm) if pattern else needle in norm):
                return Detection(tier, about_other=any(o in norm for o in others))
    return Detection(None)
