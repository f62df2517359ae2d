"""The monthly report (`mado report --month YYYY-MM [--team NAME] --format csv|html`): counts only.

Read from the anonymous counters (handoff/store.py): ``mado:{stats}`` (per Tokyo day, overall),
``mado:{stats}:teams`` (per day and team) and ``mado:{stats}:waits:<YYYY-MM>`` (each pickup's wait
and team). Nothing else: no handoff card, no alias, no id, no text.

Scopes: ``_all`` (overall), each team by name, ``_pool`` (the shared pool). Conversations start
before anyone says where they live, so they are counted overall only; a team's figures are about
the handoffs routed to it (its crisis share: people at risk among them).

Small cells: a count from 1 to MIN_CELL - 1 is not shown (``<5``), nor a median, p90 or share
computed from fewer than MIN_CELL. Where one hidden count could be worked out from the others (one
hidden among a group's counts: a scope's lanes, topics or outcomes, or the teams' counts of one
figure beside the overall one), the smallest other count of that group is hidden too.
"""
from __future__ import annotations

import csv
import io
import math
import re
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import redis

from .stats import FOLDED_TOPICS, TOTALS
from .store import POOL_KEY, STATS, TEAM_STATS, waits_key

MIN_CELL = 5
ALL = "_all"
TOKYO = timezone(timedelta(hours=9))
MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
LANES = ("lane_self", "lane_family", "lane_other")
TOPICS = [n for n in TOTALS if n.startswith("topic_")] + ["topic_heard", FOLDED_TOPICS]
OUTCOMES = ("listened", "informed", "referred", "emergency", "ended_by_person", "no_reply", "other",
            "none", "cancelled", "left")


class ReportError(ValueError):
    pass


@dataclass
class Cell:
    scope: str
    metric: str
    value: float | int | None       # None: nothing to compute (no data)
    hidden: str = ""                 # "", "small" (under MIN_CELL), "secondary" (would give one away)

    @property
    def shown(self) -> str:
        if self.hidden:
            return f"<{MIN_CELL}"
        return "" if self.value is None else str(self.value)


@dataclass
class Report:
    month: str
    scopes: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    generated: str = ""

    def metrics(self, scope: str) -> list[str]:
        return [m for (s, m) in self.cells if s == scope]

    def get(self, scope: str, metric: str) -> Cell | None:
        return self.cells.get((scope, metric))

    @property
    def hidden_count(self) -> int:
        return sum(1 for c in self.cells.values() if c.hidden)


