"""The conversation machine: definition as data (conversation.toml), built once, bound per event."""
from __future__ import annotations

import threading
import tomllib
from dataclasses import replace
from functools import partial
from importlib import resources

from transitions import Machine, MachineError

from messages_ja import MAX_MESSAGES, catalog

from . import context, crisis, intents, language, understanding
from .model import Event, Outcome, Reply
from .once import once

DEFINITION_FILE = "conversation.toml"
WELCOME_BACK = "welcome.back"     # said before the answer after a long silence
STILL_MEDICAL = "crisis.window.still_medical"   # before any other answer right after a medical one
ANSWERED_TOO = "handoff.answered_too"           # a question answered while waiting for a person
WAIT_STATUS = "handoff.wait_status"             # the place in line, asked besides a question
WAIT_IF_NOW = "handoff.wait_if_now"             # where they would stand, asked with the request itself
# the window's own wordings, besides what understanding.toml's window intents carry
WINDOW_ARGS = {"window": ("still", "still_medical", "still_safe"), "window_calm": ("calm_medical", "calm_again")}


def load_definition() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath(DEFINITION_FILE).read_text("utf-8"))


class Conversation:
    """One person's conversation, as the machine's model. Lives only for one event."""

    def __init__(self, data: dict, initial: str, ctx: dict | None = None):
        self.data = dict(data)
        self.ctx = dict(ctx or {})
        self.state = self.data.get("state") or initial
        self.replies: list[Reply] = []
        self.effects: list[dict] = []
        self.fell_back = ""         # the "not understood" wording said, if any

    def to_dict(self) -> dict:
        out = dict(self.data)
        out["state"] = self.state
        return out


def _lane_wording(message_id: str, lane: str | None) -> str:
    """The family lane's own wording of a message, when the catalogue has one."""
    if lane == "family":
        family = f"{message_id}.family"
        if family in catalog().messages:
            return family
    return message_id


def _act(t: dict, menus: dict[str, str], fallback_menus: dict[str, str], event_data) -> None:
    """What a transition does besides moving: say, remember or forget marks, note a topic, ask
    for effects (which bot/ carries out: a handoff, a relay to the counselor, forgetting…).

    "{arg}" in a message id, a choice set or a mark is the event's argument (e.g. a prefecture
    code), already checked against the catalogue by flows.intents. `params` are copied from the
    context bot/ gave (queue position, next opening…) into the message's placeholders."""
    model: Conversation = event_data.model
    arg = event_data.kwargs.get("arg", "")
    choices = t.get("choices", "")
    if choices == "@dest":
        choices = menus.get(model.state, "")
    elif choices == "@fallback":          # the state's menu, with a person always offered
        choices = fallback_menus.get(model.state) or menus.get(model.state, "")
    say = t.get("say", ())
    params = {p: model.ctx.get(p, "") for p in t.get("params", ())}
    on_duty = bool(model.ctx.get("on_duty"))
    if choices == "@crisis":             # a person now, or (off duty) leaving a message
        choices = crisis.choices(on_duty=on_duty)
    if t.get("crisis_tier"):             # a crisis answer: fitted to the writer, the hour, the handoff
        say = crisis.answer(t["crisis_tier"], family=arg == "family", in_handoff=bool(model.data.get("handoff")),
                            on_duty=on_duty, youth=arg == "youth")
        params = {"next_open": model.ctx.get("next_open", "")}
    if say:
        lane = model.data.get("lane")
        model.replies.append(Reply(say=tuple(_lane_wording(m.replace("{arg}", arg), lane) for m in say),
                                   choices=choices.replace("{arg}", arg), params=params))
    model.data.update({k: v.replace("{arg}", arg) if isinstance(v, str) else v
                       for k, v in t.get("mark", {}).items()})
    for key in t.get("unmark", ()):
        model.data.pop(key, None)
    if t.get("topic"):
        topic = t["topic"].replace("{arg}", arg)
        topics = list(model.data.get("topics", ()))
        if topic not in topics:
            topics.append(topic)
        model.data["topics"] = topics
    effects = t.get("effect", [])
    for effect in [effects] if isinstance(effects, str) else effects:
        kind, _, value = effect.replace("{arg}", arg).partition(":")
        model.effects.append({"type": kind, "value": value, "crisis": model.data.get("crisis")})


def _when(expected: dict, event_data) -> bool:
    """A transition's condition on what the person chose (data) or what bot/ knows now ("ctx.…").
    true means "present"; false means "absent"."""
    model: Conversation = event_data.model
    for key, want in expected.items():
        have = model.ctx.get(key[4:]) if key.startswith("ctx.") else model.data.get(key)
        if want is True or want is False:
            if bool(have) is not want:
                return False
        elif have != want:
            return False
    return True


