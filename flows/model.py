"""The small values flows/ works with."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """What a person did, as the conversation sees it (translated from LINE by bot/events.py).

    kind: follow | unfollow | text | sticker | media | location | postback | join | other
    """
    kind: str
    text: str = ""
    data: str = ""
    in_group: bool = False


@dataclass(frozen=True)
class Reply:
    """One answer: message ids (rendered by messages_ja) and the quick-reply set on the last one."""
    say: tuple[str, ...]
    choices: str = ""
    params: dict = field(default_factory=dict)


@dataclass
class Outcome:
    state: dict
    replies: list[Reply]
    effects: list[dict]
    trigger: str | None
    state_from: str
    state_to: str
