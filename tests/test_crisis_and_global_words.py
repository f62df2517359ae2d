"""Crisis answers from every state, the detector's phenomena, and the global words (pure flows)."""
import pytest

import messages_ja
from flows import Event, handle
from flows.crisis import detect
from flows.machine import load_definition

STATES = [s["name"] for s in load_definition()["states"] if s["name"] != "group" and not s.get("relay")]
HANDOFF_STATES = [s["name"] for s in load_definition()["states"] if s.get("relay")]

POSITIVE = [
    ("死にたい", "high"), ("しにたい", "high"), ("シニタイ", "high"), ("ｼﾆﾀｲ", "high"), ("死 に た い", "high"),
    ("死.に.た.ぁ.い", "high"), ("タヒにたい", "high"), ("死にたーい", "high"), ("😢死🙏に✨たい", "high"),
    ("もう死にたいいいい", "high"), ("自殺しようかな", "high"), ("生きていたくない", "high"),
    ("リスカしてしまった", "high"), ("消えたい", "medium"), ("いなくなりたい", "medium"),
    ("生きるのがしんどい", "medium"), ("楽になりたい", "medium"), ("ロープを買った", "urgent"),
    ("薬を全部飲むつもり", "urgent"), ("遺書を書いた", "urgent"), ("今までありがとう", "urgent"),
    ("一緒に死んでくれる人いませんか", "urgent"), ("さっきODした", "medical"), ("ＯＤした", "medical"),
    ("血が止まらない", "medical"), ("父に殴られる", "violence_family"), ("親を殴ってしまう", "violence_by_me"),
    ("息子が死にたいと言っています", "high"),
    ("もう死のう", "high"), ("死んだら楽になれるかな", "high"), ("生きてるのがつらい", "medium"),
    ("迷惑ばかりかけている", "medium"), ("駅のホームにいる", "urgent"), ("ロープ用意した", "urgent"),
    ("睡眠薬をためてる", "urgent"), ("今夜決行する", "urgent"), ("物を投げられる", "violence_family"),
    ("お金を取られる", "violence_family"), ("親に手をあげてしまった", "violence_by_me"), ("また切りたくなる", "high"),
    ("死にたくなった", "high"), ("自殺を考えています", "high"), ("死んじゃいたい", "high"), ("腕に傷をつけた", "high"),
    ("朝が来なければいい", "medium"), ("消えちゃいたい", "medium"), ("薬を飲みすぎた", "medical"),
    ("息子が暴れて物を壊す", "violence_family"), ("暴力を受けている", "violence_family"),
]
NEGATIVE = ["恥ずかしすぎて死にたい（笑）", "眠すぎて消えたい", "ドラマで首吊りのシーンがあった", "死にたくないから病院に行く", "猫が暴れて大変", "死ぬまでに行きたい場所", "髪を切りたい", "あの人とは縁を切りたい", "体育祭を決行する", "先生に怒鳴られた話", "プールに飛び込みたい", "髪を切った", "死ぬほど眠い", "笑い死ぬ", "ゲームで死んだ", "部活きつくてタヒる", "恥ずかしくて消えたい",
            "死にそうなくらい暑い", "good mood", "おはようございます", "家族のこと", "さようなら", "この前ODの記事を読んだ人がいて"]


@pytest.mark.parametrize("text,tier", POSITIVE)
def test_detects(text, tier):
    assert detect(text).tier == tier


@pytest.mark.parametrize("text", NEGATIVE[:-1])
def test_hyperbole_and_ordinary_words_do_not_trigger(text):
    assert detect(text).tier is None


def test_family_member_reporting_is_marked():
    assert detect("息子が死にたいと言っています").about_other


