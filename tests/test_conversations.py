"""Conversations of several turns (issue 22): what people write after the first message. Pure:
no Redis. The developer set in tests/data/conversations.jsonl must be answered right at its last
turn, conversation by conversation; the rules behind it are checked one by one below."""
import pytest

import messages_ja
from flows import Event, handle
from flows.machine import machine
from tests.corpus import conversation_rows, meets, play

CONVS = conversation_rows()
ON = {"on_duty": True, "next_open": "N", "queue_position": 1, "wait": "W"}


@pytest.mark.parametrize("conv", CONVS, ids=[c["id"] for c in CONVS])
def test_each_conversation_is_answered_right_at_its_last_turn(conv):
    last = play(conv)[-1]
    ids = [m for r in last.replies for m in r.say]
    assert all(meets(label, last) for label in conv["expect"]), (conv["turns"], last.trigger, ids)
    for reply in last.replies:
        messages_ja.render(reply)           # every reply renders, within LINE's five messages


def turns(*texts, state=None, start=0.0, gap=40.0, ctx=ON):
    state = state or handle(None, Event("follow"), start, ctx=ctx).state
    outs, now = [], start
    for text in texts:
        now += gap
        out = handle(state, Event("text", text=text), now, ctx=ctx)
        outs.append(out)
        state = out.state
    return outs


def said(out):
    return [m for r in out.replies for m in r.say]


def turns_from(where, *texts):
    """Turns of someone already in that state with a handoff (waiting in line, say)."""
    state = {**handle(None, Event("follow"), 0.0, ctx=ON).state, "state": where, "handoff": "h1"}
    return turns(*texts, state=state)


def test_the_window_closes_after_its_time():
    seconds = machine().context["crisis_window_s"]
    first, = turns("薬を全部飲んだ")
    later = handle(first.state, Event("text", text="なんかふらふらする"), 40 + seconds + 1, ctx=ON)
    assert not said(later) or said(later)[0] != "crisis.window.symptom"


def test_inside_the_window_119_stays_before_any_other_answer():
    out = turns("薬を全部飲んだ", "相談って無料ですか")[-1]
    assert said(out)[0] == "crisis.window.still_medical" and "answer.cost" in said(out)


def test_a_clarification_lets_the_crisis_go_and_says_so():
    out = turns("死にたい", "いや漫画の話です")[-1]
    assert said(out) == ["crisis.window.calm"]
    assert "crisis" not in out.state and "crisis_at" not in out.state
    after = handle(out.state, Event("text", text="ぴよ"), 200, ctx=ON)
    # no longer in the window: no lines, no reminder; what is not understood right after the calm
    # answer (more of the story) is met lightly once more, never a cold fallback
    assert said(after) == ["crisis.window.calm_again"] and "crisis_at" not in after.state
    later = handle(after.state, Event("text", text="ぴよ"), 300, ctx=ON)
    assert not said(later)[0].startswith("crisis.")


def test_the_tier_never_drops_inside_the_window():
    out = turns("薬を全部飲んだ", "もう消えたい")[-1]
    assert out.trigger == "crisis_medical" and said(out)[0] == "crisis.medical"


def test_an_open_question_is_asked_again_after_another_need():
    out = turns("人と話したい", "無料ですか")[-1]
    assert said(out) == ["answer.cost", "handoff.reask"]
    assert out.state["state"] == "handoff_confirm" and out.state["asked"] == "handoff_confirm"
    yes = handle(out.state, Event("text", text="はい"), 200, ctx=ON)
    assert yes.state_to == "waiting"


def test_not_understood_while_a_question_is_open_asks_it_again_not_the_fallback():
    out = turns("人と話したい", "ぴよぴよ")[-1]
    assert said(out) == ["handoff.reask"] and out.state["state"] == "handoff_confirm"


def test_a_question_while_waiting_is_answered_and_passed_on():
    out = handle({"state": "waiting", "handoff": "h1"}, Event("text", text="相談って無料ですか"), 0, ctx=ON)
    assert said(out) == ["answer.cost", "handoff.answered_too"] and out.state_to == "waiting"
    assert [e["type"] for e in out.effects] == ["relay"]


@pytest.mark.parametrize("text", ["やっぱりやめておきます", "もういい", "ほなもうええわ", "やめます", "キャンセルで", "取り消して"])
def test_cancelling_in_ones_own_words_cancels_and_says_what(text):
    out = handle({"state": "waiting", "handoff": "h1"}, Event("text", text=text), 0, ctx=ON)
    assert "handoff_cancel" in [e["type"] for e in out.effects] and said(out) == ["handoff.cancelled"]


