"""alt-profanity-check's model (the offensive filter's learned score) without scikit-learn at run time.

Why: the model is a TfidfVectorizer and a CalibratedClassifierCV over five LinearSVC
folds, pickled with joblib. Unpickling them imports scikit-learn: ~1,060 modules,
+112 MB RSS / +67 MB anonymous memory in the gateway (of which numpy and
scipy.sparse, which other filters use anyway, are ~21 MB), that is about a third of
a two-worker gateway's PSS (issue 19: <= 250 MB; bench/gateway_memory.py). What the
filter needs of them at run time is small: the vocabulary, the idf weights, the stop
words, and per fold a weight vector, an intercept and the sigmoid's a and b.

`ProfanityModel` holds exactly that, read from `filters/models/profanity_model.npz`
(numbers only, no pickle), and computes what the two sklearn objects compute:
lower-case, the token pattern `(?u)\\b\\w\\w+\\b`, English stop words removed, term
counts, times idf, L2-normalised per text; the decision of each fold, its sigmoid
calibration 1 / (1 + exp(a * d + b)), the mean over the folds. The same figures as
`CalibratedClassifierCV.predict_proba(vectorizer.transform(texts))[:, 1]` to within
1e-12 (tests/filters/test_profanity_model.py checks it on the corpora's texts).

The artifact is derived from the installed alt-profanity-check package (MIT) by one
command, deterministic:

    .venv/bin/python -m filters.profanity_model --write    # needs scikit-learn, once
"""
from __future__ import annotations

import argparse
import re
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from filters.errors import SchoolgateError

ARTIFACT = "profanity_model.npz"
# The offensive filter's second model, of the same shape, trained on the corpora's train splits
# (bench/train_offensive_model.py): bullying, insults and hate without a swear word.
LEARNED_ARTIFACT = "offensive_model.npz"
FORMAT = "schoolgate-profanity-model/1"
# sklearn's default token_pattern (the vectorizer's own, checked at conversion)
TOKEN = re.compile(r"(?u)\b\w\w+\b")


class ProfanityModelError(SchoolgateError):
    """The artifact is missing or not one this code reads."""


class ProfanityModel:
    def __init__(self, words: Sequence[str], idf: np.ndarray, stop_words: frozenset[str], weights: np.ndarray,
                 intercepts: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        self.vocabulary = {word: index for index, word in enumerate(words)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.stop_words = stop_words
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)  # features x folds
        self.intercepts = np.asarray(intercepts, dtype=np.float64)
        self.a = np.asarray(a, dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)

    # -- from the sklearn objects (conversion and tests only) --
    @classmethod
    def from_sklearn(cls, vectorizer, model) -> "ProfanityModel":
        params = vectorizer.get_params()
        expected = {"analyzer": "word", "lowercase": True, "ngram_range": (1, 1), "norm": "l2", "use_idf": True,
                    "sublinear_tf": False, "strip_accents": None, "preprocessor": None, "tokenizer": None,
                    "token_pattern": TOKEN.pattern}
        different = {k: params.get(k) for k, v in expected.items() if params.get(k) != v}
        if different:
            raise ProfanityModelError(f"a vectorizer this module does not reproduce: {different}")
        folds = model.calibrated_classifiers_
        if len(model.classes_) != 2 or any(f.method != "sigmoid" or len(f.calibrators) != 1 for f in folds):
            raise ProfanityModelError("not a binary sigmoid calibration")
        words = [""] * len(vectorizer.vocabulary_)
        for word, index in vectorizer.vocabulary_.items():
            words[index] = word
        return cls(words, vectorizer.idf_, frozenset(vectorizer.get_stop_words() or ()),
                   np.vstack([np.ravel(f.estimator.coef_) for f in folds]).T,
                   np.array([float(np.ravel(f.estimator.intercept_)[0]) for f in folds]),
                   np.array([f.calibrators[0].a_ for f in folds]), np.array([f.calibrators[0].b_ for f in folds]))

    # -- the artifact --
    def save(self, path: Path) -> None:
        from filters.text.artifacts import write_npz

        words = [w for w, _ in sorted(self.vocabulary.items(), key=lambda kv: kv[1])]
        write_npz(path, {
            "format": np.array(FORMAT),
            "words": np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8),
            "stop_words": np.frombuffer("\n".join(sorted(self.stop_words)).encode("utf-8"), dtype=np.uint8),
            "idf": self.idf, "weights": self.weights, "intercepts": self.intercepts, "a": self.a, "b": self.b})

    @classmethod
    def load(cls, path: Path | None = None, artifact: str = ARTIFACT) -> "ProfanityModel":
        source = path or resources.files("filters") / "models" / artifact
        try:
            with source.open("rb") as handle:
                data = np.load(handle, allow_pickle=False)
                if str(data["format"]) != FORMAT:
                    raise ProfanityModelError(f"{source}: not a {FORMAT} artifact")
                words = bytes(data["words"]).decode("utf-8").split("\n")
                stop = frozenset(bytes(data["stop_words"]).decode("utf-8").split("\n"))
                return cls(words, data["idf"], stop, data["weights"], data["intercepts"], data["a"], data["b"])
        except (OSError, KeyError) as exc:
            raise ProfanityModelError(f"{source}: cannot read the profanity model: {exc}") from None

    # -- scoring --
    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, L2-normalised tf-idf values) of one text, indices ascending."""
        counts: dict[int, int] = {}
        vocabulary, stop = self.vocabulary, self.stop_words
        for token in TOKEN.findall(text.lower()):
            if token in stop:
                continue
            index = vocabulary.get(token)
            if index is not None:
                counts[index] = counts.get(index, 0) + 1
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        indices = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
        values = np.array([counts[i] for i in indices.tolist()], dtype=np.float64) * self.idf[indices]
        norm = np.sqrt(np.dot(values, values))
        if norm > 0:
            values /= norm
        return indices, values

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """P(offensive) of each text: predict_proba(...)[:, 1] of the sklearn pair. The texts'
        counts are gathered in Python, the arithmetic done once for the batch (numpy)."""
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        vocabulary, stop = self.vocabulary, self.stop_words
        for row, text in enumerate(texts):
            found: dict[int, int] = {}
            for token in TOKEN.findall(text.lower()):
                if token not in stop:
                    index = vocabulary.get(token)
                    if index is not None:
                        found[index] = found.get(index, 0) + 1
            for index in sorted(found):
                rows.append(row)
                columns.append(index)
                counts.append(found[index])
        return self.probabilities(np.array(rows, dtype=np.int64), np.array(columns, dtype=np.int64),
                                  np.array(counts, dtype=np.float64), len(texts))

    def probabilities(self, row_of: np.ndarray, column: np.ndarray, counts: np.ndarray, n: int) -> np.ndarray:
        """P(offensive) of n texts from their token counts (text row, this model's feature
        index, count; one entry per distinct token of a text): TF-IDF, unit rows, each fold's
        linear decision, its calibration, the folds' mean."""
        values = counts * self.idf[column]
        norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=n))
        values /= np.where(norms > 0, norms, 1.0)[row_of]
        contributions = values[:, None] * self.weights[column]
        decisions = np.stack([np.bincount(row_of, weights=contributions[:, fold], minlength=n)
                              for fold in range(self.weights.shape[1])], axis=1) + self.intercepts
        return (1.0 / (1.0 + np.exp(decisions * self.a + self.b))).mean(axis=1)


