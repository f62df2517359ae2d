from . import helpers


def test_follow_gets_greeting_by_reply(post, worker, standin):
    uid = helpers.new_user_id()
    resp = post(helpers.follow_event(uid))
    assert resp.status_code == 200
    worker()
    got = standin.wait_for(lambda s: s.deliveries(uid), timeout=10)
    assert got, "no greeting arrived"
    assert got[0]["kind"] == "reply"
    assert helpers.quick_labels(got[0]) == ["自分のこと", "家族のこと", "その他・まだ分からない"]
