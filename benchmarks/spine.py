"""Benchmark of the LINE spine: prints figures, asserts nothing.

gunicorn (the Procfile's web line) + the worker (`python -m bot.worker`) + a real redis-server +
the LINE stand-in (its own process) answering every call after an injected 100 ms, like LINE.
Signed events are posted open loop (127.0.0.1 only, bounded in count and time) in two workloads:

- `text`: free text from people in every state, a quarter each: new (never wrote before),
  browsing (a lane chosen), waiting for a counselor, talking with one (what they write goes to
  the counselor; the bot stays silent);
- `buttons`: browsing people tapping the menu's buttons (postbacks).

For each workload and rate it prints webhook ack p50/p99, events/s sustained, end-to-end p50/p99
(event posted → the bot's reply call received by the stand-in; silent events excluded), and the
headline: **CPU ms per event of each process** (web, worker, redis, the LINE stand-in and this
load generator), from /proc (utime + stime), between the first post and the last event handled.
CPU time travels between machines better than latency: the machine is printed first.

    python benchmarks/spine.py [--rates 100,200,300] [--seconds 10] [--workloads text,buttons]
                               [--web-workers 1] [--web-threads 8] [--worker-processes N]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import platform
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bot.worker import default_processes  # noqa: E402  (the worker's own default, printed)
SECRET = "bench-channel-secret"
TOKEN = "bench-access-token"
MADO_KEY = "bench-secret-key"
TRAFFIC = tomllib.loads((Path(__file__).parent / "traffic.toml").read_text("utf-8"))
ROLES = ("web", "worker", "redis", "line", "loadgen")


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


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes and all their descendants (Linux /proc)."""
    total, seen, todo = 0.0, set(), list(pids)
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in os.listdir(f"/proc/{pid}/task"):
                todo += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
        except OSError:
            pass
    return total


def own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def machine_line(redis_port: int | None = None) -> str:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis_v = "?"
    if redis_port:
        import redis

        redis_v = redis.Redis(port=redis_port).info("server")["redis_version"]
    try:
        from importlib.metadata import version

        sdk = version("line-bot-sdk")
    except Exception:
        sdk = "?"
    try:
        load = "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = ""
    return (f"machine: {os.cpu_count()} cores ({model or platform.machine()}), {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, redis-server {redis_v}, "
            f"line-bot-sdk {sdk}; {load} before the run (the load generator shares these cores)")


