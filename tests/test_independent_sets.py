"""The independent sets of 2026-12 (tests/data/independent/: written by people who never saw the
patterns, each scored on first contact, then their misses generalised): floors just under what
they read now, so a change that loses what was learned from them fails here. The first-contact
figures are in README; the benchmarks print these sets' own (`--file`)."""
import pytest

from tests.corpus import (conversation_rows, crisis_rows, score_conversations, score_crisis,
                          score_understanding, understanding_rows)

SETS = ["2026-12", "2026-12b", "2026-12c", "2026-12d", "2026-12e", "2026-12f", "2026-12g", "2026-12h", "2026-12i", "2026-12j", "2026-12k", "2026-12l", "2026-12m", "2026-12n", "2026-12o", "2026-12p", "2026-12q", "2026-12r", "2026-12s", "2026-12t", "2026-12u", "2026-12v", "2026-12w", "2026-12x", "2026-12y", "2026-12z", "2026-12aa", "2026-12ab", "2026-12ac", "2026-12ad", "2026-12ae", "2026-12af", "2026-12ag", "2026-12ah", "2026-12ai", "2026-12aj", "2026-12ak", "2026-12al", "2026-12am", "2026-12an", "2026-12ao", "2026-12aq", "2026-12ar", "2026-12as", "2026-12at", "2026-12au"]
# (first messages, risk found, false alarms at most, conversations) under each set's reading now
FLOORS = {"2026-12": (0.86, 0.97, 0.02, 0.83), "2026-12b": (0.82, 0.84, 0.04, 0.78),
          "2026-12c": (0.87, 0.81, 0.05, 0.79), "2026-12d": (0.89, 0.95, 0.02, 0.93),
          "2026-12e": (0.90, 0.97, 0.02, 0.92), "2026-12f": (0.89, 0.97, 0.03, 0.86),
          # (set g's writer listed what the whole conversation must do, not only its last answer:
          # read the brief's way it is low; test_conversations_of_set_g_each_need_met holds it too)
          "2026-12g": (0.89, 0.97, 0.02, 0.42),
          "2026-12h": (0.93, 0.98, 0.01, 0.94), "2026-12i": (0.90, 0.98, 0.01, 0.94),
          "2026-12j": (0.80, 0.99, 0.01, 0.87),
          # first contact (9ad3b6b): 87.7 %, 87.5 % found with 11.7 % false alarms, 87.7 %; with the model's
          # overrule and doubt (572ea95, before anyone here read the set): 88.9 % as the bot answered (the
          # overrule never fired after the greeting then; the scorer read 92.6 %), 87.5 % / 6.7 %, 87.7 %
          "2026-12k": (0.93, 0.95, 0.02, 0.93),
          # first contact (f3116b1, the model's doubt and kinds of ask in): 88.8 % as the bot answered (the
          # scorer read 93.0 %), 90.4 % found with 6.7 % false alarms (medical 21/22, found or asked 99.3 %), 88.5 %
          "2026-12l": (0.94, 0.96, 0.02, 0.92),
          # first contact (99f266c): 88.7 % as the bot answered (the scorer read 93.5 %), 92.6 % found with no
          # false alarm (medical 22/22, found or asked 98.5 %), 90.0 %; with the overrule firing as meant
          # (43869b3) and a model trained without m: 94.0 % (k 93.9 %, l 93.8 % the same way)
          "2026-12m": (0.94, 0.96, 0.02, 0.92),
          # first contact (9117eecc): 92.8 %, 69.1 % found with 10.0 % false alarms (medical 17/22, found or
          # asked 94.9 %; its writer's "medium" took in low mood with no wish to die or vanish), 81.5 %
          "2026-12n": (0.95, 0.87, 0.02, 0.92),
          # first contact (47f758a, after set n's misses were generalised): 94.6 %, 80.1 % found with 5.0 %
          # false alarms (medical 20/22, found or asked 98.5 %), 86.9 %
          "2026-12o": (0.94, 0.98, 0.01, 0.93),
          # first contact (e8088ea, after o's misses were generalised): 92.1 %, 88.2 % found with 11.7 % false
          # alarms (medical 21/22, found or asked 99.3 %), 86.9 %
          "2026-12p": (0.94, 0.96, 0.01, 0.95),
          # first contact (be7e1f9, after p's misses were generalised): 91.3 %, 83.8 % found with 8.3 % false
          # alarms (medical 18/22, found or asked 98.5 %), 86.9 %
          "2026-12q": (0.92, 0.97, 0.02, 0.95),
          # first contact (39f53fe, after q's misses were generalised): 94.3 %, 88.2 % found with 1.7 % false
          # alarms (medical 20/22, found or asked 100 %), 92.3 %
          "2026-12r": (0.95, 0.98, 0.01, 0.95),
          # first contact (35961fa, after r's misses were generalised): 93.2 %, 89.7 % found with 10.0 % false
          # alarms (medical 20/22, found or asked 99.3 %), 86.9 %
          "2026-12s": (0.92, 0.98, 0.02, 0.93),
          # first contact (f766458, after s's misses were generalised): 92.8 %, 84.6 % found with 1.7 % false
          # alarms (medical 18/22, found or asked 98.5 %), 93.8 %
          "2026-12t": (0.93, 0.97, 0.01, 0.95),
          # first contact (41d3c2e, after t's misses were generalised): 92.6 %, 86.0 % found with 8.3 % false
          # alarms (medical 20/22, found or asked 99.3 %), 89.2 %
          "2026-12u": (0.94, 0.97, 0.02, 0.95),
          # first contact (0fa6e61, after u's misses were generalised): 92.1 % (its writer put the place
          # rows' codes in the note column: swapped back; 83.5 % before), 87.5 % found with 11.7 % false
          # alarms (medical 21/22, found or asked 98.5 %), 89.2 %
          "2026-12v": (0.94, 0.97, 0.02, 0.95),
          # first contact (16049b1, after v's misses were generalised): 94.4 %, 83.8 % found with 11.7 %
          # false alarms (medical 20/22, found or asked 97.8 %), 84.6 %
          "2026-12w": (0.94, 0.95, 0.02, 0.88),
          # first contact (18e8c14, after w's misses were generalised): 94.8 %, 87.5 % found with 3.3 %
          # false alarms (medical 21/22, found or asked 99.3 %), 91.5 %
          "2026-12x": (0.94, 0.97, 0.02, 0.95),
          # first contact (7c432c0, after x's misses were generalised): 92.9 %, 80.1 % found with 3.3 %
          # false alarms (medical 21/22, found or asked 97.8 %), 89.2 %
          "2026-12y": (0.95, 0.97, 0.02, 0.92),
          # first contact (d97bfc2, after y's misses were generalised): 95.1 %, 91.9 % found with 0.0 %
          # false alarms (medical 21/22, found or asked 98.5 %), 90.0 %
          "2026-12z": (0.96, 0.98, 0.02, 0.93),
          # first contact (22bafd1, after z's misses were generalised): 96.0 %, 91.9 % found with 8.3 %
          # false alarms (medical 21/22, found or asked 97.1 %), 89.2 %
          "2026-12aa": (0.96, 0.98, 0.02, 0.93),
          # first contact (a05f694, after aa's misses were generalised): 96.6 %, 89.7 % found with 6.7 %
          # false alarms (medical 21/22, found or asked 98.5 %), 92.3 %
          "2026-12ab": (0.96, 0.98, 0.02, 0.95),
          # first contact (ff53d59, after ab's misses were generalised): 95.6 %, 93.4 % found with 5.0 %
          # false alarms (medical 19/22, found or asked 100 %), 78.5 %
          "2026-12ac": (0.96, 0.98, 0.02, 0.88),
          # first contact (ef42594, after ac's misses were generalised): 94.8 %, 90.4 % found with 6.7 %
          # false alarms (medical 20/22, found or asked 98.5 %), 90.8 %
          "2026-12ad": (0.94, 0.98, 0.02, 0.93),
          # first contact (48a7b9a, after ad's misses were generalised): 92.7 %, 91.9 % found with 5.0 %
          # false alarms (medical 22/22, found or asked 100 %), 89.2 %
          "2026-12ae": (0.94, 0.98, 0.02, 0.92),
          # first contact (d0836fc, after ae's misses were generalised): 94.6 %, 88.2 % found with 10.0 %
          # false alarms (medical 20/22, found or asked 100 %), 90.0 %
          "2026-12af": (0.96, 0.98, 0.02, 0.95),
          # first contact (6f2a25e, after af's misses and two training sets were generalised): 95.8 %,
          # 89.7 % found with 10.0 % false alarms (medical 20/22, found or asked 100 %), 89.2 %
          "2026-12ag": (0.96, 0.98, 0.02, 0.95),
          # first contact (5a4e6d7, after ag's misses and a third training set were generalised): 94.0 %,
          # 89.7 % found with 6.7 % false alarms (medical 22/22, found or asked 100 %), 86.2 %
          "2026-12ah": (0.95, 0.98, 0.02, 0.92),
          # first contact (f5d1194, after ah's misses were generalised): 95.5 %, 92.6 % found with 1.7 %
          # false alarms (medical 21/22, found or asked 100 %), 90.0 %
          "2026-12ai": (0.95, 0.98, 0.02, 0.95),
          # first contact (8b6ddd7, after ai's misses and a fourth training set were generalised): 96.1 %,
          # 91.9 % found with 3.3 % false alarms (medical 22/22, found or asked 99.3 %), 94.6 %
          "2026-12aj": (0.96, 0.98, 0.02, 0.95),
          # first contact (749d29a, after aj's misses were generalised): 95.4 %, 89.7 % found with 1.7 %
          # false alarms (medical 21/22, found or asked 99.3 %), 90.8 %
          "2026-12ak": (0.97, 0.98, 0.02, 0.96),
          # first contact (3b7ab40, after ak's misses and two more training sets were generalised): 96.8 %,
          # 91.2 % found with 3.3 % false alarms (medical 22/22, found or asked 100 %), 93.8 %
          "2026-12al": (0.97, 0.98, 0.02, 0.96),
          # first contact (d1f1b67, after al's misses and two more training sets were generalised): 96.4 %,
          # 92.6 % found with 0.0 % false alarms (medical 21/22, found or asked 100 %), 93.1 %
          "2026-12am": (0.97, 0.98, 0.02, 0.96),
          # first contact (863333f, after am's misses and two more training sets were generalised): 95.8 %,
          # 91.9 % found with 5.0 % false alarms (medical 22/22, found or asked 99.3 %), 92.3 %
          "2026-12an": (0.97, 0.98, 0.02, 0.95),
          # first contact (774a19b, after an's misses were generalised): 97.1 %, 95.6 % found with 1.7 %
          # false alarms (medical 21/22, found or asked 99.3 %), 87.7 % (five of its several-needs misses
          # ask again, at the last turn, a question already answered at its own turn)
          "2026-12ao": (0.97, 0.98, 0.02, 0.92),
          # (set ap was scored last session, on a97191e, and lost with that machine before it was
          # added.) First contact (1677d44, its brief rewritten from the sets' formats: the earlier
          # briefs were lost too): 93.8 %, 86.0 % found with 15.0 % false alarms (medical 21/22,
          # found or asked 100 %), 90.8 %
          "2026-12aq": (0.97, 0.98, 0.02, 0.94),
          # first contact (752f19d, after aq's misses were generalised): 94.9 %, 84.6 % found with 8.3 %
          # false alarms (medical 21/22, found or asked 99.3 %), 89.2 %
          "2026-12ar": (0.96, 0.98, 0.02, 0.95),
          # first contact (197cc13, after ar's misses and two more training sets were generalised): 92.6 %,
          # 90.4 % found with 6.7 % false alarms (medical 22/22, found or asked 97.8 %), 87.7 %
          "2026-12as": (0.95, 0.98, 0.02, 0.95),
          # first contact (f0f7ae6, after as's misses and two more training sets were generalised): 94.9 %,
          # 91.2 % found with 1.7 % false alarms (medical 20/22, found or asked 98.5 %), 93.8 %
          "2026-12at": (0.96, 0.98, 0.02, 0.95),
          # first contact (24fdbaf, after at's misses and two more training sets were generalised): 94.5 %,
          # 92.6 % found with 8.3 % false alarms (medical 22/22, found or asked 97.8 %), 86.2 %
          "2026-12au": (0.96, 0.98, 0.02, 0.91)}


