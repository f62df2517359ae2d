"""The language layer: free Japanese text → normalised tokens (surface, lemma, reading, part of speech).

Built on MeCab through fugashi with the UniDic dictionary of `unidic-lite` (a PyPI package: the
dictionary arrives with `pip install`, nothing is downloaded at run time). UniDic's lemma unifies
spellings and inflections (kieru in kanji or kana, every form of hanasu, hikikomori in kanji or
kana all meet at one lemma), and its reading gives a kana form of anything written in kanji, so the layers above
(intents, places, crisis detection) compare meanings, not strings. Why this analyser and not
SudachiPy: README "Dependencies, and why" and `benchmarks/analysers.py`.

Pure: the only I/O is loading the dictionary, once per process. The tagger is shared by every
thread; MeCab's tagger keeps per-call state, so calls are serialised by a lock (~10 µs each).
"""
from __future__ import annotations

import re
import threading
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from importlib import resources

from .once import once


def _load_words() -> dict:
    return tomllib.loads(resources.files("messages_ja").joinpath("understanding.toml").read_text("utf-8"))["language"]


W = _load_words()             # the analyser's vocabulary: POS names, negations, marks (as data)
_PLAIN_FORMS = tuple(W["plain_forms"])
POS = W["pos"]
NOUN, PRONOUN, VERB, ADJ, AUX = POS["noun"], POS["pronoun"], POS["verb"], POS["adjective"], POS["auxiliary"]
SPACE = POS["space"]
PARTICLE, SYMBOL, BLANK, SUFFIX = POS["particle"], POS["symbol"], POS["blank"], POS["suffix"]
CONJUNCTIVE = "\u63a5\u7d9a\u52a9\u8a5e"       # UniDic's conjunctive particle (pos2)
CONTENT = frozenset(POS[k] for k in ("noun", "pronoun", "verb", "adjective", "adverb", "adjectival_noun",
                                     "interjection", "adnominal"))
_TAHI = re.compile(re.escape(W["tahi"]) + f"(?=[{W['tahi_followers']}])|" + re.escape(W["tahi"]) + "$")
_REPEAT = re.compile(r"(.)\1{3,}")          # a character held four times or more: keep two
_LONG = re.compile("[" + re.escape(W["long_marks"]) + "]{2,}")
_SPACE = re.compile(r"\s+")
# spaces between Japanese letters are a pause, not a word boundary (and hide words: "ki e tai")
# (only where hiragana meets: "Sapporo Kita-ku" written with a space stays two names)
_JA_SPACE = re.compile("(?<=[\u3041-\u309f])[ \t\u3000]+(?=[\u3041-\u30ff\u4e00-\u9fff])|"
                       "(?<=[\u3041-\u30ff\u4e00-\u9fff])[ \t\u3000]+(?=[\u3041-\u309f])")
# a middle dot inside kana hides a word ("risu-ka"); between kanji it lists things (kept)
_KANA_DOT = re.compile("(?<=[\u3041-\u30ff])[" + W["letter_separators"] + "]|[" + W["letter_separators"] + "](?=[\u3041-\u30ff])")
_DROP = frozenset(("Cf", "Mn", "Me", "Cc", "So", "Sk"))
_KEEP = frozenset("\n\u3099\u309a")         # a line break; kana voiced and semi-voiced marks
# a long mark or wave dash after hiragana or kanji stretches a word (or hides one): dropped, with
# ellipses, which carry no words either; after katakana a long mark is part of the word
_STRETCH = re.compile("(?<=[A-Za-z\u3041-\u309f\u4e00-\u9fff])" + re.escape(W["long_mark"]) + "|["
                      + re.escape(W["long_marks"].replace(W["long_mark"], "")) + W["ellipses"] + "]|\\.{2,}")
