"""Whole-text self-harm model, fifth pass: word n-grams beside the characters, C and class weights,
measured on the training's validation carve-out (never a test split).

    PYTHONPATH=. nice -n 10 .venv/bin/python bench/risk_words_experiment.py [VARIANT ...]

Reads the rows and the SHA-256 carve-out of bench/train_risk_model.py (as
bench/risk_tfidf_experiment.py does), fits each variant of the whole-text model on the shipped
rows (no hate corpora, C-SSRS histories x3) and prints it either-or with the shipped windows,
the two thresholds chosen together within the training's budget (`choose_pair`: 2% of
validation r/teenagers posts, 0.2% of validation ham), and again with at most 5 of the 28
Supportive validation users flagged (`choose_capped`, the shipped model's count), so variants
are compared at the same Supportive cost. Figures in docs/risk_model.md ("fifth pass").
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
from bench.risk_tfidf_experiment import idf_of, validation_rows  # noqa: E402
from filters.text.model import _sigmoid, char_counts, char_finish  # noqa: E402

# name -> (word n-grams hashed beside the characters, C, class weight)
VARIANTS = {
    "chars": (0, 4.0, "balanced"),
    "chars_words1": (1, 4.0, "balanced"),
    "chars_words2": (2, 4.0, "balanced"),
    "chars_words2_C8": (2, 8.0, "balanced"),
    "chars_words2_C2": (2, 2.0, "balanced"),
    "chars_C8": (0, 8.0, "balanced"),
    "chars_unweighted": (0, 4.0, None),
    "chars_words2_unweighted": (2, 4.0, None),
    "chars_unweighted_C2": (0, 2.0, None),
    "chars_unweighted_C8": (0, 8.0, None),
    "chars_positive2": (0, 4.0, {0: 1.0, 1: 2.0}),
}
SUPPORTIVE_CAP = 5


def either_or_line(name: str, window: np.ndarray, text: np.ndarray, gold: np.ndarray, sources: np.ndarray,
                   width: int) -> str:
    """One variant's figures, either-or with the shipped windows: AUC, recall and false flags at
    the training's budget (`choose_pair`), and again with at most SUPPORTIVE_CAP Supportive users."""
    sup = (sources == "cssrs_valid") & (gold == 0)
    at_risk = (sources == "cssrs_valid") & (gold == 1)
    reddit = np.isin(sources, ["suicidewatch", "teen"])
    tw, tt, summary = base.choose_pair(window, text, gold, sources, base.MAX_TEEN_FPR["self_harm"])
    flagged = (window >= tw) | (text >= tt)
    cw, ct = rx.choose_capped(window, text, gold, sources, SUPPORTIVE_CAP)
    capped = (window >= cw) | (text >= ct)
    return (f"{name:{width}} AUC all {base.auc(text, gold):.4f} reddit {base.auc(text[reddit], gold[reddit]):.4f} | "
            f"{summary} | SW {flagged[sources == 'suicidewatch'].mean():.3f} C-SSRS at risk {flagged[at_risk].mean():.3f} "
            f"Supportive {flagged[sup].sum()}/{sup.sum()} | Supportive <= {SUPPORTIVE_CAP}: R "
            f"{capped[gold == 1].mean():.3f} SW {capped[sources == 'suicidewatch'].mean():.3f} at risk "
            f"{capped[at_risk].mean():.3f}")


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    wanted = sys.argv[1:] or list(VARIANTS)
    started = time.process_time()
    train, valid, gold, sources, window = validation_rows()
    keep = np.array([r.source not in base.TEXT_EXCLUDED_SOURCES for r in train])
    train = [r for r, k in zip(train, keep) if k]
    source = np.array([r.source for r in train])
    texts = [r.text[:base.MAX_TEXT_TRAIN_CHARS if r.source in base.TEXT_ONLY_SOURCES else base.MAX_TRAIN_CHARS]
             for r in train]
    y = np.array([r.labels["self_harm"] for r in train])
    weights = np.array([r.weight for r in train]) * np.where(source == "cssrs_user", base.HISTORY_WEIGHT, 1.0)
    features = {}
    print(f"{len(train)} train rows, {len(valid)} validation ({time.process_time() - started:.0f} s)", flush=True)
    for name in wanted:
        words, c, class_weight = VARIANTS[name]
        if words not in features:
            counts = char_counts(texts, base.CHAR_BITS, base.TEXT_NGRAMS, base.TEXT_WITHIN_WORDS, words)
            idf = idf_of(counts).astype(np.float16).astype(np.float32)
            valid_counts = char_counts([r.text for r in valid], base.CHAR_BITS, base.TEXT_NGRAMS,
                                       base.TEXT_WITHIN_WORDS, words)
            features[words] = (char_finish(counts, idf), char_finish(valid_counts, idf))
        x, xv = features[words]
        fit = LogisticRegression(C=c, solver="liblinear", class_weight=class_weight, random_state=base.SEED,
                                 max_iter=300).fit(x, y, sample_weight=weights)
        raw = xv @ fit.coef_[0].astype(np.float16).astype(np.float32) + fit.intercept_[0]
        a, b = base.platt(raw, gold)
        text = _sigmoid(a * raw + b)
        print(f"{either_or_line(name, window, text, gold, sources, 24)} ({time.process_time() - started:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
