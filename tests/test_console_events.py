"""Issue 25: the console hears instead of polling. Incremental transcripts (``?after=<cursor>``,
the newest page first), and the push channel ``GET /console/api/events`` (Server-Sent Events on
the web's event loop, fed from Redis): who may hear what, and a reconnect that loses nothing.
Real redis-server, the real app (the Procfile's web process for the stream)."""
from __future__ import annotations

import json

from bot import keys
from handoff.store import meta_key

from . import helpers
from .test_handoff import Console


def _talking(app, holder="aoi", entries=0):
    """A handoff held by ``holder`` with ``entries`` messages of the person's; (store, pid, hid)."""
    store = app.extensions["mado.handoffs"]
    pid = keys.pseudonym(helpers.MADO_KEY, helpers.new_user_id())
    hid = "h" + pid[:12]
    assert store.create(pid, hid, {"lane": "family"})
    assert store.claim(hid, holder) == 1
    for i in range(entries):
        store.append(pid, hid, {"from": "user", "kind": "text", "text": f"m{i}", "at": 1})
    return store, pid, hid


def test_a_transcript_is_fetched_once_then_only_what_is_new(app, accounts, r):
    store, pid, hid = _talking(app, entries=250)
    aoi = Console(app, "aoi")
    whole = aoi.detail(hid)
    assert [m["text"] for m in whole["messages"]] == [f"m{i}" for i in range(250)]   # as before: all
    assert whole["total"] == 250 and whole["older"] is None
    page = aoi.get(f"/console/api/handoffs/{hid}?limit=100").get_json()
    assert [m["text"] for m in page["messages"]] == [f"m{i}" for i in range(150, 250)]
    assert page["older"] and page["total"] == 250
    older = aoi.get(f"/console/api/handoffs/{hid}?limit=100&before={page['older']}").get_json()
    assert [m["text"] for m in older["messages"]] == [f"m{i}" for i in range(50, 150)]
    oldest = aoi.get(f"/console/api/handoffs/{hid}?limit=100&before={older['older']}").get_json()
    assert [m["text"] for m in oldest["messages"]] == [f"m{i}" for i in range(50)] and oldest["older"] is None
    # nothing new: nothing but the card; then exactly the new ones, whatever the transcript's length
    quiet = aoi.get(f"/console/api/handoffs/{hid}?after={page['cursor']}")
    assert quiet.get_json()["messages"] == [] and quiet.get_json()["cursor"] == page["cursor"]
    store.append(pid, hid, {"from": "user", "kind": "text", "text": "new one", "at": 2})
    new = aoi.get(f"/console/api/handoffs/{hid}?after={page['cursor']}")
    assert [m["text"] for m in new.get_json()["messages"]] == ["new one"] and new.get_json()["total"] == 251
    for _ in range(300):
        store.append(pid, hid, {"from": "user", "kind": "text", "text": "x" * 500, "at": 3})
    later = aoi.get(f"/console/api/handoffs/{hid}?after={len(r.lrange(f'mado:{{u:{pid}}}:ho:{hid}:log', 0, -1))}")
    assert later.get_json()["messages"] == [] and len(later.data) <= len(quiet.data) + 20
    for bad in ("after=-1", "after=x", "limit=0", "limit=501", "after=1&limit=5", "before=1e3"):
        assert aoi.get(f"/console/api/handoffs/{hid}?{bad}").status_code == 400, bad


def test_what_the_person_wrote_before_asking_is_sent_with_the_newest_page(app, accounts, r):
    store, pid, hid = _talking(app)
    store.append(pid, hid, {"from": "user", "kind": "context", "text": "before", "at": 1})
    for i in range(30):
        store.append(pid, hid, {"from": "user", "kind": "text", "text": f"m{i}", "at": 1})
    page = Console(app, "aoi").get(f"/console/api/handoffs/{hid}?limit=5").get_json()
    assert page["context"] == ["before"] and len(page["messages"]) == 5



