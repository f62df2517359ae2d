"""The conversation machine: definition as data (conversation.toml), built once, bound per event."""
from __future__ import annotations

import threading
import tomllib
from functools import partial
from importlib import resources

from transitions import Machine, MachineError

from . import intents
from .model import Event, Outcome, Reply

DEFINITION_FILE = "conversation.toml"


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


def _say(say: tuple[str, ...], choices: str, menus: dict[str, str], event_data) -> None:
    model: Conversation = event_data.model
    if choices == "@dest":
        choices = menus.get(model.state, "")
    model.replies.append(Reply(say=say, choices=choices))


class FlowMachine:
    def __init__(self, definition: dict):
        self.definition = definition
        self.name = definition["name"]
        self.version = definition["version"]
        self.initial = definition["initial"]
        self.menus = {s["name"]: s.get("menu", "") for s in definition["states"]}
        self.user_triggers: set[str] = set()
        transitions = []
        for t in definition["transitions"]:
            spec = {"trigger": t["trigger"], "source": t["source"],
                    "dest": None if t["dest"] == "=" else t["dest"]}
            if t.get("say") or t.get("choices"):
                spec["after"] = partial(_say, tuple(t.get("say", ())), t.get("choices", ""), self.menus)
            transitions.append(spec)
        self.machine = Machine(
            model=None, states=[s["name"] for s in definition["states"]], transitions=transitions,
            initial=self.initial, auto_transitions=False, send_event=True,
        )
        self.triggers = set(self.machine.events)
        self._lock = threading.Lock()   # transitions' Machine is not thread-safe; this is pure CPU

    def run(self, state: dict | None, trigger: str | None) -> Conversation:
        model = Conversation(state or {}, self.initial)
        if model.state not in self.machine.states:
            model.state = self.initial     # a state from an older definition: start gently again
        if trigger is None:
            return model
        with self._lock:
            self.machine.add_model(model, initial=model.state)
            try:
                try:
                    model.trigger(trigger)
                except MachineError:
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


def handle(state: dict | None, event: Event, now: float) -> Outcome:
    """The whole conversation step: pure and deterministic given (state, event, now)."""
    fm = machine()
    before = (state or {}).get("state") or fm.initial
    trigger = intents.classify(event, fm.triggers)
    model = fm.run(state, trigger)
    new_state = model.to_dict()
    new_state["flow"] = fm.name
    new_state["version"] = fm.version
    new_state["last_seen"] = now
    if trigger == "unfollow":
        model.effects.append({"type": "forget"})
    return Outcome(state=new_state, replies=model.replies, effects=model.effects,
                   trigger=trigger, state_from=before, state_to=model.state)