ON_DUTY_NOW = {"on_duty": True, "next_open": ""}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("text,first_ids,lines", [
    ("死にたい", ["crisis.thanks", "crisis.lines", "crisis.offer_human"], True),
    ("さっき薬をたくさん飲んだ", ["crisis.medical", "crisis.lines", "crisis.offer_human"], True),
    # a parent hurting the writer: the answer is for a young person (189, the children's line)
    ("母に殴られて家にいるのが怖い", ["crisis.thanks", "crisis.violence_youth", "crisis.offer_human"], False),
])
def test_crisis_answer_from_every_state(state, text, first_ids, lines):
    out = handle({"state": state, "last_seen": 0}, Event("text", text=text), now=10 ** 6, ctx=ON_DUTY_NOW)
    assert [m for r in out.replies for m in r.say] == first_ids     # nothing else first, no welcome-back
    assert out.state["state"] == state                               # the person stays where they were
    assert out.state["crisis"]
    rendered = messages_ja.render(out.replies[0])
    assert len(rendered) <= 5
    joined = "".join(m["text"] for m in rendered)
    if lines:
        assert "0120-279-338" in joined and "talkme.jp" in joined    # a free 24h line and a text option
    assert [q["label"] for q in rendered[-1]["quick"]] == ["人と話したい", "今はいい"]


def test_overdose_puts_119_first_and_unconditionally():
    out = handle(None, Event("text", text="ODした"), 0, ctx=ON_DUTY_NOW)
    texts = [m["text"] for m in messages_ja.render(out.replies[0])]
    assert texts[0].startswith("今すぐ119")
    assert "もし" not in texts[0]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("word,dest,first", [
    ("メニュー", "choosing", "menu.main"), ("はじめから", "choosing", "menu.main"),
    ("人と話したい", "handoff_confirm", "handoff.confirm"), ("相談員", "handoff_confirm", "handoff.confirm"),
    ("やめる", "resting", "stop.bye"), ("終わり", "resting", "stop.bye"),
    ("記録を消して", "forget_confirm", "forget.confirm"),
])
def test_global_words_from_every_state(state, word, dest, first):
    out = handle({"state": state}, Event("text", text=word), 0, ctx={"on_duty": True})
    assert out.state["state"] == dest
    assert out.replies[0].say[0] == first


ON_DUTY = {"on_duty": True, "queue_position": 2, "wait": "W"}


def test_handoff_confirmation_then_yes_asks_for_a_handoff_marked_with_the_crisis():
    s = handle(None, Event("text", text="死にたい"), 0).state
    s = handle(s, Event("postback", data="t=want_human"), 0).state
    out = handle(s, Event("text", text="はい"), 0, ctx=ON_DUTY)
    assert out.effects == [{"type": "handoff_request", "value": "", "crisis": "high"},
                           {"type": "share_context", "value": "", "crisis": "high"}]    # typed "yes": not shared
    assert out.state["state"] == "waiting"
    assert out.replies[0].params == {"queue_position": 2, "wait": "W"}


def test_the_crisis_offer_of_a_person_needs_no_second_confirmation():
    s = handle(None, Event("text", text="消えたい"), 0).state
    out = handle(s, Event("postback", data="t=crisis_human"), 0, ctx=ON_DUTY)
    assert out.state["state"] == "waiting" and out.effects[0]["type"] == "handoff_request"


def test_out_of_hours_the_person_may_leave_a_message_and_hears_when_counselors_are_back():
    s = handle({"state": "handoff_confirm"}, Event("text", text="はい"), 0,
               ctx={"on_duty": False, "next_open": "NEXT"})
    assert s.state["state"] == "message_left"
    assert s.effects[0]["type"] == "handoff_request" and s.effects[0]["value"] == "message"
    assert s.replies[0].say == ("handoff.off_duty", "handoff.leave_message")
    assert s.replies[0].params == {"next_open": "NEXT"}
    text = messages_ja.render(s.replies[0])[0]["text"]
    assert "NEXT" in text and "0120-279-338" in text


HELD = {"state": "talking", "handoff": "h1"}


@pytest.mark.parametrize("state", HANDOFF_STATES)
@pytest.mark.parametrize("text", ["家族", "メニューって何？", "ひきこもりって？", "東京", "人と話したい", "はい"])
def test_while_a_human_holds_the_chat_the_bot_stays_silent_and_relays(state, text):
    if state in ("message_left",) and text in ("メニュー",):
        return
    out = handle({"state": state, "handoff": "h1"}, Event("text", text=text), 0, ctx={"held": True})
    assert out.trigger == "relay" and "relay" in [e["type"] for e in out.effects]
    if state == "talking":
        assert out.replies == []
    if state == "waiting":       # the first message while waiting is acknowledged, once
        assert [r.say for r in out.replies] == [("handoff.relay_ack",)]
        again = handle(out.state, Event("text", text=text), 0, ctx={"held": True})
        assert again.trigger == "relay" and again.replies == []


