"""Where one event's CPU goes, part by part: prints figures, asserts nothing.

Each part runs alone in this one process, one call after another (no threads, no waiting for
anything but the real redis-server and the LINE stand-in it starts), and is timed in CPU time
(time.process_time), so the figures hold on a busy machine better than a load test's:

- the webhook: one signed text event through the WSGI app exactly as gunicorn calls it
  (signature, parse, the enqueue script on Redis, the JSON log line);
- the conversation: `flows.handle` on a typed message (analysis, crisis, understanding);
- the worker's whole step: `Processor.process` on that event (read, flow, write, the reply to LINE),
  and the same for ten people at once as the worker's stepper does it (`Processor.prepare_many`:
  one read and one write for all ten, then each one's reply: `send_prepared`);
- its parts: the LINE reply through line-bot-sdk, the same POST through urllib3 alone and through
  http.client alone (what the SDK and the pool cost), a Redis GET and an 8-command transaction.

    python benchmarks/parts.py [--n 1500]
"""
from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import hmac
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._machine import describe  # noqa: E402

SECRET, TOKEN = "parts-channel-secret", "parts-access-token"
TRAFFIC = tomllib.loads((Path(__file__).parent / "traffic.toml").read_text("utf-8"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_us(fn, n: int) -> float:
    """CPU µs per call of fn (after a short warm-up)."""
    for _ in range(min(50, n)):
        fn()
    started = time.process_time()
    for _ in range(n):
        fn()
    return 1e6 * (time.process_time() - started) / n


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1500, help="calls per part")
    args = ap.parse_args(argv)
    n = args.n

    redis_port, line_port, data = free_port(), free_port(), tempfile.mkdtemp()
    procs = [subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no",
                               "--dir", data], stdout=subprocess.DEVNULL),
             subprocess.Popen([sys.executable, "-m", "bot.line_standin", "--port", str(line_port), "--token", TOKEN,
                               "--auto-issue-tokens"], cwd=ROOT, stdout=subprocess.DEVNULL)]
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "LINE_CHANNEL_SECRET": SECRET,
           "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": f"http://127.0.0.1:{line_port}",
           "MADO_SECRET_KEY": "parts-secret-key", "MADO_HOURS": "always"}
    try:
        import redis
        import urllib3

        import flows
        from bot import create_app, keys, logs
        from bot.config import Config
        from bot.line_client import LineClient
        from bot.processor import Processor

        r = redis.Redis(port=redis_port, decode_responses=True)
        deadline = time.time() + 20
        while True:
            try:
                r.ping()
                urllib3.PoolManager().request("GET", f"http://127.0.0.1:{line_port}/_standin/calls")
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        cfg = Config.from_env(env)
        logs.setup()
        logs.log.handlers[0].stream = io.StringIO()        # the log lines are written, not shown
        texts = TRAFFIC["chat"] + [a for k, a in TRAFFIC["browse"] if k == "message"]
        print(f"machine: {describe()}, redis-server {r.info('server')['redis_version']}; "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} before the run; {n} calls per part")

        def event(i: int) -> dict:
            user = "U%032x" % (i % 400)
            return {"type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
                    "webhookEventId": uuid.uuid4().hex.upper()[:26], "deliveryContext": {"isRedelivery": False},
                    "source": {"type": "user", "userId": user}, "replyToken": uuid.uuid4().hex,
                    "message": {"id": str(i), "type": "text", "quoteToken": "q", "text": texts[(i // 400) % len(texts)]}}

        # the webhook, as gunicorn calls the app
        app = create_app(env).wsgi_app
        bodies = collections.deque()

        def webhook():
            body = json.dumps({"destination": "U0", "events": [event(len(bodies))]}).encode()
            sig = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
            environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/callback", "CONTENT_LENGTH": str(len(body)),
                       "HTTP_X_LINE_SIGNATURE": sig, "wsgi.input": io.BytesIO(body)}
            bodies.append(b"".join(app(environ, lambda status, headers: None)))

        signing = cpu_us(lambda: event(0), n)       # (building and signing a body is the sender's)
        parts = [("webhook (WSGI call: verify, parse, enqueue, log)", cpu_us(webhook, n) - signing)]

        # the conversation, and the worker's whole step
        flows.warm_up()
        typed = [flows.Event("text", text=t) for t in texts]
        parts.append(("flows.handle on a typed message",
                      cpu_us(lambda: flows.handle({"state": "menu", "lane": "family"},
                                                  typed[len(bodies) % len(typed)], time.time()), n)))
        line = LineClient(cfg)
        processor = Processor(cfg, r, line)
        counter = iter(range(10 ** 9))

        def entry() -> dict:
            ev = event(next(counter))
            return {"pid": keys.pseudonym(cfg.secret_key, ev["source"]["userId"]),
                    "ev": json.dumps(ev, ensure_ascii=False), "rt": str(int(time.time() * 1000)), "rid": "parts"}

        making = cpu_us(entry, n)
        parts.append(("Processor.process (read, flow, write, reply to LINE)",
                      cpu_us(lambda: processor.process(entry()), n) - making))
        alone = []

        def step(people: int = 10) -> None:
            entries = [(entry(), "parts:tries", uuid.uuid4().hex) for _ in range(people)]
            for job in processor.prepare_many(entries):
                if job is None:
                    alone.append(1)         # (would have gone the single way: counted, not timed)
                else:
                    processor.send_prepared(job)

        parts.append(("the worker's step: 10 people at once, per person (the same)",
                      cpu_us(step, max(1, n // 10)) / 10 - making))
        if alone:
            print(f"({len(alone)} entries of the step would have gone the single way)")

        # its parts
        prepared = line.messages([{"text": texts[0], "quick": [{"label": "a", "data": "t=a"}]}])
        parts.append(("  LINE reply through line-bot-sdk", cpu_us(lambda: line.reply(uuid.uuid4().hex, prepared), n)))
        body = json.dumps(prepared.request(replyToken="x"), ensure_ascii=False).encode()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        pool = urllib3.PoolManager()
        url = f"http://127.0.0.1:{line_port}/v2/bot/message/reply"
        parts.append(("  the same POST through urllib3 alone",
                      cpu_us(lambda: pool.request("POST", url, body=body, headers=headers), n)))
        conn = http.client.HTTPConnection("127.0.0.1", line_port)

        def plain_post():
            conn.request("POST", "/v2/bot/message/reply", body=body, headers=headers)
            conn.getresponse().read()

        parts.append(("  the same POST through http.client alone", cpu_us(plain_post, n)))
        parts.append(("  Redis GET (redis-py)", cpu_us(lambda: r.get("parts"), n)))

        def transaction():
            pipe = r.pipeline(transaction=True)
            for i in range(8):
                pipe.set(f"parts:{i}", "x" * 200, ex=60)
            pipe.execute()

        parts.append(("  Redis transaction of 8 SETs (redis-py)", cpu_us(transaction, n)))
        for name, us in parts:
            print(f"{name:58} {us:8.0f} µs CPU")
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
