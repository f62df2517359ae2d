"""What a typed message means: intents as data (messages_ja/understanding.toml) over the tokens
of the language layer, places (flows/places.py), and who the message is about.

`understand(analysis, state, data)` → Understood(trigger, arg, intent, lane, place). The
patterns are compiled once per process: each word of a pattern is analysed by the same analyser
as the person's message, so a pattern compares lemmas (every form of a verb, every spelling of a
noun), and an
inverted index on each pattern's first word keeps the work per message small.
"""
from __future__ import annotations

import threading
import tomllib
from dataclasses import dataclass
from importlib import resources

from . import language
try:
    from . import places
except ImportError:   # TEMP until places lands
    places = None
from .language import Analysis

UNDERSTANDING_FILE = "understanding.toml"
MAX_GAP = 6                 # words allowed between two words of a pattern
WEIGHT_PER_WORD = 0.5       # a pattern that covers more words is more specific
# Intents that a place in the same message turns into "the windows near there".
PLACE_WINS = frozenset({None, "find_local", "info_support", "tell_self", "tell_family", "choose_self",
                        "choose_family", "choose_other", "greeting", "feeling", "want_local", "phone"})
# Short answers, resolved by the question the bot asked last (data["asked"], a choice set id).
ANSWERS = {
    "handoff_confirm": {"yes": "handoff_yes", "no": "handoff_no"},
    "handoff_confirm_off": {"yes": "handoff_yes", "no": "handoff_no"},
    "forget_confirm": {"yes": "forget_yes", "no": "forget_no"},
    "crisis": {"yes": "crisis_human", "no": "crisis_later"},
    "crisis_off": {"yes": "crisis_human", "no": "crisis_later"},
    "still_waiting": {"yes": "keep_waiting", "no": "stop"},
}


@dataclass(frozen=True)
class Understood:
    trigger: str | None
    arg: str = ""
    intent: str | None = None
    lane: str | None = None        # the lane the words show (a parent writing about a child …)
    place: object = None
    score: float = 0.0


@dataclass(frozen=True)
class _Word:
    alts: tuple[tuple[str, ...], ...]   # each alternative: consecutive lemmas
    kana: tuple[str, ...] = ()          # or: folded readings to compare

    @property
    def single(self) -> frozenset[str]:
        return self.__dict__["_single"]

    def __post_init__(self):
        # one-word alternatives as a set (one lookup), longer ones tried first
        object.__setattr__(self, "_single", frozenset(a[0] for a in self.alts if len(a) == 1))
        object.__setattr__(self, "_multi", tuple(sorted((a for a in self.alts if len(a) > 1), key=len, reverse=True)))


@dataclass(frozen=True)
class _Pattern:
    intent: str
    words: tuple[_Word, ...]
    negation: str          # "no" (default), "any", "only"
    question: bool
    size: int              # tokens covered, for specificity


def _load() -> dict:
    return tomllib.loads(resources.files("messages_ja").joinpath(UNDERSTANDING_FILE).read_text("utf-8"))


def _lemmas_of(text: str) -> tuple[str, ...]:
    return tuple(t.lemma for t in language.analyse(text).tokens if t.pos != language.BLANK)


def _lemmas_between(before: str, word: str, after: str) -> tuple[str, ...]:
    """The lemmas of `word` as the analyser reads it between `before` and `after`."""
    lemmas, at, start, end = [], 0, len(before), len(before) + len(word)
    for t in language.analyse(before + word + after).tokens:
        if start <= at < end:
            lemmas.append(t.lemma)
        at += len(t.surface)
    return tuple(lemmas) or _lemmas_of(word)