@pytest.mark.parametrize("kind", ["sticker", "media"])
def test_stickers_and_images_are_relayed_too(kind):
    out = handle(HELD, Event(kind), 0)
    assert out.replies == [] and out.effects[0]["type"] == "relay"


@pytest.mark.parametrize("state", HANDOFF_STATES)
def test_crisis_while_with_the_humans_flags_the_handoff_and_still_answers_at_once(state):
    out = handle({"state": state, "handoff": "h1"}, Event("text", text="もう死にたい"), 0)
    assert out.replies[0].say == ("crisis.thanks", "crisis.lines", "handoff.crisis_flagged")
    assert out.effects[0]["type"] == "crisis" and out.state["state"] == state


def test_pause_and_resume_with_the_same_counselor_or_the_queue():
    paused = handle(HELD, Event("text", text="今日はここまで"), 0)
    assert paused.state["state"] == "paused" and paused.effects[0]["type"] == "handoff_pause"
    same = handle(paused.state, Event("text", text="また来ました"), 0, ctx={"held": True, "on_duty": True})
    assert same.state["state"] == "talking" and [e["type"] for e in same.effects] == ["handoff_resume", "relay"]
    queue = handle(paused.state, Event("text", text="また来ました"), 0, ctx={"held": False, **ON_DUTY})
    assert queue.state["state"] == "waiting" and queue.replies[0].say == ("handoff.resumed_queue",)
    off = handle(paused.state, Event("text", text="また来ました"), 0, ctx={"on_duty": False})
    assert off.state["state"] == "message_left" and off.effects[0]["value"] == "message"


def test_waiting_can_be_cancelled_and_talking_cannot_be_left_by_a_stray_word():
    out = handle({"state": "waiting", "handoff": "h1"}, Event("text", text="やめる"), 0)
    assert out.state["state"] == "choosing" and out.effects[0]["type"] == "handoff_cancel"
    assert "handoff" not in out.state
    out = handle(HELD, Event("text", text="やめる"), 0)
    assert out.trigger == "relay"


def test_counselor_events_move_the_person_and_close_hands_back_with_feedback():
    joined = handle({"state": "waiting", "handoff": "h1"}, Event("counselor", data="joined"), 0)
    assert joined.state["state"] == "talking" and joined.replies[0].say == ("handoff.joined",)
    closed = handle(joined.state, Event("counselor", data="closed"), 0)
    assert closed.state["state"] == "choosing" and "handoff" not in closed.state
    assert closed.replies[0].say == ("handoff.closed", "handoff.feedback")
    fb = handle(closed.state, Event("postback", data="t=feedback_good"), 0)
    assert fb.effects[0]["type"] == "feedback" and fb.effects[0]["value"] == "good"
    # a counselor event that no longer applies says nothing at all
    assert handle({"state": "choosing"}, Event("counselor", data="closed"), 0).replies == []
    assert handle({"state": "choosing"}, Event("counselor", data="bogus"), 0).replies == []


def test_a_waiting_person_is_told_kindly_after_a_long_wait_and_may_leave_a_message():
    out = handle({"state": "waiting", "handoff": "h1"}, Event("counselor", data="timeout"), 0)
    assert out.replies[0].say == ("handoff.still_waiting",)
    labels = [q["label"] for q in messages_ja.render(out.replies[0])[-1]["quick"]]
    assert labels == ["このまま待つ", "メッセージを残す", "やめる"]
    left = handle(out.state, Event("postback", data="t=leave_message"), 0)
    assert left.state["state"] == "message_left"


def test_forget_needs_confirmation():
    s = handle({"state": "lane_self"}, Event("text", text="記録を消して"), 0).state
    no = handle(s, Event("postback", data="t=forget_no"), 0)
    assert no.effects == [] and no.state["state"] == "choosing"
    yes = handle(s, Event("postback", data="t=forget_yes"), 0)
    assert yes.effects[0]["type"] == "forget"
    assert handle({"state": "lane_self"}, Event("postback", data="t=forget_yes"), 0).effects == []