def _expand_crisis(transitions: list[dict]) -> list[dict]:
    """trigger "@crisis" → one transition per crisis tier (flows/crisis.py), "{tier}" filled in."""
    out = []
    for t in transitions:
        if t["trigger"] != "@crisis":
            out.append(t)
            continue
        for tier in crisis.tiers():
            out.append({**t, "trigger": f"crisis_{tier}", "crisis_tier": tier,
                        "mark": {k: v.replace("{tier}", tier) for k, v in t.get("mark", {}).items()}})
    return out


def _expand_lanes(definition: dict) -> list[dict]:
    """dest "@lane" → one transition per lane (when data.lane matches), then one for no lane."""
    lanes: dict = definition.get("lanes", {})
    out = []
    for t in _expand_crisis(definition["transitions"]):
        if t["dest"] != "@lane":
            out.append(t)
            continue
        when = t.get("when", {})
        for lane, state in lanes.items():
            if when.get("lane", lane) == lane:
                out.append({**t, "dest": state, "when": {**when, "lane": lane}})
        if "lane" not in when:
            out.append({**t, "dest": t.get("no_lane", definition["no_lane"])})
    return out


class FlowMachine:
    """The machine, built once per process. Each thread has one model bound to it once (its
    trigger methods made then); per event only that model's state, data and context are swapped
    in and the result is handed out as a fresh Conversation. No lock on the way: transitions'
    Machine keeps nothing per trigger outside the model (unqueued, no model list walked)."""

    def __init__(self, definition: dict):
        self.definition = definition
        self.name = definition["name"]
        self.version = definition["version"]
        self.initial = definition["initial"]
        self.menus = {s["name"]: s.get("menu", "") for s in definition["states"]}
        self.fallback_menus = {s["name"]: s["fallback_menu"] for s in definition["states"] if s.get("fallback_menu")}
        # While a human holds the conversation, what the person writes goes to the counselor:
        # only the triggers a state keeps (and crisis) still act; everything else is "relay".
        self.relay = {s["name"]: frozenset(s.get("keep", ())) for s in definition["states"]
                      if s.get("relay")}
        self.typed = {s["name"]: frozenset(s.get("typed", ())) for s in definition["states"] if s.get("relay")}
        self.user_triggers: set[str] = set()
        transitions = []
        for t in _expand_lanes(definition):
            spec = {"trigger": t["trigger"], "source": t["source"],
                    "dest": None if t["dest"] == "=" else t["dest"]}
            if any(t.get(k) for k in ("say", "mark", "unmark", "effect", "topic", "crisis_tier")):
                spec["after"] = partial(_act, dict(t), self.menus, self.fallback_menus)
            if t.get("when"):
                spec["conditions"] = partial(_when, dict(t["when"]))
            transitions.append(spec)
        self.machine = Machine(
            model=None, states=[s["name"] for s in definition["states"]], transitions=transitions,
            initial=self.initial, auto_transitions=False, send_event=True,
        )
        self.triggers = set(self.machine.events)
        self.context = definition["context"]
        self.midflow = frozenset(self.context["midflow"])
        # states with an open question: the message that asks it again (flows/context.py)
        self.reask = {s["name"]: s["reask"] for s in definition["states"] if s.get("reask")}
        self.states = frozenset(self.machine.states)
        self._local = threading.local()
        self._bind_lock = threading.Lock()     # only while a new thread binds its model, once

    def _bound(self) -> Conversation:
        """This thread's model, bound to the machine the first time the thread runs an event.
        (It is unregistered again at once: it keeps its trigger methods, and the machine keeps
        no reference to it, so a finished thread's model goes with the thread.)"""
        model = getattr(self._local, "model", None)
        if model is None:
            model = Conversation({}, self.initial)
            with self._bind_lock:
                self.machine.add_model(model, initial=self.initial)
                self.machine.remove_model(model)
            self._local.model = model
        return model

    def run(self, state: dict | None, trigger: str | None, arg: str = "",
            ctx: dict | None = None, fallback_arg: str = "text") -> Conversation:
        result = Conversation(state or {}, self.initial, ctx)
        if result.state not in self.states:
            result.state = self.initial     # a state from an older definition: start gently again
        if trigger is None:
            return result
        model = self._bound()
        # this event's person in the thread's bound model (the machine reads and sets .state)
        model.data, model.ctx, model.state = result.data, result.ctx, result.state
        model.replies, model.effects, model.fell_back = result.replies, result.effects, ""
        try:
            try:
                moved = model.trigger(trigger, arg=arg)
            except MachineError:
                moved = False
            if not moved and not trigger.startswith("counselor_"):
                # (a counselor's action that no longer applies is dropped)
                model.trigger("fallback", arg=fallback_arg)
                model.fell_back = fallback_arg
            elif trigger == "fallback":
                model.fell_back = arg
            result.data, result.state, result.fell_back = model.data, model.state, model.fell_back
        finally:
            model.data, model.ctx, model.replies, model.effects = {}, {}, [], []
        return result


