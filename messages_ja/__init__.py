"""messages_ja: every Japanese sentence, label and keyword of mado, as data (catalog.toml).

`render(reply)` turns a flow's Reply (message ids + a quick-reply set) into LINE-ready dicts.
"""
from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

POSTBACK_PREFIX = "t="
MAX_MESSAGES = 5


@dataclass(frozen=True)
class Catalog:
    messages: dict
    choices: dict
    keywords: dict
    ui: dict
    crisis: dict

    @property
    def user_triggers(self) -> frozenset[str]:
        """Triggers a person may fire by tapping or typing."""
        found = set(self.keywords)
        for c in self.choices.values():
            found.update(item["trigger"] for item in c["items"])
        return frozenset(found)

    def text(self, message_id: str, **params) -> str:
        return self.messages[message_id]["text"].format(**params)

    def placeholders(self, message_id: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.messages[message_id]["text"]) if f}


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    raw = tomllib.loads(resources.files(__package__).joinpath("catalog.toml").read_text("utf-8"))
    return Catalog(messages=raw.get("messages", {}), choices=raw.get("choices", {}),
                   keywords=raw.get("keywords", {}), ui=raw.get("ui", {}),
                   crisis=raw.get("crisis", {}))


def ui(key: str) -> str:
    """Words around the conversation (terminal chat, console), not the bot's own messages."""
    return catalog().ui[key]


def quick_items(choices_id: str) -> list[dict]:
    if not choices_id:
        return []
    return [{"label": it["label"], "data": POSTBACK_PREFIX + it["trigger"], "display": it["label"]}
            for it in catalog().choices[choices_id]["items"]]


def render(reply) -> list[dict]:
    """A Reply as at most 5 LINE text messages; the quick replies ride on the last one."""
    cat = catalog()
    messages = [{"text": cat.text(mid, **reply.params)} for mid in reply.say]
    if len(messages) > MAX_MESSAGES:
        raise ValueError(f"a reply may carry at most {MAX_MESSAGES} messages, got {len(messages)}")
    quick = quick_items(reply.choices)
    if quick and messages:
        messages[-1]["quick"] = quick
    return messages
