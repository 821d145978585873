"""Schema versions: a new database is made at head; one from before migrations (or behind) is
refused at start with the command to run; `schoolgate db upgrade` brings it to head; on SQLite
and on a real PostgreSQL."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from quarantine.migrations.versions.r0001_baseline import BASELINE
from quarantine.schema import SchemaVersionError, current, head
from quarantine.store import QuarantineStore, metadata
from tests.servers import pg_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args, "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def old_database(url: str) -> None:
    """What a site that ran an earlier release has: the baseline tables, no version stamp."""
    engine = create_engine(url)
    metadata.create_all(engine, tables=[metadata.tables[n] for n in BASELINE])
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        (tmp_path / "q").mkdir()
        return f"sqlite:///{tmp_path / 'q' / 'index.sqlite3'}"
    return request.getfixturevalue("pg_url")


def test_a_new_database_is_made_at_head(tmp_path, database):
    store = QuarantineStore(tmp_path / "q", database).open_sync()
    try:
        with store.engine.connect() as conn:
            assert current(conn) == head()
            assert inspect(conn).has_table("message_blobs")
    finally:
        store.close_sync()


def test_an_old_database_is_refused_then_upgraded(tmp_path, database):
    old_database(database)
    with pytest.raises(SchemaVersionError, match="schoolgate db upgrade"):
        QuarantineStore(tmp_path / "q", database).open_sync()
    config = tmp_path / "site.toml"
    config.write_text(f'[quarantine]\npath = "{tmp_path / "q"}"\ndatabase_url = "{database}"\n')
    status = cli(config, "db", "status")
    assert status.returncode == 1 and "upgrade needed" in status.stdout, status.stdout + status.stderr
    serve = cli(config, "serve")
    assert serve.returncode != 0 and "schoolgate db upgrade" in serve.stderr
    assert "Traceback" not in serve.stderr
    upgraded = cli(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"now at schema {head()}" in upgraded.stdout
    again = cli(config, "db", "upgrade")
    assert "already at schema" in again.stdout
    store = QuarantineStore(tmp_path / "q", database).open_sync()  # starts now
    try:
        with store.engine.connect() as conn:
            assert inspect(conn).has_table("message_blobs") and inspect(conn).has_table("site_secrets")
    finally:
        store.close_sync()
    assert cli(config, "db", "status").returncode == 0
