"""The learned chain-letter score: how much a whole message reads like a forwarded hoax or chain letter (0..1).

A linear model over the risk model's hashed word n-grams (filters/text/hashed_model.py,
reused read-only: same features, same .npz artifact, one label `chain_letter`),
trained by bench/train_chain_letter_model.py. It scores the voice of a hoax
("this is a true story", a sensational claim, an appeal to patriotism or faith)
that no phrase list enumerates; the filter counts it only where a request to
pass the message on was found, so a hoax that does not ask to be spread, or a
newsletter that does, is not a chain letter because of it.
"""
from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from filters.text.hashed_model import RiskModel

LABEL = "chain_letter"
# Hashed columns: 2^17 keeps the shipped artifact small (the training set is a few
# thousand texts, so more columns only add collisions-free zeros).
N_FEATURES = 2 ** 17
ARTIFACT = "chain_letter_model.npz"


class ChainLetterModel:
    """Loaded once per process; read-only, so threads may share it."""

    def __init__(self, model: RiskModel) -> None:
        if LABEL not in model.labels:
            raise ValueError(f"chain-letter model: the artifact has no '{LABEL}' label")
        self._model = model
        self.meta = model.meta

    @classmethod
    def load(cls, path: Path | None = None) -> "ChainLetterModel":
        if path is None:
            with resources.as_file(resources.files("filters") / "models" / ARTIFACT) as shipped:
                return cls(RiskModel.load(Path(shipped)))
        return cls(RiskModel.load(path))

    def score(self, text: str) -> float:
        """Probability that the text (a whole message) is a chain letter or hoax."""
        if not text.strip():
            return 0.0
        return self._model.score(text, [(0, len(text))]).best(LABEL)


@functools.cache
def shipped_model() -> ChainLetterModel:
    return ChainLetterModel.load()
