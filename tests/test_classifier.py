"""The learned second opinion (flows/classifier.py): the shipped model and thresholds load, the
pure inference does what the training script trained it to do, and it is deterministic. Pure:
no scikit-learn (the model is retrained and checked byte for byte by
`python scripts/train_classifier.py --check`, a developer tool)."""
import gc
import json
import math
import os
import subprocess
import sys
import tomllib
import weakref
from fnmatch import fnmatch
from pathlib import Path

import pytest

from flows import classifier
from flows.language import analyse
from tests.corpus import crisis_rows, understanding_rows

ROOT = Path(__file__).resolve().parent.parent
UNDERSTANDING = understanding_rows()
CRISIS = crisis_rows()
RISKY = ["死にたい", "自殺したい", "死のうと思ってる", "消えてしまいたい", "生きてる意味ない", "もう生きていたくない",
         "シニタイ", "薬ぜんぶ飲んだ"]
CALM = ["今日はいい天気ですね", "相談は無料ですか", "ラーメン食べたい", "ありがとうございました", "はい",
        "息子が部屋から出てきません", "死ぬほど笑った", "ゲームで死んだ", "髪を切った"]


def test_the_shipped_model_loads_and_knows_every_intent_of_the_corpus():
    model = classifier.model()
    assert set(model.labels) == {r.label for r in UNDERSTANDING}     # retrain after adding an intent
    assert len(model.index) > 1000
    assert model.rows.shape[0] == len(model.index)
    ranked = classifier.intents(analyse("相談は無料ですか"))
    assert [label for label, _ in ranked].count("none") == 1 and len(ranked) == len(model.labels)
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    assert math.isclose(sum(p for _, p in ranked), 1.0, abs_tol=1e-9)


def test_it_ships_with_the_package():
    raw = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = raw["tool"]["setuptools"]["package-data"]["flows"]
    for name in (classifier.MODEL_FILE, classifier.THRESHOLDS_FILE):
        assert (ROOT / "flows" / name).is_file()
        assert any(fnmatch(name, p) for p in patterns), name
    assert any(d.startswith("numpy") for d in raw["project"]["dependencies"])
    assert not any(d.startswith("scikit-learn") for d in raw["project"]["dependencies"])


def test_the_thresholds_parse_and_are_ordered():
    t = classifier.thresholds()
    # (the ask band may be empty: where the held-back messages below intent_answer had the meant
    # intent among the model's two best less than ASK_TOP_TWO of the time, it names none)
    assert 0 < t.intent_ask <= t.intent_answer < 1
    assert 0 < t.risk_ask < 1


def test_it_does_what_it_was_trained_to_do():
    """The model was trained on every corpus row: reading them through flows/classifier.py (not
    scikit-learn) must give back their labels. A mismatch between the training features and these,
    or a stale model after the corpora changed, fails here."""
    right = sum(classifier.intents(analyse(r.text))[0][0] == r.label for r in UNDERSTANDING)
    assert right / len(UNDERSTANDING) >= 0.98
    risk_ask = classifier.thresholds().risk_ask
    right = sum((classifier.risk(analyse(r.text)) >= risk_ask) == (r.label != "none") for r in CRISIS)
    assert right / len(CRISIS) >= 0.97
    calm = [r for r in UNDERSTANDING if r.label != "family_violence"]
    assert sum(classifier.risk(analyse(r.text)) < risk_ask for r in calm) / len(calm) >= 0.95


@pytest.mark.parametrize("text", RISKY)
def test_risk_is_high_for_unmistakable_risk(text):
    assert classifier.risk(analyse(text)) >= 0.9


@pytest.mark.parametrize("text", CALM)
def test_risk_is_low_for_calm_messages(text):
    assert classifier.risk(analyse(text)) < 0.1


def test_a_clear_question_is_answered_and_nothing_is_nothing():
    answer = classifier.thresholds().intent_answer
    label, p = classifier.intents(analyse("相談は無料ですか"))[0]
    assert label == "q_cost" and p >= answer
    label, p = classifier.intents(analyse(""))[0]           # no features: the biases alone
    assert label == "none"
    assert classifier.risk(analyse("")) < 0.1


def test_intents_and_risk_of_one_analysis_agree_with_a_fresh_one():
    a, b = analyse("もう生きていたくない"), analyse("相談は無料ですか")
    first = (classifier.intents(a), classifier.risk(a))
    classifier.intents(b)                                     # another message in between
    assert (classifier.intents(a), classifier.risk(a)) == first == classifier.model().scores(analyse(a.raw))
    classifier.intents(a).clear()                             # a caller's list is its own
    assert classifier.intents(a) == first[0]


_SCORE = ("import json, sys; from flows import classifier; from flows.language import analyse; "
          "print(json.dumps([[classifier.intents(analyse(t))[:5], classifier.risk(analyse(t))] "
          "for t in json.loads(sys.argv[1])]))")


def test_deterministic_in_every_process():
    """The same text gives the same numbers to the last bit, whatever the string hash seed (the
    features pass through a set)."""
    texts = RISKY[:3] + CALM[:3] + [r.text for r in UNDERSTANDING[::97]]
    here = json.loads(json.dumps([[classifier.intents(analyse(t))[:5], classifier.risk(analyse(t))] for t in texts]))
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", _SCORE, json.dumps(texts)], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True, timeout=60).stdout
        assert json.loads(out) == here


def test_the_last_message_is_not_kept_alive():
    a = analyse("相談は無料ですか")
    classifier.risk(a)
    gone = weakref.ref(a)
    del a
    gc.collect()
    assert gone() is None
