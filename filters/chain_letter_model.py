"""The learned chain-letter score: how much a whole message reads like a forwarded hoax or chain letter (0..1).

A linear model in the risk model's current artifact format (filters/text/model.py,
format 2, used through its public RiskModel/Vocabulary: word unigrams and bigrams
from a vocabulary fixed at training time, log-scaled, unit length; one label
`chain_letter`), trained by bench/train_chain_letter_model.py. Its one row of
`combine` weights only the whole text (a chain letter is a whole message, not a
sentence), so the score is the logistic regression's own probability. It scores
the voice of a hoax ("this is a true story", a sensational claim, an appeal to
patriotism or faith) that no phrase list enumerates; the filter counts it only
where a request to pass the message on was found, so a hoax that does not ask to
be spread, or a newsletter that does, is not a chain letter because of it.
"""
from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from filters.text.model import RiskModel

LABEL = "chain_letter"
ARTIFACT = "chain_letter_model.npz"

# The forwarding apparatus, which the model must not learn: every public hoax it is trained
# on would otherwise arrive in the same wrapper, and "fw", "forwarded message" and the
# quoted From:/Subject: lines would be what it learned a hoax looks like. Forwards are the
# structure signals' business (filters/chain_letter.py); the model reads the words.
_APPARATUS = re.compile(
    r"^[ \t>]*(?:-{2,}\s*(?:forwarded message|original message)\s*-{2,}|begin forwarded message:"
    r"|_{10,}|(?:from|sent|date|to|cc|subject):.*)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_REPLY_PREFIX = re.compile(r"^[ \t>]*(?:(?:fwd?|fw|re|tr|wg)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE | re.MULTILINE)


def model_input(text: str) -> str:
    """What the model reads of a message's text: without forward separators, quoted header
    lines and "FW:"/"Re:" prefixes (the same in training and scoring)."""
    return _REPLY_PREFIX.sub("", _APPARATUS.sub("", text))


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
        text = model_input(text)
        if not text.strip():
            return 0.0
        # one span, the whole text: its window, best sentence and whole text are the same
        return self._model.score(text, [(0, len(text))]).best(LABEL)


@functools.cache
def shipped_model() -> ChainLetterModel:
    return ChainLetterModel.load()
