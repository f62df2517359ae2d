"""The conversation machine: definition as data (conversation.toml), built once, bound per event."""
from __future__ import annotations

import threading
import tomllib
from functools import partial
from importlib import resources

from transitions import Machine, MachineError

from . import crisis, intents
from .model import Event, Outcome, Reply

DEFINITION_FILE = "conversation.toml"
WELCOME_BACK = "welcome.back"     # said before the answer after a long silence


def load_definition() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath(DEFINITION_FILE).read_text("utf-8"))


class Conversation:
    """One person's conversation, as the machine's model. Lives only for one event."""

    def __init__(self, data: dict, initial: str):
        self.data = dict(data)
        self.state = self.data.get("state") or initial
        self.replies: list[Reply] = []
        self.effects: list[dict] = []

    def to_dict(self) -> dict:
        out = dict(self.data)
        out["state"] = self.state
        return out


def _act(say: tuple[str, ...], choices: str, mark: dict, effect: str, topic: str,
         menus: dict[str, str], event_data) -> None:
    """What a transition does besides moving: say, remember a mark or topic, ask for an effect.

    "{arg}" in a message id, a choice set or a mark is the event's argument (e.g. a prefecture
    code), already checked against the catalogue by flows.intents."""
    model: Conversation = event_data.model
    arg = event_data.kwargs.get("arg", "")
    if choices == "@dest":
        choices = menus.get(model.state, "")
    if say:
        model.replies.append(Reply(say=tuple(m.replace("{arg}", arg) for m in say),
                                   choices=choices.replace("{arg}", arg)))
    model.data.update({k: v.replace("{arg}", arg) if isinstance(v, str) else v
                       for k, v in mark.items()})
    if topic:
        topics = list(model.data.get("topics", ()))
        if topic not in topics:
            topics.append(topic)
        model.data["topics"] = topics
    if effect:
        model.effects.append({"type": effect, "crisis": model.data.get("crisis")})


def _when(expected: dict, event_data) -> bool:
    """A transition's condition: the person's remembered values (e.g. lane, page) match."""
    data = event_data.model.data
    return all(data.get(k) == v for k, v in expected.items())


def _expand_lanes(definition: dict) -> list[dict]:
    """dest "@lane" → one transition per lane (when data.lane matches), then one for no lane."""
    lanes: dict = definition.get("lanes", {})
    out = []
    for t in definition["transitions"]:
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
    def __init__(self, definition: dict):
        self.definition = definition
        self.name = definition["name"]
        self.version = definition["version"]
        self.initial = definition["initial"]
        self.menus = {s["name"]: s.get("menu", "") for s in definition["states"]}
        self.user_triggers: set[str] = set()
        transitions = []
        for t in _expand_lanes(definition):
            spec = {"trigger": t["trigger"], "source": t["source"],
                    "dest": None if t["dest"] == "=" else t["dest"]}
            if t.get("say") or t.get("mark") or t.get("effect") or t.get("topic"):
                spec["after"] = partial(_act, tuple(t.get("say", ())), t.get("choices", ""),
                                        dict(t.get("mark", {})), t.get("effect", ""),
                                        t.get("topic", ""), self.menus)
            if t.get("when"):
                spec["conditions"] = partial(_when, dict(t["when"]))
            transitions.append(spec)
        self.machine = Machine(
            model=None, states=[s["name"] for s in definition["states"]], transitions=transitions,
            initial=self.initial, auto_transitions=False, send_event=True,
        )
        self.triggers = set(self.machine.events)
        self._lock = threading.Lock()   # transitions' Machine is not thread-safe; this is pure CPU

    def run(self, state: dict | None, trigger: str | None, arg: str = "") -> Conversation:
        model = Conversation(state or {}, self.initial)
        if model.state not in self.machine.states:
            model.state = self.initial     # a state from an older definition: start gently again
        if trigger is None:
            return model
        with self._lock:
            self.machine.add_model(model, initial=model.state)
            try:
                try:
                    moved = model.trigger(trigger, arg=arg)
                except MachineError:
                    moved = False
                if not moved:
                    model.trigger("fallback")
            finally:
                self.machine.remove_model(model)
        return model


_MACHINE: FlowMachine | None = None
_BUILD_LOCK = threading.Lock()


def machine() -> FlowMachine:
    global _MACHINE
    if _MACHINE is None:
        with _BUILD_LOCK:
            if _MACHINE is None:
                _MACHINE = FlowMachine(load_definition())
    return _MACHINE


def handle(state: dict | None, event: Event, now: float, *, idle_s: float = 24 * 3600) -> Outcome:
    """The whole conversation step: pure and deterministic given (state, event, now).

    A crisis signal in a person's words wins over everything else, in every state. After a long
    silence (idle_s) the person is welcomed back first, keeping their lane."""
    fm = machine()
    before = (state or {}).get("state") or fm.initial
    trigger, arg = intents.classify(event, fm.triggers)
    about_other = False
    if event.kind == "text" and not event.in_group:
        found = crisis.detect(event.text)
        if found.tier:
            trigger, about_other = f"crisis_{found.tier}", found.about_other
    model = fm.run(state, trigger, arg)
    if about_other:
        model.data["crisis_about_other"] = True
    last_seen = (state or {}).get("last_seen")
    if (last_seen is not None and now - last_seen > idle_s and trigger
            and trigger not in ("follow", "unfollow") and not trigger.startswith("crisis_")):
        model.replies.insert(0, Reply(say=(WELCOME_BACK,)))
    new_state = model.to_dict()
    new_state["flow"] = fm.name
    new_state["version"] = fm.version
    new_state["last_seen"] = now
    if trigger == "unfollow":
        model.effects.append({"type": "forget"})
    return Outcome(state=new_state, replies=model.replies, effects=model.effects,
                   trigger=trigger, state_from=before, state_to=model.state)
