"""The human handoff end to end: signed webhooks → worker → queue → console API → LINE stand-in.

Real redis-server, real worker threads, line-bot-sdk talking to the stand-in Messaging API.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot import create_app, keys

from . import helpers
from .conftest import COUNSELOR_PASSWORD

PASSWORD = COUNSELOR_PASSWORD
WAIT = 15


class Console:
    """A counselor's browser, as far as the JSON API goes: session cookie + CSRF header."""

    def __init__(self, app, name, password=PASSWORD):
        self.client = app.test_client()
        self.name = name
        res = self.client.post("/console/api/login", json={"name": name, "password": password},
                               base_url="https://localhost")
        assert res.status_code == 200, res.get_json()
        self.csrf = res.get_json()["csrf_token"]
        self.seen = []        # every body this counselor received, to search for identities

    def get(self, path):
        res = self.client.get(path, base_url="https://localhost")
        self.seen.append(res.get_data(as_text=True))
        return res

    def post(self, path, body=None, csrf=True):
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        res = self.client.post(path, json=body or {}, headers=headers, base_url="https://localhost")
        self.seen.append(res.get_data(as_text=True))
        return res

    def waiting(self):
        return self.get("/console/api/handoffs?status=waiting").get_json()["handoffs"]

    def active(self):
        return self.get("/console/api/handoffs?status=active").get_json()["handoffs"]

    def detail(self, hid):
        return self.get(f"/console/api/handoffs/{hid}").get_json()


class Person:
    """Someone on LINE: sends signed events, reads what arrived on their phone (the stand-in)."""

    def __init__(self, post, standin, r=None):
        self.uid = helpers.new_user_id()
        self.post = post
        self.standin = standin
        self.r = r
        self.last_read_token = None

    def send(self, text=None, *, postback=None, sticker=False, follow=False):
        if follow:
            ev = helpers.follow_event(self.uid)
        elif postback:
            ev = helpers.postback_event(self.uid, "t=" + postback)
        elif sticker:
            ev = helpers.sticker_event(self.uid)
        else:
            ev = helpers.text_event(self.uid, text)
            self.last_read_token = ev["message"]["markAsReadToken"]
        assert self.post(ev).status_code == 200
        return ev

    def inbox(self):
        return self.standin.deliveries(self.uid)

    def texts(self):
        return [t for d in self.inbox() for t in helpers.texts_of(d)]

    def wait_count(self, n, timeout=WAIT):
        got = self.standin.wait_for(lambda s: len(s.deliveries(self.uid)) >= n and s.deliveries(self.uid),
                                    timeout=timeout)
        assert got and len(got) >= n, [helpers.texts_of(d) for d in self.inbox()]
        return got

    def heard(self, words, timeout=WAIT):
        """Waits until something the person got says `words` (not a count: another answer still
        on its way cannot stand in for it); returns that delivery."""
        def said(s):
            return next((d for d in s.deliveries(self.uid) if any(words in t for t in helpers.texts_of(d))), None)
        got = self.standin.wait_for(said, timeout=timeout)
        assert got, self.texts()
        return got

    def say_and_wait(self, text=None, **kw):
        before = len(self.inbox())
        self.send(text, **kw)
        return self.wait_count(before + 1)[before:]

    def says_nothing_to(self, text=None, **kw):
        """Sends, waits until every event is handled (the streams drained: its effects are done, so
        nothing more can come of it) and tells whether nothing arrived: not a fixed wait."""
        before = len(self.inbox())
        self.send(text, **kw)
        assert helpers.settled(self.r), "the event was never handled"
        return len(self.inbox()) == before

    def quiet_for(self, seconds=1.0):
        before = len(self.inbox())
        time.sleep(seconds)
        return len(self.inbox()) == before


def ask_for_human(person, lane="choose_family"):
    person.send(follow=True)
    person.wait_count(1)
    person.say_and_wait(postback=lane)
    person.say_and_wait("人と話したい")
    return person.say_and_wait("はい")


def wait_until(fn, timeout=WAIT):
    end = time.time() + timeout
    while time.time() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    return fn()


def waiting_for_aoi(app, person):
    """Someone asked for a person and aoi sees it waiting: (person, aoi, handoff id)."""
    p = person()
    ask_for_human(p)
    aoi = Console(app, "aoi")
    return p, aoi, wait_until(aoi.waiting)[0]["id"]


def claimed_by_aoi(app, person):
    """Someone asked for a person and aoi took it (they heard so): (person, aoi, ben, handoff id)."""
    p, aoi, hid = waiting_for_aoi(app, person)
    ben = Console(app, "ben")
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    p.wait_count(5)
    return p, aoi, ben, hid


@pytest.fixture
def person(post, standin, r):
    return lambda: Person(post, standin, r)


