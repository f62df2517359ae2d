"""A counselor's tools (issue 15, items 4-7) through the JSON API, end to end: signed webhooks →
worker → console API → LINE stand-in, on a real redis-server (and again on a Redis Cluster).

Resources go out as a typed message does (exactly once, reply token or push) and reach LINE as
Flex cards with tel: buttons; case notes never reach the person and go with the transcript;
a returning person's earlier handoffs are listed, readable by the holder, and gone after
forget-me; canned replies are edited by admins only.
"""
import json

from bot import keys
from handoff.store import log_key, meta_key, notes_key

from . import helpers
from .test_cards import buttons
from .test_handoff import Console, ask_for_human, claimed_by_aoi, person, wait_until  # noqa: F401 (fixture)


def flex_cards(p):
    """Every Flex message the person's phone received, in order."""
    return [m for d in p.inbox() for m in d["messages"] if m["type"] == "flex"]


def ask_from_tokyo(p):
    """Someone in the family lane finds Tokyo's centre, then asks for a person."""
    p.send(follow=True)
    p.wait_count(1)
    p.say_and_wait(postback="choose_family")
    p.say_and_wait("東京に住んでいます")
    p.say_and_wait("人と話したい")
    return p.say_and_wait("はい")


def test_a_resource_goes_out_once_as_a_card_with_call_buttons_and_the_transcript_names_it(app, accounts, person, worker, r):
    worker()
    p = person()
    ask_from_tokyo(p)
    aoi, ben, chief = Console(app, "aoi"), Console(app, "ben"), Console(app, "chief")
    hid = wait_until(aoi.waiting)[0]["id"]
    aoi.post(f"/console/api/handoffs/{hid}/claim")
    assert wait_until(lambda: any("相談員がつながりました" in t for t in p.texts()))

    # the list: the person's own prefecture first, then the crisis lines and the rest
    listed = aoi.get(f"/console/api/resources?handoff={hid}").get_json()["resources"]
    assert listed[0] == {"id": "pref:13", "title": "東京都の相談窓口", "theirs": True, "place": True}
    ids = [x["id"] for x in listed]
    assert "lines" in ids and "family_guide" in ids and ids.count("pref:13") == 1
    assert aoi.get("/console/api/resources").get_json()["resources"][0]["id"] == "lines"     # nobody in mind

    url = f"/console/api/handoffs/{hid}/resources"
    cards_before = len(flex_cards(p))
    # one click twice (a double click, a retry after a lost answer): one card
    assert [aoi.post(url, {"id": "pref:13", "client_id": "res-click-1"}).status_code for _ in range(2)] == [200, 200]
    assert aoi.post(url, {"id": "lines"}).status_code == 200
    got = wait_until(lambda: len(c := flex_cards(p)) >= cards_before + 2 and c)
    assert helpers.settled(r)
    sent = flex_cards(p)[cards_before:]
    assert len(sent) == 2
    centre, lines = sent
    assert "東京都" in centre["altText"]
    tokyo = [a["uri"] for a in buttons(centre["contents"]) if a["uri"].startswith("tel:")]
    assert tokyo and all(n[4:] in helpers_digits(centre["altText"]) for n in tokyo)
    assert "0120-279-338" in lines["altText"]
    assert "tel:0120279338" in [a["uri"] for a in buttons(lines["contents"])]
    assert got

    # the transcript says what was sent, in words, as the counselor's
    said = [m for m in aoi.detail(hid)["messages"] if m["from"] == "counselor"]
    assert [(m["kind"], m["text"]) for m in said] == [
        ("resource", "［送った資料］東京都の相談窓口"),
        ("resource", "［送った資料］今すぐ話せる窓口（よりそいホットライン・あなたのいばしょ・#いのちSOS）")]

    # only the holder sends; unknown or malformed ids are refused; CSRF as everywhere
    assert ben.post(url, {"id": "lines"}).status_code == 403
    assert chief.post(url, {"id": "lines"}).status_code == 403
    assert aoi.post(url, {"id": "no-such-card"}).status_code == 404
    for bad in ({"id": 5}, {}, {"id": ["lines"]}, {"id": "lines", "client_id": "a b"}):
        assert aoi.post(url, bad).status_code == 400, bad
    assert aoi.post(url, {"id": "lines"}, csrf=False).status_code == 403
    assert helpers.settled(r)
    assert len(flex_cards(p)) == cards_before + 2


def helpers_digits(text):
    return "".join(ch for ch in text if ch.isdigit())