def test_a_list_delta_is_the_lists_own_summaries_for_those_ids_and_says_which_left(app, accounts, r):
    """``GET /console/api/handoffs?ids=``: what a console asks for when told which handoffs changed.
    The same summaries as the lists, by the lists' own rules (a team's queue), in their order; one
    that left both lists (closed), or is not in this counselor's: ``gone``."""
    from handoff.teams import Teams
    store, _pid, held = _talking(app, "aoi")               # aoi's: in everyone's active list
    queued = []
    for team in ("kochi", "tokyo", ""):
        qpid = keys.pseudonym(helpers.MADO_KEY, helpers.new_user_id())
        qid = "q" + qpid[:12]
        store.create(qpid, qid, {"lane": "family"})
        if team:
            r.hset(meta_key(qid), "team", team)
        queued.append(qid)
    kochi, tokyo, pool = queued
    teams = Teams(r)
    teams.add("kochi", ["高知県"])
    teams.add("tokyo", ["東京都"])
    teams.add_member("kochi", "aoi")
    teams.add_member("tokyo", "ben")
    store.seen_online("ben")                               # tokyo's is ben's to answer, not aoi's
    _s, cpid, closing = _talking(app, "aoi")
    aoi, ben = Console(app, "aoi"), Console(app, "ben")
    ids = [tokyo, closing, held, pool, kochi, "nosuch"]
    for who in (aoi, ben):
        lists = who.waiting() + who.active()
        delta = who.get("/console/api/handoffs?ids=" + ",".join(ids)).get_json()
        assert delta["handoffs"] == [h for h in lists if h["id"] in ids]          # the very same, in order
        assert set(delta["gone"]) == set(ids) - {h["id"] for h in lists}
    assert aoi.get(f"/console/api/handoffs?ids={tokyo}").get_json() == {"handoffs": [], "gone": [tokyo]}
    assert [h["id"] for h in ben.get(f"/console/api/handoffs?ids={tokyo}").get_json()["handoffs"]] == [tokyo]
    assert store.close(closing, "aoi", "aoi") == 1         # it leaves the lists: the console is told
    after = aoi.get(f"/console/api/handoffs?ids={closing},{kochi}").get_json()
    assert [h["id"] for h in after["handoffs"]] == [kochi] and after["gone"] == [closing]
    for bad in ("a,b c", ",".join(["x"] * 101 + [f"y{i}" for i in range(101)]), "<script>"):
        assert aoi.get("/console/api/handoffs?ids=" + bad).status_code == 400
    assert aoi.get("/console/api/handoffs?ids=").get_json() == {"handoffs": [], "gone": []}


# -- the push channel, on the Procfile's web process ------------------------------------------------
import socket  # noqa: E402
import queue  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402

from .conftest import COUNSELOR_PASSWORD  # noqa: E402
from .test_web_process import Web  # noqa: E402

WAIT = 15


@pytest.fixture(scope="module")
def web(redis_server, tmp_path_factory):
    w = Web(redis_server.url, tmp_path_factory.mktemp("events"))
    yield w
    w.stop()


def _login(web, name) -> requests.Session:
    s = requests.Session()
    res = s.post(web.url + "/console/api/login", json={"name": name, "password": COUNSELOR_PASSWORD}, timeout=60)
    assert res.status_code == 200
    return s


class Listener:
    """A console's push channel over a plain socket, read on a thread: each event (id, data) into a
    queue as soon as its bytes arrive (http.client's chunked reader holds a chunk back until the
    next one begins)."""

    def __init__(self, web, session: requests.Session | None, last: str | None = None):
        self.sock = socket.create_connection(("127.0.0.1", web.port), timeout=30)
        head = ["GET /console/api/events HTTP/1.1", f"Host: 127.0.0.1:{web.port}", "Accept: text/event-stream"]
        if session is not None:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in session.cookies.items()))
        if last:
            head.append(f"Last-Event-ID: {last}")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        raw_head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v for k, v in (x.split(": ", 1) for x in lines[1:])}
        self.events: queue.Queue = queue.Queue()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def body(self) -> bytes:
        """The whole body of an answer that is not a stream."""
        while len(self.buf) < int(self.headers["content-length"]):
            self.buf += self.sock.recv(65536)
        return self.buf

    def _read(self):
        data, text = self.buf, b""
        try:
            while True:
                while b"\r\n" in data:                     # chunked: "size\r\n" bytes "\r\n"
                    size_line, rest = data.split(b"\r\n", 1)
                    size = int(size_line, 16)
                    if len(rest) < size + 2:
                        break
                    text, data = text + rest[:size], rest[size + 2:]
                    if size == 0:
                        raise EOFError
                while b"\n\n" in text:
                    frame, text = text.split(b"\n\n", 1)
                    fields = dict(x.split(": ", 1) for x in frame.decode().split("\n") if ": " in x)
                    if "data" in fields:
                        self.events.put((fields.get("id"), json.loads(fields["data"])))
                more = self.sock.recv(65536)
                if not more:
                    break
                data += more
        except Exception:            # (closed by the test: the end of the stream)
            pass
        self.events.put(None)

    def until(self, pred, timeout=WAIT) -> list:
        """Every event up to and including the first for which ``pred(data)`` holds."""
        out, end = [], time.monotonic() + timeout
        while True:
            item = self.events.get(timeout=max(0.01, end - time.monotonic()))
            assert item is not None, f"the stream ended: {out}"
            out.append(item)
            if pred(item[1]):
                return out

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _marker(store, n):
    """A change every console hears of (a canned-reply edit), to know a stream has caught up."""
    store.publish("canned", n=n)
    return lambda d, n=n: d["type"] == "canned"


