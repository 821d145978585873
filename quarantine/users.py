"""Local review accounts: argon2 password hashes, roles, and what each role may do."""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Iterable
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, insert, select, update

from filters.errors import SchoolgateError
from quarantine.review_store import cli_tokens, token_hash, users

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10  # NCSC guidance: length over complexity rules


class Role(StrEnum):
    ADMIN = "admin"  # accounts, settings, lists, ordinary holds; safeguarding only if [web] admins_are_dsl
    REVIEWER = "reviewer"  # holds except safeguarding
    DSL = "dsl"  # safeguarding holds too
    HEAD = "head"  # reports and counts, never message bodies
    AUDITOR = "auditor"  # read-only audit
    # a multi-academy trust's own people (docs/trust.md): the same permissions, across every school
    TRUST_DSL = "trust_dsl"  # the trust safeguarding lead: as dsl
    TRUST_IT = "trust_it"  # the trust's IT: as admin
    TRUST_CEO = "trust_ceo"  # the trust's CEO: as head


class Permission(StrEnum):
    QUEUE = "queue"  # see held mail and act on it
    SAFEGUARDING = "safeguarding"  # see and act on safeguarding holds
    AUDIT = "audit"
    COUNTS = "counts"
    USERS = "users"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # an admin manages the system, not safeguarding concerns (quarantine/access.py)
    Role.ADMIN: frozenset(Permission) - {Permission.SAFEGUARDING},
    Role.REVIEWER: frozenset({Permission.QUEUE, Permission.COUNTS}),
    Role.DSL: frozenset({Permission.QUEUE, Permission.SAFEGUARDING, Permission.COUNTS}),
    Role.HEAD: frozenset({Permission.COUNTS}),
    Role.AUDITOR: frozenset({Permission.AUDIT}),
}
PERMISSIONS[Role.TRUST_DSL] = PERMISSIONS[Role.DSL]
PERMISSIONS[Role.TRUST_IT] = PERMISSIONS[Role.ADMIN]
PERMISSIONS[Role.TRUST_CEO] = PERMISSIONS[Role.HEAD]
# roles that see every school of a trust whatever their account's schools say
TRUST_WIDE = frozenset({Role.TRUST_DSL, Role.TRUST_IT, Role.TRUST_CEO})


def _pack(schools: Iterable[str]) -> str:
    return (" " + " ".join(schools) + " ") if schools else ""


def user_of(row, disabled: bool = False, name: str | None = None) -> User:
    """A users row (or a join carrying role, email, schools) as a User."""
    return User(name or row.name, Role(row.role), row.email, disabled,
                schools=tuple((row.schools or "").split()))


