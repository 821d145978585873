"""Migration 0003 (several schools): a database at 0002 with held mail, audit rows, decisions,
alerts and accounts is refused at start, `schoolgate db upgrade` moves it to head, and the old
rows then belong to the single school (id "school"), on SQLite and on a real PostgreSQL."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from quarantine.schema import SchemaVersionError, _config, current, head
from quarantine.store import QuarantineStore
from tests.servers import pg_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
NEW_COLUMNS = {"messages": {"school_id", "schools"}, "audit": {"school_id"}, "decisions": {"schools"},
               "dsl_alerts": {"school_id"}, "users": {"schools"}}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        (tmp_path / "q").mkdir()
        return f"sqlite:///{tmp_path / 'q' / 'index.sqlite3'}"
    return request.getfixturevalue("pg_url")


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args, "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def database_at_0002(tmp_path: Path, url: str) -> None:
    """What a site on the release before has: today's tables taken down to 0002 by 0003's own
    downgrade, with a held message, its audit rows, a decision, a DSL alert and an account."""
    QuarantineStore(tmp_path / "q", url).open_sync().close_sync()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0002")
    with engine.begin() as conn:
        assert current(conn) == "0002"
        for table, columns in NEW_COLUMNS.items():
            assert not columns & {c["name"] for c in inspect(conn).get_columns(table)}, table
        conn.execute(text(
            "INSERT INTO messages (id, received_at, updated_at, mail_from, from_header, subject, direction, "
            "sender_role, client_ip, size, sha256, path, status, codes, categories, max_severity, findings, "
            "failures, alerts) VALUES ('20261101T090000-aaaaaaaaaa', 1.0, 1.0, 'x@example.com', '', 'old', "
            "'inbound', 'external', '', 10, 'ab', NULL, 'held', ' X ', ' attachment ', 2, '[]', '[]', '')"))
        conn.execute(text("INSERT INTO recipients (message_id, address, role, action, status, updated_at) "
                          "VALUES ('20261101T090000-aaaaaaaaaa', 'bob@school.sch.uk', 'staff', 'hold', 'held', 1.0)"))
        conn.execute(text("INSERT INTO audit (at, actor, action, message_id, reason, detail) "
                          "VALUES (1.0, 'gateway', 'hold', '20261101T090000-aaaaaaaaaa', 'policy', '{}')"))
        conn.execute(text("INSERT INTO decisions (at, message_id, direction, sender_role, action, actions, codes, "
                          "categories, failures, size, seconds) VALUES (1.0, '20261101T090000-aaaaaaaaaa', "
                          "'inbound', 'external', 'hold', '{}', 'X', 'attachment', '', 10, 0.1)"))
        conn.execute(text("INSERT INTO dsl_alerts (message_id, sent_at, why) "
                          "VALUES ('20261101T090000-aaaaaaaaaa', 1.0, 'safeguarding')"))
        conn.execute(text("INSERT INTO users (name, role, password_hash, email, disabled, created_at, updated_at) "
                          "VALUES ('dsl', 'dsl', 'x', '', false, 1.0, 1.0)"))
    engine.dispose()


def test_0003_upgrades_a_0002_database_and_old_rows_belong_to_the_one_school(tmp_path, database):
    database_at_0002(tmp_path, database)
    with pytest.raises(SchemaVersionError, match="schoolgate db upgrade"):
        QuarantineStore(tmp_path / "q", database).open_sync()
    config = tmp_path / "site.toml"
    config.write_text(f'[quarantine]\npath = "{tmp_path / "q"}"\ndatabase_url = "{database}"\n')
    status = cli(config, "db", "status")
    assert status.returncode == 1 and "schema 0002" in status.stdout and "upgrade needed" in status.stdout
    upgraded = cli(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"now at schema {head()} (was 0002)" in upgraded.stdout
    assert cli(config, "db", "status").returncode == 0

    store = QuarantineStore(tmp_path / "q", database).open_sync()
    try:
        held = store.get_sync("20261101T090000-aaaaaaaaaa")
        assert (held.school_id, held.schools) == ("school", ("school",))
        assert [r["school_id"] for r in store.audit_sync(held.id)] == ["school"]
        assert [h.id for h in store.list_sync(schools=["school"])] == [held.id]
        assert store.list_sync(schools=["hillside"]) == []
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT schools FROM decisions")).scalar_one() == " school "
            assert conn.execute(text("SELECT school_id FROM dsl_alerts")).scalar_one() == "school"
            assert conn.execute(text("SELECT schools FROM users")).scalar_one() == ""
            inspector = inspect(conn)
            assert "ix_messages_school_id" in {i["name"] for i in inspector.get_indexes("messages")}
    finally:
        store.close_sync()


def test_a_new_database_has_the_school_columns(tmp_path, database):
    store = QuarantineStore(tmp_path / "q", database).open_sync()
    try:
        with store.engine.connect() as conn:
            assert current(conn) == head() == "0004"
            for table, columns in NEW_COLUMNS.items():
                assert columns <= {c["name"] for c in inspect(conn).get_columns(table)}, table
    finally:
        store.close_sync()
