"""Benchmark of the LINE spine: prints figures, asserts nothing.

gunicorn (the Procfile's web line) + one worker process + a real redis-server + the LINE stand-in
(its own process) answering every call after an injected 100 ms, like LINE. Signed text events
are posted at increasing rates (open loop, 127.0.0.1 only, bounded in count and time); for each
rate it prints webhook ack p50/p99, events/s sustained, and end-to-end p50/p99 (event posted →
reply call received by the stand-in).

    python benchmarks/spine.py [--rates 100,200,300,400] [--seconds 10] [--latency-ms 100]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-channel-secret"
TOKEN = "bench-access-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class Stack:
    def __init__(self, latency_ms: float, web_workers: int):
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="mado-bench-")
        self.redis_port, self.line_port, self.web_port = free_port(), free_port(), free_port()
        self.procs.append(subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "bot.line_standin", "--port", str(self.line_port), "--token", TOKEN,
             "--latency-ms", str(latency_ms), "--auto-issue-tokens"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        env = dict(os.environ, LINE_CHANNEL_SECRET=SECRET, LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
                   LINE_API_BASE_URL=f"http://127.0.0.1:{self.line_port}",
                   REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0", MADO_SECRET_KEY="bench-secret-key",
                   PORT=str(self.web_port), WEB_CONCURRENCY=str(web_workers), PYTHONPATH=str(ROOT))
        log = open(os.path.join(self.tmp, "web.log"), "w")
        self.procs.append(subprocess.Popen(
            ["gunicorn", "--bind", f"127.0.0.1:{self.web_port}", "--workers", str(web_workers),
             "--threads", "4", "bot:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=log))
        wlog = open(os.path.join(self.tmp, "worker.log"), "w")
        self.procs.append(subprocess.Popen([sys.executable, "-m", "bot.worker"], cwd=ROOT, env=env,
                                           stdout=wlog, stderr=wlog))
        self.web_pids = [self.procs[2].pid]
        wait_http(f"http://127.0.0.1:{self.web_port}/healthz")
        time.sleep(4.0)   # the worker processes share out the shards

    def deliveries(self, since: float) -> list[dict]:
        url = f"http://127.0.0.1:{self.line_port}/_standin/deliveries?since={since}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.loads(resp.read())["deliveries"]

    def close(self):
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_body(user: str, token: str, n: int) -> bytes:
    ev = {"type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
          "source": {"type": "user", "userId": user}, "replyToken": token,
          "webhookEventId": f"B{n:025d}", "deliveryContext": {"isRedelivery": False},
          "message": {"id": str(n), "type": "text", "text": "hello", "quoteToken": "q"}}
    return json.dumps({"destination": "U" + "0" * 32, "events": [ev]}, ensure_ascii=False).encode()


def replies_to(stack: Stack, posted: dict[str, float], start: float, wait_s: float = 30) -> list[dict]:
    """The reply deliveries for the posted events (by reply token), waiting (bounded) for them."""
    deadline = time.time() + wait_s
    got: list[dict] = []
    while time.time() < deadline:
        got = [d for d in stack.deliveries(start - 1) if d.get("reply_token") in posted]
        if len(got) >= len(posted):
            break
        time.sleep(0.5)
    return got


def run_rate(stack: Stack, rate: int, seconds: float, people: int, offset: int) -> dict:
    total = int(rate * seconds)
    jobs: queue.Queue = queue.Queue()
    acks: list[float] = []
    posted: dict[str, float] = {}
    errors = [0]
    lock = threading.Lock()

    def sender():
        conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=10)
        while True:
            job = jobs.get()
            if job is None:
                return
            token, body = job
            sig = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
            t0 = time.time()
            try:
                conn.request("POST", "/callback", body=body, headers={
                    "Content-Type": "application/json", "X-Line-Signature": sig})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except Exception:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=10)
                ok = False
            t1 = time.time()
            with lock:
                if ok:
                    acks.append((t1 - t0) * 1000)
                    posted[token] = t0
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(32)]
    for t in threads:
        t.start()
    start = time.time()
    bodies = []
    for i in range(total):
        n = offset + i
        token = f"{n:032x}"
        bodies.append((token, make_body(f"U{n % people:032x}", token, n)))
    start = time.time()
    for i, job in enumerate(bodies):
        due = start + i / rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        jobs.put(job)
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join()
    send_end = time.time()
    # wait for the replies to drain (bounded)
    got = replies_to(stack, posted, start)
    e2e = [(d["received_at"] - posted[d["reply_token"]]) * 1000 for d in got]
    last = max((d["received_at"] for d in got), default=send_end)
    return {
        "rate": rate, "posted": len(posted), "errors": errors[0], "replied": len(got),
        "ack_p50": pct(acks, 50), "ack_p99": pct(acks, 99),
        "sustained": len(got) / max(1e-9, last - start),
        "e2e_p50": pct(e2e, 50), "e2e_p99": pct(e2e, 99),
        "offered": len(posted) / max(1e-9, send_end - start),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="100,200,300,400")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--web-workers", type=int, default=2)
    args = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; LINE stand-in latency "
          f"{args.latency_ms:.0f} ms; gunicorn {args.web_workers} workers x 4 threads; 1 worker process")
    stack = Stack(args.latency_ms, args.web_workers)
    try:
        print(f"{'rate/s':>7} {'posted':>7} {'replied':>8} {'ack p50':>8} {'ack p99':>8} "
              f"{'events/s':>9} {'e2e p50':>8} {'e2e p99':>8}")
        offset = 0
        for rate in [int(x) for x in args.rates.split(",")]:
            res = run_rate(stack, rate, args.seconds, args.people, offset)
            offset += int(rate * args.seconds) + 1
            print(f"{rate:>7} {res['posted']:>7} {res['replied']:>8} {res['ack_p50']:>6.1f}ms "
                  f"{res['ack_p99']:>6.1f}ms {res['sustained']:>9.1f} {res['e2e_p50']:>6.0f}ms "
                  f"{res['e2e_p99']:>6.0f}ms" + (f"  errors={res['errors']}" if res["errors"] else ""),
                  flush=True)
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
