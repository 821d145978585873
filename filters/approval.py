"""Pupils' mail to external organisations waits for an adult's approval (issue 21 clause 2).

Lees Brook: "Email sent to external organisations should be written carefully
and authorised before sending, in the same way as a letter written on School
headed paper would be." Reports APPROVAL_REQUIRED (category approval, not a
safeguarding category) for a pupil's copies to recipients outside the school,
unless the recipient's domain is on the approved list (exam boards, the local
authority, work-experience providers). The policy holds it; the approver is the
pupil's tutor (directory tutor_email, named in the evidence) or any reviewer.

Off until configured: the filter is in the shipped chain, but with `years`
empty no year group needs approval, so a school that never set it up never has
its pupils' external mail held (docs/policy.md says why).
"""
from __future__ import annotations

from typing import Sequence

from pydantic import Field, field_validator

from filters.base import Category, FilterContext, FilterOptions, Finding, Role, Severity
from filters.directory import domain_of
from filters.message import MessageView

CODE = "APPROVAL_REQUIRED"
APPROVER_PREFIX = "approver: "  # evidence line the notifier reads to tell the tutor


class Options(FilterOptions):
    years: list[int] = Field(
        default_factory=list, description="year groups whose external mail needs approval; empty = none (off)")
    unknown_year: bool = Field(
        False, description="also hold pupils whose year is not known (not in the CSV, no year_pattern match) "
                           "once years is set")
    groups: list[str] = Field(
        default_factory=list, description="sets or forms exempted (e.g. sixth_form): their mail is not held")
    approved_domains: list[str] = Field(
        default_factory=list, description="recipient domains (and sub-domains) pupils may write to without "
                                          "approval: exam boards, the local authority, work-experience providers")

    @field_validator("approved_domains", "groups")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.strip().lower().lstrip("@") for v in values if v.strip()]


class ApprovalFilter:
    name = "approval"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._options = options
        self._directory = context.directory

    def _approved(self, address: str) -> bool:
        domain = domain_of(address)
        return any(domain == d or domain.endswith("." + d) for d in self._options.approved_domains)

    async def check(self, view: MessageView) -> Sequence[Finding]:
        sender = view.sender
        if sender.role != Role.STUDENT or not sender.internal:
            return []
        if not self._options.years:
            return []  # not configured: nobody's mail waits (the shipped default)
        if sender.year is None:
            if not self._options.unknown_year:
                return []
        elif sender.year not in self._options.years:
            return []
        if set(self._options.groups) & set(sender.groups):
            return []
        waiting = tuple(r.address for r in view.recipients if not r.internal and not self._approved(r.address))
        if not waiting:
            return []
        tutor = self._directory.tutor_of(sender.address)
        year = f"Year {sender.year} " if sender.year is not None else ""
        return [Finding(
            CODE, self.name, Category.APPROVAL, Severity.MEDIUM,
            (*(f"recipient: {a}" for a in waiting), *((APPROVER_PREFIX + tutor,) if tutor else ())),
            f"A {year}pupil's e-mail to {waiting[0]}{' and others' if len(waiting) > 1 else ''} outside the school "
            f"waits for {'their tutor' if tutor else 'a member of staff'} to approve it, as a letter on school "
            f"headed paper would.", recipients=waiting)]


def approvers(findings: Sequence[Finding]) -> tuple[str, ...]:
    """The tutors named by APPROVAL_REQUIRED findings (lower case, in order)."""
    return tuple(dict.fromkeys(e.removeprefix(APPROVER_PREFIX).strip().lower() for f in findings
                               if f.code == CODE for e in f.evidence if e.startswith(APPROVER_PREFIX)))