_SMALL_FOLD = str.maketrans(W["small_kana"], W["large_kana"])
# small vowels stretching a word are dropped, but not after te/ne: "shinitee" is a dialect "want to"
_ELONGATE = re.compile("(?<![" + W["elongation_keep_after"] + "])[" + W["elongation_kana"] + "]+")
NEGATIONS = frozenset(W["negations"])
_QUESTION_MARKS = tuple(W["question_marks"])
_QUESTION_ENDINGS = frozenset(W["question_endings"])
_SENTENCE_ENDS = frozenset(W["sentence_ends"])
_TE = frozenset(W["te_particles"])
_COPULA = frozenset(W["copula"])
_DENIAL_FILLERS = frozenset(W["denial_fillers"])
_DENIAL_EXISTS = frozenset(W["denial_exists"])
_DENIAL_IS_NOT = frozenset(W["denial_is_not"])
_NOUN_NOT = frozenset(W["noun_not"])
_DENIAL_NOUNS = frozenset(W["denial_nouns"])
_DENIAL_THINKS = frozenset(W.get("denial_thinks", ()))
# a laugh mark ends the message or a sentence in it ("died a hundred times w  killed again…"); a
# lone letter only after something that is not a letter (not the w of "know what")
_LAUGH_END = "(?=$|[\\s" + re.escape(W["laugh_sentence_ends"]) + "])"
_LAUGH = re.compile("|".join(("(?<![A-Za-z])" if m.isascii() and m.isalpha() else "") + re.escape(m) + _LAUGH_END
                             for m in W["laugh_marks"]) + "|[wｗ]{2,}".replace("ｗ", "\uff57"))
_LAUGH_EMOJI = tuple(W["laugh_emoji"])
_KATAKANA_ONLY = re.compile(r"[\u30a1-\u30fa\u30fc\s!?.,]+")
_RESPELL = W.get("respell", {})
_RESPELL_RE = re.compile("(" + "|".join(map(re.escape, _RESPELL)) + ")(?![" + W.get("respell_not_before", "") + "])") \
    if _RESPELL else None


_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


def to_hiragana(text: str) -> str:
    return text.translate(_TO_HIRAGANA)


SHORT_KANA = 3
_KANA_WORD = re.compile("[\u3041-\u309f\u30a0-\u30ff]+")


def fold(text: str) -> str:
    """A loose form for matching kana spellings: hiragana, no long marks, small kana as large."""
    return to_hiragana(text).replace(W["long_mark"], "").translate(_SMALL_FOLD)


_SEP = "[\\s._\\-/" + W["letter_separators"] + "]+"
_LONE = re.compile(r"(?<![^\W\d_])([^\W\d_])" + _SEP + r"(?=[^\W\d_])")


def occurrences(text: str, word: str):
    """Every index where `word` begins in `text`, overlapping ones included, in order."""
    i = text.find(word)
    while i >= 0:
        yield i
        i = text.find(word, i + 1)


def _unspace(text: str) -> str:
    """Letters written one by one with separators between them (a known disguise) joined:
    a separator after a lone letter goes ("O D shita", "shi.ni.ta.i")."""
    return _LONE.sub(r"\1", text)


def prepare(text: str) -> str:
    """What the analyser reads: NFKC (width, compatibility forms), spacing collapsed, elongation
    and repeats trimmed, TA+HI written for "death" restored. Nothing about meaning is decided here."""
    # invisible marks, combining marks (but kana voicing marks), controls and pictographs (emoji)
    # carry no words: taken apart first so an accent over a letter goes too, then NFKC
    text = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _DROP or ch in _KEEP)
    text = unicodedata.normalize("NFKC", text)
    text = _LONG.sub(W["long_mark"], text)
    text = _STRETCH.sub("", text)
    text = _unspace(text)
    text = _JA_SPACE.sub("", text)
    text = _STRETCH.sub("", text)         # again: a mark that stood before a removed space
    text = _KANA_DOT.sub("", text)
    text = _ELONGATE.sub("", text)
    text = _TAHI.sub(W["tahi_means"], text)
    if _RESPELL_RE is not None:
        text = _RESPELL_RE.sub(lambda m: _RESPELL[m.group(1)], text)
    text = _REPEAT.sub(r"\1\1", text)
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class Token:
    surface: str
    lemma: str        # UniDic lemma (dictionary form, standard spelling); the surface if unknown
    base: str         # the dictionary form as written (orthBase)
    reading: str      # hiragana reading of the surface
    pos: str          # part of speech, level 1 (noun, verb, auxiliary … in UniDic's names)
    pos2: str
    pos3: str
    cform: str        # conjugation form, "" when none

    @property
    def content(self) -> bool:
        return self.pos in CONTENT


