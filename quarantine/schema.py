"""The quarantine database's schema version: created and stamped on a new database, checked at
every start, moved forward only by `schoolgate db upgrade` (Alembic migrations in
quarantine/migrations/versions).

Why refuse to start on an older schema instead of migrating silently: with several nodes on one
PostgreSQL, the first node of a new release to start would change the tables under the nodes
still running the old one. The network manager runs the upgrade once, when they choose.
Tables that are new in a release and change nothing existing are created at start (additive);
anything that changes an existing table is a migration.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from filters.errors import SchoolgateError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaVersionError(SchoolgateError):
    """The database's schema is older (or newer) than this release; the text says what to run."""


def _config(conn: Connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current(conn: Connection) -> str | None:
    """The stamped revision; None for a database with no version (new, or from before migrations)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def is_empty(conn: Connection) -> bool:
    return not inspect(conn).has_table("messages")


def prepare(conn: Connection, metadata) -> None:
    """At store open: make a new database at head, or check an existing one is at head."""
    if is_empty(conn):
        metadata.create_all(conn)
        _stamp(conn, "head")
        return
    have, want = current(conn), head()
    if have != want:
        raise SchemaVersionError(
            f"the quarantine database schema is at {have or 'a version from before migrations'}, this "
            f"release needs {want}: run `schoolgate db upgrade` (once, with every node stopped or "
            f"drained) and start again")
    metadata.create_all(conn)  # tables new in this release; existing ones are left as they are


def upgrade(conn: Connection, metadata) -> tuple[str | None, str]:
    """`schoolgate db upgrade`: (from, to)."""
    from alembic import command

    if is_empty(conn):
        metadata.create_all(conn)
        _stamp(conn, "head")
        return None, head()
    before = current(conn)
    if before is None:  # tables from before migrations: they are the baseline
        _stamp(conn, "0001")
    command.upgrade(_config(conn), "head")
    metadata.create_all(conn)
    return before, head()


def _stamp(conn: Connection, revision: str) -> None:
    from alembic import command

    command.stamp(_config(conn), revision)
