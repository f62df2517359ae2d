"""Crisis detection: prints per-tier recall and the false-alarm rate on the labelled corpus
(tests/data/crisis_corpus.tsv), and CPU microseconds per message. Asserts nothing.

    python benchmarks/crisis.py [--misses]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402
from flows.crisis import detect, tiers  # noqa: E402
from flows.language import analyse  # noqa: E402
from tests.corpus import by_writer, crisis_rows, score_crisis  # noqa: E402


def asks(text: str) -> bool:
    """Whether the bot's answer to this first message asks the direct question (flows.handle)."""
    from flows import Event, handle

    ctx = {"on_duty": True, "next_open": "N"}
    state = handle(None, Event("follow"), 1_000_000.0, ctx=ctx).state
    out = handle(state, Event("text", text=text), 1_000_040.0, ctx=ctx)
    return any(m == "crisis.ask" or m.startswith("crisis.ask.") for r in out.replies for m in r.say)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--misses", action="store_true", help="list every miss and false alarm")
    ap.add_argument("--file", help="another labelled set in tests/data/ (e.g. independent/risk_2026-12.tsv)")
    args = ap.parse_args()
    rows = crisis_rows(args.file) if args.file else crisis_rows()
    detect("")
    tiers()
    recall, overall, false_alarms, misses = score_crisis(rows)
    analysed = [analyse(r.text) for r in rows]
    started = time.process_time()
    for a in analysed:
        detect(a)
    per_msg = (time.process_time() - started) / len(rows) * 1e6
    print(f"machine: {describe()}")
    print(f"corpus: {len(rows)} messages ({sum(r.label == 'none' for r in rows)} not a risk); writers {by_writer(rows)}")
    print(f"risk found (any tier) {overall:.1%}; false alarms {false_alarms:.1%}; {per_msg:.0f} µs CPU per message "
          "(detection on an analysed message)")
    # the learned second opinion: where the patterns found nothing, the bot asks directly
    from flows import classifier
    from tests.corpus import carded
    bar = classifier.thresholds().risk_ask
    # not carded: asked directly (crisis.ask*) as the bot answers the message as a first one
    silent = [(r, asks(r.text)) for r in rows if not carded(r.text).tier]
    asked_risk = sum(r.label != "none" and asked for r, asked in silent)
    asked_calm = sum(r.label == "none" and asked for r, asked in silent)
    risky, calm = sum(r.label != "none" for r in rows), sum(r.label == "none" for r in rows)
    print(f"and where the patterns found nothing, the bot asks directly (learned second opinion, p >= {bar}, "
          f"{classifier.thresholds().risk_beside} beside a need): "
          f"risk found or asked {(overall * risky + asked_risk) / max(1, risky):.1%}; "
          f"asked a calm message {asked_calm / max(1, calm):.1%}")
    print(f"{'tier':18s} {'found':>6s} {'exact tier':>10s} {'n':>4s}")
    for tier in tiers():
        if tier in recall:
            found, exact, n = recall[tier]
            print(f"{tier:18s} {found:6.0%} {exact:10.0%} {n:4d}")
    if args.misses:
        for row, got in misses:
            print(f"MISS {row.label} -> {got}: {row.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