def test_welcome_back_after_long_silence_keeps_the_lane():
    out = handle({"state": "lane_family", "last_seen": 0}, Event("sticker"), now=25 * 3600)
    assert out.replies[0].say == ("welcome.back",)
    assert out.state["state"] == "lane_family"
    assert handle({"state": "lane_family", "last_seen": 0}, Event("sticker"), now=3600).replies[0].say != ("welcome.back",)


@pytest.mark.parametrize("text,tier", [
    ("夫が私に手をあげるようになった", "violence_partner"),   # 私に手を: わたくし|にて|を, the kanji word's reading cut
    ("もうまじしにてー", "high"),                              # a kana run the analyser splits oddly still counts
    ("息子がわしに手ぇあげるんじゃ。もう年じゃけぇ逃げられん", "violence_family"),   # わし|に|手: into a kanji word
    ("母は私に対して冷たい", None),                # わたくし|に|たいし: a long reading from inside 私 neither
    ("しにたいしにたい", "high"),                  # (a kana run still counts)
])
def test_a_short_kana_reading_never_starts_inside_a_kanji_word(text, tier):
    assert detect(text).tier == tier


@pytest.mark.parametrize("text,tier", [
    ("ﾓｳｲｷﾀｸﾅｲ", "high"),                  # alone, in kana: "no longer want to live" is the reading answered
    ("もういきたくない", "high"),
    ("もう行きたくない", None),            # in kanji it is "go"
    ("がっこうもういきたくない", None),     # and inside a longer message, school
])
def test_a_few_words_in_kana_that_read_two_ways_are_read_the_graver_way_only_alone(text, tier):
    assert detect(text).tier == tier


@pytest.mark.parametrize("text,tier", [
    ("ママの彼氏にたたかれる", "violence_family"),          # a parent's partner hurting the writer: not a partner's violence
    ("弟が包丁持って自分の部屋にこもってて死ぬって叫んでる 親は仕事でいないし私どうしたら", "urgent"),
    ("夫が「死にます」と書いたメモを残して、朝から連絡がつきません", "urgent"),
    ("あ、ちがう、殴ってるのは私の方で…息子を叩いてしまうのがやめられないんです", "violence_by_me"),  # a correction
    ("最近は夫が私に手をあげるようになって", "violence_partner"),       # a hand raised at me: I am hurt
    ("私じゃなくて夫が私を叩くんです", "violence_partner"),      # 叩くんです: a verb's own -ku is no "-ku nee"
    ("もう死にたくねぇ", None),                                  # (the dialect negation after -ku still is)
    ("引きこもっている娘が、最近妻に物を投げつけるようになりました。昨日は湯呑みが当たって妻が額を切りました",
     "violence_family"),                                         # the spouse is the one hit
    ("娘が夫から暴力を受けていまして", "violence_partner"),      # kara: the daughter's husband acting
    ("嫁さんに手ぇあげてしもた", "violence_by_me"),             # ni, an active hit, the writer's regret: the writer hit
    ("娘に手をあげてしまいました", "violence_by_me"),
    ("夫に殴られてしまった", "violence_partner"),               # (passive: the writer was hit)
    ("言い合いの末、私が夫に物を投げて怪我をさせてしまいました", "violence_by_me"),   # the writer as subject
    ("息子に怖がられてる。私が怒鳴って物を投げるから", "violence_by_me"),
    ("最近は私が何か言うたびに壁を殴ります。先週は私の肩を突き飛ばし", "violence_family"),  # the writer's clause ended
    ("うちが口出したら茶碗投げてきて、腕切れたんよ", "violence_family"),
    ("最近わたしに物を投げつけるようになり、昨日は腕にあざができました", "violence_family"),  # thrown at me
    ("うちの人、手ぇあげるんよ。顔は殴らん、見えんとこばっかり", "violence_partner"),   # あげるんよ: no "not"
])
def test_who_acts_and_how_near_the_danger_is(text, tier):
    assert detect(text).tier == tier


