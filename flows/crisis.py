"""Crisis and violence detection on the tokens of the language layer (flows/language.py).

The signals are data (messages_ja/crisis.toml), written in understanding.toml's pattern
language: lemmas in order, so every spelling and inflection of a word counts once (kanji, kana,
katakana, dialect endings), negation cancels a signal ("I don't want to die"), and hyperbole,
fiction, resolved feelings and idioms are listed per tier as `unless` patterns with why they exist.

A triage aid, not a diagnosis: it errs towards answering with care. `detect(text)` returns the
most serious tier found and who the message is about; `answer(...)` the message ids to say.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from . import language
from .language import Analysis
from .once import once

CRISIS_FILE = "crisis.toml"
URGENT_TIERS = frozenset({"medical", "harm_others", "urgent", "high", "medium", "violence_partner", "violence_family",
                          "violence_by_me"})
SELF_HARM_TIERS = frozenset({"medical", "harm_others", "urgent", "high", "medium"})
VIOLENCE_TIERS = frozenset({"violence_partner", "violence_family", "violence_by_me"})
CONJUNCTIVE = language.CONJUNCTIVE
_AGENT = frozenset(language.W["agent_particles"])
_OBJECT = frozenset(language.W["object_particles"])
_PASSIVE_AGENT = frozenset(language.W["passive_agent_particles"])
_SUBJECT = frozenset(language.W["subject_particles"])
_DATIVE = frozenset(language.W["dative_particles"])
_PASSIVE = frozenset(language.W["passive_auxiliaries"])
_OF = language.W["possessive"]         # (mum "of" boyfriend)
_TE = frozenset(language.W["te_particles"])


@dataclass(frozen=True)
class Detection:
    tier: str | None
    about: str | None = None       # child | spouse | parent | sibling | friend: a risk to someone else
    by_parent: bool = False        # violence at home from a parent: the writer is their child
    joking: bool = False           # a wish to die said with a laugh (dropped): asked about, gently
    doubted: bool = False          # found in words the learned model reads as calm: asked about too
    ask: tuple[str, str] = ("ask_risk", "")     # (doubted) the question to ask: its trigger and kind

    @property
    def about_other(self) -> bool:
        return self.about is not None


# The tiers whose finding the learned model may doubt: a wish to die read in words the model finds
# calm (a novel's plot, a game, an idiom the patterns took literally). Never medical (it has
# happened), never urgent (a plan, a means or a farewell is never a joke: "I carry it out tonight.
# thank you for listening" reads calm to the model), never harm to others; violence is not asked
# about as a wish to die.
DOUBTED = ("high", "medium")


# A veto that begins this many words or more from the words it sets aside is the message's context,
# not their phrase: the learned model may overrule it (_Crisis._detect).
VETO_APART = 4

# A message of more sentences than this is never doubted: its risk may be one sentence of many.
DOUBT_MAX_SENTENCES = 6


def doubted(a: Analysis, found: Detection) -> Detection:
    """The patterns' finding, or, for a doubted tier in words the learned model reads as calm
    (risk below classifier.toml risk_doubt in every sentence, each read on its own, so a clear
    wish is not drowned by questions around it: no held-back risk message fell below it), the
    gentle direct question instead of the card, as for a laugh (joking), about the kind of risk
    the model reads there. The caller asks it only where the question will be said, after the
    answer to what else the message asks (flows/machine.py). Never silence."""
    from . import classifier
    from .understanding import risk_question

    if found.tier not in DOUBTED or len(a.sentences) > DOUBT_MAX_SENTENCES:
        return found
    bar = classifier.thresholds().risk_doubt
    if classifier.risk(a) >= bar or any(classifier.risk(a.span(f, e)) >= bar for f, e in a.sentences):
        return found
    asked = risk_question(a, bar=0.0)
    return Detection(None, joking=True, doubted=True, ask=(asked.trigger, asked.arg))


def _model_suspects(a: Analysis) -> bool:
    """The learned model reads a risk in the message (classifier.toml risk_ask: the bar at which
    the bot would ask about it directly)."""
    from . import classifier

    return classifier.risk(a) >= classifier.thresholds().risk_ask


_OPEN, _CLOSE = "(", ")"


def _after_aside(toks, j: int):
    """The word at j, or the first after an honorific ("chan") or an aside in brackets ("(19)")
    that begins there."""
    j = _after_aside_at(toks, j)
    return toks[j] if j < len(toks) else None


def _after_aside_at(toks, j: int) -> int:
    """Where `_after_aside`'s word is (len(toks) when there is none)."""
    if j < len(toks) and toks[j].pos == language.SUFFIX:
        j += 1
    if j < len(toks) and toks[j].surface == _OPEN:
        close = next((k for k in range(j + 1, min(len(toks), j + 8)) if toks[k].surface == _CLOSE), None)
        if close is not None:
            j = close + 1
    return min(j, len(toks))