class Stack:
    def __init__(self, latency_ms: float, web_workers: int = 1, web_threads: int = 8,
                 worker_processes: int = 0, extra_env: dict | None = None):
        self.procs: list[subprocess.Popen] = []
        self.tmp = tempfile.mkdtemp(prefix="mado-bench-")
        self.redis_port, self.line_port, self.web_port = free_port(), free_port(), free_port()
        self.redis = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.line = subprocess.Popen(
            [sys.executable, "-m", "bot.line_standin", "--port", str(self.line_port), "--token", TOKEN,
             "--latency-ms", str(latency_ms), "--auto-issue-tokens"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = dict(os.environ, LINE_CHANNEL_SECRET=SECRET, LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
                   LINE_API_BASE_URL=f"http://127.0.0.1:{self.line_port}",
                   REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0", MADO_SECRET_KEY=MADO_KEY,
                   MADO_PERSON_RATE_PER_MIN="1000", MADO_COOKIE_SECURE="0",
                   PORT=str(self.web_port), WEB_CONCURRENCY=str(web_workers), WEB_THREADS=str(web_threads),
                   PYTHONPATH=str(ROOT), **(extra_env or {}))
        env.pop("MADO_WORKER_PROCESSES", None)
        if worker_processes:          # (0: the worker's own default, as the Procfile runs it)
            env["MADO_WORKER_PROCESSES"] = str(worker_processes)
        self.env = env
        log = open(os.path.join(self.tmp, "web.log"), "w")
        # the Procfile's web line, on 127.0.0.1
        web_cmd = procfile_line("web").replace("0.0.0.0:$PORT", f"127.0.0.1:{self.web_port}")
        self.web = subprocess.Popen(["/bin/sh", "-c", "exec " + web_cmd], cwd=ROOT, env=env, stdout=log,
                                    stderr=log)
        wlog = open(os.path.join(self.tmp, "worker.log"), "w")
        self.worker = subprocess.Popen([sys.executable, "-m", "bot.worker"], cwd=ROOT, env=env,
                                       stdout=wlog, stderr=wlog)
        self.procs = [self.redis, self.line, self.web, self.worker]
        self.web_cmd = web_cmd
        wait_http(f"http://127.0.0.1:{self.web_port}/healthz")
        self.wait_shared(worker_processes or default_processes())

    def wait_shared(self, processes: int, timeout_s: float = 120.0) -> None:
        """Until every worker process has started (its warm-up done) and the shards are shared
        out among them, the same way for two heartbeats running: load sent while a late starter
        takes shards over would measure start-up, not the steady state."""
        import redis

        from bot import keys
        from bot.config import Config

        shards = int(self.env.get("MADO_EVENT_SHARDS", Config.shards))
        r = redis.Redis(port=self.redis_port, decode_responses=True)
        deadline, last, same = time.monotonic() + timeout_s, None, 0
        while time.monotonic() < deadline:
            holders = tuple(r.get(keys.lease(s)) for s in range(shards))
            if (r.zcard(keys.WORKERS) >= processes and all(holders)
                    and len(set(holders)) == min(processes, shards)):
                same = same + 1 if holders == last else 1
                if same >= 3:
                    return
            last = holders
            time.sleep(1.0)
        raise RuntimeError("the worker processes did not share out the shards")

    def cpu(self) -> dict[str, float]:
        return {"web": cpu_seconds([self.web.pid]), "worker": cpu_seconds([self.worker.pid]),
                "redis": cpu_seconds([self.redis.pid]), "line": cpu_seconds([self.line.pid]),
                "loadgen": own_cpu()}

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


def procfile_line(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(name)


def make_body(user: str, token: str, n: int, kind: str = "text", arg: str = "hello") -> bytes:
    ev = {"type": "message" if kind == "text" else "postback", "mode": "active",
          "timestamp": int(time.time() * 1000), "source": {"type": "user", "userId": user},
          "replyToken": token, "webhookEventId": f"B{n:025d}", "deliveryContext": {"isRedelivery": False}}
    if kind == "text":
        ev["message"] = {"id": str(n), "type": "text", "text": arg, "quoteToken": "q",
                         "markAsReadToken": f"r{n}"}
    else:
        ev["postback"] = {"data": arg}
    return json.dumps({"destination": "U" + "0" * 32, "events": [ev]}, ensure_ascii=False).encode()


# -- people in every state, stored as the worker stores them ----------------------------------
def seed(redis_port: int, per_cohort: int) -> dict[str, list[str]]:
    """browsing / waiting / talking people (state, LINE id, and their handoffs in the queue)."""
    import redis

    from bot import keys
    from flows import Event, handle
    from handoff.store import HandoffStore

    r = redis.Redis(port=redis_port, decode_responses=True)
    store = HandoffStore(r, shards=16)
    now = time.time()
    ctx = {"on_duty": True, "next_open": "", "queue_position": 1, "wait": ""}
    browsing = handle(handle(None, Event("follow"), now).state, Event("text", text=TRAFFIC["lane"]), now).state
    waiting = browsing
    for text in TRAFFIC["ask_human"]:
        waiting = handle(waiting, Event("text", text=text), now, ctx=ctx).state
    cohorts: dict[str, list[str]] = {"browsing": [], "waiting": [], "talking": []}
    pipe = r.pipeline(transaction=False)
    for cohort in cohorts:
        for i in range(per_cohort):
            uid = f"U{cohort[0]}{i:031x}"
            pid = keys.pseudonym(MADO_KEY, uid)
            state = dict(browsing)
            if cohort != "browsing":
                hid = f"b{cohort[0]}{i:014x}"
                store.create(pid, hid, {"lane": "family", "topics": [], "topic": "", "pref": "", "crisis": ""})
                state = {**waiting, "handoff": hid}
                if cohort == "talking":
                    store.claim(hid, "bench")
                    state = handle(state, Event("counselor", data="joined"), now, ctx=ctx).state
            state["last_seen"] = now
            pipe.set(keys.state(pid), json.dumps(state, ensure_ascii=False), ex=86400)
            pipe.set(keys.line_id(pid), uid, ex=86400)
            cohorts[cohort].append(uid)
        pipe.execute()
    return cohorts


def workload(name: str, total: int, cohorts: dict[str, list[str]], offset: int) -> list[tuple]:
    """(uid, kind, arg, answered) for each event: answered = the bot is expected to reply."""
    texts = TRAFFIC["chat"] + [a for k, a in TRAFFIC["browse"] if k == "message"]
    buttons = [a for k, a in TRAFFIC["browse"] if k == "postback"]
    jobs = []
    for i in range(total):
        n = offset + i
        if name == "buttons":
            people = cohorts["browsing"]
            jobs.append((people[n % len(people)], "postback", buttons[n % len(buttons)], True))
            continue
        cohort = ("new", "browsing", "waiting", "talking")[i % 4]
        if cohort == "new":
            uid = f"UN{n:031x}"
            text = texts[n % len(texts)]
        else:
            people = cohorts[cohort]
            uid = people[(n // 4) % len(people)]
            text = (texts if cohort == "browsing" else TRAFFIC["chat"])[n % len(texts if cohort == "browsing" else TRAFFIC["chat"])]
        jobs.append((uid, "text", text, cohort in ("new", "browsing")))
    return jobs


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


def backlog(r, shards: int = 16) -> int:
    pipe = r.pipeline(transaction=False)
    for s in range(shards):
        pipe.xlen(f"mado:{{ev:{s}}}")
    return sum(pipe.execute())


def run_rate(stack: Stack, name: str, rate: int, seconds: float, cohorts, offset: int) -> dict:
    import redis

    r = redis.Redis(port=stack.redis_port, decode_responses=True)
    total = int(rate * seconds)
    jobs_q: queue.Queue = queue.Queue()
    acks: list[float] = []
    posted: dict[str, float] = {}
    errors = [0]
    lock = threading.Lock()
    jobs = workload(name, total, cohorts, offset)
    bodies = []
    for i, (uid, kind, arg, answered) in enumerate(jobs):
        n = offset + i
        token = f"{n:032x}"
        body = make_body(uid, token, n, kind, arg)
        sig = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        bodies.append((token, body, sig, answered))

    def sender():
        conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=10)
        while True:
            job = jobs_q.get()
            if job is None:
                return
            token, body, sig, answered = job
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
                    if answered:
                        posted[token] = t0
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(32)]
    for t in threads:
        t.start()
    cpu0 = stack.cpu()
    start = time.time()
    for i, job in enumerate(bodies):
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        jobs_q.put(job)
    for _ in threads:
        jobs_q.put(None)
    for t in threads:
        t.join()
    send_end = time.time()
    deadline = time.time() + max(30.0, seconds * 3)
    while backlog(r) and time.time() < deadline:      # every event handled (bounded wait)
        time.sleep(0.05)
    done_at = time.time()
    left = backlog(r)
    cpu1 = stack.cpu()
    handled = len(acks) - left
    got = [d for d in stack.deliveries(start - 1) if d.get("reply_token") in posted]
    e2e = [(d["received_at"] - posted[d["reply_token"]]) * 1000 for d in got]
    cpu_ms = {k: (cpu1[k] - cpu0[k]) * 1000 / max(1, handled) for k in ROLES}
    return {
        "workload": name, "rate": rate, "posted": len(acks), "errors": errors[0], "handled": handled,
        "answered": len(posted), "replied": len(got),
        "ack_p50": pct(acks, 50), "ack_p99": pct(acks, 99),
        "sustained": handled / max(1e-9, done_at - start),
        "e2e_p50": pct(e2e, 50), "e2e_p99": pct(e2e, 99),
        "offered": len(acks) / max(1e-9, send_end - start), "cpu_ms": cpu_ms,
    }


HEADER = (f"{'workload':>8} {'rate/s':>6} {'events':>6} {'ev/s':>6} {'ack p50':>8} {'ack p99':>8} "
          f"{'e2e p50':>8} {'e2e p99':>8} {'replied':>9} | CPU ms/event: {'web':>5} {'worker':>6} "
          f"{'redis':>5} {'mado':>5} {'LINE':>5} {'loadgen':>7}")


def row(res: dict) -> str:
    c = res["cpu_ms"]
    mado = c["web"] + c["worker"] + c["redis"]
    return (f"{res['workload']:>8} {res['rate']:>6} {res['handled']:>6} {res['sustained']:>6.1f} "
            f"{res['ack_p50']:>6.1f}ms {res['ack_p99']:>6.1f}ms {res['e2e_p50']:>6.0f}ms {res['e2e_p99']:>6.0f}ms "
            f"{res['replied']:>4}/{res['answered']:<4} |               {c['web']:>5.2f} {c['worker']:>6.2f} "
            f"{c['redis']:>5.2f} {mado:>5.2f} {c['line']:>5.2f} {c['loadgen']:>7.2f}"
            + (f"  errors={res['errors']}" if res["errors"] else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="100,200,300")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--people", type=int, default=500, help="people in each seeded state")
    ap.add_argument("--workloads", default="text,buttons")
    ap.add_argument("--web-workers", type=int, default=1)
    ap.add_argument("--web-threads", type=int, default=8)
    ap.add_argument("--worker-processes", type=int, default=0,
                    help="0 (default): as the Procfile runs it (MADO_WORKER_PROCESSES unset: the CPUs, at most 4)")
    ap.add_argument("--env", action="append", default=[], help="NAME=value for web and worker (repeatable)")
    args = ap.parse_args(argv)
    extra = dict(e.split("=", 1) for e in args.env)
    stack = Stack(args.latency_ms, args.web_workers, args.web_threads, args.worker_processes, extra)
    try:
        print(machine_line(stack.redis_port))
        print(f"web: {stack.web_cmd} (WEB_CONCURRENCY={args.web_workers}, WEB_THREADS={args.web_threads}); "
              f"worker: {args.worker_processes or default_processes()} process(es); LINE stand-in {args.latency_ms:.0f} ms; "
              f"{args.seconds:.0f} s per rate; 'mado' = web + worker + redis", flush=True)
        cohorts = seed(stack.redis_port, args.people)
        print(HEADER, flush=True)
        offset = 0
        for name in args.workloads.split(","):
            for rate in [int(x) for x in args.rates.split(",")]:
                res = run_rate(stack, name, rate, args.seconds, cohorts, offset)
                offset += int(rate * args.seconds) + 1
                print(row(res), flush=True)
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
