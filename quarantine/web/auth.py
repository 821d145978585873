"""Sessions, CSRF tokens and login rate limiting for the review UI.

The cookie holds a random token; the database holds its SHA-256, the user, the
session's CSRF token and two clocks (idle and absolute expiry). A disabled
account's sessions stop working at the next request.
"""
from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select, update

from quarantine.review_store import sessions, token_hash, users
from quarantine.users import Role, User, user_of

SESSION_COOKIE = "sg_session"
LOGIN_COOKIE = "sg_login"  # double-submit CSRF token for the login form (no session yet)


@dataclass(frozen=True, slots=True)
class Auth:
    user: User
    session_hash: str
    csrf: str


class Sessions:
    def __init__(self, engine, idle_seconds: float, max_seconds: float) -> None:
        self._engine = engine
        self.idle = idle_seconds
        self.max = max_seconds

    def create(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._engine.begin() as conn:
            # expired sessions are swept at each login: the table stays small
            conn.execute(delete(sessions).where(sessions.c.last_seen < now - self.idle))
            conn.execute(insert(sessions).values(token_hash=token_hash(token), user=user.name,
                                                 csrf=secrets.token_urlsafe(24), created_at=now, last_seen=now))
        return token

    def lookup(self, token: str | None) -> Auth | None:
        if not token or len(token) > 128:
            return None
        h = token_hash(token)
        now = time.time()
        with self._engine.begin() as conn:
            row = conn.execute(select(sessions, users.c.role, users.c.disabled, users.c.email, users.c.schools)
                               .join(users, users.c.name == sessions.c.user)
                               .where(sessions.c.token_hash == h)).first()
            if row is None:
                return None
            if row.disabled or now - row.last_seen > self.idle or now - row.created_at > self.max:
                conn.execute(delete(sessions).where(sessions.c.token_hash == h))
                return None
            if now - row.last_seen > 30:  # fewer writes: idle time is kept to the half-minute
                conn.execute(update(sessions).where(sessions.c.token_hash == h).values(last_seen=now))
        return Auth(user_of(row, name=row.user), h, row.csrf)

    def destroy(self, session_hash: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == session_hash))

    def destroy_user(self, name: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.user == name))

    def count(self, name: str) -> int:
        with self._engine.begin() as conn:
            return len(conn.execute(select(sessions.c.token_hash).where(and_(sessions.c.user == name))).all())


class LoginLimiter:
    """Failed logins per user name and per client address within a sliding window."""

    def __init__(self, per_name: int, window_seconds: float) -> None:
        self.per_name = per_name
        self.per_address = per_name * 4
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    async def blocked(self, name: str, address: str) -> bool:
        now = time.monotonic()
        return (len(self._recent(f"n:{name.lower()}", now)) >= self.per_name
                or len(self._recent(f"a:{address}", now)) >= self.per_address)

    async def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        self._recent(f"n:{name.lower()}", now).append(now)
        self._recent(f"a:{address}", now).append(now)
        if len(self._failures) > 10_000:  # bound memory under a spray of names
            for key in [k for k, q in self._failures.items() if not q]:
                del self._failures[key]

    async def succeeded(self, name: str) -> None:
        self._failures.pop(f"n:{name.lower()}", None)


def login_limiter(settings) -> "LoginLimiter | RedisLoginLimiter":
    """Per process by default; in Redis when `[redis] url` is set, so every node shares it."""
    web = settings.web
    if settings.redis.url:
        from quarantine.redis_counters import RedisLoginLimiter

        return RedisLoginLimiter(settings.redis.url, web.login_attempts, web.login_window_minutes * 60)
    return LoginLimiter(web.login_attempts, web.login_window_minutes * 60)
