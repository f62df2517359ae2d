"""The worker: consumes the event streams, runs the conversation, talks to LINE.

Ordering and parallelism
- Events are sharded by person (`mado:{ev:<shard>}`). Each shard is held by one worker at a time
  through a lease in Redis (renewed by a heartbeat), so several worker processes may run and one
  person's events are still applied strictly in order. Workers share the shards evenly; a dead
  worker's leases expire and its shards, with their pending entries (XAUTOCLAIM), are taken over.
  A worker with fewer shards (MADO_EVENT_SHARDS) never lowers the share of one with more
  (`_fair_share`): no shard is given up that no one else can take.
- Inside a worker, a person's events go through that person's own little queue: their next
  event starts only when the previous one is done. On a plain Redis the next events of everyone
  ready are read, decided and written together by one stepper thread (two round trips for all
  of them), then each person's sends run on a thread pool, so one slow LINE call never holds up
  anyone else; on a cluster each person's events run on a pool thread from start to end.

Delivery
- An entry is acknowledged (and deleted: the stream keeps no message text) only after its
  effects are done. An entry that keeps failing goes to the dead-letter stream (its ids and the
  failure, never the event: `_letter`) and to Sentry; a crisis reply it carried is kept and
  pushed once LINE answers again (bot/redeliver.py).
- SIGTERM: stop reading, finish the events in hand, hand the shards back, exit. The handler is in
  place first thing, before the slow imports and the warm-up: a SIGTERM at any moment of start-up
  is a clean exit (0), never death by the signal. The supervisor starts its children with SIGTERM
  blocked, so one that arrives before a child's handler exists waits for it. The handler itself
  takes no lock (bot/signals.py says why): a thread of its own does the stopping.
"""
from __future__ import annotations

import signal

if __name__ == "__main__":          # `python -m bot.worker`: before the imports below (seconds)
    from bot.signals import STOP as _early

    _early.catch()

import collections
import gc
import json
import math
import os
import random
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import redis

import flows

from . import keys, logs, redeliver
from .signals import SIGNALS, STOP
from handoff.store import STATS

from .config import Config
from .line_client import LineClient, SendFailed
from .processor import Job, Processor, TooManyTries
from .redis_conn import as_dict, connect, is_cluster, is_plain, trip
from .sentry import capture, init_sentry
from .webhook import event_key

RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
READ_COUNT = 64
READ_BLOCK_MS = 500      # how long one read waits for a new entry (also how soon a new shard is read)
READ_GATHER_S = 0.02     # after a read that found entries, let the next ones gather this long
                         # (more of them decided and written together: CPU for a few ms of wait)
ACK_EVERY_S = 0.05       # finished entries gather this long, then go in one round trip (a crash
                         # before it only means a harmless redo: their records are found)
MAX_INFLIGHT_PER_SHARD = 512
STEP_MAX = 64            # people whose next entries are read, decided and written together
DEAD_LETTER_KEEP_S = 14 * 86400   # each dead letter, at most (and no more than DEAD_LETTER_MAX)
DEAD_LETTER_MAX = 10_000
REDELIVER_EVERY_S = 0.5  # how often kept crisis replies are looked at (bot/redeliver.py)


class ShardState:
    def __init__(self, shard: int):
        self.shard = shard
        self.stop = threading.Event()      # stop reading (release or lease lost or shutdown)
        self.lost = threading.Event()      # lease lost: do not start any more of its events
        self.inflight = 0
        self.entries: set[str] = set()    # in this process right now (never submitted twice)
        self.cond = threading.Condition()
        self.taken_over = False            # its own and others' pending entries replayed first
        self.detached = threading.Event()  # no read of its stream is in flight any more


