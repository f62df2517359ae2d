"""Understanding what people type (flows/understanding.py over flows/language.py): the labelled
corpus as a table, each intent's own examples, and conversations where words, not buttons, lead.
Pure: no Redis, no network."""
import pytest

import messages_ja
from flows import Event, crisis, handle
from flows.language import analyse
from flows.understanding import lexicon, understand
from tests.corpus import score_understanding, understanding_rows

ROWS = understanding_rows()


def test_the_corpus_is_big_and_varied():
    labels = {r.label for r in ROWS}
    assert len(ROWS) >= 500
    assert sum(r.label == "none" for r in ROWS) >= 80          # hard negatives and unrelated talk
    assert labels >= set(name.removesuffix("_short").removesuffix("_soft") for name in lexicon().intents)


def test_the_corpus_is_understood():
    accuracy, table, misses = score_understanding(ROWS)
    report = "\n".join(f"{r.label} -> {got}: {r.text}" for r, got, _ in misses)
    assert accuracy >= 0.95, report
    # no intent is left behind, and "not understood" is kept for what is truly unrelated
    for label, (precision, recall, n) in table.items():
        assert recall >= 0.75 or n < 4, (label, recall, report)
    assert table["none"][0] >= 0.8      # most fallbacks are for unrelated messages


@pytest.mark.parametrize("name", list(lexicon().intents))
def test_each_intents_examples(name):
    spec = lexicon().intents[name]
    state = (spec.get("states") or ["lane_other"])[0]
    data = {"asked": "handoff_confirm"} if name in ("yes", "no") else {}
    if spec.get("asked"):
        data["asked"] = spec["asked"][0]          # said only as the answer to that question
    if spec.get("window"):
        data["window"] = spec["window"][0]        # said only right after that crisis answer
    for text in spec.get("examples", ()):
        assert understand(analyse(text), state, data).intent == name, text


def say(state, text, ctx=None):
    out = handle(state, Event("text", text=text), 1000.0, ctx=ctx or {"on_duty": True, "next_open": "N"})
    return out, [m for r in out.replies for m in r.say]


@pytest.mark.parametrize("text,ids,lane", [
    ("相談って無料？", ["answer.cost"], None),
    ("名前言わなくていい？", ["answer.anonymous"], None),
    ("家族に知られない？", ["answer.family_finds_out"], None),
    ("病院に行ったほうがいい？", ["answer.illness"], None),
    ("働かないとだめ？", ["answer.work"], None),
    ("私の育て方のせい？", ["answer.my_fault"], None),
    ("引き出し屋って大丈夫なんですか", ["answer.hikidashiya"], None),
    ("ひきこもりってなに", ["info.about.self"], None),
    ("引きこもりってなに", ["info.about.self"], None),
    ("電話で話せますか", ["answer.phone"], None),
    # (a life told, then "what should I do…": heard, and how families can respond)
    ("娘が高校をやめてから3年、部屋から出てきません。どうしたら…", ["answer.heard_family", "family.guide"], "family"),
    ("もう2年くらい家から出てない", ["answer.heard_self"], "self"),
])
def test_questions_in_peoples_own_words_get_their_answer(text, ids, lane):
    out, said = say({"state": "choosing"}, text)
    assert said == ids
    assert out.state.get("lane") == lane
    for reply in out.replies:
        messages_ja.render(reply)          # every answer renders within LINE's limits


@pytest.mark.parametrize("text,topic", [
    ("相談って無料ですか", "cost"), ("名前は言わなくていいですか", "anonymous"), ("親にバレたりしない？", "family_finds_out"),
    ("これって甘えなのかな", "lazy"), ("病院に行ったほうがいいですか", "illness"), ("働かないとだめですか", "work"),
    ("私の育て方のせいでしょうか", "my_fault"), ("子どもに何て声をかければいいですか", "what_to_say"),
    ("引き出し屋に頼むか迷っています", "hikidashiya"), ("中学生の子が不登校です。相談できますか", "school"),
    ("親が死んだらお金はどうなるの", "money_future"), ("昼夜逆転してゲームばかりです", "sleep_games"),
    ("ここって何をするところですか", "what_is_this"), ("電話で相談できますか", "phone"),
])
@pytest.mark.parametrize("lane", ["self", "family"])
def test_every_answer_page_in_both_lanes(text, topic, lane):
    out, said = say({"state": f"lane_{lane}", "lane": lane}, text)
    family = f"answer.{topic}.family"
    assert said == [family if lane == "family" and family in messages_ja.catalog().messages else f"answer.{topic}"]
    assert out.state["state"] == f"lane_{lane}" and topic in out.state["topics"]
    rendered = messages_ja.render(out.replies[-1])
    assert "人と話したい" in [q["label"] for q in rendered[-1]["quick"]]


