"""Types that cross module boundaries: findings, actions, verdicts and the filter protocol.

Data flows one way (STYLE.md): envelope -> MessageView -> filters -> Findings ->
policy -> Verdict. Everything here is a frozen value; nothing here does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Literal, Protocol, Sequence

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # pragma: no cover
    from filters.message import MessageView


class Action(IntEnum):
    """What happens to one recipient's copy. The integer order is restrictiveness:
    the most restrictive action wins when several findings apply."""

    PASS = 0
    TAG = 1
    HOLD = 2
    REJECT = 3
    # A filter failure means we do not know: the sender must retry (never a pass).
    TEMPFAIL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Action":
        return cls[text.strip().upper()]


class Severity(IntEnum):
    """Risk tier, as safeguarding monitors grade it (low .. critical)."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        return cls[text.strip().upper()]


class Direction(StrEnum):
    INBOUND = "inbound"  # outside -> school
    OUTBOUND = "outbound"  # school -> outside
    INTERNAL = "internal"  # school -> school
    # outside -> outside, only ever accepted from trusted networks (a relay for
    # a school device with an external sender address, say)
    EXTERNAL = "external"


class Role(StrEnum):
    STAFF = "staff"
    STUDENT = "student"
    EXTERNAL = "external"


class Category(StrEnum):
    """Finding categories. The policy keys on these; values are stable contract."""

    VIRUS = "virus"
    SCAN_INCOMPLETE = "scan_incomplete"
    ATTACHMENT = "attachment"
    CHAIN_LETTER = "chain_letter"
    PERSONAL_ACCOUNT = "personal_account"  # staff work/school data to/from private accounts
    PUPIL_DATA = "pupil_data"
    DISCLOSURE = "disclosure"  # pupils revealing personal details
    PROFANITY = "profanity"
    HATE = "hate"
    THREAT = "threat"
    BULLYING = "bullying"
    SEXUAL = "sexual"
    # safeguarding categories: always held, DSL alerted, sender never notified
    MEETING = "meeting"
    SELF_HARM = "self_harm"
    GROOMING = "grooming"
    EXTREMISM = "extremism"
    AUTHENTICATION = "authentication"
    SPOOFING = "spoofing"
    PARSE_ERROR = "parse_error"
    # the UK Safer Internet Centre's monitoring categories beyond the above (issue 17,
    # docs/safeguarding.md): the first three are safeguarding (hold floor, DSL alerted)
    SEXTORTION = "sextortion"  # sextortion and intimate-image abuse
    COERCIVE_CONTROL = "coercive_control"
    EXPLOITATION = "exploitation"  # child sexual or criminal exploitation (CSE, county lines)
    DRUGS = "drugs"
    GAMBLING = "gambling"
    FRAUD = "fraud"
    SENDER_LIST = "sender_list"  # reviewers' allow/block decisions about a sender
    DELIVERY = "delivery"  # the next hop refused a copy the others got (gateway/dispatch.py keeps it)
    # an image on the school's hash list of known indecent images, or one the nudity
    # classifier scored as nude in pupil mail (filters/images.py): safeguarding, and locked
    INDECENT_IMAGE = "indecent_image"
    # issue 21 (docs/policy.md): the school's e-mail policy clauses
    RATE_LIMIT = "rate_limit"  # a pupil's external mail over the hourly/daily/recipient limits
    APPROVAL = "approval"  # a pupil's mail to an external organisation waiting for an adult's approval


SAFEGUARDING_CATEGORIES: frozenset[Category] = frozenset(
    {Category.MEETING, Category.SELF_HARM, Category.GROOMING, Category.EXTREMISM, Category.INDECENT_IMAGE,
     Category.SEXTORTION, Category.COERCIVE_CONTROL, Category.EXPLOITATION}
)