class Worker:
    def __init__(self, config: Config, r: redis.Redis | None = None, line: LineClient | None = None,
                 *, worker_id: str | None = None):
        config.require("access_token", "redis_url", "secret_key")
        self.cfg = config
        pool_size = config.send_threads + config.shards + 16
        self.r = r if r is not None else connect(config.redis_url, max_connections=pool_size)
        self.line = line or LineClient(config)
        self.processor = Processor(config, self.r, self.line)
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.pool = ThreadPoolExecutor(max_workers=config.send_threads, thread_name_prefix="mado-send")
        self.queues: dict[str, collections.deque] = {}
        self.qlock = threading.Lock()
        self.shards: dict[int, ShardState] = {}
        self.stopping = threading.Event()
        self.renew = self.r.register_script(RENEW_LUA)
        self.release_script = self.r.register_script(RELEASE_LUA)
        self.stats = collections.Counter()
        self._other_counts: set[int] = set()   # shard counts of live workers that differ from ours
        self.alerts = None
        self._last_sweep = 0.0
        self._acks: collections.deque = collections.deque()
        self._acks_cond = threading.Condition()
        self._acks_done = False
        self._ack_thread = threading.Thread(target=self._ack_loop, name="mado-ack", daemon=True)
        # One reader for all of this process's shards (one XREADGROUP over their streams), unless
        # Redis is a cluster: there each shard's stream has a slot of its own, and a reader each.
        self.one_reader = not is_cluster(self.r)
        self._reader: threading.Thread | None = None
        self._shards_changed = threading.Event()
        # On a plain Redis the people ready for their next entry go to one stepper thread, which
        # reads, decides and writes for all of them at once (two round trips in all), then hands
        # each one's sending to the pool; elsewhere each person's entries run on a pool thread.
        self.batched = is_plain(self.r)
        self._step_ready: collections.deque[str] = collections.deque()
        self._step_cond = threading.Condition()
        self._step_done = False
        self._stepper = threading.Thread(target=self._step_loop, name="mado-step", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def run(self, *, freeze_heap: bool = False) -> None:
        """Work until asked to stop. `freeze_heap` (the worker process's own worker, not one run
        inside another program such as the tests): after the warm-up, start-up's ~200k objects
        (dictionary, patterns, machines, the SDK's models), which live as long as the process,
        are left out of the collector's full passes (~0.1 s each)."""
        flows.warm_up()       # before taking any lease: the first event must not be the slow one
        if freeze_heap:
            gc.collect()
            gc.freeze()
        self._ack_thread.start()
        if self.batched:
            self._stepper.start()
        logs.emit("worker", result="started", worker=self.id, shards=self.cfg.shards)
        beat = min(1.0, self.cfg.lease_ms / 3000.0)   # also how soon freed shards are picked up
        if self.cfg.alert_webhook_url:
            threading.Thread(target=self._alert_loop, name="mado-alerts", daemon=True).start()
        threading.Thread(target=self._redeliver_loop, name="mado-redeliver", daemon=True).start()
        while not self.stopping.is_set():
            try:
                self.heartbeat()
                self._sweep()
                self._flush_line_counts()
            except redis.RedisError as exc:
                logs.emit("worker", result="redis_error", error=type(exc).__name__)
            self.stopping.wait(beat)
        self.shutdown()

    def _alert_loop(self) -> None:
        from handoff.alerts import AlertSender

        while not self.stopping.is_set():
            try:
                if self.alerts is None:
                    self.alerts = AlertSender(self.r, self.cfg.alert_webhook_url, self.id)
                self.alerts.run_once(block_ms=500)
            except redis.RedisError as exc:
                logs.emit("alerts", result="redis_error", error=type(exc).__name__)
                self.stopping.wait(1.0)

    def _redeliver_loop(self) -> None:
        """Crisis replies LINE did not take, pushed once it answers again (bot/redeliver.py): a
        thread of its own, so a LINE still down never holds up the heartbeat."""
        redeliverer = redeliver.Redeliverer(self.r, self.line)
        while not self.stopping.is_set():
            try:
                redeliverer.run_once()
            except redis.RedisError as exc:
                logs.emit("crisis_reply", result="redis_error", error=type(exc).__name__)
            except Exception as exc:        # (a bug): logged, tried again on the next round
                logs.emit("crisis_reply", level=40, result="error", error=type(exc).__name__)
            self.stopping.wait(REDELIVER_EVERY_S)

    def _flush_line_counts(self) -> None:
        """LINE calls by kind into the shared anonymous counters (for /metrics: push costs money)."""
        last = getattr(self, "_flushed", {})
        deltas = {k: v - last.get(k, 0) for k, v in self.line.counts.items() if v - last.get(k, 0)}
        if deltas:
            pipe = self.r.pipeline(transaction=False)
            for k, d in deltas.items():
                pipe.hincrby(STATS, f"line_{k}", d)
            pipe.execute()
            self._flushed = dict(self.line.counts)

    def _sweep(self) -> None:
        """Waiting people get a kind notice after MADO_HANDOFF_NOTICE_S (one worker does it)."""
        if time.time() - self._last_sweep < min(5.0, self.cfg.handoff_notice_s / 2):
            return
        self._last_sweep = time.time()
        from handoff.alerts import sweep_waiting

        told = sweep_waiting(self.processor.handoffs, self.cfg.handoff_notice_s, self.id)
        if told:
            logs.emit("handoff", result="wait_notice", count=told)

    def request_stop(self, *_args) -> None:
        self.stopping.set()

    def shutdown(self) -> None:
        """Finish what is in hand, give the shards back, and leave."""
        self.stopping.set()
        for st in list(self.shards.values()):
            st.stop.set()
        for st in list(self.shards.values()):
            st.detached.wait(timeout=5)
        for st in list(self.shards.values()):
            self._wait_idle(st)
        with self._step_cond:
            self._step_done = True
            self._step_cond.notify()
        if self._stepper.is_alive():
            self._stepper.join(timeout=15)
        self.pool.shutdown(wait=True)
        with self._acks_cond:
            self._acks_done = True
            self._acks_cond.notify()
        if self._ack_thread.is_alive():
            self._ack_thread.join(timeout=10)
        for shard in list(self.shards):
            self._release(shard)
        try:
            self._flush_line_counts()
            self.r.zrem(keys.WORKERS, self.id)
            self.r.hdel(keys.WORKER_SHARDS, self.id)
        except redis.RedisError:
            pass
        logs.emit("worker", result="stopped", worker=self.id, count=self.stats["done"])

    # -- leases -----------------------------------------------------------------------------
    def heartbeat(self) -> None:
        now = time.time()
        ttl_s = self.cfg.lease_ms / 1000.0
        pipe = self.r.pipeline(transaction=True)      # (one slot: {workers})
        pipe.zadd(keys.WORKERS, {self.id: now})
        pipe.hset(keys.WORKER_SHARDS, self.id, self.cfg.shards)
        pipe.zremrangebyscore(keys.WORKERS, 0, now - 2 * ttl_s)
        pipe.zrange(keys.WORKERS, 0, -1)
        pipe.hgetall(keys.WORKER_SHARDS)
        *_, live, counts = pipe.execute()
        gone = [w for w in counts if w not in live]   # (a worker back from the dead between these
        if gone:                                       # two steps re-says its count at its next beat)
            self.r.hdel(keys.WORKER_SHARDS, *gone)
        target = self._fair_share(live, counts)
        for shard, st in list(self.shards.items()):
            if not self.renew(keys=[keys.lease(shard)], args=[self.id, self.cfg.lease_ms]):
                logs.emit("lease", result="lost", shard=shard, worker=self.id)
                st.lost.set()
                st.stop.set()
                self.shards.pop(shard, None)
        if self.stopping.is_set():
            return
        if len(self.shards) < target:
            free = [s for s in range(self.cfg.shards) if s not in self.shards]
            random.shuffle(free)
            for shard in free:
                if len(self.shards) >= target:
                    break
                if self.r.set(keys.lease(shard), self.id, nx=True, px=self.cfg.lease_ms):
                    self._start_shard(shard)
        elif len(self.shards) > target:
            for shard in sorted(self.shards)[target:]:
                st = self.shards[shard]
                if not st.stop.is_set():
                    st.stop.set()
                    threading.Thread(target=self._release, args=(shard,), daemon=True).start()

    def _fair_share(self, live: list[str], counts: dict) -> int:
        """How many shards this worker should hold: its shards shared with the live workers that
        can read all of them, i.e. that run with at least as many (MADO_EVENT_SHARDS).

        Workers should agree on the count, but may not (a change rolled out one by one, a local
        stack pointed at the wrong Redis). One with fewer cannot take the shards past its count,
        so it must not lower the share of one with more: otherwise those shards are given up and
        nobody reads them. This way the workers with the most shards have, together, room for all
        of them, whatever the others hold. (A worker that has not said its count is left out too:
        this one takes more, never less.)"""
        own = self.cfg.shards
        peers = 0
        others = set()
        for worker in live:
            try:
                theirs = int(counts.get(worker) or 0)
            except ValueError:
                theirs = 0
            peers += theirs >= own
            if theirs and theirs != own:
                others.add(theirs)
        if others != self._other_counts:
            self._other_counts = others
            if others:
                logs.emit("lease", level=30, result="shard_counts_differ", worker=self.id, shards=own,
                          other_shards=sorted(others))
        return math.ceil(own / max(1, peers))

    def _start_shard(self, shard: int) -> None:
        st = ShardState(shard)
        self.shards[shard] = st
        if not self.one_reader:
            threading.Thread(target=self._read_loop, args=(lambda: ([], [st]) if st.stop.is_set() else ([st], []),
                                                           st.stop),
                             name=f"mado-shard-{shard}", daemon=True).start()
        elif self._reader is None:
            self._reader = threading.Thread(target=self._read_loop, args=(self._owned, self.stopping),
                                            name="mado-read", daemon=True)
            self._reader.start()
        self._shards_changed.set()
        logs.emit("lease", result="acquired", shard=shard, worker=self.id)

    def _owned(self) -> tuple[list[ShardState], list[ShardState]]:
        """The shards this process reads now, and those it has stopped reading."""
        shards = list(self.shards.values())
        return [st for st in shards if not st.stop.is_set()], [st for st in shards if st.stop.is_set()]

    def _release(self, shard: int) -> None:
        st = self.shards.get(shard)
        if st is None:
            return
        st.stop.set()
        st.detached.wait(timeout=5)
        self._wait_idle(st)
        self.shards.pop(shard, None)
        try:
            self.release_script(keys=[keys.lease(shard)], args=[self.id])
        except redis.RedisError:
            pass   # it expires by itself
        logs.emit("lease", result="released", shard=shard, worker=self.id)

    @staticmethod
    def _wait_idle(st: ShardState, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        with st.cond:
            while st.inflight > 0 and time.time() < deadline:
                st.cond.wait(0.1)

    # -- reading ----------------------------------------------------------------------------
    def _ensure_group(self, stream: str) -> None:
        try:
            self.r.xgroup_create(stream, keys.GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read_loop(self, owned, done: threading.Event) -> None:
        """Read new entries of the streams of `owned()` (the shards to read, the shards stopped)
        and hand them to the per-person queues, until `done`.

        One XREADGROUP for all the streams: under load it brings several entries at once (after
        READ_GATHER_S), so reading costs little per event. A shard just acquired first has its
        pending entries replayed (`_take_over`); a shard stopped is marked detached once no read
        of it is in flight, and only then handed back (`_release`)."""
        reading: list[ShardState] = []
        try:
            while not done.is_set():
                try:
                    reading, stopped = owned()
                    for st in stopped:
                        st.detached.set()
                    for st in reading:
                        if not st.taken_over:
                            stream = keys.stream(st.shard)
                            self._ensure_group(stream)
                            self._take_over(st, stream)
                            st.taken_over = True
                    # (a shard with too much in hand is left unread until some of it is done)
                    ready = {keys.stream(st.shard): st for st in reading
                             if st.inflight < MAX_INFLIGHT_PER_SHARD and not st.stop.is_set()}
                    if not ready:
                        self._shards_changed.clear()
                        self._shards_changed.wait(0.05)
                        continue
                    asked = time.monotonic()
                    resp = self._read_new(list(ready))
                    if not resp:
                        if time.monotonic() - asked < 0.02:
                            done.wait(0.05)      # a server that does not block (embedded): don't spin
                        continue
                    for name, entries in resp:
                        st = ready[name]
                        for entry_id, fields in entries:
                            self._submit(st, entry_id, fields)
                    done.wait(READ_GATHER_S)
                except Exception as exc:  # Redis away, or worse: keep reading, try again
                    logs.emit("read", result="error", error=type(exc).__name__)
                    # A read whose answer was lost may have delivered entries to this consumer
                    # (pending now, never seen here), or the group may be gone: replay and
                    # re-create first (what is already in hand is not submitted twice).
                    for st in reading:
                        st.taken_over = False
                    done.wait(1.0)
        finally:
            for group in owned():
                for st in group:
                    st.detached.set()

    def _read_new(self, streams: list[str]) -> list:
        """XREADGROUP of the entries new to the group on `streams` (blocking up to READ_BLOCK_MS):
        [(stream, [(entry id, fields or None), ...]), ...]. Raw on a plain Redis (`trip`:
        the fields paired here), through redis-py elsewhere."""
        if not self.batched:
            return self.r.xreadgroup(keys.GROUP, self.id, dict.fromkeys(streams, ">"), count=READ_COUNT,
                                     block=READ_BLOCK_MS) or []
        reply, = trip(self.r, [("XREADGROUP", "GROUP", keys.GROUP, self.id, "COUNT", READ_COUNT,
                                "BLOCK", READ_BLOCK_MS, "STREAMS", *streams, *([">"] * len(streams)))])
        streams = reply.items() if isinstance(reply, dict) else reply or ()   # (RESP3: a map)
        return [(name, [(entry_id, as_dict(fields) if fields else None) for entry_id, fields in entries])
                for name, entries in streams]

    def _take_over(self, st: ShardState, stream: str) -> None:
        """Claim what others left pending on this shard, then replay our own pending, in order."""
        cursor = "0-0"
        while True:
            # (redis-py's xautoclaim(justid=True) drops the cursor; the raw reply keeps it)
            res = self.r.execute_command("XAUTOCLAIM", stream, keys.GROUP, self.id, 0, cursor,
                                         "COUNT", 500, "JUSTID")
            cursor = res[0]
            if cursor in ("0-0", b"0-0"):
                break
        last = "0"
        while not st.stop.is_set():
            resp = self.r.xreadgroup(keys.GROUP, self.id, {stream: last}, count=500)
            entries = resp[0][1] if resp else []
            if not entries:
                break
            for entry_id, fields in entries:
                self._submit(st, entry_id, fields)
                last = entry_id

    # -- per-person queues ------------------------------------------------------------------
    def _submit(self, st: ShardState, entry_id: str, fields: dict | None) -> None:
        with st.cond:
            if entry_id in st.entries:
                return
            st.entries.add(entry_id)
            st.inflight += 1
        if not fields or "pid" not in fields:
            self._finish(st, entry_id, None, "empty")   # trimmed or malformed: nothing to do
            return
        pid = fields["pid"]
        with self.qlock:
            q = self.queues.get(pid)
            if q is not None:
                q.append((st, entry_id, fields))
                return
            self.queues[pid] = collections.deque([(st, entry_id, fields)])
        self._ready(pid)

    def _ready(self, pid: str) -> None:
        """This person's next entry may start: none of theirs is in hand now. On a plain Redis it
        waits for the stepper; elsewhere it goes to a pool thread at once."""
        if not self.batched:
            self._start(self._take(pid), None)
            return
        with self._step_cond:
            self._step_ready.append(pid)
            if len(self._step_ready) == 1:
                self._step_cond.notify()

    def _step_loop(self) -> None:
        """The stepper (plain Redis): the next entry of each person ready, up to STEP_MAX people
        at a time, is read, decided and written by `Processor.prepare_many` in two round trips
        for all of them; then each goes to a pool thread for its sends (the slow part: LINE) and
        whatever else `_handle` does with it. A person's next entry is ready only when their
        previous one is done (`_next`): one person's events stay strictly in order."""
        quit_by = None
        while True:
            with self._step_cond:
                while not self._step_ready:
                    if self._step_done:
                        # at shutdown: stay while anyone's entries are still in hand (their next
                        # ones come here), for 10 s at most
                        quit_by = quit_by or time.monotonic() + 10.0
                        if not self.queues or time.monotonic() > quit_by:
                            return
                    self._step_cond.wait(0.1 if self._step_done else 1.0)
                pids = [self._step_ready.popleft() for _ in range(min(STEP_MAX, len(self._step_ready)))]
            taken = []
            for pid in pids:
                item = self._take(pid)
                if item[1].lost.is_set():     # not started: left for the shard's new holder
                    self._leave_pending(item[1], item[2])
                    self._next(pid)
                    continue
                taken.append(item)
            try:
                jobs = self.processor.prepare_many([(fields, keys.tries(st.shard), entry_id)
                                                    for _pid, st, entry_id, fields in taken])
            except Exception as exc:          # (a bug): each entry goes the single way, nothing lost
                logs.emit("step", level=40, result="error", error=type(exc).__name__)
                capture("mado step failed", error=type(exc).__name__)
                jobs = [None] * len(taken)
            for item, job in zip(taken, jobs):
                if isinstance(job, Job) and job.nothing_to_send():
                    self._run(item, job)      # (no LINE call: no need for a thread of its own)
                else:
                    self._start(item, job)

    def _take(self, pid: str) -> tuple:
        """This person's next entry, out of their queue: (pid, shard state, entry id, fields)."""
        with self.qlock:
            return (pid, *self.queues[pid].popleft())

    def _start(self, item: tuple, job) -> None:
        """Run the entry on a pool thread (`_run`)."""
        try:
            self.pool.submit(self._run, item, job)
        except RuntimeError:                  # the pool is shut (a stop that timed out): left pending
            self._leave_pending(item[1], item[2])

    def _run(self, item: tuple, job) -> None:
        pid, st, entry_id, fields = item
        try:
            if st.lost.is_set():
                # the shard's new holder does it (its record, if written, tells it what is left)
                self._leave_pending(st, entry_id)
            else:
                self._handle(st, entry_id, fields, first=job)
        finally:
            self._next(pid)

    def _next(self, pid: str) -> None:
        """This person's entry in hand is done: their next one, if any, is ready."""
        with self.qlock:
            if not self.queues[pid]:
                del self.queues[pid]
                return
        self._ready(pid)

    def _handle(self, st: ShardState, entry_id: str, fields: dict, first=None) -> None:
        """Process the entry, retrying what can be retried, until it is done or dead-lettered.
        `first`: what `Processor.prepare_many` left of it (see there), for the first try."""
        started = time.perf_counter()
        last_error = ""                       # (the class of the last failure here, for a dead letter)
        while True:
            counted: list[int] = []
            job, first = first, None
            try:
                if isinstance(job, Exception):
                    raise job
                if job is not None:           # read, decided and written: only its sends left
                    counted.append(job.tries)
                    summary = self.processor.send_prepared(job)
                else:
                    # (the try count is taken in the processor's read step: one round trip)
                    summary = self.processor.process(fields, tries=(keys.tries(st.shard), entry_id, counted))
            except TooManyTries as exc:
                self._dead_letter(st, entry_id, fields, "too_many_tries", exc.tries, last_error)
                return
            except SendFailed as exc:
                # LINE kept failing after our retries: give up loudly, do not block this person.
                self._dead_letter(st, entry_id, fields, f"line_{exc.kind}_{exc.status}",
                                  counted[-1] if counted else 1, type(exc).__name__)
                return
            except redis.RedisError as exc:
                last_error = type(exc).__name__
                if self._redis_away(st, entry_id, exc):
                    return
            except Exception as exc:  # a bug or bad data: retry a few times, then dead-letter
                last_error = type(exc).__name__
                logs.emit("event", result="error", shard=st.shard, error=type(exc).__name__)
                self.stats["errors"] += 1
                if self.stopping.wait(min(2.0, 0.1 * 2 ** (counted[-1] if counted else 1))):
                    self._leave_pending(st, entry_id)
                    return
            else:
                # done: from here on nothing may send the entry round again
                self._finish(st, entry_id, fields, "done")
                result = summary.pop("result", "done")      # (stale, forgotten, …: the processor's)
                lag = int(time.time() * 1000) - int(fields.get("rt") or 0)
                logs.emit("event", result=result, shard=st.shard, tries=counted[-1] if counted else 1,
                          lag_ms=lag, ms=round((time.perf_counter() - started) * 1000, 1), **summary)
                return

    def _redis_away(self, st: ShardState, entry_id: str, exc: Exception) -> bool:
        """Redis did not answer for this entry: wait a second and say to try again (False), or,
        when stopping or the shard is lost, leave the entry pending for later (True)."""
        logs.emit("event", result="redis_error", shard=st.shard, error=type(exc).__name__)
        if self.stopping.wait(1.0) or st.lost.is_set():
            self._leave_pending(st, entry_id)
            return True
        return False

    def _leave_pending(self, st: ShardState, entry_id: str) -> None:
        """This process is done with the entry (acknowledged, or left for the next owner)."""
        with st.cond:
            st.entries.discard(entry_id)
            st.inflight -= 1
            st.cond.notify_all()

    def _finish(self, st: ShardState, entry_id: str, fields: dict | None, result: str) -> None:
        """Done with the entry: it is acknowledged and deleted by the ack thread, together with
        the others finished meanwhile (one round trip for all of them on a plain Redis). Until
        then it stays pending: a crash before that only means a redo, which finds the event's
        record and sends nothing twice (as a crash just before any acknowledgement would)."""
        record = None
        if fields:
            try:
                record = keys.event_record(fields["pid"], event_key(json.loads(fields["ev"])))
            except (ValueError, KeyError, TypeError):
                record = None   # the record expires by itself
        self.stats[result] += 1
        with self._acks_cond:
            self._acks.append((st, entry_id, record))
            if len(self._acks) == 1:
                self._acks_cond.notify()

    def _ack_loop(self) -> None:
        """Acknowledge finished entries in batches, every ACK_EVERY_S at most, until shutdown
        (the last ones too). A Redis error keeps them for the next try; given up only once
        stopping, then they stay pending for whoever holds the shard next (a harmless redo)."""
        while True:
            with self._acks_cond:
                while not self._acks and not self._acks_done:
                    self._acks_cond.wait(1.0)
                if not self._acks:
                    return
                batch = list(self._acks)
                self._acks.clear()
            try:
                self._ack(batch)
            except redis.RedisError as exc:
                logs.emit("ack", result="redis_error", count=len(batch), error=type(exc).__name__)
                if not self.stopping.wait(0.5):
                    with self._acks_cond:
                        self._acks.extendleft(reversed(batch))
                    continue
            for st, entry_id, _record in batch:
                self._leave_pending(st, entry_id)
            if not self._acks_done:
                time.sleep(ACK_EVERY_S)     # let the next ones gather: one trip for several

    def _ack(self, batch: list) -> None:
        """XACK + XDEL + the try counts of a shard's entries (one transaction per shard, on its
        slot), then the events' records: after the acknowledgements, in that order."""
        by_shard: dict[int, list[str]] = collections.defaultdict(list)
        for st, entry_id, _record in batch:
            by_shard[st.shard].append(entry_id)
        records = [record for _st, _entry_id, record in batch if record]
        if not is_plain(self.r):
            for shard, ids in by_shard.items():       # a cluster: each its own steps, per slot
                pipe = self.r.pipeline(transaction=True)
                for command in self._ack_commands(shard, ids):
                    pipe.execute_command(*command)
                pipe.execute()
            if records:
                after = self.r.pipeline(transaction=False)
                for record in records:
                    after.delete(record)
                after.execute(raise_on_error=False)    # (they expire by themselves)
            return
        commands = []
        for shard, ids in by_shard.items():
            commands += [("MULTI",), *self._ack_commands(shard, ids), ("EXEC",)]
        if records:
            commands.append(("DEL", *records))
        trip(self.r, commands, repeatable=True)

    @staticmethod
    def _ack_commands(shard: int, entry_ids: list[str]) -> list[tuple]:
        stream = keys.stream(shard)
        return [("XACK", stream, keys.GROUP, *entry_ids), ("XDEL", stream, *entry_ids),
                ("HDEL", keys.tries(shard), *entry_ids)]

    def _dead_letter(self, st, entry_id, fields, reason, tries, error="") -> None:
        """The entry failed for good: a dead letter of ids and the failure only (`_letter`), kept
        DEAD_LETTER_KEEP_S each; a crisis reply it carried is kept to be pushed later."""
        while True:       # Redis away: try again; stopping or the shard lost: the entry stays pending
            try:
                letter = self._letter(st, entry_id, fields, reason, tries, error)
                now = time.time()
                pipe = self.r.pipeline(transaction=False)       # (one slot: {ev:dlq})
                # each letter is kept DEAD_LETTER_KEEP_S, however many follow it (MINID), and at
                # most DEAD_LETTER_MAX of them; the stream goes when none came for that long
                pipe.xadd(keys.DEAD_LETTERS, letter, minid=str(int((now - DEAD_LETTER_KEEP_S) * 1000)),
                          approximate=False)
                pipe.xtrim(keys.DEAD_LETTERS, maxlen=DEAD_LETTER_MAX, approximate=True)
                pipe.expire(keys.DEAD_LETTERS, DEAD_LETTER_KEEP_S)
                pipe.execute()
                break
            except redis.RedisError as exc:
                if self._redis_away(st, entry_id, exc):
                    return
        logs.emit("event", level=40, result="dead_letter", shard=st.shard, reason=reason,
                  alias=letter.get("alias", ""), kind=letter["kind"], tries=tries, error=error)
        capture("mado event dead-lettered", reason=reason, shard=str(st.shard), kind=letter["kind"])
        self._finish(st, entry_id, fields, "dead_letter")

    def _letter(self, st, entry_id, fields, reason, tries, error) -> dict:
        """What a dead letter keeps: the event's id, the person's pseudonym and alias, its kind,
        the failure (reason, error class, tries) and the time; never the event itself (the
        text, the LINE id, tokens). Someone no longer known (forgotten, say by this very event)
        leaves neither pseudonym nor event id. A crisis reply the event's record still holds
        unsent is kept for `bot/redeliver.py` here, while the record exists."""
        try:
            ev = json.loads(fields.get("ev") or "")
        except ValueError:
            ev = None
        ev = ev if isinstance(ev, dict) else None
        console = fields.get("src") == "console"
        kind = ("console:" if console else "") + str((ev or {}).get("action" if console else "type") or "")
        letter = {"kind": kind[:40] if ev else "unreadable", "reason": reason, "error": error or "",
                  "tries": tries if tries is not None else "", "shard": st.shard, "entry": entry_id,
                  "at": int(time.time())}
        pid = fields.get("pid") or ""
        if not (len(pid) == 64 and all(c in "0123456789abcdef" for c in pid)):
            return letter
        ekey = event_key(ev) if ev else ""
        pipe = self.r.pipeline(transaction=False)           # (one slot: the person's)
        pipe.exists(keys.state(pid))
        if ekey:
            pipe.hgetall(keys.event_record(pid, ekey))
        known, *record = pipe.execute()
        rec = record[0] if record else {}
        if not known:
            return letter
        letter.update(event=ekey, pid=pid, alias=keys.alias(pid))
        if ekey and rec.get("crisis") == "1" and not console:
            batches = json.loads(rec.get("batches") or "[]")
            unsent = [(i, b) for i, b in enumerate(batches) if not rec.get(f"s{i}")]
            if unsent:
                redeliver.keep(self.r, pid, ekey, unsent)
                letter["kept"] = "crisis_reply"
        return letter


def supervise(processes: int) -> int:
    """Run `processes` worker processes (one Python process is bound by its GIL) and keep them up.

    They share the shards through their leases like workers on separate machines would. A child
    that dies is restarted; SIGTERM is passed on and waited for.
    """
    import subprocess
    import sys

    env = dict(os.environ, MADO_WORKER_PROCESSES="1")
    stopping = STOP.event             # set when main()'s first-thing handler sees a SIGTERM
    children: list = []

    def spawn():
        # blocked in the child until its own handler is in place (bot/worker.py's first lines)
        return subprocess.Popen([sys.executable, "-m", "bot.worker"], env=env,
                                preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS))

    def stop():
        # (also from the signal thread, between any two lines here: a second SIGTERM to a child
        # is harmless, and every child gets one once the loop below has ended)
        for c in list(children):
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)

    STOP.on_stop(stop)
    for _ in range(processes):
        if stopping.is_set():
            break
        children.append(spawn())
    restarts = 0
    while not stopping.is_set():
        for i, c in enumerate(children):
            if c.poll() is not None and not stopping.is_set():
                restarts += 1
                logs.emit("worker", level=40, result="child_died", status=c.returncode, count=restarts)
                if stopping.wait(min(30.0, 0.5 * restarts)):
                    break
                children[i] = spawn()
        stopping.wait(0.5)
    stop()                            # every child, also one spawned as the signal came
    codes = [c.wait() for c in children]
    return 0 if all(code == 0 for code in codes) else 1


def _yield_to_web() -> None:
    """On a machine shared with the web process, the webhook's answer goes first: LINE waits
    for it, while a person's reply may wait a few milliseconds longer in the stream. The worker
    runs `MADO_WORKER_NICE` steps below normal CPU priority (default 5; 0 keeps it; the
    supervisor's children inherit it). On a machine of its own it changes nothing."""
    try:
        steps = int(os.environ.get("MADO_WORKER_NICE") or 5)
    except ValueError:
        steps = 5
    if steps > 0 and os.getpriority(os.PRIO_PROCESS, 0) < steps:
        try:
            os.nice(steps)
        except OSError:
            pass


def default_processes(cores: int | None = None) -> int:
    """One process per core but one, at most 4: the web and Redis often share the machine and
    need a core of their own (measured with benchmarks/spine.py on 2 cores: one worker process
    costs less CPU per event than two, and holds the 300 events/s). Set MADO_WORKER_PROCESSES
    on a machine of the worker's own."""
    return max(1, min(4, (cores or os.cpu_count() or 1) - 1))


def main(argv=None) -> int:
    """`python -m bot.worker` (the Procfile's worker line)."""
    from .config import ConfigError

    STOP.catch()                      # first thing (and earlier still when run as a module)
    logs.setup()
    try:
        cfg = Config.from_env().require("access_token", "redis_url", "secret_key")
    except ConfigError as exc:
        print(f"mado worker: {exc}", flush=True)
        return 2
    processes = int(os.environ.get("MADO_WORKER_PROCESSES") or default_processes())
    _yield_to_web()
    if processes > 1:
        return supervise(processes)
    init_sentry(cfg, component="worker")
    worker = Worker(cfg)
    STOP.on_stop(worker.request_stop)  # at once if asked to stop while starting: no shard taken
    worker.run(freeze_heap=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
