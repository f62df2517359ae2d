"""The independent sets of 2026-12 (tests/data/independent/: written by people who never saw the
patterns, scored on first contact, then their misses generalised): floors just under what they
read now, so a change that loses what was learned from them fails here. The first-contact figures
are in README; the benchmarks print these sets' own (`--file`)."""
import pytest

from tests.corpus import (conversation_rows, crisis_rows, score_conversations, score_crisis,
                          score_understanding, understanding_rows)


def test_first_messages_of_new_writers():
    accuracy, _, misses = score_understanding(understanding_rows("independent/first_messages_2026-12.tsv"))
    assert accuracy >= 0.85, [(r.text, got) for r, got, _ in misses]


def test_risk_in_new_writers_words():
    recall, overall, false_alarms, misses = score_crisis(crisis_rows("independent/risk_2026-12.tsv"))
    assert overall >= 0.95 and false_alarms <= 0.05, misses
    assert recall["medical"][0] == pytest.approx(1.0), [m for m in misses if m[0].label == "medical"]


def test_conversations_of_new_writers():
    right, _, misses = score_conversations(conversation_rows("independent/conversations_2026-12.jsonl"))
    assert right >= 0.75, [(c["id"], c["turns"]) for c, _ in misses]