@once
def machine() -> FlowMachine:
    return FlowMachine(load_definition())


RELAYED_KINDS = ("text", "sticker", "media", "location", "postback")
CANCEL = "cancel"           # the intent of taking a request for a person back in one's own words
CLOSING = ("goodbye", "pause", "thanks")       # words of leaving besides a request taken back
GOODBYE_SHORT = "small.goodbye.short"
# what may follow a request taken back and still be about it ("I'll stop waiting", "thanks, bye")
AFTER_CANCEL = frozenset({"stop", "goodbye", "pause", "small"})
PLACE_ASKED = understanding.PLACE_QUESTION   # the confirmation that also asked where they live (teams)
NO_PLACE = "noplace"        # handoff_yes's argument when they chose not to say where they live
ROUTE_SAID = ("served", "off_duty", "nobody_online")     # ctx.route (handoff/teams.py Route.why) said
ROUTE_SAID_PREFIX = "handoff.route."
ASK_RISK = "ask_risk"        # the model's direct question ("is it that hard?"), choices id
ASK_MEDICAL = "ask_risk.medical"     # "is this an emergency?" (an overdose or injury the model suspects)
MEDICAL_YES = frozenset({"w_symptom", "w_refuse", "w_secret", "w_how"})   # read in the medical window: a yes to it
ASK_RISK_READ_AS = "high"    # its answer is read in that window's light, for the calm answer only
CALM_INTENT = "w_calm"
CALM_AGAIN = frozenset({"apology"})   # after a calm answer, "sorry I scared you": met lightly once more
# While a human holds the conversation, typed words act only through exact keywords and these
# intents; everything else the person writes is for the counselor.
RELAY_INTENTS = frozenset({"ask_wait", "yes", "no"})
LONG_MESSAGE = 40           # characters: a message this long is thanked for when not understood
CLAUSES_FROM = 24           # characters: a message this long is also read clause by clause (several needs)
# Where the learned model's direct question goes (a risk it suspects, or a finding it doubts):
# after a need understood (a question's answer, a place, a life told, who it is about, a request
# for a person), instead of small talk, a goodbye or a fallback; nowhere else (an answer to a
# question just asked, forgetting, the handoff's own steps). At most this many needs with it, so
# it always fits; an emergency's question goes first.
AFTER, INSTEAD = "after", "instead"
ASKED_AFTER = ("topic", "place", "told", "person")
ASKED_AFTER_TRIGGERS = ("choose_self", "choose_family", "choose_other")
ASKED_INSTEAD = ("fallback", "small", "stop", "pause", "goodbye")
# small talk at the lower bar (risk_ask): a feeling, a fallback; the rest at risk_beside
ASKED_AT_THE_LOWER_BAR = (("small", "feeling"),)
# a goodbye or a pause the patterns understood: an emergency only the model suspects is asked at
# the stricter bar there too (understanding.risk_question)
CLOSINGS = ("goodbye", "pause")
MAX_TOPICS_WITH_ASK = 4


def _ask_at(trigger: str | None) -> str | None:
    if trigger in ASKED_INSTEAD:
        return INSTEAD
    if context.kind_of(trigger) in ASKED_AFTER or trigger in ASKED_AFTER_TRIGGERS:
        return AFTER
    return None
FALLBACK_PLAIN = ("text", "text2", "text3")
FALLBACK_OFFER = ("offer", "offer2")


def fallback_wording(data: dict, text: str) -> str:
    """Which "not understood" answer: a long message is thanked for what it says; after two
    misses in a row a person is offered directly; never the same wording twice in a row."""
    misses = int(data.get("misses", 0)) + 1
    last = data.get("last_fallback", "")
    if misses >= 2:
        options = FALLBACK_OFFER
    elif len(text) >= LONG_MESSAGE:
        options = ("long",)
    else:
        options = FALLBACK_PLAIN
    for option in options:
        if option != last:
            return option
    return FALLBACK_PLAIN[0] if last != FALLBACK_PLAIN[0] else FALLBACK_PLAIN[1]


