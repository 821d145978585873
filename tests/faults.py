"""Real faults for tests: a small tmpfs that fills up or goes read-only, a process holding the
store's SQLite lock, a next hop that dies mid-DATA. No monkeypatching: the gateway meets them
as it would in a school's server room."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.clamd_server import in_ci


@contextmanager
def tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (needs root, as CI runs; otherwise a counted skip)."""
    if os.geteuid() != 0:
        message = "mounting a tmpfs needs root (CI runs as root)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(path)], check=False)
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def fill(path: Path) -> Path:
    """Write a file under `path` until the filesystem says ENOSPC; returns it (delete to free)."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 1):  # big steps, then the last partial page
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def files_under(path: Path, pattern: str) -> list[Path]:
    return sorted(p for p in path.rglob(pattern) if p.is_file())


class SqliteLock:
    """Another process holding an EXCLUSIVE transaction on the store's database."""

    def __init__(self, db: Path) -> None:
        code = ("import sqlite3, sys\n"
                f"c = sqlite3.connect({str(db)!r}, isolation_level=None, timeout=30)\n"
                "c.execute('BEGIN EXCLUSIVE')\n"
                "print('locked', flush=True)\n"
                "sys.stdin.read()\n"  # hold the lock until the test closes our stdin
                "c.execute('ROLLBACK')\n")
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if line.strip() != "locked":
            self.release()
            raise RuntimeError(f"the lock holder did not take the lock: {line!r}")

    def release(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class DyingNextHop:
    """An SMTP next hop on a real socket. While `dying`, it accepts MAIL, RCPT and DATA, reads
    the first `die_after` bytes of the message and closes the connection (a crash or a cut cable
    mid-DATA). Otherwise it takes the whole message and answers 250, recording it in `messages`."""

    def __init__(self, die_after: int = 512) -> None:
        self.die_after = die_after
        self.dying = True
        self.deaths = 0
        self.messages: list[bytes] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            conn.sendall(b"220 dying.test ESMTP\r\n")
            while line := reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250-dying.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    if self.dying:
                        reader.read(self.die_after)
                        with self._lock:
                            self.deaths += 1
                        conn.shutdown(socket.SHUT_RDWR)  # gone mid-DATA: no reply, ever
                        return
                    data = bytearray()
                    while (chunk := reader.readline()) not in (b".\r\n", b""):
                        data += chunk
                    with self._lock:
                        self.messages.append(bytes(data))
                    conn.sendall(b"250 2.0.0 taken\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:  # MAIL, RCPT, RSET, NOOP
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            reader.close()
            conn.close()
