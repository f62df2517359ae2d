"""messages_ja: every Japanese sentence, label and keyword of mado, as data (catalog.toml).

`render(reply)` turns a flow's Reply (message ids + a quick-reply set) into LINE-ready dicts.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources

POSTBACK_PREFIX = "t="
MAX_MESSAGES = 5


ARG_SEP = ":"   # a quick reply's trigger may carry an argument: "pref:13", "region:kanto"


@dataclass(frozen=True)
class Catalog:
    messages: dict
    choices: dict
    keywords: dict
    ui: dict
    crisis: dict
    places: dict
    centres: dict
    templates: dict
    tone: dict

    @cached_property
    def user_triggers(self) -> frozenset[str]:
        """Triggers a person may fire by tapping or typing."""
        found = set(self.keywords)
        for c in self.choices.values():
            found.update(item["trigger"] for item in c["items"])
        return frozenset(found)

    def text(self, message_id: str, **params) -> str:
        return self.messages[message_id]["text"].format(**params)



def _load(name: str) -> dict:
    return tomllib.loads(resources.files(__package__).joinpath(name).read_text("utf-8"))


def _local_pages(places: dict, centres: dict, tpl: dict) -> tuple[dict, dict]:
    """One message per prefecture and one quick-reply set per region, from the sourced data."""
    messages, choices = {}, {}
    choices["regions"] = {"items": [
        {"label": r["label"], "trigger": f"region{ARG_SEP}{key}"} for key, r in places["regions"].items()
    ] + [{"label": tpl["local.back"], "trigger": "back"}]}
    for key, region in places["regions"].items():
        messages[f"local.ask_pref.{key}"] = {"text": tpl["local.ask_pref"].format(region=region["label"])}
        choices[f"region.{key}"] = {"items": [
            {"label": places["prefs"][code]["name"], "trigger": f"pref{ARG_SEP}{code}"}
            for code in region["prefs"]
        ] + [{"label": tpl["local.other_region"], "trigger": "find_local"}]}
    for code, pref in places["prefs"].items():
        found = centres.get(code, [])
        lines, sources = [], []
        if found:
            lines.append(tpl["local.head"].format(pref=pref["name"]))
            for c in found:
                lines.append(tpl["local.centre"].format(name=c["name"]))
                if c["phone"]:
                    lines.append(tpl["local.centre_phone"].format(phone=c["phone"]))
                if c["url"]:
                    lines.append(tpl["local.centre_url"].format(url=c["url"]))
                if c["confidence"] not in ("A", "B"):
                    lines.append(tpl["local.centre_note"].format(note=tpl["local.stale"]))
                elif not c["phone"]:
                    lines.append(tpl["local.centre_note"].format(note=tpl["local.unsure"]))
                sources.append(f"{c['name']} {c['phone']}: {c['source_url']} "
                               f"({c['source_date']}, confidence {c['confidence']})")
            lines.append(tpl["local.hours"])
        else:
            lines.append(tpl["local.none"].format(pref=pref["name"]))
        messages[f"local.pref.{code}"] = {"text": "\n".join(lines), "sources": sources}
    messages["local.national"] = {"text": tpl["local.national"],
                                  "sources": tpl["local.national.sources"]}
    return messages, choices


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    raw = _load("catalog.toml")
    answers = _load("answers.toml")       # answers to the questions people ask (understanding)
    places = _load("places.toml")
    centres = _load("centres.toml").get("centres", {})
    templates = raw.get("templates", {})
    messages, choices = dict(raw.get("messages", {})), dict(raw.get("choices", {}))
    for mid, message in answers.get("messages", {}).items():
        if mid in messages:
            raise ValueError(f"message id {mid} is in both catalog.toml and answers.toml")
        messages[mid] = message
    local_messages, local_choices = _local_pages(places, centres, templates)
    messages.update(local_messages)
    choices.update(local_choices)
    return Catalog(messages=messages, choices=choices, keywords=raw.get("keywords", {}),
                   ui=raw.get("ui", {}), crisis=raw.get("crisis", {}), places=places,
                   centres=centres, templates=templates, tone=raw.get("tone", {}))


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


def template(key: str, **params) -> str:
    return catalog().templates[key].format(**params)


def wait_text(minutes: float | None) -> str:
    """An honest estimate: unknown when there is no recent pickup to go on; rounded up to 5 minutes."""
    if minutes is None:
        return template("wait.unknown")
    if minutes < 3:
        return template("wait.soon")
    return template("wait.minutes", minutes=int(-(-minutes // 5) * 5))


def opening_text(opening, now) -> str:
    """When counselors are next on duty, in Japanese ("明日の10:00から…"); both in Asia/Tokyo."""
    if opening is None:
        return template("hours.never")
    hhmm = opening.strftime("%H:%M")
    days = (opening.date() - now.astimezone(opening.tzinfo).date()).days
    if days == 0:
        when = template("hours.today", time=hhmm)
    elif days == 1:
        when = template("hours.tomorrow", time=hhmm)
    else:
        when = template("hours.date", month=opening.month, day=opening.day, time=hhmm,
                        weekday=catalog().templates["hours.weekdays"][opening.weekday()])
    return template("hours.next", when=when)


@lru_cache(maxsize=1)
def console() -> dict:
    """The counselor console's words ({"ui": {...}, "canned": [...]}), from console.toml."""
    return _load("console.toml")
