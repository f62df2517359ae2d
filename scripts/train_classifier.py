"""Trains the learned second opinion (flows/classifier.py) and chooses its thresholds.

    python scripts/train_classifier.py            # writes flows/classifier.npz and flows/classifier.toml
    python scripts/train_classifier.py --check    # writes nothing; exits 1 if the shipped files differ

Needs scikit-learn (the `dev` extra); the bot never does. From tests/data's two corpora:

- intents: each distinct text of understanding_corpus.tsv with its intent ("none" included);
- risk: each distinct text of crisis_corpus.tsv (any tier but "none" is a risk) and of
  understanding_corpus.tsv as a calm example, except its family_violence rows: several describe
  the violence itself ("a daughter hits me"), which crisis_corpus.tsv calls a risk, so they would
  teach the model both answers; the crisis patterns keep that tier.

Each corpus is cut in four (stratified by label, fixed seed); each quarter is held back once
and read by a model trained on the other three, applied through flows/classifier.py exactly as
the bot applies it; the thresholds are chosen on every row's held-back reading (one held-back
quarter alone moved them at every retraining); then the model that ships is trained on every
row with the same settings.
Reproducible: the same corpora give the same files byte for byte (lbfgs is deterministic; the
weights are stored as float16, so a different BLAS could at most move a last rounding digit).
"""
from __future__ import annotations

import argparse
import io
import warnings
import sys
import zipfile
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows import classifier  # noqa: E402
from flows.language import analyse  # noqa: E402
from tests.corpus import DATA, crisis_rows, understanding_rows  # noqa: E402

SEED = 0
FOLDS = 4                  # every row held back once, by a model trained on the other three quarters: the
                           # bands are chosen on all of them (one held-back quarter moved them at every retraining)
C = 100.0                  # weak regularisation: the corpora are small and clean (benchmarks/classifier.py)
MIN_DF = 2                 # a feature seen in one message only is a name or a typo, not a signal
NOT_CALM = "family_violence"
# What the bands must do on the held-back rows:
ANSWER_PRECISION = 0.95    # answered intents right at least this often (where the patterns found nothing)
ANSWER_FLOOR = 0.10        # and never below this: at 0.05, one retraining answered eight of the corpus' unrelated
                           # messages ("is there a convenience store near?" as local help, "how do I clear my
                           # browser history" as forget-me); the precision counts every held-back row together
OVERRULE_PRECISION = 0.97  # where the patterns found another intent, the model's answer is taken only at a
                           # confidence whose held-back answers were right at least this often
OVERRULE_FLOOR = 0.30      # and never below this: the precision is read on every held-back row, not on those the
                           # patterns read otherwise, where the model is weaker (at 0.20, one retraining took a
                           # wait asked after leaving a message, "will you see it once day breaks?", for sleep)
ASK_TOP_TWO = 0.70         # in the ask band, the meant intent among the two offered at least this often
                           # (a question with a way out costs less than a wrong answer or a fallback)
RISK_FALSE_ALARMS = 0.02   # risk asked about on at most this share of calm messages (recall as high as that allows;
                           # 5 % asked a fifth of the first independent set's calm near-misses, hyperbole and games)
GRID = [round(0.05 * i, 2) for i in range(1, 20)]
DOUBT_GRID = [round(0.01 * i, 2) for i in range(1, 6)]     # at most 0.05: the model must be that sure it is calm
DOUBT_MISSES = 0.002       # held-back wishes to die below risk_doubt (asked about, not carded): at most this share
                           # (none at all let one odd message of thousands set it)
FINE_GRID = [round(0.01 * i, 2) for i in range(1, 100)]
BESIDE_FALSE_ALARMS = 0.005  # a risk asked about beside a need the patterns understood: on at most this share of calm messages