def _wait_status(ctx: dict | None) -> Reply:
    """The place in line, said besides another answer."""
    return Reply(say=(WAIT_STATUS,), params={p: (ctx or {}).get(p, "") for p in ("queue_position", "wait")})


def _asks_wait(understood, analysis) -> bool:
    """Whether the message asks how long the wait is (in the words found, or in a clause of its own)."""
    return "ask_wait" in understood.scores or (
        analysis is not None and "ask_wait" in understanding.sentence_needs(analysis))


def _keep_muni(data: dict, place) -> None:
    """The municipality or ward they named (a team may serve it), or none when they named only a
    prefecture or a designated city now."""
    if place is not None and place.muni:
        data["muni"] = place.muni
    else:
        data.pop("muni", None)


def _calm_explains(analysis, tier: str, win: str) -> bool:
    """Right after a crisis answer, a clarification that quotes the words it explains ("I meant
    my neck cramped, kubi tsutta, a typo"; "it's the app: ending it tonight means deleting the
    account"): the calm answer, when the words found again are no graver than the window's, are
    not an emergency, and the clarification comes after them: in a later sentence, or later in
    the same one ("I meant dying of homework lol, not for real") (so "a mistake. really, tonight
    I end it" stays a crisis)."""
    if tier == "medical" or crisis.graver(tier, win):
        return False
    risk_in = calm_in = (-1, -1)          # the last (sentence, word) where each is found
    for n, (first, end) in enumerate(analysis.sentences):
        part = analysis.span(first, end)
        if (at := crisis.found_at(part, tier)) is not None:
            risk_in = (n, at)
        if (at := understanding.found_at(part, CALM_INTENT)) is not None:
            calm_in = (n, at)
    return calm_in[0] >= 0 and calm_in > risk_in


