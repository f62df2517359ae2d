"""What a typed message means: intents as data (messages_ja/understanding.toml) over the tokens
of the language layer, places (flows/places.py), and who the message is about.

`understand(analysis, state, data)` → Understood(trigger, arg, intent, lane, place). The
patterns are compiled once per process: each word of a pattern is analysed by the same analyser
as the person's message, so a pattern compares lemmas (every form of a verb, every spelling of a
noun), and an
inverted index on each pattern's first word keeps the work per message small.
"""
from __future__ import annotations

import collections
import itertools
import re
import tomllib
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from importlib import resources

from . import language
try:
    from . import places
except ImportError:   # TEMP until places lands
    places = None
from .context import FOLLOW_UP, PERSON_BAR
from .language import Analysis
from .once import once

UNDERSTANDING_FILE = "understanding.toml"
MAX_GAP = 6                 # words allowed between two words of a pattern
KANA_SPAN = 12              # tokens a kana word (a whole denial, eight tokens or more) may run over
WEIGHT_PER_WORD = 0.5       # a pattern that covers more words is more specific
POINTS_BACK = tuple(language.W["points_back"])
LAST_SENTENCE_BONUS = 1.0   # in a paragraph, what the last sentence asks
BOTH_WITHIN = 0.5           # a second question in the same clause: scoring this close to the first
BOTH_APART = 3              # ... with its words beginning this many words or more from the first's
GOODBYE = "goodbye"
# Intents that a place in the same message turns into "the windows near there".
PLACE_WINS = frozenset({None, "find_local", "info_support", "tell_self", "tell_family", "choose_self",
                        "choose_family", "choose_other", "greeting", "feeling", "want_local", "phone",
                        "support_more", "want_human_soft", "apology", "thanks"})
# The confirmation that also asked where they live (a deployment with teams; flows/machine.py)
PLACE_QUESTION = "handoff_confirm_place"
# Short answers, resolved by the question the bot asked last (data["asked"], a choice set id).
ANSWERS = {
    "handoff_confirm": {"yes": "handoff_yes", "no": "handoff_no"},
    "handoff_confirm_off": {"yes": "handoff_yes", "no": "handoff_no"},
    "forget_confirm": {"yes": "forget_yes", "no": "forget_no"},
    "crisis": {"yes": "crisis_human", "no": "crisis_later"},
    "crisis_off": {"yes": "crisis_human", "no": "crisis_later"},
    "still_waiting": {"yes": "keep_waiting", "no": "stop"},
    "ask_risk": {"yes": "crisis_high", "no": "ask_risk_no"},
    "ask_risk.medical": {"yes": "crisis_medical", "no": "ask_risk_no"},
    "ask_risk.violence": {"yes": "crisis_violence_family", "no": "ask_risk_no"},
    "ask_risk.violence_partner": {"yes": "crisis_violence_partner", "no": "ask_risk_no"},
    "ask_risk.violence_by_me": {"yes": "crisis_violence_by_me", "no": "ask_risk_no"},
    "cancel_confirm": {"yes": "stop", "no": "keep_waiting"},
}
TENTATIVE = tuple(language.W.get("tentative", ()))
# (a word of them inside a verb is not one: ika-na-kya, "I have to go", holds ka-na)
_TENTATIVE = re.compile("|".join(re.escape(w) + "(?![" + language.W.get("tentative_not_before", "") + "])"
                                 for w in TENTATIVE) or "(?!)")


_NOT_A_JOKE = frozenset(language.W.get("not_a_joke", ()))


def affirms(a: Analysis) -> bool:
    """"It is no joke", "it's not a lie" (a joke-word negated): said to the direct question
    about a risk, a yes."""
    return any(t.lemma in _NOT_A_JOKE and a.negated_at(i) for i, t in enumerate(a.tokens))


# (the analyser's sentence ends, with the full stop and the ellipsis it drops from the tokens)
_SENTENCE_ENDS = re.compile("(?:[" + re.escape("".join(language.W["sentence_ends"]) + "\u3002\u2026")
                            + "]|\\.{2,})+")


def tentative(a: Analysis, last: bool = False) -> bool:
    """A hesitation rather than a decision ("maybe I'll stop…"); `last`: in the last sentence, so a
    decision after it stands ("maybe I'll stop… another day, so take me out of the line")."""
    text = a.text
    if last:
        sentences = [part for part in _SENTENCE_ENDS.split(a.raw or a.text) if part.strip()]
        text = sentences[-1] if sentences else ""
    return bool(_TENTATIVE.search(text))


@dataclass(frozen=True)
class Understood:
    trigger: str | None
    arg: str = ""
    intent: str | None = None
    lane: str | None = None        # the lane the words show (a parent writing about a child …)
    place: object = None
    score: float = 0.0
    scores: dict = field(default_factory=dict, compare=False, repr=False)   # every intent found