def test_case_notes_are_for_counselors_only_and_live_as_long_as_the_transcript(app, accounts, person, worker, r):
    worker()
    p, aoi, ben, hid = claimed_by_aoi(app, person)
    chief = Console(app, "chief")
    p.send("よろしくお願いします")
    assert wait_until(lambda: aoi.detail(hid)["messages"])
    url = f"/console/api/handoffs/{hid}/notes"
    secret = "お母さまの通院は火曜日。次回は進学の話から。"
    assert aoi.post(url, {"text": secret}).status_code == 200
    assert chief.post(url, {"text": "管理者の確認済み"}).status_code == 200
    assert ben.post(url, {"text": "見ていない人のメモ"}).status_code == 403
    for bad in ({"text": ""}, {"text": "   "}, {"text": 3}, {}, {"text": "x" * 1001}):
        assert aoi.post(url, bad).status_code == 400, bad
    assert aoi.post(url, {"text": "x"}, csrf=False).status_code == 403

    notes = aoi.detail(hid)["notes"]
    assert [(n["by"], n["text"]) for n in notes] == [("aoi", secret), ("chief", "管理者の確認済み")]
    assert all(n["at"] for n in notes)
    assert secret not in json.dumps(aoi.detail(hid)["messages"], ensure_ascii=False)
    assert ben.get(f"/console/api/handoffs/{hid}").status_code == 403       # not ben's: no notes either
    # never sent to the person
    assert helpers.settled(r) and secret not in "".join(p.texts())

    # its writer corrects or deletes a note; nobody else may, an admin neither (issue 27, #5)
    mine, chiefs = notes
    edit = f"{url}/{mine['id']}"
    assert chief.post(edit, {"text": "書き換え"}).status_code == 403
    assert ben.post(edit, {"text": "書き換え"}).status_code == 403
    assert aoi.post(f"{url}/{chiefs['id']}/delete").status_code == 403
    assert aoi.post(f"{url}/no-such-note", {"text": "x"}).status_code == 404
    for bad in ({"text": ""}, {"text": "x" * 1001}, {}):
        assert aoi.post(edit, bad).status_code == 400, bad
    assert aoi.post(edit, {"text": "x"}, csrf=False).status_code == 403
    secret = "お母さまの通院は水曜日。次回は進学の話から。"
    assert aoi.post(edit, {"text": secret}).status_code == 200
    assert chief.post(f"{url}/{chiefs['id']}/delete").status_code == 200
    notes = aoi.detail(hid)["notes"]
    assert [(n["id"], n["by"], n["text"]) for n in notes] == [(mine["id"], "aoi", secret)]
    assert notes[0]["edited_at"] and notes[0]["at"] == mine["at"]

    # kept exactly as long as the transcript, under the person's tag
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    assert notes_key(pid, hid).startswith(f"mado:{{u:{pid}}}:")
    assert abs(r.ttl(notes_key(pid, hid)) - r.ttl(log_key(pid, hid))) <= 1
    # the closing dialog's one line becomes a note of its own
    close = f"/console/api/handoffs/{hid}/close"
    assert aoi.post(close, {"outcome": "listened", "note": "x" * 201}).status_code == 400
    assert aoi.post(close, {"outcome": "listened", "note": 7}).status_code == 400
    assert aoi.post(close, {"outcome": "listened", "note": " 進学の話が\nしたいそう "}).status_code == 200
    last = aoi.detail(hid)["notes"][-1]
    assert (last["by"], last["text"], last["kind"]) == ("aoi", "進学の話が したいそう", "close")
    ttl = r.ttl(log_key(pid, hid))
    assert ttl > 0 and abs(r.ttl(notes_key(pid, hid)) - ttl) <= 1
    assert abs(r.ttl(keys.user(pid, "handoffs")) - ttl) <= 1
    assert helpers.settled(r) and "進学" not in "".join(p.texts())


