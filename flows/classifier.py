"""A learned second opinion: which intent a message most likely is, and whether it signals risk.

The conversation asks it only when its patterns (flows/understanding.py, flows/crisis.py) find
nothing or are unsure, and it never speaks with the patterns' voice: a confident intent is
answered, a middling one is asked about ("did you mean A or B?"), a risk is asked about directly
and gently. The bands are data (flows/classifier.toml), chosen on a held-back split.

Three logistic regressions over one set of features (intents, risk or not, which tier), trained by scripts/train_classifier.py
(scikit-learn: a developer tool, never needed here). This module only reads their weights from
flows/classifier.npz and applies them with numpy, on the analyser's own Analysis, so a message is
analysed once for places, intents, crisis and this. Loaded once per process.

    intents(a) -> [(label, p), ...]   every label of tests/data/understanding_corpus.tsv
                                       ("none" included), best first, p summing to 1
    risk(a) -> p                       probability that the message signals any risk
    tier(a) -> tier                    the crisis tier it most likely is, if it is a risk
    thresholds() -> Thresholds         intent_answer, intent_ask, intent_overrule,
                                       risk_ask, risk_beside, risk_doubt

Deterministic: a message's feature rows are summed in index order, in float64, so the same text
gives the same numbers to the last bit in every process (whatever the string hash seed).
"""
from __future__ import annotations

import io
import math
import tomllib
import weakref
from dataclasses import dataclass
from importlib import resources
from operator import add

import numpy as np

from .language import BLANK, SYMBOL, Analysis, to_hiragana
from .once import once

MODEL_FILE = "classifier.npz"
THRESHOLDS_FILE = "classifier.toml"
# Marks that never occur in a prepared text (prepare() drops control characters): the start and
# end of a text or of a word sequence, and the prefix that keeps lemma features apart from
# character features.
START, END, LEMMA = "\x02", "\x03", "\x1f"


def features(a: Analysis) -> list[str]:
    """The message as the model reads it (the training script calls this very function):
    characters and character pairs of the prepared text in hiragana (with its start and end
    marked, so "ends in ka?" is a feature), and the lemmas of its words, alone and in pairs,
    the first and last marked too (so the negation after "want to" travels with its verb).
    Why 1-2 characters and not 1-3: benchmarks/classifier.py (as good, half the features)."""
    s = START + to_hiragana(a.text.lower()) + END
    out = list(s[1:-1])
    out += map(add, s[:-1], s[1:])
    words = [LEMMA + t.lemma for t in a.tokens if t.pos not in (SYMBOL, BLANK)]
    out += words
    words = [LEMMA + START, *words, LEMMA + END]
    out += map(add, words[:-1], words[1:])
    return out


class Model:
    """The weights as arrays (from the shipped file, or from the training script before it
    writes them): each feature's weight per intent and for risk, already multiplied by the
    feature's idf (float16 in the file); the features' squared idf (for the length of a message's
    vector); the biases."""

    def __init__(self, arrays: dict, features=features):      # (another reading: benchmarks/classifier.py)
        self.features = features
        names = bytes(arrays["features"]).decode("utf-8").split("\n")
        self.index = {name: i for i, name in enumerate(names)}
        self.labels = tuple(bytes(arrays["labels"]).decode("utf-8").split("\n"))
        self.tier_labels = tuple(bytes(arrays["tiers"]).decode("utf-8").split("\n"))
        # one row per feature: its weights (intents, risk, tiers), then its squared idf (one gather
        # reads them all)
        self.rows = np.hstack([np.asarray(arrays["weights"], dtype=np.float32),
                               np.asarray(arrays["idf2"], dtype=np.float32)[:, None]])
        self.bias = np.asarray(arrays["bias"], dtype=np.float64)
        width = len(self.labels) + 1 + len(self.tier_labels)
        assert self.rows.shape == (len(names), width + 1) and len(self.bias) == width

    def scores(self, a: Analysis) -> tuple[list[tuple[str, float]], float]:
        """(intents best first, risk). A message's vector holds each of its features once,
        weighted by idf and scaled to length 1, as scikit-learn's TfidfVectorizer(binary=True)
        made it for training; features never seen in training count for nothing. The rows are
        summed in index order, in float64: the same text gives the same bits in every process."""
        z = self._logits(a)
        n = len(self.labels)
        return _ranked(self.labels, z[:n]), _sigmoid(float(z[n]))

    def tiers(self, a: Analysis) -> list[tuple[str, float]]:
        """Which kind of risk, if the message is one: every crisis tier, best first (asked only
        when the risk is suspected, so it is computed apart)."""
        return _ranked(self.tier_labels, self._logits(a)[len(self.labels) + 1:])

    def _logits(self, a: Analysis) -> np.ndarray:
        found = set(map(self.index.get, self.features(a)))
        found.discard(None)
        z = self.bias.copy()
        if found:
            rows = np.sort(np.fromiter(found, dtype=np.intp, count=len(found)))
            total = self.rows.take(rows, axis=0).sum(axis=0, dtype=np.float64)
            z += total[:-1] / math.sqrt(total[-1])
        return z