@dataclass(frozen=True)
class _Word:
    alts: tuple[tuple[str, ...], ...]   # each alternative: consecutive lemmas
    kana: tuple[str, ...] = ()          # or: folded readings to compare
    # (a veto's word written in kanji: never the same sound written in hiragana, as the Tosa
    # "eiga yo" (it is good) is not eiga, a film, and so vetoes no wish to die)
    kanji: bool = False
    # one-word alternatives as a set (one lookup each), longer ones tried first
    single: frozenset[str] = field(init=False, compare=False, repr=False)
    multi: tuple[tuple[str, ...], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "single", frozenset(a[0] for a in self.alts if len(a) == 1))
        object.__setattr__(self, "multi", tuple(sorted((a for a in self.alts if len(a) > 1), key=len, reverse=True)))


@dataclass(frozen=True)
class _Pattern:
    intent: str
    words: tuple[_Word, ...]
    negation: str          # "no" (default), "any", "only"
    question: bool
    size: int              # tokens covered, for specificity
    score: float = 0.0     # the intent's weight + specificity: the order patterns are tried in
    seq: int = 0           # (ties: the catalogue's order)
    needs: tuple[frozenset[str], ...] = ()   # per word read as lemmas: the lemmas it can begin with
    max_chars: int = 10 ** 9                   # the intent's max_chars (longer messages are not it)
    rank: int = 0          # place in the best-first order of all patterns (set once all are compiled)


def _load() -> dict:
    return tomllib.loads(resources.files("messages_ja").joinpath(UNDERSTANDING_FILE).read_text("utf-8"))


_KANJI_WORD = re.compile("[\u4e00-\u9fff\u3005]+")
_HIRAGANA_WORD = re.compile("[\u3041-\u309f\u30fc]+")
NEG = "\x00neg"       # every negating ending is one word to a pattern: nai, n, hen, nee (dialects)


def _is_negation(t) -> bool:
    return t.pos in (language.AUX, language.ADJ) and (t.lemma in language.NEGATIONS or t.surface in language.NEGATIONS)


def _lemmas_of(text: str) -> tuple[str, ...]:
    return tuple(t.lemma for t in language.analyse(text).tokens if t.pos != language.BLANK)


def _lemmas_between(before: str, word: str, after: str, *, as_written: bool = False) -> tuple[str, ...]:
    """The lemmas of `word` as the analyser reads it between `before` and `after` (or, as_written,
    its dictionary forms as written: UniDic's lemma joins homophones such as sasu = pierce,
    point, shine; "=" in a pattern asks for the written form)."""
    lemmas, at, start, end = [], 0, len(before), len(before) + len(word)
    for t in language.analyse(before + word + after).tokens:
        if start <= at < end:
            lemmas.append(NEG if _is_negation(t) else t.base if as_written else t.lemma)
        at += len(t.surface)
    return tuple(lemmas) or _lemmas_of(word)


def _best_first(p: _Pattern) -> tuple[float, int]:
    """Patterns are tried best first: highest score, then the catalogue's order."""
    return -p.score, p.seq