def test_a_returning_person_has_earlier_conversations_and_forget_me_leaves_none(app, accounts, person, worker, r):
    worker()
    p, aoi, ben, first = claimed_by_aoi(app, person)
    p.send("前回の相談です")
    assert wait_until(lambda: aoi.detail(first)["messages"])
    aoi.post(f"/console/api/handoffs/{first}/messages", {"text": "お話ありがとうございます"})
    aoi.post(f"/console/api/handoffs/{first}/notes", {"text": "きょうだいの話が中心"})
    assert aoi.detail(first)["earlier"] == []
    assert aoi.post(f"/console/api/handoffs/{first}/close",
                    {"outcome": "listened", "note": "夜のほうが話しやすい方"}).status_code == 200

    # the same person asks again; ben takes it
    p.say_and_wait("人と話したい")
    p.say_and_wait("はい")
    second = wait_until(lambda: [h for h in ben.waiting() if h["id"] != first])[0]["id"]
    assert ben.post(f"/console/api/handoffs/{second}/claim").status_code == 200
    d = ben.detail(second)
    assert [e["id"] for e in d["earlier"]] == [first]
    e = d["earlier"][0]
    assert e["claimed_by"] == "aoi" and e["note"] == "夜のほうが話しやすい方"
    assert e["created_at"] and e["closed_at"] and e["closed_at"] >= e["created_at"]
    assert e["message_count"] >= 2

    # the holder opens the earlier transcript (read-only, with its notes); nobody else does
    old = ben.get(f"/console/api/handoffs/{second}/earlier/{first}")
    assert old.status_code == 200
    old = old.get_json()
    assert "前回の相談です" in [m["text"] for m in old["messages"]]
    assert [n["text"] for n in old["notes"]] == ["きょうだいの話が中心", "夜のほうが話しやすい方"]
    assert aoi.get(f"/console/api/handoffs/{second}/earlier/{first}").status_code == 403
    assert ben.get(f"/console/api/handoffs/{second}/earlier/{second}").status_code == 404
    assert ben.get(f"/console/api/handoffs/{second}/earlier/0000000000000000").status_code == 404
    assert ben.get(f"/console/api/handoffs/{first}/earlier/{second}").status_code == 403   # aoi's, closed

    # forget-me: no earlier list, no note, no transcript, under the person's tag or anywhere
    pid = keys.pseudonym(helpers.MADO_KEY, p.uid)
    p.say_and_wait("記録を消して")
    p.say_and_wait(postback="forget_yes")
    assert wait_until(lambda: list(r.scan_iter(match=keys.user_pattern(pid))) == [])
    for hid in (first, second):
        assert "pid" not in r.hgetall(meta_key(hid))
    everything = dump(r)
    for words in ("夜のほうが話しやすい方", "きょうだいの話が中心", "前回の相談です", pid):
        assert words not in everything
    assert ben.detail(second)["earlier"] == [] and ben.detail(second)["notes"] == []
    assert ben.get(f"/console/api/handoffs/{second}/earlier/{first}").status_code == 404

    # back again (the same pseudonym): a new start, nothing earlier
    p.say_and_wait("人と話したい")
    p.say_and_wait("はい")
    third = wait_until(lambda: [h for h in ben.waiting() if h["id"] not in (first, second)])[0]["id"]
    assert ben.detail(third)["earlier"] == []


def dump(r):
    """Every key and value in Redis as one text (streams, lists, hashes, sets, strings)."""
    out = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        value = {"string": lambda k: r.get(k), "list": lambda k: r.lrange(k, 0, -1),
                 "hash": lambda k: r.hgetall(k), "set": lambda k: sorted(r.smembers(k)),
                 "zset": lambda k: r.zrange(k, 0, -1), "stream": lambda k: r.xrange(k)}[kind](key)
        out.append(f"{key} {value}")
    return "\n".join(out)


def test_admins_edit_the_canned_replies_counselors_are_offered(app, accounts, r):
    from handoff.canned import KEY

    aoi, chief = Console(app, "aoi"), Console(app, "chief")
    defaults = aoi.get("/console/api/canned").get_json()
    assert defaults["edited"] is False and defaults["canned"][0]["label"] == "はじめのあいさつ"
    first = defaults["canned"][0]["id"]

    # only admins change them, and only with the CSRF token
    for path, body in (("/console/api/canned", {"label": "a", "text": "b"}), (f"/console/api/canned/{first}", {"label": "a", "text": "b"}),
                       (f"/console/api/canned/{first}/delete", {}), ("/console/api/canned/reset", {})):
        assert aoi.post(path, body).status_code == 403, path
        assert chief.post(path, body, csrf=False).status_code == 403, path
    assert not r.exists(KEY)

    # edit one, add one (hostile text is stored as text), delete one
    res = chief.post(f"/console/api/canned/{first}", {"label": " 最初のあいさつ ", "text": "こんにちは。相談員です。"})
    assert res.status_code == 200 and res.get_json()["edited"] is True
    hostile = '<img src=x onerror="alert(1)">'
    added = chief.post("/console/api/canned", {"label": hostile, "text": "ゆっくりで大丈夫です。"}).get_json()["canned"][-1]
    assert added["label"] == hostile
    second = defaults["canned"][1]["id"]
    assert chief.post(f"/console/api/canned/{second}/delete").status_code == 200
    offered = aoi.get("/console/api/canned").get_json()
    assert [c["label"] for c in offered["canned"]][:1] == ["最初のあいさつ"]
    assert second not in [c["id"] for c in offered["canned"]] and offered["canned"][-1]["id"] == added["id"]
    # counselors' page offers the edited list, escaped
    page = aoi.get("/console/").get_data(as_text=True)
    assert "最初のあいさつ" in page and hostile not in page

    # lengths and shapes are checked; unknown ids are 404
    for bad in ({"label": "", "text": "x"}, {"label": "x", "text": "  "}, {"label": "x" * 41, "text": "x"},
                {"label": "x", "text": "x" * 1001}, {"label": 1, "text": "x"}, {}):
        assert chief.post("/console/api/canned", bad).status_code == 400, bad
    assert chief.post("/console/api/canned/nope", {"label": "a", "text": "b"}).status_code == 404
    assert chief.post("/console/api/canned/nope/delete").status_code == 404

    # back to the catalogue's list
    assert chief.post("/console/api/canned/reset").status_code == 200
    assert aoi.get("/console/api/canned").get_json() == defaults
    assert not r.exists(KEY) and KEY.startswith("mado:{staff}:")
