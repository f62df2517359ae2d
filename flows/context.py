"""What the conversation keeps in mind across turns, and more than one need in one message.

Pure, and driven by data ([context] and each state's `reask` in conversation.toml):
- the crisis window: after a crisis answer, the next messages for a while are read in its light
  (flows/machine.py decides with `window`; the intents that only apply then say `window = [...]`
  in understanding.toml);
- an open question (handoff_confirm, forget_confirm): another need typed there is answered and
  the question is asked again, never dropped (`reask`);
- several needs in one message: safety first, then the place's windows, then the topic, then the
  offer of a person, in one reply of at most five LINE messages (`needs`, `merge`).
"""
from __future__ import annotations

from messages_ja import MAX_MESSAGES

from .model import Reply

# the kinds of need, in the order they are answered
ORDER = ("calm", "crisis", "place", "told", "topic", "topic2", "topic3", "person")
ANSWER = "answer"           # the trigger of the questions people ask (answers.toml)
MAX_TOPICS = 3             # questions answered from one message (within five LINE messages)
PERSON_BAR = 4.0           # a person asked for besides another need: a whole request ("I want to talk
                           # to someone"), not a word of one ("I can't talk with my family" is a life described)
TOPIC_TRIGGERS = frozenset({"answer", "info_about", "info_support", "support_more", "family_guide",
                            "family_violence", "family_8050"})
PLACE_TRIGGERS = frozenset({"pref", "city"})
# topics that a place's own windows already answer ("somewhere to consult, in Chiba")
PLACE_ANSWERS = frozenset({"info_support", "find_local"})
SUPPORT = "info_support"
FOLLOW_UP = "@follow_up"    # (flows/understanding.py sentence_needs: a clause asking about the last topic)
RISK_ASK = "crisis.ask"
RISK_ASK_FIRST = "crisis.ask.medical"
# what may be left out first when the needs do not fit in five messages
SPARE = ("local.national",)


def kind_of(trigger: str | None) -> str | None:
    if not trigger:
        return None
    if trigger.startswith("crisis_") and trigger not in ("crisis_human", "crisis_later"):
        return "crisis"
    if trigger in ("window_calm", "ask_risk_no"):   # "that was long ago; what I want to ask is…"
        return "calm"
    if trigger in PLACE_TRIGGERS:
        return "place"
    if trigger in TOPIC_TRIGGERS:
        return "topic"
    if trigger in ("heard_self", "heard_family"):
        return "told"
    if trigger == "want_human":
        return "person"
    return None


def window(state: dict, now: float, seconds: float) -> str | None:
    """The crisis tier whose answer is still fresh (within `seconds`), or None."""
    tier, at = state.get("crisis"), state.get("crisis_at")
    if tier and isinstance(at, (int, float)) and 0 <= now - at <= seconds:
        return tier
    return None


def several_topics(understood, intents: dict) -> bool:
    """Whether the message's words hold two questions or more (only then are its sentences read
    one by one: a sentence's match is a match in the whole message too)."""
    found = {(intents[n]["trigger"], intents[n].get("arg", "")) for n in understood.scores
             if intents[n]["trigger"] in TOPIC_TRIGGERS}
    return len(found) >= 2


def support_near(understood) -> bool:
    """A place named, and the kinds of support asked about: its clauses are read one by one ("what
    is a family group? is there one in osaka too?" asks for the page as well as the windows)."""
    return understood.place is not None and kind_of(understood.trigger) == "place" and SUPPORT in understood.scores