class Lexicon:
    def __init__(self, raw: dict):
        self._interned: dict[_Word, _Word] = {}
        self._seq = itertools.count()
        # words allowed between two words of an `unless` pattern (understanding.toml 2, crisis.toml
        # 1): a veto is its phrase, not its first word and any particle six words on
        self.veto_gap = int(raw.get("veto_gap", MAX_GAP))
        self.class_words = raw.get("classes", {})
        self.classes = {name: [_lemmas_of(w) for w in words] for name, words in raw.get("classes", {}).items()}
        self.intents = raw["intents"]
        self.order = {name: i for i, name in enumerate(self.intents)}
        self.by_anchor: dict[str, list[_Pattern]] = {}
        self.unanchored: list[_Pattern] = []
        self.by_kana: dict[str, list[_Pattern]] = {}
        self.unless: dict[str, list[_Pattern]] = {}
        patterns = []
        for name, spec in self.intents.items():
            patterns += [self._compile(name, text) for text in spec.get("patterns", ())]
            self.unless[name] = [self._compile(name, t, veto=True) for t in spec.get("unless", ())]
        patterns = [replace(p, rank=i) for i, p in enumerate(sorted(patterns, key=_best_first))]
        common = collections.Counter(alt[0] for p in patterns for w in set(p.words) for alt in w.alts)
        for p in patterns:
            self._add(p, common)
        self.place_unless = [self._compile("place", t) for t in raw.get("places", {}).get("unless", ())]

    def _rep(self, part: str) -> str:
        """How a pattern word reads in the sentence the pattern is analysed as: its first
        alternative (a class: its first member)."""
        first = part.lstrip("~=").split("|")[0]
        return self.class_words[first[1:]][0] if first.startswith("@") else first

    def _word(self, parts: list[str], w: int, veto: bool = False) -> _Word:
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
            elif alt.startswith("="):
                alts.append(_lemmas_between(before, alt[1:], after, as_written=True))
            else:
                alts.append(_lemmas_between(before, alt, after))
        return _Word(alts=tuple(a for a in alts if a), kanji=veto and bool(_KANJI_WORD.fullmatch(text)))

    def _compile(self, intent: str, text: str, veto: bool = False) -> _Pattern:
        negation = "no"
        if text[:1] == "*":
            negation, text = "any", text[1:]
        elif text[:1] == "!":
            negation, text = "only", text[1:]
        parts = text.split()
        question = bool(parts) and parts[-1] == "?" and len(parts) > 1
        if question:
            parts = parts[:-1]
        # the same word in many patterns is one object, so a message works out its matches once
        words = tuple(self._interned.setdefault(w, w) for w in (self._word(parts, i, veto) for i in range(len(parts))))
        size = sum(min((len(a) for a in w.alts), default=1) for w in words)
        score = self.intents.get(intent, {}).get("weight", 0) + WEIGHT_PER_WORD * size
        needs = tuple(frozenset(alt[0] for alt in w.alts) for w in words if w.alts and not w.kana)
        return _Pattern(intent=intent, words=words, negation=negation, question=question, size=size,
                        score=score, seq=next(self._seq), needs=needs,
                        max_chars=self.intents.get(intent, {}).get("max_chars", 10 ** 9))

    def _add(self, p: _Pattern, common: collections.Counter) -> None:
        """Index the pattern by its anchor: the word whose alternatives begin with the rarest
        lemmas (a pattern can only match a message holding one of them). Not a family word
        with its dozens of spellings or a word in a hundred patterns, when the pattern has a
        rarer one: a message then tries a few patterns, not every one naming a son."""
        words = [w for w in p.words if w.alts and not w.kana]
        if not words:
            # a pattern of kana words only: it can only match a message whose reading holds one
            # of its first word's kana spellings (as `_Message.hits` requires)
            kana = next((w.kana for w in p.words if w.kana), ())
            if not kana:
                self.unanchored.append(p)
            for k in set(kana):
                self.by_kana.setdefault(k, []).append(p)
            return
        anchor = min(words, key=lambda w: sum(common[alt[0]] for alt in w.alts))
        for first in {alt[0] for alt in anchor.alts}:
            self.by_anchor.setdefault(first, []).append(p)

    # -- matching ---------------------------------------------------------------------------
    def _match(self, p: _Pattern, m: "_Message", gap: int = MAX_GAP) -> int | None:
        """Where the pattern's first word matches (token index), or None. ``gap``: words allowed
        between two of its words."""
        a = m.analysis
        if p.question and not a.question:
            return None
        present = m.index.keys()
        for need in p.needs:          # a word none of whose lemmas is in the message: no match
            if present.isdisjoint(need):
                return None
        for start, covered in m.hits(p.words[0]):
            pos, last = start + covered, start + covered - 1
            for word in p.words[1:]:
                hits = m.hits(word)
                j = bisect_left(hits, (pos, 0))
                if j == len(hits) or hits[j][0] > pos + gap:
                    break
                pos, last = hits[j][0] + hits[j][1], hits[j][0] + hits[j][1] - 1
            else:
                negated = a.negated_at(last)
                if p.negation == "only" and not negated:
                    continue
                if p.negation == "no" and negated and not (a.question and a.tokens_after_is_end(last)):
                    continue        # ("can't I talk with someone?" is a request, not a refusal)
                if p.negation == "no" and a.denied_at(last):
                    continue        # ("nothing like a wish to die": denied as a topic)
                return start
        return None

    def scores(self, a: Analysis) -> dict[str, float]:
        return {intent: score for intent, (score, _) in self.matches(a).items()}

    def matches(self, a: Analysis, vetoed: dict | None = None) -> dict[str, tuple[float, int]]:
        """intent → (score of its best pattern, token where that pattern begins). `vetoed`, when
        given, receives the intents found and then vetoed by an `unless`: (score, token where the
        pattern begins, tokens where each veto that matched begins)."""
        m = _Message.of(a)
        found: dict[str, tuple[float, int]] = {}
        pool = {p.rank: p for p in self.unanchored}
        by_anchor = self.by_anchor
        for key in m.index:
            for p in by_anchor.get(key, ()):
                pool[p.rank] = p
        kana = a.kana
        for k, patterns in self.by_kana.items():
            if k in kana:
                for p in patterns:
                    pool[p.rank] = p
        size = len(a.plain)
        for rank in sorted(pool):              # best first (ranks are that order)
            p = pool[rank]
            if p.intent in found or p.max_chars < size:
                continue
            start = self._match(p, m)
            if start is not None:
                found[p.intent] = (p.score, start)
        for intent in list(found):
            if vetoed is None:
                if any(self._match(u, m, self.veto_gap) is not None for u in self.unless[intent]):
                    del found[intent]
                continue
            where = tuple(at for at in (self._match(u, m, self.veto_gap) for u in self.unless[intent]) if at is not None)
            if where:
                vetoed[intent] = (*found.pop(intent), where)
        return found

    def vetoes_only_denials_before(self, a: Analysis, intent: str, cut: int) -> bool:
        """Whether every `unless` of the intent that matches is a denial (a negated word in it)
        that begins before token ``cut``: "I'd like to say I don't want to die" before a "but"."""
        m = _Message.of(a)
        for u in self.unless.get(intent, ()):
            start = self._match(u, m, self.veto_gap)
            if start is not None and (start >= cut or not any(NEG in alt for w in u.words for alt in w.alts)):
                return False
        return True

    def vetoed(self, a: Analysis, intent: str) -> bool:
        """Whether one of the intent's `unless` patterns matches."""
        m = _Message.of(a)
        return any(self._match(u, m, self.veto_gap) is not None for u in self.unless.get(intent, ()))

    def place_doubt(self, a: Analysis) -> bool:
        """A place named in passing (a trip, a famous sight), not where the person is."""
        m = _Message.of(a)
        return any(self._match(p, m) is not None for p in self.place_unless)


