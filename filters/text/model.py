"""The safeguarding risk model: its features, its artifact (.npz, no pickle) and sentence-window scoring.

Features are word unigrams and bigrams from a vocabulary fixed at training time
(words and word pairs seen in at least a few training texts), counted per
sentence, log-scaled and L2-normalised; each label is a linear model over them.
A window's features are the sum of its sentences' counts, and the message's the
sum of all of them, so every sentence is tokenised once however many windows it
is in. Scoring works on the few (sentence, feature) pairs a message has, in one
numpy pass for all its sentences and windows: no per-sentence model calls and no
2^19-column sparse products (the hashed first version cost 3.4 ms per 5 KB
message against a 1.5 ms budget, docs/risk_model.md). Per label, a window's score,
its best sentence's and the whole text's are combined by a small logistic model
fitted on a validation carve-out of the training splits (which also calibrates;
a weight may be 0: the training chooses which parts count).

Beside the windows, a **whole-text** model for the labels that have one (self-harm):
hashed character 3-5-grams of the writer's own words, log-scaled and unit length,
one linear model per label, calibrated on validation. A long post is judged as a
whole there (its drift, its misspellings: "suicde", "kms"), while the windows keep
judging a newsletter that quotes one sad line by that line (docs/risk_model.md).
"""
from __future__ import annotations

import functools
import html
import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from itertools import repeat
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from filters.text.artifacts import write_npz

FORMAT = "schoolgate-risk-model/3"

_URL = re.compile(r"(?:https?://|www\.)\S+")
_EMAIL_TAIL = re.compile(r"@[^\s@]+\.\w+")  # from the "@" of "name@host.tld"
_HANDLE_TAIL = re.compile(r"@\w+")
_WORD_CHAR = re.compile(r"\w")
_ENTITY = re.compile(r"&#?\w+;")
_CURLY = ("\u2019", "\u02bc", "`")
_RUN3 = re.compile(r"(\w)\1{2,}")
# A word, with apostrophes inside it ("don't"); single letters are kept: "i" is most of
# what separates "i want to die" from a story.
_TOKEN = re.compile(r"\w+(?:'\w+)*")
# The same once apostrophes are dropped ("don't" -> "dont", as pupils write it).
_WORD = re.compile(r"\w+")
_WORD_OR_BREAK = re.compile(r"\w+|\x00")
_BREAK = -2  # the separator's index: sentence boundaries in one tokenising pass
# Bytes that are not ASCII word characters (or the separator) -> space.
_ASCII_WORDS = bytes(b if chr(b).isalnum() or b in (0, 95) else 32 for b in range(128)) + bytes(128)
# Sentences x distinct features up to which scoring uses a dense table (4 MB of float32);
# bigger messages take the sparse path, which gives the same scores.
DENSE_LIMIT = 1_000_000


# Character n-grams (whole-text model): bytes that are not letters or digits are one space,
# and each n-gram is hashed (a 64-bit polynomial, then multiplicative) to `bits` bits.
_CHAR_MAP = bytes(b if (b < 128 and chr(b).isalnum()) or b >= 128 else 32 for b in range(256))
# Inside words (scikit-learn's "char_wb"), only white space separates: punctuation is part of a
# word's n-grams ("die.", "...", "?!"), which measured better on validation than letters alone.
_WB_MAP = bytes(32 if chr(b).isspace() else b for b in range(256))
_CHAR_P = np.uint64(0x100000001B3)
_CHAR_M = np.uint64(0x9E3779B97F4A7C15)
CHAR_NGRAMS = (3, 5)


# Word n-grams of the whole text hash into the same table as the character n-grams (their own
# salts, so a word never shares a key with its own 5-gram on purpose): a substring's polynomial
# hash is read off prefix sums in one numpy pass, so no string is built per word or pair.
_CHAR_P_INV = np.uint64(pow(int(_CHAR_P), -1, 1 << 64))
_WORD_SALT = np.uint64(0xA5A5A5A5)


