"""Plain words for the review pages: audit rows as sentences, evidence chips without repeats."""
from __future__ import annotations

from typing import Any, Iterable

# what happened, as a reviewer would say it; {who} is the person or part of schoolgate
SENTENCES = {
    "hold": "{who} held this message under the school's policy",
    "record_reject": "{who} refused this message",
    "release": "{who} released it",
    "release_failed": "{who} tried to release it; the school's mail server did not take it, so it is still held",
    "delete": "{who} deleted it",
    "view": "{who} looked at it",
    "view_metadata": "{who} looked at its details (not the content)",
    "view_safeguarding": "{who} opened the content",
    "view_denied": "{who} tried to open it and was refused",
    "download_attachment": "{who} downloaded an attachment",
    "export_bundle": "{who} exported the evidence bundle",
    "note": "{who} added a note",
    "false_positive": "{who} marked a finding as wrong (false positive)",
    "allow_sender": "{who} put the sender on the allow list",
    "block_sender": "{who} blocked the sender",
    "escalate": "{who} passed it to the DSL",
    "mark_seen": "{who} marked it as seen",
    "request_release": "{who} asked for it to be released",
    "decline_request": "{who} declined the request to release it",
    "dsl_ack": "{who} acknowledged the safeguarding alert",
    "dsl_escalated_to_deputy": "The alert was not acknowledged in time, so {who} told the deputy DSL",
    "notify": "{who} sent a notice about the hold",
    "chain_letter_library_add": "{who} added it to the chain-letter library",
}


def who(actor: str) -> str:
    if actor == "gateway":
        return "The gateway"
    if actor == "notifier":
        return "Schoolgate"
    if actor.startswith("cli:"):
        return f"{actor[4:]} (command line)"
    if actor.startswith("web:"):
        return actor[4:]
    if actor.startswith("sender:"):
        return f"The sender ({actor[7:]})"
    return actor


def plain(row: dict[str, Any]) -> str:
    """One audit row as a sentence (without the reason, which the page quotes)."""
    action = str(row.get("action", ""))
    text = SENTENCES.get(action)
    person = who(str(row.get("actor", "")))
    if text is None:
        return f"{person}: {action.replace('_', ' ')}"
    sentence = text.format(who=person)
    return sentence[0].upper() + sentence[1:]


def merge_evidence(items: Iterable[str]) -> list[str]:
    """Evidence chips without repeats: "cut myself" goes when "i cut myself" is there too."""
    out: list[str] = []
    seen: list[str] = []
    candidates = [i for i in items if i and i.strip()]
    folded_all = [i.casefold().strip() for i in candidates]
    for item, f in zip(candidates, folded_all):
        if f in seen or any(f != other and f in other for other in folded_all):
            continue  # a repeat, or part of a longer chip
        seen.append(f)
        out.append(item)
    return out