class _Message:
    """One message's tokens, indexed for matching: where each lemma occurs, and where each
    pattern word matches (worked out once per word, shared by every pattern using it)."""

    @staticmethod
    def of(a: Analysis) -> "_Message":
        """The message's index, built once per analysis: crisis detection, understanding and
        their vetoes share it (a word's matches are memoised by the word, and words are
        never shared between lexicons, so one memo serves them all)."""
        m = a.__dict__.get("_matching")       # (a frozen dataclass: cached beside its own fields)
        if m is None:
            m = a.__dict__["_matching"] = _Message(a)
        return m

    def __init__(self, a: Analysis):
        self.analysis = a
        self.keys = [frozenset((t.lemma, t.base, t.surface, NEG) if _is_negation(t) else (t.lemma, t.base, t.surface))
                     for t in a.tokens]
        self.index: dict[str, list[int]] = {}
        for i, k in enumerate(self.keys):
            for key in k:
                self.index.setdefault(key, []).append(i)
        self._kana: list[str] | None = None
        self._memo: dict[int, list[tuple[int, int]]] = {}

    def hits(self, word: _Word) -> list[tuple[int, int]]:
        """(start, tokens covered) wherever `word` matches, in order."""
        found = self._memo.get(id(word))
        if found is not None:
            return found
        out: dict[int, int] = {}
        if word.kana:
            if not any(w in self.analysis.kana for w in word.kana):
                self._memo[id(word)] = []          # not in the message's reading at all
                return []
            if self._kana is None:
                self._kana = [language.fold(t.reading) for t in self.analysis.tokens]
            kana, written = self._kana, self.analysis.kana_written
            for i in range(len(kana)):
                for want in word.kana:
                    acc = ""
                    short = len(want) <= language.SHORT_KANA
                    for j in range(i, min(i + KANA_SPAN, len(kana))):
                        acc += kana[j]
                        if acc.startswith(want):      # the last word may run on (a split word)
                            if not short or acc == want or written[j]:
                                # (a short reading never ends inside a kanji word: "sanpo shi ni
                                # tenki" does not hold the dialect "want to die", shi-ni-te)
                                out[i] = max(out.get(i, 0), j - i + 1)
                            break
                        if not want.startswith(acc):
                            break
        else:
            toks = self.analysis.tokens
            for lemma in word.single:
                for i in self.index.get(lemma, ()):
                    if not (word.kanji and _HIRAGANA_WORD.fullmatch(toks[i].surface)):
                        out[i] = 1
            keys, n = self.keys, len(self.keys)
            for alt in word.multi:
                for i in self.index.get(alt[0], ()):
                    if i + len(alt) <= n and all(alt[k] in keys[i + k] for k in range(1, len(alt))):
                        out[i] = max(out.get(i, 0), len(alt))
        found = sorted(out.items())
        self._memo[id(word)] = found
        return found


@once
def lexicon() -> Lexicon:
    return Lexicon(_load())


