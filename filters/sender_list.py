"""Reviewers' sender decisions: a blocked sender's mail is refused, an allowed one's
content findings are waived by the policy (never viruses or safeguarding)."""
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

    async def check(self, view: MessageView) -> Sequence[Finding]:
        if self._lists is None:  # `schoolgate scan` and tests without a store
            return []
        # the envelope sender and the From: author: a block on either applies
        addresses = list(dict.fromkeys(a for a in (view.sender.address, view.from_address) if a))
        statuses = {a: await self._lists.status(a) for a in addresses}
        blocked = [a for a, s in statuses.items() if s == "block"]
        if blocked:
            return [Finding("SENDER_BLOCKED", self.name, Category.SENDER_LIST, Severity.HIGH, tuple(blocked),
                            f"A reviewer blocked {blocked[0]}; mail from this sender is refused.")]
        # allowed only when envelope and From: agree, so a forged From: cannot borrow it
        if addresses and all(s == "allow" for s in statuses.values()):
            return [Finding("SENDER_ALLOWED", self.name, Category.SENDER_LIST, Severity.LOW, tuple(addresses),
                            f"A reviewer allowed {addresses[0]}: content findings are recorded but not acted "
                            f"on (viruses and safeguarding concerns still are).")]
        return []