@pytest.mark.parametrize("text,laughing", [
    ("何回死んだかわからんｗ もう100回は殺されてる", True),    # a laugh ending a sentence, mid-message
    ("死にたい笑。でも", True),
    ("I know what you mean", False),                          # the w of a word is no laugh
    ("草むしりした", False),
])
def test_a_laugh_mark_ends_a_sentence_anywhere_in_the_message(text, laughing):
    from flows.language import analyse

    assert analyse(text).laughing is laughing


def test_a_plan_or_a_farewell_is_never_doubted_by_the_model():
    """「今夜決行します。…ありがとうございました」 reads calm to the model (thanks, politeness); the
    patterns' urgent finding stands, the card with the lines at once."""
    from flows.crisis import doubted
    from flows.language import analyse

    a = analyse("今夜決行します。短い間でしたが話を聞いてくださってありがとうございました。")
    assert doubted(a, detect(a)).tier == "urgent"
    out = handle(None, Event("text", text=a.raw), 1000.0, ctx={"on_duty": True, "next_open": "N"})
    assert out.trigger == "crisis_urgent"


def test_the_partner_named_a_message_before_is_the_one_hurting_even_with_the_children_mentioned():
    ctx = {"on_duty": True, "next_open": "N"}
    first = handle(None, Event("text", text="夫が5年ほど家から出ていません"), 1000.0, ctx=ctx)
    out = handle(first.state, Event("text", text="最近は私に手をあげるようになって、子どもたちも怖がっています"), 1040.0, ctx=ctx)
    assert out.trigger == "crisis_violence_partner"


@pytest.mark.parametrize("text,tier", [
    # a denial as a topic cancels the signal; a rhetorical question and a double negation do not
    ("私自身のことでご相談です。希死念慮などはございません。ただ、社会に戻る自信がなく", None),
    ("息子のことで。殴ったりとかはないです。ただ昼夜逆転で食事も別々です", None),
    ("夫婦喧嘩はしますが手が出たことは一度もありません", None),
    ("死にたいと思わない日はない", "high"),
    ("正直もう自分なんかこの家にいないほうがいいんじゃないかってずっと思ってる", "medium"),
    # a veto's kanji word is not the same sound in hiragana (Tosa eiga: "it is good")
    ("わしなんかおらんなったほうがえいがよ。死にたいち毎晩思いゆう", "high"),
    ("映画で死にたいって言ってた", None),
    # a father alone is not "both parents" (the honorific san of o-tou-san)
    ("おとうさんが おさけのむと あたまを かべに ぶつけられる", "violence_family"),
    # the relative who is the clause's subject did it; a regretted act or a cause keeps it the writer's
    ("弟が父と言い合いになって、父の胸ぐらをつかんで壁にたたきつけた。父は70過ぎてる", "violence_family"),
    ("弟がうるさくて、さっき首つかんで壁に押し付けた。やりすぎたと思ってる", "violence_by_me"),
    ("息子が暴れるので、つい殴ってしまった", "violence_by_me"),
    # the family named only as who cannot be told is no relative acting
    ("付き合ってる人がいて、会うたびに殴られる。家族には言えない", "violence_partner"),
    # following a relative in death is one's own risk; killing them first is harm to others
    ("八十の母が今夜が峠と言われております。看取りましたら私も後を追うと決めており、そのための薬も貯めてまいりました", "urgent"),
    ("息子を殺して後を追います", "harm_others"),
])
def test_denials_sounds_and_who_acts_read_as_meant(text, tier):
    assert detect(text).tier == tier


def test_before_i_knew_it_the_act_is_the_writers_own():
    from flows.crisis import detect
    from flows.language import analyse

    mine = "息子が言うことを聞かなくて、気づいたら胸ぐらをつかんで壁に押しつけていました"
    assert detect(analyse(mine)).tier == "violence_by_me"
    assert detect(analyse("息子が胸ぐらをつかんで壁に押しつけてきました")).tier == "violence_family"