def _lane_of(a: Analysis, lex: Lexicon) -> str | None:
    """A family member named as the subject or topic (my son + ga/wa …) shows the family lane."""
    parents = _single_words(lex, "parents")
    fam = _single_words(lex, "family") - parents   # (a parent named: their child writes)
    toks = a.tokens
    for i, t in enumerate(toks):
        if t.lemma in fam and t.pos in (language.NOUN, language.PRONOUN):
            nxt = toks[i + 1].surface if i + 1 < len(toks) else ""
            prev = toks[i - 1].surface if i else ""
            owner = i >= 2 and toks[i - 2].surface in _OWNER and prev == _NO
            if nxt in _TOPIC or prev in _OWNER or owner:
                return "family"
    return None


def _single_words(lex: Lexicon, name: str) -> set[str]:
    """The one-word members of a class, as lemmas."""
    return {alt[0] for alt in lex.classes.get(name, ()) if len(alt) == 1}


def _parent_acts(a: Analysis, lex: Lexicon) -> bool:
    """A parent is the one acting on the writer: the subject (mum + ga/wa) or the agent (by my
    parents + ni/kara, a passive verb)."""
    return language.marked(a, _single_words(lex, "parents"), _SUBJECT | _TOPIC | _AGENT)


_PRESSED = frozenset(language.W.get("pressed", ()))
_TOPIC = frozenset(language.W["topic_particles"])
_AGENT = frozenset(language.W["passive_agent_particles"])
_SUBJECT = frozenset(language.W["subject_particles"])
_OWNER = frozenset(language.W["owner_words"])
_NO = language.W["possessive"]


_CONNECTORS = frozenset(language.W.get("connectors", ()))


_PAUSES = frozenset(language.W.get("pauses", ()))
_QUESTION_ENDS = frozenset(language.W.get("question_ends", ()))
_QUESTION_TRAILING = frozenset(language.W.get("question_trailing", ()))
_RAW_GAPS = re.compile(r"[ \t\u3000]+")
MIN_PART, MAX_PARTS = 4, 6      # characters of a part set apart by spaces; parts read at most
MIN_CLAUSE = 3              # tokens: a shorter piece between commas stays with the one before


def _clauses(a: Analysis) -> list[tuple[int, int]]:
    """The sentences, each split again where a connector begins another need ("and also ...") and
    at commas and spaces ("I want the centres near me, and to talk with a person")."""
    out = []
    for first, end in a.sentences:
        start = first
        for i in range(first + 1, end):
            t = a.tokens[i]
            if t.surface in _CONNECTORS and a.tokens[i - 1].pos not in (language.VERB, language.AUX):
                out.append((start, i))      # (not "after I die": a connector word right after a verb)
                start = i
            elif (t.surface in _PAUSES or t.pos == language.SPACE) and i - start >= MIN_CLAUSE and end - i > MIN_CLAUSE:
                out.append((start, i))
                start = i + 1
        out.append((start, end))
    return [(f, e) for f, e in out if e > f]


def sentence_needs(a: Analysis) -> list[str]:
    """In a message of several sentences or clauses, the best intent of each, in order (each once):
    "is it just laziness? and can I ask without my parents finding out?" asks two things. A wish
    for a person counts only as a whole request (its clause's score at least PERSON_BAR): what
    vetoes it elsewhere in the message ("the centres near me") does not veto it here."""
    spans = [Analysis(text=a.text, tokens=a.tokens[first:end], raw=a.raw) for first, end in _clauses(a)]
    if len(spans) < 2:
        # words set apart by spaces, with no punctuation between ("where in Nagoya  and a person too
        # phone is hard"): the analyser drops spaces between Japanese words, so each part on its own
        parts = [p for p in _RAW_GAPS.split(a.raw.strip()) if len(p) >= MIN_PART]
        spans = [language.analyse(p) for p in parts] if 1 < len(parts) <= MAX_PARTS else []
    if len(spans) < 2:
        return []
    lex, out = lexicon(), []
    modelled = set(range(max(0, len(spans) - CLAUSES_READ_BY_MODEL), len(spans)))
    for k, span in enumerate(spans):
        scores = {n: v for n, v in lex.scores(span).items()
                  if "window" not in lex.intents[n] and "asked" not in lex.intents[n]}
        best = max(scores, key=lambda n: (scores[n], -lex.order[n]), default=None)
        if best and lex.intents[best]["trigger"] == "want_human" and scores[best] < PERSON_BAR:
            continue
        if best is None and _asks(span) and span.plain.startswith(POINTS_BACK) and FOLLOW_UP not in out:
            best = FOLLOW_UP            # ("and that kind of thing, how is it really?": about the last topic)
        elif k in modelled:
            best = _clause_model(span, best) or best
        if best is None and _asks(span) and FOLLOW_UP not in out:
            best = FOLLOW_UP
        if best and best not in out:
            out.append(best)
    return out


