"""The labelled corpora (tests/data/*.tsv) and how they are scored; shared by the table tests and
by benchmarks/understanding.py and benchmarks/crisis.py, which print the figures."""
from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    arg: str = ""
    state: str = ""
    note: str = ""
    writer: str = ""
    about: str = ""


def _read(name: str) -> list[dict]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def understanding_rows() -> list[Row]:
    return [Row(text=r["text"].replace("\\n", "\n"), label=r["intent"], arg=r.get("arg") or "",
                state=r.get("state") or "", note=r.get("note") or "")
            for r in _read("understanding_corpus.tsv")]


def crisis_rows() -> list[Row]:
    return [Row(text=r["text"].replace("\\n", "\n"), label=r["tier"], writer=r["writer"],
                about=r["about"], note=r.get("note") or "", state=r.get("style") or "")
            for r in _read("crisis_corpus.tsv")]


# -- understanding -------------------------------------------------------------------------------
# The state a row's "state" stands for, and the question the bot had just asked there.
_CONTEXT = {"": ("lane_other", {}), "waiting": ("waiting", {"handoff": "h"}),
            "handoff_confirm": ("handoff_confirm", {"asked": "handoff_confirm"}),
            "forget_confirm": ("forget_confirm", {"asked": "forget_confirm"}),
            # right after a crisis answer of that tier (flows/context.py's window)
            "after_medical": ("choosing", {"asked": "crisis", "window": "medical"}),
            "after_high": ("choosing", {"asked": "crisis", "window": "high"})}


def understood_label(row: Row) -> tuple[str, str]:
    """(intent, arg) as mado understands the row; "none" when it falls back."""
    from flows.language import analyse
    from flows.understanding import understand

    state, data = _CONTEXT[row.state]
    u = understand(analyse(row.text), state, data)
    if u.intent == "place" and u.place is not None:
        return "place", u.place.pref
    return (u.intent or "none").removesuffix("_short").removesuffix("_soft"), ""


def score_understanding(rows: list[Row]):
    """Per-intent precision and recall, overall accuracy, and the misses."""
    tp, fp, fn = Counter(), Counter(), Counter()
    misses = []
    for row in rows:
        got, arg = understood_label(row)
        ok = got == row.label and (row.label != "place" or arg == row.arg.zfill(2))
        if ok:
            tp[row.label] += 1
        else:
            fn[row.label] += 1
            fp[got] += 1
            misses.append((row, got, arg))
    labels = sorted(set(tp) | set(fn) | set(fp))
    table = {lab: (tp[lab] / (tp[lab] + fp[lab]) if tp[lab] + fp[lab] else 1.0,
                   tp[lab] / (tp[lab] + fn[lab]) if tp[lab] + fn[lab] else 1.0,
                   tp[lab] + fn[lab]) for lab in labels}
    accuracy = sum(tp.values()) / len(rows)
    return accuracy, table, misses


# -- crisis ---------------------------------------------------------------------------------------
RISK_TIERS = ("medical", "urgent", "high", "medium", "violence_family", "violence_partner", "violence_by_me")


def score_crisis(rows: list[Row]):
    """Per-tier recall (a risk message found as any risk tier, and as exactly its tier), the false
    alarm rate on the non-risk rows, and the misses."""
    from flows.crisis import detect

    found_any, found_exact, total = Counter(), Counter(), Counter()
    alarms, negatives = 0, 0
    misses = []
    for row in rows:
        d = detect(row.text)
        if row.label == "none":
            negatives += 1
            if d.tier:
                alarms += 1
                misses.append((row, d.tier))
            continue
        total[row.label] += 1
        if d.tier:
            found_any[row.label] += 1
        if d.tier == row.label:
            found_exact[row.label] += 1
        else:
            misses.append((row, d.tier))
    recall = {t: (found_any[t] / total[t], found_exact[t] / total[t], total[t]) for t in total}
    overall = sum(found_any.values()) / max(1, sum(total.values()))
    return recall, overall, alarms / max(1, negatives), misses


def by_writer(rows: list[Row]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for r in rows:
        out[r.writer] += 1
    return dict(out)
