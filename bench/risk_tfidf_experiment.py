"""Whole-text self-harm model as TF-IDF: variants measured on the training's validation carve-out (never a test split).

    PYTHONPATH=. nice -n 15 .venv/bin/python bench/risk_tfidf_experiment.py            # hashed, as the filter scores
    PYTHONPATH=. nice -n 15 .venv/bin/python bench/risk_tfidf_experiment.py --sklearn  # scikit-learn's exact vocabularies
    PYTHONPATH=. nice -n 15 .venv/bin/python bench/risk_tfidf_experiment.py --histories  # C-SSRS histories weighted up

Reads the rows and the SHA-256 carve-out of bench/train_risk_model.py, fits each variant of the
whole-text model and prints it either-or with the shipped windows, the two thresholds chosen
together within the training's budget (2% of validation r/teenagers posts, 0.2% of validation
ham: `choose_pair`): recall on all validation positives, r/SuicideWatch, C-SSRS users at risk,
Supportive users flagged. Figures in docs/risk_model.md ("what was tried", fourth pass).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.risk_text_experiment as rx  # noqa: E402
import bench.train_risk_model as base  # noqa: E402
from filters.text.model import RiskModel, _sigmoid, char_counts, char_finish, model_text  # noqa: E402


def idf_of(counts, min_df: int = base.TEXT_MIN_DF) -> np.ndarray:
    df = np.asarray((counts > 0).sum(axis=0)).ravel()
    return np.where(df >= min_df, np.log((1 + counts.shape[0]) / (1 + df)) + 1, 0.0)


def validation_rows():
    """The training's train/validation cut, the validation rows' self-harm gold and sources, and
    the shipped model's sentence-window score of each (what a whole-text head is compared with)."""
    train, valid = rx.split_rows()
    model = RiskModel.load()
    column = model.labels.index("self_harm")
    gold = np.array([r.labels["self_harm"] for r in valid])
    sources = np.array([r.source for r in valid])
    window = []
    for r in valid:
        s_raw, w_raw, m_raw, sizes = model.raw_parts([(r.text, base.spans(r.text))])
        window.append(float(_sigmoid(model.combined_raw(s_raw, w_raw, m_raw, sizes)[:, column].max())))
    return train, valid, gold, sources, np.array(window)


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    exact = "--sklearn" in sys.argv[1:]
    only_histories = "--histories" in sys.argv[1:]
    started = time.process_time()
    train, valid, gold, sources, window = validation_rows()
    source = np.array([r.source for r in train])
    texts = [r.text[:base.MAX_TEXT_TRAIN_CHARS if r.source in base.TEXT_ONLY_SOURCES else base.MAX_TRAIN_CHARS]
             for r in train]
    y = np.array([r.labels["self_harm"] for r in train])
    weights = np.array([r.weight for r in train])
    no_hate = ~np.isin(source, sorted(base.TEXT_EXCLUDED_SOURCES))
    sup = (sources == "cssrs_valid") & (gold == 0)
    at_risk = (sources == "cssrs_valid") & (gold == 1)
    reddit = np.isin(sources, ["suicidewatch", "teen"])
    variants = []  # (name, train features, validation features, rows kept, C)
    if exact:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        prep = lambda s: model_text(s).replace("'", "")  # noqa: E731
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=3,
                                preprocessor=prep, dtype=np.float32, max_features=300_000)
        words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=2,
                                preprocessor=prep, token_pattern=r"\w+", dtype=np.float32)
        xc, xcv = chars.fit_transform(texts), chars.transform([r.text for r in valid])
        xw, xwv = words.fit_transform(texts), words.transform([r.text for r in valid])
        both, both_v = hstack([xc, xw]).tocsr(), hstack([xcv, xwv]).tocsr()
        for c in (4.0, 16.0):
            for rows_name, keep in (("every row", np.ones(len(train), bool)), ("no hate corpora", no_hate)):
                variants.append((f"char_wb 2-5, C {c:g}, {rows_name}", xc, xcv, keep, c, 1.0))
                variants.append((f"char_wb 2-5 + words 1-2, C {c:g}, {rows_name}", both, both_v, keep, c, 1.0))
    else:
        valid_counts = char_counts([r.text for r in valid], base.CHAR_BITS, base.TEXT_NGRAMS, base.TEXT_WITHIN_WORDS)
        counts = char_counts(texts, base.CHAR_BITS, base.TEXT_NGRAMS, base.TEXT_WITHIN_WORDS)
        kept = counts[no_hate]
        for idf_name, idf in (("IDF of its rows", idf_of(kept)), ("IDF of every row", idf_of(counts)),
                              ("no IDF", None)):
            if only_histories and idf_name != "IDF of its rows":
                continue
            x, xv = char_finish(counts, idf), char_finish(valid_counts, idf)
            for c in (4.0, 16.0):
                if not only_histories:
                    variants.append((f"hashed char_wb 2-5, {idf_name}, C {c:g}, no hate corpora", x, xv, no_hate, c, 1.0))
                elif c == 4.0:
                    for up in (2.0, 3.0):  # C-SSRS histories weighted up: at-risk users are long texts
                        variants.append((f"hashed char_wb 2-5, {idf_name}, C 4, C-SSRS histories x{up:g}",
                                         x, xv, no_hate, c, up))
    print(f"{len(train)} train rows, {len(valid)} validation ({time.process_time() - started:.0f} s)", flush=True)
    for name, x, xv, keep, c, up in variants:
        w = weights * np.where(source == "cssrs_user", up, 1.0)
        fit = LogisticRegression(C=c, solver="liblinear", class_weight="balanced", random_state=base.SEED,
                                 max_iter=300).fit(x[keep], y[keep], sample_weight=w[keep])
        raw = xv @ fit.coef_[0].astype(np.float16).astype(np.float32) + fit.intercept_[0]
        a, b = base.platt(raw, gold)
        text = _sigmoid(a * raw + b)
        tw, tt, summary = base.choose_pair(window, text, gold, sources, base.MAX_TEEN_FPR["self_harm"])
        flagged = (window >= tw) | (text >= tt)
        print(f"{name:55} AUC reddit {base.auc(text[reddit], gold[reddit]):.4f} | {summary} | "
              f"SW {flagged[sources == 'suicidewatch'].mean():.3f} C-SSRS at risk {flagged[at_risk].mean():.3f} "
              f"Supportive {flagged[sup].sum()}/{sup.sum()} ({time.process_time() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
