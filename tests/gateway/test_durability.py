"""Durability you can see: the gateway's own system calls, traced with strace, show the held file
fsync'd, renamed into place, its directory fsync'd and the index row committed (SQLite's fsync of
its WAL) in that order, all before the 250 goes to the client's socket.

SIGKILL cannot see a missing fsync (the page cache survives the process); power loss can.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clamd_server import in_ci
from tests.conftest import free_port
from tests.factories import SCHOOL_DOMAIN, make_message
from tests.gateway.test_crash import ROOT, wait_listening

STRACE = shutil.which("strace") or "/usr/bin/strace"
SYSCALLS = "openat,fsync,fdatasync,rename,renameat,renameat2,write,pwrite64,writev,sendto,sendmsg"
EXE = b"MZ\x90\x00" + b"\x00" * 60
# 12345 10:11:12.123456 fsync(7</path/x.tmp>) = 0
LINE = re.compile(r"^(?P<pid>\d+)\s+(?:\S+\s+)?(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+)")


@dataclass(frozen=True)
class Call:
    index: int
    name: str
    args: str
    ok: bool


UNFINISHED = re.compile(r"^(?P<pid>\d+)\s+(?P<head>\w+\(.*) <unfinished \.\.\.>$")
RESUMED = re.compile(r"^(?P<pid>\d+)\s+<\.\.\. \w+ resumed>(?P<tail>.*)$")


def parse(trace: str) -> list[Call]:
    """Calls in the order they completed. With -f, a call interrupted by another thread's is
    printed as '<unfinished ...>' and finished later by '<... name resumed>': joined here."""
    calls: list[Call] = []
    pending: dict[str, str] = {}
    for line in trace.splitlines():
        if match := UNFINISHED.match(line):
            pending[match["pid"]] = match["head"]
            continue
        if match := RESUMED.match(line):
            line = f"{match['pid']} {pending.pop(match['pid'], '')}{match['tail']}"
        match = LINE.match(line)
        if match:
            calls.append(Call(len(calls), match["call"], match["args"], not match["ret"].startswith("-")))
    return calls


def first(calls: list[Call], after: int, what: str, pred) -> Call:
    for call in calls:
        if call.index > after and call.ok and pred(call):
            return call
    raise AssertionError(f"no {what} after call #{after}")


def need_strace() -> None:
    if not Path(STRACE).exists():
        message = "strace is not installed: apt-get install -y strace (scripts/setup --test)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the traced gateway itself (strace would only detach and leave it running)."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    pids = [int(p) for p in children.read_text().split()] if children.exists() else []
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait(10)


def test_hold_is_fsynced_renamed_dir_fsynced_and_committed_before_the_250(tmp_path):
    need_strace()
    port = free_port()
    config = tmp_path / "site.toml"
    config.write_text(f"""
[school]
domains = ["{SCHOOL_DOMAIN}"]
[gateway]
listen = "127.0.0.1:{port}"
workers = 1  # one process: the test kills or traces it
[quarantine]
path = "q"
[web]
enabled = false
[filters]
chain = ["attachments"]
""", encoding="utf-8")
    trace_file = tmp_path / "trace.txt"
    # -f: every thread (the store writes from its executor thread); -y/-yy: paths and socket
    # addresses for each fd, so no fd bookkeeping is needed; --seccomp-bpf: only these calls stop
    proc = subprocess.Popen(
        [STRACE, "-f", "--seccomp-bpf", "-qq", "-yy", "-s", "200", "-e", f"trace={SYSCALLS}",
         "-o", str(trace_file), sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "gateway.log", "wb"))
    try:
        wait_listening(port, timeout=90)
        raw = make_message("Invoice attached.", attachments=[("invoice.pdf.exe", "application/pdf", EXE)])
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.ehlo("client.test")
            client.mail("alice@example.com")
            client.rcpt(f"bob@{SCHOOL_DOMAIN}")
            code, reply = client.data(raw.replace(b"\n", b"\r\n"))
    finally:
        stop(proc)
    assert code == 250, reply
    message_id = re.search(rb"Ok: (\S+)", reply).group(1).decode()
    calls = parse(trace_file.read_text(errors="replace"))
    tmp_name = f"/tmp/{message_id}.tmp"
    eml_name = f"/{message_id}.eml"

    write = first(calls, -1, "write of the held bytes", lambda c: c.name in ("write", "pwrite64", "writev")
                  and tmp_name + ">" in c.args.split(",")[0])
    file_sync = first(calls, write.index, "fsync of the held file",
                      lambda c: c.name in ("fsync", "fdatasync") and tmp_name + ">" in c.args)
    rename = first(calls, file_sync.index, "rename into place",
                   lambda c: c.name.startswith("rename") and tmp_name in c.args and eml_name in c.args)
    directory = re.search(r'"([^"]*)' + re.escape(eml_name), rename.args).group(1)
    dir_sync = first(calls, rename.index, "fsync of the directory",
                     lambda c: c.name in ("fsync", "fdatasync") and c.args.rstrip(">").endswith(directory))
    # the index row: SQLite (WAL, synchronous=FULL) writes the WAL, then fsyncs it, at commit
    wal_write = first(calls, dir_sync.index, "write of the index row",
                      lambda c: c.name in ("write", "pwrite64") and "index.sqlite3" in c.args.split(",")[0])
    commit = first(calls, wal_write.index, "fsync of the index (the commit)",
                   lambda c: c.name in ("fsync", "fdatasync") and "index.sqlite3" in c.args)
    ok = first(calls, -1, "the 250 to the client", lambda c: c.name in ("write", "sendto", "sendmsg", "writev")
               and f"250 2.0.0 Ok: {message_id}" in c.args)
    assert write.index < file_sync.index < rename.index < dir_sync.index < wal_write.index < commit.index \
        < ok.index, (write, file_sync, rename, dir_sync, wal_write, commit, ok)
    # the bytes on disk are the message (with our headers on top)
    eml = next((tmp_path / "q" / "messages").rglob(f"{message_id}.eml"))
    assert b"invoice.pdf.exe" in eml.read_bytes()