def _word_keys(code: np.ndarray, n_words: int, shift: np.uint64) -> list[np.ndarray]:
    """Hashed word 1..n_words-grams of `code` (bytes of b" w1 w2 ... ", one space between)."""
    length = len(code)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(length, _CHAR_P, np.uint64))  # P^1 .. P^length
        powers = np.concatenate((np.ones(1, np.uint64), powers))
        inverse = np.cumprod(np.full(length, _CHAR_P_INV, np.uint64))
        inverse = np.concatenate((np.ones(1, np.uint64), inverse[:-1]))  # P^-0 .. P^-(length-1)
        prefix = np.concatenate((np.zeros(1, np.uint64), np.cumsum(code * inverse, dtype=np.uint64)))
        space = np.flatnonzero(code == 32)  # word j is code[space[j] + 1 : space[j + 1]]
        out = []
        for n in range(1, n_words + 1):
            if len(space) <= n:
                break
            start, end = space[:-n] + 1, space[n:]
            h = (prefix[end] - prefix[start]) * powers[end - 1]
            out.append(((h + _WORD_SALT + np.uint64(n)) * _CHAR_M) >> shift)
    return out


def char_keys(folded: str, bits: int, ngrams: tuple[int, int] = CHAR_NGRAMS,
              within_words: bool = False, words: int = 0) -> np.ndarray:
    """Hashed character n-grams (3-5 unless told) of a model_text(), apostrophes dropped and
    every run of non-word bytes one space (so "im  sooo\ttired" and "im sooo tired" agree):
    one numpy pass per n-gram size, no string per n-gram (0.1 ms for 5 KB). `within_words`:
    only n-grams with no space inside them (a word's own, its edges marked by the spaces
    either side, as scikit-learn's "char_wb" reads text), words split at white space only.
    `words`: also the text's word 1..words-grams (words as split here), hashed to the same bits."""
    raw = folded.replace("'", "").encode("utf-8", "surrogatepass").translate(_WB_MAP if within_words else _CHAR_MAP)
    raw = b" " + b" ".join(raw.split()) + b" "
    lo, hi = ngrams
    if len(raw) < lo:
        return np.zeros(0, np.int64)
    code = np.frombuffer(raw, dtype=np.uint8).astype(np.uint64)
    # spaces before each position: an n-gram at i has one inside when spaces[i+n-1] > spaces[i+1]
    spaces = np.concatenate(([0], np.cumsum(code == 32))) if within_words else None
    out = []
    shift = np.uint64(64 - bits)
    with np.errstate(over="ignore"):  # the hash wraps modulo 2^64 on purpose
        h = code.copy()
        for n in range(2, hi + 1):
            if len(code) < n:
                break
            h = (h[:-1] * _CHAR_P) ^ code[n - 1:]
            if n >= lo:
                keys = ((h + np.uint64(n)) * _CHAR_M) >> shift
                if spaces is not None and n > 2:
                    keys = keys[spaces[n - 1:len(code)] == spaces[1:len(code) - n + 2]]
                out.append(keys)
    if words:
        out.extend(_word_keys(code, words, shift))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def char_counts(texts: Sequence[str], bits: int, ngrams: tuple[int, int] = CHAR_NGRAMS,
                within_words: bool = False, words: int = 0):
    """Raw character n-gram counts, one row per text (training: document frequencies, IDF)."""
    from scipy.sparse import csr_matrix
    rows, cols = [], []
    for r, text in enumerate(texts):
        keys = char_keys(model_text(text), bits, ngrams, within_words, words)
        rows.append(np.full(len(keys), r, dtype=np.int64))
        cols.append(keys)
    rows_a = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    cols_a = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    counts = csr_matrix((np.ones(len(rows_a), np.float32), (rows_a, cols_a)), shape=(len(texts), 1 << bits))
    counts.sum_duplicates()
    return counts


def char_finish(counts, idf: np.ndarray | None = None):
    """Counts to features, as WholeText.raw computes them: without IDF log(1 + count); with it
    (1 + log(count)) x idf (scikit-learn's sublinear TF-IDF); then unit rows."""
    from scipy.sparse import csr_matrix
    counts = csr_matrix(counts, dtype=np.float32, copy=True)
    if idf is None:
        counts.data = np.log1p(counts.data)
    else:
        counts.data = (1 + np.log(counts.data)) * np.asarray(idf, np.float32)[counts.indices]
        counts.eliminate_zeros()
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    counts.data /= np.repeat(norms, np.diff(counts.indptr)).astype(np.float32)
    return counts