def test_a_parent_asking_gets_the_family_wording_and_keeps_the_family_lane():
    out, said = say({"state": "choosing"}, "息子のことですが、病院に連れて行ったほうがいいでしょうか")
    assert said == ["answer.illness.family"] and out.state["lane"] == "family"
    assert out.state["state"] == "lane_family"


@pytest.mark.parametrize("text", ["誰か話せる人いますか", "人と話したいんですけど", "相談員と話せる？", "たすけて",
                                  "話を聞いてほしい", "今から誰かと話せませんか"])
def test_asking_for_a_person_in_many_ways(text):
    out, said = say({"state": "lane_self", "lane": "self"}, text)
    assert said == ["handoff.confirm"] and out.state["state"] == "handoff_confirm"


@pytest.mark.parametrize("text,pref", [("神戸に住んでいます", "28"), ("千葉で相談できるところ", "12"),
                                       ("さいたま市です", "11"), ("金沢", "17"), ("とうきょう", "13")])
def test_a_place_in_a_sentence_gives_its_windows(text, pref):
    out, said = say({"state": "lane_family", "lane": "family"}, text)
    assert out.state["pref"] == pref
    assert said[0].startswith(("local.pref.", "local.city.")) and said[-1] == "local.national"


def test_nobody_on_duty_is_said_first_before_any_confirmation():
    out, said = say({"state": "lane_self", "lane": "self"}, "人と話したい", ctx={"on_duty": False, "next_open": "N"})
    assert said == ["handoff.off_duty_first"]
    text = messages_ja.render(out.replies[0])[0]["text"]
    assert "N" in text and "0120-279-338" in text
    labels = [q["label"] for q in messages_ja.render(out.replies[0])[-1]["quick"]]
    assert labels == ["残す・書いたことも見せる", "残す・これまでは見せない", "やめておく"]
    left, said = say(out.state, "はい", ctx={"on_duty": False, "next_open": "N"})
    assert left.state["state"] == "message_left" and said == ["handoff.leave_message"]   # not said twice


@pytest.mark.parametrize("no", ["いいえ", "今はいい", "やっぱりいいです"])
def test_declining_keeps_the_lane(no):
    s, _ = say({"state": "lane_family", "lane": "family"}, "人と話したい")
    out, said = say(s.state, no)
    assert said == ["handoff.declined"] and out.state["state"] == "lane_family"
    labels = [q["label"] for q in messages_ja.render(out.replies[-1])[-1]["quick"]]
    assert "家族にできること" in labels


def test_yes_means_what_was_just_asked():
    s, _ = say({"state": "lane_self", "lane": "self"}, "記録を消して")
    out, _ = say(s.state, "はい")
    assert [e["type"] for e in out.effects] == ["forget"]
    crisis = handle(None, Event("text", text="死にたい"), 0).state
    out, _ = say(crisis, "はい")
    assert out.state["state"] == "waiting" and out.effects[0]["type"] == "handoff_request"


def test_forgetting_says_what_is_and_is_not_deleted():
    out, said = say({"state": "lane_self"}, "記録を消して")
    text = messages_ja.render(out.replies[0])[0]["text"]
    assert said == ["forget.confirm"] and "LINE" in text and "トーク" in text


def test_while_waiting_the_first_message_is_acknowledged_once_and_asking_how_long_is_answered():
    waiting = {"state": "waiting", "handoff": "h1"}
    first, said = say(waiting, "よろしくお願いします")
    assert said == ["handoff.relay_ack"] and first.effects[0]["type"] == "relay"
    second, said = say(first.state, "実は息子のことで")
    assert said == [] and second.effects[0]["type"] == "relay"
    ctx = {"on_duty": True, "queue_position": 3, "wait": "W"}
    how_long, said = say(second.state, "まだですか", ctx=ctx)
    assert said == ["handoff.wait_status"]
    assert [e["type"] for e in how_long.effects] == ["queue_status", "relay"]   # the counselor sees it too
    assert "3" in messages_ja.render(how_long.replies[0])[0]["text"]


def test_not_understood_is_gentle_never_twice_the_same_and_offers_a_person_after_two_misses():
    state = {"state": "lane_self", "lane": "self"}
    seen = []
    for text in ["ぴよぴよ", "ぽよぽよ", "ぷよぷよ", "ぺよぺよ"]:
        out, said = say(state, text)
        state = out.state
        seen.append(said[0])
        labels = [q["label"] for q in messages_ja.render(out.replies[-1])[-1]["quick"]]
        assert "人と話したい" in labels and "近くの窓口をさがす" in labels    # the lane's own menu
        assert out.state["state"] == "lane_self"
    assert all(a != b for a, b in zip(seen, seen[1:]))
    assert seen[0].startswith("fallback.text") and seen[1].startswith("fallback.offer")
    understood, _ = say(state, "ひきこもりってなに")
    assert "misses" not in understood.state