@pytest.mark.parametrize("text", ["けっこう待ってるんですけど", "話してもいいですか", "もう少し待ちます"])
def test_words_near_cancelling_do_not_cancel(text):
    out = handle({"state": "waiting", "handoff": "h1"}, Event("text", text=text), 0, ctx=ON)
    assert "handoff_cancel" not in [e["type"] for e in out.effects]


def test_while_talking_only_exact_words_act():
    out = handle({"state": "talking", "handoff": "h1"}, Event("text", text="もういいです"), 0, ctx=ON)
    assert out.trigger == "relay" and out.replies == []


def test_several_needs_fit_in_five_messages_safety_first():
    out = turns("娘が薬を全部飲んで倒れています。横浜に住んでいます")[-1]
    ids = said(out)
    assert ids[0] == "crisis.family.medical" and len(ids) <= 5
    assert messages_ja.render(out.replies[-1])


def test_a_young_person_hit_by_a_parent_gets_answers_for_them():
    out = turns("父親に殴られた")[-1]
    text = messages_ja.render(out.replies[0])
    ids = said(out)
    assert "crisis.violence_youth" in ids and out.state.get("lane") != "family"
    assert any("0120-0-78310" in m.get("text", m.get("altText", "")) for m in text)


def test_a_hesitation_in_line_is_asked_about_and_no_keeps_the_place():
    # 「やめようかな…」 is not a decision: asked first; 「いいえ」 keeps the place, 「はい」 takes it back
    out = turns_from("waiting", "やめとこかな")[-1]
    assert said(out) == ["handoff.cancel_ask"] and out.state["state"] == "waiting"
    assert "handoff_cancel" not in [e["type"] for e in out.effects]
    stay = turns_from("waiting", "やめとこかな", "いいえ")[-1]
    assert stay.state["state"] == "waiting" and "handoff_cancel" not in [e["type"] for e in stay.effects]
    gone = turns_from("waiting", "やめとこかな", "はい")[-1]
    assert "handoff_cancel" in [e["type"] for e in gone.effects]
    # a hesitation, then the decision in the last sentence: taken at its word
    decided = turns_from("waiting", "今日はやっぱりやめとこうかな…また今度にするので、列から外してください")[-1]
    assert "handoff_cancel" in [e["type"] for e in decided.effects]


def test_a_decision_to_leave_the_line_with_kana_inside_a_verb_is_not_asked_about():
    # (「行かなきゃ」 holds ka-na, the hesitation's word; the decision is clear)
    out = turns_from("waiting", "今から仕事に行かなきゃいけなくなったので相談はまた今度にします待つのはやめます")[-1]
    assert "handoff.cancelled" in said(out), said(out)


def test_a_long_run_on_that_ends_by_taking_leave_is_a_goodbye_not_the_fallback():
    out = turns("センターの電話番号わかりました",
                "はいわかりましたありがとうございますまた何かあったらここに書きますねそれじゃあ失礼します")[-1]
    assert out.trigger == "goodbye", said(out)


@pytest.mark.parametrize("first,answer,pref", [("地域の支援センターってどこにあるの", "倉敷", "33"),
                                              ("相談できるとこ近くにある？", "ちなみに金沢ね", "17")])
def test_a_bare_name_answering_where_they_live_is_the_place(first, answer, pref):
    out = turns(first, answer)[-1]
    assert f"local.pref.{pref}" in said(out), said(out)


def test_a_name_that_is_also_a_common_word_is_no_place_when_nobody_asked_where():
    assert not any(m.startswith("local.") for m in said(turns("倉敷")[-1]))


def test_a_clarification_with_an_apology_after_words_the_bot_did_not_take_as_risk_is_met_lightly():
    out = turns("死んでまうわ", "いやいや、暑うて死んでまうって意味やで😂 クーラー壊れてんねん。心配かけてすまんな")[-1]
    assert out.trigger == "window_calm", said(out)


def test_a_question_beside_asking_when_the_answer_comes_after_leaving_a_message_is_answered():
    out = turns_from("message_left", "これっておいくらかかるんでしょう？後で請求とかこない？")[-1]
    assert "answer.cost" in said(out), said(out)


@pytest.mark.parametrize("first,second,calm", [
    ("首つりたい", "ちがう、首つった、って言おうとした。寝違えて首がつったの。変換ミスです🙏", True),
    ("もう限界。今夜で終わりにする", "あ、えっとソシャゲの話です。今夜でアカウント消して終わりにするってこと。課金やめたくて。自分自身はべつになんもないです", True),
    ("もう限界。今夜で終わりにする", "間違えた。本当は今夜で終わりにする", False),
    ("死にたい", "冗談です。死にたいのは本当", False),
    # in the same sentence, after the words it explains
    ("死にたい", "あーちがうちがう、課題が多すぎて死にたいって意味ね笑 ほんとに死ぬ気とかない、大丈夫", True),
    ("死にたい", "冗談って言いたいけど本当に死にたい", False),
])
def test_a_clarification_quoting_the_words_it_explains_is_calm_unless_the_words_come_after_it(first, second, calm):
    out = turns(first, second)[-1]
    assert (out.trigger == "window_calm") is calm, (out.trigger, said(out))