def _asks(a: Analysis) -> bool:
    """Whether a clause ends as a question ("should I warn her or leave her be?")."""
    toks = [t for t in a.tokens if t.pos != language.SPACE and t.surface not in _QUESTION_TRAILING]
    return bool(toks) and toks[-1].surface in _QUESTION_ENDS


# The model reads at most the last this many clauses of a long paragraph (where its questions
# usually are): a 4,000-character paste is not scored two hundred times.
CLAUSES_READ_BY_MODEL = 8


def _clause_model(span: Analysis, best: str | None) -> str | None:
    """A clause's question as the learned model reads it, when it is sure (intent_overrule) and
    the patterns found nothing there or another intent it may overrule: "is he just ill?" in
    dialect beside "and the windows near me" is a second need the patterns missed. Never in
    place of a request for a person or a short fragment."""
    clause = span.span(0, len(span.tokens))
    if len(clause.text) < OVERRULE_MIN_CHARS or (best is not None and best in NOT_OVERRULED):
        return None
    sure = _model_sure_of(clause)
    return sure[0] if sure else None


def _model_sure_of(a: Analysis) -> tuple[str, float] | None:
    """The intent the learned model is sure of (at intent_overrule), when it is one the bot may
    answer from a guess: (name, p), or None."""
    from . import classifier

    name, p = classifier.intents(a)[0]
    if name not in lexicon().intents or name in NOT_GUESSED or name.startswith("w_") \
            or p < classifier.thresholds().intent_overrule:
        return None
    return name, p


# The bot has just asked where they live (the region buttons): a short answer's bare name is read
# as the place even where the analyser takes it for a common word or a surname (places.find).
WHERE_ASKED = ("regions",)
WHERE_ANSWER_CHARS = 12
CLOSINGS = ("goodbye", "thanks")
CLOSING_TAIL = 16          # characters at the end of a message read on their own for a closing


def _closing_at_end(a: Analysis, lex: Lexicon) -> str | None:
    """A long run of words with nothing else understood that ends by taking leave ("yes I see
    thank you I'll write again if anything comes up well then goodbye", voice input with no
    stops): the closing at its end (its own length, not the message's), never the fallback."""
    if len(a.plain) <= CLOSING_TAIL:
        return None
    size, first = 0, len(a.tokens)
    while first > 0 and size + len(a.tokens[first - 1].surface) <= CLOSING_TAIL:
        first -= 1
        size += len(a.tokens[first].surface)
    tail = lex.scores(a.span(first, len(a.tokens)))
    return max((n for n in CLOSINGS if n in tail), key=lambda n: tail[n], default=None)


def also_asked(a: Analysis, understood: Understood, topics: frozenset) -> str | None:
    """A second question in the same clause as the understood one ("is there somewhere I can
    phone without giving my name?": the phone and anonymity): an intent of another topic that
    scores nearly as high (BOTH_WITHIN) and whose words begin apart from the first's (BOTH_APART
    words or more: two readings of the same words, "what is this place" as what mado is and as
    what a centre does, are one question)."""
    lex = lexicon()
    found = lex.matches(a)
    main = found.get(understood.intent)
    if main is None:
        return None
    spec = lex.intents[understood.intent]
    first = (spec["trigger"], spec.get("arg", ""))
    others = [(score, start, n) for n, (score, start) in found.items()
              if lex.intents[n]["trigger"] in topics and (lex.intents[n]["trigger"], lex.intents[n].get("arg", "")) != first
              and score >= main[0] - BOTH_WITHIN and abs(start - main[1]) >= BOTH_APART]
    return max(others)[2] if others else None


def found_at(a: Analysis, intent: str) -> int | None:
    """Where the best pattern of that intent begins in the message (token), or None."""
    hit = lexicon().matches(a).get(intent)
    return None if hit is None else hit[1]


def _place_wins(a: Analysis, place, best: str | None, lane, scores) -> Understood | None:
    """The windows near the place named, when the intent read is one a place turns into that
    (PLACE_WINS) and the name is not in doubt; None otherwise."""
    if not place or best not in PLACE_WINS or lexicon().place_doubt(a):
        return None
    if place.city_code:
        return Understood("city", place.city_code, "place", lane, place, 10, scores)
    return Understood("pref", place.pref, "place", lane, place, 10, scores)