def test_a_long_message_not_understood_is_thanked_for():
    out, said = say({"state": "choosing"}, "今日は雨がずっと降っていて、近所の猫が軒下で雨宿りしていたので、しばらく窓から一緒に眺めていました")
    assert said == ["fallback.long"]


def test_what_only_the_model_suspects_is_asked_about_never_answered_with_the_crisis_card():
    from flows import classifier

    text = "もう何もかも嫌になった"          # no pattern's, but the model's suspicion
    a = analyse(text)
    assert crisis.detect(a).tier is None and classifier.risk(a) >= classifier.thresholds().risk_ask
    out, said = say({"state": "choosing"}, text)
    assert said == ["crisis.ask"] and out.state["asked"] == "ask_risk"
    yes, said = say(out.state, "はい")
    assert yes.trigger == "crisis_high" and "crisis.lines" in said
    no, said = say(out.state, "いいえ")
    assert said == ["crisis.ask_no"] and "crisis" not in no.state


@pytest.mark.parametrize("text,kind,yes", [
    ("さっきからずっと手がしびれて、薬の瓶が空っぽ", "medical", "crisis_medical"),       # an emergency, not a wish
    ("吐き気と目まいがひどい、あの薬のあと", "medical", "crisis_medical"),
])
def test_the_model_asks_about_the_kind_of_risk_it_suspects(text, kind, yes):
    """Not "do you want to die?" to someone who may have taken too much: the question names the
    emergency (119 said inside it), its buttons lead to that tier's answer or back."""
    from flows import classifier

    a = analyse(text)
    assert crisis.detect(a).tier is None and classifier.risk(a) >= classifier.thresholds().risk_ask
    out, said = say({"state": "choosing"}, text)
    assert said == [f"crisis.ask.{kind}"] and out.state["asked"] == f"ask_risk.{kind}"
    assert "119" in messages_ja.catalog().messages[f"crisis.ask.{kind}"]["text"]
    labels = [q["data"] for q in messages_ja.render(out.replies[-1])[-1]["quick"]]
    assert any(d.endswith(yes) for d in labels) and any(d.endswith("want_human") for d in labels)
    typed_yes, said = say(out.state, "はい")
    assert typed_yes.trigger == yes
    maybe, said = say(out.state, "たぶん")                  # a hesitant yes is a yes here
    assert maybe.trigger == yes
    no, said = say(out.state, "いいえ、大丈夫です")
    assert said == ["crisis.ask_no"]


def test_beside_a_need_the_patterns_understood_a_stronger_suspicion_is_needed_to_ask():
    """"Mum keeps coming into my room, it drives me mad; no violence, just annoying": the model
    half-suspects violence (between risk_ask and risk_beside); the patterns read a life told. The
    story is answered, nobody is asked whether they are hit."""
    from flows import classifier
    from flows.understanding import risk_question

    # (phrasings of one story: the model, retrained on each new set, puts some of them in the band)
    texts = ["おかんがいちいち部屋入ってくんのがほんまに嫌やねん。暴力とかはないで、ただうっとおしいだけ",
             "父親がいちいち部屋に入ってきて怒鳴るのがほんまに嫌。手は出されてないけど、うるさいだけ",
             "母がいちいち部屋に入ってくるのが嫌で嫌で仕方ない。叩かれたりはしてない、ただうっとうしい"]
    bands = classifier.thresholds()
    in_band = [t for t in texts if bands.risk_ask <= classifier.risk(analyse(t)) < bands.risk_beside]
    assert in_band
    for text in in_band:
        a = analyse(text)
        assert risk_question(a) is not None and risk_question(a, beside=True) is None
        out, said = say({"state": "lane_self", "lane": "self"}, text)
        assert said == ["answer.heard_self"], text


def test_every_kind_of_ask_has_its_words_and_buttons():
    from flows.understanding import ANSWERS, _ASK_KINDS

    for kind in set(_ASK_KINDS.values()):
        assert f"crisis.ask.{kind}" in messages_ja.catalog().messages
        items = messages_ja.catalog().choices[f"ask_risk.{kind}"]["items"]
        assert ANSWERS[f"ask_risk.{kind}"]["yes"] == items[0]["trigger"]


