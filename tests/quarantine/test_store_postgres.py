"""The store on a real PostgreSQL: held bytes in the database, checked on read, gone on delete."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select, update

from filters.base import Category, Finding, Severity
from quarantine.store import BLOB_CHUNK, DB_PATH, QuarantineStore, StoreError, message_blobs, new_message_id
from tests.servers import pg_url  # noqa: F401  (fixture)

FINDING = Finding(code="ATTACHMENT_EXECUTABLE", filter="attachments", category=Category.ATTACHMENT,
                  severity=Severity.HIGH, evidence=("a.exe",), reason="an executable")


def hold(store: QuarantineStore, raw: bytes) -> str:
    return store.add_sync(message_id=new_message_id(), raw=raw, mail_from="a@example.org", from_header="A",
                          subject="s", direction="inbound", sender_role="external", client_ip="127.0.0.1",
                          sha256="", size=len(raw), recipients=[("b@school.example", "staff", "hold")],
                          findings=[FINDING], failures=[])


def test_held_bytes_live_in_postgres_and_round_trip(tmp_path, pg_url):
    store = QuarantineStore(tmp_path / "q", pg_url).open_sync()
    try:
        assert store.bytes_in_database
        raw = os.urandom(BLOB_CHUNK * 2 + 12345)  # three chunks, the last one short
        message_id = hold(store, raw)
        held = store.get_sync(message_id)
        assert held.path == DB_PATH + message_id
        assert not any((tmp_path / "q" / "messages").rglob("*.eml"))  # nothing on this node's disk
        # a second node: another store object, another data directory, the same database
        other = QuarantineStore(tmp_path / "other-node", pg_url).open_sync()
        try:
            assert other.raw_sync(other.get_sync(message_id)) == raw
        finally:
            other.close_sync()
        with store.engine.begin() as conn:
            assert conn.execute(select(func.count()).select_from(message_blobs)).scalar_one() == 3
        store.delete_sync(message_id, actor="t", reason="test")
        with store.engine.begin() as conn:
            assert conn.execute(select(func.count()).select_from(message_blobs)).scalar_one() == 0
    finally:
        store.close_sync()


def test_a_damaged_or_missing_chunk_is_an_error_not_short_mail(tmp_path, pg_url):
    store = QuarantineStore(tmp_path / "q", pg_url).open_sync()
    try:
        raw = b"x" * (BLOB_CHUNK + 10)
        message_id = hold(store, raw)
        held = store.get_sync(message_id)
        with store.engine.begin() as conn:
            conn.execute(update(message_blobs).where(message_blobs.c.chunk == 1).values(data=b"y" * 10))
        with pytest.raises(StoreError, match="SHA-256"):
            store.raw_sync(held)
        with store.engine.begin() as conn:
            conn.execute(message_blobs.delete().where(message_blobs.c.chunk == 1))
        with pytest.raises(StoreError, match="incomplete"):
            store.raw_sync(held)
    finally:
        store.close_sync()


def test_embedded_default_keeps_files(tmp_path):
    store = QuarantineStore(tmp_path / "q").open_sync()
    try:
        assert not store.bytes_in_database
        message_id = hold(store, b"Subject: s\r\n\r\nbody\r\n")
        held = store.get_sync(message_id)
        assert (tmp_path / "q" / held.path).is_file()
        assert store.raw_sync(held) == b"Subject: s\r\n\r\nbody\r\n"
    finally:
        store.close_sync()


def test_postgres_commits_are_synchronous(tmp_path, pg_url):
    store = QuarantineStore(tmp_path / "q", pg_url).open_sync()
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
    finally:
        store.close_sync()
