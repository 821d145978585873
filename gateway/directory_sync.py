"""`schoolgate directory sync`: the directory CSV ([directory] csv) made from where the school
keeps its people — LDAP/Active Directory, Microsoft Graph, Google Directory or a MIS export —
with adds, changes and removals shown first (`--dry-run`) and removals only after a grace period.

Why write the CSV rather than read the source live: the filters read the directory on every
message and must not wait on (or fail with) an LDAP server or a cloud API; the CSV is re-read when
it changes (filters/directory.py), so a sync is picked up without a restart, and a failed sync
leaves yesterday's directory in place. The write is atomic (temporary file, fsync, rename).

Removal grace: a person missing from the source keeps their row (and so their role) for
`grace_days` after the first sync that missed them — a half-finished MIS export or an LDAP
outage that returns a short list must not turn every pupil into an unknown external sender. The
first-missing times live in a small JSON file beside the CSV.
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Protocol

from filters.errors import SchoolgateError

DAY = 86_400.0
# the CSV's columns, in order; the optional ones are written only when some row has them
BASE_COLUMNS = ("email", "role", "name", "personal_email")
OPTIONAL_COLUMNS = ("year", "form", "tutor_email", "group")


class DirectorySyncError(SchoolgateError):
    """The source could not be read or answered something unusable; the text names the source."""


@dataclass(frozen=True, slots=True)
class DirectoryRecord:
    email: str
    role: str  # staff | student
    name: str = ""
    personal_emails: tuple[str, ...] = ()
    year: str = ""
    form: str = ""
    tutor_email: str = ""
    groups: tuple[str, ...] = ()

    def row(self) -> dict[str, str]:
        return {"email": self.email, "role": self.role, "name": self.name,
                "personal_email": ";".join(self.personal_emails), "year": self.year, "form": self.form,
                "tutor_email": self.tutor_email, "group": ";".join(self.groups)}

    def differences(self, other: "DirectoryRecord") -> list[str]:
        out = []
        for key in ("role", "name", "personal_emails", "year", "form", "tutor_email", "groups"):
            mine, theirs = getattr(self, key), getattr(other, key)
            if mine != theirs:
                show = (lambda v: ";".join(v) if isinstance(v, tuple) else v)
                out.append(f"{key} {show(mine) or '-'} -> {show(theirs) or '-'}")
        return out


class DirectorySource(Protocol):
    """Where people come from. `fetch` returns every person the source knows, or raises
    DirectorySyncError; a source never returns a partial list silently."""

    name: str

    def fetch(self) -> list[DirectoryRecord]: ...


@dataclass(frozen=True, slots=True)
class SyncPlan:
    adds: tuple[DirectoryRecord, ...]
    changes: tuple[tuple[DirectoryRecord, DirectoryRecord], ...]  # (before, after)
    removals: tuple[DirectoryRecord, ...]  # grace over: their rows go
    kept: tuple[tuple[DirectoryRecord, float], ...]  # missing, within grace: (row, until)
    result: tuple[DirectoryRecord, ...]  # the directory after the sync
    missing_since: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"add {r.email} ({r.role}{', year ' + r.year if r.year else ''})" for r in self.adds]
        out += [f"change {b.email}: {', '.join(b.differences(a))}" for b, a in self.changes]
        out += [f"remove {r.email} ({r.role}): missing from the source for longer than the grace period"
                for r in self.removals]
        out += [f"keep {r.email} ({r.role}): missing from the source, removed after "
                f"{time.strftime('%Y-%m-%d', time.gmtime(until))} unless it comes back" for r, until in self.kept]
        return out

    def summary(self) -> str:
        return (f"{len(self.adds)} to add, {len(self.changes)} to change, {len(self.removals)} to remove, "
                f"{len(self.kept)} missing but kept (grace); {len(self.result)} people after the sync")


def read_current(path: Path) -> dict[str, DirectoryRecord]:
    """The directory CSV as it is (absent = empty)."""
    if not path.exists():
        return {}
    out: dict[str, DirectoryRecord] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            email = row.get("email", "").lower()
            if not email:
                continue
            out[email] = DirectoryRecord(
                email=email, role=row.get("role", "").lower(), name=row.get("name", ""),
                personal_emails=_split(row.get("personal_email", "")), year=row.get("year", ""),
                form=row.get("form", ""), tutor_email=row.get("tutor_email", "").lower(),
                groups=_split(row.get("group", ""), lower=False))
    return out


def _split(text: str, lower: bool = True) -> tuple[str, ...]:
    parts = (p.strip() for p in text.split(";"))
    return tuple(p.lower() if lower else p for p in parts if p)


def plan(current: dict[str, DirectoryRecord], fetched: Iterable[DirectoryRecord],
         missing_since: dict[str, float], grace_days: float, now: float | None = None) -> SyncPlan:
    now = time.time() if now is None else now
    incoming: dict[str, DirectoryRecord] = {}
    for record in fetched:
        incoming[record.email] = record  # a source listing someone twice: the last one wins
    adds, changes, removals, kept = [], [], [], []
    since: dict[str, float] = {}
    result: dict[str, DirectoryRecord] = {}
    for email, record in incoming.items():
        before = current.get(email)
        if before is None:
            adds.append(record)
        elif before != record:
            changes.append((before, record))
        result[email] = record
    for email, before in current.items():
        if email in incoming:
            continue
        first = missing_since.get(email, now)
        until = first + grace_days * DAY
        if now >= until:
            removals.append(before)
        else:
            kept.append((before, until))
            since[email] = first
            result[email] = before
    ordered = tuple(sorted(result.values(), key=lambda r: (r.role, r.email)))
    return SyncPlan(tuple(adds), tuple(changes), tuple(removals), tuple(kept), ordered, since)


def render_csv(records: Iterable[DirectoryRecord]) -> str:
    records = list(records)
    optional = [c for c in OPTIONAL_COLUMNS if any(r.row()[c] for r in records)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*BASE_COLUMNS, *optional], extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(record.row())
    return buffer.getvalue()


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def state_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + ".sync-state.json")


def sync(source: DirectorySource, csv_path: Path, *, grace_days: float, dry_run: bool,
         now: float | None = None) -> SyncPlan:
    """Fetch, compare, and (unless dry_run) write the CSV and the grace state."""
    fetched = source.fetch()
    if not fetched:  # an empty answer is far likelier a broken source than a school with nobody
        raise DirectorySyncError(f"{source.name}: returned nobody; the directory was left as it is")
    bad = [r.email for r in fetched if r.role not in ("staff", "student")]
    if bad:
        raise DirectorySyncError(f"{source.name}: no role for {len(bad)} people (e.g. {bad[0]}): map their "
                                 f"groups in [directory_sync] role_groups or their domain in "
                                 f"[directory] domain_roles")
    state_file = state_path(csv_path)
    try:
        missing = {k: float(v) for k, v in json.loads(state_file.read_text()).get("missing_since", {}).items()}
    except (FileNotFoundError, ValueError, AttributeError):
        missing = {}
    result = plan(read_current(csv_path), fetched, missing, grace_days, now)
    if not dry_run:
        _atomic_write(csv_path, render_csv(result.result))
        _atomic_write(state_file, json.dumps({"missing_since": result.missing_since,
                                              "synced_at": now or time.time(), "source": source.name}))
    return result


def role_for(groups: Iterable[str], email: str, role_groups: dict[str, str],
             domain_roles: dict[str, str]) -> str:
    """The first group (name, DN or org-unit path prefix) mapped in role_groups, else the domain."""
    lowered = {k.lower(): v for k, v in role_groups.items()}
    for group in groups:
        g = group.lower()
        cn = g.split(",", 1)[0].removeprefix("cn=")
        for key in (g, cn):
            if key in lowered:
                return str(lowered[key])
        for key, role in lowered.items():  # org units: "/students" covers "/students/year 7"
            if key.startswith("/") and (g == key or g.startswith(key.rstrip("/") + "/")):
                return str(role)
    domain = email.rpartition("@")[2].lower()
    return str({k.lower(): v for k, v in domain_roles.items()}.get(domain, ""))


def with_role(record: DirectoryRecord, role_groups: dict[str, str], domain_roles: dict[str, str]) -> DirectoryRecord:
    return replace(record, role=role_for(record.groups, record.email, role_groups, domain_roles))


async def run_schedule(settings, lease=None) -> None:
    """From the running gateway: sync every [directory_sync] interval_minutes (only the node
    holding the timers lease when several share a database). A failed sync is logged and the
    directory left as it was; the next interval tries again."""
    import asyncio
    import logging

    from gateway.directory_sources import source_from_settings

    log = logging.getLogger(__name__)
    cfg = settings.directory_sync
    while True:
        try:
            if lease is None or await lease.held():
                source = source_from_settings(settings)
                result = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: sync(source, settings.directory.csv, grace_days=cfg.grace_days, dry_run=False))
                log.info("directory sync from %s: %s", source.name, result.summary())
        except asyncio.CancelledError:
            raise
        except DirectorySyncError as exc:
            log.error("directory sync failed, the directory is unchanged: %s", exc)
        except Exception:  # a bug here must not stop the gateway taking mail
            log.exception("directory sync failed, the directory is unchanged")
        await asyncio.sleep(cfg.interval_minutes * 60)
