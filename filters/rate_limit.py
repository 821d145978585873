"""Pupils' external mail per hour, per day and recipients per message, by year group (issue 21 clause 3).

Lees Brook: "Excessive social email use can interfere with learning and will be
restricted." The filter reports RATE_LIMIT_HOUR, RATE_LIMIT_DAY or
RATE_LIMIT_RECIPIENTS (category rate_limit); the policy decides tempfail
(451 4.7.1, the shipped default) or hold. Counters live behind `RateCounter`,
so a Redis backend can replace the database one without touching the filter.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, Sequence

from pydantic import BaseModel, ConfigDict, Field

from filters.base import Category, FilterContext, FilterOptions, Finding, Role, SeenStore, Severity
from filters.message import MessageView

HOUR = 3600.0
DAY = 86400.0
KIND = "rate_limit"


class RateCounter(Protocol):
    """Sliding-window event counters shared by every gateway node.

    Redis implements it with one sorted set per key: ZADD key now event_id
    (a member re-added only moves), ZREMRANGEBYSCORE key -inf now-longest, and
    ZCOUNT key now-window +inf per window, in one MULTI."""

    async def add_and_count(self, key: str, event_id: str, windows: Sequence[float]) -> tuple[int, ...]:
        """Record `event_id` under `key` now (a repeat of the same id counts once: an SMTP retry
        of the same message is not a second message), then the distinct events in each window."""
        ...


class SeenRateCounter:
    """RateCounter over the quarantine database's seen table (filters/base.py SeenStore):
    one row per (pupil, message), the time refreshed on a retry."""

    def __init__(self, seen: SeenStore) -> None:
        self._seen = seen

    async def add_and_count(self, key: str, event_id: str, windows: Sequence[float]) -> tuple[int, ...]:
        longest = max(windows)
        counts = {longest: await self._seen.observe(KIND, [key], event_id, longest)}
        for window in windows:
            if window not in counts:
                counts[window] = await self._seen.distinct_values(KIND, key, window)
        return tuple(counts[w] for w in windows)


class Limits(BaseModel):
    """0 = no limit. A year group's table overrides only the keys it gives."""

    model_config = ConfigDict(extra="forbid")

    per_hour: int | None = Field(None, ge=0, description="external messages per pupil per hour")
    per_day: int | None = Field(None, ge=0, description="external messages per pupil per day")
    max_recipients: int | None = Field(None, ge=0, description="external recipients of one message")


class Options(FilterOptions):
    per_hour: int = Field(30, ge=0, description="external messages a pupil may send per hour (0 = no limit)")
    per_day: int = Field(100, ge=0, description="external messages a pupil may send per day (0 = no limit)")
    max_recipients: int = Field(20, ge=0, description="external recipients of one pupil message (0 = no limit)")
    by_year: dict[int, Limits] = Field(
        default_factory=dict, description="per year group, e.g. { 7 = { per_hour = 5, per_day = 20 } }")


@dataclass(frozen=True, slots=True)
class Effective:
    per_hour: int
    per_day: int
    max_recipients: int


def limits_for(options: Options, year: int | None) -> Effective:
    base = Effective(options.per_hour, options.per_day, options.max_recipients)
    override = options.by_year.get(year) if year is not None else None
    if override is None:
        return base
    return Effective(*(getattr(base, k) if getattr(override, k) is None else getattr(override, k)
                       for k in ("per_hour", "per_day", "max_recipients")))


def event_id(view: MessageView) -> str:
    """The same bytes to the same recipients is the same message (a retry), whatever its id."""
    rcpts = ",".join(sorted(r.address for r in view.recipients))
    return hashlib.sha256(f"{view.sha256}|{rcpts}".encode()).hexdigest()[:32]


class RateLimitFilter:
    name = "rate_limit"
    Options = Options

    def __init__(self, options: Options, context: FilterContext) -> None:
        self._options = options
        # extras["rate_counter"]: a site's shared backend (Redis); else the store's database
        counter = context.extras.get("rate_counter")
        if counter is None and context.seen is not None:
            counter = SeenRateCounter(context.seen)
        self._counter: RateCounter | None = counter
        self.signals_off: tuple[str, ...] = ("rate_limit.per_hour", "rate_limit.per_day") if counter is None else ()

    async def self_test(self) -> list[str]:
        return ["rate_limit: no counter store; only max_recipients is checked"] if self._counter is None else []

    async def check(self, view: MessageView) -> Sequence[Finding]:
        # pupils only, and only their mail leaving the school; a forged pupil address from
        # outside is inbound (filters/message.py), so nobody can exhaust a pupil's allowance
        if view.sender.role != Role.STUDENT or not view.sender.internal:
            return []
        external = tuple(r.address for r in view.recipients if not r.internal)
        if not external:
            return []
        limits = limits_for(self._options, view.sender.year)
        year = f" (Year {view.sender.year})" if view.sender.year is not None else ""
        findings: list[Finding] = []
        if limits.max_recipients and len(external) > limits.max_recipients:
            findings.append(Finding(
                "RATE_LIMIT_RECIPIENTS", self.name, Category.RATE_LIMIT, Severity.MEDIUM,
                (f"{len(external)} external recipients", f"limit {limits.max_recipients}"),
                f"This pupil{year} wrote to {len(external)} people outside the school in one message; "
                f"the school allows {limits.max_recipients}.", recipients=external))
        if self._counter is None or not (limits.per_hour or limits.per_day):
            return findings
        hour, day = await self._counter.add_and_count(view.sender.address, event_id(view), (HOUR, DAY))
        for code, count, limit, period in (("RATE_LIMIT_HOUR", hour, limits.per_hour, "hour"),
                                           ("RATE_LIMIT_DAY", day, limits.per_day, "day")):
            if limit and count > limit:
                findings.append(Finding(
                    code, self.name, Category.RATE_LIMIT, Severity.MEDIUM,
                    (f"{count} external messages in the last {period}", f"limit {limit}"),
                    f"This pupil{year} has sent {count} messages outside the school in the last {period}; "
                    f"the school allows {limit}.", recipients=external))
        return findings
