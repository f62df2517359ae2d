"""The labelled corpora (tests/data/*.tsv) and how they are scored; shared by the table tests and
by benchmarks/understanding.py and benchmarks/crisis.py, which print the figures."""
from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    arg: str = ""
    state: str = ""
    note: str = ""
    writer: str = ""
    about: str = ""


def _read(name: str) -> list[dict]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def understanding_rows(name: str = "understanding_corpus.tsv") -> list[Row]:
    return [Row(text=r["text"].replace("\\n", "\n"), label=r["intent"], arg=r.get("arg") or "",
                state=r.get("state") or "", note=r.get("note") or "")
            for r in _read(name)]


def crisis_rows(name: str = "crisis_corpus.tsv") -> list[Row]:
    return [Row(text=r["text"].replace("\\n", "\n"), label=r["tier"], writer=r["writer"],
                about=r["about"], note=r.get("note") or "", state=r.get("style") or "")
            for r in _read(name)]


# -- understanding -------------------------------------------------------------------------------
# The state a row's "state" stands for, and the question the bot had just asked there.
_CONTEXT = {"": ("choosing", {"asked": "lanes"}),      # a first message: right after the greeting's buttons
            "waiting": ("waiting", {"handoff": "h"}),
            "handoff_confirm": ("handoff_confirm", {"asked": "handoff_confirm"}),
            # the confirmation that also asked where they live (a deployment with teams)
            "handoff_confirm_place": ("handoff_confirm", {"asked": "handoff_confirm_place"}),
            "forget_confirm": ("forget_confirm", {"asked": "forget_confirm"}),
            # right after a crisis answer of that tier (flows/context.py's window)
            "after_medical": ("choosing", {"asked": "crisis", "window": "medical"}),
            "after_high": ("choosing", {"asked": "crisis", "window": "high"}),
            "after_violence": ("choosing", {"asked": "crisis", "window": "violence_family"}),
            "after_calmed": ("choosing", {"window": "calmed"}),
            # right after the support page, or a place's windows
            "after_support": ("lane_other", {"asked": "after_support"}),
            "after_local": ("lane_other", {"asked": "after_local"})}


def understood_label(row: Row) -> tuple[str, str]:
    """(intent, arg) as mado understands the row; "none" when it falls back."""
    from flows.language import analyse
    from flows.understanding import understand

    from flows.context import kind_of
    from flows.understanding import overrule, second_opinion

    state, data = _CONTEXT[row.state]
    a = analyse(row.text)
    u = understand(a, state, data)
    if not data.get("window"):                  # as the bot does (flows/machine.py): in line, only a topic
        over = overrule(a, state, data, u)
        if state != "waiting" or kind_of(over.trigger) == "topic":
            u = over
    if u.trigger == "fallback" and not data.get("window"):     # as the bot does: the model's turn
        u = second_opinion(a, state, data) or u
        if u.intent == "guess":
            return "guess", u.arg                 # it asks which of two was meant (not counted right)
        if u.intent == "ask_risk":
            return "ask_risk", ""
    if u.intent == "place" and u.place is not None:
        return "place", u.place.pref
    return (u.intent or "none").removesuffix("_short").removesuffix("_soft"), ""


def score_understanding(rows: list[Row]):
    """Per-intent precision and recall, overall accuracy, and the misses."""
    tp, fp, fn = Counter(), Counter(), Counter()
    misses = []
    asked = 0            # asked "A or B?" with the meant intent among the two (counted a miss)
    for row in rows:
        got, arg = understood_label(row)
        if got == "guess":
            asked += row.label in [g.removesuffix("_short").removesuffix("_soft") for g in arg.split("+")]
        ok = got == row.label and (row.label != "place" or arg == row.arg.zfill(2))
        if ok:
            tp[row.label] += 1
        else:
            fn[row.label] += 1
            fp[got] += 1
            misses.append((row, got, arg))
    labels = sorted(set(tp) | set(fn) | set(fp))
    table = {lab: (tp[lab] / (tp[lab] + fp[lab]) if tp[lab] + fp[lab] else 1.0,
                   tp[lab] / (tp[lab] + fn[lab]) if tp[lab] + fn[lab] else 1.0,
                   tp[lab] + fn[lab]) for lab in labels}
    accuracy = sum(tp.values()) / len(rows)
    score_understanding.asked = asked / len(rows)     # (read by benchmarks/understanding.py)
    return accuracy, table, misses