def test_the_model_overrules_the_patterns_where_it_is_sure_and_that_helps_on_the_corpus():
    """Patterns read "how should the family behave" as "what to say to him"; the model, sure of
    it, answers the family's guide. Over the developer corpus, where the two disagree and the
    model is sure, the model is right more often than the patterns (the model trained on these
    rows: this checks the wiring and the direction, the independent sets measure the gain)."""
    from flows.understanding import overrule

    a = analyse("家族はどういう態度でいればいいですか")
    assert understand(a, "choosing", {}).intent == "q_what_to_say"
    assert overrule(a, "choosing", {}, understand(a, "choosing", {})).intent == "family_guide"
    assert say({"state": "choosing"}, "家族はどういう態度でいればいいですか")[1][0].startswith("family.guide")
    # beside it, a person asked for is still offered (the patterns' other findings are kept)
    assert say({"state": "choosing"}, "人と話したいです。家族はどういう態度でいればいいですか")[1][-1] == "handoff.confirm"
    before = after = changed = 0
    for row in ROWS:
        a = analyse(row.text)
        u = understand(a, "lane_other", {})
        o = overrule(a, "lane_other", {}, u)
        if o is not u:
            changed += 1
            before += u.intent.removesuffix("_short").removesuffix("_soft") == row.label
            after += o.intent == row.label
    assert changed >= 5 and after > 2 * before


def test_each_clause_is_read_by_the_model_too_where_it_is_sure():
    """"Is my child's withdrawal an illness?" in Nagoya dialect, then "and the places near me": the
    patterns find only the second; the model, sure of the first clause, adds its answer."""
    from flows.understanding import sentence_needs

    text = "うちの子のひきこもりって病気なんかね。あと近くで相談できるとこ教えてちょう"
    assert sentence_needs(analyse(text)) == ["q_illness", "find_local"]
    out, said = say({"state": "lane_family", "lane": "family", "pref": "23", "city": "23100"}, text)
    assert said[0] == "local.city.23100" and "answer.illness.family" in said


@pytest.mark.parametrize("text,state,data", [
    ("息子のことで", "choosing", {}),                          # short: a choice the patterns read
    ("担当の方とお話ししたいです", "choosing", {}),              # a request for a person
    ("家族はどういう態度でいればいいですか", "handoff_confirm", {"asked": "handoff_confirm"}),   # a question is open
])
def test_the_model_never_overrules_a_short_choice_a_request_for_a_person_or_an_open_question(text, state, data):
    from flows.understanding import overrule

    a = analyse(text)
    u = understand(a, state, data)
    assert overrule(a, state, data, u) is u


def test_a_wish_to_die_found_in_words_the_model_reads_as_calm_is_asked_about_not_carded():
    """"My brother has not come out of his room for three years; what can the family do, and the
    places in Okinawa": a pattern finds a wish in it, the model reads every sentence as calm; the
    needs answered, then the gentle direct question, never silence."""
    # beside a need understood, that need is answered and the question comes last, with its buttons
    text = "弟が3年部屋から出てこなくて。家族はどうしたらいいのか、あと沖縄で相談できるところも知りたいです"
    assert crisis.detect(text).tier                      # (the patterns' false alarm the model doubts)
    out, said = say({"state": "choosing"}, text)
    assert said[0] == "local.pref.47" and "family.guide" in said and said[-1] == "crisis.ask"
    assert out.replies[-1].choices == "ask_risk" and not any(m.startswith("crisis.lines") for m in said)
    # a medical emergency or harm to others is never doubted, whatever the model reads
    calm = analyse("今日はいい天気ですね")
    for tier in ("medical", "harm_others", "violence_family"):
        assert crisis.doubted(calm, crisis.Detection(tier)).tier == tier
    assert crisis.doubted(calm, crisis.Detection("high")).joking


def test_a_middling_guess_asks_which_of_two_with_a_person_offered():
    out, said = say({"state": "choosing"}, "家のことでちょっと")
    assert said == ["guess.ask"]
    labels = [q["label"] for q in messages_ja.render(out.replies[-1])[-1]["quick"]]
    assert len(labels) == 3 and labels[-1] == "人と話したい"


@pytest.mark.parametrize("text,arg", [("こんにちは", "greeting"), ("ありがとう", "thanks"), ("すみません、急に", "apology"),
                                      ("なんか不安で", "feeling")])
def test_small_talk_is_answered_warmly_with_a_person_offered(text, arg):
    out, said = say({"state": "choosing"}, text)
    assert said == [f"small.{arg}"]
    labels = [q["label"] for q in messages_ja.render(out.replies[-1])[-1]["quick"]]
    assert "人と話したい" in labels