def test_whole_lifecycle_from_asking_to_talking_and_back_to_the_bot(app, accounts, person, worker, standin, r):
    worker()
    p = person()
    got = ask_for_human(p)
    assert "1番目" in helpers.texts_of(got[0])[0]
    got = p.say_and_wait("息子のことで相談したいです")
    assert "受け取りました" in helpers.texts_of(got[0])[0]      # the first message is acknowledged, once
    assert p.says_nothing_to("もう少し書きます"), "the bot must not chat over a person waiting for a human"

    aoi = Console(app, "aoi")
    waiting = wait_until(aoi.waiting)
    assert len(waiting) == 1
    h = waiting[0]
    assert set(h) >= {"id", "alias", "status", "priority", "topic", "created_at", "claimed_by"}
    assert h["status"] == "waiting" and h["priority"] == "normal" and h["claimed_by"] is None
    assert h["alias"] == keys.alias(keys.pseudonym(helpers.MADO_KEY, p.uid))
    detail = wait_until(lambda: (d := aoi.detail(h["id"]))["messages"] and d)
    assert detail["intake"]["lane"] == "family"
    assert [m["from"] for m in detail["messages"]][:1] == ["user"]
    assert detail["messages"][0]["text"] == "息子のことで相談したいです"

    # claim → the person hears a human joined (with their unused reply token: free)
    assert aoi.post(f"/console/api/handoffs/{h['id']}/claim").status_code == 200
    joined = p.wait_count(6)[-1]
    assert "相談員がつながりました" in helpers.texts_of(joined)[0]
    assert joined["kind"] == "reply"
    ben = Console(app, "ben")
    res = ben.post(f"/console/api/handoffs/{h['id']}/claim")
    assert res.status_code == 409 and res.get_json()["error"]

    # the counselor writes; no fresh token is left → push, with a retry key
    assert aoi.post(f"/console/api/handoffs/{h['id']}/messages", {"text": "こんにちは。相談員です。"}).status_code == 200
    msg = p.wait_count(7)[-1]
    assert helpers.texts_of(msg) == ["こんにちは。相談員です。"] and msg["kind"] == "push" and msg["retry_key"]

    # the person answers within the minute → the counselor's next message uses that reply token
    p.send("ありがとうございます")
    shown = wait_until(lambda: (d := aoi.detail(h["id"]))["messages"][-1]["text"] == "ありがとうございます" and d)
    assert shown["unread"] >= 1
    # on screen: read, and LINE shows it read (既読 only once a human has read it, never on a GET)
    assert aoi.post(f"/console/api/handoffs/{h['id']}/read", {"seen": len(shown["messages"])}).get_json()["unread"] == 0
    assert wait_until(lambda: [c for c in standin.calls("/v2/bot/chat/markAsRead")])
    assert aoi.post(f"/console/api/handoffs/{h['id']}/typing").status_code == 200
    assert wait_until(lambda: standin.calls("/v2/bot/chat/loading/start"))
    aoi.post(f"/console/api/handoffs/{h['id']}/messages", {"text": "どんなことでも大丈夫ですよ。"})
    reply = p.wait_count(8)[-1]
    assert reply["kind"] == "reply" and helpers.texts_of(reply) == ["どんなことでも大丈夫ですよ。"]

    # a stray word the bot knows is for the counselor now, not a menu
    assert p.says_nothing_to("家族")
    assert wait_until(lambda: aoi.detail(h["id"])["messages"][-1]["text"] == "家族")

    # close → back with the bot, gently, with an optional anonymous feedback question
    assert aoi.post(f"/console/api/handoffs/{h['id']}/close").status_code == 200
    closed = p.wait_count(9)[-1]
    texts = helpers.texts_of(closed)
    assert "いったん終わり" in texts[0] and helpers.quick_labels(closed) == ["よかった", "ふつう", "よくなかった"]
    p.say_and_wait(postback="feedback_good")
    assert r.hget("mado:{stats}", "feedback_good") == "1"
    back = p.say_and_wait("家族")
    assert "ご家族のことですね" in helpers.texts_of(back[0])[0]
    assert aoi.detail(h["id"])["status"] == "closed"
    assert [x["id"] for x in aoi.get("/console/api/handoffs?status=closed").get_json()["handoffs"]] == [h["id"]]

    # nobody on the console side ever saw the person's LINE id or pseudonym
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    pages = [aoi.get("/console/").get_data(as_text=True), aoi.get(f"/console/handoffs/{h['id']}").get_data(as_text=True)]
    for body in aoi.seen + ben.seen + pages:
        assert p.uid not in body and pid not in body