class ModelUnion:
    """Several models of this shape scored from one tokenising pass: the Python loop over the
    tokens is most of a model's cost, the arithmetic per model is a few numpy calls. Stop words
    are never in a vocabulary (the vectorizer drops them before building it), so a token counts
    for a model exactly when its vocabulary has it, as in `ProfanityModel.predict`."""

    def __init__(self, models: Sequence[ProfanityModel]) -> None:
        self.models = list(models)
        union: dict[str, int] = {}
        for model in self.models:
            for word in model.vocabulary:
                union.setdefault(word, len(union))
        self.vocabulary = union
        # per model: union index -> the model's own feature index (-1: not in its vocabulary)
        self._columns = []
        for model in self.models:
            column = np.full(len(union), -1, dtype=np.int64)
            for word, index in model.vocabulary.items():
                column[union[word]] = index
            self._columns.append(column)

    def predict(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each model's P(offensive) of each text, as its own predict() gives it."""
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        vocabulary = self.vocabulary
        for row, text in enumerate(texts):
            found: dict[int, int] = {}
            for token in TOKEN.findall(text.lower()):
                index = vocabulary.get(token)
                if index is not None:
                    found[index] = found.get(index, 0) + 1
            rows.extend([row] * len(found))
            columns.extend(found)
            counts.extend(found.values())
        n = len(texts)
        row_all = np.array(rows, dtype=np.int64)
        column_all = np.array(columns, dtype=np.int64)
        count_all = np.array(counts, dtype=np.float64)
        out = []
        for model, mapping in zip(self.models, self._columns):
            own = mapping[column_all]
            keep = own >= 0
            out.append(model.probabilities(row_all[keep], own[keep], count_all[keep], n))
        return out


def shipped_sklearn_pair():
    """The installed alt-profanity-check's vectorizer and model (imports scikit-learn)."""
    import importlib.util

    import joblib
    spec = importlib.util.find_spec("profanity_check")
    if spec is None or not spec.submodule_search_locations:
        raise ProfanityModelError("alt-profanity-check is not installed")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    return joblib.load(data / "vectorizer.joblib"), joblib.load(data / "model.joblib")


def main() -> int:
    parser = argparse.ArgumentParser(description="write filters/models/profanity_model.npz from alt-profanity-check")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "models" / ARTIFACT)
    args = parser.parse_args()
    model = ProfanityModel.from_sklearn(*shipped_sklearn_pair())
    if args.write:
        model.save(args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes, {len(model.vocabulary):,} words)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
