"""The language layer: free Japanese text → normalised tokens (surface, lemma, reading, part of speech).

Built on MeCab through fugashi with the UniDic dictionary of `unidic-lite` (a PyPI package: the
dictionary arrives with `pip install`, nothing is downloaded at run time). UniDic's lemma unifies
spellings and inflections (消えたい / きえたい → 消える, 話せる → 話す, 引きこもり / ひきこもり →
引き籠もり), and its reading gives a kana form of anything written in kanji, so the layers above
(intents, places, crisis detection) compare meanings, not strings. Why this analyser and not
SudachiPy: README "Dependencies, and why" and `benchmarks/analysers.py`.

Pure: the only I/O is loading the dictionary, once per process. The tagger is shared by every
thread; MeCab's tagger keeps per-call state, so calls are serialised by a lock (~10 µs each).
"""
from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import cached_property

# Writing "死" as katakana TA+HI (タヒ) is a known disguise; after NFKC half-width forms are full.
_TAHI = re.compile("タヒ(?=[らりるれろにんねぬのっ])|タヒ$")
_REPEAT = re.compile(r"(.)\1{3,}")          # a character held four times or more: keep two
_LONG = re.compile("[ー〜～~]{2,}")          # long-vowel marks or wave dashes run together: one
_SPACE = re.compile(r"\s+")
_SMALL_FOLD = str.maketrans("ぁぃぅぇぉゃゅょゎっ", "あいうえおやゆよわつ")

NEGATIONS = frozenset({"ない", "無い", "ず", "ぬ", "ん", "ねえ", "へん", "ひん", "ねー"})
# Marks that end a question; a sentence ending in か/の/って is a question too (see `question`).
_QUESTION_MARKS = ("?", "？")
_QUESTION_ENDINGS = frozenset({"か", "の", "って", "かな", "かしら", "でしょう", "なに", "何", "なん",
                               "だろう", "ですか", "ますか", "いい", "良い"})
LAUGH = re.compile(r"[wｗ]{1,}$|[wｗ]{2,}|草$|笑$|（笑）|\(笑\)|ww")


def to_hiragana(text: str) -> str:
    return "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in text)


def fold(text: str) -> str:
    """A loose form for matching kana spellings: hiragana, no long marks, small kana as large."""
    return to_hiragana(text).replace("ー", "").translate(_SMALL_FOLD)


def prepare(text: str) -> str:
    """What the analyser reads: NFKC (width, compatibility forms), spacing collapsed, elongation
    and repeats trimmed, タヒ written for 死 restored. Nothing about meaning is decided here."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Mn", "Me", "Cc")
                   or ch in "\n")
    text = _TAHI.sub("死", text)
    text = _LONG.sub("ー", text)
    text = _REPEAT.sub(r"\1\1", text)
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class Token:
    surface: str
    lemma: str        # UniDic lemma (dictionary form, standard spelling); the surface if unknown
    base: str         # the dictionary form as written (orthBase)
    reading: str      # hiragana reading of the surface
    pos: str          # part of speech, level 1 (名詞, 動詞, 助動詞 …)
    pos2: str
    pos3: str
    cform: str        # conjugation form (連用形-一般 …), "" when none

    @property
    def content(self) -> bool:
        return self.pos in ("名詞", "動詞", "形容詞", "副詞", "代名詞", "形状詞", "感動詞", "連体詞")


@dataclass(frozen=True)
class Analysis:
    text: str                 # as prepared (NFKC…)
    tokens: tuple[Token, ...]

    @cached_property
    def lemmas(self) -> frozenset[str]:
        return frozenset(t.lemma for t in self.tokens)

    @cached_property
    def kana(self) -> str:
        """The whole message read aloud, folded (hiragana, no long marks, small kana large)."""
        return fold("".join(t.reading for t in self.tokens if t.pos != "補助記号"))

    @cached_property
    def plain(self) -> str:
        """The prepared text with spaces and punctuation removed, katakana as hiragana."""
        return to_hiragana("".join(t.surface for t in self.tokens if t.pos not in ("補助記号", "空白")))

    @cached_property
    def sentences(self) -> tuple[tuple[int, int], ...]:
        """Token index ranges of sentences (split at 。！？!?\n and similar)."""
        out, start = [], 0
        for i, t in enumerate(self.tokens):
            if t.pos == "補助記号" and t.pos2 == "句点" or t.surface in ("!", "?", "！", "？", "\n"):
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
        words = [t for t in self.tokens if t.pos not in ("補助記号", "空白")]
        return bool(words) and (words[-1].surface in _QUESTION_ENDINGS or words[-1].lemma in _QUESTION_ENDINGS)

    @cached_property
    def laughing(self) -> bool:
        return bool(LAUGH.search(self.text)) or any(ch in self.text for ch in "🤣😂")

    def negated_at(self, i: int) -> bool:
        """Whether the word at i is negated by what follows it (死にたくない, 話せません, 行かへん)."""
        for t in self.tokens[i + 1:i + 5]:
            if t.pos in ("助動詞", "形容詞") and (t.lemma in NEGATIONS or t.surface in NEGATIONS):
                return True
            if t.pos == "助動詞" or (t.pos == "助詞" and t.surface in ("て", "で")) or t.pos2 == "非自立可能":
                continue
            if t.pos == "接尾辞":
                continue
            break
        return False


class Analyser:
    """One MeCab tagger for the process (shared by threads behind a lock)."""

    def __init__(self):
        import fugashi        # imported here: only the language layer needs it
        import unidic_lite
        self._tagger = fugashi.Tagger(f'-d "{unidic_lite.DICDIR}"')
        self._lock = threading.Lock()

    def __call__(self, text: str) -> Analysis:
        prepared = prepare(text)
        with self._lock:
            nodes = [(w.surface, w.feature, w.is_unk) for w in self._tagger(prepared)]
        tokens = []
        for surface, f, unk in nodes:
            if unk or not f.lemma or f.lemma == "*":
                lemma = base = surface
                reading = to_hiragana(surface)
            else:
                lemma = f.lemma.split("-", 1)[0]            # "ボス-boss" → "ボス"
                base = f.orthBase or surface
                reading = to_hiragana(f.kana or surface) if f.kana and f.kana != "*" else to_hiragana(surface)
            tokens.append(Token(surface=surface, lemma=lemma, base=base, reading=reading,
                                pos=f.pos1, pos2=f.pos2 or "", pos3=f.pos3 or "",
                                cform="" if f.cForm in (None, "*") else f.cForm))
        return Analysis(text=prepared, tokens=tuple(tokens))


_ANALYSER: Analyser | None = None
_BUILD = threading.Lock()


def analyser() -> Analyser:
    global _ANALYSER
    if _ANALYSER is None:
        with _BUILD:
            if _ANALYSER is None:
                _ANALYSER = Analyser()
    return _ANALYSER


def analyse(text: str) -> Analysis:
    return analyser()(text)