def _passive_at(toks, j: int) -> bool:
    """Whether the verb at j is passive (its next word a passive auxiliary)."""
    return j + 1 < len(toks) and toks[j + 1].lemma in _PASSIVE


def _head(word: str) -> str:
    """A family word's own lemma, its honorific left off (o-tou-san: tou, not the san that every
    such word ends in, which made any father and mother "both parents")."""
    tokens = [t for t in language.analyse(word).tokens if t.pos != language.SUFFIX] or language.analyse(word).tokens
    return tokens[-1].lemma


class _Crisis:
    def __init__(self, raw: dict):
        from .understanding import Lexicon     # the same pattern language and matcher

        self.order: list[str] = raw["order"]
        self.lexicon = Lexicon({"classes": raw.get("classes", {}), "intents": raw["intents"],
                                "veto_gap": raw.get("veto_gap", 1)})
        self.answers: dict = raw.get("answers", {})
        self.laughing_drops = frozenset(raw.get("laughing_drops", ()))
        self.kana = {tier: tuple(language.fold(k) for k in words) for tier, words in raw.get("kana", {}).items()}
        alone = dict(raw.get("kana_alone", {}))
        self.kana_alone_chars = int(alone.pop("max_chars", 0))
        self.kana_alone = {tier: tuple(language.fold(k) for k in words) for tier, words in alone.items()}
        partner = raw.get("classes", {}).get("partner", ())
        self.parents_partner_kana = tuple(raw.get("parents_partner_kana", ()))
        self.partner = frozenset(_head(w) for w in partner)     # (a compound word: its head, not its suffix)
        self.violence_nouns = frozenset(raw.get("violence_nouns", ()))
        self.fathers = frozenset(_head(w) for w in raw.get("fathers", ()))
        self.mothers = frozenset(_head(w) for w in raw.get("mothers", ()))
        self.contrast = frozenset(raw.get("contrast", ()))
        self.because = frozenset(raw.get("because", ()))
        self.kin_generic = frozenset(_head(w) for w in raw.get("kin_generic", ()))
        self.regret = frozenset(language.analyse(w).tokens[0].lemma for w in raw.get("regret", ()))
        self.unawares = frozenset(language.analyse(w).tokens[0].lemma for w in raw.get("unawares", ()))
        self.writer_is_actor = tuple(raw.get("writer_is_actor", ()))
        self.actor_not_after = tuple(raw.get("actor_not_after", ()))
        self.writer_is_target = tuple(raw.get("writer_is_target", ()))
        self.grabs = frozenset(language.analyse(w).tokens[0].base for w in raw.get("grabs", ()))
        self.hits = frozenset(language.analyse(w).tokens[0].base for w in raw.get("writer_hits", ()))
        self.kin_objects = frozenset(_head(w) for w in raw.get("classes", {}).get("kin", ()))
        about = raw.get("about", {})
        self.marks = frozenset(about.get("marks", ()))
        self.reported = frozenset(language.analyse(w).tokens[0].lemma for w in about.get("reported", ()))
        self.towards = language.analyse(raw["towards"]).tokens[0].lemma
        self.selves = frozenset(language.analyse(w).tokens[0].lemma for w in raw.get("selves", ()))
        self.writer_marks = tuple(raw.get("writer_marks", ()))
        self.about_object = tuple(raw.get("about_object", ()))
        self.clause_ends = frozenset(raw.get("clause_ends", ()))
        self.clause_nouns = frozenset(raw.get("clause_nouns", ()))
        self.writer_wishes = frozenset(raw.get("writer_wishes", ()))     # (lemmas as written: "tai" alone reads as a fish)
        self.roles: dict[str, str] = {}
        for role in ("child", "spouse", "parent", "sibling", "friend"):
            for word in about.get(role, ()):
                tokens = language.analyse(word).tokens
                self.roles[tokens[-1].lemma] = role

    def about(self, a: Analysis, tier: str, start: int | None) -> str | None:
        """Someone else is at risk when a family word (or a friend) is the subject of the message
        and the risk is reported ("my son says he wants to die") or comes after it ("my daughter
        took all her pills"). The writer's own words about their family ("if I were gone my
        parents would be free") are their own risk: the family word comes after the signal."""
        if tier not in SELF_HARM_TIERS:
            return None
        toks = a.tokens
        reported = any(t.lemma in self.reported for t in toks)
        for i, t in enumerate(toks):
            role = self.roles.get(t.lemma)
            if role is None or t.pos not in (language.NOUN, language.PRONOUN):
                continue
            nxt = toks[i + 1].surface if i + 1 < len(toks) else ""
            if nxt in self.marks and (i <= (start if start is not None else -1) or reported):
                return role
        return None

    def detect(self, a: Analysis, window: str | None = None) -> Detection:
        """The gravest tier, who it is about, and whether a parent is the one hurting. `window`
        is the tier answered just before: after family violence, a hitting verb with no subject
        ("grabbed my arm and pushed me") is the same person's act, not the writer's. What comes
        after the last "but" is read on its own too: a denial before it ("I'd like to say I
        don't want to die, but really I do") does not veto the point made after it."""
        found = self._detect(a, window)
        cut = max((i for i, t in enumerate(a.tokens) if t.pos2 == CONJUNCTIVE and t.surface in self.contrast),
                  default=None)
        if cut is not None and len(a.tokens) - cut > 2:
            after = self._detect(Analysis(text=a.text, tokens=a.tokens[cut + 1:], raw=a.raw), window)
            if after.tier and (found.tier is None or graver(after.tier, found.tier)) \
                    and self.lexicon.vetoes_only_denials_before(a, after.tier, cut):
                return after
        return found

    def matches(self, a: Analysis, vetoed: dict | None = None) -> dict[str, tuple[float, int]]:
        """Tier → (score, token where its best pattern begins); a tier's short form is the tier.
        `vetoed`, when given, receives the tiers found and then vetoed (Lexicon.matches)."""
        seen: dict | None = {} if vetoed is not None else None
        found = {name.removesuffix("_short"): hit for name, hit in self.lexicon.matches(a, seen).items()}
        if seen:
            vetoed.update((name.removesuffix("_short"), hit) for name, hit in seen.items())
        return found

    def _detect(self, a: Analysis, window: str | None = None) -> Detection:
        vetoed: dict[str, tuple[float, int]] = {}
        matches = self.matches(a, vetoed)
        found = set(matches)
        reading = a.kana           # (a plain substring test first: the checks below only ever hold inside it)
        found |= {tier for tier, words in self.kana.items()
                  if tier not in found and any(w in reading and (a.kana_written_has(w) or a.kana_has(w) and not a.denies)
                                               for w in words)
                  and not self.lexicon.vetoed(a, tier)}
        if len(a.plain) <= self.kana_alone_chars:     # (a few words, all in kana: kana_alone)
            found |= {tier for tier, words in self.kana_alone.items() if any(a.kana_written_has(w) for w in words)}
        apart = [t for t in self.order if t in vetoed
                 and all(abs(at - vetoed[t][1]) >= VETO_APART for at in vetoed[t][2])]
        if not found and apart and _model_suspects(a):
            # a tier's own words were found, and set aside by a veto word met further on or before
            # (a game's data left to a brother in a farewell, "when I switch the light off" beside
            # "I wish the morning would not come"); the learned model reads a risk there too: the
            # words stand. A veto next to them is their phrase ("jump into the pool"): it holds.
            matches[apart[0]] = vetoed[apart[0]][:2]
            found.add(apart[0])
        # (the table of odd kana splits, shinitaishinitai, reads a kanji word's reading too, unless
        # the message denies something as a topic: "shinitai toka chau de" is left to the patterns)
        joking = False
        if a.laughing:
            joking = bool(found & self.laughing_drops & SELF_HARM_TIERS)
            found -= self.laughing_drops
        at = matches.get("violence_family", (0, None))[1]
        if "violence_family" in found and (self._between_partners(a) and not self._not_the_partner(a, at)
                                           or self._partner_only(a, at)):
            found.add("violence_partner")
        elif "violence_partner" in found and (self._kin_hits(a) or self._kin_only(a) or self._kins_partner(a)):
            found.discard("violence_partner")          # a relative hit, or hitting: the family's violence
            found.add("violence_family")
        said_me = self._says_it_was_me(a) or self._regrets_hitting(a) or self._self_hits(a)
        if found & {"violence_family", "violence_partner"} and (self._writer_acted(a) or said_me):
            found.add("violence_by_me")
        if said_me and "violence_by_me" in found:
            found -= {"violence_family", "violence_partner"}   # "the one hitting is me": the writer's
        elif "violence_by_me" in found and (self._writer_hurt(a) or self._kin_did_it(a, matches.get("violence_by_me", (0, None))[1]) or (
                window in ("violence_family", "violence_partner") and not language.marked(a, self.selves, _SUBJECT))):
            found.discard("violence_by_me")            # the writer is the one hurt
            found.add(window if window in ("violence_family", "violence_partner") else "violence_family")
        for tier in self.order:
            if tier in found:
                by_parent = tier == "violence_family" and self._parent_acted(a)
                return Detection(tier, self.about(a, tier, matches.get(tier, (0, None))[1]), by_parent)
        return Detection(None, joking=joking)

    def _writer_hurt(self, a: Analysis) -> bool:
        """The writer is the object of the hitting ("my arm", "me" + wo, before the verb; a hand
        raised at "me" + ni)."""
        if any(w in a.plain for w in self.writer_is_target):
            return True
        toks = a.tokens
        for i, t in enumerate(toks):
            if t.lemma not in self.selves or t.pos not in (language.PRONOUN, language.NOUN):
                continue
            nxt = toks[i + 1].surface if i + 1 < len(toks) else ""
            after = toks[i + 3].surface if i + 3 < len(toks) else ""
            third = toks[i + 3] if i + 3 < len(toks) else None
            if nxt in _OBJECT or (nxt == language.W["possessive"] and (
                    after in _OBJECT or third is not None and third.base in self.hits | self.grabs)):
                if any(u.base in self.hits | self.grabs for u in toks[i + 1:]):     # ("my scruff grabbed")
                    return True
            if nxt in _PASSIVE_AGENT:        # "kicks (coming at) me": hitting that comes towards the writer
                for j in range(i + 2, len(toks)):
                    if toks[j].base in self.hits and any(u.lemma == self.towards for u in toks[j + 1:j + 4]):
                        return True
            if nxt in _DATIVE:               # "throws things at me" (active): the writer is the target
                j = self._next_hit(toks, i + 2, i + 8)
                if j is not None and not _passive_at(toks, j):
                    return True
        return False

    def _kin_did_it(self, a: Analysis, start: int | None) -> bool:
        """A relative or a partner is the subject of the clause where the writer's own violence was
        read ("my brother argued with dad, grabbed him by the collar and slammed him against the
        wall"; "my husband shouted at his mother and pushed her over"): the
        clause runs back to the sentence's start or to a connector that may change who acts
        (-node, -kara, -kedo; not the -te that chains one person's acts), and the writer is not
        its subject."""
        if start is None:
            return False
        toks = a.tokens
        if any(t.lemma in self.regret for t in toks[start:start + 6]) \
                or any(t.lemma in self.unawares for t in toks[max(0, start - 4):start]):
            return False            # ("...and I ended up dragging her": the -te shimau of one's own act;
                                    # "before I knew it, I had...")
        begin = next((f for f, e in a.sentences if f <= start < e), 0)
        first = start
        while first > begin and not (toks[first - 1].pos2 == CONJUNCTIVE and toks[first - 1].surface not in _TE) \
                and not (first - 2 >= begin and toks[first - 2].surface + toks[first - 1].surface in self.because) \
                and not (first - 2 >= begin and toks[first - 1].surface in _TE and toks[first - 2].pos == language.ADJ):
            first -= 1              # (an adjective's -te is a cause: "my brother was noisy, so I...")
        clause = Analysis(text=a.text, tokens=toks[first:start + 1], raw=a.raw)
        return language.marked(clause, self.kin_objects | self.partner, _SUBJECT) \
            and not language.marked(clause, self.selves, _SUBJECT)

    def _parent_acted(self, a: Analysis) -> bool:
        """A parent is the one hurting (father + ga, hit by mother + ni): the writer is a child."""
        toks = a.tokens
        return any(self.roles.get(t.lemma) == "parent" and i + 1 < len(toks)
                   and toks[i + 1].surface in _SUBJECT | _PASSIVE_AGENT
                   and any(u.base in self.hits for u in toks[i + 2:i + 8]) for i, t in enumerate(toks))

    def _writer_acted(self, a: Analysis) -> bool:
        """The writer hit someone ("I hit my mother"): an active hitting verb with nobody else
        named as the one doing it (no "my son ga ..." before it in the sentence)."""
        toks = a.tokens
        agent = False          # someone else named as acting, earlier in the message
        for i, t in enumerate(toks):
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if t.lemma in self.kin_objects or t.lemma in self.partner:
                nxt = _after_aside(toks, i + 1)     # ("my grandson (19) ga ...")
            if (t.lemma in self.kin_objects or t.lemma in self.partner) and nxt is not None \
                    and (nxt.surface in _SUBJECT | _PASSIVE_AGENT
                         or nxt.surface == language.W["possessive"]
                         and any(u.lemma in self.violence_nouns for u in toks[i + 2:i + 5])):   # "my son's violence"
                agent = True
            if t.base in self.hits and t.pos == language.VERB:
                passive = nxt is not None and nxt.lemma in _PASSIVE
                towards = any(u.lemma == self.towards for u in toks[i + 1:i + 4])    # "throws things at me"
                if not passive and not agent and not towards:
                    return True
        return False

    def named(self, a: Analysis) -> str | None:
        """Who the message names: "partner" (a spouse or partner and no other relative), "kin",
        or None. Kept for the next message, where "kicks me when in a bad mood" has no subject."""
        lemmas = {t.lemma for t in a.tokens}
        if lemmas & self.kin_objects:
            return "kin"
        if lemmas & self.partner:
            return "partner"
        return None

    def _between_partners(self, a: Analysis) -> bool:
        """Violence from a spouse or partner (they are the subject or the agent), unless they are
        hurting a child or another family member (then it is family violence: 189 and so on)."""
        partner = self._partner_acts(a)
        kin_hurt = language.marked(a, self.kin_objects, _OBJECT)             # ... hurting my son: family violence
        kin_acting = language.marked(a, self.kin_objects, _PASSIVE_AGENT)    # hit by my son, my husband looks away
        return partner and not kin_hurt and not kin_acting and not self._kin_hits(a) and not self._a_parents_partner(a) \
            and not self._partner_hurt(a)

    def _partner_acts(self, a: Analysis) -> bool:
        """The partner is the subject or the agent: marked by ga, wa or kara, or by ni before a passive
        hitting verb ("hit by my husband"; not "she throws things at my husband")."""
        return language.marked(a, self.partner, _AGENT - _DATIVE) or self._hit_in_passive(a, self.partner, _DATIVE)

    def _partner_hurt(self, a: Analysis) -> bool:
        """The partner is the subject of a passive hitting verb ("my daughter ran wild, and my wife,
        stepping in, was hit in the face"): the one hurt, not the one hurting."""
        return self._hit_in_passive(a, self.partner, _SUBJECT)

    def _hit_in_passive(self, a: Analysis, who, particles) -> bool:
        """One of `who`, marked by one of `particles`, with a passive hitting verb in the next few words."""
        toks = a.tokens
        for i, t in enumerate(toks):
            if t.lemma in who and i + 1 < len(toks) and toks[i + 1].surface in particles:
                window = toks[i + 2:i + 10]
                if any(u.base in self.hits and j + 1 < len(window) and window[j + 1].lemma in _PASSIVE
                       for j, u in enumerate(window)):
                    return True
        return False

    def _a_parents_partner(self, a: Analysis) -> bool:
        """The partner named is a parent's ("mum's boyfriend hits me"): someone at home hurting the
        writer, the family's violence (a child's lines), not a partner's."""
        if any(language.fold(w) in a.kana for w in self.parents_partner_kana):
            return True
        parents, toks = self.fathers | self.mothers, a.tokens
        return any(t.lemma in self.partner and toks[i - 1].surface == _OF and toks[i - 2].lemma in parents
                   for i, t in enumerate(toks) if i >= 2)

    def _not_the_partner(self, a: Analysis, start: int | None) -> bool:
        """The partner is named only after the sentence where the violence was found ("...grabs
        my arm and pushes me against the wall. My husband works away"), or that sentence has a
        relative doing it ("my son breaks things..."): the family's violence, not the partner's."""
        if start is None:
            return False
        for first, end in a.sentences:
            if first <= start < end:
                upto = Analysis(text=a.text, tokens=a.tokens[:end], raw=a.raw)
                here = Analysis(text=a.text, tokens=a.tokens[first:end], raw=a.raw)
                before = Analysis(text=a.text, tokens=a.tokens[first:start + 1], raw=a.raw)
                acting = lambda part: (language.marked(part, self.kin_objects, _AGENT)  # noqa: E731
                                       and not language.marked(part, self.partner, _AGENT))
                # (a relative acting in that sentence, or before the violence in it: "my son ...
                # dragged me by the hair ... my husband works away")
                return not language.marked(upto, self.partner, _AGENT) or acting(here) or acting(before)
        return False

    def _says_it_was_me(self, a: Analysis) -> bool:
        """The writer says they are the one doing it (writer_is_actor), not right after a passive
        ("the one hit was me")."""
        plain = a.plain
        return any(not plain[:i].endswith(self.actor_not_after)
                   for w in self.writer_is_actor for i in language.occurrences(plain, w))

    def _regrets_hitting(self, a: Analysis) -> bool:
        """A relative or partner named with ni, then an active hitting verb and the writer's
        regret ("yome-san ni te ee agete shimota", "musume ni te o agete shimaimashita"): the
        writer hit them. (Hit by them is passive: "otto ni tatakarete shimatta".)"""
        toks = a.tokens
        for i, t in enumerate(toks):
            if not (t.lemma in self.kin_objects or t.lemma in self.partner):
                continue
            nxt = _after_aside(toks, i + 1)
            if nxt is None or nxt.surface not in _DATIVE:
                continue
            j = self._next_hit(toks, i + 2, i + 6)
            if j is not None and j + 1 < len(toks) and not _passive_at(toks, j) \
                    and any(w.lemma in self.regret for w in toks[j + 1:j + 7]):   # ("nagete kega o sasete shimaimashita")
                return True
        return False

    def _self_hits(self, a: Analysis) -> bool:
        """The writer named as the subject of an active hitting verb ("watashi ga donatte mono o
        nageru", "watashi ga otto ni mono o nagete"): the writer's own act."""
        toks = a.tokens
        for i, t in enumerate(toks):
            if t.lemma not in self.selves or t.pos not in (language.PRONOUN, language.NOUN):
                continue
            if i + 1 >= len(toks) or toks[i + 1].surface not in _SUBJECT:
                continue
            # (not past the end of the writer's own clause: "watashi ga nanika iu to keru")
            j = self._next_hit(toks, i + 2, i + 10, within_clause=True)
            if j is not None:
                return not (_passive_at(toks, j) or any(w.lemma == self.towards for w in toks[j + 1:j + 4]))
        return False

    def _next_hit(self, toks, start: int, stop: int, within_clause: bool = False) -> int | None:
        """Where the first hitting verb from `start` (before `stop`) is; None when there is none,
        or, `within_clause`, when a clause ends first (clause_ends, clause_nouns)."""
        for j in range(start, min(stop, len(toks))):
            u = toks[j]
            if within_clause and (u.surface in self.clause_ends and u.pos2 == CONJUNCTIVE or u.surface in self.clause_nouns):
                return None
            if u.base in self.hits and u.pos == language.VERB:
                return j
        return None

    def _kins_partner(self, a: Analysis) -> bool:
        """A relative's partner ("mum's boyfriend"): not the writer's partner, a member of the
        household hurting them."""
        toks = a.tokens
        return any(t.lemma in self.partner and i >= 2 and toks[i - 1].surface == language.W["possessive"]
                   and toks[i - 2].lemma in self.kin_objects for i, t in enumerate(toks))

    def _kin_only(self, a: Analysis) -> bool:
        """A relative named and no spouse or partner at all ("my child … strangled me"): what a
        partner-only pattern found is the family's violence."""
        lemmas = {t.lemma for t in a.tokens}
        parents = bool(lemmas & self.fathers) and bool(lemmas & self.mothers)     # (between the parents)
        return bool(lemmas & self.kin_objects - self.kin_generic) and not lemmas & self.partner and not parents

    def _partner_only(self, a: Analysis, start: int | None) -> bool:
        """A partner named before the violence (at `start`) and no relative at all ("living with my
        boyfriend … when he is in a mood I get hit"): the partner's violence (the mirror of _kin_only)."""
        lemmas = {t.lemma for t in a.tokens}
        return start is not None and any(t.lemma in self.partner for t in a.tokens[:start]) \
            and not lemmas & self.kin_objects - self.kin_generic and not self._a_parents_partner(a)

    def _kin_hits(self, a: Analysis) -> bool:
        """A relative is the subject of a hitting verb, hitting ("when my husband tells him off, my
        son goes for him") or hit ("my brother is hit by my husband"): violence in the family,
        even with a partner named."""
        toks = a.tokens
        for i, t in enumerate(toks):
            if t.lemma in self.kin_objects and i + 1 < len(toks) and toks[i + 1].surface in _SUBJECT:
                if any(u.base in self.hits and u.pos == language.VERB for u in toks[i + 2:i + 10]):
                    return True
        # "strangled by my sister": a relative doing it, in the passive
        return self._hit_in_passive(a, self.kin_objects, _PASSIVE_AGENT)