@pytest.mark.parametrize("answer", ["冗談ちゃうで。ほんまにしんどいねん", "しようかなっておもってる へやからでれない"])
def test_its_no_joke_or_thinking_i_might_answers_the_direct_question_yes(answer):
    first = turns("もう生きとってもしゃあないわ")[-1]
    assert first.trigger == "ask_risk", said(first)
    out = turns(answer, state=first.state, start=40.0)[-1]
    assert out.trigger.startswith("crisis_"), (out.trigger, said(out))


def test_the_relatives_place_beside_the_writers_own_is_the_one_asked_about():
    out = turns("弟の件で支援センターを探してます",
                "私は東京住みなんですが、弟は実家の新潟にいます。新潟の方を教えてください")[-1]
    assert "local.pref.15" in said(out) and "local.pref.13" not in said(out), said(out)


@pytest.mark.parametrize("first,second", [
    ("楽に死ねる方法ってある？", "いや別に今すぐってわけじゃないけど、知っておきたいだけ"),
    ("睡眠薬って何錠飲んだら死ねるかな", "前に処方されたのずっと溜めてあるんだよね"),
])
def test_not_now_just_curious_or_a_stockpile_after_a_method_question_is_never_calm(first, second):
    out = turns(first, second)[-1]
    assert out.trigger != "window_calm" and any(m.startswith("crisis.") for m in said(out)), (out.trigger, said(out))


def test_a_question_with_no_topic_of_its_own_asks_about_the_topic_just_answered():
    # the second message's first clause asks about the games page answered just before
    out = turns("うちの息子、昼夜逆転でゲームばかりです", "叱るべきか黙っているべきか。それと、私の育て方のせいでしょうか")[-1]
    assert {"answer.my_fault.family", "answer.sleep_games.family"} <= set(said(out)), said(out)
    # "does it heal?" after the illness page, beside a question of its own
    out = turns("引きこもりって病気なんですか", "それって治るものなの？あと、お金ってかかる？")[-1]
    assert {"answer.cost", "answer.illness"} <= set(said(out)), said(out)


def test_a_question_with_no_topic_and_nothing_answered_before_adds_nothing():
    out = turns("自分のことです", "叱るべきか黙っているべきか。あと、病院って行くべき？")[-1]
    assert said(out) == ["answer.illness"], said(out)


def test_a_place_as_the_last_short_part_after_a_lead_in():
    out = turns("近くの窓口を知りたい", "うちは、さっぽろ")[-1]
    assert said(out)[0] == "local.city.01100", said(out)
    out = turns("家族会ってどんなところ？", "住んでるとこ？はままつ")[-1]
    assert said(out)[0] == "local.city.22130", said(out)
    out = turns("こんにちは", "ありがとう、みどり")[-1]        # a common word: no place unless asked
    assert not any(m.startswith("local.") for m in said(out)), said(out)


def test_preparations_made_after_a_wish_to_die_are_the_urgent_tier():
    out = turns("死にたい", "もう準備もしてある")[-1]
    assert out.trigger == "crisis_urgent", said(out)
    out = turns("こんにちは", "もう準備もしてある")[-1]     # (no window: not a crisis by itself)
    assert out.trigger != "crisis_urgent", said(out)


def test_the_act_begun_after_a_plan_is_the_emergency():
    out = turns("練炭買ってある", "今、部屋で火つけた")[-1]
    assert out.trigger == "crisis_medical", said(out)
    out = turns("こんにちは", "今、部屋で火つけた")[-1]       # (no window: asked, not carded)
    assert out.trigger != "crisis_medical", said(out)


def test_two_questions_in_one_clause_are_both_answered_but_two_readings_of_the_same_words_are_one():
    out = turns("名前出さずに電話で相談できるとこってある？")[-1]
    assert said(out)[:2] == ["answer.phone", "answer.anonymous"], said(out)
    out = turns("ここって何をするところですか")[-1]
    assert said(out) == ["answer.what_is_this"], said(out)


def test_how_to_use_it_right_after_the_support_page_asks_about_that_support():
    out = turns("支援センターってどんなところ？", "どうやって使うの")[-1]
    assert said(out) == ["info.support.more"], said(out)
    out = turns("支援センターってどんなところ？", "ここってどうやって使うの")[-1]      # (this account, named)
    assert said(out) == ["answer.what_is_this"], said(out)
    out = turns("どうやって使うの")[-1]                                        # (nothing shown before it)
    assert said(out) == ["answer.what_is_this"], said(out)