def understand(a: Analysis, state: str, data: dict) -> Understood:
    """The best reading of a typed message in this state; trigger "fallback" when none."""
    lex = lexicon()
    scores = lex.scores(a)
    if len(a.sentences) > 1:
        # in a paragraph the point usually comes last: what the last sentence says counts more
        first, end = a.sentences[-1]
        last = Analysis(text=a.text, tokens=a.tokens[first:end], raw=a.raw)
        for name, score in lex.scores(last).items():
            scores[name] = max(scores.get(name, 0), score) + LAST_SENTENCE_BONUS
    window = data.get("window") or ""
    for name in list(scores):
        spec = lex.intents[name]
        if not _may_be(spec, state, data) and not (name == "cancel" and data.get("cancelled")):
            del scores[name]          # (right after a request was taken back, saying so again still is)
        elif "window" in spec and window not in spec["window"]:
            del scores[name]          # only right after that kind of crisis answer
    place = places.find(a, asked=data.get("asked") in WHERE_ASKED and len(a.plain) <= WHERE_ANSWER_CHARS) if places else None
    lane = _lane_of(a, lex)
    own = [n for n in scores if "window" in lex.intents[n]] if window else []
    # right after a crisis answer, what the window listens for comes first ("what do I say to 119?"
    # is how to call, not what to say to one's child), unless it is a whole request for a person
    best = max(own or scores, key=lambda n: (scores[n], -lex.order[n]), default=None)
    if own and scores.get("want_human", 0) >= PERSON_BAR:
        best = "want_human"
    asked = data.get("asked") or ""
    if best in ("yes", "no"):
        mapped = (ANSWERS.get(asked) or ANSWERS.get(state, {})).get(best)
        if mapped is None:
            del scores[best]
            best = max(scores, key=lambda n: (scores[n], -lex.order[n]), default=None)
        else:
            return Understood(mapped, "", best, lane, place, scores.get(best, 0), scores)
    if best and best.startswith("q_") and not a.question:
        # a statement that describes a life ("she stopped going to school at 14 and is 19 now")
        # is a description with a topic word in it, not the question about that topic
        told = [n for n in ("tell_family", "tell_self") if n in scores]
        if told:
            best = told[0]
        elif GOODBYE in scores:
            best = GOODBYE     # "free then, thanks! see you": a topic taken in, and a goodbye
    if best == "tell_self" and lane is None and data.get("lane") == "family" and not language.marked(
            a, _single_words(lex, "self"), _SUBJECT):
        lane = "family"          # in the family lane, a life described with no subject is the relative's
    if best in ("tell_family", "family_guide") and lane is None and data.get("lane") != "family" \
            and _parent_acts(a, lex) and _PRESSED & ({t.lemma for t in a.tokens} | {t.surface for t in a.tokens}) \
            and not _single_words(lex, "child") & {t.lemma for t in a.tokens}:
        # "my mum keeps coming into my room", "my parents nag me every day": a young person writes
        scores["tell_self"] = scores[best]
        best, lane = "tell_self", "self"
    if best == "tell_self" and lane == "family":
        scores["tell_family"] = scores["tell_self"]      # a family member described (my son …)
        best = "tell_family"
    if (windows := _place_wins(a, place, best, lane, scores)) is not None:
        return windows
    if best is None and (closing := _closing_at_end(a, lex)) is not None:
        best, scores = closing, {**scores, closing: lex.intents[closing]["weight"]}
    if best is None:
        return Understood("fallback", "", None, lane, place, 0.0, scores)
    spec = lex.intents[best]
    return Understood(spec["trigger"], spec.get("arg", ""), best, spec.get("lane") or lane, place, scores[best], scores)


# -- the learned second opinion (flows/classifier.py) ------------------------------------------
# What the direct question asks about, by the tier the model suspects: a wish to die (the tiers
# of self-harm and harm with others), an emergency (medical), violence at home, or a fear of
# hurting someone (the catalog's crisis.ask.<kind> and its choices ask_risk.<kind>).
SELF_ASK = "self"
MEDICAL = "medical"
_ASK_KINDS = {"medical": "medical", "violence_family": "violence", "violence_partner": "violence_partner",
              "violence_by_me": "violence_by_me"}


def ask_kind(tier: str) -> str:
    return _ASK_KINDS.get(tier, SELF_ASK)


def risk_question(a: Analysis, beside: bool = False, bar: float | None = None,
                  closing: bool = False) -> Understood | None:
    """The direct question, when the learned model suspects a risk (classifier.toml risk_ask, or
    the stricter risk_beside when the patterns understood the message as a need): about a wish
    to die (ask_risk), or in the words of the kind it suspects (ask_harm, arg the kind: an
    emergency, violence at home, a fear of hurting someone). None when it does not. An emergency
    suspected is asked at the lower bar wherever it is, except in a goodbye the patterns
    understood (`closing`): a farewell's words read near an emergency to the model ("mum is
    calling me, bye"), and a goodbye after an overdose is the patterns' to find."""
    from . import classifier

    bands = classifier.thresholds()
    if bar is None:
        bar = bands.risk_beside if beside else bands.risk_ask
    risk = classifier.risk(a)
    if risk < min(bar, bands.risk_ask):
        return None
    kind = ask_kind(classifier.tier(a))
    if risk < bar and (kind != MEDICAL or closing):
        return None                  # (an emergency suspected is asked at the lower bar wherever it is)
    if kind != SELF_ASK:
        return Understood("ask_harm", kind, "ask_risk", None, None, 0.0)
    return Understood("ask_risk", "", "ask_risk", None, None, 0.0)


