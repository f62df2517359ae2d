"""Understanding what people type: prints per-intent precision and recall on the labelled corpus
(tests/data/understanding_corpus.tsv), the fallback rate, and CPU microseconds per message
(analysis + intents + places, after start-up). Asserts nothing.

    python benchmarks/understanding.py [--misses]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402
from flows.language import analyse  # noqa: E402
from flows.understanding import lexicon, understand  # noqa: E402
from tests.corpus import score_understanding, understanding_rows  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--misses", action="store_true", help="list every message not understood as labelled")
    ap.add_argument("--file", help="another labelled set in tests/data/ (e.g. independent/first_messages_2026-12.tsv)")
    args = ap.parse_args()
    rows = understanding_rows(args.file) if args.file else understanding_rows()
    started = time.process_time()
    lexicon()
    analyse("")
    build_ms = (time.process_time() - started) * 1000
    accuracy, table, misses = score_understanding(rows)
    # speed: every message once more, CPU time only (the machine may be busy with other work)
    texts = [(r.text, r.state) for r in rows]
    started = time.process_time()
    for text, state in texts:
        understand(analyse(text), state or "lane_other", {})
    per_msg = (time.process_time() - started) / len(texts) * 1e6
    precision, recall, unrelated = table["none"]
    fallbacks = recall * unrelated + sum(1 for _, got, _ in misses if got == "none")   # said "not understood"
    print(f"machine: {describe()}")
    print(f"corpus: {len(rows)} messages, {len(table)} labels; start-up {build_ms:.0f} ms CPU (dictionary and patterns, once per process)")
    print(f"accuracy {accuracy:.1%}; fallback on {fallbacks / len(rows):.1%} of messages "
          f"({unrelated} of {len(rows)} are labelled unrelated, {precision:.0%} of the fallbacks are for those); "
          f"{per_msg:.0f} µs CPU per message")
    print(f"besides: asked 'A or B?' with the meant one among the two on {score_understanding.asked:.1%} "
          f"(the learned second opinion, where the patterns found nothing)")
    print(f"{'intent':20s} {'precision':>9s} {'recall':>7s} {'n':>4s}")
    for label, (precision, recall, n) in sorted(table.items()):
        print(f"{label:20s} {precision:9.0%} {recall:7.0%} {n:4d}")
    if args.misses:
        for row, got, arg in misses:
            print(f"MISS {row.label} -> {got} {arg}: {row.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