@once
def _crisis() -> _Crisis:
    return _Crisis(tomllib.loads(resources.files("messages_ja").joinpath(CRISIS_FILE).read_text("utf-8")))


def detect(text: str | Analysis, window: str | None = None) -> Detection:
    """The most serious signal in a message (an Analysis, or text analysed here); `window` is
    the tier answered just before, if its answer is still fresh."""
    if not text:
        return Detection(None)
    a = text if isinstance(text, Analysis) else language.analyse(text)
    if not a.tokens:
        return Detection(None)
    return _crisis().detect(a, window)


def found_at(a: Analysis, tier: str) -> int | None:
    """Where the last word of the message that finds this tier by a pattern begins (token), or
    None (found by no pattern of its own: the odd-kana table, a rule)."""
    hit = _crisis().matches(a).get(tier)
    return None if hit is None else hit[1]


def named(a: Analysis) -> str | None:
    """Who a message names: "partner", "kin" or None (see _Crisis.named)."""
    return _crisis().named(a)


def writer_owns(a: Analysis) -> bool:
    """The writer says the hitting is theirs in this message: in so many words (writer_is_actor),
    with their regret ("... shimatta"), naming themselves so ("jibun ga", "ore no hou"; not
    "watashi wa" beside it, nor "watashi ni"), or wishing or fearing it ("bun-naguri-tai",
    "tsukitobashi-sou"). Otherwise a message with no subject of its own may go on about someone
    named a message before."""
    c = _crisis()
    toks = a.tokens
    return (c._says_it_was_me(a) or any(t.lemma in c.regret for t in toks)
            or any(t.lemma in c.selves and t.pos in (language.PRONOUN, language.NOUN)
                   and "".join(u.surface for u in toks[i + 1:i + 4]).startswith(c.writer_marks)
                   for i, t in enumerate(toks))   # ("ore no hou", "jibun ga": not "watashi wa")
            or any(t.pos == language.VERB and t.lemma.endswith(tuple(c.hits)) and i + 1 < len(toks)
                   and toks[i + 1].lemma in c.writer_wishes for i, t in enumerate(toks)))