def test_a_denial_is_turned_round_only_by_a_negation_in_its_own_clause():
    from flows.crisis import detect
    from flows.language import analyse

    # (the "naki" of "after we parents are gone" is another clause, not a second negation)
    calm = "息子が十年ほど自室にこもっております。暴力などは一切ございませんが、親亡き後の生活が心配です"
    assert detect(analyse(calm)).tier is None
    assert detect(analyse("死にたいと思わない日はない")).tier is not None


def test_not_thinking_of_it_and_not_that_are_denials_and_end_up_thinking_is_not():
    from flows.crisis import detect
    from flows.language import analyse

    assert detect(analyse("死にたいとか思ってないです。ただ人と話すのが苦手で")).tier is None
    assert detect(analyse("自殺とかじゃないです、ただ眠れなくて")).tier is None
    # (turned round further on; and chau after a verb is "end up", not "it is not")
    assert detect(analyse("死にたいと思わない日はございません")).tier is not None
    assert detect(analyse("生きててもしょうがないって思っちゃう")).tier == "medium"


def test_a_veto_met_further_off_is_overruled_when_the_model_reads_a_risk_too():
    """A farewell's words are set aside by a veto met elsewhere in the message (a game's data,
    the light switched off at night); the learned model reads the risk too: the words stand. A veto
    right beside the words is their phrase (a pool jumped into): it holds, whatever the model says."""
    from flows import classifier
    from flows.crisis import _crisis
    from flows.language import analyse

    bar = classifier.thresholds().risk_ask
    farewell = analyse("ぼくがいなくなったあと ゲームのデータは弟にあげてください パスワードはつくえのメモ "
                       "あしたの朝にはもういないとおもう")
    vetoed: dict = {}
    assert "urgent" not in _crisis().matches(farewell, vetoed) and "urgent" in vetoed
    assert classifier.risk(farewell) >= bar and detect(farewell).tier == "urgent"
    night = analyse("朝が来なければいいのにって、毎晩電気を消すときに思う")
    assert detect(night).tier == "medium"
    pool = analyse("プールに飛び込みたい")
    vetoed = {}
    assert not _crisis().matches(pool, vetoed) and vetoed
    assert classifier.risk(pool) >= bar and detect(pool).tier is None


def test_an_overdose_told_in_the_past_progressive_is_the_emergency():
    """「飲んでました」 (the i of iru dropped) is an overdose taken, not one planned."""
    from flows.language import analyse

    assert detect(analyse("実は話す前に薬を全部飲んでました。今ちょっと息が苦しいです")).tier == "medical"


def test_someone_in_a_denial_is_no_request_for_a_person():
    """「誰かを本気でどうこう」 is not 「誰かと話したい」: after a threat explained as a manga line, calm."""
    from tests.corpus import play

    last = play({"turns": ["殺してやる", "…ってのは今読んでる漫画の悪役のセリフね。誰かを本気でどうこうとかじゃないから"],
                 "start": "new", "on_duty": True})[-1]
    assert last.trigger == "window_calm" and not any(e["type"] == "handoff_request" for e in last.effects)


def test_a_goodbye_to_the_offer_of_a_person_is_not_a_yes():
    """「…失礼します」 ends with します: to "shall I connect you?" it is a goodbye, never a place in line."""
    from tests.corpus import play

    for text in ("はい、わかりました。ありがとうございます。失礼します", "んだが、わがった。ありがとさん。まんず失礼します"):
        last = play({"turns": ["人と話したい", text], "start": "new", "on_duty": True})[-1]
        assert last.trigger != "handoff_yes" and not any(e["type"] == "handoff_request" for e in last.effects), text
        # (nor asked about an emergency: a farewell's words the model reads near one, in a goodbye the
        # patterns understood, are asked about only at the stricter bar)
        assert last.trigger == "goodbye" and "small.goodbye" in [m for r in last.replies for m in r.say], text


def test_a_blade_held_to_the_wrist_while_waiting_is_answered_at_once():
    from tests.corpus import play

    last = play({"turns": ["まだですか もう無理かも", "いまカッター手首にあててる"], "start": "waiting", "on_duty": True})[-1]
    assert last.trigger == "crisis_urgent" and "crisis" in [e["type"] for e in last.effects]