def test_a_jump_that_has_happened_in_dialect_is_the_emergency_and_a_conditional_jump_is_not():
    assert said(turns("さっきベランダから飛び降りてもうた 2階やけど")[-1])[0] == "crisis.medical"
    assert turns("ベランダから飛び降りても死ねないかな")[-1].trigger == "crisis_urgent"


def test_a_clause_pointing_back_asks_about_the_topic_just_answered():
    out = turns("テレビで見た引き出し屋ってところに頼もうか迷ってて",
                "そういうのって実際どうなんですか？あと一度ちゃんと相談員さんと話したいです")[-1]
    assert said(out)[:2] == ["answer.hikidashiya", "handoff.confirm"], said(out)


@pytest.mark.parametrize("text,cancels", [
    ("てか働いたことないんだけど、職歴なしでも使える就労支援ってある？", False),   # "even without": no taking back
    ("眠剤なしで寝れた！すごくない？", False),
    ("もういいや。なしで", True),
    ("今朝息子と少し話ができまして、ひとまず様子を見ることにしました。お返事は不要です", True),
])
def test_without_is_no_cancel_but_no_reply_needed_is(text, cancels):
    out = turns_from("message_left", text)[-1]
    assert (out.trigger == "stop") is cancels, (out.trigger, said(out))


def test_a_symptom_or_a_refusal_after_is_this_an_emergency_is_a_yes_with_119_first():
    for answer in ("救急車は呼びたくない", "頭がぼーっとして吐き気がする"):
        first, second = turns("さっき変なもの飲んだかも", answer)
        assert said(first) == ["crisis.ask.medical"], said(first)
        assert second.trigger == "crisis_medical" and said(second)[0] == "crisis.medical", (answer, said(second))


def test_a_list_of_what_it_can_do_is_the_menu():
    assert turns("何ができるのか一覧で教えてください")[-1].trigger == "menu"


def test_vomiting_after_a_poisoning_keeps_119_first_even_when_they_say_they_are_fine():
    out = turns("娘が洗剤を飲んだみたいです", "本人はもう平気だと言っていますが、吐いています")[-1]
    assert meets("119_first", out) and out.trigger != "window_calm", said(out)


def test_what_a_support_is_and_whether_a_place_has_it_gets_the_page_and_the_windows():
    out, = turns("家族会って何ですか？神奈川にもありますか")
    assert said(out)[0] == "local.pref.14" and "info.support" in said(out)
    one, = turns("神奈川で家族会ってありますか")      # one clause: the windows answer it
    assert said(one)[0] == "local.pref.14" and "info.support" not in said(one)


def test_a_place_the_learned_model_reads_a_need_for_is_answered_with_its_windows():
    # the patterns read "how do I…" (family guide), the model the support page: with a place named,
    # its windows come first, as when the patterns read it so
    out, = turns("横浜で相談できるところと、支援を使うにはどうしたらいいのか")
    assert said(out)[0] == "local.city.14100"


def test_a_partner_named_before_is_not_the_one_hurt_when_this_message_has_them_hurting_a_relative():
    out = turns("夫のことで。うちの夫、もう10年近く仕事してなくて部屋にこもってます",
                "その夫が、同居してる義母に怒鳴って突き飛ばしたんです。義母は80過ぎで")[-1]
    assert out.trigger == "crisis_violence_family"
    # (the partner named a message before and not acting here is still the one hurting)
    out = turns("夫のことで", "最近は毎晩のように殴られています")[-1]
    assert out.trigger == "crisis_violence_partner"


@pytest.mark.parametrize("first,then,tier", [
    # (the writer named no one as hitting here: the partner named before hits, not the writer)
    ("彼女のことで", "スマホ見られて、怒ると物投げてくる。この前灰皿が当たった", "violence_partner"),
    ("うちは嫁さんが怖い", "包丁持ち出して『刺すぞ』って言われました", "violence_partner"),
    # the partner hitting a son: the family's violence
    ("夫がね", "引きこもりの息子を怒鳴って、昨日は胸ぐらつかんで殴ったんです", "violence_family"),
    ("旦那が", "息子のことを殴るんです。ひきこもってるのが気に入らないって", "violence_family"),
    # a relative named as the one acting, another hit here, and the writer beside it: the relative's
    ("姉が", "母に怒鳴り散らして、この前は突き飛ばしたそうです。私は実家を出てるので見てるしかなくて", "violence_family"),
    # the writer's regret keeps it theirs; so does a relative only lived with, then feared for
    ("息子のことで", "つい殴ってしまいました", "violence_by_me"),
    ("自分35の男で、兄と二人で住んでる", "いつか兄に手を出しそうで怖い", "violence_by_me"),
])
def test_a_hitting_verb_with_no_subject_goes_on_about_the_one_named_a_message_before(first, then, tier):
    assert turns(first, then)[-1].trigger == f"crisis_{tier}"