def _ranked(labels: tuple[str, ...], logits: np.ndarray) -> list[tuple[str, float]]:
    """Softmax, best first (ties in label order)."""
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable").tolist()
    p = p.tolist()
    return [(labels[i], p[i]) for i in order]


def _sigmoid(x: float) -> float:
    # written both ways so that exp never overflows
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _load() -> Model:
    data = resources.files("flows").joinpath(MODEL_FILE).read_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return Model({k: arrays[k] for k in arrays.files})


model = once(_load)
# The last message scored: the conversation asks for intents and risk of the same Analysis, and
# the second call reads the first's result. A weak reference (the person's words are not kept
# alive here), in a tuple swapped whole (threads never mix two messages).
_last: tuple[weakref.ref | None, tuple] = (None, ())


def _scores(a: Analysis) -> tuple[list[tuple[str, float]], float]:
    global _last
    seen, result = _last
    if seen is None or seen() is not a:
        result = model().scores(a)
        _last = (weakref.ref(a), result)
    return result


def intents(a: Analysis) -> list[tuple[str, float]]:
    """Every intent label with its probability, best first ("none": none of them)."""
    return list(_scores(a)[0])


def risk(a: Analysis) -> float:
    """The probability that the message signals a risk (any crisis tier, self or others)."""
    return _scores(a)[1]


def tier(a: Analysis) -> str:
    """The kind of risk the message most likely signals, if it is one (a crisis tier)."""
    return model().tiers(a)[0][0]


@dataclass(frozen=True)
class Thresholds:
    """How the training script measured the bands (how the conversation should use them): when
    the best label is "none" the model has nothing to say; otherwise its probability p decides."""
    intent_answer: float   # p at or above: answer that intent
    intent_ask: float      # p at or above, below intent_answer: ask which of the two best intents
    #                        (the ranking without "none") was meant, with a way out ("neither")
    intent_overrule: float  # p at or above: the model's intent is taken even where the patterns found
    #                         another (patterns miss near intents of new writers; the model, trained on
    #                         every independent set, reads them better when it is this sure)
    risk_ask: float        # risk at or above: ask directly and gently whether they think of dying
    risk_beside: float     # risk at or above, in a message the patterns understood as a need: asked after it
    risk_doubt: float      # risk below: a wish to die the patterns found is asked about, not carded
    #                        (flows/crisis.py doubted(); no held-back risk fell below it)


@once
def thresholds() -> Thresholds:
    raw = tomllib.loads(resources.files("flows").joinpath(THRESHOLDS_FILE).read_text("utf-8"))
    return Thresholds(float(raw["intent_answer"]), float(raw["intent_ask"]), float(raw["intent_overrule"]),
                      float(raw["risk_ask"]), float(raw["risk_beside"]), float(raw["risk_doubt"]))
