"""The texts of a message a content filter reads: subject, body parts, attachment text, bounded in total."""
from __future__ import annotations

from filters.message import MessageView


def message_texts(view: MessageView, limit: int) -> list[str]:
    """Each text separately (a sentence never spans two parts), at most `limit` characters in all."""
    texts: list[str] = []
    budget = limit
    for text in [view.subject, *(p.text for p in view.text_parts), *(a.text for a in view.attachments)]:
        if text and budget > 0:
            texts.append(text[:budget])
            budget -= len(text)
    return texts
