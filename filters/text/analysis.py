"""One message's text analysis, built lazily once and shared by every text filter (STYLE.md: text is analysed once).

Every `MessageView` carries one `TextAnalysis` (`view.analysis`). A filter asks
it for what it reads - the bounded texts, the body and attachment text, each
text's sentences, its own words and the quoted part, its normalised tokens -
and the first filter to ask pays; the others (and the same filter for the next
recipient) read the same object. It is owned by no filter and holds nothing
but functions of the view's text, so it can never leak one filter's decision
into another's (no shared "notes"), and it dies with the message: there is no
cross-message cache (issue 19 item 4; the bench sends one message thousands of
times).

Filters run concurrently in executor threads, so a value is built under a
lock: two filters asking at once get one computation, not two.
"""
from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Callable, TypeVar

from filters.text import sentences as sentence_split
from filters.text.quoted import split_quoted
from filters.text.sources import message_texts
from filters.text.normalise import Normalised, normalise

if TYPE_CHECKING:  # pragma: no cover
    from filters.message import MessageView

T = TypeVar("T")


class TextAnalysis:
    """Lazily computed text of one message. Each method is a pure function of the view's
    text (and its arguments); results are kept for the life of the message only."""

    __slots__ = ("_view", "_memo", "_lock", "__weakref__")

    def __init__(self, view: "MessageView") -> None:
        # a weak reference: the view owns its analysis, not the other way round, so a
        # message's text is freed as soon as the view is (no reference cycle for the collector)
        self._view = weakref.ref(view)
        self._memo: dict[tuple, object] = {}
        self._lock = threading.RLock()  # re-entrant: all_text builds on body_text

    def _get(self, key: tuple, build: Callable[[], T]) -> T:
        try:
            return self._memo[key]  # type: ignore[return-value]
        except KeyError:
            pass
        with self._lock:
            if key not in self._memo:
                self._memo[key] = build()
            return self._memo[key]  # type: ignore[return-value]

    @property
    def view(self) -> "MessageView":
        view = self._view()
        if view is None:  # pragma: no cover - only if someone keeps the analysis past its message
            raise RuntimeError("the message of this text analysis is gone")
        return view

    # -- what the filters read ------------------------------------------------------
    def texts(self, limit: int) -> tuple[str, ...]:
        """Subject, body parts, attachment text, each apart, at most `limit` characters in all
        (filters/text/sources.py)."""
        return self._get(("texts", limit), lambda: tuple(message_texts(self.view, limit)))

    @property
    def headers_by_name(self) -> dict[str, tuple[str, ...]]:
        """Lower-cased header name -> its values in order (MessageView.header and header_all
        read this: filters ask for ~15 headers a message, each was a walk over all of them)."""
        return self._get(("headers",), self._headers_by_name)

    def _headers_by_name(self) -> dict[str, tuple[str, ...]]:
        index: dict[str, list[str]] = {}
        for key, value in self.view.headers:
            index.setdefault(key.lower(), []).append(value)
        return {key: tuple(values) for key, values in index.items()}

    @property
    def body_text(self) -> str:
        """The text parts joined by blank lines (MessageView.body_text reads this)."""
        return self._get(("body",), self._body_text)

    def _body_text(self) -> str:
        return "\n\n".join(part.text for part in self.view.text_parts if part.text)

    @property
    def all_text(self) -> str:
        """Subject, body and attachment text in one string (MessageView.all_text reads this)."""
        return self._get(("all",), self._all_text)

    def _all_text(self) -> str:
        view = self.view
        chunks = [view.subject, self.body_text]
        chunks.extend(a.text for a in view.attachments if a.text)
        return "\n\n".join(c for c in chunks if c)

    def sentence_spans(self, text: str, min_chars: int = 2) -> tuple[tuple[int, int], ...]:
        """(start, end) of each sentence of `text` (filters/text/sentences.py)."""
        return self._get(("spans", text, min_chars), lambda: tuple(sentence_split.spans(text, min_chars)))

    def quoted(self, text: str) -> tuple[str, str]:
        """(the writer's own words, the quoted text) of `text` (filters/text/quoted.py)."""
        return self._get(("quoted", text), lambda: split_quoted(text))

    def normalised(self, text: str, joinable: Callable[[str], bool] | None = None) -> Normalised:
        """`text`'s tokens with their spans (filters/text/normalise.py). Spelled-out letters
        are joined as `joinable` allows, so the cache is per joinable (each word list has its own)."""
        return self._get(("normalised", text, joinable), lambda: normalise(text, joinable))


def analysis_of(view: "MessageView") -> TextAnalysis:
    """The view's shared analysis (every MessageView has one)."""
    return view.analysis