# Holds with these categories are locked: their images are never rendered, downloaded,
# released or exported by anyone, the DSL included ("Do not show any child the image";
# "DO NOT do anything until you have discussed the matter with the DSL"). Only hashes
# leave, in the evidence export for the police (docs/images.md).
LOCKED_CATEGORIES: frozenset[Category] = frozenset({Category.INDECENT_IMAGE})


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a filter found in a message. Filters report; the policy decides."""

    code: str  # stable UPPER_SNAKE id, never renamed (reports and audit refer to it)
    filter: str
    category: Category
    severity: Severity
    evidence: tuple[str, ...]  # matched spans, virus name, file name ...
    reason: str  # one sentence a reviewer understands
    # Empty: the finding concerns every recipient. Otherwise only these
    # (e.g. the one recipient that is the sender's own personal account).
    recipients: tuple[str, ...] = ()
    score: float | None = None
    # Risk level 1-5 as UK monitoring services grade it (5 = intent with a plan,
    # 1 = language only); 0 = not graded. It orders the DSL's queue, sets the
    # alert's urgency and is what the Head's report counts.
    level: int = 0

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "filter": self.filter,
            "category": str(self.category),
            "severity": self.severity.label,
            "evidence": list(self.evidence),
            "reason": self.reason,
            **({"recipients": list(self.recipients)} if self.recipients else {}),
            **({"level": self.level} if self.level else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        return cls(
            code=data["code"],
            filter=data["filter"],
            category=Category(data["category"]),
            severity=Severity.parse(data["severity"]),
            evidence=tuple(data.get("evidence", ())),
            reason=data.get("reason", ""),
            recipients=tuple(data.get("recipients", ())),
            level=int(data.get("level", 0)),
        )

    @property
    def safeguarding(self) -> bool:
        return self.category in SAFEGUARDING_CATEGORIES


@dataclass(frozen=True, slots=True)
class FilterFailure:
    """A filter that raised or ran out of time. Never a silent pass."""

    filter: str
    kind: Literal["error", "timeout"]
    detail: str  # for logs and reviewers; never sent to SMTP peers
    on_error: Action

    def as_dict(self) -> dict:
        return {"filter": self.filter, "kind": self.kind, "detail": self.detail,
                "on_error": self.on_error.label}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy's decision: one action per recipient, with every reason."""

    actions: dict[str, Action]
    findings: tuple[Finding, ...]
    failures: tuple[FilterFailure, ...] = ()
    # who must be told at once: "dsl" (safeguarding), "it" (infected school machine ...)
    alerts: frozenset[str] = frozenset()
    # the finding that decided a reject, for the SMTP text (e.g. the virus name)
    reject_reason: str = ""
    # the finding whose rule said tempfail (a rate limit), for the 451 text; empty for a
    # filter failure, whose reply stays the generic "could not be checked"
    tempfail_reason: str = ""
    # recipients whose delivered copy is a report to a safeguarding channel ([school]
    # reporting_addresses): the dispatcher records it as an incident and the DSL is alerted
    incident_recipients: tuple[str, ...] = ()
    # issue 21 clause 4: recipients whose delivered copy carries pupil data, so may leave only
    # over verified TLS (checked per delivery, gateway/routing.py) -> what to do without it
    # (TEMPFAIL or HOLD, from the PUPIL_DATA_UNENCRYPTED rule)
    tls_required: dict[str, Action] = field(default_factory=dict)

    @property
    def codes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for finding in self.findings:
            seen.setdefault(finding.code, None)
        return tuple(seen)

    @property
    def action(self) -> Action:
        """The most restrictive action over all recipients."""
        return max(self.actions.values(), default=Action.PASS)

    def recipients_with(self, action: Action) -> list[str]:
        return [rcpt for rcpt, act in self.actions.items() if act == action]

    def as_dict(self) -> dict:
        return {
            "action": self.action.label,
            "recipients": {rcpt: act.label for rcpt, act in self.actions.items()},
            "findings": [f.as_dict() for f in self.findings],
            "failures": [f.as_dict() for f in self.failures],
        }


class FilterOptions(BaseModel):
    """Options every filter has; a filter's own `Options` subclasses this."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(10.0, gt=0, description="seconds before the chain cancels the filter")
    on_error: Literal["tempfail", "hold"] = Field(
        "tempfail", description="what a failure or timeout does to the message (never pass)")


class SeenStore(Protocol):
    """Shared memory across messages (bulk detection, recurring forwarding targets).

    Implemented by the quarantine store's database so several gateway nodes
    share it; filters only see this protocol.

    Two kinds of memory: `record`/`record_many` keep one row per event (for `count`, "how
    many messages"); `refresh_many` and `observe` keep one row per (kind, key, value), its
    time moved on by a repeat (for `distinct_values` and `has_value`, "which values"), so a
    read costs the distinct values of a key, not the messages it saw (docs/performance.md,
    eleventh pass: a row per message made each read slower than the last).
    """

    async def record(self, kind: str, key: str, value: str) -> None: ...

    async def record_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """record(kind, key, value) of each row, in one round trip (one transaction): what one
        message writes (a database commit costs more CPU than the rows in it)."""
        ...

    async def refresh_many(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Each (kind, key, value) seen now: its one row's time becomes now, or the row is made.
        For what is only ever read by `distinct_values` / `has_value`, never `count`; one round
        trip, like record_many."""
        ...

    async def distinct_values(self, kind: str, key: str, since_seconds: float) -> int: ...

    async def has_value(self, kind: str, key: str, value: str, since_seconds: float) -> bool:
        """Was `value` recorded or refreshed under (kind, key) in the window (an EXISTS)."""
        ...

    async def count(self, kind: str, key: str, since_seconds: float) -> int: ...

    async def observe(self, kind: str, keys: Sequence[str], value: str, since_seconds: float) -> int:
        """Record `value` under every key, then the most distinct values any key has in the
        window (this one included): one round trip for what a message needs."""
        ...


class Filter(Protocol):
    """A filter: `name`, constructed with its validated Options and a FilterContext."""

    name: str

    async def check(self, view: "MessageView") -> Sequence[Finding]: ...


class SenderLists(Protocol):
    """Reviewers' allow/block decisions (kept by the review store)."""

    # "allow" | "block" | None, in mail owned by `school` (docs/trust.md; "": the trust's entries only)
    async def status(self, address: str, school: str = "") -> str | None: ...


@dataclass(frozen=True, slots=True)
class FilterContext:
    """What a filter may be given at construction besides its own options."""

    settings: object  # config.schema.Settings (typed loosely to keep filters/ free of config imports)
    directory: object  # filters.directory.Directory
    seen: SeenStore | None = None
    metrics: object | None = None  # gateway.metrics.Metrics
    sender_lists: SenderLists | None = None
    extras: dict = field(default_factory=dict)
    # filters.text.matcher.PatternDatabase: every filter's patterns in one multi-pattern
    # database, compiled by the Scanner once all filters registered (None: a filter alone)
    patterns: object | None = None