def char_matrix(texts: Sequence[str], bits: int, ngrams: tuple[int, int] = CHAR_NGRAMS,
                within_words: bool = False, idf: np.ndarray | None = None):
    """Whole-text character features, one row per text: training."""
    return char_finish(char_counts(texts, bits, ngrams, within_words), idf)


@dataclass(frozen=True, slots=True)
class WholeText:
    """The whole-text model: labels, coefficients (labels x 2^bits), intercepts, and per label
    (a, b) of its calibration (probability = logistic(a * raw + b)) and its threshold."""

    labels: tuple[str, ...]
    bits: int
    coef_t: np.ndarray  # 2^bits x labels, float32
    intercept: np.ndarray
    calibration: np.ndarray  # labels x 2
    thresholds: np.ndarray
    # per label: a text whose best window scores below this is not read as a whole (cheap
    # first: on validation every text the whole-text model flagged had a best window well
    # above it, bench/train_risk_model.py); 0 reads every text
    gates: np.ndarray | None = None
    ngrams: tuple[int, int] = CHAR_NGRAMS
    within_words: bool = False
    # per bucket inverse document frequency (0: too rare in training, not a feature); None: no
    # IDF, log(1 + count) as version 3 first shipped
    idf: np.ndarray | None = None
    # word 1..words-grams hashed beside the characters (fifth pass); 0: characters only
    words: int = 0

    def raw(self, folded_texts: Sequence[str]) -> np.ndarray:
        """Raw linear scores, texts x labels."""
        out = np.tile(self.intercept, (len(folded_texts), 1))
        for i, folded in enumerate(folded_texts):
            keys = char_keys(folded, self.bits, self.ngrams, self.within_words, self.words)
            if not len(keys):
                continue
            keys.sort()
            starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
            count = np.diff(np.append(starts, len(keys))).astype(np.float32)
            bucket = keys[starts]
            if self.idf is None:
                value = np.log1p(count)
            else:
                value = (1 + np.log(count)) * self.idf[bucket]
            norm = np.sqrt(value @ value)
            if norm:
                out[i] += (value @ self.coef_t[bucket]) / norm
        return out

    def probability(self, folded_texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, texts x labels."""
        return _sigmoid(self.raw(folded_texts) * self.calibration[:, 0] + self.calibration[:, 1])


def _same_length(replacement: str):
    def sub(match: re.Match[str]) -> str:
        width = len(match.group())
        return replacement[:width].ljust(width)
    return sub


def model_text(text: str) -> str:
    """The model's view of a text, the same length as `text` so sentence spans found in the
    original index it too: case folded, entities decoded, links, addresses and handles
    replaced by one token each (the corpora are full of site names), curly apostrophes
    made straight. One pass per message, not per sentence."""
    folded = text.lower()
    if len(folded) != len(text):  # a few characters lower-case to two ("İ"): keep those as they are
        folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    for curly in _CURLY:  # str.translate looks up every character: a scan per kind is 10x cheaper
        if curly in folded:
            folded = folded.replace(curly, "'")
    if "&" in folded:
        folded = _ENTITY.sub(lambda m: html.unescape(m.group())[:len(m.group())].ljust(len(m.group())), folded)
    if "://" in folded or "www." in folded:
        folded = _URL.sub(_same_length("xurl"), folded)
    if "@" in folded:
        folded = _mask_at(folded)
    return folded


def _mask_at(folded: str) -> str:
    """Addresses ("a@b.c") become "xmail", handles ("@ab") "xat", padded to their length.
    Found from each "@" outwards: a regex that may start anywhere (an address begins before
    its "@") retries at every character, a tenth of the filter's budget on a 5 KB message."""
    pieces: list[str] = []
    done = 0
    at = folded.find("@")
    while at != -1:
        start = at
        while start > done and not folded[start - 1].isspace() and folded[start - 1] != "@":
            start -= 1
        address = _EMAIL_TAIL.match(folded, at) if start < at else None
        if address:
            end, placeholder = address.end(), "xmail"
        else:
            handle = None if at and _WORD_CHAR.match(folded, at - 1) else _HANDLE_TAIL.match(folded, at)
            start, end, placeholder = (at, handle.end(), "xat") if handle else (at, at, "")
        if end > start:
            pieces.append(folded[done:start])
            pieces.append(placeholder[:end - start].ljust(end - start))
            done = end
        at = folded.find("@", max(end, at + 1))
    pieces.append(folded[done:])
    return "".join(pieces)


def prepare(text: str) -> str:
    """One text as the cue patterns read it: model_text() with apostrophes dropped ("don't" ->
    "dont", as pupils write it) and letter runs cut to two ("sooooo" -> "soo")."""
    return _RUN3.sub(r"\1\1", model_text(text).replace("'", ""))


def words(folded: str, start: int = 0, end: int | None = None) -> list[str]:
    """The words of folded[start:end] (a model_text()), apostrophes dropped."""
    piece = folded[start:end]
    if "'" in piece:
        piece = piece.replace("'", "")
    return _WORD.findall(piece)


def tokens(folded: str, start: int = 0, end: int | None = None) -> list[str]:
    """Word unigrams and bigrams of folded[start:end]: what the vocabulary is built from."""
    found = words(folded, start, end)
    return found + [f"{a} {b}" for a, b in zip(found, found[1:])]


def window_matrix(sizes: Sequence[int], radius: int):
    """Sparse (windows x sentences) 0/1 matrix: for each document of `sizes[d]` sentences, one
    window per sentence covering it and `radius` sentences either side (within the document).
    The scoring below does the same on (sentence, feature) pairs; this is its plain statement."""
    from scipy.sparse import csr_matrix
    sizes = np.asarray(sizes, dtype=np.int32)
    total = int(sizes.sum())
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)  # each sentence's document start
    ends = np.repeat(np.cumsum(sizes), sizes)
    centre = np.arange(total)
    lo = np.maximum(starts, centre - radius)
    hi = np.minimum(ends, centre + radius + 1)
    counts = hi - lo
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    cols = (lo.repeat(counts) + (np.arange(indptr[-1]) - np.repeat(indptr[:-1], counts))).astype(np.int32)
    return csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr), shape=(total, total))