@dataclass(frozen=True)
class Analysis:
    text: str                 # as prepared (NFKC…)
    tokens: tuple[Token, ...]
    raw: str = ""             # as written (emoji and marks kept)

    @cached_property
    def lemmas(self) -> frozenset[str]:
        return frozenset(t.lemma for t in self.tokens)

    @cached_property
    def kana(self) -> str:
        """The whole message read aloud, folded (hiragana, no long marks, small kana large)."""
        return fold("".join(t.reading for t in self.tokens if t.pos != SYMBOL))

    @cached_property
    def _kana_map(self) -> tuple[frozenset[int], str]:
        """Where each word's reading begins in `kana` (and where the last ends), and for each
        letter of `kana` whether its word was written in kana ("k") or not ("-")."""
        starts, marks, pos = {0}, [], 0
        for t in self.tokens:
            if t.pos != SYMBOL:
                n = len(fold(t.reading))
                marks.append(("k" if _KANA_WORD.fullmatch(t.surface) else "-") * n)
                pos += n
                starts.add(pos)
        return frozenset(starts), "".join(marks)

    @cached_property
    def kana_written(self) -> tuple[bool, ...]:
        """For each word, whether it is written in kana."""
        return tuple(bool(_KANA_WORD.fullmatch(t.surface)) for t in self.tokens)

    def kana_written_has(self, word: str) -> bool:
        """Whether `word` is in the reading where the message itself is written in kana (every
        letter of it)."""
        marks = self._kana_map[1]
        return any("-" not in marks[i:i + len(word)] for i in occurrences(self.kana, word))

    @cached_property
    def denies(self) -> bool:
        """Whether anything in the message is denied as a topic (denied_at)."""
        return any(self.denied_at(i) for i in range(len(self.tokens)))

    def kana_has(self, word: str) -> bool:
        """Whether the folded reading holds `word`. A short one (SHORT_KANA letters or fewer) counts
        only across words written in kana (the analyser splits a kana run oddly, so its cuts are no
        guide), never in the reading of a word written in kanji: the dialect "want to die"
        (shi-ni-te) is not in "watakushi ni te wo", "washi ni te" (a hand) or "sanpo shi ni
        tenki" (the kanji's own patterns read those words by their lemmas)."""
        if len(word) > SHORT_KANA:
            # never from the middle of a kanji word's reading: "watakushi ni taishite" (toward me)
            # holds shi-ni-ta-i from its watakushi
            starts, marks = self._kana_map
            return any(i in starts or marks[i] == "k" for i in occurrences(self.kana, word))
        return self.kana_written_has(word)

    def span(self, first: int, end: int) -> "Analysis":
        """The words first..end as a message of their own (its text is theirs: the learned model
        reads the characters of what it is given)."""
        text = "".join(t.surface for t in self.tokens[first:end])
        return Analysis(text=text, tokens=self.tokens[first:end], raw=text)

    @cached_property
    def plain(self) -> str:
        """The prepared text with spaces and punctuation removed, katakana as hiragana."""
        return to_hiragana("".join(t.surface for t in self.tokens if t.pos not in (SYMBOL, BLANK)))

    @cached_property
    def sentences(self) -> tuple[tuple[int, int], ...]:
        """Token index ranges of sentences (split at full stops, ! ? and line breaks)."""
        out, start = [], 0
        for i, t in enumerate(self.tokens):
            if t.pos == SYMBOL and t.pos2 == POS["full_stop"] or t.surface in _SENTENCE_ENDS:
                if i > start:
                    out.append((start, i))
                start = i + 1
        if start < len(self.tokens):
            out.append((start, len(self.tokens)))
        return tuple(out)

    @cached_property
    def question(self) -> bool:
        if any(m in self.text for m in _QUESTION_MARKS):
            return True
        words = [t for t in self.tokens if t.pos not in (SYMBOL, BLANK)]
        return bool(words) and (words[-1].surface in _QUESTION_ENDINGS or words[-1].lemma in _QUESTION_ENDINGS)

    @cached_property
    def laughing(self) -> bool:
        return bool(_LAUGH.search(self.text)) or any(e in self.raw for e in _LAUGH_EMOJI)

    def tokens_after_is_end(self, i: int) -> bool:
        """Whether only auxiliaries, particles and marks follow the word at i (the word ends
        the sentence: 'hanase-masen ka')."""
        return all(t.pos in (AUX, PARTICLE, SYMBOL, BLANK, ADJ, SUFFIX) or t.pos2 == POS["bound"]
                   for t in self.tokens[i + 1:])

    def denied_at(self, i: int) -> bool:
        """Whether the word at i is denied as a topic ("kishi-nenryo nado wa gozaimasen", "nagut-tari
        toka wa nai desu"): only fillers between it and "there is no" (understanding.toml's
        denial_fillers, denial_exists), and no second negation right after that turns it round."""
        toks, j = self.tokens, i + 1
        while j < len(toks) and (toks[j].surface in _DENIAL_FILLERS or toks[j].lemma in _DENIAL_FILLERS
                                 or toks[j].pos == AUX and toks[j].lemma not in NEGATIONS and toks[j].lemma not in _COPULA):
            if j > i + 1 and (toks[j].surface in _DENIAL_IS_NOT or toks[j].lemma in _DENIAL_IS_NOT) \
                    and toks[j - 1].pos != VERB:
                break               # ("shinitai toka chau": chau after a filler is "it is not"; straight
            j += 1                  # after a verb, kie-chau, it is "end up")
        if j == len(toks):
            return False
        thought = any(toks[x].lemma in _DENIAL_THINKS for x in range(i + 1, j))   # ("omotte", "kangaete")
        t = toks[j]
        if t.lemma in _DENIAL_IS_NOT or t.surface in _DENIAL_IS_NOT:
            k = j
        elif (t.lemma in _COPULA or t.surface in _COPULA) and toks[j - 1].lemma in _DENIAL_NOUNS:
            # ("wake de nee", "wake ja nai": the copula, perhaps wa, then a negation of any dialect)
            k = next((k for k in range(j + 1, min(j + 3, len(toks)))
                      if toks[k].surface in NEGATIONS or toks[k].lemma in NEGATIONS or toks[k].lemma in _DENIAL_EXISTS
                      and toks[k].pos == ADJ), None)
        elif (t.lemma in NEGATIONS or t.surface in NEGATIONS) and t.pos == AUX and thought:
            k = j                   # ("shinitai toka omotte nai": not thought)
        elif t.lemma not in _DENIAL_EXISTS:
            return False
        else:
            k = j if t.pos == ADJ else next(
                (k for k in range(j + 1, min(j + 4, len(toks))) if toks[k].lemma in NEGATIONS), None)   # ("aru n desu": not one)
        if k is None:
            return False
        # ("omowanai hi ga gozaimasen": a not-thinking is turned round a little further on)
        after = toks[k + 1:k + 1 + W["denial_undo_within"] + (2 if thought else 0)]
        cut = next((n for n, t in enumerate(after) if t.pos in (SYMBOL, BLANK) or t.pos2 == CONJUNCTIVE), len(after))
        after = after[:cut]         # (only its own clause: "...gozaimasen ga, oya naki ato" is a new one)
        if any(t.surface in _QUESTION_ENDINGS and t.pos == PARTICLE for t in after[:2]):
            return False            # ("...nai ka": a question, "isn't it?")
        return not any(t.lemma in NEGATIONS or t.surface in NEGATIONS for t in after if t.pos in (AUX, ADJ))

    def negated_at(self, i: int) -> bool:
        """Whether the word at i is negated by what follows it ("shinitaku-nai", "hanase-masen").
        A noun is negated only through a copula ("muryou ja nai"), never by a later verb's
        negation."""
        if self.tokens[i].pos in (NOUN, PRONOUN):
            for t in self.tokens[i + 1:i + 4]:
                if t.pos in (AUX, ADJ) and (t.lemma in NEGATIONS or t.surface in NEGATIONS):
                    return True
                if t.surface in _NOUN_NOT or t.lemma in _NOUN_NOT:
                    return True     # ("joudan chau de": Kansai "it is not a joke")
                if t.lemma not in _COPULA and t.surface not in _COPULA:
                    return False
            return False
        prev = self.tokens[i]
        for t in self.tokens[i + 1:i + 9]:
            if t.pos in (AUX, ADJ) and (t.lemma in NEGATIONS or t.surface in NEGATIONS):
                # (a verb's plain form takes no negation: "ageru n yo" is the explanatory n)
                return not (prev.pos == VERB and prev.cform.startswith(_PLAIN_FORMS))
            if t.surface in NEGATIONS and prev.surface.endswith(W["adverbial_ending"]) \
                    and not (prev.pos == VERB and prev.surface == prev.lemma):
                return True         # (shini-taku nee: the dialect "not" read as a particle after -ku;
                #                      not a verb's own -ku, "tataku n desu")
            prev = t
            if t.pos in (AUX, SUFFIX) or (t.pos == PARTICLE and t.surface in _TE) or t.pos2 == POS["bound"]:
                continue
            break
        return False


