"""One event, start to finish, exactly once as seen by the person.

1. If this event was already applied (its record exists), skip the flow and only finish sending.
2. Else run the pure flow. Effects on the shared handoff queue (its own Redis slot) are applied
   first and are idempotent (a handoff's id derives from the event); then one transaction on the
   person's slot stores the new state, the transcript turns and the event's record (the outbox).
3. Send each batch (≤ 5 messages): the first with the reply token while it is fresh, the rest,
   or all when it is not, by push with a retry key derived from the event and the batch's place.
   Each batch is marked sent as soon as LINE accepted it, so a redo resumes where it stopped.
The caller acknowledges the stream entry afterwards and deletes the record.

Two sources feed a person's stream: LINE (through the webhook) and the counselor console
(src=console: a counselor joined, wrote, closed…). A counselor's message is sent with the
person's latest unused reply token while it is fresh, else by push.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone

import redis

import flows
import messages_ja
from flows.context import kind_of
from handoff.hours import parse as parse_hours
from handoff.resources import TeamResources
from handoff.store import URGENT_TIERS, HandoffStore
from handoff.teams import Teams, route_among

from . import keys, logs
from .config import Config
from .events import push_target, reply_token, to_flow_event
from .line_client import LineClient, Outcome, retry_key
from .redis_conn import as_dict, many_trips, one_trip, send_grouped, trip
from .webhook import event_key

# The console's message takes the person's latest unused reply token, in the same step that
# records the outbox, so the token is spent by exactly one message.
TAKE_TOKEN_LUA = """
local tok = redis.call('GET', KEYS[1]) or ''
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'batches', ARGV[1], 'tok', tok)
redis.call('EXPIRE', KEYS[2], ARGV[2])
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4]) end
return tok
"""
RELAY_KINDS = {"sticker": "relay.sticker", "media": "relay.media", "location": "relay.media",
               "postback": "relay.tap"}


LOCAL_PAGES = ("local.pref.", "local.city.")     # a place's windows (the team's resources follow)
LOCAL_RESOURCES_SHOWN = 3   # a team's resources offered after its place's windows, soonest first


def batches_of(replies, local: dict | None = None) -> list[list[dict]]:
    """Each Reply's messages, packed into LINE calls of at most 5 messages, in order. ``local``:
    a message of the area team's own resources, added to the reply that gives the place's
    windows when it has room (the quick replies move to it, the last)."""
    out: list[list[dict]] = []
    for reply in replies:
        msgs = messages_ja.render(reply)
        if local is not None and len(msgs) < messages_ja.MAX_MESSAGES \
                and any(m.startswith(LOCAL_PAGES) for m in reply.say):
            quick = msgs[-1].pop("quick", None)
            msgs.append(dict(local, **({"quick": quick} if quick else {})))
            local = None
        for i in range(0, len(msgs), messages_ja.MAX_MESSAGES):
            out.append(msgs[i:i + messages_ja.MAX_MESSAGES])
    if len(out) > 1 and sum(len(b) for b in out) <= messages_ja.MAX_MESSAGES:
        out = [[m for b in out for m in b]]   # one call when it fits: free with the reply token
    return out


def is_crisis_reply(trigger: str | None) -> bool:
    """The bot's answer to a risk message (a crisis tier, or what was written next inside the
    crisis window): it must reach the person (bot/redeliver.py)."""
    return kind_of(trigger) == "crisis" or trigger == "window"


RECENT_TTL_S = 3600        # what was written before a handoff: kept an hour, for the consent
# One person may start this many handoffs in this window; the next is answered gently (the flow's
# ctx.handoff_rest) and opens nothing: no queue entry, no staff alert, no chime.
HANDOFF_STARTS = 3
HANDOFF_WINDOW_S = 600
TEAMS_TTL_S = 30            # the teams are read again after this long (an edit reaches the bot then)
RECENT_MAX = 40


class TooManyTries(Exception):
    """This entry has been tried more than MADO_MAX_TRIES times (counted in the read step)."""

    def __init__(self, tries: int):
        super().__init__(f"tried {tries} times")
        self.tries = tries


def handoff_id(ekey: str) -> str:
    """The id of the handoff an event creates: the same on a redo, so it is created once."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "mado-handoff:" + ekey).hex[:16]


class Alone(Exception):
    """This entry is better done alone (`Processor.process`), not in a step with others."""