def test_an_urgent_handoff_jumps_the_queue_and_a_crisis_while_waiting_makes_it_urgent(app, accounts, person, worker):
    worker()
    first, second, third = person(), person(), person()
    ask_for_human(first)
    ask_for_human(second)
    third.send(follow=True)
    third.wait_count(1)
    got = third.say_and_wait("もう消えたい")
    assert "話してくれて" in helpers.texts_of(got[0])[0]
    got = third.say_and_wait(postback="crisis_human")
    assert "1番目" in helpers.texts_of(got[0])[0]        # urgent: ahead of the two already waiting
    aoi = Console(app, "aoi")
    order = wait_until(lambda: len(q := aoi.waiting()) == 3 and q)
    alias = lambda p: keys.alias(keys.pseudonym(helpers.MADO_KEY, p.uid))   # noqa: E731
    assert [h["alias"] for h in order] == [alias(third), alias(first), alias(second)]
    assert order[0]["priority"] == "urgent" and order[0]["crisis"] == "medium"
    # a crisis word from someone already waiting: answered at once, and they move up
    got = second.say_and_wait("死にたい")
    assert "相談員にも、急いで読むように伝えました" in "".join(helpers.texts_of(got[0]))
    # (both urgent now: the one who has waited longer comes first)
    order = wait_until(lambda: (q := aoi.waiting())[0]["alias"] == alias(second) and q)
    assert [h["alias"] for h in order] == [alias(second), alias(third), alias(first)]
    assert order[0]["priority"] == "urgent" and order[0]["crisis"] == "high"
    *_, wrote, said = wait_until(lambda: aoi.detail(order[0]["id"])["messages"])
    assert wrote["from"] == "user" and wrote["text"] == "死にたい"
    # and what the bot answered them, in words, right after it (issue 27, #4)
    assert said["from"] == "bot" and said["kind"] == "said" and "急いで読むように伝えました" in said["text"]


def test_asking_ones_place_in_line_never_counts_oneself(app, accounts, person, worker):
    """Issue 22, defect 9: 「今何番目ですか」 first in line with nobody else waiting said 2番目 (the
    asker was counted as ahead of themselves)."""
    worker()
    first, second, third = person(), person(), person()

    def place(p):
        got = p.say_and_wait("今何番目ですか")
        return "".join(helpers.texts_of(got[0]))

    ask_for_human(first)
    assert "今、1番目です" in place(first)                # alone in line
    ask_for_human(second)
    assert "今、2番目です" in place(second)               # one earlier person
    assert "今、1番目です" in place(first)                # (not the one who came later)
    third.send(follow=True)
    third.wait_count(1)
    third.say_and_wait("もう消えたい")
    got = third.say_and_wait(postback="crisis_human")
    assert "1番目" in helpers.texts_of(got[0])[0]
    assert "今、1番目です" in place(third)                # urgent: first, and only once
    assert "今、2番目です" in place(first)                # an urgent person ahead counts
    assert "今、3番目です" in place(second)


def test_asking_the_wait_with_the_request_itself_says_where_one_would_stand(app, accounts, person, worker):
    """「相談員と話したい。どれくらい待ちますか」: the confirmation says where they would stand if
    connected now (after those already waiting), and nobody is queued before they say yes."""
    worker()
    first, second = person(), person()
    ask_for_human(first)
    second.send(follow=True)
    second.wait_count(1)
    got = "".join(helpers.texts_of(second.say_and_wait("相談員と話したい。どれくらい待ちますか")[0]))
    assert "つないでもよいですか" in got and "今つなぐと、2番目になります" in got
    aoi = Console(app, "aoi")
    assert len(aoi.waiting()) == 1                      # only asked: not in line yet
    got = "".join(helpers.texts_of(second.say_and_wait("はい")[0]))
    assert "2番目" in got
    # a request without the question: the confirmation alone
    third = person()
    third.send(follow=True)
    third.wait_count(1)
    got = "".join(helpers.texts_of(third.say_and_wait("相談員と話したい")[0]))
    assert "つないでもよいですか" in got and "今つなぐと" not in got


