"""Sixth pass: does the MEANING of a text (a static word-piece embedding distilled from
all-MiniLM-L6-v2) beat the shipped character TF-IDF whole-text self-harm head? Measured on the
training's validation carve-out (never a test split).

    PYTHONPATH=. nice -n 10 /work/venv-torch/bin/python bench/train_risk_static.py      # the table (once)
    PYTHONPATH=. nice -n 10 .venv/bin/python bench/risk_static_experiment.py [--table PATH]

Reads the rows, the SHA-256 carve-out and the shipped windows of
bench/risk_tfidf_experiment.validation_rows (as the fifth pass did), the shipped rows of the
whole-text head (no hate corpora, C-SSRS histories x3), and fits heads over:
  - emb: the mean of a text's word-piece vectors (optionally SIF-weighted, a / (a + p(piece)),
    p from the training texts' piece counts; optionally unit length), alone;
  - emb+tfidf: the same with the TF-IDF head's logit as one more column (out-of-fold on the
    training rows, 5 folds, so the head does not learn to trust an in-sample score; the shipped
    artifact's logit on validation);
each either-or with the shipped windows, the two thresholds chosen together within the
training's budget (`choose_pair`: 2% of validation r/teenagers posts, 0.2% of validation ham),
and again with at most 5 of the 28 Supportive validation users flagged (`choose_capped`). The
first row is the shipped head itself. Tokenising is pure Python (BERT's basic split, lower case,
accents stripped, greedy longest-match word pieces), as a run-time head would have to be.
Figures in docs/risk_model.md ("sixth pass").
"""
from __future__ import annotations

import argparse
import re
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.train_risk_model as base  # noqa: E402
from bench.risk_tfidf_experiment import idf_of, validation_rows  # noqa: E402
from bench.risk_words_experiment import either_or_line  # noqa: E402
from filters.text.model import RiskModel, _sigmoid, char_counts, char_finish, model_text  # noqa: E402

TABLE = Path("/tmp/risk_static/minilm_static.npz")
FOLDS = 5
# BERT's basic split: runs of letters and digits, and each punctuation mark (underscore included)
_BASIC = re.compile(r"[^\W_]+|[^\w\s]|_")


class WordPieces:
    """Greedy longest-match-first word pieces over a fixed vocabulary (BERT's WordPiece); a word
    that cannot be cut is dropped (BERT's [UNK] has no vector here)."""

    def __init__(self, pieces: list[str]):
        self.whole = {p: i for i, p in enumerate(pieces) if not p.startswith("##")}
        self.tail = {p[2:]: i for i, p in enumerate(pieces) if p.startswith("##")}

    def ids(self, text: str) -> list[int]:
        folded = model_text(text)
        if not folded.isascii():
            folded = "".join(c for c in unicodedata.normalize("NFD", folded) if unicodedata.category(c) != "Mn")
        out: list[int] = []
        whole, tail = self.whole, self.tail
        for word in _BASIC.findall(folded):
            found = whole.get(word)
            if found is not None:
                out.append(found)
                continue
            if len(word) > 100:
                continue
            cut, start, table = [], 0, whole
            while start < len(word):
                end = len(word)
                while end > start and word[start:end] not in table:
                    end -= 1
                if end == start:
                    cut = []
                    break
                cut.append(table[word[start:end]])
                start, table = end, tail
            out.extend(cut)
        return out