class Vocabulary:
    """Word -> index, and which words and word pairs are features. Bigrams are looked up as
    one int64 key (first word's index x number of words + second's) in a sorted array, so
    a message's bigrams are found in one numpy call, never built as strings."""

    def __init__(self, word_list: Sequence[str], unigram_feature: np.ndarray,
                 bigram_keys: np.ndarray, bigram_feature: np.ndarray) -> None:
        self.word_list = list(word_list)
        self.index = {w: i for i, w in enumerate(self.word_list)}
        self.index["\x00"] = _BREAK
        self.ascii_index = {w.encode("ascii"): i for w, i in self.index.items() if w.isascii()}
        self.unigram_feature = np.asarray(unigram_feature, dtype=np.int32)
        order = np.argsort(bigram_keys, kind="stable")
        self.bigram_keys = np.asarray(bigram_keys, dtype=np.int64)[order]
        self.bigram_feature = np.asarray(bigram_feature, dtype=np.int32)[order]
        self.n_words = len(self.word_list)
        # the same pairs as a dict: a message's ~1000 lookups are cheaper hashed than by
        # binary search over ~75k keys (cache misses)
        self.bigram_index = dict(zip(self.bigram_keys.tolist(), self.bigram_feature.tolist()))
        self.n_features = int(max(self.unigram_feature.max(initial=-1), self.bigram_feature.max(initial=-1)) + 1)

    @classmethod
    def build(cls, texts: Iterable[str], min_df: int = 2, min_df_bigram: int = 3) -> "Vocabulary":
        """From training texts: words in at least `min_df` texts, pairs in `min_df_bigram`
        (rarer ones are mostly names and typos, and cost space). Deterministic: sorted."""
        word_df: Counter = Counter()
        pair_df: Counter = Counter()
        for text in texts:
            found = words(model_text(text))
            word_df.update(set(found))
            pair_df.update(set(zip(found, found[1:])))
        kept = sorted(w for w, n in word_df.items() if n >= min_df)
        index = {w: i for i, w in enumerate(kept)}
        pairs = sorted((a, b) for (a, b), n in pair_df.items() if n >= min_df_bigram and a in index and b in index)
        n = len(kept)
        keys = np.array([index[a] * n + index[b] for a, b in pairs], dtype=np.int64)
        return cls(kept, np.arange(n, dtype=np.int32), keys, np.arange(n, n + len(pairs), dtype=np.int32))

    def pairs(self, folded: str, spans: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """(sentence number, feature) for every feature occurrence in each span of `folded`.
        The spans are joined with a separator the word pattern also matches, so one regex
        call tokenises every sentence and the separators number them (a call per sentence
        cost more than the model)."""
        return self.pairs_of([(folded, spans)])

    def pairs_of(self, documents: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> tuple[np.ndarray, np.ndarray]:
        """pairs() of several documents (folded text, spans) in one pass, sentences numbered
        on across them: a message's subject and body cost one tokenising call and one set of
        numpy calls, not one each (most of pairs() is per-call overhead on a 5 KB message)."""
        pieces = []
        for folded, spans in documents:
            if "\x00" in folded:  # the separator: a NUL in the mail itself is a space here
                folded = folded.replace("\x00", " ")
            pieces.extend(folded[a:b] for a, b in spans)
        joined = " \x00 ".join(pieces)
        if "'" in joined:
            joined = joined.replace("'", "")
        if joined.isascii():
            # \w+ on ASCII is [a-z0-9_] after folding: one C-level byte mapping and split()
            # find the same words several times faster than the regex
            found = joined.encode("ascii").translate(_ASCII_WORDS).split()
            get = self.ascii_index.get
        else:
            found = _WORD_OR_BREAK.findall(joined)
            get = self.index.get
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        word = np.fromiter(map(get, found, repeat(-1)), dtype=np.int64, count=len(found))
        breaks = word == _BREAK
        sentence = np.cumsum(breaks)
        keep = ~breaks
        word, sentence = word[keep], sentence[keep]
        known = word >= 0
        uni = self.unigram_feature[word[known]]
        uni_rows = sentence[known]
        listed = uni >= 0
        features, rows = [uni[listed].astype(np.int64)], [uni_rows[listed]]
        if len(word) > 1 and len(self.bigram_keys):
            first, second = word[:-1], word[1:]
            ok = (first >= 0) & (second >= 0) & (sentence[:-1] == sentence[1:])
            keys = (first[ok] * self.n_words + second[ok]).tolist()
            found_pairs = np.fromiter(map(self.bigram_index.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
            hit = found_pairs >= 0
            features.append(found_pairs[hit])
            rows.append(sentence[:-1][ok][hit])
        return np.concatenate(rows), np.concatenate(features)

    def matrix(self, texts: Sequence[str]):
        """Finished features (log(1 + count), unit rows), one row per whole text: training."""
        from scipy.sparse import csr_matrix
        row_parts, feature_parts = [], []
        for r, text in enumerate(texts):
            folded = model_text(text)
            _, features = self.pairs(folded, [(0, len(folded))])
            row_parts.append(np.full(len(features), r, dtype=np.int64))
            feature_parts.append(features)
        rows = np.concatenate(row_parts) if row_parts else np.zeros(0, np.int64)
        cols = np.concatenate(feature_parts) if feature_parts else np.zeros(0, np.int64)
        counts = csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), self.n_features))
        counts.sum_duplicates()
        counts.data = np.log1p(counts.data)
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        lengths = np.diff(counts.indptr)
        counts.data /= np.repeat(norms, lengths).astype(np.float32)
        return counts


def unit_raw(units: np.ndarray, features: np.ndarray, n_units: int, coef_t: np.ndarray,
             intercept: np.ndarray) -> np.ndarray:
    """Linear scores (n_units x labels) of units given as (unit, feature) occurrences: counts
    per unit, log(1 + count), unit length, dot with the coefficients. A unit with no
    feature scores the intercept."""
    out = np.zeros((n_units, len(intercept)), dtype=np.float32)
    if len(units):
        n_features = coef_t.shape[0]
        keys, counts = np.unique(units * n_features + features, return_counts=True)
        unit, feature = keys // n_features, keys % n_features
        value = np.log1p(counts.astype(np.float32))
        starts = np.flatnonzero(np.concatenate(([True], unit[1:] != unit[:-1])))
        present = unit[starts]
        norm = np.sqrt(np.add.reduceat(value * value, starts))
        sums = np.add.reduceat(coef_t[feature] * value[:, None], starts, axis=0)
        out[present] = sums / norm[:, None]
    return out + intercept


@dataclass(frozen=True, slots=True)
class Scores:
    """Probabilities for one document (a text of the message), sentences x labels each:
    `combined[i]` is what the filter thresholds: window i (sentence i and `radius` either
    side), the best sentence in it and the whole text, combined and calibrated;
    `sentence` and `window` are the parts alone on the same scale (for evidence)."""

    labels: tuple[str, ...]
    sentence: np.ndarray
    window: np.ndarray
    combined: np.ndarray

    def best(self, label: str) -> float:
        column = self.labels.index(label)
        return float(self.combined[:, column].max()) if len(self.combined) else 0.0


# log(1 + n) of the counts 0..4095 in float32, looked up: np.log1p over a whole count table
# (mostly zeros) was a fifth of the scoring. Made by np.log1p itself on float32, so a lookup
# gives the same bits (tests/filters/test_risk_model.py checks it on this machine's numpy).
_LOG1P = np.log1p(np.arange(4096, dtype=np.float32))


def _log1p_counts(table: np.ndarray) -> np.ndarray:
    """np.log1p(table.astype(np.float32)) of an integer count table, as float32."""
    if not table.size or table.max() < len(_LOG1P):
        return _LOG1P.take(table)
    return np.log1p(table.astype(np.float32))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class RiskModel:
    """Loaded once per process (before `serve` forks its workers); scoring is read-only,
    so threads may share it.

    `combine[label]` = (weight of a window's raw score, of its best sentence's, of the whole
    text's, bias; then a, b of the parts' own calibration): the probability of a window is
    the logistic of the weighted sum, a part's alone the logistic of a * raw + b.
    """

    def __init__(self, labels: Sequence[str], vocabulary: Vocabulary, coef: np.ndarray,
                 intercept: np.ndarray, combine: np.ndarray, thresholds: np.ndarray,
                 radius: int = 2, meta: dict | None = None, whole_text: WholeText | None = None) -> None:
        self.labels = tuple(labels)
        self.whole_text = whole_text
        self.vocabulary = vocabulary
        self.coef_t = np.ascontiguousarray(np.asarray(coef, dtype=np.float32).T)  # features x labels
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.combine = np.asarray(combine, dtype=np.float32).reshape(len(self.labels), 6)
        self.thresholds = dict(zip(self.labels, map(float, thresholds)))
        self.radius = radius
        self.meta = meta or {}

    # -- the artifact --

    def save(self, path: Path) -> None:
        meta = {**self.meta, "format": FORMAT, "radius": self.radius}
        v = self.vocabulary
        arrays = {
            "labels": np.array(self.labels),
            "words": np.frombuffer("\n".join(v.word_list).encode("utf-8"), dtype=np.uint8),
            "unigram_feature": v.unigram_feature, "bigram_keys": v.bigram_keys,
            "bigram_feature": v.bigram_feature,
            "coef": self.coef_t.T.astype(np.float16), "intercept": self.intercept,
            "combine": self.combine,
            "thresholds": np.array([self.thresholds[label] for label in self.labels], dtype=np.float32),
            "meta": np.array(json.dumps(meta, sort_keys=True))}
        if self.whole_text is not None:
            t = self.whole_text
            arrays.update({"text_labels": np.array(t.labels), "text_bits": np.array(t.bits),
                           "text_coef": t.coef_t.T.astype(np.float16), "text_intercept": t.intercept,
                           "text_calibration": t.calibration, "text_thresholds": t.thresholds,
                           "text_gates": t.gates if t.gates is not None else np.zeros(len(t.labels), np.float32),
                           "text_ngrams": np.array(t.ngrams), "text_within_words": np.array(t.within_words)})
            if t.words:
                arrays["text_words"] = np.array(t.words)
            if t.idf is not None:
                arrays["text_idf"] = t.idf.astype(np.float16)
        write_npz(path, arrays)  # byte-identical for the same training (filters/text/artifacts.py)

    @classmethod
    def load(cls, path: Path | None = None) -> "RiskModel":
        """The shipped model (filters/models/risk_model.npz), or another artifact."""
        source = path or resources.files("filters") / "models" / "risk_model.npz"
        with source.open("rb") if path is None else open(path, "rb") as handle:
            data = np.load(handle, allow_pickle=False)  # never unpickle: the file is data only
            meta = json.loads(str(data["meta"]))
            # a version-2 artifact is this one without the whole-text model: still read
            if meta.get("format") not in (FORMAT, "schoolgate-risk-model/2"):
                raise ValueError(f"{source}: not a {FORMAT} artifact (retrain: bench/train_risk_model.py)")
            word_list = bytes(data["words"]).decode("utf-8").split("\n")
            vocabulary = Vocabulary(word_list, data["unigram_feature"], data["bigram_keys"],
                                    data["bigram_feature"])
            whole_text = None
            if "text_labels" in data:
                whole_text = WholeText(
                    tuple(str(x) for x in data["text_labels"]), int(data["text_bits"]),
                    np.ascontiguousarray(data["text_coef"].astype(np.float32).T),
                    data["text_intercept"].astype(np.float32), data["text_calibration"].astype(np.float32),
                    data["text_thresholds"].astype(np.float32),
                    data["text_gates"].astype(np.float32) if "text_gates" in data else None,
                    tuple(int(n) for n in data["text_ngrams"]) if "text_ngrams" in data else CHAR_NGRAMS,
                    bool(data["text_within_words"]) if "text_within_words" in data else False,
                    data["text_idf"].astype(np.float32) if "text_idf" in data else None,
                    int(data["text_words"]) if "text_words" in data else 0)
            return cls(labels=[str(x) for x in data["labels"]], vocabulary=vocabulary, coef=data["coef"],
                       intercept=data["intercept"], combine=data["combine"], thresholds=data["thresholds"],
                       radius=int(meta["radius"]), meta=meta, whole_text=whole_text)

    # -- scoring --

    def raw_parts(self, documents: Sequence[tuple[str, Sequence[tuple[int, int]]]],
                  folded: Sequence[str] | None = None):
        """Raw linear scores of every sentence, window and whole document, in one pass:
        (sentence raw, window raw: both sentences x labels over all documents, message raw:
        documents x labels, sentences per document). `folded`: the documents' model_text(),
        when the caller has it already."""
        sizes = np.array([len(spans) for _, spans in documents], dtype=np.int64)
        # every document's sentences in one tokenising pass, numbered on across documents
        sentence, features = self.vocabulary.pairs_of(
            [(folded[index] if folded else model_text(text), spans)
             for index, (text, spans) in enumerate(documents) if spans])
        total = int(sizes.sum())
        coef, bias = self.coef_t, self.intercept
        # unique without the inverse (a sort, not an argsort) and the columns by binary search:
        # the same two arrays, cheaper
        used = np.unique(features)
        column = np.searchsorted(used, features)
        if total * len(used) <= DENSE_LIMIT:
            # the usual mail: a dense sentences x used-features count table; windows and whole
            # texts are differences of its running sums
            sentence_raw, window_raw, message_raw = self._dense_raw(sentence, column, used, sizes)
            return sentence_raw, window_raw, message_raw, sizes
        sentence_raw = unit_raw(sentence, features, total, coef, bias)
        # each occurrence counts in the windows centred up to `radius` sentences away, within its document
        document = np.repeat(np.arange(len(sizes)), sizes)
        doc_start = np.repeat(np.cumsum(sizes) - sizes, sizes)
        doc_end = doc_start + np.repeat(sizes, sizes)
        own_doc_start, own_doc_end = doc_start[sentence], doc_end[sentence]
        units, occ = [], []
        for shift in range(-self.radius, self.radius + 1):
            centre = sentence + shift
            ok = (centre >= own_doc_start) & (centre < own_doc_end)
            units.append(centre[ok])
            occ.append(features[ok])
        window_raw = unit_raw(np.concatenate(units), np.concatenate(occ), total, coef, bias)
        if self.combine[:, 2].any():  # the whole text counts for some label
            message_raw = unit_raw(document[sentence] if total else sentence, features, len(sizes), coef, bias)
        else:  # unused: the intercept stands in, as on the dense path
            message_raw = np.tile(bias, (len(sizes), 1))
        return sentence_raw, window_raw, message_raw, sizes

    def _dense_raw(self, sentence: np.ndarray, column: np.ndarray, used: np.ndarray,
                   sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        total, width = int(sizes.sum()), len(used)
        # integer count tables (exact, as the float32 running sums they replace were): a
        # window's counts are its sentence's plus its neighbours' within the document
        # `radius` zero rows before, between and after the documents: a window is then the sum
        # of 2 * radius + 1 shifted slices, never reaching into another document
        r = self.radius
        row = np.arange(total) + r * (np.repeat(np.arange(len(sizes)), sizes) + 1)  # each sentence's padded row
        rows = total + r * (len(sizes) + 1)
        padded = np.bincount(row[sentence] * width + column, minlength=rows * width).reshape(rows, width)
        counts = padded[row]
        span = len(padded) - 2 * r
        summed = padded[0:span].copy()
        for k in range(1, 2 * r + 1):
            summed += padded[k:k + span]
        windows = summed[row - r]
        coef = self.coef_t[used]
        tables = [counts, windows]
        if self.combine[:, 2].any():  # the whole text counts for some label
            running = np.zeros((total + 1, width), dtype=np.int64)
            np.cumsum(counts, axis=0, out=running[1:])
            ends = np.cumsum(sizes)
            tables.append(running[ends] - running[ends - sizes])
        out = []
        for table in tables:
            values = _log1p_counts(table)
            norm = np.sqrt(np.einsum("ij,ij->i", values, values))
            norm[norm == 0] = 1
            out.append((values @ coef) / norm[:, None] + self.intercept)
        if len(out) == 2:  # unused: the intercept stands in
            out.append(np.tile(self.intercept, (len(sizes), 1)))
        return out[0], out[1], out[2]

    def window_inputs(self, sentence_raw: np.ndarray, window_raw: np.ndarray, message_raw: np.ndarray,
                      sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per window (sentences x labels each): its raw score, its best sentence's raw score,
        and its whole text's."""
        doc_start = np.repeat(np.cumsum(sizes) - sizes, sizes)
        doc_end = doc_start + np.repeat(sizes, sizes) - 1
        centre = np.arange(len(sentence_raw))
        # a neighbour outside the document is clipped to its edge sentence, which is in the
        # window already: the max is the same, without a mask and a scatter per shift
        best_sentence = sentence_raw
        for shift in range(-self.radius, self.radius + 1):
            if shift:
                other = np.clip(centre + shift, doc_start, doc_end)
                best_sentence = np.maximum(best_sentence, sentence_raw[other])
        return window_raw, best_sentence, np.repeat(message_raw, sizes, axis=0)

    def combined_raw(self, sentence_raw: np.ndarray, window_raw: np.ndarray, message_raw: np.ndarray,
                     sizes: np.ndarray) -> np.ndarray:
        """Per window, before the logistic: its raw score, its best sentence's and the whole
        text's, weighted by `combine` (fitted on validation; bench/train_risk_model.py)."""
        window, best_sentence, message = self.window_inputs(sentence_raw, window_raw, message_raw, sizes)
        w = self.combine
        return window * w[:, 0] + best_sentence * w[:, 1] + message * w[:, 2] + w[:, 3]

    def score_documents(self, documents: Sequence[tuple[str, Sequence[tuple[int, int]]]],
                        folded: Sequence[str] | None = None) -> list[Scores]:
        """Each document is a text and its sentence spans; one pass for all of them."""
        sentence_raw, window_raw, message_raw, sizes = self.raw_parts(documents, folded)
        combined = _sigmoid(self.combined_raw(sentence_raw, window_raw, message_raw, sizes))
        w = self.combine
        sentence = _sigmoid(sentence_raw * w[:, 4] + w[:, 5])
        window = _sigmoid(window_raw * w[:, 4] + w[:, 5])
        out: list[Scores] = []
        offset = 0
        for size in sizes:
            part = slice(offset, offset + size)
            out.append(Scores(self.labels, sentence[part], window[part], combined[part]))
            offset += size
        return out

    def score(self, text: str, spans: Sequence[tuple[int, int]]) -> Scores:
        return self.score_documents([(text, spans)])[0]


@functools.cache
def shipped_model() -> RiskModel:
    """The shipped artifact, loaded once per process. The registry's preload() calls this before
    `serve` forks its workers, so every worker shares the same pages; nothing writes to the
    model after loading, so one copy serves every filter and thread."""
    return RiskModel.load()