class Lexicon:
    def __init__(self, raw: dict):
        self.classes = {name: [_lemmas_of(w) for w in words] for name, words in raw.get("classes", {}).items()}
        self.intents = raw["intents"]
        self.order = {name: i for i, name in enumerate(self.intents)}
        self.by_first: dict[str, list[_Pattern]] = {}
        self.unanchored: list[_Pattern] = []
        self.unless: dict[str, list[_Pattern]] = {}
        for name, spec in self.intents.items():
            for text in spec.get("patterns", ()):
                self._add(self._compile(name, text))
            self.unless[name] = [self._compile(name, t) for t in spec.get("unless", ())]

    @staticmethod
    def _rep(part: str) -> str:
        """How a pattern word reads in the sentence the pattern is analysed as: its first
        alternative (a class: its first member)."""
        first = part.lstrip("~").split("|")[0]
        return first if not first.startswith("@") else ""

    def _word(self, parts: list[str], w: int) -> _Word:
        """Pattern word w, analysed inside the whole pattern (so a particle reads as the particle
        it is there, not as whatever it might be on its own)."""
        text = parts[w]
        if text.startswith("~"):
            return _Word(alts=(), kana=tuple(language.fold(a) for a in text[1:].split("|")))
        before = "".join(self._rep(p) for p in parts[:w])
        after = "".join(self._rep(p) for p in parts[w + 1:])
        alts: list[tuple[str, ...]] = []
        for alt in text.split("|"):
            if alt.startswith("@"):
                alts.extend(self.classes[alt[1:]])
            else:
                alts.append(_lemmas_between(before, alt, after))
        return _Word(alts=tuple(a for a in alts if a))

    def _compile(self, intent: str, text: str) -> _Pattern:
        negation = "no"
        if text[:1] == "*":
            negation, text = "any", text[1:]
        elif text[:1] == "!":
            negation, text = "only", text[1:]
        parts = text.split()
        question = bool(parts) and parts[-1] == "?" and len(parts) > 1
        if question:
            parts = parts[:-1]
        words = tuple(self._word(parts, w) for w in range(len(parts)))
        size = sum(min((len(a) for a in w.alts), default=1) for w in words)
        return _Pattern(intent=intent, words=words, negation=negation, question=question, size=size)

    def _add(self, p: _Pattern) -> None:
        first = p.words[0]
        if first.kana or not first.alts:
            self.unanchored.append(p)
            return
        for alt in first.alts:
            self.by_first.setdefault(alt[0], []).append(p)

    # -- matching ---------------------------------------------------------------------------
    @staticmethod
    def _at(keys: list[frozenset], kana: list[str], word: _Word, i: int) -> int:
        """Tokens covered if `word` matches at token i, else 0."""
        if word.kana:
            for want in word.kana:
                acc = ""
                for j in range(i, min(i + 6, len(kana))):
                    acc += kana[j]
                    if acc == want:
                        return j - i + 1
                    if not want.startswith(acc):
                        break
            return 0
        n = len(keys)
        for alt in word.__dict__["_multi"]:
            if i + len(alt) <= n and all(alt[k] in keys[i + k] for k in range(len(alt))):
                return len(alt)
        return 1 if not word.__dict__["_single"].isdisjoint(keys[i]) else 0

    def _match(self, p: _Pattern, a: Analysis, keys, kana, starts) -> bool:
        if p.question and not a.question:
            return False
        for start in starts:
            covered = self._at(keys, kana, p.words[0], start)
            if not covered:
                continue
            pos, last = start + covered, start + covered - 1
            ok = True
            for word in p.words[1:]:
                found = 0
                for j in range(pos, min(pos + MAX_GAP + 1, len(keys))):
                    found = self._at(keys, kana, word, j)
                    if found:
                        pos, last = j + found, j + found - 1
                        break
                if not found:
                    ok = False
                    break
            if not ok:
                continue
            negated = a.negated_at(last)
            if p.negation == "only" and not negated:
                continue
            if p.negation == "no" and negated and not (a.question and a.tokens_after_is_end(last)):
                continue            # ("can't I talk with someone?" is a request, not a refusal)
            return True
        return False

    def scores(self, a: Analysis) -> dict[str, float]:
        keys = [frozenset((t.lemma, t.base, t.surface)) for t in a.tokens]
        kana = [language.fold(t.reading) for t in a.tokens]
        # the patterns whose first word occurs, with the positions where it does
        found: dict[str, float] = {}
        seen: dict[int, tuple[_Pattern, list[int]]] = {}
        for i, k in enumerate(keys):
            for key in k:
                for p in self.by_first.get(key, ()):
                    entry = seen.setdefault(id(p), (p, []))
                    if not entry[1] or entry[1][-1] != i:
                        entry[1].append(i)
        pool = list(seen.values()) + [(p, list(range(len(keys)))) for p in self.unanchored]
        size = len(a.plain)
        for p, starts in pool:
            limit = self.intents[p.intent].get("max_chars")
            if limit and size > limit:
                continue
            score = self.intents[p.intent].get("weight", 0) + WEIGHT_PER_WORD * p.size
            if score <= found.get(p.intent, -1):
                continue
            if self._match(p, a, keys, kana, starts):
                found[p.intent] = score
        for intent in list(found):
            if any(self._match(u, a, keys, kana, range(len(keys))) for u in self.unless[intent]):
                del found[intent]
        return found


_LEXICON: Lexicon | None = None
_BUILD = threading.Lock()


def lexicon() -> Lexicon:
    global _LEXICON
    if _LEXICON is None:
        with _BUILD:
            if _LEXICON is None:
                _LEXICON = Lexicon(_load())
    return _LEXICON


def _lane_of(a: Analysis, lex: Lexicon) -> str | None:
    """A family member named as the subject or topic (my son + ga/wa …) shows the family lane."""
    fam = {alt[0] for alt in lex.classes.get("family", ()) if len(alt) == 1}
    toks = a.tokens
    for i, t in enumerate(toks):
        if t.lemma in fam and t.pos in (language.NOUN, language.PRONOUN):
            nxt = toks[i + 1].surface if i + 1 < len(toks) else ""
            prev = toks[i - 1].surface if i else ""
            if nxt in _TOPIC or prev in _OWNER:
                return "family"
    return None


_TOPIC = frozenset(language.W["topic_particles"])
_OWNER = frozenset(language.W["owner_words"])


def understand(a: Analysis, state: str, data: dict) -> Understood:
    """The best reading of a typed message in this state; trigger "fallback" when none."""
    lex = lexicon()
    scores = lex.scores(a)
    for name in list(scores):
        allowed = lex.intents[name].get("states")
        if allowed and state not in allowed:
            del scores[name]
    place = places.find(a) if places else None
    lane = _lane_of(a, lex)
    best = max(scores, key=lambda n: (scores[n], -lex.order[n]), default=None)
    asked = data.get("asked") or ""
    if best in ("yes", "no"):
        mapped = ANSWERS.get(asked, {}).get(best)
        if mapped is None:
            del scores[best]
            best = max(scores, key=lambda n: (scores[n], -lex.order[n]), default=None)
        else:
            return Understood(mapped, "", best, lane, place, scores.get(best, 0))
    if place and best in PLACE_WINS:
        if place.city_code:
            return Understood("city", place.city_code, "place", lane, place, 10)
        return Understood("pref", place.pref, "place", lane, place, 10)
    if best is None:
        return Understood("fallback", "", None, lane, place)
    spec = lex.intents[best]
    return Understood(spec["trigger"], spec.get("arg", ""), best, spec.get("lane") or lane, place, scores[best])
