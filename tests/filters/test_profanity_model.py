"""filters/profanity_model.py: alt-profanity-check's model without scikit-learn gives sklearn's figures."""
from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from filters.profanity_model import (ARTIFACT, LEARNED_ARTIFACT, ModelUnion, ProfanityModel, ProfanityModelError,
                                     shipped_sklearn_pair)
from tests.factories import CORPORA
from tests.gateway.test_workers import ROOT

OWN = ["", "   ", "the and of it", "You are a complete idiot and everyone knows it",
       "Dear parents, the trip to the museum is on Friday; packed lunches please.",
       "F*CK off!!! you stupid b!tch", "Ünïcödé wörds — naïve café; ИДИОТ", "idiot idiot idiot IDIOT Idiot",
       "a b c d", "shit\nhappens\tin\r\nlines", "x" * 5000, "Well done everyone in Year 7 for the spelling test"]


@pytest.fixture(scope="module")
def sklearn_pair():
    return shipped_sklearn_pair()


def corpus_texts(limit: int = 1500) -> list[str]:
    texts = []
    with open(CORPORA / "kaggle-insults-impermium" / "train.csv", encoding="utf-8") as handle:
        texts += [r["Comment"].strip('"').replace("\\n", " ") for r in csv.DictReader(handle)][:limit]
    with open(CORPORA / "olid-offenseval2019" / "olid-training-v1.0.tsv", encoding="utf-8") as handle:
        texts += [r["tweet"] for r in csv.DictReader(handle, delimiter="\t")][:limit]
    return texts


def test_the_shipped_artifact_scores_as_sklearn_does(sklearn_pair):
    vectorizer, model = sklearn_pair
    texts = OWN + corpus_texts()
    ours = ProfanityModel.load().predict(texts)
    theirs = model.predict_proba(vectorizer.transform(texts))[:, 1]
    assert len(texts) > 3000
    assert np.max(np.abs(ours - theirs)) < 1e-12
    # the scores spread (not a constant): both ends of the range are reached
    assert ours.min() < 0.05 and ours.max() > 0.95


def test_the_features_are_sklearns_tfidf_rows(sklearn_pair):
    vectorizer, _ = sklearn_pair
    ours = ProfanityModel.load()
    rows = vectorizer.transform(OWN)
    for text, row in zip(OWN, rows):
        indices, values = ours.features(text)
        row.sort_indices()
        assert list(indices) == list(row.indices)
        assert np.allclose(values, row.data, rtol=0, atol=1e-15)


def test_the_artifact_is_the_conversion_of_the_installed_model(sklearn_pair, tmp_path):
    """One command, deterministic: converting again writes the same bytes as shipped."""
    from importlib import resources
    again = tmp_path / ARTIFACT
    ProfanityModel.from_sklearn(*sklearn_pair).save(again)
    assert again.read_bytes() == (resources.files("filters") / "models" / ARTIFACT).read_bytes()


def test_loading_and_scoring_import_no_sklearn():
    code = ("import sys\nfrom filters.profanity_model import ProfanityModel\n"
            "m = ProfanityModel.load()\nassert 0 <= m.predict(['you idiot'])[0] <= 1\n"
            "print(sorted(n for n in ('sklearn', 'joblib', 'scipy') if n in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_file_that_is_not_the_artifact_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, format=np.array("something else"))
    with pytest.raises(ProfanityModelError, match="not a schoolgate-profanity-model/1 artifact"):
        ProfanityModel.load(bad)
    with pytest.raises(ProfanityModelError, match="cannot read"):
        ProfanityModel.load(tmp_path / "missing.npz")


def test_one_tokenising_pass_scores_both_models_as_each_alone():
    """ModelUnion (the filter's scorer) gives each model's own predict() figures."""
    models = [ProfanityModel.load(), ProfanityModel.load(artifact=LEARNED_ARTIFACT)]
    texts = ["you are a stupid idiot", "the concert is on Wednesday", "", "x", "the and of",
             "FUCK you, you worthless waste of space", "those people are vermin"]
    for model, scores in zip(models, ModelUnion(models).predict(texts)):
        assert np.allclose(scores, model.predict(texts), atol=1e-15, rtol=0)