def test_fifty_simultaneous_claims_have_exactly_one_winner(app, accounts, person, worker, r):
    worker()
    p = person()
    ask_for_human(p)
    names = [f"c{i}" for i in range(10)]
    for n in names:
        accounts.add(n, PASSWORD)
    consoles = [Console(app, names[i % 10]) for i in range(50)]
    hid = wait_until(consoles[0].waiting)[0]["id"]
    barrier = threading.Barrier(50)
    codes = []

    def claim(c):
        barrier.wait()
        codes.append(c.post(f"/console/api/handoffs/{hid}/claim").status_code)

    threads = [threading.Thread(target=claim, args=(c,)) for c in consoles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [c for c in codes if c == 200]
    # (a counselor with several tabs may click twice: their second click is "already yours", 200)
    holder = r.hget(f"mado:{{handoff}}:h:{hid}", "claimed_by")
    assert len(codes) == 50 and codes.count(409) == 50 - len(winners)
    assert len(winners) == sum(1 for i in range(50) if names[i % 10] == holder)
    assert r.lrange("mado:{handoff}:pickups", 0, -1).__len__() == 1
    p.wait_count(5)
    assert helpers.settled(r)          # every event handled: nothing more can come
    assert sum("相談員がつながりました" in t for t in p.texts()) == 1


def test_the_console_marks_read_only_what_has_been_on_screen(app, accounts, person, worker, standin):
    worker()
    p, aoi, ben, hid = claimed_by_aoi(app, person)
    p.send("ひとつめ")
    p.send("ふたつめ")
    read = f"/console/api/handoffs/{hid}/read"

    def peek():
        return aoi.get(f"/console/api/handoffs/{hid}?peek=1").get_json()

    # the console's polling (?peek=1) reads nothing by itself
    d = wait_until(lambda: (d := peek())["unread"] == 2 and len(d["messages"]) == 2 and d)
    assert peek()["unread"] == 2
    # the first was on screen, not the second: one stays unread and LINE shows no 既読
    res = aoi.post(read, {"seen": 1})
    assert res.status_code == 200 and res.get_json()["unread"] == 1
    p.send("みっつめ")        # (after any read mark the console caused: the person's events are in order)
    assert wait_until(lambda: len(peek()["messages"]) == 3)
    assert standin.read_tokens() == []
    assert peek()["unread"] == 2
    # all three on screen: read, and 既読 for the newest (which marks the earlier ones too)
    res = aoi.post(read, {"seen": 3})
    assert res.status_code == 200 and res.get_json()["unread"] == 0
    assert wait_until(lambda: standin.read_tokens()) == [p.last_read_token]
    assert aoi.post(read, {"seen": 3}).get_json()["unread"] == 0          # again: nothing more to do
    assert aoi.post(read, {"seen": 99}).get_json()["unread"] == 0         # never past the transcript
    assert aoi.post(read, {"seen": "3"}).status_code == 400
    assert aoi.post(read, {"seen": -1}).status_code == 400
    assert ben.post(read, {"seen": 3}).status_code == 403                 # not ben's conversation


def test_the_same_client_id_twice_is_one_message(app, accounts, person, worker, r):
    from handoff.store import client_id_key, meta_key

    worker()
    p, aoi, hid = waiting_for_aoi(app, person)
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    p.wait_count(5)
    url = f"/console/api/handoffs/{hid}/messages"

    # a double send, then a retry of it: all answered 200, one message
    body = {"text": "一度だけ届くお返事です", "client_id": "3f2a9c1d0e7b4a56"}
    assert [aoi.post(url, body).status_code for _ in range(3)] == [200, 200, 200]
    # the same draft from several tabs at the same moment: still one
    tabs = [Console(app, "aoi") for _ in range(8)]
    barrier = threading.Barrier(len(tabs))
    codes = []

    def send(tab):
        barrier.wait()
        codes.append(tab.post(url, {"text": "同時に送られたお返事です", "client_id": "same-draft_2"}).status_code)

    threads = [threading.Thread(target=send, args=(tab,)) for tab in tabs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert codes == [200] * len(tabs)
    # another draft (a new id) is another message; a message without an id is sent as before
    assert aoi.post(url, {"text": "次のお返事です", "client_id": "draft-3"}).status_code == 200
    assert aoi.post(url, {"text": "最後のお返事です"}).status_code == 200

    # the person's messages come in order: once the last is there, any double would be too
    got = wait_until(lambda: "最後のお返事です" in p.texts() and p.texts())
    sent = ["一度だけ届くお返事です", "同時に送られたお返事です", "次のお返事です", "最後のお返事です"]
    assert got[-4:] == sent and all(got.count(t) == 1 for t in sent)
    assert [m["text"] for m in aoi.detail(hid)["messages"] if m["from"] == "counselor"] == sent
    assert r.hget("mado:{stats}", "counselor_messages") == "4"

    # kept a day under the handoff's own hash tag (one Redis Cluster slot with the handoff)
    key = client_id_key(hid, "3f2a9c1d0e7b4a56")
    assert key.startswith("mado:{handoff}:") and meta_key(hid).startswith("mado:{handoff}:")
    assert 0 < r.ttl(key) <= 86400
    # only short plain ids
    for bad in (5, "", "x" * 65, "a b", "../h:1", ["x"]):
        assert aoi.post(url, {"text": "x", "client_id": bad}).status_code == 400, bad


def test_cancel_while_waiting(app, accounts, person, worker):
    worker()
    p = person()
    ask_for_human(p)
    got = p.say_and_wait("やめる")
    assert "取り消しました" in helpers.texts_of(got[0])[0]
    aoi = Console(app, "aoi")
    assert wait_until(lambda: aoi.waiting() == [])
    closed = aoi.get("/console/api/handoffs?status=closed").get_json()["handoffs"]
    assert len(closed) == 1 and closed[0]["status"] == "closed"


def test_out_of_hours_a_message_is_left_for_the_next_shift(config, accounts, post, standin, worker, r):
    cfg = config.with_overrides(hours="mon-sun 00:00-00:01")
    app = create_app(cfg)
    worker(hours="mon-sun 00:00-00:01")
    from .conftest import Poster

    p = Person(Poster(app.test_client(), standin), standin)
    p.send(follow=True)
    p.wait_count(1)
    p.say_and_wait(postback="choose_family")
    got = p.say_and_wait("人と話したい")              # nobody on duty: said first, before any question
    text = "".join(helpers.texts_of(got[0]))
    if "今日の" not in text and "明日の" not in text:
        pytest.fail(text)
    assert "相談員がいない時間" in text and "0120-279-338" in text
    got = p.say_and_wait("はい")
    assert "メッセージを残してください" in "".join(helpers.texts_of(got[0]))
    got = p.say_and_wait("夜しか書けないので、メッセージを残します")
    assert "受け取りました" in helpers.texts_of(got[0])[0]
    aoi = Console(app, "aoi")
    h = wait_until(aoi.waiting)[0]
    assert h["mode"] == "message"
    assert wait_until(lambda: aoi.detail(h["id"])["messages"])[0]["text"] == "夜しか書けないので、メッセージを残します"


def test_never_on_duty_says_so_honestly(config, accounts, standin, worker):
    app = create_app(config.with_overrides(hours="never"))
    worker(hours="never")
    from .conftest import Poster

    p = Person(Poster(app.test_client(), standin), standin)
    p.send(follow=True)
    p.wait_count(1)
    got = p.say_and_wait("人と話したい")
    assert "予定がありません" in "".join(helpers.texts_of(got[0]))


def test_pause_then_resume_with_the_same_counselor(app, accounts, person, worker):
    worker()
    p, aoi, hid = waiting_for_aoi(app, person)
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    p.wait_count(5)
    got = p.say_and_wait("今日はここまで")
    assert "続きから" in helpers.texts_of(got[0])[0]
    assert wait_until(lambda: aoi.detail(hid)["paused"])
    got = p.say_and_wait("またきました")
    assert "同じ相談員" in helpers.texts_of(got[0])[0]
    wrote = lambda: [m["text"] for m in aoi.detail(hid)["messages"] if m["from"] == "user"]  # noqa: E731
    assert wait_until(lambda: wrote()[-1] == "またきました")
    assert aoi.detail(hid)["claimed_by"] == "aoi" and not aoi.detail(hid)["paused"]


def test_release_puts_it_back_and_transfer_hands_it_over(app, accounts, person, worker):
    worker()
    p, aoi, hid = waiting_for_aoi(app, person)
    ben = Console(app, "ben")
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    assert ben.get(f"/console/api/handoffs/{hid}").status_code == 403     # not ben's to read
    assert ben.post(f"/console/api/handoffs/{hid}/close").status_code == 403
    assert ben.post(f"/console/api/handoffs/{hid}/messages", {"text": "x"}).status_code == 403
    assert aoi.post(f"/console/api/handoffs/{hid}/transfer", {"to": "nobody"}).status_code == 400
    assert aoi.post(f"/console/api/handoffs/{hid}/transfer", {"to": "ben"}).status_code == 200
    assert ben.detail(hid)["claimed_by"] == "ben"
    assert aoi.get(f"/console/api/handoffs/{hid}").status_code == 403
    assert ben.post(f"/console/api/handoffs/{hid}/release").status_code == 200
    assert [h["id"] for h in aoi.waiting()] == [hid]
    got = p.wait_count(6)
    assert "交代します" in helpers.texts_of(got[-1])[0]
    chief = Console(app, "chief")
    assert chief.get(f"/console/api/handoffs/{hid}").status_code == 200


def test_the_counselor_sees_when_the_person_left_and_nothing_of_theirs_remains(app, accounts, person, worker, r):
    worker()
    p = person()
    ask_for_human(p)
    assert "受け取りました" in helpers.texts_of(p.say_and_wait("すこし話したいです")[0])[0]
    aoi = Console(app, "aoi")
    hid = wait_until(aoi.waiting)[0]["id"]
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    p.heard("相談員がつながりました")     # (with the acknowledgement above, 6 answers: count no more)
    p.say_and_wait("記録を消して")
    p.say_and_wait(postback="forget_yes")
    d = wait_until(lambda: (d := aoi.detail(hid))["left"] and d)
    assert d["status"] == "closed" and d["messages"] == []
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    assert wait_until(lambda: list(r.scan_iter(match=keys.user_pattern(pid))) == [])
    assert "pid" not in r.hgetall(f"mado:{{handoff}}:h:{hid}")
    assert aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "x"}).status_code == 409