class UserError(SchoolgateError):
    """A bad name, role or password, or an unknown user: the message says which."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    email: str = ""
    disabled: bool = False
    extra: frozenset[Permission] = frozenset()  # the school's additions (quarantine/access.py)
    schools: tuple[str, ...] = ()  # the schools this account sees (a trust; quarantine/access.py)

    def can(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role] or permission in self.extra


class UserStore:
    """Accounts in the store's database. Sync: callers on the event loop use store.run()."""

    def __init__(self, engine, hasher: PasswordHasher | None = None) -> None:
        self._engine = engine
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None  # made on first use: hashing is slow on purpose

    @classmethod
    def for_settings(cls, engine, web) -> "UserStore":
        """[web] argon2_time_cost / argon2_memory_kib set the hashing cost."""
        return cls(engine, PasswordHasher(time_cost=web.argon2_time_cost, memory_cost=web.argon2_memory_kib))

    @staticmethod
    def _check_name(name: str) -> str:
        if not NAME_RE.match(name or ""):
            raise UserError(f"user name {name!r}: letters, digits and . _ @ - only, up to 64 characters")
        return name

    @staticmethod
    def _check_password(password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"password must be at least {MIN_PASSWORD} characters")
        return password

    @staticmethod
    def parse_role(role: str) -> Role:
        try:
            return Role(role.strip().lower())
        except ValueError:
            raise UserError(f"role {role!r} is not one of {', '.join(r.value for r in Role)}") from None

    @staticmethod
    def _check_schools(schools: Iterable[str]) -> tuple[str, ...]:
        from config.schema import SCHOOL_ID

        out = tuple(dict.fromkeys(s.strip() for s in schools if s.strip()))
        for school in out:
            if not SCHOOL_ID.match(school):
                raise UserError(f"school id {school!r}: lower-case letters, digits, - and _ only")
        return out

    def set_schools(self, name: str, schools: Iterable[str]) -> User:
        """The schools a school-level account (dsl, reviewer, head, admin) sees in a trust."""
        packed = _pack(self._check_schools(schools))
        with self._engine.begin() as conn:
            n = conn.execute(update(users).where(users.c.name == name).values(
                schools=packed, updated_at=time.time())).rowcount
        if n == 0:
            raise UserError(f"no user {name}")
        return self.get(name)  # type: ignore[return-value]

    def add(self, name: str, role: str | Role, password: str, email: str = "",
            schools: Iterable[str] = ()) -> User:
        self._check_name(name)
        role = self.parse_role(str(role))
        self._check_password(password)
        scope = self._check_schools(schools)
        now = time.time()
        with self._engine.begin() as conn:
            if conn.execute(select(users.c.name).where(users.c.name == name)).first() is not None:
                raise UserError(f"user {name} already exists")
            conn.execute(insert(users).values(name=name, role=str(role), password_hash=self._hasher.hash(password),
                                              email=email, disabled=False, created_at=now, updated_at=now,
                                              schools=_pack(scope)))
        return User(name, role, email, schools=scope)

    def set_password(self, name: str, password: str) -> None:
        self._check_password(password)
        with self._engine.begin() as conn:
            n = conn.execute(update(users).where(users.c.name == name).values(
                password_hash=self._hasher.hash(password), updated_at=time.time())).rowcount
        if n == 0:
            raise UserError(f"no user {name}")

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        with self._engine.begin() as conn:
            if disabled:
                self._keep_an_admin(conn, name)
            n = conn.execute(update(users).where(users.c.name == name).values(
                disabled=disabled, updated_at=time.time())).rowcount
        if n == 0:
            raise UserError(f"no user {name}")

    def set_role(self, name: str, role: str | Role) -> User:
        role = self.parse_role(str(role))
        with self._engine.begin() as conn:
            if role != Role.ADMIN:
                self._keep_an_admin(conn, name)
            n = conn.execute(update(users).where(users.c.name == name).values(
                role=str(role), updated_at=time.time())).rowcount
        if n == 0:
            raise UserError(f"no user {name}")
        return self.get(name)  # type: ignore[return-value]

    @staticmethod
    def _keep_an_admin(conn, name: str) -> None:
        """Refuse a change that would leave no active admin (nobody could manage accounts)."""
        active = [r.name for r in conn.execute(select(users.c.name).where(
            (users.c.role == str(Role.ADMIN)) & (users.c.disabled == False)))]  # noqa: E712
        if active == [name]:
            raise UserError(f"{name} is the last active admin; make another admin first")

    def get(self, name: str) -> User | None:
        with self._engine.begin() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            return None
        return user_of(row, bool(row.disabled))

    def list(self) -> list[User]:
        with self._engine.begin() as conn:
            return [user_of(r, bool(r.disabled)) for r in conn.execute(select(users).order_by(users.c.name))]

    def emails_for(self, *roles: Role) -> list[str]:
        wanted = {str(r) for r in roles}
        return [u.email for u in self.list() if str(u.role) in wanted and u.email and not u.disabled]

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches and the account is enabled, else None."""
        with self._engine.begin() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            # verifying against a dummy hash for unknown names keeps the timing the same
            if self._dummy is None:
                self._dummy = self._hasher.hash("schoolgate-dummy-password")
            try:
                self._hasher.verify(self._dummy, password + "x")
            except VerificationError:
                pass
            return None
        try:
            self._hasher.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row.disabled:
            return None
        if self._hasher.check_needs_rehash(row.password_hash):
            with self._engine.begin() as conn:
                conn.execute(update(users).where(users.c.name == name).values(
                    password_hash=self._hasher.hash(password)))
        return user_of(row, False)

    def make_token(self, name: str, hours: float) -> str:
        """A local CLI token for `name` (the caller has checked the password); shown once."""
        if self.get(name) is None:
            raise UserError(f"no user {name}")
        token = "sgt_" + secrets.token_urlsafe(32)
        now = time.time()
        with self._engine.begin() as conn:
            conn.execute(delete(cli_tokens).where(cli_tokens.c.expires_at < now))
            conn.execute(insert(cli_tokens).values(token_hash=token_hash(token), user=name, created_at=now,
                                                   expires_at=now + hours * 3600))
        return token

    def token_user(self, name: str, token: str) -> User | None:
        """The enabled account a live token of `name` belongs to, else None."""
        with self._engine.begin() as conn:
            row = conn.execute(select(cli_tokens).where(cli_tokens.c.token_hash == token_hash(token))).first()
        if row is None or row.user != name or row.expires_at < time.time():
            return None
        user = self.get(name)
        return user if user is not None and not user.disabled else None