@pytest.mark.parametrize("state", ["message_left", "waiting", "talking"])
def test_the_act_begun_after_a_plan_is_the_emergency_wherever_they_wait(state):
    """Charcoal loaded, then "my head is pounding": 119 at once and the alert, even while a message
    waits for a counselor (off duty nobody else reads it) or a counselor holds the chat."""
    from tests.corpus import play

    outs = play({"turns": ["車に練炭と七輪積んだ。あとは山に行くだけ", "頭がガンガンしてきた"], "start": state,
                 "on_duty": state != "message_left"})
    assert outs[0].trigger == "crisis_urgent"
    assert outs[-1].trigger == "crisis_medical" and "crisis" in [e["type"] for e in outs[-1].effects]


def test_a_calm_explanation_while_waiting_is_answered_and_passed_on():
    from tests.corpus import play

    last = play({"turns": ["死にたい", "あれは歌詞です。好きなバンドの曲名そのまま打っただけで、本当に大丈夫です"],
                 "start": "waiting", "on_duty": True})[-1]
    ids = [m for r in last.replies for m in r.say]
    assert last.trigger == "window_calm" and "crisis.window.calm" in ids and "relay" in [e["type"] for e in last.effects]


@pytest.mark.parametrize("text,tier", [
    ("兄に殴られたのは私です。母は止めてくれません", "violence_family"),     # "the one hit was me": not the writer's act
    ("ママのかれしにたたかれる。ママはみてるだけ", "violence_family"),       # mum's boyfriend: the household, not a partner
    ("孫(19)が娘を、つまり孫の母親を、物を投げて怪我させました", "violence_family"),   # an aside after the one acting
    ("殴ってるのは私の方です", "violence_by_me"),
    # the partner as the one hit, by a relative: the family's violence
    ("昨晩娘が暴れて、止めに入った妻が顔を殴られました", "violence_family"),
    # a partner named before it and no relative: the partner's
    ("彼氏と同棲してるんだけど機嫌わるいと殴られる。別れたいって言ったらもっとひどくなった", "violence_partner"),
    # holding back one's own fist: the writer's act, whoever provoked it
    ("母親がいちいち口出してくんの、次言われたらマジで殴りそう。拳握ってこらえてる", "violence_by_me"),
    # a relative named with an honorific (父ちゃん) is the one acting, as without it
    ("父ちゃんが酒飲むと俺ば殴るとよ。昨日は口ん中切れた", "violence_family"),
    # mum's boyfriend in kana (mama read as 侭): the household, not the writer's partner
    ("ままのかれしに いつも けられる", "violence_family"),
    # things thrown at the writer: the writer is hurt (the partner named a message before is the one)
    ("最近、気に入らないことがあると私に物を投げたり叩いたりします", "violence_family"),
    # a son kicking his mother, told by his father: the family's violence, not the partners'
    ("息子が部屋から出てきて家内を蹴りました。家内は腰を痛めています", "violence_family"),
    ("親に殴られるんやなくて、俺が親に手出してまうねん", "violence_by_me"),
])
def test_who_acts_through_a_passive_an_aside_or_a_relatives_partner(text, tier):
    from flows.language import analyse

    assert detect(analyse(text)).tier == tier


def test_a_word_ending_like_a_compound_spouse_word_names_no_partner():
    """「配偶者」 is a partner word; its suffix 者 alone (「メッセージを残した者です」) is not, so the
    next message's violence is not taken for the partner's."""
    from flows import crisis
    from flows.language import analyse

    assert crisis.named(analyse("さきほどメッセージを残した者です")) is None
    assert crisis.named(analyse("配偶者に殴られます")) == "partner"


def test_a_goodnight_that_ends_in_ne_is_no_farewell_of_a_crisis():
    """「じゃあね。」 is a farewell at the end of a crisis message only as one run of words: 「じゃあ
    返事待ってますね。」 had been read across the sentence as the urgent tier."""
    from flows.language import analyse

    assert detect(analyse("よかった。じゃあ返事待ってますね。今日はもう寝ます、おやすみなさい")).tier is None
    assert detect(analyse("もう無理。みんなありがとう。じゃあね。")).tier == "urgent"