def kin_named_as_object(a: Analysis) -> bool:
    """A relative named as the one acted on ("musuko o donatte"): a relative hurt."""
    c = _crisis()
    toks = a.tokens
    return any(t.lemma in c.kin_objects and (j := _after_aside_at(toks, i + 1)) < len(toks)
               and (toks[j].surface in _OBJECT | _DATIVE
                    or "".join(u.surface for u in toks[j:j + 3]).startswith(c.about_object))
               for i, t in enumerate(toks))       # ("musuko o", "musuko no koto o")


def subject_named(a: Analysis, at_end: bool = False) -> bool:
    """Someone other than the writer is named as the subject (a relative or partner + ga/wa);
    `at_end`: as the message's last words, a sentence the next message goes on with ("ane ga",
    "otto ga ne"), not the subject of something said already ("aniki ga urusakute")."""
    c = _crisis()
    toks = a.tokens
    return any((t.lemma in c.kin_objects or t.lemma in c.partner) and (j := _after_aside_at(toks, i + 1)) < len(toks)
               and toks[j].surface in _SUBJECT and (not at_end or all(u.pos in (language.PARTICLE, language.SYMBOL, language.BLANK)
                                                                     for u in toks[j + 1:]))
               for i, t in enumerate(toks))


def kin_acts(a: Analysis) -> bool:
    """A relative is the one hitting (or hit) in this message, by its own words."""
    return _crisis()._kin_hits(a)