# -- crisis ---------------------------------------------------------------------------------------
RISK_TIERS = ("medical", "harm_others", "urgent", "high", "medium", "violence_family", "violence_partner", "violence_by_me")


def score_crisis(rows: list[Row]):
    """Per-tier recall (a risk message found as any risk tier, and as exactly its tier), the false
    alarm rate on the non-risk rows, and the misses."""
    found_any, found_exact, total = Counter(), Counter(), Counter()
    alarms, negatives = 0, 0
    misses = []
    for row in rows:
        d = carded(row.text)             # what the bot answers, as a first message (flows.handle)
        if row.label == "none":
            negatives += 1
            if d.tier:
                alarms += 1
                misses.append((row, d.tier))
            continue
        total[row.label] += 1
        if d.tier:
            found_any[row.label] += 1
        if d.tier == row.label:
            found_exact[row.label] += 1
        else:
            misses.append((row, d.tier))
    recall = {t: (found_any[t] / total[t], found_exact[t] / total[t], total[t]) for t in total}
    overall = sum(found_any.values()) / max(1, sum(total.values()))
    return recall, overall, alarms / max(1, negatives), misses


def carded(text: str):
    """The crisis tier the bot answers this text with as a first message (the patterns' finding,
    unless the learned model doubted it, and who acts as the conversation reads it), as a
    Detection (tier None when the answer is not a crisis card)."""
    from flows import Event, handle
    from flows.crisis import Detection

    ctx = {"on_duty": True, "next_open": "N"}
    state = handle(None, Event("follow"), 1_000_000.0, ctx=ctx).state
    out = handle(state, Event("text", text=text), 1_000_040.0, ctx=ctx)
    tier = (out.trigger or "").removeprefix("crisis_")
    return Detection(tier if tier in RISK_TIERS else None)