def needs(main: tuple[str, str], understood, intents: dict, place_ok: bool, long: bool = False,
          sentences: list[str] = (), remembered: tuple[str, str] | None = None,
          previous: tuple[str, str] | None = None, also: str | None = None) -> list[tuple[str, str]]:
    """Every need of the message, in the fixed order: the main one and what else it asks for
    (a place named, a question asked, a person wanted) that is not the main one's kind; a long
    message that describes a life is thanked for too. A clause that asks with no topic of its
    own (FOLLOW_UP) asks about `previous`, the topic answered last; `also`, a second question
    asked in the same clause as the main one (flows/understanding.py also_asked)."""
    if kind_of(main[0]) is None:
        return [main]                  # a need of another kind (a window, a choice) stands alone
    if kind_of(main[0]) == "topic" and main[0] in PLACE_ANSWERS and understood is not None and understood.place:
        return [main]
    have = {kind_of(main[0]): main}
    if understood is not None:
        place = understood.place
        if place is not None and place_ok and "place" not in have and (have.keys() & {"crisis", "topic", "person"}):
            have["place"] = ("city", place.city_code) if place.city_code else ("pref", place.pref)
        scores = understood.scores
        if "place" not in have and remembered and scores.keys() & {"find_local", "info_support"}:
            have["place"] = remembered       # windows near the place they named earlier
        if "crisis" not in have:
            # the questions its sentences ask (besides the main one), in order, each once
            asked = [have["topic"]] if "topic" in have else []
            if not asked and "told" not in have:
                # a place or a person asked for, and a question besides: its best one
                topics = [n for n in scores if intents[n]["trigger"] in TOPIC_TRIGGERS]
                for n in sorted(topics, key=lambda n: -scores[n])[:1]:
                    need = (intents[n]["trigger"], intents[n].get("arg", ""))
                    if not ("place" in have and need[0] in PLACE_ANSWERS):
                        asked.append(need)
            # "places I can go? and what kinds of support are there?" in clauses of their own: the
            # windows there answer the first, the page of kinds of support the second
            both = len({intents[n]["trigger"] for n in sentences if n != FOLLOW_UP} & PLACE_ANSWERS) == len(PLACE_ANSWERS)
            # "what is a family group? is there one in osaka too?": the support asked about, then a
            # clause that asks with no topic of its own (the place's): the page and the windows
            first_two = [n if n == FOLLOW_UP else intents[n]["trigger"] for n in sentences[:2]]
            both = both or ("place" in have and first_two == [SUPPORT, FOLLOW_UP])
            for n in sentences:
                if n == FOLLOW_UP:
                    if previous and previous[0] in TOPIC_TRIGGERS and previous not in asked \
                            and len(asked) < MAX_TOPICS:
                        asked.append(previous)
                    continue
                need = (intents[n]["trigger"], intents[n].get("arg", ""))
                if need[0] == "want_human" and "person" not in have:
                    have["person"] = need           # a whole request in a clause of its own
                    continue
                if need[0] in TOPIC_TRIGGERS and need not in asked and len(asked) < MAX_TOPICS \
                        and not ("place" in have and need[0] in PLACE_ANSWERS and not (both and need[0] == SUPPORT)):
                    asked.append(need)
            if not sentences and also and asked == [main]:
                # one clause asking two things at once ("a place I can phone without giving my name?")
                asked.append((intents[also]["trigger"], intents[also].get("arg", "")))
            for key, need in zip(("topic", "topic2", "topic3"), asked):
                have[key] = need
        else:
            # a risk, and a question asked in a sentence of its own ("...I want to disappear. Will
            # my parents hear of what I write here?"): the crisis answer first, then its answer
            for n in sentences:
                if n == FOLLOW_UP:
                    continue
                need = (intents[n]["trigger"], intents[n].get("arg", ""))
                if need[0] == ANSWER:          # a question's answer (not a page: the crisis answer leads)
                    have["topic"] = need
                    break
        if "calm" in have and not (have.keys() & {"topic", "told"}):
            told = [n for n in ("tell_family", "tell_self") if n in scores]
            if told:
                have["told"] = (intents[told[0]]["trigger"], "")
        if long and "told" not in have and "topic" in have and "crisis" not in have:
            told = [n for n in ("tell_family", "tell_self") if n in scores]
            if told:
                have["told"] = (intents[told[0]]["trigger"], "")
        if "person" not in have and "crisis" not in have and scores.get("want_human", 0) >= PERSON_BAR:
            have["person"] = ("want_human", "")
    if len(have) == 1:
        return [main]
    return [have[k] for k in ORDER if k in have]


def merge(parts: list[tuple[str, list[Reply]]]) -> list[Reply]:
    """The replies of several needs as one reply: in order, a crisis answer's offer of a person
    moved to the end, the crisis' choices kept (else the last need's), at most five messages
    (the national list left out first, then the lesser needs)."""
    says: list[list[str]] = []
    choices, params, offer = "", {}, []
    for kind, replies in parts:
        ids = [m for r in replies for m in r.say]
        for r in replies:
            params.update(r.params)
        if kind == "crisis" and len(ids) > 1:
            offer = ids[-1:]
            ids = ids[:-1]
            choices = replies[-1].choices if replies else ""
        elif ids == [RISK_ASK_FIRST] and not says:
            pass                       # an emergency's question (119 in it) stays first, kept below
        elif len(ids) == 1 and (ids[0] == RISK_ASK or ids[0].startswith(RISK_ASK + ".")):
            # the gentle question after what else was asked (words the model doubted): never the
            # need left out, always last with its buttons
            offer, ids = ids, []
            choices = replies[-1].choices
        elif not offer and replies:
            choices = replies[-1].choices or choices
        says.append(ids)
    flat = lambda: [m for ids in says for m in ids] + offer      # noqa: E731
    for spare in SPARE:
        if len(flat()) > MAX_MESSAGES:
            says = [[m for m in ids if m != spare] for ids in says]
    while len(flat()) > MAX_MESSAGES and len(says) > 1:
        says.pop()                                                # the least of the needs
    return [Reply(say=tuple(flat()[:MAX_MESSAGES]), choices=choices, params=params)]


def remind(replies: list[Reply], line: str | None) -> None:
    """Inside the window the tier never drops silently: its short line after the answer (on the
    last reply, so the quick replies stay on the last message), when it fits and is not there yet."""
    ids = [m for r in replies for m in r.say]
    if not line or line in ids or len(ids) >= MAX_MESSAGES or any(m.startswith("crisis.lines") for m in ids):
        return
    last = replies[-1]
    replies[-1] = Reply(say=(*last.say, line), choices=last.choices, params=last.params)