def partner_acts(a: Analysis) -> bool:
    """A spouse or partner is the subject or the agent in this message, by its own words."""
    return _crisis()._partner_acts(a)


def graver(a: str, b: str) -> bool:
    """Whether tier a is more serious than tier b (crisis.toml's order)."""
    order = _crisis().order
    return order.index(a) < order.index(b)


def normalise(text: str) -> str:
    """What the detector reads of a text (for tests and tools): the prepared text."""
    return language.prepare(text)


def tiers() -> list[str]:
    return list(_crisis().order)


def answer(tier: str, *, family: bool, in_handoff: bool, on_duty: bool, youth: bool = False) -> tuple[str, ...]:
    """The message ids said for a tier (messages_ja/crisis.toml [answers]): to the person, to a
    family member writing about someone, to a young person hurt by a parent (youth), or while a
    counselor holds the conversation."""
    spec = _crisis().answers[tier]
    ids = spec["handoff"] if in_handoff else (
        (spec.get("family") if family else None) or (spec.get("youth") if youth else None) or spec["self"])
    choose = _crisis().answers["choose"]
    return tuple(choose[m][0 if on_duty else 1] if m in choose else m for m in ids)


def choices(*, on_duty: bool) -> str:
    """The quick replies after a crisis answer: a person now, or (off duty) leaving a message."""
    return "crisis" if on_duty else "crisis_off"


def all_answer_ids() -> set[str]:
    """Every message id a crisis answer may say (for the catalogue's checks)."""
    out: set[str] = set()
    answers = _crisis().answers
    for tier in _crisis().order:
        for ids in answers[tier].values():
            for m in ids:
                out.update(answers["choose"].get(m, [m]))
    return out
