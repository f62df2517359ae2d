"""Which Japanese analyser mado uses, and why: MeCab through fugashi with unidic-lite, against
SudachiPy with sudachidict-core, on what mado needs from an analyser. Prints figures; asserts
nothing. SudachiPy is not a dependency of mado: install it to compare
(`pip install sudachipy sudachidict-core`); without it only fugashi is measured.

    python benchmarks/analysers.py

Measured: (1) spellings people use for the same word (kanji, hiragana, katakana, okurigana
variants) reaching one normalised form; (2) inflected and dialect forms reaching their
dictionary form; (3) CPU microseconds per message over both labelled corpora; (4) dictionary
size on disk.
"""
from __future__ import annotations

import os
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402
from tests.corpus import crisis_rows, understanding_rows  # noqa: E402

_WORDS = tomllib.loads((Path(__file__).with_suffix(".toml")).read_text("utf-8"))
SPELLINGS: list[list[str]] = _WORDS["spellings"]      # one word as people write it
FORMS: list[list[str]] = _WORDS["forms"]              # a dictionary form, then its other forms


def fugashi_analyser():
    import fugashi
    import unidic_lite

    tagger = fugashi.GenericTagger(f'-r "{os.path.join(unidic_lite.DICDIR, "mecabrc")}" -d "{unidic_lite.DICDIR}"')

    def lemmas(text: str) -> list[str]:
        out = []
        for w in tagger(text):
            f = w.feature_raw.split(",")
            out.append(f[7].split("-")[0] if len(f) > 7 and f[7] != "*" else w.surface)
        return out
    return "fugashi + unidic-lite", lemmas, unidic_lite.DICDIR


def sudachi_analyser():
    import sudachidict_core
    import sudachipy

    tok = sudachipy.Dictionary(dict="core").tokenizer(mode=sudachipy.SplitMode.C)

    def lemmas(text: str) -> list[str]:
        return [m.normalized_form() for m in tok.tokenize(text)]
    return "SudachiPy + sudachidict-core", lemmas, os.path.dirname(sudachidict_core.__file__)


def mado_layer():
    """mado's own layer on top of fugashi (flows/language.py): a message wholly in katakana is
    read as kana, elongations and disguises folded first."""
    import unidic_lite

    from flows.language import analyse

    def lemmas(text: str) -> list[str]:
        return [t.lemma for t in analyse(text).tokens]
    return "mado's layer (flows/language.py)", lemmas, unidic_lite.DICDIR


def size_mb(path: str) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


def measure(name, lemmas, dictdir, texts) -> None:
    spelled = sum(len({tuple(lemmas(w)) for w in group}) == 1 for group in SPELLINGS)
    formed = 0
    total_forms = 0
    for base, *forms in FORMS:
        want = lemmas(base)[0]
        for form in forms:
            total_forms += 1
            formed += want in lemmas(form)
    for t in texts[:50]:
        lemmas(t)
    started = time.process_time()
    for t in texts:
        lemmas(t)
    per_msg = (time.process_time() - started) / len(texts) * 1e6
    print(f"{name:33s} spellings meeting {spelled:2d}/{len(SPELLINGS)}   forms reaching the dictionary form "
          f"{formed:2d}/{total_forms}   {per_msg:5.0f} µs CPU per message   dictionary {size_mb(dictdir):4.0f} MB")


def main() -> int:
    texts = [r.text for r in understanding_rows()] + [r.text for r in crisis_rows()]
    print(f"machine: {describe()}; {len(texts)} messages from the labelled corpora")
    for make in (fugashi_analyser, sudachi_analyser, mado_layer):
        try:
            name, lemmas, dictdir = make()
        except ImportError as e:
            print(f"(skipped: {e.name} is not installed)")
            continue
        measure(name, lemmas, dictdir, texts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