# -- data -----------------------------------------------------------------------------------------
def corpora() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(understanding (text, intent), crisis (text, tier)), each text once; a crisis text that is
    also in the understanding corpus counts there (the five such are calm in both)."""
    intents: dict[str, str] = {}
    for r in understanding_rows() + [r for name in independent("first_messages") for r in understanding_rows(name)]:
        intents.setdefault(r.text, r.label)
    tiers: dict[str, str] = {}
    for r in crisis_rows() + [r for name in independent("risk") for r in crisis_rows(name)]:
        if r.text not in intents:
            tiers.setdefault(r.text, r.label)
    return list(intents.items()), list(tiers.items())


def independent(kind: str) -> list[str]:
    """The independent sets of this kind (tests/data/independent/), oldest first: each was scored
    on first contact before it was added here, so a set's figure is always from a model (and
    patterns) that had never seen it."""
    # (by length, then name: 2026-12aa comes after 2026-12z)
    return [f"independent/{p.name}" for p in sorted((DATA / "independent").glob(f"{kind}_*.tsv"),
                                                    key=lambda p: (len(p.name), p.name))]


def folds(rows: list[tuple[str, str]]) -> list[tuple[list, list]]:
    """FOLDS (train, held back) splits, stratified by label with a fixed seed: each row is held
    back exactly once."""
    labels = [label for _, label in rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)     # (a label with fewer rows than folds)
        splits = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(rows, labels)
        return [([rows[i] for i in train], [rows[i] for i in held]) for train, held in splits]


def risk_rows(understanding, crisis) -> list[tuple[str, int]]:
    return ([(text, int(tier != "none")) for text, tier in crisis]
            + [(text, 0) for text, intent in understanding if intent != NOT_CALM])


# -- training -------------------------------------------------------------------------------------
def vectors(understanding, crisis, analysed: dict, features=classifier.features):
    """The features' idf from every text, and the intents' and risk's rows as vectors:
    (vectorizer, X intents, intent labels, X risk, risk labels)."""
    risky = risk_rows(understanding, crisis)
    vec = TfidfVectorizer(analyzer=features, binary=True, min_df=MIN_DF)
    vec.fit([analysed[text] for text, _ in understanding + crisis])
    return (vec, vec.transform([analysed[text] for text, _ in understanding]), [label for _, label in understanding],
            vec.transform([analysed[text] for text, _ in risky]), [y for _, y in risky])


def fit(understanding, crisis, analysed: dict, features=classifier.features) -> dict:
    """The two models on these rows, as the arrays flows/classifier.Model reads."""
    vec, X, labels, Xr, yr = vectors(understanding, crisis, analysed, features)
    intent = LogisticRegression(C=C, class_weight="balanced", max_iter=10_000, tol=1e-6).fit(X, labels)
    risk = LogisticRegression(C=C, class_weight="balanced", max_iter=10_000, tol=1e-6).fit(Xr, yr)
    # which tier, learned on the risk rows only (asked when the risk is suspected: the ask names it)
    risky = [(text, tier) for text, tier in crisis if tier != "none"]
    tier = LogisticRegression(C=C, class_weight="balanced", max_iter=10_000, tol=1e-6).fit(
        vec.transform([analysed[text] for text, _ in risky]), [t for _, t in risky])
    names = vec.get_feature_names_out()
    assert not any("\n" in n for n in names)
    idf = vec.idf_
    weights = np.hstack([intent.coef_.T, risk.coef_.T, tier.coef_.T]) * idf[:, None]
    return {
        "features": np.frombuffer("\n".join(names).encode("utf-8"), dtype=np.uint8),
        "labels": np.frombuffer("\n".join(intent.classes_).encode("utf-8"), dtype=np.uint8),
        "tiers": np.frombuffer("\n".join(tier.classes_).encode("utf-8"), dtype=np.uint8),
        "weights": weights.astype(np.float16),
        "idf2": (idf ** 2).astype(np.float32),
        "bias": np.hstack([intent.intercept_, risk.intercept_, tier.intercept_]).astype(np.float32),
    }


def npz_bytes(arrays: dict) -> bytes:
    """numpy's .npz (a zip of .npy files), written with fixed dates and order so the same
    arrays give the same bytes (np.savez stamps the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, npy.getvalue(), compresslevel=9)
    return out.getvalue()


