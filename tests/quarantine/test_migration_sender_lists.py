"""Migration 0004 (sender lists per school): a database at 0003 with allow/block entries is moved
to head by `schoolgate db upgrade`; the old entries become the trust's (every school's mail, as
before) and two schools may then each list the same address, on SQLite and a real PostgreSQL."""
from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from quarantine.review_store import ReviewStore
from quarantine.schema import _config, current, head
from quarantine.store import QuarantineStore
from tests.quarantine.test_migration_tenancy import cli, database  # noqa: F401  (fixture)
from tests.servers import pg_url  # noqa: F401  (fixture)


def database_at_0003(tmp_path, url: str) -> None:
    QuarantineStore(tmp_path / "q", url).open_sync().close_sync()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0003")
    with engine.begin() as conn:
        assert current(conn) == "0003"
        for table in ("sender_lists", "sender_list_expiry"):
            assert "school" not in {c["name"] for c in inspect(conn).get_columns(table)}
            assert inspect(conn).get_pk_constraint(table)["constrained_columns"] == ["address"]
        conn.execute(text("INSERT INTO sender_lists (address, kind, \"user\", at, reason) "
                          "VALUES ('spam@example.com', 'block', 'admin', 1.0, 'old entry')"))
        conn.execute(text("INSERT INTO sender_list_expiry (address, expires_at) VALUES ('spam@example.com', 9e12)"))
    engine.dispose()


def test_0004_upgrades_a_0003_database_and_old_entries_are_the_trusts(tmp_path, database):
    database_at_0003(tmp_path, database)
    config = tmp_path / "site.toml"
    config.write_text(f'[quarantine]\npath = "{tmp_path / "q"}"\ndatabase_url = "{database}"\n')
    upgraded = cli(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"now at schema {head()} (was 0003)" in upgraded.stdout

    store = QuarantineStore(tmp_path / "q", database).open_sync()
    try:
        review = ReviewStore(store)
        [old] = review.sender_list_sync()
        assert (old["address"], old["school"], old["kind"], old["expires_at"]) == ("spam@example.com", "", "block",
                                                                                    9e12)
        # the trust's entry still covers every school's mail
        assert review.sender_status_sync("spam@example.com", "hillside") == "block"
        # the new key: one school allows an address another school blocks
        review.set_sender_list_sync("news@example.org", "allow", "hdsl", "hillside wants it", None, school="hillside")
        review.set_sender_list_sync("news@example.org", "block", "vdsl", "valley does not", None, 9e12,
                                    school="valley")
        assert review.sender_status_sync("news@example.org", "hillside") == "allow"
        assert review.sender_status_sync("news@example.org", "valley") == "block"
        assert review.sender_status_sync("news@example.org", "oak") is None
        with store.engine.connect() as conn:
            for table in ("sender_lists", "sender_list_expiry"):
                assert inspect(conn).get_pk_constraint(table)["constrained_columns"] == ["address", "school"]
    finally:
        store.close_sync()