def handle(state: dict | None, event: Event, now: float, *, idle_s: float = 24 * 3600,
           ctx: dict | None = None) -> Outcome:
    """The whole conversation step: pure and deterministic given (state, event, now, ctx).

    ctx is what bot/ knows at this moment and the flow may not look up itself: whether counselors
    are on duty, the next opening, the person's place in the queue, whether a paused handoff is
    still held by its counselor.

    A typed message is analysed once (flows/language.py); the analysis is shared by crisis
    detection and understanding. A crisis signal in a person's words wins over everything else,
    in every state. What the conversation keeps in mind across turns (flows/context.py): right
    after a crisis answer the next messages are read in its light; a need typed while a question
    is open is answered and the question asked again; several needs in one message are answered
    together. After a long silence (idle_s) the person is welcomed back first, keeping their lane."""
    fm = machine()
    state = dict(state or {})
    before = state.get("state") or fm.initial
    if before not in fm.machine.states:
        before = fm.initial
    typed = event.kind == "text" and not event.in_group and bool(event.text)
    analysis = language.analyse(event.text) if typed else None
    win = context.window(state, now, fm.context["crisis_window_s"])
    # the place they named earlier, as the trigger that gives its windows
    remembered = ("city", state["city"]) if state.get("city") else ("pref", state["pref"]) if state.get("pref") else None
    trigger, arg = intents.classify(event, fm.triggers)
    understood = None
    passed_on = False          # a question typed while waiting for a person: answered, and relayed
    if event.kind == "counselor":
        trigger, arg = f"counselor_{event.data}", ""
        if trigger not in fm.triggers:
            trigger = None
    elif analysis is not None and trigger == "fallback":
        calmed = bool(state.get("calmed")) and not win
        understood = understanding.understand(analysis, before, {**state, "window": win or ("calmed" if calmed else "")})
        in_line = before in fm.context["answer_while"]     # waiting for a person: questions still answered
        if not win and not calmed and (before not in fm.relay or in_line):
            # the learned model, when sure, reads a new writer's near intents better than patterns
            # (in line, only a question's answer: a request or anything else goes to the person)
            over = understanding.overrule(analysis, before, state, understood)
            if not in_line or context.kind_of(over.trigger) == "topic":
                understood = over
        if not win and (state.get("asked") or "").partition(".")[0] == ASK_RISK:
            # after "is it that hard, wanting to die?": "no, it was the game / he is back and calm"
            # is the calm answer, read as the crisis window reads it
            calm = understanding.understand(analysis, before, {**state, "window": ASK_RISK_READ_AS})
            medical = understanding.understand(analysis, before, {**state, "window": "medical"}) \
                if state["asked"] == ASK_MEDICAL else None
            if calm.intent == CALM_INTENT:
                understood = replace(calm, trigger="ask_risk_no", intent="no")
            elif medical is not None and medical.intent in MEDICAL_YES and understood.intent != "no":
                # "is this an emergency?" answered with a symptom ("there are marks on my neck, it
                # hurts to swallow") or a refusal ("I don't want an ambulance"): a yes, 119 first
                understood = replace(medical, trigger=understanding.ANSWERS[ASK_MEDICAL]["yes"], arg="", intent="yes")
            elif (understood.trigger == "fallback" or context.kind_of(understood.trigger) == "told"
                  or understood.intent == "feeling") \
                    and (understanding.tentative(analysis) or understanding.affirms(analysis)) \
                    and len(event.text) < LONG_MESSAGE:
                # "maybe", "I think so", "thinking I might", "it's no joke" to "did you take too
                # much? / do you want to die?": a yes
                yes = understanding.ANSWERS[state["asked"]]["yes"]
                understood = replace(understood, trigger=yes, intent="yes")
        elif not win and (understood.trigger == "fallback" or understood.intent in CALM_AGAIN) and before not in fm.relay:
            # "sorry, that was about the game, not for real" when the bot had not taken it as a
            # risk: met lightly (calm_again), not with "I could not understand"
            calm = understanding.understand(analysis, before, {**state, "window": ASK_RISK_READ_AS})
            if calm.intent == CALM_INTENT:
                understood = replace(calm, trigger="window_calm", intent=CALM_INTENT)
        if calmed and (understood.intent in CALM_AGAIN or understood.trigger == "fallback"):
            # right after "it was a game / a story": "sorry I scared you", or more of the story not
            # understood ("the boss killed me 50 times"), is met lightly again, never a cold fallback
            understood = replace(understood, trigger="window_calm", intent="w_calm")
        if before == "message_left" and understood.intent == "thanks" and len(event.text) < LONG_MESSAGE:
            # "thank you, I'll wait for the answer" after leaving a message: a warm close
            understood = replace(understood, trigger="goodbye", intent="goodbye")
        if before in fm.context["answer_while"] and (CANCEL in understood.scores or (
                understood.intent in ("pause", "goodbye") and "stop" in understood.scores)):
            # in line or after leaving a message, taking the request back wins over what else the
            # words hold ("never mind, another time"; "cancel it, my parents nearly saw")
            understood = replace(understood, trigger="stop", intent="stop")
        if before in fm.context["answer_while"] and understood.intent == "ask_wait":
            # "how long? and can I switch to the phone?": the question answered, the place in line
            # with it (below), never only the wait
            topics = [n for n in understanding.sentence_needs(analysis) if n != context.FOLLOW_UP
                      and context.kind_of(understanding.lexicon().intents[n]["trigger"]) == "topic"]
            if topics:
                spec = understanding.lexicon().intents[topics[0]]
                understood = replace(understood, trigger=spec["trigger"], arg=spec.get("arg", ""), intent=topics[0])
        if before == "handoff_confirm" and understood.intent not in ("yes", "no") \
                and (understood.intent == "stop" or CANCEL in understanding.lexicon().scores(analysis)):
            # "actually, I'm not ready to talk to someone", "never mind, I won't leave one": the offer
            # declined in their own words
            understood = replace(understood, trigger="handoff_no", intent="no")
        if before == "waiting" and understood.trigger == "stop" and understanding.tentative(analysis, last=True) \
                and state.get("asked") != "cancel_confirm":
            understood = replace(understood, trigger="cancel_ask", intent="cancel_ask")
        if before in fm.context["answer_while"] and understood.intent == "want_human" and understood.place is not None \
                and not understanding.lexicon().place_doubt(analysis):
            # already waiting for a person: "before I talk with them, my local windows too (Matsumoto)"
            place = understood.place
            understood = replace(understood, trigger="city" if place.city_code else "pref",
                                 arg=place.city_code or place.pref, intent="place")
        if understood.trigger == "fallback" and not win and (before not in fm.relay or in_line):
            second = understanding.second_opinion(analysis, before, state)
            if second is not None and (before not in fm.relay or context.kind_of(second.trigger) == "topic"):
                understood = second        # (in line, only a question's answer: the rest goes to the person)
        if understood.trigger in ("find_local", "info_support") and understood.place is None and remembered:
            # the place they named earlier: its windows, not the region question again
            understood = replace(understood, trigger=remembered[0], arg=remembered[1])
        keep = fm.typed.get(before)
        # (the act begun, read in a crisis window's light, "my head is pounding" after charcoal lit:
        # a crisis, answered at once wherever they are, with the alert)
        if keep is not None and understood.trigger not in keep and understood.intent not in RELAY_INTENTS \
                and context.kind_of(understood.trigger) != "crisis":
            if before in fm.context["answer_while"] and context.kind_of(understood.trigger) in ("topic", "place", "calm"):
                # a question, or "that was a song's words, I am fine" while no counselor is with them:
                # answered, and passed on as well
                trigger, arg, passed_on = understood.trigger, understood.arg, True
            else:
                trigger, arg = "relay", ""
        elif understood.trigger in fm.triggers:
            trigger, arg = understood.trigger, understood.arg
            if understood.lane and not state.get("lane"):
                state["lane"] = understood.lane       # the lane their words show, kept
            if trigger == "city" and understood.place:
                state["pref"], state["city"] = understood.place.pref, understood.place.city_code
            elif trigger == "pref":
                state.pop("city", None)               # a prefecture named now replaces an earlier city
            if trigger in ("city", "pref"):
                _keep_muni(state, understood.place)
    if before in fm.relay and event.kind in RELAYED_KINDS and trigger not in fm.relay[before] and not passed_on \
            and context.kind_of(trigger) != "crisis":
        trigger, arg = "relay", ""
    flood = (ctx or {}).get("flood")
    if flood and event.kind != "counselor" and trigger not in (None, "unfollow", "follow"):
        # one person sending very fast: said once, then quiet (crisis below still answers)
        trigger, arg = ("flood" if flood == "first" else None), ""
    about = None
    ask_after = None
    if analysis is not None:
        found = crisis.detect(analysis, window=win)
        if found.tier and win and understood is not None and understood.intent == CALM_INTENT \
                and _calm_explains(analysis, found.tier, win):
            found = crisis.Detection(None)      # the words explained are not said again
        # where the learned model's question may be said: instead of what was understood, after it,
        # or nowhere (a relay, a crisis window, an answer to a question just asked)
        # (a place named alone, "gifu-ken" in kana, is never asked about: kana the model has not seen
        # reads near its prior)
        place_alone = context.kind_of(trigger) == "place" and len(analysis.text) <= understanding.WHERE_ANSWER_CHARS
        ask_at = _ask_at(trigger) if not win and before not in fm.relay and not place_alone else None
        if ask_at:
            found = crisis.doubted(analysis, found)    # words the model reads as calm: asked, not carded
        named = crisis.named(analysis)
        if found.tier:
            tier = found.tier
            if tier == "violence_family" and state.get("named") == "partner" and named != "partner" \
                    and (named is None or not (crisis.kin_acts(analysis) or crisis.partner_acts(analysis))):
                # the partner named a message before is the one hurting (the children only
                # mentioned here, "they are scared too", are not the ones doing it)
                tier = "violence_partner"
            elif tier == "violence_by_me" and win != "violence_by_me" and state.get("named") in ("partner", "kin") \
                    and (state.get("named") == "partner" or state.get("named_subject")) \
                    and not crisis.writer_owns(analysis) and not crisis.subject_named(analysis):
                # a hitting verb with no subject of its own, after a message that named who it is
                # about ("my husband, you see" / "shouted at our son and hit him yesterday"; "my
                # sister ga" / "yelled at mum and pushed her, I hear"): the one named hits, not the
                # writer; a relative hit here makes it the family's violence. (Not after the
                # writer's own act was answered, nor after a relative named only in passing or
                # as the subject of something else: "my brother is so noisy" / "I punched him")
                tier = "violence_partner" if state.get("named") == "partner" and not crisis.kin_named_as_object(analysis) \
                    else "violence_family"
            if win and crisis.graver(win, tier) and tier in crisis.SELF_HARM_TIERS and win in crisis.SELF_HARM_TIERS:
                tier = win            # inside the window the tier never drops silently
            trigger, about, passed_on = f"crisis_{tier}", found.about, False
            arg = "family" if found.about_other else "youth" if found.by_parent else ""
        elif found.doubted:
            # words the model reads as calm: the question, after what else the message asks
            if ask_at == AFTER:
                ask_after = found.ask
            else:
                trigger, arg = found.ask
        elif found.joking and not win and before not in fm.relay and context.kind_of(trigger) not in ("calm", "person") \
                and trigger not in ("stop", "forget_ask", "pause", "handoff_yes"):
            # a wish to die with a laugh: neither the crisis card on a laugh nor silence; asked gently
            trigger, arg = "ask_risk", ""
        elif ask_at and (suspected := understanding.risk_question(
                analysis, beside=(trigger, arg) not in ASKED_AT_THE_LOWER_BAR and trigger != "fallback",
                closing=trigger in CLOSINGS)) is not None:
            # a risk only the model suspects, in a message the patterns read as something else
            # ("my hands are numb, the bottle is empty" as a feeling; "goodbye everyone, thank you"
            # as thanks): asked about directly, instead of small talk, or after what it asks
            if ask_at == AFTER:
                ask_after = (suspected.trigger, suspected.arg)
            else:
                trigger, arg = suspected.trigger, suspected.arg
        elif win and trigger in ("fallback", "relay") and before not in fm.relay:
            # not understood right after a crisis answer: never a cold fallback
            trigger, arg = "window", ("still_medical" if win == "medical" else "still"
                                      if win in crisis.SELF_HARM_TIERS else "still_safe")
    if trigger == "window_calm" and win == "medical":
        arg = "calm_medical"
    elif trigger == "window_calm" and not win:
        arg = "calm_again"
    if trigger == "fallback":
        arg = fallback_wording(state, event.text if typed else "")
    plan = [(trigger, arg)]
    if understood is not None and trigger is not None and (passed_on or before not in fm.relay):
        lex = understanding.lexicon()
        several = context.several_topics(understood, lex.intents)
        plan = context.needs((trigger, arg), understood, lex.intents,
                             place_ok=understood.place is not None and not lex.place_doubt(analysis),
                             long=len(event.text) >= LONG_MESSAGE, sentences=understanding.sentence_needs(analysis)
                             if len(event.text) >= CLAUSES_FROM or several or context.support_near(understood) else (),
                             remembered=remembered, previous=tuple(state.get("last_topic") or ()) or None,
                             also=understanding.also_asked(analysis, understood, context.TOPIC_TRIGGERS) if several else None)
    if ask_after and ask_after[1] == understanding.MEDICAL:
        plan.insert(0, ask_after)           # an emergency suspected: its question (119 in it) first
    elif ask_after:
        plan = plan[:MAX_TOPICS_WITH_ASK - 1] + [ask_after]    # a need left out, never the question
    if before == "handoff_confirm" and state.get("asked") == PLACE_ASKED and plan[0][0] in ("city", "pref"):
        # where they live, typed when the confirmation asked it: kept, and they are connected there
        if plan[0][0] == "pref":
            state["pref"] = plan[0][1]
            state.pop("city", None)
        trigger, arg = "handoff_yes", ""
        plan = [(trigger, arg)]
    model = fm.run(state, plan[0][0], plan[0][1], ctx,
                   fallback_arg=fallback_wording(state, event.text if typed else ""))
    if plan[0] == ("handoff_yes", NO_PLACE):
        model.data["no_place"] = True             # not asked again; they go to the shared pool
    if len(plan) > 1:
        parts = [(context.kind_of(plan[0][0]), model.replies)]
        for t, a in plan[1:]:
            if t == "city" and understood is not None and understood.place:
                model.data["pref"], model.data["city"] = understood.place.pref, understood.place.city_code
            if t in ("city", "pref") and understood is not None:
                _keep_muni(model.data, understood.place)
            step = fm.run(model.to_dict(), t, a, ctx)
            parts.append((context.kind_of(t), step.replies))
            step.effects[:0] = model.effects
            model = step
        model.replies[:] = context.merge(parts)
    topics = [need for need in plan if context.kind_of(need[0]) == "topic"]
    if topics:
        model.data["last_topic"] = list(topics[0])  # what a question with no topic of its own asks about next
    if analysis is not None and named:
        model.data["named"] = named               # who they wrote about, for the next message
        model.data["named_subject"] = crisis.subject_named(analysis, at_end=True)   # (and as the one acting next)
    if about:
        model.data["crisis_about_other"] = True
        model.data["crisis_about"] = about
    if trigger and trigger.startswith("crisis_") and trigger not in ("crisis_human", "crisis_later"):
        model.data["crisis_at"] = now           # the window opens (or is renewed)
        if understood is not None and model.replies:
            ids = sum(len(r.say) for r in model.replies)
            if before == "waiting" and "ask_wait" in understood.scores and ids < MAX_MESSAGES:
                # "I want to disappear... how much longer?": the place in line too
                model.replies.append(_wait_status(ctx))
            elif before not in fm.relay and understood.intent in ("goodbye", "pause") and ids < MAX_MESSAGES:
                model.replies.append(Reply(say=(GOODBYE_SHORT,)))     # "...I'll come back then": a warm close too
    open_question = fm.reask.get(before)
    if open_question and context.kind_of(trigger) != "crisis" and trigger in fm.midflow and not ask_after \
            and trigger not in ("ask_risk", "ask_harm"):
        # another need typed while a question is open: answered, and the question asked again
        if trigger == "fallback":
            model.replies.clear()
            model.fell_back = ""
        model.state = before
        model.replies.append(Reply(say=(open_question,), choices=state.get("asked", "")))
    elif passed_on:
        model.state = before
        model.effects.append({"type": "relay", "value": "", "crisis": model.data.get("crisis")})
        if before == "waiting" and understood is not None and _asks_wait(understood, analysis):
            # "how much longer? and does it cost?": the place in line too (asked in a clause of its
            # own, where "while I wait" elsewhere does not veto it)
            model.replies.append(_wait_status(ctx))
            model.effects.append({"type": "queue_status", "value": "", "crisis": model.data.get("crisis")})
        model.replies.append(Reply(say=(ANSWERED_TOO,)))
    speaks = before not in fm.relay or before in fm.context["answer_while"]   # (no counselor is with them)
    if win and speaks and trigger and context.kind_of(trigger) != "crisis" \
            and (not trigger.startswith(("window", "counselor_")) or arg == "still_safe"
                 or arg == "symptom" and win not in crisis.SELF_HARM_TIERS):
        # (a symptom after violence, "kicked, my stomach hurts": 119 first, then the violence's line)
        if win == "medical":
            model.replies.insert(0, Reply(say=(STILL_MEDICAL,)))      # 119 stays first
        elif model.replies and trigger != "crisis_human":            # (connected to a person now)
            context.remind(model.replies, fm.context["reminders"].get(win))
    route = (ctx or {}).get("route")
    if route in ROUTE_SAID and any(e["type"] == "handoff_request" and not e["value"] for e in model.effects) \
            and sum(len(r.say) for r in model.replies) < MAX_MESSAGES:
        # a deployment with teams: who will answer, honestly (their area's counselors, or others)
        model.replies.append(Reply(say=(f"{ROUTE_SAID_PREFIX}{route}",),
                                   params={"team_open": (ctx or {}).get("team_open", "")}))
    if win in crisis.VIOLENCE_TIERS and trigger == "crisis_medical" and speaks:
        # "I pushed my father… he hit his head and does not move": 119 first, the violence's line after
        line = fm.context["reminders"].get(win)
        if line and model.replies and sum(len(r.say) for r in model.replies) < MAX_MESSAGES:
            last = model.replies[-1]
            model.replies[-1] = Reply(say=(*last.say, line), choices=last.choices, params=last.params)
    if model.state == "handoff_confirm" and before != model.state and (ctx or {}).get("on_duty") \
            and understood is not None and _asks_wait(understood, analysis):
        # "I'd like to talk to someone. How long is the wait?": where they would stand, with the question
        room = sum(len(r.say) for r in model.replies) < MAX_MESSAGES
        for i, r in enumerate(model.replies):
            if room and r.choices.startswith("handoff_confirm"):
                model.replies[i] = Reply(say=(*r.say, WAIT_IF_NOW), choices=r.choices, params={
                    **r.params, **{p: (ctx or {}).get(p, "") for p in ("queue_position", "wait")}})
                model.effects.append({"type": "queue_status", "value": "", "crisis": model.data.get("crisis")})
                break
    if trigger == "stop" and before in fm.context["answer_while"] and understood is not None \
            and model.effects and any(n in understood.scores for n in CLOSING):
        model.replies.append(Reply(say=(GOODBYE_SHORT,)))      # taken back, and leaving: a warm close
    if trigger not in AFTER_CANCEL or model.state in fm.relay:
        model.data.pop("cancelled", None)
    if trigger != "window_calm" or before == model.state and state.get("calmed"):
        model.data.pop("calmed", None)            # (once: the light answer is not said twice)
    if model.fell_back:
        model.data["misses"] = int(state.get("misses", 0)) + 1
        model.data["last_fallback"] = model.fell_back
    elif trigger is not None:
        model.data.pop("misses", None)
        model.data.pop("last_fallback", None)
    if model.replies:
        asked = model.replies[-1].choices
        if asked:
            model.data["asked"] = asked
        else:
            model.data.pop("asked", None)
    last_seen = state.get("last_seen")
    if (last_seen is not None and now - last_seen > idle_s and trigger and before not in fm.relay
            and trigger not in ("follow", "unfollow") and not trigger.startswith(("crisis_", "counselor_"))):
        model.replies.insert(0, Reply(say=(WELCOME_BACK,)))
    new_state = model.to_dict()
    new_state["flow"] = fm.name
    new_state["version"] = fm.version
    new_state["last_seen"] = now
    if trigger == "unfollow":
        model.effects.append({"type": "forget", "value": "", "crisis": None})
    return Outcome(state=new_state, replies=model.replies, effects=model.effects,
                   trigger=trigger, state_from=before, state_to=model.state)