def _p90(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _fold(raw: dict[str, int]) -> dict[str, int]:
    """Answer topics (topic_<answer>) folded into one, as the statistics page does."""
    out = dict(raw)
    extra = [k for k in raw if k.startswith("topic_") and k not in TOPICS]
    if extra:
        out[FOLDED_TOPICS] = out.get(FOLDED_TOPICS, 0) + sum(out.pop(k) for k in extra)
    return out


def build(r: redis.Redis, month: str, team: str | None = None, *, min_cell: int = MIN_CELL) -> Report:
    if not MONTH.fullmatch(month or ""):
        raise ReportError("--month must look like 2026-11")
    prefix = month + "-"
    overall: dict[str, int] = defaultdict(int)
    for key, value in r.hgetall(STATS).items():
        day, sep, name = key.partition(":")
        if sep and day.startswith(prefix):
            overall[name] += int(value)
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, value in r.hgetall(TEAM_STATS).items():
        parts = key.split("|")
        if len(parts) == 3 and parts[0].startswith(prefix):
            per[parts[1]][parts[2]] += int(value)
    waits: dict[str, list[int]] = defaultdict(list)
    for entry in r.lrange(waits_key(month), 0, -1):
        scope, _, ms = entry.rpartition("|")
        if ms.isdigit():
            waits[scope].append(int(ms))
            waits[ALL].append(int(ms))
    from .teams import Teams

    known = Teams(r).names()
    scopes = sorted(set(known) | {s for s in per if s != POOL_KEY} | {s for s in waits if s not in (ALL, POOL_KEY)})
    scopes += [POOL_KEY] if (POOL_KEY in per or POOL_KEY in waits or known) else []
    if team is not None:
        if team not in scopes:
            raise ReportError(f"no team named {team!r} (nor any figure of it in {month})")
        scopes = [team]
    rep = Report(month, [ALL] + scopes,
                 generated=datetime.now(TOKYO).strftime("%Y-%m-%d %H:%M"))

    def put(scope: str, metric: str, value) -> None:
        rep.cells[(scope, metric)] = Cell(scope, metric, value)

    overall = _fold(overall)
    for scope in rep.scopes:
        counts = overall if scope == ALL else _fold(per.get(scope, {}))
        if scope == ALL:
            put(scope, "conversations", counts.get("conversations", 0))
        put(scope, "handoffs", counts.get("handoffs", 0))
        put(scope, "handoffs_urgent", counts.get("handoffs_urgent", 0))
        crisis = "crisis" if scope == ALL else "handoff_crisis"      # of people in conversations / in handoffs
        base = counts.get("conversations", 0) if scope == ALL else counts.get("handoffs", 0)
        put(scope, f"{crisis}_people", counts.get("crisis_people", 0))
        put(scope, f"{crisis}_share", round(min(1, counts.get("crisis_people", 0) / base), 3) if base else None)
        w = waits.get(scope, [])
        put(scope, "waits_n", len(w))
        put(scope, "wait_median_s", round(statistics.median(w) / 1000) if w else None)
        put(scope, "wait_p90_s", round(_p90(w) / 1000) if w else None)
        if scope != ALL:
            for name in ("overflow_off_duty", "overflow_nobody_online"):
                put(scope, name, counts.get(name, 0))
        for name in LANES:
            put(scope, name, counts.get(name, 0))
        for name in TOPICS:
            put(scope, name, counts.get(name, 0))
        for name in OUTCOMES:
            put(scope, f"outcome_{name}", counts.get(f"outcome_{name}", 0))
    _suppress(rep, min_cell)
    return rep


COUNTS_OF = {"crisis_share": ("crisis_people", "conversations"), "handoff_crisis_share": ("handoff_crisis_people", "handoffs"),
             "wait_median_s": ("waits_n",), "wait_p90_s": ("waits_n",)}


def _suppress(rep: Report, k: int) -> None:
    """Hide every count from 1 to k-1; then, in each group where exactly one count is hidden, the
    smallest other count above zero (so the hidden one cannot be worked out from a total); then
    every figure computed from a hidden or small count."""
    for cell in rep.cells.values():
        if cell.metric not in COUNTS_OF and isinstance(cell.value, int) and 0 < cell.value < k:
            cell.hidden = "small"
    groups: list[list[Cell]] = []
    for scope in rep.scopes:
        for names in (LANES, TOPICS, [f"outcome_{o}" for o in OUTCOMES]):
            groups.append([c for n in names if (c := rep.get(scope, n))])
    teams = [s for s in rep.scopes if s != ALL]
    if len(teams) > 1:          # the teams' counts of one figure add up to the overall one
        for metric in {m for s in teams for m in rep.metrics(s)} - set(COUNTS_OF):
            groups.append([c for s in teams if (c := rep.get(s, metric))])
    changed = True
    while changed:
        changed = False
        for group in groups:
            hidden = [c for c in group if c.hidden]
            if len(hidden) == 1:
                rest = [c for c in group if not c.hidden and isinstance(c.value, int) and c.value > 0]
                if rest:
                    min(rest, key=lambda c: c.value).hidden = "secondary"
                    changed = True
    for cell in rep.cells.values():
        for source in COUNTS_OF.get(cell.metric, ()):
            src = rep.get(cell.scope, source)
            small = src is not None and (src.hidden or (isinstance(src.value, int) and src.value < k))
            if cell.value is not None and small:
                cell.hidden = "small"


# -- output -------------------------------------------------------------------------------------
def _words() -> dict:
    import messages_ja

    return messages_ja.report_words()


def scope_label(scope: str) -> str:
    w = _words()
    if scope in (ALL, POOL_KEY):
        return w[f"scope.{scope}"]
    return w["scope.team"].format(team=scope)


@lru_cache(maxsize=1)
def _console() -> dict:
    import messages_ja

    return messages_ja.console()


def outcome_label(name: str) -> str:
    """An outcome in the console's words (the chart of outcomes: its title says what they are)."""
    return _console().get("outcomes", {}).get(name) or _words().get(f"outcome.{name}", name)


def metric_label(metric: str) -> str:
    w, ui = _words(), _console()["ui"]
    if metric == "crisis_share":
        return w["crisis_share.all"]
    if metric.startswith("outcome_"):
        return w["outcome"].format(label=outcome_label(metric[len("outcome_"):]))
    if metric.startswith("lane_"):
        return w["lane"].format(label=ui.get(f"stats.{metric}", metric))
    if metric.startswith("topic_"):
        return w["topic"].format(label=ui.get(f"stats.{metric}", metric))
    return w.get(metric) or ui.get(f"stats.{metric}", metric)


def to_csv(rep: Report) -> str:
    """month, team (_all overall, _pool the shared pool), metric, value ("<5" when hidden), note."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["month", "team", "metric", "value", "note"])
    for (scope, metric), cell in rep.cells.items():
        note = {"small": f"suppressed: under {MIN_CELL}",
                "secondary": "suppressed: would reveal a suppressed cell"}.get(cell.hidden, "")
        w.writerow([rep.month, scope, metric, cell.shown, note])
    return out.getvalue()


def _chart(kind: str, title: str, labels: list[str], series: list[tuple[str, list]], *, stacked=False) -> str:
    """An inline SVG chart (pygal): hidden values are drawn as missing, never as a number."""
    import pygal
    from pygal.style import Style

    # pygal puts a legacy import hook on sys.meta_path (for its old plugin names) that has no
    # find_spec: every later import in the process warns about it. Nothing here needs it.
    sys.meta_path[:] = [f for f in sys.meta_path if hasattr(f, "find_spec")]

    style = Style(background="white", plot_background="white", font_family="sans-serif",
                  colors=("#3b6ea5", "#e0a030", "#6a9f58", "#b05050", "#7d6aa5", "#888888"))
    cls = {"bar": pygal.StackedBar if stacked else pygal.Bar, "hbar": pygal.HorizontalBar}[kind]
    chart = cls(js=[], disable_xml_declaration=True, width=720, height=320, style=style, title=title,
                show_legend=len(series) > 1, legend_at_bottom=True, print_values=True, explicit_size=True,
                print_zeroes=False,          # a hidden value is missing, not "0" (a stacked bar printed it)
                # room for labels in Japanese on the left (pygal measures them as if half as wide)
                **({"margin_left": 70} if kind == "hbar" else {}),
                truncate_label=-1, x_label_rotation=0)
    chart.x_labels = labels
    for name, values in series:
        chart.add(name, values)
    # a static page: pygal's inline config script (for its tooltips) is not needed, nor wanted in print
    return re.sub(r"<script\b.*?</script>", "", chart.render(is_unicode=True), flags=re.S)


def to_html(rep: Report) -> str:
    """A printable page: the rule for hidden cells, charts (pygal, inline SVG), then every figure."""
    from html import escape

    w = _words()
    mark = w["mark"].format(min=MIN_CELL)

    def val(scope, metric):
        c = rep.get(scope, metric)
        return None if c is None or c.hidden or c.value is None else c.value

    teams = [s for s in rep.scopes if s != ALL]
    charts = []
    if teams:
        labels = [scope_label(s) for s in teams]
        charts.append(_chart("bar", w["chart.handoffs"], labels,
                             [(w["chart.handoffs"], [val(s, "handoffs") for s in teams])]))
        charts.append(_chart("bar", w["chart.waits"], labels,
                             [(w["chart.median"], [val(s, "wait_median_s") for s in teams]),
                              (w["chart.p90"], [val(s, "wait_p90_s") for s in teams])]))
        charts.append(_chart("bar", w["chart.lanes"], labels,
                             [(metric_label(n), [val(s, n) for s in teams]) for n in LANES], stacked=True))
    outcome_names = [f"outcome_{o}" for o in OUTCOMES if (val(ALL, f"outcome_{o}") or 0) > 0]
    if outcome_names:
        charts.append(_chart("hbar", w["chart.outcomes"], [outcome_label(n[len("outcome_"):]) for n in outcome_names],
                             [(w["chart.outcomes"], [val(ALL, n) for n in outcome_names])]))
    rule = (w["suppression"].format(min=MIN_CELL, mark=mark, n=rep.hidden_count) if rep.hidden_count
            else w["suppression.none"].format(min=MIN_CELL))
    metrics = list(dict.fromkeys(m for s in rep.scopes for m in rep.metrics(s)))
    head = "".join(f"<th>{escape(scope_label(s))}</th>" for s in rep.scopes)
    rows = []
    for m in metrics:
        cells = []
        for s in rep.scopes:
            c = rep.get(s, m)
            text = "" if c is None else (mark if c.hidden else c.shown)
            if c is not None and not c.hidden and m.endswith("crisis_share") and c.value is not None:
                text = f"{round(c.value * 100, 1)} %"
            cells.append(f'<td class="{"hidden" if c is not None and c.hidden else ""}">{escape(text)}</td>')
        rows.append(f"<tr><th>{escape(metric_label(m))}</th>{''.join(cells)}</tr>")
    title = w["title"].format(month=rep.month)
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
h1 {{ font-size: 1.5em; margin-bottom: .2em; }}
.note {{ color: #444; font-size: .9em; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 1em; }}
.chart {{ break-inside: avoid; page-break-inside: avoid; }}
table {{ border-collapse: collapse; margin-top: 1.5em; font-size: .9em; }}
th, td {{ border: 1px solid #bbb; padding: .25em .6em; text-align: right; }}
tbody th {{ text-align: left; font-weight: normal; }}
td.hidden {{ color: #888; }}
@media print {{ body {{ margin: 1cm; }} tr {{ page-break-inside: avoid; }} }}
</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="note">{escape(w["subtitle"])}</p>
<p class="note">{escape(rule)} {escape(w["chart.hidden"])}</p>
<div class="charts">{"".join(f'<div class="chart">{c}</div>' for c in charts)}</div>
<table><thead><tr><th>{escape(w["col.metric"])}</th>{head}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<p class="note">{escape(w["generated"].format(at=rep.generated))}</p>
</body></html>
"""