def by_writer(rows: list[Row]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for r in rows:
        out[r.writer] += 1
    return dict(out)


# -- conversations (several turns) ----------------------------------------------------------------
# tests/data/conversations.jsonl: {"id", "kind", "on_duty", "start", "turns": [...], "expect": [...]}.
# `expect` names what the answer to the LAST turn must do (all of them); each label is checked on
# the message ids said and the effects asked for, never on wording.
CONVERSATIONS = "conversations.jsonl"
STARTS = {"new": None, "waiting": "waiting", "message_left": "message_left", "talking": "talking"}
TOPICS = {"about": "info.about", "support": "info.support", "support_more": "info.support.more",
          "family_guide": "family.guide", "8050": "family.8050", "tell_self": "answer.heard_self",
          "tell_family": "answer.heard_family", "phone": "answer.phone"}


def conversation_rows(name: str = CONVERSATIONS) -> list[dict]:
    import json

    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def play(conv: dict):
    """Play a conversation through flows.handle (pure): the outcome of each turn."""
    from flows import Event, handle

    ctx = ({"on_duty": True, "next_open": "N", "queue_position": 1, "wait": "W", "held": True}
           if conv.get("on_duty", True) else {"on_duty": False, "next_open": "N"})
    now = 1_000_000.0
    state = handle(None, Event("follow"), now, ctx=ctx).state
    start = STARTS[conv.get("start", "new")]
    if start:
        state = {**state, "state": start, "handoff": "h1"}
    outs = []
    for text in conv["turns"]:
        now += 40
        out = handle(state, Event("text", text=text), now, ctx=ctx)
        outs.append(out)
        state = out.state
    return outs


def _pref_codes() -> dict[str, str]:
    from messages_ja import catalog

    return {p["name"]: code for code, p in catalog().places["prefs"].items()}


def meets(label: str, out) -> bool:
    """Whether one turn's outcome does what the label asks."""
    from messages_ja import catalog, municipalities

    ids = [m for r in out.replies for m in r.say]
    effects = [e["type"] for e in out.effects]
    cards = [catalog().messages.get(m, {}).get("card") for m in ids]
    if label == "119_first":
        firsts = [c for m, c in zip(ids, cards) if m != "welcome.back"][:1]
        return firsts == ["emergency"]
    if label == "crisis":
        return (bool(out.trigger and out.trigger.startswith("crisis_") and out.trigger not in ("crisis_later",))
                or "crisis" in effects or any(m.startswith(("crisis.lines", "crisis.reminder", "crisis.window.still", "crisis.window.chat"))
                                                       for m in ids)
                or "emergency" in cards)
    if label == "no_crisis":      # nothing of the crisis answers (a denial, a joke understood)
        return not meets("crisis", out) and not any(m.startswith("crisis.") and not m.startswith("crisis.window.calm")
                                                    for m in ids)
    if label == "violence_to_writer":
        return any(m in ("crisis.violence", "crisis.violence_youth", "crisis.violence.reminder") for m in ids)
    if label == "violence_partner":
        return any(m in ("crisis.violence_partner", "crisis.violence_partner.reminder") for m in ids)
    if label == "violence_by_writer":
        return any(m in ("crisis.violence_by_me", "crisis.violence_by_me.reminder") for m in ids)
    if label == "violence_family_member":
        return any(m in ("crisis.violence", "crisis.violence_youth", "family.violence", "family.violence.family",
                         "crisis.violence.reminder") for m in ids)
    if label == "calm":          # (the model's direct question answered "no" is met the same way)
        return any(m.startswith("crisis.window.calm") or m == "crisis.ask_no" for m in ids) and "emergency" not in cards \
            and not any(m.startswith("crisis.lines") for m in ids)
    if label == "cancel":
        return "handoff_cancel" in effects or any(m in ("handoff.declined", "handoff.cancelled", "handoff.cancelled.again")
                                                   for m in ids)
    if label == "goodbye":
        return any(m in ("small.goodbye", "small.goodbye.short", "stop.bye", "small.thanks", "handoff.paused", "handoff.step_away") for m in ids)
    if label == "human":
        return out.trigger in ("want_human", "handoff_yes", "crisis_human") or any(
            m in ("handoff.confirm", "handoff.off_duty_first", "handoff.queued", "handoff.already",
                  "handoff.leave_message", "crisis.offer_human", "crisis.family.offer", "crisis.offer_off",
                  "crisis.family.offer_off") for m in ids)
    if label == "relay":          # (a crisis while talking is passed on with the alert)
        return "relay" in effects or "crisis" in effects
    if label == "ask_wait":
        return any(m in ("handoff.wait_status", "handoff.message_left_status", "handoff.wait_if_now") for m in ids)
    if label.startswith("local:"):
        code = _pref_codes().get(label[6:])
        cities = municipalities()
        return any(m == f"local.pref.{code}" or (m.startswith("local.city.") and
                   cities.get(m.rsplit(".", 1)[1], {}).get("pref") == code) for m in ids)
    prefix = TOPICS.get(label, f"answer.{label}")
    return any(m == prefix or m.startswith(prefix + ".") for m in ids)


def score_conversations(convs: list[dict]):
    """Right % per kind (the last turn's answer does every expected thing) and the misses."""
    right, total = Counter(), Counter()
    misses = []
    for conv in convs:
        last = play(conv)[-1]
        ok = all(meets(label, last) for label in conv["expect"])
        total[conv["kind"]] += 1
        right[conv["kind"]] += ok
        if not ok:
            misses.append((conv, last))
    table = {k: (right[k] / total[k], total[k]) for k in sorted(total)}
    return sum(right.values()) / max(1, len(convs)), table, misses
