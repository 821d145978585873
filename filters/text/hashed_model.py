"""Hashed word n-gram linear models (artifact format 1): the chain-letter model's features and artifact.

This is the risk model's first version, kept as it was because the chain-letter
model (filters/chain_letter_model.py) is trained and shipped in this format; the
risk model itself moved to a fixed vocabulary (filters/text/model.py, format 2).

Features are hashed word unigrams and bigrams (scikit-learn's FeatureHasher:
stateless, so nothing but its parameters is stored), log-scaled and
L2-normalised; each label is a linear model over them, with a Platt
calibration fitted on a validation carve-out of the training splits. A
window's features are the sum of its sentences' counts, so every sentence is
hashed once however many windows it is in. Character n-grams read misspellings
better but cost ~5 ms per 5 KB message against a 1.5 ms budget (measured,
docs/risk_model.md), so they are left out.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from filters.text.artifacts import write_npz
# the same link and word patterns and span-keeping replacement as the current model's; this
# module keeps only what format 1 (the chain-letter model's) reads differently
from filters.text.model import _TOKEN, _URL, _same_length

FORMAT = "schoolgate-risk-model/1"

_EMAIL = re.compile(r"\S+@\S+\.\w+")
_HANDLE = re.compile(r"(?<!\w)@\w+")
_ENTITY = re.compile(r"&#?\w+;")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "`": "'"})
_RUN3 = re.compile(r"(\w)\1{2,}")
# A word, with apostrophes inside it ("don't"); single letters are kept: "i" is most of
# what separates "i want to die" from a story.


def model_text(text: str) -> str:
    """The model's view of a text, the same length as `text` so sentence spans found in the
    original index it too: case folded, entities decoded, links, addresses and handles
    replaced by one token each (the corpora are full of site names), curly apostrophes
    made straight. One pass per message, not per sentence."""
    folded = text.lower()
    if len(folded) != len(text):  # a few characters lower-case to two ("İ"): keep those as they are
        folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    folded = folded.translate(_APOSTROPHES)
    if "&" in folded:
        folded = _ENTITY.sub(lambda m: html.unescape(m.group())[:len(m.group())].ljust(len(m.group())), folded)
    if "://" in folded or "www." in folded:
        folded = _URL.sub(_same_length("xurl"), folded)
    if "@" in folded:  # placeholders no longer than the shortest match ("a@b.c", "@ab")
        folded = _HANDLE.sub(_same_length("xat"), _EMAIL.sub(_same_length("xmail"), folded))
    return folded


def prepare(text: str) -> str:
    """One text as the cue patterns read it: model_text() with apostrophes dropped ("don't" ->
    "dont", as pupils write it) and letter runs cut to two ("sooooo" -> "soo")."""
    return _RUN3.sub(r"\1\1", model_text(text).replace("'", ""))


def tokens(folded: str, start: int = 0, end: int | None = None) -> list[str]:
    """Word unigrams and bigrams of folded[start:end] (a model_text()). Letter runs are left
    as written: finding them costs a regex pass over the whole text, a third of the budget."""
    words = _TOKEN.findall(folded, start, len(folded) if end is None else end)
    words = [w.replace("'", "") if "'" in w else w for w in words]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    n_features: int = 2 ** 19
    ngram_max: int = 2  # the only one tokens() makes

    def hasher(self):
        from sklearn.feature_extraction import FeatureHasher  # imported once, before the fork
        return FeatureHasher(n_features=self.n_features, input_type="string", alternate_sign=False,
                             dtype=np.float32)


def finish(counts):
    """Raw hashed counts -> model input: log(1 + count), then unit length (rows with no
    features stay zero). Plain numpy: sklearn's normalize() validates its arguments at a
    cost larger than the work for one message."""
    out = counts.copy()
    data = np.log1p(out.data)
    lengths = np.diff(out.indptr)
    squares = np.add.reduceat(data * data, out.indptr[:-1][lengths > 0]) if len(data) else data
    norms = np.ones(out.shape[0], dtype=data.dtype)
    norms[lengths > 0] = np.sqrt(squares)
    out.data = data / np.repeat(norms, lengths)
    return out


def window_matrix(sizes: Sequence[int], radius: int):
    """Sparse (windows x sentences) 0/1 matrix: for each document of `sizes[d]` sentences, one
    window per sentence covering it and `radius` sentences either side (within the document)."""
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


@dataclass(frozen=True, slots=True)
class Scores:
    """Calibrated probabilities for one document: per sentence and per window (both
    sentences x labels; window i is centred on sentence i)."""

    labels: tuple[str, ...]
    sentence: np.ndarray
    window: np.ndarray

    def best(self, label: str) -> float:
        column = self.labels.index(label)
        return float(self.window[:, column].max()) if len(self.window) else 0.0


class RiskModel:
    """Loaded once per process (before `serve` forks its workers); scoring is read-only,
    so threads may share it."""

    def __init__(self, labels: Sequence[str], coef: np.ndarray, intercept: np.ndarray,
                 calib_a: np.ndarray, calib_b: np.ndarray, thresholds: np.ndarray,
                 spec: FeatureSpec, radius: int = 1, meta: dict | None = None) -> None:
        self.labels = tuple(labels)
        self.coef_t = np.ascontiguousarray(coef.astype(np.float32).T)  # features x labels
        self.intercept = intercept.astype(np.float32)
        self.calib_a = calib_a.astype(np.float32)
        self.calib_b = calib_b.astype(np.float32)
        self.thresholds = dict(zip(self.labels, map(float, thresholds)))
        self.spec = spec
        self.radius = radius
        self.meta = meta or {}
        self._hasher = spec.hasher()

    # -- the artifact --

    def save(self, path: Path) -> None:
        meta = {**self.meta, "format": FORMAT, "n_features": self.spec.n_features,
                "ngram_max": self.spec.ngram_max, "radius": self.radius}
        arrays = {
            "labels": np.array(self.labels), "coef": self.coef_t.T.astype(np.float16),
            "intercept": self.intercept, "calib_a": self.calib_a, "calib_b": self.calib_b,
            "thresholds": np.array([self.thresholds[label] for label in self.labels], dtype=np.float32),
            "meta": np.array(json.dumps(meta, sort_keys=True))}
        write_npz(path, arrays)  # byte-identical for the same training (filters/text/artifacts.py)

    @classmethod
    def load(cls, path: Path | None = None) -> "RiskModel":
        """An artifact (the chain-letter model's), or by default the first risk model's path."""
        source = path or resources.files("filters") / "models" / "risk_model.npz"
        with source.open("rb") if path is None else open(path, "rb") as handle:
            data = np.load(handle, allow_pickle=False)  # never unpickle: the file is data only
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{source}: not a {FORMAT} artifact")
            return cls(labels=[str(x) for x in data["labels"]], coef=data["coef"],
                       intercept=data["intercept"], calib_a=data["calib_a"], calib_b=data["calib_b"],
                       thresholds=data["thresholds"],
                       spec=FeatureSpec(int(meta["n_features"]), int(meta["ngram_max"])),
                       radius=int(meta["radius"]), meta=meta)

    # -- scoring --

    def counts(self, texts: Sequence[str]):
        """Hashed n-gram counts, one row per text (training: whole posts)."""
        return self._hasher.transform([tokens(model_text(text)) for text in texts])

    def span_counts(self, text: str, spans: Sequence[tuple[int, int]]):
        """Hashed n-gram counts of each span of one text (its sentences), folding it once."""
        folded = model_text(text)
        return self._hasher.transform([tokens(folded, a, b) for a, b in spans])

    def raw(self, features) -> np.ndarray:
        """Linear scores (rows x labels) of finished features."""
        return np.asarray(features @ self.coef_t) + self.intercept

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(raw * self.calib_a + self.calib_b)))

    def score_documents(self, documents: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> list[Scores]:
        """Each document is a text and its sentence spans; one hashing call for all of them."""
        from scipy.sparse import vstack
        sizes = [len(spans) for _, spans in documents]
        if not sum(sizes):
            empty = np.zeros((0, len(self.labels)), dtype=np.float32)
            return [Scores(self.labels, empty, empty) for _ in documents]
        from scipy.sparse import csr_matrix
        parts = [self.span_counts(text, spans) for text, spans in documents if spans]
        counts = parts[0] if len(parts) == 1 else vstack(parts, format="csr")
        # Only the hashed columns this message uses: summing windows over 2^19 columns
        # would allocate that many accumulators per product.
        used, inverse = np.unique(counts.indices, return_inverse=True)
        compact = csr_matrix((counts.data, inverse.astype(np.int32), counts.indptr),
                             shape=(counts.shape[0], len(used)))
        coef = self.coef_t[used]
        sentence = self.calibrate(np.asarray(finish(compact) @ coef) + self.intercept)
        windows = window_matrix(sizes, self.radius) @ compact
        window = self.calibrate(np.asarray(finish(windows) @ coef) + self.intercept)
        out: list[Scores] = []
        offset = 0
        for size in sizes:
            out.append(Scores(self.labels, sentence[offset:offset + size], window[offset:offset + size]))
            offset += size
        return out

    def score(self, text: str, spans: Sequence[tuple[int, int]]) -> Scores:
        return self.score_documents([(text, spans)])[0]