# Asked only when the patterns found nothing. Never these: they only mean something as the answer
# to a question just asked, or right after a crisis answer (the patterns decide those).
NOT_GUESSED = frozenset({"none", "yes", "no", "stop", "pause", "menu", "back", "more", "ask_wait",
                         "greeting", "thanks", "apology", "feeling", "place", "goodbye"})


def _may_be(spec: dict, state: str, data: dict) -> bool:
    """Whether an intent may be meant here: in its states, and as the answer to its question (the
    patterns and the learned model alike)."""
    return state in spec.get("states", (state,)) and ("asked" not in spec or data.get("asked") in spec["asked"])


def second_opinion(a: Analysis, state: str, data: dict) -> Understood | None:
    """What the learned model makes of a message the patterns did not understand: a risk only it
    suspects is asked about (trigger ask_risk); an intent it is sure of is answered as that
    intent; a middling one is asked about with its two best guesses (trigger guess, arg
    "a+b"); None when it has nothing to add. The bands are data (flows/classifier.toml)."""
    from . import classifier

    bands = classifier.thresholds()
    asked = risk_question(a)
    if asked is not None:
        return asked
    lex = lexicon()
    ranked = [(name, p) for name, p in classifier.intents(a)
              if name in lex.intents and name not in NOT_GUESSED and not name.startswith("w_")
              and _may_be(lex.intents[name], state, data)]
    if not ranked or classifier.intents(a)[0][0] == "none" and ranked[0][1] < bands.intent_answer:
        return None
    (best, p), second = ranked[0], ranked[1:2]
    if p >= bands.intent_answer and not (best in LANE_CHOICES and second):
        spec = lex.intents[best]
        return Understood(spec["trigger"], spec.get("arg", ""), best, spec.get("lane"), None, p)
    if p >= bands.intent_ask and second:
        return Understood("guess", f"{best}+{second[0][0]}", "guess", None, None, p)
    return None


# Never overruled: a request for a person (a guess never takes it away), the short answers and moves
# that only mean something where they are said, a place (its windows), a correction of who it is.
NOT_OVERRULED = NOT_GUESSED | frozenset({"want_human", "want_human_soft", "cancel", "forget_ask", "no_place",
                                         "choose_self_soft", "phone"})

# Who the conversation is about shapes every answer after it: the model's guess at it is asked
# ("about yourself, or a family member?"), never taken as the person's choice.
LANE_CHOICES = frozenset({"choose_self", "choose_family", "choose_other"})
# A short reply (a word or two: "me", "about my son") is a choice the patterns read surer than a
# bag of characters.
OVERRULE_MIN_CHARS = 9


def answering(data: dict) -> bool:
    """Whether the message answers a question just asked (yes or no, which of two, where they
    live), rather than a menu's buttons left open: there the patterns read the short answers."""
    asked = data.get("asked") or ""
    return asked in ANSWERS or asked.partition(".")[0] in ANSWERS or asked.startswith("guess") \
        or asked == PLACE_QUESTION


def overrule(a: Analysis, state: str, data: dict, understood: Understood) -> Understood:
    """The learned model's intent instead of the patterns' when the two disagree and the model is
    sure (classifier.toml intent_overrule, chosen on a held-back split). Patterns written from seen
    misses read a new writer's near intents wrongly ("how should we as a family speak to her" as
    what to say; a parent's "after we are gone" as money); the model, trained on every independent
    set, reads them better. Only a first reading of a free message: never an answer to a question
    just asked, never in a crisis window, never away from a request for a person, never a lane
    choice taken from a guess."""
    if understood.trigger == "fallback" or (understood.intent or "w_") in NOT_OVERRULED or (understood.intent or "w_").startswith("w_") \
            or answering(data) or data.get("window") or len(a.text) < OVERRULE_MIN_CHARS:
        return understood
    sure = _model_sure_of(a)
    if sure is None:
        return understood
    best, p = sure
    spec = lexicon().intents[best]
    if (best in LANE_CHOICES or best == understood.intent.removesuffix("_short").removesuffix("_soft")
            or not _may_be(spec, state, data)):
        return understood
    if (windows := _place_wins(a, understood.place, best, understood.lane, understood.scores)) is not None:
        return windows                  # (as understand() does)
    return Understood(spec["trigger"], spec.get("arg", ""), best, spec.get("lane") or understood.lane,
                      understood.place, p, understood.scores)