# -- thresholds -----------------------------------------------------------------------------------
def offered(ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The intents the bot could name: the ranking without "none"."""
    return [(label, p) for label, p in ranked if label != "none"]


def intent_scored(model, held) -> list[tuple]:
    """Each held-back row as the model reads it: (label, its top intent, the best offered intent's
    p, the two best offered)."""
    scored = []
    for text, label in held:
        ranked = model.scores(analyse(text))[0]
        best = offered(ranked)
        scored.append((label, ranked[0][0], best[0][1], [lab for lab, _ in best[:2]]))
    return scored


def intent_bands(scored: list[tuple]) -> tuple[float, float, float, list[str]]:
    """intent_answer: the lowest threshold whose answers are right ANSWER_PRECISION of the time;
    intent_ask: the lowest below it whose band offers the meant intent among its two ASK_TOP_TWO
    of the time; intent_overrule: the lowest whose answers are right OVERRULE_PRECISION of the
    time. Returns them and the report lines."""
    top1 = sum(label == top for label, top, _, _ in scored) / len(scored)
    answered = lambda lo, hi: [s for s in scored if s[1] != "none" and lo <= s[2] < hi]  # noqa: E731
    # The bot answers the best intent other than "none" from intent_answer up even where "none"
    # ranks first (flows/understanding.py second_opinion): so does this band, and it is right
    # when that best intent is the meant one (a message about something else is then answered wrong).
    given = lambda t: [s for s in scored if s[2] >= t]  # noqa: E731
    answer = max(ANSWER_FLOOR, next((t for t in GRID if (b := given(t)) and sum(s[0] == s[3][0] for s in b) / len(b)
                                     >= ANSWER_PRECISION), 1.0))
    # (the band as a whole: a thin slice just under `answer` that misses once in a few held-back
    # messages does not close a band that offers the meant intent ASK_TOP_TWO of the time)
    ask = min((t for t in GRID if t < answer and (band := answered(t, answer))
               and sum(s[0] in s[3] for s in band) / len(band) >= ASK_TOP_TWO), default=answer)
    overrule = max(OVERRULE_FLOOR, next((t for t in GRID if (b := answered(t, 2)) and sum(s[0] == s[1] for s in b)
                                         / len(b) >= OVERRULE_PRECISION), 1.0))
    o_band = answered(overrule, 2)
    a_band, k_band = given(answer), answered(ask, answer)
    rest = len(scored) - len(a_band) - len(k_band)
    pct = lambda n, d: f"{n / d:.1%}" if d else "-"  # noqa: E731
    lines = [
        f"intents, held back {len(scored)} (each row once, {FOLDS} folds): top-1 accuracy {top1:.1%} (\"none\" included)",
        f"  answer  p >= {answer:.2f}: {len(a_band)} messages ({len(a_band) / len(scored):.0%}), "
        f"precision {pct(sum(s[0] == s[3][0] for s in a_band), len(a_band))}",
        f"  ask {ask:.2f} <= p < {answer:.2f}: {len(k_band)} messages ({len(k_band) / len(scored):.0%}), "
        f"meant intent among the two offered {pct(sum(s[0] in s[3] for s in k_band), len(k_band))}, "
        f"best one right {pct(sum(s[0] == s[1] for s in k_band), len(k_band))}",
        f"  overrule p >= {overrule:.2f}: {len(o_band)} messages ({len(o_band) / len(scored):.0%}), "
        f"precision {pct(sum(s[0] == s[1] for s in o_band), len(o_band))}",
        f"  silent: {rest} messages ({rest / len(scored):.0%}), of them labelled none "
        f"{pct(sum(s[0] == 'none' for s in scored if s not in a_band and s not in k_band), rest)}",
    ]
    return answer, ask, overrule, lines


def risk_scored(model, held_crisis, held_understanding) -> list[tuple]:
    """Each held-back row as the model reads it: (tier, corpus, risk p, found by the patterns,
    the kind the model would ask about)."""
    from flows.crisis import detect
    from flows.understanding import ask_kind

    rows = ([(text, tier, "crisis") for text, tier in held_crisis]
            + [(text, "none", "understanding") for text, intent in held_understanding if intent != NOT_CALM])
    return [(tier, kind, model.scores(a := analyse(text))[1], bool(detect(text).tier), ask_kind(model.tiers(a)[0][0]))
            for text, tier, kind in rows]


def risk_band(scored: list[tuple]) -> tuple[float, float, float, list[str]]:
    """risk_ask: the lowest threshold whose false alarms on the held-back calm messages stay
    within RISK_FALSE_ALARMS (so recall is as high as that allows); risk_beside: the same within
    BESIDE_FALSE_ALARMS (asked beside a need the patterns understood); risk_doubt: the highest (of
    DOUBT_GRID) below which at most DOUBT_MISSES of the held-back risk messages of the tiers the model may doubt fall."""
    from flows import crisis
    from flows.understanding import ask_kind

    risky = [s for s in scored if s[0] != "none"]
    calm = [s for s in scored if s[0] == "none"]
    alarms = lambda t, group: sum(s[2] >= t for s in group) / len(group)   # share at or above t  # noqa: E731
    ask = next((t for t in GRID if alarms(t, calm) <= RISK_FALSE_ALARMS), 1.0)
    beside = next((t for t in FINE_GRID if t >= ask and alarms(t, calm) <= BESIDE_FALSE_ALARMS), 1.0)
    doubted = [s for s in risky if s[0] in crisis.DOUBTED]
    doubt = max((t for t in DOUBT_GRID if sum(s[2] < t for s in doubted) <= DOUBT_MISSES * len(doubted)), default=0.0)
    hard = [s for s in calm if s[1] == "crisis"]
    found = lambda group: sum(s[2] >= ask for s in group) / len(group)  # noqa: E731
    either = sum(s[2] >= ask or s[3] for s in risky) / len(risky)
    either_fa = sum(s[2] >= ask or s[3] for s in calm) / len(calm)
    tiers = sorted({s[0] for s in risky})
    asked = [(s[0], s[4]) for s in risky if s[2] >= ask]
    kinds = sorted({ask_kind(t) for t, _ in asked})
    lines = [
        f"risk, held back {len(risky)} risk and {len(calm)} calm ({len(hard)} of them hard: hyperbole, games, news...):",
        f"  ask p >= {ask:.2f}: recall {found(risky):.1%}; false alarms {alarms(ask, calm):.1%} "
        f"(hard calm {alarms(ask, hard):.1%}, everyday {alarms(ask, [s for s in calm if s[1] != 'crisis']):.1%})",
        "  recall per tier: " + ", ".join(f"{t} {found([s for s in risky if s[0] == t]):.0%}" for t in tiers),
        "  other thresholds: " + "; ".join(f"p >= {t:.2f} recall {alarms(t, risky):.1%}, false alarms "
                                           f"{alarms(t, calm):.1%} (hard {alarms(t, hard):.1%})" for t in (0.2, 0.5, 0.7)),
        f"  doubt p < {doubt:.2f}: {sum(s[2] < doubt for s in doubted)} of the {len(doubted)} held-back messages of the tiers {', '.join(crisis.DOUBTED)} "
        f"(the lowest {min(s[2] for s in doubted):.3f}); patterns' alarms on calm messages below it: "
        f"{sum(s[3] and s[2] < doubt for s in calm)} of {sum(s[3] for s in calm)}",
        f"  ask beside a need the patterns understood, p >= {beside:.2f}: recall {alarms(beside, risky):.1%}; "
        f"false alarms {alarms(beside, calm):.1%} (hard calm {alarms(beside, hard):.1%})",
        f"  asked about the right kind (a wish to die, an emergency, violence at home, fear of hurting): "
        f"{sum(ask_kind(t) == k for t, k in asked) / max(1, len(asked)):.1%} of {len(asked)}; "
        + ", ".join(f"{k} {sum(ask_kind(t) == k2 == k for t, k2 in asked)}/{sum(ask_kind(t) == k for t, _ in asked)}"
                    for k in kinds),
        f"  patterns or model: recall {either:.1%}, false alarms {either_fa:.1%} "
        f"(patterns alone {sum(s[3] for s in risky) / len(risky):.1%}, {sum(s[3] for s in calm) / len(calm):.1%}; "
        "the patterns were written on these rows)",
    ]
    return ask, beside, doubt, lines


def thresholds_toml(answer: float, ask: float, overrule: float, risk: float, beside: float, doubt: float,
                    lines: list[str]) -> str:
    notes = "\n".join(f"#   {line}" for line in lines)
    return f"""# flows/classifier.py's bands. Written by scripts/train_classifier.py: run it again rather than
# editing (it chooses them on every row of tests/data held back once, in {FOLDS} folds, seed {SEED}):
#   intent_answer: the lowest p (not below {ANSWER_FLOOR:.2f}) whose answers were right >= {ANSWER_PRECISION:.0%} of the time
#   intent_ask: the lowest p below it whose band had the meant intent among its best two >= {ASK_TOP_TWO:.0%}
#   intent_overrule: the lowest p (not below {OVERRULE_FLOOR:.2f}) whose answers were right >= {OVERRULE_PRECISION:.0%} of the time (the model's
#     intent is taken over another the patterns found; flows/understanding.py overrule())
#   risk_ask: the lowest p with <= {RISK_FALSE_ALARMS:.0%} false alarms on calm messages (recall-oriented)
#   risk_beside: the lowest p with <= {BESIDE_FALSE_ALARMS:.1%} false alarms on calm messages: asked after the answer to
#     a need the patterns understood (they read the message as something calm: a stronger suspicion is needed)
#   risk_doubt: the highest p (0.01 to 0.05) below which at most {DOUBT_MISSES:.1%} of the held-back risk messages of the tiers the model may
#     doubt fall: a wish to die the patterns find in words the model reads as calm is asked about, not carded
# Held back:
{notes}
intent_answer = {answer:.2f}
intent_ask = {ask:.2f}
intent_overrule = {overrule:.2f}
risk_ask = {risk:.2f}
risk_beside = {beside:.2f}
risk_doubt = {doubt:.2f}
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if the shipped files differ")
    args = ap.parse_args()
    understanding, crisis = corpora()
    analysed = {text: analyse(text) for text, _ in understanding + crisis}
    u_scored, r_scored = [], []
    for (u_train, u_held), (c_train, c_held) in zip(folds(understanding), folds(crisis)):
        trial = classifier.Model(fit(u_train, c_train, analysed))
        u_scored += intent_scored(trial, u_held)
        r_scored += risk_scored(trial, c_held, u_held)
    answer, ask, overrule, lines = intent_bands(u_scored)
    risk, beside, doubt, more = risk_band(r_scored)
    lines += more
    print("\n".join(lines))
    arrays = fit(understanding, crisis, analysed)
    shipped = classifier.Model(arrays)
    right = sum(shipped.scores(analysed[t])[0][0][0] == label for t, label in understanding) / len(understanding)
    lines.append(f"the shipped model (every row) on its own training rows: intents {right:.1%}")
    print(lines[-1])
    files = {ROOT / "flows" / classifier.MODEL_FILE: npz_bytes(arrays),
             ROOT / "flows" / classifier.THRESHOLDS_FILE: thresholds_toml(answer, ask, overrule, risk, beside, doubt, lines).encode("utf-8")}
    if args.check:
        differ = [p.name for p, data in files.items() if not p.exists() or p.read_bytes() != data]
        print("differs: " + ", ".join(differ) if differ else "the shipped files are reproduced byte for byte")
        return 1 if differ else 0
    for path, data in files.items():
        path.write_bytes(data)
        print(f"wrote {path.relative_to(ROOT)} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
