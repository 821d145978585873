"""Train the safeguarding risk model (filters/models/risk_model.npz) from the corpora's train splits.

    nice -n 19 .venv/bin/python bench/train_risk_model.py            # writes the shipped artifact
    nice -n 19 .venv/bin/python bench/train_risk_model.py --out x.npz

Deterministic: fixed hashing, a hash-based validation carve-out, liblinear with a
fixed seed. Only `train` splits are read (hatecheck never: it is a test suite);
15% of each training source is held back to fit the calibration and choose the
thresholds, scored exactly as the filter scores mail (sentence windows, max).
Labels unknown for a source (r/teenagers posts were never labelled for sexual
content, say) are left out of that label's fit rather than guessed.
See docs/risk_model.md for the sets, licences and measured scores.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.directory import Directory  # noqa: E402
from filters.message import Envelope, build_view  # noqa: E402
from filters.text import sentences  # noqa: E402
from filters.text.model import RiskModel, Vocabulary, WholeText, _sigmoid, char_counts, char_finish  # noqa: E402

# ../shared/corpora beside the checkout (a worktree sits one level deeper)
CORPORA = next((p / "shared" / "corpora" for p in ROOT.parents if (p / "shared" / "corpora").is_dir()),
               ROOT.parent / "shared" / "corpora")
EXAMPLES = ROOT / "config" / "lists" / "risk_examples"
OUT = ROOT / "filters" / "models" / "risk_model.npz"
LABELS = ("self_harm", "violent_threat", "bullying", "hate", "sexual", "grooming")
SEED = 0
VALIDATION_SHARE = 0.15
# Half the ham dev split is held back: it is the nearest thing to school mail, and
# 15% of it (132 messages) let thresholds through that flagged 1.6% of ham test.
HAM_VALIDATION_SHARE = 0.5
C = 4.0
# r/SuicideWatch against r/teenagers is the hardest contrast and the biggest set:
# less regularisation measured better there (validation recall at 1.5% teen
# false flags 0.60 at C=16 against 0.52 at C=4).
C_BY_LABEL = {"self_harm": 16.0}
EXAMPLE_WEIGHT = 15.0  # a few hundred hand-written lines against ~55k corpus rows; short pupil wording needs the weight
MAX_TRAIN_CHARS = 3000
CSSRS_WEIGHT = 0.5
# Only Supportive users' posts are trained on (hard negatives). With the at-risk users'
# posts as positives too (measured on validation): C-SSRS users at risk flagged 0.844
# instead of 0.578, but Supportive 0.643 instead of 0.214, and short pupil wording
# scored far lower ("im going to take all my mums pills on saturday" 0.39 against 0.64):
# the long concept-rewritten posts pull the model away from how pupils write.
CSSRS_POSITIVES = False
CSSRS_VALIDATION_SHARE = 0.3  # of ~330 users: enough Supportive ones to see their false flags
# Windows of a sentence and two either side: on validation r/SuicideWatch posts
# radius 2 kept most of the whole-post score (AUC 0.942 vs 0.944) where single
# sentences lost it (0.922). How each label weighs a window, its best sentence and
# the whole text is chosen on validation (main()).
# The whole text's score as a third input was measured and left out: on validation it
# added nothing to self-harm recall at the same false flags (0.672 against 0.670 with
# window and sentence), and it took the weight off the sentence, so a newsletter with
# one stark line scored 0.21 (issue 17 item 2 asks that it be judged by that line).
WHOLE_TEXT = False
# Vocabulary: words in 2+ training texts, word pairs in 3+ (rarer ones are mostly names
# and typos, and cost artifact space).
MIN_DF = 2
MIN_DF_BIGRAM = 3
RADIUS = 2
# The whole-text model (hashed character 3-5-grams of the whole text, beside the windows):
# on the validation carve-out, r/SuicideWatch against r/teenagers, it ranked posts better
# than the windows (AUC 0.955-0.958 against 0.947) and word n-grams of the whole text
# (0.945-0.949); words and characters together were no better than characters alone.
# 2^18 buckets: 2^20 measured no better and is four times the artifact.
# C-SSRS train users' whole histories (Supportive 0; Ideation, Behavior, Attempt 1) are rows
# of the whole-text model only: on validation they took Supportive users flagged from 0.321
# to 0.143 at the same r/SuicideWatch recall (0.682), C-SSRS users at risk 0.719 -> 0.688.
# (The word model was measured worse with at-risk users' posts: CSSRS_POSITIVES.)
TEXT_MODEL_LABELS = ("self_harm",)
TEXT_ONLY_SOURCES = frozenset({"cssrs_user"})
MAX_TEXT_TRAIN_CHARS = 20_000  # a C-SSRS history is long; its drift is the point
CHAR_BITS = 20  # 2^20 buckets: the TF-IDF n-grams inside words measured on validation at 20 bits
TEXT_C = 4.0
# Version 4 of the whole-text model (issue 17, fourth pass; bench/risk_text_experiment.py
# and docs/risk_model.md "what was tried"): scikit-learn-style TF-IDF of the characters
# inside words (2-5-grams, each word's edges marked: "char_wb"), sublinear counts, buckets
# seen in fewer than TEXT_MIN_DF training texts dropped, and the hate and insult corpora left
# out of its rows (their short tweets taught it that long text is safe, not what suicidal
# writing is): on validation, either-or with the windows, recall 0.674 -> see the card.
TEXT_NGRAMS = (2, 5)
TEXT_WITHIN_WORDS = True
TEXT_IDF = True
TEXT_MIN_DF = 3
TEXT_EXCLUDED_SOURCES = frozenset({"gab", "implicit", "stormfront", "kaggle", "olid"})
# Word n-grams hashed into the same table beside the characters (fifth pass: 0 = characters only;
# bench/risk_words_experiment.py, docs/risk_model.md).
TEXT_WORDS = 0
# The C-SSRS train users' whole histories weigh 3 in it: on validation x1 / x2 / x3 found 0.656 /
# 0.656 / 0.688 of the at-risk users at the same r/SuicideWatch recall (0.746 / 0.746 / 0.742)
# and Supportive flags (5 of 28) (bench/risk_tfidf_experiment.py --histories).
HISTORY_WEIGHT = 3.0
csv.field_size_limit(10_000_000)

# Threshold constraints on the validation carve-out (false flags on ordinary
# writing): SpamAssassin ham stands for school mail, r/teenagers for pupils.
# (0.0 was tried: no threshold moved; no validation ham message reaches the F1-chosen ones.)
MAX_HAM_FPR = 0.002
# self_harm: 2%, the target for the finding (many of the top-scoring r/teenagers posts are real
# disclosures: "the smallest obstacles are making me want to kill myself")...
MAX_TEEN_FPR = {"self_harm": 0.02}
DEFAULT_TEEN_FPR = 0.01
MIN_VALIDATION_POSITIVES = 30


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    labels: dict[str, int]  # only the labels this source knows
    source: str
    weight: float = 1.0


def _validation(key: str, share: float = VALIDATION_SHARE) -> bool:
    digest = hashlib.sha256(f"schoolgate-risk:{key}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big") / 2 ** 32 < share


def split(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """Training and validation rows, duplicates dropped: the hand-written examples and C-SSRS
    training users always train, C-SSRS validation users always validate, every other source
    is carved by a hash of its text (half of ham, VALIDATION_SHARE of the rest)."""
    seen: set[str] = set()
    train: list[Row] = []
    valid: list[Row] = []
    for row in rows:
        key = row.text.strip().lower()
        if key in seen or not key:
            continue
        seen.add(key)
        if row.source in ("examples", "cssrs", *TEXT_ONLY_SOURCES):
            train.append(row)
        elif row.source == "cssrs_valid":
            valid.append(row)
        else:
            share = HAM_VALIDATION_SHARE if row.source == "ham" else VALIDATION_SHARE
            (valid if _validation(key, share) else train).append(row)
    return train, valid


def _zero(*labels: str) -> dict[str, int]:
    return {label: 0 for label in labels}


def reddit_suicidewatch() -> list[Row]:
    rows = []
    with open(CORPORA / "reddit-suicidewatch-teenagers-kaggle" / "suicide_detection_first5000.csv",
              encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["split"] == "train":
                rows.append(Row(r["text"], {"self_harm": int(r["class"] == "suicide"),
                                            **_zero("violent_threat", "hate", "grooming")},
                                "teen" if r["class"] != "suicide" else "suicidewatch"))
    return rows


def _reddit_test_texts() -> set[str]:
    """r/SuicideWatch-r/teenagers test posts, read only to keep them out of training: three of
    them are also in sdcnl (that corpus' README)."""
    with open(CORPORA / "reddit-suicidewatch-teenagers-kaggle" / "suicide_detection_first5000.csv",
              encoding="utf-8") as handle:
        return {r["text"].strip().lower() for r in csv.DictReader(handle) if r["split"] == "test"}


def cssrs() -> list[Row]:
    """C-SSRS train users (clinician-graded). Each post of a train user is a row labelled with
    the user's grade: Supportive users (they talk about suicide to help others) are the hard
    negatives the model lacked; Ideation, Behavior and Attempt positives; Indicator (risk
    factors, no ideation) unknown. The validation carve-out keeps whole users, as the bench
    sends them. The authors replaced words by medical concept names ("Tired", "Pain"); the
    model reads them lower-cased like any word (weight CSSRS_WEIGHT, so they do not dominate)."""
    import ast
    base = CORPORA / "cssrs-reddit-suicide-gaur"
    with open(base / "split.csv", encoding="utf-8") as handle:
        wanted = {r["User"] for r in csv.DictReader(handle) if r["split"] == "train"}
    rows = []
    with open(base / "500_Reddit_users_posts_labels.csv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["User"] not in wanted or r["Label"] == "Indicator":
                continue
            try:
                posts = ast.literal_eval(r["Post"])
            except (ValueError, SyntaxError):  # unescaped quotes in 28 rows (its README)
                posts = r["Post"].strip("[]").split("', '")
            posts = [p.strip("'\" ") for p in posts if p.strip("'\" ")]
            positive = int(r["Label"] in ("Ideation", "Behavior", "Attempt"))
            labels = {"self_harm": positive, **_zero("grooming")}
            if _validation(f"cssrs:{r['User']}", CSSRS_VALIDATION_SHARE):
                rows.append(Row("\n\n".join(posts), labels, "cssrs_valid"))
                continue
            if CSSRS_POSITIVES or not positive:
                rows.extend(Row(p, labels, "cssrs", CSSRS_WEIGHT) for p in posts)
            # the whole history, for the whole-text model only (TEXT_ONLY_SOURCES)
            rows.append(Row("\n\n".join(posts), {"self_harm": positive}, "cssrs_user"))
    return rows


def sdcnl() -> list[Row]:
    # Only the r/SuicideWatch side: r/depression posts are worrying too (a severity
    # contrast, per its README), so they are not negatives.
    rows = []
    held_out = _reddit_test_texts()
    with open(CORPORA / "sdcnl-suicide-vs-depression" / "sdcnl_posts.csv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["split"] == "train" and r["is_suicide"] == "1":
                body = "" if r["selftext"] == "emptypost" else r["selftext"]
                if (r["title"] + body).strip().lower() in held_out or body.strip().lower() in held_out:
                    continue
                rows.append(Row(f"{r['title']}. {body}", {"self_harm": 1, **_zero("hate", "grooming")}, "sdcnl"))
    return rows


def gab() -> list[Row]:
    rows = []
    with open(CORPORA / "gab-hate-corpus" / "ghc_train.tsv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL):
            rows.append(Row(r["text"], {"violent_threat": int(r["cv"]), "hate": int(r["hd"] == "1" or r["cv"] == "1"),
                                        **_zero("self_harm", "grooming")}, "gab"))
    return rows


def implicit_hate() -> list[Row]:
    base = CORPORA / "implicit-hate-latent-hatred"
    with open(base / "stg1_split.csv", encoding="utf-8") as handle:
        split = {int(r["stg1_row"]): r["split"] for r in csv.DictReader(handle)}
    rows = []
    with open(base / "implicit_hate_v1_stg1_posts.tsv", encoding="utf-8") as handle:
        for index, r in enumerate(csv.DictReader(handle, delimiter="\t")):
            if split.get(index) == "train":
                rows.append(Row(r["post"], {"hate": int(r["class"] != "not_hate"),
                                            **_zero("self_harm", "grooming", "sexual")}, "implicit"))
    return rows


def stormfront() -> list[Row]:
    rows = []
    with open(CORPORA / "stormfront-hate-speech" / "stormfront_sentences.csv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["split"] == "sampled_train" and r["label"] in ("hate", "noHate"):
                rows.append(Row(r["text"], {"hate": int(r["label"] == "hate"),
                                            **_zero("self_harm", "grooming", "sexual")}, "stormfront"))
    return rows


def kaggle_insults() -> list[Row]:
    rows = []
    with open(CORPORA / "kaggle-insults-impermium" / "train.csv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            text = r["Comment"].strip('"')
            try:  # the comments are Python-escaped ("\\n", "\\xe9"), as bench/offensive_quality.py reads them
                text = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
            except UnicodeDecodeError:
                text = text.replace("\\n", "\n")
            rows.append(Row(text, {"bullying": int(r["Insult"] == "1"), **_zero("self_harm", "grooming")},
                            "kaggle"))
    return rows


def olid() -> list[Row]:
    rows = []
    with open(CORPORA / "olid-offenseval2019" / "olid-training-v1.0.tsv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle, delimiter="\t"):
            if r["subtask_a"] == "NOT":
                labels = _zero("bullying", "hate", "violent_threat", "self_harm", "grooming")
            elif r["subtask_c"] == "IND":  # offensive, targeted at one person
                labels = {"bullying": 1, **_zero("self_harm", "grooming")}
            else:
                labels = _zero("self_harm", "grooming")
            rows.append(Row(r["tweet"], labels, "olid"))
    return rows


def spamassassin() -> list[Row]:
    """The dev split's ham (all labels 0) and spam (0 but for sexual: some of it is porn spam)."""
    base = CORPORA / "spamassassin-public-corpus-sample"
    directory = Directory(None, {}, ())
    rows = []
    with open(base / "index.csv", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["split"] != "dev":
                continue
            raw = (base / r["path"]).read_bytes()
            if raw.startswith(b"From "):
                raw = raw.split(b"\n", 1)[1]
            view = build_view(raw, Envelope("a@example.org", ("b@example.org",)), directory)
            text = "\n\n".join(t for t in [view.subject, *(p.text for p in view.text_parts)] if t)
            labels = {label: 0 for label in LABELS if not (r["label"] == "spam" and label == "sexual")}
            rows.append(Row(text, labels, "ham" if r["label"] == "ham" else "spam"))
    return rows


def examples() -> list[Row]:
    """The hand-written lines: each file's label(s) 1 and the other labels 0 (negatives: all 0);
    violent wording in bullying.txt ("kill yourself") is left unknown for violent_threat."""
    rows = []
    for path in sorted(EXAMPLES.glob("*.txt")):
        # the file's name is its label(s): "violent_threat+hate.txt" is both; "negatives*": none
        named = set() if path.stem.startswith("negatives") else set(path.stem.split("+"))
        if not named <= set(LABELS):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            labels = {other: int(other in named) for other in LABELS}
            if named == {"bullying"}:
                labels.pop("violent_threat")
            if named & {"grooming", "bullying"}:
                labels.pop("sexual")  # photo requests and threats to share them
            if named == {"sexual"}:
                labels.pop("grooming")
            rows.append(Row(line, labels, "examples", EXAMPLE_WEIGHT))
    return rows


SOURCES = (reddit_suicidewatch, sdcnl, cssrs, gab, implicit_hate, stormfront, kaggle_insults, olid, spamassassin,
           examples)


def spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans, as the filter splits mail (filters/risk.py)."""
    return [(s.start, s.end) for s in sentences.split(text)] or [(0, len(text))]


def validation_parts(model: RiskModel, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Each text's best window raw score, best sentence raw score and whole-text raw score
    (rows x labels each), and the raw parts themselves (to score again once combined), as
    the filter scores mail."""
    best_w, best_s, whole, parts = [], [], [], []
    for text in texts:
        part = model.raw_parts([(text, spans(text))])
        sentence_raw, window_raw, message_raw, _ = part
        best_w.append(window_raw.max(axis=0))
        best_s.append(sentence_raw.max(axis=0))
        whole.append(message_raw[0])
        parts.append(part)
    return np.vstack(best_w), np.vstack(best_s), np.vstack(whole), parts


def auc(score: np.ndarray, gold: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(gold, score)) if 0 < gold.sum() < len(gold) else float("nan")


def platt(raw: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    fit = LogisticRegression(C=1e4, solver="lbfgs").fit(raw.reshape(-1, 1), gold)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def stack(columns: np.ndarray, gold: np.ndarray) -> tuple[float, float, float, float]:
    """Weights of (best window, best sentence, whole text) raw scores and a bias: a logistic
    fit on the validation carve-out, lightly regularised (three correlated inputs)."""
    from sklearn.linear_model import LogisticRegression
    fit = LogisticRegression(C=1.0, solver="lbfgs").fit(columns, gold)
    return (*map(float, fit.coef_[0]), float(fit.intercept_[0]))


def budget_threshold(label: str, prob: np.ndarray, gold: np.ndarray, sources: np.ndarray,
                     every_negative: bool) -> float:
    """The lowest threshold whose false flags on the validation negatives stay within budget:
    ham, r/teenagers and (with `every_negative`, when there are no positives to weigh) 1% of
    every negative."""
    negatives = gold == 0
    limits = {"every negative": np.quantile(prob[negatives], 0.99, method="higher") if every_negative else 0.0}
    for name, budget in (("ham", MAX_HAM_FPR), ("teen", MAX_TEEN_FPR.get(label, DEFAULT_TEEN_FPR))):
        chosen = negatives & (sources == name)
        if chosen.any():
            limits[name] = np.quantile(prob[chosen], 1 - budget, method="higher")
    print(f"  {label:15} false-flag budget: " + ", ".join(f"{k} {v:.3f}" for k, v in limits.items()))
    return float(max(limits.values())) + 1e-4


def choose_threshold(label: str, prob: np.ndarray, gold: np.ndarray,
                     sources: np.ndarray) -> tuple[float, str, float]:
    """The threshold with the best F1 (self_harm: the best recall) whose false flags on
    validation ham and r/teenagers posts stay within budget. Labels with too few validation
    positives (violent threats: 22 Gab calls for violence) get the false-flag budget alone."""
    positives = gold == 1
    budget = budget_threshold(label, prob, gold, sources, positives.sum() < MIN_VALIDATION_POSITIVES)
    if positives.sum() < MIN_VALIDATION_POSITIVES:
        flagged = prob >= budget
        return budget, (f"false-flag budget only ({positives.sum()} validation positives, "
                        f"{(flagged & positives).sum()} flagged)"), float((flagged & positives).sum())
    best = (-1.0, budget, "")
    for threshold in np.unique(np.round(prob[positives], 4)):
        if threshold < budget:
            continue
        flagged = prob >= threshold
        tp = (flagged & positives).sum()
        precision = tp / max(1, flagged.sum())
        recall = tp / max(1, positives.sum())
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        objective = recall if label == "self_harm" else f1
        if objective > best[0]:
            ham = flagged[(sources == "ham")].mean()
            teen = flagged[(sources == "teen") & ~positives].mean()
            best = (objective, float(threshold),
                    f"P {precision:.3f} R {recall:.3f} F1 {f1:.3f} ham {ham:.4f} teen {teen:.4f}")
    return best[1], best[2], best[0]


def choose_pair(window: np.ndarray, text: np.ndarray, gold: np.ndarray, sources: np.ndarray,
                budget: float) -> tuple[float, float, str]:
    """Thresholds for the windows and the whole text together (a text is flagged when either
    reaches its own): the pair with the best recall whose false flags, either way, stay within
    `budget` of validation r/teenagers posts and MAX_HAM_FPR of validation ham. The window's
    threshold is tried from where it alone spends the whole budget up to where it spends none."""
    positives = gold == 1
    best = (-1.0, 1.0, 1.0, "")
    for name_budget in np.linspace(0, budget, 11):
        limits_w = []
        for name, share in (("teen", name_budget), ("ham", min(MAX_HAM_FPR, name_budget))):
            chosen = (gold == 0) & (sources == name)
            limits_w.append(np.quantile(window[chosen], 1 - share, method="higher") + 1e-4
                            if share > 0 else window[chosen].max() + 1e-4)
        tw = float(max(limits_w))
        by_window = window >= tw
        limits_t = []
        for name, share in (("teen", budget), ("ham", MAX_HAM_FPR)):
            chosen = (gold == 0) & (sources == name)
            allowed = int(np.floor(share * chosen.sum())) - int((by_window & chosen).sum())
            if allowed < 0:  # the window alone is over budget here: the text may add nothing
                allowed = 0
            rest = np.sort(text[chosen & ~by_window])[::-1]
            limits_t.append(float(rest[max(0, allowed)]) + 1e-4 if allowed < len(rest) else 0.0)
        tt = max(limits_t)
        flagged = by_window | (text >= tt)
        recall = float((flagged & positives).mean() / max(1e-9, positives.mean()))
        if recall > best[0]:
            teen = flagged[(sources == "teen") & ~positives].mean()
            ham = flagged[sources == "ham"].mean()
            best = (recall, tw, tt, f"window {tw:.3f} or whole text {tt:.3f}: R {recall:.3f} "
                                    f"(window alone {float((by_window & positives).sum() / positives.sum()):.3f}), "
                                    f"teen {teen:.4f}, ham {ham:.4f}")
    return best[1], best[2], best[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--combine", choices=["window", "choose"], default="choose",
                        help="window: each window alone; choose (default): per label, the best on validation of "
                             "the window alone, with its best sentence, and with the whole text too")
    args = parser.parse_args()
    from sklearn import __version__ as sklearn_version
    from sklearn.linear_model import LogisticRegression
    started = time.process_time()
    rows: list[Row] = []
    counts: dict[str, int] = {}
    for source in SOURCES:
        found = source()
        counts[source.__name__] = len(found)
        rows.extend(found)
        print(f"{source.__name__:20} {len(found):6} rows")
    train, valid = split(rows)
    text_train = train
    train = [r for r in train if r.source not in TEXT_ONLY_SOURCES]
    texts = [r.text[:MAX_TRAIN_CHARS] for r in train]
    vocabulary = Vocabulary.build(texts, MIN_DF, MIN_DF_BIGRAM)
    x_train = vocabulary.matrix(texts)
    print(f"train {len(train)} rows, validation {len(valid)}; {vocabulary.n_words} words, "
          f"{vocabulary.n_features} features")
    coef = np.zeros((len(LABELS), vocabulary.n_features), dtype=np.float32)
    intercept = np.zeros(len(LABELS), dtype=np.float32)
    for index, label in enumerate(LABELS):
        known = np.array([label in r.labels for r in train])
        y = np.array([r.labels.get(label, 0) for r in train])[known]
        weights = np.array([r.weight for r in train])[known]
        fit = LogisticRegression(C=C_BY_LABEL.get(label, C), solver="liblinear", class_weight="balanced",
                                 random_state=SEED, max_iter=200).fit(x_train[known], y, sample_weight=weights)
        coef[index] = fit.coef_[0]
        intercept[index] = fit.intercept_[0]
        print(f"  {label:15} fitted on {known.sum():6} rows, {y.sum():5} positive")
    # the whole-text model, on the same rows as each of its labels less the hate corpora
    text_train = [r for r in text_train if r.source not in TEXT_EXCLUDED_SOURCES]
    char_rows = char_counts([r.text[:MAX_TEXT_TRAIN_CHARS if r.source in TEXT_ONLY_SOURCES else MAX_TRAIN_CHARS]
                             for r in text_train], CHAR_BITS, TEXT_NGRAMS, TEXT_WITHIN_WORDS, TEXT_WORDS)
    idf = None
    if TEXT_IDF:  # scikit-learn's smooth IDF; rare buckets are no feature
        df = np.asarray((char_rows > 0).sum(axis=0)).ravel()
        idf = np.where(df >= TEXT_MIN_DF, np.log((1 + len(text_train)) / (1 + df)) + 1, 0.0)
        idf = idf.astype(np.float16).astype(np.float32)  # as the artifact stores it
    x_chars = char_finish(char_rows, idf)
    text_coef = np.zeros((len(TEXT_MODEL_LABELS), 1 << CHAR_BITS), dtype=np.float32)
    text_intercept = np.zeros(len(TEXT_MODEL_LABELS), dtype=np.float32)
    for index, label in enumerate(TEXT_MODEL_LABELS):
        known = np.array([label in r.labels for r in text_train])
        y = np.array([r.labels.get(label, 0) for r in text_train])[known]
        weights = np.array([r.weight * (HISTORY_WEIGHT if r.source in TEXT_ONLY_SOURCES else 1.0)
                            for r in text_train])[known]
        fit = LogisticRegression(C=TEXT_C, solver="liblinear", class_weight="balanced", random_state=SEED,
                                 max_iter=200).fit(x_chars[known], y, sample_weight=weights)
        text_coef[index] = fit.coef_[0]
        text_intercept[index] = fit.intercept_[0]
        print(f"  {label:15} whole-text model fitted on {known.sum():6} rows")
    neutral = np.tile([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], (len(LABELS), 1))
    model = RiskModel(LABELS, vocabulary, coef, intercept, neutral, np.full(len(LABELS), 0.5), radius=RADIUS)
    best_w, best_s, whole, parts = validation_parts(model, [r.text for r in valid])
    sources = np.array([r.source for r in valid])
    # every validation window's inputs in one array (they do not depend on the weights), so
    # trying a combination is one pass: the best window of each text
    inputs = [model.window_inputs(*part) for part in parts]
    flat = [np.vstack([x[k] for x in inputs]) for k in range(3)]
    flat_starts = np.cumsum([0] + [len(x[0]) for x in inputs[:-1]])
    combine = np.zeros((len(LABELS), 6))
    thresholds, report = [], {}
    for index, label in enumerate(LABELS):
        known = np.array([label in r.labels for r in valid])
        gold = np.array([r.labels.get(label, 0) for r in valid])
        w, s_, m = best_w[known, index], best_s[known, index], whole[known, index]
        g = gold[known]
        if g.sum() < 5:  # grooming, sexual: too few validation positives to calibrate on
            candidates = {"window": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)}
        else:
            print(f"  {label:15} validation AUC: window {auc(w, g):.4f}, sentence {auc(s_, g):.4f}, "
                  f"whole text {auc(m, g):.4f}")
            a, b = platt(w, g)
            cw, cs, bias = stack(np.column_stack([w, s_]), g)
            candidates = {"window": (a, 0.0, 0.0, b, a, b), "window+sentence": (cw, cs, 0.0, bias, a, b)}
            if WHOLE_TEXT:
                candidates["window+sentence+text"] = (*stack(np.column_stack([w, s_, m]), g), a, b)
            if args.combine == "window":
                candidates = {"window": candidates["window"]}
        # How a label combines its parts is chosen on validation, scored as the filter
        # scores mail: whole-text scores help self-harm (a post's drift) but let long
        # ordinary mail reach bullying and hate thresholds (measured, docs/risk_model.md).
        best = None
        for name, weights in candidates.items():
            combine[index] = weights
            raw = flat[0][:, index] * weights[0] + flat[1][:, index] * weights[1] + flat[2][:, index] * weights[2]
            prob = _sigmoid(np.maximum.reduceat(raw + weights[3], flat_starts))
            threshold, summary, objective = choose_threshold(label, prob[known], gold[known], sources[known])
            print(f"  {label:15} {name:22} threshold {threshold:.3f}: {summary}")
            if best is None or objective > best[0]:
                best = (objective, name, weights, threshold, summary, prob)
        _, name, weights, threshold, summary, prob = best
        combine[index] = weights
        if gold[known].sum():
            summary += f"; AUC {auc(prob[known], gold[known]):.4f}"
        chosen = known & (sources == "cssrs_valid")
        if chosen.any() and gold[chosen].sum():
            flagged = prob[chosen] >= threshold
            summary += (f"; C-SSRS users at risk {flagged[gold[chosen] == 1].mean():.3f}, "
                        f"supportive {flagged[gold[chosen] == 0].mean():.3f}")
        thresholds.append(threshold)
        report[label] = f"{name}, threshold {threshold:.3f}: {summary}"
        print(f"  {label:15} chosen: {report[label]}")
    # the whole-text model's calibration and the windows' and whole text's thresholds together
    x_valid_chars = char_finish(char_counts([r.text for r in valid], CHAR_BITS, TEXT_NGRAMS, TEXT_WITHIN_WORDS,
                                            TEXT_WORDS), idf)
    text_raw = x_valid_chars @ text_coef.astype(np.float16).astype(np.float32).T + text_intercept
    calibration, text_thresholds, gates = [], [], []
    for index, label in enumerate(TEXT_MODEL_LABELS):
        column = LABELS.index(label)
        known = np.array([label in r.labels for r in valid])
        gold = np.array([r.labels.get(label, 0) for r in valid])
        a, b = platt(text_raw[known, index], gold[known])
        calibration.append((a, b))
        text_prob = _sigmoid(a * text_raw[:, index] + b)
        print(f"  {label:15} whole-text validation AUC {auc(text_prob[known], gold[known]):.4f}")
        w = combine[column]
        raw = flat[0][:, column] * w[0] + flat[1][:, column] * w[1] + flat[2][:, column] * w[2]
        window_prob = _sigmoid(np.maximum.reduceat(raw + w[3], flat_starts))
        tw, tt, summary = choose_pair(window_prob[known], text_prob[known], gold[known], sources[known],
                                      MAX_TEEN_FPR.get(label, DEFAULT_TEEN_FPR))
        chosen = known & (sources == "cssrs_valid")
        flagged = (window_prob >= tw) | (text_prob >= tt)
        if chosen.any():
            summary += (f"; C-SSRS users at risk {flagged[chosen & (gold == 1)].mean():.3f}, "
                        f"supportive {flagged[chosen & (gold == 0)].mean():.3f}")
        thresholds[column] = tw
        text_thresholds.append(tt)
        # the gate: half the lowest best-window score of any validation text the whole text flags
        read = known & (text_prob >= tt)
        gates.append(float(np.floor(window_prob[read].min() / 2 * 1000) / 1000) if read.any() else 0.0)
        summary += f"; gate: best window {gates[-1]:.3f}"
        report[label] += f"; with the whole text: {summary}"
        print(f"  {label:15} with the whole text: {summary}")
    whole_text = WholeText(TEXT_MODEL_LABELS, CHAR_BITS, np.ascontiguousarray(text_coef.T), text_intercept,
                           np.array(calibration, dtype=np.float32), np.array(text_thresholds, dtype=np.float32),
                           np.array(gates, dtype=np.float32), TEXT_NGRAMS, TEXT_WITHIN_WORDS, idf, TEXT_WORDS)
    meta = {"labels": list(LABELS), "sklearn": sklearn_version, "numpy": np.__version__, "C": C,
            "C_by_label": C_BY_LABEL, "seed": SEED, "combine": args.combine,
            "validation_share": VALIDATION_SHARE, "rows": counts, "min_df": [MIN_DF, MIN_DF_BIGRAM],
            "train_rows": len(train), "validation_rows": len(valid), "validation": report}
    meta.update({"text_model": {"labels": list(TEXT_MODEL_LABELS), "char_ngrams": list(TEXT_NGRAMS),
                                "within_words": TEXT_WITHIN_WORDS, "idf": TEXT_IDF, "min_df": TEXT_MIN_DF,
                                "excluded_sources": sorted(TEXT_EXCLUDED_SOURCES), "history_weight": HISTORY_WEIGHT, "bits": CHAR_BITS, "words": TEXT_WORDS,
                                "C": TEXT_C}})
    final = RiskModel(LABELS, vocabulary, coef, intercept, combine, np.array(thresholds), radius=RADIUS, meta=meta,
                      whole_text=whole_text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    final.save(args.out)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.1f} MB) in {time.process_time() - started:.0f} s CPU")


if __name__ == "__main__":
    main()