def test_a_stale_reply_token_is_not_used(config, accounts, standin, worker):
    app = create_app(config.with_overrides(reply_fresh_s=0.5))
    worker(reply_fresh_s=0.5)
    from .conftest import Poster

    p = Person(Poster(app.test_client(), standin), standin)
    ask_for_human(p)
    aoi = Console(app, "aoi")
    hid = wait_until(aoi.waiting)[0]["id"]
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    p.wait_count(5)
    p.send("こんばんは")
    wait_until(lambda: len(aoi.detail(hid)["messages"]) == 1)
    time.sleep(0.8)
    aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "お返事です"})
    got = p.wait_count(6)[-1]
    assert got["kind"] == "push" and helpers.texts_of(got) == ["お返事です"]


class Sink(BaseHTTPRequestHandler):
    fail_first = 2
    received: list = []
    attempts = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).attempts += 1
        if type(self).attempts <= type(self).fail_first:
            self.send_response(503)
            self.end_headers()
            return
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def test_alerts_reach_the_outgoing_webhook_retried_and_without_personal_data(config, accounts, standin, worker):
    Sink.received, Sink.attempts = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        app = create_app(config)
        worker(alert_webhook_url=url)
        from .conftest import Poster

        p = Person(Poster(app.test_client(), standin), standin)
        p.send(follow=True)
        p.wait_count(1)
        p.say_and_wait("死にたい")
        p.say_and_wait(postback="crisis_human")
        assert wait_until(lambda: Sink.received, timeout=20)
        assert Sink.attempts >= 3              # two failures, then delivered
        text = Sink.received[0]["text"]
        assert "急ぎ" in text
        pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
        assert p.uid not in text and pid not in text and keys.alias(pid) not in text
    finally:
        server.shutdown()
        server.server_close()


