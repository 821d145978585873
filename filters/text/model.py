"""The safeguarding risk model: its features, its artifact (.npz, no pickle) and sentence-window scoring.

Features are hashed word unigrams and bigrams (scikit-learn's HashingVectorizer:
stateless, so nothing but its parameters is stored), log-scaled and
L2-normalised; each label is a linear model over them, with a Platt
calibration fitted on a validation carve-out of the training splits. A
window's features are the sum of its sentences' counts, so every sentence is
hashed once however many windows it is in. Character n-grams read misspellings
better but cost ~5 ms per 5 KB message against a 1.5 ms budget (measured,
docs/risk_model.md), so they are left out.
"""
from __future__ import annotations

import functools
import html
import json
import re
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

FORMAT = "schoolgate-risk-model/1"

_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_HANDLE = re.compile(r"(?<!\w)@\w+")
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019\u02bc`](?=\w)")
_RUN3 = re.compile(r"(\w)\1{2,}")
# Single letters are kept: "i" is most of what separates "i want to die" from a story.
TOKEN_PATTERN = r"(?u)\b\w+\b"


def prepare(text: str) -> str:
    """The model's view of a text: entities decoded, links, addresses and handles replaced by one
    token each (the corpora are full of site names), apostrophes dropped ("don't" -> "dont",
    as pupils write it), case folded, letter runs cut to two ("sooooo" -> "soo")."""
    if "&" in text:
        text = html.unescape(text)
    text = _URL.sub(" xurl ", text)
    text = _EMAIL.sub(" xemail ", text)
    text = _HANDLE.sub(" xuser ", text)
    text = _APOSTROPHE.sub("", text).lower()
    return _RUN3.sub(r"\1\1", text)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    n_features: int = 2 ** 19
    ngram_max: int = 2

    def vectorizer(self):
        from sklearn.feature_extraction.text import HashingVectorizer  # imported once, before the fork
        return HashingVectorizer(n_features=self.n_features, ngram_range=(1, self.ngram_max),
                                 token_pattern=TOKEN_PATTERN, preprocessor=prepare, lowercase=False,
                                 alternate_sign=False, norm=None, dtype=np.float32)


def finish(counts):
    """Raw hashed counts -> model input: log(1 + count), then unit length (rows with no
    features stay zero)."""
    from sklearn.preprocessing import normalize
    out = counts.copy()
    out.data = np.log1p(out.data)
    return normalize(out, norm="l2", copy=False)


def window_matrix(sizes: Sequence[int], radius: int):
    """Sparse (windows x sentences) 0/1 matrix: for each document of `sizes[d]` sentences, one
    window per sentence covering it and `radius` sentences either side (within the document)."""
    from scipy.sparse import csr_matrix
    rows: list[int] = []
    cols: list[int] = []
    offset = 0
    for size in sizes:
        for i in range(size):
            lo, hi = max(0, i - radius), min(size, i + radius + 1)
            rows.extend([offset + i] * (hi - lo))
            cols.extend(range(offset + lo, offset + hi))
        offset += size
    data = np.ones(len(rows), dtype=np.float32)
    return csr_matrix((data, (rows, cols)), shape=(offset, offset))


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
        self._vectorizer = spec.vectorizer()

    # -- the artifact --

    def save(self, path: Path) -> None:
        meta = {**self.meta, "format": FORMAT, "n_features": self.spec.n_features,
                "ngram_max": self.spec.ngram_max, "radius": self.radius}
        arrays = {
            "labels": np.array(self.labels), "coef": self.coef_t.T.astype(np.float16),
            "intercept": self.intercept, "calib_a": self.calib_a, "calib_b": self.calib_b,
            "thresholds": np.array([self.thresholds[label] for label in self.labels], dtype=np.float32),
            "meta": np.array(json.dumps(meta, sort_keys=True))}
        # np.savez stamps each member with the current time; a fixed stamp makes two
        # trainings of the same data byte-identical (reproducible artifacts).
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    @classmethod
    def load(cls, path: Path | None = None) -> "RiskModel":
        """The shipped model (filters/models/risk_model.npz), or another artifact."""
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
        return self._vectorizer.transform(texts)

    def raw(self, features) -> np.ndarray:
        """Linear scores (rows x labels) of finished features."""
        return np.asarray(features @ self.coef_t) + self.intercept

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(raw * self.calib_a + self.calib_b)))

    def score_documents(self, documents: Sequence[Sequence[str]]) -> list[Scores]:
        """Each document is its sentences; one hashing pass for all of them."""
        sizes = [len(doc) for doc in documents]
        flat = [s for doc in documents for s in doc]
        if not flat:
            empty = np.zeros((0, len(self.labels)), dtype=np.float32)
            return [Scores(self.labels, empty, empty) for _ in documents]
        counts = self.counts(flat)
        sentence = self.calibrate(self.raw(finish(counts)))
        window = self.calibrate(self.raw(finish(window_matrix(sizes, self.radius) @ counts)))
        out: list[Scores] = []
        offset = 0
        for size in sizes:
            out.append(Scores(self.labels, sentence[offset:offset + size], window[offset:offset + size]))
            offset += size
        return out

    def score(self, sentences: Sequence[str]) -> Scores:
        return self.score_documents([sentences])[0]


@functools.cache
def shipped_model() -> RiskModel:
    """The shipped artifact, loaded once per process. The registry's preload() calls this before
    `serve` forks its workers, so every worker shares the same pages; nothing writes to the
    model after loading, so one copy serves every filter and thread."""
    return RiskModel.load()