@pytest.mark.parametrize("name", SETS)
def test_first_messages_of_new_writers(name):
    accuracy, _, misses = score_understanding(understanding_rows(f"independent/first_messages_{name}.tsv"))
    assert accuracy >= FLOORS[name][0], [(r.text, got) for r, got, _ in misses]


@pytest.mark.parametrize("name", SETS)
def test_risk_in_new_writers_words(name):
    recall, overall, false_alarms, misses = score_crisis(crisis_rows(f"independent/risk_{name}.tsv"))
    assert overall >= FLOORS[name][1] and false_alarms <= FLOORS[name][2], misses


def test_every_medical_emergency_of_the_first_set_is_found():
    recall, _, _, misses = score_crisis(crisis_rows("independent/risk_2026-12.tsv"))
    assert recall["medical"][0] == pytest.approx(1.0), [m for m in misses if m[0].label == "medical"]


@pytest.mark.parametrize("name", SETS)
def test_conversations_of_new_writers(name):
    right, _, misses = score_conversations(conversation_rows(f"independent/conversations_{name}.jsonl"))
    assert right >= FLOORS[name][3], [(c["id"], c["turns"]) for c, _ in misses]


def test_conversations_of_set_g_each_need_met():
    """Set g labels each conversation with everything it must do, at whichever turn: each label
    met by one of the turns' answers."""
    from tests.corpus import meets, play

    convs = conversation_rows("independent/conversations_2026-12g.jsonl")
    met = [all(any(meets(label, out) for out in play(c)) for label in c["expect"]) for c in convs]
    assert sum(met) / len(convs) >= 0.85, [c["id"] for c, ok in zip(convs, met) if not ok]
