"""Reviewers' sender decisions: a blocked sender's mail is refused, an allowed one's
content findings are waived by the policy (never viruses or safeguarding).

In a trust (docs/trust.md) an entry is one school's or the trust's: it applies to the copies that
school owns (the recipient's school inbound, the sender's outbound; filters/tenancy.py), so one
school's block never refuses another school's mail. A message whose copies fare differently gets
findings naming their recipients; the policy acts per recipient."""
from __future__ import annotations

from typing import Sequence

from filters.base import Category, FilterContext, FilterOptions, Finding, Severity
from filters.message import MessageView


class Options(FilterOptions):
    pass


class SenderListFilter:
    name = "sender_list"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._lists = context.sender_lists
        self._tenancy = None
        if hasattr(context.settings, "schools"):  # a real Settings (not a bare test object)
            from filters.tenancy import Tenancy

            self._tenancy = Tenancy.from_settings(context.settings)  # type: ignore[arg-type]

    def _owner(self, view: MessageView, recipient: str) -> str:
        if self._tenancy is None:
            return ""
        return self._tenancy.owners(view.envelope.mail_from, view.sender.internal, recipient)[0]

    async def check(self, view: MessageView) -> Sequence[Finding]:
        if self._lists is None:  # `schoolgate scan` and tests without a store
            return []
        # the envelope sender and the From: author: a block on either applies
        addresses = list(dict.fromkeys(a for a in (view.sender.address, view.from_address) if a))
        if not addresses:
            return []
        by_school: dict[str, list[str]] = {}
        for rcpt in view.recipients:
            by_school.setdefault(self._owner(view, rcpt.address), []).append(rcpt.address)
        if not by_school:
            by_school[""] = []
        blocked_for: dict[str, list[str]] = {}  # recipient -> the blocked addresses
        allowed_rcpts: list[str] = []
        for school, rcpts in by_school.items():
            statuses = {a: await self._lists.status(a, school) for a in addresses}
            blocked = [a for a, s in statuses.items() if s == "block"]
            if blocked:
                blocked_for.update({r: blocked for r in rcpts})
            # allowed only when envelope and From: agree, so a forged From: cannot borrow it
            elif all(s == "allow" for s in statuses.values()):
                allowed_rcpts.extend(rcpts)
        every = [r for rcpts in by_school.values() for r in rcpts]
        findings: list[Finding] = []
        if blocked_for:
            blocked = list(dict.fromkeys(a for found in blocked_for.values() for a in found)) or addresses
            findings.append(Finding("SENDER_BLOCKED", self.name, Category.SENDER_LIST, Severity.HIGH, tuple(blocked),
                                    f"A reviewer blocked {blocked[0]}; mail from this sender is refused.",
                                    recipients=_only(list(blocked_for), every)))
        if allowed_rcpts:
            findings.append(Finding("SENDER_ALLOWED", self.name, Category.SENDER_LIST, Severity.LOW,
                                    tuple(addresses),
                                    f"A reviewer allowed {addresses[0]}: content findings are recorded but not "
                                    f"acted on (viruses and safeguarding concerns still are).",
                                    recipients=_only(allowed_rcpts, every)))
        return findings


def _only(rcpts: list[str], every: list[str]) -> tuple[str, ...]:
    """A finding's recipients: () when it concerns them all (a single school: as before)."""
    return () if set(rcpts) >= set(every) else tuple(rcpts)