class Job:
    """One stream entry on its way through the processor: what was read, what was decided."""

    __slots__ = ("pid", "ev", "from_console", "received", "ekey", "rec_key", "summary", "token",
                 "tries", "rec", "raw_state", "recent", "armed")

    def __init__(self, pid: str, ev: dict, from_console: bool):
        self.pid, self.ev, self.from_console = pid, ev, from_console
        self.tries = 1
        self.rec: dict | None = None
        self.raw_state: str | None = None
        self.recent = 0
        self.armed = False

    def nothing_to_send(self) -> bool:
        """Applied, and no message to send (what a person writes to a counselor, say)."""
        return self.rec is None or self.rec.get("batches", "[]") == "[]"


class Processor:
    def __init__(self, config: Config, r: redis.Redis, line: LineClient, clock=time.time):
        self.cfg = config
        self.r = r
        self.line = line
        self.clock = clock
        self.hours = parse_hours(config.hours, config.closed_dates)
        self._teams_cache: tuple[float, list] | None = None
        self.handoffs = HandoffStore(r, shards=config.shards, transcript_ttl_s=config.transcript_ttl_s)
        self._take_token = r.register_script(TAKE_TOKEN_LUA)

    def process(self, fields: dict, tries: tuple | None = None) -> dict:
        """Apply one stream entry. Returns a small summary for logs (ids and counts only).

        Redis round trips on the common path: one read (this entry's try count when `tries` =
        (key, field, out list) is given, the event's record, the state, the rate counter) and one
        write (the person's transaction with the counters after it: `one_trip`); then the
        caller's acknowledgement. `prepare_many` does the same for several people at once."""
        try:
            job = self._parse(fields)
        except Exception:
            if tries is not None:              # bad data still counts as a try (then dead letters)
                n = int(self.r.hincrby(tries[0], tries[1], 1))
                tries[2].append(n)
                if n > self.cfg.max_tries:
                    raise TooManyTries(n) from None
            raise
        self._read(job, trip(self.r, self._read_commands(job, tries)), tries is not None)
        if tries is not None:
            tries[2].append(job.tries)
        if not job.rec:
            if job.from_console:
                job.rec = self._apply_console(job.pid, job.ev, job.ekey, job.rec_key, job.raw_state, job.summary)
            else:
                write = self._apply(job)
                if write is not None:
                    one_trip(self.r, *write)
                    self._written(job)
        return self.send_prepared(job)

    def prepare_many(self, entries: list[tuple[dict, str, str]]) -> list:
        """The read, the flow and the write of several people's entries ((fields, try-count key,
        entry id); one entry per person) in two round trips for all of them: one read, then
        each person's transaction with its counters after it, all in one send. Plain Redis only.

        Returns, for each entry, what its sending thread does next: a `Job` (written: only its
        sends are left, `send_prepared`), an exception to handle as if `process` had raised it
        (TooManyTries), or None: `process` it alone (an event from the console, bad data, a
        flow that failed, a Redis error on the way: it does everything again, as a redo does)."""
        out: list = [None] * len(entries)
        jobs: list[tuple[int, Job]] = []
        for i, (fields, _key, _field) in enumerate(entries):
            try:
                job = self._parse(fields)
            except Exception:
                continue
            if not job.from_console:
                jobs.append((i, job))
        if not jobs:
            return out
        try:
            reads = send_grouped(self.r, [self._read_commands(job, entries[i][1:]) for i, job in jobs])
        except redis.RedisError:
            return out
        writes: list[tuple[int, Job, tuple]] = []
        for (i, job), read in zip(jobs, reads):
            if any(isinstance(reply, Exception) for reply in read):
                continue
            try:
                self._read(job, read, True)
            except TooManyTries as exc:
                out[i] = exc
                continue
            if job.rec:                        # applied before: only its sends are left
                out[i] = job
                continue
            try:
                write = self._apply(job, batched=True)
            except Alone:
                continue
            except Exception as exc:           # (process() tries it again and logs it)
                logs.emit("event", result="batch_fallback", error=type(exc).__name__)
                continue
            if write is None:
                out[i] = job                   # nothing left to write or send
            else:
                writes.append((i, job, write))
        if writes:
            try:
                results = many_trips(self.r, [write for _i, _job, write in writes])
            except redis.RedisError:
                return out                     # each done again alone: a record found is a redo
            for (i, job, _write), result in zip(writes, results):
                if not isinstance(result, Exception):
                    self._written(job)
                    out[i] = job
        return out

    def send_prepared(self, job: "Job") -> dict:
        """The sends of an entry already applied (its record in `job.rec`); the summary."""
        summary = job.summary
        if job.rec is None:
            return summary
        token, received = job.token, job.received
        if job.from_console:
            token, received = self._stored_token(job.rec)
        batches = json.loads(job.rec.get("batches", "[]"))
        summary["batches"] = len(batches)
        summary["sends"] = self._send(job.pid, job.ev, job.ekey, job.rec_key, job.rec, batches, received,
                                      token, counselor=job.from_console)
        return summary

    # -- the steps of one entry -----------------------------------------------------------------
    def _parse(self, fields: dict) -> "Job":
        ev = json.loads(fields["ev"])
        job = Job(fields["pid"], ev, fields.get("src") == "console" and ev.get("type") == "mado.console")
        job.received = int(fields.get("rt") or 0) / 1000.0
        job.ekey = event_key(ev)
        job.rec_key = keys.event_record(job.pid, job.ekey)
        job.summary = {"alias": keys.alias(job.pid), "rid": fields.get("rid"),
                       "kind": ev.get("type") if not job.from_console else "console:" + str(ev.get("action"))}
        job.token = reply_token(ev) if not job.from_console else None
        return job

    @staticmethod
    def _read_commands(job: "Job", tries) -> list[tuple]:
        """The read step: the try count (when `tries` names its key and field), the event's
        record, the state and, for a person's own event, their events in the last minute."""
        commands = [("HINCRBY", tries[0], tries[1], 1)] if tries is not None else []
        commands += [("HGETALL", job.rec_key), ("GET", keys.state(job.pid))]
        if not job.from_console:
            rate_key = keys.user(job.pid, "rate")
            commands += [("INCR", rate_key), ("EXPIRE", rate_key, 60, "NX")]
        return commands

    def _read(self, job: "Job", read: list, counted: bool) -> None:
        if counted:
            job.tries = int(read[0])
            read = read[1:]
            if job.tries > self.cfg.max_tries:
                raise TooManyTries(job.tries)
        rec, job.raw_state, *rate = read
        job.rec = as_dict(rec)
        job.recent = int(rate[0]) if rate else 0

    # -- a person's event from LINE -----------------------------------------------------------
    def _context(self, state: dict | None, *, queue: bool, pid: str = "", after: dict | None = None) -> dict:
        """What the flow may not look up itself. ``after``: the state the first reading of this
        event led to (its place decides which team a new handoff goes to)."""
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        on_duty = self.hours.is_open(now)
        ctx = {"on_duty": on_duty,
               "next_open": messages_ja.opening_text(self.hours.next_open(now), now)}
        teams = self._teams(fresh=after is not None)      # (a handoff asked for: as they are now)
        if teams:
            ctx["teams"] = True
            if after is not None and not (state or {}).get("handoff"):
                ctx.update(self._route_words(teams, after, now))
        hid = (state or {}).get("handoff")
        if (state or {}).get("state") == "paused":
            ctx["held"] = on_duty and self.handoffs.held(hid)
        if queue:
            urgent = (state or {}).get("crisis") in URGENT_TIERS
            meta = self.handoffs.get(hid) if hid else None
            if meta and meta.get("priority") == "urgent":
                urgent = True
            position = self.handoffs.queue_position("urgent" if urgent else "normal", hid)
            ctx["queue_position"] = position
            ctx["wait"] = messages_ja.wait_text(self.handoffs.wait_minutes(position))
            if pid and not hid:
                ctx["handoff_rest"] = self._too_many_handoffs(pid)
        return ctx

    def _teams(self, *, fresh: bool = False) -> list:
        """The deployment's teams (handoff/teams.py), read at most every TEAMS_TTL_S unless
        ``fresh``: every event asks whether there are any (the confirmation then asks where the
        person lives)."""
        at = self.clock()
        if fresh or self._teams_cache is None or at - self._teams_cache[0] > TEAMS_TTL_S:
            self._teams_cache = (at, Teams(self.r).all())
        return self._teams_cache[1]

    def _route_words(self, teams: list, data: dict, now: datetime) -> dict:
        """Where a handoff asked for now would go, for the person's answer: ctx.route (served,
        off_duty, nobody_online …) and, when their area's team is closed, when it opens."""
        urgent = data.get("crisis") in URGENT_TIERS
        route = route_among(teams, data.get("pref"), data.get("city"), data.get("muni"), urgent=urgent,
                            now=now, present_of=self.handoffs.present)
        words = {"route": route.why}
        home = next((t for t in teams if t.name == route.home), None)
        if route.why == "off_duty" and home is not None:
            words["team_open"] = messages_ja.opening_text(home.schedule.next_open(now), now)
        return words

    def _local_resources(self, outcome) -> dict | None:
        """The area team's own resources (places to be, family groups …, past events left out) as one message,
        when the answer gives a place's windows and a team serves that place; else None."""
        if not any(m.startswith(LOCAL_PAGES) for r in outcome.replies for m in r.say):
            return None
        teams = self._teams()
        data = outcome.state
        team = Teams.serving(teams, data.get("pref"), data.get("city"), data.get("muni")) if teams else None
        items = TeamResources(self.r, team.name).list()[:LOCAL_RESOURCES_SHOWN] if team else []
        return messages_ja.local_resources_message(items) if items else None

    def _too_many_handoffs(self, pid: str) -> bool:
        """This person has started HANDOFF_STARTS handoffs within HANDOFF_WINDOW_S."""
        since = (self.clock() - HANDOFF_WINDOW_S) * 1000
        starts = self.r.lrange(keys.user(pid, "ho_starts"), 0, HANDOFF_STARTS - 1)
        return sum(1 for at in starts if float(at) > since) >= HANDOFF_STARTS

    def _apply(self, job: "Job", *, batched: bool = False) -> tuple | None:
        """Run the flow on a person's event and carry out its effects on the shared queue. Sets
        `job.rec` (the record to write) and returns the write (the person's transaction, then the
        counters and notes) for `one_trip`, or None when nothing is left to write or send.
        `batched` (several people at once): an outcome that forgets the person (a scan of their
        keys) raises `Alone` before anything is done, so nobody else waits for it."""
        pid, ev, ekey, rec_key, raw_state, summary = job.pid, job.ev, job.ekey, job.rec_key, job.raw_state, job.summary
        recent = job.recent
        now = self.clock()
        arm_reply = bool(job.token) and (now - job.received) < self.cfg.reply_fresh_s
        state = json.loads(raw_state) if raw_state else None
        event = to_flow_event(ev)
        ctx = self._context(state, queue=False)
        ctx["flood"] = self._flood(recent)
        outcome = flows.handle(state, event, now, idle_s=self.cfg.idle_welcome_s, ctx=ctx)
        kinds = {e["type"] for e in outcome.effects}
        if batched and "forget" in kinds:
            raise Alone()
        if kinds & {"handoff_request", "handoff_resume", "queue_status"}:
            # the answer tells the person their place in line: look it up, and decide again
            outcome = flows.handle(state, event, now, idle_s=self.cfg.idle_welcome_s,
                                   ctx={**self._context(state, queue=True, pid=pid, after=outcome.state),
                                        "flood": ctx["flood"]})
        summary.update(trigger=outcome.trigger, state_from=outcome.state_from, state_to=outcome.state_to)
        shared = self.r.pipeline(transaction=False)     # counters, handoff notes: after the transaction
        self._count(state, outcome, shared)
        hid = (state or {}).get("handoff")
        if "forget" in kinds:
            # the person asked (or blocked us): nothing of theirs is kept (if they were at risk,
            # every console is told they left, without a word of what they wrote)
            self.forget(pid, "blocked" if outcome.trigger == "unfollow" else "forgot")
        batches = batches_of(outcome.replies, self._local_resources(outcome))
        if "forget" in kinds and not batches:
            shared.execute()           # (the counters)
            job.rec = None
            return None
        ttl = self.cfg.state_ttl_s
        pipe = self.r.pipeline(transaction=True)
        for effect in outcome.effects:
            hid = self._effect(pid, ev, event, ekey, effect, outcome, hid, pipe, bool(batches), shared)
        if batches and hid and hid == (state or {}).get("handoff") and "forget" not in kinds:
            # what the bot told someone whose handoff stays open (the crisis lines, 119, "the
            # counselor was asked to read this urgently", cards): a system line in the transcript,
            # after what they wrote, so that no counselor sends the same again without knowing
            said = messages_ja.said_line(outcome.replies)
            if said:
                self.handoffs.append(pid, hid, {"from": "bot", "kind": "said", "text": said,
                                                "at": int(self.clock() * 1000)}, pipe=pipe)
                kinds.add("said")
        if hid and kinds & {"relay", "crisis", "share_context", "said"}:
            # the transcript grew in this transaction: the consoles hear of it once it is written
            # (the counters' pipeline runs after it)
            self.handoffs.publish("message", hid, pipe=shared)
        rec = {"batches": json.dumps(batches, ensure_ascii=False)}
        if batches and is_crisis_reply(outcome.trigger):
            rec["crisis"] = "1"            # must reach the person: kept if LINE does not take it
        if "forget" not in kinds:
            pipe.set(keys.state(pid), json.dumps(outcome.state, ensure_ascii=False), ex=ttl)
            target = push_target(ev)
            if target:
                pipe.set(keys.line_id(pid), target, ex=ttl)
        if "forget" not in kinds and not outcome.state.get("handoff"):
            self._remember_recent(pid, event, outcome, pipe)
        # the reply about to be tried is marked in the same step (what the mark before the call
        # did): a redo knows the token may already be spent
        armed = arm_reply and bool(batches)
        pipe.hset(rec_key, mapping={**rec, "r_try": 1} if armed else rec)
        pipe.expire(rec_key, self.cfg.dedup_ttl_s)
        job.rec = rec
        job.armed = armed
        return pipe, shared

    @staticmethod
    def _written(job: "Job") -> None:
        """The write of `_apply` is done."""
        if job.armed:
            job.rec["r_try"] = "armed"      # (set by this very run's write: not "tried before")

    # -- what was said before a handoff (shown to the counselor only with consent) ------------
    def _remember_recent(self, pid: str, event, outcome, pipe) -> None:
        """Keep this session's words for an hour: the person's typed text and the ids of what
        the bot answered. Copied into a handoff's transcript only if the person agrees (the
        bot's safety answers always), deleted after an hour either way."""
        at = int(self.clock() * 1000)
        key = keys.user(pid, "recent")
        if event.kind == "text" and event.text:
            pipe.rpush(key, json.dumps({"from": "user", "text": event.text[:2000], "at": at}, ensure_ascii=False))
        said = [m for r in outcome.replies for m in r.say]
        if said:
            pipe.rpush(key, json.dumps({"from": "bot", "ids": said, "at": at}))
        pipe.ltrim(key, -RECENT_MAX, -1)
        pipe.expire(key, RECENT_TTL_S)

    def _share_context(self, pid: str, hid: str, share: bool, pipe) -> None:
        """Copy what came before the handoff into its transcript: everything when the person
        agreed ("share"), else only the bot's own safety answers, as system lines."""
        key = keys.user(pid, "recent")
        entries = [json.loads(x) for x in self.r.lrange(key, 0, -1)]
        lines = []
        for e in entries:
            if e.get("from") == "user" and share:
                lines.append({"from": "user", "kind": "context", "text": e.get("text", ""), "at": e.get("at")})
            elif e.get("from") == "bot":
                text = messages_ja.context_line(e.get("ids", ()), safety_only=not share)
                if text:
                    lines.append({"from": "bot", "kind": "context", "text": text, "at": e.get("at")})
        if lines:
            lines.append({"from": "bot", "kind": "context", "text": messages_ja.context_end(share),
                          "at": int(self.clock() * 1000)})
        for line in lines:
            self.handoffs.append(pid, hid, line, pipe=pipe)
        pipe.delete(key)

    def _flood(self, n: int) -> str:
        """Per-person rate limit: "" (fine), "first" (just went over), "more". A flood from one
        person then costs little and slows only them."""
        limit = self.cfg.person_rate_per_min
        return "" if n <= limit else ("first" if n == limit + 1 else "more")

    def _count(self, state: dict | None, outcome, pipe=None) -> None:
        """Anonymous counters for staff statistics: no id, no text, only how many."""
        names = []
        trigger = outcome.trigger or ""
        if state is None and trigger not in ("", "unfollow"):
            names.append("conversations")
        if trigger.startswith("crisis_"):
            names.append("crisis")
            if not (state or {}).get("crisis"):      # people, not messages: the share's numerator
                names.append("crisis_people")
        if trigger.startswith("choose_"):
            names.append("lane_" + trigger[len("choose_"):])
        before = set((state or {}).get("topics", ()))
        names += ["topic_" + t for t in outcome.state.get("topics", ()) if t not in before]
        for name in names:
            self.handoffs.count(name, pipe=pipe)

    def _effect(self, pid, ev, event, ekey, effect, outcome, hid, pipe, answered: bool,
                shared=None) -> str | None:
        """Carry out one effect the flow asked for. Returns the person's open handoff id."""
        kind, value = effect["type"], effect.get("value", "")
        ho = self.handoffs
        if kind == "feedback":              # counts only, with or without a handoff
            ho.count(f"feedback_{value}", pipe=shared)
        elif kind == "handoff_request":
            hid = handoff_id(ekey)
            data = outcome.state
            topics = data.get("topics", [])
            pref = data.get("pref")
            intake = {"lane": data.get("lane", ""), "topics": topics, "topic": topics[-1] if topics else "",
                      "pref": messages_ja.catalog().places["prefs"][pref]["name"] if pref else "",
                      "crisis": data.get("crisis") or "", "about_other": bool(data.get("crisis_about_other")),
                      "mode": value or "live"}
            ho.create(pid, hid, intake, mode=value or "live",
                      place={k: data.get(k) for k in ("pref", "city", "muni")})
            outcome.state["handoff"] = hid
            starts = keys.user(pid, "ho_starts")          # for HANDOFF_STARTS (newest first)
            pipe.lpush(starts, int(self.clock() * 1000))
            pipe.ltrim(starts, 0, HANDOFF_STARTS - 1)
            pipe.expire(starts, HANDOFF_WINDOW_S)
        elif not hid:
            return hid
        elif kind == "share_context":
            self._share_context(pid, hid, value == "share", pipe)
        elif kind in ("relay", "crisis"):
            text = event.text if event.kind == "text" else messages_ja.template(RELAY_KINDS.get(event.kind, "relay.tap"))
            entry = {"from": "user", "kind": event.kind, "text": text, "at": int(self.clock() * 1000)}
            if kind == "crisis":        # a risk message: until its holder has read it, it may alert everyone
                entry["risk"] = outcome.state.get("crisis") or "high"
            ho.append(pid, hid, entry, pipe=pipe)
            ho.note_user_message(hid, pipe=shared)
            token = reply_token(ev)
            if token and not answered:       # unused: the counselor's next message may take it
                pipe.set(keys.user(pid, "rtok"), json.dumps({"t": token, "at": self.clock()}),
                         ex=int(self.cfg.reply_fresh_s) + 5)
            read_token = (ev.get("message") or {}).get("markAsReadToken") if isinstance(ev.get("message"), dict) else None
            if read_token:
                pipe.set(keys.user(pid, "readtok"), read_token, ex=self.cfg.state_ttl_s)
            if kind == "crisis":            # (told to the consoles once the transcript has it: the
                # counters' pipeline runs after the transaction, and a console that asks for the
                # risk alerts on hearing it must find the message there)
                ho.make_urgent(hid, outcome.state.get("crisis") or "high", pipe=shared)
        elif kind == "handoff_cancel":
            ho.cancel(hid)
            hid = None
        elif kind == "handoff_pause":
            ho.pause(hid)
        elif kind == "handoff_resume":
            ho.resume(hid, held=outcome.state_to == "talking", mode=value or "live")
        elif kind == "handoff_mode":
            ho.set_mode(hid, value)
        return hid

    # -- what a counselor did, from the console --------------------------------------------
    def _apply_console(self, pid: str, ev: dict, ekey: str, rec_key: str, raw_state: str | None,
                       summary: dict) -> dict | None:
        state = json.loads(raw_state) if raw_state else None
        action = ev.get("action")
        hid = ev.get("hid")
        if action == "forget":          # staff deleting on the person's request made elsewhere
            self.handoffs.person_left(hid)
            summary["result"] = "forgotten"
            self.forget(pid)
            return None
        if not state or state.get("handoff") != hid:
            summary["result"] = "stale"       # the person left or moved on: nothing to deliver
            return None
        if action in ("message", "resource"):
            message = self._counselor_message(ev)
            if message is None:
                summary["result"] = "unknown resource"
                return None
            batches = [[message]]
            self._take_token(keys=[keys.user(pid, "rtok"), rec_key],
                             args=[json.dumps(batches, ensure_ascii=False), self.cfg.dedup_ttl_s])
            return self.r.hgetall(rec_key)
        if action == "typing":
            target = self.r.get(keys.line_id(pid))
            if target:
                self.line.show_loading(target, 20)
            return None
        if action == "read":
            token = self.r.getdel(keys.user(pid, "readtok"))
            if token:
                self.line.mark_read(token)
            return None
        outcome = flows.handle(state, flows.Event("counselor", data=str(action)), self.clock(),
                               idle_s=self.cfg.idle_welcome_s, ctx=self._context(state, queue=False))
        summary.update(trigger=outcome.trigger, state_from=outcome.state_from, state_to=outcome.state_to)
        batches = batches_of(outcome.replies)
        if not batches:
            self.r.set(keys.state(pid), json.dumps(outcome.state, ensure_ascii=False), ex=self.cfg.state_ttl_s)
            return None
        # new state, outbox and the person's unused reply token: one atomic step on their slot
        self._take_token(keys=[keys.user(pid, "rtok"), rec_key, keys.state(pid)],
                         args=[json.dumps(batches, ensure_ascii=False), self.cfg.dedup_ttl_s,
                               json.dumps(outcome.state, ensure_ascii=False), self.cfg.state_ttl_s])
        return self.r.hgetall(rec_key)

    @staticmethod
    def _counselor_message(ev: dict) -> dict | None:
        """What a counselor sends: their typed text, a resource of the catalogue (its card; None
        if the catalogue no longer has it), or a team's local resource (handoff/resources.py)."""
        if ev.get("action") != "resource":
            return {"text": str(ev.get("text", ""))[:5000]}
        if isinstance(ev.get("local"), dict):     # a team's own resource, as it was when sent
            try:
                return messages_ja.local_resource_message(ev["local"])
            except (KeyError, ValueError, TypeError):
                return None
        resource = messages_ja.counselor_resources().get(str(ev.get("id")))
        return messages_ja.message_of(resource["message"]) if resource else None

    def _stored_token(self, rec: dict) -> tuple[str | None, float]:
        raw = rec.get("tok") or ""
        if not raw:
            return None, 0.0
        try:
            tok = json.loads(raw)
            return tok["t"], float(tok["at"])
        except (ValueError, KeyError, TypeError):
            return None, 0.0

    def forget(self, pid: str, why: str = "") -> int:
        """Block/unfollow, or their request: every handoff ends ("the person left") and every key
        under the person's tag is deleted. Only anonymous counters remain."""
        return self.handoffs.forget_person(pid, why)

    def _send(self, pid, ev, ekey, rec_key, rec, batches, received, token, *, counselor=False) -> int:
        target = push_target(ev) if not counselor else None
        sends = 0
        for i, batch in enumerate(batches):
            if rec.get(f"s{i}"):
                continue
            sent = False
            batch = self.line.messages(batch)     # built once: the reply, or the push after it
            fresh = token and (self.clock() - received) < self.cfg.reply_fresh_s
            if i == 0 and fresh and not rec.get("r_rejected"):
                tried_before = rec.get("r_try") not in (None, "", "armed")
                if rec.get("r_try") != "armed":          # (else marked with the outcome's write)
                    self.r.hset(rec_key, "r_try", 1)
                outcome = self.line.reply(token, batch, tried_before=tried_before)
                if outcome is Outcome.TOKEN_REJECTED:
                    self.r.hset(rec_key, "r_rejected", 1)
                    rec["r_rejected"] = "1"
                else:
                    sent = True
                    if counselor and ev.get("action") == "message":     # (not the bot's notices)
                        self.handoffs.count("counselor_reply")
            if not sent:
                if target is None and counselor:
                    target = self.r.get(keys.line_id(pid))
                if not target:
                    logs.emit("send", result="no_target", rid=None)
                    continue
                self.line.push(target, batch, retry_key(ekey, i))
                if counselor and ev.get("action") == "message":
                    self.handoffs.count("counselor_push")
            if i < len(batches) - 1:
                # (the last batch needs no mark: until the entry is acknowledged, a redo of it is
                # harmless anyway: the reply token is spent and LINE knows the push's retry key)
                self.r.hset(rec_key, f"s{i}", 1)
            sends += 1
        return sends