# UniDic's fields in MeCab's raw output (unidic-lite): part of speech levels 1-3, conjugation
# form, lemma, dictionary form as written, reading of the surface.
_POS1, _POS2, _POS3, _CFORM, _LEMMA, _ORTH_BASE, _KANA = 0, 1, 2, 5, 7, 10, 17


class Analyser:
    """One MeCab tagger for the process (shared by threads behind a lock)."""

    def __init__(self):
        import os

        import fugashi        # imported here: only the language layer needs it
        import unidic_lite
        rc = os.path.join(unidic_lite.DICDIR, "mecabrc")
        # the generic tagger hands over MeCab's raw feature string: splitting it is cheaper
        # than building a named tuple per word
        self._tagger = fugashi.GenericTagger(f'-r "{rc}" -d "{unidic_lite.DICDIR}"')
        self._lock = threading.Lock()

    def _tag(self, text: str) -> list[tuple[str, list[str]]]:
        with self._lock:
            return [(w.surface, w.feature_raw.split(",")) for w in self._tagger(text)]

    def __call__(self, text: str) -> Analysis:
        prepared = prepare(text)
        nodes = self._tag(prepared)
        words = [f for _, f in nodes if f[0] != SYMBOL]
        if (len(words) > 1 or words and len(words[0]) <= _LEMMA) and _KATAKANA_ONLY.fullmatch(prepared):
            # a whole message in katakana is usually words spelled in kana, not loanwords: the
            # analyser reads its hiragana form
            nodes = self._tag(to_hiragana(prepared))
        tokens = []
        for surface, f in nodes:
            if len(f) <= _KANA or f[_LEMMA] == "*":          # unknown to the dictionary
                lemma = base = surface
                reading = to_hiragana(surface)
            else:
                lemma = f[_LEMMA].split("-", 1)[0]           # a loanword's "-english" tail dropped
                base = f[_ORTH_BASE] if f[_ORTH_BASE] != "*" else surface
                kana = f[_KANA]
                reading = to_hiragana(kana if kana and kana != "*" else surface)
            cform = f[_CFORM] if len(f) > _CFORM and f[_CFORM] != "*" else ""
            tokens.append(Token(surface, lemma, base, reading, f[_POS1],
                                f[_POS2] if f[_POS2] != "*" else "", f[_POS3] if f[_POS3] != "*" else "", cform))
        return Analysis(text=prepared, tokens=tuple(tokens), raw=text)


analyser = once(Analyser)


def marked(a: Analysis, words, particles) -> bool:
    """Whether one of these words (lemmas) stands right before one of these particles: who is the
    subject, the agent or the object ("my son ga", "by my husband ni", "me wo")."""
    toks = a.tokens
    return any(t.lemma in words and i + 1 < len(toks) and toks[i + 1].surface in particles
               for i, t in enumerate(toks))


def analyse(text: str) -> Analysis:
    return analyser()(text)