def test_a_long_wait_gets_one_kind_notice_with_choices(config, accounts, standin, worker):
    app = create_app(config)
    worker(handoff_notice_s=1)
    from .conftest import Poster

    p = Person(Poster(app.test_client(), standin), standin)
    ask_for_human(p)
    got = p.wait_count(5, timeout=20)[-1]
    assert "お待たせしていて" in helpers.texts_of(got)[0]
    assert helpers.quick_labels(got) == ["このまま待つ", "メッセージを残す", "やめる"]
    assert p.quiet_for(2.5)                 # once, not every few seconds
    got = p.say_and_wait(postback="leave_message")
    assert "メッセージを残して" in helpers.texts_of(got[0])[0]


def test_someone_far_back_hears_once_when_they_are_next(app, accounts, person, worker):
    worker()
    people = [person() for _ in range(3)]
    for p in people:
        ask_for_human(p)
    last = people[-1]
    assert "3番目" in helpers.texts_of(last.inbox()[-1])[0]
    aoi = Console(app, "aoi")
    queue = wait_until(lambda: len(q := aoi.waiting()) == 3 and q)
    aoi.post(f"/console/api/handoffs/{queue[0]['id']}/claim")
    assert last.quiet_for(1.0)                     # second in line now: nothing to say yet
    aoi.post(f"/console/api/handoffs/{queue[1]['id']}/claim")
    got = last.wait_count(5, timeout=20)[-1]
    assert "次があなたの番です" in helpers.texts_of(got)[0]
    assert last.quiet_for(6.0)                     # once


def test_a_risk_message_in_a_handoff_says_why_and_moves_urgent_at_each_time(app, accounts, person, worker):
    worker()
    p, aoi, hid = waiting_for_aoi(app, person)
    h = aoi.waiting()[0]
    assert h["urgent_reason"] is None and h["urgent_at"] is None
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    p.wait_count(5)
    p.say_and_wait("今から薬を全部飲む")
    d = wait_until(lambda: (d := aoi.detail(hid))["priority"] == "urgent" and d)
    assert d["urgent_reason"] == "計画・手段・別れのことば" and d["crisis"] == "urgent"
    first_at = d["urgent_at"]
    assert isinstance(first_at, int) and first_at > 0
    assert [x for x in aoi.active() if x["id"] == hid][0]["urgent_reason"] == "計画・手段・別れのことば"
    # a milder risk message later: the console is alerted again (urgent_at moves), the graver tier stays
    p.say_and_wait("もう消えたい")
    d = wait_until(lambda: (d := aoi.detail(hid))["urgent_at"] > first_at and d)
    assert d["urgent_reason"] == "計画・手段・別れのことば"
    p.say_and_wait("薬を全部飲んだ")
    d = wait_until(lambda: (d := aoi.detail(hid))["crisis"] == "medical" and d)
    assert d["urgent_reason"] == "薬・けが（119を案内済み）"


