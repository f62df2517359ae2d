"""The conversation machine as a mermaid state diagram, generated from conversation.toml.

    python -m flows.diagram > flows/conversation.md

tests/test_lanes_and_places.py fails when the committed file is not what this prints.
"""
from __future__ import annotations

from collections import defaultdict

from .machine import _expand_lanes, load_definition

ANY = "any_state"


def mermaid() -> str:
    d = load_definition()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for t in _expand_lanes(d):
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        for src in sources:
            src = ANY if src == "*" else src
            dst = src if t["dest"] == "=" else t["dest"]
            when = ",".join(f"{k}={v}" for k, v in sorted(t.get("when", {}).items()))
            label = t["trigger"] + (f" [{when}]" if when else "")
            if label not in edges[(src, dst)]:
                edges[(src, dst)].append(label)
    lines = ["stateDiagram-v2", f"    [*] --> {d['initial']}",
             f"    note right of {ANY}: {ANY} = every state (triggers that work anywhere)"]
    for (src, dst), labels in edges.items():
        lines.append(f"    {src} --> {dst} : {'<br/>'.join(labels)}")
    return "\n".join(lines) + "\n"


def document() -> str:
    return ("# The conversation machine\n\n"
            "Generated from `flows/conversation.toml` by `python -m flows.diagram`; do not edit.\n"
            "`=` transitions (stay) are loops; `[lane=…]` is a condition on what the person chose.\n\n"
            "```mermaid\n" + mermaid() + "```\n")


if __name__ == "__main__":
    print(document(), end="")