def load_table(path: Path) -> tuple[list[str], np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return [p.decode("utf-8") for p in data["pieces"]], data["vectors"].astype(np.float32)


def doc_vectors(id_lists: list[list[int]], table: np.ndarray, weight: np.ndarray, unit: bool) -> np.ndarray:
    out = np.zeros((len(id_lists), table.shape[1]), np.float32)
    for i, ids in enumerate(id_lists):
        if ids:
            index = np.asarray(ids)
            v = weight[index] @ table[index] / len(index)
            if unit:
                v /= max(1e-9, float(np.sqrt(v @ v)))
            out[i] = v
    return out


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--dims", type=int, nargs="*", default=[128, 256])
    parser.add_argument("--check", nargs="*", choices=sorted(VARIANTS), help="bootstrap and split-half check of these")
    parser.add_argument("--beside", action="store_true",
                        help="the embedding head fitted alone, its logit stacked beside the TF-IDF logit")
    parser.add_argument("--windows", action="store_true",
                        help="the embedding head read window by window (sentence and two either side)")
    parser.add_argument("--cost", action="store_true", help="CPU per 5 KB text of the embedding path alone")
    args = parser.parse_args()
    started = time.process_time()
    pieces, table_full = load_table(args.table)
    tokenizer = WordPieces(pieces)
    if args.cost:
        cost(tokenizer, table_full[:, :128])
        return
    train, valid, gold, sources, window = validation_rows()
    train = [r for r in train if r.source not in base.TEXT_EXCLUDED_SOURCES]
    source = np.array([r.source for r in train])
    texts = [r.text[:base.MAX_TEXT_TRAIN_CHARS if r.source in base.TEXT_ONLY_SOURCES else base.MAX_TRAIN_CHARS]
             for r in train]
    y = np.array([r.labels["self_harm"] for r in train])
    weights = np.array([r.weight for r in train]) * np.where(source == "cssrs_user", base.HISTORY_WEIGHT, 1.0)
    print(f"{len(train)} train rows, {len(valid)} validation ({time.process_time() - started:.0f} s)", flush=True)

    shipped = RiskModel.load().whole_text
    valid_tfidf = shipped.raw([model_text(r.text) for r in valid])[:, 0]
    # the TF-IDF head's logit on each training row, out of fold (the shipped head's recipe)
    counts = char_counts(texts, base.CHAR_BITS, base.TEXT_NGRAMS, base.TEXT_WITHIN_WORDS)
    oof = np.zeros(len(train))
    for fold, (fit_rows, held) in enumerate(StratifiedKFold(FOLDS, shuffle=True, random_state=base.SEED).split(texts, y)):
        idf = idf_of(counts[fit_rows]).astype(np.float16).astype(np.float32)
        fit = LogisticRegression(C=base.TEXT_C, solver="liblinear", class_weight="balanced",
                                 random_state=base.SEED, max_iter=300).fit(
            char_finish(counts[fit_rows], idf), y[fit_rows], sample_weight=weights[fit_rows])
        oof[held] = fit.decision_function(char_finish(counts[held], idf))
    print(f"out-of-fold TF-IDF logits ({time.process_time() - started:.0f} s)", flush=True)

    train_ids = [tokenizer.ids(t) for t in texts]
    valid_ids = [tokenizer.ids(r.text) for r in valid]
    piece_counts = np.bincount(np.concatenate([np.asarray(i, dtype=np.int64) for i in train_ids if i]),
                               minlength=len(pieces)).astype(np.float64)
    p = piece_counts / piece_counts.sum()
    print(f"tokenised: {int(piece_counts.sum())} train pieces, {int((piece_counts > 0).sum())} distinct "
          f"({time.process_time() - started:.0f} s)", flush=True)

    def report(name: str, text: np.ndarray) -> None:
        print(f"{either_or_line(name, window, text, gold, sources, 40)} ({time.process_time() - started:.0f} s)",
              flush=True)

    a, b = base.platt(valid_tfidf, gold)
    shipped_text = _sigmoid(a * valid_tfidf + b)
    report("shipped TF-IDF head", shipped_text)

    def head(dims: int, sif: float | None, unit: bool, c: float, with_tfidf: bool) -> np.ndarray:
        weight = np.ones(len(pieces), np.float32) if sif is None else (sif / (sif + p)).astype(np.float32)
        x = doc_vectors(train_ids, table_full[:, :dims], weight, unit)
        xv = doc_vectors(valid_ids, table_full[:, :dims], weight, unit)
        centre, scale = x.mean(axis=0), x.std(axis=0) + 1e-6  # standardised, so one C suits every table
        x, xv = (x - centre) / scale, (xv - centre) / scale
        if with_tfidf:
            x, xv = np.column_stack([x, oof]), np.column_stack([xv, valid_tfidf])
        fit = LogisticRegression(C=c, solver="liblinear", class_weight="balanced",
                                 random_state=base.SEED, max_iter=500).fit(x, y, sample_weight=weights)
        raw = xv @ fit.coef_[0] + fit.intercept_[0]
        a, b = base.platt(raw, gold)
        return _sigmoid(a * raw + b)

    if args.check:
        check(args.check, head, shipped_text, window, gold, sources)
        return
    if args.beside:
        beside(train_ids, valid_ids, table_full, p, texts, y, weights, oof, valid_tfidf, shipped_text, window,
               gold, sources, report)
        return
    if args.windows:
        windows(tokenizer, table_full, train_ids, y, weights, valid, window, shipped_text, report)
        return
    for dims in args.dims:
        for sif_name, sif in (("no SIF", None), ("SIF 1e-3", 1e-3), ("SIF 1e-4", 1e-4)):
            for unit in (False, True):
                for c in (0.1, 1.0):
                    for with_tfidf in (False, True):
                        name = f"{dims}d {sif_name}{' unit' if unit else ''} C {c:g}{' +tfidf' if with_tfidf else ''}"
                        report(name, head(dims, sif, unit, c, with_tfidf))


def beside(train_ids, valid_ids, table_full, p, texts, y, weights, oof, valid_tfidf, shipped_text, window,
           gold, sources, report) -> None:
    """The embedding head fitted on its own (128 dims, unit length, no SIF / SIF 1e-3) and its
    logit put beside the TF-IDF head's: a two-input logistic regression fitted on the training
    rows' out-of-fold logits of both (5 folds), applied to the validation rows' logits of the
    heads fitted on every training row. Then --check's bootstrap of the gain."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    rng = np.random.default_rng(base.SEED)
    for sif in (None, 1e-3):
        weight = np.ones(len(p), np.float32) if sif is None else (sif / (sif + p)).astype(np.float32)
        x = doc_vectors(train_ids, table_full[:, :128], weight, True)
        xv = doc_vectors(valid_ids, table_full[:, :128], weight, True)
        centre, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        x, xv = (x - centre) / scale, (xv - centre) / scale

        def fit(rows):
            return LogisticRegression(C=0.1, solver="liblinear", class_weight="balanced", random_state=base.SEED,
                                      max_iter=500).fit(x[rows], y[rows], sample_weight=weights[rows])
        oof_emb = np.zeros(len(y))
        for rows, held in StratifiedKFold(FOLDS, shuffle=True, random_state=base.SEED).split(texts, y):
            oof_emb[held] = fit(rows).decision_function(x[held])
        valid_emb = fit(np.arange(len(y))).decision_function(xv)
        stack = LogisticRegression(C=1.0, solver="liblinear", class_weight="balanced", random_state=base.SEED).fit(
            np.column_stack([oof, oof_emb]), y, sample_weight=weights)
        raw = np.column_stack([valid_tfidf, valid_emb]) @ stack.coef_[0] + stack.intercept_[0]
        a, b = base.platt(raw, gold)
        text = _sigmoid(a * raw + b)
        name = f"128d {'no SIF' if sif is None else 'SIF 1e-3'} unit, beside (w {stack.coef_[0][0]:.2f} / {stack.coef_[0][1]:.2f})"
        report(name, text)
        gains = []
        n = len(gold)
        for _ in range(300):
            rows = rng.integers(0, n, n)
            gains.append(recall_at(window, text, gold, sources, rows)[2] - recall_at(window, shipped_text, gold, sources, rows)[2])
        gains = np.array(gains)
        print(f"  bootstrap gain {gains.mean():+.3f} (5-95% {np.quantile(gains, 0.05):+.3f} .. "
              f"{np.quantile(gains, 0.95):+.3f}), <= 0 in {(gains <= 0).mean():.0%}", flush=True)


def windows(tokenizer: WordPieces, table_full: np.ndarray, train_ids, y, weights, valid, window, shipped_text,
            report) -> None:
    """The embedding head (128 dims, unit length, trained on the whole training texts as the
    shipped windows' model is) read on each validation text's sentence windows (radius 2, as the
    filter cuts them); a text's score is its best window's. Reported in the whole text's place
    beside the shipped windows, and as the window score beside the shipped whole text."""
    from sklearn.linear_model import LogisticRegression
    table = table_full[:, :128]
    ones = np.ones(len(table), np.float32)
    x = doc_vectors(train_ids, table, ones, True)
    centre, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    for c in (0.1, 1.0):
        fit = LogisticRegression(C=c, solver="liblinear", class_weight="balanced", random_state=base.SEED,
                                 max_iter=500).fit((x - centre) / scale, y, sample_weight=weights)
        coef, bias = fit.coef_[0] / scale, fit.intercept_[0] - (centre / scale) @ fit.coef_[0]
        best = np.zeros(len(valid))
        for i, r in enumerate(valid):
            sentence_ids = [tokenizer.ids(r.text[a:b]) for a, b in base.spans(r.text)]
            scores = []
            for k in range(len(sentence_ids)):
                ids = [t for s in sentence_ids[max(0, k - 2):k + 3] for t in s]
                if ids:
                    scores.append(float(doc_vectors([ids], table, ones, True)[0] @ coef + bias))
            best[i] = max(scores) if scores else bias
        gold = np.array([r.labels["self_harm"] for r in valid])
        a, b = base.platt(best, gold)
        emb_window = _sigmoid(a * best + b)
        report(f"emb windows (C {c:g}) for the whole text", emb_window)
        # the embedding's best window in the windows' place, the shipped whole text kept
        tw, tt, summary = base.choose_pair(emb_window, shipped_text, gold, np.array([r.source for r in valid]),
                                           base.MAX_TEEN_FPR["self_harm"])
        print(f"emb windows (C {c:g}) for the shipped windows, shipped whole text: {summary}", flush=True)


def cost(tokenizer: WordPieces, table: np.ndarray) -> None:
    """What the head would add at run time for one 5 KB text read whole: model_text, word
    pieces and the mean vector (the TF-IDF logit is computed today already; the dot product with
    the head is nothing beside these). 300 SpamAssassin ham bodies repeated to 5 KB, as
    bench/risk_quality.py cost() builds them; process time, one thread, after a warm-up."""
    import statistics
    from bench.risk_quality import ham
    texts = []
    for raw in ham("test")[:300]:
        body = raw.split(b"\n\n", 1)[-1].decode("latin-1")
        texts.append((body * (5120 // max(1, len(body)) + 1))[:5120])
    weight = np.ones(len(table), np.float32)
    doc_vectors([tokenizer.ids(texts[0])], table, weight, True)
    times = []
    for text in texts:
        start = time.process_time()
        doc_vectors([tokenizer.ids(text)], table, weight, True)
        times.append((time.process_time() - start) * 1000)
    times.sort()
    print(f"embedding path CPU per 5 KB text: mean {statistics.mean(times):.3f} ms, median "
          f"{statistics.median(times):.3f}, p95 {times[int(0.95 * len(times))]:.3f} (n={len(times)})")


def recall_at(window, text, gold, sources, rows) -> tuple[float, float, float]:
    """choose_pair on `rows`: (recall, r/teenagers flagged, ham flagged) there."""
    tw, tt, _ = base.choose_pair(window[rows], text[rows], gold[rows], sources[rows], base.MAX_TEEN_FPR["self_harm"])
    return tw, tt, float((((window[rows] >= tw) | (text[rows] >= tt)) & (gold[rows] == 1)).sum() / (gold[rows] == 1).sum())


def check(names: list[str], head, shipped_text, window, gold, sources) -> None:
    """How sure is a variant's gain over the shipped head? (1) the validation rows cut in two
    halves by a hash of their index order: thresholds chosen on one half, recall and false flags
    read on the other, both ways; (2) 300 bootstrap resamples of the validation rows, thresholds
    re-chosen on each: the gain in recall at the budget, its 5-95% range and how often it is <= 0."""
    rng = np.random.default_rng(base.SEED)
    n = len(gold)
    half = rng.random(n) < 0.5
    for name in names:
        dims, sif, unit, c, with_tfidf = VARIANTS[name]
        text = head(dims, sif, unit, c, with_tfidf)
        line = [name]
        for pick, read in ((half, ~half), (~half, half)):
            for label, score in (("shipped", shipped_text), ("variant", text)):
                tw, tt, _ = recall_at(window, score, gold, sources, pick)
                flagged = (window[read] >= tw) | (score[read] >= tt)
                g, s = gold[read], sources[read]
                line.append(f"{label} R {flagged[g == 1].mean():.3f} teen {flagged[(s == 'teen') & (g == 0)].mean():.4f} "
                            f"Supportive {flagged[(s == 'cssrs_valid') & (g == 0)].sum()}")
        gains = []
        for _ in range(300):
            rows = rng.integers(0, n, n)
            gains.append(recall_at(window, text, gold, sources, rows)[2] - recall_at(window, shipped_text, gold, sources, rows)[2])
        gains = np.array(gains)
        print(" | ".join(line), flush=True)
        print(f"  bootstrap gain {gains.mean():+.3f} (5-95% {np.quantile(gains, 0.05):+.3f} .. "
              f"{np.quantile(gains, 0.95):+.3f}), <= 0 in {(gains <= 0).mean():.0%}", flush=True)


# name -> (dims, SIF coefficient, unit length, C, with the TF-IDF logit)
VARIANTS = {
    "128_unit_tfidf": (128, None, True, 0.1, True),
    "128_sif3_unit_tfidf": (128, 1e-3, True, 0.1, True),
    "64_unit_tfidf": (64, None, True, 0.1, True),
    "96_unit_tfidf": (96, None, True, 0.1, True),
    "32_unit_tfidf": (32, None, True, 0.1, True),
    "32_sif4_unit_tfidf": (32, 1e-4, True, 0.1, True),
}


if __name__ == "__main__":
    main()