def test_awaiting_reply_since_and_the_persons_state(app, accounts, person, worker):
    worker()
    p, aoi, hid = waiting_for_aoi(app, person)
    h = aoi.waiting()[0]
    assert h["person_state"] == "waiting" and h["awaiting_reply_since"] is None
    before = int(time.time() * 1000)
    p.send("まだかな")
    d = wait_until(lambda: (d := aoi.detail(hid))["awaiting_reply_since"] and d)
    since = d["awaiting_reply_since"]
    assert isinstance(since, int) and before - 5000 <= since <= int(time.time() * 1000)
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    p.heard("相談員がつながりました")     # (the acknowledgement of まだかな may be the fifth answer)
    d = aoi.detail(hid)
    assert d["person_state"] == "talking" and d["awaiting_reply_since"] == since
    p.send("もうひとつ")              # still the oldest unanswered one
    # (ready when it has reached the transcript: counting messages was already true before it, and on a
    # busy host the counselor's answer below could land first, the relay then reopening the wait)
    assert wait_until(lambda: any(m.get("text") == "もうひとつ" for m in aoi.detail(hid)["messages"]))
    assert aoi.detail(hid)["awaiting_reply_since"] == since
    assert [x for x in aoi.active() if x["id"] == hid][0]["awaiting_reply_since"] == since
    assert aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "読みました。"}).status_code == 200
    assert aoi.detail(hid)["awaiting_reply_since"] is None
    p.send("ありがとう")
    d = wait_until(lambda: (d := aoi.detail(hid))["awaiting_reply_since"] and d)
    assert d["awaiting_reply_since"] > since
    p.say_and_wait("今日はここまで")
    assert wait_until(lambda: aoi.detail(hid)["person_state"] == "paused")
    assert aoi.post(f"/console/api/handoffs/{hid}/close").status_code == 200
    d = aoi.detail(hid)
    assert d["person_state"] == "ended" and d["awaiting_reply_since"] is None   # closed, not left (27, #16)


def test_statistics_count_people_in_crisis_and_only_counselor_messages_as_their_sends(app, accounts, person, worker):
    worker()
    p1, p2 = person(), person()
    p1.send(follow=True)
    p1.wait_count(1)
    p1.say_and_wait("もう死にたい")
    p1.say_and_wait("死にたい")
    ask_for_human(p2)
    aoi, chief = Console(app, "aoi"), Console(app, "chief")
    hid = wait_until(aoi.waiting)[0]["id"]
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    p2.wait_count(5)
    aoi.post(f"/console/api/handoffs/{hid}/messages", {"text": "相談員です。"})
    aoi.post(f"/console/api/handoffs/{hid}/close")
    p2.wait_count(7)

    def stats():
        s = chief.get("/console/api/stats").get_json()
        t = s["totals"]
        return s if t["counselor_reply"] + t["counselor_push"] == 1 else None

    s = wait_until(stats)
    assert s, chief.get("/console/api/stats").get_json()
    t = s["totals"]
    assert t["counselor_messages"] == 1                 # the bot's notices (joined, closed) are not counted
    assert t["conversations"] == 2 and t["crisis"] == 2 and t["crisis_people"] == 1
    assert s["crisis_share"] == 0.5
    assert not [k for k in t if k.startswith("line_")]
    assert all(not k.startswith("line_") for day in s["days"].values() for k in day)


def test_a_handoff_cancelled_before_anyone_took_it_stays_readable_and_says_why(app, accounts, person, worker):
    worker()
    p, aoi, hid = waiting_for_aoi(app, person)
    p.say_and_wait("やめる")
    d = wait_until(lambda: (d := aoi.detail(hid))["status"] == "closed" and d)
    assert d["closed_reason"] == "cancelled" and d["person_state"] == "cancelled"


def test_a_transfer_with_a_note_leaves_a_line_the_person_never_sees(app, accounts, person, worker):
    worker()
    p, aoi, ben, hid = claimed_by_aoi(app, person)
    url = f"/console/api/handoffs/{hid}/transfer"
    assert aoi.post(url, {"to": "ben", "note": 5}).status_code == 400
    assert aoi.post(url, {"to": "ben", "note": "x" * 1001}).status_code == 400
    assert aoi.post(url, {"to": "ben", "note": " 夜のほうが話しやすい方です。 "}).status_code == 200
    d = ben.detail(hid)
    assert d["claimed_by"] == "ben"
    assert d["handover"]["by"] == "aoi" and d["handover"]["note"] == "夜のほうが話しやすい方です。"
    line = d["messages"][-1]
    assert line["kind"] == "transfer" and line["from"] == "bot"
    assert line["text"] == "aoi から ben に引き継ぎました。メモ：夜のほうが話しやスい方です。".replace("ス", "す")
    assert d["unread"] == 0
    assert helpers.settled(p.r) and "夜のほうが" not in "".join(p.texts())
    # without a note: still a line
    assert ben.post(url, {"to": "aoi"}).status_code == 200
    assert aoi.detail(hid)["messages"][-1]["text"] == "ben から aoi に引き継ぎました。"