def test_the_stream_is_for_logged_in_counselors_and_never_names_a_conversation_they_may_not_see(web, app, accounts, r):
    anon = Listener(web, None)
    assert anon.status == 401 and json.loads(anon.body())["code"] == "error.login"     # as the API
    anon.close()
    store, pid, mine = _talking(app, "aoi")                 # aoi's conversation (waiting a moment before)
    sessions = {n: _login(web, n) for n in ("aoi", "ben", "chief")}
    streams = {n: Listener(web, s) for n, s in sessions.items()}
    for n, s in streams.items():
        assert s.status == 200 and s.headers["content-type"].startswith("text/event-stream")
        assert s.headers["cache-control"] == "no-store"
        s.until(lambda d: d["type"] == "reset")             # no Last-Event-ID: ask for everything
    waiting_pid = keys.pseudonym(helpers.MADO_KEY, helpers.new_user_id())
    queued = "q" + waiting_pid[:12]
    store.create(waiting_pid, queued, {"lane": "family"})  # anyone's to choose
    store.append(pid, mine, {"from": "user", "kind": "text", "text": "ひみつ", "at": 1})
    store.typing_once(mine)
    store.make_urgent(mine, "urgent")
    store.mark_seen(store.get(mine), 2)
    done = _marker(store, 1)
    heard = {n: [d for _eid, d in s.until(done)] for n, s in streams.items()}
    for s in streams.values():
        s.close()
    about = {n: {d.get("id") for d in h} - {None} for n, h in heard.items()}
    assert about["aoi"] == about["chief"] == {mine, queued}
    assert about["ben"] == {queued}                          # aoi's: never its id, in no event
    assert {"type": "urgent"} in heard["ben"] and {"type": "queue"} in heard["ben"]   # only "something changed"
    assert not any(d["type"] == "typing" for d in heard["ben"])
    urgent = next(d for d in heard["aoi"] if d["type"] == "urgent")
    assert urgent["alias"] == store.get(mine)["alias"] and urgent["tier"] and urgent["holder"] == "aoi"
    assert {"message", "typing", "read", "urgent"} <= {d["type"] for d in heard["aoi"] if d.get("id") == mine}
    assert "ひみつ" not in json.dumps(heard, ensure_ascii=False)    # a change, never what was written
    # what the stream names, the API opens; what it does not, the API refuses
    for name, ids in about.items():
        for hid in (mine, queued):
            res = sessions[name].get(f"{web.url}/console/api/handoffs/{hid}", timeout=30)
            assert (res.status_code == 200) == (hid in ids), (name, hid, res.status_code)
        sessions[name].close()


def test_a_console_that_reconnects_with_last_event_id_gets_exactly_what_it_missed(web, app, accounts, r):
    session = _login(web, "aoi")
    first = Listener(web, session)
    first.until(lambda d: d["type"] == "reset")
    store, pid, hid = _talking(app, "aoi")
    got = first.until(lambda d: d["type"] == "queue" and d.get("id") == hid)        # (the claim)
    last = got[-1][0]
    first.close()
    for i in range(3):                                   # while it was away
        store.append(pid, hid, {"from": "user", "kind": "text", "text": f"m{i}", "at": 1})
    missed = [eid for eid, _f in r.xrange("mado:{console}:events", "(" + last, "+")]
    again = Listener(web, session, last=last)
    resumed = again.until(_marker(store, 2))
    again.close()
    assert [eid for eid, _d in resumed][:len(missed)] == missed               # in order, none twice
    assert [d["type"] for _eid, d in resumed].count("message") == 3 and all(d["type"] != "reset" for _e, d in resumed)
    assert len({eid for eid, _d in resumed}) == len(resumed)
    # an id older than what the stream still holds (trimmed away), or not an id at all: a reset
    for stale in ("1-0", "nonsense"):
        lost = Listener(web, session, last=stale)
        assert lost.until(lambda d: True)[0][1] == {"type": "reset"}
        lost.close()


def test_presence_ends_with_the_last_console_after_a_grace_not_two_minutes(app, accounts, r):
    store = app.extensions["mado.handoffs"]
    store.seen_online("aoi")
    assert store.statuses(["aoi"]) == {"aoi": "online"}
    store.left_console("aoi", 0)
    assert store.statuses(["aoi"]) == {"aoi": "offline"}
    store.left_console("aoi", 60)                          # never brings back someone gone
    assert store.statuses(["aoi"]) == {"aoi": "offline"}
    store.seen_online("aoi")                               # seen again (a reconnect, polling)
    store.left_console("aoi", 20)
    assert store.statuses(["aoi"]) == {"aoi": "online"}    # for the grace
