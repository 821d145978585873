"""The one access rule for held mail, below the web UI and the CLI alike.

Every path that shows or acts on a held message (web pages, attachment and
bundle downloads, digest links, `schoolgate quarantine show/release/delete`)
asks this module, so a new path cannot forget the rule:

- ordinary holds: any account whose role has QUEUE sees and decides them;
- safeguarding holds (any finding in a safeguarding category): only an account
  with SAFEGUARDING sees they exist; their content (subject, body, evidence,
  attachments, evidence bundle) and every decision on them need a reasoned
  "open" first, recorded in the audit with the person's name and role;
- `admin` manages accounts and settings and sees ordinary holds, but has
  SAFEGUARDING only when the school sets `[web] admins_are_dsl = true`;
- in a trust ([[schools]], docs/trust.md) every account sees only the holds of
  its own schools (`scope`); trust_dsl, trust_it and trust_ceo see every school.
  The school is checked first, so the rules above hold at every scope: a trust
  safeguarding lead still opens a safeguarding hold with a reason, and trust IT
  still sees none.

A grant (one open) is kept per session key for `[web] access_minutes`: the web UI
uses the session's hash, the CLI a key of its own for the one command.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from filters.errors import SchoolgateError
from quarantine.store import HeldMessage  # first: the store's end imports escalation -> links -> review_store
from quarantine.review_store import ReviewStore, WebAction, is_safeguarding
from filters.tenancy import Tenancy
from quarantine.users import PERMISSIONS, TRUST_WIDE, Permission, Role, User


class AccessDenied(SchoolgateError):
    """This account may not do that with this held message; the message says why in plain words."""

    def __init__(self, text: str, *, title: str = "Not for your role", status: int = 403) -> None:
        super().__init__(text)
        self.title = title
        self.status = status


class Need(StrEnum):
    """What a caller wants from a held message, weakest first."""

    METADATA = "metadata"  # that it exists: id, time, status, codes, addresses
    CONTENT = "content"  # subject, body, evidence, attachments, bundle
    DECIDE = "decide"  # release, delete, block, ... (implies CONTENT for safeguarding holds)


def permissions(role: Role, web: Any) -> frozenset[Permission]:
    """A role's permissions at this school (`web`: the [web] settings section)."""
    return PERMISSIONS[role] | school_extra(role, web)


def school_extra(role: Role, web: Any) -> frozenset[Permission]:
    """What this school's settings add to a role (User.extra)."""
    if role in (Role.ADMIN, Role.TRUST_IT) and getattr(web, "admins_are_dsl", False):
        return frozenset({Permission.SAFEGUARDING})
    return frozenset()


def with_school_rules(user: User, web: Any) -> User:
    """The account as this school's settings make it (an admin who is also the DSL)."""
    extra = school_extra(user.role, web)
    return replace(user, extra=extra) if extra != user.extra else user


def scope(user: User, tenancy: Tenancy | None) -> tuple[str, ...] | None:
    """The schools an account sees; None = every school (a single school, or a trust-wide role).
    In a trust, an account whose schools name none of the trust's sees nothing: fail closed."""
    if tenancy is None or not tenancy.is_trust or user.role in TRUST_WIDE:
        return None
    return tuple(s for s in user.schools if s in tenancy.ids)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking, and through what (web | cli); the audit names the person, not the tool."""

    user: User
    via: str = "web"

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> Role:
        return self.user.role

    def detail(self) -> dict[str, str]:
        return {"role": str(self.user.role), "via": self.via}


class AccessRule:
    """The rule above, over the review tables (grants and audit). Sync: async callers use store.run()."""

    def __init__(self, web: Any, review: ReviewStore, tenancy: Tenancy | None = None) -> None:
        self.web = web
        self.review = review
        self.tenancy = tenancy

    def scope(self, actor: Actor) -> tuple[str, ...] | None:
        return scope(actor.user, self.tenancy)

    def can(self, actor: Actor, permission: Permission) -> bool:
        return permission in permissions(actor.role, self.web)

    @staticmethod
    def cli_key() -> str:
        """A grant key for one CLI command: the open lasts as long as that command."""
        return "cli-" + secrets.token_hex(16)

    def _granted(self, key: str | None, held: HeldMessage) -> bool:
        return key is not None and self.review.has_access_sync(key, held.id, self.web.access_minutes * 60)

    def opened(self, actor: Actor, held: HeldMessage, key: str | None) -> bool:
        """True when this actor may see the content now (ordinary hold, or an open grant)."""
        try:
            self.check(actor, held, Need.CONTENT, key, audit_denial=False)
        except AccessDenied:
            return False
        return True

    def check(self, actor: Actor, held: HeldMessage, need: Need, key: str | None, *,
              audit_denial: bool = True) -> None:
        """Raises AccessDenied (audited) unless `actor` may have `need` of `held`."""
        schools = self.scope(actor)
        if schools is not None and not set(held.schools) & set(schools):
            # another school's mail: not even that it exists (ids are unguessable; the audit keeps the try)
            self._deny(actor, held, need, audit_denial, "school")
            raise AccessDenied("There is no held message with that id for your school.", title="Not found",
                               status=404)
        if not self.can(actor, Permission.QUEUE):
            self._deny(actor, held, need, audit_denial, "role")
            raise AccessDenied("Your account's role does not include held mail.")
        if not is_safeguarding(held.categories):
            return
        if not self.can(actor, Permission.SAFEGUARDING):
            self._deny(actor, held, need, audit_denial, "safeguarding")
            raise AccessDenied("This message is held for the Designated Safeguarding Lead. Only DSL accounts "
                               "can open it.", title="Safeguarding hold")
        if need != Need.METADATA and not self._granted(key, held):
            raise AccessDenied("A safeguarding hold's content is shown, downloaded, released or deleted only "
                               "after it was opened with a reason.", title="Open the message first", status=400)

    def _deny(self, actor: Actor, held: HeldMessage, need: Need, audit_denial: bool, why: str) -> None:
        if audit_denial:
            self.review.audit(actor.name, "view_denied", held.id, f"{why} ({need})", actor.detail())

    def open(self, actor: Actor, held: HeldMessage, reason: str, key: str) -> None:
        """The reasoned open of a safeguarding hold: a grant for `key`, and the audit row."""
        self.check(actor, held, Need.METADATA, key)
        reason = reason.strip()
        if not reason:
            raise AccessDenied("Say why you are opening this message; the reason is kept in the audit log.",
                               title="A reason is needed", status=400)
        if not is_safeguarding(held.categories):
            return  # nothing to open: ordinary holds are visible to every reviewer
        self.review.grant_access_sync(key, held.id)
        self.review.audit(actor.name, WebAction.VIEW_SAFEGUARDING, held.id, reason[:500], actor.detail())