def test_close_with_an_outcome_and_search_closed_by_alias_and_tokyo_day(app, accounts, person, worker):
    from datetime import datetime, timedelta, timezone

    worker()
    people = [person(), person()]
    for p in people:
        ask_for_human(p)
    aoi = Console(app, "aoi")
    queue = wait_until(lambda: len(q := aoi.waiting()) == 2 and q)
    for h in queue:
        aoi.post(f"/console/api/handoffs/{h['id']}/claim")
    a, b = queue
    url = f"/console/api/handoffs/{a['id']}/close"
    assert aoi.post(url, {"outcome": "made-up"}).status_code == 400
    assert aoi.post(url, {"outcome": 3}).status_code == 400
    assert aoi.post(url, {"outcome": "referred"}).status_code == 200
    assert aoi.post(f"/console/api/handoffs/{b['id']}/close").status_code == 200     # optional
    assert aoi.detail(a["id"])["outcome"] == "referred" and aoi.detail(b["id"])["outcome"] is None

    def closed(query):
        res = aoi.get("/console/api/handoffs?status=closed" + query)
        assert res.status_code == 200, res.get_json()
        return [h["id"] for h in res.get_json()["handoffs"]]

    assert set(closed("")) == {a["id"], b["id"]}
    assert closed(f"&q={a['alias']}") == [a["id"]]
    assert closed(f"&q={a['alias'].lower()[1:]}") == [a["id"]]
    assert closed(f"&q=相談者 {a['alias']}") == [a["id"]]
    today = (datetime.now(timezone.utc) + timedelta(hours=9)).strftime("%Y-%m-%d")
    assert set(closed(f"&date={today}")) == {a["id"], b["id"]}
    assert closed(f"&date={today}&q={b['alias']}") == [b["id"]]
    assert closed("&date=2020-01-01") == []
    for bad in ("2020-13-01", "yesterday", "2020-1-1x"):
        assert aoi.get(f"/console/api/handoffs?status=closed&date={bad}").status_code == 400


def test_the_supervisor_view_status_holding_away_and_assignment(app, accounts, person, worker):
    worker()
    p, aoi, hid = waiting_for_aoi(app, person)
    chief = Console(app, "chief")
    assert aoi.get("/console/api/counselors").status_code == 403                  # admins only
    chief.waiting()                     # (in the console: seen by any request after login)
    colleagues = aoi.get("/console/api/colleagues").get_json()["colleagues"]
    assert {c["name"]: c["status"] for c in colleagues} == {"aoi": "online", "ben": "offline", "chief": "online"}

    # from the queue to aoi: taken for her, the person hears someone joined
    url = f"/console/api/handoffs/{hid}/assign"
    assert aoi.post(url, {"to": "aoi"}).status_code == 403
    assert chief.post(url, {"to": "nobody"}).status_code == 400
    assert chief.post("/console/api/handoffs/nope/assign", {"to": "aoi"}).status_code == 404
    assert chief.post(url, {"to": "aoi"}).status_code == 200
    assert "相談員がつながりました" in helpers.texts_of(p.wait_count(5)[-1])[0]
    staff = {c["name"]: c for c in chief.get("/console/api/counselors").get_json()["counselors"]}
    assert staff["aoi"] == {"name": "aoi", "status": "online", "holding": [hid]}
    assert staff["ben"] == {"name": "ben", "status": "offline", "holding": []}
    assert staff["chief"]["status"] == "online"

    # aoi steps away; the admin gives her conversation to ben
    assert aoi.post("/console/api/me/status", {"status": "lunch"}).status_code == 400
    assert aoi.post("/console/api/me/status", {"status": "away"}).status_code == 200
    staff = {c["name"]: c for c in chief.get("/console/api/counselors").get_json()["counselors"]}
    assert staff["aoi"]["status"] == "away"
    assert chief.post(url, {"to": "ben"}).status_code == 200
    ben = Console(app, "ben")
    d = ben.detail(hid)
    assert d["claimed_by"] == "ben" and d["messages"][-1]["text"] == "chief が aoi から ben に割り当てました。"
    assert d["handover"]["by"] == "chief"
    assert chief.post(url, {"to": "ben"}).status_code == 200                 # already his
    assert aoi.post("/console/api/me/status", {"status": "online"}).status_code == 200
    staff = {c["name"]: c for c in chief.get("/console/api/counselors").get_json()["counselors"]}
    assert staff["aoi"]["status"] == "online" and staff["aoi"]["holding"] == [] and staff["ben"]["holding"] == [hid]
    assert ben.post(f"/console/api/handoffs/{hid}/close").status_code == 200
    assert chief.post(url, {"to": "aoi"}).status_code == 409
