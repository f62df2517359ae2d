"""Conversations of several turns: prints, per kind (follow-up after a crisis answer, a question
mid-flow, cancelling, roles, several needs, places across turns, goodbyes), how often the answer
to the last turn does everything it should, and CPU microseconds per message. Asserts nothing.

    python benchmarks/conversations.py [--misses] [--file tests/data/other.jsonl]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402
from flows import warm_up  # noqa: E402
from tests.corpus import CONVERSATIONS, conversation_rows, meets, play, score_conversations  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--misses", action="store_true", help="list every conversation answered wrong at its last turn")
    ap.add_argument("--file", default=CONVERSATIONS, help="a JSON Lines file in tests/data/ (e.g. independent/conversations_2026-12.jsonl)")
    args = ap.parse_args()
    name = args.file
    convs = conversation_rows(name)
    warm_up()
    started = time.process_time()
    right, table, misses = score_conversations(convs)
    messages = sum(len(c["turns"]) for c in convs)
    per_msg = (time.process_time() - started) / max(1, messages) * 1e6
    print(f"machine: {describe()}")
    print(f"corpus: {len(convs)} conversations, {messages} messages ({name})")
    print(f"right at the last turn: {right:.1%}; {per_msg:.0f} µs CPU per message (flows.handle, whole step)")
    print(f"{'kind':22s} {'right':>6s} {'n':>4s}")
    for kind, (share, n) in table.items():
        print(f"{kind:22s} {share:6.0%} {n:4d}")
    if args.misses:
        for conv, last in misses:
            ids = [m for r in last.replies for m in r.say]
            failed = [lab for lab in conv["expect"] if not meets(lab, last)]
            print(f"MISS {conv['id']} {conv['kind']} expect {conv['expect']} (failed {failed}): "
                  f"{' / '.join(conv['turns'])} -> {last.trigger} {ids}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
