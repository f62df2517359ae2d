"""Redis memory per idle person and per closed handoff, on a real redis-server. Prints figures.

Each person goes through the real per-event code (bot.processor.Processor: flows, effects,
outbox, LINE client against the stand-in), as the worker would run it; the worker's own
bookkeeping after an event (deleting the event's record) is done the same way here. The
per-minute rate counter (60 s TTL) is left to expire first, as it would for an idle person.

    python benchmarks/memory.py [--people 10000] [--handoffs 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bot import keys  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.line_client import LineClient  # noqa: E402
from bot.line_standin import StandinLine  # noqa: E402
from bot.processor import Processor  # noqa: E402
from bot.webhook import event_key  # noqa: E402
from handoff.store import HandoffStore  # noqa: E402

from spine import free_port  # noqa: E402

TRAFFIC = tomllib.loads((Path(__file__).parent / "traffic.toml").read_text("utf-8"))


def event(uid: str, n: int, kind: str, arg: str = "") -> dict:
    ev = {"type": kind, "mode": "active", "timestamp": int(time.time() * 1000),
          "source": {"type": "user", "userId": uid}, "replyToken": f"{n:032x}",
          "webhookEventId": f"M{n:025d}", "deliveryContext": {"isRedelivery": False}}
    if kind == "message":
        ev["message"] = {"id": str(n), "type": "text", "text": arg, "quoteToken": "q",
                         "markAsReadToken": f"r{n}"}
    elif kind == "postback":
        ev["postback"] = {"data": arg}
    elif kind == "follow":
        ev["follow"] = {"isUnblocked": False}
    return ev


class Runner:
    def __init__(self, r, cfg):
        self.r = r
        self.cfg = cfg
        self.proc = Processor(cfg, r, LineClient(cfg))
        self.n = 0

    def step(self, uid: str, kind: str, arg: str = "") -> None:
        self.n += 1
        ev = event(uid, self.n, kind, arg)
        pid = keys.pseudonym(self.cfg.secret_key, uid)
        self.proc.process({"pid": pid, "ev": json.dumps(ev, ensure_ascii=False),
                           "rt": str(int(time.time() * 1000)), "rid": "bench"})
        self.r.delete(keys.event_record(pid, event_key(ev)))      # the worker's _finish

    def console(self, uid: str, hid: str, action: str, **extra) -> None:
        """A console event, processed as the worker would (from the person's stream)."""
        self.n += 1
        pid = keys.pseudonym(self.cfg.secret_key, uid)
        ev = {"type": "mado.console", "webhookEventId": f"C{self.n:025d}", "action": action, "hid": hid, **extra}
        self.proc.process({"pid": pid, "ev": json.dumps(ev, ensure_ascii=False), "rt": str(int(time.time() * 1000)),
                           "rid": "bench", "src": "console"})
        self.r.delete(keys.event_record(pid, event_key(ev)))


def used(r) -> int:
    return int(r.info("memory")["used_memory"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--handoffs", type=int, default=1_000)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="mado-mem-")
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", tmp],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    standin = StandinLine("mem-token", auto_issue_tokens=True).start()
    try:
        time.sleep(0.5)
        r = redis.Redis(port=port, decode_responses=True)
        cfg = Config(channel_secret="s", access_token="mem-token", api_base_url=standin.url,
                     redis_url=f"redis://127.0.0.1:{port}/0", secret_key="bench-key", shards=16,
                     person_rate_per_min=10_000)
        run = Runner(r, cfg)
        print(f"redis-server {r.info('server')['redis_version']}; {os.cpu_count()} cores; Python {sys.version.split()[0]}")

        def drop_rate_keys():
            for k in r.scan_iter(match="mado:{u:*}:rate", count=5000):
                r.delete(k)

        base = used(r)
        t0 = time.time()
        for i in range(args.people):
            uid = f"U{i:032x}"
            run.step(uid, "follow")
            for text in TRAFFIC["idle_steps"]:
                run.step(uid, "message", text)
            if i % 200 == 0:
                standin.state.deliveries.clear()
                standin.state.calls.clear()
        drop_rate_keys()
        idle = used(r) - base
        sample = keys.pseudonym(cfg.secret_key, f"U{0:032x}")
        per_key = {k.rsplit(":", 1)[1]: r.memory_usage(k) for k in r.scan_iter(match=f"mado:{{u:{sample}}}:*")}
        print(f"idle people: {args.people} after 4 events each ({time.time() - t0:.0f} s): "
              f"{idle / args.people:.0f} bytes per person (used_memory); MEMORY USAGE of one: {per_key}")
        print(f"  → 100,000 idle people ≈ {idle / args.people * 100_000 / 1e6:.1f} MB")

        store = HandoffStore(r, shards=16)
        before = used(r)
        for i in range(args.handoffs):
            uid = f"UH{i:031x}"
            run.step(uid, "follow")
            for text in TRAFFIC["ask_human"]:
                run.step(uid, "message", text)
            pid = keys.pseudonym(cfg.secret_key, uid)
            hid = json.loads(r.get(keys.state(pid)))["handoff"]
            for j in range(5):
                run.step(uid, "message", TRAFFIC["person_message"].format(j=j))
            store.claim(hid, "bench")
            run.console(uid, hid, "joined")
            for j in range(5):
                text = TRAFFIC["counselor_message"].format(j=j)
                store.append(pid, hid, {"from": "counselor", "kind": "text", "text": text,
                                        "at": int(time.time() * 1000), "by": "bench"})
                run.console(uid, hid, "message", text=text)
            store.close(hid, "bench", "bench")
            run.console(uid, hid, "closed")
            if i % 100 == 0:
                standin.state.deliveries.clear()
                standin.state.calls.clear()
        drop_rate_keys()
        for k in r.scan_iter(match="mado:{ev:*}", count=1000):    # console events the worker would ack
            if r.type(k) == "stream":
                r.delete(k)
        closed = used(r) - before
        print(f"closed handoffs: {args.handoffs}, each 5 + 5 messages, person then idle: "
              f"{closed / args.handoffs:.0f} bytes per closed handoff incl. that person's idle state "
              f"(transcript kept {cfg.transcript_ttl_s // 86400} days)")
    finally:
        standin.stop()
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
